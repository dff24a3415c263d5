//! Gentoo with OpenRC: gettys in `/etc/inittab`, netifrc's `/etc/conf.d/net`, and the host
//! name in `/etc/conf.d/hostname`.

use super::centos::read_release_line;
use super::{Distro, Probe};
use crate::setup::base::{
    remove_lxc_name_from_etc_hosts, setup_securetty, update_etc_hosts_for_config,
};
use crate::setup::context::{GuestConfig, Setup};
use crate::setup::error::SetupError;
use crate::setup::network::gentoo::setup_gentoo_network;
use crate::setup::network::redhat::is_perl_space;

const INITTAB: &str = "/etc/inittab";
const CONF_D_HOSTNAME: &str = "/etc/conf.d/hostname";

pub struct Gentoo;

impl Gentoo {
    /// The release must name itself as Gentoo; which release it is does not matter.
    pub fn new(probe: &mut Probe) -> Result<Gentoo, SetupError> {
        let release = read_release_line(probe.root, "/etc/gentoo-release")
            .ok_or(SetupError::NoVersion { ostype: "gentoo" })?;
        const PREFIX: &str = "gentoo base system release ";
        let named = release
            .get(..PREFIX.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(PREFIX));
        if !named {
            return Err(SetupError::UnrecognizedVersion {
                ostype: "gentoo",
                text: release,
            });
        }
        Ok(Gentoo)
    }
}

/// pct's `/^\s*c?\d+:\d*:[^:]*:.*getty/`: an inittab entry that runs a getty.
fn is_getty_line(line: &str) -> bool {
    let rest = line.trim_start_matches(is_perl_space);
    let rest = rest.strip_prefix('c').unwrap_or(rest);
    let mut fields = rest.splitn(4, ':');
    let (Some(id), Some(runlevels), Some(_action), Some(process)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return false;
    };
    let digits = |text: &str| text.bytes().all(|b| b.is_ascii_digit());
    !id.is_empty() && digits(id) && digits(runlevels) && process.contains("getty")
}

/// `/etc/inittab` without its gettys, then one agetty per configured tty (7 stays free for
/// X11, as pct leaves it).
fn inittab(existing: &str, conf: &GuestConfig) -> String {
    let mut text: String = crate::setup::section::perl_lines(existing)
        .into_iter()
        .filter(|line| !is_getty_line(line))
        .collect::<Vec<_>>()
        .join("\n");
    text.push('\n');
    for id in (1..=conf.tty).filter(|id| *id != 7) {
        text.push_str(&format!("{id}::respawn:/sbin/agetty 38400 tty{id}\n"));
    }
    text
}

impl Distro for Gentoo {
    fn ostype(&self) -> &'static str {
        "gentoo"
    }

    /// Gentoo's agetty cannot use the `/dev/lxc/` directory.
    fn devttydir(&self, _conf: &GuestConfig) -> &'static str {
        ""
    }

    fn template_fixup(&self, setup: &mut Setup) -> Result<(), SetupError> {
        setup_securetty(setup, self.devttydir(setup.conf), &[])?;
        remove_lxc_name_from_etc_hosts(setup)
    }

    fn setup_init(&self, setup: &mut Setup) -> Result<(), SetupError> {
        let data = inittab(&setup.read(INITTAB)?, setup.conf);
        setup.write(INITTAB, &data, None)
    }

    fn setup_network(&self, setup: &mut Setup) -> Result<(), SetupError> {
        setup_gentoo_network(setup)
    }

    /// `/etc/conf.d/hostname` holds the short name only, so it is replaced whole.
    fn set_hostname(&self, setup: &mut Setup) -> Result<(), SetupError> {
        // pct reads the old name from this file first and fails when it cannot open it,
        // before touching anything.
        if !setup.root.exists(CONF_D_HOSTNAME) {
            return Err(SetupError::NoHostnameFile {
                path: CONF_D_HOSTNAME.into(),
            });
        }
        update_etc_hosts_for_config(setup)?;
        let short = setup.conf.short_hostname().to_string();
        setup.write(CONF_D_HOSTNAME, &format!("hostname=\"{short}\"\n"), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::distro::centos::tests::{conf, error_text, fixture, probe, read, run};

    #[test]
    fn version_gate() {
        let check = |release: &str| {
            let dir = fixture(&[("/etc/gentoo-release", release)]);
            probe(dir.path(), Gentoo::new).map(|_| ())
        };
        check("Gentoo Base System release 2.14\n").unwrap();
        check("gentoo base system RELEASE 2.7").unwrap();
        assert!(matches!(
            check("Gentoo Linux 2.14\n"),
            Err(SetupError::UnrecognizedVersion {
                ostype: "gentoo",
                ..
            })
        ));
        assert_eq!(
            error_text(check("Gentoo Linux 2.14\n")),
            "unrecognized gentoo version: Gentoo Linux 2.14"
        );
        assert_eq!(error_text(check("")), "unable to read version info");
        let dir = fixture(&[]);
        assert_eq!(
            error_text(probe(dir.path(), Gentoo::new)),
            "unable to read version info"
        );
    }

    #[test]
    fn getty_lines() {
        assert!(is_getty_line(
            "c1:12345:respawn:/sbin/agetty 38400 tty1 linux"
        ));
        assert!(is_getty_line("  2::respawn:/sbin/mingetty tty2"));
        assert!(!is_getty_line(
            "s0:12345:respawn:/sbin/agetty -L 9600 ttyS0 vt100"
        ));
        assert!(!is_getty_line("x:a:respawn:/sbin/agetty"));
        assert!(!is_getty_line("1:2:respawn"));
        assert!(!is_getty_line("l0:0:wait:/sbin/rc shutdown"));
        assert!(is_getty_line("1:2:getty:x getty"));
    }

    #[test]
    fn inittab_gets_one_getty_per_tty() {
        let dir = fixture(&[(
            "/etc/inittab",
            "id:3:initdefault:\nc1:12345:respawn:/sbin/agetty 38400 tty1 linux\n\
             c2:2345:respawn:/sbin/agetty 38400 tty2 linux\nca:12345:ctrlaltdel:/sbin/shutdown -r now\n\n\n",
        )]);
        let mut conf = conf("ct", &[]);
        conf.tty = 8;
        run(dir.path(), &conf, |setup| Gentoo.setup_init(setup)).unwrap();
        let expected = "id:3:initdefault:\nca:12345:ctrlaltdel:/sbin/shutdown -r now\n\
                        1::respawn:/sbin/agetty 38400 tty1\n2::respawn:/sbin/agetty 38400 tty2\n\
                        3::respawn:/sbin/agetty 38400 tty3\n4::respawn:/sbin/agetty 38400 tty4\n\
                        5::respawn:/sbin/agetty 38400 tty5\n6::respawn:/sbin/agetty 38400 tty6\n\
                        8::respawn:/sbin/agetty 38400 tty8\n";
        assert_eq!(read(dir.path(), "/etc/inittab").unwrap(), expected);
        run(dir.path(), &conf, |setup| Gentoo.setup_init(setup)).unwrap();
        assert_eq!(read(dir.path(), "/etc/inittab").unwrap(), expected);

        let dir = fixture(&[]);
        assert!(run(dir.path(), &conf, |setup| Gentoo.setup_init(setup)).is_err());
    }

    #[test]
    fn hostname_goes_to_conf_d() {
        let dir = fixture(&[("/etc/conf.d/hostname", "# comment\nhostname=\"old\"\n")]);
        let conf = conf("ct.example.com", &["name=eth0,ip=10.0.0.2/24"]);
        run(dir.path(), &conf, |setup| Gentoo.set_hostname(setup)).unwrap();
        assert_eq!(
            read(dir.path(), "/etc/conf.d/hostname").unwrap(),
            "hostname=\"ct\"\n"
        );
        assert_eq!(
            read(dir.path(), "/etc/hosts").unwrap(),
            "# --- BEGIN PVE ---\n127.0.0.1 localhost.localnet localhost\n\
             ::1 localhost.localnet localhost\n10.0.0.2 ct.example.com ct\n# --- END PVE ---\n"
        );
        assert!(read(dir.path(), "/etc/hostname").is_none());

        let dir = fixture(&[]);
        let error = run(dir.path(), &conf, |setup| Gentoo.set_hostname(setup)).unwrap_err();
        assert!(matches!(&error, SetupError::NoHostnameFile { path } if path == CONF_D_HOSTNAME));
        assert_eq!(
            error.to_string(),
            "Can't call method \"close\" on an undefined value"
        );
        assert!(read(dir.path(), "/etc/hosts").is_none());
    }

    #[test]
    fn template_fixup_without_tty_directory() {
        let dir = fixture(&[("/etc/securetty", "console\n")]);
        run(dir.path(), &conf("ct", &[]), |setup| {
            Gentoo.template_fixup(setup)
        })
        .unwrap();
        assert_eq!(
            read(dir.path(), "/etc/securetty").unwrap(),
            "console\ntty1\ntty2\ntty3\ntty4\n"
        );
    }
}
