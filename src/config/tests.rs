//! Tests of the whole file format: byte-exact round trips, pct's messages, pending semantics,
//! and property tests over generated configs.

use proptest::prelude::*;

use super::*;

fn vmid() -> Vmid {
    Vmid::new(100).unwrap()
}

fn parse(text: &str) -> (Config, Vec<Warning>) {
    Config::parse(vmid(), text, ParseMode::Lenient).unwrap()
}

fn strict_error(text: &str) -> String {
    Config::parse(vmid(), text, ParseMode::Strict)
        .unwrap_err()
        .0
}

/// Shaped the way pct writes files: description first, keys sorted, env, raw lxc keys, then
/// pending and snapshots sorted by name.
const FULL: &str = "#Web front end%3A 50%25 of traffic
#
#second paragraph %C3%BC
arch: amd64
cores: 2
cpulimit: 1.5
features: nesting=1,keyctl=1
hostname: web
memory: 2048
mp0: local:100/vm-100-disk-1.raw,mp=/srv/data,backup=1,size=32G
mp1: /mnt/shared,mp=/shared,ro=1
nameserver: 1.1.1.1 8.8.8.8
net0: name=eth0,bridge=vmbr0,firewall=1,gw=10.0.0.1,hwaddr=BC:24:11:12:34:56,ip=10.0.0.5/24,type=veth
onboot: 1
ostype: debian
parent: daily
rootfs: local:100/vm-100-disk-0.raw,size=8G
startup: order=2,up=30
swap: 512
tags: prod;web
unprivileged: 1
unused0: local:100/vm-100-disk-7.raw
lxc.environment.runtime: LANG=C.UTF-8
lxc.environment.runtime: TZ=UTC
lxc.apparmor.profile: unconfined
lxc.cgroup2.devices.allow: c 10:200 rwm
lxc.mount.entry: /dev/net dev/net none bind,create=dir

[pve:pending]
cores: 4
delete: !mp1,swap
memory: 4096

[daily]
#snapshot before upgrade
arch: amd64
hostname: web
memory: 2048
ostype: debian
rootfs: local:100/vm-100-disk-0.raw,size=8G
snaptime: 1700000000
swap: 512

[weekly]
arch: amd64
hostname: web
memory: 1024
ostype: debian
parent: daily
rootfs: local:100/vm-100-disk-0.raw,size=8G
snapstate: prepare
snaptime: 1700600000
";

#[test]
fn a_pct_written_file_round_trips_byte_for_byte() {
    let (config, warnings) = parse(FULL);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.write().unwrap(), FULL);
    assert_eq!(
        config.main.description,
        "Web front end: 50% of traffic\n\nsecond paragraph ü\n".as_bytes()
    );
    assert_eq!(config.main.env, ["LANG=C.UTF-8", "TZ=UTC"]);
    assert_eq!(config.main.lxc.len(), 3);
    assert_eq!(config.pending.delete.as_deref(), Some("!mp1,swap"));
    assert_eq!(config.snapshots["weekly"].get("snapstate"), Some("prepare"));
    assert_eq!(
        config.snapshots["daily"].description,
        b"snapshot before upgrade\n"
    );
}

#[test]
fn digest_is_sha1_of_the_bytes() {
    assert_eq!(
        Config::digest(b""),
        "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    );
    assert_eq!(Config::digest(b"memory: 512\n").len(), 40);
}

#[test]
fn lenient_reads_warn_and_keep_bad_values() {
    let (config, warnings) = parse("onboot: maybe\nmemory: 0512\nfoo: bar\nostype: redhat\n");
    let texts: Vec<&str> = warnings.iter().map(|w| w.0.as_str()).collect();
    assert_eq!(
        texts,
        [
            "vm 100 - unable to parse value of 'onboot' - type check ('boolean') failed - got 'maybe'",
            "vm 100 - unable to parse value of 'foo' - unknown setting 'foo'",
        ]
    );
    assert_eq!(config.main.get("onboot"), Some("maybe"));
    assert_eq!(config.main.get("foo"), Some("bar"));
    assert_eq!(
        config.main.get("memory"),
        Some("512"),
        "integers are normalised"
    );
    assert_eq!(
        config.main.get("ostype"),
        Some("redhat"),
        "the file parser checks no enums"
    );
    assert_eq!(
        config.write().unwrap(),
        "foo: bar\nmemory: 512\nonboot: maybe\nostype: redhat\n"
    );
}

#[test]
fn strict_reads_fail_with_pcts_messages() {
    assert_eq!(
        strict_error("onboot: maybe\n"),
        "vm 100 - unable to parse value of 'onboot' - type check ('boolean') failed - got 'maybe'"
    );
    assert_eq!(
        strict_error("memory: lots\n"),
        "vm 100 - unable to parse value of 'memory' - type check ('integer') failed - got 'lots'"
    );
    assert_eq!(
        strict_error("cpulimit: 1,5\n"),
        "vm 100 - unable to parse value of 'cpulimit' - type check ('number') failed - got '1,5'"
    );
    assert_eq!(
        strict_error("bogus: 1\n"),
        "vm 100 - unable to parse value of 'bogus' - unknown setting 'bogus'"
    );
    assert_eq!(
        strict_error("Memory: 1\n"),
        "vm 100 - unable to parse config: Memory: 1"
    );
    assert_eq!(
        strict_error("lxc.rootfs.path: /x\n"),
        "vm 100 - lxc.rootfs.path: lxc.rootfs.path is auto generated from rootfs"
    );
    assert_eq!(
        strict_error("lxc.rootfs.options: ro\n"),
        "vm 100 - lxc.rootfs.options: lxc.rootfs.options is not supported, please use mount point options in the \"rootfs\" key"
    );
    assert_eq!(
        strict_error("lxc.bogus.key: 1\n"),
        "vm 100 - unable to parse config: lxc.bogus.key: 1"
    );
    assert_eq!(
        strict_error("delete: swap\n"),
        "vm 100 - property 'delete' is only allowed in [pve:pending]"
    );
    assert_eq!(
        strict_error("net0: bridge=vmbr0\n"),
        "vm 100 - unable to parse value of 'net0' - format error\nname: property is missing and it is not optional"
    );
    assert_eq!(
        strict_error("hostname: a_b\n"),
        "vm 100 - unable to parse value of 'hostname' - value does not look like a valid DNS name"
    );
}

/// pct's `^\[([a-z][a-z0-9_\-]+)\]\s*$`, case-blind: a letter and at least one more.
#[test]
fn snapshot_headers_are_a_letter_and_more() {
    let (config, warnings) = parse("memory: 512\n[Ab]\nmemory: 256\n[s1_-x] \nmemory: 128\n");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.snapshots["Ab"].get("memory"), Some("256"));
    assert_eq!(config.snapshots["s1_-x"].get("memory"), Some("128"));
    for bad in ["[a]", "[1a]", "[-a]", "[_a]", "[a.b]", "[]"] {
        assert_eq!(
            strict_error(&format!("{bad}\n")),
            format!("vm 100 - unable to parse config: {bad}")
        );
    }
}

#[test]
fn raw_lxc_keys_keep_order_and_accept_both_separators() {
    let (config, warnings) = parse(
        "lxc.mount.entry = /a a none bind 0 0\nlxc.aa_profile: unconfined\nlxc.cgroup2.memory.max: 1G\nlxc.mount.entry: /b b none bind 0 0\n",
    );
    assert_eq!(
        warnings,
        [Warning(
            "vm 100 - lxc.aa_profile is deprecated and was renamed to lxc.apparmor.profile".into()
        )]
    );
    let keys: Vec<&str> = config.main.lxc.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "lxc.mount.entry",
            "lxc.aa_profile",
            "lxc.cgroup2.memory.max",
            "lxc.mount.entry"
        ]
    );
    assert!(
        config
            .write()
            .unwrap()
            .starts_with("lxc.mount.entry: /a a none bind 0 0\n"),
        "written back in `key: value` form"
    );
}

#[test]
fn descriptions_from_keys_and_comments_anywhere() {
    let (config, _) = parse("memory: 512\n#late comment\ndescription: from%20key\n");
    assert_eq!(config.main.description, b"late comment\nfrom key");
    assert_eq!(
        config.write().unwrap(),
        "#late comment\n#from key\nmemory: 512\n"
    );
}

#[test]
fn whitespace_and_carriage_returns() {
    let (config, warnings) = parse("\n  \nmemory:   1024  \r\n[PVE:PENDING]  \r\nswap: 0\r\n");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.main.get("memory"), Some("1024"));
    assert_eq!(config.pending.get("swap"), Some("0"));
}

#[test]
fn still_referenced_unused_volumes_are_dropped_on_write() {
    let (config, _) = parse(
        "rootfs: local:100/vm-100-disk-0.raw,size=8G\nunused0: local:100/vm-100-disk-0.raw\nunused1: local:100/vm-100-disk-1.raw\n",
    );
    assert_eq!(
        config.write().unwrap(),
        "rootfs: local:100/vm-100-disk-0.raw,size=8G\nunused1: local:100/vm-100-disk-1.raw\n"
    );
}

#[test]
fn empty_environment_entries_vanish() {
    // Found by fuzzing: an empty entry once made an empty `[pve:pending]` header appear.
    let (config, _) = parse("memory: 512\n[pve:pending]\nlxc.environment.runtime:\n");
    assert!(config.pending.is_empty());
    assert_eq!(config.write().unwrap(), "memory: 512\n");
}

#[test]
fn a_pending_section_without_lines_gets_no_header() {
    // Found by fuzzing: `#` lines alone make a description of empty lines, which writes nothing.
    let (config, _) = parse("memory: 512\n[pve:pending]\n#\n#\n");
    assert_eq!(config.write().unwrap(), "memory: 512\n");
}

#[test]
fn newlines_inside_values_are_refused_on_write() {
    let mut config = Config::new(vmid());
    config.main.set("hostname", "a\nb".into());
    assert_eq!(
        config.write().unwrap_err().0,
        "detected invalid newline inside property 'hostname'"
    );
}

#[test]
fn pending_view_merges() {
    let (config, _) = parse(FULL);
    let merged = config.with_pending_applied();
    assert_eq!(merged.get("memory"), Some("4096"));
    assert_eq!(merged.get("cores"), Some("4"));
    assert!(merged.get("swap").is_none() && merged.get("mp1").is_none());
    assert_eq!(merged.get("hostname"), Some("web"));
    // Nothing pending for the description or env: the current ones stay.
    assert_eq!(merged.description, config.main.description);
    assert_eq!(merged.env, ["LANG=C.UTF-8", "TZ=UTC"]);
    let (config, _) = parse(
        "#old\nlxc.environment.runtime: A=1\n[pve:pending]\n#new\nlxc.environment.runtime: B=2\n",
    );
    let merged = config.with_pending_applied();
    assert_eq!(merged.description, b"new\n");
    assert_eq!(merged.env, ["B=2"]);
}

#[test]
fn snapshot_states_and_option_keys() {
    let (config, warnings) = parse("memory: 512\n[gone]\nsnapstate: delete\n");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.snapshots["gone"].get("snapstate"), Some("delete"));
    // pct's key is `[a-z][a-z_]*\d*`: no leading underscore, and a key at all.
    for bad in ["_a: 1", ": 1", "mEmory: 1", "a-b: 1", "a1b: 1"] {
        assert_eq!(
            strict_error(&format!("{bad}\n")),
            format!("vm 100 - unable to parse config: {bad}")
        );
    }
    // A key of that shape that the schema does not know is a bad value, not a bad line.
    assert_eq!(
        strict_error("a_b12: 1\n"),
        "vm 100 - unable to parse value of 'a_b12' - unknown setting 'a_b12'"
    );
}

fn request(set: &[(&str, &str)], delete: &[&str], revert: &[&str]) -> SetRequest {
    SetRequest {
        set: set
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        delete: delete.iter().map(|s| s.to_string()).collect(),
        revert: revert.iter().map(|s| s.to_string()).collect(),
    }
}

const STOPPED: &str = "hostname: a\nmemory: 512\nmp0: local:100/vm-100-disk-1.raw,mp=/data,size=8G\nostype: debian\nrootfs: local:100/vm-100-disk-0.raw,size=8G\nswap: 512\n";

#[test]
fn set_on_a_stopped_container_applies_at_once() {
    let (mut config, _) = parse(STOPPED);
    let warnings = config
        .update(
            &request(&[("memory", "1024"), ("onboot", "yes")], &["swap"], &[]),
            true,
        )
        .unwrap();
    assert!(warnings.is_empty());
    assert_eq!(
        config.write().unwrap(),
        "hostname: a\nmemory: 1024\nmp0: local:100/vm-100-disk-1.raw,mp=/data,size=8G\nonboot: 1\nostype: debian\nrootfs: local:100/vm-100-disk-0.raw,size=8G\n"
    );
}

#[test]
fn set_on_a_running_container_waits_in_pending() {
    let (mut config, _) = parse(STOPPED);
    config
        .update(
            &request(&[("memory", "1024"), ("hostname", "a")], &["swap"], &[]),
            false,
        )
        .unwrap();
    assert!(
        config
            .write()
            .unwrap()
            .ends_with("\n[pve:pending]\ndelete: swap\nmemory: 1024\n"),
        "unchanged hostname is not pending"
    );
    let changes = config.pending_changes();
    assert!(changes.contains(&PendingChange::Cur {
        key: "memory".into(),
        value: "512".into()
    }));
    assert!(changes.contains(&PendingChange::New {
        key: "memory".into(),
        value: "1024".into()
    }));
    assert!(changes.contains(&PendingChange::Del {
        key: "swap".into(),
        value: "512".into()
    }));
    config
        .update(&request(&[], &[], &["memory", "swap"]), false)
        .unwrap();
    assert!(config.pending.is_empty(), "{:?}", config.pending);
    config
        .update(&request(&[], &["!swap"], &[]), false)
        .unwrap();
    assert_eq!(config.pending.delete.as_deref(), Some("!swap"));
}

#[test]
fn set_refusals_speak_pct() {
    let (config, _) = parse(STOPPED);
    let fail = |req: SetRequest| config.clone().update(&req, true).unwrap_err().0;
    assert_eq!(
        fail(request(&[], &["memory"], &[])),
        "unable to delete required option 'memory'"
    );
    let warnings = config
        .clone()
        .update(&request(&[], &["unprivileged"], &[]), true)
        .unwrap();
    assert_eq!(
        warnings,
        [Warning(
            "cannot delete 'unprivileged' - not set in current configuration!".into()
        )]
    );
    assert_eq!(
        fail(request(&[("unprivileged", "0")], &[], &[])),
        "unable to modify read-only option: 'unprivileged'"
    );
    assert_eq!(
        fail(request(&[("memory", "8")], &[], &[])),
        "400 Parameter verification failed.\nmemory: value must have a minimum value of 16"
    );
    assert_eq!(
        fail(request(&[("memory", "600")], &["memory"], &[])),
        "400 Parameter verification failed.\ndelete: you can't use '-memory' and -delete memory' at the same time"
    );
    assert_eq!(
        fail(request(&[], &["swap"], &["swap"])),
        "400 Parameter verification failed.\ndelete: you can't use '-delete swap' and '-revert swap' at the same time"
    );
    assert_eq!(
        fail(request(&[], &["bogus"], &[])),
        "400 Parameter verification failed.\ndelete: unknown option 'bogus'"
    );
    assert_eq!(
        fail(request(
            &[("net0", "name=eth0,host-managed=1,ip6=auto")],
            &[],
            &[]
        )),
        "net0: SLAAC is not supported for host-managed network configuration."
    );
    let (mut unset, _) = parse(STOPPED);
    let warnings = unset.update(&request(&[], &["cores"], &[]), true).unwrap();
    assert_eq!(
        warnings,
        [Warning(
            "cannot delete 'cores' - not set in current configuration!".into()
        )]
    );
}

#[test]
fn protection_guards_the_drives() {
    let (mut config, _) = parse(&format!("{STOPPED}protection: 1\nunprivileged: 1\n"));
    let error = config
        .clone()
        .update(&request(&[], &["mp0"], &[]), true)
        .unwrap_err()
        .0;
    assert_eq!(
        error,
        "can't remove CT 100 drive 'mp0' - protection mode enabled"
    );
    let error = config
        .clone()
        .update(
            &request(&[("rootfs", "local:100/vm-100-disk-9.raw")], &[], &[]),
            true,
        )
        .unwrap_err()
        .0;
    assert_eq!(
        error,
        "can't update CT 100 drive 'rootfs' - protection mode enabled"
    );
    assert_eq!(
        config
            .update(&request(&[], &["unprivileged"], &[]), true)
            .unwrap_err()
            .0,
        "unable to delete read-only option: 'unprivileged'"
    );
    // Other options still change.
    config
        .update(&request(&[("memory", "1024")], &[], &[]), true)
        .unwrap();
}

#[test]
fn replaced_and_deleted_volumes_become_unused() {
    let (mut config, _) = parse(STOPPED);
    config
        .update(
            &request(
                &[("mp0", "local:100/vm-100-disk-2.raw,mp=/data,size=4G")],
                &[],
                &[],
            ),
            true,
        )
        .unwrap();
    assert_eq!(
        config.main.unused(),
        [(0, "local:100/vm-100-disk-1.raw".to_string())]
    );
    config.update(&request(&[], &["mp0"], &[]), true).unwrap();
    assert_eq!(config.main.unused().len(), 2);
    assert!(config.main.get("mp0").is_none());
    config
        .update(&request(&[], &["unused0"], &[]), true)
        .unwrap();
    assert_eq!(
        config.main.unused(),
        [(1, "local:100/vm-100-disk-2.raw".to_string())]
    );
    for i in 0..=255 {
        config.main.set(
            &format!("unused{i}"),
            format!("local:100/vm-100-disk-{}.raw", i + 100),
        );
    }
    assert_eq!(
        config
            .add_unused_volume("local:100/vm-100-disk-9.raw")
            .unwrap_err()
            .0,
        "Too many unused volumes - please delete them first."
    );
}

#[test]
fn protection_guards_nothing_but_the_drives() {
    let (config, _) = parse(&format!(
        "{STOPPED}protection: 1\nunused0: local:100/vm-100-disk-7.raw\n"
    ));
    let mut changed = config.clone();
    changed
        .update(
            &request(
                &[("net0", "name=eth0,bridge=vmbr0"), ("dev0", "/dev/null")],
                &["swap"],
                &[],
            ),
            true,
        )
        .unwrap();
    assert_eq!(changed.main.get("net0"), Some("name=eth0,bridge=vmbr0"));
    assert_eq!(changed.main.get("dev0"), Some("/dev/null"));
    assert!(!changed.main.has("swap"));
    assert_eq!(
        config
            .clone()
            .update(&request(&[], &["unused0"], &[]), true)
            .unwrap_err()
            .0,
        "can't remove CT 100 drive 'unused0' - protection mode enabled"
    );
}

#[test]
fn slaac_is_refused_only_on_a_host_managed_link_that_is_up() {
    let (config, _) = parse(STOPPED);
    for net in [
        "name=eth0,ip6=auto",
        "name=eth0,host-managed=1,ip6=auto,link_down=1",
        "name=eth0,host-managed=1,ip6=dhcp",
    ] {
        let mut changed = config.clone();
        changed
            .update(&request(&[("net0", net)], &[], &[]), true)
            .unwrap_or_else(|e| panic!("{net}: {e}"));
        assert!(changed.main.has("net0"), "{net}");
    }
}

#[test]
fn a_volume_still_used_elsewhere_does_not_become_unused() {
    // mp1 mounts the volume mp0 mounts, elsewhere.
    let shared = format!("{STOPPED}mp1: local:100/vm-100-disk-1.raw,mp=/also\n");
    let (mut config, _) = parse(&shared);
    config
        .update(
            &request(&[("mp0", "local:100/vm-100-disk-2.raw,mp=/data")], &[], &[]),
            true,
        )
        .unwrap();
    assert!(config.main.unused().is_empty(), "{:?}", config.main);
    // A snapshot still holds the volume: it becomes unusedN all the same (pct), so that the
    // config keeps naming it.
    let snapshot = format!(
        "{STOPPED}\n[before]\nmp0: local:100/vm-100-disk-1.raw,mp=/data\nrootfs: local:100/vm-100-disk-0.raw\n"
    );
    let (config, _) = parse(&snapshot);
    let held = [(0, "local:100/vm-100-disk-1.raw".to_string())];
    let mut replaced = config.clone();
    replaced
        .update(
            &request(&[("mp0", "local:100/vm-100-disk-2.raw,mp=/data")], &[], &[]),
            true,
        )
        .unwrap();
    assert_eq!(replaced.main.unused(), held, "{:?}", replaced.main);
    let mut deleted = config.clone();
    deleted.update(&request(&[], &["mp0"], &[]), true).unwrap();
    assert!(!deleted.main.has("mp0"));
    assert_eq!(deleted.main.unused(), held, "{:?}", deleted.main);
    // The snapshot section is left as it was.
    assert_eq!(deleted.snapshots, config.snapshots);
}

#[test]
fn a_replaced_rootfs_becomes_unused() {
    let (mut config, _) = parse(STOPPED);
    config
        .update(
            &request(
                &[("rootfs", "local:100/vm-100-disk-9.raw,size=8G")],
                &[],
                &[],
            ),
            true,
        )
        .unwrap();
    assert_eq!(
        config.main.unused(),
        [(0, "local:100/vm-100-disk-0.raw".to_string())]
    );
}

#[test]
fn a_change_that_cannot_be_applied_warns_and_stays_pending() {
    let (mut config, _) = parse(STOPPED);
    for i in 0..=255 {
        config.main.set(
            &format!("unused{i}"),
            format!("local:100/vm-100-disk-{}.raw", i + 100),
        );
    }
    let warnings = config
        .update(&request(&[("memory", "1024")], &["mp0"], &[]), true)
        .unwrap();
    assert_eq!(
        warnings,
        [Warning(
            "unable to apply pending change mp0 : Too many unused volumes - please delete them first."
                .into()
        )]
    );
    assert!(config.main.has("mp0"));
    assert_eq!(config.pending.delete.as_deref(), Some("mp0"));
    assert_eq!(config.main.get("memory"), Some("1024"));
    // Replacing the volume fails the same way.
    let warnings = config.update(
        &request(&[("mp0", "local:100/vm-100-disk-2.raw,mp=/data")], &[], &[]),
        true,
    );
    assert_eq!(
        warnings.unwrap(),
        [
            Warning(
                "unable to apply pending change mp0 : Too many unused volumes - please delete them first."
                    .into()
            ),
        ]
    );
    assert_eq!(
        config.main.get("mp0"),
        Some("local:100/vm-100-disk-1.raw,mp=/data,size=8G")
    );
}

#[test]
fn description_and_env_apply_only_when_pending() {
    let with_text = format!("#a note\n{STOPPED}lxc.environment.runtime: A=1\n");
    let (mut config, _) = parse(&with_text);
    config
        .update(&request(&[("memory", "1024")], &[], &[]), true)
        .unwrap();
    assert_eq!(config.main.description, b"a note\n");
    assert_eq!(config.main.env, ["A=1"]);
    config
        .update(
            &request(&[("description", "new"), ("env", "B=2\0C=3")], &[], &[]),
            true,
        )
        .unwrap();
    assert_eq!(config.main.description, b"new");
    assert_eq!(config.main.env, ["B=2", "C=3"]);
    assert!(config.pending.is_empty(), "{:?}", config.pending);
}

#[test]
fn hotplug_applies_only_the_keys_it_may() {
    let with_text = format!("#a note\n{STOPPED}");
    let (mut config, _) = parse(&with_text);
    config
        .update(
            &request(
                &[("hostname", "b"), ("memory", "1024"), ("onboot", "1")],
                &["swap"],
                &[],
            ),
            false,
        )
        .unwrap();
    // Nothing pending for the description: the current one stays, whatever is hot.
    let applied = config.apply_pending_keys(|key| key != "memory");
    assert_eq!(applied, ["swap", "hostname", "onboot"]);
    assert_eq!(config.main.description, b"a note\n");
    assert_eq!(config.main.get("hostname"), Some("b"));
    assert!(!config.main.has("swap"));
    assert_eq!(config.pending.get("memory"), Some("1024"));
    assert_eq!(config.pending.delete, None);
    // A pending description waits while the description is not hot.
    config
        .update(&request(&[("description", "new")], &[], &[]), false)
        .unwrap();
    assert!(config.apply_pending_keys(|key| key == "onboot").is_empty());
    assert_eq!(config.main.description, b"a note\n");
    assert_eq!(config.pending.description, b"new");
    assert!(
        config
            .apply_pending_keys(|key| key == "description")
            .is_empty()
    );
    assert_eq!(config.main.description, b"new");
}

#[test]
fn pending_lists_description_and_env() {
    let text = "#caf%E9\nmemory: 512\nlxc.environment.runtime: A=1\nlxc.environment.runtime: B=2\n";
    let (config, _) = parse(text);
    assert_eq!(
        config.pending_changes(),
        [
            PendingChange::Cur {
                key: "description".into(),
                value: "caf\u{fffd}\n".into()
            },
            PendingChange::Cur {
                key: "env".into(),
                value: "A=1\0B=2".into()
            },
            PendingChange::Cur {
                key: "memory".into(),
                value: "512".into()
            },
        ]
    );
    // Only pending: listed as new.
    let (config, _) = parse("memory: 512\n[pve:pending]\n#note\nlxc.environment.runtime: A=1\n");
    assert_eq!(
        config.pending_changes(),
        [
            PendingChange::New {
                key: "description".into(),
                value: "note\n".into()
            },
            PendingChange::New {
                key: "env".into(),
                value: "A=1".into()
            },
            PendingChange::Cur {
                key: "memory".into(),
                value: "512".into()
            },
        ]
    );
}

fn section_strategy() -> impl Strategy<Value = Section> {
    let keys = prop::collection::btree_map(
        prop_oneof![
            Just("memory".to_string()),
            Just("swap".to_string()),
            Just("cores".to_string()),
            Just("onboot".to_string()),
            Just("hostname".to_string()),
            "net[0-9]".prop_map(|k| k),
            "mp[0-9]{1,2}".prop_map(|k| k),
        ],
        "[a-z0-9=,:/._-]{1,20}",
        0..8,
    );
    (
        keys,
        "[ -~\\n]{0,40}",
        prop::collection::vec("[A-Z]{1,5}=[a-z0-9]{0,5}", 0..3),
        prop::collection::vec(
            (
                "lxc\\.(mount\\.entry|cgroup2\\.cpu\\.max|idmap)",
                "[a-z0-9 :/]{1,10}",
            ),
            0..3,
        ),
    )
        .prop_map(|(options, description, env, lxc)| Section {
            description: description.trim_start_matches('\n').as_bytes().to_vec(),
            options: options
                .into_iter()
                .map(|(k, v)| (k, v.trim().to_string()))
                .filter(|(_, v)| !v.is_empty() && !v.contains(':'))
                .collect(),
            env,
            lxc: lxc
                .into_iter()
                .map(|(k, v)| (k, v.trim().to_string()))
                .filter(|(_, v)| !v.is_empty())
                .collect(),
            delete: None,
        })
}

proptest! {
    #[test]
    fn written_configs_parse_back_and_write_identically(main in section_strategy(), pending in section_strategy(), snapshot in section_strategy()) {
        let mut config = Config::new(vmid());
        config.main = main;
        config.pending = pending;
        config.pending.description.clear();
        config.pending.delete = Some("swap".into());
        config.snapshots.insert("snap1".into(), snapshot);
        // Parsing normalises typed values as pct does ("00" → 0, "yes" → 1), so the text
        // is stable from the first parse on.
        let (normalised, _) = parse(&config.write().unwrap());
        let text = normalised.write().unwrap();
        let (parsed, _) = parse(&text);
        prop_assert_eq!(parsed.write().unwrap(), text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "(?s).{0,400}") {
        for mode in [ParseMode::Lenient, ParseMode::Strict] {
            if let Ok((config, _)) = Config::parse(vmid(), &text, mode) {
                let _ = config.write();
                let _ = config.pending_changes();
            }
        }
    }

    #[test]
    fn lenient_parse_is_a_fixed_point_after_one_write(text in "(?s)([a-z]{1,8}: [ -~]{1,12}\n|#[ -~]{0,10}\n|\\[[a-z]{2,5}\\]\n|lxc\\.[a-z.]{1,10}: [a-z ]{1,5}\n){0,12}") {
        let (config, _) = parse(&text);
        if let Ok(first) = config.write() {
            let (again, _) = parse(&first);
            prop_assert_eq!(again.write().unwrap(), first);
        }
    }
}

#[test]
fn a_description_that_is_not_utf8_survives_a_write() {
    let raw: &[u8] = b"description: caf\xe9\nmemory: 512\n#line\xff two\n";
    let (mut config, warnings) = Config::parse(vmid(), raw, ParseMode::Strict).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.main.description, b"caf\xe9line\xff two\n");
    assert_eq!(config.main.memory(), 512);
    // `pct set` of another key writes the description back with the same bytes.
    config.main.set("onboot", "1".into());
    let written = config.write().unwrap();
    assert_eq!(written, "#caf%E9line%FF two\nmemory: 512\nonboot: 1\n");
    let (again, _) = Config::parse(vmid(), written.as_bytes(), ParseMode::Strict).unwrap();
    assert_eq!(again.main.description, config.main.description);
}

#[test]
fn other_lines_that_are_not_utf8_warn_and_the_rest_counts() {
    let raw: &[u8] = b"hostname: caf\xe9\x1b[2J\nmemory: 1024\n";
    let (config, warnings) = Config::parse(vmid(), raw, ParseMode::Lenient).unwrap();
    assert_eq!(
        warnings,
        [Warning(
            "vm 100 - unable to parse config: hostname: caf\\xe9\\x1b[2J".into()
        )]
    );
    assert_eq!(config.main.memory(), 1024);
    assert_eq!(config.main.hostname(), None);
    assert_eq!(
        Config::parse(vmid(), raw, ParseMode::Strict).unwrap_err().0,
        "vm 100 - unable to parse config: hostname: caf\\xe9\\x1b[2J"
    );
}

#[test]
fn long_and_garbage_lines_are_cut_and_escaped_in_messages() {
    let long = format!("{}\x1b]0;owned\x07", "x".repeat(10 << 20));
    let (_, warnings) = parse(&format!("memory: 512\n{long}\n"));
    let prefix = "vm 100 - unable to parse config: ";
    let shown = "x".repeat(crate::text::MESSAGE_LIMIT - prefix.len());
    assert_eq!(warnings, [Warning(format!("{prefix}{shown}..."))]);
    let (_, warnings) = parse("hostname: bad\x1b[31m_name\n");
    assert_eq!(
        warnings[0].0,
        "vm 100 - unable to parse value of 'hostname' - value does not look like a valid DNS name"
    );
    let (_, warnings) = parse(&format!("onboot: {}\n", "\x1by".repeat(1000)));
    assert!(warnings[0].0.starts_with(
        "vm 100 - unable to parse value of 'onboot' - type check ('boolean') failed - got '\\x1by"
    ));
    assert!(warnings[0].0.ends_with("...") && !warnings[0].0.contains('\x1b'));
}
