//! End-to-end tests of the `pct` binary against temporary host roots (run as root: they
//! allocate raw images on loop devices and mount them).

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use common::{TestRoot, debianish_template, loop_devices_below};

/// The loop devices of the host root's images are gone soon after their last unmount: the
/// kernel clears an autoclear loop device in the background once its last user lets go
/// (asynchronously since Linux 5.17), so a check right after the unmount can still see it.
fn loop_devices_detach(root: &TestRoot) {
    common::ct::wait_until(
        "the loop devices of the unmounted images to detach",
        std::time::Duration::from_secs(5),
        || loop_devices_below(root.path()).is_empty(),
    );
}

const TEMPLATE: &str = "local:vztmpl/debianish_12.0-1_amd64.tar.gz";

fn config_lines(root: &TestRoot, vmid: &str) -> Vec<String> {
    root.pct_ok(&["config", vmid])
        .lines()
        .map(str::to_string)
        .collect()
}

fn line_with<'a>(lines: &'a [String], prefix: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no '{prefix}' in {lines:#?}"))
}

#[test]
fn create_privileged_on_a_directory_volume() {
    let root = TestRoot::new();
    debianish_template(&root);
    root.pct_ok(&[
        "create",
        "100",
        TEMPLATE,
        "--hostname",
        "web",
        "--memory",
        "1024",
        "--unprivileged",
        "0",
        "--rootfs",
        "local:0",
        "--net0",
        "name=eth0,bridge=vmbr0,ip=dhcp",
    ]);
    let lines = config_lines(&root, "100");
    assert_eq!(line_with(&lines, "arch:"), "arch: amd64");
    assert_eq!(line_with(&lines, "hostname:"), "hostname: web");
    assert_eq!(line_with(&lines, "memory:"), "memory: 1024");
    assert_eq!(line_with(&lines, "ostype:"), "ostype: debian");
    assert_eq!(line_with(&lines, "swap:"), "swap: 512");
    assert!(
        lines
            .iter()
            .all(|l| !l.starts_with("unprivileged:") && !l.starts_with("lock:")),
        "{lines:#?}"
    );
    let net0 = line_with(&lines, "net0:");
    assert!(
        net0.starts_with("net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:"),
        "{net0}"
    );
    assert!(net0.ends_with(",ip=dhcp,type=veth"), "{net0}");
    // Keys come out sorted, as pct writes them.
    let keys: Vec<&str> = lines.iter().map(|l| l.split(':').next().unwrap()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);

    let rootfs = line_with(&lines, "rootfs:");
    assert!(
        rootfs.starts_with("rootfs: local:100/subvol-100-disk-0"),
        "{rootfs}"
    );
    let volume = root.join("var/lib/vz/images/100");
    let subvol = fs::read_dir(&volume)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(
        fs::read_to_string(subvol.join("etc/debian_version")).unwrap(),
        "12.7\n"
    );
    // Privileged: ids are kept as in the archive.
    assert_eq!(
        fs::metadata(subvol.join("home/user/notes")).unwrap().uid(),
        1000
    );
    assert!(
        root.mounts_below().is_empty(),
        "create left mounts: {:?}",
        root.mounts_below()
    );
}

#[test]
fn create_unprivileged_on_a_raw_image_and_mount_it() {
    let root = TestRoot::new();
    debianish_template(&root);
    root.pct_ok(&["create", "101", TEMPLATE, "--rootfs", "local:1"]);
    let lines = config_lines(&root, "101");
    assert_eq!(
        line_with(&lines, "rootfs:"),
        "rootfs: local:101/vm-101-disk-0.raw,size=1G"
    );
    assert_eq!(line_with(&lines, "unprivileged:"), "unprivileged: 1");
    assert_eq!(line_with(&lines, "hostname:"), "hostname: CT101");
    assert!(root.mounts_below().is_empty());
    loop_devices_detach(&root);

    let out = root.pct_ok(&["mount", "101"]);
    assert_eq!(out, "mounted CT 101 in '/var/lib/lxc/101/rootfs'\n");
    let mounted = root.join("var/lib/lxc/101/rootfs");
    let notes = fs::metadata(mounted.join("home/user/notes")).unwrap();
    assert_eq!(
        (notes.uid(), notes.gid()),
        (101000, 101000),
        "ids shifted through the default map"
    );
    assert_eq!(
        fs::metadata(mounted.join("etc/os-release")).unwrap().uid(),
        100000
    );
    assert_eq!(
        line_with(&config_lines(&root, "101"), "lock:"),
        "lock: mounted"
    );
    let (code, _, stderr) = root.pct(&["mount", "101"]);
    assert_eq!((code, stderr.trim()), (255, "CT is locked (mounted)"));

    let (code, _, stderr) = root.pct(&["df", "101"]);
    assert_eq!((code, stderr.trim()), (255, "CT is locked (mounted)"));

    root.pct_ok(&["unmount", "101"]);
    assert!(root.mounts_below().is_empty());
    loop_devices_detach(&root);
    assert!(
        config_lines(&root, "101")
            .iter()
            .all(|l| !l.starts_with("lock:"))
    );

    let df = root.pct_ok(&["df", "101"]);
    let rows: Vec<&str> = df.lines().collect();
    assert!(rows[0].starts_with("MP     Volume"), "{df}");
    assert!(
        rows[1].starts_with("rootfs local:101/vm-101-disk-0.raw"),
        "{df}"
    );
    assert!(rows[1].trim_end().ends_with(" /"), "{df}");
    assert!(root.mounts_below().is_empty());
}

#[test]
fn failed_create_leaves_nothing_behind() {
    let root = TestRoot::new();
    let cache = root.join("var/lib/vz/template/cache");
    fs::create_dir_all(&cache).unwrap();
    fs::write(
        cache.join("broken.tar.gz"),
        b"\x1f\x8b\x08\x00not really gzip",
    )
    .unwrap();
    let (code, _, stderr) = root.pct(&[
        "create",
        "102",
        "local:vztmpl/broken.tar.gz",
        "--rootfs",
        "local:1",
    ]);
    assert_eq!(code, 255);
    assert!(stderr.contains("unable to create CT 102 - "), "{stderr}");
    assert!(!root.join("etc/pve/lxc/102.conf").exists());
    let images = root.join("var/lib/vz/images/102");
    assert!(
        !images.exists() || fs::read_dir(&images).unwrap().next().is_none(),
        "volume left behind"
    );
    assert!(root.mounts_below().is_empty());
    loop_devices_detach(&root);

    let (code, _, stderr) = root.pct(&["create", "102", "local:vztmpl/missing.tar.gz"]);
    assert_eq!(code, 255, "{stderr}");
    assert!(!root.join("etc/pve/lxc/102.conf").exists());
}

#[test]
fn create_refuses_an_existing_id_and_bad_values() {
    let root = TestRoot::new();
    debianish_template(&root);
    root.pct_ok(&["create", "103", TEMPLATE, "--rootfs", "local:0"]);
    let before = root.read("etc/pve/lxc/103.conf");
    let (code, _, stderr) = root.pct(&["create", "103", TEMPLATE, "--rootfs", "local:0"]);
    assert_eq!(code, 255);
    assert!(stderr.contains("CT 103 already exists on node"), "{stderr}");
    assert_eq!(root.read("etc/pve/lxc/103.conf"), before);

    let (code, _, stderr) = root.pct(&[
        "create", "104", TEMPLATE, "--memory", "8", "--onboot", "maybe",
    ]);
    assert_eq!(code, 255);
    assert!(
        stderr.starts_with("400 Parameter verification failed.\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains("memory: value must have a minimum value of 16"),
        "{stderr}"
    );
    assert!(
        stderr.contains("onboot: type check ('boolean') failed - got 'maybe'"),
        "{stderr}"
    );
    assert!(!root.join("etc/pve/lxc/104.conf").exists());

    let (code, _, stderr) = root.pct(&["create", "104", TEMPLATE, "--mp0", "local:1,mp=/data"]);
    assert_eq!(
        (code, stderr.trim()),
        (
            255,
            "mount points configured, but 'rootfs' not set - aborting"
        )
    );
}

/// The command line's own refusals, in pct's words, without the usage line of a parameter
/// error.
#[test]
fn the_command_lines_own_refusals_speak_pct() {
    let root = TestRoot::new();
    let missing = root.join("no-such-keys.pub");
    let missing = missing.to_str().unwrap();
    let cases: [(&[&str], String); 3] = [
        (&["exec", "10446", "--"], "missing command\n".into()),
        (
            &["help", "frobnicate"],
            "no such command 'frobnicate'\n".into(),
        ),
        (
            &[
                "create",
                "10446",
                "local:vztmpl/none.tar.gz",
                "--ssh-public-keys",
                missing,
            ],
            format!("unable to open file '{missing}' - No such file or directory (os error 2)\n"),
        ),
    ];
    for (args, words) in cases {
        let (code, _, stderr) = root.pct(args);
        assert_eq!((code, stderr.as_str()), (255, words.as_str()), "{args:?}");
    }
    assert!(!root.join("etc/pve/lxc/10446.conf").exists());
}

#[test]
fn usage_errors_speak_pct() {
    let root = TestRoot::new();
    let (code, _, stderr) = root.pct(&["config", "abc"]);
    assert_eq!(
        (code, stderr.as_str()),
        (
            255,
            "400 Parameter verification failed.\nvmid: type check ('integer') failed - got 'abc'\npct config <vmid> [OPTIONS]\n"
        )
    );
    let (code, _, stderr) = root.pct(&["create", "100"]);
    assert_eq!(code, 255);
    assert!(
        stderr.starts_with("400 not enough arguments\npct create <vmid> <ostemplate> [OPTIONS]"),
        "{stderr}"
    );
    // The usage is the subcommand's, also past the global --root.
    let root_dir = root.path().to_str().unwrap();
    for args in [
        ["--root", root_dir, "create", "100"],
        ["create", "--root", root_dir, "100"],
    ] {
        let (code, _, stderr) = root.pct(&args);
        assert_eq!(code, 255, "{args:?}");
        assert!(
            stderr.starts_with("400 not enough arguments\npct create <vmid> <ostemplate>"),
            "{args:?}: {stderr}"
        );
    }
    let (code, _, stderr) = root.pct(&["set", "100", "--bogus", "1"]);
    assert_eq!(code, 255);
    assert!(
        stderr.starts_with("Unknown option: bogus\n400 unable to parse option"),
        "{stderr}"
    );
    let (code, _, stderr) = root.pct(&["frobnicate"]);
    assert_eq!(code, 255);
    assert!(
        stderr.starts_with("ERROR: unknown command 'pct frobnicate'"),
        "{stderr}"
    );
    let (code, _, stderr) = root.pct(&["config", "100"]);
    assert_eq!(code, 255);
    assert!(
        stderr.contains("Configuration file 'nodes/")
            && stderr.contains("/lxc/100.conf' does not exist"),
        "{stderr}"
    );
}

/// A config as pct writes it, with a description, raw lxc keys, a snapshot and pending.
const PCT_WRITTEN: &str = "#Web server%3A production
#second line
arch: amd64
cores: 2
hostname: web
memory: 2048
net0: name=eth0,bridge=vmbr0,firewall=1,gw=10.0.0.1,hwaddr=BC:24:11:12:34:56,ip=10.0.0.5/24,type=veth
ostype: debian
parent: before-upgrade
rootfs: local:105/vm-105-disk-0.raw,size=8G
swap: 512
unprivileged: 1
lxc.apparmor.profile: unconfined
lxc.cgroup2.devices.allow: c 10:200 rwm

[pve:pending]
delete: swap
memory: 4096

[before-upgrade]
arch: amd64
hostname: web
memory: 1024
ostype: debian
rootfs: local:105/vm-105-disk-0.raw,size=8G
snaptime: 1700000000
swap: 512
unprivileged: 1
";

#[test]
fn set_keeps_a_pct_written_file_byte_for_byte() {
    let root = TestRoot::new();
    root.write("etc/pve/lxc/105.conf", PCT_WRITTEN);
    root.pct_ok(&["set", "105", "-onboot", "1"]);
    // The stopped container gets every pending change applied, and onboot lands in order.
    let after = root.read("etc/pve/lxc/105.conf");
    let expected = PCT_WRITTEN
        .replace("memory: 2048\n", "memory: 4096\n")
        .replace(
            "ostype: debian\nparent",
            "onboot: 1\nostype: debian\nparent",
        )
        .replace(
            "rootfs: local:105/vm-105-disk-0.raw,size=8G\nswap: 512\nunprivileged: 1\nlxc",
            "rootfs: local:105/vm-105-disk-0.raw,size=8G\nunprivileged: 1\nlxc",
        )
        .replace("\n[pve:pending]\ndelete: swap\nmemory: 4096\n", "");
    assert_eq!(after, expected);
}

#[test]
fn set_revert_drops_the_pending_changes_it_names() {
    let root = TestRoot::new();
    root.write("etc/pve/lxc/105.conf", PCT_WRITTEN);
    // Reverting memory keeps 2048; the stopped container gets the rest (delete swap) applied.
    root.pct_ok(&["set", "105", "--revert", "memory"]);
    let after = root.read("etc/pve/lxc/105.conf");
    let expected = PCT_WRITTEN
        .replace(
            "rootfs: local:105/vm-105-disk-0.raw,size=8G\nswap: 512\nunprivileged: 1\nlxc",
            "rootfs: local:105/vm-105-disk-0.raw,size=8G\nunprivileged: 1\nlxc",
        )
        .replace("\n[pve:pending]\ndelete: swap\nmemory: 4096\n", "");
    assert_eq!(after, expected);

    // A pending delete is reverted too: swap stays.
    root.write("etc/pve/lxc/105.conf", PCT_WRITTEN);
    root.pct_ok(&["set", "105", "--revert", "swap", "--revert", "memory"]);
    let after = root.read("etc/pve/lxc/105.conf");
    assert_eq!(
        after,
        PCT_WRITTEN.replace("\n[pve:pending]\ndelete: swap\nmemory: 4096\n", "")
    );

    root.write("etc/pve/lxc/105.conf", PCT_WRITTEN);
    for (args, message) in [
        (
            &["--revert", "memory", "--memory", "1024"][..],
            "400 Parameter verification failed.\nrevert: you can't use '-memory' and '-revert memory' at the same time",
        ),
        (
            &["--revert", "swap", "--delete", "swap"][..],
            "400 Parameter verification failed.\ndelete: you can't use '-delete swap' and '-revert swap' at the same time",
        ),
        (
            &["--revert", "nonsense"][..],
            "400 Parameter verification failed.\nrevert: unknown option 'nonsense'",
        ),
    ] {
        let mut argv = vec!["set", "105"];
        argv.extend_from_slice(args);
        let (code, _, stderr) = root.pct(&argv);
        assert_eq!(code, 255, "{args:?}");
        // pct follows a parameter error with the command's usage line.
        assert!(stderr.starts_with(message), "{args:?}: {stderr}");
    }
    assert_eq!(
        root.read("etc/pve/lxc/105.conf"),
        PCT_WRITTEN,
        "a refused revert writes nothing"
    );
}

#[test]
fn pending_config_current_and_snapshot_views() {
    let root = TestRoot::new();
    root.write("etc/pve/lxc/105.conf", PCT_WRITTEN);
    let pending = root.pct_ok(&["pending", "105"]);
    assert!(
        pending.contains("cur memory: 2048\nnew memory: 4096\n"),
        "{pending}"
    );
    assert!(pending.contains("del swap: 512\n"), "{pending}");
    assert!(
        pending.contains("cur description: Web server%3A production%0Asecond line%0A"),
        "{pending}"
    );

    let merged = root.pct_ok(&["config", "105"]);
    assert!(
        merged.contains("memory: 4096\n") && !merged.contains("swap:"),
        "{merged}"
    );
    assert!(
        merged.contains("description: Web server%3A production%0Asecond line%0A\n"),
        "{merged}"
    );
    assert!(
        merged.ends_with(
            "lxc.apparmor.profile: unconfined\nlxc.cgroup2.devices.allow: c 10:200 rwm\n"
        ),
        "{merged}"
    );
    let current = root.pct_ok(&["config", "105", "--current"]);
    assert!(
        current.contains("memory: 2048\n") && current.contains("swap: 512\n"),
        "{current}"
    );
    let snapshot = root.pct_ok(&["config", "105", "--snapshot", "before-upgrade"]);
    assert!(
        snapshot.contains("memory: 1024\n") && snapshot.contains("snaptime: 1700000000\n"),
        "{snapshot}"
    );
    let (code, _, stderr) = root.pct(&["config", "105", "--snapshot", "nope"]);
    assert_eq!(
        (code, stderr.trim()),
        (255, "snapshot 'nope' does not exist")
    );

    let json: serde_json::Value =
        serde_json::from_str(&root.pct_ok(&["config", "105", "--output-format", "json"])).unwrap();
    assert_eq!(json["memory"], 4096);
    assert_eq!(json["unprivileged"], 1);
    assert_eq!(json["hostname"], "web");
    assert_eq!(json["digest"].as_str().unwrap().len(), 40);
}

#[test]
fn set_delete_digest_and_errors() {
    let root = TestRoot::new();
    root.write(
        "etc/pve/lxc/106.conf",
        "arch: amd64\nhostname: a\nmemory: 512\nostype: debian\nrootfs: local:0\nswap: 256\n",
    );
    let (code, _, stderr) = root.pct(&["set", "106"]);
    assert_eq!((code, stderr.trim()), (255, "no options specified"));
    root.pct_ok(&["set", "106", "--delete", "swap", "--hostname", "b"]);
    let text = root.read("etc/pve/lxc/106.conf");
    assert_eq!(
        text,
        "arch: amd64\nhostname: b\nmemory: 512\nostype: debian\nrootfs: local:0\n"
    );

    let (code, _, stderr) = root.pct(&[
        "set",
        "106",
        "--memory",
        "1024",
        "--digest",
        "0000000000000000000000000000000000000000",
    ]);
    assert_eq!(
        (code, stderr.trim()),
        (
            255,
            "detected modified configuration - file changed by other user? Try again."
        )
    );
    let json: serde_json::Value =
        serde_json::from_str(&root.pct_ok(&["config", "106", "--output-format", "json"])).unwrap();
    let digest = json["digest"].as_str().unwrap().to_string();
    root.pct_ok(&["set", "106", "--memory", "1024", "--digest", &digest]);
    assert!(root.read("etc/pve/lxc/106.conf").contains("memory: 1024\n"));

    let (code, _, stderr) = root.pct(&["set", "106", "--memory", "8"]);
    assert_eq!(code, 255);
    assert!(
        stderr.contains("memory: value must have a minimum value of 16"),
        "{stderr}"
    );
    let (code, _, stderr) = root.pct(&["set", "106", "--delete", "memory"]);
    assert_eq!(code, 255);
    assert!(
        stderr.contains("unable to delete required option 'memory'"),
        "{stderr}"
    );
    assert!(
        root.read("etc/pve/lxc/106.conf").contains("memory: 1024\n"),
        "a refused set writes nothing"
    );

    root.write(
        "etc/pve/lxc/106.conf",
        "hostname: b\nlock: backup\nmemory: 512\nrootfs: local:0\n",
    );
    let (code, _, stderr) = root.pct(&["set", "106", "--memory", "600"]);
    assert_eq!((code, stderr.trim()), (255, "CT is locked (backup)"));
}

#[test]
fn unlock_destroy_protection_and_list() {
    let root = TestRoot::new();
    debianish_template(&root);
    root.pct_ok(&[
        "create",
        "107",
        TEMPLATE,
        "--rootfs",
        "local:1",
        "--hostname",
        "db",
    ]);
    root.pct_ok(&[
        "create",
        "108",
        TEMPLATE,
        "--rootfs",
        "local:0",
        "--protection",
        "1",
    ]);

    let list = root.pct_ok(&["list"]);
    assert_eq!(
        list,
        format!(
            "{:<10} {:<10} {:<12} {:<20}\n{:<10} {:<10} {:<12} {:<20}\n{:<10} {:<10} {:<12} {:<20}\n",
            "VMID",
            "Status",
            "Lock",
            "Name",
            "107",
            "stopped",
            "",
            "db",
            "108",
            "stopped",
            "",
            "CT108"
        )
    );
    let json: serde_json::Value =
        serde_json::from_str(&root.pct_ok(&["list", "--output-format", "json"])).unwrap();
    assert_eq!(json[0]["vmid"], 107);
    assert_eq!(json[1]["name"], "CT108");

    assert_eq!(root.pct_ok(&["status", "107"]), "status: stopped\n");
    let verbose = root.pct_ok(&["status", "107", "--verbose"]);
    assert!(
        verbose.contains("maxmem: 536870912\n")
            && verbose.contains("name: db\n")
            && verbose.contains("type: lxc\n"),
        "{verbose}"
    );

    let (code, _, stderr) = root.pct(&["unlock", "107"]);
    assert_eq!(
        (code, stderr.trim()),
        (255, "no lock found trying to remove any lock")
    );

    let (code, _, stderr) = root.pct(&["destroy", "108"]);
    assert_eq!(
        (code, stderr.trim()),
        (255, "can't remove CT 108 - protection mode enabled")
    );
    assert!(root.join("etc/pve/lxc/108.conf").exists());

    let conf = root.read("etc/pve/lxc/107.conf");
    root.write(
        "etc/pve/lxc/107.conf",
        &conf.replace("hostname: db\n", "hostname: db\nlock: backup\n"),
    );
    let (code, _, stderr) = root.pct(&["destroy", "107"]);
    assert_eq!((code, stderr.trim()), (255, "CT is locked (backup)"));
    root.pct_ok(&["unlock", "107"]);
    assert!(!root.read("etc/pve/lxc/107.conf").contains("lock:"));

    let image = root.join("var/lib/vz/images/107/vm-107-disk-0.raw");
    assert!(image.exists());
    root.pct_ok(&["destroy", "107", "--purge"]);
    assert!(!image.exists());
    assert!(!root.join("etc/pve/lxc/107.conf").exists());
    assert!(root.pct_ok(&["list"]).contains("108"));
}

#[test]
fn help_completions_and_man_page() {
    let root = TestRoot::new();
    let help = root.pct_ok(&["help"]);
    assert!(
        help.starts_with("USAGE: pct <COMMAND> [ARGS] [OPTIONS]\n"),
        "{help}"
    );
    for line in [
        "       pct create <vmid> <ostemplate> [OPTIONS]",
        "       pct list [OPTIONS]",
        "       pct unlock <vmid>",
    ] {
        assert!(
            help.lines().any(|l| l == line),
            "missing {line:?} in\n{help}"
        );
    }
    let create_help = root.pct_ok(&["help", "create"]);
    assert!(
        create_help.contains("--memory") && create_help.contains("--net0"),
        "{create_help}"
    );
    let verbose = root.pct_ok(&["help", "-v"]);
    assert!(verbose.contains("--destroy-unreferenced-disks"));
    let bash = root.pct_ok(&["completions", "bash"]);
    assert!(bash.contains("pct") && bash.contains("create"));
    let man = root.pct_ok(&["man"]);
    assert!(man.contains(".TH pct"), "{}", &man[..200.min(man.len())]);
}

#[test]
fn mount_point_volumes_are_allocated_replaced_and_freed() {
    let root = TestRoot::new();
    debianish_template(&root);
    root.pct_ok(&[
        "create",
        "109",
        TEMPLATE,
        "--rootfs",
        "local:0",
        "--mp0",
        "local:1,mp=/srv/data",
    ]);
    let lines = config_lines(&root, "109");
    assert_eq!(
        line_with(&lines, "mp0:"),
        "mp0: local:109/vm-109-disk-1.raw,mp=/srv/data,size=1G"
    );
    let first = root.join("var/lib/vz/images/109/vm-109-disk-1.raw");
    assert!(first.is_file());

    // Replacing mp0 allocates a new volume; the old one is kept as unused0.
    root.pct_ok(&["set", "109", "--mp0", "local:0,mp=/srv/data,backup=0"]);
    let lines = config_lines(&root, "109");
    assert_eq!(
        line_with(&lines, "mp0:"),
        "mp0: local:109/subvol-109-disk-2.subvol,mp=/srv/data,backup=0,size=0T"
    );
    assert_eq!(
        line_with(&lines, "unused0:"),
        "unused0: local:109/vm-109-disk-1.raw"
    );
    assert!(first.is_file());

    root.pct_ok(&["mount", "109"]);
    assert!(root.join("var/lib/lxc/109/rootfs/srv/data").is_dir());
    root.pct_ok(&["unmount", "109"]);

    // Deleting unused0 frees the volume.
    root.pct_ok(&["set", "109", "--delete", "unused0"]);
    assert!(!first.exists());
    assert!(
        config_lines(&root, "109")
            .iter()
            .all(|l| !l.starts_with("unused0:"))
    );

    // A set refused after the new volume was allocated (protection) frees it again.
    root.pct_ok(&["set", "109", "--protection", "1"]);
    let (code, _, stderr) = root.pct(&["set", "109", "--mp1", "local:1,mp=/srv/more"]);
    assert_eq!(
        (code, stderr.trim()),
        (
            255,
            "can't update CT 109 drive 'mp1' - protection mode enabled"
        )
    );
    let mut images: Vec<_> = fs::read_dir(root.join("var/lib/vz/images/109"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    images.sort();
    assert_eq!(
        images,
        ["subvol-109-disk-0.subvol", "subvol-109-disk-2.subvol"],
        "no volume left from the refused set"
    );
    root.pct_ok(&["set", "109", "--protection", "0"]);
    root.pct_ok(&["destroy", "109"]);
    assert!(!root.join("var/lib/vz/images/109").exists());
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let root = TestRoot::new();
    // The reader is gone before pct starts, so its first write meets a closed pipe however
    // the two processes are scheduled (closing it after the spawn let pct sometimes finish
    // writing into the pipe's buffer first).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = Command::new(common::pct_binary())
        .args(["help", "-v"])
        .env("CORRAL_ROOT", root.path())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?}");
}

fn node_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn parameter_errors_print_as_pct_does() {
    let root = TestRoot::new();
    debianish_template(&root);
    let usage = "pct create <vmid> <ostemplate> [OPTIONS]\n";
    let cases: &[(&[&str], String)] = &[
        (
            &["create", "abc", TEMPLATE],
            format!(
                "400 Parameter verification failed.\nvmid: type check ('integer') failed - got 'abc'\n{usage}"
            ),
        ),
        // A failed format is a `die` in pct: its newline shows as an empty line.
        (
            &["create", "99", TEMPLATE],
            format!(
                "400 Parameter verification failed.\nvmid: invalid format - value does not look like a valid VM ID\n\n{usage}"
            ),
        ),
        (
            &["create", "100", TEMPLATE, "--net0", "name=eth0,bogus=1"],
            format!(
                "400 Parameter verification failed.\nnet0: invalid format - invalid key in comma-separated list property: bogus\n\n{usage}"
            ),
        ),
        (
            &["create", "100", TEMPLATE, "--net0", "name=eth0,hwaddr=01:00:00:00:00:00"],
            format!(
                "400 Parameter verification failed.\nnet0: invalid format - format error\nnet0.hwaddr: invalid format - value does not look like a valid unicast MAC address\n\n\n{usage}"
            ),
        ),
        (
            &["create", "100", TEMPLATE, "--memory"],
            format!("Option memory requires an argument\n400 unable to parse option\n{usage}"),
        ),
        (
            &["create", "100", TEMPLATE, "--sta", "1"],
            format!("Option sta is ambiguous (start, startup)\n400 unable to parse option\n{usage}"),
        ),
        (
            &["list", "--output-format", "xml"],
            "400 Parameter verification failed.\noutput-format: value 'xml' does not have a value in the enumeration 'text, json, json-pretty'\npct list [OPTIONS]\n".to_string(),
        ),
    ];
    for (args, expected) in cases {
        let (code, stdout, stderr) = root.pct(args);
        assert_eq!(
            (code, stderr.as_str(), stdout.as_str()),
            (255, expected.as_str(), ""),
            "pct {args:?}"
        );
    }
    assert!(!root.join("etc/pve/lxc/100.conf").exists());
}

#[test]
fn create_refusals_in_pct_words_and_order() {
    let root = TestRoot::new();
    debianish_template(&root);
    root.pct_ok(&["create", "110", TEMPLATE, "--rootfs", "local:0"]);
    let before = root.read("etc/pve/lxc/110.conf");
    // The id is checked before the task (no `unable to create CT` prefix), and before the
    // template is looked at.
    let (code, _, stderr) = root.pct(&["create", "110", "local:vztmpl/missing.tar.gz"]);
    assert_eq!(
        (code, stderr),
        (
            255,
            format!("CT 110 already exists on node '{}'\n", node_name())
        )
    );
    assert_eq!(root.read("etc/pve/lxc/110.conf"), before);

    let (code, _, stderr) = root.pct(&["create", "111", "-"]);
    assert_eq!(
        (code, stderr.as_str()),
        (255, "pipe can only be used with restore tasks\n")
    );
    let (code, _, stderr) = root.pct(&["create", "111", "local:vztmpl/missing.tar.gz"]);
    assert_eq!(
        (code, stderr.as_str()),
        (
            255,
            "unable to create CT 111 - can't find file 'local:vztmpl/missing.tar.gz'\n"
        )
    );
    let (code, _, stderr) = root.pct(&["create", "111", "local:iso/x.iso"]);
    assert_eq!(
        (code, stderr.as_str()),
        (
            255,
            "unable to use volume local:iso/x.iso - content type needs to be 'vztmpl'\n"
        )
    );
    assert!(!root.join("etc/pve/lxc/111.conf").exists());
    assert!(!root.join("var/lib/vz/images/111").exists());
}

#[test]
fn pct_options_corral_lacks_are_refused_not_ignored() {
    let root = TestRoot::new();
    debianish_template(&root);
    for (args, option) in [
        (
            &["create", "112", TEMPLATE, "--restore", "1"][..],
            "restore",
        ),
        (&["create", "112", TEMPLATE, "--uniq"][..], "unique"),
        (&["create", "112", TEMPLATE, "--bw", "10"][..], "bwlimit"),
        (
            &["create", "112", TEMPLATE, "--ha-managed", "1"][..],
            "ha-managed",
        ),
        (&["start", "112", "--vmid", "113"][..], "vmid"),
    ] {
        let (code, _, stderr) = root.pct(args);
        assert_eq!(
            (code, stderr),
            (
                255,
                format!("option '--{option}' is not supported by corral yet\n")
            ),
            "pct {args:?}"
        );
    }
    assert!(!root.join("etc/pve/lxc/112.conf").exists());
}

#[test]
fn stop_of_a_stopped_locked_container_says_not_running_first() {
    let root = TestRoot::new();
    root.write(
        "etc/pve/lxc/114.conf",
        "hostname: a\nlock: backup\nmemory: 512\nrootfs: local:0\n",
    );
    for command in ["stop", "shutdown"] {
        let (code, _, stderr) = root.pct(&[command, "114"]);
        assert_eq!(
            (code, stderr.as_str()),
            (255, "CT 114 not running\n"),
            "{command}"
        );
    }
    let (code, _, stderr) = root.pct(&["stop", "115"]);
    assert_eq!((code, stderr.as_str()), (255, "CT 115 not running\n"));
}
