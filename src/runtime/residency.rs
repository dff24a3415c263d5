//! Dropping the monitor's start-up code from its resident set. A monitor lives as long as its
//! container, but almost all the code it ran — parsing the plan, staging mounts, compiling
//! seccomp, cloning init — never runs again. Read-only file mappings that hold nothing but
//! page-cache pages are given back with MADV_DONTNEED: the kernel refills any page that is
//! touched again from the same file, so this is always safe, and what stays resident is the
//! supervising loop alone.

use std::io;

/// One mapping of /proc/self/smaps.
#[derive(Debug, PartialEq, Eq)]
struct Mapping {
    start: usize,
    end: usize,
    writable: bool,
    file_backed: bool,
    /// Pages of the mapping that are private copies (written, or relocated at load time).
    anonymous_kb: u64,
}

impl Mapping {
    /// Only clean page-cache pages: dropping them cannot lose anything.
    fn reclaimable(&self) -> bool {
        self.file_backed && !self.writable && self.anonymous_kb == 0
    }
}

fn parse_smaps(text: &str) -> Vec<Mapping> {
    let mut mappings = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            )
        {
            let perms = fields.next().unwrap_or("");
            let path = fields.nth(3).unwrap_or("");
            mappings.push(Mapping {
                start,
                end,
                writable: perms.contains('w'),
                file_backed: path.starts_with('/'),
                anonymous_kb: 0,
            });
        } else if first == "Anonymous:"
            && let Some(mapping) = mappings.last_mut()
        {
            mapping.anonymous_kb = fields.next().and_then(|kb| kb.parse().ok()).unwrap_or(0);
        }
    }
    mappings
}

/// Give back the resident pages of every clean read-only file mapping. Returns how many
/// bytes of mappings were advised.
pub fn drop_clean_file_pages() -> io::Result<usize> {
    let text = std::fs::read_to_string("/proc/self/smaps")?;
    let mut advised = 0;
    for mapping in parse_smaps(&text).iter().filter(|m| m.reclaimable()) {
        let len = mapping.end - mapping.start;
        // SAFETY: the range is a whole mapping of this process holding only clean pages of
        // a read-only file mapping; dropping them only means they are read again on use.
        let rc =
            unsafe { libc::madvise(mapping.start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
        if rc == 0 {
            advised += len;
        }
    }
    Ok(advised)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
00200000-002bc000 r--p 00000000 fe:00 123 /usr/bin/pct
Size:                752 kB
Rss:                 300 kB
Anonymous:             0 kB
002bc000-005d6000 r-xp 000bb000 fe:00 123 /usr/bin/pct
Rss:                2100 kB
Anonymous:             0 kB
005d6000-005dc000 r--p 003d4000 fe:00 123 /usr/bin/pct
Anonymous:            20 kB
005dc000-005e6000 rw-p 003d9000 fe:00 123 /usr/bin/pct
Anonymous:            12 kB
7ffd1000-7ffd3000 r-xp 00000000 00:00 0 [vdso]
Anonymous:             0 kB
7ffe0000-7fff0000 rw-p 00000000 00:00 0
Anonymous:            16 kB
";

    #[test]
    fn only_clean_read_only_file_mappings_are_reclaimable() {
        let mappings = parse_smaps(SMAPS);
        assert_eq!(mappings.len(), 6);
        let reclaimable: Vec<usize> = mappings
            .iter()
            .filter(|m| m.reclaimable())
            .map(|m| m.start)
            .collect();
        // Not the relocated read-only data (private copies), the data, the vdso or the heap.
        assert_eq!(reclaimable, [0x0020_0000, 0x002b_c000]);
    }

    #[test]
    fn clean_code_pages_leave_the_resident_set() {
        let resident_code_kb = || {
            let text = std::fs::read_to_string("/proc/self/smaps").unwrap();
            let mut total = 0u64;
            let mut counting = false;
            for line in text.lines() {
                if let Some(mapping) = parse_smaps(line).first() {
                    counting = mapping.file_backed && !mapping.writable;
                } else if counting && let Some(kb) = line.strip_prefix("Rss:") {
                    total += kb.trim().trim_end_matches(" kB").parse::<u64>().unwrap();
                }
            }
            total
        };
        let before = resident_code_kb();
        assert!(drop_clean_file_pages().unwrap() > 0);
        let after = resident_code_kb();
        assert!(
            after < before,
            "resident read-only file pages: {before} kB -> {after} kB"
        );
    }
}
