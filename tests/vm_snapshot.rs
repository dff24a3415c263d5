//! Snapshots, rollback, templates' base volumes and linked clones on LVM-thin and ZFS for
//! real: `pct snapshot`/`rollback`/`delsnapshot`/`destroy` of running containers, and the
//! storage library's base volumes and clones. They need LVM, ZFS and the rig's disks, so
//! they are ignored by a plain `cargo test` and run in the VM rig
//! (`VM_TESTS=vm_snapshot tests/vm/run`). CTIDs 10700-10739.

mod common;
mod rig;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use common::TestRoot;
use common::busybox_template;
use common::ct::Ct;
use corral::storage::{StorageConfig, VolumeFormat, VolumeId};
use rig::{
    Mounted, POOL, Pool, VolumeGroup, assert_refused, config, read_in_snapshot, root_with_thin,
    root_with_zfs, value, zfs_available,
};

/// A container on `storage` with a rootfs and a mount point at /data, started, with a writer
/// appending numbered lines to /log and /data/log that does not stop.
fn started_with_writers<'a>(root: &'a TestRoot, vmid: u32, rootfs: &str, mp0: &str) -> Ct<'a> {
    let template = root.install_template(&busybox_template());
    let id = vmid.to_string();
    root.pct_ok(&["create", &id, &template, "--rootfs", rootfs, "--mp0", mp0]);
    let ct = Ct { root, vmid };
    ct.pct_ok(&["start", &id]);
    ct.exec_ok("echo kept > /before; echo kept > /data/before");
    ct.exec_ok(
        "for f in /log /data/log; do \
           setsid sh -c \"i=0; while :; do i=\\$((i+1)); echo line\\$i >> $f; done\" \
             </dev/null >/dev/null 2>&1 & done",
    );
    std::thread::sleep(Duration::from_millis(300));
    ct
}

/// `pct snapshot` of the running container: silent, exit 0, the container still running and
/// its writer going on.
fn snapshot_while_writing(ct: &Ct<'_>, name: &str) {
    let id = ct.id();
    let (code, out, err) = ct.pct(&["snapshot", &id, name]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    assert_eq!(ct.status(), "status: running");
    let lines = || ct.exec_ok("wc -l < /log").trim().parse::<u64>().unwrap();
    let before = lines();
    std::thread::sleep(Duration::from_millis(200));
    assert!(lines() > before, "the writer stopped");
}

/// After deleting `second` of `first` ← `second` ← `third`: the chain skips it.
fn assert_relinked(text: &str) {
    assert_eq!(value(text, None, "parent").as_deref(), Some("third"));
    assert_eq!(
        value(text, Some("third"), "parent").as_deref(),
        Some("first")
    );
    assert_eq!(value(text, Some("first"), "parent"), None);
    assert!(!text.contains("[second]"), "{text}");
    assert_eq!(value(text, None, "lock"), None);
}

#[test]
#[ignore = "needs LVM and the VM rig's disk: run with tests/vm/run"]
fn lvmthin_snapshots_of_a_running_container_roll_back_and_go_with_it() {
    let vg = VolumeGroup::new();
    let root = root_with_thin();
    let vmid = 10700;
    let id = vmid.to_string();
    let ct = started_with_writers(&root, vmid, "thin:0.5", "thin:0.25,mp=/data");

    snapshot_while_writing(&ct, "first");
    // Read-only thin snapshots, skipped at activation, one per volume.
    for volume in ["vm-10700-disk-0", "vm-10700-disk-1"] {
        let attr = vg.attr(&format!("snap_{volume}_first"));
        assert!(attr.starts_with("Vr"), "snapshot of {volume}: {attr}");
        assert_eq!(attr.chars().nth(9), Some('k'), "activation skip: {attr}");
    }
    // The snapshot reads as it was taken: the snapshot LV activated, its ext4 (whose journal
    // says "in use") mounted read-only without replaying it.
    let log_at_first = read_in_snapshot(&root, "thin:vm-10700-disk-0", "first", "log");
    assert!(log_at_first.starts_with("line1\n"), "{log_at_first:.40}");
    assert_eq!(
        read_in_snapshot(&root, "thin:vm-10700-disk-1", "first", "before"),
        "kept\n"
    );
    let attr = vg.attr("snap_vm-10700-disk-0_first");
    assert_ne!(attr.chars().nth(4), Some('a'), "deactivated again: {attr}");

    ct.exec_ok("rm /before /data/before; echo new > /after; echo new > /data/after");
    snapshot_while_writing(&ct, "second");
    snapshot_while_writing(&ct, "third");

    // The middle one deleted: its LVs go, the parents are re-linked.
    ct.pct_ok(&["delsnapshot", &id, "second"]);
    assert_relinked(&config(&root, vmid));
    assert_eq!(
        vg.lvs_of(vmid),
        [
            "snap_vm-10700-disk-0_first",
            "snap_vm-10700-disk-0_third",
            "snap_vm-10700-disk-1_first",
            "snap_vm-10700-disk-1_third",
            "vm-10700-disk-0",
            "vm-10700-disk-1",
        ]
    );

    let lines_before_rollback = ct.exec_ok("wc -l < /log").trim().parse::<usize>().unwrap();
    // Back to the oldest (LVM-thin allows any): stopped hard, the LVs swapped, started again.
    // The ext4 was snapshotted while mounted, so its multi-mount protection block says "in
    // use" and the start waits out its interval, as pct's does.
    let (code, out, err) = ct.pct(&["rollback", &id, "first", "--start"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.lines().all(|l| l.starts_with("WARN: ")), "{err}");
    assert_eq!(ct.status(), "status: running");
    assert_eq!(ct.exec_ok("cat /before /data/before"), "kept\nkept\n");
    let (code, _, _) = ct.exec("test -e /after || test -e /data/after");
    assert_ne!(
        code, 0,
        "files made after the snapshot survived the rollback"
    );
    // The log as it was then: what a read without the journal showed of it (the journal's
    // last commits may not be in place yet), and whole lines, far fewer than at the rollback.
    let log = ct.exec_ok("cat /log");
    assert!(log.starts_with(&log_at_first), "{log:.60}");
    assert!(log.ends_with('\n'));
    assert!(log.lines().count() < lines_before_rollback);
    let text = config(&root, vmid);
    assert_eq!(value(&text, None, "parent").as_deref(), Some("first"));
    assert_eq!(value(&text, None, "lock"), None);
    // The snapshots stay, newer ones too; the volume is a writable thin volume again.
    assert!(
        vg.lvs_of(vmid)
            .contains(&"snap_vm-10700-disk-0_third".to_string())
    );
    let attr = vg.attr("vm-10700-disk-0");
    assert!(attr.starts_with("Vw"), "{attr}");
    assert_ne!(
        attr.chars().nth(9),
        Some('k'),
        "not skipped at activation: {attr}"
    );

    // Destroy takes the volumes and every snapshot of them.
    ct.pct_ok(&["stop", &id]);
    ct.pct_ok(&["destroy", &id]);
    assert_eq!(vg.lvs_of(vmid), Vec::<String>::new());
}

#[test]
#[ignore = "needs ZFS: run in the VM rig (tests/vm/run)"]
fn zfs_snapshots_of_a_running_container_roll_back_to_the_newest_only() {
    if !zfs_available("zfs_snapshots_of_a_running_container_roll_back_to_the_newest_only") {
        return;
    }
    let root = root_with_zfs();
    let pool = Pool::create(&root);
    let vmid = 10710;
    let id = vmid.to_string();
    let ct = started_with_writers(&root, vmid, "tank:0.5", "tank:0,mp=/data");
    let rootfs = "subvol-10710-disk-0";

    snapshot_while_writing(&ct, "first");
    assert_eq!(
        pool.snapshots(),
        ["subvol-10710-disk-0@first", "subvol-10710-disk-1@first"]
    );
    // The quota is kept with the snapshot (ZFS does not roll it back).
    assert_eq!(
        pool.property(&format!("{rootfs}@first"), "pve-storage:refquota"),
        "536870912"
    );
    let log_at_first = read_in_snapshot(&root, "tank:subvol-10710-disk-0", "first", "log");
    assert!(log_at_first.starts_with("line1\n"));

    ct.exec_ok("echo one > /after-first");
    snapshot_while_writing(&ct, "second");
    ct.exec_ok("echo two > /after-second; rm /data/before");
    snapshot_while_writing(&ct, "third");
    ct.exec_ok("echo three > /after-third");
    let log_at_third = read_in_snapshot(&root, "tank:subvol-10710-disk-0", "third", "log");

    // The middle one deleted: its ZFS snapshots go, the parents are re-linked.
    ct.pct_ok(&["delsnapshot", &id, "second"]);
    assert_relinked(&config(&root, vmid));
    assert_eq!(
        pool.snapshots(),
        [
            "subvol-10710-disk-0@first",
            "subvol-10710-disk-0@third",
            "subvol-10710-disk-1@first",
            "subvol-10710-disk-1@third"
        ]
    );

    // ZFS rolls back only to the newest snapshot: refused before anything is stopped.
    assert_refused(
        &root,
        vmid,
        &["rollback", &id, "first"],
        "can't rollback, 'first' is not most recent snapshot on 'tank:subvol-10710-disk-0'",
    );
    assert_eq!(ct.status(), "status: running");
    assert_eq!(ct.exec_ok("cat /after-third"), "three\n");
    assert_eq!(pool.snapshots().len(), 4);

    let (code, out, err) = ct.pct(&["rollback", &id, "third", "--start"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(ct.status(), "status: running");
    assert_eq!(
        ct.exec_ok("cat /before /after-first /after-second"),
        "kept\none\ntwo\n"
    );
    let (code, _, _) = ct.exec("test -e /after-third || test -e /data/before");
    assert_ne!(code, 0, "the rollback kept changes made after the snapshot");
    assert_eq!(ct.exec_ok("cat /log"), log_at_third);
    assert_eq!(pool.property(rootfs, "refquota"), "536870912");
    let text = config(&root, vmid);
    assert_eq!(value(&text, None, "parent").as_deref(), Some("third"));

    ct.pct_ok(&["stop", &id]);
    ct.pct_ok(&["destroy", &id]);
    assert_eq!(pool.datasets(), Vec::<String>::new());
    assert_eq!(pool.snapshots(), Vec::<String>::new());
}

/// Mount an LV volume read-write (read-only for a base), as the test writes to it.
fn mounted(storage: &StorageConfig, root: &TestRoot, volume: &VolumeId, at: &str) -> Mounted {
    storage.activate_volume(volume).unwrap();
    let path = storage.volume_path(volume).unwrap();
    let options: &[&str] = if volume.name.starts_with("base-") {
        &["-t", "ext4", "-o", "ro,noload"]
    } else {
        &["-t", "ext4"]
    };
    Mounted::new(&path, root.join(at), options)
}

#[test]
#[ignore = "needs LVM and the VM rig's disk: run with tests/vm/run"]
fn lvmthin_base_volumes_and_linked_clones() {
    let vg = VolumeGroup::new();
    let root = root_with_thin();
    let storage = StorageConfig::load(root.path()).unwrap();
    let err = |r: Result<VolumeId, corral::storage::StorageError>| r.unwrap_err().to_string();

    let volume = storage.alloc_disk("thin", 10720, 64 << 20).unwrap();
    assert_eq!(volume.to_string(), "thin:vm-10720-disk-0");
    {
        let m = mounted(&storage, &root, &volume, "w");
        fs::write(m.dir.join("file"), "base\n").unwrap();
    }

    // A snapshot can be cloned (LVM-thin has `clone` for snapshots), the volume itself not.
    storage.volume_snapshot(&volume, "s1").unwrap();
    assert_eq!(
        err(storage.clone_volume(&volume, None, 10723)),
        "clone_image only works on base images"
    );
    let from_snapshot = storage.clone_volume(&volume, Some("s1"), 10723).unwrap();
    assert_eq!(from_snapshot.to_string(), "thin:vm-10723-disk-0");
    {
        let m = mounted(&storage, &root, &from_snapshot, "w");
        assert_eq!(fs::read_to_string(m.dir.join("file")).unwrap(), "base\n");
    }

    // No base while snapshots exist (their names would no longer match).
    assert_eq!(
        err(storage.create_base(&volume)),
        "unable to create base volume - found snaphost 'snap_vm-10720-disk-0_s1'"
    );
    assert!(vg.lvs_of(10720).contains(&"vm-10720-disk-0".to_string()));
    storage.volume_snapshot_delete(&volume, "s1").unwrap();
    assert_eq!(vg.lvs_of(10720), ["vm-10720-disk-0"]);

    // The base: renamed, read-only, skipped at activation, inactive.
    let base = storage.create_base(&volume).unwrap();
    assert_eq!(base.to_string(), "thin:base-10720-disk-0");
    let attr = vg.attr("base-10720-disk-0");
    assert!(attr.starts_with("Vr"), "{attr}");
    assert_ne!(attr.chars().nth(4), Some('a'), "{attr}");
    assert_eq!(attr.chars().nth(9), Some('k'), "{attr}");
    assert_eq!(
        err(storage.create_base(&base)),
        "create_base not possible with base image"
    );
    assert_eq!(
        storage.list_volumes(10720).unwrap(),
        [(base.clone(), VolumeFormat::Raw)]
    );

    // Two clones, written independently; the base does not change.
    let clones: Vec<VolumeId> = [10721, 10722]
        .iter()
        .map(|&vmid| storage.clone_volume(&base, None, vmid).unwrap())
        .collect();
    assert_eq!(
        clones.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["thin:vm-10721-disk-0", "thin:vm-10722-disk-0"]
    );
    for (clone, vmid) in clones.iter().zip([10721, 10722]) {
        assert_eq!(clone.owner(), Some(vmid));
        assert!(vg.attr(&clone.name).starts_with("Vw"));
        let m = mounted(&storage, &root, clone, "w");
        assert_eq!(fs::read_to_string(m.dir.join("file")).unwrap(), "base\n");
        fs::write(m.dir.join("file"), format!("{vmid}\n")).unwrap();
    }
    for (clone, vmid) in clones.iter().zip([10721, 10722]) {
        let m = mounted(&storage, &root, clone, "w");
        assert_eq!(
            fs::read_to_string(m.dir.join("file")).unwrap(),
            format!("{vmid}\n")
        );
        assert_eq!(
            storage.list_volumes(vmid).unwrap(),
            [(clone.clone(), VolumeFormat::Raw)]
        );
    }
    {
        let m = mounted(&storage, &root, &base, "w");
        assert_eq!(fs::read_to_string(m.dir.join("file")).unwrap(), "base\n");
    }
    storage.deactivate_volume(&base).unwrap();

    for volume in clones.iter().chain([&from_snapshot, &base]) {
        storage.free_volume(volume).unwrap();
    }
    for vmid in 10720..=10723 {
        assert_eq!(vg.lvs_of(vmid), Vec::<String>::new());
    }
    drop(vg);
}

#[test]
#[ignore = "needs ZFS: run in the VM rig (tests/vm/run)"]
fn zfs_base_volumes_and_linked_clones() {
    if !zfs_available("zfs_base_volumes_and_linked_clones") {
        return;
    }
    let root = root_with_zfs();
    let pool = Pool::create(&root);
    let storage = StorageConfig::load(root.path()).unwrap();
    let err = |r: Result<VolumeId, corral::storage::StorageError>| r.unwrap_err().to_string();
    let dir = |name: &str| -> PathBuf { root.join(&format!("{POOL}/{name}")) };

    let volume = storage
        .alloc_disk_owned("tank", 10730, 256 << 20, (100000, 100000))
        .unwrap();
    assert_eq!(volume.to_string(), "tank:subvol-10730-disk-0");
    fs::write(dir("subvol-10730-disk-0").join("file"), "base\n").unwrap();

    // A snapshot reads in its .zfs directory.
    storage.volume_snapshot(&volume, "s1").unwrap();
    fs::write(dir("subvol-10730-disk-0").join("file"), "later\n").unwrap();
    storage.activate_volume_snapshot(&volume, "s1").unwrap();
    let snapshot_dir = storage.volume_snapshot_path(&volume, "s1").unwrap();
    assert_eq!(snapshot_dir, dir("subvol-10730-disk-0/.zfs/snapshot/s1"));
    assert_eq!(
        fs::read_to_string(snapshot_dir.join("file")).unwrap(),
        "base\n"
    );
    assert_eq!(
        storage
            .activate_volume_snapshot(&volume, "s9")
            .unwrap_err()
            .to_string(),
        "snapshot 's9' does not exist on 'tank:subvol-10730-disk-0'"
    );
    storage.volume_snapshot_delete(&volume, "s1").unwrap();
    assert_eq!(
        err(storage.clone_volume(&volume, None, 10731)),
        "clone_image only works on base images"
    );

    // The base: renamed `basevol-`, snapshot `@__base__` with the quota recorded.
    let base = storage.create_base(&volume).unwrap();
    assert_eq!(base.to_string(), "tank:basevol-10730-disk-0");
    assert_eq!(pool.snapshots(), ["basevol-10730-disk-0@__base__"]);
    assert_eq!(
        pool.property("basevol-10730-disk-0@__base__", "pve-storage:refquota"),
        "268435456"
    );
    assert_eq!(
        err(storage.create_base(&base)),
        "create_base not possible with base image"
    );

    // Two clones named after their base, each owned by its container, with the base's quota.
    let clones: Vec<VolumeId> = [10731, 10732]
        .iter()
        .map(|&vmid| storage.clone_volume(&base, None, vmid).unwrap())
        .collect();
    assert_eq!(
        clones.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "tank:basevol-10730-disk-0/subvol-10731-disk-0",
            "tank:basevol-10730-disk-0/subvol-10732-disk-0"
        ]
    );
    for (clone, vmid) in clones.iter().zip([10731, 10732]) {
        assert_eq!(clone.owner(), Some(vmid));
        assert_eq!(
            storage.list_volumes(vmid).unwrap(),
            [(clone.clone(), VolumeFormat::Subvol)]
        );
        let dataset = format!("subvol-{vmid}-disk-0");
        assert_eq!(pool.property(&dataset, "refquota"), "268435456");
        assert_eq!(
            pool.property(&dataset, "origin"),
            format!("{POOL}/basevol-10730-disk-0@__base__")
        );
        storage.activate_volume(clone).unwrap();
        assert_eq!(
            storage.volume_path(clone).unwrap(),
            dir(&dataset),
            "the clone's own directory"
        );
        assert_eq!(
            fs::read_to_string(dir(&dataset).join("file")).unwrap(),
            "later\n"
        );
        fs::write(dir(&dataset).join("file"), format!("{vmid}\n")).unwrap();
    }
    for vmid in [10731, 10732] {
        let file = dir(&format!("subvol-{vmid}-disk-0")).join("file");
        assert_eq!(fs::read_to_string(file).unwrap(), format!("{vmid}\n"));
    }

    // The base stays while clones use it; a clone goes alone.
    let before = pool.datasets();
    assert_eq!(
        storage.free_volume(&base).unwrap_err().to_string(),
        "base volume 'basevol-10730-disk-0' is still in use by linked clones"
    );
    assert_eq!(pool.datasets(), before);
    storage.free_volume(&clones[0]).unwrap();
    assert_eq!(
        pool.datasets(),
        ["basevol-10730-disk-0", "subvol-10732-disk-0"]
    );
    storage.free_volume(&clones[1]).unwrap();
    storage.free_volume(&base).unwrap();
    assert_eq!(pool.datasets(), Vec::<String>::new());
    assert_eq!(pool.snapshots(), Vec::<String>::new());
}
