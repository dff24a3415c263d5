//! AppArmor for containers, as pct has LXC do it: a profile generated per container from
//! `profiles/container-base` plus what its config asks for (`features: nesting=1`,
//! `mount=...`, `lxc.apparmor.raw`), loaded with `apparmor_parser`, and entered when init
//! (or a `pct enter`/`exec` command) execs. `lxc.apparmor.profile` names another profile, or
//! `unconfined`.
//!
//! Generation is pure ([`generate`]); the kernel side (is AppArmor on, load, unload, the
//! transition) is at the end of the file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::start_error::{StartError, StartStep};

/// The rules every generated profile starts with.
pub const BASE_RULES: &str = include_str!("../../profiles/container-base");

/// What this host's AppArmor can do, read once per start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppArmorHost {
    /// The parser knows AppArmor 4's `mqueue` and `userns` rules.
    pub abi4: bool,
    /// The kernel can stack profiles and has policy namespaces.
    pub can_stack: bool,
}

/// A profile corral writes and loads for one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratedProfile {
    /// The profile's name, which is also the label.
    pub name: String,
    /// The policy namespace a nesting container's own AppArmor gets, when stacking works.
    pub namespace: Option<String>,
    /// The profile's source text.
    pub text: String,
}

/// The AppArmor part of a start plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppArmorPlan {
    /// The label init and attached commands exec into; none for `unconfined`, or when the
    /// host has no AppArmor.
    pub label: Option<String>,
    /// The profile corral writes and loads for the container, when the label is its own.
    pub generated: Option<GeneratedProfile>,
}

/// What the config asks of AppArmor.
#[derive(Debug, Clone, Default)]
pub struct AppArmorRequest<'a> {
    pub vmid: u32,
    /// The host root corral manages: part of the profile name, as LXC puts its lxcpath in.
    pub host_root: &'a str,
    pub unprivileged: bool,
    pub nesting: bool,
    /// `features: mount=` file system types.
    pub mount_fstypes: &'a [String],
    /// The last `lxc.apparmor.profile`, when set.
    pub profile: Option<&'a str>,
    /// `lxc.apparmor.raw` lines, in order.
    pub raw: Vec<&'a str>,
    /// `lxc.apparmor.allow_nesting` (set by pct for nesting, or by hand).
    pub allow_nesting: Option<bool>,
}

/// `corral-<vmid>_<host root>`, LXC's `lxc-<name>_<lxcpath>` in corral's words.
pub fn profile_name(vmid: u32, host_root: &str) -> String {
    format!("corral-{vmid}_<{host_root}>")
}

/// The policy namespace name: the profile name without slashes.
fn namespace_name(vmid: u32, host_root: &str) -> String {
    profile_name(vmid, host_root).replace('/', "-")
}

/// Decide the container's AppArmor: the label to exec into and the profile to load.
/// `host` is `None` when AppArmor is not enabled; `warnings` hears what will not apply.
pub fn plan(
    request: &AppArmorRequest<'_>,
    host: Option<&AppArmorHost>,
    warnings: &mut Vec<String>,
) -> AppArmorPlan {
    let profile = request.profile.unwrap_or("generated");
    if profile == "unconfined" {
        return AppArmorPlan::default();
    }
    let Some(host) = host else {
        warnings.push(format!(
            "AppArmor is not enabled on this host: the container runs without its profile \
             ({profile}); masked paths, seccomp and the device filter still apply"
        ));
        return AppArmorPlan::default();
    };
    if profile != "generated" {
        return AppArmorPlan {
            label: Some(profile.to_string()),
            generated: None,
        };
    }
    // pct's lines come first, the config's own raw lines after them.
    let mut extra = Vec::new();
    let allow_nesting = request.allow_nesting.unwrap_or(request.nesting);
    if request.profile.is_none() {
        if host.abi4 {
            extra.push("allow mqueue,".to_string());
        }
        if request.nesting {
            if host.abi4 {
                extra.push("allow userns,".to_string());
            }
        } else {
            extra.push("deny mount -> /proc/,".to_string());
            extra.push("deny mount -> /sys/,".to_string());
        }
        for fstype in request.mount_fstypes {
            extra.push(format!("mount fstype={fstype},"));
        }
    }
    extra.extend(request.raw.iter().map(|line| line.trim().to_string()));
    let name = profile_name(request.vmid, request.host_root);
    let namespace =
        (allow_nesting && host.can_stack).then(|| namespace_name(request.vmid, request.host_root));
    let text = generate(&ProfileOptions {
        name: &name,
        unprivileged: request.unprivileged,
        allow_nesting,
        namespace: namespace.as_deref(),
        extra: &extra,
    });
    let label = match &namespace {
        // Stacked: the container is held by its profile and, inside, by whatever its own
        // AppArmor loads into its namespace.
        Some(namespace) => format!("{name}//&:{namespace}:"),
        None => name.clone(),
    };
    AppArmorPlan {
        label: Some(label),
        generated: Some(GeneratedProfile {
            name,
            namespace,
            text,
        }),
    }
}

/// The parts of a generated profile.
pub struct ProfileOptions<'a> {
    pub name: &'a str,
    pub unprivileged: bool,
    pub allow_nesting: bool,
    pub namespace: Option<&'a str>,
    /// Rules appended last (pct's and `lxc.apparmor.raw`).
    pub extra: &'a [String],
}

/// sysctls a container may write: those its namespaces own.
const WRITABLE_SYSCTLS: &[&str] = &[
    "kernel/shm*",
    "kernel/sem*",
    "kernel/msg*",
    "kernel/hostname",
    "kernel/domainname",
    "net/**",
];

/// sysfs parts a container may write: its cgroup tree and its network devices.
const WRITABLE_SYSFS: &[&str] = &["fs/cgroup/**", "devices/virtual/net/**", "class/net/**"];

/// Sources a container may not bind or move elsewhere: proc and sys (a bind of the bare
/// mount would shed the masks over it), /dev, and the full instances kept for nesting.
const UNBINDABLE_SOURCES: &[&str] = &[
    "proc",
    "proc/**",
    "sys",
    "sys/**",
    "dev",
    "dev/.lxc",
    "dev/.lxc/**",
];

/// The flags a bind may come with, for the denials that must match every such bind.
const BIND_FLAGS: &str =
    "ro, rw, bind, rbind, nosuid, nodev, noexec, silent, noatime, relatime, strictatime";

/// The profile text.
pub fn generate(options: &ProfileOptions<'_>) -> String {
    let mut text = String::new();
    text.push_str("# Generated by corral for this container; rewritten at every start.\n");
    text.push_str("#include <tunables/global>\n");
    text.push_str(&format!(
        "profile \"{}\" flags=(attach_disconnected,mediate_deleted) {{\n",
        options.name
    ));
    text.push_str(BASE_RULES);
    let rule = |text: &mut String, line: String| {
        text.push_str("  ");
        text.push_str(&line);
        text.push('\n');
    };

    text.push_str("\n  # Binds and moves of anything but proc, sys and the nesting instances.\n");
    for pattern in everything_except("/", UNBINDABLE_SOURCES) {
        // Not `(rw, bind)`: that admits mounts without flags of any source matching.
        rule(&mut text, format!("mount options=(bind) {pattern},"));
        rule(&mut text, format!("mount options=(move) {pattern},"));
    }
    // Belt and braces: whatever else allows a bind, never one of proc or sys.
    for source in ["/proc{,/**}", "/sys{,/**}", "/dev/.lxc{,/**}"] {
        rule(
            &mut text,
            format!("deny mount options in ({BIND_FLAGS}) {source},"),
        );
    }
    if options.unprivileged {
        // Read-only remounts of binds (systemd's sandboxing of services), with any of the
        // per-mount flags. AppArmor 3 lets these rules admit other mounts with fewer flags
        // as well (seen in the VM rig: a proc or ext4 mount anywhere), so only a container
        // whose user namespace already refuses those gets them.
        text.push_str("  # Read-only remounts of binds, with any of the per-mount flags.\n");
        for flags in remount_flag_sets() {
            rule(
                &mut text,
                format!("mount options=(ro, remount, bind{flags}),"),
            );
        }
        rule(
            &mut text,
            "mount options=(ro, remount, nosuid, noexec, strictatime),".into(),
        );
    }

    if !options.unprivileged {
        text.push_str("\n  # A privileged root could register binfmt handlers for the host.\n");
        rule(
            &mut text,
            "deny /proc/sys/fs/binfmt_misc/{,**} wklx,".into(),
        );
    }
    if !options.allow_nesting {
        text.push_str("\n  # Writes to /proc/sys and /sys outside the container's namespaces.\n");
        for pattern in everything_except("/proc/sys/", WRITABLE_SYSCTLS) {
            rule(&mut text, format!("deny {pattern} wklx,"));
        }
        for pattern in everything_except("/sys/", WRITABLE_SYSFS) {
            rule(&mut text, format!("deny {pattern} wklx,"));
        }
    }
    match (options.namespace, options.allow_nesting) {
        (Some(namespace), _) => {
            text.push_str("\n  # The container's own AppArmor loads into its namespace.\n");
            rule(&mut text, format!("change_profile -> \":{namespace}:*\","));
            rule(
                &mut text,
                format!("change_profile -> \":{namespace}://*\","),
            );
        }
        // securityfs stays closed by the base rules.
        (None, false) => {}
        (None, true) => rule(
            &mut text,
            format!("change_profile -> \"{}\",", options.name),
        ),
    }
    if options.allow_nesting {
        text.push_str("\n  # Nesting: a runtime inside mounts proc and sys for its containers.\n");
        for line in [
            "pivot_root,",
            "ptrace,",
            "signal,",
            "deny /dev/.lxc/proc/** rw,",
            "deny /dev/.lxc/sys/** rw,",
            "mount,",
        ] {
            rule(&mut text, line.into());
        }
    }
    if options.unprivileged {
        text.push_str("\n  # Unprivileged: the user namespace guards the rest.\n");
        rule(&mut text, "pivot_root,".into());
        rule(&mut text, "mount fstype=binfmt_misc,".into());
    }
    if !options.extra.is_empty() {
        text.push_str("\n  # From the container's config.\n");
        for line in options.extra {
            rule(&mut text, line.clone());
        }
    }
    text.push_str("}\n");
    text
}

/// `, nosuid`, `, nodev, noatime`, ...: every combination of the flags a read-only bind
/// remount may carry, as AppArmor matches mount options as a set.
fn remount_flag_sets() -> Vec<String> {
    let flags = ["nosuid", "nodev", "noexec"];
    let mut sets = Vec::new();
    for time in ["", "noatime", "strictatime"] {
        for mask in 0..(1 << flags.len()) {
            let mut set = String::new();
            for (bit, flag) in flags.iter().enumerate() {
                if mask & (1 << bit) != 0 {
                    set.push_str(", ");
                    set.push_str(flag);
                }
            }
            if !time.is_empty() {
                set.push_str(", ");
                set.push_str(time);
            }
            sets.push(set);
        }
    }
    sets
}

/// How a carve-out ends: `net/**` (a subtree), `shm*` (names starting so), or exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Subtree,
    Prefix,
    Exact,
}

#[derive(Debug, Default)]
struct Node {
    children: std::collections::BTreeMap<char, Node>,
    ending: Option<Ending>,
}

/// AppArmor globs matching every path below `base` (which ends in `/`) except the
/// carve-outs. AppArmor has no "except" for deny rules, so the set is spelled out: at each
/// character of a carve-out, the names that leave it there.
pub fn everything_except(base: &str, carve_outs: &[&str]) -> Vec<String> {
    let mut root = Node::default();
    for carve_out in carve_outs {
        let (stem, ending) = if let Some(stem) = carve_out.strip_suffix("/**") {
            (format!("{stem}/"), Ending::Subtree)
        } else if let Some(stem) = carve_out.strip_suffix('*') {
            (stem.to_string(), Ending::Prefix)
        } else {
            (carve_out.to_string(), Ending::Exact)
        };
        let mut node = &mut root;
        for c in stem.chars() {
            node = node.children.entry(c).or_default();
        }
        node.ending = Some(ending);
    }
    let mut patterns = Vec::new();
    walk(&root, base.to_string(), &mut patterns);
    patterns
}

fn glob_escape(c: char) -> String {
    if "[]{}*?^,\\\"".contains(c) {
        format!("\\{c}")
    } else {
        c.to_string()
    }
}

fn walk(node: &Node, prefix: String, patterns: &mut Vec<String>) {
    match node.ending {
        Some(Ending::Subtree | Ending::Prefix) => return,
        Some(Ending::Exact) if node.children.is_empty() => {
            // The carve-out itself stays open; longer names and anything below do not.
            patterns.push(format!("{prefix}?*{{,/**}}"));
            patterns.push(format!("{prefix}/**"));
            return;
        }
        _ => {}
    }
    let at_component_start = prefix.ends_with('/');
    let continues_with_slash = node.children.contains_key(&'/');
    if !at_component_start && node.ending.is_none() {
        // The name ending here (a file or directory of that exact name).
        if continues_with_slash {
            patterns.push(prefix.clone());
        } else {
            patterns.push(format!("{prefix}{{,/**}}"));
        }
    }
    let others: String = node
        .children
        .keys()
        .filter(|c| **c != '/')
        .map(|c| glob_escape(*c))
        .collect();
    if others.is_empty() {
        // Only a slash continues: names that go on past this one.
        patterns.push(format!("{prefix}?*{{,/**}}"));
    } else {
        patterns.push(format!("{prefix}[^{others}/]*{{,/**}}"));
    }
    for (c, child) in &node.children {
        let mut next = prefix.clone();
        next.push(*c);
        walk(child, next, patterns);
    }
}

// --- the kernel side --------------------------------------------------------------------

const SECURITYFS: &str = "/sys/kernel/security/apparmor";
const NAMESPACES: &str = "/sys/kernel/security/apparmor/policy/namespaces";

/// Whether AppArmor is enabled, and what it can do; `None` when it is off or absent.
pub fn host_support() -> Option<AppArmorHost> {
    support_below(Path::new("/"))
}

/// [`host_support`] as read below `root` (the machine's `/`, or a test's tree).
fn support_below(root: &Path) -> Option<AppArmorHost> {
    let enabled =
        std::fs::read_to_string(root.join("sys/module/apparmor/parameters/enabled")).ok()?;
    if !enabled.starts_with('Y') {
        return None;
    }
    let security = root.join(SECURITYFS.trim_start_matches('/'));
    if !security.exists() {
        return None;
    }
    Some(AppArmorHost {
        abi4: parser_knows_abi4(&root.join("etc/apparmor.d")),
        can_stack: security.join("features/domain/stack").exists()
            && security.join("policy/namespaces").exists(),
    })
}

fn parser() -> Option<PathBuf> {
    super::idmap::find_program("apparmor_parser").or_else(|| {
        ["/sbin/apparmor_parser", "/usr/sbin/apparmor_parser"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
    })
}

/// Whether the parser installed with this policy directory speaks AppArmor 4 (`mqueue`,
/// `userns`): AppArmor 4 ships `abi/4.0` there, 3.x only `abi/3.0`. A look at the disk, not
/// a run of the parser on every start.
pub fn parser_knows_abi4(policy_dir: &Path) -> bool {
    policy_dir.join("abi/4.0").exists()
}

/// Where a generated profile's file and the parser's cache live.
pub fn profile_dir(host_root: &Path) -> PathBuf {
    host_root.join("var/lib/corral/apparmor")
}

fn profile_file(host_root: &Path, profile: &GeneratedProfile) -> PathBuf {
    profile_dir(host_root).join(profile_file_name(&profile.name))
}

fn profile_file_name(profile_name: &str) -> String {
    profile_name.replace(['/', '<', '>'], "-")
}

/// Write and load (or replace) a generated profile, and make its policy namespace.
///
/// The file stays between starts and is only rewritten when the profile changed: the
/// parser's cache (`-W -L`) is valid only for a source no newer than it, so an unchanged
/// profile loads from its compiled form instead of being compiled on every start.
/// `pct destroy` removes both ([`forget`]).
pub fn load(host_root: &Path, profile: &GeneratedProfile) -> Result<(), StartError> {
    let parser = parser().ok_or_else(|| {
        StartError::new(
            StartStep::AppArmor,
            "AppArmor is enabled but apparmor_parser is not installed (Debian: apparmor)",
        )
    })?;
    let file = store_profile(host_root, profile)?;
    let cache = profile_dir(host_root).join("cache");
    if let Some(namespace) = &profile.namespace {
        let dir = Path::new(NAMESPACES).join(namespace);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                let context = format!("unable to create the AppArmor namespace '{namespace}'");
                return Err(StartError::io(StartStep::AppArmor, context, e));
            }
        }
    }
    let output = std::process::Command::new(&parser)
        .arg("-rWL")
        .arg(&cache)
        .arg(&file)
        .output()
        .map_err(|e| {
            let context = format!("unable to run {}", parser.display());
            StartError::io(StartStep::AppArmor, context, e)
        })?;
    if output.status.success() {
        Ok(())
    } else {
        // A profile the parser refuses is not kept for the next start.
        let _ = std::fs::remove_file(&file);
        let message = format!(
            "unable to load the AppArmor profile '{}': {}",
            profile.name,
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Err(StartError::new(StartStep::AppArmor, message))
    }
}

/// The profile's file, written only when its text changed (so its mtime keeps the parser's
/// cache valid), with the cache directory beside it.
fn store_profile(host_root: &Path, profile: &GeneratedProfile) -> Result<PathBuf, StartError> {
    let file = profile_file(host_root, profile);
    let cache = profile_dir(host_root).join("cache");
    let failed = |what: &str, path: &Path, e| {
        let context = format!("unable to {what} '{}'", path.display());
        StartError::io(StartStep::AppArmor, context, e)
    };
    std::fs::create_dir_all(&cache).map_err(|e| failed("create", &cache, e))?;
    if std::fs::read(&file).ok().as_deref() != Some(profile.text.as_bytes()) {
        std::fs::write(&file, &profile.text).map_err(|e| failed("write", &file, e))?;
    }
    Ok(file)
}

/// Unload a generated profile and remove its namespace; what is already gone is fine.
/// The kernel takes the profile's name at `.remove`, so no parser runs at stop.
pub fn unload(profile: &GeneratedProfile) {
    let _ = std::fs::write(Path::new(SECURITYFS).join(".remove"), &profile.name);
    if let Some(namespace) = &profile.namespace {
        let _ = std::fs::remove_dir(Path::new(NAMESPACES).join(namespace));
    }
}

/// Remove what [`load`] keeps of a container between starts (`pct destroy`): its profile
/// file and the parser's compiled copies of it.
pub fn forget(host_root: &Path, vmid: u32) {
    let dir = profile_dir(host_root);
    let name = profile_file_name(&profile_name(vmid, &host_root.display().to_string()));
    let _ = std::fs::remove_file(dir.join(&name));
    // The parser keeps its copies below a directory per kernel feature set (AppArmor 3),
    // or in the cache directory itself (2.x).
    let _ = std::fs::remove_file(dir.join("cache").join(&name));
    if let Ok(feature_sets) = std::fs::read_dir(dir.join("cache")) {
        for feature_set in feature_sets.flatten() {
            let _ = std::fs::remove_file(feature_set.path().join(&name));
        }
    }
}

/// Ask the kernel to put this thread under `label` at its next execve. Runs in the
/// container's child, after its /proc is mounted. The error is the write's, or (no AppArmor
/// attribute file at all) the last open's.
pub fn exec_into(label: &str) -> std::io::Result<()> {
    let command = format!("exec {label}");
    let mut last = None;
    for path in [
        "/proc/thread-self/attr/apparmor/exec",
        "/proc/thread-self/attr/exec",
    ] {
        match std::fs::OpenOptions::new().write(true).open(path) {
            Ok(mut file) => {
                use std::io::Write;
                return file.write_all(command.as_bytes());
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound)))
}

#[cfg(test)]
mod tests;
