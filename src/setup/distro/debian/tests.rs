use super::*;
use crate::config::NetDevice;
use crate::setup::context::HostEnv;
use crate::setup::detect::OsRelease;
use crate::setup::random::Drand48;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

const LOOPBACK: &str = "auto lo\niface lo inet loopback\niface lo inet6 loopback\n\n";

use crate::setup::testing::{error_text, fixture};

/// `/sbin/init` linked to systemd, as a systemd template has it.
fn with_systemd_init(dir: &Path) {
    fs::create_dir_all(dir.join("sbin")).unwrap();
    symlink("/lib/systemd/systemd", dir.join("sbin/init")).unwrap();
}

fn probe(dir: &Path) -> (Result<Debian, SetupError>, Vec<String>) {
    let root = GuestRoot::open(dir, None).unwrap();
    let os_release = OsRelease::default();
    let mut warnings = Vec::new();
    let mut probe = Probe {
        root: &root,
        os_release: &os_release,
        warnings: &mut warnings,
    };
    let result = Debian::new(&mut probe);
    (result, warnings)
}

fn probe_version(text: &str) -> (Result<Debian, SetupError>, Vec<String>) {
    let dir = fixture(&[("etc/debian_version", text)]);
    probe(dir.path())
}

#[test]
fn versions_pct_accepts() {
    for (text, version) in [
        ("12.7\n", 12),
        ("bookworm/sid\n", 12),
        ("trixie/sid\n", 13),
        ("forky/sid\n", 14),
        ("stretch/sid", 9),
        ("kali-rolling", 12),
        ("10abc\n", 10),
        ("4.0", 4),
        ("14.2\n", 14),
    ] {
        let (result, warnings) = probe_version(text);
        assert_eq!(result.unwrap().version, version, "{text}");
        assert!(warnings.is_empty(), "{text}");
    }
}

#[test]
fn version_errors() {
    for (text, error) in [
        ("3.1\n", "Container Debian version '3' is too old"),
        ("sid\n", "unable to parse version info 'sid'"),
        ("\n", "unable to parse version info ''"),
        // An empty file has no first line at all.
        ("", "unable to read version info"),
    ] {
        assert_eq!(error_text(probe_version(text).0), error, "{text:?}");
    }
    assert!(matches!(
        probe_version("3.1\n").0,
        Err(SetupError::Unsupported { ostype: "debian", version }) if version == "3"
    ));
    assert!(matches!(
        probe_version("sid\n").0,
        Err(SetupError::UnrecognizedVersion { ostype: "debian", text }) if text == "sid"
    ));
    let dir = fixture(&[]);
    assert!(matches!(
        probe(dir.path()).0,
        Err(SetupError::NoVersion { ostype: "debian" })
    ));
    assert_eq!(
        error_text(probe(dir.path()).0),
        "unable to read version info"
    );
}

#[test]
fn newer_than_tested_warns() {
    for (text, version) in [("duke/sid\n", 15), ("16.1\n", 16)] {
        let (result, warnings) = probe_version(text);
        assert_eq!(result.unwrap().version, version);
        assert_eq!(
            warnings,
            [format!(
                "The container's Debian version '{version}' is newer than the tested version '14'. While everything may work fine, full compatibility cannot be guaranteed. Please check for PVE system updates."
            )]
        );
    }
}

/// Run one step of the Debian plugin at `version` over the fixture; what it said.
fn run(
    dir: &Path,
    version: u64,
    conf: GuestConfig,
    step: impl Fn(&Debian, &mut Setup),
) -> Vec<String> {
    let root = GuestRoot::open(dir, None).unwrap();
    let host = HostEnv::default();
    let mut random = Drand48::seeded(0);
    let mut setup = Setup::new(&root, &conf, &host, &mut random);
    step(
        &Debian {
            version,
            ostype: "debian",
        },
        &mut setup,
    );
    let mut said = setup.report.messages;
    said.extend(setup.report.warnings);
    said
}

fn ttys(tty: u32) -> GuestConfig {
    GuestConfig {
        tty,
        ..GuestConfig::default()
    }
}

#[test]
fn getty_and_power_lines() {
    assert!(is_getty_line(b"1:2345:respawn:/sbin/getty 38400 tty1", ""));
    assert!(is_getty_line(b" \t2:23:respawn:/sbin/mingetty tty2", ""));
    assert!(is_getty_line(b"3::respawn:/sbin/getty tty3", ""));
    assert!(!is_getty_line(b"T0:23:respawn:/sbin/getty -L ttyS0", ""));
    assert!(!is_getty_line(b"1:2345:respawn", ""));
    assert!(!is_getty_line(b"1:2345:getty:/bin/true", ""));
    assert!(is_getty_line(
        b"tty1::respawn:/sbin/getty 38400 tty1",
        "tty"
    ));
    assert!(!is_getty_line(
        b"ttyS0::respawn:/sbin/getty -L ttyS0",
        "tty"
    ));
    assert!(is_power_line(b"pf::powerwait:/etc/init.d/powerfail start"));
    assert!(is_power_line(b"  p0::powerfail:/sbin/init 0"));
    assert!(!is_power_line(b"pr:12345:powerfailnow:/x"));
    assert!(!is_power_line(b"p"));
}

#[test]
fn sysvinit_inittab() {
    let dir = fixture(&[(
        "etc/inittab",
        "id:2:initdefault:\nsi::sysinit:/etc/init.d/rcS\npf::powerwait:/etc/init.d/powerfail start\npn::powerfailnow:/etc/init.d/powerfail now\npo::powerokwait:/etc/init.d/powerfail stop\n1:2345:respawn:/sbin/getty 38400 tty1\n2:23:respawn:/sbin/getty 38400 tty2\nT0:23:respawn:/sbin/getty -L ttyS0 9600 vt100\n\n\n",
    )]);
    let read = || fs::read_to_string(dir.path().join("etc/inittab")).unwrap();
    run(dir.path(), 12, ttys(3), |d, s| d.setup_init(s).unwrap());
    let expected = "id:2:initdefault:\nsi::sysinit:/etc/init.d/rcS\nT0:23:respawn:/sbin/getty -L ttyS0 9600 vt100\n\
                    p0::powerfail:/sbin/init 0\n\
                    1:2345:respawn:/sbin/getty --noclear 38400 tty1\n\
                    2:23:respawn:/sbin/getty --noclear 38400 tty2\n\
                    3:23:respawn:/sbin/getty --noclear 38400 tty3\n";
    assert_eq!(read(), expected);
    run(dir.path(), 12, ttys(3), |d, s| d.setup_init(s).unwrap());
    assert_eq!(read(), expected);
    // Debian before 7 uses -L; tty7 belongs to X11.
    run(dir.path(), 6, ttys(8), |d, s| d.setup_init(s).unwrap());
    assert!(read().ends_with(
        "p0::powerfail:/sbin/init 0\n1:2345:respawn:/sbin/getty -L 38400 tty1\n\
         2:23:respawn:/sbin/getty -L 38400 tty2\n3:23:respawn:/sbin/getty -L 38400 tty3\n\
         4:23:respawn:/sbin/getty -L 38400 tty4\n5:23:respawn:/sbin/getty -L 38400 tty5\n\
         6:23:respawn:/sbin/getty -L 38400 tty6\n8:23:respawn:/sbin/getty -L 38400 tty8\n"
    ));
}

#[test]
fn inittab_bytes_are_kept() {
    let dir = fixture(&[]);
    fs::write(dir.path().join("etc/inittab"), b"# \xe9t\xe9\n").unwrap();
    run(dir.path(), 12, ttys(1), |d, s| d.setup_init(s).unwrap());
    assert_eq!(
        fs::read(dir.path().join("etc/inittab")).unwrap(),
        b"# \xe9t\xe9\np0::powerfail:/sbin/init 0\n1:2345:respawn:/sbin/getty --noclear 38400 tty1\n"
    );
    // No inittab (a systemd-only template): none is made.
    let bare = fixture(&[]);
    run(bare.path(), 12, ttys(1), |d, s| d.setup_init(s).unwrap());
    assert!(!bare.path().join("etc/inittab").exists());
}

#[test]
fn systemd_guests_get_container_gettys_and_a_preset_from_12() {
    let dir = fixture(&[
        (
            "lib/systemd/system/container-getty@.service",
            "[Service]\nExecStart=-/sbin/agetty --noclear --keep-baud pts/%I 115200,38400,9600 $TERM\n",
        ),
        (
            "etc/systemd/system/getty.target.wants/getty@tty1.service",
            "",
        ),
    ]);
    fs::write(dir.path().join("lib/systemd/systemd"), "").unwrap();
    fs::set_permissions(
        dir.path().join("lib/systemd/systemd"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    with_systemd_init(dir.path());
    run(dir.path(), 12, ttys(2), |d, s| d.setup_init(s).unwrap());
    assert_eq!(
        fs::read_to_string(dir.path().join("etc/systemd/system-preset/00-pve.preset")).unwrap(),
        "# Added by PVE at create-time for first-boot configuration.\n\
         enable container-getty@.service\ndisable getty@.service\n\
         disable sys-kernel-config.mount\ndisable sys-kernel-debug.mount\n\
         disable systemd-networkd.service\n"
    );
    let wants = dir.path().join("etc/systemd/system/getty.target.wants");
    assert!(!wants.join("getty@tty1.service").exists());
    for i in 1..=2 {
        assert_eq!(
            fs::read_link(wants.join(format!("container-getty@{i}.service"))).unwrap(),
            Path::new("/lib/systemd/system/container-getty@.service")
        );
    }
    assert!(!wants.join("container-getty@3.service").exists());
    assert!(
        fs::read_to_string(
            dir.path()
                .join("lib/systemd/system/container-getty@.service")
        )
        .unwrap()
        .contains("--keep-baud tty%I 115200")
    );

    let old = fixture(&[]);
    with_systemd_init(old.path());
    run(old.path(), 11, ttys(2), |d, s| d.setup_init(s).unwrap());
    assert!(!old.path().join("etc/systemd/system-preset").exists());
}

#[test]
fn snakeoil_key_is_removed() {
    let dir = fixture(&[("etc/ssl/private/ssl-cert-snakeoil.key", "KEY")]);
    fs::create_dir_all(dir.path().join("etc/systemd/system")).unwrap();
    with_systemd_init(dir.path());
    let said = run(dir.path(), 12, ttys(2), |_, s| snakeoil_fixup(s).unwrap());
    assert_eq!(
        said,
        ["Setting up 'proxmox-regenerate-snakeoil.service' to regenerate snakeoil certificate.."]
    );
    assert!(
        !dir.path()
            .join("etc/ssl/private/ssl-cert-snakeoil.key")
            .exists()
    );
    let unit = dir
        .path()
        .join("etc/systemd/system/proxmox-regenerate-snakeoil.service");
    assert_eq!(fs::read_to_string(&unit).unwrap(), SNAKEOIL_UNIT);
    assert_eq!(
        fs::read_link(dir.path().join("etc/systemd/system/first-boot-complete.target.wants/proxmox-regenerate-snakeoil.service")).unwrap(),
        Path::new("/etc/systemd/system/proxmox-regenerate-snakeoil.service")
    );
    // Without systemd: a warning, and the key goes all the same.
    let plain = fixture(&[("etc/ssl/private/ssl-cert-snakeoil.key", "KEY")]);
    let said = run(plain.path(), 12, ttys(2), |_, s| snakeoil_fixup(s).unwrap());
    assert_eq!(
        said,
        [
            "Template contains pre-generated snakeoil certificate!",
            "Run `make-ssl-cert generate-default-snakeoil -f` to regenerate it!"
        ]
    );
    assert!(
        !plain
            .path()
            .join("etc/ssl/private/ssl-cert-snakeoil.key")
            .exists()
    );
    // No key, nothing to say.
    let clean = fixture(&[]);
    assert!(run(clean.path(), 12, ttys(2), |_, s| snakeoil_fixup(s).unwrap()).is_empty());
}

fn with_nets(specs: &[&str]) -> GuestConfig {
    GuestConfig {
        nets: specs
            .iter()
            .enumerate()
            .map(|(i, spec)| (i as u16, NetDevice::parse(spec).unwrap()))
            .collect(),
        ..GuestConfig::default()
    }
}

fn network_run(dir: &Path, version: u64, specs: &[&str]) -> String {
    run(dir, version, with_nets(specs), |d, s| {
        d.setup_network(s).unwrap()
    });
    fs::read_to_string(dir.join("etc/network/interfaces")).unwrap()
}

#[test]
fn address_form_changes_with_debian_10() {
    let specs = ["name=eth0,ip=192.168.1.20/24,gw=192.168.1.1,ip6=2001:db8::20/64,gw6=fe80::1"];
    let old = fixture(&[]);
    assert_eq!(
        network_run(old.path(), 9, &specs),
        format!(
            "{LOOPBACK}auto eth0\niface eth0 inet static\n\taddress 192.168.1.20\n\tnetmask 255.255.255.0\n\
             \tgateway 192.168.1.1\n\niface eth0 inet6 static\n\taddress 2001:db8::20\n\tnetmask 64\n\
             \tgateway fe80::1\n\n"
        )
    );
    // An upgrade to 10 rewrites the same file in the new form.
    let expected = format!(
        "{LOOPBACK}auto eth0\niface eth0 inet static\n\taddress 192.168.1.20/24\n\tgateway 192.168.1.1\n\n\
         iface eth0 inet6 static\n\taddress 2001:db8::20/64\n\tgateway fe80::1\n\n"
    );
    assert_eq!(network_run(old.path(), 10, &specs), expected);
    assert_eq!(network_run(old.path(), 10, &specs), expected);
}

#[test]
fn template_interfaces_file_is_merged() {
    let template = "# interfaces(5) file used by ifup(8) and ifdown(8)
# Include files from /etc/network/interfaces.d:
source-directory /etc/network/interfaces.d

auto lo
iface lo inet loopback

auto eth0
iface eth0 inet dhcp
";
    let dir = fixture(&[("etc/network/interfaces", template)]);
    let specs = [
        "name=eth0,bridge=vmbr0,ip=10.1.1.5/16,gw=10.2.0.1,ip6=auto",
        "name=eth1,bridge=vmbr1,ip=manual",
    ];
    let expected = "# interfaces(5) file used by ifup(8) and ifdown(8)
# Include files from /etc/network/interfaces.d:
source-directory /etc/network/interfaces.d

auto lo
iface lo inet loopback

auto eth0
iface eth0 inet static
\taddress 10.1.1.5/16
# --- BEGIN PVE ---
\tpost-up ip route add 10.2.0.1 dev eth0
\tpost-up ip route add default via 10.2.0.1 dev eth0
\tpre-down ip route del default via 10.2.0.1 dev eth0
\tpre-down ip route del 10.2.0.1 dev eth0
# --- END PVE ---

iface eth0 inet6 auto

auto eth1
iface eth1 inet manual

";
    assert_eq!(network_run(dir.path(), 12, &specs), expected);
    assert_eq!(network_run(dir.path(), 12, &specs), expected);
}
