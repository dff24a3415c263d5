//! The generic property-string engine (`k=v,k=v` with an optional default key) shared by the
//! typed sub-formats, with pct's error messages.

/// The property-string formats of the pct schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PropertyFormat {
    Rootfs,
    MountPoint,
    Net,
    Device,
    Features,
    Startup,
    Unused,
}

/// `Display` is pct's message, e.g. `invalid key in comma-separated list property: foo` or
/// `format error\nname: property is missing and it is not optional`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PropertyError(pub String);

impl PropertyFormat {
    /// Parse and print back in pct's key order (what pct stores after `pct set`).
    pub fn normalize(self, value: &str) -> Result<String, PropertyError> {
        todo!("{value}")
    }
}
