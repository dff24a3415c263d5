//! pct's hookscripts: `<script> <vmid> <phase>` at pre-start, post-start, pre-stop and
//! post-stop, in pct's words when they fail.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// A hookscript run that failed, in pct's words: `hookscript error for <vmid> on <phase>:
/// command '<script> <vmid> <phase>' failed: <why>`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// The script could not be run at all.
    #[error("hookscript error for {vmid} on {}: command '{command}' failed: {source}", phase.name())]
    Spawn {
        /// The container.
        vmid: u32,
        /// The phase it ran for.
        phase: Phase,
        /// The command line, as pct shows it.
        command: String,
        /// Why it did not run.
        source: std::io::Error,
    },
    /// The script exited with a non-zero code.
    #[error("hookscript error for {vmid} on {}: command '{command}' failed: exit code {code}", phase.name())]
    Exit {
        /// The container.
        vmid: u32,
        /// The phase it ran for.
        phase: Phase,
        /// The command line, as pct shows it.
        command: String,
        /// Its exit code.
        code: i32,
    },
    /// The script was killed by a signal.
    #[error("hookscript error for {vmid} on {}: command '{command}' failed: killed by signal", phase.name())]
    Killed {
        /// The container.
        vmid: u32,
        /// The phase it ran for.
        phase: Phase,
        /// The command line, as pct shows it.
        command: String,
    },
}

/// When a hookscript runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before the container starts; a failure aborts the start.
    PreStart,
    /// Once init runs.
    PostStart,
    /// Before a stop or shutdown.
    PreStop,
    /// After init ended.
    PostStop,
}

impl Phase {
    /// The phase's name, the script's second argument.
    pub fn name(self) -> &'static str {
        match self {
            Phase::PreStart => "pre-start",
            Phase::PostStart => "post-start",
            Phase::PreStop => "pre-stop",
            Phase::PostStop => "post-stop",
        }
    }
}

/// Run the hookscript for a phase. Only a failing `pre-start` aborts anything; callers of the
/// other phases print the message as a warning. `mount_ns`, when given, is the mount namespace
/// to run the script in (the host's, when called from a monitor).
pub fn run_hookscript(
    script: &Path,
    vmid: u32,
    phase: Phase,
    mount_ns: Option<&File>,
) -> Result<(), HookError> {
    let mut command = Command::new(script);
    command.arg(vmid.to_string()).arg(phase.name());
    if let Some(ns) = mount_ns {
        let fd = ns.as_raw_fd();
        // SAFETY: setns between fork and exec is async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNS) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let shown = format!("{} {vmid} {}", script.display(), phase.name());
    let status = command.status().map_err(|source| HookError::Spawn {
        vmid,
        phase,
        command: shown.clone(),
        source,
    })?;
    if status.success() {
        return Ok(());
    }
    Err(match status.code() {
        Some(code) => HookError::Exit {
            vmid,
            phase,
            command: shown,
            code,
        },
        None => HookError::Killed {
            vmid,
            phase,
            command: shown,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn hookscripts_get_vmid_and_phase_and_failures_use_pcts_words() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let script = dir.path().join("hook.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$1 $2\" >> {}\n[ \"$2\" != pre-start ] || exit 3\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        run_hookscript(&script, 101, Phase::PostStart, None).unwrap();
        let error = run_hookscript(&script, 101, Phase::PreStart, None).unwrap_err();
        assert!(matches!(
            error,
            HookError::Exit {
                vmid: 101,
                phase: Phase::PreStart,
                code: 3,
                ..
            }
        ));
        assert_eq!(
            error.to_string(),
            format!(
                "hookscript error for 101 on pre-start: command '{} 101 pre-start' failed: exit code 3",
                script.display()
            )
        );
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "101 post-start\n101 pre-start\n"
        );
    }
}
