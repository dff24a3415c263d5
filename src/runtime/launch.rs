//! How a container's monitor is born, without changing the process that starts it.
//!
//! Design: the monitor is a freshly exec'd copy of the calling program's own binary
//! (`/proc/self/exe`), which turns into the monitor before its `main` runs, from the
//! crate's `.init_array` constructor (`crate::reexec`), which looks for [`REQUEST_ENV`] (the
//! way runc's nsexec runs before the Go runtime). Every program that links corral has the constructor,
//! so no helper binary has to be installed and found, and no program has to hand corral a
//! "monitor mode" of its own.
//!
//! Why not fork the caller, as earlier versions did: the caller may be a multi-threaded
//! embedder (an API server on tokio). A fork copies only the forking thread, with every lock
//! another thread held at that moment — glibc's stdio and loader locks, Rust's environment
//! lock and stderr lock, an allocator's locks (the raw clone3 a monitor needs for
//! CLONE_INTO_CGROUP skips glibc's atfork handlers, which are what make malloc usable after
//! fork) — held forever in the child. The monitor runs the whole runtime (allocation,
//! formatting, file system, hooks), so a fork can deadlock or corrupt it at random. A child
//! of `std::process::Command` does only async-signal-safe work until exec (here: clearing
//! close-on-exec of the report socket and the events pipe), and after exec the process is
//! single-threaded with fresh locks, so every "single-threaded" claim the monitor's code
//! makes is true.
//!
//! For a detached start the exec'd helper is the old intermediate: it creates the monitor's
//! cgroup, clones the monitor straight into it (no migration, which would cost an RCU grace
//! period) and exits at once, so the monitor is reparented and never the caller's zombie.
//! For a foreground start the helper is the monitor itself, in the caller's cgroup, and the
//! caller waits for it. The cost is one exec of the program per start.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::monitor::{InitExit, log_path, run_supervised, termination_signal_fd};
use super::plan::StartPlan;
use super::relay::{pipe_observer, relay};
use super::start_error::{StartError, StartStep};
use super::state::StateDir;
use super::trace::{Trace, caller_line, relayed_line};
use crate::cgroup::{Hierarchy, MonitorCgroup};
use crate::report::{Event, Observer};

/// What the helper is asked to do: `<vmid>:<detached|foreground>:<trace origin, 0 for
/// none>:<report socket descriptor>:<events pipe descriptor, - for none>`. Removed from the
/// environment before anything else runs, so hooks and programs the monitor starts never
/// see it.
pub const REQUEST_ENV: &str = "CORRAL_MONITOR_REQUEST";
/// The host root of the container, beside the request (a path is not limited to UTF-8).
const ROOT_ENV: &str = "CORRAL_MONITOR_ROOT";

fn open_log(host_root: &Path, vmid: u32) -> Option<File> {
    let path = log_path(host_root, vmid);
    std::fs::create_dir_all(path.parent()?).ok()?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .ok()
}

/// The detached monitor's messages, one line each, appended to the container's log: they
/// do not concern the caller, whose start has returned and who may be long gone.
fn log_observer(host_root: &Path, vmid: u32) -> Observer {
    match open_log(host_root, vmid) {
        Some(log) => Observer::new(move |event| {
            if let Some(text) = event.text() {
                let _ = writeln!(&log, "{text}");
            }
        }),
        None => Observer::none(),
    }
}

/// Start a detached monitor for `plan` (already in its state dir), and wait until init has
/// exec'd.
///
/// The monitor runs in its own session with no terminal, its output and messages going to
/// the container's log ([`log_path`]); it appears in `ps` as `corral monitor <vmid>`. With
/// `debug` (the origin of the step times), the steps of the start reach `observer` as
/// [`Event::Debug`] lines while this call waits.
pub fn launch_detached(
    host_root: &Path,
    plan: &StartPlan,
    debug: Option<u64>,
    observer: &Observer,
) -> Result<(), StartError> {
    let (mut helper, report) = spawn_helper(host_root, plan, debug, None, observer)?;
    // The helper leaves as soon as the monitor is cloned: the monitor is reparented and
    // never this process's zombie.
    let _ = helper.wait();
    await_report(host_root, plan.vmid, report, &mut helper, observer)
}

/// Run `plan`'s container to its end with a monitor that keeps this process's session,
/// stdout and stderr, and return how init ended (from the monitor's exit record).
///
/// The monitor is a process of its own and cannot call `observer`: its messages (guest
/// setup, warnings of its cleanup and hooks) and, with `debug`, the steps of the start (its
/// own and those of the container's child) come through a pipe, which a thread of this call
/// reads and hands to `observer` as they come, until the monitor is gone.
pub fn run_in_foreground(
    host_root: &Path,
    plan: &StartPlan,
    debug: Option<u64>,
    observer: &Observer,
) -> Result<InitExit, StartError> {
    let (events_read, events_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| {
            StartError::io(
                StartStep::Monitor,
                "unable to create the monitor's event pipe",
                e.into(),
            )
        })?;
    std::thread::scope(|scope| {
        scope.spawn(move || relay(events_read, observer));
        let spawned = spawn_helper(host_root, plan, debug, Some(&events_write), observer);
        // From here the monitor holds the only writing end: the relay ends when it exits,
        // and so does this scope, whatever happens to the start.
        drop(events_write);
        let (mut helper, report) = spawned?;
        let started = await_report(host_root, plan.vmid, report, &mut helper, observer);
        // The helper exits when the monitor does, once the container has ended.
        let _ = helper.wait();
        started
    })?;
    StateDir::new(host_root, plan.vmid)
        .read_exit()
        .map(|record| record.init)
        .ok_or_else(|| {
            StartError::new(
                StartStep::Monitor,
                "the monitor exited without recording how init ended",
            )
        })
}

/// Exec the helper that becomes the monitor, handing it the report socket and, in the
/// foreground, the writing end of the events pipe. Returns the helper and the reading end of
/// the report socket.
fn spawn_helper(
    host_root: &Path,
    plan: &StartPlan,
    debug: Option<u64>,
    events: Option<&OwnedFd>,
    observer: &Observer,
) -> Result<(Child, UnixStream), StartError> {
    let vmid = plan.vmid;
    let foreground = events.is_some();
    let monitor_failed = |e| StartError::io(StartStep::Monitor, "unable to start the monitor", e);
    let (report_read, report_write) = UnixStream::pair()
        .map_err(|e| StartError::io(StartStep::Monitor, "unable to create report socket", e))?;
    let mut command = Command::new("/proc/self/exe");
    let report_fd = report_write.as_raw_fd();
    let events_fd = events.map(|fd| fd.as_raw_fd());
    command
        .arg0(format!("corral monitor {vmid}"))
        .env(
            REQUEST_ENV,
            format!(
                "{vmid}:{}:{}:{report_fd}:{}",
                if foreground { "foreground" } else { "detached" },
                debug.map_or(0, |origin| origin.max(1)),
                events_fd.map_or("-".to_string(), |fd| fd.to_string()),
            ),
        )
        .env(ROOT_ENV, host_root)
        .stdin(Stdio::null());
    if !foreground {
        match open_log(host_root, vmid) {
            Some(log) => {
                let copy = log.try_clone().map_err(monitor_failed)?;
                command.stdout(copy).stderr(log);
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
    }
    // SAFETY: fcntl is async-signal-safe; the descriptors are the report socket and the
    // events pipe, open in the caller until the spawn returns.
    unsafe {
        command.pre_exec(move || {
            for fd in std::iter::once(report_fd).chain(events_fd) {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    if let Some(origin) = debug {
        observer.emit(Event::Debug(caller_line(origin, "pct: spawn the monitor")));
    }
    let helper = command.spawn().map_err(monitor_failed)?;
    Ok((helper, report_read))
}

/// Wait for the monitor's verdict on the start: `ok` once init runs, or the encoded
/// [`StartError`], the step lines before it going to `observer`. A failed start leaves
/// nothing behind: the run state and the monitor's empty cgroup go.
fn await_report(
    host_root: &Path,
    vmid: u32,
    report: UnixStream,
    helper: &mut Child,
    observer: &Observer,
) -> Result<(), StartError> {
    let mut verdict = String::new();
    for line in BufReader::new(report).lines() {
        let Ok(line) = line else { break };
        match relayed_line(&line) {
            Some(step) => observer.emit(Event::Debug(step)),
            None => {
                verdict.push_str(&line);
                verdict.push('\n');
            }
        }
    }
    let verdict = verdict.trim();
    if verdict == "ok" {
        return Ok(());
    }
    let _ = helper.wait();
    let _ = StateDir::new(host_root, vmid).remove();
    // A monitor that never got going leaves its cgroup empty behind.
    if let Some(hierarchy) = Hierarchy::find() {
        MonitorCgroup::of(&hierarchy, vmid).remove_if_empty();
    }
    Err(if verdict.is_empty() {
        StartError::new(StartStep::Monitor, "the monitor exited before init started")
    } else {
        StartError::decode(verdict, StartStep::Monitor)
    })
}

/// What the helper was asked, parsed.
struct Request {
    vmid: u32,
    foreground: bool,
    trace_origin: u64,
    report: RawFd,
    /// The events pipe of a foreground start.
    events: Option<RawFd>,
    host_root: PathBuf,
}

impl Request {
    fn parse(request: &str, host_root: OsString) -> Option<Request> {
        let mut fields = request.split(':');
        let vmid = fields.next()?.parse().ok()?;
        let foreground = match fields.next()? {
            "foreground" => true,
            "detached" => false,
            _ => return None,
        };
        let trace_origin = fields.next()?.parse().ok()?;
        let report = fields.next()?.parse().ok()?;
        let events = match fields.next()? {
            "-" => None,
            fd => Some(fd.parse().ok()?),
        };
        Some(Request {
            vmid,
            foreground,
            trace_origin,
            report,
            events,
            host_root: host_root.into(),
        })
    }
}

/// The helper's side of [`REQUEST_ENV`], called by the crate's constructor (`reexec`) before
/// the program's `main`; never returns.
pub(crate) fn monitor_helper(request: OsString) -> ! {
    let host_root = std::env::var_os(ROOT_ENV).unwrap_or_default();
    // SAFETY: before main, in a freshly exec'd process: no other thread exists to read the
    // environment.
    unsafe { std::env::remove_var(ROOT_ENV) };
    let Some(request) = request
        .to_str()
        .and_then(|text| Request::parse(text, host_root))
    else {
        // SAFETY: leave without running the program's main.
        unsafe { libc::_exit(1) }
    };
    helper_main(request)
}

/// The helper: reset what the caller's signal state left, then become the monitor
/// (foreground) or clone it into a cgroup of its own and leave (detached).
fn helper_main(request: Request) -> ! {
    reset_signal_dispositions();
    // SAFETY: the descriptor was handed over by `launch` for this process to own.
    let mut report = unsafe { UnixStream::from_raw_fd(request.report) };
    let vmid = request.vmid;
    if request.foreground {
        // A foreground monitor is this process, in the caller's cgroup, as it was when it
        // ran in the caller: a cgroup of its own would have to be left again at the end, a
        // migration that waits for an RCU grace period (10-20 ms) while the caller waits,
        // and a fork would only add a process for the caller to wait through.
        monitor_main(request, report, None)
    }
    // A detached monitor gets a cgroup of its own, as LXC's does. Best effort: without a v2
    // hierarchy it stays in the caller's cgroup.
    let monitor_cgroup = Hierarchy::find().and_then(|h| MonitorCgroup::create(&h, vmid).ok());
    let cgroup_fd = monitor_cgroup.as_ref().and_then(|c| c.fd().ok());
    // SAFETY: this process was exec'd moments ago and has one thread; the child becomes the
    // monitor and leaves through _exit.
    let mut monitor =
        unsafe { super::spawn::fork_into(0, cgroup_fd.as_ref().map(|fd| fd.as_fd()), None) };
    if monitor.is_err() && monitor_cgroup.is_some() {
        // The previous monitor of this container (a reboot, a quick restart) removes its
        // cgroup as its last act and may just have done so: make it again, once.
        let fresh = Hierarchy::find()
            .and_then(|h| MonitorCgroup::create(&h, vmid).ok())
            .and_then(|c| c.fd().ok());
        // SAFETY: as above.
        monitor = unsafe { super::spawn::fork_into(0, fresh.as_ref().map(|fd| fd.as_fd()), None) };
    }
    match monitor {
        Ok(0) => monitor_main(request, report, monitor_cgroup),
        Ok(_) => {
            drop(report);
            // The monitor is on its own (detached): leave without running the program's
            // main.
            // SAFETY: _exit ends this process at once.
            unsafe { libc::_exit(0) }
        }
        Err(error) => {
            let error = StartError::io(StartStep::Monitor, "unable to start the monitor", error);
            let _ = report.write_all(error.encode().as_bytes());
            if let Some(cgroup) = &monitor_cgroup {
                cgroup.remove_if_empty();
            }
            // SAFETY: as above.
            unsafe { libc::_exit(1) }
        }
    }
}

fn monitor_main(request: Request, report: UnixStream, cgroup: Option<MonitorCgroup>) -> ! {
    let vmid = request.vmid;
    let code = match become_monitor(!request.foreground, report, request.events) {
        Ok((mut report, events)) => {
            // Detached, the steps go to the report socket while the caller waits, and the
            // messages to the container's log; in the foreground both go to the caller's
            // events pipe for the whole run.
            let steps_to = match events {
                Some(events) => Some(events),
                None if request.foreground => None,
                None => Some(report.as_raw_fd()),
            };
            let trace = match (request.trace_origin, steps_to) {
                (0, _) | (_, None) => Trace::off(),
                (origin, Some(fd)) => Trace::to_report(fd, origin),
            };
            let observer = match events {
                Some(events) => pipe_observer(events),
                None if request.foreground => Observer::none(),
                None => log_observer(&request.host_root, vmid),
            };
            trace.step("monitor: running");
            match StateDir::new(&request.host_root, vmid).read_plan() {
                Ok(plan) => {
                    let signals = if request.foreground {
                        None
                    } else {
                        termination_signal_fd()
                    };
                    let code = match run_supervised(
                        &request.host_root,
                        &plan,
                        Some(report),
                        trace,
                        signals,
                        observer,
                    ) {
                        Ok(exit) => exit.code(),
                        Err(_) => 1,
                    };
                    // Everything the monitor held is closed by now, so `pct stop` has
                    // returned. The host sides of the veth pairs go with the container's
                    // network namespace, which the kernel cleans up in the background;
                    // whatever something kept alive goes here, off the stop path (deleting
                    // a link waits for RCU).
                    crate::net::remove_leftovers(vmid);
                    code
                }
                Err(e) => {
                    let context = "unable to read the start plan";
                    let error = StartError::io(StartStep::State, context, e);
                    let _ = report.write_all(error.encode().as_bytes());
                    1
                }
            }
        }
        Err(_) => 1,
    };
    if let Some(cgroup) = &cgroup {
        cgroup.leave();
    }
    // SAFETY: the monitor ends here, without the program's main.
    unsafe { libc::_exit(code) };
}

/// Every signal at its default action, nothing blocked: the caller's ignored signals (an
/// ignored SIGCHLD would make waiting for init impossible) survive exec, and the monitor
/// sets up its own.
fn reset_signal_dispositions() {
    // SAFETY: signal-state calls on an initialised set, in a single-threaded process.
    unsafe {
        for signal in 1..libc::SIGRTMAX() {
            if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                libc::signal(signal, libc::SIG_DFL);
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}

/// Turn the freshly cloned child into the monitor: its own session when detached, no
/// descriptor but the standard ones, the report socket and the events pipe (a lock file
/// left open here would hold a lock for the container's lifetime), SIGPIPE ignored, and
/// named for `ps`. Returns the report socket, at descriptor 3, and the events pipe, at 4.
fn become_monitor(
    detached: bool,
    report: UnixStream,
    events: Option<RawFd>,
) -> io::Result<(UnixStream, Option<RawFd>)> {
    const REPORT_FD: i32 = 3;
    const EVENTS_FD: i32 = 4;
    let check = |rc: libc::c_int| {
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(rc)
        }
    };
    // SAFETY: plain descriptor and process calls on descriptors this process owns.
    unsafe {
        if detached {
            check(libc::setsid())?;
        }
        // Copies above the numbers they go to first, so that neither lands on the other.
        let report_copy = check(libc::fcntl(report.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10))?;
        let events_copy = match events {
            Some(events) => Some(check(libc::fcntl(events, libc::F_DUPFD_CLOEXEC, 10))?),
            None => None,
        };
        check(libc::dup3(report_copy, REPORT_FD, libc::O_CLOEXEC))?;
        let mut first_unused = REPORT_FD + 1;
        if let Some(events_copy) = events_copy {
            check(libc::dup3(events_copy, EVENTS_FD, libc::O_CLOEXEC))?;
            first_unused = EVENTS_FD + 1;
        }
        check(libc::syscall(libc::SYS_close_range, first_unused, u32::MAX, 0) as libc::c_int)?;
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    // The original is closed already (or is descriptor 3 or 4, replaced); do not close its
    // number again.
    std::mem::forget(report);
    // SAFETY: PR_SET_NAME copies at most 16 bytes from a NUL-terminated string. The command
    // line is `corral monitor <vmid>` from the exec already.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"corral-monitor".as_ptr()) };
    // SAFETY: descriptor 3 is the report socket, set up above and owned from here on.
    let report = unsafe { UnixStream::from_raw_fd(REPORT_FD) };
    Ok((report, events.map(|_| EVENTS_FD)))
}
