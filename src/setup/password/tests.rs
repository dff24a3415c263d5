use super::*;
use crate::setup::context::{GuestConfig, HostEnv};
use crate::setup::random::Drand48;
use crate::setup::root::GuestRoot;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

#[test]
fn specification_vectors() {
    // From the SHA-crypt specification's test list.
    assert_eq!(
        crypt_sha512("Hello world!", "saltstring"),
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
    );
    // Salts longer than 16 characters are cut.
    assert!(crypt_sha512("x", "0123456789abcdefXYZ").starts_with("$6$0123456789abcdef$"));
}

#[test]
fn agrees_with_openssl() {
    for (password, salt) in [
        ("secret", "abcdefgh"),
        ("x", "a"),
        (&"long".repeat(40)[..], "./Zz09"),
    ] {
        let Ok(output) = std::process::Command::new("openssl")
            .args(["passwd", "-6", "-salt", salt, password])
            .output()
        else {
            crate::skip::report("openssl is not installed (the comparison needs it)");
            return;
        };
        assert!(output.status.success());
        assert_eq!(
            String::from_utf8(output.stdout).unwrap().trim(),
            crypt_sha512(password, salt)
        );
    }
}

#[test]
fn hashes_pct_keeps() {
    assert!(is_crypt_hash("$6$saltsalt$abc/DEF.123"));
    assert!(is_crypt_hash("$1$a$b"));
    assert!(is_crypt_hash("$2y$salt$hash"));
    assert!(!is_crypt_hash("$7$salt$hash"));
    assert!(!is_crypt_hash("$6$$hash"));
    assert!(!is_crypt_hash("$6$0123456789abcdefX$hash"));
    assert!(!is_crypt_hash("$6$salt$"));
    assert!(!is_crypt_hash("plain password"));
}

fn guest(files: &[(&str, &str, u32)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc")).unwrap();
    for (path, text, mode) in files {
        let full = dir.path().join(path);
        fs::write(&full, text).unwrap();
        fs::set_permissions(&full, fs::Permissions::from_mode(*mode)).unwrap();
    }
    dir
}

fn set(dir: &std::path::Path, password: Option<&str>) {
    let root = GuestRoot::open(dir, None).unwrap();
    let conf = GuestConfig::default();
    let host = HostEnv::default();
    let mut random = Drand48::seeded(0);
    let mut setup = Setup::new(&root, &conf, &host, &mut random);
    set_user_password(&mut setup, "root", password).unwrap();
}

#[test]
fn shadow_gets_the_hash_and_passwd_an_x() {
    let dir = guest(&[
        (
            "etc/passwd",
            "root:*:0:0:root:/root:/bin/sh\nrootless:x:5:5::/:/bin/sh\n",
            0o644,
        ),
        (
            "etc/shadow",
            "root:!:19000:0:99999:7:::\nrootless:!:19000::::::\n",
            0o640,
        ),
    ]);
    set(dir.path(), Some("secret"));
    let shadow = fs::read_to_string(dir.path().join("etc/shadow")).unwrap();
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400;
    let fields: Vec<&str> = shadow.lines().next().unwrap().split(':').collect();
    assert_eq!(fields[0], "root");
    let salt = fields[1].split('$').nth(2).unwrap();
    assert_eq!(salt.len(), 8);
    assert_eq!(fields[1], crypt_sha512("secret", salt));
    assert_eq!(fields[2], days.to_string());
    assert_eq!(&fields[3..], ["0", "99999", "7", "", "", ""]);
    assert!(shadow.ends_with("\nrootless:!:19000::::::\n"));
    assert_eq!(
        fs::read_to_string(dir.path().join("etc/passwd")).unwrap(),
        "root:x:0:0:root:/root:/bin/sh\nrootless:x:5:5::/:/bin/sh\n"
    );
    let mode = fs::metadata(dir.path().join("etc/shadow")).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o640);
}

#[test]
fn passwd_only_given_hash_and_no_password() {
    let dir = guest(&[("etc/passwd", "root:x:0:0:root:/root:/bin/sh", 0o600)]);
    set(dir.path(), Some("$6$abc$def"));
    assert_eq!(
        fs::read_to_string(dir.path().join("etc/passwd")).unwrap(),
        "root:$6$abc$def:0:0:root:/root:/bin/sh"
    );
    assert_eq!(
        fs::metadata(dir.path().join("etc/passwd")).unwrap().mode() & 0o777,
        0o600
    );
    set(dir.path(), None);
    assert!(
        fs::read_to_string(dir.path().join("etc/passwd"))
            .unwrap()
            .starts_with("root:*:0:")
    );
    // No passwd at all: nothing to do.
    let bare = guest(&[]);
    set(bare.path(), Some("secret"));
    assert!(!bare.path().join("etc/passwd").exists());
}

#[test]
fn ignored_and_linked_shadow() {
    let dir = guest(&[
        ("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0o644),
        ("etc/shadow", "root:!:1::::::\n", 0o640),
        ("etc/.pve-ignore.shadow", "", 0o644),
    ]);
    set(dir.path(), Some("secret"));
    assert_eq!(
        fs::read_to_string(dir.path().join("etc/shadow")).unwrap(),
        "root:!:1::::::\n"
    );
    // A shadow linking to a host file: the link resolves inside the guest (to nothing
    // there), so pct's shadow branch is not taken and the host file stays as it was.
    let outside = tempfile::tempdir().unwrap();
    let host_shadow = outside.path().join("shadow");
    fs::write(&host_shadow, "root:HOST:1::::::\n").unwrap();
    let dir = guest(&[("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0o644)]);
    std::os::unix::fs::symlink(&host_shadow, dir.path().join("etc/shadow")).unwrap();
    set(dir.path(), Some("secret"));
    assert_eq!(
        fs::read_to_string(&host_shadow).unwrap(),
        "root:HOST:1::::::\n"
    );
}
