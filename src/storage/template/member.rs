//! One archive member as extraction needs it: the name made safe to join onto the rootfs, the
//! kind, numeric owner, mode, mtime and xattrs, with PAX records applied over the header.

use std::io::{self, Read};

use super::unpack::cause;

/// What is wrong with one member, or what failed while creating it, in GNU tar's words (the
/// text after `<member>: `), so users recognise it from pct's task logs.
#[derive(Debug, thiserror::Error)]
pub(super) enum MemberError {
    #[error("invalid {field} in header: {source}")]
    Header {
        field: &'static str,
        source: io::Error,
    },
    #[error("device member without device numbers")]
    NoDeviceNumbers,
    #[error("symbolic link without a target")]
    SymlinkWithoutTarget,
    #[error("Cannot hard link to '{target}': link target contains '..'")]
    HardLinkOutside { target: String },
    #[error("Cannot hard link to '{target}': not a file")]
    HardLinkNotFile { target: String },
    #[error("found multi-volume member in archive")]
    MultiVolume,
    #[error("invalid PAX header: {0}")]
    PaxHeader(#[source] io::Error),
    #[error("invalid PAX record '{key}'")]
    PaxRecord { key: String },
    /// PAX sparse files keep their map in the data; written as is they would be garbage.
    #[error("PAX sparse members are not supported")]
    PaxSparse,
    #[error("Member name contains '..'")]
    DotDot,
    #[error("Cannot open: {}", cause(.0))]
    Open(#[source] io::Error),
    #[error("Cannot mkdir: {}", cause(.0))]
    Mkdir(#[source] io::Error),
    #[error("Cannot create symlink to '{target}': {}", cause(.source))]
    Symlink { target: String, source: io::Error },
    #[error("Cannot hard link to '{target}': {}", cause(.source))]
    HardLink { target: String, source: io::Error },
    #[error("Cannot mknod: {}", cause(.0))]
    Mknod(#[source] io::Error),
    #[error("Read error in archive: {}", cause(.0))]
    Read(#[source] io::Error),
    #[error("Cannot write: {}", cause(.0))]
    Write(#[source] io::Error),
    #[error("Cannot change ownership to uid {uid}, gid {gid}: {}", cause(.source))]
    Chown {
        uid: u64,
        gid: u64,
        source: io::Error,
    },
    #[error("Cannot change mode to {mode:04o}: {}", cause(.source))]
    Chmod { mode: u32, source: io::Error },
    #[error("Cannot utime: {}", cause(.0))]
    Utime(#[source] io::Error),
}

/// A member that cannot be extracted: its name as the archive spells it, and why.
#[derive(Debug, thiserror::Error)]
#[error("{member}: {source}")]
pub(super) struct NamedMemberError {
    pub member: String,
    pub source: MemberError,
}

/// What a member asks to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum MemberKind {
    File {
        sparse: bool,
    },
    Directory,
    Symlink {
        target: Vec<u8>,
    },
    /// `target` is normalized like member names; `target_display` is as the archive spells it.
    HardLink {
        target: Vec<u8>,
        target_display: String,
    },
    CharDevice {
        major: u32,
        minor: u32,
    },
    BlockDevice {
        major: u32,
        minor: u32,
    },
    Fifo,
    /// Global PAX headers and volume labels carry nothing to create.
    NothingToCreate,
}

/// Modification time; nanoseconds come from a PAX `mtime` record when there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Mtime {
    pub seconds: i64,
    pub nanoseconds: u32,
}

#[derive(Debug)]
pub(super) struct Member {
    /// The name as the archive spells it, shortened when absurdly long; for messages.
    pub display: String,
    /// Relative to the rootfs: no leading `/`, no `.` or empty components; empty for the
    /// rootfs itself.
    pub path: Vec<u8>,
    pub kind: MemberKind,
    pub uid: u64,
    pub gid: u64,
    /// Permission bits including setuid, setgid and sticky.
    pub mode: u32,
    pub mtime: Mtime,
    /// `SCHILY.xattr.*` records: (name, value).
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// The archive carries POSIX ACLs (`SCHILY.acl.*`), which are not restored.
    pub has_acls: bool,
    /// The name started with `/`, which GNU tar strips with a warning.
    pub had_leading_slash: bool,
    /// pct passes `--anchored --exclude ./dev/*`: the contents of `./dev` stay out.
    pub excluded: bool,
    /// A type byte GNU tar does not know; it extracts those as regular files and says so.
    pub unknown_type: Option<u8>,
}

/// Longest member name shown whole in a message; longer ones are shortened around the middle.
const DISPLAY_LIMIT: usize = 240;

/// A member name as messages show it: escaped (a name is any bytes, and could hold terminal
/// escape sequences), and shortened around the middle when long.
pub(super) fn display_name(raw: &[u8]) -> String {
    let text = crate::text::escape(raw);
    if text.chars().count() <= DISPLAY_LIMIT {
        return text;
    }
    let head: String = text.chars().take(DISPLAY_LIMIT / 2).collect();
    let tail: Vec<char> = text.chars().rev().take(DISPLAY_LIMIT / 4).collect();
    let tail: String = tail.into_iter().rev().collect();
    format!("{head}...{tail} ({} bytes)", raw.len())
}

/// The path a member name stands for inside the rootfs. Leading slashes are dropped (GNU tar
/// does the same and warns), `.` and empty components vanish; `..` anywhere is refused, since
/// it could only be meant to climb out.
pub(super) fn normalize(raw: &[u8]) -> Result<(Vec<u8>, bool), MemberError> {
    let had_leading_slash = raw.first() == Some(&b'/');
    let mut path = Vec::with_capacity(raw.len());
    for component in raw.split(|&byte| byte == b'/') {
        match component {
            b"" | b"." => {}
            b".." => return Err(MemberError::DotDot),
            _ => {
                if !path.is_empty() {
                    path.push(b'/');
                }
                path.extend_from_slice(component);
            }
        }
    }
    Ok((path, had_leading_slash))
}

/// pct's `--anchored --exclude './dev/*'`: GNU tar matches the name as stored, after dropping
/// trailing slashes, and `*` also matches `/`. So `./dev` itself stays, as does `dev/null`
/// spelled without the `./` prefix.
pub(super) fn is_excluded(raw: &[u8]) -> bool {
    let mut name = raw;
    while let Some(rest) = name.strip_suffix(b"/") {
        name = rest;
    }
    name.len() > b"./dev/".len() && name.starts_with(b"./dev/")
}

/// A PAX time record: decimal seconds, optionally negative, optionally with a fraction.
pub(super) fn parse_pax_time(value: &[u8]) -> Option<Mtime> {
    let text = std::str::from_utf8(value).ok()?;
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: i64 = whole.parse().ok()?;
    let mut nanoseconds: u32 = 0;
    for (index, digit) in fraction.bytes().take(9).enumerate() {
        nanoseconds += u32::from(digit - b'0') * 10u32.pow(8 - index as u32);
    }
    if !negative {
        return Some(Mtime {
            seconds,
            nanoseconds,
        });
    }
    // -1.25 is 1.25 s before the epoch: seconds -2 plus 0.75.
    Some(if nanoseconds == 0 {
        Mtime {
            seconds: -seconds,
            nanoseconds: 0,
        }
    } else {
        Mtime {
            seconds: -seconds - 1,
            nanoseconds: 1_000_000_000 - nanoseconds,
        }
    })
}

fn parse_pax_id(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

impl Member {
    /// Reads what extraction needs from `entry`; the error names the member.
    pub(super) fn read<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Member, NamedMemberError> {
        let raw_name = entry.path_bytes().into_owned();
        let display = display_name(&raw_name);
        let fail = |source: MemberError| NamedMemberError {
            member: display.clone(),
            source,
        };
        let header = entry.header();
        let entry_type = header.entry_type();
        let bad_header =
            |field: &'static str, source: io::Error| fail(MemberError::Header { field, source });

        let mut uid = header.uid().map_err(|e| bad_header("uid", e))?;
        let mut gid = header.gid().map_err(|e| bad_header("gid", e))?;
        let mode = header.mode().map_err(|e| bad_header("mode", e))? & 0o7777;
        let header_mtime = header.mtime().map_err(|e| bad_header("mtime", e))?;
        let mut mtime = Mtime {
            seconds: i64::try_from(header_mtime).unwrap_or(i64::MAX),
            nanoseconds: 0,
        };
        let device = |entry: &tar::Entry<'_, R>| -> Result<(u32, u32), NamedMemberError> {
            let header = entry.header();
            let major = header
                .device_major()
                .map_err(|e| bad_header("device major", e))?;
            let minor = header
                .device_minor()
                .map_err(|e| bad_header("device minor", e))?;
            match (major, minor) {
                (Some(major), Some(minor)) => Ok((major, minor)),
                _ => Err(fail(MemberError::NoDeviceNumbers)),
            }
        };
        let trailing_slash = raw_name.ends_with(b"/");

        let mut unknown_type = None;
        let mut kind = match entry_type {
            tar::EntryType::Directory => MemberKind::Directory,
            // Old archivers mark directories with a trailing slash on a plain file entry.
            tar::EntryType::Regular | tar::EntryType::Continuous if trailing_slash => {
                MemberKind::Directory
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                MemberKind::File { sparse: false }
            }
            tar::EntryType::GNUSparse => MemberKind::File { sparse: true },
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                if target.is_empty() {
                    return Err(fail(MemberError::SymlinkWithoutTarget));
                }
                MemberKind::Symlink { target }
            }
            tar::EntryType::Link => {
                let raw_target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let target_display = display_name(&raw_target);
                let (target, _) = normalize(&raw_target).map_err(|_| {
                    fail(MemberError::HardLinkOutside {
                        target: target_display.clone(),
                    })
                })?;
                if target.is_empty() {
                    return Err(fail(MemberError::HardLinkNotFile {
                        target: target_display,
                    }));
                }
                MemberKind::HardLink {
                    target,
                    target_display,
                }
            }
            tar::EntryType::Char => {
                let (major, minor) = device(entry)?;
                MemberKind::CharDevice { major, minor }
            }
            tar::EntryType::Block => {
                let (major, minor) = device(entry)?;
                MemberKind::BlockDevice { major, minor }
            }
            tar::EntryType::Fifo => MemberKind::Fifo,
            // Extension headers are consumed by the reader; one left dangling creates nothing.
            tar::EntryType::XGlobalHeader
            | tar::EntryType::XHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink => MemberKind::NothingToCreate,
            other => match other.as_byte() {
                b'V' => MemberKind::NothingToCreate,
                b'M' => return Err(fail(MemberError::MultiVolume)),
                byte => {
                    unknown_type = Some(byte);
                    MemberKind::File { sparse: false }
                }
            },
        };

        let mut xattrs = Vec::new();
        let mut has_acls = false;
        if let Some(records) = entry
            .pax_extensions()
            .map_err(|e| fail(MemberError::PaxHeader(e)))?
        {
            for record in records {
                let record = record.map_err(|e| fail(MemberError::PaxHeader(e)))?;
                let (key, value) = (record.key_bytes(), record.value_bytes());
                let invalid = || {
                    fail(MemberError::PaxRecord {
                        key: String::from_utf8_lossy(key).into_owned(),
                    })
                };
                match key {
                    b"uid" => uid = parse_pax_id(value).ok_or_else(invalid)?,
                    b"gid" => gid = parse_pax_id(value).ok_or_else(invalid)?,
                    b"mtime" => mtime = parse_pax_time(value).ok_or_else(invalid)?,
                    _ if key.starts_with(b"SCHILY.xattr.") => {
                        xattrs.push((key[b"SCHILY.xattr.".len()..].to_vec(), value.to_vec()));
                    }
                    _ if key.starts_with(b"SCHILY.acl.") => has_acls = true,
                    _ if key.starts_with(b"GNU.sparse.") => {
                        return Err(fail(MemberError::PaxSparse));
                    }
                    _ => {}
                }
            }
        }
        if matches!(kind, MemberKind::NothingToCreate) {
            xattrs.clear();
        }

        let (path, had_leading_slash) = match kind {
            MemberKind::NothingToCreate => (Vec::new(), false),
            _ => normalize(&raw_name).map_err(fail)?,
        };
        if path.is_empty() && matches!(kind, MemberKind::File { .. }) && !raw_name.is_empty() {
            // `./` as a plain file: there is nothing it could be but the rootfs itself.
            kind = MemberKind::Directory;
        }
        Ok(Member {
            excluded: is_excluded(&raw_name),
            display,
            path,
            kind,
            uid,
            gid,
            mode,
            mtime,
            xattrs,
            has_acls,
            had_leading_slash,
            unknown_type,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_and_shortened_in_messages() {
        assert_eq!(
            display_name(b"./etc/caf\xe9\x1b[2J"),
            "./etc/caf\\xe9\\x1b[2J"
        );
        let long = [b"./".as_slice(), &[b'a'; 5000], b"\x1b/end"].concat();
        let shown = display_name(&long);
        assert!(shown.starts_with("./aaa") && shown.ends_with("\\x1b/end (5007 bytes)"));
        assert!(shown.len() < 300 && !shown.contains('\x1b'), "{shown}");
    }

    #[test]
    fn normalize_strips_dots_and_leading_slashes() {
        assert_eq!(
            normalize(b"./etc/passwd").unwrap(),
            (b"etc/passwd".to_vec(), false)
        );
        assert_eq!(
            normalize(b"/etc//./passwd/").unwrap(),
            (b"etc/passwd".to_vec(), true)
        );
        assert_eq!(normalize(b"./").unwrap(), (Vec::new(), false));
        assert_eq!(normalize(b"...").unwrap(), (b"...".to_vec(), false));
    }

    #[test]
    fn normalize_refuses_dot_dot_anywhere() {
        for bad in [&b"../etc"[..], b"a/../../b", b"a/..", b"/../x", b"./.."] {
            let error = normalize(bad).unwrap_err();
            assert!(
                matches!(error, MemberError::DotDot),
                "{}",
                String::from_utf8_lossy(bad)
            );
            assert_eq!(error.to_string(), "Member name contains '..'");
        }
    }

    #[test]
    fn exclusion_matches_gnu_tar_anchored_pattern() {
        assert!(is_excluded(b"./dev/null"));
        assert!(is_excluded(b"./dev/pts/0"));
        assert!(is_excluded(b"./dev/shm/"));
        assert!(!is_excluded(b"./dev/"));
        assert!(!is_excluded(b"./dev"));
        assert!(!is_excluded(b"dev/null"));
        assert!(!is_excluded(b"./devices/x"));
        assert!(!is_excluded(b"./usr/dev/x"));
    }

    #[test]
    fn pax_times_keep_fractions_and_sign() {
        let time = |s: i64, n: u32| {
            Some(Mtime {
                seconds: s,
                nanoseconds: n,
            })
        };
        assert_eq!(parse_pax_time(b"1700000000"), time(1_700_000_000, 0));
        assert_eq!(
            parse_pax_time(b"1700000000.5"),
            time(1_700_000_000, 500_000_000)
        );
        assert_eq!(parse_pax_time(b"12.1234567891"), time(12, 123_456_789));
        assert_eq!(parse_pax_time(b"-1.25"), time(-2, 750_000_000));
        assert_eq!(parse_pax_time(b"-3"), time(-3, 0));
        for bad in [&b""[..], b"x", b"1.2.3", b"-", b".5", b"1e9"] {
            assert_eq!(parse_pax_time(bad), None);
        }
    }

    #[test]
    fn long_names_are_shortened_for_messages() {
        let long = vec![b'a'; 5000];
        let shown = display_name(&long);
        assert!(shown.len() < 400, "{}", shown.len());
        assert!(shown.ends_with("(5000 bytes)"));
        assert_eq!(display_name(b"./etc/passwd"), "./etc/passwd");
    }
}
