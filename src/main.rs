fn main() {
    // Rust ignores SIGPIPE; a command-line tool piped into `head` should simply stop, as pct does.
    // SAFETY: restoring a default signal disposition before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(corral::cli::main());
}
