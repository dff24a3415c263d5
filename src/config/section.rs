//! One section of a config file — the main one, `[pve:pending]`, or a snapshot — with typed
//! accessors over its stored option values.

use std::collections::BTreeMap;

use super::{DeviceEntry, Features, MountPoint, NetDevice, PropertyError, Startup};

/// Values are stored as the normalised strings pct writes (booleans `1`/`0`, integers without
/// leading zeros), so a file pct wrote prints back byte for byte. The map's order is pct's write
/// order (byte order of keys).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Section {
    /// Decoded description text, from `#` lines and `description:` keys.
    pub description: String,
    /// Option values by key (`memory`, `net0`, ...), excluding description, env and lxc.
    pub options: BTreeMap<String, String>,
    /// `lxc.environment.runtime` entries in order (pct's `env` option, NUL-joined).
    pub env: Vec<String>,
    /// Raw `lxc.*` keys in file order; duplicates allowed.
    pub lxc: Vec<(String, String)>,
    /// The `delete:` list of a pending section, verbatim as stored.
    pub delete: Option<String>,
}

impl Section {
    /// The stored value of `key`; `description` and `env` come from their own fields.
    pub fn get(&self, key: &str) -> Option<&str> {
        todo!("{key}")
    }

    pub fn set(&mut self, key: &str, value: String) {
        todo!("{key}{value}")
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        todo!("{key}")
    }

    pub fn is_empty(&self) -> bool {
        todo!()
    }

    /// A boolean option, with its schema default when unset.
    pub fn flag(&self, key: &str) -> bool {
        todo!("{key}")
    }

    /// `memory` in MiB (default 512).
    pub fn memory(&self) -> u64 {
        todo!()
    }

    /// `swap` in MiB, if set.
    pub fn swap(&self) -> Option<u64> {
        todo!()
    }

    pub fn hostname(&self) -> Option<&str> {
        todo!()
    }

    pub fn lock(&self) -> Option<&str> {
        todo!()
    }

    pub fn rootfs(&self) -> Option<Result<MountPoint, PropertyError>> {
        todo!()
    }

    /// `mp0`..`mp255` that are set, by index.
    pub fn mount_points(&self) -> Vec<(u16, Result<MountPoint, PropertyError>)> {
        todo!()
    }

    /// `net0`..`net31` that are set, by index.
    pub fn nets(&self) -> Vec<(u16, Result<NetDevice, PropertyError>)> {
        todo!()
    }

    /// `dev0`..`dev255` that are set, by index.
    pub fn devices(&self) -> Vec<(u16, Result<DeviceEntry, PropertyError>)> {
        todo!()
    }

    /// `unused0`..`unused255` volume ids, by index.
    pub fn unused(&self) -> Vec<(u16, String)> {
        todo!()
    }

    pub fn features(&self) -> Result<Features, PropertyError> {
        todo!()
    }

    pub fn startup(&self) -> Option<Result<Startup, PropertyError>> {
        todo!()
    }
}
