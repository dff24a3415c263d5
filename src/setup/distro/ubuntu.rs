//! Ubuntu: Debian's files up to 17.04, systemd-networkd (netplan's LXC file removed) from
//! 17.10, upstart ttys on 12.04 and 14.04.

use super::{Distro, Probe, debian};
use crate::setup::base::setup_securetty;
use crate::setup::context::{GuestConfig, Setup};
use crate::setup::error::{FileAction, SetupError};
use crate::setup::network::interfaces::AddressForm;
use crate::setup::network::networkd::setup_systemd_networkd;
use crate::setup::systemd::{setup_container_getty_service, setup_systemd_preset};

const LSB_RELEASE: &str = "/etc/lsb-release";

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

/// An error's text as Perl's `$!` gives it, without Rust's `(os error N)`.
fn errno_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(end) => text[..end].to_string(),
        None => text,
    }
}

/// The value of the first `DISTRIB_ID=` line, `""` without one: what the guest says it is.
fn distrib_id(lsb: &str) -> &str {
    lsb.split('\n')
        .find_map(|line| line.strip_prefix("DISTRIB_ID="))
        .unwrap_or("")
}

/// `/^DISTRIB_ID=Ubuntu$/mi`: a line that is exactly that, in any case.
fn is_ubuntu(lsb: &str) -> bool {
    lsb.split('\n')
        .any(|line| line.eq_ignore_ascii_case("DISTRIB_ID=Ubuntu"))
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

/// The first `DISTRIB_RELEASE=<major>.<minor>` line's value (`/^DISTRIB_RELEASE=(\d+\.\d+)$/mi`).
fn distrib_release(lsb: &str) -> Option<&str> {
    const KEY: &str = "DISTRIB_RELEASE=";
    lsb.split('\n').find_map(|line| {
        let value = line
            .get(..KEY.len())
            .filter(|key| key.eq_ignore_ascii_case(KEY))
            .map(|_| &line[KEY.len()..])?;
        is_release_number(value).then_some(value)
    })
}

/// The major release, saturating where Perl would go on with a float.
fn major_of(version: &str) -> u64 {
    let major = version.split('.').next().unwrap_or_default();
    major.parse().unwrap_or(u64::MAX)
}

impl Ubuntu {
    pub fn new(probe: &mut Probe) -> Result<Ubuntu, SetupError> {
        let lsb = match probe.root.read(LSB_RELEASE) {
            Ok(Some(text)) => text,
            Ok(None) => return Err(SetupError::missing(FileAction::Open, LSB_RELEASE)),
            Err(e) => {
                // pct's words name the error without the number std adds; the kind stays.
                let source = std::io::Error::new(e.kind(), errno_text(&e));
                return Err(SetupError::io(FileAction::Open, LSB_RELEASE, source));
            }
        };
        if !is_ubuntu(&lsb) {
            return Err(SetupError::UnrecognizedVersion {
                ostype: "ubuntu",
                text: distrib_id(&lsb).to_string(),
            });
        }
        let version = distrib_release(&lsb)
            .ok_or(SetupError::NoVersion { ostype: "ubuntu" })?
            .to_string();
        if !KNOWN_VERSIONS.contains(&version.as_str()) {
            // 16.10 and older ship a systemd that cannot run on cgroup v2 alone.
            if major_of(&version) < 17 {
                return Err(SetupError::Unsupported {
                    ostype: "ubuntu",
                    version,
                });
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

    fn snakeoil_fixup(&self, setup: &mut Setup) -> Result<(), SetupError> {
        debian::snakeoil_fixup(setup)
    }

    fn template_fixup(&self, setup: &mut Setup) -> Result<(), SetupError> {
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

    fn setup_init(&self, setup: &mut Setup) -> Result<(), SetupError> {
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

    fn setup_network(&self, setup: &mut Setup) -> Result<(), SetupError> {
        if self.number() >= 17.10 {
            setup_systemd_networkd(setup)
        } else {
            // pct's address/prefix form is for ostype debian only.
            debian::setup_network(setup, AddressForm::Netmask)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NetDevice;
    use crate::setup::context::HostEnv;
    use crate::setup::detect::OsRelease;
    use crate::setup::random::Drand48;
    use crate::setup::root::GuestRoot;
    use std::fs;
    use std::path::Path;

    use crate::setup::testing::{error_text, fixture};

    fn probe(lsb: Option<&str>) -> (Result<Ubuntu, SetupError>, Vec<String>) {
        let dir = match lsb {
            Some(text) => fixture(&[("etc/lsb-release", text)]),
            None => fixture(&[]),
        };
        let root = GuestRoot::open(dir.path(), None).unwrap();
        let os_release = OsRelease::default();
        let mut warnings = Vec::new();
        let result = Ubuntu::new(&mut Probe {
            root: &root,
            os_release: &os_release,
            warnings: &mut warnings,
        });
        (result, warnings)
    }

    fn lsb(release: &str) -> String {
        format!(
            "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE={release}\nDISTRIB_CODENAME=x\nDISTRIB_DESCRIPTION=\"Ubuntu\"\n"
        )
    }

    #[test]
    fn known_releases() {
        for release in ["12.04", "16.10", "17.10", "24.04", "26.10"] {
            let (result, warnings) = probe(Some(&lsb(release)));
            assert_eq!(result.unwrap().version, release);
            assert!(warnings.is_empty());
        }
        // Keys and values match in any case; the first well-formed release line counts.
        let (result, _) = probe(Some(
            "distrib_id=ubuntu\nDISTRIB_RELEASE=24.04 LTS\ndistrib_release=22.04\nDISTRIB_RELEASE=20.04\n",
        ));
        assert_eq!(result.unwrap().version, "22.04");
    }

    #[test]
    fn unknown_newer_release_warns() {
        let (result, warnings) = probe(Some(&lsb("27.04")));
        assert_eq!(result.unwrap().version, "27.04");
        assert_eq!(
            warnings,
            [
                "The container's Ubuntu version '27.04' is not in the known version list. As it's newer than the minimum supported version it's likely to work OK, but full compatibility cannot be guaranteed. Please check for PVE system updates."
            ]
        );
    }

    #[test]
    fn refused_releases() {
        for (text, error) in [
            (
                Some(lsb("16.09")),
                "unsupported ancient Ubuntu version '16.09'",
            ),
            (
                Some(lsb("10.04")),
                "unsupported ancient Ubuntu version '10.04'",
            ),
            (Some(lsb("24")), "unable to read version info"),
            (
                Some("DISTRIB_ID=Ubuntu\n".to_string()),
                "unable to read version info",
            ),
            (
                Some("DISTRIB_ID=Debian\nDISTRIB_RELEASE=22.04\n".into()),
                "got unknown DISTRIB_ID",
            ),
            // pct's line match does not take a CR as the end of the line.
            (
                Some("DISTRIB_ID=Ubuntu\r\nDISTRIB_RELEASE=22.04\r\n".into()),
                "got unknown DISTRIB_ID",
            ),
            (
                None,
                "can't open '/etc/lsb-release' - No such file or directory",
            ),
        ] {
            assert_eq!(error_text(probe(text.as_deref()).0), error);
        }
        assert!(matches!(
            probe(Some(&lsb("16.09"))).0,
            Err(SetupError::Unsupported { ostype: "ubuntu", version }) if version == "16.09"
        ));
        assert!(matches!(
            probe(Some("DISTRIB_ID=Debian\nDISTRIB_RELEASE=22.04\n")).0,
            Err(SetupError::UnrecognizedVersion { ostype: "ubuntu", text }) if text == "Debian"
        ));
        assert!(matches!(
            probe(None).0,
            Err(SetupError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound
        ));
    }

    fn run(dir: &Path, version: &str, conf: GuestConfig, step: impl Fn(&Ubuntu, &mut Setup)) {
        let root = GuestRoot::open(dir, None).unwrap();
        let host = HostEnv::default();
        let mut random = Drand48::seeded(0);
        let mut setup = Setup::new(&root, &conf, &host, &mut random);
        step(
            &Ubuntu {
                version: version.into(),
            },
            &mut setup,
        );
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

    #[test]
    fn networkd_from_17_10_interfaces_before() {
        let specs = ["name=eth0,ip=10.0.0.2/24,gw=10.0.0.1"];
        let new = fixture(&[]);
        run(new.path(), "17.10", with_nets(&specs), |u, s| {
            u.setup_network(s).unwrap()
        });
        assert_eq!(
            fs::read_to_string(new.path().join("etc/systemd/network/eth0.network")).unwrap(),
            "[Match]\nName = eth0\n\n[Network]\nDescription = Interface eth0 autoconfigured by PVE\n\
             Address = 10.0.0.2/24\nGateway = 10.0.0.1\nDHCP = no\nIPv6AcceptRA = false\n"
        );
        assert!(!new.path().join("etc/network/interfaces").exists());

        let old = fixture(&[]);
        run(old.path(), "17.04", with_nets(&specs), |u, s| {
            u.setup_network(s).unwrap()
        });
        assert_eq!(
            fs::read_to_string(old.path().join("etc/network/interfaces")).unwrap(),
            "auto lo\niface lo inet loopback\niface lo inet6 loopback\n\n\
             auto eth0\niface eth0 inet static\n\taddress 10.0.0.2\n\tnetmask 255.255.255.0\n\
             \tgateway 10.0.0.1\n\n"
        );
        assert!(!old.path().join("etc/systemd/network").exists());
    }

    #[test]
    fn template_fixup_enables_networkd_and_drops_netplan() {
        let dir = fixture(&[("etc/netplan/10-lxc.yaml", "network: {}\n")]);
        fs::create_dir_all(dir.path().join("etc/systemd/system")).unwrap();
        run(dir.path(), "18.04", GuestConfig::default(), |u, s| {
            u.template_fixup(s).unwrap()
        });
        assert!(!dir.path().join("etc/netplan/10-lxc.yaml").exists());
        assert_eq!(
            fs::read_link(
                dir.path()
                    .join("etc/systemd/system/multi-user.target.wants/systemd-networkd.service")
            )
            .unwrap(),
            Path::new("/lib/systemd/system/systemd-networkd.service")
        );
        assert_eq!(
            fs::read_link(
                dir.path()
                    .join("etc/systemd/system/socket.target.wants/systemd-networkd.socket")
            )
            .unwrap(),
            Path::new("/lib/systemd/system/systemd-networkd.socket")
        );
        // From 23.04 the preset enables networkd instead of links.
        let lunar = fixture(&[("etc/netplan/10-lxc.yaml", "")]);
        fs::create_dir_all(lunar.path().join("etc/systemd/system")).unwrap();
        run(lunar.path(), "23.04", GuestConfig::default(), |u, s| {
            u.template_fixup(s).unwrap();
            u.setup_init(s).unwrap();
        });
        assert!(!lunar.path().join("etc/netplan/10-lxc.yaml").exists());
        assert!(
            !lunar
                .path()
                .join("etc/systemd/system/multi-user.target.wants")
                .exists()
        );
        assert!(
            fs::read_to_string(lunar.path().join("etc/systemd/system-preset/00-pve.preset"))
                .unwrap()
                .ends_with("enable systemd-networkd.service\n")
        );
    }

    #[test]
    fn old_releases_fixups() {
        let dir = fixture(&[("etc/securetty", "console\n")]);
        run(dir.path(), "16.04", GuestConfig::default(), |u, s| {
            u.template_fixup(s).unwrap()
        });
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/securetty")).unwrap(),
            "console\npts/0\n"
        );
        let precise = fixture(&[("etc/udev/udev.conf", "udev_log=\"err\"\nx=\"err\"\n")]);
        run(precise.path(), "12.04", GuestConfig::default(), |u, s| {
            u.template_fixup(s).unwrap()
        });
        assert_eq!(
            fs::read_to_string(precise.path().join("etc/udev/udev.conf")).unwrap(),
            "udev_log=0\nx=\"err\"\n"
        );
    }

    #[test]
    fn upstart_ttys_on_12_04_and_14_04() {
        let dir = fixture(&[("etc/init/tty5.conf", "old"), ("etc/init/tty2.conf", "old")]);
        let conf = GuestConfig {
            tty: 2,
            ..GuestConfig::default()
        };
        run(dir.path(), "14.04", conf, |u, s| u.setup_init(s).unwrap());
        let tty = |i: u32| fs::read_to_string(dir.path().join(format!("etc/init/tty{i}.conf")));
        assert_eq!(tty(1).unwrap(), upstart_tty(1));
        assert!(
            tty(2)
                .unwrap()
                .ends_with("respawn\nexec /sbin/getty -8 38400 tty2\n")
        );
        assert!(tty(5).is_err());
        assert!(!dir.path().join("etc/systemd").exists());
    }
}
