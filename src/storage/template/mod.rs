//! Template archives (`.tar`, `.tar.gz`, `.tar.xz`, `.tar.zst`): extraction into a rootfs,
//! confined with Landlock and path checks, with ids shifted for unprivileged containers; and
//! architecture detection from `/bin/sh`.
//!
//! Extraction follows what pct asks of GNU tar (`tar xpf ARCHIVE --numeric-owner --sparse
//! --xattrs --xattrs-include=user.* --xattrs-include=security.capability --skip-old-files
//! --anchored --exclude ./dev/*`, run under `lxc-usernsexec` for unprivileged containers):
//! numeric owners, full modes, mtimes, the two xattr families, links, device nodes and fifos;
//! existing files are kept; `./dev/*` is left out.
//!
//! Archives are untrusted. Two independent layers keep every write beneath the rootfs:
//! every member path is resolved with `openat2(RESOLVE_IN_ROOT)` and the final component is
//! never followed (`rootdir`), and the whole extraction runs in a child process (an exec of
//! the program's own binary) that Landlock confines to the rootfs (`confine`), so a bug in the decompressors or in the path handling
//! still cannot reach the host.

mod arch;
mod compression;
mod confine;
pub(crate) use confine::{EXTRACT_REQUEST_ENV, confine_beneath, extraction_process};
mod member;
mod rootdir;
mod unpack;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

use std::path::Path;

use crate::config::IdMap;

/// How a template is extracted into a rootfs.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// `Some` for unprivileged containers: every uid/gid is shifted through this map.
    pub id_map: Option<IdMap>,
    /// Report how far the extraction has come to `observer` ([`Event::Progress`] as the
    /// archive is read, [`Event::ProgressEnd`] at the end).
    ///
    /// [`Event::Progress`]: crate::report::Event::Progress
    /// [`Event::ProgressEnd`]: crate::report::Event::ProgressEnd
    pub progress: bool,
    /// pct's `--ignore-unpack-errors`.
    pub ignore_unpack_errors: bool,
    /// Stops the extraction (its process is killed) once cancelled.
    pub cancel: Option<crate::cancel::Cancel>,
    /// Hears the progress and the warnings (member errors passed over, a missing Landlock).
    pub observer: crate::report::Observer,
}

/// What an extraction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractSummary {
    /// Archive members read, including the ones skipped or excluded.
    pub entries: u64,
    /// Bytes of file content written (sparse files count their full length).
    pub bytes: u64,
}

/// A template that cannot be read or extracted.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// A bad template or archive member, in pct's words.
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
}

/// Extract `archive` into the existing directory `rootfs`.
///
/// The rootfs directory itself keeps its owner and mode, as tar with `--skip-old-files` leaves
/// it; pct hands it over already owned by the container's root.
///
/// Member errors name the member as the archive spells it, e.g. `./usr/bin/ping: Cannot change
/// ownership to uid 70000, gid 0: Invalid argument`. Without `ignore_unpack_errors` the first
/// one stops the extraction; with it, each is a warning to `options.observer` and extraction
/// goes on, as pct does when tar fails under `--ignore-unpack-errors`.
pub fn extract_template(
    archive: &Path,
    rootfs: &Path,
    options: &ExtractOptions,
) -> Result<ExtractSummary, TemplateError> {
    confine::extract_in_child(archive, rootfs, options, confine::Confinement::Landlock)
}

/// The pct `arch` of the rootfs from the ELF header of its `/bin/sh` (resolved inside the
/// rootfs), or `None` when it cannot be read.
pub fn detect_arch(rootfs: &Path) -> Option<&'static str> {
    detect_elf_arch(rootfs, "/bin/sh")
}

/// The pct `arch` from the ELF header of `path_in_ct`, resolved inside the rootfs with its
/// symlinks followed only within it (NixOS setups look at the shell named by `/sbin/init`).
pub fn detect_elf_arch(rootfs: &Path, path_in_ct: &str) -> Option<&'static str> {
    arch::detect_elf_arch(rootfs, path_in_ct)
}
