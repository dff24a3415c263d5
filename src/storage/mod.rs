//! Storages from `etc/pve/storage.cfg` (`dir` and `btrfs`), volume ids as pct writes them,
//! volume allocation (raw ext4 images, directories, btrfs subvolumes) and template archives.
//!
//! Every path in storage.cfg is taken relative to the host root, so a test root never touches
//! the real /var/lib/vz.

mod alloc;
mod btrfs;
mod cfg;
pub mod template;
mod volume;

pub use alloc::PreparedVolume;
pub use cfg::{ContentType, StorageConfig, StorageDef, StorageType};
pub(crate) use template::confine_beneath;
pub use template::{ExtractOptions, ExtractSummary, TemplateError, detect_arch, extract_template};
pub use volume::{Allocation, VolumeFormat, VolumeId, VolumeKind};

/// A storage error; `Display` is pct's wording where pct has one
/// (`storage 'foo' does not exist`, `unable to parse volume ID 'x'`).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{command} failed: {detail}")]
    Command { command: String, detail: String },
}
