//! Linux capabilities by LXC's names (`sys_admin`, `mac_override`, ...): which ones a container
//! loses, and dropping them from the bounding set before init runs.

use std::io;

/// Every capability the kernel knows, by number, with the lower-case name `lxc.cap.drop` uses.
pub const CAPABILITIES: &[&str] = &[
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

/// What privileged containers lose (pve's LXC config for every distribution).
pub const PRIVILEGED_DROP: &[&str] = &[
    "mac_admin",
    "mac_override",
    "sys_time",
    "sys_module",
    "sys_rawio",
];

/// The number of a capability named as in `lxc.cap.drop` (`sys_admin`, `CAP_SYS_ADMIN`), or a
/// plain number.
pub fn capability_number(name: &str) -> Option<u32> {
    let lower = name.trim().to_ascii_lowercase();
    let bare = lower.strip_prefix("cap_").unwrap_or(&lower);
    if let Ok(number) = bare.parse::<u32>() {
        return ((number as usize) < CAPABILITIES.len()).then_some(number);
    }
    CAPABILITIES
        .iter()
        .position(|cap| *cap == bare)
        .map(|n| n as u32)
}

/// One capability, checked against the kernel's list when the plan is built. It travels (JSON
/// plan, saved state) as its `lxc.cap.drop` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Capability(u32);

impl Capability {
    /// A capability by its `lxc.cap.drop` name, `CAP_` name or number; `None` when unknown.
    pub fn parse(name: &str) -> Option<Capability> {
        capability_number(name).map(Capability)
    }

    /// The kernel's number for it.
    pub fn number(self) -> u32 {
        self.0
    }

    /// The lower-case name `lxc.cap.drop` uses (`sys_admin`).
    pub fn name(self) -> &'static str {
        CAPABILITIES[self.0 as usize]
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq<&str> for Capability {
    fn eq(&self, name: &&str) -> bool {
        self.name() == *name
    }
}

impl From<Capability> for String {
    fn from(cap: Capability) -> String {
        cap.name().to_string()
    }
}

/// A name that is no capability (`lxc.cap.drop`, `lxc.cap.keep`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown capability '{name}'")]
pub struct UnknownCapability {
    /// The name given.
    pub name: String,
}

impl TryFrom<String> for Capability {
    type Error = UnknownCapability;
    fn try_from(name: String) -> Result<Capability, UnknownCapability> {
        Capability::parse(&name).ok_or(UnknownCapability { name })
    }
}

/// The capabilities to remove from the bounding set: the privileged default, then
/// `lxc.cap.drop` values (space separated; an empty value clears the list so far, as in LXC),
/// or — when `lxc.cap.keep` is given — everything not kept. Unknown names are errors.
pub fn bounding_drop(
    unprivileged: bool,
    cap_drop: &[&str],
    cap_keep: &[&str],
) -> Result<Vec<Capability>, UnknownCapability> {
    let known = |name: &str| {
        Capability::parse(name).ok_or_else(|| UnknownCapability {
            name: name.to_string(),
        })
    };
    if !cap_keep.is_empty() {
        let mut keep = Vec::new();
        for value in cap_keep {
            for name in value.split_whitespace() {
                if name == "none" {
                    keep.clear();
                } else {
                    keep.push(known(name)?);
                }
            }
        }
        return Ok((0..CAPABILITIES.len() as u32)
            .map(Capability)
            .filter(|cap| !keep.contains(cap))
            .collect());
    }
    let mut drop: Vec<Capability> = if unprivileged {
        Vec::new()
    } else {
        PRIVILEGED_DROP
            .iter()
            .filter_map(|c| Capability::parse(c))
            .collect()
    };
    for value in cap_drop {
        if value.trim().is_empty() {
            drop.clear();
        }
        for name in value.split_whitespace() {
            let cap = known(name)?;
            if !drop.contains(&cap) {
                drop.push(cap);
            }
        }
    }
    Ok(drop)
}

/// Remove capabilities from this process's bounding set (before exec, so init and everything
/// it starts can never regain them). Capabilities newer than the running kernel are skipped.
pub fn drop_bounding(caps: &[Capability]) -> io::Result<()> {
    let last = last_capability();
    for cap in caps {
        let (number, name) = (cap.number(), cap.name());
        if number > last {
            continue;
        }
        // SAFETY: prctl with integer arguments only.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, number as libc::c_ulong, 0, 0, 0) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            return Err(io::Error::new(
                err.kind(),
                format!("failed to drop capability {name}: {err}"),
            ));
        }
    }
    Ok(())
}

/// Make `name` the only effective capability of this thread (it must be permitted); the
/// permitted set stays as it is.
pub fn only_effective(name: &str) -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let number = capability_number(name).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("no capability {name}"))
    })?;
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget/capset with a v3 header and the two data words it takes.
    unsafe {
        if libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        for (word, part) in data.iter_mut().enumerate() {
            part.effective = if number as usize / 32 == word {
                1 << (number % 32)
            } else {
                0
            };
        }
        if libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The highest capability number the running kernel knows.
pub fn last_capability() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(40)
}

/// The capabilities in a process's bounding set, from `/proc/<pid>/status`.
#[cfg(test)]
pub fn bounding_set_of(pid: u32) -> io::Result<Vec<String>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let hex = status
        .lines()
        .find_map(|line| line.strip_prefix("CapBnd:"))
        .ok_or_else(|| io::Error::other("no CapBnd in status"))?;
    let bits = u64::from_str_radix(hex.trim(), 16).map_err(io::Error::other)?;
    Ok(CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(n, _)| bits & (1 << n) != 0)
        .map(|(_, name)| name.to_string())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(capability_number("sys_admin"), Some(21));
        assert_eq!(capability_number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(capability_number("mac_admin"), Some(33));
        assert_eq!(capability_number("40"), Some(40));
        assert_eq!(capability_number("41"), None);
        assert_eq!(capability_number("sys_everything"), None);
    }

    #[test]
    fn privileged_containers_lose_pves_five() {
        // pve's list, spelled out: comparing with PRIVILEGED_DROP itself could not fail.
        let drop = bounding_drop(false, &[], &[]).unwrap();
        assert_eq!(
            drop,
            [
                "mac_admin",
                "mac_override",
                "sys_time",
                "sys_module",
                "sys_rawio"
            ]
        );
        assert!(bounding_drop(true, &[], &[]).unwrap().is_empty());
    }

    #[test]
    fn cap_drop_adds_and_an_empty_value_clears() {
        let drop = bounding_drop(true, &["sys_admin net_raw"], &[]).unwrap();
        assert_eq!(drop, ["sys_admin", "net_raw"]);
        let drop = bounding_drop(false, &["", "sys_boot"], &[]).unwrap();
        assert_eq!(drop, ["sys_boot"]);
        let error = bounding_drop(false, &["sys_frobnicate"], &[]).unwrap_err();
        assert_eq!(error.name, "sys_frobnicate");
        assert_eq!(error.to_string(), "unknown capability 'sys_frobnicate'");
    }

    #[test]
    fn a_capability_travels_as_its_name() {
        let cap = Capability::parse("CAP_SYS_ADMIN").unwrap();
        assert_eq!((cap.number(), cap.name()), (21, "sys_admin"));
        let json = serde_json::to_string(&cap).unwrap();
        assert_eq!(json, "\"sys_admin\"");
        assert_eq!(serde_json::from_str::<Capability>(&json).unwrap(), cap);
        assert!(serde_json::from_str::<Capability>("\"sys_everything\"").is_err());
    }

    #[test]
    fn cap_keep_drops_everything_else() {
        let drop = bounding_drop(false, &[], &["chown kill"]).unwrap();
        assert_eq!(drop.len(), CAPABILITIES.len() - 2);
        assert!(!drop.iter().any(|cap| *cap == "chown"));
        assert!(drop.iter().any(|cap| *cap == "sys_admin"));
    }

    #[test]
    fn one_capability_stays_effective_in_its_thread() {
        let field = |status: &str, name: &str| {
            let line = status.lines().find(|l| l.starts_with(name)).unwrap();
            u64::from_str_radix(line[name.len()..].trim(), 16).unwrap()
        };
        let mknod = 1 << capability_number("mknod").unwrap();
        let own = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        if field(&own, "CapPrm:") & mknod == 0 || field(&own, "CapEff:") == mknod {
            crate::skip::report("needs CAP_MKNOD and other capabilities to drop");
            return;
        }
        // Capabilities belong to a thread: this one's change ends with it.
        let effective = std::thread::spawn(move || {
            only_effective("mknod").unwrap();
            let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
            (field(&status, "CapEff:"), field(&status, "CapPrm:"))
        })
        .join()
        .unwrap();
        assert_eq!(effective.0, mknod);
        assert_ne!(effective.1, effective.0, "the permitted set stays");
        assert!(only_effective("no_such_cap").is_err());
    }

    /// The drop reports success, and reaches the highest capability the kernel knows
    /// (the newest, which an off-by-one would leave in place).
    #[test]
    fn dropping_succeeds_up_to_the_kernels_last_capability() {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        if !crate::skip::root_or_report() {
            return;
        }
        let newest_known = (last_capability() as usize).min(CAPABILITIES.len() - 1);
        let last = CAPABILITIES[newest_known].to_string();
        let names = [
            Capability::parse("sys_time").unwrap(),
            Capability::parse(&last).unwrap(),
        ];
        let (mut read_end, write_end) = std::io::pipe().unwrap();
        // SAFETY: the child drops capabilities, writes one byte and waits to be killed.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let ok = [u8::from(drop_bounding(&names).is_ok())];
            // SAFETY: a write to a pipe this process holds, then pause until killed.
            unsafe {
                libc::write(write_end.as_raw_fd(), ok.as_ptr().cast(), 1);
                libc::pause();
                libc::_exit(0);
            }
        }
        drop(write_end);
        let mut ok = [0u8];
        let reported = read_end.read_exact(&mut ok);
        let set = bounding_set_of(pid as u32);
        // SAFETY: the child is ours.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        reported.unwrap();
        assert_eq!(ok[0], 1, "drop_bounding reported a failure");
        let set = set.unwrap();
        assert!(!set.contains(&"sys_time".to_string()));
        assert!(!set.contains(&last), "{last}, the kernel's last, stays");
        assert!(set.contains(&"sys_admin".to_string()));
    }

    #[test]
    fn dropping_shows_in_the_bounding_set_of_a_child() {
        let names = [Capability::parse("sys_time").unwrap()];
        // The child says over a pipe that it has dropped: a byte read means done.
        let mut pipe = [0; 2];
        // SAFETY: pipe fills two descriptors.
        assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
        // SAFETY: the child only calls async-signal-safe functions before _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let ok = drop_bounding(&names).is_ok();
            // SAFETY: write, pause and _exit on descriptors the child owns.
            unsafe {
                if !ok {
                    libc::_exit(1);
                }
                libc::write(pipe[1], b"d".as_ptr().cast(), 1);
                libc::pause();
                libc::_exit(0);
            }
        }
        let mut done = [0u8; 1];
        // SAFETY: closing our copy of the write end, then a blocking read of one byte: it
        // returns 0 if the child exited without dropping.
        let read = unsafe {
            libc::close(pipe[1]);
            let read = libc::read(pipe[0], done.as_mut_ptr().cast(), 1);
            libc::close(pipe[0]);
            read
        };
        let set = (read == 1).then(|| bounding_set_of(pid as u32).unwrap());
        // SAFETY: killing and reaping the child forked above.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        let set = set.expect("the child failed to drop sys_time");
        assert!(!set.contains(&"sys_time".to_string()));
        assert!(set.contains(&"sys_admin".to_string()));
    }
}
