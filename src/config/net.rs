//! `netN` values.

use std::fmt;

use super::PropertyError;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Ip4Config {
    /// Address text as given (pct does not canonicalise) and prefix length.
    Static {
        address: String,
        prefix: u8,
    },
    Dhcp,
    Manual,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Ip6Config {
    Static { address: String, prefix: u8 },
    Auto,
    Dhcp,
    Manual,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct NetDevice {
    pub name: String,
    pub bridge: Option<String>,
    pub hwaddr: Option<String>,
    pub mtu: Option<u16>,
    pub ip: Option<Ip4Config>,
    pub gw: Option<String>,
    pub ip6: Option<Ip6Config>,
    pub gw6: Option<String>,
    pub firewall: Option<bool>,
    pub tag: Option<u16>,
    pub trunks: Option<Vec<u16>>,
    /// MB/s, as given.
    pub rate: Option<String>,
    pub link_down: Option<bool>,
    pub host_managed: Option<bool>,
    /// `type=`; only `veth` exists.
    pub kind: Option<String>,
}

impl NetDevice {
    pub fn parse(value: &str) -> Result<NetDevice, PropertyError> {
        todo!("{value}")
    }
}

impl fmt::Display for NetDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _ = f;
        todo!()
    }
}
