//! What an operation tells its caller while it runs: pct's progress lines, warnings and
//! notes, extraction progress, the start's debug steps. The library never prints; it hands
//! each [`Event`] to the [`Observer`] of the [`Host`](crate::Host) the call runs on, at the
//! moment pct would print it, and the `pct` binary prints it there.
//!
//! Why an observer and not the `log` facade: a logger is global to the process, so a program
//! running several operations at once (the API server) could not tell whose warning a record
//! is, nor hand it to the request it belongs to; and the records would lose what pct's
//! output keeps, the stream (stdout for progress, stderr for warnings) and the exact line.
//! An observer travels with the host handle the call runs on (one per request if need be),
//! and its events are values a caller can collect, test or forward. Without one, the events
//! go nowhere.

use std::fmt;
use std::sync::Arc;

/// One thing an operation reports while it runs. The text is the line pct prints, without
/// the newline.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Progress of the operation, which pct prints to stdout (`extracting archive '…'`,
    /// `Detected container architecture: amd64`).
    Info(String),
    /// Something that went wrong without failing the operation, which pct prints to stderr
    /// (config parse warnings, `WARN: …` lines of a start, a failed hook).
    Warning(String),
    /// A note for the person at the terminal, on stderr in pct (`trying to acquire lock...`,
    /// the console's banner).
    Notice(String),
    /// One line of the start's step log (`pct start --debug`), on stderr in pct.
    Debug(String),
    /// How far a long step (the template extraction) has come: `done` of `total` bytes.
    Progress {
        /// Bytes done so far.
        done: u64,
        /// Bytes in all.
        total: u64,
    },
    /// The step that reported [`Event::Progress`] is over.
    ProgressEnd,
}

impl Event {
    /// The line of a text event; `None` for progress.
    pub fn text(&self) -> Option<&str> {
        match self {
            Event::Info(text) | Event::Warning(text) | Event::Notice(text) | Event::Debug(text) => {
                Some(text)
            }
            Event::Progress { .. } | Event::ProgressEnd => None,
        }
    }
}

/// The function an [`Observer`] calls.
type Notify = dyn Fn(&Event) + Send + Sync;

/// Where a host's operations send their [`Event`]s: a function called on the thread of the
/// operation, at the moment of the event. Cloning shares the function.
#[derive(Clone, Default)]
pub struct Observer {
    notify: Option<Arc<Notify>>,
}

impl Observer {
    /// Events go to `notify`.
    pub fn new(notify: impl Fn(&Event) + Send + Sync + 'static) -> Observer {
        Observer {
            notify: Some(Arc::new(notify)),
        }
    }

    /// Events go nowhere.
    pub fn none() -> Observer {
        Observer::default()
    }

    /// Hand `event` to the function, if there is one.
    pub fn emit(&self, event: Event) {
        if let Some(notify) = &self.notify {
            notify(&event);
        }
    }

    /// Emit an [`Event::Info`].
    pub fn info(&self, text: impl Into<String>) {
        self.emit(Event::Info(text.into()));
    }

    /// Emit an [`Event::Warning`].
    pub fn warning(&self, text: impl Into<String>) {
        self.emit(Event::Warning(text.into()));
    }

    /// Emit an [`Event::Notice`].
    pub fn notice(&self, text: impl Into<String>) {
        self.emit(Event::Notice(text.into()));
    }

    /// Whether anyone listens: lets a caller skip the work of making an event nobody hears.
    pub fn is_listening(&self) -> bool {
        self.notify.is_some()
    }
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.notify.is_some() {
            "Observer(listening)"
        } else {
            "Observer(none)"
        })
    }
}

#[cfg(test)]
mod tests;
