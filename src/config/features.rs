//! The `features` value.

use std::fmt;

use super::propstring::{Key, Kind, bool_text, key, parse, print};
use super::{PropertyError, ValueError};

/// The `features` property: what the container may do beyond the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Features {
    /// `force_rw_sys=1`: /sys mounted read-write.
    pub force_rw_sys: Option<bool>,
    /// `fuse=1`: /dev/fuse in the container.
    pub fuse: Option<bool>,
    /// `keyctl=1`: the keyctl system calls allowed (unprivileged containers).
    pub keyctl: Option<bool>,
    /// `mknod=1`: an unprivileged container may make device nodes (through the seccomp
    /// notifier).
    pub mknod: Option<bool>,
    /// `nesting=1`: containers inside the container (writable /sys, /dev/.lxc/proc and sys).
    pub nesting: Option<bool>,
    /// `mount=nfs;cifs`
    pub mount: Vec<String>,
}

fn check_fstypes(value: &str) -> Result<(), ValueError> {
    if !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ';' | ' '))
    {
        Ok(())
    } else {
        Err(ValueError::Pattern)
    }
}

const KEYS: &[Key] = &[
    key("mount", Kind::Text(check_fstypes)),
    key("nesting", Kind::Boolean),
    key("keyctl", Kind::Boolean),
    key("fuse", Kind::Boolean),
    key("mknod", Kind::Boolean),
    key("force_rw_sys", Kind::Boolean),
];

impl Features {
    /// Parse a `features` value (`nesting=1,keyctl=1`).
    pub fn parse(value: &str) -> Result<Features, PropertyError> {
        let map = parse(KEYS, value)?;
        let flag = |k: &str| map.get(k).map(|v| v == "1");
        Ok(Features {
            force_rw_sys: flag("force_rw_sys"),
            fuse: flag("fuse"),
            keyctl: flag("keyctl"),
            mknod: flag("mknod"),
            nesting: flag("nesting"),
            mount: map
                .get("mount")
                .map(|v| {
                    v.split(';')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

impl fmt::Display for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = std::collections::BTreeMap::new();
        let flags = [
            ("force_rw_sys", self.force_rw_sys),
            ("fuse", self.fuse),
            ("keyctl", self.keyctl),
            ("mknod", self.mknod),
            ("nesting", self.nesting),
        ];
        for (name, value) in flags {
            if let Some(value) = value {
                map.insert(name, bool_text(value));
            }
        }
        if !self.mount.is_empty() {
            map.insert("mount", self.mount.join(";"));
        }
        f.write_str(&print(KEYS, &map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features() {
        let features = Features::parse("nesting=1,keyctl=yes,mount=nfs;cifs").unwrap();
        assert_eq!(features.nesting, Some(true));
        assert_eq!(features.keyctl, Some(true));
        assert_eq!(features.mount, ["nfs", "cifs"]);
        assert_eq!(features.to_string(), "keyctl=1,mount=nfs;cifs,nesting=1");
        assert_eq!(Features::parse("").unwrap(), Features::default());
        assert_eq!(
            Features::parse("nesting").unwrap_err().0,
            "value without key, but schema does not define a default key"
        );
        assert_eq!(
            Features::parse("mount=nfs,x=1").unwrap_err().0,
            "invalid key in comma-separated list property: x"
        );
        assert_eq!(
            Features::parse("mount=a/b").unwrap_err().0,
            "format error\nmount: value does not match the regex pattern"
        );
    }
}
