//! What `pct push` and `pct pull` share: the `--perms`, `--user` and `--group` options, and
//! pct's `create_file` rule for the file written (a new file gets `0666 & ~umask` unless
//! `--perms` says otherwise; an existing one is truncated and keeps its mode and owner unless
//! told otherwise).

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::Error;

/// `openat2` answers EAGAIN when a concurrent rename races a `..` lookup; a few retries.
const RETRIES_ON_RACE: usize = 16;

/// The owner and mode of the file `pct push` or `pct pull` writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileOptions {
    /// `--perms`: octal by default (`644`, `0755`), `0x…` for hexadecimal.
    pub perms: Option<String>,
    /// `--user`: a name or a numeric id. Push looks names up in the container, pull on the
    /// host.
    pub user: Option<String>,
    /// `--group`: a name or a numeric id, looked up as `user` is.
    pub group: Option<String>,
}

impl FileOptions {
    /// The mode `--perms` asks for, checked as pct checks it.
    pub(crate) fn mode(&self) -> Result<Option<u32>, Error> {
        self.perms.as_deref().map(parse_perms).transpose()
    }
}

/// pct's `--perms`: a value not starting with `0` gets one prepended, then it is read as C's
/// `strtoul(…, 0)` reads it (`0x` hexadecimal, else octal), with nothing left over.
pub(crate) fn parse_perms(perms: &str) -> Result<u32, Error> {
    let text = if perms.starts_with('0') {
        perms.to_string()
    } else {
        format!("0{perms}")
    };
    // pct names the value as it reads it, the `0` prepended.
    let invalid = || Error::Failed(format!("invalid mode: '{text}'"));
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (&text[1..], 8),
    };
    // `0` alone is octal zero; a bare `0x` leaves the `x` unparsed.
    if digits.is_empty() {
        return if radix == 8 { Ok(0) } else { Err(invalid()) };
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(invalid());
    }
    let value = u64::from_str_radix(digits, radix).map_err(|_| invalid())?;
    // chmod keeps the permission and set-id bits only, as the kernel does with any mode.
    Ok((value & 0o7777) as u32)
}

/// An id given as digits only, else `None` (a name to look up).
pub(crate) fn numeric_id(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The id of `name` in a `passwd`- or `group`-format file (name, password, id, ...).
pub(crate) fn id_in_database(database: &str, name: &str) -> Option<u32> {
    database.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name)
            .then(|| fields.nth(1)?.parse().ok())
            .flatten()
    })
}

/// An error as Perl's `$!` shows it: the system's text, without Rust's `(os error N)`.
pub(crate) fn errno_text(error: &io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The owner a file is to get; a missing half is filled from the file's current owner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Owner {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// pct's `create_file`: `path` below `root` (for a container, absolute symlinks and `..`
/// resolved inside it), created exclusively with mode 0 and then given `mode` (`0666 &
/// ~umask` when new and none is given), or truncated when it exists; then chowned to `owner`.
/// The messages are pct's. A path `in_container` is the container's to shape: an existing
/// one must be a regular file (a FIFO it made would hang the copy, a device node would be
/// written past its device rules) and magic links are refused; a host path (`pct pull`'s
/// destination) is the caller's and may be anything it can open (`/dev/stdout`).
pub(crate) fn create_file(
    root: impl AsFd,
    path: &str,
    mode: Option<u32>,
    owner: Owner,
    in_container: bool,
) -> Result<OwnedFd, String> {
    let relative = match path.trim_start_matches('/') {
        "" => ".",
        relative => relative,
    };
    let resolve = if in_container {
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS
    } else {
        ResolveFlags::empty()
    };
    let open = |flags: OFlags| -> Result<OwnedFd, Errno> {
        let mut attempts = 0;
        loop {
            match rustix::fs::openat2(
                root.as_fd(),
                relative,
                flags | OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC,
                Mode::empty(),
                resolve,
            ) {
                Err(Errno::AGAIN) if attempts < RETRIES_ON_RACE => attempts += 1,
                result => return result,
            }
        }
    };
    let (file, mode) = match open(OFlags::EXCL) {
        Ok(file) => (file, Some(mode.unwrap_or_else(|| 0o666 & !current_umask()))),
        Err(_) => {
            let failed = |e: Errno| {
                format!(
                    "failed to create file: {path}: {}",
                    errno_text(&io::Error::from(e))
                )
            };
            let file = if in_container {
                // Checked before anything is truncated or blocks.
                let not_regular = || format!("failed to create file: {path}: not a regular file");
                // A FIFO without a reader (or a socket) answers ENXIO to a non-blocking open.
                let file = match open(OFlags::NONBLOCK) {
                    Err(Errno::NXIO) => return Err(not_regular()),
                    result => result.map_err(failed)?,
                };
                let stat = rustix::fs::fstat(&file).map_err(failed)?;
                if rustix::fs::FileType::from_raw_mode(stat.st_mode)
                    != rustix::fs::FileType::RegularFile
                {
                    return Err(not_regular());
                }
                rustix::fs::fcntl_setfl(&file, OFlags::WRONLY).map_err(failed)?;
                rustix::fs::ftruncate(&file, 0).map_err(failed)?;
                file
            } else {
                open(OFlags::TRUNC).map_err(failed)?
            };
            (file, mode)
        }
    };
    if let Some(mode) = mode {
        // pct ignores a failed chmod; the file is its own, so it cannot fail but on a
        // read-only file system, where the open would have failed already.
        let _ = rustix::fs::fchmod(&file, Mode::from_raw_mode(mode));
    }
    if owner.uid.is_some() || owner.gid.is_some() {
        let change = || -> Result<(), Errno> {
            let stat = rustix::fs::fstat(&file)?;
            let uid = owner.uid.unwrap_or(stat.st_uid);
            let gid = owner.gid.unwrap_or(stat.st_gid);
            // SAFETY: fchown on a descriptor this function owns; ids the file's user
            // namespace does not map give EINVAL, which is reported.
            match unsafe { libc::fchown(file.as_raw_fd(), uid, gid) } {
                0 => Ok(()),
                _ => Err(Errno::from_io_error(&io::Error::last_os_error()).unwrap_or(Errno::IO)),
            }
        };
        change().map_err(|e| {
            format!(
                "failed to change file owner: {}",
                errno_text(&io::Error::from(e))
            )
        })?;
    }
    Ok(file)
}

/// The process's umask, as `/proc` shows it: setting it to read it back would change it
/// for every thread of the caller meanwhile.
fn current_umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let value = line.strip_prefix("Umask:")?.trim();
                u32::from_str_radix(value, 8).ok()
            })
        })
        .unwrap_or(0o022)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perms_are_read_as_pct_reads_them() {
        assert_eq!(parse_perms("644").unwrap(), 0o644);
        assert_eq!(parse_perms("0755").unwrap(), 0o755);
        assert_eq!(parse_perms("0x1a4").unwrap(), 0o644);
        assert_eq!(parse_perms("0").unwrap(), 0);
        // Empty is `0` once the `0` is prepended.
        assert_eq!(parse_perms("").unwrap(), 0);
        assert_eq!(parse_perms("4755").unwrap(), 0o4755);
        for (bad, shown) in [
            ("abc", "0abc"),
            ("8", "08"),
            ("0x", "0x"),
            ("64 4", "064 4"),
            ("-1", "0-1"),
            ("0644x", "0644x"),
            ("99999999999999999999999", "099999999999999999999999"),
        ] {
            assert_eq!(
                parse_perms(bad).unwrap_err().to_string(),
                format!("invalid mode: '{shown}'"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn names_are_found_in_the_database() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/false\n";
        assert_eq!(id_in_database(passwd, "www-data"), Some(33));
        assert_eq!(id_in_database(passwd, "root"), Some(0));
        assert_eq!(id_in_database(passwd, "www"), None);
        assert_eq!(numeric_id("1000"), Some(1000));
        assert_eq!(numeric_id("10a"), None);
        assert_eq!(numeric_id(""), None);
    }
}
