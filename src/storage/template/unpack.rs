//! Writing archive members into a rootfs the way pct's GNU tar invocation does, with every
//! path resolved through [`RootDir`] and every final component created or touched without
//! following symlinks.
//!
//! Existing entries are kept (`--skip-old-files`), so a member can never write through a
//! symlink an earlier member planted: creation uses `O_EXCL`, `mkdirat`, `symlinkat`,
//! `linkat` and `mknodat`, which all fail on an existing name instead of following it.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{
    AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, UTIME_OMIT, Uid, XattrFlags,
    chmodat, chownat, fchmod, fchown, fsetxattr, futimens, linkat, makedev, mkdirat, mknodat,
    openat, symlinkat, unlinkat, utimensat,
};
use rustix::io::Errno;

use super::ExtractSummary;
use super::member::{Member, MemberError, MemberKind, Mtime, NamedMemberError};
use super::rootdir::{RootDir, split_parent};
use crate::config::{IdKind, IdMap};

/// Something the parent should hear about while extraction runs.
pub(super) enum Event {
    Warning(String),
    /// One more member handled.
    Progress,
}

/// Owners as stored on disk: the archive's numbers for privileged containers, shifted
/// through the id map for unprivileged ones (what `lxc-usernsexec` does for pct's tar).
enum Owners<'a> {
    Privileged,
    Shifted { map: &'a IdMap, root: (u32, u32) },
}

impl Owners<'_> {
    fn host_ids(&self, uid: u64, gid: u64) -> Option<(u32, u32)> {
        // (uid_t)-1 means "leave unchanged" to chown, so it is no owner at all.
        let id = |value: u64| u32::try_from(value).ok().filter(|&id| id != u32::MAX);
        let (uid32, gid32) = (id(uid)?, id(gid)?);
        match self {
            Owners::Privileged => Some((uid32, gid32)),
            Owners::Shifted { map, .. } => Some((
                map.to_host(IdKind::User, uid32)?,
                map.to_host(IdKind::Group, gid32)?,
            )),
        }
    }

    /// Who owns what extraction creates before (or instead of) the archive's owner: root,
    /// as seen from inside the container.
    fn creator(&self) -> (u32, u32) {
        match self {
            Owners::Privileged => (0, 0),
            Owners::Shifted { root, .. } => *root,
        }
    }

    fn shifted(&self) -> bool {
        matches!(self, Owners::Shifted { .. })
    }
}

/// Where metadata goes: an open fd, or a name in a directory for things that cannot be
/// opened safely (symlinks, device nodes, fifos).
#[derive(Clone, Copy)]
enum Target<'a> {
    Fd(BorrowedFd<'a>),
    At(BorrowedFd<'a>, &'a [u8]),
}

/// What of a member's metadata applies to the thing it created.
#[derive(Clone, Copy)]
struct Apply {
    mode: bool,
    xattrs: bool,
    mtime: bool,
}

const COPY_BUFFER: usize = 256 * 1024;
/// Granularity at which runs of zeros in sparse members become holes.
const HOLE_BLOCK: usize = 4096;

/// Why extraction stopped (or, with `--ignore-unpack-errors`, what it warns about), in GNU
/// tar's words.
#[derive(Debug, thiserror::Error)]
pub(super) enum UnpackError {
    #[error("{0}")]
    Member(#[from] NamedMemberError),
    #[error("the id map does not map root (uid and gid 0) of the container")]
    RootNotMapped,
    #[error("Read error in archive: {}", cause(.0))]
    Read(#[source] io::Error),
    #[error("This does not look like a tar archive ({})", cause(.0))]
    NotTar(#[source] io::Error),
    #[error("This does not look like a tar archive (no members)")]
    NoMembers,
}

pub(super) struct Unpacker<'a> {
    root: &'a RootDir,
    owners: Owners<'a>,
    /// Directory mtimes, set at the end since creating their contents changes them.
    dir_mtimes: Vec<(Vec<u8>, Mtime)>,
    warned_leading_slash: bool,
    warned_acls: bool,
    buffer: Vec<u8>,
}

impl<'a> Unpacker<'a> {
    pub(super) fn new(
        root: &'a RootDir,
        id_map: Option<&'a IdMap>,
    ) -> Result<Unpacker<'a>, UnpackError> {
        let owners = match id_map {
            None => Owners::Privileged,
            Some(map) => {
                let uid = map.to_host(IdKind::User, 0);
                let gid = map.to_host(IdKind::Group, 0);
                let (Some(uid), Some(gid)) = (uid, gid) else {
                    return Err(UnpackError::RootNotMapped);
                };
                Owners::Shifted {
                    map,
                    root: (uid, gid),
                }
            }
        };
        Ok(Unpacker {
            root,
            owners,
            dir_mtimes: Vec::new(),
            warned_leading_slash: false,
            warned_acls: false,
            buffer: vec![0; COPY_BUFFER],
        })
    }

    /// Extracts one member; returns the content bytes written.
    pub(super) fn unpack<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        report: &mut dyn FnMut(Event),
    ) -> Result<u64, NamedMemberError> {
        let member = Member::read(entry)?;
        if member.excluded || member.kind == MemberKind::NothingToCreate {
            return Ok(0);
        }
        if member.had_leading_slash && !self.warned_leading_slash {
            self.warned_leading_slash = true;
            report(Event::Warning(
                "Removing leading `/' from member names".into(),
            ));
        }
        if member.has_acls && !self.warned_acls {
            self.warned_acls = true;
            report(Event::Warning(format!(
                "{}: the archive carries POSIX ACLs, which are not restored",
                member.display
            )));
        }
        if let Some(byte) = member.unknown_type {
            report(Event::Warning(format!(
                "{}: Unknown file type '{}', extracted as normal file",
                member.display,
                char::from(byte).escape_default()
            )));
        }
        if member.path.is_empty() {
            // The rootfs itself: it exists, and --skip-old-files leaves existing entries be.
            return Ok(0);
        }
        self.create(&member, entry)
            .map_err(|source| NamedMemberError {
                member: member.display.clone(),
                source,
            })
    }

    fn create(&mut self, member: &Member, data: &mut impl Read) -> Result<u64, MemberError> {
        let (parent_path, name) = split_parent(&member.path);
        let parent = self.parent_dir(parent_path).map_err(MemberError::Open)?;
        let parent = parent.as_fd();
        let mut written = 0;
        match &member.kind {
            MemberKind::File { sparse } => {
                let flags = OFlags::WRONLY
                    | OFlags::CREATE
                    | OFlags::EXCL
                    | OFlags::NOFOLLOW
                    | OFlags::CLOEXEC;
                let fd = match openat(parent, name, flags, Mode::from_raw_mode(0o600)) {
                    Err(Errno::EXIST) => return Ok(0),
                    result => result.map_err(|e| MemberError::Open(e.into()))?,
                };
                let mut file = File::from(fd);
                written = match self.copy_content(data, &mut file, *sparse) {
                    Ok(count) => count,
                    Err(error) => {
                        // No half-written file stays behind under a name the archive chose.
                        let _ = unlinkat(parent, name, AtFlags::empty());
                        return Err(error);
                    }
                };
                self.apply(
                    Target::Fd(file.as_fd()),
                    member,
                    Apply {
                        mode: true,
                        xattrs: true,
                        mtime: true,
                    },
                )?;
            }
            MemberKind::Directory => {
                match mkdirat(parent, name, Mode::from_raw_mode(0o700)) {
                    Ok(()) => {}
                    // Even a directory made earlier as some member's parent: GNU tar with
                    // --skip-old-files leaves it as made, without this member's metadata.
                    Err(Errno::EXIST) => return Ok(0),
                    Err(e) => return Err(MemberError::Mkdir(e.into())),
                }
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let dir = openat(parent, name, flags, Mode::empty())
                    .map_err(|e| MemberError::Open(e.into()))?;
                self.apply(
                    Target::Fd(dir.as_fd()),
                    member,
                    Apply {
                        mode: true,
                        xattrs: true,
                        mtime: false,
                    },
                )?;
                self.dir_mtimes.push((member.path.clone(), member.mtime));
            }
            MemberKind::Symlink { target } => {
                match symlinkat(target.as_slice(), parent, name) {
                    Ok(()) => {}
                    Err(Errno::EXIST) => return Ok(0),
                    Err(e) => {
                        return Err(MemberError::Symlink {
                            target: super::member::display_name(target),
                            source: e.into(),
                        });
                    }
                }
                self.apply(
                    Target::At(parent, name),
                    member,
                    Apply {
                        mode: false,
                        xattrs: false,
                        mtime: true,
                    },
                )?;
            }
            MemberKind::HardLink {
                target,
                target_display,
            } => {
                let cannot = |source: io::Error| MemberError::HardLink {
                    target: target_display.clone(),
                    source,
                };
                let (target_parent, target_name) = split_parent(target);
                let target_dir = self.root.open_dir(target_parent).map_err(cannot)?;
                // Flags 0: a symlink as target is linked itself, never followed.
                match linkat(&target_dir, target_name, parent, name, AtFlags::empty()) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(cannot(e.into())),
                }
            }
            MemberKind::CharDevice { .. } | MemberKind::BlockDevice { .. } | MemberKind::Fifo => {
                let (file_type, device) = match member.kind {
                    MemberKind::CharDevice { major, minor } => {
                        (FileType::CharacterDevice, makedev(major, minor))
                    }
                    MemberKind::BlockDevice { major, minor } => {
                        (FileType::BlockDevice, makedev(major, minor))
                    }
                    _ => (FileType::Fifo, 0),
                };
                if file_type != FileType::Fifo && self.owners.shifted() {
                    // Inside the container's user namespace (where pct runs tar for an
                    // unprivileged container) mknod of a device is not permitted.
                    return Err(MemberError::Mknod(Errno::PERM.into()));
                }
                match mknodat(
                    parent,
                    name,
                    file_type,
                    Mode::from_raw_mode(member.mode),
                    device,
                ) {
                    Ok(()) => {}
                    Err(Errno::EXIST) => return Ok(0),
                    Err(e) => return Err(MemberError::Mknod(e.into())),
                }
                self.apply(
                    Target::At(parent, name),
                    member,
                    Apply {
                        mode: true,
                        xattrs: false,
                        mtime: true,
                    },
                )?;
            }
            MemberKind::NothingToCreate => {}
        }
        Ok(written)
    }

    /// The parent directory of a member, made (with its missing ancestors) when absent.
    fn parent_dir(&self, path: &[u8]) -> io::Result<OwnedFd> {
        let (uid, gid) = self.owners.creator();
        self.root.make_dirs(path, |parent, name, _| {
            chownat(
                parent,
                name,
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
            Ok(())
        })
    }

    /// Copies a member's content. Runs of zeros in sparse members become holes again, which is
    /// what GNU tar's `--sparse` restores from the member's map.
    fn copy_content(
        &mut self,
        data: &mut impl Read,
        file: &mut File,
        sparse: bool,
    ) -> Result<u64, MemberError> {
        let read_error = MemberError::Read;
        let write_error = MemberError::Write;
        let mut total: u64 = 0;
        let mut pending_hole: u64 = 0;
        loop {
            let filled = read_full(data, &mut self.buffer).map_err(read_error)?;
            if filled == 0 {
                break;
            }
            let chunk = &self.buffer[..filled];
            if sparse {
                for block in chunk.chunks(HOLE_BLOCK) {
                    if block.iter().all(|&byte| byte == 0) {
                        pending_hole += block.len() as u64;
                        continue;
                    }
                    if pending_hole > 0 {
                        // Bounded by the bytes read so far, so it fits.
                        file.seek(SeekFrom::Current(pending_hole as i64))
                            .map_err(write_error)?;
                        pending_hole = 0;
                    }
                    file.write_all(block).map_err(write_error)?;
                }
            } else {
                file.write_all(chunk).map_err(write_error)?;
            }
            total += filled as u64;
        }
        if pending_hole > 0 {
            file.set_len(total).map_err(write_error)?;
        }
        Ok(total)
    }

    /// Owner, then mode (chown clears setuid bits), then xattrs (chown also drops file
    /// capabilities), then mtime. An owner the id map cannot express is an error naming the
    /// ids, as tar reports from inside the user namespace; the entry is then left to the
    /// container's root.
    fn apply(&self, target: Target<'_>, member: &Member, what: Apply) -> Result<(), MemberError> {
        let owner_error = |source: io::Error| MemberError::Chown {
            uid: member.uid,
            gid: member.gid,
            source,
        };
        let (ids, unmapped) = match self.owners.host_ids(member.uid, member.gid) {
            Some(ids) => (ids, None),
            None => (
                self.owners.creator(),
                Some(owner_error(Errno::INVAL.into())),
            ),
        };
        let (uid, gid) = (Some(Uid::from_raw(ids.0)), Some(Gid::from_raw(ids.1)));
        match target {
            Target::Fd(fd) => fchown(fd, uid, gid),
            Target::At(dir, name) => chownat(dir, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW),
        }
        .map_err(|e| owner_error(e.into()))?;

        if what.mode {
            let mode = Mode::from_raw_mode(member.mode);
            match target {
                Target::Fd(fd) => fchmod(fd, mode),
                // Only device nodes and fifos come here, right after this process made them
                // under this very name, so following the name reaches that node.
                Target::At(dir, name) => chmodat(dir, name, mode, AtFlags::empty()),
            }
            .map_err(|e| MemberError::Chmod {
                mode: member.mode,
                source: e.into(),
            })?;
        }

        if let (true, Target::Fd(fd)) = (what.xattrs, target) {
            for (name, value) in &member.xattrs {
                let value = match name.as_slice() {
                    b"security.capability" => match &self.owners {
                        Owners::Privileged => Some(value.clone()),
                        Owners::Shifted { map, .. } => shift_file_capability(value, map),
                    },
                    _ if name.starts_with(b"user.") => Some(value.clone()),
                    // --xattrs-include=user.* --xattrs-include=security.capability
                    _ => None,
                };
                // pct passes --warning=no-xattr-write: a filesystem refusing xattrs is quiet.
                if let Some(value) = value {
                    let _ = fsetxattr(fd, name.as_slice(), &value, XattrFlags::empty());
                }
            }
        }

        if what.mtime {
            let times = timestamps(member.mtime);
            match target {
                Target::Fd(fd) => futimens(fd, &times),
                Target::At(dir, name) => utimensat(dir, name, &times, AtFlags::SYMLINK_NOFOLLOW),
            }
            .map_err(|e| MemberError::Utime(e.into()))?;
        }
        unmapped.map_or(Ok(()), Err)
    }

    /// Sets the directory mtimes held back while their contents were written.
    pub(super) fn finish(&mut self, report: &mut dyn FnMut(Event)) {
        for (path, mtime) in std::mem::take(&mut self.dir_mtimes).into_iter().rev() {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW;
            let result = self
                .root
                .open_in(&path, flags)
                .and_then(|dir| futimens(&dir, &timestamps(mtime)).map_err(io::Error::from));
            if let Err(error) = result {
                let error = NamedMemberError {
                    member: super::member::display_name(&path),
                    source: MemberError::Utime(error),
                };
                report(Event::Warning(error.to_string()));
            }
        }
    }
}

/// Access time is left alone, as GNU tar does outside incremental mode.
fn timestamps(mtime: Mtime) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_OMIT,
        },
        last_modification: Timespec {
            tv_sec: mtime.seconds,
            tv_nsec: mtime.nanoseconds.into(),
        },
    }
}

/// Reads until `buffer` is full or the input ends, so sparse detection sees aligned blocks.
fn read_full(data: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match data.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(count) => filled += count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// The system's description of an error without Rust's "(os error N)" suffix, as tar prints
/// it.
pub(super) fn cause(error: &io::Error) -> String {
    let text = error.to_string();
    match error.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .unwrap_or(&text)
            .to_string(),
        None => text,
    }
}

const VFS_CAP_REVISION_MASK: u32 = 0xff00_0000;
const VFS_CAP_REVISION_1: u32 = 0x0100_0000;
const VFS_CAP_REVISION_2: u32 = 0x0200_0000;
const VFS_CAP_REVISION_3: u32 = 0x0300_0000;

/// A `security.capability` value as the container's user namespace would have written it:
/// the kernel turns a capability set from inside a user namespace into a revision 3 value
/// whose root id is the host uid of the namespace's root, and honours it only for that
/// namespace. Unreadable values, or a root id the map cannot express, give `None` (tar's
/// write would fail, and pct silences xattr write failures).
pub(super) fn shift_file_capability(value: &[u8], map: &IdMap) -> Option<Vec<u8>> {
    let word = |at: usize| {
        value
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let magic = word(0)?;
    let flags = magic & !VFS_CAP_REVISION_MASK;
    let (sets, rootid): (Vec<u32>, u32) = match (magic & VFS_CAP_REVISION_MASK, value.len()) {
        // One 32-bit permitted/inheritable pair; the upper halves are zero.
        (VFS_CAP_REVISION_1, 12) => (vec![word(4)?, word(8)?, 0, 0], 0),
        (VFS_CAP_REVISION_2, 20) => ((1..5).map(|i| word(4 * i)).collect::<Option<_>>()?, 0),
        (VFS_CAP_REVISION_3, 24) => (
            (1..5).map(|i| word(4 * i)).collect::<Option<_>>()?,
            word(20)?,
        ),
        _ => return None,
    };
    let host_root = map.to_host(IdKind::User, rootid)?;
    let mut shifted = Vec::with_capacity(24);
    shifted.extend_from_slice(&(VFS_CAP_REVISION_3 | flags).to_le_bytes());
    for set in sets {
        shifted.extend_from_slice(&set.to_le_bytes());
    }
    shifted.extend_from_slice(&host_root.to_le_bytes());
    Some(shifted)
}

/// Reads every member of the tar stream `reader` into `root`.
pub(super) fn unpack_archive(
    reader: impl Read,
    root: &RootDir,
    id_map: Option<&IdMap>,
    ignore_errors: bool,
    report: &mut dyn FnMut(Event),
) -> Result<ExtractSummary, UnpackError> {
    let mut unpacker = Unpacker::new(root, id_map)?;
    let mut archive = tar::Archive::new(reader);
    let mut summary = ExtractSummary::default();
    let fail = |error: UnpackError, report: &mut dyn FnMut(Event)| {
        if ignore_errors {
            report(Event::Warning(error.to_string()));
            Ok(())
        } else {
            Err(error)
        }
    };
    let entries = archive.entries().map_err(UnpackError::Read)?;
    for entry in entries {
        let mut entry = match entry {
            Ok(entry) => entry,
            Err(error) if summary.entries == 0 => {
                fail(UnpackError::NotTar(error), report)?;
                break;
            }
            Err(error) => {
                fail(UnpackError::Read(error), report)?;
                break;
            }
        };
        summary.entries += 1;
        match unpacker.unpack(&mut entry, report) {
            Ok(bytes) => summary.bytes += bytes,
            Err(error) => fail(error.into(), report)?,
        }
        report(Event::Progress);
    }
    if summary.entries == 0 {
        fail(UnpackError::NoMembers, report)?;
    }
    unpacker.finish(report);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capability(revision: u32, words: &[u32]) -> Vec<u8> {
        let mut value = (revision | 1).to_le_bytes().to_vec();
        for word in words {
            value.extend_from_slice(&word.to_le_bytes());
        }
        value
    }

    #[test]
    fn capabilities_gain_the_containers_root_as_rootid() {
        let map = IdMap::default_unprivileged();
        // cap_net_raw (bit 13) permitted, effective flag set.
        let v2 = capability(VFS_CAP_REVISION_2, &[1 << 13, 0, 0, 0]);
        assert_eq!(
            shift_file_capability(&v2, &map).unwrap(),
            capability(VFS_CAP_REVISION_3, &[1 << 13, 0, 0, 0, 100_000])
        );
        let v1 = capability(VFS_CAP_REVISION_1, &[1 << 13, 1 << 1]);
        assert_eq!(
            shift_file_capability(&v1, &map).unwrap(),
            capability(VFS_CAP_REVISION_3, &[1 << 13, 1 << 1, 0, 0, 100_000])
        );
        // A v3 value already tied to uid 1000 of the container follows that uid.
        let v3 = capability(VFS_CAP_REVISION_3, &[7, 0, 0, 0, 1000]);
        assert_eq!(
            shift_file_capability(&v3, &map).unwrap(),
            capability(VFS_CAP_REVISION_3, &[7, 0, 0, 0, 101_000])
        );
    }

    #[test]
    fn malformed_or_unmappable_capabilities_are_dropped() {
        let map = IdMap::default_unprivileged();
        assert_eq!(shift_file_capability(b"", &map), None);
        assert_eq!(
            shift_file_capability(&capability(VFS_CAP_REVISION_2, &[1, 0, 0]), &map),
            None
        );
        assert_eq!(
            shift_file_capability(&capability(0x0400_0000, &[1, 0, 0, 0]), &map),
            None
        );
        let v3 = capability(VFS_CAP_REVISION_3, &[7, 0, 0, 0, 70_000]);
        assert_eq!(shift_file_capability(&v3, &map), None);
    }

    #[test]
    fn owners_shift_through_the_map_and_refuse_unmapped_ids() {
        // Different ranges for users and groups: gids must go through the group map.
        let map = IdMap::from_lxc_values(["u 0 100000 65536", "g 0 300000 1000"]).unwrap();
        let shifted = Owners::Shifted {
            map: &map,
            root: (100_000, 300_000),
        };
        assert_eq!(shifted.host_ids(1000, 33), Some((101_000, 300_033)));
        assert_eq!(shifted.host_ids(70_000, 0), None);
        assert_eq!(
            shifted.host_ids(0, 1000),
            None,
            "gid 1000 is past the group map"
        );
        assert_eq!(shifted.host_ids(0, 65_536), None);
        assert_eq!(Owners::Privileged.host_ids(1000, 33), Some((1000, 33)));
        assert_eq!(Owners::Privileged.host_ids(u64::from(u32::MAX), 0), None);
        assert_eq!(Owners::Privileged.host_ids(1 << 40, 0), None);
    }

    #[test]
    fn extraction_creates_as_the_containers_root_user_and_group() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootDir::open(dir.path()).unwrap();
        let map = IdMap::from_lxc_values(["u 0 100000 65536", "g 0 300000 1000"]).unwrap();
        let unpacker = Unpacker::new(&root, Some(&map)).unwrap();
        assert_eq!(unpacker.owners.creator(), (100_000, 300_000));
        assert!(unpacker.owners.shifted());
        let privileged = Unpacker::new(&root, None).unwrap();
        assert_eq!(privileged.owners.creator(), (0, 0));
        assert!(!privileged.owners.shifted());
        let rootless = IdMap::from_lxc_values(["u 1 100000 65536", "g 0 300000 1000"]).unwrap();
        let error = Unpacker::new(&root, Some(&rootless)).err().unwrap();
        assert!(matches!(error, UnpackError::RootNotMapped), "{error:?}");
        assert_eq!(
            error.to_string(),
            "the id map does not map root (uid and gid 0) of the container"
        );
    }

    /// The warnings an extraction of `archive` into a fresh directory reports, in order.
    fn warnings_of(archive: &[u8]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let root = RootDir::open(dir.path()).unwrap();
        let mut warnings = Vec::new();
        unpack_archive(archive, &root, None, false, &mut |event| {
            if let Event::Warning(text) = event {
                warnings.push(text);
            }
        })
        .unwrap();
        warnings
    }

    #[test]
    fn leading_slashes_and_acls_are_warned_about_once_per_archive() {
        use super::super::fixtures::{ArchiveBuilder, ROOT_DIR, ROOT_FILE};
        let mut archive = ArchiveBuilder::new();
        archive
            .dir("./", ROOT_DIR)
            .file("./plain", b"x", ROOT_FILE)
            .file("/etc-one", b"1", ROOT_FILE)
            .file("/etc-two", b"2", ROOT_FILE)
            .pax(&[("SCHILY.acl.access", b"user::rw-")])
            .file("./acl-one", b"a", ROOT_FILE)
            .pax(&[("SCHILY.acl.access", b"user::rw-")])
            .file("./acl-two", b"b", ROOT_FILE);
        assert_eq!(
            warnings_of(&archive.finish()),
            [
                "Removing leading `/' from member names",
                "./acl-one: the archive carries POSIX ACLs, which are not restored",
            ]
        );
        let mut clean = ArchiveBuilder::new();
        clean.dir("./", ROOT_DIR).file("./plain", b"x", ROOT_FILE);
        assert!(warnings_of(&clean.finish()).is_empty());
    }

    /// A member that cannot be made stops the extraction with an error that names the
    /// member, says what failed and keeps the system's error underneath.
    #[test]
    fn a_failed_member_names_itself_and_keeps_the_system_error() {
        use super::super::fixtures::{ArchiveBuilder, ROOT_DIR};
        use std::error::Error as _;
        let mut archive = ArchiveBuilder::new();
        archive.dir("./", ROOT_DIR).hardlink("./link", "./missing");
        let dir = tempfile::tempdir().unwrap();
        let root = RootDir::open(dir.path()).unwrap();
        let error = unpack_archive(&archive.finish()[..], &root, None, false, &mut |_| {})
            .expect_err("a link to nothing");
        assert_eq!(
            error.to_string(),
            "./link: Cannot hard link to './missing': No such file or directory"
        );
        let UnpackError::Member(named) = &error else {
            panic!("{error:?}");
        };
        assert_eq!(named.member, "./link");
        assert!(matches!(named.source, MemberError::HardLink { .. }));
        // The chain: the member's error, what failed, the errno.
        let member = error.source().expect("the member's error");
        let failed = member.source().expect("what failed");
        let errno = failed.source().and_then(|e| e.downcast_ref::<io::Error>());
        assert_eq!(errno.and_then(io::Error::raw_os_error), Some(libc::ENOENT));
    }

    /// Reads that hand out `script`'s results one by one, then end.
    struct Scripted(Vec<io::Result<&'static [u8]>>);

    impl Read for Scripted {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let bytes = self.0.remove(0)?;
            buffer[..bytes.len()].copy_from_slice(bytes);
            Ok(bytes.len())
        }
    }

    #[test]
    fn read_full_retries_an_interrupted_read_and_fails_on_any_other_error() {
        let mut buffer = [0u8; 8];
        let mut interrupted = Scripted(vec![
            Ok(b"abc"),
            Err(io::ErrorKind::Interrupted.into()),
            Ok(b"defgh"),
        ]);
        assert_eq!(read_full(&mut interrupted, &mut buffer).unwrap(), 8);
        assert_eq!(&buffer, b"abcdefgh");
        let mut failing = Scripted(vec![
            Ok(b"abc"),
            Err(io::Error::other("disk gone")),
            Ok(b"de"),
        ]);
        assert_eq!(
            read_full(&mut failing, &mut buffer)
                .unwrap_err()
                .to_string(),
            "disk gone"
        );
        let mut short = Scripted(vec![Ok(b"xy")]);
        assert_eq!(read_full(&mut short, &mut buffer).unwrap(), 2);
    }

    #[test]
    fn cause_drops_the_os_error_suffix() {
        assert_eq!(cause(&Errno::NOENT.into()), "No such file or directory");
        assert_eq!(cause(&io::Error::other("plain")), "plain");
    }
}
