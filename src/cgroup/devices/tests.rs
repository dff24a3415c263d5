use super::*;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

#[test]
fn rules_parse_as_lxc_writes_them() {
    assert_eq!(
        DeviceRule::parse("c 1:3 rwm", true).unwrap(),
        DeviceRule::node('c', 1, 3)
    );
    let pts = DeviceRule::parse("c 136:* rw", true).unwrap();
    assert_eq!((pts.major, pts.minor, pts.access), (Some(136), None, 6));
    let any = DeviceRule::parse("a", false).unwrap();
    assert!(any.is_everything() && !any.allow && any.access == 7);
    for bad in [
        "x 1:3 rwm",
        "c 1 rwm",
        "c 1:3 rwx",
        "c a:3 r",
        "c 1:3 r extra",
        "",
    ] {
        let error = DeviceRule::parse(bad, true).unwrap_err();
        assert_eq!(error.rule, bad);
        assert_eq!(error.to_string(), format!("invalid device rule '{bad}'"));
    }
}

#[test]
fn repeated_letters_and_partial_wildcards_mean_what_they_say() {
    // Letters add up; a repeated one does not cancel itself.
    assert_eq!(
        DeviceRule::parse("c 1:3 rr", true).unwrap().access,
        ACCESS_READ
    );
    assert_eq!(
        DeviceRule::parse("c 1:3 rwmr", true).unwrap().access,
        ACCESS_ALL
    );
    // Only `a` (or a type-less wildcard) is everything; a wildcard major or minor is not.
    assert!(DeviceRule::parse("a", true).unwrap().is_everything());
    for partial in ["c 136:* rwm", "c *:3 rwm", "b *:* m", "c 1:3 rwm"] {
        assert!(
            !DeviceRule::parse(partial, true).unwrap().is_everything(),
            "{partial}"
        );
    }
    assert!(
        !DeviceRule {
            kind: None,
            major: Some(1),
            minor: None,
            ..DeviceRule::node('c', 1, 3)
        }
        .is_everything()
    );
}

/// A program the verifier refuses is loaded again with its log, so the error says why.
#[test]
fn a_refused_program_comes_back_with_the_verifiers_reason() {
    if !crate::skip::root_or_report() {
        return;
    }
    // No exit: the verifier refuses to run off the end.
    let error = load_code(&[insn(ALU64_MOV_K, 0, 0, 0, 1)], true).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("unable to load the device filter: "),
        "{message}"
    );
    assert!(message.contains("insn"), "the verifier's log: {message}");
}

#[test]
fn each_rule_jumps_to_the_next_when_it_does_not_match() {
    let rules = [
        DeviceRule::parse("c 1:3 rwm", true).unwrap(),
        DeviceRule::parse("b *:* m", true).unwrap(),
    ];
    let code = program(&rules);
    // 6 loads, rule 1: type, major, minor checks + mov + exit, rule 2: type, access + mov +
    // exit, then the default deny.
    assert_eq!(code.len(), 6 + 5 + 4 + 2);
    assert_eq!(code[6], insn(JMP_JNE_K, 2, 0, 4, 2));
    assert_eq!(code[7], insn(JMP_JNE_K, 4, 0, 3, 1));
    assert_eq!(code[8], insn(JMP_JNE_K, 5, 0, 2, 3));
    assert_eq!(code[9], insn(ALU64_MOV_K, 0, 0, 0, 1));
    // `m` only: any read or write bit skips the rule.
    assert_eq!(code[12], insn(JMP_JSET_K, 3, 0, 2, 6));
    assert_eq!(code[code.len() - 2], insn(ALU64_MOV_K, 0, 0, 0, 0));
}

#[test]
fn a_rule_matching_everything_ends_the_program() {
    let code = program(&[
        DeviceRule::parse("a", true).unwrap(),
        DeviceRule::node('c', 1, 3),
    ]);
    assert_eq!(code.len(), 6 + 2, "no unreachable instructions after it");
    assert_eq!(code[6], insn(ALU64_MOV_K, 0, 0, 0, 1));
}

/// The program's answer for one access, from an interpreter of the instructions `program`
/// emits, over `struct bpf_cgroup_dev_ctx` (type and access in the first word, then major and
/// minor). What the kernel answers is checked as root below; this runs everywhere.
fn allows(code: &[Insn], kind: char, major: u32, minor: u32, access: u8) -> bool {
    let device_type: u32 = if kind == 'b' { 1 } else { 2 };
    let context = [device_type | u32::from(access) << 16, major, minor];
    let mut registers = [0u64; 11];
    let mut pc = 0usize;
    loop {
        let insn = code.get(pc).expect("the program runs off its end");
        let (dst, src) = (usize::from(insn.regs & 0xf), insn.regs >> 4);
        let imm = insn.imm as i64 as u64;
        let mut next = pc + 1;
        match insn.code {
            LDX_MEM_W => {
                assert_eq!(src, 1, "loads come from the context");
                registers[dst] = u64::from(context[(insn.off / 4) as usize]);
            }
            ALU_AND_K => registers[dst] = (registers[dst] & imm) & 0xffff_ffff,
            ALU_RSH_K => registers[dst] = (registers[dst] & 0xffff_ffff) >> imm,
            ALU64_MOV_K => registers[dst] = imm,
            JMP_JNE_K | JMP_JSET_K => {
                let taken = if insn.code == JMP_JNE_K {
                    registers[dst] != imm
                } else {
                    registers[dst] & imm != 0
                };
                if taken {
                    next = (pc as isize + 1 + insn.off as isize) as usize;
                }
            }
            JMP_EXIT => return registers[0] == 1,
            other => panic!("unexpected opcode {other:#x}"),
        }
        pc = next;
    }
}

const M: u8 = ACCESS_MKNOD;
const R: u8 = ACCESS_READ;
const W: u8 = ACCESS_WRITE;

/// LXC's defaults: any node may be made, but only the basic character devices opened; a
/// block device (the host's disks) never, whatever its numbers.
#[test]
fn the_default_rules_open_the_basic_nodes_and_no_block_device() {
    let code = program(&default_rules());
    for (major, minor) in [(8, 0), (7, 0), (253, 1), (259, 0), (1, 3)] {
        assert!(
            allows(&code, 'b', major, minor, M),
            "mknod b {major}:{minor}"
        );
        for access in [R, W, R | W, R | W | M] {
            assert!(
                !allows(&code, 'b', major, minor, access),
                "b {major}:{minor} access {access}"
            );
        }
    }
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
        (10, 229),
        (136, 0),
        (136, 42),
    ] {
        assert!(allows(&code, 'c', major, minor, R | W), "c {major}:{minor}");
        assert!(
            allows(&code, 'c', major, minor, R | W | M),
            "c {major}:{minor}"
        );
    }
    // /dev/mem, /dev/port, kmsg, tty0, a serial port, tun: made, never opened.
    for (major, minor) in [(1, 1), (1, 4), (1, 11), (4, 0), (4, 64), (10, 200)] {
        assert!(
            allows(&code, 'c', major, minor, M),
            "mknod c {major}:{minor}"
        );
        assert!(
            !allows(&code, 'c', major, minor, R),
            "c {major}:{minor} read"
        );
        assert!(
            !allows(&code, 'c', major, minor, W),
            "c {major}:{minor} write"
        );
    }
}

#[test]
fn the_first_matching_rule_decides_and_access_must_be_covered() {
    let code = program(&[
        DeviceRule::parse("c 1:9 rwm", false).unwrap(),
        DeviceRule::parse("c 4:* rw", true).unwrap(),
        DeviceRule::parse("b 8:16 r", true).unwrap(),
        DeviceRule::parse("c *:9 rwm", true).unwrap(),
    ]);
    assert!(
        !allows(&code, 'c', 1, 9, R),
        "denied before the wildcard allows it"
    );
    assert!(allows(&code, 'c', 2, 9, R | W | M));
    assert!(allows(&code, 'c', 4, 7, R | W));
    assert!(!allows(&code, 'c', 4, 7, M), "m is not in rw");
    assert!(
        !allows(&code, 'c', 4, 7, R | M),
        "every bit asked must be allowed"
    );
    assert!(allows(&code, 'b', 8, 16, R));
    assert!(!allows(&code, 'b', 8, 16, W));
    assert!(!allows(&code, 'b', 8, 17, R), "the minor must match");
    assert!(!allows(&code, 'b', 9, 16, R), "the major must match");
    assert!(!allows(&code, 'c', 8, 16, R), "the type must match");
    assert!(!allows(&code, 'b', 4, 7, R), "c rules are not b rules");
    let everything = program(&[DeviceRule::parse("a", true).unwrap()]);
    assert!(allows(&everything, 'b', 8, 0, R | W | M));
    assert!(!allows(&program(&[]), 'c', 1, 3, R), "no rule: denied");
}

/// The kernel enforces the program: a child in a cgroup carrying it may open /dev/null and
/// make nodes for /dev/mem and a loop device, but not open them.
#[test]
fn the_kernel_enforces_the_filter() {
    if !crate::skip::root_or_report() {
        return;
    }
    let hierarchy = crate::cgroup::Hierarchy::find().expect("a cgroup v2 hierarchy");
    let cgroup = hierarchy.path(&format!("corral-device-test-{}", std::process::id()));
    std::fs::create_dir(&cgroup).unwrap();
    let result = std::panic::catch_unwind(|| {
        restrict(&cgroup, &default_rules()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let node = CString::new(dir.path().join("mem").as_os_str().as_bytes()).unwrap();
        let disk = CString::new(dir.path().join("loop0").as_os_str().as_bytes()).unwrap();
        let target = rustix::fs::open(
            &cgroup,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        use std::os::fd::AsFd;
        // SAFETY: the child makes only raw syscalls on prepared C strings, then _exits.
        let pid =
            unsafe { crate::runtime::spawn::fork_into(0, Some(target.as_fd()), None).unwrap() };
        if pid == 0 {
            let mut failures = 0;
            unsafe {
                if libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) < 0 {
                    failures |= 1;
                }
                if libc::mknod(node.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 1)) != 0 {
                    failures |= 2;
                }
                let fd = libc::open(node.as_ptr(), libc::O_RDONLY);
                if fd >= 0 || *libc::__errno_location() != libc::EPERM {
                    failures |= 4;
                }
                // A loop device: the filter alone stands between root and the host's disks.
                if libc::mknod(disk.as_ptr(), libc::S_IFBLK | 0o600, libc::makedev(7, 0)) != 0 {
                    failures |= 8;
                }
                let fd = libc::open(disk.as_ptr(), libc::O_RDONLY);
                if fd >= 0 || *libc::__errno_location() != libc::EPERM {
                    failures |= 16;
                }
                libc::_exit(failures);
            }
        }
        let status = crate::runtime::attach::wait_status(pid as i32).unwrap();
        assert_eq!(
            status, 0,
            "failed checks (bits: null 1, mknod 2, mem refused 4, mknod b 8, loop0 refused 16)"
        );
    });
    let _ = std::fs::remove_dir(&cgroup);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// A nested runtime (features: nesting=1) attaches device filters of its own below the
/// container's: the container's filter must allow that (BPF_F_ALLOW_MULTI), since a filter
/// attached without it keeps every descendant from attaching one.
#[test]
fn descendants_may_add_filters_of_their_own() {
    if !crate::skip::root_or_report() {
        return;
    }
    let hierarchy = crate::cgroup::Hierarchy::find().expect("a cgroup v2 hierarchy");
    let cgroup = hierarchy.path(&format!("corral-device-nested-{}", std::process::id()));
    let nested = cgroup.join("nested");
    std::fs::create_dir(&cgroup).unwrap();
    let result = std::panic::catch_unwind(|| {
        std::fs::create_dir(&nested).unwrap();
        restrict(&cgroup, &default_rules()).unwrap();
        restrict(&nested, &[DeviceRule::node('c', 1, 3)]).unwrap();
    });
    let _ = std::fs::remove_dir(&nested);
    let _ = std::fs::remove_dir(&cgroup);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
