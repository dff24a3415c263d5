//! `pct clone`: a new container made of an existing one (or of one of its snapshots). Full
//! clones copy every volume (to any storage, with rsync as `pct move-volume` does); linked
//! clones, the default for templates, let the storage make a copy-on-write child of each
//! base volume. The source holds `lock: disk` and the new container `lock: create` while it
//! runs; every NIC gets a new MAC and the guest a new machine-id. A failed clone leaves no
//! config and no volume of the new container behind.

use super::move_volume::copy_volume_data;
use super::pool::Pools;
use super::template::section_mount_points;
use super::{Container, Error};
use crate::config::{Config, MountKind, MountPoint, NetDevice, Section, Vmid};
use crate::setup::{GuestConfig, Hook, HostEnv, OsRandom, SetupRequest};
use crate::storage::{StorageConfig, VolumeId};

/// What `pct clone <vmid> <newid>` was given besides the ids.
#[derive(Debug, Clone, Default)]
pub struct CloneOptions {
    /// The new container's host name (pct's `--hostname`).
    pub hostname: Option<String>,
    /// The new container's description.
    pub description: Option<String>,
    /// Copy every volume (`true`) or make linked clones (`false`); `None`: linked for a
    /// template, full otherwise, as pct.
    pub full: Option<bool>,
    /// Clone this snapshot of the source instead of its current state.
    pub snapname: Option<String>,
    /// Target storage of a full clone (each volume's own storage when `None`).
    pub storage: Option<String>,
    /// Target node: this node (or `localhost`) only, as corral has no cluster.
    pub target: Option<String>,
    /// Bandwidth limit of the copies in KiB/s; `None` or 0 for none.
    pub bwlimit: Option<u64>,
    /// Add the new container to this resource pool (pct's `--pool`).
    pub pool: Option<String>,
}

/// Why `pct clone` refused ([`Error::Clone`]); `Display` is pct's message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloneProblem {
    /// `--target` names a node other than this one.
    NoSuchNode {
        /// The node asked for.
        node: String,
    },
    /// `--storage` with a linked clone.
    StorageForLinkedClone,
    /// `--snapname` of a snapshot the source does not have.
    NoSnapshot {
        /// The snapshot asked for.
        name: String,
    },
    /// A full clone of a running container's current state.
    RunningFullClone,
    /// A linked clone of a volume its storage cannot clone.
    LinkedCloneNotAvailable {
        /// The volume.
        volume: String,
    },
    /// A bind mount or a device mount point, which has no volume to clone.
    NotAVolume {
        /// `rootfs` or `mpN`.
        key: String,
        /// What it is.
        kind: MountKind,
    },
    /// The new container's config lost its `lock: create` while the clone ran.
    LostCreateLock,
    /// The source started or stopped between the checks and the clone.
    UnexpectedStateChange,
}

impl std::fmt::Display for CloneProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloneProblem::NoSuchNode { node } => write!(f, "no such cluster node '{node}'"),
            CloneProblem::StorageForLinkedClone => {
                f.write_str("parameter 'storage' not allowed for linked clones")
            }
            CloneProblem::NoSnapshot { name } => write!(f, "snapshot '{name}' does not exist"),
            CloneProblem::RunningFullClone => {
                f.write_str("Full clone of a running container is only possible from a snapshot")
            }
            CloneProblem::LinkedCloneNotAvailable { volume } => {
                write!(f, "Linked clone feature for '{volume}' is not available")
            }
            CloneProblem::NotAVolume { key, kind } => {
                let kind = if *kind == MountKind::Bind {
                    "bind"
                } else {
                    "device"
                };
                write!(f, "unable to clone mountpoint '{key}' (type {kind})")
            }
            CloneProblem::LostCreateLock => f.write_str("Lost 'create' config lock, aborting."),
            CloneProblem::UnexpectedStateChange => f.write_str("unexpected state change"),
        }
    }
}

impl std::error::Error for CloneProblem {}

fn refused(problem: CloneProblem) -> Error {
    Error::Clone { problem }
}

/// Snapshot bookkeeping and state a new container does not inherit.
const NOT_CLONED: [&str; 5] = ["parent", "snaptime", "snapstate", "template", "lock"];

/// The new container's config, made from the source `section` as pct's `clone_vm` makes it:
/// `unusedN` left out; rootfs and mpN left out too (they come in as their volumes are made)
/// and returned with their keys in config order, each passed to `check_mount` first, in
/// pct's (sorted) key order; every `netN` with a MAC from `new_mac`; snapshot keys,
/// `template` and the lock dropped, `lock: create` set; `hostname` and `description`
/// replaced when given.
pub(crate) fn new_config(
    source: &Section,
    newid: Vmid,
    options: &CloneOptions,
    check_mount: &mut dyn FnMut(&str, &MountPoint) -> Result<(), Error>,
    new_mac: &mut dyn FnMut() -> String,
) -> Result<(Config, Vec<(String, MountPoint)>), Error> {
    let mount_points = section_mount_points(source)?;
    let mut main = source.clone();
    main.delete = None;
    let keys: Vec<String> = main.options.keys().cloned().collect();
    for key in keys {
        if super::move_volume::is_indexed_key(&key, "unused")
            || key == "rootfs"
            || super::move_volume::is_indexed_key(&key, "mp")
            || NOT_CLONED.contains(&key.as_str())
        {
            if let Some((_, mp)) = mount_points.iter().find(|(k, _)| *k == key) {
                check_mount(&key, mp)?;
            }
            main.options.remove(&key);
        } else if super::move_volume::is_indexed_key(&key, "net") {
            let value = &main.options[&key];
            let mut net = NetDevice::parse(value).map_err(|source| Error::ConfigValue {
                key: key.clone(),
                source,
            })?;
            net.hwaddr = Some(new_mac());
            main.options.insert(key, net.to_string());
        }
    }
    main.set("lock", "create".into());
    if let Some(hostname) = options.hostname.as_deref().filter(|h| !h.is_empty()) {
        main.set("hostname", hostname.to_string());
    }
    if let Some(description) = options.description.as_deref().filter(|d| !d.is_empty()) {
        main.set("description", description.to_string());
    }
    let mut config = Config::new(newid);
    config.main = main;
    Ok((config, mount_points))
}

/// A mount point of the source and how it is cloned.
struct PlannedVolume {
    key: String,
    mp: MountPoint,
    volid: VolumeId,
}

impl Container<'_> {
    /// `pct clone <vmid> <newid>`, as pct: the checks before anything is made (node,
    /// storage, source lock, new id, snapshot, each mount point), then the new container
    /// with `lock: create` and each volume copied or cloned, the guest's post-clone fix-up
    /// (machine-id; corral also renews SSH host keys the source had), the new container
    /// added to `--pool`, and the lock removed.
    /// Progress lines go to the host's observer. A failure after the checks undoes the
    /// new container and reads `clone failed: <error>`. The source's `lock: disk` is
    /// removed whatever happens.
    pub fn clone_to(&self, newid: Vmid, options: &CloneOptions) -> Result<(), Error> {
        // pct checks the pool first of all.
        if let Some(pool) = options.pool.as_deref() {
            Pools::of(self.host).check(pool)?;
        }
        if let Some(hostname) = options.hostname.as_deref() {
            crate::config::check_option("hostname", hostname)
                .map_err(|e| Error::param("hostname", e.0))?;
        }
        if let Some(node) = options.target.as_deref()
            && node != self.host.node()
            && node != "localhost"
        {
            return Err(refused(CloneProblem::NoSuchNode {
                node: node.to_string(),
            }));
        }
        let storage = self.host.storage_config()?;
        if let Some(id) = options.storage.as_deref() {
            storage.enabled_storage(id)?;
        }
        let source_config = self.set_lock("disk")?;
        let target = self.host.container(newid);
        if let Err(error) = target.create_and_lock_config(false) {
            self.release_disk_lock();
            return Err(error);
        }
        let running = self.is_running();
        let (config, volumes, full) =
            match self.plan_clone(&storage, &source_config, &target, options, running) {
                Ok(planned) => planned,
                Err(error) => {
                    self.release_disk_lock();
                    if let Err(e) = target.remove_locked_config() {
                        self.host
                            .observer()
                            .warning(format!("Failed to remove target CT config - {e}"));
                    }
                    return Err(error);
                }
            };
        let mut made = Vec::new();
        let cloned = self.clone_volumes(
            &storage, &target, config, &volumes, full, options, running, &mut made,
        );
        self.release_disk_lock();
        match cloned {
            Ok(()) => {}
            Err(error) => {
                let mut left = Vec::new();
                for volid in &made {
                    if let Err(e) = target.free_volume(&storage, volid) {
                        left.push(format!("unable to free volume '{volid}' - {e}"));
                    }
                }
                if let Err(e) = target.remove_locked_config() {
                    left.push(format!("Failed to remove target CT config - {e}"));
                }
                // The (empty) directories the copy and the fix-up mounted on.
                let rootfs_dir = target.rootfs_dir();
                let _ = std::fs::remove_dir(&rootfs_dir);
                let _ = rootfs_dir.parent().map(std::fs::remove_dir);
                return Err(Error::with_leftovers(error.context("clone failed:"), left));
            }
        }
        target.edit_created(|current| {
            let mut current = current.clone();
            current.main.remove("lock");
            Ok(current)
        })
    }

    /// The checks and the new config of a clone (pct's steps before its worker); writes the
    /// new config. Returns it, the volumes to clone and whether the clone is full.
    fn plan_clone(
        &self,
        storage: &StorageConfig,
        source_config: &Config,
        target: &Container<'_>,
        options: &CloneOptions,
        running: bool,
    ) -> Result<(Config, Vec<PlannedVolume>, bool), Error> {
        let full = options
            .full
            .unwrap_or_else(|| !source_config.main.flag("template"));
        if options.storage.is_some() && !full {
            return Err(refused(CloneProblem::StorageForLinkedClone));
        }
        let section = match options.snapname.as_deref() {
            Some(name) => source_config.snapshots.get(name).ok_or_else(|| {
                refused(CloneProblem::NoSnapshot {
                    name: name.to_string(),
                })
            })?,
            None => &source_config.main,
        };
        let snap = options.snapname.as_deref();
        let mut check_mount = |key: &str, mp: &MountPoint| -> Result<(), Error> {
            if mp.kind() != MountKind::Volume {
                return Err(refused(CloneProblem::NotAVolume {
                    key: key.to_string(),
                    kind: mp.kind(),
                }));
            }
            let volid = VolumeId::parse(&mp.volume)?;
            if full {
                if running && snap.is_none() {
                    return Err(refused(CloneProblem::RunningFullClone));
                }
            } else if !storage.can_clone_linked(&volid, snap) {
                return Err(refused(CloneProblem::LinkedCloneNotAvailable {
                    volume: mp.volume.clone(),
                }));
            }
            Ok(())
        };
        let prefix = super::create::mac_prefix(self.host);
        let mut new_mac = || super::create::random_mac(&prefix, &mut OsRandom);
        let (config, mount_points) = new_config(
            section,
            target.vmid,
            options,
            &mut check_mount,
            &mut new_mac,
        )?;
        let volumes = mount_points
            .into_iter()
            .map(|(key, mp)| {
                let volid = VolumeId::parse(&mp.volume)?;
                Ok(PlannedVolume { key, mp, volid })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        target.edit_created(|_| Ok(config.clone()))?;
        Ok((config, volumes, full))
    }

    /// pct's clone worker: each volume copied or cloned and named in the new config as soon
    /// as it exists (and pushed to `made`), then the guest fix-up.
    #[allow(clippy::too_many_arguments)]
    fn clone_volumes(
        &self,
        storage: &StorageConfig,
        target: &Container<'_>,
        mut config: Config,
        volumes: &[PlannedVolume],
        full: bool,
        options: &CloneOptions,
        running: bool,
        made: &mut Vec<VolumeId>,
    ) -> Result<(), Error> {
        let observer = self.host.observer();
        observer.info(format!(
            "creating a clone of container {} with ID {}",
            self.vmid, target.vmid
        ));
        if self.is_running() != running {
            return Err(refused(CloneProblem::UnexpectedStateChange));
        }
        let snap = options.snapname.as_deref();
        let root_owner = super::create::volume_root_owner(&config)?;
        let staging = self.host.path(&format!("var/lib/lxc/{}", target.vmid));
        for planned in volumes {
            let (key, volid) = (&planned.key, &planned.volid);
            if full {
                observer.info(format!(
                    "create full clone of mountpoint {key} ({})",
                    planned.mp.volume
                ));
                storage.activate_volume(volid)?;
                let size = storage.volume_size(volid)?;
                let target_storage = options.storage.as_deref().unwrap_or(&volid.storage);
                let new = storage.alloc_disk_owned(
                    target_storage,
                    target.vmid.get(),
                    size,
                    root_owner,
                )?;
                made.push(new.clone());
                self.record_volume(target, &mut config, planned, &new, Some(size))?;
                copy_volume_data(
                    self.host,
                    storage,
                    (volid, snap),
                    &new,
                    &staging,
                    options.bwlimit.unwrap_or(0),
                )?;
            } else {
                observer.info(format!(
                    "create linked clone of mount point {key} ({})",
                    planned.mp.volume
                ));
                let new = storage.clone_volume(volid, snap, target.vmid.get())?;
                made.push(new.clone());
                self.record_volume(target, &mut config, planned, &new, planned.mp.size)?;
            }
        }
        let _ = std::fs::remove_dir(&staging);
        target.post_clone_fixup(storage, &config)?;
        // pct adds the clone to its pool before the guest fix-up, and a fix-up that fails
        // then leaves the pool naming a container that is gone; here it comes last, so
        // that a failed clone is in no pool.
        match options.pool.as_deref() {
            Some(pool) => Pools::of(self.host).add(target.vmid, pool),
            None => Ok(()),
        }
    }

    /// Name a new volume in the new container's config, under the key of the one it was
    /// made from, keeping that mount point's other options.
    fn record_volume(
        &self,
        target: &Container<'_>,
        config: &mut Config,
        planned: &PlannedVolume,
        new: &VolumeId,
        size: Option<u64>,
    ) -> Result<(), Error> {
        let mut mp = planned.mp.clone();
        mp.volume = new.to_string();
        if size.is_some_and(|s| s > 0) {
            mp.size = size;
        }
        config.main.set(&planned.key, mp.to_string());
        let value = mp.to_string();
        target.edit_created(|current| {
            let mut current = current.clone();
            current.main.set(&planned.key, value.clone());
            Ok(current)
        })
    }

    /// Edit the config of a container being made, under its lock, refusing when its
    /// `lock: create` is gone (pct's `Lost 'create' config lock`).
    fn edit_created(
        &self,
        edit: impl FnOnce(&Config) -> Result<Config, Error>,
    ) -> Result<(), Error> {
        let _lock = self.lock()?;
        let current = self.config()?;
        if current.main.lock() != Some("create") {
            return Err(refused(CloneProblem::LostCreateLock));
        }
        self.write_config(&edit(&current)?)
    }

    /// Remove the config of a container being made (still `lock: create`).
    fn remove_locked_config(&self) -> Result<(), Error> {
        let _lock = self.lock()?;
        if self.config()?.main.lock() != Some("create") {
            return Err(refused(CloneProblem::LostCreateLock));
        }
        self.remove_config()
    }

    /// Remove the source's `lock: disk`; a failure is the host observer's warning, as pct.
    fn release_disk_lock(&self) {
        if let Err(e) = self.remove_lock(Some("disk")) {
            self.host
                .observer()
                .warning(format!("Failed to remove source CT config lock - {e}"));
        }
    }

    /// pct's `post_clone_hook`: the new container's volumes mounted read-write (in a mount
    /// namespace of their own, so nothing stays mounted should the process die) and the
    /// guest setup's post-clone pipeline run on them.
    fn post_clone_fixup(&self, storage: &StorageConfig, config: &Config) -> Result<(), Error> {
        // pct mounts every volume writable here, `ro` mount points included.
        let mut section = config.main.clone();
        for (key, mut mp) in section_mount_points(&config.main)? {
            if mp.ro.is_some() {
                mp.ro = None;
                section.set(&key, mp.to_string());
            }
        }
        let owner = if config.main.flag("unprivileged") {
            Some(super::create::volume_root_owner(config)?)
        } else {
            None
        };
        let guest = GuestConfig::from_section(&config.main)?;
        let host_env = HostEnv::read(self.host.root());
        crate::mount::in_private_mount_namespace(|| -> Result<(), Error> {
            let mounted = self.mount_volumes(&section, storage)?;
            let request = SetupRequest {
                rootfs: mounted.rootfs(),
                owner,
                conf: &guest,
                host: &host_env,
                hook: Hook::PostClone,
            };
            let result = crate::setup::run(&request);
            let report = match &result {
                Ok(outcome) => &outcome.report,
                Err(failure) => &failure.report,
            };
            let observer = self.host.observer();
            for warning in &report.warnings {
                observer.warning(warning.clone());
            }
            for message in &report.messages {
                observer.info(message.clone());
            }
            let synced = mounted.sync();
            let unmounted = mounted.unmount();
            if let Err(lost) = synced {
                return Err(lost.into_error());
            }
            result.map_err(|failure| Error::Setup(failure.error))?;
            unmounted
        })
        .map_err(|e| Error::io("unable to create a mount namespace", e))??;
        for warning in super::volumes::deactivate_volumes(storage, &config.main) {
            self.host.observer().warning(warning);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ParseMode;

    const SOURCE: &str = "\
arch: amd64
description: the source
hostname: web
lock: disk
memory: 1024
mp0: local:100/vm-100-disk-1.raw,mp=/srv,size=1G
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth
net1: name=eth1,bridge=vmbr1,hwaddr=BC:24:11:00:00:02,type=veth
ostype: debian
parent: first
rootfs: local:100/vm-100-disk-0.raw,size=4G
template: 1
unused0: local:100/vm-100-disk-2.raw
lxc.apparmor.profile: unconfined

[first]
hostname: web-old
rootfs: local:100/vm-100-disk-0.raw,size=2G
snaptime: 1700000000
";

    fn source() -> Config {
        Config::parse("100".parse().unwrap(), SOURCE.as_bytes(), ParseMode::Strict)
            .unwrap()
            .0
    }

    /// The new config, its mount points, and the keys checked in order.
    type Built = (Config, Vec<(String, MountPoint)>, Vec<String>);

    fn build(section: &Section, options: &CloneOptions) -> Result<Built, Error> {
        let mut checked = Vec::new();
        let mut macs = 0;
        let (config, mounts) = new_config(
            section,
            "200".parse().unwrap(),
            options,
            &mut |key, _| {
                checked.push(key.to_string());
                Ok(())
            },
            &mut || {
                macs += 1;
                format!("BC:24:11:AA:00:{macs:02X}")
            },
        )?;
        Ok((config, mounts, checked))
    }

    #[test]
    fn the_new_config_drops_volumes_snapshots_and_state_and_gets_new_macs() {
        let source = source();
        let (config, mounts, checked) = build(&source.main, &CloneOptions::default()).unwrap();
        assert_eq!(config.vmid.get(), 200);
        let text = config.write().unwrap();
        assert_eq!(
            text,
            "#the source\narch: amd64\nhostname: web\nlock: create\nmemory: 1024\n\
             net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:AA:00:01,ip=dhcp,type=veth\n\
             net1: name=eth1,bridge=vmbr1,hwaddr=BC:24:11:AA:00:02,type=veth\n\
             ostype: debian\nlxc.apparmor.profile: unconfined\n"
        );
        assert!(config.snapshots.is_empty() && config.pending.is_empty());
        let keys: Vec<&str> = mounts.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["rootfs", "mp0"]);
        assert_eq!(mounts[1].1.volume, "local:100/vm-100-disk-1.raw");
        // pct checks mount points in sorted key order.
        assert_eq!(checked, ["mp0", "rootfs"]);
    }

    #[test]
    fn hostname_and_description_replace_the_sources() {
        let options = CloneOptions {
            hostname: Some("copy".into()),
            description: Some("made by clone".into()),
            ..CloneOptions::default()
        };
        let (config, _, _) = build(&source().main, &options).unwrap();
        assert_eq!(config.main.get("hostname"), Some("copy"));
        assert_eq!(config.main.get("description"), Some("made by clone"));
    }

    #[test]
    fn a_snapshot_section_is_cloned_without_its_bookkeeping() {
        let source = source();
        let (config, mounts, _) =
            build(&source.snapshots["first"], &CloneOptions::default()).unwrap();
        assert_eq!(config.main.get("hostname"), Some("web-old"));
        assert_eq!(config.main.get("snaptime"), None);
        assert_eq!(config.main.get("rootfs"), None);
        assert_eq!(mounts[0].1.size, Some(2 << 30));
    }

    #[test]
    fn a_refused_mount_point_stops_the_build() {
        let result = new_config(
            &source().main,
            "200".parse().unwrap(),
            &CloneOptions::default(),
            &mut |_, mp| {
                Err(refused(CloneProblem::LinkedCloneNotAvailable {
                    volume: mp.volume.clone(),
                }))
            },
            &mut || unreachable!("no MAC before the mount points are checked"),
        );
        assert_eq!(
            result.unwrap_err().to_string(),
            "Linked clone feature for 'local:100/vm-100-disk-1.raw' is not available"
        );
    }

    #[test]
    fn each_problem_reads_as_pct_words_it() {
        let cases = [
            (
                CloneProblem::NoSuchNode {
                    node: "pve2".into(),
                },
                "no such cluster node 'pve2'",
            ),
            (
                CloneProblem::StorageForLinkedClone,
                "parameter 'storage' not allowed for linked clones",
            ),
            (
                CloneProblem::NoSnapshot { name: "s1".into() },
                "snapshot 's1' does not exist",
            ),
            (
                CloneProblem::RunningFullClone,
                "Full clone of a running container is only possible from a snapshot",
            ),
            (
                CloneProblem::LinkedCloneNotAvailable {
                    volume: "local:100/base-100-disk-0.raw".into(),
                },
                "Linked clone feature for 'local:100/base-100-disk-0.raw' is not available",
            ),
            (
                CloneProblem::NotAVolume {
                    key: "mp1".into(),
                    kind: MountKind::Device,
                },
                "unable to clone mountpoint 'mp1' (type device)",
            ),
            (
                CloneProblem::LostCreateLock,
                "Lost 'create' config lock, aborting.",
            ),
            (
                CloneProblem::UnexpectedStateChange,
                "unexpected state change",
            ),
        ];
        for (problem, words) in cases {
            assert_eq!(refused(problem).to_string(), words);
        }
    }
}
