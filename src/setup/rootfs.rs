//! Reading files inside a container root without following symlinks out of it.

use std::io::Read;
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags, openat2};

/// Read `path` (absolute inside the container) from `rootfs`. Symlinks resolve as they would
/// inside the container (RESOLVE_IN_ROOT), so a template cannot make corral read host files.
/// `Ok(None)` when the file does not exist.
pub fn read_in_root(rootfs: &Path, path: &str) -> std::io::Result<Option<Vec<u8>>> {
    let root = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let fd = match openat2(
        &root,
        path.trim_start_matches('/'),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        resolve,
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut file = std::fs::File::from(fd);
    if !file.metadata()?.is_file() {
        return Ok(None);
    }
    let mut data = Vec::new();
    file.read_to_end(&mut data)?;
    Ok(Some(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host").unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret"),
            dir.path().join("etc/os-release"),
        )
        .unwrap();
        // The link target does not exist inside the root, so nothing is read.
        assert_eq!(read_in_root(dir.path(), "/etc/os-release").unwrap(), None);
        std::fs::write(dir.path().join("etc/real"), "ID=debian\n").unwrap();
        std::os::unix::fs::symlink("../../../../etc/real", dir.path().join("etc/rel")).unwrap();
        assert_eq!(
            read_in_root(dir.path(), "/etc/rel").unwrap().unwrap(),
            b"ID=debian\n"
        );
    }
}
