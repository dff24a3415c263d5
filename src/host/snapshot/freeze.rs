//! The freeze `pct snapshot` holds on a running container while its volumes are snapshotted,
//! which must not outlive the process that made it.
//!
//! A thaw in `Drop` covers errors and panics, not a process killed with SIGKILL. So before
//! freezing, a watchdog process is forked: it holds the read end of a pipe whose only write
//! end the freezing process holds, and blocks reading it. When the freezing process ends,
//! however it ends, the kernel closes the write end, the watchdog reads end-of-file and
//! writes `0` to `cgroup.freeze`. The watchdog is in a session of its own, so signals sent
//! to the terminal's process group (Ctrl-C) do not reach it. What remains uncovered: both
//! processes killed at once by pid, which needs someone to target the watchdog on purpose.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use crate::cgroup::ContainerCgroup;

/// A frozen container; thawed on drop, or by the watchdog if this process dies first.
pub(super) struct Freeze<'c> {
    cgroup: &'c ContainerCgroup,
    watchdog: Option<ThawOnExit>,
    timeout: Duration,
}

impl<'c> Freeze<'c> {
    /// Start the watchdog, then freeze the container and wait until it is frozen. On error
    /// the container is thawed again.
    pub(super) fn new(cgroup: &'c ContainerCgroup, timeout: Duration) -> io::Result<Freeze<'c>> {
        let watchdog = ThawOnExit::spawn(&cgroup.limiting.join("cgroup.freeze"))?;
        let freeze = Freeze {
            cgroup,
            watchdog: Some(watchdog),
            timeout,
        };
        // On failure `freeze` drops here and thaws.
        cgroup.set_frozen(true, timeout)?;
        Ok(freeze)
    }

    /// Thaw now, reporting whether it worked (drop thaws too, but cannot report).
    pub(super) fn thaw(mut self) -> io::Result<()> {
        self.thaw_now()
    }

    fn thaw_now(&mut self) -> io::Result<()> {
        // The watchdog thaws as soon as it sees its pipe closed; thawing here as well covers a
        // watchdog that was killed, and waits until the kernel says the container runs.
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.release();
        }
        self.cgroup.set_frozen(false, self.timeout)
    }
}

impl Drop for Freeze<'_> {
    fn drop(&mut self) {
        if self.watchdog.is_some() {
            let _ = self.thaw_now();
        }
    }
}

/// A forked process that writes `0` to a file (`cgroup.freeze`) once the process that
/// spawned it releases it or ends.
pub(super) struct ThawOnExit {
    /// The pipe's only write end outside the watchdog.
    write_end: Option<OwnedFd>,
    pid: libc::pid_t,
}

impl ThawOnExit {
    pub(super) fn spawn(freeze_file: &Path) -> io::Result<ThawOnExit> {
        let path = CString::new(freeze_file.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let (read_end, write_end) =
            rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(io::Error::from)?;
        // SAFETY: the child calls only async-signal-safe functions (setsid, close_range, read,
        // open, write, _exit) on data prepared before the fork, so forking a process with
        // other threads is sound.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            // SAFETY: see above; never returns.
            unsafe { watchdog(read_end.as_raw_fd(), &path) }
        }
        drop(read_end);
        Ok(ThawOnExit {
            write_end: Some(write_end),
            pid,
        })
    }

    /// Let the watchdog thaw and end, and reap it.
    pub(super) fn release(mut self) {
        self.release_now();
    }

    fn release_now(&mut self) {
        drop(self.write_end.take());
        let mut status = 0;
        // SAFETY: waits for our own child; a failure (already reaped) is harmless.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
    }

    /// Close the write end as a killed process would, without waiting for the watchdog;
    /// returns its pid.
    #[cfg(test)]
    fn abandon(mut self) -> libc::pid_t {
        drop(self.write_end.take());
        self.pid
    }
}

impl Drop for ThawOnExit {
    fn drop(&mut self) {
        if self.write_end.is_some() {
            self.release_now();
        }
    }
}

/// The watchdog's whole life: wait for end-of-file on `pipe`, then write `0` to `path`.
///
/// # Safety
/// Runs in a freshly forked child; uses async-signal-safe calls only.
unsafe fn watchdog(pipe: RawFd, path: &CString) -> ! {
    // SAFETY: plain syscalls on values owned by this process image.
    unsafe {
        libc::setsid();
        // Keep only the pipe: no inherited descriptor (a lock, someone's stdout pipe) may
        // stay open because the watchdog lives.
        let pipe = pipe as libc::c_uint;
        if pipe > 0 {
            libc::syscall(libc::SYS_close_range, 0u32, pipe - 1, 0u32);
        }
        libc::syscall(libc::SYS_close_range, pipe + 1, u32::MAX, 0u32);
        let mut byte = 0u8;
        loop {
            let n = libc::read(pipe as RawFd, (&mut byte as *mut u8).cast(), 1);
            if n == 0 || (n < 0 && *libc::__errno_location() != libc::EINTR) {
                break;
            }
        }
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd >= 0 {
            libc::write(fd, b"0".as_ptr().cast(), 1);
            libc::close(fd);
        }
        libc::_exit(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_for(path: &Path, wanted: &str) -> bool {
        for _ in 0..500 {
            if std::fs::read_to_string(path).unwrap() == wanted {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn the_watchdog_writes_zero_when_its_owner_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cgroup.freeze");
        std::fs::write(&file, "1").unwrap();
        let watchdog = ThawOnExit::spawn(&file).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "1", "too early");
        // A killed owner: the write end closed by the kernel, nothing else done.
        let pid = watchdog.abandon();
        assert!(wait_for(&file, "0"), "the watchdog did not thaw");
        let mut status = 0;
        // SAFETY: reaps the watchdog this test forked.
        unsafe { libc::waitpid(pid, &mut status, 0) };
    }

    #[test]
    fn the_watchdog_writes_zero_when_released() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cgroup.freeze");
        std::fs::write(&file, "1").unwrap();
        ThawOnExit::spawn(&file).unwrap().release();
        // Released means reaped: the write happened before `release` returned.
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "0");
    }
}
