//! What `pct push` and `pct pull` share: the `--perms`, `--user` and `--group` options, and
//! pct's `create_file` rule for the file written (a new file gets `0666 & ~umask` unless
//! `--perms` says otherwise; an existing one is truncated and keeps its mode and owner unless
//! told otherwise).

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::Error;
use crate::host::RequestError;

/// `openat2` answers EAGAIN when a concurrent rename races a `..` lookup; a few retries.
const RETRIES_ON_RACE: usize = 16;

/// Which copy a stopped container refused ([`Error::NotRunning`]'s `transfer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferDirection {
    /// `pct push`: a host file into the container.
    Push,
    /// `pct pull`: a file of the container onto the host.
    Pull,
}

/// A namespace of the container a copy joins or reads through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Namespace {
    /// The mount namespace (the container's files).
    Mount,
    /// The user namespace (an unprivileged container's ids).
    User,
}

impl std::fmt::Display for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Namespace::Mount => "mount",
            Namespace::User => "user",
        })
    }
}

/// `--user` or `--group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// `--user`, a uid.
    User,
    /// `--group`, a gid.
    Group,
}

impl std::fmt::Display for IdKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IdKind::User => "uid",
            IdKind::Group => "gid",
        })
    }
}

/// A system call the push process makes to become the container's root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialCall {
    /// `chdir("/")` in the container's mount namespace.
    Chdir,
    /// `setgid(0)` in its user namespace.
    Setgid,
    /// `setuid(0)` in its user namespace.
    Setuid,
}

impl std::fmt::Display for CredentialCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CredentialCall::Chdir => "chdir",
            CredentialCall::Setgid => "setgid",
            CredentialCall::Setuid => "setuid",
        })
    }
}

/// Why `pct push` or `pct pull` could not copy the file, in pct's words; the system's error,
/// where there is one, is the `source()` (pct shows it as Perl's `$!`, where it shows it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// `pct push`: the host file cannot be opened.
    #[error("failed to open {path} for reading")]
    OpenForReading {
        /// The host file.
        path: String,
        /// The system's error.
        source: io::Error,
    },
    /// `pct pull`: the container's file cannot be opened (or is no regular file: `EISDIR`,
    /// `EINVAL`).
    #[error("failed to open {path}: {}", errno_text(.source))]
    Open {
        /// The path in the container.
        path: String,
        /// The system's error.
        source: io::Error,
    },
    /// A namespace of the container cannot be opened.
    #[error("failed to open the container's {namespace} namespace")]
    OpenNamespace {
        /// Which.
        namespace: Namespace,
        /// The system's error.
        source: io::Error,
    },
    /// A namespace of the container cannot be joined (or, for `pct pull`, its root reached).
    #[error("failed to enter the container's {namespace} namespace")]
    EnterNamespace {
        /// Which.
        namespace: Namespace,
        /// The system's error.
        source: io::Error,
    },
    /// Becoming the container's root failed.
    #[error("{call} failed: {}", errno_text(.source))]
    Credentials {
        /// The call that failed.
        call: CredentialCall,
        /// The system's error.
        source: io::Error,
    },
    /// The container's root directory cannot be opened inside its mount namespace.
    #[error("failed to open the container's root: {source}")]
    OpenRoot {
        /// The system's error.
        source: io::Error,
    },
    /// `--user` or `--group` names no user or group (the container's for push, the host's
    /// for pull).
    #[error("failed to get {kind} for: {name}")]
    UnknownId {
        /// User or group.
        kind: IdKind,
        /// The name given.
        name: String,
    },
    /// The destination cannot be created or truncated.
    #[error("failed to create file: {path}: {}", errno_text(.source))]
    Create {
        /// The destination.
        path: String,
        /// The system's error.
        source: io::Error,
    },
    /// The destination in the container exists and is no regular file.
    #[error("failed to create file: {path}: not a regular file")]
    NotRegularFile {
        /// The destination.
        path: String,
    },
    /// The host destination is no path corral can open (not UTF-8).
    #[error("failed to create file: {path}: invalid path")]
    InvalidPath {
        /// The destination, as shown.
        path: String,
    },
    /// The destination cannot get the owner asked for (an id the container does not map).
    #[error("failed to change file owner: {}", errno_text(.source))]
    Chown {
        /// The destination.
        path: String,
        /// The system's error.
        source: io::Error,
    },
    /// The data cannot be written to the destination.
    #[error("failed to write file: {path}: {}", errno_text(.source))]
    Write {
        /// The destination.
        path: String,
        /// The system's error.
        source: io::Error,
    },
    /// The push process failed without an answer corral understands: its words as they
    /// are, or its exit status when it said nothing.
    #[error("{}", push_failure(.status, .answer))]
    PushProcess {
        /// How it ended.
        status: std::process::ExitStatus,
        /// What it said on stderr, trailing white space removed.
        answer: String,
    },
}

fn push_failure(status: &std::process::ExitStatus, answer: &str) -> String {
    if answer.is_empty() {
        format!("push process failed: {status}")
    } else {
        answer.to_string()
    }
}

impl TransferError {
    /// The error as one line for the push process's stderr: `tag:errno:hex(text)`, so that
    /// the caller gets the error back with its errno (see [`TransferError::decode`]).
    pub(crate) fn encode(&self) -> String {
        use TransferError as E;
        let errno = |e: &io::Error| e.raw_os_error().unwrap_or(libc::EIO);
        let (tag, errno, text) = match self {
            E::EnterNamespace { namespace, source } => {
                ("enter", errno(source), namespace.to_string())
            }
            E::Credentials { call, source } => ("call", errno(source), call.to_string()),
            E::OpenRoot { source } => ("root", errno(source), String::new()),
            E::UnknownId { kind, name } => ("id", 0, format!("{kind}:{name}")),
            E::Create { path, source } => ("create", errno(source), path.clone()),
            E::NotRegularFile { path } => ("irregular", 0, path.clone()),
            E::Chown { path, source } => ("chown", errno(source), path.clone()),
            E::Write { path, source } => ("write", errno(source), path.clone()),
            // Not raised in the push process; its words as they are.
            other => return other.to_string(),
        };
        format!("{tag}:{errno}:{}", hex(&text))
    }

    /// The error a push process answered with [`TransferError::encode`]; `None` for any
    /// other answer.
    pub(crate) fn decode(answer: &str) -> Option<TransferError> {
        use TransferError as E;
        let mut fields = answer.splitn(3, ':');
        let (tag, errno, text) = (fields.next()?, fields.next()?, fields.next()?);
        let source = io::Error::from_raw_os_error(errno.parse().ok()?);
        let text = unhex(text)?;
        Some(match tag {
            "enter" => E::EnterNamespace {
                namespace: match text.as_str() {
                    "mount" => Namespace::Mount,
                    "user" => Namespace::User,
                    _ => return None,
                },
                source,
            },
            "call" => E::Credentials {
                call: match text.as_str() {
                    "chdir" => CredentialCall::Chdir,
                    "setgid" => CredentialCall::Setgid,
                    "setuid" => CredentialCall::Setuid,
                    _ => return None,
                },
                source,
            },
            "root" => E::OpenRoot { source },
            "id" => {
                let (kind, name) = text.split_once(':')?;
                E::UnknownId {
                    kind: match kind {
                        "uid" => IdKind::User,
                        "gid" => IdKind::Group,
                        _ => return None,
                    },
                    name: name.to_string(),
                }
            }
            "create" => E::Create { path: text, source },
            "irregular" => E::NotRegularFile { path: text },
            "chown" => E::Chown { path: text, source },
            "write" => E::Write { path: text, source },
            _ => return None,
        })
    }
}

/// `text` as hexadecimal digits, two a byte: no byte of it is special in an environment
/// variable or a line.
pub(crate) fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The text [`hex`] encoded; `None` for anything else.
pub(crate) fn unhex(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

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
    let invalid = || {
        Error::Request(RequestError::InvalidMode {
            perms: text.clone(),
        })
    };
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
) -> Result<OwnedFd, TransferError> {
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
            let failed = |e: Errno| TransferError::Create {
                path: path.to_string(),
                source: e.into(),
            };
            let file = if in_container {
                // Checked before anything is truncated or blocks.
                let not_regular = || TransferError::NotRegularFile {
                    path: path.to_string(),
                };
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
        change().map_err(|e| TransferError::Chown {
            path: path.to_string(),
            source: e.into(),
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
    fn a_bad_mode_is_a_refused_request() {
        assert!(matches!(
            parse_perms("abc"),
            Err(Error::Request(RequestError::InvalidMode { perms })) if perms == "0abc"
        ));
    }

    #[test]
    fn the_push_process_hands_its_error_back_typed_with_its_errno() {
        let errors = [
            TransferError::EnterNamespace {
                namespace: Namespace::User,
                source: io::Error::from_raw_os_error(libc::EPERM),
            },
            TransferError::Credentials {
                call: CredentialCall::Setgid,
                source: io::Error::from_raw_os_error(libc::EINVAL),
            },
            TransferError::OpenRoot {
                source: io::Error::from_raw_os_error(libc::ENOENT),
            },
            TransferError::UnknownId {
                kind: IdKind::Group,
                name: "www:data ü".into(),
            },
            TransferError::Create {
                path: "/root/a:b\n".into(),
                source: io::Error::from_raw_os_error(libc::ENOENT),
            },
            TransferError::NotRegularFile {
                path: "/root/fifo".into(),
            },
            TransferError::Chown {
                path: "/root/x".into(),
                source: io::Error::from_raw_os_error(libc::EINVAL),
            },
            TransferError::Write {
                path: "/root/x".into(),
                source: io::Error::from_raw_os_error(libc::ENOSPC),
            },
        ];
        for error in errors {
            let decoded = TransferError::decode(&error.encode()).expect("decodes");
            assert_eq!(decoded.to_string(), error.to_string());
            assert_eq!(
                std::mem::discriminant(&decoded),
                std::mem::discriminant(&error)
            );
            let errno = |e: &TransferError| {
                std::error::Error::source(e)
                    .and_then(|s| s.downcast_ref::<io::Error>())
                    .and_then(|s| s.raw_os_error())
            };
            assert_eq!(errno(&decoded), errno(&error), "{error:?}");
        }
        // Words of another kind stay words.
        assert!(TransferError::decode("push request garbled").is_none());
        assert!(TransferError::decode("create:2:4").is_none());
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
