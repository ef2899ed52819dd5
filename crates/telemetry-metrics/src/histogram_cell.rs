//! An explicit-bucket histogram series' cell: bucket counts, count, sum, min and max, updated
//! together under a spin lock that costs one locked instruction per record.
//!
//! A collection must see a record whole: a point whose count, buckets, sum, min and max come
//! from different sets of records is one no sequence of records produced. The choices:
//!
//! - A mutex (parking_lot's, or std's) makes the update exclusive but costs two locked
//!   instructions per record: taking it, and releasing it, which must be a read-modify-write
//!   because it has to notice threads parked on it.
//! - Lock-free atomics (a bucket `fetch_add`, the sum by compare-and-swap) also cost two, and
//!   let a collection see a bucket counted before its sum. Prometheus client_golang's hot/cold
//!   double buffer makes its snapshots whole, at three or four locked instructions a record.
//! - This lock costs one: taking it is a compare-and-swap, releasing it a plain store with
//!   release ordering, because no thread ever sleeps on it. A waiter spins briefly, then
//!   yields its time slice. What the lock guards is a handful of loads and stores that cannot
//!   panic, so a holder is only ever held up by being preempted, and yielding waiters let it
//!   run again.
//!
//! The fields are atomics read and written with relaxed loads and stores (plain moves), only
//! so that they can be written through a shared reference without `unsafe`: the lock, not the
//! atomics, is what makes an update exclusive. A record racing a collection lands wholly in
//! the collected point or wholly after it; totals across collections stay exact.

use std::fmt;
use std::sync::atomic::Ordering;

use crate::sync::{AtomicBool, AtomicU64, spin_loop, yield_now};

/// How many times a waiter retries a held lock before it starts yielding its time slice: a
/// holder that is running releases the lock within a few dozen instructions. (Under loom,
/// every pause is a yield anyway, and each is a branch the model must explore.)
const SPINS: u32 = if cfg!(loom) { 1 } else { 64 };

/// One series' explicit-bucket histogram.
pub(crate) struct HistogramCell {
    /// True while a thread holds the cell. Taken by [`HistogramCell::lock`] with an Acquire
    /// compare-and-swap, which synchronizes with the Release store of the previous holder's
    /// [`HistogramCell::unlock`], so each holder sees every field its predecessors wrote.
    locked: AtomicBool,
    /// Recorded values per bucket. Read and written only by the lock's holder (Relaxed).
    counts: Box<[AtomicU64]>,
    /// Recorded values in all buckets: always the sum of `counts` when the lock is free.
    /// Holder only (Relaxed).
    count: AtomicU64,
    /// The recorded values' sum, as `f64` bits. Holder only (Relaxed).
    sum: AtomicU64,
    /// The smallest recorded value as `f64` bits, `+inf` when none. Holder only (Relaxed).
    min: AtomicU64,
    /// The largest recorded value as `f64` bits, `-inf` when none. Holder only (Relaxed).
    max: AtomicU64,
}

/// What a collection reads out of a [`HistogramCell`], all from the same set of records.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct HistogramSnapshot {
    pub(crate) counts: Vec<u64>,
    pub(crate) count: u64,
    pub(crate) sum: f64,
    /// `+inf` when `count` is 0.
    pub(crate) min: f64,
    /// `-inf` when `count` is 0.
    pub(crate) max: f64,
}

impl HistogramCell {
    /// An empty cell of `buckets` buckets.
    pub(crate) fn new(buckets: usize) -> Self {
        HistogramCell {
            locked: AtomicBool::new(false),
            counts: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0.0f64.to_bits()),
            min: AtomicU64::new(f64::INFINITY.to_bits()),
            max: AtomicU64::new(f64::NEG_INFINITY.to_bits()),
        }
    }

    /// Adds the finite value `v` to `bucket`. A bucket past the end (which the caller's
    /// boundaries never produce) drops the value whole rather than count it nowhere.
    #[inline]
    pub(crate) fn record(&self, bucket: usize, v: f64) {
        let Some(slot) = self.counts.get(bucket) else {
            return;
        };
        self.lock();
        bump(slot);
        bump(&self.count);
        let sum = f64::from_bits(self.sum.load(Ordering::Relaxed)) + v;
        self.sum.store(sum.to_bits(), Ordering::Relaxed);
        // Values are finite (invalid ones were dropped before), so plain comparisons suffice.
        if v < f64::from_bits(self.min.load(Ordering::Relaxed)) {
            self.min.store(v.to_bits(), Ordering::Relaxed);
        }
        if v > f64::from_bits(self.max.load(Ordering::Relaxed)) {
            self.max.store(v.to_bits(), Ordering::Relaxed);
        }
        self.unlock();
    }

    /// Reads the cell; with `reset`, also empties it, in the same critical section so that no
    /// record falls between the read and the reset.
    pub(crate) fn snapshot(&self, reset: bool) -> HistogramSnapshot {
        // Allocated before locking: the lock is held only for loads and stores.
        let mut counts = Vec::with_capacity(self.counts.len());
        self.lock();
        counts.extend(self.counts.iter().map(|c| c.load(Ordering::Relaxed)));
        let snapshot = HistogramSnapshot {
            counts,
            count: self.count.load(Ordering::Relaxed),
            sum: f64::from_bits(self.sum.load(Ordering::Relaxed)),
            min: f64::from_bits(self.min.load(Ordering::Relaxed)),
            max: f64::from_bits(self.max.load(Ordering::Relaxed)),
        };
        if reset {
            for c in self.counts.iter() {
                c.store(0, Ordering::Relaxed);
            }
            self.count.store(0, Ordering::Relaxed);
            self.sum.store(0.0f64.to_bits(), Ordering::Relaxed);
            self.min.store(f64::INFINITY.to_bits(), Ordering::Relaxed);
            self.max
                .store(f64::NEG_INFINITY.to_bits(), Ordering::Relaxed);
        }
        self.unlock();
        snapshot
    }

    /// Takes the lock: one compare-and-swap when it is free, the common case by far.
    #[inline]
    fn lock(&self) {
        if !self.try_lock() {
            self.lock_contended();
        }
    }

    /// One attempt at the lock. A compare-and-swap rather than an exchange: the same one
    /// locked instruction, but a failed attempt writes nothing (an exchange writes `true` over
    /// the holder's `true`, and under loom such writes keep the model from ever finishing).
    #[inline]
    fn try_lock(&self) -> bool {
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Waits for the lock: retries it, pausing between tries, and after [`SPINS`] tries
    /// yields between them so that a preempted holder can run.
    #[cold]
    #[inline(never)]
    fn lock_contended(&self) {
        let mut spins = 0;
        loop {
            if spins < SPINS {
                spins += 1;
                spin_loop();
            } else {
                yield_now();
            }
            if self.try_lock() {
                return;
            }
        }
    }

    /// Releases the lock: a plain store, as nobody sleeps on it.
    #[inline]
    fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

/// Adds one to a counter only the lock's holder writes: a load and a store, no locked
/// instruction.
#[inline]
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

impl fmt::Debug for HistogramCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HistogramCell")
            .field("buckets", &self.counts.len())
            .finish_non_exhaustive()
    }
}

/// A snapshot of records of 1.0 in bucket 0 and 3.0 in bucket 1 is whole when its count,
/// sum, min and max all follow from its bucket counts. Shared by the tests and the loom model.
#[cfg(test)]
fn check_whole(s: &HistogramSnapshot) {
    let (ones, threes) = (s.counts[0], s.counts[1]);
    assert_eq!(s.count, ones + threes, "{s:?}");
    assert_eq!(s.sum, ones as f64 + 3.0 * threes as f64, "{s:?}");
    let min = if ones > 0 {
        1.0
    } else if threes > 0 {
        3.0
    } else {
        f64::INFINITY
    };
    let max = if threes > 0 {
        3.0
    } else if ones > 0 {
        1.0
    } else {
        f64::NEG_INFINITY
    };
    assert_eq!((s.min, s.max), (min, max), "{s:?}");
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool as StdAtomicBool;
    use std::thread;

    use super::*;

    #[test]
    fn records_and_resets() {
        let cell = HistogramCell::new(3);
        let empty = cell.snapshot(false);
        assert_eq!(
            empty,
            HistogramSnapshot {
                counts: vec![0, 0, 0],
                count: 0,
                sum: 0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            }
        );
        cell.record(0, 2.5);
        cell.record(2, 10.0);
        cell.record(2, -1.0);
        let full = HistogramSnapshot {
            counts: vec![1, 0, 2],
            count: 3,
            sum: 11.5,
            min: -1.0,
            max: 10.0,
        };
        assert_eq!(cell.snapshot(false), full);
        assert_eq!(cell.snapshot(true), full);
        assert_eq!(cell.snapshot(false), empty);
        cell.record(1, 4.0);
        let after = cell.snapshot(false);
        assert_eq!(
            (after.counts, after.min, after.max),
            (vec![0, 1, 0], 4.0, 4.0)
        );
    }

    #[test]
    fn a_bucket_past_the_end_drops_the_value_whole() {
        let cell = HistogramCell::new(2);
        cell.record(2, 7.0);
        assert_eq!(cell.snapshot(false), HistogramCell::new(2).snapshot(false));
    }

    /// Two threads record 1.0 and 3.0 into their own buckets while a third resets the cell
    /// as fast as it can: every snapshot is whole (its sum, min and max follow from its
    /// bucket counts), and the snapshots add up to exactly what was recorded.
    #[test]
    fn racing_records_and_resets_give_whole_snapshots_and_exact_totals() {
        const RECORDS: u64 = 50_000;
        let cell = Arc::new(HistogramCell::new(2));
        let done = Arc::new(StdAtomicBool::new(false));
        let collector = {
            let cell = Arc::clone(&cell);
            let done = Arc::clone(&done);
            thread::spawn(move || {
                let mut totals = [0u64; 2];
                let mut collections = 0u64;
                loop {
                    let finished = done.load(Ordering::Acquire);
                    let s = cell.snapshot(true);
                    check_whole(&s);
                    totals[0] += s.counts[0];
                    totals[1] += s.counts[1];
                    collections += 1;
                    if finished {
                        return (totals, collections);
                    }
                }
            })
        };
        let writers: Vec<_> = [(0, 1.0), (1, 3.0)]
            .into_iter()
            .map(|(bucket, value)| {
                let cell = Arc::clone(&cell);
                thread::spawn(move || {
                    for _ in 0..RECORDS {
                        cell.record(bucket, value);
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().expect("writer");
        }
        done.store(true, Ordering::Release);
        let (totals, collections) = collector.join().expect("collector");
        assert_eq!(totals, [RECORDS, RECORDS]);
        assert!(collections >= 1);
    }
}

/// Run with `RUSTFLAGS="--cfg loom" cargo test -p telemetry-metrics --lib --release loom`, with
/// loom as this crate's `cfg(loom)` dependency (as telemetry-batcher has it).
#[cfg(all(test, loom))]
mod loom_model {
    use loom::sync::Arc;
    use loom::thread;

    use super::*;

    /// A thread records into both buckets while the main thread collects and resets: in
    /// every interleaving, each snapshot is whole and the two add up to both records. This
    /// checks the lock's orderings: with a Relaxed compare-and-swap or store, a holder could
    /// miss its predecessor's writes, and loom would report the lost update or torn snapshot.
    /// (Two threads: with three, two waiters taking turns yielding exceed loom's branch bound.)
    #[test]
    fn records_racing_a_reset_are_counted_once_and_whole() {
        let mut builder = loom::model::Builder::new();
        // Waiters spin, so bound the preemptions to keep the exploration finite.
        builder.preemption_bound.get_or_insert(3);
        builder.check(|| {
            let cell = Arc::new(HistogramCell::new(2));
            let writer = {
                let cell = Arc::clone(&cell);
                thread::spawn(move || {
                    cell.record(0, 1.0);
                    cell.record(1, 3.0);
                })
            };
            let first = cell.snapshot(true);
            writer.join().expect("writer");
            let second = cell.snapshot(false);
            for s in [&first, &second] {
                check_whole(s);
            }
            assert_eq!(first.counts[0] + second.counts[0], 1);
            assert_eq!(first.counts[1] + second.counts[1], 1);
        });
    }
}
