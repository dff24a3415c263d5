//! `pct resize`: grow a container's volume and the ext4 inside it, online through the loop
//! device the running container holds, or offline with `e2fsck` and `resize2fs`.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{Container, Error, check_lock};
use crate::config::{MountKind, Warning, parse_size};
use crate::mount::{VolumeSource, devices_backed_by, in_private_mount_namespace, mount_volume};
use crate::storage::VolumeId;

/// `LOOP_SET_CAPACITY` from linux/loop.h: re-read the backing file's size.
const LOOP_SET_CAPACITY: libc::c_ulong = 0x4C07;

/// The size `pct resize` is asked for: an absolute size, or (`+SIZE`) how much to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskSize {
    /// The new size in bytes.
    Absolute(u64),
    /// Bytes to add to the current size.
    Grow(u64),
}

impl std::str::FromStr for DiskSize {
    type Err = Error;

    /// pct's `\+?\d+(\.\d+)?[KMGT]?`: units are powers of 1024, no unit means bytes.
    fn from_str(text: &str) -> Result<DiskSize, Error> {
        let bad = || Error::param("size", "value does not match the regex pattern");
        let (grow, number) = match text.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let digits = number.trim_end_matches(['K', 'M', 'G', 'T']);
        // At most one unit letter, after digits with at most one decimal point.
        if number.len() - digits.len() > 1 {
            return Err(bad());
        }
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) || !all_digits(fraction) {
            return Err(bad());
        }
        let bytes = parse_size(number).map_err(|e| Error::param("size", e.0))?;
        Ok(if grow {
            DiskSize::Grow(bytes)
        } else {
            DiskSize::Absolute(bytes)
        })
    }
}

/// pct's `disk` enumeration: `rootfs`, `mp0` … `mp255`.
fn check_disk_key(disk: &str) -> Result<(), Error> {
    if disk == "rootfs" || super::move_volume::is_indexed_key(disk, "mp") {
        return Ok(());
    }
    let choices: Vec<String> = std::iter::once("rootfs".to_string())
        .chain((0..=255).map(|i| format!("mp{i}")))
        .collect();
    Err(Error::param(
        "disk",
        format!(
            "value '{disk}' does not have a value in the enumeration '{}'",
            choices.join(", ")
        ),
    ))
}

impl Container<'_> {
    /// `pct resize <vmid> <disk> <size>`: grow the volume of `rootfs` or `mpN` and record
    /// the new `size=`. A raw image's ext4 grows with it: online while the container runs,
    /// else checked and grown offline. That the file system could not be grown is a
    /// warning, as in pct (the volume and the config have the new size by then).
    /// `digest` refuses the change when the config changed since it was read.
    pub fn resize(
        &self,
        disk: &str,
        size: DiskSize,
        digest: Option<&str>,
    ) -> Result<Vec<Warning>, Error> {
        check_disk_key(disk)?;
        let _lock = self.lock()?;
        let (mut config, current_digest) = self.config_and_digest()?;
        check_lock(&config)?;
        if let Some(digest) = digest
            && !digest.is_empty()
            && digest != current_digest
        {
            return Err(Error::Failed(
                "detected modified configuration - file changed by other user? Try again.".into(),
            ));
        }
        let Some(value) = config.main.get(disk) else {
            return Err(Error::Failed(
                "format error\nvolume: property is missing and it is not optional".into(),
            ));
        };
        let mut mp = super::create::parse_mount_point(disk, value)?;
        let volid = VolumeId::parse(&mp.volume)?;
        if mp.kind() != MountKind::Volume {
            return Err(Error::Failed(format!(
                "unable to parse volume ID '{}'",
                mp.volume
            )));
        }
        if let Some(owner) = volid.owner()
            && owner != self.vmid.get()
        {
            return Err(Error::Failed(format!(
                "can't resize mount point owned by another container ({owner})"
            )));
        }
        let storage = self.host.storage_config()?;
        // A name the storage cannot parse fails here, in pve-storage's words.
        storage.activate_volume(&volid)?;
        let current = storage.volume_size(&volid).map_err(|_| {
            Error::Failed(format!(
                "Could not determine current size of volume '{volid}'"
            ))
        })?;
        let wanted = match size {
            DiskSize::Absolute(bytes) => Some(bytes),
            DiskSize::Grow(bytes) => current.checked_add(bytes),
        }
        .ok_or_else(|| Error::param("size", "value does not match the regex pattern"))?;
        if wanted < current {
            return Err(Error::Failed("unable to shrink disk size".into()));
        }
        if wanted == current {
            return Err(Error::Failed("disk is already at specified size".into()));
        }
        // pve-storage gives volumes whole KiB; the config keeps the size asked for.
        let allocated = wanted
            .div_ceil(1024)
            .checked_mul(1024)
            .ok_or_else(|| Error::param("size", "value does not match the regex pattern"))?;

        let running = self.is_running();
        let source = storage.volume_source(&volid)?;
        if let (false, VolumeSource::RawImage(image)) = (running, &source) {
            // Before anything changes: e2fsck must not meet a file system still closing.
            wait_until_released(image, &volid)?;
        }
        storage.resize_volume(&volid, allocated)?;
        mp.size = Some(wanted);
        config.main.set(disk, mp.to_string());
        self.write_config(&config)?;

        // The ext4 of a raw image or a block device grows with it; a directory has none.
        let mut warnings = Vec::new();
        let grown = match (&source, running) {
            (VolumeSource::Directory(_), _) => Ok(()),
            (VolumeSource::RawImage(image), true) => {
                loop_device_of(image).and_then(|device| self.grow_mounted_ext4(&device))
            }
            (VolumeSource::BlockDevice(device), true) => self.grow_mounted_ext4(device),
            (VolumeSource::RawImage(path) | VolumeSource::BlockDevice(path), false) => {
                let grown = self.grow_ext4_offline(path);
                // As pct unmaps it: a stopped container's LV need not stay active.
                if let VolumeSource::BlockDevice(_) = source {
                    let _ = storage.deactivate_volume(&volid);
                }
                grown
            }
        };
        if let Err(error) = grown {
            warnings.push(Warning(format!(
                "Failed to update the container's filesystem: {error}"
            )));
        }
        Ok(warnings)
    }

    /// The running container's volume: let `resize2fs` grow its mounted ext4 on `device`.
    /// `resize2fs` grows online only a file system it finds mounted in its own mount
    /// namespace, so the device is mounted once more in a private namespace that nobody
    /// else sees and that goes with the work.
    fn grow_mounted_ext4(&self, device: &Path) -> Result<(), String> {
        let device = device.to_path_buf();
        let mount_point = self
            .host
            .path(&format!("var/lib/lxc/{}/.resize", self.vmid));
        std::fs::create_dir_all(&mount_point)
            .map_err(|e| format!("unable to create '{}': {e}", mount_point.display()))?;
        let result = in_private_mount_namespace(|| {
            mount_volume(
                &VolumeSource::BlockDevice(device.clone()),
                None,
                &mount_point,
                false,
            )
            .map_err(|e| e.to_string())?;
            let grown = self
                .run_tool(Command::new(program("resize2fs")).arg(&device))
                .map_err(|e| {
                    // The kernel grows a mounted ext4 only for CAP_SYS_RESOURCE (in the
                    // initial user namespace); without it resize2fs says no more than
                    // "Permission denied".
                    if has_sys_resource() {
                        e.message
                    } else {
                        format!(
                            "growing a mounted file system needs CAP_SYS_RESOURCE, which this \
                             process lacks ({})",
                            e.message
                        )
                    }
                });
            // Taken down here rather than with the namespace, so that the device has one
            // user less the moment this returns.
            let _ = crate::mount::unmount_tree(&mount_point);
            grown
        })
        .map_err(|e| format!("unable to enter a private mount namespace: {e}"))
        .and_then(|grown| grown);
        let _ = std::fs::remove_dir(&mount_point);
        result
    }

    /// A stopped container's volume: `e2fsck -f -y`, then `resize2fs`, on the image file or
    /// the block device.
    fn grow_ext4_offline(&self, image: &Path) -> Result<(), String> {
        // e2fsck exits 1 when it corrected errors: the file system is consistent then, and
        // resize2fs may go on.
        self.run_tool(
            Command::new(program("e2fsck"))
                .args(["-f", "-y"])
                .arg(image),
        )
        .or_else(|error| match error.exit_code {
            Some(1) => Ok(()),
            _ => Err(error),
        })
        .map_err(|e| e.message)?;
        self.run_tool(Command::new(program("resize2fs")).arg(image))
            .map_err(|e| e.message)
    }

    /// Run a file system tool; its output goes to the observer as the task output pct
    /// shows.
    fn run_tool(&self, command: &mut Command) -> Result<(), ToolError> {
        let shown = std::iter::once(command.get_program())
            .chain(command.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        let output = command
            .stdin(Stdio::null())
            .output()
            .map_err(|e| ToolError {
                message: format!("command '{shown}' failed: {e}"),
                exit_code: None,
            })?;
        let observer = self.host.observer();
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            observer.info(line);
        }
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let detail = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        Err(ToolError {
            message: match output.status.code() {
                Some(code) => format!("command '{shown}' failed: exit code {code}: {detail}"),
                None => format!("command '{shown}' failed: {}: {detail}", output.status),
            },
            exit_code: output.status.code(),
        })
    }
}

/// A file system tool that failed, with its exit code when it exited.
#[derive(Debug)]
struct ToolError {
    message: String,
    exit_code: Option<i32>,
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The loop device a running container's `image` is attached to, told the image's new size
/// (`losetup --set-capacity`).
fn loop_device_of(image: &Path) -> Result<std::path::PathBuf, String> {
    let device = devices_backed_by(image).into_iter().next().ok_or_else(|| {
        "internal error: CT running but mount point not attached to a loop device".to_string()
    })?;
    let handle = std::fs::File::open(&device)
        .map_err(|e| format!("unable to open '{}': {e}", device.display()))?;
    // SAFETY: LOOP_SET_CAPACITY takes no argument.
    if unsafe { libc::ioctl(handle.as_raw_fd(), LOOP_SET_CAPACITY as _) } != 0 {
        return Err(format!(
            "command 'losetup --set-capacity {}' failed: {}",
            device.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(device)
}

/// How long an image's last loop device may take to go after its unmount.
const LOOP_RELEASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Wait until no loop device is backed by `image` any more. An unmount (the end of
/// `pct mount`, a container's stop) leaves the kernel to close the file system and detach
/// the device in the background; until then the image's journal is not clean, and a tool or
/// a second mount would see a file system still in use. `volid` names it in the error when
/// the device stays.
pub(super) fn wait_until_released(image: &Path, volid: &VolumeId) -> Result<(), Error> {
    let deadline = std::time::Instant::now() + LOOP_RELEASE_TIMEOUT;
    loop {
        let devices = devices_backed_by(image);
        let Some(device) = devices.first() else {
            return Ok(());
        };
        if std::time::Instant::now() >= deadline {
            return Err(Error::Failed(format!(
                "volume '{volid}' is in use by {}",
                device.display()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Whether this thread has CAP_SYS_RESOURCE in its effective set.
fn has_sys_resource() -> bool {
    const CAP_SYS_RESOURCE: u32 = 24;
    std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|status| {
            let mask = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
            u64::from_str_radix(mask.trim(), 16).ok()
        })
        .is_some_and(|mask| mask & (1 << CAP_SYS_RESOURCE) != 0)
}

/// A program from the usual sbin directories, else from PATH.
fn program(name: &str) -> std::path::PathBuf {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| name.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::format_size;

    fn size(text: &str) -> Result<DiskSize, String> {
        text.parse::<DiskSize>().map_err(|e| e.to_string())
    }

    #[test]
    fn sizes_as_pct_reads_them() {
        assert_eq!(size("10G"), Ok(DiskSize::Absolute(10 << 30)));
        assert_eq!(size("+1G"), Ok(DiskSize::Grow(1 << 30)));
        assert_eq!(size("+512M"), Ok(DiskSize::Grow(512 << 20)));
        assert_eq!(size("1.5K"), Ok(DiskSize::Absolute(1536)));
        // No unit is bytes.
        assert_eq!(size("10"), Ok(DiskSize::Absolute(10)));
        assert_eq!(size("3T"), Ok(DiskSize::Absolute(3 << 40)));
    }

    #[test]
    fn sizes_pct_refuses() {
        for bad in [
            "", "+", "G", "1X", "1GB", "1GiB", "1g", "-1G", "1.G", ".5G", "++1G", "1 G", "1KK",
        ] {
            let error = size(bad).unwrap_err();
            assert!(
                error.contains("size: value does not match the regex pattern"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn disk_keys_are_rootfs_and_mount_points() {
        assert!(check_disk_key("rootfs").is_ok());
        assert!(check_disk_key("mp0").is_ok());
        assert!(check_disk_key("mp255").is_ok());
        for bad in ["mp256", "unused0", "net0", "mp", "mp+1", "mp01"] {
            let error = check_disk_key(bad).unwrap_err().to_string();
            assert!(
                error.contains(&format!(
                    "disk: value '{bad}' does not have a value in the enumeration 'rootfs, mp0, mp1,"
                )),
                "{error}"
            );
        }
    }

    #[test]
    fn sizes_print_as_pct_writes_them() {
        // The size= the config gets, for the sizes the tests resize to.
        assert_eq!(format_size((4 << 30) + (1 << 30)), "5G");
        assert_eq!(format_size(4608 << 20), "4608M");
    }
}
