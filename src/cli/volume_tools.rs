//! `pct push`, `pull`, `fsck`, `fstrim` and `rescan`: their arguments and output.

use std::path::PathBuf;

use clap::{Arg, ArgMatches, Command};

use super::tree::flag;
use super::{host, vmid};
use crate::host::{Error, FileOptions, FsckOptions};

/// pct's option names of these commands (see `tree::PCT_OPTIONS`).
pub const PCT_OPTIONS: &[(&str, &[&str])] = &[
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
];

/// The commands, for the tree.
pub fn commands() -> Vec<Command> {
    let owner_options = |command: Command| {
        command
            .arg(
                Arg::new("user")
                    .long("user")
                    .value_name("STRING")
                    .help("Owner user name or id."),
            )
            .arg(
                Arg::new("group")
                    .long("group")
                    .value_name("STRING")
                    .help("Owner group name or id."),
            )
            .arg(Arg::new("perms").long("perms").value_name("STRING").help(
                "File permissions to use (octal by default, prefix with '0x' for hexadecimal).",
            ))
    };
    vec![
        owner_options(
            Command::new("push")
                .about("Copy a local file to the container.")
                .arg(vmid_arg())
                .arg(positional("file", "Path to a local file."))
                .arg(positional("destination", "Destination inside the container to write to.")),
        ),
        owner_options(
            Command::new("pull")
                .about("Copy a file from the container to the local system.")
                .arg(vmid_arg())
                .arg(positional("path", "Path to a file inside the container to pull."))
                .arg(positional("destination", "Destination")),
        ),
        Command::new("fsck")
            .about("Run a filesystem check (fsck) on a container volume.")
            .arg(vmid_arg())
            .arg(flag("force", "Force checking, even if the filesystem seems clean"))
            .arg(
                Arg::new("device")
                    .long("device")
                    .value_name("ENUM")
                    .help("A volume on which to run the filesystem check (rootfs | mp0 .. mp255)"),
            ),
        Command::new("fstrim")
            .about("Run fstrim on a chosen CT and its mountpoints, except bind or read-only mountpoints.")
            .arg(vmid_arg())
            .arg(flag("ignore-mountpoints", "Skip all mountpoints, only do fstrim on the container root.")),
        Command::new("rescan")
            .about("Rescan all storages and update disk sizes and unused disk images.")
            .arg(
                Arg::new("vmid")
                    .long("vmid")
                    .value_name("INTEGER")
                    .help("The (unique) ID of the VM. <integer> (100 - 999999999)"),
            )
            .arg(flag("dryrun", "Do not actually write changes to the configuration.")),
    ]
}

fn vmid_arg() -> Arg {
    Arg::new("vmid")
        .required(true)
        .value_name("vmid")
        .help("The (unique) ID of the VM. <integer> (100 - 999999999)")
}

fn positional(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name).required(true).value_name(name).help(help)
}

fn file_options(m: &ArgMatches) -> FileOptions {
    let text = |name: &str| m.get_one::<String>(name).cloned();
    FileOptions {
        perms: text("perms"),
        user: text("user"),
        group: text("group"),
    }
}

fn text<'m>(m: &'m ArgMatches, name: &str) -> &'m str {
    m.get_one::<String>(name)
        .map(String::as_str)
        .unwrap_or_default()
}

/// Run one of these commands; `None` when `name` is not one of them.
pub fn dispatch(name: &str, m: &ArgMatches) -> Option<Result<(), Error>> {
    let run = || -> Result<(), Error> {
        match name {
            "push" => host(m)?.container(vmid(m)?).push(
                &PathBuf::from(text(m, "file")),
                text(m, "destination"),
                &file_options(m),
            ),
            "pull" => host(m)?.container(vmid(m)?).pull(
                text(m, "path"),
                &PathBuf::from(text(m, "destination")),
                &file_options(m),
            ),
            "fsck" => {
                let options = FsckOptions {
                    device: m.get_one::<String>("device").cloned(),
                    force: super::flag(m, "force")?,
                };
                if let Some(device) = &options.device {
                    crate::host::check_fsck_device(device)?;
                }
                // fsck's own words reach stdout through the observer.
                host(m)?.container(vmid(m)?).fsck(&options).map(drop)
            }
            "fstrim" => {
                let ignore = super::flag(m, "ignore-mountpoints")?;
                // Each volume's line reaches stdout (or stderr) through the observer.
                host(m)?.container(vmid(m)?).fstrim(ignore).map(drop)
            }
            "rescan" => {
                let dry_run = super::flag(m, "dryrun")?;
                let vmid = match m.get_one::<String>("vmid") {
                    Some(_) => Some(vmid(m)?),
                    None => None,
                };
                let host = host(m)?;
                if dry_run {
                    println!("NOTE: running in dry-run mode, won't write changes out!");
                }
                host.rescan(vmid, dry_run).map(drop)
            }
            _ => unreachable!("dispatch is asked for its own commands only"),
        }
    };
    PCT_OPTIONS
        .iter()
        .any(|(command, _)| *command == name)
        .then(run)
}
