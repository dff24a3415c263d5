//! `pct set` semantics: changes go to `[pve:pending]`, deletes to its `delete:` list, and a
//! stopped container has them applied at once; `pct pending` listing.

use super::{Config, ConfigError, Warning};

/// What one `pct set` asks for. Values are raw CLI strings, validated here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SetRequest {
    pub set: Vec<(String, String)>,
    /// Keys to delete; a leading `!` forces.
    pub delete: Vec<String>,
    pub revert: Vec<String>,
}

/// One line of `pct pending`: `cur k: v`, `new k: v` or `del k: v`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PendingChange {
    Cur { key: String, value: String },
    New { key: String, value: String },
    Del { key: String, value: String },
}

impl Config {
    /// Record a `pct set` into the pending section (validating every value and the protection
    /// rules), then, for a stopped container (`apply_now`), apply all pending changes.
    pub fn update(
        &mut self,
        request: &SetRequest,
        apply_now: bool,
    ) -> Result<Vec<Warning>, ConfigError> {
        todo!("{request:?}{apply_now}")
    }

    /// Apply everything pending to the main section (start, or set on a stopped CT).
    pub fn apply_pending(&mut self) -> Vec<Warning> {
        todo!()
    }

    /// Put a no longer referenced volume into the lowest free `unusedN`; returns the key.
    pub fn add_unused_volume(&mut self, volid: &str) -> Result<String, ConfigError> {
        todo!("{volid}")
    }

    /// The `pct pending` listing, sorted by key.
    pub fn pending_changes(&self) -> Vec<PendingChange> {
        todo!()
    }
}
