//! The container side of rootfs assembly, run by the freshly cloned init inside its new
//! namespaces: /dev as a small tmpfs with its nodes, devpts, console and ttys, proc and sys in
//! LXC's mixed modes, cgroup2, raw `lxc.mount.entry` lines, the container's own boot id and
//! lxcfs's views, the masks, and finally pivot_root.
//!
//! Every target is reached from a directory descriptor of the staging rootfs, one component at
//! a time without following symlinks, and every mount is made detached first and then moved
//! onto the resolved descriptor (new mount API), so nothing inside the container can redirect
//! a mount out of it.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags, openat2};
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, OpenTreeFlags, fsconfig_create,
    fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, move_mount, open_tree,
};

use super::volumes::resolve_beneath;
use crate::runtime::plan::{
    MountEntryFlag, MountEntryOption, MountEntryPlan, NodeCreation, ProcMode, StartPlan, SysMode,
};

/// A failed step, with the path inside the container it was about.
#[derive(Debug)]
pub struct SetupError {
    pub step: String,
    pub source: io::Error,
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.step, self.source)
    }
}

fn step(text: impl Into<String>) -> impl FnOnce(io::Error) -> SetupError {
    let step = text.into();
    move |source| SetupError { step, source }
}

fn errno(step_text: impl Into<String>) -> impl FnOnce(rustix::io::Errno) -> SetupError {
    let f = step(step_text);
    move |e| f(e.into())
}

/// Host paths the container side needs before its pivot: the staging rootfs, host nodes to
/// bind, the pty slaves and passthrough nodes. The child opens them itself — a descriptor
/// opened by the monitor would refer to the monitor's mount namespace, where the child
/// cannot mount — and does so before it takes the container's root identity, while host
/// directories are still searchable for it.
#[derive(Debug, Clone, Default)]
pub struct HostPaths {
    pub rootfs: PathBuf,
    pub basic_nodes: Vec<(String, PathBuf)>,
    pub console: Option<PathBuf>,
    pub ttys: Vec<PathBuf>,
    /// `devN` nodes prepared by the monitor, with their path inside the container.
    pub devices: Vec<(String, PathBuf)>,
    /// lxcfs's files, with the path each covers inside the container.
    pub lxcfs: Vec<(String, PathBuf)>,
}

/// [`HostPaths`], opened.
pub struct HostObjects {
    pub rootfs: OwnedFd,
    pub basic_nodes: Vec<(String, OwnedFd)>,
    pub console: Option<OwnedFd>,
    pub ttys: Vec<OwnedFd>,
    pub devices: Vec<(String, OwnedFd)>,
    /// Those of lxcfs's files that are still there (lxcfs may have gone since the plan).
    pub lxcfs: Vec<(String, OwnedFd)>,
}

/// A descriptor of a host path that only names it: opening a pty slave or a device node for
/// reading or writing would have effects, and the container's init must not inherit it.
fn open_host(path: impl rustix::path::Arg) -> rustix::io::Result<OwnedFd> {
    rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
}

impl HostPaths {
    pub fn open(&self) -> Result<HostObjects, SetupError> {
        let path_fd =
            |path: &Path| open_host(path).map_err(errno(format!("open '{}'", path.display())));
        Ok(HostObjects {
            rootfs: path_fd(&self.rootfs)?,
            basic_nodes: self
                .basic_nodes
                .iter()
                .map(|(name, path)| Ok((name.clone(), path_fd(path)?)))
                .collect::<Result<_, SetupError>>()?,
            console: self.console.as_deref().map(path_fd).transpose()?,
            ttys: self
                .ttys
                .iter()
                .map(|p| path_fd(p))
                .collect::<Result<_, _>>()?,
            devices: self
                .devices
                .iter()
                .map(|(target, path)| Ok((target.clone(), path_fd(path)?)))
                .collect::<Result<_, SetupError>>()?,
            lxcfs: self.open_lxcfs()?,
        })
    }

    /// A file lxcfs no longer has, or a dead lxcfs (its mount left behind), leaves the
    /// kernel's file in place, as LXC's hook does.
    fn open_lxcfs(&self) -> Result<Vec<(String, OwnedFd)>, SetupError> {
        let mut opened = Vec::new();
        for (target, path) in &self.lxcfs {
            match open_host(path) {
                Ok(fd) => opened.push((target.clone(), fd)),
                Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTCONN) => {}
                Err(e) => return Err(errno(format!("open '{}'", path.display()))(e)),
            }
        }
        Ok(opened)
    }
}

/// Build the container's file system tree on the staging rootfs and pivot into it.
/// `log` hears of each stage (the `pct start --debug` log).
pub fn assemble_and_pivot(
    plan: &StartPlan,
    host: &HostObjects,
    log: &dyn Fn(std::fmt::Arguments<'_>),
) -> Result<(), SetupError> {
    log(format_args!("bind the staged rootfs onto itself"));
    // Mounts copied into a mount namespace owned by a new user namespace are locked to their
    // parents, and pivot_root refuses a locked new root. A recursive bind of the staging tree
    // onto itself, made here, is this namespace's own and can be pivoted to.
    let rootfs = clone_tree(host.rootfs.as_fd(), c"", true, "/")?;
    attach(&rootfs, host.rootfs.as_fd(), "/")?;
    let shown = Path::new("");
    let dir = |path: &str, create: bool| -> Result<OwnedFd, SetupError> {
        let start = rootfs
            .try_clone()
            .map_err(step("duplicate rootfs descriptor"))?;
        resolve_beneath(start, shown, Path::new(path), create.then_some(None))
            .map(|(fd, _)| fd)
            .map_err(|e| SetupError {
                step: format!("resolve '/{path}'"),
                source: io::Error::new(e.source.kind(), e.to_string()),
            })
    };

    // proc and sys first: a user namespace may only mount them while a fully visible
    // instance exists in its mount namespace, which is true until the pivot.
    log(format_args!("mount proc at /proc ({:?})", plan.proc));
    mount_proc(plan, &dir("proc", true)?)?;
    log(format_args!("mount sysfs at /sys ({:?})", plan.sys));
    mount_sys(plan, &dir("sys", true)?)?;
    log(format_args!(
        "mount tmpfs at /dev with devices, devpts, console and ttys"
    ));
    mount_dev(plan, host, &dir("dev", true)?)?;
    for entry in &plan.mount_entries {
        log(format_args!(
            "mount {} at /{} ({} {:?})",
            entry.source, entry.target, entry.fstype, entry.options
        ));
        mount_entry(entry, &rootfs)?;
    }
    log(format_args!(
        "write a new boot id to {} and bind it at {}",
        plan.boot_id.file, plan.boot_id.target
    ));
    bind_boot_id(plan, &rootfs)?;
    if !host.lxcfs.is_empty() {
        log(format_args!(
            "bind lxcfs at {}",
            host.lxcfs
                .iter()
                .map(|(target, _)| target.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    bind_lxcfs(host, &rootfs)?;
    // Last, so that no mount entry lands on top of a mask.
    log(format_args!(
        "mask {} and make {} read-only",
        plan.masked_paths.join(" "),
        plan.readonly_paths.join(" ")
    ));
    mask_paths(plan, &rootfs)?;
    log(format_args!("pivot_root and detach the old root"));
    pivot(&rootfs)
}

fn detached_fs(
    fstype: &str,
    options: &[(&str, &str)],
    attrs: MountAttrFlags,
) -> Result<OwnedFd, SetupError> {
    let what = || format!("mount {fstype}");
    let fs = fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC).map_err(errno(what()))?;
    fsconfig_set_string(&fs, "source", fstype).map_err(errno(what()))?;
    for (key, value) in options {
        if value.is_empty() {
            fsconfig_set_flag(&fs, *key).map_err(errno(format!("{} ({key})", what())))?;
        } else {
            fsconfig_set_string(&fs, *key, *value)
                .map_err(errno(format!("{} ({key}={value})", what())))?;
        }
    }
    fsconfig_create(&fs).map_err(errno(what()))?;
    fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs).map_err(errno(what()))
}

fn attach(mount: &OwnedFd, target: BorrowedFd<'_>, shown: &str) -> Result<(), SetupError> {
    move_mount(
        mount.as_fd(),
        c"",
        target,
        c"",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(errno(format!("mount at '{shown}'")))
}

/// A detached copy of the mount at `path` below `base` (`open_tree` clone).
fn clone_tree(
    base: BorrowedFd<'_>,
    path: &CStr,
    recursive: bool,
    shown: &str,
) -> Result<OwnedFd, SetupError> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if path.is_empty() {
        flags |= OpenTreeFlags::AT_EMPTY_PATH;
    }
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    open_tree(base, path, flags).map_err(errno(format!("bind '{shown}'")))
}

/// `mount_setattr` on a detached or attached mount: rustix lacks it.
fn set_attrs(mount: BorrowedFd<'_>, set: u64, clear: u64, shown: &str) -> Result<(), SetupError> {
    let attr = libc::mount_attr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: valid descriptor, empty NUL-terminated path, a mount_attr of the size passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mount.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(step(format!("set mount flags of '{shown}'"))(
            io::Error::last_os_error(),
        ))
    }
}

fn open_below(base: BorrowedFd<'_>, path: &str, shown: &str) -> Result<OwnedFd, SetupError> {
    openat2(
        base,
        path,
        OFlags::PATH | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(errno(format!("open '{shown}'")))
}

const NOSUID_NODEV_NOEXEC: MountAttrFlags = MountAttrFlags::MOUNT_ATTR_NOSUID
    .union(MountAttrFlags::MOUNT_ATTR_NODEV)
    .union(MountAttrFlags::MOUNT_ATTR_NOEXEC);

/// proc, and for proc:mixed read-only /proc/sys (with /proc/sys/net writable, as LXC keeps
/// it per network namespace) and /proc/sysrq-trigger.
fn mount_proc(plan: &StartPlan, target: &OwnedFd) -> Result<(), SetupError> {
    let proc = detached_fs("proc", &[], NOSUID_NODEV_NOEXEC)?;
    attach(&proc, target.as_fd(), "/proc")?;
    if plan.proc == ProcMode::Mixed {
        // The mount's own descriptor reaches the new instance; `target` is the directory
        // it now covers.
        let live = proc;
        let net = clone_tree(live.as_fd(), c"sys/net", false, "/proc/sys/net")?;
        let sys = clone_tree(live.as_fd(), c"sys", false, "/proc/sys")?;
        set_attrs(sys.as_fd(), libc::MOUNT_ATTR_RDONLY, 0, "/proc/sys")?;
        attach(
            &sys,
            open_below(live.as_fd(), "sys", "/proc/sys")?.as_fd(),
            "/proc/sys",
        )?;
        attach(
            &net,
            open_below(live.as_fd(), "sys/net", "/proc/sys/net")?.as_fd(),
            "/proc/sys/net",
        )?;
        // Kernels built without magic SysRq have no trigger file to protect.
        if rustix::fs::accessat(
            &live,
            "sysrq-trigger",
            rustix::fs::Access::EXISTS,
            rustix::fs::AtFlags::empty(),
        )
        .is_ok()
        {
            let sysrq = clone_tree(live.as_fd(), c"sysrq-trigger", false, "/proc/sysrq-trigger")?;
            set_attrs(
                sysrq.as_fd(),
                libc::MOUNT_ATTR_RDONLY,
                0,
                "/proc/sysrq-trigger",
            )?;
            attach(
                &sysrq,
                open_below(live.as_fd(), "sysrq-trigger", "/proc/sysrq-trigger")?.as_fd(),
                "/proc/sysrq-trigger",
            )?;
        }
    }
    Ok(())
}

/// sysfs (read-only for sys:mixed and sys:ro, with /sys/devices/virtual/net writable for
/// mixed), then cgroup2 at /sys/fs/cgroup, which shows the container's cgroup namespace.
fn mount_sys(plan: &StartPlan, target: &OwnedFd) -> Result<(), SetupError> {
    // LXC's order: sysfs writable, the net subtree bound onto itself (a mount of its own,
    // so it stays writable), then the top mount alone made read-only. Cloning needs the
    // source attached on kernels before 6.15, hence attach first.
    let sys = detached_fs("sysfs", &[], NOSUID_NODEV_NOEXEC)?;
    attach(&sys, target.as_fd(), "/sys")?;
    if plan.sys == SysMode::Mixed {
        let net = clone_tree(
            sys.as_fd(),
            c"devices/virtual/net",
            false,
            "/sys/devices/virtual/net",
        )?;
        attach(
            &net,
            open_below(
                sys.as_fd(),
                "devices/virtual/net",
                "/sys/devices/virtual/net",
            )?
            .as_fd(),
            "/sys/devices/virtual/net",
        )?;
    }
    let cgroup = detached_fs("cgroup2", &[], NOSUID_NODEV_NOEXEC)?;
    attach(
        &cgroup,
        open_below(sys.as_fd(), "fs/cgroup", "/sys/fs/cgroup")?.as_fd(),
        "/sys/fs/cgroup",
    )?;
    if matches!(plan.sys, SysMode::Mixed | SysMode::Ro) {
        set_attrs(sys.as_fd(), libc::MOUNT_ATTR_RDONLY, 0, "/sys")?;
    }
    Ok(())
}

/// The directory `fd` names, opened as one: the path-only descriptors of [`open_below`] may
/// name a symlink, which this refuses.
fn directory(fd: BorrowedFd<'_>) -> rustix::io::Result<OwnedFd> {
    openat2(
        fd,
        ".",
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::empty(),
    )
}

fn make_dir(dir: BorrowedFd<'_>, name: &str, mode: u32) -> Result<OwnedFd, SetupError> {
    match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(mode)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(errno(format!("mkdir '/dev/{name}'"))(e)),
    }
    open_below(dir, name, &format!("/dev/{name}"))
}

/// Create the file `name` in `dir` unless there is one, following no link. Opened for
/// reading only: a file already there is kept even where it cannot be written (a read-only
/// mount), as LXC's `create=file` keeps it.
fn create_file(dir: BorrowedFd<'_>, name: &str, mode: u32, shown: &str) -> Result<(), SetupError> {
    openat2(
        dir,
        name,
        OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::from_raw_mode(mode),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS,
    )
    .map(drop)
    .map_err(errno(format!("create '{shown}'")))
}

fn bind_onto(source: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &str) -> Result<(), SetupError> {
    let shown = format!("/dev/{name}");
    create_file(dir, name, 0o600, &shown)?;
    let target = open_below(dir, name, &shown)?;
    let tree = clone_tree(source, c"", false, &shown)?;
    attach(&tree, target.as_fd(), &shown)
}

/// /dev: a tmpfs with the basic nodes, devpts with its own ptmx, the console and ttys bound
/// to the monitor's ptys, shm and mqueue, the passthrough devices, and the usual symlinks.
fn mount_dev(plan: &StartPlan, host: &HostObjects, target: &OwnedFd) -> Result<(), SetupError> {
    let tmpfs = detached_fs(
        "tmpfs",
        &[("size", "500k"), ("mode", "755")],
        MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_NOEXEC,
    )?;
    attach(&tmpfs, target.as_fd(), "/dev")?;
    let dev_dir = directory(tmpfs.as_fd()).map_err(errno("open '/dev'"))?;
    let dev = dev_dir.as_fd();

    match plan.dev.creation {
        NodeCreation::Mknod => {
            for node in &plan.dev.nodes {
                let device = rustix::fs::makedev(node.major, node.minor);
                rustix::fs::mknodat(
                    dev,
                    node.name.as_str(),
                    rustix::fs::FileType::CharacterDevice,
                    Mode::from_raw_mode(0o666),
                    device,
                )
                .map_err(errno(format!("mknod '/dev/{}'", node.name)))?;
                // The umask must not narrow the modes LXC gives these nodes.
                rustix::fs::chmodat(
                    dev,
                    node.name.as_str(),
                    Mode::from_raw_mode(0o666),
                    rustix::fs::AtFlags::empty(),
                )
                .map_err(errno(format!("chmod '/dev/{}'", node.name)))?;
            }
        }
        NodeCreation::Bind => {
            for (name, source) in &host.basic_nodes {
                bind_onto(source.as_fd(), dev, name)?;
            }
        }
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        rustix::fs::symlinkat(target, dev, name)
            .map_err(errno(format!("symlink '/dev/{name}'")))?;
    }

    let pts = make_dir(dev, "pts", 0o755)?;
    let devpts_options = [("newinstance", ""), ("ptmxmode", "0666"), ("mode", "0620")];
    let devpts_attrs = MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_NOEXEC;
    let with_tty_gid = [&devpts_options[..], &[("gid", "5")]].concat();
    let devpts = detached_fs("devpts", &with_tty_gid, devpts_attrs)
        // gid 5 (tty) may not be mapped in a custom id map.
        .or_else(|_| detached_fs("devpts", &devpts_options, devpts_attrs))?;
    attach(&devpts, pts.as_fd(), "/dev/pts")?;
    let ptmx = open_below(dev, "pts/ptmx", "/dev/pts/ptmx")?;
    bind_onto(ptmx.as_fd(), dev, "ptmx")?;

    if let Some(console) = &host.console {
        bind_onto(console.as_fd(), dev, "console")?;
    }
    for (index, tty) in host.ttys.iter().enumerate() {
        bind_onto(tty.as_fd(), dev, &format!("tty{}", index + 1))?;
    }

    let shm = make_dir(dev, "shm", 0o1777)?;
    let shm_fs = detached_fs(
        "tmpfs",
        &[("mode", "1777")],
        MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_NODEV,
    )?;
    attach(&shm_fs, shm.as_fd(), "/dev/shm")?;
    let mqueue = make_dir(dev, "mqueue", 0o755)?;
    let mqueue_fs = detached_fs("mqueue", &[], NOSUID_NODEV_NOEXEC)?;
    attach(&mqueue_fs, mqueue.as_fd(), "/dev/mqueue")?;

    for (path, source) in &host.devices {
        let relative = path.trim_start_matches("/dev/");
        let (parent, name) = match relative.rsplit_once('/') {
            Some((parent, name)) => {
                let mut current = dev_dir.try_clone().map_err(step("dup /dev"))?;
                for part in parent.split('/') {
                    current = make_dir(current.as_fd(), part, 0o755)?;
                    current =
                        directory(current.as_fd()).map_err(errno(format!("open '{path}'")))?;
                }
                (current, name)
            }
            None => (dev_dir.try_clone().map_err(step("dup /dev"))?, relative),
        };
        bind_onto(source.as_fd(), parent.as_fd(), name)?;
    }

    if plan.nesting {
        // Fully visible proc and sys for nested containers, as LXC's allow_nesting gives.
        let lxc = make_dir(dev, ".lxc", 0o755)?;
        let lxc_dir = directory(lxc.as_fd()).map_err(errno("open '/dev/.lxc'"))?;
        let proc_target = make_dir(lxc_dir.as_fd(), "proc", 0o755)?;
        attach(
            &detached_fs("proc", &[], NOSUID_NODEV_NOEXEC)?,
            proc_target.as_fd(),
            "/dev/.lxc/proc",
        )?;
        let sys_target = make_dir(lxc_dir.as_fd(), "sys", 0o755)?;
        attach(
            &detached_fs("sysfs", &[], NOSUID_NODEV_NOEXEC)?,
            sys_target.as_fd(),
            "/dev/.lxc/sys",
        )?;
    }
    Ok(())
}

/// Cover each masked path with /dev/null (files) or an empty read-only tmpfs (directories),
/// both read-only, so reads find nothing and writes fail with EROFS; then bind each
/// read-only path onto itself read-only. Paths this kernel lacks are skipped.
fn mask_paths(plan: &StartPlan, rootfs: &OwnedFd) -> Result<(), SetupError> {
    let lookup = |path: &str| lookup_in(rootfs, path);
    let null = lookup("/dev/null")?;
    for path in &plan.masked_paths {
        let Some(target) = lookup(path)? else {
            continue;
        };
        let stat = rustix::fs::fstat(&target).map_err(errno(format!("stat '{path}'")))?;
        let mask = if mask_cover(rustix::fs::FileType::from_raw_mode(stat.st_mode))
            == MaskCover::EmptyTmpfs
        {
            detached_fs(
                "tmpfs",
                &[("size", "4k"), ("nr_inodes", "1"), ("mode", "555")],
                NOSUID_NODEV_NOEXEC | MountAttrFlags::MOUNT_ATTR_RDONLY,
            )?
        } else {
            let null = null.as_ref().ok_or_else(|| {
                step(format!("mask '{path}'"))(io::Error::from_raw_os_error(libc::ENOENT))
            })?;
            let tree = clone_tree(null.as_fd(), c"", false, "/dev/null")?;
            set_attrs(
                tree.as_fd(),
                libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOEXEC | libc::MOUNT_ATTR_NOSUID,
                0,
                path,
            )?;
            tree
        };
        attach(&mask, target.as_fd(), path)?;
    }
    for path in &plan.readonly_paths {
        let Some(target) = lookup(path)? else {
            continue;
        };
        let tree = clone_tree(target.as_fd(), c"", true, path)?;
        set_attrs(tree.as_fd(), libc::MOUNT_ATTR_RDONLY, 0, path)?;
        attach(&tree, target.as_fd(), path)?;
    }
    Ok(())
}

/// What covers a masked path: a bind of /dev/null cannot go over a directory (the kernel
/// refuses to bind a file onto one), and an empty tmpfs cannot go over a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MaskCover {
    EmptyTmpfs,
    DevNull,
}

fn mask_cover(file_type: rustix::fs::FileType) -> MaskCover {
    if file_type.is_dir() {
        MaskCover::EmptyTmpfs
    } else {
        MaskCover::DevNull
    }
}

/// The object at `path` inside the container (mounts crossed, no symlinks followed), or none
/// when there is nothing there.
fn lookup_in(rootfs: &OwnedFd, path: &str) -> Result<Option<OwnedFd>, SetupError> {
    match openat2(
        rootfs,
        path.trim_start_matches('/'),
        OFlags::PATH | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(errno(format!("open '{path}'"))(e)),
    }
}

/// Bind `source` over `target` read-only, without suid, devices or exec.
fn bind_read_only(source: BorrowedFd<'_>, target: &OwnedFd, shown: &str) -> Result<(), SetupError> {
    let tree = clone_tree(source, c"", false, shown)?;
    set_attrs(
        tree.as_fd(),
        libc::MOUNT_ATTR_RDONLY
            | libc::MOUNT_ATTR_NOSUID
            | libc::MOUNT_ATTR_NODEV
            | libc::MOUNT_ATTR_NOEXEC,
        0,
        shown,
    )?;
    attach(&tree, target.as_fd(), shown)
}

/// A boot id of this boot's own: a fresh random UUID written to a file in the container's
/// /dev (a new tmpfs at every start of init, a reboot from inside included) and bound
/// read-only over the kernel's, so `journalctl --list-boots` and whatever else keys on the
/// boot id tells the container's boots apart, and from the host's. A kernel without the file
/// gets none, as under LXC.
fn bind_boot_id(plan: &StartPlan, rootfs: &OwnedFd) -> Result<(), SetupError> {
    let Some(target) = lookup_in(rootfs, &plan.boot_id.target)? else {
        return Ok(());
    };
    let shown = plan.boot_id.file.as_str();
    let mut bytes = [0u8; 16];
    // SAFETY: getrandom(2) into a buffer of the length passed. One syscall: the getrandom
    // crate may open /dev/urandom instead in a static build.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if got != bytes.len() as isize {
        return Err(step(format!("random boot id for '{shown}'"))(
            io::Error::last_os_error(),
        ));
    }
    // O_EXCL: the fresh /dev has no such file; anything there was put by a mount entry and
    // is not to be written through.
    let file = openat2(
        rootfs,
        shown.trim_start_matches('/'),
        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::from_raw_mode(0o444),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(errno(format!("create '{shown}'")))?;
    rustix::io::write(
        &file,
        crate::runtime::plan::format_boot_id(bytes).as_bytes(),
    )
    .map_err(errno(format!("write '{shown}'")))?;
    // The umask must not hide the id from the guest's users.
    rustix::fs::fchmod(&file, Mode::from_raw_mode(0o444))
        .map_err(errno(format!("chmod '{shown}'")))?;
    bind_read_only(file.as_fd(), &target, &plan.boot_id.target)
}

/// lxcfs's files over the container's: each read-only (lxcfs serves reads only), and only
/// where the container's kernel has the file lxcfs stands in for.
fn bind_lxcfs(host: &HostObjects, rootfs: &OwnedFd) -> Result<(), SetupError> {
    for (target, source) in &host.lxcfs {
        if let Some(target_fd) = lookup_in(rootfs, target)? {
            bind_read_only(source.as_fd(), &target_fd, target)?;
        }
    }
    Ok(())
}

/// One raw `lxc.mount.entry`: binds of host paths (seen before the pivot) or file systems by
/// type; `create=dir|file` makes the target, `optional` skips a missing source.
fn mount_entry(entry: &MountEntryPlan, rootfs: &OwnedFd) -> Result<(), SetupError> {
    let has = |flag: MountEntryFlag| entry.options.contains(&MountEntryOption::Flag(flag));
    let shown = format!("/{}", entry.target);
    let bind = has(MountEntryFlag::Bind) || has(MountEntryFlag::Rbind);
    let optional = has(MountEntryFlag::Optional);
    // The plan checked every option; what is left is which flags to set.
    let attrs = entry.options.iter().fold(0, |bits, o| bits | o.attrs());
    if bind && !Path::new(&entry.source).exists() {
        if optional {
            return Ok(());
        }
        return Err(step(format!("lxc.mount.entry source '{}'", entry.source))(
            io::Error::from_raw_os_error(libc::ENOENT),
        ));
    }
    let target_path = Path::new(&entry.target);
    let (parent, name) = match (target_path.parent(), target_path.file_name()) {
        (Some(parent), Some(name)) => (parent, name),
        _ => {
            return Err(step(format!("lxc.mount.entry target '{shown}'"))(
                io::Error::from_raw_os_error(libc::EINVAL),
            ));
        }
    };
    let parent_fd = resolve_beneath(
        rootfs.try_clone().map_err(step("dup rootfs"))?,
        Path::new(""),
        parent,
        Some(None),
    )
    .map_err(|e| SetupError {
        step: format!("lxc.mount.entry target '{shown}'"),
        source: io::Error::new(e.source.kind(), e.to_string()),
    })?
    .0;
    let parent_dir =
        directory(parent_fd.as_fd()).map_err(errno(format!("open parent of '{shown}'")))?;
    let name = name.to_string_lossy().into_owned();
    if has(MountEntryFlag::CreateFile) {
        create_file(parent_dir.as_fd(), &name, 0o644, &shown)?;
    } else if has(MountEntryFlag::CreateDir) {
        match rustix::fs::mkdirat(&parent_dir, name.as_str(), Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(errno(format!("mkdir '{shown}'"))(e)),
        }
    }
    let target = match open_below(parent_dir.as_fd(), &name, &shown) {
        Ok(fd) => fd,
        Err(_) if optional => return Ok(()),
        Err(e) => return Err(e),
    };
    let mount = if bind {
        let source =
            open_host(entry.source.as_str()).map_err(errno(format!("open '{}'", entry.source)))?;
        let tree = clone_tree(
            source.as_fd(),
            c"",
            has(MountEntryFlag::Rbind),
            &entry.source,
        )?;
        if attrs != 0 {
            // An access-time mode replaces the bind's, which must be cleared to be set.
            let clear = if attrs & libc::MOUNT_ATTR__ATIME != 0 {
                libc::MOUNT_ATTR__ATIME
            } else {
                0
            };
            set_attrs(tree.as_fd(), attrs, clear, &shown)?;
        }
        tree
    } else {
        let options: Vec<(&str, &str)> = entry
            .options
            .iter()
            .filter_map(MountEntryOption::file_system)
            .collect();
        detached_fs(
            &entry.fstype,
            &options,
            MountAttrFlags::from_bits_retain(attrs as u32),
        )?
    };
    attach(&mount, target.as_fd(), &shown)
}

/// Make the staging rootfs `/`: pivot_root onto itself, then detach the old root stacked
/// beneath, so no host path stays reachable.
fn pivot(rootfs: &OwnedFd) -> Result<(), SetupError> {
    rustix::process::fchdir(rootfs).map_err(errno("chdir into the rootfs"))?;
    rustix::process::pivot_root(".", ".").map_err(errno("pivot_root"))?;
    // The old root is now mounted over the new one; keep its unmount from propagating.
    rustix::mount::mount_change(
        ".",
        rustix::mount::MountPropagationFlags::DOWNSTREAM
            | rustix::mount::MountPropagationFlags::REC,
    )
    .map_err(errno("make the old root a slave"))?;
    rustix::mount::unmount(".", rustix::mount::UnmountFlags::DETACH)
        .map_err(errno("detach the old root"))?;
    rustix::process::chdir("/").map_err(errno("chdir /"))
}

#[cfg(test)]
mod tests;
