//! Allocating, sizing and freeing container volumes on dir and btrfs storages.

use super::{StorageConfig, StorageError, VolumeFormat, VolumeId};

impl StorageConfig {
    /// Allocate the next free `vm-<vmid>-disk-N` / `subvol-<vmid>-disk-N` on `storage`:
    /// `size_bytes > 0` makes a raw image formatted with mkfs.ext4; 0 makes a directory
    /// (a subvolume on btrfs). The storage must allow content `rootdir`.
    pub fn alloc_disk(
        &self,
        storage: &str,
        vmid: u32,
        size_bytes: u64,
    ) -> Result<VolumeId, StorageError> {
        todo!("{storage}{vmid}{size_bytes}")
    }

    /// Remove a volume and, when empty, its `images/<vmid>` directory.
    pub fn free_volume(&self, volid: &VolumeId) -> Result<(), StorageError> {
        todo!("{volid:?}")
    }

    /// The volume's size in bytes (image length; 0 for directories).
    pub fn volume_size(&self, volid: &VolumeId) -> Result<u64, StorageError> {
        todo!("{volid:?}")
    }

    /// Every image volume owned by `vmid` on every enabled storage.
    pub fn list_volumes(&self, vmid: u32) -> Result<Vec<(VolumeId, VolumeFormat)>, StorageError> {
        todo!("{vmid}")
    }
}
