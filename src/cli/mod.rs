//! The `pct` command line: argument parsing and pct-compatible output. It calls the library
//! and never does the work itself.

pub fn main() -> i32 {
    0
}
