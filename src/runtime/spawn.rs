//! Cloning the container's init: clone3 into every new namespace at once (and straight into
//! its cgroup), the ID maps written from outside, and the child's way from a copy of the
//! monitor to the container's init — mounts, hostname, limits, console, capabilities,
//! seccomp, exec. Errors travel back to the monitor over a socket that exec closes, so a
//! silent EOF means init is running.

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::caps;
use super::command::Request;
use super::plan::{InitPlan, Prlimit, StartPlan};
use super::start_error::{StartError, StartStep};
use super::trace::Trace;
use crate::mount::container::{HostPaths, assemble_and_pivot};

/// The running init as its parent sees it.
#[derive(Debug)]
pub struct Spawned {
    pub pid: u32,
    pub pidfd: OwnedFd,
}

/// What the monitor hands the child besides the plan.
pub struct ChildInputs<'a> {
    pub plan: &'a StartPlan,
    pub host: HostPaths,
    /// init's stdin/stdout/stderr: the console pty slave, or /dev/null.
    pub stdio: OwnedFd,
    pub console_is_tty: bool,
    pub seccomp: &'a [libc::sock_filter],
    /// The payload cgroup for CLONE_INTO_CGROUP, when there is one.
    pub cgroup: Option<OwnedFd>,
    pub trace: Trace,
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Clone init. The child waits until the caller has done the host's part (its state, the
/// host side of its network) and calls [`Starting::release`], then sets itself up while the
/// caller waits with [`Starting::wait_exec`].
pub fn spawn_init(inputs: ChildInputs<'_>) -> Result<Starting, StartError> {
    let (parent_sync, child_sync) = UnixStream::pair()
        .map_err(|e| StartError::io(StartStep::Clone, "unable to create sync socket", e))?;
    let plan = inputs.plan;
    let mut pidfd: RawFd = -1;
    inputs.trace.step_with(|| {
        format!(
            "clone3 init into new namespaces: {}{}",
            plan.namespaces
                .iter()
                .map(|ns| ns.proc_name())
                .collect::<Vec<_>>()
                .join(" "),
            if inputs.cgroup.is_some() {
                ", straight into its cgroup"
            } else {
                ""
            }
        )
    });
    // SAFETY: the monitor is single-threaded; the child never returns from `child_main`.
    let pid = unsafe {
        fork_into(
            plan.clone_flags(),
            inputs.cgroup.as_ref().map(|fd| fd.as_fd()),
            Some(&mut pidfd),
        )
    }
    .map_err(|e| StartError::io(StartStep::Clone, "unable to clone the container's init", e))?;
    if pid == 0 {
        drop(parent_sync);
        child_main(inputs, child_sync);
    }
    drop(child_sync);
    // SAFETY: the kernel returned a fresh pidfd for the child.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let spawned = Spawned {
        pid: pid as u32,
        pidfd,
    };
    inputs
        .trace
        .step(format_args!("init is pid {} on the host", spawned.pid));
    Ok(Starting {
        spawned,
        sync: parent_sync,
    })
}

/// An init that is setting itself up.
pub struct Starting {
    spawned: Spawned,
    sync: UnixStream,
}

impl Starting {
    pub fn pid(&self) -> u32 {
        self.spawned.pid
    }

    /// Write the ID maps, then let the child go.
    pub fn release(&mut self, plan: &StartPlan, trace: &Trace) -> Result<(), StartError> {
        if let Some(map) = &plan.id_map {
            super::idmap::write_id_maps(self.spawned.pid, map, plan.id_map_tool, trace)?;
        }
        self.sync.write_all(b"g").map_err(|e| {
            StartError::io(StartStep::Clone, "unable to signal the container's init", e)
        })
    }

    /// Wait until init has exec'd (the sync socket closes on exec) or failed; on failure
    /// the child is reaped and the error names the step. With init comes the listener of
    /// its seccomp filter, when its policy has notify rules (`features: mknod=1`).
    pub fn wait_exec(self) -> Result<(Spawned, Option<OwnedFd>), StartError> {
        let listener_line = Request::Listener.line();
        let mut report = String::new();
        let mut listener = None;
        // The child sends the listener line (with its descriptor) or an error, then exec
        // closes the socket.
        while let Ok((text, fd)) = super::command::recv_reply(&self.sync) {
            match (text.strip_prefix(listener_line.as_str()), fd) {
                (Some(rest), Some(fd)) => {
                    listener = Some(fd);
                    report.push_str(rest.trim_start());
                }
                _ => report.push_str(&text),
            }
        }
        if report.is_empty() {
            Ok((self.spawned, listener))
        } else {
            Err(self.abort(StartError::decode(&report, StartStep::Setup)))
        }
    }

    /// Kill and reap the child; returns `error`.
    pub fn abort(self, error: StartError) -> StartError {
        let _ =
            rustix::process::pidfd_send_signal(&self.spawned.pidfd, rustix::process::Signal::KILL);
        reap(&self.spawned);
        error
    }
}

/// clone3 as a fork: the child gets a copy of this process, in the new namespaces of `flags`,
/// and — with `cgroup` — born straight into that cgroup (CLONE_INTO_CGROUP), which spares
/// the migration a write to cgroup.procs would cost (an RCU grace period, milliseconds).
/// With `pidfd` the kernel puts a pidfd for the child there. Returns 0 in the child.
///
/// # Safety
/// As fork(2): unless the caller is single-threaded, the child may only do what is
/// async-signal-safe before it execs or `_exit`s (glibc's fork handlers do not run).
pub(crate) unsafe fn fork_into(
    flags: u64,
    cgroup: Option<std::os::fd::BorrowedFd<'_>>,
    pidfd: Option<&mut RawFd>,
) -> io::Result<u32> {
    let mut args = CloneArgs {
        flags,
        // With CLONE_PARENT the child signals the parent's parent as the caller would, and
        // clone3 refuses an exit signal of its own.
        exit_signal: if flags & libc::CLONE_PARENT as u64 != 0 {
            0
        } else {
            libc::SIGCHLD as u64
        },
        ..Default::default()
    };
    if let Some(pidfd) = pidfd {
        args.flags |= libc::CLONE_PIDFD as u64;
        args.pidfd = pidfd as *mut RawFd as u64;
    }
    if let Some(cgroup) = cgroup {
        // CLONE_INTO_CGROUP (0x200000000) does not fit libc's c_int constant.
        args.flags |= 0x2_0000_0000;
        args.cgroup = cgroup.as_raw_fd() as u64;
    }
    // SAFETY: clone3 without CLONE_VM duplicates the process like fork; the caller upholds
    // fork's rules.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if pid < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(pid as u32)
    }
}

/// Wait for a child that failed to start.
pub fn reap(spawned: &Spawned) {
    // SAFETY: waitpid on our own child.
    unsafe {
        libc::waitpid(spawned.pid as i32, std::ptr::null_mut(), 0);
    }
}

/// The child: everything from here on runs in the new namespaces and ends in exec or _exit.
fn child_main(inputs: ChildInputs<'_>, mut sync: UnixStream) -> ! {
    let error = match child_setup(&inputs, &mut sync) {
        Ok(never) => match never {},
        Err(error) => error,
    };
    let _ = sync.write_all(error.encode().as_bytes());
    // SAFETY: leave without running the monitor's destructors or atexit handlers.
    unsafe { libc::_exit(1) }
}

/// The last operating-system error of a step of init's setup.
fn os_err(what: &str) -> StartError {
    StartError::io(StartStep::Setup, what, io::Error::last_os_error())
}

fn child_setup(
    inputs: &ChildInputs<'_>,
    sync: &mut UnixStream,
) -> Result<std::convert::Infallible, StartError> {
    let plan = inputs.plan;
    // Die with the monitor until init runs: a half-built container must not outlive it.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
    let mut go = [0u8; 1];
    sync.read_exact(&mut go)
        .map_err(|e| StartError::io(StartStep::Setup, "waiting for the monitor", e))?;
    let trace = inputs.trace;
    let host = inputs
        .host
        .open()
        .map_err(|e| StartError::caused_by(StartStep::Setup, e.to_string(), &e.source))?;
    if plan.id_map.is_some() {
        trace.step("child: become root of the user namespace");
        become_root()?;
    }
    if !plan.network.is_empty() {
        trace.step("child: bring up loopback and the network links, set addresses");
    }
    crate::net::configure_inside(&plan.network).map_err(StartError::from_net)?;
    trace.step(format_args!("child: sethostname '{}'", plan.hostname));
    rustix::system::sethostname(plan.hostname.as_bytes()).map_err(|e| {
        let context = format!("sethostname '{}'", plan.hostname);
        StartError::io(StartStep::Setup, context, e.into())
    })?;
    assemble_and_pivot(plan, &host, &|text| {
        trace.step(format_args!("child: {text}"))
    })
    .map_err(|e| StartError::caused_by(StartStep::Setup, e.to_string(), &e.source))?;
    for (key, value) in &plan.sysctls {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        trace.step(format_args!("child: sysctl {key} = {value}"));
        std::fs::write(&path, value).map_err(|e| {
            StartError::io(StartStep::Setup, format!("lxc.sysctl.{key}: {path}"), e)
        })?;
    }
    for limit in &plan.rlimits {
        trace.step(format_args!("child: prlimit {limit}"));
        set_rlimit(limit)?;
    }
    setup_stdio(&inputs.stdio, inputs.console_is_tty)?;
    trace.step_with(|| {
        format!(
            "child: drop capabilities from the bounding set: {}",
            if plan.cap_drop.is_empty() {
                "none".to_string()
            } else {
                let names: Vec<&str> = plan.cap_drop.iter().map(|cap| cap.name()).collect();
                names.join(" ")
            }
        )
    });
    caps::drop_bounding(&plan.cap_drop)
        .map_err(|e| StartError::caused_by(StartStep::Setup, e.to_string(), &e))?;
    if let Some(label) = &plan.apparmor.label {
        trace.step(format_args!("child: AppArmor profile '{label}' at exec"));
        super::apparmor::exec_into(label).map_err(|e| {
            let context = format!("unable to change to AppArmor profile '{label}'");
            StartError::io(StartStep::AppArmor, context, e)
        })?;
    }
    if !inputs.seccomp.is_empty() {
        trace.step(format_args!(
            "child: install seccomp filter ({} BPF instructions)",
            inputs.seccomp.len()
        ));
        let listener = super::seccomp::install(inputs.seccomp)
            .map_err(|e| StartError::io(StartStep::Seccomp, "seccomp", e))?;
        if let Some(listener) = listener {
            super::command::send_reply(sync, &Request::Listener.line(), Some(listener.as_fd()))
                .map_err(|e| {
                    let context = "unable to pass the seccomp listener";
                    StartError::io(StartStep::Seccomp, context, e)
                })?;
        }
    }
    // SAFETY: undo the death signal; init now belongs to itself.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0 as libc::c_ulong) };
    trace.step_with(|| format!("child: exec {}", plan.init.argv.join(" ")));
    exec_init(&plan.init)
}

/// Inside a fresh user namespace the creator's ids are unmapped; take the container's root.
fn become_root() -> Result<(), StartError> {
    // SAFETY: plain id syscalls; the process is single-threaded.
    unsafe {
        if libc::setresgid(0, 0, 0) != 0 {
            return Err(os_err("setresgid 0"));
        }
        if libc::setgroups(0, std::ptr::null()) != 0 {
            return Err(os_err("setgroups"));
        }
        if libc::setresuid(0, 0, 0) != 0 {
            return Err(os_err("setresuid 0"));
        }
    }
    Ok(())
}

fn setup_stdio(stdio: &OwnedFd, is_tty: bool) -> Result<(), StartError> {
    rustix::process::setsid().map_err(|e| StartError::io(StartStep::Setup, "setsid", e.into()))?;
    for target in 0..3 {
        // SAFETY: dup2 onto the standard descriptors.
        if unsafe { libc::dup2(stdio.as_raw_fd(), target) } < 0 {
            return Err(os_err("dup2 console"));
        }
    }
    if is_tty {
        rustix::process::ioctl_tiocsctty(stdio.as_fd()).map_err(|e| {
            let context = "make the console the controlling terminal";
            StartError::io(StartStep::Setup, context, e.into())
        })?;
    }
    Ok(())
}

fn set_rlimit(limit: &Prlimit) -> Result<(), StartError> {
    let rlimit = libc::rlimit {
        rlim_cur: limit.soft,
        rlim_max: limit.hard,
    };
    // SAFETY: setrlimit with a valid struct.
    if unsafe { libc::setrlimit(limit.resource(), &rlimit) } != 0 {
        return Err(os_err(&format!("lxc.prlimit.{}", limit.name())));
    }
    Ok(())
}

/// Exec init: an absolute path as given, else looked up in the standard PATH inside the
/// container (LXC does the same for `lxc.init.cmd`).
fn exec_init(init: &InitPlan) -> Result<std::convert::Infallible, StartError> {
    if init.gid != 0 && unsafe { libc::setresgid(init.gid, init.gid, init.gid) } != 0 {
        return Err(os_err(&format!("lxc.init.gid {}", init.gid)));
    }
    if init.uid != 0 && unsafe { libc::setresuid(init.uid, init.uid, init.uid) } != 0 {
        return Err(os_err(&format!("lxc.init.uid {}", init.uid)));
    }
    std::env::set_current_dir(&init.cwd)
        .map_err(|e| StartError::io(StartStep::Setup, format!("chdir '{}'", init.cwd), e))?;
    exec_with_lookup(&init.argv, &init.env, "init")
}

/// execve with a PATH lookup for bare names. Arguments and environment are byte strings,
/// passed on exactly as given; a failure keeps the step and the operating-system error.
fn exec_with_lookup(
    argv: &[impl AsRef<std::ffi::OsStr>],
    env: &[impl AsRef<std::ffi::OsStr>],
    what: &str,
) -> Result<std::convert::Infallible, StartError> {
    use std::os::unix::ffi::OsStrExt;
    let failed = |message: String| StartError::new(StartStep::Exec, message);
    let bytes = |s: &std::ffi::OsStr| s.as_bytes().to_vec();
    let to_c = |s: &std::ffi::OsStr| {
        CString::new(bytes(s)).map_err(|_| {
            failed(format!(
                "NUL byte in '{}'",
                crate::text::for_message(s.as_bytes())
            ))
        })
    };
    let c_argv: Vec<CString> = argv
        .iter()
        .map(|a| to_c(a.as_ref()))
        .collect::<Result<_, _>>()?;
    let c_env: Vec<CString> = env
        .iter()
        .map(|e| to_c(e.as_ref()))
        .collect::<Result<_, _>>()?;
    let mut argv_ptrs: Vec<*const libc::c_char> = c_argv.iter().map(|c| c.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = c_env.iter().map(|c| c.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    let Some(program) = c_argv.first().map(|c| c.as_bytes()) else {
        return Err(failed(format!("unable to exec {what}: no command")));
    };
    let candidates: Vec<Vec<u8>> = if program.contains(&b'/') {
        vec![program.to_vec()]
    } else {
        let path = c_env
            .iter()
            .find_map(|e| e.as_bytes().strip_prefix(b"PATH="))
            .unwrap_or(super::plan::DEFAULT_PATH.as_bytes());
        path.split(|&b| b == b':')
            .map(|dir| [dir, b"/", program].concat())
            .filter(|p| Path::new(std::ffi::OsStr::from_bytes(p)).exists())
            .collect()
    };
    let mut last = io::Error::from_raw_os_error(libc::ENOENT);
    reset_signals();
    for candidate in candidates {
        let c_path = CString::new(candidate).map_err(|_| failed("NUL byte in path".into()))?;
        // SAFETY: NULL-terminated arrays of valid C strings that outlive the call.
        unsafe { libc::execve(c_path.as_ptr(), argv_ptrs.as_ptr(), env_ptrs.as_ptr()) };
        last = io::Error::last_os_error();
    }
    let context = format!(
        "unable to exec {what} '{}'",
        crate::text::for_message(program)
    );
    Err(StartError::io(StartStep::Exec, context, last))
}

/// Give init the signal state a freshly booted init has: nothing blocked (the monitor blocks
/// its termination signals) and SIGPIPE at its default (the monitor ignores it; an ignored
/// signal would stay ignored across exec and be inherited by every process of the guest).
fn reset_signals() {
    // SAFETY: sigprocmask with an empty, initialised set, and signal() to the default, in
    // the single-threaded child just before exec.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
