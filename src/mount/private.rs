//! Work whose mounts must not outlive it: a thread of its own, in a mount namespace of its
//! own, runs the work. Whatever it mounts is seen by nobody else, and when the thread ends —
//! normally, by a panic, or because the whole process was killed with SIGKILL — the kernel
//! drops the namespace and every mount in it, and with them the autoclear loop devices the
//! mounts held. `pct create` mounts its new volumes this way, so no interruption can leave a
//! mount or a loop device on the host.
//!
//! A thread rather than a child process: it shares memory with the caller (no results to
//! serialize), needs no fork in a possibly multi-threaded embedder, and never changes the
//! caller's own thread (`unshare(CLONE_NEWNS)` applies to the calling thread only).

use std::io;

/// Run `work` on a new thread in a private copy of the caller's mount namespace: mounts of
/// the caller's namespace still show up in it (slave propagation), its own never leave it.
/// Processes the work starts inherit the namespace.
pub fn in_private_mount_namespace<T, F>(work: F) -> io::Result<T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("corral-mountns".into())
            .spawn_scoped(scope, || -> io::Result<T> {
                // SAFETY: unshare with namespace flags only affects this thread, which is ours.
                if unsafe { libc::unshare(libc::CLONE_FS | libc::CLONE_NEWNS) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                // Without this, mounts below shared mounts would propagate back to the host.
                // SAFETY: NUL-terminated path; no data argument.
                let rc = unsafe {
                    libc::mount(
                        std::ptr::null(),
                        c"/".as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_SLAVE,
                        std::ptr::null(),
                    )
                };
                if rc != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(work())
            })?;
        match thread.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mount::testutil::{make_fs_image, wait_detached};
    use crate::mount::{VolumeSource, mount_points, mount_volume};

    #[test]
    fn mounts_stay_inside_and_go_with_the_thread() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.raw");
        make_fs_image(&image, 32 << 20, "mkfs.ext4");
        let target = dir.path().join("mnt");
        std::fs::create_dir(&target).unwrap();

        let device = in_private_mount_namespace(|| {
            mount_volume(&VolumeSource::RawImage(image.clone()), None, &target, false).unwrap();
            assert!(mount_points().unwrap().contains(&target), "mounted inside");
            std::fs::write(target.join("inside"), b"x").unwrap();
            // Left mounted on purpose: the namespace takes it down.
            crate::mount::devices_backed_by(&image)
        })
        .unwrap();
        assert!(
            !mount_points().unwrap().contains(&target),
            "never seen outside"
        );
        assert!(!target.join("inside").exists());
        assert_eq!(device.len(), 1);
        assert!(
            wait_detached(&device[0], &image),
            "loop device left attached"
        );
    }
}
