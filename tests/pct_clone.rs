//! `pct template` and `pct clone` on dir and btrfs storages (btrfs on a loop file under the
//! test root), with real containers (run as root, CTIDs 10600-10699).

mod common;

use common::{is_read_only, is_subvolume};

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::Entry::{Dir, File, Symlink};
use common::ct::{Ct, wait_until};
use common::net::NetHost;
use common::{TestRoot, debian_base, make_template};

const GIB: u64 = 1 << 30;

/// What systemd does on a first boot, done by the guest's rcS: a missing or empty
/// /etc/machine-id is made anew (and D-Bus's copy with it).
const RCS: &[u8] = b"#!/bin/sh
if [ -z \"$(tr -d '\\n' < /etc/machine-id 2>/dev/null)\" ]; then
    tr -d '-' < /proc/sys/kernel/random/uuid > /etc/machine-id
fi
[ -e /var/lib/dbus/machine-id ] || cp /etc/machine-id /var/lib/dbus/machine-id
";

/// A small Debian-looking template that pct's setup takes for a systemd guest
/// (/lib/systemd/systemd), with /etc/ssh (so create makes host keys) and busybox init
/// running [`RCS`].
fn guest_template(root: &TestRoot) -> String {
    let busybox = fs::read("/bin/busybox").expect("busybox-static provides /bin/busybox");
    let dir = root.join("var/lib/vz/template/cache");
    fs::create_dir_all(&dir).unwrap();
    let name = "clonable_12.0-1_amd64.tar.gz";
    let mut entries = debian_base(&busybox);
    entries.extend([
        Dir("sbin", 0o755, 0, 0),
        Symlink("sbin/init", "/bin/busybox"),
        Dir("lib", 0o755, 0, 0),
        Dir("lib/systemd", 0o755, 0, 0),
        File("lib/systemd/systemd", b"#!/bin/sh\nexit 0\n", 0o755, 0, 0),
        Dir("etc/init.d", 0o755, 0, 0),
        File("etc/init.d/rcS", RCS, 0o755, 0, 0),
        File("etc/inittab", b"::sysinit:/etc/init.d/rcS\n", 0o644, 0, 0),
        Dir("etc/ssh", 0o755, 0, 0),
        Dir("var", 0o755, 0, 0),
        Dir("var/lib", 0o755, 0, 0),
        Dir("var/lib/dbus", 0o755, 0, 0),
        Dir("root", 0o700, 0, 0),
        Dir("tmp", 0o1777, 0, 0),
    ]);
    make_template(&dir.join(name), &entries);
    format!("local:vztmpl/{name}")
}

/// `local` (dir) and `tank`, a btrfs file system on a loop-backed image under the test root
/// at `mnt/btrfs` (TestRoot's drop unmounts it). Returns the template's volume id.
fn btrfs_root(root: &TestRoot) -> String {
    root.mount_btrfs(4 * GIB);
    root.write(
        "etc/pve/storage.cfg",
        "dir: local\n\tpath /var/lib/vz\n\tcontent vztmpl,rootdir,images\n\n\
         btrfs: tank\n\tpath /mnt/btrfs\n\tcontent rootdir,images\n",
    );
    guest_template(root)
}

fn create(root: &TestRoot, vmid: u32, template: &str, extra: &[&str]) {
    let id = vmid.to_string();
    let mut args = vec!["create", &id, template, "--hostname", "origin"];
    args.extend_from_slice(extra);
    root.pct_ok(&args);
}

fn config(root: &TestRoot, vmid: u32) -> String {
    root.read(&format!("etc/pve/lxc/{vmid}.conf"))
}

fn value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .take_while(|l| !l.starts_with('['))
        .find_map(|l| l.strip_prefix(&format!("{key}: ")).map(str::to_string))
}

fn btrfs_images(root: &TestRoot, vmid: u32) -> PathBuf {
    root.join(&format!("mnt/btrfs/images/{vmid}"))
}

fn dir_images(root: &TestRoot, vmid: u32) -> PathBuf {
    root.join(&format!("var/lib/vz/images/{vmid}"))
}

fn is_immutable(path: &Path) -> bool {
    let output = Command::new("lsattr").arg("-d").arg(path).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .next()
        .is_some_and(|flags| flags.contains('i'))
}

/// Clears the immutable flag of what a failing test left, so the test root can go.
struct Mutable(PathBuf);

impl Drop for Mutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr")
            .arg("-R")
            .arg("-i")
            .arg(&self.0)
            .output();
    }
}

/// A refused command: pct's message, exit 255, the source's config as it was, and nothing
/// of `newid` anywhere.
fn assert_refused(root: &TestRoot, vmid: u32, newid: u32, args: &[&str], message: &str) {
    let before = config(root, vmid);
    let target_before = fs::read_to_string(root.join(&format!("etc/pve/lxc/{newid}.conf"))).ok();
    let (code, out, err) = root.pct(args);
    assert_eq!(code, 255, "pct {args:?}: {out}{err}");
    assert_eq!(err.trim_end(), message, "pct {args:?}");
    assert_eq!(
        config(root, vmid),
        before,
        "pct {args:?} changed the source"
    );
    assert_eq!(
        fs::read_to_string(root.join(&format!("etc/pve/lxc/{newid}.conf"))).ok(),
        target_before,
        "pct {args:?} left a target config"
    );
    if target_before.is_none() {
        for images in [btrfs_images(root, newid), dir_images(root, newid)] {
            assert!(!images.exists(), "pct {args:?} left {}", images.display());
        }
    }
}

/// pct mount/unmount around `read`, which gets the mounted rootfs.
fn with_mounted<T>(root: &TestRoot, vmid: u32, read: impl FnOnce(&Path) -> T) -> T {
    let id = vmid.to_string();
    root.pct_ok(&["mount", &id]);
    let result = read(&root.join(&format!("var/lib/lxc/{vmid}/rootfs")));
    root.pct_ok(&["unmount", &id]);
    result
}

#[test]
fn a_dir_template_is_immutable_and_clones_only_in_full() {
    let root = TestRoot::new();
    let template = guest_template(&root);
    let _mutable = Mutable(root.join("var/lib/vz/images"));
    let vmid = 10600;
    create(&root, vmid, &template, &["--rootfs", "local:1"]);
    let ct = Ct { root: &root, vmid };
    let id = ct.id();

    ct.pct_ok(&["template", &id]);
    let images = dir_images(&root, vmid);
    let base = images.join("base-10600-disk-0.raw");
    assert!(base.is_file() && !images.join("vm-10600-disk-0.raw").exists());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&base).unwrap().permissions().mode() & 0o7777,
        0o444
    );
    assert!(is_immutable(&base), "not immutable");
    let text = config(&root, vmid);
    assert_eq!(
        value(&text, "rootfs").as_deref(),
        Some("local:10600/base-10600-disk-0.raw,size=1G")
    );
    assert_eq!(value(&text, "template").as_deref(), Some("1"));

    assert_refused(
        &root,
        vmid,
        10601,
        &["start", &id],
        "you can't start a CT if it's a template",
    );
    assert_refused(
        &root,
        vmid,
        10601,
        &["template", &id],
        "you can't convert a template to a template",
    );
    // A template clones linked by default; dir storages cannot.
    assert_refused(
        &root,
        vmid,
        10601,
        &["clone", &id, "10601"],
        "Linked clone feature for 'local:10600/base-10600-disk-0.raw' is not available",
    );

    let _clone = Ct {
        root: &root,
        vmid: 10601,
    };
    let out = root.pct_ok(&["clone", &id, "10601", "--full", "1"]);
    assert!(
        out.starts_with(
            "creating a clone of container 10600 with ID 10601\n\
             create full clone of mountpoint rootfs (local:10600/base-10600-disk-0.raw)\n"
        ),
        "{out}"
    );
    let text = config(&root, 10601);
    assert_eq!(
        value(&text, "rootfs").as_deref(),
        Some("local:10601/vm-10601-disk-0.raw,size=1G")
    );
    assert_eq!(value(&text, "template"), None);
    assert_eq!(value(&text, "lock"), None);
    assert_eq!(value(&text, "hostname").as_deref(), Some("origin"));
    assert_eq!(
        value(&config(&root, vmid), "lock"),
        None,
        "source still locked"
    );
    with_mounted(&root, 10601, |rootfs| {
        assert!(rootfs.join("bin/busybox").is_file());
    });

    // Destroy frees the immutable base image.
    root.pct_ok(&["destroy", &id]);
    assert!(!base.exists() && !images.exists());
    root.pct_ok(&["destroy", "10601"]);
    assert!(!dir_images(&root, 10601).exists());
}

#[test]
fn a_dir_subvol_template_keeps_its_name_and_copies_in_full() {
    let root = TestRoot::new();
    let template = guest_template(&root);
    let _mutable = Mutable(root.join("var/lib/vz/images"));
    create(&root, 10606, &template, &["--rootfs", "local:0"]);
    let _ct = Ct {
        root: &root,
        vmid: 10606,
    };
    root.pct_ok(&["template", "10606"]);
    let subvol = dir_images(&root, 10606).join("subvol-10606-disk-0.subvol");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&subvol).unwrap().permissions().mode() & 0o7777,
        0o444
    );
    assert!(is_immutable(&subvol));
    assert_eq!(
        value(&config(&root, 10606), "rootfs").as_deref(),
        Some("local:10606/subvol-10606-disk-0.subvol,size=0T")
    );
    let _clone = Ct {
        root: &root,
        vmid: 10607,
    };
    root.pct_ok(&["clone", "10606", "10607", "--full", "1"]);
    assert!(
        dir_images(&root, 10607)
            .join("subvol-10607-disk-0.subvol/bin/busybox")
            .is_file()
    );
    root.pct_ok(&["destroy", "10606"]);
    assert!(!dir_images(&root, 10606).exists());
    root.pct_ok(&["destroy", "10607"]);
}

#[test]
fn template_refusals_in_pcts_order() {
    let root = TestRoot::new();
    let template = guest_template(&root);
    root.write("srv/shared/.keep", "");
    create(&root, 10602, &template, &["--rootfs", "local:0"]);
    let _ct = Ct {
        root: &root,
        vmid: 10602,
    };
    root.append_config(10602, "mp0: /srv/shared,mp=/shared\n");
    assert_refused(
        &root,
        10602,
        10603,
        &["template", "10602"],
        "Template feature is not available for '/srv/shared'",
    );
    assert!(
        dir_images(&root, 10602)
            .join("subvol-10602-disk-0.subvol")
            .is_dir()
    );

    root.append_config(10602, "lock: backup\n");
    assert_refused(
        &root,
        10602,
        10603,
        &["template", "10602"],
        "CT is locked (backup)",
    );

    create(&root, 10604, &template, &["--rootfs", "local:0"]);
    let _ct = Ct {
        root: &root,
        vmid: 10604,
    };
    root.append_config(
        10604,
        "\n[s1]\nrootfs: local:10604/subvol-10604-disk-0.subvol\nsnaptime: 1700000000\n",
    );
    assert_refused(
        &root,
        10604,
        10605,
        &["template", "10604"],
        "unable to create template, because CT contains snapshots",
    );
}

#[test]
fn linked_clones_of_a_btrfs_template_start_at_once_each_its_own() {
    let root = TestRoot::new();
    let template = btrfs_root(&root);
    let net = NetHost::new("clone");
    let vmid = 10610;
    create(
        &root,
        vmid,
        &template,
        &["--rootfs", "tank:1", "--net0", "name=eth0,bridge=br0"],
    );
    let ct = Ct { root: &root, vmid };
    let id = ct.id();
    let template_mac = value(&config(&root, vmid), "net0").unwrap();

    // First boot: the guest makes its machine-id, as systemd would.
    net.pct_ok(&root, &["start", &id]);
    wait_until("a machine-id", Duration::from_secs(20), || {
        ct.exec("cat /var/lib/dbus/machine-id").0 == 0
    });
    let template_id = ct.exec_ok("cat /etc/machine-id");
    assert_eq!(template_id.trim().len(), 32, "{template_id:?}");
    let template_key = ct.exec_ok("cat /etc/ssh/ssh_host_ed25519_key.pub");
    assert_refused(
        &root,
        vmid,
        10611,
        &["template", &id],
        "you can't convert a CT to template if the CT is running",
    );
    ct.pct_ok(&["stop", &id]);

    ct.pct_ok(&["template", &id]);
    let images = btrfs_images(&root, vmid);
    let base = images.join("base-10610-disk-0");
    assert!(is_subvolume(&base) && is_read_only(&base));
    assert!(!images.join("vm-10610-disk-0").exists());
    let text = config(&root, vmid);
    assert_eq!(
        value(&text, "rootfs").as_deref(),
        Some("tank:10610/base-10610-disk-0.raw,size=1G")
    );
    assert_eq!(value(&text, "template").as_deref(), Some("1"));
    assert_refused(
        &root,
        vmid,
        10611,
        &["snapshot", &id, "s1"],
        "you can't take a snapshot if it's a template",
    );
    assert_refused(
        &root,
        vmid,
        10611,
        &["start", &id],
        "you can't start a CT if it's a template",
    );
    assert_refused(
        &root,
        vmid,
        10611,
        &["clone", &id, "10611", "--storage", "local"],
        "parameter 'storage' not allowed for linked clones",
    );

    let clones: Vec<u32> = (10611..=10615).collect();
    let _guards: Vec<Ct> = clones
        .iter()
        .map(|&vmid| Ct { root: &root, vmid })
        .collect();
    for &clone in &clones {
        let out = root.pct_ok(&[
            "clone",
            &id,
            &clone.to_string(),
            "--hostname",
            &format!("clone{clone}"),
        ]);
        assert!(
            out.starts_with(&format!(
                "creating a clone of container 10610 with ID {clone}\n\
                 create linked clone of mount point rootfs (tank:10610/base-10610-disk-0.raw)\n"
            )),
            "{out}"
        );
        let subvolume = btrfs_images(&root, clone).join(format!("vm-{clone}-disk-0"));
        assert!(is_subvolume(&subvolume) && !is_read_only(&subvolume));
    }
    assert_eq!(value(&config(&root, vmid), "lock"), None);

    // Each has a MAC of its own, the datacenter prefix kept.
    let macs: Vec<String> = clones
        .iter()
        .map(|&clone| {
            let text = config(&root, clone);
            assert_eq!(
                value(&text, "rootfs"),
                Some(format!("tank:{clone}/vm-{clone}-disk-0.raw,size=1G"))
            );
            assert_eq!(value(&text, "hostname"), Some(format!("clone{clone}")));
            assert_eq!(value(&text, "template"), None);
            assert_eq!(value(&text, "lock"), None);
            let net0 = value(&text, "net0").unwrap();
            assert_ne!(net0, template_mac);
            let mac = net0
                .split(',')
                .find_map(|p| p.strip_prefix("hwaddr="))
                .unwrap()
                .to_string();
            assert!(mac.starts_with("BC:24:11:"), "{mac}");
            mac
        })
        .collect();
    let mut distinct = macs.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), macs.len(), "{macs:?}");

    // The fix-up, before the first boot: machine-id emptied, D-Bus's copy gone, new host
    // keys.
    with_mounted(&root, 10611, |rootfs| {
        assert_eq!(
            fs::read_to_string(rootfs.join("etc/machine-id")).unwrap(),
            "\n"
        );
        assert!(!rootfs.join("var/lib/dbus/machine-id").exists());
        let key = fs::read_to_string(rootfs.join("etc/ssh/ssh_host_ed25519_key.pub")).unwrap();
        assert_ne!(key, template_key, "the clone kept the template's host key");
    });
    // The template itself is untouched.
    with_mounted(&root, vmid, |rootfs| {
        assert_eq!(
            fs::read_to_string(rootfs.join("etc/machine-id")).unwrap(),
            template_id
        );
    });

    // All five at once.
    std::thread::scope(|scope| {
        let starts: Vec<_> = clones
            .iter()
            .map(|&clone| {
                let (root, net) = (&root, &net);
                scope.spawn(move || net.pct(root, &["start", &clone.to_string()]))
            })
            .collect();
        for (start, clone) in starts.into_iter().zip(&clones) {
            let (code, out, err) = start.join().unwrap();
            assert_eq!(code, 0, "start {clone}: {out}{err}");
        }
    });
    let mut ids = Vec::new();
    for (guard, mac) in _guards.iter().zip(&macs) {
        assert_eq!(guard.status(), "status: running");
        wait_until("a machine-id", Duration::from_secs(20), || {
            guard.exec("cat /var/lib/dbus/machine-id").0 == 0
        });
        let machine_id = guard.exec_ok("cat /etc/machine-id");
        assert_eq!(machine_id.trim().len(), 32, "{machine_id:?}");
        assert_ne!(machine_id, template_id);
        ids.push(machine_id);
        assert_eq!(
            guard.exec_ok("cat /sys/class/net/eth0/address").trim(),
            mac.to_ascii_lowercase()
        );
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), clones.len(), "machine-ids shared");

    for &clone in &clones {
        root.pct_ok(&["stop", &clone.to_string()]);
        root.pct_ok(&["destroy", &clone.to_string()]);
        assert!(!btrfs_images(&root, clone).exists());
    }
    root.pct_ok(&["destroy", &id]);
    assert!(!images.exists(), "the base volume is left");
}

#[test]
fn a_running_container_is_cloned_in_full_from_a_snapshot() {
    let root = TestRoot::new();
    let template = btrfs_root(&root);
    let vmid = 10620;
    create(
        &root,
        vmid,
        &template,
        &["--rootfs", "tank:1", "--mp0", "tank:0,mp=/data"],
    );
    let ct = Ct { root: &root, vmid };
    let id = ct.id();
    ct.pct_ok(&["start", &id]);
    ct.exec_ok("echo kept > /before; echo kept > /data/before");
    ct.pct_ok(&["snapshot", &id, "s1"]);
    ct.exec_ok("rm /before /data/before; echo new > /after; echo new > /data/after");

    assert_refused(
        &root,
        vmid,
        10621,
        &["clone", &id, "10621"],
        "Full clone of a running container is only possible from a snapshot",
    );
    assert_refused(
        &root,
        vmid,
        10621,
        &["clone", &id, "10621", "--snapname", "nope"],
        "snapshot 'nope' does not exist",
    );

    let clone = Ct {
        root: &root,
        vmid: 10621,
    };
    let out = root.pct_ok(&["clone", &id, "10621", "--snapname", "s1"]);
    assert!(
        out.contains("create full clone of mountpoint rootfs (tank:10620/vm-10620-disk-0.raw)\n")
            && out.contains(
                "create full clone of mountpoint mp0 (tank:10620/subvol-10620-disk-1.subvol)\n"
            ),
        "{out}"
    );
    assert_eq!(ct.status(), "status: running");
    let source = config(&root, vmid);
    assert_eq!(value(&source, "lock"), None);
    let text = config(&root, 10621);
    assert_eq!(
        value(&text, "rootfs").as_deref(),
        Some("tank:10621/vm-10621-disk-0.raw,size=1G")
    );
    assert_eq!(
        value(&text, "mp0").as_deref(),
        Some("tank:10621/subvol-10621-disk-1.subvol,mp=/data,size=0T")
    );
    assert!(
        !text.contains("[s1]") && value(&text, "parent").is_none(),
        "{text}"
    );

    clone.pct_ok(&["start", "10621"]);
    assert_eq!(clone.exec_ok("cat /before /data/before"), "kept\nkept\n");
    let (code, _, _) = clone.exec("test -e /after || test -e /data/after");
    assert_ne!(code, 0, "the clone has what came after the snapshot");
    // Its own volumes: a write to the clone leaves the source as it is.
    clone.exec_ok("echo clone > /data/mine");
    assert_ne!(ct.exec("test -e /data/mine").0, 0);
}

#[test]
fn a_full_clone_moves_across_storage_types() {
    let root = TestRoot::new();
    let template = btrfs_root(&root);
    let vmid = 10630;
    create(&root, vmid, &template, &["--rootfs", "tank:1"]);
    let _ct = Ct { root: &root, vmid };
    with_mounted(&root, vmid, |rootfs| {
        fs::write(rootfs.join("root/note"), "from btrfs\n").unwrap();
    });
    let _clone = Ct {
        root: &root,
        vmid: 10631,
    };
    root.pct_ok(&[
        "clone",
        "10630",
        "10631",
        "--storage",
        "local",
        "--description",
        "on dir now",
    ]);
    let text = config(&root, 10631);
    assert_eq!(
        value(&text, "rootfs").as_deref(),
        Some("local:10631/vm-10631-disk-0.raw,size=1G")
    );
    assert!(text.starts_with("#on dir now\n"), "{text}");
    assert!(
        dir_images(&root, 10631)
            .join("vm-10631-disk-0.raw")
            .is_file()
    );
    with_mounted(&root, 10631, |rootfs| {
        assert_eq!(
            fs::read_to_string(rootfs.join("root/note")).unwrap(),
            "from btrfs\n"
        );
    });
}

#[test]
fn clone_refusals_leave_nothing() {
    let root = TestRoot::new();
    let template = btrfs_root(&root);
    root.write("srv/shared/.keep", "");
    create(&root, 10640, &template, &["--rootfs", "tank:0"]);
    let _ct = Ct {
        root: &root,
        vmid: 10640,
    };
    create(&root, 10641, &template, &["--rootfs", "tank:0"]);
    let _other = Ct {
        root: &root,
        vmid: 10641,
    };
    let node = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();

    assert_refused(
        &root,
        10640,
        10641,
        &["clone", "10640", "10641"],
        &format!("CT 10641 already exists on node '{node}'"),
    );
    assert_refused(
        &root,
        10640,
        10642,
        &["clone", "10640", "10642", "--target", "elsewhere"],
        "no such cluster node 'elsewhere'",
    );
    assert_refused(
        &root,
        10640,
        10642,
        &["clone", "10640", "10642", "--storage", "nowhere"],
        "storage 'nowhere' does not exist",
    );
    // A btrfs subvol is no base volume, and its current state cannot be cloned linked.
    assert_refused(
        &root,
        10640,
        10642,
        &["clone", "10640", "10642", "--full", "0"],
        "Linked clone feature for 'tank:10640/subvol-10640-disk-0.subvol' is not available",
    );
    root.pct_ok(&["set", "10640", "--mp0", "/srv/shared,mp=/shared"]);
    assert_refused(
        &root,
        10640,
        10642,
        &["clone", "10640", "10642"],
        "unable to clone mountpoint 'mp0' (type bind)",
    );
    root.append_config(10641, "lock: backup\n");
    assert_refused(
        &root,
        10641,
        10642,
        &["clone", "10641", "10642"],
        "CT is locked (backup)",
    );
}

#[test]
fn a_clone_failing_in_its_worker_leaves_nothing() {
    let root = TestRoot::new();
    let template = btrfs_root(&root);
    let small = root.join("mnt/small");
    fs::create_dir_all(&small).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(status.success());
    let mut storage = root.read("etc/pve/storage.cfg");
    storage.push_str("\ndir: small\n\tpath /mnt/small\n\tcontent rootdir,images\n");
    root.write("etc/pve/storage.cfg", &storage);

    let vmid = 10650;
    create(&root, vmid, &template, &["--rootfs", "tank:0"]);
    let _ct = Ct { root: &root, vmid };
    // More than the small storage holds.
    let mut data = vec![0u8; 24 << 20];
    getrandom::fill(&mut data).unwrap();
    fs::write(
        btrfs_images(&root, vmid).join("subvol-10650-disk-0.subvol/root/blob"),
        &data,
    )
    .unwrap();
    let before = config(&root, vmid);

    let (code, out, err) = root.pct(&["clone", "10650", "10651", "--storage", "small"]);
    assert_eq!(code, 255, "{out}{err}");
    assert!(
        out.contains("create full clone of mountpoint rootfs"),
        "{out}"
    );
    assert!(err.starts_with("clone failed: "), "{err}");
    assert_eq!(
        config(&root, vmid),
        before,
        "source changed or still locked"
    );
    assert!(!root.join("etc/pve/lxc/10651.conf").exists());
    assert!(
        !small.join("images/10651").exists(),
        "the new volume is left"
    );
    assert!(!root.join("var/lib/lxc/10651").exists());
}

/// Through the library: while the volumes are copied the source holds `lock: disk` and the
/// new container a config of `lock: create` alone (no volume of the source in it); the
/// progress lines come as events, and a refusal is a typed error.
#[test]
fn the_library_clone_holds_both_locks_while_it_copies() {
    use corral::{CloneOptions, CloneProblem, Error, Event, Host, Observer, Vmid};
    use std::sync::{Arc, Mutex};
    let root = TestRoot::new();
    let template = btrfs_root(&root);
    create(&root, 10660, &template, &["--rootfs", "tank:1"]);
    let _ct = Ct {
        root: &root,
        vmid: 10660,
    };
    let _clone = Ct {
        root: &root,
        vmid: 10661,
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let observer = {
        let seen = seen.clone();
        let source = root.join("etc/pve/lxc/10660.conf");
        let target = root.join("etc/pve/lxc/10661.conf");
        Observer::new(move |event| {
            if let Event::Info(line) = event
                && line.starts_with("create full clone of mountpoint rootfs")
            {
                let read = |path: &Path| fs::read_to_string(path).unwrap_or_default();
                seen.lock()
                    .unwrap()
                    .push((line.clone(), read(&source), read(&target)));
            }
        })
    };
    let host = Host::open(root.path()).unwrap().with_observer(observer);
    let source = host.container(Vmid::new(10660).unwrap());
    source
        .clone_to(Vmid::new(10661).unwrap(), &CloneOptions::default())
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (line, source_text, target_text) = &seen[0];
    assert_eq!(
        line,
        "create full clone of mountpoint rootfs (tank:10660/vm-10660-disk-0.raw)"
    );
    assert_eq!(value(source_text, "lock").as_deref(), Some("disk"));
    assert_eq!(value(target_text, "lock").as_deref(), Some("create"));
    assert_eq!(value(target_text, "rootfs"), None, "{target_text}");
    assert_eq!(value(&config(&root, 10660), "lock"), None);
    assert_eq!(value(&config(&root, 10661), "lock"), None);

    let error = source
        .clone_to(
            Vmid::new(10662).unwrap(),
            &CloneOptions {
                full: Some(false),
                storage: Some("local".into()),
                ..CloneOptions::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Clone {
                problem: CloneProblem::StorageForLinkedClone,
                ..
            }
        ),
        "{error:?}"
    );
}
