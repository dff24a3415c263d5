//! Ctrl-C, SIGTERM and SIGHUP as a cancellation of the running operation, for the commands
//! that must undo their work when stopped (`pct create`).
//!
//! The signals are blocked on the calling thread before the operation starts any thread or
//! process of its own, so every thread it starts inherits the mask and none is ever
//! interrupted midway; a thread of ours waits for them with `sigwait` and cancels the token.
//! The operation checks the token between its steps and rolls back as after any failure. No
//! handler runs in signal context, and the library keeps out of signal handling entirely.
//! Programs the operation runs (`mkfs.ext4`, ...) start with an empty mask, as std resets it.

use crate::cancel::Cancel;

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Block the signals on this thread and cancel the returned token when one arrives. Call it
/// before the operation starts threads; the process is expected to exit once it returns.
pub fn cancel_on_signals() -> Cancel {
    let cancel = Cancel::new();
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a sigset_t we own; the signal numbers are valid.
    unsafe {
        libc::sigemptyset(&mut set);
        for signal in SIGNALS {
            libc::sigaddset(&mut set, signal);
        }
    }
    // SAFETY: changes only this thread's mask.
    if unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) } != 0 {
        // Without the mask the signals keep their default action: no rollback, but no harm.
        return cancel;
    }
    let token = cancel.clone();
    let spawned = std::thread::Builder::new()
        .name("pct-signals".into())
        .spawn(move || {
            loop {
                let mut signal = 0;
                // SAFETY: `set` lives in this closure; `signal` is a valid out pointer.
                if unsafe { libc::sigwait(&set, &mut signal) } == 0 {
                    token.cancel();
                }
            }
        });
    if spawned.is_err() {
        // No one would wait for them: let the signals act as before.
        // SAFETY: changes only this thread's mask.
        unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    }
    cancel
}
