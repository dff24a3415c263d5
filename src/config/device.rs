//! `devN` passthrough device values.

use std::fmt;

use super::PropertyError;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeviceEntry {
    pub path: String,
    /// Octal text as given, e.g. `0666`.
    pub mode: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub deny_write: Option<bool>,
}

impl DeviceEntry {
    pub fn parse(value: &str) -> Result<DeviceEntry, PropertyError> {
        todo!("{value}")
    }
}

impl fmt::Display for DeviceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _ = f;
        todo!()
    }
}
