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
            // Sparse; room for a volume grown to 2 GiB, as on the rig's disk.
            fs::File::create(&file).unwrap().set_len(4 << 30).unwrap();
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

/// The line of `key` in the container's config file (its current section).
fn config_line(root: &TestRoot, vmid: u32, key: &str) -> Option<String> {
    fs::read_to_string(root.join(&format!("etc/pve/lxc/{vmid}.conf")))
        .unwrap()
        .lines()
        .take_while(|line| !line.starts_with('['))
        .find_map(|line| line.strip_prefix(&format!("{key}: ")).map(str::to_string))
}

/// The size `df` shows inside the running container for `dir`, in KiB.
fn df_kib(ct: &Ct, dir: &str) -> u64 {
    let df = ct.exec_ok(&format!("df -kP {dir} | tail -n 1"));
    df.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Data whose content, owners, modes and links a move must keep; owners are host ids of an
/// unprivileged container (its root is 100000 on the host).
fn fill(dir: &Path) {
    use std::os::unix::fs::{PermissionsExt, chown, lchown, symlink};
    let data: Vec<u8> = (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(dir.join("random.bin"), &data).unwrap();
    fs::write(dir.join("linked"), b"one inode, two names\n").unwrap();
    fs::hard_link(dir.join("linked"), dir.join("linked-too")).unwrap();
    symlink("/etc/does-not-matter", dir.join("symlink")).unwrap();
    lchown(dir.join("symlink"), Some(100_000), Some(100_000)).unwrap();
    fs::create_dir(dir.join("owned")).unwrap();
    fs::write(dir.join("owned/file"), b"a user's file in the container\n").unwrap();
    chown(dir.join("owned/file"), Some(101_234), Some(105_678)).unwrap();
    chown(dir.join("owned"), Some(100_000), Some(100_000)).unwrap();
    fs::set_permissions(dir.join("owned/file"), fs::Permissions::from_mode(0o640)).unwrap();
    for file in ["random.bin", "linked"] {
        chown(dir.join(file), Some(100_000), Some(100_000)).unwrap();
    }
}

/// Every entry below `dir` with its type, mode, owner, link count, size and content hash
/// (`sha256sum`), sorted; the root directory's own owner and mode come first.
fn tree_checksum(dir: &Path) -> String {
    let top = fs::metadata(dir).unwrap();
    let mut lines = vec![format!(
        ". mode={:o} owner={}:{}",
        top.mode(),
        top.uid(),
        top.gid()
    )];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(dir).unwrap().display().to_string();
            if relative == "lost+found" {
                continue;
            }
            let meta = fs::symlink_metadata(&path).unwrap();
            let kind = meta.file_type();
            let content = if kind.is_file() {
                let out = Command::new("sha256sum").arg(&path).output().unwrap();
                assert!(out.status.success(), "sha256sum {}", path.display());
                String::from_utf8_lossy(&out.stdout)
                    .split(' ')
                    .next()
                    .unwrap()
                    .to_string()
            } else if kind.is_symlink() {
                fs::read_link(&path).unwrap().display().to_string()
            } else {
                String::new()
            };
            if kind.is_dir() {
                stack.push(path.clone());
            }
            lines.push(format!(
                "{relative} mode={:o} owner={}:{} links={} size={} {content}",
                meta.mode(),
                meta.uid(),
                meta.gid(),
                if kind.is_dir() { 0 } else { meta.nlink() },
                if kind.is_dir() { 0 } else { meta.len() },
            ));
        }
    }
    lines.sort();
    lines.join("\n")
}

/// `look` at the container's volumes mounted by `pct mount`, unmounted however it ends.
fn with_mounted<T>(root: &TestRoot, vmid: u32, look: impl FnOnce(&Path) -> T) -> T {
    let id = vmid.to_string();
    root.pct_ok(&["mount", &id]);
    let rootfs = root.join(&format!("var/lib/lxc/{vmid}/rootfs"));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| look(&rootfs)));
    root.pct_ok(&["unmount", &id]);
    match result {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Run pct and say how long it took: the rig's figures (TCG) come from these lines.
fn timed_pct_ok(root: &TestRoot, args: &[&str]) -> String {
    let started = std::time::Instant::now();
    let out = root.pct_ok(args);
    timing(&format!("pct {}", args.join(" ")), started);
    out
}

/// A timing line on the test's stderr itself, which the harness does not capture, so that
/// the rig's console shows it for passing tests too.
fn timing(what: &str, started: std::time::Instant) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "timing: {what}: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Mounts below the test's host root other than the pool's datasets: what a command may
/// have left mounted.
fn mounts_outside_pool(root: &TestRoot, pool: &str) -> Vec<PathBuf> {
    let pool_root = root.join(pool);
    root.mounts_below()
        .into_iter()
        .filter(|mount| !mount.starts_with(&pool_root))
        .collect()
}

const MIB: u64 = 1 << 20;

#[test]
#[ignore = "needs ZFS: run in the VM rig (tests/vm/run)"]
fn resize_on_zfspool_grows_the_quota_running_and_stopped() {
    if !zfs_available("resize_on_zfspool_grows_the_quota_running_and_stopped") {
        return;
    }
    let pool_name = "corral10110";
    let root = root_with_zfspool(pool_name);
    let pool = Pool::create(&root, pool_name);
    let template = root.install_template(&busybox_template());
    let ct = Ct {
        root: &root,
        vmid: 10110,
    };
    timed_pct_ok(
        &root,
        &[
            "create",
            "10110",
            &template,
            "--rootfs",
            "tank:1",
            "--unprivileged",
            "1",
        ],
    );
    let dataset = "subvol-10110-disk-0";

    // Online: the quota grows and the container's df follows at once.
    timed_pct_ok(&root, &["start", "10110"]);
    assert!(df_kib(&ct, "/") <= 1024 * 1024);
    timed_pct_ok(&root, &["resize", "10110", "rootfs", "+512M"]);
    assert_eq!(pool.property(dataset, "refquota"), (1536 * MIB).to_string());
    assert_eq!(
        config_line(&root, 10110, "rootfs").unwrap(),
        "tank:subvol-10110-disk-0,size=1536M"
    );
    let online = df_kib(&ct, "/");
    assert!(
        (1500 * 1024..=1536 * 1024).contains(&online),
        "df inside shows the new quota: {online} KiB"
    );
    ct.exec_ok("echo still-here > /after-resize");

    // Refused: smaller than now, in pct's words, and nothing changes.
    let config_before = fs::read_to_string(root.join("etc/pve/lxc/10110.conf")).unwrap();
    for (size, message) in [
        ("1G", "unable to shrink disk size"),
        ("1536M", "disk is already at specified size"),
        (
            "2X",
            "400 Parameter verification failed.\nsize: value does not match the regex pattern",
        ),
    ] {
        let (code, _, stderr) = root.pct(&["resize", "10110", "rootfs", size]);
        assert_ne!(code, 0, "resize to {size}");
        assert!(stderr.contains(message), "resize to {size}: {stderr}");
        assert_eq!(
            fs::read_to_string(root.join("etc/pve/lxc/10110.conf")).unwrap(),
            config_before
        );
        assert_eq!(pool.property(dataset, "refquota"), (1536 * MIB).to_string());
    }

    // Offline: the quota grows the same way; the data stays.
    timed_pct_ok(&root, &["stop", "10110"]);
    timed_pct_ok(&root, &["resize", "10110", "rootfs", "+512M"]);
    assert_eq!(pool.property(dataset, "refquota"), (2048 * MIB).to_string());
    assert_eq!(
        config_line(&root, 10110, "rootfs").unwrap(),
        "tank:subvol-10110-disk-0,size=2G"
    );
    timed_pct_ok(&root, &["start", "10110"]);
    let offline = df_kib(&ct, "/");
    assert!(
        (2000 * 1024..=2048 * 1024).contains(&offline),
        "df inside shows the new quota: {offline} KiB"
    );
    assert_eq!(ct.exec_ok("cat /after-resize"), "still-here\n");
    timed_pct_ok(&root, &["stop", "10110"]);
    ct.assert_nothing_left();

    timed_pct_ok(&root, &["destroy", "10110"]);
    assert_eq!(pool.datasets(), Vec::<String>::new());
}

#[test]
#[ignore = "needs ZFS: run in the VM rig (tests/vm/run)"]
fn move_volume_zfspool_to_dir_and_back_keeps_data_and_owners() {
    if !zfs_available("move_volume_zfspool_to_dir_and_back_keeps_data_and_owners") {
        return;
    }
    let pool_name = "corral10111";
    let root = root_with_zfspool(pool_name);
    let pool = Pool::create(&root, pool_name);
    let template = root.install_template(&busybox_template());
    let ct = Ct {
        root: &root,
        vmid: 10111,
    };
    timed_pct_ok(
        &root,
        &[
            "create",
            "10111",
            &template,
            "--rootfs",
            "tank:1",
            "--mp0",
            "tank:0,mp=/data",
            "--unprivileged",
            "1",
        ],
    );
    let rootfs_dataset = root.join(&format!("{pool_name}/subvol-10111-disk-0"));
    let data_dataset = root.join(&format!("{pool_name}/subvol-10111-disk-1"));

    // Refused in pct's words, with nothing changed: a storage without `rootdir` content,
    // and a running container.
    let cfg = fs::read_to_string(root.join("etc/pve/storage.cfg")).unwrap();
    root.write(
        "etc/pve/storage.cfg",
        &format!("{cfg}\ndir: isos\n\tpath /srv/isos\n\tcontent iso\n"),
    );
    let config_path = root.join("etc/pve/lxc/10111.conf");
    let config_before = fs::read_to_string(&config_path).unwrap();
    let datasets_before = pool.datasets();
    let refused = |args: &[&str], message: &str| {
        let (code, stdout, stderr) = root.pct(args);
        assert_ne!(code, 0, "{args:?}: {stdout}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert_eq!(fs::read_to_string(&config_path).unwrap(), config_before);
        assert_eq!(pool.datasets(), datasets_before);
        assert!(!root.join("srv/isos/images").exists());
        assert!(!root.join("var/lib/vz/images/10111").exists());
    };
    refused(
        &["move-volume", "10111", "rootfs", "isos"],
        "content type 'rootdir' is not available or configured on storage 'isos'",
    );
    root.pct_ok(&["start", "10111"]);
    refused(
        &["move-volume", "10111", "mp0", "local"],
        "cannot move volumes of a running container",
    );
    root.pct_ok(&["stop", "10111"]);

    fill(&rootfs_dataset.join("root"));
    fill(&data_dataset);
    let rootfs_sum = tree_checksum(&rootfs_dataset);
    let data_sum = tree_checksum(&data_dataset);
    let root_home_sum = tree_checksum(&rootfs_dataset.join("root"));
    assert!(
        rootfs_sum.contains("owned/file mode=100640 owner=101234:105678"),
        "{rootfs_sum}"
    );

    // To dir: a volume with a quota becomes a raw image of that size, one without a
    // directory (pve-storage's choice by size); the rootfs's dataset is kept as unused0,
    // mp0's goes with --delete.
    timed_pct_ok(&root, &["move-volume", "10111", "rootfs", "local"]);
    timed_pct_ok(&root, &["move-volume", "10111", "mp0", "local", "--delete"]);
    let rootfs_line = config_line(&root, 10111, "rootfs").unwrap();
    let mp0_line = config_line(&root, 10111, "mp0").unwrap();
    assert_eq!(rootfs_line, "local:10111/vm-10111-disk-0.raw,size=1G");
    assert_eq!(
        mp0_line,
        "local:10111/subvol-10111-disk-1.subvol,mp=/data,size=0T"
    );
    assert_eq!(
        config_line(&root, 10111, "unused0").unwrap(),
        "tank:subvol-10111-disk-0"
    );
    assert_eq!(config_line(&root, 10111, "unused1"), None);
    assert_eq!(config_line(&root, 10111, "lock"), None);
    assert_eq!(
        pool.datasets(),
        [format!("{pool_name}/subvol-10111-disk-0")],
        "the rootfs's dataset kept, mp0's freed"
    );
    let image = root.join("var/lib/vz/images/10111/vm-10111-disk-0.raw");
    assert_eq!(fs::metadata(&image).unwrap().len(), 1 << 30);
    with_mounted(&root, 10111, |rootfs| {
        assert_eq!(tree_checksum(&rootfs.join("data")), data_sum);
        assert_eq!(tree_checksum(&rootfs.join("root")), root_home_sum);
        assert!(rootfs.join("bin/busybox").is_file());
    });

    // Back to zfspool, deleting the dir copies: new datasets with the quotas the volumes had.
    timed_pct_ok(
        &root,
        &["move-volume", "10111", "rootfs", "tank", "--delete"],
    );
    timed_pct_ok(&root, &["move-volume", "10111", "mp0", "tank", "--delete"]);
    assert_eq!(
        config_line(&root, 10111, "rootfs").unwrap(),
        "tank:subvol-10111-disk-1,size=1G"
    );
    assert!(
        config_line(&root, 10111, "mp0")
            .unwrap()
            .starts_with("tank:subvol-10111-disk-2,mp=/data"),
    );
    assert!(!image.exists(), "the raw image went with --delete");
    assert!(
        !root
            .join("var/lib/vz/images/10111/subvol-10111-disk-1.subvol")
            .exists()
    );
    assert_eq!(
        pool.property("subvol-10111-disk-1", "refquota"),
        (1u64 << 30).to_string()
    );
    assert_eq!(pool.property("subvol-10111-disk-2", "refquota"), "0");
    let rootfs_dataset = root.join(&format!("{pool_name}/subvol-10111-disk-1"));
    let data_dataset = root.join(&format!("{pool_name}/subvol-10111-disk-2"));
    assert_eq!(tree_checksum(&data_dataset), data_sum);
    assert_eq!(tree_checksum(&rootfs_dataset), rootfs_sum);

    // The container runs from the moved volumes and sees its own ids.
    timed_pct_ok(&root, &["start", "10111"]);
    assert_eq!(
        ct.exec_ok("stat -c '%u:%g' /data/owned/file /root/owned/file"),
        "1234:5678\n1234:5678\n"
    );
    ct.exec_ok("sha256sum /data/random.bin");
    timed_pct_ok(&root, &["stop", "10111"]);
    ct.assert_nothing_left();

    // Destroy frees the datasets, unused0's too, and leaves no image or loop device.
    timed_pct_ok(&root, &["destroy", "10111"]);
    assert_eq!(pool.datasets(), Vec::<String>::new());
    assert_eq!(
        common::loop_devices_below(root.path()),
        Vec::<String>::new()
    );
    assert_eq!(mounts_outside_pool(&root, pool_name), Vec::<PathBuf>::new());
}

#[test]
#[ignore = "needs ZFS: run in the VM rig (tests/vm/run)"]
fn fstrim_on_zfspool_runs_as_pct_and_leaves_no_lock() {
    if !zfs_available("fstrim_on_zfspool_runs_as_pct_and_leaves_no_lock") {
        return;
    }
    let pool_name = "corral10112";
    let root = root_with_zfspool(pool_name);
    let pool = Pool::create(&root, pool_name);
    let template = root.install_template(&busybox_template());
    let ct = Ct {
        root: &root,
        vmid: 10112,
    };
    root.pct_ok(&[
        "create",
        "10112",
        &template,
        "--rootfs",
        "tank:1",
        "--mp0",
        "tank:1,mp=/data",
        "--unprivileged",
        "1",
    ]);
    // pct runs fstrim on every volume and ignores what fstrim says: on a dataset, either the
    // bytes trimmed or that the file system cannot discard.
    let check = |output: &str, stderr: &str| {
        for inside in ["", "data"] {
            let path = format!(
                "{}/{inside}",
                root.join("var/lib/lxc/10112/rootfs").display()
            );
            let trimmed = output
                .lines()
                .any(|l| l.starts_with(&format!("{path}: ")) && l.ends_with(" trimmed"));
            let unsupported =
                stderr.contains(&format!("{path}: the discard operation is not supported"));
            assert!(trimmed || unsupported, "{path}:\n{output}\n{stderr}");
        }
        assert_eq!(config_line(&root, 10112, "lock"), None);
    };
    for running in [false, true] {
        if running {
            root.pct_ok(&["start", "10112"]);
        }
        let started = std::time::Instant::now();
        let (code, stdout, stderr) = root.pct(&["fstrim", "10112"]);
        timing(&format!("pct fstrim (running: {running})"), started);
        assert_eq!(code, 0, "{stdout}{stderr}");
        eprintln!("fstrim said:\n{stdout}{stderr}");
        check(&stdout, &stderr);
    }
    root.pct_ok(&["stop", "10112"]);
    ct.assert_nothing_left();
    assert_eq!(mounts_outside_pool(&root, pool_name), Vec::<PathBuf>::new());
    root.pct_ok(&["destroy", "10112"]);
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
