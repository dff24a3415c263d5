//! The monitor: one small process per running container (`corral monitor <vmid>` in `ps`). It
//! stages the rootfs in a mount namespace of its own, holds the console, clones init, answers
//! the command socket, and when init exits cleans up and runs the post-stop hook — or starts
//! init again when the container rebooted itself.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use rustix::event::{PollFd, PollFlags, poll};
use rustix::fs::{Mode, OFlags, ResolveFlags, open, openat2};
use rustix::mount::UnmountFlags;

use super::command::{Request, read_request, send_reply};
use super::hooks::{Phase, run_hookscript};
use super::plan::{NodeCreation, StartPlan};
use super::signals::{Signal, sigrtmin};
use super::spawn::{ChildInputs, Spawned, spawn_init};
use super::start_error::{StartError, StartStep};
use super::state::{ExitRecord, InitState, StateDir, StopCause, process_start_time};
use super::trace::Trace;
use crate::cgroup::{ContainerCgroup, Hierarchy};
use crate::config::MountOption;
use crate::mount::container::HostPaths;
use crate::mount::mount_volume_owned;
use crate::report::Observer;

/// How a container's init ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum InitExit {
    /// Init exited with this status.
    Exited(i32),
    /// Init was killed by this signal.
    Signaled(i32),
}

impl InitExit {
    /// In a pid namespace, reboot(2) kills init with SIGHUP (halt and power-off with SIGINT).
    pub fn is_reboot(self) -> bool {
        self == InitExit::Signaled(libc::SIGHUP)
    }

    /// The exit status a shell would show.
    pub fn code(self) -> i32 {
        match self {
            InitExit::Exited(code) => code,
            InitExit::Signaled(signal) => 128 + signal,
        }
    }
}

/// How often a shutdown asked for before init caught the halt signal looks again.
const HALT_RETRY_INTERVAL: rustix::event::Timespec = rustix::event::Timespec {
    tv_sec: 0,
    tv_nsec: 20_000_000,
};

/// How long a monitor told to terminate (`systemctl stop`, an init's SIGTERM) waits for the
/// container to shut down before it kills it: `pct shutdown`'s default timeout.
const TERMINATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The signals that ask a detached monitor to end: it shuts its container down cleanly
/// first, as `pct shutdown` would, instead of dying and leaving it unsupervised.
const TERMINATION_SIGNALS: [i32; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// The monitor's own messages once it runs detached (post-stop hook failures, unmount
/// trouble): `var/log/corral/<vmid>.log` of the host root, as LXC keeps one log per container.
pub fn log_path(host_root: &Path, vmid: u32) -> PathBuf {
    host_root.join(format!("var/log/corral/{vmid}.log"))
}

/// Run a container to its end in this process, the monitor: stage, clone init, report,
/// supervise, clean up, and record how it ended (`StateDir::write_exit`). `report` gets
/// `ok` once init runs, or the error; `trace` hears of each step of the start;
/// `termination` is a signalfd of the termination signals for a detached monitor.
pub(super) fn run_supervised(
    host_root: &Path,
    plan: &StartPlan,
    mut report: Option<UnixStream>,
    trace: Trace,
    termination: Option<OwnedFd>,
    observer: Observer,
) -> Result<InitExit, StartError> {
    let vmid = plan.vmid;
    let state = StateDir::new(host_root, vmid);
    let report_fd = report.as_ref().map(|stream| stream.as_raw_fd());
    let mut say = |text: &str| {
        if let Some(stream) = report.as_mut() {
            let _ = stream.write_all(text.as_bytes());
        }
    };
    // Hooks run in the host's mount namespace, not in the monitor's private one.
    let host_ns = File::open("/proc/self/ns/mnt").ok();
    let mut monitor = match Monitor::prepare(host_root, plan, &state, trace, observer) {
        Ok(monitor) => monitor,
        Err(error) => {
            say(&error.encode());
            return Err(error);
        }
    };
    monitor.termination = termination;
    let mut spawned = match monitor.spawn(plan) {
        Ok(spawned) => spawned,
        Err(error) => {
            monitor.teardown(&state);
            deactivate_block_volumes(host_root, plan, &monitor.observer);
            say(&error.encode());
            return Err(error);
        }
    };
    trace.step("init runs; the monitor supervises");
    if report_fd.is_some_and(|fd| monitor.trace.writes_to(fd)) {
        // The step log writes to the report socket, which closes now; its descriptor number
        // must not be written to once it is reused.
        monitor.trace = Trace::off();
    }
    say("ok");
    drop(report);
    let exit = loop {
        let exit = monitor.supervise(&spawned);
        monitor
            .trace
            .step(format_args!("monitor: init ended: {exit:?}"));
        if !exit.is_reboot() || monitor.terminating {
            break exit;
        }
        // The container rebooted itself: same mounts and consoles, fresh init and cgroup.
        monitor.reset_cgroup(plan);
        match monitor.spawn(plan) {
            Ok(next) => spawned = next,
            Err(_) => break exit,
        }
    };
    monitor.teardown(&state);
    deactivate_block_volumes(host_root, plan, &monitor.observer);
    // Before the post-stop hook: whoever waits for the end learns it as soon as the
    // container is gone; the monitor's own exit, after the hook, tells the rest.
    let record = ExitRecord {
        init: exit,
        stopped_by: monitor.stopped_by,
    };
    if let Err(e) = state.write_exit(&record) {
        monitor
            .observer
            .warning(format!("unable to record how CT {vmid} ended: {e}"));
    }
    if let Some(hook) = &plan.hookscript
        && let Err(message) = run_hookscript(hook, vmid, Phase::PostStop, host_ns.as_ref())
    {
        monitor.observer.warning(message);
    }
    Ok(exit)
}

/// After the staged mounts are gone, deactivate the storage volumes that are block devices
/// (LVs), as pve-storage does after a container stops; file volumes need nothing. Failures
/// leave the volume active and are warnings.
fn deactivate_block_volumes(host_root: &Path, plan: &StartPlan, observer: &Observer) {
    let volumes: Vec<_> = plan
        .volumes
        .iter()
        .filter(|v| matches!(v.source, crate::mount::VolumeSource::BlockDevice(_)))
        .filter_map(|v| crate::storage::VolumeId::parse(&v.volume).ok())
        .collect();
    if volumes.is_empty() {
        return;
    }
    let storage = match crate::storage::StorageConfig::load(host_root) {
        Ok(storage) => storage,
        Err(e) => return observer.warning(e.to_string()),
    };
    for volid in volumes {
        if let Err(e) = storage.deactivate_volume(&volid) {
            observer.warning(e.to_string());
        }
    }
}

struct Pty {
    master: OwnedFd,
    slave: OwnedFd,
    path: PathBuf,
}

/// What the monitor holds for a running container.
struct Monitor {
    rootfs: PathBuf,
    cgroup: Option<ContainerCgroup>,
    hierarchy: Option<Hierarchy>,
    console: Option<Pty>,
    ttys: Vec<Pty>,
    listener: UnixListener,
    seccomp: Vec<libc::sock_filter>,
    seccomp_cache: PathBuf,
    halt_signal: i32,
    /// A shutdown was asked for before init could catch the halt signal: the kernel dropped
    /// it, so it goes again once init has its handler.
    halt_pending: bool,
    /// Connections holding a tty (index 0 = console, n = ttyn).
    tty_clients: Vec<Option<UnixStream>>,
    /// Connections waiting for the container to stop.
    waiters: Vec<UnixStream>,
    state: StateDir,
    trace: Trace,
    /// Whether the start-up code's pages were given back (see `residency`).
    trimmed: bool,
    host_root: PathBuf,
    /// The generated AppArmor profile loaded for this container, unloaded at the end.
    apparmor: Option<super::apparmor::GeneratedProfile>,
    /// Seccomp listeners the monitor answers (`features: mknod=1`): init's and those of
    /// attached commands.
    listeners: Vec<OwnedFd>,
    /// The termination signals, for a detached monitor.
    termination: Option<OwnedFd>,
    /// A termination signal came: the container was asked to halt and is not restarted.
    terminating: bool,
    /// Who asked the container to end, when someone did.
    stopped_by: Option<StopCause>,
    /// When a container asked to halt by a termination signal is killed if still running.
    kill_deadline: Option<std::time::Instant>,
    /// Hears the monitor's messages: the caller of a foreground start, else the log.
    observer: Observer,
}

impl Monitor {
    fn prepare(
        host_root: &Path,
        plan: &StartPlan,
        state: &StateDir,
        trace: Trace,
        observer: Observer,
    ) -> Result<Monitor, StartError> {
        let setup_failed = |message| StartError::new(StartStep::MonitorSetup, message);
        // A mount namespace of our own: the staged rootfs is invisible to the host and goes
        // away with the monitor and the container.
        trace.step("monitor: unshare a private mount namespace");
        unshare_mount_namespace().map_err(setup_failed)?;
        let rootfs = state.rootfs();
        let mut monitor = Monitor {
            rootfs: rootfs.clone(),
            cgroup: None,
            hierarchy: Hierarchy::find(),
            console: None,
            ttys: Vec::new(),
            listener: bind_listener(&state.socket()).map_err(setup_failed)?,
            seccomp: Vec::new(),
            seccomp_cache: super::seccomp::cache_dir(host_root),
            halt_signal: libc::SIGPWR,
            halt_pending: false,
            tty_clients: Vec::new(),
            waiters: Vec::new(),
            state: state.clone(),
            trace,
            trimmed: false,
            host_root: host_root.to_path_buf(),
            apparmor: None,
            listeners: Vec::new(),
            termination: None,
            terminating: false,
            stopped_by: None,
            kill_deadline: None,
            observer,
        };
        if let Err(error) = monitor.stage(plan) {
            monitor.teardown(state);
            return Err(error);
        }
        Ok(monitor)
    }

    fn stage(&mut self, plan: &StartPlan) -> Result<(), StartError> {
        let at = |step| move |message| StartError::new(step, message);
        std::fs::create_dir_all(&self.rootfs).map_err(|e| {
            let context = format!("unable to create '{}'", self.rootfs.display());
            StartError::io(StartStep::Mount, context, e)
        })?;
        let owner = plan.id_map.as_ref().map(|_| plan.root_owner);
        for (index, volume) in plan.volumes.iter().enumerate() {
            self.trace.step_with(|| {
                let target = if index == 0 {
                    format!("the staged rootfs {}", self.rootfs.display())
                } else {
                    volume.target.clone()
                };
                format!(
                    "monitor: mount {} ({}) at {target}",
                    volume.key, volume.volume
                )
            });
            let result = if index == 0 {
                mount_volume_owned(&volume.source, None, &self.rootfs, volume.read_only, None)
            } else {
                mount_volume_owned(
                    &volume.source,
                    Some(&self.rootfs),
                    Path::new(&volume.target),
                    volume.read_only,
                    owner,
                )
            };
            let host_path = result.map_err(|e| {
                let message = format!("unable to mount {} ({}): {e}", volume.key, volume.volume);
                StartError::with_errno(StartStep::Mount, message, e.raw_os_error())
            })?;
            apply_mount_options(&host_path, volume).map_err(at(StartStep::Mount))?;
        }
        self.trace.step("monitor: guest setup (pre-start)");
        run_guest_setup(&self.rootfs, plan, &self.observer).map_err(at(StartStep::GuestSetup))?;
        self.halt_signal = halt_signal(plan.halt_signal, || {
            init_is_systemd(&self.rootfs, &plan.init.argv[0])
        });
        self.trace.step(format_args!(
            "monitor: halt signal is {}",
            super::signals::signal_name(self.halt_signal)
        ));
        if !plan.devices.is_empty() {
            self.trace.step(format_args!(
                "monitor: create {} passthrough device nodes",
                plan.devices.len()
            ));
        }
        make_device_nodes(&self.state.devices(), plan).map_err(at(StartStep::Devices))?;
        self.trace.step(format_args!(
            "monitor: open ptys for {} console and {} ttys",
            if plan.dev.console { "the" } else { "no" },
            plan.dev.ttys
        ));
        if plan.dev.console {
            self.console = Some(open_pty(plan.root_owner).map_err(at(StartStep::Devices))?);
        }
        for _ in 0..plan.dev.ttys {
            self.ttys
                .push(open_pty(plan.root_owner).map_err(at(StartStep::Devices))?);
        }
        self.tty_clients = (0..=self.ttys.len()).map(|_| None).collect();
        self.make_cgroup(plan)?;
        self.trace.step(format_args!(
            "monitor: seccomp policy {} (compiled once, cached in {})",
            plan.seccomp.source,
            self.seccomp_cache.display()
        ));
        self.seccomp = super::seccomp::cached_filter(&self.seccomp_cache, &plan.seccomp.policy)
            .map_err(|e| {
                let message = format!("seccomp profile {}: {e}", plan.seccomp.source);
                StartError::new(StartStep::Seccomp, message)
            })?;
        if let Some(profile) = &plan.apparmor.generated {
            self.trace.step_with(|| {
                format!(
                    "monitor: load the AppArmor profile {}{}",
                    profile.name,
                    profile
                        .namespace
                        .as_ref()
                        .map(|ns| format!(" and the policy namespace {ns}"))
                        .unwrap_or_default()
                )
            });
            // Recorded first: a load that fails half-way (namespace made, file written) is
            // undone by the teardown like a loaded one.
            self.apparmor = Some(profile.clone());
            super::apparmor::load(&self.host_root, profile)?;
        }
        Ok(())
    }

    fn make_cgroup(&mut self, plan: &StartPlan) -> Result<(), StartError> {
        let failed = |e: io::Error| StartError::caused_by(StartStep::Cgroup, e.to_string(), &e);
        let Some(hierarchy) = &self.hierarchy else {
            self.trace
                .step("monitor: no cgroup v2 hierarchy; no cgroup");
            return Ok(());
        };
        let cgroup = ContainerCgroup::create(hierarchy, plan.vmid).map_err(|e| {
            StartError::io(
                StartStep::Cgroup,
                "unable to create the container's cgroup",
                e,
            )
        })?;
        self.trace
            .step(format_args!("monitor: cgroup {}", cgroup.payload.display()));
        for write in &plan.cgroup.writes {
            // The plan knows which controllers this host lacks (and warned about them).
            if plan.cgroup.unenforced.contains(&write.key) {
                self.trace.step(format_args!(
                    "monitor: skip {} = {} (no controller for it)",
                    write.key, write.value
                ));
                continue;
            }
            self.trace.step(format_args!(
                "monitor: write {} = {}",
                write.key, write.value
            ));
            if let Err(e) = cgroup.write(&write.key, &write.value) {
                let _ = cgroup.remove();
                return Err(failed(e));
            }
        }
        if plan.id_map.is_some()
            && let Err(e) = cgroup.delegate(plan.root_owner.0, plan.root_owner.1)
        {
            let _ = cgroup.remove();
            return Err(failed(e));
        }
        if let Some(rules) = &plan.device_rules {
            self.trace.step(format_args!(
                "monitor: attach the device filter ({} rules) to {}",
                rules.len(),
                cgroup.limiting.display()
            ));
            if let Err(e) = crate::cgroup::devices::restrict(&cgroup.limiting, rules) {
                let _ = cgroup.remove();
                return Err(failed(e));
            }
        }
        self.cgroup = Some(cgroup);
        Ok(())
    }

    fn reset_cgroup(&mut self, plan: &StartPlan) {
        if let Some(cgroup) = self.cgroup.take() {
            let _ = cgroup.kill();
            cgroup.wait_empty(std::time::Duration::from_secs(5));
            let _ = cgroup.remove();
        }
        let _ = self.make_cgroup(plan);
    }

    fn host_paths(&self, plan: &StartPlan) -> Result<HostPaths, String> {
        let mut paths = HostPaths {
            rootfs: self.rootfs.clone(),
            ..Default::default()
        };
        if plan.dev.creation == NodeCreation::Bind {
            for node in &plan.dev.nodes {
                paths
                    .basic_nodes
                    .push((node.name.clone(), Path::new("/dev").join(&node.name)));
            }
        }
        for device in &plan.devices {
            paths
                .devices
                .push((device.path.clone(), self.state.devices().join(&device.key)));
        }
        paths.lxcfs = plan.lxcfs.as_ref().map(|l| l.binds()).unwrap_or_default();
        paths.console = self.console.as_ref().map(|pty| pty.path.clone());
        paths.ttys = self.ttys.iter().map(|pty| pty.path.clone()).collect();
        Ok(paths)
    }

    fn spawn(&mut self, plan: &StartPlan) -> Result<Spawned, StartError> {
        let host = self
            .host_paths(plan)
            .map_err(|message| StartError::new(StartStep::Devices, message))?;
        let (stdio, console_is_tty) = match &self.console {
            Some(pty) => (
                pty.slave
                    .try_clone()
                    .map_err(|e| StartError::io(StartStep::Devices, "dup", e))?,
                true,
            ),
            None => (
                open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
                    .map_err(|e| StartError::io(StartStep::Devices, "/dev/null", e.into()))?,
                false,
            ),
        };
        let cgroup = match &self.cgroup {
            Some(cgroup) => Some(cgroup.payload_fd().map_err(|e| {
                StartError::io(StartStep::Cgroup, "unable to open the payload cgroup", e)
            })?),
            None => None,
        };
        let mut starting = spawn_init(ChildInputs {
            plan,
            host,
            stdio,
            console_is_tty,
            seccomp: &self.seccomp,
            cgroup,
            trace: self.trace,
        })?;
        // Record the container while its init sets itself up; a start that fails after this
        // is cleaned up with the rest of the state directory.
        let pid = starting.pid();
        let init = InitState {
            pid,
            start_time: process_start_time(pid).unwrap_or(0),
            monitor_pid: std::process::id(),
            cgroup: self
                .cgroup
                .as_ref()
                .map(|c| c.payload.clone())
                .unwrap_or_default(),
            halt_signal: self.halt_signal,
        };
        if let Err(e) = self.state.write_init(&init) {
            let context = "unable to record the container's state";
            return Err(starting.abort(StartError::io(StartStep::State, context, e)));
        }
        if !plan.network.is_empty() {
            self.trace.step(format_args!(
                "monitor: {} veth pair(s), peers inside the container",
                plan.network.len()
            ));
        }
        if let Err(e) = crate::net::create_host_side(&plan.network, pid) {
            return Err(starting.abort(StartError::from_net(e)));
        }
        if let Err(e) = starting.release(plan, &self.trace) {
            crate::net::remove_leftovers(plan.vmid);
            return Err(starting.abort(e));
        }
        let (spawned, listener) = match starting.wait_exec() {
            Ok(started) => started,
            Err(e) => {
                crate::net::remove_leftovers(plan.vmid);
                return Err(e);
            }
        };
        self.listeners.extend(listener);
        Ok(spawned)
    }

    /// Serve requests until init exits.
    fn supervise(&mut self, spawned: &Spawned) -> InitExit {
        let _ = self.listener.set_nonblocking(true);
        loop {
            let console_idle = self.console.is_some() && self.tty_clients[0].is_none();
            let mut fds = vec![
                PollFd::new(&spawned.pidfd, PollFlags::IN),
                PollFd::new(&self.listener, PollFlags::IN),
            ];
            if console_idle {
                fds.push(PollFd::new(
                    &self.console.as_ref().unwrap().master,
                    PollFlags::IN,
                ));
            }
            let clients: Vec<(usize, &UnixStream)> = self
                .tty_clients
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.as_ref().map(|c| (i, c)))
                .collect();
            let client_base = fds.len();
            for (_, client) in &clients {
                fds.push(PollFd::new(*client, PollFlags::IN));
            }
            let listener_base = fds.len();
            for listener in &self.listeners {
                fds.push(PollFd::new(listener, PollFlags::IN));
            }
            let termination_index = fds.len();
            if let Some(signals) = &self.termination {
                fds.push(PollFd::new(signals, PollFlags::IN));
            }
            // Once the container has run quietly for a while, only this loop will run on:
            // give back the start-up code's pages then, off the start path.
            let timeout = if self.halt_pending {
                Some(HALT_RETRY_INTERVAL)
            } else if let Some(deadline) = self.kill_deadline {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                Some(rustix::event::Timespec {
                    tv_sec: left.as_secs() as i64,
                    tv_nsec: i64::from(left.subsec_nanos()),
                })
            } else {
                (!self.trimmed).then_some(rustix::event::Timespec {
                    tv_sec: 1,
                    tv_nsec: 0,
                })
            };
            match poll(&mut fds, timeout.as_ref()) {
                Ok(0) if !self.trimmed && !self.halt_pending => {
                    self.trimmed = true;
                    let _ = super::residency::drop_clean_file_pages();
                    continue;
                }
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
            let ready = |fd: &PollFd<'_>| !fd.revents().is_empty();
            let init_done = ready(&fds[0]);
            let incoming = ready(&fds[1]);
            let console_ready = console_idle && ready(&fds[2]);
            let released: Vec<usize> = clients
                .iter()
                .enumerate()
                .filter(|(k, _)| ready(&fds[client_base + k]))
                .map(|(_, (index, _))| *index)
                .collect();
            let notified: Vec<PollFlags> = fds[listener_base..listener_base + self.listeners.len()]
                .iter()
                .map(|fd| fd.revents())
                .collect();
            let terminate = fds.get(termination_index).is_some_and(ready);
            drop(fds);
            if terminate {
                self.terminate(spawned);
            }
            if self
                .kill_deadline
                .is_some_and(|deadline| std::time::Instant::now() >= deadline)
            {
                self.kill_deadline = None;
                self.kill(spawned);
            }
            // Last first, so removals keep the earlier indexes.
            for (index, events) in notified.iter().enumerate().rev() {
                if events.contains(PollFlags::IN) {
                    let _ = super::mknod::handle(self.listeners[index].as_fd());
                }
                if events.intersects(PollFlags::HUP | PollFlags::ERR) {
                    self.listeners.remove(index);
                }
            }
            if init_done && let Some(exit) = wait_exit(spawned) {
                return exit;
            }
            if self.halt_pending && super::signals::catches(spawned.pid, self.halt_signal) {
                let _ = self.send_halt(spawned);
            }
            if console_ready {
                drain(&self.console.as_ref().unwrap().master);
            }
            for index in released {
                // A client's end closed (or sent something, which nobody should): free its tty.
                let mut probe = [0u8; 64];
                let closed = match &self.tty_clients[index] {
                    Some(client) => matches!(
                        rustix::net::recv(client, &mut probe, rustix::net::RecvFlags::DONTWAIT),
                        Ok((0, _)) | Err(_)
                    ),
                    None => false,
                };
                if closed {
                    self.tty_clients[index] = None;
                }
            }
            if incoming {
                while let Ok((stream, _)) = self.listener.accept() {
                    let _ = stream.set_nonblocking(false);
                    self.handle(stream, spawned);
                }
                // Answering pulled code back in (an exec, a console, a stop that did not
                // happen): give it back again after the next quiet second.
                self.trimmed = false;
            }
        }
    }

    fn handle(&mut self, stream: UnixStream, spawned: &Spawned) {
        let (request, fd) = match read_request(&stream) {
            Ok((Some(request), fd)) => (request, fd),
            _ => {
                let _ = send_reply(&stream, "error unknown request", None);
                return;
            }
        };
        match request {
            Request::State => {
                let _ = send_reply(&stream, &format!("running {}", spawned.pid), None);
            }
            Request::Listener => match fd {
                Some(listener) => {
                    self.listeners.push(listener);
                    let _ = send_reply(&stream, "ok", None);
                }
                None => {
                    let _ = send_reply(&stream, "error no listener", None);
                }
            },
            Request::Stop => {
                self.stopped_by = Some(StopCause::Stop);
                self.kill(spawned);
                let _ = send_reply(&stream, "ok", None);
                self.waiters.push(stream);
            }
            Request::Shutdown => {
                self.stopped_by.get_or_insert(StopCause::Shutdown);
                let reply = match self.send_halt(spawned) {
                    Ok(()) => "ok".to_string(),
                    Err(e) => format!("error {e}"),
                };
                let _ = send_reply(&stream, &reply, None);
                self.waiters.push(stream);
            }
            Request::Console(wanted) => {
                let index = if wanted < 0 {
                    (1..self.tty_clients.len()).find(|&i| self.tty_clients[i].is_none())
                } else {
                    Some(wanted as usize)
                };
                let master = index.and_then(|i| match i {
                    0 => self.console.as_ref().map(|p| &p.master),
                    i => self.ttys.get(i - 1).map(|p| &p.master),
                });
                match (index, master) {
                    (Some(i), Some(master)) if self.tty_clients[i].is_none() => {
                        let _ = rustix::io::ioctl_fionbio(master, false);
                        if send_reply(&stream, &format!("ok {i}"), Some(master.as_fd())).is_ok() {
                            self.tty_clients[i] = Some(stream);
                        }
                    }
                    (Some(_), Some(_)) => {
                        let _ = send_reply(&stream, "busy", None);
                    }
                    _ => {
                        let _ = send_reply(&stream, "error no such tty", None);
                    }
                }
            }
            Request::Pidfd => {
                let _ = send_reply(&stream, "ok", Some(spawned.pidfd.as_fd()));
            }
            Request::Cgroup => {
                let path = self
                    .cgroup
                    .as_ref()
                    .map(|c| c.payload.display().to_string())
                    .unwrap_or_default();
                let _ = send_reply(&stream, &format!("ok {path}"), None);
            }
        }
    }

    /// Send init the halt signal. If init had no handler for it just before, the signal may
    /// have been dropped: `halt_pending` has it sent again once init catches it. (Looking
    /// after sending could miss a handler set up in between.)
    fn send_halt(&mut self, spawned: &Spawned) -> io::Result<()> {
        self.halt_pending = !super::signals::catches(spawned.pid, self.halt_signal);
        super::signals::send_through_pidfd(spawned.pidfd.as_fd(), self.halt_signal)
    }

    /// A termination signal came: halt the container as `pct shutdown` does, and kill it
    /// if it has not stopped by the deadline; a second signal kills it at once.
    fn terminate(&mut self, spawned: &Spawned) {
        let mut info = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
        if let Some(signals) = &self.termination {
            while matches!(rustix::io::read(signals, &mut info), Ok(n) if n > 0) {}
        }
        if self.terminating {
            self.trace
                .step("monitor: terminated again; kill the container");
            self.kill_deadline = None;
            self.kill(spawned);
            return;
        }
        self.trace
            .step("monitor: terminated; shut the container down");
        self.terminating = true;
        self.stopped_by.get_or_insert(StopCause::Shutdown);
        self.kill_deadline = Some(std::time::Instant::now() + TERMINATION_TIMEOUT);
        if self.send_halt(spawned).is_err() {
            self.kill(spawned);
        }
    }

    /// Kill every process of the container: the whole cgroup at once where the kernel can,
    /// else init (its pid namespace dies with it).
    fn kill(&self, spawned: &Spawned) {
        let killed = self
            .cgroup
            .as_ref()
            .is_some_and(|c| c.kill().unwrap_or(false));
        if !killed {
            let _ =
                rustix::process::pidfd_send_signal(&spawned.pidfd, rustix::process::Signal::KILL);
        }
    }

    fn teardown(&mut self, state: &StateDir) {
        if let Some(cgroup) = self.cgroup.take() {
            self.trace
                .step("monitor: kill what is left in the cgroup and remove it");
            let _ = cgroup.kill();
            cgroup.wait_empty(std::time::Duration::from_secs(10));
            if let Err(e) = cgroup.remove() {
                self.observer.warning(e.to_string());
            }
        }
        self.trace.step("monitor: unmount the staged rootfs");
        // The staging mounts live in the monitor's own namespace and nothing else uses them
        // now: one lazy detach takes the whole tree down (a busy file system, such as a loop
        // device someone still reads, is released when its last user goes).
        if let Err(e) =
            rustix::mount::unmount(&self.rootfs, UnmountFlags::DETACH | UnmountFlags::NOFOLLOW)
        {
            self.observer.warning(format!(
                "unable to unmount '{}': {e}",
                self.rootfs.display()
            ));
        }
        if let Some(profile) = self.apparmor.take() {
            self.trace.step(format_args!(
                "monitor: unload the AppArmor profile {}",
                profile.name
            ));
            super::apparmor::unload(&profile);
        }
        let _ = state.remove();
        self.trace.step("monitor: stopped");
    }
}

/// unshare(CLONE_NEWNS) and make every mount a slave of the host's, as LXC's monitor does:
/// nothing staged here propagates to the host, while the host's unmounts reach this
/// namespace, so the monitor never pins a host mount (or the loop device under it) that
/// was there before the start.
fn unshare_mount_namespace() -> Result<(), String> {
    // SAFETY: unshare of the mount namespace only; the monitor is single-threaded.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(format!(
            "unable to create the monitor's mount namespace: {}",
            io::Error::last_os_error()
        ));
    }
    rustix::mount::mount_change(
        "/",
        rustix::mount::MountPropagationFlags::DOWNSTREAM
            | rustix::mount::MountPropagationFlags::REC,
    )
    .map_err(|e| format!("unable to make the monitor's mounts slaves of the host's: {e}"))
}

/// Block the termination signals and return a signalfd that receives them, for the
/// monitor's poll loop. Only a detached monitor calls this: it is its own process. The
/// container's init unblocks them again before exec (`spawn::reset_signals`).
pub(super) fn termination_signal_fd() -> Option<OwnedFd> {
    // SAFETY: signal-mask and signalfd calls on a local, initialised set, in the monitor's
    // own single-threaded process.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in TERMINATION_SIGNALS {
            libc::sigaddset(&mut set, signal);
        }
        if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return None;
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
        (fd >= 0).then(|| OwnedFd::from_raw_fd(fd))
    }
}

/// Read and drop what the container wrote to a console nobody is connected to, so its
/// writers never block on a full buffer. The master's file status flags are shared with
/// every client it was handed to (a `pct console` wants it blocking), so it is made
/// non-blocking again first: one blocking read here would hang the monitor, and with it
/// every stop, shutdown and exec.
fn drain(master: &OwnedFd) {
    let _ = rustix::io::ioctl_fionbio(master, true);
    let mut sink = [0u8; 4096];
    while matches!(rustix::io::read(master, &mut sink), Ok(n) if n > 0) {}
}

fn wait_exit(spawned: &Spawned) -> Option<InitExit> {
    // SAFETY: waitid on our own child's pidfd with a zeroed siginfo.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let rc = unsafe {
        libc::waitid(
            libc::P_PIDFD,
            spawned.pidfd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: filled in by waitid for an exited child.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return None;
    }
    Some(if info.si_code == libc::CLD_EXITED {
        InitExit::Exited(status)
    } else {
        InitExit::Signaled(status)
    })
}

fn bind_listener(path: &Path) -> Result<UnixListener, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("unable to create '{}': {e}", dir.display()))?;
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(|e| {
        format!(
            "unable to create the command socket '{}': {e}",
            path.display()
        )
    })?;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    Ok(listener)
}

/// `mountoptions`: per-mount flags on the mount itself; file-system options (discard,
/// lazytime) by remounting the file system of volumes that are not binds.
fn apply_mount_options(path: &Path, volume: &super::plan::VolumeMount) -> Result<(), String> {
    if volume.flags.is_empty() && volume.fs_options.is_empty() {
        return Ok(());
    }
    let mut flags = libc::MS_REMOUNT | libc::MS_BIND;
    if volume.read_only {
        flags |= libc::MS_RDONLY;
    }
    for flag in &volume.flags {
        flags |= match flag {
            MountOption::Nosuid => libc::MS_NOSUID,
            MountOption::Nodev => libc::MS_NODEV,
            MountOption::Noexec => libc::MS_NOEXEC,
            MountOption::Noatime => libc::MS_NOATIME,
            // The plan keeps the file-system options apart.
            MountOption::Discard | MountOption::Lazytime => 0,
        };
    }
    let target = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| "mount path holds a NUL byte".to_string())?;
    // SAFETY: mount(2) with valid strings.
    if unsafe {
        libc::mount(
            std::ptr::null(),
            target.as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        )
    } != 0
    {
        return Err(format!(
            "unable to apply mount options of {}: {}",
            volume.key,
            io::Error::last_os_error()
        ));
    }
    if !volume.fs_options.is_empty() {
        let mut sb_flags = libc::MS_REMOUNT;
        let mut data = Vec::new();
        for option in &volume.fs_options {
            match option {
                MountOption::Lazytime => sb_flags |= libc::MS_LAZYTIME,
                other => data.push(other.name()),
            }
        }
        if volume.read_only {
            sb_flags |= libc::MS_RDONLY;
        }
        let data = std::ffi::CString::new(data.join(",")).unwrap_or_default();
        // SAFETY: mount(2) with valid strings.
        if unsafe {
            libc::mount(
                std::ptr::null(),
                target.as_ptr(),
                std::ptr::null(),
                sb_flags,
                data.as_ptr().cast(),
            )
        } != 0
        {
            return Err(format!(
                "unable to apply mount options of {}: {}",
                volume.key,
                io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// pct's pre-start hook: the guest's files for this start. Its messages and warnings go to
/// the monitor's observer: the log of a detached monitor, as pct's go to the container's
/// task log.
fn run_guest_setup(rootfs: &Path, plan: &StartPlan, observer: &Observer) -> Result<(), String> {
    let request = crate::setup::SetupRequest {
        rootfs,
        owner: plan.id_map.as_ref().map(|_| plan.root_owner),
        conf: &plan.guest,
        host: &plan.guest_host,
        hook: crate::setup::Hook::PreStart,
    };
    let result = crate::setup::run(&request);
    let report = match &result {
        Ok(outcome) => &outcome.report,
        Err(error) => &error.report,
    };
    for message in &report.messages {
        observer.notice(message.clone());
    }
    for warning in &report.warnings {
        observer.warning(format!("WARN: {warning}"));
    }
    result.map(|_| ()).map_err(|e| e.message)
}

/// The signal `pct shutdown` sends to init: `lxc.signal.halt` when the config sets it, else
/// LXC's choice, SIGRTMIN+3 for systemd (SIGPWR would not halt it) and SIGPWR for any other
/// init. A graceful halt must be a signal init can catch: never SIGKILL by default.
fn halt_signal(configured: Option<Signal>, systemd: impl FnOnce() -> bool) -> i32 {
    match configured {
        Some(signal) => signal.number(),
        None if systemd() => sigrtmin() + 3,
        None => libc::SIGPWR,
    }
}

/// Whether init is systemd: follow the init path's symlinks inside the rootfs and look at
/// what it ends in.
fn init_is_systemd(rootfs: &Path, init: &str) -> bool {
    let Ok(root) = open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    let Ok(file) = openat2(
        &root,
        init.trim_start_matches('/'),
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT,
    ) else {
        return false;
    };
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .map(|target| target.file_name().is_some_and(|name| name == "systemd"))
        .unwrap_or(false)
}

/// A pty pair from the host's devpts; the slave is handed to the container's root.
fn open_pty(owner: (u32, u32)) -> Result<Pty, String> {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let fail = |e: rustix::io::Errno| format!("unable to allocate a console pty: {e}");
    let master =
        openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).map_err(fail)?;
    grantpt(&master).map_err(fail)?;
    unlockpt(&master).map_err(fail)?;
    let name = ptsname(&master, Vec::new()).map_err(fail)?;
    let path = PathBuf::from(name.to_string_lossy().into_owned());
    let slave = open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(fail)?;
    rustix::fs::fchown(
        &slave,
        Some(rustix::process::Uid::from_raw(owner.0)),
        Some(rustix::process::Gid::from_raw(owner.1)),
    )
    .map_err(fail)?;
    Ok(Pty {
        master,
        slave,
        path,
    })
}

/// `devN` nodes made by the monitor (which may mknod) in the state dir, with their mode and
/// owner, for the container to bind.
fn make_device_nodes(dir: &Path, plan: &StartPlan) -> Result<(), String> {
    if plan.devices.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("unable to create '{}': {e}", dir.display()))?;
    for device in &plan.devices {
        let path = dir.join(&device.key);
        let _ = std::fs::remove_file(&path);
        let kind = if device.kind == 'b' {
            rustix::fs::FileType::BlockDevice
        } else {
            rustix::fs::FileType::CharacterDevice
        };
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            kind,
            Mode::from_raw_mode(device.mode),
            rustix::fs::makedev(device.major, device.minor),
        )
        .map_err(|e| format!("unable to create device node for {}: {e}", device.path))?;
        rustix::fs::chmod(&path, Mode::from_raw_mode(device.mode))
            .map_err(|e| format!("chmod {}: {e}", device.path))?;
        std::os::unix::fs::chown(&path, Some(device.uid), Some(device.gid))
            .map_err(|e| format!("chown {}: {e}", device.path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_halt_signal_is_sigpwr_sigrtmin_3_for_systemd_or_the_configured_one() {
        assert_eq!(halt_signal(None, || false), libc::SIGPWR);
        assert_eq!(halt_signal(None, || true), sigrtmin() + 3);
        let configured = halt_signal(Signal::parse("SIGTERM"), || panic!("the config decides"));
        assert_eq!(configured, libc::SIGTERM);
        assert_eq!(
            halt_signal(Signal::parse("RTMIN+3"), || false),
            sigrtmin() + 3
        );
    }

    #[test]
    fn systemd_is_recognised_through_links_inside_the_rootfs_only() {
        use std::os::unix::fs::symlink;
        let rootfs = tempfile::tempdir().unwrap();
        let path = |p: &str| rootfs.path().join(p);
        for dir in ["sbin", "lib/systemd", "bin"] {
            std::fs::create_dir_all(path(dir)).unwrap();
        }
        std::fs::write(path("lib/systemd/systemd"), "").unwrap();
        std::fs::write(path("bin/busybox"), "").unwrap();
        // Absolute links resolve inside the rootfs, not on the host.
        symlink("/lib/systemd/systemd", path("sbin/init")).unwrap();
        symlink("busybox", path("bin/init")).unwrap();
        symlink("../lib/systemd/systemd", path("bin/relative-init")).unwrap();
        assert!(init_is_systemd(rootfs.path(), "/sbin/init"));
        assert!(init_is_systemd(rootfs.path(), "/bin/relative-init"));
        assert!(init_is_systemd(rootfs.path(), "/lib/systemd/systemd"));
        assert!(!init_is_systemd(rootfs.path(), "/bin/init"));
        assert!(!init_is_systemd(rootfs.path(), "/no/such/init"));
        assert!(!init_is_systemd(&path("missing-rootfs"), "/sbin/init"));
    }
}
