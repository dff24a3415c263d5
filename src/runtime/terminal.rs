//! The user's side of a container terminal (`pct enter`, `pct console`): the caller's
//! terminal in raw mode, bytes relayed both ways with a pty master, window-size changes passed
//! on, and LXC's escape sequence (`Ctrl+a q` by default) to leave a console.

use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Puts a terminal in raw mode and restores it when dropped.
pub struct RawMode {
    fd: i32,
    saved: libc::termios,
}

impl RawMode {
    /// Raw mode on `fd` when it is a terminal; `None` otherwise.
    pub fn enable(fd: BorrowedFd<'_>) -> io::Result<Option<RawMode>> {
        if !rustix::termios::isatty(fd) {
            return Ok(None);
        }
        let fd = fd.as_raw_fd();
        // SAFETY: termios calls on a terminal descriptor with a zeroed struct to fill.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut saved) != 0 {
                return Err(io::Error::last_os_error());
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            if libc::tcsetattr(fd, libc::TCSAFLUSH, &raw) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Some(RawMode { fd, saved }))
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restoring the attributes read in `enable` on the same descriptor.
        unsafe { libc::tcsetattr(self.fd, libc::TCSAFLUSH, &self.saved) };
    }
}

/// A `--escape` that is neither `^` and a letter nor a single character.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid escape sequence '{text}': expected '^' and a letter, e.g. '^b'")]
pub struct EscapeError {
    /// The text given.
    pub text: String,
}

/// Parse pct's `--escape`: `^a` style (Ctrl plus a letter) or a single character.
pub fn parse_escape(text: &str) -> Result<u8, EscapeError> {
    let bytes = text.as_bytes();
    match bytes {
        [b'^', letter] if letter.is_ascii_alphabetic() => {
            Ok(letter.to_ascii_lowercase() - b'a' + 1)
        }
        [single] => Ok(*single),
        _ => Err(EscapeError {
            text: text.to_string(),
        }),
    }
}

/// LXC's console banner for tty `index` and escape byte `escape`.
pub fn console_banner(index: usize, escape: u8) -> String {
    let letter = if escape < 0x20 {
        format!("Ctrl+{}", (escape + b'a' - 1) as char)
    } else {
        (escape as char).to_string()
    };
    format!(
        "\nConnected to tty {index}\nType <{letter} q> to exit the console, <{letter} {letter}> to enter {letter} itself\n\n"
    )
}

/// How a relay ended.
#[derive(Debug, PartialEq, Eq)]
pub enum RelayEnd {
    /// Every slave descriptor was closed (the shell exited).
    Hangup,
    /// The user typed the escape sequence.
    Escaped,
    /// Our input ended (console mode stops there).
    InputClosed,
}

/// Removes the escape sequence from typed input: `escape q` ends the session, `escape
/// escape` sends one escape byte.
#[derive(Debug, Default)]
struct EscapeFilter {
    escape: Option<u8>,
    pending: bool,
}

impl EscapeFilter {
    /// The bytes to forward, and whether the user asked to leave.
    fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let Some(escape) = self.escape else {
            return (input.to_vec(), false);
        };
        let mut out = Vec::with_capacity(input.len());
        for &byte in input {
            if self.pending {
                self.pending = false;
                match byte {
                    b'q' => return (out, true),
                    b if b == escape => out.push(escape),
                    other => {
                        out.push(escape);
                        out.push(other);
                    }
                }
            } else if byte == escape {
                self.pending = true;
            } else {
                out.push(byte);
            }
        }
        (out, false)
    }
}

fn copy_window_size(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    if let Ok(size) = rustix::termios::tcgetwinsize(from) {
        let _ = rustix::termios::tcsetwinsize(to, size);
    }
}

/// A signalfd for SIGWINCH, with the signal blocked on this thread so it arrives there;
/// dropping it gives the thread its signal mask back, so an interactive call leaves its
/// caller's mask as it found it.
struct WindowChanges {
    fd: OwnedFd,
    previous: libc::sigset_t,
}

impl WindowChanges {
    fn open() -> Option<WindowChanges> {
        // SAFETY: signal-mask and signalfd calls on local, initialised sets.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut previous: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGWINCH);
            if libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut previous) != 0 {
                return None;
            }
            let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
            if fd < 0 {
                libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
                return None;
            }
            Some(WindowChanges {
                fd: OwnedFd::from_raw_fd(fd),
                previous,
            })
        }
    }
}

impl Drop for WindowChanges {
    fn drop(&mut self) {
        // SAFETY: restores the mask this thread had when the relay began.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut()) };
    }
}

/// Relay between our stdin/stdout and `master` until the slave side hangs up, the escape
/// sequence is typed, or (when `stop_at_input_end`) our input ends.
pub fn relay(
    master: &OwnedFd,
    escape: Option<u8>,
    stop_at_input_end: bool,
) -> io::Result<RelayEnd> {
    let stdin = io::stdin();
    let stdin_fd = stdin.as_fd();
    let interactive = stdin.is_terminal();
    let winch = if interactive {
        WindowChanges::open()
    } else {
        None
    };
    if interactive {
        copy_window_size(stdin_fd, master.as_fd());
    }
    let mut filter = EscapeFilter {
        escape,
        pending: false,
    };
    let mut stdout = io::stdout().lock();
    let mut master_file = std::fs::File::from(master.try_clone()?);
    let mut input_open = true;
    let mut buf = [0u8; 8192];
    loop {
        let mut fds = vec![libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if input_open {
            fds.push(libc::pollfd {
                fd: stdin_fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        if let Some(winch) = &winch {
            fds.push(libc::pollfd {
                fd: winch.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: poll over the array built above.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        for entry in &fds {
            if entry.revents == 0 {
                continue;
            }
            if entry.fd == master.as_raw_fd() {
                match master_file.read(&mut buf) {
                    Ok(0) => return Ok(RelayEnd::Hangup),
                    Ok(n) => {
                        stdout.write_all(&buf[..n])?;
                        stdout.flush()?;
                    }
                    // EIO: the last slave descriptor closed.
                    Err(e) if e.raw_os_error() == Some(libc::EIO) => return Ok(RelayEnd::Hangup),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            } else if entry.fd == stdin_fd.as_raw_fd() {
                // SAFETY: read into our buffer from stdin.
                let n = unsafe { libc::read(entry.fd, buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    input_open = false;
                    if stop_at_input_end {
                        return Ok(RelayEnd::InputClosed);
                    }
                    continue;
                }
                let (forward, leave) = filter.feed(&buf[..n as usize]);
                master_file.write_all(&forward)?;
                if leave {
                    return Ok(RelayEnd::Escaped);
                }
            } else if let Some(winch) = &winch {
                let mut info = [0u8; 128];
                let _ = rustix::io::read(&winch.fd, &mut info);
                copy_window_size(stdin_fd, master.as_fd());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked_signals() -> String {
        std::fs::read_to_string("/proc/thread-self/status")
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("SigBlk:").map(|m| m.trim().to_string()))
            .unwrap()
    }

    #[test]
    fn window_changes_are_blocked_only_while_the_relay_lasts() {
        // A thread of its own: the harness's threads have their own masks.
        std::thread::spawn(|| {
            let before = blocked_signals();
            let changes = WindowChanges::open().expect("a SIGWINCH signalfd");
            let during = u64::from_str_radix(&blocked_signals(), 16).unwrap();
            assert_ne!(
                during & (1 << (libc::SIGWINCH - 1)),
                0,
                "SIGWINCH not blocked"
            );
            drop(changes);
            assert_eq!(
                blocked_signals(),
                before,
                "the thread's signal mask changed"
            );
        })
        .join()
        .unwrap();
    }

    #[test]
    fn escapes_parse_as_pct_writes_them() {
        assert_eq!(parse_escape("^a"), Ok(1));
        assert_eq!(parse_escape("^B"), Ok(2));
        assert_eq!(parse_escape("~"), Ok(b'~'));
        assert_eq!(
            parse_escape("^1").unwrap_err(),
            EscapeError { text: "^1".into() }
        );
        assert_eq!(
            parse_escape("abc").unwrap_err().to_string(),
            "invalid escape sequence 'abc': expected '^' and a letter, e.g. '^b'"
        );
        assert!(parse_escape("abc").is_err());
    }

    #[test]
    fn the_banner_names_the_escape_keys() {
        assert_eq!(
            console_banner(1, 1),
            "\nConnected to tty 1\nType <Ctrl+a q> to exit the console, <Ctrl+a Ctrl+a> to enter Ctrl+a itself\n\n"
        );
    }

    #[test]
    fn the_escape_filter_leaves_on_escape_q_and_passes_a_doubled_escape() {
        let mut filter = EscapeFilter {
            escape: Some(1),
            pending: false,
        };
        assert_eq!(filter.feed(b"ls\r"), (b"ls\r".to_vec(), false));
        assert_eq!(filter.feed(b"a\x01\x01b"), (b"a\x01b".to_vec(), false));
        // Split across reads.
        assert_eq!(filter.feed(b"x\x01"), (b"x".to_vec(), false));
        assert_eq!(filter.feed(b"z"), (b"\x01z".to_vec(), false));
        assert_eq!(filter.feed(b"echo\x01q ignored"), (b"echo".to_vec(), true));
        let mut plain = EscapeFilter::default();
        assert_eq!(plain.feed(b"\x01q"), (b"\x01q".to_vec(), false));
    }
}
