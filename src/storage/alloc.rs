//! Allocating, sizing and freeing container volumes on dir and btrfs storages. Names follow
//! pve-storage: `vm-<vmid>-disk-<n>.raw` for images, `subvol-<vmid>-disk-<n>.subvol` for
//! directories, with `n` unique across both kinds.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{
    ContentType, StorageConfig, StorageDef, StorageError, StorageType, VolumeFormat, VolumeId,
};

fn io_error(context: String) -> impl FnOnce(std::io::Error) -> StorageError {
    move |source| StorageError::Io { context, source }
}

/// Run a storage tool, turning a failure into an error carrying its output.
fn run(program: &str, args: &[&std::ffi::OsStr]) -> Result<(), StorageError> {
    let command_line = || {
        let mut text = program.to_string();
        for arg in args {
            text.push(' ');
            text.push_str(&arg.to_string_lossy());
        }
        text
    };
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| StorageError::Command {
            command: command_line(),
            detail: e.to_string(),
        })?;
    if !output.status.success() {
        let detail = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(StorageError::Command {
            command: command_line(),
            detail,
        });
    }
    Ok(())
}

/// The disk number in `vm-100-disk-3.raw`, `vm-100-disk-3` (btrfs raw dir) or
/// `subvol-100-disk-3.subvol`.
fn disk_number(name: &str, vmid: u32) -> Option<u32> {
    let rest = ["vm-", "subvol-", "base-", "basevol-"]
        .iter()
        .find_map(|p| name.strip_prefix(p))?;
    let rest = rest.strip_prefix(&format!("{vmid}-disk-"))?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

impl StorageConfig {
    fn images_dir(&self, def: &StorageDef, vmid: u32) -> PathBuf {
        self.storage_path(def).join("images").join(vmid.to_string())
    }

    /// Allocate the next free disk of `vmid` on `storage`: `size_bytes > 0` makes a sparse
    /// raw image formatted with ext4; 0 makes a directory (a subvolume on btrfs). The storage
    /// must allow content `rootdir`. Nothing is left behind when it fails.
    pub fn alloc_disk(
        &self,
        storage: &str,
        vmid: u32,
        size_bytes: u64,
    ) -> Result<VolumeId, StorageError> {
        let def = self.storage(storage)?;
        if def.disabled {
            return Err(StorageError::Invalid(format!(
                "storage '{storage}' is disabled"
            )));
        }
        if !def.content.contains(&ContentType::Rootdir) {
            return Err(StorageError::Invalid(format!(
                "storage '{storage}' does not support container directories"
            )));
        }
        let images = self.images_dir(def, vmid);
        fs::create_dir_all(&images)
            .map_err(io_error(format!("unable to create '{}'", images.display())))?;
        let used: Vec<u32> = fs::read_dir(&images)
            .map_err(io_error(format!("unable to read '{}'", images.display())))?
            .filter_map(|e| e.ok())
            .filter_map(|e| disk_number(&e.file_name().to_string_lossy(), vmid))
            .collect();
        let number = (0..)
            .find(|n| !used.contains(n))
            .expect("a free disk number");
        let (format, name) = if size_bytes > 0 {
            (VolumeFormat::Raw, format!("vm-{vmid}-disk-{number}.raw"))
        } else {
            (
                VolumeFormat::Subvol,
                format!("subvol-{vmid}-disk-{number}.subvol"),
            )
        };
        let volid = VolumeId {
            storage: storage.to_string(),
            name: format!("{vmid}/{name}"),
        };
        let result = self.make_volume(def, &volid, format, size_bytes);
        if result.is_err() {
            let _ = self.free_volume(&volid);
        }
        result.map(|()| volid)
    }

    fn make_volume(
        &self,
        def: &StorageDef,
        volid: &VolumeId,
        format: VolumeFormat,
        size: u64,
    ) -> Result<(), StorageError> {
        let path = self.volume_path(volid)?;
        match (def.kind, format) {
            (StorageType::Dir, VolumeFormat::Subvol) => fs::create_dir(&path).map_err(io_error(
                format!("unable to create subvol '{}'", path.display()),
            )),
            (StorageType::Btrfs, VolumeFormat::Subvol) => run(
                "btrfs",
                &[
                    "subvolume".as_ref(),
                    "create".as_ref(),
                    "--".as_ref(),
                    path.as_os_str(),
                ],
            ),
            (kind, VolumeFormat::Raw) => {
                if kind == StorageType::Btrfs {
                    let subvol = path.parent().expect("disk.raw has a parent");
                    run(
                        "btrfs",
                        &[
                            "subvolume".as_ref(),
                            "create".as_ref(),
                            "--".as_ref(),
                            subvol.as_os_str(),
                        ],
                    )?;
                }
                make_ext4_image(&path, size)
            }
        }
    }

    /// Remove a volume and, when empty, its `images/<vmid>` directory.
    pub fn free_volume(&self, volid: &VolumeId) -> Result<(), StorageError> {
        let def = self.storage(&volid.storage)?;
        let path = self.volume_path(volid)?;
        let format = volid
            .format()
            .ok_or_else(|| StorageError::Invalid(format!("'{volid}' is not a container volume")))?;
        match (def.kind, format) {
            (StorageType::Btrfs, format) => {
                let subvol = if format == VolumeFormat::Raw {
                    path.parent().expect("disk.raw has a parent")
                } else {
                    &path
                };
                if fs::symlink_metadata(subvol).is_ok() {
                    run(
                        "btrfs",
                        &[
                            "subvolume".as_ref(),
                            "delete".as_ref(),
                            "--".as_ref(),
                            subvol.as_os_str(),
                        ],
                    )?;
                }
            }
            (StorageType::Dir, VolumeFormat::Raw) => {
                remove_if_present(&path, |p| fs::remove_file(p))?
            }
            (StorageType::Dir, VolumeFormat::Subvol) => {
                remove_if_present(&path, |p| fs::remove_dir_all(p))?
            }
        }
        if let Some(images) = path
            .ancestors()
            .find(|p| p.parent().is_some_and(|parent| parent.ends_with("images")))
        {
            let _ = fs::remove_dir(images);
        }
        Ok(())
    }

    /// The volume's size in bytes (image length; 0 for directories).
    pub fn volume_size(&self, volid: &VolumeId) -> Result<u64, StorageError> {
        let path = self.volume_path(volid)?;
        let meta = fs::metadata(&path).map_err(io_error(format!("volume '{volid}'")))?;
        Ok(if meta.is_file() { meta.len() } else { 0 })
    }

    /// Every image volume owned by `vmid` on every enabled storage.
    pub fn list_volumes(&self, vmid: u32) -> Result<Vec<(VolumeId, VolumeFormat)>, StorageError> {
        let mut found = Vec::new();
        for def in self.storages.iter().filter(|s| !s.disabled) {
            let images = self.images_dir(def, vmid);
            let Ok(entries) = fs::read_dir(&images) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if disk_number(&name, vmid).is_none() {
                    continue;
                }
                let name =
                    if def.kind == StorageType::Btrfs && entry.path().join("disk.raw").is_file() {
                        format!("{name}.raw")
                    } else {
                        name
                    };
                let volid = VolumeId {
                    storage: def.id.clone(),
                    name: format!("{vmid}/{name}"),
                };
                if let Some(format) = volid.format() {
                    found.push((volid, format));
                }
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }
}

fn remove_if_present(
    path: &Path,
    remove: fn(&Path) -> std::io::Result<()>,
) -> Result<(), StorageError> {
    match remove(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StorageError::Io {
            context: format!("unable to remove '{}'", path.display()),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// A sparse file of `size` bytes holding ext4, as pct formats container volumes (with
/// multi-mount protection, so two hosts never mount it at once).
fn make_ext4_image(path: &Path, size: u64) -> Result<(), StorageError> {
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io_error(format!(
            "unable to create image '{}'",
            path.display()
        )))?;
    file.set_len(size).map_err(io_error(format!(
        "unable to size image '{}'",
        path.display()
    )))?;
    drop(file);
    run(
        "mkfs.ext4",
        &[
            "-q".as_ref(),
            "-F".as_ref(),
            "-O".as_ref(),
            "mmp".as_ref(),
            "-E".as_ref(),
            "root_owner=0:0".as_ref(),
            path.as_os_str(),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, extra: &str) -> StorageConfig {
        StorageConfig::parse(
            dir,
            &format!("dir: local\n\tpath /var/lib/vz\n\tcontent rootdir,images,vztmpl\n\n{extra}"),
        )
        .unwrap()
    }

    #[test]
    fn disk_numbers() {
        assert_eq!(disk_number("vm-100-disk-3.raw", 100), Some(3));
        assert_eq!(disk_number("subvol-100-disk-12.subvol", 100), Some(12));
        assert_eq!(disk_number("vm-100-disk-0", 100), Some(0));
        assert_eq!(disk_number("vm-1000-disk-0.raw", 100), None);
        assert_eq!(disk_number("notes", 100), None);
    }

    #[test]
    fn raw_images_are_sparse_ext4_and_numbered() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), "");
        let first = cfg.alloc_disk("local", 100, 64 * 1024 * 1024).unwrap();
        assert_eq!(first.to_string(), "local:100/vm-100-disk-0.raw");
        let dirvol = cfg.alloc_disk("local", 100, 0).unwrap();
        assert_eq!(dirvol.to_string(), "local:100/subvol-100-disk-1.subvol");
        let path = cfg.volume_path(&first).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), 64 * 1024 * 1024);
        use std::os::unix::fs::MetadataExt;
        assert!(
            meta.blocks() * 512 < meta.len() / 2,
            "image should be sparse"
        );
        let mut superblock = [0u8; 2];
        let data = fs::read(&path).unwrap();
        superblock.copy_from_slice(&data[1080..1082]);
        assert_eq!(u16::from_le_bytes(superblock), 0xEF53, "ext4 magic");
        assert_eq!(cfg.volume_size(&first).unwrap(), 64 * 1024 * 1024);
        assert!(cfg.volume_path(&dirvol).unwrap().is_dir());
        assert_eq!(cfg.list_volumes(100).unwrap().len(), 2);

        cfg.free_volume(&first).unwrap();
        cfg.free_volume(&dirvol).unwrap();
        assert!(!dir.path().join("var/lib/vz/images/100").exists());
    }

    #[test]
    fn allocation_needs_rootdir_content() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(
            dir.path(),
            "dir: isos\n\tpath /isos\n\tcontent iso\n\ndir: off\n\tpath /off\n\tdisable 1\n",
        );
        assert_eq!(
            cfg.alloc_disk("isos", 100, 0).unwrap_err().to_string(),
            "storage 'isos' does not support container directories"
        );
        assert_eq!(
            cfg.alloc_disk("off", 100, 0).unwrap_err().to_string(),
            "storage 'off' is disabled"
        );
        assert_eq!(
            cfg.alloc_disk("nope", 100, 0).unwrap_err().to_string(),
            "storage 'nope' does not exist"
        );
    }

    #[test]
    fn a_failed_format_leaves_no_image() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), "");
        // Too small for ext4: mkfs fails, and the image must go again.
        let error = cfg.alloc_disk("local", 100, 4096).unwrap_err();
        assert!(error.to_string().contains("mkfs.ext4"), "{error}");
        assert!(
            !dir.path()
                .join("var/lib/vz/images/100/vm-100-disk-0.raw")
                .exists()
        );
    }
}
