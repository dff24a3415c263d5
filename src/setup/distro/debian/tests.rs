use super::*;
use crate::setup::context::HostEnv;
use crate::setup::random::Drand48;
use std::fs;
use std::os::unix::fs::symlink;

fn fixture(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc")).unwrap();
    for (path, text) in files {
        let full = dir.path().join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, text).unwrap();
    }
    dir
}

fn probe(dir: &std::path::Path) -> (Result<Debian, String>, Vec<String>) {
    let root = GuestRoot::open(dir, None).unwrap();
    let os_release = crate::setup::detect::OsRelease::default();
    let mut warnings = Vec::new();
    let mut probe = Probe {
        root: &root,
        os_release: &os_release,
        warnings: &mut warnings,
    };
    let result = Debian::new(&mut probe);
    (result, warnings)
}

#[test]
fn version_gates() {
    for (text, version) in [
        ("12.7\n", 12),
        ("bookworm/sid\n", 12),
        ("stretch/sid", 9),
        ("kali-rolling", 12),
        ("4.0", 4),
    ] {
        let dir = fixture(&[("etc/debian_version", text)]);
        assert_eq!(probe(dir.path()).0.unwrap().version, version, "{text}");
    }
    let dir = fixture(&[("etc/debian_version", "3.1\n")]);
    assert_eq!(
        probe(dir.path()).0.err().unwrap(),
        "Container Debian version '3' is too old"
    );
    let dir = fixture(&[("etc/debian_version", "sid\n")]);
    assert_eq!(
        probe(dir.path()).0.err().unwrap(),
        "unable to parse version info 'sid'"
    );
    let dir = fixture(&[]);
    assert_eq!(
        probe(dir.path()).0.err().unwrap(),
        "unable to read version info"
    );
    let dir = fixture(&[("etc/debian_version", "duke/sid\n")]);
    let (result, warnings) = probe(dir.path());
    assert_eq!(result.unwrap().version, 15);
    assert_eq!(
        warnings,
        [
            "The container's Debian version '15' is newer than the tested version '14'. While everything may work fine, full compatibility cannot be guaranteed. Please check for PVE system updates."
        ]
    );
}

fn run(
    dir: &std::path::Path,
    version: u32,
    tty: u32,
    step: impl Fn(&Debian, &mut Setup),
) -> Vec<String> {
    let root = GuestRoot::open(dir, None).unwrap();
    let conf = GuestConfig {
        tty,
        ..GuestConfig::default()
    };
    let host = HostEnv::default();
    let mut random = Drand48::seeded(0);
    let mut setup = Setup::new(&root, &conf, &host, &mut random);
    step(&Debian { version }, &mut setup);
    let mut said = setup.report.messages;
    said.extend(setup.report.warnings);
    said
}

#[test]
fn sysvinit_inittab() {
    let dir = fixture(&[(
        "etc/inittab",
        "id:2:initdefault:\nsi::sysinit:/etc/init.d/rcS\npf::powerwait:/etc/init.d/powerfail start\npn::powerfailnow:/etc/init.d/powerfail now\npo::powerokwait:/etc/init.d/powerfail stop\n1:2345:respawn:/sbin/getty 38400 tty1\n2:23:respawn:/sbin/getty 38400 tty2\nT0:23:respawn:/sbin/getty -L ttyS0 9600 vt100\n",
    )]);
    run(dir.path(), 12, 3, |d, s| d.setup_init(s).unwrap());
    let expected = "id:2:initdefault:\nsi::sysinit:/etc/init.d/rcS\nT0:23:respawn:/sbin/getty -L ttyS0 9600 vt100\n\
                    p0::powerfail:/sbin/init 0\n\
                    1:2345:respawn:/sbin/getty --noclear 38400 tty1\n\
                    2:23:respawn:/sbin/getty --noclear 38400 tty2\n\
                    3:23:respawn:/sbin/getty --noclear 38400 tty3\n";
    assert_eq!(
        fs::read_to_string(dir.path().join("etc/inittab")).unwrap(),
        expected
    );
    // Idempotent, and Debian before 7 uses -L.
    run(dir.path(), 12, 3, |d, s| d.setup_init(s).unwrap());
    assert_eq!(
        fs::read_to_string(dir.path().join("etc/inittab")).unwrap(),
        expected
    );
    run(dir.path(), 6, 1, |d, s| d.setup_init(s).unwrap());
    assert!(
        fs::read_to_string(dir.path().join("etc/inittab"))
            .unwrap()
            .ends_with("p0::powerfail:/sbin/init 0\n1:2345:respawn:/sbin/getty -L 38400 tty1\n")
    );
}

#[test]
fn systemd_guests_get_a_preset_from_12() {
    let dir = fixture(&[("lib/systemd/systemd", "")]);
    fs::create_dir_all(dir.path().join("sbin")).unwrap();
    symlink("/lib/systemd/systemd", dir.path().join("sbin/init")).unwrap();
    run(dir.path(), 12, 2, |d, s| d.setup_init(s).unwrap());
    assert!(
        fs::read_to_string(dir.path().join("etc/systemd/system-preset/00-pve.preset"))
            .unwrap()
            .ends_with("disable systemd-networkd.service\n")
    );
    let old = fixture(&[]);
    fs::create_dir_all(old.path().join("sbin")).unwrap();
    symlink("/lib/systemd/systemd", old.path().join("sbin/init")).unwrap();
    run(old.path(), 11, 2, |d, s| d.setup_init(s).unwrap());
    assert!(!old.path().join("etc/systemd/system-preset").exists());
}

#[test]
fn snakeoil_key_is_removed() {
    let dir = fixture(&[("etc/ssl/private/ssl-cert-snakeoil.key", "KEY")]);
    fs::create_dir_all(dir.path().join("sbin")).unwrap();
    fs::create_dir_all(dir.path().join("etc/systemd/system")).unwrap();
    symlink("/lib/systemd/systemd", dir.path().join("sbin/init")).unwrap();
    let said = run(dir.path(), 12, 2, |_, s| snakeoil_fixup(s).unwrap());
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
    assert!(
        fs::read_to_string(&unit)
            .unwrap()
            .starts_with("[Unit]\nDescription=\"Regenerate")
    );
    assert_eq!(
        fs::read_link(dir.path().join("etc/systemd/system/first-boot-complete.target.wants/proxmox-regenerate-snakeoil.service")).unwrap(),
        std::path::Path::new("/etc/systemd/system/proxmox-regenerate-snakeoil.service")
    );
    // Without systemd: a warning, and the key goes all the same.
    let plain = fixture(&[("etc/ssl/private/ssl-cert-snakeoil.key", "KEY")]);
    let said = run(plain.path(), 12, 2, |_, s| snakeoil_fixup(s).unwrap());
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
}
