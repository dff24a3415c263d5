//! Helpers for tests that mount things: guards that take mounts down even when a test fails,
//! file-system images, and loop-device checks.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{backing_file, mount_table, unmount_tree};

/// Unmounts everything at and below its path when dropped. Declare it after the TempDir it
/// lives in, so it runs first and the TempDir never deletes into a mounted file system.
pub(crate) struct MountGuard(pub PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        if let Err(e) = unmount_tree(&self.0) {
            eprintln!("cleanup: {e}");
        }
    }
}

/// A sparse file of `size` bytes formatted with `mkfs_program` (`mkfs.ext4`, `mkfs.btrfs`).
pub(crate) fn make_fs_image(path: &Path, size: u64, mkfs_program: &str) {
    std::fs::File::create(path).unwrap().set_len(size).unwrap();
    let mut command = Command::new(mkfs_program);
    if mkfs_program == "mkfs.ext4" {
        command.args(["-q", "-F"]);
    } else {
        command.arg("-q");
    }
    let status = command
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{mkfs_program} {} failed", path.display());
}

/// The source device of the mount at `mount_point`, if one is there.
pub(crate) fn mounted_source(mount_point: &Path) -> Option<String> {
    mount_table()
        .unwrap()
        .into_iter()
        .rev()
        .find(|m| m.mount_point == mount_point)
        .map(|m| m.source)
}

/// Whether anything is mounted at or below `path`.
pub(crate) fn anything_mounted_below(path: &Path) -> bool {
    mount_table()
        .unwrap()
        .iter()
        .any(|m| m.mount_point.starts_with(path))
}

/// Polls until `device` no longer serves `image` (autoclear runs when the last user closes;
/// a parallel test may reuse the number at once, so compare the backing file).
pub(crate) fn wait_detached(device: &Path, image: &Path) -> bool {
    for _ in 0..300 {
        if backing_file(device).is_none_or(|file| file != image) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}
