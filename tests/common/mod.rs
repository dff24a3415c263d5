//! Shared fixtures for integration tests: a temporary host root that unmounts and removes
//! everything on drop, small template archives, and a runner for the `pct` binary.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod ct;
pub mod net;

/// The `pct` under test: `CORRAL_TEST_PCT` when set (the VM rig runs tests away from the
/// build tree), else the one cargo built.
pub fn pct_binary() -> PathBuf {
    std::env::var_os("CORRAL_TEST_PCT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_pct")))
}

/// A host root under a temporary directory. Drop unmounts whatever is mounted below it
/// (deepest first) before deleting it, so a failing test leaves nothing behind.
pub struct TestRoot {
    dir: tempfile::TempDir,
}

impl TestRoot {
    pub fn new() -> TestRoot {
        let dir = tempfile::Builder::new()
            .prefix("corral-test-")
            .tempdir_in("/var/tmp")
            .expect("temp dir");
        TestRoot { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative.trim_start_matches('/'))
    }

    pub fn write(&self, relative: &str, content: &str) {
        let path = self.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    /// Add raw lines to a container's config, as an admin edits it; the text before comes
    /// back, to put it back with `write`.
    pub fn append_config(&self, vmid: u32, lines: &str) -> String {
        let relative = format!("etc/pve/lxc/{vmid}.conf");
        let before = self.read(&relative);
        self.write(&relative, &format!("{before}{lines}"));
        before
    }

    /// A btrfs file system of `bytes` on a loop-backed image (`btrfs.img`) under this root,
    /// mounted at `mnt/btrfs` (the drop unmounts it), for a storage.cfg to name
    /// (`path /mnt/btrfs`).
    pub fn mount_btrfs(&self, bytes: u64) {
        let image = self.join("btrfs.img");
        fs::File::create(&image).unwrap().set_len(bytes).unwrap();
        let status = std::process::Command::new("mkfs.btrfs")
            .arg("-q")
            .arg(&image)
            .status()
            .expect("mkfs.btrfs");
        assert!(status.success(), "mkfs.btrfs");
        let mountpoint = self.join("mnt/btrfs");
        fs::create_dir_all(&mountpoint).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&mountpoint)
            .status()
            .unwrap();
        assert!(status.success(), "mount the btrfs image");
    }

    pub fn read(&self, relative: &str) -> String {
        fs::read_to_string(self.join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
    }

    /// Run `pct` with this root; returns (exit code, stdout, stderr).
    pub fn pct(&self, args: &[&str]) -> (i32, String, String) {
        let output: Output = Command::new(pct_binary())
            .args(args)
            .env("CORRAL_ROOT", self.path())
            .output()
            .expect("run pct");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Run `pct` and give up after `timeout`, killing it: for the commands a hung monitor
    /// would otherwise hold forever. Returns (exit code, stdout, stderr).
    pub fn pct_within(&self, args: &[&str], timeout: std::time::Duration) -> (i32, String, String) {
        use std::io::Read;
        let mut child = Command::new(pct_binary())
            .args(args)
            .env("CORRAL_ROOT", self.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run pct");
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!("pct {args:?} did not finish within {timeout:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let (mut stdout, mut stderr) = (String::new(), String::new());
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status.code().unwrap_or(-1), stdout, stderr)
    }

    /// Run `pct` and require success; returns stdout.
    pub fn pct_ok(&self, args: &[&str]) -> String {
        let (code, stdout, stderr) = self.pct(args);
        assert_eq!(code, 0, "pct {args:?} failed:\n{stderr}\n{stdout}");
        stdout
    }

    /// Copy a template into this root's `local` storage; returns its volume id.
    pub fn install_template(&self, template: &Path) -> String {
        let cache = self.join("var/lib/vz/template/cache");
        fs::create_dir_all(&cache).unwrap();
        let name = template.file_name().unwrap().to_string_lossy().into_owned();
        fs::copy(template, cache.join(&name)).unwrap();
        format!("local:vztmpl/{name}")
    }

    /// Mount points below this root, deepest first.
    pub fn mounts_below(&self) -> Vec<PathBuf> {
        mounts_below(self.path())
    }
}

pub fn mounts_below(root: &Path) -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut found: Vec<PathBuf> = text
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(field.replace("\\040", " ")))
        .filter(|path| path.starts_with(root))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found
}

impl Drop for TestRoot {
    fn drop(&mut self) {
        for mount in self.mounts_below() {
            let _ = Command::new("umount").arg("-l").arg(&mount).status();
        }
    }
}

/// The loop devices backed by files below `root`.
pub fn loop_devices_below(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(entries) = fs::read_dir("/sys/block") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with("loop") {
                continue;
            }
            if let Ok(backing) = fs::read_to_string(entry.path().join("loop/backing_file"))
                && Path::new(backing.trim()).starts_with(root)
            {
                found.push(name);
            }
        }
    }
    found
}

/// What goes into a test template.
pub enum Entry<'a> {
    Dir(&'a str, u32, u32, u32),
    File(&'a str, &'a [u8], u32, u32, u32),
    Symlink(&'a str, &'a str),
}

/// Write a gzip template with these entries (paths without leading `./`).
pub fn make_template(path: &Path, entries: &[Entry<'_>]) {
    let file = fs::File::create(path).unwrap();
    let encoder = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    write_tar(encoder, entries).finish().unwrap();
}

/// Write an uncompressed template (for large ones: gzip is slow in a debug build).
pub fn make_plain_template(path: &Path, entries: &[Entry<'_>]) {
    write_tar(fs::File::create(path).unwrap(), entries)
        .sync_all()
        .unwrap();
}

/// The tar stream of `entries` into `writer`; returns the writer.
fn write_tar<W: std::io::Write>(writer: W, entries: &[Entry<'_>]) -> W {
    let mut builder = tar::Builder::new(writer);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        match entry {
            Entry::Dir(name, mode, uid, gid) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                header.set_uid(*uid as u64);
                header.set_gid(*gid as u64);
                header.set_size(0);
                header.set_mtime(1_700_000_000);
                builder
                    .append_data(&mut header, format!("./{name}/"), std::io::empty())
                    .unwrap();
            }
            Entry::File(name, data, mode, uid, gid) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_uid(*uid as u64);
                header.set_gid(*gid as u64);
                header.set_size(data.len() as u64);
                header.set_mtime(1_700_000_000);
                // Written raw, so that hostile names (`..`) the tar crate refuses still get in.
                let path = format!("./{name}");
                let raw = &mut header.as_old_mut().name;
                assert!(path.len() < raw.len(), "test path too long");
                raw.fill(0);
                raw[..path.len()].copy_from_slice(path.as_bytes());
                header.set_cksum();
                builder.append(&header, *data).unwrap();
            }
            Entry::Symlink(name, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_uid(0);
                header.set_gid(0);
                header.set_size(0);
                header.set_mode(0o777);
                header.set_mtime(1_700_000_000);
                builder
                    .append_link(&mut header, format!("./{name}"), target)
                    .unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

/// What makes a rootfs a Debian 12 to pct's detection: busybox as /bin/sh (so the
/// architecture can be read from it), an os-release and a debian_version.
pub fn debian_base(busybox: &[u8]) -> Vec<Entry<'_>> {
    vec![
        Entry::Dir(".", 0o755, 0, 0),
        Entry::Dir("bin", 0o755, 0, 0),
        Entry::File("bin/busybox", busybox, 0o755, 0, 0),
        Entry::Symlink("bin/sh", "busybox"),
        Entry::Dir("etc", 0o755, 0, 0),
        Entry::File(
            "etc/os-release",
            b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n",
            0o644,
            0,
            0,
        ),
        Entry::File("etc/debian_version", b"12.7\n", 0o644, 0, 0),
    ]
}

/// A small Debian-looking template: busybox as /bin/sh (so the arch can be detected), an
/// os-release, and a file owned by uid 1000.
pub fn debianish_template(root: &TestRoot) -> PathBuf {
    let busybox = fs::read("/bin/busybox").expect("busybox-static provides /bin/busybox");
    let dir = root.join("var/lib/vz/template/cache");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("debianish_12.0-1_amd64.tar.gz");
    let mut entries = debian_base(&busybox);
    entries.extend([
        Entry::Dir("home", 0o755, 0, 0),
        Entry::Dir("home/user", 0o750, 1000, 1000),
        Entry::File("home/user/notes", b"hello\n", 0o640, 1000, 1000),
        Entry::Dir("sbin", 0o755, 0, 0),
        Entry::Symlink("sbin/init", "/bin/busybox"),
    ]);
    make_template(&path, &entries);
    path
}

/// The busybox template (made once by scripts/make-busybox-template and cached in
/// /var/tmp/corral-test-templates), or the one in `CORRAL_TEST_TEMPLATES` (the VM rig's).
pub fn busybox_template() -> PathBuf {
    if let Some(dir) = std::env::var_os("CORRAL_TEST_TEMPLATES") {
        return fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
            .expect("a busybox template in CORRAL_TEST_TEMPLATES");
    }
    let cache = Path::new("/var/tmp/corral-test-templates");
    fs::create_dir_all(cache).unwrap();
    let lock = fs::File::create(cache.join("busybox-.lock")).unwrap();
    // SAFETY: flock on a descriptor we own; released when `lock` drops.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    let output =
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-busybox-template"))
            .arg(cache)
            .output()
            .expect("run make-busybox-template");
    assert!(output.status.success(), "make-busybox-template failed");
    let stdout = String::from_utf8(output.stdout).unwrap();
    PathBuf::from(stdout.lines().last().unwrap())
}

/// Monitors as `ps` shows them: command line `corral monitor <vmid>`, name `corral-monitor`.
pub fn monitor_pids(vmid: u32) -> Vec<u32> {
    let wanted = format!("corral monitor {vmid}");
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            cmdline.trim_end_matches('\0') == wanted
                && fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|comm| comm.trim() == "corral-monitor")
        })
        .collect()
}

// Templates built by the scripts, once per machine, shared between test processes.

pub fn template_cache() -> PathBuf {
    let dir = PathBuf::from("/var/tmp/corral-test-templates");
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The template a script makes, built under an exclusive lock so parallel test processes
/// build it once.
pub fn cached_template(script: &str, args: &[&str], name_prefix: &str) -> PathBuf {
    let dir = template_cache();
    let lock = fs::File::create(dir.join(format!("{name_prefix}.lock"))).unwrap();
    // SAFETY: flock on a descriptor we own; released when `lock` closes.
    assert_eq!(
        unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) },
        0
    );
    let existing = fs::read_dir(&dir).unwrap().flatten().find(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.starts_with(name_prefix) && !name.ends_with(".lock")
    });
    if let Some(entry) = existing {
        return entry.path();
    }
    let script_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(script);
    let output = Command::new(script_path)
        .args(args)
        .arg(&dir)
        .output()
        .expect("run template script");
    assert!(
        output.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    PathBuf::from(stdout.lines().last().unwrap().trim())
}

/// A debootstrapped Debian 12 template, made once per machine.
pub fn debian_template() -> PathBuf {
    cached_template("make-debian-template", &["bookworm"], "debian-12-")
}

/// Say that a check was skipped, and why, where the test harness does not swallow it: the
/// harness captures `eprintln!` of passing tests, not writes to the stderr handle itself.
pub fn skip_visibly(test: &str, reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
}

/// Whether `path` is a btrfs subvolume (its root directory has inode 256).
pub fn is_subvolume(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).is_ok_and(|m| m.is_dir() && m.ino() == 256)
}

/// Whether a btrfs subvolume is read-only (its `ro` property).
pub fn is_read_only(path: &Path) -> bool {
    let output = std::process::Command::new("btrfs")
        .args(["property", "get", "-ts"])
        .arg(path)
        .arg("ro")
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim() == "ro=true"
}
