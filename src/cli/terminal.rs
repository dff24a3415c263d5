//! Reading a password from the controlling terminal with echo off, as pct prompts for
//! `--password` without a value.

use std::io::{BufRead, BufReader, Write};

use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};

use super::Failure;

/// Restores the terminal's modes however reading ends.
struct EchoOff<'a> {
    tty: &'a std::fs::File,
    saved: rustix::termios::Termios,
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        let _ = tcsetattr(self.tty, OptionalActions::Now, &self.saved);
    }
}

/// Prompt on /dev/tty and read one line without echoing it.
pub(super) fn read_password(prompt: &str) -> Result<String, Failure> {
    let unable = |e: &dyn std::fmt::Display| Failure::PasswordUnreadable(e.to_string());
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| unable(&e))?;
    let saved = tcgetattr(&tty).map_err(|e| unable(&e))?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&tty, OptionalActions::Now, &quiet).map_err(|e| unable(&e))?;
    let guard = EchoOff { tty: &tty, saved };
    (&tty)
        .write_all(prompt.as_bytes())
        .map_err(|e| unable(&e))?;
    let mut line = String::new();
    BufReader::new(&tty)
        .read_line(&mut line)
        .map_err(|e| unable(&e))?;
    drop(guard);
    let _ = (&tty).write_all(b"\n");
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
