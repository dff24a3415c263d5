//! What allocating a container volume takes on any storage: disk numbers, the ext4 format
//! pct gives raw volumes, sparse files and owned directories, and [`PreparedVolume`], the
//! volume made but not yet named. An allocation that fails part-way removes what it made.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::btrfs;
use super::volume::MAX_VOLUMES_PER_GUEST;
use super::{StorageError, VolumeId};
use crate::program;

pub(super) fn io_error(context: String) -> impl FnOnce(io::Error) -> StorageError {
    move |source| StorageError::Io { context, source }
}

/// The disk number in a name like `vm-100-disk-3.raw`: PVE's unanchored
/// `(vm|base|subvol|basevol)-<vmid>-disk-(\d+)`, so snapshots (`...@snap`) count too.
pub(super) fn disk_number(name: &str, vmid: u32) -> Option<u32> {
    let infix = format!("-{vmid}-disk-");
    (0..name.len())
        .filter(|&i| name.is_char_boundary(i))
        .find_map(|start| {
            let rest = &name[start..];
            let after_prefix = ["vm", "base", "subvol", "basevol"]
                .iter()
                .find_map(|prefix| rest.strip_prefix(prefix)?.strip_prefix(infix.as_str()))?;
            let digits: &str =
                &after_prefix[..after_prefix.bytes().take_while(u8::is_ascii_digit).count()];
            if digits.is_empty() {
                return None;
            }
            // Out-of-range numbers still name a disk; they just never collide with ours.
            Some(digits.parse::<u32>().unwrap_or(u32::MAX))
        })
}

/// The lowest disk number not used by any of `names` (PVE's `get_next_vm_diskname`).
pub(super) fn free_disk_number<'a>(
    names: impl IntoIterator<Item = &'a str>,
    vmid: u32,
    storage: &str,
) -> Result<u32, StorageError> {
    let used: std::collections::BTreeSet<u32> = names
        .into_iter()
        .filter_map(|name| disk_number(name, vmid))
        .collect();
    (0..MAX_VOLUMES_PER_GUEST)
        .find(|n| !used.contains(n))
        .ok_or_else(|| {
            StorageError::Invalid(format!(
                "unable to allocate an image name for VM {vmid} in storage '{storage}'"
            ))
        })
}

/// The lowest disk number not used by anything in `images_dir`.
pub(super) fn next_disk_number(
    images_dir: &Path,
    vmid: u32,
    storage: &str,
) -> Result<u32, StorageError> {
    let mut used = std::collections::BTreeSet::new();
    match std::fs::read_dir(images_dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(io_error(format!(
                    "unable to list '{}'",
                    images_dir.display()
                )))?;
                if let Some(number) = entry
                    .file_name()
                    .to_str()
                    .and_then(|name| disk_number(name, vmid))
                {
                    used.insert(number);
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(io_error(format!(
                "unable to list '{}'",
                images_dir.display()
            ))(e));
        }
    }
    (0..MAX_VOLUMES_PER_GUEST)
        .find(|n| !used.contains(n))
        .ok_or_else(|| {
            StorageError::Invalid(format!(
                "unable to allocate an image name for VM {vmid} in storage '{storage}'"
            ))
        })
}

/// Format `image` as pct does: ext4 with multi-mount protection, its root directory owned by
/// the container's root. Messages name the image as `shown` (its path once committed).
pub(super) fn mkfs_ext4(
    image: &Path,
    shown: &Path,
    root_owner: (u32, u32),
) -> Result<(), StorageError> {
    let owner = format!("root_owner={}:{}", root_owner.0, root_owner.1);
    let args = ["-O", "mmp", "-E", owner.as_str()];
    let command = format!("mkfs.ext4 {} {}", args.join(" "), shown.display());
    let output = Command::new(program::find("mkfs.ext4"))
        .args(args)
        .arg(image)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| StorageError::Command {
            command: command.clone(),
            detail: e.to_string(),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let detail = stderr
            .lines()
            .filter(|line| !line.trim().is_empty() && !line.starts_with("mke2fs "))
            .collect::<Vec<_>>()
            .join("; ");
        let detail = if detail.is_empty() {
            output.status.to_string()
        } else {
            detail
        };
        return Err(StorageError::Command { command, detail });
    }
    Ok(())
}

/// A new sparse file of `size` bytes; it must not exist yet.
pub(super) fn create_sparse_file(path: &Path, size: u64, nocow: bool) -> Result<(), StorageError> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => {
                StorageError::Invalid(format!("disk image '{}' already exists", path.display()))
            }
            _ => io_error(format!("failed to create raw file '{}'", path.display()))(e),
        })?;
    let sized = |file: &File| -> Result<(), StorageError> {
        if nocow {
            btrfs::set_nocow(file).map_err(io_error(format!(
                "failed to set NOCOW on '{}'",
                path.display()
            )))?;
        }
        file.set_len(size).map_err(io_error(format!(
            "failed to set file size for '{}'",
            path.display()
        )))
    };
    sized(&file).inspect_err(|_| {
        let _ = std::fs::remove_file(path);
    })
}

/// A new directory (mode 0755) owned by `owner`; it must not exist yet.
pub(super) fn create_owned_dir(path: &Path, owner: (u32, u32)) -> Result<(), StorageError> {
    std::fs::create_dir(path).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => {
            StorageError::Invalid(format!("disk image '{}' already exists", path.display()))
        }
        _ => io_error(format!("unable to create subvol '{}'", path.display()))(e),
    })?;
    chown_dir(path, owner)
}

pub(super) fn chown_dir(path: &Path, owner: (u32, u32)) -> Result<(), StorageError> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .and_then(|()| std::os::unix::fs::lchown(path, Some(owner.0), Some(owner.1)))
        .map_err(io_error(format!("unable to chown '{}'", path.display())))
}

/// A volume made but not yet given its name: committing makes it appear under its volume id
/// in one step, dropping it leaves nothing. A raw image is formatted as an unnamed file
/// (`O_TMPFILE`) and linked into place on commit, so a process killed while `mkfs.ext4` runs
/// (the slow part) leaves no image behind; a directory is only made on commit.
pub struct PreparedVolume {
    volid: VolumeId,
    /// A directory made for the volume, removed again when empty.
    images_dir: Option<PathBuf>,
    step: Option<CommitStep>,
}

pub(super) enum CommitStep {
    /// A formatted image without a name, linked at `path` on commit.
    LinkImage { image: File, path: PathBuf },
    /// A directory owned by the container's root, made on commit.
    MakeDir { path: PathBuf, owner: (u32, u32) },
    /// Already in place (a btrfs subvolume, an image on a file system without `O_TMPFILE`,
    /// a logical volume); removed again unless committed.
    InPlace { undo: Box<dyn FnMut() + Send> },
}

impl PreparedVolume {
    /// A volume to be named `volid`, made in `images_dir` when that is given.
    pub(super) fn new(volid: VolumeId, images_dir: Option<PathBuf>) -> PreparedVolume {
        PreparedVolume {
            volid,
            images_dir,
            step: None,
        }
    }

    /// What commit does, or undoes on drop.
    pub(super) fn set_step(&mut self, step: CommitStep) {
        self.step = Some(step);
    }

    /// The id the volume gets on commit.
    pub fn volid(&self) -> &VolumeId {
        &self.volid
    }

    /// Give the volume its name.
    pub fn commit(mut self) -> Result<VolumeId, StorageError> {
        match self.step.take() {
            Some(CommitStep::LinkImage { image, path }) => {
                rustix::fs::linkat(
                    &image,
                    c"",
                    rustix::fs::CWD,
                    &path,
                    rustix::fs::AtFlags::EMPTY_PATH,
                )
                .map_err(|e| match e {
                    rustix::io::Errno::EXIST => StorageError::Invalid(format!(
                        "disk image '{}' already exists",
                        path.display()
                    )),
                    e => io_error(format!("failed to create raw file '{}'", path.display()))(
                        e.into(),
                    ),
                })?;
            }
            Some(CommitStep::MakeDir { path, owner }) => create_owned_dir(&path, owner)?,
            Some(CommitStep::InPlace { .. }) | None => {}
        }
        Ok(self.volid.clone())
    }
}

impl Drop for PreparedVolume {
    fn drop(&mut self) {
        if let Some(CommitStep::InPlace { mut undo }) = self.step.take() {
            undo();
        }
        // An empty images/<vmid> left by a failure would only clutter the storage.
        if let Some(dir) = &self.images_dir {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// A sparse file of `size` bytes without a name in `dir`, or `None` when the file system
/// cannot make unnamed files.
pub(super) fn create_unnamed_sparse_file(
    dir: &Path,
    size: u64,
) -> Result<Option<File>, StorageError> {
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o640)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
    {
        Ok(file) => file,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR)) => {
            return Ok(None);
        }
        Err(e) => {
            return Err(io_error(format!(
                "failed to create raw file in '{}'",
                dir.display()
            ))(e));
        }
    };
    file.set_len(size).map_err(io_error(format!(
        "failed to set file size in '{}'",
        dir.display()
    )))?;
    Ok(Some(file))
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::mount::testutil::{MountGuard, make_fs_image, mounted_source, wait_detached};
    use crate::mount::{VolumeSource, mount_volume, unmount_tree};
    use crate::storage::{StorageConfig, VolumeFormat};

    const MIB: u64 = 1 << 20;

    fn config(root: &Path, text: &str) -> StorageConfig {
        std::fs::create_dir_all(root.join("etc/pve")).unwrap();
        std::fs::write(root.join("etc/pve/storage.cfg"), text).unwrap();
        let config = StorageConfig::load(root).unwrap();
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
        config
    }

    fn read_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
        let mut file = File::open(path).unwrap();
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset)).unwrap();
        let mut buf = vec![0; len];
        file.read_exact(&mut buf).unwrap();
        buf
    }

    /// The ext4 superblock magic and whether the MMP feature (incompat 0x100) is on.
    fn ext4_with_mmp(image: &Path) -> (bool, bool) {
        let superblock = read_at(image, 1024, 1024);
        let magic = u16::from_le_bytes([superblock[0x38], superblock[0x39]]) == 0xEF53;
        let incompat = u32::from_le_bytes(superblock[0x60..0x64].try_into().unwrap());
        (magic, incompat & 0x100 != 0)
    }

    /// Mount `image` at `<dir>/check`, hand the mount point to `look`, then unmount.
    fn inspect_image<T>(dir: &Path, image: &Path, look: impl FnOnce(&Path) -> T) -> T {
        let target = dir.join("check");
        std::fs::create_dir_all(&target).unwrap();
        let guard = MountGuard(target.clone());
        mount_volume(
            &VolumeSource::RawImage(image.to_path_buf()),
            None,
            &target,
            true,
        )
        .unwrap();
        let device = PathBuf::from(mounted_source(&target).unwrap());
        let seen = look(&target);
        drop(guard);
        assert!(wait_detached(&device, image));
        seen
    }

    #[test]
    fn disk_numbers_in_names() {
        assert_eq!(disk_number("vm-100-disk-3.raw", 100), Some(3));
        assert_eq!(disk_number("subvol-100-disk-12.subvol", 100), Some(12));
        assert_eq!(disk_number("basevol-100-disk-2", 100), Some(2));
        assert_eq!(disk_number("vm-100-disk-4@snap", 100), Some(4));
        assert_eq!(disk_number("old-vm-100-disk-5.raw", 100), Some(5));
        assert_eq!(disk_number("vm-1000-disk-1.raw", 100), None);
        assert_eq!(disk_number("vm-100-disk-.raw", 100), None);
        assert_eq!(disk_number("ct-100-disk-1.raw", 100), None);
    }

    #[test]
    fn prepared_volumes_appear_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let config = StorageConfig::load(&root).unwrap();
        let images = root.join("var/lib/vz/images/100");
        let listing = || -> Vec<String> {
            match std::fs::read_dir(&images) {
                Ok(entries) => entries
                    .map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect(),
                Err(_) => Vec::new(),
            }
        };

        for size in [64 * MIB, 0] {
            let prepared = config
                .prepare_disk_owned("local", 100, size, (0, 0))
                .unwrap();
            assert!(listing().is_empty(), "named before commit: {:?}", listing());
            drop(prepared);
            assert!(!images.exists(), "a dropped volume leaves nothing");
        }

        let raw = config
            .prepare_disk_owned("local", 100, 64 * MIB, (0, 0))
            .unwrap();
        assert_eq!(raw.volid().to_string(), "local:100/vm-100-disk-0.raw");
        let volid = raw.commit().unwrap();
        let path = images.join("vm-100-disk-0.raw");
        assert_eq!(listing(), ["vm-100-disk-0.raw"]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 64 * MIB);
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o640);
        assert_eq!(ext4_with_mmp(&path), (true, true));
        let dir_volume = config
            .prepare_disk_owned("local", 100, 0, (1000, 1000))
            .unwrap();
        assert_eq!(
            dir_volume.volid().to_string(),
            "local:100/subvol-100-disk-1.subvol"
        );
        let subvol = dir_volume.commit().unwrap();
        let meta = std::fs::metadata(images.join("subvol-100-disk-1.subvol")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (1000, 1000));
        config.free_volume(&volid).unwrap();
        config.free_volume(&subvol).unwrap();
        assert!(!images.exists());
    }

    #[test]
    fn raw_allocation_is_a_sparse_ext4_image_numbered_and_freed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let config = StorageConfig::load(&root).unwrap();
        let images = root.join("var/lib/vz/images/100");

        let first = config.alloc_disk("local", 100, 64 * MIB).unwrap();
        assert_eq!(first.to_string(), "local:100/vm-100-disk-0.raw");
        let path = images.join("vm-100-disk-0.raw");
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), 64 * MIB);
        assert!(
            meta.blocks() * 512 < meta.len() / 2,
            "not sparse: {} blocks",
            meta.blocks()
        );
        assert_eq!(meta.mode() & 0o777, 0o640);
        assert_eq!(ext4_with_mmp(&path), (true, true));
        let root_dir = inspect_image(dir.path(), &path, |m| std::fs::metadata(m).unwrap());
        assert_eq!((root_dir.uid(), root_dir.gid()), (0, 0));

        // A name in use elsewhere (a snapshot of disk 1) is skipped.
        std::fs::write(images.join("vm-100-disk-1@snap.raw"), b"").unwrap();
        let second = config.alloc_disk("local", 100, 0).unwrap();
        assert_eq!(second.to_string(), "local:100/subvol-100-disk-2.subvol");
        std::fs::remove_file(images.join("vm-100-disk-1@snap.raw")).unwrap();

        assert_eq!(config.volume_size(&first).unwrap(), 64 * MIB);
        assert_eq!(config.volume_size(&second).unwrap(), 0);
        assert_eq!(
            config.list_volumes(100).unwrap(),
            [
                (first.clone(), VolumeFormat::Raw),
                (second.clone(), VolumeFormat::Subvol)
            ]
        );
        assert!(config.list_volumes(101).unwrap().is_empty());

        config.free_volume(&first).unwrap();
        assert!(!path.exists());
        assert!(images.is_dir(), "still holds the subvol");
        config.free_volume(&second).unwrap();
        assert!(!images.exists(), "empty images/<vmid> is removed");
        // Freeing again is fine: the volume is gone either way.
        config.free_volume(&first).unwrap();
        let err = config.volume_size(&first).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("failed to stat '{}'", path.display())),
            "{err}"
        );
    }

    #[test]
    fn unprivileged_allocations_belong_to_the_mapped_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let config = StorageConfig::load(&root).unwrap();
        let raw = config
            .alloc_disk_owned("local", 200, 32 * MIB, (100000, 100000))
            .unwrap();
        let raw_path = config.volume_path(&raw).unwrap();
        let owner = inspect_image(dir.path(), &raw_path, |m| {
            let meta = std::fs::metadata(m).unwrap();
            (meta.uid(), meta.gid())
        });
        assert_eq!(owner, (100000, 100000));

        let subvol = config
            .alloc_disk_owned("local", 200, 0, (100000, 100001))
            .unwrap();
        let meta = std::fs::metadata(config.volume_path(&subvol).unwrap()).unwrap();
        assert!(meta.is_dir());
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (100000, 100001, 0o755)
        );
        config.free_volume(&raw).unwrap();
        config.free_volume(&subvol).unwrap();
    }

    #[test]
    fn storage_must_exist_be_enabled_and_allow_rootdir() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(
            dir.path(),
            "dir: isos\n\tpath /isos\n\tcontent iso\n\ndir: off\n\tpath /off\n\tcontent rootdir\n\tdisable 1\n",
        );
        let err = |s: &str| config.alloc_disk(s, 100, 0).unwrap_err().to_string();
        assert_eq!(
            err("isos"),
            "content type 'rootdir' is not available or configured on storage 'isos'"
        );
        assert_eq!(err("off"), "storage 'off' is disabled");
        assert_eq!(err("nope"), "storage 'nope' does not exist");
        assert!(!dir.path().join("isos/images").exists());
    }

    #[test]
    fn failed_format_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let config = StorageConfig::load(dir.path()).unwrap();
        // Far too small for ext4.
        let err = config.alloc_disk("local", 300, 4096).unwrap_err();
        assert!(matches!(err, StorageError::Command { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("mkfs.ext4 -O mmp -E root_owner=0:0 "),
            "{err}"
        );
        assert!(!dir.path().join("var/lib/vz/images/300").exists());
        // The next allocation starts over at disk 0.
        let ok = config.alloc_disk("local", 300, 0).unwrap();
        assert_eq!(ok.to_string(), "local:300/subvol-300-disk-0.subvol");
        config.free_volume(&ok).unwrap();
    }

    #[test]
    fn volumes_in_use_are_not_freed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let config = StorageConfig::load(&root).unwrap();
        let raw = config.alloc_disk("local", 400, 32 * MIB).unwrap();
        let subvol = config.alloc_disk("local", 400, 0).unwrap();
        let target = dir.path().join("mnt");
        std::fs::create_dir(&target).unwrap();
        let _guard = MountGuard(target.clone());

        mount_volume(
            &VolumeSource::RawImage(config.volume_path(&raw).unwrap()),
            None,
            &target,
            false,
        )
        .unwrap();
        let device = mounted_source(&target).unwrap();
        assert_eq!(
            config.free_volume(&raw).unwrap_err().to_string(),
            format!("volume 'local:400/vm-400-disk-0.raw' is in use by {device}")
        );
        unmount_tree(&target).unwrap();
        assert!(wait_detached(
            Path::new(&device),
            &config.volume_path(&raw).unwrap()
        ));

        let subvol_path = config.volume_path(&subvol).unwrap();
        mount_volume(
            &VolumeSource::Directory(dir.path().to_path_buf()),
            Some(&subvol_path),
            Path::new("/x"),
            true,
        )
        .unwrap();
        assert_eq!(
            config.free_volume(&subvol).unwrap_err().to_string(),
            format!(
                "volume 'local:400/subvol-400-disk-1.subvol' is in use (mounted at '{}')",
                subvol_path.join("x").display()
            )
        );
        unmount_tree(&subvol_path).unwrap();
        config.free_volume(&raw).unwrap();
        config.free_volume(&subvol).unwrap();
        let err = config
            .free_volume(&VolumeId::parse("local:vztmpl/a.tar.gz").unwrap())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "volume 'local:vztmpl/a.tar.gz' is not a disk image"
        );
    }

    /// A temp root with a btrfs file system mounted at srv/fast and a storage `fast` on it.
    struct BtrfsRoot {
        config: StorageConfig,
        _guard: MountGuard,
        dir: tempfile::TempDir,
    }

    fn btrfs_root(extra: &str) -> BtrfsRoot {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("btrfs.img");
        make_fs_image(&image, 256 * MIB, "mkfs.btrfs");
        let root = dir.path().join("root");
        let mount_point = root.join("srv/fast");
        std::fs::create_dir_all(&mount_point).unwrap();
        let guard = MountGuard(mount_point.clone());
        mount_volume(&VolumeSource::RawImage(image), None, &mount_point, false).unwrap();
        let text = format!("btrfs: fast\n\tpath /srv/fast\n\tcontent rootdir,images\n{extra}");
        BtrfsRoot {
            config: config(&root, &text),
            _guard: guard,
            dir,
        }
    }

    #[test]
    fn btrfs_allocations_are_subvolumes() {
        let fixture = btrfs_root("\tnocow 1\n");
        let config = &fixture.config;
        let images = config.root.join("srv/fast/images/100");

        let raw = config.alloc_disk("fast", 100, 32 * MIB).unwrap();
        assert_eq!(raw.to_string(), "fast:100/vm-100-disk-0.raw");
        let raw_path = images.join("vm-100-disk-0/disk.raw");
        assert_eq!(config.volume_path(&raw).unwrap(), raw_path);
        assert!(btrfs::is_subvolume(&images.join("vm-100-disk-0")));
        assert_eq!(ext4_with_mmp(&raw_path), (true, true));
        assert_eq!(config.volume_size(&raw).unwrap(), 32 * MIB);

        let subvol = config
            .alloc_disk_owned("fast", 100, 0, (100000, 100000))
            .unwrap();
        assert_eq!(subvol.to_string(), "fast:100/subvol-100-disk-1.subvol");
        let subvol_path = images.join("subvol-100-disk-1.subvol");
        assert!(btrfs::is_subvolume(&subvol_path));
        assert_eq!(std::fs::metadata(&subvol_path).unwrap().uid(), 100000);
        assert_eq!(
            config.list_volumes(100).unwrap(),
            [
                (raw.clone(), VolumeFormat::Raw),
                (subvol.clone(), VolumeFormat::Subvol)
            ]
        );

        // What a container may leave inside: files, a nested subvolume, and a snapshot beside.
        std::fs::write(subvol_path.join("file"), b"data").unwrap();
        btrfs::create_subvolume(&subvol_path.join("nested")).unwrap();
        let status = Command::new(program::find("btrfs"))
            .args(["-q", "subvolume", "snapshot"])
            .arg(&subvol_path)
            .arg(images.join("subvol-100-disk-1.subvol@before"))
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(
            config.list_volumes(100).unwrap().len(),
            2,
            "snapshots are not volumes"
        );

        config.free_volume(&subvol).unwrap();
        assert!(!subvol_path.exists());
        assert!(!images.join("subvol-100-disk-1.subvol@before").exists());
        config.free_volume(&raw).unwrap();
        assert!(!images.exists());
        assert!(fixture.dir.path().exists());
    }

    #[test]
    fn btrfs_storage_on_another_file_system_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(
            dir.path(),
            "btrfs: fast\n\tpath /srv/fast\n\tcontent rootdir\n",
        );
        assert_eq!(
            config.alloc_disk("fast", 100, 0).unwrap_err().to_string(),
            format!(
                "'{}' is not a btrfs file system",
                dir.path().join("srv/fast").display()
            )
        );
    }

    #[test]
    fn failed_btrfs_format_removes_the_subvolume() {
        let fixture = btrfs_root("");
        let config = &fixture.config;
        let err = config.alloc_disk("fast", 100, 4096).unwrap_err();
        assert!(matches!(err, StorageError::Command { .. }), "{err}");
        assert!(!config.root.join("srv/fast/images/100").exists());
    }
}
