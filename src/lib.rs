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

mod cancel;
mod cgroup;
// The `pct` binary's half: hidden from the documented API, absent without the `cli` feature.
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
pub mod config;
pub mod host;
mod mount;
mod net;
pub mod runtime;
mod setup;
#[cfg(test)]
pub(crate) mod skip;
pub mod storage;
mod text;

pub use cancel::Cancel;
pub use config::{Config, Section, Vmid};
pub use host::{Container, CreateOptions, Error, Host, StartOptions};
