//! Real containers (run as root): start, exec, enter, console, shutdown, reboot, hooks, locks,
//! a killed monitor, failed starts, seccomp and capabilities, for busybox and Debian 12 with
//! systemd, privileged and unprivileged.
//!
//! Each test has its own host root and CTIDs (cgroups are global: the 97xx range is this
//! file's), and a guard that stops its container and removes its cgroup even on failure.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::ct::{Ct, PtySession, cgroup2_root, container_cgroup, create};
use common::{TestRoot, cached_template, debian_template, monitor_pids};

// ---------------------------------------------------------------------------------------
// Templates, built once per machine and shared between test processes.

fn busybox_template() -> PathBuf {
    cached_template("make-busybox-template", &[], "busybox-")
}

fn proc_status_field(pid: u32, field: &str) -> String {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap()
        .trim()
        .to_string()
}

/// A hookscript that appends each phase to `hook.log` in the host root.
fn install_hookscript(root: &TestRoot, failing_phase: Option<&str>) -> String {
    let log = root.join("hook.log");
    let fail = failing_phase
        .map(|p| format!("[ \"$2\" = {p} ] && exit 3\n"))
        .unwrap_or_default();
    root.write(
        "var/lib/vz/snippets/hook.sh",
        &format!(
            "#!/bin/sh\necho \"$1 $2\" >> {}\n{fail}exit 0\n",
            log.display()
        ),
    );
    let path = root.join("var/lib/vz/snippets/hook.sh");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    "local:snippets/hook.sh".into()
}

fn hook_log(root: &TestRoot) -> Vec<String> {
    fs::read_to_string(root.join("hook.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap_or("").to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------
// busybox: the whole lifecycle, privileged and unprivileged.

fn busybox_lifecycle(vmid: u32, unprivileged: bool) {
    let root = TestRoot::new();
    let template = root.install_template(&busybox_template());
    let hook = install_hookscript(&root, None);
    create(
        &root,
        vmid,
        &template,
        unprivileged,
        &["--hookscript", &hook],
    );
    let ct = Ct { root: &root, vmid };
    let id = ct.id();

    // start: returns once init has exec'd, under a monitor named for ps.
    let (code, _, err) = ct.pct(&["start", &id]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ct.status(), "status: running");
    assert_eq!(hook_log(&root), ["pre-start", "post-start"]);
    let init = ct.init_pid();
    let monitors = monitor_pids(vmid);
    assert_eq!(monitors.len(), 1);
    let ppid: u32 = proc_status_field(init, "PPid").parse().unwrap();
    assert_eq!(ppid, monitors[0], "init is the monitor's child");
    // The monitor lives in a cgroup of its own, outside the container's.
    let monitor_cgroup = fs::read_to_string(format!("/proc/{}/cgroup", monitors[0])).unwrap();
    assert!(
        monitor_cgroup.contains(&format!("0::/lxc.monitor/{vmid}\n")),
        "{monitor_cgroup}"
    );
    // uid 0 inside is 100000 outside for unprivileged containers.
    let host_uid = proc_status_field(init, "Uid");
    let expected = if unprivileged { "100000" } else { "0" };
    assert!(
        host_uid.starts_with(&format!("{expected}\t")),
        "init runs as {host_uid}"
    );
    // Init sits in the container's cgroup, below the limiting one.
    let cgroup = fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap();
    assert!(cgroup.contains(&format!("0::/lxc/{vmid}/ns")), "{cgroup}");

    // exec: exit status, output and stdin pass through; the id inside is root.
    // busybox is unmanaged: as under pct, its /etc/hostname stays the template's, and its
    // rcS sets the name from it over the one corral gave the UTS namespace. `pct start`
    // returns once init runs, so rcS may not have run yet.
    ct.wait_for_output("hostname", "busybox\n", Duration::from_secs(20));
    let (code, out, _) = ct.exec("id -u; hostname; cat /etc/hostname; exit 7");
    assert_eq!((code, out.as_str()), (7, "0\nbusybox\nbusybox\n"));
    let mut child = Command::new(common::pct_binary())
        .args(["exec", &id, "--", "tr", "a-z", "A-Z"])
        .env("CORRAL_ROOT", root.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"streamed\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "STREAMED\n");
    // The uid map as the container sees it.
    let map = ct.exec_ok("cat /proc/self/uid_map");
    let fields: Vec<&str> = map.split_whitespace().collect();
    if unprivileged {
        assert_eq!(fields, ["0", "100000", "65536"]);
    } else {
        assert_eq!(fields, ["0", "0", "4294967295"]);
    }

    // Capabilities: privileged containers lose mac_admin, mac_override, sys_time,
    // sys_module and sys_rawio; unprivileged ones keep all inside their namespace.
    let bounding = ct.exec_ok("grep CapBnd /proc/self/status");
    let mask = u64::from_str_radix(bounding.split_whitespace().nth(1).unwrap(), 16).unwrap();
    for cap in [33u32, 32, 25, 16, 17] {
        assert_eq!(
            mask & (1 << cap) == 0,
            !unprivileged,
            "capability {cap} in {mask:#x}"
        );
    }
    assert!(mask & (1 << 21) != 0, "sys_admin stays");

    // Devices: a privileged container may make any node but open only the allowed ones
    // (the cgroup device filter); /dev/null stays usable. loop-control, not /dev/mem: that
    // one needs CAP_SYS_RAWIO, which is dropped, so it is refused even without the filter.
    // Opened, loop-control would refuse the read with EIO instead.
    if !unprivileged {
        let (code, _, err) =
            ct.exec("mknod /tmp/loop-control c 10 237 && head -c 1 /tmp/loop-control");
        assert_ne!(code, 0);
        assert!(err.contains("Operation not permitted"), "{err}");
        ct.exec_ok("echo x > /dev/null && rm /tmp/loop-control");
    }

    // The file system LXC gives: proc:mixed, sys:mixed, a small /dev, devpts, console.
    let mounts = ct.exec_ok("cat /proc/self/mounts");
    for needle in [
        "proc /proc proc",
        "proc /proc/sys proc ro,",
        "proc /proc/sys/net proc rw,",
        "sysfs /sys sysfs ro,",
        "sysfs /sys/devices/virtual/net sysfs rw,",
        "cgroup2 /sys/fs/cgroup cgroup2",
        "tmpfs /dev tmpfs",
        "devpts /dev/pts devpts",
        "mqueue /dev/mqueue",
    ] {
        assert!(mounts.contains(needle), "{needle} missing in:\n{mounts}");
    }
    let dev = ct.exec_ok("ls /dev | tr '\\n' ' '");
    for node in [
        "console", "full", "null", "ptmx", "random", "tty", "tty1", "tty2", "urandom", "zero",
        "fd", "stdin",
    ] {
        assert!(
            dev.split(' ').any(|n| n == node),
            "/dev/{node} missing: {dev}"
        );
    }
    assert_ne!(
        ct.exec("echo x > /proc/sys/kernel/hostname").0,
        0,
        "/proc/sys is read-only"
    );
    assert_eq!(
        ct.exec_ok("grep ^0:: /proc/self/cgroup"),
        "0::/\n",
        "cgroup namespace"
    );
    // The old root is detached: one mount at /, none stacked.
    let roots = ct.exec_ok("cut -d' ' -f5 /proc/self/mountinfo | grep -c '^/$'");
    assert_eq!(roots, "1\n");

    // mount is refused while running.
    let (code, _, err) = ct.pct(&["mount", &id]);
    assert_ne!(code, 0);
    assert!(err.contains("container is running"), "{err}");

    // status names what this host cannot enforce (its v2 tree lacks the controllers).
    let verbose = ct.pct_ok(&["status", &id, "--verbose"]);
    if fs::read_to_string(cgroup2_root().unwrap().join("cgroup.controllers"))
        .is_ok_and(|c| !c.contains("memory"))
    {
        assert!(verbose.contains("unenforced: memory.max"), "{verbose}");
    } else {
        assert!(!verbose.contains("memory.max"), "{verbose}");
    }

    // suspend and resume freeze and thaw every process through the cgroup.
    let events = container_cgroup(vmid).unwrap().join("cgroup.events");
    ct.pct_ok(&["suspend", &id]);
    assert!(fs::read_to_string(&events).unwrap().contains("frozen 1"));
    assert_eq!(ct.status(), "status: running");
    ct.pct_ok(&["resume", &id]);
    assert!(fs::read_to_string(&events).unwrap().contains("frozen 0"));
    ct.exec_ok("true");

    // enter: a login shell on a pty of the container's own.
    let mut session = PtySession::spawn(&root, &["enter", &id]);
    session.expect("#");
    session.send(b"tty; echo cols=$(stty size)\r");
    session.expect("cols=40 100");
    session.send(b"exit 3\r");
    let text = session.text();
    assert_eq!(session.wait(), 3);
    assert!(text.contains("/dev/pts/"), "{text}");

    // console: busybox's inittab runs a shell on tty1.
    let mut session = PtySession::spawn(&root, &["console", &id]);
    session.expect("Connected to tty 1");
    session.expect("Type <Ctrl+a q> to exit the console");
    session.send(b"\r");
    session.send(b"echo hi-$((6*7))\r");
    session.expect("hi-42");
    session.send(b"\x01q");
    assert_eq!(session.wait(), 0);

    // reboot: a new init, still running.
    ct.pct_ok(&["reboot", &id]);
    ct.wait_for_status("running", Duration::from_secs(10));
    let rebooted = ct.init_pid();
    assert_ne!(rebooted, init);

    // A killed monitor leaves the container running and reachable.
    let monitor = monitor_pids(vmid)[0];
    // SAFETY: signalling a process by pid.
    unsafe { libc::kill(monitor as i32, libc::SIGKILL) };
    wait_for(
        "the killed monitor to be gone",
        Duration::from_secs(5),
        || monitor_pids(vmid).is_empty(),
    );
    assert_eq!(ct.status(), "status: running");
    assert_eq!(ct.exec_ok("echo alive"), "alive\n");
    fs::write(root.join("hook.log"), "").unwrap();
    ct.pct_ok(&["stop", &id]);
    ct.assert_nothing_left();
    assert_eq!(hook_log(&root), ["pre-stop", "post-stop"]);

    // shutdown: the init's halt signal, then stopped. busybox init runs the template's
    // `::shutdown:/bin/sync` on the way down, which flushes every file system of the host
    // and can be slow on a busy one (20 s were seen to run out): pct's default timeout.
    fs::write(root.join("hook.log"), "").unwrap();
    ct.pct_ok(&["start", &id]);
    ct.pct_ok(&["shutdown", &id]);
    ct.assert_nothing_left();
    assert_eq!(
        hook_log(&root),
        ["pre-start", "post-start", "pre-stop", "post-stop"]
    );

    // A container that powers itself off still gets its post-stop hook and cleanup.
    fs::write(root.join("hook.log"), "").unwrap();
    ct.pct_ok(&["start", &id]);
    // busybox's poweroff signals init, which drops it until init has its handlers: wait for
    // rcS, which runs after they are set.
    ct.wait_for_output("hostname", "busybox\n", Duration::from_secs(20));
    let _ = ct.exec("poweroff");
    ct.wait_for_status("stopped", Duration::from_secs(20));
    let start = Instant::now();
    while hook_log(&root).last().map(String::as_str) != Some("post-stop") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            hook_log(&root)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    ct.assert_nothing_left();

    // Locks and templates refuse a start.
    let config_path = root.join(&format!("etc/pve/lxc/{vmid}.conf"));
    let config = fs::read_to_string(&config_path).unwrap();
    fs::write(&config_path, format!("lock: backup\n{config}")).unwrap();
    let (code, _, err) = ct.pct(&["start", &id]);
    assert_ne!(code, 0);
    assert!(err.contains("CT is locked (backup)"), "{err}");
    ct.pct_ok(&["unlock", &id]);
    fs::write(&config_path, format!("template: 1\n{config}")).unwrap();
    let (code, _, err) = ct.pct(&["start", &id]);
    assert_ne!(code, 0);
    assert!(
        err.contains("you can't start a CT if it's a template"),
        "{err}"
    );
    fs::write(&config_path, &config).unwrap();

    // stop of a stopped container.
    let (code, _, err) = ct.pct(&["stop", &id]);
    assert_ne!(code, 0);
    assert!(err.contains(&format!("CT {vmid} not running")), "{err}");
}

#[test]
fn busybox_privileged_lifecycle() {
    busybox_lifecycle(9701, false);
}

#[test]
fn busybox_unprivileged_lifecycle() {
    busybox_lifecycle(9702, true);
}

#[test]
fn failed_starts_say_why_and_leave_nothing_behind() {
    let root = TestRoot::new();
    let template = root.install_template(&busybox_template());
    for (vmid, unprivileged) in [(9703, false), (9704, true)] {
        create(&root, vmid, &template, unprivileged, &[]);
        let ct = Ct { root: &root, vmid };
        let config_path = root.join(&format!("etc/pve/lxc/{vmid}.conf"));
        let config = root.append_config(vmid, "lxc.init.cmd: /no/such/init\n");
        // --debug logs each step up to the failing one, then the cause.
        let (code, _, err) = ct.pct(&["start", &ct.id(), "--debug"]);
        assert_ne!(code, 0);
        for step in [
            "monitor: mount rootfs",
            "clone3 init into new namespaces",
            "child: pivot_root",
            "child: install seccomp filter",
            "child: exec /no/such/init",
        ] {
            assert!(err.contains(&format!("ms  {step}")), "no '{step}' in {err}");
        }
        assert!(err.contains("/no/such/init"), "{err}");
        assert!(err.contains("No such file or directory"), "{err}");
        assert!(
            err.contains(&format!("startup for container '{vmid}' failed")),
            "{err}"
        );
        ct.assert_nothing_left();

        // Strict limits refuse a start this host cannot limit (its v2 tree has no memory
        // controller), and leave nothing behind.
        if cgroup2_root()
            .and_then(|root| fs::read_to_string(root.join("cgroup.controllers")).ok())
            .is_some_and(|controllers| !controllers.contains("memory"))
        {
            fs::write(&config_path, &config).unwrap();
            let (code, _, err) = ct.pct(&["start", &ct.id(), "--strict-limits"]);
            assert_ne!(code, 0);
            assert!(err.contains("cannot enforce memory.max"), "{err}");
            ct.assert_nothing_left();
        } else {
            common::skip_visibly(
                "failed_starts_say_why_and_leave_nothing_behind",
                "--strict-limits refusal: every limit is enforceable on this host",
            );
        }

        // A failing pre-start hook aborts with pct's message.
        fs::write(&config_path, &config).unwrap();
        let hook = install_hookscript(&root, Some("pre-start"));
        ct.pct_ok(&["set", &ct.id(), "--hookscript", &hook]);
        let (code, _, err) = ct.pct(&["start", &ct.id()]);
        assert_ne!(code, 0);
        let script = root.join("var/lib/vz/snippets/hook.sh");
        assert!(
            err.contains(&format!(
                "hookscript error for {vmid} on pre-start: command '{} {vmid} pre-start' failed: exit code 3",
                script.display()
            )),
            "{err}"
        );
        ct.assert_nothing_left();
    }
}

#[test]
fn shutdown_right_after_start_reaches_an_init_still_starting_up() {
    // A container's init drops signals it has no handler for yet. This init traps SIGPWR
    // only once the test lets it (`/go`), after the shutdown has begun: the shutdown's first
    // signal is lost and must go again.
    let root = TestRoot::new();
    let template = root.install_template(&busybox_template());
    let vmid = 9705;
    let hook = install_hookscript(&root, None);
    create(&root, vmid, &template, true, &["--hookscript", &hook]);
    let ct = Ct { root: &root, vmid };
    root.append_config(
        vmid,
        "lxc.init.cmd: /bin/sh -c 'while [ ! -e /go ]; do sleep 0.1; done; \
         trap \"touch /halted; exit 0\" PWR; while :; do sleep 0.1; done'\n",
    );
    let rootfs = root.join(&format!(
        "var/lib/vz/images/{vmid}/subvol-{vmid}-disk-0.subvol"
    ));
    for monitor_killed in [false, true] {
        for marker in ["go", "halted"] {
            let _ = fs::remove_file(rootfs.join(marker));
        }
        ct.pct_ok(&["start", &ct.id()]);
        if monitor_killed {
            // Without its monitor, `pct shutdown` signals init itself.
            let monitor = monitor_pids(vmid)[0];
            // SAFETY: signalling the test's own container monitor.
            unsafe { libc::kill(monitor as i32, libc::SIGKILL) };
            wait_for(
                "the killed monitor to be gone",
                Duration::from_secs(5),
                || monitor_pids(vmid).is_empty(),
            );
        }
        let caught = u64::from_str_radix(&proc_status_field(ct.init_pid(), "SigCgt"), 16).unwrap();
        assert_eq!(
            caught & (1 << (libc::SIGPWR - 1)),
            0,
            "init catches SIGPWR early"
        );
        fs::write(root.join("hook.log"), "").unwrap();
        let shutdown = Command::new(common::pct_binary())
            .args(["shutdown", &ct.id(), "--timeout", "20"])
            .env("CORRAL_ROOT", root.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The pre-stop hook runs just before the first signal goes out; give that signal
        // time to be sent and dropped before init sets its handler. (If it were sent later,
        // the test would pass without needing the second signal: it cannot fail for that.)
        wait_for("the pre-stop hook", Duration::from_secs(10), || {
            hook_log(&root).contains(&"pre-stop".to_string())
        });
        std::thread::sleep(Duration::from_millis(300));
        fs::write(rootfs.join("go"), "").unwrap();
        let output = shutdown.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "monitor killed: {monitor_killed}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            rootfs.join("halted").exists(),
            "monitor killed: {monitor_killed}: init was killed, not halted"
        );
        ct.assert_nothing_left();
    }
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------
// Debian 12 booting systemd.

/// errno of a raw syscall made by perl inside the container (0 on success).
fn syscall_errno(ct: &Ct<'_>, call: &str) -> i32 {
    let script = format!("perl -e '$r = syscall({call}); print $r < 0 ? $!+0 : 0'");
    let out = ct.exec_ok(&script);
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{call}: {out}"))
}

fn debian_boot(vmid: u32, unprivileged: bool, template: &str, root: &TestRoot) {
    create(root, vmid, template, unprivileged, &[]);
    let ct = Ct { root, vmid };
    let id = ct.id();
    // LXC halts systemd with SIGRTMIN+3 (SIGPWR would only start its sigpwr.target).
    let (code, _, err) = ct.pct(&["start", &id, "--debug"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("monitor: halt signal is SIGRTMIN+3\n"),
        "systemd not detected:\n{err}"
    );
    let state = ct
        // systemctl cannot connect before systemd has made its private socket.
        .exec(
            "for i in $(seq 300); do [ -S /run/systemd/private ] && break; sleep 0.1; done; \
             timeout 60 systemctl is-system-running --wait",
        )
        .1
        .trim()
        .to_string();
    // Unprivileged: the kernel refuses debugfs in a user namespace, so
    // sys-kernel-debug.mount fails and systemd reports degraded, as under LXC.
    let failed = ct.exec_ok("systemctl --failed --plain --no-legend | cut -d' ' -f1");
    let allowed: &[&str] = if unprivileged {
        &["sys-kernel-debug.mount"]
    } else {
        &[]
    };
    for unit in failed.split_whitespace() {
        assert!(allowed.contains(&unit), "failed unit {unit}; state {state}");
    }
    assert!(state == "running" || state == "degraded", "{state}");
    assert_eq!(ct.exec_ok("cat /proc/1/comm"), "systemd\n");
    assert_eq!(ct.exec_ok("hostname"), "ct-test\n");

    // The seccomp denials (x86_64 numbers).
    for (call, args, errno) in [
        ("init_module", "175, 0, 0, 0", libc::EPERM),
        ("finit_module", "313, -1, 0, 0", libc::EPERM),
        ("kexec_load", "246, 0, 0, 0, 0", libc::EPERM),
        ("open_by_handle_at", "304, -1, 0, 0", libc::EPERM),
        ("umount2 MNT_FORCE", "166, 0, 1", libc::EACCES),
    ] {
        assert_eq!(syscall_errno(&ct, args), errno, "{call}");
    }
    let keyctl = syscall_errno(&ct, "250, 0, -1, 0");
    let af_alg = syscall_errno(&ct, "41, 38, 5, 0");
    // Both privileged and unprivileged: pct's rules, and corral's for privileged roots,
    // which would otherwise share the host root's keyring.
    assert_eq!(keyctl, libc::ENOSYS, "keyctl");
    assert_eq!(af_alg, libc::EAFNOSUPPORT, "AF_ALG");
    if !unprivileged {
        assert_eq!(syscall_errno(&ct, "103, 10, 0, 0"), libc::EPERM, "syslog");
    }
    let seccomp = ct.exec_ok("grep ^Seccomp: /proc/self/status");
    assert!(seccomp.contains('2'), "{seccomp}");

    // enter gets root's shell from the container's passwd.
    let mut session = PtySession::spawn(root, &["enter", &id]);
    session.expect("#");
    session.send(b"echo exe=$(readlink /proc/$$/exe); exit\r");
    session.expect("exe=/usr/bin/bash");
    assert_eq!(session.wait(), 0);

    // shutdown: SIGRTMIN+3 for systemd, which stops its units on the way down; a unit
    // leaves /halted when it is stopped, which a killed systemd would never do.
    ct.exec_ok(
        "printf '[Unit]\\nDescription=halt marker\\n[Service]\\nType=oneshot\\n\
         RemainAfterExit=yes\\nExecStart=/bin/true\\nExecStop=/usr/bin/touch /halted\\n\
         [Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/halt-marker.service \
         && systemctl enable --now halt-marker.service",
    );
    let started = Instant::now();
    ct.pct_ok(&["shutdown", &id, "--timeout", "60"]);
    assert!(started.elapsed() < Duration::from_secs(60));
    let halted = root.join(&format!(
        "var/lib/vz/images/{vmid}/subvol-{vmid}-disk-0.subvol/halted"
    ));
    assert!(halted.exists(), "systemd was killed, not halted");
    ct.assert_nothing_left();
}

#[test]
fn debian_12_boots_systemd_privileged_and_unprivileged() {
    let root = TestRoot::new();
    let template = root.install_template(&debian_template());
    debian_boot(9711, false, &template, &root);
    debian_boot(9712, true, &template, &root);
}
