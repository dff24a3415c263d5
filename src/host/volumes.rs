//! Mounting a container's volumes (rootfs, then mpN sorted by path) at
//! `var/lib/lxc/<vmid>/rootfs`, as `pct mount`, `pct create` and `pct df` need.

use std::fs;
use std::path::{Component, Path, PathBuf};

use super::{Container, Error, Host};
use crate::config::{MountKind, MountPoint, Section};
use crate::mount::{VolumeSource, mount_volume, unmount_tree};
use crate::storage::{StorageConfig, VolumeFormat, VolumeId};

/// The container's volumes mounted under one directory; unmounted on drop unless kept.
pub struct MountedVolumes {
    rootfs: PathBuf,
    armed: bool,
}

impl MountedVolumes {
    pub fn rootfs(&self) -> &Path {
        &self.rootfs
    }

    /// Leave everything mounted (for `pct mount`).
    pub fn keep(mut self) -> PathBuf {
        self.armed = false;
        self.rootfs.clone()
    }

    /// Unmount now, reporting failure.
    pub fn unmount(mut self) -> Result<(), Error> {
        self.armed = false;
        Ok(unmount_tree(&self.rootfs)?)
    }
}

impl Drop for MountedVolumes {
    fn drop(&mut self) {
        if self.armed
            && let Err(e) = unmount_tree(&self.rootfs)
        {
            eprintln!("unable to unmount '{}': {e}", self.rootfs.display());
        }
    }
}

/// Every mount point of a section, rootfs first, then mpN sorted by their path inside the
/// container so that parents are mounted before children.
pub(crate) fn mount_points_in_order(section: &Section) -> Result<Vec<(String, MountPoint)>, Error> {
    let mut list = Vec::new();
    match section.rootfs() {
        Some(rootfs) => list.push((
            "rootfs".to_string(),
            rootfs.map_err(|e| Error::Failed(format!("rootfs: {e}")))?,
        )),
        None => return Err(Error::Failed("missing 'rootfs' configuration".into())),
    }
    let mut mps = Vec::new();
    for (index, mp) in section.mount_points() {
        let mp = mp.map_err(|e| Error::Failed(format!("mp{index}: {e}")))?;
        mps.push((format!("mp{index}"), mp));
    }
    mps.sort_by(|a, b| a.1.mp.cmp(&b.1.mp));
    list.extend(mps);
    Ok(list)
}

/// Where a mount point's data comes from on the host.
pub(crate) fn volume_source(
    host: &Host,
    storage: &StorageConfig,
    mp: &MountPoint,
) -> Result<VolumeSource, Error> {
    match mp.kind() {
        MountKind::Volume => {
            let volid = VolumeId::parse(&mp.volume)?;
            let path = storage.volume_path(&volid)?;
            Ok(match volid.format() {
                Some(VolumeFormat::Raw) => VolumeSource::RawImage(path),
                _ => VolumeSource::Directory(path),
            })
        }
        MountKind::Bind => {
            let path = host.path(&mp.volume);
            refuse_symlinks(host.root(), &path, &mp.volume)?;
            Ok(VolumeSource::Directory(path))
        }
        // Device nodes are the kernel's: /dev is never under a test root.
        MountKind::Device => Ok(VolumeSource::BlockDevice(PathBuf::from(&mp.volume))),
    }
}

/// pct refuses bind-mount sources with a symlink in any component: what the admin named is
/// what gets mounted.
fn refuse_symlinks(root: &Path, path: &Path, shown: &str) -> Result<(), Error> {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let mut current = root.to_path_buf();
    for component in relative.components() {
        if let Component::Normal(name) = component {
            current.push(name);
            match fs::symlink_metadata(&current) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(Error::Failed(format!(
                        "mount point path '{shown}' contains a symlink"
                    )));
                }
                Ok(_) => {}
                Err(e) => return Err(Error::io(format!("bind mount source '{shown}'"), e)),
            }
        }
    }
    Ok(())
}

impl Container<'_> {
    /// Mount rootfs and every mpN of `section` at `var/lib/lxc/<vmid>/rootfs`. On failure
    /// whatever was mounted is taken down again.
    pub fn mount_volumes(
        &self,
        section: &Section,
        storage: &StorageConfig,
    ) -> Result<MountedVolumes, Error> {
        let rootfs = self.rootfs_dir();
        fs::create_dir_all(&rootfs)
            .map_err(|e| Error::io(format!("unable to create '{}'", rootfs.display()), e))?;
        let points = mount_points_in_order(section)?;
        let mut mounted = MountedVolumes {
            rootfs: rootfs.clone(),
            armed: false,
        };
        for (index, (key, mp)) in points.iter().enumerate() {
            let source = volume_source(self.host, storage, mp)?;
            let read_only = mp.ro.unwrap_or(false);
            let result = if index == 0 {
                mount_volume(&source, None, &rootfs, read_only)
            } else {
                let target = mp.mp.as_deref().unwrap_or("/");
                mount_volume(&source, Some(&rootfs), Path::new(target), read_only)
            };
            if let Err(e) = result {
                return Err(Error::Failed(format!(
                    "unable to mount {key} ({}): {e}",
                    mp.volume
                )));
            }
            mounted.armed = true;
        }
        Ok(mounted)
    }
}
