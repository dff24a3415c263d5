use super::*;
use crate::cgroup::devices::DeviceRuleError;
use crate::config::{Config, ParseMode, Vmid};

fn section(text: &str) -> Section {
    let (config, _) = Config::parse(Vmid::new(100).unwrap(), text, ParseMode::Strict).unwrap();
    config.main
}

/// Facts of a host with every controller, four CPUs, and volumes resolved as directories.
fn facts_for(section: &Section) -> HostFacts {
    let mut facts = HostFacts {
        cgroup_controllers: Some(
            ["cpuset", "cpu", "io", "memory", "pids"]
                .map(String::from)
                .to_vec(),
        ),
        host_cpus: vec![0, 1, 2, 3],
        apparmor: Some(crate::runtime::apparmor::AppArmorHost::default()),
        host_root: "/".into(),
        ..Default::default()
    };
    facts.volumes.insert(
        "rootfs".into(),
        VolumeSource::Directory("/vz/images/100/subvol-100-disk-0.subvol".into()),
    );
    for (index, _) in section.mount_points() {
        facts.volumes.insert(
            format!("mp{index}"),
            VolumeSource::Directory(format!("/srv/mp{index}").into()),
        );
    }
    facts
}

fn plan(text: &str) -> StartPlan {
    let section = section(text);
    StartPlan::build(100, &section, &facts_for(&section)).unwrap()
}

fn writes(plan: &StartPlan) -> Vec<(&str, &str)> {
    plan.cgroup
        .writes
        .iter()
        .map(|w| (w.key.as_str(), w.value.as_str()))
        .collect()
}

const PRIVILEGED: &str = "arch: amd64\nhostname: web\nmemory: 1024\nswap: 256\ncores: 2\ncpulimit: 1.5\ncpuunits: 200000\nostype: debian\nrootfs: local:100/subvol-100-disk-0.subvol,size=8G\n";

/// The masks every container gets whatever its LSM, spelled out: the list is the promise
/// (README, Security), so a path falling out of it must fail a test.
const EVERY_MASKED_PATH: [&str; 13] = [
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

#[test]
fn a_privileged_plan_has_no_user_namespace_and_drops_lxcs_capabilities() {
    let plan = plan(PRIVILEGED);
    assert!(!plan.unprivileged);
    assert_eq!(
        plan.namespaces,
        [
            Namespace::Mount,
            Namespace::Pid,
            Namespace::Uts,
            Namespace::Ipc,
            Namespace::Net,
            Namespace::Cgroup
        ]
    );
    assert_eq!(plan.id_map, None);
    assert_eq!(plan.root_owner, (0, 0));
    assert_eq!(plan.dev.creation, NodeCreation::Mknod);
    assert_eq!(
        plan.cap_drop,
        [
            "mac_admin",
            "mac_override",
            "sys_time",
            "sys_module",
            "sys_rawio"
        ]
    );
    assert_eq!(plan.proc, ProcMode::Mixed);
    assert_eq!(plan.sys, SysMode::Mixed);
    assert_eq!(plan.hostname, "web");
    assert_eq!(plan.init.argv, ["/sbin/init"]);
    assert_eq!(plan.init.env, ["container=lxc", "TERM=linux"]);
    assert_eq!(plan.seccomp.source, "default");
    // corral refuses keyctl to privileged roots too (they share the host root's keyring).
    assert!(plan.seccomp.policy.contains("keyctl errno 38"));
    assert!(plan.seccomp.policy.contains("syslog errno 1"));
    assert_eq!(plan.masked_paths, EVERY_MASKED_PATH);
    assert_eq!(plan.readonly_paths, ["/proc/bus", "/proc/fs", "/proc/irq"]);
    assert_eq!(plan.cgroup.path, "lxc/100");
    let w = writes(&plan);
    assert!(w.contains(&("memory.max", "1073741824")));
    // pct's memory.high sits 8 KiB per MiB below memory.max: reclaim starts before the
    // out-of-memory killer does.
    assert!(w.contains(&("memory.high", "1065353216")), "{w:?}");
    assert!(w.contains(&("memory.swap.max", "268435456")));
    assert!(w.contains(&("cpu.max", "150000 100000")));
    // cpuunits clamps at 10000 as pct does.
    assert!(w.contains(&("cpu.weight", "10000")));
    assert!(
        w.iter()
            .any(|(k, v)| *k == "cpuset.cpus" && parse_cpu_list(v).len() == 2),
        "{w:?}"
    );
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    assert_eq!(plan.volumes.len(), 1);
    assert_eq!(plan.volumes[0].target, "/");
}

#[test]
fn an_unprivileged_plan_maps_ids_and_binds_nodes() {
    let plan = plan(&format!("{PRIVILEGED}unprivileged: 1\n"));
    assert!(plan.unprivileged);
    assert_eq!(plan.namespaces[0], Namespace::User);
    let map = plan.id_map.as_ref().unwrap();
    assert_eq!(
        map.entries
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>(),
        ["u 0 100000 65536", "g 0 100000 65536"]
    );
    assert_eq!(plan.root_owner, (100000, 100000));
    assert_eq!(plan.dev.creation, NodeCreation::Bind);
    assert!(plan.cap_drop.is_empty());
    assert!(plan.seccomp.policy.contains("keyctl errno 38"));
    assert!(
        plan.seccomp
            .policy
            .contains("socket errno 97 [0,38,SCMP_CMP_EQ]")
    );
    assert!(plan.clone_flags() & libc::CLONE_NEWUSER as u64 != 0);
    assert_eq!(plan.masked_paths, EVERY_MASKED_PATH);

    let keyctl = plan_with("unprivileged: 1\nfeatures: keyctl=1\n");
    assert!(!keyctl.seccomp.policy.contains("keyctl"));
}

fn plan_with(extra: &str) -> StartPlan {
    plan(&format!("{PRIVILEGED}{extra}"))
}

#[test]
fn custom_id_maps_come_from_raw_keys_and_must_map_root() {
    let plan = plan_with(
        "lxc.idmap: u 0 200000 1000\nlxc.idmap: g 0 200000 1000\nlxc.idmap: u 1000 1000 1\nlxc.idmap: g 1000 1000 1\n",
    );
    assert!(plan.unprivileged);
    assert_eq!(plan.root_owner, (200000, 200000));
    assert_eq!(plan.id_map.unwrap().entries.len(), 4);

    let text = format!("{PRIVILEGED}lxc.idmap: u 1 200000 1000\nlxc.idmap: g 1 200000 1000\n");
    let section = section(&text);
    let error = StartPlan::build(100, &section, &facts_for(&section)).unwrap_err();
    assert!(matches!(error, PlanError::RootNotMapped));
    assert_eq!(
        error.to_string(),
        "lxc.idmap: the container's root (0) is not mapped"
    );
}

#[test]
fn nesting_gives_writable_sys_and_the_lxc_proc_and_sys() {
    let plan = plan_with("unprivileged: 1\nfeatures: nesting=1,fuse=1\n");
    assert!(plan.nesting);
    assert_eq!(plan.sys, SysMode::Rw);
    assert!(plan.describe().contains("proc: mixed, sys: rw"));
    assert_eq!(plan.mount_entries.len(), 1);
    assert_eq!(plan.mount_entries[0].target, "dev/fuse");
    let plain = plan_with("unprivileged: 1\n");
    assert!(!plain.nesting);
    assert_eq!(plain.sys, SysMode::Mixed);
}

#[test]
fn raw_lxc_keys_shape_the_plan_and_unknown_ones_are_warned_about() {
    let plan = plan_with(
        "lxc.init.cmd: /bin/sh -c 'sleep 1'\nlxc.environment: FOO=bar\nlxc.environment: TERM=xterm\nlxc.cap.drop: net_raw\nlxc.cap.keep: \nlxc.mount.entry: /srv/data srv/data none bind,create=dir,optional 0 0\nlxc.mount.auto: proc:rw sys:ro\nlxc.sysctl.kernel.msgmax: 65536\nlxc.prlimit.nofile: 1024:4096\nlxc.cgroup2.memory.high: 900M\nlxc.signal.halt: SIGTERM\nlxc.apparmor.profile: unconfined\nlxc.tty.max: 4\n",
    );
    assert_eq!(plan.init.argv, ["/bin/sh", "-c", "sleep 1"]);
    assert_eq!(plan.init.env, ["container=lxc", "FOO=bar", "TERM=xterm"]);
    assert!(plan.cap_drop.iter().any(|cap| *cap == "net_raw"));
    assert_eq!(
        plan.mount_entries[0],
        MountEntryPlan {
            source: "/srv/data".into(),
            target: "srv/data".into(),
            fstype: "none".into(),
            options: mount_entry::parse_options("bind,create=dir,optional").unwrap(),
        }
    );
    assert_eq!(plan.proc, ProcMode::Rw);
    assert_eq!(plan.sys, SysMode::Ro);
    assert_eq!(
        plan.sysctls,
        [("kernel.msgmax".to_string(), "65536".to_string())]
    );
    assert_eq!(
        plan.rlimits,
        [Prlimit::parse("nofile", "1024:4096").unwrap()]
    );
    assert!(writes(&plan).contains(&("memory.high", "900M")));
    assert_eq!(plan.halt_signal.map(|s| s.number()), Some(libc::SIGTERM));
    assert_eq!(plan.dev.ttys, 4);
    // proc:rw leaves /proc/bus and friends writable, but the masks stay.
    assert!(plan.readonly_paths.is_empty());
    assert!(plan.apparmor.generated.is_none());
    assert_eq!(plan.masked_paths, EVERY_MASKED_PATH);
    // lxc.apparmor.profile: unconfined, honoured without a word.
    assert_eq!(
        plan.apparmor,
        crate::runtime::apparmor::AppArmorPlan::default()
    );
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
}

/// Resource limits, signals, capabilities and mount options are checked when the plan is
/// built, so a bad one fails `pct start --dry-run` instead of the starting container.
#[test]
fn bad_typed_raw_keys_fail_the_plan() {
    type Kind = fn(&PlanError) -> bool;
    let prlimit: Kind = |e| matches!(e, PlanError::Prlimit(_));
    let signal: Kind = |e| matches!(e, PlanError::Signal { .. });
    let capability: Kind = |e| matches!(e, PlanError::Capability(_));
    let mount_option: Kind = |e| {
        matches!(
            e,
            PlanError::MountEntry(MountEntryError::UnsupportedOption { .. })
        )
    };
    for (extra, message, kind) in [
        (
            "lxc.prlimit.bogus: 5\n",
            "lxc.prlimit.bogus: unknown resource",
            prlimit,
        ),
        (
            "lxc.prlimit.nofile: lots\n",
            "lxc.prlimit.nofile: invalid value 'lots'",
            prlimit,
        ),
        (
            "lxc.signal.halt: SIGBOGUS\n",
            "lxc.signal.halt: unknown signal 'SIGBOGUS'",
            signal,
        ),
        (
            "lxc.signal.stop: RTMIN+99\n",
            "lxc.signal.stop: unknown signal 'RTMIN+99'",
            signal,
        ),
        (
            "lxc.cap.drop: sys_bogus\n",
            "unknown capability 'sys_bogus'",
            capability,
        ),
        (
            "lxc.cap.keep: chown bogus\n",
            "unknown capability 'bogus'",
            capability,
        ),
        (
            "lxc.mount.entry: /srv srv none bind,create=bogus 0 0\n",
            "lxc.mount.entry: mount option 'create=bogus' is not supported by corral",
            mount_option,
        ),
        (
            "lxc.mount.entry: tmpfs tmp tmpfs rw,remount 0 0\n",
            "lxc.mount.entry: mount option 'remount' is not supported by corral",
            mount_option,
        ),
    ] {
        let text = format!("{PRIVILEGED}{extra}");
        let section = section(&text);
        let error = StartPlan::build(100, &section, &facts_for(&section)).unwrap_err();
        assert_eq!(error.to_string(), message, "{extra}");
        assert!(kind(&error), "{extra}: {error:?}");
    }
    let plan = plan_with("lxc.signal.reboot: 9\nlxc.prlimit.core: unlimited\n");
    assert_eq!(plan.reboot_signal.map(|s| s.number()), Some(libc::SIGKILL));
    assert_eq!(plan.rlimits[0].soft, libc::RLIM_INFINITY);
    assert!(plan.describe().contains("prlimit: core = unlimited\n"));
}

#[test]
fn entrypoint_and_env_set_the_init_command() {
    let plan = plan_with(
        "entrypoint: /usr/bin/app --serve\nlxc.environment.runtime: A=1\nlxc.environment.runtime: B=two words\n",
    );
    assert_eq!(plan.init.argv, ["/usr/bin/app", "--serve"]);
    assert!(plan.init.env.contains(&"A=1".to_string()));
    assert!(plan.init.env.contains(&"B=two words".to_string()));
    // A non-init entrypoint gets its own /dev/shm as pct arranges.
    assert!(plan.mount_entries.iter().any(|e| e.target == "dev/shm"));
}

#[test]
fn every_mount_point_kind_is_planned_in_path_order() {
    let text = format!(
        "{PRIVILEGED}mp0: local:100/vm-100-disk-1.raw,mp=/var/lib/data,size=4G,mountoptions=noatime;discard,ro=1\nmp1: /srv/share,mp=/srv,mountoptions=nosuid;discard,backup=0\nmp2: /dev/sdb1,mp=/mnt/disk\nmp3: local:100/subvol-100-disk-2.subvol,mp=/var,acl=1,size=0\n"
    );
    let section = section(&text);
    let mut facts = facts_for(&section);
    facts.volumes.insert(
        "mp0".into(),
        VolumeSource::RawImage("/vz/images/100/vm-100-disk-1.raw".into()),
    );
    facts
        .volumes
        .insert("mp2".into(), VolumeSource::BlockDevice("/dev/sdb1".into()));
    let plan = StartPlan::build(100, &section, &facts).unwrap();
    let order: Vec<(&str, &str)> = plan
        .volumes
        .iter()
        .map(|v| (v.key.as_str(), v.target.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("rootfs", "/"),
            ("mp2", "/mnt/disk"),
            ("mp1", "/srv"),
            ("mp3", "/var"),
            ("mp0", "/var/lib/data")
        ]
    );
    let by_key = |key: &str| plan.volumes.iter().find(|v| v.key == key).unwrap();
    let image = by_key("mp0");
    assert!(image.read_only);
    assert_eq!(image.flags, ["noatime"]);
    assert_eq!(image.fs_options, ["discard"]);
    let bind = by_key("mp1");
    // A bind shares the host's file system: file-system options do not apply to it.
    assert_eq!(bind.flags, ["nosuid"]);
    assert!(bind.fs_options.is_empty());
    assert_eq!(
        by_key("mp2").source,
        VolumeSource::BlockDevice("/dev/sdb1".into())
    );
    assert!(!by_key("mp3").read_only);
}

#[test]
fn unresolved_volumes_and_missing_devices_are_errors() {
    let section = section(&format!("{PRIVILEGED}mp0: /srv/x,mp=/x\n"));
    let mut facts = facts_for(&section);
    facts.volumes.remove("mp0");
    let error = StartPlan::build(100, &section, &facts).unwrap_err();
    assert!(
        matches!(&error, PlanError::UnresolvedVolume { key, volume } if key == "mp0" && volume == "/srv/x")
    );
    assert_eq!(error.to_string(), "mp0: volume '/srv/x' was not resolved");
    let section = section_with_device();
    let facts = facts_for(&section);
    let error = StartPlan::build(100, &section, &facts).unwrap_err();
    assert!(matches!(error, PlanError::MissingDevice { .. }));
    assert_eq!(error.to_string(), "Device /dev/ttyUSB0 does not exist");
}

fn section_with_device() -> Section {
    section(&format!(
        "{PRIVILEGED}unprivileged: 1\ndev0: /dev/ttyUSB0,mode=0660,uid=1000,gid=20\n"
    ))
}

#[test]
fn passthrough_devices_get_shifted_owners() {
    let section = section_with_device();
    let mut facts = facts_for(&section);
    facts.devices.insert("/dev/ttyUSB0".into(), ('c', 188, 0));
    let plan = StartPlan::build(100, &section, &facts).unwrap();
    let device = &plan.devices[0];
    assert_eq!((device.kind, device.major, device.minor), ('c', 188, 0));
    assert_eq!(device.mode, 0o660);
    assert_eq!((device.uid, device.gid), (101000, 100020));
    assert_eq!(device.path, "/dev/ttyUSB0");
}

#[test]
fn missing_controllers_are_named_in_warnings() {
    let section = section(PRIVILEGED);
    let mut facts = facts_for(&section);
    facts.cgroup_controllers = Some(vec!["hugetlb".into()]);
    let plan = StartPlan::build(100, &section, &facts).unwrap();
    for key in [
        "memory.max",
        "memory.swap.max",
        "cpu.max",
        "cpu.weight",
        "cpuset.cpus",
    ] {
        assert!(
            plan.warnings
                .iter()
                .any(|w| w.contains(key) && w.contains("not enforced")),
            "{key}: {:?}",
            plan.warnings
        );
    }
}

#[test]
fn plans_round_trip_through_json() {
    let plan = plan_with(
        "unprivileged: 1\nnet0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,type=veth\n",
    );
    assert_eq!(plan.network[0].host_name, "veth100i0");
    let json = serde_json::to_string(&plan).unwrap();
    let back: StartPlan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, plan);
}

#[test]
fn privileged_containers_get_a_device_filter_from_defaults_devices_and_raw_keys() {
    let text = format!(
        "{PRIVILEGED}dev0: /dev/ttyUSB0\nlxc.cgroup2.devices.allow: b 8:* r\nlxc.cgroup2.devices.deny: c 1:9 rwm\n"
    );
    let with_device = section(&text);
    let mut facts = facts_for(&with_device);
    facts.devices.insert("/dev/ttyUSB0".into(), ('c', 188, 0));
    let plan = StartPlan::build(100, &with_device, &facts).unwrap();
    let rules = plan.device_rules.as_ref().expect("a filter");
    let shown: Vec<String> = rules.iter().map(describe_device_rule).collect();
    assert_eq!(shown[0], "deny c 1:9 mrw", "denies come first");
    assert!(shown.contains(&"allow c 1:3 mrw".to_string()));
    assert!(shown.contains(&"allow c 188:0 mrw".to_string()), "dev0");
    assert_eq!(shown.last().unwrap(), "allow b 8:* r");
    assert!(
        writes(&plan)
            .iter()
            .all(|(key, _)| !key.starts_with("devices."))
    );

    let reset = plan_with("lxc.cgroup2.devices.deny: a\nlxc.cgroup2.devices.allow: c 1:3 rw\n");
    let rules = reset.device_rules.unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(describe_device_rule(&rules[0]), "allow c 1:3 rw");

    let bad = section(&format!("{PRIVILEGED}lxc.cgroup2.devices.allow: x 1:3\n"));
    let error = StartPlan::build(100, &bad, &facts_for(&bad)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "lxc.cgroup2.devices.allow: invalid device rule 'x 1:3'"
    );
    // The rule's own error is the source.
    let PlanError::DeviceRule { key, source } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(key, "lxc.cgroup2.devices.allow");
    assert_eq!(source.rule, "x 1:3");
    let inner = std::error::Error::source(&error).and_then(|e| e.downcast_ref::<DeviceRuleError>());
    assert_eq!(inner, Some(source));

    let unprivileged = section(&format!("{PRIVILEGED}unprivileged: 1\n"));
    let plan = StartPlan::build(100, &unprivileged, &facts_for(&unprivileged)).unwrap();
    assert!(plan.device_rules.is_none());
}

#[test]
fn security_settings_show_in_the_dry_run() {
    let unprivileged = plan(
        "arch: amd64\nrootfs: local:100/vm-100-disk-0.raw\nunprivileged: 1\nfeatures: mknod=1,mount=nfs\n",
    );
    let text = unprivileged.describe();
    assert!(
        text.contains("\nmasked: /proc/acpi /proc/asound /proc/kcore /proc/kallsyms"),
        "{text}"
    );
    assert!(
        text.contains("\nread-only: /proc/bus /proc/fs /proc/irq\n"),
        "{text}"
    );
    let apparmor = text.lines().find(|l| l.starts_with("apparmor: ")).unwrap();
    assert!(
        apparmor.starts_with("apparmor: corral-100_</> (generated, "),
        "{apparmor}"
    );
    let profile = &unprivileged.apparmor.generated.as_ref().unwrap().text;
    assert!(profile.contains("  mount fstype=nfs,\n"));
    // mknod=1 sends device nodes to the monitor; a privileged container gets a warning.
    assert!(
        unprivileged
            .seccomp
            .policy
            .contains("mknodat notify [2,0x2000,SCMP_CMP_MASKED_EQ,0xf000]")
    );
    let privileged = plan("arch: amd64\nrootfs: local:100/vm-100-disk-0.raw\nfeatures: mknod=1\n");
    assert!(!privileged.seccomp.policy.contains("notify"));
    assert_eq!(
        privileged.warnings,
        ["features: mknod=1 only applies to unprivileged containers"]
    );
}

#[test]
fn raw_profiles_warn_of_the_features_they_override() {
    let plan = plan(
        "arch: amd64\nrootfs: local:100/vm-100-disk-0.raw\nfeatures: nesting=1,mount=nfs,keyctl=1\nlxc.apparmor.profile: lxc-container-default-cgns\n",
    );
    assert_eq!(
        plan.apparmor.label.as_deref(),
        Some("lxc-container-default-cgns")
    );
    assert_eq!(
        plan.warnings,
        [
            "explicitly configured lxc.apparmor.profile overrides the following settings: features:nesting, features:mount"
        ]
    );
}

#[test]
fn every_plan_covers_the_boot_id_with_one_of_its_own() {
    for text in [PRIVILEGED, &format!("{PRIVILEGED}unprivileged: 1\n")] {
        let plan = plan(text);
        assert_eq!(plan.boot_id.file, "/dev/.lxc-boot-id");
        assert_eq!(plan.boot_id.target, "/proc/sys/kernel/random/boot_id");
        assert!(
            plan.describe().contains(
                "\nboot id: /dev/.lxc-boot-id (new at every boot) bound read-only at /proc/sys/kernel/random/boot_id\n"
            ),
            "{}",
            plan.describe()
        );
    }
}

#[test]
fn lxcfs_views_are_planned_only_where_the_host_runs_lxcfs() {
    let section = section(PRIVILEGED);
    let without = StartPlan::build(100, &section, &facts_for(&section)).unwrap();
    assert_eq!(without.lxcfs, None);
    let text = without.describe();
    assert!(
        text.contains("\nlxcfs: none (no fuse.lxcfs mount on this host)\n"),
        "{text}"
    );

    // An lxcfs without slabinfo: only what it offers is bound.
    let mut facts = facts_for(&section);
    facts.lxcfs = Some(LxcfsHost {
        mount: "/run/test lxcfs".into(),
        views: [
            "proc/cpuinfo",
            "proc/meminfo",
            "proc/uptime",
            "sys/devices/system/cpu",
        ]
        .map(String::from)
        .to_vec(),
    });
    let with = StartPlan::build(100, &section, &facts).unwrap();
    let lxcfs = with.lxcfs.as_ref().unwrap();
    assert_eq!(
        lxcfs.targets,
        [
            "/proc/cpuinfo",
            "/proc/meminfo",
            "/proc/uptime",
            "/sys/devices/system/cpu"
        ]
    );
    assert_eq!(
        lxcfs.source("/proc/meminfo"),
        PathBuf::from("/run/test lxcfs/proc/meminfo")
    );
    let text = with.describe();
    assert!(
        text.contains(
            "\nlxcfs: /run/test lxcfs bound read-only at /proc/cpuinfo /proc/meminfo /proc/uptime /sys/devices/system/cpu\n"
        ),
        "{text}"
    );
    // After the mount entries, before the masks that must stay on top.
    let position = |prefix: &str| text.find(prefix).unwrap_or_else(|| panic!("{prefix}"));
    assert!(position("\nproc: mixed") < position("\nlxcfs: "));
    assert!(position("\nlxcfs: ") < position("\nmasked: "));
    // A plan stored before these fields existed still reads.
    let mut stored = serde_json::to_value(&with).unwrap();
    let object = stored.as_object_mut().unwrap();
    object.remove("lxcfs");
    object.remove("boot_id");
    let old: StartPlan = serde_json::from_value(stored).unwrap();
    assert_eq!(old.lxcfs, None);
    assert_eq!(old.boot_id, BootIdPlan::default());
}

#[test]
fn every_namespace_is_named_as_proc_names_it() {
    let all = [
        Namespace::User,
        Namespace::Mount,
        Namespace::Pid,
        Namespace::Uts,
        Namespace::Ipc,
        Namespace::Net,
        Namespace::Cgroup,
    ];
    let names: std::collections::BTreeSet<&str> = all.iter().map(|ns| ns.proc_name()).collect();
    assert_eq!(names.len(), all.len(), "two namespaces share a name");
    for ns in all {
        let link = std::path::Path::new("/proc/self/ns").join(ns.proc_name());
        assert!(
            link.exists(),
            "{} is no namespace of /proc/self/ns",
            link.display()
        );
    }
}

#[test]
fn an_unsupported_raw_key_is_warned_about_once() {
    let plan = plan(&format!(
        "{PRIVILEGED}lxc.selinux.context: a\nlxc.selinux.context: b\n"
    ));
    let warnings: Vec<&String> = plan
        .warnings
        .iter()
        .filter(|w| w.contains("lxc.selinux.context"))
        .collect();
    assert_eq!(
        warnings,
        ["lxc.selinux.context is not supported by corral, ignoring it"],
        "{:?}",
        plan.warnings
    );
}

#[test]
fn the_console_follows_the_console_option_and_lxc_console_path() {
    assert!(plan(PRIVILEGED).dev.console, "the console is on by default");
    assert!(!plan(&format!("{PRIVILEGED}console: 0\n")).dev.console);
    assert!(
        !plan(&format!("{PRIVILEGED}lxc.console.path: none\n"))
            .dev
            .console
    );
    assert!(
        plan(&format!("{PRIVILEGED}lxc.console.path: /dev/null\n"))
            .dev
            .console
    );
}

#[test]
fn lxc_apparmor_allow_nesting_overrides_the_nesting_feature() {
    let profile = |text: &str| {
        plan(text)
            .apparmor
            .generated
            .expect("a generated profile")
            .text
    };
    let default = profile(PRIVILEGED);
    assert_eq!(
        profile(&format!("{PRIVILEGED}lxc.apparmor.allow_nesting: 0\n")),
        default
    );
    let allowed = profile(&format!("{PRIVILEGED}lxc.apparmor.allow_nesting: 1\n"));
    assert_ne!(
        allowed, default,
        "allow_nesting: 1 left the profile as it was"
    );
    assert!(allowed.contains("\n  pivot_root,\n"), "{allowed}");
}

#[test]
fn dry_run_names_an_unmanaged_guest_and_each_volume_source() {
    let text = plan(&format!(
        "{PRIVILEGED}mp0: local:100/vm-100-disk-1.raw,mp=/srv\n"
    ))
    .describe();
    assert!(
        text.contains("guest setup: pre-start files for hostname"),
        "{text}"
    );
    assert!(
        text.contains("directory /vz/images/100/subvol-100-disk-0.subvol"),
        "{text}"
    );
    assert!(text.contains("directory /srv/mp0"), "{text}");
    let unmanaged = plan(&PRIVILEGED.replace("ostype: debian", "ostype: unmanaged")).describe();
    assert!(
        unmanaged.contains("guest setup: none (unmanaged)"),
        "{unmanaged}"
    );
}

#[test]
fn cores_rotate_through_the_host_cpus_by_vmid() {
    let host = [0, 1, 2, 3];
    assert_eq!(pick_cpus(100, 2, &host), "0-1");
    assert_eq!(pick_cpus(5, 2, &host), "1-2");
    // Past the last CPU the choice wraps round to the first.
    assert_eq!(pick_cpus(7, 2, &host), "0,3");
    assert_eq!(pick_cpus(6, 3, &host), "0,2-3");
    // More cores than the host has: every CPU, once.
    assert_eq!(pick_cpus(9, 8, &host), "0-3");
    // The host's own numbering, gaps included.
    assert_eq!(pick_cpus(1, 2, &[0, 2, 4, 6]), "2,4");
    assert_eq!(pick_cpus(3, 2, &[0, 2, 4, 6]), "0,6");
}

#[test]
fn cgroup_core_files_are_never_reported_unenforced() {
    let section = section(&format!(
        "{PRIVILEGED}lxc.cgroup2.cgroup.max.descendants: 5\nlxc.cgroup2.pids.max: 50\n"
    ));
    let mut facts = facts_for(&section);
    facts.cgroup_controllers = Some(vec!["memory".to_string()]);
    let plan = StartPlan::build(100, &section, &facts).unwrap();
    assert!(
        !plan
            .cgroup
            .unenforced
            .iter()
            .any(|k| k.starts_with("cgroup.")),
        "{:?}",
        plan.cgroup.unenforced
    );
    assert!(
        plan.cgroup.unenforced.iter().any(|k| k == "pids.max"),
        "{:?}",
        plan.cgroup.unenforced
    );
    assert!(
        plan.warnings
            .contains(&unenforced_warning("pids.max", "50")),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn cpu_lists_are_written_in_the_kernels_range_format() {
    assert_eq!(format_cpu_list(&[]), "");
    assert_eq!(format_cpu_list(&[5]), "5");
    assert_eq!(format_cpu_list(&[0, 1, 2, 3, 6]), "0-3,6");
    assert_eq!(format_cpu_list(&[1, 3, 4, 7, 8, 9]), "1,3-4,7-9");
    assert_eq!(
        parse_cpu_list(&format_cpu_list(&[0, 2, 3, 5])),
        [0, 2, 3, 5]
    );
}

#[test]
fn a_raw_cpuset_replaces_the_cpus_cores_would_pick() {
    let cpuset = |text: &str| {
        writes(&plan(text))
            .into_iter()
            .filter(|(key, _)| *key == "cpuset.cpus")
            .map(|(_, value)| value.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(cpuset(PRIVILEGED), ["0-1"]);
    assert_eq!(
        cpuset(&format!("{PRIVILEGED}lxc.cgroup2.pids.max: 50\n")),
        ["0-1"],
        "another raw cgroup key left the cores unpicked"
    );
    assert_eq!(
        cpuset(&format!("{PRIVILEGED}lxc.cgroup2.cpuset.cpus: 3\n")),
        ["3"]
    );
}

#[test]
fn network_devices_are_the_plans_own() {
    let section = section(&format!(
        "{PRIVILEGED}net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,type=veth\nnet3: name=eth3,bridge=vmbr1,tag=20,type=veth\n"
    ));
    let devices = network_devices(100, &section).unwrap();
    let plan = StartPlan::build(100, &section, &facts_for(&section)).unwrap();
    assert_eq!(devices, plan.network);
    let names: Vec<(&str, &str)> = devices
        .iter()
        .map(|d| (d.key.as_str(), d.host_name.as_str()))
        .collect();
    assert_eq!(names, [("net0", "veth100i0"), ("net3", "veth100i3")]);
    assert!(
        network_devices(100, &self::section(PRIVILEGED))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn corral_sets_addresses_only_where_pct_leaves_the_guest_alone() {
    let nets = "net0: name=eth0,bridge=vmbr0,ip=10.0.0.2/24,gw=10.0.0.1,ip6=fd00::2/64,gw6=fd00::1,type=veth\n\
                net1: name=eth1,bridge=vmbr0,ip=10.0.1.2/24,ip6=fd01::2/64,host-managed=1,type=veth\n\
                net2: name=eth2,bridge=vmbr0,ip=dhcp,ip6=dhcp,host-managed=1,firewall=1,link_down=1,type=veth\n";
    let managed = plan(&format!("{PRIVILEGED}{nets}"));
    let addresses = |plan: &StartPlan| -> Vec<(Vec<String>, Vec<String>)> {
        plan.network
            .iter()
            .map(|d| (d.addresses.clone(), d.gateways.clone()))
            .collect()
    };
    let none = (Vec::<String>::new(), Vec::<String>::new());
    // The guest's own network files carry net0's; host-managed interfaces are corral's.
    assert_eq!(
        addresses(&managed),
        [
            none.clone(),
            (vec!["10.0.1.2/24".into(), "fd01::2/64".into()], vec![]),
            none.clone(),
        ]
    );
    assert_eq!(
        managed
            .network
            .iter()
            .map(|d| d.link_down)
            .collect::<Vec<_>>(),
        [false, false, true]
    );
    for warning in [
        "net2: ip=dhcp runs no DHCP client in this container",
        "net2: ip6=dhcp runs no DHCP client in this container",
        "net2: firewall=1 is accepted, but corral has no firewall yet",
    ] {
        assert!(
            managed.warnings.iter().any(|w| w == warning),
            "{warning}: {:?}",
            managed.warnings
        );
    }
    assert!(
        !managed
            .warnings
            .iter()
            .any(|w| w.starts_with("net0") || w.starts_with("net1"))
    );

    // An unmanaged guest gets every address from corral.
    let unmanaged = plan(&format!(
        "{}{nets}",
        PRIVILEGED.replace("ostype: debian", "ostype: unmanaged")
    ));
    assert_eq!(
        addresses(&unmanaged)[0],
        (
            vec!["10.0.0.2/24".into(), "fd00::2/64".into()],
            vec!["10.0.0.1".into(), "fd00::1".into()]
        )
    );
}

#[test]
fn an_lxc_mount_entry_needs_four_fields() {
    let entry = parse_mount_entry("/srv/data srv/data none bind").unwrap();
    assert_eq!(
        (
            entry.source.as_str(),
            entry.target.as_str(),
            entry.fstype.as_str()
        ),
        ("/srv/data", "srv/data", "none")
    );
    assert_eq!(
        parse_mount_entry("/srv/data srv/data none")
            .unwrap_err()
            .to_string(),
        "lxc.mount.entry: invalid entry '/srv/data srv/data none'"
    );
}

#[test]
fn a_profile_naming_an_unknown_syscall_warns_in_the_plan() {
    let section = section(
        "arch: amd64\nrootfs: local:100/vm-100-disk-0.raw\nlxc.seccomp.profile: /etc/corral/custom.seccomp\n",
    );
    let mut facts = facts_for(&section);
    facts.seccomp_profile = Some("2\ndenylist\nno_such_syscall errno 1\nmount errno 1\n".into());
    let plan = StartPlan::build(100, &section, &facts).unwrap();
    assert_eq!(
        plan.warnings,
        ["seccomp: unknown syscall 'no_such_syscall' is not filtered"]
    );
    // The default policy names only syscalls this host's libseccomp knows.
    assert!(!plan_with("").warnings.iter().any(|w| w.contains("seccomp")));
}
