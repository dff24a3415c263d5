//! `pct create`: validate everything first, reserve the id with `lock: create`, allocate the
//! volumes, extract the template into them, detect arch and ostype, and write the config;
//! then add it to `--pool`. Any failure before that frees what was allocated and removes the
//! config again.

use std::fs;

use super::pool::Pools;
use super::{Container, Error, ParamError, RequestError};
use crate::config::{Config, IdKind, IdMap, MountPoint, NetDevice, check_option};
use crate::setup::{GuestConfig, Hook, HostEnv, OsRandom, RandomSource, SetupRequest};
use crate::storage::{
    Allocation, ContentType, ExtractOptions, StorageConfig, VolumeId, detect_arch, extract_template,
};

/// What `pct create <vmid> <ostemplate>` was given besides the id.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// `local:vztmpl/NAME.tar.zst` or a path (any bytes, as a path may have).
    pub template: std::ffi::OsString,
    /// Default storage for volumes given as bare sizes (pct's `--storage`, default `local`).
    pub storage: Option<String>,
    /// Config options (`memory`, `net0`, `rootfs`, ...) as raw CLI values.
    pub options: Vec<(String, String)>,
    /// Default: unprivileged.
    pub unprivileged: Option<bool>,
    /// Allow overwriting an existing config of a stopped container.
    pub force: bool,
    /// pct's `--ignore-unpack-errors`: members of the template that fail to extract are
    /// skipped.
    pub ignore_unpack_errors: bool,
    /// Report how far the extraction has come ([`Event::Progress`](crate::Event::Progress))
    /// to the host's observer; `pct` draws a progress bar from it on a terminal.
    pub progress: bool,
    /// Root's password inside the container: plain text, or a crypt hash used as it is.
    pub password: Option<String>,
    /// Public SSH keys for root's authorized_keys, one per line (OpenSSH format).
    pub ssh_public_keys: Option<String>,
    /// Add the new container to this resource pool (pct's `--pool`).
    pub pool: Option<String>,
    /// Once cancelled, the create stops at its next step, undoes what it did and fails with
    /// [`Error::Interrupted`].
    pub cancel: Option<crate::cancel::Cancel>,
}

impl CreateOptions {
    fn check_cancel(&self) -> Result<(), Error> {
        match &self.cancel {
            Some(cancel) if cancel.is_cancelled() => Err(Error::Interrupted),
            _ => Ok(()),
        }
    }
}

impl Container<'_> {
    /// `pct create`: allocate the volumes, extract the template, run guest setup and write the
    /// config; on failure undo all of it. Returns the config written.
    pub fn create(&self, options: &CreateOptions) -> Result<Config, Error> {
        let vmid = self.vmid;
        let storage_cfg = self.host.storage_config()?;
        let default_storage = options.storage.clone().unwrap_or_else(|| "local".into());
        let mut unprivileged = options.unprivileged.unwrap_or(true);

        let mut config = Config::new(vmid);
        let mut volumes: Vec<(String, String)> = Vec::new();
        let mut errors = Vec::new();
        for (key, value) in &options.options {
            if key == "unprivileged" {
                match check_option(key, value) {
                    Ok(normalized) => unprivileged = normalized == "1",
                    Err(e) => errors.push(ParamError {
                        key: key.clone(),
                        message: e.0,
                    }),
                }
            } else if key.starts_with("unused") && key[6..].parse::<u16>().is_ok() {
                self.host.observer().warning(format!(
                    "ignoring '{key}', cannot create/restore with unused volume"
                ));
            } else if key == "rootfs" || is_mp_key(key) {
                // A bare number is a size on the default storage.
                let value = if is_plain_number(value) {
                    format!("{default_storage}:{value}")
                } else {
                    value.clone()
                };
                match check_option(key, &value) {
                    Ok(normalized) => volumes.push((key.clone(), normalized)),
                    Err(e) => errors.push(ParamError {
                        key: key.clone(),
                        message: e.0,
                    }),
                }
            } else {
                match check_option(key, value) {
                    Ok(normalized) => {
                        let normalized = if is_net_key(key) {
                            fill_net_defaults(self, key, &normalized)?
                        } else {
                            normalized
                        };
                        config.main.set(key, normalized);
                    }
                    Err(e) => errors.push(ParamError {
                        key: key.clone(),
                        message: e.0,
                    }),
                }
            }
        }
        if let Some(pool) = options.pool.as_deref()
            && let Err(e) = super::pool::check_pool_name(pool)
        {
            errors.push(ParamError {
                key: "pool".into(),
                message: e.to_string(),
            });
        }
        if !errors.is_empty() {
            return Err(Error::Parameters(errors));
        }
        // pct's checks before its create task, in its order; their errors have no prefix.
        if !options.force && self.exists() {
            return Err(self.already_exists());
        }
        if let Some(keys) = &options.ssh_public_keys {
            validate_ssh_public_keys(keys)?;
        }
        if let Some(pool) = options.pool.as_deref() {
            Pools::of(self.host).check(pool)?;
        }
        if options.template == "-" {
            return Err(Error::Request(RequestError::PipeNeedsRestore));
        }
        if !volumes.is_empty() && !volumes.iter().any(|(key, _)| key == "rootfs") {
            return Err(Error::Request(RequestError::MountPointsWithoutRootfs));
        }
        if volumes.is_empty() {
            volumes.push(("rootfs".into(), format!("{default_storage}:4")));
        }
        for (key, value) in &volumes {
            let mp = parse_mount_point(key, value)?;
            if let Some(allocation) = Allocation::parse(&mp.volume) {
                check_rootdir_storage(&storage_cfg, &allocation.storage)?;
            } else if mp.kind() == crate::config::MountKind::Volume {
                check_rootdir_storage(&storage_cfg, &VolumeId::parse(&mp.volume)?.storage)?;
            }
            check_volume(&storage_cfg, key, &mp)?;
        }
        if unprivileged {
            config.main.set("unprivileged", "1".into());
        }
        let prefix = format!("unable to create CT {vmid} -");
        storage_cfg.template_location(&options.template)?;
        // The file itself is looked for inside pct's task, so a missing one carries its prefix.
        let template = storage_cfg
            .template_path(&options.template)
            .map_err(|e| Error::from(e).context(&prefix))?;

        self.create_and_lock_config(options.force)
            .map_err(|e| e.context(&prefix))?;
        let mut allocated = Vec::new();
        let result = self
            .populate(
                &storage_cfg,
                &mut config,
                &volumes,
                &template,
                options,
                &mut allocated,
            )
            // Whatever step noticed it (a killed mkfs, the extraction), a cancelled create
            // failed because it was cancelled.
            .map_err(|e| match options.check_cancel() {
                Err(interrupted) => interrupted,
                Ok(()) => e,
            });
        if let Err(error) = result {
            let _guard = self.lock();
            let mut left = Vec::new();
            for volid in allocated.iter().rev() {
                if let Err(e) = self.free_volume(&storage_cfg, volid) {
                    left.push(format!("unable to free volume '{volid}' - {e}"));
                }
            }
            let error = error.context(&prefix);
            if left.is_empty() {
                if let Err(e) = self.remove_config() {
                    left.push(e.to_string());
                }
                let rootfs_dir = self.rootfs_dir();
                let _ = fs::remove_dir(&rootfs_dir);
                let _ = rootfs_dir.parent().map(fs::remove_dir);
            }
            // Otherwise the config (still `lock: create`) names what is left, for
            // `pct unlock` and `pct destroy` to take away once it can go.
            return Err(Error::with_leftovers(error, left));
        }
        // As pct, once the container is made: should this fail, the container stays.
        if let Some(pool) = options.pool.as_deref() {
            Pools::of(self.host).add(vmid, pool)?;
        }
        Ok(config)
    }

    fn already_exists(&self) -> Error {
        Error::already_exists(self.vmid, self.host.node())
    }

    /// Reserve the id: under the config lock, refuse an existing config (unless forced and not
    /// locked) and write one holding only `lock: create`.
    pub(crate) fn create_and_lock_config(&self, force: bool) -> Result<(), Error> {
        let _lock = super::ConfigLock::acquire(
            &super::lock::lock_path(self.host.root(), self.vmid.get()),
            super::CREATE_LOCK_TIMEOUT,
            self.host.observer(),
        )?;
        if self.exists() {
            if !force {
                return Err(self.already_exists());
            }
            if self.is_running() {
                return Err(Error::Running {
                    vmid: self.vmid,
                    overwrite: true,
                });
            }
            let existing = self.config()?;
            super::check_lock(&existing)?;
            if existing.main.flag("protection") {
                return Err(Error::protected(self.vmid, true));
            }
        }
        let mut stub = Config::new(self.vmid);
        stub.main.set("lock", "create".into());
        self.write_config(&stub)
    }

    /// Allocate the volumes, each named in the on-disk config (`lock: create`) as it comes
    /// into being; fill them; write the final config.
    fn populate(
        &self,
        storage_cfg: &StorageConfig,
        config: &mut Config,
        volumes: &[(String, String)],
        template: &std::path::Path,
        options: &CreateOptions,
        allocated: &mut Vec<VolumeId>,
    ) -> Result<(), Error> {
        let _lock = self.lock()?;
        for (key, value) in volumes {
            options.check_cancel()?;
            let mut mp = parse_mount_point(key, value)?;
            if let Some(allocation) = Allocation::parse(&mp.volume) {
                let size = allocation_size(key, &allocation)?;
                let prepared = storage_cfg.prepare_disk_owned(
                    &allocation.storage,
                    self.vmid.get(),
                    size,
                    (0, 0),
                )?;
                options.check_cancel()?;
                mp.volume = prepared.volid().to_string();
                mp.size = Some(size);
                config.main.set(key, mp.to_string());
                // The volume gets its name between writing the config that names it and
                // putting that config in place, so that after a kill the config names every
                // volume there is, and `pct destroy` finds them.
                let mut locked = config.clone();
                locked.main.set("lock", "create".into());
                let staged = self.stage_config(&locked)?;
                allocated.push(prepared.commit()?);
                staged.commit()?;
            } else {
                config.main.set(key, mp.to_string());
            }
        }
        options.check_cancel()?;
        // The volumes are mounted in a mount namespace of their own: whatever interrupts the
        // create, even SIGKILL, the kernel takes the mounts and their loop devices down with
        // it, and nothing is left mounted on the host.
        crate::mount::in_private_mount_namespace(|| {
            self.fill_volumes(storage_cfg, config, template, options)
        })
        .map_err(|e| Error::io("unable to create a mount namespace", e))??;
        // The volumes were mounted in the namespace that just ended: nothing uses them now.
        for warning in super::volumes::deactivate_volumes(storage_cfg, &config.main) {
            self.host.observer().warning(warning);
        }

        if config.main.get("hostname").is_none() {
            config.main.set("hostname", format!("CT{}", self.vmid));
        }
        if config.main.get("memory").is_none() {
            config.main.set("memory", "512".into());
        }
        if config.main.get("swap").is_none() {
            config.main.set("swap", "512".into());
        }
        options.check_cancel()?;
        self.write_config(config)
    }

    /// Mount the new volumes, extract the template, run the guest setup, detect arch and
    /// ostype; then make sure every write reached the storage before unmounting.
    fn fill_volumes(
        &self,
        storage_cfg: &StorageConfig,
        config: &mut Config,
        template: &std::path::Path,
        options: &CreateOptions,
    ) -> Result<(), Error> {
        let mounted = self.mount_volumes(&config.main, storage_cfg)?;
        let filled = self.extract_and_set_up(mounted.rootfs(), config, template, options);
        // Writes a full storage could not take show up here only; they explain any failure
        // the extraction or setup met on the way (EIO, a read-only remount), so they win.
        let synced = mounted.sync();
        let unmounted = mounted.unmount();
        if let Err(lost) = synced {
            return Err(lost.into_error());
        }
        filled?;
        unmounted
    }

    fn extract_and_set_up(
        &self,
        rootfs: &std::path::Path,
        config: &mut Config,
        template: &std::path::Path,
        options: &CreateOptions,
    ) -> Result<(), Error> {
        let id_map = if config.main.flag("unprivileged") {
            Some(IdMap::from_lxc_values(lxc_idmaps(config))?)
        } else {
            None
        };
        let root_owner = id_map.as_ref().and_then(|map| {
            Some((
                map.to_host(IdKind::User, 0)?,
                map.to_host(IdKind::Group, 0)?,
            ))
        });
        if let Some(map) = &id_map {
            shift_mount_roots(rootfs, config, map)?;
        }
        let observer = self.host.observer();
        observer.info(format!("extracting archive '{}'", template.display()));
        let started = std::time::Instant::now();
        let summary = extract_template(
            template,
            rootfs,
            &ExtractOptions {
                id_map,
                progress: options.progress,
                ignore_unpack_errors: options.ignore_unpack_errors,
                cancel: options.cancel.clone(),
                observer: observer.clone(),
            },
        )?;
        observer.info(totals_line(summary.bytes, started.elapsed()));
        options.check_cancel()?;

        let guest = GuestConfig::from_section(&config.main)?;
        let host_env = HostEnv::read(self.host.root());
        let request = SetupRequest {
            rootfs,
            owner: root_owner,
            conf: &guest,
            host: &host_env,
            hook: Hook::PostCreate {
                password: options.password.clone(),
                ssh_public_keys: options.ssh_public_keys.clone(),
            },
        };
        let result = crate::setup::run(&request);
        let report = match &result {
            Ok(outcome) => &outcome.report,
            Err(error) => &error.report,
        };
        for warning in &report.warnings {
            observer.warning(warning.clone());
        }
        for message in &report.messages {
            observer.info(message.clone());
        }
        let outcome = result.map_err(|failure| Error::Setup(failure.error))?;
        // The plugin setup detected is the one whose rules find the architecture.
        if config.main.get("arch").is_none() {
            match guest_arch(rootfs, &outcome.ostype) {
                Some(arch) => {
                    observer.info(format!("Detected container architecture: {arch}"));
                    config.main.set("arch", arch.into());
                }
                None => {
                    observer
                        .info("Falling back to amd64.\nUse `pct set VMID --arch ARCH` to change.");
                    config.main.set("arch", "amd64".into());
                }
            }
        }
        config.main.set("ostype", outcome.ostype);
        Ok(())
    }
}

/// pct's check of `--ssh-public-keys`: `ssh-keygen -l` must accept every non-blank line.
fn validate_ssh_public_keys(keys: &str) -> Result<(), Error> {
    let invalid = || Error::Request(RequestError::SshPublicKeys);
    for line in keys.split('\n').filter(|line| !line.trim().is_empty()) {
        let mut name = [0u8; 8];
        getrandom::fill(&mut name).map_err(|_| invalid())?;
        let name: String = name.iter().map(|b| format!("{b:02x}")).collect();
        let path = std::env::temp_dir().join(format!(".corral-key-{name}.pub"));
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut file| {
                std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes())
            });
        let accepted = written.is_ok()
            && std::process::Command::new("ssh-keygen")
                .arg("-l")
                .arg("-f")
                .arg(&path)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
        let _ = fs::remove_file(&path);
        if !accepted {
            return Err(invalid());
        }
    }
    Ok(())
}

/// The container's architecture as pct's plugins find it: from `/bin/sh`, for NixOS from the
/// shell named in `/sbin/init`'s first line, and not at all for unmanaged guests.
fn guest_arch(rootfs: &std::path::Path, ostype: &str) -> Option<&'static str> {
    match ostype {
        "unmanaged" => None,
        "nixos" => {
            let init = crate::setup::read_in_root(rootfs, "/sbin/init").ok()??;
            let first_line = init.split(|&b| b == b'\n').next()?;
            let shell = std::str::from_utf8(first_line.strip_prefix(b"#!")?).ok()?;
            let shell = shell.strip_prefix(' ').unwrap_or(shell);
            let shell = shell.split_whitespace().next()?;
            crate::storage::template::detect_elf_arch(rootfs, shell)
        }
        _ => detect_arch(rootfs),
    }
}

/// GNU tar's `--totals` line, which pct's create log shows.
fn totals_line(bytes: u64, elapsed: std::time::Duration) -> String {
    fn human(value: f64) -> String {
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut value = value;
        let mut unit = 0;
        while value >= 1024.0 && unit < UNITS.len() - 1 {
            value /= 1024.0;
            unit += 1;
        }
        if value < 10.0 && unit > 0 {
            format!("{value:.1}{}", UNITS[unit])
        } else {
            format!("{value:.0}{}", UNITS[unit])
        }
    }
    let rate = bytes as f64 / elapsed.as_secs_f64().max(1e-6);
    format!(
        "Total bytes read: {bytes} ({}, {}/s)",
        human(bytes as f64),
        human(rate)
    )
}

fn is_plain_number(value: &str) -> bool {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
}

pub(crate) fn is_mp_key(key: &str) -> bool {
    key.strip_prefix("mp")
        .is_some_and(|n| n.parse::<u16>().is_ok_and(|n| n <= 255))
}

pub(crate) fn is_net_key(key: &str) -> bool {
    key.strip_prefix("net")
        .is_some_and(|n| n.parse::<u16>().is_ok_and(|n| n <= 31))
}

pub(crate) fn parse_mount_point(key: &str, value: &str) -> Result<MountPoint, Error> {
    let parsed = if key == "rootfs" {
        MountPoint::parse_rootfs(value)
    } else {
        MountPoint::parse_mp(value)
    };
    parsed.map_err(|e| Error::param(key, e.0))
}

/// pct sizes new volumes in whole KiB of the GiB figure given; `None` when that many bytes
/// do not fit in 64 bits.
pub(crate) fn allocation_bytes(size_gib: f64) -> Option<u64> {
    let kib = (size_gib * 1024.0 * 1024.0).trunc();
    if !(kib.is_finite() && kib >= 0.0 && kib < u64::MAX as f64) {
        return None;
    }
    (kib as u64).checked_mul(1024)
}

/// The bytes of the new volume `key` asks for (`STORAGE:SIZE` in GiB), or why it cannot be.
pub(crate) fn allocation_size(key: &str, allocation: &Allocation) -> Result<u64, Error> {
    allocation_bytes(allocation.size_gib).ok_or_else(|| {
        Error::param(
            key,
            format!("disk size '{}' GiB is too large", allocation.size_gib),
        )
    })
}

/// A new volume must have a size that fits; an existing one a name its storage can parse
/// (pct refuses `local:-1` as `unable to parse directory volume name '-1'`).
pub(crate) fn check_volume(
    storage_cfg: &StorageConfig,
    key: &str,
    mp: &crate::config::MountPoint,
) -> Result<(), Error> {
    if let Some(allocation) = Allocation::parse(&mp.volume) {
        allocation_size(key, &allocation)?;
    } else if mp.kind() == crate::config::MountKind::Volume {
        storage_cfg.volume_path(&VolumeId::parse(&mp.volume)?)?;
    }
    Ok(())
}

/// pct's checks of a storage a container's volume is on, before anything is made: enabled
/// on this node, holding `rootdir` content, and online (a network storage mounted).
fn check_rootdir_storage(storage_cfg: &StorageConfig, id: &str) -> Result<(), Error> {
    let def = storage_cfg.enabled_storage(id)?;
    if !def.content.contains(&ContentType::Rootdir) {
        return Err(Error::param(
            "storage",
            format!("storage '{id}' does not support container directories"),
        ));
    }
    storage_cfg.activate_storage(id)?;
    Ok(())
}

/// Who the container's root is on the host: (0, 0) for a privileged container, else what its
/// id map makes of 0. New volumes' roots belong to it, as pct's `parse_id_maps` decides.
pub(crate) fn volume_root_owner(config: &Config) -> Result<(u32, u32), Error> {
    if !config.main.flag("unprivileged") {
        return Ok((0, 0));
    }
    Ok(IdMap::from_lxc_values(lxc_idmaps(config))?.root_owner()?)
}

fn lxc_idmaps(config: &Config) -> Vec<&str> {
    config
        .main
        .lxc
        .iter()
        .filter(|(key, _)| key == "lxc.idmap")
        .map(|(_, value)| value.as_str())
        .collect()
}

/// The root directory of each freshly made volume belongs to the container's root user.
fn shift_mount_roots(rootfs: &std::path::Path, config: &Config, map: &IdMap) -> Result<(), Error> {
    let (uid, gid) = map.root_owner()?;
    let mut dirs = vec![rootfs.to_path_buf()];
    for (_, mp) in config.main.mount_points() {
        if let Ok(mp) = mp
            && mp.kind() == crate::config::MountKind::Volume
            && let Some(path) = &mp.mp
        {
            dirs.push(rootfs.join(path.trim_start_matches('/')));
        }
    }
    for dir in dirs {
        std::os::unix::fs::lchown(&dir, Some(uid), Some(gid))
            .map_err(|e| Error::io(format!("unable to chown '{}'", dir.display()), e))?;
    }
    Ok(())
}

/// pct fills a missing `hwaddr` with a random MAC under the datacenter prefix (default
/// `BC:24:11`) and always sets `type=veth`. `value` is checked already; a value that does
/// not parse is `key`'s parameter error.
pub(crate) fn fill_net_defaults(
    ct: &Container<'_>,
    key: &str,
    value: &str,
) -> Result<String, Error> {
    let mut net = NetDevice::parse(value).map_err(|e| Error::param(key, e.0))?;
    if net.hwaddr.is_none() {
        net.hwaddr = Some(random_mac(&mac_prefix(ct.host), &mut OsRandom));
    }
    net.kind = Some("veth".into());
    Ok(net.to_string())
}

/// `mac_prefix` from `etc/pve/datacenter.cfg`, else Proxmox's own OUI.
pub(crate) fn mac_prefix(host: &super::Host) -> String {
    let text = fs::read_to_string(host.path("etc/pve/datacenter.cfg")).unwrap_or_default();
    text.lines()
        .filter_map(|line| line.strip_prefix("mac_prefix:"))
        .map(|value| value.trim().to_ascii_uppercase())
        .next()
        .unwrap_or_else(|| "BC:24:11".into())
}

pub(crate) fn random_mac(prefix: &str, source: &mut dyn RandomSource) -> String {
    let given: Vec<&str> = prefix.split(':').filter(|part| !part.is_empty()).collect();
    let mut random = [0u8; 6];
    source.fill(&mut random);
    let mut bytes: Vec<String> = given.iter().take(6).map(|part| part.to_string()).collect();
    for byte in random.iter().skip(bytes.len()) {
        bytes.push(format!("{byte:02X}"));
    }
    if given.is_empty() {
        // Locally administered, unicast.
        let first = (random[0] & 0xfe) | 0x02;
        bytes[0] = format!("{first:02X}");
    }
    bytes.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_read_like_gnu_tar() {
        let line = totals_line(1983069, std::time::Duration::from_millis(20));
        assert_eq!(line, "Total bytes read: 1983069 (1.9MiB, 95MiB/s)");
        assert_eq!(
            totals_line(512, std::time::Duration::from_secs(1)),
            "Total bytes read: 512 (512B, 512B/s)"
        );
    }

    #[test]
    fn plain_numbers_are_sizes() {
        assert!(is_plain_number("8"));
        assert!(is_plain_number("0.5"));
        assert!(!is_plain_number("local:8"));
        assert!(!is_plain_number("8."));
        assert!(!is_plain_number(".5"));
    }

    #[test]
    fn allocation_sizes_in_bytes() {
        assert_eq!(allocation_bytes(4.0), Some(4 * 1024 * 1024 * 1024));
        assert_eq!(allocation_bytes(0.5), Some(512 * 1024 * 1024));
        assert_eq!(allocation_bytes(0.0), Some(0));
        // 16 EiB is 2^64 bytes: one KiB less fits, that much does not (it used to wrap).
        assert_eq!(allocation_bytes(16.0 * 1024.0 * 1024.0 * 1024.0), None);
        assert_eq!(allocation_bytes(99999999999.0), None);
        assert_eq!(allocation_bytes(f64::MAX), None);
        assert_eq!(
            allocation_bytes(15.0 * 1024.0 * 1024.0 * 1024.0),
            Some(15 << 60)
        );
    }

    #[test]
    fn random_macs_keep_the_prefix() {
        let mut os = OsRandom;
        let mac = random_mac("BC:24:11", &mut os);
        assert!(mac.starts_with("BC:24:11:"), "{mac}");
        assert_eq!(mac.len(), 17);
        let local = random_mac("", &mut os);
        let first = u8::from_str_radix(&local[..2], 16).unwrap();
        assert_eq!(first & 0x03, 0x02, "{local}");
        assert_ne!(
            random_mac("BC:24:11", &mut os),
            random_mac("BC:24:11", &mut os)
        );
        // A seeded source gives the same address every time.
        let seeded = |seed| random_mac("BC:24:11", &mut crate::setup::Drand48::seeded(seed));
        assert_eq!(seeded(0), seeded(0));
        assert_ne!(seeded(0), seeded(1));
    }

    #[test]
    fn indexed_keys() {
        assert!(is_mp_key("mp0") && is_mp_key("mp255") && !is_mp_key("mp256") && !is_mp_key("mpx"));
        assert!(is_net_key("net31") && !is_net_key("net32"));
    }
}
