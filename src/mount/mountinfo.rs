//! Reading `/proc/self/mountinfo`: which mounts exist in this mount namespace, in the order
//! the kernel lists them (parents before the mounts stacked on or below them).

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// One line of mountinfo, the fields corral needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub id: u64,
    pub parent_id: u64,
    /// The mount point, as seen from this process's root.
    pub mount_point: PathBuf,
    pub fs_type: String,
    /// The mount source (`/dev/loop3`, `tmpfs`, ...).
    pub source: String,
}

/// Undo the kernel's octal escapes (`\040` for space, `\011`, `\012`, `\134`).
fn unescape(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(digits) => {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(value as u8);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

fn parse_line(line: &str) -> Option<MountEntry> {
    let mut fields = line.split(' ');
    let id = fields.next()?.parse().ok()?;
    let parent_id = fields.next()?.parse().ok()?;
    let _dev = fields.next()?;
    let _root = fields.next()?;
    let mount_point = PathBuf::from(OsString::from_vec(unescape(fields.next()?)));
    // Optional fields run up to the `-` separator.
    let mut rest = fields.skip_while(|f| *f != "-").skip(1);
    let fs_type = String::from_utf8_lossy(&unescape(rest.next()?)).into_owned();
    let source = String::from_utf8_lossy(&unescape(rest.next()?)).into_owned();
    Some(MountEntry {
        id,
        parent_id,
        mount_point,
        fs_type,
        source,
    })
}

pub(crate) fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines().filter_map(parse_line).collect()
}

/// Every mount of the calling thread's mount namespace (a thread may have one of its own,
/// see [`in_private_mount_namespace`](super::in_private_mount_namespace)).
pub fn mount_table() -> io::Result<Vec<MountEntry>> {
    Ok(parse_mountinfo(&std::fs::read_to_string(
        "/proc/thread-self/mountinfo",
    )?))
}

/// Every mount point of this process's mount namespace.
pub fn mount_points() -> io::Result<Vec<PathBuf>> {
    Ok(mount_table()?.into_iter().map(|m| m.mount_point).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_escapes() {
        let text = "\
22 1 0:21 / /proc rw,relatime shared:5 - proc proc rw
97 22 7:3 / /tmp/a\\040b\\134c rw master:1 shared:9 - ext4 /dev/loop3 rw
bad line
";
        let entries = parse_mountinfo(text);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].mount_point, PathBuf::from("/proc"));
        assert_eq!((entries[1].id, entries[1].parent_id), (97, 22));
        assert_eq!(entries[1].mount_point, PathBuf::from("/tmp/a b\\c"));
        assert_eq!(entries[1].fs_type, "ext4");
        assert_eq!(entries[1].source, "/dev/loop3");
    }

    #[test]
    fn reads_this_namespace() {
        let points = mount_points().unwrap();
        assert!(
            points.iter().any(|p| p == std::path::Path::new("/")),
            "{points:?}"
        );
    }
}
