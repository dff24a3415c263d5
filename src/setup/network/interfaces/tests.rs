use super::*;

fn nic(text: &str) -> NetDevice {
    NetDevice::parse(text).unwrap()
}

fn render_new(nets: &[&str], cidr_form: bool) -> String {
    let nets: Vec<NetDevice> = nets.iter().map(|n| nic(n)).collect();
    render(None, &nets, cidr_form).unwrap()
}

#[test]
fn static_dual_stack_new_file() {
    assert_eq!(
        render_new(
            &["name=eth0,ip=10.0.0.2/24,gw=10.0.0.1,ip6=fd00::2/64,gw6=fd00::1"],
            true
        ),
        "auto lo\niface lo inet loopback\niface lo inet6 loopback\n\n\
         auto eth0\niface eth0 inet static\n\taddress 10.0.0.2/24\n\tgateway 10.0.0.1\n\n\
         iface eth0 inet6 static\n\taddress fd00::2/64\n\tgateway fd00::1\n\n"
    );
}

#[test]
fn netmask_form_for_older_releases() {
    assert_eq!(
        render_new(&["name=eth0,ip=10.0.0.2/23,ip6=fd00::2/64"], false),
        "auto lo\niface lo inet loopback\niface lo inet6 loopback\n\n\
         auto eth0\niface eth0 inet static\n\taddress 10.0.0.2\n\tnetmask 255.255.254.0\n\n\
         iface eth0 inet6 static\n\taddress fd00::2\n\tnetmask 64\n\n"
    );
}

#[test]
fn methods_and_several_nics_in_name_order() {
    assert_eq!(
        render_new(
            &[
                "name=eth1,ip=dhcp,ip6=auto",
                "name=eth0,ip=manual,ip6=dhcp",
                "name=eth2,bridge=vmbr0"
            ],
            true
        ),
        "auto lo\niface lo inet loopback\niface lo inet6 loopback\n\n\
         auto eth0\niface eth0 inet manual\n\niface eth0 inet6 dhcp\n\n\
         auto eth1\niface eth1 inet dhcp\n\niface eth1 inet6 auto\n\n"
    );
    // Nothing to configure: the file is left alone.
    assert_eq!(
        render(Some("x\n"), &[nic("name=eth0,bridge=vmbr0")], true),
        None
    );
}

#[test]
fn off_subnet_gateways_get_route_scripts() {
    assert_eq!(
        render_new(
            &["name=eth0,ip=10.0.0.100/32,gw=11.0.0.1,ip6=fd00::5/128,gw6=fd01::1"],
            false
        ),
        "auto lo\niface lo inet loopback\niface lo inet6 loopback\n\n\
         auto eth0\niface eth0 inet static\n\taddress 10.0.0.100\n\tnetmask 255.255.255.255\n\
         # --- BEGIN PVE ---\n\
         \tpost-up ip route add 11.0.0.1 dev eth0\n\
         \tpost-up ip route add default via 11.0.0.1 dev eth0\n\
         \tpre-down ip route del default via 11.0.0.1 dev eth0\n\
         \tpre-down ip route del 11.0.0.1 dev eth0\n\
         # --- END PVE ---\n\n\
         iface eth0 inet6 static\n\taddress fd00::5\n\tnetmask 128\n\
         # --- BEGIN PVE ---\n\
         \tpost-up ip route add fd01::1 dev eth0\n\
         \tpost-up ip route add default via fd01::1 dev eth0\n\
         \tpre-down ip route del default via fd01::1 dev eth0\n\
         \tpre-down ip route del fd01::1 dev eth0\n\
         # --- END PVE ---\n\n"
    );
    // A link-local v6 gateway is always reachable.
    assert!(
        render_new(&["name=eth0,ip6=fd00::5/128,gw6=fe80::1"], true)
            .contains("\tgateway fe80::1\n")
    );
}

const EXISTING: &str = "# The loopback network interface
auto lo
iface lo inet loopback

# managed by hand
auto eth9
iface eth9 inet static
\taddress 192.168.9.9
\tnetmask 255.255.255.0

allow-hotplug eth0
iface eth0 inet static
\taddress 10.9.9.9
\tnetmask 255.0.0.0
\tgateway 10.0.0.254
\tbroadcast 10.255.255.255
\tmtu 1400
# --- BEGIN PVE ---
\tpost-up ip route add 1.2.3.4 dev eth0
\tpost-up ip route add default via 1.2.3.4 dev eth0
\tpre-down ip route del default via 1.2.3.4 dev eth0
\tpre-down ip route del 1.2.3.4 dev eth0
# --- END PVE ---

iface eth0 inet6 static
\taddress fd00::9
\tnetmask 64

source /etc/network/interfaces.d/*
";

#[test]
fn existing_file_keeps_what_is_not_ours() {
    let nets = [nic("name=eth0,ip=10.0.0.2/24,gw=10.0.0.1")];
    let text = render(Some(EXISTING), &nets, true).unwrap();
    assert_eq!(
        text,
        "# The loopback network interface
auto lo
iface lo inet loopback

# managed by hand
auto eth9
iface eth9 inet static
\taddress 192.168.9.9
\tnetmask 255.255.255.0

allow-hotplug eth0
auto eth0
iface eth0 inet static
\taddress 10.0.0.2/24
\tgateway 10.0.0.1
\tmtu 1400

source /etc/network/interfaces.d/*
"
    );
    // Idempotent: the second run gives the same bytes.
    assert_eq!(render(Some(&text), &nets, true).unwrap(), text);
}

#[test]
fn legacy_route_blocks_go_only_when_all_four_lines_match() {
    let legacy = "auto eth0
iface eth0 inet static
\taddress 10.0.0.100
\tnetmask 255.255.255.255
\tpost-up ip route add 11.0.0.1 dev eth0
\tpost-up ip route add default via 11.0.0.1 dev eth0
\tpre-down ip route del default via 11.0.0.1 dev eth0
\tpre-down ip route del 11.0.0.1 dev eth0
\tpost-up ip route add 12.0.0.1 dev eth0
\tpost-up ip route add default via 13.0.0.1 dev eth0
\tpre-down ip route del default via 12.0.0.1 dev eth0
\tpre-down ip route del 12.0.0.1 dev eth0
";
    let text = render(
        Some(legacy),
        &[nic("name=eth0,ip=10.0.0.100/24,gw=10.0.0.1")],
        false,
    )
    .unwrap();
    assert_eq!(
        text,
        "auto lo\niface lo inet loopback\niface lo inet6 loopback\n\n\
         auto eth0\niface eth0 inet static\n\taddress 10.0.0.100\n\tnetmask 255.255.255.0\n\
         \tgateway 10.0.0.1\n\
         \tpost-up ip route add 12.0.0.1 dev eth0\n\
         \tpost-up ip route add default via 13.0.0.1 dev eth0\n\
         \tpre-down ip route del default via 12.0.0.1 dev eth0\n\
         \tpre-down ip route del 12.0.0.1 dev eth0\n\n"
    );
}

#[test]
fn a_family_no_longer_configured_loses_its_stanza() {
    let old = "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n\niface eth0 inet6 static\n\taddress fd00::1\n\tnetmask 64\n\tdns-nameservers fd00::53\n";
    assert_eq!(
        render(Some(old), &[nic("name=eth0,ip=dhcp")], true).unwrap(),
        "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n\n"
    );
}

#[test]
fn file_written_through_the_guest_root() {
    use crate::setup::context::{GuestConfig, HostEnv};
    use crate::setup::random::Drand48;
    use crate::setup::root::GuestRoot;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    let conf = GuestConfig {
        nets: vec![(0, nic("name=eth0,ip=10.0.0.2/24"))],
        ..GuestConfig::default()
    };
    let root = GuestRoot::open(dir.path(), None).unwrap();
    let host = HostEnv::default();
    let mut random = Drand48::seeded(0);
    let setup = Setup::new(&root, &conf, &host, &mut random);
    setup_interfaces(&setup, true).unwrap();
    let path = dir.path().join("etc/network/interfaces");
    let first = std::fs::read_to_string(&path).unwrap();
    assert!(first.ends_with("auto eth0\niface eth0 inet static\n\taddress 10.0.0.2/24\n\n"));
    // .pve-ignore.interfaces keeps the file as the guest has it.
    std::fs::write(&path, "mine\n").unwrap();
    std::fs::write(dir.path().join("etc/network/.pve-ignore.interfaces"), "").unwrap();
    setup_interfaces(&setup, true).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine\n");
}
