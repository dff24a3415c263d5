//! The container architecture pct records as `arch`, read from an ELF header inside the
//! rootfs (pct looks at `/bin/sh`, which POSIX guarantees).

use std::io::Read;
use std::path::Path;

use rustix::fs::{FileType, OFlags, fstat};

use super::rootdir::RootDir;

/// The bytes of an ELF header that decide the architecture: magic, class, data and e_machine.
const HEADER_LEN: usize = 20;

/// The pct arch of `path_in_ct` inside `rootfs`: symlinks are followed, but only within the
/// rootfs (`/bin/sh -> dash`, `/bin -> usr/bin`, `/bin/sh -> /bin/busybox`).
pub(super) fn detect_elf_arch(rootfs: &Path, path_in_ct: &str) -> Option<&'static str> {
    let root = RootDir::open(rootfs).ok()?;
    let relative = path_in_ct.trim_start_matches('/');
    // Non-blocking: a fifo planted at /bin/sh must not hang the caller.
    let fd = root
        .open_in(
            relative.as_bytes(),
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY,
        )
        .ok()?;
    if FileType::from_raw_mode(fstat(&fd).ok()?.st_mode) != FileType::RegularFile {
        return None;
    }
    let mut header = [0u8; HEADER_LEN];
    std::fs::File::from(fd).read_exact(&mut header).ok()?;
    elf_arch(&header)
}

/// The pct arch named by an ELF header: e_machine 0x03 i386, 0x3e amd64, 0x28 armhf,
/// 0xb7 arm64, 0xf3 riscv32 or riscv64 by ELF class.
pub(super) fn elf_arch(header: &[u8]) -> Option<&'static str> {
    const ELFCLASS32: u8 = 1;
    const ELFCLASS64: u8 = 2;
    const ELFDATA2LSB: u8 = 1;
    const ELFDATA2MSB: u8 = 2;
    if header.len() < HEADER_LEN || &header[..4] != b"\x7fELF" {
        return None;
    }
    let machine_bytes = [header[18], header[19]];
    let machine = match header[5] {
        ELFDATA2LSB => u16::from_le_bytes(machine_bytes),
        ELFDATA2MSB => u16::from_be_bytes(machine_bytes),
        _ => return None,
    };
    match (machine, header[4]) {
        (0x03, _) => Some("i386"),
        (0x3e, _) => Some("amd64"),
        (0x28, _) => Some("armhf"),
        (0xb7, _) => Some("arm64"),
        (0xf3, ELFCLASS32) => Some("riscv32"),
        (0xf3, ELFCLASS64) => Some("riscv64"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::template::fixtures::Scratch;
    use std::os::unix::fs::symlink;

    /// The first 20 bytes of an executable's ELF header.
    fn header(class: u8, data: u8, machine: u16) -> Vec<u8> {
        let mut bytes = vec![0x7f, b'E', b'L', b'F', class, data, 1, 0];
        bytes.extend_from_slice(&[0; 8]);
        let (e_type, e_machine) = if data == 2 {
            (2u16.to_be_bytes(), machine.to_be_bytes())
        } else {
            (2u16.to_le_bytes(), machine.to_le_bytes())
        };
        bytes.extend_from_slice(&e_type);
        bytes.extend_from_slice(&e_machine);
        bytes
    }

    #[test]
    fn maps_each_machine_pct_knows() {
        assert_eq!(elf_arch(&header(1, 1, 0x03)), Some("i386"));
        assert_eq!(elf_arch(&header(2, 1, 0x3e)), Some("amd64"));
        assert_eq!(elf_arch(&header(1, 1, 0x28)), Some("armhf"));
        assert_eq!(elf_arch(&header(2, 1, 0xb7)), Some("arm64"));
        assert_eq!(elf_arch(&header(1, 1, 0xf3)), Some("riscv32"));
        assert_eq!(elf_arch(&header(2, 1, 0xf3)), Some("riscv64"));
        // Big-endian headers are read in their own byte order.
        assert_eq!(elf_arch(&header(2, 2, 0xb7)), Some("arm64"));
    }

    #[test]
    fn rejects_what_pct_does_not_know() {
        assert_eq!(elf_arch(&header(2, 1, 0x16)), None); // s390
        assert_eq!(elf_arch(&header(3, 1, 0xf3)), None); // riscv with a bad class
        assert_eq!(elf_arch(&header(2, 3, 0x3e)), None); // bad data encoding
        assert_eq!(elf_arch(b"#!/bin/sh\nexec busybox sh\n"), None);
        assert_eq!(elf_arch(&header(2, 1, 0x3e)[..19]), None);
    }

    #[test]
    fn follows_symlinks_only_inside_the_rootfs() {
        let scratch = Scratch::new();
        let root = scratch.rootfs();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        symlink("usr/bin", root.join("bin")).unwrap();
        std::fs::write(root.join("usr/bin/dash"), header(2, 1, 0xb7)).unwrap();
        symlink("/usr/bin/dash", root.join("usr/bin/sh")).unwrap();
        assert_eq!(detect_elf_arch(&root, "/bin/sh"), Some("arm64"));

        // An absolute link to a host binary resolves inside the rootfs, where it is missing.
        let host_binary = scratch.outside().join("sh");
        std::fs::write(&host_binary, header(2, 1, 0x03)).unwrap();
        std::fs::remove_file(root.join("usr/bin/sh")).unwrap();
        symlink(&host_binary, root.join("usr/bin/sh")).unwrap();
        assert_eq!(detect_elf_arch(&root, "/bin/sh"), None);
    }

    #[test]
    fn reads_each_arch_from_bin_sh_through_a_busybox_link() {
        let scratch = Scratch::new();
        let root = scratch.rootfs();
        std::fs::create_dir(root.join("bin")).unwrap();
        symlink("/bin/busybox", root.join("bin/sh")).unwrap();
        for (class, machine, arch) in [
            (1, 0x03, "i386"),
            (2, 0x3e, "amd64"),
            (1, 0x28, "armhf"),
            (2, 0xb7, "arm64"),
            (1, 0xf3, "riscv32"),
            (2, 0xf3, "riscv64"),
        ] {
            std::fs::write(root.join("bin/busybox"), header(class, 1, machine)).unwrap();
            assert_eq!(crate::storage::detect_arch(&root), Some(arch));
        }
    }

    #[test]
    fn a_fifo_or_a_missing_shell_gives_none() {
        let scratch = Scratch::new();
        let root = scratch.rootfs();
        assert_eq!(detect_elf_arch(&root, "/bin/sh"), None);
        std::fs::create_dir(root.join("bin")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("bin/sh"),
            FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert_eq!(detect_elf_arch(&root, "/bin/sh"), None);
    }
}
