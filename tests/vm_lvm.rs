//! `lvmthin` and `lvm` storages for real: a volume group on the VM rig's second disk (serial
//! `corral-lvm`), a thin pool in it, and containers created, started, mounted and destroyed
//! on both. They need LVM, device-mapper and a blank disk, so they are ignored by a plain
//! `cargo test` and run in the VM rig (`VM_TESTS=vm_lvm tests/vm/run`).

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::ct::{Ct, wait_until};
use common::{TestRoot, busybox_template};
use corral::storage::{StorageConfig, VolumeFormat};

const VG: &str = "corraltest";

/// Run a program, requiring success; its stdout.
fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The rig's blank disk for LVM, found by its serial.
fn lvm_disk() -> PathBuf {
    for module in ["virtio_blk", "dm_mod", "dm_thin_pool"] {
        let _ = Command::new("modprobe").arg(module).status();
    }
    let mut found = None;
    wait_until(
        "the disk with serial corral-lvm",
        Duration::from_secs(10),
        || {
            found = fs::read_dir("/sys/block").ok().and_then(|entries| {
                entries.flatten().find_map(|entry| {
                    let serial = fs::read_to_string(entry.path().join("serial")).ok()?;
                    (serial.trim() == "corral-lvm")
                        .then(|| Path::new("/dev").join(entry.file_name()))
                })
            });
            found.as_ref().is_some_and(|dev| dev.exists())
        },
    );
    found.unwrap()
}

/// A volume group `corraltest` on the rig's disk with a thin pool `pool`; removed with
/// every LV in it when the test ends, however it ends.
struct VolumeGroup {
    disk: PathBuf,
}

impl VolumeGroup {
    fn new() -> VolumeGroup {
        let disk = lvm_disk();
        let shown = disk.display().to_string();
        // A previous test's group, if its guard could not remove it.
        let _ = Command::new("vgremove").args(["-f", VG]).output();
        run("pvcreate", &["-ff", "-y", &shown]);
        run("vgcreate", &[VG, &shown]);
        run(
            "lvcreate",
            &["--type", "thin-pool", "-L", "1G", "-n", "pool", VG],
        );
        VolumeGroup { disk }
    }

    /// `lvs` of the group: name → attributes.
    fn lvs(&self) -> Vec<(String, String, String)> {
        run(
            "lvs",
            &[
                "--noheadings",
                "--separator",
                ":",
                "-o",
                "lv_name,lv_attr,lv_tags",
                VG,
            ],
        )
        .lines()
        .filter_map(|line| {
            let mut fields = line.trim().split(':');
            Some((
                fields.next()?.to_string(),
                fields.next()?.to_string(),
                fields.next().unwrap_or("").to_string(),
            ))
        })
        .collect()
    }

    fn lv(&self, name: &str) -> Option<(String, String)> {
        self.lvs()
            .into_iter()
            .find(|(lv, _, _)| lv == name)
            .map(|(_, attr, tags)| (attr, tags))
    }

    fn active(&self, name: &str) -> bool {
        self.lv(name)
            .unwrap_or_else(|| panic!("no LV {name}: {:?}", self.lvs()))
            .0
            .chars()
            .nth(4)
            == Some('a')
    }

    /// The LVs of container `vmid`.
    fn volumes_of(&self, vmid: u32) -> Vec<String> {
        let prefix = format!("vm-{vmid}-");
        self.lvs()
            .into_iter()
            .map(|(name, _, _)| name)
            .filter(|name| name.starts_with(&prefix))
            .collect()
    }
}

impl Drop for VolumeGroup {
    fn drop(&mut self) {
        let _ = Command::new("vgremove").args(["-f", VG]).output();
        let _ = Command::new("pvremove").arg(&self.disk).output();
    }
}

fn storage_cfg(root: &TestRoot) {
    root.write(
        "etc/pve/storage.cfg",
        &format!(
            "dir: local\n\tpath /var/lib/vz\n\tcontent vztmpl\n\n\
             lvmthin: thin\n\tvgname {VG}\n\tthinpool pool\n\tcontent rootdir,images\n\n\
             lvm: thick\n\tvgname {VG}\n\tcontent rootdir,images\n\tsaferemove 1\n\n\
             lvm: vmonly\n\tvgname {VG}\n\n\
             dir: dirct\n\tpath /srv/dirct\n\tcontent rootdir,images\n"
        ),
    );
}

/// Loop devices backed by anything: a volume on an LV is mounted from its device directly.
fn loop_devices() -> Vec<String> {
    fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("loop"))
        .filter(|e| e.path().join("loop/backing_file").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Everything pct does with a container's volumes, on storage `storage`: create (the rootfs
/// on the storage), `pct set` allocating a mount point, start with data written, stop,
/// `pct mount`/`unmount`, `pct df`, freeing an unused volume, destroy.
fn container_lifecycle(vg: &VolumeGroup, storage: &str, vmid: u32, thin: bool) {
    let root = TestRoot::new();
    storage_cfg(&root);
    let template = root.install_template(&busybox_template());
    let id = vmid.to_string();
    let ct = Ct { root: &root, vmid };
    root.pct_ok(&[
        "create",
        &id,
        &template,
        "--rootfs",
        &format!("{storage}:0.5"),
        "--unprivileged",
        if thin { "1" } else { "0" },
    ]);
    let config = root.pct_ok(&["config", &id]);
    let rootfs_lv = format!("vm-{vmid}-disk-0");
    assert!(
        config.contains(&format!("rootfs: {storage}:{rootfs_lv},size=512M")),
        "{config}"
    );
    let (attr, tags) = vg.lv(&rootfs_lv).expect("the rootfs LV");
    if thin {
        assert!(attr.starts_with('V'), "a thin volume: {attr}");
    } else {
        assert!(attr.starts_with('-'), "a plain volume: {attr}");
        assert_eq!(tags, format!("pve-vm-{vmid}"));
        assert!(!vg.active(&rootfs_lv), "deactivated after create");
    }

    root.pct_ok(&["set", &id, "--mp0", &format!("{storage}:0.125,mp=/data")]);
    let mp_lv = format!("vm-{vmid}-disk-1");
    assert!(
        root.pct_ok(&["config", &id])
            .contains(&format!("mp0: {storage}:{mp_lv},mp=/data,size=128M")),
        "{}",
        root.pct_ok(&["config", &id])
    );

    root.pct_ok(&["start", &id]);
    ct.wait_for_status("running", Duration::from_secs(30));
    ct.exec_ok("echo on-rootfs > /root/file && echo on-mp > /data/file && sync");
    let mounts = ct.exec_ok("cat /proc/mounts");
    assert!(
        mounts
            .lines()
            .any(|l| l.starts_with(&format!("/dev/{VG}/{rootfs_lv} / ext4 "))),
        "the LV itself is the root:\n{mounts}"
    );
    assert_eq!(loop_devices(), Vec::<String>::new(), "no loop device");
    assert!(vg.active(&rootfs_lv) && vg.active(&mp_lv));
    root.pct_ok(&["stop", &id]);
    if !thin {
        assert!(!vg.active(&rootfs_lv), "deactivated after stop");
        assert!(!vg.active(&mp_lv), "deactivated after stop");
    }

    let df = root.pct_ok(&["df", &id]);
    assert!(df.contains("rootfs") && df.contains("mp0"), "{df}");
    root.pct_ok(&["mount", &id]);
    let rootfs = root.join(&format!("var/lib/lxc/{vmid}/rootfs"));
    assert_eq!(
        fs::read_to_string(rootfs.join("root/file")).unwrap(),
        "on-rootfs\n"
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("data/file")).unwrap(),
        "on-mp\n"
    );
    root.pct_ok(&["unmount", &id]);
    if !thin {
        assert!(!vg.active(&rootfs_lv), "deactivated after unmount");
    }

    // A detached mount point becomes unused0; deleting that frees the LV.
    root.pct_ok(&["set", &id, "--delete", "mp0"]);
    assert!(
        root.pct_ok(&["config", &id])
            .contains(&format!("unused0: {storage}:{mp_lv}"))
    );
    assert!(vg.lv(&mp_lv).is_some());
    root.pct_ok(&["set", &id, "--delete", "unused0"]);
    assert_eq!(vg.lv(&mp_lv), None, "freed: {:?}", vg.lvs());

    root.pct_ok(&["destroy", &id]);
    assert_eq!(vg.volumes_of(vmid), Vec::<String>::new());
    assert!(
        !vg.lvs().iter().any(|(name, _, _)| name.starts_with("del-")),
        "saferemove left {:?}",
        vg.lvs()
    );
    assert_eq!(loop_devices(), Vec::<String>::new(), "no loop device");
    assert!(vg.lv("pool").is_some(), "the pool stays");
    storage_level_operations(vg, &root, storage, vmid, thin);
}

/// What the storage does below pct's commands, through the library: list, grow (the LV
/// only), hand a volume to another container, free.
fn storage_level_operations(
    vg: &VolumeGroup,
    root: &TestRoot,
    storage: &str,
    vmid: u32,
    thin: bool,
) {
    let config = StorageConfig::load(root.path()).unwrap();
    // `vmonly` is the same volume group as `thick`, so it lists the same LVs, as in PVE.
    let listed = |vmid| -> Vec<_> {
        config
            .list_volumes(vmid)
            .unwrap()
            .into_iter()
            .filter(|(volid, _)| volid.storage == storage)
            .collect()
    };
    let volid = config.alloc_disk(storage, vmid, 64 << 20).unwrap();
    assert_eq!(volid.to_string(), format!("{storage}:vm-{vmid}-disk-0"));
    assert_eq!(listed(vmid), [(volid.clone(), VolumeFormat::Raw)]);
    assert_eq!(config.volume_size(&volid).unwrap(), 64 << 20);
    config.resize_volume(&volid, 96 << 20).unwrap();
    assert_eq!(config.volume_size(&volid).unwrap(), 96 << 20);

    let target = vmid + 50;
    let moved = config.rename_volume(&volid, target, None).unwrap();
    assert_eq!(moved.to_string(), format!("{storage}:vm-{target}-disk-0"));
    assert_eq!(vg.volumes_of(vmid), Vec::<String>::new());
    let (_, tags) = vg.lv(&format!("vm-{target}-disk-0")).expect("renamed LV");
    if !thin {
        assert_eq!(
            tags,
            format!("pve-vm-{target}"),
            "the tag follows the owner"
        );
    }
    assert_eq!(listed(target), [(moved.clone(), VolumeFormat::Raw)]);
    config.free_volume(&moved).unwrap();
    assert_eq!(vg.volumes_of(target), Vec::<String>::new());
}

#[test]
#[ignore = "needs LVM and the VM rig's disk: run with tests/vm/run"]
fn lvmthin_volumes_through_a_containers_life() {
    let vg = VolumeGroup::new();
    container_lifecycle(&vg, "thin", 10010, true);
}

#[test]
#[ignore = "needs LVM and the VM rig's disk: run with tests/vm/run"]
fn lvm_volumes_through_a_containers_life() {
    let vg = VolumeGroup::new();
    container_lifecycle(&vg, "thick", 10011, false);
}

#[test]
#[ignore = "needs LVM and the VM rig's disk: run with tests/vm/run"]
fn storages_without_rootdir_content_refuse_new_volumes() {
    let vg = VolumeGroup::new();
    let root = TestRoot::new();
    storage_cfg(&root);
    let template = root.install_template(&busybox_template());
    let (code, _, stderr) = root.pct(&["create", "10012", &template, "--rootfs", "vmonly:1"]);
    assert_eq!(code, 255, "{stderr}");
    assert!(
        stderr.contains("storage 'vmonly' does not support container directories"),
        "{stderr}"
    );
    assert!(!root.join("etc/pve/lxc/10012.conf").exists());
    assert_eq!(vg.volumes_of(10012), Vec::<String>::new());
    // An LVM volume name on another storage type is refused in that type's words.
    let (code, _, stderr) = root.pct(&[
        "create",
        "10012",
        &template,
        "--rootfs",
        "local:vm-10012-disk-0",
    ]);
    assert_eq!(code, 255, "{stderr}");
    assert_eq!(vg.volumes_of(10012), Vec::<String>::new());
}

/// The size of the file system `/` of a running container in KiB, as `df` inside it says.
fn df_inside(ct: &Ct<'_>) -> u64 {
    let out = ct.exec_ok("df -Pk / | tail -n 1");
    out.split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("df: {out}"))
}

/// The size of the ext4 on a stopped container's rootfs in KiB, as its superblock says
/// (`dumpe2fs -h`), read from the volume mounted by `pct mount`.
fn ext4_size_offline(root: &TestRoot, vmid: u32) -> u64 {
    let id = vmid.to_string();
    root.pct_ok(&["mount", &id]);
    let rootfs = root.join(&format!("var/lib/lxc/{vmid}/rootfs"));
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
    let device = mounts
        .lines()
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            Some((fields.next()?, fields.next()?))
        })
        .filter(|(_, at)| Path::new(at) == rootfs)
        .map(|(device, _)| device.to_string())
        .next_back()
        .unwrap_or_else(|| panic!("{} not mounted:\n{mounts}", rootfs.display()));
    let header = run("/usr/sbin/dumpe2fs", &["-h", &device]);
    root.pct_ok(&["unmount", &id]);
    let field = |name: &str| -> u64 {
        header
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{header}"))
    };
    field("Block count:") * field("Block size:") / 1024
}

/// The size of an LV in bytes.
fn lv_size(name: &str) -> u64 {
    run(
        "lvs",
        &[
            "--noheadings",
            "--units",
            "b",
            "--nosuffix",
            "-o",
            "lv_size",
            &format!("{VG}/{name}"),
        ],
    )
    .trim()
    .parse()
    .unwrap()
}

/// How full the thin pool's data is, in percent.
fn pool_data_percent() -> f64 {
    run(
        "lvs",
        &["--noheadings", "-o", "data_percent", &format!("{VG}/pool")],
    )
    .trim()
    .parse()
    .unwrap()
}

/// The storage a config line's volume is on: `rootfs: thin:vm-1-disk-0,size=…` → `thin`.
fn rootfs_storage(root: &TestRoot, vmid: u32) -> String {
    let config = root.pct_ok(&["config", &vmid.to_string()]);
    config
        .lines()
        .find_map(|l| l.strip_prefix("rootfs: "))
        .and_then(|v| v.split(':').next())
        .unwrap_or_else(|| panic!("no rootfs in:\n{config}"))
        .to_string()
}

/// pct's volume commands on a container whose rootfs is on `storage`: resize online and
/// offline (the ext4 sees it), a shrink refused, fsck, fstrim (thin: the pool's data usage
/// drops), move-volume to the dir storage, on to `other` and back with the data's checksum
/// kept, destroy leaving no LV and no loop device.
fn volume_commands(vg: &VolumeGroup, storage: &str, other: &str, vmid: u32, thin: bool) {
    let root = TestRoot::new();
    storage_cfg(&root);
    let template = root.install_template(&busybox_template());
    let id = vmid.to_string();
    let ct = Ct { root: &root, vmid };
    root.pct_ok(&[
        "create",
        &id,
        &template,
        "--rootfs",
        &format!("{storage}:0.25"),
        "--unprivileged",
        "1",
    ]);
    let lv = format!("vm-{vmid}-disk-0");
    root.pct_ok(&["start", &id]);
    ct.wait_for_status("running", Duration::from_secs(30));
    let checksum = ct.exec_ok(
        "dd if=/dev/urandom of=/root/data bs=1M count=8 2>/dev/null && sync && md5sum /root/data",
    );

    // Online: the running container's df sees the grown ext4.
    let before = df_inside(&ct);
    root.pct_ok(&["resize", &id, "rootfs", "+128M"]);
    assert_eq!(lv_size(&lv), 384 << 20);
    let after = df_inside(&ct);
    assert!(
        after >= before + 112 * 1024,
        "df inside: {before} KiB before, {after} KiB after growing by 128M"
    );
    assert!(
        root.pct_ok(&["config", &id])
            .contains(&format!("rootfs: {storage}:{lv},size=384M"))
    );

    let (code, _, stderr) = root.pct(&["fsck", &id]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("cannot run fsck when container is running"),
        "{stderr}"
    );

    if thin {
        ct.exec_ok("dd if=/dev/zero of=/root/big bs=1M count=200 2>/dev/null && sync");
        let full = pool_data_percent();
        ct.exec_ok("rm /root/big && sync");
        let out = root.pct_ok(&["fstrim", &id]);
        assert!(out.contains("trimmed"), "{out}");
        let trimmed = pool_data_percent();
        let _ = writeln!(
            std::io::stderr(),
            "FIGURE thin pool data: {full}% with a 200 MiB file, {trimmed}% after its removal and pct fstrim"
        );
        // 200 MiB of a 1 GiB pool.
        assert!(
            trimmed < full - 15.0,
            "pool data {full}% before the trim, {trimmed}% after"
        );
    }
    root.pct_ok(&["stop", &id]);

    // Offline: e2fsck and resize2fs on the LV; its superblock has the new size.
    let before = ext4_size_offline(&root, vmid);
    root.pct_ok(&["resize", &id, "rootfs", "512M"]);
    assert_eq!(lv_size(&lv), 512 << 20);
    let after = ext4_size_offline(&root, vmid);
    assert_eq!(
        after,
        512 * 1024,
        "ext4 of {before} KiB grown to {after} KiB"
    );

    // Bad input changes nothing.
    let config = root.read(&format!("etc/pve/lxc/{vmid}.conf"));
    let (code, _, stderr) = root.pct(&["resize", &id, "rootfs", "256M"]);
    assert_eq!(code, 255, "{stderr}");
    assert!(stderr.contains("unable to shrink disk size"), "{stderr}");
    let (code, _, stderr) = root.pct(&["resize", &id, "rootfs", "+1X"]);
    assert_eq!(code, 255, "{stderr}");
    assert!(
        stderr.contains("size: value does not match the regex pattern"),
        "{stderr}"
    );
    assert_eq!(root.read(&format!("etc/pve/lxc/{vmid}.conf")), config);
    assert_eq!(lv_size(&lv), 512 << 20);
    assert_eq!(ext4_size_offline(&root, vmid), 512 * 1024);

    let out = root.pct_ok(&["fsck", &id]);
    assert!(out.contains("clean"), "{out}");
    root.pct_ok(&["fsck", &id, "--force"]);

    // Around the storage types and back, the old volume freed at each step.
    for target in ["dirct", other, storage] {
        root.pct_ok(&["move-volume", &id, "rootfs", target, "--delete"]);
        assert_eq!(rootfs_storage(&root, vmid), target);
        let config = root.pct_ok(&["config", &id]);
        assert!(!config.contains("unused"), "{config}");
        assert!(!config.contains("lock:"), "{config}");
        let on_lvm = vg.volumes_of(vmid);
        assert!(on_lvm.len() <= 1, "one volume at a time: {on_lvm:?}");
        assert_eq!(on_lvm.is_empty(), target == "dirct", "{on_lvm:?}");
    }
    assert_eq!(loop_devices(), Vec::<String>::new(), "no loop device");
    assert_eq!(
        ext4_size_offline(&root, vmid),
        512 * 1024,
        "the size moves along"
    );
    root.pct_ok(&["start", &id]);
    ct.wait_for_status("running", Duration::from_secs(30));
    assert_eq!(ct.exec_ok("md5sum /root/data"), checksum);
    root.pct_ok(&["stop", &id]);

    root.pct_ok(&["destroy", &id]);
    assert_eq!(vg.volumes_of(vmid), Vec::<String>::new());
    assert!(
        !vg.lvs().iter().any(|(name, _, _)| name.starts_with("del-")),
        "{:?}",
        vg.lvs()
    );
    assert_eq!(loop_devices(), Vec::<String>::new(), "no loop device");
    let images = root.join(&format!("srv/dirct/images/{vmid}"));
    let left: Vec<_> = fs::read_dir(&images)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "images left: {left:?}");
}

#[test]
#[ignore = "needs LVM and the VM rig's disk: run with tests/vm/run"]
fn volume_commands_on_lvmthin() {
    let vg = VolumeGroup::new();
    volume_commands(&vg, "thin", "thick", 10020, true);
}

#[test]
#[ignore = "needs LVM and the VM rig's disk: run with tests/vm/run"]
fn volume_commands_on_lvm() {
    let vg = VolumeGroup::new();
    volume_commands(&vg, "thick", "thin", 10021, false);
}

/// A raw image on a dir storage grows online through its loop device: this needs
/// CAP_SYS_RESOURCE, which the rig's root has.
#[test]
#[ignore = "needs CAP_SYS_RESOURCE: run with tests/vm/run"]
fn raw_image_grows_online_on_a_dir_storage() {
    let root = TestRoot::new();
    storage_cfg(&root);
    let template = root.install_template(&busybox_template());
    let vmid = 10022;
    let id = vmid.to_string();
    let ct = Ct { root: &root, vmid };
    root.pct_ok(&["create", &id, &template, "--rootfs", "dirct:0.25"]);
    root.pct_ok(&["start", &id]);
    ct.wait_for_status("running", Duration::from_secs(30));
    let before = df_inside(&ct);
    let out = root.pct_ok(&["resize", &id, "rootfs", "+128M"]);
    assert!(!out.contains("Failed"), "{out}");
    let after = df_inside(&ct);
    assert!(
        after >= before + 112 * 1024,
        "df inside: {before} KiB before, {after} KiB after growing by 128M"
    );
    root.pct_ok(&["stop", &id]);
    root.pct_ok(&["destroy", &id]);
    assert_eq!(loop_devices(), Vec::<String>::new(), "no loop device");
}
