//! `zfspool` storages: container volumes are ZFS file systems `<pool>/subvol-<vmid>-disk-N`
//! with `refquota` = their size (none for size 0), POSIX ACLs and xattrs in the dnode, as
//! pve-storage's ZFSPoolPlugin makes them; VM disks (`vm-…`) are zvols. Everything goes
//! through the `zfs`/`zpool` tools with the parseable output pve-storage asks for (`-Hp`).
//! A volume's directory is `<mountpoint>/<name>`, `mountpoint` defaulting to `/<pool>` and
//! taken under the host root like every storage path.
//!
//! A template's volume is renamed `basevol-…` (`base-…` for a zvol) and gets the snapshot
//! `@__base__`; a linked clone is a `zfs clone` of that snapshot, and its volume id names the
//! base: `basevol-100-disk-0/subvol-101-disk-0`. A snapshot `S` of a file system is read in
//! its directory `<dataset's directory>/.zfs/snapshot/S`, which ZFS mounts on first use.

use std::path::PathBuf;
use std::process::Command;

use super::alloc::{CommitStep, chown_dir, free_disk_number};
use super::plugin::{
    Feature, FeatureKey, FeatureRow, StoragePlugin, StorageStatus, Store, VolumeInfo,
};
use super::{PreparedVolume, StorageError, VolumeFormat, VolumeId};
use crate::mount::VolumeSource;
use crate::program::{self, RunError};

/// The plugin of `zfspool` storages.
pub(crate) struct ZfsPoolPlugin;

/// pve-storage's `ZFSPoolPlugin.pm` feature table (any format).
const ZFSPOOL_FEATURES: &[FeatureRow] = &[
    (Feature::Snapshot, FeatureKey::Current, &[]),
    (Feature::Snapshot, FeatureKey::Snap, &[]),
    (Feature::Clone, FeatureKey::Base, &[]),
    (Feature::Template, FeatureKey::Current, &[]),
    (Feature::Copy, FeatureKey::Base, &[]),
    (Feature::Copy, FeatureKey::Current, &[]),
    (Feature::SparseInit, FeatureKey::Base, &[]),
    (Feature::SparseInit, FeatureKey::Current, &[]),
    (Feature::Rename, FeatureKey::Current, &[]),
];

/// How often `zfs destroy` is tried while the dataset is busy (a mount just released).
const DESTROY_TRIES: u32 = 6;

/// Run `zfs` or `zpool`; a missing tool is named with its package, a failure is pve-storage's
/// `zfs error: <what the tool said>`.
fn run_zfs(tool: &str, args: &[&str]) -> Result<String, StorageError> {
    program::stdout_of(Command::new(program::find(tool)).args(args)).map_err(|e| match e {
        RunError::Missing => StorageError::Invalid(format!(
            "{tool} not found - install the package 'zfsutils-linux'"
        )),
        RunError::Spawn(e) => StorageError::Command {
            command: format!("{tool} {}", args.join(" ")),
            detail: e.to_string(),
        },
        RunError::Failed(said) => StorageError::Invalid(format!("zfs error: {said}")),
    })
}

/// A zfspool volume name: `[<base>/]<kind>-<vmid>-<rest>` (pve-storage's `parse_volname`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ZfsName<'a> {
    /// The dataset below the pool: the name's last part.
    dataset: &'a str,
    owner: u32,
    /// `subvol`/`basevol` are file systems, `vm`/`base` zvols.
    subvol: bool,
    is_base: bool,
}

fn parse_name(name: &str) -> Result<ZfsName<'_>, StorageError> {
    let bad = || StorageError::Invalid(format!("unable to parse zfs volume name '{name}'"));
    let (base, dataset) = match name.split_once('/') {
        Some((base, dataset)) => (Some(base), dataset),
        None => (None, name),
    };
    if let Some(base) = base {
        let (kind, _, _) = split_kind(base).ok_or_else(bad)?;
        if !matches!(kind, "base" | "basevol") {
            return Err(bad());
        }
    }
    let (kind, owner, _) = split_kind(dataset).ok_or_else(bad)?;
    Ok(ZfsName {
        dataset,
        owner,
        subvol: matches!(kind, "subvol" | "basevol"),
        is_base: matches!(kind, "base" | "basevol"),
    })
}

/// `<kind>-<vmid>-<rest>` with a known kind and a non-empty rest without blanks or slashes.
fn split_kind(name: &str) -> Option<(&str, u32, &str)> {
    let (kind, rest) = name.split_once('-')?;
    if !matches!(kind, "vm" | "base" | "subvol" | "basevol") {
        return None;
    }
    let (vmid, rest) = rest.split_once('-')?;
    let valid_rest = !rest.is_empty() && !rest.contains(|c: char| c.is_whitespace() || c == '/');
    if vmid.is_empty() || !vmid.bytes().all(|b| b.is_ascii_digit()) || !valid_rest {
        return None;
    }
    Some((kind, vmid.parse().ok()?, rest))
}

/// One line of `zfs list -Hp -o name,volsize,origin,type,refquota`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    name: String,
    owner: u32,
    subvol: bool,
    /// refquota of a file system (0: none), volsize of a zvol.
    size: u64,
    /// The origin below the pool (`basevol-100-disk-0@__base__`), if a clone.
    origin: Option<String>,
}

/// The volumes directly below `pool` in `zfs list` output (pve-storage's
/// `zfs_parse_zvol_list`): other pools' datasets, the pool itself and foreign names are
/// skipped.
fn parse_list(text: &str, pool: &str) -> Vec<Listed> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let [dataset, volsize, origin, kind, refquota] = fields[..] else {
                return None;
            };
            let subvol = match kind {
                "filesystem" => true,
                "volume" => false,
                _ => return None,
            };
            let (parent, name) = dataset.rsplit_once('/')?;
            if parent != pool {
                return None;
            }
            let (_, owner, _) = split_kind(name)?;
            let size = if subvol { refquota } else { volsize };
            Some(Listed {
                name: name.to_string(),
                owner,
                subvol,
                size: size.parse().unwrap_or(0),
                origin: (origin != "-")
                    .then(|| origin.strip_prefix(&format!("{pool}/")).unwrap_or(origin))
                    .map(str::to_string),
            })
        })
        .collect()
}

/// The pool (or dataset) of the storage; the parser requires it.
fn pool<'a>(store: Store<'a>) -> Result<&'a str, StorageError> {
    let def: &'a super::StorageDef = store.def;
    def.options.get("pool").map(String::as_str).ok_or_else(|| {
        StorageError::Invalid(format!(
            "storage '{}': missing value for required option 'pool'",
            def.id
        ))
    })
}

fn list_pool(store: Store<'_>) -> Result<Vec<Listed>, StorageError> {
    let pool = pool(store)?;
    let text = run_zfs(
        "zfs",
        &[
            "list",
            "-o",
            "name,volsize,origin,type,refquota",
            "-t",
            "volume,filesystem",
            "-d1",
            "-Hp",
            pool,
        ],
    )?;
    Ok(parse_list(&text, pool))
}

/// One property of a dataset, `-Hp` (raw numbers).
fn property(dataset: &str, name: &str) -> Result<String, StorageError> {
    Ok(
        run_zfs("zfs", &["get", "-o", "value", "-Hp", name, dataset])?
            .trim()
            .to_string(),
    )
}

fn exists(dataset: &str) -> bool {
    run_zfs("zfs", &["get", "-H", "name", dataset]).is_ok()
}

/// `<mountpoint>/<dataset>` under the host root, or the zvol's device.
fn volume_path(store: Store<'_>, name: &ZfsName<'_>) -> Result<PathBuf, StorageError> {
    let pool = pool(store)?;
    if !name.subvol {
        return Ok(PathBuf::from(format!("/dev/zvol/{pool}/{}", name.dataset)));
    }
    let mountpoint = match store.def.options.get("mountpoint") {
        Some(mountpoint) => mountpoint.clone(),
        None => format!("/{pool}"),
    };
    Ok(store
        .cfg
        .root
        .join(mountpoint.trim_start_matches('/'))
        .join(name.dataset))
}

/// Destroy a dataset and its snapshots; busy datasets are retried, missing ones are fine.
fn destroy(dataset: &str) -> Result<(), StorageError> {
    let mut tries = 0;
    loop {
        match run_zfs("zfs", &["destroy", "-r", dataset]) {
            Ok(_) => return Ok(()),
            Err(e) if e.to_string().contains("dataset does not exist") => return Ok(()),
            Err(e) if e.to_string().contains("dataset is busy") && tries + 1 < DESTROY_TRIES => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether `dataset` or one of its children is mounted (pve-storage's heuristic that the
/// pool is imported and `zfs mount -a` ran).
fn dataset_mounted(dataset: &str) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts.lines().any(|line| {
        let mut fields = line.split(' ');
        let (Some(source), Some(_), Some(fstype)) = (fields.next(), fields.next(), fields.next())
        else {
            return false;
        };
        fstype == "zfs"
            && source
                .strip_prefix(dataset)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

impl StoragePlugin for ZfsPoolPlugin {
    fn activate_storage(&self, store: Store<'_>) -> Result<(), StorageError> {
        let dataset = pool(store)?;
        if dataset_mounted(dataset) {
            return Ok(());
        }
        let pool_name = dataset.split('/').next().unwrap_or(dataset);
        let could_not = |e: StorageError| {
            StorageError::Invalid(format!("could not activate storage '{}', {e}", store.id()))
        };
        let imported = || {
            run_zfs("zpool", &["list", "-o", "name", "-H", pool_name])
                .is_ok_and(|out| out.lines().any(|line| line.trim() == pool_name))
        };
        if !imported()
            && let Err(e) = run_zfs(
                "zpool",
                &[
                    "import",
                    "-d",
                    "/dev/disk/by-id/",
                    "-o",
                    "cachefile=none",
                    pool_name,
                ],
            )
            && !imported()
        {
            return Err(could_not(e));
        }
        run_zfs("zfs", &["mount", "-a"]).map_err(could_not)?;
        Ok(())
    }

    fn parse_volume(
        &self,
        _store: Store<'_>,
        volid: &VolumeId,
    ) -> Result<VolumeInfo, StorageError> {
        let name = parse_name(&volid.name)?;
        Ok(VolumeInfo {
            owner: name.owner,
            format: if name.subvol { "subvol" } else { "raw" }.to_string(),
            is_base: name.is_base,
        })
    }

    /// A file system with a quota of `size_bytes` (none for 0): pct puts container volumes on
    /// zfspool storages as subvols whatever their size.
    fn allocate(
        &self,
        store: Store<'_>,
        vmid: u32,
        size_bytes: u64,
        root_owner: (u32, u32),
    ) -> Result<PreparedVolume, StorageError> {
        let pool = pool(store)?.to_string();
        let listed = list_pool(store)?;
        let number = free_disk_number(listed.iter().map(|v| v.name.as_str()), vmid, store.id())?;
        let name = format!("subvol-{vmid}-disk-{number}");
        let dataset = format!("{pool}/{name}");
        let quota = if size_bytes == 0 {
            "refquota=none".to_string()
        } else {
            format!("refquota={}k", size_bytes.div_ceil(1024))
        };
        let path = volume_path(store, &parse_name(&name)?)?;
        let mut prepared = PreparedVolume::new(
            VolumeId {
                storage: store.id().to_string(),
                name,
            },
            None,
        );
        run_zfs(
            "zfs",
            &[
                "create",
                "-o",
                "acltype=posixacl",
                "-o",
                "xattr=sa",
                "-o",
                &quota,
                &dataset,
            ],
        )?;
        let undo_dataset = dataset.clone();
        prepared.set_step(CommitStep::InPlace {
            undo: Box::new(move || {
                let _ = destroy(&undo_dataset);
            }),
        });
        if property(&dataset, "mounted")? != "yes" {
            run_zfs("zfs", &["mount", &dataset])?;
        }
        chown_dir(&path, root_owner)?;
        Ok(prepared)
    }

    /// The dataset with its snapshots; a template's volume only once no linked clone is
    /// made from it (pve-storage refuses before ZFS would).
    fn free(&self, store: Store<'_>, volid: &VolumeId) -> Result<(), StorageError> {
        let name = parse_name(&volid.name)?;
        if name.is_base && !clones_of(&list_pool(store)?, name.dataset).is_empty() {
            return Err(StorageError::Invalid(format!(
                "base volume '{}' is still in use by linked clones",
                volid.name
            )));
        }
        destroy(&format!("{}/{}", pool(store)?, name.dataset))
    }

    fn path(&self, store: Store<'_>, volid: &VolumeId) -> Result<PathBuf, StorageError> {
        volume_path(store, &parse_name(&volid.name)?)
    }

    fn source(&self, store: Store<'_>, volid: &VolumeId) -> Result<VolumeSource, StorageError> {
        let name = parse_name(&volid.name)?;
        let path = volume_path(store, &name)?;
        Ok(if name.subvol {
            VolumeSource::Directory(path)
        } else {
            VolumeSource::BlockDevice(path)
        })
    }

    /// A file system is mounted if it is not (after a reboot without `zfs mount -a`).
    fn activate_volume(&self, store: Store<'_>, volid: &VolumeId) -> Result<(), StorageError> {
        let name = parse_name(&volid.name)?;
        if !name.subvol {
            return Ok(());
        }
        let dataset = format!("{}/{}", pool(store)?, name.dataset);
        if property(&dataset, "mounted")? != "yes" {
            run_zfs("zfs", &["mount", &dataset])?;
        }
        Ok(())
    }

    fn list(
        &self,
        store: Store<'_>,
        vmid: u32,
    ) -> Result<Vec<(VolumeId, VolumeFormat)>, StorageError> {
        let mut found: Vec<(VolumeId, VolumeFormat)> = list_pool(store)?
            .into_iter()
            .filter(|listed| listed.owner == vmid)
            .map(|listed| {
                // A linked clone is named after its base: `<base>/<name>`.
                let name = match listed
                    .origin
                    .as_deref()
                    .and_then(|origin| origin.strip_suffix("@__base__"))
                {
                    Some(base) => format!("{base}/{}", listed.name),
                    None => listed.name,
                };
                let format = if listed.subvol {
                    VolumeFormat::Subvol
                } else {
                    VolumeFormat::Raw
                };
                let volid = VolumeId {
                    storage: store.id().to_string(),
                    name,
                };
                (volid, format)
            })
            .collect();
        found.sort_by_key(|(volid, _)| disk_order(&volid.name));
        Ok(found)
    }

    fn size(&self, store: Store<'_>, volid: &VolumeId) -> Result<u64, StorageError> {
        let name = parse_name(&volid.name)?;
        let attribute = if name.subvol { "refquota" } else { "volsize" };
        let value = property(&format!("{}/{}", pool(store)?, name.dataset), attribute)?;
        match value.as_str() {
            "none" | "-" => Ok(0),
            value => value
                .parse()
                .map_err(|_| StorageError::Invalid("Could not get zfs volume size".to_string())),
        }
    }

    /// A new quota for a file system; a zvol's size rounded up to whole MiB, as pve-storage
    /// keeps it a multiple of any block size.
    fn resize(
        &self,
        store: Store<'_>,
        volid: &VolumeId,
        new_size: u64,
    ) -> Result<(), StorageError> {
        let name = parse_name(&volid.name)?;
        let kib = new_size / 1024;
        let setting = if name.subvol {
            format!("refquota={kib}k")
        } else {
            format!("volsize={}k", kib.div_ceil(1024) * 1024)
        };
        let dataset = format!("{}/{}", pool(store)?, name.dataset);
        run_zfs("zfs", &["set", &setting, &dataset]).map(drop)
    }

    fn rename(
        &self,
        store: Store<'_>,
        volid: &VolumeId,
        target_vmid: u32,
        target_name: Option<&str>,
    ) -> Result<VolumeId, StorageError> {
        let source = parse_name(&volid.name)?;
        let pool = pool(store)?;
        let target = match target_name {
            Some(name) => name.to_string(),
            None => {
                let listed = list_pool(store)?;
                let number = free_disk_number(
                    listed.iter().map(|v| v.name.as_str()),
                    target_vmid,
                    store.id(),
                )?;
                let kind = if source.subvol { "subvol" } else { "vm" };
                format!("{kind}-{target_vmid}-disk-{number}")
            }
        };
        let target_dataset = format!("{pool}/{target}");
        if exists(&target_dataset) {
            return Err(StorageError::Invalid(format!(
                "target volume '{target}' already exists"
            )));
        }
        run_zfs(
            "zfs",
            &[
                "rename",
                &format!("{pool}/{}", source.dataset),
                &target_dataset,
            ],
        )?;
        let base = volid
            .name
            .split_once('/')
            .map(|(base, _)| format!("{base}/"))
            .unwrap_or_default();
        Ok(VolumeId {
            storage: store.id().to_string(),
            name: format!("{base}{target}"),
        })
    }

    /// `zfs snapshot`; a file system's quota is kept in the snapshot's user property
    /// `pve-storage:refquota`, as pve-storage keeps it, since ZFS does not roll it back.
    fn snapshot(&self, store: Store<'_>, volid: &VolumeId, snap: &str) -> Result<(), StorageError> {
        let name = parse_name(&volid.name)?;
        let dataset = format!("{}/{}", pool(store)?, name.dataset);
        let snapshot = format!("{dataset}@{snap}");
        // A subvol's quota goes with its snapshot, for a rollback to restore; set as the
        // snapshot is made, one command less while the container is frozen.
        let quota = if name.subvol {
            Some(format!(
                "pve-storage:refquota={}",
                property(&dataset, "refquota")?
            ))
        } else {
            None
        };
        let mut args = vec!["snapshot"];
        if let Some(quota) = &quota {
            args.extend(["-o", quota]);
        }
        args.push(&snapshot);
        run_zfs("zfs", &args).map(drop)
    }

    /// `zfs rollback` goes only to the newest snapshot (it would destroy the newer ones).
    fn rollback_is_possible(
        &self,
        store: Store<'_>,
        volid: &VolumeId,
        snap: &str,
    ) -> Result<(), StorageError> {
        let name = parse_name(&volid.name)?;
        let dataset = format!("{}/{}", pool(store)?, name.dataset);
        let listing = run_zfs(
            "zfs",
            &[
                "list", "-H", "-d", "1", "-t", "snapshot", "-o", "name", "-s", "creation", &dataset,
            ],
        )?;
        newest_snapshot_check(&listing, snap, volid)
    }

    /// `zfs rollback`, the quota the snapshot recorded restored; a file system is unmounted
    /// after it so that its next use mounts it afresh (stale kernel caches otherwise).
    fn rollback(&self, store: Store<'_>, volid: &VolumeId, snap: &str) -> Result<(), StorageError> {
        let name = parse_name(&volid.name)?;
        let dataset = format!("{}/{}", pool(store)?, name.dataset);
        let snapshot = format!("{dataset}@{snap}");
        run_zfs("zfs", &["rollback", &snapshot])?;
        if !name.subvol {
            return Ok(());
        }
        let recorded = property(&snapshot, "pve-storage:refquota")?;
        if let Some(setting) = refquota_setting(&recorded) {
            run_zfs("zfs", &["set", &setting, &dataset])?;
        }
        match run_zfs("zfs", &["unmount", &dataset]) {
            Err(e) if !e.to_string().contains("not currently mounted") => Err(e),
            _ => Ok(()),
        }
    }

    fn delete_snapshot(
        &self,
        store: Store<'_>,
        volid: &VolumeId,
        snap: &str,
    ) -> Result<(), StorageError> {
        let name = parse_name(&volid.name)?;
        let snapshot = format!("{}/{}@{snap}", pool(store)?, name.dataset);
        run_zfs("zfs", &["destroy", &snapshot]).map(drop)
    }

    /// A file system's snapshot directory (mounted by ZFS when first entered), or a zvol
    /// snapshot's device.
    fn snapshot_source(
        &self,
        store: Store<'_>,
        volid: &VolumeId,
        snap: &str,
    ) -> Result<VolumeSource, StorageError> {
        let name = parse_name(&volid.name)?;
        Ok(if name.subvol {
            VolumeSource::Directory(volume_path(store, &name)?.join(".zfs/snapshot").join(snap))
        } else {
            VolumeSource::BlockDevice(PathBuf::from(format!(
                "/dev/zvol/{}/{}@{snap}",
                pool(store)?,
                name.dataset
            )))
        })
    }

    /// The snapshot must exist, and a file system's directory (where its snapshots are)
    /// be mounted.
    fn activate_snapshot(
        &self,
        store: Store<'_>,
        volid: &VolumeId,
        snap: &str,
    ) -> Result<(), StorageError> {
        let name = parse_name(&volid.name)?;
        let snapshot = format!("{}/{}@{snap}", pool(store)?, name.dataset);
        if !exists(&snapshot) {
            return Err(StorageError::Invalid(format!(
                "snapshot '{snap}' does not exist on '{volid}'"
            )));
        }
        self.activate_volume(store, volid)?;
        if let VolumeSource::Directory(dir) = self.snapshot_source(store, volid, snap)? {
            // Entering the directory has ZFS mount the snapshot there; a bind mount of the
            // bare automount point would show it empty.
            std::fs::read_dir(&dir).map_err(super::alloc::io_error(format!(
                "unable to read snapshot '{}'",
                dir.display()
            )))?;
        }
        Ok(())
    }

    /// Renamed `basevol-…`/`base-…` and snapshotted `@__base__`, the snapshot every linked
    /// clone is made from.
    fn create_base(&self, store: Store<'_>, volid: &VolumeId) -> Result<VolumeId, StorageError> {
        let name = parse_name(&volid.name)?;
        if name.is_base {
            return Err(StorageError::Invalid(
                "create_base not possible with base image".to_string(),
            ));
        }
        let pool = pool(store)?;
        let new_dataset = base_dataset(&name);
        run_zfs(
            "zfs",
            &[
                "rename",
                &format!("{pool}/{}", name.dataset),
                &format!("{pool}/{new_dataset}"),
            ],
        )?;
        // A linked clone made a template keeps naming its own base.
        let new_name = match volid.name.split_once('/') {
            Some((base, _)) => format!("{base}/{new_dataset}"),
            None => new_dataset.clone(),
        };
        let new_volid = VolumeId {
            storage: store.id().to_string(),
            name: new_name,
        };
        self.snapshot(store, &new_volid, BASE_SNAPSHOT)?;
        Ok(new_volid)
    }

    /// `zfs clone` of the base's `@__base__` (or of its snapshot `snap`) as the next disk of
    /// `vmid`; the volume id names the base.
    fn clone_volume(
        &self,
        store: Store<'_>,
        volid: &VolumeId,
        snap: Option<&str>,
        vmid: u32,
    ) -> Result<VolumeId, StorageError> {
        let name = parse_name(&volid.name)?;
        if !name.is_base {
            return Err(StorageError::Invalid(
                "clone_image only works on base images".to_string(),
            ));
        }
        let pool = pool(store)?;
        let listed = list_pool(store)?;
        let number = free_disk_number(listed.iter().map(|v| v.name.as_str()), vmid, store.id())?;
        let kind = if name.subvol { "subvol" } else { "vm" };
        let new = format!("{kind}-{vmid}-disk-{number}");
        let refquota = if name.subvol {
            Some(property(&format!("{pool}/{}", name.dataset), "refquota")?)
        } else {
            None
        };
        let args = clone_args(
            pool,
            name.dataset,
            snap.unwrap_or(BASE_SNAPSHOT),
            &new,
            refquota.as_deref(),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_zfs("zfs", &args)?;
        Ok(VolumeId {
            storage: store.id().to_string(),
            name: format!("{}/{new}", name.dataset),
        })
    }

    fn status(&self, store: Store<'_>) -> Result<Option<StorageStatus>, StorageError> {
        let Ok(text) = run_zfs(
            "zfs",
            &["get", "-o", "value", "-Hp", "available,used", pool(store)?],
        ) else {
            return Ok(None);
        };
        let mut values = text.lines().map(|line| line.trim().parse::<u64>().ok());
        let (Some(Some(available)), Some(Some(used))) = (values.next(), values.next()) else {
            return Ok(None);
        };
        Ok(Some(StorageStatus {
            total: available + used,
            available,
            used,
            active: true,
        }))
    }

    fn features(&self) -> &'static [FeatureRow] {
        ZFSPOOL_FEATURES
    }
}

/// pve-storage's `volume_rollback_is_possible` on ZFS: `snap` must be the newest in
/// `listing` (`zfs list -o name -s creation` of the dataset's snapshots, oldest first).
fn newest_snapshot_check(listing: &str, snap: &str, volid: &VolumeId) -> Result<(), StorageError> {
    let snapshots: Vec<&str> = listing
        .lines()
        .filter_map(|line| line.trim().rsplit_once('@').map(|(_, s)| s))
        .collect();
    match snapshots.iter().position(|s| *s == snap) {
        None => Err(StorageError::Invalid(format!(
            "can't rollback, snapshot '{snap}' does not exist on '{volid}'"
        ))),
        Some(index) if index + 1 < snapshots.len() => Err(StorageError::Invalid(format!(
            "can't rollback, '{snap}' is not most recent snapshot on '{volid}'"
        ))),
        Some(_) => Ok(()),
    }
}

/// The `refquota=` setting that restores the quota a snapshot recorded in its
/// `pve-storage:refquota` (`-`: none recorded); ZFS takes `none`, not 0, for no quota.
fn refquota_setting(recorded: &str) -> Option<String> {
    if recorded.is_empty() || !recorded.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match recorded.trim_start_matches('0') {
        "" => "refquota=none".to_string(),
        _ => format!("refquota={recorded}"),
    })
}

/// The snapshot every linked clone of a template's volume is made from.
const BASE_SNAPSHOT: &str = "__base__";

/// The dataset a template's volume is renamed to: `subvol-` → `basevol-`, `vm-` → `base-`.
fn base_dataset(name: &ZfsName<'_>) -> String {
    let (from, to) = if name.subvol {
        ("subvol-", "basevol-")
    } else {
        ("vm-", "base-")
    };
    match name.dataset.strip_prefix(from) {
        Some(rest) => format!("{to}{rest}"),
        None => name.dataset.to_string(),
    }
}

/// The `zfs clone` arguments for dataset `new` from snapshot `snap` of `base` (both below
/// `pool`); a file system gets the base's quota (`refquota`, 0 meaning none).
fn clone_args(
    pool: &str,
    base: &str,
    snap: &str,
    new: &str,
    refquota: Option<&str>,
) -> Vec<String> {
    let mut args = vec![
        "clone".to_string(),
        format!("{pool}/{base}@{snap}"),
        format!("{pool}/{new}"),
    ];
    if let Some(refquota) = refquota {
        let refquota = if refquota == "0" { "none" } else { refquota };
        args.extend(["-o".to_string(), format!("refquota={refquota}")]);
    }
    args
}

/// The linked clones of base dataset `base` among a pool's volumes.
fn clones_of<'a>(listed: &'a [Listed], base: &str) -> Vec<&'a str> {
    let origin = format!("{base}@{BASE_SNAPSHOT}");
    listed
        .iter()
        .filter(|l| l.origin.as_deref() == Some(origin.as_str()))
        .map(|l| l.name.as_str())
        .collect()
}

/// Disk order of a volume name: the number after `-disk-`, then the name.
fn disk_order(name: &str) -> (u32, String) {
    let number = name
        .rsplit_once("-disk-")
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(u32::MAX);
    (number, name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zfs_rolls_back_only_to_the_newest_snapshot() {
        let volid = VolumeId::parse("local-zfs:subvol-100-disk-0").unwrap();
        let listing = "rpool/data/subvol-100-disk-0@first\n\
                       rpool/data/subvol-100-disk-0@second\n";
        assert!(newest_snapshot_check(listing, "second", &volid).is_ok());
        assert_eq!(
            newest_snapshot_check(listing, "first", &volid)
                .unwrap_err()
                .to_string(),
            "can't rollback, 'first' is not most recent snapshot on 'local-zfs:subvol-100-disk-0'"
        );
        assert_eq!(
            newest_snapshot_check(listing, "third", &volid)
                .unwrap_err()
                .to_string(),
            "can't rollback, snapshot 'third' does not exist on 'local-zfs:subvol-100-disk-0'"
        );
    }

    #[test]
    fn volume_names_parse_as_pve_storage_parses_them() {
        let name = parse_name("subvol-100-disk-1").unwrap();
        assert_eq!(
            name,
            ZfsName {
                dataset: "subvol-100-disk-1",
                owner: 100,
                subvol: true,
                is_base: false
            }
        );
        let clone = parse_name("basevol-100-disk-0/subvol-101-disk-0").unwrap();
        assert_eq!((clone.dataset, clone.owner), ("subvol-101-disk-0", 101));
        assert!(parse_name("base-9-disk-0").unwrap().is_base);
        assert!(!parse_name("vm-9-disk-0").unwrap().subvol);
        for bad in [
            "100/vm-100-disk-0.raw",
            "subvol-x-disk-0",
            "subvol-100-",
            "vm-100-disk-0/vm-101-disk-0",
            "disk-100-0",
        ] {
            assert_eq!(
                parse_name(bad).unwrap_err().to_string(),
                format!("unable to parse zfs volume name '{bad}'")
            );
        }
    }

    #[test]
    fn listing_keeps_this_pools_volumes_with_their_sizes_and_bases() {
        let text = "tank\t-\t-\tfilesystem\t0\n\
                    tank/subvol-100-disk-0\t-\t-\tfilesystem\t8589934592\n\
                    tank/subvol-100-disk-1\t-\t-\tfilesystem\t0\n\
                    tank/vm-101-disk-0\t4194304\t-\tvolume\t-\n\
                    tank/subvol-102-disk-0\t-\ttank/basevol-100-disk-0@__base__\tfilesystem\t1024\n\
                    tank/other\t-\t-\tfilesystem\t0\n\
                    tank/deep/subvol-103-disk-0\t-\t-\tfilesystem\t0\n\
                    tank/subvol-100-disk-0@snap\t-\t-\tsnapshot\t-\n";
        let listed = parse_list(text, "tank");
        let summary: Vec<(&str, u32, bool, u64, Option<&str>)> = listed
            .iter()
            .map(|l| {
                (
                    l.name.as_str(),
                    l.owner,
                    l.subvol,
                    l.size,
                    l.origin.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("subvol-100-disk-0", 100, true, 8589934592, None),
                ("subvol-100-disk-1", 100, true, 0, None),
                ("vm-101-disk-0", 101, false, 4194304, None),
                (
                    "subvol-102-disk-0",
                    102,
                    true,
                    1024,
                    Some("basevol-100-disk-0@__base__")
                ),
            ]
        );
    }

    #[test]
    fn a_missing_zfs_tool_names_its_package() {
        let err = run_zfs("zfs-not-installed-here", &["list"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "zfs-not-installed-here not found - install the package 'zfsutils-linux'"
        );
    }

    #[test]
    fn a_host_without_zfs_gets_the_package_named_and_nothing_made() {
        if program::find("zpool").is_absolute() {
            return; // ZFS is installed here: tests/vm_zfs.rs covers the real tools.
        }
        let dir = tempfile::tempdir().unwrap();
        let config = crate::storage::StorageConfig::parse(
            dir.path(),
            "zfspool: tank\n\tpool tank\n\tcontent rootdir\n",
        )
        .unwrap();
        assert_eq!(
            config
                .alloc_disk("tank", 100, 1 << 30)
                .unwrap_err()
                .to_string(),
            "could not activate storage 'tank', zpool not found - install the package \
             'zfsutils-linux'"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn templates_and_linked_clones_are_named_as_pve_storage_names_them() {
        let subvol = parse_name("subvol-100-disk-1").unwrap();
        assert_eq!(base_dataset(&subvol), "basevol-100-disk-1");
        assert_eq!(
            base_dataset(&parse_name("vm-100-disk-0").unwrap()),
            "base-100-disk-0"
        );
        let clone = parse_name("basevol-100-disk-0/subvol-101-disk-0").unwrap();
        assert_eq!(base_dataset(&clone), "basevol-101-disk-0");
        assert_eq!(
            clone_args(
                "tank",
                "basevol-100-disk-0",
                "__base__",
                "subvol-101-disk-0",
                Some("0")
            ),
            [
                "clone",
                "tank/basevol-100-disk-0@__base__",
                "tank/subvol-101-disk-0",
                "-o",
                "refquota=none"
            ]
        );
        assert_eq!(
            clone_args("tank", "base-100-disk-0", "__base__", "vm-101-disk-0", None),
            [
                "clone",
                "tank/base-100-disk-0@__base__",
                "tank/vm-101-disk-0"
            ]
        );
    }

    #[test]
    fn rollback_restores_the_recorded_quota_none_for_zero() {
        assert_eq!(
            refquota_setting("536870912").as_deref(),
            Some("refquota=536870912")
        );
        assert_eq!(refquota_setting("0").as_deref(), Some("refquota=none"));
        assert_eq!(refquota_setting("-"), None);
        assert_eq!(refquota_setting(""), None);
    }

    #[test]
    fn linked_clones_are_found_by_their_origin() {
        let text = "tank/basevol-100-disk-0\t-\t-\tfilesystem\t1024\n\
                    tank/subvol-101-disk-0\t-\ttank/basevol-100-disk-0@__base__\tfilesystem\t1024\n\
                    tank/subvol-102-disk-0\t-\ttank/basevol-100-disk-0@__base__\tfilesystem\t1024\n\
                    tank/subvol-103-disk-0\t-\ttank/basevol-100-disk-0@other\tfilesystem\t1024\n\
                    tank/subvol-104-disk-0\t-\ttank/basevol-100-disk-1@__base__\tfilesystem\t1024\n";
        let listed = parse_list(text, "tank");
        assert_eq!(
            clones_of(&listed, "basevol-100-disk-0"),
            ["subvol-101-disk-0", "subvol-102-disk-0"]
        );
        assert!(clones_of(&listed, "basevol-100-disk-2").is_empty());
    }

    #[test]
    fn disks_sort_by_number() {
        let mut names = ["subvol-1-disk-10", "subvol-1-disk-2", "vm-1-disk-0"];
        names.sort_by_key(|n| disk_order(n));
        assert_eq!(
            names,
            ["vm-1-disk-0", "subvol-1-disk-2", "subvol-1-disk-10"]
        );
    }
}
