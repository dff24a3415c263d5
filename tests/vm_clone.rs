//! `pct template` and `pct clone` on LVM-thin and ZFS for real: a template with five linked
//! clones started at once, each with its own MAC and an emptied machine-id, and a full clone
//! of a running container from a snapshot. They need LVM, ZFS and the rig's disks, so they
//! are ignored by a plain `cargo test` and run in the VM rig
//! (`VM_TESTS=vm_clone tests/vm/run`). CTIDs 10740-10779.

mod common;
mod rig;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use common::TestRoot;
use common::ct::Ct;
use common::{busybox_template, debianish_template};
use rig::{
    Pool, VolumeGroup, assert_refused, config, read_in_snapshot, root_with_thin, root_with_zfs,
    tool, value, zfs_available,
};

/// A bridge in the guest for the containers' NICs; removed when dropped.
struct Bridge(&'static str);

impl Bridge {
    fn new(name: &'static str) -> Bridge {
        let _ = Command::new(tool("ip"))
            .args(["link", "del", name])
            .output();
        rig::run("ip", &["link", "add", name, "type", "bridge"]);
        rig::run("ip", &["link", "set", name, "up"]);
        Bridge(name)
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = Command::new(tool("ip"))
            .args(["link", "del", self.0])
            .output();
    }
}

/// `pct exec` of a shell script, which must succeed; its output.
fn exec_ok(root: &TestRoot, vmid: u32, script: &str) -> String {
    root.pct_ok(&["exec", &vmid.to_string(), "--", "sh", "-c", script])
}

/// The MAC a config gives `net0`.
fn mac(text: &str) -> String {
    value(text, None, "net0")
        .and_then(|net| {
            net.split(',')
                .find_map(|part| part.strip_prefix("hwaddr=").map(str::to_string))
        })
        .unwrap_or_else(|| panic!("no hwaddr in:\n{text}"))
}

/// A container to be made a template: a Debian-looking busybox with the machine-id (and the
/// dbus copy) a systemd guest would have, on `storage` (`rootfs` and `mp0` sizes as given).
fn prepared_container(root: &TestRoot, vmid: u32, rootfs: &str, mp0: &str, bridge: &str) {
    // A Debian-looking guest: pct's post-clone hook does nothing for an unmanaged one.
    // (made in the root's template cache already: its volume id is all that is needed)
    let template = debianish_template(root);
    let template = format!(
        "local:vztmpl/{}",
        template.file_name().unwrap().to_string_lossy()
    );
    let id = vmid.to_string();
    root.pct_ok(&[
        "create",
        &id,
        &template,
        "--rootfs",
        rootfs,
        "--mp0",
        mp0,
        "--net0",
        &format!("name=eth0,bridge={bridge},hwaddr=BC:24:11:07:00:01"),
    ]);
    root.pct_ok(&["start", &id]);
    // pct empties a clone's machine-id only for systemd guests: look like one.
    exec_ok(
        root,
        vmid,
        "mkdir -p /usr/lib/systemd /var/lib/dbus && ln -s /bin/busybox /usr/lib/systemd/systemd \
         && echo 0123456789abcdef0123456789abcdef > /etc/machine-id \
         && cp /etc/machine-id /var/lib/dbus/machine-id \
         && echo from-template > /data/marker && sync",
    );
}

/// `pct template`, then five linked clones started at once: each a snapshot of the base on
/// the storage (`clone_volume` is what `expected_rootfs` names), with its own MAC and an
/// emptied machine-id; the template is refused what pct refuses a template.
fn template_and_linked_clones(
    root: &TestRoot,
    vmid: u32,
    rootfs: &str,
    mp0: &str,
    base_rootfs: &str,
    expected_rootfs: impl Fn(u32) -> String,
) {
    let bridge = Bridge::new("vmbr7");
    let clone_ids: Vec<u32> = (1..=5).map(|n| vmid + n).collect();
    // Guards: whatever happens, every container is stopped in the end.
    let cts: Vec<Ct<'_>> = std::iter::once(vmid)
        .chain(clone_ids.iter().copied())
        .map(|vmid| Ct { root, vmid })
        .collect();
    prepared_container(root, vmid, rootfs, mp0, bridge.0);
    let id = vmid.to_string();

    assert_refused(
        root,
        vmid,
        &["template", &id],
        "you can't convert a CT to template if the CT is running",
    );
    root.pct_ok(&["stop", &id]);
    root.pct_ok(&["snapshot", &id, "s1"]);
    assert_refused(
        root,
        vmid,
        &["template", &id],
        "unable to create template, because CT contains snapshots",
    );
    root.pct_ok(&["delsnapshot", &id, "s1"]);

    root.pct_ok(&["template", &id]);
    let text = config(root, vmid);
    assert_eq!(value(&text, None, "template").as_deref(), Some("1"));
    let rootfs_line = value(&text, None, "rootfs").unwrap();
    assert!(
        rootfs_line.starts_with(&format!("{base_rootfs},")),
        "{rootfs_line}"
    );
    let (code, _, err) = root.pct(&["start", &id]);
    assert_ne!(code, 0);
    assert!(
        err.contains("you can't start a CT if it's a template"),
        "{err}"
    );
    let storage = rootfs.split(':').next().unwrap();
    let (code, _, err) = root.pct(&["clone", &id, "10779", "--storage", storage]);
    assert_ne!(code, 0);
    assert!(
        err.contains("parameter 'storage' not allowed for linked clones"),
        "{err}"
    );
    assert!(!root.join("etc/pve/lxc/10779.conf").exists());

    // Five linked clones (the default for a template), then all started at once.
    for &clone in &clone_ids {
        root.pct_ok(&[
            "clone",
            &id,
            &clone.to_string(),
            "--hostname",
            &format!("c{clone}"),
        ]);
        let text = config(root, clone);
        let rootfs = value(&text, None, "rootfs").unwrap();
        assert!(
            rootfs.starts_with(&format!("{},", expected_rootfs(clone))),
            "{rootfs}"
        );
        assert_eq!(value(&text, None, "template"), None);
        assert_eq!(value(&text, None, "lock"), None);
        assert_eq!(value(&text, None, "hostname"), Some(format!("c{clone}")));
    }
    assert_eq!(value(&config(root, vmid), None, "lock"), None);
    std::thread::scope(|scope| {
        let starts: Vec<_> = clone_ids
            .iter()
            .map(|&clone| scope.spawn(move || root.pct(&["start", &clone.to_string()])))
            .collect();
        for (start, clone) in starts.into_iter().zip(&clone_ids) {
            let (code, out, err) = start.join().unwrap();
            assert_eq!(code, 0, "start {clone}: {out}{err}");
        }
    });

    let mut macs = BTreeSet::from([mac(&config(root, vmid))]);
    for ct in &cts[1..] {
        let clone = ct.vmid;
        ct.wait_for_status("running", Duration::from_secs(60));
        let configured = mac(&config(root, clone));
        assert!(
            configured.starts_with("BC:24:11:"),
            "pct's default prefix: {configured}"
        );
        assert_eq!(
            ct.exec_ok("cat /sys/class/net/eth0/address")
                .trim()
                .to_uppercase(),
            configured
        );
        assert!(macs.insert(configured.clone()), "MAC {configured} twice");
        // Kept but emptied, so that the guest makes its own at boot; the dbus copy gone.
        assert_eq!(ct.exec_ok("cat /etc/machine-id"), "\n");
        assert_ne!(ct.exec("test -e /var/lib/dbus/machine-id").0, 0);
        assert_eq!(ct.exec_ok("cat /data/marker"), "from-template\n");
        ct.exec_ok(&format!("echo {clone} > /data/marker"));
    }
    for ct in &cts[1..] {
        assert_eq!(ct.exec_ok("cat /data/marker"), format!("{}\n", ct.vmid));
    }

    for &clone in &clone_ids {
        root.pct_ok(&["stop", &clone.to_string()]);
        root.pct_ok(&["destroy", &clone.to_string()]);
    }
    root.pct_ok(&["destroy", &id]);
}

#[test]
#[ignore = "needs LVM and the VM rig's disk: run with tests/vm/run"]
fn template_and_five_linked_clones_on_lvmthin() {
    let vg = VolumeGroup::new();
    let root = root_with_thin();
    template_and_linked_clones(
        &root,
        10740,
        "thin:0.25",
        "thin:0.125,mp=/data",
        "thin:base-10740-disk-0",
        |vmid| format!("thin:vm-{vmid}-disk-0"),
    );
    for vmid in 10740..=10745 {
        assert_eq!(vg.lvs_of(vmid), Vec::<String>::new());
    }
}

#[test]
#[ignore = "needs ZFS: run in the VM rig (tests/vm/run)"]
fn template_and_five_linked_clones_on_zfs() {
    if !zfs_available("template_and_five_linked_clones_on_zfs") {
        return;
    }
    let root = root_with_zfs();
    let pool = Pool::create(&root);
    template_and_linked_clones(
        &root,
        10750,
        "tank:0.25",
        "tank:0,mp=/data",
        "tank:basevol-10750-disk-0",
        |vmid| format!("tank:basevol-10750-disk-0/subvol-{vmid}-disk-0"),
    );
    assert_eq!(pool.datasets(), Vec::<String>::new());
    assert_eq!(pool.snapshots(), Vec::<String>::new());
}

/// A full clone of a running container: refused without a snapshot, as pct; from snapshot
/// `s1` the clone holds the volumes as they were then, on `target` storage, and starts.
fn full_clone_of_a_running_container(
    root: &TestRoot,
    vmid: u32,
    rootfs: &str,
    mp0: &str,
    snapshot_rootfs: &str,
    target: &str,
) {
    let bridge = Bridge::new("vmbr8");
    let new = vmid + 1;
    let clone = Ct { root, vmid: new };
    let template = root.install_template(&busybox_template());
    let (id, new_id) = (vmid.to_string(), new.to_string());
    root.pct_ok(&[
        "create",
        &id,
        &template,
        "--rootfs",
        rootfs,
        "--mp0",
        mp0,
        "--net0",
        &format!("name=eth0,bridge={}", bridge.0),
    ]);
    let ct = Ct { root, vmid };
    ct.pct_ok(&["start", &id]);
    ct.exec_ok("echo kept > /before; echo kept > /data/before");
    ct.exec_ok(
        "setsid sh -c 'i=0; while :; do i=$((i+1)); echo line$i >> /log; done' \
         </dev/null >/dev/null 2>&1 &",
    );
    std::thread::sleep(Duration::from_millis(300));

    let (code, _, err) = root.pct(&["clone", &id, &new_id, "--full", "1"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("Full clone of a running container is only possible from a snapshot"),
        "{err}"
    );
    assert!(!root.join(&format!("etc/pve/lxc/{new}.conf")).exists());
    assert_eq!(value(&config(root, vmid), None, "lock"), None);

    ct.pct_ok(&["snapshot", &id, "s1"]);
    ct.exec_ok("echo new > /after; echo new > /data/after");
    let log_at_s1 = read_in_snapshot(root, snapshot_rootfs, "s1", "log");
    let (code, out, err) = root.pct(&[
        "clone",
        &id,
        &new_id,
        "--full",
        "1",
        "--snapname",
        "s1",
        "--storage",
        target,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(ct.status(), "status: running", "the source runs on");
    let source_text = config(root, vmid);
    assert_eq!(value(&source_text, None, "lock"), None);
    let text = config(root, new);
    assert_eq!(value(&text, None, "lock"), None);
    assert_eq!(value(&text, None, "parent"), None);
    assert!(!text.contains("[s1]"), "{text}");
    assert!(
        value(&text, None, "rootfs")
            .unwrap()
            .starts_with(&format!("{target}:")),
        "{text}"
    );
    assert_ne!(mac(&text), mac(&source_text));

    clone.pct_ok(&["start", &new_id]);
    assert_eq!(clone.exec_ok("cat /before /data/before"), "kept\nkept\n");
    assert_ne!(
        clone.exec("test -e /after || test -e /data/after").0,
        0,
        "the clone has what was written after the snapshot"
    );
    assert_eq!(clone.exec_ok("cat /log"), log_at_s1);

    for vmid in [new, vmid] {
        root.pct_ok(&["stop", &vmid.to_string()]);
        root.pct_ok(&["destroy", &vmid.to_string()]);
    }
}

#[test]
#[ignore = "needs LVM and the VM rig's disk: run with tests/vm/run"]
fn full_clone_of_a_running_container_from_a_snapshot_on_lvmthin() {
    let vg = VolumeGroup::new();
    let root = root_with_thin();
    full_clone_of_a_running_container(
        &root,
        10760,
        "thin:0.25",
        "thin:0.125,mp=/data",
        "thin:vm-10760-disk-0",
        "thin",
    );
    for vmid in [10760, 10761] {
        assert_eq!(vg.lvs_of(vmid), Vec::<String>::new());
    }
}

#[test]
#[ignore = "needs ZFS: run in the VM rig (tests/vm/run)"]
fn full_clone_of_a_running_container_from_a_snapshot_on_zfs() {
    if !zfs_available("full_clone_of_a_running_container_from_a_snapshot_on_zfs") {
        return;
    }
    let root = root_with_zfs();
    let pool = Pool::create(&root);
    full_clone_of_a_running_container(
        &root,
        10770,
        "tank:0.25",
        "tank:0,mp=/data",
        "tank:subvol-10770-disk-0",
        "tank",
    );
    assert_eq!(pool.datasets(), Vec::<String>::new());
}
