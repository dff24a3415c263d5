//! Guest OS handling inside a container's root filesystem: distribution detection, which
//! `pct create` uses to set `ostype`, and the files written at every start (for now the host
//! name).

mod detect;
mod hostname;
mod rootfs;

pub use detect::{Detection, detect_ostype};
pub use hostname::write_hostname;
pub use rootfs::{read_in_root, write_in_root};
