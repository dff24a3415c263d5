//! The step log of `pct start --debug`: one line per step of the start — staging, cgroup,
//! clone, ID maps, every mount, pivot, capabilities, seccomp, exec — timed from the moment
//! `pct start` began. `pct`, the monitor and the cloned child all write to it: the monitor
//! and the child to the launcher's report socket (or stderr in the foreground) with plain
//! write(2), which is safe in the child between clone and exec.

use std::fmt::Display;
use std::os::fd::RawFd;

/// Prefix of a step line on the report socket, to tell it from the final verdict.
pub const REPORT_PREFIX: &str = "debug ";
/// Prefix of a step line on stderr.
pub const STDERR_PREFIX: &str = "DEBUG ";

#[derive(Debug, Clone, Copy)]
pub struct Trace {
    sink: Option<Sink>,
    /// CLOCK_MONOTONIC nanoseconds the times are counted from.
    origin: u64,
}

#[derive(Debug, Clone, Copy)]
struct Sink {
    fd: RawFd,
    prefix: &'static str,
}

/// CLOCK_MONOTONIC in nanoseconds: comparable between processes, unlike `Instant`.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime into a local timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Trace {
    /// No step log.
    pub fn off() -> Trace {
        Trace {
            sink: None,
            origin: 0,
        }
    }

    /// Step lines to the launcher's report socket, timed from `origin` (see [`now_ns`]).
    pub fn to_report(fd: RawFd, origin: u64) -> Trace {
        Trace {
            sink: Some(Sink {
                fd,
                prefix: REPORT_PREFIX,
            }),
            origin,
        }
    }

    /// Step lines to this process's stderr as it is: for the caller of a start, which opens
    /// no descriptor for them (a copy would stay open in the caller for good).
    pub fn to_caller_stderr(origin: u64) -> Trace {
        Trace {
            sink: Some(Sink {
                fd: libc::STDERR_FILENO,
                prefix: STDERR_PREFIX,
            }),
            origin,
        }
    }

    /// Step lines to stderr, through a copy of it (init's child process puts the console on
    /// its own stderr before its last steps): for a foreground monitor, whose copy goes with
    /// it.
    pub fn to_stderr(origin: u64) -> Trace {
        // SAFETY: duplicating our own stderr; the copy stays open for the process's life.
        let fd = unsafe { libc::fcntl(libc::STDERR_FILENO, libc::F_DUPFD_CLOEXEC, 10) };
        Trace {
            sink: (fd >= 0).then_some(Sink {
                fd,
                prefix: STDERR_PREFIX,
            }),
            origin,
        }
    }

    pub fn origin(&self) -> u64 {
        self.origin
    }

    /// Whether the steps go to the launcher's report socket (not to stderr).
    pub fn to_report_socket(&self) -> bool {
        self.sink
            .as_ref()
            .is_some_and(|sink| sink.prefix == REPORT_PREFIX)
    }

    pub fn is_on(&self) -> bool {
        self.sink.is_some()
    }

    /// Log one step whose text costs something to make: `text` runs only when the log is on.
    pub fn step_with<D: Display>(&self, text: impl FnOnce() -> D) {
        if self.is_on() {
            self.step(text());
        }
    }

    /// Log one step. Newlines in `text` become spaces: one step, one line.
    pub fn step(&self, text: impl Display) {
        let Some(sink) = self.sink else { return };
        let micros = now_ns().saturating_sub(self.origin) / 1000;
        let text = text.to_string().replace('\n', " ");
        let line = format!(
            "{}{:>4}.{:03} ms  {text}\n",
            sink.prefix,
            micros / 1000,
            micros % 1000
        );
        write_all(sink.fd, line.as_bytes());
    }
}

fn write_all(fd: RawFd, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: writing a valid buffer to a descriptor this process holds.
        let written = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if written <= 0 {
            return;
        }
        bytes = &bytes[written as usize..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn report_lines_are_prefixed_and_single_line() {
        let (mut read, write) = UnixStream::pair().unwrap();
        let trace = Trace::to_report(write.as_raw_fd(), now_ns());
        trace.step("mount proc\nat /proc");
        trace.step(format_args!("exec {}", "/sbin/init"));
        drop(write);
        let mut text = String::new();
        read.read_to_string(&mut text).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with(REPORT_PREFIX));
        assert!(
            lines[0].ends_with(" ms  mount proc at /proc"),
            "{}",
            lines[0]
        );
        assert!(lines[1].ends_with(" ms  exec /sbin/init"), "{}", lines[1]);
    }
}
