//! Start, stop and wait through the library: the calling threads are left as they were
//! (namespaces, cwd, umask, signal state, descriptors), `wait_stopped` tells how a container
//! ended, and the host's `idmap` setting decides how ID maps are written. CTIDs 9250-9299.

use std::fs;
use std::path::PathBuf;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use corral::host::DestroyOptions;
use corral::{CreateOptions, Error, Exit, Host, IdMapTool, StartOptions, StartStep, Vmid};

use crate::common::{TestRoot, cached_template};

fn busybox_template() -> PathBuf {
    cached_template("make-busybox-template", &[], "busybox-")
}

/// A container made through the library, stopped and destroyed through it on drop (and by
/// force should that fail), even when the test fails.
struct LibCt<'a> {
    host: &'a Host,
    vmid: u32,
}

impl LibCt<'_> {
    fn ct(&self) -> corral::Container<'_> {
        self.host.container(Vmid::new(self.vmid).unwrap())
    }
}

impl Drop for LibCt<'_> {
    fn drop(&mut self) {
        let _ = self.ct().stop(true);
        let _ = self.ct().destroy(DestroyOptions {
            force: true,
            ..DestroyOptions::default()
        });
    }
}

fn create<'a>(root: &TestRoot, host: &'a Host, vmid: u32, unprivileged: bool) -> LibCt<'a> {
    let template = root.install_template(&busybox_template());
    let ct = LibCt { host, vmid };
    ct.ct()
        .create(&CreateOptions {
            template: template.into(),
            options: vec![
                ("hostname".into(), "library".into()),
                ("rootfs".into(), "local:0".into()),
            ],
            unprivileged: Some(unprivileged),
            ..CreateOptions::default()
        })
        .unwrap_or_else(|e| panic!("create {vmid}: {e}"));
    ct
}

/// What a thread's caller-visible state is: its namespaces, root, cwd, umask, blocked and
/// ignored signals.
fn thread_state() -> Vec<(String, String)> {
    let mut state = Vec::new();
    for entry in fs::read_dir("/proc/thread-self/ns").unwrap().flatten() {
        let link = fs::read_link(entry.path()).unwrap();
        state.push((
            format!("ns/{}", entry.file_name().to_string_lossy()),
            link.display().to_string(),
        ));
    }
    for link in ["root", "cwd"] {
        let target = fs::read_link(format!("/proc/thread-self/{link}")).unwrap();
        state.push((link.into(), target.display().to_string()));
    }
    let status = fs::read_to_string("/proc/thread-self/status").unwrap();
    for line in status.lines() {
        if let Some((key, value)) = line.split_once(':')
            && ["Umask", "SigBlk", "SigIgn"].contains(&key)
        {
            state.push((key.into(), value.trim().into()));
        }
    }
    state.sort();
    state
}

/// This process's open descriptors and what they are.
fn open_fds() -> Vec<String> {
    let mut fds: Vec<String> = fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let target = fs::read_link(entry.path()).ok()?;
            Some(format!(
                "{} -> {}",
                entry.file_name().to_string_lossy(),
                target.display()
            ))
        })
        .collect();
    fds.sort();
    fds
}

/// A plain child of this thread runs on the host: in our pid namespace and mount namespace.
fn assert_children_run_on_the_host() {
    let output = std::process::Command::new("/bin/sh")
        .args([
            "-c",
            "readlink /proc/self/ns/pid /proc/self/ns/mnt; echo $$",
        ])
        .output()
        .expect("a plain command runs");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let ours = |ns: &str| {
        fs::read_link(format!("/proc/self/ns/{ns}"))
            .unwrap()
            .display()
            .to_string()
    };
    assert_eq!(lines[0], ours("pid"), "child in another pid namespace");
    assert_eq!(lines[1], ours("mnt"), "child in another mount namespace");
    let pid: u32 = lines[2].parse().unwrap();
    assert!(
        fs::read_link(format!("/proc/{pid}")).is_err(),
        "the child's pid {pid} is a host pid (it has ended)"
    );
}

/// The descriptor count is the whole process's: run alone, in a test process of its own,
/// so the other tests' descriptors do not come and go meanwhile.
#[test]
fn starts_from_several_threads_leave_every_thread_as_it_was() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "--nocapture",
            "lifecycle::starts_from_several_threads_alone",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
#[ignore = "run by starts_from_several_threads_leave_every_thread_as_it_was, in a process of its own"]
fn starts_from_several_threads_alone() {
    let root = TestRoot::new();
    let host = Host::open(root.path()).unwrap();
    // Background starts, and foreground starts of inits that end by themselves.
    let detached: Vec<LibCt> = (9250..9253)
        .map(|id| create(&root, &host, id, false))
        .collect();
    let foreground: Vec<LibCt> = (9253..9255)
        .map(|id| create(&root, &host, id, true))
        .collect();
    for ct in &foreground {
        root.append_config(ct.vmid, "lxc.init.cmd: /bin/sh -c 'sleep 0.5; exit 5'\n");
    }
    let fds_before = open_fds();
    let barrier = Barrier::new(detached.len() + foreground.len());
    std::thread::scope(|scope| {
        let threads: Vec<_> = detached
            .iter()
            .map(|ct| (ct, false))
            .chain(foreground.iter().map(|ct| (ct, true)))
            .map(|(ct, in_foreground)| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let before = thread_state();
                    barrier.wait();
                    // One start logs its steps: that too must leave no descriptor open.
                    let result = ct.ct().start(&StartOptions {
                        foreground: in_foreground,
                        debug: ct.vmid == 9250,
                        ..StartOptions::default()
                    });
                    let result = result.unwrap_or_else(|e| panic!("start {}: {e}", ct.vmid));
                    if in_foreground {
                        assert_eq!(
                            result,
                            Some(corral::runtime::InitExit::Exited(5)),
                            "CT {}",
                            ct.vmid
                        );
                    } else {
                        assert!(ct.ct().running_init().is_some(), "CT {} runs", ct.vmid);
                    }
                    assert_eq!(thread_state(), before, "thread of CT {}", ct.vmid);
                    assert_children_run_on_the_host();
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    });
    for ct in &detached {
        ct.ct().stop(false).unwrap();
    }
    // Every descriptor a start or stop opened is closed again.
    assert_eq!(open_fds(), fds_before, "descriptors left open");
    assert_children_run_on_the_host();
}

#[test]
fn wait_stopped_tells_how_the_container_ended() {
    let root = TestRoot::new();
    let host = Host::open(root.path()).unwrap();
    let by_itself = create(&root, &host, 9260, true);
    root.append_config(9260, "lxc.init.cmd: /bin/sh -c 'sleep 1; exit 7'\n");
    let stopped = create(&root, &host, 9261, true);

    by_itself.ct().start(&StartOptions::default()).unwrap();
    let fd = by_itself.ct().stopped_fd().unwrap();
    assert_eq!(
        by_itself
            .ct()
            .wait_stopped(Some(Duration::from_secs(30)))
            .unwrap(),
        Exit::Exited(7)
    );
    // The pidfd was readable by then.
    let mut fds = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN,
    )];
    assert_eq!(
        rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default())).unwrap(),
        1
    );
    // Asked again once it is gone, the answer stays.
    assert_eq!(by_itself.ct().wait_stopped(None).unwrap(), Exit::Exited(7));

    stopped.ct().start(&StartOptions::default()).unwrap();
    let since = Instant::now();
    let error = stopped
        .ct()
        .wait_stopped(Some(Duration::from_millis(300)))
        .unwrap_err();
    assert!(since.elapsed() >= Duration::from_millis(300));
    match &error {
        Error::Io { source, .. } => assert_eq!(source.kind(), std::io::ErrorKind::TimedOut),
        other => panic!("not a timeout: {other:?}"),
    }
    assert!(
        stopped.ct().running_init().is_some(),
        "a timeout leaves it running"
    );
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| stopped.ct().wait_stopped(None));
        std::thread::sleep(Duration::from_millis(200));
        stopped.ct().stop(false).unwrap();
        assert_eq!(waiter.join().unwrap().unwrap(), Exit::Stopped);
    });
    // A container that never ran has no end to tell.
    let never = create(&root, &host, 9262, true);
    match never.ct().wait_stopped(Some(Duration::from_secs(1))) {
        Err(error @ Error::NotRunning { .. }) => {
            assert_eq!(error.to_string(), "CT 9262 not running")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_idmap_setting_chooses_direct_writes_or_the_shadow_tools() {
    let root = TestRoot::new();
    root.write("etc/corral/host.conf", "idmap: direct\n");
    let host = Host::open(root.path()).unwrap();
    assert_eq!(host.id_map_tool().unwrap(), IdMapTool::Direct);
    let ct = create(&root, &host, 9270, true);
    ct.ct()
        .start(&StartOptions::default())
        .unwrap_or_else(|e| panic!("direct ID maps: {e}"));
    let init = ct.ct().running_init().unwrap();
    let uid_map = fs::read_to_string(format!("/proc/{}/uid_map", init.pid)).unwrap();
    assert_eq!(
        uid_map.split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    ct.ct().stop(false).unwrap();

    // Forced shadow tools where they are missing: the start fails, naming both fixes.
    let shadow_installed = [
        "/usr/bin/newuidmap",
        "/bin/newuidmap",
        "/usr/sbin/newuidmap",
    ]
    .iter()
    .any(|p| std::path::Path::new(p).exists());
    let mut forced = Host::open(root.path()).unwrap();
    forced.set_id_map_tool(IdMapTool::Newuidmap);
    let ct = forced.container(Vmid::new(9270).unwrap());
    if !shadow_installed {
        let error = ct.start(&StartOptions::default()).unwrap_err();
        assert!(
            matches!(
                error,
                Error::Start {
                    step: StartStep::IdMap,
                    ..
                }
            ),
            "{error:?}"
        );
        let error = error.to_string();
        assert!(error.contains("install the uidmap package"), "{error}");
        assert!(
            error.contains("'idmap: direct' in etc/corral/host.conf"),
            "{error}"
        );
        assert!(ct.running_init().is_none());
    }

    // A typo in the setting is named, with its line, by the starts that need it.
    root.write("etc/corral/host.conf", "idmap: subuid\n");
    let host = Host::open(root.path()).unwrap();
    let error = host.id_map_tool().unwrap_err().to_string();
    assert!(
        error.ends_with(
            "host.conf, line 1: idmap: invalid value 'subuid' (auto, newuidmap or direct)"
        ),
        "{error}"
    );
}
