//! `dir` storages, and `nfs`, `cifs` and `cephfs` used as directories where they are mounted
//! (corral does not mount them; unmounted, they are "not online" as pve-storage says).
//!
//! Names and places follow PVE: `images/<vmid>/vm-<vmid>-disk-N.raw` (a sparse file holding
//! ext4) or `images/<vmid>/subvol-<vmid>-disk-N.subvol` (a directory); templates, backups,
//! snippets and the rest in their content directories. The activation and layout helpers
//! here serve btrfs storages too.

use std::io;
use std::path::{Path, PathBuf};

use super::alloc::{
    CommitStep, create_sparse_file, create_unnamed_sparse_file, disk_number, io_error, mkfs_ext4,
    next_disk_number,
};
use super::cfg::{ContentType, StorageType, parse_boolean};
use super::plugin::{
    Feature, FeatureKey, FeatureRow, StoragePlugin, StorageStatus, Store, VolumeInfo,
    filesystem_status,
};
use super::{PreparedVolume, StorageError, VolumeFormat, VolumeId, VolumeKind};
use crate::mount::VolumeSource;

/// The plugin of `dir`, `nfs`, `cifs` and `cephfs` storages.
pub(crate) struct DirPlugin;

/// pve-storage's `Plugin.pm` feature table (the one dir storages use).
const DIR_FEATURES: &[FeatureRow] = &[
    (Feature::Snapshot, FeatureKey::Current, &["qcow2"]),
    (Feature::Snapshot, FeatureKey::Snap, &["qcow2"]),
    (Feature::Clone, FeatureKey::Base, &["qcow2", "raw", "vmdk"]),
    (
        Feature::Template,
        FeatureKey::Current,
        &["qcow2", "raw", "vmdk", "subvol"],
    ),
    (Feature::Copy, FeatureKey::Base, &["qcow2", "raw", "vmdk"]),
    (
        Feature::Copy,
        FeatureKey::Current,
        &["qcow2", "raw", "vmdk"],
    ),
    (Feature::Copy, FeatureKey::Snap, &["qcow2"]),
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
    (
        Feature::Rename,
        FeatureKey::Current,
        &["qcow2", "raw", "vmdk"],
    ),
];

/// A network storage is online when something is mounted at its path (pve-storage checks
/// the server; corral, which does not mount it, checks the mount).
pub(crate) fn check_online(store: Store<'_>) -> Result<(), StorageError> {
    let path = store.cfg.storage_path(store.def);
    if is_mount_point(&path) {
        Ok(())
    } else {
        Err(StorageError::Invalid(format!(
            "storage '{}' is not online",
            store.id()
        )))
    }
}

/// Make a file storage's directory usable, as PVE does: mounted when `is_mountpoint` says
/// so, its directory created unless `create-base-path`/`mkdir` are off, the content
/// directories created unless `create-subdirs`/`mkdir` are off.
pub(crate) fn activate_directory(store: Store<'_>) -> Result<PathBuf, StorageError> {
    let (cfg, def, id) = (store.cfg, store.def, store.id());
    let path = cfg.storage_path(def);
    if let Some(mount_point) = expected_mount_point(store)
        && !is_mount_point(&mount_point)
    {
        return Err(StorageError::Invalid(format!(
            "unable to activate storage '{id}' - directory is expected to be a mount point but \
             is not mounted: '{}'",
            mount_point.display()
        )));
    }
    let mkdir = def.flag("mkdir", true);
    if def.flag("create-base-path", mkdir) {
        std::fs::create_dir_all(&path)
            .map_err(io_error(format!("unable to create '{}'", path.display())))?;
    }
    if !path.is_dir() {
        return Err(StorageError::Invalid(format!(
            "unable to activate storage '{id}' - directory '{}' does not exist or is unreachable",
            path.display()
        )));
    }
    if def.flag("create-subdirs", true) && mkdir {
        for content in ContentType::ALL {
            // The backup directory also serves containers (migration of old dumps).
            let wanted = def.allows(content)
                || (content == ContentType::Backup && def.allows(ContentType::Rootdir));
            if wanted {
                let subdir = cfg.content_path(def, content);
                std::fs::create_dir_all(&subdir).map_err(io_error(format!(
                    "failed to create content directory '{}' for content '{}'",
                    subdir.display(),
                    content.name()
                )))?;
            }
        }
    }
    Ok(path)
}

/// `is_mountpoint`: `yes`/`1` means the storage path itself, another value is a path.
fn expected_mount_point(store: Store<'_>) -> Option<PathBuf> {
    let value = store.def.options.get("is_mountpoint")?;
    match parse_boolean(value) {
        Some(true) => Some(store.cfg.storage_path(store.def)),
        Some(false) => None,
        None => Some(store.cfg.under_root(Path::new(value))),
    }
}

/// Whether something is mounted exactly at `path` (after resolving symlinks).
pub(crate) fn is_mount_point(path: &Path) -> bool {
    let Ok(real) = std::fs::canonicalize(path) else {
        return false;
    };
    crate::mount::mount_points().is_ok_and(|points| points.contains(&real))
}

/// What a file storage's image name says (`100/vm-100-disk-0.raw`).
pub(crate) fn parse_file_volume(volid: &VolumeId) -> Result<(u32, String, String), StorageError> {
    match volid.kind()? {
        VolumeKind::Image { vmid, file, format } => Ok((vmid, file, format)),
        _ => Err(StorageError::Invalid(format!(
            "volume '{volid}' is not a disk image"
        ))),
    }
}

pub(crate) fn file_volume_info(volid: &VolumeId) -> Result<VolumeInfo, StorageError> {
    let (owner, file, format) = parse_file_volume(volid)?;
    Ok(VolumeInfo {
        owner,
        format,
        is_base: file.starts_with("base-") || file.starts_with("basevol-"),
    })
}

/// Where any volume of a file storage is: images below `images/<vmid>/` (on btrfs a raw
/// image is `disk.raw` in a subvolume named without `.raw`), everything else in its
/// content directory.
pub(crate) fn file_volume_path(
    store: Store<'_>,
    volid: &VolumeId,
) -> Result<PathBuf, StorageError> {
    let kind = volid.kind()?;
    let dir = store.cfg.content_path(store.def, kind.content_type());
    Ok(match kind {
        VolumeKind::Image { vmid, file, format } => {
            let owner_dir = dir.join(vmid.to_string());
            match (store.def.kind, format.as_str()) {
                (StorageType::Btrfs, "raw") => owner_dir
                    .join(file.strip_suffix(".raw").unwrap_or(&file))
                    .join("disk.raw"),
                _ => owner_dir.join(file),
            }
        }
        VolumeKind::Vztmpl(file)
        | VolumeKind::Iso(file)
        | VolumeKind::Backup(file)
        | VolumeKind::Snippets(file)
        | VolumeKind::Import(file) => dir.join(file),
    })
}

/// A raw image is mounted through a loop device, anything else bound as a directory.
pub(crate) fn file_volume_source(
    store: Store<'_>,
    volid: &VolumeId,
) -> Result<VolumeSource, StorageError> {
    let path = file_volume_path(store, volid)?;
    Ok(match volid.format() {
        Some(VolumeFormat::Raw) => VolumeSource::RawImage(path),
        _ => VolumeSource::Directory(path),
    })
}

/// The size of a file storage volume: the image's length, 0 for a directory.
pub(crate) fn file_volume_size(store: Store<'_>, volid: &VolumeId) -> Result<u64, StorageError> {
    let path = file_volume_path(store, volid)?;
    let meta = std::fs::metadata(&path)
        .map_err(io_error(format!("failed to stat '{}'", path.display())))?;
    match (volid.format(), meta.is_dir()) {
        (Some(VolumeFormat::Subvol), true) => Ok(0),
        (Some(VolumeFormat::Subvol), false) => Err(StorageError::Invalid(format!(
            "expected format 'subvol', but '{}' is not a directory",
            path.display()
        ))),
        (_, true) => Err(StorageError::Invalid(format!(
            "expected format 'raw', but '{}' is a directory",
            path.display()
        ))),
        (_, false) => Ok(meta.len()),
    }
}

/// Grow a raw image file to `new_size` bytes, sparsely; directories have no size to grow.
pub(crate) fn grow_image_file(
    path: &Path,
    volid: &VolumeId,
    new_size: u64,
) -> Result<(), StorageError> {
    if volid.format() != Some(VolumeFormat::Raw) {
        return Err(StorageError::Invalid(
            "can't resize this image format".to_string(),
        ));
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_error(format!("unable to open '{}'", path.display())))?;
    let current = file
        .metadata()
        .map_err(io_error(format!("failed to stat '{}'", path.display())))?
        .len();
    if new_size < current {
        return Err(StorageError::Invalid(format!(
            "unable to shrink '{}' from {current} to {new_size} bytes",
            path.display()
        )));
    }
    file.set_len(new_size)
        .map_err(io_error(format!("failed to resize '{}'", path.display())))
}

/// The container volumes of `vmid` in a file storage's `images/<vmid>`, in disk order;
/// `entry` tells which directory entries are volumes (and their file names).
pub(crate) fn list_file_volumes(
    store: Store<'_>,
    vmid: u32,
    entry: fn(&str, &Path) -> Option<(String, VolumeFormat)>,
) -> Result<Vec<(VolumeId, VolumeFormat)>, StorageError> {
    let dir = store
        .cfg
        .content_path(store.def, ContentType::Images)
        .join(vmid.to_string());
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(format!("unable to list '{}'", dir.display()))(e)),
    };
    let mut found = Vec::new();
    for dir_entry in entries {
        let dir_entry =
            dir_entry.map_err(io_error(format!("unable to list '{}'", dir.display())))?;
        let Some(name) = dir_entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if let Some((file, format)) = entry(&name, &dir_entry.path()) {
            found.push((
                VolumeId {
                    storage: store.id().to_string(),
                    name: format!("{vmid}/{file}"),
                },
                format,
            ));
        }
    }
    // In disk order, as a listing of disk-0, disk-1, ... reads best.
    found.sort_by_cached_key(|(volid, _)| {
        (
            disk_number(&volid.name, vmid).unwrap_or(u32::MAX),
            volid.name.clone(),
        )
    });
    Ok(found)
}

/// The next free `vm-<vmid>-disk-N.raw` / `subvol-<vmid>-disk-N.subvol` of a file storage,
/// with its `images/<vmid>` directory made.
pub(crate) fn next_file_volume(
    store: Store<'_>,
    vmid: u32,
    raw: bool,
) -> Result<(VolumeId, PathBuf), StorageError> {
    let images_dir = store
        .cfg
        .content_path(store.def, ContentType::Images)
        .join(vmid.to_string());
    std::fs::create_dir_all(&images_dir).map_err(io_error(format!(
        "unable to create '{}'",
        images_dir.display()
    )))?;
    let number = next_disk_number(&images_dir, vmid, store.id())?;
    let file = if raw {
        format!("vm-{vmid}-disk-{number}.raw")
    } else {
        format!("subvol-{vmid}-disk-{number}.subvol")
    };
    let volid = VolumeId {
        storage: store.id().to_string(),
        name: format!("{vmid}/{file}"),
    };
    Ok((volid, images_dir))
}

/// Remove the empty `images/<vmid>` a freed volume leaves.
pub(crate) fn remove_empty_images_dir(store: Store<'_>, vmid: u32) {
    let _ = std::fs::remove_dir(
        store
            .cfg
            .content_path(store.def, ContentType::Images)
            .join(vmid.to_string()),
    );
}

/// Refuse to delete a volume that is mounted (at or below its path) or attached to a loop
/// device: deleting would pull the data from under a running container.
pub(crate) fn ensure_unused(
    volid: &VolumeId,
    target: &Path,
    image: &Path,
) -> Result<(), StorageError> {
    let real = std::fs::canonicalize(target).unwrap_or_else(|_| target.to_path_buf());
    let points = crate::mount::mount_points()
        .map_err(io_error("unable to read the mount table".to_string()))?;
    if let Some(point) = points.iter().find(|p| p.starts_with(&real)) {
        return Err(StorageError::Invalid(format!(
            "volume '{volid}' is in use (mounted at '{}')",
            point.display()
        )));
    }
    if image.is_file()
        && let Some(device) = crate::mount::devices_backed_by(image).first()
    {
        return Err(StorageError::Invalid(format!(
            "volume '{volid}' is in use by {}",
            device.display()
        )));
    }
    Ok(())
}

/// Remove `path` (a file or a directory tree); gone already is fine.
pub(crate) fn remove_path(path: &Path, dir: bool) -> io::Result<()> {
    let result = if dir {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Move a file storage volume to `target_vmid` (PVE's `rename_volume`): the target name is
/// the given one or the next free disk name of that container, and must not exist.
pub(crate) fn rename_file_volume(
    store: Store<'_>,
    volid: &VolumeId,
    target_vmid: u32,
    target_name: Option<&str>,
    path_of: fn(Store<'_>, &VolumeId) -> Result<PathBuf, StorageError>,
) -> Result<VolumeId, StorageError> {
    let (_, _, format) = parse_file_volume(volid)?;
    let source = path_of(store, volid)?;
    let target = match target_name {
        Some(name) => VolumeId {
            storage: store.id().to_string(),
            name: format!("{target_vmid}/{name}"),
        },
        None => next_file_volume(store, target_vmid, format == "raw")?.0,
    };
    parse_file_volume(&target)?;
    let target_path = path_of(store, &target)?;
    // For a btrfs raw image, the subvolume around disk.raw moves.
    let (from, to) = match (store.def.kind, format.as_str()) {
        (StorageType::Btrfs, "raw") => (
            source.parent().unwrap_or(&source).to_path_buf(),
            target_path.parent().unwrap_or(&target_path).to_path_buf(),
        ),
        _ => (source, target_path),
    };
    if to.exists() {
        return Err(StorageError::Invalid(format!(
            "target volume '{}' already exists",
            target.name
        )));
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .map_err(io_error(format!("unable to create '{}'", parent.display())))?;
    }
    std::fs::rename(&from, &to).map_err(io_error(format!(
        "rename '{}' to '{}' failed",
        from.display(),
        to.display()
    )))?;
    if let Some(owner) = volid.owner() {
        remove_empty_images_dir(store, owner);
    }
    Ok(target)
}

impl StoragePlugin for DirPlugin {
    fn activate_storage(&self, store: Store<'_>) -> Result<(), StorageError> {
        if store.def.kind.is_network_fs() {
            check_online(store)?;
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
        let (volid, images_dir) = next_file_volume(store, vmid, size_bytes > 0)?;
        let path = file_volume_path(store, &volid)?;
        let mut prepared = PreparedVolume::new(volid, Some(images_dir));
        if size_bytes == 0 {
            if path.exists() {
                return Err(StorageError::Invalid(format!(
                    "disk image '{}' already exists",
                    path.display()
                )));
            }
            prepared.set_step(CommitStep::MakeDir {
                path,
                owner: root_owner,
            });
            return Ok(prepared);
        }
        let dir = path.parent().unwrap_or(&path);
        match create_unnamed_sparse_file(dir, size_bytes)? {
            Some(image) => {
                // mkfs opens the unnamed file through our descriptor.
                let by_fd = PathBuf::from(format!(
                    "/proc/{}/fd/{}",
                    std::process::id(),
                    std::os::fd::AsRawFd::as_raw_fd(&image)
                ));
                mkfs_ext4(&by_fd, &path, root_owner)?;
                prepared.set_step(CommitStep::LinkImage { image, path });
            }
            None => {
                create_sparse_file(&path, size_bytes, false)?;
                let made = path.clone();
                prepared.set_step(CommitStep::InPlace {
                    undo: Box::new(move || {
                        let _ = std::fs::remove_file(&made);
                    }),
                });
                mkfs_ext4(&path, &path, root_owner)?;
            }
        }
        Ok(prepared)
    }

    fn free(&self, store: Store<'_>, volid: &VolumeId) -> Result<(), StorageError> {
        let (vmid, _, format) = parse_file_volume(volid)?;
        let path = file_volume_path(store, volid)?;
        ensure_unused(volid, &path, &path)?;
        // A template's volume is immutable (`chattr +i`), which even root cannot delete.
        if let Ok(file) = std::fs::File::open(&path) {
            let _ = super::btrfs::set_immutable(&file, false);
        }
        // Like PVE, a missing image is not an error: the goal is that it is gone.
        remove_path(&path, format == "subvol").map_err(io_error(format!(
            "unable to free volume '{volid}' ('{}')",
            path.display()
        )))?;
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
        list_file_volumes(store, vmid, dir_volume)
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

    /// pve-storage's `create_base` of file storages: `vm-…` renamed `base-…` (a `subvol-…`
    /// keeps its name), made read-only for everyone (0444) and immutable. The immutable
    /// flag is a safeguard some file systems lack (pve-storage only warns then), so failing
    /// to set it does not fail the conversion.
    fn create_base(&self, store: Store<'_>, volid: &VolumeId) -> Result<VolumeId, StorageError> {
        let (vmid, file, _) = parse_file_volume(volid)?;
        if file_volume_info(volid)?.is_base {
            return Err(StorageError::Invalid(
                "create_base not possible with base image".to_string(),
            ));
        }
        let path = file_volume_path(store, volid)?;
        let base = VolumeId {
            storage: store.id().to_string(),
            name: format!("{vmid}/{}", base_name(&file)),
        };
        let base_path = file_volume_path(store, &base)?;
        if base_path != path {
            if base_path.exists() {
                return Err(StorageError::Invalid(format!(
                    "file '{}' already exists",
                    base_path.display()
                )));
            }
            std::fs::rename(&path, &base_path).map_err(io_error(format!(
                "rename '{}' to '{}' failed",
                path.display(),
                base_path.display()
            )))?;
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&base_path, std::fs::Permissions::from_mode(0o444)).map_err(
            io_error(format!("unable to chmod '{}'", base_path.display())),
        )?;
        if let Ok(file) = std::fs::File::open(&base_path) {
            let _ = super::btrfs::set_immutable(&file, true);
        }
        Ok(base)
    }

    fn status(&self, store: Store<'_>) -> Result<Option<StorageStatus>, StorageError> {
        if store.def.kind.is_network_fs() && check_online(store).is_err() {
            return Ok(None);
        }
        Ok(filesystem_status(&store.cfg.storage_path(store.def)))
    }

    fn features(&self) -> &'static [FeatureRow] {
        DIR_FEATURES
    }

    /// pve-storage's dir `clone_image` makes a qcow2 image backed by the base: never a
    /// container volume.
    fn linked_clone_formats(&self) -> Option<&'static [&'static str]> {
        Some(&["qcow2"])
    }
}

/// The name a volume file gets as a template's base volume: pve-storage replaces a leading
/// `vm-` with `base-`; other names (`subvol-…`) stay as they are.
pub(crate) fn base_name(file: &str) -> String {
    match file.strip_prefix("vm-") {
        Some(rest) => format!("base-{rest}"),
        None => file.to_string(),
    }
}

/// A dir storage entry as a volume: `*.raw` files and `*.subvol` directories.
fn dir_volume(name: &str, path: &Path) -> Option<(String, VolumeFormat)> {
    match super::volume::image_file_format(name)? {
        "raw" if path.is_file() => Some((name.to_string(), VolumeFormat::Raw)),
        "subvol" if path.is_dir() => Some((name.to_string(), VolumeFormat::Subvol)),
        _ => None,
    }
}
