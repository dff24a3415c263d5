//! Devuan: Debian without systemd; its release names map to Debian's versions.

use super::debian::{setup_init, snakeoil_fixup};
use super::{Distro, Probe};
use crate::setup::context::{GuestConfig, Setup};
use crate::setup::network::interfaces::setup_interfaces;

pub struct Devuan {
    /// The Debian release it follows.
    version: u32,
}

fn debian_version_of(name: &str) -> Option<u32> {
    let base = name.strip_suffix("/ceres").unwrap_or(name);
    let version = match base {
        "jessie" if name == base => 8,
        "ascii" => 9,
        "beowulf" => 10,
        "chimaera" => 11,
        "daedalus" => 12,
        "excalibur" => 13,
        _ => return None,
    };
    Some(version)
}

impl Devuan {
    pub fn new(probe: &mut Probe) -> Result<Devuan, String> {
        let version = probe
            .root
            .read_first_line("/etc/devuan_version")
            .ok_or("unable to read version info")?
            .to_lowercase();
        let debian = debian_version_of(&version)
            .ok_or_else(|| format!("unsupported Devuan version '{version}'"))?;
        Ok(Devuan { version: debian })
    }
}

impl Distro for Devuan {
    fn ostype(&self) -> &'static str {
        "devuan"
    }

    fn devttydir(&self, _conf: &GuestConfig) -> &'static str {
        ""
    }

    fn snakeoil_fixup(&self, setup: &mut Setup) -> Result<(), String> {
        snakeoil_fixup(setup)
    }

    fn setup_init(&self, setup: &mut Setup) -> Result<(), String> {
        setup_init(setup, self.version, "")
    }

    fn setup_network(&self, setup: &mut Setup) -> Result<(), String> {
        setup_interfaces(setup, false)
    }
}
