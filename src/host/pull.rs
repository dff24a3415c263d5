//! `pct pull`: copy a file out of a running container onto the host. As under pct the file is
//! read as host root — an unprivileged container's `/etc/shadow` included — and the copy on
//! the host belongs to the caller unless `--user`/`--group` (host names or ids) say otherwise.
//!
//! The container's path is untrusted: it is opened below init's root (`/proc/<pid>/root`,
//! its mount namespace's view) with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, so an
//! absolute symlink the container planted resolves inside the container and never to the
//! host file of the same name, and nothing but a regular file is read (a device node a
//! privileged container made could name a host disk; a FIFO would hang the copy).

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::transfer::{
    FileOptions, IdKind, Namespace, Owner, TransferDirection, TransferError, create_file,
    numeric_id,
};
use super::{Container, Error};

/// `openat2` answers EAGAIN when a concurrent rename races a `..` lookup; a few retries.
const RETRIES_ON_RACE: usize = 16;

impl Container<'_> {
    /// `pct pull`: copy `path` from inside the running container to the host file
    /// `destination`, with `options`' mode and owner (host names and ids).
    pub fn pull(&self, path: &str, destination: &Path, options: &FileOptions) -> Result<(), Error> {
        let mode = options.mode()?;
        let owner = Owner {
            uid: host_id(options.user.as_deref(), IdKind::User)?,
            gid: host_id(options.group.as_deref(), IdKind::Group)?,
        };
        let _lock = self.lock()?;
        self.config()?;
        let init = self.running_init().ok_or(Error::NotRunning {
            vmid: self.vmid,
            attach: false,
            transfer: Some(TransferDirection::Pull),
        })?;
        let root = rustix::fs::open(
            format!("/proc/{}/root", init.pid),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| TransferError::EnterNamespace {
            namespace: Namespace::Mount,
            source: e.into(),
        })?;
        let opened = |e: Errno| TransferError::Open {
            path: crate::text::for_message(path),
            source: e.into(),
        };
        let source = open_regular_file(&root, path).map_err(opened)?;
        // Unlike pct, the destination is made only once the source could be opened: a
        // failed pull leaves no empty file behind.
        let shown = crate::text::for_message(destination.as_os_str().as_bytes());
        let destination = destination
            .to_str()
            .ok_or_else(|| TransferError::InvalidPath {
                path: shown.to_string(),
            })?;
        let absolute = if destination.starts_with('/') {
            destination.to_string()
        } else {
            let here = std::env::current_dir()
                .map_err(|e| Error::io("unable to read the current directory", e))?;
            format!("{}/{destination}", here.display())
        };
        let host_root = rustix::fs::open(
            "/",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("unable to open '/'", e.into()))?;
        let target = create_file(&host_root, &absolute, mode, owner, false)?;
        let mut target = File::from(target);
        // A pipe or terminal (`/dev/stdout`) has nothing to sync.
        let is_file = target.metadata().is_ok_and(|m| m.is_file());
        io::copy(&mut File::from(source), &mut target)
            .and_then(|_| if is_file { target.sync_all() } else { Ok(()) })
            .map_err(|source| TransferError::Write {
                path: shown.to_string(),
                source,
            })?;
        Ok(())
    }
}

/// `path` below `root`, when it is a regular file, opened for reading.
fn open_regular_file(
    root: &impl std::os::fd::AsFd,
    path: &str,
) -> Result<std::os::fd::OwnedFd, Errno> {
    let relative = match path.trim_start_matches('/') {
        "" => ".",
        relative => relative,
    };
    let mut attempts = 0;
    let file = loop {
        // Non-blocking, so that a FIFO does not hang the open; cleared once it is a file.
        match rustix::fs::openat2(
            root,
            relative,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            Err(Errno::AGAIN) if attempts < RETRIES_ON_RACE => attempts += 1,
            result => break result?,
        }
    };
    let stat = rustix::fs::fstat(&file)?;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => {}
        FileType::Directory => return Err(Errno::ISDIR),
        _ => return Err(Errno::INVAL),
    }
    rustix::fs::fcntl_setfl(&file, OFlags::RDONLY)?;
    Ok(file)
}

/// A host user or group as an id: digits are one, a name is looked up in the host's
/// databases (NSS, as pct's `getpwnam` does).
fn host_id(name: Option<&str>, kind: IdKind) -> Result<Option<u32>, TransferError> {
    let Some(name) = name else { return Ok(None) };
    if let Some(id) = numeric_id(name) {
        return Ok(Some(id));
    }
    let missing = || TransferError::UnknownId {
        kind,
        name: name.to_string(),
    };
    let c_name = CString::new(name).map_err(|_| missing())?;
    let mut buffer = vec![0u8; 16 * 1024];
    // SAFETY: the reentrant lookups write only into the structs and the buffer given, whose
    // sizes are passed; the result pointer is only read when it points to the struct.
    let id = unsafe {
        match kind {
            IdKind::User => {
                let mut entry: libc::passwd = std::mem::zeroed();
                let mut result = std::ptr::null_mut();
                libc::getpwnam_r(
                    c_name.as_ptr(),
                    &mut entry,
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                    &mut result,
                );
                (!result.is_null()).then_some(entry.pw_uid)
            }
            IdKind::Group => {
                let mut entry: libc::group = std::mem::zeroed();
                let mut result = std::ptr::null_mut();
                libc::getgrnam_r(
                    c_name.as_ptr(),
                    &mut entry,
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                    &mut result,
                );
                (!result.is_null()).then_some(entry.gr_gid)
            }
        }
    };
    id.map(Some).ok_or_else(missing)
}
