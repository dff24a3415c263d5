//! The `pct` command tree. Config options of `create` and `set` come from the schema, so the
//! CLI accepts exactly the options the config format knows.

use clap::{Arg, ArgAction, Command};

use crate::config::{OptionKind, options};

/// Options of the schema that only corral itself writes.
const INTERNAL_OPTIONS: &[&str] = &["parent", "snaptime", "snapstate", "digest"];

/// The options pct's API schema gives each command (pct's CLI parses every parameter of the
/// API method as an option, the positional ones included; `node` is fixed by the CLI and not
/// one). `create` and `set` also take every config option (see `config_option_names`).
/// corral knows all of them, so that no abbreviation pct resolves one way resolves to another
/// option here; the ones corral does not implement yet are refused as such.
const PCT_OPTIONS: &[(&str, &[&str])] = &[
    ("config", &["vmid", "current", "snapshot"]),
    (
        "create",
        &[
            "vmid",
            "ostemplate",
            "password",
            "storage",
            "force",
            "restore",
            "unique",
            "pool",
            "ignore-unpack-errors",
            "ssh-public-keys",
            "bwlimit",
            "start",
            "ha-managed",
        ],
    ),
    ("console", &["vmid", "escape"]),
    ("cpusets", &[]),
    (
        "destroy",
        &["vmid", "force", "purge", "destroy-unreferenced-disks"],
    ),
    ("df", &["vmid"]),
    ("enter", &["vmid", "keep-env"]),
    ("exec", &["vmid", "keep-env", "extra-args"]),
    ("help", &["extra-args", "verbose"]),
    ("list", &[]),
    ("mount", &["vmid"]),
    (
        "move-volume",
        &[
            "vmid",
            "volume",
            "storage",
            "target-vmid",
            "target-volume",
            "delete",
            "digest",
            "target-digest",
            "bwlimit",
        ],
    ),
    ("listsnapshot", &["vmid"]),
    ("pending", &["vmid"]),
    ("reboot", &["vmid", "timeout"]),
    ("resize", &["vmid", "disk", "size", "digest"]),
    ("resume", &["vmid"]),
    ("set", &["vmid", "delete", "revert", "digest"]),
    ("shutdown", &["vmid", "timeout", "forceStop"]),
    ("start", &["vmid", "skiplock", "debug"]),
    ("status", &["vmid", "verbose"]),
    ("stop", &["vmid", "skiplock", "overrule-shutdown"]),
    ("suspend", &["vmid"]),
    ("unlock", &["vmid"]),
    ("unmount", &["vmid"]),
];

/// pct's option names of every command corral has.
fn pct_options() -> impl Iterator<Item = &'static (&'static str, &'static [&'static str])> {
    PCT_OPTIONS
        .iter()
        .chain(super::volume_tools::PCT_OPTIONS)
        .chain(super::snapshot::PCT_OPTIONS)
        .chain(super::clone::PCT_OPTIONS)
}

/// The id of the placeholder for a pct option corral does not implement.
const UNSUPPORTED_PREFIX: &str = "unsupported:";

/// Every option name pct knows for `command` (empty for commands pct does not have).
pub fn pct_option_names(command: &str) -> Vec<String> {
    let mut names: Vec<String> = pct_options()
        .find(|(name, _)| *name == command)
        .map(|(_, options)| options.iter().map(|o| o.to_string()).collect())
        .unwrap_or_default();
    if CONFIG_COMMANDS.contains(&command) {
        names.extend(config_option_names());
    }
    names
}

/// The config options pct's `create` and `set` take: the schema's keys but `parent` and
/// `snaptime`, indexed ones expanded (`mp0`..`mp255`).
fn config_option_names() -> Vec<String> {
    let mut names = Vec::new();
    for spec in options() {
        if INTERNAL_OPTIONS.contains(&spec.name) {
            continue;
        }
        match spec.max_index {
            Some(max) => names.extend((0..=max).map(|i| format!("{}{i}", spec.name))),
            None => names.push(spec.name.to_string()),
        }
    }
    names
}

/// The long options corral itself defines for `command` (its extensions included), and the
/// global ones.
pub fn corral_option_names(command: &str) -> Vec<String> {
    let mut names: Vec<String> = ["root", "help", "version"].map(String::from).to_vec();
    if let Some(sub) = build(false).find_subcommand(command) {
        names.extend(
            sub.get_arguments()
                .filter(|arg| !arg.get_id().as_str().starts_with(UNSUPPORTED_PREFIX))
                .filter_map(|arg| arg.get_long())
                .map(String::from),
        );
    }
    names
}

/// The pct option that corral does not implement yet, if the user gave one.
pub fn unsupported_option(matches: &clap::ArgMatches) -> Option<String> {
    matches
        .ids()
        .map(|id| id.as_str())
        .filter(|id| id.starts_with(UNSUPPORTED_PREFIX))
        .find(|id| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
        .map(|id| id[UNSUPPORTED_PREFIX.len()..].to_string())
}

/// A hidden placeholder for every option of pct's `command` corral does not define, so that
/// clap accepts it and `unsupported_option` can name it.
fn with_unsupported_options(mut command: Command) -> Command {
    let Some((_, names)) = pct_options().find(|(name, _)| *name == command.get_name()) else {
        return command;
    };
    for name in names.iter() {
        let defined = command
            .get_arguments()
            .any(|arg| arg.get_long() == Some(name));
        if defined {
            continue;
        }
        let id: &'static str = Box::leak(format!("{UNSUPPORTED_PREFIX}{name}").into_boxed_str());
        command = command.arg(
            Arg::new(id)
                .long(*name)
                .hide(true)
                .num_args(0..=1)
                .action(ArgAction::Append)
                .allow_hyphen_values(true),
        );
    }
    command
}

/// The full command tree: for help, completions, the man page and usage errors.
pub fn command() -> Command {
    build(true)
}

/// The tree `pct` parses `args` with. The schema's config options (several hundred with
/// mp0..mp255, dev0..dev255 and net0..net31) are only built when the subcommand takes them:
/// building them costs more than everything else `pct start` or `pct exec` does before
/// its first system call.
pub fn command_for(args: &[std::ffi::OsString]) -> Command {
    build(needs_config_options(args))
}

/// The subcommands that take config options. `help`, `completions` and `man` build the
/// full tree themselves.
const CONFIG_COMMANDS: &[&str] = &["create", "set"];

fn needs_config_options(args: &[std::ffi::OsString]) -> bool {
    // A word that is not UTF-8 is no command name and no `--root`.
    let mut words = args
        .iter()
        .skip(1)
        .map(|word| word.to_str().unwrap_or("\u{fffd}"));
    while let Some(word) = words.next() {
        if let Some(long) = word.strip_prefix("--") {
            // `--root DIR`, or any unique prefix of it, takes the next word as its value.
            if !long.is_empty() && !long.contains('=') && "root".starts_with(long) {
                words.next();
            }
            continue;
        }
        if word.starts_with('-') {
            continue;
        }
        return CONFIG_COMMANDS.contains(&word);
    }
    false
}

fn build(with_config_options: bool) -> Command {
    let config_options = |command: Command| {
        if with_config_options {
            config_options(command)
        } else {
            command
        }
    };
    Command::new("pct")
        .about("Proxmox-compatible container toolkit: manage system containers without liblxc")
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_subcommand(true)
        .subcommand_required(true)
        // pct (Getopt::Long) accepts any unique prefix of a long option, among pct's own
        // option names: `argv::expand_prefixes` resolves them before clap sees them.
        .arg(
            Arg::new("root")
                .long("root")
                .global(true)
                .env("CORRAL_ROOT")
                .value_name("DIR")
                .help("Host root directory holding etc/pve, var/lib/vz and run (default /)"),
        )
        .subcommands(
            [
            Command::new("list").about("LXC container index (per node).").arg(output_format()),
            Command::new("config")
                .about("Get container configuration.")
                .arg(vmid())
                .arg(flag("current", "Get current values (instead of pending values)."))
                .arg(Arg::new("snapshot").long("snapshot").value_name("NAME").help("Fetch config values from given snapshot."))
                .arg(output_format()),
            config_options(
                Command::new("create")
                    .about("Create or restore a container.")
                    .arg(vmid())
                    .arg(Arg::new("ostemplate").required(true).value_name("ostemplate").help("The OS template or backup file."))
                    .arg(Arg::new("storage").long("storage").value_name("STORAGE").help("Default Storage. (default = local)"))
                    .arg(flag("force", "Allow to overwrite existing container."))
                    .arg(flag("start", "Start the CT after its creation finished successfully."))
                    .arg(flag("ignore-unpack-errors", "Ignore errors when extracting the template."))
                    .arg(Arg::new("pool").long("pool").value_name("STRING").help("Add the VM to the specified pool."))
                    .arg(
                        Arg::new("password")
                            .long("password")
                            .value_name("PASSWORD")
                            .num_args(0..=1)
                            .default_missing_value("")
                            .help("Sets root password inside container. Without a value, it is asked for on the terminal."),
                    )
                    .arg(
                        Arg::new("ssh-public-keys")
                            .long("ssh-public-keys")
                            .value_name("FILEPATH")
                            .help("Setup public SSH keys (one key per line, OpenSSH format)."),
                    ),
            ),
            Command::new("destroy")
                .about("Destroy the container (also delete all uses files).")
                .arg(vmid())
                .arg(flag("force", "Force destroy, even if running."))
                .arg(flag(
                    "purge",
                    "Remove container from all related configurations. For example, backup jobs, replication jobs or HA.",
                ))
                .arg(flag(
                    "destroy-unreferenced-disks",
                    "If set, destroy additionally all disks with the VMID from all enabled storages which are not referenced in the config.",
                )),
            config_options(
                Command::new("set")
                    .about("Set container options.")
                    .arg(vmid())
                    .arg(Arg::new("delete").long("delete").value_name("LIST").action(ArgAction::Append).help("A list of settings you want to delete."))
                    .arg(Arg::new("revert").long("revert").value_name("LIST").action(ArgAction::Append).help("Revert a pending change."))
                    .arg(Arg::new("digest").long("digest").value_name("DIGEST").help(
                        "Prevent changes if current configuration file has different SHA1 digest. This can be used to prevent concurrent modifications.",
                    )),
            ),
            Command::new("pending").about("Get container configuration, including pending changes.").arg(vmid()).arg(output_format()),
            Command::new("listsnapshot").about("List all snapshots.").arg(vmid()),
            Command::new("status")
                .about("Show CT status.")
                .arg(vmid())
                .arg(flag("verbose", "Verbose output format").short('v'))
                .arg(output_format()),
            Command::new("unlock").about("Unlock the VM.").arg(vmid()),
            Command::new("mount")
                .about("Mount the container's filesystem on the host. This will hold a lock on the container and is meant for emergency maintenance only as it will prevent further operations on the container other than start and stop.")
                .arg(vmid()),
            Command::new("unmount").about("Unmount the container's filesystem.").arg(vmid()),
            resize_command(),
            move_volume_command(),
            Command::new("df").about("Get the container's current disk usage.").arg(vmid()),
            Command::new("start")
                .about("Start the container.")
                .arg(vmid())
                .arg(flag("skiplock", "Ignore locks - only root is allowed to use this option."))
                .arg(flag("debug", "If set, enables very verbose debug log-level on start."))
                .arg(flag("dry-run", "Print the start plan instead of starting (corral extension)."))
                .arg(flag("foreground", "Stay in the foreground until init exits, and exit with its status (corral extension)."))
                .arg(flag("strict-limits", "Refuse to start when a limit cannot be enforced on this host (corral extension)."))
                .arg(output_format()),
            Command::new("stop")
                .about("Stop the container. This will abruptly stop all processes running in the container.")
                .arg(vmid())
                .arg(flag("skiplock", "Ignore locks - only root is allowed to use this option."))
                .arg(flag("overrule-shutdown", "Try to abort active 'vzshutdown' tasks before stopping.")),
            Command::new("shutdown")
                .about("Shutdown the container. This will trigger a clean shutdown of the container, see lxc-stop(1) for details.")
                .arg(vmid())
                .arg(Arg::new("timeout").long("timeout").value_name("INTEGER").help("Wait maximal timeout seconds. (default = 60)"))
                .arg(flag("forceStop", "Make sure the Container stops.")),
            Command::new("reboot")
                .about("Reboot the container by shutting it down, and starting it again. Applies pending changes.")
                .arg(vmid())
                .arg(Arg::new("timeout").long("timeout").value_name("INTEGER").help("Wait maximal timeout seconds for the shutdown.")),
            Command::new("startall")
                .about("Start all containers that have onboot set, in startup order.")
                .arg(flag("force", "Issue start command even if virtual guest have 'onboot' not set or set to off.")),
            Command::new("stopall")
                .about("Stop all running containers, in reverse startup order.")
                .arg(Arg::new("timeout").long("timeout").value_name("INTEGER").help("Timeout for each guest shutdown task. (default = 60)"))
                .arg(flag("force-stop", "Force a hard-stop after the timeout. (default = 1)")),
            Command::new("cpusets").about("Print the list of assigned CPU sets."),
            Command::new("suspend").about("Suspend the container. This is experimental.").arg(vmid()),
            Command::new("resume").about("Resume the container.").arg(vmid()),
            Command::new("enter")
                .about("Launch a shell for the specified container.")
                .arg(vmid())
                .arg(flag("keep-env", "Keep the current environment. This option will disabled by default with PVE 9. If you rely on a preserved environment, please use this option to be future-proof.")),
            Command::new("exec")
                .about("Launch a command inside the specified container.")
                .arg(vmid())
                .arg(flag("keep-env", "Keep the current environment. This option will disabled by default with PVE 9. If you rely on a preserved environment, please use this option to be future-proof."))
                .arg(Arg::new("extra-args").num_args(0..).trailing_var_arg(true).allow_hyphen_values(true).value_name("extra-args").help("Extra arguments as array")),
            Command::new("console")
                .about("Launch a console for the specified container.")
                .arg(vmid())
                .arg(Arg::new("escape").long("escape").value_name("STRING").help("Escape sequence prefix. For example to use <Ctrl+b q> as the escape sequence pass '^b'. (default = ^a)")),
            Command::new("help")
                .about("Get help about specified command.")
                .arg(Arg::new("extra-args").num_args(0..).value_name("extra-args").help("Shows help for a specific command"))
                .arg(flag("verbose", "Verbose output format.").short('v')),
            Command::new("completions")
                .hide(true)
                .about("Print a shell completion script")
                .arg(Arg::new("shell").required(true).value_parser(clap::value_parser!(clap_complete::Shell))),
            Command::new("man").hide(true).about("Print the pct(1) man page (roff)"),
        ]
        .map(with_unsupported_options))
        .subcommands(super::volume_tools::commands().into_iter().map(with_unsupported_options))
        .subcommands(super::snapshot::commands().into_iter().map(with_unsupported_options))
        .subcommands(super::clone::commands().into_iter().map(with_unsupported_options))
}

fn resize_command() -> Command {
    Command::new("resize")
        .about("Resize a container mount point.")
        .arg(vmid())
        .arg(Arg::new("disk").required(true).value_name("disk").help("The disk you want to resize."))
        .arg(Arg::new("size").required(true).value_name("size").allow_hyphen_values(true).help(
            "The new size. With the '+' sign the value is added to the actual size of the volume and without it, the value is taken as an absolute one. Shrinking disk size is not supported.",
        ))
        .arg(Arg::new("digest").long("digest").value_name("DIGEST").help(
            "Prevent changes if current configuration file has different SHA1 digest. This can be used to prevent concurrent modifications.",
        ))
}

/// pct's optional positional arguments of `move-volume` are options too
/// (`--target-vmid 101`): each is defined both ways, the option under `<name>-option`.
fn move_volume_command() -> Command {
    let either = |command: Command, name: &'static str, help: &'static str| {
        let option: &'static str = Box::leak(format!("{name}-option").into_boxed_str());
        command.arg(Arg::new(name).value_name(name).help(help)).arg(
            Arg::new(option)
                .long(name)
                .value_name(name)
                .conflicts_with(name)
                .hide(true),
        )
    };
    let command = Command::new("move-volume")
        .visible_alias("move_volume")
        .about("Move a rootfs-/mp-volume to a different storage or to a different container.")
        .arg(vmid())
        .arg(
            Arg::new("volume")
                .required(true)
                .value_name("volume")
                .help("Volume which will be moved."),
        );
    let command = either(command, "storage", "Target Storage.");
    let command = either(command, "target-vmid", "The (unique) ID of the VM.");
    let command = either(
        command,
        "target-volume",
        "The config key the volume will be moved to. Default is the source volume key.",
    );
    command
        .arg(flag("delete", "Delete the original volume after successful copy. By default the original is kept as an unused volume entry."))
        .arg(Arg::new("digest").long("digest").value_name("DIGEST").help(
            "Prevent changes if current configuration file has different SHA1 digest. This can be used to prevent concurrent modifications.",
        ))
        .arg(Arg::new("target-digest").long("target-digest").value_name("DIGEST").help(
            "Prevent changes if current configuration file of the target container has a different SHA1 digest. This can be used to prevent concurrent modifications.",
        ))
        .arg(Arg::new("bwlimit").long("bwlimit").value_name("NUMBER").help(
            "Override I/O bandwidth limit (in KiB/s). (default = clone limit from datacenter or storage config)",
        ))
}

fn vmid() -> Arg {
    Arg::new("vmid")
        .required(true)
        .value_name("vmid")
        .help("The (unique) ID of the VM. <integer> (100 - 999999999)")
}

/// A pct boolean: `--force`, `--force 1` and `--force=0` all work.
pub fn flag(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .num_args(0..=1)
        .default_missing_value("1")
        .value_name("BOOLEAN")
        .help(help)
}

fn output_format() -> Arg {
    Arg::new("output-format")
        .long("output-format")
        .value_name("FORMAT")
        .value_parser(["text", "json", "json-pretty"])
        .default_value("text")
        .help("Output format.")
}

/// Every config option of the schema as `--<key> <value>`; indexed options get one argument
/// per index, with help shown once as `--mp[n]`.
fn config_options(mut command: Command) -> Command {
    for spec in options() {
        if INTERNAL_OPTIONS.contains(&spec.name) {
            continue;
        }
        let value_name = match spec.kind {
            OptionKind::Boolean => "BOOLEAN",
            OptionKind::Integer { .. } => "INTEGER",
            OptionKind::Number { .. } => "NUMBER",
            OptionKind::Enum(_) => "ENUM",
            OptionKind::String { .. } => "STRING",
            OptionKind::Property(_) => "PROPERTIES",
        };
        let keys: Vec<String> = match spec.max_index {
            Some(max) => (0..=max).map(|i| format!("{}{i}", spec.name)).collect(),
            None => vec![spec.name.to_string()],
        };
        for (position, key) in keys.into_iter().enumerate() {
            let key: &'static str = Box::leak(key.into_boxed_str());
            let mut arg = Arg::new(key)
                .long(key)
                .value_name(value_name)
                .help_heading("Config options");
            if matches!(spec.kind, OptionKind::Boolean) {
                arg = arg.num_args(0..=1).default_missing_value("1");
            }
            arg = match (spec.max_index, position) {
                (Some(max), 0) => arg.help(format!(
                    "[{}[n], n = 0..{max}] {}",
                    spec.name, spec.description
                )),
                (Some(_), _) => arg.hide(true),
                (None, _) => arg.help(spec.description),
            };
            command = command.arg(arg);
        }
    }
    command
}

/// The config option keys the user gave to `create`/`set`, in command-line order.
pub fn given_config_options(matches: &clap::ArgMatches) -> Vec<(String, String)> {
    let mut given: Vec<(usize, String, String)> = Vec::new();
    for id in matches.ids() {
        let key = id.as_str();
        if !is_config_option(key)
            || matches.value_source(key) != Some(clap::parser::ValueSource::CommandLine)
        {
            continue;
        }
        let index = matches.index_of(key).unwrap_or(usize::MAX);
        if let Some(value) = matches.get_one::<String>(key) {
            given.push((index, key.to_string(), value.clone()));
        }
    }
    given.sort();
    given
        .into_iter()
        .map(|(_, key, value)| (key, value))
        .collect()
}

fn is_config_option(key: &str) -> bool {
    crate::config::option_spec(key).is_some() && !INTERNAL_OPTIONS.contains(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<std::ffi::OsString> {
        std::iter::once("pct")
            .chain(words.iter().copied())
            .map(std::ffi::OsString::from)
            .collect()
    }

    #[test]
    fn config_options_only_for_the_commands_that_take_them() {
        assert!(!needs_config_options(&args(&["start", "100"])));
        assert!(!needs_config_options(&args(&[
            "--root", "/x", "exec", "100", "--", "set"
        ])));
        assert!(!needs_config_options(&args(&[
            "--ro", "create", "status", "100"
        ])));
        assert!(needs_config_options(&args(&[
            "--root=/x",
            "create",
            "100",
            "t"
        ])));
        assert!(needs_config_options(&args(&[
            "set", "100", "--memory", "512"
        ])));
        assert!(!needs_config_options(&args(&["--version"])));
        assert!(!needs_config_options(&args(&["help", "create"])));
    }

    /// pct's option names per command, as pve-container's API schema has them (the
    /// methods `pct` maps its commands to), config options aside.
    const PCT_SCHEMA: &[(&str, &[&str])] = &[
        ("config", &["vmid", "current", "snapshot"]),
        (
            "create",
            &[
                "vmid",
                "ostemplate",
                "password",
                "storage",
                "force",
                "restore",
                "unique",
                "pool",
                "ignore-unpack-errors",
                "ssh-public-keys",
                "bwlimit",
                "start",
                "ha-managed",
            ],
        ),
        (
            "destroy",
            &["vmid", "force", "purge", "destroy-unreferenced-disks"],
        ),
        ("set", &["vmid", "delete", "revert", "digest"]),
        ("start", &["vmid", "skiplock", "debug"]),
        ("stop", &["vmid", "skiplock", "overrule-shutdown"]),
        ("shutdown", &["vmid", "timeout", "forceStop"]),
        ("reboot", &["vmid", "timeout"]),
        ("status", &["vmid", "verbose"]),
        ("console", &["vmid", "escape"]),
        ("enter", &["vmid", "keep-env"]),
        ("exec", &["vmid", "keep-env", "extra-args"]),
        ("help", &["extra-args", "verbose"]),
        ("pending", &["vmid"]),
        ("listsnapshot", &["vmid"]),
        ("suspend", &["vmid"]),
        ("resume", &["vmid"]),
        ("unlock", &["vmid"]),
        ("mount", &["vmid"]),
        ("unmount", &["vmid"]),
        ("df", &["vmid"]),
        ("list", &[]),
        ("cpusets", &[]),
        ("fsck", &["vmid", "device", "force"]),
        ("fstrim", &["vmid", "ignore-mountpoints"]),
        (
            "pull",
            &["vmid", "path", "destination", "user", "group", "perms"],
        ),
        (
            "push",
            &["vmid", "file", "destination", "user", "group", "perms"],
        ),
        ("rescan", &["vmid", "dryrun"]),
        ("resize", &["vmid", "disk", "size", "digest"]),
        ("snapshot", &["vmid", "snapname", "description"]),
        ("delsnapshot", &["vmid", "snapname", "force"]),
        ("rollback", &["vmid", "snapname", "start"]),
        (
            "move-volume",
            &[
                "vmid",
                "volume",
                "storage",
                "target-vmid",
                "target-volume",
                "delete",
                "digest",
                "target-digest",
                "bwlimit",
            ],
        ),
    ];

    /// The positional words a command needs before its options.
    fn positionals(command: &str) -> &'static [&'static str] {
        match command {
            "create" => &["100", "local:vztmpl/t.tar.gz"],
            "list" | "cpusets" | "help" | "rescan" => &[],
            "push" | "pull" => &["100", "a", "b"],
            "resize" => &["100", "rootfs", "+1G"],
            "move-volume" => &["100", "mp0"],
            "snapshot" | "delsnapshot" | "rollback" => &["100", "s1"],
            _ => &["100"],
        }
    }

    /// Parse `pct <command> <positionals> --<typed>` the way `run` does; the long name of
    /// the argument clap matched, and whether it is one corral does not support yet.
    fn parse_option(command: &str, typed: &str) -> Result<(String, bool), String> {
        let mut words = args(&[command]);
        words.extend(positionals(command).iter().map(std::ffi::OsString::from));
        words.push(format!("--{typed}").into());
        words.push("1".into());
        let words =
            super::super::argv::expand_prefixes(words, |c| super::super::argv::OptionNames {
                pct: pct_option_names(c),
                corral: corral_option_names(c),
            })
            .map_err(|e| e.to_string())?;
        let matches = command_for(&words)
            .try_get_matches_from(&words)
            .map_err(|e| e.to_string())?;
        let (_, sub) = matches.subcommand().unwrap();
        if let Some(unsupported) = unsupported_option(sub) {
            return Ok((unsupported, true));
        }
        let tree = command_for(&words);
        let sub_tree = tree.find_subcommand(command).unwrap();
        let given = sub_tree
            .get_arguments()
            .filter(|a| {
                sub.value_source(a.get_id().as_str())
                    == Some(clap::parser::ValueSource::CommandLine)
            })
            .filter_map(|a| a.get_long())
            .map(String::from)
            .collect::<Vec<_>>();
        match given.as_slice() {
            [one] => Ok((one.clone(), false)),
            other => Err(format!("matched {other:?}")),
        }
    }

    #[test]
    fn every_pct_option_is_known_and_its_abbreviations_mean_it() {
        for (command, schema) in PCT_SCHEMA {
            let mut names: Vec<String> = schema.iter().map(|s| s.to_string()).collect();
            if CONFIG_COMMANDS.contains(command) {
                names.extend(config_option_names());
            }
            let mut known = pct_option_names(command);
            known.sort();
            let mut expected = names.clone();
            expected.sort();
            assert_eq!(known, expected, "pct's options of {command}");
            for name in schema.iter() {
                let (matched, unsupported) = parse_option(command, name)
                    .unwrap_or_else(|e| panic!("pct {command} --{name}: {e}"));
                assert_eq!(&matched, name, "pct {command} --{name}");
                let implemented = [
                    "current",
                    "snapshot",
                    "password",
                    "storage",
                    "force",
                    "ignore-unpack-errors",
                    "ssh-public-keys",
                    "start",
                    "purge",
                    "destroy-unreferenced-disks",
                    "delete",
                    "revert",
                    "digest",
                    "skiplock",
                    "debug",
                    "overrule-shutdown",
                    "timeout",
                    "forceStop",
                    "verbose",
                    "escape",
                    "keep-env",
                    "device",
                    "ignore-mountpoints",
                    "dryrun",
                    "user",
                    "group",
                    "perms",
                    "description",
                    "pool",
                ];
                // rescan's vmid is an option of its own, not a positional word; move-volume's
                // optional positional words are options too.
                let implemented_here = (*command, *name) == ("rescan", "vmid")
                    || (*command == "move-volume"
                        && [
                            "storage",
                            "target-vmid",
                            "target-volume",
                            "target-digest",
                            "bwlimit",
                        ]
                        .contains(name));
                assert_eq!(
                    unsupported,
                    !(implemented.contains(name) || implemented_here),
                    "pct {command} --{name}: supported?"
                );
                // Every abbreviation Getopt::Long would complete to this option.
                for end in 1..name.len() {
                    let prefix = &name[..end];
                    let fits: Vec<&String> =
                        names.iter().filter(|n| n.starts_with(prefix)).collect();
                    if fits.len() != 1 {
                        continue;
                    }
                    let (matched, _) = parse_option(command, prefix)
                        .unwrap_or_else(|e| panic!("pct {command} --{prefix}: {e}"));
                    assert_eq!(&matched, name, "pct {command} --{prefix}");
                }
            }
        }
    }

    #[test]
    fn start_is_no_abbreviation_of_startup() {
        assert_eq!(
            parse_option("create", "start").unwrap(),
            ("start".to_string(), false)
        );
        assert_eq!(
            parse_option("create", "startu").unwrap(),
            ("startup".to_string(), false)
        );
        assert_eq!(
            parse_option("create", "sta").unwrap_err(),
            "Option sta is ambiguous (start, startup)"
        );
        assert_eq!(
            parse_option("create", "rest").unwrap(),
            ("restore".to_string(), true)
        );
    }

    #[test]
    fn light_tree_still_parses_its_commands() {
        let matches = command_for(&args(&["start", "100", "--debug"]))
            .try_get_matches_from(args(&["start", "100", "--debug"]))
            .unwrap();
        assert_eq!(matches.subcommand_name(), Some("start"));
        let light = build(false);
        let create = light.find_subcommand("create").unwrap();
        assert!(create.get_arguments().all(|a| a.get_id() != "memory"));
        let full = command();
        let create = full.find_subcommand("create").unwrap();
        assert!(create.get_arguments().any(|a| a.get_id() == "memory"));
    }
}
