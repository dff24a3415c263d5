//! Value formats the pct schema names (`ipv4`, `pve-ipv4-config`, `dns-name`, `mac-addr`,
//! ...), each returning pct's message on failure.

use std::net::{Ipv4Addr, Ipv6Addr};

fn cidr<T: std::str::FromStr>(value: &str, max: u8) -> bool {
    let Some((address, prefix)) = value.split_once('/') else {
        return false;
    };
    let prefix_ok = !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && prefix.parse::<u8>().is_ok_and(|p| p > 7 && p <= max);
    prefix_ok && address.parse::<T>().is_ok()
}

pub(crate) fn ipv4(value: &str) -> Result<(), String> {
    value
        .parse::<Ipv4Addr>()
        .map(|_| ())
        .map_err(|_| "value does not look like a valid IPv4 address".into())
}

pub(crate) fn ipv6(value: &str) -> Result<(), String> {
    value
        .parse::<Ipv6Addr>()
        .map(|_| ())
        .map_err(|_| "value does not look like a valid IPv6 address".into())
}

pub(crate) fn ipv4_config(value: &str) -> Result<(), String> {
    if matches!(value, "dhcp" | "manual") || cidr::<Ipv4Addr>(value, 32) {
        Ok(())
    } else {
        Err("value does not look like a valid ipv4 network configuration".into())
    }
}

pub(crate) fn ipv6_config(value: &str) -> Result<(), String> {
    if matches!(value, "auto" | "dhcp" | "manual") || cidr::<Ipv6Addr>(value, 128) {
        Ok(())
    } else {
        Err("value does not look like a valid ipv6 network configuration".into())
    }
}

/// A unicast MAC: the I/G bit must be clear.
pub(crate) fn mac(value: &str) -> Result<(), String> {
    let parts: Vec<&str> = value.split(':').collect();
    let hex = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let unicast = parts
        .first()
        .and_then(|p| u8::from_str_radix(p, 16).ok())
        .is_some_and(|b| b & 1 == 0);
    if parts.len() == 6 && parts.iter().all(|p| hex(p)) && unicast {
        Ok(())
    } else {
        Err("value does not look like a valid unicast MAC address".into())
    }
}

pub(crate) fn dns_name(value: &str) -> Result<(), String> {
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
        Err("value does not look like a valid DNS name".into())
    }
}

/// pct's `[-_.\w\d]+` for interface and bridge names.
pub(crate) fn interface_name(value: &str) -> Result<(), String> {
    if !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Ok(())
    } else {
        Err("value does not match the regex pattern".into())
    }
}

/// A path for a mount point or volume: no `/./`, `/../`, trailing `/.` or `/..`, or leading `../`.
pub(crate) fn mount_path(value: &str) -> Result<(), String> {
    let illegal = value.contains("/./")
        || value.contains("/../")
        || value.ends_with("/.")
        || value.ends_with("/..")
        || value.starts_with("../");
    if illegal {
        Err(format!("{value} contains illegal character sequences"))
    } else {
        Ok(())
    }
}

/// pct's `pve-volume-id`: `storage:name`.
pub(crate) fn volume_id(value: &str) -> Result<(), String> {
    crate::storage::VolumeId::parse(value)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A `;`-separated list of digits.
pub(crate) fn digit_list(value: &str) -> Result<(), String> {
    if value
        .split(';')
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
    {
        Ok(())
    } else {
        Err("value does not match the regex pattern".into())
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
            ipv6("fd00::zz").unwrap_err(),
            "value does not look like a valid IPv6 address"
        );
        assert_eq!(
            ipv4("300.1.1.1").unwrap_err(),
            "value does not look like a valid IPv4 address"
        );
    }

    #[test]
    fn macs_must_be_unicast() {
        assert!(mac("BC:24:11:12:34:56").is_ok());
        assert!(mac("bc:24:11:12:34:56").is_ok());
        assert_eq!(
            mac("BD:24:11:12:34:56").unwrap_err(),
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
            mount_path("/a/../b").unwrap_err(),
            "/a/../b contains illegal character sequences"
        );
        for bad in ["/a/./b", "/a/.", "/a/..", "../a"] {
            assert!(mount_path(bad).is_err(), "{bad}");
        }
        assert!(mount_path("/srv/data").is_ok());
    }

    #[test]
    fn volume_ids_and_vlan_lists() {
        assert!(volume_id("local:snippets/hook.pl").is_ok());
        assert_eq!(
            volume_id("/var/lib/vz/snippets/hook.pl").unwrap_err(),
            "unable to parse volume ID '/var/lib/vz/snippets/hook.pl'"
        );
        assert!(digit_list("20").is_ok() && digit_list("20;30").is_ok());
        for bad in ["", "20;", ";20", "20;x", "20,30", "-1"] {
            assert_eq!(
                digit_list(bad).unwrap_err(),
                "value does not match the regex pattern",
                "{bad:?}"
            );
        }
    }
}
