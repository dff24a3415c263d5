//! The options of an `lxc.mount.entry`, parsed and checked when the plan is built: the flags
//! corral applies itself, and the options it hands to the file system.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An option word of an `lxc.mount.entry` that is not a file-system option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountEntryFlag {
    /// `defaults`, `rw` and the other words that restate what a mount is anyway.
    Default(&'static str),
    /// `ro`.
    ReadOnly,
    /// `bind`: the source is a host path.
    Bind,
    /// `rbind`: the source and the mounts below it.
    Rbind,
    /// `optional`: a missing source or target skips the entry.
    Optional,
    /// `create=dir`: make the target a directory first.
    CreateDir,
    /// `create=file`: make the target a file first.
    CreateFile,
    /// `nosuid`, `nodev`, `noexec`, `noatime`, `nodiratime`, `strictatime`: an attribute of
    /// the mount (`MOUNT_ATTR_*`).
    Attr(&'static str, u64),
}

/// The words LXC takes as flags and corral applies (or that change nothing).
const FLAGS: &[(&str, MountEntryFlag)] = &[
    ("defaults", MountEntryFlag::Default("defaults")),
    ("rw", MountEntryFlag::Default("rw")),
    ("suid", MountEntryFlag::Default("suid")),
    ("dev", MountEntryFlag::Default("dev")),
    ("exec", MountEntryFlag::Default("exec")),
    ("async", MountEntryFlag::Default("async")),
    ("atime", MountEntryFlag::Default("atime")),
    ("diratime", MountEntryFlag::Default("diratime")),
    ("relatime", MountEntryFlag::Default("relatime")),
    ("ro", MountEntryFlag::ReadOnly),
    ("bind", MountEntryFlag::Bind),
    ("rbind", MountEntryFlag::Rbind),
    ("optional", MountEntryFlag::Optional),
    ("create=dir", MountEntryFlag::CreateDir),
    ("create=file", MountEntryFlag::CreateFile),
    (
        "nosuid",
        MountEntryFlag::Attr("nosuid", libc::MOUNT_ATTR_NOSUID),
    ),
    (
        "nodev",
        MountEntryFlag::Attr("nodev", libc::MOUNT_ATTR_NODEV),
    ),
    (
        "noexec",
        MountEntryFlag::Attr("noexec", libc::MOUNT_ATTR_NOEXEC),
    ),
    (
        "noatime",
        MountEntryFlag::Attr("noatime", libc::MOUNT_ATTR_NOATIME),
    ),
    (
        "nodiratime",
        MountEntryFlag::Attr("nodiratime", libc::MOUNT_ATTR_NODIRATIME),
    ),
    (
        "strictatime",
        MountEntryFlag::Attr("strictatime", libc::MOUNT_ATTR_STRICTATIME),
    ),
];

/// Words LXC knows as flags that corral does not apply: refused rather than handed to the
/// file system, which would fail on them in the starting container.
const UNSUPPORTED: &[&str] = &[
    "remount",
    "sync",
    "dirsync",
    "mand",
    "nomand",
    "silent",
    "loud",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "private",
    "rprivate",
    "unbindable",
    "runbindable",
    "relative",
];

/// A bad `lxc.mount.entry`: the entry's shape, or one of its options. `Display` names the
/// key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MountEntryError {
    /// Fewer than the four fields `<source> <target> <fstype> <options>`.
    #[error("lxc.mount.entry: invalid entry '{entry}'")]
    InvalidEntry {
        /// The whole value.
        entry: String,
    },
    /// A target with a `..` component, which would mount outside the container's root.
    #[error("lxc.mount.entry: target '{target}' leaves the container")]
    TargetOutside {
        /// The target as written.
        target: String,
    },
    /// Two commas with nothing between them.
    #[error("lxc.mount.entry: empty mount option")]
    EmptyOption,
    /// An option corral does not implement (`create=bogus`, `remount`, propagation flags).
    #[error("lxc.mount.entry: mount option '{option}' is not supported by corral")]
    UnsupportedOption {
        /// The option word.
        option: String,
    },
    /// A file-system option on a bind mount, which mounts no file system.
    #[error("lxc.mount.entry: mount option '{option}' does not apply to a bind mount")]
    NotForBind {
        /// The option word.
        option: String,
    },
}

/// One option of an `lxc.mount.entry`. It travels (JSON plan, saved state) as the word the
/// config holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum MountEntryOption {
    /// A flag corral applies itself.
    Flag(MountEntryFlag),
    /// An option of the file system (`size=64M`, `mode=755`), `key` or `key=value`.
    FileSystem(String),
}

impl MountEntryOption {
    /// One comma-separated word of an entry's options.
    pub fn parse(word: &str) -> Result<MountEntryOption, MountEntryError> {
        if let Some((_, flag)) = FLAGS.iter().find(|(name, _)| *name == word) {
            return Ok(MountEntryOption::Flag(*flag));
        }
        if word.is_empty() {
            return Err(MountEntryError::EmptyOption);
        }
        if UNSUPPORTED.contains(&word)
            || word.starts_with("create=")
            || word.starts_with("idmap=")
            || word.contains('\0')
        {
            return Err(MountEntryError::UnsupportedOption {
                option: word.to_string(),
            });
        }
        Ok(MountEntryOption::FileSystem(word.to_string()))
    }

    /// The option `key` and `value` (empty for a bare word) a file-system option hands to
    /// fsconfig; `None` for flags.
    pub fn file_system(&self) -> Option<(&str, &str)> {
        match self {
            MountEntryOption::Flag(_) => None,
            MountEntryOption::FileSystem(word) => Some(word.split_once('=').unwrap_or((word, ""))),
        }
    }

    /// The `MOUNT_ATTR_*` bits this option sets (`ro` included).
    pub fn attrs(&self) -> u64 {
        match self {
            MountEntryOption::Flag(MountEntryFlag::ReadOnly) => libc::MOUNT_ATTR_RDONLY,
            MountEntryOption::Flag(MountEntryFlag::Attr(_, bits)) => *bits,
            _ => 0,
        }
    }
}

/// Parse an entry's options; a bind takes no file-system options (it mounts no file system),
/// so one there is a mistake to report, not to drop.
pub fn parse_options(options: &str) -> Result<Vec<MountEntryOption>, MountEntryError> {
    let parsed = options
        .split(',')
        .map(MountEntryOption::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let bind = parsed.iter().any(|o| {
        matches!(
            o,
            MountEntryOption::Flag(MountEntryFlag::Bind | MountEntryFlag::Rbind)
        )
    });
    if bind
        && let Some(MountEntryOption::FileSystem(word)) =
            parsed.iter().find(|o| o.file_system().is_some())
    {
        return Err(MountEntryError::NotForBind {
            option: word.clone(),
        });
    }
    Ok(parsed)
}

impl MountEntryOption {
    /// The word the config holds (`nosuid`, `size=64M`).
    pub fn word(&self) -> &str {
        match self {
            MountEntryOption::FileSystem(word) => word,
            MountEntryOption::Flag(flag) => FLAGS
                .iter()
                .find(|(_, known)| known == flag)
                .map_or("", |(name, _)| name),
        }
    }
}

impl fmt::Display for MountEntryOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

impl PartialEq<&str> for MountEntryOption {
    fn eq(&self, word: &&str) -> bool {
        self.word() == *word
    }
}

impl From<MountEntryOption> for String {
    fn from(option: MountEntryOption) -> String {
        option.to_string()
    }
}

impl TryFrom<String> for MountEntryOption {
    type Error = MountEntryError;
    fn try_from(word: String) -> Result<MountEntryOption, MountEntryError> {
        MountEntryOption::parse(&word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_corrals_and_the_rest_goes_to_the_file_system() {
        let options = parse_options("rw,nosuid,nodev,size=64M,mode=1777,noatime").unwrap();
        assert_eq!(
            options,
            ["rw", "nosuid", "nodev", "size=64M", "mode=1777", "noatime"]
        );
        let attrs = options.iter().fold(0, |bits, o| bits | o.attrs());
        assert_eq!(
            attrs,
            libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOATIME
        );
        let fs: Vec<_> = options.iter().filter_map(|o| o.file_system()).collect();
        assert_eq!(fs, [("size", "64M"), ("mode", "1777")]);
        assert_eq!(
            parse_options("bind,ro,create=file,optional").unwrap()[1].attrs(),
            libc::MOUNT_ATTR_RDONLY
        );
    }

    #[test]
    fn bad_and_unsupported_options_are_refused() {
        for (options, message) in [
            (
                "bind,create=bogus",
                "mount option 'create=bogus' is not supported by corral",
            ),
            ("rw,,nosuid", "empty mount option"),
            (
                "rbind,shared",
                "mount option 'shared' is not supported by corral",
            ),
            (
                "bind,size=10M",
                "mount option 'size=10M' does not apply to a bind mount",
            ),
            (
                "bind,bogus",
                "mount option 'bogus' does not apply to a bind mount",
            ),
        ] {
            assert_eq!(
                parse_options(options).unwrap_err().to_string(),
                format!("lxc.mount.entry: {message}"),
                "{options}"
            );
        }
        assert!(matches!(
            parse_options("rw,,nosuid"),
            Err(MountEntryError::EmptyOption)
        ));
        assert!(matches!(
            parse_options("bind,size=10M"),
            Err(MountEntryError::NotForBind { option }) if option == "size=10M"
        ));
        assert!(matches!(
            MountEntryOption::parse("remount"),
            Err(MountEntryError::UnsupportedOption { option }) if option == "remount"
        ));
    }

    #[test]
    fn an_option_travels_as_its_word() {
        let options = parse_options("bind,create=dir,ro").unwrap();
        let json = serde_json::to_string(&options).unwrap();
        assert_eq!(json, r#"["bind","create=dir","ro"]"#);
        assert_eq!(
            serde_json::from_str::<Vec<MountEntryOption>>(&json).unwrap(),
            options
        );
        assert!(serde_json::from_str::<MountEntryOption>(r#""remount""#).is_err());
    }
}
