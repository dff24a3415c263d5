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
        assert!(DeviceRule::parse(bad, true).is_err(), "{bad}");
    }
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

/// The kernel enforces the program: a child in a cgroup carrying it may open /dev/null and
/// make a node for /dev/mem, but not open that node.
#[test]
fn the_kernel_enforces_the_filter() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return;
    }
    let hierarchy = crate::cgroup::Hierarchy::find().expect("a cgroup v2 hierarchy");
    let cgroup = hierarchy.path(&format!("corral-device-test-{}", std::process::id()));
    std::fs::create_dir(&cgroup).unwrap();
    let result = std::panic::catch_unwind(|| {
        restrict(&cgroup, &default_rules()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let node = CString::new(dir.path().join("mem").as_os_str().as_bytes()).unwrap();
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
                libc::_exit(failures);
            }
        }
        let status = crate::runtime::attach::wait_status(pid as i32).unwrap();
        assert_eq!(
            status, 0,
            "failed checks (bits: null 1, mknod 2, mem refused 4)"
        );
    });
    let _ = std::fs::remove_dir(&cgroup);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
