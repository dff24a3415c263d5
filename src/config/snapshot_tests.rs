//! Snapshot steps on config text, as pct writes the file before and after each step.

use super::*;
use crate::config::{ParseMode, Vmid};

fn parse(text: &str) -> Config {
    let (config, warnings) =
        Config::parse(Vmid::new(200).unwrap(), text, ParseMode::Strict).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    config
}

fn text(config: &Config) -> String {
    config.write().unwrap()
}

/// A stopped container with a volume mount point, a bind mount, an unused volume, a raw
/// lxc key and a pending change.
const STOPPED: &str = "\
#web server
#second line
arch: amd64
hostname: web
memory: 1024
mp0: tank:subvol-200-disk-1,mp=/srv,size=4G
mp1: /srv/shared,mp=/shared
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth
ostype: debian
rootfs: tank:subvol-200-disk-0,size=8G
unused0: tank:subvol-200-disk-9
lxc.environment.runtime: LANG=C
lxc.cgroup2.devices.allow: c 10:200 rwm

[pve:pending]
memory: 2048
";

const PREPARED: &str = "\
#web server
#second line
arch: amd64
hostname: web
lock: snapshot
memory: 1024
mp0: tank:subvol-200-disk-1,mp=/srv,size=4G
mp1: /srv/shared,mp=/shared
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth
ostype: debian
rootfs: tank:subvol-200-disk-0,size=8G
unused0: tank:subvol-200-disk-9
lxc.environment.runtime: LANG=C
lxc.cgroup2.devices.allow: c 10:200 rwm

[pve:pending]
memory: 2048

[before-upgrade]
#apt full-upgrade next
arch: amd64
hostname: web
memory: 1024
mp0: tank:subvol-200-disk-1,mp=/srv,size=4G
mp1: /srv/shared,mp=/shared
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth
ostype: debian
rootfs: tank:subvol-200-disk-0,size=8G
snapstate: prepare
snaptime: 1700000000
lxc.environment.runtime: LANG=C
lxc.cgroup2.devices.allow: c 10:200 rwm
";

const COMMITTED: &str = "\
#web server
#second line
arch: amd64
hostname: web
memory: 1024
mp0: tank:subvol-200-disk-1,mp=/srv,size=4G
mp1: /srv/shared,mp=/shared
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth
ostype: debian
parent: before-upgrade
rootfs: tank:subvol-200-disk-0,size=8G
unused0: tank:subvol-200-disk-9
lxc.environment.runtime: LANG=C
lxc.cgroup2.devices.allow: c 10:200 rwm

[pve:pending]
memory: 2048

[before-upgrade]
#apt full-upgrade next
arch: amd64
hostname: web
memory: 1024
mp0: tank:subvol-200-disk-1,mp=/srv,size=4G
mp1: /srv/shared,mp=/shared
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth
ostype: debian
rootfs: tank:subvol-200-disk-0,size=8G
snaptime: 1700000000
lxc.environment.runtime: LANG=C
lxc.cgroup2.devices.allow: c 10:200 rwm
";

#[test]
fn prepare_locks_and_copies_the_current_config_without_its_state() {
    let prepared = prepare(
        &parse(STOPPED),
        "before-upgrade",
        Some("apt full-upgrade next"),
        1_700_000_000,
    )
    .unwrap();
    assert_eq!(text(&prepared.config), PREPARED);
    assert!(prepared.warnings.is_empty());
}

#[test]
fn prepare_without_description_leaves_the_snapshot_without_one() {
    for description in [None, Some(""), Some("0")] {
        let prepared = prepare(&parse(STOPPED), "plain", description, 5).unwrap();
        let snapshot = &prepared.config.snapshots["plain"];
        assert!(snapshot.description.is_empty(), "{description:?}");
    }
}

#[test]
fn commit_unlocks_and_points_the_current_config_at_the_snapshot() {
    let committed = commit(&parse(PREPARED), "before-upgrade").unwrap();
    assert_eq!(text(&committed), COMMITTED);
}

#[test]
fn prepare_refuses_in_pcts_order() {
    let base = parse(COMMITTED);
    let refused = |config: &Config, name: &str| prepare(config, name, None, 1).unwrap_err();

    // The name first (the API's schema, then its reserved names).
    for bad in [
        "a",
        "1st",
        "with.dot",
        "with space",
        "ümlaut",
        &"x".repeat(41),
    ] {
        let error = refused(&base, bad);
        assert!(
            matches!(&error, SnapshotError::InvalidName { name, .. } if name == bad),
            "{bad}: {error:?}"
        );
    }
    assert_eq!(
        refused(&base, "a").to_string(),
        "invalid format - invalid configuration ID 'a'"
    );
    assert_eq!(
        refused(&base, &"x".repeat(41)).to_string(),
        "value may only be 40 characters long"
    );
    assert!(prepare(&base, &"x".repeat(40), None, 1).is_ok());
    for reserved in ["current", "vzdump"] {
        assert_eq!(
            refused(&base, reserved).to_string(),
            format!("unable to use snapshot name '{reserved}' (reserved name)")
        );
    }

    // Then the template, the lock, the name in use.
    let mut locked_template = base.clone();
    locked_template.main.set("template", "1".into());
    locked_template.main.set("lock", "backup".into());
    assert_eq!(
        refused(&locked_template, "before-upgrade").to_string(),
        "you can't take a snapshot if it's a template"
    );
    let mut locked = base.clone();
    locked.main.set("lock", "backup".into());
    assert_eq!(
        refused(&locked, "before-upgrade").to_string(),
        "CT is locked (backup)"
    );
    assert_eq!(
        refused(&parse(PREPARED), "other").to_string(),
        "CT is locked (snapshot)"
    );
    assert_eq!(
        refused(&base, "before-upgrade").to_string(),
        "snapshot name 'before-upgrade' already used"
    );
    // A template flag that is off is no template.
    let mut not_template = base.clone();
    not_template.main.set("template", "0".into());
    assert!(prepare(&not_template, "fine", None, 1).is_ok());
}

#[test]
fn commit_refuses_without_the_lock_or_in_the_wrong_state() {
    assert_eq!(
        commit(&parse(STOPPED), "before-upgrade").unwrap_err(),
        SnapshotError::MissingSnapshotLock
    );
    let mut other_lock = parse(PREPARED);
    other_lock.main.set("lock", "backup".into());
    assert_eq!(
        commit(&other_lock, "before-upgrade")
            .unwrap_err()
            .to_string(),
        "missing snapshot lock"
    );
    assert_eq!(
        commit(&parse(PREPARED), "nope").unwrap_err().to_string(),
        "snapshot 'nope' does not exist"
    );
    let mut done = parse(COMMITTED);
    done.main.set("lock", "snapshot".into());
    assert_eq!(
        commit(&done, "before-upgrade").unwrap_err().to_string(),
        "wrong snapshot state"
    );
    let mut deleting = parse(PREPARED);
    deleting
        .snapshots
        .get_mut("before-upgrade")
        .unwrap()
        .set("snapstate", "delete".into());
    assert_eq!(
        commit(&deleting, "before-upgrade").unwrap_err(),
        SnapshotError::WrongState
    );
}

/// `pct snapshot` of three names in turn, as prepare and commit write it.
fn three_snapshots() -> Config {
    let mut config = parse(STOPPED);
    for (name, time) in [("first", 1000), ("second", 2000), ("third", 3000)] {
        let prepared = prepare(&config, name, None, time).unwrap();
        config = commit(&prepared.config, name).unwrap();
        // Each step reads back what it wrote.
        config = parse(&text(&config));
    }
    config
}

fn parent_of<'c>(config: &'c Config, name: &str) -> Option<&'c str> {
    match name {
        "current" => config.main.get("parent"),
        _ => config.snapshots[name].get("parent"),
    }
}

#[test]
fn snapshots_form_a_chain_from_the_current_config_back() {
    let config = three_snapshots();
    assert_eq!(parent_of(&config, "current"), Some("third"));
    assert_eq!(parent_of(&config, "third"), Some("second"));
    assert_eq!(parent_of(&config, "second"), Some("first"));
    assert_eq!(parent_of(&config, "first"), None);
    assert!(config.main.lock().is_none());
}

const MIDDLE_DELETED: &str = "\
#web server
#second line
arch: amd64
hostname: web
memory: 1024
mp0: tank:subvol-200-disk-1,mp=/srv,size=4G
mp1: /srv/shared,mp=/shared
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth
ostype: debian
parent: third
rootfs: tank:subvol-200-disk-0,size=8G
unused0: tank:subvol-200-disk-9
lxc.environment.runtime: LANG=C
lxc.cgroup2.devices.allow: c 10:200 rwm

[pve:pending]
memory: 2048

[first]
arch: amd64
hostname: web
memory: 1024
mp0: tank:subvol-200-disk-1,mp=/srv,size=4G
mp1: /srv/shared,mp=/shared
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth
ostype: debian
rootfs: tank:subvol-200-disk-0,size=8G
snaptime: 1000
lxc.environment.runtime: LANG=C
lxc.cgroup2.devices.allow: c 10:200 rwm

[third]
arch: amd64
hostname: web
memory: 1024
mp0: tank:subvol-200-disk-1,mp=/srv,size=4G
mp1: /srv/shared,mp=/shared
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth
ostype: debian
parent: first
rootfs: tank:subvol-200-disk-0,size=8G
snaptime: 3000
lxc.environment.runtime: LANG=C
lxc.cgroup2.devices.allow: c 10:200 rwm
";

#[test]
fn deleting_the_middle_of_three_links_its_child_to_its_parent() {
    let config = three_snapshots();
    let marked = delete_prepare(&config, "second", DeleteLock::Own).unwrap();
    assert_eq!(marked.main.lock(), Some("snapshot-delete"));
    assert_eq!(marked.snapshots["second"].get("snapstate"), Some("delete"));
    let marked = parse(&text(&marked));
    // The storage deleted the snapshots of both attached volumes: they stay attached, so
    // they do not become unusedN.
    let deleted = [
        "tank:subvol-200-disk-0".to_string(),
        "tank:subvol-200-disk-1".to_string(),
    ];
    let done = delete_commit(&marked, "second", DeleteLock::Own, &deleted).unwrap();
    assert_eq!(text(&done), MIDDLE_DELETED);
}

#[test]
fn deleting_the_oldest_or_newest_relinks_what_pointed_at_it() {
    let config = three_snapshots();
    let oldest = delete_prepare(&config, "first", DeleteLock::Own).unwrap();
    let oldest = delete_commit(&oldest, "first", DeleteLock::Own, &[]).unwrap();
    assert_eq!(parent_of(&oldest, "second"), None);
    assert_eq!(parent_of(&oldest, "third"), Some("second"));
    assert_eq!(parent_of(&oldest, "current"), Some("third"));

    let newest = delete_prepare(&config, "third", DeleteLock::Own).unwrap();
    let newest = delete_commit(&newest, "third", DeleteLock::Own, &[]).unwrap();
    assert_eq!(parent_of(&newest, "current"), Some("second"));
    assert_eq!(parent_of(&newest, "second"), Some("first"));
    assert!(!newest.snapshots.contains_key("third"));
    assert!(newest.main.lock().is_none());

    // The only snapshot: the current config is left without parent.
    let mut one = parse(STOPPED);
    one = commit(&prepare(&one, "only", None, 1).unwrap().config, "only").unwrap();
    let one = delete_prepare(&one, "only", DeleteLock::Own).unwrap();
    let one = delete_commit(&one, "only", DeleteLock::Own, &[]).unwrap();
    assert_eq!(parent_of(&one, "current"), None);
    assert!(one.snapshots.is_empty());
}

#[test]
fn a_deleted_snapshots_detached_volumes_become_unused() {
    let mut config = three_snapshots();
    // mp0 was detached after the snapshots; its volume is only in them now.
    config.main.remove("mp0");
    let marked = delete_prepare(&config, "second", DeleteLock::Own).unwrap();
    let deleted = [
        "tank:subvol-200-disk-0".to_string(),
        "tank:subvol-200-disk-1".to_string(),
        "tank:subvol-200-disk-1".to_string(),
    ];
    let done = delete_commit(&marked, "second", DeleteLock::Own, &deleted).unwrap();
    let written = parse(&text(&done));
    // As in pct: the still attached rootfs takes unused1 first and is dropped only when the
    // file is written, so the detached volume lands on unused2; no volume is named twice.
    assert_eq!(
        written.main.unused(),
        [
            (0, "tank:subvol-200-disk-9".to_string()),
            (2, "tank:subvol-200-disk-1".to_string()),
        ]
    );
}

#[test]
fn delete_refusals_are_pcts() {
    let config = three_snapshots();
    assert_eq!(
        delete_prepare(&config, "nope", DeleteLock::Own)
            .unwrap_err()
            .to_string(),
        "snapshot 'nope' does not exist"
    );
    let mut locked = config.clone();
    locked.main.set("lock", "mounted".into());
    assert_eq!(
        delete_prepare(&locked, "second", DeleteLock::Own)
            .unwrap_err()
            .to_string(),
        "CT is locked (mounted)"
    );
    // A failed create's cleanup expects the create's lock.
    assert_eq!(
        delete_prepare(&config, "second", DeleteLock::CreateCleanup)
            .unwrap_err()
            .to_string(),
        "encountered invalid lock, expected 'snapshot'"
    );
    let mut template = config.clone();
    template.main.set("template", "1".into());
    assert_eq!(
        delete_prepare(&template, "second", DeleteLock::Own)
            .unwrap_err()
            .to_string(),
        "you can't delete a snapshot if vm is a template"
    );
    // A lock changed under a running delete stops its later steps.
    let mut marked = delete_prepare(&config, "second", DeleteLock::Own).unwrap();
    marked.main.set("lock", "backup".into());
    assert_eq!(
        delete_commit(&marked, "second", DeleteLock::Own, &[])
            .unwrap_err()
            .to_string(),
        "encountered invalid lock, expected 'snapshot-delete'"
    );
    assert_eq!(
        delete_remove_volume(&marked, "second", "rootfs", DeleteLock::Own).unwrap_err(),
        SnapshotError::InvalidLock {
            expected: "snapshot-delete"
        }
    );
    let marked = delete_prepare(&config, "second", DeleteLock::Own).unwrap();
    assert_eq!(
        delete_commit(&marked, "gone", DeleteLock::Own, &[]).unwrap_err(),
        SnapshotError::NotFound("gone".into())
    );
}

#[test]
fn a_failed_create_cleans_up_under_its_own_lock() {
    let prepared = prepare(&parse(STOPPED), "broken", None, 1).unwrap().config;
    let marked = delete_prepare(&prepared, "broken", DeleteLock::CreateCleanup).unwrap();
    assert_eq!(marked.main.lock(), Some("snapshot"));
    assert_eq!(marked.snapshots["broken"].get("snapstate"), Some("delete"));
    let done = delete_commit(&marked, "broken", DeleteLock::CreateCleanup, &[]).unwrap();
    assert_eq!(text(&done), STOPPED);
}

#[test]
fn removing_a_volume_from_a_deleting_snapshot_keeps_it_as_the_snapshots_unused() {
    let marked = delete_prepare(&three_snapshots(), "second", DeleteLock::Own).unwrap();
    let step = delete_remove_volume(&marked, "second", "rootfs", DeleteLock::Own).unwrap();
    let step = delete_remove_volume(&step, "second", "mp1", DeleteLock::Own).unwrap();
    // Already gone: nothing changes.
    let step = delete_remove_volume(&step, "second", "mp1", DeleteLock::Own).unwrap();
    let section = &parse(&text(&step)).snapshots["second"];
    assert!(section.get("rootfs").is_none() && section.get("mp1").is_none());
    // The bind mount is no volume and leaves no unusedN.
    assert_eq!(
        section.unused(),
        [(0, "tank:subvol-200-disk-0".to_string())]
    );
    assert_eq!(section.get("snapstate"), Some("delete"));
}

#[test]
fn a_new_snapshot_named_as_a_stale_parent_drops_that_parent_with_a_warning() {
    // `second` was removed by hand; `third` still names it.
    let mut config = three_snapshots();
    config.snapshots.remove("second");
    let prepared = prepare(&config, "second", None, 4000).unwrap();
    assert_eq!(
        prepared.warnings,
        [Warning(
            "deleting parent 'second' reference from 'third' to avoid bogus snapshot cycle.".into()
        )]
    );
    assert_eq!(parent_of(&prepared.config, "third"), None);
    // The new snapshot is the current config's child as usual.
    assert_eq!(parent_of(&prepared.config, "second"), Some("third"));
}

/// The container after `first` was taken: renamed, more memory, a new mount point, a pending
/// change, its description changed.
const CHANGED_AFTER_FIRST: &str = "\
#changed after first
arch: amd64
hostname: web2
memory: 4096
mp0: tank:subvol-200-disk-1,mp=/srv,size=4G
mp2: tank:subvol-200-disk-3,mp=/cache,size=1G
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth
ostype: debian
parent: first
rootfs: tank:subvol-200-disk-0,size=8G
unused0: tank:subvol-200-disk-9

[pve:pending]
cores: 4

[first]
#taken first
arch: amd64
hostname: web
memory: 1024
mp0: tank:subvol-200-disk-1,mp=/srv,size=4G
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth
ostype: debian
rootfs: tank:subvol-200-disk-0,size=8G
snaptime: 1000
lxc.cgroup2.devices.allow: c 10:200 rwm
";

const ROLLED_BACK: &str = "\
#changed after first
arch: amd64
hostname: web
memory: 1024
mp0: tank:subvol-200-disk-1,mp=/srv,size=4G
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth
ostype: debian
parent: first
rootfs: tank:subvol-200-disk-0,size=8G
unused0: tank:subvol-200-disk-9
unused1: tank:subvol-200-disk-3
lxc.cgroup2.devices.allow: c 10:200 rwm

[first]
#taken first
arch: amd64
hostname: web
memory: 1024
mp0: tank:subvol-200-disk-1,mp=/srv,size=4G
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth
ostype: debian
rootfs: tank:subvol-200-disk-0,size=8G
snaptime: 1000
lxc.cgroup2.devices.allow: c 10:200 rwm
";

#[test]
fn rollback_rebuilds_the_current_config_from_the_snapshot() {
    let config = parse(CHANGED_AFTER_FIRST);
    let locked = rollback_prepare(&config, "first").unwrap();
    assert_eq!(locked.main.lock(), Some("rollback"));
    // Nothing else changes before the volumes are rolled back.
    let mut unlocked = locked.clone();
    unlocked.main.remove("lock");
    assert_eq!(unlocked, config);
    let done = rollback_commit(&parse(&text(&locked)), "first").unwrap();
    assert_eq!(text(&done), ROLLED_BACK);
}

#[test]
fn rollback_to_an_older_snapshot_keeps_the_newer_ones_and_points_at_the_target() {
    let config = three_snapshots();
    let locked = rollback_prepare(&config, "first").unwrap();
    let done = rollback_commit(&locked, "first").unwrap();
    assert_eq!(done.snapshots, config.snapshots);
    assert_eq!(parent_of(&done, "current"), Some("first"));
    // The pending change of the current config is gone.
    assert!(done.pending.is_empty());
    // `current` is a sibling of `second` now, listed after it and its subtree.
    let shape: Vec<(usize, String)> = snapshot_tree(&done)
        .into_iter()
        .map(|line| (line.depth, line.name))
        .collect();
    let expected = [(0, "first"), (1, "second"), (2, "third"), (1, "current")];
    assert_eq!(
        shape,
        expected.map(|(depth, name)| (depth, name.to_string()))
    );
}

#[test]
fn rollback_refusals_are_pcts() {
    let config = parse(CHANGED_AFTER_FIRST);
    let mut template = config.clone();
    template.main.set("template", "1".into());
    assert_eq!(
        rollback_prepare(&template, "first")
            .unwrap_err()
            .to_string(),
        "you can't rollback if vm is a template"
    );
    assert_eq!(
        rollback_target(&config, "nope").unwrap_err().to_string(),
        "snapshot 'nope' does not exist"
    );
    assert_eq!(
        rollback_prepare(&config, "nope").unwrap_err(),
        SnapshotError::NotFound("nope".into())
    );
    for state in ["prepare", "delete"] {
        let mut incomplete = config.clone();
        let section = incomplete.snapshots.get_mut("first").unwrap();
        section.set("snapstate", state.into());
        // Incomplete comes before the lock.
        incomplete.main.set("lock", "backup".into());
        assert_eq!(
            rollback_prepare(&incomplete, "first")
                .unwrap_err()
                .to_string(),
            format!("unable to rollback to incomplete snapshot (snapstate = {state})")
        );
    }
    let mut locked = config.clone();
    locked.main.set("lock", "backup".into());
    assert_eq!(
        rollback_prepare(&locked, "first").unwrap_err().to_string(),
        "CT is locked (backup)"
    );
    assert_eq!(
        rollback_commit(&config, "first").unwrap_err().to_string(),
        "got wrong lock"
    );
    assert_eq!(
        rollback_commit(&locked, "first").unwrap_err(),
        SnapshotError::WrongLock
    );
}

#[test]
fn unused_volumes_take_the_lowest_free_key_once() {
    let mut section = Section::default();
    section.set("unused0", "a:1".into());
    section.set("unused2", "a:3".into());
    add_unused_volume(&mut section, "a:2").unwrap();
    add_unused_volume(&mut section, "a:3").unwrap();
    add_unused_volume(&mut section, "a:4").unwrap();
    assert_eq!(
        section.unused(),
        [
            (0, "a:1".to_string()),
            (1, "a:2".to_string()),
            (2, "a:3".to_string()),
            (3, "a:4".to_string()),
        ]
    );
    let mut full = Section::default();
    for index in 0..256 {
        full.set(&format!("unused{index}"), format!("a:{index}"));
    }
    assert_eq!(
        add_unused_volume(&mut full, "a:new")
            .unwrap_err()
            .to_string(),
        "Too many unused volumes - please delete them first."
    );
    // One already there is no error, even when all keys are taken.
    add_unused_volume(&mut full, "a:255").unwrap();
}

/// Unix seconds as UTC, standing in for pct's local time.
fn utc(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let time = seconds.rem_euclid(86_400);
    // Days to a civil date (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        time / 3600,
        time / 60 % 60,
        time % 60
    )
}

fn tree(config: &Config) -> String {
    snapshot_tree(config)
        .iter()
        .map(|line| line.format(utc) + "\n")
        .collect()
}

#[test]
fn the_tree_of_a_chain_ends_in_current() {
    let mut config = parse(STOPPED);
    for (name, time, description) in [
        ("first", 1_714_557_600, None),
        ("second", 1_714_649_400, Some("before upgrade\nthen more")),
    ] {
        let prepared = prepare(&config, name, description, time).unwrap();
        config = parse(&text(&commit(&prepared.config, name).unwrap()));
    }
    assert_eq!(
        tree(&config),
        "\
`-> first                       2024-05-01 10:00:00     no-description
 `-> second                     2024-05-02 11:30:00     before upgrade
  `-> current                                           You are here!
"
    );
}

#[test]
fn without_snapshots_the_tree_is_current_alone() {
    assert_eq!(
        tree(&parse(STOPPED)),
        "`-> current                                             You are here!\n"
    );
}

#[test]
fn the_tree_branches_after_a_rollback_and_sorts_siblings_by_time() {
    // After `first`, `second`; then a rollback to `first` and a new snapshot `other`
    // taken *before* `late`, a second child of `first` too.
    let config = parse(
        "\
arch: amd64
parent: other

[first]
arch: amd64
snaptime: 100

[late]
#a child made last
arch: amd64
parent: first
snaptime: 400

[other]
arch: amd64
parent: first
snaptime: 300

[second]
arch: amd64
parent: first
snaptime: 200

[stray]
arch: amd64
parent: gone
snaptime: 50
",
    );
    let lines = snapshot_tree(&config);
    let shape: Vec<(usize, &str)> = lines.iter().map(|l| (l.depth, l.name.as_str())).collect();
    assert_eq!(
        shape,
        [
            (0, "stray"),
            (0, "first"),
            (1, "second"),
            (1, "other"),
            (2, "current"),
            (1, "late"),
        ]
    );
    assert_eq!(
        tree(&config),
        "\
`-> stray                       1970-01-01 00:00:50     no-description
`-> first                       1970-01-01 00:01:40     no-description
 `-> second                     1970-01-01 00:03:20     no-description
 `-> other                      1970-01-01 00:05:00     no-description
  `-> current                                           You are here!
 `-> late                       1970-01-01 00:06:40     a child made last
"
    );
}

#[test]
fn the_tree_survives_cycles_and_snapshots_without_time() {
    // `aa` and `bb` name each other: neither is a root, as in pct, so only what hangs off a
    // root shows. A snapshot without snaptime is listed at time 0.
    let config = parse(
        "\
arch: amd64
parent: untimed

[aa]
parent: bb
snaptime: 10

[bb]
parent: aa
snaptime: 20

[untimed]
arch: amd64
",
    );
    assert_eq!(
        tree(&config),
        "\
`-> untimed                     1970-01-01 00:00:00     no-description
 `-> current                                            You are here!
"
    );
    // A snapshot that is its own parent shows once.
    let selfish = parse("arch: amd64\n\n[loop]\nparent: loop\nsnaptime: 1\n");
    assert_eq!(
        tree(&selfish),
        "`-> current                                             You are here!\n"
    );
}

#[test]
fn deep_trees_lose_the_name_padding_as_pct_does() {
    let mut text = String::from("arch: amd64\nparent: s30\n");
    for i in 0..=30 {
        text.push_str(&format!("\n[s{i:02}]\nsnaptime: {}\n", i + 1));
        if i > 0 {
            text.push_str(&format!("parent: s{:02}\n", i - 1));
        }
    }
    let config = parse(&text);
    let lines = snapshot_tree(&config);
    let deepest = lines.iter().find(|l| l.name == "s29").unwrap();
    assert_eq!(deepest.depth, 29);
    // prefix of 32 characters: no padding left for the name.
    assert_eq!(
        deepest.format(utc),
        format!(
            "{}`-> s29 1970-01-01 00:00:30     no-description",
            " ".repeat(29)
        )
    );
}

#[test]
fn a_refused_name_is_pcts_parameter_error_about_snapname() {
    let error = crate::Error::from(check_name("a").unwrap_err());
    let crate::Error::Parameters(params) = &error else {
        panic!("{error:?}");
    };
    assert_eq!(params[0].key, "snapname");
    // The format check dies with a newline, which pct prints before the usage.
    assert_eq!(
        params[0].message,
        "invalid format - invalid configuration ID 'a'\n"
    );
    let error = crate::Error::from(check_name("vzdump").unwrap_err());
    assert!(matches!(
        &error,
        crate::Error::Snapshot(SnapshotError::ReservedName(name)) if name == "vzdump"
    ));
    assert_eq!(
        error.to_string(),
        "unable to use snapshot name 'vzdump' (reserved name)"
    );
}
