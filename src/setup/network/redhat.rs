//! Red Hat's network configuration: the network-scripts `ifcfg-<name>` files with their
//! `route-<name>`/`route6-<name>` companions (up to CentOS 9), and the NetworkManager
//! keyfiles that replace them from CentOS 10 on.

use crate::setup::error::SetupError;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::{ip_in_cidr, ip4_cidr, ip6_cidr, ipv4_netmask, is_link_local6};
use crate::config::{Ip4Config, Ip6Config, NetDevice};
use crate::setup::base::{lookup_dns, split_list, truthy};
use crate::setup::context::Setup;
use crate::setup::random::uuid_v4;
use crate::setup::root::ModifyOptions;
use crate::setup::section::Placement;

const SCRIPTS_DIR: &str = "/etc/sysconfig/network-scripts";
const KEYFILE_DIR: &str = "/etc/NetworkManager/system-connections";
const SYSCONFIG_NETWORK: &str = "/etc/sysconfig/network";

/// The DNS settings every interface file repeats.
struct Dns {
    search: Option<String>,
    nameservers: Vec<String>,
}

impl Dns {
    fn of(setup: &Setup) -> Dns {
        let (search, nameservers) = lookup_dns(setup);
        Dns {
            search,
            nameservers: split_list(&nameservers)
                .into_iter()
                .map(str::to_string)
                .collect(),
        }
    }

    /// The search domains, when pct would write them at all (Perl truth of the setting).
    fn search_domains(&self) -> Option<Vec<&str>> {
        truthy(self.search.as_deref()).then(|| split_list(self.search.as_deref().unwrap_or("")))
    }
}

/// What one NIC gets in network-scripts.
#[derive(Debug, PartialEq, Eq)]
struct ScriptFiles {
    ifcfg: String,
    routes: String,
    routes6: String,
}

/// pct's `parse_ipv4_cidr`, which takes prefixes from 8 to 32 only.
fn ipv4_netmask_checked(address: &str, prefix: u8) -> Result<String, SetupError> {
    if (8..=32).contains(&prefix) {
        Ok(ipv4_netmask(prefix))
    } else {
        Err(SetupError::InvalidAddress {
            address: format!("{address}/{prefix}"),
        })
    }
}

/// An off-subnet gateway is reached through a host route first.
fn gateway_routes(gw: &str, name: &str) -> String {
    format!("{gw} dev {name}\ndefault via {gw} dev {name}\n")
}

/// Whether an IPv6 gateway needs routes of its own: outside the address's subnet and not
/// link-local.
fn ipv6_gateway_off_link(gw: &str, cidr: &str) -> bool {
    !ip_in_cidr(gw, cidr) && !is_link_local6(gw)
}

/// The `ifcfg-<name>` text and route lines for `net`; `None` where pct writes nothing for
/// it, which is only when it has no address and no DNS to carry either.
fn script_files(net: &NetDevice, uuid: &str, dns: &Dns) -> Result<Option<ScriptFiles>, SetupError> {
    let name = &net.name;
    let mut data = String::new();
    let mut bootproto = "";
    let mut routes = String::new();
    let mut routes6 = String::new();

    match &net.ip {
        Some(Ip4Config::Dhcp) => bootproto = "dhcp",
        Some(ip @ Ip4Config::Static { address, prefix }) => {
            bootproto = "none";
            let netmask = ipv4_netmask_checked(address, *prefix)?;
            data.push_str(&format!("IPADDR={address}\nNETMASK={netmask}\n"));
            if let Some(gw) = &net.gw {
                data.push_str(&format!("GATEWAY={gw}\n"));
                let cidr = ip4_cidr(ip).unwrap_or_default();
                if !ip_in_cidr(gw, &cidr) {
                    routes.push_str(&gateway_routes(gw, name));
                }
            }
        }
        Some(Ip4Config::Manual) | None => {}
    }

    if let Some(ip6) = net.ip6.as_ref().filter(|ip6| **ip6 != Ip6Config::Manual) {
        if bootproto.is_empty() {
            bootproto = "none";
        }
        data.push_str("IPV6INIT=yes\n");
        match ip6 {
            Ip6Config::Auto => data.push_str("IPV6_AUTOCONF=yes\n"),
            Ip6Config::Dhcp => data.push_str("DHCPV6C=yes\n"),
            Ip6Config::Static { .. } => {
                let cidr = ip6_cidr(ip6).unwrap_or_default();
                data.push_str(&format!("IPV6ADDR={cidr}\nIPV6_AUTOCONF=no\n"));
                if let Some(gw6) = &net.gw6 {
                    if ipv6_gateway_off_link(gw6, &cidr) {
                        routes6.push_str(&gateway_routes(gw6, name));
                    } else {
                        data.push_str(&format!("IPV6_DEFAULTGW={gw6}\n"));
                    }
                }
            }
            Ip6Config::Manual => {}
        }
    }

    // pct repeats the DNS settings in every interface file, configured or not; that alone
    // is reason enough for it to write the file (with an empty BOOTPROTO).
    for (index, server) in dns.nameservers.iter().enumerate() {
        data.push_str(&format!("DNS{}={server}\n", index + 1));
    }
    if let Some(domains) = dns.search_domains() {
        data.push_str(&format!("DOMAIN={}\n", domains.join(" ")));
    }

    if data.is_empty() && bootproto.is_empty() {
        return Ok(None);
    }
    let ifcfg = format!("DEVICE={name}\nONBOOT=yes\nUUID={uuid}\nBOOTPROTO={bootproto}\n{data}");
    Ok(Some(ScriptFiles {
        ifcfg,
        routes,
        routes6,
    }))
}

/// The managed section of a route file, dropped with the file once it was all there was.
fn route_file_options() -> ModifyOptions {
    ModifyOptions {
        placement: Placement::Prepend,
        delete: true,
        perms: None,
    }
}

/// Perl's `s/(KEY)=\S+/$1=yes/`: the first `KEY=` anywhere that has a value gets `yes`;
/// false when there is none.
fn set_first_assignment_yes(data: &mut String, key: &str) -> bool {
    let needle = format!("{key}=");
    let mut from = 0;
    while let Some(offset) = data[from..].find(&needle) {
        let value_start = from + offset + needle.len();
        let value_len = data[value_start..]
            .find(is_perl_space)
            .unwrap_or(data.len() - value_start);
        if value_len > 0 {
            data.replace_range(value_start..value_start + value_len, "yes");
            return true;
        }
        from = value_start;
    }
    false
}

/// Perl's `\s` on a byte string.
pub(crate) fn is_perl_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// `/etc/sysconfig/network`, where it exists, switches on the families in use.
fn enable_networking(setup: &Setup, has_ipv4: bool, has_ipv6: bool) -> Result<(), SetupError> {
    if !setup.root.is_file(SYSCONFIG_NETWORK) {
        return Ok(());
    }
    let mut data = setup.read(SYSCONFIG_NETWORK)?;
    for (wanted, key) in [(has_ipv4, "NETWORKING"), (has_ipv6, "NETWORKING_IPV6")] {
        // Appended as is: pct does not end an unterminated last line first.
        if wanted && !set_first_assignment_yes(&mut data, key) {
            data.push_str(&format!("{key}=yes\n"));
        }
    }
    setup.write(SYSCONFIG_NETWORK, &data, None)
}

/// network-scripts for every named NIC, in index order (pct walks its config hash, whose
/// order only decides which NIC draws which UUID).
pub fn setup_network_scripts(setup: &mut Setup) -> Result<(), SetupError> {
    setup.make_path(SCRIPTS_DIR)?;
    let conf = setup.conf;
    let dns = Dns::of(setup);
    let (mut has_ipv4, mut has_ipv6) = (false, false);
    for net in conf.named_nets() {
        has_ipv4 |= net.ip.is_some();
        has_ipv6 |= net.ip6.is_some();
        // Drawn for every NIC, even one that gets no file, as pct draws it.
        let uuid = uuid_v4(&mut *setup.random);
        let Some(files) = script_files(net, &uuid, &dns)? else {
            continue;
        };
        let name = &net.name;
        setup.write(&format!("{SCRIPTS_DIR}/ifcfg-{name}"), &files.ifcfg, None)?;
        setup.modify(
            &format!("{SCRIPTS_DIR}/route-{name}"),
            &files.routes,
            route_file_options(),
        )?;
        setup.modify(
            &format!("{SCRIPTS_DIR}/route6-{name}"),
            &files.routes6,
            route_file_options(),
        )?;
    }
    enable_networking(setup, has_ipv4, has_ipv6)
}

/// `dns=` and `dns-search=` of one address family's section.
fn keyfile_dns(servers: &[&str], dns: &Dns) -> String {
    if servers.is_empty() {
        return String::new();
    }
    let mut text = format!("dns={}\n", servers.join(";"));
    if let Some(domains) = dns.search_domains() {
        text.push_str(&format!("dns-search={}\n", domains.join(";")));
    }
    text
}

fn keyfile_ipv4(net: &NetDevice, dns: &Dns) -> String {
    let mut text = String::from("[ipv4]\n");
    let servers: Vec<&str> = dns
        .nameservers
        .iter()
        .map(String::as_str)
        .filter(|server| server.parse::<Ipv4Addr>().is_ok())
        .collect();
    match &net.ip {
        Some(Ip4Config::Dhcp) => text.push_str("method=auto\n"),
        Some(ip @ Ip4Config::Static { .. }) => {
            let cidr = ip4_cidr(ip).unwrap_or_default();
            text.push_str(&format!("method=manual\naddresses={cidr}\n"));
            if let Some(gw) = &net.gw {
                text.push_str(&format!("gateway={gw}\n"));
                if !ip_in_cidr(gw, &cidr) {
                    text.push_str(&format!("routes={gw}\n"));
                }
            }
        }
        Some(Ip4Config::Manual) | None => return text + "method=disabled\n",
    }
    text + &keyfile_dns(&servers, dns)
}

fn keyfile_ipv6(net: &NetDevice, dns: &Dns) -> String {
    let mut text = String::from("[ipv6]\n");
    let servers: Vec<&str> = dns
        .nameservers
        .iter()
        .map(String::as_str)
        .filter(|server| server.parse::<Ipv6Addr>().is_ok())
        .collect();
    match &net.ip6 {
        Some(Ip6Config::Auto | Ip6Config::Dhcp) => text.push_str("method=auto\n"),
        Some(ip6 @ Ip6Config::Static { .. }) => {
            let cidr = ip6_cidr(ip6).unwrap_or_default();
            text.push_str(&format!("method=manual\naddress={cidr}\n"));
            // Unlike IPv4, an off-link gateway is only a route, never also the gateway.
            if let Some(gw6) = &net.gw6 {
                if ipv6_gateway_off_link(gw6, &cidr) {
                    text.push_str(&format!("routes={gw6}\n"));
                } else {
                    text.push_str(&format!("gateway={gw6}\n"));
                }
            }
        }
        Some(Ip6Config::Manual) | None => return text + "method=disabled\n",
    }
    text + &keyfile_dns(&servers, dns)
}

/// The NetworkManager keyfile for `net`.
fn keyfile(net: &NetDevice, uuid: &str, dns: &Dns) -> String {
    let name = &net.name;
    format!(
        "[connection]\nid={name}\nuuid={uuid}\ntype=ethernet\ninterface-name={name}\n{}{}",
        keyfile_ipv4(net, dns),
        keyfile_ipv6(net, dns)
    )
}

/// NetworkManager keyfiles (mode 0600, as NetworkManager insists) for every named NIC, in
/// index order.
pub fn setup_network_manager(setup: &mut Setup) -> Result<(), SetupError> {
    setup.make_path(KEYFILE_DIR)?;
    let conf = setup.conf;
    let dns = Dns::of(setup);
    for net in conf.named_nets() {
        let uuid = uuid_v4(&mut *setup.random);
        setup.write(
            &format!("{KEYFILE_DIR}/{}.nmconnection", net.name),
            &keyfile(net, &uuid, &dns),
            Some(0o600),
        )?;
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
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn nic(text: &str) -> NetDevice {
        NetDevice::parse(text).unwrap()
    }

    fn conf(nets: &[&str]) -> GuestConfig {
        GuestConfig {
            nets: nets
                .iter()
                .enumerate()
                .map(|(index, text)| (index as u16, nic(text)))
                .collect(),
            tty: 2,
            ..GuestConfig::default()
        }
    }

    use crate::setup::testing::fixture;

    fn read(dir: &Path, path: &str) -> Option<String> {
        fs::read_to_string(dir.join(path.trim_start_matches('/'))).ok()
    }

    fn run(
        dir: &Path,
        conf: &GuestConfig,
        host: &HostEnv,
        step: fn(&mut Setup) -> Result<(), SetupError>,
    ) -> Result<(), SetupError> {
        let root = GuestRoot::open(dir, None).unwrap();
        let mut random = Drand48::seeded(0);
        let mut setup = Setup::new(&root, conf, host, &mut random);
        step(&mut setup)
    }

    fn uuids(count: usize) -> Vec<String> {
        let mut random = Drand48::seeded(0);
        (0..count).map(|_| uuid_v4(&mut random)).collect()
    }

    fn no_dns() -> Dns {
        Dns {
            search: None,
            nameservers: Vec::new(),
        }
    }

    #[test]
    fn static_ipv4_and_ipv6_with_dns() {
        let dns = Dns {
            search: Some("a.example, b.example".into()),
            nameservers: vec!["192.0.2.53".into(), "2001:db8::53".into()],
        };
        let files = script_files(
            &nic("name=eth0,ip=10.0.0.2/24,gw=10.0.0.1,ip6=fd00::2/64,gw6=fd00::1"),
            "U",
            &dns,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            files.ifcfg,
            "DEVICE=eth0\nONBOOT=yes\nUUID=U\nBOOTPROTO=none\nIPADDR=10.0.0.2\n\
             NETMASK=255.255.255.0\nGATEWAY=10.0.0.1\nIPV6INIT=yes\nIPV6ADDR=fd00::2/64\n\
             IPV6_AUTOCONF=no\nIPV6_DEFAULTGW=fd00::1\nDNS1=192.0.2.53\nDNS2=2001:db8::53\n\
             DOMAIN=a.example b.example\n"
        );
        assert_eq!((files.routes.as_str(), files.routes6.as_str()), ("", ""));
    }

    #[test]
    fn dynamic_modes() {
        let ifcfg = |text: &str| {
            script_files(&nic(text), "U", &no_dns())
                .unwrap()
                .map(|files| files.ifcfg)
        };
        assert_eq!(
            ifcfg("name=eth0,ip=dhcp,ip6=dhcp").unwrap(),
            "DEVICE=eth0\nONBOOT=yes\nUUID=U\nBOOTPROTO=dhcp\nIPV6INIT=yes\nDHCPV6C=yes\n"
        );
        assert_eq!(
            ifcfg("name=eth0,ip=manual,ip6=auto").unwrap(),
            "DEVICE=eth0\nONBOOT=yes\nUUID=U\nBOOTPROTO=none\nIPV6INIT=yes\nIPV6_AUTOCONF=yes\n"
        );
        assert_eq!(ifcfg("name=eth0,ip=manual,ip6=manual"), None);
        assert_eq!(ifcfg("name=eth0"), None);
    }

    #[test]
    fn unconfigured_nic_still_gets_dns() {
        let dns = Dns {
            search: Some("0".into()),
            nameservers: vec!["192.0.2.53".into()],
        };
        let files = script_files(&nic("name=eth1"), "U", &dns).unwrap().unwrap();
        // A search domain of "0" is false to Perl, so no DOMAIN line.
        assert_eq!(
            files.ifcfg,
            "DEVICE=eth1\nONBOOT=yes\nUUID=U\nBOOTPROTO=\nDNS1=192.0.2.53\n"
        );
    }

    #[test]
    fn off_subnet_gateways_become_routes() {
        let files = script_files(
            &nic("name=eth0,ip=10.0.0.100/32,gw=11.0.0.1,ip6=fd00::5/128,gw6=fd01::1"),
            "U",
            &no_dns(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            files.ifcfg,
            "DEVICE=eth0\nONBOOT=yes\nUUID=U\nBOOTPROTO=none\nIPADDR=10.0.0.100\n\
             NETMASK=255.255.255.255\nGATEWAY=11.0.0.1\nIPV6INIT=yes\nIPV6ADDR=fd00::5/128\n\
             IPV6_AUTOCONF=no\n"
        );
        assert_eq!(
            files.routes,
            "11.0.0.1 dev eth0\ndefault via 11.0.0.1 dev eth0\n"
        );
        assert_eq!(
            files.routes6,
            "fd01::1 dev eth0\ndefault via fd01::1 dev eth0\n"
        );
        // A link-local gateway is always on link.
        let files = script_files(
            &nic("name=eth0,ip6=fd00::5/128,gw6=fe80::1"),
            "U",
            &no_dns(),
        )
        .unwrap()
        .unwrap();
        assert!(files.ifcfg.ends_with("IPV6_DEFAULTGW=fe80::1\n"));
        assert_eq!(files.routes6, "");
    }

    #[test]
    fn short_ipv4_prefixes_are_refused() {
        // The config parser refuses these already; pct's own check stays all the same.
        let net = NetDevice {
            name: "eth0".into(),
            ip: Some(Ip4Config::Static {
                address: "10.0.0.2".into(),
                prefix: 7,
            }),
            ..NetDevice::default()
        };
        let error = script_files(&net, "U", &no_dns()).unwrap_err();
        assert!(
            matches!(&error, SetupError::InvalidAddress { address } if address == "10.0.0.2/7"),
            "{error:?}"
        );
        assert_eq!(error.to_string(), "unable to parse ipv4 address/mask");
    }

    #[test]
    fn network_scripts_on_disk() {
        let user_routes = "10.9.0.0/16 via 10.0.0.254\n";
        let dir = fixture(&[
            ("/etc/sysconfig/network", "NETWORKING=no\nHOSTNAME=old"),
            ("/etc/sysconfig/network-scripts/route-eth0", user_routes),
            (
                "/etc/sysconfig/network-scripts/route6-eth1",
                "# --- BEGIN PVE ---\nfd01::1 dev eth1\n# --- END PVE ---\n",
            ),
        ]);
        let conf = conf(&[
            "name=eth0,ip=10.0.0.100/32,gw=11.0.0.1",
            "name=eth1,ip6=fd00::5/64,gw6=fd00::1",
            "name=eth2,ip=manual",
        ]);
        let host = HostEnv::default();
        run(dir.path(), &conf, &host, setup_network_scripts).unwrap();
        let uuids = uuids(3);
        let scripts = "/etc/sysconfig/network-scripts";
        assert_eq!(
            read(dir.path(), &format!("{scripts}/ifcfg-eth0")).unwrap(),
            format!(
                "DEVICE=eth0\nONBOOT=yes\nUUID={}\nBOOTPROTO=none\nIPADDR=10.0.0.100\n\
                 NETMASK=255.255.255.255\nGATEWAY=11.0.0.1\n",
                uuids[0]
            )
        );
        assert_eq!(
            read(dir.path(), &format!("{scripts}/route-eth0")).unwrap(),
            format!(
                "# --- BEGIN PVE ---\n11.0.0.1 dev eth0\ndefault via 11.0.0.1 dev eth0\n\
                 # --- END PVE ---\n{user_routes}"
            )
        );
        assert_eq!(
            read(dir.path(), &format!("{scripts}/ifcfg-eth1")).unwrap(),
            format!(
                "DEVICE=eth1\nONBOOT=yes\nUUID={}\nBOOTPROTO=none\nIPV6INIT=yes\n\
                 IPV6ADDR=fd00::5/64\nIPV6_AUTOCONF=no\nIPV6_DEFAULTGW=fd00::1\n",
                uuids[1]
            )
        );
        // The route pct wrote earlier is no longer needed: the file was only that section.
        assert_eq!(read(dir.path(), &format!("{scripts}/route6-eth1")), None);
        assert_eq!(read(dir.path(), &format!("{scripts}/ifcfg-eth2")), None);
        assert_eq!(read(dir.path(), &format!("{scripts}/route-eth1")), None);
        // The unterminated last line is extended, not ended.
        assert_eq!(
            read(dir.path(), "/etc/sysconfig/network").unwrap(),
            "NETWORKING=yes\nHOSTNAME=oldNETWORKING_IPV6=yes\n"
        );
        let mode = fs::metadata(dir.path().join("etc/sysconfig/network-scripts/ifcfg-eth0"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    #[test]
    fn network_scripts_are_stable_across_runs() {
        let dir = fixture(&[
            ("/etc/sysconfig/network", "NETWORKING=yes\n"),
            (
                "/etc/sysconfig/network-scripts/route-eth0",
                "# mine\n10.9.0.0/16 via 10.0.0.254\n",
            ),
        ]);
        let conf = conf(&["name=eth0,ip=10.0.0.100/32,gw=11.0.0.1,ip6=dhcp"]);
        let host = HostEnv {
            search: Some("example.com".into()),
            nameservers: vec!["192.0.2.53".into()],
            ..HostEnv::default()
        };
        run(dir.path(), &conf, &host, setup_network_scripts).unwrap();
        let snapshot = |dir: &Path| {
            [
                "/etc/sysconfig/network",
                "/etc/sysconfig/network-scripts/ifcfg-eth0",
                "/etc/sysconfig/network-scripts/route-eth0",
                "/etc/sysconfig/network-scripts/route6-eth0",
            ]
            .map(|path| read(dir, path))
        };
        let first = snapshot(dir.path());
        // pct draws a fresh UUID on every run; with the same draws the files stay as they are.
        run(dir.path(), &conf, &host, setup_network_scripts).unwrap();
        assert_eq!(snapshot(dir.path()), first);
        assert_eq!(
            first[0].as_deref(),
            Some("NETWORKING=yes\nNETWORKING_IPV6=yes\n")
        );
        assert_eq!(
            first[2].as_deref(),
            Some(
                "# --- BEGIN PVE ---\n11.0.0.1 dev eth0\ndefault via 11.0.0.1 dev eth0\n\
                 # --- END PVE ---\n# mine\n10.9.0.0/16 via 10.0.0.254\n"
            )
        );
        assert_eq!(first[3], None);
    }

    #[test]
    fn emptied_route_section_stays_beside_user_routes() {
        let dir = fixture(&[(
            "/etc/sysconfig/network-scripts/route-eth0",
            "# --- BEGIN PVE ---\n11.0.0.1 dev eth0\n# --- END PVE ---\n10.9.0.0/16 via 10.0.0.1\n",
        )]);
        let conf = conf(&["name=eth0,ip=10.0.0.2/24,gw=10.0.0.1"]);
        run(
            dir.path(),
            &conf,
            &HostEnv::default(),
            setup_network_scripts,
        )
        .unwrap();
        assert_eq!(
            read(dir.path(), "/etc/sysconfig/network-scripts/route-eth0").unwrap(),
            "# --- BEGIN PVE ---\n# --- END PVE ---\n\n10.9.0.0/16 via 10.0.0.1\n"
        );
    }

    #[test]
    fn ignored_files_are_left_alone() {
        let scripts = "/etc/sysconfig/network-scripts";
        let dir = fixture(&[
            (&format!("{scripts}/ifcfg-eth0"), "mine\n"),
            (&format!("{scripts}/.pve-ignore.ifcfg-eth0"), ""),
            (
                "/etc/NetworkManager/system-connections/eth0.nmconnection",
                "mine\n",
            ),
            (
                "/etc/NetworkManager/system-connections/.pve-ignore.eth0.nmconnection",
                "",
            ),
        ]);
        let conf = conf(&["name=eth0,ip=10.0.0.100/32,gw=11.0.0.1"]);
        run(
            dir.path(),
            &conf,
            &HostEnv::default(),
            setup_network_scripts,
        )
        .unwrap();
        run(
            dir.path(),
            &conf,
            &HostEnv::default(),
            setup_network_manager,
        )
        .unwrap();
        assert_eq!(
            read(dir.path(), &format!("{scripts}/ifcfg-eth0")).unwrap(),
            "mine\n"
        );
        assert_eq!(
            read(
                dir.path(),
                "/etc/NetworkManager/system-connections/eth0.nmconnection"
            )
            .unwrap(),
            "mine\n"
        );
        // The route file is not covered by the marker.
        assert!(read(dir.path(), &format!("{scripts}/route-eth0")).is_some());
    }

    #[test]
    fn networking_switches() {
        let mut data = "#NETWORKING= x\nNETWORKING=no # NETWORKING=no\n".to_string();
        assert!(set_first_assignment_yes(&mut data, "NETWORKING"));
        assert_eq!(data, "#NETWORKING= x\nNETWORKING=yes # NETWORKING=no\n");
        let mut data = "NETWORKING_IPV6=no\n".to_string();
        assert!(!set_first_assignment_yes(&mut data, "NETWORKING"));
        // Not anchored: a commented assignment is the first one.
        let mut data = "# NETWORKING=no\nNETWORKING=no\n".to_string();
        assert!(set_first_assignment_yes(&mut data, "NETWORKING"));
        assert_eq!(data, "# NETWORKING=yes\nNETWORKING=no\n");
    }

    #[test]
    fn keyfiles_for_each_mode() {
        let dns = Dns {
            search: Some("a.example b.example".into()),
            nameservers: vec![
                "192.0.2.53".into(),
                "2001:db8::53".into(),
                "192.0.2.54".into(),
            ],
        };
        assert_eq!(
            keyfile(
                &nic("name=eth0,ip=10.0.0.2/24,gw=10.0.0.1,ip6=fd00::2/64,gw6=fd00::1"),
                "U",
                &dns
            ),
            "[connection]\nid=eth0\nuuid=U\ntype=ethernet\ninterface-name=eth0\n\
             [ipv4]\nmethod=manual\naddresses=10.0.0.2/24\ngateway=10.0.0.1\n\
             dns=192.0.2.53;192.0.2.54\ndns-search=a.example;b.example\n\
             [ipv6]\nmethod=manual\naddress=fd00::2/64\ngateway=fd00::1\n\
             dns=2001:db8::53\ndns-search=a.example;b.example\n"
        );
        assert_eq!(
            keyfile(&nic("name=eth1,ip=dhcp,ip6=auto"), "U", &no_dns()),
            "[connection]\nid=eth1\nuuid=U\ntype=ethernet\ninterface-name=eth1\n\
             [ipv4]\nmethod=auto\n[ipv6]\nmethod=auto\n"
        );
        // No DNS for a family switched off.
        assert_eq!(
            keyfile(&nic("name=eth1,ip=manual,ip6=dhcp"), "U", &dns),
            "[connection]\nid=eth1\nuuid=U\ntype=ethernet\ninterface-name=eth1\n\
             [ipv4]\nmethod=disabled\n[ipv6]\nmethod=auto\n\
             dns=2001:db8::53\ndns-search=a.example;b.example\n"
        );
        assert_eq!(
            keyfile(
                &nic("name=eth0,ip=10.0.0.100/32,gw=11.0.0.1,ip6=fd00::5/128,gw6=fd01::1"),
                "U",
                &no_dns()
            ),
            "[connection]\nid=eth0\nuuid=U\ntype=ethernet\ninterface-name=eth0\n\
             [ipv4]\nmethod=manual\naddresses=10.0.0.100/32\ngateway=11.0.0.1\nroutes=11.0.0.1\n\
             [ipv6]\nmethod=manual\naddress=fd00::5/128\nroutes=fd01::1\n"
        );
        assert!(
            keyfile(
                &nic("name=eth0,ip6=fd00::5/128,gw6=fe80::1"),
                "U",
                &no_dns()
            )
            .ends_with("[ipv6]\nmethod=manual\naddress=fd00::5/128\ngateway=fe80::1\n")
        );
    }

    #[test]
    fn keyfiles_get_a_fresh_uuid_each_run() {
        let dir = fixture(&[]);
        let conf = conf(&["name=eth0,ip=dhcp"]);
        let host = HostEnv::default();
        let path = "/etc/NetworkManager/system-connections/eth0.nmconnection";
        let mut texts = Vec::new();
        for seed in [0, 1] {
            let root = GuestRoot::open(dir.path(), None).unwrap();
            let mut random = Drand48::seeded(seed);
            let mut setup = Setup::new(&root, &conf, &host, &mut random);
            setup_network_manager(&mut setup).unwrap();
            texts.push(read(dir.path(), path).unwrap());
        }
        // pct regenerates the UUID on every start; nothing else changes.
        let differing: Vec<(&str, &str)> = texts[0]
            .lines()
            .zip(texts[1].lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(differing.len(), 1);
        assert!(differing[0].0.starts_with("uuid=") && differing[0].1.starts_with("uuid="));
    }

    #[test]
    fn keyfiles_on_disk() {
        let dir = fixture(&[]);
        let conf = conf(&["name=eth0,ip=dhcp", "name=eth1"]);
        let host = HostEnv {
            nameservers: vec!["192.0.2.53".into()],
            ..HostEnv::default()
        };
        run(dir.path(), &conf, &host, setup_network_manager).unwrap();
        let uuids = uuids(2);
        let path = dir
            .path()
            .join("etc/NetworkManager/system-connections/eth0.nmconnection");
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!(
                "[connection]\nid=eth0\nuuid={}\ntype=ethernet\ninterface-name=eth0\n\
                 [ipv4]\nmethod=auto\ndns=192.0.2.53\n[ipv6]\nmethod=disabled\n",
                uuids[0]
            )
        );
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            read(
                dir.path(),
                "/etc/NetworkManager/system-connections/eth1.nmconnection"
            )
            .unwrap(),
            format!(
                "[connection]\nid=eth1\nuuid={}\ntype=ethernet\ninterface-name=eth1\n\
                 [ipv4]\nmethod=disabled\n[ipv6]\nmethod=disabled\n",
                uuids[1]
            )
        );
    }
}
