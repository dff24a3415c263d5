//! `features: mknod=1`: an unprivileged container's mknod of a character or block node
//! stops in its seccomp filter (notify), and the monitor, real root on the host, makes the
//! node for it when the device is one every container may have anyway — null, zero, full,
//! random, urandom, tty, ptmx, and overlayfs' whiteout (0:0). Anything else fails with
//! EPERM, as it would without the feature.
//!
//! The node is made by a short-lived child of the monitor that takes the caller's view and
//! rights: its root and working directory (so the path resolves as the caller's own
//! syscall would, symlinks and all, inside the container), its file-system ids and umask
//! (so directory permissions are checked as for the caller, and the node is the caller's),
//! and of root's powers only CAP_MKNOD.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// Character devices a container may create besides those its /dev gets anyway
/// (`plan::BASIC_NODES`): ptmx, and overlayfs' whiteout.
const ALSO_ALLOWED: &[(u32, u32)] = &[(5, 2), (0, 0)];

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const X32_SYSCALL_BIT: i32 = 0x4000_0000;

/// The arguments of one intercepted call, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MknodCall {
    /// mknodat's directory descriptor; `None` for mknod (relative to the cwd).
    pub dirfd: Option<i32>,
    pub path_address: u64,
    pub mode: u32,
    pub major: u32,
    pub minor: u32,
}

/// Which call a notification is, by architecture and number.
pub fn decode(arch: u32, nr: i32, args: &[u64; 6]) -> Option<MknodCall> {
    let at = match (arch, nr) {
        (AUDIT_ARCH_X86_64, 133) | (AUDIT_ARCH_I386, 14) => false,
        (AUDIT_ARCH_X86_64, 259) | (AUDIT_ARCH_I386, 297) => true,
        (AUDIT_ARCH_X86_64, n) if n == X32_SYSCALL_BIT | 133 => false,
        (AUDIT_ARCH_X86_64, n) if n == X32_SYSCALL_BIT | 259 => true,
        _ => return None,
    };
    let dirfd = at.then_some(args[0] as i32);
    let args = if at { &args[1..] } else { &args[..] };
    // The kernel's new_decode_dev on the 32-bit device number.
    let dev = args[2] as u32;
    Some(MknodCall {
        dirfd,
        path_address: args[0],
        mode: args[1] as u32,
        major: (dev & 0xfff00) >> 8,
        minor: (dev & 0xff) | ((dev >> 12) & 0xfff00),
    })
}

/// Whether a container may have this node.
pub fn allowed(call: &MknodCall) -> bool {
    let device = (call.major, call.minor);
    call.mode & libc::S_IFMT == libc::S_IFCHR
        && (super::plan::BASIC_NODES
            .iter()
            .any(|(_, major, minor)| (*major, *minor) == device)
            || ALSO_ALLOWED.contains(&device))
}

/// Read one notification from `listener` and answer it. Errors reading are returned (the
/// container is gone, or the listener broke); every request read gets an answer.
pub fn handle(listener: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: zeroed plain-old-data structs, filled by the kernel.
    let mut request: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: SECCOMP_IOCTL_NOTIF_RECV with a seccomp_notif the kernel fills.
    if unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            &mut request as *mut libc::seccomp_notif,
        )
    } != 0
    {
        return Err(io::Error::last_os_error());
    }
    let result = answer(listener, &request);
    // SAFETY: zeroed plain-old-data struct.
    let mut response: libc::seccomp_notif_resp = unsafe { std::mem::zeroed() };
    response.id = request.id;
    match result {
        Ok(()) => response.val = 0,
        Err(errno) => response.error = -errno,
    }
    // SAFETY: SECCOMP_IOCTL_NOTIF_SEND with a response for the request just read; ENOENT
    // (the caller died meanwhile) is nothing to report.
    unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &mut response as *mut libc::seccomp_notif_resp,
        )
    };
    Ok(())
}

/// The errno the caller gets, or success.
fn answer(listener: BorrowedFd<'_>, request: &libc::seccomp_notif) -> Result<(), i32> {
    let data = &request.data;
    let call = decode(data.arch, data.nr, &data.args).ok_or(libc::ENOSYS)?;
    if !allowed(&call) {
        return Err(libc::EPERM);
    }
    let caller = Caller::read(request.pid, &call).map_err(os_errno)?;
    // All of the caller was read through its pid, which may have been reused since the
    // notification: the request still pending means it was the caller's.
    let mut id = request.id;
    // SAFETY: SECCOMP_IOCTL_NOTIF_ID_VALID with the request's id.
    if unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
            &mut id as *mut u64,
        )
    } != 0
    {
        return Err(libc::ENOENT);
    }
    caller.make_node(&call)
}

fn os_errno(e: io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// Where the caller stands and who it is: what its own mknod would have used.
struct Caller {
    path: std::ffi::CString,
    root: OwnedFd,
    /// The directory a relative path starts from: mknodat's dirfd, or the cwd.
    start: OwnedFd,
    fsuid: u32,
    fsgid: u32,
    umask: u32,
}

impl Caller {
    fn read(pid: u32, call: &MknodCall) -> io::Result<Caller> {
        let open_dir = |p: String| -> io::Result<OwnedFd> {
            Ok(rustix::fs::open(
                p.as_str(),
                rustix::fs::OFlags::PATH
                    | rustix::fs::OFlags::DIRECTORY
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )?)
        };
        let (fsuid, fsgid, umask) = caller_identity(pid)?;
        Ok(Caller {
            path: read_path(pid, call.path_address)?,
            root: open_dir(format!("/proc/{pid}/root"))?,
            start: match call.dirfd {
                Some(fd) if fd != libc::AT_FDCWD => open_dir(format!("/proc/{pid}/fd/{fd}"))?,
                _ => open_dir(format!("/proc/{pid}/cwd"))?,
            },
            fsuid,
            fsgid,
            umask,
        })
    }

    /// Make the node in a child that stands where the caller stands.
    fn make_node(&self, call: &MknodCall) -> Result<(), i32> {
        // SAFETY: the monitor is single-threaded; the child only makes syscalls and _exits.
        let child = unsafe { super::spawn::fork_into(0, None, None) }.map_err(os_errno)?;
        if child == 0 {
            let code = match self.node_in_child(call) {
                Ok(()) => 0,
                Err(errno) => errno,
            };
            // SAFETY: leave the copy of the monitor without its destructors.
            unsafe { libc::_exit(code) }
        }
        let mut status = 0;
        // SAFETY: waitpid on our own child.
        unsafe { libc::waitpid(child as i32, &mut status, 0) };
        match libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)) {
            Some(0) => Ok(()),
            Some(errno) => Err(errno),
            None => Err(libc::EIO),
        }
    }

    fn node_in_child(&self, call: &MknodCall) -> Result<(), i32> {
        let last = || os_errno(io::Error::last_os_error());
        // SAFETY: plain syscalls on descriptors this process owns.
        unsafe {
            if libc::fchdir(self.root.as_raw_fd()) != 0 || libc::chroot(c".".as_ptr()) != 0 {
                return Err(last());
            }
            if libc::fchdir(self.start.as_raw_fd()) != 0
                || libc::setgroups(0, std::ptr::null()) != 0
            {
                return Err(last());
            }
            libc::setfsgid(self.fsgid);
            libc::setfsuid(self.fsuid);
            libc::umask(self.umask as libc::mode_t);
        }
        // A new fsuid cleared the file-system capabilities; of the rest keep CAP_MKNOD alone.
        super::caps::only_effective("mknod")
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EPERM))?;
        let dev = libc::makedev(call.major, call.minor);
        // SAFETY: mknod with a valid C string, relative to the caller's cwd inside its root.
        if unsafe { libc::mknod(self.path.as_ptr(), call.mode as libc::mode_t, dev) } != 0 {
            return Err(last());
        }
        Ok(())
    }
}

/// The NUL-terminated path at `address` in the caller's memory.
fn read_path(pid: u32, address: u64) -> io::Result<std::ffi::CString> {
    use std::os::unix::fs::FileExt;
    let mem = std::fs::File::open(format!("/proc/{pid}/mem"))?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    let mut filled = 0;
    while filled < buf.len() {
        let n = mem.read_at(&mut buf[filled..], address + filled as u64)?;
        if n == 0 {
            break;
        }
        if let Some(end) = buf[filled..filled + n].iter().position(|b| *b == 0) {
            buf.truncate(filled + end);
            return std::ffi::CString::new(buf)
                .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL));
        }
        filled += n;
    }
    Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG))
}

/// The caller's file-system ids and umask, from /proc/<pid>/status.
fn caller_identity(pid: u32) -> io::Result<(u32, u32, u32)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str, index: usize| -> Option<u32> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let word = line[name.len()..].split_whitespace().nth(index)?;
        if name == "Umask:" {
            u32::from_str_radix(word, 8).ok()
        } else {
            word.parse().ok()
        }
    };
    match (field("Uid:", 3), field("Gid:", 3), field("Umask:", 0)) {
        (Some(uid), Some(gid), Some(umask)) => Ok((uid, gid, umask)),
        _ => Err(io::Error::from_raw_os_error(libc::ESRCH)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(major: u32, minor: u32) -> u64 {
        u64::from((minor & 0xff) | (major << 8) | ((minor & !0xff) << 12))
    }

    #[test]
    fn calls_decode_for_every_container_architecture() {
        let mknod = [0x1000, u64::from(libc::S_IFCHR | 0o666), dev(1, 3), 0, 0, 0];
        let call = decode(AUDIT_ARCH_X86_64, 133, &mknod).unwrap();
        assert_eq!((call.dirfd, call.major, call.minor), (None, 1, 3));
        assert_eq!(call.path_address, 0x1000);
        assert!(allowed(&call));
        assert_eq!(decode(AUDIT_ARCH_I386, 14, &mknod), Some(call.clone()));
        assert_eq!(
            decode(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 133, &mknod),
            Some(call)
        );
        let at = [
            libc::AT_FDCWD as u64,
            0x2000,
            u64::from(libc::S_IFBLK | 0o600),
            dev(8, 0),
            0,
            0,
        ];
        let call = decode(AUDIT_ARCH_X86_64, 259, &at).unwrap();
        assert_eq!((call.path_address, call.major, call.minor), (0x2000, 8, 0));
        assert_eq!(call.dirfd, Some(libc::AT_FDCWD));
        assert!(!allowed(&call), "a block device (sda) is never made");
        assert_eq!(decode(AUDIT_ARCH_X86_64, 2, &at), None);
    }

    #[test]
    fn only_the_basic_character_devices_are_allowed() {
        let call = |mode: u32, major, minor| MknodCall {
            dirfd: None,
            path_address: 0,
            mode,
            major,
            minor,
        };
        for (major, minor) in [
            (1, 3),
            (1, 5),
            (1, 7),
            (1, 8),
            (1, 9),
            (5, 0),
            (5, 2),
            (0, 0),
        ] {
            assert!(allowed(&call(libc::S_IFCHR | 0o666, major, minor)));
        }
        for (major, minor) in [(1, 1), (1, 2), (1, 11), (4, 0), (10, 232), (5, 1), (136, 0)] {
            assert!(
                !allowed(&call(libc::S_IFCHR | 0o666, major, minor)),
                "{major}:{minor}"
            );
        }
        assert!(!allowed(&call(libc::S_IFBLK | 0o666, 1, 3)));
    }
}
