//! What the README promises and no other test proved: a graceful shutdown reaches init's
//! handler, `--forceStop`, startall/stopall order, `exec --keep-env`, `console --escape`,
//! `enter` following a resize, the `status --verbose` fields, `strict_limits` in the host's
//! config, nesting's mounts, mknod=1 in the caller's directory and umask, and destroy keeping
//! unreferenced disks unless asked.
//!
//! Each test has its own host root and CTIDs (cgroups are global: the 91xx range is this
//! file's), and a guard that stops its containers and removes their cgroups even on failure.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::ct::{
    Ct, PtySession, cgroup2_root, create, rootfs, signal_caught, signal_ignored, trap_init,
    wait_until,
};
use common::{TestRoot, cached_template, monitor_pids, skip_visibly};

fn busybox_template() -> PathBuf {
    cached_template("make-busybox-template", &[], "busybox-")
}

/// A busybox container created (unprivileged unless `extra` says otherwise), not started.
fn created<'a>(root: &'a TestRoot, vmid: u32, extra: &[&str]) -> Ct<'a> {
    let template = root.install_template(&busybox_template());
    create(root, vmid, &template, true, extra);
    Ct { root, vmid }
}

fn kill_monitor(vmid: u32) {
    let monitor = monitor_pids(vmid)[0];
    // SAFETY: kill(2) of this test's own container monitor.
    unsafe { libc::kill(monitor as i32, libc::SIGKILL) };
    wait_until("monitor gone", Duration::from_secs(5), || {
        monitor_pids(vmid).is_empty()
    });
}

// ---------------------------------------------------------------------------------------
// Shutdown.

/// `pct shutdown` halts init through its halt signal's handler, with the monitor and
/// without it (then pct signals init itself): a kill would pass `status: stopped` too, but
/// leave no `/halted`.
#[test]
fn shutdown_reaches_init_through_its_halt_handler() {
    let root = TestRoot::new();
    let ct = created(&root, 9101, &[]);
    root.append_config(9101, &trap_init("touch /halted; exit 0"));
    let halted = rootfs(&root, 9101).join("halted");
    for monitor_killed in [false, true] {
        let _ = fs::remove_file(&halted);
        // Not systemd: the halt signal is SIGPWR, as LXC's.
        let (code, _, err) = ct.pct(&["start", "9101", "--debug"]);
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("monitor: halt signal is SIGPWR\n"), "{err}");
        let init = ct.init_pid();
        wait_until("init's PWR handler", Duration::from_secs(10), || {
            signal_caught(init, libc::SIGPWR)
        });
        if monitor_killed {
            kill_monitor(9101);
        }
        let (code, _, err) = root.pct_within(
            &["shutdown", "9101", "--timeout", "20"],
            Duration::from_secs(40),
        );
        assert_eq!(code, 0, "monitor killed: {monitor_killed}: {err}");
        assert!(
            halted.exists(),
            "monitor killed: {monitor_killed}: init never ran its halt handler"
        );
        ct.assert_nothing_left();
    }
}

/// An init that ignores the halt signal: `pct shutdown --timeout N` gives up after N
/// seconds with pct's message and leaves it running; `--forceStop` kills it then.
#[test]
fn shutdown_of_an_init_ignoring_the_halt_fails_and_force_stop_kills_it() {
    let root = TestRoot::new();
    let ct = created(&root, 9102, &[]);
    root.append_config(9102, &trap_init(""));
    ct.pct_ok(&["start", "9102"]);
    let init = ct.init_pid();
    wait_until("init ignores PWR", Duration::from_secs(10), || {
        signal_ignored(init, libc::SIGPWR)
    });

    let started = Instant::now();
    let (code, _, err) = root.pct_within(
        &["shutdown", "9102", "--timeout", "2"],
        Duration::from_secs(30),
    );
    assert_eq!(code, 255, "{err}");
    assert!(err.contains("container did not stop"), "{err}");
    assert!(started.elapsed() >= Duration::from_secs(2), "gave up early");
    assert_eq!(ct.status(), "status: running");
    assert_eq!(ct.init_pid(), init, "init was replaced or killed");

    let started = Instant::now();
    let (code, _, err) = root.pct_within(
        &["shutdown", "9102", "--timeout", "2", "--forceStop", "1"],
        Duration::from_secs(30),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "--forceStop waited {:?}",
        started.elapsed()
    );
    ct.assert_nothing_left();
}

// ---------------------------------------------------------------------------------------
// startall / stopall.

/// A hookscript that appends `<vmid> <phase> <nanoseconds>` to `hook.log` in the host root.
fn timing_hookscript(root: &TestRoot) -> String {
    let log = root.join("hook.log");
    root.write(
        "var/lib/vz/snippets/hook.sh",
        &format!(
            "#!/bin/sh\necho \"$1 $2 $(date +%s%N)\" >> {}\n",
            log.display()
        ),
    );
    let path = root.join("var/lib/vz/snippets/hook.sh");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    "local:snippets/hook.sh".into()
}

/// (vmid, nanoseconds) of each hook call for `phase`, in order.
fn hook_calls(root: &TestRoot, phase: &str) -> Vec<(u32, u128)> {
    fs::read_to_string(root.join("hook.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            (fields.get(1) == Some(&phase))
                .then(|| (fields[0].parse().unwrap(), fields[2].parse().unwrap()))
        })
        .collect()
}

/// startall starts the `onboot` containers, those with a startup `order` first (ascending),
/// then the rest by vmid, waiting `up` seconds after one that sets it; stopall shuts every
/// running one down in the reverse order, each within its `down` timeout.
#[test]
fn startall_and_stopall_follow_the_startup_order() {
    let root = TestRoot::new();
    let template = root.install_template(&busybox_template());
    let hook = timing_hookscript(&root);
    for (vmid, options) in [
        (9103, &["--onboot", "1", "--startup", "order=2,down=1"][..]),
        (9104, &["--onboot", "1", "--startup", "order=1,up=2"][..]),
        (9105, &["--onboot", "0"][..]),
        (9106, &["--onboot", "1"][..]),
    ] {
        let mut extra = vec!["--hookscript", hook.as_str()];
        extra.extend_from_slice(options);
        create(&root, vmid, &template, true, &extra);
    }
    let guards: Vec<Ct<'_>> = (9103..=9106).map(|vmid| Ct { root: &root, vmid }).collect();
    // 9103 ignores the halt: stopall must kill it after its `down`, not the 60 s timeout.
    root.append_config(9103, &trap_init(""));

    root.pct_ok(&["startall"]);
    let starts = hook_calls(&root, "pre-start");
    let order: Vec<u32> = starts.iter().map(|(vmid, _)| *vmid).collect();
    assert_eq!(order, [9104, 9103, 9106], "start order");
    let after_up = hook_calls(&root, "post-start")[0];
    assert_eq!(after_up.0, 9104);
    let waited = Duration::from_nanos((starts[1].1 - after_up.1) as u64);
    assert!(
        waited >= Duration::from_secs(2),
        "started the next one {waited:?} after a container with up=2"
    );
    let status = |vmid: u32| root.pct_ok(&["status", &vmid.to_string()]);
    assert_eq!(status(9105).trim(), "status: stopped", "onboot 0 started");

    root.pct_ok(&["start", "9105"]);
    let init = guards[0].init_pid();
    wait_until("9103 ignores PWR", Duration::from_secs(10), || {
        signal_ignored(init, libc::SIGPWR)
    });
    fs::write(root.join("hook.log"), "").unwrap();
    let started = Instant::now();
    let (code, _, err) = root.pct_within(&["stopall"], Duration::from_secs(120));
    assert_eq!(code, 0, "{err}");
    let order: Vec<u32> = hook_calls(&root, "pre-stop")
        .iter()
        .map(|(vmid, _)| *vmid)
        .collect();
    assert_eq!(order, [9106, 9105, 9103, 9104], "stop order");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "stopall took {:?}: 9103's down=1 was not its timeout",
        started.elapsed()
    );
    for vmid in 9103..=9106 {
        assert_eq!(status(vmid).trim(), "status: stopped", "{vmid}");
    }
}

// ---------------------------------------------------------------------------------------
// exec, console, enter, status.

/// `pct exec` runs the command in a clean environment; `--keep-env` passes the caller's.
#[test]
fn exec_keeps_the_callers_environment_only_when_asked() {
    let root = TestRoot::new();
    let ct = created(&root, 9107, &[]);
    ct.pct_ok(&["start", "9107"]);
    let exec = |keep: bool| {
        let mut args = vec!["exec", "9107"];
        if keep {
            args.push("--keep-env");
        }
        args.extend(["--", "sh", "-c", "echo \"[$CORRAL_PROBE_VARIABLE]\""]);
        let output = Command::new(common::pct_binary())
            .args(&args)
            .env("CORRAL_ROOT", root.path())
            .env("CORRAL_PROBE_VARIABLE", "from-the-host")
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(exec(false), "[]\n");
    assert_eq!(exec(true), "[from-the-host]\n");
    ct.pct_ok(&["stop", "9107"]);
    ct.assert_nothing_left();
}

/// `pct console --escape ^b`: the banner names it, Ctrl+b q leaves, and Ctrl+a, no longer
/// the escape, reaches the container.
#[test]
fn console_escape_key_is_the_one_given() {
    let root = TestRoot::new();
    let ct = created(&root, 9109, &[]);
    ct.pct_ok(&["start", "9109"]);
    ct.wait_for_output("hostname", "busybox\n", Duration::from_secs(20));
    let mut session = PtySession::spawn(&root, &["console", "9109", "--escape", "^b"]);
    session.expect("Type <Ctrl+b q> to exit the console");
    session.send(b"\r");
    session.send(b"\x01q\r");
    session.send(b"echo still-$((6*7))\r");
    session.expect("still-42");
    session.send(b"\x02q");
    assert_eq!(session.wait(), 0);
    assert_eq!(ct.status(), "status: running");
    ct.pct_ok(&["stop", "9109"]);
    ct.assert_nothing_left();
}

/// `pct enter` follows the caller's window: a resize reaches the container's pty.
#[test]
fn enter_follows_a_window_resize() {
    let root = TestRoot::new();
    let ct = created(&root, 9110, &[]);
    ct.pct_ok(&["start", "9110"]);
    let mut session = PtySession::spawn(&root, &["enter", "9110"]);
    session.expect("#");
    session.send(b"echo size=$(stty size)\r");
    session.expect("size=40 100");
    session.resize(33, 77);
    // SIGWINCH travels on its own: ask until the new size shows, within a deadline.
    let start = Instant::now();
    while !session.text().contains("size=33 77") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the container's pty never got the new size:\n{}",
            session.text()
        );
        session.send(b"echo size=$(stty size)\r");
        std::thread::sleep(Duration::from_millis(200));
    }
    session.send(b"exit\r");
    assert_eq!(session.wait(), 0);
    ct.pct_ok(&["stop", "9110"]);
    ct.assert_nothing_left();
}

fn fields(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// Every field `pct status --verbose` promises, with values the test knows, and the JSON
/// form saying the same.
#[test]
fn status_verbose_reports_every_field() {
    let root = TestRoot::new();
    let template = root.install_template(&busybox_template());
    root.pct_ok(&[
        "create",
        "9108",
        &template,
        "--rootfs",
        "local:1",
        "--hostname",
        "status-test",
        "--memory",
        "256",
        "--swap",
        "128",
        "--cores",
        "1",
    ]);
    let ct = Ct {
        root: &root,
        vmid: 9108,
    };
    ct.pct_ok(&["start", "9108"]);
    let started = Instant::now();
    let verbose = |root: &TestRoot| -> std::collections::BTreeMap<String, String> {
        fields(&root.pct_ok(&["status", "9108", "--verbose"]))
            .into_iter()
            .collect()
    };
    let number = |status: &std::collections::BTreeMap<String, String>, key: &str| -> f64 {
        status
            .get(key)
            .unwrap_or_else(|| panic!("no {key} in {status:?}"))
            .parse()
            .unwrap_or_else(|_| panic!("{key} is not a number: {status:?}"))
    };
    let status = verbose(&root);
    assert_eq!(status["status"], "running");
    assert_eq!(status["vmid"], "9108");
    assert_eq!(status["name"], "status-test");
    assert_eq!(status["type"], "lxc");
    let pid: u32 = status["pid"].parse().unwrap();
    let ppid = fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("PPid:").map(|p| p.trim().to_string()))
        .unwrap();
    assert_eq!(
        ppid,
        monitor_pids(9108)[0].to_string(),
        "pid is not the monitor's init"
    );
    assert_eq!(number(&status, "maxmem"), (256u64 << 20) as f64);
    assert_eq!(number(&status, "maxswap"), (128u64 << 20) as f64);
    assert_eq!(number(&status, "cpus"), 1.0);
    assert_eq!(number(&status, "maxdisk"), (1u64 << 30) as f64);
    let disk = number(&status, "disk");
    assert!(disk > 0.0 && disk < (1u64 << 30) as f64, "disk {disk}");
    for key in [
        "mem",
        "swap",
        "cpu",
        "diskread",
        "diskwrite",
        "netin",
        "netout",
        "pressurecpusome",
        "pressurecpufull",
        "pressureiosome",
        "pressureiofull",
        "pressurememorysome",
        "pressurememoryfull",
    ] {
        assert!(number(&status, key) >= 0.0, "{key}");
    }
    if cgroup2_root()
        .and_then(|root| fs::read_to_string(root.join("cgroup.controllers")).ok())
        .is_some_and(|controllers| controllers.split(' ').any(|c| c.trim() == "memory"))
    {
        assert!(number(&status, "mem") > 0.0, "mem with a memory controller");
    } else {
        skip_visibly(
            "status_verbose_reports_every_field",
            "mem > 0: this host's cgroup v2 tree has no memory controller",
        );
    }
    // uptime counts from the start, in seconds.
    wait_until("uptime ticks", Duration::from_secs(5), || {
        number(&verbose(&root), "uptime") >= 1.0
    });
    let uptime = number(&verbose(&root), "uptime");
    assert!(
        uptime <= started.elapsed().as_secs_f64() + 1.0,
        "uptime {uptime} longer than the container has run"
    );

    let json: serde_json::Value = serde_json::from_str(&root.pct_ok(&[
        "status",
        "9108",
        "--verbose",
        "--output-format",
        "json",
    ]))
    .unwrap();
    assert_eq!(json["name"], "status-test");
    assert_eq!(json["pid"].as_u64(), Some(pid as u64));
    assert_eq!(json["maxmem"].as_u64(), Some(256 << 20));
    assert_eq!(json["status"], "running");
    ct.pct_ok(&["stop", "9108"]);
    ct.assert_nothing_left();
}

/// `pct start --dry-run --output-format json`: the plan as JSON, naming what the config
/// asks for, and nothing started.
#[test]
fn dry_run_prints_the_plan_as_json() {
    let root = TestRoot::new();
    let ct = created(&root, 9115, &["--memory", "300", "--features", "nesting=1"]);
    root.append_config(9115, "lxc.init.cmd: /bin/sh -c 'exec sleep 600'\n");
    let out = ct.pct_ok(&["start", "9115", "--dry-run", "--output-format", "json"]);
    let plan: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(plan["vmid"], 9115);
    assert_eq!(plan["hostname"], "ct-test");
    assert_eq!(plan["unprivileged"], true);
    assert_eq!(plan["nesting"], true);
    assert_eq!(
        plan["init"]["argv"],
        serde_json::json!(["/bin/sh", "-c", "exec sleep 600"])
    );
    let writes = plan["cgroup"]["writes"].as_array().unwrap();
    assert!(
        writes
            .iter()
            .any(|w| w["key"] == "memory.max" && w["value"].as_str() == Some("314572800")),
        "{writes:?}"
    );
    assert!(plan["masked_paths"].as_array().unwrap().len() > 5);
    assert_eq!(ct.status(), "status: stopped");
    assert!(!root.join("run/corral/9115").exists(), "dry run left state");
}

/// `pct start --dry-run` checks resource limits, signals, capability names and mount
/// options while planning: a bad one is refused there, with its key, instead of failing the
/// cloned child. The good ones show in the JSON plan as the config's strings.
#[test]
fn dry_run_refuses_bad_limits_signals_capabilities_and_mount_options() {
    let root = TestRoot::new();
    let ct = created(&root, 9150, &[]);
    let config = root.read("etc/pve/lxc/9150.conf");
    for (line, message) in [
        (
            "lxc.prlimit.bogus: 5",
            "lxc.prlimit.bogus: unknown resource",
        ),
        (
            "lxc.prlimit.nofile: 4096:1024",
            "lxc.prlimit.nofile: the soft limit is above the hard limit in '4096:1024'",
        ),
        (
            "lxc.signal.halt: SIGBOGUS",
            "lxc.signal.halt: unknown signal 'SIGBOGUS'",
        ),
        ("lxc.cap.drop: sys_bogus", "unknown capability 'sys_bogus'"),
        (
            "lxc.mount.entry: /dev/null dev/null none bind,create=bogus 0 0",
            "lxc.mount.entry: mount option 'create=bogus' is not supported by corral",
        ),
        (
            "lxc.mount.entry: /srv srv none bind,size=1M 0 0",
            "lxc.mount.entry: mount option 'size=1M' does not apply to a bind mount",
        ),
    ] {
        root.write("etc/pve/lxc/9150.conf", &format!("{config}{line}\n"));
        let (code, stdout, stderr) = ct.pct(&["start", "9150", "--dry-run"]);
        assert_ne!(code, 0, "{line}: {stdout}");
        assert!(stderr.contains(message), "{line}: {stderr}");
    }
    assert_eq!(ct.status(), "status: stopped");

    root.write(
        "etc/pve/lxc/9150.conf",
        &format!(
            "{config}lxc.prlimit.nofile: 1024:4096\nlxc.signal.halt: sigterm\nlxc.cap.drop: CAP_SYS_BOOT\nlxc.mount.entry: tmpfs mnt tmpfs rw,nosuid,size=1M 0 0\n"
        ),
    );
    let out = ct.pct_ok(&["start", "9150", "--dry-run", "--output-format", "json"]);
    let plan: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(
        plan["rlimits"],
        serde_json::json!([["nofile", "1024:4096"]])
    );
    assert_eq!(plan["halt_signal"], "SIGTERM");
    assert_eq!(plan["cap_drop"], serde_json::json!(["sys_boot"]));
    assert_eq!(
        plan["mount_entries"][0]["options"],
        serde_json::json!(["rw", "nosuid", "size=1M"])
    );
    let text = ct.pct_ok(&["start", "9150", "--dry-run"]);
    assert!(text.contains("prlimit: nofile = 1024:4096\n"), "{text}");
    assert!(
        text.contains("mount entry: tmpfs mnt tmpfs rw,nosuid,size=1M\n"),
        "{text}"
    );
    assert!(!root.join("run/corral/9150").exists(), "dry run left state");
}

// ---------------------------------------------------------------------------------------
// Host settings and features.

/// `strict_limits: 1` in `etc/corral/host.conf` refuses a start with a limit this host
/// cannot enforce, as `--strict-limits` does.
#[test]
fn strict_limits_in_host_conf_refuses_unenforceable_limits() {
    let root = TestRoot::new();
    let ct = created(&root, 9111, &[]);
    let memory = cgroup2_root()
        .and_then(|root| fs::read_to_string(root.join("cgroup.controllers")).ok())
        .is_some_and(|controllers| controllers.split_whitespace().any(|c| c == "memory"));
    if memory {
        skip_visibly(
            "strict_limits_in_host_conf_refuses_unenforceable_limits",
            "every limit is enforceable on this host (it has the memory controller)",
        );
        return;
    }
    root.write("etc/corral/host.conf", "strict_limits: 1\n");
    let (code, _, err) = ct.pct(&["start", "9111"]);
    assert_ne!(code, 0, "started despite strict_limits");
    assert!(err.contains("cannot enforce memory.max"), "{err}");
    ct.assert_nothing_left();
    // Positive control: without the setting the same container starts.
    root.write("etc/corral/host.conf", "strict_limits: 0\n");
    ct.pct_ok(&["start", "9111"]);
    ct.pct_ok(&["stop", "9111"]);
    ct.assert_nothing_left();
}

/// Mount points as the container's own mountinfo shows them: (mount point, fs type, options).
fn mounts(ct: &Ct<'_>) -> Vec<(String, String, String)> {
    ct.exec_ok("cat /proc/self/mountinfo")
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let fstype = right.split(' ').next()?;
            Some((
                left.get(4)?.to_string(),
                fstype.to_string(),
                left.get(5)?.to_string(),
            ))
        })
        .collect()
}

/// `lxc.mount.entry` flags are the mount's own: nosuid and noexec on a bind, noatime and
/// nodev on a tmpfs (handed to the file system, they would fail the start); a mount point's
/// `mountoptions` are its flags too.
#[test]
fn mount_entry_flags_apply_to_binds_and_file_systems() {
    let root = TestRoot::new();
    let ct = created(&root, 9152, &[]);
    let shared = root.join("shared");
    fs::create_dir_all(&shared).unwrap();
    root.append_config(
        9152,
        &format!(
            // A bind mount point's path is under the host root; an entry's is the machine's.
            "mp0: /shared,mp=/data,mountoptions=nodev;noexec\nlxc.mount.entry: {} srv none bind,create=dir,nosuid,noexec 0 0\nlxc.mount.entry: tmpfs mnt tmpfs rw,noatime,nodev,size=1M 0 0\n",
            shared.display()
        ),
    );
    ct.pct_ok(&["start", "9152"]);
    let mounted = mounts(&ct);
    let options = |at: &str| {
        let (_, _, options) = mounted
            .iter()
            .find(|(point, _, _)| point == at)
            .unwrap_or_else(|| panic!("no {at} in {mounted:?}"));
        options.split(',').map(str::to_string).collect::<Vec<_>>()
    };
    let srv = options("/srv");
    assert!(
        srv.contains(&"nosuid".to_string()) && srv.contains(&"noexec".to_string()),
        "{srv:?}"
    );
    let mnt = options("/mnt");
    assert!(
        mnt.contains(&"noatime".to_string()) && mnt.contains(&"nodev".to_string()),
        "{mnt:?}"
    );
    let data = options("/data");
    assert!(
        data.contains(&"nodev".to_string()) && data.contains(&"noexec".to_string()),
        "{data:?}"
    );
    ct.pct_ok(&["stop", "9152"]);
    ct.assert_nothing_left();
}

/// nesting=1 gives a nested runtime full proc and sys at /dev/.lxc/{proc,sys} and a
/// writable /sys; without it there are none and /sys is read-only.
#[test]
fn nesting_mounts_full_proc_and_sys_under_dev_lxc() {
    let root = TestRoot::new();
    let ct = created(&root, 9112, &[]);
    ct.pct_ok(&["start", "9112"]);
    let plain = mounts(&ct);
    assert!(
        !plain.iter().any(|(at, _, _)| at.starts_with("/dev/.lxc/")),
        "{plain:?}"
    );
    let sys = plain.iter().find(|(at, _, _)| at == "/sys").unwrap();
    assert!(sys.2.split(',').any(|o| o == "ro"), "{sys:?}");
    ct.pct_ok(&["stop", "9112"]);

    ct.pct_ok(&["set", "9112", "--features", "nesting=1"]);
    ct.pct_ok(&["start", "9112"]);
    let nested = mounts(&ct);
    for (at, fstype) in [("/dev/.lxc/proc", "proc"), ("/dev/.lxc/sys", "sysfs")] {
        let found = nested.iter().find(|(point, _, _)| point == at);
        let (_, kind, options) = found.unwrap_or_else(|| panic!("no {at} in {nested:?}"));
        assert_eq!(kind, fstype, "{at}");
        assert!(options.split(',').any(|o| o == "rw"), "{at}: {options}");
    }
    // Full: nothing masked below them, unlike /proc.
    assert!(
        !nested
            .iter()
            .any(|(at, _, _)| at.starts_with("/dev/.lxc/proc/")),
        "{nested:?}"
    );
    let sys = nested.iter().find(|(at, _, _)| at == "/sys").unwrap();
    assert!(sys.2.split(',').any(|o| o == "rw"), "{sys:?}");
    assert_eq!(
        ct.exec_ok("cat /dev/.lxc/proc/1/comm"),
        ct.exec_ok("cat /proc/1/comm")
    );
    ct.pct_ok(&["stop", "9112"]);
    ct.assert_nothing_left();
}

/// mknod=1: the monitor makes the node where the caller's own call would, relative to its
/// working directory and with its umask.
#[test]
fn mknod_feature_uses_the_callers_directory_and_umask() {
    let root = TestRoot::new();
    let ct = created(&root, 9113, &["--features", "mknod=1"]);
    ct.pct_ok(&["start", "9113"]);
    for (umask, mode) in [("027", 0o640), ("002", 0o664)] {
        let name = format!("null-{umask}");
        ct.exec_ok(&format!("cd /tmp && umask {umask} && mknod {name} c 1 3"));
        let node = rootfs(&root, 9113).join("tmp").join(&name);
        let meta = fs::symlink_metadata(&node)
            .unwrap_or_else(|e| panic!("{name} not made in the caller's directory: {e}"));
        assert!(meta.file_type().is_char_device());
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "umask {umask}");
        assert!(
            !rootfs(&root, 9113).join(&name).exists(),
            "made in the monitor's directory"
        );
    }
    ct.pct_ok(&["stop", "9113"]);
    ct.assert_nothing_left();
}

/// `pct destroy` frees the volumes the config names; a disk of the container that the
/// config does not name stays unless `--destroy-unreferenced-disks` asks for it (which
/// pct_recovery.rs checks).
#[test]
fn destroy_keeps_unreferenced_disks_unless_asked() {
    let root = TestRoot::new();
    let _ct = created(&root, 9114, &[]);
    let images = root.join("var/lib/vz/images/9114");
    let stray = images.join("vm-9114-disk-1.raw");
    fs::File::create(&stray).unwrap().set_len(1 << 20).unwrap();
    root.pct_ok(&["destroy", "9114"]);
    assert!(!root.join("etc/pve/lxc/9114.conf").exists());
    assert!(
        !images.join("subvol-9114-disk-0.subvol").exists(),
        "rootfs left"
    );
    assert!(stray.exists(), "an unreferenced disk was destroyed unasked");
}
