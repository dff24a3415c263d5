//! Alpine: OpenRC runlevel links, busybox inittab gettys, and Debian's interfaces file,
//! which busybox's ifupdown reads too.

use super::debian::{file_read_firstline, is_getty_line, rewrite_inittab};
use super::{Distro, Probe};
use crate::config::{Ip6Config, NetDevice};
use crate::setup::base::{remove_lxc_name_from_etc_hosts, setup_securetty};
use crate::setup::context::{GuestConfig, Setup};
use crate::setup::error::SetupError;
use crate::setup::network::interfaces::{AddressForm, setup_interfaces};

/// The OpenRC services a container needs, and the runlevel each belongs to.
const RUNLEVEL_LINKS: &[(&str, &str)] = &[
    // Networking is not enabled in the templates.
    ("networking", "boot"),
    ("bootmisc", "boot"),
    ("hostname", "boot"),
    // Without these the container does not stop cleanly.
    ("killprocs", "shutdown"),
    ("savecache", "shutdown"),
];

pub struct Alpine {
    /// `/etc/alpine-release`'s first line, when there is one; pct checks none.
    version: Option<String>,
}

/// The leading digits of `text` as a number (saturating), and what follows them.
fn leading_number(text: &str) -> Option<(u64, &str)> {
    let count = text.bytes().take_while(u8::is_ascii_digit).count();
    if count == 0 {
        return None;
    }
    Some((text[..count].parse().unwrap_or(u64::MAX), &text[count..]))
}

/// pct's `at_least`: `version` read as `/^(\d+)(?:\.(\d+))?/` is `major.minor` or newer;
/// a version without a minor counts as `.0`.
fn at_least(version: Option<&str>, major: u64, minor: u64) -> bool {
    let Some((got_major, rest)) = version.and_then(leading_number) else {
        return false;
    };
    let got_minor = rest
        .strip_prefix('.')
        .and_then(leading_number)
        .map(|(minor, _)| minor);
    major < got_major
        || major == got_major
            && match got_minor {
                None => minor == 0,
                Some(got_minor) => minor <= got_minor,
            }
}

impl Alpine {
    pub fn new(probe: &mut Probe) -> Result<Alpine, SetupError> {
        Ok(Alpine {
            version: file_read_firstline(probe.root, "/etc/alpine-release"),
        })
    }

    /// `address ip/prefix` from 3.13 on.
    fn address_form(&self) -> AddressForm {
        if at_least(self.version.as_deref(), 3, 13) {
            AddressForm::Cidr
        } else {
            AddressForm::Netmask
        }
    }
}

/// busybox's udhcpc6 is unfinished and it has no SLAAC method: such NICs get `manual`, so at
/// least the rest of the networking comes up.
fn without_dhcp6(net: &NetDevice) -> NetDevice {
    let mut net = net.clone();
    if matches!(net.ip6, Some(Ip6Config::Dhcp | Ip6Config::Auto)) {
        net.ip6 = Some(Ip6Config::Manual);
    }
    net
}

/// busybox init's gettys on the container's ttys (7 is X11's).
fn busybox_gettys(ttys: u32) -> String {
    (1..=ttys)
        .filter(|&id| id != 7)
        .map(|id| format!("tty{id}::respawn:/sbin/getty 38400 tty{id}\n"))
        .collect()
}

impl Distro for Alpine {
    fn ostype(&self) -> &'static str {
        "alpine"
    }

    fn devttydir(&self, _conf: &GuestConfig) -> &'static str {
        ""
    }

    fn template_fixup(&self, setup: &mut Setup) -> Result<(), SetupError> {
        for (service, runlevel) in RUNLEVEL_LINKS {
            setup.root.symlink(
                &format!("/etc/init.d/{service}"),
                &format!("/etc/runlevels/{runlevel}/{service}"),
            );
        }
        setup_securetty(setup, "", &[])?;
        remove_lxc_name_from_etc_hosts(setup)
    }

    fn setup_init(&self, setup: &mut Setup) -> Result<(), SetupError> {
        rewrite_inittab(
            setup,
            |line| is_getty_line(line, "tty"),
            &busybox_gettys(setup.conf.tty),
        )
    }

    fn setup_network(&self, setup: &mut Setup) -> Result<(), SetupError> {
        let nets: Vec<NetDevice> = setup.conf.named_nets().map(without_dhcp6).collect();
        setup_interfaces(setup, &nets, self.address_form())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::context::HostEnv;
    use crate::setup::detect::OsRelease;
    use crate::setup::random::Drand48;
    use crate::setup::root::GuestRoot;
    use std::fs;
    use std::path::Path;

    const LOOPBACK: &str = "auto lo\niface lo inet loopback\niface lo inet6 loopback\n\n";

    use crate::setup::testing::fixture;

    fn alpine(dir: &Path) -> Alpine {
        let root = GuestRoot::open(dir, None).unwrap();
        let os_release = OsRelease::default();
        let mut warnings = Vec::new();
        let alpine = Alpine::new(&mut Probe {
            root: &root,
            os_release: &os_release,
            warnings: &mut warnings,
        })
        .unwrap();
        assert!(warnings.is_empty());
        alpine
    }

    fn run(dir: &Path, nets: &[&str], tty: u32, step: impl Fn(&Alpine, &mut Setup)) {
        let plugin = alpine(dir);
        let root = GuestRoot::open(dir, None).unwrap();
        let conf = GuestConfig {
            nets: nets
                .iter()
                .enumerate()
                .map(|(i, spec)| (i as u16, NetDevice::parse(spec).unwrap()))
                .collect(),
            tty,
            ..GuestConfig::default()
        };
        let host = HostEnv::default();
        let mut random = Drand48::seeded(0);
        let mut setup = Setup::new(&root, &conf, &host, &mut random);
        step(&plugin, &mut setup);
    }

    #[test]
    fn at_least_reads_versions_as_pct_does() {
        assert!(at_least(Some("3.13.0"), 3, 13));
        assert!(at_least(Some("3.20.3"), 3, 13));
        assert!(at_least(Some("4"), 3, 13));
        assert!(at_least(Some("3.13_rc1"), 3, 13));
        assert!(!at_least(Some("3.12.9"), 3, 13));
        assert!(!at_least(Some("3"), 3, 13));
        assert!(at_least(Some("3"), 3, 0));
        // No minor after anything but a dot: `3x.20` is 3 without one.
        assert!(!at_least(Some("3x.20"), 3, 13));
        assert!(!at_least(Some("edge"), 3, 13));
        assert!(!at_least(None, 3, 13));
    }

    #[test]
    fn version_file_as_pct_reads_it() {
        let dir = fixture(&[("etc/alpine-release", "3.19.1\n")]);
        assert_eq!(alpine(dir.path()).version.as_deref(), Some("3.19.1"));
        // Missing or empty: no version, no error.
        let dir = fixture(&[("etc/alpine-release", "")]);
        assert_eq!(alpine(dir.path()).version, None);
        let dir = fixture(&[]);
        assert_eq!(alpine(dir.path()).version, None);
    }

    fn interfaces(dir: &Path) -> String {
        fs::read_to_string(dir.join("etc/network/interfaces")).unwrap()
    }

    #[test]
    fn cidr_form_from_3_13_and_no_dhcp6() {
        let nets = [
            "name=eth0,ip=10.0.0.2/24,gw=10.0.0.1,ip6=dhcp",
            "name=eth1,ip6=auto",
        ];
        let new = fixture(&[("etc/alpine-release", "3.13.0\n")]);
        run(new.path(), &nets, 2, |a, s| a.setup_network(s).unwrap());
        let expected = format!(
            "{LOOPBACK}auto eth0\niface eth0 inet static\n\taddress 10.0.0.2/24\n\tgateway 10.0.0.1\n\n\
             iface eth0 inet6 manual\n\nauto eth1\niface eth1 inet6 manual\n\n"
        );
        assert_eq!(interfaces(new.path()), expected);
        run(new.path(), &nets, 2, |a, s| a.setup_network(s).unwrap());
        assert_eq!(interfaces(new.path()), expected);

        let old = fixture(&[("etc/alpine-release", "3.12.12\n")]);
        run(old.path(), &nets, 2, |a, s| a.setup_network(s).unwrap());
        assert!(interfaces(old.path()).contains(
            "iface eth0 inet static\n\taddress 10.0.0.2\n\tnetmask 255.255.255.0\n\tgateway 10.0.0.1\n\n"
        ));
        // Without a release file pct cannot tell, and uses the netmask form.
        let unknown = fixture(&[]);
        run(
            unknown.path(),
            &["name=eth0,ip=10.0.0.2/24,ip6=fd00::2/64"],
            2,
            |a, s| a.setup_network(s).unwrap(),
        );
        assert_eq!(
            interfaces(unknown.path()),
            format!(
                "{LOOPBACK}auto eth0\niface eth0 inet static\n\taddress 10.0.0.2\n\tnetmask 255.255.255.0\n\n\
                 iface eth0 inet6 static\n\taddress fd00::2\n\tnetmask 64\n\n"
            )
        );
    }

    #[test]
    fn inittab_gettys() {
        let dir = fixture(&[(
            "etc/inittab",
            "::sysinit:/sbin/openrc sysinit\ntty1::respawn:/sbin/getty 38400 tty1\n  tty5:23:respawn:/sbin/agetty tty5\nttyS0::respawn:/sbin/getty -L ttyS0 115200 vt100\n::shutdown:/sbin/openrc shutdown\n\n",
        )]);
        run(dir.path(), &[], 8, |a, s| a.setup_init(s).unwrap());
        let expected = "::sysinit:/sbin/openrc sysinit\nttyS0::respawn:/sbin/getty -L ttyS0 115200 vt100\n::shutdown:/sbin/openrc shutdown\n\
                        tty1::respawn:/sbin/getty 38400 tty1\ntty2::respawn:/sbin/getty 38400 tty2\n\
                        tty3::respawn:/sbin/getty 38400 tty3\ntty4::respawn:/sbin/getty 38400 tty4\n\
                        tty5::respawn:/sbin/getty 38400 tty5\ntty6::respawn:/sbin/getty 38400 tty6\n\
                        tty8::respawn:/sbin/getty 38400 tty8\n";
        let read = || fs::read_to_string(dir.path().join("etc/inittab")).unwrap();
        assert_eq!(read(), expected);
        run(dir.path(), &[], 8, |a, s| a.setup_init(s).unwrap());
        assert_eq!(read(), expected);
        // No inittab: nothing is created.
        let bare = fixture(&[]);
        run(bare.path(), &[], 2, |a, s| a.setup_init(s).unwrap());
        assert!(!bare.path().join("etc/inittab").exists());
    }

    #[test]
    fn template_fixup_links_runlevels() {
        let dir = fixture(&[
            ("etc/securetty", "console\ntty1\n"),
            ("etc/hosts", "127.0.0.1 localhost\n127.0.1.1 LXC_NAME\n"),
            ("etc/runlevels/boot/.keep", ""),
        ]);
        // Already there: pct's symlink fails and leaves it.
        fs::create_dir_all(dir.path().join("etc/runlevels/shutdown")).unwrap();
        std::os::unix::fs::symlink(
            "/somewhere/else",
            dir.path().join("etc/runlevels/shutdown/savecache"),
        )
        .unwrap();
        run(dir.path(), &[], 2, |a, s| a.template_fixup(s).unwrap());
        let link = |path: &str| fs::read_link(dir.path().join(path)).unwrap();
        for (path, target) in [
            ("etc/runlevels/boot/networking", "/etc/init.d/networking"),
            ("etc/runlevels/boot/bootmisc", "/etc/init.d/bootmisc"),
            ("etc/runlevels/boot/hostname", "/etc/init.d/hostname"),
            ("etc/runlevels/shutdown/killprocs", "/etc/init.d/killprocs"),
            ("etc/runlevels/shutdown/savecache", "/somewhere/else"),
        ] {
            assert_eq!(link(path), Path::new(target), "{path}");
        }
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/securetty")).unwrap(),
            "console\ntty1\ntty2\ntty3\ntty4\n"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/hosts")).unwrap(),
            "127.0.0.1 localhost\n"
        );
    }
}
