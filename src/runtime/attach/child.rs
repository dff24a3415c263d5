//! What runs between the caller and a command in the container: the vfork child or the
//! intermediate process that joins the container's pid namespace and forks the command, and
//! the command's process up to its exec. The processes are forks of a possibly
//! multi-threaded program, so they run only raw syscalls on memory [`Prepared`] laid out
//! before the fork: no allocation, no locks, no formatting. A failure is one fixed-size
//! [`Record`] written to the report pipe, which the caller turns into a message.

use std::ffi::CString;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};

/// The step a record reports: `Started` carries the command's pid, every other one a failure.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Started = 0,
    PidNamespace,
    Clone,
    Namespaces,
    BecomeRoot,
    OpenPty,
    UnlockPty,
    OpenPtySlave,
    PassPty,
    NewSession,
    ControllingTerminal,
    Chdir,
    DropCapability,
    AppArmor,
    Seccomp,
    PassListener,
    SetGroups,
    SetGid,
    SetUid,
    Exec,
}

impl Step {
    const ALL: [Step; 20] = [
        Step::Started,
        Step::PidNamespace,
        Step::Clone,
        Step::Namespaces,
        Step::BecomeRoot,
        Step::OpenPty,
        Step::UnlockPty,
        Step::OpenPtySlave,
        Step::PassPty,
        Step::NewSession,
        Step::ControllingTerminal,
        Step::Chdir,
        Step::DropCapability,
        Step::AppArmor,
        Step::Seccomp,
        Step::PassListener,
        Step::SetGroups,
        Step::SetGid,
        Step::SetUid,
        Step::Exec,
    ];

    pub fn from_u32(value: u32) -> Option<Step> {
        Step::ALL.get(value as usize).copied()
    }
}

/// One report: a step, a detail (the pid for `Started`, the capability's index for
/// `DropCapability`), an errno, and for `Started` from the vfork child the command's pidfd,
/// a descriptor in the caller's table handed over to it (else -1).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub step: u32,
    pub detail: u32,
    pub errno: i32,
    pub fd: i32,
}

pub const RECORD_SIZE: usize = std::mem::size_of::<Record>();

impl Record {
    pub fn from_bytes(bytes: &[u8; RECORD_SIZE]) -> Record {
        let word = |i: usize| [bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]];
        Record {
            step: u32::from_ne_bytes(word(0)),
            detail: u32::from_ne_bytes(word(4)),
            errno: i32::from_ne_bytes(word(8)),
            fd: i32::from_ne_bytes(word(12)),
        }
    }
}

/// AppArmor's "change profile at exec" request, ready to write.
pub struct AppArmorExec {
    pub paths: [CString; 2],
    pub request: Vec<u8>,
}

/// Everything the two processes need, built before the fork. The pointer arrays point into
/// the `CString`s of the same value, whose heap buffers do not move when it does.
pub struct Prepared {
    pub init_pidfd: OwnedFd,
    pub cgroup: Option<OwnedFd>,
    pub enter_pid_namespace: bool,
    /// The other namespaces to join (CLONE_NEW* flags).
    pub namespaces: i32,
    pub become_root: bool,
    /// The socket the pty master goes back on, when the command gets a terminal.
    pub terminal: Option<UnixStream>,
    pub cwd: CString,
    pub capabilities: Vec<u32>,
    pub apparmor: Option<AppArmorExec>,
    pub seccomp: Vec<libc::sock_filter>,
    /// The monitor, which answers the filter's notify rules, and the line that hands it the
    /// listener.
    pub monitor: Option<(UnixStream, Vec<u8>)>,
    pub gid: Option<u32>,
    pub uid: Option<u32>,
    pub argv: Vec<CString>,
    pub argv_ptrs: Vec<*const libc::c_char>,
    pub env: Vec<CString>,
    pub env_ptrs: Vec<*const libc::c_char>,
    /// The paths to try in turn, as execvp would from PATH.
    pub candidates: Vec<CString>,
    pub report: OwnedFd,
}

// SAFETY: the raw pointers point into CStrings owned by the same value and are only read
// (in the forked children); nothing is shared mutably.
unsafe impl Send for Prepared {}
// SAFETY: as above.
unsafe impl Sync for Prepared {}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn report(fd: RawFd, step: Step, detail: u32, errno: i32) {
    send_record(
        fd,
        Record {
            step: step as u32,
            detail,
            errno,
            fd: -1,
        },
    );
}

fn send_record(fd: RawFd, record: Record) {
    // SAFETY: write(2) of a plain struct; a pipe write this small is atomic.
    unsafe {
        libc::write(
            fd,
            &record as *const Record as *const libc::c_void,
            RECORD_SIZE,
        )
    };
}

fn fail(prepared: &Prepared, step: Step, detail: u32, errno: i32) -> ! {
    report(prepared.report.as_raw_fd(), step, detail, errno);
    // SAFETY: leave the forked process without running anything of the caller's.
    unsafe { libc::_exit(127) }
}

/// The intermediate: join the pid namespace (it applies to children only), clone the command
/// as a sibling — the caller's own child, born into init's cgroup — report its pid and exit.
///
/// # Safety
/// Only in a freshly forked process; never returns.
pub unsafe fn intermediate(prepared: &Prepared) -> ! {
    // SAFETY: setns with a pidfd this process holds; this process is thrown away.
    if prepared.enter_pid_namespace
        && unsafe { libc::setns(prepared.init_pidfd.as_raw_fd(), libc::CLONE_NEWPID) } != 0
    {
        fail(prepared, Step::PidNamespace, 0, errno());
    }
    let cgroup = prepared.cgroup.as_ref().map(|fd| fd.as_fd());
    // SAFETY: clone3 as a fork; the child runs `command` only, which is async-signal-safe.
    match unsafe { crate::runtime::spawn::fork_into(libc::CLONE_PARENT as u64, cgroup, None) } {
        Err(e) => fail(prepared, Step::Clone, 0, e.raw_os_error().unwrap_or(0)),
        // SAFETY: we are the fresh child.
        Ok(0) => unsafe { command(prepared) },
        Ok(pid) => {
            report(prepared.report.as_raw_fd(), Step::Started, pid, 0);
            // SAFETY: as in `fail`.
            unsafe { libc::_exit(0) }
        }
    }
}

/// What the vfork child tells the caller: the command's pid and pidfd, or its failure.
pub struct VforkResult {
    pub pid: u32,
    pub pidfd: RawFd,
    pub failure: Option<Record>,
}

/// Run `vfork_child` as a vfork child sharing the caller's memory and descriptor table (as
/// posix_spawn does): it joins the pid namespace for its own children and clones the
/// command with CLONE_PARENT, the caller's own child, with its pidfd in the caller's table.
/// The caller is suspended until it exits, with every signal blocked meanwhile so that no
/// handler of the caller's runs on the child's stack; its mask is restored after.
pub fn vfork_fork(prepared: &Prepared) -> std::io::Result<VforkResult> {
    let mut shared = (
        prepared as *const Prepared,
        VforkResult {
            pid: 0,
            pidfd: -1,
            failure: None,
        },
    );
    // The child's stack, in our memory; the command starts on a copy of it. Left
    // uninitialised: only the pages the child touches are ever faulted in.
    let mut stack: Vec<u8> = Vec::with_capacity(VFORK_STACK);
    let top = (stack.as_mut_ptr() as usize + VFORK_STACK) & !15;
    // SAFETY: sigset operations on local, initialised sets; the old mask is restored below.
    let saved = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut saved: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut saved);
        saved
    };
    // SAFETY: clone with CLONE_VM | CLONE_VFORK runs `vfork_child` on `stack` while this
    // thread waits; the child only reads `prepared`, writes `shared.1`, and _exits.
    let pid = unsafe {
        libc::clone(
            vfork_child,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_FILES | libc::SIGCHLD,
            &mut shared as *mut (*const Prepared, VforkResult) as *mut libc::c_void,
        )
    };
    let clone_error = std::io::Error::last_os_error();
    // SAFETY: restoring the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &saved, std::ptr::null_mut()) };
    drop(stack);
    if pid < 0 {
        return Err(clone_error);
    }
    // Reap the vfork child, which has exited.
    let _ = crate::runtime::attach::wait_status(pid);
    Ok(shared.1)
}

/// The stack of the vfork child; the command's process starts on a copy of it. The code
/// that runs there uses little.
const VFORK_STACK: usize = 64 * 1024;

extern "C" fn vfork_child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the caller's `shared`, alive while the caller waits for us.
    let (prepared, result) = unsafe { &mut *(arg as *mut (*const Prepared, VforkResult)) };
    // SAFETY: as above.
    let prepared = unsafe { &**prepared };
    let failure = |step: Step, errno: i32| {
        Some(Record {
            step: step as u32,
            detail: 0,
            errno,
            fd: -1,
        })
    };
    // SAFETY: setns with a pidfd we hold, for this process alone.
    if prepared.enter_pid_namespace
        && unsafe { libc::setns(prepared.init_pidfd.as_raw_fd(), libc::CLONE_NEWPID) } != 0
    {
        result.failure = failure(Step::PidNamespace, errno());
        // SAFETY: leave without running anything of the caller's.
        unsafe { libc::_exit(1) };
    }
    let cgroup = prepared.cgroup.as_ref().map(|fd| fd.as_fd());
    let mut pidfd: RawFd = -1;
    // SAFETY: clone3 as a fork of the caller's memory; the child runs `command` only.
    match unsafe {
        crate::runtime::spawn::fork_into(libc::CLONE_PARENT as u64, cgroup, Some(&mut pidfd))
    } {
        Err(e) => result.failure = failure(Step::Clone, e.raw_os_error().unwrap_or(0)),
        // SAFETY: we are the fresh child.
        Ok(0) => unsafe { command(prepared) },
        Ok(pid) => {
            result.pid = pid;
            result.pidfd = pidfd;
        }
    }
    // SAFETY: as above.
    unsafe { libc::_exit(0) }
}

/// The command's process: join the namespaces, take its terminal, directory, bounding set,
/// LSM profile, seccomp filter and ids, and exec.
///
/// # Safety
/// Only in the child cloned by `intermediate`; never returns.
unsafe fn command(p: &Prepared) -> ! {
    // SAFETY (whole function): raw syscalls on descriptors and buffers prepared before the
    // fork; nothing here allocates or takes a lock.
    unsafe {
        if libc::setns(p.init_pidfd.as_raw_fd(), p.namespaces) != 0 {
            fail(p, Step::Namespaces, 0, errno());
        }
        if p.become_root && (raw_setresgid(0) != 0 || raw_setgroups() != 0 || raw_setresuid(0) != 0)
        {
            fail(p, Step::BecomeRoot, 0, errno());
        }
        if let Some(channel) = &p.terminal {
            take_container_terminal(p, channel);
        }
        if libc::chdir(p.cwd.as_ptr()) != 0 {
            fail(p, Step::Chdir, 0, errno());
        }
        for (index, &number) in p.capabilities.iter().enumerate() {
            if libc::prctl(libc::PR_CAPBSET_DROP, number as libc::c_ulong, 0, 0, 0) != 0 {
                fail(p, Step::DropCapability, index as u32, errno());
            }
        }
        if let Some(apparmor) = &p.apparmor {
            change_profile_at_exec(p, apparmor);
        }
        if !p.seccomp.is_empty() {
            match crate::runtime::seccomp::install(&p.seccomp) {
                Err(e) => fail(p, Step::Seccomp, 0, e.raw_os_error().unwrap_or(0)),
                // The monitor answers the command's notify rules; without a monitor they fail
                // with ENOSYS (nobody listens).
                Ok(Some(listener)) => {
                    if let Some((monitor, line)) = &p.monitor
                        && let Err(e) = send_fd(monitor, line, listener.as_fd())
                    {
                        fail(p, Step::PassListener, 0, e.raw_os_error());
                    }
                }
                Ok(None) => {}
            }
        }
        if let Some(gid) = p.gid {
            if raw_setgroups() != 0 {
                fail(p, Step::SetGroups, 0, errno());
            }
            if raw_setresgid(gid) != 0 {
                fail(p, Step::SetGid, 0, errno());
            }
        }
        if let Some(uid) = p.uid
            && raw_setresuid(uid) != 0
        {
            fail(p, Step::SetUid, 0, errno());
        }
        reset_signals();
        // execvp's rules: a missing candidate moves on, a refused one is remembered.
        let mut error = libc::ENOENT;
        let mut refused = false;
        for candidate in &p.candidates {
            libc::execve(
                candidate.as_ptr(),
                p.argv_ptrs.as_ptr(),
                p.env_ptrs.as_ptr(),
            );
            match errno() {
                libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
                libc::EACCES => refused = true,
                other => {
                    error = other;
                    break;
                }
            }
        }
        if refused && error == libc::ENOENT {
            error = libc::EACCES;
        }
        fail(p, Step::Exec, 0, error)
    }
}

/// A pty of the container's own devpts (so `tty` names it inside): its master goes back to
/// the caller, its slave becomes our controlling terminal and stdio.
unsafe fn take_container_terminal(p: &Prepared, channel: &UnixStream) {
    use rustix::pty::OpenptFlags;
    let code = |e: rustix::io::Errno| e.raw_os_error();
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .unwrap_or_else(|e| fail(p, Step::OpenPty, 0, code(e)));
    if let Err(e) = rustix::pty::unlockpt(&master) {
        fail(p, Step::UnlockPty, 0, code(e));
    }
    let slave = rustix::pty::ioctl_tiocgptpeer(
        &master,
        OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC,
    )
    .unwrap_or_else(|e| fail(p, Step::OpenPtySlave, 0, code(e)));
    if let Err(e) = send_fd(channel, b"ok\n", master.as_fd()) {
        fail(p, Step::PassPty, 0, e.raw_os_error());
    }
    drop(master);
    if let Err(e) = rustix::process::setsid() {
        fail(p, Step::NewSession, 0, code(e));
    }
    for target in 0..3 {
        // SAFETY: dup2 onto the standard descriptors.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            fail(p, Step::ControllingTerminal, 0, errno());
        }
    }
    if let Err(e) = rustix::process::ioctl_tiocsctty(&slave) {
        fail(p, Step::ControllingTerminal, 0, code(e));
    }
}

unsafe fn change_profile_at_exec(p: &Prepared, apparmor: &AppArmorExec) {
    let mut error = libc::ENOENT;
    for path in &apparmor.paths {
        // SAFETY: open/write/close on a prepared path and buffer.
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 {
                error = errno();
                continue;
            }
            let written = libc::write(
                fd,
                apparmor.request.as_ptr() as *const libc::c_void,
                apparmor.request.len(),
            );
            let write_error = errno();
            libc::close(fd);
            if written == apparmor.request.len() as isize {
                return;
            }
            fail(p, Step::AppArmor, 0, write_error);
        }
    }
    fail(p, Step::AppArmor, 0, error)
}

/// One message with one descriptor; stack buffers only.
fn send_fd(stream: &UnixStream, line: &[u8], fd: BorrowedFd<'_>) -> rustix::io::Result<()> {
    let fds = [fd];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    sendmsg(
        stream,
        &[std::io::IoSlice::new(line)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}

// The id syscalls directly: glibc's wrappers would try to signal the caller's other threads,
// which do not exist in this copy of it.
unsafe fn raw_setresuid(uid: u32) -> libc::c_long {
    // SAFETY: plain syscall with integer arguments.
    unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) }
}

unsafe fn raw_setresgid(gid: u32) -> libc::c_long {
    // SAFETY: plain syscall with integer arguments.
    unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) }
}

unsafe fn raw_setgroups() -> libc::c_long {
    // SAFETY: an empty group list.
    unsafe { libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) }
}

/// The command starts with nothing blocked and SIGPIPE at its default, whatever the caller
/// had (an ignored signal would stay ignored across exec).
unsafe fn reset_signals() {
    // SAFETY: sigprocmask and signal are async-signal-safe; the set is initialised.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_round_trip_through_their_number() {
        for step in Step::ALL {
            assert_eq!(Step::from_u32(step as u32), Some(step));
        }
        assert_eq!(Step::from_u32(Step::ALL.len() as u32), None);
    }

    #[test]
    fn records_read_back_as_written() {
        let record = Record {
            step: Step::Exec as u32,
            detail: 7,
            errno: libc::ENOENT,
            fd: 9,
        };
        // SAFETY: a repr(C) struct of four 4-byte integers has no padding.
        let bytes: [u8; RECORD_SIZE] = unsafe { std::mem::transmute(record) };
        assert_eq!(Record::from_bytes(&bytes), record);
    }
}
