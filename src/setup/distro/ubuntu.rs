//! Ubuntu: Debian's files up to 17.04, systemd-networkd (netplan's LXC file removed) from
//! 17.10, upstart ttys on 12.04 and 14.04.

use super::debian::snakeoil_fixup;
use super::{Distro, Probe};
use crate::setup::base::setup_securetty;
use crate::setup::context::{GuestConfig, Setup};
use crate::setup::network::interfaces::setup_interfaces;
use crate::setup::network::networkd::setup_systemd_networkd;
use crate::setup::systemd::{setup_container_getty_service, setup_systemd_preset};

/// Releases pct knows.
const KNOWN_VERSIONS: &[&str] = &[
    "26.10", "26.04", "25.10", "25.04", "24.10", "24.04", "23.10", "23.04", "22.10", "22.04",
    "21.10", "21.04", "20.10", "20.04", "19.10", "19.04", "18.10", "18.04", "17.10", "17.04",
    "16.10", "16.04", "15.10", "15.04", "14.04", "12.04",
];

pub struct Ubuntu {
    /// `DISTRIB_RELEASE`, e.g. `22.04`.
    version: String,
}

/// The value of `NAME=` on a line of lsb-release, the name matched case-insensitively.
fn lsb_value<'t>(text: &'t str, name: &str) -> Vec<&'t str> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            key.eq_ignore_ascii_case(name).then_some(value)
        })
        .collect()
}

/// `\d+\.\d+` exactly.
fn is_release_number(text: &str) -> bool {
    text.split_once('.').is_some_and(|(major, minor)| {
        !major.is_empty()
            && !minor.is_empty()
            && major.bytes().all(|b| b.is_ascii_digit())
            && minor.bytes().all(|b| b.is_ascii_digit())
    })
}

impl Ubuntu {
    pub fn new(probe: &mut Probe) -> Result<Ubuntu, String> {
        let lsb = probe
            .root
            .read("/etc/lsb-release")
            .ok()
            .flatten()
            .ok_or("can't open '/etc/lsb-release' - No such file or directory")?;
        if !lsb_value(&lsb, "DISTRIB_ID")
            .iter()
            .any(|id| id.eq_ignore_ascii_case("Ubuntu"))
        {
            return Err("got unknown DISTRIB_ID".into());
        }
        let version = lsb_value(&lsb, "DISTRIB_RELEASE")
            .into_iter()
            .find(|value| is_release_number(value))
            .ok_or("unable to read version info")?
            .to_string();
        if !KNOWN_VERSIONS.contains(&version.as_str()) {
            let major: u32 = version
                .split('.')
                .next()
                .unwrap_or("0")
                .parse()
                .unwrap_or(0);
            // 16.10 and older ship a systemd that cannot run on cgroup v2 alone.
            if major < 17 {
                return Err(format!("unsupported ancient Ubuntu version '{version}'"));
            }
            probe.warnings.push(format!(
                "The container's Ubuntu version '{version}' is not in the known version list. \
                 As it's newer than the minimum supported version it's likely to work OK, but \
                 full compatibility cannot be guaranteed. Please check for PVE system updates."
            ));
        }
        Ok(Ubuntu { version })
    }

    /// The release as pct compares it: a number (`17.10` is 17.1).
    fn number(&self) -> f64 {
        self.version.parse().unwrap_or(0.0)
    }
}

fn upstart_tty(i: u32) -> String {
    format!(
        "# tty{i} - getty
#
# This service maintains a getty on tty{i} from the point the system is
# started until it is shut down again.

start on stopped rc RUNLEVEL=[2345] and (
            not-container or
            container CONTAINER=lxc or
            container CONTAINER=lxc-libvirt)

stop on runlevel [!2345]

respawn
exec /sbin/getty -8 38400 tty{i}
"
    )
}

impl Distro for Ubuntu {
    fn ostype(&self) -> &'static str {
        "ubuntu"
    }

    fn devttydir(&self, _conf: &GuestConfig) -> &'static str {
        ""
    }

    fn snakeoil_fixup(&self, setup: &mut Setup) -> Result<(), String> {
        snakeoil_fixup(setup)
    }

    fn template_fixup(&self, setup: &mut Setup) -> Result<(), String> {
        let version = self.number();
        if (17.10..23.04).contains(&version) {
            setup
                .root
                .mkdir("/etc/systemd/system/multi-user.target.wants", 0o777);
            setup
                .root
                .mkdir("/etc/systemd/system/socket.target.wants", 0o777);
            setup.root.symlink(
                "/lib/systemd/system/systemd-networkd.service",
                "/etc/systemd/system/multi-user.target.wants/systemd-networkd.service",
            );
            setup.root.symlink(
                "/lib/systemd/system/systemd-networkd.socket",
                "/etc/systemd/system/socket.target.wants/systemd-networkd.socket",
            );
        }
        if version >= 17.10 {
            setup.root.unlink("/etc/netplan/10-lxc.yaml");
        }
        if matches!(self.version.as_str(), "15.04" | "15.10" | "16.04") {
            setup_securetty(setup, "", &["pts/0"])?;
        }
        if self.version == "12.04" {
            let udev = "/etc/udev/udev.conf";
            let data = setup.read(udev)?;
            setup.write(udev, &data.replacen("=\"err\"", "=0", 1), None)?;
        }
        Ok(())
    }

    fn setup_init(&self, setup: &mut Setup) -> Result<(), String> {
        let version = self.number();
        if version >= 23.04 {
            setup_systemd_preset(setup, &[("systemd-networkd.service", true)])?;
        }
        if version >= 16.10 {
            setup_container_getty_service(setup, "")?;
        }
        if matches!(self.version.as_str(), "12.04" | "14.04") {
            for i in 1..7 {
                let path = format!("/etc/init/tty{i}.conf");
                if i <= setup.conf.tty {
                    setup.write(&path, &upstart_tty(i), None)?;
                } else {
                    setup.root.unlink(&path);
                }
            }
        }
        Ok(())
    }

    fn setup_network(&self, setup: &mut Setup) -> Result<(), String> {
        if self.number() >= 17.10 {
            setup_systemd_networkd(setup)
        } else {
            setup_interfaces(setup, false)
        }
    }
}
