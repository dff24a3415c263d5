//! Device control for privileged containers: a BPF_PROG_TYPE_CGROUP_DEVICE program, built
//! here instruction by instruction and loaded with the raw bpf(2) syscall (no libbpf), that
//! allows LXC's default devices plus `devN` and `lxc.cgroup2.devices.allow` entries and denies
//! everything else. It is attached to the container's limiting cgroup, which the container
//! cannot reach from inside its cgroup namespace. Unprivileged containers rely on their user
//! namespace instead: nodes they could make are useless to them.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// A `lxc.cgroup2.devices.*` value that is no rule: wrong type letter, numbers or access.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid device rule '{rule}'")]
pub struct DeviceRuleError {
    /// The value given.
    pub rule: String,
}

/// One allow or deny entry, in LXC's `lxc.cgroup2.devices.*` terms: `c 1:3 rwm`, `b *:* m`,
/// `a`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRule {
    /// An allow rule (`lxc.cgroup2.devices.allow`), else a deny rule.
    pub allow: bool,
    /// `b` or `c`; `None` for `a` (any).
    pub kind: Option<char>,
    /// `None` for `*`.
    pub major: Option<u32>,
    /// `None` for `*`.
    pub minor: Option<u32>,
    /// BPF_DEVCG_ACC_* bits: mknod 1, read 2, write 4.
    pub access: u8,
}

const ACCESS_MKNOD: u8 = 1;
const ACCESS_READ: u8 = 2;
const ACCESS_WRITE: u8 = 4;
const ACCESS_ALL: u8 = ACCESS_MKNOD | ACCESS_READ | ACCESS_WRITE;

impl DeviceRule {
    /// Parse `TYPE MAJOR:MINOR ACCESS` (or `a`), as LXC's devices keys take it.
    pub fn parse(text: &str, allow: bool) -> Result<DeviceRule, DeviceRuleError> {
        let bad = || DeviceRuleError {
            rule: text.to_string(),
        };
        let mut fields = text.split_whitespace();
        let kind = match fields.next().ok_or_else(bad)? {
            "a" => None,
            "b" => Some('b'),
            "c" => Some('c'),
            _ => return Err(bad()),
        };
        let (major, minor) = match fields.next() {
            None => (None, None),
            Some(numbers) => {
                let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
                let number = |n: &str| -> Result<Option<u32>, DeviceRuleError> {
                    if n == "*" {
                        Ok(None)
                    } else {
                        n.parse().map(Some).map_err(|_| bad())
                    }
                };
                (number(major)?, number(minor)?)
            }
        };
        let access = match fields.next() {
            None => ACCESS_ALL,
            Some(letters) => letters.chars().try_fold(0u8, |bits, letter| {
                Ok(bits
                    | match letter {
                        'm' => ACCESS_MKNOD,
                        'r' => ACCESS_READ,
                        'w' => ACCESS_WRITE,
                        _ => return Err(bad()),
                    })
            })?,
        };
        if fields.next().is_some() || access == 0 {
            return Err(bad());
        }
        Ok(DeviceRule {
            allow,
            kind,
            major,
            minor,
            access,
        })
    }

    /// Full access to one node.
    pub fn node(kind: char, major: u32, minor: u32) -> DeviceRule {
        DeviceRule {
            allow: true,
            kind: Some(kind),
            major: Some(major),
            minor: Some(minor),
            access: ACCESS_ALL,
        }
    }

    /// Whether this rule is a blanket `a` (deny-all resets, allow-all opens everything).
    pub fn is_everything(&self) -> bool {
        self.kind.is_none() && self.major.is_none() && self.minor.is_none()
    }
}

/// LXC's default list (common.conf): mknod of anything, and null, zero, full, random,
/// urandom, tty, console, ptmx, the pts devices and fuse.
pub fn default_rules() -> Vec<DeviceRule> {
    let mut rules = vec![
        DeviceRule::parse("c *:* m", true).expect("valid"),
        DeviceRule::parse("b *:* m", true).expect("valid"),
    ];
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
    ] {
        rules.push(DeviceRule::node('c', major, minor));
    }
    rules.push(DeviceRule::parse("c 136:* rwm", true).expect("valid"));
    rules
}

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

// Opcodes (linux/bpf.h, linux/bpf_common.h).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JMP_JSET_K: u8 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// The program: load the type (r2), access (r3), major (r4) and minor (r5) from
/// `struct bpf_cgroup_dev_ctx`, then try the rules in order; the first that matches decides,
/// and nothing matching means deny.
pub fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut code = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for rule in rules {
        // Each check jumps past the rest of its rule when it does not match.
        let mut checks: Vec<(u8, u8, i32)> = Vec::new();
        if let Some(kind) = rule.kind {
            checks.push((JMP_JNE_K, 2, if kind == 'b' { 1 } else { 2 }));
        }
        if rule.access != ACCESS_ALL {
            checks.push((JMP_JSET_K, 3, i32::from(!rule.access & ACCESS_ALL)));
        }
        if let Some(major) = rule.major {
            checks.push((JMP_JNE_K, 4, major as i32));
        }
        if let Some(minor) = rule.minor {
            checks.push((JMP_JNE_K, 5, minor as i32));
        }
        let count = checks.len();
        for (index, (op, register, imm)) in checks.into_iter().enumerate() {
            let skip = (count - index - 1) + 2;
            code.push(insn(op, register, 0, skip as i16, imm));
        }
        code.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(rule.allow)));
        code.push(insn(JMP_EXIT, 0, 0, 0, 0));
        if count == 0 {
            // It matches everything: what follows could never run, and the verifier refuses
            // unreachable instructions.
            return code;
        }
    }
    code.push(insn(ALU64_MOV_K, 0, 0, 0, 0));
    code.push(insn(JMP_EXIT, 0, 0, 0, 0));
    code
}

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The part of `union bpf_attr` BPF_PROG_LOAD reads; the rest stays zero.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    padding: [u64; 12],
}

#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    padding: [u32; 27],
}

fn bpf<T>(command: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a zero-padded, correctly laid out bpf_attr prefix of the size given.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command,
            attr as *mut T,
            std::mem::size_of::<T>(),
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Load the program for `rules`. Loading runs without the verifier's log, which costs more
/// than the verification itself; a refused program is loaded again with it, so the error
/// says why.
pub fn load(rules: &[DeviceRule]) -> io::Result<OwnedFd> {
    let code = program(rules);
    load_code(&code, false).or_else(|_| load_code(&code, true))
}

fn load_code(code: &[Insn], with_log: bool) -> io::Result<OwnedFd> {
    let mut log = vec![0u8; if with_log { 64 * 1024 } else { 0 }];
    let mut name = [0u8; 16];
    name[..13].copy_from_slice(b"corral_device");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: code.len() as u32,
        insns: code.as_ptr() as u64,
        license: c"GPL".as_ptr() as u64,
        log_level: u32::from(with_log),
        log_size: log.len() as u32,
        log_buf: if with_log { log.as_mut_ptr() as u64 } else { 0 },
        prog_name: name,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        // SAFETY: BPF_PROG_LOAD returns a new descriptor.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(0);
            let verifier = String::from_utf8_lossy(&log[..end]);
            Err(io::Error::new(
                e.kind(),
                format!("unable to load the device filter: {e} {}", verifier.trim()),
            ))
        }
    }
}

/// Load and attach the program to the cgroup at `cgroup` (a v2 directory). Descendants may
/// add their own filters (BPF_F_ALLOW_MULTI), which can only deny more.
pub fn restrict(cgroup: &Path, rules: &[DeviceRule]) -> io::Result<()> {
    let program = load(rules)?;
    let dir = std::fs::File::open(cgroup)?;
    let mut attr = ProgAttachAttr {
        target_fd: dir.as_raw_fd() as u32,
        attach_bpf_fd: program.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "unable to attach the device filter to '{}': {e}",
                cgroup.display()
            ),
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests;
