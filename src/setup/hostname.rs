//! The container's host name in `/etc/hostname`, as every distribution reads it.

use std::path::Path;

use super::rootfs::{read_in_root, write_in_root};

/// Write `/etc/hostname` unless it already says `hostname`. Returns whether it was written.
pub fn write_hostname(rootfs: &Path, hostname: &str, owner: (u32, u32)) -> Result<bool, String> {
    let wanted = format!("{hostname}\n");
    let current = read_in_root(rootfs, "/etc/hostname")
        .map_err(|e| format!("unable to read /etc/hostname: {e}"))?;
    if current.as_deref() == Some(wanted.as_bytes()) {
        return Ok(false);
    }
    write_in_root(rootfs, "/etc/hostname", wanted.as_bytes(), owner)
        .map_err(|e| format!("unable to write /etc/hostname: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_keeps_and_refuses_to_leave_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        let me = (
            rustix::process::getuid().as_raw(),
            rustix::process::getgid().as_raw(),
        );
        assert!(write_hostname(&root, "ct1", me).unwrap());
        assert_eq!(
            std::fs::read_to_string(root.join("etc/hostname")).unwrap(),
            "ct1\n"
        );
        assert!(!write_hostname(&root, "ct1", me).unwrap());
        // A symlink to a host file resolves inside the root: the host file stays untouched.
        let outside = dir.path().join("outside");
        std::fs::write(&outside, "host\n").unwrap();
        std::fs::remove_file(root.join("etc/hostname")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("etc/hostname")).unwrap();
        write_hostname(&root, "ct2", me).unwrap();
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "host\n");
        assert_eq!(
            std::fs::read_to_string(root.join("etc/hostname")).unwrap(),
            "ct2\n"
        );
        // No /etc: nothing to write.
        let bare = dir.path().join("bare");
        std::fs::create_dir_all(&bare).unwrap();
        assert!(!write_hostname(&bare, "ct3", me).unwrap());
    }
}
