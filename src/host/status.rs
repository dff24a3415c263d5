//! What pct reports about containers: `pct list`, `pct status` and `pct df`.

use super::volumes::mount_points_in_order;
use super::{Container, Error, Host};
use crate::cgroup::{ContainerCgroup, Hierarchy};
use rustix::fs::{Mode, OFlags, ResolveFlags, StatVfs, openat2};

use crate::config::Warning;

/// One row of `pct list`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListEntry {
    /// The container's id.
    pub vmid: u32,
    /// `running` or `stopped`.
    pub status: String,
    /// The config's `lock`, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    /// The hostname, or `CT<vmid>`.
    pub name: String,
}

/// `pct status`: the keys pct's vmstatus reports that corral knows for this container.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ContainerStatus {
    /// The container's id.
    pub vmid: u32,
    /// `running` or `stopped`.
    pub status: String,
    /// The hostname, or `CT<vmid>`.
    pub name: String,
    /// `lxc`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The config's `lock`, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    /// The config's `tags`, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<String>,
    /// `1` for a template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<u8>,
    /// The memory limit in bytes.
    pub maxmem: u64,
    /// The swap limit in bytes.
    pub maxswap: u64,
    /// The root disk's size in bytes.
    pub maxdisk: u64,
    /// Memory in use, bytes.
    pub mem: u64,
    /// Swap in use, bytes.
    pub swap: u64,
    /// Root disk space in use, bytes.
    pub disk: u64,
    /// CPUs the container may use.
    pub cpus: u64,
    /// Share of its CPUs the container used since it started (pct samples it over time).
    pub cpu: f64,
    /// Seconds since init started.
    pub uptime: u64,
    /// Bytes the container received over its network devices.
    pub netin: u64,
    /// Bytes the container sent over its network devices.
    pub netout: u64,
    /// Bytes read from block devices.
    pub diskread: u64,
    /// Bytes written to block devices.
    pub diskwrite: u64,
    /// Init's pid on the host, when running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// CPU pressure (`some`, avg10 share), when running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pressurecpusome: Option<f64>,
    /// CPU pressure (`full`, avg10 share), when running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pressurecpufull: Option<f64>,
    /// I/O pressure (`some`, avg10 share), when running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pressureiosome: Option<f64>,
    /// I/O pressure (`full`, avg10 share), when running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pressureiofull: Option<f64>,
    /// Memory pressure (`some`, avg10 share), when running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pressurememorysome: Option<f64>,
    /// Memory pressure (`full`, avg10 share), when running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pressurememoryfull: Option<f64>,
    /// corral's: the limits of a running container this host cannot enforce (missing cgroup
    /// v2 controllers), space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unenforced: Option<String>,
}

impl ContainerStatus {
    /// `pct status --verbose`: every defined key sorted, as `key: value`.
    pub fn verbose_lines(&self) -> Vec<String> {
        let value = serde_json::to_value(self).expect("status serialises");
        let object = value.as_object().expect("status is an object");
        let mut keys: Vec<&String> = object.keys().collect();
        keys.sort();
        keys.into_iter()
            .map(|key| match &object[key] {
                serde_json::Value::String(text) => format!("{key}: {text}"),
                other => format!("{key}: {other}"),
            })
            .collect()
    }
}

/// One row of `pct df`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DiskUsage {
    /// `rootfs`, `mp0`, ...
    pub mount_point: String,
    /// The volume as the config names it.
    pub volume: String,
    /// Size of its file system, bytes.
    pub total: u64,
    /// Bytes in use.
    pub used: u64,
    /// Bytes available.
    pub avail: u64,
    /// The path inside the container.
    pub path: String,
}

/// One `pct df` row from the file system's numbers.
fn usage_row(mount_point: String, volume: String, path: String, stat: &StatVfs) -> DiskUsage {
    let block = stat.f_frsize;
    let total = stat.f_blocks * block;
    DiskUsage {
        mount_point,
        volume,
        total,
        used: total - stat.f_bfree * block,
        avail: stat.f_bavail * block,
        path,
    }
}

/// Seconds since a process started, from its start time in clock ticks after boot.
fn seconds_since_start(start_ticks: u64) -> Option<u64> {
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    let since_boot: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks <= 0 {
        return None;
    }
    Some((since_boot - start_ticks as f64 / ticks as f64).max(0.0) as u64)
}

fn display_name(ct: &Container<'_>, hostname: Option<&str>) -> String {
    hostname
        .map(|name| name.split_whitespace().collect::<String>())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| format!("CT{}", ct.vmid))
}

impl Host {
    /// `pct list`: every container, sorted by id, with the warnings reading their configs
    /// gave. A container whose config cannot be read at all is still listed (it may run), by
    /// its default name, with a warning saying why.
    pub fn list(&self) -> Result<(Vec<ListEntry>, Vec<Warning>), Error> {
        let mut entries = Vec::new();
        let mut warnings = Vec::new();
        for vmid in self.vmids()? {
            let ct = self.container(vmid);
            let config = match ct.config_with_warnings() {
                Ok((config, read_warnings)) => {
                    warnings.extend(read_warnings);
                    Some(config)
                }
                Err(e) => {
                    warnings.push(Warning(format!("CT {vmid}: {e}")));
                    None
                }
            };
            let main = config.as_ref().map(|c| &c.main);
            entries.push(ListEntry {
                vmid: vmid.get(),
                status: if ct.is_running() {
                    "running"
                } else {
                    "stopped"
                }
                .into(),
                lock: main.and_then(|m| m.lock()).map(str::to_string),
                name: display_name(&ct, main.and_then(|m| m.hostname())),
            });
        }
        Ok((entries, warnings))
    }
}

impl Container<'_> {
    /// `pct status --verbose`: the container's state, limits and usage.
    pub fn status(&self) -> Result<ContainerStatus, Error> {
        let config = self.config()?;
        let main = &config.main;
        let init = self.running_init();
        let pid = init.as_ref().map(|init| init.pid);
        let uptime = init
            .as_ref()
            .and_then(|init| seconds_since_start(init.start_time))
            .unwrap_or(0);
        let host_cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u64)
            .unwrap_or(1);
        let cores = main.get("cores").and_then(|v| v.parse().ok());
        let cpulimit = main
            .get("cpulimit")
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|limit| *limit > 0.0);
        let cpus = cores
            .or(cpulimit.map(|limit| limit.ceil() as u64))
            .unwrap_or(host_cpus);
        let maxdisk = main
            .rootfs()
            .and_then(|rootfs| rootfs.ok())
            .and_then(|rootfs| rootfs.size)
            .unwrap_or(4 * 1024 * 1024 * 1024);
        let mut status = ContainerStatus {
            vmid: self.vmid.get(),
            status: if pid.is_some() { "running" } else { "stopped" }.into(),
            name: display_name(self, main.hostname()),
            kind: "lxc".into(),
            lock: main.lock().map(str::to_string),
            tags: main.get("tags").map(str::to_string),
            template: main.flag("template").then_some(1),
            // A value too large to be a limit shows as the most there is, not wrapped.
            maxmem: main.memory().saturating_mul(1024 * 1024),
            maxswap: main.swap().unwrap_or(0).saturating_mul(1024 * 1024),
            maxdisk,
            mem: 0,
            swap: 0,
            disk: 0,
            cpus,
            uptime,
            netin: 0,
            netout: 0,
            diskread: 0,
            diskwrite: 0,
            pid,
            cpu: 0.0,
            pressurecpusome: None,
            pressurecpufull: None,
            pressureiosome: None,
            pressureiofull: None,
            pressurememorysome: None,
            pressurememoryfull: None,
            unenforced: None,
        };
        if init.is_some() {
            (status.netin, status.netout) = crate::net::counters(self.vmid.get());
        }
        if let (Some(init), Some(hierarchy)) = (&init, Hierarchy::find()) {
            self.add_usage(&mut status, init.pid, &hierarchy);
        }
        Ok(status)
    }

    /// What a running container uses, from its cgroup and its root file system.
    fn add_usage(&self, status: &mut ContainerStatus, init_pid: u32, hierarchy: &Hierarchy) {
        let cgroup = ContainerCgroup::of(hierarchy, self.vmid.get());
        let usage = cgroup.usage();
        status.mem = usage.mem;
        status.swap = usage.swap;
        status.diskread = usage.diskread;
        status.diskwrite = usage.diskwrite;
        if status.uptime > 0 && status.cpus > 0 {
            status.cpu = usage.cpu_usec as f64 / (status.uptime as f64 * 1e6) / status.cpus as f64;
        }
        let round = |value: f64| (value * 100.0).round() / 100.0;
        for (resource, some, full) in usage.pressure {
            let (some_field, full_field) = match resource {
                "cpu" => (&mut status.pressurecpusome, &mut status.pressurecpufull),
                "io" => (&mut status.pressureiosome, &mut status.pressureiofull),
                _ => (
                    &mut status.pressurememorysome,
                    &mut status.pressurememoryfull,
                ),
            };
            *some_field = Some(round(some));
            *full_field = Some(round(full));
        }
        if let Ok(fs) = rustix::fs::statvfs(format!("/proc/{init_pid}/root")) {
            status.disk = (fs.f_blocks - fs.f_bfree) * fs.f_frsize;
        }
        if let Ok(plan) = self.state_dir().read_plan()
            && !plan.cgroup.unenforced.is_empty()
        {
            status.unenforced = Some(plan.cgroup.unenforced.join(" "));
        }
    }

    /// `pct df`: usage of every mount point. A running container is measured through its
    /// init's root, as its processes see it, without a lock; a stopped one is mounted for
    /// the measurement under the `mounted` lock and taken down again.
    pub fn disk_usage(&self) -> Result<Vec<DiskUsage>, Error> {
        if let Some(init) = self.running_init() {
            let config = self.config()?;
            let root = rustix::fs::open(
                format!("/proc/{}/root", init.pid),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| {
                Error::io(
                    format!("unable to open the root of CT {}", self.vmid),
                    e.into(),
                )
            })?;
            return mount_points_in_order(&config.main)?
                .into_iter()
                .map(|(key, mp)| {
                    let path = mp.mp.clone().unwrap_or_else(|| "/".into());
                    // Paths inside the container are its own: resolved in its root only.
                    let relative = match path.trim_start_matches('/') {
                        "" => ".",
                        relative => relative,
                    };
                    let stat = openat2(
                        &root,
                        relative,
                        OFlags::PATH | OFlags::CLOEXEC,
                        Mode::empty(),
                        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
                    )
                    .and_then(rustix::fs::fstatvfs)
                    .map_err(|e| Error::io(format!("df '{path}'"), e.into()))?;
                    Ok(usage_row(key, mp.volume, path, &stat))
                })
                .collect();
        }
        let config = self.set_lock("mounted")?;
        let result = (|| -> Result<Vec<DiskUsage>, Error> {
            let storage = self.host.storage_config()?;
            let mounted = self.mount_volumes(&config.main, &storage)?;
            let mut rows = Vec::new();
            for (key, mp) in mount_points_in_order(&config.main)? {
                let path = mp.mp.clone().unwrap_or_else(|| "/".into());
                let full = mounted.rootfs().join(path.trim_start_matches('/'));
                let stat = rustix::fs::statvfs(&full)
                    .map_err(|e| Error::io(format!("df '{path}'"), e.into()))?;
                rows.push(usage_row(key, mp.volume, path, &stat));
            }
            mounted.unmount()?;
            for warning in super::volumes::deactivate_volumes(&storage, &config.main) {
                self.host.observer().warning(warning);
            }
            Ok(rows)
        })();
        let unlocked = self.remove_lock(Some("mounted"));
        let rows = result?;
        unlocked?;
        Ok(rows)
    }
}
