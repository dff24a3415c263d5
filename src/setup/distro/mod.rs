//! The per-distribution plugins, pct's `PVE::LXC::Setup::*`: which files each distribution
//! gets and how. Every plugin implements [`Distro`]; what most share lives in
//! [`super::base`], [`super::systemd`] and [`super::network`], and a plugin that behaves like
//! another (Ubuntu like Debian, Fedora like CentOS) calls that plugin's functions.

use super::context::{GuestConfig, Setup};
use super::detect::{OsRelease, detect_type};
use super::root::GuestRoot;
use crate::setup::error::SetupError;

mod alpine;
mod archlinux;
mod centos;
mod debian;
mod devuan;
mod fedora;
mod gentoo;
mod nixos;
mod openeuler;
mod opensuse;
mod ubuntu;
mod unmanaged;

/// What a plugin's constructor may look at: the rootfs, its os-release, and where to put
/// the warnings pct prints while it checks the version.
pub struct Probe<'a> {
    pub root: &'a GuestRoot,
    pub os_release: &'a OsRelease,
    pub warnings: &'a mut Vec<String>,
}

/// The setup steps of one distribution. Defaults are pct's Base plugin.
pub trait Distro {
    /// The ostype the plugin stands for (pct sets `conf.ostype` to it).
    fn ostype(&self) -> &'static str;

    /// The directory of the container's ttys under /dev, as getty and securetty name them.
    fn devttydir(&self, conf: &GuestConfig) -> &'static str {
        super::base::devttydir(conf)
    }

    /// Create-time fixes for quirks of known templates.
    fn template_fixup(&self, _setup: &mut Setup) -> Result<(), SetupError> {
        Ok(())
    }

    fn snakeoil_fixup(&self, _setup: &mut Setup) -> Result<(), SetupError> {
        Ok(())
    }

    /// ttys, gettys and init's own files.
    fn setup_init(&self, setup: &mut Setup) -> Result<(), SetupError>;

    /// The guest's network configuration for each named NIC.
    fn setup_network(&self, setup: &mut Setup) -> Result<(), SetupError>;

    fn set_hostname(&self, setup: &mut Setup) -> Result<(), SetupError> {
        super::base::set_hostname(setup)
    }

    fn set_dns(&self, setup: &mut Setup) -> Result<(), SetupError> {
        super::base::set_dns(setup)
    }

    fn set_timezone(&self, setup: &mut Setup) -> Result<(), SetupError> {
        super::base::set_timezone(setup)
    }

    fn clear_machine_id(&self, setup: &mut Setup, clone: bool) -> Result<(), SetupError> {
        super::base::clear_machine_id(setup, clone)
    }

    fn set_user_password(
        &self,
        setup: &mut Setup,
        user: &str,
        password: Option<&str>,
    ) -> Result<(), SetupError> {
        super::password::set_user_password(setup, user, password)
    }

    /// SSH host key types generated at create: (ssh-keygen type, file name in /etc/ssh).
    fn ssh_host_key_types(&self) -> &'static [(&'static str, &'static str)] {
        super::base::SSH_HOST_KEY_TYPES
    }

    /// Whether pct manages the guest at all (false only for `unmanaged`).
    fn managed(&self) -> bool {
        true
    }
}

/// The plugin for `ostype`, constructed as pct does (version checks included).
fn construct(ostype: &str, probe: &mut Probe) -> Result<Box<dyn Distro>, SetupError> {
    Ok(match ostype {
        "debian" => Box::new(debian::Debian::new(probe)?),
        "devuan" => Box::new(devuan::new(probe)?),
        "ubuntu" => Box::new(ubuntu::Ubuntu::new(probe)?),
        "alpine" => Box::new(alpine::Alpine::new(probe)?),
        "centos" => Box::new(centos::CentOS::new(probe)?),
        "fedora" => Box::new(fedora::Fedora::new(probe)?),
        "openeuler" => Box::new(openeuler::OpenEuler::new(probe)?),
        "opensuse" => Box::new(opensuse::OpenSuse::new(probe)?),
        "archlinux" => Box::new(archlinux::ArchLinux::new(probe)?),
        "gentoo" => Box::new(gentoo::Gentoo::new(probe)?),
        "nixos" => Box::new(nixos::NixOS::new(probe)?),
        "unmanaged" => Box::new(unmanaged::Unmanaged),
        other => {
            return Err(SetupError::UnknownOsType {
                ostype: other.to_string(),
            });
        }
    })
}

/// The plugin for a container, as pct's `Setup->new` picks it: `ostype: unmanaged` as
/// configured, otherwise detected from the rootfs, with pct's warnings when the configured
/// ostype differs.
pub fn load(
    root: &GuestRoot,
    conf: &GuestConfig,
    warnings: &mut Vec<String>,
) -> Result<Box<dyn Distro>, SetupError> {
    let os_release = OsRelease::read(root);
    let ostype = if conf.ostype.as_deref() == Some("unmanaged") {
        "unmanaged"
    } else {
        let detected = detect_type(root, &os_release, warnings)?;
        let expected = conf.ostype.as_deref().unwrap_or(detected);
        if detected != expected {
            if !root.exists("/etc") {
                warnings.push("WARNING: /etc not present in CT, is the rootfs mounted?".into());
            }
            warnings.push(format!("got unexpected ostype ({detected} != {expected})"));
        }
        detected
    };
    let mut probe = Probe {
        root,
        os_release: &os_release,
        warnings,
    };
    construct(ostype, &mut probe)
}
