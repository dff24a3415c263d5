//! `pct push`, `pull`, `fsck`, `fstrim` and `rescan` on real containers (run as root).
//!
//! Each test has its own host root and CTID (cgroups are global: the 102xx range is this
//! file's), and a guard that stops its container and removes its cgroup even on failure.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::ct::{Ct, create};
use common::{TestRoot, busybox_template};

fn assert_fails(result: (i32, String, String), message: &str) {
    let (code, out, err) = result;
    assert_eq!(code, 255, "stdout: {out}\nstderr: {err}");
    assert_eq!(err.trim_end(), message, "stdout: {out}");
}

fn owner_and_mode(path: &Path) -> (u32, u32, u32) {
    let meta = fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (meta.uid(), meta.gid(), meta.mode() & 0o7777)
}

#[test]
fn push_writes_as_the_container_root_and_never_outside() {
    let root = TestRoot::new();
    let vmid = 10200;
    let template = root.install_template(&busybox_template());
    create(&root, vmid, &template, true, &[]);
    let ct = Ct { root: &root, vmid };
    let id = ct.id();
    let source = root.join("source.txt");
    fs::write(&source, "pushed data\n").unwrap();
    let source = source.to_str().unwrap();

    assert_fails(
        ct.pct(&["push", &id, source, "/root/pushed"]),
        "can only push files to a running CT",
    );
    ct.pct_ok(&["start", &id]);
    let inside = common::ct::rootfs(&root, vmid);

    // A new file: the container's root owns it, which the host sees shifted.
    ct.pct_ok(&["push", &id, source, "/root/pushed"]);
    assert_eq!(ct.exec_ok("cat /root/pushed"), "pushed data\n");
    assert_eq!(ct.exec_ok("stat -c '%u %g' /root/pushed"), "0 0\n");
    let (uid, gid, _) = owner_and_mode(&inside.join("root/pushed"));
    assert_eq!((uid, gid), (100000, 100000));

    // Ids and names are the container's; the kernel maps them.
    ct.exec_ok(
        "echo 'app:x:1234:1234::/:/bin/sh' >> /etc/passwd; echo 'app:x:1234:' >> /etc/group",
    );
    ct.pct_ok(&[
        "push",
        &id,
        source,
        "/root/owned",
        "--user",
        "app",
        "--group",
        "app",
        "--perms",
        "640",
    ]);
    assert_eq!(
        ct.exec_ok("stat -c '%u %g %a' /root/owned"),
        "1234 1234 640\n"
    );
    assert_eq!(
        owner_and_mode(&inside.join("root/owned")),
        (101234, 101234, 0o640)
    );
    ct.pct_ok(&["push", &id, source, "/root/owned", "--user", "7"]);
    assert_eq!(ct.exec_ok("stat -c '%u %g %a' /root/owned"), "7 1234 640\n");
    assert_fails(
        ct.pct(&["push", &id, source, "/root/x", "--user", "nosuchuser"]),
        "failed to get uid for: nosuchuser",
    );
    assert_fails(
        ct.pct(&["push", &id, source, "/root/x", "--group", "nosuchgroup"]),
        "failed to get gid for: nosuchgroup",
    );
    // An id the container does not map cannot be given.
    assert_fails(
        ct.pct(&["push", &id, source, "/root/unmapped", "--user", "70000"]),
        "failed to change file owner: Invalid argument",
    );
    assert_fails(
        ct.pct(&["push", &id, source, "/root/x", "--perms", "abc"]),
        "invalid mode: '0abc'",
    );
    assert_fails(
        ct.pct(&["push", &id, "/nonexistent/file", "/root/x"]),
        "failed to open /nonexistent/file for reading",
    );

    // A symlink planted inside the container resolves inside it: a host directory's path
    // leads nowhere, and nothing is written to the host directory of that name.
    let outside = root.join("outside");
    fs::create_dir(&outside).unwrap();
    ct.exec_ok(&format!("ln -s {} /escape", outside.display()));
    assert_fails(
        ct.pct(&["push", &id, source, "/escape/file"]),
        "failed to create file: /escape/file: No such file or directory",
    );
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "written outside"
    );
    ct.exec_ok("ln -s / /rootlink; ln -s ../../../../../../.. /root/updots");
    ct.pct_ok(&["push", &id, source, "/rootlink/tmp/via-link"]);
    assert_eq!(ct.exec_ok("cat /tmp/via-link"), "pushed data\n");
    ct.pct_ok(&["push", &id, source, "/root/updots/tmp/via-dots"]);
    assert_eq!(ct.exec_ok("cat /tmp/via-dots"), "pushed data\n");
    assert!(!Path::new("/tmp/via-dots").exists());

    // Only regular files are overwritten: a FIFO the container made neither hangs the push
    // nor takes the data.
    ct.exec_ok("mkfifo /root/fifo");
    assert_fails(
        root.pct_within(
            &["push", &id, source, "/root/fifo"],
            std::time::Duration::from_secs(10),
        ),
        "failed to create file: /root/fifo: not a regular file",
    );

    ct.pct_ok(&["stop", &id]);
}

#[test]
fn push_and_pull_in_a_privileged_container_keep_host_ids() {
    let root = TestRoot::new();
    let vmid = 10205;
    let template = root.install_template(&busybox_template());
    create(&root, vmid, &template, false, &[]);
    let ct = Ct { root: &root, vmid };
    let id = ct.id();
    let source = root.join("source.txt");
    fs::write(&source, "privileged\n").unwrap();
    ct.pct_ok(&["start", &id]);
    let inside = common::ct::rootfs(&root, vmid);

    let source = source.to_str().unwrap();
    ct.pct_ok(&[
        "push", &id, source, "/root/p", "--user", "1234", "--perms", "0x1a4",
    ]);
    assert_eq!(owner_and_mode(&inside.join("root/p")), (1234, 0, 0o644));
    assert_eq!(ct.exec_ok("stat -c '%u %g %a' /root/p"), "1234 0 644\n");

    let destination = root.join("pulled");
    ct.pct_ok(&["pull", &id, "/root/p", destination.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(&destination).unwrap(), "privileged\n");

    // The library, from a program of its own (this test, with its threads): the copy
    // process is this program exec'd again.
    let host = corral::Host::open(root.path()).unwrap();
    let container = host.container(corral::Vmid::new(vmid).unwrap());
    let options = corral::host::FileOptions {
        perms: Some("600".into()),
        ..Default::default()
    };
    container
        .push(Path::new(source), "/root/from-library", &options)
        .unwrap();
    assert_eq!(
        owner_and_mode(&inside.join("root/from-library")),
        (0, 0, 0o600)
    );
    let error = container
        .push(Path::new(source), "/missing/dir/file", &options)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "failed to create file: /missing/dir/file: No such file or directory"
    );
    // The push process's error comes back as the variant, with its errno as the source.
    assert!(
        matches!(&error, corral::Error::Transfer(corral::host::TransferError::Create { path, .. }) if path == "/missing/dir/file"),
        "{error:?}"
    );
    let errno = std::error::Error::source(&error)
        .and_then(|e| e.source())
        .and_then(|e| e.downcast_ref::<std::io::Error>())
        .and_then(|e| e.raw_os_error());
    assert_eq!(errno, Some(libc::ENOENT));
    ct.pct_ok(&["stop", &id]);
    let error = container
        .pull("/root/p", &root.join("never"), &options)
        .unwrap_err();
    assert_eq!(error.to_string(), "can only pull files from a running VM");
    assert!(
        matches!(
            &error,
            corral::Error::NotRunning {
                transfer: Some(corral::host::TransferDirection::Pull),
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn pull_reads_as_host_root_and_never_follows_a_link_out() {
    let root = TestRoot::new();
    let vmid = 10201;
    let template = root.install_template(&busybox_template());
    create(&root, vmid, &template, true, &[]);
    let ct = Ct { root: &root, vmid };
    let id = ct.id();
    let destination = root.join("pulled");
    let dest = destination.to_str().unwrap();

    assert_fails(
        ct.pct(&["pull", &id, "/etc/hostname", dest]),
        "can only pull files from a running VM",
    );
    ct.pct_ok(&["start", &id]);

    // The container's /etc/shadow, unreadable but to its root, is read as host root.
    ct.exec_ok("echo 'root:$6$salt$hash:19000:0:99999:7:::' > /etc/shadow; chown 0:0 /etc/shadow; chmod 0 /etc/shadow");
    ct.pct_ok(&["pull", &id, "/etc/shadow", dest]);
    assert_eq!(
        fs::read_to_string(&destination).unwrap(),
        "root:$6$salt$hash:19000:0:99999:7:::\n"
    );
    // The copy belongs to the caller, with the caller's umask.
    let (uid, _, _) = owner_and_mode(&destination);
    assert_eq!(uid, 0);
    fs::remove_file(&destination).unwrap();

    // A link to a container file is followed inside the container.
    ct.exec_ok("echo inside > /tmp/target; ln -s /tmp/target /tmp/inner-link");
    ct.pct_ok(&[
        "pull",
        &id,
        "/tmp/inner-link",
        dest,
        "--perms",
        "0600",
        "--user",
        "1",
        "--group",
        "2",
    ]);
    assert_eq!(fs::read_to_string(&destination).unwrap(), "inside\n");
    assert_eq!(owner_and_mode(&destination), (1, 2, 0o600));
    fs::remove_file(&destination).unwrap();
    // The destination is the caller's path, magic links and pipes included.
    assert_eq!(
        ct.pct_ok(&["pull", &id, "/tmp/target", "/dev/stdout"]),
        "inside\n"
    );

    // A link to a host path: the host file of that name is never read.
    let secret = root.join("host-secret");
    fs::write(&secret, "HOST SECRET\n").unwrap();
    ct.exec_ok(&format!("ln -s {} /tmp/host-link", secret.display()));
    ct.exec_ok(&format!(
        "ln -s ../../../../../../../..{} /tmp/dots-link",
        secret.display()
    ));
    for link in ["/tmp/host-link", "/tmp/dots-link"] {
        assert_fails(
            ct.pct(&["pull", &id, link, dest]),
            &format!("failed to open {link}: No such file or directory"),
        );
        assert!(!destination.exists(), "{link}: a destination was made");
    }
    // Nor does /proc lead out: its magic links are refused.
    let (code, _, _) = ct.pct(&["pull", &id, "/proc/1/root/etc/hostname", dest]);
    assert_eq!(code, 255);
    assert!(!destination.exists());
    // Only regular files are read.
    assert_fails(
        ct.pct(&["pull", &id, "/tmp", dest]),
        "failed to open /tmp: Is a directory",
    );
    assert_fails(
        ct.pct(&["pull", &id, "/etc/hostname", dest, "--user", "nosuchuser"]),
        "failed to get uid for: nosuchuser",
    );

    ct.pct_ok(&["stop", &id]);
}

/// A container with a 1 GiB raw image as rootfs.
fn create_on_raw_image(root: &TestRoot, vmid: u32, extra: &[&str]) {
    let template = root.install_template(&busybox_template());
    let id = vmid.to_string();
    let mut args = vec!["create", &id, &template, "--rootfs", "local:1"];
    args.extend_from_slice(extra);
    root.pct_ok(&args);
}

#[test]
fn fsck_checks_a_stopped_containers_raw_volume_only() {
    let root = TestRoot::new();
    let vmid = 10202;
    fs::create_dir(root.join("bind")).unwrap();
    // Bind mount sources are paths under the host root.
    create_on_raw_image(
        &root,
        vmid,
        &[
            "--mp0",
            "local:0,mp=/mnt/sub",
            "--mp1",
            "/bind,mp=/mnt/bind",
        ],
    );
    let ct = Ct { root: &root, vmid };
    let id = ct.id();
    let image = root.join(&format!("var/lib/vz/images/{vmid}/vm-{vmid}-disk-0.raw"));

    // Each check of an image waits out its multi-mount protection interval (about 11 s),
    // so there are few of them.
    let out = ct.pct_ok(&["fsck", &id, "--device", "rootfs"]);
    assert!(out.contains("clean"), "{out}");

    assert_fails(
        ct.pct(&["fsck", &id, "--device", "mp7"]),
        "cannot run command on non-existing mount point mp7",
    );
    assert_fails(
        ct.pct(&["fsck", &id, "--device", "mp0"]),
        &format!(
            "unable to run fsck for 'local:{vmid}/subvol-{vmid}-disk-1.subvol' (format == subvol)"
        ),
    );
    assert_fails(
        ct.pct(&["fsck", &id, "--device", "mp1"]),
        "path '/bind' does not point to a block device",
    );
    let (code, _, err) = ct.pct(&["fsck", &id, "--device", "disk0"]);
    assert_eq!(code, 255);
    assert!(
        err.starts_with("400 Parameter verification failed.\ndevice: value 'disk0' does not have a value in the enumeration 'rootfs, mp0, mp1,"),
        "{err}"
    );

    // A damaged file system, checked with `-f`: fsck repairs it, and its exit status 1 is
    // pct's error.
    corrupt_free_counts(&image);
    let (code, out, err) = ct.pct(&["fsck", &id, "--force"]);
    assert_eq!(code, 255, "{out}{err}");
    assert_eq!(
        err.trim_end(),
        format!(
            "command 'fsck -a -l -f {}' failed: exit code 1",
            image.display()
        )
    );
    // fsck's own words are on stdout, as pct shows them.
    assert!(out.contains("fsck from util-linux"), "{out}");

    ct.pct_ok(&["start", &id]);
    assert_fails(
        ct.pct(&["fsck", &id]),
        "cannot run fsck when container is running",
    );
    ct.pct_ok(&["stop", &id]);
}

/// Make the superblock's free block count wrong (with its checksum right), which
/// `fsck -a` corrects.
fn corrupt_free_counts(image: &Path) {
    let output = std::process::Command::new("debugfs")
        .args(["-w", "-R", "ssv free_blocks_count 12345"])
        .arg(image)
        .output()
        .expect("debugfs");
    assert!(output.status.success(), "{output:?}");
}

fn allocated(path: &Path) -> u64 {
    fs::metadata(path).unwrap().blocks() * 512
}

#[test]
fn fstrim_gives_the_blocks_of_deleted_files_back_to_the_storage() {
    let root = TestRoot::new();
    let vmid = 10203;
    create_on_raw_image(&root, vmid, &["--mp0", "local:1,mp=/mnt/data"]);
    let ct = Ct { root: &root, vmid };
    let id = ct.id();
    let image = root.join(&format!("var/lib/vz/images/{vmid}/vm-{vmid}-disk-0.raw"));

    ct.pct_ok(&["start", &id]);
    ct.exec_ok("dd if=/dev/urandom of=/big bs=1M count=64 2>/dev/null; sync");
    let written = allocated(&image);
    ct.exec_ok("rm /big; sync");
    let deleted = allocated(&image);
    // Deleting alone gives nothing back: the image keeps the blocks.
    assert!(
        deleted + (32 << 20) > written,
        "freed without a trim: {written} -> {deleted}"
    );

    let out = ct.pct_ok(&["fstrim", &id]);
    let rootfs = root.join(&format!("var/lib/lxc/{vmid}/rootfs"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with(&format!("{}/: ", rootfs.display()))
            && lines[0].ends_with(" bytes) trimmed"),
        "{out}"
    );
    assert!(
        lines[1].starts_with(&format!("{}/mnt/data: ", rootfs.display())),
        "{out}"
    );
    let trimmed = allocated(&image);
    assert!(
        trimmed + (48 << 20) < deleted,
        "fstrim freed too little: {deleted} -> {trimmed}"
    );
    let config = ct.pct_ok(&["config", &id]);
    assert!(!config.contains("lock:"), "{config}");

    // The root only, and a stopped container's volumes mounted for the trim.
    let out = ct.pct_ok(&["fstrim", &id, "--ignore-mountpoints"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    ct.pct_ok(&["stop", &id]);
    let out = ct.pct_ok(&["fstrim", &id]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(root.mounts_below().is_empty(), "left mounted");
    assert!(!ct.pct_ok(&["config", &id]).contains("lock:"));

    // A locked container is not trimmed.
    root.append_config(vmid, "lock: backup\n");
    assert_fails(ct.pct(&["fstrim", &id]), "CT is locked (backup)");
}

#[test]
fn rescan_adds_orphans_as_unused_and_corrects_sizes() {
    let root = TestRoot::new();
    let vmid = 10204;
    let template = root.install_template(&busybox_template());
    create(&root, vmid, &template, true, &[]);
    let ct = Ct { root: &root, vmid };
    let id = ct.id();
    let images = root.join(&format!("var/lib/vz/images/{vmid}"));
    // An image nobody names, and one an mp names with the wrong size.
    let orphan = fs::File::create(images.join(format!("vm-{vmid}-disk-5.raw"))).unwrap();
    orphan.set_len(4 << 20).unwrap();
    let named = fs::File::create(images.join(format!("vm-{vmid}-disk-1.raw"))).unwrap();
    named.set_len(8 << 20).unwrap();
    root.append_config(
        vmid,
        &format!("mp0: local:{vmid}/vm-{vmid}-disk-1.raw,mp=/data,size=1G\n"),
    );
    let config_path = format!("etc/pve/lxc/{vmid}.conf");
    let before = root.read(&config_path);

    let out = ct.pct_ok(&["rescan", "--vmid", &id, "--dryrun"]);
    let expected = format!(
        "NOTE: running in dry-run mode, won't write changes out!\n\
         rescan volumes...\n\
         CT {vmid}: add unreferenced volume 'local:{vmid}/vm-{vmid}-disk-5.raw' as 'unused0' to config.\n\
         CT {vmid}: updated volume size of 'local:{vmid}/vm-{vmid}-disk-1.raw' in config.\n"
    );
    assert_eq!(out, expected);
    assert_eq!(
        root.read(&config_path),
        before,
        "a dry run changed the config"
    );

    let out = ct.pct_ok(&["rescan", "--vmid", &id]);
    assert_eq!(
        out,
        expected
            .lines()
            .skip(1)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
    let after = root.read(&config_path);
    assert!(
        after.contains(&format!("unused0: local:{vmid}/vm-{vmid}-disk-5.raw\n")),
        "{after}"
    );
    assert!(
        after.contains(&format!(
            "mp0: local:{vmid}/vm-{vmid}-disk-1.raw,mp=/data,size=8M\n"
        )),
        "{after}"
    );
    // Nothing more to do, for this container or all of them.
    assert_eq!(ct.pct_ok(&["rescan"]), "rescan volumes...\n");
    assert_eq!(root.read(&config_path), after);

    root.append_config(vmid, "lock: backup\n");
    let (code, out, err) = ct.pct(&["rescan", "--vmid", &id]);
    assert_eq!(
        (code, err.trim_end()),
        (255, "CT is locked (backup)"),
        "{out}"
    );
    assert_fails(
        ct.pct(&["rescan", "--vmid", "10299"]),
        &format!(
            "Configuration file 'nodes/{}/lxc/10299.conf' does not exist",
            rustix::system::uname().nodename().to_string_lossy()
        ),
    );
}

#[test]
fn rescan_counts_a_volume_seen_through_two_storages_once() {
    let root = TestRoot::new();
    let vmid = 10206;
    let template = root.install_template(&busybox_template());
    create(&root, vmid, &template, true, &[]);
    let ct = Ct { root: &root, vmid };
    // Two storages on one directory, and one that holds no container volumes.
    root.write(
        "etc/pve/storage.cfg",
        "dir: local\n\tpath /var/lib/vz\n\tcontent rootdir,images,vztmpl\n\n\
         dir: alias\n\tpath /var/lib/vz\n\tcontent rootdir\n\n\
         dir: vms\n\tpath /var/lib/vz\n\tcontent images\n",
    );
    let images = root.join(&format!("var/lib/vz/images/{vmid}"));
    let orphan = fs::File::create(images.join(format!("vm-{vmid}-disk-3.raw"))).unwrap();
    orphan.set_len(1 << 20).unwrap();

    let out = ct.pct_ok(&["rescan", "--vmid", &ct.id()]);
    let added: Vec<&str> = out
        .lines()
        .filter(|line| line.contains("add unreferenced volume"))
        .collect();
    assert_eq!(added.len(), 1, "{out}");
    assert!(!added[0].contains("'vms:"), "{out}");
    let config = root.read(&format!("etc/pve/lxc/{vmid}.conf"));
    assert_eq!(config.matches("unused").count(), 1, "{config}");
    // The rootfs, named through `local`, is no orphan through `alias`.
    assert!(!out.contains("subvol"), "{out}");
}
