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

/// Whether `path` exists inside `rootfs` (resolved inside it).
pub(crate) fn exists_in_root(rootfs: &Path, path: &str) -> bool {
    let Ok(root) = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    openat2(
        &root,
        path.trim_start_matches('/'),
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .is_ok()
}

/// Write `path` (absolute inside the container) atomically: a temporary file in the same
/// directory, then rename. The directory is resolved inside the container; a new file is owned
/// by the container's root (`owner` as the host sees it), an existing one keeps its owner and
/// mode. A missing directory means the guest does not use the file: `Ok(false)`.
pub fn write_in_root(
    rootfs: &Path,
    path: &str,
    data: &[u8],
    owner: (u32, u32),
) -> std::io::Result<bool> {
    use std::io::Write;
    let relative = path.trim_start_matches('/');
    let (parent, name) = match relative.rsplit_once('/') {
        Some((parent, name)) => (parent, name),
        None => ("", relative),
    };
    let root = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let dir = match openat2(
        &root,
        if parent.is_empty() { "." } else { parent },
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        resolve,
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let existing = rustix::fs::statat(&dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).ok();
    let (uid, gid, mode) = match &existing {
        Some(st) if rustix::fs::FileType::from_raw_mode(st.st_mode).is_file() => {
            (st.st_uid, st.st_gid, st.st_mode & 0o7777)
        }
        _ => (owner.0, owner.1, 0o644),
    };
    let temp = format!(".{name}.corral-tmp");
    let file = openat2(
        &dir,
        temp.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
    )?;
    let result = (|| {
        rustix::fs::fchown(
            &file,
            Some(rustix::process::Uid::from_raw(uid)),
            Some(rustix::process::Gid::from_raw(gid)),
        )?;
        rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))?;
        let mut file = std::fs::File::from(file);
        file.write_all(data)?;
        file.sync_all()?;
        rustix::fs::renameat(&dir, temp.as_str(), &dir, name)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = rustix::fs::unlinkat(&dir, temp.as_str(), rustix::fs::AtFlags::empty());
    }
    result.map(|()| true)
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
