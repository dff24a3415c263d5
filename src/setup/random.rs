//! Where guest setup gets its randomness: crontab minutes, password salts, interface UUIDs.
//! Behind a trait so tests can replay a fixed sequence; pct's own tests seed Perl's `rand`
//! (drand48) with 0, and [`Drand48`] reproduces that generator draw for draw.

/// A source of uniform draws in `[0, 1)` and of random bytes.
pub trait RandomSource {
    /// A uniform draw in `[0, 1)`, like Perl's `rand()`.
    fn draw(&mut self) -> f64;
    /// `buf.len()` random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

/// The kernel's randomness: what a real create or start uses.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn draw(&mut self) -> f64 {
        let mut bytes = [0u8; 8];
        self.fill(&mut bytes);
        // 53 random mantissa bits, as a double can hold.
        (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn fill(&mut self, buf: &mut [u8]) {
        // getrandom(2) itself: the getrandom crate finds libc's getrandom through dlsym, which
        // a static build lacks, and then reads /dev/urandom, which Landlock refuses the
        // confined setup thread.
        let mut filled = 0;
        while filled < buf.len() {
            let rest = &mut buf[filled..];
            // SAFETY: getrandom(2) writes at most `rest.len()` bytes into `rest`.
            let got = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
            if got < 0 {
                let error = std::io::Error::last_os_error();
                assert!(
                    error.kind() == std::io::ErrorKind::Interrupted,
                    "kernel randomness: {error}"
                );
                continue;
            }
            filled += got as usize;
        }
    }
}

/// The 48-bit linear congruential generator of drand48(3), seeded as `srand48` seeds it;
/// Perl's `rand` is this generator, so `Drand48::seeded(0)` draws what `srand(0)` gives.
#[cfg(test)]
#[derive(Debug, Clone, Copy)]
pub struct Drand48 {
    state: u64,
}

#[cfg(test)]
const MODULUS_MASK: u64 = (1 << 48) - 1;

#[cfg(test)]
impl Drand48 {
    pub fn seeded(seed: u32) -> Drand48 {
        Drand48 {
            state: ((u64::from(seed) << 16) | 0x330e) & MODULUS_MASK,
        }
    }

    fn step(&mut self) -> u64 {
        self.state = (self.state.wrapping_mul(0x5_deec_e66d).wrapping_add(0xb)) & MODULUS_MASK;
        self.state
    }
}

#[cfg(test)]
impl RandomSource for Drand48 {
    fn draw(&mut self) -> f64 {
        self.step() as f64 / (1u64 << 48) as f64
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for byte in buf {
            // The high bits of an LCG are the random ones.
            *byte = (self.step() >> 40) as u8;
        }
    }
}

/// A random (version 4) UUID in its lower-case text form.
pub fn uuid_v4(random: &mut dyn RandomSource) -> String {
    let mut bytes = [0u8; 16];
    random.fill(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_zero_draws_what_perl_draws() {
        // `perl -e 'srand(0); print int(rand()*59), "\n" for 1..4'` prints 10 44 5 51.
        let mut random = Drand48::seeded(0);
        let minutes: Vec<u32> = (0..4).map(|_| (random.draw() * 59.0) as u32).collect();
        assert_eq!(minutes, [10, 44, 5, 51]);
    }

    #[test]
    fn draws_stay_in_the_unit_interval() {
        let mut os = OsRandom;
        let mut lcg = Drand48::seeded(7);
        for _ in 0..1000 {
            let (a, b) = (os.draw(), lcg.draw());
            assert!((0.0..1.0).contains(&a) && (0.0..1.0).contains(&b));
        }
    }

    #[test]
    fn uuid_has_version_and_variant() {
        let uuid = uuid_v4(&mut Drand48::seeded(0));
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        assert!(matches!(&uuid[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(uuid, uuid_v4(&mut Drand48::seeded(1)));
    }
}
