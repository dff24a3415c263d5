//! Signal names as LXC's `lxc.signal.*` keys take them: `SIGPWR`, `PWR`, `SIGRTMIN+3`, `9`.

/// The first real-time signal of the C library (glibc reserves the kernel's first two).
pub fn sigrtmin() -> i32 {
    libc::SIGRTMIN()
}

pub fn sigrtmax() -> i32 {
    libc::SIGRTMAX()
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

fn parse_offset(text: &str) -> Option<i32> {
    if text.is_empty() {
        Some(0)
    } else {
        text.parse().ok()
    }
}

#[cfg(test)]
mod tests {
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
    fn names_round_trip() {
        for name in ["SIGPWR", "SIGKILL", "SIGRTMIN+3", "SIGRTMIN+0"] {
            assert_eq!(signal_name(parse_signal(name).unwrap()), name);
        }
        assert_eq!(signal_name(0), "0");
    }
}
