//! `pct fsck`: check the file system of a stopped container's volume with `fsck -a -l`
//! (`-f` with `--force`), as pct does: raw images and block devices only — a directory
//! volume or bind mount has no file system of its own to check.

use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;
use std::process::Command;

use super::error::ProgramFailure;
use super::volumes::volume_source;
use super::{Container, Error};
use crate::config::{MountKind, MountPoint};
use crate::mount::VolumeSource;
use crate::storage::VolumeId;

/// What `pct fsck` is asked to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsckOptions {
    /// `--device`: `rootfs` (the default) or `mpN`.
    pub device: Option<String>,
    /// `--force`: check even a file system marked clean (`fsck -f`).
    pub force: bool,
}

/// Why `pct fsck` refuses to check a mount point's volume ([`Error::Fsck`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsckProblem {
    /// The config has no such mount point.
    NoMountPoint,
    /// The container is running (its file systems are mounted).
    Running,
    /// The volume is no raw image (a subvolume or a qcow2 image has no file system fsck
    /// could check).
    Format {
        /// The volume id.
        volume: String,
        /// Its format (`subvol`, or empty when it has none).
        format: String,
    },
    /// The mount point is neither a raw image nor a block device (a bind mount).
    NotBlockDevice {
        /// The volume as the config names it.
        volume: String,
    },
}

/// Check that `device` is one of pct's choices: `rootfs` or `mp0` to `mp255`.
pub fn check_fsck_device(device: &str) -> Result<(), Error> {
    let is_mp = device
        .strip_prefix("mp")
        .and_then(|n| (!n.starts_with('0') || n == "0").then_some(n))
        .and_then(|n| n.parse::<u16>().ok())
        .is_some_and(|n| n <= 255);
    if device == "rootfs" || is_mp {
        return Ok(());
    }
    let choices: Vec<String> = std::iter::once("rootfs".to_string())
        .chain((0..=255).map(|n| format!("mp{n}")))
        .collect();
    Err(Error::param(
        "device",
        format!(
            "value '{device}' does not have a value in the enumeration '{}'",
            choices.join(", ")
        ),
    ))
}

impl Container<'_> {
    /// `pct fsck`: run `fsck -a -l [-f]` on the volume of `rootfs` or `mpN` of the stopped
    /// container, under its config lock. What fsck prints goes to the host's observer as
    /// info lines (pct's stdout) and is returned; a non-zero exit of fsck (errors corrected
    /// included, as pct counts it) is the error.
    pub fn fsck(&self, options: &FsckOptions) -> Result<String, Error> {
        let device = options.device.as_deref().unwrap_or("rootfs");
        check_fsck_device(device)?;
        let _lock = self.lock()?;
        let config = self.config()?;
        let Some(value) = config.main.get(device) else {
            return Err(Error::Fsck {
                device: device.to_string(),
                problem: FsckProblem::NoMountPoint,
            });
        };
        let mount_point = if device == "rootfs" {
            MountPoint::parse_rootfs(value)
        } else {
            MountPoint::parse_mp(value)
        }
        .map_err(|source| Error::ConfigValue {
            key: device.to_string(),
            source,
        })?;
        if self.running_init().is_some() {
            return Err(Error::Fsck {
                device: device.to_string(),
                problem: FsckProblem::Running,
            });
        }
        let path = self.fsck_target(device, &mount_point)?;
        let mut command = vec!["fsck".to_string(), "-a".into(), "-l".into()];
        if options.force {
            command.push("-f".into());
        }
        command.push(path.display().to_string());
        let shown = command.join(" ");
        let output = Command::new(crate::program::find(&command[0]))
            .args(&command[1..])
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| Error::Program {
                command: shown.clone(),
                failure: ProgramFailure::Spawn(e),
            })?;
        let mut said = String::from_utf8_lossy(&output.stdout).into_owned();
        said.push_str(&String::from_utf8_lossy(&output.stderr));
        // pct shows fsck's own words as they come, on stdout, failure or not.
        for line in said.lines() {
            self.host.observer().info(line);
        }
        if !output.status.success() {
            return Err(Error::Program {
                command: shown,
                failure: ProgramFailure::Status(output.status),
            });
        }
        Ok(said)
    }

    /// The file or block device holding the file system of the mount point `device`.
    fn fsck_target(&self, device: &str, mount_point: &MountPoint) -> Result<PathBuf, Error> {
        let refused = |problem| Error::Fsck {
            device: device.to_string(),
            problem,
        };
        let storage = self.host.storage_config()?;
        if mount_point.kind() == MountKind::Volume {
            let volid = VolumeId::parse(&mount_point.volume)?;
            // The storage's own reading of the name: an LV's is no file name.
            let format = storage.volume_format(&volid)?;
            if format != "raw" {
                return Err(refused(FsckProblem::Format {
                    volume: volid.to_string(),
                    format,
                }));
            }
        }
        match volume_source(self.host, &storage, mount_point)? {
            VolumeSource::RawImage(path) => Ok(path),
            VolumeSource::BlockDevice(path)
                if std::fs::metadata(&path).is_ok_and(|m| m.file_type().is_block_device()) =>
            {
                Ok(path)
            }
            _ => Err(refused(FsckProblem::NotBlockDevice {
                volume: mount_point.volume.clone(),
            })),
        }
    }
}
