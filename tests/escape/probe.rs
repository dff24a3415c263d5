//! The escape suite's probe: runs inside a container and tries one way out per attempt,
//! printing what the kernel answered. Built by the suite with plain rustc as one static
//! executable (std and a few libc calls, no crates), so it runs on any rootfs.
//!
//! Usage: probe ATTEMPT [ARG...] [:: ATTEMPT [ARG...]]...
//! Each attempt prints one line, `ATTEMPT: ok [DETAIL]` or `ATTEMPT: errno N [STEP]`.

use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_long, c_ulong, c_void};

extern "C" {
    fn syscall(number: c_long, ...) -> c_long;
    fn __errno_location() -> *mut c_int;
    fn mknod(path: *const c_char, mode: u32, dev: u64) -> c_int;
    fn mount(
        source: *const c_char,
        target: *const c_char,
        fstype: *const c_char,
        flags: c_ulong,
        data: *const c_void,
    ) -> c_int;
    fn umount2(target: *const c_char, flags: c_int) -> c_int;
    fn chroot(path: *const c_char) -> c_int;
    fn socket(domain: c_int, kind: c_int, protocol: c_int) -> c_int;
    fn kill(pid: c_int, signal: c_int) -> c_int;
    fn statfs(path: *const c_char, buf: *mut c_void) -> c_int;
    fn pause() -> c_int;
}

// x86_64 syscall numbers.
const SYS_PTRACE: c_long = 101;
const SYS_SYSLOG: c_long = 103;
const SYS_SETTIMEOFDAY: c_long = 164;
const SYS_SWAPON: c_long = 167;
const SYS_SWAPOFF: c_long = 168;
const SYS_IOPL: c_long = 172;
const SYS_IOPERM: c_long = 173;
const SYS_INIT_MODULE: c_long = 175;
const SYS_DELETE_MODULE: c_long = 176;
const SYS_CLOCK_SETTIME: c_long = 227;
const SYS_KEXEC_LOAD: c_long = 246;
const SYS_ADD_KEY: c_long = 248;
const SYS_REQUEST_KEY: c_long = 249;
const SYS_KEYCTL: c_long = 250;
const SYS_OPEN_BY_HANDLE_AT: c_long = 304;
const SYS_PROCESS_VM_READV: c_long = 310;
const SYS_FINIT_MODULE: c_long = 313;
const SYS_KEXEC_FILE_LOAD: c_long = 320;
const SYS_BPF: c_long = 321;
const SYS_PIDFD_OPEN: c_long = 434;

const MS_REMOUNT: c_ulong = 32;
const MS_BIND: c_ulong = 4096;
const MNT_FORCE: c_int = 1;
const MNT_DETACH: c_int = 2;
const S_IFCHR: u32 = 0o020000;
const S_IFBLK: u32 = 0o060000;
const AF_ALG: c_int = 38;
const SOCK_SEQPACKET: c_int = 5;

type Outcome = Result<String, (i32, &'static str)>;

fn errno() -> i32 {
    // SAFETY: glibc's thread-local errno.
    unsafe { *__errno_location() }
}

fn c(text: &str) -> CString {
    CString::new(text).expect("no NUL in arguments")
}

/// A raw call's result: its value, or the errno at `step`.
fn check(rc: c_long, step: &'static str) -> Result<c_long, (i32, &'static str)> {
    if rc < 0 { Err((errno(), step)) } else { Ok(rc) }
}

fn io(e: std::io::Error, step: &'static str) -> (i32, &'static str) {
    (e.raw_os_error().unwrap_or(-1), step)
}

fn dev(major: u64, minor: u64) -> u64 {
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32)
}

fn number(text: &str) -> u64 {
    text.parse().expect("a number")
}

/// Write `data` to `path`, or its own content back when `data` is `-` (an attempt that
/// succeeds then changes nothing).
fn write_file(path: &str, data: &str) -> Outcome {
    use std::io::Write;
    let content = if data == "-" {
        std::fs::read(path).map_err(|e| io(e, "read"))?
    } else {
        data.as_bytes().to_vec()
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| io(e, "open"))?;
    file.write_all(&content).map_err(|e| io(e, "write"))?;
    Ok(String::new())
}

/// The bytes one read gives, and what was opened: `null` when it is the null device (how a
/// masked file looks), else `file`. An empty read alone cannot tell a mask from a file the
/// kernel shows empty to this reader.
fn read_file(path: &str) -> Outcome {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut file = std::fs::File::open(path).map_err(|e| io(e, "open"))?;
    let meta = file.metadata().map_err(|e| io(e, "fstat"))?;
    let kind = if meta.file_type().is_char_device() && meta.rdev() == dev(1, 3) {
        "null"
    } else {
        "file"
    };
    let mut buf = vec![0u8; 65536];
    let n = file.read(&mut buf).map_err(|e| io(e, "read"))?;
    Ok(format!("{n} {kind}"))
}

/// The entries of a directory and the file system it is on: an empty sysfs directory and
/// an empty mask look alike but for that.
fn list_dir(path: &str) -> Outcome {
    let entries = std::fs::read_dir(path).map_err(|e| io(e, "opendir"))?;
    Ok(format!("{} {}", entries.count(), fs_type(path)?))
}

fn fs_type(path: &str) -> Result<String, (i32, &'static str)> {
    let mut buf = [0u64; 15];
    // SAFETY: statfs fills a struct statfs (120 bytes on x86_64) in `buf`.
    check(unsafe { statfs(c(path).as_ptr(), buf.as_mut_ptr().cast()) } as c_long, "statfs")?;
    Ok(match buf[0] {
        0x0102_1994 => "tmpfs".into(),
        0x6265_6572 => "sysfs".into(),
        0x7363_6673 => "securityfs".into(),
        0x6462_6720 => "debugfs".into(),
        0x9fa0 => "proc".into(),
        other => format!("{other:#x}"),
    })
}

/// Whether the mount at `path` (the last one there, as it is the visible one) is
/// read-only: `ro`, `rw`, or `none` when nothing is mounted there.
fn mount_state(path: &str) -> Outcome {
    let text = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| io(e, "read"))?;
    let state = text
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            (fields.get(4) == Some(&path)).then(|| fields[5].split(',').next().unwrap_or("").to_string())
        })
        .last()
        .unwrap_or_else(|| "none".into());
    Ok(state)
}

fn make_node(path: &str, kind: &str, major: &str, minor: &str) -> Result<(), (i32, &'static str)> {
    let _ = std::fs::remove_file(path);
    let mode = if kind == "b" { S_IFBLK } else { S_IFCHR } | 0o600;
    // SAFETY: mknod with a valid C string.
    let rc = unsafe { mknod(c(path).as_ptr(), mode, dev(number(major), number(minor))) };
    check(rc as c_long, "mknod").map(|_| ())
}

fn do_mount(source: &str, target: &str, fstype: &str, flags: c_ulong) -> Result<(), (i32, &'static str)> {
    let _ = std::fs::create_dir_all(target);
    let fstype = (fstype != "-").then(|| c(fstype));
    // SAFETY: mount with valid C strings or null.
    let rc = unsafe {
        mount(
            c(source).as_ptr(),
            c(target).as_ptr(),
            fstype.as_ref().map_or(std::ptr::null(), |f| f.as_ptr()),
            flags,
            std::ptr::null(),
        )
    };
    check(rc as c_long, "mount").map(|_| ())
}

fn attempt(name: &str, args: &[&str]) -> Outcome {
    let arg = |i: usize| *args.get(i).unwrap_or_else(|| panic!("{name}: argument {i} missing"));
    // SAFETY (all raw calls below): the kernel validates every argument; pointers are to
    // live buffers or null.
    unsafe {
        match name {
            "read" => read_file(arg(0)),
            "write" => write_file(arg(0), arg(1)),
            "list" => list_dir(arg(0)),
            "exists" => Ok(std::path::Path::new(arg(0)).exists().to_string()),
            "major" => {
                use std::os::unix::fs::MetadataExt;
                let meta = std::fs::metadata(arg(0)).map_err(|e| io(e, "stat"))?;
                Ok(((meta.rdev() >> 8) & 0xfff).to_string())
            }
            // Whether a descriptor lives on the same file system as a path (a pty on the
            // container's own devpts).
            "same_fs" => {
                use std::os::unix::fs::MetadataExt;
                let fd = std::fs::metadata(format!("/proc/self/fd/{}", arg(0))).map_err(|e| io(e, "stat fd"))?;
                let path = std::fs::metadata(arg(1)).map_err(|e| io(e, "stat"))?;
                Ok((fd.dev() == path.dev()).to_string())
            }
            "owner" => {
                use std::os::unix::fs::MetadataExt;
                let meta = std::fs::symlink_metadata(arg(0)).map_err(|e| io(e, "stat"))?;
                Ok(format!("{}:{}", meta.uid(), meta.gid()))
            }
            "init_module" => {
                let image = [0u8; 64];
                check(syscall(SYS_INIT_MODULE, image.as_ptr(), image.len(), c"".as_ptr()), "init_module").map(|_| String::new())
            }
            "finit_module" => {
                let file = std::fs::File::open("/proc/self/exe").map_err(|e| io(e, "open"))?;
                use std::os::fd::AsRawFd;
                check(syscall(SYS_FINIT_MODULE, file.as_raw_fd(), c"".as_ptr(), 0), "finit_module").map(|_| String::new())
            }
            "delete_module" => check(syscall(SYS_DELETE_MODULE, c"loop".as_ptr(), 0x800), "delete_module").map(|_| String::new()),
            "kexec_load" => check(syscall(SYS_KEXEC_LOAD, 0x100000u64, 0u64, std::ptr::null::<c_void>(), 0u64), "kexec_load").map(|_| String::new()),
            "kexec_file_load" => {
                let file = std::fs::File::open("/proc/self/exe").map_err(|e| io(e, "open"))?;
                use std::os::fd::AsRawFd;
                check(syscall(SYS_KEXEC_FILE_LOAD, file.as_raw_fd(), -1i32, 1u64, c"".as_ptr(), 0u64), "kexec_file_load").map(|_| String::new())
            }
            "open_by_handle_at" => {
                // A file handle of the root inode (ext4/tmpfs style, type 1).
                let mut handle = [0u8; 8 + 8];
                handle[0] = 8;
                handle[4] = 1;
                handle[8] = 2;
                let root = std::fs::File::open("/").map_err(|e| io(e, "open"))?;
                use std::os::fd::AsRawFd;
                check(syscall(SYS_OPEN_BY_HANDLE_AT, root.as_raw_fd(), handle.as_ptr(), 0), "open_by_handle_at").map(|_| String::new())
            }
            // KEYCTL_GET_KEYRING_ID of the user keyring (-4), creating none.
            "keyctl" => check(syscall(SYS_KEYCTL, 0, -4i32, 0), "keyctl").map(|id| id.to_string()),
            "add_key" => check(syscall(SYS_ADD_KEY, c"user".as_ptr(), c"corral-escape".as_ptr(), c"x".as_ptr(), 1usize, -4i32), "add_key").map(|_| String::new()),
            "request_key" => check(syscall(SYS_REQUEST_KEY, c"user".as_ptr(), c"corral-escape".as_ptr(), std::ptr::null::<c_char>(), 0), "request_key").map(|_| String::new()),
            "af_alg" => check(socket(AF_ALG, SOCK_SEQPACKET, 0) as c_long, "socket").map(|_| String::new()),
            // BPF_PROG_LOAD with an empty program: EINVAL if allowed at all.
            "bpf" => {
                let attr = [0u8; 128];
                check(syscall(SYS_BPF, 5, attr.as_ptr(), attr.len()), "bpf").map(|_| String::new())
            }
            // SYSLOG_ACTION_SIZE_BUFFER (10): privileged on the host's log.
            "syslog" => check(syscall(SYS_SYSLOG, 10, std::ptr::null::<c_char>(), 0), "syslog").map(|n| n.to_string()),
            "swapoff" => check(syscall(SYS_SWAPOFF, c"/nonexistent-swap".as_ptr()), "swapoff").map(|_| String::new()),
            "swapon" => check(syscall(SYS_SWAPON, c"/nonexistent-swap".as_ptr(), 0), "swapon").map(|_| String::new()),
            "iopl" => check(syscall(SYS_IOPL, 3), "iopl").map(|_| String::new()),
            "ioperm" => check(syscall(SYS_IOPERM, 0x70u64, 2u64, 1), "ioperm").map(|_| String::new()),
            // The current time, set again: harmless when it succeeds, which it must not.
            "settimeofday" => {
                let mut now = [0i64; 2];
                check(syscall(96, now.as_mut_ptr(), std::ptr::null::<c_void>()), "gettimeofday")?;
                check(syscall(SYS_SETTIMEOFDAY, now.as_ptr(), std::ptr::null::<c_void>()), "settimeofday").map(|_| String::new())
            }
            "clock_settime" => {
                let mut now = [0i64; 2];
                check(syscall(228, 0, now.as_mut_ptr()), "clock_gettime")?;
                check(syscall(SYS_CLOCK_SETTIME, 0, now.as_ptr()), "clock_settime").map(|_| String::new())
            }
            // PTRACE_ATTACH.
            "ptrace" => check(syscall(SYS_PTRACE, 16, number(arg(0)) as c_long, 0, 0), "ptrace").map(|_| String::new()),
            "kill" => check(kill(number(arg(0)) as c_int, 0) as c_long, "kill").map(|_| String::new()),
            "pidfd_open" => check(syscall(SYS_PIDFD_OPEN, number(arg(0)) as c_long, 0), "pidfd_open").map(|_| String::new()),
            "process_vm_readv" => {
                let mut buf = [0u8; 8];
                let local = [buf.as_mut_ptr() as usize, buf.len()];
                let remote = [0x400000usize, 8];
                check(syscall(SYS_PROCESS_VM_READV, number(arg(0)) as c_long, local.as_ptr(), 1, remote.as_ptr(), 1, 0), "process_vm_readv").map(|_| String::new())
            }
            "umount_force" => check(umount2(c(arg(0)).as_ptr(), MNT_FORCE) as c_long, "umount2").map(|_| String::new()),
            "mknod" => make_node(arg(0), arg(1), arg(2), arg(3)).map(|_| String::new()),
            "mknod_open" => {
                make_node(arg(0), arg(1), arg(2), arg(3))?;
                std::fs::File::open(arg(0)).map_err(|e| io(e, "open"))?;
                Ok(String::new())
            }
            "mknod_mount" => {
                make_node(arg(0), "b", arg(1), arg(2))?;
                // Read-write, as an attacker would want it.
                do_mount(arg(0), "/tmp/escape-disk", arg(3), 0)?;
                Ok(String::new())
            }
            "mount" => {
                do_mount(arg(0), arg(1), arg(2), 0)?;
                Ok(String::new())
            }
            // Mount a file system, then list it.
            "mount_list" => {
                do_mount(arg(0), arg(1), arg(0), 0)?;
                list_dir(arg(1))
            }
            // Mount a file system, then open one of its files for writing (writing nothing).
            "mount_open" => {
                do_mount(arg(0), arg(1), arg(0), 0)?;
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(format!("{}/{}", arg(1), arg(2)))
                    .map_err(|e| io(e, "open"))?;
                Ok(String::new())
            }
            "mountinfo" => mount_state(arg(0)),
            // Make a read-only mount writable, then write through it.
            "remount_write" => {
                do_mount("none", arg(0), "-", MS_REMOUNT | MS_BIND)?;
                write_file(arg(1), "-")
            }
            "umount_write" => {
                check(umount2(c(arg(0)).as_ptr(), MNT_DETACH) as c_long, "umount2")?;
                write_file(arg(1), args.get(2).copied().unwrap_or("-"))
            }
            "umount_read" => {
                check(umount2(c(arg(0)).as_ptr(), MNT_DETACH) as c_long, "umount2")?;
                read_file(arg(1))
            }
            // A new proc or sysfs instance elsewhere, then a write through it.
            "newmount_write" => {
                do_mount(arg(1), arg(0), arg(1), 0)?;
                write_file(&format!("{}/{}", arg(0), arg(2)), "-")
            }
            // A bind of the bare proc or sys mount elsewhere, shedding what covers it.
            "bind_write" => {
                do_mount(arg(0), arg(1), "-", MS_BIND)?;
                write_file(&format!("{}/{}", arg(1), arg(2)), "-")
            }
            "chroot_escape" => {
                std::fs::create_dir_all("/tmp/escape-jail").map_err(|e| io(e, "mkdir"))?;
                check(chroot(c"/tmp/escape-jail".as_ptr()) as c_long, "chroot")?;
                for _ in 0..64 {
                    let _ = std::env::set_current_dir("..");
                }
                check(chroot(c".".as_ptr()) as c_long, "chroot .")?;
                Ok(std::path::Path::new(arg(0)).exists().to_string())
            }
            // Move into the root of the cgroup tree at DIR as this process sees it, report
            // where it thinks it is, and leave a child there that sleeps: the host looks at
            // where that child really is (its command line carries the TOKEN argument).
            // A view from inside cannot tell a namespace's root from the host's.
            "cgroup_climb" => {
                let _token = arg(1);
                write_file(&format!("{}/cgroup.procs", arg(0)), &std::process::id().to_string())?;
                let own = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| io(e, "read"))?;
                if syscall(57) == 0 {
                    // The holder: no descriptor of the caller's stays open, so nobody waits
                    // for it; it goes when killed, or with the container.
                    for fd in 0..1024 {
                        syscall(3, fd);
                    }
                    loop {
                        pause();
                    }
                }
                // The unified hierarchy's line (a hybrid host lists its v1 ones too).
                Ok(own.lines().find(|l| l.starts_with("0::")).unwrap_or("none").to_string())
            }
            "apparmor_unconfine" => write_file("/proc/self/attr/apparmor/current", "changeprofile unconfined"),
            "apparmor_label" => {
                let label = std::fs::read_to_string("/proc/self/attr/apparmor/current").map_err(|e| io(e, "read"))?;
                Ok(label.trim().to_string())
            }
            other => panic!("unknown attempt '{other}'"),
        }
    }
}

fn main() {
    use std::io::Write;
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // `--out FILE`: the lines go to FILE (when the probe runs as a container's init).
    let mut out: Box<dyn std::io::Write> = Box::new(std::io::stdout());
    if args.first().is_some_and(|a| a == "--out") && args.len() > 1 {
        out = Box::new(std::fs::File::create(&args[1]).expect("create the output file"));
        args.drain(..2);
    }
    if args.is_empty() {
        eprintln!("usage: probe ATTEMPT [ARG...] [:: ATTEMPT [ARG...]]...");
        std::process::exit(2);
    }
    for group in args.split(|a| a == "::") {
        let Some((name, rest)) = group.split_first() else {
            continue;
        };
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        // Each attempt in a child of its own: a chroot or an unmount must not change what
        // the next attempt starts from.
        let line = run_isolated(name, &rest);
        writeln!(out, "{name}: {line}").expect("write a result");
    }
}

fn run_isolated(name: &str, args: &[&str]) -> String {
    use std::io::Read;
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    // SAFETY: fork in a single-threaded program; the child writes one line and exits.
    let pid = unsafe { syscall(57) };
    if pid == 0 {
        drop(reader);
        // A private mount namespace, where this process may have one: unmounts stay here.
        let _ = unsafe { syscall(272, 0x0002_0000) };
        let line = match attempt(name, args) {
            Ok(detail) if detail.is_empty() => "ok".to_string(),
            Ok(detail) => format!("ok {detail}"),
            Err((errno, step)) => format!("errno {errno} {step}"),
        };
        use std::io::Write;
        let mut writer = writer;
        let _ = writer.write_all(line.as_bytes());
        std::process::exit(0);
    }
    drop(writer);
    let mut line = String::new();
    let _ = reader.read_to_string(&mut line);
    let mut status = 0;
    unsafe { syscall(61, pid, &mut status as *mut c_int, 0, 0) };
    if line.is_empty() { format!("died (status {status:#x})") } else { line }
}
