//! The library as an embedder uses it: `corral::Host` and its containers driven through the
//! API only, from several threads, never through `pct` (which only sets containers up where a
//! test says so). Runs as root; CTIDs 92xx.

#[path = "../common/mod.rs"]
mod common;

mod command;
mod lifecycle;
