//! Feed arbitrary bytes to the config parser in both modes (pct reads configs as bytes). Whatever parses must write, and
//! what is written must parse again and write identically.

#![no_main]

use corral::config::{Config, ParseMode, Vmid};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = data;
    let vmid = Vmid::new(100).unwrap();
    for mode in [ParseMode::Lenient, ParseMode::Strict] {
        let Ok((config, _)) = Config::parse(vmid, text, mode) else { continue };
        let _ = config.pending_changes();
        let _ = config.with_pending_applied();
        let Ok(written) = config.write() else { continue };
        let (again, _) = Config::parse(vmid, &written, ParseMode::Lenient).expect("a written config parses leniently");
        assert_eq!(again.write().expect("a reparsed config writes"), written, "write is a fixed point");
    }
});
