//! `pct create` on a btrfs storage (run as root); hostile templates are the escape suite's.

mod common;

use std::fs;
use std::process::Command;

use common::{TestRoot, debianish_template};

/// A btrfs filesystem on a loop-backed image under the test root, mounted at `mnt/btrfs`,
/// and a storage.cfg naming it `tank` next to the default `local`.
fn btrfs_storage(root: &TestRoot) {
    let image = root.join("btrfs.img");
    let file = fs::File::create(&image).unwrap();
    file.set_len(256 * 1024 * 1024).unwrap();
    let status = Command::new("mkfs.btrfs")
        .arg("-q")
        .arg(&image)
        .status()
        .expect("mkfs.btrfs");
    assert!(status.success());
    let mountpoint = root.join("mnt/btrfs");
    fs::create_dir_all(&mountpoint).unwrap();
    let status = Command::new("mount")
        .arg("-o")
        .arg("loop")
        .arg(&image)
        .arg(&mountpoint)
        .status()
        .unwrap();
    assert!(status.success());
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
