//! Guest OS handling inside a container's root filesystem. For now: distribution detection,
//! which `pct create` uses to set `ostype`.

mod detect;
mod rootfs;

pub use detect::{Detection, detect_ostype};
pub use rootfs::read_in_root;
