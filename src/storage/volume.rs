//! Volume ids (`local:100/vm-100-disk-0.raw`) and the `STORAGE:SIZE` allocation syntax.
//!
//! The volume name grammar is the one of PVE's file-based storages (dir and btrfs): images
//! live under `<vmid>/` and carry their format as the extension (`.raw` for ext4 images,
//! `.subvol` for directories), everything else is `<content>/<file>`.

use std::fmt;

use super::StorageError;
use super::cfg::ContentType;

/// A volume id, `storage:name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct VolumeId {
    /// The storage id (`local`).
    pub storage: String,
    /// The part after `storage:`, e.g. `100/vm-100-disk-0.raw` or `vztmpl/x.tar.gz`.
    pub name: String,
}

/// How a container volume is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeFormat {
    /// A raw image file holding ext4, loop-mounted.
    Raw,
    /// A directory (dir storage) or btrfs subvolume (btrfs storage).
    Subvol,
}

/// `STORAGE:SIZE` in a rootfs/mpN value: allocate a new volume of SIZE GiB (0 → a directory).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Allocation {
    /// The storage to allocate on.
    pub storage: String,
    /// The size in GiB; 0 for a directory without a size.
    pub size_gib: f64,
}

/// What a volume name on a dir/btrfs storage refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeKind {
    /// A guest disk: `<vmid>/<file>`, or a linked clone `<basevmid>/<basefile>/<vmid>/<file>`.
    /// `file` is e.g. `vm-100-disk-0.raw` or `subvol-100-disk-1.subvol`; `format` is its
    /// extension (`raw`, `subvol`, `qcow2`, `vmdk`).
    Image {
        /// The owning container.
        vmid: u32,
        /// The file name (`vm-100-disk-0.raw`).
        file: String,
        /// Its extension (`raw`, `subvol`, ...).
        format: String,
    },
    /// A container template archive under `template/cache`.
    Vztmpl(String),
    /// An ISO image under `template/iso`.
    Iso(String),
    /// A backup archive under `dump`.
    Backup(String),
    /// A snippet (e.g. a hookscript) under `snippets`.
    Snippets(String),
    /// An import source under `import`.
    Import(String),
}

impl VolumeKind {
    /// The storage content type this kind of volume belongs to (images count as `images`;
    /// PVE does not tell container disks apart by name).
    pub fn content_type(&self) -> ContentType {
        match self {
            VolumeKind::Image { .. } => ContentType::Images,
            VolumeKind::Vztmpl(_) => ContentType::Vztmpl,
            VolumeKind::Iso(_) => ContentType::Iso,
            VolumeKind::Backup(_) => ContentType::Backup,
            VolumeKind::Snippets(_) => ContentType::Snippets,
            VolumeKind::Import(_) => ContentType::Import,
        }
    }
}

/// The highest disk number + 1 PVE hands out per guest and storage.
pub(crate) const MAX_VOLUMES_PER_GUEST: u32 = 1024;

/// pve-storage-id: a letter, then letters, digits, `-`, `_`, `.`, ending in a letter or digit.
pub(crate) fn is_storage_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    bytes.len() >= 2
        && first.is_ascii_alphabetic()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The reason a storage id is rejected, in PVE's words; `None` when it is valid.
pub(crate) fn storage_id_error(id: &str) -> Option<String> {
    if id.chars().count() < 2 {
        Some(format!(
            "storage ID '{id}' cannot be shorter than 2 characters"
        ))
    } else if !is_storage_id(id) {
        Some(format!("storage ID '{id}' contains illegal characters"))
    } else {
        None
    }
}

fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// A single path component that is safe to join under a content directory.
fn plain_file_name(text: &str) -> bool {
    !text.is_empty() && !text.contains('/') && text != "." && text != ".."
}

fn has_suffix_ci(name: &str, suffix: &str) -> bool {
    name.len() > suffix.len()
        && name.is_char_boundary(name.len() - suffix.len())
        && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// `.tar`, `.tar.gz`, `.tar.xz`, `.tar.zst`, `.tar.bz2` (any case), as PVE's VZTMPL_EXT_RE.
pub(crate) fn is_template_archive_name(name: &str) -> bool {
    [".tar", ".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2"]
        .iter()
        .any(|ext| has_suffix_ci(name, ext))
}

fn is_iso_name(name: &str) -> bool {
    has_suffix_ci(name, ".iso") || has_suffix_ci(name, ".img")
}

/// `.tgz`, `.tar[.gz|.lzo|.zst|.bz2]`, `.vma[...]` (case-sensitive, as PVE's BACKUP_EXT_RE).
fn is_backup_name(name: &str) -> bool {
    if name.len() > 4 && name.ends_with(".tgz") {
        return true;
    }
    ["tar", "vma"].iter().any(|base| {
        let plain = format!(".{base}");
        name.len() > plain.len() && name.ends_with(&plain)
            || ["gz", "lzo", "zst", "bz2"].iter().any(|comp| {
                let ext = format!(".{base}.{comp}");
                name.len() > ext.len() && name.ends_with(&ext)
            })
    })
}

fn is_import_name(name: &str) -> bool {
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '+' | '=' | '_');
    ["ova", "ovf", "qcow2", "raw", "vmdk"].iter().any(|ext| {
        name.strip_suffix(&format!(".{ext}"))
            .is_some_and(|stem| !stem.is_empty() && stem.chars().all(safe))
    })
}

/// A disk image file name (PVE's `parse_name_dir`): `vm-|base-|subvol-<vmid>-...` or any name
/// without whitespace, with a `.raw|.qcow2|.vmdk|.subvol` extension. Returns the format.
pub(crate) fn image_file_format(file: &str) -> Option<&str> {
    if file.is_empty() || file.contains('/') || file.chars().any(char::is_whitespace) {
        return None;
    }
    let (stem, format) = file.rsplit_once('.')?;
    if stem.is_empty() || !matches!(format, "raw" | "qcow2" | "vmdk" | "subvol") {
        return None;
    }
    Some(format)
}

/// A volume name of a block or dataset storage (lvm, lvmthin, zfspool): `vm-<vmid>-…` or
/// `base-<vmid>-…` (raw), `subvol-<vmid>-…` or `basevol-<vmid>-…` (a directory); no `/`.
pub(crate) fn block_volume_name(name: &str) -> Option<(u32, VolumeFormat)> {
    if name.contains('/') || name.chars().any(char::is_whitespace) {
        return None;
    }
    let (prefix, rest) = name.split_once('-')?;
    let format = match prefix {
        "vm" | "base" => VolumeFormat::Raw,
        "subvol" | "basevol" => VolumeFormat::Subvol,
        _ => return None,
    };
    let (vmid, tail) = rest.split_once('-')?;
    if !all_digits(vmid) || tail.is_empty() {
        return None;
    }
    Some((vmid.parse().ok()?, format))
}

/// [`block_volume_name`], or a linked clone's `<base>/<name>` (zfspool names a clone after
/// the template's volume it is made from), which is the clone's: its owner and format.
fn linked_block_volume_name(name: &str) -> Option<(u32, VolumeFormat)> {
    match name.split_once('/') {
        Some((base, clone)) => {
            let is_base = base.starts_with("base-") || base.starts_with("basevol-");
            block_volume_name(base).filter(|_| is_base)?;
            block_volume_name(clone)
        }
        None => block_volume_name(name),
    }
}

impl VolumeId {
    /// Parse `storage:name`, with pct's checks of both parts.
    pub fn parse(text: &str) -> Result<VolumeId, StorageError> {
        let bad = || StorageError::Invalid(format!("unable to parse volume ID '{text}'"));
        let (storage, name) = text.split_once(':').ok_or_else(bad)?;
        // PVE matches `(.+)` for the name, which stops at a newline.
        if !is_storage_id(storage) || name.is_empty() || name.contains('\n') {
            return Err(bad());
        }
        Ok(VolumeId {
            storage: storage.to_string(),
            name: name.to_string(),
        })
    }

    /// What the name refers to on a dir/btrfs storage; PVE's
    /// `unable to parse directory volume name 'x'` otherwise.
    pub fn kind(&self) -> Result<VolumeKind, StorageError> {
        let name = self.name.as_str();
        let bad =
            || StorageError::Invalid(format!("unable to parse directory volume name '{name}'"));
        let parts: Vec<&str> = name.split('/').collect();
        let image = |vmid: &str, file: &str| -> Result<VolumeKind, StorageError> {
            let format = image_file_format(file).ok_or_else(|| {
                StorageError::Invalid(format!("unable to parse volume filename '{file}'"))
            })?;
            let vmid = vmid.parse::<u32>().map_err(|_| bad())?;
            Ok(VolumeKind::Image {
                vmid,
                file: file.to_string(),
                format: format.to_string(),
            })
        };
        match parts.as_slice() {
            [vmid, file] if all_digits(vmid) => image(vmid, file),
            [base_vmid, base_file, vmid, file] if all_digits(base_vmid) && all_digits(vmid) => {
                image(base_vmid, base_file)?;
                image(vmid, file)
            }
            ["vztmpl", file] if plain_file_name(file) && is_template_archive_name(file) => {
                Ok(VolumeKind::Vztmpl(file.to_string()))
            }
            ["iso", file] if plain_file_name(file) && is_iso_name(file) => {
                Ok(VolumeKind::Iso(file.to_string()))
            }
            ["backup", file] if plain_file_name(file) && is_backup_name(file) => {
                Ok(VolumeKind::Backup(file.to_string()))
            }
            ["snippets", file] if plain_file_name(file) => {
                Ok(VolumeKind::Snippets(file.to_string()))
            }
            ["import", file] if is_import_name(file) => Ok(VolumeKind::Import(file.to_string())),
            _ => Err(bad()),
        }
    }

    /// The owning container of an image volume (`100` in `100/vm-100-disk-0.raw`, or in
    /// `vm-100-disk-0` on a block or dataset storage; `101` for the linked clone
    /// `basevol-100-disk-0/subvol-101-disk-0`).
    pub fn owner(&self) -> Option<u32> {
        match self.kind() {
            Ok(VolumeKind::Image { vmid, .. }) => Some(vmid),
            _ => linked_block_volume_name(&self.name).map(|(vmid, _)| vmid),
        }
    }

    /// The format of a container volume: a file storage's extension, or on a block or
    /// dataset storage the name's prefix (`vm-`/`base-` raw, `subvol-`/`basevol-` a
    /// directory).
    pub fn format(&self) -> Option<VolumeFormat> {
        match self.kind() {
            Ok(VolumeKind::Image { format, .. }) => match format.as_str() {
                "raw" => Some(VolumeFormat::Raw),
                "subvol" => Some(VolumeFormat::Subvol),
                _ => None,
            },
            _ => linked_block_volume_name(&self.name).map(|(_, format)| format),
        }
    }
}

impl fmt::Display for VolumeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.storage, self.name)
    }
}

impl std::str::FromStr for VolumeId {
    type Err = StorageError;

    fn from_str(text: &str) -> Result<VolumeId, StorageError> {
        VolumeId::parse(text)
    }
}

impl Allocation {
    /// `Some` when `volume` is `STORAGE:SIZE` (size a number in GiB), else `None`.
    pub fn parse(volume: &str) -> Option<Allocation> {
        // pct's NEW_DISK_RE: `^([^:\s]+):(\d+(\.\d+)?)$`
        let (storage, size) = volume.split_once(':')?;
        if storage.is_empty() || storage.chars().any(char::is_whitespace) {
            return None;
        }
        let (whole, fraction) = match size.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (size, None),
        };
        if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
            return None;
        }
        let size_gib = size.parse::<f64>().ok().filter(|s| s.is_finite())?;
        Some(Allocation {
            storage: storage.to_string(),
            size_gib,
        })
    }

    /// The size pct allocates for this request: whole MiB (`int(GiB * 1024)`), in bytes;
    /// `None` when that does not fit in 64 bits.
    pub fn size_bytes(&self) -> Option<u64> {
        let mib = (self.size_gib * 1024.0).trunc();
        if !(mib.is_finite() && mib >= 0.0 && mib < u64::MAX as f64) {
            return None;
        }
        (mib as u64).checked_mul(1024 * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(text: &str) -> VolumeId {
        VolumeId::parse(text).unwrap()
    }

    fn err(result: Result<impl fmt::Debug, StorageError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn volume_id_round_trips() {
        for text in [
            "local:100/vm-100-disk-0.raw",
            "my-store.1:vztmpl/debian-12.tar.zst",
            "Ab:x:y",
        ] {
            assert_eq!(vol(text).to_string(), text);
        }
        let v = vol("local:100/subvol-100-disk-1.subvol");
        assert_eq!(v.storage, "local");
        assert_eq!(v.name, "100/subvol-100-disk-1.subvol");
        assert_eq!(
            "local:snippets/hook.pl".parse::<VolumeId>().unwrap().name,
            "snippets/hook.pl"
        );
    }

    #[test]
    fn volume_id_rejects_bad_storage_ids() {
        for text in [
            "",
            "local",
            "l:x",
            "1local:x",
            "local-:x",
            "lo cal:x",
            ":x",
            "local:",
            "lo/cal:x",
            "local:a\nb",
        ] {
            assert_eq!(
                err(VolumeId::parse(text)),
                format!("unable to parse volume ID '{text}'"),
                "{text:?}"
            );
        }
    }

    #[test]
    fn storage_id_errors_use_pve_words() {
        assert_eq!(
            storage_id_error("a").unwrap(),
            "storage ID 'a' cannot be shorter than 2 characters"
        );
        assert_eq!(
            storage_id_error("a!b").unwrap(),
            "storage ID 'a!b' contains illegal characters"
        );
        assert_eq!(storage_id_error("local-lvm"), None);
    }

    #[test]
    fn owner_and_format_follow_the_image_name() {
        let v = vol("local:100/vm-100-disk-0.raw");
        assert_eq!(
            (v.owner(), v.format()),
            (Some(100), Some(VolumeFormat::Raw))
        );
        let v = vol("local:101/subvol-101-disk-2.subvol");
        assert_eq!(
            (v.owner(), v.format()),
            (Some(101), Some(VolumeFormat::Subvol))
        );
        // Linked clone: the owner is the clone, not the base.
        let v = vol("local:100/base-100-disk-0.raw/105/vm-105-disk-0.qcow2");
        assert_eq!((v.owner(), v.format()), (Some(105), None));
        // A zfspool linked clone names its base first; it is the clone's.
        let v = vol("tank:basevol-100-disk-0/subvol-105-disk-1");
        assert_eq!(
            (v.owner(), v.format()),
            (Some(105), Some(VolumeFormat::Subvol))
        );
        let v = vol("tank:base-100-disk-0/vm-105-disk-0");
        assert_eq!(
            (v.owner(), v.format()),
            (Some(105), Some(VolumeFormat::Raw))
        );
        for text in [
            "local:vztmpl/x.tar.gz",
            "local:100/vm-100-disk-0",
            "tank:subvol-100-disk-0/subvol-105-disk-1",
            "tank:basevol-100-disk-0/subvol-105-disk-1/x",
            "local:abc/vm-1-disk-0.raw",
            "local:iso/x.iso",
        ] {
            assert_eq!(
                (vol(text).owner(), vol(text).format()),
                (None, None),
                "{text}"
            );
        }
    }

    #[test]
    fn kinds_of_directory_volume_names() {
        assert_eq!(
            vol("s1:vztmpl/debian.TAR.XZ").kind().unwrap(),
            VolumeKind::Vztmpl("debian.TAR.XZ".into())
        );
        assert_eq!(
            vol("s1:vztmpl/a.tar").kind().unwrap(),
            VolumeKind::Vztmpl("a.tar".into())
        );
        assert_eq!(
            vol("s1:iso/a.img").kind().unwrap(),
            VolumeKind::Iso("a.img".into())
        );
        assert_eq!(
            vol("s1:backup/vzdump-lxc-100-2024_01_01-00_00_00.tar.zst")
                .kind()
                .unwrap(),
            VolumeKind::Backup("vzdump-lxc-100-2024_01_01-00_00_00.tar.zst".into())
        );
        assert_eq!(
            vol("s1:snippets/hook.sh").kind().unwrap(),
            VolumeKind::Snippets("hook.sh".into())
        );
        assert_eq!(
            vol("s1:import/disk.qcow2").kind().unwrap(),
            VolumeKind::Import("disk.qcow2".into())
        );
        assert_eq!(
            vol("s1:vztmpl/a.tar.gz").kind().unwrap().content_type(),
            ContentType::Vztmpl
        );
        for name in [
            "vztmpl/a.zip",
            "vztmpl/.tar.gz/x",
            "snippets/..",
            "snippets/",
            "iso/a.txt",
            "foo/bar",
            "x",
        ] {
            assert_eq!(
                err(vol(&format!("s1:{name}")).kind()),
                format!("unable to parse directory volume name '{name}'"),
                "{name}"
            );
        }
        assert_eq!(
            err(vol("s1:100/disk.txt").kind()),
            "unable to parse volume filename 'disk.txt'"
        );
    }

    #[test]
    fn allocation_syntax() {
        let a = Allocation::parse("local:8").unwrap();
        assert_eq!((a.storage.as_str(), a.size_gib), ("local", 8.0));
        assert_eq!(a.size_bytes(), Some(8 << 30));
        let a = Allocation::parse("tank-1:0.5").unwrap();
        assert_eq!((a.size_gib, a.size_bytes()), (0.5, Some(512 << 20)));
        assert_eq!(Allocation::parse("local:0").unwrap().size_bytes(), Some(0));
        // pct truncates to whole MiB.
        assert_eq!(
            Allocation::parse("local:0.0001").unwrap().size_bytes(),
            Some(0)
        );
        // 2^44 MiB is 2^64 bytes: too many, not saturated or wrapped.
        assert_eq!(
            Allocation::parse("local:17179869184").unwrap().size_bytes(),
            None
        );
        assert_eq!(
            Allocation::parse("local:17179869183").unwrap().size_bytes(),
            Some(u64::MAX - (1 << 30) + 1)
        );
        for text in [
            "local",
            "local:",
            "local:-1",
            "local:1.",
            "local:.5",
            "local:1e3",
            "local:abc",
            "lo cal:1",
            ":1",
            "local:100/vm-100-disk-0.raw",
            "local:1:2",
            "local:1.5.5",
        ] {
            assert_eq!(Allocation::parse(text), None, "{text}");
        }
    }

    #[test]
    fn archive_name_rules() {
        assert!(is_template_archive_name("x.tar.zst"));
        assert!(!is_template_archive_name(".tar"));
        assert!(!is_template_archive_name("x.tar.lz4"));
        assert!(is_backup_name("vzdump-lxc-1.tgz"));
        assert!(!is_backup_name("vzdump.TGZ"));
        assert_eq!(image_file_format("vm-1-disk-0.raw"), Some("raw"));
        assert_eq!(image_file_format("a b.raw"), None);
        assert_eq!(image_file_format(".raw"), None);
    }
}
