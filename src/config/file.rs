//! The file grammar: parsing `<vmid>.conf` into sections and writing it back as pct does.

use std::collections::BTreeMap;

use super::{Section, Vmid};

/// The whole config file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Config {
    pub vmid: Vmid,
    pub main: Section,
    /// `[pve:pending]`; empty when the file has none.
    pub pending: Section,
    /// Snapshot sections by name (`[name]`), with `snaptime`, `parent`, `snapstate` inside.
    pub snapshots: BTreeMap<String, Section>,
}

/// Lenient is pct's normal read: bad values warn and are kept. Strict fails on the first error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseMode {
    Lenient,
    Strict,
}

/// A problem pct reports as a warning on a lenient read; the text is pct's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub String);

/// A config error; `Display` is pct's message, e.g.
/// `vm 100 - unable to parse value of 'onboot' - type check ('boolean') failed - got 'maybe'`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    pub fn new(vmid: Vmid) -> Config {
        Config {
            vmid,
            main: Section::default(),
            pending: Section::default(),
            snapshots: BTreeMap::new(),
        }
    }

    pub fn parse(
        vmid: Vmid,
        text: &str,
        mode: ParseMode,
    ) -> Result<(Config, Vec<Warning>), ConfigError> {
        todo!("{vmid}{text}{mode:?}")
    }

    /// The file text pct would write for this config.
    pub fn write(&self) -> Result<String, ConfigError> {
        todo!()
    }

    /// SHA-1 hex of the raw file bytes, as pct's `digest`.
    pub fn digest(raw: &[u8]) -> String {
        todo!("{raw:?}")
    }

    /// The main section with pending values applied and pending deletes removed
    /// (`pct config` without `--current`).
    pub fn with_pending_applied(&self) -> Section {
        todo!()
    }
}
