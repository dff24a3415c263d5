//! A directory treated as a root: paths inside it are resolved with `openat2(RESOLVE_IN_ROOT)`,
//! so `..`, absolute symlinks and symlink chains all stay beneath it, the way they would if the
//! process had `chroot`ed there.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{CWD, Mode, OFlags, ResolveFlags, mkdirat, openat, openat2};
use rustix::io::Errno;

/// Magic links (`/proc/self/fd/N`) could point anywhere; a rootfs never needs them.
const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// `openat2` answers EAGAIN when a concurrent rename races a `..` lookup; nothing renames
/// inside a rootfs that is being created, so a few retries are plenty.
const RETRIES_ON_RACE: usize = 16;

pub(super) struct RootDir {
    fd: OwnedFd,
}

impl RootDir {
    pub(super) fn open(path: &Path) -> io::Result<RootDir> {
        let fd = openat(
            CWD,
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(RootDir { fd })
    }

    /// The root that `fd` (an `O_PATH` directory descriptor, as [`RootDir::open`] makes)
    /// already is, e.g. one handed over to the extraction process.
    pub(super) fn from_fd(fd: OwnedFd) -> RootDir {
        RootDir { fd }
    }

    pub(super) fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens `path` (relative, `/`-separated; empty for the root itself) inside the root.
    /// Whether the last component is followed is up to `flags` (`O_NOFOLLOW`).
    pub(super) fn open_in(&self, path: &[u8], flags: OFlags) -> io::Result<OwnedFd> {
        let path: &[u8] = if path.is_empty() { b"." } else { path };
        let mut attempts = 0;
        loop {
            match openat2(
                &self.fd,
                path,
                flags | OFlags::CLOEXEC,
                Mode::empty(),
                RESOLVE,
            ) {
                Err(Errno::AGAIN) if attempts < RETRIES_ON_RACE => attempts += 1,
                Err(Errno::NOSYS) => {
                    return Err(io::Error::other(
                        "the kernel lacks openat2 (Linux 5.6 or newer is needed)",
                    ));
                }
                result => return result.map_err(io::Error::from),
            }
        }
    }

    /// The directory `path` inside the root, as an `O_PATH` fd for the `*at` calls.
    pub(super) fn open_dir(&self, path: &[u8]) -> io::Result<OwnedFd> {
        self.open_in(path, OFlags::PATH | OFlags::DIRECTORY)
    }

    /// The directory `path`, creating missing components as tar does for members whose
    /// parents come later or never. `on_made(parent, name, prefix)` runs for each directory
    /// made, so the caller can give it an owner and remember it.
    pub(super) fn make_dirs(
        &self,
        path: &[u8],
        mut on_made: impl FnMut(BorrowedFd<'_>, &[u8], &[u8]) -> io::Result<()>,
    ) -> io::Result<OwnedFd> {
        match self.open_dir(path) {
            Err(error) if error.raw_os_error() == Some(libc::ENOENT) => {}
            result => return result,
        }
        let mut current = self.open_dir(b"")?;
        let mut start = 0;
        while start < path.len() {
            let end = path[start..]
                .iter()
                .position(|&byte| byte == b'/')
                .map_or(path.len(), |at| start + at);
            let (name, prefix) = (&path[start..end], &path[..end]);
            current = match self.open_dir(prefix) {
                Ok(fd) => fd,
                Err(error) if error.raw_os_error() == Some(libc::ENOENT) => {
                    match mkdirat(&current, name, Mode::from_raw_mode(0o755)) {
                        Ok(()) => on_made(current.as_fd(), name, prefix)?,
                        // Something is there already, e.g. a symlink to a missing target;
                        // opening it again gives the error worth reporting.
                        Err(Errno::EXIST) => {}
                        Err(error) => return Err(error.into()),
                    }
                    self.open_dir(prefix)?
                }
                Err(error) => return Err(error),
            };
            start = end + 1;
        }
        Ok(current)
    }
}

/// Splits a member path into its parent directory and last component (`b"a/b/c"` gives
/// `(b"a/b", b"c")`).
pub(super) fn split_parent(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&byte| byte == b'/') {
        Some(at) => (&path[..at], &path[at + 1..]),
        None => (b"", path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::template::fixtures::Scratch;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let scratch = Scratch::new();
        let root = scratch.rootfs();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/marker"), "inside").unwrap();
        std::fs::write(scratch.outside().join("marker"), "outside").unwrap();
        // Absolute, climbing and chained symlinks, each aimed at the outside directory.
        symlink(scratch.outside(), root.join("abs")).unwrap();
        symlink("../../../../../../../..", root.join("up")).unwrap();
        symlink("up/etc", root.join("chain")).unwrap();
        let dir = RootDir::open(&root).unwrap();
        let read = |path: &[u8]| {
            let fd = dir.open_in(path, OFlags::RDONLY).unwrap();
            std::io::read_to_string(std::fs::File::from(fd)).unwrap()
        };
        assert_eq!(read(b"chain/marker"), "inside");
        assert_eq!(read(b"up/etc/marker"), "inside");
        assert!(dir.open_in(b"abs/marker", OFlags::RDONLY).is_err());
    }

    #[test]
    fn make_dirs_creates_missing_parents_and_reports_them() {
        let scratch = Scratch::new();
        let root = scratch.rootfs();
        std::fs::create_dir(root.join("a")).unwrap();
        let dir = RootDir::open(&root).unwrap();
        let mut made = Vec::new();
        dir.make_dirs(b"a/b/c", |_, name, prefix| {
            made.push((name.to_vec(), prefix.to_vec()));
            Ok(())
        })
        .unwrap();
        assert!(root.join("a/b/c").is_dir());
        assert_eq!(
            made,
            [
                (b"b".to_vec(), b"a/b".to_vec()),
                (b"c".to_vec(), b"a/b/c".to_vec())
            ]
        );
    }

    #[test]
    fn make_dirs_refuses_a_dangling_symlink_to_the_outside() {
        let scratch = Scratch::new();
        let root = scratch.rootfs();
        let target = scratch.outside().join("made-here");
        symlink(&target, root.join("link")).unwrap();
        let dir = RootDir::open(&root).unwrap();
        let error = dir.make_dirs(b"link/x", |_, _, _| Ok(())).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ENOENT));
        assert!(!target.exists());
        scratch.assert_outside_untouched();
    }

    #[test]
    fn split_parent_splits_at_the_last_slash() {
        assert_eq!(split_parent(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split_parent(b"c"), (&b""[..], &b"c"[..]));
    }
}
