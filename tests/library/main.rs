//! The library as an embedder uses it: create, start, wait and stop through `corral`'s API
//! only, from several threads, without the `pct` binary. Runs as root; CTIDs 92xx.

#[path = "../common/mod.rs"]
mod common;

mod lifecycle;
