//! Where corral finds the host programs it runs (mkfs.ext4, resize2fs, fsck, lvm, zfs,
//! rsync, ...).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `name` from the usual sbin and bin directories, else as PATH finds it: a minimal system
/// (the VM rig's guest, a service manager's environment) may have no sbin in its PATH.
pub(crate) fn find(name: &str) -> PathBuf {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Why [`stdout_of`] got no output.
#[derive(Debug)]
pub(crate) enum RunError {
    /// The program is not installed.
    Missing,
    /// It could not be started for another reason.
    Spawn(std::io::Error),
    /// It failed: its stderr's non-empty lines joined by `; `, or its exit status when it
    /// said nothing.
    Failed(String),
}

/// Run `command` with no stdin and return its stdout; a failure carries what it said.
pub(crate) fn stdout_of(command: &mut Command) -> Result<String, RunError> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => RunError::Missing,
            _ => RunError::Spawn(e),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect();
        return Err(RunError::Failed(if said.is_empty() {
            output.status.to_string()
        } else {
            said.join("; ")
        }));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_is_found_in_sbin_first_else_left_to_path() {
        assert_eq!(find("sh"), PathBuf::from("/usr/bin/sh"));
        assert_eq!(
            find("no-such-program-here"),
            PathBuf::from("no-such-program-here")
        );
    }

    #[test]
    fn a_program_gives_its_stdout_or_what_it_said() {
        let ok = stdout_of(Command::new("sh").args(["-c", "echo out; echo err >&2"]));
        assert_eq!(ok.unwrap(), "out\n");
        let failed =
            stdout_of(Command::new("sh").args(["-c", "echo a >&2; echo >&2; echo b >&2; exit 3"]));
        assert!(matches!(failed, Err(RunError::Failed(said)) if said == "a; b"));
        let silent = stdout_of(&mut Command::new("false"));
        assert!(matches!(silent, Err(RunError::Failed(said)) if said == "exit status: 1"));
        assert!(matches!(
            stdout_of(&mut Command::new("no-such-program-here")),
            Err(RunError::Missing)
        ));
    }
}
