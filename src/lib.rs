//! corral — a self-contained Linux system-container runtime with a `pct`-compatible CLI.
//!
//! The library is the product; the `pct` binary only parses arguments and calls it.
//!
//! ```no_run
//! use corral::{Host, Vmid};
//! let host = Host::open("/")?;
//! let ct = host.container(Vmid::new(100)?);
//! println!("{}", ct.config()?.main.get("hostname").unwrap_or("CT100"));
//! # Ok::<(), corral::Error>(())
//! ```

pub mod cancel;
pub mod cgroup;
pub mod cli;
pub mod config;
pub mod host;
pub mod mount;
pub mod net;
pub mod runtime;
pub mod setup;
#[cfg(test)]
pub(crate) mod skip;
pub mod storage;
pub mod text;

pub use cancel::Cancel;
pub use config::{Config, Section, Vmid};
pub use host::{
    Container, ContainerChild, ContainerCommand, ContainerPty, CreateOptions, Error, Host,
    StartOptions,
};
