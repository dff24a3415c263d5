//! Extraction end to end: fixtures written with tar's builder in every compression, extracted
//! through the confined extraction process, checked on disk. They need root (owners, mknod).

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::compression::Compression;
use super::confine::{Confinement, extract_in_child};
use super::fixtures::{
    ALL_COMPRESSIONS, ArchiveBuilder, Meta, ROOT_DIR, ROOT_FILE, Scratch, compress,
};
use super::*;
use crate::config::IdMap;

fn extract(
    scratch: &Scratch,
    archive: &[u8],
    options: &ExtractOptions,
) -> Result<ExtractSummary, TemplateError> {
    let path = scratch.write_archive("template.tar", archive);
    extract_template(&path, &scratch.rootfs(), options)
}

fn unprivileged() -> ExtractOptions {
    ExtractOptions {
        id_map: Some(IdMap::default_unprivileged()),
        ..ExtractOptions::default()
    }
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buffer = vec![0u8; 256];
    let length = rustix::fs::lgetxattr(path, name, &mut buffer).ok()?;
    buffer.truncate(length);
    Some(buffer)
}

/// cap_net_raw permitted + effective, revision 2.
fn net_raw_capability() -> Vec<u8> {
    let mut value = 0x0200_0001u32.to_le_bytes().to_vec();
    for word in [1u32 << 13, 0, 0, 0] {
        value.extend_from_slice(&word.to_le_bytes());
    }
    value
}

const USER: Meta = Meta {
    uid: 1000,
    gid: 1000,
    mode: 0o600,
    mtime: 1_500_000_000,
};

/// A small but complete tree: nested directories with their own owners and mtimes, a setuid
/// binary, a sticky directory, PAX owner/mtime/xattr records.
fn rich_archive() -> Vec<u8> {
    let mut archive = ArchiveBuilder::new();
    archive
        .dir("./", ROOT_DIR)
        .dir(
            "./etc/",
            Meta {
                mtime: 1_400_000_000,
                ..ROOT_DIR
            },
        )
        .file("./etc/hostname", b"template\n", ROOT_FILE)
        .dir("./usr/", ROOT_DIR)
        .dir("./usr/bin/", ROOT_DIR)
        .file(
            "./usr/bin/su",
            b"\x7fELF setuid",
            Meta {
                mode: 0o4755,
                ..ROOT_FILE
            },
        )
        .file(
            "./usr/bin/wall",
            b"\x7fELF setgid",
            Meta {
                mode: 0o2755,
                gid: 5,
                ..ROOT_FILE
            },
        )
        .pax(&[("SCHILY.xattr.security.capability", &net_raw_capability())])
        .file(
            "./usr/bin/ping",
            b"\x7fELF ping",
            Meta {
                mode: 0o755,
                ..ROOT_FILE
            },
        )
        .dir(
            "./tmp/",
            Meta {
                mode: 0o1777,
                ..ROOT_DIR
            },
        )
        .dir("./home/", ROOT_DIR)
        .dir(
            "./home/user/",
            Meta {
                mode: 0o750,
                ..USER
            },
        )
        .pax(&[
            ("mtime", b"1500000000.25"),
            ("SCHILY.xattr.user.note", b"hello"),
            ("SCHILY.xattr.trusted.hidden", b"not restored"),
            ("uid", b"1001"),
        ])
        .file("./home/user/notes", b"my notes", USER)
        .file(
            "./home/user/.profile",
            b"",
            Meta {
                mode: 0o640,
                ..USER
            },
        );
    archive.finish()
}

#[test]
fn keeps_owners_modes_mtimes_and_xattrs_in_every_compression() {
    for compression in ALL_COMPRESSIONS {
        let scratch = Scratch::new();
        let archive = compress(&rich_archive(), compression);
        let summary = extract(&scratch, &archive, &ExtractOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", compression.name()));
        assert_eq!(summary.entries, 13, "{}", compression.name());
        assert_eq!(summary.bytes, 9 + 11 + 11 + 9 + 8, "{}", compression.name());

        let root = scratch.rootfs();
        let meta = |path: &str| std::fs::symlink_metadata(root.join(path)).unwrap();
        assert_eq!(
            std::fs::read(root.join("etc/hostname")).unwrap(),
            b"template\n"
        );
        assert_eq!(meta("usr/bin/su").mode() & 0o7777, 0o4755);
        assert_eq!(
            (
                meta("usr/bin/wall").mode() & 0o7777,
                meta("usr/bin/wall").gid()
            ),
            (0o2755, 5)
        );
        assert_eq!(meta("tmp").mode() & 0o7777, 0o1777);
        let home = meta("home/user");
        assert_eq!(
            (home.uid(), home.gid(), home.mode() & 0o7777),
            (1000, 1000, 0o750)
        );
        // Directory mtimes survive the files written into them afterwards.
        assert_eq!(home.mtime(), 1_500_000_000);
        assert_eq!(meta("etc").mtime(), 1_400_000_000);
        let notes = meta("home/user/notes");
        // PAX uid overrides the header's; PAX mtime keeps its fraction.
        assert_eq!(
            (notes.uid(), notes.gid(), notes.mode() & 0o7777),
            (1001, 1000, 0o600)
        );
        assert_eq!(
            (notes.mtime(), notes.mtime_nsec()),
            (1_500_000_000, 250_000_000)
        );
        assert_eq!(
            xattr(&root.join("home/user/notes"), "user.note").as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(xattr(&root.join("home/user/notes"), "trusted.hidden"), None);
        assert_eq!(
            xattr(&root.join("usr/bin/ping"), "security.capability"),
            Some(net_raw_capability())
        );
        assert_eq!(meta("home/user/.profile").len(), 0);
        scratch.assert_outside_untouched();
    }
}

#[test]
fn matches_gnu_tar_with_pcts_flags() {
    if std::process::Command::new("tar")
        .arg("--version")
        .output()
        .is_err()
    {
        crate::skip::report("GNU tar is not installed (the comparison needs it)");
        return;
    }
    let mut archive = ArchiveBuilder::new();
    archive
        .dir("./", ROOT_DIR)
        .file("./a/b/c/implicit-parents", b"x", USER)
        .dir(
            "./a/",
            Meta {
                mode: 0o711,
                mtime: 1_000_000_000,
                ..ROOT_DIR
            },
        )
        .symlink("./a/link", "b/c")
        .hardlink("./a/hard", "./a/b/c/implicit-parents")
        .file(
            "./a/bad-uid",
            b"y",
            Meta {
                uid: 4_000_000_000,
                ..ROOT_FILE
            },
        )
        .dir("./dev/", ROOT_DIR)
        .device(
            tar::EntryType::Char,
            "./dev/null",
            (1, 3),
            Meta {
                mode: 0o666,
                ..ROOT_FILE
            },
        )
        .file("./dev/pts/0", b"z", ROOT_FILE)
        .file("./x", b"first", ROOT_FILE)
        .file("./x", b"second", ROOT_FILE)
        .device(
            tar::EntryType::Fifo,
            "./fifo",
            (0, 0),
            Meta {
                mode: 0o620,
                gid: 5,
                ..ROOT_FILE
            },
        );
    let bytes = archive.finish();

    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let ours = Scratch::new();
    extract(&ours, &bytes, &ExtractOptions::default()).unwrap();
    let theirs = Scratch::new();
    let path = theirs.write_archive("template.tar", &bytes);
    let status = std::process::Command::new("tar")
        .args(["xpf"])
        .arg(&path)
        .args([
            "--numeric-owner",
            "--sparse",
            "--xattrs",
            "--xattrs-include=user.*",
        ])
        .args([
            "--xattrs-include=security.capability",
            "--warning=no-xattr-write",
            "-C",
        ])
        .arg(theirs.rootfs())
        .args(["--skip-old-files", "--anchored", "--exclude", "./dev/*"])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        detailed_listing(&ours.rootfs(), started),
        detailed_listing(&theirs.rootfs(), started)
    );
}

/// Kind, owner, mode, mtime, content or target of everything under `root`. Directory mtimes
/// from `now` on (directories made as parents) show as "now".
fn detailed_listing(root: &Path, now: i64) -> Vec<String> {
    let mut lines = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let detail = if meta.is_dir() {
                stack.push(path.clone());
                match meta.mtime() {
                    mtime if mtime >= now => "dir mtime=now".to_string(),
                    mtime => format!("dir mtime={mtime}"),
                }
            } else if meta.is_symlink() {
                format!("-> {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_file() {
                format!(
                    "{:?} mtime={} links={}",
                    std::fs::read(&path).unwrap(),
                    meta.mtime(),
                    meta.nlink()
                )
            } else {
                format!("rdev={} mtime={}", meta.rdev(), meta.mtime())
            };
            let mode = if meta.is_symlink() { 0 } else { meta.mode() };
            let relative = path.strip_prefix(root).unwrap().display().to_string();
            lines.push(format!(
                "{relative} {mode:o} {}:{} {detail}",
                meta.uid(),
                meta.gid()
            ));
        }
    }
    lines.sort();
    lines
}

#[test]
fn links_are_made_as_links() {
    let scratch = Scratch::new();
    let mut archive = ArchiveBuilder::new();
    archive
        .file(
            "./bin/busybox",
            b"\x7fELF busybox",
            Meta {
                mode: 0o755,
                ..ROOT_FILE
            },
        )
        .hardlink("./bin/ls", "./bin/busybox")
        .symlink("./bin/sh", "busybox")
        .symlink("./sbin", "/bin")
        .hardlink("./bin/sh-again", "./bin/sh")
        .symlink("./dangling", "/nowhere/at/all");
    extract(&scratch, &archive.finish(), &ExtractOptions::default()).unwrap();
    let root = scratch.rootfs();
    let busybox = std::fs::metadata(root.join("bin/busybox")).unwrap();
    let ls = std::fs::metadata(root.join("bin/ls")).unwrap();
    assert_eq!((ls.ino(), ls.nlink()), (busybox.ino(), 2));
    assert_eq!(
        std::fs::read_link(root.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(
        std::fs::read_link(root.join("sbin")).unwrap(),
        Path::new("/bin")
    );
    // A hard link to a symlink is a second name for the symlink, not for its target.
    let again = std::fs::symlink_metadata(root.join("bin/sh-again")).unwrap();
    assert!(again.is_symlink());
    assert_eq!(
        again.ino(),
        std::fs::symlink_metadata(root.join("bin/sh"))
            .unwrap()
            .ino()
    );
    assert_eq!(
        std::fs::read_link(root.join("dangling")).unwrap(),
        Path::new("/nowhere/at/all")
    );
    assert_eq!(
        std::fs::symlink_metadata(root.join("sbin"))
            .unwrap()
            .mtime(),
        ROOT_FILE.mtime as i64
    );
    scratch.assert_outside_untouched();
}

#[test]
fn device_nodes_and_fifos_for_privileged_containers() {
    let scratch = Scratch::new();
    let mut archive = ArchiveBuilder::new();
    archive
        .dir("./dev/", ROOT_DIR)
        .device(
            tar::EntryType::Char,
            "./dev/null",
            (1, 3),
            Meta {
                mode: 0o666,
                ..ROOT_FILE
            },
        )
        .dir("./dev/pts/", ROOT_DIR)
        .device(
            tar::EntryType::Char,
            "./lib/udev/devices/null",
            (1, 3),
            Meta {
                mode: 0o666,
                ..ROOT_FILE
            },
        )
        .device(
            tar::EntryType::Block,
            "./lib/udev/devices/loop0",
            (7, 0),
            Meta {
                mode: 0o660,
                gid: 6,
                ..ROOT_FILE
            },
        )
        .device(
            tar::EntryType::Fifo,
            "./run/initctl",
            (0, 0),
            Meta {
                mode: 0o600,
                ..ROOT_FILE
            },
        )
        // Without the ./ prefix pct's exclude pattern does not match, so tar creates it.
        .device(
            tar::EntryType::Char,
            "dev/console",
            (5, 1),
            Meta {
                mode: 0o600,
                uid: 5,
                ..ROOT_FILE
            },
        );
    let summary = extract(&scratch, &archive.finish(), &ExtractOptions::default()).unwrap();
    assert_eq!(summary.entries, 7);
    let root = scratch.rootfs();
    let meta = |path: &str| std::fs::symlink_metadata(root.join(path)).unwrap();
    let null = meta("lib/udev/devices/null");
    assert!(null.file_type().is_char_device());
    assert_eq!(
        (null.rdev(), null.mode() & 0o7777),
        (libc::makedev(1, 3), 0o666)
    );
    let loop0 = meta("lib/udev/devices/loop0");
    assert!(loop0.file_type().is_block_device());
    assert_eq!(
        (loop0.rdev(), loop0.gid(), loop0.mode() & 0o7777),
        (libc::makedev(7, 0), 6, 0o660)
    );
    let fifo = meta("run/initctl");
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.mode() & 0o7777, 0o600);
    let console = meta("dev/console");
    assert_eq!((console.rdev(), console.uid()), (libc::makedev(5, 1), 5));
    // ./dev itself is made; what pct excludes beneath it is not.
    assert!(meta("dev").is_dir());
    assert!(!root.join("dev/null").exists());
    assert!(!root.join("dev/pts").exists());
    scratch.assert_outside_untouched();
}

#[test]
fn unprivileged_containers_get_shifted_owners() {
    let scratch = Scratch::new();
    let mut archive = ArchiveBuilder::new();
    archive
        .file("./home/user/notes", b"mine", USER)
        .dir(
            "./home/user/",
            Meta {
                mode: 0o700,
                ..USER
            },
        )
        .dir(
            "./home/other/",
            Meta {
                mode: 0o700,
                ..USER
            },
        )
        .symlink("./home/user/link", "notes")
        .device(
            tar::EntryType::Fifo,
            "./run/fifo",
            (0, 0),
            Meta {
                mode: 0o600,
                gid: 33,
                ..ROOT_FILE
            },
        )
        .pax(&[("SCHILY.xattr.security.capability", &net_raw_capability())])
        .file(
            "./usr/bin/ping",
            b"\x7fELF ping",
            Meta {
                mode: 0o4755,
                ..ROOT_FILE
            },
        );
    // Users and groups in different host ranges: a gid shifted through the uid map shows.
    let options = ExtractOptions {
        id_map: Some(IdMap::from_lxc_values(["u 0 100000 65536", "g 0 200000 65536"]).unwrap()),
        ..ExtractOptions::default()
    };
    extract(&scratch, &archive.finish(), &options).unwrap();
    let root = scratch.rootfs();
    let owner = |path: &str| {
        let meta = std::fs::symlink_metadata(root.join(path)).unwrap();
        (meta.uid(), meta.gid())
    };
    assert_eq!(owner("home/user/notes"), (101_000, 201_000));
    // Made as the parent of notes before its own member came: GNU tar keeps it as made.
    assert_eq!(owner("home/user"), (100_000, 200_000));
    assert_eq!(owner("home/other"), (101_000, 201_000));
    assert_eq!(owner("home/user/link"), (100_000, 200_000));
    assert_eq!(owner("run/fifo"), (100_000, 200_033));
    // Parents no member described belong to the container's root.
    assert_eq!(owner("home"), (100_000, 200_000));
    assert_eq!(owner("usr/bin/ping"), (100_000, 200_000));
    let ping = std::fs::metadata(root.join("usr/bin/ping")).unwrap();
    assert_eq!(ping.permissions().mode() & 0o7777, 0o4755);
    // The capability is rewritten for the container's user namespace (rootid 100000).
    let capability = xattr(&root.join("usr/bin/ping"), "security.capability").unwrap();
    assert_eq!(&capability[..4], &0x0300_0001u32.to_le_bytes());
    assert_eq!(&capability[4..8], &(1u32 << 13).to_le_bytes());
    assert_eq!(&capability[20..24], &100_000u32.to_le_bytes());
    scratch.assert_outside_untouched();
}

#[test]
fn unprivileged_extraction_refuses_unmapped_ids_and_device_nodes() {
    let scratch = Scratch::new();
    let mut archive = ArchiveBuilder::new();
    archive.file(
        "./opt/odd",
        b"odd",
        Meta {
            uid: 70_000,
            ..ROOT_FILE
        },
    );
    let error = extract(&scratch, &archive.finish(), &unprivileged()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "./opt/odd: Cannot change ownership to uid 70000, gid 0: Invalid argument"
    );

    let scratch = Scratch::new();
    let mut archive = ArchiveBuilder::new();
    archive.device(
        tar::EntryType::Char,
        "./lib/null",
        (1, 3),
        Meta {
            mode: 0o666,
            ..ROOT_FILE
        },
    );
    let error = extract(&scratch, &archive.finish(), &unprivileged()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "./lib/null: Cannot mknod: Operation not permitted"
    );
    assert!(!scratch.rootfs().join("lib/null").exists());
}

#[test]
fn ignore_unpack_errors_keeps_going() {
    let scratch = Scratch::new();
    let mut archive = ArchiveBuilder::new();
    archive
        .file(
            "./opt/odd",
            b"odd",
            Meta {
                uid: 70_000,
                ..ROOT_FILE
            },
        )
        .hardlink("./opt/missing-link", "./not/there")
        .file("./opt/fine", b"fine", USER);
    let options = ExtractOptions {
        ignore_unpack_errors: true,
        ..unprivileged()
    };
    let summary = extract(&scratch, &archive.finish(), &options).unwrap();
    assert_eq!(summary.entries, 3);
    let root = scratch.rootfs();
    // tar under lxc-usernsexec leaves such a file to the container's root.
    let odd = std::fs::metadata(root.join("opt/odd")).unwrap();
    assert_eq!((odd.uid(), odd.gid()), (100_000, 100_000));
    assert_eq!(
        std::fs::metadata(root.join("opt/fine")).unwrap().uid(),
        101_000
    );
    assert!(!root.join("opt/missing-link").exists());
}

#[test]
fn existing_entries_are_kept_like_skip_old_files() {
    let scratch = Scratch::new();
    let root = scratch.rootfs();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o751)).unwrap();
    std::fs::create_dir(root.join("etc")).unwrap();
    std::fs::set_permissions(root.join("etc"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(root.join("etc/hostname"), "kept\n").unwrap();
    let mut archive = ArchiveBuilder::new();
    archive
        .dir("./", ROOT_DIR)
        .dir("./etc/", ROOT_DIR)
        .file("./etc/hostname", b"replaced\n", ROOT_FILE)
        .file("./etc/hosts", b"new\n", ROOT_FILE);
    extract(&scratch, &archive.finish(), &ExtractOptions::default()).unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("etc/hostname")).unwrap(),
        "kept\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/hosts")).unwrap(),
        "new\n"
    );
    assert_eq!(std::fs::metadata(&root).unwrap().mode() & 0o7777, 0o751);
    assert_eq!(
        std::fs::metadata(root.join("etc")).unwrap().mode() & 0o7777,
        0o700
    );
}

#[test]
fn sparse_members_become_sparse_files() {
    let scratch = Scratch::new();
    let source = scratch.outside().join("../archives/sparse-source");
    let file = std::fs::File::create(&source).unwrap();
    file.set_len(8 << 20).unwrap();
    std::os::unix::fs::FileExt::write_at(&file, b"middle", 4 << 20).unwrap();
    drop(file);
    let mut archive = ArchiveBuilder::new();
    archive.sparse_file_from_disk("./var/disk.img", &source);
    let bytes = archive.finish();
    assert!(
        bytes.len() < 1 << 20,
        "the builder did not store a sparse member"
    );
    let summary = extract(&scratch, &bytes, &ExtractOptions::default()).unwrap();
    assert_eq!(summary.bytes, 8 << 20);
    let extracted = scratch.rootfs().join("var/disk.img");
    let content = std::fs::read(&extracted).unwrap();
    assert_eq!(content.len(), 8 << 20);
    assert_eq!(&content[4 << 20..(4 << 20) + 6], b"middle");
    assert_eq!(content.iter().filter(|&&byte| byte != 0).count(), 6);
    let allocated = std::fs::metadata(&extracted).unwrap().blocks() * 512;
    assert!(
        allocated < 1 << 20,
        "{allocated} bytes allocated for a sparse file"
    );
}

/// One hostile archive: its members, and what the error must say (`None`: extraction may
/// succeed, as long as nothing lands outside).
struct Hostile {
    name: &'static str,
    archive: Vec<u8>,
    error: Option<String>,
}

fn hostile_cases(outside: &Path) -> Vec<Hostile> {
    let outside_text = outside.to_str().unwrap();
    let build = |f: &dyn Fn(&mut ArchiveBuilder)| {
        let mut archive = ArchiveBuilder::new();
        f(&mut archive);
        archive.finish()
    };
    let long_name = format!("./{}/file", "d".repeat(5000));
    let mut cases = vec![
        Hostile {
            name: "dot-dot member",
            archive: build(&|a| {
                a.file("../outside/escaped", b"x", ROOT_FILE);
            }),
            error: Some("../outside/escaped: Member name contains '..'".into()),
        },
        Hostile {
            name: "dot-dot in the middle",
            archive: build(&|a| {
                a.dir("./a/", ROOT_DIR)
                    .file("./a/../../outside/escaped", b"x", ROOT_FILE);
            }),
            error: Some("./a/../../outside/escaped: Member name contains '..'".into()),
        },
        Hostile {
            name: "absolute member lands inside",
            archive: build(&|a| {
                a.file(&format!("{outside_text}/escaped"), b"x", ROOT_FILE);
            }),
            error: None,
        },
        Hostile {
            name: "write through an absolute symlink",
            archive: build(&|a| {
                a.symlink("./etc", outside_text)
                    .file("./etc/escaped", b"x", ROOT_FILE);
            }),
            error: Some("./etc/escaped: Cannot open: No such file or directory".into()),
        },
        Hostile {
            name: "directory through a symlink",
            archive: build(&|a| {
                a.symlink("./etc", outside_text).dir("./etc/sub/", ROOT_DIR);
            }),
            error: Some("./etc/sub/: Cannot open: No such file or directory".into()),
        },
        Hostile {
            name: "climbing relative symlink stays at the root",
            archive: build(&|a| {
                a.symlink("./up", "../../../../../../..").file(
                    "./up/outside/escaped",
                    b"x",
                    ROOT_FILE,
                );
            }),
            error: None,
        },
        Hostile {
            name: "member replacing a symlink to an outside file",
            archive: build(&|a| {
                a.symlink("./secret", &format!("{outside_text}/secret"))
                    .file("./secret", b"overwritten", ROOT_FILE);
            }),
            error: None,
        },
        Hostile {
            name: "hard link with dot-dot",
            archive: build(&|a| {
                a.hardlink("./stolen", "../outside/secret");
            }),
            error: Some(
                "./stolen: Cannot hard link to '../outside/secret': link target contains '..'"
                    .into(),
            ),
        },
        Hostile {
            name: "hard link to an absolute outside path",
            archive: build(&|a| {
                a.hardlink("./stolen", &format!("{outside_text}/secret"));
            }),
            error: Some(format!(
                "./stolen: Cannot hard link to '{outside_text}/secret': No such file or directory"
            )),
        },
        Hostile {
            name: "hard link through a symlinked directory",
            archive: build(&|a| {
                a.symlink("./p", outside_text)
                    .hardlink("./stolen", "./p/secret");
            }),
            error: Some(
                "./stolen: Cannot hard link to './p/secret': No such file or directory".into(),
            ),
        },
        Hostile {
            name: "symlink chain",
            archive: build(&|a| {
                a.symlink("./c1", "c2")
                    .symlink("./c2", "./c3")
                    .symlink("./c3", outside_text)
                    .file("./c1/escaped", b"x", ROOT_FILE);
            }),
            error: Some("./c1/escaped: Cannot open: No such file or directory".into()),
        },
        Hostile {
            name: "symlink loop",
            archive: build(&|a| {
                a.symlink("./l1", "l2")
                    .symlink("./l2", "l1")
                    .file("./l1/x", b"x", ROOT_FILE);
            }),
            error: Some("./l1/x: Cannot open: Too many levels of symbolic links".into()),
        },
        Hostile {
            name: "very long path",
            archive: build(&|a| {
                a.file(&long_name, b"x", ROOT_FILE);
            }),
            error: Some(format!(
                "{}: Cannot open: File name too long",
                super::member::display_name(long_name.as_bytes())
            )),
        },
    ];
    // Every case also hides a chained write at the end; it must never be reached either.
    for case in &mut cases {
        case.archive.truncate(case.archive.len() - 1024);
        let mut tail = ArchiveBuilder::new();
        tail.file("./end-marker", b"end", ROOT_FILE);
        case.archive.extend(tail.finish());
    }
    cases
}

#[test]
fn hostile_archives_stay_inside_the_rootfs() {
    let case_count = hostile_cases(Path::new("/x")).len();
    for confinement in [Confinement::Landlock, Confinement::PathChecksOnly] {
        for compression in [Compression::None, Compression::Zstd] {
            for index in 0..case_count {
                let scratch = Scratch::new();
                // The cases aim at this scratch's sentinel directory by its absolute path.
                let case = hostile_cases(&scratch.outside()).swap_remove(index);
                let path =
                    scratch.write_archive("hostile.tar", &compress(&case.archive, compression));
                let result = extract_in_child(
                    &path,
                    &scratch.rootfs(),
                    &ExtractOptions::default(),
                    confinement,
                );
                let context = format!("{} ({confinement:?}, {})", case.name, compression.name());
                match (&case.error, result) {
                    (Some(expected), Err(error)) => {
                        assert_eq!(&error.to_string(), expected, "{context}")
                    }
                    (Some(expected), Ok(_)) => {
                        panic!("{context}: extracted, expected error {expected:?}")
                    }
                    (None, Err(error)) => panic!("{context}: {error}"),
                    (None, Ok(_)) => {
                        assert!(scratch.rootfs().join("end-marker").exists(), "{context}")
                    }
                }
                scratch.assert_outside_untouched();
            }
        }
    }
}

#[test]
fn errors_name_the_archive_or_the_problem() {
    let scratch = Scratch::new();
    let missing = scratch.outside().join("missing.tar.gz");
    let error =
        extract_template(&missing, &scratch.rootfs(), &ExtractOptions::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with(&format!("failed to open '{}'", missing.display())),
        "{error}"
    );

    let bzip2 = scratch.write_archive("t.tar.bz2", b"BZh91AY&SY");
    let error =
        extract_template(&bzip2, &scratch.rootfs(), &ExtractOptions::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("unrecognized compression format: bzip2"),
        "{error}"
    );

    let error = extract(&scratch, &[b'x'; 2048], &ExtractOptions::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("This does not look like a tar archive"),
        "{error}"
    );
    let error = extract(&scratch, b"", &ExtractOptions::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("This does not look like a tar archive"),
        "{error}"
    );

    // A stream cut short in the middle of a member.
    let whole = compress(&rich_archive(), Compression::Gzip);
    let error = extract(
        &scratch,
        &whole[..whole.len() / 2],
        &ExtractOptions::default(),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("Read error in archive"),
        "{error}"
    );

    let archive = scratch.write_archive("fine.tar", &rich_archive());
    let error = extract_template(
        &archive,
        &scratch.outside().join("secret"),
        &ExtractOptions::default(),
    )
    .unwrap_err();
    assert!(
        error.to_string().starts_with("unable to open rootfs"),
        "{error}"
    );
    scratch.assert_outside_untouched();
}

fn pct_arch_of_this_host() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "i386",
        "aarch64" => "arm64",
        "arm" => "armhf",
        "riscv64" => "riscv64",
        other => panic!("no pct arch for {other}"),
    }
}

/// Builds the busybox template with the project's script into `dir`; its path is the last
/// line the script prints.
fn make_busybox_template(dir: &Path) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-busybox-template");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    PathBuf::from(stdout.lines().last().unwrap().trim())
}

#[test]
fn the_busybox_template_extracts_and_detects_its_arch() {
    if !Path::new("/bin/busybox").exists() {
        crate::skip::report("busybox is not installed (the busybox-static package)");
        return;
    }
    let output_dir = tempfile::Builder::new()
        .prefix("corral-busybox-")
        .tempdir()
        .unwrap();
    let template = make_busybox_template(output_dir.path());
    assert!(
        template.starts_with(output_dir.path()),
        "{}",
        template.display()
    );
    for options in [ExtractOptions::default(), unprivileged()] {
        let scratch = Scratch::new();
        let summary = extract_template(&template, &scratch.rootfs(), &options).unwrap();
        assert!(summary.entries > 100, "{summary:?}");
        let root = scratch.rootfs();
        assert_eq!(detect_arch(&root), Some(pct_arch_of_this_host()));
        let target = std::fs::read_link(root.join("sbin/init")).unwrap();
        assert!(
            target.to_string_lossy().ends_with("busybox"),
            "{}",
            target.display()
        );
        let busybox = std::fs::metadata(root.join("bin/busybox")).unwrap();
        let expected_owner = if options.id_map.is_some() { 100_000 } else { 0 };
        assert_eq!(
            (busybox.uid(), busybox.gid()),
            (expected_owner, expected_owner)
        );
        assert_eq!(
            std::fs::metadata(root.join("tmp")).unwrap().mode() & 0o7777,
            0o1777
        );
        assert!(
            std::fs::read_to_string(root.join("etc/passwd"))
                .unwrap()
                .starts_with("root:x:0:0:")
        );
        scratch.assert_outside_untouched();
    }
}

/// Extraction throughput on a real template:
/// `CORRAL_TEMPLATE=/path/to/template.tar.zst cargo test --release --lib -- --ignored
/// --nocapture extraction_throughput`. With `CORRAL_EXTRACT_TO=<empty dir>` the template is
/// also extracted (privileged) there and left for comparison with GNU tar's result.
#[test]
#[ignore = "measurement; needs CORRAL_TEMPLATE"]
fn extraction_throughput() {
    let Some(template) = std::env::var_os("CORRAL_TEMPLATE").map(PathBuf::from) else {
        eprintln!("CORRAL_TEMPLATE is not set");
        return;
    };
    // CORRAL_PROGRESS=1 draws the bar when stderr is a terminal.
    let progress = std::env::var_os("CORRAL_PROGRESS").is_some();
    for (label, options) in [
        ("privileged", ExtractOptions::default()),
        ("unprivileged", unprivileged()),
    ] {
        let options = ExtractOptions {
            progress,
            ..options
        };
        let scratch = Scratch::new();
        let started = std::time::Instant::now();
        let summary = extract_template(&template, &scratch.rootfs(), &options).unwrap();
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "{label}: {} members, {:.1} MiB in {seconds:.2} s = {:.0} MiB/s, {:.0} members/s; arch {:?}",
            summary.entries,
            summary.bytes as f64 / 1048576.0,
            summary.bytes as f64 / 1048576.0 / seconds,
            summary.entries as f64 / seconds,
            detect_arch(&scratch.rootfs()),
        );
    }
    if let Some(target) = std::env::var_os("CORRAL_EXTRACT_TO") {
        extract_template(&template, Path::new(&target), &ExtractOptions::default()).unwrap();
    }
}

/// The extraction process is a fresh exec of this program, not a fork of the caller: a fork
/// of a multi-threaded caller would hold forever every lock another thread held at the fork.
/// It is looked at while it cannot have finished: its warnings (one per missing hard-link
/// target, with `--ignore-unpack-errors`) are far more than a pipe holds, and the parent reads
/// no further while the observer looks at the first one.
#[test]
fn extraction_runs_in_a_fresh_exec_of_the_program() {
    use std::sync::{Arc, Mutex};

    let scratch = Scratch::new();
    let mut archive = ArchiveBuilder::new();
    let long_name = "n".repeat(90);
    for index in 0..1000 {
        archive.hardlink(&format!("./{long_name}{index}"), "./not/there");
    }
    let seen = Arc::new(Mutex::new(None));
    let recorder = Arc::clone(&seen);
    let options = ExtractOptions {
        ignore_unpack_errors: true,
        observer: crate::report::Observer::new(move |event| {
            let mut seen = recorder.lock().unwrap();
            if seen.is_none() && matches!(event, crate::report::Event::Warning(_)) {
                *seen = Some(extraction_process_of_this_thread());
            }
        }),
        ..ExtractOptions::default()
    };
    let summary = extract(&scratch, &archive.finish(), &options).unwrap();
    assert_eq!(summary.entries, 1000);
    let (exe, cmdline, threads, blocked) = seen.lock().unwrap().take().expect("a warning came");
    assert_eq!(exe, std::fs::read_link("/proc/self/exe").unwrap());
    assert_eq!(
        cmdline, "corral extract\0",
        "the exec'd arguments, not the caller's"
    );
    assert_eq!(threads, "1");
    // Only the parent acts on these; it kills the child when they cancel a create.
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        assert_ne!(blocked & 1 << (signal - 1), 0, "signal {signal} is blocked");
    }
}

/// The only child of the calling thread: its program, its command line, its thread count and
/// its blocked signals.
fn extraction_process_of_this_thread() -> (PathBuf, String, String, u64) {
    let children = std::fs::read_to_string("/proc/thread-self/children").unwrap();
    let [pid] = children.split_whitespace().collect::<Vec<_>>()[..] else {
        panic!("expected one child, found {children:?}");
    };
    let proc = Path::new("/proc").join(pid);
    let status = std::fs::read_to_string(proc.join("status")).unwrap();
    let threads = status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .to_string();
    let blocked = status
        .lines()
        .find_map(|line| line.strip_prefix("SigBlk:"))
        .map(|mask| u64::from_str_radix(mask.trim(), 16).unwrap())
        .unwrap();
    (
        std::fs::read_link(proc.join("exe")).unwrap(),
        String::from_utf8_lossy(&std::fs::read(proc.join("cmdline")).unwrap()).into_owned(),
        threads,
        blocked,
    )
}
