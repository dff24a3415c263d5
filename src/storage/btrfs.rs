//! btrfs subvolumes through the kernel's ioctls, not the `btrfs` program: creation and deletion
//! work relative to an open parent directory (no path races, no dependency on btrfs-progs
//! being installed), and errors come back as plain errno values.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// `struct btrfs_ioctl_vol_args`: a descriptor and a NUL-terminated name.
#[repr(C)]
struct VolArgs {
    fd: i64,
    name: [u8; VOL_NAME_MAX + 1],
}

const VOL_NAME_MAX: usize = 4087;
/// `_IOW(BTRFS_IOCTL_MAGIC, 14, struct btrfs_ioctl_vol_args)`
const BTRFS_IOC_SUBVOL_CREATE: libc::c_ulong = 0x5000_940E;
/// `_IOW(BTRFS_IOCTL_MAGIC, 15, struct btrfs_ioctl_vol_args)`
const BTRFS_IOC_SNAP_DESTROY: libc::c_ulong = 0x5000_940F;
/// `_IOW(BTRFS_IOCTL_MAGIC, 23, struct btrfs_ioctl_vol_args_v2)`
const BTRFS_IOC_SNAP_CREATE_V2: libc::c_ulong = 0x5000_9417;
/// `BTRFS_SUBVOL_RDONLY`: the new snapshot is read-only.
const BTRFS_SUBVOL_RDONLY: u64 = 1 << 1;
const SUBVOL_NAME_MAX: usize = 4039;

/// `struct btrfs_ioctl_vol_args_v2` as snapshot creation uses it: the source subvolume's
/// descriptor, flags, and the new snapshot's NUL-terminated name.
#[repr(C)]
struct VolArgsV2 {
    fd: i64,
    transid: u64,
    flags: u64,
    unused: [u64; 4],
    name: [u8; SUBVOL_NAME_MAX + 1],
}

const _: () = assert!(std::mem::size_of::<VolArgsV2>() == 4096);
/// The inode number of every subvolume's root directory.
const FIRST_FREE_OBJECTID: u64 = 256;

const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
const FS_IOC_SETFLAGS: libc::c_ulong = 0x4008_6602;
const FS_NOCOW_FL: libc::c_long = 0x0080_0000;
const FS_IMMUTABLE_FL: libc::c_long = 0x0000_0010;
/// `_IOR(BTRFS_IOCTL_MAGIC, 25, __u64)`
const BTRFS_IOC_SUBVOL_GETFLAGS: libc::c_ulong = 0x8008_9419;
/// `_IOW(BTRFS_IOCTL_MAGIC, 26, __u64)`
const BTRFS_IOC_SUBVOL_SETFLAGS: libc::c_ulong = 0x4008_941A;

const _: () = assert!(std::mem::size_of::<VolArgs>() == 4096);

/// Run a vol-args ioctl on `path`'s parent directory with `path`'s last component.
fn parent_ioctl(path: &Path, request: libc::c_ulong) -> io::Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    };
    let name = name.as_bytes();
    if name.len() > VOL_NAME_MAX {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    let parent = File::open(parent)?;
    let mut args = VolArgs {
        fd: 0,
        name: [0; VOL_NAME_MAX + 1],
    };
    args.name[..name.len()].copy_from_slice(name);
    // SAFETY: `args` is a correctly sized `btrfs_ioctl_vol_args` living across the call.
    let rc = unsafe { libc::ioctl(parent.as_raw_fd(), request as _, &mut args as *mut VolArgs) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub(crate) fn create_subvolume(path: &Path) -> io::Result<()> {
    parent_ioctl(path, BTRFS_IOC_SUBVOL_CREATE)
}

/// Snapshot the subvolume `source` as the new subvolume `target` (same file system),
/// read-only when `read_only`.
pub(crate) fn snapshot_subvolume(source: &Path, target: &Path, read_only: bool) -> io::Result<()> {
    let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    };
    let name = name.as_bytes();
    if name.len() > SUBVOL_NAME_MAX {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    if !is_subvolume(source) {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("'{}' is not a subvolume", source.display()),
        ));
    }
    let source = File::open(source)?;
    let parent = File::open(parent)?;
    let mut args = VolArgsV2 {
        fd: i64::from(source.as_raw_fd()),
        transid: 0,
        flags: if read_only { BTRFS_SUBVOL_RDONLY } else { 0 },
        unused: [0; 4],
        name: [0; SUBVOL_NAME_MAX + 1],
    };
    args.name[..name.len()].copy_from_slice(name);
    // SAFETY: `args` is a correctly sized `btrfs_ioctl_vol_args_v2` living across the call.
    let rc = unsafe {
        libc::ioctl(
            parent.as_raw_fd(),
            BTRFS_IOC_SNAP_CREATE_V2 as _,
            &mut args as *mut VolArgsV2,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Swap two paths in one step (`renameat2(RENAME_EXCHANGE)`): each name now names what the
/// other did, and at no moment does either name nothing.
pub(crate) fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        a,
        rustix::fs::CWD,
        b,
        rustix::fs::RenameFlags::EXCHANGE,
    )
    .map_err(io::Error::from)
}

/// Whether `path` is the root of a btrfs subvolume (what `btrfs subvolume show` checks).
pub(crate) fn is_subvolume(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir() && m.ino() == FIRST_FREE_OBJECTID)
}

/// Delete the subvolume at `path` with everything in it, including subvolumes nested inside
/// (which a container may have made, e.g. systemd's /var/lib/machines).
pub(crate) fn delete_subvolume(path: &Path) -> io::Result<()> {
    match parent_ioctl(path, BTRFS_IOC_SNAP_DESTROY) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {
            delete_nested_subvolumes(path)?;
            parent_ioctl(path, BTRFS_IOC_SNAP_DESTROY)
        }
        other => other,
    }
}

fn delete_nested_subvolumes(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        // `file_type` does not follow symlinks, so the walk stays inside the subvolume.
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let path = entry.path();
        if is_subvolume(&path) {
            delete_subvolume(&path)?;
        } else {
            delete_nested_subvolumes(&path)?;
        }
    }
    Ok(())
}

/// Set the NOCOW attribute (`chattr +C`) on an empty file, as the `nocow` storage option asks.
pub(crate) fn set_nocow(file: &File) -> io::Result<()> {
    change_inode_flags(file, FS_NOCOW_FL, 0)
}

/// Set the immutable attribute (`chattr +i`) of a file or directory, or clear it.
pub(crate) fn set_immutable(file: &File, immutable: bool) -> io::Result<()> {
    if immutable {
        change_inode_flags(file, FS_IMMUTABLE_FL, 0)
    } else {
        change_inode_flags(file, 0, FS_IMMUTABLE_FL)
    }
}

/// `chattr`: the inode attributes `set` added, `clear` removed (FS_IOC_GETFLAGS/SETFLAGS).
fn change_inode_flags(file: &File, set: libc::c_long, clear: libc::c_long) -> io::Result<()> {
    let mut flags: libc::c_long = 0;
    // SAFETY: FS_IOC_GETFLAGS/SETFLAGS read and write one long through the pointer.
    unsafe {
        if libc::ioctl(
            file.as_raw_fd(),
            FS_IOC_GETFLAGS as _,
            &mut flags as *mut libc::c_long,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        let wanted = (flags | set) & !clear;
        if wanted == flags {
            return Ok(());
        }
        if libc::ioctl(
            file.as_raw_fd(),
            FS_IOC_SETFLAGS as _,
            &wanted as *const libc::c_long,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Make the subvolume at `path` read-only or writable again (`btrfs property set <path> ro
/// true|false`).
pub(crate) fn set_subvolume_read_only(path: &Path, read_only: bool) -> io::Result<()> {
    let subvolume = File::open(path)?;
    let mut flags: u64 = 0;
    // SAFETY: BTRFS_IOC_SUBVOL_GETFLAGS/SETFLAGS read and write one u64 through the pointer.
    unsafe {
        if libc::ioctl(
            subvolume.as_raw_fd(),
            BTRFS_IOC_SUBVOL_GETFLAGS as _,
            &mut flags as *mut u64,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        let wanted = if read_only {
            flags | BTRFS_SUBVOL_RDONLY
        } else {
            flags & !BTRFS_SUBVOL_RDONLY
        };
        if wanted != flags
            && libc::ioctl(
                subvolume.as_raw_fd(),
                BTRFS_IOC_SUBVOL_SETFLAGS as _,
                &wanted as *const u64,
            ) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The plugin of `btrfs` storages: a dir storage whose container volumes are subvolumes (a
/// raw image sits alone as `disk.raw` in a subvolume named after the volume), with
/// snapshots as `<subvolume>@<name>` siblings.
pub(crate) struct BtrfsPlugin;

mod plugin {
    use std::path::{Path, PathBuf};

    use super::super::alloc::{CommitStep, chown_dir, create_sparse_file, io_error, mkfs_ext4};
    use super::super::dir::{
        activate_directory, base_name, ensure_unused, file_volume_info, file_volume_path,
        file_volume_size, file_volume_source, grow_image_file, list_file_volumes, next_file_volume,
        parse_file_volume, remove_empty_images_dir, rename_file_volume,
    };
    use super::super::plugin::{
        Feature, FeatureKey, FeatureRow, StoragePlugin, StorageStatus, Store, VolumeInfo,
        filesystem_status,
    };
    use super::super::{PreparedVolume, StorageError, VolumeFormat, VolumeId};
    use super::{
        BtrfsPlugin, create_subvolume, delete_subvolume, exchange, is_subvolume,
        set_subvolume_read_only, snapshot_subvolume,
    };
    use crate::mount::VolumeSource;

    /// pve-storage's `BTRFSPlugin.pm` feature table.
    const BTRFS_FEATURES: &[FeatureRow] = &[
        (
            Feature::Snapshot,
            FeatureKey::Current,
            &["qcow2", "raw", "subvol"],
        ),
        (
            Feature::Snapshot,
            FeatureKey::Snap,
            &["qcow2", "raw", "subvol"],
        ),
        (
            Feature::Clone,
            FeatureKey::Base,
            &["qcow2", "raw", "subvol", "vmdk"],
        ),
        (Feature::Clone, FeatureKey::Current, &["raw"]),
        (Feature::Clone, FeatureKey::Snap, &["raw"]),
        (Feature::Template, FeatureKey::Current, &["raw", "subvol"]),
        (Feature::Copy, FeatureKey::Base, &["raw", "subvol"]),
        (Feature::Copy, FeatureKey::Current, &["raw", "subvol"]),
        (Feature::Copy, FeatureKey::Snap, &["raw", "subvol"]),
        (
            Feature::SparseInit,
            FeatureKey::Base,
            &["qcow2", "raw", "vmdk"],
        ),
        (
            Feature::SparseInit,
            FeatureKey::Current,
            &["qcow2", "raw", "vmdk"],
        ),
        (Feature::Rename, FeatureKey::Current, &["raw"]),
    ];

    fn is_btrfs(path: &Path) -> bool {
        rustix::fs::statfs(path).is_ok_and(|s| s.f_type as u64 == libc::BTRFS_SUPER_MAGIC as u64)
    }

    /// The subvolume holding a volume: the directory around `disk.raw`, or the `.subvol`.
    fn subvolume_of(path: &Path, format: &str) -> PathBuf {
        if format == "raw" {
            path.parent().unwrap_or(path).to_path_buf()
        } else {
            path.to_path_buf()
        }
    }

    /// The subvolume of a volume, found through the storage.
    fn volume_subvolume(store: Store<'_>, volid: &VolumeId) -> Result<PathBuf, StorageError> {
        let (_, _, format) = parse_file_volume(volid)?;
        Ok(subvolume_of(&file_volume_path(store, volid)?, &format))
    }

    /// Snapshot `snap` of a subvolume: its `<name>@<snap>` sibling.
    fn snapshot_path(subvolume: &Path, snap: &str) -> PathBuf {
        let name = subvolume
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        subvolume.with_file_name(format!("{name}@{snap}"))
    }

    /// The btrfs snapshots kept beside a subvolume: `<name>@<snapshot>` siblings.
    fn snapshots_of(subvolume: &Path) -> Vec<PathBuf> {
        let (Some(parent), Some(name)) = (
            subvolume.parent(),
            subvolume.file_name().and_then(|n| n.to_str()),
        ) else {
            return Vec::new();
        };
        let prefix = format!("{name}@");
        let Ok(entries) = std::fs::read_dir(parent) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(&prefix) && n.len() > prefix.len())
            })
            .map(|e| e.path())
            .filter(|p| is_subvolume(p))
            .collect()
    }

    /// A btrfs storage entry as a volume: `NAME/disk.raw` is `NAME.raw`, `NAME.subvol` a
    /// subvolume; snapshots (`NAME@snap`) are not volumes.
    fn btrfs_volume(name: &str, path: &Path) -> Option<(String, VolumeFormat)> {
        if name.contains('@') {
            return None;
        }
        match name.split_once('.') {
            None if path.join("disk.raw").is_file() => {
                Some((format!("{name}.raw"), VolumeFormat::Raw))
            }
            Some((stem, "subvol")) if !stem.is_empty() && path.is_dir() => {
                Some((name.to_string(), VolumeFormat::Subvol))
            }
            _ => None,
        }
    }

    impl StoragePlugin for BtrfsPlugin {
        fn activate_storage(&self, store: Store<'_>) -> Result<(), StorageError> {
            let path = store.cfg.storage_path(store.def);
            // Checked before anything is made in it: a plain directory is no btrfs storage.
            if path.is_dir() && !is_btrfs(&path) || !path.exists() && !is_btrfs_parent(&path) {
                return Err(StorageError::Invalid(format!(
                    "'{}' is not a btrfs file system",
                    path.display()
                )));
            }
            activate_directory(store).map(drop)
        }

        fn parse_volume(
            &self,
            _store: Store<'_>,
            volid: &VolumeId,
        ) -> Result<VolumeInfo, StorageError> {
            file_volume_info(volid)
        }

        fn allocate(
            &self,
            store: Store<'_>,
            vmid: u32,
            size_bytes: u64,
            root_owner: (u32, u32),
        ) -> Result<PreparedVolume, StorageError> {
            let raw = size_bytes > 0;
            let (volid, images_dir) = next_file_volume(store, vmid, raw)?;
            let path = file_volume_path(store, &volid)?;
            let mut prepared = PreparedVolume::new(volid, Some(images_dir));
            let subvolume = subvolume_of(&path, if raw { "raw" } else { "subvol" });
            if subvolume.exists() {
                return Err(StorageError::Invalid(format!(
                    "disk image '{}' already exists",
                    subvolume.display()
                )));
            }
            create_subvolume(&subvolume).map_err(io_error(format!(
                "unable to create subvolume '{}'",
                subvolume.display()
            )))?;
            let made = subvolume.clone();
            prepared.set_step(CommitStep::InPlace {
                undo: Box::new(move || {
                    let _ = delete_subvolume(&made);
                }),
            });
            if raw {
                create_sparse_file(&path, size_bytes, store.def.flag("nocow", false))?;
                mkfs_ext4(&path, &path, root_owner)?;
            } else {
                chown_dir(&subvolume, root_owner)?;
            }
            Ok(prepared)
        }

        fn free(&self, store: Store<'_>, volid: &VolumeId) -> Result<(), StorageError> {
            let (vmid, _, format) = parse_file_volume(volid)?;
            let path = file_volume_path(store, volid)?;
            let target = subvolume_of(&path, &format);
            ensure_unused(volid, &target, &path)?;
            let context = || format!("unable to free volume '{volid}' ('{}')", target.display());
            for snapshot in snapshots_of(&target) {
                delete_subvolume(&snapshot).map_err(io_error(context()))?;
            }
            let result = if is_subvolume(&target) {
                delete_subvolume(&target)
            } else if target.is_dir() {
                std::fs::remove_dir_all(&target)
            } else {
                std::fs::remove_file(&target)
            };
            match result {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_error(context())(e));
                }
                _ => {}
            }
            remove_empty_images_dir(store, vmid);
            Ok(())
        }

        fn path(&self, store: Store<'_>, volid: &VolumeId) -> Result<PathBuf, StorageError> {
            file_volume_path(store, volid)
        }

        fn source(&self, store: Store<'_>, volid: &VolumeId) -> Result<VolumeSource, StorageError> {
            file_volume_source(store, volid)
        }

        fn list(
            &self,
            store: Store<'_>,
            vmid: u32,
        ) -> Result<Vec<(VolumeId, VolumeFormat)>, StorageError> {
            list_file_volumes(store, vmid, btrfs_volume)
        }

        fn size(&self, store: Store<'_>, volid: &VolumeId) -> Result<u64, StorageError> {
            file_volume_size(store, volid)
        }

        fn resize(
            &self,
            store: Store<'_>,
            volid: &VolumeId,
            new_size: u64,
        ) -> Result<(), StorageError> {
            if volid.format() == Some(VolumeFormat::Subvol) {
                return Err(StorageError::Invalid(
                    "cannot resize subvolume - btrfs quotas are currently not supported"
                        .to_string(),
                ));
            }
            grow_image_file(&file_volume_path(store, volid)?, volid, new_size)
        }

        fn rename(
            &self,
            store: Store<'_>,
            volid: &VolumeId,
            target_vmid: u32,
            target_name: Option<&str>,
        ) -> Result<VolumeId, StorageError> {
            rename_file_volume(store, volid, target_vmid, target_name, file_volume_path)
        }

        /// A read-only snapshot of the volume's subvolume beside it, `<subvolume>@<snap>`, as
        /// pve-storage's `btrfs subvolume snapshot -r`.
        fn snapshot(
            &self,
            store: Store<'_>,
            volid: &VolumeId,
            snap: &str,
        ) -> Result<(), StorageError> {
            let subvolume = volume_subvolume(store, volid)?;
            let target = snapshot_path(&subvolume, snap);
            snapshot_subvolume(&subvolume, &target, true).map_err(io_error(format!(
                "unable to snapshot '{}' as '{}'",
                subvolume.display(),
                target.display()
            )))
        }

        /// pve-storage's rollback: a writable snapshot of `<subvolume>@<snap>` made beside the
        /// volume, swapped into its place in one step, the old state deleted after. Other
        /// snapshots stay, newer ones included.
        fn rollback(
            &self,
            store: Store<'_>,
            volid: &VolumeId,
            snap: &str,
        ) -> Result<(), StorageError> {
            let subvolume = volume_subvolume(store, volid)?;
            let snapshot = snapshot_path(&subvolume, snap);
            let name = subvolume
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let temp = subvolume.with_file_name(format!("{name}.tmp.{}", std::process::id()));
            snapshot_subvolume(&snapshot, &temp, false).map_err(io_error(format!(
                "unable to snapshot '{}' as '{}'",
                snapshot.display(),
                temp.display()
            )))?;
            if let Err(e) = exchange(&temp, &subvolume) {
                let _ = delete_subvolume(&temp);
                return Err(StorageError::Invalid(format!(
                    "failed to rotate '{}' into place at '{}' - {e}",
                    temp.display(),
                    subvolume.display()
                )));
            }
            // The volume is rolled back now; what is left at `temp` is the state before, which
            // pve-storage only warns about when it cannot delete it.
            let _ = delete_subvolume(&temp);
            Ok(())
        }

        fn delete_snapshot(
            &self,
            store: Store<'_>,
            volid: &VolumeId,
            snap: &str,
        ) -> Result<(), StorageError> {
            let snapshot = snapshot_path(&volume_subvolume(store, volid)?, snap);
            if !is_subvolume(&snapshot) {
                return Err(StorageError::Invalid(format!(
                    "unable to delete snapshot '{}' - no such subvolume",
                    snapshot.display()
                )));
            }
            delete_subvolume(&snapshot).map_err(io_error(format!(
                "unable to delete snapshot '{}'",
                snapshot.display()
            )))
        }

        /// pve-storage's btrfs `create_base`: the subvolume of a raw volume renamed
        /// `vm-…` → `base-…` (a `subvol-…` keeps its name) and made read-only. Made
        /// read-only first, so that a failure leaves the volume as it was.
        fn create_base(
            &self,
            store: Store<'_>,
            volid: &VolumeId,
        ) -> Result<VolumeId, StorageError> {
            let (vmid, file, _) = parse_file_volume(volid)?;
            if file_volume_info(volid)?.is_base {
                return Err(StorageError::Invalid(
                    "create_base not possible with base image".to_string(),
                ));
            }
            let subvolume = volume_subvolume(store, volid)?;
            let base = VolumeId {
                storage: store.id().to_string(),
                name: format!("{vmid}/{}", base_name(&file)),
            };
            let base_subvolume = volume_subvolume(store, &base)?;
            if base_subvolume != subvolume && base_subvolume.exists() {
                return Err(StorageError::Invalid(format!(
                    "file '{}' already exists",
                    base_subvolume.display()
                )));
            }
            set_subvolume_read_only(&subvolume, true).map_err(io_error(format!(
                "unable to make subvolume '{}' read-only",
                subvolume.display()
            )))?;
            if base_subvolume != subvolume
                && let Err(e) = std::fs::rename(&subvolume, &base_subvolume)
            {
                let _ = set_subvolume_read_only(&subvolume, false);
                return Err(io_error(format!(
                    "rename '{}' to '{}' failed",
                    subvolume.display(),
                    base_subvolume.display()
                ))(e));
            }
            Ok(base)
        }

        /// pve-storage's btrfs `clone_image`: a writable snapshot of the volume's subvolume
        /// as the next free disk of `vmid`. Where pve-storage always snapshots the current
        /// state, a given `snap` is honoured: the clone starts from that snapshot.
        fn clone_volume(
            &self,
            store: Store<'_>,
            volid: &VolumeId,
            snap: Option<&str>,
            vmid: u32,
        ) -> Result<VolumeId, StorageError> {
            let (_, _, format) = parse_file_volume(volid)?;
            let mut source = volume_subvolume(store, volid)?;
            if let Some(snap) = snap {
                source = snapshot_path(&source, snap);
            }
            let (clone, _) = next_file_volume(store, vmid, format == "raw")?;
            let target = volume_subvolume(store, &clone)?;
            snapshot_subvolume(&source, &target, false).map_err(|e| {
                remove_empty_images_dir(store, vmid);
                io_error(format!(
                    "unable to snapshot '{}' as '{}'",
                    source.display(),
                    target.display()
                ))(e)
            })?;
            Ok(clone)
        }

        /// A snapshot is the read-only `<subvolume>@<snap>`: its `disk.raw` for a raw
        /// volume; for a subvol the snapshot directory itself, which pct refuses to mount
        /// ("cannot mount subvol snapshots") but which, read-only as it is, can be read as it
        /// stands.
        fn snapshot_source(
            &self,
            store: Store<'_>,
            volid: &VolumeId,
            snap: &str,
        ) -> Result<VolumeSource, StorageError> {
            let (_, _, format) = parse_file_volume(volid)?;
            let snapshot = snapshot_path(&volume_subvolume(store, volid)?, snap);
            if !is_subvolume(&snapshot) {
                return Err(StorageError::Invalid(format!(
                    "snapshot '{}' does not exist",
                    snapshot.display()
                )));
            }
            Ok(if format == "raw" {
                VolumeSource::RawImage(snapshot.join("disk.raw"))
            } else {
                VolumeSource::Directory(snapshot)
            })
        }

        fn status(&self, store: Store<'_>) -> Result<Option<StorageStatus>, StorageError> {
            Ok(filesystem_status(&store.cfg.storage_path(store.def)))
        }

        fn features(&self) -> &'static [FeatureRow] {
            BTRFS_FEATURES
        }
    }

    /// A storage directory yet to be made is on btrfs when its nearest existing parent is.
    fn is_btrfs_parent(path: &Path) -> bool {
        path.ancestors().find(|p| p.exists()).is_some_and(is_btrfs)
    }
}
