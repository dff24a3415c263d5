//! Volume ids (`local:100/vm-100-disk-0.raw`) and the `STORAGE:SIZE` allocation syntax.

use std::fmt;

use super::StorageError;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct VolumeId {
    pub storage: String,
    /// The part after `storage:`, e.g. `100/vm-100-disk-0.raw` or `vztmpl/x.tar.gz`.
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeFormat {
    /// A raw image file holding ext4, loop-mounted.
    Raw,
    /// A directory (dir storage) or btrfs subvolume (btrfs storage).
    Subvol,
}

/// `STORAGE:SIZE` in a rootfs/mpN value: allocate a new volume of SIZE GiB (0 → a directory).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Allocation {
    pub storage: String,
    pub size_gib: f64,
}

impl VolumeId {
    pub fn parse(text: &str) -> Result<VolumeId, StorageError> {
        todo!("{text}")
    }

    /// The owning container of an image volume (`100` in `100/vm-100-disk-0.raw`).
    pub fn owner(&self) -> Option<u32> {
        todo!()
    }

    pub fn format(&self) -> Option<VolumeFormat> {
        todo!()
    }
}

impl fmt::Display for VolumeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.storage, self.name)
    }
}

impl Allocation {
    /// `Some` when `volume` is `STORAGE:SIZE` (size a number in GiB), else `None`.
    pub fn parse(volume: &str) -> Option<Allocation> {
        todo!("{volume}")
    }
}
