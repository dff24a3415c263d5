//! Why a start plan cannot be built: a config value the start would fail on, found before any
//! kernel object exists. `Display` is the message `pct start` prints; the error of the value's
//! own parser, where there is one, is the `source()`.

use crate::cgroup::devices::DeviceRuleError;
use crate::config::{IdMapError, PropertyError};
use crate::runtime::caps::UnknownCapability;
use crate::runtime::limits::LimitError;
use crate::runtime::signals::UnknownSignal;

use super::mount_entry::MountEntryError;
use super::prlimit::PrlimitError;

/// A config the start plan refuses. New variants may come (`#[non_exhaustive]`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A property string (`rootfs`, `mpN`, `netN`, `devN`, `features`) that does not parse.
    #[error("{key}: {source}")]
    Property {
        /// The option (`mp0`).
        key: String,
        /// pct's message for it.
        source: PropertyError,
    },
    /// The config has no `rootfs`.
    #[error("missing 'rootfs' configuration")]
    MissingRootfs,
    /// A volume the caller did not resolve to a host path in the host facts.
    #[error("{key}: volume '{volume}' was not resolved")]
    UnresolvedVolume {
        /// The option (`rootfs`, `mp0`).
        key: String,
        /// The volume it names.
        volume: String,
    },
    /// A bad `lxc.idmap` value or map.
    #[error("{0}")]
    IdMap(#[from] IdMapError),
    /// The id map leaves the container's root user or group unmapped.
    #[error("lxc.idmap: the container's root (0) is not mapped")]
    RootNotMapped,
    /// A `devN` whose host device does not exist.
    #[error("Device {path} does not exist")]
    MissingDevice {
        /// The device's path on the host.
        path: String,
    },
    /// A `devN` whose `mode` is not an octal number.
    #[error("{key}: bad mode")]
    DeviceMode {
        /// The option (`dev0`).
        key: String,
    },
    /// A `devN` owner that the id map does not map into the container.
    #[error("{key}: id {id} is not mapped into the container")]
    DeviceIdNotMapped {
        /// The option (`dev0`).
        key: String,
        /// The uid or gid inside the container.
        id: u32,
    },
    /// A bad `lxc.cgroup2.devices.allow`/`deny` value.
    #[error("{key}: {source}")]
    DeviceRule {
        /// The raw key.
        key: String,
        /// What is wrong with the value.
        source: DeviceRuleError,
    },
    /// A bad `lxc.mount.entry`.
    #[error("{0}")]
    MountEntry(#[from] MountEntryError),
    /// A bad `lxc.prlimit.*`.
    #[error("{0}")]
    Prlimit(#[from] PrlimitError),
    /// An unknown name in `lxc.cap.drop` or `lxc.cap.keep`.
    #[error("{0}")]
    Capability(#[from] UnknownCapability),
    /// A bad `lxc.signal.halt`, `.reboot` or `.stop`.
    #[error("{key}: {source}")]
    Signal {
        /// The raw key.
        key: String,
        /// The value that is no signal.
        source: UnknownSignal,
    },
    /// `lxc.seccomp.profile` names a file the caller could not read into the host facts.
    #[error("unable to read seccomp profile '{path}'")]
    SeccompProfile {
        /// The profile's path as the config gives it.
        path: String,
    },
    /// A memory, CPU or raw cgroup limit that cannot be applied.
    #[error("{0}")]
    Limit(#[from] LimitError),
    /// An init command (`lxc.init.cmd`, `entrypoint`) with a quote left open.
    #[error("unterminated quote in command '{command}'")]
    UnterminatedQuote {
        /// The command line.
        command: String,
    },
    /// An init command with no words.
    #[error("lxc.init.cmd: empty command")]
    EmptyInitCommand,
    /// What the guest's pre-start setup reads from the config (`tty`, ...) is bad; the
    /// guest setup's own error is the source.
    #[error("{0}")]
    GuestConfig(#[source] crate::setup::SetupError),
    /// `lxc.init.uid` or `lxc.init.gid` that is not a number.
    #[error("{key}: invalid id '{value}'")]
    InitId {
        /// The raw key.
        key: String,
        /// The value given.
        value: String,
    },
}

impl PlanError {
    /// A property string of `key` that does not parse.
    pub(crate) fn property(key: &str, source: PropertyError) -> PlanError {
        PlanError::Property {
            key: key.to_string(),
            source,
        }
    }
}
