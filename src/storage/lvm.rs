//! `lvm` storages: thick logical volumes `vm-<vmid>-disk-N` in the volume group `vgname`,
//! tagged `pve-vm-<vmid>`, made and removed with LVM's own tools as pve-storage runs them,
//! their reports read in the form pve-storage asks for (`--noheadings --unbuffered
//! --separator : --units b --nosuffix`). Container volumes are formatted ext4 as pct formats
//! raw volumes, and mounted straight from their block device. The tool helpers here serve
//! `lvmthin` storages too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::alloc::{CommitStep, free_disk_number, mkfs_ext4};
use super::plugin::{
    Feature, FeatureKey, FeatureRow, StoragePlugin, StorageStatus, Store, VolumeInfo,
};
use super::{PreparedVolume, StorageError, VolumeFormat, VolumeId};
use crate::mount::VolumeSource;
use crate::program::{self, RunError};

/// The plugin of `lvm` storages.
pub(crate) struct LvmPlugin;

/// pve-storage's `LVMPlugin.pm` feature table (no snapshots of raw volumes).
const LVM_FEATURES: &[FeatureRow] = &[
    (Feature::Copy, FeatureKey::Base, &["qcow2", "raw"]),
    (Feature::Copy, FeatureKey::Current, &["qcow2", "raw"]),
    (Feature::Copy, FeatureKey::Snap, &["qcow2"]),
    (Feature::Rename, FeatureKey::Current, &["qcow2", "raw"]),
    (Feature::Snapshot, FeatureKey::Current, &["qcow2"]),
    (Feature::Snapshot, FeatureKey::Snap, &["qcow2"]),
];

/// Run one of LVM's programs; a missing one is named with its package.
pub(crate) fn run_lvm(tool: &str, args: &[&str], errmsg: &str) -> Result<String, StorageError> {
    program::stdout_of(
        Command::new(program::find(tool))
            .args(args)
            // Without udev (containers, small VMs) LVM would wait for it forever.
            .env("DM_DISABLE_UDEV", "1")
            .env("LVM_SUPPRESS_FD_WARNINGS", "1"),
    )
    .map_err(|e| match e {
        RunError::Missing => {
            StorageError::Invalid(format!("{tool} not found - install the package 'lvm2'"))
        }
        RunError::Spawn(e) => StorageError::Command {
            command: format!("{tool} {}", args.join(" ")),
            detail: e.to_string(),
        },
        RunError::Failed(said) => StorageError::Invalid(format!("{errmsg}: {said}")),
    })
}

/// What `lvs` says of one logical volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LvInfo {
    /// Size in bytes.
    pub size: u64,
    /// The first `lv_attr` letter: `-` plain, `t` thin pool, `V` thin volume, ...
    pub lv_type: char,
    /// The fifth `lv_attr` letter: `a` when active.
    pub state: char,
    /// The thin pool a thin volume is in.
    pub pool: String,
    /// Its tags, comma separated.
    pub tags: String,
    /// For a thin pool: the bytes of data in use.
    pub used: u64,
}

/// pve-storage's `lvm_list_volumes`: every LV, by volume group and name.
pub(crate) fn list_lvs(
    vg: Option<&str>,
) -> Result<BTreeMap<String, BTreeMap<String, LvInfo>>, StorageError> {
    let mut args = vec![
        "--separator",
        ":",
        "--noheadings",
        "--units",
        "b",
        "--unbuffered",
        "--nosuffix",
        "--config",
        "report/time_format=\"%s\"",
        "--options",
        "vg_name,lv_name,lv_size,lv_attr,pool_lv,data_percent,metadata_percent,snap_percent,uuid,tags,metadata_size,time",
    ];
    args.extend(vg);
    let output = run_lvm("lvs", &args, "unable to list logical volumes")?;
    Ok(parse_lvs(&output))
}

pub(crate) fn parse_lvs(output: &str) -> BTreeMap<String, BTreeMap<String, LvInfo>> {
    let mut lvs: BTreeMap<String, BTreeMap<String, LvInfo>> = BTreeMap::new();
    for line in output.lines() {
        let fields: Vec<&str> = line.trim().split(':').collect();
        let field = |i: usize| fields.get(i).copied().unwrap_or("");
        let (vg, name, attr) = (field(0), field(1), field(3));
        if vg.is_empty() || name.is_empty() {
            continue;
        }
        let size = field(2).parse::<u64>().unwrap_or(0);
        let lv_type = attr.chars().next().unwrap_or('-');
        let data_percent = field(5).parse::<f64>().unwrap_or(0.0);
        let used = if lv_type == 't' {
            (data_percent * size as f64 / 100.0) as u64
        } else {
            0
        };
        lvs.entry(vg.to_string()).or_default().insert(
            name.to_string(),
            LvInfo {
                size,
                lv_type,
                state: attr.chars().nth(4).unwrap_or('-'),
                pool: field(4).to_string(),
                tags: field(9).to_string(),
                used,
            },
        );
    }
    lvs
}

/// pve-storage's `lvm_vgs`: (size, free) in bytes of every volume group.
pub(crate) fn list_vgs() -> Result<BTreeMap<String, (u64, u64)>, StorageError> {
    let output = run_lvm(
        "vgs",
        &[
            "--separator",
            ":",
            "--noheadings",
            "--units",
            "b",
            "--unbuffered",
            "--nosuffix",
            "--options",
            "vg_name,vg_size,vg_free,lv_count",
        ],
        "unable to list volume groups",
    )?;
    Ok(output
        .lines()
        .filter_map(|line| {
            let mut fields = line.trim().split(':');
            let name = fields.next().filter(|n| !n.is_empty())?;
            let size = fields.next()?.parse().ok()?;
            let free = fields.next()?.parse().ok()?;
            Some((name.to_string(), (size, free)))
        })
        .collect())
}

/// The volume group of an LVM storage, which must exist (`no such volume group 'vg'`).
pub(crate) fn existing_vg(store: Store<'_>) -> Result<(String, u64, u64), StorageError> {
    let vg = store.option("vgname")?.to_string();
    match list_vgs()?.get(&vg) {
        Some(&(size, free)) => Ok((vg, size, free)),
        None => Err(StorageError::Invalid(format!(
            "no such volume group '{vg}'"
        ))),
    }
}

/// An LVM volume name (`^(vm|base)-(\d+)-\S+$`, `base-` only where `bases` allows it),
/// checked as pve-storage's `parse_lvm_name` checks it: (owner, is_base).
pub(crate) fn parse_lv_name(name: &str, bases: bool) -> Result<(u32, bool), StorageError> {
    let bad = || StorageError::Invalid(format!("unable to parse lvm volume name '{name}'"));
    let inner = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    let bytes = name.as_bytes();
    let valid = bytes.len() >= 2
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes.iter().all(|&b| inner(b));
    if !valid {
        return Err(StorageError::Invalid(format!(
            "lvm name '{name}' contains illegal characters"
        )));
    }
    let (prefix, rest) = name.split_once('-').ok_or_else(bad)?;
    let is_base = match prefix {
        "vm" => false,
        "base" if bases => true,
        _ => return Err(bad()),
    };
    let (vmid, tail) = rest.split_once('-').ok_or_else(bad)?;
    if vmid.is_empty() || !vmid.bytes().all(|b| b.is_ascii_digit()) || tail.is_empty() {
        return Err(bad());
    }
    Ok((vmid.parse().map_err(|_| bad())?, is_base))
}

/// `/dev/<vg>/<name>`.
pub(crate) fn lv_path(store: Store<'_>, name: &str) -> Result<PathBuf, StorageError> {
    Ok(Path::new("/dev").join(store.option("vgname")?).join(name))
}

/// The next free `vm-<vmid>-disk-N` among the LVs of `vg` (every LV counts, as in PVE).
pub(crate) fn next_lv_name(
    lvs: &BTreeMap<String, BTreeMap<String, LvInfo>>,
    vg: &str,
    vmid: u32,
    storage: &str,
) -> Result<String, StorageError> {
    let names = lvs
        .get(vg)
        .into_iter()
        .flat_map(|lvs| lvs.keys().map(String::as_str));
    let number = free_disk_number(names, vmid, storage)?;
    Ok(format!("vm-{vmid}-disk-{number}"))
}

/// Format a new LV as pct formats raw volumes, and arrange for it to be removed again
/// unless the allocation is committed.
pub(crate) fn prepare_lv(
    store: Store<'_>,
    name: String,
    root_owner: (u32, u32),
    create: impl FnOnce() -> Result<(), StorageError>,
) -> Result<PreparedVolume, StorageError> {
    let vg = store.option("vgname")?.to_string();
    let volid = VolumeId {
        storage: store.id().to_string(),
        name: name.clone(),
    };
    let path = lv_path(store, &name)?;
    let mut prepared = PreparedVolume::new(volid, None);
    create()?;
    let target = format!("{vg}/{name}");
    prepared.set_step(CommitStep::InPlace {
        undo: Box::new(move || {
            let _ = run_lvm("lvremove", &["-f", &target], "lvremove error");
        }),
    });
    wait_for_device(&path)?;
    mkfs_ext4(&path, &path, root_owner)?;
    Ok(prepared)
}

/// Without udev, LVM makes the `/dev/<vg>/<lv>` link itself; give it a moment to appear.
pub(crate) fn wait_for_device(path: &Path) -> Result<(), StorageError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !path.exists() {
        if std::time::Instant::now() >= deadline {
            return Err(StorageError::Invalid(format!(
                "device '{}' did not appear",
                path.display()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(())
}

/// The size of an LV in bytes (pve-storage's `volume_size_info` for raw LVs).
pub(crate) fn lv_size(path: &Path) -> Result<u64, StorageError> {
    let shown = path.display().to_string();
    let output = run_lvm(
        "lvs",
        &[
            "--separator",
            ":",
            "--noheadings",
            "--units",
            "b",
            "--unbuffered",
            "--nosuffix",
            "--options",
            "lv_size",
            &shown,
        ],
        &format!("can't get size of '{shown}'"),
    )?;
    output
        .trim()
        .parse()
        .map_err(|_| StorageError::Invalid(format!("can't get size of '{shown}'")))
}

/// Grow an LV to `new_size` bytes (whole KiB, rounded up).
pub(crate) fn lv_extend(path: &Path, new_size: u64) -> Result<(), StorageError> {
    let shown = path.display().to_string();
    let size = format!("{}k", new_size.div_ceil(1024));
    run_lvm(
        "lvextend",
        &["-L", &size, &shown],
        &format!("error resizing volume '{shown}'"),
    )
    .map(drop)
}

/// Rename an LV in `vg` (`target volume 'x' already exists` when taken).
pub(crate) fn lv_rename(
    store: Store<'_>,
    volid: &VolumeId,
    target_vmid: u32,
    target_name: Option<&str>,
    bases: bool,
) -> Result<VolumeId, StorageError> {
    let vg = store.option("vgname")?;
    let lvs = list_lvs(Some(vg))?;
    let target = match target_name {
        Some(name) => name.to_string(),
        None => next_lv_name(&lvs, vg, target_vmid, store.id())?,
    };
    parse_lv_name(&target, bases)?;
    if lvs.get(vg).is_some_and(|lvs| lvs.contains_key(&target)) {
        return Err(StorageError::Invalid(format!(
            "target volume '{target}' already exists"
        )));
    }
    run_lvm(
        "lvrename",
        &[vg, &volid.name, &target],
        &format!("lvrename '{vg}/{}' to '{target}' error", volid.name),
    )?;
    Ok(VolumeId {
        storage: store.id().to_string(),
        name: target,
    })
}

/// The container volumes of `vmid` among `lvs` that `keep` accepts, in disk order.
pub(crate) fn list_lv_volumes(
    store: Store<'_>,
    vmid: u32,
    bases: bool,
    keep: impl Fn(&LvInfo) -> bool,
) -> Result<Vec<(VolumeId, VolumeFormat)>, StorageError> {
    let vg = store.option("vgname")?;
    let lvs = list_lvs(Some(vg))?;
    let empty = BTreeMap::new();
    let names = lv_volume_names(lvs.get(vg).unwrap_or(&empty), vmid, bases, keep);
    Ok(names
        .into_iter()
        .map(|name| {
            (
                VolumeId {
                    storage: store.id().to_string(),
                    name,
                },
                VolumeFormat::Raw,
            )
        })
        .collect())
}

/// The names of `vmid`'s container volumes among one group's `lvs` that `keep` accepts, in
/// disk order; other LVs (thin pools, snapshots `snap_…`, foreign names) are no volumes.
pub(crate) fn lv_volume_names(
    lvs: &BTreeMap<String, LvInfo>,
    vmid: u32,
    bases: bool,
    keep: impl Fn(&LvInfo) -> bool,
) -> Vec<String> {
    let mut found: Vec<(u32, String)> = lvs
        .iter()
        .filter(|(name, info)| {
            parse_lv_name(name, bases).is_ok_and(|(owner, _)| owner == vmid) && keep(info)
        })
        .map(|(name, _)| {
            (
                super::alloc::disk_number(name, vmid).unwrap_or(u32::MAX),
                name.clone(),
            )
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, name)| name).collect()
}

/// Write zeroes over an LV before it is removed (`saferemove`): `blkdiscard --zeroout`
/// where the device can write zeroes, plain writes otherwise.
fn zero_out(path: &Path) -> Result<(), StorageError> {
    let shown = path.display().to_string();
    let discard = Command::new(program::find("blkdiscard"))
        .args(["--zeroout", &shown])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if discard.is_ok_and(|status| status.success()) {
        return Ok(());
    }
    use std::io::Write;
    let mut device = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(super::alloc::io_error(format!("unable to open '{shown}'")))?;
    let zeroes = vec![0u8; 1 << 20];
    loop {
        match device.write(&zeroes) {
            Ok(0) => break,
            Ok(_) => {}
            // The end of the device: what pve-storage calls "ok here".
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => return Err(super::alloc::io_error(format!("zero out '{shown}'"))(e)),
        }
    }
    device
        .sync_all()
        .map_err(super::alloc::io_error(format!("zero out '{shown}'")))
}

impl StoragePlugin for LvmPlugin {
    fn activate_storage(&self, store: Store<'_>) -> Result<(), StorageError> {
        let vg = store.option("vgname")?;
        if !list_vgs()?.contains_key(vg) {
            // LVM scans by itself; this is only to be sure, as in PVE.
            let _ = run_lvm(
                "vgscan",
                &["--ignorelockingfailure", "--mknodes"],
                "vgscan error",
            );
        }
        Ok(())
    }

    fn parse_volume(
        &self,
        _store: Store<'_>,
        volid: &VolumeId,
    ) -> Result<VolumeInfo, StorageError> {
        let (owner, is_base) = parse_lv_name(&volid.name, false)?;
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
            return Err(no_directories(store));
        }
        let (vg, _, free) = existing_vg(store)?;
        if free < size_bytes {
            return Err(StorageError::Invalid(format!(
                "not enough free space ({free} < {size_bytes})"
            )));
        }
        let lvs = list_lvs(Some(&vg))?;
        let name = next_lv_name(&lvs, &vg, vmid, store.id())?;
        let size = format!("{}k", size_bytes.div_ceil(1024));
        let tag = format!("pve-vm-{vmid}");
        prepare_lv(store, name.clone(), root_owner, || {
            run_lvm(
                "lvcreate",
                &[
                    "-aly",
                    "-Wy",
                    "--yes",
                    "--size",
                    &size,
                    "--name",
                    &name,
                    "--setautoactivation",
                    "n",
                    "--addtag",
                    &tag,
                    &vg,
                ],
                &format!("lvcreate '{vg}/{name}' error"),
            )
            .map(drop)
        })
    }

    fn free(&self, store: Store<'_>, volid: &VolumeId) -> Result<(), StorageError> {
        let vg = store.option("vgname")?;
        let name = volid.name.as_str();
        let exists = list_lvs(Some(vg))?
            .get(vg)
            .is_some_and(|lvs| lvs.contains_key(name));
        if !exists {
            return Ok(());
        }
        if store.def.flag("saferemove", false) {
            // Renamed first, so that an interrupted wipe leaves no volume of the container.
            let deleted = format!("del-{name}");
            run_lvm(
                "lvrename",
                &[vg, name, &deleted],
                &format!("lvrename '{vg}/{name}' error"),
            )?;
            let path = lv_path(store, &deleted)?;
            let shown = path.display().to_string();
            run_lvm(
                "lvchange",
                &["-aly", &shown],
                &format!("can't activate LV '{shown}' to zero-out its data"),
            )?;
            wait_for_device(&path)?;
            zero_out(&path)?;
            run_lvm(
                "lvremove",
                &["-f", &format!("{vg}/{deleted}")],
                &format!("lvremove '{vg}/{deleted}' error"),
            )?;
            return Ok(());
        }
        run_lvm(
            "lvremove",
            &["-f", &format!("{vg}/{name}")],
            &format!("lvremove '{vg}/{name}' error"),
        )
        .map(drop)
    }

    fn path(&self, store: Store<'_>, volid: &VolumeId) -> Result<PathBuf, StorageError> {
        parse_lv_name(&volid.name, false)?;
        lv_path(store, &volid.name)
    }

    fn source(&self, store: Store<'_>, volid: &VolumeId) -> Result<VolumeSource, StorageError> {
        Ok(VolumeSource::BlockDevice(self.path(store, volid)?))
    }

    fn activate_volume(&self, store: Store<'_>, volid: &VolumeId) -> Result<(), StorageError> {
        let path = self.path(store, volid)?.display().to_string();
        run_lvm(
            "lvchange",
            &["-aey", &path],
            &format!("can't activate LV '{path}'"),
        )?;
        run_lvm(
            "lvchange",
            &["--refresh", &path],
            &format!("can't refresh LV '{path}' for activation"),
        )?;
        wait_for_device(Path::new(&path))
    }

    fn deactivate_volume(&self, store: Store<'_>, volid: &VolumeId) -> Result<(), StorageError> {
        let path = self.path(store, volid)?;
        if !path.exists() {
            return Ok(());
        }
        let shown = path.display().to_string();
        run_lvm(
            "lvchange",
            &["-aln", &shown],
            &format!("can't deactivate LV '{shown}'"),
        )
        .map(drop)
    }

    fn list(
        &self,
        store: Store<'_>,
        vmid: u32,
    ) -> Result<Vec<(VolumeId, VolumeFormat)>, StorageError> {
        let tagged_only = store.def.flag("tagged_only", false);
        list_lv_volumes(store, vmid, false, |info| {
            // Plain, mirrored and RAID LVs; with tagged_only, only those PVE tagged.
            matches!(info.lv_type, '-' | 'm' | 'M' | 'r' | 'R')
                && (!tagged_only
                    || info.tags.split(',').any(|tag| {
                        tag.strip_prefix("pve-vm-").is_some_and(|id| {
                            !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
                        })
                    }))
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
        let renamed = lv_rename(store, volid, target_vmid, target_name, false)?;
        // The tag names the owner; it follows the volume.
        let vg = store.option("vgname")?;
        let owner = parse_lv_name(&volid.name, false)?.0;
        let target = format!("{vg}/{}", renamed.name);
        run_lvm(
            "lvchange",
            &[
                "--deltag",
                &format!("pve-vm-{owner}"),
                "--addtag",
                &format!("pve-vm-{target_vmid}"),
                &target,
            ],
            &format!("unable to retag '{target}'"),
        )?;
        Ok(renamed)
    }

    fn status(&self, store: Store<'_>) -> Result<Option<StorageStatus>, StorageError> {
        let vg = store.option("vgname")?;
        Ok(list_vgs()?.get(vg).map(|&(size, free)| StorageStatus {
            total: size,
            available: free,
            used: size - free.min(size),
            active: true,
        }))
    }

    fn features(&self) -> &'static [FeatureRow] {
        LVM_FEATURES
    }
}

/// `STORAGE:0` asks for a directory volume, which an LVM storage (thick or thin) cannot hold.
pub(super) fn no_directories(store: Store<'_>) -> StorageError {
    StorageError::Invalid(format!(
        "unsupported format 'subvol' on storage '{}'",
        store.id()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lvs_report_lines() {
        let text = "  pve:data:10737418240:twi-aotz--::12.50:1.20:::::1700000000\n\
                    \x20 pve:vm-100-disk-0:1073741824:Vwi-a-tz--:data:5.00::::pve-vm-100::1700000001\n\
                    \x20 other:root:2147483648:-wi-ao----::::::::1700000002\n\n";
        let lvs = parse_lvs(text);
        let pool = &lvs["pve"]["data"];
        assert_eq!(
            (pool.lv_type, pool.state, pool.size),
            ('t', 'a', 10737418240)
        );
        assert_eq!(pool.used, 1342177280);
        let thin = &lvs["pve"]["vm-100-disk-0"];
        assert_eq!((thin.lv_type, thin.pool.as_str()), ('V', "data"));
        assert_eq!(thin.tags, "pve-vm-100");
        assert_eq!(lvs["other"]["root"].lv_type, '-');
    }

    #[test]
    fn lv_names_as_pve_parses_them() {
        assert_eq!(parse_lv_name("vm-100-disk-0", false).unwrap(), (100, false));
        assert_eq!(parse_lv_name("base-7-disk-1", true).unwrap(), (7, true));
        let err = |name: &str, bases| parse_lv_name(name, bases).unwrap_err().to_string();
        assert_eq!(
            err("base-7-disk-1", false),
            "unable to parse lvm volume name 'base-7-disk-1'"
        );
        assert_eq!(
            err("100/vm-100-disk-0.raw", true),
            "lvm name '100/vm-100-disk-0.raw' contains illegal characters"
        );
        assert_eq!(
            err("vm-x-disk", true),
            "unable to parse lvm volume name 'vm-x-disk'"
        );
        assert_eq!(err("root", true), "unable to parse lvm volume name 'root'");
    }

    #[test]
    fn next_names_skip_every_lv_of_the_group() {
        let lvs = parse_lvs(
            "vg:vm-100-disk-0:1:-wi-------::::::::\nvg:del-vm-100-disk-1:1:-wi-------::::::::\n",
        );
        assert_eq!(
            next_lv_name(&lvs, "vg", 100, "s1").unwrap(),
            "vm-100-disk-2"
        );
        assert_eq!(
            next_lv_name(&lvs, "vg", 101, "s1").unwrap(),
            "vm-101-disk-0"
        );
        assert_eq!(
            next_lv_name(&lvs, "none", 100, "s1").unwrap(),
            "vm-100-disk-0"
        );
    }
}
