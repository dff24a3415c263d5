//! `devN` passthrough device values.

use std::fmt;

use super::propstring::{Key, Kind, bool_text, key, parse, print};
use super::{PropertyError, ValueError};

/// A `devN` passthrough device: a host node made inside the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeviceEntry {
    /// The host node's path, also its path inside the container.
    pub path: String,
    /// Octal text as given, e.g. `0666`.
    pub mode: Option<String>,
    /// The node's owner inside the container (default 0).
    pub uid: Option<u32>,
    /// The node's group inside the container (default 0).
    pub gid: Option<u32>,
    /// `deny-write=1`: the container may read the device but not write it.
    pub deny_write: Option<bool>,
}

/// Must start with `/dev/` and have no `.` or `..` components.
fn check_path(value: &str) -> Result<(), ValueError> {
    let dotted = value.split('/').any(|c| c == "." || c == "..");
    if dotted || !value.starts_with("/dev/") {
        Err(ValueError::DevicePath {
            path: value.to_string(),
        })
    } else {
        Ok(())
    }
}

fn check_mode(value: &str) -> Result<(), ValueError> {
    let ok = value.len() == 4
        && value.starts_with('0')
        && value.bytes().all(|b| (b'0'..=b'7').contains(&b));
    if ok { Ok(()) } else { Err(ValueError::Pattern) }
}

const KEYS: &[Key] = &[
    Key {
        name: "path",
        kind: Kind::Format(check_path),
        default_key: true,
        required: false,
    },
    key("mode", Kind::Text(check_mode)),
    key(
        "uid",
        Kind::Integer {
            min: Some(0),
            max: Some(u32::MAX as i64),
        },
    ),
    key(
        "gid",
        Kind::Integer {
            min: Some(0),
            max: Some(u32::MAX as i64),
        },
    ),
    key("deny-write", Kind::Boolean),
];

impl DeviceEntry {
    /// Parse a `devN` value (`/dev/ttyUSB0,mode=0660,uid=1000`).
    pub fn parse(value: &str) -> Result<DeviceEntry, PropertyError> {
        let map = parse(KEYS, value)?;
        let Some(path) = map.get("path") else {
            return Err(PropertyError(
                "Path is not defined for passthrough device".into(),
            ));
        };
        let id = |k: &str| {
            map.get(k).map(|v| {
                v.trim_start_matches('+')
                    .parse::<u32>()
                    .expect("range-checked")
            })
        };
        Ok(DeviceEntry {
            path: path.clone(),
            mode: map.get("mode").cloned(),
            uid: id("uid"),
            gid: id("gid"),
            deny_write: map.get("deny-write").map(|v| v == "1"),
        })
    }
}

impl fmt::Display for DeviceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = std::collections::BTreeMap::new();
        map.insert("path", self.path.clone());
        if let Some(mode) = &self.mode {
            map.insert("mode", mode.clone());
        }
        if let Some(uid) = self.uid {
            map.insert("uid", uid.to_string());
        }
        if let Some(gid) = self.gid {
            map.insert("gid", gid.to_string());
        }
        if let Some(deny) = self.deny_write {
            map.insert("deny-write", bool_text(deny));
        }
        f.write_str(&print(KEYS, &map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices() {
        let dev = DeviceEntry::parse("/dev/dri/renderD128,mode=0666,gid=44").unwrap();
        assert_eq!(
            (dev.path.as_str(), dev.mode.as_deref(), dev.gid),
            ("/dev/dri/renderD128", Some("0666"), Some(44))
        );
        assert_eq!(dev.to_string(), "/dev/dri/renderD128,gid=44,mode=0666");
        assert_eq!(
            DeviceEntry::parse("path=/dev/null,deny-write=yes")
                .unwrap()
                .to_string(),
            "/dev/null,deny-write=1"
        );
        let err = |v: &str| DeviceEntry::parse(v).unwrap_err().0;
        assert_eq!(
            err("/etc/passwd"),
            "format error\npath: invalid format - /etc/passwd is not a valid device path\n"
        );
        assert_eq!(
            err("/dev/../etc/shadow"),
            "format error\npath: invalid format - /dev/../etc/shadow is not a valid device path\n"
        );
        assert_eq!(
            err("/dev/null,mode=777"),
            "format error\nmode: value does not match the regex pattern"
        );
        // pct's `0[0-7]{3}`: four octal digits, the first a zero.
        for mode in ["7777", "00666", "066", "0686"] {
            assert_eq!(
                err(&format!("/dev/null,mode={mode}")),
                "format error\nmode: value does not match the regex pattern",
                "{mode}"
            );
        }
        assert_eq!(
            err("mode=0666"),
            "Path is not defined for passthrough device"
        );
    }
}
