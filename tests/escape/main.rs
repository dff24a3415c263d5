//! The escape suite: ways out of a container, tried from inside privileged and unprivileged
//! busybox containers by a static probe (tests/escape/probe.rs), and from the host side with
//! hostile templates and mount points. Every attempt asserts the specific denial — the
//! errno, or the effect (nothing read, nothing changed) — in a form that tells the
//! protection from its absence, and positive controls run the same probe where the
//! protection is off (on the host, or with raw config turning it off) to show it sees the
//! escape then.
//!
//! Privileged containers are root on the host wherever no namespace stands between: on a
//! kernel without AppArmor, corral's masks and read-only mounts can be unmounted or
//! remounted by them. Those attempts run only where AppArmor is enabled (the VM rig, which
//! sets CORRAL_TEST_REQUIRE_APPARMOR); elsewhere each is skipped with the reason, as are
//! attempts on paths this kernel lacks. What was checked and skipped goes to a summary file
//! (see `summary_dir`) that scripts/test and the rig print. Runs as root; CTIDs 99xx.

#[path = "../common/mod.rs"]
mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Entry, TestRoot, busybox_template, make_template};
use corral::runtime::plan::MASKED_PATHS;

/// The probe, built once per source with the host's rustc as one static executable, or
/// the one in `CORRAL_TEST_PROBE` (the VM rig builds it outside).
fn probe_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CORRAL_TEST_PROBE") {
        return PathBuf::from(path);
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/escape/probe.rs");
    let text = fs::read(&source).unwrap();
    let hash = text.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("escape-probe-{hash:016x}"));
    let binary = dir.join("probe");
    fs::create_dir_all(&dir).unwrap();
    let lock = fs::File::create(dir.join(".lock")).unwrap();
    // SAFETY: flock on a descriptor we own; released when `lock` closes.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    if !binary.exists() {
        let output = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
            .args([
                "--edition",
                "2021",
                "-O",
                "-C",
                "target-feature=+crt-static",
                "-o",
            ])
            .arg(dir.join("probe.tmp"))
            .arg(&source)
            .output()
            .expect("run rustc");
        assert!(
            output.status.success(),
            "building the probe failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        fs::rename(dir.join("probe.tmp"), &binary).unwrap();
    }
    binary
}

/// Whether AppArmor is on. Where `CORRAL_TEST_REQUIRE_APPARMOR` is set (the VM rig), its
/// absence fails the test instead of turning attempts into skips.
fn apparmor_enabled() -> bool {
    let enabled = fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.starts_with('Y'));
    assert!(
        enabled || std::env::var_os("CORRAL_TEST_REQUIRE_APPARMOR").is_none(),
        "CORRAL_TEST_REQUIRE_APPARMOR is set, but AppArmor is not enabled"
    );
    enabled
}

/// Where the suite writes what it checked and skipped: cargo shows nothing a passing test
/// prints, so scripts/test and the VM rig print these files after the run.
fn summary_dir() -> PathBuf {
    std::env::var_os("CORRAL_ESCAPE_SUMMARY_DIR").map_or_else(
        || Path::new(env!("CARGO_TARGET_TMPDIR")).join("escape-summary"),
        PathBuf::from,
    )
}

fn write_summary(name: &str, text: &str) {
    let dir = summary_dir();
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(format!("{name}.txt")), text).unwrap();
}

/// What an attempt must come to.
#[derive(Debug, Clone)]
enum Expect {
    /// The kernel's answer: this errno (at any step).
    Errno(i32),
    /// This errno at this step of the attempt (`open`, `mount`, `write`, ...).
    ErrnoAt(i32, &'static str),
    /// Success with exactly this detail (a positive control, or an effect: `0` bytes read).
    Ok(String),
    /// Either of these: under AppArmor, whether the profile or the kernel refuses first
    /// depends on the rule set, and both are denials.
    AnyOf(Vec<Expect>),
    /// Not checked here, and why.
    Skip(String),
}

impl Expect {
    fn check(&self, line: &str) -> Result<(), String> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let matches = match (self, fields.as_slice()) {
            (Expect::Errno(want), ["errno", got, ..]) => got.parse() == Ok(*want),
            (Expect::ErrnoAt(want, step), ["errno", got, at]) => {
                got.parse() == Ok(*want) && at == step
            }
            (Expect::Ok(detail), ["ok", rest @ ..]) => rest.join(" ") == *detail,
            (Expect::AnyOf(choices), _) => choices.iter().any(|e| e.check(line).is_ok()),
            (Expect::Skip(_), _) => true,
            _ => false,
        };
        if matches {
            Ok(())
        } else {
            Err(format!("expected {self:?}, got '{line}'"))
        }
    }
}

fn errno(n: i32) -> Expect {
    Expect::Errno(n)
}

fn at(n: i32, step: &'static str) -> Expect {
    Expect::ErrnoAt(n, step)
}

fn ok(detail: &str) -> Expect {
    Expect::Ok(detail.to_string())
}

/// One way out: what the probe runs, and what privileged and unprivileged containers
/// must answer.
struct Attempt {
    what: String,
    probe: Vec<String>,
    privileged: Expect,
    unprivileged: Expect,
}

fn attempt(what: &str, probe: &[&str], privileged: Expect, unprivileged: Expect) -> Attempt {
    // An attempt on a kernel interface this kernel lacks has nothing to try: each mode
    // that would check it reports it skipped, naming the path (and the container must
    // not have it either: the run asserts ENOENT for these).
    let missing = probe.iter().find(|arg| {
        (arg.starts_with("/proc/") || arg.starts_with("/sys/")) && !Path::new(arg).exists()
    });
    let absent = |expect: Expect| match (missing, expect) {
        (Some(path), _) => Expect::Skip(format!("{ABSENT}: {path}")),
        (None, expect) => expect,
    };
    Attempt {
        what: what.to_string(),
        probe: probe.iter().map(|s| s.to_string()).collect(),
        privileged: absent(privileged),
        unprivileged: absent(unprivileged),
    }
}

const ABSENT: &str = "not in this kernel";

/// Facts about the host the attempts aim at.
struct Target {
    /// The monitor's pid on the host.
    monitor_pid: u32,
    /// The host's root file system device, to make and open as a node.
    disk: (u32, u32),
    /// A block device the host's root can open, for the device filter to keep closed.
    block: (u32, u32),
    /// A file only the host has.
    marker: PathBuf,
    /// The argument that marks the cgroup climber's holder among the host's processes.
    climb_token: String,
}

const NEEDS_LSM: &str =
    "AppArmor is not enabled here: a privileged root can undo mounts, only the profile stops this";

/// A privileged expectation that holds only under AppArmor.
fn with_lsm(expect: Expect) -> Expect {
    if apparmor_enabled() {
        expect
    } else {
        Expect::Skip(NEEDS_LSM.into())
    }
}

/// AppArmor's answer where it is on (it refuses before the kernel's own checks), else
/// the kernel's.
fn lsm_or(under_apparmor: Expect, without: Expect) -> Expect {
    if apparmor_enabled() {
        under_apparmor
    } else {
        without
    }
}

/// An unprivileged mount attempt the kernel refuses (`without`), which AppArmor may refuse
/// before it.
fn kernel_or_lsm(without: Expect) -> Expect {
    lsm_or(
        Expect::AnyOf(vec![
            Expect::ErrnoAt(libc::EACCES, "mount"),
            without.clone(),
        ]),
        without,
    )
}

fn attempts(target: &Target) -> Vec<Attempt> {
    let (eperm, eacces, erofs, esrch, enosys) = (
        libc::EPERM,
        libc::EACCES,
        libc::EROFS,
        libc::ESRCH,
        libc::ENOSYS,
    );
    let monitor = target.monitor_pid.to_string();
    let (major, minor) = (target.disk.0.to_string(), target.disk.1.to_string());
    let (block_major, block_minor) = (target.block.0.to_string(), target.block.1.to_string());
    let marker = target.marker.to_str().unwrap();
    // Kernels without CONFIG_X86_IOPL_IOPERM have no port access to refuse.
    // SAFETY: ioperm turning access off changes nothing.
    let port_io = if unsafe { libc::syscall(libc::SYS_ioperm, 0x80, 1, 0) } < 0
        && std::io::Error::last_os_error().raw_os_error() == Some(enosys)
    {
        enosys
    } else {
        eperm
    };
    let dmesg_restricted =
        fs::read_to_string("/proc/sys/kernel/dmesg_restrict").is_ok_and(|v| v.trim() == "1");
    // Under AppArmor a denied mount fails with EACCES; the profile also refuses writes to
    // the host's sysctls, so the second step of an undo fails there too.
    let lsm_mount = with_lsm(at(eacces, "mount"));
    let mut list = vec![
        // Kernel interfaces in /proc and /sys.
        attempt(
            "sysrq-trigger",
            &["write", "/proc/sysrq-trigger", "h"],
            at(erofs, "open"),
            at(eacces, "open"),
        ),
        attempt(
            "sysctl kernel.sysrq",
            &["write", "/proc/sys/kernel/sysrq", "-"],
            at(erofs, "open"),
            at(eacces, "open"),
        ),
        attempt(
            "sysctl kernel.core_pattern",
            &["write", "/proc/sys/kernel/core_pattern", "-"],
            at(erofs, "open"),
            at(eacces, "open"),
        ),
        attempt(
            "sysctl kernel.modprobe",
            &["write", "/proc/sys/kernel/modprobe", "-"],
            at(erofs, "open"),
            at(eacces, "open"),
        ),
        attempt(
            "sysctl vm.overcommit_memory",
            &["write", "/proc/sys/vm/overcommit_memory", "-"],
            at(erofs, "open"),
            at(eacces, "open"),
        ),
        attempt(
            "sysfs uevent_helper",
            &["write", "/sys/kernel/uevent_helper", "-"],
            at(erofs, "open"),
            at(eacces, "open"),
        ),
        attempt(
            "sysfs ksm/run",
            &["write", "/sys/kernel/mm/ksm/run", "-"],
            at(erofs, "open"),
            at(eacces, "open"),
        ),
        attempt(
            "sysfs power/state",
            &["write", "/sys/power/state", "-"],
            at(erofs, "open"),
            at(eacces, "open"),
        ),
        // The profile denies kcore outright; without it, the mask reads as empty.
        attempt(
            "/proc/kcore",
            &["read", "/proc/kcore"],
            lsm_or(at(eacces, "open"), ok("0 null")),
            lsm_or(at(eacces, "open"), ok("0 null")),
        ),
        // A masked file is the null device: empty, and seen to be the mask (an unprivileged
        // reader may find the real /proc/keys empty too).
        attempt(
            "/proc/kallsyms",
            &["read", "/proc/kallsyms"],
            ok("0 null"),
            ok("0 null"),
        ),
        attempt(
            "/proc/keys",
            &["read", "/proc/keys"],
            ok("0 null"),
            ok("0 null"),
        ),
        attempt(
            "/proc/timer_list",
            &["read", "/proc/timer_list"],
            ok("0 null"),
            ok("0 null"),
        ),
        attempt(
            "/proc/kcore written",
            &["write", "/proc/kcore", "x"],
            lsm_or(at(eacces, "open"), at(erofs, "open")),
            lsm_or(at(eacces, "open"), at(erofs, "open")),
        ),
        // A masked directory is an empty tmpfs (a fresh sysfs shows an empty
        // /sys/kernel/security too, so the file system tells them apart).
        attempt(
            "/sys/firmware",
            &["list", "/sys/firmware"],
            ok("0 tmpfs"),
            ok("0 tmpfs"),
        ),
        attempt(
            "/sys/kernel/security",
            &["list", "/sys/kernel/security"],
            ok("0 tmpfs"),
            ok("0 tmpfs"),
        ),
        attempt(
            "/proc/irq",
            &["write", "/proc/irq/default_smp_affinity", "-"],
            at(erofs, "open"),
            at(eacces, "open"),
        ),
        // Positive control: the network namespace's own sysctls stay writable.
        attempt(
            "control: net sysctl",
            &["write", "/proc/sys/net/ipv4/ip_forward", "-"],
            ok(""),
            ok(""),
        ),
        // Syscalls seccomp, the bounding set or the user namespace refuse.
        attempt("init_module", &["init_module"], errno(eperm), errno(eperm)),
        attempt(
            "finit_module",
            &["finit_module"],
            errno(eperm),
            errno(eperm),
        ),
        attempt(
            "delete_module",
            &["delete_module"],
            errno(eperm),
            errno(eperm),
        ),
        attempt("kexec_load", &["kexec_load"], errno(eperm), errno(eperm)),
        attempt(
            "kexec_file_load",
            &["kexec_file_load"],
            errno(eperm),
            errno(eperm),
        ),
        attempt(
            "open_by_handle_at",
            &["open_by_handle_at"],
            errno(eperm),
            errno(eperm),
        ),
        attempt("keyctl", &["keyctl"], errno(enosys), errno(enosys)),
        attempt("add_key", &["add_key"], errno(enosys), errno(enosys)),
        attempt(
            "request_key",
            &["request_key"],
            errno(enosys),
            errno(enosys),
        ),
        attempt(
            "AF_ALG socket",
            &["af_alg"],
            errno(libc::EAFNOSUPPORT),
            errno(libc::EAFNOSUPPORT),
        ),
        attempt("bpf", &["bpf"], errno(eperm), errno(eperm)),
        attempt(
            "syslog",
            &["syslog"],
            errno(eperm),
            if dmesg_restricted {
                errno(eperm)
            } else {
                Expect::Skip("dmesg_restrict is 0 on this host: the log is everyone's".into())
            },
        ),
        attempt("swapoff", &["swapoff"], errno(eperm), errno(eperm)),
        attempt("swapon", &["swapon"], errno(eperm), errno(eperm)),
        attempt("iopl", &["iopl"], errno(port_io), errno(port_io)),
        attempt("ioperm", &["ioperm"], errno(port_io), errno(port_io)),
        attempt(
            "settimeofday",
            &["settimeofday"],
            at(eperm, "settimeofday"),
            at(eperm, "settimeofday"),
        ),
        attempt(
            "clock_settime",
            &["clock_settime"],
            at(eperm, "clock_settime"),
            at(eperm, "clock_settime"),
        ),
        attempt(
            "umount -f",
            &["umount_force", "/proc"],
            errno(eacces),
            errno(eacces),
        ),
        // Host processes.
        attempt(
            "ptrace a host pid",
            &["ptrace", &monitor],
            errno(esrch),
            errno(esrch),
        ),
        attempt(
            "signal a host pid",
            &["kill", &monitor],
            errno(esrch),
            errno(esrch),
        ),
        attempt(
            "pidfd of a host pid",
            &["pidfd_open", &monitor],
            errno(esrch),
            errno(esrch),
        ),
        attempt(
            "memory of a host pid",
            &["process_vm_readv", &monitor],
            errno(esrch),
            errno(esrch),
        ),
        attempt(
            "/proc of a host pid",
            &["exists", &format!("/proc/{monitor}")],
            ok("false"),
            ok("false"),
        ),
        // Device nodes: an unprivileged root cannot make them, a privileged one cannot
        // open what the device filter does not list.
        attempt(
            "mknod+open host block device",
            &["mknod_open", "/tmp/disk", "b", &block_major, &block_minor],
            at(eperm, "open"),
            at(eperm, "mknod"),
        ),
        // Not /dev/mem: opening it needs CAP_SYS_RAWIO, which the bounding set drops
        // anyway, so it would be refused with or without the device filter.
        attempt(
            "mknod+open loop-control",
            &["mknod_open", "/tmp/loop-control", "c", "10", "237"],
            at(eperm, "open"),
            at(eperm, "mknod"),
        ),
        attempt(
            "mknod+open /dev/kmsg",
            &["mknod_open", "/tmp/kmsg", "c", "1", "11"],
            at(eperm, "open"),
            at(eperm, "mknod"),
        ),
        attempt(
            "mknod+open tty0",
            &["mknod_open", "/tmp/tty0", "c", "4", "0"],
            at(eperm, "open"),
            at(eperm, "mknod"),
        ),
        // The host's root file system is mounted already, so the kernel hands out its
        // superblock without opening the device: the device filter never sees this one.
        attempt(
            "mount host disk",
            &["mknod_mount", "/tmp/disk2", &major, &minor, "ext4"],
            lsm_mount.clone(),
            at(eperm, "mknod"),
        ),
        // Undoing the masks and read-only mounts.
        attempt(
            "remount /proc/sys rw",
            &[
                "remount_write",
                "/proc/sys",
                "/proc/sys/kernel/core_pattern",
            ],
            lsm_mount.clone(),
            kernel_or_lsm(at(eacces, "open")),
        ),
        attempt(
            "unmount /proc/sys",
            &["umount_write", "/proc/sys", "/proc/sys/kernel/core_pattern"],
            with_lsm(at(eacces, "open")),
            at(eacces, "open"),
        ),
        attempt(
            "unmount the kcore mask",
            &["umount_read", "/proc/kcore", "/proc/kcore"],
            lsm_or(at(eacces, "open"), at(eperm, "open")),
            lsm_or(at(eacces, "open"), at(eperm, "open")),
        ),
        attempt(
            "remount /sys rw",
            &["remount_write", "/sys", "/sys/kernel/mm/ksm/run"],
            lsm_mount.clone(),
            kernel_or_lsm(at(eacces, "open")),
        ),
        // The kernel lets a user namespace mount proc and sysfs again (the masks are its own
        // mounts, not locked ones), but not write what the host owns through them.
        attempt(
            "new proc instance",
            &[
                "newmount_write",
                "/tmp/proc",
                "proc",
                "sys/kernel/core_pattern",
            ],
            lsm_mount.clone(),
            kernel_or_lsm(at(eacces, "open")),
        ),
        attempt(
            "new sysfs instance",
            &["newmount_write", "/tmp/sys", "sysfs", "kernel/mm/ksm/run"],
            lsm_mount.clone(),
            kernel_or_lsm(at(eacces, "open")),
        ),
        attempt(
            "bind of bare /proc",
            &[
                "bind_write",
                "/proc",
                "/tmp/bproc",
                "sys/kernel/core_pattern",
            ],
            lsm_mount.clone(),
            kernel_or_lsm(at(eacces, "open")),
        ),
        attempt(
            "mount debugfs",
            &["mount", "debugfs", "/tmp/debugfs", "debugfs"],
            lsm_mount.clone(),
            kernel_or_lsm(at(eperm, "mount")),
        ),
        attempt(
            "mount securityfs",
            &["mount", "securityfs", "/tmp/securityfs", "securityfs"],
            lsm_mount.clone(),
            kernel_or_lsm(at(eperm, "mount")),
        ),
        // Rules only the AppArmor profile stands behind in a privileged container: the
        // masks and proc:mixed's binds can be undone, and securityfs and debugfs may be
        // mounted where they belong (the profile allows that, as LXC's does, for systemd),
        // but what is in them stays closed.
        attempt(
            "unmount the sysrq-trigger bind, write it",
            &[
                "umount_write",
                "/proc/sysrq-trigger",
                "/proc/sysrq-trigger",
                "h",
            ],
            with_lsm(Expect::AnyOf(vec![
                at(eacces, "umount2"),
                at(eacces, "open"),
            ])),
            lsm_or(
                Expect::AnyOf(vec![at(eacces, "umount2"), at(eacces, "open")]),
                at(eacces, "open"),
            ),
        ),
        attempt(
            "securityfs at /sys/kernel/security, open apparmor/.remove",
            &[
                "mount_open",
                "securityfs",
                "/sys/kernel/security",
                "apparmor/.remove",
            ],
            with_lsm(at(eacces, "open")),
            kernel_or_lsm(at(eperm, "mount")),
        ),
        attempt(
            "debugfs at /sys/kernel/debug, list it",
            &["mount_list", "debugfs", "/sys/kernel/debug"],
            with_lsm(at(eacces, "opendir")),
            kernel_or_lsm(at(eperm, "mount")),
        ),
        // The file system root and the cgroup tree.
        attempt(
            "chroot escape",
            &["chroot_escape", marker],
            ok("false"),
            ok("false"),
        ),
        // The container sees its own cgroup as the root; where the climber really is, the
        // run asks the host (see `climbed_to`).
        attempt(
            "climb the cgroup tree",
            &["cgroup_climb", "/sys/fs/cgroup", &target.climb_token],
            ok("0::/"),
            ok("0::/"),
        ),
        // Consoles are the container's own ptys, never the host's.
        attempt(
            "/dev/console",
            &["major", "/dev/console"],
            ok("136"),
            ok("136"),
        ),
        attempt("/dev/tty1", &["major", "/dev/tty1"], ok("136"), ok("136")),
    ];
    // Every path the plan masks is covered by a read-only mount (where the kernel has it).
    for path in MASKED_PATHS {
        list.push(attempt(
            &format!("mask over {path}"),
            &["mountinfo", path],
            ok("ro"),
            ok("ro"),
        ));
    }
    list
}

/// A busybox container with the probe bound in at /probe; stopped and destroyed with the
/// root however the test ends.
struct Container<'a> {
    root: &'a TestRoot,
    vmid: u32,
}

impl<'a> Container<'a> {
    /// Create one from the busybox template, the probe bound in read-only at /probe.
    fn create(root: &'a TestRoot, vmid: u32, unprivileged: bool, extra: &[&str]) -> Container<'a> {
        let volume = root.install_template(&busybox_template());
        fs::create_dir_all(root.join("probe")).unwrap();
        fs::copy(probe_binary(), root.join("probe/probe")).unwrap();
        let id = vmid.to_string();
        let flag = if unprivileged { "1" } else { "0" };
        // Bind sources are paths of the host root.
        let mut args = vec![
            "create",
            &id,
            &volume,
            "--rootfs",
            "local:0",
            "--unprivileged",
            flag,
            "--mp0",
            "/probe,mp=/probe,ro=1",
        ];
        args.extend_from_slice(extra);
        root.pct_ok(&args);
        Container { root, vmid }
    }

    fn start(root: &'a TestRoot, vmid: u32, unprivileged: bool, extra: &[&str]) -> Container<'a> {
        let container = Container::create(root, vmid, unprivileged, extra);
        root.pct_ok(&["start", &vmid.to_string()]);
        container
    }

    /// The rootfs directory on the host.
    fn rootfs(&self) -> PathBuf {
        let vmid = self.vmid;
        self.root.join(&format!(
            "var/lib/vz/images/{vmid}/subvol-{vmid}-disk-0.subvol"
        ))
    }

    fn probe(&self, args: &[String]) -> Vec<String> {
        let mut command = vec![
            "exec".to_string(),
            self.vmid.to_string(),
            "--".into(),
            "/probe/probe".into(),
        ];
        command.extend(args.iter().cloned());
        let refs: Vec<&str> = command.iter().map(String::as_str).collect();
        let out = self.root.pct_ok(&refs);
        out.lines().map(str::to_string).collect()
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self
            .root
            .pct(&["stop", &self.vmid.to_string(), "--skiplock"]);
    }
}

/// The host's root disk if its root may open it, else the first loop device: a node only
/// the device filter keeps from a privileged container. (Some hosts refuse even their own
/// root the disk; an attempt aimed there would be refused whatever the filter did.)
fn host_block_device() -> (u32, u32) {
    let dir = std::env::temp_dir().join(format!("corral-escape-node-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let openable = |(major, minor): (u32, u32)| {
        let node = dir.join(format!("b-{major}-{minor}"));
        let _ = fs::remove_file(&node);
        let path = std::ffi::CString::new(node.to_str().unwrap()).unwrap();
        // SAFETY: mknod with a valid path; the node is removed with its directory.
        let made = unsafe {
            libc::mknod(
                path.as_ptr(),
                libc::S_IFBLK | 0o600,
                libc::makedev(major, minor),
            )
        } == 0;
        made && fs::File::open(&node).is_ok()
    };
    let choice = [host_disk(), (7, 0)]
        .into_iter()
        .find(|&device| openable(device));
    fs::remove_dir_all(&dir).unwrap();
    choice.expect("neither the root disk nor loop0 opens on this host (modprobe loop)")
}

fn host_disk() -> (u32, u32) {
    let dev = fs::metadata("/").unwrap().dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    // A root on tmpfs or 9p (the VM rig) has no disk; aim at the first SCSI disk instead.
    if major == 0 { (8, 0) } else { (major, minor) }
}

fn run_suite(vmid: u32, unprivileged: bool) {
    let mode = if unprivileged {
        "unprivileged"
    } else {
        "privileged"
    };
    // No summary from an earlier run may stand in for this one's.
    let _ = fs::remove_file(summary_dir().join(format!("{mode}.txt")));
    let root = TestRoot::new();
    let container = Container::start(&root, vmid, unprivileged, &[]);
    let marker = root.join("host-only-marker");
    fs::write(&marker, "host").unwrap();
    let monitor_pid = common::monitor_pids(vmid)[0];
    let target = Target {
        monitor_pid,
        disk: host_disk(),
        block: host_block_device(),
        marker,
        climb_token: format!("corral-escape-climb-{vmid}"),
    };
    let attempts = attempts(&target);
    let mut args = Vec::new();
    for attempt in &attempts {
        if !args.is_empty() {
            args.push("::".to_string());
        }
        args.extend(attempt.probe.iter().cloned());
    }
    let lines = container.probe(&args);
    // Where the climber really went, as the host sees it: the container's own cgroup.
    let climbed = climbed_to(&target.climb_token);
    assert_eq!(
        lines.len(),
        attempts.len(),
        "one line per attempt:\n{}",
        lines.join("\n")
    );
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    for (attempt, line) in attempts.iter().zip(&lines) {
        let expect = if unprivileged {
            &attempt.unprivileged
        } else {
            &attempt.privileged
        };
        let result = line.split_once(": ").map_or(line.as_str(), |(_, r)| r);
        if let Expect::Skip(why) = expect {
            // What the kernel lacks, the container must lack too.
            let nothing_there = result.starts_with("errno 2 ") || result == "ok none";
            if why.starts_with(ABSENT) && !nothing_there {
                failures.push(format!(
                    "{}: absent from the host, but got '{result}'",
                    attempt.what
                ));
            }
            skipped.push(format!("{}: {why} (got '{result}')", attempt.what));
            continue;
        }
        if let Err(message) = expect.check(result) {
            failures.push(format!("{}: {message}", attempt.what));
        }
    }
    let expected_cgroup = format!("0::/lxc/{vmid}/ns");
    if climbed.as_deref() != Some(expected_cgroup.as_str()) {
        failures.push(format!(
            "climb the cgroup tree: the host sees the climber in {climbed:?}, not {expected_cgroup}"
        ));
    }
    let mut summary = format!(
        "escape suite, {mode} container: {} attempts, {} checked, {} skipped\n",
        attempts.len(),
        attempts.len() - skipped.len(),
        skipped.len()
    );
    for line in &skipped {
        summary.push_str(&format!("  skipped ({mode}) {line}\n"));
    }
    write_summary(mode, &summary);
    assert!(failures.is_empty(), "{mode}:\n{}", failures.join("\n"));
}

/// The cgroup (the unified hierarchy's line of /proc/PID/cgroup, as the host sees it) of
/// the process `cgroup_climb` left behind with `token` on its command line; the process
/// is killed.
fn climbed_to(token: &str) -> Option<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        for entry in fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            if !cmdline
                .split(|b| *b == 0)
                .any(|arg| arg == token.as_bytes())
            {
                continue;
            }
            let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok();
            // SAFETY: a signal to a pid just seen; the holder only waits to be killed.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return cgroup.and_then(|text| {
                text.lines()
                    .find(|line| line.starts_with("0::"))
                    .map(str::to_string)
            });
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn cgroup_root() -> Option<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|line| {
        let (_, rest) = line.split_once(" - ")?;
        rest.starts_with("cgroup2 ")
            .then(|| PathBuf::from(line.split(' ').nth(4).unwrap()))
    })
}

#[test]
fn nothing_gets_out_of_an_unprivileged_container() {
    run_suite(9901, true);
}

#[test]
fn nothing_gets_out_of_a_privileged_container() {
    run_suite(9902, false);
}

#[test]
fn under_apparmor_containers_run_confined_by_their_profile() {
    if !apparmor_enabled() {
        write_summary(
            "apparmor",
            "escape suite, AppArmor profiles: skipped: AppArmor is not enabled here \
             (the VM rig runs this)\n",
        );
        return;
    }
    let _ = fs::remove_file(summary_dir().join("apparmor.txt"));
    let root = TestRoot::new();
    let container = Container::start(&root, 9903, false, &[]);
    let label = format!("corral-9903_<{}> (enforce)", root.path().display());
    let lines = container.probe(&[
        "apparmor_label".into(),
        "::".into(),
        "apparmor_unconfine".into(),
    ]);
    assert_eq!(lines[0], format!("apparmor_label: ok {label}"));
    // The profile has no change_profile rule: AppArmor refuses the change.
    assert_eq!(lines[1], "apparmor_unconfine: errno 13 write");
    // pct exec runs confined too.
    let out = root.pct_ok(&["exec", "9903", "--", "cat", "/proc/self/attr/current"]);
    assert_eq!(out.trim(), label);
    drop(container);
    // The profile goes from the kernel with the container.
    let loaded = || fs::read_to_string("/sys/kernel/security/apparmor/profiles").unwrap();
    assert!(!loaded().contains("corral-9903_"), "{}", loaded());
    // Its file and the parser's compiled copy stay, and the next start loads that copy
    // instead of compiling again: neither is rewritten.
    let kept = |name: &str| -> Vec<(PathBuf, std::time::SystemTime)> {
        let dir = root.join("var/lib/corral/apparmor");
        let cache_sets = fs::read_dir(dir.join("cache")).unwrap().flatten();
        std::iter::once(dir.clone())
            .chain(cache_sets.map(|set| set.path()))
            .map(|d| d.join(name))
            .filter(|p| p.is_file())
            .map(|p| {
                let mtime = fs::metadata(&p).unwrap().modified().unwrap();
                (p, mtime)
            })
            .collect()
    };
    let file_name = format!("corral-9903_-{}-", root.path().display()).replace('/', "-");
    let before = kept(&file_name);
    assert_eq!(
        before.len(),
        2,
        "profile file and compiled copy: {before:?}"
    );
    root.pct_ok(&["start", "9903"]);
    assert!(loaded().contains("corral-9903_"), "{}", loaded());
    root.pct_ok(&["stop", "9903"]);
    assert_eq!(kept(&file_name), before);
    // pct destroy takes them.
    root.pct_ok(&["destroy", "9903"]);
    assert_eq!(kept(&file_name), Vec::new());

    // Nesting: the profile stacked with a policy namespace of the container's own, which
    // goes when the container stops.
    let nesting = Container::start(&root, 9906, true, &["--features", "nesting=1"]);
    let namespaces = Path::new("/sys/kernel/security/apparmor/policy/namespaces");
    let namespace = format!("corral-9906_<{}>", root.path().display()).replace('/', "-");
    assert!(
        namespaces.join(&namespace).is_dir(),
        "no namespace {namespace}"
    );
    let cgroup = cgroup_root().unwrap().join("lxc/9906/ns/cgroup.procs");
    let init = fs::read_to_string(cgroup).unwrap();
    let pid = init.lines().next().expect("a process in the container");
    let host_view = fs::read_to_string(format!("/proc/{pid}/attr/current")).unwrap();
    assert!(
        host_view.starts_with(&format!(
            "corral-9906_<{}>//&:{namespace}:",
            root.path().display()
        )),
        "{host_view}"
    );
    drop(nesting);
    assert!(
        !namespaces.join(&namespace).exists(),
        "{namespace} left behind"
    );

    // lxc.apparmor.profile: unconfined, as pct lets an admin choose it.
    let root = TestRoot::new();
    let unconfined = Container::create(&root, 9907, true, &[]);
    root.append_config(9907, "lxc.apparmor.profile: unconfined\n");
    root.pct_ok(&["start", "9907"]);
    let out = root.pct_ok(&["exec", "9907", "--", "cat", "/proc/self/attr/current"]);
    assert_eq!(out.trim(), "unconfined");
    // The positive control of the refused change above: unconfined, the probe's change
    // goes through, so its errno there is the profile's doing.
    assert_eq!(
        unconfined.probe(&["apparmor_unconfine".into()]),
        ["apparmor_unconfine: ok"]
    );
    drop(unconfined);
    // The positive control of the attempts only the profile stops: a privileged container
    // without it gets through each of them.
    let bare = Container::create(&root, 9909, false, &[]);
    root.append_config(9909, "lxc.apparmor.profile: unconfined\n");
    root.pct_ok(&["start", "9909"]);
    let target = Target {
        monitor_pid: 1,
        disk: host_disk(),
        block: host_block_device(),
        marker: PathBuf::from("/"),
        climb_token: "corral-escape-climb-9909".into(),
    };
    let profile_only: Vec<Attempt> = attempts(&target)
        .into_iter()
        .filter(|a| PROFILE_ONLY.contains(&a.what.as_str()))
        .collect();
    assert_eq!(profile_only.len(), PROFILE_ONLY.len());
    let mut args = Vec::new();
    for attempt in &profile_only {
        if !args.is_empty() {
            args.push("::".to_string());
        }
        args.extend(attempt.probe.iter().cloned());
    }
    let lines = bare.probe(&args);
    assert_eq!(lines.len(), profile_only.len(), "{lines:?}");
    for (attempt, line) in profile_only.iter().zip(&lines) {
        let result = line.split_once(": ").map_or(line.as_str(), |(_, r)| r);
        assert!(
            result.starts_with("ok") && attempt.privileged.check(result).is_err(),
            "{}: unconfined, '{result}'",
            attempt.what
        );
    }
    drop(bare);
    write_summary(
        "apparmor",
        "escape suite, AppArmor profiles: checked (profile label, change_profile refused, \
         nesting, unconfined, parser errors, the attempts only the profile stops seen \
         getting through unconfined)\n",
    );

    // A profile the parser refuses fails the start in its words, and leaves neither the
    // profile file, nor the policy namespace, nor a cgroup behind.
    let _broken = Container::create(&root, 9908, true, &["--features", "nesting=1"]);
    root.append_config(9908, "lxc.apparmor.raw: this is not a rule\n");
    let (code, _, stderr) = root.pct(&["start", "9908"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("unable to load the AppArmor profile 'corral-9908_"),
        "{stderr}"
    );
    let namespace = format!("corral-9908_<{}>", root.path().display()).replace('/', "-");
    assert!(
        !namespaces.join(&namespace).exists(),
        "{namespace} left behind"
    );
    let profiles = root.join("var/lib/corral/apparmor");
    let left: Vec<_> = fs::read_dir(&profiles)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|name| name != "cache")
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(!cgroup_root().unwrap().join("lxc/9908").exists());
}

/// What `fd` gives until `needle` is in it or `timeout` passes.
fn read_until(fd: &impl std::os::fd::AsFd, needle: &str, timeout: std::time::Duration) -> String {
    let deadline = std::time::Instant::now() + timeout;
    let mut text = String::new();
    while !text.contains(needle) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        let mut fds = [rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN)];
        let timeout = rustix::event::Timespec::try_from(left).unwrap();
        if rustix::event::poll(&mut fds, Some(&timeout)).unwrap() == 0 {
            break;
        }
        let mut buf = [0u8; 256];
        match rustix::io::read(fd, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    text
}

#[test]
fn a_host_terminal_never_reaches_the_container() {
    // pct exec from a terminal: the command gets a pty of the container's own devpts, as
    // lxc-attach gives one, never the caller's terminal (where TIOCSTI from a privileged
    // root would type into the host's shell).
    let root = TestRoot::new();
    let container = Container::start(&root, 9904, false, &[]);
    let pty =
        rustix::pty::openpt(rustix::pty::OpenptFlags::RDWR | rustix::pty::OpenptFlags::NOCTTY)
            .unwrap();
    rustix::pty::grantpt(&pty).unwrap();
    rustix::pty::unlockpt(&pty).unwrap();
    let slave_name = rustix::pty::ptsname(&pty, Vec::new()).unwrap();
    let slave = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(slave_name.to_str().unwrap())
        .unwrap();
    for (what, stdin, stdout) in [("stdin", true, false), ("stdout", false, true)] {
        let mut command = Command::new(common::pct_binary());
        command
            .args([
                "exec",
                "9904",
                "--",
                "/probe/probe",
                "same_fs",
                if stdin { "0" } else { "1" },
                "/dev/pts/ptmx",
            ])
            .env("CORRAL_ROOT", root.path());
        if stdin {
            command.stdin(slave.try_clone().unwrap());
        }
        if stdout {
            command.stdout(slave.try_clone().unwrap());
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        if stdin {
            let out = String::from_utf8_lossy(&output.stdout);
            assert_eq!(
                out.trim(),
                "same_fs: ok true",
                "{what} is the host's terminal"
            );
        } else {
            // The answer went through the container's pty to the host's terminal; it may
            // arrive in pieces, so read until it is all there or the deadline passes.
            let text = read_until(&pty, "same_fs: ok true", std::time::Duration::from_secs(10));
            assert!(text.contains("same_fs: ok true"), "{what}: {text}");
        }
    }
    drop(container);
}

#[test]
fn mknod_feature_makes_the_basic_nodes_and_nothing_else() {
    // The probe runs as init, so its calls reach the monitor's seccomp listener.
    let root = TestRoot::new();
    let container = Container::create(&root, 9905, true, &["--features", "mknod=1"]);
    root.append_config(
        9905,
        "lxc.init.cmd: /bin/sh -c '/probe/probe --out /result.tmp mknod_open /tmp/null c 1 3 \
         :: owner /tmp/null :: mknod /tmp/mem c 1 1 :: mknod /tmp/sda b 8 0 \
         :: mknod /tmp/console-like c 5 1 && mv /result.tmp /result; exec sleep 600'\n",
    );
    root.pct_ok(&["start", "9905"]);
    let rootfs = container.rootfs();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !rootfs.join("result").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the probe did not finish"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let result = fs::read_to_string(rootfs.join("result")).unwrap();
    let lines: Vec<&str> = result.lines().collect();
    assert_eq!(
        lines,
        [
            "mknod_open: ok",
            "owner: ok 0:0",
            "mknod: errno 1 mknod",
            "mknod: errno 1 mknod",
            "mknod: errno 1 mknod",
        ],
        "{result}"
    );
    // Made as the container's root, on the host its mapped uid.
    let node = rootfs.join("tmp/null");
    let meta = fs::symlink_metadata(node).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.rdev()),
        (100000, 100000, libc::makedev(1, 3))
    );
    // pct exec commands pass their filter's listener to the monitor, which answers them too.
    let out = root.pct_ok(&[
        "exec",
        "9905",
        "--",
        "/probe/probe",
        "mknod_open",
        "/tmp/zero",
        "c",
        "1",
        "5",
        "::",
        "mknod",
        "/tmp/kmsg",
        "c",
        "1",
        "11",
    ]);
    assert_eq!(out, "mknod_open: ok\nmknod: errno 1 mknod\n");
}

/// A one-file archive whose member name is written exactly as given (the template helper
/// prefixes `./`, which makes an absolute name relative).
fn archive_with_raw_name(path: &Path, name: &str) {
    let file = fs::File::create(path).unwrap();
    let encoder = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(1);
    header.set_mtime(1_700_000_000);
    let raw = &mut header.as_old_mut().name;
    assert!(name.len() < raw.len(), "test path too long");
    raw[..name.len()].copy_from_slice(name.as_bytes());
    header.set_cksum();
    builder.append(&header, &b"x"[..]).unwrap();
    builder.into_inner().unwrap().finish().unwrap();
}

/// Unpack a gzipped tar as a careless tool would: names joined to `dir` as they are
/// (`..` climbs, an absolute name replaces `dir`), links made as given and followed.
fn naive_unpack(archive: &Path, dir: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let file = fs::File::open(archive).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path_bytes().into_owned();
        let path = dir.join(std::ffi::OsStr::from_bytes(&name));
        match entry.header().entry_type() {
            tar::EntryType::Directory => fs::create_dir_all(&path).unwrap(),
            tar::EntryType::Symlink => {
                let link = entry.link_name_bytes().unwrap().into_owned();
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&link), &path).unwrap();
            }
            _ => {
                let mut out = fs::File::create(&path).unwrap();
                std::io::copy(&mut entry, &mut out).unwrap();
            }
        }
    }
}

/// What a hostile template must come to.
enum Outcome {
    /// The create fails, with this in its message.
    Refused(&'static str),
    /// The create succeeds, the member landing at this path inside the rootfs.
    Inside(String),
}

#[test]
fn hostile_templates_and_mount_points_stay_inside() {
    let root = TestRoot::new();
    let cache = root.join("var/lib/vz/template/cache");
    fs::create_dir_all(&cache).unwrap();
    let outside = root.join("outside");
    fs::create_dir_all(&outside).unwrap();
    let target = outside.to_str().unwrap().to_string();
    // The rootfs is var/lib/vz/images/ID/subvol-ID-disk-0.subvol: six levels below the
    // host root, so six `..` reach `outside` exactly.
    let rootfs_depth = 6;
    let escape = format!("{}outside/escaped", "../".repeat(rootfs_depth));
    let through_up = format!("up{target}/escaped");
    let inside = format!("{}/escaped", target.trim_start_matches('/'));
    let cases: Vec<(&str, Vec<Entry<'_>>, Outcome)> = vec![
        (
            "dotdot",
            vec![
                Entry::Dir("etc", 0o755, 0, 0),
                Entry::File(&escape, b"x", 0o644, 0, 0),
            ],
            Outcome::Refused("Member name contains '..'"),
        ),
        // GNU tar drops the leading slash and says so; so does corral.
        ("absolute", vec![], Outcome::Inside(inside.clone())),
        // Links are resolved inside the rootfs: the absolute one leads to a directory the
        // rootfs lacks (refused in GNU tar's words); the relative one stops at the rootfs'
        // root, below which the member's directories are made.
        (
            "symlink-then-write",
            vec![
                Entry::Symlink("etc", &target),
                Entry::File("etc/escaped", b"x", 0o644, 0, 0),
            ],
            Outcome::Refused("./etc/escaped: Cannot open: No such file or directory"),
        ),
        (
            "relative-symlink-then-write",
            vec![
                Entry::Symlink("up", "../../../../../../../../../.."),
                Entry::File(&through_up, b"x", 0o644, 0, 0),
            ],
            Outcome::Inside(inside.clone()),
        ),
    ];
    let escaped = outside.join("escaped");
    for (name, entries, outcome) in cases {
        let archive = cache.join(format!("{name}.tar.gz"));
        if name == "absolute" {
            archive_with_raw_name(&archive, &format!("{target}/escaped"));
        } else {
            make_template(&archive, &entries);
        }
        // Positive control: an unpacker that trusts names and links, in a directory as deep
        // as the rootfs, writes where the archive aims.
        let control = root.join("var/lib/vz/images/9910/control");
        fs::create_dir_all(&control).unwrap();
        naive_unpack(&archive, &control);
        assert!(
            escaped.exists(),
            "{name}: the archive does not aim at {}",
            escaped.display(),
        );
        fs::remove_file(&escaped).unwrap();
        fs::remove_dir_all(root.join("var/lib/vz/images/9910")).unwrap();

        let template = format!("local:vztmpl/{name}.tar.gz");
        for unprivileged in ["0", "1"] {
            let (code, _, stderr) = root.pct(&[
                "create",
                "9910",
                &template,
                "--rootfs",
                "local:0",
                "--unprivileged",
                unprivileged,
            ]);
            assert!(
                fs::read_dir(&outside).unwrap().next().is_none(),
                "{name}: wrote outside the rootfs"
            );
            match &outcome {
                Outcome::Refused(message) => {
                    assert_ne!(code, 0, "{name}: created");
                    assert!(
                        stderr.contains("unable to create CT 9910 - ") && stderr.contains(message),
                        "{name}: {stderr}"
                    );
                    assert!(
                        !root.join("etc/pve/lxc/9910.conf").exists(),
                        "{name}: config left behind"
                    );
                }
                Outcome::Inside(path) => {
                    assert_eq!(code, 0, "{name}: {stderr}");
                    let rootfs = root.join("var/lib/vz/images/9910/subvol-9910-disk-0.subvol");
                    assert!(
                        rootfs.join(path).is_file(),
                        "{name}: {path} not in the rootfs"
                    );
                    root.pct_ok(&["destroy", "9910"]);
                }
            }
            assert!(root.mounts_below().is_empty(), "{name}: mounts left behind");
        }
    }

    // A mount point whose path runs through a symlink the container planted (here planted
    // for it) to a host directory: the start refuses it in pct's words, and starts
    // without it. (At create, pct's order mounts the mount points before the archive is
    // unpacked, so a template's link could not take their place.) Guest files that are
    // symlinks to host files are pct_guest_setup's.
    let container = Container::create(&root, 9911, true, &[]);
    std::os::unix::fs::symlink(&target, container.rootfs().join("srv")).unwrap();
    fs::create_dir_all(root.join("data")).unwrap();
    root.pct_ok(&["set", "9911", "--mp1", "/data,mp=/srv/data"]);
    let (code, _, stderr) = root.pct(&["start", "9911"]);
    assert_ne!(code, 0, "a mount point through a symlink started");
    assert!(stderr.contains("symlink encountered at"), "{stderr}");
    assert!(fs::read_dir(&outside).unwrap().next().is_none());
    root.pct_ok(&["set", "9911", "--delete", "mp1"]);
    root.pct_ok(&["start", "9911"]);
}

/// Attempts only the AppArmor profile stops in a privileged container.
const PROFILE_ONLY: &[&str] = &[
    "unmount the sysrq-trigger bind, write it",
    "securityfs at /sys/kernel/security, open apparmor/.remove",
    "debugfs at /sys/kernel/debug, list it",
];

/// Attempts whose protection the host itself lacks (no masks, no cgroup namespace): run
/// there, the same probe must see what the container must not.
fn host_controlled(what: &str) -> bool {
    what.starts_with("mask over ")
        || [
            "/proc/kallsyms",
            "/proc/keys",
            "/proc/timer_list",
            "/sys/firmware",
            "/sys/kernel/security",
        ]
        .contains(&what)
}

fn run_probe_on_host(args: &[String]) -> Vec<String> {
    let output = Command::new(probe_binary()).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The checks above are only as good as the probe's eye: where the protection is off, the
/// same probe reports the escape, which the suite's expectation refuses.
#[test]
fn the_probe_sees_escapes_where_the_protection_is_off() {
    let target = Target {
        monitor_pid: 1,
        disk: host_disk(),
        block: host_block_device(),
        marker: PathBuf::from("/"),
        climb_token: "corral-escape-climb-host".into(),
    };
    let all = attempts(&target);
    let on_host: Vec<&Attempt> = all.iter().filter(|a| host_controlled(&a.what)).collect();
    assert!(on_host.len() >= 5, "{}", on_host.len());
    let mut args = Vec::new();
    for attempt in &on_host {
        args.extend(attempt.probe.iter().cloned());
        args.push("::".into());
    }
    // The host's own cgroup tree, as a container without a cgroup namespace would see it.
    let cgroup = cgroup_root().expect("a cgroup v2 tree");
    args.extend([
        "cgroup_climb".into(),
        cgroup.to_str().unwrap().into(),
        target.climb_token.clone(),
    ]);
    let lines = run_probe_on_host(&args);
    assert_eq!(lines.len(), on_host.len() + 1, "{lines:?}");
    let mut checked = 0;
    for (attempt, line) in on_host.iter().zip(&lines) {
        let result = line.split_once(": ").map_or(line.as_str(), |(_, r)| r);
        for expect in [&attempt.privileged, &attempt.unprivileged] {
            if matches!(expect, Expect::Skip(_)) {
                continue;
            }
            checked += 1;
            assert!(
                result.starts_with("ok ") && expect.check(result).is_err(),
                "{}: on the host the probe saw '{result}', which passes {expect:?}",
                attempt.what
            );
        }
    }
    assert!(checked >= 10, "{checked}");
    assert!(
        lines.last().unwrap().starts_with("cgroup_climb: ok 0::/"),
        "{lines:?}"
    );
    let climbed = climbed_to(&target.climb_token);
    assert_eq!(climbed.as_deref(), Some("0::/"), "the host's root");

    // The device filter: a privileged container whose raw config allows the nodes opens
    // them, where the suite expects EPERM at open.
    let root = TestRoot::new();
    let (major, minor) = target.block;
    let container = Container::create(&root, 9912, false, &[]);
    root.append_config(
        9912,
        &format!(
            "lxc.cgroup2.devices.allow: b {major}:{minor} r\n\
             lxc.cgroup2.devices.allow: c 10:237 r\n\
             lxc.cgroup2.devices.allow: c 1:11 r\n\
             lxc.cgroup2.devices.allow: c 4:0 r\n"
        ),
    );
    root.pct_ok(&["start", "9912"]);
    let devices: Vec<&Attempt> = all
        .iter()
        .filter(|a| a.what.starts_with("mknod+open "))
        .collect();
    assert_eq!(devices.len(), 4);
    let mut args = Vec::new();
    for attempt in &devices {
        if !args.is_empty() {
            args.push("::".to_string());
        }
        args.extend(attempt.probe.iter().cloned());
    }
    let lines = container.probe(&args);
    assert_eq!(lines.len(), devices.len(), "{lines:?}");
    for attempt in &devices {
        assert!(attempt.privileged.check("ok").is_err(), "{}", attempt.what);
    }
    assert!(
        lines.iter().all(|line| line.ends_with(": ok")),
        "with the nodes allowed: {lines:?}\n{}",
        root.pct_ok(&["start", "9912", "--dry-run"])
    );
    drop(container);
    write_summary(
        "controls",
        &format!(
            "escape suite, positive controls: {checked} mask and file checks seen failing on \
             the host, the cgroup climb seen reaching the host's root, {} device nodes opened \
             with the device filter opened\n",
            devices.len()
        ),
    );
}
