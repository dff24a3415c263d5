//! Why a start failed: the step (staging a volume, the cgroup, cloning init, exec, ...) and
//! the operating-system error underneath, kept typed across the two process boundaries a
//! start crosses (init's child reports to the monitor, the monitor reports to the caller),
//! where only text travels: the step and the errno go as a header line before the message.

use std::fmt;
use std::io;

use super::hooks::HookError;
use super::plan::PlanError;

/// The step of a start that failed, from the plan to init's exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StartStep {
    /// Building the start plan from the config and the host's facts.
    Plan,
    /// The hookscript's `pre-start` phase.
    PreStartHook,
    /// Recording the start in the container's run state directory.
    State,
    /// Forking the monitor, or the monitor dying before it reported.
    Monitor,
    /// The monitor's own mount namespace and command socket.
    MonitorSetup,
    /// Mounting a volume (rootfs or a mount point) at the staged rootfs.
    Mount,
    /// The guest's pre-start setup (hostname, network files, ...).
    GuestSetup,
    /// Passthrough device nodes, consoles and ttys.
    Devices,
    /// Creating and configuring the container's cgroup.
    Cgroup,
    /// Compiling or installing the seccomp filter.
    Seccomp,
    /// Loading or entering the AppArmor profile.
    AppArmor,
    /// Cloning init into its namespaces.
    Clone,
    /// Writing init's uid and gid maps.
    IdMap,
    /// The network: host side of the veth pairs, or the links inside.
    Network,
    /// Init's setup inside its namespaces: rootfs assembly and pivot, hostname, sysctls,
    /// limits, console, capabilities.
    Setup,
    /// Executing init.
    Exec,
}

impl StartStep {
    const ALL: [StartStep; 16] = [
        StartStep::Plan,
        StartStep::PreStartHook,
        StartStep::State,
        StartStep::Monitor,
        StartStep::MonitorSetup,
        StartStep::Mount,
        StartStep::GuestSetup,
        StartStep::Devices,
        StartStep::Cgroup,
        StartStep::Seccomp,
        StartStep::AppArmor,
        StartStep::Clone,
        StartStep::IdMap,
        StartStep::Network,
        StartStep::Setup,
        StartStep::Exec,
    ];

    /// The step's name on the report line between the processes of a start.
    pub fn name(self) -> &'static str {
        match self {
            StartStep::Plan => "plan",
            StartStep::PreStartHook => "pre-start-hook",
            StartStep::State => "state",
            StartStep::Monitor => "monitor",
            StartStep::MonitorSetup => "monitor-setup",
            StartStep::Mount => "mount",
            StartStep::GuestSetup => "guest-setup",
            StartStep::Devices => "devices",
            StartStep::Cgroup => "cgroup",
            StartStep::Seccomp => "seccomp",
            StartStep::AppArmor => "apparmor",
            StartStep::Clone => "clone",
            StartStep::IdMap => "idmap",
            StartStep::Network => "network",
            StartStep::Setup => "setup",
            StartStep::Exec => "exec",
        }
    }

    fn from_name(name: &str) -> Option<StartStep> {
        StartStep::ALL.into_iter().find(|step| step.name() == name)
    }
}

impl fmt::Display for StartStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed step of a start. `Display` is the message as pct shows it (the operating-system
/// error included); `source()` is that error, when the step failed on one, or the typed
/// error of the step (a [`PlanError`] for [`StartStep::Plan`]).
#[derive(Debug)]
pub struct StartError {
    step: StartStep,
    message: String,
    source: Option<Cause>,
}

/// The error under a failed step.
#[derive(Debug)]
enum Cause {
    Os(io::Error),
    Plan(PlanError),
    Hook(HookError),
}

/// Starts the header line of an encoded [`StartError`]; a report without it is a message of
/// an unknown step (e.g. from an older monitor).
const HEADER: &str = "\u{1e}start-error ";

impl StartError {
    /// A failure with no operating-system error underneath.
    pub(crate) fn new(step: StartStep, message: impl Into<String>) -> StartError {
        StartError {
            step,
            message: message.into(),
            source: None,
        }
    }

    /// `context: error`, with `error` as the source.
    pub(crate) fn io(step: StartStep, context: impl fmt::Display, source: io::Error) -> StartError {
        StartError {
            step,
            message: format!("{context}: {source}"),
            source: Some(Cause::Os(source)),
        }
    }

    /// A message that already names `cause`; its errno, when it has one, is the source.
    pub(crate) fn caused_by(
        step: StartStep,
        message: impl Into<String>,
        cause: &io::Error,
    ) -> StartError {
        StartError::with_errno(step, message, cause.raw_os_error())
    }

    /// A message that already names the operating-system error `errno`, when there is one.
    pub(crate) fn with_errno(
        step: StartStep,
        message: impl Into<String>,
        errno: Option<i32>,
    ) -> StartError {
        StartError {
            step,
            message: message.into(),
            source: errno.map(|errno| Cause::Os(io::Error::from_raw_os_error(errno))),
        }
    }

    /// A failure of the network step, with its operating-system error.
    pub(crate) fn from_net(error: crate::net::NetError) -> StartError {
        match error.io_error() {
            Some(cause) => StartError::caused_by(StartStep::Network, error.to_string(), cause),
            None => StartError::new(StartStep::Network, error.to_string()),
        }
    }

    /// The step of the start that failed.
    pub fn step(&self) -> StartStep {
        self.step
    }

    /// What failed, in pct's words (the text `Display` shows).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error number of the operating-system error underneath, if any.
    pub fn raw_os_error(&self) -> Option<i32> {
        match &self.source {
            Some(Cause::Os(error)) => error.raw_os_error(),
            _ => None,
        }
    }

    /// The text sent to the process that waits for the start: a header line with the step
    /// and the errno (0 for none), then the message.
    pub(crate) fn encode(&self) -> String {
        format!(
            "{HEADER}{} {}\n{}",
            self.step,
            self.raw_os_error().unwrap_or(0),
            self.message
        )
    }

    /// The error `encode` sent; a text without the header is a message of `fallback` step.
    pub(crate) fn decode(text: &str, fallback: StartStep) -> StartError {
        let parsed = text.strip_prefix(HEADER).and_then(|rest| {
            let (header, message) = rest.split_once('\n').unwrap_or((rest, ""));
            let (step, errno) = header.split_once(' ')?;
            Some((
                StartStep::from_name(step)?,
                errno.parse::<i32>().ok()?,
                message,
            ))
        });
        match parsed {
            Some((step, errno, message)) => StartError {
                step,
                message: message.trim().to_string(),
                source: (errno != 0).then(|| Cause::Os(io::Error::from_raw_os_error(errno))),
            },
            None => StartError::new(fallback, text.trim()),
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.source.as_ref()? {
            Cause::Os(error) => Some(error),
            Cause::Plan(error) => Some(error),
            Cause::Hook(error) => Some(error),
        }
    }
}

/// A failed `pre-start` hookscript fails the start, with the hook's error as the source.
impl From<HookError> for StartError {
    fn from(error: HookError) -> StartError {
        StartError {
            step: StartStep::PreStartHook,
            message: error.to_string(),
            source: Some(Cause::Hook(error)),
        }
    }
}

/// A plan that cannot be built fails the start's first step, with the plan's error as the
/// source.
impl From<PlanError> for StartError {
    fn from(error: PlanError) -> StartError {
        StartError {
            step: StartStep::Plan,
            message: error.to_string(),
            source: Some(Cause::Plan(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn encoding_keeps_step_message_and_errno() {
        let error = StartError::io(
            StartStep::Exec,
            "unable to exec init '/sbin/missing'",
            io::Error::from_raw_os_error(libc::ENOENT),
        );
        assert_eq!(
            error.to_string(),
            "unable to exec init '/sbin/missing': No such file or directory (os error 2)"
        );
        let back = StartError::decode(&error.encode(), StartStep::Monitor);
        assert_eq!(back.step(), StartStep::Exec);
        assert_eq!(back.to_string(), error.to_string());
        assert_eq!(back.raw_os_error(), Some(libc::ENOENT));
        let source = back.source().expect("the errno is the source");
        assert_eq!(source.to_string(), "No such file or directory (os error 2)");
    }

    #[test]
    fn encoding_without_an_errno_has_no_source() {
        let error = StartError::new(StartStep::Cgroup, "two\nlines");
        let back = StartError::decode(&error.encode(), StartStep::Monitor);
        assert_eq!(back.step(), StartStep::Cgroup);
        assert_eq!(back.to_string(), "two\nlines");
        assert!(back.source().is_none());
    }

    #[test]
    fn plain_text_is_a_message_of_the_fallback_step() {
        let back = StartError::decode("  the monitor exited\n", StartStep::Monitor);
        assert_eq!(back.step(), StartStep::Monitor);
        assert_eq!(back.to_string(), "the monitor exited");
        assert!(back.source().is_none());
    }

    #[test]
    fn a_plan_error_fails_the_plan_step_and_is_the_source() {
        let prlimit = super::super::plan::PrlimitError::UnknownResource {
            name: "bogus".into(),
        };
        let error = StartError::from(PlanError::from(prlimit.clone()));
        assert_eq!(error.step(), StartStep::Plan);
        assert_eq!(error.to_string(), "lxc.prlimit.bogus: unknown resource");
        assert_eq!(error.raw_os_error(), None);
        // The chain: the plan's error, then the prlimit's.
        let plan = error.source().and_then(|e| e.downcast_ref::<PlanError>());
        assert!(matches!(plan, Some(PlanError::Prlimit(_))), "{plan:?}");
        let inner = plan.and_then(|e| e.source()).and_then(|e| e.downcast_ref());
        assert_eq!(inner, Some(&prlimit));
    }

    #[test]
    fn a_failed_pre_start_hook_is_the_source_of_its_step() {
        use super::super::hooks::{HookError, Phase};
        let hook = HookError::Exit {
            vmid: 100,
            phase: Phase::PreStart,
            command: "/hook 100 pre-start".into(),
            code: 3,
        };
        let error = StartError::from(hook);
        assert_eq!(error.step(), StartStep::PreStartHook);
        assert_eq!(
            error.to_string(),
            "hookscript error for 100 on pre-start: command '/hook 100 pre-start' failed: exit code 3"
        );
        let source = error.source().and_then(|e| e.downcast_ref::<HookError>());
        assert!(matches!(source, Some(HookError::Exit { code: 3, .. })));
    }

    #[test]
    fn every_step_name_reads_back() {
        for step in StartStep::ALL {
            assert_eq!(StartStep::from_name(step.name()), Some(step));
        }
    }
}
