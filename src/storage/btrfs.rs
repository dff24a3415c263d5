//! btrfs subvolumes through the kernel's ioctls, not the `btrfs` program: creation and deletion
//! work relative to an open parent directory (no path races, no dependency on btrfs-progs
//! being installed), and errors come back as plain errno values.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// `struct btrfs_ioctl_vol_args`: a descriptor and a NUL-terminated name.
#[repr(C)]
struct VolArgs {
    fd: i64,
    name: [u8; VOL_NAME_MAX + 1],
}

const VOL_NAME_MAX: usize = 4087;
/// `_IOW(BTRFS_IOCTL_MAGIC, 14, struct btrfs_ioctl_vol_args)`
const BTRFS_IOC_SUBVOL_CREATE: libc::c_ulong = 0x5000_940E;
/// `_IOW(BTRFS_IOCTL_MAGIC, 15, struct btrfs_ioctl_vol_args)`
const BTRFS_IOC_SNAP_DESTROY: libc::c_ulong = 0x5000_940F;
/// The inode number of every subvolume's root directory.
const FIRST_FREE_OBJECTID: u64 = 256;

const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
const FS_IOC_SETFLAGS: libc::c_ulong = 0x4008_6602;
const FS_NOCOW_FL: libc::c_long = 0x0080_0000;

const _: () = assert!(std::mem::size_of::<VolArgs>() == 4096);

/// Run a vol-args ioctl on `path`'s parent directory with `path`'s last component.
fn parent_ioctl(path: &Path, request: libc::c_ulong) -> io::Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    };
    let name = name.as_bytes();
    if name.len() > VOL_NAME_MAX {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    let parent = File::open(parent)?;
    let mut args = VolArgs {
        fd: 0,
        name: [0; VOL_NAME_MAX + 1],
    };
    args.name[..name.len()].copy_from_slice(name);
    // SAFETY: `args` is a correctly sized `btrfs_ioctl_vol_args` living across the call.
    let rc = unsafe { libc::ioctl(parent.as_raw_fd(), request as _, &mut args as *mut VolArgs) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub(crate) fn create_subvolume(path: &Path) -> io::Result<()> {
    parent_ioctl(path, BTRFS_IOC_SUBVOL_CREATE)
}

/// Whether `path` is the root of a btrfs subvolume (what `btrfs subvolume show` checks).
pub(crate) fn is_subvolume(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir() && m.ino() == FIRST_FREE_OBJECTID)
}

/// Delete the subvolume at `path` with everything in it, including subvolumes nested inside
/// (which a container may have made, e.g. systemd's /var/lib/machines).
pub(crate) fn delete_subvolume(path: &Path) -> io::Result<()> {
    match parent_ioctl(path, BTRFS_IOC_SNAP_DESTROY) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {
            delete_nested_subvolumes(path)?;
            parent_ioctl(path, BTRFS_IOC_SNAP_DESTROY)
        }
        other => other,
    }
}

fn delete_nested_subvolumes(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        // `file_type` does not follow symlinks, so the walk stays inside the subvolume.
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let path = entry.path();
        if is_subvolume(&path) {
            delete_subvolume(&path)?;
        } else {
            delete_nested_subvolumes(&path)?;
        }
    }
    Ok(())
}

/// Set the NOCOW attribute (`chattr +C`) on an empty file, as the `nocow` storage option asks.
pub(crate) fn set_nocow(file: &File) -> io::Result<()> {
    let mut flags: libc::c_long = 0;
    // SAFETY: FS_IOC_GETFLAGS/SETFLAGS read and write one long through the pointer.
    unsafe {
        if libc::ioctl(
            file.as_raw_fd(),
            FS_IOC_GETFLAGS as _,
            &mut flags as *mut libc::c_long,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        flags |= FS_NOCOW_FL;
        if libc::ioctl(
            file.as_raw_fd(),
            FS_IOC_SETFLAGS as _,
            &flags as *const libc::c_long,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
