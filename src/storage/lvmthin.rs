//! `lvmthin` storages: thin logical volumes `vm-<vmid>-disk-N` (templates' `base-…`) in the
//! thin pool `thinpool` of the volume group `vgname`, as pve-storage makes them (`lvcreate
//! -aly -V <size>k --name <name> --thinpool <vg>/<pool>`, autoactivation off, no tags).
//! As in pve-storage, a thin volume stays active once activated; only base volumes and
//! snapshots are deactivated again.
//!
//! Snapshot `S` of `vm-100-disk-0` is the read-only thin snapshot LV
//! `snap_vm-100-disk-0_S` (skipped at activation, as LVM makes snapshots); a rollback
//! replaces the volume by a new writable snapshot of it. A template's base volume
//! `base-100-disk-0` is read-only and skipped at activation; linked clones are writable thin
//! snapshots of it (or of a snapshot LV) under the clone's own `vm-<vmid>-disk-N` name, which
//! does not record the base: LVM-thin lets a base go while clones of it live.

use std::collections::BTreeMap;
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

/// `VG/LV` of snapshot `snap` of a thin volume, for the LVM tools.
fn snapshot_target(store: Store<'_>, volid: &VolumeId, snap: &str) -> Result<String, StorageError> {
    parse_lv_name(&volid.name, true)?;
    Ok(format!(
        "{}/{}",
        store.option("vgname")?,
        snapshot_lv(&volid.name, snap)
    ))
}

/// The LV of snapshot `snap` of volume `volname` (pve-storage's name).
fn snapshot_lv(volname: &str, snap: &str) -> String {
    format!("snap_{volname}_{snap}")
}

/// A configuration id, as pct's snapshot names are: a letter, then letters, digits, `-`, `_`.
fn is_snapshot_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The snapshot LVs of volume `volname` among one group's LVs.
fn snapshot_lvs_of<'a>(lvs: &'a BTreeMap<String, LvInfo>, volname: &str) -> Vec<&'a str> {
    let prefix = format!("snap_{volname}_");
    lvs.keys()
        .filter_map(|lv| {
            lv.strip_prefix(&prefix)
                .filter(|snap| is_snapshot_name(snap))
                .map(|_| lv.as_str())
        })
        .collect()
}

/// `lvcreate` arguments for snapshot `snap` of `vg/volname`: read-only (`-pr`); LVM skips a
/// snapshot at activation unless asked with `-K`.
fn snapshot_args(vg: &str, volname: &str, snap: &str) -> Vec<String> {
    [
        "-n",
        &snapshot_lv(volname, snap),
        "-pr",
        "-s",
        &format!("{vg}/{volname}"),
    ]
    .map(str::to_string)
    .to_vec()
}

/// `lvcreate` arguments that make `volname` anew from its snapshot `snap`: writable and not
/// skipped at activation (`-kn`), the volume itself again.
fn rollback_args(vg: &str, volname: &str, snap: &str) -> Vec<String> {
    [
        "-kn",
        "-n",
        volname,
        "-s",
        &format!("{vg}/{}", snapshot_lv(volname, snap)),
    ]
    .map(str::to_string)
    .to_vec()
}

/// `lvcreate` arguments for the linked clone `new` of `source` (`vg/lv`): a writable thin
/// snapshot, activated like any volume.
fn clone_args(source: &str, new: &str) -> Vec<String> {
    ["-n", new, "-prw", "-kn", "-s", source]
        .map(str::to_string)
        .to_vec()
}

/// The base volume's name for `vm-…` (pve-storage renames only the `vm-` prefix).
fn base_name(volname: &str) -> String {
    match volname.strip_prefix("vm-") {
        Some(rest) => format!("base-{rest}"),
        None => volname.to_string(),
    }
}

fn run_args(tool: &str, args: &[String], errmsg: &str) -> Result<String, StorageError> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_lvm(tool, &args, errmsg)
}

/// As pve-storage: a thin volume made here is not activated by the system at boot. Only a
/// preference, so a failure does not undo the volume.
fn autoactivation_off(vg: &str, lv: &str) {
    let _ = run_lvm(
        "lvchange",
        &["--setautoactivation", "n", &format!("{vg}/{lv}")],
        "could not set autoactivation",
    );
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
            autoactivation_off(&vg, &name);
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
        for lv in snapshot_lvs_of(lvs, &volid.name) {
            let target = format!("{vg}/{lv}");
            run_lvm(
                "lvremove",
                &["-f", &target],
                &format!("lvremove snapshot '{target}' error"),
            )?;
        }
        if lvs.contains_key(&volid.name) {
            let target = format!("{vg}/{}", volid.name);
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

    fn snapshot(&self, store: Store<'_>, volid: &VolumeId, snap: &str) -> Result<(), StorageError> {
        parse_lv_name(&volid.name, true)?;
        let vg = store.option("vgname")?;
        let target = format!("{vg}/{}", snapshot_lv(&volid.name, snap));
        run_args(
            "lvcreate",
            &snapshot_args(vg, &volid.name, snap),
            &format!("lvcreate snapshot '{target}' error"),
        )
        .map(drop)
    }

    /// The LV swap: the volume removed, then made again as a writable snapshot of the
    /// snapshot LV, which stays (and so do the other snapshots).
    fn rollback(&self, store: Store<'_>, volid: &VolumeId, snap: &str) -> Result<(), StorageError> {
        parse_lv_name(&volid.name, true)?;
        let vg = store.option("vgname")?;
        let snapshot = snapshot_lv(&volid.name, snap);
        // Checked first: without the snapshot the volume must not go.
        if !list_lvs(Some(vg))?
            .get(vg)
            .is_some_and(|lvs| lvs.contains_key(&snapshot))
        {
            return Err(StorageError::Invalid(format!(
                "no such logical volume {vg}/{snapshot}"
            )));
        }
        let target = format!("{vg}/{}", volid.name);
        run_lvm(
            "lvremove",
            &["-f", &target],
            &format!("lvremove '{target}' error"),
        )?;
        run_args(
            "lvcreate",
            &rollback_args(vg, &volid.name, snap),
            &format!("lvm rollback '{vg}/{snapshot}' error"),
        )?;
        autoactivation_off(vg, &volid.name);
        Ok(())
    }

    fn delete_snapshot(
        &self,
        store: Store<'_>,
        volid: &VolumeId,
        snap: &str,
    ) -> Result<(), StorageError> {
        let target = snapshot_target(store, volid, snap)?;
        run_lvm(
            "lvremove",
            &["-f", &target],
            &format!("lvremove snapshot '{target}' error"),
        )
        .map(drop)
    }

    fn snapshot_source(
        &self,
        store: Store<'_>,
        volid: &VolumeId,
        snap: &str,
    ) -> Result<VolumeSource, StorageError> {
        parse_lv_name(&volid.name, true)?;
        Ok(VolumeSource::BlockDevice(lv_path(
            store,
            &snapshot_lv(&volid.name, snap),
        )?))
    }

    /// A snapshot LV is skipped at activation; `-K` activates it all the same.
    fn activate_snapshot(
        &self,
        store: Store<'_>,
        volid: &VolumeId,
        snap: &str,
    ) -> Result<(), StorageError> {
        parse_lv_name(&volid.name, true)?;
        let snapshot = snapshot_lv(&volid.name, snap);
        activate_lv(store.option("vgname")?, &snapshot)?;
        super::lvm::wait_for_device(&lv_path(store, &snapshot)?)
    }

    fn deactivate_snapshot(
        &self,
        store: Store<'_>,
        volid: &VolumeId,
        snap: &str,
    ) -> Result<(), StorageError> {
        let target = snapshot_target(store, volid, snap)?;
        run_lvm(
            "lvchange",
            &["-an", &target],
            &format!("deactivate_volume '{target}' error"),
        )
        .map(drop)
    }

    /// A writable thin snapshot of a base volume, or of snapshot `snap` of any volume, named
    /// as the next disk of `vmid`.
    fn clone_volume(
        &self,
        store: Store<'_>,
        volid: &VolumeId,
        snap: Option<&str>,
        vmid: u32,
    ) -> Result<VolumeId, StorageError> {
        let (_, is_base) = parse_lv_name(&volid.name, true)?;
        let vg = store.option("vgname")?;
        let source = match snap {
            Some(snap) => format!("{vg}/{}", snapshot_lv(&volid.name, snap)),
            None if is_base => format!("{vg}/{}", volid.name),
            None => {
                return Err(StorageError::Invalid(
                    "clone_image only works on base images".to_string(),
                ));
            }
        };
        let name = next_lv_name(&list_lvs(Some(vg))?, vg, vmid, store.id())?;
        run_args(
            "lvcreate",
            &clone_args(&source, &name),
            &format!("clone image '{source}' error"),
        )?;
        autoactivation_off(vg, &name);
        Ok(VolumeId {
            storage: store.id().to_string(),
            name,
        })
    }

    /// `vm-…` renamed `base-…`, made read-only, skipped at activation and deactivated;
    /// refused while the volume has snapshots, whose names would no longer match it.
    fn create_base(&self, store: Store<'_>, volid: &VolumeId) -> Result<VolumeId, StorageError> {
        let (_, is_base) = parse_lv_name(&volid.name, true)?;
        if is_base {
            return Err(StorageError::Invalid(
                "create_base not possible with base image".to_string(),
            ));
        }
        let vg = store.option("vgname")?;
        let lvs = list_lvs(Some(vg))?;
        if let Some(snapshot) = lvs.get(vg).and_then(|lvs| {
            snapshot_lvs_of(lvs, &volid.name)
                .first()
                .map(|s| s.to_string())
        }) {
            // pve-storage's words, misspelling included.
            return Err(StorageError::Invalid(format!(
                "unable to create base volume - found snaphost '{snapshot}'"
            )));
        }
        let new_name = base_name(&volid.name);
        run_lvm(
            "lvrename",
            &[vg, &volid.name, &new_name],
            &format!("lvrename '{vg}/{}' => '{vg}/{new_name}' error", volid.name),
        )?;
        let target = format!("{vg}/{new_name}");
        // As pve-storage, only wished for: the base is made already. LVM refuses to change
        // flags and activation in one call, so two.
        let _ = run_lvm("lvchange", &["-pr", "-ky", &target], "lvchange error");
        let _ = run_lvm("lvchange", &["-an", &target], "lvchange error");
        Ok(VolumeId {
            storage: store.id().to_string(),
            name: new_name,
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::lvm::{lv_volume_names, parse_lvs};

    /// `lvs` of a group with a thin pool, two volumes, snapshots of one and a template.
    const LVS: &str = "  vg:data:1073741824:twi-aotz--::12.50:1.00::u1::4194304:1\n\
        \x20 vg:vm-100-disk-0:536870912:Vwi-aotz--:data:5.00::::u2::::1\n\
        \x20 vg:vm-100-disk-1:134217728:Vwi-aotz--:data:1.00::::u3::::1\n\
        \x20 vg:snap_vm-100-disk-0_first:536870912:Vri---tz-k:data::::::u4::::1\n\
        \x20 vg:snap_vm-100-disk-0_second-2:536870912:Vri---tz-k:data::::::u5::::1\n\
        \x20 vg:snap_vm-100-disk-1_first:134217728:Vri---tz-k:data::::::u6::::1\n\
        \x20 vg:snap_vm-100-disk-1_x.old:134217728:-wi-a-----:::::::u9::::1\n\
        \x20 vg:base-101-disk-0:536870912:Vri---tz-k:data::::::u7::::1\n\
        \x20 vg:vm-102-disk-0:536870912:Vwi-a-tz--:data:1.00:::vm-101-disk-0:u8::::1\n";

    #[test]
    fn snapshot_lvs_are_found_by_volume_and_are_no_volumes() {
        let lvs = parse_lvs(LVS);
        let group = &lvs["vg"];
        assert_eq!(
            snapshot_lvs_of(group, "vm-100-disk-0"),
            ["snap_vm-100-disk-0_first", "snap_vm-100-disk-0_second-2"]
        );
        assert_eq!(
            snapshot_lvs_of(group, "vm-100-disk-1"),
            ["snap_vm-100-disk-1_first"]
        );
        assert!(snapshot_lvs_of(group, "vm-100-disk").is_empty());
        let thin = |info: &LvInfo| info.lv_type == 'V' && info.pool == "data";
        assert_eq!(
            lv_volume_names(group, 100, true, thin),
            ["vm-100-disk-0", "vm-100-disk-1"]
        );
        assert_eq!(lv_volume_names(group, 101, true, thin), ["base-101-disk-0"]);
        assert_eq!(lv_volume_names(group, 102, true, thin), ["vm-102-disk-0"]);
    }

    #[test]
    fn snapshot_rollback_and_clone_commands_are_pve_storages() {
        assert_eq!(snapshot_lv("vm-100-disk-0", "s1"), "snap_vm-100-disk-0_s1");
        assert_eq!(
            snapshot_args("pve", "vm-100-disk-0", "s1"),
            [
                "-n",
                "snap_vm-100-disk-0_s1",
                "-pr",
                "-s",
                "pve/vm-100-disk-0"
            ]
        );
        assert_eq!(
            rollback_args("pve", "vm-100-disk-0", "s1"),
            [
                "-kn",
                "-n",
                "vm-100-disk-0",
                "-s",
                "pve/snap_vm-100-disk-0_s1"
            ]
        );
        assert_eq!(
            clone_args("pve/base-100-disk-0", "vm-101-disk-0"),
            [
                "-n",
                "vm-101-disk-0",
                "-prw",
                "-kn",
                "-s",
                "pve/base-100-disk-0"
            ]
        );
        assert_eq!(base_name("vm-100-disk-0"), "base-100-disk-0");
    }

    #[test]
    fn snapshot_names_are_configuration_ids() {
        for good in ["a", "first", "before-upgrade_2", "X1"] {
            assert!(is_snapshot_name(good), "{good}");
        }
        for bad in ["", "1st", "-a", "a b", "a.b", "a/b"] {
            assert!(!is_snapshot_name(bad), "{bad}");
        }
    }
}
