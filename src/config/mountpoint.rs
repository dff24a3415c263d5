//! `rootfs` and `mpN` values.

use std::collections::BTreeMap;
use std::fmt;

use super::propstring::{Key, Kind, bool_text, key, parse, print};
use super::{PropertyError, ValueError, format_size, parse_size, validate};

/// What the volume of a mount point is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum MountKind {
    /// A storage volume id (`local:100/vm-100-disk-0.raw`).
    Volume,
    /// An absolute host path bind-mounted in.
    Bind,
    /// A host block device (`/dev/...`).
    Device,
}

/// One word of `mountoptions=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountOption {
    /// Discard freed blocks (file-system option of an image).
    Discard,
    /// Lazy time stamps (file-system option of an image).
    Lazytime,
    /// No access times.
    Noatime,
    /// No device nodes.
    Nodev,
    /// No execution.
    Noexec,
    /// No set-uid and set-gid.
    Nosuid,
}

impl MountOption {
    const ALL: [(MountOption, &'static str); 6] = [
        (MountOption::Discard, "discard"),
        (MountOption::Lazytime, "lazytime"),
        (MountOption::Noatime, "noatime"),
        (MountOption::Nodev, "nodev"),
        (MountOption::Noexec, "noexec"),
        (MountOption::Nosuid, "nosuid"),
    ];

    /// The word as the config spells it.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(o, _)| *o == self)
            .map(|(_, n)| *n)
            .expect("every option is named")
    }

    fn parse(word: &str) -> Option<MountOption> {
        Self::ALL.iter().find(|(_, n)| *n == word).map(|(o, _)| *o)
    }
}

impl PartialEq<&str> for MountOption {
    fn eq(&self, word: &&str) -> bool {
        self.name() == *word
    }
}

/// Booleans are `Option` so that only keys given are printed back, as pct does.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MountPoint {
    /// The volume: a volume id, a host path or a block device.
    pub volume: String,
    /// The path inside the container; `None` for rootfs.
    pub mp: Option<String>,
    /// `acl=`: POSIX ACLs on or off.
    pub acl: Option<bool>,
    /// `backup=`: part of backups (mount points only).
    pub backup: Option<bool>,
    /// `mountoptions=`, in config order.
    pub mountoptions: Vec<MountOption>,
    /// `quota=`: user quotas inside the container.
    pub quota: Option<bool>,
    /// `replicate=`: part of storage replication.
    pub replicate: Option<bool>,
    /// `ro=1`: mounted read-only.
    pub ro: Option<bool>,
    /// `shared=1`: the volume is available on every node (no migration of it).
    pub shared: Option<bool>,
    /// Size in bytes.
    pub size: Option<u64>,
    /// `idmap=`: pct's custom id mapping of a bind mount, kept as written.
    pub idmap: Option<String>,
    /// `keepattrs=`, stored and printed back as written.
    pub keepattrs: Option<bool>,
}

fn check_size(value: &str) -> Result<(), ValueError> {
    parse_size(value).map(|_| ()).map_err(ValueError::Size)
}

fn check_mountoptions(value: &str) -> Result<(), ValueError> {
    if value.split(';').all(|o| MountOption::parse(o).is_some()) {
        Ok(())
    } else {
        Err(ValueError::Pattern)
    }
}

/// `passthrough` or `u|g:<ct>:<disk>:<count>` entries joined by `;`, count at least 1.
fn check_idmap(value: &str) -> Result<(), ValueError> {
    let entry_ok = |entry: &str| {
        let parts: Vec<&str> = entry.split(':').collect();
        let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        parts.len() == 4
            && matches!(parts[0], "u" | "g")
            && number(parts[1])
            && number(parts[2])
            && number(parts[3])
            && !parts[3].starts_with('0')
    };
    if value == "passthrough" || value.split(';').all(entry_ok) {
        Ok(())
    } else {
        Err(ValueError::Pattern)
    }
}

const ROOTFS_KEYS: &[Key] = &[
    Key {
        name: "volume",
        kind: Kind::Format(validate::mount_path),
        default_key: true,
        required: true,
    },
    key("size", Kind::Format(check_size)),
    key("acl", Kind::Boolean),
    key("mountoptions", Kind::Text(check_mountoptions)),
    key("idmap", Kind::Text(check_idmap)),
    key("ro", Kind::Boolean),
    key("quota", Kind::Boolean),
    key("replicate", Kind::Boolean),
    key("shared", Kind::Boolean),
];

const MP_KEYS: &[Key] = &[
    Key {
        name: "volume",
        kind: Kind::Format(validate::mount_path),
        default_key: true,
        required: true,
    },
    Key {
        name: "mp",
        kind: Kind::Format(validate::mount_path),
        default_key: false,
        required: true,
    },
    key("size", Kind::Format(check_size)),
    key("acl", Kind::Boolean),
    key("mountoptions", Kind::Text(check_mountoptions)),
    key("idmap", Kind::Text(check_idmap)),
    key("ro", Kind::Boolean),
    key("quota", Kind::Boolean),
    key("replicate", Kind::Boolean),
    key("shared", Kind::Boolean),
    key("backup", Kind::Boolean),
    key("keepattrs", Kind::Boolean),
];

impl MountPoint {
    /// Parse a `rootfs` value (`local:100/subvol-100-disk-0.subvol,size=8G`).
    pub fn parse_rootfs(value: &str) -> Result<MountPoint, PropertyError> {
        Self::from_map(parse(ROOTFS_KEYS, value)?)
    }

    /// Parse an `mpN` value, which must have `mp=`.
    pub fn parse_mp(value: &str) -> Result<MountPoint, PropertyError> {
        Self::from_map(parse(MP_KEYS, value)?)
    }

    fn from_map(map: BTreeMap<String, String>) -> Result<MountPoint, PropertyError> {
        let flag = |k: &str| map.get(k).map(|v| v == "1");
        Ok(MountPoint {
            volume: map["volume"].clone(),
            mp: map.get("mp").cloned(),
            acl: flag("acl"),
            backup: flag("backup"),
            mountoptions: map
                .get("mountoptions")
                .map(|v| v.split(';').filter_map(MountOption::parse).collect())
                .unwrap_or_default(),
            quota: flag("quota"),
            replicate: flag("replicate"),
            ro: flag("ro"),
            shared: flag("shared"),
            size: map.get("size").map(|s| parse_size(s)).transpose()?,
            idmap: map.get("idmap").cloned(),
            keepattrs: flag("keepattrs"),
        })
    }

    /// Device paths start with `/dev/`, other absolute paths are bind mounts, anything else
    /// is a storage volume.
    pub fn kind(&self) -> MountKind {
        if self.volume.starts_with("/dev/") {
            MountKind::Device
        } else if self.volume.starts_with('/') {
            MountKind::Bind
        } else {
            MountKind::Volume
        }
    }
}

impl fmt::Display for MountPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map: BTreeMap<&'static str, String> = BTreeMap::new();
        map.insert("volume", self.volume.clone());
        let flags = [
            ("acl", self.acl),
            ("backup", self.backup),
            ("quota", self.quota),
            ("replicate", self.replicate),
            ("ro", self.ro),
            ("shared", self.shared),
            ("keepattrs", self.keepattrs),
        ];
        for (name, value) in flags {
            if let Some(value) = value {
                map.insert(name, bool_text(value));
            }
        }
        if let Some(mp) = &self.mp {
            map.insert("mp", mp.clone());
        }
        if !self.mountoptions.is_empty() {
            map.insert(
                "mountoptions",
                self.mountoptions
                    .iter()
                    .map(|o| o.name())
                    .collect::<Vec<_>>()
                    .join(";"),
            );
        }
        if let Some(size) = self.size {
            map.insert("size", format_size(size));
        }
        if let Some(idmap) = &self.idmap {
            map.insert("idmap", idmap.clone());
        }
        let keys = if self.mp.is_some() {
            MP_KEYS
        } else {
            ROOTFS_KEYS
        };
        f.write_str(&print(keys, &map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootfs_round_trip() {
        let rootfs = MountPoint::parse_rootfs("local:100/vm-100-disk-0.raw,size=8G").unwrap();
        assert_eq!(rootfs.volume, "local:100/vm-100-disk-0.raw");
        assert_eq!(rootfs.size, Some(8 << 30));
        assert_eq!(rootfs.kind(), MountKind::Volume);
        assert_eq!(rootfs.to_string(), "local:100/vm-100-disk-0.raw,size=8G");
        let given = "volume=local:0,ro=yes,mountoptions=noatime;nodev,acl=0";
        assert_eq!(
            MountPoint::parse_rootfs(given).unwrap().to_string(),
            "local:0,acl=0,mountoptions=noatime;nodev,ro=1"
        );
    }

    #[test]
    fn mount_points_print_volume_then_mp_then_sorted() {
        let mp =
            MountPoint::parse_mp("backup=1,mp=/data,size=32G,local-lvm:vm-101-disk-1").unwrap();
        assert_eq!(
            mp.to_string(),
            "local-lvm:vm-101-disk-1,mp=/data,backup=1,size=32G"
        );
        let bind = MountPoint::parse_mp("/mnt/host,mp=/shared").unwrap();
        assert_eq!(bind.kind(), MountKind::Bind);
        assert_eq!(
            MountPoint::parse_mp("/dev/sdb1,mp=/disk").unwrap().kind(),
            MountKind::Device
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            MountPoint::parse_mp("local:1").unwrap_err().0,
            "format error\nmp: property is missing and it is not optional"
        );
        assert_eq!(
            MountPoint::parse_rootfs("local:1,mp=/x").unwrap_err().0,
            "invalid key in comma-separated list property: mp"
        );
        assert_eq!(
            MountPoint::parse_mp("local:1,mp=/a/../etc").unwrap_err().0,
            "format error\nmp: invalid format - /a/../etc contains illegal character sequences\n"
        );
        assert_eq!(
            MountPoint::parse_rootfs("local:1,size=8X").unwrap_err().0,
            "format error\nsize: invalid format - value does not look like a valid disk size: 8X\n"
        );
        assert_eq!(
            MountPoint::parse_rootfs("local:1,mountoptions=noatime;exec")
                .unwrap_err()
                .0,
            "format error\nmountoptions: value does not match the regex pattern"
        );
        assert!(
            MountPoint::parse_rootfs("local:1,idmap=u:0:100000:65536;g:0:100000:65536").is_ok()
        );
        assert!(MountPoint::parse_rootfs("local:1,idmap=passthrough").is_ok());
        assert!(MountPoint::parse_rootfs("local:1,idmap=u:0:1:0").is_err());
        // Each entry is `u` or `g` and three numbers, the count not starting with a zero.
        for bad in [
            "x:0:1:1",
            "u:0:1:1:1",
            "u:a:1:1",
            "u::1:1",
            "u:0:1:01",
            "u:0:1:1;",
        ] {
            assert_eq!(
                MountPoint::parse_rootfs(&format!("local:1,idmap={bad}"))
                    .unwrap_err()
                    .0,
                "format error\nidmap: value does not match the regex pattern",
                "{bad}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn printed_mount_points_parse_back(
            volume in "[a-z][a-z0-9]{0,8}:[0-9]{1,3}/vm-[0-9]{3}-disk-[0-9]\\.raw",
            path in "(/[a-z]{1,8}){1,3}",
            size in proptest::option::of(0u64..(1 << 44)),
            ro in proptest::option::of(proptest::bool::ANY),
            backup in proptest::option::of(proptest::bool::ANY),
        ) {
            let mp = MountPoint { volume, mp: Some(path), size, ro, backup, ..MountPoint::default() };
            let printed = mp.to_string();
            let parsed = MountPoint::parse_mp(&printed).unwrap();
            proptest::prop_assert_eq!(&parsed, &mp);
            proptest::prop_assert_eq!(parsed.to_string(), printed);
        }

        #[test]
        fn arbitrary_input_never_panics(text in ".*") {
            let _ = MountPoint::parse_mp(&text);
            let _ = MountPoint::parse_rootfs(&text);
        }
    }
}
