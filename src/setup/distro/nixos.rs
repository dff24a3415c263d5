//! NixOS: the system is built from its own configuration, so pct only writes the networkd
//! files and leaves init and the time zone to NixOS.

use super::{Distro, Probe};
use crate::setup::context::Setup;
use crate::setup::error::SetupError;
use crate::setup::network::networkd::setup_systemd_networkd;

pub struct NixOS;

impl NixOS {
    pub fn new(_probe: &mut Probe) -> Result<NixOS, SetupError> {
        Ok(NixOS)
    }
}

impl Distro for NixOS {
    fn ostype(&self) -> &'static str {
        "nixos"
    }

    fn setup_init(&self, _setup: &mut Setup) -> Result<(), SetupError> {
        Ok(())
    }

    fn setup_network(&self, setup: &mut Setup) -> Result<(), SetupError> {
        setup_systemd_networkd(setup)
    }

    fn set_timezone(&self, _setup: &mut Setup) -> Result<(), SetupError> {
        Ok(())
    }
}
