use super::*;
use crate::config::NetDevice;
use crate::setup::context::HostEnv;
use crate::setup::random::Drand48;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use crate::setup::testing::fixture;

fn read(dir: &Path, path: &str) -> String {
    fs::read_to_string(dir.join(path.trim_start_matches('/'))).unwrap()
}

fn conf(hostname: &str, net0: Option<&str>) -> GuestConfig {
    GuestConfig {
        hostname: Some(hostname.into()),
        nets: net0
            .map(|text| vec![(0, NetDevice::parse(text).unwrap())])
            .unwrap_or_default(),
        tty: 2,
        ..GuestConfig::default()
    }
}

fn host() -> HostEnv {
    HostEnv {
        search: Some("example.com".into()),
        nameservers: vec!["192.0.2.53".into(), "2001:db8::53".into()],
        localtime: Some("/usr/share/zoneinfo/Europe/Vienna".into()),
        timezone: Some("Europe/Vienna".into()),
    }
}

/// Run `step` on a fixture; returns the warnings.
fn run(
    dir: &Path,
    conf: &GuestConfig,
    host: &HostEnv,
    step: impl Fn(&mut Setup) -> Result<(), SetupError>,
) -> Vec<String> {
    let root = GuestRoot::open(dir, None).unwrap();
    let mut random = Drand48::seeded(0);
    let mut setup = Setup::new(&root, conf, host, &mut random);
    step(&mut setup).unwrap();
    setup.report.warnings
}

#[test]
fn hostname_and_hosts_on_a_bare_root() {
    let dir = fixture(&[]);
    let conf = conf("ct1", Some("name=eth0,ip=10.0.0.5/24,gw=10.0.0.1"));
    run(dir.path(), &conf, &host(), set_hostname);
    assert_eq!(read(dir.path(), "/etc/hostname"), "ct1\n");
    assert_eq!(
        read(dir.path(), "/etc/hosts"),
        "# --- BEGIN PVE ---\n\
         127.0.0.1 localhost.localnet localhost\n\
         ::1 localhost.localnet localhost\n\
         10.0.0.5 ct1.example.com ct1\n\
         # --- END PVE ---\n"
    );
}

#[test]
fn hosts_keeps_the_guests_lines_and_appends() {
    let dir = fixture(&[(
        "/etc/hosts",
        "127.0.0.1\tlocalhost\n::1     localhost ip6-localhost\n\n\n",
    )]);
    let conf = conf("web.corp.example", None);
    run(dir.path(), &conf, &host(), set_hostname);
    assert_eq!(read(dir.path(), "/etc/hostname"), "web\n");
    assert_eq!(
        read(dir.path(), "/etc/hosts"),
        "127.0.0.1\tlocalhost\n::1     localhost ip6-localhost\n\
         # --- BEGIN PVE ---\n\
         127.0.1.1 web.corp.example web\n\
         # --- END PVE ---\n"
    );
    // A second run changes nothing.
    let first = read(dir.path(), "/etc/hosts");
    run(dir.path(), &conf, &host(), set_hostname);
    assert_eq!(read(dir.path(), "/etc/hosts"), first);
}

#[test]
fn localhost_entries_inside_the_section_do_not_count() {
    let dir = fixture(&[(
        "/etc/hosts",
        "# mine\n# --- BEGIN PVE ---\n127.0.0.1 localhost.localnet localhost\n::1 localhost.localnet localhost\n10.0.0.9 old\n# --- END PVE ---\n10.9.9.9 other\n",
    )]);
    let conf = conf("new", Some("name=eth0,ip6=fd00::5/64"));
    let host = HostEnv {
        search: Some("a.example b.example".into()),
        ..HostEnv::default()
    };
    run(dir.path(), &conf, &host, set_hostname);
    assert_eq!(
        read(dir.path(), "/etc/hosts"),
        "# mine\n# --- BEGIN PVE ---\n\
         127.0.0.1 localhost.localnet localhost\n\
         ::1 localhost.localnet localhost\n\
         fd00::5 new.a.example new.b.example new\n\
         # --- END PVE ---\n10.9.9.9 other\n"
    );
}

#[test]
fn hostname_localhost_and_dhcp() {
    let dir = fixture(&[]);
    let conf = GuestConfig {
        nets: vec![(0, NetDevice::parse("name=eth0,ip=dhcp").unwrap())],
        ..GuestConfig::default()
    };
    run(dir.path(), &conf, &HostEnv::default(), set_hostname);
    assert_eq!(read(dir.path(), "/etc/hostname"), "localhost\n");
    assert!(read(dir.path(), "/etc/hosts").contains("\n127.0.1.1 localhost\n"));
}

#[test]
fn ignored_and_hostile_hosts_files() {
    let dir = fixture(&[("/etc/hosts", "mine\n"), ("/etc/.pve-ignore.hosts", "")]);
    run(dir.path(), &conf("ct", None), &host(), set_hostname);
    assert_eq!(read(dir.path(), "/etc/hosts"), "mine\n");

    let dir = fixture(&[]);
    let outside = tempfile::tempdir().unwrap();
    let host_file = outside.path().join("hosts");
    fs::write(&host_file, "127.0.0.1 host\n").unwrap();
    symlink(&host_file, dir.path().join("etc/hosts")).unwrap();
    run(dir.path(), &conf("ct", None), &host(), set_hostname);
    assert_eq!(fs::read_to_string(&host_file).unwrap(), "127.0.0.1 host\n");
    assert!(
        fs::symlink_metadata(dir.path().join("etc/hosts"))
            .unwrap()
            .is_file()
    );
    // The link resolved inside the container (to nothing), so both localhost lines came in.
    assert!(read(dir.path(), "/etc/hosts").starts_with("# --- BEGIN PVE ---\n127.0.0.1 "));
}

#[test]
fn resolv_conf_from_config_or_host() {
    let dir = fixture(&[("/etc/resolv.conf", "nameserver 9.9.9.9\noptions edns0\n")]);
    let mut conf = conf("ct", None);
    conf.nameserver = Some("1.1.1.1 8.8.8.8".into());
    conf.searchdomain = Some("a.example,b.example".into());
    run(dir.path(), &conf, &host(), set_dns);
    assert_eq!(
        read(dir.path(), "/etc/resolv.conf"),
        "# --- BEGIN PVE ---\nsearch a.example b.example\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n# --- END PVE ---\n"
    );
    let dir = fixture(&[]);
    run(dir.path(), &GuestConfig::default(), &host(), set_dns);
    assert_eq!(
        read(dir.path(), "/etc/resolv.conf"),
        "# --- BEGIN PVE ---\nsearch example.com\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n# --- END PVE ---\n"
    );
    // Nothing known at all: resolv.conf stays as it is.
    let dir = fixture(&[("/etc/resolv.conf", "nameserver 9.9.9.9\n")]);
    run(
        dir.path(),
        &GuestConfig::default(),
        &HostEnv::default(),
        set_dns,
    );
    assert_eq!(read(dir.path(), "/etc/resolv.conf"), "nameserver 9.9.9.9\n");
}

#[test]
fn timezone_links_and_warns() {
    let dir = fixture(&[
        ("/usr/share/zoneinfo/Europe/Vienna", "TZif"),
        ("/usr/share/zoneinfo/UTC", "TZif"),
        ("/etc/timezone", "Etc/UTC\n"),
    ]);
    symlink("/usr/share/zoneinfo/UTC", dir.path().join("etc/localtime")).unwrap();
    let mut conf = conf("ct", None);
    conf.timezone = Some("Europe/Vienna".into());
    assert!(run(dir.path(), &conf, &host(), set_timezone).is_empty());
    assert_eq!(
        fs::read_link(dir.path().join("etc/localtime")).unwrap(),
        Path::new("/usr/share/zoneinfo/Europe/Vienna")
    );
    assert_eq!(read(dir.path(), "/etc/timezone"), "Europe/Vienna\n");
    // `host` follows the host's zone.
    conf.timezone = Some("host".into());
    fs::write(dir.path().join("etc/timezone"), "x\n").unwrap();
    run(dir.path(), &conf, &host(), set_timezone);
    assert_eq!(read(dir.path(), "/etc/timezone"), "Europe/Vienna\n");
    // A zone the guest lacks: a warning, nothing touched.
    conf.timezone = Some("Mars/Olympus".into());
    let warnings = run(dir.path(), &conf, &host(), set_timezone);
    assert_eq!(
        warnings,
        ["container does not have /usr/share/zoneinfo/Mars/Olympus, timezone can not be modified"]
    );
    assert!(dir.path().join("etc/localtime").exists());
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("localtime."))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn machine_id_on_create_and_clone() {
    let dir = fixture(&[
        ("/etc/machine-id", "0123456789abcdef\n"),
        ("/var/lib/dbus/machine-id", "0123456789abcdef\n"),
        ("/lib/systemd/systemd", ""),
    ]);
    fs::set_permissions(
        dir.path().join("lib/systemd/systemd"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    run(dir.path(), &GuestConfig::default(), &host(), |s| {
        clear_machine_id(s, true)
    });
    assert_eq!(read(dir.path(), "/etc/machine-id"), "\n");
    assert!(!dir.path().join("var/lib/dbus/machine-id").exists());
    run(dir.path(), &GuestConfig::default(), &host(), |s| {
        clear_machine_id(s, false)
    });
    assert!(!dir.path().join("etc/machine-id").exists());
}

#[test]
fn securetty_gets_the_missing_ttys() {
    let dir = fixture(&[("/etc/securetty", "console\ntty1  \nttyS0")]);
    run(dir.path(), &GuestConfig::default(), &host(), |s| {
        setup_securetty(s, "lxc/", &[])
    });
    assert_eq!(
        read(dir.path(), "/etc/securetty"),
        "console\ntty1  \nttyS0\nlxc/console\nlxc/tty1\nlxc/tty2\nlxc/tty3\nlxc/tty4\n"
    );
    run(dir.path(), &GuestConfig::default(), &host(), |s| {
        setup_securetty(s, "", &[])
    });
    assert!(read(dir.path(), "/etc/securetty").ends_with("lxc/tty4\ntty2\ntty3\ntty4\n"));
}

#[test]
fn lxc_name_line_is_dropped() {
    let dir = fixture(&[(
        "/etc/hosts",
        "127.0.0.1 localhost\n127.0.1.1   LXC_NAME\n127.0.1.1 LXC_NAME.x\n\n",
    )]);
    run(dir.path(), &GuestConfig::default(), &host(), |s| {
        remove_lxc_name_from_etc_hosts(s)
    });
    assert_eq!(
        read(dir.path(), "/etc/hosts"),
        "127.0.0.1 localhost\n127.0.1.1 LXC_NAME.x\n"
    );
}

#[test]
fn systemd_version_and_nesting_warning() {
    let dir = fixture(&[]);
    fs::create_dir_all(dir.path().join("usr/lib/systemd")).unwrap();
    fs::create_dir_all(dir.path().join("sbin")).unwrap();
    let mut binary = b"\x7fELF....libc.so.6\0".to_vec();
    binary.extend_from_slice(b"libsystemd-shared-252.so\0more");
    fs::write(dir.path().join("usr/lib/systemd/systemd"), &binary).unwrap();
    symlink("/usr/lib/systemd/systemd", dir.path().join("sbin/init")).unwrap();
    let root = GuestRoot::open(dir.path(), None).unwrap();
    assert_eq!(
        systemd_version(&root, "/usr/lib/systemd/systemd"),
        Some(252)
    );
    let plain = GuestConfig::default();
    assert_eq!(
        systemd_nesting_warning(init_systemd(&root), &plain).as_deref(),
        Some("Systemd 252 detected. You may need to enable nesting.")
    );
    let nested = GuestConfig {
        nesting: true,
        ..GuestConfig::default()
    };
    assert_eq!(systemd_nesting_warning(init_systemd(&root), &nested), None);
    assert!(unified_cgroupv2_support(init_systemd(&root)));
    // Debian 10's systemd: no warning, and old enough names still parse.
    fs::write(
        dir.path().join("usr/lib/systemd/systemd"),
        b"libsystemd-shared-241.so\0",
    )
    .unwrap();
    assert_eq!(systemd_nesting_warning(init_systemd(&root), &plain), None);
    fs::write(
        dir.path().join("usr/lib/systemd/systemd"),
        b"libsystemd-shared-219-el7.so\0",
    )
    .unwrap();
    assert_eq!(
        systemd_version(&root, "/usr/lib/systemd/systemd"),
        Some(219)
    );
    assert!(!unified_cgroupv2_support(init_systemd(&root)));
}

#[test]
fn lists_and_primary_addresses() {
    assert_eq!(split_list(" a, b;c  d "), ["a", "b", "c", "d"]);
    let conf = GuestConfig {
        nets: vec![
            (1, NetDevice::parse("name=eth1,ip=10.1.0.1/24").unwrap()),
            (
                0,
                NetDevice::parse("name=eth0,ip=dhcp,ip6=fd00::1/64").unwrap(),
            ),
        ],
        ..GuestConfig::default()
    };
    assert_eq!(primary_ips(&conf), (None, Some("fd00::1".into())));
    assert_eq!(primary_ips(&GuestConfig::default()), (None, None));
}
