//! Growing a volume and handing it to another container, at the storage level, as
//! pve-storage's `volume_resize` and `rename_volume` do for dir and btrfs storages.
//!
//! Only raw images can grow: the image file is extended sparsely (what `qemu-img resize
//! --preallocation=off` does to a raw file); the ext4 inside is the caller's business. A
//! directory volume has no size of its own to grow, and a btrfs subvolume would need
//! quotas, which PVE does not use.

use std::io;

use super::alloc::next_disk_number;
use super::cfg::{ContentType, StorageType};
use super::volume::VolumeKind;
use super::{StorageConfig, StorageError, VolumeId};

fn io_error(context: String) -> impl FnOnce(io::Error) -> StorageError {
    move |source| StorageError::Io { context, source }
}

/// pve-storage rounds every new size up to whole KiB.
fn round_up_to_kib(bytes: u64) -> Option<u64> {
    bytes.div_ceil(1024).checked_mul(1024)
}

impl StorageConfig {
    /// Grow `volid` to `new_size_bytes` (rounded up to whole KiB, as pve-storage does).
    /// Raw images grow sparsely; other formats are refused in pve-storage's words:
    /// `can't resize this image format`, and for btrfs subvolumes
    /// `cannot resize subvolume - btrfs quotas are currently not supported`.
    /// Never shrinks: `unable to shrink disk size`.
    pub fn resize_volume(&self, volid: &VolumeId, new_size_bytes: u64) -> Result<(), StorageError> {
        let def = self.activate_storage(&volid.storage)?;
        let format = match volid.kind()? {
            VolumeKind::Image { format, .. } => format,
            _ => {
                return Err(StorageError::Invalid(
                    "can't resize this image format".into(),
                ));
            }
        };
        match (def.kind, format.as_str()) {
            (_, "raw") => {}
            (StorageType::Btrfs, "subvol") => {
                return Err(StorageError::Invalid(
                    "cannot resize subvolume - btrfs quotas are currently not supported".into(),
                ));
            }
            _ => {
                return Err(StorageError::Invalid(
                    "can't resize this image format".into(),
                ));
            }
        }
        let size = round_up_to_kib(new_size_bytes)
            .ok_or_else(|| StorageError::Invalid(format!("size {new_size_bytes} is too large")))?;
        let path = self.volume_path(volid)?;
        let image = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_error(format!("unable to open '{}'", path.display())))?;
        let current = image
            .metadata()
            .map_err(io_error(format!("failed to stat '{}'", path.display())))?
            .len();
        if size < current {
            return Err(StorageError::Invalid("unable to shrink disk size".into()));
        }
        // The new length must be on disk before anything (the config, resize2fs) relies on it.
        image
            .set_len(size)
            .and_then(|()| image.sync_all())
            .map_err(io_error(format!(
                "failed to set file size for '{}'",
                path.display()
            )))
    }

    /// Whether `volid` can be given to another container by renaming it (pve-storage's
    /// `rename` feature): raw images on dir and btrfs storages, not directories.
    pub fn can_rename_volume(&self, volid: &VolumeId) -> Result<bool, StorageError> {
        self.storage(&volid.storage)?;
        Ok(matches!(
            volid.kind()?,
            VolumeKind::Image { format, .. } if format == "raw"
        ))
    }

    /// Give `volid` to container `target_vmid`: it is renamed to the next free
    /// `vm-<target>-disk-N` on the same storage (a btrfs image's subvolume with it), and the
    /// new id is returned. pve-storage's words when the storage cannot (`Storage does not
    /// support moving of this disk to another container`) or the name is taken.
    pub fn rename_volume(
        &self,
        volid: &VolumeId,
        target_vmid: u32,
    ) -> Result<VolumeId, StorageError> {
        if !self.can_rename_volume(volid)? {
            return Err(StorageError::Invalid(
                "Storage does not support moving of this disk to another container".into(),
            ));
        }
        let def = self.activate_storage(&volid.storage)?;
        let VolumeKind::Image { vmid, .. } = volid.kind()? else {
            unreachable!("only images can be renamed");
        };
        let images = self.content_path(def, ContentType::Images);
        let target_dir = images.join(target_vmid.to_string());
        std::fs::create_dir_all(&target_dir).map_err(io_error(format!(
            "unable to create '{}'",
            target_dir.display()
        )))?;
        let number = next_disk_number(&target_dir, target_vmid, &volid.storage)?;
        let target_file = format!("vm-{target_vmid}-disk-{number}.raw");
        let target = VolumeId {
            storage: volid.storage.clone(),
            name: format!("{target_vmid}/{target_file}"),
        };
        // On btrfs the image lives in a subvolume of its own, which moves as a whole.
        let (old_path, new_path) = match def.kind {
            StorageType::Btrfs => {
                let old = self.volume_path(volid)?;
                let new = self.volume_path(&target)?;
                (
                    old.parent().unwrap_or(&old).to_path_buf(),
                    new.parent().unwrap_or(&new).to_path_buf(),
                )
            }
            StorageType::Dir => (self.volume_path(volid)?, self.volume_path(&target)?),
        };
        // rename(2) would replace an existing file: refuse as pve-storage does, and let
        // the kernel refuse a race (RENAME_NOREPLACE).
        if new_path.exists() {
            return Err(StorageError::Invalid(format!(
                "target volume '{}' already exists",
                target.name
            )));
        }
        rustix::fs::renameat_with(
            rustix::fs::CWD,
            &old_path,
            rustix::fs::CWD,
            &new_path,
            rustix::fs::RenameFlags::NOREPLACE,
        )
        .map_err(|e| {
            StorageError::Invalid(format!(
                "rename '{}' to '{}' failed - {}",
                old_path.display(),
                new_path.display(),
                io::Error::from(e)
            ))
        })?;
        // An images/<vmid> left empty would only clutter the storage.
        let _ = std::fs::remove_dir(images.join(vmid.to_string()));
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn dir_storage(root: &Path) -> StorageConfig {
        StorageConfig::parse(
            root,
            "dir: local\n\tpath /var/lib/vz\n\tcontent rootdir,images\n",
        )
        .unwrap()
    }

    fn image(storage: &StorageConfig, volid: &VolumeId, size: u64) {
        let path = storage.volume_path(volid).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::File::create(&path).unwrap().set_len(size).unwrap();
    }

    fn vol(text: &str) -> VolumeId {
        VolumeId::parse(text).unwrap()
    }

    #[test]
    fn raw_images_grow_sparsely_to_whole_kib() {
        let root = tempfile::tempdir().unwrap();
        let storage = dir_storage(root.path());
        let volid = vol("local:100/vm-100-disk-0.raw");
        image(&storage, &volid, 1 << 20);
        storage.resize_volume(&volid, (2 << 20) + 1).unwrap();
        let meta = std::fs::metadata(storage.volume_path(&volid).unwrap()).unwrap();
        assert_eq!(meta.len(), (2 << 20) + 1024);
        use std::os::unix::fs::MetadataExt;
        assert_eq!(meta.blocks(), 0, "grown without writing data");
    }

    #[test]
    fn shrinking_and_other_formats_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let storage = dir_storage(root.path());
        let volid = vol("local:100/vm-100-disk-0.raw");
        image(&storage, &volid, 2 << 20);
        let error = storage.resize_volume(&volid, 1 << 20).unwrap_err();
        assert_eq!(error.to_string(), "unable to shrink disk size");
        assert_eq!(
            std::fs::metadata(storage.volume_path(&volid).unwrap())
                .unwrap()
                .len(),
            2 << 20
        );
        let subvol = vol("local:100/subvol-100-disk-1.subvol");
        std::fs::create_dir_all(storage.volume_path(&subvol).unwrap()).unwrap();
        let error = storage.resize_volume(&subvol, 1 << 30).unwrap_err();
        assert_eq!(error.to_string(), "can't resize this image format");
    }

    #[test]
    fn rename_gives_the_next_free_name_of_the_target() {
        let root = tempfile::tempdir().unwrap();
        let storage = dir_storage(root.path());
        let volid = vol("local:100/vm-100-disk-3.raw");
        image(&storage, &volid, 4096);
        image(&storage, &vol("local:101/vm-101-disk-0.raw"), 4096);
        let renamed = storage.rename_volume(&volid, 101).unwrap();
        assert_eq!(renamed.to_string(), "local:101/vm-101-disk-1.raw");
        assert!(storage.volume_path(&renamed).unwrap().is_file());
        assert!(!storage.volume_path(&volid).unwrap().exists());
        // The source's images directory went with its last volume.
        assert!(
            !storage
                .volume_path(&volid)
                .unwrap()
                .parent()
                .unwrap()
                .exists()
        );

        let subvol = vol("local:100/subvol-100-disk-1.subvol");
        std::fs::create_dir_all(storage.volume_path(&subvol).unwrap()).unwrap();
        let error = storage.rename_volume(&subvol, 101).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Storage does not support moving of this disk to another container"
        );
        assert!(storage.volume_path(&subvol).unwrap().is_dir());
    }
}
