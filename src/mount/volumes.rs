//! Mounting one volume: raw images through a loop device (autoclear), directories and block
//! devices by bind/mount; mount targets inside a rootfs resolved without leaving it.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSource {
    /// A raw image holding ext4.
    RawImage(PathBuf),
    /// A directory or subvolume, bind-mounted.
    Directory(PathBuf),
    /// A host block device.
    BlockDevice(PathBuf),
}

#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct MountError {
    pub context: String,
    #[source]
    pub source: std::io::Error,
}

/// Mount `source` at `target`. When `rootfs` is given, `target` is a path inside that rootfs
/// (e.g. `/data`), resolved without following symlinks out of it and created as a directory
/// when missing; otherwise `target` is a host path that must exist.
pub fn mount_volume(
    source: &VolumeSource,
    rootfs: Option<&Path>,
    target: &Path,
    read_only: bool,
) -> Result<PathBuf, MountError> {
    todo!("{source:?}{rootfs:?}{target:?}{read_only}")
}

/// Unmount everything at and below `target`, deepest first.
pub fn unmount_tree(target: &Path) -> Result<(), MountError> {
    todo!("{target:?}")
}
