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
    let output = Command::new("btrfs")
        .args(["subvolume", "show"])
        .arg(&subvol)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "not a subvolume: {}",
        String::from_utf8_lossy(&output.stderr)
    );
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
