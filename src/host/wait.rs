//! Waiting for a container to end, and learning how it ended: its monitor records the end
//! (`run/corral/<vmid>.exit`) before it exits, and its pidfd tells when that has happened.

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};

use super::{Container, Error};
use crate::runtime::monitor::InitExit;
use crate::runtime::state::{ExitRecord, StopCause};

/// How a container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exit {
    /// init exited by itself with this status.
    Exited(i32),
    /// init was killed by this signal, not at corral's request (a `poweroff` inside ends
    /// init with SIGINT, a crash with SIGSEGV).
    Signaled(i32),
    /// `pct stop` ([`Container::stop`]) killed it.
    Stopped,
    /// `pct shutdown` ([`Container::shutdown`]), or a termination signal to its monitor,
    /// asked it to halt.
    ShutDown,
}

impl From<ExitRecord> for Exit {
    fn from(record: ExitRecord) -> Exit {
        match (record.stopped_by, record.init) {
            (Some(StopCause::Stop), _) => Exit::Stopped,
            (Some(StopCause::Shutdown), _) => Exit::ShutDown,
            (None, InitExit::Exited(code)) => Exit::Exited(code),
            (None, InitExit::Signaled(signal)) => Exit::Signaled(signal),
        }
    }
}

impl Container<'_> {
    /// A pidfd that becomes readable (`POLLIN`) when the container has ended: its monitor's,
    /// which exits once the container is gone and its end is recorded, or — for a container
    /// that lost its monitor — its init's. For an async runtime (register it with tokio's
    /// `AsyncFd`, say), then call [`Container::wait_stopped`] to learn how it ended. The
    /// descriptor is close-on-exec. Fails with [`Error::NotRunning`] when it is not.
    pub fn stopped_fd(&self) -> Result<OwnedFd, Error> {
        self.stopped_fd_and_source().map(|(fd, _)| fd)
    }

    /// The pidfd, and whether it is the monitor's (which records the end).
    fn stopped_fd_and_source(&self) -> Result<(OwnedFd, bool), Error> {
        let vmid = self.vmid.get();
        let not_running = || Error::not_running(self.vmid, false);
        let init = self.running_init().ok_or_else(not_running)?;
        if let Some(monitor) = monitor_pidfd(init.monitor_pid, vmid) {
            return Ok((monitor, true));
        }
        crate::runtime::liveness::init_pidfd(&init, vmid)
            .map(|fd| (fd, false))
            .ok_or_else(not_running)
    }

    /// Wait until the container has ended, at most `timeout` (forever with `None`), and say
    /// how: init's exit status or signal, or stopped by `stop`/`shutdown`. A container that
    /// already ended answers at once with its last run's end; one that never ran (or whose
    /// end nobody recorded) fails with [`Error::NotRunning`]. When the timeout passes
    /// first, the error is an [`Error::Io`] of kind [`std::io::ErrorKind::TimedOut`].
    pub fn wait_stopped(&self, timeout: Option<Duration>) -> Result<Exit, Error> {
        let vmid = self.vmid.get();
        let state = self.state_dir();
        let (fd, from_monitor) = match self.stopped_fd_and_source() {
            Ok(found) => found,
            Err(error) => return state.read_exit().map(Exit::from).ok_or(error),
        };
        let deadline = timeout.map(|timeout| Instant::now() + timeout);
        loop {
            let left = deadline.map(|deadline| {
                let left = deadline.saturating_duration_since(Instant::now());
                Timespec {
                    tv_sec: left.as_secs() as i64,
                    tv_nsec: i64::from(left.subsec_nanos()),
                }
            });
            let mut fds = [PollFd::new(&fd, PollFlags::IN)];
            match poll(&mut fds, left.as_ref()) {
                Ok(0) => {
                    return Err(Error::io(
                        format!("CT {vmid} still running"),
                        std::io::Error::from(std::io::ErrorKind::TimedOut),
                    ));
                }
                Ok(_) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    return Err(Error::io(format!("unable to wait for CT {vmid}"), e.into()));
                }
            }
        }
        match state.read_exit() {
            Some(record) => Ok(record.into()),
            None => Err(Error::ExitUnknown {
                vmid: self.vmid,
                monitor: from_monitor,
            }),
        }
    }
}

/// A pidfd of the container's monitor, once the process behind it is proven to be that
/// monitor (a recycled pid is another program).
fn monitor_pidfd(pid: u32, vmid: u32) -> Option<OwnedFd> {
    let raw = rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)?;
    let pidfd = rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty()).ok()?;
    // Read after the pidfd is open: the process checked is the one it refers to, or gone.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let wanted = format!("corral monitor {vmid}");
    (cmdline.strip_suffix(b"\0").unwrap_or(&cmdline) == wanted.as_bytes()).then_some(pidfd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_someone_asked_for_is_named_for_who_asked() {
        let record = |init, stopped_by| ExitRecord { init, stopped_by };
        let killed = InitExit::Signaled(libc::SIGKILL);
        assert_eq!(
            Exit::from(record(killed, Some(StopCause::Stop))),
            Exit::Stopped
        );
        assert_eq!(
            Exit::from(record(InitExit::Exited(0), Some(StopCause::Shutdown))),
            Exit::ShutDown
        );
        assert_eq!(
            Exit::from(record(InitExit::Exited(3), None)),
            Exit::Exited(3)
        );
        assert_eq!(
            Exit::from(record(killed, None)),
            Exit::Signaled(libc::SIGKILL)
        );
    }
}
