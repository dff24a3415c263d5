//! The step log of `pct start --debug`: one line per step of the start — staging, cgroup,
//! clone, ID maps, every mount, pivot, capabilities, seccomp, exec — timed from the moment
//! `pct start` began. `pct`, the monitor and the cloned child all write to it: the monitor
//! and the child to the launcher's report socket (or, in the foreground, to a pipe the
//! caller reads) with plain write(2), which is safe in the child between clone and exec.
//! The caller hands every line to its observer as an [`Event::Debug`](crate::Event::Debug)
//! (see [`caller_line`]); nothing here writes to the caller's stderr.

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

    /// Whether the steps go to descriptor `fd` (the report socket, which closes once init
    /// runs, or a foreground start's events pipe, which stays).
    pub fn writes_to(&self, fd: RawFd) -> bool {
        self.sink.as_ref().is_some_and(|sink| sink.fd == fd)
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
        let line = format!("{}\n", step_line(sink.prefix, self.origin, text));
        write_all(sink.fd, line.as_bytes());
    }
}

fn step_line(prefix: &str, origin: u64, text: impl Display) -> String {
    let micros = now_ns().saturating_sub(origin) / 1000;
    let text = text.to_string().replace('\n', " ");
    format!(
        "{prefix}{:>4}.{:03} ms  {text}",
        micros / 1000,
        micros % 1000
    )
}

/// A step of the calling process, timed from `origin`, as `pct start --debug` prints it.
pub fn caller_line(origin: u64, text: impl Display) -> String {
    step_line(STDERR_PREFIX, origin, text)
}

/// A line a monitor or child wrote to the report socket or pipe, as `pct start --debug`
/// prints it; `None` for a line that is not a step.
pub fn relayed_line(line: &str) -> Option<String> {
    line.strip_prefix(REPORT_PREFIX)
        .map(|step| format!("{STDERR_PREFIX}{step}"))
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
