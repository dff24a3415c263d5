//! The monitor and the run state under stress, as admins meet it: consoles detached while
//! the container keeps writing, a monitor told to terminate, run state lost or stale after
//! a crash of the tooling, host mounts the monitor must not pin, suspended containers.
//!
//! Each test has its own host root and CTIDs (cgroups are global: the 95xx range is this
//! file's), and a guard that stops its container and removes its cgroups even on failure.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::ct::{
    Ct, PtySession, cgroup2_root, container_cgroup, create, rootfs, signal_caught, signal_ignored,
    trap_init, wait_until,
};
use common::{TestRoot, cached_template, monitor_pids};

fn busybox_template() -> PathBuf {
    cached_template("make-busybox-template", &[], "busybox-")
}

/// A busybox container created and started, once its rcS has run.
fn started<'a>(root: &'a TestRoot, vmid: u32, extra: &[&str]) -> Ct<'a> {
    let template = root.install_template(&busybox_template());
    create(root, vmid, &template, true, extra);
    let ct = Ct { root, vmid };
    ct.pct_ok(&["start", &ct.id()]);
    ct
}

fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) of a pid this test found.
    assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0, "kill {pid}");
}

/// `pct console` in each cmode, left with the escape key; then the container writes to its
/// console and ttys. The monitor must go on serving: exec, status and shutdown answer.
#[test]
fn a_detached_console_leaves_the_monitor_serving_in_every_cmode() {
    for (vmid, cmode) in [(9501, "console"), (9502, "tty"), (9503, "shell")] {
        let root = TestRoot::new();
        let ct = started(&root, vmid, &["--cmode", cmode]);
        let id = ct.id();
        ct.wait_for_output("hostname", "busybox\n", Duration::from_secs(20));
        let mut session = PtySession::spawn(&root, &["console", &id]);
        if cmode == "shell" {
            session.expect("#");
        } else {
            session.expect("Type <Ctrl+a q> to exit the console");
            session.send(b"\r");
        }
        session.send(b"echo attached-$((6*7))\r");
        session.expect("attached-42");
        if cmode == "shell" {
            session.send(b"exit\r");
        } else {
            session.send(b"\x01q");
        }
        assert_eq!(session.wait(), 0, "{cmode}");
        for _ in 0..3 {
            let (code, _, err) = root.pct_within(
                &[
                    "exec",
                    &id,
                    "--",
                    "sh",
                    "-c",
                    "echo to-console >/dev/console; echo to-tty1 >/dev/tty1; \
                     echo to-tty2 >/dev/tty2",
                ],
                Duration::from_secs(20),
            );
            assert_eq!(code, 0, "{cmode}: {err}");
        }
        let (_, out, _) = root.pct_within(&["status", &id], Duration::from_secs(20));
        assert_eq!(out.trim(), "status: running", "{cmode}");
        let (code, _, err) = root.pct_within(
            &["shutdown", &id, "--timeout", "60"],
            Duration::from_secs(90),
        );
        assert_eq!(code, 0, "{cmode}: shutdown: {err}");
        ct.assert_nothing_left();
    }
}

/// SIGTERM to the monitor (what `systemctl stop` sends) halts the container as `pct
/// shutdown` does, then tears down; a second one kills a container that ignores the halt.
#[test]
fn a_terminated_monitor_shuts_its_container_down_cleanly() {
    let root = TestRoot::new();
    let template = root.install_template(&busybox_template());
    create(&root, 9511, &template, true, &[]);
    root.append_config(9511, &trap_init("touch /halted; exit 0"));
    let ct = Ct {
        root: &root,
        vmid: 9511,
    };
    ct.pct_ok(&["start", "9511"]);
    // The trap is set once the shell runs its loop; before, the halt signal would kill it.
    let init = ct.init_pid();
    wait_until("init's PWR handler", Duration::from_secs(10), || {
        signal_caught(init, libc::SIGPWR)
    });
    let monitor = monitor_pids(9511)[0];
    signal(monitor, libc::SIGTERM);
    ct.wait_for_status("stopped", Duration::from_secs(20));
    assert!(
        rootfs(&root, 9511).join("halted").exists(),
        "init never saw the halt signal: the container was killed, not shut down"
    );
    ct.assert_nothing_left();

    // An init that ignores the halt: the second SIGTERM kills it at once.
    let config_path = root.join("etc/pve/lxc/9511.conf");
    let config = fs::read_to_string(&config_path).unwrap();
    fs::write(&config_path, config.replace("touch /halted; exit 0", "")).unwrap();
    fs::remove_file(rootfs(&root, 9511).join("halted")).unwrap();
    ct.pct_ok(&["start", "9511"]);
    let init = ct.init_pid();
    wait_until("init ignores PWR", Duration::from_secs(10), || {
        signal_ignored(init, libc::SIGPWR)
    });
    let monitor = monitor_pids(9511)[0];
    signal(monitor, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(ct.status(), "status: running", "the halt was ignored");
    assert_eq!(
        monitor_pids(9511),
        [monitor],
        "the monitor still supervises"
    );
    signal(monitor, libc::SIGTERM);
    ct.wait_for_status("stopped", Duration::from_secs(10));
    ct.assert_nothing_left();
}

/// The tooling crashed (monitor gone, run state lost) but the container did not: it is
/// still running for every command, destroy and mount refuse, exec reaches it, stop stops
/// it and clears what is left.
#[test]
fn a_running_container_whose_run_state_was_lost_is_still_running() {
    let root = TestRoot::new();
    let ct = started(&root, 9521, &[]);
    ct.wait_for_output("hostname", "busybox\n", Duration::from_secs(20));
    ct.exec_ok("echo precious > /root/data");
    signal(monitor_pids(9521)[0], libc::SIGKILL);
    wait_until("monitor gone", Duration::from_secs(5), || {
        monitor_pids(9521).is_empty()
    });
    fs::remove_dir_all(root.join("run/corral")).unwrap();

    assert_eq!(ct.status(), "status: running");
    let list = ct.pct_ok(&["list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("9521") && l.contains("running")),
        "{list}"
    );
    let (code, _, err) = ct.pct(&["destroy", "9521"]);
    assert_ne!(code, 0);
    assert!(err.contains("container is running"), "{err}");
    let (code, _, err) = ct.pct(&["destroy", "9521", "--purge"]);
    assert_ne!(code, 0, "{err}");
    let (code, _, err) = ct.pct(&["mount", "9521"]);
    assert_ne!(code, 0);
    assert!(err.contains("container is running"), "{err}");
    assert!(
        rootfs(&root, 9521).join("root/data").exists(),
        "the rootfs was touched"
    );
    assert_eq!(ct.exec_ok("cat /root/data"), "precious\n");

    ct.pct_ok(&["stop", "9521"]);
    ct.assert_nothing_left();
}

/// A stale init record naming an unrelated live process (same pid and start time): nothing
/// signals it; stop says the container is not running and clears the leftover cgroups and
/// run state, as destroy does.
#[test]
fn a_stale_init_record_never_signals_an_unrelated_process() {
    let root = TestRoot::new();
    let ct = started(&root, 9531, &[]);
    let mut bystander = Command::new("sleep").arg("300").spawn().unwrap();
    let guard = KillOnDrop(bystander.id());
    for command in [["stop", "9531"], ["shutdown", "9531"], ["destroy", "9531"]] {
        if ct.status() == "status: stopped" {
            ct.pct_ok(&["start", "9531"]);
        }
        crash_with_container(&root, 9531);
        point_init_record_at(&root, 9531, bystander.id());
        assert_eq!(ct.status(), "status: stopped", "{command:?}");
        let (code, _, err) = ct.pct(&command);
        if command[0] == "destroy" {
            assert_eq!(code, 0, "{err}");
            assert!(!root.join("etc/pve/lxc/9531.conf").exists());
        } else {
            assert_ne!(code, 0);
            assert!(err.contains("CT 9531 not running"), "{command:?}: {err}");
        }
        assert!(
            bystander.try_wait().unwrap().is_none(),
            "{command:?} signalled an unrelated process"
        );
        assert!(
            !root.join("run/corral/9531").exists(),
            "{command:?}: run state left"
        );
        if let Some(cgroup) = container_cgroup(9531) {
            assert!(!cgroup.exists(), "{command:?}: container cgroup left");
        }
        if let Some(cgroups) = cgroup2_root() {
            assert!(
                !cgroups.join("lxc.monitor/9531").exists(),
                "{command:?}: monitor cgroup left"
            );
        }
    }
    drop(guard);
}

struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: kill(2) of the child this test spawned.
        unsafe { libc::kill(self.0 as i32, libc::SIGKILL) };
    }
}

/// Monitor and container die at once (SIGKILL to both), leaving cgroups and run state.
fn crash_with_container(root: &TestRoot, vmid: u32) {
    let monitor = monitor_pids(vmid)[0];
    signal(monitor, libc::SIGKILL);
    wait_until("monitor gone", Duration::from_secs(5), || {
        monitor_pids(vmid).is_empty()
    });
    let cgroup = container_cgroup(vmid).expect("a cgroup v2 hierarchy");
    fs::write(cgroup.join("cgroup.kill"), "1").unwrap();
    wait_until("container gone", Duration::from_secs(5), || {
        fs::read_to_string(cgroup.join("cgroup.events")).is_ok_and(|e| e.contains("populated 0"))
    });
    assert!(root.join(&format!("run/corral/{vmid}/init.json")).exists());
}

/// Rewrite the init record to name `pid`, with its real start time.
fn point_init_record_at(root: &TestRoot, vmid: u32, pid: u32) {
    let path = root.join(&format!("run/corral/{vmid}/init.json"));
    let mut init: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).expect("init.json is JSON");
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let start_time: u64 = stat[stat.rfind(')').unwrap() + 2..]
        .split(' ')
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    init["pid"] = pid.into();
    init["start_time"] = start_time.into();
    fs::write(&path, init.to_string()).unwrap();
}

/// The monitor's mounts are slaves of the host's: a host mount made before the start and
/// unmounted while the container runs is gone from the monitor's namespace too.
#[test]
fn the_monitor_does_not_pin_host_mounts() {
    let root = TestRoot::new();
    // As on a systemd host, where every mount is shared (this machine's are private): an
    // unmount propagates through the peer group of the mount it is made on.
    let shared = root.join("shared");
    let host_mount = shared.join("scratch");
    fs::create_dir_all(&shared).unwrap();
    run("mount", &["--bind", path(&shared), path(&shared)]);
    run("mount", &["--make-shared", path(&shared)]);
    fs::create_dir_all(&host_mount).unwrap();
    run(
        "mount",
        &["-t", "tmpfs", "corral-scratch", path(&host_mount)],
    );
    let ct = started(&root, 9541, &[]);
    let monitor = monitor_pids(9541)[0];
    let seen = |pid: u32| {
        fs::read_to_string(format!("/proc/{pid}/mountinfo"))
            .unwrap()
            .contains(" corral-scratch ")
    };
    assert!(
        seen(monitor),
        "positive control: the monitor sees the host mount"
    );
    run("umount", &[path(&host_mount)]);
    assert!(
        !seen(monitor),
        "the monitor still holds the unmounted host mount"
    );
    ct.pct_ok(&["stop", "9541"]);
    ct.assert_nothing_left();
}

fn path(path: &std::path::Path) -> &str {
    path.to_str().unwrap()
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).status().unwrap();
    assert!(status.success(), "{program} {args:?}");
}

/// `pct exec` into a suspended container says so instead of hanging; after resume it runs.
/// A temporary file a killed write left in the run state goes with the rest at stop.
#[test]
fn exec_into_a_suspended_container_says_it_is_suspended() {
    let root = TestRoot::new();
    let ct = started(&root, 9542, &[]);
    ct.pct_ok(&["suspend", "9542"]);
    let (code, _, err) = root.pct_within(&["exec", "9542", "--", "true"], Duration::from_secs(10));
    assert_ne!(code, 0);
    assert!(err.contains("CT 9542 is suspended"), "{err}");
    ct.pct_ok(&["resume", "9542"]);
    assert_eq!(ct.exec_ok("echo thawed"), "thawed\n");
    fs::write(root.join("run/corral/9542/plan.tmp.4242"), "{").unwrap();
    ct.pct_ok(&["stop", "9542"]);
    ct.assert_nothing_left();
}
