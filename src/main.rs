fn main() {
    // Rust ignores SIGPIPE; a command-line tool piped into `head` should simply stop, as pct does.
    // SAFETY: restoring a default signal disposition before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // The monitor is this same binary, started as `corral monitor <vmid>`.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("monitor") {
        std::process::exit(corral::runtime::monitor::monitor_main(&args));
    }
    std::process::exit(corral::cli::main());
}
