//! The start plan: everything a start will do, decided from the config and a few host facts
//! before any kernel object exists. It is pure data — `pct start --dry-run` prints it, unit
//! tests check it, the monitor applies it — and corral's counterpart of the LXC config that
//! pct generates.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::apparmor::{self, AppArmorHost, AppArmorPlan, AppArmorRequest};
use super::caps::{self, Capability};
use super::idmap::IdMapTool;
use super::seccomp;
use super::signals::Signal;
use crate::cgroup::devices::{self, DeviceRule};
use crate::config::{IdKind, IdMap, MountKind, MountOption, Section};
use crate::mount::VolumeSource;
pub use crate::net::NetworkDevice;
use crate::setup::{GuestConfig, HostEnv};

mod error;
mod guest_view;
pub(crate) mod mount_entry;
mod prlimit;
pub use error::PlanError;
pub use guest_view::{
    BOOT_ID_FILE, BOOT_ID_TARGET, BootIdPlan, LxcfsHost, LxcfsPlan, format_boot_id,
};
pub use mount_entry::{MountEntryError, MountEntryFlag, MountEntryOption};
pub use prlimit::{Prlimit, PrlimitError};

/// Where the container's init and its children live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Namespace {
    /// Its own user and group ids (unprivileged containers).
    User,
    /// Its own mounts.
    Mount,
    /// Its own process ids; init is pid 1.
    Pid,
    /// Its own host name.
    Uts,
    /// Its own System V IPC and POSIX message queues.
    Ipc,
    /// Its own network devices.
    Net,
    /// Its own view of the cgroup tree.
    Cgroup,
}

impl Namespace {
    /// The `CLONE_NEW*` flag that makes the namespace.
    pub fn clone_flag(self) -> u64 {
        (match self {
            Namespace::User => libc::CLONE_NEWUSER,
            Namespace::Mount => libc::CLONE_NEWNS,
            Namespace::Pid => libc::CLONE_NEWPID,
            Namespace::Uts => libc::CLONE_NEWUTS,
            Namespace::Ipc => libc::CLONE_NEWIPC,
            Namespace::Net => libc::CLONE_NEWNET,
            Namespace::Cgroup => libc::CLONE_NEWCGROUP,
        }) as u64
    }

    /// The name under `/proc/<pid>/ns`.
    pub fn proc_name(self) -> &'static str {
        match self {
            Namespace::User => "user",
            Namespace::Mount => "mnt",
            Namespace::Pid => "pid",
            Namespace::Uts => "uts",
            Namespace::Ipc => "ipc",
            Namespace::Net => "net",
            Namespace::Cgroup => "cgroup",
        }
    }
}

/// One volume mounted into the staging rootfs by the monitor, before init is cloned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMount {
    /// `rootfs`, `mp0`, ...
    pub key: String,
    /// The volume as the config names it.
    pub volume: String,
    /// What the volume is on the host.
    pub source: VolumeSource,
    /// The path inside the container (`/` for the rootfs).
    pub target: String,
    /// `ro=1`.
    pub read_only: bool,
    /// Per-mount flags from `mountoptions` (nodev, noexec, nosuid, noatime).
    pub flags: Vec<MountOption>,
    /// File-system options from `mountoptions` (discard, lazytime); never applied to binds,
    /// which share the host's file system.
    pub fs_options: Vec<MountOption>,
}

/// How /dev gets its basic nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeCreation {
    /// mknod in the container's /dev (privileged).
    Mknod,
    /// Bind the host's nodes (a user namespace may not mknod).
    Bind,
}

/// A device node in the container's /dev.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevNode {
    /// The name below /dev.
    pub name: String,
    /// The device's major number.
    pub major: u32,
    /// The device's minor number.
    pub minor: u32,
}

/// A `devN` passthrough device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassthroughDevice {
    /// `dev0`, `dev1`, ...
    pub key: String,
    /// The host node and the path it gets inside the container.
    pub path: String,
    /// `c` or `b`.
    pub kind: char,
    /// The device's major number.
    pub major: u32,
    /// The device's minor number.
    pub minor: u32,
    /// The node's permission bits.
    pub mode: u32,
    /// Owner as stored on the host (already shifted for unprivileged containers).
    pub uid: u32,
    /// Group as stored on the host (already shifted for unprivileged containers).
    pub gid: u32,
    /// The container may read the device but not write it.
    pub deny_write: bool,
}

/// The container's /dev: a tmpfs with the basic nodes, devpts, console and ttys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevSetup {
    /// How the basic nodes are made.
    pub creation: NodeCreation,
    /// The basic nodes (null, zero, full, random, urandom, tty).
    pub nodes: Vec<DevNode>,
    /// `/dev/console` bound to a pty the monitor holds.
    pub console: bool,
    /// `tty1`..`ttyN` for `pct console`.
    pub ttys: u32,
}

/// How /proc is mounted (`lxc.mount.auto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcMode {
    /// LXC's proc:mixed: /proc/sys and /proc/sysrq-trigger read-only, /proc/sys/net writable.
    Mixed,
    /// All of /proc writable (`proc:rw`).
    Rw,
}

/// How /sys is mounted (`lxc.mount.auto`, `features`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SysMode {
    /// LXC's sys:mixed: /sys read-only except /sys/devices/virtual/net.
    Mixed,
    /// All of /sys read-only (`sys:ro`).
    Ro,
    /// All of /sys writable (`sys:rw`, nesting).
    Rw,
}

/// A raw `lxc.mount.entry` (fstab format).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountEntryPlan {
    /// What to mount: a host path for binds, else the file system's source.
    pub source: String,
    /// Relative to the container root.
    pub target: String,
    /// The file-system type (`none` for binds).
    pub fstype: String,
    /// The options, checked when the plan was built.
    pub options: Vec<MountEntryOption>,
}

/// A value written to a file of the container's cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupWrite {
    /// The cgroup file (`memory.max`).
    pub key: String,
    /// What is written to it.
    pub value: String,
}

/// The container's cgroup and its limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupPlan {
    /// The limiting cgroup relative to the v2 root (`lxc/100`); init goes to `<path>/ns`.
    pub path: String,
    /// The limits, in the order they are written.
    pub writes: Vec<CgroupWrite>,
    /// The files of `writes` this host has no controller for (each also a warning).
    #[serde(default)]
    pub unenforced: Vec<String>,
}

/// The container's init: what is executed, as whom, where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitPlan {
    /// The command and its arguments (`lxc.init.cmd`, `entrypoint`, else `/sbin/init`).
    pub argv: Vec<String>,
    /// Its environment, `NAME=value`.
    pub env: Vec<String>,
    /// Its working directory inside the container.
    pub cwd: String,
    /// Its user id inside the container (`lxc.init.uid`).
    pub uid: u32,
    /// Its group id inside the container (`lxc.init.gid`).
    pub gid: u32,
}

/// The seccomp policy init and everything in the container run under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeccompPlan {
    /// `default` (LXC's policy plus pct's additions) or the `lxc.seccomp.profile` path.
    pub source: String,
    /// The policy in LXC's text format.
    pub policy: String,
}

/// Everything a start will do, decided from the config and the host's facts before anything is
/// made: what `pct start --dry-run` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartPlan {
    /// The container's id.
    pub vmid: u32,
    /// The host name inside (`lxc.uts.name`, `hostname`, else `CT<vmid>`).
    pub hostname: String,
    /// The architecture (`amd64`, ...).
    pub arch: String,
    /// The guest's distribution as pct names it, or `unmanaged`.
    pub ostype: String,
    /// Whether the container has a user namespace.
    pub unprivileged: bool,
    /// The namespaces init is cloned into.
    pub namespaces: Vec<Namespace>,
    /// The user namespace's maps; none for privileged containers.
    pub id_map: Option<IdMap>,
    /// How the host writes `id_map` (the host's `idmap` setting).
    #[serde(default)]
    pub id_map_tool: IdMapTool,
    /// Container root (uid, gid) as seen on the host.
    pub root_owner: (u32, u32),
    /// rootfs, then the mount points, parents before children.
    pub volumes: Vec<VolumeMount>,
    /// The container's /dev.
    pub dev: DevSetup,
    /// The `devN` passthrough devices.
    pub devices: Vec<PassthroughDevice>,
    /// How /proc is mounted.
    pub proc: ProcMode,
    /// How /sys is mounted.
    pub sys: SysMode,
    /// /dev/.lxc/proc and /dev/.lxc/sys for nested containers.
    pub nesting: bool,
    /// `lxc.mount.entry` mounts, and the ones features add (fuse, an entrypoint's /dev/shm).
    pub mount_entries: Vec<MountEntryPlan>,
    /// The container's own boot id, bound over the kernel's.
    #[serde(default)]
    pub boot_id: BootIdPlan,
    /// lxcfs's views bound over /proc and /sys files; none when the host runs no lxcfs.
    #[serde(default)]
    pub lxcfs: Option<LxcfsPlan>,
    /// `lxc.sysctl.*` keys (without the prefix) and values, written inside.
    pub sysctls: Vec<(String, String)>,
    /// `lxc.prlimit.*`: the resource limits init starts with.
    pub rlimits: Vec<Prlimit>,
    /// Capabilities removed from the bounding set before init runs.
    pub cap_drop: Vec<Capability>,
    /// Paths inside the container covered by an empty read-only file or directory.
    pub masked_paths: Vec<String>,
    /// Paths inside the container bound read-only onto themselves.
    pub readonly_paths: Vec<String>,
    /// The AppArmor profile.
    pub apparmor: AppArmorPlan,
    /// The seccomp policy.
    pub seccomp: SeccompPlan,
    /// The cgroup and its limits.
    pub cgroup: CgroupPlan,
    /// The device filter of a privileged container, first match deciding and everything
    /// else denied; none for unprivileged ones, which their user namespace confines.
    pub device_rules: Option<Vec<DeviceRule>>,
    /// The veth pairs.
    pub network: Vec<NetworkDevice>,
    /// What init is.
    pub init: InitPlan,
    /// Signal names for `lxc.signal.halt`/`reboot`/`stop`, when set.
    pub halt_signal: Option<Signal>,
    /// `lxc.signal.reboot`, when set.
    pub reboot_signal: Option<Signal>,
    /// `lxc.signal.stop`, when set.
    pub stop_signal: Option<Signal>,
    /// The `hookscript` to run at each phase, resolved on the host.
    pub hookscript: Option<PathBuf>,
    /// Limits and keys corral will not enforce, said out loud.
    pub warnings: Vec<String>,
    /// What guest setup reads from the config, and the host files it falls back on.
    pub guest: GuestConfig,
    /// The host's files guest setup falls back on.
    pub guest_host: HostEnv,
}

/// Facts about the host that a plan needs, gathered before the pure planning step.
#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    /// Resolved sources of rootfs and mpN by key; resolution needs storage.cfg and the disk.
    pub volumes: BTreeMap<String, VolumeSource>,
    /// `devN` host nodes by path: kind, major, minor.
    pub devices: BTreeMap<String, (char, u32, u32)>,
    /// Controllers of the cgroup v2 hierarchy; `None` when there is none.
    pub cgroup_controllers: Option<Vec<String>>,
    /// CPUs the container cgroups may use.
    pub host_cpus: Vec<u32>,
    /// The text of the file `lxc.seccomp.profile` names.
    pub seccomp_profile: Option<String>,
    /// The `hookscript`, resolved to a host path.
    pub hookscript: Option<PathBuf>,
    /// The host's resolv.conf and time zone, for guest setup.
    pub guest_host: HostEnv,
    /// AppArmor's abilities; `None` when this host has no AppArmor.
    pub apparmor: Option<AppArmorHost>,
    /// The host root corral manages (part of generated AppArmor profile names).
    pub host_root: String,
    /// The host's lxcfs, when one runs.
    pub lxcfs: Option<LxcfsHost>,
    /// How ID maps are written (the host's `idmap` setting).
    pub id_map_tool: IdMapTool,
}

/// Kernel interfaces of /proc and /sys that reach the whole machine, hidden in every
/// container whatever its LSM: the OCI runtimes' masked paths, with kallsyms (kernel
/// addresses for a privileged root) and securityfs added. Missing ones are skipped.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/kallsyms",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/sys/kernel/security",
];

/// Read-only besides /proc/sys and /proc/sysrq-trigger (proc:mixed does those).
pub const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq"];

/// The nodes every container's /dev gets, as LXC's autodev makes them.
pub(crate) const BASIC_NODES: &[(&str, u32, u32)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Raw keys the plan understands; others are warned about.
const HANDLED_RAW: &[&str] = &[
    "lxc.idmap",
    "lxc.init.cmd",
    "lxc.init.cwd",
    "lxc.init.uid",
    "lxc.init.gid",
    "lxc.environment",
    "lxc.cap.drop",
    "lxc.cap.keep",
    "lxc.seccomp.profile",
    "lxc.apparmor.profile",
    "lxc.apparmor.raw",
    "lxc.apparmor.allow_nesting",
    "lxc.mount.entry",
    "lxc.mount.auto",
    "lxc.signal.halt",
    "lxc.signal.reboot",
    "lxc.signal.stop",
    "lxc.tty.max",
    "lxc.console.path",
    "lxc.uts.name",
    "lxc.arch",
];

/// The PATH init and attached commands get.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl StartPlan {
    /// Plan the start of `vmid` from its (pending-applied) main section.
    pub fn build(vmid: u32, section: &Section, facts: &HostFacts) -> Result<StartPlan, PlanError> {
        let mut warnings = Vec::new();
        let raw = |key: &str| raw_values(section, key);
        let last_raw = |key: &str| raw(key).last().map(|v| v.to_string());
        for (key, _) in &section.lxc {
            let handled = HANDLED_RAW.contains(&key.as_str())
                || key.starts_with("lxc.cgroup2.")
                || key.starts_with("lxc.sysctl.")
                || key.starts_with("lxc.prlimit.");
            if !handled {
                let warning = format!("{key} is not supported by corral, ignoring it");
                if !warnings.contains(&warning) {
                    warnings.push(warning);
                }
            }
        }

        let features = section
            .features()
            .map_err(|source| PlanError::property("features", source))?;
        let raw_idmap = raw("lxc.idmap");
        let unprivileged = section.flag("unprivileged") || !raw_idmap.is_empty();
        let id_map = if unprivileged {
            let map = IdMap::from_lxc_values(raw_idmap.iter().copied())?;
            map.validate()?;
            Some(map)
        } else {
            None
        };
        let root_owner = match &id_map {
            Some(map) => {
                let uid = map.to_host(IdKind::User, 0);
                let gid = map.to_host(IdKind::Group, 0);
                match (uid, gid) {
                    (Some(uid), Some(gid)) => (uid, gid),
                    _ => return Err(PlanError::RootNotMapped),
                }
            }
            None => (0, 0),
        };

        let mut namespaces = vec![
            Namespace::Mount,
            Namespace::Pid,
            Namespace::Uts,
            Namespace::Ipc,
            Namespace::Net,
            Namespace::Cgroup,
        ];
        if unprivileged {
            namespaces.insert(0, Namespace::User);
        }

        let volumes = plan_volumes(section, facts)?;
        let devices = plan_devices(section, facts, id_map.as_ref())?;

        let ttys = last_raw("lxc.tty.max")
            .and_then(|v| v.trim().parse().ok())
            .or_else(|| section.get("tty").and_then(|v| v.parse().ok()))
            .unwrap_or(2u32);
        let console =
            section.flag("console") && last_raw("lxc.console.path").as_deref() != Some("none");
        let dev = DevSetup {
            creation: if unprivileged {
                NodeCreation::Bind
            } else {
                NodeCreation::Mknod
            },
            nodes: BASIC_NODES
                .iter()
                .map(|(name, major, minor)| DevNode {
                    name: name.to_string(),
                    major: *major,
                    minor: *minor,
                })
                .collect(),
            console,
            ttys,
        };

        let nesting = features.nesting.unwrap_or(false);
        let mut proc = ProcMode::Mixed;
        let mut sys = if nesting || features.force_rw_sys.unwrap_or(false) {
            SysMode::Rw
        } else {
            SysMode::Mixed
        };
        for value in raw("lxc.mount.auto") {
            for word in value.split_whitespace() {
                match word {
                    "proc:mixed" => proc = ProcMode::Mixed,
                    "proc:rw" => proc = ProcMode::Rw,
                    "sys:mixed" => sys = SysMode::Mixed,
                    "sys:ro" => sys = SysMode::Ro,
                    "sys:rw" => sys = SysMode::Rw,
                    other => warnings.push(format!(
                        "lxc.mount.auto: '{other}' is not supported by corral, ignoring it"
                    )),
                }
            }
        }

        let mut mount_entries = Vec::new();
        for value in raw("lxc.mount.entry") {
            mount_entries.push(parse_mount_entry(value)?);
        }
        if features.fuse.unwrap_or(false) {
            mount_entries.push(MountEntryPlan {
                source: "/dev/fuse".into(),
                target: "dev/fuse".into(),
                fstype: "none".into(),
                options: vec![
                    MountEntryOption::Flag(MountEntryFlag::Bind),
                    MountEntryOption::Flag(MountEntryFlag::CreateFile),
                ],
            });
        }
        let entrypoint = section.get("entrypoint");
        if entrypoint.is_some_and(|e| e != "/sbin/init") {
            mount_entries.push(MountEntryPlan {
                source: "shm".into(),
                target: "dev/shm".into(),
                fstype: "tmpfs".into(),
                options: mount_entry::parse_options("rw,nosuid,nodev,create=dir")?,
            });
        }

        let sysctls = section
            .lxc
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("lxc.sysctl.")?.to_string(), v.clone())))
            .collect();
        let rlimits = section
            .lxc
            .iter()
            .filter_map(|(k, v)| Some(Prlimit::parse(k.strip_prefix("lxc.prlimit.")?, v)))
            .collect::<Result<_, _>>()?;

        let cap_drop =
            caps::bounding_drop(unprivileged, &raw("lxc.cap.drop"), &raw("lxc.cap.keep"))?;

        let mknod = features.mknod.unwrap_or(false);
        if mknod && !unprivileged {
            // A privileged root makes nodes itself; the device filter decides their use.
            warnings.push("features: mknod=1 only applies to unprivileged containers".into());
        }
        let seccomp = match last_raw("lxc.seccomp.profile") {
            Some(path) => SeccompPlan {
                policy: facts
                    .seccomp_profile
                    .clone()
                    .ok_or_else(|| PlanError::SeccompProfile { path: path.clone() })?,
                source: path,
            },
            None => SeccompPlan {
                source: "default".into(),
                policy: seccomp::container_policy(seccomp::PolicyOptions {
                    unprivileged,
                    keyctl: features.keyctl.unwrap_or(false),
                    nesting,
                    mknod: mknod && unprivileged,
                }),
            },
        };
        // A policy that does not parse fails the start where it is compiled, with its line.
        if let Ok(policy) = seccomp::Policy::parse(&seccomp.policy) {
            for name in policy.unknown_syscalls() {
                warnings.push(format!("seccomp: unknown syscall '{name}' is not filtered"));
            }
        }
        if seccomp.source != "default" {
            warn_overridden(
                "lxc.seccomp.profile",
                &[("keyctl", features.keyctl), ("mknod", features.mknod)],
                &mut warnings,
            );
        }
        let apparmor_profile = raw("lxc.apparmor.profile").last().map(|p| p.trim());
        if apparmor_profile.is_some() {
            let mount = (!features.mount.is_empty()).then_some(true);
            warn_overridden(
                "lxc.apparmor.profile",
                &[("nesting", features.nesting), ("mount", mount)],
                &mut warnings,
            );
        }
        let apparmor = apparmor::plan(
            &AppArmorRequest {
                vmid,
                host_root: &facts.host_root,
                unprivileged,
                nesting,
                mount_fstypes: &features.mount,
                profile: apparmor_profile,
                raw: raw("lxc.apparmor.raw"),
                allow_nesting: raw("lxc.apparmor.allow_nesting")
                    .last()
                    .map(|v| v.trim() == "1"),
            },
            facts.apparmor.as_ref(),
            &mut warnings,
        );

        let cgroup = plan_cgroup(vmid, section, facts, &mut warnings)?;
        let device_rules = if unprivileged {
            None
        } else {
            Some(plan_device_rules(section, &devices)?)
        };
        let network = plan_network(vmid, section, &mut warnings)?;

        let hostname = last_raw("lxc.uts.name")
            .or_else(|| section.hostname().map(str::to_string))
            .unwrap_or_else(|| format!("CT{vmid}"));
        let init = plan_init(section)?;

        Ok(StartPlan {
            vmid,
            hostname,
            arch: last_raw("lxc.arch")
                .or_else(|| section.get("arch").map(str::to_string))
                .unwrap_or_else(|| "amd64".into()),
            ostype: section.get("ostype").unwrap_or("unmanaged").to_string(),
            unprivileged,
            namespaces,
            id_map,
            id_map_tool: facts.id_map_tool,
            root_owner,
            volumes,
            dev,
            devices,
            proc,
            sys,
            nesting,
            mount_entries,
            boot_id: BootIdPlan::default(),
            lxcfs: facts.lxcfs.as_ref().map(LxcfsPlan::from_host),
            sysctls,
            rlimits,
            cap_drop,
            masked_paths: MASKED_PATHS.iter().map(|p| p.to_string()).collect(),
            readonly_paths: if proc == ProcMode::Mixed {
                READONLY_PATHS.iter().map(|p| p.to_string()).collect()
            } else {
                Vec::new()
            },
            apparmor,
            seccomp,
            cgroup,
            device_rules,
            network,
            init,
            halt_signal: signal(&section.lxc, "lxc.signal.halt")?,
            reboot_signal: signal(&section.lxc, "lxc.signal.reboot")?,
            stop_signal: signal(&section.lxc, "lxc.signal.stop")?,
            hookscript: facts.hookscript.clone(),
            warnings,
            guest: GuestConfig::from_section(section).map_err(PlanError::GuestConfig)?,
            guest_host: facts.guest_host.clone(),
        })
    }

    /// The `CLONE_NEW*` flags of every namespace of the plan.
    pub fn clone_flags(&self) -> u64 {
        self.namespaces
            .iter()
            .fold(0, |flags, ns| flags | ns.clone_flag())
    }

    /// The text `pct start --dry-run` prints: one line per decision, in the order they apply.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line(format!("vmid: {}", self.vmid));
        line(format!("hostname: {}", self.hostname));
        line(format!("arch: {}", self.arch));
        line(format!("ostype: {}", self.ostype));
        line(if self.guest.ostype.as_deref() == Some("unmanaged") {
            "guest setup: none (unmanaged)".to_string()
        } else {
            let nics: Vec<&str> = self.guest.named_nets().map(|n| n.name.as_str()).collect();
            format!(
                "guest setup: pre-start files for hostname, hosts, resolv.conf, ttys ({}){}",
                self.guest.tty,
                if nics.is_empty() {
                    String::new()
                } else {
                    format!(", network for {}", nics.join(" "))
                }
            )
        });
        line(format!(
            "namespaces: {}",
            self.namespaces
                .iter()
                .map(|ns| ns.proc_name())
                .collect::<Vec<_>>()
                .join(" ")
        ));
        match &self.id_map {
            Some(map) => {
                for entry in &map.entries {
                    line(format!("idmap: {entry}"));
                }
            }
            None => line("idmap: none (privileged)".into()),
        }
        for volume in &self.volumes {
            let mut options = Vec::new();
            if volume.read_only {
                options.push("ro".to_string());
            }
            options.extend(volume.flags.iter().map(|o| o.name().to_string()));
            options.extend(volume.fs_options.iter().map(|o| o.name().to_string()));
            line(format!(
                "mount {}: {} ({}) at {}{}",
                volume.key,
                volume.volume,
                describe_source(&volume.source),
                volume.target,
                if options.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", options.join(","))
                }
            ));
        }
        line(format!(
            "dev: tmpfs with {} ({}), devpts, console {}, ttys {}",
            self.dev
                .nodes
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            match self.dev.creation {
                NodeCreation::Mknod => "mknod",
                NodeCreation::Bind => "bound from the host",
            },
            if self.dev.console { "yes" } else { "none" },
            self.dev.ttys
        ));
        for device in &self.devices {
            line(format!(
                "device {}: {} {} {}:{} mode {:04o} owner {}:{}{}",
                device.key,
                device.path,
                device.kind,
                device.major,
                device.minor,
                device.mode,
                device.uid,
                device.gid,
                if device.deny_write { " deny-write" } else { "" }
            ));
        }
        line(format!(
            "proc: {}, sys: {}, cgroup2 at /sys/fs/cgroup{}",
            match self.proc {
                ProcMode::Mixed => "mixed",
                ProcMode::Rw => "rw",
            },
            match self.sys {
                SysMode::Mixed => "mixed",
                SysMode::Ro => "ro",
                SysMode::Rw => "rw",
            },
            if self.nesting { ", nesting" } else { "" }
        ));
        for entry in &self.mount_entries {
            line(format!(
                "mount entry: {} {} {} {}",
                entry.source,
                entry.target,
                entry.fstype,
                entry
                    .options
                    .iter()
                    .map(|o| o.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        line(format!(
            "boot id: {} (new at every boot) bound read-only at {}",
            self.boot_id.file, self.boot_id.target
        ));
        line(match &self.lxcfs {
            Some(lxcfs) => format!(
                "lxcfs: {} bound read-only at {}",
                lxcfs.mount.display(),
                lxcfs.targets.join(" ")
            ),
            None => "lxcfs: none (no fuse.lxcfs mount on this host)".to_string(),
        });
        for (key, value) in &self.sysctls {
            line(format!("sysctl: {key} = {value}"));
        }
        for limit in &self.rlimits {
            line(format!("prlimit: {limit}"));
        }
        line(format!(
            "capabilities dropped: {}",
            if self.cap_drop.is_empty() {
                "none".to_string()
            } else {
                let names: Vec<&str> = self.cap_drop.iter().map(|cap| cap.name()).collect();
                names.join(" ")
            }
        ));
        line(format!("masked: {}", self.masked_paths.join(" ")));
        if !self.readonly_paths.is_empty() {
            line(format!("read-only: {}", self.readonly_paths.join(" ")));
        }
        line(match (&self.apparmor.label, &self.apparmor.generated) {
            (None, _) => "apparmor: none".to_string(),
            (Some(label), Some(profile)) => format!(
                "apparmor: {label} (generated, {} rules)",
                profile
                    .text
                    .lines()
                    .filter(|l| l.trim_end().ends_with(','))
                    .count()
            ),
            (Some(label), None) => format!("apparmor: {label}"),
        });
        line(format!("seccomp: {}", self.seccomp.source));
        for rule in self.seccomp.policy.lines() {
            line(format!("  {rule}"));
        }
        line(format!(
            "cgroup: {} (init in {}/ns)",
            self.cgroup.path, self.cgroup.path
        ));
        for write in &self.cgroup.writes {
            line(format!("  {} = {}", write.key, write.value));
        }
        match &self.device_rules {
            None => line("devices: any node (the user namespace confines them)".into()),
            Some(rules) => {
                line("devices: deny all but".into());
                for rule in rules {
                    line(format!("  {}", describe_device_rule(rule)));
                }
            }
        }
        for net in &self.network {
            line(format!(
                "network {}: {} (host {}){}{}",
                net.key,
                net.name,
                net.host_name,
                net.bridge
                    .as_ref()
                    .map(|b| format!(" bridge {b}"))
                    .unwrap_or_default(),
                net.hwaddr
                    .as_ref()
                    .map(|h| format!(" hwaddr {h}"))
                    .unwrap_or_default()
            ));
        }
        line(format!("init: {}", self.init.argv.join(" ")));
        for var in &self.init.env {
            line(format!("  env {var}"));
        }
        if let Some(hook) = &self.hookscript {
            line(format!("hookscript: {}", hook.display()));
        }
        for warning in &self.warnings {
            line(format!("warning: {warning}"));
        }
        out
    }
}

/// pct's warning when a raw key takes over what `features` would have set.
fn warn_overridden(key: &str, features: &[(&str, Option<bool>)], warnings: &mut Vec<String>) {
    let used: Vec<String> = features
        .iter()
        .filter(|(_, on)| *on == Some(true))
        .map(|(name, _)| format!("features:{name}"))
        .collect();
    if !used.is_empty() {
        warnings.push(format!(
            "explicitly configured {key} overrides the following settings: {}",
            used.join(", ")
        ));
    }
}

/// The last value of an `lxc.signal.*` key, checked: LXC's names, `SIG` optional, or numbers.
fn signal(lxc: &[(String, String)], key: &str) -> Result<Option<Signal>, PlanError> {
    let Some((_, name)) = lxc.iter().rfind(|(k, _)| k == key) else {
        return Ok(None);
    };
    Signal::try_from(name.clone())
        .map(Some)
        .map_err(|source| PlanError::Signal {
            key: key.to_string(),
            source,
        })
}

/// The values of a raw `lxc.*` key, in file order.
fn raw_values<'a>(section: &'a Section, key: &str) -> Vec<&'a str> {
    section
        .lxc
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn describe_source(source: &VolumeSource) -> String {
    match source {
        VolumeSource::RawImage(path) => format!("raw image {}", path.display()),
        VolumeSource::Directory(path) => format!("directory {}", path.display()),
        VolumeSource::BlockDevice(path) => format!("block device {}", path.display()),
    }
}

fn plan_volumes(section: &Section, facts: &HostFacts) -> Result<Vec<VolumeMount>, PlanError> {
    let rootfs = section
        .rootfs()
        .ok_or(PlanError::MissingRootfs)?
        .map_err(|source| PlanError::property("rootfs", source))?;
    let mut points = vec![("rootfs".to_string(), rootfs)];
    let mut mps = Vec::new();
    for (index, mp) in section.mount_points() {
        let key = format!("mp{index}");
        let mp = mp.map_err(|source| PlanError::property(&key, source))?;
        mps.push((key, mp));
    }
    // Parents before children: sorted by the path inside the container.
    mps.sort_by(|a, b| a.1.mp.cmp(&b.1.mp));
    points.extend(mps);
    points
        .into_iter()
        .map(|(key, mp)| {
            let source =
                facts
                    .volumes
                    .get(&key)
                    .cloned()
                    .ok_or_else(|| PlanError::UnresolvedVolume {
                        key: key.clone(),
                        volume: mp.volume.clone(),
                    })?;
            let (mut flags, mut fs_options) = (Vec::new(), Vec::new());
            for option in &mp.mountoptions {
                match option {
                    MountOption::Discard | MountOption::Lazytime => {
                        if mp.kind() != MountKind::Bind {
                            fs_options.push(*option);
                        }
                    }
                    _ => flags.push(*option),
                }
            }
            Ok(VolumeMount {
                target: mp.mp.clone().unwrap_or_else(|| "/".into()),
                volume: mp.volume.clone(),
                read_only: mp.ro.unwrap_or(false),
                key,
                source,
                flags,
                fs_options,
            })
        })
        .collect()
}

fn plan_devices(
    section: &Section,
    facts: &HostFacts,
    id_map: Option<&IdMap>,
) -> Result<Vec<PassthroughDevice>, PlanError> {
    let mut devices = Vec::new();
    for (index, entry) in section.devices() {
        let key = format!("dev{index}");
        let entry = entry.map_err(|source| PlanError::property(&key, source))?;
        let (kind, major, minor) =
            *facts
                .devices
                .get(&entry.path)
                .ok_or_else(|| PlanError::MissingDevice {
                    path: entry.path.clone(),
                })?;
        let mode = match &entry.mode {
            Some(text) => u32::from_str_radix(text, 8)
                .map_err(|_| PlanError::DeviceMode { key: key.clone() })?,
            None => 0o660,
        };
        let (uid, gid) = (entry.uid.unwrap_or(0), entry.gid.unwrap_or(0));
        let shift = |kind, id| match id_map {
            Some(map) => map
                .to_host(kind, id)
                .ok_or_else(|| PlanError::DeviceIdNotMapped {
                    key: key.clone(),
                    id,
                }),
            None => Ok(id),
        };
        devices.push(PassthroughDevice {
            path: entry.path.clone(),
            kind,
            major,
            minor,
            mode,
            uid: shift(IdKind::User, uid)?,
            gid: shift(IdKind::Group, gid)?,
            deny_write: entry.deny_write.unwrap_or(false),
            key,
        });
    }
    Ok(devices)
}

/// pve-container's limits (memory.max/high/swap.max, cpu.max/weight, cpuset.cpus) and raw
/// `lxc.cgroup2.*` keys; each limit whose controller the host lacks becomes a warning.
/// The cgroup writes a config asks for, with warnings for what the host cannot enforce
/// (the same as a start would make; `pct set` on a running container writes a subset).
pub(crate) fn cgroup_writes(
    vmid: u32,
    section: &Section,
    facts: &HostFacts,
) -> Result<CgroupPlan, super::limits::LimitError> {
    plan_cgroup(vmid, section, facts, &mut Vec::new())
}

/// The warning for a limit this host has no controller for.
pub(crate) fn unenforced_warning(file: &str, value: &str) -> String {
    let controller = file.split('.').next().unwrap_or("");
    format!(
        "cgroup v2 controller '{controller}' is not available: {file} = {value} is not enforced"
    )
}

/// LXC's default device list, each `devN` node, then `lxc.cgroup2.devices.allow`/`deny` in
/// config order: `deny a` empties the list, `allow a` opens everything, other denies go
/// first (the first matching rule decides).
fn plan_device_rules(
    section: &Section,
    devices: &[PassthroughDevice],
) -> Result<Vec<DeviceRule>, PlanError> {
    let mut rules = devices::default_rules();
    for device in devices {
        rules.push(DeviceRule::node(device.kind, device.major, device.minor));
    }
    for (key, value) in &section.lxc {
        let allow = match key.as_str() {
            "lxc.cgroup2.devices.allow" => true,
            "lxc.cgroup2.devices.deny" => false,
            _ => continue,
        };
        let rule = DeviceRule::parse(value, allow).map_err(|source| PlanError::DeviceRule {
            key: key.clone(),
            source,
        })?;
        match (rule.is_everything(), allow) {
            (true, false) => rules.clear(),
            (true, true) => rules = vec![rule],
            (false, true) => rules.push(rule),
            (false, false) => rules.insert(0, rule),
        }
    }
    Ok(rules)
}

fn describe_device_rule(rule: &DeviceRule) -> String {
    let number = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
    let access: String = [(1, 'm'), (2, 'r'), (4, 'w')]
        .iter()
        .filter(|(bit, _)| rule.access & bit != 0)
        .map(|(_, letter)| *letter)
        .collect();
    format!(
        "{} {} {}:{} {access}",
        if rule.allow { "allow" } else { "deny" },
        rule.kind.unwrap_or('a'),
        number(rule.major),
        number(rule.minor)
    )
}

/// The default `pids.max` of a container: generous for any service, small against a fork
/// bomb.
pub const DEFAULT_PIDS_MAX: u32 = 8192;

fn plan_cgroup(
    vmid: u32,
    section: &Section,
    facts: &HostFacts,
    warnings: &mut Vec<String>,
) -> Result<CgroupPlan, super::limits::LimitError> {
    let mut writes = Vec::new();
    let mut add = |key: &str, value: String| {
        writes.retain(|w: &CgroupWrite| w.key != key);
        writes.push(CgroupWrite {
            key: key.to_string(),
            value,
        });
    };
    let memory = super::limits::memory_limits(section)?;
    add("memory.max", memory.max.to_string());
    add("memory.high", memory.high.to_string());
    add("memory.swap.max", memory.swap_max.to_string());
    if let Some(quota) = super::limits::cpu_max(section)? {
        add("cpu.max", quota);
    }
    if let Some(weight) = super::limits::cpu_weight(section)? {
        add("cpu.weight", weight.to_string());
    }
    let raw_cpuset = section
        .lxc
        .iter()
        .any(|(k, _)| k == "lxc.cgroup2.cpuset.cpus");
    if let (Some(cores), false) = (super::limits::cores(section)?, raw_cpuset)
        && !facts.host_cpus.is_empty()
    {
        add("cpuset.cpus", pick_cpus(vmid, cores, &facts.host_cpus));
    }
    // Not pct's: a bound on tasks so a fork bomb inside stops at the container's edge
    // instead of the host's pid_max. `lxc.cgroup2.pids.max` overrides it.
    add("pids.max", DEFAULT_PIDS_MAX.to_string());
    for (key, value) in &section.lxc {
        if let Some(file) = key.strip_prefix("lxc.cgroup2.")
            && !file.starts_with("devices.")
        {
            add(file, value.clone());
        }
    }
    let mut unenforced = Vec::new();
    match &facts.cgroup_controllers {
        None => {
            warnings.push("no cgroup v2 hierarchy on this host: no limit is enforced".to_string());
            unenforced = writes.iter().map(|w| w.key.clone()).collect();
        }
        Some(controllers) => {
            for write in &writes {
                let controller = write.key.split('.').next().unwrap_or("");
                let builtin = controller == "cgroup" || controller == "devices";
                if !builtin && !controllers.iter().any(|c| c == controller) {
                    warnings.push(unenforced_warning(&write.key, &write.value));
                    unenforced.push(write.key.clone());
                }
            }
        }
    }
    Ok(CgroupPlan {
        path: crate::cgroup::container_path(vmid),
        writes,
        unenforced,
    })
}

/// `cores` picks that many host CPUs. pct picks them at random; corral rotates through the host
/// CPUs by vmid, which spreads containers the same way and keeps plans reproducible.
pub(crate) fn pick_cpus(vmid: u32, cores: usize, host_cpus: &[u32]) -> String {
    let count = cores.min(host_cpus.len());
    let offset = vmid as usize % host_cpus.len();
    let mut chosen: Vec<u32> = (0..count)
        .map(|i| host_cpus[(offset + i) % host_cpus.len()])
        .collect();
    chosen.sort_unstable();
    format_cpu_list(&chosen)
}

/// `0-3,6`: the kernel's list format.
pub(crate) fn format_cpu_list(cpus: &[u32]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            i += 1;
            end = cpus[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// Parse the kernel's list format back.
pub(crate) fn parse_cpu_list(text: &str) -> Vec<u32> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    cpus.extend(a..=b);
                }
            }
            None => cpus.extend(part.parse::<u32>().ok()),
        }
    }
    cpus
}

/// The network devices a config asks for (pct set's hotplug compares them).
pub(crate) fn network_devices(
    vmid: u32,
    section: &Section,
) -> Result<Vec<NetworkDevice>, PlanError> {
    plan_network(vmid, section, &mut Vec::new())
}

fn plan_network(
    vmid: u32,
    section: &Section,
    warnings: &mut Vec<String>,
) -> Result<Vec<NetworkDevice>, PlanError> {
    use crate::config::{Ip4Config, Ip6Config};
    // The guest's network files carry the addresses (guest setup), except where pct leaves
    // the guest alone: unmanaged containers, and host-managed interfaces.
    let unmanaged = section.get("ostype") == Some("unmanaged");
    section
        .nets()
        .into_iter()
        .map(|(index, net)| {
            let key = format!("net{index}");
            let net = net.map_err(|source| PlanError::property(&key, source))?;
            let ours = unmanaged || net.host_managed == Some(true);
            let mut addresses = Vec::new();
            let mut gateways = Vec::new();
            if ours {
                match &net.ip {
                    Some(Ip4Config::Static { address, prefix }) => {
                        addresses.push(format!("{address}/{prefix}"))
                    }
                    Some(Ip4Config::Dhcp) => warnings.push(format!(
                        "{key}: ip=dhcp runs no DHCP client in this container"
                    )),
                    _ => {}
                }
                match &net.ip6 {
                    Some(Ip6Config::Static { address, prefix }) => {
                        addresses.push(format!("{address}/{prefix}"))
                    }
                    Some(Ip6Config::Dhcp) => warnings.push(format!(
                        "{key}: ip6=dhcp runs no DHCP client in this container"
                    )),
                    _ => {}
                }
                gateways.extend(net.gw.clone());
                gateways.extend(net.gw6.clone());
            }
            if net.firewall == Some(true) {
                warnings.push(format!(
                    "{key}: firewall=1 is accepted, but corral has no firewall yet"
                ));
            }
            Ok(NetworkDevice {
                key,
                host_name: format!("veth{vmid}i{index}"),
                name: net.name,
                bridge: net.bridge,
                hwaddr: net.hwaddr,
                mtu: net.mtu,
                tag: net.tag,
                trunks: net.trunks.unwrap_or_default(),
                link_down: net.link_down == Some(true),
                rate: net.rate,
                addresses,
                gateways,
            })
        })
        .collect()
}

fn plan_init(section: &Section) -> Result<InitPlan, PlanError> {
    let raw = |key: &str| raw_values(section, key);
    let command = raw("lxc.init.cmd")
        .last()
        .map(|v| v.to_string())
        .or_else(|| section.get("entrypoint").map(str::to_string))
        .unwrap_or_else(|| "/sbin/init".into());
    let argv = split_command(&command)?;
    if argv.is_empty() {
        return Err(PlanError::EmptyInitCommand);
    }
    let mut env = vec!["container=lxc".to_string(), "TERM=linux".to_string()];
    let mut set = |var: &str| {
        let name = var.split('=').next().unwrap_or(var);
        env.retain(|e| e.split('=').next() != Some(name));
        env.push(var.to_string());
    };
    for var in raw("lxc.environment") {
        // A bare name passes the host's value in LXC; the monitor has none worth passing.
        if var.contains('=') {
            set(var.trim());
        }
    }
    for var in &section.env {
        set(var);
    }
    let id = |key: &str| -> Result<u32, PlanError> {
        match raw(key).last() {
            Some(v) => v.trim().parse().map_err(|_| PlanError::InitId {
                key: key.to_string(),
                value: v.to_string(),
            }),
            None => Ok(0),
        }
    };
    Ok(InitPlan {
        argv,
        env,
        cwd: raw("lxc.init.cwd")
            .last()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "/".into()),
        uid: id("lxc.init.uid")?,
        gid: id("lxc.init.gid")?,
    })
}

/// Split a command line on blanks, honouring single and double quotes (LXC's rules for
/// `lxc.init.cmd`).
pub(crate) fn split_command(command: &str) -> Result<Vec<String>, PlanError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(PlanError::UnterminatedQuote {
            command: command.to_string(),
        });
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// `lxc.mount.entry = <source> <target> <fstype> <options> [dump pass]`.
fn parse_mount_entry(value: &str) -> Result<MountEntryPlan, MountEntryError> {
    let fields: Vec<&str> = value.split_whitespace().collect();
    if fields.len() < 4 {
        return Err(MountEntryError::InvalidEntry {
            entry: value.to_string(),
        });
    }
    let target = fields[1].trim_start_matches('/').to_string();
    if target.split('/').any(|c| c == "..") {
        return Err(MountEntryError::TargetOutside {
            target: fields[1].to_string(),
        });
    }
    Ok(MountEntryPlan {
        source: fields[0].to_string(),
        target,
        fstype: fields[2].to_string(),
        options: mount_entry::parse_options(fields[3])?,
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod readme_tests;
