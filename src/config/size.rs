//! pct's disk sizes: `\d+(\.\d+)?([KMGT](iB)?)?` in, compact binary units out.

use super::PropertyError;

/// Bytes from a size string; a number without a unit is bytes, as in pct's `disk-size`.
pub fn parse_size(text: &str) -> Result<u64, PropertyError> {
    todo!("{text}")
}

/// The compact form pct prints: `8G`, `512M`, or raw bytes if not a multiple of 1K.
pub fn format_size(bytes: u64) -> String {
    todo!("{bytes}")
}
