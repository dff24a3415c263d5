//! Rootfs assembly. For now: mounting a container's volumes (rootfs and mpN) at a directory,
//! as `pct mount` and `pct create` need, and taking them down again.

pub mod container;
mod loopdev;
mod mountinfo;
mod private;
#[cfg(test)]
pub(crate) mod testutil;
mod volumes;

#[cfg(test)]
pub(crate) use loopdev::backing_file;
pub use loopdev::{detach as detach_loop_device, devices_backed_by};
#[cfg(test)]
pub(crate) use mountinfo::parse_mountinfo;
pub use mountinfo::{MountEntry, mount_points, mount_table};
pub use private::in_private_mount_namespace;
pub use volumes::{
    MountError, VolumeSource, mount_volume, mount_volume_frozen, mount_volume_owned, unmount_tree,
};
