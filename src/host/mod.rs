//! The host a set of containers lives on: its root directory (`/`, or a test root), the config
//! files under `etc/pve/lxc`, their locks, and the management operations of `pct` (create,
//! destroy, set, mount, ...). Every path corral touches is under the host root.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{Config, ParseMode, Vmid, Warning};
use crate::report::Observer;
use crate::runtime::idmap::IdMapTool;
use crate::storage::StorageConfig;

mod attach;
mod clone;
mod command;
mod create;
mod destroy;
mod error;
mod fsck;
mod fstrim;
mod lifecycle;
mod lock;
mod modify;
mod move_volume;
mod pool;
mod pull;
mod push;
mod rescan;
mod resize;
mod snapshot;
mod status;
mod template;
mod transfer;
mod volumes;
mod wait;

pub use crate::mount::MountError;
pub use clone::{CloneOptions, CloneProblem};
#[cfg(feature = "cli")]
pub(crate) use command::exit_code;
pub use command::{ContainerChild, ContainerCommand, ContainerPty};
pub use create::CreateOptions;
pub use destroy::DestroyOptions;
pub use error::{
    ConsoleProblem, Error, HookscriptProblem, ParamError, ProgramFailure, RequestError,
    VolumeNotFreed,
};
pub use fsck::{FsckOptions, FsckProblem, check_fsck_device};
pub use fstrim::TrimOutcome;
pub use lifecycle::{BootEntry, BulkOutcome, StartOptions, boot_order};
pub use lock::ConfigLock;
pub use move_volume::{MoveProblem, MoveTarget, MoveVolumeOptions};
pub(crate) use push::{PUSH_REQUEST_ENV, push_process};
pub use rescan::RescanChange;
pub use resize::{DiskSize, ResizeProblem};
pub use snapshot::SnapshotReport;
pub use status::{ContainerStatus, DiskUsage, ListEntry};
pub use template::TemplateProblem;
pub use transfer::{
    CredentialCall, FileOptions, IdKind, Namespace, TransferDirection, TransferError,
};
pub use volumes::MountedVolumes;
pub use wait::Exit;

/// The host's own settings (`key: value` lines).
const HOST_CONF: &str = "etc/corral/host.conf";

/// pct's timeouts for the config lock.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);
const CREATE_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// A host root. `Host::open("/")` is the real machine; tests open a temporary directory.
/// What its operations have to say while they run goes to its [`Observer`] (see
/// [`Host::with_observer`]); the library itself never prints.
#[derive(Debug, Clone)]
pub struct Host {
    root: PathBuf,
    node: String,
    observer: Observer,
    /// From host.conf's `idmap:` line; a bad value is kept to refuse the starts that need it.
    id_map_tool: Result<IdMapTool, BadSetting>,
}

/// A line of host.conf whose value corral does not know.
#[derive(Debug, Clone)]
struct BadSetting {
    line: usize,
    message: String,
}

/// One container id on a host; it need not exist yet.
#[derive(Debug, Clone, Copy)]
pub struct Container<'h> {
    host: &'h Host,
    vmid: Vmid,
}

impl Host {
    /// Open the host at `root`. The root must be an existing directory.
    pub fn open(root: impl AsRef<Path>) -> Result<Host, Error> {
        let root = root.as_ref();
        let shown = crate::text::for_message(root.as_os_str().as_encoded_bytes());
        if !root.is_dir() {
            return Err(Error::HostRoot {
                path: root.to_path_buf(),
            });
        }
        let root = root
            .canonicalize()
            .map_err(|e| Error::io(format!("host root '{shown}'"), e))?;
        let node = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        let mut host = Host {
            root,
            node,
            observer: Observer::none(),
            id_map_tool: Ok(IdMapTool::Auto),
        };
        // Not refused here: a typo in one setting must not stop `pct list` or `pct stop`.
        if let Some((line, value)) = host.setting_line("idmap") {
            host.id_map_tool = value.parse::<IdMapTool>().map_err(|e| BadSetting {
                line,
                message: e.to_string(),
            });
        }
        Ok(host)
    }

    /// The same host, its operations reporting to `observer` (pct's progress lines and
    /// warnings, as [`Event`](crate::Event)s). A program running operations for several
    /// callers gives each its own clone.
    pub fn with_observer(mut self, observer: Observer) -> Host {
        self.observer = observer;
        self
    }

    /// Where this host's operations send their events.
    pub fn observer(&self) -> &Observer {
        &self.observer
    }

    /// The root given by `CORRAL_ROOT`, else `/`.
    pub fn from_env() -> Result<Host, Error> {
        Host::open(
            std::env::var_os("CORRAL_ROOT")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/")),
        )
    }

    /// The host root directory, canonical.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The node name pct shows in messages (the host's nodename).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Container `vmid` on this host; it need not exist.
    pub fn container(&self, vmid: Vmid) -> Container<'_> {
        Container { host: self, vmid }
    }

    /// A path under the host root, e.g. `etc/pve/lxc`.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative.trim_start_matches('/'))
    }

    /// The host's own settings, `etc/corral/host.conf` (`key: value` lines, `#` comments).
    pub fn setting(&self, key: &str) -> Option<String> {
        self.setting_line(key).map(|(_, value)| value)
    }

    /// A setting and the number of its line (from 1).
    fn setting_line(&self, key: &str) -> Option<(usize, String)> {
        let text = std::fs::read_to_string(self.path(HOST_CONF)).ok()?;
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim_start().starts_with('#'))
            .find_map(|(index, line)| {
                let (name, value) = line.split_once(':')?;
                (name.trim() == key).then(|| (index + 1, value.trim().to_string()))
            })
    }

    /// `strict_limits: 1`: no container starts with a limit this host cannot enforce.
    pub fn strict_limits(&self) -> bool {
        self.setting("strict_limits").is_some_and(|v| v == "1")
    }

    /// How unprivileged starts write their ID maps: `idmap: auto|newuidmap|direct` in
    /// `etc/corral/host.conf`, `auto` (LXC's choice) when unset. A value not among those is
    /// an [`Error::HostConfig`] naming the file and line, which unprivileged starts return.
    pub fn id_map_tool(&self) -> Result<IdMapTool, Error> {
        self.id_map_tool.clone().map_err(|bad| Error::HostConfig {
            path: self.path(HOST_CONF),
            line: bad.line,
            message: bad.message,
        })
    }

    /// Choose how this host writes ID maps, over what `host.conf` says.
    pub fn set_id_map_tool(&mut self, tool: IdMapTool) {
        self.id_map_tool = Ok(tool);
    }

    /// The host's `etc/pve/storage.cfg` (pct's default storages when there is none).
    pub fn storage_config(&self) -> Result<StorageConfig, Error> {
        Ok(StorageConfig::load(&self.root)?)
    }

    /// Every container with a config file, by id.
    pub fn vmids(&self) -> Result<Vec<Vmid>, Error> {
        let dir = self.path("etc/pve/lxc");
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("unable to read '{}'", dir.display()), e)),
        };
        let mut ids: Vec<Vmid> = entries
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| {
                let name = entry.file_name();
                let stem = name.to_str()?.strip_suffix(".conf")?;
                stem.parse().ok()
            })
            .collect();
        ids.sort();
        Ok(ids)
    }
}

impl<'h> Container<'h> {
    /// The container's id.
    pub fn vmid(&self) -> Vmid {
        self.vmid
    }

    /// The host it lives on.
    pub fn host(&self) -> &'h Host {
        self.host
    }

    /// `etc/pve/lxc/<vmid>.conf` under the host root.
    pub fn config_path(&self) -> PathBuf {
        self.host.path(&format!("etc/pve/lxc/{}.conf", self.vmid))
    }

    /// Where `pct mount` puts the container's filesystem (`var/lib/lxc/<vmid>/rootfs`).
    pub fn rootfs_dir(&self) -> PathBuf {
        self.host.path(&format!("var/lib/lxc/{}/rootfs", self.vmid))
    }

    /// Whether the container has a config file.
    pub fn exists(&self) -> bool {
        self.config_path().is_file()
    }

    /// Take the config lock (10 s timeout, as pct).
    pub fn lock(&self) -> Result<ConfigLock, Error> {
        ConfigLock::acquire(
            &lock::lock_path(&self.host.root, self.vmid.get()),
            LOCK_TIMEOUT,
            &self.host.observer,
        )
    }

    /// The raw config file bytes (pct reads them as bytes: they need not be UTF-8); pct's
    /// message when the file does not exist.
    pub fn read_config_raw(&self) -> Result<Vec<u8>, Error> {
        match fs::read(self.config_path()) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::not_found(self.vmid, &self.host.node))
            }
            Err(e) => Err(Error::io(
                format!("unable to read '{}'", self.config_path().display()),
                e,
            )),
        }
    }

    /// Parse the config leniently, as pct reads it; its warnings go to the host's observer.
    pub fn config(&self) -> Result<Config, Error> {
        let (config, warnings) = self.config_with_warnings()?;
        self.host.report_warnings(&warnings);
        Ok(config)
    }

    /// The config, read leniently as pct reads it, and the warnings about bad values kept.
    pub fn config_with_warnings(&self) -> Result<(Config, Vec<Warning>), Error> {
        let text = self.read_config_raw()?;
        Ok(Config::parse(self.vmid, &text, ParseMode::Lenient)?)
    }

    /// The config and the digest of the file it came from.
    pub fn config_and_digest(&self) -> Result<(Config, String), Error> {
        let text = self.read_config_raw()?;
        let (config, warnings) = Config::parse(self.vmid, &text, ParseMode::Lenient)?;
        self.host.report_warnings(&warnings);
        Ok((config, Config::digest(&text)))
    }

    /// Write the config atomically: a temporary file in the same directory, fsync, rename.
    /// The caller holds the config lock.
    pub fn write_config(&self, config: &Config) -> Result<(), Error> {
        self.stage_config(config)?.commit()
    }

    /// Write `config` beside the config file, synced, ready to replace it with
    /// [`StagedConfig::commit`] (one rename). Lets a caller give new volumes their names
    /// between the two, so that a kill leaves no volume the config does not name.
    pub(crate) fn stage_config(&self, config: &Config) -> Result<StagedConfig, Error> {
        let text = config.write()?;
        let path = self.config_path();
        let dir = path.parent().expect("config path has a parent");
        fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("unable to create '{}'", dir.display()), e))?;
        let temp_prefix = format!(".{}.conf.tmp.", self.vmid);
        remove_stale_temps(dir, &temp_prefix);
        let temp = dir.join(format!("{temp_prefix}{}", std::process::id()));
        let staged = StagedConfig { temp, path };
        let mut file = fs::File::create(&staged.temp).map_err(|e| staged.error(e))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| staged.error(e))?;
        Ok(staged)
    }

    /// Remove the config file (the last step of destroy and of a failed create).
    pub fn remove_config(&self) -> Result<(), Error> {
        fs::remove_file(self.config_path())
            .map_err(|e| Error::io("failed to remove config file", e))
    }

    /// Whether the container runs: the init recorded under `run/corral/<vmid>` is alive.
    pub fn is_running(&self) -> bool {
        self.running_init().is_some()
    }
}

/// A config written beside the config file; removed on drop unless committed.
pub(crate) struct StagedConfig {
    temp: PathBuf,
    path: PathBuf,
}

impl StagedConfig {
    fn error(&self, source: std::io::Error) -> Error {
        Error::io(format!("unable to write '{}'", self.path.display()), source)
    }

    /// Replace the config file with the staged one.
    pub(crate) fn commit(self) -> Result<(), Error> {
        fs::rename(&self.temp, &self.path).map_err(|e| self.error(e))
    }
}

/// Remove `<prefix><pid>` files of writers that are gone: one killed between writing its
/// temporary file and renaming it (say, `pct snapshot` killed before its commit) leaves it.
fn remove_stale_temps(dir: &std::path::Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|pid| pid.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only asks whether the process exists.
        let gone = pid > 0
            && unsafe { libc::kill(pid, 0) } == -1
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = fs::remove_file(entry.path());
        }
    }
}

impl Drop for StagedConfig {
    fn drop(&mut self) {
        // After a commit the temporary name is gone already.
        let _ = fs::remove_file(&self.temp);
    }
}

impl Host {
    /// pct prints parse warnings to stderr and carries on.
    pub(crate) fn report_warnings(&self, warnings: &[Warning]) {
        for warning in warnings {
            self.observer.warning(warning.0.clone());
        }
    }
}

/// pct's `check_lock`: `CT is locked (backup)`.
pub(crate) fn check_lock(config: &Config) -> Result<(), Error> {
    match config.main.lock() {
        Some(lock) => Err(Error::locked(config.vmid, lock)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temporary_configs_of_gone_writers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        gone.wait().unwrap();
        let gone = gone.id();
        let own = std::process::id();
        let names = [
            format!(".100.conf.tmp.{gone}"),
            format!(".100.conf.tmp.{own}"),
            format!(".101.conf.tmp.{gone}"),
            "100.conf".to_string(),
        ];
        for name in &names {
            fs::write(dir.path().join(name), "").unwrap();
        }
        remove_stale_temps(dir.path(), ".100.conf.tmp.");
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, names[1..]);
    }
}
