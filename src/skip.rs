//! Unit tests that cannot check what they are for on this machine say so where CI's output
//! shows it. The test harness captures `eprintln!` in a passing test and never shows it, so
//! the notice is written to the process's standard error directly.

use std::io::Write;

/// Report that the running test skipped its check, and why. The test is named by its thread,
/// which the harness names after the test.
pub(crate) fn report(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a unit test");
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {reason}");
}

/// Whether this process runs as root; when not, the test's skip is reported.
pub(crate) fn root_or_report() -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        report("needs root (run the unit tests as root to check it)");
    }
    root
}
