//! Whether a container runs, decided by the kernel rather than by files. The run state under
//! `run/corral/<vmid>/` is a cache: it can be lost (a fresh tmpfs after a crash of the
//! tooling but not of the container) or stale (a recorded pid that now names an unrelated
//! process). The container's cgroup cannot lie: the container runs while `lxc/<vmid>` holds
//! processes, and a process belongs to the container only if it sits below that cgroup.
//! Everything that acts on "running" or "stopped" — destroy, stop, status, list, mount,
//! exec — asks here, and nothing is ever signalled without that proof.

use std::fs;
use std::os::fd::OwnedFd;

use super::state::{InitState, StateDir, process_start_time};
use crate::cgroup::{ContainerCgroup, Hierarchy, container_path};

/// The container's running init, or `None` when the container is stopped.
///
/// With a cgroup v2 hierarchy: the recorded init when it still lives below the container's
/// cgroup; else, while the cgroup holds processes, init found among them (the run state was
/// lost or is stale). Without one, only the recorded pid and start time are left to go by.
pub fn running_init(state: &StateDir, vmid: u32) -> Option<InitState> {
    let recorded = state.recorded_init();
    let Some(hierarchy) = Hierarchy::find() else {
        return recorded.filter(|init| process_start_time(init.pid) == Some(init.start_time));
    };
    if let Some(init) = &recorded
        && belongs(init.pid, init.start_time, vmid)
    {
        return recorded;
    }
    let cgroup = ContainerCgroup::of(&hierarchy, vmid);
    if !cgroup.populated() {
        return None;
    }
    let pid = find_init(&cgroup)?;
    let start_time = process_start_time(pid)?;
    let halt_signal = recorded
        .as_ref()
        .map(|init| init.halt_signal)
        .or_else(|| {
            let plan = state.read_plan().ok()?;
            Some(plan.halt_signal?.number())
        })
        .unwrap_or_else(|| default_halt_signal(pid));
    Some(InitState {
        pid,
        start_time,
        monitor_pid: 0,
        cgroup: cgroup.payload,
        halt_signal,
    })
}

/// Whether `pid` is the process that started at `start_time` and sits below the cgroup of
/// container `vmid`.
pub fn belongs(pid: u32, start_time: u64, vmid: u32) -> bool {
    if process_start_time(pid) != Some(start_time) {
        return false;
    }
    let Some(cgroup) = Hierarchy::cgroup_of(pid) else {
        return false;
    };
    let container = container_path(vmid);
    cgroup == container
        || cgroup
            .strip_prefix(&container)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A pidfd of the container's init, opened and then proven to be the container's: a pid
/// recycled between the check and the open would otherwise be signalled. (Checking after
/// the open is what makes it safe: once the pidfd exists, a recycled pid cannot be mistaken
/// for the process it names.)
pub fn init_pidfd(init: &InitState, vmid: u32) -> Option<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(i32::try_from(init.pid).ok()?)?;
    let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()?;
    let proven = if Hierarchy::find().is_some() && !init.cgroup.as_os_str().is_empty() {
        belongs(init.pid, init.start_time, vmid)
    } else {
        process_start_time(init.pid) == Some(init.start_time)
    };
    proven.then_some(pidfd)
}

/// The container's init among the processes of its cgroup: the one that is pid 1 of the
/// pid namespace right below ours (`NSpid: <ours> 1`).
fn find_init(cgroup: &ContainerCgroup) -> Option<u32> {
    let own_depth = nspid(&fs::read_to_string("/proc/self/status").ok()?)?.len();
    let mut dirs = vec![cgroup.payload.clone(), cgroup.limiting.clone()];
    while let Some(dir) = dirs.pop() {
        let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs
            .lines()
            .filter_map(|line| line.trim().parse::<u32>().ok())
        {
            let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
                continue;
            };
            if nspid(&status)
                .is_some_and(|ids| ids.len() == own_depth + 1 && ids.last() == Some(&1))
            {
                return Some(pid);
            }
        }
        if dir != cgroup.limiting
            && let Ok(entries) = fs::read_dir(&dir)
        {
            dirs.extend(
                entries
                    .flatten()
                    .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|entry| entry.path()),
            );
        }
    }
    None
}

/// The `NSpid:` line of a /proc/<pid>/status: the pid in each pid namespace, outermost first.
fn nspid(status: &str) -> Option<Vec<u32>> {
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("NSpid:"))?;
    line.split_whitespace().map(|id| id.parse().ok()).collect()
}

/// The halt signal of an init found without its run state: systemd's SIGRTMIN+3, else
/// SIGPWR, as a start would have chosen.
fn default_halt_signal(pid: u32) -> i32 {
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() == "systemd" {
        libc::SIGRTMIN() + 3
    } else {
        libc::SIGPWR
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nspid_lists_every_level() {
        let status = "Name:\tinit\nNSpid:\t4242\t1\nNSsid:\t1\n";
        assert_eq!(nspid(status), Some(vec![4242, 1]));
        assert_eq!(nspid("Name:\tx\n"), None);
        assert_eq!(nspid("NSpid:\t12\tx\n"), None);
    }

    #[test]
    fn this_process_belongs_to_no_container() {
        let me = std::process::id();
        let start = process_start_time(me).unwrap();
        assert!(!belongs(me, start, 4_000_000));
        // A wrong start time is never the recorded process, whatever its cgroup.
        assert!(!belongs(me, start + 1, 4_000_000));
    }
}
