//! What a running container leaves under `run/corral/<vmid>/` of the host root: the plan it
//! was started with, init's pid and start time, the monitor's command socket, the staging
//! rootfs and passthrough device nodes. Status, stop, enter and exec read it; they keep
//! working from it when the monitor is gone.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::monitor::InitExit;
use super::plan::StartPlan;

/// The state directory of one container.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

/// Facts about the running init, written once it has exec'd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitState {
    /// Init's pid on the host.
    pub pid: u32,
    /// Start time in clock ticks since boot (field 22 of `/proc/<pid>/stat`): a recycled pid
    /// has a different one.
    pub start_time: u64,
    /// The monitor's pid; 0 when init was found without one.
    pub monitor_pid: u32,
    /// The payload cgroup, absolute.
    pub cgroup: PathBuf,
    /// The signal `pct shutdown` sends (SIGPWR, or SIGRTMIN+3 for systemd).
    pub halt_signal: i32,
}

impl StateDir {
    pub fn new(host_root: &Path, vmid: u32) -> StateDir {
        StateDir {
            dir: host_root.join(format!("run/corral/{vmid}")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn create(&self) -> io::Result<()> {
        fs::create_dir_all(&self.dir)
    }

    pub fn plan_file(&self) -> PathBuf {
        self.dir.join("plan.json")
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("command")
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub fn devices(&self) -> PathBuf {
        self.dir.join("devices")
    }

    fn init_file(&self) -> PathBuf {
        self.dir.join("init.json")
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("init.pid")
    }

    pub fn write_plan(&self, plan: &StartPlan) -> io::Result<()> {
        write_atomic(
            &self.plan_file(),
            serde_json::to_string(plan)
                .map_err(io::Error::other)?
                .as_bytes(),
        )
    }

    pub fn read_plan(&self) -> io::Result<StartPlan> {
        let text = fs::read_to_string(self.plan_file())?;
        serde_json::from_str(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    pub fn write_init(&self, init: &InitState) -> io::Result<()> {
        write_atomic(
            &self.init_file(),
            serde_json::to_string(init)
                .map_err(io::Error::other)?
                .as_bytes(),
        )?;
        write_atomic(&self.pid_file(), format!("{}\n", init.pid).as_bytes())
    }

    /// The init as recorded at its start, alive or not: `liveness::running_init` decides
    /// whether it still runs.
    pub fn recorded_init(&self) -> Option<InitState> {
        let text = fs::read_to_string(self.init_file()).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Remove everything but what is still mounted (the staging rootfs of a monitor that
    /// has not exited yet is unmounted by that monitor). Every file goes, including the
    /// temporary files of a write a killed start never renamed.
    pub fn remove(&self) -> io::Result<()> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                continue;
            }
            match fs::remove_file(entry.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let _ = fs::remove_dir_all(self.devices());
        let _ = fs::remove_dir(self.rootfs());
        let _ = fs::remove_dir(&self.dir);
        Ok(())
    }
}

/// Who ended a container, when it was not init by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopCause {
    /// `pct stop`: killed.
    Stop,
    /// `pct shutdown`, or a termination signal to the monitor: asked to halt.
    Shutdown,
}

/// How a run of a container ended, as its monitor records it before it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    pub init: InitExit,
    pub stopped_by: Option<StopCause>,
}

impl StateDir {
    /// `run/corral/<vmid>.exit`: beside the state directory, which goes with the run; the
    /// next start removes it.
    fn exit_file(&self) -> PathBuf {
        let mut name = self.dir.file_name().unwrap_or_default().to_owned();
        name.push(".exit");
        self.dir.with_file_name(name)
    }

    pub fn write_exit(&self, record: &ExitRecord) -> io::Result<()> {
        if let Some(parent) = self.dir.parent() {
            fs::create_dir_all(parent)?;
        }
        write_atomic(
            &self.exit_file(),
            serde_json::to_string(record)
                .map_err(io::Error::other)?
                .as_bytes(),
        )
    }

    /// How the last run ended, when its monitor recorded it.
    pub fn read_exit(&self) -> Option<ExitRecord> {
        let text = fs::read_to_string(self.exit_file()).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn clear_exit(&self) {
        let _ = fs::remove_file(self.exit_file());
    }
}

/// Start time of a process in clock ticks since boot.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let temp = path.with_extension(format!("tmp.{}", std::process::id()));
    fs::write(&temp, data)?;
    fs::rename(&temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_of_this_process_is_stable_and_recorded_state_round_trips() {
        let me = std::process::id();
        let first = process_start_time(me).unwrap();
        assert_eq!(process_start_time(me), Some(first));
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path(), 100);
        state.create().unwrap();
        let init = InitState {
            pid: me,
            start_time: first,
            monitor_pid: me,
            cgroup: "/cg/lxc/100/ns".into(),
            halt_signal: libc::SIGPWR,
        };
        state.write_init(&init).unwrap();
        assert_eq!(state.recorded_init(), Some(init.clone()));
        assert_eq!(
            fs::read_to_string(dir.path().join("run/corral/100/init.pid")).unwrap(),
            format!("{me}\n")
        );
        // What a start killed between writing a temporary file and renaming it leaves.
        fs::write(dir.path().join("run/corral/100/plan.tmp.4242"), "{").unwrap();
        state.remove().unwrap();
        assert!(!dir.path().join("run/corral/100").exists());
    }
}
