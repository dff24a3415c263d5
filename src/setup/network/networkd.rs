//! systemd-networkd: one `/etc/systemd/network/<name>.network` per named NIC.

use super::{ip_in_cidr, is_link_local6};
use crate::config::{Ip4Config, Ip6Config, NetDevice};
use crate::setup::context::Setup;
use crate::setup::error::SetupError;

/// The `.network` file pct writes for `net`.
pub fn network_file(net: &NetDevice) -> String {
    let name = &net.name;
    let mut data = format!(
        "[Match]\nName = {name}\n\n[Network]\nDescription = Interface {name} autoconfigured by PVE\n"
    );
    let mut routes = String::new();
    let (mut dhcp4, mut dhcp6) = (false, false);
    let mut accept_ra = false;
    let mut ipv4_cidr = None;
    match &net.ip {
        Some(Ip4Config::Dhcp) => dhcp4 = true,
        Some(Ip4Config::Static { address, prefix }) => {
            let cidr = format!("{address}/{prefix}");
            data.push_str(&format!("Address = {cidr}\n"));
            ipv4_cidr = Some(cidr);
        }
        Some(Ip4Config::Manual) | None => {}
    }
    if let Some(gw) = &net.gw {
        data.push_str(&format!("Gateway = {gw}\n"));
        if let Some(cidr) = &ipv4_cidr
            && !ip_in_cidr(gw, cidr)
        {
            routes.push_str(&format!("\n[Route]\nDestination = {gw}/32\nScope = link\n"));
        }
    }
    let mut ipv6_cidr = None;
    match &net.ip6 {
        Some(Ip6Config::Dhcp) => {
            dhcp6 = true;
            accept_ra = true;
        }
        Some(Ip6Config::Auto) => accept_ra = true,
        Some(Ip6Config::Static { address, prefix }) => {
            let cidr = format!("{address}/{prefix}");
            data.push_str(&format!("Address = {cidr}\n"));
            ipv6_cidr = Some(cidr);
        }
        Some(Ip6Config::Manual) | None => {}
    }
    if let Some(gw) = &net.gw6 {
        accept_ra = false;
        data.push_str(&format!("Gateway = {gw}\n"));
        if let Some(cidr) = &ipv6_cidr
            && !ip_in_cidr(gw, cidr)
            && !is_link_local6(gw)
        {
            routes.push_str(&format!(
                "\n[Route]\nDestination = {gw}/128\nScope = link\n"
            ));
        }
    }
    let dhcp = match (dhcp4, dhcp6) {
        (false, false) => "no",
        (true, false) => "ipv4",
        (false, true) => "ipv6",
        (true, true) => "yes",
    };
    data.push_str(&format!("DHCP = {dhcp}\nIPv6AcceptRA = {accept_ra}\n"));
    data.push_str(&routes);
    data
}

/// Write the `.network` file of every named NIC.
pub fn setup_systemd_networkd(setup: &Setup) -> Result<(), SetupError> {
    for net in setup.conf.named_nets() {
        setup.make_path("/etc/systemd/network")?;
        setup.write(
            &format!("/etc/systemd/network/{}.network", net.name),
            &network_file(net),
            None,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(text: &str) -> NetDevice {
        NetDevice::parse(text).unwrap()
    }

    #[test]
    fn static_dual_stack() {
        assert_eq!(
            network_file(&nic(
                "name=eth0,bridge=vmbr0,ip=10.0.0.2/24,gw=10.0.0.1,ip6=fd00::2/64,gw6=fd00::1"
            )),
            "[Match]\nName = eth0\n\n[Network]\nDescription = Interface eth0 autoconfigured by PVE\n\
             Address = 10.0.0.2/24\nGateway = 10.0.0.1\nAddress = fd00::2/64\nGateway = fd00::1\n\
             DHCP = no\nIPv6AcceptRA = false\n"
        );
    }

    #[test]
    fn dhcp_and_auto() {
        assert_eq!(
            network_file(&nic("name=eth1,ip=dhcp,ip6=dhcp")),
            "[Match]\nName = eth1\n\n[Network]\nDescription = Interface eth1 autoconfigured by PVE\n\
             DHCP = yes\nIPv6AcceptRA = true\n"
        );
        assert_eq!(
            network_file(&nic("name=eth1,ip=manual,ip6=auto")),
            "[Match]\nName = eth1\n\n[Network]\nDescription = Interface eth1 autoconfigured by PVE\n\
             DHCP = no\nIPv6AcceptRA = true\n"
        );
        assert!(network_file(&nic("name=eth1,ip6=dhcp")).contains("DHCP = ipv6\n"));
        // A v6 gateway switches router advertisements off, even with SLAAC.
        assert!(
            network_file(&nic("name=eth1,ip6=auto,gw6=fe80::1"))
                .ends_with("IPv6AcceptRA = false\n")
        );
    }

    #[test]
    fn off_subnet_gateways_get_link_routes() {
        assert_eq!(
            network_file(&nic(
                "name=eth0,ip=10.0.0.100/32,gw=11.0.0.1,ip6=fd00::5/128,gw6=fd01::1"
            )),
            "[Match]\nName = eth0\n\n[Network]\nDescription = Interface eth0 autoconfigured by PVE\n\
             Address = 10.0.0.100/32\nGateway = 11.0.0.1\nAddress = fd00::5/128\nGateway = fd01::1\n\
             DHCP = no\nIPv6AcceptRA = false\n\
             \n[Route]\nDestination = 11.0.0.1/32\nScope = link\n\
             \n[Route]\nDestination = fd01::1/128\nScope = link\n"
        );
        // Link-local v6 gateways need no route.
        assert!(!network_file(&nic("name=eth0,ip6=fd00::5/128,gw6=fe80::1")).contains("[Route]"));
    }
}
