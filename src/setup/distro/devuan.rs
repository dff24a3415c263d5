//! Devuan: Debian without systemd; its release names map to Debian's versions, and it
//! behaves as Debian otherwise.

use super::Probe;
use super::debian::{Debian, file_read_firstline};
use crate::setup::error::SetupError;

/// The Debian release of a (lower-cased) Devuan release name, testing (`/ceres`) included.
fn debian_version_of(name: &str) -> Option<u64> {
    let version = match name {
        "jessie" => 8,
        "ascii" | "ascii/ceres" => 9,
        "beowulf" | "beowulf/ceres" => 10,
        "chimaera" | "chimaera/ceres" => 11,
        "daedalus" | "daedalus/ceres" => 12,
        "excalibur" | "excalibur/ceres" => 13,
        _ => return None,
    };
    Some(version)
}

/// Devuan's plugin: Debian's, with the version from /etc/devuan_version.
pub fn new(probe: &mut Probe) -> Result<Debian, SetupError> {
    // Perl's lc on the bytes it read changes ASCII letters only.
    let name = file_read_firstline(probe.root, "/etc/devuan_version")
        .ok_or(SetupError::NoVersion { ostype: "devuan" })?
        .to_ascii_lowercase();
    let version = debian_version_of(&name).ok_or_else(|| SetupError::Unsupported {
        ostype: "devuan",
        version: name.clone(),
    })?;
    Ok(Debian {
        version,
        ostype: "devuan",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::context::{GuestConfig, HostEnv, Setup};
    use crate::setup::detect::OsRelease;
    use crate::setup::distro::Distro;
    use crate::setup::random::Drand48;
    use crate::setup::root::GuestRoot;
    use std::fs;

    fn fixture(version_file: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        if let Some(text) = version_file {
            fs::write(dir.path().join("etc/devuan_version"), text).unwrap();
        }
        dir
    }

    fn probe(dir: &std::path::Path) -> Result<Debian, SetupError> {
        let root = GuestRoot::open(dir, None).unwrap();
        let os_release = OsRelease::default();
        let mut warnings = Vec::new();
        let result = new(&mut Probe {
            root: &root,
            os_release: &os_release,
            warnings: &mut warnings,
        });
        assert!(warnings.is_empty());
        result
    }

    #[test]
    fn release_names_map_to_debian_versions() {
        for (text, version) in [
            ("jessie\n", 8),
            ("ascii/ceres\n", 9),
            ("Beowulf\n", 10),
            ("chimaera", 11),
            ("daedalus/ceres\n", 12),
            ("EXCALIBUR\n", 13),
        ] {
            let dir = fixture(Some(text));
            assert_eq!(probe(dir.path()).unwrap().version, version, "{text}");
        }
    }

    #[test]
    fn unknown_or_missing_releases() {
        for (text, name) in [("jessie/ceres\n", "jessie/ceres"), ("Freia\n", "freia")] {
            let dir = fixture(Some(text));
            let error = probe(dir.path()).err().unwrap();
            assert!(
                matches!(&error, SetupError::Unsupported { ostype: "devuan", version } if version == name)
            );
            assert_eq!(
                error.to_string(),
                format!("unsupported Devuan version '{name}'")
            );
        }
        for missing in [None, Some("")] {
            let dir = fixture(missing);
            assert_eq!(
                probe(dir.path()).err().unwrap().to_string(),
                "unable to read version info"
            );
        }
    }

    #[test]
    fn netmask_form_even_when_following_debian_12() {
        let dir = fixture(Some("daedalus\n"));
        let root = GuestRoot::open(dir.path(), None).unwrap();
        let conf = GuestConfig {
            nets: vec![(
                0,
                crate::config::NetDevice::parse("name=eth0,ip=10.0.0.2/24,gw=10.0.0.1").unwrap(),
            )],
            ..GuestConfig::default()
        };
        let host = HostEnv::default();
        let mut random = Drand48::seeded(0);
        let mut setup = Setup::new(&root, &conf, &host, &mut random);
        Debian {
            version: 12,
            ostype: "devuan",
        }
        .setup_network(&mut setup)
        .unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/network/interfaces")).unwrap(),
            "auto lo\niface lo inet loopback\niface lo inet6 loopback\n\n\
             auto eth0\niface eth0 inet static\n\taddress 10.0.0.2\n\tnetmask 255.255.255.0\n\
             \tgateway 10.0.0.1\n\n"
        );
    }

    #[test]
    fn sysvinit_gettys_as_on_debian() {
        let dir = fixture(Some("chimaera\n"));
        fs::write(
            dir.path().join("etc/inittab"),
            "id:2:initdefault:\n1:2345:respawn:/sbin/getty 38400 tty1\n",
        )
        .unwrap();
        let root = GuestRoot::open(dir.path(), None).unwrap();
        let conf = GuestConfig {
            tty: 1,
            ..GuestConfig::default()
        };
        let host = HostEnv::default();
        let mut random = Drand48::seeded(0);
        let mut setup = Setup::new(&root, &conf, &host, &mut random);
        Debian {
            version: 11,
            ostype: "devuan",
        }
        .setup_init(&mut setup)
        .unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/inittab")).unwrap(),
            "id:2:initdefault:\np0::powerfail:/sbin/init 0\n1:2345:respawn:/sbin/getty --noclear 38400 tty1\n"
        );
    }
}
