//! Guest setup on real containers (run as root): `pct create` writes the guest's files the
//! way pct does (network, host name, DNS, root password and keys, SSH host keys, owned by
//! the mapped root), and a debootstrapped Debian 12 started on a bridge brings its static
//! address up through its own ifupdown, reachable from the host side of the bridge.
//!
//! CTIDs 96xx are this file's.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::{Duration, Instant};

use common::net::NetHost;
use common::{TestRoot, debian_template};

/// Stops the container when the test ends, however it ends.
struct Running<'a> {
    host: &'a NetHost,
    root: &'a TestRoot,
    vmid: u32,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let _ = self
            .host
            .pct(self.root, &["stop", &self.vmid.to_string(), "--skiplock"]);
    }
}

fn ping_from(host: &NetHost, address: &str) -> bool {
    Command::new("ip")
        .args([
            "netns", "exec", &host.name, "busybox", "ping", "-c", "1", "-W", "1", address,
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The rootfs of a stopped directory-backed container as the host sees it.
fn rootfs(root: &TestRoot, vmid: u32) -> std::path::PathBuf {
    root.join(&format!(
        "var/lib/vz/images/{vmid}/subvol-{vmid}-disk-0.subvol"
    ))
}

#[test]
fn debian_12_comes_up_with_its_static_address_from_its_own_networking() {
    let host = NetHost::new("gsetup");
    common::net::ip(&[
        "-n",
        &host.name,
        "addr",
        "add",
        "10.96.0.1/24",
        "dev",
        "br0",
    ]);
    common::net::ip(&[
        "-n",
        &host.name,
        "addr",
        "add",
        "fd96::1/64",
        "dev",
        "br0",
        "nodad",
    ]);
    let root = TestRoot::new();
    let template = root.install_template(&debian_template());
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBk2lCrzSj1vTxZVfF1sa0t2DmYxAbkSbCtvkrm+Vrhl test@corral";
    root.write("keys.pub", &format!("{key}\n"));
    let keys = root.join("keys.pub");
    let vmid = 9601;
    let id = vmid.to_string();
    let out = host.pct_ok(
        &root,
        &[
            "create",
            &id,
            &template,
            "--rootfs",
            "local:0",
            "--hostname",
            "web.corral.test",
            "--net0",
            "name=eth0,bridge=br0,ip=10.96.0.2/24,gw=10.96.0.1,ip6=fd96::2/64,gw6=fd96::1",
            "--nameserver",
            "10.96.0.1",
            "--searchdomain",
            "corral.test",
            "--timezone",
            "Europe/Vienna",
            "--password",
            "correct horse",
            "--ssh-public-keys",
            keys.to_str().unwrap(),
        ],
    );
    assert!(out.contains("Detected container architecture: "), "{out}");
    let config = root.read(&format!("etc/pve/lxc/{vmid}.conf"));
    assert!(config.contains("ostype: debian\n"), "{config}");

    // What create wrote, as the host sees it: owned by the mapped root.
    let rootfs = rootfs(&root, vmid);
    let read = |path: &str| fs::read_to_string(rootfs.join(path)).unwrap();
    // The exact bytes are the unit tests' business; here: the stanzas ifupdown will read.
    let interfaces = read("etc/network/interfaces");
    for stanza in [
        "auto lo\niface lo inet loopback\n",
        "auto eth0\niface eth0 inet static\n\taddress 10.96.0.2/24\n\tgateway 10.96.0.1\n",
        "iface eth0 inet6 static\n\taddress fd96::2/64\n\tgateway fd96::1\n",
    ] {
        assert!(interfaces.contains(stanza), "{interfaces}");
    }
    assert_eq!(
        read("etc/resolv.conf"),
        "# --- BEGIN PVE ---\nsearch corral.test\nnameserver 10.96.0.1\n# --- END PVE ---\n"
    );
    let shadow = read("etc/shadow");
    let root_entry = shadow.lines().find(|l| l.starts_with("root:")).unwrap();
    assert!(root_entry.starts_with("root:$6$"), "{root_entry}");
    assert!(read("root/.ssh/authorized_keys").contains(key));
    assert!(!rootfs.join("etc/machine-id").exists());
    assert_eq!(
        fs::read_link(rootfs.join("etc/localtime")).unwrap(),
        std::path::Path::new("/usr/share/zoneinfo/Europe/Vienna")
    );
    let interfaces = fs::metadata(rootfs.join("etc/network/interfaces")).unwrap();
    assert_eq!((interfaces.uid(), interfaces.gid()), (100000, 100000));
    let preset = rootfs.join("etc/systemd/system-preset/00-pve.preset");
    assert!(
        fs::read_to_string(&preset)
            .unwrap()
            .contains("disable systemd-networkd.service\n")
    );

    // Start: ifupdown inside the container brings eth0 up with the address.
    host.pct_ok(&root, &["start", &id]);
    let _running = Running {
        host: &host,
        root: &root,
        vmid,
    };
    let since = Instant::now();
    while !ping_from(&host, "10.96.0.2") {
        assert!(
            since.elapsed() < Duration::from_secs(90),
            "10.96.0.2 never answered"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let exec = |script: &str| host.pct_ok(&root, &["exec", &id, "--", "sh", "-c", script]);
    let addresses = exec("ip -o addr show dev eth0");
    assert!(addresses.contains("inet 10.96.0.2/24"), "{addresses}");
    // ifupdown's unit is what configured it (it may still be finishing the IPv6 part).
    let state = host
        .pct(
            &root,
            &[
                "exec",
                &id,
                "--",
                "sh",
                "-c",
                "for i in $(seq 120); do s=$(systemctl is-active networking); \
                 [ \"$s\" = activating ] || break; sleep 0.25; done; echo $s; \
                 systemctl status networking --no-pager 2>&1 | tail -5",
            ],
        )
        .1;
    assert!(state.starts_with("active\n"), "{state}");
    assert_eq!(exec("hostname"), "web\n");
    assert!(
        exec("cat /etc/hosts").contains("10.96.0.2 web.corral.test web\n"),
        "hosts"
    );
    let route = exec("ip -4 route show default");
    assert!(
        route.starts_with("default via 10.96.0.1 dev eth0"),
        "{route}"
    );
    let since = Instant::now();
    while !ping_from(&host, "fd96::2") {
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "fd96::2 never answered"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // Every start runs the setup again; a second start changes no byte it wrote.
    let managed = [
        "etc/network/interfaces",
        "etc/hosts",
        "etc/hostname",
        "etc/resolv.conf",
        "etc/systemd/system-preset/00-pve.preset",
    ];
    let snapshot = || -> Vec<Vec<u8>> {
        managed
            .iter()
            .map(|path| fs::read(rootfs.join(path)).unwrap())
            .collect()
    };
    let first = snapshot();
    host.pct_ok(&root, &["stop", &id]);
    host.pct_ok(&root, &["start", &id]);
    assert_eq!(snapshot(), first);
}

/// A small Debian-looking template with the files create edits: passwd/shadow, a crontab,
/// /etc/ssh, and an /etc/hosts that points at a host file.
fn guest_template(
    root: &TestRoot,
    hostile_target: &std::path::Path,
    debian_version: &str,
) -> String {
    let busybox = fs::read("/bin/busybox").expect("busybox-static provides /bin/busybox");
    let cache = root.join("var/lib/vz/template/cache");
    fs::create_dir_all(&cache).unwrap();
    let name = format!("guest-{}.tar.gz", debian_version.replace('.', "_"));
    let target = hostile_target.to_str().unwrap();
    use common::Entry::{Dir, File, Symlink};
    common::make_template(
        &cache.join(&name),
        &[
            Dir(".", 0o755, 0, 0),
            Dir("bin", 0o755, 0, 0),
            File("bin/busybox", &busybox, 0o755, 0, 0),
            Symlink("bin/sh", "busybox"),
            Dir("etc", 0o755, 0, 0),
            File("etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n", 0o644, 0, 0),
            File("etc/debian_version", format!("{debian_version}\n").as_bytes(), 0o644, 0, 0),
            File("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n", 0o644, 0, 0),
            File("etc/shadow", b"root:*:19000:0:99999:7:::\nuser:!:19000:0:99999:7:::\n", 0o640, 0, 42),
            File("etc/crontab", b"SHELL=/bin/sh\n17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly\n25 6 * * * user true\n", 0o644, 0, 0),
            Dir("etc/ssh", 0o755, 0, 0),
            Symlink("etc/hosts", target),
            Dir("root", 0o700, 0, 0),
            Dir("sbin", 0o755, 0, 0),
            Symlink("sbin/init", "/bin/busybox"),
        ],
    );
    format!("local:vztmpl/{name}")
}

/// Through the library, a release the plugin refuses is a setup error to match, under
/// pct's prefix, with nothing left behind. CTID 10400 (this test's own).
#[test]
fn a_refused_guest_is_a_setup_error_to_an_embedder() {
    use corral::{CreateOptions, Error, SetupError};
    let root = TestRoot::new();
    root.write("host-hosts", "127.0.0.1 the-host\n");
    let template = guest_template(&root, &root.join("host-hosts"), "3.1");
    let host = corral::Host::open(root.path()).unwrap();
    let ct = host.container(corral::Vmid::new(10400).unwrap());
    let error = ct
        .create(&CreateOptions {
            template: template.into(),
            options: vec![("rootfs".into(), "local:0".into())],
            unprivileged: Some(false),
            ..CreateOptions::default()
        })
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "unable to create CT 10400 - Container Debian version '3' is too old"
    );
    let Error::Setup(setup) = error.root_cause() else {
        panic!("{error:?}");
    };
    assert!(
        matches!(setup, SetupError::Unsupported { ostype: "debian", version } if version == "3"),
        "{setup:?}"
    );
    // The chain reaches the setup error from the top.
    let mut chain = std::iter::successors(Some(&error as &dyn std::error::Error), |e| e.source());
    assert!(chain.any(|e| e.downcast_ref::<SetupError>().is_some()));
    assert!(!root.join("etc/pve/lxc/10400.conf").exists());
    assert!(!rootfs(&root, 10400).exists());
}

/// A start whose pre-start guest setup fails stops at that step, with pct's words and the
/// system's error underneath (it crosses from the monitor as its errno). CTID 10401.
#[test]
fn a_failed_guest_setup_at_start_names_the_step_and_errno() {
    use corral::{CreateOptions, Error, StartOptions, StartStep};
    let root = TestRoot::new();
    root.write("host-hosts", "127.0.0.1 the-host\n");
    let template = guest_template(&root, &root.join("host-hosts"), "12.7");
    let host = corral::Host::open(root.path()).unwrap();
    let ct = host.container(corral::Vmid::new(10401).unwrap());
    ct.create(&CreateOptions {
        template: template.into(),
        options: vec![
            ("rootfs".into(), "local:0".into()),
            ("hostname".into(), "box".into()),
        ],
        unprivileged: Some(false),
        ..CreateOptions::default()
    })
    .unwrap();
    let guard = common::ct::Ct {
        root: &root,
        vmid: 10401,
    };
    // A directory where the host name goes: the rename over it fails with EISDIR.
    let hostname = rootfs(&root, 10401).join("etc/hostname");
    fs::remove_file(&hostname).unwrap();
    fs::create_dir(&hostname).unwrap();

    let error = ct.start(&StartOptions::default()).unwrap_err();
    assert!(
        matches!(
            &error,
            Error::Start {
                step: StartStep::GuestSetup,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "unable to write '/etc/hostname': Is a directory (os error 21)\n\
         startup for container '10401' failed"
    );
    let os = std::error::Error::source(&error)
        .and_then(|step| step.source())
        .and_then(|e| e.downcast_ref::<std::io::Error>())
        .expect("the operating-system error");
    assert_eq!(os.raw_os_error(), Some(libc::EISDIR));
    guard.assert_nothing_left();
}

#[test]
fn create_writes_the_guest_files_as_the_mapped_root_and_never_outside() {
    let root = TestRoot::new();
    root.write("host-hosts", "127.0.0.1 the-host\n");
    let hostile = root.join("host-hosts");
    let template = guest_template(&root, &hostile, "12.7");
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBk2lCrzSj1vTxZVfF1sa0t2DmYxAbkSbCtvkrm+Vrhl test@corral";
    root.write("keys.pub", &format!("\n{key}\n"));
    let keys = root.join("keys.pub");
    let out = root.pct_ok(&[
        "create",
        "9602",
        &template,
        "--rootfs",
        "local:0",
        "--hostname",
        "box",
        "--password",
        "$6$saltsalt$HASHHASH",
        "--ssh-public-keys",
        keys.to_str().unwrap(),
        "--net0",
        "name=eth0,bridge=vmbr0,ip=dhcp",
    ]);
    for name in [
        "ssh_host_rsa_key",
        "ssh_host_ecdsa_key",
        "ssh_host_ed25519_key",
    ] {
        assert!(
            out.contains(&format!(
                "Creating SSH host key '{name}' - this may take some time ...\ndone: SHA256:"
            )),
            "{out}"
        );
    }
    let rootfs = rootfs(&root, 9602);
    let owner = |path: &str| {
        let meta = fs::symlink_metadata(rootfs.join(path)).unwrap();
        (meta.uid(), meta.gid(), meta.mode() & 0o7777)
    };
    // The host file the template's /etc/hosts pointed at is untouched; the link was replaced.
    assert_eq!(
        fs::read_to_string(&hostile).unwrap(),
        "127.0.0.1 the-host\n"
    );
    assert!(
        fs::symlink_metadata(rootfs.join("etc/hosts"))
            .unwrap()
            .is_file()
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/hostname")).unwrap(),
        "box\n"
    );
    let shadow = fs::read_to_string(rootfs.join("etc/shadow")).unwrap();
    assert!(shadow.starts_with("root:$6$saltsalt$HASHHASH:"), "{shadow}");
    assert!(shadow.contains("\nuser:!:19000:"), "{shadow}");
    assert_eq!(owner("etc/shadow"), (100000, 100042, 0o640));
    let crontab = fs::read_to_string(rootfs.join("etc/crontab")).unwrap();
    assert!(crontab.ends_with("25 6 * * * user true\n"), "{crontab}");
    assert_eq!(crontab.lines().count(), 3);
    assert_eq!(
        fs::read_to_string(rootfs.join("root/.ssh/authorized_keys")).unwrap(),
        format!("# --- BEGIN PVE ---\n\n{key}\n# --- END PVE ---\n")
    );
    assert_eq!(owner("root/.ssh"), (100000, 100000, 0o700));
    assert_eq!(
        owner("etc/ssh/ssh_host_ed25519_key"),
        (100000, 100000, 0o600)
    );
    assert_eq!(
        owner("etc/ssh/ssh_host_ed25519_key.pub"),
        (100000, 100000, 0o644)
    );
    let public = fs::read_to_string(rootfs.join("etc/ssh/ssh_host_ed25519_key.pub")).unwrap();
    assert!(public.trim_end().ends_with(" root@box"), "{public}");
    assert_eq!(owner("etc/hosts").0, 100000);
}

#[test]
fn a_refused_guest_leaves_no_container_behind() {
    let root = TestRoot::new();
    root.write("host-hosts", "127.0.0.1 the-host\n");
    let template = guest_template(&root, &root.join("host-hosts"), "3.1");
    let (code, _, err) = root.pct(&["create", "9603", &template, "--rootfs", "local:0"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("Container Debian version '3' is too old"),
        "{err}"
    );
    assert!(!root.join("etc/pve/lxc/9603.conf").exists());
    assert!(!rootfs(&root, 9603).exists());
    // A bad key is refused before anything is made.
    root.write("bad.pub", "ssh-rsa not-a-key\n");
    let bad = root.join("bad.pub");
    let template = guest_template(&root, &root.join("host-hosts"), "12.7");
    let (code, _, err) = root.pct(&[
        "create",
        "9603",
        &template,
        "--ssh-public-keys",
        bad.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("SSH public key validation error"), "{err}");
    let (code, _, err) = root.pct(&["create", "9603", &template, "--password", "abc"]);
    assert_eq!(code, 255);
    assert!(
        err.contains("password: value must be at least 5 characters long"),
        "{err}"
    );
    assert!(!root.join("etc/pve/lxc/9603.conf").exists());
}
