//! Rootfs assembly. For now: mounting a container's volumes (rootfs and mpN) at a directory,
//! as `pct mount` and `pct create` need, and taking them down again.

mod volumes;

pub use volumes::{MountError, VolumeSource, mount_volume, unmount_tree};
