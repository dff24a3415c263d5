//! The pct container configuration format (`/etc/pve/lxc/<vmid>.conf`): the option schema,
//! property-string sub-formats, the file grammar with pending and snapshot sections, and the
//! pending/apply semantics of `pct set`. Pure: strings in, strings out.

mod description;
mod device;
mod features;
mod file;
mod idmap;
mod lxc;
mod mountpoint;
mod net;
mod pending;
mod propstring;
mod schema;
mod section;
mod size;
pub mod snapshot;
mod startup;
#[cfg(test)]
mod tests;
mod validate;
mod vmid;

pub use description::{decode_bytes, decode_text, encode_bytes, encode_text};
pub use device::DeviceEntry;
pub use features::Features;
pub use file::{Config, ConfigError, ParseMode, Warning};
pub use idmap::{IdKind, IdMap, IdMapEntry, IdMapError};
pub use mountpoint::{MountKind, MountOption, MountPoint};
pub use net::{Ip4Config, Ip6Config, NetDevice};
pub use pending::{PendingChange, SetRequest};
pub use propstring::{PropertyError, PropertyFormat};
pub use schema::{OptionError, OptionKind, OptionSpec, check_option, option_spec, options};
pub use section::Section;
pub use size::{format_size, parse_size};
pub use snapshot::{SnapshotError, TreeLine};
pub use startup::Startup;
pub use validate::ValueError;
pub use vmid::{Vmid, VmidError};
