//! Alpine: OpenRC runlevel links, busybox inittab gettys, and Debian's interfaces file,
//! which busybox's ifupdown reads too.

use super::debian::is_getty_line;
use super::{Distro, Probe};
use crate::config::Ip6Config;
use crate::setup::base::{remove_lxc_name_from_etc_hosts, setup_securetty};
use crate::setup::context::{GuestConfig, Setup};
use crate::setup::network::interfaces::render;
use crate::setup::section::perl_lines;

pub struct Alpine {
    /// `/etc/alpine-release`'s first line, when there is one.
    version: Option<String>,
}

impl Alpine {
    pub fn new(probe: &mut Probe) -> Result<Alpine, String> {
        Ok(Alpine {
            version: probe.root.read_first_line("/etc/alpine-release"),
        })
    }

    /// pct's `at_least`: whether the release is `major.minor` or newer.
    fn at_least(&self, major: u32, minor: u32) -> bool {
        let Some(version) = &self.version else {
            return false;
        };
        let mut parts = version.split('.');
        let number = |part: Option<&str>| -> Option<u32> {
            let digits: String = part?.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        };
        let Some(got_major) = number(parts.next()) else {
            return false;
        };
        let got_minor = number(parts.next());
        major < got_major
            || major == got_major
                && match got_minor {
                    None => minor == 0,
                    Some(got_minor) => minor <= got_minor,
                }
    }
}

impl Distro for Alpine {
    fn ostype(&self) -> &'static str {
        "alpine"
    }

    fn devttydir(&self, _conf: &GuestConfig) -> &'static str {
        ""
    }

    fn template_fixup(&self, setup: &mut Setup) -> Result<(), String> {
        for (service, runlevel) in [
            ("networking", "boot"),
            ("bootmisc", "boot"),
            ("hostname", "boot"),
            ("killprocs", "shutdown"),
            ("savecache", "shutdown"),
        ] {
            setup.root.symlink(
                &format!("/etc/init.d/{service}"),
                &format!("/etc/runlevels/{runlevel}/{service}"),
            );
        }
        setup_securetty(setup, "", &[])?;
        remove_lxc_name_from_etc_hosts(setup)
    }

    fn setup_init(&self, setup: &mut Setup) -> Result<(), String> {
        const INITTAB: &str = "/etc/inittab";
        if !setup.root.is_file(INITTAB) {
            return Ok(());
        }
        let inittab = setup.read(INITTAB)?;
        let kept: Vec<&str> = perl_lines(&inittab)
            .into_iter()
            .filter(|line| !is_getty_line(line, "tty"))
            .collect();
        let mut text = kept.join("\n") + "\n";
        for id in (1..=setup.conf.tty).filter(|&id| id != 7) {
            text.push_str(&format!("tty{id}::respawn:/sbin/getty 38400 tty{id}\n"));
        }
        setup.write(INITTAB, &text, None)
    }

    fn setup_network(&self, setup: &mut Setup) -> Result<(), String> {
        // busybox's udhcpc6 is unfinished and it has no SLAAC method: such NICs get
        // `manual`, so at least the rest of the networking comes up.
        let nets: Vec<_> = setup
            .conf
            .named_nets()
            .map(|net| {
                let mut net = net.clone();
                if matches!(net.ip6, Some(Ip6Config::Dhcp | Ip6Config::Auto)) {
                    net.ip6 = Some(Ip6Config::Manual);
                }
                net
            })
            .collect();
        let existing = setup
            .root
            .read("/etc/network/interfaces")
            .map_err(|e| format!("unable to read '/etc/network/interfaces': {e}"))?;
        let Some(text) = render(existing.as_deref(), &nets, self.at_least(3, 13)) else {
            return Ok(());
        };
        setup.make_path("/etc/network")?;
        setup.write("/etc/network/interfaces", &text, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alpine(version: &str) -> Alpine {
        Alpine {
            version: Some(version.into()),
        }
    }

    #[test]
    fn cidr_form_from_3_13() {
        assert!(alpine("3.13.0").at_least(3, 13));
        assert!(alpine("3.20.3").at_least(3, 13));
        assert!(alpine("4").at_least(3, 13));
        assert!(!alpine("3.12.9").at_least(3, 13));
        assert!(!Alpine { version: None }.at_least(3, 13));
    }

    #[test]
    fn inittab_getty_lines() {
        assert!(is_getty_line("tty1::respawn:/sbin/getty 38400 tty1", "tty"));
        assert!(is_getty_line("  tty3:23:respawn:/sbin/agetty tty3", "tty"));
        assert!(!is_getty_line(
            "ttyS0::respawn:/sbin/getty -L ttyS0 115200 vt100",
            "tty"
        ));
        assert!(!is_getty_line("::sysinit:/sbin/openrc sysinit", "tty"));
        assert!(is_getty_line("1:2345:respawn:/sbin/getty 38400 tty1", ""));
    }
}
