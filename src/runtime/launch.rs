//! How a container's monitor is born, without changing the process that starts it.
//!
//! Design: the monitor is a freshly exec'd copy of the calling program's own binary
//! (`/proc/self/exe`), which turns into the monitor before its `main` runs, from an
//! `.init_array` constructor of this crate that looks for [`REQUEST_ENV`] (the way runc's
//! nsexec runs before the Go runtime). Every program that links corral has the constructor,
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
//! close-on-exec of the report socket), and after exec the process is single-threaded with
//! fresh locks, so every "single-threaded" claim the monitor's code makes is true.
//!
//! The exec'd helper is the old intermediate: it creates the monitor's cgroup and clones the
//! monitor straight into it (no migration, which would cost an RCU grace period), then
//! either exits at once (a detached start: the monitor is reparented and never the caller's
//! zombie) or waits for the monitor (a foreground start, which the caller waits for in
//! turn). The cost is one exec of the program per start.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::monitor::{log_path, run_supervised, termination_signal_fd};
use super::plan::StartPlan;
use super::state::StateDir;
use super::trace::{REPORT_PREFIX, STDERR_PREFIX, Trace};
use crate::cgroup::{Hierarchy, MonitorCgroup};

/// What the helper is asked to do: `<vmid>:<detached|foreground>:<trace origin, 0 for
/// none>:<report socket descriptor>`. Removed from the environment before anything else
/// runs, so hooks and programs the monitor starts never see it.
pub const REQUEST_ENV: &str = "CORRAL_MONITOR_REQUEST";
/// The host root of the container, beside the request (a path is not limited to UTF-8).
const ROOT_ENV: &str = "CORRAL_MONITOR_ROOT";

/// The monitor once it runs: nothing for a detached start, the helper to wait for in the
/// foreground (it exits when the monitor does).
pub enum Launched {
    Detached,
    Foreground(Child),
}

fn open_log(host_root: &Path, vmid: u32) -> Option<File> {
    let path = log_path(host_root, vmid);
    std::fs::create_dir_all(path.parent()?).ok()?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .ok()
}

/// Start the monitor for `plan` (already in its state dir), and wait until init has exec'd.
///
/// Detached, the monitor runs in its own session with no terminal, its output going to the
/// container's log; in the foreground it keeps the caller's session, stdout and stderr, and
/// the returned helper exits when the monitor does. It appears in `ps` as
/// `corral monitor <vmid>`. When `trace` is on, the monitor's step log is copied to stderr
/// as it comes.
pub fn launch(
    host_root: &Path,
    plan: &StartPlan,
    trace: Trace,
    foreground: bool,
) -> Result<Launched, String> {
    let vmid = plan.vmid;
    let (report_read, report_write) =
        UnixStream::pair().map_err(|e| format!("unable to create report socket: {e}"))?;
    let mut command = Command::new("/proc/self/exe");
    let report_fd = report_write.as_raw_fd();
    command
        .arg0(format!("corral monitor {vmid}"))
        .env(
            REQUEST_ENV,
            format!(
                "{vmid}:{}:{}:{report_fd}",
                if foreground { "foreground" } else { "detached" },
                if trace.is_on() {
                    trace.origin().max(1)
                } else {
                    0
                }
            ),
        )
        .env(ROOT_ENV, host_root)
        .stdin(Stdio::null());
    if !foreground {
        match open_log(host_root, vmid) {
            Some(log) => {
                let copy = log
                    .try_clone()
                    .map_err(|e| format!("unable to start the monitor: {e}"))?;
                command.stdout(copy).stderr(log);
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
    }
    // SAFETY: fcntl is async-signal-safe; the descriptor is the report socket, open in the
    // caller until the spawn returns.
    unsafe {
        command.pre_exec(move || {
            if libc::fcntl(report_fd, libc::F_SETFD, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    trace.step("pct: spawn the monitor");
    let mut helper = command
        .spawn()
        .map_err(|e| format!("unable to start the monitor: {e}"))?;
    drop(command);
    drop(report_write);
    if !foreground {
        let _ = helper.wait();
    }
    let mut report = String::new();
    for line in BufReader::new(report_read).lines() {
        let Ok(line) = line else { break };
        match line.strip_prefix(REPORT_PREFIX) {
            Some(step) => eprintln!("{STDERR_PREFIX}{step}"),
            None => {
                report.push_str(&line);
                report.push('\n');
            }
        }
    }
    let report = report.trim();
    if report == "ok" {
        return Ok(if foreground {
            Launched::Foreground(helper)
        } else {
            Launched::Detached
        });
    }
    let _ = helper.wait();
    let _ = StateDir::new(host_root, vmid).remove();
    // A monitor that never got going leaves its cgroup empty behind.
    if let Some(hierarchy) = Hierarchy::find() {
        MonitorCgroup::of(&hierarchy, vmid).remove_if_empty();
    }
    Err(if report.is_empty() {
        "the monitor exited before init started".to_string()
    } else {
        report.to_string()
    })
}

/// What the helper was asked, parsed.
struct Request {
    vmid: u32,
    foreground: bool,
    trace_origin: u64,
    report: RawFd,
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
        Some(Request {
            vmid,
            foreground,
            trace_origin,
            report,
            host_root: host_root.into(),
        })
    }
}

/// Runs before `main` in every program that links corral; a no-op unless the program was
/// exec'd by [`launch`].
#[used]
#[unsafe(link_section = ".init_array")]
static MONITOR_ENTRY: extern "C" fn() = monitor_entry;

extern "C" fn monitor_entry() {
    let Some(request) = std::env::var_os(REQUEST_ENV) else {
        return;
    };
    let host_root = std::env::var_os(ROOT_ENV).unwrap_or_default();
    // SAFETY: before main, in a freshly exec'd process: no other thread exists to read the
    // environment.
    unsafe {
        std::env::remove_var(REQUEST_ENV);
        std::env::remove_var(ROOT_ENV);
    }
    let Some(request) = request
        .to_str()
        .and_then(|text| Request::parse(text, host_root))
    else {
        // SAFETY: leave without running the program's main.
        unsafe { libc::_exit(1) }
    };
    helper_main(request)
}

/// The helper: reset what the caller's signal state left, clone the monitor into its cgroup,
/// and leave (detached) or wait for it (foreground).
fn helper_main(request: Request) -> ! {
    reset_signal_dispositions();
    // SAFETY: the descriptor was handed over by `launch` for this process to own.
    let mut report = unsafe { UnixStream::from_raw_fd(request.report) };
    let vmid = request.vmid;
    // Best effort: without a v2 hierarchy the monitor stays in the caller's cgroup.
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
        Ok(pid) => {
            drop(report);
            let code = if request.foreground {
                let mut status = 0;
                // SAFETY: waitpid on this process's own child.
                unsafe { libc::waitpid(pid as i32, &mut status, 0) };
                if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status)
                } else {
                    1
                }
            } else {
                0
            };
            // SAFETY: leave without running the program's main.
            unsafe { libc::_exit(code) }
        }
        Err(error) => {
            let _ = report.write_all(format!("unable to start the monitor: {error}").as_bytes());
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
    let code = match become_monitor(!request.foreground, report) {
        Ok(mut report) => {
            let trace = match (request.trace_origin, request.foreground) {
                (0, _) => Trace::off(),
                (origin, true) => Trace::to_stderr(origin),
                (origin, false) => Trace::to_report(report.as_raw_fd(), origin),
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
                    let _ =
                        report.write_all(format!("unable to read the start plan: {e}").as_bytes());
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
/// descriptor but the standard ones and the report socket (a lock file left open here
/// would hold a lock for the container's lifetime), SIGPIPE ignored, and named for `ps`.
/// Returns the report socket, at descriptor 3.
fn become_monitor(detached: bool, report: UnixStream) -> io::Result<UnixStream> {
    const REPORT_FD: i32 = 3;
    let check = |rc: libc::c_int| {
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    // SAFETY: plain descriptor and process calls on descriptors this process owns.
    unsafe {
        if detached {
            check(libc::setsid())?;
        }
        if report.as_raw_fd() != REPORT_FD {
            check(libc::dup2(report.as_raw_fd(), REPORT_FD))?;
        }
        check(libc::fcntl(REPORT_FD, libc::F_SETFD, libc::FD_CLOEXEC))?;
        check(libc::syscall(libc::SYS_close_range, REPORT_FD + 1, u32::MAX, 0) as libc::c_int)?;
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    // The original is closed already (or is descriptor 3); do not close its number again.
    std::mem::forget(report);
    // SAFETY: PR_SET_NAME copies at most 16 bytes from a NUL-terminated string. The command
    // line is `corral monitor <vmid>` from the exec already.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"corral-monitor".as_ptr()) };
    // SAFETY: descriptor 3 is the report socket, set up above and owned from here on.
    Ok(unsafe { UnixStream::from_raw_fd(REPORT_FD) })
}
