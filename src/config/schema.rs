//! The pct option schema: every top-level option with its type, range, default and help text,
//! and the API-level check `pct create`/`pct set` apply to a value.

use super::PropertyFormat;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptionKind {
    Boolean,
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Number {
        min: Option<f64>,
        max: Option<f64>,
    },
    Enum(&'static [&'static str]),
    /// Free text with a maximum length and a named pct format (dns-name, ...), if any.
    String {
        max_length: Option<usize>,
        format: Option<&'static str>,
    },
    Property(PropertyFormat),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OptionSpec {
    /// The key, or for indexed options (`mp0`..`mp255`) the prefix `mp`.
    pub name: &'static str,
    /// For indexed options, the largest index (`mp` → 255, `net` → 31).
    pub max_index: Option<u16>,
    pub kind: OptionKind,
    pub default: Option<&'static str>,
    pub description: &'static str,
}

/// Why a value was refused; `Display` is the text pct prints after `<key>: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OptionError(pub String);

/// Every option of the schema, in name order.
pub fn options() -> &'static [OptionSpec] {
    todo!()
}

/// The spec for a concrete key (`memory`, `mp12`); `None` for unknown keys.
pub fn option_spec(key: &str) -> Option<&'static OptionSpec> {
    todo!("{key}")
}

/// The API-level check of `pct set`/`pct create`: type, enum, range and format. Returns the
/// value normalised as pct stores it.
pub fn check_option(key: &str, value: &str) -> Result<String, OptionError> {
    todo!("{key}{value}")
}
