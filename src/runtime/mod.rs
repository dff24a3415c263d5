//! Starting and supervising containers: the start plan, the monitor, spawning init into its
//! namespaces, ID maps, capabilities, seccomp, attaching (enter/exec), consoles and state.

pub(crate) mod apparmor;
pub(crate) mod attach;
pub(crate) mod caps;
pub(crate) mod command;
pub(crate) mod hooks;
pub(crate) mod idmap;
pub(crate) mod launch;
pub(crate) mod limits;
pub(crate) mod liveness;
pub(crate) mod mknod;
pub(crate) mod monitor;
pub mod plan;
pub(crate) mod relay;
pub(crate) mod residency;
pub(crate) mod seccomp;
pub(crate) mod signals;
pub(crate) mod spawn;
pub(crate) mod start_error;
pub(crate) mod state;
pub(crate) mod terminal;
pub(crate) mod trace;

pub use plan::{HostFacts, MountEntryError, PlanError, PrlimitError, StartPlan};
pub use start_error::{StartError, StartStep};

// The types the start plan and the lifecycle calls hand out, named where an embedder finds
// them; the modules that own them stay the crate's.
pub use crate::cgroup::devices::{DeviceRule, DeviceRuleError};
pub use crate::mount::VolumeSource;
pub use crate::setup::{GuestConfig, HostEnv};
pub use apparmor::{AppArmorHost, AppArmorPlan, GeneratedProfile};
pub use caps::{Capability, UnknownCapability};
pub use hooks::{HookError, Phase};
pub use idmap::{IdMapTool, UnknownIdMapTool};
pub use limits::LimitError;
pub use monitor::InitExit;
pub use seccomp::{CompileError, FilterError, PolicyError, PolicyLineError};
pub use signals::{Signal, UnknownSignal};
pub use state::InitState;
pub use terminal::EscapeError;
