//! What a guest reads about its own machine where the kernel would show the host's: a boot
//! id of its own for every boot, as LXC gives one, and lxcfs's container-aware copies of
//! /proc and /sys files when the host runs lxcfs, as pct's LXC config binds them for every
//! container (lxcfs's mount hook).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::mount::MountEntry;

/// The kernel's boot id: one per host boot, the same in every container unless covered.
pub const BOOT_ID_TARGET: &str = "/proc/sys/kernel/random/boot_id";

/// Where a container's own boot id is written, in its /dev tmpfs: LXC's name, which guest
/// tools look for to tell that they run in an LXC container.
pub const BOOT_ID_FILE: &str = "/dev/.lxc-boot-id";

/// A boot id file of the container's own, written afresh each time init is started (a
/// reboot from inside included) and bound read-only over the kernel's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootIdPlan {
    /// The file inside the container.
    pub file: String,
    /// The path it covers inside the container.
    pub target: String,
}

impl Default for BootIdPlan {
    fn default() -> BootIdPlan {
        BootIdPlan {
            file: BOOT_ID_FILE.into(),
            target: BOOT_ID_TARGET.into(),
        }
    }
}

/// A random (version 4) UUID in the kernel's boot id format, newline included.
pub fn format_boot_id(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}\n",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// lxcfs's default mount point (Debian's `lxcfs.service`), preferred when several lxcfs
/// instances run.
pub const DEFAULT_LXCFS_MOUNT: &str = "/var/lib/lxcfs";

/// The lxcfs files, relative to its mount, that stand in for the same paths in a
/// container: the /proc files its mount hook binds, and the CPU directory of /sys.
pub const LXCFS_VIEWS: &[&str] = &[
    "proc/cpuinfo",
    "proc/diskstats",
    "proc/loadavg",
    "proc/meminfo",
    "proc/stat",
    "proc/swaps",
    "proc/uptime",
    "proc/slabinfo",
    "sys/devices/system/cpu",
];

/// The host's lxcfs: where it is mounted and which of the views corral binds it offers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LxcfsHost {
    /// Where lxcfs is mounted.
    pub mount: PathBuf,
    /// Paths relative to `mount`, in the order corral binds them.
    pub views: Vec<String>,
}

impl LxcfsHost {
    /// The lxcfs of this mount namespace and what it offers; none when no lxcfs runs. A
    /// mount left behind by a dead lxcfs is passed over: statfs has to ask the daemon, where
    /// a stat of a file looked up before may be answered from the kernel's cache.
    pub(crate) fn find(table: &[MountEntry]) -> Option<LxcfsHost> {
        lxcfs_mounts(table).into_iter().find_map(|mount| {
            rustix::fs::statfs(&mount).ok()?;
            let views = available_views(|relative| mount.join(relative).exists());
            (!views.is_empty()).then_some(LxcfsHost { mount, views })
        })
    }
}

/// The mount points of `fuse.lxcfs` file systems: the default one first, then the others in
/// the kernel's order.
pub(crate) fn lxcfs_mounts(table: &[MountEntry]) -> Vec<PathBuf> {
    let mut mounts: Vec<PathBuf> = table
        .iter()
        .filter(|m| m.fs_type == "fuse.lxcfs")
        .map(|m| m.mount_point.clone())
        .collect();
    mounts.sort_by_key(|m| m != Path::new(DEFAULT_LXCFS_MOUNT));
    mounts
}

/// Which views an lxcfs offers, as its hook binds them: /sys/devices/system/cpu as a whole
/// where lxcfs serves the whole directory (lxcfs 5 on, which has its `uevent`), else only
/// the `online` file an older lxcfs has there.
pub fn available_views(exists: impl Fn(&str) -> bool) -> Vec<String> {
    let mut views = Vec::new();
    for view in LXCFS_VIEWS {
        if view.starts_with("sys/") {
            let whole = format!("{view}/uevent");
            let online = format!("{view}/online");
            if exists(&whole) {
                views.push(view.to_string());
            } else if exists(&online) {
                views.push(online);
            }
        } else if exists(view) {
            views.push(view.to_string());
        }
    }
    views
}

/// lxcfs's files bound read-only over the container's own, each at the same path relative
/// to the container's root as it has relative to the lxcfs mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LxcfsPlan {
    /// lxcfs's mount point on the host.
    pub mount: PathBuf,
    /// Paths inside the container (`/proc/meminfo`, ...); one the container's kernel lacks
    /// is skipped at the start.
    pub targets: Vec<String>,
}

impl LxcfsPlan {
    /// The binds of every view `host` offers.
    pub fn from_host(host: &LxcfsHost) -> LxcfsPlan {
        LxcfsPlan {
            mount: host.mount.clone(),
            targets: host.views.iter().map(|v| format!("/{v}")).collect(),
        }
    }

    /// The host file that covers `target`.
    pub fn source(&self, target: &str) -> PathBuf {
        self.mount.join(target.trim_start_matches('/'))
    }

    /// Each target with its host source.
    pub fn binds(&self) -> Vec<(String, PathBuf)> {
        self.targets
            .iter()
            .map(|t| (t.clone(), self.source(t)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(mount_point: &str, fs_type: &str) -> MountEntry {
        MountEntry {
            id: 1,
            parent_id: 0,
            mount_point: mount_point.into(),
            fs_type: fs_type.into(),
            source: "lxcfs".into(),
        }
    }

    #[test]
    fn a_boot_id_is_a_version_4_uuid_in_the_kernels_format() {
        let id = format_boot_id([0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff\n");
        let id = format_boot_id([0; 16]);
        assert_eq!(id, "00000000-0000-4000-8000-000000000000\n");
    }

    #[test]
    fn lxcfs_is_found_by_its_file_system_type_the_default_mount_first() {
        assert!(lxcfs_mounts(&[entry("/", "ext4")]).is_empty());
        assert_eq!(
            lxcfs_mounts(&[entry("/", "ext4"), entry("/tmp/l x", "fuse.lxcfs")]),
            [PathBuf::from("/tmp/l x")]
        );
        assert_eq!(
            lxcfs_mounts(&[
                entry("/tmp/b", "fuse.lxcfs"),
                entry("/tmp/a", "fuse.lxcfs"),
                entry("/var/lib/lxcfs", "fuse.lxcfs"),
            ]),
            ["/var/lib/lxcfs", "/tmp/b", "/tmp/a"].map(PathBuf::from)
        );
        // Another FUSE file system mounted at the default place is not lxcfs.
        assert!(lxcfs_mounts(&[entry("/var/lib/lxcfs", "fuse.sshfs")]).is_empty());
    }

    #[test]
    fn an_lxcfs_that_offers_nothing_is_passed_over() {
        let empty = tempfile::tempdir().unwrap();
        let live = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(live.path().join("proc")).unwrap();
        std::fs::write(live.path().join("proc/uptime"), "1.00 1.00\n").unwrap();
        let table = [
            entry(empty.path().to_str().unwrap(), "fuse.lxcfs"),
            entry(live.path().to_str().unwrap(), "fuse.lxcfs"),
        ];
        assert_eq!(
            LxcfsHost::find(&table),
            Some(LxcfsHost {
                mount: live.path().to_path_buf(),
                views: vec!["proc/uptime".into()],
            })
        );
        assert_eq!(LxcfsHost::find(&table[..1]), None);
    }

    #[test]
    fn only_the_views_lxcfs_offers_are_bound() {
        let lxcfs5 = [
            "proc/cpuinfo",
            "proc/meminfo",
            "proc/uptime",
            "sys/devices/system/cpu/uevent",
            "sys/devices/system/cpu/online",
        ];
        assert_eq!(
            available_views(|p| lxcfs5.contains(&p)),
            [
                "proc/cpuinfo",
                "proc/meminfo",
                "proc/uptime",
                "sys/devices/system/cpu"
            ]
        );
        let lxcfs4 = ["proc/stat", "sys/devices/system/cpu/online"];
        assert_eq!(
            available_views(|p| lxcfs4.contains(&p)),
            ["proc/stat", "sys/devices/system/cpu/online"]
        );
        assert!(available_views(|_| false).is_empty());
    }

    #[test]
    fn an_lxcfs_plan_binds_each_file_at_its_own_path() {
        let plan = LxcfsPlan::from_host(&LxcfsHost {
            mount: "/run/lxcfs".into(),
            views: vec!["proc/meminfo".into(), "sys/devices/system/cpu".into()],
        });
        assert_eq!(
            plan.binds(),
            [
                (
                    "/proc/meminfo".to_string(),
                    PathBuf::from("/run/lxcfs/proc/meminfo")
                ),
                (
                    "/sys/devices/system/cpu".to_string(),
                    PathBuf::from("/run/lxcfs/sys/devices/system/cpu")
                ),
            ]
        );
    }
}
