//! Keeping the pipeline from logging about itself.
//!
//! An exporter may use libraries that log through `log` or `tracing` (an HTTP client, say).
//! With the bridges installed, each export would then emit records that need exporting,
//! forever; and a simple processor exporting on the emitting thread would re-enter itself.
//! `tracing`'s own re-entrancy guard does not help: it only covers scoped dispatchers, not
//! the global default. So export calls run with emission suppressed on their thread, and
//! exporters that start threads of their own can suppress those for good.

use std::cell::Cell;
use std::marker::PhantomData;

thread_local! {
    /// Nesting depth of live [`SuppressGuard`]s on this thread.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// True while this thread must not emit log records.
#[inline]
pub fn is_suppressed() -> bool {
    // During thread teardown the flag is gone; emitting then is harmless.
    DEPTH.try_with(|depth| depth.get() > 0).unwrap_or(false)
}

/// Suppresses log records emitted on this thread until dropped. Guards nest. Not `Send`:
/// it belongs to the thread that made it.
#[must_use = "suppression ends as soon as the guard drops"]
#[derive(Debug)]
pub struct SuppressGuard {
    _not_send: PhantomData<*const ()>,
}

impl SuppressGuard {
    /// Starts suppressing records on this thread.
    pub fn new() -> Self {
        let _ = DEPTH.try_with(|depth| depth.set(depth.get().saturating_add(1)));
        SuppressGuard {
            _not_send: PhantomData,
        }
    }
}

impl Default for SuppressGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for SuppressGuard {
    fn drop(&mut self) {
        let _ = DEPTH.try_with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

/// Runs `f` with log records of this thread suppressed.
pub fn suppressed<R>(f: impl FnOnce() -> R) -> R {
    let _guard = SuppressGuard::new();
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_nest() {
        assert!(!is_suppressed());
        let outer = SuppressGuard::new();
        assert!(suppressed(is_suppressed));
        assert!(is_suppressed(), "the inner guard leaves the outer in force");
        drop(outer);
        assert!(!is_suppressed());
        assert!(
            !std::thread::spawn(|| {
                let _guard = SuppressGuard::default();
                std::thread::spawn(is_suppressed).join().unwrap_or(true)
            })
            .join()
            .unwrap_or(true),
            "suppression is per thread"
        );
    }
}
