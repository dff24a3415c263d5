//! The step log of `pct start --debug`: one line per step of the start — staging, cgroup,
//! clone, ID maps, every mount, pivot, capabilities, seccomp, exec — timed from the start of
//! the monitor. The monitor and the cloned child write to the same descriptor (the
//! launcher's report socket, or stderr in the foreground) with plain write(2), which is safe
//! in the child between clone and exec.

use std::fmt::Display;
use std::os::fd::RawFd;
use std::time::Instant;

/// Prefix of a step line on the report socket, to tell it from the final verdict.
pub const REPORT_PREFIX: &str = "debug ";

#[derive(Debug, Clone, Copy)]
pub struct Trace {
    sink: Option<Sink>,
    start: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Sink {
    fd: RawFd,
    /// Lines on a report socket carry `REPORT_PREFIX`; lines to a terminal do not.
    prefixed: bool,
}

impl Trace {
    /// No step log.
    pub fn off() -> Trace {
        Trace {
            sink: None,
            start: Instant::now(),
        }
    }

    /// Step lines to the launcher's report socket.
    pub fn to_report(fd: RawFd) -> Trace {
        Trace {
            sink: Some(Sink { fd, prefixed: true }),
            start: Instant::now(),
        }
    }

    /// Step lines straight to stderr (`pct start --foreground --debug`).
    pub fn to_stderr() -> Trace {
        Trace {
            sink: Some(Sink {
                fd: libc::STDERR_FILENO,
                prefixed: false,
            }),
            start: Instant::now(),
        }
    }

    pub fn is_on(&self) -> bool {
        self.sink.is_some()
    }

    /// Log one step. Newlines in `text` become spaces: one step, one line.
    pub fn step(&self, text: impl Display) {
        let Some(sink) = self.sink else { return };
        let elapsed = self.start.elapsed();
        let prefix = if sink.prefixed { REPORT_PREFIX } else { "" };
        let text = text.to_string().replace('\n', " ");
        let line = format!(
            "{prefix}{:>4}.{:03} ms  {text}\n",
            elapsed.as_millis(),
            elapsed.subsec_micros() % 1000
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
        let trace = Trace::to_report(write.as_raw_fd());
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
