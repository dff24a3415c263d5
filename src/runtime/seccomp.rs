//! Seccomp for containers: policies in LXC's text format, compiled with libseccomp for every
//! architecture the container can run (i386 and x32 besides x86_64 on amd64), and cached as
//! BPF so a start or an attach costs one file read.
//!
//! The format, as LXC reads it (version 2):
//!
//! ```text
//! 2
//! denylist [default rule action]      # or allowlist [default policy action]
//! reject_force_umount                 # umount2(…, MNT_FORCE) fails with EACCES
//! [all]                               # or [x86_64], [i386], [x32], [arm64], …
//! syscall [action] [[arg,value,op(,mask)]]…
//! ```
//!
//! Actions are `kill`, `errno N`, `allow`, `trap`, `log` and `notify` (answered by the
//! monitor, which holds the filter's listener). Version 1 files are a plain
//! allowlist of syscall numbers.

use std::io::{Read, Seek, Write};
use std::path::Path;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};

/// A policy that does not parse. `Display` is the message a start shows (after
/// `seccomp profile <source>: `).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// No line but comments.
    #[error("empty seccomp policy")]
    Empty,
    /// A first line other than `1` or `2`.
    #[error("unsupported seccomp policy version '{version}'")]
    UnsupportedVersion {
        /// The first line.
        version: String,
    },
    /// A version 1 policy that ends after its version line.
    #[error("version 1 policy without its list type")]
    V1WithoutListType,
    /// A version 2 policy that ends after its version line.
    #[error("seccomp policy without its list type")]
    WithoutListType,
    /// A line that does not parse.
    #[error("line {line}: {source}")]
    Line {
        /// The line's number, from 1.
        line: usize,
        /// What is wrong with it.
        source: PolicyLineError,
    },
}

/// What is wrong with one line of a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyLineError {
    /// A version 1 list type other than `allowlist`/`whitelist`.
    #[error("version 1 policies must be an allowlist, not '{list}'")]
    V1NotAllowlist {
        /// The list type given.
        list: String,
    },
    /// A version 1 line that is not a syscall number.
    #[error("'{text}' is not a syscall number")]
    NotSyscallNumber {
        /// The line.
        text: String,
    },
    /// A version 2 list type other than denylist/allowlist (or their old names).
    #[error("expected denylist or allowlist, not '{list}'")]
    UnknownListType {
        /// The list type given.
        list: String,
    },
    /// `errno` without a number below 4096.
    #[error("errno needs a number below 4096")]
    BadErrno,
    /// An action word LXC does not know.
    #[error("unknown action '{action}'")]
    UnknownAction {
        /// The word.
        action: String,
    },
    /// An argument condition that is not `[index,value,op]` or `[index,value,op,mask]`.
    #[error("malformed argument condition '{condition}'")]
    MalformedCondition {
        /// The condition.
        condition: String,
    },
    /// An argument index outside 0 to 5.
    #[error("argument index in '{condition}' must be 0 to 5")]
    ArgumentIndex {
        /// The condition.
        condition: String,
    },
    /// A condition's value that is not a number.
    #[error("bad value in argument condition '{condition}'")]
    ConditionValue {
        /// The condition.
        condition: String,
    },
    /// A condition's mask that is not a number.
    #[error("bad mask in argument condition '{condition}'")]
    ConditionMask {
        /// The condition.
        condition: String,
    },
    /// `SCMP_CMP_MASKED_EQ` without its mask.
    #[error("SCMP_CMP_MASKED_EQ needs a mask")]
    MaskMissing,
    /// A comparison operator libseccomp does not have.
    #[error("unknown comparison '{op}'")]
    UnknownComparison {
        /// The operator given.
        op: String,
    },
    /// A `[section]` naming no architecture LXC knows.
    #[error("unknown architecture section '[{section}]'")]
    UnknownArchitecture {
        /// The section's name, lower case.
        section: String,
    },
    /// A rule whose first word is not a syscall name.
    #[error("'{name}' is not a syscall name")]
    NotSyscallName {
        /// The word.
        name: String,
    },
}

/// A parsed policy that cannot be compiled into a BPF program.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// A libseccomp call on the filter context failed.
    #[error("{call}: {source}")]
    Libseccomp {
        /// The libseccomp call (`seccomp_init`, `seccomp_merge`, ...).
        call: &'static str,
        /// libseccomp's error.
        source: libseccomp::error::SeccompError,
    },
    /// libseccomp refused a rule.
    #[error("line {line}: {source}")]
    Rule {
        /// The rule's line in the policy.
        line: usize,
        /// libseccomp's error.
        source: libseccomp::error::SeccompError,
    },
    /// This host has no architecture to compile for.
    #[error("no architecture to compile for")]
    NoArchitecture,
    /// The memory file the program is exported to could not be made.
    #[error("memfd_create: {0}")]
    Memfd(#[source] std::io::Error),
    /// The exported program could not be read back.
    #[error("read the exported filter: {0}")]
    ReadExport(#[source] std::io::Error),
    /// Bytes (exported or cached) that are no BPF program.
    #[error("a filter of {len} bytes is not a BPF program")]
    NotBpf {
        /// Their length.
        len: usize,
    },
}

/// Why there is no filter for a policy: it does not parse or does not compile.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// The policy does not parse.
    #[error("{0}")]
    Policy(#[from] PolicyError),
    /// The policy does not compile.
    #[error("{0}")]
    Compile(#[from] CompileError),
}

/// What the default policy depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyOptions {
    pub unprivileged: bool,
    /// `features: keyctl=1`.
    pub keyctl: bool,
    /// `features: nesting=1`: a nested runtime may need bpf for its device cgroups.
    pub nesting: bool,
    /// `features: mknod=1`: device-node creation goes to the monitor (seccomp notify).
    pub mknod: bool,
}

/// LXC's default policy plus pct's rules for unprivileged containers, plus corral's for
/// privileged ones, whose root is the host's root wherever no namespace stands between.
pub fn container_policy(options: PolicyOptions) -> String {
    let mut text = String::from(
        "2\ndenylist\nreject_force_umount  # comment this to allow umount -f;  not recommended\n[all]\nkexec_load errno 1\nopen_by_handle_at errno 1\ninit_module errno 1\nfinit_module errno 1\ndelete_module errno 1\n",
    );
    // LXC's list predates kexec_file_load; CAP_SYS_BOOT of a privileged root would let it
    // stage a kernel.
    text.push_str("kexec_file_load errno 1\n");
    if options.unprivileged {
        // btrfs ioctls (type 0x94), as pct denies them; a user namespace confines the rest.
        text.push_str("ioctl errno 1 [1,0x9400,SCMP_CMP_MASKED_EQ,0xff00]\n");
    } else {
        // A privileged root holds these capabilities over the whole machine: the host's
        // kernel log (read and clear), its swap, and BPF programs that read kernel memory.
        text.push_str("syslog errno 1\nswapon errno 1\nswapoff errno 1\n");
        if !options.nesting {
            text.push_str("bpf errno 1\n");
        }
    }
    // keyctl fails as absent (systemd then falls back from kernel keyrings), as pct does it
    // for unprivileged containers; a privileged container's root would otherwise share the
    // host root's user keyring.
    if !options.keyctl {
        text.push_str("keyctl errno 38\nadd_key errno 38\nrequest_key errno 38\n");
    }
    // AF_ALG sockets: the kernel's crypto API, a long line of bugs reachable by anyone.
    text.push_str("socket errno 97 [0,38,SCMP_CMP_EQ]\n");
    if options.mknod {
        // Character and block nodes are made by the monitor when they are on its list.
        text.push_str("mknod notify [1,0x2000,SCMP_CMP_MASKED_EQ,0xf000]\n");
        text.push_str("mknod notify [1,0x6000,SCMP_CMP_MASKED_EQ,0xf000]\n");
        text.push_str("mknodat notify [2,0x2000,SCMP_CMP_MASKED_EQ,0xf000]\n");
        text.push_str("mknodat notify [2,0x6000,SCMP_CMP_MASKED_EQ,0xf000]\n");
    }
    text
}

/// What a rule (or the policy's default) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Kill,
    Errno(u16),
    Allow,
    Trap,
    Log,
    /// Ask the supervisor listening on the filter's notification descriptor (the monitor).
    Notify,
}

impl Action {
    fn to_scmp(self) -> ScmpAction {
        match self {
            Action::Kill => ScmpAction::KillThread,
            Action::Errno(n) => ScmpAction::Errno(i32::from(n)),
            Action::Allow => ScmpAction::Allow,
            Action::Trap => ScmpAction::Trap,
            Action::Log => ScmpAction::Log,
            Action::Notify => ScmpAction::Notify,
        }
    }
}

/// Which architectures a rule is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchScope {
    All,
    Only(ScmpArch),
    /// A section for an architecture this host's containers cannot run: its rules are read
    /// and ignored, as LXC does.
    Foreign,
}

/// One condition on a syscall argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgCondition {
    pub index: u32,
    pub op: ScmpCompareOp,
    pub value: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub scope: ArchScope,
    pub syscall: SyscallRef,
    pub action: Action,
    pub args: Vec<ArgCondition>,
    pub line: usize,
}

/// A syscall by name (version 2) or by native number (version 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyscallRef {
    Name(String),
    Number(i32),
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub default_action: Action,
    pub rules: Vec<Rule>,
}

fn parse_number(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if text.len() > 1 && text.starts_with('0') {
        u64::from_str_radix(&text[1..], 8).ok()
    } else {
        text.parse().ok()
    }
}

/// An action at the start of `words`, and how many words it took.
fn parse_action(words: &[&str]) -> Result<Option<(Action, usize)>, PolicyLineError> {
    let Some(first) = words.first() else {
        return Ok(None);
    };
    Ok(Some(match *first {
        "kill" => (Action::Kill, 1),
        "allow" => (Action::Allow, 1),
        "trap" => (Action::Trap, 1),
        "log" => (Action::Log, 1),
        "errno" => {
            let value = words
                .get(1)
                .and_then(|w| parse_number(w))
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n < 4096)
                .ok_or(PolicyLineError::BadErrno)?;
            (Action::Errno(value), 2)
        }
        "notify" => (Action::Notify, 1),
        word if word.starts_with('[') => return Ok(None),
        word => {
            return Err(PolicyLineError::UnknownAction {
                action: word.to_string(),
            });
        }
    }))
}

fn parse_op(text: &str, mask: Option<u64>) -> Result<ScmpCompareOp, PolicyLineError> {
    Ok(match text {
        "SCMP_CMP_NE" | "!=" => ScmpCompareOp::NotEqual,
        "SCMP_CMP_LT" | "<" => ScmpCompareOp::Less,
        "SCMP_CMP_LE" | "<=" => ScmpCompareOp::LessOrEqual,
        "SCMP_CMP_EQ" | "==" => ScmpCompareOp::Equal,
        "SCMP_CMP_GE" | ">=" => ScmpCompareOp::GreaterEqual,
        "SCMP_CMP_GT" | ">" => ScmpCompareOp::Greater,
        "SCMP_CMP_MASKED_EQ" | "&=" => {
            ScmpCompareOp::MaskedEqual(mask.ok_or(PolicyLineError::MaskMissing)?)
        }
        other => {
            return Err(PolicyLineError::UnknownComparison {
                op: other.to_string(),
            });
        }
    })
}

/// `[index,value,op]` or `[index,value,op,mask]`.
fn parse_condition(text: &str) -> Result<ArgCondition, PolicyLineError> {
    let condition = || text.to_string();
    let malformed = || PolicyLineError::MalformedCondition {
        condition: condition(),
    };
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(malformed)?;
    let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
    if !(3..=4).contains(&parts.len()) {
        return Err(malformed());
    }
    let index = parse_number(parts[0]).filter(|i| *i < 6).ok_or_else(|| {
        PolicyLineError::ArgumentIndex {
            condition: condition(),
        }
    })?;
    let value = parse_number(parts[1]).ok_or_else(|| PolicyLineError::ConditionValue {
        condition: condition(),
    })?;
    let mask = match parts.get(3) {
        Some(m) => Some(
            parse_number(m).ok_or_else(|| PolicyLineError::ConditionMask {
                condition: condition(),
            })?,
        ),
        None => None,
    };
    Ok(ArgCondition {
        index: index as u32,
        op: parse_op(parts[2], mask)?,
        value,
    })
}

/// The architectures a section header names, relative to this host.
fn section_scope(name: &str) -> Result<ArchScope, PolicyLineError> {
    let name = name.to_ascii_lowercase();
    let arch = match name.as_str() {
        "all" => return Ok(ArchScope::All),
        "x86_64" | "amd64" => ScmpArch::X8664,
        "x86" | "i386" | "i686" => ScmpArch::X86,
        "x32" => ScmpArch::X32,
        "arm64" | "aarch64" => ScmpArch::Aarch64,
        "arm" | "armel" | "armhf" | "armv7l" => ScmpArch::Arm,
        "ppc64le" => ScmpArch::Ppc64Le,
        "ppc64" => ScmpArch::Ppc64,
        "ppc" => ScmpArch::Ppc,
        "s390x" => ScmpArch::S390X,
        "s390" => ScmpArch::S390,
        "riscv64" => ScmpArch::Riscv64,
        "mips" | "mips64" | "mips64n32" | "mipsel" | "mipsel64" | "mipsel64n32" => {
            return Ok(ArchScope::Foreign);
        }
        other => {
            return Err(PolicyLineError::UnknownArchitecture {
                section: other.to_string(),
            });
        }
    };
    Ok(if container_arches().contains(&arch) {
        ArchScope::Only(arch)
    } else {
        ArchScope::Foreign
    })
}

/// Strip a `#` comment that starts a line or follows white space.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

impl Policy {
    /// Parse a policy in LXC's format. Errors name the line.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, strip_comment(l).trim()))
            .filter(|(_, l)| !l.is_empty());
        let (_, version) = lines.next().ok_or(PolicyError::Empty)?;
        match version {
            "1" => Self::parse_v1(lines),
            "2" => Self::parse_v2(lines),
            other => Err(PolicyError::UnsupportedVersion {
                version: other.to_string(),
            }),
        }
    }

    fn parse_v1<'a>(
        mut lines: impl Iterator<Item = (usize, &'a str)>,
    ) -> Result<Policy, PolicyError> {
        match lines.next() {
            Some((_, "whitelist" | "allowlist")) => {}
            Some((line, other)) => {
                return Err(PolicyError::Line {
                    line,
                    source: PolicyLineError::V1NotAllowlist {
                        list: other.to_string(),
                    },
                });
            }
            None => return Err(PolicyError::V1WithoutListType),
        }
        let mut rules = Vec::new();
        for (line, text) in lines {
            let number = text
                .parse::<i32>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| PolicyError::Line {
                    line,
                    source: PolicyLineError::NotSyscallNumber {
                        text: text.to_string(),
                    },
                })?;
            rules.push(Rule {
                scope: ArchScope::Only(ScmpArch::native()),
                syscall: SyscallRef::Number(number),
                action: Action::Allow,
                args: Vec::new(),
                line,
            });
        }
        Ok(Policy {
            default_action: Action::Kill,
            rules,
        })
    }

    fn parse_v2<'a>(
        mut lines: impl Iterator<Item = (usize, &'a str)>,
    ) -> Result<Policy, PolicyError> {
        let (type_line, list_type) = lines.next().ok_or(PolicyError::WithoutListType)?;
        let at_type_line = |source| PolicyError::Line {
            line: type_line,
            source,
        };
        let words: Vec<&str> = list_type.split_whitespace().collect();
        let deny = match words[0] {
            "denylist" | "blacklist" => true,
            "allowlist" | "whitelist" => false,
            other => {
                return Err(at_type_line(PolicyLineError::UnknownListType {
                    list: other.to_string(),
                }));
            }
        };
        let given = parse_action(&words[1..]).map_err(at_type_line)?;
        // For a denylist the action after the keyword is what listed syscalls get by
        // default; for an allowlist it is what every other syscall gets.
        let (default_action, rule_default) = match (deny, given) {
            (true, Some((action, _))) => (Action::Allow, action),
            (true, None) => (Action::Allow, Action::Kill),
            (false, Some((action, _))) => (action, Action::Allow),
            (false, None) => (Action::Kill, Action::Allow),
        };

        let mut scope = ArchScope::All;
        let mut rules = Vec::new();
        for (line, text) in lines {
            let fail = |source| PolicyError::Line { line, source };
            if let Some(section) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']'))
                && !section.contains(',')
            {
                scope = section_scope(section).map_err(fail)?;
                continue;
            }
            if text.starts_with("reject_force_umount") {
                rules.push(Rule {
                    scope: ArchScope::All,
                    syscall: SyscallRef::Name("umount2".into()),
                    action: Action::Errno(libc::EACCES as u16),
                    args: vec![ArgCondition {
                        index: 1,
                        op: ScmpCompareOp::MaskedEqual(libc::MNT_FORCE as u64),
                        value: libc::MNT_FORCE as u64,
                    }],
                    line,
                });
                continue;
            }
            let words: Vec<&str> = text.split_whitespace().collect();
            let name = words[0];
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(fail(PolicyLineError::NotSyscallName {
                    name: name.to_string(),
                }));
            }
            let (action, used) = match parse_action(&words[1..]).map_err(fail)? {
                Some((action, used)) => (action, used),
                None => (rule_default, 0),
            };
            let args = words[1 + used..]
                .iter()
                .map(|w| parse_condition(w))
                .collect::<Result<Vec<_>, _>>()
                .map_err(fail)?;
            rules.push(Rule {
                scope,
                syscall: SyscallRef::Name(name.to_string()),
                action,
                args,
                line,
            });
        }
        Ok(Policy {
            default_action,
            rules,
        })
    }
}

/// The architectures a container on this host may execute: the native one and its
/// compatibility modes.
pub fn container_arches() -> Vec<ScmpArch> {
    if cfg!(target_arch = "x86_64") {
        vec![ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32]
    } else if cfg!(target_arch = "aarch64") {
        vec![ScmpArch::Aarch64, ScmpArch::Arm]
    } else {
        vec![ScmpArch::native()]
    }
}

/// A compiled filter, ready for `seccomp(SECCOMP_SET_MODE_FILTER)`, and what was skipped.
#[derive(Debug, Default)]
pub struct Compiled {
    pub program: Vec<libc::sock_filter>,
    /// Syscalls no architecture knows: LXC skips these with a warning, and so does corral.
    pub skipped: Vec<String>,
}

fn scmp_error(call: &'static str) -> impl Fn(libseccomp::error::SeccompError) -> CompileError {
    move |source| CompileError::Libseccomp { call, source }
}

/// A context for exactly one architecture.
fn single_arch_context(arch: ScmpArch, default: Action) -> Result<ScmpFilterContext, CompileError> {
    let mut ctx = ScmpFilterContext::new(default.to_scmp()).map_err(scmp_error("seccomp_init"))?;
    let native = ScmpArch::native();
    if arch != native {
        ctx.add_arch(arch).map_err(scmp_error("seccomp_arch_add"))?;
        ctx.remove_arch(native)
            .map_err(scmp_error("seccomp_arch_remove"))?;
    }
    // corral installs the exported program itself, as root of the container's user
    // namespace; no_new_privs would break setuid programs inside.
    ctx.set_ctl_nnp(false)
        .map_err(scmp_error("seccomp attribute"))?;
    Ok(ctx)
}

/// Whether a rule of `scope` is compiled into the filter of `arch`.
fn applies(scope: ArchScope, arch: ScmpArch) -> bool {
    match scope {
        ArchScope::All => true,
        ArchScope::Only(only) => only == arch,
        ArchScope::Foreign => false,
    }
}

impl Policy {
    /// The syscalls rules name that no container architecture they apply to knows: LXC skips
    /// these with a warning, and so does corral. Found from libseccomp's tables alone, so
    /// that a start plan can carry the warning without compiling the filter.
    pub fn unknown_syscalls(&self) -> Vec<String> {
        let arches = container_arches();
        let mut unknown = Vec::new();
        for rule in &self.rules {
            // A rule doing what the default does is never compiled (see `compile`).
            if rule.action == self.default_action || rule.scope == ArchScope::Foreign {
                continue;
            }
            let SyscallRef::Name(name) = &rule.syscall else {
                continue;
            };
            let known = arches.iter().any(|&arch| {
                applies(rule.scope, arch) && ScmpSyscall::from_name_by_arch(name, arch).is_ok()
            });
            if !known {
                unknown.push(name.clone());
            }
        }
        unknown
    }

    /// Compile for every container architecture.
    pub fn compile(&self) -> Result<Compiled, CompileError> {
        let arches = container_arches();
        let mut compiled = Compiled::default();
        let mut contexts = Vec::new();
        for &arch in &arches {
            let mut ctx = single_arch_context(arch, self.default_action)?;
            for rule in &self.rules {
                // A rule doing what the default does adds nothing (libseccomp refuses it).
                if !applies(rule.scope, arch) || rule.action == self.default_action {
                    continue;
                }
                let conditions: Vec<ScmpArgCompare> = rule
                    .args
                    .iter()
                    .map(|c| ScmpArgCompare::new(c.index, c.op, c.value))
                    .collect();
                let action = rule.action.to_scmp();
                let added = match &rule.syscall {
                    SyscallRef::Number(n) => ctx
                        .add_rule_conditional_exact(action, ScmpSyscall::from(*n), &conditions)
                        .map(|_| ()),
                    SyscallRef::Name(name) => {
                        if ScmpSyscall::from_name_by_arch(name, arch).is_err() {
                            continue;
                        }
                        // By its native number (or libseccomp's pseudo number for calls the
                        // native arch lacks), which libseccomp translates for the context's
                        // architecture, multiplexed socketcall/ipc included.
                        let syscall = ScmpSyscall::from_name(name)
                            .or_else(|_| ScmpSyscall::from_name_by_arch(name, arch));
                        match syscall {
                            Ok(syscall) => ctx
                                .add_rule_conditional(action, syscall, &conditions)
                                .map(|_| ()),
                            Err(e) => Err(e),
                        }
                    }
                };
                if let Err(e) = added {
                    // EDOM: not a syscall of this architecture after all.
                    if e.errno() != Some(libseccomp::error::SeccompErrno::EDOM) {
                        return Err(CompileError::Rule {
                            line: rule.line,
                            source: e,
                        });
                    }
                }
            }
            contexts.push(ctx);
        }
        compiled.skipped = self.unknown_syscalls();
        let mut contexts = contexts.into_iter();
        let mut merged = contexts.next().ok_or(CompileError::NoArchitecture)?;
        for ctx in contexts {
            merged.merge(ctx).map_err(scmp_error("seccomp_merge"))?;
        }
        compiled.program = export(&merged)?;
        Ok(compiled)
    }
}

fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, CompileError> {
    let memfd = rustix::fs::memfd_create("corral-seccomp", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| CompileError::Memfd(e.into()))?;
    let mut file = std::fs::File::from(memfd);
    ctx.export_bpf(&file)
        .map_err(scmp_error("seccomp_export_bpf"))?;
    let mut bytes = Vec::new();
    file.rewind()
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(CompileError::ReadExport)?;
    program_from_bytes(&bytes)
}

const INSTRUCTION: usize = std::mem::size_of::<libc::sock_filter>();

fn program_from_bytes(bytes: &[u8]) -> Result<Vec<libc::sock_filter>, CompileError> {
    if bytes.is_empty()
        || !bytes.len().is_multiple_of(INSTRUCTION)
        || bytes.len() / INSTRUCTION > 4096
    {
        return Err(CompileError::NotBpf { len: bytes.len() });
    }
    Ok(bytes
        .chunks_exact(INSTRUCTION)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

fn program_to_bytes(program: &[libc::sock_filter]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(program.len() * INSTRUCTION);
    for insn in program {
        bytes.extend_from_slice(&insn.code.to_ne_bytes());
        bytes.push(insn.jt);
        bytes.push(insn.jf);
        bytes.extend_from_slice(&insn.k.to_ne_bytes());
    }
    bytes
}

/// The cache key: the policy text, the architectures and the libseccomp version (a newer
/// libseccomp may know more syscalls).
fn cache_key(policy_text: &str) -> String {
    use sha1::{Digest, Sha1};
    let mut hash = Sha1::new();
    hash.update(b"corral-seccomp-1\0");
    hash.update(format!("{:?}\0", container_arches()).as_bytes());
    if let Ok(v) = libseccomp::ScmpVersion::current() {
        hash.update(format!("{}.{}.{}\0", v.major, v.minor, v.micro).as_bytes());
    }
    hash.update(policy_text.as_bytes());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Where compiled filters are kept, below a host root.
pub fn cache_dir(host_root: &Path) -> std::path::PathBuf {
    host_root.join("var/cache/corral/seccomp")
}

/// The BPF program for a policy: from `cache_dir` when compiled before, else compiled now and
/// stored there (atomically; a cache that cannot be written is not an error).
pub fn cached_filter(
    cache_dir: &Path,
    policy_text: &str,
) -> Result<Vec<libc::sock_filter>, FilterError> {
    let path = cache_dir.join(format!("{}.bpf", cache_key(policy_text)));
    if let Ok(bytes) = std::fs::read(&path)
        && let Ok(program) = program_from_bytes(&bytes)
    {
        return Ok(program);
    }
    // Syscalls it skips were reported with the start plan (`StartPlan::build`).
    let compiled = Policy::parse(policy_text)?.compile()?;
    let _ = store(cache_dir, &path, &program_to_bytes(&compiled.program));
    Ok(compiled.program)
}

fn store(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let temp = path.with_extension(format!("tmp.{}", std::process::id()));
    let written = std::fs::File::create(&temp)
        .and_then(|mut file| file.write_all(bytes))
        .and_then(|_| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// SECCOMP_RET_USER_NOTIF: the filter asks a listener.
const RET_USER_NOTIF: u32 = 0x7fc0_0000;
const RET_ACTION_FULL: u32 = 0xffff_0000;
const FILTER_FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;

/// Whether a program has notify rules, and so needs a listener when installed.
pub fn wants_listener(filter: &[libc::sock_filter]) -> bool {
    filter.iter().any(|insn| {
        insn.code == (libc::BPF_RET | libc::BPF_K) as u16
            && insn.k & RET_ACTION_FULL == RET_USER_NOTIF
    })
}

/// Install a filter in this process. A filter with notify rules comes with its listener,
/// the descriptor its notifications are read from.
pub fn install(filter: &[libc::sock_filter]) -> std::io::Result<Option<std::os::fd::OwnedFd>> {
    use std::os::fd::FromRawFd;
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    let listener = wants_listener(filter);
    let flags = if listener {
        FILTER_FLAG_NEW_LISTENER
    } else {
        0
    };
    // SAFETY: seccomp(2) with a program that outlives the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &program as *const libc::sock_fprog,
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else if listener {
        // SAFETY: the kernel returned a new descriptor for the listener.
        Ok(Some(unsafe {
            std::os::fd::OwnedFd::from_raw_fd(rc as i32)
        }))
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
