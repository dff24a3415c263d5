//! A cancellation token the caller of a long operation (`pct create`) holds: the operation
//! looks at it between steps and, once cancelled, undoes what it did and fails with pct's
//! `received interrupt`.
//!
//! The library never installs signal handlers of its own (an embedder owns its process's
//! signals); a program that wants Ctrl-C, SIGTERM or SIGHUP to cancel turns them into
//! [`Cancel::cancel`], as the `pct` binary does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Shared between the caller and the operation; clones see the same state.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A token nobody has cancelled yet.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Ask the operation to stop; safe to call from any thread, any number of times.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`Cancel::cancel`] was called on this token or a clone of it.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// pct's words for an interrupted task.
pub const INTERRUPTED: &str = "received interrupt";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_state() {
        let token = Cancel::new();
        let seen_by_operation = token.clone();
        assert!(!seen_by_operation.is_cancelled());
        token.cancel();
        assert!(seen_by_operation.is_cancelled());
    }
}
