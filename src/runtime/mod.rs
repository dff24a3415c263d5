//! Starting and supervising containers: the start plan, the monitor, spawning init into its
//! namespaces, ID maps, capabilities, seccomp, attaching (enter/exec), consoles and state.

pub mod apparmor;
pub mod attach;
pub mod caps;
pub mod command;
pub mod hooks;
pub mod idmap;
pub mod launch;
pub mod limits;
pub mod liveness;
pub mod mknod;
pub mod monitor;
pub mod plan;
pub mod relay;
pub mod residency;
pub mod seccomp;
pub mod signals;
pub mod spawn;
pub mod start_error;
pub mod state;
pub mod terminal;
pub mod trace;

pub use plan::{HostFacts, StartPlan};
pub use start_error::{StartError, StartStep};
