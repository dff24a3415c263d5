//! `pct destroy`: refuse protected or locked containers, and running ones unless forced (then
//! stop them first); free every volume the config references (and, on request, every other
//! volume the id owns); take the id out of its resource pool and drop its ACLs, as pct does
//! with or without `--purge`; then remove the config.
//!
//! "References" is pct's (`destroy_lxc_container`): rootfs, mpN and unusedN of the current
//! config and of its pending section. Snapshot sections are not read: the storage frees a
//! volume together with its snapshots (btrfs `<name>@*`, zfs `-r`), and a volume only a
//! snapshot still uses is named by an `unusedN` in the current config (deleting or replacing
//! the mount point put it there), unless that `unusedN` was deleted on purpose, which
//! leaves it to `--destroy-unreferenced-disks`, as in pct.

use std::fs;

use super::pool::Pools;
use super::{Container, Error, VolumeNotFreed, check_lock};
use crate::config::{Config, MountKind, Warning};
use crate::storage::VolumeId;

/// What `pct destroy` was given besides the id.
#[derive(Debug, Clone, Copy, Default)]
pub struct DestroyOptions {
    /// Stop a running container first (pct's `--force`) instead of refusing it.
    pub force: bool,
    /// Also remove the container from related configurations (jobs, HA). corral keeps none.
    pub purge: bool,
    /// Also free volumes owned by the id that the config does not reference.
    pub destroy_unreferenced_disks: bool,
}

impl Container<'_> {
    /// Returns pct's warnings (`forced to stop CT N before destroying!`).
    pub fn destroy(&self, options: DestroyOptions) -> Result<Vec<Warning>, Error> {
        let vmid = self.vmid;
        let early_checks = |config: &Config| -> Result<(), Error> {
            if config.main.flag("protection") {
                return Err(Error::protected(vmid, false));
            }
            check_lock(config)
        };
        let running = || Error::running(vmid, "destroy");
        early_checks(&self.config()?)?;
        if !options.force && self.is_running() {
            return Err(running());
        }

        let _lock = self.lock()?;
        let mut config = self.config()?;
        early_checks(&config)?;
        let mut warnings = Vec::new();
        if self.is_running() {
            if !options.force {
                return Err(running());
            }
            warnings.push(Warning(format!(
                "forced to stop CT {vmid} before destroying!"
            )));
            // The config's lock was checked above, as pct does before its forced stop.
            self.stop(true)?;
        }
        self.clear_leftovers(&self.state_dir());
        // How its last run ended goes with the container.
        self.state_dir().clear_exit();
        let storage = self.host.storage_config()?;
        // From here on the config must not be used to start the container again.
        config.main.set("lock", "destroyed".into());
        self.write_config(&config)?;

        let mut volumes = referenced_volumes(&config);
        if options.destroy_unreferenced_disks {
            for (volid, _) in storage.list_volumes(vmid.get())? {
                if !volumes.contains(&volid) {
                    volumes.push(volid);
                }
            }
        }
        // A leftover mount at the staging directory (an interrupted create or mount) holds
        // the volumes; the container is stopped, so nothing there is in use.
        let rootfs_dir = self.rootfs_dir();
        crate::mount::unmount_tree(&rootfs_dir)?;
        let mut not_freed = Vec::new();
        for volid in &volumes {
            // Volumes of other containers (e.g. a shared mp) are never ours to free.
            if volid.owner().is_some_and(|owner| owner != vmid.get()) {
                continue;
            }
            if let Err(error) = self.free_volume(&storage, volid) {
                not_freed.push(VolumeNotFreed {
                    volume: volid.clone(),
                    error,
                });
            }
        }
        // The config (locked `destroyed`) stays to name what is left; once that can go,
        // `pct unlock` and `pct destroy` again finish the job.
        if !not_freed.is_empty() {
            return Err(Error::VolumesNotFreed {
                vmid,
                volumes: not_freed,
            });
        }
        // Should this fail, the config (locked `destroyed`) stays, as in pct.
        Pools::of(self.host).remove_vm_access(vmid)?;
        if options.purge {
            self.host
                .observer()
                .info(format!("purging CT {vmid} from related configurations.."));
        }
        crate::runtime::apparmor::forget(self.host.root(), vmid.get());
        let _ = fs::remove_dir(&rootfs_dir);
        let _ = rootfs_dir.parent().map(fs::remove_dir);
        self.remove_config()?;
        Ok(warnings)
    }
}

/// Storage volumes of rootfs, mpN and unusedN in the main section and the pending one.
fn referenced_volumes(config: &Config) -> Vec<VolumeId> {
    let mut volumes = Vec::new();
    for section in [&config.main, &config.pending] {
        let mount_points = section
            .rootfs()
            .into_iter()
            .chain(section.mount_points().into_iter().map(|(_, mp)| mp));
        for mp in mount_points.flatten() {
            if mp.kind() == MountKind::Volume
                && let Ok(volid) = VolumeId::parse(&mp.volume)
            {
                volumes.push(volid);
            }
        }
        for (_, volume) in section.unused() {
            if let Ok(volid) = VolumeId::parse(&volume) {
                volumes.push(volid);
            }
        }
    }
    volumes.sort();
    volumes.dedup();
    volumes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destroy_frees_current_pending_and_unused_volumes_not_snapshot_ones() {
        let text = "\
memory: 512
mp0: tank:100/vm-100-disk-1.raw,mp=/data
mp1: /srv/bind,mp=/bind
ostype: debian
parent: s1
rootfs: tank:100/subvol-100-disk-0.subvol
unused0: tank:100/vm-100-disk-2.raw

[pve:pending]
mp2: tank:100/vm-100-disk-3.raw,mp=/new

[s1]
memory: 512
mp0: tank:100/vm-100-disk-1.raw,mp=/data
mp3: tank:100/vm-100-disk-4.raw,mp=/old
ostype: debian
rootfs: tank:100/subvol-100-disk-0.subvol
snaptime: 1700000000
";
        let vmid = crate::config::Vmid::new(100).unwrap();
        let (config, _) = Config::parse(vmid, text, crate::config::ParseMode::Lenient).unwrap();
        let volumes: Vec<String> = referenced_volumes(&config)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            volumes,
            [
                "tank:100/subvol-100-disk-0.subvol",
                "tank:100/vm-100-disk-1.raw",
                "tank:100/vm-100-disk-2.raw",
                "tank:100/vm-100-disk-3.raw",
            ]
        );
    }
}
