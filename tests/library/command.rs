//! `Container::command`: a command in a running container as `std::process::Command` runs one
//! on the host — captured or piped stdio, environment, directory, ids, a pty, kill and wait —
//! and, run from many threads at once, nothing of the caller changed.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;

use corral::{Error, Host, Vmid};

use crate::common::ct::{Ct, create};
use crate::common::{TestRoot, busybox_template};

/// A busybox container, started through pct; stopped and removed by the guard.
fn running(root: &TestRoot, vmid: u32, unprivileged: bool) -> Ct<'_> {
    let template = root.install_template(&busybox_template());
    create(root, vmid, &template, unprivileged, &[]);
    let ct = Ct { root, vmid };
    ct.pct_ok(&["start", &ct.id()]);
    ct
}

fn host(root: &Path) -> Host {
    Host::open(root).unwrap()
}

fn vmid(id: u32) -> Vmid {
    Vmid::new(id).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn output_stdin_environment_directory_and_ids() {
    let root = TestRoot::new();
    let ct = running(&root, 9200, true);
    let host = host(root.path());
    let container = host.container(vmid(9200));

    // output(): stdout and stderr apart, the exit status, stdin empty.
    let output = container
        .command(["sh", "-c", "echo out; echo err >&2; cat; exit 3"])
        .output()
        .unwrap();
    assert_eq!(text(&output.stdout), "out\n");
    assert_eq!(text(&output.stderr), "err\n");
    assert_eq!(output.status.code(), Some(3));

    // Piped stdin and stdout, streamed.
    let mut child = container
        .command(["tr", "a-z", "A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(child.stderr.is_none() && child.pty.is_none());
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"streamed\n")
        .unwrap();
    let mut upper = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut upper)
        .unwrap();
    assert_eq!(upper, "STREAMED\n");
    assert!(child.wait().unwrap().success());

    // pct's environment, and changes to it.
    let env = |command: &mut corral::ContainerCommand<'_>| text(&command.output().unwrap().stdout);
    let base = env(&mut container.command(["env"]));
    assert!(base.contains("container=lxc\n"), "{base}");
    assert!(base.contains("PATH=/usr/local/sbin:"), "{base}");
    let changed = env(container
        .command(["env"])
        .env("CORRAL_PROBE", "a b")
        .env_remove("container"));
    assert!(changed.contains("CORRAL_PROBE=a b\n"), "{changed}");
    assert!(!changed.contains("container="), "{changed}");
    // A bare name is found in the standard PATH even when the environment has none.
    assert_eq!(
        env(container.command(["env"]).env_clear().env("ONLY", "1")),
        "ONLY=1\n"
    );

    // Working directory and ids.
    let inside = env(container
        .command(["sh", "-c", "pwd; id -u; id -g; id -G"])
        .current_dir("/tmp")
        .uid(1000)
        .gid(1001));
    assert_eq!(inside, "/tmp\n1000\n1001\n1001\n");
    let root_inside = env(&mut container.command(["sh", "-c", "pwd; id -u"]));
    assert_eq!(root_inside, "/\n0\n");

    // A piped descriptor of the caller's as stdout.
    let (mut read, write) = std::io::pipe().unwrap();
    let status = container
        .command(["echo", "through a descriptor"])
        .stdout(write)
        .status()
        .unwrap();
    assert!(status.success());
    let mut through = String::new();
    read.read_to_string(&mut through).unwrap();
    assert_eq!(through, "through a descriptor\n");
    ct.pct_ok(&["stop", "9200"]);
}

#[test]
fn tty_gives_the_command_a_pty_of_the_container() {
    let root = TestRoot::new();
    let ct = running(&root, 9201, true);
    let host = host(root.path());
    let mut child = host
        .container(vmid(9201))
        .command([
            "sh",
            "-c",
            "tty; test -t 0 && test -t 2 && echo all-on-the-pty",
        ])
        .tty(true)
        .spawn()
        .unwrap();
    assert!(child.stdin.is_none() && child.stdout.is_none());
    let mut pty = child.pty.take().expect("a pty master");
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    // The master reads EIO once the command has closed the slave.
    while let Ok(n @ 1..) = pty.read(&mut buf) {
        seen.extend_from_slice(&buf[..n]);
    }
    let seen = text(&seen);
    assert!(seen.starts_with("/dev/pts/"), "{seen:?}");
    assert!(seen.contains("all-on-the-pty"), "{seen:?}");
    assert!(child.wait().unwrap().success());
    ct.pct_ok(&["stop", "9201"]);
}

#[test]
fn kill_try_wait_and_the_errors_of_spawn() {
    let root = TestRoot::new();
    let ct = running(&root, 9202, true);
    let host = host(root.path());
    let container = host.container(vmid(9202));

    let mut child = container.command(["sleep", "100"]).spawn().unwrap();
    assert!(child.id() > 0);
    assert!(child.try_wait().unwrap().is_none());
    let mut pidfd = [libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&child.as_fd()),
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: poll on the child's pidfd, borrowed for the call.
    assert_eq!(unsafe { libc::poll(pidfd.as_mut_ptr(), 1, 0) }, 0);
    child.kill().unwrap();
    // SAFETY: as above; the pidfd turns readable when the command ends.
    assert_eq!(unsafe { libc::poll(pidfd.as_mut_ptr(), 1, 5000) }, 1);
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert_eq!(child.try_wait().unwrap(), Some(status));
    child.kill().unwrap();

    // A program that is not there: spawn and output fail, naming it, as std's do.
    for result in [
        container
            .command(["no-such-command", "x"])
            .spawn()
            .map(|_| ()),
        container.command(["/bin/no-such"]).output().map(|_| ()),
    ] {
        let error = result.expect_err("spawn fails");
        let message = error.to_string();
        assert!(
            message.starts_with("unable to exec command '") && message.contains("no-such"),
            "{message}"
        );
        match error {
            Error::Io { source, .. } => assert_eq!(source.kind(), std::io::ErrorKind::NotFound),
            other => panic!("not an I/O error: {other:?}"),
        }
    }
    // A directory that is not there.
    let error = container
        .command(["true"])
        .current_dir("/no/such/dir")
        .status()
        .unwrap_err();
    assert!(
        error.to_string().starts_with("chdir /no/such/dir: "),
        "{error}"
    );
    ct.pct_ok(&["stop", "9202"]);
    let error = container.command(["true"]).status().unwrap_err();
    assert_eq!(error.to_string(), "container '9202' not running!");
}

/// Runs the check below in a process of its own: it counts the process's descriptors and
/// threads, which other tests of this binary would change under it.
#[test]
fn commands_from_many_threads_leave_the_caller_as_it_was() {
    let root = TestRoot::new();
    let _ct = running(&root, 9203, false);
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "command::many_threads_in_a_process_of_its_own",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CORRAL_LIBRARY_ROOT", root.path())
        .env("CORRAL_LIBRARY_VMID", "9203")
        .output()
        .unwrap();
    assert!(
        output.status.success() && text(&output.stdout).contains("1 passed"),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// What a thread is: its namespaces (pid_for_children included) and its blocked signals.
fn thread_state() -> BTreeMap<String, String> {
    let mut state = namespaces_of(Path::new("/proc/thread-self"));
    let status = fs::read_to_string("/proc/thread-self/status").unwrap();
    let blocked = status.lines().find(|l| l.starts_with("SigBlk:")).unwrap();
    state.insert("SigBlk".into(), blocked.to_string());
    state
}

fn namespaces_of(task: &Path) -> BTreeMap<String, String> {
    fs::read_dir(task.join("ns"))
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let link = fs::read_link(entry.path()).unwrap();
            (
                entry.file_name().to_string_lossy().into_owned(),
                link.to_string_lossy().into_owned(),
            )
        })
        .collect()
}

fn open_descriptors() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Every thread of this process is in the host's namespaces, pid_for_children included.
fn assert_every_thread_on_the_host(host_namespaces: &BTreeMap<String, String>) {
    for task in fs::read_dir("/proc/self/task").unwrap() {
        let task = task.unwrap().path();
        // A thread that ended meanwhile has nothing left to check.
        if let Ok(entries) = fs::read_dir(task.join("ns")) {
            drop(entries);
            assert_eq!(&namespaces_of(&task), host_namespaces, "{}", task.display());
        }
    }
}

/// A command, then a plain host fork/exec from the same thread: the thread is as before, and
/// the host process is in the host's pid namespace.
fn run_and_check(host: &Host, id: u32, round: usize) {
    let before = thread_state();
    let output = host
        .container(vmid(id))
        .command([
            "sh",
            "-c",
            "echo $0; readlink /proc/self/ns/pid",
            &round.to_string(),
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(text(&output.stdout).starts_with(&format!("{round}\npid:[")));
    // And with the caller's stdio, the other way a command is forked.
    let status = host.container(vmid(id)).command(["true"]).status().unwrap();
    assert!(status.success());
    assert_eq!(thread_state(), before, "the calling thread changed");
    let on_host = std::process::Command::new("readlink")
        .arg("/proc/self/ns/pid")
        .output()
        .expect("a plain fork and exec still works");
    assert_eq!(
        text(&on_host.stdout).trim(),
        before["pid"],
        "a host command from this thread is not in the host's pid namespace"
    );
}

#[test]
#[ignore = "run by commands_from_many_threads_leave_the_caller_as_it_was in its own process"]
fn many_threads_in_a_process_of_its_own() {
    let root = std::env::var_os("CORRAL_LIBRARY_ROOT").expect("CORRAL_LIBRARY_ROOT");
    let id: u32 = std::env::var("CORRAL_LIBRARY_VMID")
        .unwrap()
        .parse()
        .unwrap();
    let host = host(Path::new(&root));
    let host_namespaces = namespaces_of(Path::new("/proc/thread-self"));
    let signals_before = thread_state()["SigBlk"].clone();
    let descriptors_before = open_descriptors();

    // Plain threads, all at once.
    std::thread::scope(|scope| {
        for thread in 0..6 {
            let host = &host;
            scope.spawn(move || {
                for round in 0..3 {
                    run_and_check(host, id, thread * 10 + round);
                }
            });
        }
    });
    assert_every_thread_on_the_host(&host_namespaces);

    // Tasks of a multi-threaded tokio runtime, one awaiting its command through the pidfd.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_io()
        .build()
        .unwrap();
    let host = std::sync::Arc::new(host);
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for task in 0..8 {
            let host = host.clone();
            tasks.push(tokio::spawn(async move {
                run_and_check(&host, id, 100 + task);
            }));
        }
        let awaited = host.clone();
        tasks.push(tokio::spawn(async move {
            let mut child = awaited
                .container(vmid(id))
                .command(["sleep", "0.2"])
                .spawn()
                .unwrap();
            // SAFETY: the AsyncFd owns its own duplicate of the pidfd, closed only when it
            // is dropped.
            let pidfd = unsafe {
                tokio::io::unix::AsyncFd::register_with_interest(
                    child.as_fd().try_clone_to_owned().unwrap(),
                    tokio::io::Interest::READABLE,
                )
            }
            .unwrap();
            let _ready = pidfd.readable().await.unwrap();
            assert!(child.try_wait().unwrap().unwrap().success());
        }));
        for task in tasks {
            task.await.unwrap();
        }
        assert_every_thread_on_the_host(&host_namespaces);
    });
    drop(runtime);

    assert_every_thread_on_the_host(&host_namespaces);
    assert_eq!(thread_state()["SigBlk"], signals_before);
    assert_eq!(
        open_descriptors(),
        descriptors_before,
        "descriptors left open"
    );
}
