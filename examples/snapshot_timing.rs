//! One `pct snapshot` through the library, timed: prints the milliseconds the snapshot took
//! in all and those the container was held frozen (`-` when it was not running), as
//! `total_ms frozen_ms`. `scripts/bench-snapshot` uses it; pct itself prints neither.
//!
//!     cargo run --example snapshot_timing -- <host-root> <vmid> <snapname>

use std::time::Instant;

use corral::{Host, Observer, Vmid};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, vmid, name] = args.as_slice() else {
        eprintln!("usage: snapshot_timing <host-root> <vmid> <snapname>");
        std::process::exit(2);
    };
    let vmid: Vmid = vmid.parse()?;
    let host = Host::open(root)?.with_observer(Observer::new(|event| {
        if let Some(text) = event.text() {
            eprintln!("{text}");
        }
    }));
    let start = Instant::now();
    let report = host.container(vmid).snapshot_with_report(name, None)?;
    let total = start.elapsed();
    for warning in &report.warnings {
        eprintln!("{}", warning.0);
    }
    let ms = |d: std::time::Duration| format!("{:.2}", d.as_secs_f64() * 1000.0);
    println!(
        "{} {}",
        ms(total),
        report.frozen_for.map_or("-".to_string(), ms)
    );
    Ok(())
}
