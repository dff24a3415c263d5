//! `pct snapshot`, `pct delsnapshot`, `pct rollback` and `pct listsnapshot`. The edits of the
//! config are `config::snapshot`'s steps; here they are run under the config lock, with the
//! storage work between them: the volumes snapshotted (a running container frozen meanwhile),
//! their snapshots deleted, or the volumes rolled back.

mod freeze;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{Container, Error, StartOptions};
use crate::cgroup::{ContainerCgroup, Hierarchy};
use crate::config::snapshot::{
    DeleteLock, SnapshotError, commit, delete_commit, delete_prepare, delete_remove_volume,
    prepare, rollback_commit, rollback_prepare, rollback_target, snapshot_tree,
};
use crate::config::{Config, MountKind, MountPoint, Section, TreeLine, Warning};
use crate::storage::{Feature, StorageConfig, VolumeId};
use freeze::Freeze;

/// How long freezing or thawing may take (LXC's freeze command timeout).
const FREEZE_TIMEOUT: Duration = Duration::from_secs(30);

/// File systems a snapshot does not `syncfs` (pve-container's `sync_container_namespace`):
/// nothing of them is on a volume.
const NOT_SYNCED: [&str; 10] = [
    "cgroup",
    "cgroup2",
    "devtmpfs",
    "devpts",
    "fuse.lxcfs",
    "fusectl",
    "mqueue",
    "proc",
    "sysfs",
    "tmpfs",
];

/// The mounts of a section in pct's order (rootfs, mp0..mp255), with their keys; values that
/// do not parse are left out, as the config steps do.
fn mounts(section: &Section) -> Vec<(String, MountPoint)> {
    let rootfs = section
        .rootfs()
        .and_then(Result::ok)
        .map(|mp| ("rootfs".to_string(), mp));
    rootfs
        .into_iter()
        .chain(
            section
                .mount_points()
                .into_iter()
                .filter_map(|(index, mp)| Some((format!("mp{index}"), mp.ok()?))),
        )
        .collect()
}

/// The storage volumes of a section, with their keys.
fn volumes(section: &Section) -> Result<Vec<(String, VolumeId)>, Error> {
    mounts(section)
        .into_iter()
        .filter(|(_, mp)| mp.kind() == MountKind::Volume)
        .map(|(key, mp)| Ok((key, VolumeId::parse(&mp.volume)?)))
        .collect()
}

/// pct's `has_feature('snapshot')` over rootfs and every mount point: a bind mount or a
/// device never has it, a volume when its storage can snapshot it.
fn can_snapshot(storage: &StorageConfig, section: &Section) -> bool {
    mounts(section).iter().all(|(_, mp)| {
        mp.kind() == MountKind::Volume
            && VolumeId::parse(&mp.volume)
                .is_ok_and(|volid| storage.volume_has_feature(Feature::Snapshot, &volid, None))
    })
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `syncfs` every mount of the container (seen from its init, in its mount namespace) whose
/// data can be on a volume, so that the snapshots hold what the container wrote. A mount
/// that cannot be opened is skipped: it cannot hold data either.
fn sync_container_mounts(init_pid: u32) {
    let root = PathBuf::from(format!("/proc/{init_pid}/root"));
    let Ok(table) = std::fs::read_to_string(format!("/proc/{init_pid}/mounts")) else {
        return;
    };
    for line in table.lines() {
        let mut fields = line.split(' ');
        let (Some(_), Some(target), Some(fstype)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if NOT_SYNCED.contains(&fstype) {
            continue;
        }
        let path = root.join(unescape_mount_path(target).trim_start_matches('/'));
        let Ok(path) = CString::new(path.as_os_str().as_bytes()) else {
            continue;
        };
        // SAFETY: a NUL-terminated path; the descriptor is closed right after syncfs.
        unsafe {
            let fd = libc::open(
                path.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NONBLOCK,
            );
            if fd >= 0 {
                libc::syncfs(fd);
                libc::close(fd);
            }
        }
    }
}

/// A path of /proc/mounts with its octal escapes (`\040` for a space) decoded.
fn unescape_mount_path(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) => {
                out.push(
                    digits
                        .iter()
                        .fold(0u8, |n, d| n.wrapping_mul(8) + (d - b'0')),
                );
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a `pct snapshot` did besides writing the config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotReport {
    /// pct's warnings (a `parent` dropped to avoid a cycle).
    pub warnings: Vec<Warning>,
    /// How long a running container was held frozen: from the freeze request until the
    /// kernel reported it thawed again. `None` for a stopped container. pct does not print
    /// it; it is here for embedders and benchmarks that watch what a snapshot costs a guest.
    pub frozen_for: Option<Duration>,
}

impl Container<'_> {
    /// `pct listsnapshot`: the snapshot tree, `current` included, in the order pct prints it.
    /// Like pct it reads the config without taking the lock.
    pub fn snapshot_tree(&self) -> Result<Vec<TreeLine>, Error> {
        Ok(snapshot_tree(&self.config()?))
    }

    /// Read the config under the lock, apply `step`, write what it returns.
    fn edit_config<T>(
        &self,
        step: impl FnOnce(&Config) -> Result<(Config, T), Error>,
    ) -> Result<T, Error> {
        let _lock = self.lock()?;
        let (config, result) = step(&self.config()?)?;
        self.write_config(&config)?;
        Ok(result)
    }

    /// `pct snapshot <vmid> <name> [--description]`, as pct: the config gets `lock: snapshot`
    /// and a section `[name]` in `snapstate: prepare`; every volume is snapshotted through its
    /// storage, a running container frozen and its file systems synced meanwhile (thawed
    /// whatever happens, also when this process is killed); then the section is committed
    /// and the config's `parent` names it. When a volume fails, the snapshots already made
    /// are deleted again with the section. Returns pct's warnings.
    pub fn snapshot(&self, name: &str, description: Option<&str>) -> Result<Vec<Warning>, Error> {
        Ok(self.snapshot_with_report(name, description)?.warnings)
    }

    /// [`Container::snapshot`], also telling how long the container was frozen.
    pub fn snapshot_with_report(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<SnapshotReport, Error> {
        crate::config::snapshot::check_name(name)?;
        let storage = self.host.storage_config()?;
        let (snapshot, mut warnings) = self.edit_config(|config| {
            let prepared = prepare(config, name, description, now())?;
            // pct checks the feature on the config with the new section in place, before
            // writing: a refusal leaves the file as it was.
            if !can_snapshot(&storage, &prepared.config.main) {
                return Err(SnapshotError::FeatureNotAvailable.into());
            }
            let section = prepared.config.snapshots[name].clone();
            Ok((prepared.config, (section, prepared.warnings)))
        })?;

        let mut made = Vec::new();
        let frozen_for = match self.snapshot_volumes(&storage, &snapshot, name, &mut made) {
            Ok(frozen_for) => frozen_for,
            Err(error) => {
                warnings.push(Warning(
                    "snapshot create failed: starting cleanup".to_string(),
                ));
                if let Err(cleanup) = self.delete_snapshot_with(
                    &storage,
                    name,
                    DeleteLock::CreateCleanup,
                    true,
                    Some(&made),
                ) {
                    warnings.push(Warning(cleanup.to_string()));
                }
                return Err(error);
            }
        };
        self.edit_config(|config| Ok((commit(config, name)?, ())))?;
        Ok(SnapshotReport {
            warnings,
            frozen_for,
        })
    }

    /// The volume part of a snapshot: the volumes of `snapshot` in order, each key pushed to
    /// `made` once its storage snapshot exists; frozen around it when the container runs.
    /// Returns how long it was frozen.
    fn snapshot_volumes(
        &self,
        storage: &StorageConfig,
        snapshot: &Section,
        name: &str,
        made: &mut Vec<String>,
    ) -> Result<Option<Duration>, Error> {
        let volumes = volumes(snapshot)?;
        for (_, volid) in &volumes {
            storage.activate_storage(&volid.storage)?;
        }
        let freeze_target = match self.running_init() {
            Some(init) => {
                let hierarchy = Hierarchy::find().ok_or(Error::NoCgroup2)?;
                Some((init.pid, ContainerCgroup::of(&hierarchy, self.vmid.get())))
            }
            None => None,
        };
        let freeze_requested = Instant::now();
        let freeze = match &freeze_target {
            Some((pid, cgroup)) => {
                let freeze = Freeze::new(cgroup, FREEZE_TIMEOUT)
                    .map_err(|e| Error::io("unable to freeze the container", e))?;
                sync_container_mounts(*pid);
                Some(freeze)
            }
            None => None,
        };
        for (key, volid) in &volumes {
            storage.volume_snapshot(volid, name)?;
            made.push(key.clone());
        }
        let Some(freeze) = freeze else {
            return Ok(None);
        };
        freeze
            .thaw()
            .map_err(|e| Error::io("unable to thaw the container", e))?;
        Ok(Some(freeze_requested.elapsed()))
    }

    /// `pct delsnapshot <vmid> <name> [--force]`, as pct: the section goes to
    /// `snapstate: delete` under `lock: snapshot-delete`, each volume's snapshot is deleted
    /// (the section losing the volume each time), then every `parent` naming it is re-linked
    /// to its parent and the section removed. With `force` a volume whose snapshot cannot be
    /// deleted is a warning, and the section goes anyway. Returns pct's warnings.
    pub fn delete_snapshot(&self, name: &str, force: bool) -> Result<Vec<Warning>, Error> {
        let storage = self.host.storage_config()?;
        self.delete_snapshot_with(&storage, name, DeleteLock::Own, force, None)
    }

    /// pct's `snapshot_delete`; `only` (the cleanup of a failed create) limits the storage
    /// deletions to the volumes whose snapshot was made.
    fn delete_snapshot_with(
        &self,
        storage: &StorageConfig,
        name: &str,
        lock: DeleteLock,
        force: bool,
        only: Option<&[String]>,
    ) -> Result<Vec<Warning>, Error> {
        let snapshot = self.edit_config(|config| {
            let config = delete_prepare(config, name, lock)?;
            let section = config.snapshots[name].clone();
            Ok((config, section))
        })?;
        let mut warnings = Vec::new();
        let mut deleted = Vec::new();
        for (key, volid) in volumes(&snapshot)? {
            if only.is_none_or(|keys| keys.contains(&key)) {
                match storage.volume_snapshot_delete(&volid, name) {
                    Ok(()) => deleted.push(volid.to_string()),
                    Err(e) if force => warnings.push(Warning(e.to_string())),
                    Err(e) => return Err(e.into()),
                }
            }
            if !force {
                self.edit_config(|config| {
                    Ok((delete_remove_volume(config, name, &key, lock)?, ()))
                })?;
            }
        }
        self.edit_config(|config| Ok((delete_commit(config, name, lock, &deleted)?, ())))?;
        Ok(warnings)
    }

    /// `pct rollback <vmid> <name> [--start]`, as pct: refused where a volume's storage cannot
    /// go back to that snapshot (ZFS: only to the newest); the container is stopped hard if
    /// it runs; under `lock: rollback` each volume is rolled back, then the config is rebuilt
    /// from the snapshot's section. With `start` the container starts after.
    pub fn rollback(&self, name: &str, start: bool) -> Result<(), Error> {
        let storage = self.host.storage_config()?;
        let check = |config: &Config| -> Result<Section, Error> {
            let snapshot = rollback_target(config, name)?.clone();
            for (_, volid) in volumes(&snapshot)? {
                storage.volume_rollback_is_possible(&volid, name)?;
            }
            // The refusals of the prepare step come before the stop, as in pct.
            rollback_prepare(config, name)?;
            Ok(snapshot)
        };
        {
            let _lock = self.lock()?;
            check(&self.config()?)?;
        }
        // Outside the config lock: stopping may need it (the monitor's cleanup).
        if self.is_running() {
            match self.stop(false) {
                Err(Error::NotRunning { .. }) => {}
                other => other?,
            }
        }
        let snapshot = self.edit_config(|config| {
            let snapshot = check(config)?;
            if self.is_running() {
                return Err(SnapshotError::StillRunning(self.vmid.get()).into());
            }
            Ok((rollback_prepare(config, name)?, snapshot))
        })?;
        for (_, volid) in volumes(&snapshot)? {
            storage.volume_rollback(&volid, name)?;
        }
        self.edit_config(|config| Ok((rollback_commit(config, name)?, ())))?;
        if start {
            self.start(&StartOptions::default())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_lose_their_escapes() {
        assert_eq!(unescape_mount_path("/a\\040b"), "/a b");
        assert_eq!(unescape_mount_path("/tab\\011x\\134"), "/tab\tx\\");
        assert_eq!(unescape_mount_path("/plain\\09"), "/plain\\09");
    }
}
