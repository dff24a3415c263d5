//! Create a container with the corral library, the way `pct create` does.
//!
//!     cargo run --example create_container -- <host-root> <vmid> <template>
//!
//! e.g. `cargo run --example create_container -- /var/tmp/demo 200 local:vztmpl/busybox.tar.gz`
//! (the template must be in `<host-root>/var/lib/vz/template/cache`).

use corral::{CreateOptions, Host, Observer, Vmid};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(root), Some(vmid), Some(template)) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: create_container <host-root> <vmid> <template>");
        std::process::exit(2);
    };
    // The library prints nothing: its progress lines and warnings come to this observer.
    let host = Host::open(&root)?.with_observer(Observer::new(|event| {
        if let Some(text) = event.text() {
            eprintln!("{text}");
        }
    }));
    let Some(vmid) = vmid.to_str() else {
        eprintln!("vmid: value is not valid UTF-8");
        std::process::exit(2);
    };
    let ct = host.container(vmid.parse::<Vmid>()?);
    let options = CreateOptions {
        template,
        options: vec![
            ("hostname".into(), "library-made".into()),
            ("memory".into(), "256".into()),
            ("rootfs".into(), "local:0".into()),
        ],
        ..CreateOptions::default()
    };
    let config = ct.create(&options)?;
    print!("{}", config.write()?);
    Ok(())
}
