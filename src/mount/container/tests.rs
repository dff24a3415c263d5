//! Each step runs against a staging rootfs in a temporary directory, as root, on a thread in a
//! mount namespace of its own (nothing it mounts reaches the host, and its mounts go with the
//! thread), and the tests check what the kernel then shows: the mount table's file system
//! types and flags, file contents, modes and device numbers, and the error each refusal names.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::FileType;

use super::*;
use crate::config::{Config, ParseMode, Vmid};
use crate::mount::VolumeSource;
use crate::runtime::plan::{BOOT_ID_TARGET, HostFacts};

#[test]
fn directories_are_masked_with_an_empty_tmpfs_and_the_rest_with_dev_null() {
    assert_eq!(mask_cover(FileType::Directory), MaskCover::EmptyTmpfs);
    for other in [
        FileType::RegularFile,
        FileType::CharacterDevice,
        FileType::BlockDevice,
        FileType::Fifo,
        FileType::Socket,
    ] {
        assert_eq!(mask_cover(other), MaskCover::DevNull, "{other:?}");
    }
}

/// A staging rootfs (`proc`, `sys`, `dev`, `mnt` and a marker file) beside a directory of
/// host-side sources.
struct Staging {
    _dir: tempfile::TempDir,
    root: PathBuf,
    host: PathBuf,
}

impl Staging {
    fn new() -> Staging {
        let dir = tempfile::tempdir().unwrap();
        // The mount table shows canonical paths.
        let base = dir.path().canonicalize().unwrap();
        let root = base.join("rootfs");
        for sub in ["proc", "sys", "dev", "mnt"] {
            fs::create_dir_all(root.join(sub)).unwrap();
        }
        fs::write(root.join("marker"), "staged").unwrap();
        let host = base.join("host");
        fs::create_dir(&host).unwrap();
        Staging {
            _dir: dir,
            root,
            host,
        }
    }

    /// `path` inside the rootfs, as the host sees it.
    fn path(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }

    fn fd(&self, path: &str) -> OwnedFd {
        open_host(self.path(path)).unwrap()
    }

    fn rootfs(&self) -> OwnedFd {
        self.fd(".")
    }

    /// A host-side file holding `text`.
    fn host_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.host.join(name);
        fs::write(&path, text).unwrap();
        path
    }

    fn objects(&self, paths: HostPaths) -> HostObjects {
        let paths = HostPaths {
            rootfs: self.root.clone(),
            ..paths
        };
        paths.open().map_err(|e| e.to_string()).unwrap()
    }
}

/// Run `work` on a fresh staging rootfs, as root, in a mount namespace of its own; none when
/// not root (the skip reported).
fn staged<T: Send>(work: impl FnOnce(&Staging) -> T + Send) -> Option<T> {
    if !crate::skip::root_or_report() {
        return None;
    }
    let staging = Staging::new();
    Some(crate::mount::in_private_mount_namespace(|| work(&staging)).unwrap())
}

/// A privileged container's plan: proc:mixed, sys:mixed, mknod'ed nodes, the default masks.
fn plan() -> StartPlan {
    let text = "arch: amd64\nhostname: ct\nostype: debian\nrootfs: local:100/subvol-100-disk-0.subvol,size=8G\n";
    let (config, _) = Config::parse(Vmid::new(100).unwrap(), text, ParseMode::Strict).unwrap();
    let mut facts = HostFacts::default();
    facts
        .volumes
        .insert("rootfs".into(), VolumeSource::Directory("/staging".into()));
    StartPlan::build(100, &config.main, &facts).unwrap()
}

fn entry(source: &str, target: &str, fstype: &str, options: &str) -> MountEntryPlan {
    MountEntryPlan {
        source: source.into(),
        target: target.into(),
        fstype: fstype.into(),
        options: crate::runtime::plan::mount_entry::parse_options(options).unwrap(),
    }
}

/// A mount as this thread's mount table shows it.
#[derive(Debug)]
struct Shown {
    fstype: String,
    /// Those of ro/rw, nosuid, nodev and noexec it has, in that order.
    flags: String,
    super_options: Vec<String>,
}

/// The topmost mount at `point` (the table lists a mount after those it covers).
fn mounted_at(point: &Path) -> Option<Shown> {
    let table = fs::read_to_string("/proc/thread-self/mountinfo").unwrap();
    table.lines().rev().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        if Path::new(fields[4]) != point {
            return None;
        }
        let options: Vec<&str> = fields[5].split(',').collect();
        let rest = &fields[fields.iter().position(|f| *f == "-")? + 1..];
        Some(Shown {
            fstype: rest[0].to_string(),
            flags: ["ro", "rw", "nosuid", "nodev", "noexec"]
                .into_iter()
                .filter(|flag| options.contains(flag))
                .collect::<Vec<_>>()
                .join(","),
            super_options: rest[2].split(',').map(String::from).collect(),
        })
    })
}

/// The mount points of this thread's mount namespace, as its root sees them.
fn mount_points() -> Vec<String> {
    fs::read_to_string("/proc/thread-self/mountinfo")
        .unwrap()
        .lines()
        .map(|line| line.split(' ').nth(4).unwrap().to_string())
        .collect()
}

#[track_caller]
fn assert_flags(point: &Path, flags: &str) -> Shown {
    let shown =
        mounted_at(point).unwrap_or_else(|| panic!("nothing mounted at {}", point.display()));
    assert_eq!(shown.flags, flags, "flags of {}", point.display());
    shown
}

#[track_caller]
fn assert_mounted(point: &Path, fstype: &str, flags: &str) -> Shown {
    let shown = assert_flags(point, flags);
    assert_eq!(shown.fstype, fstype, "file system at {}", point.display());
    shown
}

#[track_caller]
fn assert_has_options(shown: &Shown, options: &[&str]) {
    for option in options {
        assert!(
            shown.super_options.iter().any(|o| o == option),
            "{option} missing from {shown:?}"
        );
    }
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode()
}

fn device_numbers(path: &Path) -> (u32, u32) {
    let meta = fs::metadata(path).unwrap();
    assert!(meta.file_type().is_char_device(), "{}", path.display());
    (
        rustix::fs::major(meta.rdev()),
        rustix::fs::minor(meta.rdev()),
    )
}

#[track_caller]
fn assert_read_only(path: &Path) {
    let error = fs::write(path, "x").unwrap_err();
    assert_eq!(
        error.raw_os_error(),
        Some(libc::EROFS),
        "{}",
        path.display()
    );
}

/// Bind the host's `source` onto `target` (an existing file or directory).
fn bind(source: &Path, target: &Path) {
    let tree = clone_tree(open_host(source).unwrap().as_fd(), c"", false, "source").unwrap();
    attach(&tree, open_host(target).unwrap().as_fd(), "target").unwrap();
}

/// Whether `fd` only names its file (O_PATH) and is closed on exec: the container's init must
/// not inherit it.
#[track_caller]
fn assert_path_only(fd: &OwnedFd) {
    assert!(rustix::fs::fcntl_getfl(fd).unwrap().contains(OFlags::PATH));
    assert_close_on_exec(fd);
}

#[track_caller]
fn assert_close_on_exec(fd: &OwnedFd) {
    let flags = rustix::io::fcntl_getfd(fd).unwrap();
    assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
}

fn file_type(fd: &OwnedFd) -> FileType {
    FileType::from_raw_mode(rustix::fs::fstat(fd).unwrap().st_mode)
}

fn error_text(result: Result<(), SetupError>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn proc_mixed_makes_proc_sys_read_only_except_its_net_subtree() {
    let has_sysrq = staged(|s| {
        let plan = plan();
        assert_eq!(plan.proc, ProcMode::Mixed);
        mount_proc(&plan, &s.fd("proc")).unwrap();
        assert_mounted(&s.path("proc"), "proc", "rw,nosuid,nodev,noexec");
        assert_mounted(&s.path("proc/sys"), "proc", "ro,nosuid,nodev,noexec");
        assert_mounted(&s.path("proc/sys/net"), "proc", "rw,nosuid,nodev,noexec");
        let trigger = s.path("proc/sysrq-trigger");
        let exists = trigger.exists();
        if exists {
            assert_mounted(&trigger, "proc", "ro,nosuid,nodev,noexec");
        }
        exists
    });
    if has_sysrq == Some(false) {
        crate::skip::report("this kernel has no magic SysRq: the trigger's bind is unchecked");
    }
}

#[test]
fn proc_rw_is_proc_alone() {
    staged(|s| {
        let mut plan = plan();
        plan.proc = ProcMode::Rw;
        mount_proc(&plan, &s.fd("proc")).unwrap();
        assert_mounted(&s.path("proc"), "proc", "rw,nosuid,nodev,noexec");
        assert!(mounted_at(&s.path("proc/sys")).is_none());
    });
}

#[test]
fn sys_is_read_only_for_mixed_and_ro_with_the_net_subtree_writable_for_mixed() {
    staged(|s| {
        let mut plan = plan();
        assert_eq!(plan.sys, SysMode::Mixed);
        for (mode, name, top) in [
            (SysMode::Mixed, "mixed", "ro"),
            (SysMode::Ro, "ro", "ro"),
            (SysMode::Rw, "rw", "rw"),
        ] {
            fs::create_dir(s.path(name)).unwrap();
            plan.sys = mode;
            mount_sys(&plan, &s.fd(name)).unwrap();
            let sys = s.path(name);
            assert_mounted(&sys, "sysfs", &format!("{top},nosuid,nodev,noexec"));
            let cgroup = sys.join("fs/cgroup");
            assert_mounted(&cgroup, "cgroup2", "rw,nosuid,nodev,noexec");
            let net = sys.join("devices/virtual/net");
            if mode == SysMode::Mixed {
                assert_mounted(&net, "sysfs", "rw,nosuid,nodev,noexec");
            } else {
                assert!(mounted_at(&net).is_none(), "{mode:?}");
            }
        }
    });
}

#[test]
fn dev_is_a_tmpfs_with_the_nodes_ptys_and_passthrough_devices() {
    staged(|s| {
        let mut plan = plan();
        assert_eq!(plan.dev.creation, NodeCreation::Mknod);
        plan.nesting = true;
        let host = s.objects(HostPaths {
            console: Some(s.host_file("console", "the console")),
            ttys: vec![
                s.host_file("tty-a", "the first tty"),
                s.host_file("tty-b", "the second tty"),
            ],
            devices: vec![
                ("/dev/kvm".into(), s.host_file("kvm", "kvm")),
                ("/dev/net/tun".into(), s.host_file("tun", "tun")),
                ("/dev/dri/by-path/card".into(), s.host_file("card", "card")),
            ],
            ..Default::default()
        });
        mount_dev(&plan, &host, &s.fd("dev")).unwrap();
        let dev = |name: &str| s.path("dev").join(name);

        let tmpfs = assert_mounted(&s.path("dev"), "tmpfs", "rw,nosuid,noexec");
        assert_has_options(&tmpfs, &["size=500k", "mode=755"]);
        for node in &plan.dev.nodes {
            let path = dev(&node.name);
            assert_eq!(device_numbers(&path), (node.major, node.minor), "{node:?}");
            assert_eq!(mode(&path) & 0o7777, 0o666, "{node:?}");
            assert!(mounted_at(&path).is_none(), "{node:?} made, not bound");
        }
        for (name, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            assert_eq!(fs::read_link(dev(name)).unwrap(), Path::new(target));
        }

        let devpts = assert_mounted(&dev("pts"), "devpts", "rw,nosuid,noexec");
        assert_has_options(&devpts, &["gid=5", "mode=620", "ptmxmode=666"]);
        assert_mounted(&dev("ptmx"), "devpts", "rw,nosuid,noexec");
        for (name, text) in [
            ("console", "the console"),
            ("tty1", "the first tty"),
            ("tty2", "the second tty"),
            ("kvm", "kvm"),
            ("net/tun", "tun"),
            ("dri/by-path/card", "card"),
        ] {
            assert_eq!(fs::read_to_string(dev(name)).unwrap(), text, "/dev/{name}");
            assert!(mounted_at(&dev(name)).is_some(), "/dev/{name} is a bind");
        }
        assert!(!dev("tty0").exists(), "ttys count from 1");

        assert_mounted(&dev("shm"), "tmpfs", "rw,nosuid,nodev");
        assert_eq!(mode(&dev("shm")), 0o41777);
        assert_mounted(&dev("mqueue"), "mqueue", "rw,nosuid,nodev,noexec");
        assert_mounted(&dev(".lxc/proc"), "proc", "rw,nosuid,nodev,noexec");
        assert_mounted(&dev(".lxc/sys"), "sysfs", "rw,nosuid,nodev,noexec");
    });
}

#[test]
fn dev_binds_the_hosts_nodes_where_mknod_is_not_allowed() {
    staged(|s| {
        let mut plan = plan();
        plan.dev.creation = NodeCreation::Bind;
        let host = s.objects(HostPaths {
            basic_nodes: vec![
                ("null".into(), "/dev/null".into()),
                ("zero".into(), "/dev/zero".into()),
            ],
            ..Default::default()
        });
        mount_dev(&plan, &host, &s.fd("dev")).unwrap();
        let dev = |name: &str| s.path("dev").join(name);
        for (name, minor) in [("null", 3), ("zero", 5)] {
            assert!(mounted_at(&dev(name)).is_some(), "{name} is a bind");
            assert_eq!(device_numbers(&dev(name)), (1, minor));
        }
        assert!(!dev("full").exists(), "only the host's nodes");
        assert!(!dev(".lxc").exists(), "no nesting, no /dev/.lxc");
    });
}

#[test]
fn masks_cover_files_with_dev_null_and_directories_with_an_empty_read_only_tmpfs() {
    staged(|s| {
        fs::write(s.path("dev/null"), "").unwrap();
        bind(Path::new("/dev/null"), &s.path("dev/null"));
        fs::write(s.path("secret"), "secret").unwrap();
        fs::create_dir(s.path("secrets")).unwrap();
        fs::write(s.path("secrets/key"), "key").unwrap();
        // A read-only path with a mount below it, which stays.
        fs::create_dir_all(s.path("config/sub")).unwrap();
        fs::create_dir(s.host.join("sub")).unwrap();
        fs::write(s.host.join("sub/inner"), "inner").unwrap();
        bind(&s.host.join("sub"), &s.path("config/sub"));
        let mut plan = plan();
        plan.masked_paths = vec!["/secret".into(), "/secrets".into(), "/absent".into()];
        plan.readonly_paths = vec!["/config".into(), "/absent/too".into()];
        mask_paths(&plan, &s.rootfs()).unwrap();

        let secret = s.path("secret");
        assert_eq!(fs::read_to_string(&secret).unwrap(), "");
        assert_eq!(device_numbers(&secret), (1, 3));
        assert_flags(&secret, "ro,nosuid,noexec");

        let secrets = s.path("secrets");
        let tmpfs = assert_mounted(&secrets, "tmpfs", "ro,nosuid,nodev,noexec");
        assert_has_options(&tmpfs, &["size=4k", "nr_inodes=1"]);
        assert_eq!(mode(&secrets), 0o40555);
        assert_eq!(fs::read_dir(&secrets).unwrap().count(), 0);
        assert_read_only(&secrets.join("new"));

        assert_flags(&s.path("config"), "ro");
        assert_read_only(&s.path("config/new"));
        let inner = s.path("config/sub/inner");
        assert_eq!(fs::read_to_string(inner).unwrap(), "inner");
        assert!(!s.path("absent").exists());
    });
}

#[test]
fn masks_follow_no_symlink_and_files_need_dev_null() {
    staged(|s| {
        fs::create_dir(s.path("real")).unwrap();
        fs::write(s.path("real/file"), "file").unwrap();
        std::os::unix::fs::symlink("real", s.path("link")).unwrap();
        let mut plan = plan();
        plan.readonly_paths = Vec::new();
        plan.masked_paths = vec!["/link/file".into()];
        assert_eq!(
            error_text(mask_paths(&plan, &s.rootfs())),
            "open '/link/file': Too many levels of symbolic links (os error 40)"
        );
        plan.masked_paths = vec!["/real/file".into()];
        assert_eq!(
            error_text(mask_paths(&plan, &s.rootfs())),
            "mask '/real/file': No such file or directory (os error 2)"
        );
        // A directory's mask needs no /dev/null.
        plan.masked_paths = vec!["/real".into()];
        mask_paths(&plan, &s.rootfs()).unwrap();
        assert_mounted(&s.path("real"), "tmpfs", "ro,nosuid,nodev,noexec");
    });
}

#[test]
fn the_boot_id_is_a_fresh_uuid_bound_read_only_over_the_kernels() {
    staged(|s| {
        let mut plan = plan();
        let target = s.path(plan.boot_id.target.trim_start_matches('/'));
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::write(&target, "the host's boot id\n").unwrap();
        bind_boot_id(&plan, &s.rootfs()).unwrap();

        let file = s.path(plan.boot_id.file.trim_start_matches('/'));
        let id = fs::read_to_string(&target).unwrap();
        assert_eq!(id, fs::read_to_string(&file).unwrap());
        let groups: Vec<usize> = id.trim_end().split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{id:?}");
        assert_eq!(mode(&file) & 0o7777, 0o444);
        assert_flags(&target, "ro,nosuid,nodev,noexec");

        // Never written through something already there.
        assert_eq!(
            error_text(bind_boot_id(&plan, &s.rootfs())),
            "create '/dev/.lxc-boot-id': File exists (os error 17)"
        );
        // Each start draws a new one (into a fresh /dev, here a new name).
        plan.boot_id.file = "/dev/next-boot-id".into();
        bind_boot_id(&plan, &s.rootfs()).unwrap();
        assert_ne!(fs::read_to_string(&target).unwrap(), id);

        // Nor through a symlink put in its way.
        plan.boot_id.file = "/linked/boot-id".into();
        fs::create_dir(s.path("elsewhere")).unwrap();
        std::os::unix::fs::symlink("elsewhere", s.path("linked")).unwrap();
        assert_eq!(
            error_text(bind_boot_id(&plan, &s.rootfs())),
            "create '/linked/boot-id': Too many levels of symbolic links (os error 40)"
        );
        assert!(!s.path("elsewhere/boot-id").exists());

        // A kernel without the file gets none.
        plan.boot_id.target = "/proc/sys/kernel/random/absent".into();
        plan.boot_id.file = "/dev/unused-boot-id".into();
        bind_boot_id(&plan, &s.rootfs()).unwrap();
        assert!(!s.path("dev/unused-boot-id").exists());
    });
}

#[test]
fn lxcfs_files_are_bound_read_only_where_both_sides_have_them() {
    staged(|s| {
        fs::write(s.path("proc/uptime"), "the kernel's uptime").unwrap();
        let host = s.objects(HostPaths {
            lxcfs: vec![
                (
                    "/proc/uptime".into(),
                    s.host_file("uptime", "lxcfs's uptime"),
                ),
                // lxcfs no longer serves it.
                ("/proc/meminfo".into(), s.host.join("meminfo")),
                // The container's kernel has no such file.
                (
                    "/proc/cpuinfo".into(),
                    s.host_file("cpuinfo", "lxcfs's cpuinfo"),
                ),
            ],
            ..Default::default()
        });
        let opened: Vec<&str> = host.lxcfs.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(opened, ["/proc/uptime", "/proc/cpuinfo"]);
        bind_lxcfs(&host, &s.rootfs()).unwrap();
        let uptime = s.path("proc/uptime");
        assert_eq!(fs::read_to_string(&uptime).unwrap(), "lxcfs's uptime");
        assert_flags(&uptime, "ro,nosuid,nodev,noexec");
        assert!(!s.path("proc/cpuinfo").exists());
    });
}

#[test]
fn host_paths_open_as_path_only_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    fs::write(&file, "").unwrap();
    let host = HostPaths {
        rootfs: dir.path().into(),
        basic_nodes: vec![("null".into(), "/dev/null".into())],
        console: Some(file.clone()),
        ttys: vec![file.clone()],
        devices: vec![("/dev/kvm".into(), file.clone())],
        lxcfs: vec![("/proc/uptime".into(), file.clone())],
    }
    .open()
    .map_err(|e| e.to_string())
    .unwrap();
    let named = |list: &[(String, OwnedFd)]| {
        list.iter()
            .map(|(name, fd)| {
                assert_path_only(fd);
                name.clone()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(named(&host.basic_nodes), ["null"]);
    assert_eq!(named(&host.devices), ["/dev/kvm"]);
    assert_eq!(named(&host.lxcfs), ["/proc/uptime"]);
    for fd in [&host.rootfs, host.console.as_ref().unwrap(), &host.ttys[0]] {
        assert_path_only(fd);
    }
}

#[test]
fn host_paths_that_cannot_be_opened_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let error = HostPaths {
        rootfs: missing.clone(),
        ..Default::default()
    }
    .open()
    .err()
    .unwrap();
    assert_eq!(
        error.to_string(),
        format!(
            "open '{}': No such file or directory (os error 2)",
            missing.display()
        )
    );
    // Only a file lxcfs no longer has is passed over.
    let file = dir.path().join("file");
    fs::write(&file, "").unwrap();
    let error = HostPaths {
        rootfs: dir.path().into(),
        lxcfs: vec![("/proc/uptime".into(), file.join("below"))],
        ..Default::default()
    }
    .open()
    .err()
    .unwrap();
    assert_eq!(
        error.to_string(),
        format!(
            "open '{}/below': Not a directory (os error 20)",
            file.display()
        )
    );
}

#[test]
fn mount_entries_mount_file_systems_and_binds_with_their_options() {
    staged(|s| {
        let data = s.host.join("data");
        fs::create_dir_all(data.join("sub")).unwrap();
        fs::write(data.join("file"), "data").unwrap();
        fs::create_dir(s.host.join("sub")).unwrap();
        fs::write(s.host.join("sub/inner"), "inner").unwrap();
        bind(&s.host.join("sub"), &data.join("sub"));
        let data = data.to_str().unwrap();
        let file = s.host_file("file", "host file");
        let missing = s.host.join("missing");
        let missing = missing.to_str().unwrap();
        // A target already there is kept, on a read-only mount too.
        fs::create_dir(s.path("ro")).unwrap();
        fs::write(s.path("ro/file"), "").unwrap();
        bind(&s.path("ro"), &s.path("ro"));
        let ro = s.fd("ro");
        set_attrs(ro.as_fd(), libc::MOUNT_ATTR_RDONLY, 0, "/ro").unwrap();
        let entries = [
            entry(
                "tmpfs",
                "mnt/tmp",
                "tmpfs",
                "defaults,ro,nosuid,nodev,noexec,size=64k,mode=700,create=dir",
            ),
            entry(data, "mnt/bind", "none", "bind,ro,create=dir"),
            entry(data, "mnt/rbind", "none", "rbind,create=dir"),
            entry(
                file.to_str().unwrap(),
                "etc/deep/file",
                "none",
                "bind,create=file",
            ),
            entry(
                file.to_str().unwrap(),
                "ro/file",
                "none",
                "bind,create=file",
            ),
            entry(missing, "mnt/optional", "none", "bind,optional,create=dir"),
            entry("tmpfs", "mnt/absent", "tmpfs", "optional"),
        ];
        for entry in &entries {
            mount_entry(entry, &s.rootfs()).unwrap();
        }

        let tmpfs = assert_mounted(&s.path("mnt/tmp"), "tmpfs", "ro,nosuid,nodev,noexec");
        assert_has_options(&tmpfs, &["size=64k", "mode=700"]);
        assert_flags(&s.path("mnt/bind"), "ro");
        assert_eq!(fs::read_to_string(s.path("mnt/bind/file")).unwrap(), "data");
        assert!(
            !s.path("mnt/bind/sub/inner").exists(),
            "bind is not recursive"
        );
        assert_flags(&s.path("mnt/rbind"), "rw");
        let inner = s.path("mnt/rbind/sub/inner");
        assert_eq!(fs::read_to_string(inner).unwrap(), "inner");
        for file in ["etc/deep/file", "ro/file"] {
            assert_eq!(fs::read_to_string(s.path(file)).unwrap(), "host file");
        }
        assert!(!s.path("mnt/optional").exists());
        assert!(!s.path("mnt/absent").exists());
    });
}

#[test]
fn mount_entries_that_cannot_be_mounted_name_the_step_and_the_path() {
    staged(|s| {
        let missing = s.host.join("missing");
        let missing = missing.to_str().unwrap();
        std::os::unix::fs::symlink(&s.host, s.path("escape")).unwrap();
        for (entry, error) in [
            (
                entry(missing, "mnt/x", "none", "bind,create=dir"),
                format!(
                    "lxc.mount.entry source '{missing}': No such file or directory (os error 2)"
                ),
            ),
            (
                entry("tmpfs", "mnt/absent", "tmpfs", "defaults"),
                "open '/mnt/absent': No such file or directory (os error 2)".into(),
            ),
            (
                entry("tmpfs", "", "tmpfs", "defaults"),
                "lxc.mount.entry target '/': Invalid argument (os error 22)".into(),
            ),
            (
                entry("tmpfs", "mnt", "tmpfs", "bogus"),
                "mount tmpfs (bogus): Invalid argument (os error 22)".into(),
            ),
            (
                entry("tmpfs", "mnt", "tmpfs", "bogus=1"),
                "mount tmpfs (bogus=1): Invalid argument (os error 22)".into(),
            ),
        ] {
            assert_eq!(error_text(mount_entry(&entry, &s.rootfs())), error);
        }
        // A symlink in the target's path is refused, not followed out of the rootfs.
        let escape = entry("tmpfs", "escape/x", "tmpfs", "create=dir");
        let error = error_text(mount_entry(&escape, &s.rootfs()));
        assert!(
            error.starts_with("lxc.mount.entry target '/escape/x': ") && error.contains("symlink"),
            "{error}"
        );
        assert!(!s.host.join("x").exists());
        assert!(mounted_at(&s.path("mnt")).is_none());
    });
}

#[test]
fn assembly_pivots_into_the_rootfs_with_every_step_done_and_no_host_path_left() {
    if !crate::skip::root_or_report() {
        return;
    }
    let host_boot_id = fs::read_to_string(BOOT_ID_TARGET).unwrap();
    staged(|s| {
        let mut plan = plan();
        plan.mount_entries = vec![entry("tmpfs", "mnt", "tmpfs", "size=64k")];
        let host = s.objects(HostPaths {
            lxcfs: vec![(
                "/proc/uptime".into(),
                s.host_file("uptime", "lxcfs's uptime"),
            )],
            ..Default::default()
        });
        let log = std::cell::RefCell::new(Vec::new());
        assemble_and_pivot(&plan, &host, &|line| {
            log.borrow_mut().push(line.to_string())
        })
        .unwrap();

        assert_eq!(fs::read_to_string("/marker").unwrap(), "staged");
        let points = mount_points();
        assert_eq!(points.iter().filter(|p| *p == "/").count(), 1, "{points:?}");
        assert!(!s.root.exists(), "the host's tree is gone");

        assert_mounted(Path::new("/proc/sys"), "proc", "ro,nosuid,nodev,noexec");
        assert_mounted(Path::new("/sys"), "sysfs", "ro,nosuid,nodev,noexec");
        assert_mounted(Path::new("/dev"), "tmpfs", "rw,nosuid,noexec");
        assert_eq!(device_numbers(Path::new("/dev/null")), (1, 3));
        assert_mounted(Path::new("/mnt"), "tmpfs", "rw");
        let boot_id = fs::read_to_string(BOOT_ID_TARGET).unwrap();
        assert_ne!(boot_id, host_boot_id);
        assert_eq!(boot_id, fs::read_to_string(&plan.boot_id.file).unwrap());
        let uptime = fs::read_to_string("/proc/uptime").unwrap();
        assert_eq!(uptime, "lxcfs's uptime");
        // Whichever of the masked and read-only paths this kernel has.
        for path in plan.masked_paths.iter().map(Path::new) {
            if path.is_dir() {
                assert_mounted(path, "tmpfs", "ro,nosuid,nodev,noexec");
            } else if path.exists() {
                assert_eq!(device_numbers(path), (1, 3), "{}", path.display());
                assert_flags(path, "ro,nosuid,noexec");
            }
        }
        for path in plan.readonly_paths.iter().map(Path::new) {
            if path.exists() {
                assert_flags(path, "ro,nosuid,nodev,noexec");
            }
        }

        let log = log.borrow();
        let stages: Vec<&str> = log.iter().filter_map(|l| l.split(' ').next()).collect();
        assert_eq!(
            stages,
            [
                "bind",
                "mount",
                "mount",
                "mount",
                "mount",
                "write",
                "bind",
                "mask",
                "pivot_root"
            ],
            "{log:?}"
        );
        assert!(
            log.contains(&"bind lxcfs at /proc/uptime".to_string()),
            "{log:?}"
        );
    });
}

#[test]
fn lookups_below_the_rootfs_stay_inside_and_follow_no_link() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("dir")).unwrap();
    fs::write(root.join("dir/file"), "").unwrap();
    fs::write(dir.path().join("outside"), "").unwrap();
    std::os::unix::fs::symlink("dir", root.join("link")).unwrap();
    let base = open_host(&root).unwrap();
    let below = |path: &str| open_below(base.as_fd(), path, "shown").map_err(|e| e.to_string());
    let lookup = |path: &str| lookup_in(&base, path).map_err(|e| e.to_string());

    assert_path_only(&below("dir/file").unwrap());
    assert_path_only(&lookup("/dir/file").unwrap().unwrap());
    assert!(lookup("/absent").unwrap().is_none());
    // `..` at the rootfs's top stays there.
    let missing = "No such file or directory (os error 2)";
    assert_eq!(
        below("../outside").unwrap_err(),
        format!("open 'shown': {missing}")
    );
    assert!(lookup("/../outside").unwrap().is_none());
    // A symlink on the way is refused; one at the end is taken as itself.
    let symlink = "Too many levels of symbolic links (os error 40)";
    assert_eq!(
        below("link/file").unwrap_err(),
        format!("open 'shown': {symlink}")
    );
    let error = lookup("/link/file").unwrap_err();
    assert_eq!(error, format!("open '/link/file': {symlink}"));
    assert_eq!(file_type(&below("link").unwrap()), FileType::Symlink);
    assert_eq!(
        file_type(&lookup("/link").unwrap().unwrap()),
        FileType::Symlink
    );

    // Files are created below in the same way, and an existing one is kept.
    let error = error_text(create_file(base.as_fd(), "link/new", 0o600, "/new"));
    assert_eq!(error, format!("create '/new': {symlink}"));
    assert!(!root.join("dir/new").exists());
    create_file(base.as_fd(), "../new", 0o640, "/new").unwrap();
    assert!(!dir.path().join("new").exists());
    assert_eq!(mode(&root.join("new")) & 0o7777, 0o640);
    fs::write(root.join("new"), "kept").unwrap();
    create_file(base.as_fd(), "new", 0o600, "/new").unwrap();
    assert_eq!(fs::read_to_string(root.join("new")).unwrap(), "kept");

    // A directory is opened as one, and a symlink's own descriptor refused.
    assert_close_on_exec(&directory(below("dir").unwrap().as_fd()).unwrap());
    let refused = directory(below("link").unwrap().as_fd()).unwrap_err();
    assert_eq!(refused, rustix::io::Errno::NOTDIR);
}
