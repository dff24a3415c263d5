//! Arch Linux: systemd with networkd, which Arch ships but leaves disabled.

use super::{Distro, Probe};
use crate::setup::base::{remove_lxc_name_from_etc_hosts, setup_securetty};
use crate::setup::context::Setup;
use crate::setup::error::SetupError;
use crate::setup::network::networkd::setup_systemd_networkd;
use crate::setup::systemd::{setup_container_getty_service, setup_systemd_preset};

pub struct ArchLinux;

impl ArchLinux {
    /// Arch is rolling: /etc/arch-release is empty, so there is no version to check.
    pub fn new(_probe: &mut Probe) -> Result<ArchLinux, SetupError> {
        Ok(ArchLinux)
    }
}

impl Distro for ArchLinux {
    fn ostype(&self) -> &'static str {
        "archlinux"
    }

    fn template_fixup(&self, setup: &mut Setup) -> Result<(), SetupError> {
        setup_securetty(setup, self.devttydir(setup.conf), &[])?;
        remove_lxc_name_from_etc_hosts(setup)
    }

    fn setup_init(&self, setup: &mut Setup) -> Result<(), SetupError> {
        // networkd is what setup_network configures, so it has to run.
        setup_systemd_preset(setup, &[("systemd-networkd.service", true)])?;
        setup_container_getty_service(setup, self.devttydir(setup.conf))
    }

    fn setup_network(&self, setup: &mut Setup) -> Result<(), SetupError> {
        setup_systemd_networkd(setup)
    }
}
