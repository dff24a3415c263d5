//! Starting and stopping containers as pct does: `start` (plan, pre-start hook, monitor,
//! post-start hook), `stop`, `shutdown`, `reboot`, `startall`/`stopall` in startup order,
//! and the host facts a start plan needs.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::volumes::{mount_points_in_order, volume_source};
use super::{Container, Error, HookscriptProblem, Host, check_lock};
use crate::cgroup::{ContainerCgroup, Hierarchy, MonitorCgroup};
use crate::config::{Config, Section, Warning};
use crate::report::Event;
use crate::runtime::command::{Request, request};
use crate::runtime::hooks::{Phase, run_hookscript};
use crate::runtime::launch::{launch_detached, run_in_foreground};
use crate::runtime::liveness::init_pidfd;
use crate::runtime::monitor::InitExit;
use crate::runtime::plan::{
    HostFacts, LxcfsHost, StartPlan, cgroup_writes, parse_cpu_list, unenforced_warning,
};
use crate::runtime::signals::{catches, send_through_pidfd};
use crate::runtime::start_error::{StartError, StartStep};
use crate::runtime::state::{InitState, StateDir};
use crate::runtime::trace;

/// One container's result in `startall`/`stopall`.
pub type BulkOutcome = (u32, Result<(), Error>);

/// `pct start` options.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Ignore a lock on the config (root only in pct).
    pub skiplock: bool,
    /// Report every step of the start as an [`Event::Debug`](crate::Event::Debug) line.
    pub debug: bool,
    /// Run the monitor in this process until init exits (like `lxc-start -F`); the post-start
    /// hook is not run.
    pub foreground: bool,
    /// Refuse to start when a limit cannot be enforced (a cgroup v2 controller is missing).
    /// Also set for every start by `strict_limits: 1` in the host's `etc/corral/host.conf`.
    pub strict_limits: bool,
}

/// The keys a running container takes at once (pct's hotplug list; net and mount points
/// come with their own work): config-only ones, and the cgroup limits.
const HOTPLUG_KEYS: &[&str] = &[
    "description",
    "onboot",
    "startup",
    "protection",
    "hostname",
    "hookscript",
    "tags",
    "lock",
    "cores",
    "memory",
    "swap",
    "cpulimit",
    "cpuunits",
];

/// The cgroup files each hotplugged key writes, in pct's order (swap before memory, so a
/// smaller memory.max never meets an old swap.max), with the value that lifts the limit
/// when the key is deleted.
const HOTPLUG_CGROUP_FILES: &[(&str, &[(&str, &str)])] = &[
    ("swap", &[("memory.swap.max", "0")]),
    ("memory", &[("memory.high", "max"), ("memory.max", "max")]),
    ("cpulimit", &[("cpu.max", "max 100000")]),
    ("cpuunits", &[("cpu.weight", "100")]),
    ("cores", &[("cpuset.cpus", "")]),
];

/// The cgroup side of the host: controllers offered, and the CPUs containers may use.
fn add_cgroup_facts(facts: &mut HostFacts) {
    let hierarchy = Hierarchy::find();
    facts.cgroup_controllers = hierarchy.as_ref().map(|h| h.controllers());
    facts.host_cpus = hierarchy
        .as_ref()
        .and_then(|h| std::fs::read_to_string(h.path("cpuset.cpus.effective")).ok())
        .or_else(|| std::fs::read_to_string("/sys/devices/system/cpu/online").ok())
        .map(|text| parse_cpu_list(&text))
        .unwrap_or_default();
}

/// How long `pct suspend` waits for the freezer, as pct does (lxc-freeze's 30 s).
const FREEZE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long pct waits for a monitor to confirm a stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

impl Container<'_> {
    pub(crate) fn state_dir(&self) -> StateDir {
        StateDir::new(self.host.root(), self.vmid.get())
    }

    /// The running init, when there is one: decided from the container's cgroup, so a lost
    /// or stale run state neither hides a running container nor names an unrelated process.
    pub fn running_init(&self) -> Option<InitState> {
        crate::runtime::liveness::running_init(&self.state_dir(), self.vmid.get())
    }

    /// The facts a start plan of `section` needs from this host.
    pub fn host_facts(&self, section: &Section) -> Result<HostFacts, Error> {
        let storage = self.host.storage_config()?;
        let mut facts = HostFacts::default();
        for (key, mp) in mount_points_in_order(section)? {
            let source = volume_source(self.host, &storage, &mp)
                .map_err(|e| e.context(&format!("{key}:")))?;
            facts.volumes.insert(key, source);
        }
        for (index, device) in section.devices() {
            let device = device.map_err(|source| Error::ConfigValue {
                key: format!("dev{index}"),
                source,
            })?;
            let meta = std::fs::metadata(&device.path).map_err(|_| Error::Device {
                path: device.path.clone(),
                missing: true,
            })?;
            let kind = if meta.file_type().is_char_device() {
                'c'
            } else if meta.file_type().is_block_device() {
                'b'
            } else {
                return Err(Error::Device {
                    path: device.path.clone(),
                    missing: false,
                });
            };
            let rdev = meta.rdev();
            facts.devices.insert(
                device.path.clone(),
                (kind, libc::major(rdev), libc::minor(rdev)),
            );
        }
        add_cgroup_facts(&mut facts);
        if let Some((_, path)) = section
            .lxc
            .iter()
            .rev()
            .find(|(k, _)| k == "lxc.seccomp.profile")
        {
            let full = self.host.path(path);
            facts.seccomp_profile =
                Some(std::fs::read_to_string(&full).map_err(|e| {
                    Error::io(format!("unable to read seccomp profile '{path}'"), e)
                })?);
        }
        if let Some(volid) = section.get("hookscript") {
            facts.hookscript = Some(hookscript_path(self.host, volid)?);
        }
        facts.guest_host = crate::setup::HostEnv::read(self.host.root());
        facts.apparmor = crate::runtime::apparmor::host_support();
        facts.host_root = self.host.root().display().to_string();
        // A bad `idmap:` line in host.conf stops only the starts that write ID maps.
        facts.id_map_tool = match self.host.id_map_tool() {
            Ok(tool) => tool,
            Err(e) if maps_ids(section) => return Err(e),
            Err(_) => crate::IdMapTool::default(),
        };
        // lxcfs serves the whole host, whatever root corral manages.
        facts.lxcfs = crate::mount::mount_table()
            .ok()
            .and_then(|table| LxcfsHost::find(&table));
        Ok(facts)
    }

    /// pct's hotplug for a running container: apply the pending changes that take effect at
    /// once (config-only keys, and the cgroup limits, written into the limiting cgroup in
    /// pct's order), leaving the rest pending for the next start. Errors are pct's
    /// `unable to hotplug <key>: ...`; limits the host cannot enforce are warnings.
    pub fn hotplug(&self, config: &mut Config) -> Result<Vec<Warning>, Error> {
        self.hotplug_network(config)?;
        let applied = config.apply_pending_keys(|key| HOTPLUG_KEYS.contains(&key));
        let mut facts = HostFacts::default();
        add_cgroup_facts(&mut facts);
        let plan = cgroup_writes(self.vmid.get(), &config.main, &facts).map_err(|e| {
            Error::param(e.key, format!("unable to hotplug {}: {}", e.key, e.message))
        })?;
        let hierarchy = Hierarchy::find();
        let mut warnings = Vec::new();
        for (key, files) in HOTPLUG_CGROUP_FILES {
            if !applied.iter().any(|a| a == key) {
                continue;
            }
            for (file, lifted) in *files {
                let value = plan
                    .writes
                    .iter()
                    .find(|w| w.key == *file)
                    .map_or(*lifted, |w| w.value.as_str());
                match &hierarchy {
                    Some(hierarchy) if !plan.unenforced.iter().any(|u| u == file) => {
                        ContainerCgroup::of(hierarchy, self.vmid.get())
                            .write(file, value)
                            .map_err(|e| {
                                Error::param(*key, format!("unable to hotplug {key}: {e}"))
                            })?
                    }
                    _ => warnings.push(Warning(unenforced_warning(file, value))),
                }
            }
        }
        Ok(warnings)
    }

    /// Pending `netN` changes, one by one: add, remove or change the NIC of the running
    /// container, then take the change out of pending. A failure stops there with pct's
    /// `unable to hotplug netN: ...`.
    fn hotplug_network(&self, config: &mut Config) -> Result<(), Error> {
        let vmid = self.vmid.get();
        let is_net = |key: &str| {
            key.strip_prefix("net")
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        };
        let mut keys: Vec<String> = config
            .pending_changes()
            .into_iter()
            .filter_map(|change| match change {
                crate::config::PendingChange::New { key, .. }
                | crate::config::PendingChange::Del { key, .. } => Some(key),
                crate::config::PendingChange::Cur { .. } => None,
            })
            .filter(|key| is_net(key))
            .collect();
        keys.dedup();
        if keys.is_empty() {
            return Ok(());
        }
        let Some(init) = self.running_init() else {
            return Ok(());
        };
        for key in keys {
            let devices = |section: &Section| {
                crate::runtime::plan::network_devices(vmid, section)
                    .map_err(|e| Error::param(key.as_str(), e.to_string()))
            };
            let before = devices(&config.main)?;
            let mut after_config = config.clone();
            after_config.apply_pending_keys(|k| k == key);
            let after = devices(&after_config.main)?;
            let old = before.iter().find(|d| d.key == key);
            let new = after.iter().find(|d| d.key == key);
            crate::net::hotplug(old, new, init.pid)
                .map_err(|e| Error::param(key.as_str(), format!("unable to hotplug {key}: {e}")))?;
            config.apply_pending_keys(|k| k == key);
        }
        Ok(())
    }

    /// The plan `pct start` would apply now (pending changes included).
    pub fn start_plan(&self) -> Result<StartPlan, Error> {
        let config = self.config()?;
        let section = config.with_pending_applied();
        let facts = self.host_facts(&section)?;
        StartPlan::build(self.vmid.get(), &section, &facts)
            .map_err(|e| Error::start(self.vmid, e.into()))
    }

    /// `pct start`. Returns once init has exec'd, or — in the foreground — once it has ended.
    /// What it has to say (pending changes that failed, `WARN:` lines of the plan, a failed
    /// post-start hook, the steps with `debug`) goes to the host's observer.
    pub fn start(&self, options: &StartOptions) -> Result<Option<InitExit>, Error> {
        let observer = self.host.observer();
        let debug = options.debug.then(trace::now_ns);
        let step = |text: &str| {
            if let Some(origin) = debug {
                observer.emit(Event::Debug(trace::caller_line(origin, text)));
            }
        };
        let vmid = self.vmid.get();
        let lock = self.lock()?;
        let mut config = self.config()?;
        if self.running_init().is_some() {
            return Err(Error::already_running(self.vmid));
        }
        if config.main.flag("template") {
            return Err(Error::IsTemplate { vmid: self.vmid });
        }
        if !options.skiplock && config.main.lock() != Some("mounted") {
            check_lock(&config)?;
        }
        if !config.pending.is_empty() {
            for warning in config.apply_pending() {
                observer.warning(warning.0);
            }
            self.write_config(&config)?;
        }
        let facts = self.host_facts(&config.main)?;
        let failed_at = |step: StartStep| {
            let ct = self.vmid;
            move |message: String| Error::start(ct, StartError::new(step, message))
        };
        let plan = StartPlan::build(vmid, &config.main, &facts)
            .map_err(|e| Error::start(self.vmid, e.into()))?;
        step("pct: start plan built");
        if (options.strict_limits || self.host.strict_limits())
            && !plan.cgroup.unenforced.is_empty()
        {
            return Err(failed_at(StartStep::Plan)(format!(
                "unable to start CT {vmid}: this host cannot enforce {} (strict limits)",
                plan.cgroup.unenforced.join(", ")
            )));
        }
        for warning in &plan.warnings {
            observer.warning(format!("WARN: {warning}"));
        }
        let state = self.state_dir();
        // Leftovers of a container that died with its monitor: nothing runs, clear them.
        self.clear_leftovers(&state);
        state
            .create()
            .and_then(|()| state.write_plan(&plan))
            .map_err(|e| {
                let context = format!("unable to write '{}'", state.path().display());
                Error::start(self.vmid, StartError::io(StartStep::State, context, e))
            })?;
        if let Some(hook) = &plan.hookscript
            && let Err(error) = run_hookscript(hook, vmid, Phase::PreStart, None)
        {
            let _ = state.remove();
            return Err(Error::start(self.vmid, error.into()));
        }
        let failed = |error: StartError| Error::start(self.vmid, error);
        state.clear_exit();
        if options.foreground {
            drop(lock);
            return run_in_foreground(self.host.root(), &plan, debug, observer)
                .map(Some)
                .map_err(failed);
        }
        launch_detached(self.host.root(), &plan, debug, observer).map_err(failed)?;
        step("pct: init runs");
        drop(lock);
        if let Some(hook) = &plan.hookscript
            && let Err(error) = run_hookscript(hook, vmid, Phase::PostStart, None)
        {
            observer.warning(error.to_string());
        }
        Ok(None)
    }

    /// What a container that died with its monitor leaves (its cgroups, veths and run
    /// state): removed by the next start, stop or destroy once nothing of it runs. A
    /// monitor still on its way out does its own cleanup.
    pub(crate) fn clear_leftovers(&self, state: &StateDir) {
        if let Some(hierarchy) = Hierarchy::find() {
            let monitor = MonitorCgroup::of(&hierarchy, self.vmid.get());
            if monitor.populated() {
                return;
            }
            let cgroup = ContainerCgroup::of(&hierarchy, self.vmid.get());
            if !cgroup.populated() {
                let _ = cgroup.remove();
            }
            monitor.remove_if_empty();
        }
        crate::net::remove_leftovers(self.vmid.get());
        let _ = state.remove();
    }

    /// `pct stop`: kill the container now.
    pub fn stop(&self, skiplock: bool) -> Result<(), Error> {
        let (init, plan) = self.prepare_stop(skiplock)?;
        self.pre_stop_hook(plan.as_ref());
        self.kill(&init, plan.as_ref())
    }

    /// Kill the container at once, through its monitor, or through what the kernel knows
    /// when it has none. The caller has run the pre-stop hook.
    fn kill(&self, init: &InitState, plan: Option<&StartPlan>) -> Result<(), Error> {
        match request(&self.state_dir().socket(), &Request::Stop) {
            Ok(Some((stream, line, _))) if line == "ok" => wait_for_close(stream, STOP_TIMEOUT)
                .then_some(())
                .ok_or_else(|| Error::stop_timeout(self.vmid)),
            _ => {
                self.kill_without_monitor(init);
                self.cleanup_without_monitor(plan);
                Ok(())
            }
        }
    }

    /// `pct suspend` (freeze every process of the container) and `pct resume` (thaw them),
    /// through the limiting cgroup's `cgroup.freeze`, under the config lock.
    pub fn set_suspended(&self, suspended: bool) -> Result<(), Error> {
        let _lock = self.lock()?;
        let config = self.config()?;
        check_lock(&config)?;
        if self.running_init().is_none() {
            return Err(Error::not_running(self.vmid, false));
        }
        let hierarchy = Hierarchy::find().ok_or(Error::NoCgroup2)?;
        ContainerCgroup::of(&hierarchy, self.vmid.get())
            .set_frozen(suspended, FREEZE_TIMEOUT)
            .map_err(|e| Error::io("unable to freeze the container".to_string(), e))
    }

    /// `pct shutdown`: ask init to power off (SIGPWR, or SIGRTMIN+3 for systemd); after
    /// `timeout` kill it when `force_stop`, else fail as pct does.
    pub fn shutdown(&self, timeout: Duration, force_stop: bool) -> Result<(), Error> {
        let (init, plan) = self.prepare_stop(false)?;
        self.pre_stop_hook(plan.as_ref());
        let state = self.state_dir();
        let stopped = match request(&state.socket(), &Request::Shutdown) {
            Ok(Some((stream, line, _))) if line == "ok" => wait_for_close(stream, timeout),
            Ok(Some((_, line, _))) => {
                return Err(Error::ShutdownFailed {
                    vmid: self.vmid,
                    reason: line,
                });
            }
            _ => {
                // No monitor: send the signal here, and again once init has a handler for
                // it if it had none just before (see `signals::catches`).
                let pidfd = init_pidfd(&init, self.vmid.get());
                let halt = || {
                    let caught = catches(init.pid, init.halt_signal);
                    if let Some(pidfd) = &pidfd {
                        let _ = send_through_pidfd(pidfd.as_fd(), init.halt_signal);
                    }
                    caught
                };
                let mut caught = halt();
                let gone = wait_until(timeout, || {
                    if !caught && catches(init.pid, init.halt_signal) {
                        caught = halt();
                    }
                    self.running_init().is_none()
                });
                if gone {
                    self.cleanup_without_monitor(plan.as_ref());
                }
                gone
            }
        };
        if stopped {
            return Ok(());
        }
        if force_stop {
            // As lxc-stop's kill after its timeout: the pre-stop hook has run already.
            return self.kill(&init, plan.as_ref());
        }
        Err(Error::stop_timeout(self.vmid))
    }

    /// `pct reboot`: shut down (killing after the timeout), apply pending changes, start.
    pub fn reboot(&self, timeout: Duration) -> Result<(), Error> {
        self.shutdown(timeout, true)?;
        self.start(&StartOptions::default()).map(|_| ())
    }

    fn prepare_stop(&self, skiplock: bool) -> Result<(InitState, Option<StartPlan>), Error> {
        // pct asks whether the container runs before it reads the config or its lock.
        let Some(init) = self.running_init() else {
            self.clear_leftovers(&self.state_dir());
            return Err(Error::not_running(self.vmid, false));
        };
        let config = self.config()?;
        if !skiplock && config.main.lock() != Some("mounted") {
            check_lock(&config)?;
        }
        Ok((init, self.state_dir().read_plan().ok()))
    }

    fn pre_stop_hook(&self, plan: Option<&StartPlan>) {
        if let Some(hook) = plan.and_then(|p| p.hookscript.as_ref())
            && let Err(error) = run_hookscript(hook, self.vmid.get(), Phase::PreStop, None)
        {
            self.host.observer().warning(error.to_string());
        }
    }

    fn kill_without_monitor(&self, init: &InitState) {
        let cgroup = Hierarchy::find().map(|h| ContainerCgroup::of(&h, self.vmid.get()));
        let killed = cgroup.as_ref().is_some_and(|c| c.kill().unwrap_or(false));
        // Without cgroup.kill, init alone (its pid namespace dies with it), and only once it
        // is proven to be the container's.
        if !killed && let Some(pidfd) = init_pidfd(init, self.vmid.get()) {
            let _ = send_through_pidfd(pidfd.as_fd(), libc::SIGKILL);
        }
        wait_until(STOP_TIMEOUT, || self.running_init().is_none());
    }

    /// What a monitor would do after init ended, when no monitor is left to do it.
    fn cleanup_without_monitor(&self, plan: Option<&StartPlan>) {
        if let Some(hierarchy) = Hierarchy::find() {
            let cgroup = ContainerCgroup::of(&hierarchy, self.vmid.get());
            cgroup.wait_empty(Duration::from_secs(10));
            if let Err(e) = cgroup.remove() {
                self.host.observer().warning(e.to_string());
            }
            MonitorCgroup::of(&hierarchy, self.vmid.get()).remove_if_empty();
        }
        crate::net::remove_leftovers(self.vmid.get());
        let _ = self.state_dir().remove();
        if let Some(hook) = plan.and_then(|p| p.hookscript.as_ref())
            && let Err(error) = run_hookscript(hook, self.vmid.get(), Phase::PostStop, None)
        {
            self.host.observer().warning(error.to_string());
        }
    }
}

/// Wait until the monitor closes the connection (it exits once the container is gone).
fn wait_for_close(mut stream: std::os::unix::net::UnixStream, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 64];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let _ = stream.set_read_timeout(Some(left));
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// pct's checks of a `hookscript` volume: in a snippets directory, existing, executable.
fn hookscript_path(host: &Host, volid: &str) -> Result<PathBuf, Error> {
    let storage = host.storage_config()?;
    let parsed = crate::storage::VolumeId::parse(volid)?;
    if !matches!(parsed.kind(), Ok(crate::storage::VolumeKind::Snippets(_))) {
        return Err(hookscript(volid.to_string(), HookscriptProblem::NotSnippet));
    }
    let path = storage.volume_path(&parsed)?;
    let shown = || path.display().to_string();
    let meta =
        std::fs::metadata(&path).map_err(|_| hookscript(shown(), HookscriptProblem::Missing))?;
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(hookscript(shown(), HookscriptProblem::NotExecutable));
    }
    Ok(path)
}

/// Whether a start of `section` writes ID maps (an unprivileged container, or raw
/// `lxc.idmap` lines), as the plan decides.
fn maps_ids(section: &Section) -> bool {
    section.flag("unprivileged") || section.lxc.iter().any(|(key, _)| key == "lxc.idmap")
}

fn hookscript(script: String, problem: HookscriptProblem) -> Error {
    Error::Hookscript { script, problem }
}

/// One container of `startall`/`stopall`, with its startup settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootEntry {
    /// The container.
    pub vmid: u32,
    /// `startup: order=`.
    pub order: Option<u64>,
    /// `startup: up=`: seconds to wait after starting it.
    pub up: Option<u64>,
    /// `startup: down=`: seconds to wait for it to stop.
    pub down: Option<u64>,
}

/// pve's boot order: containers with an `order` first, ascending, then the rest by vmid.
/// `stopall` uses the reverse.
pub fn boot_order(mut entries: Vec<BootEntry>) -> Vec<BootEntry> {
    entries.sort_by_key(|e| (e.order.unwrap_or(u64::MAX), e.vmid));
    entries
}

impl Host {
    fn boot_entries(&self, onboot_only: bool) -> Result<Vec<BootEntry>, Error> {
        let mut entries = Vec::new();
        for vmid in self.vmids()? {
            let Ok((config, _)) = self.container(vmid).config_with_warnings() else {
                // An unreadable config says nothing of onboot, but a running container
                // must still stop with the rest, as one without a startup order.
                if !onboot_only {
                    entries.push(BootEntry {
                        vmid: vmid.get(),
                        order: None,
                        up: None,
                        down: None,
                    });
                }
                continue;
            };
            if onboot_only && !config.main.flag("onboot") {
                continue;
            }
            if config.main.flag("template") {
                continue;
            }
            let startup = config
                .main
                .startup()
                .and_then(|s| s.ok())
                .unwrap_or_default();
            entries.push(BootEntry {
                vmid: vmid.get(),
                order: startup.order,
                up: startup.up,
                down: startup.down,
            });
        }
        Ok(boot_order(entries))
    }

    /// `pct startall`: every `onboot` container in startup order, waiting `up` seconds after
    /// each that sets it. Failures are reported and the rest still start.
    pub fn start_all(&self) -> Result<Vec<BulkOutcome>, Error> {
        let mut results = Vec::new();
        for entry in self.boot_entries(true)? {
            let ct = self.container(crate::config::Vmid::new(entry.vmid)?);
            if ct.running_init().is_some() {
                continue;
            }
            let result = ct.start(&StartOptions::default()).map(|_| ());
            let started = result.is_ok();
            results.push((entry.vmid, result));
            if started && let Some(up) = entry.up {
                std::thread::sleep(Duration::from_secs(up));
            }
        }
        Ok(results)
    }

    /// `pct stopall`: every running container in reverse startup order, each shut down with
    /// its `down` timeout (else `timeout`), killed afterwards when `force_stop`.
    pub fn stop_all(&self, timeout: Duration, force_stop: bool) -> Result<Vec<BulkOutcome>, Error> {
        let mut results = Vec::new();
        for entry in self.boot_entries(false)?.into_iter().rev() {
            let ct = self.container(crate::config::Vmid::new(entry.vmid)?);
            if ct.running_init().is_none() {
                continue;
            }
            let wait = entry.down.map(Duration::from_secs).unwrap_or(timeout);
            results.push((entry.vmid, ct.shutdown(wait, force_stop)));
        }
        Ok(results)
    }

    /// `pct cpusets`: the CPUs each running container may use.
    pub fn cpusets(&self) -> Result<BTreeMap<u32, Vec<u32>>, Error> {
        let mut sets = BTreeMap::new();
        let hierarchy = Hierarchy::find();
        let all_cpus = || {
            std::fs::read_to_string("/sys/devices/system/cpu/online")
                .map(|t| parse_cpu_list(&t))
                .unwrap_or_default()
        };
        for vmid in self.vmids()? {
            if self.container(vmid).running_init().is_none() {
                continue;
            }
            let cpus = hierarchy
                .as_ref()
                .map(|h| ContainerCgroup::of(h, vmid.get()))
                .and_then(|c| c.read("cpuset.cpus.effective"))
                .map(|t| parse_cpu_list(&t))
                .filter(|cpus| !cpus.is_empty())
                .unwrap_or_else(all_cpus);
            sets.insert(vmid.get(), cpus);
        }
        Ok(sets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_order_puts_ordered_containers_first() {
        let entry = |vmid, order| BootEntry {
            vmid,
            order,
            up: None,
            down: None,
        };
        let sorted = boot_order(vec![
            entry(300, None),
            entry(200, Some(2)),
            entry(100, None),
            entry(400, Some(1)),
        ]);
        let ids: Vec<u32> = sorted.iter().map(|e| e.vmid).collect();
        assert_eq!(ids, [400, 200, 100, 300]);
    }
}
