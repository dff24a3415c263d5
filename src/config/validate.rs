//! Value formats the pct schema names (`ipv4`, `pve-ipv4-config`, `dns-name`, `mac-addr`,
//! ...), and [`ValueError`], why a value fails its type, range, pattern or format, worded as
//! pct words it.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::PropertyError;
use crate::storage::StorageError;

/// Why one value (of an option, or of a key in a property string) was refused. `Display` is
/// pct's message. New variants may come (`#[non_exhaustive]`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// Not of the schema's type (`boolean`, `integer`, `number`).
    #[error("type check ('{expected}') failed - got '{value}'")]
    Type {
        /// The type's name.
        expected: &'static str,
        /// The value given.
        value: String,
    },
    /// Below the schema's minimum.
    #[error("value must have a minimum value of {min}")]
    BelowMinimum {
        /// The least value allowed.
        min: i64,
    },
    /// Above the schema's maximum.
    #[error("value must have a maximum value of {max}")]
    AboveMaximum {
        /// The greatest value allowed.
        max: i64,
    },
    /// None of an enumeration's values.
    #[error("value '{value}' does not have a value in the enumeration '{}'", choices.join(", "))]
    NotInEnumeration {
        /// The value given.
        value: String,
        /// The values allowed.
        choices: &'static [&'static str],
    },
    /// A value that does not match the schema's pattern.
    #[error("value does not match the regex pattern")]
    Pattern,
    /// A value of a named format that does not look like one.
    #[error("value does not look like a valid {expected}")]
    Malformed {
        /// What it should be (`IPv4 address`, `unicast MAC address`, `DNS name`).
        expected: &'static str,
    },
    /// A mount path with `.` or `..` components.
    #[error("{path} contains illegal character sequences")]
    IllegalPath {
        /// The path given.
        path: String,
    },
    /// A device path outside /dev, or with `.` or `..` components.
    #[error("{path} is not a valid device path")]
    DevicePath {
        /// The path given.
        path: String,
    },
    /// A tag with characters pct does not allow.
    #[error("invalid characters in tag")]
    Tag,
    /// A name that is no configuration id (`pve-configid`).
    #[error("invalid configuration ID '{value}'")]
    ConfigId {
        /// The value given.
        value: String,
    },
    /// A time zone the host does not know.
    #[error("invalid time zone '{value}'")]
    TimeZone {
        /// The value given.
        value: String,
    },
    /// A text that is no volume id.
    #[error("{0}")]
    VolumeId(#[source] StorageError),
    /// A size (`disk-size`) that does not parse.
    #[error("{0}")]
    Size(#[source] PropertyError),
    /// A property string (`net0`, `mp0`) that does not parse.
    #[error("{0}")]
    Property(#[source] PropertyError),
    /// A key the schema does not have (a config file's).
    #[error("unknown setting '{key}'")]
    UnknownSetting {
        /// The key.
        key: String,
    },
    /// A value with a line feed, which a config file cannot hold.
    #[error("property contains a line feed")]
    LineFeed,
    /// A value that fails a named format (`mac-addr`, `pve-ipv4-config`): pct reports it as
    /// `invalid format - <message>`, with the newline of the `die` that raised it.
    #[error("invalid format - {0}\n")]
    Format(Box<ValueError>),
}

impl ValueError {
    /// The failure of a named format, as pct reports it.
    pub(crate) fn format(inner: ValueError) -> ValueError {
        ValueError::Format(Box::new(inner))
    }

    /// Without the `invalid format - ` pct puts before a failed named format (a config
    /// file's check reports the message alone).
    pub(crate) fn without_format(self) -> ValueError {
        match self {
            ValueError::Format(inner) => *inner,
            other => other,
        }
    }
}

fn cidr<T: std::str::FromStr>(value: &str, max: u8) -> bool {
    let Some((address, prefix)) = value.split_once('/') else {
        return false;
    };
    let prefix_ok = !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && prefix.parse::<u8>().is_ok_and(|p| p > 7 && p <= max);
    prefix_ok && address.parse::<T>().is_ok()
}

pub(crate) fn ipv4(value: &str) -> Result<(), ValueError> {
    value
        .parse::<Ipv4Addr>()
        .map(|_| ())
        .map_err(|_| ValueError::Malformed {
            expected: "IPv4 address",
        })
}

pub(crate) fn ipv6(value: &str) -> Result<(), ValueError> {
    value
        .parse::<Ipv6Addr>()
        .map(|_| ())
        .map_err(|_| ValueError::Malformed {
            expected: "IPv6 address",
        })
}

pub(crate) fn ipv4_config(value: &str) -> Result<(), ValueError> {
    if matches!(value, "dhcp" | "manual") || cidr::<Ipv4Addr>(value, 32) {
        Ok(())
    } else {
        Err(ValueError::Malformed {
            expected: "ipv4 network configuration",
        })
    }
}

pub(crate) fn ipv6_config(value: &str) -> Result<(), ValueError> {
    if matches!(value, "auto" | "dhcp" | "manual") || cidr::<Ipv6Addr>(value, 128) {
        Ok(())
    } else {
        Err(ValueError::Malformed {
            expected: "ipv6 network configuration",
        })
    }
}

/// A unicast MAC: the I/G bit must be clear.
pub(crate) fn mac(value: &str) -> Result<(), ValueError> {
    let parts: Vec<&str> = value.split(':').collect();
    let hex = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let unicast = parts
        .first()
        .and_then(|p| u8::from_str_radix(p, 16).ok())
        .is_some_and(|b| b & 1 == 0);
    if parts.len() == 6 && parts.iter().all(|p| hex(p)) && unicast {
        Ok(())
    } else {
        Err(ValueError::Malformed {
            expected: "unicast MAC address",
        })
    }
}

pub(crate) fn dns_name(value: &str) -> Result<(), ValueError> {
    let label_ok = |label: &str| {
        let bytes = label.as_bytes();
        !bytes.is_empty()
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    };
    if value.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(ValueError::Malformed {
            expected: "DNS name",
        })
    }
}

/// pct's `[-_.\w\d]+` for interface and bridge names.
pub(crate) fn interface_name(value: &str) -> Result<(), ValueError> {
    if !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Ok(())
    } else {
        Err(ValueError::Pattern)
    }
}

/// A path for a mount point or volume: no `/./`, `/../`, trailing `/.` or `/..`, or leading `../`.
pub(crate) fn mount_path(value: &str) -> Result<(), ValueError> {
    let illegal = value.contains("/./")
        || value.contains("/../")
        || value.ends_with("/.")
        || value.ends_with("/..")
        || value.starts_with("../");
    if illegal {
        Err(ValueError::IllegalPath {
            path: value.to_string(),
        })
    } else {
        Ok(())
    }
}

/// pct's `pve-volume-id`: `storage:name`.
pub(crate) fn volume_id(value: &str) -> Result<(), ValueError> {
    crate::storage::VolumeId::parse(value)
        .map(|_| ())
        .map_err(ValueError::VolumeId)
}

/// A `;`-separated list of digits.
pub(crate) fn digit_list(value: &str) -> Result<(), ValueError> {
    if value
        .split(';')
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
    {
        Ok(())
    } else {
        Err(ValueError::Pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert!(
            ipv4_config("10.0.0.5/24").is_ok()
                && ipv4_config("dhcp").is_ok()
                && ipv4_config("manual").is_ok()
        );
        assert!(
            ipv4_config("10.0.0.5").is_err()
                && ipv4_config("10.0.0.5/7").is_err()
                && ipv4_config("10.0.0.5/33").is_err()
        );
        assert!(ipv6_config("fd00::5/64").is_ok() && ipv6_config("auto").is_ok());
        assert!(ipv6_config("fd00::5/129").is_err());
        // The prefix is digits only, and the address must parse whatever the prefix.
        for bad in ["10.0.0.5/+24", "10.0.0.300/24", "dhcp/24"] {
            assert!(ipv4_config(bad).is_err(), "{bad}");
        }
        assert!(ipv6_config("fd00::zz/64").is_err() && ipv6_config("fd00::5/+64").is_err());
        assert!(ipv6("fd00::1").is_ok());
        assert_eq!(
            ipv6("fd00::zz").unwrap_err().to_string(),
            "value does not look like a valid IPv6 address"
        );
        assert_eq!(
            ipv4("300.1.1.1").unwrap_err().to_string(),
            "value does not look like a valid IPv4 address"
        );
    }

    #[test]
    fn macs_must_be_unicast() {
        assert!(mac("BC:24:11:12:34:56").is_ok());
        assert!(mac("bc:24:11:12:34:56").is_ok());
        assert_eq!(
            mac("BD:24:11:12:34:56").unwrap_err().to_string(),
            "value does not look like a valid unicast MAC address"
        );
        assert!(mac("BC:24:11:12:34").is_err() && mac("BC-24-11-12-34-56").is_err());
        // Each of the six parts is two hex digits.
        for bad in [
            "BC:24:11:12:34:5G",
            "BC:24:11:12:34:567",
            "BC:24:11:12:34:5",
        ] {
            assert!(mac(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_paths() {
        assert!(dns_name("web-1.example.com").is_ok());
        assert!(dns_name("-web").is_err() && dns_name("a..b").is_err() && dns_name("").is_err());
        assert!(
            interface_name("eth0").is_ok()
                && interface_name("vmbr0.10").is_ok()
                && interface_name("a b").is_err()
        );
        assert_eq!(
            mount_path("/a/../b").unwrap_err().to_string(),
            "/a/../b contains illegal character sequences"
        );
        for bad in ["/a/./b", "/a/.", "/a/..", "../a"] {
            assert!(mount_path(bad).is_err(), "{bad}");
        }
        assert!(mount_path("/srv/data").is_ok());
    }

    #[test]
    fn each_failure_is_its_own_variant() {
        use std::error::Error as _;
        assert!(matches!(
            ipv4("300.1.1.1"),
            Err(ValueError::Malformed {
                expected: "IPv4 address"
            })
        ));
        assert!(matches!(
            mac("BD:24:11:12:34:56"),
            Err(ValueError::Malformed { .. })
        ));
        assert!(matches!(digit_list("x"), Err(ValueError::Pattern)));
        assert!(
            matches!(mount_path("/a/.."), Err(ValueError::IllegalPath { path }) if path == "/a/..")
        );
        // A volume id's own error is the source.
        let error = volume_id("nocolon").unwrap_err();
        let source = error
            .source()
            .and_then(|e| e.downcast_ref::<StorageError>());
        assert!(
            matches!(source, Some(StorageError::Invalid(_))),
            "{error:?}"
        );
        assert_eq!(error.to_string(), "unable to parse volume ID 'nocolon'");
        // A named format's failure reads as pct's `invalid format - ...` with its newline,
        // and the message alone without it.
        let format = ValueError::format(ValueError::Malformed {
            expected: "DNS name",
        });
        assert_eq!(
            format.to_string(),
            "invalid format - value does not look like a valid DNS name\n"
        );
        assert!(matches!(
            format.without_format(),
            ValueError::Malformed {
                expected: "DNS name"
            }
        ));
    }

    #[test]
    fn volume_ids_and_vlan_lists() {
        assert!(volume_id("local:snippets/hook.pl").is_ok());
        assert_eq!(
            volume_id("/var/lib/vz/snippets/hook.pl")
                .unwrap_err()
                .to_string(),
            "unable to parse volume ID '/var/lib/vz/snippets/hook.pl'"
        );
        assert!(digit_list("20").is_ok() && digit_list("20;30").is_ok());
        for bad in ["", "20;", ";20", "20;x", "20,30", "-1"] {
            assert_eq!(
                digit_list(bad).unwrap_err().to_string(),
                "value does not match the regex pattern",
                "{bad:?}"
            );
        }
    }
}
