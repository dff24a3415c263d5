//! `pct set`, `pct pending`, `pct unlock`, `pct mount` and `pct unmount`: operations that
//! change a config (or its lock) under the config lock.

use super::create::{
    allocation_size, check_volume, fill_net_defaults, is_mp_key, is_net_key, parse_mount_point,
};
use super::{Container, Error, check_lock};
use crate::config::{Config, PendingChange, SetRequest, Warning};
use crate::mount::unmount_tree;
use crate::storage::{Allocation, VolumeId};

impl Container<'_> {
    /// `pct set`. Values are validated; for a stopped container they take effect at once; for
    /// a running one what pct hotplugs (limits, config-only keys) does too, and the rest waits
    /// in `[pve:pending]` for the next start.
    /// `digest` refuses the change when the file changed since it was read.
    pub fn set(&self, request: &SetRequest, digest: Option<&str>) -> Result<Vec<Warning>, Error> {
        if request.set.is_empty() && request.delete.is_empty() && request.revert.is_empty() {
            return Err(Error::Failed("no options specified".into()));
        }
        let errors: Vec<super::ParamError> = request
            .set
            .iter()
            .filter_map(|(key, value)| {
                crate::config::check_option(key, value)
                    .err()
                    .map(|e| super::ParamError {
                        key: key.clone(),
                        message: e.0,
                    })
            })
            .collect();
        if !errors.is_empty() {
            return Err(Error::Parameters(errors));
        }
        let _lock = self.lock()?;
        let (mut config, current_digest) = self.config_and_digest()?;
        check_lock(&config)?;
        if let Some(digest) = digest
            && !digest.is_empty()
            && digest != current_digest
        {
            return Err(Error::Failed(
                "detected modified configuration - file changed by other user? Try again.".into(),
            ));
        }
        let storage = self.host.storage_config()?;
        let root_owner = super::create::volume_root_owner(&config)?;
        let mut allocated: Vec<VolumeId> = Vec::new();
        let mut prepared: Vec<crate::storage::PreparedVolume> = Vec::new();
        let result = (|| {
            let mut request = request.clone();
            for (key, value) in request.set.iter_mut() {
                if key == "rootfs" || is_mp_key(key) {
                    let mut mp = parse_mount_point(key, value)?;
                    check_volume(&storage, key, &mp)?;
                    if let Some(allocation) = Allocation::parse(&mp.volume) {
                        let size = allocation_size(key, &allocation)?;
                        let volume = storage.prepare_disk_owned(
                            &allocation.storage,
                            self.vmid.get(),
                            size,
                            root_owner,
                        )?;
                        mp.volume = volume.volid().to_string();
                        prepared.push(volume);
                        mp.size = Some(size);
                        *value = mp.to_string();
                    }
                } else if is_net_key(key) {
                    let normalized = crate::config::check_option(key, value)
                        .map_err(|e| Error::param(key.as_str(), e.0))?;
                    *value = fill_net_defaults(self, &normalized)?;
                }
            }
            let before = config.main.unused();
            let running = self.is_running();
            let mut warnings = config.update(&request, !running)?;
            if running {
                warnings.extend(self.hotplug(&mut config)?);
            }
            // New volumes get their names between writing the config that names them and
            // putting it in place: a kill at any point before leaves no volume behind (the
            // unnamed image goes with the process), and one after leaves them named.
            let staged = self.stage_config(&config)?;
            for volume in prepared.drain(..) {
                allocated.push(volume.commit()?);
            }
            staged.commit()?;
            // A deleted unusedN takes its volume with it, as in pct; one still referenced
            // elsewhere (rootfs, mpN, another unusedN, a snapshot) stays.
            let still_used = referenced_volume_texts(&config);
            for (index, volume) in before {
                let deleted = config.main.get(&format!("unused{index}")).is_none();
                if deleted && !still_used.contains(&volume) {
                    match VolumeId::parse(&volume)
                        .map_err(Error::from)
                        .and_then(|volid| Ok(storage.free_volume(&volid)?))
                    {
                        Ok(()) => {}
                        Err(e) => warnings
                            .push(Warning(format!("unable to free volume '{volume}' - {e}"))),
                    }
                }
            }
            Ok(warnings)
        })();
        // Volumes still unnamed vanish with `prepared`.
        drop(prepared);
        if let Err(error) = result {
            let left: Vec<String> = allocated
                .iter()
                .rev()
                .filter_map(|volid| {
                    let e = self.free_volume(&storage, volid).err()?;
                    Some(format!("unable to free volume '{volid}' - {e}"))
                })
                .collect();
            return Err(Error::with_leftovers(error, left));
        }
        result
    }

    /// `pct pending`.
    pub fn pending(&self) -> Result<Vec<PendingChange>, Error> {
        Ok(self.config()?.pending_changes())
    }

    /// `pct unlock`: remove whatever lock is set.
    pub fn unlock(&self) -> Result<(), Error> {
        self.remove_lock(None)
    }

    /// Remove the lock, which must be `expected` when given (pct's `remove_lock`).
    pub fn remove_lock(&self, expected: Option<&str>) -> Result<(), Error> {
        let _lock = self.lock()?;
        let mut config = self.config()?;
        match (config.main.lock(), expected) {
            (None, expected) => {
                let what = expected
                    .map(|lock| format!("'{lock}' "))
                    .unwrap_or_else(|| "any".into());
                return Err(Error::Failed(format!(
                    "no lock found trying to remove {what} lock"
                )));
            }
            (Some(found), Some(expected)) if found != expected => {
                return Err(Error::Failed(format!(
                    "found lock '{found}' trying to remove '{expected}' lock"
                )));
            }
            _ => {}
        }
        config.main.remove("lock");
        self.write_config(&config)
    }

    /// Set a lock on an unlocked config (pct's `set_lock`); returns the config as locked.
    pub fn set_lock(&self, lock: &str) -> Result<Config, Error> {
        let _lock = self.lock()?;
        let mut config = self.config()?;
        check_lock(&config)?;
        config.main.set("lock", lock.into());
        self.write_config(&config)?;
        Ok(config)
    }

    /// `pct mount`: lock `mounted` and mount every volume at `var/lib/lxc/<vmid>/rootfs`.
    pub fn mount(&self) -> Result<std::path::PathBuf, Error> {
        let _lock = self.lock()?;
        let (config, warnings) = self.config_with_warnings()?;
        self.host.report_warnings(&warnings);
        check_lock(&config)?;
        if self.running_init().is_some() {
            // Its volumes are in use by the container: a second mount would bypass it.
            return Err(Error::running(self.vmid, "mount"));
        }
        let storage = self.host.storage_config()?;
        let mut locked = config.clone();
        locked.main.set("lock", "mounted".into());
        self.write_config(&locked)?;
        match self.mount_volumes(&config.main, &storage) {
            Ok(mounted) => Ok(mounted.keep()),
            Err(e) => {
                // Unlike pct, a failed mount leaves no `mounted` lock behind.
                self.write_config(&config)?;
                Err(e)
            }
        }
    }

    /// `pct unmount`.
    pub fn unmount(&self) -> Result<(), Error> {
        {
            let _lock = self.lock()?;
            let config = self.config()?;
            unmount_tree(&self.rootfs_dir())?;
            let storage = self.host.storage_config()?;
            for warning in super::volumes::deactivate_volumes(&storage, &config.main) {
                self.host.observer().warning(warning);
            }
        }
        self.remove_lock(Some("mounted"))
    }
}

/// Every volume id a config still names: rootfs, mpN and unusedN of every section.
fn referenced_volume_texts(config: &Config) -> Vec<String> {
    let mut volumes = Vec::new();
    for section in [&config.main, &config.pending]
        .into_iter()
        .chain(config.snapshots.values())
    {
        let points = section
            .rootfs()
            .into_iter()
            .chain(section.mount_points().into_iter().map(|(_, mp)| mp));
        volumes.extend(points.flatten().map(|mp| mp.volume));
        volumes.extend(section.unused().into_iter().map(|(_, volume)| volume));
    }
    volumes
}
