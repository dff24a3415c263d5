//! `etc/pve/storage.cfg`: `dir` and `btrfs` storage sections, where their volumes live, and
//! storage activation (enabled check, mount-point check, content directories).
//!
//! The file is PVE's section config: a `<type>: <id>` header, indented `key value` lines, and an
//! empty line ending the section. Like PVE, the parser never fails on content: bad lines and
//! bad sections are skipped with a warning (kept in [`StorageConfig::warnings`], worded as PVE
//! words them), and storages of types corral does not implement (rbd, iscsi, ...) are
//! skipped silently, so a real Proxmox file loads.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use super::volume::{VolumeKind, storage_id_error};
use super::{StorageError, VolumeId};

/// What a storage holds (`content` in storage.cfg).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentType {
    /// `images`: virtual machine disks.
    Images,
    /// `rootdir`: container volumes.
    Rootdir,
    /// `vztmpl`: container templates.
    Vztmpl,
    /// `iso`: ISO images.
    Iso,
    /// `backup`: backup archives.
    Backup,
    /// `snippets`: hook scripts and other snippets.
    Snippets,
    /// `import`: disk images to import.
    Import,
}

impl ContentType {
    /// Every content type, in pct's order.
    pub const ALL: [ContentType; 7] = [
        ContentType::Images,
        ContentType::Rootdir,
        ContentType::Vztmpl,
        ContentType::Iso,
        ContentType::Backup,
        ContentType::Snippets,
        ContentType::Import,
    ];

    /// The name used in storage.cfg (`images`, `rootdir`, `vztmpl`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ContentType::Images => "images",
            ContentType::Rootdir => "rootdir",
            ContentType::Vztmpl => "vztmpl",
            ContentType::Iso => "iso",
            ContentType::Backup => "backup",
            ContentType::Snippets => "snippets",
            ContentType::Import => "import",
        }
    }

    /// A content type by its storage.cfg name.
    pub fn from_name(name: &str) -> Option<ContentType> {
        ContentType::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The directory below the storage path that holds this content (PVE's defaults).
    fn default_subdir(self) -> &'static str {
        match self {
            ContentType::Images => "images",
            ContentType::Rootdir => "private",
            ContentType::Vztmpl => "template/cache",
            ContentType::Iso => "template/iso",
            ContentType::Backup => "dump",
            ContentType::Snippets => "snippets",
            ContentType::Import => "import",
        }
    }
}

/// The storage types corral implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageType {
    /// `dir`: a directory.
    Dir,
    /// `btrfs`: a directory on btrfs, with subvolumes for containers.
    Btrfs,
    /// `lvm`: thick logical volumes in a volume group (`vgname`).
    Lvm,
    /// `lvmthin`: thin logical volumes in a thin pool (`vgname`, `thinpool`).
    LvmThin,
    /// `nfs`: an NFS export, used as a directory where it is mounted (`path`).
    Nfs,
    /// `cifs`: an SMB share, used as a directory where it is mounted (`path`).
    Cifs,
    /// `cephfs`: a CephFS, used as a directory where it is mounted (`path`).
    CephFs,
    /// `zfspool`: datasets of a ZFS pool (`pool`), file systems for containers.
    ZfsPool,
}

impl StorageType {
    /// The types corral implements, for messages.
    const SUPPORTED: &'static str = "dir, btrfs, lvm, lvmthin, nfs, cifs, cephfs and zfspool";

    fn from_name(name: &str) -> Option<StorageType> {
        match name {
            "dir" => Some(StorageType::Dir),
            "btrfs" => Some(StorageType::Btrfs),
            "lvm" => Some(StorageType::Lvm),
            "lvmthin" => Some(StorageType::LvmThin),
            "nfs" => Some(StorageType::Nfs),
            "cifs" => Some(StorageType::Cifs),
            "cephfs" => Some(StorageType::CephFs),
            "zfspool" => Some(StorageType::ZfsPool),
            _ => None,
        }
    }

    /// The name used in storage.cfg.
    pub fn name(self) -> &'static str {
        match self {
            StorageType::Dir => "dir",
            StorageType::Btrfs => "btrfs",
            StorageType::Lvm => "lvm",
            StorageType::LvmThin => "lvmthin",
            StorageType::Nfs => "nfs",
            StorageType::Cifs => "cifs",
            StorageType::CephFs => "cephfs",
            StorageType::ZfsPool => "zfspool",
        }
    }

    /// Whether volumes live as files below a directory (`path`); the network file systems
    /// are directories once mounted.
    pub fn is_file_based(self) -> bool {
        !matches!(
            self,
            StorageType::Lvm | StorageType::LvmThin | StorageType::ZfsPool
        )
    }

    /// A network file system corral does not mount itself: usable only where it is mounted.
    pub fn is_network_fs(self) -> bool {
        matches!(
            self,
            StorageType::Nfs | StorageType::Cifs | StorageType::CephFs
        )
    }

    /// The keys PVE accepts in a section of this type (besides `content` and `disable`,
    /// which every type has and which are parsed into fields).
    fn other_keys(self) -> &'static [&'static str] {
        match self {
            StorageType::Dir => &[
                "path",
                "shared",
                "content-dirs",
                "nodes",
                "prune-backups",
                "max-protected-backups",
                "format",
                "mkdir",
                "create-base-path",
                "create-subdirs",
                "is_mountpoint",
                "bwlimit",
                "preallocation",
                "snapshot-as-volume-chain",
            ],
            StorageType::Btrfs => &[
                "path",
                "shared",
                "nodes",
                "prune-backups",
                "max-protected-backups",
                "format",
                "is_mountpoint",
                "nocow",
                "mkdir",
                "create-base-path",
                "create-subdirs",
                "preallocation",
            ],
            StorageType::Lvm => &[
                "vgname",
                "nodes",
                "shared",
                "saferemove",
                "saferemove-stepsize",
                "saferemove_throughput",
                "base",
                "tagged_only",
                "bwlimit",
                "snapshot-as-volume-chain",
            ],
            StorageType::LvmThin => &["thinpool", "vgname", "nodes", "bwlimit"],
            StorageType::Nfs => &[
                "path",
                "content-dirs",
                "server",
                "export",
                "nodes",
                "prune-backups",
                "max-protected-backups",
                "options",
                "format",
                "mkdir",
                "create-base-path",
                "create-subdirs",
                "bwlimit",
                "preallocation",
                "snapshot-as-volume-chain",
            ],
            StorageType::Cifs => &[
                "path",
                "content-dirs",
                "server",
                "share",
                "subdir",
                "nodes",
                "prune-backups",
                "max-protected-backups",
                "format",
                "username",
                "password",
                "domain",
                "smbversion",
                "mkdir",
                "create-base-path",
                "create-subdirs",
                "bwlimit",
                "preallocation",
                "options",
                "snapshot-as-volume-chain",
            ],
            StorageType::CephFs => &[
                "path",
                "content-dirs",
                "monhost",
                "nodes",
                "subdir",
                "options",
                "username",
                "format",
                "mkdir",
                "create-base-path",
                "create-subdirs",
                "fuse",
                "bwlimit",
                "keyring",
                "prune-backups",
                "max-protected-backups",
                "fs-name",
            ],
            StorageType::ZfsPool => &[
                "pool",
                "blocksize",
                "sparse",
                "nodes",
                "bwlimit",
                "mountpoint",
            ],
        }
    }

    /// The keys a section of this type must have (PVE's `fixed`, non-optional options).
    fn required_keys(self) -> &'static [&'static str] {
        match self {
            StorageType::Dir | StorageType::Btrfs => &["path"],
            StorageType::Lvm => &["vgname"],
            StorageType::LvmThin => &["thinpool", "vgname"],
            StorageType::Nfs => &["server", "export"],
            StorageType::Cifs => &["server", "share"],
            StorageType::CephFs => &[],
            StorageType::ZfsPool => &["pool"],
        }
    }

    fn is_boolean_key(key: &str) -> bool {
        matches!(
            key,
            "disable"
                | "shared"
                | "mkdir"
                | "create-base-path"
                | "create-subdirs"
                | "nocow"
                | "snapshot-as-volume-chain"
                | "saferemove"
                | "tagged_only"
                | "fuse"
                | "sparse"
        )
    }

    fn valid_formats(self) -> &'static [&'static str] {
        match self {
            StorageType::Dir => &["raw", "qcow2", "vmdk", "subvol"],
            StorageType::Btrfs => &["raw", "subvol"],
            StorageType::Lvm => &["raw", "qcow2"],
            StorageType::LvmThin => &["raw"],
            StorageType::ZfsPool => &["raw", "subvol"],
            StorageType::Nfs | StorageType::Cifs | StorageType::CephFs => &["raw", "qcow2", "vmdk"],
        }
    }

    /// The content types a storage of this type can hold (PVE's plugin data).
    fn valid_content(self) -> &'static [ContentType] {
        use ContentType::*;
        match self {
            StorageType::Dir | StorageType::Btrfs | StorageType::Nfs | StorageType::Cifs => {
                &[Images, Rootdir, Vztmpl, Iso, Backup, Snippets, Import]
            }
            StorageType::Lvm | StorageType::LvmThin | StorageType::ZfsPool => &[Images, Rootdir],
            StorageType::CephFs => &[Vztmpl, Iso, Backup, Snippets, Import],
        }
    }

    /// The content a section without `content` gets (PVE's plugin data).
    fn default_content(self) -> BTreeSet<ContentType> {
        match self {
            StorageType::Dir | StorageType::Btrfs | StorageType::LvmThin | StorageType::ZfsPool => {
                [ContentType::Images, ContentType::Rootdir].into()
            }
            StorageType::Lvm | StorageType::Nfs | StorageType::Cifs => [ContentType::Images].into(),
            StorageType::CephFs => [ContentType::Backup].into(),
        }
    }

    /// Whether `content none` is accepted.
    fn allows_content_none(self) -> bool {
        matches!(self, StorageType::Dir | StorageType::Btrfs)
    }

    /// Network storages are the same on every node, whatever the file says (PVE's
    /// `@SHARED_STORAGE`).
    fn always_shared(self) -> bool {
        self.is_network_fs()
    }
}

/// One storage of storage.cfg.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StorageDef {
    /// The storage id (`local`).
    pub id: String,
    /// Its type.
    pub kind: StorageType,
    /// The directory of a file-based storage as written in storage.cfg (absolute on the
    /// host; `/mnt/pve/<id>` for nfs/cifs/cephfs without one); `None` for LVM storages.
    pub path: Option<PathBuf>,
    /// What it may hold.
    pub content: BTreeSet<ContentType>,
    /// `disable 1`: not used.
    pub disabled: bool,
    /// `shared 1`: the same storage on every node (always for nfs, cifs and cephfs).
    pub shared: bool,
    /// Every other key of the section as written (`prune-backups`, `nodes`, `is_mountpoint`,
    /// `content-dirs`, `nocow`, `vgname`, `thinpool`, ...); kept so nothing in the file is
    /// lost.
    pub options: BTreeMap<String, String>,
}

/// The host's storage.cfg.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StorageConfig {
    /// The host root every storage path is resolved under.
    pub root: PathBuf,
    /// The storages corral implements, in file order.
    pub storages: Vec<StorageDef>,
    /// Sections of types corral does not implement, as `(id, type)`, in file order.
    pub unsupported: Vec<(String, String)>,
    /// What PVE would warn about while reading the file (skipped lines and sections); the
    /// caller prints them to stderr as pct does.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// The name PVE uses for the file in its parser warnings.
const CFG_NAME: &str = "storage.cfg";
const LOCAL_PATH: &str = "/var/lib/vz";

/// Perl's `\s`.
fn is_perl_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// A boolean as PVE's schema reads it (`1|on|yes|true`, `0|off|no|false`, any case).
pub(crate) fn parse_boolean(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some(true),
        "0" | "off" | "no" | "false" => Some(false),
        _ => None,
    }
}

/// PVE's `split_list`: items separated by `,`, `;` or whitespace.
pub(crate) fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c == ',' || c == ';' || is_perl_space(c))
        .filter(|s| !s.is_empty())
}

/// `^(\S+):\s*(\S+)\s*$` → (type, id).
fn parse_section_header(line: &str) -> Option<(String, String)> {
    let text = line.trim_end_matches(is_perl_space);
    if text.is_empty() || text.starts_with(is_perl_space) {
        return None;
    }
    if let Some(space) = text.rfind(is_perl_space) {
        let id = &text[space + 1..];
        let head = text[..space]
            .trim_end_matches(is_perl_space)
            .strip_suffix(':')?;
        if head.is_empty() || head.contains(is_perl_space) {
            return None;
        }
        return Some((head.to_lowercase(), id.to_string()));
    }
    // No whitespace at all: the greedy type runs up to the last `:` that leaves an id.
    let mut end = text.len();
    while let Some(colon) = text[..end].rfind(':') {
        if colon > 0 && colon + 1 < text.len() {
            return Some((text[..colon].to_lowercase(), text[colon + 1..].to_string()));
        }
        end = colon;
    }
    None
}

/// `^\s+(\S+)(\s+(.*\S))?\s*$` → (key, value).
fn parse_property_line(line: &str) -> Option<(&str, Option<&str>)> {
    if !line.starts_with(is_perl_space) {
        return None;
    }
    let text = line.trim_matches(is_perl_space);
    if text.is_empty() {
        return None;
    }
    match text.find(is_perl_space) {
        Some(split) => Some((
            &text[..split],
            Some(text[split..].trim_start_matches(is_perl_space)),
        )),
        None => Some((text, None)),
    }
}

/// Why a storage.cfg section is skipped (PVE's `check_config`); the reader warns with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum SectionError {
    #[error("got undefined value for option '{key}'")]
    UndefinedValue { key: String },
    #[error("missing value for required option '{key}'")]
    MissingKey { key: &'static str },
    #[error("lvm name '{name}' contains illegal characters")]
    LvmName { name: String },
    #[error("illegal path for directory storage: {path}")]
    IllegalPath { path: String },
    #[error("unable to combine 'none' with other content types")]
    NoneWithOthers,
    #[error("storage does not support content type 'none'")]
    NoneUnsupported,
    #[error(
        "invalid ZFS blocksize format '{value}'. Use a positive number (no leading zeros) \
         with an optional 'k' or 'm' suffix."
    )]
    ZfsBlocksizeFormat { value: String },
    #[error(
        "value '{value}' is not a valid ZFS blocksize. Must be a power of 2 between 512B and \
         16MiB (e.g., 4k, 8k, 16k, 64k, 1m)."
    )]
    ZfsBlocksize { value: String },
}

/// DirPlugin's path check (`^/[-/a-zA-Z0-9_.@]+$`) and `canonpath`; `..` is refused as well
/// because every path is joined under the host root and must not climb out of it.
fn check_storage_path(path: &str) -> Result<PathBuf, SectionError> {
    let illegal = || SectionError::IllegalPath {
        path: path.to_string(),
    };
    let allowed =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'_' | b'.' | b'@');
    if path.len() < 2 || !path.starts_with('/') || !path.bytes().all(allowed) {
        return Err(illegal());
    }
    let mut clean = PathBuf::from("/");
    for component in Path::new(path).components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => clean.push(part),
            Component::ParentDir | Component::Prefix(_) => return Err(illegal()),
        }
    }
    Ok(clean)
}

/// One `<type>: <id>` section being read.
struct SectionDraft {
    kind: StorageType,
    id: String,
    values: BTreeMap<String, Option<String>>,
}

impl SectionDraft {
    /// PVE's `check_config` for a new section: decode every value and require the type's
    /// fixed keys.
    fn finish(self, warnings: &mut Vec<String>) -> Result<StorageDef, SectionError> {
        let mut def = StorageDef {
            id: self.id,
            kind: self.kind,
            path: None,
            content: self.kind.default_content(),
            disabled: false,
            shared: false,
            options: BTreeMap::new(),
        };
        let mut path = None;
        for key in self.kind.required_keys() {
            if !self.values.contains_key(*key) {
                return Err(SectionError::MissingKey { key });
            }
        }
        for (key, value) in self.values {
            let value = match (value, StorageType::is_boolean_key(&key)) {
                (Some(value), _) => value,
                // A bare boolean key means "on".
                (None, true) => "1".to_string(),
                (None, false) => return Err(SectionError::UndefinedValue { key }),
            };
            match key.as_str() {
                "path" => path = Some(value),
                "content" => def.content = decode_content(self.kind, &value, warnings)?,
                "disable" => def.disabled = decode_flag(&value),
                "shared" => def.shared = decode_flag(&value),
                "format" if !self.kind.valid_formats().contains(&value.as_str()) => {
                    warnings.push(format!("storage does not support format '{value}'"));
                }
                "vgname" | "thinpool" => {
                    check_lvm_name(&value)?;
                    def.options.insert(key, value);
                }
                "blocksize" => {
                    check_zfs_blocksize(&value)?;
                    def.options.insert(key, value);
                }
                _ => {
                    def.options.insert(key, value);
                }
            }
        }
        if self.kind.is_network_fs() {
            path.get_or_insert_with(|| format!("/mnt/pve/{}", def.id));
        }
        def.path = path.map(|path| check_storage_path(&path)).transpose()?;
        def.shared |= self.kind.always_shared();
        Ok(def)
    }
}

/// PVE's `pve-storage-vgname` format, for `vgname` and `thinpool`.
fn check_lvm_name(name: &str) -> Result<(), SectionError> {
    let inner = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    let bytes = name.as_bytes();
    let ok = bytes.len() >= 2
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes.iter().all(|&b| inner(b));
    if ok {
        Ok(())
    } else {
        Err(SectionError::LvmName {
            name: name.to_string(),
        })
    }
}

/// PVE's `pve-storage-zfs-blocksize` format: a power of two from 512 bytes to 16 MiB, with
/// an optional `k` or `m` suffix.
fn check_zfs_blocksize(value: &str) -> Result<(), SectionError> {
    let lower = value.to_ascii_lowercase();
    let (digits, unit) = match lower.strip_suffix(['k', 'm']) {
        Some(digits) => (
            digits,
            if lower.ends_with('k') {
                1 << 10
            } else {
                1 << 20
            },
        ),
        None => (lower.as_str(), 1u64),
    };
    let well_formed = !digits.is_empty()
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        return Err(SectionError::ZfsBlocksizeFormat {
            value: value.to_string(),
        });
    }
    let bytes = digits.parse::<u64>().ok().and_then(|n| n.checked_mul(unit));
    match bytes {
        Some(bytes) if (512..=16 << 20).contains(&bytes) && bytes.is_power_of_two() => Ok(()),
        _ => Err(SectionError::ZfsBlocksize {
            value: value.to_string(),
        }),
    }
}

/// A boolean value after PVE's line check; numbers count by value, as Perl numifies them.
fn decode_flag(value: &str) -> bool {
    parse_boolean(value).unwrap_or_else(|| value.parse::<f64>().is_ok_and(|n| n != 0.0))
}

fn decode_content(
    kind: StorageType,
    value: &str,
    warnings: &mut Vec<String>,
) -> Result<BTreeSet<ContentType>, SectionError> {
    let mut content = BTreeSet::new();
    let mut none = false;
    for item in split_list(value) {
        match ContentType::from_name(item) {
            Some(content_type) if kind.valid_content().contains(&content_type) => {
                content.insert(content_type);
            }
            None if item == "none" && kind.allows_content_none() => none = true,
            _ => warnings.push(format!("storage does not support content type '{item}'")),
        }
    }
    if none && !content.is_empty() {
        return Err(SectionError::NoneWithOthers);
    }
    if content.is_empty() && !none && !kind.allows_content_none() {
        return Err(SectionError::NoneUnsupported);
    }
    Ok(content)
}

impl StorageDef {
    /// PVE's `local` storage when storage.cfg lacks a usable one.
    pub fn default_local() -> StorageDef {
        StorageDef {
            id: "local".to_string(),
            kind: StorageType::Dir,
            path: Some(PathBuf::from(LOCAL_PATH)),
            content: [
                ContentType::Backup,
                ContentType::Images,
                ContentType::Iso,
                ContentType::Rootdir,
                ContentType::Snippets,
                ContentType::Vztmpl,
            ]
            .into(),
            disabled: false,
            shared: false,
            options: [("prune-backups".to_string(), "keep-all=1".to_string())].into(),
        }
    }

    /// Whether the storage may hold `content`.
    pub fn allows(&self, content: ContentType) -> bool {
        self.content.contains(&content)
    }

    /// A boolean option (`mkdir`, `create-subdirs`, `nocow`, ...), `default` when unset.
    pub(crate) fn flag(&self, key: &str, default: bool) -> bool {
        self.options.get(key).map_or(default, |v| decode_flag(v))
    }

    /// The directory (relative to the storage path) for `content`, honouring `content-dirs`.
    pub fn content_subdir(&self, content: ContentType) -> PathBuf {
        let overridden = self.options.get("content-dirs").and_then(|dirs| {
            split_list(dirs).find_map(|entry| {
                let (kind, dir) = entry.split_once('=')?;
                (kind == content.name()).then_some(dir)
            })
        });
        // An override is relative and may not climb out of the storage.
        match overridden.map(Path::new) {
            Some(dir)
                if dir
                    .components()
                    .all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) =>
            {
                dir.to_path_buf()
            }
            _ => PathBuf::from(content.default_subdir()),
        }
    }
}

impl StorageConfig {
    /// Read `<root>/etc/pve/storage.cfg`; without the file, the default `local` dir storage at
    /// var/lib/vz with content vztmpl,rootdir,images,snippets,backup,iso.
    pub fn load(root: &Path) -> Result<StorageConfig, StorageError> {
        let file = root.join("etc/pve/storage.cfg");
        let text = match std::fs::read(&file) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(StorageError::Io {
                    context: format!("unable to read '{}'", file.display()),
                    source,
                });
            }
        };
        StorageConfig::parse(root, &text)
    }

    /// Parse storage.cfg text; paths resolve under `root`.
    pub fn parse(root: &Path, text: &str) -> Result<StorageConfig, StorageError> {
        let mut storages: Vec<StorageDef> = Vec::new();
        let mut unsupported = Vec::new();
        let mut warnings = Vec::new();
        // Comment lines vanish before anything else sees them, even inside a section.
        let mut lines = text
            .split('\n')
            .enumerate()
            .map(|(index, line)| (index + 1, line))
            .filter(|(_, line)| !line.trim_start_matches(is_perl_space).starts_with('#'));

        while let Some((lineno, line)) = lines.next() {
            if line.is_empty() {
                continue;
            }
            let Some((type_name, id)) = parse_section_header(line) else {
                warnings.push(format!(
                    "file {CFG_NAME} line {lineno} - ignore config line: {line}"
                ));
                continue;
            };
            let prefix = |n: usize| format!("file {CFG_NAME} line {n}");
            let mut skip = false;
            if let Some(message) = storage_id_error(&id) {
                warnings.push(format!(
                    "{} (skip section '{id}'): {message}",
                    prefix(lineno)
                ));
                skip = true;
            }
            let kind = StorageType::from_name(&type_name);
            if kind.is_none() && !skip {
                unsupported.push((id.clone(), type_name.clone()));
                skip = true;
            }
            let mut draft = kind.map(|kind| SectionDraft {
                kind,
                id: id.clone(),
                values: BTreeMap::new(),
            });
            let mut last_lineno = lineno;
            // The section runs up to the next empty line; a header without one before it is
            // just a bad line of the current section, as in PVE.
            for (lineno, line) in lines.by_ref() {
                if line.is_empty() {
                    break;
                }
                let Some(draft) = draft.as_mut().filter(|_| !skip) else {
                    continue;
                };
                last_lineno = lineno;
                let Some((key, value)) = parse_property_line(line) else {
                    warnings.push(format!(
                        "{} (section '{id}') - ignore config line: {line}",
                        prefix(lineno)
                    ));
                    continue;
                };
                let known =
                    matches!(key, "content" | "disable") || draft.kind.other_keys().contains(&key);
                let problem = if !known {
                    Some(format!("unexpected property '{key}'"))
                } else if draft.values.contains_key(key) {
                    Some("duplicate attribute".to_string())
                } else if value.is_none() && !StorageType::is_boolean_key(key) {
                    Some("got undefined value".to_string())
                } else {
                    None
                };
                match problem {
                    Some(problem) => warnings.push(format!(
                        "{} (section '{id}') - unable to parse value of '{key}': {problem}",
                        prefix(lineno)
                    )),
                    None => {
                        draft
                            .values
                            .insert(key.to_string(), value.map(str::to_string));
                    }
                }
            }
            if let Some(draft) = draft.filter(|_| !skip) {
                match draft.finish(&mut warnings) {
                    Ok(def) => {
                        // A repeated id replaces the earlier section, as in PVE.
                        storages.retain(|s| s.id != def.id);
                        storages.push(def);
                    }
                    Err(message) => warnings.push(format!(
                        "{} (skip section '{id}'): {message}",
                        prefix(last_lineno)
                    )),
                }
            }
        }

        // PVE keeps `local` the same on every node: a dir storage at /var/lib/vz, first in the
        // list, without node restrictions.
        let local_ok = storages.iter().any(|s| {
            s.id == "local"
                && s.kind == StorageType::Dir
                && s.path.as_deref() == Some(Path::new(LOCAL_PATH))
        });
        if local_ok {
            for storage in storages.iter_mut().filter(|s| s.id == "local") {
                storage.options.remove("nodes");
            }
        } else {
            storages.retain(|s| s.id != "local");
            storages.insert(0, StorageDef::default_local());
        }
        Ok(StorageConfig {
            root: root.to_path_buf(),
            storages,
            unsupported,
            warnings,
        })
    }

    /// The storage named `id`; `storage 'id' does not exist` otherwise.
    pub fn storage(&self, id: &str) -> Result<&StorageDef, StorageError> {
        if let Some(def) = self.storages.iter().find(|s| s.id == id) {
            return Ok(def);
        }
        if let Some((_, kind)) = self.unsupported.iter().find(|(sid, _)| sid == id) {
            return Err(StorageError::Invalid(format!(
                "storage '{id}' has type '{kind}', which corral does not support (only {})",
                StorageType::SUPPORTED
            )));
        }
        Err(StorageError::Invalid(format!(
            "storage '{id}' does not exist"
        )))
    }

    /// The host directory a storage's volumes are in: a file storage's `path` under the host
    /// root; an LVM storage's device directory `/dev/<vgname>` (devices are the kernel's,
    /// never under a test root).
    pub fn storage_path(&self, def: &StorageDef) -> PathBuf {
        match &def.path {
            Some(path) => self.under_root(path),
            None => Path::new("/dev").join(def.options.get("vgname").map_or("", String::as_str)),
        }
    }

    /// `path` (absolute on the host) as seen from the host root.
    pub fn under_root(&self, path: &Path) -> PathBuf {
        let relative = path.strip_prefix("/").unwrap_or(path);
        if relative.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(relative)
        }
    }

    /// The host directory holding `content` on `def`.
    pub fn content_path(&self, def: &StorageDef, content: ContentType) -> PathBuf {
        self.storage_path(def).join(def.content_subdir(content))
    }

    /// A template given as `local:vztmpl/NAME.tar.gz` or as a plain path (under the host root
    /// when relative to it). Missing files are an error naming the volume.
    ///
    /// As in pct, a volume must name a `vztmpl/` archive and its storage must be enabled (the
    /// storage's `content` list is not consulted). An absolute path is taken under the host
    /// root; a relative one from the current directory. Errors: `can't find file 'X'`,
    /// `unable to use volume X - content type needs to be 'vztmpl'`.
    pub fn template_path(
        &self,
        template: impl AsRef<std::ffi::OsStr>,
    ) -> Result<PathBuf, StorageError> {
        use std::os::unix::ffi::OsStrExt;
        let template = template.as_ref();
        let path = self.template_location(template)?;
        if !path.is_file() {
            return Err(StorageError::Invalid(format!(
                "can't find file '{}'",
                crate::text::for_message(template.as_bytes())
            )));
        }
        Ok(path)
    }

    /// Where `template` would be: its volume checked (content type, storage enabled and
    /// active), the file itself not looked at. pct checks these before its create task and
    /// looks for the file only inside it.
    pub fn template_location(
        &self,
        template: impl AsRef<std::ffi::OsStr>,
    ) -> Result<PathBuf, StorageError> {
        use std::os::unix::ffi::OsStrExt;
        let template = template.as_ref();
        let path = match template.to_str().map(VolumeId::parse) {
            Some(Ok(volid)) => {
                let kind = volid.kind()?;
                if !matches!(kind, VolumeKind::Vztmpl(_)) {
                    return Err(StorageError::Invalid(format!(
                        "unable to use volume {} - content type needs to be 'vztmpl'",
                        crate::text::for_message(template.as_bytes())
                    )));
                }
                self.activate_storage(&volid.storage)?;
                self.volume_path(&volid)?
            }
            // Not a volume id: a path, which may be any bytes.
            _ => {
                let path = Path::new(template);
                if path.is_absolute() {
                    self.under_root(path)
                } else {
                    path.to_path_buf()
                }
            }
        };
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "/test-root";

    fn parse(text: &str) -> StorageConfig {
        StorageConfig::parse(Path::new(ROOT), text).unwrap()
    }

    fn ids(config: &StorageConfig) -> Vec<&str> {
        config.storages.iter().map(|s| s.id.as_str()).collect()
    }

    const SAMPLE: &str = "\
# managed by hand
dir: local
\tpath /var/lib/vz
\tcontent iso,vztmpl,backup
\tprune-backups keep-all=1

lvmthin: local-lvm
\tthinpool data
\tvgname pve
\tcontent rootdir,images

dir: bulk
\tpath /srv//bulk/
\tcontent rootdir images;snippets
\tshared 1
\tnodes pve1,pve2
\tis_mountpoint no
\tcontent-dirs vztmpl=tmpl/cache

btrfs: fast
\tpath /mnt/fast
\tcontent rootdir,images
\tdisable

rbd: tank
\tpool tank
";

    #[test]
    fn parses_sections_of_supported_types() {
        let config = parse(SAMPLE);
        assert_eq!(ids(&config), ["local", "local-lvm", "bulk", "fast"]);
        assert_eq!(config.unsupported, [("tank".into(), "rbd".into())]);
        let lvm = config.storage("local-lvm").unwrap();
        assert_eq!(lvm.kind, StorageType::LvmThin);
        assert_eq!(lvm.path, None);
        assert_eq!(
            (
                lvm.options["vgname"].as_str(),
                lvm.options["thinpool"].as_str()
            ),
            ("pve", "data")
        );
        assert_eq!(config.storage_path(lvm), Path::new("/dev/pve"));
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);

        let local = config.storage("local").unwrap();
        assert_eq!(
            local.content,
            [ContentType::Iso, ContentType::Vztmpl, ContentType::Backup].into()
        );
        assert_eq!(local.options["prune-backups"], "keep-all=1");

        let bulk = config.storage("bulk").unwrap();
        assert_eq!(bulk.kind, StorageType::Dir);
        assert_eq!(bulk.path.as_deref(), Some(Path::new("/srv/bulk")));
        assert_eq!(
            bulk.content,
            [
                ContentType::Rootdir,
                ContentType::Images,
                ContentType::Snippets
            ]
            .into()
        );
        assert!(bulk.shared && !bulk.disabled);
        assert_eq!(bulk.options["nodes"], "pve1,pve2");
        assert_eq!(config.storage_path(bulk), Path::new("/test-root/srv/bulk"));

        let fast = config.storage("fast").unwrap();
        assert_eq!(fast.kind, StorageType::Btrfs);
        assert!(fast.disabled, "a bare boolean key means on");
        assert_eq!(
            config.enabled_storage("fast").unwrap_err().to_string(),
            "storage 'fast' is disabled"
        );
    }

    #[test]
    fn missing_file_and_empty_text_give_pve_default_local() {
        let dir = tempfile::tempdir().unwrap();
        let config = StorageConfig::load(dir.path()).unwrap();
        assert_eq!(config.storages, [StorageDef::default_local()]);
        let local = &config.storages[0];
        assert_eq!(local.path.as_deref(), Some(Path::new("/var/lib/vz")));
        let names: Vec<_> = local.content.iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            ["images", "rootdir", "vztmpl", "iso", "backup", "snippets"]
        );
        assert_eq!(config.storage_path(local), dir.path().join("var/lib/vz"));
        assert_eq!(parse("").storages, [StorageDef::default_local()]);
    }

    #[test]
    fn load_reads_the_file_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/pve")).unwrap();
        std::fs::write(
            dir.path().join("etc/pve/storage.cfg"),
            "dir: store1\n\tpath /data\n",
        )
        .unwrap();
        let config = StorageConfig::load(dir.path()).unwrap();
        assert_eq!(ids(&config), ["local", "store1"]);
        assert_eq!(config.root, dir.path());
    }

    #[test]
    fn local_is_forced_to_a_dir_at_var_lib_vz() {
        let config = parse("dir: data\n\tpath /data\n\nbtrfs: local\n\tpath /var/lib/vz\n");
        assert_eq!(ids(&config), ["local", "data"]);
        assert_eq!(
            config.storage("local").unwrap(),
            &StorageDef::default_local()
        );
        let config = parse("dir: local\n\tpath /elsewhere\n");
        assert_eq!(
            config.storage("local").unwrap().path.as_deref(),
            Some(Path::new("/var/lib/vz"))
        );
        // A proper local keeps its content and position but loses node restrictions.
        let config = parse(
            "dir: a1\n\tpath /a\n\ndir: local\n\tpath /var/lib/vz/\n\tnodes n1\n\tcontent iso\n",
        );
        assert_eq!(ids(&config), ["a1", "local"]);
        let local = config.storage("local").unwrap();
        assert_eq!(local.content, [ContentType::Iso].into());
        assert!(!local.options.contains_key("nodes"));
    }

    #[test]
    fn default_content_is_images_and_rootdir_and_none_is_empty() {
        let config = parse("dir: d1\n\tpath /d1\n\ndir: d2\n\tpath /d2\n\tcontent none\n");
        assert_eq!(
            config.storage("d1").unwrap().content,
            [ContentType::Images, ContentType::Rootdir].into()
        );
        assert!(config.storage("d2").unwrap().content.is_empty());
    }

    #[test]
    fn bad_lines_and_sections_are_skipped_with_pve_warnings() {
        let text = "\
stray line
dir: ok1
\tpath /ok
\tcontent images,bogus
\tfrobnicate 1
\tpath /again
\tformat qcow9
not indented
   \t
\tshared

dir: nopath
\tcontent images

dir: x!
\tpath /x

dir: badpath
\tpath relative/dir

dir: mixed
\tpath /mixed
\tcontent none,images

dir: climb
\tpath /a/../etc
dir: swallowed
\tpath /swallowed
";
        let config = parse(text);
        assert_eq!(ids(&config), ["local", "ok1"]);
        let ok1 = config.storage("ok1").unwrap();
        assert_eq!(ok1.path.as_deref(), Some(Path::new("/ok")));
        assert_eq!(ok1.content, [ContentType::Images].into());
        assert!(ok1.shared);
        assert!(!ok1.options.contains_key("format"));
        let expected = [
            "file storage.cfg line 1 - ignore config line: stray line",
            "file storage.cfg line 5 (section 'ok1') - unable to parse value of 'frobnicate': unexpected property 'frobnicate'",
            "file storage.cfg line 6 (section 'ok1') - unable to parse value of 'path': duplicate attribute",
            "file storage.cfg line 8 (section 'ok1') - ignore config line: not indented",
            "file storage.cfg line 9 (section 'ok1') - ignore config line:    \t",
            "storage does not support content type 'bogus'",
            "storage does not support format 'qcow9'",
            "file storage.cfg line 13 (skip section 'nopath'): missing value for required option 'path'",
            "file storage.cfg line 15 (skip section 'x!'): storage ID 'x!' contains illegal characters",
            "file storage.cfg line 19 (skip section 'badpath'): illegal path for directory storage: relative/dir",
            "file storage.cfg line 23 (skip section 'mixed'): unable to combine 'none' with other content types",
            "file storage.cfg line 27 (section 'climb') - ignore config line: dir: swallowed",
            "file storage.cfg line 28 (section 'climb') - unable to parse value of 'path': duplicate attribute",
            "file storage.cfg line 28 (skip section 'climb'): illegal path for directory storage: /a/../etc",
        ];
        assert_eq!(config.warnings, expected);
        assert_eq!(
            check_storage_path("/a/../etc"),
            Err(SectionError::IllegalPath {
                path: "/a/../etc".into()
            })
        );
        assert_eq!(
            decode_content(StorageType::Dir, "none,images", &mut Vec::new()),
            Err(SectionError::NoneWithOthers)
        );
    }

    #[test]
    fn block_and_network_storages_take_their_own_keys() {
        let text = "\
lvm: thick
\tvgname vg0
\tsaferemove 1
\tcontent rootdir,images,iso
\tpath /nope

lvmthin: thin
\tvgname vg0
\tthinpool pool
\tshared 1

lvm: novg
\tcontent images

lvmthin: badvg
\tvgname -vg
\tthinpool pool

nfs: share1
\tserver 10.0.0.1
\texport /export
\toptions vers=4.2

cifs: smb
\tserver 10.0.0.2
\tshare data
\tpath /mnt/smb
\tcontent rootdir

cephfs: ceph
\tcontent vztmpl,rootdir
";
        let config = parse(text);
        assert_eq!(
            ids(&config),
            ["local", "thick", "thin", "share1", "smb", "ceph"]
        );
        let thick = config.storage("thick").unwrap();
        assert_eq!(thick.kind, StorageType::Lvm);
        assert_eq!(
            thick.content,
            [ContentType::Images, ContentType::Rootdir].into()
        );
        assert!(thick.flag("saferemove", false));
        assert_eq!(config.storage("thin").unwrap().content.len(), 2);
        let share = config.storage("share1").unwrap();
        assert_eq!(share.path.as_deref(), Some(Path::new("/mnt/pve/share1")));
        assert!(share.shared, "network storages are always shared");
        assert_eq!(share.content, [ContentType::Images].into());
        assert_eq!(
            config.storage("smb").unwrap().path.as_deref(),
            Some(Path::new("/mnt/smb"))
        );
        let ceph = config.storage("ceph").unwrap();
        assert_eq!(ceph.content, [ContentType::Vztmpl].into());
        assert_eq!(
            config.warnings,
            [
                "file storage.cfg line 5 (section 'thick') - unable to parse value of 'path': unexpected property 'path'",
                "storage does not support content type 'iso'",
                "file storage.cfg line 10 (section 'thin') - unable to parse value of 'shared': unexpected property 'shared'",
                "file storage.cfg line 13 (skip section 'novg'): missing value for required option 'vgname'",
                "file storage.cfg line 17 (skip section 'badvg'): lvm name '-vg' contains illegal characters",
                "storage does not support content type 'rootdir'",
            ]
        );
        // A block storage without content it can hold says so, as PVE.
        let config = parse("lvm: l1\n\tvgname vg\n\tcontent iso\n");
        assert_eq!(
            config.warnings,
            [
                "storage does not support content type 'iso'",
                "file storage.cfg line 3 (skip section 'l1'): storage does not support content type 'none'"
            ]
        );
    }

    #[test]
    fn zfspool_sections_take_pve_storages_keys_and_blocksizes() {
        let text = "\
zfspool: local-zfs
\tpool rpool/data
\tsparse
\tblocksize 16k
\tmountpoint /rpool/data
\tcontent images,rootdir

zfspool: nopool
\tcontent rootdir

zfspool: odd
\tpool tank
\tblocksize 12k

zfspool: zeros
\tpool tank
\tblocksize 016k

zfspool: huge
\tpool tank
\tblocksize 32M
\tpath /x
";
        let config = parse(text);
        assert_eq!(ids(&config), ["local", "local-zfs"]);
        let zfs = config.storage("local-zfs").unwrap();
        assert_eq!(zfs.kind, StorageType::ZfsPool);
        assert_eq!(zfs.options["pool"], "rpool/data");
        assert!(zfs.flag("sparse", false));
        assert_eq!(zfs.options["mountpoint"], "/rpool/data");
        assert_eq!(
            zfs.content,
            [ContentType::Images, ContentType::Rootdir].into()
        );
        assert_eq!(
            config.warnings,
            [
                "file storage.cfg line 9 (skip section 'nopool'): missing value for required option 'pool'",
                "file storage.cfg line 13 (skip section 'odd'): value '12k' is not a valid ZFS blocksize. Must be a power of 2 between 512B and 16MiB (e.g., 4k, 8k, 16k, 64k, 1m).",
                "file storage.cfg line 17 (skip section 'zeros'): invalid ZFS blocksize format '016k'. Use a positive number (no leading zeros) with an optional 'k' or 'm' suffix.",
                "file storage.cfg line 22 (section 'huge') - unable to parse value of 'path': unexpected property 'path'",
                "file storage.cfg line 22 (skip section 'huge'): value '32M' is not a valid ZFS blocksize. Must be a power of 2 between 512B and 16MiB (e.g., 4k, 8k, 16k, 64k, 1m).",
            ]
        );
        for good in ["512", "4k", "1M", "16m"] {
            assert_eq!(check_zfs_blocksize(good), Ok(()), "{good}");
        }
        assert!(matches!(
            check_zfs_blocksize("256"),
            Err(SectionError::ZfsBlocksize { .. })
        ));
    }

    #[test]
    fn header_forms() {
        assert_eq!(
            parse_section_header("dir: local"),
            Some(("dir".into(), "local".into()))
        );
        assert_eq!(
            parse_section_header("DIR:local  \r"),
            Some(("dir".into(), "local".into()))
        );
        assert_eq!(
            parse_section_header("a:b:"),
            Some(("a".into(), "b:".into()))
        );
        assert_eq!(parse_section_header("dir: local extra"), None);
        assert_eq!(parse_section_header(" dir: local"), None);
        assert_eq!(parse_section_header("dir :local"), None);
        assert_eq!(parse_section_header(":local"), None);
        assert_eq!(
            parse_property_line("\tcontent  a, b  \r"),
            Some(("content", Some("a, b")))
        );
        assert_eq!(parse_property_line("  disable"), Some(("disable", None)));
        assert_eq!(parse_property_line("disable 1"), None);
    }

    #[test]
    fn storage_lookup_errors() {
        let config = parse(SAMPLE);
        assert_eq!(
            config.storage("nope").unwrap_err().to_string(),
            "storage 'nope' does not exist"
        );
        assert_eq!(
            config.storage("tank").unwrap_err().to_string(),
            "storage 'tank' has type 'rbd', which corral does not support (only dir, btrfs, lvm, lvmthin, nfs, cifs, cephfs and zfspool)"
        );
    }

    #[test]
    fn volume_paths_follow_pve_layout() {
        let config = parse(SAMPLE);
        let path = |v: &str| {
            config
                .volume_path(&VolumeId::parse(v).unwrap())
                .map(|p| p.display().to_string())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            path("local:100/vm-100-disk-0.raw").unwrap(),
            "/test-root/var/lib/vz/images/100/vm-100-disk-0.raw"
        );
        assert_eq!(
            path("local:100/subvol-100-disk-1.subvol").unwrap(),
            "/test-root/var/lib/vz/images/100/subvol-100-disk-1.subvol"
        );
        assert_eq!(
            path("local:100/base-100-disk-0.raw/105/vm-105-disk-0.qcow2").unwrap(),
            "/test-root/var/lib/vz/images/105/vm-105-disk-0.qcow2"
        );
        assert_eq!(
            path("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst").unwrap(),
            "/test-root/var/lib/vz/template/cache/debian-12-standard_12.7-1_amd64.tar.zst"
        );
        assert_eq!(
            path("local:iso/x.iso").unwrap(),
            "/test-root/var/lib/vz/template/iso/x.iso"
        );
        assert_eq!(
            path("local:backup/vzdump-lxc-1.tgz").unwrap(),
            "/test-root/var/lib/vz/dump/vzdump-lxc-1.tgz"
        );
        assert_eq!(
            path("bulk:snippets/hook.pl").unwrap(),
            "/test-root/srv/bulk/snippets/hook.pl"
        );
        assert_eq!(
            path("bulk:vztmpl/a.tar.xz").unwrap(),
            "/test-root/srv/bulk/tmpl/cache/a.tar.xz"
        );
        // btrfs: raw images sit in their own subvolume, subvols are directories.
        assert_eq!(
            path("fast:100/vm-100-disk-0.raw").unwrap(),
            "/test-root/mnt/fast/images/100/vm-100-disk-0/disk.raw"
        );
        assert_eq!(
            path("fast:100/subvol-100-disk-1.subvol").unwrap(),
            "/test-root/mnt/fast/images/100/subvol-100-disk-1.subvol"
        );
        assert_eq!(
            path("gone:vztmpl/a.tar").unwrap_err(),
            "storage 'gone' does not exist"
        );
        assert_eq!(
            path("local:vztmpl/a.zip").unwrap_err(),
            "unable to parse directory volume name 'vztmpl/a.zip'"
        );
    }

    #[test]
    fn content_dir_overrides_cannot_climb_out() {
        let config = parse("dir: d1\n\tpath /d\n\tcontent-dirs vztmpl=../../etc,iso=isos\n");
        let d1 = config.storage("d1").unwrap();
        assert_eq!(
            d1.content_subdir(ContentType::Vztmpl),
            Path::new("template/cache")
        );
        assert_eq!(d1.content_subdir(ContentType::Iso), Path::new("isos"));
    }

    #[test]
    fn template_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/pve")).unwrap();
        std::fs::write(
            root.join("etc/pve/storage.cfg"),
            "dir: tmpl\n\tpath /srv/t\n\tcontent vztmpl\n\tdisable 1\n",
        )
        .unwrap();
        let config = StorageConfig::load(root).unwrap();
        let cache = root.join("var/lib/vz/template/cache");
        std::fs::create_dir_all(&cache).unwrap();
        std::fs::write(cache.join("alpine.tar.xz"), b"x").unwrap();
        std::fs::write(root.join("plain.tar.gz"), b"x").unwrap();

        assert_eq!(
            config.template_path("local:vztmpl/alpine.tar.xz").unwrap(),
            cache.join("alpine.tar.xz")
        );
        assert_eq!(
            config.template_path("/plain.tar.gz").unwrap(),
            root.join("plain.tar.gz")
        );
        let err = |t: &str| config.template_path(t).unwrap_err().to_string();
        assert_eq!(
            err("local:vztmpl/missing.tar.gz"),
            "can't find file 'local:vztmpl/missing.tar.gz'"
        );
        assert_eq!(err("/missing.tar.gz"), "can't find file '/missing.tar.gz'");
        // A directory is not a template either.
        assert_eq!(err("/var"), "can't find file '/var'");
        assert_eq!(
            err("local:iso/x.iso"),
            "unable to use volume local:iso/x.iso - content type needs to be 'vztmpl'"
        );
        assert_eq!(
            err("local:vztmpl/x.zip"),
            "unable to parse directory volume name 'vztmpl/x.zip'"
        );
        assert_eq!(err("nope:vztmpl/x.tar"), "storage 'nope' does not exist");
        assert_eq!(err("tmpl:vztmpl/x.tar"), "storage 'tmpl' is disabled");
    }

    #[test]
    fn activation_creates_content_dirs_and_checks_mount_points() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let text = "dir: d1\n\tpath /d1\n\tcontent rootdir,vztmpl\n\n\
                    dir: d2\n\tpath /d2\n\tcreate-base-path 0\n\n\
                    dir: d3\n\tpath /d3\n\tis_mountpoint yes\n\n\
                    btrfs: b1\n\tpath /b1\n";
        let config = StorageConfig::parse(root, text).unwrap();
        config.activate_storage("d1").unwrap();
        for sub in ["d1/private", "d1/template/cache", "d1/dump"] {
            assert!(root.join(sub).is_dir(), "{sub}");
        }
        assert!(!root.join("d1/images").exists());
        assert_eq!(
            config.activate_storage("d2").unwrap_err().to_string(),
            format!(
                "unable to activate storage 'd2' - directory '{}' does not exist or is unreachable",
                root.join("d2").display()
            )
        );
        assert_eq!(
            config.activate_storage("d3").unwrap_err().to_string(),
            format!(
                "unable to activate storage 'd3' - directory is expected to be a mount point but is not mounted: '{}'",
                root.join("d3").display()
            )
        );
        assert_eq!(
            config.activate_storage("b1").unwrap_err().to_string(),
            format!("'{}' is not a btrfs file system", root.join("b1").display())
        );
    }
}
