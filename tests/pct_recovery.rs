//! Interrupted and failing `pct create` / `pct set`, and `pct destroy` cleaning up after them
//! (run as root: raw images on loop devices). Nothing an interruption leaves may outlive
//! `pct unlock` + `pct destroy`; signals roll a create back; a full storage fails the create.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{
    Entry, TestRoot, debian_base, loop_devices_below, make_plain_template, pct_binary,
    template_cache,
};

const DEADLINE: Duration = Duration::from_secs(60);

/// Wait for `condition` until the deadline; false when it never held.
fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A plain tar template: the Debian-looking basics plus 96 MiB of random (incompressible)
/// data, so that extraction takes a while and overflows a small storage. Made once per
/// machine; linked into each test root.
fn big_template(root: &TestRoot) -> String {
    let cache = template_cache();
    let path = cache.join("recovery-random-96M_12.0-1_amd64.tar");
    let lock = fs::File::create(cache.join("recovery-random.lock")).unwrap();
    // SAFETY: flock on a descriptor we own; released when `lock` closes.
    assert_eq!(
        unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) },
        0
    );
    if !path.exists() {
        let busybox = fs::read("/bin/busybox").expect("busybox-static provides /bin/busybox");
        let mut chunks = Vec::new();
        for _ in 0..12 {
            let mut data = vec![0u8; 8 << 20];
            getrandom::fill(&mut data).unwrap();
            chunks.push(data);
        }
        let names: Vec<String> = (0..chunks.len()).map(|i| format!("opt/blob{i}")).collect();
        let mut entries = debian_base(&busybox);
        entries.push(Entry::Dir("opt", 0o755, 0, 0));
        for (name, data) in names.iter().zip(&chunks) {
            entries.push(Entry::File(name, data, 0o644, 0, 0));
        }
        let partial = cache.join("recovery-random.partial");
        make_plain_template(&partial, &entries);
        fs::rename(&partial, &path).unwrap();
    }
    let dir = root.join("var/lib/vz/template/cache");
    fs::create_dir_all(&dir).unwrap();
    let name = path.file_name().unwrap().to_str().unwrap().to_string();
    fs::hard_link(&path, dir.join(&name)).unwrap();
    format!("local:vztmpl/{name}")
}

/// A running `pct`, its stdout lines arriving on a channel; killed on drop.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(root: &TestRoot, args: &[&str]) -> Running {
        let mut child = Command::new(pct_binary())
            .args(args)
            .env("CORRAL_ROOT", root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run pct");
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn wait_for_line(&self, prefix: &str) {
        let start = Instant::now();
        loop {
            let left = DEADLINE.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return,
                Ok(_) => {}
                Err(_) => panic!("pct never printed '{prefix}'"),
            }
        }
    }

    /// The pid of a child of this pct whose name is `comm`, once there is one. Polled without
    /// pause: `mkfs.ext4` on a sparse image runs for a few milliseconds only.
    fn wait_for_child(&self, comm: &str) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(pid) = child_named(self.pid(), comm) {
                return pid;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {comm} to start"
            );
        }
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill on the pid of our own child, not yet reaped.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
    }

    /// Exit code and stderr.
    fn finish(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        (status.code(), stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child of any thread of `parent` whose command name is `comm`.
fn child_named(parent: i32, comm: &str) -> Option<i32> {
    let tasks = fs::read_dir(format!("/proc/{parent}/task")).ok()?;
    tasks.flatten().find_map(|task| {
        let children = fs::read_to_string(task.path().join("children")).ok()?;
        children
            .split_whitespace()
            .filter_map(|pid| pid.parse::<i32>().ok())
            .find(|pid| {
                fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|name| name.trim_end() == comm)
            })
    })
}

fn wait_gone(pid: i32) {
    wait_for(&format!("process {pid} to end"), || {
        !Path::new(&format!("/proc/{pid}")).exists()
    });
}

/// The files under a container's images directory of a storage at `storage_dir`.
fn volumes_of(storage_dir: &Path, vmid: u32) -> Vec<PathBuf> {
    match fs::read_dir(storage_dir.join(format!("images/{vmid}"))) {
        Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

fn config_text(root: &TestRoot, vmid: u32) -> Option<String> {
    fs::read_to_string(root.join(&format!("etc/pve/lxc/{vmid}.conf"))).ok()
}

/// No config, no volume, no mount and no loop device of the container is left.
fn assert_nothing_left(root: &TestRoot, vmid: u32, storage_dir: &Path, mounts_allowed: &[PathBuf]) {
    assert_eq!(config_text(root, vmid), None, "config left");
    assert_eq!(
        volumes_of(storage_dir, vmid),
        Vec::<PathBuf>::new(),
        "volumes left"
    );
    let mounts: Vec<PathBuf> = root
        .mounts_below()
        .into_iter()
        .filter(|m| !mounts_allowed.contains(m))
        .collect();
    assert_eq!(mounts, Vec::<PathBuf>::new(), "mounts left");
    assert_eq!(
        loop_devices_below(root.path()),
        Vec::<String>::new(),
        "loop devices left"
    );
}

/// Mounts of the test root in any process's mount namespace (a leftover in a namespace of
/// its own still holds the volume).
fn mounts_anywhere(root: &TestRoot) -> Vec<String> {
    let needle = root.path().to_str().unwrap().to_string();
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(text) = fs::read_to_string(entry.path().join("mountinfo")) {
            found.extend(
                text.lines()
                    .filter(|line| {
                        line.split(' ')
                            .nth(4)
                            .is_some_and(|p| p.starts_with(&needle))
                    })
                    .map(str::to_string),
            );
        }
    }
    found
}

fn local(root: &TestRoot) -> PathBuf {
    root.join("var/lib/vz")
}

#[test]
fn sigkill_during_extraction_then_unlock_and_destroy_leave_nothing() {
    let root = TestRoot::new();
    let template = big_template(&root);
    let create = Running::start(&root, &["create", "9401", &template, "--rootfs", "local:1"]);
    create.wait_for_line("extracting archive");
    create.signal(libc::SIGKILL);
    let (code, _) = create.finish();
    assert_eq!(code, None, "killed");

    let config = config_text(&root, 9401).expect("config kept");
    assert!(config.contains("lock: create"), "{config}");
    assert!(
        config.contains("rootfs: local:9401/vm-9401-disk-0.raw,size=1G"),
        "the config names the volume:\n{config}"
    );
    // Nothing was ever mounted on the host; the kernel takes down the create's own.
    assert_eq!(root.mounts_below(), Vec::<PathBuf>::new());
    wait_for("the loop device to go", || {
        loop_devices_below(root.path()).is_empty() && mounts_anywhere(&root).is_empty()
    });

    let (code, _, stderr) = root.pct(&["destroy", "9401"]);
    assert_eq!((code, stderr.trim()), (255, "CT is locked (create)"));
    root.pct_ok(&["unlock", "9401"]);
    root.pct_ok(&["destroy", "9401"]);
    assert_nothing_left(&root, 9401, &local(&root), &[]);
}

#[test]
fn sigkill_during_mkfs_leaves_no_volume() {
    let root = TestRoot::new();
    let template = big_template(&root);
    let create = Running::start(&root, &["create", "9402", &template, "--rootfs", "local:4"]);
    let mkfs = create.wait_for_child("mkfs.ext4");
    create.signal(libc::SIGKILL);
    create.finish();
    wait_gone(mkfs);

    let config = config_text(&root, 9402).expect("config kept");
    assert!(config.contains("lock: create"), "{config}");
    assert!(!config.contains("rootfs"), "{config}");
    assert_eq!(
        volumes_of(&local(&root), 9402),
        Vec::<PathBuf>::new(),
        "an image the config does not name"
    );
    root.pct_ok(&["unlock", "9402"]);
    root.pct_ok(&["destroy", "9402"]);
    assert_nothing_left(&root, 9402, &local(&root), &[]);
}

#[test]
fn signals_roll_a_create_back() {
    let root = TestRoot::new();
    let template = big_template(&root);
    // (signal, vmid, whether to send it while mkfs runs rather than while extracting)
    let cases = [
        (libc::SIGINT, 9403, false),
        (libc::SIGTERM, 9404, false),
        (libc::SIGHUP, 9405, false),
        (libc::SIGTERM, 9406, true),
    ];
    for (signal, vmid, during_mkfs) in cases {
        let id = vmid.to_string();
        let create = Running::start(&root, &["create", &id, &template, "--rootfs", "local:1"]);
        if during_mkfs {
            create.wait_for_child("mkfs.ext4");
        } else {
            create.wait_for_line("extracting archive");
        }
        create.signal(signal);
        let (code, stderr) = create.finish();
        assert_eq!(code, Some(255), "signal {signal}: {stderr}");
        assert!(
            stderr.contains(&format!("unable to create CT {vmid} - received interrupt")),
            "signal {signal}: {stderr}"
        );
        assert_nothing_left(&root, vmid, &local(&root), &[]);
        assert!(
            mounts_anywhere(&root).is_empty(),
            "{:?}",
            mounts_anywhere(&root)
        );
    }
}

/// Detaches a loop device the test attached, whatever happens.
struct LoopGuard(String);

impl Drop for LoopGuard {
    fn drop(&mut self) {
        // Usually gone already: destroy detached it.
        let _ = Command::new("losetup")
            .arg("-d")
            .arg(&self.0)
            .stderr(Stdio::null())
            .status();
    }
}

fn losetup(image: &Path) -> LoopGuard {
    let output = Command::new("losetup")
        .args(["-f", "--show"])
        .arg(image)
        .output()
        .unwrap();
    assert!(output.status.success());
    LoopGuard(String::from_utf8(output.stdout).unwrap().trim().to_string())
}

#[test]
fn destroy_takes_down_leftover_mounts_and_loop_devices() {
    let root = TestRoot::new();
    common::debianish_template(&root);
    let template = "local:vztmpl/debianish_12.0-1_amd64.tar.gz";
    root.pct_ok(&["create", "9407", template, "--rootfs", "local:1"]);
    root.pct_ok(&["set", "9407", "--mp0", "local:1,mp=/data"]);
    let rootfs_image = local(&root).join("images/9407/vm-9407-disk-0.raw");
    let mp_image = local(&root).join("images/9407/vm-9407-disk-1.raw");
    // What an interrupted create of an older version, or an admin, leaves: the rootfs
    // mounted at the staging directory and elsewhere under the host root, and a bare loop
    // device on the other volume.
    let staging = root.join("var/lib/lxc/9407/rootfs");
    let elsewhere = root.join("mnt/peek");
    fs::create_dir_all(&staging).unwrap();
    fs::create_dir_all(&elsewhere).unwrap();
    let mount = |args: &[&str], target: &Path| {
        let status = Command::new("mount")
            .args(args)
            .arg(target)
            .status()
            .unwrap();
        assert!(status.success(), "mount {args:?}");
    };
    mount(&["-o", "loop", rootfs_image.to_str().unwrap()], &staging);
    mount(&["--bind", staging.to_str().unwrap()], &elsewhere);
    let _bare = losetup(&mp_image);
    assert_eq!(loop_devices_below(root.path()).len(), 2);

    root.pct_ok(&["destroy", "9407"]);
    assert_nothing_left(&root, 9407, &local(&root), &[]);
}

#[test]
fn destroy_fails_when_a_volume_cannot_be_freed() {
    let root = TestRoot::new();
    common::debianish_template(&root);
    let template = "local:vztmpl/debianish_12.0-1_amd64.tar.gz";
    root.pct_ok(&["create", "9408", template, "--rootfs", "local:0"]);
    // A volume the config does not name, held by a loop device someone keeps open.
    let stray = local(&root).join("images/9408/vm-9408-disk-1.raw");
    fs::File::create(&stray).unwrap().set_len(16 << 20).unwrap();
    let device = losetup(&stray);
    let holder = fs::File::open(&device.0).unwrap();

    let (code, _, stderr) = root.pct(&["destroy", "9408", "--destroy-unreferenced-disks", "1"]);
    assert_eq!(code, 255, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "unable to free volume 'local:9408/vm-9408-disk-1.raw' - volume 'local:9408/vm-9408-disk-1.raw' is in use by {}",
            device.0
        )),
        "{stderr}"
    );
    assert!(stray.exists());
    // The config stays, locked, naming what is left to do.
    let config = config_text(&root, 9408).expect("config kept");
    assert!(config.contains("lock: destroyed"), "{config}");

    drop(holder);
    root.pct_ok(&["unlock", "9408"]);
    root.pct_ok(&["destroy", "9408", "--destroy-unreferenced-disks", "1"]);
    assert_nothing_left(&root, 9408, &local(&root), &[]);
}

#[test]
fn sigkill_during_set_leaves_no_orphan_volume() {
    let root = TestRoot::new();
    common::debianish_template(&root);
    let template = "local:vztmpl/debianish_12.0-1_amd64.tar.gz";
    root.pct_ok(&["create", "9409", template, "--rootfs", "local:0"]);
    let before = config_text(&root, 9409).unwrap();
    let set = Running::start(&root, &["set", "9409", "--mp0", "local:4,mp=/data"]);
    let mkfs = set.wait_for_child("mkfs.ext4");
    set.signal(libc::SIGKILL);
    set.finish();
    wait_gone(mkfs);

    assert_eq!(config_text(&root, 9409).unwrap(), before);
    let volumes = volumes_of(&local(&root), 9409);
    assert_eq!(volumes.len(), 1, "only the rootfs: {volumes:?}");
    assert!(
        volumes[0].ends_with("subvol-9409-disk-0.subvol"),
        "{volumes:?}"
    );

    // Interrupted or not, the next allocation works and the volume is the config's.
    root.pct_ok(&["set", "9409", "--mp0", "local:1,mp=/data"]);
    assert!(
        config_text(&root, 9409)
            .unwrap()
            .contains("mp0: local:9409/vm-9409-disk-1.raw,mp=/data,size=1G")
    );
    root.pct_ok(&["destroy", "9409"]);
    assert_nothing_left(&root, 9409, &local(&root), &[]);
}

#[test]
fn create_on_a_full_storage_fails_with_enospc_and_leaves_nothing() {
    let root = TestRoot::new();
    let template = big_template(&root);
    let tiny = root.join("tiny");
    fs::create_dir_all(&tiny).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64m", "tmpfs"])
        .arg(&tiny)
        .status()
        .unwrap();
    assert!(status.success());
    root.write(
        "etc/pve/storage.cfg",
        "dir: local\n\tpath /var/lib/vz\n\tcontent vztmpl,rootdir,images\n\ndir: tiny\n\tpath /tiny\n\tcontent rootdir,images\n",
    );

    let (code, stdout, stderr) = root.pct(&["create", "9410", &template, "--rootfs", "tiny:1"]);
    assert_eq!(code, 255, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "unable to create CT 9410 - unable to write rootfs 'tiny:9410/vm-9410-disk-0.raw': No space left on device"
        ),
        "{stderr}"
    );
    assert_nothing_left(&root, 9410, &tiny, std::slice::from_ref(&tiny));
}
