//! One trait every storage type implements, as pve-storage's plugins do, and the
//! [`StorageConfig`] methods the rest of corral calls, which look up the storage of a volume
//! and hand the work to its type's plugin.
//!
//! Plugins are stateless: everything they need comes in a [`Store`] (the storage's section
//! and the host root it resolves under). The snapshot, clone, template and export/import
//! hooks answer "not available" by default, in pve-storage's words, until a type implements
//! them.

use std::io::{Read, Write};
use std::path::PathBuf;

use super::cfg::{ContentType, StorageDef, StorageType};
use super::{PreparedVolume, StorageConfig, StorageError, VolumeFormat, VolumeId};
use crate::mount::VolumeSource;

/// A storage section and the configuration it belongs to: what a plugin works on.
#[derive(Clone, Copy)]
pub(crate) struct Store<'a> {
    /// The whole storage.cfg (host root, other storages).
    pub cfg: &'a StorageConfig,
    /// This storage's section.
    pub def: &'a StorageDef,
}

impl Store<'_> {
    pub(crate) fn id(&self) -> &str {
        &self.def.id
    }

    /// A required key of the section (`vgname`, `thinpool`, ...); the parser refuses sections
    /// without them, so this fails only for a hand-built definition.
    pub(crate) fn option(&self, key: &str) -> Result<&str, StorageError> {
        self.def
            .options
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| {
                StorageError::Invalid(format!(
                    "storage '{}': missing value for required option '{key}'",
                    self.def.id
                ))
            })
    }
}

/// What a volume name on a storage says: its owner, format and whether it is a template's
/// base volume (pve-storage's `parse_volname`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VolumeInfo {
    /// The owning container.
    pub owner: u32,
    /// `raw`, `subvol`, `qcow2`, ...
    pub format: String,
    /// A template's base volume (`base-…`, `basevol-…`).
    pub is_base: bool,
}

/// The storage-level operations pve-storage's `volume_has_feature` is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// Take snapshots of the volume.
    Snapshot,
    /// Make a linked clone of it.
    Clone,
    /// Turn it into a template's base volume.
    Template,
    /// Copy it (full clone).
    Copy,
    /// New volumes read as zeroes without writing them (thin provisioning).
    SparseInit,
    /// Rename it, e.g. to hand it to another container.
    Rename,
}

/// Which state of a volume a feature is asked for: pve-storage's `current`, `base` (a
/// template's volume) or `snap` (a snapshot of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FeatureKey {
    Current,
    Base,
    Snap,
}

/// One row of a feature table: the feature, the state, and the formats it holds for (empty:
/// any format).
pub(crate) type FeatureRow = (Feature, FeatureKey, &'static [&'static str]);

/// Where a volume's storage is in use or full: `pvesm status`'s figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StorageStatus {
    /// Bytes in all.
    pub total: u64,
    /// Bytes free.
    pub available: u64,
    /// Bytes used.
    pub used: u64,
    /// Whether the storage is usable now.
    pub active: bool,
}

fn not_available(what: &str) -> StorageError {
    StorageError::Invalid(what.to_string())
}

/// A storage type. Every method gets the storage (`store`) the volume lives on.
pub(crate) trait StoragePlugin: Sync {
    /// Make the storage usable (after the enabled/node checks every type shares).
    fn activate_storage(&self, store: Store<'_>) -> Result<(), StorageError>;

    /// What the volume name says, or the type's own "unable to parse" message.
    fn parse_volume(&self, store: Store<'_>, volid: &VolumeId) -> Result<VolumeInfo, StorageError>;

    /// Make a new container volume of `size_bytes` (0: a directory, where the type has
    /// them) for `vmid`, with its file system root owned by `root_owner`; it gets its name
    /// only on [`PreparedVolume::commit`] and is gone again if dropped before.
    fn allocate(
        &self,
        store: Store<'_>,
        vmid: u32,
        size_bytes: u64,
        root_owner: (u32, u32),
    ) -> Result<PreparedVolume, StorageError>;

    /// Delete a volume (and its snapshots); a volume already gone is not an error.
    fn free(&self, store: Store<'_>, volid: &VolumeId) -> Result<(), StorageError>;

    /// Where the volume is on the host: its image file, block device or directory (any
    /// volume name the type knows, templates and snippets included).
    fn path(&self, store: Store<'_>, volid: &VolumeId) -> Result<PathBuf, StorageError>;

    /// What the container volume is, and so how it is mounted.
    fn source(&self, store: Store<'_>, volid: &VolumeId) -> Result<VolumeSource, StorageError>;

    /// Make the volume usable (an LV activated); nothing for file storages.
    fn activate_volume(&self, _store: Store<'_>, _volid: &VolumeId) -> Result<(), StorageError> {
        Ok(())
    }

    /// Undo [`activate_volume`](Self::activate_volume) once nothing uses the volume.
    fn deactivate_volume(&self, _store: Store<'_>, _volid: &VolumeId) -> Result<(), StorageError> {
        Ok(())
    }

    /// The container volumes `vmid` owns here, in disk order.
    fn list(
        &self,
        store: Store<'_>,
        vmid: u32,
    ) -> Result<Vec<(VolumeId, VolumeFormat)>, StorageError>;

    /// The volume's size in bytes (0 for a directory without a quota).
    fn size(&self, store: Store<'_>, volid: &VolumeId) -> Result<u64, StorageError>;

    /// Grow the volume itself to `new_size` bytes (file length, LV size, quota); growing the
    /// file system inside is the caller's.
    fn resize(&self, store: Store<'_>, volid: &VolumeId, new_size: u64)
    -> Result<(), StorageError>;

    /// Give the volume to `target_vmid` under `target_name` (the next free disk name when
    /// `None`); returns its new id.
    fn rename(
        &self,
        _store: Store<'_>,
        _volid: &VolumeId,
        _target_vmid: u32,
        _target_name: Option<&str>,
    ) -> Result<VolumeId, StorageError> {
        Err(not_available("rename volume not implemented"))
    }

    /// Snapshot `snap` of the volume.
    fn snapshot(
        &self,
        _store: Store<'_>,
        _volid: &VolumeId,
        _snap: &str,
    ) -> Result<(), StorageError> {
        Err(not_available("can't snapshot this image format"))
    }

    /// Whether the volume can be rolled back to snapshot `snap` (pve-storage's
    /// `volume_rollback_is_possible`); pct's refusal when not. Most types can always.
    fn rollback_is_possible(
        &self,
        _store: Store<'_>,
        _volid: &VolumeId,
        _snap: &str,
    ) -> Result<(), StorageError> {
        Ok(())
    }

    /// Roll the volume back to snapshot `snap`.
    fn rollback(
        &self,
        _store: Store<'_>,
        _volid: &VolumeId,
        _snap: &str,
    ) -> Result<(), StorageError> {
        Err(not_available("can't rollback snapshot this image format"))
    }

    /// Delete snapshot `snap` of the volume.
    fn delete_snapshot(
        &self,
        _store: Store<'_>,
        _volid: &VolumeId,
        _snap: &str,
    ) -> Result<(), StorageError> {
        Err(not_available("can't delete snapshot for this image format"))
    }

    /// What snapshot `snap` of the volume is, to be mounted read-only (a full clone from a
    /// snapshot reads it); pct's refusal where the type cannot mount its snapshots.
    fn snapshot_source(
        &self,
        store: Store<'_>,
        _volid: &VolumeId,
        _snap: &str,
    ) -> Result<VolumeSource, StorageError> {
        Err(not_available(&format!(
            "cannot mount snapshots for storage type '{}'",
            store.def.kind.name()
        )))
    }

    /// Make snapshot `snap` of the volume readable (a snapshot LV activated); pve-storage's
    /// `activate_volume` with a snapshot name.
    fn activate_snapshot(
        &self,
        _store: Store<'_>,
        _volid: &VolumeId,
        _snap: &str,
    ) -> Result<(), StorageError> {
        Ok(())
    }

    /// Undo [`activate_snapshot`](Self::activate_snapshot) once it is unmounted.
    fn deactivate_snapshot(
        &self,
        _store: Store<'_>,
        _volid: &VolumeId,
        _snap: &str,
    ) -> Result<(), StorageError> {
        Ok(())
    }

    /// A linked clone of the base volume (or of its snapshot `snap`) for `vmid`.
    fn clone_volume(
        &self,
        _store: Store<'_>,
        _volid: &VolumeId,
        _snap: Option<&str>,
        _vmid: u32,
    ) -> Result<VolumeId, StorageError> {
        Err(not_available("clone_image only works on base images"))
    }

    /// The formats a linked clone made by this type has, when it is not the format of the
    /// volume cloned (pve-storage's `valid_target_formats` check): dir storages make qcow2
    /// clones, which containers cannot use.
    fn linked_clone_formats(&self) -> Option<&'static [&'static str]> {
        None
    }

    /// Turn the volume into a template's base volume; returns its new id.
    fn create_base(&self, _store: Store<'_>, _volid: &VolumeId) -> Result<VolumeId, StorageError> {
        Err(not_available("create_base not possible on this storage"))
    }

    /// The stream formats the volume can be exported in (`raw+size`, `tar+size`, ...).
    fn export_formats(&self, _store: Store<'_>, _volid: &VolumeId) -> Vec<&'static str> {
        Vec::new()
    }

    /// Write the volume to `out` in `format`.
    fn export(
        &self,
        store: Store<'_>,
        _volid: &VolumeId,
        format: &str,
        _out: &mut dyn Write,
    ) -> Result<(), StorageError> {
        Err(not_available(&format!(
            "volume export format {format} not available for {}",
            store.def.kind.name()
        )))
    }

    /// Make a volume for `vmid` from a stream in `format`; returns its id.
    fn import(
        &self,
        store: Store<'_>,
        _vmid: u32,
        format: &str,
        _input: &mut dyn Read,
    ) -> Result<VolumeId, StorageError> {
        Err(not_available(&format!(
            "volume import format {format} not available for {}",
            store.def.kind.name()
        )))
    }

    /// The storage's size and use, `None` when it cannot tell (not active).
    fn status(&self, store: Store<'_>) -> Result<Option<StorageStatus>, StorageError>;

    /// pve-storage's feature table for this type.
    fn features(&self) -> &'static [FeatureRow];
}

/// The plugin of a storage type.
pub(crate) fn plugin_for(kind: StorageType) -> &'static dyn StoragePlugin {
    match kind {
        StorageType::Dir | StorageType::Nfs | StorageType::Cifs | StorageType::CephFs => {
            &super::dir::DirPlugin
        }
        StorageType::Btrfs => &super::btrfs::BtrfsPlugin,
        StorageType::Lvm => &super::lvm::LvmPlugin,
        StorageType::LvmThin => &super::lvmthin::LvmThinPlugin,
        StorageType::ZfsPool => &super::zfspool::ZfsPoolPlugin,
    }
}

/// The node name pve-storage checks `nodes` against.
fn node_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

impl StorageConfig {
    /// A storage and its plugin.
    fn store(&self, id: &str) -> Result<(Store<'_>, &'static dyn StoragePlugin), StorageError> {
        let def = self.storage(id)?;
        Ok((Store { cfg: self, def }, plugin_for(def.kind)))
    }

    /// The storage named `id` if this node may use it: enabled (`storage 'id' is disabled`)
    /// and, with `nodes`, listing this node (`storage 'id' is not available on node 'n'`).
    pub fn enabled_storage(&self, id: &str) -> Result<&StorageDef, StorageError> {
        let def = self.storage(id)?;
        if def.disabled {
            return Err(StorageError::Invalid(format!("storage '{id}' is disabled")));
        }
        if let Some(nodes) = def.options.get("nodes") {
            let node = node_name();
            if !super::cfg::split_list(nodes).any(|n| n == node) {
                return Err(StorageError::Invalid(format!(
                    "storage '{id}' is not available on node '{node}'"
                )));
            }
        }
        Ok(def)
    }

    /// Make a storage usable, as pve-storage does before touching it: enabled on this node,
    /// then the type's own activation (a directory made or checked, a network file system
    /// found mounted, a thin pool activated).
    pub fn activate_storage(&self, id: &str) -> Result<&StorageDef, StorageError> {
        let def = self.enabled_storage(id)?;
        plugin_for(def.kind).activate_storage(Store { cfg: self, def })?;
        Ok(def)
    }

    /// Allocate the next free `vm-<vmid>-disk-N` / `subvol-<vmid>-disk-N` on `storage`:
    /// `size_bytes > 0` makes a volume formatted with mkfs.ext4; 0 makes a directory (a
    /// subvolume on btrfs). The storage must allow content `rootdir`.
    pub fn alloc_disk(
        &self,
        storage: &str,
        vmid: u32,
        size_bytes: u64,
    ) -> Result<VolumeId, StorageError> {
        self.alloc_disk_owned(storage, vmid, size_bytes, (0, 0))
    }

    /// [`alloc_disk`](Self::alloc_disk) for a container whose root is `root_owner` (uid, gid)
    /// on the host: the file system root (`mkfs.ext4 -E root_owner=`) or the directory is
    /// owned by it, as pct does for unprivileged containers.
    pub fn alloc_disk_owned(
        &self,
        storage: &str,
        vmid: u32,
        size_bytes: u64,
        root_owner: (u32, u32),
    ) -> Result<VolumeId, StorageError> {
        self.prepare_disk_owned(storage, vmid, size_bytes, root_owner)?
            .commit()
    }

    /// [`alloc_disk_owned`](Self::alloc_disk_owned) up to the last step: the volume is made
    /// but gets its name only on [`PreparedVolume::commit`]. A caller that records the volume
    /// in a config commits it right before the config, so that a kill in between leaves as
    /// little as possible. Until then nothing else may allocate for `vmid` on this storage
    /// (callers hold the container's config lock).
    pub fn prepare_disk_owned(
        &self,
        storage: &str,
        vmid: u32,
        size_bytes: u64,
        root_owner: (u32, u32),
    ) -> Result<PreparedVolume, StorageError> {
        let (store, plugin) = self.store(storage)?;
        if !store.def.allows(ContentType::Rootdir) {
            return Err(StorageError::Invalid(format!(
                "content type 'rootdir' is not available or configured on storage '{storage}'"
            )));
        }
        self.activate_storage(storage)?;
        plugin.allocate(store, vmid, size_bytes, root_owner)
    }

    /// Remove a volume (and what only it used, e.g. an empty `images/<vmid>`).
    pub fn free_volume(&self, volid: &VolumeId) -> Result<(), StorageError> {
        let (store, plugin) = self.store(&volid.storage)?;
        self.activate_storage(&volid.storage)?;
        plugin.parse_volume(store, volid)?;
        plugin.free(store, volid)
    }

    /// The volume's format as its storage names it (pve-storage's `parse_volname`): `raw`
    /// for an image or an LV, `subvol` for a directory, `qcow2`, ...
    pub fn volume_format(&self, volid: &VolumeId) -> Result<String, StorageError> {
        let (store, plugin) = self.store(&volid.storage)?;
        Ok(plugin.parse_volume(store, volid)?.format)
    }

    /// Whether the volume is a template's base volume (`base-…`), which is mounted
    /// read-only only.
    pub fn is_base_volume(&self, volid: &VolumeId) -> bool {
        self.store(&volid.storage)
            .and_then(|(store, plugin)| plugin.parse_volume(store, volid))
            .is_ok_and(|info| info.is_base)
    }

    /// The volume's size in bytes (image or LV length; 0 for directories).
    pub fn volume_size(&self, volid: &VolumeId) -> Result<u64, StorageError> {
        let (store, plugin) = self.store(&volid.storage)?;
        plugin.size(store, volid)
    }

    /// Every container volume owned by `vmid` on every storage this node may use that holds
    /// disks (and is online: an unmounted network storage has nothing to list).
    pub fn list_volumes(&self, vmid: u32) -> Result<Vec<(VolumeId, VolumeFormat)>, StorageError> {
        let mut volumes = Vec::new();
        for def in &self.storages {
            let holds_disks = def.allows(ContentType::Images) || def.allows(ContentType::Rootdir);
            if !holds_disks || self.enabled_storage(&def.id).is_err() {
                continue;
            }
            let store = Store { cfg: self, def };
            if def.kind.is_network_fs() && super::dir::check_online(store).is_err() {
                continue;
            }
            volumes.extend(plugin_for(def.kind).list(store, vmid)?);
        }
        Ok(volumes)
    }

    /// Where a volume lives: the raw image file, the block device, or the directory.
    pub fn volume_path(&self, volid: &VolumeId) -> Result<PathBuf, StorageError> {
        let (store, plugin) = self.store(&volid.storage)?;
        plugin.path(store, volid)
    }

    /// What a container volume is and so how it is mounted: a raw image, a block device or a
    /// directory.
    pub fn volume_source(&self, volid: &VolumeId) -> Result<VolumeSource, StorageError> {
        let (store, plugin) = self.store(&volid.storage)?;
        plugin.source(store, volid)
    }

    /// Make a volume usable before it is mounted: its storage activated and, on LVM, the LV.
    pub fn activate_volume(&self, volid: &VolumeId) -> Result<(), StorageError> {
        let (store, plugin) = self.store(&volid.storage)?;
        self.activate_storage(&volid.storage)?;
        plugin.activate_volume(store, volid)
    }

    /// Undo [`activate_volume`](Self::activate_volume) once the volume is unmounted (after
    /// a stop or `pct unmount`).
    pub fn deactivate_volume(&self, volid: &VolumeId) -> Result<(), StorageError> {
        let (store, plugin) = self.store(&volid.storage)?;
        plugin.deactivate_volume(store, volid)
    }

    /// Grow a volume to `new_size_bytes` at the storage level (image length, LV size,
    /// quota); the file system inside is the caller's to grow.
    pub fn resize_volume(&self, volid: &VolumeId, new_size_bytes: u64) -> Result<(), StorageError> {
        let (store, plugin) = self.store(&volid.storage)?;
        self.activate_storage(&volid.storage)?;
        plugin.parse_volume(store, volid)?;
        plugin.resize(store, volid, new_size_bytes)
    }

    /// Hand a volume to container `target_vmid`, under `target_name` or the next free disk
    /// name of that container; returns the new volume id.
    pub fn rename_volume(
        &self,
        volid: &VolumeId,
        target_vmid: u32,
        target_name: Option<&str>,
    ) -> Result<VolumeId, StorageError> {
        let (store, plugin) = self.store(&volid.storage)?;
        self.activate_storage(&volid.storage)?;
        plugin.parse_volume(store, volid)?;
        plugin.rename(store, volid, target_vmid, target_name)
    }

    /// Take snapshot `snap` of a volume (pve-storage's `volume_snapshot`).
    ///
    /// The storage is not activated here: as pve-storage's `volume_snapshot`, this is called
    /// with it active (`pct snapshot` activates it before the container is frozen, so that
    /// the freeze lasts no longer than the snapshots themselves).
    pub fn volume_snapshot(&self, volid: &VolumeId, snap: &str) -> Result<(), StorageError> {
        let (store, plugin) = self.store(&volid.storage)?;
        plugin.parse_volume(store, volid)?;
        plugin.snapshot(store, volid, snap)
    }

    /// Whether a volume can be rolled back to snapshot `snap`: pct's refusal when not (ZFS
    /// rolls back only to the newest snapshot).
    pub fn volume_rollback_is_possible(
        &self,
        volid: &VolumeId,
        snap: &str,
    ) -> Result<(), StorageError> {
        let (store, plugin) = self.active_volume_store(volid)?;
        plugin.rollback_is_possible(store, volid, snap)
    }

    /// Roll a volume back to snapshot `snap`.
    pub fn volume_rollback(&self, volid: &VolumeId, snap: &str) -> Result<(), StorageError> {
        let (store, plugin) = self.active_volume_store(volid)?;
        plugin.rollback(store, volid, snap)
    }

    /// Delete snapshot `snap` of a volume.
    pub fn volume_snapshot_delete(&self, volid: &VolumeId, snap: &str) -> Result<(), StorageError> {
        let (store, plugin) = self.active_volume_store(volid)?;
        plugin.delete_snapshot(store, volid, snap)
    }

    /// Where snapshot `snap` of a volume is, made readable (an LV activated): for a full
    /// copy from a snapshot, mounted read-only.
    pub fn activate_volume_snapshot(
        &self,
        volid: &VolumeId,
        snap: &str,
    ) -> Result<VolumeSource, StorageError> {
        let (store, plugin) = self.active_volume_store(volid)?;
        plugin.activate_snapshot(store, volid, snap)?;
        plugin.snapshot_source(store, volid, snap)
    }

    /// Where snapshot `snap` of a volume is on the host (pve-storage's `path` with a
    /// snapshot name): a snapshot LV's device, a ZFS snapshot's directory.
    pub fn volume_snapshot_path(
        &self,
        volid: &VolumeId,
        snap: &str,
    ) -> Result<PathBuf, StorageError> {
        let (store, plugin) = self.store(&volid.storage)?;
        plugin.parse_volume(store, volid)?;
        Ok(match plugin.snapshot_source(store, volid, snap)? {
            VolumeSource::RawImage(path)
            | VolumeSource::Directory(path)
            | VolumeSource::BlockDevice(path) => path,
        })
    }

    /// Undo [`activate_volume_snapshot`](Self::activate_volume_snapshot) once unmounted.
    pub fn deactivate_volume_snapshot(
        &self,
        volid: &VolumeId,
        snap: &str,
    ) -> Result<(), StorageError> {
        let (store, plugin) = self.store(&volid.storage)?;
        plugin.deactivate_snapshot(store, volid, snap)
    }

    /// A linked clone of a base volume (or of its snapshot `snap`) for container `vmid`.
    pub fn clone_volume(
        &self,
        volid: &VolumeId,
        snap: Option<&str>,
        vmid: u32,
    ) -> Result<VolumeId, StorageError> {
        let (store, plugin) = self.active_volume_store(volid)?;
        plugin.clone_volume(store, volid, snap, vmid)
    }

    /// Turn a volume into a template's base volume; returns its new id.
    pub fn create_base(&self, volid: &VolumeId) -> Result<VolumeId, StorageError> {
        let (store, plugin) = self.active_volume_store(volid)?;
        plugin.create_base(store, volid)
    }

    /// The stream formats a volume can be exported in; empty when none.
    pub fn volume_export_formats(&self, volid: &VolumeId) -> Vec<&'static str> {
        match self.store(&volid.storage) {
            Ok((store, plugin)) => plugin.export_formats(store, volid),
            Err(_) => Vec::new(),
        }
    }

    /// Write a volume to `out` in stream format `format`.
    pub fn volume_export(
        &self,
        volid: &VolumeId,
        format: &str,
        out: &mut dyn Write,
    ) -> Result<(), StorageError> {
        let (store, plugin) = self.active_volume_store(volid)?;
        plugin.export(store, volid, format, out)
    }

    /// Make a volume for container `vmid` on `storage` from a stream in `format`.
    pub fn volume_import(
        &self,
        storage: &str,
        vmid: u32,
        format: &str,
        input: &mut dyn Read,
    ) -> Result<VolumeId, StorageError> {
        let (store, plugin) = self.store(storage)?;
        self.activate_storage(storage)?;
        plugin.import(store, vmid, format, input)
    }

    /// The store of a volume whose name its type accepts, with the storage activated.
    fn active_volume_store(
        &self,
        volid: &VolumeId,
    ) -> Result<(Store<'_>, &'static dyn StoragePlugin), StorageError> {
        let (store, plugin) = self.store(&volid.storage)?;
        self.activate_storage(&volid.storage)?;
        plugin.parse_volume(store, volid)?;
        Ok((store, plugin))
    }

    /// pve-storage's `volume_has_feature`: whether `feature` is available for the volume
    /// (of snapshot `snap` when given). Unknown volumes have no features.
    pub fn volume_has_feature(
        &self,
        feature: Feature,
        volid: &VolumeId,
        snap: Option<&str>,
    ) -> bool {
        let Ok((store, plugin)) = self.store(&volid.storage) else {
            return false;
        };
        let Ok(info) = plugin.parse_volume(store, volid) else {
            return false;
        };
        let key = match (snap, info.is_base) {
            (Some(_), _) => FeatureKey::Snap,
            (None, true) => FeatureKey::Base,
            (None, false) => FeatureKey::Current,
        };
        plugin.features().iter().any(|(f, k, formats)| {
            *f == feature && *k == key && (formats.is_empty() || formats.contains(&&*info.format))
        })
    }

    /// Whether a container can have a linked clone of the volume (of its snapshot `snap`):
    /// pve-storage's `volume_has_feature('clone', …)` with the container's
    /// `valid_target_formats` (raw, subvol).
    pub fn can_clone_linked(&self, volid: &VolumeId, snap: Option<&str>) -> bool {
        let Ok((_, plugin)) = self.store(&volid.storage) else {
            return false;
        };
        let container_format = plugin
            .linked_clone_formats()
            .is_none_or(|formats| formats.iter().any(|f| ["raw", "subvol"].contains(f)));
        container_format && self.volume_has_feature(Feature::Clone, volid, snap)
    }

    /// A storage's size and use (`pvesm status`), `None` when it is not active.
    pub fn storage_status(&self, id: &str) -> Result<Option<StorageStatus>, StorageError> {
        let (store, plugin) = self.store(id)?;
        plugin.status(store)
    }
}

/// The `statvfs` figures of a directory, as pve-storage's file storages report them.
pub(crate) fn filesystem_status(path: &std::path::Path) -> Option<StorageStatus> {
    let stat = rustix::fs::statvfs(path).ok()?;
    let total = stat.f_blocks * stat.f_frsize;
    let available = stat.f_bavail * stat.f_frsize;
    let used = total.saturating_sub(stat.f_bfree * stat.f_frsize);
    Some(StorageStatus {
        total,
        available,
        used,
        active: true,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::mount::testutil::MountGuard;

    fn config(root: &Path, text: &str) -> StorageConfig {
        std::fs::create_dir_all(root.join("etc/pve")).unwrap();
        std::fs::write(root.join("etc/pve/storage.cfg"), text).unwrap();
        let config = StorageConfig::load(root).unwrap();
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
        config
    }

    #[test]
    fn network_storages_are_directories_only_where_mounted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let config = config(
            root,
            "nfs: share1\n\tserver 10.0.0.1\n\texport /x\n\tcontent rootdir,images\n",
        );
        let err = |c: &StorageConfig| c.alloc_disk("share1", 100, 0).unwrap_err().to_string();
        assert_eq!(err(&config), "storage 'share1' is not online");
        assert!(!root.join("mnt/pve/share1/images").exists(), "nothing made");
        assert!(config.list_volumes(100).unwrap().is_empty());

        let mount_point = root.join("mnt/pve/share1");
        std::fs::create_dir_all(&mount_point).unwrap();
        let _guard = MountGuard(mount_point.clone());
        rustix::mount::mount(
            "tmpfs",
            &mount_point,
            "tmpfs",
            rustix::mount::MountFlags::empty(),
            None,
        )
        .unwrap();
        let volid = config.alloc_disk("share1", 100, 0).unwrap();
        assert_eq!(volid.to_string(), "share1:100/subvol-100-disk-0.subvol");
        assert!(
            mount_point
                .join("images/100/subvol-100-disk-0.subvol")
                .is_dir()
        );
        assert_eq!(
            config.list_volumes(100).unwrap(),
            [(volid.clone(), VolumeFormat::Subvol)]
        );
        assert_eq!(
            config.volume_source(&volid).unwrap(),
            VolumeSource::Directory(mount_point.join("images/100/subvol-100-disk-0.subvol"))
        );
        assert!(
            config
                .storage_status("share1")
                .unwrap()
                .is_some_and(|s| s.total > 0)
        );
        config.free_volume(&volid).unwrap();
        assert!(!mount_point.join("images/100").exists());
    }

    #[test]
    fn nodes_and_disable_restrict_where_a_storage_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let node = node_name();
        let config = config(
            dir.path(),
            &format!(
                "dir: here\n\tpath /here\n\tnodes {node},elsewhere\n\n\
                 dir: there\n\tpath /there\n\tnodes elsewhere\n\n\
                 dir: off\n\tpath /off\n\tdisable\n"
            ),
        );
        config.activate_storage("here").unwrap();
        let err = |id: &str| config.activate_storage(id).unwrap_err().to_string();
        assert_eq!(
            err("there"),
            format!("storage 'there' is not available on node '{node}'")
        );
        assert_eq!(err("off"), "storage 'off' is disabled");
        assert!(!dir.path().join("there").exists() && !dir.path().join("off").exists());
    }

    #[test]
    fn dir_volumes_grow_and_move_to_another_container() {
        let dir = tempfile::tempdir().unwrap();
        let config = StorageConfig::load(dir.path()).unwrap();
        let raw = config.alloc_disk("local", 100, 32 << 20).unwrap();
        let subvol = config.alloc_disk("local", 100, 0).unwrap();
        config.resize_volume(&raw, 48 << 20).unwrap();
        assert_eq!(config.volume_size(&raw).unwrap(), 48 << 20);
        let err = |r: Result<(), StorageError>| r.unwrap_err().to_string();
        assert!(
            err(config.resize_volume(&raw, 16 << 20)).starts_with("unable to shrink"),
            "shrinking refused"
        );
        assert_eq!(config.volume_size(&raw).unwrap(), 48 << 20);
        assert_eq!(
            err(config.resize_volume(&subvol, 1 << 30)),
            "can't resize this image format"
        );

        // The next free name of the target container, and never over an existing one.
        config.alloc_disk("local", 101, 0).unwrap();
        let moved = config.rename_volume(&raw, 101, None).unwrap();
        assert_eq!(moved.to_string(), "local:101/vm-101-disk-1.raw");
        assert_eq!(config.volume_size(&moved).unwrap(), 48 << 20);
        assert!(!config.volume_path(&raw).unwrap().exists());
        assert_eq!(
            config
                .rename_volume(&subvol, 101, Some("subvol-101-disk-0.subvol"))
                .unwrap_err()
                .to_string(),
            "target volume '101/subvol-101-disk-0.subvol' already exists"
        );
        assert!(config.volume_path(&subvol).unwrap().is_dir());
    }

    #[test]
    fn a_missing_lvm_tool_names_its_package() {
        let err = super::super::lvm::run_lvm("corral-no-such-lvm-tool", &[], "listing")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "corral-no-such-lvm-tool not found - install the package 'lvm2'"
        );
    }

    #[test]
    fn feature_tables_follow_pve_storage() {
        let config = StorageConfig::parse(
            Path::new("/r"),
            "btrfs: b1\n\tpath /b\n\nlvmthin: t1\n\tvgname vg\n\tthinpool pool\n\n\
             lvm: l1\n\tvgname vg\n\tcontent rootdir\n\nzfspool: z1\n\tpool tank\n",
        )
        .unwrap();
        let has = |feature, volid: &str, snap| {
            config.volume_has_feature(feature, &VolumeId::parse(volid).unwrap(), snap)
        };
        assert!(!has(Feature::Snapshot, "local:100/vm-100-disk-0.raw", None));
        assert!(has(
            Feature::Template,
            "local:100/subvol-100-disk-0.subvol",
            None
        ));
        assert!(has(Feature::Rename, "local:100/vm-100-disk-0.raw", None));
        assert!(!has(
            Feature::Rename,
            "local:100/subvol-100-disk-0.subvol",
            None
        ));
        assert!(has(
            Feature::Snapshot,
            "b1:100/subvol-100-disk-0.subvol",
            None
        ));
        assert!(has(Feature::Snapshot, "t1:vm-100-disk-0", None));
        assert!(has(Feature::Clone, "t1:base-100-disk-0", None));
        assert!(!has(Feature::Clone, "t1:vm-100-disk-0", None));
        assert!(has(Feature::Clone, "t1:vm-100-disk-0", Some("s1")));
        // ZFS: snapshots of snapshots' state too, linked clones only of a base (its
        // `@__base__`), never of a snapshot; a linked clone is a current volume.
        assert!(has(Feature::Snapshot, "z1:subvol-100-disk-0", Some("s1")));
        assert!(has(Feature::Clone, "z1:basevol-100-disk-0", None));
        assert!(!has(Feature::Clone, "z1:subvol-100-disk-0", Some("s1")));
        assert!(!has(Feature::Copy, "z1:subvol-100-disk-0", Some("s1")));
        let clone = "z1:basevol-100-disk-0/subvol-101-disk-0";
        assert!(has(Feature::Snapshot, clone, None) && !has(Feature::Clone, clone, None));
        assert!(has(Feature::Template, clone, None));
        assert!(!has(Feature::Snapshot, "l1:vm-100-disk-0", None));
        assert!(has(Feature::Rename, "l1:vm-100-disk-0", None));
        assert!(
            !has(Feature::Copy, "l1:100/vm-100-disk-0.raw", None),
            "not an lvm name"
        );
        assert!(!has(Feature::Copy, "gone:vm-100-disk-0", None));
    }

    #[test]
    fn lvm_volume_names_and_paths() {
        let config = StorageConfig::parse(
            Path::new("/r"),
            "lvmthin: t1\n\tvgname pve\n\tthinpool data\n",
        )
        .unwrap();
        let volid = VolumeId::parse("t1:vm-100-disk-1").unwrap();
        assert_eq!(
            config.volume_path(&volid).unwrap(),
            Path::new("/dev/pve/vm-100-disk-1")
        );
        assert_eq!(
            config.volume_source(&volid).unwrap(),
            VolumeSource::BlockDevice("/dev/pve/vm-100-disk-1".into())
        );
        assert_eq!(
            (volid.owner(), volid.format()),
            (Some(100), Some(VolumeFormat::Raw))
        );
        let bad = VolumeId::parse("t1:100/vm-100-disk-1.raw").unwrap();
        assert_eq!(
            config.volume_path(&bad).unwrap_err().to_string(),
            "lvm name '100/vm-100-disk-1.raw' contains illegal characters"
        );
        let bad = VolumeId::parse("t1:vztmpl/a.tar.gz").unwrap();
        assert!(config.volume_path(&bad).is_err());
    }
}
