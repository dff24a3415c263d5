//! `pct snapshot`, `delsnapshot` and `rollback`: their arguments.

use clap::{Arg, ArgMatches, Command};

use super::tree::flag;
use super::{host, printer, vmid};
use crate::host::Error;

/// pct's option names of these commands (see `tree::PCT_OPTIONS`).
pub const PCT_OPTIONS: &[(&str, &[&str])] = &[
    ("delsnapshot", &["vmid", "snapname", "force"]),
    ("rollback", &["vmid", "snapname", "start"]),
    ("snapshot", &["vmid", "snapname", "description"]),
];

/// The commands, for the tree.
pub fn commands() -> Vec<Command> {
    vec![
        Command::new("snapshot")
            .about("Snapshot a container.")
            .arg(vmid_arg())
            .arg(snapname_arg())
            .arg(
                Arg::new("description")
                    .long("description")
                    .value_name("STRING")
                    .help("A textual description or comment."),
            ),
        Command::new("delsnapshot")
            .about("Delete a LXC snapshot.")
            .arg(vmid_arg())
            .arg(snapname_arg())
            .arg(flag(
                "force",
                "For removal from config file, even if removing disk snapshots fails.",
            )),
        Command::new("rollback")
            .about("Rollback LXC state to specified snapshot.")
            .arg(vmid_arg())
            .arg(snapname_arg())
            .arg(flag(
                "start",
                "Whether the container should get started after rolling back successfully (default = 0)",
            )),
    ]
}

fn vmid_arg() -> Arg {
    Arg::new("vmid")
        .required(true)
        .value_name("vmid")
        .help("The (unique) ID of the VM. <integer> (100 - 999999999)")
}

fn snapname_arg() -> Arg {
    Arg::new("snapname")
        .required(true)
        .value_name("snapname")
        .help("The name of the snapshot.")
}

/// Run one of these commands; `None` when `name` is not one of them.
pub fn dispatch(name: &str, m: &ArgMatches) -> Option<Result<(), Error>> {
    let run = || -> Result<(), Error> {
        let snapname = m
            .get_one::<String>("snapname")
            .map(String::as_str)
            .unwrap_or_default();
        match name {
            "snapshot" => {
                let description = m.get_one::<String>("description").map(String::as_str);
                let warnings = host(m)?
                    .container(vmid(m)?)
                    .snapshot(snapname, description)?;
                printer::print_warnings(&warnings);
            }
            "delsnapshot" => {
                let force = super::flag(m, "force")?;
                let warnings = host(m)?
                    .container(vmid(m)?)
                    .delete_snapshot(snapname, force)?;
                printer::print_warnings(&warnings);
            }
            "rollback" => {
                let start = super::flag(m, "start")?;
                host(m)?.container(vmid(m)?).rollback(snapname, start)?;
            }
            _ => unreachable!("checked by the caller"),
        }
        Ok(())
    };
    ["snapshot", "delsnapshot", "rollback"]
        .contains(&name)
        .then(run)
}
