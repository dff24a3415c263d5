use super::*;

fn opts(unprivileged: bool, keyctl: bool) -> PolicyOptions {
    PolicyOptions {
        unprivileged,
        keyctl,
        ..Default::default()
    }
}

fn names(policy: &Policy) -> Vec<(String, Action)> {
    policy
        .rules
        .iter()
        .map(|r| match &r.syscall {
            SyscallRef::Name(n) => (n.clone(), r.action),
            SyscallRef::Number(n) => (n.to_string(), r.action),
        })
        .collect()
}

#[test]
fn the_default_policy_parses_into_lxcs_and_pcts_rules() {
    let policy = Policy::parse(&container_policy(opts(true, false))).unwrap();
    assert_eq!(policy.default_action, Action::Allow);
    assert_eq!(
        names(&policy),
        [
            ("umount2".to_string(), Action::Errno(13)),
            ("kexec_load".into(), Action::Errno(1)),
            ("open_by_handle_at".into(), Action::Errno(1)),
            ("init_module".into(), Action::Errno(1)),
            ("finit_module".into(), Action::Errno(1)),
            ("delete_module".into(), Action::Errno(1)),
            ("kexec_file_load".into(), Action::Errno(1)),
            ("ioctl".into(), Action::Errno(1)),
            ("keyctl".into(), Action::Errno(38)),
            ("add_key".into(), Action::Errno(38)),
            ("request_key".into(), Action::Errno(38)),
            ("socket".into(), Action::Errno(97)),
        ]
    );
    let ioctl = &policy.rules[7];
    assert_eq!(
        ioctl.args,
        [ArgCondition {
            index: 1,
            op: ScmpCompareOp::MaskedEqual(0xff00),
            value: 0x9400
        }]
    );
    let keyctl_allowed = Policy::parse(&container_policy(opts(true, true))).unwrap();
    assert!(
        !names(&keyctl_allowed)
            .iter()
            .any(|(n, _)| n.contains("key"))
    );
}

#[test]
fn privileged_containers_also_lose_the_host_wide_calls() {
    let privileged = names(&Policy::parse(&container_policy(opts(false, false))).unwrap());
    for (name, errno) in [
        ("kexec_file_load", 1),
        ("syslog", 1),
        ("swapon", 1),
        ("swapoff", 1),
        ("bpf", 1),
        ("keyctl", 38),
        ("socket", 97),
    ] {
        assert!(
            privileged.contains(&(name.to_string(), Action::Errno(errno))),
            "{name}"
        );
    }
    assert!(
        !privileged.iter().any(|(n, _)| n == "ioctl"),
        "btrfs ioctls stay open"
    );
    let nesting = container_policy(PolicyOptions {
        nesting: true,
        ..opts(false, false)
    });
    assert!(!nesting.contains("bpf"), "a nested runtime needs bpf");
}

/// Every rule's arguments, in both kinds of policy: a changed value or operator would let
/// the call through unseen by any test that does not install the filter (those need root).
#[test]
fn the_default_policies_compare_the_arguments_they_should() {
    let masked = ScmpCompareOp::MaskedEqual;
    let expected = |unprivileged: bool| {
        let mut rules = vec![(
            "umount2",
            vec![ArgCondition {
                index: 1,
                op: masked(libc::MNT_FORCE as u64),
                value: libc::MNT_FORCE as u64,
            }],
        )];
        if unprivileged {
            rules.push((
                "ioctl",
                vec![ArgCondition {
                    index: 1,
                    op: masked(0xff00),
                    value: 0x9400,
                }],
            ));
        }
        rules.push((
            "socket",
            vec![ArgCondition {
                index: 0,
                op: ScmpCompareOp::Equal,
                value: libc::AF_ALG as u64,
            }],
        ));
        for (index, kind) in [(1, libc::S_IFCHR), (1, libc::S_IFBLK)]
            .into_iter()
            .chain([(2, libc::S_IFCHR), (2, libc::S_IFBLK)])
        {
            let name = if index == 1 { "mknod" } else { "mknodat" };
            rules.push((
                name,
                vec![ArgCondition {
                    index,
                    op: masked(libc::S_IFMT as u64),
                    value: kind as u64,
                }],
            ));
        }
        rules
    };
    for unprivileged in [true, false] {
        let policy = Policy::parse(&container_policy(PolicyOptions {
            mknod: true,
            ..opts(unprivileged, false)
        }))
        .unwrap();
        let conditional: Vec<(&str, Vec<ArgCondition>)> = policy
            .rules
            .iter()
            .filter(|rule| !rule.args.is_empty())
            .map(|rule| match &rule.syscall {
                SyscallRef::Name(name) => (name.as_str(), rule.args.clone()),
                SyscallRef::Number(_) => unreachable!("version 2 names its syscalls"),
            })
            .collect();
        assert_eq!(
            conditional,
            expected(unprivileged),
            "unprivileged: {unprivileged}"
        );
    }
}

/// x86_64 hosts run i386 and x32 binaries too; a filter missing one of them leaves that
/// entry point open (or, for x32, kills every call made through it).
#[test]
fn filters_cover_every_architecture_the_host_runs() {
    if cfg!(target_arch = "x86_64") {
        assert_eq!(
            container_arches(),
            [ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32]
        );
        assert_eq!(section_scope("x32"), Ok(ArchScope::Only(ScmpArch::X32)));
        assert_eq!(section_scope("i386"), Ok(ArchScope::Only(ScmpArch::X86)));
        assert_eq!(section_scope("arm64"), Ok(ArchScope::Foreign));
    } else if cfg!(target_arch = "aarch64") {
        assert_eq!(container_arches(), [ScmpArch::Aarch64, ScmpArch::Arm]);
        assert_eq!(section_scope("x32"), Ok(ArchScope::Foreign));
    } else {
        assert_eq!(container_arches(), [ScmpArch::native()]);
    }
}

#[test]
fn mknod_notify_rules_match_character_and_block_nodes_only() {
    let policy = Policy::parse(&container_policy(PolicyOptions {
        mknod: true,
        ..opts(true, false)
    }))
    .unwrap();
    let notify: Vec<&Rule> = policy
        .rules
        .iter()
        .filter(|r| r.action == Action::Notify)
        .collect();
    assert_eq!(notify.len(), 4);
    assert_eq!(
        notify[3].args,
        [ArgCondition {
            index: 2,
            op: ScmpCompareOp::MaskedEqual(0xf000),
            value: 0x6000
        }]
    );
    let program = policy.compile().unwrap().program;
    assert!(wants_listener(&program));
    let plain = Policy::parse(&container_policy(opts(true, false)))
        .unwrap()
        .compile()
        .unwrap()
        .program;
    assert!(!wants_listener(&plain));
}

#[test]
fn list_types_set_the_default_and_rule_actions() {
    let deny = Policy::parse("2\nblacklist errno 38\nmount\nreboot kill\n").unwrap();
    assert_eq!(deny.default_action, Action::Allow);
    assert_eq!(
        names(&deny),
        [
            ("mount".to_string(), Action::Errno(38)),
            ("reboot".into(), Action::Kill)
        ]
    );
    let allow =
        Policy::parse("2\nallowlist errno 1\n# only these\nread\nwrite   # out\nexit_group\n")
            .unwrap();
    assert_eq!(allow.default_action, Action::Errno(1));
    assert!(allow.rules.iter().all(|r| r.action == Action::Allow));
    assert_eq!(allow.rules.len(), 3);
    // Conditions may follow the name directly: the rule takes the list's action.
    let bare =
        Policy::parse("2\ndenylist errno 1\nioctl [1,0x9400,SCMP_CMP_MASKED_EQ,0xff00]\n").unwrap();
    assert_eq!(bare.rules[0].action, Action::Errno(1));
    assert_eq!(bare.rules[0].args.len(), 1);
    let v1 = Policy::parse("1\nwhitelist\n0\n1\n60\n").unwrap();
    assert_eq!(v1.default_action, Action::Kill);
    assert_eq!(v1.rules[2].syscall, SyscallRef::Number(60));
}

#[test]
fn sections_scope_rules_to_architectures() {
    let policy = Policy::parse(
        "2\ndenylist\n[x86_64]\nmount errno 1\n[i386]\numount errno 1\n[arm64]\nchmod errno 1\n[all]\nreboot errno 1\n",
    )
    .unwrap();
    let scopes: Vec<ArchScope> = policy.rules.iter().map(|r| r.scope).collect();
    if cfg!(target_arch = "x86_64") {
        assert_eq!(
            scopes,
            [
                ArchScope::Only(ScmpArch::X8664),
                ArchScope::Only(ScmpArch::X86),
                ArchScope::Foreign,
                ArchScope::All
            ]
        );
    }
    policy.compile().unwrap();
}

#[test]
fn bad_policies_name_their_line() {
    let cases = [
        ("", "empty seccomp policy"),
        ("3\n", "unsupported seccomp policy version '3'"),
        (
            "2\ngreylist\n",
            "line 2: expected denylist or allowlist, not 'greylist'",
        ),
        (
            "2\ndenylist\nmount errno\n",
            "line 3: errno needs a number below 4096",
        ),
        (
            "2\ndenylist\n\nmount explode\n",
            "line 4: unknown action 'explode'",
        ),
        (
            "2\ndenylist\nmount errno 1 [7,0,SCMP_CMP_EQ]\n",
            "line 3: argument index in '[7,0,SCMP_CMP_EQ]' must be 0 to 5",
        ),
        (
            "2\ndenylist\nioctl errno 1 [1,2,SCMP_CMP_MASKED_EQ]\n",
            "line 3: SCMP_CMP_MASKED_EQ needs a mask",
        ),
        (
            "2\ndenylist\nioctl errno 1 [1,2,LIKE]\n",
            "line 3: unknown comparison 'LIKE'",
        ),
        (
            "2\ndenylist\n[vax]\n",
            "line 3: unknown architecture section '[vax]'",
        ),
        (
            "2\ndenylist\nmo/unt\n",
            "line 3: 'mo/unt' is not a syscall name",
        ),
        (
            "1\nblacklist\n",
            "line 2: version 1 policies must be an allowlist, not 'blacklist'",
        ),
        (
            "1\nwhitelist\nread\n",
            "line 3: 'read' is not a syscall number",
        ),
    ];
    for (text, message) in cases {
        assert_eq!(
            Policy::parse(text).unwrap_err().to_string(),
            message,
            "for {text:?}"
        );
    }
}

#[test]
fn unknown_syscalls_are_skipped_and_reported() {
    let compiled = Policy::parse("2\ndenylist\nno_such_syscall errno 1\nmount errno 1\n")
        .unwrap()
        .compile()
        .unwrap();
    assert_eq!(compiled.skipped, ["no_such_syscall"]);
    assert!(!compiled.program.is_empty());
}

#[test]
fn filters_are_cached_by_policy() {
    let dir = tempfile::tempdir().unwrap();
    let text = container_policy(opts(true, false));
    let first = cached_filter(dir.path(), &text).unwrap();
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1);
    let path = files[0].as_ref().unwrap().path();
    assert_eq!(std::fs::read(&path).unwrap(), program_to_bytes(&first));
    // A damaged cache entry is recompiled, not trusted.
    std::fs::write(&path, b"garbage").unwrap();
    let again = cached_filter(dir.path(), &text).unwrap();
    assert_eq!(program_to_bytes(&again), program_to_bytes(&first));
    // Another policy gets another entry.
    cached_filter(dir.path(), &container_policy(opts(false, false))).unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

/// The errno of each probe, run in a forked child with `filter` installed (or none).
fn probe_errnos(filter: Option<&[libc::sock_filter]>) -> Vec<i32> {
    let (mut read_end, write_end) = std::io::pipe().unwrap();
    // SAFETY: the child makes raw syscalls only and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        use std::os::fd::AsRawFd;
        let out = write_end.as_raw_fd();
        unsafe {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            if let Some(filter) = filter
                && install(filter).is_err()
            {
                libc::_exit(2);
            }
            let errno = |rc: libc::c_long| if rc < 0 { *libc::__errno_location() } else { 0 };
            let empty = c"".as_ptr();
            let missing = c"/nonexistent-corral-probe".as_ptr();
            let unix = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            let results = [
                errno(libc::syscall(libc::SYS_init_module, 0usize, 0usize, empty)),
                errno(libc::syscall(libc::SYS_finit_module, -1, empty, 0)),
                errno(libc::syscall(libc::SYS_delete_module, empty, 0)),
                errno(libc::syscall(
                    libc::SYS_kexec_load,
                    0usize,
                    1usize,
                    0usize,
                    0usize,
                )),
                errno(libc::syscall(libc::SYS_open_by_handle_at, -1, 0usize, 0)),
                errno(libc::syscall(libc::SYS_keyctl, 0, -1, 0)),
                errno(libc::socket(38, libc::SOCK_SEQPACKET, 0) as libc::c_long),
                errno(unix as libc::c_long),
                // BTRFS_IOC_SYNC, _IO(0x94, 8), on a socket.
                errno(libc::ioctl(unix, 0x9408) as libc::c_long),
                errno(libc::umount2(missing, libc::MNT_FORCE) as libc::c_long),
                errno(libc::umount2(missing, 0) as libc::c_long),
                i386_init_module(),
            ];
            let bytes: Vec<u8> = results.iter().flat_map(|r| r.to_ne_bytes()).collect();
            libc::write(out, bytes.as_ptr().cast(), bytes.len());
            libc::_exit(0);
        }
    }
    drop(write_end);
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut read_end, &mut bytes).unwrap();
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "probe child: {status:#x}"
    );
    bytes
        .chunks_exact(4)
        .map(|c| i32::from_ne_bytes(c.try_into().unwrap()))
        .collect()
}

/// init_module through the i386 entry point (int 0x80, syscall 128): the compat filter.
#[cfg(target_arch = "x86_64")]
fn i386_init_module() -> i32 {
    if !std::path::Path::new("/proc/sys/abi/vsyscall32").exists() {
        return -1;
    }
    let mut rc: i64 = 128;
    // SAFETY: a compat syscall with null arguments; it faults on no memory of ours.
    unsafe {
        // rbx belongs to LLVM: swap the first argument in and out around the call.
        std::arch::asm!(
            "xchg {arg}, rbx",
            "int 0x80",
            "xchg {arg}, rbx",
            arg = inout(reg) 0u64 => _,
            inout("rax") rc,
            in("rcx") 0u64,
            in("rdx") 0u64,
        );
    }
    if rc < 0 { -rc as i32 } else { 0 }
}

#[cfg(not(target_arch = "x86_64"))]
fn i386_init_module() -> i32 {
    -1
}

#[test]
fn installed_filters_deny_what_the_policy_lists() {
    if !crate::skip::root_or_report() {
        return;
    }
    let unfiltered = probe_errnos(None);
    eprintln!("unfiltered errnos: {unfiltered:?}");
    let program = Policy::parse(&container_policy(opts(true, false)))
        .unwrap()
        .compile()
        .unwrap()
        .program;
    let filtered = probe_errnos(Some(&program));
    let expected = [
        ("init_module", libc::EPERM),
        ("finit_module", libc::EPERM),
        ("delete_module", libc::EPERM),
        ("kexec_load", libc::EPERM),
        ("open_by_handle_at", libc::EPERM),
        ("keyctl", libc::ENOSYS),
        ("socket(AF_ALG)", libc::EAFNOSUPPORT),
        ("socket(AF_UNIX)", 0),
        ("btrfs ioctl", libc::EPERM),
        ("umount2(MNT_FORCE)", libc::EACCES),
        ("umount2", unfiltered[10]),
    ];
    for (i, (name, errno)) in expected.iter().enumerate() {
        assert_eq!(filtered[i], *errno, "{name}: filtered errno");
    }
    // The filter, not the kernel, gave these answers.
    for (i, name) in [
        (0, "init_module"),
        (1, "finit_module"),
        (8, "btrfs ioctl"),
        (9, "umount2(MNT_FORCE)"),
    ] {
        assert_ne!(
            unfiltered[i], filtered[i],
            "{name} is refused without the filter too"
        );
    }
    if unfiltered[11] != -1 {
        assert_eq!(filtered[11], libc::EPERM, "i386 init_module");
        assert_ne!(unfiltered[11], libc::EPERM);
    } else {
        crate::skip::report("no i386 entry point here: the compat filter is not checked");
    }
    // The privileged policy leaves btrfs ioctls alone, and refuses keyctl all the same.
    let privileged = Policy::parse(&container_policy(opts(false, false)))
        .unwrap()
        .compile()
        .unwrap()
        .program;
    let filtered = probe_errnos(Some(&privileged));
    assert_eq!(filtered[5], libc::ENOSYS);
    assert_eq!(filtered[8], unfiltered[8]);
    assert_eq!(filtered[0], libc::EPERM);
}

/// Numbers as LXC reads them (strtoull with base 0), and the limits at their edges.
#[test]
fn numbers_comments_and_limits_parse_as_lxc_reads_them() {
    for (text, value) in [
        ("0", Some(0)),
        ("7", Some(7)),
        ("12", Some(12)),
        ("010", Some(8)),
        ("0x1F", Some(31)),
        ("0X1f", Some(31)),
        ("08", None),
        ("x", None),
    ] {
        assert_eq!(parse_number(text), value, "{text}");
    }
    let errno = |n: &str| Policy::parse(&format!("2\ndenylist\nmount errno {n}\n"));
    assert_eq!(errno("4095").unwrap().rules[0].action, Action::Errno(4095));
    assert_eq!(
        errno("4096").unwrap_err(),
        PolicyError::Line {
            line: 3,
            source: PolicyLineError::BadErrno
        }
    );
    let index = |n: &str| Policy::parse(&format!("2\ndenylist\nmount errno 1 [{n},0,==]\n"));
    assert_eq!(index("5").unwrap().rules[0].args[0].index, 5);
    assert!(index("6").is_err());
    // `#` starts a comment at the start of a line or after white space, nowhere else.
    assert_eq!(strip_comment("# all of it"), "");
    assert_eq!(strip_comment("mount # why"), "mount ");
    assert_eq!(strip_comment("mount\t#why"), "mount\t");
    assert_eq!(strip_comment("mo#unt"), "mo#unt");
    assert_eq!(strip_comment("m#o #unt"), "m#o ");
}

#[test]
fn cached_programs_are_whole_bpf_programs_of_at_most_4096_instructions() {
    let insn = libc::sock_filter {
        code: 6,
        jt: 1,
        jf: 2,
        k: 0x7fff_0000,
    };
    let program = vec![insn; 4096];
    let bytes = program_to_bytes(&program);
    assert_eq!(bytes.len(), 4096 * 8);
    assert_eq!(&bytes[..8], &[6, 0, 1, 2, 0, 0, 0xff, 0x7f]);
    let back = program_from_bytes(&bytes).unwrap();
    assert_eq!(back.len(), 4096);
    assert_eq!(
        (back[4095].code, back[4095].jt, back[4095].jf, back[4095].k),
        (6, 1, 2, 0x7fff_0000)
    );
    assert!(program_from_bytes(&program_to_bytes(&vec![insn; 4097])).is_err());
    assert!(program_from_bytes(&bytes[..7]).is_err());
    assert!(program_from_bytes(&[]).is_err());
}

/// A filter with notify rules comes with its listener: a seccomp notification descriptor,
/// not whatever number the kernel's 0 for "installed" would name.
#[test]
fn installing_a_notify_filter_returns_its_listener() {
    use std::os::fd::AsRawFd;
    if !crate::skip::root_or_report() {
        return;
    }
    let notify = Policy::parse(&container_policy(PolicyOptions {
        mknod: true,
        ..opts(true, false)
    }))
    .unwrap()
    .compile()
    .unwrap()
    .program;
    let plain = Policy::parse(&container_policy(opts(true, false)))
        .unwrap()
        .compile()
        .unwrap()
        .program;
    let (mut read_end, write_end) = std::io::pipe().unwrap();
    // SAFETY: the child installs filters, reads a link and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let out = write_end.as_raw_fd();
        let plain_result = match install(&plain) {
            Ok(None) => b'n',
            Ok(Some(_)) => b's',
            Err(_) => b'e',
        };
        let listener = match install(&notify) {
            Ok(Some(fd)) => std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
                .map(|target| target.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Ok(None) => "none".into(),
            Err(e) => format!("error {e}"),
        };
        let report = format!("{}{listener}", plain_result as char);
        // SAFETY: a write to a pipe this process holds, then _exit.
        unsafe {
            libc::write(out, report.as_ptr().cast(), report.len());
            libc::_exit(0);
        }
    }
    drop(write_end);
    let mut report = String::new();
    std::io::Read::read_to_string(&mut read_end, &mut report).unwrap();
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    assert_eq!(report, "nanon_inode:seccomp notify");
}

/// What a classic BPF seccomp program answers for one call, run by an interpreter of the
/// instructions libseccomp emits: the whole filter, every architecture, checked without
/// root (installing it needs root, and can only try the host's own entry points).
fn verdict(program: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    // struct seccomp_data: nr, arch, instruction_pointer, args.
    let mut data = Vec::with_capacity(64);
    data.extend_from_slice(&nr.to_ne_bytes());
    data.extend_from_slice(&arch.to_ne_bytes());
    data.extend_from_slice(&0u64.to_ne_bytes());
    for arg in args {
        data.extend_from_slice(&arg.to_ne_bytes());
    }
    let word = |offset: u32| {
        let at = offset as usize;
        u32::from_ne_bytes(data[at..at + 4].try_into().unwrap())
    };
    let (mut a, mut x, mut memory) = (0u32, 0u32, [0u32; 16]);
    let mut pc = 0usize;
    loop {
        let insn = program[pc];
        pc += 1;
        let (code, k) = (u32::from(insn.code), insn.k);
        let operand = if code & 0x08 != 0 { x } else { k };
        match code & 0x07 {
            // LD, LDX: immediate, absolute (seccomp_data) or scratch memory, 32 bits.
            0 | 1 => {
                let value = match code & 0xe0 {
                    0x00 => k,
                    0x20 => word(k),
                    0x60 => memory[k as usize],
                    mode => panic!("load mode {mode:#x}"),
                };
                if code & 0x07 == 0 {
                    a = value
                } else {
                    x = value
                }
            }
            2 => memory[k as usize] = a,
            3 => memory[k as usize] = x,
            4 => {
                a = match code & 0xf0 {
                    0x00 => a.wrapping_add(operand),
                    0x10 => a.wrapping_sub(operand),
                    0x40 => a | operand,
                    0x50 => a & operand,
                    0x60 => a << operand,
                    0x70 => a >> operand,
                    0x80 => a.wrapping_neg(),
                    0xa0 => a ^ operand,
                    op => panic!("alu op {op:#x}"),
                }
            }
            5 => {
                let taken = match code & 0xf0 {
                    0x00 => {
                        pc += k as usize;
                        continue;
                    }
                    0x10 => a == operand,
                    0x20 => a > operand,
                    0x30 => a >= operand,
                    0x40 => a & operand != 0,
                    op => panic!("jump op {op:#x}"),
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
            }
            6 => return if code & 0x18 == 0x10 { a } else { k },
            _ => {
                if code & 0xf8 == 0 {
                    x = a
                } else {
                    a = x
                }
            }
        }
    }
}

const AUDIT_X86_64: u32 = 0xc000_003e;
const AUDIT_I386: u32 = 0x4000_0003;
const X32_BIT: u32 = 0x4000_0000;
const ALLOW: u32 = 0x7fff_0000;
const fn errno(n: u32) -> u32 {
    0x0005_0000 | n
}

/// The default policies on every entry point of an x86_64 host: native, x32 and i386.
#[cfg(target_arch = "x86_64")]
#[test]
fn the_compiled_filters_answer_for_every_architecture() {
    let none = [0u64; 6];
    let with = |first: u64, second: u64| [first, second, 0, 0, 0, 0];
    for unprivileged in [true, false] {
        let program = Policy::parse(&container_policy(opts(unprivileged, false)))
            .unwrap()
            .compile()
            .unwrap()
            .program;
        let run = |arch, nr, args| verdict(&program, arch, nr, args);
        for (arch, bit) in [(AUDIT_X86_64, 0), (AUDIT_X86_64, X32_BIT)] {
            // init_module 175, kexec_load 246, kexec_file_load 320, getpid 39, socket 41,
            // keyctl 250 (x32 shares these numbers, with its bit set).
            assert_eq!(run(arch, bit | 175, none), errno(1), "init_module {bit:#x}");
            assert_eq!(
                run(arch, bit | 320, none),
                errno(1),
                "kexec_file_load {bit:#x}"
            );
            assert_eq!(run(arch, bit | 39, none), ALLOW, "getpid {bit:#x}");
            assert_eq!(
                run(arch, bit | 41, with(38, 0)),
                errno(97),
                "AF_ALG {bit:#x}"
            );
            assert_eq!(run(arch, bit | 41, with(1, 0)), ALLOW, "AF_UNIX {bit:#x}");
            assert_eq!(run(arch, bit | 250, none), errno(38), "keyctl {bit:#x}");
            // ioctl: 16, and 514 of x32's own calls.
            let ioctl = if bit == 0 { 16 } else { X32_BIT | 514 };
            let btrfs = run(arch, ioctl, with(3, 0x9408));
            let refused = if unprivileged { errno(1) } else { ALLOW };
            assert_eq!(btrfs, refused, "btrfs ioctl {bit:#x}");
            assert_eq!(run(arch, ioctl, with(3, 0x5401)), ALLOW, "TCGETS {bit:#x}");
        }
        // i386: init_module 128, kexec_load 283, socket 359, getpid 20.
        assert_eq!(run(AUDIT_I386, 128, none), errno(1), "i386 init_module");
        assert_eq!(run(AUDIT_I386, 283, none), errno(1), "i386 kexec_load");
        assert_eq!(run(AUDIT_I386, 359, with(38, 0)), errno(97), "i386 AF_ALG");
        assert_eq!(run(AUDIT_I386, 20, none), ALLOW, "i386 getpid");
        // syslog 103 and swapon 167 only for privileged containers.
        let privileged_only = if unprivileged { ALLOW } else { errno(1) };
        assert_eq!(run(AUDIT_X86_64, 103, none), privileged_only, "syslog");
        assert_eq!(run(AUDIT_X86_64, 167, none), privileged_only, "swapon");
        // An architecture the filter was not built for is killed, not let through.
        assert_eq!(run(0xc000_00b7, 39, none), 0, "aarch64 getpid");
    }
}

/// A section's rules reach its architecture and no other.
#[cfg(target_arch = "x86_64")]
#[test]
fn section_rules_reach_their_architecture_only() {
    let program = Policy::parse("2\ndenylist\n[x86_64]\nmount errno 1\n[i386]\nmount errno 2\n")
        .unwrap()
        .compile()
        .unwrap()
        .program;
    let none = [0u64; 6];
    // mount: 165 on x86_64 and x32, 21 on i386.
    assert_eq!(verdict(&program, AUDIT_X86_64, 165, none), errno(1));
    assert_eq!(verdict(&program, AUDIT_X86_64, X32_BIT | 165, none), ALLOW);
    assert_eq!(verdict(&program, AUDIT_I386, 21, none), errno(2));
}

/// libseccomp's refusals are errors naming the line, but for a call one architecture lacks.
#[test]
fn rules_libseccomp_refuses_name_their_line() {
    let error = Policy::parse("2\ndenylist\nmount errno 1 [0,1,==] [0,2,==]\n")
        .unwrap()
        .compile()
        .unwrap_err();
    assert!(
        matches!(error, CompileError::Rule { line: 3, .. }),
        "{error:?}"
    );
    assert!(error.to_string().starts_with("line 3: "), "{error}");
    assert_eq!(
        cache_dir(Path::new("/host")),
        Path::new("/host/var/cache/corral/seccomp")
    );
}
