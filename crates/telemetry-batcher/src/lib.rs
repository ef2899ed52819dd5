//! The pipe between every instrumented thread and the exporters: a lock-free ring buffer that
//! never blocks the program, and a worker that drains it in batches.
//!
//! Spans and log records are pushed from any number of threads; one worker thread hands them
//! to a sink (the exporter) in batches. The crate is generic over the item type and knows
//! nothing of telemetry.
//!
//! - [`Batcher`]: the cloneable handle. [`push`](Batcher::push) never blocks, locks or
//!   allocates ([`push_from`](Batcher::push_from) moves the item from the caller's `Option`
//!   straight into the buffer, one copy fewer for large items);
//!   [`force_flush`](Batcher::force_flush) and [`shutdown`](Batcher::shutdown)
//!   wait, up to a deadline, for everything pushed before them to reach the sink; dropping the
//!   last handle shuts down. Built with [`Batcher::builder`] ([`BatcherBuilder`]).
//! - [`Sink`]: where batches go; any `FnMut(&mut Vec<T>)` closure is one. Its
//!   [`Outcome`] says whether a batch was exported, failed for good, or should be retried.
//! - [`OverflowPolicy`]: what a push does when the buffer is full, and [`Counts`]: what
//!   happened to every item (exported, dropped and why, still queued).
//! - [`RingBuffer`]: the bounded multi-producer, multi-consumer queue inside, for callers who
//!   drain it themselves.
//! - [`PushError`], [`FlushError`], [`BuildError`]: the typed failures.
//!
//! # Example
//!
//! ```
//! use std::sync::mpsc;
//! use std::time::Duration;
//! use telemetry_batcher::Batcher;
//!
//! let (tx, rx) = mpsc::channel();
//! let batcher = Batcher::builder()
//!     .capacity(1024)
//!     .max_batch(64)
//!     .max_delay(Duration::from_millis(100))
//!     .build(move |batch: &mut Vec<String>| {
//!         // A real sink encodes and sends; this one forwards the batch.
//!         let _ = tx.send(std::mem::take(batch));
//!     })?;
//!
//! let producer = {
//!     let batcher = batcher.clone();
//!     std::thread::spawn(move || batcher.push("from a thread".to_owned()))
//! };
//! batcher.push("from main".to_owned())?;
//! producer.join().map_err(|_| "producer panicked")??;
//!
//! batcher.force_flush(Duration::from_secs(5))?;
//! let exported: usize = rx.try_iter().map(|batch| batch.len()).sum();
//! assert_eq!(exported, 2);
//!
//! let counts = batcher.shutdown(Duration::from_secs(5))?;
//! assert_eq!((counts.pushed, counts.exported, counts.dropped()), (2, 2, 0));
//! assert!(batcher.push("too late".to_owned()).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design
//!
//! **A bounded array queue with per-slot stamps.** A producer's whole cost is one
//! compare-and-swap on the tail index, a write into a slot allocated at construction, and a
//! release store of that slot's stamp (Vyukov's bounded MPMC queue, as in crossbeam's
//! `ArrayQueue`): no lock a preempted thread could hold, no allocation, no system call, and a
//! memory footprint fixed up front. A linked queue would allocate per item and grow without
//! bound when the exporter stalls; a mutex-protected `VecDeque` would let one descheduled
//! producer stall all the others. The index encoding leaves a spare bit in the tail for
//! "closed", so shutdown rejects new pushes without a separate check on the fast path, and the
//! tail doubles as the count of accepted items, so no shared counter is bumped per push.
//!
//! **Drop the newest item by default.** When the exporter falls behind, something must give,
//! and it must not be the instrumented program. Dropping the new item costs the producer
//! nothing beyond noticing the buffer is full, keeps what is already queued (often the start
//! of an incident), and matches OpenTelemetry's batch processors.
//! [`OverflowPolicy::OverwriteOldest`] is there for data where the latest matters most. Either
//! way the loss is counted, reported once on stderr when it starts and in total at shutdown.
//!
//! **A batch the sink cannot deliver for now is kept, not dropped.** When the sink answers
//! [`Outcome::Retry`] (the collector is down, the export timed out), the worker keeps the batch
//! and tries it again after a backoff that grows up to [`BatcherBuilder::max_retry_delay`],
//! while producers keep filling the buffer. Nothing accepted is lost to an outage of any length
//! as long as the buffer holds what arrives during it; past that the overflow policy drops, and
//! counts, as it always does. The kept batch is the one batch the worker always holds, so
//! memory stays bounded by `capacity + max_batch` items. A shutdown gives each remaining batch
//! a single try and counts what it cannot deliver in [`Counts::dropped_export_failed`], so an
//! outage cannot make it hang.
//!
//! **The worker is woken only when it matters.** It parks when there is nothing to do, after
//! publishing the sequence number that should wake it: the first item when idle, or the one
//! that fills the batch. A push reads that number and wakes the worker only when it reaches
//! it, so in steady state producers make no system call and write no line the worker reads.
//!
//! # Correctness
//!
//! `unsafe` is confined to the ring's slot accesses, each with the invariant that makes it
//! sound; every atomic documents its writers, readers and orderings. The loom models in
//! `tests/loom.rs` check pushes, pops, wrap-around, both overflow policies, closing and the
//! worker's sleep/wake handshake (`scripts/batcher-loom.sh`); the unit and stress tests also
//! run under ThreadSanitizer, with the span and metrics tests (`scripts/tsan.sh`).
#![deny(unsafe_op_in_unsafe_fn)]

mod batcher;
mod error;
mod ring;
mod sink;
mod sync;
mod worker;

pub use batcher::{
    Batcher, BatcherBuilder, Counts, DEFAULT_CAPACITY, DEFAULT_DROP_TIMEOUT, DEFAULT_MAX_BATCH,
    DEFAULT_MAX_DELAY, DEFAULT_MAX_RETRY_DELAY, OverflowPolicy,
};
pub use error::{BuildError, FlushError, PushError};
pub use ring::{MAX_CAPACITY, RingBuffer};
pub use sink::{Outcome, Sink};
