//! `pct rescan`: bring configs in line with the storages. A volume a container owns on a
//! `rootdir` storage that its config does not name becomes an `unusedN` entry; a mount
//! point whose `size=` differs from its volume's size gets the volume's size.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{Container, Error, Host, check_lock};
use crate::config::{MountKind, MountPoint, Vmid};
use crate::storage::{ContentType, StorageConfig};

/// One change `pct rescan` made (or, with `--dryrun`, would make).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RescanChange {
    /// An unreferenced volume was added to the config as `key` (`unusedN`).
    AddedUnused {
        /// The container.
        vmid: Vmid,
        /// The volume.
        volume: String,
        /// The `unusedN` key it got.
        key: String,
    },
    /// A mount point's `size=` was set to its volume's size.
    UpdatedSize {
        /// The container.
        vmid: Vmid,
        /// The mount point (`rootfs`, `mpN`).
        key: String,
        /// The volume.
        volume: String,
        /// The size in bytes.
        size: u64,
    },
}

impl RescanChange {
    /// pct's line for the change.
    pub fn line(&self) -> String {
        match self {
            RescanChange::AddedUnused { vmid, volume, key } => {
                format!("CT {vmid}: add unreferenced volume '{volume}' as '{key}' to config.")
            }
            RescanChange::UpdatedSize { vmid, volume, .. } => {
                format!("CT {vmid}: updated volume size of '{volume}' in config.")
            }
        }
    }
}

/// A volume found on a storage: its path (two storages may name one directory) and size.
struct Found {
    path: PathBuf,
    size: u64,
}

impl Host {
    /// `pct rescan`: for container `vmid`, or every container, add the volumes it owns but
    /// does not reference as `unusedN` and correct mount point sizes; with `dry_run` the
    /// configs are left as they are. Each change also goes to the observer as pct's line.
    /// A locked container stops the scan with pct's `CT is locked (...)`.
    pub fn rescan(&self, vmid: Option<Vmid>, dry_run: bool) -> Result<Vec<RescanChange>, Error> {
        let storage = self.storage_config()?;
        self.observer().info("rescan volumes...");
        let vmids = match vmid {
            Some(vmid) => vec![vmid],
            None => self.vmids()?,
        };
        let mut changes = Vec::new();
        for vmid in vmids {
            let found = volumes_of(&storage, vmid)?;
            changes.extend(self.container(vmid).rescan(&found, dry_run)?);
        }
        Ok(changes)
    }
}

/// The volumes `vmid` owns on storages for container volumes, whose size can be read.
fn volumes_of(storage: &StorageConfig, vmid: Vmid) -> Result<BTreeMap<String, Found>, Error> {
    let mut found = BTreeMap::new();
    for (volid, _) in storage.list_volumes(vmid.get())? {
        let holds_rootdirs = storage
            .storage(&volid.storage)
            .is_ok_and(|def| def.allows(ContentType::Rootdir));
        if !holds_rootdirs {
            continue;
        }
        // pct leaves out a volume whose size it cannot read.
        let (Ok(size), Ok(path)) = (storage.volume_size(&volid), storage.volume_path(&volid))
        else {
            continue;
        };
        found.insert(volid.to_string(), Found { path, size });
    }
    Ok(found)
}

impl Container<'_> {
    fn rescan(
        &self,
        found: &BTreeMap<String, Found>,
        dry_run: bool,
    ) -> Result<Vec<RescanChange>, Error> {
        let _lock = self.lock()?;
        let mut config = self.config()?;
        check_lock(&config)?;
        let mut changes = Vec::new();

        // Referenced: by rootfs or an mpN, or already an unusedN; by id or by path.
        let mut points: Vec<(String, MountPoint)> = Vec::new();
        if let Some(Ok(rootfs)) = config.main.rootfs() {
            points.push(("rootfs".into(), rootfs));
        }
        for (index, mp) in config.main.mount_points() {
            if let Ok(mp) = mp {
                points.push((format!("mp{index}"), mp));
            }
        }
        let in_use = |volume: &str| {
            points
                .iter()
                .any(|(_, mp)| mp.kind() == MountKind::Volume && mp.volume == volume)
        };
        let mut referenced_paths: Vec<&PathBuf> = config
            .main
            .unused()
            .iter()
            .filter_map(|(_, volume)| found.get(volume).map(|f| &f.path))
            .collect();
        referenced_paths.extend(
            found
                .iter()
                .filter(|(volume, _)| in_use(volume))
                .map(|(_, f)| &f.path),
        );
        let mut orphans: Vec<(&String, &PathBuf)> = Vec::new();
        for (volume, f) in found {
            if in_use(volume)
                || referenced_paths.contains(&&f.path)
                || orphans.iter().any(|(_, path)| *path == &f.path)
            {
                continue;
            }
            orphans.push((volume, &f.path));
        }
        for (volume, _) in orphans {
            let key = config.add_unused_volume(volume)?;
            changes.push(RescanChange::AddedUnused {
                vmid: self.vmid,
                volume: volume.clone(),
                key,
            });
        }

        for (key, mut mp) in points {
            if mp.kind() != MountKind::Volume {
                continue;
            }
            let Some(f) = found.get(&mp.volume) else {
                continue;
            };
            if mp.size == Some(f.size) {
                continue;
            }
            mp.size = Some(f.size);
            config.main.set(&key, mp.to_string());
            changes.push(RescanChange::UpdatedSize {
                vmid: self.vmid,
                key,
                volume: mp.volume.clone(),
                size: f.size,
            });
        }

        for change in &changes {
            self.host.observer().info(change.line());
        }
        if !changes.is_empty() && !dry_run {
            self.write_config(&config)?;
        }
        Ok(changes)
    }
}
