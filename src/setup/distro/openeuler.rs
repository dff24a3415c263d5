//! openEuler: CentOS's network and host name handling, its own template and init steps.

use super::centos::{self, perl_number};
use super::{Distro, Probe};
use crate::setup::base::{devttydir, remove_lxc_name_from_etc_hosts};
use crate::setup::context::Setup;
use crate::setup::error::SetupError;
use crate::setup::systemd::{
    setup_container_getty_service, setup_systemd_disable_static_units, setup_systemd_preset,
};

pub struct OpenEuler;

impl OpenEuler {
    /// Only too old a release is refused; a newer one than known is no reason to fail.
    pub fn new(probe: &mut Probe) -> Result<OpenEuler, SetupError> {
        let version = probe.os_release.get("VERSION_ID");
        match version.map(perl_number) {
            Some(number) if number >= 24.0 => Ok(OpenEuler),
            _ => Err(SetupError::Unsupported {
                ostype: "openeuler",
                version: version.unwrap_or("").to_string(),
            }),
        }
    }
}

impl Distro for OpenEuler {
    fn ostype(&self) -> &'static str {
        "openeuler"
    }

    fn template_fixup(&self, setup: &mut Setup) -> Result<(), SetupError> {
        remove_lxc_name_from_etc_hosts(setup)?;
        setup_systemd_disable_static_units(setup, &["dev-mqueue.mount"]);
        Ok(())
    }

    fn setup_init(&self, setup: &mut Setup) -> Result<(), SetupError> {
        setup_container_getty_service(setup, devttydir(setup.conf))?;
        setup_systemd_preset(setup, &[])
    }

    /// CentOS's, which reads `/etc/redhat-release`; a guest without one fails there, as
    /// under pct.
    fn setup_network(&self, setup: &mut Setup) -> Result<(), SetupError> {
        centos::setup_network(setup)
    }

    fn set_hostname(&self, setup: &mut Setup) -> Result<(), SetupError> {
        centos::set_hostname(setup)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::distro::centos::tests::{conf, error_text, fixture, probe, read, run};
    use std::path::Path;

    #[test]
    fn version_gate() {
        let check = |os_release: &str| {
            let dir = fixture(&[("/etc/os-release", os_release)]);
            probe(dir.path(), OpenEuler::new).map(|_| ())
        };
        check("ID=openEuler\nVERSION_ID=\"24.03\"\n").unwrap();
        assert_eq!(
            error_text(check("ID=openEuler\nVERSION_ID=\"22.03\"\n")),
            "unsupported openEuler release '22.03'"
        );
        assert!(matches!(
            check("ID=openEuler\n"),
            Err(SetupError::Unsupported { ostype: "openeuler", version }) if version.is_empty()
        ));
        assert_eq!(
            error_text(check("ID=openEuler\n")),
            "unsupported openEuler release ''"
        );
    }

    #[test]
    fn template_fixup_masks_mqueue_too() {
        let dir = fixture(&[
            ("/etc/hosts", "127.0.0.1 localhost\n127.0.1.1 LXC_NAME\n"),
            ("/etc/systemd/system/.keep", ""),
        ]);
        run(dir.path(), &conf("ct", &[]), |setup| {
            OpenEuler.template_fixup(setup)
        })
        .unwrap();
        assert_eq!(
            read(dir.path(), "/etc/hosts").unwrap(),
            "127.0.0.1 localhost\n"
        );
        for unit in [
            "sys-kernel-config.mount",
            "sys-kernel-debug.mount",
            "dev-mqueue.mount",
        ] {
            let link = dir.path().join("etc/systemd/system").join(unit);
            assert_eq!(std::fs::read_link(link).unwrap(), Path::new("/dev/null"));
        }
        // No locale fix-up here, unlike CentOS.
        assert!(read(dir.path(), "/etc/locale.conf").is_none());
    }

    #[test]
    fn network_needs_the_redhat_release_file() {
        let nets = ["name=eth0,ip=10.0.0.2/24,gw=10.0.0.1"];
        let dir = fixture(&[]);
        let error = run(dir.path(), &conf("ct", &nets), |setup| {
            OpenEuler.setup_network(setup)
        })
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "can't open '/etc/redhat-release' - No such file or directory"
        );
        let SetupError::Io {
            action: crate::setup::FileAction::Open,
            path,
            source,
        } = &error
        else {
            panic!("{error:?}");
        };
        assert_eq!(
            (path.as_str(), source.kind()),
            ("/etc/redhat-release", std::io::ErrorKind::NotFound)
        );
        let dir = fixture(&[("/etc/redhat-release", "openEuler release 24.03 (LTS)\n")]);
        run(dir.path(), &conf("ct", &nets), |setup| {
            OpenEuler.setup_network(setup)
        })
        .unwrap();
        assert!(
            read(
                dir.path(),
                "/etc/NetworkManager/system-connections/eth0.nmconnection"
            )
            .unwrap()
            .contains("[ipv4]\nmethod=manual\naddresses=10.0.0.2/24\ngateway=10.0.0.1\n")
        );
    }

    #[test]
    fn init_writes_the_preset() {
        let dir = fixture(&[]);
        run(dir.path(), &conf("ct", &[]), |setup| {
            OpenEuler.setup_init(setup)
        })
        .unwrap();
        assert!(read(dir.path(), "/etc/systemd/system-preset/00-pve.preset").is_some());
    }
}
