//! Where corral finds the host programs it runs (mkfs.ext4, resize2fs, fsck, lvm, zfs,
//! rsync, ...).

use std::path::{Path, PathBuf};

/// `name` from the usual sbin and bin directories, else as PATH finds it: a minimal system
/// (the VM rig's guest, a service manager's environment) may have no sbin in its PATH.
pub(crate) fn find(name: &str) -> PathBuf {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_is_found_in_sbin_first_else_left_to_path() {
        assert_eq!(find("sh"), PathBuf::from("/usr/bin/sh"));
        assert_eq!(
            find("no-such-program-here"),
            PathBuf::from("no-such-program-here")
        );
    }
}
