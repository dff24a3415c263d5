//! The library as an embedder uses it: `corral::Host` and its containers driven through the
//! API, never through `pct` (which only sets containers up where a test says so).

#[path = "../common/mod.rs"]
mod common;

mod command;
