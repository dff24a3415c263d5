//! `etc/pve/storage.cfg`: `dir` and `btrfs` storage sections.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{StorageError, VolumeId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentType {
    Images,
    Rootdir,
    Vztmpl,
    Iso,
    Backup,
    Snippets,
    Import,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageType {
    Dir,
    Btrfs,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StorageDef {
    pub id: String,
    pub kind: StorageType,
    /// The path as written in storage.cfg (absolute on the host).
    pub path: PathBuf,
    pub content: BTreeSet<ContentType>,
    pub disabled: bool,
    pub shared: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StorageConfig {
    /// The host root every storage path is resolved under.
    pub root: PathBuf,
    pub storages: Vec<StorageDef>,
}

impl StorageConfig {
    /// Read `<root>/etc/pve/storage.cfg`; without the file, the default `local` dir storage at
    /// var/lib/vz with content vztmpl,rootdir,images,snippets,backup,iso.
    pub fn load(root: &Path) -> Result<StorageConfig, StorageError> {
        todo!("{root:?}")
    }

    pub fn parse(root: &Path, text: &str) -> Result<StorageConfig, StorageError> {
        todo!("{root:?}{text}")
    }

    /// The storage named `id`; `storage 'id' does not exist` otherwise.
    pub fn storage(&self, id: &str) -> Result<&StorageDef, StorageError> {
        todo!("{id}")
    }

    /// The host path of a storage's directory (under the host root).
    pub fn storage_path(&self, def: &StorageDef) -> PathBuf {
        todo!("{def:?}")
    }

    /// Where a volume lives: the raw image file or the directory/subvolume.
    pub fn volume_path(&self, volid: &VolumeId) -> Result<PathBuf, StorageError> {
        todo!("{volid:?}")
    }

    /// A template given as `local:vztmpl/NAME.tar.gz` or as a plain path (under the host root
    /// when relative to it). Missing files are an error naming the volume.
    pub fn template_path(&self, template: &str) -> Result<PathBuf, StorageError> {
        todo!("{template}")
    }
}
