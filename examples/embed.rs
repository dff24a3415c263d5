//! A container's whole life through the corral library: create it from a template, start
//! it, run a command in it, stop it and destroy it again.
//!
//!     cargo run --example embed -- <host-root> <template> [vmid]
//!
//! e.g. `cargo run --example embed -- /var/tmp/demo /var/tmp/busybox.tar.gz 200` (as root;
//! `scripts/make-busybox-template` makes a small template, an empty directory will do as the
//! host root). The vmid defaults to 100.

use std::time::Duration;

use corral::host::DestroyOptions;
use corral::{Container, CreateOptions, Host, Observer, StartOptions, Vmid};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(root), Some(template)) = (args.next(), args.next()) else {
        eprintln!("usage: embed <host-root> <template> [vmid]");
        std::process::exit(2);
    };
    let vmid: Vmid = match args.next() {
        Some(vmid) => vmid.to_string_lossy().parse()?,
        None => Vmid::new(100)?,
    };

    // The library prints nothing: what pct would print (extraction progress lines,
    // warnings) comes to this observer, which shows the lines on stderr.
    let host = Host::open(&root)?.with_observer(Observer::new(|event| {
        if let Some(text) = event.text() {
            eprintln!("{text}");
        }
    }));
    // Templates are found on the host's storage: put this one in `local`'s template cache.
    let name = std::path::Path::new(&template)
        .file_name()
        .ok_or("the template path names no file")?
        .to_string_lossy()
        .into_owned();
    let cache = host.path("var/lib/vz/template/cache");
    std::fs::create_dir_all(&cache)?;
    std::fs::copy(&template, cache.join(&name))?;

    let ct = host.container(vmid);
    ct.create(&CreateOptions {
        template: format!("local:vztmpl/{name}").into(),
        options: vec![
            ("hostname".into(), "embedded".into()),
            ("memory".into(), "256".into()),
            ("rootfs".into(), "local:0".into()),
        ],
        ..CreateOptions::default()
    })?;
    println!("created CT {vmid}");

    // Whatever happens while it runs, the container goes again.
    let lived = live(&ct);
    let warnings = ct.destroy(DestroyOptions {
        force: true,
        ..DestroyOptions::default()
    })?;
    for warning in warnings {
        eprintln!("warning: {}", warning.0);
    }
    println!("destroyed CT {vmid}");
    lived
}

fn live(ct: &Container<'_>) -> Result<(), Box<dyn std::error::Error>> {
    ct.start(&StartOptions::default())?;
    println!("started CT {}: {}", ct.vmid(), ct.status()?.status);
    // A command inside, its output captured as std::process::Command captures one.
    let output = ct
        .command(["/bin/sh", "-c", "echo hello from $(hostname)"])
        .output()?;
    print!("{}", String::from_utf8_lossy(&output.stdout));
    println!("the command exited with {}", output.status);
    ct.stop(false)?;
    let exit = ct.wait_stopped(Some(Duration::from_secs(10)))?;
    println!(
        "stopped CT {} ({exit:?}): {}",
        ct.vmid(),
        ct.status()?.status
    );
    Ok(())
}
