//! Storages from `etc/pve/storage.cfg` (`dir`, `btrfs`, `lvm`, `lvmthin`, `zfspool`,
//! and `nfs`, `cifs`, `cephfs` where they are mounted), one plugin per type behind one trait that
//! [`StorageConfig`] dispatches to, volume ids as pct writes them, volume allocation (raw
//! ext4 images, logical volumes, directories, btrfs subvolumes) and template archives.
//!
//! Every path in storage.cfg is taken relative to the host root, so a test root never touches
//! the real /var/lib/vz. Block devices are the kernel's and never under a test root.

mod alloc;
mod btrfs;
mod cfg;
mod dir;
mod lvm;
mod lvmthin;
mod plugin;
pub mod template;
mod volume;
mod zfspool;

pub use alloc::PreparedVolume;
pub use cfg::{ContentType, StorageConfig, StorageDef, StorageType};
pub use plugin::{Feature, StorageStatus};
pub(crate) use template::confine_beneath;
pub use template::{ExtractOptions, ExtractSummary, TemplateError, detect_arch, extract_template};
pub use volume::{Allocation, VolumeFormat, VolumeId, VolumeKind};

/// A storage error; `Display` is pct's wording where pct has one
/// (`storage 'foo' does not exist`, `unable to parse volume ID 'x'`).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A bad storage.cfg, volume id or request, in pct's words.
    #[error("{0}")]
    Invalid(String),
    /// A system call that failed, with what it was doing.
    #[error("{context}: {source}")]
    Io {
        /// What failed.
        context: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// An external command that failed.
    #[error("{command} failed: {detail}")]
    Command {
        /// The command.
        command: String,
        /// What it said.
        detail: String,
    },
}
