//! Mounting one volume: raw images through a loop device (autoclear, so the device goes away
//! with the mount), directories by bind mount, block devices by their filesystem; mount
//! targets inside a rootfs are resolved without leaving it.

use std::fs::{self, File, OpenOptions};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::mount::{MountFlags, UnmountFlags};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSource {
    /// A raw image holding ext4.
    RawImage(PathBuf),
    /// A directory or subvolume, bind-mounted.
    Directory(PathBuf),
    /// A host block device.
    BlockDevice(PathBuf),
}

#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct MountError {
    pub context: String,
    #[source]
    pub source: std::io::Error,
}

fn error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> MountError {
    let context = context.into();
    move |source| MountError { context, source }
}

fn errno(context: impl Into<String>) -> impl FnOnce(rustix::io::Errno) -> MountError {
    let context = context.into();
    move |e| MountError {
        context,
        source: e.into(),
    }
}

/// Mount `source` at `target`. When `rootfs` is given, `target` is a path inside that rootfs
/// (e.g. `/data`), resolved without following symlinks and created as a directory when
/// missing; otherwise `target` is a host path that must exist. Returns the host path mounted on.
pub fn mount_volume(
    source: &VolumeSource,
    rootfs: Option<&Path>,
    target: &Path,
    read_only: bool,
) -> Result<PathBuf, MountError> {
    let (target_fd, host_path) = match rootfs {
        Some(rootfs) => {
            let fd = resolve_in_rootfs(rootfs, target)?;
            let relative = target.strip_prefix("/").unwrap_or(target);
            (fd, rootfs.join(relative))
        }
        None => {
            let fd = rustix::fs::open(
                target,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(errno(format!("mount target '{}'", target.display())))?;
            (fd, target.to_path_buf())
        }
    };
    // Mounting on the fd's magic link mounts on exactly the directory resolved above, even if
    // the path is swapped for a symlink in between.
    let on = PathBuf::from(format!("/proc/self/fd/{}", target_fd.as_raw_fd()));
    let ro = if read_only {
        MountFlags::RDONLY
    } else {
        MountFlags::empty()
    };
    match source {
        VolumeSource::RawImage(image) => {
            let device = LoopDevice::attach(image, read_only)?;
            rustix::mount::mount(device.path(), &on, "ext4", ro, None::<&std::ffi::CStr>).map_err(
                errno(format!(
                    "mount '{}' (ext4 on {})",
                    image.display(),
                    device.path().display()
                )),
            )?;
        }
        VolumeSource::Directory(dir) => bind_mount(dir, &target_fd, read_only)?,
        VolumeSource::BlockDevice(device) => {
            let fstype = probe_filesystem(device)
                .map_err(error(format!("unable to read '{}'", device.display())))?;
            let Some(fstype) = fstype else {
                return Err(MountError {
                    context: format!("unable to detect the filesystem on '{}'", device.display()),
                    source: std::io::Error::from_raw_os_error(libc::EINVAL),
                });
            };
            rustix::mount::mount(device, &on, fstype, ro, None::<&std::ffi::CStr>)
                .map_err(errno(format!("mount '{}' ({fstype})", device.display())))?;
        }
    }
    Ok(host_path)
}

/// Bind `dir` onto the directory `target` (an fd), read-only if asked, without any path
/// lookup between the two: the clone of `dir` is made read-only while still detached, so it
/// is never visible writable.
fn bind_mount(dir: &Path, target: &OwnedFd, read_only: bool) -> Result<(), MountError> {
    use rustix::mount::{MoveMountFlags, OpenTreeFlags, move_mount, open_tree};
    let tree = open_tree(
        rustix::fs::CWD,
        dir,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .map_err(errno(format!("bind mount '{}'", dir.display())))?;
    if read_only {
        let attr = libc::mount_attr {
            attr_set: libc::MOUNT_ATTR_RDONLY,
            attr_clr: 0,
            propagation: 0,
            userns_fd: 0,
        };
        let empty = c"";
        let result = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                tree.as_raw_fd(),
                empty.as_ptr(),
                libc::AT_EMPTY_PATH,
                &attr as *const libc::mount_attr,
                std::mem::size_of::<libc::mount_attr>(),
            )
        };
        if result != 0 {
            return Err(error(format!("read-only bind of '{}'", dir.display()))(
                std::io::Error::last_os_error(),
            ));
        }
    }
    move_mount(
        &tree,
        "",
        target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(errno(format!("bind mount '{}'", dir.display())))
}

/// Walk `target` below `rootfs` one component at a time with O_NOFOLLOW, creating missing
/// directories; a symlink or `..` anywhere is refused, as pct refuses them in mount paths.
fn resolve_in_rootfs(rootfs: &Path, target: &Path) -> Result<OwnedFd, MountError> {
    let shown = target.display().to_string();
    let mut dir = rustix::fs::open(
        rootfs,
        OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno(format!("rootfs '{}'", rootfs.display())))?;
    for component in target.components() {
        let name = match component {
            Component::RootDir | Component::CurDir => continue,
            Component::Normal(name) => name,
            Component::ParentDir | Component::Prefix(_) => {
                return Err(MountError {
                    context: format!(
                        "mount point path '{shown}' contains illegal character sequences"
                    ),
                    source: std::io::Error::from_raw_os_error(libc::EINVAL),
                });
            }
        };
        let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let next = match rustix::fs::openat(&dir, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => {
                match rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => {
                        return Err(errno(format!("unable to create mount point '{shown}'"))(e));
                    }
                }
                rustix::fs::openat(&dir, name, flags, Mode::empty())
                    .map_err(errno(format!("mount point '{shown}'")))?
            }
            Err(rustix::io::Errno::LOOP) | Err(rustix::io::Errno::NOTDIR) => {
                let is_link = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map(|st| {
                        rustix::fs::FileType::from_raw_mode(st.st_mode)
                            == rustix::fs::FileType::Symlink
                    })
                    .unwrap_or(false);
                let what = if is_link {
                    "is a symlink"
                } else {
                    "is not a directory"
                };
                return Err(MountError {
                    context: format!("mount point '{shown}': '{}' {what}", name.to_string_lossy()),
                    source: std::io::Error::from_raw_os_error(libc::ELOOP),
                });
            }
            Err(e) => return Err(errno(format!("mount point '{shown}'"))(e)),
        };
        dir = next;
    }
    Ok(dir)
}

/// The filesystem type of a block device, from its superblock magic.
fn probe_filesystem(device: &Path) -> std::io::Result<Option<&'static str>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(device)?;
    let mut read_at = |offset: u64, len: usize| -> std::io::Result<Vec<u8>> {
        let mut buffer = vec![0u8; len];
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(&mut buffer)?;
        Ok(buffer)
    };
    if read_at(1080, 2).is_ok_and(|b| b == [0x53, 0xEF]) {
        return Ok(Some("ext4"));
    }
    if read_at(0, 4).is_ok_and(|b| b == b"XFSB") {
        return Ok(Some("xfs"));
    }
    if read_at(0x10040, 8).is_ok_and(|b| b == b"_BHRfS_M") {
        return Ok(Some("btrfs"));
    }
    Ok(None)
}

// <linux/loop.h>; libc does not carry the loop ioctls.
const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
const LO_FLAGS_READ_ONLY: u32 = 1;
const LO_FLAGS_AUTOCLEAR: u32 = 4;

#[repr(C)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; 64],
    lo_crypt_name: [u8; 64],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

/// A loop device bound to an image with autoclear: once the last user (our fd, then the
/// mount) lets go, the kernel detaches it.
struct LoopDevice {
    path: PathBuf,
    _file: File,
}

impl LoopDevice {
    fn attach(image: &Path, read_only: bool) -> Result<LoopDevice, MountError> {
        let backing = OpenOptions::new()
            .read(true)
            .write(!read_only)
            .custom_flags(libc::O_CLOEXEC)
            .open(image)
            .map_err(error(format!("unable to open image '{}'", image.display())))?;
        let control =
            File::open("/dev/loop-control").map_err(error("unable to open /dev/loop-control"))?;
        // Another process may take the free device between GET_FREE and CONFIGURE: retry.
        for _ in 0..16 {
            let number = unsafe { libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE as _) };
            if number < 0 {
                return Err(error("no free loop device")(std::io::Error::last_os_error()));
            }
            let path = PathBuf::from(format!("/dev/loop{number}"));
            let device = match OpenOptions::new()
                .read(true)
                .write(!read_only)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
            {
                Ok(device) => device,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(error(format!("unable to open '{}'", path.display()))(e)),
            };
            let mut info: LoopInfo64 = unsafe { std::mem::zeroed() };
            info.lo_flags = LO_FLAGS_AUTOCLEAR | if read_only { LO_FLAGS_READ_ONLY } else { 0 };
            let name = image.as_os_str().as_encoded_bytes();
            let len = name.len().min(63);
            info.lo_file_name[..len].copy_from_slice(&name[..len]);
            let config = LoopConfig {
                fd: backing.as_fd().as_raw_fd() as u32,
                block_size: 0,
                info,
                reserved: [0; 8],
            };
            let result = unsafe {
                libc::ioctl(
                    device.as_raw_fd(),
                    LOOP_CONFIGURE as _,
                    &config as *const LoopConfig,
                )
            };
            if result == 0 {
                return Ok(LoopDevice {
                    path,
                    _file: device,
                });
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EBUSY) {
                return Err(error(format!(
                    "unable to attach '{}' to {}",
                    image.display(),
                    path.display()
                ))(e));
            }
        }
        Err(MountError {
            context: format!("no free loop device for '{}'", image.display()),
            source: std::io::Error::from_raw_os_error(libc::EBUSY),
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// Mount points at and below `target` from /proc/self/mountinfo, deepest (and newest) first.
fn mounts_at_or_below(target: &Path) -> Result<Vec<PathBuf>, MountError> {
    let text = fs::read_to_string("/proc/self/mountinfo")
        .map_err(error("unable to read /proc/self/mountinfo"))?;
    let mut found: Vec<PathBuf> = text
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|path| path.starts_with(target))
        .collect();
    found.reverse();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    Ok(found)
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mountinfo(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            out.push(
                (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0'),
            );
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
}

/// Unmount everything at and below `target`, deepest first. A busy mount is detached lazily
/// rather than left behind.
pub fn unmount_tree(target: &Path) -> Result<(), MountError> {
    let target = match target.canonicalize() {
        Ok(path) => path,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(error(format!("unable to resolve '{}'", target.display()))(
                e,
            ));
        }
    };
    for mount in mounts_at_or_below(&target)? {
        match rustix::mount::unmount(&mount, UnmountFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
            Err(rustix::io::Errno::BUSY) => rustix::mount::unmount(&mount, UnmountFlags::DETACH)
                .map_err(errno(format!("unable to unmount '{}'", mount.display())))?,
            Err(e) => return Err(errno(format!("unable to unmount '{}'", mount.display()))(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn ext4_image(dir: &Path) -> PathBuf {
        let image = dir.join("disk.raw");
        File::create(&image)
            .unwrap()
            .set_len(32 * 1024 * 1024)
            .unwrap();
        assert!(
            Command::new("mkfs.ext4")
                .args(["-q", "-F"])
                .arg(&image)
                .status()
                .unwrap()
                .success()
        );
        image
    }

    fn loop_devices_for(image: &Path) -> usize {
        fs::read_dir("/sys/block")
            .unwrap()
            .flatten()
            .filter(|e| {
                fs::read_to_string(e.path().join("loop/backing_file"))
                    .is_ok_and(|b| Path::new(b.trim()) == image)
            })
            .count()
    }

    /// Unmounts whatever a test left below its directory.
    struct Cleanup(PathBuf);

    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = unmount_tree(&self.0);
        }
    }

    #[test]
    fn raw_images_mount_over_an_autoclear_loop_device() {
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let _cleanup = Cleanup(dir.path().to_path_buf());
        let image = ext4_image(dir.path());
        let target = dir.path().join("mnt");
        fs::create_dir(&target).unwrap();
        mount_volume(&VolumeSource::RawImage(image.clone()), None, &target, false).unwrap();
        assert!(target.join("lost+found").is_dir());
        fs::write(target.join("hello"), "x").unwrap();
        assert_eq!(loop_devices_for(&image), 1);
        unmount_tree(&target).unwrap();
        assert!(!target.join("hello").exists());
        assert_eq!(
            loop_devices_for(&image),
            0,
            "autoclear detaches the loop device"
        );

        mount_volume(&VolumeSource::RawImage(image.clone()), None, &target, true).unwrap();
        assert!(
            fs::write(target.join("again"), "x").is_err(),
            "read-only mount"
        );
        unmount_tree(&target).unwrap();
    }

    #[test]
    fn mount_points_inside_a_rootfs_are_created_and_nested_mounts_come_down() {
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let _cleanup = Cleanup(dir.path().to_path_buf());
        let rootfs = dir.path().join("rootfs");
        let data = dir.path().join("data");
        fs::create_dir_all(&rootfs).unwrap();
        fs::create_dir_all(&data).unwrap();
        fs::write(data.join("file"), "data").unwrap();
        let image = ext4_image(dir.path());
        mount_volume(&VolumeSource::RawImage(image.clone()), None, &rootfs, false).unwrap();
        let mounted = mount_volume(
            &VolumeSource::Directory(data.clone()),
            Some(&rootfs),
            Path::new("/srv/deep/data"),
            true,
        )
        .unwrap();
        assert_eq!(mounted, rootfs.join("srv/deep/data"));
        assert_eq!(
            fs::read_to_string(rootfs.join("srv/deep/data/file")).unwrap(),
            "data"
        );
        assert!(
            fs::write(rootfs.join("srv/deep/data/new"), "x").is_err(),
            "read-only bind"
        );
        unmount_tree(&rootfs).unwrap();
        assert!(
            mounts_at_or_below(&rootfs.canonicalize().unwrap())
                .unwrap()
                .is_empty()
        );
        assert_eq!(loop_devices_for(&image), 0);
    }

    #[test]
    fn symlinks_and_dotdot_in_mount_paths_are_refused() {
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let _cleanup = Cleanup(dir.path().to_path_buf());
        let rootfs = dir.path().join("rootfs");
        let outside = dir.path().join("outside");
        let data = dir.path().join("data");
        for d in [&rootfs, &outside, &data] {
            fs::create_dir_all(d).unwrap();
        }
        std::os::unix::fs::symlink(&outside, rootfs.join("etc")).unwrap();
        let source = VolumeSource::Directory(data.clone());
        let error =
            mount_volume(&source, Some(&rootfs), Path::new("/etc/data"), false).unwrap_err();
        assert!(error.context.contains("'etc' is a symlink"), "{error}");
        let error =
            mount_volume(&source, Some(&rootfs), Path::new("/x/../../outside"), false).unwrap_err();
        assert!(
            error.context.contains("illegal character sequences"),
            "{error}"
        );
        assert!(
            fs::read_dir(&outside).unwrap().next().is_none(),
            "nothing created outside"
        );
        assert!(
            mounts_at_or_below(&dir.path().canonicalize().unwrap())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn block_devices_are_probed() {
        let dir = tempfile::tempdir().unwrap();
        let image = ext4_image(dir.path());
        assert_eq!(probe_filesystem(&image).unwrap(), Some("ext4"));
        let plain = dir.path().join("plain");
        File::create(&plain).unwrap().set_len(1 << 20).unwrap();
        assert_eq!(probe_filesystem(&plain).unwrap(), None);
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo("/a\\040b"), PathBuf::from("/a b"));
        assert_eq!(unescape_mountinfo("/plain"), PathBuf::from("/plain"));
    }
}
