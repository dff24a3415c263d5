//! Signal names as LXC's `lxc.signal.*` keys take them: `SIGPWR`, `PWR`, `SIGRTMIN+3`, `9`.

/// The first real-time signal of the C library (glibc reserves the kernel's first two).
pub fn sigrtmin() -> i32 {
    libc::SIGRTMIN()
}

pub fn sigrtmax() -> i32 {
    libc::SIGRTMAX()
}

/// Signal the process a pidfd names. Any signal number goes (rustix's `Signal` has no
/// real-time ones, and systemd halts on SIGRTMIN+3); a pidfd never reaches a recycled pid.
pub fn send_through_pidfd(pidfd: std::os::fd::BorrowedFd<'_>, signal: i32) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: pidfd_send_signal with a null siginfo on a borrowed, open descriptor.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// A signal number from a name or number; `None` when unknown or out of range.
pub fn parse_signal(text: &str) -> Option<i32> {
    let text = text.trim();
    if let Ok(number) = text.parse::<i32>() {
        return (1..=sigrtmax()).contains(&number).then_some(number);
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(offset) = name.strip_prefix("RTMIN") {
        let signal = sigrtmin() + parse_offset(offset)?;
        return (signal <= sigrtmax()).then_some(signal);
    }
    if let Some(offset) = name.strip_prefix("RTMAX") {
        let signal = sigrtmax() + parse_offset(offset)?;
        return (signal >= sigrtmin()).then_some(signal);
    }
    NAMES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// A signal as an `lxc.signal.*` key names it, checked when the plan is built. It travels
/// (JSON plan, saved state) as its name, `SIGPWR` or `SIGRTMIN+3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Signal(i32);

impl Signal {
    /// A signal from a name or number (`SIGPWR`, `pwr`, `RTMIN+3`, `9`); `None` when unknown.
    pub fn parse(text: &str) -> Option<Signal> {
        parse_signal(text).map(Signal)
    }

    /// The signal number to send.
    pub fn number(self) -> i32 {
        self.0
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&signal_name(self.0))
    }
}

impl From<Signal> for String {
    fn from(signal: Signal) -> String {
        signal.to_string()
    }
}

/// A name or number that is no signal LXC's keys accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signal '{name}'")]
pub struct UnknownSignal {
    /// The text given.
    pub name: String,
}

impl TryFrom<String> for Signal {
    type Error = UnknownSignal;
    fn try_from(name: String) -> Result<Signal, UnknownSignal> {
        Signal::parse(&name).ok_or(UnknownSignal { name })
    }
}

/// The name LXC's keys would use for `signal`: `SIGPWR`, `SIGRTMIN+3`, or the number.
pub fn signal_name(signal: i32) -> String {
    if let Some((name, _)) = NAMES.iter().find(|(_, s)| *s == signal) {
        return format!("SIG{name}");
    }
    if (sigrtmin()..=sigrtmax()).contains(&signal) {
        return format!("SIGRTMIN+{}", signal - sigrtmin());
    }
    signal.to_string()
}

/// Whether `pid` has a handler for `signal` (its `SigCgt` mask in /proc). A container's init
/// drops signals it has no handler for, even from the host: a halt signal sent before init
/// has set up its handlers is lost, not queued.
pub fn catches(pid: u32, signal: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| caught_mask(&status))
        .is_some_and(|mask| (1..=64).contains(&signal) && mask & (1 << (signal - 1)) != 0)
}

fn caught_mask(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("SigCgt:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

fn parse_offset(text: &str) -> Option<i32> {
    if text.is_empty() {
        Some(0)
    } else {
        text.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn caught_signals_come_from_the_status_mask() {
        let status = "Name:\tinit\nSigIgn:\t0000000000000001\nSigCgt:\t0000001020014a07\n";
        let mask = super::caught_mask(status).unwrap();
        // HUP, INT, QUIT, USR1, USR2, TERM, CHLD, PWR and SIGRTMIN+3 (37 under glibc).
        for signal in [1, 2, 3, 10, 12, 15, 17, 30, 37] {
            assert_ne!(mask & (1 << (signal - 1)), 0, "signal {signal}");
        }
        assert_eq!(mask & (1 << (libc::SIGKILL - 1)), 0);
        assert_eq!(super::caught_mask("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_is_seen_catching_what_it_catches() {
        // The test harness catches nothing of SIGPWR by default; SIGRTMAX is ours to take.
        let me = std::process::id();
        let signal = super::sigrtmax();
        extern "C" fn ignore(_: i32) {}
        assert!(!super::catches(me, signal));
        // SAFETY: installing a no-op handler for a real-time signal nobody else uses.
        unsafe { libc::signal(signal, ignore as *const () as libc::sighandler_t) };
        assert!(super::catches(me, signal));
        // SAFETY: restoring the default disposition.
        unsafe { libc::signal(signal, libc::SIG_DFL) };
    }

    use super::*;

    #[test]
    fn names_numbers_and_realtime_offsets() {
        assert_eq!(parse_signal("SIGPWR"), Some(libc::SIGPWR));
        assert_eq!(parse_signal("pwr"), Some(libc::SIGPWR));
        assert_eq!(parse_signal("9"), Some(9));
        assert_eq!(parse_signal("SIGRTMIN+3"), Some(libc::SIGRTMIN() + 3));
        assert_eq!(parse_signal("RTMAX-1"), Some(libc::SIGRTMAX() - 1));
        assert_eq!(parse_signal("SIGNOPE"), None);
        assert_eq!(parse_signal("0"), None);
        assert_eq!(parse_signal("SIGRTMIN+99"), None);
    }

    #[test]
    fn a_signal_travels_as_its_name() {
        let signal = Signal::parse("rtmin+3").unwrap();
        assert_eq!(signal.number(), libc::SIGRTMIN() + 3);
        let json = serde_json::to_string(&signal).unwrap();
        assert_eq!(json, "\"SIGRTMIN+3\"");
        assert_eq!(serde_json::from_str::<Signal>(&json).unwrap(), signal);
        let error = serde_json::from_str::<Signal>("\"SIGNOPE\"").unwrap_err();
        assert!(
            error.to_string().contains("unknown signal 'SIGNOPE'"),
            "{error}"
        );
        assert_eq!(
            Signal::try_from("SIGNOPE".to_string()),
            Err(UnknownSignal {
                name: "SIGNOPE".into()
            })
        );
    }

    #[test]
    fn names_round_trip() {
        for name in ["SIGPWR", "SIGKILL", "SIGRTMIN+3", "SIGRTMIN+0"] {
            assert_eq!(signal_name(parse_signal(name).unwrap()), name);
        }
        assert_eq!(signal_name(0), "0");
    }
}
