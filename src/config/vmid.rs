//! Container ids: integers 100..=999999999 as pct accepts them.

use std::fmt;
use std::str::FromStr;

/// A container id. Ids below 100 are reserved by Proxmox VE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Vmid(u32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid format - value does not look like a valid VM ID")]
pub struct VmidError;

impl Vmid {
    pub const MIN: u32 = 100;
    pub const MAX: u32 = 999_999_999;

    pub fn new(id: u32) -> Result<Self, VmidError> {
        if (Self::MIN..=Self::MAX).contains(&id) {
            Ok(Vmid(id))
        } else {
            Err(VmidError)
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl FromStr for Vmid {
    type Err = VmidError;

    /// pct's `pve-vmid` format: `^[1-9][0-9]{2,8}$`, so no sign, no leading zero.
    fn from_str(s: &str) -> Result<Self, VmidError> {
        let digits_ok = (3..=9).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_digit())
            && !s.starts_with('0');
        if !digits_ok {
            return Err(VmidError);
        }
        s.parse::<u32>().map_err(|_| VmidError).and_then(Vmid::new)
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
}
