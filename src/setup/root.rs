//! File operations inside a container's root filesystem, with the semantics pct's setup code
//! has when it runs chrooted into the rootfs: absolute symlinks resolve inside the container,
//! files are replaced atomically (a symlinked target is replaced, never followed), every path
//! `<dir>/<name>` with a regular file `<dir>/.pve-ignore.<name>` is left alone, and what is
//! created in an unprivileged container belongs to its mapped root.
//!
//! Every path is resolved with openat2(RESOLVE_IN_ROOT) against a descriptor of the rootfs,
//! so no string join can reach a host path.

use super::error::SetupError;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, openat2};
use rustix::io::Errno;

use super::section::{Placement, modify_section};

/// How deep pct follows `/sbin/init` links.
const MAX_LINK_DEPTH: usize = 10;

/// The rootfs of a container being set up.
pub struct GuestRoot {
    root: OwnedFd,
    /// The container's root as the host sees it, for unprivileged containers; what a
    /// privileged container's setup creates stays owned by the host's root, as under pct.
    owner: Option<(u32, u32)>,
}

impl AsFd for GuestRoot {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.root.as_fd()
    }
}

/// Options of [`GuestRoot::modify_file`], pct's `ct_modify_file`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ModifyOptions {
    pub placement: Placement,
    /// Remove the file when the managed section was all of it and is now empty.
    pub delete: bool,
    /// Mode of a file written anew (pct: 0644 unless given).
    pub perms: Option<u32>,
}

fn resolve_flags() -> ResolveFlags {
    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS
}

/// `path` relative to the root, `.` for the root itself.
fn relative(path: &str) -> &str {
    let trimmed = path.trim_start_matches('/');
    if trimmed.is_empty() { "." } else { trimmed }
}

/// The parent and last component of an absolute path inside the container; trailing
/// slashes are dropped, as the kernel would.
fn split_parent(path: &str) -> (&str, &str) {
    let path = path.trim_end_matches('/');
    match path.rsplit_once('/') {
        Some((parent, name)) => (if parent.is_empty() { "/" } else { parent }, name),
        None => (".", path),
    }
}

fn not_found(e: Errno) -> bool {
    matches!(e, Errno::NOENT | Errno::NOTDIR | Errno::LOOP)
}

impl GuestRoot {
    /// Open `rootfs` for setup; `owner` is the mapped root of an unprivileged container.
    pub fn open(rootfs: &Path, owner: Option<(u32, u32)>) -> io::Result<GuestRoot> {
        let root = rustix::fs::open(
            rootfs,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(GuestRoot { root, owner })
    }

    fn open_at(&self, path: &str, flags: OFlags) -> Result<OwnedFd, Errno> {
        openat2(
            &self.root,
            relative(path),
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            resolve_flags(),
        )
    }

    /// The directory holding `path`, and the name in it; `None` when the directory is
    /// missing.
    fn parent_dir<'p>(&self, path: &'p str) -> io::Result<Option<(OwnedFd, &'p str)>> {
        let (parent, name) = split_parent(path);
        match self.open_at(parent, OFlags::PATH | OFlags::DIRECTORY) {
            Ok(dir) => Ok(Some((dir, name))),
            Err(e) if not_found(e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// stat(2) of `path`, following links inside the root.
    fn stat(&self, path: &str) -> Option<rustix::fs::Stat> {
        let fd = self.open_at(path, OFlags::PATH).ok()?;
        rustix::fs::fstat(&fd).ok()
    }

    /// lstat(2) of `path`: the last component itself.
    fn lstat(&self, path: &str) -> Option<rustix::fs::Stat> {
        let (dir, name) = self.parent_dir(path).ok()??;
        rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()
    }

    /// Perl's `-e`.
    pub fn exists(&self, path: &str) -> bool {
        self.stat(path).is_some()
    }

    /// Perl's `-f`: a regular file, links followed.
    pub fn is_file(&self, path: &str) -> bool {
        self.stat(path)
            .is_some_and(|st| FileType::from_raw_mode(st.st_mode).is_file())
    }

    /// Perl's `-d`.
    pub fn is_dir(&self, path: &str) -> bool {
        self.stat(path)
            .is_some_and(|st| FileType::from_raw_mode(st.st_mode).is_dir())
    }

    /// Perl's `-l`.
    pub fn is_symlink(&self, path: &str) -> bool {
        self.lstat(path)
            .is_some_and(|st| FileType::from_raw_mode(st.st_mode).is_symlink())
    }

    /// Perl's `-x` for root: a directory, or anything with an execute bit.
    pub fn is_executable(&self, path: &str) -> bool {
        self.stat(path).is_some_and(|st| {
            FileType::from_raw_mode(st.st_mode).is_dir() || st.st_mode & 0o111 != 0
        })
    }

    /// Whether pct's `.pve-ignore.<name>` marker protects `path`.
    pub fn is_ignored(&self, path: &str) -> bool {
        let (parent, name) = split_parent(path);
        let parent = parent.trim_end_matches('/');
        self.is_file(&format!("{parent}/.pve-ignore.{name}"))
    }

    /// The contents of a regular file, or `None` when there is none.
    pub fn read_bytes(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        let fd = match self.open_at(path, OFlags::RDONLY | OFlags::NONBLOCK) {
            Ok(fd) => fd,
            Err(e) if not_found(e) => return Ok(None),
            Err(e) => return Err(io::Error::from(e)),
        };
        let mut file = std::fs::File::from(fd);
        if !file.metadata()?.is_file() {
            return Ok(None);
        }
        let mut data = Vec::new();
        file.read_to_end(&mut data)?;
        Ok(Some(data))
    }

    /// The contents of a regular file as text (invalid UTF-8 replaced).
    pub fn read(&self, path: &str) -> io::Result<Option<String>> {
        Ok(self
            .read_bytes(path)?
            .map(|data| String::from_utf8_lossy(&data).into_owned()))
    }

    /// The first line without its newline, as pct's `file_read_firstline`.
    pub fn read_first_line(&self, path: &str) -> Option<String> {
        let text = self.read(path).ok()??;
        let line = text.split('\n').next().unwrap_or("");
        Some(line.strip_suffix('\r').unwrap_or(line).to_string())
    }

    /// The fully resolved path of `path` inside the container (`abs_path` in a chroot);
    /// `None` when it does not resolve.
    pub fn canonicalize(&self, path: &str) -> Option<String> {
        use std::os::fd::AsRawFd;
        let fd = self.open_at(path, OFlags::PATH).ok()?;
        let target = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
        let root = std::fs::read_link(format!("/proc/self/fd/{}", self.root.as_raw_fd())).ok()?;
        let inner = target.strip_prefix(&root).ok()?;
        Some(format!("/{}", inner.display()))
    }

    /// readlink(2) of `path`'s last component.
    pub fn readlink(&self, path: &str) -> Option<String> {
        let (dir, name) = self.parent_dir(path).ok()??;
        let target = rustix::fs::readlinkat(&dir, name, Vec::new()).ok()?;
        Some(target.to_string_lossy().into_owned())
    }

    /// Follow `path` while it is a symlink, as pct's `ct_readlink_recursive`: each target
    /// made absolute against the link's directory and normalised.
    pub fn readlink_recursive(&self, path: &str) -> Result<String, SetupError> {
        let mut current = path.to_string();
        let mut depth = 0;
        while self.is_symlink(&current) {
            if depth >= MAX_LINK_DEPTH {
                return Err(SetupError::LinkDepth {
                    path: path.to_string(),
                });
            }
            let target = self.readlink(&current).unwrap_or_default();
            let base = split_parent(&current).0;
            current = normalize(base, &target);
            depth += 1;
        }
        Ok(current)
    }

    /// Owner and permission bits of a regular file (links followed), as the host sees them.
    pub fn file_owner_and_mode(&self, path: &str) -> Option<(u32, u32, u32)> {
        let st = self.stat(path)?;
        FileType::from_raw_mode(st.st_mode).is_file().then_some((
            st.st_uid,
            st.st_gid,
            st.st_mode & 0o7777,
        ))
    }

    /// Replace `path` with `data` atomically (a temporary file, then rename), mode `perms`
    /// (pct's default 0644), owned by the container's root. A missing directory is an error,
    /// as it is for pct.
    pub fn write(&self, path: &str, data: &[u8], perms: Option<u32>) -> io::Result<()> {
        self.write_owned(path, data, perms, None)
    }

    /// [`write`](Self::write), the new file owned by `owner` (host ids) instead: for files
    /// pct rewrites keeping their owner, such as /etc/shadow.
    pub fn write_owned(
        &self,
        path: &str,
        data: &[u8],
        perms: Option<u32>,
        owner: Option<(u32, u32)>,
    ) -> io::Result<()> {
        if self.is_ignored(path) {
            return Ok(());
        }
        let Some((dir, name)) = self.parent_dir(path)? else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("unable to open file '{path}.tmp.{}'", std::process::id()),
            ));
        };
        let dir = rustix::fs::openat(
            &dir,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let mode = Mode::from_raw_mode(perms.unwrap_or(0o644));
        let owner = owner.or(self.owner);
        // Every start rewrites the same files: leave one alone that already is what the
        // rewrite would make, so an unchanged guest costs reads, not writes and renames.
        if self.already_holds(&dir, name, data, mode.bits(), owner) {
            return Ok(());
        }
        let temp = format!("{name}.tmp.{}", std::process::id());
        let file = rustix::fs::openat(
            &dir,
            temp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            mode,
        )
        .map_err(|e| io::Error::other(format!("unable to open file '{path}.tmp': {e}")))?;
        let result = (|| {
            if let Some((uid, gid)) = owner {
                rustix::fs::fchown(
                    &file,
                    Some(rustix::process::Uid::from_raw(uid)),
                    Some(rustix::process::Gid::from_raw(gid)),
                )?;
            }
            // After the chown, which clears set-id bits.
            rustix::fs::fchmod(&file, mode)?;
            let mut file = std::fs::File::from(file);
            file.write_all(data)?;
            // No fsync, as pct has none: the rename keeps readers from seeing half a file,
            // and these files are rewritten at every start anyway.
            rustix::fs::renameat(&dir, temp.as_str(), &dir, name)?;
            Ok(())
        })();
        if result.is_err() {
            let _ = rustix::fs::unlinkat(&dir, temp.as_str(), AtFlags::empty());
        }
        result
    }

    /// Whether `name` in `dir` is a regular file (not a link) with exactly this content,
    /// mode and owner (`None`: this process's).
    fn already_holds(
        &self,
        dir: &OwnedFd,
        name: &str,
        data: &[u8],
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> bool {
        let Ok(fd) = rustix::fs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            return false;
        };
        let Ok(st) = rustix::fs::fstat(&fd) else {
            return false;
        };
        let (uid, gid) = owner.unwrap_or((
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        ));
        if !FileType::from_raw_mode(st.st_mode).is_file()
            || st.st_mode & 0o7777 != mode
            || (st.st_uid, st.st_gid) != (uid, gid)
            || st.st_size as u64 != data.len() as u64
        {
            return false;
        }
        let mut current = Vec::with_capacity(data.len());
        std::fs::File::from(fd).read_to_end(&mut current).is_ok() && current == data
    }

    /// Remove `path` (not what it links to); a missing file is no error, as for pct.
    pub fn unlink(&self, path: &str) {
        if self.is_ignored(path) {
            return;
        }
        if let Ok(Some((dir, name))) = self.parent_dir(path) {
            let _ = rustix::fs::unlinkat(&dir, name, AtFlags::empty());
        }
    }

    /// rename(2) inside the container; returns whether it happened.
    pub fn rename(&self, from: &str, to: &str) -> bool {
        if self.is_ignored(to) {
            return false;
        }
        let (Ok(Some((from_dir, from_name))), Ok(Some((to_dir, to_name)))) =
            (self.parent_dir(from), self.parent_dir(to))
        else {
            return false;
        };
        rustix::fs::renameat(&from_dir, from_name, &to_dir, to_name).is_ok()
    }

    /// Hand a new directory entry (not what it links to) to the container's root.
    fn chown_entry(&self, dir: &OwnedFd, name: &str) {
        if let Some((uid, gid)) = self.owner {
            let _ = rustix::fs::chownat(
                dir,
                name,
                Some(rustix::process::Uid::from_raw(uid)),
                Some(rustix::process::Gid::from_raw(gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            );
        }
    }

    /// symlink(2): `path` pointing at `target`; fails (false) where `path` exists.
    pub fn symlink(&self, target: &str, path: &str) -> bool {
        if self.is_ignored(path) {
            return false;
        }
        let Ok(Some((dir, name))) = self.parent_dir(path) else {
            return false;
        };
        if rustix::fs::symlinkat(target, &dir, name).is_err() {
            return false;
        }
        self.chown_entry(&dir, name);
        true
    }

    /// mkdir(2) with `mode`; returns whether a directory was made.
    pub fn mkdir(&self, path: &str, mode: u32) -> bool {
        let Ok(Some((dir, name))) = self.parent_dir(path) else {
            return false;
        };
        if rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(mode)).is_err() {
            return false;
        }
        self.chown_entry(&dir, name);
        true
    }

    /// `mkdir -p`: the directories made belong to the container's root, mode 0755.
    pub fn make_path(&self, path: &str) -> io::Result<()> {
        let mut current = String::new();
        for component in path.split('/').filter(|c| !c.is_empty()) {
            current.push('/');
            current.push_str(component);
            if self.is_dir(&current) {
                continue;
            }
            if !self.mkdir(&current, 0o755) && !self.is_dir(&current) {
                return Err(io::Error::other(format!(
                    "mkdir {current}: unable to create"
                )));
            }
        }
        Ok(())
    }

    /// pct's `ct_modify_file`: put `data` into the file's `# --- BEGIN PVE ---` section.
    pub fn modify_file(&self, path: &str, data: &str, options: ModifyOptions) -> io::Result<()> {
        if self.is_ignored(path) {
            return Ok(());
        }
        let existing = if self.is_file(path) {
            Some(self.read(path)?.unwrap_or_default())
        } else {
            None
        };
        match modify_section(existing.as_deref(), data, options.placement, options.delete) {
            super::section::Outcome::Unchanged => Ok(()),
            super::section::Outcome::Remove => {
                self.unlink(path);
                Ok(())
            }
            super::section::Outcome::Write { text, with_perms } => {
                // pct passes its perms only where it writes the whole file anew.
                let perms = if with_perms { options.perms } else { None };
                self.write(path, text.as_bytes(), perms)
            }
        }
    }
}

/// `target` made absolute against `base` with `.` and `..` folded, as `abs_path` would for
/// names that are not links.
fn normalize(base: &str, target: &str) -> String {
    let joined = if target.starts_with('/') {
        target.to_string()
    } else {
        format!("{base}/{target}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    fn root() -> (tempfile::TempDir, GuestRoot) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        let root = GuestRoot::open(dir.path(), None).unwrap();
        (dir, root)
    }

    #[test]
    fn writes_replace_symlinks_instead_of_following_them() {
        let (dir, root) = root();
        let outside = tempfile::tempdir().unwrap();
        let host_file = outside.path().join("hosts");
        fs::write(&host_file, "host\n").unwrap();
        symlink(&host_file, dir.path().join("etc/hosts")).unwrap();
        root.write("/etc/hosts", b"guest\n", None).unwrap();
        assert_eq!(fs::read_to_string(&host_file).unwrap(), "host\n");
        let meta = fs::symlink_metadata(dir.path().join("etc/hosts")).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o7777, 0o644);
        // A directory link pointing out of the root resolves inside it.
        symlink(outside.path(), dir.path().join("etc/out")).unwrap();
        assert!(root.write("/etc/out/hosts", b"x", None).is_err());
        assert_eq!(fs::read_to_string(&host_file).unwrap(), "host\n");
    }

    #[test]
    fn an_unchanged_file_is_not_rewritten() {
        let (dir, root) = root();
        let path = dir.path().join("etc/hostname");
        root.write("/etc/hostname", b"ct\n", None).unwrap();
        let inode = || fs::metadata(&path).unwrap().ino();
        let first = inode();
        root.write("/etc/hostname", b"ct\n", None).unwrap();
        assert_eq!(inode(), first, "same bytes, mode and owner: left alone");
        root.write("/etc/hostname", b"ct\n", Some(0o600)).unwrap();
        assert_ne!(inode(), first, "another mode: replaced");
        let second = inode();
        root.write("/etc/hostname", b"other\n", Some(0o600))
            .unwrap();
        assert_ne!(inode(), second, "other bytes: replaced");
        assert_eq!(fs::read_to_string(&path).unwrap(), "other\n");
    }

    #[test]
    fn ignore_markers_protect_files() {
        let (dir, root) = root();
        fs::write(dir.path().join("etc/hosts"), "mine\n").unwrap();
        fs::write(dir.path().join("etc/.pve-ignore.hosts"), "").unwrap();
        root.write("/etc/hosts", b"pve\n", None).unwrap();
        root.unlink("/etc/hosts");
        assert!(!root.symlink("/x", "/etc/hosts"));
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/hosts")).unwrap(),
            "mine\n"
        );
        // A marker that is not a regular file does not count.
        fs::create_dir(dir.path().join("etc/.pve-ignore.hostname")).unwrap();
        root.write("/etc/hostname", b"ct\n", None).unwrap();
        assert!(root.is_file("/etc/hostname"));
    }

    #[test]
    fn unprivileged_files_belong_to_the_mapped_root() {
        if !crate::skip::root_or_report() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = GuestRoot::open(dir.path(), Some((100000, 100000))).unwrap();
        root.make_path("/etc/systemd/network").unwrap();
        root.write("/etc/systemd/network/eth0.network", b"x", Some(0o600))
            .unwrap();
        assert!(root.symlink("/dev/null", "/etc/systemd/masked"));
        for path in [
            "etc",
            "etc/systemd/network",
            "etc/systemd/network/eth0.network",
        ] {
            let meta = fs::symlink_metadata(dir.path().join(path)).unwrap();
            assert_eq!((meta.uid(), meta.gid()), (100000, 100000), "{path}");
        }
        let link = fs::symlink_metadata(dir.path().join("etc/systemd/masked")).unwrap();
        assert_eq!(link.uid(), 100000);
        let file = fs::metadata(dir.path().join("etc/systemd/network/eth0.network")).unwrap();
        assert_eq!(file.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn links_resolve_as_inside_a_chroot() {
        let (dir, root) = root();
        fs::create_dir_all(dir.path().join("lib/systemd")).unwrap();
        fs::write(dir.path().join("lib/systemd/systemd"), "").unwrap();
        fs::set_permissions(
            dir.path().join("lib/systemd/systemd"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        fs::create_dir_all(dir.path().join("sbin")).unwrap();
        symlink("../lib/systemd/systemd", dir.path().join("sbin/init")).unwrap();
        assert!(root.is_symlink("/sbin/init"));
        assert!(root.is_executable("/sbin/init"));
        assert_eq!(
            root.readlink_recursive("/sbin/init").unwrap(),
            "/lib/systemd/systemd"
        );
        symlink("/sbin/loop2", dir.path().join("sbin/loop1")).unwrap();
        symlink("/sbin/loop1", dir.path().join("sbin/loop2")).unwrap();
        let error = root.readlink_recursive("/sbin/loop1").unwrap_err();
        assert!(
            matches!(&error, SetupError::LinkDepth { path } if path == "/sbin/loop1"),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "maximal link depth of 10 for resolving '/sbin/loop1' reached, abort"
        );
        assert_eq!(root.read_first_line("/nothing"), None);
    }

    #[test]
    fn normalize_folds_dots() {
        assert_eq!(
            normalize("/sbin", "../lib/systemd/systemd"),
            "/lib/systemd/systemd"
        );
        assert_eq!(normalize("/sbin", "/usr/./bin/x"), "/usr/bin/x");
    }
}
