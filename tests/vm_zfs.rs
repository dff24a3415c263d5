//! `zfspool` storages with a real pool: containers whose volumes are ZFS datasets, made and
//! freed with the `zfs` tool as pve-storage makes them. Those tests need the ZFS module,
//! which the development host lacks: ignored by a plain `cargo test`, run in the VM rig
//! (`tests/vm/run`, which builds the module; the pool goes on the partition of the guest's
//! disk with serial `corral-zfs`), or on any host with ZFS by `cargo test --test vm_zfs --
//! --ignored` as root (the pool then goes on a sparse file). On a host without ZFS, one test
//! checks what a zfspool storage says there.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::ct::Ct;
use common::{TestRoot, busybox_template, skip_visibly};

/// Where `zfs`/`zpool` are: the sbin directories are not on every PATH (the rig's).
fn tool_path(tool: &str) -> PathBuf {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(tool))
        .find(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from(tool))
}

/// Run `zfs`/`zpool`; returns stdout, failing the test on an error.
fn zfs_tool(tool: &str, args: &[&str]) -> String {
    let output = Command::new(tool_path(tool))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(
        output.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Whether ZFS can be used here; without it the test skips, unless the rig built the module
/// (`CORRAL_TEST_REQUIRE_ZFS`), where a missing ZFS is a failure.
fn zfs_available(test: &str) -> bool {
    let usable = Path::new("/dev/zfs").exists()
        && Command::new(tool_path("zpool"))
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !usable {
        assert!(
            std::env::var_os("CORRAL_TEST_REQUIRE_ZFS").is_none(),
            "the rig built ZFS, but /dev/zfs or zpool is missing in the guest"
        );
        skip_visibly(test, "no ZFS here (/dev/zfs, zpool): run it in the VM rig");
    }
    usable
}

/// The rig's partition for pools: the first one of the virtio disk with serial `corral-zfs`
/// (a whole disk would make zpool label it and wait for udev, which the guest lacks).
fn rig_partition() -> Option<PathBuf> {
    fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let serial = fs::read_to_string(entry.path().join("serial")).ok()?;
            let mut partition = entry.file_name();
            partition.push("1");
            (serial.trim() == "corral-zfs").then(|| Path::new("/dev").join(partition))
        })
}

/// A pool made for one test and destroyed however the test ends (before its TestRoot goes,
/// so declare it after the root).
struct Pool {
    name: String,
}

impl Pool {
    /// A pool mounted at `<root>/<name>`: on the rig's partition, or on a sparse file in the
    /// root.
    fn create(root: &TestRoot, name: &str) -> Pool {
        let vdev = rig_partition().unwrap_or_else(|| {
            let file = root.join("zfs-vdev.img");
            fs::File::create(&file).unwrap().set_len(1 << 30).unwrap();
            file
        });
        let mountpoint = root.join(name);
        zfs_tool(
            "zpool",
            &[
                "create",
                "-f",
                "-o",
                "cachefile=none",
                "-m",
                mountpoint.to_str().unwrap(),
                name,
                vdev.to_str().unwrap(),
            ],
        );
        Pool {
            name: name.to_string(),
        }
    }

    /// The pool's datasets below its root, by name.
    fn datasets(&self) -> Vec<String> {
        zfs_tool(
            "zfs",
            &[
                "list",
                "-H",
                "-o",
                "name",
                "-t",
                "filesystem,volume",
                "-r",
                &self.name,
            ],
        )
        .lines()
        .filter(|name| *name != self.name)
        .map(str::to_string)
        .collect()
    }

    fn property(&self, dataset: &str, property: &str) -> String {
        zfs_tool(
            "zfs",
            &[
                "get",
                "-Hp",
                "-o",
                "value",
                property,
                &format!("{}/{dataset}", self.name),
            ],
        )
        .trim()
        .to_string()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = Command::new(tool_path("zpool"))
            .args(["destroy", "-f", &self.name])
            .status();
    }
}

/// A TestRoot whose storage.cfg has `local` and a zfspool storage `tank` on `pool`.
fn root_with_zfspool(pool: &str) -> TestRoot {
    let root = TestRoot::new();
    root.write(
        "etc/pve/storage.cfg",
        &format!(
            "dir: local\n\tpath /var/lib/vz\n\tcontent rootdir,images,vztmpl\n\n\
             zfspool: tank\n\tpool {pool}\n\tmountpoint /{pool}\n\tcontent rootdir,images\n\tsparse 1\n"
        ),
    );
    root
}

#[test]
#[ignore = "needs ZFS: run in the VM rig (tests/vm/run)"]
fn container_on_zfspool_lives_in_datasets_and_leaves_none() {
    if !zfs_available("container_on_zfspool_lives_in_datasets_and_leaves_none") {
        return;
    }
    let pool_name = "corral10100";
    let root = root_with_zfspool(pool_name);
    let pool = Pool::create(&root, pool_name);
    let template = root.install_template(&busybox_template());
    let ct = Ct {
        root: &root,
        vmid: 10100,
    };
    root.pct_ok(&[
        "create",
        "10100",
        &template,
        "--rootfs",
        "tank:1",
        "--mp0",
        "tank:0,mp=/data",
        "--unprivileged",
        "1",
    ]);
    let config = root.pct_ok(&["config", "10100"]);
    assert!(
        config.contains("rootfs: tank:subvol-10100-disk-0,size=1G"),
        "{config}"
    );
    assert!(
        config.contains("mp0: tank:subvol-10100-disk-1,mp=/data"),
        "{config}"
    );

    // Datasets as pve-storage makes them: refquota = size (none for size 0), POSIX ACLs,
    // xattrs in the dnode; the root of each is the container's root.
    assert_eq!(
        pool.datasets(),
        [
            format!("{pool_name}/subvol-10100-disk-0"),
            format!("{pool_name}/subvol-10100-disk-1")
        ]
    );
    assert_eq!(
        pool.property("subvol-10100-disk-0", "refquota"),
        "1073741824"
    );
    assert_eq!(pool.property("subvol-10100-disk-1", "refquota"), "0");
    assert_eq!(pool.property("subvol-10100-disk-0", "acltype"), "posix");
    assert_eq!(pool.property("subvol-10100-disk-0", "xattr"), "sa");
    let rootfs = root.join(&format!("{pool_name}/subvol-10100-disk-0"));
    let data = root.join(&format!("{pool_name}/subvol-10100-disk-1"));
    for dir in [&rootfs, &data] {
        let meta = fs::metadata(dir).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (100000, 100000),
            "{}",
            dir.display()
        );
    }
    assert!(
        rootfs.join("bin/busybox").exists(),
        "template unpacked into the dataset"
    );

    // Start, write to both volumes from inside, stop: the data is in the datasets.
    root.pct_ok(&["start", "10100"]);
    assert_eq!(ct.status(), "status: running");
    ct.exec_ok("echo on-rootfs > /root-file && echo on-mp > /data/mp-file && sync");
    let df = ct.exec_ok("df -kP / | tail -n 1");
    let size_kib: u64 = df.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(
        (1000 * 1024..=1024 * 1024).contains(&size_kib),
        "the rootfs shows its quota: {df}"
    );
    root.pct_ok(&["stop", "10100"]);
    ct.assert_nothing_left();
    assert_eq!(
        fs::read_to_string(rootfs.join("root-file")).unwrap(),
        "on-rootfs\n"
    );
    assert_eq!(fs::read_to_string(data.join("mp-file")).unwrap(), "on-mp\n");
    assert_eq!(
        fs::metadata(rootfs.join("root-file")).unwrap().uid(),
        100000
    );

    // pct mount shows both volumes at the mount path; unmount takes them away again.
    root.pct_ok(&["mount", "10100"]);
    let mounted = root.join("var/lib/lxc/10100/rootfs");
    assert_eq!(
        fs::read_to_string(mounted.join("data/mp-file")).unwrap(),
        "on-mp\n"
    );
    assert_eq!(
        fs::read_to_string(mounted.join("root-file")).unwrap(),
        "on-rootfs\n"
    );
    root.pct_ok(&["unmount", "10100"]);
    assert!(!mounted.join("root-file").exists());

    // Destroy frees both datasets.
    root.pct_ok(&["destroy", "10100"]);
    assert_eq!(pool.datasets(), Vec::<String>::new());
    assert!(!root.join("etc/pve/lxc/10100.conf").exists());
}

#[test]
#[ignore = "needs ZFS: run in the VM rig (tests/vm/run)"]
fn zfspool_volumes_list_resize_rename_snapshot_and_free() {
    use corral::storage::{StorageConfig, VolumeFormat, VolumeId};
    if !zfs_available("zfspool_volumes_list_resize_rename_snapshot_and_free") {
        return;
    }
    let pool_name = "corral10101";
    let root = root_with_zfspool(pool_name);
    let pool = Pool::create(&root, pool_name);
    let storage = StorageConfig::load(root.path()).unwrap();

    let volid = storage
        .alloc_disk_owned("tank", 10101, 512 << 20, (100000, 100000))
        .unwrap();
    assert_eq!(volid.to_string(), "tank:subvol-10101-disk-0");
    let path = root.join(&format!("{pool_name}/subvol-10101-disk-0"));
    assert_eq!(storage.volume_path(&volid).unwrap(), path);
    assert_eq!(fs::metadata(&path).unwrap().uid(), 100000);
    assert_eq!(
        storage.list_volumes(10101).unwrap(),
        [(volid.clone(), VolumeFormat::Subvol)]
    );
    assert_eq!(storage.volume_size(&volid).unwrap(), 512 << 20);

    // Resize sets the quota.
    storage.resize_volume(&volid, 1 << 30).unwrap();
    assert_eq!(
        pool.property("subvol-10101-disk-0", "refquota"),
        "1073741824"
    );
    assert_eq!(storage.volume_size(&volid).unwrap(), 1 << 30);

    // A snapshot keeps the quota it was taken with; rollback brings back data and quota.
    fs::write(path.join("file"), "before").unwrap();
    storage.volume_snapshot(&volid, "s1").unwrap();
    fs::write(path.join("file"), "after").unwrap();
    storage.resize_volume(&volid, 2 << 30).unwrap();
    storage.volume_rollback(&volid, "s1").unwrap();
    storage.activate_volume(&volid).unwrap();
    assert_eq!(fs::read_to_string(path.join("file")).unwrap(), "before");
    assert_eq!(storage.volume_size(&volid).unwrap(), 1 << 30);
    storage.volume_snapshot_delete(&volid, "s1").unwrap();

    // Rename hands the volume to another container, refusing a taken name.
    let other = storage.alloc_disk_owned("tank", 10102, 0, (0, 0)).unwrap();
    assert_eq!(storage.volume_size(&other).unwrap(), 0, "size 0: no quota");
    let taken = storage
        .rename_volume(&volid, 10102, Some("subvol-10102-disk-0"))
        .unwrap_err();
    assert_eq!(
        taken.to_string(),
        "target volume 'subvol-10102-disk-0' already exists"
    );
    let renamed = storage.rename_volume(&volid, 10102, None).unwrap();
    assert_eq!(renamed.to_string(), "tank:subvol-10102-disk-1");
    assert!(storage.list_volumes(10101).unwrap().is_empty());
    assert_eq!(
        storage
            .list_volumes(10102)
            .unwrap()
            .into_iter()
            .map(|(v, _)| v.to_string())
            .collect::<Vec<_>>(),
        ["tank:subvol-10102-disk-0", "tank:subvol-10102-disk-1"]
    );
    let status = storage.storage_status("tank").unwrap().expect("active");
    assert!(status.total > 0 && status.total == status.available + status.used);

    // Free destroys; freeing what is gone is no error.
    for volume in [&renamed, &other] {
        storage.free_volume(volume).unwrap();
    }
    storage
        .free_volume(&VolumeId::parse("tank:subvol-10102-disk-1").unwrap())
        .unwrap();
    assert_eq!(pool.datasets(), Vec::<String>::new());
}

/// On a host without ZFS (this development host), a zfspool storage gives pct's caller the
/// package to install, and the failed create leaves no config behind.
#[test]
fn without_zfs_create_names_the_package_and_leaves_nothing() {
    if tool_path("zpool").is_absolute() {
        skip_visibly(
            "without_zfs_create_names_the_package_and_leaves_nothing",
            "ZFS is installed here",
        );
        return;
    }
    let root = root_with_zfspool("corral10102");
    let template = root.install_template(&busybox_template());
    let (code, _, stderr) = root.pct(&["create", "10102", &template, "--rootfs", "tank:1"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains(
            "could not activate storage 'tank', zpool not found - install the package \
             'zfsutils-linux'"
        ),
        "{stderr}"
    );
    assert!(!root.join("etc/pve/lxc/10102.conf").exists());
    assert!(!root.join("corral10102").exists());
}
