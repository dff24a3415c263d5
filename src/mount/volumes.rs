//! Mounting one volume: raw images through a loop device (autoclear), directories and block
//! devices by bind/mount; mount targets inside a rootfs resolved without leaving it.
//!
//! Everything goes through the new mount API: the volume is first made a detached mount
//! (`fsopen`/`fsmount` for file systems, `open_tree` for binds) and then attached with
//! `move_mount` onto a directory descriptor. The target is never named by path after it was
//! resolved, so a container cannot swap a symlink in between.

use std::ffi::CStr;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, open, openat2};
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, OpenTreeFlags, UnmountFlags,
    fsconfig_create, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, move_mount,
    open_tree, unmount,
};

use super::loopdev::LoopDevice;
use super::mountinfo::mount_table;

/// What a volume is on the host, and so how it is mounted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum VolumeSource {
    /// A raw image holding ext4.
    RawImage(PathBuf),
    /// A directory or subvolume, bind-mounted.
    Directory(PathBuf),
    /// A host block device.
    BlockDevice(PathBuf),
}

/// A mount or unmount that failed, with what it was for.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct MountError {
    /// What was being mounted, in pct's words.
    pub context: String,
    /// The system's error.
    #[source]
    pub source: std::io::Error,
}

fn failed(context: impl Into<String>) -> impl FnOnce(io::Error) -> MountError {
    let context = context.into();
    move |source| MountError { context, source }
}

impl MountError {
    /// The operating-system error number underneath: the failed call's, or the one a
    /// refusal in pct's words stands for (`ENOENT` for a missing directory).
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.raw_os_error().or_else(|| {
            let refusal = self.source.get_ref()?.downcast_ref::<Refusal>()?;
            Some(refusal.errno)
        })
    }
}

/// pct's words for a refused mount, and the errno they stand for.
#[derive(Debug)]
struct Refusal {
    message: String,
    errno: i32,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// An error whose whole text is pct's message (e.g. `symlink encountered at: X`).
fn refused(context: impl Into<String>, message: String, errno: i32) -> MountError {
    let kind = io::Error::from_raw_os_error(errno).kind();
    MountError {
        context: context.into(),
        source: io::Error::new(kind, Refusal { message, errno }),
    }
}

/// Mount `source` at `target`. When `rootfs` is given, `target` is a path inside that rootfs
/// (e.g. `/data`), resolved without following symlinks out of it and created as a directory
/// when missing; otherwise `target` is a host path that must exist.
pub fn mount_volume(
    source: &VolumeSource,
    rootfs: Option<&Path>,
    target: &Path,
    read_only: bool,
) -> Result<PathBuf, MountError> {
    mount_volume_owned(source, rootfs, target, read_only, None)
}

/// [`mount_volume`], with the directories it creates inside `rootfs` owned by `dir_owner`
/// (uid, gid) — the container's mapped root for unprivileged containers, as pct does.
/// Returns the host path of the mount point.
pub fn mount_volume_owned(
    source: &VolumeSource,
    rootfs: Option<&Path>,
    target: &Path,
    read_only: bool,
    dir_owner: Option<(u32, u32)>,
) -> Result<PathBuf, MountError> {
    mount_volume_as(source, rootfs, target, read_only, false, dir_owner)
}

/// Mount a volume that must not change at `target` (as [`mount_volume`] has it), read-only, as pct mounts
/// snapshots and template base volumes: an image's ext4 with `noload`, so that a journal
/// left unclean (a snapshot of a running container) is not replayed, which a read-only
/// device could not take.
pub fn mount_volume_frozen(
    source: &VolumeSource,
    rootfs: Option<&Path>,
    target: &Path,
) -> Result<PathBuf, MountError> {
    mount_volume_as(source, rootfs, target, true, true, None)
}

fn mount_volume_as(
    source: &VolumeSource,
    rootfs: Option<&Path>,
    target: &Path,
    read_only: bool,
    noload: bool,
    dir_owner: Option<(u32, u32)>,
) -> Result<PathBuf, MountError> {
    let (target_dir, host_path) = match rootfs {
        Some(rootfs) => resolve_in_rootfs(rootfs, target, Some(dir_owner))?,
        None => {
            let context = || format!("unable to open mount target '{}'", target.display());
            let dir = open(
                target,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| failed(context())(e.into()))?;
            let host_path = std::fs::canonicalize(target).map_err(failed(context()))?;
            (dir, host_path)
        }
    };

    // The loop device must stay open until the mount holds it, or autoclear detaches it.
    let mut loop_device = None;
    let detached = match source {
        VolumeSource::Directory(dir) => bind_tree(dir, read_only)?,
        // A journal cannot be replayed onto a read-only device (a snapshot LV, a template's
        // base LV): mounted without it, as pct mounts those (`ro,noload`). Not so a loop
        // device made read-only for an `ro` mount point, which pct mounts as it is.
        VolumeSource::BlockDevice(device) => mount_filesystem(
            device,
            read_only,
            noload || (read_only && device_is_read_only(device)),
        )?,
        VolumeSource::RawImage(image) => {
            let device = LoopDevice::attach(image, read_only).map_err(failed(format!(
                "failed to setup loop device for {}",
                image.display()
            )))?;
            let mount = mount_filesystem(device.path(), read_only, noload)?;
            loop_device = Some(device);
            mount
        }
    };
    move_mount(
        detached.as_fd(),
        c"",
        target_dir.as_fd(),
        c"",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(|e| {
        failed(format!(
            "unable to mount {} at '{}'",
            describe(source),
            host_path.display()
        ))(e.into())
    })?;
    drop(loop_device);
    Ok(host_path)
}

fn describe(source: &VolumeSource) -> String {
    match source {
        VolumeSource::RawImage(p) => format!("image '{}'", p.display()),
        VolumeSource::Directory(p) => format!("directory '{}'", p.display()),
        VolumeSource::BlockDevice(p) => format!("device '{}'", p.display()),
    }
}

/// Open the directory `target` inside `rootfs`, one component at a time. With `create`,
/// missing directories are made (mode 0755, owned by the given owner when there is one). A
/// symlink anywhere on the way is refused as pct does (`symlink encountered at: <path>`),
/// and `..` is refused outright.
fn resolve_in_rootfs(
    rootfs: &Path,
    target: &Path,
    create: Option<Option<(u32, u32)>>,
) -> Result<(OwnedFd, PathBuf), MountError> {
    let start = open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        failed(format!(
            "failed to open start directory {}",
            rootfs.display()
        ))(e.into())
    })?;
    resolve_beneath(start, rootfs, target, create)
}

/// [`resolve_in_rootfs`] from an open directory: `shown_root` only names it in messages. The
/// container side uses this with a descriptor, as the path to its rootfs may not be
/// searchable from inside its user namespace.
pub(crate) fn resolve_beneath(
    start: OwnedFd,
    shown_root: &Path,
    target: &Path,
    create: Option<Option<(u32, u32)>>,
) -> Result<(OwnedFd, PathBuf), MountError> {
    let context = || {
        format!(
            "unable to prepare mount point '{}' in '{}'",
            target.display(),
            shown_root.display()
        )
    };
    let mut names = Vec::new();
    for component in target.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => names.push(name),
            Component::ParentDir | Component::Prefix(_) => {
                let message = format!("{} contains illegal character sequences", target.display());
                return Err(refused(context(), message, libc::EINVAL));
            }
        }
    }
    let mut current = start;
    let mut host_path = shown_root.to_path_buf();
    // Each step resolves a single name with the current directory as root, so neither a
    // symlink nor a magic link can lead anywhere else.
    let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_SYMLINKS;
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    for name in names {
        host_path.push(name);
        let symlink = || {
            refused(
                context(),
                format!("symlink encountered at: {}", host_path.display()),
                libc::ELOOP,
            )
        };
        let next = match openat2(&current, name, flags, Mode::empty(), how) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::LOOP) => return Err(symlink()),
            Err(rustix::io::Errno::NOTDIR) => {
                let is_link = rustix::fs::statat(&current, name, AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| {
                        rustix::fs::FileType::from_raw_mode(st.st_mode)
                            == rustix::fs::FileType::Symlink
                    });
                if is_link {
                    return Err(symlink());
                }
                let message = format!(
                    "cannot open directory {}: not a directory",
                    host_path.display()
                );
                return Err(refused(context(), message, libc::ENOTDIR));
            }
            Err(rustix::io::Errno::NOENT) if create.is_some() => {
                let owner = create.flatten();
                // EEXIST is fine: someone else created it meanwhile; the open below still
                // refuses a symlink planted in its place.
                match rustix::fs::mkdirat(&current, name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => {
                        return Err(failed(format!(
                            "failed to create path: {}",
                            host_path.display()
                        ))(e.into()));
                    }
                }
                let created =
                    openat2(&current, name, flags, Mode::empty(), how).map_err(|e| match e {
                        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => symlink(),
                        e => failed(format!("failed to create path: {}", host_path.display()))(
                            e.into(),
                        ),
                    })?;
                if let Some((uid, gid)) = owner {
                    rustix::fs::chownat(
                        &created,
                        c"",
                        Some(rustix::process::Uid::from_raw(uid)),
                        Some(rustix::process::Gid::from_raw(gid)),
                        AtFlags::EMPTY_PATH,
                    )
                    .map_err(|e| {
                        failed(format!("failed to chown {}", host_path.display()))(e.into())
                    })?;
                }
                created
            }
            Err(e) => {
                return Err(failed(format!(
                    "cannot open directory {}",
                    host_path.display()
                ))(e.into()));
            }
        };
        current = next;
    }
    Ok((current, host_path))
}

/// Open a host directory for a bind mount the way pct does: component by component without
/// following symlinks, so the bind cannot be redirected.
fn open_bind_source(dir: &Path) -> Result<OwnedFd, MountError> {
    let absolute = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(failed("unable to get the current directory"))?
            .join(dir)
    };
    let missing = || {
        refused(
            format!("unable to bind mount '{}'", dir.display()),
            format!("directory '{}' does not exist", dir.display()),
            libc::ENOENT,
        )
    };
    if !absolute.is_dir() {
        return Err(missing());
    }
    let (fd, _) = resolve_in_rootfs(Path::new("/"), &absolute, None).map_err(|e| {
        if e.source.kind() == io::ErrorKind::NotFound {
            missing()
        } else {
            e
        }
    })?;
    Ok(fd)
}

/// A detached, non-recursive clone of `dir` (pct binds without `rbind`), read-only on request.
fn bind_tree(dir: &Path, read_only: bool) -> Result<OwnedFd, MountError> {
    let source = open_bind_source(dir)?;
    let context = || format!("unable to bind mount '{}'", dir.display());
    let tree = open_tree(
        source.as_fd(),
        c"",
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_EMPTY_PATH,
    )
    .map_err(|e| failed(context())(e.into()))?;
    if read_only {
        set_mount_read_only(tree.as_fd()).map_err(failed(context()))?;
    }
    Ok(tree)
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH, {attr_set: MOUNT_ATTR_RDONLY})`: rustix lacks it.
pub(crate) fn set_mount_read_only(mount: BorrowedFd<'_>) -> io::Result<()> {
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let empty: &CStr = c"";
    // SAFETY: valid descriptor, NUL-terminated path and a mount_attr of the size we pass.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mount.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The file system on a block device, from its superblock magic.
pub fn probe_filesystem(device: &Path) -> io::Result<&'static str> {
    let file = std::fs::File::open(device)?;
    let read_at = |offset: u64, len: usize| -> Option<Vec<u8>> {
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, offset).ok().map(|_| buf)
    };
    // ext2/3/4: s_magic 0xEF53 at byte 0x38 of the superblock at 1024.
    if read_at(1024 + 0x38, 2).is_some_and(|m| m == [0x53, 0xEF]) {
        return Ok("ext4");
    }
    if read_at(0, 4).is_some_and(|m| m == b"XFSB") {
        return Ok("xfs");
    }
    // btrfs: the primary superblock sits at 64 KiB, its magic 0x40 bytes in.
    if read_at(0x10000 + 0x40, 8).is_some_and(|m| m == b"_BHRfS_M") {
        return Ok("btrfs");
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "no ext4, xfs or btrfs file system found on '{}'",
            device.display()
        ),
    ))
}

/// A detached mount of the file system on `device`.
fn mount_filesystem(device: &Path, read_only: bool, noload: bool) -> Result<OwnedFd, MountError> {
    let context = || format!("unable to mount '{}'", device.display());
    let fs_type = probe_filesystem(device).map_err(failed(context()))?;
    let context = || format!("unable to mount '{}' ({fs_type})", device.display());
    let fs =
        fsopen(fs_type, FsOpenFlags::FSOPEN_CLOEXEC).map_err(|e| failed(context())(e.into()))?;
    // Some refusals are explained through the fs context; append those words to the error.
    let with_log = |e: rustix::io::Errno| {
        let log = read_fs_log(&fs);
        let source: io::Error = e.into();
        let source = if log.is_empty() {
            source
        } else {
            io::Error::new(source.kind(), format!("{source} ({log})"))
        };
        failed(context())(source)
    };
    fsconfig_set_string(&fs, "source", device).map_err(with_log)?;
    if read_only {
        fsconfig_set_flag(&fs, "ro").map_err(with_log)?;
    }
    if noload && fs_type == "ext4" {
        fsconfig_set_flag(&fs, "noload").map_err(with_log)?;
    }
    fsconfig_create(&fs).map_err(with_log)?;
    let attrs = if read_only {
        MountAttrFlags::MOUNT_ATTR_RDONLY
    } else {
        MountAttrFlags::empty()
    };
    fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs).map_err(with_log)
}

/// Whether the block device is read-only (its `/sys/dev/block/<major>:<minor>/ro`).
fn device_is_read_only(device: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::metadata(device) else {
        return false;
    };
    if !meta.file_type().is_block_device() {
        return false;
    }
    use std::os::unix::fs::MetadataExt;
    let rdev = meta.rdev();
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    std::fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/ro"))
        .is_ok_and(|ro| ro.trim() == "1")
}

/// The messages the kernel queued on an fs context (`e ext4: ...` lines), joined.
fn read_fs_log(fs: &OwnedFd) -> String {
    let mut messages = Vec::new();
    let Ok(copy) = fs.try_clone() else {
        return String::new();
    };
    let mut file = std::fs::File::from(copy);
    let mut buf = [0u8; 1024];
    while let Ok(n) = file.read(&mut buf) {
        if n == 0 {
            break;
        }
        messages.push(String::from_utf8_lossy(&buf[..n]).trim_end().to_string());
    }
    messages.join("; ")
}

/// Unmount everything at and below `target`, deepest first.
pub fn unmount_tree(target: &Path) -> Result<(), MountError> {
    let target = std::fs::canonicalize(target).unwrap_or_else(|_| target.to_path_buf());
    let context = || format!("unable to unmount '{}'", target.display());
    let below = || -> Result<Vec<PathBuf>, MountError> {
        let mut mounts: Vec<PathBuf> = mount_table()
            .map_err(failed(context()))?
            .into_iter()
            .map(|m| m.mount_point)
            .filter(|p| p.starts_with(&target))
            .collect();
        // Later mounts sit on earlier ones, so go backwards through the table, and deeper
        // paths before their parents.
        mounts.reverse();
        mounts.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        Ok(mounts)
    };
    let mut last_error = None;
    // Bounded, in case mounts keep appearing (propagation from elsewhere).
    for _ in 0..64 {
        let mounts = below()?;
        if mounts.is_empty() {
            return Ok(());
        }
        let mut progress = false;
        for mount in &mounts {
            match unmount(mount, UnmountFlags::NOFOLLOW) {
                Ok(()) => progress = true,
                Err(e) => last_error = Some((mount.clone(), io::Error::from(e))),
            }
        }
        if !progress {
            break;
        }
    }
    // Something keeps a mount busy: detach what is left so the tree is gone from the
    // namespace now, and the kernel finishes once the last user lets go.
    for mount in below()? {
        if let Err(e) = unmount(&mount, UnmountFlags::NOFOLLOW | UnmountFlags::DETACH) {
            last_error = Some((mount, e.into()));
        }
    }
    match below()?.first() {
        None => Ok(()),
        Some(left) => {
            let source = match last_error {
                Some((_, e)) => e,
                None => io::Error::from_raw_os_error(libc::EBUSY),
            };
            Err(failed(format!("unable to unmount '{}'", left.display()))(
                source,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::mount::testutil::{
        MountGuard, anything_mounted_below, make_fs_image, mounted_source, wait_detached,
    };

    fn loop_of(mount_point: &Path) -> PathBuf {
        let source = mounted_source(mount_point).expect("mounted");
        assert!(source.starts_with("/dev/loop"), "{source}");
        PathBuf::from(source)
    }

    fn is_read_only_error(e: &io::Error) -> bool {
        e.raw_os_error() == Some(libc::EROFS)
    }

    #[test]
    fn raw_image_mounts_at_a_host_dir_and_the_loop_device_goes_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.raw");
        make_fs_image(&image, 32 << 20, "mkfs.ext4");
        let target = dir.path().join("mnt");
        std::fs::create_dir(&target).unwrap();
        let _guard = MountGuard(target.clone());

        let mounted =
            mount_volume(&VolumeSource::RawImage(image.clone()), None, &target, false).unwrap();
        assert_eq!(mounted, target);
        let entry = mount_table()
            .unwrap()
            .into_iter()
            .rev()
            .find(|m| m.mount_point == target)
            .unwrap();
        assert_eq!(entry.fs_type, "ext4");
        let device = loop_of(&target);
        assert_eq!(crate::mount::backing_file(&device), Some(image.clone()));
        std::fs::write(target.join("hello"), b"hi").unwrap();

        unmount_tree(&target).unwrap();
        assert!(!anything_mounted_below(&target));
        assert!(!target.join("hello").exists());
        assert!(
            wait_detached(&device, &image),
            "{} still attached",
            device.display()
        );
    }

    #[test]
    fn read_only_raw_image_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.raw");
        make_fs_image(&image, 32 << 20, "mkfs.ext4");
        let target = dir.path().join("mnt");
        std::fs::create_dir(&target).unwrap();
        let _guard = MountGuard(target.clone());

        mount_volume(&VolumeSource::RawImage(image.clone()), None, &target, true).unwrap();
        let device = loop_of(&target);
        let name = device.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(
            std::fs::read_to_string(format!("/sys/block/{name}/ro"))
                .unwrap()
                .trim(),
            "1"
        );
        let err = std::fs::write(target.join("x"), b"x").unwrap_err();
        assert!(is_read_only_error(&err), "{err}");
        unmount_tree(&target).unwrap();
        assert!(wait_detached(&device, &image));
    }

    #[test]
    fn missing_nested_target_inside_rootfs_is_created_with_owner() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("data")).unwrap();
        let image = dir.path().join("disk.raw");
        make_fs_image(&image, 32 << 20, "mkfs.ext4");
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::write(shared.join("marker"), b"m").unwrap();
        let _guard = MountGuard(rootfs.clone());

        let source = VolumeSource::RawImage(image.clone());
        let mounted = mount_volume_owned(
            &source,
            Some(&rootfs),
            Path::new("/data/deep/er"),
            false,
            Some((1234, 5678)),
        )
        .unwrap();
        assert_eq!(mounted, rootfs.join("data/deep/er"));
        let device = loop_of(&mounted);
        // Only the directories that had to be made get the owner.
        for (path, owner) in [("data", (0, 0)), ("data/deep", (1234, 5678))] {
            let meta = std::fs::metadata(rootfs.join(path)).unwrap();
            assert_eq!((meta.uid(), meta.gid()), owner, "{path}");
            if owner != (0, 0) {
                assert_eq!(meta.mode() & 0o7777, 0o755, "{path}");
            }
        }
        // A second volume below the first: the target is created inside the mounted image.
        let nested = mount_volume(
            &VolumeSource::Directory(shared.clone()),
            Some(&rootfs),
            Path::new("data/deep/er/sub"),
            true,
        )
        .unwrap();
        assert_eq!(nested, rootfs.join("data/deep/er/sub"));
        assert!(nested.join("marker").is_file());
        let err = std::fs::write(nested.join("new"), b"x").unwrap_err();
        assert!(is_read_only_error(&err), "{err}");
        std::fs::write(shared.join("still-writable"), b"x").unwrap();

        unmount_tree(&rootfs).unwrap();
        assert!(!anything_mounted_below(&rootfs));
        assert!(wait_detached(&device, &image));
        // The created directories stay, as pct leaves them.
        assert!(rootfs.join("data/deep/er").is_dir());
    }

    #[test]
    fn hostile_rootfs_paths_are_refused_and_nothing_is_mounted() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        let outside = dir.path().join("outside");
        let source = dir.path().join("source");
        for d in [&rootfs, &outside, &source] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(rootfs.join("file"), b"x").unwrap();
        std::os::unix::fs::symlink(&outside, rootfs.join("abs")).unwrap();
        std::os::unix::fs::symlink("../outside", rootfs.join("rel")).unwrap();
        std::os::unix::fs::symlink("/etc", rootfs.join("etc")).unwrap();
        std::fs::create_dir(rootfs.join("ok")).unwrap();
        std::os::unix::fs::symlink("/", rootfs.join("ok/up")).unwrap();
        let _guard_outside = MountGuard(outside.clone());
        let _guard_rootfs = MountGuard(rootfs.clone());

        let cases = [
            (
                "/abs",
                format!("symlink encountered at: {}", rootfs.join("abs").display()),
            ),
            (
                "/abs/sub",
                format!("symlink encountered at: {}", rootfs.join("abs").display()),
            ),
            (
                "/rel",
                format!("symlink encountered at: {}", rootfs.join("rel").display()),
            ),
            (
                "/ok/up/etc",
                format!("symlink encountered at: {}", rootfs.join("ok/up").display()),
            ),
            (
                "/../outside",
                "/../outside contains illegal character sequences".to_string(),
            ),
            (
                "/ok/../../outside",
                "/ok/../../outside contains illegal character sequences".to_string(),
            ),
            (
                "/file/sub",
                format!(
                    "cannot open directory {}: not a directory",
                    rootfs.join("file").display()
                ),
            ),
        ];
        for (target, message) in cases {
            let err = mount_volume(
                &VolumeSource::Directory(source.clone()),
                Some(&rootfs),
                Path::new(target),
                false,
            )
            .unwrap_err();
            assert_eq!(err.source.to_string(), message, "{target}");
            assert!(err.to_string().ends_with(&message), "{err}");
        }
        // The symlink to the host's /etc is refused while resolving, before any mount.
        let err = resolve_in_rootfs(&rootfs, Path::new("/etc/pve"), Some(None)).unwrap_err();
        assert_eq!(
            err.source.to_string(),
            format!("symlink encountered at: {}", rootfs.join("etc").display())
        );
        assert!(!anything_mounted_below(dir.path()));
        assert!(
            std::fs::read_dir(&outside).unwrap().next().is_none(),
            "nothing created outside"
        );
    }

    #[test]
    fn block_device_is_probed_and_mounted() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.raw");
        make_fs_image(&image, 32 << 20, "mkfs.ext4");
        let target = dir.path().join("mnt");
        std::fs::create_dir(&target).unwrap();
        let device = LoopDevice::attach(&image, false).unwrap();
        let device_path = device.path().to_path_buf();
        let _guard = MountGuard(target.clone());

        assert_eq!(probe_filesystem(&device_path).unwrap(), "ext4");
        mount_volume(
            &VolumeSource::BlockDevice(device_path.clone()),
            None,
            &target,
            false,
        )
        .unwrap();
        assert_eq!(mounted_source(&target).as_deref(), device_path.to_str());
        drop(device);
        // The mount keeps the autoclear device alive until it goes.
        assert_eq!(
            crate::mount::backing_file(&device_path),
            Some(image.clone())
        );
        unmount_tree(&target).unwrap();
        assert!(wait_detached(&device_path, &image));
    }

    /// A copy of an ext4 image taken while it was mounted, as a snapshot is: its journal
    /// says it needs recovery.
    fn image_copied_while_mounted(dir: &Path) -> PathBuf {
        let image = dir.join("disk.raw");
        make_fs_image(&image, 32 << 20, "mkfs.ext4");
        let target = dir.join("live");
        std::fs::create_dir(&target).unwrap();
        let _guard = MountGuard(target.clone());
        mount_volume(&VolumeSource::RawImage(image.clone()), None, &target, false).unwrap();
        std::fs::write(target.join("hello"), b"hi").unwrap();
        rustix::fs::sync();
        let copy = dir.join("snapshot.raw");
        std::fs::copy(&image, &copy).unwrap();
        unmount_tree(&target).unwrap();
        copy
    }

    #[test]
    fn read_only_device_with_a_journal_to_replay_mounts_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let copy = image_copied_while_mounted(dir.path());
        let device = LoopDevice::attach(&copy, true).unwrap();
        let target = dir.path().join("mnt");
        std::fs::create_dir(&target).unwrap();
        let _guard = MountGuard(target.clone());
        mount_volume(
            &VolumeSource::BlockDevice(device.path().to_path_buf()),
            None,
            &target,
            true,
        )
        .unwrap();
        assert_eq!(std::fs::read(target.join("hello")).unwrap(), b"hi");
        unmount_tree(&target).unwrap();
    }

    #[test]
    fn probe_rejects_unknown_data_and_finds_btrfs() {
        let dir = tempfile::tempdir().unwrap();
        let blank = dir.path().join("blank");
        std::fs::File::create(&blank)
            .unwrap()
            .set_len(1 << 20)
            .unwrap();
        let err = probe_filesystem(&blank).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let btrfs = dir.path().join("btrfs");
        make_fs_image(&btrfs, 128 << 20, "mkfs.btrfs");
        assert_eq!(probe_filesystem(&btrfs).unwrap(), "btrfs");
        let err = mount_volume(
            &VolumeSource::BlockDevice(blank.clone()),
            None,
            dir.path(),
            false,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("no ext4, xfs or btrfs file system found"),
            "{err}"
        );
    }

    #[test]
    fn failed_mount_explains_and_releases_the_loop_device() {
        let dir = tempfile::tempdir().unwrap();
        // The ext4 magic on otherwise empty data: probing says ext4, the kernel disagrees.
        let image = dir.path().join("fake.raw");
        let file = std::fs::File::create(&image).unwrap();
        file.set_len(8 << 20).unwrap();
        file.write_all_at(&[0x53, 0xEF], 1024 + 0x38).unwrap();
        let target = dir.path().join("mnt");
        std::fs::create_dir(&target).unwrap();
        let _guard = MountGuard(target.clone());

        let err = mount_volume(&VolumeSource::RawImage(image.clone()), None, &target, false)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("unable to mount '/dev/loop"), "{err}");
        assert!(err.contains("(ext4): Invalid argument"), "{err}");
        assert!(!anything_mounted_below(&target));
        let device = PathBuf::from(err.split('\'').nth(1).unwrap());
        assert!(
            wait_detached(&device, &image),
            "{} still attached",
            device.display()
        );
    }

    #[test]
    fn bind_source_must_be_an_existing_directory_without_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("mnt");
        std::fs::create_dir(&target).unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("link")).unwrap();
        let _guard = MountGuard(target.clone());
        let missing = dir.path().join("missing");
        let err = mount_volume(
            &VolumeSource::Directory(missing.clone()),
            None,
            &target,
            false,
        )
        .unwrap_err();
        assert_eq!(
            err.source.to_string(),
            format!("directory '{}' does not exist", missing.display())
        );
        let via_link = dir.path().join("link");
        let err = mount_volume(
            &VolumeSource::Directory(via_link.clone()),
            None,
            &target,
            false,
        )
        .unwrap_err();
        assert_eq!(
            err.source.to_string(),
            format!("symlink encountered at: {}", via_link.display())
        );
        assert!(!anything_mounted_below(dir.path()));
    }

    #[test]
    fn busy_mounts_are_detached_lazily() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.raw");
        make_fs_image(&image, 32 << 20, "mkfs.ext4");
        let target = dir.path().join("mnt");
        std::fs::create_dir(&target).unwrap();
        let _guard = MountGuard(target.clone());

        // Nothing mounted: nothing to do.
        unmount_tree(&target).unwrap();
        mount_volume(&VolumeSource::RawImage(image.clone()), None, &target, false).unwrap();
        let device = loop_of(&target);
        let busy = std::fs::File::create(target.join("open")).unwrap();
        unmount_tree(&target).unwrap();
        assert!(!anything_mounted_below(&target));
        // The detached file system lives on while the file is open...
        assert_eq!(crate::mount::backing_file(&device), Some(image.clone()));
        drop(busy);
        // ...and the loop device goes once it is closed.
        assert!(wait_detached(&device, &image));
    }
}
