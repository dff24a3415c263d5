//! Mounting a container's volumes (rootfs, then mpN sorted by path) at
//! `var/lib/lxc/<vmid>/rootfs`, as `pct mount`, `pct create` and `pct df` need.

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileTypeExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Container, Error, Host};
use crate::config::{MountKind, MountPoint, Section};
use crate::mount::{VolumeSource, mount_volume, mount_volume_frozen, unmount_tree};
use crate::storage::{StorageConfig, VolumeId};

/// How long freeing a volume waits for the kernel to let go of its loop devices.
const LOOP_RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// The container's volumes mounted under one directory; unmounted on drop unless kept.
pub struct MountedVolumes {
    rootfs: PathBuf,
    armed: bool,
    /// Each mounted volume's root, opened right after mounting: `syncfs` on it reports the
    /// write errors its file system saw since.
    roots: Vec<MountedRoot>,
    /// Hears of an unmount that failed on drop, which has no caller to return it to.
    observer: crate::report::Observer,
}

struct MountedRoot {
    key: String,
    volume: String,
    source: VolumeSource,
    root: OwnedFd,
}

/// A mounted volume whose writes did not all reach its storage.
#[derive(Debug)]
pub(crate) struct LostWrites {
    key: String,
    volume: String,
    image: Option<PathBuf>,
    error: std::io::Error,
}

impl LostWrites {
    /// The error, once the volume is unmounted: a raw image whose storage cannot back more of
    /// it failed for want of space, whatever the kernel said on the way (ext4 on a loop
    /// device sees `EIO`).
    pub(crate) fn into_error(self) -> Error {
        let source = match &self.image {
            Some(image) if storage_cannot_back(image) => {
                std::io::Error::from_raw_os_error(libc::ENOSPC)
            }
            _ => self.error,
        };
        Error::io(
            format!("unable to write {} '{}'", self.key, self.volume),
            source,
        )
    }
}

/// Whether the file system holding the sparse `image` is out of space: the first hole of the
/// image cannot be given blocks (probed with `fallocate`, and punched out again).
fn storage_cannot_back(image: &Path) -> bool {
    use rustix::fs::{FallocateFlags, SeekFrom};
    let Ok(file) = fs::OpenOptions::new().write(true).open(image) else {
        return false;
    };
    let Ok(length) = file.metadata().map(|m| m.len()) else {
        return false;
    };
    let Ok(hole) = rustix::fs::seek(&file, SeekFrom::Hole(0)) else {
        return false;
    };
    if hole >= length {
        return false;
    }
    let probe = (length - hole).min(1 << 20);
    match rustix::fs::fallocate(&file, FallocateFlags::KEEP_SIZE, hole, probe) {
        Err(rustix::io::Errno::NOSPC) => true,
        Ok(()) => {
            let _ = rustix::fs::fallocate(
                &file,
                FallocateFlags::KEEP_SIZE | FallocateFlags::PUNCH_HOLE,
                hole,
                probe,
            );
            false
        }
        Err(_) => false,
    }
}

impl MountedVolumes {
    /// Where the rootfs is mounted, the mount points below it.
    pub fn rootfs(&self) -> &Path {
        &self.rootfs
    }

    /// Leave everything mounted (for `pct mount`).
    pub fn keep(mut self) -> PathBuf {
        self.armed = false;
        self.rootfs.clone()
    }

    /// Write everything out (`syncfs` on each volume) and report the first volume whose
    /// file system could not: a sparse image on a full storage loses writes silently until
    /// then.
    pub(crate) fn sync(&self) -> Result<(), LostWrites> {
        for mounted in &self.roots {
            if let Err(e) = rustix::fs::syncfs(&mounted.root) {
                return Err(LostWrites {
                    key: mounted.key.clone(),
                    volume: mounted.volume.clone(),
                    image: match &mounted.source {
                        VolumeSource::RawImage(image) => Some(image.clone()),
                        _ => None,
                    },
                    error: e.into(),
                });
            }
        }
        Ok(())
    }

    /// Unmount now, reporting failure.
    pub fn unmount(mut self) -> Result<(), Error> {
        self.roots.clear();
        self.armed = false;
        Ok(unmount_tree(&self.rootfs)?)
    }
}

impl Drop for MountedVolumes {
    fn drop(&mut self) {
        // Open roots would keep the mounts busy.
        self.roots.clear();
        if self.armed
            && let Err(e) = unmount_tree(&self.rootfs)
        {
            self.observer.warning(format!(
                "unable to unmount '{}': {e}",
                self.rootfs.display()
            ));
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
            rootfs.map_err(|source| Error::ConfigValue {
                key: "rootfs".into(),
                source,
            })?,
        )),
        None => {
            return Err(Error::MissingConfig {
                key: "rootfs".into(),
            });
        }
    }
    let mut mps = Vec::new();
    for (index, mp) in section.mount_points() {
        let mp = mp.map_err(|source| Error::ConfigValue {
            key: format!("mp{index}"),
            source,
        })?;
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
            // Whoever asks is about to mount it: an LV must be active by then.
            let volid = VolumeId::parse(&mp.volume)?;
            storage.activate_volume(&volid)?;
            Ok(storage.volume_source(&volid)?)
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

/// Deactivate every storage volume of `section` once nothing has it mounted (an LV of a
/// thick LVM storage goes inactive; file storages have nothing to do). A volume that cannot
/// be deactivated stays active and is reported in the returned warnings.
pub(crate) fn deactivate_volumes(storage: &StorageConfig, section: &Section) -> Vec<String> {
    let Ok(points) = mount_points_in_order(section) else {
        return Vec::new();
    };
    points
        .into_iter()
        .filter(|(_, mp)| mp.kind() == MountKind::Volume)
        .filter_map(|(_, mp)| {
            let volid = VolumeId::parse(&mp.volume).ok()?;
            storage
                .deactivate_volume(&volid)
                .err()
                .map(|e| e.to_string())
        })
        .collect()
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
                    return Err(Error::BindSymlink {
                        path: shown.to_string(),
                    });
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
            roots: Vec::new(),
            observer: self.host.observer().clone(),
        };
        for (index, (key, mp)) in points.iter().enumerate() {
            let source = volume_source(self.host, storage, mp)?;
            let read_only = mp.ro.unwrap_or(false);
            // A template's base volume is mounted `ro,noload`, as pct does: it must not
            // change, and its storage may not even let it (read-only subvolume, immutable
            // image).
            let base = mp.kind() == MountKind::Volume
                && VolumeId::parse(&mp.volume).is_ok_and(|v| storage.is_base_volume(&v));
            let (on_rootfs, target) = if index == 0 {
                (None, rootfs.as_path())
            } else {
                (
                    Some(rootfs.as_path()),
                    Path::new(mp.mp.as_deref().unwrap_or("/")),
                )
            };
            let result = if base {
                mount_volume_frozen(&source, on_rootfs, target)
            } else {
                mount_volume(&source, on_rootfs, target, read_only)
            };
            let host_path = match result {
                Ok(host_path) => host_path,
                Err(source) => {
                    return Err(Error::MountVolume {
                        key: key.clone(),
                        volume: mp.volume.clone(),
                        source,
                    });
                }
            };
            mounted.armed = true;
            let root = rustix::fs::open(
                &host_path,
                rustix::fs::OFlags::RDONLY
                    | rustix::fs::OFlags::DIRECTORY
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| {
                Error::io(
                    format!("unable to open '{}'", host_path.display()),
                    e.into(),
                )
            })?;
            mounted.roots.push(MountedRoot {
                key: key.clone(),
                volume: mp.volume.clone(),
                source,
                root,
            });
        }
        Ok(mounted)
    }

    /// Free one of this container's volumes: first take down what still holds it in this
    /// mount namespace — a mount of it anywhere (left by an interrupted `pct create` or
    /// `pct mount` of an older version, or made by hand) and the loop devices backing it —
    /// then delete it. Fails, leaving the volume, when something keeps it in use.
    pub(crate) fn free_volume(
        &self,
        storage: &StorageConfig,
        volid: &VolumeId,
    ) -> Result<(), Error> {
        release_volume(storage, volid)?;
        Ok(storage.free_volume(volid)?)
    }
}

/// Unmount every mount of the volume in this namespace and detach its loop devices, waiting
/// (a bounded time) for the kernel to let go of them.
fn release_volume(storage: &StorageConfig, volid: &VolumeId) -> Result<(), Error> {
    let path = storage.volume_path(volid)?;
    let Ok(real) = fs::canonicalize(&path) else {
        // Nothing there, nothing to release.
        return Ok(());
    };
    // The callers name the volume (`unable to free volume 'VOLID' - ...`).
    if fs::metadata(&real).is_ok_and(|m| m.file_type().is_block_device()) {
        // A block device (an LV): whatever has it mounted in this namespace.
        return unmount_mounts_of(&[real]);
    }
    // Whatever is mounted on or inside a directory volume.
    unmount_tree(&real)?;
    if !real.is_file() {
        return Ok(());
    }
    let devices = crate::mount::devices_backed_by(&real);
    if devices.is_empty() {
        return Ok(());
    }
    unmount_mounts_of(&devices)?;
    for device in &devices {
        crate::mount::detach_loop_device(device)
            .map_err(|e| Error::io(format!("unable to detach {}", device.display()), e))?;
    }
    let deadline = Instant::now() + LOOP_RELEASE_TIMEOUT;
    while !crate::mount::devices_backed_by(&real).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // A device still there is reported by the storage's own check, in its words.
    Ok(())
}

/// Unmount every mount in this namespace whose source is one of `devices` (compared after
/// resolving links, as `/dev/<vg>/<lv>` is a link to `/dev/dm-N`).
fn unmount_mounts_of(devices: &[PathBuf]) -> Result<(), Error> {
    let table =
        crate::mount::mount_table().map_err(|e| Error::io("unable to read the mount table", e))?;
    for entry in table.iter().filter(|entry| {
        let source = Path::new(&entry.source);
        let real = fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
        devices
            .iter()
            .any(|device| source == device || &real == device)
    }) {
        unmount_tree(&entry.mount_point)?;
    }
    Ok(())
}
