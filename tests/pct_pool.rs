//! Resource pools in the host's user.cfg: `pct create --pool` and `pct clone --pool` add the
//! new container to the pool's line, `pct destroy` takes it out (and drops its ACLs), with
//! or without `--purge`; every other line of the file stays as it was. Run as root, CTIDs
//! 10900-10949.

mod common;

use std::fs;
use std::process::Command;

use common::TestRoot;
use common::ct::{Ct, create};

/// A user.cfg with users, a token, a group, roles, ACLs and pools; a few lines are not in
/// the form Proxmox writes, so that a rewrite of the whole file would show.
const USER_CFG: &str = "\
user:root@pam:1:0:::root@example.com:::
token:root@pam!ci:0:1:build%20bot:
user:alice@pve:1:0:Alice:Lee:alice@example.com:::

group:admins:alice@pve,root@pam:the%20admins:

pool:dev:development:100,250:local:
pool:prod:::local:
pool:team/web::::

role:Auditor2:VM.Audit,Sys.Audit:

acl:1:/vms/10901:alice@pve:PVEVMAdmin:
acl:1:/pool/dev:@admins:PVEAdmin:
  acl:0:/vms/100:@admins:PVEAuditor:
";

fn user_cfg(root: &TestRoot) -> String {
    root.read("etc/pve/user.cfg")
}

/// `USER_CFG` with each `(old line, new line)` replaced; an empty new line drops the line.
fn user_cfg_with(changes: &[(&str, &str)]) -> String {
    let mut expected = USER_CFG.to_string();
    for (old, new) in changes {
        let old = format!("{old}\n");
        assert!(expected.contains(&old), "{old} is in USER_CFG");
        let new = if new.is_empty() {
            String::new()
        } else {
            format!("{new}\n")
        };
        expected = expected.replacen(&old, &new, 1);
    }
    expected
}

fn template(root: &TestRoot) -> String {
    root.install_template(&common::busybox_template())
}

fn with_user_cfg() -> TestRoot {
    let root = TestRoot::new();
    root.write("etc/pve/user.cfg", USER_CFG);
    root
}

#[test]
fn create_with_pool_joins_it_and_destroy_leaves_it() {
    use std::os::unix::fs::PermissionsExt;
    let root = with_user_cfg();
    let path = root.join("etc/pve/user.cfg");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    // What a writer killed before its rename left.
    let mut gone = Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    root.write(&format!("etc/pve/.user.cfg.tmp.{}", gone.id()), "half");
    let template = template(&root);
    let _ct = Ct {
        root: &root,
        vmid: 10901,
    };
    create(&root, 10901, &template, false, &["--pool", "dev"]);
    // The file is replaced, keeping its mode, and nothing is left beside it.
    let mode = |path| fs::metadata(path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&path), 0o640);
    let beside: Vec<_> = fs::read_dir(root.join("etc/pve"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.contains("user.cfg"))
        .collect();
    assert_eq!(beside, ["user.cfg"]);
    assert_eq!(
        user_cfg(&root),
        user_cfg_with(&[(
            "pool:dev:development:100,250:local:",
            "pool:dev:development:100,10901,250:local:"
        )])
    );
    // pct takes the container out of its pool, and drops the ACLs on its path, without
    // `--purge` too.
    root.pct_ok(&["destroy", "10901"]);
    assert_eq!(
        user_cfg(&root),
        user_cfg_with(&[("acl:1:/vms/10901:alice@pve:PVEVMAdmin:", "")])
    );
}

#[test]
fn clone_with_pool_joins_it_and_destroy_purge_leaves_it() {
    let root = with_user_cfg();
    let template = template(&root);
    let _source = Ct {
        root: &root,
        vmid: 10910,
    };
    let _clone = Ct {
        root: &root,
        vmid: 10911,
    };
    create(&root, 10910, &template, false, &["--pool", "team/web"]);
    root.pct_ok(&["clone", "10910", "10911", "--pool", "prod"]);
    let with_both = user_cfg_with(&[
        ("pool:prod:::local:", "pool:prod::10911:local:"),
        ("pool:team/web::::", "pool:team/web::10910::"),
    ]);
    assert_eq!(user_cfg(&root), with_both);
    // The clone is complete: its config has no lock left.
    assert!(!root.read("etc/pve/lxc/10911.conf").contains("lock:"));

    let out = root.pct_ok(&["destroy", "10911", "--purge"]);
    assert!(
        out.contains("purging CT 10911 from related configurations.."),
        "{out}"
    );
    assert_eq!(
        user_cfg(&root),
        user_cfg_with(&[("pool:team/web::::", "pool:team/web::10910::")])
    );
    root.pct_ok(&["destroy", "10910"]);
    assert_eq!(user_cfg(&root), USER_CFG);
}

/// A parent of a nested pool exists in Proxmox without a line of its own; joining it
/// gives it one.
#[test]
fn a_parent_pool_gets_its_own_line() {
    let root = with_user_cfg();
    let template = template(&root);
    let _ct = Ct {
        root: &root,
        vmid: 10915,
    };
    create(&root, 10915, &template, false, &["--pool", "team"]);
    assert_eq!(
        user_cfg(&root),
        user_cfg_with(&[("pool:team/web::::", "pool:team::10915::\npool:team/web::::")])
    );
}

#[test]
fn an_unknown_pool_is_refused_before_anything_is_made() {
    let root = with_user_cfg();
    let template = template(&root);
    let _ct = Ct {
        root: &root,
        vmid: 10920,
    };
    let _clone = Ct {
        root: &root,
        vmid: 10921,
    };
    let refused = "403 Permission check failed (pool 'nope' does not exist)\n";
    let (code, out, err) = root.pct(&[
        "create", "10920", &template, "--rootfs", "local:0", "--pool", "nope",
    ]);
    assert_eq!((code, out.as_str(), err.as_str()), (255, "", refused));
    assert!(!root.join("etc/pve/lxc/10920.conf").exists());
    assert!(!root.join("var/lib/vz/images/10920").exists());

    create(&root, 10920, &template, false, &[]);
    let source = root.read("etc/pve/lxc/10920.conf");
    let (code, out, err) = root.pct(&["clone", "10920", "10921", "--pool", "nope"]);
    assert_eq!((code, out.as_str(), err.as_str()), (255, "", refused));
    assert!(!root.join("etc/pve/lxc/10921.conf").exists());
    assert!(!root.join("var/lib/vz/images/10921").exists());
    assert_eq!(root.read("etc/pve/lxc/10920.conf"), source);

    // Without a user.cfg there is no pool at all.
    fs::remove_file(root.join("etc/pve/user.cfg")).unwrap();
    let (code, _, err) = root.pct(&["clone", "10920", "10921", "--pool", "dev"]);
    assert_eq!(
        (code, err.as_str()),
        (
            255,
            "403 Permission check failed (pool 'dev' does not exist)\n"
        )
    );
    assert!(!root.join("etc/pve/lxc/10921.conf").exists());
    root.write("etc/pve/user.cfg", USER_CFG);

    // A name that is no pool id is a parameter error.
    let (code, _, err) = root.pct(&["clone", "10920", "10921", "--pool", "a:b"]);
    assert_eq!(code, 255);
    assert!(
        err.starts_with(
            "400 Parameter verification failed.\npool: pool name 'a:b' contains invalid characters\n"
        ),
        "{err}"
    );
    assert!(!root.join("etc/pve/lxc/10921.conf").exists());
    assert_eq!(user_cfg(&root), USER_CFG);
}

/// A clone that fails while it copies joins no pool.
#[test]
fn a_failed_clone_joins_no_pool() {
    let root = with_user_cfg();
    let template = template(&root);
    let small = root.join("mnt/small");
    fs::create_dir_all(&small).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(status.success());
    root.write(
        "etc/pve/storage.cfg",
        "dir: local\n\tpath /var/lib/vz\n\tcontent vztmpl,rootdir,images\n\n\
         dir: small\n\tpath /mnt/small\n\tcontent rootdir,images\n",
    );
    let _ct = Ct {
        root: &root,
        vmid: 10930,
    };
    let _clone = Ct {
        root: &root,
        vmid: 10931,
    };
    create(&root, 10930, &template, false, &[]);
    // More than the small storage holds.
    let blob = root.join("var/lib/vz/images/10930/subvol-10930-disk-0.subvol/blob");
    fs::write(&blob, vec![0x5a; 8 << 20]).unwrap();

    let (code, out, err) = root.pct(&[
        "clone",
        "10930",
        "10931",
        "--storage",
        "small",
        "--pool",
        "dev",
    ]);
    assert_eq!(code, 255, "{out}{err}");
    assert!(
        out.contains("create full clone of mountpoint rootfs"),
        "{out}"
    );
    assert!(err.starts_with("clone failed: "), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!root.join("etc/pve/lxc/10931.conf").exists());
    assert_eq!(user_cfg(&root), USER_CFG);
}

/// Through the library the refusal is a typed error, before anything is looked at (there is
/// not even a source container here).
#[test]
fn the_library_names_an_unknown_pool() {
    use corral::host::RequestError;
    use corral::{CloneOptions, CreateOptions, Error, Host, Vmid};
    let root = with_user_cfg();
    let host = Host::open(root.path()).unwrap();
    let error = host
        .container(Vmid::new(10940).unwrap())
        .clone_to(
            Vmid::new(10941).unwrap(),
            &CloneOptions {
                pool: Some("nope".into()),
                ..CloneOptions::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(&error, Error::Request(RequestError::NoSuchPool { pool, .. }) if pool == "nope"),
        "{error:?}"
    );
    let error = host
        .container(Vmid::new(10942).unwrap())
        .create(&CreateOptions {
            template: "local:vztmpl/none.tar.gz".into(),
            pool: Some("nope".into()),
            ..CreateOptions::default()
        })
        .unwrap_err();
    assert!(
        matches!(&error, Error::Request(RequestError::NoSuchPool { pool, .. }) if pool == "nope"),
        "{error:?}"
    );
    assert!(!root.join("etc/pve/lxc/10941.conf").exists());
    assert!(!root.join("etc/pve/lxc/10942.conf").exists());
}

/// A user.cfg destroy cannot rewrite fails it in pct's words, after the volumes are gone;
/// the config stays, locked `destroyed`, as in pct.
#[test]
fn a_user_cfg_destroy_cannot_rewrite_fails_it() {
    let root = TestRoot::new();
    let template = template(&root);
    let _ct = Ct {
        root: &root,
        vmid: 10945,
    };
    create(&root, 10945, &template, false, &[]);
    fs::create_dir_all(root.join("etc/pve/user.cfg")).unwrap();
    let (code, _, err) = root.pct(&["destroy", "10945"]);
    assert_eq!(code, 255);
    assert!(
        err.starts_with("access permissions cleanup for VM 10945 failed: unable to read '"),
        "{err}"
    );
    assert!(
        root.read("etc/pve/lxc/10945.conf")
            .contains("lock: destroyed\n")
    );
    assert!(!root.join("var/lib/vz/images/10945").exists());
}
