//! Loop devices for raw images: a free device from `/dev/loop-control`, configured in one step
//! with `LOOP_CONFIGURE` and `LO_FLAGS_AUTOCLEAR`, so the kernel detaches it by itself once the
//! last user (our descriptor, then the mount) lets go. Nothing has to remember to detach it,
//! and a crash between attach and mount leaks nothing.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, open};

const LOOP_CLR_FD: libc::c_ulong = 0x4C01;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LO_FLAGS_READ_ONLY: u32 = 1;
const LO_FLAGS_AUTOCLEAR: u32 = 4;
const LO_NAME_SIZE: usize = 64;

/// `struct loop_info64` from linux/loop.h.
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
    lo_file_name: [u8; LO_NAME_SIZE],
    lo_crypt_name: [u8; LO_NAME_SIZE],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

/// `struct loop_config` from linux/loop.h.
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

const _: () = assert!(std::mem::size_of::<LoopInfo64>() == 232);
const _: () = assert!(std::mem::size_of::<LoopConfig>() == 304);

/// An attached loop device. Dropping it closes our descriptor; with autoclear the device is
/// detached as soon as nothing else (a mount) holds it.
#[derive(Debug)]
pub struct LoopDevice {
    device: OwnedFd,
    path: PathBuf,
}

impl LoopDevice {
    /// Attach `image` to a free loop device, read-only when asked.
    pub fn attach(image: &Path, read_only: bool) -> io::Result<LoopDevice> {
        let access = if read_only {
            OFlags::RDONLY
        } else {
            OFlags::RDWR
        };
        let backing = open(image, access | OFlags::CLOEXEC, Mode::empty())?;
        let control = open(
            "/dev/loop-control",
            OFlags::RDWR | OFlags::CLOEXEC,
            Mode::empty(),
        )?;

        let mut info_name = [0u8; LO_NAME_SIZE];
        let name = image.as_os_str().as_bytes();
        let len = name.len().min(LO_NAME_SIZE - 1);
        info_name[..len].copy_from_slice(&name[..len]);

        // Another process may take the device LOOP_CTL_GET_FREE handed us before we configure
        // it (EBUSY); then ask again.
        let mut last_error = io::Error::from_raw_os_error(libc::EBUSY);
        for _ in 0..64 {
            // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a device number.
            let number = unsafe { libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE as _) };
            if number < 0 {
                return Err(io::Error::last_os_error());
            }
            let path = PathBuf::from(format!("/dev/loop{number}"));
            let device = open(&path, access | OFlags::CLOEXEC, Mode::empty())?;
            let config = LoopConfig {
                fd: backing.as_raw_fd() as u32,
                block_size: 0,
                info: LoopInfo64 {
                    lo_device: 0,
                    lo_inode: 0,
                    lo_rdevice: 0,
                    lo_offset: 0,
                    lo_sizelimit: 0,
                    lo_number: 0,
                    lo_encrypt_type: 0,
                    lo_encrypt_key_size: 0,
                    lo_flags: LO_FLAGS_AUTOCLEAR | if read_only { LO_FLAGS_READ_ONLY } else { 0 },
                    lo_file_name: info_name,
                    lo_crypt_name: [0; LO_NAME_SIZE],
                    lo_encrypt_key: [0; 32],
                    lo_init: [0; 2],
                },
                reserved: [0; 8],
            };
            // SAFETY: `config` is a properly laid out `struct loop_config` that outlives the call.
            let rc = unsafe {
                libc::ioctl(
                    device.as_raw_fd(),
                    LOOP_CONFIGURE as _,
                    &config as *const LoopConfig,
                )
            };
            if rc == 0 {
                return Ok(LoopDevice { device, path });
            }
            last_error = io::Error::last_os_error();
            if last_error.raw_os_error() != Some(libc::EBUSY) {
                return Err(last_error);
            }
        }
        Err(last_error)
    }

    /// `/dev/loopN`.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl AsFd for LoopDevice {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.device.as_fd()
    }
}

/// The file backing `/dev/loopN`, `None` when the device is not attached.
pub fn backing_file(device: &Path) -> Option<PathBuf> {
    let name = device.file_name()?.to_str()?;
    let text = std::fs::read_to_string(format!("/sys/block/{name}/loop/backing_file")).ok()?;
    Some(PathBuf::from(text.trim_end_matches('\n')))
}

/// Ask the kernel to detach `/dev/loopN` from its backing file. A device still open (by a
/// mount) is only marked for autoclear and goes once its last user does; one that is not
/// attached (any more) is fine.
pub fn detach(device: &Path) -> io::Result<()> {
    let fd = match open(device, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::NXIO) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    // SAFETY: LOOP_CLR_FD takes no argument.
    if unsafe { libc::ioctl(fd.as_raw_fd(), LOOP_CLR_FD as _) } == 0 {
        return Ok(());
    }
    match io::Error::last_os_error() {
        e if e.raw_os_error() == Some(libc::ENXIO) => Ok(()),
        e => Err(e),
    }
}

/// Every attached loop device whose backing file is `image`.
pub fn devices_backed_by(image: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/sys/block") else {
        return Vec::new();
    };
    let wanted = std::fs::canonicalize(image).unwrap_or_else(|_| image.to_path_buf());
    entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().as_bytes().starts_with(b"loop"))
        .map(|entry| Path::new("/dev").join(entry.file_name()))
        .filter(|device| backing_file(device).is_some_and(|file| file == wanted))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mount::testutil::wait_detached;

    #[test]
    fn attach_shows_backing_file_and_autoclears_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("img");
        std::fs::File::create(&image)
            .unwrap()
            .set_len(1 << 20)
            .unwrap();
        let device = LoopDevice::attach(&image, true).unwrap();
        let path = device.path().to_path_buf();
        assert_eq!(backing_file(&path), Some(image.clone()));
        assert_eq!(devices_backed_by(&image), std::slice::from_ref(&path));
        let ro = std::fs::read_to_string(format!(
            "/sys/block/{}/ro",
            path.file_name().unwrap().to_str().unwrap()
        ));
        assert_eq!(ro.unwrap().trim(), "1");
        drop(device);
        assert!(
            wait_detached(&path, &image),
            "{} still attached",
            path.display()
        );
        assert!(devices_backed_by(&image).is_empty());
    }

    #[test]
    fn detach_releases_a_device_nobody_holds() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("img");
        std::fs::File::create(&image)
            .unwrap()
            .set_len(1 << 20)
            .unwrap();
        // A device attached without autoclear, as `losetup` leaves one.
        let status = std::process::Command::new("losetup")
            .arg("-f")
            .arg(&image)
            .status()
            .unwrap();
        assert!(status.success());
        let device = devices_backed_by(&image).pop().expect("attached");
        detach(&device).unwrap();
        assert!(
            wait_detached(&device, &image),
            "{} still attached",
            device.display()
        );
        // Detaching what is gone is not an error.
        detach(&device).unwrap();
    }

    #[test]
    fn attach_missing_image_fails() {
        let err = LoopDevice::attach(Path::new("/nonexistent/image.raw"), false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
