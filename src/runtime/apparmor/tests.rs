use super::*;

/// AppArmor's globbing, enough for the generated rules: `?` and `*` stop at `/`, `**`
/// does not, `[^...]` is one character (never `/`) outside the set, `{a,b}` alternatives.
fn glob_matches(pattern: &str, path: &str) -> bool {
    if let Some(open) = pattern.find('{') {
        let close = open + pattern[open..].find('}').unwrap();
        return pattern[open + 1..close].split(',').any(|alternative| {
            let expanded = format!("{}{alternative}{}", &pattern[..open], &pattern[close + 1..]);
            glob_matches(&expanded, path)
        });
    }
    matches_from(pattern.as_bytes(), path.as_bytes())
}

fn matches_from(pattern: &[u8], path: &[u8]) -> bool {
    match pattern {
        [] => path.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=path.len()).any(|i| matches_from(rest, &path[i..])),
        [b'*', rest @ ..] => (0..=path.len())
            .take_while(|&i| i == 0 || path[i - 1] != b'/')
            .any(|i| matches_from(rest, &path[i..])),
        [b'?', rest @ ..] => {
            matches!(path, [c, tail @ ..] if *c != b'/' && matches_from(rest, tail))
        }
        [b'[', b'^', rest @ ..] => {
            let end = rest.iter().position(|c| *c == b']').unwrap();
            let (set, after) = (&rest[..end], &rest[end + 1..]);
            matches!(path, [c, tail @ ..] if *c != b'/' && !set.contains(c) && matches_from(after, tail))
        }
        [c, rest @ ..] => matches!(path, [p, tail @ ..] if p == c && matches_from(rest, tail)),
    }
}

fn covered(patterns: &[String], path: &str) -> bool {
    patterns.iter().any(|p| glob_matches(p, path))
}

#[test]
fn the_matcher_follows_apparmor_globbing() {
    assert!(glob_matches(
        "/proc/sys/[^fkn]*{,/**}",
        "/proc/sys/vm/drop_caches"
    ));
    assert!(!glob_matches(
        "/proc/sys/[^fkn]*{,/**}",
        "/proc/sys/net/ipv4/ip_forward"
    ));
    assert!(glob_matches("/sys/fs?*{,/**}", "/sys/fsx/y"));
    assert!(!glob_matches("/sys/fs?*{,/**}", "/sys/fs/cgroup"));
    assert!(!glob_matches("/a/*", "/a/b/c"));
    assert!(glob_matches("/a/**", "/a/b/c"));
}

#[test]
fn write_denials_cover_all_of_proc_sys_but_the_namespaced_sysctls() {
    let patterns = everything_except("/proc/sys/", WRITABLE_SYSCTLS);
    for denied in [
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/kernel/modprobe",
        "/proc/sys/kernel/sysrq",
        "/proc/sys/kernel/panic",
        "/proc/sys/kernel/hostnamex",
        // Nothing below an exact carve-out is: a directory of that name would be open.
        "/proc/sys/kernel/hostname/x",
        "/proc/sys/vm/drop_caches",
        "/proc/sys/fs/binfmt_misc/register",
        "/proc/sys/n",
        "/proc/sys/netx/y",
        "/proc/sys/dev/tty/legacy_tiocsti",
    ] {
        assert!(covered(&patterns, denied), "{denied} stays writable");
    }
    for allowed in [
        "/proc/sys/net/ipv4/ip_forward",
        "/proc/sys/net/core/somaxconn",
        "/proc/sys/kernel/hostname",
        "/proc/sys/kernel/domainname",
        "/proc/sys/kernel/shmmax",
        "/proc/sys/kernel/sem",
        "/proc/sys/kernel/msgmnb",
    ] {
        assert!(!covered(&patterns, allowed), "{allowed} is denied");
    }
}

#[test]
fn write_denials_cover_all_of_sys_but_cgroups_and_network_devices() {
    let patterns = everything_except("/sys/", WRITABLE_SYSFS);
    for denied in [
        "/sys/kernel/uevent_helper",
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "/sys/power/state",
        "/sys/fs/ext4/vda1/errors_count",
        "/sys/class/block/vda/uevent",
        "/sys/devices/system/cpu/cpu1/online",
        "/sys/devices/virtual/block/loop0/uevent",
        "/sys/fs/cgroupx",
    ] {
        assert!(covered(&patterns, denied), "{denied} stays writable");
    }
    for allowed in [
        "/sys/fs/cgroup/cgroup.procs",
        "/sys/fs/cgroup/system.slice/memory.max",
        "/sys/devices/virtual/net/eth0/mtu",
        "/sys/class/net/eth0/mtu",
    ] {
        assert!(!covered(&patterns, allowed), "{allowed} is denied");
    }
}

#[test]
fn binds_may_take_any_source_but_proc_sys_dev_and_the_nesting_instances() {
    let patterns = everything_except("/", UNBINDABLE_SOURCES);
    for allowed in [
        "/srv/data",
        "/var/lib/docker",
        "/dev/shm",
        "/dev/pts",
        "/p",
        "/procx",
    ] {
        assert!(covered(&patterns, allowed), "{allowed} may not be bound");
    }
    for refused in [
        "/proc",
        "/proc/sys",
        "/sys",
        "/sys/kernel",
        "/dev",
        "/dev/.lxc/proc",
    ] {
        assert!(!covered(&patterns, refused), "{refused} may be bound");
    }
}

fn host(abi4: bool, can_stack: bool) -> AppArmorHost {
    AppArmorHost { abi4, can_stack }
}

#[test]
fn the_plan_follows_pct_for_nesting_mounts_and_explicit_profiles() {
    let mut warnings = Vec::new();
    let fstypes = vec!["nfs".to_string(), "cifs".to_string()];
    let request = AppArmorRequest {
        vmid: 100,
        host_root: "/",
        unprivileged: true,
        mount_fstypes: &fstypes,
        ..Default::default()
    };
    let plan = plan(&request, Some(&host(true, true)), &mut warnings);
    assert_eq!(plan.label.as_deref(), Some("corral-100_</>"));
    let text = &plan.generated.as_ref().unwrap().text;
    for line in [
        "profile \"corral-100_</>\" flags=(attach_disconnected,mediate_deleted) {",
        "  allow mqueue,",
        "  deny mount -> /proc/,",
        "  deny mount -> /sys/,",
        "  mount fstype=nfs,",
        "  mount fstype=cifs,",
        "  deny @{PROC}/kcore rwklx,",
        "  pivot_root,",
    ] {
        assert!(text.lines().any(|l| l == line), "missing: {line}\n{text}");
    }
    assert!(!text.contains("allow userns"));
    assert!(warnings.is_empty());

    // Nesting: stacked into a namespace of its own, no proc/sys mount denial.
    let nesting = AppArmorRequest {
        nesting: true,
        ..request.clone()
    };
    let plan = super::plan(&nesting, Some(&host(true, true)), &mut warnings);
    assert_eq!(
        plan.label.as_deref(),
        Some("corral-100_</>//&:corral-100_<->:")
    );
    let generated = plan.generated.unwrap();
    assert_eq!(generated.namespace.as_deref(), Some("corral-100_<->"));
    assert!(generated.text.contains("  allow userns,\n"));
    assert!(
        generated
            .text
            .contains("  change_profile -> \":corral-100_<->:*\",\n")
    );
    assert!(!generated.text.contains("deny mount -> /proc/"));
    assert!(!generated.text.contains("/proc/sys/[^"));

    // An AppArmor 3 parser knows neither mqueue nor userns rules.
    let plan = super::plan(&nesting, Some(&host(false, false)), &mut warnings);
    let text = plan.generated.unwrap().text;
    assert!(!text.contains("allow mqueue") && !text.contains("allow userns"));
    assert!(text.contains("  change_profile -> \"corral-100_</>\",\n"));

    // An explicit profile: used as named (the plan warns of what it overrides).
    let raw_profile = AppArmorRequest {
        profile: Some("lxc-container-default-cgns"),
        ..nesting.clone()
    };
    let plan = super::plan(&raw_profile, Some(&host(true, true)), &mut warnings);
    assert_eq!(plan.label.as_deref(), Some("lxc-container-default-cgns"));
    assert!(plan.generated.is_none());
    assert!(warnings.is_empty(), "{warnings:?}");

    let unconfined = AppArmorRequest {
        profile: Some("unconfined"),
        ..request.clone()
    };
    assert_eq!(
        super::plan(&unconfined, Some(&host(true, true)), &mut Vec::new()),
        AppArmorPlan::default()
    );
}

#[test]
fn raw_lines_go_last_and_privileged_profiles_close_binfmt_misc() {
    let request = AppArmorRequest {
        vmid: 7,
        host_root: "/srv/corral",
        raw: vec!["  deny /srv/** w,"],
        ..Default::default()
    };
    let plan = plan(&request, Some(&host(false, false)), &mut Vec::new());
    let text = plan.generated.unwrap().text;
    assert!(text.ends_with("  deny /srv/** w,\n}\n"), "{text}");
    assert!(text.contains("  deny /proc/sys/fs/binfmt_misc/{,**} wklx,\n"));
    assert!(text.starts_with("# Generated by corral"));
    assert!(text.contains("profile \"corral-7_</srv/corral>\""));
}

#[test]
fn without_apparmor_the_plan_says_so_and_confines_nothing() {
    let mut warnings = Vec::new();
    let request = AppArmorRequest {
        vmid: 100,
        host_root: "/",
        ..Default::default()
    };
    assert_eq!(plan(&request, None, &mut warnings), AppArmorPlan::default());
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].starts_with("AppArmor is not enabled on this host"));
    // Asking for unconfined is no news.
    let mut warnings = Vec::new();
    let unconfined = AppArmorRequest {
        profile: Some("unconfined"),
        ..request
    };
    plan(&unconfined, None, &mut warnings);
    assert!(warnings.is_empty());
}

#[test]
fn binds_of_proc_and_sys_are_denied_and_remounts_only_in_user_namespaces() {
    let generate_for = |unprivileged| {
        let request = AppArmorRequest {
            vmid: 1,
            host_root: "/",
            unprivileged,
            ..Default::default()
        };
        plan(&request, Some(&host(false, false)), &mut Vec::new())
            .generated
            .unwrap()
            .text
    };
    for text in [generate_for(false), generate_for(true)] {
        assert!(text.contains(&format!(
            "  deny mount options in ({BIND_FLAGS}) /proc{{,/**}},\n"
        )));
        assert!(text.contains(&format!(
            "  deny mount options in ({BIND_FLAGS}) /sys{{,/**}},\n"
        )));
    }
    assert!(!generate_for(false).contains("remount, bind"));
    assert_eq!(
        generate_for(true)
            .matches("mount options=(ro, remount, bind")
            .count(),
        24
    );
}

#[test]
fn remount_rules_cover_every_flag_combination_once() {
    let sets = remount_flag_sets();
    assert_eq!(sets.len(), 24);
    let unique: std::collections::BTreeSet<_> = sets.iter().collect();
    assert_eq!(unique.len(), 24);
    assert!(sets.contains(&", nosuid, nodev, noexec, noatime".to_string()));
    assert!(sets.contains(&String::new()));
}

/// Every kind of generated profile must compile. Runs where a parser is at hand:
/// `CORRAL_APPARMOR_ROOT` names an unpacked apparmor package (parser, tunables, features),
/// else the host's own `apparmor_parser` with its own configuration.
#[test]
fn generated_profiles_compile() {
    let (parser, policy_dir, mut base_args) = match std::env::var_os("CORRAL_APPARMOR_ROOT") {
        Some(root) => {
            let root = PathBuf::from(root);
            let args: Vec<std::ffi::OsString> = vec![
                "--config-file".into(),
                "/dev/null".into(),
                "--base".into(),
                root.join("etc/apparmor.d").into(),
                "--policy-features".into(),
                root.join("usr/share/apparmor-features/features").into(),
            ];
            (
                root.join("sbin/apparmor_parser"),
                root.join("etc/apparmor.d"),
                args,
            )
        }
        None => match parser() {
            Some(parser) => (parser, PathBuf::from("/etc/apparmor.d"), Vec::new()),
            None => {
                crate::skip::report(
                    "no apparmor_parser here (scripts/test sets CORRAL_APPARMOR_ROOT to one)",
                );
                return;
            }
        },
    };
    // Parse and compile only, load nothing.
    base_args.extend(["-Q".into(), "-K".into()]);
    let dir = tempfile::tempdir().unwrap();
    let fstypes = vec!["nfs".to_string()];
    for abi4 in [false, true] {
        for can_stack in [false, true] {
            for unprivileged in [false, true] {
                for nesting in [false, true] {
                    let request = AppArmorRequest {
                        vmid: 100,
                        host_root: "/var/tmp/corral-test-x",
                        unprivileged,
                        nesting,
                        mount_fstypes: &fstypes,
                        raw: vec!["deny /srv/** w,"],
                        ..Default::default()
                    };
                    let host = AppArmorHost { abi4, can_stack };
                    let planned = plan(&request, Some(&host), &mut Vec::new());
                    let profile = planned.generated.unwrap();
                    if abi4 && !parser_knows_abi4(&policy_dir) {
                        continue;
                    }
                    let file = dir.path().join("profile");
                    std::fs::write(&file, &profile.text).unwrap();
                    let output = std::process::Command::new(&parser)
                        .args(&base_args)
                        .arg(&file)
                        .output()
                        .unwrap();
                    assert!(
                        output.status.success(),
                        "abi4 {abi4} stack {can_stack} unprivileged {unprivileged} nesting {nesting}: {}\n{}",
                        String::from_utf8_lossy(&output.stderr),
                        profile.text
                    );
                }
            }
        }
    }
}

#[test]
fn profile_files_stay_between_starts_and_go_with_the_container() {
    let dir = tempfile::tempdir().unwrap();
    let host_root = dir.path();
    let profile = |vmid: u32, text: &str| GeneratedProfile {
        name: profile_name(vmid, &host_root.display().to_string()),
        namespace: None,
        text: text.into(),
    };
    let mtime = |path: &Path| std::fs::metadata(path).unwrap().modified().unwrap();
    // An unchanged profile keeps its file, and so its mtime, which the parser's cache
    // is checked against; a changed one is rewritten.
    let file = store_profile(host_root, &profile(101, "one")).unwrap();
    // Below the host root corral manages, named after the profile: `corral-101_<root>` with
    // the slashes (and the brackets) of the root made dashes.
    let expected_name = format!(
        "corral-101_-{}-",
        host_root.display().to_string().replace('/', "-")
    );
    assert_eq!(
        file,
        host_root
            .join("var/lib/corral/apparmor")
            .join(expected_name)
    );
    assert!(host_root.join("var/lib/corral/apparmor/cache").is_dir());
    let written = mtime(&file);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(
        store_profile(host_root, &profile(101, "one")).unwrap(),
        file
    );
    assert_eq!(mtime(&file), written);
    store_profile(host_root, &profile(101, "two")).unwrap();
    assert_ne!(mtime(&file), written);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "two");

    // pct destroy: the file and its compiled copies go, a neighbour's stay.
    let neighbour = store_profile(host_root, &profile(102, "three")).unwrap();
    let cache = profile_dir(host_root).join("cache/0123abcd.0");
    std::fs::create_dir_all(&cache).unwrap();
    let name = |path: &Path| path.file_name().unwrap().to_owned();
    std::fs::write(cache.join(name(&file)), "compiled").unwrap();
    std::fs::write(cache.join(name(&neighbour)), "compiled").unwrap();
    forget(host_root, 101);
    assert!(!file.exists());
    assert!(!cache.join(name(&file)).exists());
    assert!(neighbour.exists());
    assert!(cache.join(name(&neighbour)).exists());
}

/// The machine-wide interfaces the base rules close, in every profile corral generates:
/// what only the profile stops in a privileged container (the escape suite's AppArmor
/// attempts), so losing a line must fail here, where AppArmor need not be running.
#[test]
fn every_profile_denies_the_machine_wide_kernel_interfaces() {
    let denials = [
        "deny @{PROC}/kcore rwklx,",
        "deny @{PROC}/sysrq-trigger rwklx,",
        "deny @{PROC}/acpi/** rwklx,",
        "deny @{PROC}/bus/** wklx,",
        "deny @{PROC}/sys/fs/** wklx,",
        "deny /sys/firmware/efi/efivars/** rwklx,",
        "deny /sys/kernel/security/** rwklx,",
        "deny /sys/kernel/debug/{,**} rwklx,",
        "deny mount fstype=devpts,",
        "deny mount options=(ro, remount) -> /,",
    ];
    let lines =
        |text: &str| -> Vec<String> { text.lines().map(|l| l.trim().to_string()).collect() };
    for unprivileged in [false, true] {
        for allow_nesting in [false, true] {
            for namespace in [None, Some("ns")] {
                let text = generate(&ProfileOptions {
                    name: "corral-100",
                    unprivileged,
                    allow_nesting,
                    namespace,
                    extra: &[],
                });
                let lines = lines(&text);
                for denial in denials {
                    assert!(
                        lines.iter().any(|line| line == denial),
                        "{denial} (unprivileged {unprivileged}, nesting {allow_nesting})"
                    );
                }
            }
        }
    }
}

/// What the host's AppArmor can do, read from a tree shaped like the machine's.
#[test]
fn host_support_reads_the_module_securityfs_and_the_parsers_abi() {
    let root = tempfile::tempdir().unwrap();
    let path = |p: &str| root.path().join(p);
    let write = |p: &str, text: &str| {
        std::fs::create_dir_all(path(p).parent().unwrap()).unwrap();
        std::fs::write(path(p), text).unwrap();
    };
    // The machine's answer is the same reading below its own root (None on a kernel
    // without AppArmor, so a made-up answer shows there; a lost one where it is on).
    assert_eq!(host_support(), support_below(Path::new("/")));
    assert_eq!(support_below(root.path()), None, "no module");
    write("sys/module/apparmor/parameters/enabled", "N\n");
    std::fs::create_dir_all(path("sys/kernel/security/apparmor")).unwrap();
    assert_eq!(support_below(root.path()), None, "disabled");
    write("sys/module/apparmor/parameters/enabled", "Y\n");
    std::fs::remove_dir(path("sys/kernel/security/apparmor")).unwrap();
    assert_eq!(support_below(root.path()), None, "no securityfs view");
    std::fs::create_dir_all(path("sys/kernel/security/apparmor/features/domain")).unwrap();
    let plain = AppArmorHost {
        abi4: false,
        can_stack: false,
    };
    assert_eq!(support_below(root.path()), Some(plain.clone()));
    // Stacking needs both the stack feature and policy namespaces.
    write(
        "sys/kernel/security/apparmor/features/domain/stack",
        "yes\n",
    );
    assert_eq!(support_below(root.path()), Some(plain.clone()));
    std::fs::remove_file(path("sys/kernel/security/apparmor/features/domain/stack")).unwrap();
    std::fs::create_dir_all(path("sys/kernel/security/apparmor/policy/namespaces")).unwrap();
    assert_eq!(support_below(root.path()), Some(plain));
    write(
        "sys/kernel/security/apparmor/features/domain/stack",
        "yes\n",
    );
    write("etc/apparmor.d/abi/4.0", "");
    assert_eq!(
        support_below(root.path()),
        Some(AppArmorHost {
            abi4: true,
            can_stack: true
        })
    );
}
