//! The thread-local generator behind fresh trace and span ids.
//!
//! Ids must be unique and (for the W3C `random` flag) uniformly random in at least their
//! right-most 56 bits, but they need no cryptographic strength. wyrand passes the usual
//! statistical batteries, has a full 2^64 period, and costs about a nanosecond, with no lock
//! and no system call once the thread's state is seeded.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes threads that happen to be seeded in the same instant.
static SEED_SEQUENCE: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

/// A seed from the process's random hasher keys (drawn from the OS once per process), the
/// clock and a per-thread sequence number.
fn seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    // Relaxed: the counter only needs to hand out distinct values.
    hasher.write_u64(SEED_SEQUENCE.fetch_add(1, Ordering::Relaxed));
    if let Ok(since_epoch) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(since_epoch.as_nanos());
    }
    hasher.write_u64(std::process::id().into());
    hasher.finish()
}

/// Returns the next 64 random bits of this thread's generator.
#[inline]
pub(crate) fn next_u64() -> u64 {
    STATE.with(|state| {
        let s = state.get().wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let product = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        ((product >> 64) as u64) ^ (product as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_look_uniform() {
        // Each of the 64 bit positions should be set about half the time.
        let samples = 20_000;
        let mut ones = [0u32; 64];
        for _ in 0..samples {
            let value = next_u64();
            for (bit, count) in ones.iter_mut().enumerate() {
                *count += ((value >> bit) & 1) as u32;
            }
        }
        for (bit, count) in ones.iter().enumerate() {
            let ratio = f64::from(*count) / f64::from(samples);
            assert!(
                (0.46..0.54).contains(&ratio),
                "bit {bit} set with ratio {ratio}"
            );
        }
    }

    #[test]
    fn threads_get_different_streams() {
        let here: Vec<u64> = (0..4).map(|_| next_u64()).collect();
        let there = std::thread::spawn(|| (0..4).map(|_| next_u64()).collect::<Vec<_>>())
            .join()
            .expect("thread");
        assert_ne!(here, there);
    }
}
