//! pct compatibility with real containers (run as root): `create --start`, `destroy --force`
//! of a running container, and `df` of a running one.
//!
//! Each test has its own host root and CTID (93xx, this file's range), and a guard that
//! stops its container and removes its cgroup even when the test fails.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::ct::cgroup2_root;
use common::{TestRoot, busybox_template, monitor_pids};

/// Stops the container and removes its cgroups when the test ends, however it ends.
struct Ct {
    root: TestRoot,
    vmid: u32,
}

impl Ct {
    /// A fresh root with a busybox container `vmid` created with `extra` options.
    fn create(vmid: u32, extra: &[&str]) -> (Ct, i32, String, String) {
        let root = TestRoot::new();
        let template = root.install_template(&busybox_template());
        let id = vmid.to_string();
        let mut args = vec![
            "create",
            &id,
            &template,
            "--rootfs",
            "local:1",
            "--hostname",
            "compat",
        ];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = root.pct(&args);
        (Ct { root, vmid }, code, stdout, stderr)
    }

    fn id(&self) -> String {
        self.vmid.to_string()
    }

    fn status(&self) -> String {
        self.root.pct_ok(&["status", &self.id()]).trim().to_string()
    }

    fn cgroup(&self) -> Option<PathBuf> {
        cgroup2_root().map(|root| root.join(format!("lxc/{}", self.vmid)))
    }

    fn monitor_cgroup(&self) -> Option<PathBuf> {
        cgroup2_root().map(|root| root.join(format!("lxc.monitor/{}", self.vmid)))
    }

    /// No process, cgroup, monitor, state, mount or loop device of the container is left.
    fn assert_gone(&self) {
        let since = Instant::now();
        while !monitor_pids(self.vmid).is_empty() && since.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(monitor_pids(self.vmid), Vec::<u32>::new(), "monitor left");
        for cgroup in [self.cgroup(), self.monitor_cgroup()].into_iter().flatten() {
            assert!(!cgroup.exists(), "cgroup left: {}", cgroup.display());
        }
        let state = self.root.join(&format!("run/corral/{}", self.vmid));
        assert!(!state.exists(), "state left: {}", state.display());
        assert_eq!(
            self.root.mounts_below(),
            Vec::<PathBuf>::new(),
            "mounts left"
        );
        assert_eq!(
            common::loop_devices_below(self.root.path()),
            Vec::<String>::new(),
            "loop devices left"
        );
    }
}

impl Drop for Ct {
    fn drop(&mut self) {
        common::ct::force_cleanup(&self.root, self.vmid);
    }
}

#[test]
fn create_with_start_starts_the_container() {
    let (ct, code, _, stderr) = Ct::create(9351, &["--start", "1"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ct.status(), "status: running");
    let config = ct.root.pct_ok(&["config", &ct.id()]);
    assert!(
        !config.contains("startup:"),
        "--start became --startup:\n{config}"
    );
    ct.root.pct_ok(&["stop", &ct.id()]);
    ct.assert_gone();

    // `--start 0`, as pct, creates without starting.
    let (ct, code, _, stderr) = Ct::create(9352, &["--start", "0"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ct.status(), "status: stopped");
}

#[test]
fn destroy_force_stops_a_running_container_and_leaves_nothing() {
    let (ct, code, _, stderr) = Ct::create(9353, &[]);
    assert_eq!(code, 0, "{stderr}");
    ct.root.pct_ok(&["start", &ct.id()]);
    assert_eq!(ct.status(), "status: running");

    let (code, _, stderr) = ct.root.pct(&["destroy", &ct.id()]);
    assert_eq!(
        (code, stderr.as_str()),
        (255, "unable to destroy CT 9353 - container is running\n")
    );
    assert_eq!(ct.status(), "status: running");

    let (code, _, stderr) = ct.root.pct(&["destroy", &ct.id(), "--force"]);
    assert_eq!(
        (code, stderr.as_str()),
        (0, "forced to stop CT 9353 before destroying!\n")
    );
    assert!(!ct.root.join("etc/pve/lxc/9353.conf").exists());
    assert!(!ct.root.join("var/lib/vz/images/9353").exists());
    ct.assert_gone();
}

#[test]
fn df_of_a_running_container_reads_through_it_without_a_lock() {
    let (ct, code, _, stderr) = Ct::create(9354, &["--mp0", "local:1,mp=/data"]);
    assert_eq!(code, 0, "{stderr}");
    ct.root.pct_ok(&["start", &ct.id()]);
    // A lock pct's df of a running container does not look at (a stopped one would be
    // refused: it takes `lock: mounted`).
    let config = ct.root.append_config(ct.vmid, "lock: backup\n");
    let df = ct.root.pct_ok(&["df", &ct.id()]);
    let rows: Vec<&str> = df.lines().collect();
    assert_eq!(rows.len(), 3, "{df}");
    assert!(rows[0].starts_with("MP     Volume"), "{df}");
    assert!(
        rows[1].starts_with("rootfs local:9354/vm-9354-disk-0.raw ") && rows[1].ends_with(" /"),
        "{df}"
    );
    assert!(
        rows[2].starts_with("mp0    local:9354/vm-9354-disk-1.raw ") && rows[2].ends_with(" /data"),
        "{df}"
    );
    // Both volumes are 1G file systems of their own, seen from inside the container (the
    // host's file system below the test root is far larger).
    for row in &rows[1..] {
        let size = row.split_whitespace().nth(2).unwrap();
        let small = size.ends_with('M')
            || size
                .strip_suffix('G')
                .is_some_and(|g| g.parse::<f64>().unwrap() <= 1.0);
        assert!(small, "{row}");
    }
    assert!(
        ct.root
            .read("etc/pve/lxc/9354.conf")
            .contains("lock: backup\n"),
        "df changed the lock"
    );
    ct.root.write("etc/pve/lxc/9354.conf", &config);
    assert_eq!(ct.status(), "status: running");
    ct.root.pct_ok(&["stop", &ct.id()]);
    let df = ct.root.pct_ok(&["df", &ct.id()]);
    assert_eq!(df.lines().count(), 3, "{df}");
    assert!(!ct.root.read("etc/pve/lxc/9354.conf").contains("lock:"));
    ct.assert_gone();
}
