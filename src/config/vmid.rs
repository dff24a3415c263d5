//! Container ids: integers 100..=999999999 as pct accepts them.

use std::fmt;
use std::str::FromStr;

/// A container id. Ids below 100 are reserved by Proxmox VE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Vmid(u32);

/// Why a text is not a container id, in pct's words and in the order pct checks: the
/// `integer` type first, then the `pve-vmid` format (which also bounds the range).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VmidError {
    /// Not a whole number (the text as given).
    #[error("type check ('integer') failed - got '{0}'")]
    NotInteger(String),
    /// Out of pct's range of ids.
    #[error("invalid format - value does not look like a valid VM ID")]
    Format,
}

impl VmidError {
    /// The text pct's parameter check reports: a format failure comes from a `die` in pct
    /// and keeps its newline (so pct shows an empty line before the usage text).
    pub fn parameter_message(&self) -> String {
        match self {
            VmidError::NotInteger(_) => self.to_string(),
            VmidError::Format => format!("{self}\n"),
        }
    }
}

impl Vmid {
    /// The smallest container id pct allows.
    pub const MIN: u32 = 100;
    /// The largest container id pct allows.
    pub const MAX: u32 = 999_999_999;

    /// `id` as a container id, when it is in pct's range.
    pub fn new(id: u32) -> Result<Self, VmidError> {
        if (Self::MIN..=Self::MAX).contains(&id) {
            Ok(Vmid(id))
        } else {
            Err(VmidError::Format)
        }
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl FromStr for Vmid {
    type Err = VmidError;

    /// JSONSchema's integer (`^[+-]?\d+$`), then pct's `pve-vmid` format
    /// (`^[1-9][0-9]{2,8}$`, so no sign, no leading zero).
    fn from_str(s: &str) -> Result<Self, VmidError> {
        let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(VmidError::NotInteger(s.to_string()));
        }
        let digits_ok = (3..=9).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_digit())
            && !s.starts_with('0');
        if !digits_ok {
            return Err(VmidError::Format);
        }
        s.parse::<u32>()
            .map_err(|_| VmidError::Format)
            .and_then(Vmid::new)
    }
}

impl fmt::Display for Vmid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_pct_ids() {
        assert_eq!("100".parse::<Vmid>().unwrap().get(), 100);
        assert_eq!("999999999".parse::<Vmid>().unwrap().get(), 999_999_999);
    }

    #[test]
    fn rejects_reserved_and_malformed() {
        for bad in ["99", "0100", "+100", "1000000000", "10a", "", " 100"] {
            assert!(bad.parse::<Vmid>().is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn type_check_comes_before_the_format() {
        assert_eq!(
            "abc".parse::<Vmid>().unwrap_err().to_string(),
            "type check ('integer') failed - got 'abc'"
        );
        assert_eq!(
            " 100".parse::<Vmid>().unwrap_err(),
            VmidError::NotInteger(" 100".into())
        );
        // A sign with no digits is no integer, as pct's `^[+-]?\d+$` says.
        for not_integer in ["", "+", "-", "1.5"] {
            assert_eq!(
                not_integer.parse::<Vmid>().unwrap_err(),
                VmidError::NotInteger(not_integer.into()),
                "{not_integer:?}"
            );
        }
        for format_error in ["99", "-100", "+100", "0100", "1000000000"] {
            assert_eq!(
                format_error.parse::<Vmid>().unwrap_err().to_string(),
                "invalid format - value does not look like a valid VM ID",
                "{format_error}"
            );
        }
    }

    /// The parameter check prints a format failure with the newline of pct's `die` (an empty
    /// line before the usage text), a type failure without.
    #[test]
    fn parameter_messages_keep_pcts_newline() {
        assert_eq!(
            "abc".parse::<Vmid>().unwrap_err().parameter_message(),
            "type check ('integer') failed - got 'abc'"
        );
        assert_eq!(
            "99".parse::<Vmid>().unwrap_err().parameter_message(),
            "invalid format - value does not look like a valid VM ID\n"
        );
    }
}
