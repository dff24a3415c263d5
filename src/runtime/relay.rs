//! A foreground monitor's events, carried to its caller: the monitor is a process of its
//! own (see [`launch`](super::launch)) and cannot call the caller's
//! [`Observer`](crate::Observer), so it writes each event as one line to a pipe, which a
//! thread of the caller's start reads and hands to the observer as it comes.
//!
//! The step lines of the start (`debug ...`, see [`trace`](super::trace)) share the pipe:
//! the monitor's and those of the container's child, written with plain write(2). A line
//! goes out with one write, so lines of the two processes do not mix (a pipe write of up to
//! `PIPE_BUF` bytes is atomic).

use std::io::{BufRead, BufReader};
use std::os::fd::{OwnedFd, RawFd};

use super::trace::relayed_line;
use crate::report::{Event, Observer};

const INFO: &str = "info ";
const WARNING: &str = "warning ";
const NOTICE: &str = "notice ";

/// An event as one line (without the newline); `None` for events a monitor has no reason to
/// send (progress), and for debug steps, which go as the step log's own lines.
fn encode(event: &Event) -> Option<String> {
    let (kind, text) = match event {
        Event::Info(text) => (INFO, text),
        Event::Warning(text) => (WARNING, text),
        Event::Notice(text) => (NOTICE, text),
        _ => return None,
    };
    Some(format!("{kind}{}", escape(text)))
}

/// The event of a line `encode` or the step log wrote; `None` for anything else.
fn decode(line: &str) -> Option<Event> {
    if let Some(step) = relayed_line(line) {
        return Some(Event::Debug(step));
    }
    let (make, text): (fn(String) -> Event, &str) = if let Some(text) = line.strip_prefix(INFO) {
        (Event::Info, text)
    } else if let Some(text) = line.strip_prefix(WARNING) {
        (Event::Warning, text)
    } else {
        (Event::Notice, line.strip_prefix(NOTICE)?)
    };
    Some(make(unescape(text)))
}

/// Messages may run over several lines (a hook's output); on the pipe each is one.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// The monitor's side: an observer writing each event to `fd`, which the monitor holds for
/// its whole life.
pub fn pipe_observer(fd: RawFd) -> Observer {
    Observer::new(move |event| {
        if let Some(line) = encode(event) {
            write_line(fd, &line);
        }
    })
}

fn write_line(fd: RawFd, line: &str) {
    let bytes = format!("{line}\n").into_bytes();
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        // SAFETY: writing a valid buffer to a descriptor the monitor holds open.
        let written = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if written < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {
            continue;
        }
        if written <= 0 {
            return;
        }
        rest = &rest[written as usize..];
    }
}

/// The caller's side: hand every event read from `pipe` to `observer`, until every writer
/// has closed it (the monitor has exited).
pub fn relay(pipe: OwnedFd, observer: &Observer) {
    for line in BufReader::new(std::fs::File::from(pipe)).lines() {
        let Ok(line) = line else { break };
        if let Some(event) = decode(&line) {
            observer.emit(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::trace::{Trace, now_ns};
    use std::os::fd::AsRawFd;
    use std::sync::{Arc, Mutex};

    #[test]
    fn events_and_steps_cross_the_pipe_as_they_were() {
        let (read, write) = rustix::pipe::pipe().unwrap();
        let sent = [
            Event::Notice("hostname set\nto ct1".into()),
            Event::Warning("WARN: a \\n is not a newline".into()),
            Event::Info("done\\".into()),
        ];
        let monitor = pipe_observer(write.as_raw_fd());
        Trace::to_report(write.as_raw_fd(), now_ns()).step("monitor: running");
        for event in &sent {
            monitor.emit(event.clone());
        }
        // Progress is not the monitor's to send.
        monitor.emit(Event::Progress { done: 1, total: 2 });
        drop(monitor);
        drop(write);
        let heard = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&heard);
        relay(
            read,
            &Observer::new(move |event| sink.lock().unwrap().push(event.clone())),
        );
        let heard = heard.lock().unwrap();
        assert_eq!(heard.len(), 4, "{heard:?}");
        match &heard[0] {
            Event::Debug(line) => assert!(
                line.starts_with("DEBUG ") && line.ends_with(" ms  monitor: running"),
                "{line}"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(heard[1..], sent);
    }

    #[test]
    fn lines_of_neither_kind_are_dropped() {
        assert_eq!(decode("ok"), None);
        assert_eq!(decode(""), None);
        assert_eq!(decode("warning x"), Some(Event::Warning("x".into())));
    }
}
