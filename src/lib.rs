//! corral — a self-contained Linux system-container runtime with a `pct`-compatible CLI.
//!
//! The library is the product; the `pct` binary only parses arguments and calls it. A
//! [`Host`] is a root directory (`/`, or any directory for tests) with Proxmox's layout:
//! configs in `etc/pve/lxc`, storage in `etc/pve/storage.cfg`. A [`Container`] is one id on
//! it, and its methods are pct's commands.
//!
//! A container's whole life, as `pct create`, `start`, `exec`, `stop` and `destroy` live it:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use corral::host::DestroyOptions;
//! use corral::{CreateOptions, Exit, Host, Observer, StartOptions, Vmid};
//!
//! // The library prints nothing; what pct would print comes to the observer as events.
//! let host = Host::open("/")?.with_observer(Observer::new(|event| {
//!     if let Some(text) = event.text() {
//!         eprintln!("{text}");
//!     }
//! }));
//! let ct = host.container(Vmid::new(100)?);
//! ct.create(&CreateOptions {
//!     template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into(),
//!     options: vec![("hostname".into(), "web".into()), ("rootfs".into(), "local:8".into())],
//!     ..CreateOptions::default()
//! })?;
//! println!("hostname: {}", ct.config()?.main.get("hostname").unwrap_or("CT100"));
//!
//! ct.start(&StartOptions::default())?;
//! assert_eq!(ct.status()?.status, "running");
//!
//! // A command inside, as std::process::Command runs one on the host: output captured.
//! let output = ct.command(["uname", "-n"]).output()?;
//! assert!(output.status.success());
//! assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "web");
//!
//! // stop: init and everything in the container are killed (`shutdown` asks init first);
//! // wait_stopped says how it ended (or waits for init to end by itself).
//! ct.stop(false)?;
//! assert_eq!(ct.wait_stopped(Some(Duration::from_secs(10)))?, Exit::Stopped);
//! ct.destroy(DestroyOptions::default())?;
//! # Ok::<(), corral::Error>(())
//! ```
//!
//! `pct start --dry-run` shows what a start would do: [`Container::start_plan`] returns it
//! as a [`runtime::StartPlan`]. `examples/embed.rs` is the same life as a program that runs.
//!
//! The `pct` command line is the default cargo feature `cli`; with
//! `default-features = false` the library builds without clap and indicatif.

#![warn(missing_docs)]

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
mod program;
mod reexec;
pub mod report;
pub mod runtime;
mod setup;
#[cfg(test)]
pub(crate) mod skip;
pub mod storage;
mod text;

pub use cancel::Cancel;
pub use config::{Config, Section, Vmid};
pub use host::{CloneOptions, CloneProblem, TemplateProblem};
pub use host::{
    Container, ContainerChild, ContainerCommand, ContainerPty, CreateOptions, Error, Exit, Host,
    StartOptions,
};
pub use host::{DiskSize, MoveProblem, MoveTarget, MoveVolumeOptions, ResizeProblem};
pub use report::{Event, Observer};
pub use runtime::IdMapTool;
pub use runtime::{StartError, StartStep};
pub use setup::{FileAction, SetupError};
