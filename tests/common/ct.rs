//! A running container as the integration tests drive it: a guard that stops it and removes
//! its cgroups however the test ends, host-side views of it, and a `pct` session on a
//! pseudo-terminal, as a user at a terminal drives `pct console` and `pct enter`.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{TestRoot, monitor_pids};

pub fn cgroup2_root() -> Option<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
    text.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split(' ').next()? != "cgroup2" {
            return None;
        }
        Some(PathBuf::from(left.split(' ').nth(4)?))
    })
}

pub fn container_cgroup(vmid: u32) -> Option<PathBuf> {
    cgroup2_root().map(|root| root.join(format!("lxc/{vmid}")))
}

/// Stops the container and removes its cgroup when the test ends, however it ends.
pub struct Ct<'a> {
    pub root: &'a TestRoot,
    pub vmid: u32,
}

impl Ct<'_> {
    pub fn id(&self) -> String {
        self.vmid.to_string()
    }

    pub fn pct(&self, args: &[&str]) -> (i32, String, String) {
        self.root.pct(args)
    }

    pub fn pct_ok(&self, args: &[&str]) -> String {
        self.root.pct_ok(args)
    }

    pub fn status(&self) -> String {
        self.pct_ok(&["status", &self.id()]).trim().to_string()
    }

    pub fn init_pid(&self) -> u32 {
        let verbose = self.pct_ok(&["status", &self.id(), "--verbose"]);
        verbose
            .lines()
            .find_map(|l| l.strip_prefix("pid: "))
            .unwrap_or_else(|| panic!("no pid in:\n{verbose}"))
            .parse()
            .unwrap()
    }

    pub fn exec(&self, script: &str) -> (i32, String, String) {
        self.pct(&["exec", &self.id(), "--", "sh", "-c", script])
    }

    pub fn exec_ok(&self, script: &str) -> String {
        let (code, out, err) = self.exec(script);
        assert_eq!(code, 0, "exec {script:?}: {err}");
        out
    }

    /// Runs `script` until it prints `wanted`: for what the guest's own boot scripts do
    /// after `pct start` has returned.
    pub fn wait_for_output(&self, script: &str, wanted: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            let (_, out, _) = self.exec(script);
            if out == wanted {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "{script:?} printed {out:?}, never {wanted:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_for_status(&self, wanted: &str, timeout: Duration) {
        let start = Instant::now();
        while self.status() != format!("status: {wanted}") {
            assert!(
                start.elapsed() < timeout,
                "CT {} never became {wanted}",
                self.vmid
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Nothing of a stopped container may remain: no state, cgroup, monitor or lock.
    pub fn assert_nothing_left(&self) {
        assert_eq!(self.status(), "status: stopped");
        let state = self.root.join(&format!("run/corral/{}", self.vmid));
        assert!(!state.exists(), "state dir left: {}", state.display());
        if let Some(cgroup) = container_cgroup(self.vmid) {
            assert!(!cgroup.exists(), "cgroup left: {}", cgroup.display());
        }
        // A monitor that has reported its end may still be on its way out of the kernel.
        let since = Instant::now();
        while !monitor_pids(self.vmid).is_empty() && since.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let left: Vec<String> = monitor_pids(self.vmid)
            .iter()
            .map(|pid| {
                let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                format!(
                    "{pid}: {}",
                    status.lines().take(3).collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        assert_eq!(left, Vec::<String>::new(), "monitor left");
        if let Some(root) = cgroup2_root() {
            let monitor_cgroup = root.join(format!("lxc.monitor/{}", self.vmid));
            assert!(!monitor_cgroup.exists(), "monitor cgroup left");
        }
        let config = self.pct_ok(&["config", &self.id()]);
        assert!(!config.contains("\nlock:"), "lock left:\n{config}");
    }
}

impl Drop for Ct<'_> {
    fn drop(&mut self) {
        force_cleanup(self.root, self.vmid);
    }
}

/// Whatever state a test left container `vmid` in: stop it, kill its monitor, remove its
/// cgroups. For guards, so a failing test leaves nothing running.
pub fn force_cleanup(root: &TestRoot, vmid: u32) {
    let _ = root.pct(&["stop", &vmid.to_string(), "--skiplock"]);
    for pid in monitor_pids(vmid) {
        // SAFETY: signalling a process by pid.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    if let Some(cgroup) = container_cgroup(vmid)
        && cgroup.exists()
    {
        let _ = fs::write(cgroup.join("cgroup.kill"), "1");
        let since = Instant::now();
        while fs::read_to_string(cgroup.join("cgroup.events"))
            .is_ok_and(|events| events.contains("populated 1"))
            && since.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = fs::remove_dir(cgroup.join("ns"));
        let _ = fs::remove_dir(&cgroup);
    }
    if let Some(cgroups) = cgroup2_root() {
        let monitor = cgroups.join(format!("lxc.monitor/{vmid}"));
        let since = Instant::now();
        while fs::remove_dir(&monitor).is_err()
            && monitor.exists()
            && since.elapsed() < Duration::from_secs(2)
        {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Wait until `done`, failing the test with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The rootfs directory of a container created with `--rootfs local:0`.
pub fn rootfs(root: &TestRoot, vmid: u32) -> PathBuf {
    root.join(&format!(
        "var/lib/vz/images/{vmid}/subvol-{vmid}-disk-0.subvol"
    ))
}

/// A raw config line for an init that runs `action` when the halt signal (SIGPWR) reaches
/// it (`touch /halted; exit 0` records a clean halt; an empty action ignores the signal).
pub fn trap_init(action: &str) -> String {
    format!("lxc.init.cmd: /bin/sh -c \"trap '{action}' PWR; while :; do sleep 1 & wait; done\"\n")
}

fn signal_mask(pid: u32, field: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .unwrap_or(0)
}

/// Whether process `pid` has a handler for `signal`.
pub fn signal_caught(pid: u32, signal: i32) -> bool {
    signal_mask(pid, "SigCgt:") & (1 << (signal - 1)) != 0
}

/// Whether process `pid` ignores `signal`.
pub fn signal_ignored(pid: u32, signal: i32) -> bool {
    signal_mask(pid, "SigIgn:") & (1 << (signal - 1)) != 0
}

pub fn create(root: &TestRoot, vmid: u32, template: &str, unprivileged: bool, extra: &[&str]) {
    let id = vmid.to_string();
    let mut args = vec![
        "create",
        &id,
        template,
        "--rootfs",
        "local:0",
        "--unprivileged",
        if unprivileged { "1" } else { "0" },
        "--hostname",
        "ct-test",
    ];
    args.extend_from_slice(extra);
    root.pct_ok(&args);
}

pub struct PtySession {
    master: std::fs::File,
    child: std::process::Child,
    output: Arc<Mutex<Vec<u8>>>,
}

impl PtySession {
    pub fn spawn(root: &TestRoot, args: &[&str]) -> PtySession {
        let (mut master, mut slave) = (0, 0);
        let size = libc::winsize {
            ws_row: 40,
            ws_col: 100,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty fills two descriptors.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(rc, 0);
        // SAFETY: both descriptors were just opened and are ours.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let mut command = Command::new(super::pct_binary());
        command
            .args(args)
            .env("CORRAL_ROOT", root.path())
            .env("TERM", "dumb")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("spawn pct on a pty");
        let master = std::fs::File::from(master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        PtySession {
            master,
            child,
            output,
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    pub fn expect(&self, needle: &str) {
        let start = Instant::now();
        while !self.text().contains(needle) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "never saw {needle:?} in:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
    }

    /// Change the terminal's size, as a user resizing the window does: the kernel sends
    /// SIGWINCH to pct.
    pub fn resize(&self, rows: u16, cols: u16) {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
        let rc = unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&self.master),
                libc::TIOCSWINSZ,
                &size,
            )
        };
        assert_eq!(rc, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
    }

    pub fn wait(mut self) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                panic!("pct did not exit; output:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
