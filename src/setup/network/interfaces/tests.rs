use super::*;
use crate::setup::context::{GuestConfig, HostEnv};
use crate::setup::random::Drand48;
use crate::setup::root::GuestRoot;

const LOOPBACK: &str = "auto lo\niface lo inet loopback\niface lo inet6 loopback\n\n";

fn nics(specs: &[&str]) -> Vec<NetDevice> {
    specs.iter().map(|s| NetDevice::parse(s).unwrap()).collect()
}

/// The new file as text, from `existing` (if any) and NICs given as `netN` values.
fn rewrite(existing: Option<&str>, specs: &[&str], form: AddressForm) -> String {
    let nets = nics(specs);
    let bytes = render(existing.map(str::as_bytes), &nets, form).expect("a file to write");
    String::from_utf8(bytes).unwrap()
}

/// The rewritten file, checked to stay the same when rewritten again.
fn rewrite_stable(existing: Option<&str>, specs: &[&str], form: AddressForm) -> String {
    let first = rewrite(existing, specs, form);
    assert_eq!(
        rewrite(Some(&first), specs, form),
        first,
        "second run differs"
    );
    first
}

#[test]
fn static_dual_stack_in_cidr_form() {
    assert_eq!(
        rewrite_stable(
            None,
            &["name=eth0,ip=10.0.0.2/24,gw=10.0.0.1,ip6=fd00::2/64,gw6=fd00::1"],
            AddressForm::Cidr
        ),
        format!(
            "{LOOPBACK}auto eth0\niface eth0 inet static\n\taddress 10.0.0.2/24\n\tgateway 10.0.0.1\n\n\
             iface eth0 inet6 static\n\taddress fd00::2/64\n\tgateway fd00::1\n\n"
        )
    );
}

#[test]
fn static_dual_stack_in_netmask_form() {
    assert_eq!(
        rewrite_stable(
            None,
            &["name=eth0,ip=10.0.0.2/23,gw=10.0.1.254,ip6=fd00::2/64,gw6=fd00::1"],
            AddressForm::Netmask
        ),
        format!(
            "{LOOPBACK}auto eth0\niface eth0 inet static\n\taddress 10.0.0.2\n\tnetmask 255.255.254.0\n\
             \tgateway 10.0.1.254\n\n\
             iface eth0 inet6 static\n\taddress fd00::2\n\tnetmask 64\n\tgateway fd00::1\n\n"
        )
    );
}

#[test]
fn methods_and_several_nics_sorted_by_name() {
    // Names sort as strings: eth10 before eth2.
    assert_eq!(
        rewrite_stable(
            None,
            &[
                "name=eth2,ip=dhcp,ip6=auto",
                "name=eth10,ip=manual,ip6=dhcp",
                "name=eth1,ip6=manual",
                "name=eth3,bridge=vmbr0",
            ],
            AddressForm::Cidr
        ),
        format!(
            "{LOOPBACK}auto eth1\niface eth1 inet6 manual\n\n\
             auto eth10\niface eth10 inet manual\n\niface eth10 inet6 dhcp\n\n\
             auto eth2\niface eth2 inet dhcp\n\niface eth2 inet6 auto\n\n"
        )
    );
}

#[test]
fn nothing_to_configure_leaves_the_file_alone() {
    let mut nets = nics(&["name=eth0,bridge=vmbr0"]);
    // A NIC without a name is not the guest's business.
    nets.push(NetDevice {
        ip: Some(Ip4Config::Dhcp),
        ..NetDevice::default()
    });
    assert_eq!(render(Some(b"anything\n"), &nets, AddressForm::Cidr), None);
    assert_eq!(render(None, &Vec::new(), AddressForm::Cidr), None);
}

#[test]
fn a_gateway_alone_still_rewrites_the_file() {
    // pct counts the NIC as configured, yet writes no stanza for it.
    assert_eq!(
        rewrite(None, &["name=eth0,gw=10.0.0.1"], AddressForm::Cidr),
        LOOPBACK
    );
    // With DHCP the gateway has nowhere to go.
    assert_eq!(
        rewrite(None, &["name=eth0,ip=dhcp,gw=10.0.0.1"], AddressForm::Cidr),
        format!("{LOOPBACK}auto eth0\niface eth0 inet dhcp\n\n")
    );
}

#[test]
fn off_subnet_gateways_get_marked_route_scripts() {
    assert_eq!(
        rewrite_stable(
            None,
            &["name=eth0,ip=10.0.0.100/32,gw=11.0.0.1,ip6=fd00::5/128,gw6=fd01::1"],
            AddressForm::Netmask
        ),
        format!(
            "{LOOPBACK}auto eth0\niface eth0 inet static\n\taddress 10.0.0.100\n\tnetmask 255.255.255.255\n\
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
        )
    );
}

#[test]
fn link_local_v6_gateways_need_no_route() {
    assert_eq!(
        rewrite_stable(
            None,
            &["name=eth0,ip6=fd00::5/128,gw6=fe80::1"],
            AddressForm::Cidr
        ),
        format!(
            "{LOOPBACK}auto eth0\niface eth0 inet6 static\n\taddress fd00::5/128\n\tgateway fe80::1\n\n"
        )
    );
}

#[test]
fn a_gateway_that_becomes_reachable_loses_its_scripts() {
    let off = rewrite(
        None,
        &["name=eth0,ip=10.0.0.100/32,gw=11.0.0.1"],
        AddressForm::Cidr,
    );
    assert_eq!(
        rewrite(
            Some(&off),
            &["name=eth0,ip=11.0.0.100/24,gw=11.0.0.1"],
            AddressForm::Cidr
        ),
        format!(
            "{LOOPBACK}auto eth0\niface eth0 inet static\n\taddress 11.0.0.100/24\n\tgateway 11.0.0.1\n\n"
        )
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
# a note inside the stanza
\tgateway 10.0.0.254
\tbroadcast 10.255.255.255
\tmtu 1400
# --- BEGIN PVE ---
\tpost-up ip route add 1.2.3.4 dev eth0
\tpost-up ip route add default via 1.2.3.4 dev eth0
\tpre-down ip route del default via 1.2.3.4 dev eth0
\tpre-down ip route del 1.2.3.4 dev eth0
# --- END PVE ---
\tpost-up echo up

iface eth0 inet6 static
\taddress fd00::9
\tnetmask 64
\tdns-nameservers fd00::53

source /etc/network/interfaces.d/*
";

#[test]
fn existing_file_keeps_what_is_not_ours() {
    // Comments inside a regenerated stanza end up before it; the IPv6 stanza goes with its
    // options; the new NIC follows after a blank line.
    assert_eq!(
        rewrite_stable(
            Some(EXISTING),
            &["name=eth0,ip=10.0.0.2/24,gw=10.0.0.1", "name=eth1,ip=dhcp"],
            AddressForm::Cidr
        ),
        "# The loopback network interface
auto lo
iface lo inet loopback

# managed by hand
auto eth9
iface eth9 inet static
\taddress 192.168.9.9
\tnetmask 255.255.255.0

allow-hotplug eth0
# a note inside the stanza
auto eth0
iface eth0 inet static
\taddress 10.0.0.2/24
\tgateway 10.0.0.1
\tmtu 1400
\tpost-up echo up

source /etc/network/interfaces.d/*

auto eth1
iface eth1 inet dhcp

"
    );
}

#[test]
fn existing_stanzas_switch_address_form_and_method() {
    let old = "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n\taddress 10.0.0.2\n\tnetmask 255.255.255.0\n\tmtu 1400\n";
    assert_eq!(
        rewrite_stable(Some(old), &["name=eth0,ip=10.0.0.3/16"], AddressForm::Cidr),
        "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n\taddress 10.0.0.3/16\n\tmtu 1400\n\n"
    );
    // DHCP keeps none of the stanza's options.
    assert_eq!(
        rewrite_stable(Some(old), &["name=eth0,ip=dhcp"], AddressForm::Cidr),
        "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n\n"
    );
}

#[test]
fn a_family_no_longer_configured_loses_its_stanza() {
    let old = "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n\niface eth0 inet6 static\n\taddress fd00::1\n\tnetmask 64\n\tdns-nameservers fd00::53\n";
    assert_eq!(
        rewrite_stable(Some(old), &["name=eth0,ip=dhcp"], AddressForm::Cidr),
        "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n\n"
    );
}

#[test]
fn auto_lines_in_the_file_count() {
    // `auto lo eth0` covers both; no loopback block, no second `auto eth0`.
    assert_eq!(
        rewrite_stable(
            Some("auto lo eth0\niface lo inet loopback\n"),
            &["name=eth0,ip=dhcp"],
            AddressForm::Cidr
        ),
        "auto lo eth0\niface lo inet loopback\n\niface eth0 inet dhcp\n\n"
    );
    // An `auto` line right after a stanza ends it, and is seen before it is written.
    assert_eq!(
        rewrite(
            Some("iface eth0 inet dhcp\nauto eth0\n"),
            &["name=eth0,ip=dhcp"],
            AddressForm::Cidr
        ),
        format!("{LOOPBACK}iface eth0 inet dhcp\n\nauto eth0\n")
    );
}

#[test]
fn autoconf_reads_as_an_auto_line() {
    // pct's `^\s*auto\s*(.*)$` needs no space: `autoconf 0` ends the stanza and stays after it.
    let old = "iface eth0 inet6 static\n\taddress fd00::1\n\tnetmask 64\n\tautoconf 0\n";
    assert_eq!(
        rewrite(
            Some(old),
            &["name=eth0,ip6=fd00::2/64"],
            AddressForm::Netmask
        ),
        format!(
            "{LOOPBACK}auto eth0\niface eth0 inet6 static\n\taddress fd00::2\n\tnetmask 64\n\n\tautoconf 0\n"
        )
    );
}

#[test]
fn a_word_alone_in_a_stanza_moves_before_it() {
    let old = "auto eth0\niface eth0 inet static\n\taddress 10.0.0.2\n\tnoop\n\tmtu 1400\n";
    assert_eq!(
        rewrite(Some(old), &["name=eth0,ip=10.0.0.2/24"], AddressForm::Cidr),
        format!(
            "{LOOPBACK}auto eth0\n\tnoop\niface eth0 inet static\n\taddress 10.0.0.2/24\n\tmtu 1400\n\n"
        )
    );
}

#[test]
fn legacy_route_blocks_go_only_when_all_four_lines_match() {
    let legacy = "auto eth0
iface eth0 inet static
\taddress 10.0.0.100
\tnetmask 255.255.255.255
\tpost-up ip route add 11.0.0.1 dev eth0
\tpost-up ip route add default via 11.0.0.1 dev eth0
\tpre-down   ip route del default via 11.0.0.1 dev eth0
\tpre-down ip route del 11.0.0.1 dev eth0
\tpost-up ip route add 12.0.0.1 dev eth0
\tpost-up ip route add default via 13.0.0.1 dev eth0
\tpre-down ip route del default via 12.0.0.1 dev eth0
\tpre-down ip route del 12.0.0.1 dev eth0
\tpost-up ip route add 14.0.0.1 dev eth0
\tpost-up ip route add default via 14.0.0.1 dev eth0
\tpre-down ip route del default via 14.0.0.1 dev eth0
\tpre-down ip route del 14.0.0.1 dev eth0 
";
    assert_eq!(
        rewrite_stable(
            Some(legacy),
            &["name=eth0,ip=10.0.0.100/24,gw=10.0.0.1"],
            AddressForm::Netmask
        ),
        format!(
            "{LOOPBACK}auto eth0\niface eth0 inet static\n\taddress 10.0.0.100\n\tnetmask 255.255.255.0\n\
             \tgateway 10.0.0.1\n\
             \tpost-up ip route add 12.0.0.1 dev eth0\n\
             \tpost-up ip route add default via 13.0.0.1 dev eth0\n\
             \tpre-down ip route del default via 12.0.0.1 dev eth0\n\
             \tpre-down ip route del 12.0.0.1 dev eth0\n\
             \tpost-up ip route add 14.0.0.1 dev eth0\n\
             \tpost-up ip route add default via 14.0.0.1 dev eth0\n\
             \tpre-down ip route del default via 14.0.0.1 dev eth0\n\
             \tpre-down ip route del 14.0.0.1 dev eth0 \n\n"
        )
    );
}

#[test]
fn legacy_blocks_stay_where_the_file_has_markers() {
    // With a marked block present, only what it encloses goes.
    let old = "iface eth0 inet static
\tpost-up ip route add 11.0.0.1 dev eth0
\tpost-up ip route add default via 11.0.0.1 dev eth0
\tpre-down ip route del default via 11.0.0.1 dev eth0
\tpre-down ip route del 11.0.0.1 dev eth0
# --- BEGIN PVE ---
\tpost-up ip route add 12.0.0.1 dev eth0
# --- END PVE ---
";
    assert_eq!(
        rewrite(Some(old), &["name=eth0,ip=10.0.0.1/24"], AddressForm::Cidr),
        format!(
            "{LOOPBACK}auto eth0\niface eth0 inet static\n\taddress 10.0.0.1/24\n\
             \tpost-up ip route add 11.0.0.1 dev eth0\n\
             \tpost-up ip route add default via 11.0.0.1 dev eth0\n\
             \tpre-down ip route del default via 11.0.0.1 dev eth0\n\
             \tpre-down ip route del 11.0.0.1 dev eth0\n\n"
        )
    );
}

#[test]
fn markers_as_pct_reads_them() {
    // A marker outside a stanza is dropped; one with more text is kept as an option; an
    // unterminated block takes the rest of the stanza's options with it.
    let old = "# --- END PVE ---
auto eth0
iface eth0 inet static
\taddress 10.0.0.5
\tnetmask 255.255.255.0
\tmtu 9000
# --- BEGIN PVE --- (old)
\tpost-up echo kept
# --- BEGIN PVE ---
\tpost-up ip route add 1.2.3.4 dev eth0
\tup echo lost
";
    assert_eq!(
        rewrite(
            Some(old),
            &["name=eth0,ip=10.0.0.5/24"],
            AddressForm::Netmask
        ),
        format!(
            "{LOOPBACK}auto eth0\niface eth0 inet static\n\taddress 10.0.0.5\n\tnetmask 255.255.255.0\n\
             \tmtu 9000\n\t# --- BEGIN PVE --- (old)\n\tpost-up echo kept\n\n"
        )
    );
}

#[test]
fn whitespace_and_bytes_as_perl_sees_them() {
    // CR is whitespace to Perl: `iface ... static\r` is a stanza, `\r` alone a blank line;
    // kept lines keep their CR, as does an option's value. A vertical tab line is blank.
    let old = "auto lo\r\niface lo inet loopback\r\n\r\nauto eth0\r\niface eth0 inet static\r\n\taddress 10.0.0.9\r\n\tmtu 1400\r\n\x0b\n";
    assert_eq!(
        rewrite(Some(old), &["name=eth0,ip=10.0.0.2/24"], AddressForm::Cidr),
        "auto lo\r\niface lo inet loopback\r\n\r\nauto eth0\r\niface eth0 inet static\n\taddress 10.0.0.2/24\n\tmtu 1400\r\n\n"
    );
    // Bytes that are not UTF-8 survive untouched; a non-breaking space is no blank.
    let mut old = b"# r\xe9seau\n\xc2\xa0\n".to_vec();
    old.extend_from_slice(b"auto lo\n");
    let nets = nics(&["name=eth0,ip=dhcp"]);
    let new = render(Some(&old), &nets, AddressForm::Cidr).unwrap();
    let mut expected = old.clone();
    expected.extend_from_slice(b"\nauto eth0\niface eth0 inet dhcp\n\n");
    assert_eq!(new, expected);
}

#[test]
fn other_stanza_keywords_end_a_stanza() {
    // `sourcefoo bar` is only an option; `mapping` starts a stanza of its own, whose lines
    // are kept as they are.
    let old = "iface eth1 inet static\n\tmtu 1500\nsourcefoo bar\nmapping eth0\n\tscript /bin/true\nsource-directory /etc/network/interfaces.d\n";
    assert_eq!(
        rewrite_stable(Some(old), &["name=eth1,ip=10.0.0.1/24"], AddressForm::Cidr),
        format!(
            "{LOOPBACK}auto eth1\niface eth1 inet static\n\taddress 10.0.0.1/24\n\tmtu 1500\n\tsourcefoo bar\n\n\
             mapping eth0\n\tscript /bin/true\nsource-directory /etc/network/interfaces.d\n"
        )
    );
}

struct Guest {
    dir: tempfile::TempDir,
    conf: GuestConfig,
}

impl Guest {
    fn new(specs: &[&str]) -> Guest {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        let conf = GuestConfig {
            nets: nics(specs)
                .into_iter()
                .enumerate()
                .map(|(i, net)| (i as u16, net))
                .collect(),
            ..GuestConfig::default()
        };
        Guest { dir, conf }
    }

    fn run(&self) {
        let root = GuestRoot::open(self.dir.path(), None).unwrap();
        let host = HostEnv::default();
        let mut random = Drand48::seeded(0);
        let setup = Setup::new(&root, &self.conf, &host, &mut random);
        setup_interfaces(&setup, setup.conf.named_nets(), AddressForm::Cidr).unwrap();
    }

    fn path(&self, path: &str) -> std::path::PathBuf {
        self.dir.path().join(path)
    }
}

#[test]
fn written_through_the_guest_root() {
    let guest = Guest::new(&["name=eth0,ip=10.0.0.2/24"]);
    guest.run();
    let path = guest.path("etc/network/interfaces");
    let expected =
        format!("{LOOPBACK}auto eth0\niface eth0 inet static\n\taddress 10.0.0.2/24\n\n");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
    guest.run();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
}

#[test]
fn nothing_written_without_addresses() {
    let guest = Guest::new(&["name=eth0,bridge=vmbr0"]);
    guest.run();
    assert!(!guest.path("etc/network").exists());
}

#[test]
fn pve_ignore_keeps_the_guests_file() {
    let guest = Guest::new(&["name=eth0,ip=dhcp"]);
    std::fs::create_dir_all(guest.path("etc/network")).unwrap();
    std::fs::write(guest.path("etc/network/interfaces"), "mine\n").unwrap();
    std::fs::write(guest.path("etc/network/.pve-ignore.interfaces"), "").unwrap();
    guest.run();
    assert_eq!(
        std::fs::read_to_string(guest.path("etc/network/interfaces")).unwrap(),
        "mine\n"
    );
}
