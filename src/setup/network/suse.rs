//! SUSE's wicked configuration: `/etc/sysconfig/network/ifcfg-<name>` and the routes in
//! `ifroute-<name>`, whose managed section leaves routes the guest added alone.

use super::{ip_in_cidr, ip4_cidr, ip6_cidr, is_link_local6};
use crate::config::{Ip4Config, Ip6Config, NetDevice};
use crate::setup::context::Setup;
use crate::setup::error::SetupError;
use crate::setup::network::networkd::setup_systemd_networkd;
use crate::setup::root::ModifyOptions;
use crate::setup::section::Placement;

const NETWORK_DIR: &str = "/etc/sysconfig/network";

/// What one NIC gets.
#[derive(Debug, PartialEq, Eq)]
struct NicFiles {
    ifcfg: String,
    routes: String,
}

/// `BOOTPROTO` for the DHCP families in use.
fn bootproto(dhcp4: bool, dhcp6: bool) -> &'static str {
    match (dhcp4, dhcp6) {
        (false, false) => "static",
        (true, false) => "dhcp4",
        (false, true) => "dhcp6",
        (true, true) => "dhcp",
    }
}

/// The files for `net`; `None` where pct skips the NIC: it is configured, but neither by
/// DHCP nor with an address (SLAAC alone, which pct does not know how to express here).
fn nic_files(net: &NetDevice) -> Option<NicFiles> {
    let name = &net.name;
    let mut configured = false;
    let (mut dhcp4, mut dhcp6) = (false, false);
    let mut addresses = Vec::new();
    let mut routes = String::new();

    match &net.ip {
        Some(Ip4Config::Dhcp) => {
            configured = true;
            dhcp4 = true;
        }
        Some(ip @ Ip4Config::Static { .. }) => {
            configured = true;
            let cidr = ip4_cidr(ip).unwrap_or_default();
            if let Some(gw) = &net.gw {
                if !ip_in_cidr(gw, &cidr) {
                    routes.push_str(&format!("{gw} 0.0.0.0 255.255.255.255 {name}\n"));
                }
                routes.push_str(&format!("default {gw} 0.0.0.0 {name}\n"));
            }
            addresses.push(cidr);
        }
        Some(Ip4Config::Manual) | None => {}
    }

    match &net.ip6 {
        Some(Ip6Config::Auto) => configured = true,
        Some(Ip6Config::Dhcp) => {
            configured = true;
            dhcp6 = true;
        }
        Some(ip6 @ Ip6Config::Static { .. }) => {
            configured = true;
            let cidr = ip6_cidr(ip6).unwrap_or_default();
            if let Some(gw6) = &net.gw6 {
                if !ip_in_cidr(gw6, &cidr) && !is_link_local6(gw6) {
                    routes.push_str(&format!("{gw6}/128 - - {name}\n"));
                }
                routes.push_str(&format!("default {gw6} - {name}\n"));
            }
            addresses.push(cidr);
        }
        Some(Ip6Config::Manual) | None => {}
    }

    let address_lines = match addresses.as_slice() {
        [] if configured && !dhcp4 && !dhcp6 => return None,
        [] => String::new(),
        [only] => format!("IPADDR={only}\n"),
        several => several
            .iter()
            .enumerate()
            .map(|(index, address)| format!("IPADDR_{}={address}\n", index + 1))
            .collect(),
    };
    let startmode = if configured { "onboot" } else { "manual" };
    Some(NicFiles {
        ifcfg: format!(
            "STARTMODE={startmode}\nBOOTPROTO={}\n{address_lines}",
            bootproto(dhcp4, dhcp6)
        ),
        routes,
    })
}

/// `ifcfg-`/`ifroute-` files for every named NIC, plus networkd files where the guest has
/// networkd.
pub fn setup_suse_network(setup: &Setup) -> Result<(), SetupError> {
    setup.make_path(NETWORK_DIR)?;
    for net in setup.conf.named_nets() {
        let Some(files) = nic_files(net) else {
            continue;
        };
        let name = &net.name;
        setup.write(&format!("{NETWORK_DIR}/ifcfg-{name}"), &files.ifcfg, None)?;
        setup.modify(
            &format!("{NETWORK_DIR}/ifroute-{name}"),
            &files.routes,
            ModifyOptions {
                placement: Placement::Prepend,
                delete: true,
                perms: None,
            },
        )?;
    }
    if setup.root.is_file("/usr/lib/systemd/systemd-networkd") {
        setup_systemd_networkd(setup)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::context::{GuestConfig, HostEnv};
    use crate::setup::random::Drand48;
    use crate::setup::root::GuestRoot;
    use std::fs;
    use std::path::Path;

    fn nic(text: &str) -> NetDevice {
        NetDevice::parse(text).unwrap()
    }

    fn files(text: &str) -> Option<(String, String)> {
        nic_files(&nic(text)).map(|files| (files.ifcfg, files.routes))
    }

    use crate::setup::testing::fixture;

    fn read(dir: &Path, path: &str) -> Option<String> {
        fs::read_to_string(dir.join(path.trim_start_matches('/'))).ok()
    }

    fn run(dir: &Path, nets: &[&str]) {
        let conf = GuestConfig {
            nets: nets
                .iter()
                .enumerate()
                .map(|(index, text)| (index as u16, nic(text)))
                .collect(),
            ..GuestConfig::default()
        };
        let root = GuestRoot::open(dir, None).unwrap();
        let host = HostEnv::default();
        let mut random = Drand48::seeded(0);
        let setup = Setup::new(&root, &conf, &host, &mut random);
        setup_suse_network(&setup).unwrap();
    }

    #[test]
    fn static_dual_stack_lists_both_addresses() {
        assert_eq!(
            files("name=eth0,ip=10.0.0.2/24,gw=10.0.0.1,ip6=fd00::2/64,gw6=fd00::1").unwrap(),
            (
                "STARTMODE=onboot\nBOOTPROTO=static\nIPADDR_1=10.0.0.2/24\nIPADDR_2=fd00::2/64\n"
                    .into(),
                "default 10.0.0.1 0.0.0.0 eth0\ndefault fd00::1 - eth0\n".into()
            )
        );
        assert_eq!(
            files("name=eth0,ip=10.0.0.2/24").unwrap().0,
            "STARTMODE=onboot\nBOOTPROTO=static\nIPADDR=10.0.0.2/24\n"
        );
    }

    #[test]
    fn dhcp_modes() {
        assert_eq!(
            files("name=eth0,ip=dhcp,ip6=dhcp").unwrap().0,
            "STARTMODE=onboot\nBOOTPROTO=dhcp\n"
        );
        assert_eq!(
            files("name=eth0,ip=dhcp").unwrap().0,
            "STARTMODE=onboot\nBOOTPROTO=dhcp4\n"
        );
        assert_eq!(
            files("name=eth0,ip=manual,ip6=dhcp").unwrap().0,
            "STARTMODE=onboot\nBOOTPROTO=dhcp6\n"
        );
        assert_eq!(
            files("name=eth0,ip=dhcp,ip6=fd00::2/64").unwrap().0,
            "STARTMODE=onboot\nBOOTPROTO=dhcp4\nIPADDR=fd00::2/64\n"
        );
    }

    #[test]
    fn manual_and_auto() {
        assert_eq!(
            files("name=eth0,ip=manual,ip6=manual").unwrap(),
            ("STARTMODE=manual\nBOOTPROTO=static\n".into(), String::new())
        );
        assert_eq!(files("name=eth0,ip6=auto"), None);
        assert_eq!(
            files("name=eth0,ip6=auto,ip=10.0.0.2/24").unwrap().0,
            "STARTMODE=onboot\nBOOTPROTO=static\nIPADDR=10.0.0.2/24\n"
        );
    }

    #[test]
    fn off_subnet_gateways_get_host_routes() {
        assert_eq!(
            files("name=eth0,ip=10.0.0.100/32,gw=11.0.0.1,ip6=fd00::5/128,gw6=fd01::1")
                .unwrap()
                .1,
            "11.0.0.1 0.0.0.0 255.255.255.255 eth0\ndefault 11.0.0.1 0.0.0.0 eth0\n\
             fd01::1/128 - - eth0\ndefault fd01::1 - eth0\n"
        );
        assert_eq!(
            files("name=eth0,ip6=fd00::5/128,gw6=fe80::1").unwrap().1,
            "default fe80::1 - eth0\n"
        );
    }

    #[test]
    fn files_on_disk() {
        let dir = fixture(&[
            (
                "/etc/sysconfig/network/ifroute-eth0",
                "10.9.0.0/16 10.0.0.254 - eth0\n",
            ),
            (
                "/etc/sysconfig/network/ifroute-eth1",
                "# --- BEGIN PVE ---\ndefault 10.1.0.1 0.0.0.0 eth1\n# --- END PVE ---\n",
            ),
            ("/etc/sysconfig/network/ifcfg-eth2", "mine\n"),
            ("/etc/sysconfig/network/.pve-ignore.ifcfg-eth2", ""),
        ]);
        let nets = [
            "name=eth0,ip=10.0.0.100/32,gw=11.0.0.1",
            "name=eth1,ip=dhcp",
            "name=eth2,ip=dhcp",
        ];
        run(dir.path(), &nets);
        let net = "/etc/sysconfig/network";
        let expected_route0 = "# --- BEGIN PVE ---\n11.0.0.1 0.0.0.0 255.255.255.255 eth0\n\
                               default 11.0.0.1 0.0.0.0 eth0\n# --- END PVE ---\n\
                               10.9.0.0/16 10.0.0.254 - eth0\n";
        let check = |dir: &Path| {
            assert_eq!(
                read(dir, &format!("{net}/ifcfg-eth0")).unwrap(),
                "STARTMODE=onboot\nBOOTPROTO=static\nIPADDR=10.0.0.100/32\n"
            );
            assert_eq!(
                read(dir, &format!("{net}/ifroute-eth0")).unwrap(),
                expected_route0
            );
            assert_eq!(
                read(dir, &format!("{net}/ifcfg-eth1")).unwrap(),
                "STARTMODE=onboot\nBOOTPROTO=dhcp4\n"
            );
            assert_eq!(read(dir, &format!("{net}/ifroute-eth1")), None);
            assert_eq!(read(dir, &format!("{net}/ifcfg-eth2")).unwrap(), "mine\n");
        };
        check(dir.path());
        run(dir.path(), &nets);
        check(dir.path());
        // No networkd in the guest, so no networkd files.
        assert!(!dir.path().join("etc/systemd/network").exists());
    }

    #[test]
    fn networkd_too_where_the_guest_has_it() {
        let dir = fixture(&[("/usr/lib/systemd/systemd-networkd", "")]);
        run(dir.path(), &["name=eth0,ip=dhcp"]);
        assert!(
            read(dir.path(), "/etc/systemd/network/eth0.network")
                .unwrap()
                .contains("DHCP = ipv4\n")
        );
    }
}
