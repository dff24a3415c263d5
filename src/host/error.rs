//! The library's error type. `Display` gives pct's message for each case.

use std::fmt;
use std::path::PathBuf;

use super::{CloneProblem, MoveProblem, ResizeProblem, TemplateProblem};
use crate::config::{ConfigError, IdMapError, PropertyError, SnapshotError, Vmid, VmidError};
use crate::host::fsck::FsckProblem;
use crate::host::transfer::{TransferDirection, TransferError};
use crate::mount::MountError;
use crate::runtime::{EscapeError, FilterError, PlanError, StartError, StartStep};
use crate::setup::SetupError;
use crate::storage::{StorageError, TemplateError, VolumeId};

/// A parameter pct would reject with `400 Parameter verification failed.`: the option and why.
/// `message` is pct's text as it is: the ones pct raises with `die` (format checks, property
/// strings) end with a newline, which pct prints as an empty line before the usage text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// The option the message is about (`memory`, `mp0`).
    pub key: String,
    /// pct's message for it.
    pub message: String,
}

/// A request pct refuses before it does anything, in pct's words (not a parameter error:
/// pct prints no usage for these).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// `pct set` with nothing to set, delete or revert.
    NoOptions,
    /// `--ssh-public-keys` with a line `ssh-keygen -l` does not accept.
    SshPublicKeys,
    /// `pct create` reading the template from stdin (`-`), which is for restores.
    PipeNeedsRestore,
    /// `pct create` with `mpN` options but no `rootfs`.
    MountPointsWithoutRootfs,
    /// `pct push`/`pull` with a `--perms` that is no mode.
    #[non_exhaustive]
    InvalidMode {
        /// The value as pct reads it (a `0` prepended where it had none).
        perms: String,
    },
    /// `--pool` names a pool the host's user.cfg does not have.
    #[non_exhaustive]
    NoSuchPool {
        /// The pool asked for.
        pool: String,
    },
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RequestError::NoOptions => "no options specified",
            RequestError::SshPublicKeys => "SSH public key validation error",
            RequestError::PipeNeedsRestore => "pipe can only be used with restore tasks",
            RequestError::MountPointsWithoutRootfs => {
                "mount points configured, but 'rootfs' not set - aborting"
            }
            RequestError::InvalidMode { perms } => return write!(f, "invalid mode: '{perms}'"),
            // pct's access check: a permission exception (HTTP 403) as its CLI prints it.
            RequestError::NoSuchPool { pool } => {
                return write!(
                    f,
                    "403 Permission check failed (pool '{pool}' does not exist)"
                );
            }
        })
    }
}

impl std::error::Error for RequestError {}

/// Why a `hookscript` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HookscriptProblem {
    /// The volume is not in a storage's snippets directory.
    NotSnippet,
    /// Nothing is at its path.
    Missing,
    /// It has no execute permission.
    NotExecutable,
}

/// Why `pct console` got no console.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsoleProblem {
    /// The container runs without its monitor, which serves the consoles.
    NoMonitor,
    /// Someone else holds the console.
    InUse,
    /// The monitor refused, for this reason.
    Refused(String),
}

/// A volume that was not freed, and why: `unable to free volume 'VOLID' - ...`.
#[derive(Debug)]
pub struct VolumeNotFreed {
    /// The volume.
    pub volume: VolumeId,
    /// What kept it.
    pub error: Error,
}

impl fmt::Display for VolumeNotFreed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unable to free volume '{}' - {}",
            self.volume, self.error
        )
    }
}

/// What went wrong, as an embedder can match it. New variants may come (`#[non_exhaustive]`);
/// the struct-like ones may gain fields, so match them with `..`. `Display` is pct's message.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Bad arguments; printed as pct's parameter-verification block.
    Parameters(Vec<ParamError>),
    /// The container has no config file on this host.
    #[non_exhaustive]
    NotFound {
        /// The container asked for.
        vmid: Vmid,
        /// The node whose config directory was searched.
        node: String,
    },
    /// `pct create` of an id that has a config already.
    #[non_exhaustive]
    AlreadyExists {
        /// The container id asked for.
        vmid: Vmid,
        /// The node that has its config.
        node: String,
    },
    /// `pct start` of a running container.
    #[non_exhaustive]
    AlreadyRunning {
        /// The running container.
        vmid: Vmid,
    },
    /// An operation that needs a running container found it stopped. `attach` and
    /// `transfer` tell which of pct's messages it is: `pct exec`/`enter`/`console`'s
    /// `container 'N' not running!`, `pct stop`/`shutdown`/`suspend`'s `CT N not running`,
    /// `pct push`'s `can only push files to a running CT` or `pct pull`'s
    /// `can only pull files from a running VM`.
    #[non_exhaustive]
    NotRunning {
        /// The stopped container.
        vmid: Vmid,
        /// `true` for the attaching calls (`exec`, `enter`, `console`) and their message.
        attach: bool,
        /// The copy refused (`pct push`, `pct pull`), if it is one.
        transfer: Option<TransferDirection>,
    },
    /// An operation that needs a stopped container found it running; pct says so after the
    /// operation's prefix (`unable to destroy CT N - container is running`), as a
    /// [`Error::Context`] around this, or (`overwrite`) as a forced create's
    /// `can't overwrite running container`.
    #[non_exhaustive]
    Running {
        /// The running container.
        vmid: Vmid,
        /// `true` when a forced create (restore) would have replaced it.
        overwrite: bool,
    },
    /// The config carries a lock (`create`, `backup`, `mounted`, ...) the operation may not
    /// pass.
    #[non_exhaustive]
    Locked {
        /// The locked container.
        vmid: Vmid,
        /// The config's `lock` value.
        lock: String,
    },
    /// `protection: 1` refused a destroy, or (`restore`) the overwrite by a forced create.
    #[non_exhaustive]
    Protected {
        /// The protected container.
        vmid: Vmid,
        /// `true` when a forced create (restore) was refused.
        restore: bool,
    },
    /// A step of `pct start` failed; `source` says which and, through its own `source()`,
    /// the operating-system error underneath when there is one.
    #[non_exhaustive]
    Start {
        /// The container that did not start.
        vmid: Vmid,
        /// The step that failed (also `source.step()`).
        step: StartStep,
        /// What failed in that step.
        source: StartError,
    },
    /// The config lock stayed taken by another process for pct's timeout.
    #[non_exhaustive]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
    },
    /// A stop or shutdown asked for was not confirmed in time.
    #[non_exhaustive]
    StopTimeout {
        /// The container still running.
        vmid: Vmid,
    },
    /// pct's task prefix (`unable to create CT 100 - ...`) before what went wrong inside;
    /// [`Error::root_cause`] reaches that.
    Context {
        /// pct's prefix, ending with ` -` where pct has one.
        prefix: String,
        /// The error inside.
        source: Box<Error>,
    },
    /// The operation failed (`source`), and undoing it left something behind: `left` says
    /// what, one line each (`unable to free volume 'local:100/vm-100-disk-0.raw' - ...`).
    #[non_exhaustive]
    Incomplete {
        /// The error of the operation.
        source: Box<Error>,
        /// What undoing it left behind, one line each.
        left: Vec<String>,
    },
    /// A config file that cannot be read or parsed.
    Config(ConfigError),
    /// A storage or volume error.
    Storage(StorageError),
    /// A volume that cannot be mounted or unmounted.
    Mount(MountError),
    /// A template that cannot be read or extracted.
    Template(TemplateError),
    /// A bad id map.
    IdMap(IdMapError),
    /// A text that is not a container id.
    Vmid(VmidError),
    /// A config the start plan refuses, outside a start (an attach that rebuilds the plan
    /// of a running container). A start reports it as [`Error::Start`] at
    /// [`StartStep::Plan`].
    Plan(PlanError),
    /// A seccomp policy without a filter (an attach compiles the container's).
    Seccomp(FilterError),
    /// A console escape (`--escape`) that is no key.
    ConsoleEscape(EscapeError),
    /// Guest setup (`pct create`'s post-create steps) failed, or the config it reads.
    Setup(SetupError),
    /// A system call that failed, with what it was doing.
    Io {
        /// What failed, in pct's words.
        context: String,
        /// The system's error.
        source: std::io::Error,
    },
    /// The caller cancelled the operation (e.g. `pct create` got SIGINT); what it had done is
    /// undone.
    Interrupted,
    // The host's refusals and failures, each a case an embedder may act on.
    /// The config lock's file cannot be opened (`acquire: false`) or locked.
    #[non_exhaustive]
    LockFile {
        /// The lock file.
        path: PathBuf,
        /// `true` when the file opened but `flock` failed.
        acquire: bool,
        /// The system's error.
        source: std::io::Error,
    },
    /// The root given to [`Host::open`](crate::Host::open) is not a directory.
    #[non_exhaustive]
    HostRoot {
        /// The root asked for.
        path: PathBuf,
    },
    /// A line of the host's settings (`etc/corral/host.conf`) with a value corral does not
    /// know. Only the operations that depend on the setting refuse it.
    #[non_exhaustive]
    HostConfig {
        /// The settings file.
        path: PathBuf,
        /// The line, counted from 1.
        line: usize,
        /// What is wrong with it, naming the values allowed.
        message: String,
    },
    /// A request pct refuses before doing anything, outside parameter verification.
    Request(RequestError),
    /// The config changed since the caller read it (its digest differs).
    #[non_exhaustive]
    ConfigChanged {
        /// The container.
        vmid: Vmid,
    },
    /// A config value that does not parse (`rootfs`, `mp0`, `dev0`): the key and why.
    #[non_exhaustive]
    ConfigValue {
        /// The option.
        key: String,
        /// pct's message for its value.
        source: PropertyError,
    },
    /// An option the operation needs is not in the config (`rootfs`).
    #[non_exhaustive]
    MissingConfig {
        /// The option.
        key: String,
    },
    /// Removing a lock found none, or another one than expected.
    #[non_exhaustive]
    UnexpectedLock {
        /// The container.
        vmid: Vmid,
        /// The config's lock, if any.
        found: Option<String>,
        /// The lock that was to be removed; `None` for any.
        expected: Option<String>,
    },
    /// `pct start` of a template.
    #[non_exhaustive]
    IsTemplate {
        /// The template.
        vmid: Vmid,
    },
    /// A command cannot join the container because it is frozen (`pct suspend`).
    #[non_exhaustive]
    Suspended {
        /// The frozen container.
        vmid: Vmid,
    },
    /// The container stopped and how it ended was not recorded.
    #[non_exhaustive]
    ExitUnknown {
        /// The container.
        vmid: Vmid,
        /// `true` when its monitor ran but wrote no end; `false` when it ran without one.
        monitor: bool,
    },
    /// A bind-mount source path with a symlink in it.
    #[non_exhaustive]
    BindSymlink {
        /// The path as the config names it.
        path: String,
    },
    /// A volume of the container that cannot be mounted.
    #[non_exhaustive]
    MountVolume {
        /// `rootfs`, `mp0`, ...
        key: String,
        /// The volume as the config names it.
        volume: String,
        /// What failed.
        source: MountError,
    },
    /// Volumes `pct destroy` could not free; the config (locked `destroyed`) stays to name
    /// them.
    #[non_exhaustive]
    VolumesNotFreed {
        /// The container.
        vmid: Vmid,
        /// Each volume left, with why.
        volumes: Vec<VolumeNotFreed>,
    },
    /// A `devN` whose path is missing or not a device node.
    #[non_exhaustive]
    Device {
        /// The device path.
        path: String,
        /// `true` when nothing is at the path.
        missing: bool,
    },
    /// A `hookscript` pct would not run.
    #[non_exhaustive]
    Hookscript {
        /// The volume id (`NotSnippet`) or the script's path.
        script: String,
        /// What is wrong with it.
        problem: HookscriptProblem,
    },
    /// The host has no cgroup v2 hierarchy (needed to freeze or thaw a container).
    NoCgroup2,
    /// The container's monitor refused a shutdown.
    #[non_exhaustive]
    ShutdownFailed {
        /// The container.
        vmid: Vmid,
        /// The monitor's reason.
        reason: String,
    },
    /// `pct console` could not get a console.
    #[non_exhaustive]
    Console {
        /// The container.
        vmid: Vmid,
        /// Why.
        problem: ConsoleProblem,
    },
    /// A command that cannot be run at all (a NUL byte in an argument, no program).
    #[non_exhaustive]
    InvalidCommand {
        /// Why, in corral's words.
        reason: String,
    },
    // The volume commands' refusals and failures (`pct resize`, `pct move-volume`).
    /// `pct resize` refused the volume, or (in its warning) could not grow the file system.
    #[non_exhaustive]
    Resize {
        /// `rootfs`, `mp0`, ...
        disk: String,
        /// What is wrong.
        problem: ResizeProblem,
    },
    /// `pct move-volume` refused the move.
    #[non_exhaustive]
    MoveVolume {
        /// What is wrong.
        problem: MoveProblem,
    },
    /// `pct template` refused to turn the container into a template.
    #[non_exhaustive]
    MakeTemplate {
        /// What is wrong.
        problem: TemplateProblem,
    },
    /// `pct clone` refused the clone (a failure while cloning is an [`Error::Context`]
    /// `clone failed:` around the cause instead).
    #[non_exhaustive]
    Clone {
        /// What is wrong.
        problem: CloneProblem,
    },
    /// `pct fsck` refused to check a volume.
    #[non_exhaustive]
    Fsck {
        /// The mount point asked for (`rootfs`, `mp0`).
        device: String,
        /// Why it was refused.
        problem: FsckProblem,
    },
    /// A host program an operation runs (`fsck`, `resize2fs`, `e2fsck`, `rsync`) did not
    /// start, or failed.
    #[non_exhaustive]
    Program {
        /// The command line, as pct shows it.
        command: String,
        /// How it failed.
        failure: ProgramFailure,
    },
    /// A volume an operation needs free is still attached to a loop device.
    #[non_exhaustive]
    VolumeInUse {
        /// The volume.
        volume: VolumeId,
        /// The loop device still backed by it.
        device: PathBuf,
    },
    /// `pct push` or `pct pull` could not copy the file.
    Transfer(TransferError),
    /// A snapshot step refused (`pct snapshot`, `delsnapshot`, `rollback`). A snapshot name
    /// pct's schema refuses is an [`Error::Parameters`] about `snapname` instead.
    Snapshot(SnapshotError),
}

/// How a host program failed ([`Error::Program`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum ProgramFailure {
    /// It could not be started (the error is the `source()`).
    Spawn(std::io::Error),
    /// It ended with a non-zero exit code or by a signal.
    Status(std::process::ExitStatus),
    /// It ended with a non-zero exit code or by a signal, and said why on stderr (its
    /// non-empty lines, joined by `; `).
    Said {
        /// How it ended.
        status: std::process::ExitStatus,
        /// What it wrote on stderr.
        stderr: String,
    },
}

/// An exit status in pct's words (`PVE::Tools::run_command`).
fn exit_status(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("got signal {signal}"),
        (None, None) => status.to_string(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Parameters(errors) => ParamErrors(errors).fmt(f),
            Error::NotFound { vmid, node } => write!(
                f,
                "Configuration file 'nodes/{node}/lxc/{vmid}.conf' does not exist"
            ),
            Error::AlreadyExists { vmid, node } => {
                write!(f, "CT {vmid} already exists on node '{node}'")
            }
            Error::AlreadyRunning { vmid } => write!(f, "CT {vmid} already running"),
            Error::NotRunning {
                transfer: Some(TransferDirection::Push),
                ..
            } => f.write_str("can only push files to a running CT"),
            Error::NotRunning {
                transfer: Some(TransferDirection::Pull),
                ..
            } => f.write_str("can only pull files from a running VM"),
            Error::NotRunning {
                vmid, attach: true, ..
            } => {
                write!(f, "container '{vmid}' not running!")
            }
            Error::NotRunning { vmid, .. } => write!(f, "CT {vmid} not running"),
            Error::Running {
                overwrite: false, ..
            } => f.write_str("container is running"),
            Error::Running { .. } => f.write_str("can't overwrite running container"),
            Error::Locked { lock, .. } => write!(f, "CT is locked ({lock})"),
            Error::Protected { vmid, restore } => {
                let refused = if *restore {
                    "unable to restore"
                } else {
                    "can't remove"
                };
                write!(f, "{refused} CT {vmid} - protection mode enabled")
            }
            // From the monitor on (once LXC would have been asked to start it), pct's
            // message ends with the line of a failed `lxc-start`.
            Error::Start {
                step: StartStep::Plan | StartStep::PreStartHook | StartStep::State,
                source,
                ..
            } => source.fmt(f),
            Error::Start { vmid, source, .. } => {
                write!(f, "{source}\nstartup for container '{vmid}' failed")
            }
            Error::LockTimeout { path } => {
                write!(f, "can't lock file '{}' - got timeout", path.display())
            }
            Error::StopTimeout { .. } => f.write_str("container did not stop"),
            Error::Context { prefix, source } => write!(f, "{prefix} {source}"),
            Error::Incomplete { source, left } => write!(f, "{source}\n{}", left.join("\n")),
            Error::Config(e) => e.fmt(f),
            Error::Storage(e) => e.fmt(f),
            Error::Mount(e) => e.fmt(f),
            Error::Template(e) => e.fmt(f),
            Error::IdMap(e) => e.fmt(f),
            Error::Vmid(e) => e.fmt(f),
            Error::Plan(e) => e.fmt(f),
            Error::Seccomp(e) => write!(f, "seccomp: {e}"),
            Error::ConsoleEscape(e) => e.fmt(f),
            Error::Setup(e) => e.fmt(f),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Interrupted => f.write_str(crate::cancel::INTERRUPTED),
            Error::LockFile {
                acquire: false,
                source,
                ..
            } => write!(f, "can't open file - {source}"),
            Error::LockFile { path, source, .. } => {
                write!(f, "can't acquire lock '{}' - {source}", path.display())
            }
            Error::HostRoot { path } => write!(
                f,
                "host root '{}' is not a directory",
                crate::text::for_message(path.as_os_str().as_encoded_bytes())
            ),
            Error::HostConfig {
                path,
                line,
                message,
            } => write!(f, "{}, line {line}: {message}", path.display()),
            Error::Request(e) => e.fmt(f),
            Error::ConfigChanged { .. } => f.write_str(
                "detected modified configuration - file changed by other user? Try again.",
            ),
            Error::ConfigValue { key, source } => write!(f, "{key}: {source}"),
            Error::MissingConfig { key } => write!(f, "missing '{key}' configuration"),
            Error::UnexpectedLock {
                found: None,
                expected,
                ..
            } => {
                // pct's words, with its double space after a named lock.
                let what = match expected {
                    Some(lock) => format!("'{lock}' "),
                    None => "any".into(),
                };
                write!(f, "no lock found trying to remove {what} lock")
            }
            Error::UnexpectedLock {
                found: Some(found),
                expected,
                ..
            } => write!(
                f,
                "found lock '{found}' trying to remove '{}' lock",
                expected.as_deref().unwrap_or_default()
            ),
            Error::IsTemplate { .. } => f.write_str("you can't start a CT if it's a template"),
            Error::Suspended { vmid } => write!(
                f,
                "CT {vmid} is suspended - resume it first ('pct resume {vmid}')"
            ),
            Error::ExitUnknown {
                vmid,
                monitor: true,
            } => write!(f, "CT {vmid} stopped, but its monitor recorded no end"),
            Error::ExitUnknown { vmid, .. } => write!(
                f,
                "CT {vmid} stopped without its monitor; how it ended is unknown"
            ),
            Error::BindSymlink { path } => {
                write!(f, "mount point path '{path}' contains a symlink")
            }
            Error::MountVolume {
                key,
                volume,
                source,
            } => write!(f, "unable to mount {key} ({volume}): {source}"),
            Error::VolumesNotFreed { volumes, .. } => {
                for (index, volume) in volumes.iter().enumerate() {
                    if index > 0 {
                        f.write_str("\n")?;
                    }
                    volume.fmt(f)?;
                }
                Ok(())
            }
            Error::Device {
                path,
                missing: true,
            } => write!(f, "Device {path} does not exist"),
            Error::Device { path, .. } => write!(f, "{path} is not a device"),
            Error::Hookscript { script, problem } => match problem {
                HookscriptProblem::NotSnippet => {
                    write!(f, "'{script}' is not in the snippets directory")
                }
                HookscriptProblem::Missing => write!(f, "script '{script}' does not exist"),
                HookscriptProblem::NotExecutable => {
                    write!(f, "script '{script}' is not executable")
                }
            },
            Error::NoCgroup2 => f.write_str("no cgroup v2 hierarchy on this host"),
            Error::ShutdownFailed { reason, .. } => write!(f, "shutdown failed: {reason}"),
            Error::Console { vmid, problem } => match problem {
                ConsoleProblem::NoMonitor => write!(
                    f,
                    "console of container '{vmid}' unavailable: its monitor is not running"
                ),
                ConsoleProblem::InUse => write!(f, "console of container '{vmid}' is in use"),
                ConsoleProblem::Refused(reason) => write!(f, "console: {reason}"),
            },
            Error::InvalidCommand { reason } => f.write_str(reason),
            Error::Resize { problem, .. } => problem.fmt(f),
            Error::MoveVolume { problem } => problem.fmt(f),
            Error::MakeTemplate { problem } => problem.fmt(f),
            Error::Clone { problem } => problem.fmt(f),
            Error::VolumeInUse { volume, device } => {
                write!(f, "volume '{volume}' is in use by {}", device.display())
            }
            Error::Fsck { device, problem } => match problem {
                FsckProblem::NoMountPoint => {
                    write!(f, "cannot run command on non-existing mount point {device}")
                }
                FsckProblem::Running => f.write_str("cannot run fsck when container is running"),
                FsckProblem::Format { volume, format } => {
                    write!(f, "unable to run fsck for '{volume}' (format == {format})")
                }
                FsckProblem::NotBlockDevice { volume } => {
                    write!(f, "path '{volume}' does not point to a block device")
                }
            },
            Error::Program { command, failure } => {
                write!(f, "command '{command}' failed: ")?;
                match failure {
                    ProgramFailure::Spawn(e) => e.fmt(f),
                    ProgramFailure::Status(status) => exit_status(status).fmt(f),
                    ProgramFailure::Said { status, stderr } => {
                        write!(f, "{}: {stderr}", exit_status(status))
                    }
                }
            }
            Error::Transfer(e) => e.fmt(f),
            Error::Snapshot(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    /// The error underneath: a context's inner [`Error`] (itself, not a box, so that
    /// `downcast_ref::<Error>` finds it), a failed start step, a guest setup error (the
    /// [`SetupError`] itself, to match on), an operating-system error.
    /// The errors of the config, storage and mount layers show their own text and hand on
    /// their source.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Start { source, .. } => Some(source),
            Error::Context { source, .. } | Error::Incomplete { source, .. } => {
                Some(source.as_ref())
            }
            Error::Io { source, .. } => Some(source),
            Error::LockFile { source, .. } => Some(source),
            Error::ConfigValue { source, .. } => Some(source),
            Error::MountVolume { source, .. } => Some(source),
            Error::Plan(e) => Some(e),
            Error::Seccomp(e) => Some(e),
            Error::ConsoleEscape(e) => Some(e),
            Error::Config(e) => e.source(),
            Error::Storage(e) => e.source(),
            Error::Mount(e) => e.source(),
            Error::Template(e) => e.source(),
            Error::IdMap(e) => e.source(),
            Error::Vmid(e) => e.source(),
            Error::Setup(e) => Some(e),
            Error::Resize { problem, .. } => problem.source(),
            Error::Program {
                failure: ProgramFailure::Spawn(e),
                ..
            } => Some(e),
            Error::Transfer(e) => Some(e),
            _ => None,
        }
    }
}

macro_rules! from_layer {
    ($($variant:ident($error:ty)),*) => {
        $(impl From<$error> for Error {
            fn from(error: $error) -> Error {
                Error::$variant(error)
            }
        })*
    };
}

from_layer!(
    Config(ConfigError),
    Storage(StorageError),
    Mount(MountError),
    Template(TemplateError),
    IdMap(IdMapError),
    Vmid(VmidError),
    Plan(PlanError),
    Seccomp(FilterError),
    ConsoleEscape(EscapeError),
    Setup(SetupError),
    Transfer(TransferError)
);

impl From<SnapshotError> for Error {
    fn from(error: SnapshotError) -> Error {
        match error {
            // pct's schema checks the name before the API sees it.
            SnapshotError::InvalidName { message, .. } => Error::param("snapname", message),
            other => Error::Snapshot(other),
        }
    }
}

impl Error {
    /// A parameter error about one option.
    pub fn param(key: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Parameters(vec![ParamError {
            key: key.into(),
            message: message.into(),
        }])
    }

    /// An [`Error::Io`] with its context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn not_found(vmid: Vmid, node: &str) -> Error {
        Error::NotFound {
            vmid,
            node: node.to_string(),
        }
    }

    pub(crate) fn already_exists(vmid: Vmid, node: &str) -> Error {
        Error::AlreadyExists {
            vmid,
            node: node.to_string(),
        }
    }

    pub(crate) fn already_running(vmid: Vmid) -> Error {
        Error::AlreadyRunning { vmid }
    }

    /// `CT N not running` (`attach`: `container 'N' not running!`).
    pub(crate) fn not_running(vmid: Vmid, attach: bool) -> Error {
        Error::NotRunning {
            vmid,
            attach,
            transfer: None,
        }
    }

    /// `unable to <operation> CT N - container is running`.
    pub(crate) fn running(vmid: Vmid, operation: &str) -> Error {
        Error::Running {
            vmid,
            overwrite: false,
        }
        .context(&format!("unable to {operation} CT {vmid} -"))
    }

    /// `error`, then what undoing it left behind, when anything.
    pub(crate) fn with_leftovers(error: Error, left: Vec<String>) -> Error {
        if left.is_empty() {
            return error;
        }
        Error::Incomplete {
            source: Box::new(error),
            left,
        }
    }

    pub(crate) fn locked(vmid: Vmid, lock: &str) -> Error {
        Error::Locked {
            vmid,
            lock: lock.to_string(),
        }
    }

    /// `can't remove CT N - ...` (`restore`: `unable to restore CT N - ...`).
    pub(crate) fn protected(vmid: Vmid, restore: bool) -> Error {
        Error::Protected { vmid, restore }
    }

    pub(crate) fn start(vmid: Vmid, source: StartError) -> Error {
        Error::Start {
            vmid,
            step: source.step(),
            source,
        }
    }

    pub(crate) fn lock_timeout(path: &std::path::Path) -> Error {
        Error::LockTimeout {
            path: path.to_path_buf(),
        }
    }

    pub(crate) fn stop_timeout(vmid: Vmid) -> Error {
        Error::StopTimeout { vmid }
    }

    /// Prefix the message as pct does for a failed task (`unable to create CT 100 - ...`),
    /// keeping the error underneath as the source.
    pub fn context(self, prefix: &str) -> Error {
        match self {
            Error::Parameters(_) => self,
            other => Error::Context {
                prefix: prefix.to_string(),
                source: Box::new(other),
            },
        }
    }

    /// The error under every [`Error::Context`] prefix (and [`Error::Incomplete`] cleanup
    /// report): what happened, to match on.
    pub fn root_cause(&self) -> &Error {
        match self {
            Error::Context { source, .. } | Error::Incomplete { source, .. } => source.root_cause(),
            other => other,
        }
    }
}

struct ParamErrors<'a>(&'a [ParamError]);

impl fmt::Display for ParamErrors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "400 Parameter verification failed.")?;
        for error in self.0 {
            write!(f, "\n{}: {}", error.key, error.message)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    fn vmid(id: u32) -> Vmid {
        Vmid::new(id).unwrap()
    }

    #[test]
    fn each_variant_reads_as_pct_words_it() {
        let cases = [
            (
                Error::not_found(vmid(100), "pve1"),
                "Configuration file 'nodes/pve1/lxc/100.conf' does not exist",
            ),
            (
                Error::already_exists(vmid(100), "pve1"),
                "CT 100 already exists on node 'pve1'",
            ),
            (Error::already_running(vmid(940)), "CT 940 already running"),
            (Error::not_running(vmid(101), false), "CT 101 not running"),
            (
                Error::not_running(vmid(101), true),
                "container '101' not running!",
            ),
            (Error::locked(vmid(100), "create"), "CT is locked (create)"),
            (
                Error::protected(vmid(102), false),
                "can't remove CT 102 - protection mode enabled",
            ),
            (
                Error::protected(vmid(102), true),
                "unable to restore CT 102 - protection mode enabled",
            ),
            (
                Error::lock_timeout(std::path::Path::new("/run/lock/lxc/pve-config-100.lock")),
                "can't lock file '/run/lock/lxc/pve-config-100.lock' - got timeout",
            ),
            (Error::stop_timeout(vmid(100)), "container did not stop"),
            (
                Error::param("memory", "value must be at least 16"),
                "400 Parameter verification failed.\nmemory: value must be at least 16",
            ),
            (
                Error::LockFile {
                    path: "/run/lock/lxc/pve-config-100.lock".into(),
                    acquire: false,
                    source: std::io::Error::from_raw_os_error(libc::EACCES),
                },
                "can't open file - Permission denied (os error 13)",
            ),
            (
                Error::LockFile {
                    path: "/run/lock/lxc/pve-config-100.lock".into(),
                    acquire: true,
                    source: std::io::Error::from_raw_os_error(libc::ENOLCK),
                },
                "can't acquire lock '/run/lock/lxc/pve-config-100.lock' - \
                 No locks available (os error 37)",
            ),
            (
                Error::Running {
                    vmid: vmid(100),
                    overwrite: true,
                },
                "can't overwrite running container",
            ),
            (
                Error::HostRoot {
                    path: "/no/such".into(),
                },
                "host root '/no/such' is not a directory",
            ),
            (
                Error::HostConfig {
                    path: "/etc/corral/host.conf".into(),
                    line: 3,
                    message: "idmap: invalid value 'x' (auto, newuidmap or direct)".into(),
                },
                "/etc/corral/host.conf, line 3: idmap: invalid value 'x' \
                 (auto, newuidmap or direct)",
            ),
            (
                Error::Request(RequestError::NoOptions),
                "no options specified",
            ),
            (
                Error::Request(RequestError::SshPublicKeys),
                "SSH public key validation error",
            ),
            (
                Error::Request(RequestError::PipeNeedsRestore),
                "pipe can only be used with restore tasks",
            ),
            (
                Error::Request(RequestError::MountPointsWithoutRootfs),
                "mount points configured, but 'rootfs' not set - aborting",
            ),
            (
                Error::ConfigChanged { vmid: vmid(100) },
                "detected modified configuration - file changed by other user? Try again.",
            ),
            (
                Error::ConfigValue {
                    key: "mp0".into(),
                    source: PropertyError("invalid format".into()),
                },
                "mp0: invalid format",
            ),
            (
                Error::MissingConfig {
                    key: "rootfs".into(),
                },
                "missing 'rootfs' configuration",
            ),
            (
                Error::UnexpectedLock {
                    vmid: vmid(100),
                    found: None,
                    expected: None,
                },
                "no lock found trying to remove any lock",
            ),
            (
                Error::UnexpectedLock {
                    vmid: vmid(100),
                    found: None,
                    expected: Some("mounted".into()),
                },
                "no lock found trying to remove 'mounted'  lock",
            ),
            (
                Error::UnexpectedLock {
                    vmid: vmid(100),
                    found: Some("backup".into()),
                    expected: Some("mounted".into()),
                },
                "found lock 'backup' trying to remove 'mounted' lock",
            ),
            (
                Error::IsTemplate { vmid: vmid(100) },
                "you can't start a CT if it's a template",
            ),
            (
                Error::Suspended { vmid: vmid(100) },
                "CT 100 is suspended - resume it first ('pct resume 100')",
            ),
            (
                Error::ExitUnknown {
                    vmid: vmid(100),
                    monitor: true,
                },
                "CT 100 stopped, but its monitor recorded no end",
            ),
            (
                Error::ExitUnknown {
                    vmid: vmid(100),
                    monitor: false,
                },
                "CT 100 stopped without its monitor; how it ended is unknown",
            ),
            (
                Error::BindSymlink {
                    path: "/srv/link".into(),
                },
                "mount point path '/srv/link' contains a symlink",
            ),
            (
                Error::Device {
                    path: "/dev/nope".into(),
                    missing: true,
                },
                "Device /dev/nope does not exist",
            ),
            (
                Error::Device {
                    path: "/etc/hosts".into(),
                    missing: false,
                },
                "/etc/hosts is not a device",
            ),
            (
                Error::Hookscript {
                    script: "local:vztmpl/x".into(),
                    problem: HookscriptProblem::NotSnippet,
                },
                "'local:vztmpl/x' is not in the snippets directory",
            ),
            (
                Error::Hookscript {
                    script: "/s/hook.pl".into(),
                    problem: HookscriptProblem::Missing,
                },
                "script '/s/hook.pl' does not exist",
            ),
            (
                Error::Hookscript {
                    script: "/s/hook.pl".into(),
                    problem: HookscriptProblem::NotExecutable,
                },
                "script '/s/hook.pl' is not executable",
            ),
            (Error::NoCgroup2, "no cgroup v2 hierarchy on this host"),
            (
                Error::NotRunning {
                    vmid: vmid(100),
                    attach: false,
                    transfer: Some(TransferDirection::Push),
                },
                "can only push files to a running CT",
            ),
            (
                Error::NotRunning {
                    vmid: vmid(100),
                    attach: false,
                    transfer: Some(TransferDirection::Pull),
                },
                "can only pull files from a running VM",
            ),
            (
                Error::Request(RequestError::InvalidMode {
                    perms: "0abc".into(),
                }),
                "invalid mode: '0abc'",
            ),
            (
                Error::Fsck {
                    device: "mp7".into(),
                    problem: FsckProblem::NoMountPoint,
                },
                "cannot run command on non-existing mount point mp7",
            ),
            (
                Error::Fsck {
                    device: "rootfs".into(),
                    problem: FsckProblem::Running,
                },
                "cannot run fsck when container is running",
            ),
            (
                Error::Fsck {
                    device: "mp0".into(),
                    problem: FsckProblem::Format {
                        volume: "local:100/subvol-100-disk-1.subvol".into(),
                        format: "subvol".into(),
                    },
                },
                "unable to run fsck for 'local:100/subvol-100-disk-1.subvol' (format == subvol)",
            ),
            (
                Error::Fsck {
                    device: "mp1".into(),
                    problem: FsckProblem::NotBlockDevice {
                        volume: "/bind".into(),
                    },
                },
                "path '/bind' does not point to a block device",
            ),
            (
                Error::Program {
                    command: "fsck -a -l /dev/x".into(),
                    failure: ProgramFailure::Status(
                        std::os::unix::process::ExitStatusExt::from_raw(1 << 8),
                    ),
                },
                "command 'fsck -a -l /dev/x' failed: exit code 1",
            ),
            (
                Error::Program {
                    command: "fsck -a -l /dev/x".into(),
                    failure: ProgramFailure::Status(
                        std::os::unix::process::ExitStatusExt::from_raw(libc::SIGKILL),
                    ),
                },
                "command 'fsck -a -l /dev/x' failed: got signal 9",
            ),
            (
                Error::Program {
                    command: "fsck -a -l /dev/x".into(),
                    failure: ProgramFailure::Spawn(std::io::Error::from_raw_os_error(libc::ENOENT)),
                },
                "command 'fsck -a -l /dev/x' failed: No such file or directory (os error 2)",
            ),
            (
                Error::Transfer(TransferError::Create {
                    path: "/root/x".into(),
                    source: std::io::Error::from_raw_os_error(libc::ENOENT),
                }),
                "failed to create file: /root/x: No such file or directory",
            ),
            (
                Error::ShutdownFailed {
                    vmid: vmid(100),
                    reason: "busy".into(),
                },
                "shutdown failed: busy",
            ),
            (
                Error::Console {
                    vmid: vmid(100),
                    problem: ConsoleProblem::NoMonitor,
                },
                "console of container '100' unavailable: its monitor is not running",
            ),
            (
                Error::Console {
                    vmid: vmid(100),
                    problem: ConsoleProblem::InUse,
                },
                "console of container '100' is in use",
            ),
            (
                Error::Console {
                    vmid: vmid(100),
                    problem: ConsoleProblem::Refused("no tty".into()),
                },
                "console: no tty",
            ),
            (
                Error::InvalidCommand {
                    reason: "missing command".into(),
                },
                "missing command",
            ),
            (
                Error::VolumesNotFreed {
                    vmid: vmid(100),
                    volumes: vec![
                        VolumeNotFreed {
                            volume: VolumeId::parse("local:100/vm-100-disk-0.raw").unwrap(),
                            error: Error::io(
                                "unable to detach /dev/loop3",
                                std::io::Error::from_raw_os_error(libc::EBUSY),
                            ),
                        },
                        VolumeNotFreed {
                            volume: VolumeId::parse("local:100/vm-100-disk-1.raw").unwrap(),
                            error: Error::io(
                                "unable to read the mount table",
                                std::io::Error::from_raw_os_error(libc::EIO),
                            ),
                        },
                    ],
                },
                "unable to free volume 'local:100/vm-100-disk-0.raw' - unable to detach \
                 /dev/loop3: Device or resource busy (os error 16)\n\
                 unable to free volume 'local:100/vm-100-disk-1.raw' - unable to read the \
                 mount table: Input/output error (os error 5)",
            ),
        ];
        for (error, words) in cases {
            assert_eq!(error.to_string(), words, "{error:?}");
        }
    }

    #[test]
    fn a_failed_start_names_the_container_after_the_monitor_started() {
        let exec = StartError::io(
            StartStep::Exec,
            "unable to exec init '/sbin/init'",
            std::io::Error::from_raw_os_error(libc::ENOENT),
        );
        let error = Error::start(vmid(100), exec);
        assert_eq!(
            error.to_string(),
            "unable to exec init '/sbin/init': No such file or directory (os error 2)\n\
             startup for container '100' failed"
        );
        assert!(matches!(
            error,
            Error::Start {
                step: StartStep::Exec,
                ..
            }
        ));
        // The chain: the step's error, then the operating-system error.
        let step = error.source().expect("the step's error");
        let os = step.source().expect("the errno");
        assert_eq!(
            os.downcast_ref::<std::io::Error>()
                .and_then(|e| e.raw_os_error()),
            Some(libc::ENOENT)
        );
    }

    #[test]
    fn a_start_refused_before_the_monitor_is_the_message_alone() {
        let hook = StartError::new(
            StartStep::PreStartHook,
            "hookscript error for 100 on pre-start",
        );
        let error = Error::start(vmid(100), hook);
        assert_eq!(error.to_string(), "hookscript error for 100 on pre-start");
        assert!(error.source().unwrap().source().is_none());
    }

    #[test]
    fn context_prefixes_the_message_and_keeps_the_error_underneath() {
        let error = Error::locked(vmid(100), "backup")
            .context("unable to create CT 100 -")
            .context("outer -");
        assert_eq!(
            error.to_string(),
            "outer - unable to create CT 100 - CT is locked (backup)"
        );
        assert!(matches!(
            error.root_cause(),
            Error::Locked { vmid, lock, .. } if vmid.get() == 100 && lock == "backup"
        ));
        let inner = error.source().and_then(|e| e.downcast_ref::<Error>());
        assert!(matches!(inner, Some(Error::Context { .. })));
        // Parameter errors keep their own block, without a prefix.
        let params = Error::param("rootfs", "missing").context("unable to create CT 100 -");
        assert!(matches!(params, Error::Parameters(_)));
    }

    #[test]
    fn a_running_container_is_refused_under_the_operation_prefix() {
        let error = Error::running(vmid(103), "destroy");
        assert_eq!(
            error.to_string(),
            "unable to destroy CT 103 - container is running"
        );
        assert!(matches!(error.root_cause(), Error::Running { vmid, .. } if vmid.get() == 103));
    }

    #[test]
    fn leftovers_follow_the_error_and_keep_it_as_the_source() {
        let failed = Error::Interrupted.context("unable to create CT 100 -");
        let error = Error::with_leftovers(
            failed,
            vec![
                "unable to free volume 'a' - busy".into(),
                "unable to free volume 'b' - busy".into(),
            ],
        );
        assert_eq!(
            error.to_string(),
            format!(
                "unable to create CT 100 - {}\nunable to free volume 'a' - busy\n\
                 unable to free volume 'b' - busy",
                crate::cancel::INTERRUPTED
            )
        );
        assert!(matches!(error, Error::Incomplete { .. }));
        assert!(matches!(error.root_cause(), Error::Interrupted));
        // Nothing left: the error as it is.
        let error = Error::with_leftovers(Error::Interrupted, Vec::new());
        assert!(matches!(error, Error::Interrupted));
    }

    #[test]
    fn errors_travel_between_threads() {
        // An embedder's async tasks and worker threads pass errors on (`anyhow`, `Box<dyn
        // Error + Send + Sync>`).
        fn sendable<T: Send + Sync + 'static>() {}
        sendable::<Error>();
        sendable::<StartError>();
        sendable::<SetupError>();
    }

    #[test]
    fn a_setup_error_reads_as_its_own_words_and_is_the_source() {
        let setup = SetupError::io(
            crate::setup::FileAction::Write,
            "/etc/hostname",
            std::io::Error::from_raw_os_error(libc::EROFS),
        );
        let error = Error::from(setup).context("unable to create CT 100 -");
        assert_eq!(
            error.to_string(),
            "unable to create CT 100 - unable to write '/etc/hostname': \
             Read-only file system (os error 30)"
        );
        assert!(matches!(
            error.root_cause(),
            Error::Setup(SetupError::Io { path, .. }) if path == "/etc/hostname"
        ));
        // The chain: the context's error, the setup error, the errno.
        let setup = error.source().and_then(|e| e.source()).expect("setup");
        assert!(setup.downcast_ref::<SetupError>().is_some());
        let os = setup
            .source()
            .and_then(|e| e.downcast_ref::<std::io::Error>());
        assert_eq!(os.and_then(|e| e.raw_os_error()), Some(libc::EROFS));
    }

    #[test]
    fn plan_and_seccomp_errors_outside_a_start_keep_their_typed_source() {
        use crate::runtime::{MountEntryError, PolicyError};
        let entry = MountEntryError::EmptyOption;
        let error = Error::from(PlanError::from(entry.clone())).context("outer -");
        assert_eq!(
            error.to_string(),
            "outer - lxc.mount.entry: empty mount option"
        );
        assert!(matches!(
            error.root_cause(),
            Error::Plan(PlanError::MountEntry(MountEntryError::EmptyOption))
        ));
        let plan = error.root_cause().source().expect("the plan's error");
        assert!(plan.downcast_ref::<PlanError>().is_some());
        assert_eq!(plan.source().and_then(|e| e.downcast_ref()), Some(&entry));

        let error = Error::from(FilterError::from(PolicyError::Empty));
        assert_eq!(error.to_string(), "seccomp: empty seccomp policy");
        let filter = error.source().and_then(|e| e.downcast_ref::<FilterError>());
        assert!(matches!(
            filter,
            Some(FilterError::Policy(PolicyError::Empty))
        ));
    }

    #[test]
    fn program_and_transfer_errors_keep_the_system_error_as_their_source() {
        let errno = |error: &Error| {
            let mut source = error.source();
            while let Some(e) = source {
                if let Some(io) = e.downcast_ref::<std::io::Error>() {
                    return io.raw_os_error();
                }
                source = e.source();
            }
            None
        };
        let spawn = Error::Program {
            command: "fsck".into(),
            failure: ProgramFailure::Spawn(std::io::Error::from_raw_os_error(libc::ENOENT)),
        };
        assert_eq!(errno(&spawn), Some(libc::ENOENT));
        let exit = Error::Program {
            command: "fsck".into(),
            failure: ProgramFailure::Status(std::os::unix::process::ExitStatusExt::from_raw(
                1 << 8,
            )),
        };
        assert_eq!(errno(&exit), None);
        let chown = Error::from(TransferError::Chown {
            path: "/root/x".into(),
            source: std::io::Error::from_raw_os_error(libc::EINVAL),
        });
        assert!(
            chown
                .source()
                .is_some_and(|e| e.downcast_ref::<TransferError>().is_some())
        );
        assert_eq!(errno(&chown), Some(libc::EINVAL));
    }

    #[test]
    fn root_cause_of_a_plain_error_is_itself() {
        let error = Error::already_running(vmid(940));
        assert!(matches!(error.root_cause(), Error::AlreadyRunning { .. }));
    }

    #[test]
    fn root_cause_reaches_the_host_errors_under_prefixes_and_leftovers() {
        // A lock file that cannot be opened, inside create's task prefix, with leftovers.
        let lock = Error::LockFile {
            path: "/run/lock/lxc/pve-config-100.lock".into(),
            acquire: false,
            source: std::io::Error::from_raw_os_error(libc::EROFS),
        };
        let error = Error::with_leftovers(
            lock.context("unable to create CT 100 -"),
            vec!["unable to free volume 'a' - busy".into()],
        );
        assert!(matches!(
            error.root_cause(),
            Error::LockFile { acquire: false, .. }
        ));
        // The io::Error stays reachable as the root cause's source.
        let os = error
            .root_cause()
            .source()
            .and_then(|e| e.downcast_ref::<std::io::Error>());
        assert_eq!(os.and_then(|e| e.raw_os_error()), Some(libc::EROFS));
        // A volume key's prefix (`mp0: ...`) before a refused bind mount source.
        let symlink = Error::BindSymlink {
            path: "/srv/link".into(),
        }
        .context("mp0:");
        assert_eq!(
            symlink.to_string(),
            "mp0: mount point path '/srv/link' contains a symlink"
        );
        assert!(matches!(symlink.root_cause(), Error::BindSymlink { .. }));
        // Errors that are their own cause.
        for error in [
            Error::ConfigChanged { vmid: vmid(100) },
            Error::Request(RequestError::NoOptions),
            Error::VolumesNotFreed {
                vmid: vmid(100),
                volumes: Vec::new(),
            },
        ] {
            assert!(std::ptr::eq(error.root_cause(), &error), "{error:?}");
        }
    }

    #[test]
    fn a_config_value_error_keeps_the_property_error_as_its_source() {
        let error = Error::ConfigValue {
            key: "dev0".into(),
            source: PropertyError("invalid path".into()),
        };
        let source = error
            .source()
            .and_then(|e| e.downcast_ref::<PropertyError>());
        assert_eq!(source, Some(&PropertyError("invalid path".into())));
    }
}
