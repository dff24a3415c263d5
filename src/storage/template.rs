//! Template archives (`.tar`, `.tar.gz`, `.tar.xz`, `.tar.zst`): extraction into a rootfs,
//! confined with Landlock and path checks, with ids shifted for unprivileged containers; and
//! architecture detection from `/bin/sh`.

use std::path::Path;

use crate::config::IdMap;

#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// `Some` for unprivileged containers: every uid/gid is shifted through this map.
    pub id_map: Option<IdMap>,
    /// Draw a progress bar on stderr (only when stderr is a terminal).
    pub progress: bool,
    /// pct's `--ignore-unpack-errors`.
    pub ignore_unpack_errors: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractSummary {
    pub entries: u64,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Extract `archive` into the existing directory `rootfs`.
pub fn extract_template(
    archive: &Path,
    rootfs: &Path,
    options: &ExtractOptions,
) -> Result<ExtractSummary, TemplateError> {
    todo!("{archive:?}{rootfs:?}{options:?}")
}

/// The pct `arch` of the rootfs from the ELF header of its `/bin/sh` (resolved inside the
/// rootfs), or `None` when it cannot be read.
pub fn detect_arch(rootfs: &Path) -> Option<&'static str> {
    todo!("{rootfs:?}")
}
