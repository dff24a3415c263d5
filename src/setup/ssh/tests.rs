use super::*;
use crate::setup::context::{GuestConfig, HostEnv};
use crate::setup::random::Drand48;
use crate::setup::root::GuestRoot;
use std::fs;
use std::os::unix::fs::PermissionsExt;

fn with_setup(
    dir: &std::path::Path,
    step: impl FnOnce(&mut Setup) -> Result<(), String>,
) -> Result<(), String> {
    let root = GuestRoot::open(dir, None).unwrap();
    let conf = GuestConfig::default();
    let host = HostEnv::default();
    let mut random = Drand48::seeded(0);
    let mut setup = Setup::new(&root, &conf, &host, &mut random);
    step(&mut setup)
}

#[test]
fn authorized_keys_in_a_section() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc")).unwrap();
    fs::create_dir_all(dir.path().join("srv/admin")).unwrap();
    fs::write(
        dir.path().join("etc/passwd"),
        "root:x:0:0::/srv/admin:/bin/sh\n",
    )
    .unwrap();
    with_setup(dir.path(), |s| {
        set_authorized_keys(s, "root", "ssh-ed25519 AAAA one")
    })
    .unwrap();
    let keys = dir.path().join("srv/admin/.ssh/authorized_keys");
    assert_eq!(
        fs::read_to_string(&keys).unwrap(),
        "# --- BEGIN PVE ---\nssh-ed25519 AAAA one\n# --- END PVE ---\n"
    );
    assert_eq!(
        fs::metadata(&keys).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        fs::metadata(dir.path().join("srv/admin/.ssh"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    // The guest's own keys stay; the section is replaced.
    fs::write(
        &keys,
        "ssh-rsa AAAA mine\n# --- BEGIN PVE ---\nold\n# --- END PVE ---\n",
    )
    .unwrap();
    with_setup(dir.path(), |s| set_authorized_keys(s, "root", "new\n")).unwrap();
    assert_eq!(
        fs::read_to_string(&keys).unwrap(),
        "ssh-rsa AAAA mine\n# --- BEGIN PVE ---\nnew\n# --- END PVE ---\n"
    );
}

#[test]
fn a_missing_home_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc")).unwrap();
    fs::write(
        dir.path().join("etc/passwd"),
        "root:x:0:0::/nowhere:/bin/sh\n",
    )
    .unwrap();
    assert_eq!(
        with_setup(dir.path(), |s| set_authorized_keys(s, "root", "k")).unwrap_err(),
        "home directory '/nowhere' of root does not exist!"
    );
    // Without passwd: /root/.
    let bare = tempfile::tempdir().unwrap();
    assert_eq!(
        with_setup(bare.path(), |s| set_authorized_keys(s, "root", "k")).unwrap_err(),
        "home directory '/root/' of root does not exist!"
    );
}

#[test]
fn host_keys_from_ssh_keygen() {
    if Command::new("ssh-keygen").arg("-?").output().is_err() {
        return;
    }
    let mut messages = Vec::new();
    let keys = generate_host_keys(
        &[
            ("ed25519", "ssh_host_ed25519_key"),
            ("ecdsa", "ssh_host_ecdsa_key"),
        ],
        "web",
        &mut messages,
    )
    .unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(
        messages[0],
        "Creating SSH host key 'ssh_host_ed25519_key' - this may take some time ..."
    );
    assert!(messages[1].starts_with("done: SHA256:") && messages[1].ends_with(" root@web"));
    assert!(keys[0].private.contains("OPENSSH PRIVATE KEY"));
    assert!(
        keys[0].public.starts_with("ssh-ed25519 ")
            && keys[0].public.trim_end().ends_with("root@web")
    );
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc/ssh")).unwrap();
    with_setup(dir.path(), |s| write_host_keys(s, &keys)).unwrap();
    let private = dir.path().join("etc/ssh/ssh_host_ed25519_key");
    assert_eq!(fs::read_to_string(&private).unwrap(), keys[0].private);
    assert_eq!(
        fs::metadata(&private).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let public = dir.path().join("etc/ssh/ssh_host_ecdsa_key.pub");
    assert_eq!(
        fs::metadata(&public).unwrap().permissions().mode() & 0o777,
        0o644
    );
    // Nothing of them stays on the host.
    let leftovers = fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".corral-ssh-"))
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn fingerprint_lines() {
    let output = "Your identification has been saved\nThe key fingerprint is:\nSHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU root@web\nThe key's randomart image is:\n";
    assert_eq!(
        fingerprint_line(output, "root@web"),
        Some("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU root@web")
    );
    assert_eq!(fingerprint_line(output, "root@other"), None);
    assert!(fingerprint_line("12:ab:cd root@x\n", "root@x").is_some());
}
