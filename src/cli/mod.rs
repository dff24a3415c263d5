//! The `pct` command line: argument parsing and pct-compatible output. It calls the library
//! and never does the work itself.

mod argv;
mod clone;
mod failure;
mod interrupt;
mod output;
mod printer;
mod snapshot;
mod terminal;
mod tree;
mod volume_tools;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use clap::ArgMatches;
use clap::error::ErrorKind;

use crate::config::{SetRequest, Vmid};
use crate::host::{CreateOptions, DestroyOptions, Error, Host, StartOptions};
use failure::Failure;
use output::Format;

pub use tree::command;

/// pct exits with 255 (Perl's `exit(-1)`) on every error.
const EXIT_FAILURE: i32 = 255;

pub fn main() -> i32 {
    run(std::env::args_os())
}

/// Run `pct` with these arguments (the first is the program name); returns the exit status.
/// Arguments are byte strings: a path or a command for `pct exec` need not be UTF-8.
pub fn run<I>(args: I) -> i32
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let args = argv::normalize(args);
    let args = match argv::expand_prefixes(args, |command| argv::OptionNames {
        pct: tree::pct_option_names(command),
        corral: tree::corral_option_names(command),
    }) {
        Ok(args) => args,
        Err(ambiguous) => {
            eprintln!(
                "{ambiguous}\n400 unable to parse option\n{}",
                short_usage(&ambiguous.command)
            );
            return EXIT_FAILURE;
        }
    };
    let command = argv::accept_byte_strings(tree::command_for(&args));
    let matches = match command.try_get_matches_from(&args) {
        Ok(matches) => matches,
        Err(error) => return report_usage_error(error, &args),
    };
    let (name, sub) = matches.subcommand().expect("a subcommand is required");
    if let Some(option) = tree::unsupported_option(sub) {
        eprintln!("option '--{option}' is not supported by corral yet");
        return EXIT_FAILURE;
    }
    match dispatch(name, sub) {
        Ok(()) => 0,
        Err(failure) => {
            let text = failure.to_string();
            if failure.wants_usage(&text) {
                eprintln!("{text}\n{}", short_usage(name));
            } else {
                eprintln!("{text}");
            }
            EXIT_FAILURE
        }
    }
}

fn host(matches: &ArgMatches) -> Result<Host, Error> {
    let host = match matches.get_one::<PathBuf>("root") {
        Some(root) => Host::open(root),
        None => Host::open("/"),
    }?;
    Ok(host.with_observer(printer::observer()))
}

fn vmid(matches: &ArgMatches) -> Result<Vmid, Error> {
    let text = matches.get_one::<String>("vmid").expect("vmid is required");
    text.parse()
        .map_err(|e: crate::config::VmidError| Error::param("vmid", e.parameter_message()))
}

/// pct's boolean words for flags that are not config options.
/// `--password VALUE`, or asked for twice on the terminal for a bare `--password`, as pct's
/// CLI does; pct's API wants at least 5 characters.
fn create_password(matches: &ArgMatches) -> Result<Option<String>, Failure> {
    let Some(given) = matches.get_one::<String>("password") else {
        return Ok(None);
    };
    let password = if given.is_empty() {
        let first = terminal::read_password("Enter new password: ")?;
        let second = terminal::read_password("Retype new password: ")?;
        if first != second {
            return Err(Failure::PasswordsDiffer);
        }
        first
    } else {
        given.clone()
    };
    if password.chars().count() < 5 {
        return Err(Error::param("password", "value must be at least 5 characters long").into());
    }
    Ok(Some(password))
}

fn flag(matches: &ArgMatches, name: &str) -> Result<bool, Error> {
    match matches
        .get_one::<String>(name)
        .map(|v| v.to_ascii_lowercase())
    {
        None => Ok(false),
        Some(v) if ["1", "on", "yes", "true"].contains(&v.as_str()) => Ok(true),
        Some(v) if ["0", "off", "no", "false"].contains(&v.as_str()) => Ok(false),
        Some(v) => Err(Error::param(
            name,
            format!("type check ('boolean') failed - got '{v}'"),
        )),
    }
}

/// A whole number of seconds, pct's `--timeout`.
fn seconds(matches: &ArgMatches, name: &str, default: u64) -> Result<std::time::Duration, Error> {
    match matches.get_one::<String>(name) {
        None => Ok(std::time::Duration::from_secs(default)),
        Some(v) => v
            .parse()
            .map(std::time::Duration::from_secs)
            .map_err(|_| Error::param(name, format!("type check ('integer') failed - got '{v}'"))),
    }
}

fn format(matches: &ArgMatches) -> Format {
    Format::from_arg(matches.get_one::<String>("output-format"))
}

fn dispatch(name: &str, m: &ArgMatches) -> Result<(), Failure> {
    match name {
        "list" => {
            let (entries, warnings) = host(m)?.list()?;
            printer::print_warnings(&warnings);
            output::list(&entries, format(m));
        }
        "config" => {
            let host = host(m)?;
            let ct = host.container(vmid(m)?);
            let (config, digest) = ct.config_and_digest()?;
            let section = match m.get_one::<String>("snapshot") {
                Some(name) => config
                    .snapshots
                    .get(name)
                    .cloned()
                    .ok_or_else(|| Failure::NoSnapshot(name.clone()))?,
                None if flag(m, "current")? => config.main.clone(),
                None => config.with_pending_applied(),
            };
            output::config(&section, &digest, format(m));
        }
        "create" => {
            let host = host(m)?;
            let mut options: Vec<(String, String)> = tree::given_config_options(m);
            let unprivileged = match options.iter().position(|(key, _)| key == "unprivileged") {
                Some(index) => {
                    let (_, value) = options.remove(index);
                    let value = crate::config::check_option("unprivileged", &value)
                        .map_err(|e| Error::param("unprivileged", e.0))?;
                    Some(value == "1")
                }
                None => None,
            };
            let create =
                CreateOptions {
                    template: m
                        .get_one::<OsString>("ostemplate")
                        .cloned()
                        .unwrap_or_default(),
                    storage: m.get_one::<String>("storage").cloned(),
                    options,
                    unprivileged,
                    force: flag(m, "force")?,
                    ignore_unpack_errors: flag(m, "ignore-unpack-errors")?,
                    progress: std::io::stderr().is_terminal(),
                    password: create_password(m)?,
                    ssh_public_keys: match m.get_one::<PathBuf>("ssh-public-keys") {
                        Some(path) => Some(std::fs::read_to_string(path).map_err(|source| {
                            Failure::KeysFile {
                                shown: crate::text::for_message(path.as_os_str().as_bytes())
                                    .to_string(),
                                source,
                            }
                        })?),
                        None => None,
                    },
                    pool: m.get_one::<String>("pool").cloned(),
                    cancel: None,
                };
            let start = flag(m, "start")?;
            let ct = host.container(vmid(m)?);
            // After the password prompt, which Ctrl-C must still end at once.
            let create = CreateOptions {
                cancel: Some(interrupt::cancel_on_signals()),
                ..create
            };
            ct.create(&create)?;
            // pct starts the container once its create task succeeded; a failed start
            // leaves the container created.
            if start {
                ct.start(&StartOptions::default())?;
            }
        }
        "destroy" => {
            let host = host(m)?;
            let options = DestroyOptions {
                force: flag(m, "force")?,
                purge: flag(m, "purge")?,
                destroy_unreferenced_disks: flag(m, "destroy-unreferenced-disks")?,
            };
            let warnings = host.container(vmid(m)?).destroy(options)?;
            printer::print_warnings(&warnings);
        }
        "set" => {
            let host = host(m)?;
            let list = |name: &str| -> Vec<String> {
                m.get_many::<String>(name)
                    .into_iter()
                    .flatten()
                    .flat_map(|value| {
                        value
                            .split([',', ';', ' '])
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect::<Vec<_>>()
                    })
                    .collect()
            };
            let request = SetRequest {
                set: tree::given_config_options(m),
                delete: list("delete"),
                revert: list("revert"),
            };
            let warnings = host
                .container(vmid(m)?)
                .set(&request, m.get_one::<String>("digest").map(String::as_str))?;
            printer::print_warnings(&warnings);
        }
        "pending" => {
            output::pending(&host(m)?.container(vmid(m)?).pending()?, format(m));
        }
        "listsnapshot" => {
            output::snapshot_tree(&host(m)?.container(vmid(m)?).snapshot_tree()?);
        }
        "status" => {
            let status = host(m)?.container(vmid(m)?).status()?;
            output::status(&status, flag(m, "verbose")?, format(m));
        }
        "unlock" => host(m)?.container(vmid(m)?).unlock()?,
        "mount" => {
            let host = host(m)?;
            let id = vmid(m)?;
            host.container(id).mount()?;
            println!("mounted CT {id} in '/var/lib/lxc/{id}/rootfs'");
        }
        "unmount" => host(m)?.container(vmid(m)?).unmount()?,
        "resize" => {
            let host = host(m)?;
            let size = m.get_one::<String>("size").expect("size is required");
            let disk = m.get_one::<String>("disk").expect("disk is required");
            let warnings = host.container(vmid(m)?).resize(
                disk,
                size.parse()?,
                m.get_one::<String>("digest").map(String::as_str),
            )?;
            printer::print_warnings(&warnings);
        }
        "move-volume" => move_volume(m)?,
        "df" => output::df(&host(m)?.container(vmid(m)?).disk_usage()?),
        "start" => {
            let host = host(m)?;
            let ct = host.container(vmid(m)?);
            if flag(m, "dry-run")? {
                let plan = ct.start_plan()?;
                match format(m) {
                    Format::Text => print!("{}", plan.describe()),
                    other => output::json(&plan, other),
                }
                return Ok(());
            }
            let options = StartOptions {
                skiplock: flag(m, "skiplock")?,
                debug: flag(m, "debug")?,
                foreground: flag(m, "foreground")?,
                strict_limits: flag(m, "strict-limits")?,
            };
            if let Some(exit) = ct.start(&options)? {
                std::process::exit(exit.code());
            }
        }
        "stop" => host(m)?.container(vmid(m)?).stop(flag(m, "skiplock")?)?,
        "shutdown" => {
            let timeout = seconds(m, "timeout", 60)?;
            host(m)?
                .container(vmid(m)?)
                .shutdown(timeout, flag(m, "forceStop")?)?
        }
        "reboot" => {
            let timeout = seconds(m, "timeout", 60)?;
            host(m)?.container(vmid(m)?).reboot(timeout)?
        }
        "startall" => {
            for (vmid, result) in host(m)?.start_all()? {
                if let Err(e) = result {
                    eprintln!("Starting CT {vmid} failed: {e}");
                }
            }
        }
        "stopall" => {
            let timeout = seconds(m, "timeout", 60)?;
            let force = match m.get_one::<String>("force-stop") {
                None => true,
                Some(_) => flag(m, "force-stop")?,
            };
            for (vmid, result) in host(m)?.stop_all(timeout, force)? {
                if let Err(e) = result {
                    eprintln!("Stopping CT {vmid} failed: {e}");
                }
            }
        }
        "cpusets" => output::cpusets(&host(m)?.cpusets()?),
        "suspend" => host(m)?.container(vmid(m)?).set_suspended(true)?,
        "resume" => host(m)?.container(vmid(m)?).set_suspended(false)?,
        "exec" => {
            let command: Vec<OsString> = m
                .get_many::<OsString>("extra-args")
                .map(|v| v.cloned().collect())
                .unwrap_or_default();
            if command.is_empty() {
                return Err(Failure::MissingCommand);
            }
            // As lxc-attach: when any of our stdio is a terminal the command gets a pty of
            // the container's own, relayed; a host terminal inside would let it type into it.
            let terminal = std::io::stdin().is_terminal()
                || std::io::stdout().is_terminal()
                || std::io::stderr().is_terminal();
            let host = host(m)?;
            let container = host.container(vmid(m)?);
            let mut exec = container.command(&command);
            exec.keep_env(flag(m, "keep-env")?).tty(terminal);
            let status = if terminal {
                exec.spawn()?
                    .interact()
                    .map_err(|e| Error::io("attach", e))?
            } else {
                exec.status()?
            };
            std::process::exit(crate::host::exit_code(status));
        }
        "enter" => {
            let code = host(m)?.container(vmid(m)?).enter(flag(m, "keep-env")?)?;
            std::process::exit(code);
        }
        "console" => {
            let escape = m.get_one::<String>("escape").map(String::as_str);
            let code = host(m)?.container(vmid(m)?).console(escape)?;
            std::process::exit(code);
        }
        "template" | "clone" => clone::dispatch(name, m).expect("a clone command")?,
        "snapshot" | "delsnapshot" | "rollback" => {
            snapshot::dispatch(name, m).expect("a snapshot command")?
        }
        "push" | "pull" | "fsck" | "fstrim" | "rescan" => {
            volume_tools::dispatch(name, m).expect("a volume tool")?
        }
        "help" => help(m)?,
        "completions" => {
            let shell = *m
                .get_one::<clap_complete::Shell>("shell")
                .expect("shell is required");
            clap_complete::generate(shell, &mut command(), "pct", &mut std::io::stdout());
        }
        "man" => {
            clap_mangen::Man::new(command())
                .render(&mut std::io::stdout())
                .map_err(|e| Error::io("unable to write the man page", e))?;
        }
        other => return Err(Failure::UnknownCommand(other.to_string())),
    }
    Ok(())
}

/// `pct move-volume <vmid> <volume> [<storage>] [<target-vmid>] [<target-volume>]`; the
/// last three also as options.
fn move_volume(m: &ArgMatches) -> Result<(), Error> {
    let either = |name: &str| {
        m.get_one::<String>(name)
            .or_else(|| m.get_one::<String>(&format!("{name}-option")))
            .map(String::as_str)
            // pct takes an empty word for "not given": `pct move-volume 100 mp0 '' 101`.
            .filter(|value| !value.is_empty())
    };
    let target_vmid = match either("target-vmid") {
        Some(text) => Some(text.parse().map_err(|e: crate::config::VmidError| {
            Error::param("target-vmid", e.parameter_message())
        })?),
        None => None,
    };
    let target = crate::host::MoveTarget::from_args(
        either("storage"),
        target_vmid,
        either("target-volume"),
    )?;
    let bwlimit = bwlimit(m)?;
    let options = crate::host::MoveVolumeOptions {
        delete: flag(m, "delete")?,
        digest: m.get_one::<String>("digest").cloned(),
        target_digest: m.get_one::<String>("target-digest").cloned(),
        bwlimit,
    };
    let volume = m.get_one::<String>("volume").expect("volume is required");
    let warnings = host(m)?
        .container(vmid(m)?)
        .move_volume(volume, &target, &options)?;
    printer::print_warnings(&warnings);
    Ok(())
}

/// `--bwlimit`: pct's `number`, KiB/s; rsync takes whole KiB.
fn bwlimit(m: &ArgMatches) -> Result<Option<u64>, Error> {
    let Some(text) = m.get_one::<String>("bwlimit") else {
        return Ok(None);
    };
    match text.parse::<f64>() {
        Ok(value) if value >= 0.0 && value.is_finite() => Ok(Some(value as u64)),
        Ok(_) => Err(Error::param(
            "bwlimit",
            "value must have a minimum value of 0",
        )),
        Err(_) => Err(Error::param(
            "bwlimit",
            format!("type check ('number') failed - got '{text}'"),
        )),
    }
}

/// `pct help [COMMAND] [--verbose]`.
fn help(m: &ArgMatches) -> Result<(), Failure> {
    let words: Vec<&String> = m
        .get_many::<String>("extra-args")
        .into_iter()
        .flatten()
        .collect();
    let mut root = command();
    match words.first() {
        Some(name) => {
            let Some(sub) = root
                .find_subcommand_mut(name.as_str())
                .filter(|c| !c.is_hide_set())
            else {
                return Err(Failure::NoSuchCommand(name.to_string()));
            };
            let mut sub = sub.clone().name(format!("pct {name}"));
            println!("{}", sub.render_long_help());
        }
        None if flag(m, "verbose")? => {
            println!("USAGE: pct <COMMAND> [ARGS] [OPTIONS]\n");
            for sub in visible_commands(&root) {
                let mut sub = sub.clone().name(format!("pct {}", sub.get_name()));
                println!("{}", sub.render_long_help());
            }
        }
        None => print!("{}", overview()),
    }
    Ok(())
}

fn visible_commands(root: &clap::Command) -> Vec<&clap::Command> {
    let mut commands: Vec<&clap::Command> = root
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .collect();
    commands.sort_by_key(|c| c.get_name().to_string());
    commands
}

/// `pct <name> <args> [OPTIONS]`, as pct's short usage prints it.
fn short_usage(name: &str) -> String {
    let root = command();
    let Some(sub) = root.find_subcommand(name) else {
        return String::new();
    };
    let mut line = format!("pct {name}");
    for arg in sub.get_positionals() {
        let value = arg.get_id().as_str();
        if arg.is_required_set() {
            line.push_str(&format!(" <{value}>"));
        } else {
            line.push_str(&format!(" [<{value}>]"));
        }
    }
    if sub
        .get_arguments()
        .any(|a| !a.is_positional() && !a.is_hide_set() && a.get_id() != "root")
    {
        line.push_str(" [OPTIONS]");
    }
    line
}

fn overview() -> String {
    let root = command();
    let mut text = String::from("USAGE: pct <COMMAND> [ARGS] [OPTIONS]\n\n");
    for sub in visible_commands(&root) {
        text.push_str(&format!("       {}\n", short_usage(sub.get_name())));
    }
    text
}

/// Usage errors in pct's words (`400 not enough arguments`, `unknown command`), exit 255.
/// The subcommand as typed: the first word that is no option, past the global `--root DIR`.
fn subcommand_word(args: &[OsString]) -> Option<&OsString> {
    let mut words = args.iter().skip(1);
    while let Some(word) = words.next() {
        match word.as_bytes() {
            b"--root" => {
                words.next();
            }
            bytes if bytes.starts_with(b"-") => {}
            _ => return Some(word),
        }
    }
    None
}

fn report_usage_error(error: clap::Error, args: &[OsString]) -> i32 {
    let subcommand = subcommand_word(args)
        .map(|a| crate::text::for_message(a.as_bytes()))
        .unwrap_or_default();
    let usage = short_usage(&subcommand);
    let message = match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            print!("{error}");
            return 0;
        }
        ErrorKind::InvalidSubcommand => {
            format!("ERROR: unknown command 'pct {subcommand}'\n{}", overview())
        }
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            format!("ERROR: no command specified\n{}", overview())
        }
        ErrorKind::MissingRequiredArgument => format!("400 not enough arguments\n{usage}"),
        ErrorKind::InvalidUtf8 => {
            format!(
                "400 Parameter verification failed.\n{}\n{usage}",
                not_utf8_parameter(args)
            )
        }
        ErrorKind::UnknownArgument => {
            let offending = error
                .get(clap::error::ContextKind::InvalidArg)
                .map(|v| v.to_string())
                .unwrap_or_default();
            if offending.starts_with('-') {
                // clap's copy of the word is lossy; show the word as given.
                let raw = args
                    .iter()
                    .map(|a| a.as_bytes())
                    .find(|a| String::from_utf8_lossy(a) == offending)
                    .unwrap_or(offending.as_bytes());
                let option = raw
                    .iter()
                    .position(|&b| b != b'-')
                    .map(|start| &raw[start..])
                    .and_then(|name| name.split(|&b| b == b'=').next())
                    .unwrap_or_default();
                let option = crate::text::for_message(option);
                format!("Unknown option: {option}\n400 unable to parse option\n{usage}")
            } else {
                format!("400 too many arguments\n{usage}")
            }
        }
        ErrorKind::InvalidValue => {
            // pct's enum check, under the option's name.
            let context = |kind| error.get(kind).map(|v| v.to_string()).unwrap_or_default();
            let option = context(clap::error::ContextKind::InvalidArg);
            let option = option
                .trim_start_matches('-')
                .split([' ', '='])
                .next()
                .unwrap_or_default()
                .to_string();
            let value = context(clap::error::ContextKind::InvalidValue);
            if value.is_empty() {
                // clap's word for a missing value; Getopt::Long's, as pct prints it.
                eprintln!(
                    "Option {option} requires an argument\n400 unable to parse option\n{usage}"
                );
                return EXIT_FAILURE;
            }
            let choices = match error.get(clap::error::ContextKind::ValidValue) {
                Some(clap::error::ContextValue::Strings(values)) => values.join(", "),
                _ => String::new(),
            };
            format!(
                "400 Parameter verification failed.\n{option}: value '{value}' does not have a value in the enumeration '{choices}'\n{usage}"
            )
        }
        _ => {
            let detail = error.to_string();
            let first = detail
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ")
                .to_string();
            format!("400 Parameter verification failed.\n{first}\n{usage}")
        }
    };
    eprintln!("{message}");
    EXIT_FAILURE
}

/// `name: value is not valid UTF-8 - got '...'` for the first argument that is not UTF-8, when
/// clap's own parser refused it: `--name VALUE`, `--name=VALUE`, or a bare value.
fn not_utf8_parameter(args: &[OsString]) -> String {
    let Some(at) = args.iter().position(|a| a.to_str().is_none()) else {
        return "invalid UTF-8 was detected in one or more arguments".into();
    };
    let bad = args[at].as_bytes();
    let option = |word: &[u8]| word.strip_prefix(b"--").map(|name| name.to_vec());
    let (name, value) = match bad.iter().position(|&b| b == b'=') {
        Some(eq) if bad.starts_with(b"--") => (Some(bad[2..eq].to_vec()), &bad[eq + 1..]),
        _ => (
            at.checked_sub(1)
                .and_then(|before| option(args[before].as_bytes())),
            bad,
        ),
    };
    format!(
        "{}: value is not valid UTF-8 - got '{}'",
        crate::text::for_message(name.as_deref().unwrap_or(b"value")),
        crate::text::for_message(value)
    )
}
