//! The host a set of containers lives on: its root directory (`/`, or a test root), the
//! config files under `etc/pve/lxc`, their locks, and the management operations of `pct`
//! (create, destroy, set, mount, ...).

use std::path::{Path, PathBuf};

use crate::config::Vmid;

mod error;

pub use error::Error;

pub struct Host {
    root: PathBuf,
}

pub struct Container<'h> {
    host: &'h Host,
    vmid: Vmid,
}

#[derive(Debug, Clone, Default)]
pub struct CreateOptions {}

impl Host {
    pub fn open(root: impl AsRef<Path>) -> Result<Host, Error> {
        Ok(Host { root: root.as_ref().to_path_buf() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn container(&self, vmid: Vmid) -> Container<'_> {
        Container { host: self, vmid }
    }
}

impl Container<'_> {
    pub fn vmid(&self) -> Vmid {
        self.vmid
    }

    pub fn config(&self) -> Result<crate::config::Config, Error> {
        let _ = self.host;
        todo!()
    }
}
