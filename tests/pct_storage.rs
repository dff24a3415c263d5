//! `pct create` on a btrfs storage (run as root); hostile templates are the escape suite's.

mod common;

use std::fs;
use std::process::Command;

use common::{TestRoot, debianish_template};

/// A btrfs filesystem on a loop-backed image under the test root, mounted at `mnt/btrfs`,
/// and a storage.cfg naming it `tank` next to the default `local`.
fn btrfs_storage(root: &TestRoot) {
    root.mount_btrfs(256 * 1024 * 1024);
    root.write(
        "etc/pve/storage.cfg",
        "dir: local\n\tpath /var/lib/vz\n\tcontent vztmpl,iso,backup\n\nbtrfs: tank\n\tpath /mnt/btrfs\n\tcontent rootdir,images\n",
    );
}

#[test]
fn create_on_btrfs_makes_a_subvolume_and_destroy_removes_it() {
    let root = TestRoot::new();
    debianish_template(&root);
    btrfs_storage(&root);
    root.pct_ok(&[
        "create",
        "120",
        "local:vztmpl/debianish_12.0-1_amd64.tar.gz",
        "--storage",
        "tank",
        "--rootfs",
        "tank:0",
    ]);
    let config = root.pct_ok(&["config", "120"]);
    let rootfs = config.lines().find(|l| l.starts_with("rootfs:")).unwrap();
    assert!(
        rootfs.starts_with("rootfs: tank:120/subvol-120-disk-0"),
        "{rootfs}"
    );
    let subvol = root.join("mnt/btrfs/images/120/subvol-120-disk-0.subvol");
    assert_subvolume(&subvol);
    assert_eq!(
        fs::read_to_string(subvol.join("etc/debian_version")).unwrap(),
        "12.7\n"
    );

    // The default storage has no rootdir content here.
    let (code, _, stderr) = root.pct(&[
        "create",
        "121",
        "local:vztmpl/debianish_12.0-1_amd64.tar.gz",
        "--rootfs",
        "local:0",
    ]);
    assert_eq!(code, 255);
    assert!(
        stderr.contains("storage: storage 'local' does not support container directories"),
        "{stderr}"
    );
    assert!(!root.join("etc/pve/lxc/121.conf").exists());

    root.pct_ok(&["destroy", "120"]);
    assert!(!subvol.exists());
}

/// A sized volume on btrfs is a raw ext4 image in a subvolume of its own
/// (`images/<vmid>/vm-<vmid>-disk-N/disk.raw`), mounted over a loop device like any raw
/// image; destroy removes the subvolume.
#[test]
fn raw_volumes_on_btrfs_live_in_a_subvolume_of_their_own() {
    let root = TestRoot::new();
    debianish_template(&root);
    btrfs_storage(&root);
    root.pct_ok(&[
        "create",
        "122",
        "local:vztmpl/debianish_12.0-1_amd64.tar.gz",
        "--storage",
        "tank",
        "--rootfs",
        "tank:1",
    ]);
    let config = root.pct_ok(&["config", "122"]);
    let rootfs = config.lines().find(|l| l.starts_with("rootfs:")).unwrap();
    assert_eq!(rootfs, "rootfs: tank:122/vm-122-disk-0.raw,size=1G");
    let subvolume = root.join("mnt/btrfs/images/122/vm-122-disk-0");
    assert_subvolume(&subvolume);
    let image = subvolume.join("disk.raw");
    assert_eq!(fs::metadata(&image).unwrap().len(), 1 << 30);
    // The image holds an ext4 file system with the template in it.
    let blkid = Command::new("blkid")
        .args(["-o", "value", "-s", "TYPE"])
        .arg(&image)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&blkid.stdout).trim(), "ext4");
    root.pct_ok(&["mount", "122"]);
    let mounted = root.join("var/lib/lxc/122/rootfs/etc/debian_version");
    let content = fs::read_to_string(&mounted);
    root.pct_ok(&["unmount", "122"]);
    assert_eq!(content.unwrap(), "12.7\n");

    root.pct_ok(&["destroy", "122"]);
    assert!(!subvolume.exists(), "subvolume left");
    // (The btrfs image's own loop device backs the storage; none is left on the volume.)
    assert_eq!(
        common::loop_devices_below(&root.join("mnt/btrfs")),
        Vec::<String>::new()
    );
}

/// `path` is a btrfs subvolume, as `btrfs subvolume show` says.
fn assert_subvolume(path: &std::path::Path) {
    let output = Command::new("btrfs")
        .args(["subvolume", "show"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "not a subvolume: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Storages used as directories where an admin mounted them (nfs, cifs, cephfs), and the ones
/// pct refuses: a storage.cfg with each, beside a `local` holding the template.
fn network_storages(root: &TestRoot) -> String {
    root.write(
        "etc/pve/storage.cfg",
        "dir: local\n\tpath /var/lib/vz\n\tcontent vztmpl\n\n\
         nfs: share1\n\tserver 192.0.2.1\n\texport /export/ct\n\tcontent rootdir,images\n\toptions vers=4.2\n\n\
         cifs: smb1\n\tserver 192.0.2.2\n\tshare ct\n\tpath /mnt/smb1\n\tcontent rootdir\n\n\
         cephfs: ceph1\n\tmonhost 192.0.2.3\n\tcontent vztmpl,backup\n\n\
         dir: off\n\tpath /srv/off\n\tcontent rootdir\n\tdisable 1\n\n\
         dir: there\n\tpath /srv/there\n\tcontent rootdir\n\tnodes elsewhere1,elsewhere2\n",
    );
    root.install_template(&common::busybox_template())
}

/// A tmpfs at `relative` under the root, as a mounted network file system stands in.
fn mount_tmpfs(root: &TestRoot, relative: &str) {
    let target = root.join(relative);
    fs::create_dir_all(&target).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&target)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_network_storage_holds_containers_once_mounted_and_is_not_online_before() {
    let root = TestRoot::new();
    let template = network_storages(&root);
    for (storage, path) in [("share1", "mnt/pve/share1"), ("smb1", "mnt/smb1")] {
        let (code, _, stderr) = root.pct(&[
            "create",
            "10000",
            &template,
            "--rootfs",
            &format!("{storage}:0.1"),
        ]);
        assert_eq!(code, 255, "{stderr}");
        assert_eq!(stderr.trim(), format!("storage '{storage}' is not online"));
        assert!(!root.join("etc/pve/lxc/10000.conf").exists());
        assert!(!root.join(path).join("images").exists(), "nothing made");
    }

    mount_tmpfs(&root, "mnt/pve/share1");
    let ct = common::ct::Ct {
        root: &root,
        vmid: 10000,
    };
    root.pct_ok(&["create", "10000", &template, "--rootfs", "share1:0.125"]);
    let config = root.pct_ok(&["config", "10000"]);
    assert!(
        config.contains("rootfs: share1:10000/vm-10000-disk-0.raw,size=128M"),
        "{config}"
    );
    let image = root.join("mnt/pve/share1/images/10000/vm-10000-disk-0.raw");
    assert_eq!(fs::metadata(&image).unwrap().len(), 128 << 20);
    root.pct_ok(&["set", "10000", "--mp0", "share1:0,mp=/data"]);
    let subvol = root.join("mnt/pve/share1/images/10000/subvol-10000-disk-1.subvol");
    assert!(subvol.is_dir());

    root.pct_ok(&["start", "10000"]);
    ct.wait_for_status("running", std::time::Duration::from_secs(20));
    ct.exec_ok("echo kept > /root/file && echo data > /data/file");
    root.pct_ok(&["stop", "10000"]);
    ct.assert_nothing_left();
    assert_eq!(fs::read_to_string(subvol.join("file")).unwrap(), "data\n");
    root.pct_ok(&["mount", "10000"]);
    let content = fs::read_to_string(root.join("var/lib/lxc/10000/rootfs/root/file"));
    root.pct_ok(&["unmount", "10000"]);
    assert_eq!(content.unwrap(), "kept\n");

    root.pct_ok(&["destroy", "10000"]);
    assert!(!image.exists() && !subvol.exists());
    assert!(!root.join("mnt/pve/share1/images/10000").exists());
    assert_eq!(
        common::loop_devices_below(root.path()),
        Vec::<String>::new()
    );
}

#[test]
fn storages_a_container_may_not_use_are_refused_in_pve_words() {
    let root = TestRoot::new();
    let template = network_storages(&root);
    let node = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let refusals = [
        ("off:1", "storage 'off' is disabled".to_string()),
        (
            "there:1",
            format!("storage 'there' is not available on node '{}'", node.trim()),
        ),
        (
            "ceph1:1",
            "storage: storage 'ceph1' does not support container directories".to_string(),
        ),
    ];
    for (rootfs, message) in refusals {
        let (code, _, stderr) = root.pct(&["create", "10001", &template, "--rootfs", rootfs]);
        assert_eq!(code, 255, "{rootfs}: {stderr}");
        assert!(stderr.contains(&message), "{rootfs}: {stderr}");
        assert!(!root.join("etc/pve/lxc/10001.conf").exists(), "{rootfs}");
    }
    assert!(!root.join("srv/off").exists() && !root.join("srv/there").exists());

    // An existing container cannot get a volume there either, nor start from one.
    root.write(
        "etc/pve/lxc/10002.conf",
        "arch: amd64\nhostname: ct\nrootfs: off:10002/vm-10002-disk-0.raw,size=1G\n",
    );
    let (code, _, stderr) = root.pct(&["set", "10002", "--mp0", "there:1,mp=/x"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains(&format!(
            "storage 'there' is not available on node '{}'",
            node.trim()
        )),
        "{stderr}"
    );
    let (code, _, stderr) = root.pct(&["start", "10002"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("storage 'off' is disabled"), "{stderr}");
}
