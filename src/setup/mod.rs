//! Guest OS setup: the files pct writes inside a container when it is created and every time
//! it starts — host name, hosts, network configuration, DNS, ttys, time zone, root password,
//! SSH keys — for each distribution pct supports, byte for byte as pct writes them.
//!
//! Pure in the sense of DESIGN.md: a directory tree and a config in, file writes out; no
//! namespaces. [`run`] is the entry point; it runs the steps in a child process that
//! Landlock confines to the rootfs.

mod base;
mod context;
mod crontab;
mod detect;
mod distro;
mod error;
mod network;
mod password;
mod random;
mod root;
mod rootfs;
mod run;
mod section;
mod ssh;
mod systemd;
#[cfg(test)]
mod testing;

pub use context::{GuestConfig, HostEnv};
pub use error::{FileAction, SetupError};
#[cfg(test)]
pub(crate) use random::Drand48;
pub use random::{OsRandom, RandomSource};
pub use rootfs::read_in_root;
pub use run::{Hook, SetupRequest, run};
