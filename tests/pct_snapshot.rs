//! `pct listsnapshot` and `pct config --snapshot` on a config written by hand, as pct would
//! have written it after snapshots, a rollback and a delete. No container starts: the CTIDs
//! of the 105xx range (10500-10519) are this file's.

mod common;

use std::process::Command;

use common::{TestRoot, pct_binary};

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
