//! Fedora: CentOS's host name handling, systemd-networkd from release 25 on, and the
//! legacy network-scripts for the releases that still use them.

use super::centos::{self, perl_number};
use super::{Distro, Probe};
use crate::setup::base::{devttydir, remove_lxc_name_from_etc_hosts, setup_securetty};
use crate::setup::context::Setup;
use crate::setup::error::SetupError;
use crate::setup::network::networkd::setup_systemd_networkd;
use crate::setup::systemd::{setup_container_getty_service, setup_systemd_preset};

pub struct Fedora {
    /// os-release's `VERSION_ID`, as a number.
    version: f64,
}

impl Fedora {
    /// Only too old a release is refused; a newer one than known is no reason to fail.
    pub fn new(probe: &mut Probe) -> Result<Fedora, SetupError> {
        let version = probe.os_release.get("VERSION_ID");
        match version.map(perl_number) {
            Some(number) if number >= 22.0 => Ok(Fedora { version: number }),
            _ => Err(SetupError::Unsupported {
                ostype: "fedora",
                version: version.unwrap_or("").to_string(),
            }),
        }
    }
}

impl Distro for Fedora {
    fn ostype(&self) -> &'static str {
        "fedora"
    }

    fn template_fixup(&self, setup: &mut Setup) -> Result<(), SetupError> {
        setup_securetty(setup, devttydir(setup.conf), &[])?;
        setup.root.unlink("/etc/systemd/system/getty@.service");
        remove_lxc_name_from_etc_hosts(setup)
    }

    fn setup_init(&self, setup: &mut Setup) -> Result<(), SetupError> {
        setup_container_getty_service(setup, devttydir(setup.conf))?;
        if self.version >= 37.0 {
            // From 37 the distribution's preset turns networkd off in favour of
            // NetworkManager, but networkd is what setup_network configures.
            setup_systemd_preset(setup, &[("systemd-networkd.service", true)])?;
        }
        Ok(())
    }

    /// networkd from 25 on; the legacy files up to 24, and up to 27 where the guest still
    /// has `/etc/sysconfig/network` (forum workarounds kept network.service alive there).
    /// The legacy path is CentOS's, which goes by `/etc/redhat-release` and so writes
    /// NetworkManager keyfiles for any Fedora, as pct does.
    fn setup_network(&self, setup: &mut Setup) -> Result<(), SetupError> {
        let sysconfig_used = setup.root.is_file("/etc/sysconfig/network");
        let version = self.version;
        if version <= 24.0 || (version <= 27.0 && sysconfig_used) {
            centos::setup_network(setup)?;
        }
        if version >= 25.0 {
            setup_systemd_networkd(setup)?;
        }
        Ok(())
    }

    fn set_hostname(&self, setup: &mut Setup) -> Result<(), SetupError> {
        centos::set_hostname(setup)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::distro::centos::tests::{conf, error_text, fixture, probe, read, run};
    use std::fs;

    fn fedora(version_id: Option<&str>) -> Result<Fedora, SetupError> {
        let os_release = match version_id {
            Some(id) => format!("ID=fedora\nVERSION_ID={id}\n"),
            None => "ID=fedora\n".into(),
        };
        let dir = fixture(&[("/etc/os-release", &os_release)]);
        probe(dir.path(), Fedora::new)
    }

    #[test]
    fn version_gate() {
        assert_eq!(fedora(Some("39")).unwrap().version, 39.0);
        assert_eq!(fedora(Some("22")).unwrap().version, 22.0);
        assert!(matches!(
            fedora(Some("21")),
            Err(SetupError::Unsupported { ostype: "fedora", version }) if version == "21"
        ));
        assert_eq!(
            error_text(fedora(Some("21"))),
            "unsupported Fedora release '21'"
        );
        assert_eq!(
            error_text(fedora(Some("rawhide"))),
            "unsupported Fedora release 'rawhide'"
        );
        assert_eq!(error_text(fedora(None)), "unsupported Fedora release ''");
    }

    fn with_version(version: f64, files: &[(&str, &str)], nets: &[&str]) -> tempfile::TempDir {
        let dir = fixture(files);
        let conf = conf("ct.example.com", nets);
        run(dir.path(), &conf, |setup| {
            Fedora { version }.setup_network(setup)
        })
        .unwrap();
        dir
    }

    #[test]
    fn network_by_release() {
        let release = ("/etc/redhat-release", "Fedora release 24 (Twenty Four)\n");
        let nets = ["name=eth0,ip=dhcp"];
        let keyfile = "/etc/NetworkManager/system-connections/eth0.nmconnection";
        let networkd = "/etc/systemd/network/eth0.network";

        let dir = with_version(24.0, &[release], &nets);
        assert!(read(dir.path(), keyfile).is_some());
        assert!(read(dir.path(), networkd).is_none());

        let dir = with_version(26.0, &[release], &nets);
        assert!(read(dir.path(), keyfile).is_none());
        assert!(read(dir.path(), networkd).is_some());

        let dir = with_version(27.0, &[release, ("/etc/sysconfig/network", "")], &nets);
        assert!(read(dir.path(), keyfile).is_some());
        assert!(read(dir.path(), networkd).is_some());

        let dir = with_version(28.0, &[release, ("/etc/sysconfig/network", "")], &nets);
        assert!(read(dir.path(), keyfile).is_none());
        assert!(read(dir.path(), networkd).is_some());
    }

    #[test]
    fn template_fixup_and_init() {
        let dir = fixture(&[
            ("/etc/systemd/system/getty@.service", "[Unit]\n"),
            ("/etc/hosts", "127.0.1.1 LXC_NAME\n"),
        ]);
        let fedora = Fedora { version: 38.0 };
        run(dir.path(), &conf("ct", &[]), |setup| {
            fedora.template_fixup(setup)?;
            fedora.setup_init(setup)
        })
        .unwrap();
        assert!(
            !dir.path()
                .join("etc/systemd/system/getty@.service")
                .exists()
        );
        assert_eq!(read(dir.path(), "/etc/hosts").unwrap(), "\n");
        assert!(
            read(dir.path(), "/etc/systemd/system-preset/00-pve.preset")
                .unwrap()
                .contains("enable systemd-networkd.service\n")
        );
        // No locale fix-up here, unlike CentOS.
        assert!(read(dir.path(), "/etc/locale.conf").is_none());

        let dir = fixture(&[]);
        run(dir.path(), &conf("ct", &[]), |setup| {
            Fedora { version: 36.0 }.setup_init(setup)
        })
        .unwrap();
        assert!(!dir.path().join("etc/systemd/system-preset").exists());
    }

    #[test]
    fn hostname_like_centos() {
        let dir = fixture(&[]);
        run(dir.path(), &conf("ct.example.com", &[]), |setup| {
            Fedora { version: 39.0 }.set_hostname(setup)
        })
        .unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/hostname")).unwrap(),
            "ct.example.com\n"
        );
    }
}
