//! Gentoo's netifrc: `/etc/conf.d/net` with a `config_<if>`/`routes_<if>` pair per NIC, and
//! an `/etc/init.d/net.<if>` link to `net.lo` for each interface to bring up.
//!
//! pct walks the NICs in Perl hash order, which differs from run to run; here they come in
//! index order, one of the orders pct can produce.

use super::{ip_in_cidr, ip4_cidr};
use crate::config::{Ip4Config, Ip6Config, NetDevice};
use crate::setup::context::{GuestConfig, Setup};
use crate::setup::error::SetupError;
use crate::setup::root::ModifyOptions;
use crate::setup::section::Placement;

const CONF_D_NET: &str = "/etc/conf.d/net";

/// One NIC's `config_` and `routes_` values, and whether netifrc has to start it.
#[derive(Debug, Default, PartialEq, Eq)]
struct NicConfig {
    config: Vec<String>,
    routes: Vec<String>,
    up: bool,
}

fn ipv4_part(net: &NetDevice, nic: &mut NicConfig) {
    let mut static_cidr = None;
    match &net.ip {
        Some(Ip4Config::Dhcp) => {
            nic.config.push("dhcp".into());
            nic.up = true;
        }
        Some(ip @ Ip4Config::Static { .. }) => {
            let cidr = ip4_cidr(ip).unwrap_or_default();
            nic.config.push(cidr.clone());
            nic.up = true;
            static_cidr = Some(cidr);
        }
        Some(Ip4Config::Manual) | None => {}
    }
    if let Some(gw) = &net.gw {
        if static_cidr.is_some_and(|cidr| !ip_in_cidr(gw, &cidr)) {
            nic.routes.push(format!("-host {gw} dev {}", net.name));
        }
        nic.routes.push(format!("default gw {gw}"));
        nic.up = true;
    }
}

fn ipv6_part(net: &NetDevice, nic: &mut NicConfig) {
    // DHCPv6 is left out: the templates' DHCP client cannot do it. Anything else but
    // `manual` is written as the address, `auto` included, as pct writes it.
    let has_ipv6 = match &net.ip6 {
        Some(Ip6Config::Static { address, prefix }) => {
            nic.config.push(format!("{address}/{prefix}"));
            true
        }
        Some(Ip6Config::Auto) => {
            nic.config.push("auto".into());
            true
        }
        Some(Ip6Config::Dhcp | Ip6Config::Manual) | None => false,
    };
    if has_ipv6 {
        nic.up = true;
    }
    if let Some(gw6) = &net.gw6 {
        // pct tests this gateway against the IPv6 subnet as if both were IPv4, a test that
        // never succeeds, so every configured IPv6 address comes with a host route.
        if has_ipv6 {
            nic.routes.push(format!("-6 -host {gw6} dev {}", net.name));
        }
        nic.routes.push(format!("-6 default gw {gw6}"));
        nic.up = true;
    }
}

fn nic_config(net: &NetDevice) -> NicConfig {
    let mut nic = NicConfig::default();
    ipv4_part(net, &mut nic);
    ipv6_part(net, &mut nic);
    nic
}

/// The managed text of `/etc/conf.d/net` and the interfaces to start.
fn conf_d_net(conf: &GuestConfig) -> (String, Vec<String>) {
    // pct assumes ifconfig rather than reading which module the guest uses.
    let mut data = String::from("modules=\"$modules ifconfig\"\n");
    let mut up: Vec<String> = Vec::new();
    for net in conf.named_nets() {
        let nic = nic_config(net);
        let name = &net.name;
        if !nic.config.is_empty() {
            data.push_str(&format!("config_{name}=\"{}\"\n", nic.config.join("\n")));
        }
        if !nic.routes.is_empty() {
            data.push_str(&format!("routes_{name}=\"{}\"\n", nic.routes.join("\n")));
        }
        if nic.up && !up.contains(name) {
            up.push(name.clone());
        }
    }
    (data, up)
}

/// `/etc/conf.d/net`, all of it a managed section, and the `net.<if>` init links.
pub fn setup_gentoo_network(setup: &Setup) -> Result<(), SetupError> {
    let (data, up) = conf_d_net(setup.conf);
    setup.modify(
        CONF_D_NET,
        &data,
        ModifyOptions {
            placement: Placement::Replace,
            ..ModifyOptions::default()
        },
    )?;
    for name in up {
        // An existing link (or file) stays, as pct's symlink call fails on it.
        setup
            .root
            .symlink("net.lo", &format!("/etc/init.d/net.{name}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::context::HostEnv;
    use crate::setup::random::Drand48;
    use crate::setup::root::GuestRoot;
    use std::fs;

    fn conf(nets: &[&str]) -> GuestConfig {
        GuestConfig {
            nets: nets
                .iter()
                .enumerate()
                .map(|(index, text)| (index as u16, NetDevice::parse(text).unwrap()))
                .collect(),
            ..GuestConfig::default()
        }
    }

    #[test]
    fn static_dual_stack_with_gateways() {
        let (data, up) = conf_d_net(&conf(&[
            "name=eth0,ip=10.0.0.2/24,gw=10.0.0.1,ip6=fd00::2/64,gw6=fd00::1",
        ]));
        assert_eq!(
            data,
            "modules=\"$modules ifconfig\"\n\
             config_eth0=\"10.0.0.2/24\nfd00::2/64\"\n\
             routes_eth0=\"default gw 10.0.0.1\n-6 -host fd00::1 dev eth0\n-6 default gw fd00::1\"\n"
        );
        assert_eq!(up, ["eth0"]);
    }

    #[test]
    fn dynamic_manual_and_several_nics() {
        let (data, up) = conf_d_net(&conf(&[
            "name=eth0,ip=dhcp,ip6=dhcp",
            "name=eth1,ip=manual,ip6=auto,gw6=fe80::1",
            "name=eth2,ip=manual,ip6=manual",
            "name=eth3,ip=10.0.0.100/32,gw=11.0.0.1",
            "name=eth4,ip6=dhcp,gw=10.1.0.1",
        ]));
        assert_eq!(
            data,
            "modules=\"$modules ifconfig\"\n\
             config_eth0=\"dhcp\"\n\
             config_eth1=\"auto\"\n\
             routes_eth1=\"-6 -host fe80::1 dev eth1\n-6 default gw fe80::1\"\n\
             config_eth3=\"10.0.0.100/32\"\n\
             routes_eth3=\"-host 11.0.0.1 dev eth3\ndefault gw 11.0.0.1\"\n\
             routes_eth4=\"default gw 10.1.0.1\"\n"
        );
        assert_eq!(up, ["eth0", "eth1", "eth3", "eth4"]);
    }

    #[test]
    fn writes_conf_d_net_and_links() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc/conf.d")).unwrap();
        fs::create_dir_all(dir.path().join("etc/init.d")).unwrap();
        fs::write(
            dir.path().join("etc/conf.d/net"),
            "# template default\nconfig_eth0=\"dhcp\"\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("mine", dir.path().join("etc/init.d/net.eth1")).unwrap();
        let conf = conf(&["name=eth0,ip=10.0.0.2/24", "name=eth1,ip=dhcp", "name=eth2"]);
        let root = GuestRoot::open(dir.path(), None).unwrap();
        let host = HostEnv::default();
        let mut random = Drand48::seeded(0);
        let setup = Setup::new(&root, &conf, &host, &mut random);
        setup_gentoo_network(&setup).unwrap();
        let expected = "# --- BEGIN PVE ---\nmodules=\"$modules ifconfig\"\n\
                        config_eth0=\"10.0.0.2/24\"\nconfig_eth1=\"dhcp\"\n# --- END PVE ---\n";
        let net = dir.path().join("etc/conf.d/net");
        assert_eq!(fs::read_to_string(&net).unwrap(), expected);
        setup_gentoo_network(&setup).unwrap();
        assert_eq!(fs::read_to_string(&net).unwrap(), expected);
        let init = dir.path().join("etc/init.d");
        assert_eq!(
            fs::read_link(init.join("net.eth0")).unwrap(),
            std::path::Path::new("net.lo")
        );
        assert_eq!(
            fs::read_link(init.join("net.eth1")).unwrap(),
            std::path::Path::new("mine")
        );
        assert!(fs::symlink_metadata(init.join("net.eth2")).is_err());
    }
}
