//! `rootfs` and `mpN` values.

use std::fmt;

use super::PropertyError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum MountKind {
    /// A storage volume id (`local:100/vm-100-disk-0.raw`).
    Volume,
    /// An absolute host path bind-mounted in.
    Bind,
    /// A host block device (`/dev/...`).
    Device,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountOption {
    Discard,
    Lazytime,
    Noatime,
    Nodev,
    Noexec,
    Nosuid,
}

/// Booleans are `Option` so that only keys given are printed back, as pct does.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MountPoint {
    pub volume: String,
    /// The path inside the container; `None` for rootfs.
    pub mp: Option<String>,
    pub acl: Option<bool>,
    pub backup: Option<bool>,
    pub mountoptions: Vec<MountOption>,
    pub quota: Option<bool>,
    pub replicate: Option<bool>,
    pub ro: Option<bool>,
    pub shared: Option<bool>,
    /// Size in bytes.
    pub size: Option<u64>,
    pub idmap: Option<String>,
    pub keepattrs: Option<bool>,
}

impl MountPoint {
    pub fn parse_rootfs(value: &str) -> Result<MountPoint, PropertyError> {
        todo!("{value}")
    }

    pub fn parse_mp(value: &str) -> Result<MountPoint, PropertyError> {
        todo!("{value}")
    }

    pub fn kind(&self) -> MountKind {
        todo!()
    }
}

impl fmt::Display for MountPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _ = f;
        todo!()
    }
}
