//! cgroup v2 limits, enforced for real: these tests need the memory, cpu, cpuset and pids
//! controllers, which the development host's hybrid hierarchy lacks. They are ignored by a
//! plain `cargo test` and run in the VM rig (`tests/vm/run`), or on any pure cgroup v2 host
//! with `cargo test --test vm_limits -- --ignored` as root.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{TestRoot, busybox_template};

fn cgroup_root() -> PathBuf {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
    text.lines()
        .find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            if right.split(' ').next()? != "cgroup2" {
                return None;
            }
            Some(PathBuf::from(left.split(' ').nth(4)?))
        })
        .expect("a cgroup2 mount")
}

/// Every process in a cgroup and its descendants.
fn cgroup_pids(cgroup: &Path) -> Vec<u32> {
    let mut pids: Vec<u32> = fs::read_to_string(cgroup.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.parse().ok())
        .collect();
    for entry in fs::read_dir(cgroup).into_iter().flatten().flatten() {
        if entry.path().is_dir() {
            pids.extend(cgroup_pids(&entry.path()));
        }
    }
    pids
}

/// A running container; stopped however the test ends.
struct Ct<'a> {
    root: &'a TestRoot,
    vmid: u32,
}

impl<'a> Ct<'a> {
    /// Create from the busybox template (directory rootfs) with these options, and start.
    fn start(root: &'a TestRoot, vmid: u32, options: &[&str]) -> Ct<'a> {
        let volume = root.install_template(&busybox_template());
        let id = vmid.to_string();
        let mut args = vec!["create", &id, &volume, "--rootfs", "local:0"];
        args.extend_from_slice(options);
        root.pct_ok(&args);
        let ct = Ct { root, vmid };
        root.pct_ok(&["start", &id]);
        ct
    }

    fn id(&self) -> String {
        self.vmid.to_string()
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

    fn status(&self) -> String {
        self.root.pct_ok(&["status", &self.id()]).trim().to_string()
    }

    /// A file of the container's limiting cgroup, `lxc/<vmid>`.
    fn cgroup_file(&self, name: &str) -> String {
        let path = cgroup_root().join(format!("lxc/{}/{name}", self.vmid));
        fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .to_string()
    }

    fn cgroup_stat(&self, file: &str, key: &str) -> u64 {
        self.cgroup_file(file)
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no {key} in {file}"))
            .parse()
            .unwrap()
    }
}

impl Drop for Ct<'_> {
    fn drop(&mut self) {
        let _ = self.root.pct(&["stop", &self.id(), "--skiplock"]);
    }
}

#[test]
#[ignore = "needs cgroup v2 memory/cpu/cpuset/pids controllers: run tests/vm/run"]
fn memory_limit_kills_inside_and_spares_host_and_neighbour() {
    let root = TestRoot::new();
    let small = Ct::start(&root, 801, &["--memory", "64", "--swap", "0"]);
    let neighbour = Ct::start(&root, 802, &["--memory", "256", "--swap", "0"]);
    assert_eq!(small.cgroup_file("memory.max"), (64u64 << 20).to_string());
    assert_eq!(small.cgroup_file("memory.swap.max"), "0");

    // Under the limit: fine. Above it: the kernel's OOM killer, inside the container only.
    small.exec_ok("dd if=/dev/zero of=/dev/null bs=24M count=1 2>/dev/null");
    let (code, _, _) = small.exec("dd if=/dev/zero of=/dev/null bs=128M count=1 2>/dev/null");
    assert_eq!(
        code,
        128 + libc::SIGKILL,
        "dd of 128 MiB under a 64 MiB limit"
    );
    assert!(small.cgroup_stat("memory.events", "oom_kill") >= 1);

    assert_eq!(small.status(), "status: running");
    assert_eq!(neighbour.status(), "status: running");
    neighbour.exec_ok("dd if=/dev/zero of=/dev/null bs=128M count=1 2>/dev/null");
}

#[test]
#[ignore = "needs cgroup v2 memory/cpu/cpuset/pids controllers: run tests/vm/run"]
fn pids_limit_stops_a_fork_bomb() {
    let root = TestRoot::new();
    let ct = Ct::start(&root, 803, &["--unprivileged", "0"]);
    assert_eq!(ct.cgroup_file("pids.max"), "8192", "the default pids.max");
    drop(ct);

    let root = TestRoot::new();
    let ct = Ct::start(&root, 804, &[]);
    let config = root.join("etc/pve/lxc/804.conf");
    root.pct_ok(&["stop", "804"]);
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, format!("{text}lxc.cgroup2.pids.max: 24\n")).unwrap();
    // Every limit is enforceable here, so a strict start goes through.
    root.pct_ok(&["start", "804", "--strict-limits"]);
    assert_eq!(ct.cgroup_file("pids.max"), "24");
    // The bomb: far more sleepers than the limit allows; the shell fails to fork.
    let (_, _, err) = ct.exec("for i in $(seq 60); do sleep 30 >/dev/null 2>&1 </dev/null & done");
    assert!(err.contains("fork"), "{err}");
    let current: u32 = ct.cgroup_file("pids.current").parse().unwrap();
    assert!(current <= 24, "{current} tasks under pids.max 24");
    assert!(ct.cgroup_stat("pids.events", "max") >= 1);
    // Once the sleepers are gone the container works again.
    let sleepers = || {
        cgroup_pids(&cgroup_root().join("lxc/804"))
            .into_iter()
            .filter(|pid| {
                fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
            })
            .collect::<Vec<_>>()
    };
    for pid in sleepers() {
        // SAFETY: signalling a process of the test's own container.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    let since = std::time::Instant::now();
    // Reaped, not only dead: pids.current counts a zombie until its parent waits for it.
    let current = || ct.cgroup_file("pids.current").parse::<u32>().unwrap();
    while !sleepers().is_empty() || current() > 20 {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "killed sleepers still counted: {} tasks",
            current()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    ct.exec_ok("true");
}

#[test]
#[ignore = "needs cgroup v2 memory/cpu/cpuset/pids controllers: run tests/vm/run"]
fn cores_pin_to_one_cpu_and_cpulimit_holds_a_busy_loop() {
    let root = TestRoot::new();
    let ct = Ct::start(&root, 805, &["--cores", "1", "--cpulimit", "0.5"]);
    assert_eq!(ct.cgroup_file("cpu.max"), "50000 100000");
    let cpus = ct.cgroup_file("cpuset.cpus");
    assert!(
        cpus.parse::<u32>().is_ok(),
        "cores=1 gives one CPU, got '{cpus}'"
    );
    assert_eq!(ct.exec_ok("nproc").trim(), "1");

    let before = ct.cgroup_stat("cpu.stat", "usage_usec");
    let wall = Instant::now();
    ct.exec("timeout 3 sh -c 'while :; do :; done'");
    let elapsed = wall.elapsed().as_micros() as f64;
    let used = (ct.cgroup_stat("cpu.stat", "usage_usec") - before) as f64;
    let share = used / elapsed;
    assert!(
        (0.3..=0.65).contains(&share),
        "a busy loop under cpulimit 0.5 used {:.0}% of one CPU",
        share * 100.0
    );
    assert!(ct.cgroup_stat("cpu.stat", "nr_throttled") > 0);
}

#[test]
#[ignore = "needs cgroup v2 memory/cpu/cpuset/pids controllers: run tests/vm/run"]
fn set_on_a_running_container_writes_its_cgroup_at_once() {
    let root = TestRoot::new();
    let ct = Ct::start(&root, 806, &["--memory", "128", "--swap", "0"]);
    assert_eq!(ct.cgroup_file("memory.max"), (128u64 << 20).to_string());
    root.pct_ok(&[
        "set",
        "806",
        "--memory",
        "256",
        "--swap",
        "64",
        "--cpulimit",
        "1.5",
        "--cpuunits",
        "200",
    ]);
    assert_eq!(ct.cgroup_file("memory.max"), (256u64 << 20).to_string());
    assert_eq!(ct.cgroup_file("memory.swap.max"), (64u64 << 20).to_string());
    assert_eq!(ct.cgroup_file("cpu.max"), "150000 100000");
    assert_eq!(ct.cgroup_file("cpu.weight"), "200");
    // Applied, not pending.
    let config = fs::read_to_string(root.join("etc/pve/lxc/806.conf")).unwrap();
    assert!(config.contains("memory: 256\n"), "{config}");
    assert!(!config.contains("[pve:pending]"), "{config}");
    // Usage comes from the cgroup; every limit is enforced here.
    let status = root.pct_ok(&["status", "806", "--verbose"]);
    let mem: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("mem: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(mem > 0 && mem < 256 << 20, "mem {mem}");
    assert!(status.contains("pressurememorysome: "), "{status}");
    assert!(!status.contains("unenforced"), "{status}");

    root.pct_ok(&["set", "806", "--delete", "cpulimit,cpuunits"]);
    assert_eq!(ct.cgroup_file("cpu.max"), "max 100000");
    assert_eq!(ct.cgroup_file("cpu.weight"), "100");

    // Freeze and thaw.
    root.pct_ok(&["suspend", "806"]);
    assert!(ct.cgroup_file("cgroup.events").contains("frozen 1"));
    root.pct_ok(&["resume", "806"]);
    assert!(ct.cgroup_file("cgroup.events").contains("frozen 0"));
    ct.exec_ok("true");

    // Lowering memory below what the container uses takes effect at once too.
    root.pct_ok(&["set", "806", "--memory", "64", "--swap", "0"]);
    assert_eq!(ct.cgroup_file("memory.max"), (64u64 << 20).to_string());
    let (code, _, _) = ct.exec("dd if=/dev/zero of=/dev/null bs=128M count=1 2>/dev/null");
    assert_eq!(code, 128 + libc::SIGKILL);
}

#[test]
#[ignore = "needs cgroup v2 memory/cpu/cpuset/pids controllers: run tests/vm/run"]
fn the_device_filter_refuses_a_disk_to_a_privileged_container() {
    let root = TestRoot::new();
    let ct = Ct::start(&root, 807, &["--unprivileged", "0"]);
    // loop0 is a block device (7:0): the node can be made, not opened.
    let (code, _, err) = ct.exec("mknod /tmp/disk b 7 0 && head -c 1 /tmp/disk");
    assert_ne!(code, 0);
    assert!(err.contains("Operation not permitted"), "{err}");
    ct.exec_ok("head -c 1 /dev/zero > /dev/null && echo ok > /dev/null");
}
