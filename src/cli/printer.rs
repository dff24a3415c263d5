//! How `pct` shows what an operation reports: each event printed the moment it comes, on
//! the stream pct uses for it (stdout for progress lines, stderr for warnings, notes and
//! debug steps), and extraction progress as a bar on a terminal's stderr.

use std::sync::Mutex;

use crate::report::{Event, Observer};

/// The observer `pct` runs every operation with.
pub fn observer() -> Observer {
    let bar: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);
    Observer::new(move |event| {
        let mut bar = bar.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match event {
            Event::Progress { done, total } => {
                bar.get_or_insert_with(|| progress_bar(*total))
                    .set_position(*done);
            }
            Event::ProgressEnd => {
                if let Some(bar) = bar.take() {
                    bar.finish_and_clear();
                }
            }
            Event::Info(text) => show(bar.as_ref(), || println!("{text}")),
            other => {
                if let Some(text) = other.text() {
                    show(bar.as_ref(), || eprintln!("{text}"));
                }
            }
        }
    })
}

/// Print with the progress bar, if one is drawn, out of the way.
fn show(bar: Option<&indicatif::ProgressBar>, print: impl FnOnce()) {
    match bar {
        Some(bar) => bar.suspend(print),
        None => print(),
    }
}

fn progress_bar(length: u64) -> indicatif::ProgressBar {
    let style = indicatif::ProgressStyle::with_template(
        "extracting [{bar:32}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    indicatif::ProgressBar::with_draw_target(Some(length), indicatif::ProgressDrawTarget::stderr())
        .with_style(style)
}

/// pct prints parse warnings to stderr and carries on.
pub fn print_warnings(warnings: &[crate::config::Warning]) {
    for warning in warnings {
        eprintln!("{}", warning.0);
    }
}
