//! What can go wrong in guest setup, as an embedder can match it. `Display` is pct's message
//! for each case, the text `pct create` and `pct start` print; the operating-system error
//! underneath, where there is one, is the `source()`.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

use crate::config::PropertyError;

/// What guest setup was doing with a file of the container when it failed. Each action has
/// its own wording in pct, which `Display` of [`SetupError::Io`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileAction {
    /// Opening a file to read it: `can't open '<path>' - <error>`.
    Open,
    /// Reading a file whole (pct's `file_get_contents`): `unable to open file '<path>' -
    /// <error>`.
    Read,
    /// Looking up the owner and mode of a file before rewriting it: `unable to open file
    /// '<path>'` (pct names no error).
    Inspect,
    /// Writing a file: `unable to write '<path>': <error>`.
    Write,
    /// Creating a directory: `unable to create directory '<path>': <error>`.
    CreateDir,
}

/// A failure of guest setup (`pct create`'s post-create steps, `pct start`'s pre-start
/// hook). New variants may come (`#[non_exhaustive]`); match the struct-like ones with `..`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A file or directory of the container could not be read or written.
    #[error("{}", file_message(*.action, .path, .source))]
    Io {
        /// What setup was doing.
        action: FileAction,
        /// The path inside the container.
        path: String,
        /// The system's error (`NotFound` for a file that is missing or not a regular
        /// file).
        source: io::Error,
    },
    /// The container's root directory could not be opened.
    #[error("unable to open rootfs '{}': {source}", .path.display())]
    Rootfs {
        /// The rootfs as the host sees it.
        path: PathBuf,
        /// The system's error.
        source: io::Error,
    },
    /// An option of the container's config that setup reads does not parse.
    #[error("{key}: {source}")]
    Property {
        /// The option (`net0`, `features`).
        key: String,
        /// Why it does not parse.
        source: PropertyError,
    },
    /// An option of the container's config has a value setup cannot use.
    #[error("{key}: invalid value '{value}'")]
    InvalidValue {
        /// The option (`tty`).
        key: String,
        /// Its value.
        value: String,
    },
    /// An address of a network device that the guest's network configuration cannot
    /// express (pct's `parse_ipv4_cidr` takes prefixes from 8 to 32).
    #[error("unable to parse ipv4 address/mask")]
    InvalidAddress {
        /// The address with its prefix, `10.0.0.2/7`.
        address: String,
    },
    /// The configured or detected `ostype` has no setup plugin.
    #[error("no such OS type '{ostype}'")]
    UnknownOsType {
        /// The ostype asked for.
        ostype: String,
    },
    /// The rootfs has an `/etc/os-release` but no distribution pct knows.
    #[error("unable to detect OS distribution")]
    Undetected,
    /// The distribution's release file, which says its version, is missing or empty.
    #[error("unable to read version info")]
    NoVersion {
        /// The plugin that looked for it.
        ostype: &'static str,
    },
    /// The release file names no release of the distribution the plugin stands for.
    #[error("{}", unrecognized_message(.ostype, .text))]
    UnrecognizedVersion {
        /// The plugin that read it.
        ostype: &'static str,
        /// What the file says (for Ubuntu, `DISTRIB_ID`'s value).
        text: String,
    },
    /// A release of the distribution pct does not set up: too old, or (Devuan) a release
    /// name it does not know.
    #[error("{}", unsupported_message(.ostype, .version))]
    Unsupported {
        /// The plugin that refused it.
        ostype: &'static str,
        /// The release as the guest names it.
        version: String,
    },
    /// A symlink chain inside the container too long to follow (a loop, or a guest
    /// leading setup astray).
    #[error("maximal link depth of 10 for resolving '{path}' reached, abort")]
    LinkDepth {
        /// The path whose links were followed.
        path: String,
    },
    /// The home directory of a user that is to get SSH keys does not exist.
    #[error("home directory '{home}' of {user} does not exist!")]
    NoHome {
        /// The user.
        user: String,
        /// Its home as /etc/passwd (or pct's default) names it; empty when passwd has none.
        home: String,
    },
    /// Gentoo's `/etc/conf.d/hostname` is missing; pct fails on it with Perl's own words.
    #[error("Can't call method \"close\" on an undefined value")]
    NoHostnameFile {
        /// The missing file.
        path: String,
    },
    /// A host program setup runs (ssh-keygen) could not be started.
    #[error("command '{command}' failed: {source}")]
    Spawn {
        /// The command line, as pct shows it.
        command: String,
        /// Why it did not start.
        source: io::Error,
    },
    /// A host program setup runs (ssh-keygen) failed.
    #[error("command '{command}' failed: {}", program_failure(.status, .stderr))]
    Program {
        /// The command line, as pct shows it.
        command: String,
        /// How it ended.
        status: ExitStatus,
        /// What it said on stderr, trailing white space removed.
        stderr: String,
    },
    /// The private host directory SSH host keys are generated in could not be created.
    #[error(
        "unable to create a temporary directory for SSH host keys - {}: {source}",
        .path.display()
    )]
    HostKeyDir {
        /// The directory tried last.
        path: PathBuf,
        /// The system's error.
        source: io::Error,
    },
    /// A generated SSH host key could not be read back on the host.
    #[error("unable to read '{}' - {source}", .path.display())]
    HostKeyFile {
        /// The key file.
        path: PathBuf,
        /// The system's error.
        source: io::Error,
    },
    /// The thread that runs setup could not be started.
    #[error("unable to start the guest setup: {source}")]
    Thread {
        /// The system's error.
        source: io::Error,
    },
    /// Setup could not be confined to the rootfs with Landlock.
    #[error("failed to confine guest setup with Landlock: {source}")]
    Confine {
        /// Why, as the Landlock layer says it.
        source: landlock::RulesetError,
    },
}

fn file_message(action: FileAction, path: &str, source: &io::Error) -> String {
    match action {
        FileAction::Open => format!("can't open '{path}' - {source}"),
        FileAction::Read => format!("unable to open file '{path}' - {source}"),
        FileAction::Inspect => format!("unable to open file '{path}'"),
        FileAction::Write => format!("unable to write '{path}': {source}"),
        FileAction::CreateDir => format!("unable to create directory '{path}': {source}"),
    }
}

/// Each plugin's words for a release file it cannot make sense of.
fn unrecognized_message(ostype: &str, text: &str) -> String {
    match ostype {
        "ubuntu" => "got unknown DISTRIB_ID".to_string(),
        "centos" => format!("unable to parse centos version '{text}'"),
        "gentoo" => format!("unrecognized gentoo version: {text}"),
        "opensuse" => "unrecognized suse release".to_string(),
        _ => format!("unable to parse version info '{text}'"),
    }
}

/// Each plugin's words for a release it refuses.
fn unsupported_message(ostype: &str, version: &str) -> String {
    match ostype {
        "debian" => format!("Container Debian version '{version}' is too old"),
        "ubuntu" => format!("unsupported ancient Ubuntu version '{version}'"),
        "devuan" => format!("unsupported Devuan version '{version}'"),
        "centos" => format!("unsupported centos version '{version}'"),
        "fedora" => format!("unsupported Fedora release '{version}'"),
        "openeuler" => format!("unsupported openEuler release '{version}'"),
        // The suse plugin refuses numbered releases (`12.3`) and dated rolling ones
        // (`20161231`), which have no dot.
        "opensuse" if version.contains('.') => format!("unsupported suse release '{version}'"),
        "opensuse" => format!("unsupported suse tumbleweed release '{version}'"),
        other => format!("unsupported {other} version '{version}'"),
    }
}

/// pct's words for how a command ended: `exit code N` (or the signal), then its stderr.
fn program_failure(status: &ExitStatus, stderr: &str) -> String {
    let status = match status.code() {
        Some(code) => format!("exit code {code}"),
        None => status.to_string(),
    };
    if stderr.is_empty() {
        status
    } else {
        format!("{status}: {stderr}")
    }
}

impl SetupError {
    /// An [`SetupError::Io`] on `path` inside the container.
    pub(crate) fn io(action: FileAction, path: &str, source: io::Error) -> SetupError {
        SetupError::Io {
            action,
            path: path.to_string(),
            source,
        }
    }

    /// An [`SetupError::Io`] for a file that is missing (or no regular file), worded as the
    /// system words ENOENT, without the error number std adds.
    pub(crate) fn missing(action: FileAction, path: &str) -> SetupError {
        SetupError::io(
            action,
            path,
            io::Error::new(io::ErrorKind::NotFound, "No such file or directory"),
        )
    }

    /// The operating-system error underneath, if any.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            SetupError::Io { source, .. }
            | SetupError::Rootfs { source, .. }
            | SetupError::Spawn { source, .. }
            | SetupError::HostKeyDir { source, .. }
            | SetupError::HostKeyFile { source, .. }
            | SetupError::Thread { source } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn file_errors_read_as_pct_words_them() {
        let denied = || io::Error::from_raw_os_error(libc::EACCES);
        let cases = [
            (
                SetupError::missing(FileAction::Open, "/etc/hosts"),
                "can't open '/etc/hosts' - No such file or directory",
            ),
            (
                SetupError::io(FileAction::Read, "/etc/crontab", denied()),
                "unable to open file '/etc/crontab' - Permission denied (os error 13)",
            ),
            (
                SetupError::missing(FileAction::Inspect, "/etc/shadow"),
                "unable to open file '/etc/shadow'",
            ),
            (
                SetupError::io(FileAction::Write, "/etc/hostname", denied()),
                "unable to write '/etc/hostname': Permission denied (os error 13)",
            ),
            (
                SetupError::io(FileAction::CreateDir, "/etc/network", denied()),
                "unable to create directory '/etc/network': Permission denied (os error 13)",
            ),
        ];
        for (error, words) in cases {
            assert_eq!(error.to_string(), words);
            let source = error.source().expect("the system's error");
            assert!(source.downcast_ref::<io::Error>().is_some());
        }
    }

    #[test]
    fn a_missing_file_is_not_found_without_an_errno() {
        let error = SetupError::missing(FileAction::Open, "/etc/securetty");
        let io = error.io_error().expect("an io error");
        assert_eq!(io.kind(), io::ErrorKind::NotFound);
        assert_eq!(io.raw_os_error(), None);
    }

    #[test]
    fn refused_releases_read_as_each_plugin_words_them() {
        let unsupported = |ostype, version: &str| SetupError::Unsupported {
            ostype,
            version: version.into(),
        };
        let cases = [
            (
                unsupported("debian", "3"),
                "Container Debian version '3' is too old",
            ),
            (
                unsupported("ubuntu", "16.04"),
                "unsupported ancient Ubuntu version '16.04'",
            ),
            (
                unsupported("opensuse", "12.3"),
                "unsupported suse release '12.3'",
            ),
            (
                unsupported("opensuse", "20161231"),
                "unsupported suse tumbleweed release '20161231'",
            ),
            (
                SetupError::UnrecognizedVersion {
                    ostype: "debian",
                    text: "x".into(),
                },
                "unable to parse version info 'x'",
            ),
        ];
        for (error, words) in cases {
            assert_eq!(error.to_string(), words);
            assert!(error.source().is_none());
        }
    }

    #[test]
    fn a_failed_program_names_its_status_and_stderr() {
        use std::os::unix::process::ExitStatusExt;
        let error = SetupError::Program {
            command: "ssh-keygen -t rsa".into(),
            status: ExitStatus::from_raw(1 << 8),
            stderr: "bad key type".into(),
        };
        assert_eq!(
            error.to_string(),
            "command 'ssh-keygen -t rsa' failed: exit code 1: bad key type"
        );
        let killed = SetupError::Program {
            command: "ssh-keygen".into(),
            status: ExitStatus::from_raw(libc::SIGKILL),
            stderr: String::new(),
        };
        assert_eq!(
            killed.to_string(),
            "command 'ssh-keygen' failed: signal: 9 (SIGKILL)"
        );
    }
}
