//! `pct fstrim`: give the unused blocks of a container's volumes back to their storage
//! (`FITRIM` on each mounted volume, as `fstrim -v` does), under the config lock `fstrim`.
//!
//! A running container's volumes are trimmed where they are mounted, through its init's root
//! (mounting a raw image a second time would fail on ext4's multi-mount protection); a
//! stopped one's are mounted at `var/lib/lxc/<vmid>/rootfs` for the trim, as pct does. Either
//! way the mount point paths, which the container may have turned into symlinks, are
//! resolved below the container's root only.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{Mode, OFlags, ResolveFlags};

use super::volumes::mount_points_in_order;
use super::{Container, Error};
use crate::config::{MountKind, Section};

/// One volume's trim.
#[derive(Debug)]
pub struct TrimOutcome {
    /// `rootfs` or `mpN`.
    pub key: String,
    /// Where pct names the volume: `var/lib/lxc/<vmid>/rootfs<mp>` under the host root.
    pub path: String,
    /// The bytes trimmed, or why not (pct carries on with the next volume).
    pub result: io::Result<u64>,
}

impl TrimOutcome {
    /// `fstrim -v`'s line: `<path>: 1.2 GiB (1288490188 bytes) trimmed`, or its error.
    pub fn line(&self) -> String {
        match &self.result {
            Ok(bytes) => format!(
                "{}: {} ({bytes} bytes) trimmed",
                self.path,
                human_size(*bytes)
            ),
            // util-linux's two ways to fail: a file system without discard, anything else.
            Err(e)
                if [libc::EBADF, libc::ENOTTY, libc::EOPNOTSUPP, libc::ENOSYS]
                    .contains(&e.raw_os_error().unwrap_or(0)) =>
            {
                format!("{}: the discard operation is not supported", self.path)
            }
            Err(e) => format!(
                "fstrim: {}: FITRIM ioctl failed: {}",
                self.path,
                super::transfer::errno_text(e)
            ),
        }
    }
}

impl Container<'_> {
    /// `pct fstrim`: trim rootfs and every mpN (only rootfs with `ignore_mountpoints`), bind
    /// mounts and read-only mount points left out. Each outcome also goes to the host's
    /// observer as `fstrim -v` prints it (info lines, and a warning for a failed volume).
    pub fn fstrim(&self, ignore_mountpoints: bool) -> Result<Vec<TrimOutcome>, Error> {
        let config = self.set_lock("fstrim")?;
        let result = self.trim_volumes(&config.main, ignore_mountpoints);
        let unlocked = self.remove_lock(Some("fstrim"));
        let outcomes = result?;
        unlocked?;
        Ok(outcomes)
    }

    fn trim_volumes(
        &self,
        section: &Section,
        ignore_mountpoints: bool,
    ) -> Result<Vec<TrimOutcome>, Error> {
        let points = mount_points_in_order(section)?;
        let mut mounted = None;
        let root = match self.running_init() {
            Some(init) => open_root(&format!("/proc/{}/root", init.pid))?,
            None => {
                let storage = self.host.storage_config()?;
                let volumes = self.mount_volumes(section, &storage)?;
                let root = open_root(&volumes.rootfs().display().to_string())?;
                mounted = Some(volumes);
                root
            }
        };
        let shown_root = self.rootfs_dir().display().to_string();
        let mut outcomes = Vec::new();
        for (key, mp) in points {
            let trimmed = key == "rootfs" || !ignore_mountpoints;
            if !trimmed || mp.kind() == MountKind::Bind || mp.ro == Some(true) {
                continue;
            }
            let inside = mp.mp.clone().unwrap_or_else(|| "/".into());
            let outcome = TrimOutcome {
                key,
                path: format!("{shown_root}{inside}"),
                result: trim_below(&root, &inside),
            };
            match outcome.result {
                Ok(_) => self.host.observer().info(outcome.line()),
                Err(_) => self.host.observer().warning(outcome.line()),
            }
            outcomes.push(outcome);
        }
        drop(root);
        if let Some(volumes) = mounted {
            volumes.unmount()?;
        }
        Ok(outcomes)
    }
}

fn open_root(path: &str) -> Result<OwnedFd, Error> {
    rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io(format!("unable to open '{path}'"), e.into()))
}

/// `struct fstrim_range` of `<linux/fs.h>`.
#[repr(C)]
struct FstrimRange {
    start: u64,
    len: u64,
    minlen: u64,
}

/// `FITRIM`, `_IOWR('X', 121, struct fstrim_range)`.
const FITRIM: libc::c_ulong = 0xc018_5879;

/// Trim the file system of the directory `inside` (a path in the container, resolved below
/// `root`); the bytes the kernel reports trimmed.
fn trim_below(root: &impl AsFd, inside: &str) -> io::Result<u64> {
    let relative = match inside.trim_start_matches('/') {
        "" => ".",
        relative => relative,
    };
    let dir = rustix::fs::openat2(
        root,
        relative,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )?;
    let mut range = FstrimRange {
        start: 0,
        len: u64::MAX,
        minlen: 0,
    };
    // SAFETY: FITRIM reads and writes the one struct passed, which lives across the call.
    let rc = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&dir),
            FITRIM as _,
            &mut range as *mut FstrimRange,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(range.len)
}

/// A size as util-linux prints it (`size_to_human_string` with 3-letter suffixes, a space,
/// two decimals at most): `0 B`, `512 B`, `4 KiB`, `1.2 GiB`, `3.25 MiB`.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut exponent = 0u32;
    while exponent < 60 && bytes >= 1u64 << (exponent + 10) {
        exponent += 10;
    }
    let unit = UNITS[(exponent / 10) as usize];
    if exponent == 0 {
        return format!("{bytes} {unit}");
    }
    let mut whole = bytes >> exponent;
    let remainder = bytes & ((1u64 << exponent) - 1);
    // Three digits of the fraction, rounded to two.
    let thousandths = ((remainder as u128 * 1000) >> exponent) as u64;
    let mut hundredths = (thousandths + 5) / 10;
    if hundredths >= 100 {
        whole += 1;
        hundredths = 0;
    }
    if hundredths == 0 {
        return format!("{whole} {unit}");
    }
    let fraction = format!("{hundredths:02}");
    let fraction = fraction.strip_suffix('0').unwrap_or(&fraction);
    format!("{whole}.{fraction} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_fstrim_prints_them() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(4096), "4 KiB");
        assert_eq!(human_size(1_288_490_188), "1.2 GiB");
        assert_eq!(human_size(3 * (1 << 20) + (1 << 18)), "3.25 MiB");
        // Rounding up does not change the unit, as in util-linux.
        assert_eq!(human_size((1 << 30) - 1), "1024 MiB");
    }

    #[test]
    fn lines_read_as_fstrim_prints_them() {
        let outcome = |result| TrimOutcome {
            key: "rootfs".into(),
            path: "/var/lib/lxc/100/rootfs/".into(),
            result,
        };
        assert_eq!(
            outcome(Ok(1_288_490_188)).line(),
            "/var/lib/lxc/100/rootfs/: 1.2 GiB (1288490188 bytes) trimmed"
        );
        assert_eq!(
            outcome(Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP))).line(),
            "/var/lib/lxc/100/rootfs/: the discard operation is not supported"
        );
        assert_eq!(
            outcome(Err(io::Error::from_raw_os_error(libc::EIO))).line(),
            "fstrim: /var/lib/lxc/100/rootfs/: FITRIM ioctl failed: Input/output error"
        );
    }
}
