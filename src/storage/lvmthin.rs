//! `lvmthin` storages: thin logical volumes `vm-<vmid>-disk-N` (templates' `base-…`) in the
//! thin pool `thinpool` of the volume group `vgname`, as pve-storage makes them (`lvcreate
//! -aly -V <size>k --name <name> --thinpool <vg>/<pool>`, autoactivation off, no tags).
//! As in pve-storage, a thin volume stays active once activated; only base volumes are
//! deactivated again.

use std::path::PathBuf;

use super::lvm::{
    LvInfo, existing_vg, list_lv_volumes, list_lvs, lv_extend, lv_path, lv_rename, lv_size,
    next_lv_name, parse_lv_name, prepare_lv, run_lvm,
};
use super::plugin::{
    Feature, FeatureKey, FeatureRow, StoragePlugin, StorageStatus, Store, VolumeInfo,
};
use super::{PreparedVolume, StorageError, VolumeFormat, VolumeId};
use crate::mount::VolumeSource;

/// The plugin of `lvmthin` storages.
pub(crate) struct LvmThinPlugin;

/// pve-storage's `LvmThinPlugin.pm` feature table (any format).
const LVMTHIN_FEATURES: &[FeatureRow] = &[
    (Feature::Snapshot, FeatureKey::Current, &[]),
    (Feature::Clone, FeatureKey::Base, &[]),
    (Feature::Clone, FeatureKey::Snap, &[]),
    (Feature::Template, FeatureKey::Current, &[]),
    (Feature::Copy, FeatureKey::Base, &[]),
    (Feature::Copy, FeatureKey::Current, &[]),
    (Feature::Copy, FeatureKey::Snap, &[]),
    (Feature::SparseInit, FeatureKey::Base, &[]),
    (Feature::SparseInit, FeatureKey::Current, &[]),
    (Feature::Rename, FeatureKey::Current, &[]),
];

/// Activate `vg/lv` unless it is (`no such logical volume vg/lv` when missing).
fn activate_lv(vg: &str, lv: &str) -> Result<(), StorageError> {
    let lvs = list_lvs(Some(vg))?;
    let info: &LvInfo = lvs
        .get(vg)
        .and_then(|lvs| lvs.get(lv))
        .ok_or_else(|| StorageError::Invalid(format!("no such logical volume {vg}/{lv}")))?;
    if info.state == 'a' {
        return Ok(());
    }
    let target = format!("{vg}/{lv}");
    run_lvm(
        "lvchange",
        &["-ay", "-K", &target],
        &format!("activating LV '{target}' failed"),
    )
    .map(drop)
}

impl StoragePlugin for LvmThinPlugin {
    fn activate_storage(&self, store: Store<'_>) -> Result<(), StorageError> {
        activate_lv(store.option("vgname")?, store.option("thinpool")?)
    }

    fn parse_volume(
        &self,
        _store: Store<'_>,
        volid: &VolumeId,
    ) -> Result<VolumeInfo, StorageError> {
        let (owner, is_base) = parse_lv_name(&volid.name, true)?;
        Ok(VolumeInfo {
            owner,
            format: "raw".to_string(),
            is_base,
        })
    }

    fn allocate(
        &self,
        store: Store<'_>,
        vmid: u32,
        size_bytes: u64,
        root_owner: (u32, u32),
    ) -> Result<PreparedVolume, StorageError> {
        if size_bytes == 0 {
            return Err(super::lvm::no_directories(store));
        }
        let (vg, _, _) = existing_vg(store)?;
        let pool = format!("{vg}/{}", store.option("thinpool")?);
        let lvs = list_lvs(Some(&vg))?;
        let name = next_lv_name(&lvs, &vg, vmid, store.id())?;
        let size = format!("{}k", size_bytes.div_ceil(1024));
        prepare_lv(store, name.clone(), root_owner, || {
            run_lvm(
                "lvcreate",
                &["-aly", "-V", &size, "--name", &name, "--thinpool", &pool],
                &format!("lvcreate '{vg}/{name}' error"),
            )?;
            // As pve-storage: a thin volume is not activated by the system at boot.
            let _ = run_lvm(
                "lvchange",
                &["--setautoactivation", "n", &format!("{vg}/{name}")],
                "could not set autoactivation",
            );
            Ok(())
        })
    }

    fn free(&self, store: Store<'_>, volid: &VolumeId) -> Result<(), StorageError> {
        let vg = store.option("vgname")?;
        let lvs = list_lvs(Some(vg))?;
        let Some(lvs) = lvs.get(vg) else {
            return Ok(());
        };
        // Its snapshots first, then the volume itself when it is there.
        let snapshot_prefix = format!("snap_{}_", volid.name);
        let mut doomed: Vec<&String> = lvs
            .keys()
            .filter(|lv| lv.starts_with(&snapshot_prefix))
            .collect();
        if lvs.contains_key(&volid.name) {
            doomed.push(&volid.name);
        }
        for lv in doomed {
            let target = format!("{vg}/{lv}");
            run_lvm(
                "lvremove",
                &["-f", &target],
                &format!("lvremove '{target}' error"),
            )?;
        }
        Ok(())
    }

    fn path(&self, store: Store<'_>, volid: &VolumeId) -> Result<PathBuf, StorageError> {
        parse_lv_name(&volid.name, true)?;
        lv_path(store, &volid.name)
    }

    fn source(&self, store: Store<'_>, volid: &VolumeId) -> Result<VolumeSource, StorageError> {
        Ok(VolumeSource::BlockDevice(self.path(store, volid)?))
    }

    fn activate_volume(&self, store: Store<'_>, volid: &VolumeId) -> Result<(), StorageError> {
        parse_lv_name(&volid.name, true)?;
        activate_lv(store.option("vgname")?, &volid.name)
    }

    fn deactivate_volume(&self, store: Store<'_>, volid: &VolumeId) -> Result<(), StorageError> {
        let (_, is_base) = parse_lv_name(&volid.name, true)?;
        if !is_base {
            return Ok(());
        }
        let target = format!("{}/{}", store.option("vgname")?, volid.name);
        run_lvm(
            "lvchange",
            &["-an", &target],
            &format!("deactivate_volume '{target}' error"),
        )
        .map(drop)
    }

    fn list(
        &self,
        store: Store<'_>,
        vmid: u32,
    ) -> Result<Vec<(VolumeId, VolumeFormat)>, StorageError> {
        let pool = store.option("thinpool")?.to_string();
        list_lv_volumes(store, vmid, true, |info| {
            info.lv_type == 'V' && info.pool == pool
        })
    }

    fn size(&self, store: Store<'_>, volid: &VolumeId) -> Result<u64, StorageError> {
        lv_size(&self.path(store, volid)?)
    }

    fn resize(
        &self,
        store: Store<'_>,
        volid: &VolumeId,
        new_size: u64,
    ) -> Result<(), StorageError> {
        lv_extend(&self.path(store, volid)?, new_size)
    }

    fn rename(
        &self,
        store: Store<'_>,
        volid: &VolumeId,
        target_vmid: u32,
        target_name: Option<&str>,
    ) -> Result<VolumeId, StorageError> {
        lv_rename(store, volid, target_vmid, target_name, true)
    }

    fn status(&self, store: Store<'_>) -> Result<Option<StorageStatus>, StorageError> {
        let vg = store.option("vgname")?;
        let pool = store.option("thinpool")?;
        let lvs = list_lvs(Some(vg))?;
        Ok(lvs
            .get(vg)
            .and_then(|lvs| lvs.get(pool))
            .filter(|info| info.lv_type == 't' && info.size > 0)
            .map(|info| StorageStatus {
                total: info.size,
                available: info.size - info.used.min(info.size),
                used: info.used,
                active: info.state == 'a',
            }))
    }

    fn features(&self) -> &'static [FeatureRow] {
        LVMTHIN_FEATURES
    }
}
