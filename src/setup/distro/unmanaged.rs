//! `ostype: unmanaged`: pct touches nothing inside the container.

use super::Distro;
use crate::setup::context::Setup;
use crate::setup::error::SetupError;

pub struct Unmanaged;

impl Distro for Unmanaged {
    fn ostype(&self) -> &'static str {
        "unmanaged"
    }

    fn setup_init(&self, _setup: &mut Setup) -> Result<(), SetupError> {
        Ok(())
    }

    fn setup_network(&self, _setup: &mut Setup) -> Result<(), SetupError> {
        Ok(())
    }

    fn set_hostname(&self, _setup: &mut Setup) -> Result<(), SetupError> {
        Ok(())
    }

    fn set_dns(&self, _setup: &mut Setup) -> Result<(), SetupError> {
        Ok(())
    }

    fn set_timezone(&self, _setup: &mut Setup) -> Result<(), SetupError> {
        Ok(())
    }

    fn clear_machine_id(&self, _setup: &mut Setup, _clone: bool) -> Result<(), SetupError> {
        Ok(())
    }

    fn set_user_password(
        &self,
        _setup: &mut Setup,
        _user: &str,
        _password: Option<&str>,
    ) -> Result<(), SetupError> {
        Ok(())
    }

    fn ssh_host_key_types(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    fn managed(&self) -> bool {
        false
    }
}
