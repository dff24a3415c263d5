//! `pct resize` and `pct move-volume` (run as root): volumes grown offline and online with
//! the file system inside following, copies between dir and btrfs storages with their data
//! checked, volumes handed to another container, and pct's refusals changing nothing.
//! CTIDs 10300–10399.

mod common;

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::ct::Ct;
use common::{TestRoot, cached_template, debianish_template};

const TEMPLATE: &str = "local:vztmpl/debianish_12.0-1_amd64.tar.gz";
const GIB: u64 = 1 << 30;

/// `local` (dir, holding templates and disks), `second` (another dir storage) and `isos`
/// (a dir storage without `rootdir` content), and `extra` sections.
fn storages(root: &TestRoot, extra: &str) {
    root.write(
        "etc/pve/storage.cfg",
        &format!(
            "dir: local\n\tpath /var/lib/vz\n\tcontent vztmpl,rootdir,images\n\n\
             dir: second\n\tpath /srv/second\n\tcontent rootdir,images\n\n\
             dir: isos\n\tpath /srv/isos\n\tcontent iso\n{extra}"
        ),
    );
}

/// A btrfs file system on a loop-backed image under the test root, mounted at `mnt/btrfs`
/// (TestRoot's drop unmounts it), as storage `tank`.
fn btrfs_storage(root: &TestRoot) -> &'static str {
    root.mount_btrfs(3 * GIB);
    "\nbtrfs: tank\n\tpath /mnt/btrfs\n\tcontent rootdir,images\n"
}

fn config_path(root: &TestRoot, vmid: u32) -> PathBuf {
    root.join(&format!("etc/pve/lxc/{vmid}.conf"))
}

fn config_line(root: &TestRoot, vmid: u32, key: &str) -> Option<String> {
    fs::read_to_string(config_path(root, vmid))
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key}: ")).map(str::to_string))
}

fn file_size(path: &Path) -> u64 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .len()
}

/// The size of the ext4 inside an image, as its superblock says.
fn ext4_size(image: &Path) -> u64 {
    let output = Command::new("dumpe2fs")
        .arg("-h")
        .arg(image)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
            .trim()
            .parse()
            .unwrap()
    };
    field("Block count:") * field("Block size:")
}

/// A refused command: pct's message on stderr, exit 255, and the config and the images
/// untouched.
fn assert_refused(root: &TestRoot, vmid: u32, args: &[&str], message: &str, images: &[PathBuf]) {
    let before = fs::read(config_path(root, vmid)).unwrap();
    let sizes: Vec<u64> = images.iter().map(|p| file_size(p)).collect();
    let (code, stdout, stderr) = root.pct(args);
    assert_eq!(code, 255, "pct {args:?}: {stdout}{stderr}");
    assert!(stderr.contains(message), "pct {args:?}: {stderr}");
    assert_eq!(
        fs::read(config_path(root, vmid)).unwrap(),
        before,
        "pct {args:?} changed the config"
    );
    let after: Vec<u64> = images.iter().map(|p| file_size(p)).collect();
    assert_eq!(after, sizes, "pct {args:?} changed an image");
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    let path = CString::new(path.as_os_str().as_bytes()).unwrap();
    let name = CString::new(name).unwrap();
    // SAFETY: NUL-terminated strings and a buffer of the given length.
    let rc = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(rc, 0, "setxattr: {}", std::io::Error::last_os_error());
}

/// Every extended attribute of `path` (ACLs included), sorted.
fn xattrs(path: &Path) -> Vec<(String, Vec<u8>)> {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut names = vec![0u8; 4096];
    // SAFETY: the buffer is as long as we say.
    let len = unsafe { libc::llistxattr(c_path.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    assert!(len >= 0, "listxattr: {}", std::io::Error::last_os_error());
    let mut found: Vec<(String, Vec<u8>)> = names[..len as usize]
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(|name| {
            let c_name = CString::new(name).unwrap();
            let mut value = vec![0u8; 4096];
            // SAFETY: as above.
            let n = unsafe {
                libc::lgetxattr(
                    c_path.as_ptr(),
                    c_name.as_ptr(),
                    value.as_mut_ptr().cast(),
                    value.len(),
                )
            };
            assert!(n >= 0);
            value.truncate(n as usize);
            (String::from_utf8_lossy(name).into_owned(), value)
        })
        .collect();
    found.sort();
    found
}

/// A POSIX access ACL granting user `uid` read access, in the kernel's xattr form.
fn acl_for_user(uid: u32) -> Vec<u8> {
    let mut acl = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (0x01u16, 6u16, u32::MAX), // owner rw
        (0x02, 4, uid),            // named user r
        (0x04, 4, u32::MAX),       // owning group r
        (0x10, 4, u32::MAX),       // mask r
        (0x20, 0, u32::MAX),       // others none
    ] {
        acl.extend_from_slice(&tag.to_le_bytes());
        acl.extend_from_slice(&perm.to_le_bytes());
        acl.extend_from_slice(&id.to_le_bytes());
    }
    acl
}

/// Fill `dir` with what a copy must keep: random data, a sparse file, hard links, a
/// symlink, a fifo, a device node, foreign numeric owners, setuid, an xattr and an ACL.
fn fill(dir: &Path) {
    let data: Vec<u8> = (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(dir.join("random.bin"), &data).unwrap();
    let sparse = fs::File::create(dir.join("sparse.img")).unwrap();
    sparse.set_len(200 << 20).unwrap();
    use std::os::unix::fs::FileExt;
    sparse.write_all_at(b"end", (200 << 20) - 3).unwrap();
    fs::write(dir.join("linked"), b"one inode, two names\n").unwrap();
    fs::hard_link(dir.join("linked"), dir.join("linked-too")).unwrap();
    std::os::unix::fs::symlink("/etc/does-not-matter", dir.join("symlink")).unwrap();
    let fifo = CString::new(dir.join("fifo").as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) }, 0);
    let node = CString::new(dir.join("null").as_os_str().as_bytes()).unwrap();
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::mknod(node.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) },
        0
    );
    fs::create_dir(dir.join("owned")).unwrap();
    fs::write(dir.join("owned/file"), b"owned by someone else\n").unwrap();
    std::os::unix::fs::lchown(dir.join("owned/file"), Some(1234), Some(5678)).unwrap();
    std::os::unix::fs::lchown(dir.join("owned"), Some(100_000), Some(100_000)).unwrap();
    fs::write(dir.join("setuid"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(dir.join("setuid"), fs::Permissions::from_mode(0o4755)).unwrap();
    set_xattr(&dir.join("random.bin"), "user.origin", b"corral test");
    set_xattr(
        &dir.join("owned/file"),
        "system.posix_acl_access",
        &acl_for_user(4321),
    );
}

/// What must survive a copy, one line per entry below `dir` (sorted): type, mode, owners,
/// link count, size, link target, xattrs and the SHA-256 of the content.
fn tree_checksum(dir: &Path) -> String {
    let mut lines = Vec::new();
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
                "{relative} mode={:o} owner={}:{} links={} size={} rdev={} {content} {:?}",
                meta.mode(),
                meta.uid(),
                meta.gid(),
                if kind.is_dir() { 0 } else { meta.nlink() },
                if kind.is_dir() { 0 } else { meta.len() },
                meta.rdev(),
                xattrs(&path),
            ));
        }
    }
    lines.sort();
    lines.join("\n")
}

/// Run `look` on the container's volumes mounted with `pct mount`.
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

#[test]
fn resize_offline_grows_the_image_and_its_file_system() {
    let root = TestRoot::new();
    storages(&root, "");
    debianish_template(&root);
    let image = root.join("var/lib/vz/images/10300/vm-10300-disk-0.raw");
    root.pct_ok(&["create", "10300", TEMPLATE, "--rootfs", "local:1"]);
    assert_eq!(ext4_size(&image), GIB);

    let (code, stdout, stderr) = root.pct(&["resize", "10300", "rootfs", "2G"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        config_line(&root, 10300, "rootfs").unwrap(),
        "local:10300/vm-10300-disk-0.raw,size=2G"
    );
    assert_eq!(file_size(&image), 2 * GIB);
    assert_eq!(ext4_size(&image), 2 * GIB, "the file system follows");
    // Grown sparsely: no data was written for the new gigabyte.
    assert!(fs::metadata(&image).unwrap().blocks() * 512 < GIB);

    // `+` adds to the current size; the config gets pct's compact unit.
    root.pct_ok(&["resize", "10300", "rootfs", "+512M"]);
    assert_eq!(
        config_line(&root, 10300, "rootfs").unwrap(),
        "local:10300/vm-10300-disk-0.raw,size=2560M"
    );
    assert_eq!(file_size(&image), 2 * GIB + (512 << 20));
    assert_eq!(ext4_size(&image), 2 * GIB + (512 << 20));
    // The data is still there.
    with_mounted(&root, 10300, |rootfs| {
        assert_eq!(
            fs::read_to_string(rootfs.join("etc/debian_version")).unwrap(),
            "12.7\n"
        );
    });
    root.pct_ok(&["destroy", "10300"]);
}

#[test]
fn resize_refusals_change_nothing() {
    let root = TestRoot::new();
    storages(&root, "");
    debianish_template(&root);
    root.pct_ok(&[
        "create",
        "10301",
        TEMPLATE,
        "--rootfs",
        "local:1",
        "--mp0",
        "local:0,mp=/data",
    ]);
    let image = root.join("var/lib/vz/images/10301/vm-10301-disk-0.raw");
    let images = [image.clone()];
    let refused = |args: &[&str], message: &str| {
        let mut all = vec!["resize", "10301"];
        all.extend_from_slice(args);
        assert_refused(&root, 10301, &all, message, &images);
    };
    refused(&["rootfs", "512M"], "unable to shrink disk size");
    // No unit is bytes, as in pct.
    refused(&["rootfs", "10"], "unable to shrink disk size");
    refused(&["rootfs", "1G"], "disk is already at specified size");
    refused(&["rootfs", "+0"], "disk is already at specified size");
    for bad in ["2X", "2GB", "2g", "-1G", "1.G"] {
        refused(
            &["rootfs", bad],
            "400 Parameter verification failed.\nsize: value does not match the regex pattern\npct resize <vmid> <disk> <size> [OPTIONS]",
        );
    }
    refused(
        &["unused0", "+1G"],
        "disk: value 'unused0' does not have a value in the enumeration 'rootfs, mp0,",
    );
    refused(&["mp0", "+1G"], "can't resize this image format");
    refused(
        &["mp1", "+1G"],
        "volume: property is missing and it is not optional",
    );
    refused(
        &["rootfs", "+1G", "--digest", "0123456789abcdef"],
        "detected modified configuration - file changed by other user? Try again.",
    );
    // A volume of another container.
    let before = root.append_config(10301, "mp2: local:10399/vm-10399-disk-0.raw,mp=/other\n");
    refused(
        &["mp2", "+1G"],
        "can't resize mount point owned by another container (10399)",
    );
    root.write("etc/pve/lxc/10301.conf", &before);
    // A locked container.
    root.append_config(10301, "lock: backup\n");
    refused(&["rootfs", "+1G"], "CT is locked (backup)");
    root.write("etc/pve/lxc/10301.conf", &before);
    root.pct_ok(&["destroy", "10301"]);
}

#[test]
fn resize_online_grows_the_mounted_file_system() {
    let root = TestRoot::new();
    storages(&root, "");
    let template =
        root.install_template(&cached_template("make-busybox-template", &[], "busybox-"));
    root.pct_ok(&[
        "create",
        "10302",
        &template,
        "--rootfs",
        "local:1",
        "--mp0",
        "local:0,mp=/data",
        "--hostname",
        "resize",
    ]);
    let ct = Ct {
        root: &root,
        vmid: 10302,
    };
    ct.pct_ok(&["start", "10302"]);
    ct.wait_for_status("running", Duration::from_secs(10));
    let df_kib = || -> u64 {
        let out = ct.exec_ok("df -k / | tail -n 1");
        out.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let before = df_kib();
    assert!(before < 1 << 20, "{before} KiB before");

    let (code, stdout, stderr) = ct.pct(&["resize", "10302", "rootfs", "+1G"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        config_line(&root, 10302, "rootfs").unwrap(),
        "local:10302/vm-10302-disk-0.raw,size=2G"
    );
    let image = root.join("var/lib/vz/images/10302/vm-10302-disk-0.raw");
    assert_eq!(file_size(&image), 2 * GIB);
    // The kernel grows a mounted ext4 only for CAP_SYS_RESOURCE; where the tests run without
    // it, pct says so in its warning and the volume is grown all the same.
    let online = has_sys_resource();
    if online {
        assert!(!stderr.contains("Failed"), "{stderr}");
        let after = df_kib();
        assert!(
            after > before + (900 << 10),
            "df inside: {before} KiB before, {after} KiB after"
        );
    } else {
        assert!(
            stderr.starts_with(
                "Failed to update the container's filesystem: growing a mounted file system \
                 needs CAP_SYS_RESOURCE, which this process lacks (command '/usr/sbin/resize2fs \
                 /dev/loop"
            ),
            "{stderr}"
        );
        assert_eq!(df_kib(), before);
        // All the rest happened: the loop device knows the new size.
        let device = common::loop_devices_below(&image)
            .pop()
            .expect("the running rootfs' loop device");
        let sectors = fs::read_to_string(format!("/sys/block/{device}/size")).unwrap();
        assert_eq!(sectors.trim(), (2 * GIB / 512).to_string());
        common::skip_visibly(
            "resize_online_grows_the_mounted_file_system",
            "no CAP_SYS_RESOURCE here: the file system inside was not grown",
        );
    }
    // The container keeps running and writing.
    ct.exec_ok("echo still > /written && sync");
    assert_eq!(ct.status(), "status: running");

    // A directory volume of a running container cannot grow; a running container's volumes
    // cannot move to another storage.
    assert_refused(
        &root,
        10302,
        &["resize", "10302", "mp0", "+1G"],
        "can't resize this image format",
        std::slice::from_ref(&image),
    );
    assert_refused(
        &root,
        10302,
        &["move-volume", "10302", "rootfs", "second"],
        "cannot move volumes of a running container",
        std::slice::from_ref(&image),
    );
    ct.pct_ok(&["stop", "10302"]);
    // The resize mount left nothing on the host.
    assert_eq!(root.mounts_below(), Vec::<PathBuf>::new());
    assert!(!root.join("var/lib/lxc/10302/.resize").exists());
    assert_eq!(ext4_size(&image), if online { 2 * GIB } else { GIB });
}

/// Whether this process has CAP_SYS_RESOURCE (some sandboxes take it from the bounding
/// set).
fn has_sys_resource() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap();
    u64::from_str_radix(mask.trim(), 16).unwrap() & (1 << 24) != 0
}

#[test]
fn move_volume_between_dir_storages_keeps_the_data() {
    let root = TestRoot::new();
    storages(&root, "");
    debianish_template(&root);
    root.pct_ok(&[
        "create",
        "10303",
        TEMPLATE,
        "--rootfs",
        "local:1",
        "--mp0",
        "local:1,mp=/data",
    ]);
    let checksum = with_mounted(&root, 10303, |rootfs| {
        fill(&rootfs.join("data"));
        tree_checksum(&rootfs.join("data"))
    });

    let (code, stdout, stderr) = root.pct(&["move-volume", "10303", "mp0", "second"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        config_line(&root, 10303, "mp0").unwrap(),
        "second:10303/vm-10303-disk-0.raw,mp=/data,size=1G"
    );
    assert_eq!(
        config_line(&root, 10303, "unused0").unwrap(),
        "local:10303/vm-10303-disk-1.raw"
    );
    assert_eq!(config_line(&root, 10303, "lock"), None);
    let moved = root.join("srv/second/images/10303/vm-10303-disk-0.raw");
    assert_eq!(file_size(&moved), GIB);
    with_mounted(&root, 10303, |rootfs| {
        let data = rootfs.join("data");
        assert_eq!(tree_checksum(&data), checksum);
        // Still sparse.
        let sparse = fs::metadata(data.join("sparse.img")).unwrap();
        assert!(
            sparse.blocks() * 512 < 1 << 20,
            "{} blocks",
            sparse.blocks()
        );
    });

    // Back, deleting the copy it came from.
    root.pct_ok(&["move-volume", "10303", "mp0", "local", "--delete"]);
    assert_eq!(
        config_line(&root, 10303, "mp0").unwrap(),
        "local:10303/vm-10303-disk-2.raw,mp=/data,size=1G"
    );
    assert!(!moved.exists(), "the source of a --delete move is gone");
    assert_eq!(config_line(&root, 10303, "unused1"), None);
    with_mounted(&root, 10303, |rootfs| {
        assert_eq!(tree_checksum(&rootfs.join("data")), checksum);
    });
    // The rootfs moves as well.
    root.pct_ok(&["move-volume", "10303", "rootfs", "second", "--delete", "1"]);
    assert_eq!(
        config_line(&root, 10303, "rootfs").unwrap(),
        "second:10303/vm-10303-disk-0.raw,size=1G"
    );
    with_mounted(&root, 10303, |rootfs| {
        assert_eq!(
            fs::read_to_string(rootfs.join("etc/debian_version")).unwrap(),
            "12.7\n"
        );
    });
    assert_eq!(root.mounts_below(), Vec::<PathBuf>::new());
    root.pct_ok(&["destroy", "10303"]);
}

#[test]
fn move_volume_between_dir_and_btrfs_and_back() {
    let root = TestRoot::new();
    let tank = btrfs_storage(&root);
    storages(&root, tank);
    debianish_template(&root);
    root.pct_ok(&[
        "create",
        "10304",
        TEMPLATE,
        "--rootfs",
        "local:1",
        "--mp0",
        "local:0,mp=/dir",
        "--mp1",
        "local:1,mp=/raw",
    ]);
    let (dir_sum, raw_sum) = with_mounted(&root, 10304, |rootfs| {
        fill(&rootfs.join("dir"));
        fill(&rootfs.join("raw"));
        (
            tree_checksum(&rootfs.join("dir")),
            tree_checksum(&rootfs.join("raw")),
        )
    });
    root.pct_ok(&["move-volume", "10304", "mp0", "tank"]);
    root.pct_ok(&["move-volume", "10304", "mp1", "tank"]);
    let mp0 = config_line(&root, 10304, "mp0").unwrap();
    let mp1 = config_line(&root, 10304, "mp1").unwrap();
    assert!(
        mp0.starts_with("tank:10304/subvol-10304-disk-0.subvol,mp=/dir"),
        "{mp0}"
    );
    assert_eq!(mp1, "tank:10304/vm-10304-disk-1.raw,mp=/raw,size=1G");
    assert_eq!(
        file_size(&root.join("mnt/btrfs/images/10304/vm-10304-disk-1/disk.raw")),
        GIB
    );
    with_mounted(&root, 10304, |rootfs| {
        assert_eq!(tree_checksum(&rootfs.join("dir")), dir_sum);
        assert_eq!(tree_checksum(&rootfs.join("raw")), raw_sum);
    });

    // A subvolume on btrfs cannot grow (no quotas), as in pct; the raw image can.
    assert_refused(
        &root,
        10304,
        &["resize", "10304", "mp0", "+1G"],
        "cannot resize subvolume - btrfs quotas are currently not supported",
        &[],
    );
    root.pct_ok(&["resize", "10304", "mp1", "+1G"]);
    assert_eq!(
        ext4_size(&root.join("mnt/btrfs/images/10304/vm-10304-disk-1/disk.raw")),
        2 * GIB
    );

    // And back to dir, deleting the btrfs copies.
    root.pct_ok(&["move-volume", "10304", "mp0", "local", "--delete"]);
    root.pct_ok(&["move-volume", "10304", "mp1", "local", "--delete"]);
    assert!(!root.join("mnt/btrfs/images/10304").exists());
    with_mounted(&root, 10304, |rootfs| {
        assert_eq!(tree_checksum(&rootfs.join("dir")), dir_sum);
        assert_eq!(tree_checksum(&rootfs.join("raw")), raw_sum);
    });
    root.pct_ok(&["destroy", "10304"]);
    assert_eq!(
        common::loop_devices_below(&root.join("var")),
        Vec::<String>::new()
    );
}

#[test]
fn move_volume_refusals_change_nothing() {
    let root = TestRoot::new();
    storages(&root, "");
    debianish_template(&root);
    fs::create_dir_all(root.join("srv/bind")).unwrap();
    root.pct_ok(&[
        "create",
        "10305",
        TEMPLATE,
        "--rootfs",
        "local:1",
        "--mp0",
        "local:1,mp=/data",
        "--mp1",
        "/srv/bind,mp=/bound",
    ]);
    let images = [
        root.join("var/lib/vz/images/10305/vm-10305-disk-0.raw"),
        root.join("var/lib/vz/images/10305/vm-10305-disk-1.raw"),
    ];
    let refused = |args: &[&str], message: &str| {
        let mut all = vec!["move-volume", "10305"];
        all.extend_from_slice(args);
        assert_refused(&root, 10305, &all, message, &images);
    };
    refused(
        &["mp0", "isos"],
        "content type 'rootdir' is not available or configured on storage 'isos'",
    );
    refused(&["mp0", "nowhere"], "storage 'nowhere' does not exist");
    refused(&["mp1", "second"], "cannot copy volumes of type bind");
    refused(
        &["mp0", "second", "10306"],
        "either set storage or target-vmid, but not both",
    );
    refused(
        &["mp0"],
        "400 Parameter verification failed.\nstorage: both 'storage' and 'target-vmid' missing, either needs to be set\ntarget-vmid: both 'storage' and 'target-vmid' missing, either needs to be set",
    );
    refused(
        &["mp0", "second", "--digest", "0123456789abcdef"],
        "detected modified configuration - file changed by other user? Try again.",
    );
    let before = root.append_config(10305, "unused0: local:10305/vm-10305-disk-9.raw\n");
    assert_refused(
        &root,
        10305,
        &["move-volume", "10305", "unused0", "second"],
        "cannot move volume 'unused0', only configured volumes can be moved to another storage",
        &images,
    );
    root.write("etc/pve/lxc/10305.conf", &before);
    // Nothing was allocated on the target storages.
    for storage in ["srv/second/images", "srv/isos/images"] {
        let left: Vec<_> = fs::read_dir(root.join(storage))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert_eq!(left, Vec::<PathBuf>::new(), "{storage}");
    }
    root.pct_ok(&["destroy", "10305"]);
}

#[test]
fn move_volume_to_another_container_renames_it() {
    let root = TestRoot::new();
    storages(&root, "");
    debianish_template(&root);
    root.pct_ok(&[
        "create",
        "10306",
        TEMPLATE,
        "--rootfs",
        "local:1",
        "--mp0",
        "local:1,mp=/data,backup=1",
        "--mp1",
        "local:0,mp=/dir",
    ]);
    root.pct_ok(&["create", "10307", TEMPLATE, "--rootfs", "local:1"]);
    let checksum = with_mounted(&root, 10306, |rootfs| {
        fill(&rootfs.join("data"));
        tree_checksum(&rootfs.join("data"))
    });
    let source_image = root.join("var/lib/vz/images/10306/vm-10306-disk-1.raw");
    let images = [source_image.clone()];

    // pct's refusals, each leaving both configs as they were.
    let target_before = fs::read(config_path(&root, 10307)).unwrap();
    let refused = |args: &[&str], message: &str| {
        let mut all = vec!["move-volume", "10306"];
        all.extend_from_slice(args);
        assert_refused(&root, 10306, &all, message, &images);
        assert_eq!(fs::read(config_path(&root, 10307)).unwrap(), target_before);
    };
    refused(
        &["rootfs", "--target-vmid", "10307"],
        "Cannot move to/from 'rootfs'",
    );
    refused(
        &["mp0", "--target-vmid", "10307", "--target-volume", "rootfs"],
        "Cannot move to/from 'rootfs'",
    );
    refused(
        &["mp1", "--target-vmid", "10307"],
        "Storage does not support moving of this disk to another container",
    );
    refused(
        &["mp0", "--target-vmid", "10398"],
        "could not find CT 10398",
    );
    refused(
        &["mp5", "--target-vmid", "10307"],
        "volume 'mp5' for container '10306' does not exist",
    );
    refused(
        &["mp0", "--target-vmid", "10307", "--target-digest", "0123"],
        "Container 10307: detected modified configuration - file changed by other user? Try again.",
    );

    let (code, stdout, stderr) = root.pct(&[
        "move-volume",
        "10306",
        "mp0",
        "--target-vmid",
        "10307",
        "--target-volume",
        "mp3",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        stdout,
        "moving volume 'mp0' from container '10306' to '10307'\n\
         removing volume 'mp0' from container '10306' config\n\
         target container '10307' updated with 'mp3'\n"
    );
    assert_eq!(config_line(&root, 10306, "mp0"), None);
    assert_eq!(
        config_line(&root, 10307, "mp3").unwrap(),
        "local:10307/vm-10307-disk-1.raw,mp=/data,backup=1,size=1G"
    );
    assert!(!source_image.exists());
    with_mounted(&root, 10307, |rootfs| {
        assert_eq!(tree_checksum(&rootfs.join("data")), checksum);
    });

    // An unused volume goes to another container's unusedN, positional arguments this time.
    root.pct_ok(&["move-volume", "10307", "mp3", "", "10306", "unused4"]);
    assert_eq!(
        config_line(&root, 10306, "unused4").unwrap(),
        "local:10306/vm-10306-disk-1.raw"
    );
    assert_eq!(config_line(&root, 10307, "mp3"), None);
    assert_refused(
        &root,
        10306,
        &[
            "move-volume",
            "10306",
            "unused4",
            "--target-vmid",
            "10307",
            "--target-volume",
            "mp0",
        ],
        "Moving an unused volume to a used one is not possible",
        &[],
    );
    root.pct_ok(&["destroy", "10306"]);
    root.pct_ok(&["destroy", "10307"]);
}
