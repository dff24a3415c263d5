//! The VM rig's storages for the snapshot and clone tests: a volume group with a thin pool
//! on the disk with serial `corral-lvm`, a ZFS pool on the partition of the disk with serial
//! `corral-zfs`, each removed by its guard however the test ends, and a storage.cfg naming
//! both (`thin`, `tank`).
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::ct::wait_until;
use crate::common::{TestRoot, skip_visibly};

pub const VG: &str = "corralsnap";
pub const POOL: &str = "corralsnap";

/// Where a tool is: the sbin directories are not on every PATH.
pub fn tool(name: &str) -> PathBuf {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Run a program, requiring success; its stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(tool(program))
        .args(args)
        .env("DM_DISABLE_UDEV", "1")
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The block device of the virtio disk with `serial`.
fn disk_with_serial(serial: &str) -> Option<PathBuf> {
    fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let found = fs::read_to_string(entry.path().join("serial")).ok()?;
            (found.trim() == serial).then(|| Path::new("/dev").join(entry.file_name()))
        })
}

/// A volume group on the rig's LVM disk with a 1 GiB thin pool `pool`; removed with every
/// LV in it when dropped.
pub struct VolumeGroup {
    disk: PathBuf,
}

impl VolumeGroup {
    pub fn new() -> VolumeGroup {
        for module in ["virtio_blk", "dm_mod", "dm_thin_pool", "dm_snapshot"] {
            let _ = Command::new("modprobe").arg(module).status();
        }
        let mut disk = None;
        wait_until(
            "the disk with serial corral-lvm",
            Duration::from_secs(10),
            || {
                disk = disk_with_serial("corral-lvm");
                disk.as_ref().is_some_and(|d| d.exists())
            },
        );
        let disk = disk.unwrap();
        let shown = disk.display().to_string();
        let _ = Command::new(tool("vgremove")).args(["-f", VG]).output();
        run("pvcreate", &["-ff", "-y", &shown]);
        run("vgcreate", &[VG, &shown]);
        run(
            "lvcreate",
            &["--type", "thin-pool", "-L", "1G", "-n", "pool", VG],
        );
        VolumeGroup { disk }
    }

    /// Every LV of the group but the pool's own: name → `lv_attr`.
    pub fn lvs(&self) -> Vec<(String, String)> {
        run(
            "lvs",
            &[
                "--noheadings",
                "--separator",
                ":",
                "-o",
                "lv_name,lv_attr",
                VG,
            ],
        )
        .lines()
        .filter_map(|line| {
            let (name, attr) = line.trim().split_once(':')?;
            Some((name.to_string(), attr.to_string()))
        })
        .filter(|(name, _)| name != "pool")
        .collect()
    }

    /// The LVs whose name mentions container `vmid` (volumes and their snapshots).
    pub fn lvs_of(&self, vmid: u32) -> Vec<String> {
        let infix = format!("-{vmid}-");
        let mut names: Vec<String> = self
            .lvs()
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| name.contains(&infix))
            .collect();
        names.sort();
        names
    }

    pub fn attr(&self, lv: &str) -> String {
        self.lvs()
            .into_iter()
            .find(|(name, _)| name == lv)
            .unwrap_or_else(|| panic!("no LV {lv}: {:?}", self.lvs()))
            .1
    }
}

impl Drop for VolumeGroup {
    fn drop(&mut self) {
        let _ = Command::new(tool("vgremove")).args(["-f", VG]).output();
        let _ = Command::new(tool("pvremove")).arg(&self.disk).output();
    }
}

/// Whether ZFS can be used here; a rig that built the module (`CORRAL_TEST_REQUIRE_ZFS`)
/// fails without it, elsewhere the test says it skipped.
pub fn zfs_available(test: &str) -> bool {
    let usable = Path::new("/dev/zfs").exists()
        && Command::new(tool("zpool"))
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

/// A pool `corralsnap` mounted at `<root>/corralsnap`, on the rig's partition (or a sparse
/// file in the root elsewhere); destroyed when dropped (declare it after its TestRoot).
pub struct Pool;

impl Pool {
    pub fn create(root: &TestRoot) -> Pool {
        let vdev = disk_with_serial("corral-zfs")
            .map(|disk| {
                let mut partition = disk.into_os_string();
                partition.push("1");
                PathBuf::from(partition)
            })
            .unwrap_or_else(|| {
                let file = root.join("zfs-vdev.img");
                fs::File::create(&file).unwrap().set_len(4 << 30).unwrap();
                file
            });
        let _ = Command::new(tool("zpool"))
            .args(["destroy", "-f", POOL])
            .output();
        run(
            "zpool",
            &[
                "create",
                "-f",
                "-o",
                "cachefile=none",
                "-m",
                root.join(POOL).to_str().unwrap(),
                POOL,
                vdev.to_str().unwrap(),
            ],
        );
        Pool
    }

    /// Datasets below the pool (without the pool's name), sorted.
    pub fn datasets(&self) -> Vec<String> {
        self.list("filesystem,volume")
    }

    /// Snapshots in the pool (`dataset@snap`, without the pool's name), sorted.
    pub fn snapshots(&self) -> Vec<String> {
        self.list("snapshot")
    }

    fn list(&self, types: &str) -> Vec<String> {
        let prefix = format!("{POOL}/");
        let mut names: Vec<String> = run(
            "zfs",
            &["list", "-H", "-o", "name", "-t", types, "-r", POOL],
        )
        .lines()
        .filter_map(|name| name.strip_prefix(&prefix).map(str::to_string))
        .collect();
        names.sort();
        names
    }

    pub fn property(&self, dataset: &str, property: &str) -> String {
        run(
            "zfs",
            &[
                "get",
                "-Hp",
                "-o",
                "value",
                property,
                &format!("{POOL}/{dataset}"),
            ],
        )
        .trim()
        .to_string()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = Command::new(tool("zpool"))
            .args(["destroy", "-f", POOL])
            .status();
    }
}

/// A TestRoot whose storage.cfg has `local` (templates) and the thin pool as `thin`.
pub fn root_with_thin() -> TestRoot {
    root_with(&format!(
        "lvmthin: thin\n\tvgname {VG}\n\tthinpool pool\n\tcontent rootdir,images\n"
    ))
}

/// A TestRoot whose storage.cfg has `local` (templates) and the ZFS pool as `tank`.
pub fn root_with_zfs() -> TestRoot {
    root_with(&format!(
        "zfspool: tank\n\tpool {POOL}\n\tmountpoint /{POOL}\n\tcontent rootdir,images\n\tsparse 1\n"
    ))
}

fn root_with(section: &str) -> TestRoot {
    let root = TestRoot::new();
    root.write(
        "etc/pve/storage.cfg",
        &format!("dir: local\n\tpath /var/lib/vz\n\tcontent rootdir,images,vztmpl\n\n{section}"),
    );
    root
}

/// A device or directory mounted with the system's `mount` for the test's own reads and
/// writes (`options` as pct passes them); unmounted when dropped.
pub struct Mounted {
    pub dir: PathBuf,
}

impl Mounted {
    pub fn new(source: &Path, dir: PathBuf, options: &[&str]) -> Mounted {
        fs::create_dir_all(&dir).unwrap();
        let mut args: Vec<&str> = options.to_vec();
        args.push(source.to_str().unwrap());
        args.push(dir.to_str().unwrap());
        run("mount", &args);
        Mounted { dir }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new(tool("umount")).arg(&self.dir).status();
    }
}

/// The lines of one section (`None`: the main one) of a config file.
pub fn section(text: &str, name: Option<&str>) -> Vec<String> {
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

/// A key of one section of a config file.
pub fn value(text: &str, name: Option<&str>, key: &str) -> Option<String> {
    section(text, name)
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")).map(str::to_string))
}

/// A container's config file.
pub fn config(root: &TestRoot, vmid: u32) -> String {
    root.read(&format!("etc/pve/lxc/{vmid}.conf"))
}

/// A refused command: pct's message, exit 255, the config as it was.
pub fn assert_refused(root: &TestRoot, vmid: u32, args: &[&str], message: &str) {
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

/// The contents of `file` in a volume's snapshot, read through the storage library as a
/// full clone reads it: the snapshot made readable, an LV's ext4 mounted as pct mounts
/// snapshots (`ro,noload`: its journal may say "in use"), a ZFS snapshot's directory as it is.
pub fn read_in_snapshot(root: &TestRoot, volume: &str, snap: &str, file: &str) -> String {
    let storage = corral::storage::StorageConfig::load(root.path()).unwrap();
    let volume = corral::storage::VolumeId::parse(volume).unwrap();
    storage.activate_volume_snapshot(&volume, snap).unwrap();
    let path = storage.volume_snapshot_path(&volume, snap).unwrap();
    let text = if path.is_dir() {
        fs::read_to_string(path.join(file)).unwrap()
    } else {
        let mounted = Mounted::new(
            &path,
            root.join("snapshot-view"),
            &["-t", "ext4", "-o", "ro,noload"],
        );
        fs::read_to_string(mounted.dir.join(file)).unwrap()
    };
    storage.deactivate_volume_snapshot(&volume, snap).unwrap();
    text
}
