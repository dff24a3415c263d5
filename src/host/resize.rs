//! `pct resize`: grow a container's volume and the ext4 inside it, online through the loop
//! device the running container holds, or offline with `e2fsck` and `resize2fs`.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{Container, Error, ProgramFailure, check_lock};
use crate::config::{MountKind, Warning, parse_size};
use crate::mount::{VolumeSource, devices_backed_by, in_private_mount_namespace, mount_volume};
use crate::program;
use crate::storage::{StorageError, VolumeId};

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

/// Why `pct resize` refused a volume or could not grow its file system
/// ([`Error::Resize`]); `Display` is pct's message.
#[derive(Debug)]
#[non_exhaustive]
pub enum ResizeProblem {
    /// The config has no such key.
    NotConfigured,
    /// The key holds a bind mount or a device, not a storage volume.
    NotAVolume {
        /// The path the config names.
        volume: String,
    },
    /// The volume belongs to another container.
    OwnedByAnother {
        /// Its owner's id.
        owner: u32,
    },
    /// The storage could not tell the volume's size.
    UnknownSize {
        /// The volume.
        volume: VolumeId,
        /// The storage's error.
        source: StorageError,
    },
    /// The size asked for is below the current one.
    Shrink,
    /// The size asked for is the current one.
    SameSize,
    /// A running container's image has no loop device to grow through.
    NoLoopDevice,
    /// `resize2fs` failed to grow a mounted file system, and this process lacks the
    /// capability the kernel asks for that; `source` is the failure.
    NeedsSysResource {
        /// The failed `resize2fs`.
        source: Box<Error>,
    },
}

impl std::fmt::Display for ResizeProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResizeProblem::NotConfigured => {
                f.write_str("format error\nvolume: property is missing and it is not optional")
            }
            ResizeProblem::NotAVolume { volume } => {
                write!(f, "unable to parse volume ID '{volume}'")
            }
            ResizeProblem::OwnedByAnother { owner } => write!(
                f,
                "can't resize mount point owned by another container ({owner})"
            ),
            ResizeProblem::UnknownSize { volume, .. } => {
                write!(f, "Could not determine current size of volume '{volume}'")
            }
            ResizeProblem::Shrink => f.write_str("unable to shrink disk size"),
            ResizeProblem::SameSize => f.write_str("disk is already at specified size"),
            ResizeProblem::NoLoopDevice => f.write_str(
                "internal error: CT running but mount point not attached to a loop device",
            ),
            ResizeProblem::NeedsSysResource { source } => write!(
                f,
                "growing a mounted file system needs CAP_SYS_RESOURCE, which this process \
                 lacks ({source})"
            ),
        }
    }
}

impl std::error::Error for ResizeProblem {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ResizeProblem::UnknownSize { source, .. } => Some(source),
            ResizeProblem::NeedsSysResource { source } => Some(source.as_ref()),
            _ => None,
        }
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
        let refused = |problem| Error::Resize {
            disk: disk.to_string(),
            problem,
        };
        let _lock = self.lock()?;
        let (mut config, current_digest) = self.config_and_digest()?;
        check_lock(&config)?;
        if let Some(digest) = digest
            && !digest.is_empty()
            && digest != current_digest
        {
            return Err(Error::ConfigChanged { vmid: self.vmid });
        }
        let Some(value) = config.main.get(disk) else {
            return Err(refused(ResizeProblem::NotConfigured));
        };
        let mut mp = super::create::parse_mount_point(disk, value)?;
        let volid = VolumeId::parse(&mp.volume)?;
        if mp.kind() != MountKind::Volume {
            return Err(refused(ResizeProblem::NotAVolume {
                volume: mp.volume.clone(),
            }));
        }
        if let Some(owner) = volid.owner()
            && owner != self.vmid.get()
        {
            return Err(refused(ResizeProblem::OwnedByAnother { owner }));
        }
        let storage = self.host.storage_config()?;
        // A name the storage cannot parse fails here, in pve-storage's words.
        storage.activate_volume(&volid)?;
        let current = storage.volume_size(&volid).map_err(|source| {
            refused(ResizeProblem::UnknownSize {
                volume: volid.clone(),
                source,
            })
        })?;
        let wanted = match size {
            DiskSize::Absolute(bytes) => Some(bytes),
            DiskSize::Grow(bytes) => current.checked_add(bytes),
        }
        .ok_or_else(|| Error::param("size", "value does not match the regex pattern"))?;
        if wanted < current {
            return Err(refused(ResizeProblem::Shrink));
        }
        if wanted == current {
            return Err(refused(ResizeProblem::SameSize));
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
                loop_device_of(image, disk).and_then(|device| self.grow_mounted_ext4(&device, disk))
            }
            (VolumeSource::BlockDevice(device), true) => self.grow_mounted_ext4(device, disk),
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
    fn grow_mounted_ext4(&self, device: &Path, disk: &str) -> Result<(), Error> {
        let device = device.to_path_buf();
        let mount_point = self
            .host
            .path(&format!("var/lib/lxc/{}/.resize", self.vmid));
        std::fs::create_dir_all(&mount_point)
            .map_err(|e| Error::io(format!("unable to create '{}'", mount_point.display()), e))?;
        let result = in_private_mount_namespace(|| -> Result<(), Error> {
            mount_volume(
                &VolumeSource::BlockDevice(device.clone()),
                None,
                &mount_point,
                false,
            )?;
            let grown = self
                .run_tool(Command::new(program::find("resize2fs")).arg(&device))
                .map_err(|failed| {
                    // The kernel grows a mounted ext4 only for CAP_SYS_RESOURCE (in the
                    // initial user namespace); without it resize2fs says no more than
                    // "Permission denied".
                    let failed = failed.into_error();
                    if has_sys_resource() {
                        failed
                    } else {
                        Error::Resize {
                            disk: disk.to_string(),
                            problem: ResizeProblem::NeedsSysResource {
                                source: Box::new(failed),
                            },
                        }
                    }
                });
            // Taken down here rather than with the namespace, so that the device has one
            // user less the moment this returns.
            let _ = crate::mount::unmount_tree(&mount_point);
            grown
        })
        .map_err(|e| Error::io("unable to enter a private mount namespace", e))
        .and_then(|grown| grown);
        let _ = std::fs::remove_dir(&mount_point);
        result
    }

    /// A stopped container's volume: `e2fsck -f -y`, then `resize2fs`, on the image file or
    /// the block device.
    fn grow_ext4_offline(&self, image: &Path) -> Result<(), Error> {
        // e2fsck exits 1 when it corrected errors: the file system is consistent then, and
        // resize2fs may go on.
        self.run_tool(
            Command::new(program::find("e2fsck"))
                .args(["-f", "-y"])
                .arg(image),
        )
        .or_else(|failed| match failed {
            ToolFailure::Exited { code: 1, .. } => Ok(()),
            other => Err(other.into_error()),
        })?;
        self.run_tool(Command::new(program::find("resize2fs")).arg(image))
            .map_err(ToolFailure::into_error)
    }

    /// Run a file system tool; its output goes to the observer as the task output pct
    /// shows.
    fn run_tool(&self, command: &mut Command) -> Result<(), ToolFailure> {
        let shown = shown_command(command);
        let output = command
            .stdin(Stdio::null())
            .output()
            .map_err(|e| ToolFailure::Spawn(Error::io(format!("command '{shown}' failed"), e)))?;
        let observer = self.host.observer();
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            observer.info(line);
        }
        if output.status.success() {
            return Ok(());
        }
        Err(ToolFailure::Exited {
            code: output.status.code().unwrap_or(-1),
            error: program_failed(shown, &output),
        })
    }
}

/// A file system tool that could not run, or ran and failed (with its exit code, -1 for a
/// signal), to tell e2fsck's "errors corrected" from a failure.
#[derive(Debug)]
enum ToolFailure {
    Spawn(Error),
    Exited { code: i32, error: Error },
}

impl ToolFailure {
    fn into_error(self) -> Error {
        match self {
            ToolFailure::Spawn(error) | ToolFailure::Exited { error, .. } => error,
        }
    }
}

/// A command line as pct shows it in its messages: the program and its arguments, spaced.
pub(super) fn shown_command(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// [`Error::Program`] for a program that exited unsuccessfully: its exit code (or signal),
/// then what it wrote on stderr, one line each, when anything.
pub(super) fn program_failed(command: String, output: &std::process::Output) -> Error {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let said: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let failure = if said.is_empty() {
        ProgramFailure::Status(output.status)
    } else {
        ProgramFailure::Said {
            status: output.status,
            stderr: said.join("; "),
        }
    };
    Error::Program { command, failure }
}

/// The loop device a running container's `image` is attached to, told the image's new size
/// (`losetup --set-capacity`).
fn loop_device_of(image: &Path, disk: &str) -> Result<std::path::PathBuf, Error> {
    let device = devices_backed_by(image)
        .into_iter()
        .next()
        .ok_or_else(|| Error::Resize {
            disk: disk.to_string(),
            problem: ResizeProblem::NoLoopDevice,
        })?;
    let handle = std::fs::File::open(&device)
        .map_err(|e| Error::io(format!("unable to open '{}'", device.display()), e))?;
    // SAFETY: LOOP_SET_CAPACITY takes no argument.
    if unsafe { libc::ioctl(handle.as_raw_fd(), LOOP_SET_CAPACITY as _) } != 0 {
        return Err(Error::io(
            format!(
                "command 'losetup --set-capacity {}' failed",
                device.display()
            ),
            std::io::Error::last_os_error(),
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
            return Err(Error::VolumeInUse {
                volume: volid.clone(),
                device: device.clone(),
            });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::format_size;

    fn size(text: &str) -> DiskSize {
        text.parse().unwrap()
    }

    #[test]
    fn sizes_as_pct_reads_them() {
        assert_eq!(size("10G"), DiskSize::Absolute(10 << 30));
        assert_eq!(size("+1G"), DiskSize::Grow(1 << 30));
        assert_eq!(size("+512M"), DiskSize::Grow(512 << 20));
        assert_eq!(size("1.5K"), DiskSize::Absolute(1536));
        // No unit is bytes.
        assert_eq!(size("10"), DiskSize::Absolute(10));
        assert_eq!(size("3T"), DiskSize::Absolute(3 << 40));
    }

    #[test]
    fn sizes_pct_refuses() {
        for bad in [
            "", "+", "G", "1X", "1GB", "1GiB", "1g", "-1G", "1.G", ".5G", "++1G", "1 G", "1KK",
        ] {
            let error = bad.parse::<DiskSize>().unwrap_err();
            assert!(
                matches!(&error, Error::Parameters(errors) if errors.len() == 1
                    && errors[0].key == "size"
                    && errors[0].message == "value does not match the regex pattern"),
                "{bad}: {error:?}"
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
    fn each_problem_reads_as_pct_words_it() {
        let resize = |problem| Error::Resize {
            disk: "mp0".into(),
            problem,
        };
        let cases = [
            (
                resize(ResizeProblem::NotConfigured),
                "format error\nvolume: property is missing and it is not optional",
            ),
            (
                resize(ResizeProblem::NotAVolume {
                    volume: "/srv/bind".into(),
                }),
                "unable to parse volume ID '/srv/bind'",
            ),
            (
                resize(ResizeProblem::OwnedByAnother { owner: 10399 }),
                "can't resize mount point owned by another container (10399)",
            ),
            (resize(ResizeProblem::Shrink), "unable to shrink disk size"),
            (
                resize(ResizeProblem::SameSize),
                "disk is already at specified size",
            ),
            (
                resize(ResizeProblem::NoLoopDevice),
                "internal error: CT running but mount point not attached to a loop device",
            ),
            (
                Error::VolumeInUse {
                    volume: VolumeId::parse("local:100/vm-100-disk-0.raw").unwrap(),
                    device: "/dev/loop7".into(),
                },
                "volume 'local:100/vm-100-disk-0.raw' is in use by /dev/loop7",
            ),
        ];
        for (error, words) in cases {
            assert_eq!(error.to_string(), words, "{error:?}");
        }
    }

    #[test]
    fn an_unknown_size_keeps_the_storage_error_as_its_source() {
        use std::error::Error as _;
        let error = Error::Resize {
            disk: "rootfs".into(),
            problem: ResizeProblem::UnknownSize {
                volume: VolumeId::parse("local:100/vm-100-disk-0.raw").unwrap(),
                source: StorageError::Io {
                    context: "unable to stat".into(),
                    source: std::io::Error::from_raw_os_error(libc::EIO),
                },
            },
        };
        assert_eq!(
            error.to_string(),
            "Could not determine current size of volume 'local:100/vm-100-disk-0.raw'"
        );
        let storage = error.source().expect("the storage's error");
        assert!(storage.downcast_ref::<StorageError>().is_some());
        let os = storage
            .source()
            .and_then(|e| e.downcast_ref::<std::io::Error>());
        assert_eq!(os.and_then(|e| e.raw_os_error()), Some(libc::EIO));
    }

    #[test]
    fn a_failed_program_is_a_program_error_with_its_exit_code_and_stderr() {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "echo out; echo first >&2; echo >&2; echo second >&2; exit 3",
        ]);
        let output = command.output().unwrap();
        let error = program_failed(shown_command(&command), &output);
        assert!(
            matches!(&error, Error::Program { command, failure: ProgramFailure::Said { stderr, .. } }
                if command.starts_with("sh -c echo out;") && stderr == "first; second"),
            "{error:?}"
        );
        assert!(
            error.to_string().starts_with("command 'sh -c echo out;"),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .ends_with("' failed: exit code 3: first; second"),
            "{error}"
        );
        // Nothing on stderr: the exit code alone.
        let output = Command::new("false").output().unwrap();
        let error = program_failed("false".into(), &output);
        assert_eq!(error.to_string(), "command 'false' failed: exit code 1");
    }

    #[test]
    fn a_missing_capability_wraps_the_failed_resize2fs() {
        use std::error::Error as _;
        let failed = Error::Program {
            command: "resize2fs /dev/loop7".into(),
            failure: ProgramFailure::Said {
                status: std::os::unix::process::ExitStatusExt::from_raw(1 << 8),
                stderr: "Permission denied".into(),
            },
        };
        let error = Error::Resize {
            disk: "rootfs".into(),
            problem: ResizeProblem::NeedsSysResource {
                source: Box::new(failed),
            },
        };
        assert_eq!(
            error.to_string(),
            "growing a mounted file system needs CAP_SYS_RESOURCE, which this process lacks \
             (command 'resize2fs /dev/loop7' failed: exit code 1: Permission denied)"
        );
        let inner = error.source().and_then(|e| e.downcast_ref::<Error>());
        assert!(matches!(inner, Some(Error::Program { .. })), "{inner:?}");
    }

    #[test]
    fn sizes_print_as_pct_writes_them() {
        // The size= the config gets, for the sizes the tests resize to.
        assert_eq!(format_size((4 << 30) + (1 << 30)), "5G");
        assert_eq!(format_size(4608 << 20), "4608M");
    }
}
