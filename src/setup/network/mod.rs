//! The guest's own network configuration files, one module per format: Debian's
//! `/etc/network/interfaces`, systemd-networkd, Red Hat's ifcfg and NetworkManager keyfiles,
//! SUSE's ifcfg/ifroute, Gentoo's `conf.d/net`. Shared here: address arithmetic as pct does
//! it.

pub mod gentoo;
pub mod interfaces;
pub mod networkd;
pub mod redhat;
pub mod suse;

use std::net::{IpAddr, Ipv4Addr};

use crate::config::{Ip4Config, Ip6Config};

/// `address/prefix` of a static IPv4 setting, as written in the config.
pub fn ip4_cidr(ip: &Ip4Config) -> Option<String> {
    match ip {
        Ip4Config::Static { address, prefix } => Some(format!("{address}/{prefix}")),
        _ => None,
    }
}

/// `address/prefix` of a static IPv6 setting.
pub fn ip6_cidr(ip: &Ip6Config) -> Option<String> {
    match ip {
        Ip6Config::Static { address, prefix } => Some(format!("{address}/{prefix}")),
        _ => None,
    }
}

/// pve-common's `is_ip_in_cidr`: whether `ip` lies inside `cidr` (`addr/len`); anything
/// unparsable, or of the other family, is outside.
pub fn ip_in_cidr(ip: &str, cidr: &str) -> bool {
    let Some((network, len)) = cidr.split_once('/') else {
        return false;
    };
    let Ok(len) = len.parse::<u32>() else {
        return false;
    };
    match (ip.parse::<IpAddr>(), network.parse::<IpAddr>()) {
        (Ok(IpAddr::V4(ip)), Ok(IpAddr::V4(network))) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(ip) & mask == u32::from(network) & mask
        }
        (Ok(IpAddr::V6(ip)), Ok(IpAddr::V6(network))) if len <= 128 => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            u128::from(ip) & mask == u128::from(network) & mask
        }
        _ => false,
    }
}

/// Whether an IPv6 gateway is link-local (`fe80::/10`), which is always reachable.
pub fn is_link_local6(ip: &str) -> bool {
    ip_in_cidr(ip, "fe80::/10")
}

/// The dotted IPv4 netmask of a prefix length (`24` → `255.255.255.0`).
pub fn ipv4_netmask(prefix: u8) -> String {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    Ipv4Addr::from(mask).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_membership() {
        assert!(ip_in_cidr("10.0.0.1", "10.0.0.5/24"));
        assert!(!ip_in_cidr("10.0.1.1", "10.0.0.5/24"));
        assert!(!ip_in_cidr("11.0.0.1", "10.0.0.100/32"));
        assert!(ip_in_cidr("1.2.3.4", "10.0.0.100/0"));
        assert!(ip_in_cidr("fd00::1", "fd00::5/64"));
        assert!(!ip_in_cidr("fd01::1", "fd00::5/64"));
        assert!(!ip_in_cidr("fd00::1", "10.0.0.5/24"));
        assert!(is_link_local6("fe80::1") && !is_link_local6("fd00::1"));
        assert!(!ip_in_cidr("bogus", "10.0.0.5/24"));
    }

    #[test]
    fn netmasks() {
        assert_eq!(ipv4_netmask(24), "255.255.255.0");
        assert_eq!(ipv4_netmask(32), "255.255.255.255");
        assert_eq!(ipv4_netmask(0), "0.0.0.0");
        assert_eq!(ipv4_netmask(23), "255.255.254.0");
    }
}
