//! `netN` values.

use std::collections::BTreeMap;
use std::fmt;

use super::propstring::{Key, Kind, bool_text, key, parse, print};
use super::{PropertyError, validate};

/// `ip=` of a `netN`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Ip4Config {
    /// Address text as given (pct does not canonicalise) and prefix length.
    Static {
        /// The address.
        address: String,
        /// The prefix length.
        prefix: u8,
    },
    /// `ip=dhcp`.
    Dhcp,
    /// `ip=manual`: the guest configures it.
    Manual,
}

/// `ip6=` of a `netN`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Ip6Config {
    /// A static address.
    Static {
        /// The address, as given.
        address: String,
        /// The prefix length.
        prefix: u8,
    },
    /// `ip6=auto`: SLAAC.
    Auto,
    /// `ip6=dhcp`.
    Dhcp,
    /// `ip6=manual`: the guest configures it.
    Manual,
}

/// A `netN` property: one veth interface of the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetDevice {
    /// `name=`: the interface name inside the container.
    pub name: String,
    /// `bridge=`: the host bridge the host side joins.
    pub bridge: Option<String>,
    /// `hwaddr=`: the MAC address inside.
    pub hwaddr: Option<String>,
    /// `mtu=`.
    pub mtu: Option<u16>,
    /// `ip=`.
    pub ip: Option<Ip4Config>,
    /// `gw=`: the IPv4 default gateway.
    pub gw: Option<String>,
    /// `ip6=`.
    pub ip6: Option<Ip6Config>,
    /// `gw6=`: the IPv6 default gateway.
    pub gw6: Option<String>,
    /// `firewall=1` (accepted; corral has no firewall yet).
    pub firewall: Option<bool>,
    /// `tag=`: the VLAN tag on the bridge port.
    pub tag: Option<u16>,
    /// `trunks=`: VLANs the port also carries.
    pub trunks: Option<Vec<u16>>,
    /// MB/s, as given.
    pub rate: Option<String>,
    /// `link_down=1`: the link is kept down.
    pub link_down: Option<bool>,
    /// `host-managed=1`: the host, not the guest, sets the addresses.
    pub host_managed: Option<bool>,
    /// `type=`; only `veth` exists.
    pub kind: Option<String>,
}

const KEYS: &[Key] = &[
    Key {
        name: "name",
        kind: Kind::Text(validate::interface_name),
        default_key: false,
        required: true,
    },
    key("type", Kind::Enum(&["veth"])),
    key("bridge", Kind::Text(validate::interface_name)),
    key("hwaddr", Kind::Format(validate::mac)),
    key(
        "mtu",
        Kind::Integer {
            min: Some(64),
            max: Some(65535),
        },
    ),
    key("ip", Kind::Format(validate::ipv4_config)),
    key("gw", Kind::Format(validate::ipv4)),
    key("ip6", Kind::Format(validate::ipv6_config)),
    key("gw6", Kind::Format(validate::ipv6)),
    key("firewall", Kind::Boolean),
    key(
        "tag",
        Kind::Integer {
            min: Some(1),
            max: Some(4094),
        },
    ),
    key("trunks", Kind::Text(validate::digit_list)),
    key("rate", Kind::Number),
    key("link_down", Kind::Boolean),
    key("host-managed", Kind::Boolean),
];

fn split_cidr(text: &str) -> (String, u8) {
    let (address, prefix) = text.split_once('/').expect("validated CIDR");
    (
        address.to_string(),
        prefix.parse().expect("validated prefix"),
    )
}

impl Ip4Config {
    fn parse(text: &str) -> Ip4Config {
        match text {
            "dhcp" => Ip4Config::Dhcp,
            "manual" => Ip4Config::Manual,
            cidr => {
                let (address, prefix) = split_cidr(cidr);
                Ip4Config::Static { address, prefix }
            }
        }
    }
}

impl fmt::Display for Ip4Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ip4Config::Static { address, prefix } => write!(f, "{address}/{prefix}"),
            Ip4Config::Dhcp => f.write_str("dhcp"),
            Ip4Config::Manual => f.write_str("manual"),
        }
    }
}

impl Ip6Config {
    fn parse(text: &str) -> Ip6Config {
        match text {
            "auto" => Ip6Config::Auto,
            "dhcp" => Ip6Config::Dhcp,
            "manual" => Ip6Config::Manual,
            cidr => {
                let (address, prefix) = split_cidr(cidr);
                Ip6Config::Static { address, prefix }
            }
        }
    }
}

impl fmt::Display for Ip6Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ip6Config::Static { address, prefix } => write!(f, "{address}/{prefix}"),
            Ip6Config::Auto => f.write_str("auto"),
            Ip6Config::Dhcp => f.write_str("dhcp"),
            Ip6Config::Manual => f.write_str("manual"),
        }
    }
}

impl NetDevice {
    /// Parse a `netN` value (`name=eth0,bridge=vmbr0,ip=dhcp`).
    pub fn parse(value: &str) -> Result<NetDevice, PropertyError> {
        let map = parse(KEYS, value)?;
        let flag = |k: &str| map.get(k).map(|v| v == "1");
        let number = |k: &str| {
            map.get(k).map(|v| {
                v.trim_start_matches('+')
                    .parse::<u16>()
                    .expect("range-checked")
            })
        };
        Ok(NetDevice {
            name: map["name"].clone(),
            bridge: map.get("bridge").cloned(),
            hwaddr: map.get("hwaddr").cloned(),
            mtu: number("mtu"),
            ip: map.get("ip").map(|v| Ip4Config::parse(v)),
            gw: map.get("gw").cloned(),
            ip6: map.get("ip6").map(|v| Ip6Config::parse(v)),
            gw6: map.get("gw6").cloned(),
            firewall: flag("firewall"),
            tag: number("tag"),
            trunks: map
                .get("trunks")
                .map(|v| {
                    v.split(';')
                        .map(|t| {
                            t.parse::<u16>()
                                .map_err(|_| PropertyError(format!("invalid VLAN tag '{t}'")))
                        })
                        .collect()
                })
                .transpose()?,
            rate: map.get("rate").cloned(),
            link_down: flag("link_down"),
            host_managed: flag("host-managed"),
            kind: map.get("type").cloned(),
        })
    }
}

impl fmt::Display for NetDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map: BTreeMap<&'static str, String> = BTreeMap::new();
        map.insert("name", self.name.clone());
        let texts = [
            ("bridge", &self.bridge),
            ("hwaddr", &self.hwaddr),
            ("gw", &self.gw),
            ("gw6", &self.gw6),
            ("rate", &self.rate),
            ("type", &self.kind),
        ];
        for (name, value) in texts {
            if let Some(value) = value {
                map.insert(name, value.clone());
            }
        }
        for (name, value) in [
            ("firewall", self.firewall),
            ("link_down", self.link_down),
            ("host-managed", self.host_managed),
        ] {
            if let Some(value) = value {
                map.insert(name, bool_text(value));
            }
        }
        if let Some(mtu) = self.mtu {
            map.insert("mtu", mtu.to_string());
        }
        if let Some(tag) = self.tag {
            map.insert("tag", tag.to_string());
        }
        if let Some(ip) = &self.ip {
            map.insert("ip", ip.to_string());
        }
        if let Some(ip6) = &self.ip6 {
            map.insert("ip6", ip6.to_string());
        }
        if let Some(trunks) = &self.trunks {
            map.insert(
                "trunks",
                trunks
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(";"),
            );
        }
        f.write_str(&print(KEYS, &map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_name_first_then_sorted() {
        let net =
            NetDevice::parse("bridge=vmbr0,hwaddr=66:64:66:64:64:36,ip=dhcp,name=eth0,type=veth")
                .unwrap();
        assert_eq!(
            net.to_string(),
            "name=eth0,bridge=vmbr0,hwaddr=66:64:66:64:64:36,ip=dhcp,type=veth"
        );
        let full = "name=eth1,bridge=vmbr1,firewall=1,gw=10.0.0.1,gw6=fd00::1,host-managed=1,hwaddr=BC:24:11:AA:BB:CC,ip=10.0.0.5/24,ip6=fd00::5/64,link_down=1,mtu=1400,rate=12.5,tag=10,trunks=20;30,type=veth";
        let net = NetDevice::parse(full).unwrap();
        assert_eq!(
            net.ip,
            Some(Ip4Config::Static {
                address: "10.0.0.5".into(),
                prefix: 24
            })
        );
        assert_eq!(net.trunks, Some(vec![20, 30]));
        assert_eq!(net.to_string(), full);
        assert_eq!(
            NetDevice::parse("name=eth0,firewall=yes")
                .unwrap()
                .to_string(),
            "name=eth0,firewall=1"
        );
    }

    #[test]
    fn errors() {
        let err = |v: &str| NetDevice::parse(v).unwrap_err().0;
        assert_eq!(
            err("bridge=vmbr0"),
            "format error\nname: property is missing and it is not optional"
        );
        assert_eq!(
            err("name=eth0,mtu=10"),
            "format error\nmtu: value must have a minimum value of 64"
        );
        assert_eq!(
            err("name=eth0,tag=4095"),
            "format error\ntag: value must have a maximum value of 4094"
        );
        assert_eq!(
            err("name=eth0,hwaddr=01:00:00:00:00:01"),
            "format error\nhwaddr: invalid format - value does not look like a valid unicast MAC address\n"
        );
        assert_eq!(
            err("name=eth0,ip=10.0.0.1"),
            "format error\nip: invalid format - value does not look like a valid ipv4 network configuration\n"
        );
        assert_eq!(
            err("name=eth0,type=tap"),
            "format error\ntype: value 'tap' does not have a value in the enumeration 'veth'"
        );
        assert_eq!(
            err("name=eth0,rate=fast"),
            "format error\nrate: type check ('number') failed - got 'fast'"
        );
        assert_eq!(
            err("eth0"),
            "value without key, but schema does not define a default key"
        );
    }

    proptest::proptest! {
        #[test]
        fn printed_devices_parse_back(
            name in "[a-z][a-z0-9]{0,6}",
            bridge in proptest::option::of("vmbr[0-9]{1,2}"),
            mtu in proptest::option::of(64u16..),
            tag in proptest::option::of(1u16..4095),
            firewall in proptest::option::of(proptest::bool::ANY),
            prefix in 8u8..=32,
        ) {
            let net = NetDevice {
                name, bridge, mtu, tag, firewall,
                ip: Some(Ip4Config::Static { address: "192.0.2.7".into(), prefix }),
                kind: Some("veth".into()),
                ..NetDevice::default()
            };
            let printed = net.to_string();
            let parsed = NetDevice::parse(&printed).unwrap();
            proptest::prop_assert_eq!(&parsed, &net);
            proptest::prop_assert_eq!(parsed.to_string(), printed);
        }

        #[test]
        fn arbitrary_input_never_panics(text in ".*") {
            let _ = NetDevice::parse(&text);
        }
    }
}
