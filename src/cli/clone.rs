//! `pct template` and `pct clone`: their arguments.

use clap::{Arg, ArgMatches, Command};

use super::tree::flag;
use super::{host, vmid};
use crate::host::{CloneOptions, Error};

/// pct's option names of these commands (see `tree::PCT_OPTIONS`).
pub const PCT_OPTIONS: &[(&str, &[&str])] = &[
    (
        "clone",
        &[
            "vmid",
            "newid",
            "bwlimit",
            "description",
            "full",
            "hostname",
            "pool",
            "snapname",
            "storage",
            "target",
        ],
    ),
    ("template", &["vmid"]),
];

/// The commands, for the tree.
pub fn commands() -> Vec<Command> {
    let option = |name: &'static str, value: &'static str, help: &'static str| {
        Arg::new(name).long(name).value_name(value).help(help)
    };
    vec![
        Command::new("template")
            .about("Create a Template.")
            .arg(vmid_arg()),
        Command::new("clone")
            .about("Create a container clone/copy")
            .arg(vmid_arg())
            .arg(
                Arg::new("newid")
                    .required(true)
                    .value_name("newid")
                    .help("VMID for the clone. <integer> (100 - 999999999)"),
            )
            .arg(option(
                "bwlimit",
                "NUMBER",
                "Override I/O bandwidth limit (in KiB/s).",
            ))
            .arg(option("description", "STRING", "Description for the new CT."))
            .arg(flag(
                "full",
                "Create a full copy of all disks. This is always done when you clone a normal CT. For CT templates, we try to create a linked clone by default.",
            ))
            .arg(option("hostname", "STRING", "Set a hostname for the new CT."))
            .arg(option(
                "pool",
                "STRING",
                "Add the new CT to the specified pool.",
            ))
            .arg(option(
                "snapname",
                "STRING",
                "The name of the snapshot.",
            ))
            .arg(option(
                "storage",
                "STRING",
                "Target storage for full clone.",
            ))
            .arg(option(
                "target",
                "STRING",
                "Target node. Only allowed if the original VM is on shared storage.",
            )),
    ]
}

fn vmid_arg() -> Arg {
    Arg::new("vmid")
        .required(true)
        .value_name("vmid")
        .help("The (unique) ID of the VM. <integer> (100 - 999999999)")
}

/// Run one of these commands; `None` when `name` is not one of them.
pub fn dispatch(name: &str, m: &ArgMatches) -> Option<Result<(), Error>> {
    let run = || -> Result<(), Error> {
        match name {
            "template" => host(m)?.container(vmid(m)?).template(),
            "clone" => {
                let newid = m
                    .get_one::<String>("newid")
                    .expect("newid is required")
                    .parse()
                    .map_err(|e: crate::config::VmidError| {
                        Error::param("newid", e.parameter_message())
                    })?;
                let text = |name: &str| m.get_one::<String>(name).cloned();
                let full = match m.get_one::<String>("full") {
                    None => None,
                    Some(_) => Some(super::flag(m, "full")?),
                };
                let options = CloneOptions {
                    hostname: text("hostname"),
                    description: text("description"),
                    full,
                    snapname: text("snapname"),
                    storage: text("storage"),
                    target: text("target"),
                    bwlimit: super::bwlimit(m)?,
                    pool: text("pool"),
                };
                host(m)?.container(vmid(m)?).clone_to(newid, &options)
            }
            _ => unreachable!("checked by the caller"),
        }
    };
    ["template", "clone"].contains(&name).then(run)
}
