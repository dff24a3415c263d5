//! Entering a running container (`pct enter`, `pct exec`, `Container::command`): a process is
//! born into init's cgroup and pid namespace, joins its other namespaces through its pidfd,
//! and gets the same bounding set, AppArmor profile and seccomp filter init got, then execs
//! the command. Works from the kernel's view alone, so a container whose monitor died can
//! still be entered.
//!
//! Design: the caller may be any thread of a multi-threaded program, and must come out as it
//! went in. A pid namespace is only ever joined for children (`pid_for_children`), so
//! another task joins it before the command is forked, and the command is forked with
//! clone3(CLONE_PARENT | CLONE_INTO_CGROUP): the caller's own child, born straight into
//! init's cgroup (moving it by a write to cgroup.procs costs an RCU grace period,
//! milliseconds). That other task is
//! - with the caller's stdio inherited (`pct exec`, `pct enter`, a pty): a vfork child that
//!   shares the caller's memory and descriptor table, as posix_spawn's does, with the
//!   caller's signals blocked meanwhile. Measured against joining on the calling thread (as
//!   before, which left the thread's later children inside the container): the same CPU
//!   time and latency under real-time priority; a helper thread instead cost 0.3 ms more
//!   CPU (its stack, TLS and the mm turning multi-threaded), a std-forked intermediate 0.4 ms;
//! - with `Stdio` given: an intermediate forked by `std::process::Command`, whose stdio
//!   handling gives piped, null, inherited and descriptors their usual meaning (std offers
//!   no way to read a `Stdio` back), at the cost of that fork.
//!
//! The processes are copies of a possibly multi-threaded program, so everything they need —
//! C strings for argv, env, cwd and the PATH candidates, capability numbers, the AppArmor
//! request, the seccomp program — is built before forking, and they do raw syscalls only
//! (`child`). Their failures come back as (step, errno) records over a close-on-exec pipe,
//! which the command's exec closes: `spawn` returns once the command runs, and a failed exec
//! is its error, as with `std::process::Command` (`status` reads the pipe after the wait,
//! sparing a wake-up).

mod child;

use std::ffi::{CString, OsStr, OsString};
use std::io::{self, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{ChildStderr, ChildStdin, ChildStdout, Stdio};

use rustix::fs::{Mode, OFlags};

use super::caps;
use super::plan::{DEFAULT_PATH, StartPlan};
use super::state::InitState;
use child::{AppArmorExec, Prepared, RECORD_SIZE, Record, Step};

/// What to run inside and how.
pub struct AttachRequest<'a> {
    pub argv: &'a [OsString],
    pub env: Vec<OsString>,
    /// The working directory inside; `/` when not given.
    pub cwd: Option<&'a OsStr>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Give the command a pty of the container's own devpts as its controlling terminal and
    /// stdio (its master comes back in [`Attached::terminal`]); else `stdio` applies.
    pub terminal: bool,
    /// The command's stdin, stdout and stderr when it has no terminal; `None`: the
    /// caller's own.
    pub stdio: Option<[Stdio; 3]>,
    /// A connection to the monitor, for a filter with notify rules: its listener goes there.
    pub monitor: Option<UnixStream>,
    /// Return once the command has exec'd (`spawn`); else as soon as it is forked, its
    /// failure to get to exec left for [`Attached::unchecked`] (`status`, which waits anyway:
    /// a wake-up less).
    pub until_exec: bool,
}

/// A command running in the container: the caller's child.
pub struct Attached {
    pub pid: u32,
    pub pidfd: OwnedFd,
    /// The pty master, when the command has a terminal.
    pub terminal: Option<OwnedFd>,
    pub stdin: Option<ChildStdin>,
    pub stdout: Option<ChildStdout>,
    pub stderr: Option<ChildStderr>,
    /// Without `until_exec`: whether the command got to exec, to check once it has ended.
    pub unchecked: Option<UncheckedStart>,
}

/// The report of a command started without waiting for its exec.
pub struct UncheckedStart {
    reports: OwnedFd,
    context: FailureContext,
}

impl UncheckedStart {
    /// The command's failure before exec, if it had one. Blocks until it has exec'd or
    /// ended.
    pub fn check(self) -> Result<(), AttachError> {
        let reports = read_reports(self.reports);
        match reports.iter().find(|r| r.step != Step::Started as u32) {
            Some(failure) => Err(describe_failure(failure, &self.context)),
            None => Ok(()),
        }
    }
}

/// What a failure message names besides the step.
struct FailureContext {
    apparmor_label: Option<String>,
    cwd: OsString,
    uid: Option<u32>,
    gid: Option<u32>,
    capabilities: Vec<(u32, String)>,
    program: Vec<u8>,
}

/// Why a command did not start.
#[derive(Debug)]
pub enum AttachError {
    /// The request cannot be passed to execve (a NUL byte, no command).
    Invalid(String),
    /// A step failed: what was tried, and the system's answer.
    Step { context: String, source: io::Error },
}

impl AttachError {
    fn step(context: impl Into<String>, source: io::Error) -> AttachError {
        AttachError::Step {
            context: context.into(),
            source,
        }
    }
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

/// Start a command in the container as the caller's child. Returns once it has exec'd; any
/// failure before that, exec's own included, is the error.
pub fn spawn(
    init: &InitState,
    plan: &StartPlan,
    request: AttachRequest<'_>,
    seccomp: &[libc::sock_filter],
) -> Result<Attached, AttachError> {
    let AttachRequest {
        argv,
        env,
        cwd,
        uid,
        gid,
        terminal,
        stdio,
        monitor,
        until_exec,
    } = request;
    let init_pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(init.pid as i32)
            .ok_or_else(|| AttachError::Invalid("invalid init pid".into()))?,
        rustix::process::PidfdFlags::empty(),
    )
    .map_err(|e| AttachError::step("unable to open the container's init", e.into()))?;
    let (report_read, report) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| AttachError::step("pipe", e.into()))?;
    let (terminal_ours, terminal_theirs) = if terminal {
        let (ours, theirs) = UnixStream::pair().map_err(|e| AttachError::step("socketpair", e))?;
        (Some(ours), Some(theirs))
    } else {
        (None, None)
    };
    let cwd = cwd.unwrap_or(OsStr::new("/"));
    let capabilities = capability_numbers(&plan.cap_drop);
    let mut prepared = Prepared {
        init_pidfd,
        cgroup: init_cgroup(init.pid),
        enter_pid_namespace: plan.clone_flags() & libc::CLONE_NEWPID as u64 != 0,
        namespaces: (plan.clone_flags() as i32) & !libc::CLONE_NEWPID,
        become_root: plan.id_map.is_some(),
        terminal: terminal_theirs,
        cwd: c_string(cwd)?,
        capabilities: capabilities.iter().map(|(number, _)| *number).collect(),
        apparmor: plan.apparmor.label.as_deref().map(|label| AppArmorExec {
            paths: [
                c"/proc/thread-self/attr/apparmor/exec".into(),
                c"/proc/thread-self/attr/exec".into(),
            ],
            request: format!("exec {label}").into_bytes(),
        }),
        seccomp: seccomp.to_vec(),
        monitor: monitor.map(|m| {
            (
                m,
                format!("{}\n", super::command::Request::Listener.line()).into_bytes(),
            )
        }),
        gid,
        uid,
        argv: argv.iter().map(|a| c_string(a)).collect::<Result<_, _>>()?,
        argv_ptrs: Vec::new(),
        env: env.iter().map(|e| c_string(e)).collect::<Result<_, _>>()?,
        env_ptrs: Vec::new(),
        candidates: Vec::new(),
        report,
    };
    let program = prepared
        .argv
        .first()
        .ok_or_else(|| AttachError::Invalid("missing command".into()))?
        .as_bytes()
        .to_vec();
    prepared.candidates = exec_candidates(&program, &prepared.env);
    prepared.argv_ptrs = null_terminated(&prepared.argv);
    prepared.env_ptrs = null_terminated(&prepared.env);

    let forked = match stdio {
        Some(stdio) if !terminal => through_intermediate(prepared, stdio)?,
        _ => through_vfork(prepared)?,
    };
    let context = FailureContext {
        apparmor_label: plan.apparmor.label.clone(),
        cwd: cwd.to_owned(),
        uid,
        gid,
        capabilities,
        program,
    };
    let mut reports = forked.reports;
    // With the pid known, a caller that waits for the end anyway reads the rest then.
    let known = reports
        .iter()
        .any(|r| r.step == Step::Started as u32 && r.fd >= 0);
    let context = if until_exec || !known || terminal {
        // Every copy of the report pipe's write end is closed now but the command's own,
        // which its exec closes: this read ends when the command runs or has failed.
        reports.extend(read_reports(report_read));
        context
    } else {
        let unchecked = UncheckedStart {
            reports: report_read,
            context,
        };
        return Ok(started_unchecked(&reports, unchecked));
    };
    let started = reports.iter().find(|r| r.step == Step::Started as u32);
    let pid = started.map(|r| r.detail);
    // SAFETY: a descriptor the vfork child opened for the command in our table.
    let pidfd = started
        .filter(|r| r.fd >= 0)
        .map(|r| unsafe { OwnedFd::from_raw_fd(r.fd) });
    let failure = reports.iter().find(|r| r.step != Step::Started as u32);
    if let Some(failure) = failure {
        if let Some(pid) = pid {
            let _ = wait_status(pid as i32);
        }
        return Err(describe_failure(failure, &context));
    }
    let pid = pid.ok_or_else(|| {
        AttachError::step(
            "unable to start the command",
            io::Error::other("the intermediate process died"),
        )
    })?;
    let pidfd = match pidfd {
        Some(pidfd) => pidfd,
        None => rustix::process::pidfd_open(
            rustix::process::Pid::from_raw(pid as i32).expect("a positive pid"),
            rustix::process::PidfdFlags::empty(),
        )
        .map_err(|e| {
            // SAFETY: kill of our own child, not yet reaped, so the pid is still its.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            let _ = wait_status(pid as i32);
            AttachError::step("pidfd_open", e.into())
        })?,
    };
    let terminal = match terminal_ours {
        Some(channel) => match super::command::recv_reply(&channel) {
            Ok((_, Some(master))) => Some(master),
            _ => {
                let _ = rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::KILL);
                let _ = wait_status(pid as i32);
                return Err(AttachError::step(
                    "unable to pass the terminal",
                    io::Error::from(io::ErrorKind::UnexpectedEof),
                ));
            }
        },
        None => None,
    };
    let (stdin, stdout, stderr) = forked.stdio;
    Ok(Attached {
        pid,
        pidfd,
        terminal,
        stdin,
        stdout,
        stderr,
        unchecked: None,
    })
}

/// A command forked through the vfork child (no piped stdio, no terminal), not yet known to
/// have exec'd.
fn started_unchecked(reports: &[Record], unchecked: UncheckedStart) -> Attached {
    let started = reports
        .iter()
        .find(|r| r.step == Step::Started as u32)
        .expect("checked by the caller");
    Attached {
        pid: started.detail,
        // SAFETY: a descriptor the vfork child opened for the command in our table.
        pidfd: unsafe { OwnedFd::from_raw_fd(started.fd) },
        terminal: None,
        stdin: None,
        stdout: None,
        stderr: None,
        unchecked: Some(unchecked),
    }
}

/// The command as far as the fork: what the forking side reported itself, and the caller's
/// ends of piped stdio.
struct Forked {
    reports: Vec<Record>,
    stdio: (Option<ChildStdin>, Option<ChildStdout>, Option<ChildStderr>),
}

/// With the caller's stdio inherited: a vfork child joins the pid namespace and clones the
/// command (see `child::vfork_fork`).
fn through_vfork(prepared: Prepared) -> Result<Forked, AttachError> {
    let result = child::vfork_fork(&prepared)
        .map_err(|e| AttachError::step("unable to start the command", e))?;
    // Our copies of the report pipe and the terminal socket close here.
    drop(prepared);
    let started = (result.pidfd >= 0).then_some(Record {
        step: Step::Started as u32,
        detail: result.pid,
        errno: 0,
        fd: result.pidfd,
    });
    Ok(Forked {
        reports: started.into_iter().chain(result.failure).collect(),
        stdio: (None, None, None),
    })
}

/// With stdio given: `std::process::Command` forks an intermediate with that stdio, which
/// joins the pid namespace and clones the command as the caller's child.
fn through_intermediate(prepared: Prepared, stdio: [Stdio; 3]) -> Result<Forked, AttachError> {
    let [stdin, stdout, stderr] = stdio;
    let mut intermediate = std::process::Command::new("/proc/self/exe");
    intermediate.stdin(stdin).stdout(stdout).stderr(stderr);
    // SAFETY: the closure runs in the forked intermediate and does raw syscalls only, on
    // memory prepared before the fork; it never returns.
    unsafe {
        intermediate.pre_exec(move || child::intermediate(&prepared));
    }
    let spawned = intermediate.spawn();
    // Our copies of the report pipe and the terminal socket close with the closure.
    drop(intermediate);
    let mut spawned = spawned.map_err(|e| AttachError::step("unable to start the command", e))?;
    // Taken before the wait, which would close stdin.
    let stdio = (
        spawned.stdin.take(),
        spawned.stdout.take(),
        spawned.stderr.take(),
    );
    let _ = spawned.wait();
    Ok(Forked {
        reports: Vec::new(),
        stdio,
    })
}

fn c_string(text: &OsStr) -> Result<CString, AttachError> {
    CString::new(text.as_bytes()).map_err(|_| {
        AttachError::Invalid(format!(
            "NUL byte in '{}'",
            crate::text::for_message(text.as_bytes())
        ))
    })
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// The paths execvp would try: the program itself when it names a path, else each PATH
/// directory of the command's environment (the standard PATH when it has none).
fn exec_candidates(program: &[u8], env: &[CString]) -> Vec<CString> {
    if program.contains(&b'/') {
        return vec![CString::new(program).expect("checked for NUL")];
    }
    let path = env
        .iter()
        .find_map(|e| e.as_bytes().strip_prefix(b"PATH="))
        .unwrap_or(DEFAULT_PATH.as_bytes());
    path.split(|&b| b == b':')
        .map(|dir| CString::new([dir, b"/", program].concat()).expect("checked for NUL"))
        .collect()
}

/// The bounding-set drops this kernel knows, by number, with their names for messages.
/// The plan's capabilities that this kernel knows, by number, each with its name for messages.
fn capability_numbers(capabilities: &[caps::Capability]) -> Vec<(u32, String)> {
    let last = caps::last_capability();
    capabilities
        .iter()
        .map(|capability| (capability.number(), capability.name().to_string()))
        .filter(|(number, _)| *number <= last)
        .collect()
}

fn read_reports(pipe: OwnedFd) -> Vec<Record> {
    let mut bytes = Vec::new();
    let _ = std::fs::File::from(pipe).read_to_end(&mut bytes);
    bytes
        .chunks_exact(RECORD_SIZE)
        .map(|chunk| Record::from_bytes(chunk.try_into().expect("a whole record")))
        .collect()
}

/// A child's report in pct's words (the ones the command's process used to print itself).
fn describe_failure(record: &Record, context: &FailureContext) -> AttachError {
    let FailureContext {
        apparmor_label,
        cwd,
        uid,
        gid,
        capabilities,
        program,
    } = context;
    let source = io::Error::from_raw_os_error(record.errno);
    let label = apparmor_label.as_deref().unwrap_or_default();
    let context = match Step::from_u32(record.step) {
        Some(Step::PidNamespace) => "unable to enter the container's pid namespace".into(),
        Some(Step::Clone) => "unable to clone the command into the container".into(),
        Some(Step::Namespaces) => "unable to enter the container's namespaces".into(),
        Some(Step::BecomeRoot) => "unable to become root in the container".into(),
        Some(Step::OpenPty) => "unable to open /dev/ptmx in the container".into(),
        Some(Step::UnlockPty) => "unlockpt".into(),
        Some(Step::OpenPtySlave) => "unable to open the pty slave".into(),
        Some(Step::PassPty) => "unable to pass the terminal".into(),
        Some(Step::NewSession) => "setsid".into(),
        Some(Step::ControllingTerminal) => "controlling terminal".into(),
        Some(Step::Chdir) => format!("chdir {}", crate::text::for_message(cwd.as_bytes())),
        Some(Step::DropCapability) => {
            let name = capabilities
                .get(record.detail as usize)
                .map(|(_, name)| name.as_str())
                .unwrap_or("?");
            format!("failed to drop capability {name}")
        }
        Some(Step::AppArmor) => format!("unable to change to AppArmor profile '{label}'"),
        Some(Step::Seccomp) => "seccomp".into(),
        Some(Step::PassListener) => "unable to pass the seccomp listener".into(),
        Some(Step::SetGroups) => "setgroups".into(),
        Some(Step::SetGid) => format!("unable to switch to gid {}", gid.unwrap_or(0)),
        Some(Step::SetUid) => format!("unable to switch to uid {}", uid.unwrap_or(0)),
        Some(Step::Exec) => format!(
            "unable to exec command '{}'",
            crate::text::for_message(program)
        ),
        Some(Step::Started) | None => "unable to start the command".into(),
    };
    AttachError::step(context, source)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[CString]) -> Vec<&str> {
        list.iter().map(|c| c.to_str().unwrap()).collect()
    }

    #[test]
    fn candidates_follow_the_commands_path() {
        let env = [c"A=1".to_owned(), c"PATH=/x:/y/z".to_owned()];
        assert_eq!(strings(&exec_candidates(b"sh", &env)), ["/x/sh", "/y/z/sh"]);
        assert_eq!(strings(&exec_candidates(b"./sh", &env)), ["./sh"]);
        let standard = exec_candidates(b"sh", &[]);
        assert_eq!(standard.len(), DEFAULT_PATH.split(':').count());
        assert_eq!(strings(&standard)[0], "/usr/local/sbin/sh");
    }

    #[test]
    fn capabilities_are_numbered_with_their_names() {
        let capabilities =
            ["sys_module", "mac_admin"].map(|name| caps::Capability::parse(name).unwrap());
        assert_eq!(
            capability_numbers(&capabilities),
            [
                (16, "sys_module".to_string()),
                (33, "mac_admin".to_string())
            ]
        );
    }

    #[test]
    fn a_failed_exec_reads_as_pct_printed_it() {
        let record = Record {
            step: Step::Exec as u32,
            detail: 0,
            errno: libc::ENOENT,
            fd: -1,
        };
        let context = FailureContext {
            apparmor_label: None,
            cwd: "/".into(),
            uid: None,
            gid: None,
            capabilities: Vec::new(),
            program: b"nope".to_vec(),
        };
        let error = describe_failure(&record, &context);
        let AttachError::Step { context, source } = error else {
            panic!("a step error");
        };
        assert_eq!(
            format!("{context}: {source}"),
            "unable to exec command 'nope': No such file or directory (os error 2)"
        );
        assert_eq!(source.kind(), io::ErrorKind::NotFound);
    }
}
