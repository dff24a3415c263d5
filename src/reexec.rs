//! corral's own binary, exec'd as a child of the library: the one `.init_array` constructor
//! that turns a fresh exec of `/proc/self/exe` into the process a request in its environment
//! asks for, before the program's `main` runs.
//!
//! Design: a child that must run corral's code (allocation, formatting, file system work)
//! is never a plain fork of the caller, which may be a multi-threaded embedder: a fork
//! copies only the forking thread, with every lock another thread held at that moment (a C
//! library's, Rust's environment and stdio locks, an allocator's) held forever in the child.
//! The caller spawns its own binary through `std::process::Command` instead, whose child does
//! only async-signal-safe work until exec, and the constructor here runs in a process that
//! has one thread and fresh locks. Every program that links corral has it, so no helper
//! binary has to be installed or found. The kinds of request:
//!
//! - [`crate::runtime::launch::REQUEST_ENV`]: the monitor's launcher (`runtime::launch`);
//! - [`crate::storage::template::EXTRACT_REQUEST_ENV`]: a template extraction
//!   (`storage::template::confine`);
//! - [`crate::host::PUSH_REQUEST_ENV`]: the copy of `pct push` inside a container
//!   (`host::push`).
//!
//! Without any of these variables the constructor returns at once and the program runs as usual.

use std::ffi::OsString;

use crate::runtime::launch;
use crate::storage::template;

#[used]
#[unsafe(link_section = ".init_array")]
static ENTRY: extern "C" fn() = entry;

extern "C" fn entry() {
    if let Some(request) = take_env(launch::REQUEST_ENV) {
        launch::monitor_helper(request)
    }
    if let Some(request) = take_env(template::EXTRACT_REQUEST_ENV) {
        template::extraction_process(request)
    }
    if let Some(request) = take_env(crate::host::PUSH_REQUEST_ENV) {
        crate::host::push_process(request)
    }
}

/// The request, removed from the environment before anything else runs, so that nothing the
/// process starts later sees it.
fn take_env(name: &str) -> Option<OsString> {
    let value = std::env::var_os(name)?;
    // SAFETY: before main, in a freshly exec'd process: no other thread exists to read the
    // environment.
    unsafe { std::env::remove_var(name) };
    Some(value)
}
