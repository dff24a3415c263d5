//! `pct listsnapshot` and `pct config --snapshot` on a config written by hand, as pct would
//! have written it after snapshots, a rollback and a delete (CTIDs 10500-10519, no container
//! starts); `pct snapshot`, `delsnapshot` and `rollback` on a btrfs storage on a loop file,
//! a running container among them (run as root, CTIDs 10520-10549); the other commands on a
//! container with snapshots, and `pct snapshot` killed in each of its phases (CTIDs
//! 10800-10849).

mod common;

use common::{is_read_only, is_subvolume};

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::ct::{Ct, container_cgroup};
use common::{TestRoot, cached_template, pct_binary};

/// `first` (oldest) with `second` after it; rolled back to `first`, then `third` taken: two
/// children of `first`, the current state below `third`.
const CONFIG: &str = "\
#the container's own description
arch: amd64
hostname: snaps
memory: 512
ostype: debian
parent: third
rootfs: local:10500/vm-10500-disk-0.raw,size=1G

[first]
arch: amd64
hostname: snaps
memory: 256
ostype: debian
rootfs: local:10500/vm-10500-disk-0.raw,size=1G
snaptime: 1714557600

[second]
#before upgrade
#with a second line
arch: amd64
hostname: snaps
memory: 256
ostype: debian
parent: first
rootfs: local:10500/vm-10500-disk-0.raw,size=1G
snaptime: 1714649400

[third]
#after the rollback
arch: amd64
hostname: snaps
memory: 512
ostype: debian
parent: first
rootfs: local:10500/vm-10500-disk-0.raw,size=1G
snaptime: 1714735800
";

/// `pct` with the time zone pinned: pct prints snapshot times in local time.
fn pct_in_zone(root: &TestRoot, zone: &str, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(pct_binary())
        .args(args)
        .env("CORRAL_ROOT", root.path())
        .env("TZ", zone)
        .output()
        .expect("run pct");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn listsnapshot_prints_pcts_tree_with_current() {
    let root = TestRoot::new();
    root.write("etc/pve/lxc/10500.conf", CONFIG);

    let (code, out, err) = pct_in_zone(&root, "UTC", &["listsnapshot", "10500"]);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    assert_eq!(
        out,
        "\
`-> first                       2024-05-01 10:00:00     no-description
 `-> second                     2024-05-02 11:30:00     before upgrade
 `-> third                      2024-05-03 11:30:00     after the rollback
  `-> current                                           You are here!
"
    );

    // Local time, as pct's strftime: two hours east of UTC.
    let (code, out, _) = pct_in_zone(&root, "XYZ-2", &["listsnapshot", "10500"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("`-> first                       2024-05-01 12:00:00     no-description\n"),
        "{out}"
    );

    // Listing changes nothing.
    assert_eq!(root.read("etc/pve/lxc/10500.conf"), CONFIG);

    // The snapshot section as `pct config --snapshot` prints it.
    let (code, out, _) = pct_in_zone(&root, "UTC", &["config", "10500", "--snapshot", "second"]);
    assert_eq!(code, 0);
    assert!(out.contains("parent: first\n"), "{out}");
    assert!(out.contains("snaptime: 1714649400\n"), "{out}");
    assert!(out.contains("memory: 256\n"), "{out}");
}

#[test]
fn listsnapshot_without_snapshots_or_container() {
    let root = TestRoot::new();
    root.write(
        "etc/pve/lxc/10501.conf",
        "arch: amd64\nhostname: plain\nostype: debian\n",
    );
    let (code, out, err) = pct_in_zone(&root, "UTC", &["listsnapshot", "10501"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        "`-> current                                             You are here!\n"
    );

    let (code, out, err) = pct_in_zone(&root, "UTC", &["listsnapshot", "10502"]);
    assert_eq!(code, 255, "{out}");
    assert!(out.is_empty());
    assert!(
        err.starts_with("Configuration file 'nodes/") && err.contains("10502.conf' does not exist"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// Snapshots on btrfs through the storage.

const GIB: u64 = 1 << 30;

/// `local` (dir: templates and disks) and `tank`, a btrfs file system on a loop-backed image
/// under the test root mounted at `mnt/btrfs` (TestRoot's drop unmounts it). Returns the
/// busybox template's volume id.
fn btrfs_root(root: &TestRoot) -> String {
    root.mount_btrfs(3 * GIB);
    root.write(
        "etc/pve/storage.cfg",
        "dir: local\n\tpath /var/lib/vz\n\tcontent vztmpl,rootdir,images\n\n\
         btrfs: tank\n\tpath /mnt/btrfs\n\tcontent rootdir,images\n",
    );
    root.install_template(&cached_template("make-busybox-template", &[], "busybox-"))
}

fn create_on(root: &TestRoot, vmid: u32, template: &str, extra: &[&str]) {
    let id = vmid.to_string();
    let mut args = vec![
        "create",
        &id,
        template,
        "--rootfs",
        "tank:0",
        "--hostname",
        "snaps",
    ];
    args.extend_from_slice(extra);
    root.pct_ok(&args);
}

fn images(root: &TestRoot, vmid: u32) -> PathBuf {
    root.join(&format!("mnt/btrfs/images/{vmid}"))
}

fn config(root: &TestRoot, vmid: u32) -> String {
    root.read(&format!("etc/pve/lxc/{vmid}.conf"))
}

/// The lines of one section (`None`: the main one) of a config file.
fn section(text: &str, name: Option<&str>) -> Vec<String> {
    let mut current = None;
    let mut lines = Vec::new();
    for line in text.lines() {
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(header.to_string());
            continue;
        }
        if current.as_deref() == name && !line.is_empty() {
            lines.push(line.to_string());
        }
    }
    lines
}

fn value(text: &str, name: Option<&str>, key: &str) -> Option<String> {
    section(text, name)
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")).map(str::to_string))
}

/// A refused command: pct's message, exit 255, the config as it was.
fn assert_refused(root: &TestRoot, vmid: u32, args: &[&str], message: &str) {
    let before = config(root, vmid);
    let (code, out, err) = root.pct(args);
    assert_eq!(code, 255, "pct {args:?}: {out}{err}");
    assert!(err.contains(message), "pct {args:?}: {err}");
    assert_eq!(
        config(root, vmid),
        before,
        "pct {args:?} changed the config"
    );
}

#[test]
fn a_running_container_is_snapshotted_while_it_writes_and_rolled_back() {
    let root = TestRoot::new();
    let template = btrfs_root(&root);
    let vmid = 10520;
    create_on(&root, vmid, &template, &["--mp0", "tank:1,mp=/data"]);
    let ct = Ct { root: &root, vmid };
    let id = ct.id();
    ct.pct_ok(&["start", &id]);
    ct.exec_ok("echo kept > /before; echo kept > /data/before");
    // Two writers that do not stop while the snapshot is taken.
    ct.exec_ok(
        "for f in /log /data/log; do \
           setsid sh -c \"i=0; while :; do i=\\$((i+1)); echo line\\$i >> $f; done\" \
             </dev/null >/dev/null 2>&1 & done",
    );
    std::thread::sleep(Duration::from_millis(300));

    let (code, out, err) = ct.pct(&["snapshot", &id, "s1", "--description", "before upgrade"]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));

    // Still running, and thawed.
    assert_eq!(ct.status(), "status: running");
    let cgroup = container_cgroup(vmid).unwrap();
    assert_eq!(
        fs::read_to_string(cgroup.join("cgroup.freeze")).unwrap(),
        "0\n"
    );
    assert!(
        fs::read_to_string(cgroup.join("cgroup.events"))
            .unwrap()
            .contains("frozen 0")
    );
    let lines = |text: &str| text.lines().count();
    let before = lines(&ct.exec_ok("cat /log"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        lines(&ct.exec_ok("cat /log")) > before,
        "the writer stopped"
    );

    // The config as pct writes it.
    let text = config(&root, vmid);
    assert_eq!(value(&text, None, "parent").as_deref(), Some("s1"));
    assert_eq!(value(&text, None, "lock"), None);
    let snap = section(&text, Some("s1"));
    assert!(snap.contains(&"#before upgrade".to_string()), "{text}");
    assert!(value(&text, Some("s1"), "snaptime").is_some(), "{text}");
    assert_eq!(value(&text, Some("s1"), "snapstate"), None, "{text}");
    assert_eq!(
        value(&text, Some("s1"), "rootfs"),
        value(&text, None, "rootfs")
    );

    // Read-only sibling subvolumes, one per volume.
    let dir = images(&root, vmid);
    let rootfs_snap = dir.join("subvol-10520-disk-0.subvol@s1");
    let data_snap = dir.join("vm-10520-disk-1@s1");
    for snapshot in [&rootfs_snap, &data_snap] {
        assert!(is_subvolume(snapshot), "{}", snapshot.display());
        assert!(is_read_only(snapshot), "{}", snapshot.display());
    }
    assert!(data_snap.join("disk.raw").is_file());
    let log_at_snapshot = fs::read_to_string(rootfs_snap.join("log")).unwrap();
    assert!(log_at_snapshot.starts_with("line1\n"));
    // `pct listsnapshot` lists it; the storage does not list snapshots as volumes.
    let tree = ct.pct_ok(&["listsnapshot", &id]);
    assert!(tree.starts_with("`-> s1 "), "{tree}");
    assert!(tree.contains("before upgrade"), "{tree}");

    // Changes after the snapshot.
    ct.exec_ok("rm /before /data/before; echo new > /after; echo new > /data/after");

    // Rollback: stopped hard, volumes back, started again. The raw image was snapshotted
    // while mounted, so its ext4 multi-mount protection block says "in use": the start waits
    // out its interval (about 45 s), as pct's does.
    let (code, out, err) = ct.pct(&["rollback", &id, "s1", "--start"]);
    assert_eq!(code, 0, "{out}{err}");
    // Only the start's warnings about this host.
    assert!(err.lines().all(|l| l.starts_with("WARN: ")), "{err}");
    assert_eq!(ct.status(), "status: running");
    assert_eq!(ct.exec_ok("cat /before /data/before"), "kept\nkept\n");
    let (code, _, _) = ct.exec("test -e /after || test -e /data/after");
    assert_ne!(
        code, 0,
        "files made after the snapshot survived the rollback"
    );
    assert_eq!(ct.exec_ok("cat /log"), log_at_snapshot);
    // The log on the raw volume is whole lines: synced while frozen.
    let data_log = ct.exec_ok("cat /data/log");
    assert!(data_log.starts_with("line1\n") && data_log.ends_with('\n'));

    let text = config(&root, vmid);
    assert_eq!(value(&text, None, "parent").as_deref(), Some("s1"));
    assert_eq!(value(&text, None, "lock"), None);
    // The snapshot stays, and nothing of the swap is left beside it.
    assert!(is_subvolume(&rootfs_snap) && is_subvolume(&data_snap));
    let leftovers: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());

    // Without --start a running container stays stopped after the rollback.
    ct.pct_ok(&["rollback", &id, "s1"]);
    assert_eq!(ct.status(), "status: stopped");

    ct.pct_ok(&["delsnapshot", &id, "s1"]);
    assert!(!rootfs_snap.exists() && !data_snap.exists());
    ct.pct_ok(&["destroy", &id]);
    assert!(!dir.exists());
}

#[test]
fn deleting_the_middle_of_three_snapshots_relinks_the_chain() {
    let root = TestRoot::new();
    let template = btrfs_root(&root);
    let vmid = 10521;
    create_on(&root, vmid, &template, &[]);
    let _ct = Ct { root: &root, vmid };
    let id = vmid.to_string();
    for name in ["first", "second", "third"] {
        root.pct_ok(&["snapshot", &id, name]);
        // Distinct snaptimes keep the tree's order certain.
        std::thread::sleep(Duration::from_millis(1100));
    }
    let text = config(&root, vmid);
    assert_eq!(
        value(&text, Some("second"), "parent").as_deref(),
        Some("first")
    );
    assert_eq!(
        value(&text, Some("third"), "parent").as_deref(),
        Some("second")
    );

    root.pct_ok(&["delsnapshot", &id, "second"]);
    let text = config(&root, vmid);
    assert!(section(&text, Some("second")).is_empty(), "{text}");
    assert_eq!(
        value(&text, Some("third"), "parent").as_deref(),
        Some("first")
    );
    assert_eq!(value(&text, Some("first"), "parent"), None);
    assert_eq!(value(&text, None, "parent").as_deref(), Some("third"));
    assert_eq!(value(&text, None, "lock"), None);
    // The volume is still the container's: no `unusedN` for it.
    assert!(!text.contains("unused"), "{text}");
    let dir = images(&root, vmid);
    assert!(!dir.join("subvol-10521-disk-0.subvol@second").exists());
    assert!(is_subvolume(&dir.join("subvol-10521-disk-0.subvol@first")));
    assert!(is_subvolume(&dir.join("subvol-10521-disk-0.subvol@third")));

    let tree: Vec<String> = root
        .pct_ok(&["listsnapshot", &id])
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(tree, ["`-> first", "`-> third", "`-> current"]);

    // Deleting the head moves the config's parent back.
    root.pct_ok(&["delsnapshot", &id, "third"]);
    let text = config(&root, vmid);
    assert_eq!(value(&text, None, "parent").as_deref(), Some("first"));
    root.pct_ok(&["destroy", &id]);
    assert!(!dir.exists(), "snapshots left after destroy");
}

#[test]
fn snapshots_refused_as_pct_refuses_them_leave_the_config_alone() {
    let root = TestRoot::new();
    let template = btrfs_root(&root);
    let on_dir = 10522;
    root.pct_ok(&[
        "create",
        &on_dir.to_string(),
        &template,
        "--rootfs",
        "local:0",
    ]);
    let _dir_ct = Ct {
        root: &root,
        vmid: on_dir,
    };
    let id = on_dir.to_string();
    assert_refused(
        &root,
        on_dir,
        &["snapshot", &id, "s1"],
        "snapshot feature is not available",
    );

    // btrfs, but a bind mount point: refused as well.
    let vmid = 10523;
    create_on(&root, vmid, &template, &[]);
    let _ct = Ct { root: &root, vmid };
    let id = vmid.to_string();
    fs::create_dir_all(root.join("srv/shared")).unwrap();
    root.append_config(vmid, "mp0: /srv/shared,mp=/shared\n");
    assert_refused(
        &root,
        vmid,
        &["snapshot", &id, "s1"],
        "snapshot feature is not available",
    );
    root.pct_ok(&["set", &id, "--delete", "mp0"]);

    // Names pct's schema refuses, reserved names, a name in use, a lock.
    assert_refused(
        &root,
        vmid,
        &["snapshot", &id, "1st"],
        "snapname: invalid format",
    );
    assert_refused(
        &root,
        vmid,
        &["snapshot", &id, "current"],
        "unable to use snapshot name 'current' (reserved name)",
    );
    assert_refused(
        &root,
        vmid,
        &["snapshot", &id, "vzdump"],
        "unable to use snapshot name 'vzdump' (reserved name)",
    );
    root.pct_ok(&["snapshot", &id, "s1"]);
    assert_refused(
        &root,
        vmid,
        &["snapshot", &id, "s1"],
        "snapshot name 's1' already used",
    );
    assert_refused(
        &root,
        vmid,
        &["delsnapshot", &id, "nope"],
        "snapshot 'nope' does not exist",
    );
    assert_refused(
        &root,
        vmid,
        &["rollback", &id, "nope"],
        "snapshot 'nope' does not exist",
    );
    let text = config(&root, vmid);
    root.write(
        &format!("etc/pve/lxc/{vmid}.conf"),
        &format!("lock: backup\n{text}"),
    );
    assert_refused(
        &root,
        vmid,
        &["snapshot", &id, "s2"],
        "CT is locked (backup)",
    );
    assert_refused(
        &root,
        vmid,
        &["rollback", &id, "s1"],
        "CT is locked (backup)",
    );
    root.pct_ok(&["unlock", &id]);
    let dir = images(&root, vmid);
    assert!(!dir.join("subvol-10523-disk-0.subvol@s2").exists());
}

#[test]
fn delsnapshot_force_removes_the_section_when_the_storage_cannot() {
    let root = TestRoot::new();
    let template = btrfs_root(&root);
    let vmid = 10524;
    create_on(&root, vmid, &template, &[]);
    let _ct = Ct { root: &root, vmid };
    let id = vmid.to_string();
    root.pct_ok(&["snapshot", &id, "s1"]);
    let snapshot = images(&root, vmid).join("subvol-10524-disk-0.subvol@s1");
    // The storage's snapshot is gone behind pct's back.
    let status = Command::new("btrfs")
        .args(["-q", "subvolume", "delete"])
        .arg(&snapshot)
        .status()
        .unwrap();
    assert!(status.success());

    let (code, _, err) = root.pct(&["delsnapshot", &id, "s1"]);
    assert_eq!(code, 255, "{err}");
    assert!(err.contains("@s1"), "{err}");
    let text = config(&root, vmid);
    assert_eq!(
        value(&text, None, "lock").as_deref(),
        Some("snapshot-delete")
    );
    assert_eq!(
        value(&text, Some("s1"), "snapstate").as_deref(),
        Some("delete")
    );

    root.pct_ok(&["unlock", &id]);
    let (code, _, err) = root.pct(&["delsnapshot", &id, "s1", "--force"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("@s1"), "the failure is a warning: {err}");
    let text = config(&root, vmid);
    assert!(section(&text, Some("s1")).is_empty(), "{text}");
    assert_eq!(value(&text, None, "parent"), None, "{text}");
    assert_eq!(value(&text, None, "lock"), None, "{text}");
}

// ---------------------------------------------------------------------------------------
// The other commands on a container with snapshots.

/// Everything after the main section: the snapshot sections, as written.
fn snapshot_sections(text: &str) -> String {
    let start = text.find("\n[").expect("a snapshot section");
    text[start..].to_string()
}

fn size_of(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

#[test]
fn set_resize_move_rescan_and_destroy_respect_snapshots() {
    let root = TestRoot::new();
    let template = btrfs_root(&root);
    let vmid = 10800;
    let other = 10801;
    create_on(
        &root,
        vmid,
        &template,
        &["--mp0", "tank:1,mp=/data", "--mp1", "tank:1,mp=/more"],
    );
    let _ct = Ct { root: &root, vmid };
    create_on(&root, other, &template, &[]);
    let _other = Ct {
        root: &root,
        vmid: other,
    };
    let id = vmid.to_string();
    let dir = images(&root, vmid);
    let data = "tank:10800/vm-10800-disk-1.raw";
    root.pct_ok(&["snapshot", &id, "s1", "--description", "kept as is"]);
    let snapshots = snapshot_sections(&config(&root, vmid));
    let unchanged = |what: &str| {
        assert_eq!(
            snapshot_sections(&config(&root, vmid)),
            snapshots,
            "{what} changed a snapshot section"
        );
    };

    // pct set changes the current section only.
    root.pct_ok(&[
        "set",
        &id,
        "--memory",
        "1024",
        "--hostname",
        "changed",
        "--description",
        "new text",
    ]);
    let text = config(&root, vmid);
    assert_eq!(value(&text, None, "memory").as_deref(), Some("1024"));
    assert_eq!(value(&text, None, "hostname").as_deref(), Some("changed"));
    unchanged("pct set");

    // pct resize does not look at snapshots (pct's resize_vm): the volume grows, the
    // snapshot keeps its size, and a rollback brings the old size back.
    let image = dir.join("vm-10800-disk-1/disk.raw");
    let snapshot_image = dir.join("vm-10800-disk-1@s1/disk.raw");
    let (code, out, err) = root.pct(&["resize", &id, "mp0", "+64M"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(size_of(&image), GIB + (64 << 20));
    assert_eq!(size_of(&snapshot_image), GIB);
    assert!(
        value(&config(&root, vmid), None, "mp0")
            .unwrap()
            .contains("size=1088M")
    );
    unchanged("pct resize");
    root.pct_ok(&["rollback", &id, "s1"]);
    assert_eq!(size_of(&image), GIB);
    let text = config(&root, vmid);
    assert!(
        value(&text, None, "mp0").unwrap().contains("size=1G"),
        "{text}"
    );
    assert_eq!(
        value(&text, None, "memory"),
        value(&text, Some("s1"), "memory")
    );
    unchanged("pct rollback");

    // move-volume refuses what pct refuses with snapshots present.
    assert_refused(
        &root,
        vmid,
        &["move-volume", &id, "mp1", "local", "--delete"],
        "you can't move a volume with snapshots and delete the source",
    );
    let other_before = config(&root, other);
    assert_refused(
        &root,
        vmid,
        &[
            "move-volume",
            &id,
            "mp1",
            "--target-vmid",
            &other.to_string(),
            "--target-volume",
            "mp0",
        ],
        "Cannot move volume used by a snapshot to another container",
    );
    assert_eq!(config(&root, other), other_before);

    // Deleting a mount point a snapshot uses keeps its volume as unusedN.
    root.pct_ok(&["set", &id, "--delete", "mp0"]);
    let text = config(&root, vmid);
    assert_eq!(value(&text, None, "mp0"), None);
    assert_eq!(value(&text, None, "unused0").as_deref(), Some(data));
    assert!(is_subvolume(&dir.join("vm-10800-disk-1")));
    unchanged("pct set --delete mp0");
    // As unusedN it still cannot go to another container.
    assert_refused(
        &root,
        vmid,
        &[
            "move-volume",
            &id,
            "unused0",
            "--target-vmid",
            &other.to_string(),
            "--target-volume",
            "unused0",
        ],
        "Cannot move volume used by a snapshot to another container",
    );
    assert_eq!(config(&root, other), other_before);

    // Deleting that unusedN drops the key and leaves the volume to the snapshot, silently.
    let (code, out, err) = root.pct(&["set", &id, "--delete", "unused0"]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    assert_eq!(value(&config(&root, vmid), None, "unused0"), None);
    assert!(is_subvolume(&dir.join("vm-10800-disk-1")));
    assert!(is_subvolume(&dir.join("vm-10800-disk-1@s1")));
    unchanged("pct set --delete unused0");

    // pct rescan: snapshots on the storage are no volumes; the volume only the snapshot
    // uses is named again as unusedN (pct's update_unused looks at the current config).
    let out = root.pct_ok(&["rescan", "--vmid", &id]);
    assert_eq!(
        out,
        format!(
            "rescan volumes...\nCT {vmid}: add unreferenced volume '{data}' as 'unused0' to config.\n"
        )
    );
    let text = config(&root, vmid);
    assert_eq!(value(&text, None, "unused0").as_deref(), Some(data));
    assert_eq!(value(&text, None, "unused1"), None, "{text}");
    unchanged("pct rescan");

    // pct destroy frees every volume with its snapshots: nothing is left of the container.
    assert!(is_subvolume(&dir.join("subvol-10800-disk-0.subvol@s1")));
    root.pct_ok(&["destroy", &id]);
    let left: Vec<String> = fs::read_dir(root.join("mnt/btrfs/images"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, [other.to_string()], "left after destroy");
}

// ---------------------------------------------------------------------------------------
// `pct snapshot` killed in each of its phases.
//
// The phases last microseconds to milliseconds, so a kill timed from outside lands in one
// only by luck. Here pct runs under ptrace: the test sees each of its system calls enter and
// return, holds pct still at the one that ends (or starts) a phase, checks the phase's state
// and kills it there with SIGKILL. Nothing in corral knows about it.

/// `_IOW(BTRFS_IOCTL_MAGIC, 23, struct btrfs_ioctl_vol_args_v2)`: a btrfs snapshot.
const BTRFS_IOC_SNAP_CREATE_V2: u64 = 0x5000_9417;

/// Where a traced `pct snapshot` is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The rename that put the `snapstate: prepare` section in place has returned.
    Prepared,
    /// The container is frozen and the first volume snapshot is about to be made.
    Frozen,
    /// The first volume (rootfs) is snapshotted, the second (mp0) not yet.
    BetweenVolumes,
    /// Every volume is snapshotted; the container is still frozen.
    AllVolumes,
    /// Thawed, the commit's config written beside the file, about to be renamed into place.
    BeforeCommit,
}

/// What `PTRACE_GET_SYSCALL_INFO` fills in (linux/ptrace.h); `data` holds the entry's
/// number and arguments or the exit's return value.
#[repr(C)]
#[derive(Default)]
struct SyscallInfo {
    op: u8,
    _reserved: u8,
    _flags: u16,
    _arch: u32,
    _instruction_pointer: u64,
    _stack_pointer: u64,
    data: [u64; 8],
}

const PTRACE_SYSCALL_INFO_ENTRY: u8 = 1;
const PTRACE_SYSCALL_INFO_EXIT: u8 = 2;

fn is_rename(nr: u64) -> bool {
    // Newer architectures have renameat and renameat2 only.
    #[cfg(target_arch = "x86_64")]
    if nr == libc::SYS_rename as u64 {
        return true;
    }
    [libc::SYS_renameat, libc::SYS_renameat2].contains(&(nr as libc::c_long))
}

/// Run `pct snapshot <vmid> <name>` under ptrace and kill it with SIGKILL at `phase`;
/// `check` looks at the world while pct is held there. Panics if pct ends first.
fn snapshot_killed_at(root: &TestRoot, vmid: u32, name: &str, phase: Phase, check: &dyn Fn(Phase)) {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(pct_binary());
    command
        .args(["snapshot", &vmid.to_string(), name])
        .env("CORRAL_ROOT", root.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: ptrace(PTRACE_TRACEME) is async-signal-safe; the child stops at its exec.
    unsafe {
        command.pre_exec(|| {
            if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // ptrace requests must come from the thread that is the tracer: this one. The child is
    // reaped with waitpid below, which also reports its ptrace stops.
    #[allow(clippy::zombie_processes)]
    let child = command.spawn().expect("spawn pct");
    let pid = child.id() as libc::pid_t;
    let wait = || {
        let mut status = 0;
        // SAFETY: waits for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(r, pid, "waitpid: {}", std::io::Error::last_os_error());
        status
    };
    let status = wait();
    assert!(libc::WIFSTOPPED(status), "pct did not stop at its exec");
    // SAFETY: ptrace requests on our stopped tracee; EXITKILL kills it if this test dies.
    unsafe {
        libc::ptrace(
            libc::PTRACE_SETOPTIONS,
            pid,
            0,
            libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_EXITKILL,
        );
    }
    let config_path = root.join(&format!("etc/pve/lxc/{vmid}.conf"));
    let (mut last_nr, mut snapshots_entered, mut snapshots_made) = (0u64, 0, 0);
    let mut signal = 0;
    loop {
        // SAFETY: resume our tracee to its next system call stop.
        unsafe { libc::ptrace(libc::PTRACE_SYSCALL, pid, 0, signal) };
        let status = wait();
        assert!(
            libc::WIFSTOPPED(status),
            "pct ended before {phase:?} (status {status:#x})"
        );
        signal = 0;
        if libc::WSTOPSIG(status) != libc::SIGTRAP | 0x80 {
            // A signal for pct: pass it on.
            signal = libc::WSTOPSIG(status);
            continue;
        }
        let mut info = SyscallInfo::default();
        // SAFETY: the kernel fills at most `size_of::<SyscallInfo>()` bytes of `info`.
        unsafe {
            libc::ptrace(
                libc::PTRACE_GET_SYSCALL_INFO,
                pid,
                std::mem::size_of::<SyscallInfo>(),
                &mut info as *mut SyscallInfo,
            )
        };
        let snapshot_ioctl = |nr: u64, request: u64| {
            nr == libc::SYS_ioctl as u64 && request & 0xffff_ffff == BTRFS_IOC_SNAP_CREATE_V2
        };
        let here = match info.op {
            PTRACE_SYSCALL_INFO_ENTRY => {
                last_nr = info.data[0];
                if snapshot_ioctl(last_nr, info.data[2]) {
                    snapshots_entered += 1;
                    phase == Phase::Frozen && snapshots_entered == 1
                } else {
                    phase == Phase::BeforeCommit && snapshots_made == 2 && is_rename(last_nr)
                }
            }
            PTRACE_SYSCALL_INFO_EXIT => {
                let returned = info.data[0] as i64;
                if last_nr == libc::SYS_ioctl as u64 && snapshots_entered > snapshots_made {
                    assert_eq!(returned, 0, "a volume snapshot failed");
                    snapshots_made += 1;
                    (phase == Phase::BetweenVolumes && snapshots_made == 1)
                        || (phase == Phase::AllVolumes && snapshots_made == 2)
                } else {
                    phase == Phase::Prepared
                        && is_rename(last_nr)
                        && returned == 0
                        && fs::read_to_string(&config_path)
                            .is_ok_and(|text| text.contains("snapstate: prepare"))
                }
            }
            _ => false,
        };
        if here {
            check(phase);
            // SAFETY: kill our own tracee; it dies from its syscall stop.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let status = loop {
                let status = wait();
                if libc::WIFSIGNALED(status) || libc::WIFEXITED(status) {
                    break status;
                }
            };
            assert!(
                libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL,
                "pct was not killed at {phase:?}: {status:#x}"
            );
            return;
        }
    }
}

/// `pct snapshot` of a running container killed in each phase: the container is never left
/// frozen, and `pct unlock` + `pct delsnapshot --force` give back the config as it was, with
/// no snapshot subvolume, no stray file beside the config, and the container running.
#[test]
fn a_snapshot_killed_in_any_phase_is_cleared_by_unlock_and_delsnapshot_force() {
    let root = TestRoot::new();
    let template = btrfs_root(&root);
    let vmid = 10802;
    create_on(&root, vmid, &template, &["--mp0", "tank:1,mp=/data"]);
    let ct = Ct { root: &root, vmid };
    let id = ct.id();
    ct.pct_ok(&["start", &id]);
    let cgroup = container_cgroup(vmid).unwrap();
    let frozen = || {
        fs::read_to_string(cgroup.join("cgroup.events"))
            .unwrap()
            .contains("frozen 1")
    };
    let dir = images(&root, vmid);
    let made = |name: &str| {
        [
            dir.join(format!("subvol-{vmid}-disk-0.subvol@{name}")),
            dir.join(format!("vm-{vmid}-disk-1@{name}")),
        ]
        .map(|p| is_subvolume(&p))
    };
    let config_dir = root.join("etc/pve/lxc");
    let files_beside = || -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&config_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = config(&root, vmid);
    let files_before = files_beside();

    for (n, phase) in [
        Phase::Prepared,
        Phase::Frozen,
        Phase::BetweenVolumes,
        Phase::AllVolumes,
        Phase::BeforeCommit,
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("k{n}");
        snapshot_killed_at(&root, vmid, &name, phase, &|phase| {
            let expected_frozen = matches!(
                phase,
                Phase::Frozen | Phase::BetweenVolumes | Phase::AllVolumes
            );
            assert_eq!(frozen(), expected_frozen, "frozen at {phase:?}");
            let expected_made = match phase {
                Phase::Prepared | Phase::Frozen => [false, false],
                Phase::BetweenVolumes => [true, false],
                Phase::AllVolumes | Phase::BeforeCommit => [true, true],
            };
            assert_eq!(made(&name), expected_made, "snapshots at {phase:?}");
        });

        // The watchdog thaws what the killed pct froze.
        common::ct::wait_until(
            &format!("thawed after {phase:?}"),
            Duration::from_secs(5),
            || !frozen(),
        );
        assert_eq!(
            fs::read_to_string(cgroup.join("cgroup.freeze")).unwrap(),
            "0\n",
            "{phase:?}"
        );
        let text = config(&root, vmid);
        assert_eq!(
            value(&text, None, "lock").as_deref(),
            Some("snapshot"),
            "{phase:?}"
        );
        assert_eq!(
            value(&text, Some(&name), "snapstate").as_deref(),
            Some("prepare"),
            "{phase:?}"
        );

        ct.pct_ok(&["unlock", &id]);
        let (code, out, err) = ct.pct(&["delsnapshot", &id, &name, "--force"]);
        assert_eq!(code, 0, "delsnapshot --force after {phase:?}: {out}{err}");
        assert_eq!(config(&root, vmid), before, "config after {phase:?}");
        assert_eq!(
            made(&name),
            [false, false],
            "snapshots left after {phase:?}"
        );
        assert_eq!(
            files_beside(),
            files_before,
            "files beside the config after {phase:?}"
        );
        assert_eq!(ct.status(), "status: running", "{phase:?}");
        assert!(!frozen(), "{phase:?}");
        ct.exec_ok("true");
    }

    // After all that, a snapshot goes through as usual; the library tells how long the
    // container was frozen, and that a stopped one was not.
    let host = corral::Host::open(root.path()).unwrap();
    let container = host.container(corral::Vmid::new(vmid).unwrap());
    let report = container.snapshot_with_report("fine", None).unwrap();
    assert_eq!(made("fine"), [true, true]);
    assert!(!frozen());
    let frozen_for = report.frozen_for.expect("a running container is frozen");
    assert!(
        frozen_for > Duration::ZERO && frozen_for < Duration::from_secs(30),
        "{frozen_for:?}"
    );
    ct.pct_ok(&["stop", &id]);
    let report = container.snapshot_with_report("stopped", None).unwrap();
    assert_eq!(report.frozen_for, None);
    assert_eq!(made("stopped"), [true, true]);
}
