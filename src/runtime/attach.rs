//! Entering a running container (`pct enter`, `pct exec`): a process is born into init's
//! cgroup and pid namespace, joins its other namespaces through its pidfd, and gets the same
//! bounding set and seccomp filter init got, then execs the command. Works from the kernel's
//! view alone, so a container whose monitor died can still be entered.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{Mode, OFlags};

use super::caps;
use super::plan::{DEFAULT_PATH, StartPlan};
use super::spawn::{exec_command, fork_into};
use super::state::InitState;

/// What to run inside and how.
pub struct AttachRequest<'a> {
    pub argv: &'a [OsString],
    pub env: Vec<OsString>,
    /// Give the command a pty of the container's own devpts as its controlling terminal and
    /// relay it to our stdin/stdout; else stdio is inherited.
    pub terminal: bool,
    /// A connection to the monitor, for a filter with notify rules: its listener goes there.
    pub monitor: Option<std::os::unix::net::UnixStream>,
}

/// The environment of an attached process: pct's `--keep-env` keeps the caller's (byte for
/// byte: a variable need not be UTF-8), otherwise LXC's clear environment with a standard
/// PATH.
pub fn attach_environment(keep_env: bool, plan: &StartPlan) -> Vec<OsString> {
    let entry = |name: &std::ffi::OsStr, value: &std::ffi::OsStr| {
        let mut entry = name.to_os_string();
        entry.push("=");
        entry.push(value);
        entry
    };
    let mut env: Vec<OsString> = if keep_env {
        std::env::vars_os()
            .filter(|(k, _)| k != "SSL_CERT_FILE" && k != "SSL_CERT_DIR")
            .map(|(k, v)| entry(&k, &v))
            .collect()
    } else {
        vec![format!("PATH={DEFAULT_PATH}").into()]
    };
    let has = |env: &Vec<OsString>, name: &str| {
        env.iter().any(|e| {
            e.as_bytes()
                .strip_prefix(name.as_bytes())
                .is_some_and(|rest| rest.first() == Some(&b'='))
        })
    };
    if !has(&env, "container") {
        env.push("container=lxc".into());
    }
    if !keep_env {
        if let Some(term) = std::env::var_os("TERM") {
            env.push(entry("TERM".as_ref(), &term));
        }
        for var in &plan.init.env {
            let name = var.split('=').next().unwrap_or("");
            if name != "TERM" && !has(&env, name) {
                env.push(var.into());
            }
        }
    }
    env
}

/// Run a command in the container; returns its exit status (128+signal when killed).
pub fn attach(
    init: &InitState,
    plan: &StartPlan,
    request: AttachRequest<'_>,
    seccomp: &[libc::sock_filter],
) -> io::Result<i32> {
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(init.pid as i32)
            .ok_or_else(|| io::Error::other("invalid init pid"))?,
        rustix::process::PidfdFlags::empty(),
    )?;
    let cgroup = init_cgroup(init.pid);
    let (terminal_ours, terminal_theirs) = if request.terminal {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        (Some(ours), Some(theirs))
    } else {
        (None, None)
    };
    let flags = plan.clone_flags() as i32;
    if flags & libc::CLONE_NEWPID != 0 {
        // Children of this process are born in the container's pid namespace: a new pid
        // namespace only ever applies to children, so this spares the child a second fork.
        // SAFETY: setns with a pidfd this process owns.
        if unsafe { libc::setns(pidfd.as_raw_fd(), libc::CLONE_NEWPID) } != 0 {
            let err = io::Error::last_os_error();
            return Err(io::Error::new(
                err.kind(),
                format!("unable to enter the container's pid namespace: {err}"),
            ));
        }
    }
    // SAFETY: this process is single-threaded; the child only joins namespaces and execs
    // (or _exits).
    let pid = unsafe { fork_into(0, cgroup.as_ref().map(|fd| fd.as_fd()), None) }?;
    if pid == 0 {
        drop(terminal_ours);
        let child = AttachChild {
            pidfd: &pidfd,
            namespaces: flags & !libc::CLONE_NEWPID,
            plan,
            request: &request,
            seccomp,
            terminal: terminal_theirs.as_ref(),
        };
        let error = match child.run() {
            Ok(never) => match never {},
            Err(message) => message,
        };
        eprintln!("{error}");
        // SAFETY: leave the forked child without running destructors.
        unsafe { libc::_exit(255) };
    }
    drop(terminal_theirs);
    if let Some(channel) = terminal_ours {
        // The pty master comes from inside the container; no master means the child failed
        // before it got there and has said why.
        if let Ok((_, Some(master))) = super::command::recv_reply(&channel) {
            let raw = super::terminal::RawMode::enable(std::io::stdin().as_fd())?;
            let relayed = super::terminal::relay(&master, None, false);
            drop(raw);
            relayed?;
        }
    }
    wait_status(pid as i32)
}

/// The cgroup init is in now (systemd moves itself to init.scope), for CLONE_INTO_CGROUP.
fn init_cgroup(pid: u32) -> Option<OwnedFd> {
    let hierarchy = crate::cgroup::Hierarchy::find()?;
    let relative = crate::cgroup::Hierarchy::cgroup_of(pid)?;
    rustix::fs::open(
        hierarchy.path(&relative),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

pub fn wait_status(pid: i32) -> io::Result<i32> {
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    })
}

struct AttachChild<'a> {
    pidfd: &'a OwnedFd,
    /// The namespaces still to join (CLONE_NEW* flags).
    namespaces: i32,
    plan: &'a StartPlan,
    request: &'a AttachRequest<'a>,
    seccomp: &'a [libc::sock_filter],
    terminal: Option<&'a std::os::unix::net::UnixStream>,
}

impl AttachChild<'_> {
    fn run(&self) -> Result<std::convert::Infallible, String> {
        let AttachChild {
            pidfd,
            namespaces,
            plan,
            request,
            seccomp,
            terminal,
        } = *self;
        // SAFETY: setns with a pidfd joins all the named namespaces of that process at once.
        if unsafe { libc::setns(pidfd.as_raw_fd(), namespaces) } != 0 {
            return Err(format!(
                "unable to enter the container's namespaces: {}",
                io::Error::last_os_error()
            ));
        }
        if plan.id_map.is_some() {
            // SAFETY: plain id syscalls in a single-threaded process.
            unsafe {
                if libc::setresgid(0, 0, 0) != 0
                    || libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setresuid(0, 0, 0) != 0
                {
                    return Err(format!(
                        "unable to become root in the container: {}",
                        io::Error::last_os_error()
                    ));
                }
            }
        }
        if let Some(channel) = terminal {
            open_container_terminal(channel)?;
        }
        std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
        caps::drop_bounding(&plan.cap_drop).map_err(|e| e.to_string())?;
        if let Some(label) = &plan.apparmor.label {
            super::apparmor::exec_into(label)?;
        }
        if !seccomp.is_empty() {
            let listener = super::seccomp::install(seccomp).map_err(|e| format!("seccomp: {e}"))?;
            // The monitor answers the command's notify rules; without a monitor they fail
            // with ENOSYS (nobody listens).
            if let (Some(listener), Some(monitor)) = (listener, &request.monitor) {
                super::command::send_reply(
                    monitor,
                    &super::command::Request::Listener.line(),
                    Some(listener.as_fd()),
                )
                .map_err(|e| format!("unable to pass the seccomp listener: {e}"))?;
            }
        }
        exec_command(request.argv, &request.env, "command")
    }
}

/// Open a pty on the container's devpts (so `tty` names it inside), send its master to the
/// caller, and make its slave our controlling terminal and stdio.
fn open_container_terminal(channel: &std::os::unix::net::UnixStream) -> Result<(), String> {
    use rustix::pty::OpenptFlags;
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .map_err(|e| format!("unable to open /dev/ptmx in the container: {e}"))?;
    rustix::pty::unlockpt(&master).map_err(|e| format!("unlockpt: {e}"))?;
    let slave = rustix::pty::ioctl_tiocgptpeer(&master, OpenptFlags::RDWR | OpenptFlags::NOCTTY)
        .map_err(|e| format!("unable to open the pty slave: {e}"))?;
    super::command::send_reply(channel, "ok", Some(master.as_fd()))
        .map_err(|e| format!("unable to pass the terminal: {e}"))?;
    drop(master);
    rustix::process::setsid().map_err(|e| format!("setsid: {e}"))?;
    for target in 0..3 {
        // SAFETY: dup2 onto the standard descriptors.
        unsafe { libc::dup2(slave.as_raw_fd(), target) };
    }
    rustix::process::ioctl_tiocsctty(&slave).map_err(|e| format!("controlling terminal: {e}"))
}
