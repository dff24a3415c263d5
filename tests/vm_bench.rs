//! The measurements behind `scripts/bench-storage`, never a test: on each storage type named
//! in `CORRAL_BENCH_STORAGES` (dir and btrfs on the host; lvmthin, lvm and zfspool in the VM
//! rig), `pct create` from a template, `pct resize` online, `pct move-volume` of a 1 GiB
//! volume, `pct snapshot` of a running container (and how long it stayed frozen), and linked
//! and full `pct clone`s, each next to the same work done by hand with the storage's own tools
//! (the floor), as medians of `CORRAL_BENCH_ROUNDS` rounds printed as one Markdown table.
//!
//! `harness = false`: a plain `cargo test` and the rig's normal run (which leaves this target
//! out of its default `VM_TESTS`) run this main, which does nothing without
//! `CORRAL_BENCH_STORAGES`. Speed figures belong in benchmarks, not in tests.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::ct::{Ct, container_cgroup, force_cleanup, wait_until};
use common::{TestRoot, busybox_template};

/// The volume group and pool the bench makes on the rig's disks (and removes).
const VG: &str = "corralbench";
const POOL: &str = "corralbench";
/// The bench's containers: create, resize, move.
const CREATE_CT: u32 = 10150;
const RESIZE_CT: u32 = 10151;
const MOVE_CT: u32 = 10152;
/// The snapshotted running container, the template and its clones, the full clone's source.
const SNAPSHOT_CT: u32 = 10153;
const TEMPLATE_CT: u32 = 10154;
const CLONE_CT: u32 = 10155;
const SOURCE_CT: u32 = 10156;
/// What each round grows a volume by, and the data in the moved 1 GiB volume.
const GROW_MIB: u64 = 256;
const PAYLOAD_MIB: u64 = 256;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Dir,
    Btrfs,
    LvmThin,
    Lvm,
    ZfsPool,
}

impl Kind {
    fn parse(name: &str) -> Kind {
        match name {
            "dir" => Kind::Dir,
            "btrfs" => Kind::Btrfs,
            "lvmthin" => Kind::LvmThin,
            "lvm" => Kind::Lvm,
            "zfspool" => Kind::ZfsPool,
            other => panic!("vm_bench: unknown storage type '{other}'"),
        }
    }

    fn type_name(self) -> &'static str {
        match self {
            Kind::Dir => "dir",
            Kind::Btrfs => "btrfs",
            Kind::LvmThin => "lvmthin",
            Kind::Lvm => "lvm",
            Kind::ZfsPool => "zfspool",
        }
    }

    /// The storage's id in the bench's storage.cfg.
    fn id(self) -> &'static str {
        match self {
            Kind::Dir => "dirct",
            Kind::Btrfs => "bt",
            Kind::LvmThin => "thin",
            Kind::Lvm => "thick",
            Kind::ZfsPool => "tank",
        }
    }

    /// What a volume is made with by hand, for the table.
    fn allocate_by_hand(self) -> &'static str {
        match self {
            Kind::Dir => "truncate + mkfs.ext4",
            Kind::Btrfs => "btrfs subvolume create + truncate + mkfs.ext4",
            Kind::LvmThin => "lvcreate -V + mkfs.ext4",
            Kind::Lvm => "lvcreate -L + mkfs.ext4",
            Kind::ZfsPool => "zfs create",
        }
    }

    /// Whether pct snapshots and links clones on this storage (pve-storage's feature table).
    fn snapshots(self) -> bool {
        matches!(self, Kind::Btrfs | Kind::LvmThin | Kind::ZfsPool)
    }

    fn snapshot_by_hand(self) -> &'static str {
        match self {
            Kind::Btrfs => "btrfs subvolume snapshot -r",
            Kind::LvmThin => "lvcreate -s",
            Kind::ZfsPool => "zfs snapshot",
            Kind::Dir | Kind::Lvm => "n/a",
        }
    }

    fn link_by_hand(self) -> &'static str {
        match self {
            Kind::Btrfs => "btrfs subvolume snapshot",
            Kind::LvmThin => "lvcreate -s -kn",
            Kind::ZfsPool => "zfs clone",
            Kind::Dir | Kind::Lvm => "n/a",
        }
    }

    /// What the storage's own tools call a pct volume of this storage: a btrfs subvolume's
    /// path, `VG/LV`, or `POOL/dataset`.
    fn native_name(self, root: &TestRoot, volid: &str) -> String {
        let (_, name) = volid.split_once(':').expect("a storage volume");
        match self {
            Kind::Btrfs => {
                shown(&root.join(&format!("srv/bt/images/{}", name.trim_end_matches(".raw"))))
            }
            Kind::LvmThin | Kind::Lvm => format!("{VG}/{}", name.rsplit('/').next().unwrap()),
            Kind::ZfsPool => format!("{POOL}/{}", name.rsplit('/').next().unwrap()),
            Kind::Dir => shown(&root.join(&format!("srv/dirct/images/{name}"))),
        }
    }

    /// A read-only snapshot `snap` of a volume, by hand; returns how to name it for delete.
    fn hand_snapshot(self, native: &str, snap: &str) -> String {
        match self {
            Kind::Btrfs => {
                let to = format!("{native}@{snap}");
                run("btrfs", &["subvolume", "snapshot", "-r", native, &to]);
                to
            }
            Kind::LvmThin => {
                let (vg, lv) = native.split_once('/').unwrap();
                let name = format!("snap_{lv}_{snap}");
                run("lvcreate", &["-n", &name, "-pr", "-s", native]);
                format!("{vg}/{name}")
            }
            Kind::ZfsPool => {
                let to = format!("{native}@{snap}");
                run("zfs", &["snapshot", &to]);
                to
            }
            Kind::Dir | Kind::Lvm => unreachable!("no snapshots on {}", self.type_name()),
        }
    }

    /// A writable linked clone `name` of a base volume, by hand; returns how to name it.
    fn hand_link(self, root: &TestRoot, base: &str, name: &str) -> String {
        match self {
            Kind::Btrfs => {
                let to = shown(&root.join(&format!("srv/bt/hand-{name}")));
                run("btrfs", &["subvolume", "snapshot", base, &to]);
                to
            }
            Kind::LvmThin => {
                run("lvcreate", &["-n", name, "-prw", "-kn", "-s", base]);
                format!("{VG}/{name}")
            }
            Kind::ZfsPool => {
                let to = format!("{POOL}/{name}");
                run("zfs", &["clone", &format!("{base}@__base__"), &to]);
                to
            }
            Kind::Dir | Kind::Lvm => unreachable!("no linked clones on {}", self.type_name()),
        }
    }

    /// Deletes what `hand_snapshot` or `hand_link` made.
    fn hand_drop(self, made: &str) {
        match self {
            Kind::Btrfs => drop(run("btrfs", &["subvolume", "delete", made])),
            Kind::LvmThin => drop(run("lvremove", &["-f", made])),
            Kind::ZfsPool => drop(run("zfs", &["destroy", made])),
            Kind::Dir | Kind::Lvm => unreachable!(),
        }
    }

    fn grow_by_hand(self) -> &'static str {
        match self {
            Kind::Dir | Kind::Btrfs => "truncate + losetup -c + resize2fs",
            Kind::LvmThin | Kind::Lvm => "lvextend + resize2fs",
            Kind::ZfsPool => "zfs set refquota",
        }
    }
}

/// A command with the system directories on its PATH (the rig's PATH lacks /usr/sbin), and
/// in the rig the by-hand tools its busybox lacks (GNU tar, zstd, losetup, findmnt), which
/// the rig shares in `CORRAL_BENCH_TOOLS` (`bin`, `lib`).
fn command(program: &str) -> Command {
    let mut path = format!(
        "/usr/sbin:/sbin:{}",
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new(program);
    if let Ok(tools) = std::env::var("CORRAL_BENCH_TOOLS") {
        path = format!("{tools}/bin:{path}");
        command.env("LD_LIBRARY_PATH", format!("{tools}/lib"));
    }
    command.env("PATH", path);
    command
}

/// Run a program, requiring success; its stdout.
fn run(program: &str, args: &[&str]) -> String {
    let output = command(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

fn seconds(work: impl FnOnce()) -> f64 {
    let start = Instant::now();
    work();
    start.elapsed().as_secs_f64()
}

/// Seconds with two decimals, or four below a tenth (a freeze takes milliseconds).
fn figure(seconds: f64) -> String {
    if seconds < 0.1 {
        format!("{seconds:.4}")
    } else {
        format!("{seconds:.2}")
    }
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// A volume made by hand: an image file, an LV or a dataset, with its file system.
struct HandVolume {
    kind: Kind,
    name: String,
    /// The image file, the LV's device, or the dataset's mountpoint.
    path: PathBuf,
}

/// The bench's host root with its storages; removes every container, mount, LV and pool it
/// made when dropped, however the bench ends.
struct Bench {
    root: TestRoot,
    kinds: Vec<Kind>,
    vg: bool,
    pool: bool,
}

impl Bench {
    fn new(kinds: Vec<Kind>) -> Bench {
        let root = TestRoot::new();
        let mut bench = Bench {
            root,
            kinds: Vec::new(),
            vg: false,
            pool: false,
        };
        let mut cfg = String::from("dir: local\n\tpath /var/lib/vz\n\tcontent vztmpl\n");
        for &kind in &kinds {
            let id = kind.id();
            cfg += &match kind {
                Kind::Dir => {
                    fs::create_dir_all(bench.root.join("srv/dirct")).unwrap();
                    format!("\ndir: {id}\n\tpath /srv/dirct\n\tcontent rootdir,images\n")
                }
                Kind::Btrfs => {
                    let image = bench.root.join("btrfs.img");
                    fs::File::create(&image).unwrap().set_len(8 << 30).unwrap();
                    run("mkfs.btrfs", &["-q", &shown(&image)]);
                    let at = bench.root.join("srv/bt");
                    fs::create_dir_all(&at).unwrap();
                    run("mount", &["-o", "loop", &shown(&image), &shown(&at)]);
                    format!("\nbtrfs: {id}\n\tpath /srv/bt\n\tcontent rootdir,images\n")
                }
                Kind::LvmThin => {
                    bench.volume_group();
                    format!(
                        "\nlvmthin: {id}\n\tvgname {VG}\n\tthinpool pool\n\tcontent rootdir,images\n"
                    )
                }
                Kind::Lvm => {
                    bench.volume_group();
                    format!("\nlvm: {id}\n\tvgname {VG}\n\tcontent rootdir,images\n")
                }
                Kind::ZfsPool => {
                    if !bench.zfs_pool() {
                        println!(
                            "bench: zfspool left out: no ZFS here (/dev/zfs, the rig's corral-zfs disk)"
                        );
                        continue;
                    }
                    format!(
                        "\nzfspool: {id}\n\tpool {POOL}\n\tmountpoint /{POOL}\n\tcontent rootdir,images\n"
                    )
                }
            };
            bench.kinds.push(kind);
        }
        bench.root.write("etc/pve/storage.cfg", &cfg);
        fs::create_dir_all(bench.root.join("hand-mnt")).unwrap();
        bench
    }

    /// A volume group on the rig's disk with serial `corral-lvm`, with a 2 GiB thin pool.
    fn volume_group(&mut self) {
        if self.vg {
            return;
        }
        for module in ["virtio_blk", "dm_mod", "dm_thin_pool"] {
            let _ = command("modprobe").arg(module).status();
        }
        let disk = disk_with_serial("corral-lvm", Duration::from_secs(10))
            .expect("the rig's disk with serial corral-lvm");
        let _ = command("vgremove").args(["-f", VG]).output();
        run("pvcreate", &["-ff", "-y", &shown(&disk)]);
        run("vgcreate", &[VG, &shown(&disk)]);
        self.vg = true;
        run(
            "lvcreate",
            &["--type", "thin-pool", "-L", "2G", "-n", "pool", VG],
        );
    }

    /// A pool on the rig's disk with serial `corral-zfs` (its first partition); false without
    /// ZFS.
    fn zfs_pool(&mut self) -> bool {
        let Some(disk) = disk_with_serial("corral-zfs", Duration::ZERO) else {
            return false;
        };
        if !Path::new("/dev/zfs").exists() {
            return false;
        }
        let partition = format!("{}1", shown(&disk));
        let mountpoint = self.root.join(POOL);
        run(
            "zpool",
            &[
                "create",
                "-f",
                "-o",
                "cachefile=none",
                "-m",
                &shown(&mountpoint),
                POOL,
                &partition,
            ],
        );
        self.pool = true;
        true
    }

    fn pct_ok(&self, args: &[&str]) -> String {
        self.root.pct_ok(args)
    }

    /// The storage a volume goes to after `kind` in the move cycle.
    fn next(&self, kind: Kind) -> Kind {
        let at = self.kinds.iter().position(|&k| k == kind).unwrap();
        self.kinds[(at + 1) % self.kinds.len()]
    }

    // --- by hand, with the storage's own tools -----------------------------------------

    fn hand_create(&self, kind: Kind, name: &str, mib: u64) -> HandVolume {
        let size = format!("{mib}M");
        let path = match kind {
            Kind::Dir | Kind::Btrfs => {
                let image = if kind == Kind::Dir {
                    self.root.join(&format!("srv/dirct/hand-{name}.raw"))
                } else {
                    let subvolume = self.root.join(&format!("srv/bt/hand-{name}"));
                    run("btrfs", &["subvolume", "create", &shown(&subvolume)]);
                    subvolume.join("disk.raw")
                };
                run("truncate", &["-s", &size, &shown(&image)]);
                image
            }
            Kind::LvmThin => {
                let pool = format!("{VG}/pool");
                run("lvcreate", &["-V", &size, "-T", &pool, "-n", name]);
                PathBuf::from(format!("/dev/{VG}/{name}"))
            }
            Kind::Lvm => {
                run("lvcreate", &["-y", "-L", &size, "-n", name, VG]);
                PathBuf::from(format!("/dev/{VG}/{name}"))
            }
            Kind::ZfsPool => {
                let quota = format!("refquota={mib}M");
                let dataset = format!("{POOL}/{name}");
                run(
                    "zfs",
                    &[
                        "create",
                        "-o",
                        "acltype=posixacl",
                        "-o",
                        "xattr=sa",
                        "-o",
                        &quota,
                        &dataset,
                    ],
                );
                self.root.join(&dataset)
            }
        };
        if kind != Kind::ZfsPool {
            run("mkfs.ext4", &["-q", "-O", "mmp", &shown(&path)]);
        }
        HandVolume {
            kind,
            name: name.to_string(),
            path,
        }
    }

    /// Where the volume's file system is, mounted now if it must be.
    fn hand_mount(&self, volume: &HandVolume, read_only: bool) -> PathBuf {
        if volume.kind == Kind::ZfsPool {
            return volume.path.clone();
        }
        let at = self.root.join(&format!("hand-mnt/{}", volume.name));
        fs::create_dir_all(&at).unwrap();
        let mut options = String::from(if read_only { "ro" } else { "rw" });
        if matches!(volume.kind, Kind::Dir | Kind::Btrfs) {
            options += ",loop";
        }
        run(
            "mount",
            &["-o", &options, &shown(&volume.path), &shown(&at)],
        );
        at
    }

    fn hand_umount(&self, volume: &HandVolume) {
        if volume.kind != Kind::ZfsPool {
            run(
                "umount",
                &[&shown(
                    &self.root.join(&format!("hand-mnt/{}", volume.name)),
                )],
            );
        }
    }

    fn hand_free(&self, volume: HandVolume) {
        match volume.kind {
            Kind::Dir => run("rm", &["-f", &shown(&volume.path)]),
            Kind::Btrfs => run(
                "btrfs",
                &["subvolume", "delete", &shown(volume.path.parent().unwrap())],
            ),
            Kind::LvmThin | Kind::Lvm => run("lvremove", &["-f", &format!("{VG}/{}", volume.name)]),
            Kind::ZfsPool => run(
                "zfs",
                &["destroy", "-r", &format!("{POOL}/{}", volume.name)],
            ),
        };
    }

    /// Grows a mounted volume by GROW_MIB to `total` MiB, its file system with it.
    fn hand_grow(&self, volume: &HandVolume, total_mib: u64) {
        let grow = format!("+{GROW_MIB}M");
        match volume.kind {
            Kind::Dir | Kind::Btrfs => {
                let at = self.root.join(&format!("hand-mnt/{}", volume.name));
                let device = run("findmnt", &["-n", "-o", "SOURCE", &shown(&at)]);
                let device = device.trim();
                run("truncate", &["-s", &grow, &shown(&volume.path)]);
                run("losetup", &["-c", device]);
                run("resize2fs", &[device]);
            }
            Kind::LvmThin | Kind::Lvm => {
                run("lvextend", &["-L", &grow, &format!("{VG}/{}", volume.name)]);
                run("resize2fs", &[&shown(&volume.path)]);
            }
            Kind::ZfsPool => {
                let quota = format!("refquota={total_mib}M");
                run("zfs", &["set", &quota, &format!("{POOL}/{}", volume.name)]);
            }
        }
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        for vmid in [
            CREATE_CT,
            RESIZE_CT,
            MOVE_CT,
            SNAPSHOT_CT,
            CLONE_CT,
            TEMPLATE_CT,
            SOURCE_CT,
        ] {
            force_cleanup(&self.root, vmid);
            let _ = self.root.pct(&["unmount", &vmid.to_string()]);
            let _ = self.root.pct(&["destroy", &vmid.to_string()]);
        }
        for mount in self.root.mounts_below() {
            let _ = Command::new("umount").arg(&mount).status();
        }
        if self.pool {
            let _ = command("zpool").args(["destroy", "-f", POOL]).status();
        }
        if self.vg {
            let _ = command("vgremove").args(["-f", VG]).output();
        }
    }
}

/// The block device whose serial is `serial`, waiting up to `timeout` for it.
fn disk_with_serial(serial: &str, timeout: Duration) -> Option<PathBuf> {
    let find = || {
        fs::read_dir("/sys/block")
            .ok()?
            .flatten()
            .find_map(|entry| {
                let found = fs::read_to_string(entry.path().join("serial")).ok()?;
                let device = Path::new("/dev").join(entry.file_name());
                (found.trim() == serial && device.exists()).then_some(device)
            })
    };
    if timeout > Duration::ZERO {
        wait_until(&format!("the disk with serial {serial}"), timeout, || {
            find().is_some()
        });
    }
    find()
}

/// Whether this process may grow a mounted ext4 (CAP_SYS_RESOURCE, capability 24).
fn may_grow_mounted_ext4() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|caps| u64::from_str_radix(caps.trim(), 16).ok())
        .is_some_and(|caps| caps >> 24 & 1 == 1)
}

/// pct's flags for template extraction, by hand with GNU tar.
fn extract_by_hand(template: &Path, into: &Path) {
    run(
        "tar",
        &[
            "-xpf",
            &shown(template),
            "--numeric-owner",
            "--sparse",
            "--xattrs",
            "--xattrs-include=user.*",
            "--xattrs-include=security.capability",
            "--exclude=./dev/*",
            "-C",
            &shown(into),
        ],
    );
}

fn copy_by_hand(from: &Path, to: &Path) {
    run(
        "rsync",
        &[
            "-X",
            "-A",
            "--numeric-ids",
            "-aH",
            "--whole-file",
            "--sparse",
            "--one-file-system",
            &format!("{}/", shown(from)),
            &shown(to),
        ],
    );
}

fn write_payload(file: &Path) {
    run(
        "dd",
        &[
            "if=/dev/urandom",
            &format!("of={}", shown(file)),
            "bs=1M",
            &format!("count={PAYLOAD_MIB}"),
            "status=none",
        ],
    );
}

fn checksum(file: &Path) -> String {
    run("md5sum", &[&shown(file)])
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The samples of one row: pct's and the by-hand floor's, in seconds.
#[derive(Default)]
struct Row {
    pct: Vec<f64>,
    hand: Vec<f64>,
    hand_how: String,
    note: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Operation {
    Create,
    ResizeOnline,
    MoveVolume,
    Snapshot,
    SnapshotFrozen,
    LinkedClone,
    FullClone,
}

/// How long a container's cgroup stays frozen while `work` runs, seen from outside by
/// polling its `cgroup.events` (every 0.2 ms): from the first read that says `frozen 1` to
/// the first that says `frozen 0` again. Zero when no read saw it frozen.
fn frozen_during(vmid: u32, work: impl FnOnce()) -> f64 {
    use std::sync::atomic::{AtomicBool, Ordering};
    let events = container_cgroup(vmid)
        .expect("a cgroup v2 tree")
        .join("cgroup.events");
    let (done, watching) = (AtomicBool::new(false), AtomicBool::new(false));
    std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let (mut since, mut frozen) = (None, Duration::ZERO);
            while !done.load(Ordering::Relaxed) {
                watching.store(true, Ordering::Relaxed);
                let now = Instant::now();
                let is_frozen = fs::read_to_string(&events)
                    .is_ok_and(|text| text.lines().any(|line| line == "frozen 1"));
                match (is_frozen, since) {
                    (true, None) => since = Some(now),
                    (false, Some(start)) => {
                        frozen += now - start;
                        since = None;
                    }
                    _ => {}
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            (frozen, since)
        });
        // The work starts once the watcher reads: a freeze shorter than its start is not lost.
        while !watching.load(Ordering::Relaxed) {
            std::thread::yield_now();
        }
        work();
        let ended = Instant::now();
        done.store(true, Ordering::Relaxed);
        let (frozen, since) = watcher.join().unwrap();
        // The work ends thawed: a freeze the watcher saw begin but not end ended by then.
        let open = since.map_or(Duration::ZERO, |start| {
            ended.saturating_duration_since(start)
        });
        (frozen + open).as_secs_f64()
    })
}

/// Freezes a container's cgroup by hand (`cgroup.freeze`) and waits for `frozen` to say so.
fn set_frozen_by_hand(vmid: u32, frozen: bool) {
    let cgroup = container_cgroup(vmid).expect("a cgroup v2 tree");
    fs::write(cgroup.join("cgroup.freeze"), if frozen { "1" } else { "0" }).unwrap();
    let wanted = if frozen { "frozen 1" } else { "frozen 0" };
    // Polled every millisecond, as pct waits for the freezer.
    let start = Instant::now();
    while !fs::read_to_string(cgroup.join("cgroup.events"))
        .is_ok_and(|text| text.lines().any(|line| line == wanted))
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the freezer: not {wanted}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `syncfs` of the file system at `path`, as pct syncs a frozen container's mounts.
fn syncfs(path: &Path) {
    let dir = fs::File::open(path).unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: a valid descriptor for the duration of the call.
    assert_eq!(
        unsafe { libc::syncfs(dir.as_raw_fd()) },
        0,
        "syncfs {path:?}"
    );
}

/// The volume of a container's rootfs, from its config.
fn rootfs_volume(root: &TestRoot, vmid: u32) -> String {
    let config = root.read(&format!("etc/pve/lxc/{vmid}.conf"));
    let line = config
        .lines()
        .take_while(|line| !line.starts_with('['))
        .find_map(|line| line.strip_prefix("rootfs: "))
        .expect("a rootfs line");
    line.split(',').next().unwrap().to_string()
}

fn main() {
    let Ok(storages) = std::env::var("CORRAL_BENCH_STORAGES") else {
        println!("vm_bench: nothing to do (scripts/bench-storage runs it)");
        return;
    };
    let rounds: usize = std::env::var("CORRAL_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let bench = Bench::new(storages.split_whitespace().map(Kind::parse).collect());
    let busybox = bench.root.install_template(&busybox_template());
    let template = match std::env::var_os("CORRAL_BENCH_TEMPLATE") {
        Some(path) => PathBuf::from(path),
        None => {
            println!(
                "bench: no Debian template (scripts/make-debian-template): create is timed with the busybox template"
            );
            busybox_template()
        }
    };
    let volume = bench.root.install_template(&template);
    let installed = bench.root.join(&format!(
        "var/lib/vz/template/cache/{}",
        template.file_name().unwrap().to_string_lossy()
    ));
    let mut rows: BTreeMap<(Kind, Operation), Row> = BTreeMap::new();
    // CORRAL_BENCH_ONLY: some of create, resize, move, snapshot, clone (all by default).
    let only = std::env::var("CORRAL_BENCH_ONLY").unwrap_or_default();
    let wanted =
        |operation: &str| only.is_empty() || only.split_whitespace().any(|o| o == operation);
    // Each sample as it is taken, on stderr: a run that fails half-way still says something.
    let progress = |kind: Kind, what: &str, pct: f64, hand: f64| {
        eprintln!(
            "bench: {} {what}: pct {pct:.4} s, by hand {hand:.4} s",
            kind.type_name()
        )
    };

    // create from the template, 1 GiB rootfs
    for round in 0..rounds {
        if !wanted("create") {
            break;
        }
        for &kind in &bench.kinds {
            let id = CREATE_CT.to_string();
            let rootfs = format!("{}:1", kind.id());
            let pct = seconds(|| {
                bench.pct_ok(&[
                    "create",
                    &id,
                    &volume,
                    "--rootfs",
                    &rootfs,
                    "--unprivileged",
                    "0",
                    "--hostname",
                    "bench",
                ]);
            });
            bench.pct_ok(&["destroy", &id]);
            let mut hand_volume = None;
            let hand = seconds(|| {
                let made = bench.hand_create(kind, &format!("create{round}"), 1024);
                let at = bench.hand_mount(&made, false);
                extract_by_hand(&installed, &at);
                bench.hand_umount(&made);
                hand_volume = Some(made);
            });
            bench.hand_free(hand_volume.unwrap());
            progress(kind, "create", pct, hand);
            let row = rows.entry((kind, Operation::Create)).or_default();
            row.pct.push(pct);
            row.hand.push(hand);
            row.hand_how = format!("{} + mount + tar -x", kind.allocate_by_hand());
        }
    }

    // resize online: a running container's 256 MiB rootfs grown by 256 MiB each round
    for &kind in bench.kinds.iter().filter(|_| wanted("resize")) {
        let row = rows.entry((kind, Operation::ResizeOnline)).or_default();
        row.hand_how = kind.grow_by_hand().to_string();
        if matches!(kind, Kind::Dir | Kind::Btrfs | Kind::LvmThin | Kind::Lvm)
            && !may_grow_mounted_ext4()
        {
            row.note = Some("n/a (no CAP_SYS_RESOURCE to grow a mounted ext4)".to_string());
            continue;
        }
        let id = RESIZE_CT.to_string();
        let rootfs = format!("{}:0.25", kind.id());
        bench.pct_ok(&[
            "create",
            &id,
            &busybox,
            "--rootfs",
            &rootfs,
            "--unprivileged",
            "0",
        ]);
        // The guard stops the container however the bench ends; kept until it is destroyed.
        let ct = Ct {
            root: &bench.root,
            vmid: RESIZE_CT,
        };
        bench.pct_ok(&["start", &id]);
        ct.wait_for_status("running", Duration::from_secs(60));
        let hand_volume = bench.hand_create(kind, "grow", 256);
        bench.hand_mount(&hand_volume, false);
        let grow = format!("+{GROW_MIB}M");
        for round in 1..=rounds as u64 {
            let pct = seconds(|| drop(bench.pct_ok(&["resize", &id, "rootfs", &grow])));
            let status = ct.status();
            assert!(
                status.contains("running"),
                "{} resize round {round}: the container is {status} after pct resize",
                kind.type_name()
            );
            let hand = seconds(|| bench.hand_grow(&hand_volume, 256 + round * GROW_MIB));
            progress(kind, "resize", pct, hand);
            row.pct.push(pct);
            row.hand.push(hand);
        }
        bench.hand_umount(&hand_volume);
        bench.hand_free(hand_volume);
        bench.pct_ok(&["stop", &id]);
        bench.pct_ok(&["destroy", &id]);
    }

    // move-volume: a stopped container's 1 GiB mp0 holding PAYLOAD_MIB of data, moved round
    // the storages (each move is its source storage's row), the old volume deleted
    if bench.kinds.len() > 1 && wanted("move") {
        let first = bench.kinds[0];
        let id = MOVE_CT.to_string();
        bench.pct_ok(&[
            "create",
            &id,
            &busybox,
            "--rootfs",
            &format!("{}:0.25", first.id()),
            "--mp0",
            &format!("{}:1,mp=/data", first.id()),
            "--unprivileged",
            "0",
        ]);
        let in_container = bench
            .root
            .join(&format!("var/lib/lxc/{MOVE_CT}/rootfs/data/payload"));
        let mut hand_volume = bench.hand_create(first, "move0", 1024);
        let at = bench.hand_mount(&hand_volume, false);
        bench.pct_ok(&["mount", &id]);
        write_payload(&in_container);
        let sum = checksum(&in_container);
        run("cp", &[&shown(&in_container), &shown(&at.join("payload"))]);
        bench.pct_ok(&["unmount", &id]);
        bench.hand_umount(&hand_volume);
        let mut moves = 0;
        for _ in 0..rounds {
            for &from in &bench.kinds.clone() {
                let to = bench.next(from);
                let pct = seconds(|| {
                    drop(bench.pct_ok(&["move-volume", &id, "mp0", to.id(), "--delete"]))
                });
                moves += 1;
                let mut copied = None;
                let hand = seconds(|| {
                    let target = bench.hand_create(to, &format!("move{moves}"), 1024);
                    let source_at = bench.hand_mount(&hand_volume, true);
                    let target_at = bench.hand_mount(&target, false);
                    copy_by_hand(&source_at, &target_at);
                    bench.hand_umount(&target);
                    bench.hand_umount(&hand_volume);
                    copied = Some(target);
                });
                let old = std::mem::replace(&mut hand_volume, copied.unwrap());
                let hand = hand + seconds(|| bench.hand_free(old));
                progress(from, "move-volume", pct, hand);
                let row = rows.entry((from, Operation::MoveVolume)).or_default();
                row.pct.push(pct);
                row.hand.push(hand);
                row.hand_how = format!(
                    "{} + mount + rsync + old volume freed",
                    to.allocate_by_hand()
                );
            }
        }
        bench.pct_ok(&["mount", &id]);
        assert_eq!(checksum(&in_container), sum, "the moved data changed");
        bench.pct_ok(&["unmount", &id]);
        let at = bench.hand_mount(&hand_volume, true);
        assert_eq!(
            checksum(&at.join("payload")),
            sum,
            "the copied data changed"
        );
        bench.hand_umount(&hand_volume);
        bench.hand_free(hand_volume);
        bench.pct_ok(&["destroy", &id]);
    }

    // snapshot of a running (busybox) container's 1 GiB rootfs: pct snapshot, and how long
    // the container stayed frozen, next to the same freeze + syncfs + snapshot + thaw by hand
    for &kind in bench
        .kinds
        .iter()
        .filter(|k| k.snapshots() && wanted("snapshot"))
    {
        let id = SNAPSHOT_CT.to_string();
        bench.pct_ok(&[
            "create",
            &id,
            &busybox,
            "--rootfs",
            &format!("{}:1", kind.id()),
            "--unprivileged",
            "0",
        ]);
        let ct = Ct {
            root: &bench.root,
            vmid: SNAPSHOT_CT,
        };
        bench.pct_ok(&["start", &id]);
        ct.wait_for_status("running", Duration::from_secs(60));
        let native = kind.native_name(&bench.root, &rootfs_volume(&bench.root, SNAPSHOT_CT));
        let guest_root = PathBuf::from(format!("/proc/{}/root", ct.init_pid()));
        for round in 0..rounds {
            let name = format!("bench{round}");
            let mut frozen = 0.0;
            let pct = seconds(|| {
                frozen = frozen_during(SNAPSHOT_CT, || {
                    drop(bench.pct_ok(&["snapshot", &id, &name]))
                })
            });
            bench.pct_ok(&["delsnapshot", &id, &name]);
            let mut made = String::new();
            let mut hand = 0.0;
            let hand_frozen = frozen_during(SNAPSHOT_CT, || {
                hand = seconds(|| {
                    set_frozen_by_hand(SNAPSHOT_CT, true);
                    syncfs(&guest_root);
                    made = kind.hand_snapshot(&native, &format!("hand{round}"));
                    set_frozen_by_hand(SNAPSHOT_CT, false);
                })
            });
            kind.hand_drop(&made);
            assert!(ct.status().contains("running"), "the container stopped");
            progress(kind, "snapshot", pct, hand);
            progress(kind, "snapshot frozen", frozen, hand_frozen);
            let row = rows.entry((kind, Operation::Snapshot)).or_default();
            row.pct.push(pct);
            row.hand.push(hand);
            row.hand_how = format!(
                "cgroup.freeze + syncfs + {} + thaw",
                kind.snapshot_by_hand()
            );
            let row = rows.entry((kind, Operation::SnapshotFrozen)).or_default();
            row.pct.push(frozen);
            row.hand.push(hand_frozen);
            row.hand_how = "the same, frozen as seen in cgroup.events".to_string();
        }
        drop(ct);
        bench.pct_ok(&["destroy", &id]);
    }

    // clones of a container made from the template (Debian when there is one), 1 GiB rootfs:
    // linked from a template where the storage links, full (copied) from a stopped container
    // everywhere
    for &kind in bench.kinds.iter().filter(|_| wanted("clone")) {
        let clone = CLONE_CT.to_string();
        if kind.snapshots() {
            let id = TEMPLATE_CT.to_string();
            bench.pct_ok(&[
                "create",
                &id,
                &volume,
                "--rootfs",
                &format!("{}:1", kind.id()),
                "--unprivileged",
                "0",
            ]);
            bench.pct_ok(&["template", &id]);
            let base = kind.native_name(&bench.root, &rootfs_volume(&bench.root, TEMPLATE_CT));
            let row = rows.entry((kind, Operation::LinkedClone)).or_default();
            row.hand_how = kind.link_by_hand().to_string();
            for round in 0..rounds {
                let pct = seconds(|| drop(bench.pct_ok(&["clone", &id, &clone])));
                bench.pct_ok(&["destroy", &clone]);
                let mut made = String::new();
                let hand =
                    seconds(|| made = kind.hand_link(&bench.root, &base, &format!("link{round}")));
                kind.hand_drop(&made);
                progress(kind, "linked clone", pct, hand);
                row.pct.push(pct);
                row.hand.push(hand);
            }
            bench.pct_ok(&["destroy", &id]);
        }
        let id = SOURCE_CT.to_string();
        bench.pct_ok(&[
            "create",
            &id,
            &volume,
            "--rootfs",
            &format!("{}:1", kind.id()),
            "--unprivileged",
            "0",
        ]);
        let source = bench.hand_create(kind, "fullsource", 1024);
        let at = bench.hand_mount(&source, false);
        extract_by_hand(&installed, &at);
        bench.hand_umount(&source);
        let row = rows.entry((kind, Operation::FullClone)).or_default();
        row.hand_how = format!("{} + mount + rsync", kind.allocate_by_hand());
        for round in 0..rounds {
            let pct = seconds(|| drop(bench.pct_ok(&["clone", &id, &clone, "--full", "1"])));
            bench.pct_ok(&["destroy", &clone]);
            let mut copied = None;
            let hand = seconds(|| {
                let target = bench.hand_create(kind, &format!("full{round}"), 1024);
                let source_at = bench.hand_mount(&source, true);
                let target_at = bench.hand_mount(&target, false);
                copy_by_hand(&source_at, &target_at);
                bench.hand_umount(&target);
                bench.hand_umount(&source);
                copied = Some(target);
            });
            bench.hand_free(copied.unwrap());
            progress(kind, "full clone", pct, hand);
            row.pct.push(pct);
            row.hand.push(hand);
        }
        bench.hand_free(source);
        bench.pct_ok(&["destroy", &id]);
    }

    let template_name = template.file_name().unwrap().to_string_lossy().into_owned();
    println!(
        "bench: {rounds} rounds, medians in seconds; template {template_name}; moved volume 1 GiB holding {PAYLOAD_MIB} MiB"
    );
    println!("| storage | operation | pct | by hand | by hand with |");
    println!("|---|---|---:|---:|---|");
    for ((kind, operation), row) in &rows {
        let what = match operation {
            Operation::Create => "create, 1 GiB rootfs".to_string(),
            Operation::ResizeOnline => format!("resize +{GROW_MIB}M online"),
            Operation::MoveVolume => {
                format!("move-volume 1 GiB to {}", bench.next(*kind).type_name())
            }
            Operation::Snapshot => "snapshot, running CT".to_string(),
            Operation::SnapshotFrozen => "… of which frozen".to_string(),
            Operation::LinkedClone => "linked clone of a template".to_string(),
            Operation::FullClone => "full clone, 1 GiB rootfs".to_string(),
        };
        let (pct, hand) = match &row.note {
            Some(note) => (note.clone(), "".to_string()),
            None => (figure(median(&row.pct)), figure(median(&row.hand))),
        };
        println!(
            "| {} | {what} | {pct} | {hand} | {} |",
            kind.type_name(),
            row.hand_how
        );
    }
}
