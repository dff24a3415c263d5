//! What a guest sees of its own machine (run as root): a boot id of its own for every boot,
//! and lxcfs's views of /proc and /sys when the host runs lxcfs, for privileged and
//! unprivileged busybox containers.
//!
//! Each test has its own host root and CTIDs (the 9451-9499 range is this file's), and
//! guards that stop its containers and its lxcfs even when it fails.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestRoot, cached_template};

fn busybox_template() -> PathBuf {
    cached_template("make-busybox-template", &[], "busybox-")
}

/// A container of a test: stopped, with its cgroups gone, however the test ends.
struct Ct<'a> {
    root: &'a TestRoot,
    vmid: u32,
}

impl<'a> Ct<'a> {
    /// A busybox container, privileged or not, with 256 MB of memory.
    fn create(root: &'a TestRoot, vmid: u32, unprivileged: bool) -> Ct<'a> {
        let template = root.install_template(&busybox_template());
        let ct = Ct { root, vmid };
        root.pct_ok(&[
            "create",
            &ct.id(),
            &template,
            "--rootfs",
            "local:0",
            "--unprivileged",
            if unprivileged { "1" } else { "0" },
            "--hostname",
            "guest-view",
            "--memory",
            "256",
        ]);
        ct
    }

    fn id(&self) -> String {
        self.vmid.to_string()
    }

    fn pct_ok(&self, args: &[&str]) -> String {
        self.root.pct_ok(args)
    }

    fn dry_run(&self) -> String {
        self.pct_ok(&["start", &self.id(), "--dry-run"])
    }

    fn exec(&self, script: &str) -> (i32, String, String) {
        self.root
            .pct(&["exec", &self.id(), "--", "sh", "-c", script])
    }

    fn exec_ok(&self, script: &str) -> String {
        let (code, out, err) = self.exec(script);
        assert_eq!(code, 0, "exec {script:?}: {err}");
        out
    }

    fn init_pid(&self) -> Option<u32> {
        let verbose = self.pct_ok(&["status", &self.id(), "--verbose"]);
        verbose
            .lines()
            .find_map(|l| l.strip_prefix("pid: "))
            .map(|pid| pid.parse().unwrap())
    }

    fn boot_id(&self) -> String {
        let id = self.exec_ok("cat /proc/sys/kernel/random/boot_id");
        assert_uuid(&id);
        id
    }

    fn mountinfo(&self) -> String {
        self.exec_ok("cat /proc/self/mountinfo")
    }
}

impl Drop for Ct<'_> {
    fn drop(&mut self) {
        common::ct::force_cleanup(self.root, self.vmid);
    }
}

/// The kernel's boot id format: a UUID and a newline.
fn assert_uuid(id: &str) {
    let groups: Vec<usize> = id.trim_end().split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "not a boot id: {id:?}");
    assert!(id.ends_with('\n'), "{id:?}");
}

/// The mount of `target` in a mountinfo text: (mount options, fs type).
fn mount_at<'t>(mountinfo: &'t str, target: &str) -> Option<(&'t str, &'t str)> {
    mountinfo
        .lines()
        .rev()
        .find(|line| line.split(' ').nth(4) == Some(target))
        .map(|line| {
            let (left, right) = line.split_once(" - ").unwrap();
            (
                left.split(' ').nth(5).unwrap(),
                right.split(' ').next().unwrap(),
            )
        })
}

fn wait_until(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn host_boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap()
}

fn boot_ids_are_per_boot(vmid: u32, unprivileged: bool) {
    let root = TestRoot::new();
    let ct = Ct::create(&root, vmid, unprivileged);
    let id = ct.id();
    let plan = ct.dry_run();
    assert!(
        plan.contains(
            "\nboot id: /dev/.lxc-boot-id (new at every boot) bound read-only at /proc/sys/kernel/random/boot_id\n"
        ),
        "{plan}"
    );

    ct.pct_ok(&["start", &id]);
    let first = ct.boot_id();
    assert_ne!(
        first,
        host_boot_id(),
        "the container shows the host's boot id"
    );
    // LXC's file, which guest tools look for, holds the same id.
    assert_eq!(ct.exec_ok("cat /dev/.lxc-boot-id"), first);
    let mountinfo = ct.mountinfo();
    let (options, _) =
        mount_at(&mountinfo, "/proc/sys/kernel/random/boot_id").expect("a mount over the boot id");
    assert!(options.split(',').any(|o| o == "ro"), "{options}");
    let (code, _, _) = ct.exec("echo 0 > /proc/sys/kernel/random/boot_id");
    assert_ne!(code, 0, "the boot id was writable");
    assert_eq!(ct.boot_id(), first);

    // A reboot from inside: the monitor starts a new init, and that is a new boot.
    let init = ct.init_pid().unwrap();
    let _ = ct.exec("reboot -f");
    wait_until(Duration::from_secs(10), "a new init", || {
        ct.init_pid().is_some_and(|pid| pid != init)
    });
    let rebooted = ct.boot_id();
    assert_ne!(rebooted, first, "a reboot from inside kept the boot id");
    assert_ne!(rebooted, host_boot_id());

    // A new start is a new boot too.
    ct.pct_ok(&["stop", &id]);
    ct.pct_ok(&["start", &id]);
    let restarted = ct.boot_id();
    assert_ne!(restarted, rebooted, "a new start kept the boot id");
    assert_ne!(restarted, first);
    ct.pct_ok(&["stop", &id]);
}

#[test]
fn a_privileged_container_has_a_boot_id_of_its_own_for_each_boot() {
    boot_ids_are_per_boot(9451, false);
}

#[test]
fn an_unprivileged_container_has_a_boot_id_of_its_own_for_each_boot() {
    boot_ids_are_per_boot(9452, true);
}

/// An lxcfs of the test's own on a temporary mount point, stopped (and its mount gone)
/// when the test ends.
struct Lxcfs {
    dir: tempfile::TempDir,
    daemon: Child,
}

impl Lxcfs {
    fn start() -> Lxcfs {
        assert!(
            Path::new("/usr/bin/lxcfs").exists(),
            "lxcfs is not installed (apt-get install lxcfs; scripts/test installs it)"
        );
        let dir = tempfile::Builder::new()
            .prefix("corral-lxcfs-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let mount = dir.path().join("mnt");
        fs::create_dir(&mount).unwrap();
        let daemon = Command::new("/usr/bin/lxcfs")
            .arg("--foreground")
            .arg("--pidfile")
            .arg(dir.path().join("lxcfs.pid"))
            .arg(&mount)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run lxcfs");
        let lxcfs = Lxcfs { dir, daemon };
        wait_until(Duration::from_secs(10), "lxcfs's mount", || {
            lxcfs.mount().join("proc/uptime").exists()
        });
        lxcfs
    }

    fn mount(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    fn is_mounted(&self) -> bool {
        let wanted = self.mount();
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .any(|line| line.split(' ').nth(4).map(Path::new) == Some(wanted.as_path()))
    }

    /// Kill lxcfs without letting it unmount: its mount stays, dead.
    fn kill_leaving_its_mount(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

impl Drop for Lxcfs {
    fn drop(&mut self) {
        // SIGTERM: lxcfs unmounts and removes its pid file.
        // SAFETY: signalling our own child by pid.
        unsafe { libc::kill(self.daemon.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while self.daemon.try_wait().ok().flatten().is_none()
            && start.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        if self.is_mounted() {
            let _ = Command::new("umount").arg("-l").arg(self.mount()).status();
        }
    }
}

/// The lxcfs mount corral picks: the default one when it is served, else the first served
/// one in mountinfo (another test's lxcfs may run at the same time).
fn served_lxcfs_mounts() -> Vec<PathBuf> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|line| line.contains(" - fuse.lxcfs "))
        .filter_map(|line| line.split(' ').nth(4).map(PathBuf::from))
        .filter(|mount| mount.join("proc/uptime").exists())
        .collect()
}

const LXCFS_FILES: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/loadavg",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/slabinfo",
    "/sys/devices/system/cpu",
];

fn first_field(text: &str) -> f64 {
    text.split_whitespace().next().unwrap().parse().unwrap()
}

fn lxcfs_views(vmid: u32, unprivileged: bool) {
    let mut lxcfs = Lxcfs::start();
    let root = TestRoot::new();
    let ct = Ct::create(&root, vmid, unprivileged);
    let id = ct.id();

    let plan = ct.dry_run();
    let line = plan
        .lines()
        .find(|l| l.starts_with("lxcfs: "))
        .unwrap_or_else(|| panic!("no lxcfs line:\n{plan}"));
    let shown = line
        .strip_prefix("lxcfs: ")
        .unwrap()
        .split(" bound read-only at ")
        .next()
        .unwrap();
    assert!(
        served_lxcfs_mounts().contains(&PathBuf::from(shown)),
        "{line}"
    );
    assert!(
        line.ends_with(&format!(" bound read-only at {}", LXCFS_FILES.join(" "))),
        "{line}"
    );
    // In the order the binds are made: after proc, sys and /dev, before the masks.
    let position = |prefix: &str| plan.find(prefix).unwrap();
    assert!(position("\nproc: ") < position("\nlxcfs: "));
    assert!(position("\nlxcfs: ") < position("\nmasked: "));

    ct.pct_ok(&["start", &id]);
    let mountinfo = ct.mountinfo();
    for file in LXCFS_FILES {
        let (options, fstype) =
            mount_at(&mountinfo, file).unwrap_or_else(|| panic!("{file} not bound:\n{mountinfo}"));
        assert_eq!(fstype, "fuse.lxcfs", "{file}");
        assert!(options.split(',').any(|o| o == "ro"), "{file}: {options}");
    }
    // lxcfs counts the uptime from the container's init, not from the host's boot.
    let inside = first_field(&ct.exec_ok("cat /proc/uptime"));
    let host = first_field(&fs::read_to_string("/proc/uptime").unwrap());
    assert!(inside < 30.0, "the container's uptime is {inside} s");
    assert!(host > inside + 10.0, "host {host} s, container {inside} s");
    // The files read, and the tools that read them work (the numbers are the host's here:
    // this host's cgroup v2 has no memory or cpu controller for lxcfs to read limits from).
    assert!(ct.exec_ok("cat /proc/meminfo").starts_with("MemTotal:"));
    assert!(ct.exec_ok("cat /proc/cpuinfo").contains("processor"));
    assert!(
        ct.exec_ok("cat /sys/devices/system/cpu/online")
            .trim()
            .starts_with('0')
    );
    ct.exec_ok("free >/dev/null && uptime >/dev/null");
    // Still the masks on top, proc:mixed and sys:mixed as before.
    assert!(ct.exec("echo 1 > /proc/sys/kernel/sysrq").0 != 0);
    assert_eq!(ct.exec_ok("cat /proc/kcore | wc -c").trim(), "0");
    ct.pct_ok(&["stop", &id]);

    // lxcfs killed, its mount left dead: corral passes it over, and the start goes on with
    // the kernel's files (or another test's lxcfs).
    let dead = lxcfs.mount();
    lxcfs.kill_leaving_its_mount();
    assert!(lxcfs.is_mounted());
    let plan = ct.dry_run();
    let line = plan.lines().find(|l| l.starts_with("lxcfs: ")).unwrap();
    assert!(!line.contains(dead.to_str().unwrap()), "{line}");
    ct.pct_ok(&["start", &id]);
    let mountinfo = ct.mountinfo();
    if served_lxcfs_mounts().is_empty() {
        assert_eq!(line, "lxcfs: none (no fuse.lxcfs mount on this host)");
        assert!(!mountinfo.contains("fuse.lxcfs"), "{mountinfo}");
    }
    assert_uuid(&ct.exec_ok("cat /proc/sys/kernel/random/boot_id"));
    ct.pct_ok(&["stop", &id]);
}

#[test]
fn a_privileged_container_sees_lxcfs_views() {
    lxcfs_views(9453, false);
}

#[test]
fn an_unprivileged_container_sees_lxcfs_views() {
    lxcfs_views(9454, true);
}
