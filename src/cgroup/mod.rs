//! cgroup v2: where the unified hierarchy is mounted, the cgroups of one container, limit
//! writes, kill and removal.
//!
//! The layout is pve-container's: `lxc/<vmid>` is the limiting cgroup that holds the limits,
//! `lxc/<vmid>/ns` the payload cgroup the container's init is cloned into and the root of its
//! cgroup namespace. corral uses cgroup v2 only and never writes into a v1 hierarchy: on a
//! hybrid host the v1 controllers account the host's own processes.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags, open};

pub mod devices;
pub mod metrics;

use crate::mount::{MountEntry, mount_table};

/// The mounted cgroup v2 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    mount: PathBuf,
}

/// The first cgroup2 mount in a mount table: `/sys/fs/cgroup` on a pure v2 host,
/// `/sys/fs/cgroup/unified` on a hybrid one.
pub fn cgroup2_mount(table: &[MountEntry]) -> Option<PathBuf> {
    table
        .iter()
        .find(|entry| entry.fs_type == "cgroup2")
        .map(|entry| entry.mount_point.clone())
}

impl Hierarchy {
    /// The v2 hierarchy of this mount namespace, from /proc/self/mountinfo. Looked up once
    /// per process: the cgroup2 mount does not move while corral runs, and `pct start`
    /// would otherwise parse the mount table several times.
    pub fn find() -> Option<Hierarchy> {
        static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
        FOUND
            .get_or_init(|| cgroup2_mount(&mount_table().ok()?))
            .clone()
            .map(|mount| Hierarchy { mount })
    }

    #[cfg(test)]
    pub fn at(mount: impl Into<PathBuf>) -> Hierarchy {
        Hierarchy {
            mount: mount.into(),
        }
    }

    pub fn mount(&self) -> &Path {
        &self.mount
    }

    /// The controllers the root of the hierarchy offers (`cgroup.controllers`).
    pub fn controllers(&self) -> Vec<String> {
        fs::read_to_string(self.mount.join("cgroup.controllers"))
            .map(|text| text.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// A cgroup by its path relative to the hierarchy root (`lxc/100/ns`).
    pub fn path(&self, relative: &str) -> PathBuf {
        self.mount.join(relative.trim_start_matches('/'))
    }

    /// The cgroup of a process, relative to the hierarchy root (the `0::` line).
    pub fn cgroup_of(pid: u32) -> Option<String> {
        let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        text.lines()
            .find_map(|line| line.strip_prefix("0::"))
            .map(|path| path.trim_start_matches('/').to_string())
    }
}

/// The two cgroups of a container, by pve-container's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerCgroup {
    /// `lxc/<vmid>`: limits live here.
    pub limiting: PathBuf,
    /// `lxc/<vmid>/ns`: init and every process of the container.
    pub payload: PathBuf,
}

/// The relative path of a container's limiting cgroup.
pub fn container_path(vmid: u32) -> String {
    format!("lxc/{vmid}")
}

impl ContainerCgroup {
    pub fn of(hierarchy: &Hierarchy, vmid: u32) -> ContainerCgroup {
        let limiting = hierarchy.path(&container_path(vmid));
        ContainerCgroup {
            payload: limiting.join("ns"),
            limiting,
        }
    }

    /// Create both cgroups, enabling every controller the parent offers on the way down so
    /// that limits can be written. A leftover, empty tree from an earlier run is removed first,
    /// as pve-container's pre-start hook does; a populated one is refused.
    pub fn create(hierarchy: &Hierarchy, vmid: u32) -> io::Result<ContainerCgroup> {
        let cgroup = ContainerCgroup::of(hierarchy, vmid);
        if cgroup.limiting.exists() {
            if cgroup.populated() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "cgroup '{}' still has processes in it",
                        cgroup.limiting.display()
                    ),
                ));
            }
            cgroup.remove()?;
        }
        let lxc = hierarchy.path("lxc");
        make_dir(&lxc)?;
        enable_controllers(hierarchy.mount(), &lxc);
        make_dir(&cgroup.limiting)?;
        enable_controllers(&lxc, &cgroup.limiting);
        make_dir(&cgroup.payload)?;
        Ok(cgroup)
    }

    /// The payload cgroup as a directory descriptor, for `CLONE_INTO_CGROUP`.
    pub fn payload_fd(&self) -> io::Result<OwnedFd> {
        Ok(open(
            &self.payload,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    }

    /// Hand the payload cgroup to the container's root so an init such as systemd can
    /// manage its own sub-cgroups (cgroup delegation).
    pub fn delegate(&self, uid: u32, gid: u32) -> io::Result<()> {
        let chown = |path: &Path| {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(|e| io::Error::new(e.kind(), format!("chown '{}': {e}", path.display())))
        };
        chown(&self.payload)?;
        for file in ["cgroup.procs", "cgroup.subtree_control", "cgroup.threads"] {
            let path = self.payload.join(file);
            if path.exists() {
                chown(&path)?;
            }
        }
        Ok(())
    }

    /// Write one interface file of the limiting cgroup (`memory.max`, ...).
    pub fn write(&self, key: &str, value: &str) -> io::Result<()> {
        let path = self.limiting.join(key);
        fs::write(&path, value).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("unable to write '{value}' to '{}': {e}", path.display()),
            )
        })
    }

    pub fn read(&self, key: &str) -> Option<String> {
        fs::read_to_string(self.limiting.join(key)).ok()
    }

    /// Whether any process is left anywhere below the limiting cgroup.
    pub fn populated(&self) -> bool {
        fs::read_to_string(self.limiting.join("cgroup.events"))
            .map(|events| events.lines().any(|line| line == "populated 1"))
            .unwrap_or(false)
    }

    /// SIGKILL every process of the container at once through `cgroup.kill`. Returns false when
    /// the kernel has no `cgroup.kill` (before 5.14) so the caller falls back to signals.
    pub fn kill(&self) -> io::Result<bool> {
        let path = self.limiting.join("cgroup.kill");
        if !path.exists() {
            return Ok(false);
        }
        fs::write(&path, "1")?;
        Ok(true)
    }

    /// Freeze (`true`) or thaw every process of the container through `cgroup.freeze`, and
    /// wait until `cgroup.events` says it is done, up to `timeout`.
    pub fn set_frozen(&self, frozen: bool, timeout: Duration) -> io::Result<()> {
        self.write("cgroup.freeze", if frozen { "1" } else { "0" })?;
        let wanted = if frozen { "frozen 1" } else { "frozen 0" };
        let start = Instant::now();
        loop {
            let events = fs::read_to_string(self.limiting.join("cgroup.events"))?;
            if events.lines().any(|line| line == wanted) {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "'{}' did not become {} within {} s",
                        self.limiting.display(),
                        if frozen { "frozen" } else { "thawed" },
                        timeout.as_secs()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Whether the container is frozen.
    pub fn frozen(&self) -> bool {
        self.read("cgroup.events")
            .is_some_and(|events| events.lines().any(|line| line == "frozen 1"))
    }

    /// Wait until no process is left, up to `timeout`.
    pub fn wait_empty(&self, timeout: Duration) -> bool {
        let start = Instant::now();
        while self.populated() {
            if start.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }

    /// Remove the tree leaf-first. The container may have made sub-cgroups of its own.
    pub fn remove(&self) -> io::Result<()> {
        if !self.limiting.exists() {
            return Ok(());
        }
        remove_tree(&self.limiting)
    }
}

/// The cgroup a container's monitor lives in, `lxc.monitor/<vmid>` as pve-container names
/// it: out of the caller's session (which may end before the container does) and out of the
/// container's accounting. No controller is enabled below `lxc.monitor`, so the monitor may
/// sit in either level.
pub struct MonitorCgroup {
    dir: PathBuf,
}

impl MonitorCgroup {
    /// Create it, replacing an empty leftover of an earlier run.
    pub fn create(hierarchy: &Hierarchy, vmid: u32) -> io::Result<MonitorCgroup> {
        let parent = hierarchy.path("lxc.monitor");
        make_dir(&parent)?;
        let dir = parent.join(vmid.to_string());
        make_dir(&dir)?;
        Ok(MonitorCgroup { dir })
    }

    pub fn of(hierarchy: &Hierarchy, vmid: u32) -> MonitorCgroup {
        MonitorCgroup {
            dir: hierarchy.path(&format!("lxc.monitor/{vmid}")),
        }
    }

    /// A descriptor for CLONE_INTO_CGROUP.
    pub fn fd(&self) -> io::Result<OwnedFd> {
        Ok(open(
            &self.dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    }

    /// Called by the monitor as its last act: step up into `lxc.monitor` and remove its own
    /// cgroup, as LXC's monitor does.
    pub fn leave(&self) {
        if let Some(parent) = self.dir.parent() {
            let _ = fs::write(parent.join("cgroup.procs"), "0");
        }
        let _ = fs::remove_dir(&self.dir);
    }

    /// Remove it if nothing is in it (a monitor that died without leaving).
    pub fn remove_if_empty(&self) {
        let _ = fs::remove_dir(&self.dir);
    }

    /// Whether a monitor lives in it.
    pub fn populated(&self) -> bool {
        fs::read_to_string(self.dir.join("cgroup.events"))
            .is_ok_and(|events| events.lines().any(|line| line == "populated 1"))
    }
}

fn make_dir(path: &Path) -> io::Result<()> {
    match fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("unable to create cgroup '{}': {e}", path.display()),
        )),
    }
}

/// Enable in `child`'s parent every controller `parent` offers. Best effort per controller:
/// a controller that cannot be enabled simply leaves its limits unenforced, which the start
/// plan reports.
fn enable_controllers(parent: &Path, child: &Path) {
    let Some(parent_of_child) = child.parent() else {
        return;
    };
    let offered = fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
    let enabled =
        fs::read_to_string(parent_of_child.join("cgroup.subtree_control")).unwrap_or_default();
    for controller in offered.split_whitespace() {
        if enabled.split_whitespace().any(|c| c == controller) {
            continue;
        }
        let _ = fs::write(
            parent_of_child.join("cgroup.subtree_control"),
            format!("+{controller}"),
        );
    }
}

fn remove_tree(dir: &Path) -> io::Result<()> {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_tree(&entry.path())?;
            }
        }
    }
    // A cgroup whose last process just exited can still be busy for a moment.
    let mut attempts = 0;
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("unable to remove cgroup '{}': {e}", dir.display()),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mount::mount_table;

    #[test]
    fn finds_the_unified_mount_of_a_hybrid_host() {
        let table = crate::mount::parse_mountinfo(
            "25 1 0:23 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n\
             26 25 0:24 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
             27 25 0:25 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
        );
        assert_eq!(
            cgroup2_mount(&table),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let v1_only = crate::mount::parse_mountinfo(
            "27 25 0:25 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
        );
        assert_eq!(cgroup2_mount(&v1_only), None);
    }

    #[test]
    fn container_cgroups_follow_pve_names() {
        let cgroup = ContainerCgroup::of(&Hierarchy::at("/cg"), 105);
        assert_eq!(cgroup.limiting, PathBuf::from("/cg/lxc/105"));
        assert_eq!(cgroup.payload, PathBuf::from("/cg/lxc/105/ns"));
    }

    /// Creates, populates, kills and removes a real v2 cgroup (never a v1 one).
    #[test]
    fn lifecycle_on_the_real_hierarchy() {
        if !crate::skip::root_or_report() {
            return;
        }
        let Some(hierarchy) = Hierarchy::find() else {
            crate::skip::report("this host has no cgroup v2 hierarchy");
            return;
        };
        assert!(mount_table().is_ok());
        let vmid = 990_001;
        let cgroup = ContainerCgroup::create(&hierarchy, vmid).expect("create");
        assert!(cgroup.payload.is_dir());
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        fs::write(cgroup.payload.join("cgroup.procs"), child.id().to_string()).unwrap();
        assert!(cgroup.populated());
        assert!(cgroup.kill().unwrap());
        let status = child.wait().unwrap();
        assert!(!status.success());
        assert!(cgroup.wait_empty(Duration::from_secs(5)));
        cgroup.remove().unwrap();
        assert!(!cgroup.limiting.exists());
    }
}
