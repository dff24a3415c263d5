//! Why setting up a container's network failed: pct's message, and the operating-system
//! error underneath when a netlink, sysfs or `tc` call failed.

use std::fmt;
use std::io;

/// A network setup that failed. `Display` is pct's message (corral's where pct has none).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A netlink or namespace call that failed, with what it was doing.
    #[error("{context}: {source}")]
    Io {
        /// What failed.
        context: String,
        /// The system's error.
        source: io::Error,
    },
    /// A `hwaddr` that is not six hex bytes.
    #[error("invalid MAC address '{mac}'")]
    InvalidMac {
        /// The address given.
        mac: String,
    },
    /// A `bridge` the host does not have.
    #[error("bridge '{bridge}' does not exist")]
    NoBridge {
        /// The bridge named.
        bridge: String,
    },
    /// An `mtu` above the bridge's.
    #[error("{key}: MTU size '{mtu}' is bigger than bridge MTU '{bridge_mtu}'")]
    MtuAboveBridge {
        /// The device (`net0`).
        key: String,
        /// The MTU asked for.
        mtu: u16,
        /// The bridge's MTU.
        bridge_mtu: u32,
    },
    /// `tag` or `trunks` on a bridge without VLAN filtering.
    #[error("{key}: tag and trunks need a VLAN-aware bridge; '{bridge}' has vlan_filtering off")]
    NotVlanAware {
        /// The device (`net0`).
        key: String,
        /// Its bridge.
        bridge: String,
    },
    /// A link just made that is gone at once.
    #[error("{key}: '{link}' vanished")]
    Vanished {
        /// The device (`net0`).
        key: String,
        /// The link's name.
        link: String,
    },
    /// A link a running container should have and has not.
    #[error("{key}: '{link}' is missing")]
    Missing {
        /// The device (`net0`).
        key: String,
        /// The link's name.
        link: String,
    },
    /// The container's side of a pair, not found inside its namespace.
    #[error("{key}: '{link}' is missing in the container")]
    MissingInContainer {
        /// The device (`net0`).
        key: String,
        /// The link's name inside.
        link: String,
    },
    /// A `rate` that is no usable number of MiB/s.
    #[error("{key}: invalid rate '{rate}'")]
    InvalidRate {
        /// The device (`net0`).
        key: String,
        /// The rate given.
        rate: String,
    },
    /// `rate` without a `tc` program to run.
    #[error("{key}: rate={rate} needs the tc program (iproute2): {source}")]
    TcMissing {
        /// The device (`net0`).
        key: String,
        /// The rate asked for.
        rate: String,
        /// Why `tc` did not run.
        source: io::Error,
    },
    /// A `tc` command that failed.
    #[error("{key}: unable to apply rate={rate}: tc {command} failed: {stderr}")]
    TcFailed {
        /// The device (`net0`).
        key: String,
        /// The rate asked for.
        rate: String,
        /// `tc`'s arguments.
        command: String,
        /// What it said.
        stderr: String,
    },
    /// An address corral should set that is not `address/prefix`.
    #[error("{key}: invalid address '{address}'")]
    InvalidAddress {
        /// The device (`net0`).
        key: String,
        /// The address given.
        address: String,
    },
    /// A gateway corral should set that is not an address.
    #[error("{key}: invalid gateway '{gateway}'")]
    InvalidGateway {
        /// The device (`net0`).
        key: String,
        /// The gateway given.
        gateway: String,
    },
}

impl NetError {
    /// `context: error`, with `error` as the source.
    pub fn io(context: impl fmt::Display, source: io::Error) -> NetError {
        NetError::Io {
            context: context.to_string(),
            source,
        }
    }

    /// The operating-system error underneath, if any.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            NetError::Io { source, .. } | NetError::TcMissing { source, .. } => Some(source),
            _ => None,
        }
    }
}
