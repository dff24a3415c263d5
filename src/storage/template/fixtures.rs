//! Test fixtures: scratch directories with a sentinel outside the rootfs, and tar archives
//! written member by member (hostile names included) in every supported compression.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::compression::Compression;

pub(super) const ALL_COMPRESSIONS: [Compression; 4] = [
    Compression::None,
    Compression::Gzip,
    Compression::Xz,
    Compression::Zstd,
];

const SECRET: &str = "sentinel: nothing may touch this\n";

/// A temporary directory holding `rootfs/`, `outside/` (a sentinel directory with one file,
/// standing in for the host) and `archives/`. Removed on drop, also when a test fails.
pub(super) struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub(super) fn new() -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("corral-template-")
            .tempdir()
            .unwrap();
        for sub in ["rootfs", "outside", "archives"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        std::fs::write(dir.path().join("outside/secret"), SECRET).unwrap();
        Scratch { dir }
    }

    pub(super) fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub(super) fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }

    pub(super) fn write_archive(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join("archives").join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Everything outside `rootfs/` and `archives/` is as [`Scratch::new`] left it.
    pub(super) fn assert_outside_untouched(&self) {
        let mut found = BTreeMap::new();
        list(self.dir.path(), self.dir.path(), &mut found);
        found.retain(|path: &String, _| {
            !path.starts_with("rootfs/") && !path.starts_with("archives/")
        });
        let expected: BTreeMap<String, String> = [
            ("archives".to_string(), "dir".to_string()),
            ("outside".to_string(), "dir".to_string()),
            ("outside/secret".to_string(), format!("file 0:0 {SECRET:?}")),
            ("rootfs".to_string(), "dir".to_string()),
        ]
        .into();
        assert_eq!(found, expected, "something changed outside the rootfs");
    }
}

fn list(base: &Path, dir: &Path, found: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let relative = path
            .strip_prefix(base)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        let kind = if metadata.is_symlink() {
            format!(
                "symlink -> {}",
                std::fs::read_link(&path).unwrap().display()
            )
        } else if metadata.is_dir() {
            list(base, &path, found);
            "dir".to_string()
        } else if metadata.is_file() {
            let content = std::fs::read(&path).unwrap();
            format!(
                "file {}:{} {:?}",
                metadata.uid(),
                metadata.gid(),
                String::from_utf8_lossy(&content)
            )
        } else {
            format!("special {:o}", metadata.mode())
        };
        found.insert(relative, kind);
    }
}

pub(super) fn compress(data: &[u8], compression: Compression) -> Vec<u8> {
    match compression {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(data).unwrap();
            encoder.finish().unwrap()
        }
        Compression::Xz => {
            let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 1);
            encoder.write_all(data).unwrap();
            encoder.finish().unwrap()
        }
        Compression::Zstd => zstd::encode_all(data, 3).unwrap(),
    }
}

/// Owner, mode and mtime of a member.
#[derive(Clone, Copy)]
pub(super) struct Meta {
    pub uid: u64,
    pub gid: u64,
    pub mode: u32,
    pub mtime: u64,
}

pub(super) const ROOT_FILE: Meta = Meta {
    uid: 0,
    gid: 0,
    mode: 0o644,
    mtime: 1_600_000_000,
};
pub(super) const ROOT_DIR: Meta = Meta {
    uid: 0,
    gid: 0,
    mode: 0o755,
    mtime: 1_600_000_000,
};

/// Writes GNU-format members with names exactly as given (tar's own builder refuses `..` and
/// absolute names, which the hostile fixtures need).
pub(super) struct ArchiveBuilder {
    builder: tar::Builder<Vec<u8>>,
}

impl ArchiveBuilder {
    pub(super) fn new() -> ArchiveBuilder {
        ArchiveBuilder {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    pub(super) fn dir(&mut self, name: &str, meta: Meta) -> &mut Self {
        self.member(
            tar::EntryType::Directory,
            name.as_bytes(),
            None,
            meta,
            b"",
            None,
        )
    }

    pub(super) fn file(&mut self, name: &str, content: &[u8], meta: Meta) -> &mut Self {
        self.member(
            tar::EntryType::Regular,
            name.as_bytes(),
            None,
            meta,
            content,
            None,
        )
    }

    pub(super) fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        let meta = Meta {
            mode: 0o777,
            ..ROOT_FILE
        };
        self.member(
            tar::EntryType::Symlink,
            name.as_bytes(),
            Some(target.as_bytes()),
            meta,
            b"",
            None,
        )
    }

    pub(super) fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.member(
            tar::EntryType::Link,
            name.as_bytes(),
            Some(target.as_bytes()),
            ROOT_FILE,
            b"",
            None,
        )
    }

    pub(super) fn device(
        &mut self,
        kind: tar::EntryType,
        name: &str,
        number: (u32, u32),
        meta: Meta,
    ) -> &mut Self {
        self.member(kind, name.as_bytes(), None, meta, b"", Some(number))
    }

    /// A PAX extended header that applies to the next member.
    pub(super) fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (key, value) in records {
            // "<length> <key>=<value>\n", the length counting itself.
            let body_len = key.len() + value.len() + 3;
            let mut length = body_len + 1;
            while length != body_len + length.to_string().len() {
                length = body_len + length.to_string().len();
            }
            data.extend_from_slice(format!("{length} {key}=").as_bytes());
            data.extend_from_slice(value);
            data.push(b'\n');
        }
        self.member(
            tar::EntryType::XHeader,
            b"././@PaxHeader",
            None,
            ROOT_FILE,
            &data,
            None,
        )
    }

    /// Appends a file from disk through tar's builder, which stores holes as a GNU sparse
    /// member.
    pub(super) fn sparse_file_from_disk(&mut self, name: &str, path: &Path) -> &mut Self {
        self.builder.sparse(true);
        self.builder.append_path_with_name(path, name).unwrap();
        self
    }

    pub(super) fn member(
        &mut self,
        kind: tar::EntryType,
        name: &[u8],
        link: Option<&[u8]>,
        meta: Meta,
        data: &[u8],
        device: Option<(u32, u32)>,
    ) -> &mut Self {
        const FIELD: usize = 100;
        if name.len() > FIELD {
            self.long_name(tar::EntryType::GNULongName, name);
        }
        if let Some(link) = link.filter(|link| link.len() > FIELD) {
            self.long_name(tar::EntryType::GNULongLink, link);
        }
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(meta.mode);
        header.set_uid(meta.uid);
        header.set_gid(meta.gid);
        header.set_mtime(meta.mtime);
        header.set_size(data.len() as u64);
        let gnu = header.as_gnu_mut().unwrap();
        let short = &name[..name.len().min(FIELD)];
        gnu.name[..short.len()].copy_from_slice(short);
        if let Some(link) = link {
            let short = &link[..link.len().min(FIELD)];
            gnu.linkname[..short.len()].copy_from_slice(short);
        }
        if let Some((major, minor)) = device {
            header.set_device_major(major).unwrap();
            header.set_device_minor(minor).unwrap();
        }
        header.set_cksum();
        self.builder.append(&header, data).unwrap();
        self
    }

    fn long_name(&mut self, kind: tar::EntryType, name: &[u8]) {
        let mut data = name.to_vec();
        data.push(0);
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
        header.set_cksum();
        self.builder.append(&header, &data[..]).unwrap();
    }

    pub(super) fn finish(self) -> Vec<u8> {
        self.builder.into_inner().unwrap()
    }
}
