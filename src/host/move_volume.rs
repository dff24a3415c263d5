//! `pct move-volume`: copy a stopped container's volume to another storage (the old one is
//! kept as `unusedN` unless deleted), or hand a volume to another container by renaming it
//! to that container's name.
//!
//! The copy is pct's: a new volume on the target storage, both mounted in a private mount
//! namespace (so no interruption leaves a mount on the host), and `rsync` with pct's flags,
//! which keeps ownership (numeric), hard links, sparse files, ACLs and extended attributes.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{Container, Error, Host, check_lock};
use crate::config::{Config, MountKind, MountPoint, SetRequest, Vmid, Warning};
use crate::mount::{
    VolumeSource, in_private_mount_namespace, mount_volume, mount_volume_frozen, unmount_tree,
};
use crate::storage::{ContentType, Feature, StorageConfig, VolumeId};

/// Where `pct move-volume` moves a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveTarget {
    /// A copy on this storage; only for a stopped container.
    Storage(String),
    /// Another container (or the same one under another key), by renaming the volume.
    Container {
        /// The container that gets the volume.
        vmid: Vmid,
        /// Its key there (`mpN` or `unusedN`); the source key when `None`.
        key: Option<String>,
    },
}

impl MoveTarget {
    /// pct's `storage`, `target-vmid` and `target-volume` arguments: exactly one of the
    /// first two, in pct's words when not.
    pub fn from_args(
        storage: Option<&str>,
        target_vmid: Option<Vmid>,
        target_volume: Option<&str>,
    ) -> Result<MoveTarget, Error> {
        match (storage, target_vmid) {
            (Some(_), Some(_)) => Err(refused(MoveProblem::StorageAndTargetVmid)),
            (Some(storage), None) => Ok(MoveTarget::Storage(storage.to_string())),
            (None, Some(vmid)) => {
                if let Some(key) = target_volume {
                    check_volume_key("target-volume", key)?;
                }
                Ok(MoveTarget::Container {
                    vmid,
                    key: target_volume.map(str::to_string),
                })
            }
            (None, None) => {
                let message = "both 'storage' and 'target-vmid' missing, either needs to be set";
                Err(Error::Parameters(vec![
                    super::ParamError {
                        key: "storage".into(),
                        message: message.into(),
                    },
                    super::ParamError {
                        key: "target-vmid".into(),
                        message: message.into(),
                    },
                ]))
            }
        }
    }
}

/// Why `pct move-volume` refused a move ([`Error::MoveVolume`]); `Display` is pct's
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MoveProblem {
    /// Both a storage and a target container were given.
    StorageAndTargetVmid,
    /// A copy to another storage of a running container's volume.
    Running,
    /// A copy to another storage of an `unusedN` volume.
    UnusedToStorage {
        /// The `unusedN` key.
        key: String,
    },
    /// The config has no such key (a copy to another storage).
    NotConfigured,
    /// `--delete` of a volume a snapshot still uses.
    SnapshotsAndDelete,
    /// A copy of a bind mount or a device, which has no volume to copy.
    NotAVolume {
        /// What the mount point is.
        kind: MountKind,
    },
    /// The target storage does not hold container volumes.
    NoRootdir {
        /// The target storage.
        storage: String,
    },
    /// `rsync`, which copies the data, is not installed.
    NoRsync,
    /// A move to another container of `rootfs`, or to its `rootfs`.
    Rootfs,
    /// An `unusedN` volume to another container's `mpN`.
    UnusedToUsed,
    /// The source or the target container does not exist.
    NoContainer {
        /// The missing container.
        vmid: Vmid,
    },
    /// The source or the target container is a template.
    Template,
    /// The source container has no such key.
    NoVolume {
        /// The key.
        key: String,
        /// The source container.
        vmid: Vmid,
    },
    /// The target container has the target key already.
    KeyInUse {
        /// The target key.
        key: String,
        /// The target container.
        vmid: Vmid,
    },
    /// A move to another container of a volume a snapshot uses.
    UsedBySnapshot,
    /// The volume's storage cannot rename it (or it is a path, not a volume).
    NoRename,
    /// A move to another container of a volume the running source container uses.
    InUse,
}

impl std::fmt::Display for MoveProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MoveProblem::StorageAndTargetVmid => {
                f.write_str("either set storage or target-vmid, but not both")
            }
            MoveProblem::Running => f.write_str("cannot move volumes of a running container"),
            MoveProblem::UnusedToStorage { key } => write!(
                f,
                "cannot move volume '{key}', only configured volumes can be moved to another \
                 storage"
            ),
            MoveProblem::NotConfigured => {
                f.write_str("format error\nvolume: property is missing and it is not optional")
            }
            MoveProblem::SnapshotsAndDelete => {
                f.write_str("you can't move a volume with snapshots and delete the source")
            }
            MoveProblem::NotAVolume { kind } => {
                let kind = if *kind == MountKind::Bind {
                    "bind"
                } else {
                    "device"
                };
                write!(f, "cannot copy volumes of type {kind}")
            }
            MoveProblem::NoRootdir { storage } => write!(
                f,
                "content type 'rootdir' is not available or configured on storage '{storage}'"
            ),
            MoveProblem::NoRsync => f.write_str(
                "unable to copy the volume: rsync is not installed (Debian package 'rsync')",
            ),
            MoveProblem::Rootfs => f.write_str("Cannot move to/from 'rootfs'"),
            MoveProblem::UnusedToUsed => {
                f.write_str("Moving an unused volume to a used one is not possible")
            }
            MoveProblem::NoContainer { vmid } => write!(f, "could not find CT {vmid}"),
            MoveProblem::Template => f.write_str("Can't move volumes from or to template CT"),
            MoveProblem::NoVolume { key, vmid } => {
                write!(f, "volume '{key}' for container '{vmid}' does not exist")
            }
            MoveProblem::KeyInUse { key, vmid } => write!(
                f,
                "Target volume key '{key}' is already in use for container '{vmid}'"
            ),
            MoveProblem::UsedBySnapshot => {
                f.write_str("Cannot move volume used by a snapshot to another container")
            }
            MoveProblem::NoRename => {
                f.write_str("Storage does not support moving of this disk to another container")
            }
            MoveProblem::InUse => f.write_str(
                "Cannot move in-use volume while the source CT is running - detach or shutdown \
                 first",
            ),
        }
    }
}

impl std::error::Error for MoveProblem {}

fn refused(problem: MoveProblem) -> Error {
    Error::MoveVolume { problem }
}

/// What `pct move-volume` does besides the move.
#[derive(Debug, Clone, Default)]
pub struct MoveVolumeOptions {
    /// Free the old volume after a copy, instead of keeping it as `unusedN`.
    pub delete: bool,
    /// Refuse when the container's config changed since this digest was read.
    pub digest: Option<String>,
    /// Refuse when the target container's config changed since this digest was read.
    pub target_digest: Option<String>,
    /// Bandwidth limit of the copy in KiB/s; `None` or 0 for none.
    pub bwlimit: Option<u64>,
}

/// pct's `volume` enumeration: `rootfs`, `mp0` … `mp255`, `unused0` … `unused255`.
fn check_volume_key(param: &str, key: &str) -> Result<(), Error> {
    if is_volume_key(key) {
        return Ok(());
    }
    let choices: Vec<String> = std::iter::once("rootfs".to_string())
        .chain((0..=255).map(|i| format!("mp{i}")))
        .chain((0..=255).map(|i| format!("unused{i}")))
        .collect();
    Err(Error::param(
        param,
        format!(
            "value '{key}' does not have a value in the enumeration '{}'",
            choices.join(", ")
        ),
    ))
}

fn is_volume_key(key: &str) -> bool {
    key == "rootfs" || is_indexed_key(key, "mp") || is_unused_key(key)
}

fn is_unused_key(key: &str) -> bool {
    is_indexed_key(key, "unused")
}

/// `<prefix>0` … `<prefix>255`, written as pct's enumeration has them (no sign, no
/// leading zero).
pub(crate) fn is_indexed_key(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix).is_some_and(|n| {
        !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && (n == "0" || !n.starts_with('0'))
            && n.parse::<u16>().is_ok_and(|n| n <= 255)
    })
}

/// The mount point under `key`: an `unusedN` value is a bare volume id.
fn parse_volume_entry(key: &str, value: &str) -> Result<MountPoint, Error> {
    if is_unused_key(key) {
        return MountPoint::parse_rootfs(value).map_err(|e| Error::param(key, e.0));
    }
    super::create::parse_mount_point(key, value)
}

/// Whether a snapshot of `config` still uses `volume` (pct's
/// `is_volume_in_use_by_snapshots`).
fn used_by_snapshots(config: &Config, volume: &str) -> bool {
    config.snapshots.values().any(|section| {
        section
            .rootfs()
            .into_iter()
            .chain(section.mount_points().into_iter().map(|(_, mp)| mp))
            .flatten()
            .any(|mp| mp.volume == volume)
    })
}

impl Container<'_> {
    /// `pct move-volume <vmid> <volume> [<storage>] [<target-vmid>] [<target-volume>]`.
    /// Warnings are what went wrong after the move succeeded (an old volume that could not
    /// be freed, and so was kept as `unusedN`).
    pub fn move_volume(
        &self,
        key: &str,
        target: &MoveTarget,
        options: &MoveVolumeOptions,
    ) -> Result<Vec<Warning>, Error> {
        check_volume_key("volume", key)?;
        match target {
            MoveTarget::Storage(storage) => self.move_to_storage(key, storage, options),
            MoveTarget::Container {
                vmid,
                key: target_key,
            } => self.reassign_volume(key, *vmid, target_key.as_deref().unwrap_or(key), options),
        }
    }

    fn move_to_storage(
        &self,
        key: &str,
        target_storage: &str,
        options: &MoveVolumeOptions,
    ) -> Result<Vec<Warning>, Error> {
        let storage = self.host.storage_config()?;
        let (mp, locked_digest) = {
            let _lock = self.lock()?;
            let (config, digest) = self.config_and_digest()?;
            check_lock(&config)?;
            if self.is_running() {
                return Err(refused(MoveProblem::Running));
            }
            if is_unused_key(key) {
                return Err(refused(MoveProblem::UnusedToStorage {
                    key: key.to_string(),
                }));
            }
            let Some(value) = config.main.get(key) else {
                return Err(refused(MoveProblem::NotConfigured));
            };
            let mp = super::create::parse_mount_point(key, value)?;
            if options.delete && used_by_snapshots(&config, &mp.volume) {
                return Err(refused(MoveProblem::SnapshotsAndDelete));
            }
            if options
                .digest
                .as_deref()
                .is_some_and(|d| !d.is_empty() && d != digest)
            {
                return Err(Error::ConfigChanged { vmid: self.vmid });
            }
            // pct finds these out in its task, after locking the config: the outcome, pct's
            // message and an unchanged config, is the same.
            if mp.kind() != MountKind::Volume {
                return Err(refused(MoveProblem::NotAVolume { kind: mp.kind() }));
            }
            let def = storage.enabled_storage(target_storage)?;
            if !def.allows(ContentType::Rootdir) {
                return Err(refused(MoveProblem::NoRootdir {
                    storage: target_storage.to_string(),
                }));
            }
            let mut locked = config.clone();
            locked.main.set("lock", "disk".into());
            self.write_config(&locked)?;
            let (_, locked_digest) = self.config_and_digest()?;
            (mp, locked_digest)
        };

        let moved =
            self.copy_and_switch(key, &mp, target_storage, &storage, options, &locked_digest);
        let mut warnings = Vec::new();
        if let Ok(old) = &moved
            && options.delete
            && let Err(e) = self.free_volume(&storage, old)
        {
            warnings.push(Warning(e.to_string()));
            // pct keeps what it could not free.
            if let Err(e) = self.keep_as_unused(old) {
                warnings.push(Warning(e.to_string()));
            }
        }
        if let Err(e) = self.remove_lock(Some("disk")) {
            warnings.push(Warning(e.to_string()));
        }
        moved.map(|_| warnings)
    }

    /// The copy and the config switch of a storage move; returns the old volume.
    fn copy_and_switch(
        &self,
        key: &str,
        mp: &MountPoint,
        target_storage: &str,
        storage: &StorageConfig,
        options: &MoveVolumeOptions,
        locked_digest: &str,
    ) -> Result<VolumeId, Error> {
        let old = VolumeId::parse(&mp.volume)?;
        storage.activate_storage(&old.storage)?;
        let size = storage.volume_size(&old)?;
        let config = self.config()?;
        let root_owner = super::create::volume_root_owner(&config)?;
        let new = storage.alloc_disk_owned(target_storage, self.vmid.get(), size, root_owner)?;
        let switched = (|| {
            let staging = self.host.path(&format!("var/lib/lxc/{}", self.vmid));
            copy_volume_data(
                self.host,
                storage,
                (&old, None),
                &new,
                &staging,
                options.bwlimit.unwrap_or(0),
            )?;
            let _lock = self.lock()?;
            let (mut config, digest) = self.config_and_digest()?;
            if digest != locked_digest {
                return Err(Error::ConfigChanged { vmid: self.vmid });
            }
            let mut mp = mp.clone();
            mp.volume = new.to_string();
            mp.size = Some(size);
            config.main.set(key, mp.to_string());
            if !options.delete {
                config.add_unused_volume(&old.to_string())?;
            }
            self.write_config(&config)
        })();
        if let Err(error) = switched {
            let left = match self.free_volume(storage, &new) {
                Ok(()) => Vec::new(),
                Err(e) => vec![format!("unable to free volume '{new}' - {e}")],
            };
            return Err(Error::with_leftovers(error, left));
        }
        Ok(old)
    }

    /// Add `volid` as `unusedN` under the config lock.
    fn keep_as_unused(&self, volid: &VolumeId) -> Result<(), Error> {
        let _lock = self.lock()?;
        let mut config = self.config()?;
        config.add_unused_volume(&volid.to_string())?;
        self.write_config(&config)
    }

    /// Hand the volume under `key` to container `target_vmid` as `target_key`, renaming it
    /// to the target's name, with pct's checks and messages.
    fn reassign_volume(
        &self,
        key: &str,
        target_vmid: Vmid,
        target_key: &str,
        options: &MoveVolumeOptions,
    ) -> Result<Vec<Warning>, Error> {
        if key == "rootfs" || target_key == "rootfs" {
            return Err(refused(MoveProblem::Rootfs));
        }
        if is_unused_key(key) && !is_unused_key(target_key) {
            return Err(refused(MoveProblem::UnusedToUsed));
        }
        let target = self.host.container(target_vmid);
        for ct in [self, &target] {
            if !ct.exists() {
                return Err(refused(MoveProblem::NoContainer { vmid: ct.vmid }));
            }
        }
        let same = target_vmid == self.vmid;
        let _source_lock = self.lock()?;
        // A second flock on the same file from this process would wait for itself.
        let _target_lock = if same { None } else { Some(target.lock()?) };

        let (mut source_config, source_digest) = self.config_and_digest()?;
        check_lock(&source_config)?;
        let (mut target_config, target_digest) = if same {
            (source_config.clone(), source_digest.clone())
        } else {
            let (config, digest) = target.config_and_digest()?;
            check_lock(&config)?;
            (config, digest)
        };
        if source_config.main.flag("template") || target_config.main.flag("template") {
            return Err(refused(MoveProblem::Template));
        }
        let changed = |given: &Option<String>, current: &str, vmid: Vmid| match given.as_deref() {
            Some(d) if !d.is_empty() && d != current => {
                Err(Error::ConfigChanged { vmid }.context(&format!("Container {vmid}:")))
            }
            _ => Ok(()),
        };
        changed(&options.digest, &source_digest, self.vmid)?;
        changed(&options.target_digest, &target_digest, target_vmid)?;
        let Some(value) = source_config.main.get(key).map(str::to_string) else {
            return Err(refused(MoveProblem::NoVolume {
                key: key.to_string(),
                vmid: self.vmid,
            }));
        };
        if target_config.main.has(target_key) {
            return Err(refused(MoveProblem::KeyInUse {
                key: target_key.to_string(),
                vmid: target_vmid,
            }));
        }
        let mut drive = parse_volume_entry(key, &value)?;
        if used_by_snapshots(&source_config, &drive.volume) {
            return Err(refused(MoveProblem::UsedBySnapshot));
        }
        let storage = self.host.storage_config()?;
        // A path (bind mount or device) has no storage features, so pct's first refusal of
        // it is this one.
        let volid = match drive.kind() {
            MountKind::Volume => VolumeId::parse(&drive.volume)?,
            _ => {
                return Err(refused(MoveProblem::NoRename));
            }
        };
        if !storage.volume_has_feature(Feature::Rename, &volid, None) {
            return Err(refused(MoveProblem::NoRename));
        }
        if self.is_running() && !is_unused_key(key) {
            return Err(refused(MoveProblem::InUse));
        }

        let observer = self.host.observer();
        observer.info(format!(
            "moving volume '{key}' from container '{}' to '{target_vmid}'",
            self.vmid
        ));
        let new = storage.rename_volume(&volid, target_vmid.get(), None)?;
        drive.volume = new.to_string();
        source_config.main.remove(key);
        observer.info(format!(
            "removing volume '{key}' from container '{}' config",
            self.vmid
        ));
        if let Err(error) = self.write_config(&source_config) {
            // Give the volume its old owner back, so that the config still names it.
            let old_name = volid.name.rsplit('/').next();
            let left = match storage.rename_volume(&new, self.vmid.get(), old_name) {
                Ok(back) if back == volid => Vec::new(),
                Ok(back) => vec![format!("volume '{volid}' is now '{back}'")],
                Err(e) => vec![format!("volume '{volid}' is now '{new}': {e}")],
            };
            return Err(Error::with_leftovers(error, left));
        }
        if same {
            // The source's key is gone from what the target writes, too.
            target_config = source_config;
        }
        let mut warnings = Vec::new();
        if is_unused_key(target_key) {
            target_config.main.set(target_key, new.to_string());
        } else {
            let request = SetRequest {
                set: vec![(target_key.to_string(), drive.to_string())],
                ..SetRequest::default()
            };
            warnings = target_config.update(&request, !target.is_running())?;
        }
        target.write_config(&target_config)?;
        observer.info(format!(
            "target container '{target_vmid}' updated with '{target_key}'"
        ));
        Ok(warnings)
    }
}

/// pct's `copy_volume`: mount `from` (its snapshot `snap` when given) read-only and `to` in
/// a mount namespace of their own, below `staging` (`var/lib/lxc/<vmid>`), and copy with
/// rsync as pct does. A snapshot or a template's base volume is mounted `ro,noload`.
pub(crate) fn copy_volume_data(
    host: &Host,
    storage: &StorageConfig,
    (from, snap): (&VolumeId, Option<&str>),
    to: &VolumeId,
    staging: &Path,
    bwlimit_kib: u64,
) -> Result<(), Error> {
    storage.activate_volume(from)?;
    storage.activate_volume(to)?;
    let frozen = snap.is_some() || storage.is_base_volume(from);
    let source = match snap {
        Some(snap) => storage.activate_volume_snapshot(from, snap)?,
        None => storage.volume_source(from)?,
    };
    if snap.is_none()
        && let VolumeSource::RawImage(image) = &source
    {
        super::resize::wait_until_released(image, from)?;
    }
    let destination = storage.volume_source(to)?;
    let dest_dir = staging.join(".copy-volume-1");
    let src_dir = staging.join(".copy-volume-2");
    for dir in [&dest_dir, &src_dir] {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("unable to create '{}'", dir.display()), e))?;
    }
    let copied = in_private_mount_namespace(|| -> Result<(), Error> {
        let result = (|| {
            if frozen {
                mount_volume_frozen(&source, None, &src_dir)?;
            } else {
                mount_volume(&source, None, &src_dir, true)?;
            }
            mount_volume(&destination, None, &dest_dir, false)?;
            rsync(host, &src_dir, &dest_dir, bwlimit_kib)
        })();
        // Taken down here so that the volumes are free when this returns; the namespace
        // takes them down anyway should this thread die.
        let dest_down = unmount_tree(&dest_dir);
        let src_down = unmount_tree(&src_dir);
        result?;
        dest_down?;
        src_down?;
        Ok(())
    })
    .map_err(|e| Error::io("unable to enter a private mount namespace", e))
    .and_then(|copied| copied);
    // Left behind should another copy be using them; they are empty directories.
    let _ = std::fs::remove_dir(&dest_dir);
    let _ = std::fs::remove_dir(&src_dir);
    // As pct: neither LV stays active for a stopped container. One left active does no
    // harm on a single node, so a failure here is not the copy's.
    let _ = storage.deactivate_volume(to);
    match snap {
        None => drop(storage.deactivate_volume(from)),
        Some(snap) => drop(storage.deactivate_volume_snapshot(from, snap)),
    }
    copied
}

fn rsync(host: &Host, from: &Path, to: &Path, bwlimit_kib: u64) -> Result<(), Error> {
    let mut source = from.as_os_str().to_owned();
    source.push("/");
    let mut command = Command::new("rsync");
    command
        .args([
            "--stats",
            "-X",
            "-A",
            "--numeric-ids",
            "-aH",
            "--whole-file",
            "--sparse",
            "--one-file-system",
        ])
        .arg(format!("--bwlimit={bwlimit_kib}"))
        .arg(&source)
        .arg(to)
        .stdin(Stdio::null());
    let output = command.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            refused(MoveProblem::NoRsync)
        } else {
            Error::io("unable to run rsync", e)
        }
    })?;
    let observer = host.observer();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        observer.info(line);
    }
    if !output.status.success() {
        return Err(super::resize::program_failed(
            super::resize::shown_command(&command),
            &output,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vmid(n: u32) -> Vmid {
        n.to_string().parse().unwrap()
    }

    #[test]
    fn exactly_one_of_storage_and_target_vmid() {
        let both = MoveTarget::from_args(Some("local"), Some(vmid(101)), None).unwrap_err();
        assert!(
            matches!(
                both,
                Error::MoveVolume {
                    problem: MoveProblem::StorageAndTargetVmid
                }
            ),
            "{both:?}"
        );
        assert_eq!(
            both.to_string(),
            "either set storage or target-vmid, but not both"
        );
        let neither = MoveTarget::from_args(None, None, None).unwrap_err();
        let Error::Parameters(errors) = neither else {
            panic!("parameter errors expected");
        };
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["storage", "target-vmid"]);
        assert!(errors.iter().all(
            |e| e.message == "both 'storage' and 'target-vmid' missing, either needs to be set"
        ));
        assert_eq!(
            MoveTarget::from_args(Some("local"), None, Some("mp3")).unwrap(),
            MoveTarget::Storage("local".into())
        );
        assert_eq!(
            MoveTarget::from_args(None, Some(vmid(101)), Some("unused2")).unwrap(),
            MoveTarget::Container {
                vmid: vmid(101),
                key: Some("unused2".into())
            }
        );
        let bad = MoveTarget::from_args(None, Some(vmid(101)), Some("net0")).unwrap_err();
        let Error::Parameters(errors) = bad else {
            panic!("parameter error expected");
        };
        assert_eq!(errors[0].key, "target-volume");
        assert!(
            errors[0]
                .message
                .starts_with("value 'net0' does not have a value in the enumeration 'rootfs, mp0,"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn each_problem_reads_as_pct_words_it() {
        let cases = [
            (
                MoveProblem::Running,
                "cannot move volumes of a running container",
            ),
            (
                MoveProblem::UnusedToStorage {
                    key: "unused0".into(),
                },
                "cannot move volume 'unused0', only configured volumes can be moved to another \
                 storage",
            ),
            (
                MoveProblem::NotConfigured,
                "format error\nvolume: property is missing and it is not optional",
            ),
            (
                MoveProblem::SnapshotsAndDelete,
                "you can't move a volume with snapshots and delete the source",
            ),
            (
                MoveProblem::NotAVolume {
                    kind: MountKind::Bind,
                },
                "cannot copy volumes of type bind",
            ),
            (
                MoveProblem::NotAVolume {
                    kind: MountKind::Device,
                },
                "cannot copy volumes of type device",
            ),
            (
                MoveProblem::NoRootdir {
                    storage: "isos".into(),
                },
                "content type 'rootdir' is not available or configured on storage 'isos'",
            ),
            (
                MoveProblem::NoRsync,
                "unable to copy the volume: rsync is not installed (Debian package 'rsync')",
            ),
            (MoveProblem::Rootfs, "Cannot move to/from 'rootfs'"),
            (
                MoveProblem::UnusedToUsed,
                "Moving an unused volume to a used one is not possible",
            ),
            (
                MoveProblem::NoContainer { vmid: vmid(10398) },
                "could not find CT 10398",
            ),
            (
                MoveProblem::Template,
                "Can't move volumes from or to template CT",
            ),
            (
                MoveProblem::NoVolume {
                    key: "mp5".into(),
                    vmid: vmid(10306),
                },
                "volume 'mp5' for container '10306' does not exist",
            ),
            (
                MoveProblem::KeyInUse {
                    key: "mp3".into(),
                    vmid: vmid(10307),
                },
                "Target volume key 'mp3' is already in use for container '10307'",
            ),
            (
                MoveProblem::UsedBySnapshot,
                "Cannot move volume used by a snapshot to another container",
            ),
            (
                MoveProblem::NoRename,
                "Storage does not support moving of this disk to another container",
            ),
            (
                MoveProblem::InUse,
                "Cannot move in-use volume while the source CT is running - detach or shutdown \
                 first",
            ),
        ];
        for (problem, words) in cases {
            let error = Error::MoveVolume { problem };
            assert_eq!(error.to_string(), words, "{error:?}");
        }
    }

    #[test]
    fn volume_keys() {
        for good in ["rootfs", "mp0", "mp255", "unused0", "unused255"] {
            assert!(is_volume_key(good), "{good}");
        }
        for bad in [
            "mp256",
            "unused256",
            "unused",
            "unused+1",
            "mp01",
            "net0",
            "rootfs0",
        ] {
            assert!(!is_volume_key(bad), "{bad}");
        }
    }

    #[test]
    fn unused_entries_are_bare_volume_ids() {
        let mp = parse_volume_entry("unused0", "local:100/vm-100-disk-1.raw").unwrap();
        assert_eq!(mp.volume, "local:100/vm-100-disk-1.raw");
        assert_eq!(mp.to_string(), "local:100/vm-100-disk-1.raw");
    }
}
