//! The synchronization primitives this crate uses, switched for loom's under `cfg(loom)`.
//!
//! Every atomic, cell, lock, thread and clock read in the crate goes through this module, so
//! `RUSTFLAGS="--cfg loom"` swaps them all for [loom]'s model-checked versions at once (the
//! pattern of tokio's `src/loom`). Under loom the clock is frozen and timed waits become untimed
//! ones: loom replays each interleaving and needs a deterministic program, and it wakes a
//! sleeper only through an explicit notification, which is exactly what the models check.
//!
//! [loom]: https://docs.rs/loom

#[cfg(not(loom))]
pub(crate) use std::{
    sync::{
        Arc, Condvar, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU64, Ordering, fence},
    },
    thread::{self, JoinHandle, Thread},
};

#[cfg(loom)]
pub(crate) use loom::{
    sync::{
        Arc, Condvar, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU64, Ordering, fence},
    },
    thread::{self, JoinHandle, Thread},
};

use std::time::{Duration, Instant};

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `std::cell::UnsafeCell` behind loom's closure-based API, so the same code compiles against
/// both; the closures inline away.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    /// Wraps `value`.
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a shared raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with a mutable raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// The current time; frozen under loom (see the module docs).
pub(crate) fn now() -> Instant {
    #[cfg(not(loom))]
    {
        Instant::now()
    }
    #[cfg(loom)]
    {
        static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }
}

/// Parks the current thread for at most `timeout`; an untimed park under loom.
pub(crate) fn park_timeout(timeout: Duration) {
    #[cfg(not(loom))]
    thread::park_timeout(timeout);
    #[cfg(loom)]
    {
        let _ = timeout;
        thread::park();
    }
}

/// Exponential backoff for the two kinds of retry loops in the ring.
///
/// `spin` follows a lost compare-and-swap: another thread made progress, so retry soon.
/// `snooze` waits for another thread to finish the few instructions between claiming a slot
/// and publishing it; after a short spin it yields the CPU so a preempted peer can run.
/// Under loom both yield to the model scheduler, which needs that to explore the other thread.
#[derive(Debug)]
pub(crate) struct Backoff {
    step: u32,
}

impl Backoff {
    /// Spins up to 2^SPIN_LIMIT times per step before `snooze` starts yielding.
    const SPIN_LIMIT: u32 = 6;

    pub(crate) const fn new() -> Self {
        Self { step: 0 }
    }

    #[inline]
    pub(crate) fn spin(&mut self) {
        #[cfg(not(loom))]
        for _ in 0..1u32 << self.step.min(Self::SPIN_LIMIT) {
            std::hint::spin_loop();
        }
        #[cfg(loom)]
        loom::hint::spin_loop();
        if self.step <= Self::SPIN_LIMIT {
            self.step += 1;
        }
    }

    #[inline]
    pub(crate) fn snooze(&mut self) {
        #[cfg(not(loom))]
        if self.step <= Self::SPIN_LIMIT {
            for _ in 0..1u32 << self.step {
                std::hint::spin_loop();
            }
        } else {
            thread::yield_now();
        }
        #[cfg(loom)]
        loom::hint::spin_loop();
        if self.step <= Self::SPIN_LIMIT + 4 {
            self.step += 1;
        }
    }
}
