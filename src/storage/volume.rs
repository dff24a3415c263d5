//! Volume ids (`local:100/vm-100-disk-0.raw`) and the `STORAGE:SIZE` allocation syntax.

use std::fmt;

use super::StorageError;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct VolumeId {
    pub storage: String,
    /// The part after `storage:`, e.g. `100/vm-100-disk-0.raw` or `vztmpl/x.tar.gz`.
    pub name: String,
}

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
    pub storage: String,
    pub size_gib: f64,
}

/// pve-storage's `pve-storage-id` format.
pub(crate) fn is_storage_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    first.is_ascii_alphabetic()
        && (last.is_ascii_alphanumeric())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl VolumeId {
    pub fn parse(text: &str) -> Result<VolumeId, StorageError> {
        let invalid = || StorageError::Invalid(format!("unable to parse volume ID '{text}'"));
        let (storage, name) = text.split_once(':').ok_or_else(invalid)?;
        if !is_storage_id(storage) || name.is_empty() || name.chars().any(char::is_whitespace) {
            return Err(invalid());
        }
        Ok(VolumeId {
            storage: storage.to_string(),
            name: name.to_string(),
        })
    }

    /// The owning container of an image volume (`100` in `100/vm-100-disk-0.raw`).
    pub fn owner(&self) -> Option<u32> {
        let (vmid, rest) = self.name.split_once('/')?;
        if rest.is_empty() || !vmid.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        vmid.parse().ok()
    }

    /// The image format, from the name's extension.
    pub fn format(&self) -> Option<VolumeFormat> {
        self.owner()?;
        if self.name.ends_with(".raw") {
            Some(VolumeFormat::Raw)
        } else if self.name.ends_with(".subvol") {
            Some(VolumeFormat::Subvol)
        } else {
            None
        }
    }
}

impl fmt::Display for VolumeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.storage, self.name)
    }
}

impl Allocation {
    /// `Some` when `volume` is `STORAGE:SIZE` (size a number in GiB), else `None`.
    pub fn parse(volume: &str) -> Option<Allocation> {
        let (storage, size) = volume.split_once(':')?;
        let (whole, fraction) = size.split_once('.').unwrap_or((size, "0"));
        let numeric = !whole.is_empty()
            && !fraction.is_empty()
            && whole
                .bytes()
                .chain(fraction.bytes())
                .all(|b| b.is_ascii_digit());
        if !is_storage_id(storage) || !numeric {
            return None;
        }
        Some(Allocation {
            storage: storage.to_string(),
            size_gib: size.parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_ids() {
        let volid = VolumeId::parse("local:100/vm-100-disk-0.raw").unwrap();
        assert_eq!(
            (volid.storage.as_str(), volid.name.as_str()),
            ("local", "100/vm-100-disk-0.raw")
        );
        assert_eq!(volid.owner(), Some(100));
        assert_eq!(volid.format(), Some(VolumeFormat::Raw));
        assert_eq!(volid.to_string(), "local:100/vm-100-disk-0.raw");
        let subvol = VolumeId::parse("tank:101/subvol-101-disk-2.subvol").unwrap();
        assert_eq!(subvol.format(), Some(VolumeFormat::Subvol));
        let template = VolumeId::parse("local:vztmpl/debian.tar.zst").unwrap();
        assert_eq!((template.owner(), template.format()), (None, None));
    }

    #[test]
    fn bad_volume_ids() {
        for bad in [
            "local",
            ":x",
            "1local:x",
            "local-:x",
            "local:",
            "local:a b",
            "lo/cal:x",
        ] {
            let error = VolumeId::parse(bad).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("unable to parse volume ID '{bad}'")
            );
        }
    }

    #[test]
    fn allocations() {
        assert_eq!(
            Allocation::parse("local:8"),
            Some(Allocation {
                storage: "local".into(),
                size_gib: 8.0
            })
        );
        assert_eq!(Allocation::parse("tank:0.5").unwrap().size_gib, 0.5);
        assert_eq!(Allocation::parse("local:0").unwrap().size_gib, 0.0);
        for not in [
            "local:100/vm-100-disk-0.raw",
            "local:8G",
            "8",
            "local:.5",
            "local:8.",
            "/mnt/x",
        ] {
            assert_eq!(Allocation::parse(not), None, "{not}");
        }
    }
}
