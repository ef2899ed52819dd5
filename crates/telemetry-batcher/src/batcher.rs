//! The batcher: its handle and builder, and the state the handle shares with the worker.
//!
//! # Waking the worker without blocking the producers
//!
//! A producer must never wait for the worker, and should not even write a line the worker
//! reads. So the worker publishes, before it parks, the sequence number at which it wants to be
//! woken (`wake_at`: the first item when idle, or the one that fills the batch), and the one
//! producer whose push has exactly that number unparks it. Sequence numbers are unique, so no
//! two producers race to wake it and none of them writes anything to decide. The fast path of
//! `push` costs one load of `wake_at`, a line the worker writes only when it goes to sleep.
//!
//! The race to avoid is the lost wake-up: the worker decides to park after the producer checked
//! `wake_at`. The worker closes it with a release-acquire read-modify-write of the ring's tail
//! after storing `wake_at` ([`RingBuffer::sync_tail_seq`]); every producer claims its slot with
//! an acquire read-modify-write of that same tail. All read-modify-writes of one atomic are
//! totally ordered, so either
//!
//! - the worker's comes after the producer's claim: it reads the new tail, sees the item, and
//!   does not park; or
//! - it comes before: the producer's claim reads from the release sequence it heads, so the
//!   worker's store of `wake_at` happens before the producer's load, which therefore sees it
//!   and unparks the worker. `std::thread::unpark` before `park` leaves a token, so an unpark
//!   that arrives early is not lost either.
//!
//! This needs only acquire and release, which loom models exactly (it treats `SeqCst` accesses
//! as acquire-release), so the loom models check the real protocol. (An earlier design let the
//! waking producer `swap` `wake_at` back; loom cannot order a read-modify-write against a later
//! store it has not seen, and reported lost wake-ups that C11 forbids. Equality needs no write.)

use std::fmt;
use std::sync::OnceLock;
use std::sync::PoisonError;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::error::{BuildError, FlushError, PushError};
use crate::ring::{Present, Pushed, RingBuffer, Source};
use crate::sink::Sink;
use crate::sync::{
    Arc, AtomicBool, AtomicU64, Condvar, JoinHandle, Mutex, MutexGuard, Ordering, Thread, now,
    thread,
};
use crate::worker;

/// The default [`BatcherBuilder::capacity`]: OpenTelemetry's default `maxQueueSize`.
pub const DEFAULT_CAPACITY: usize = 2048;
/// The default [`BatcherBuilder::max_batch`]: OpenTelemetry's default `maxExportBatchSize`.
pub const DEFAULT_MAX_BATCH: usize = 512;
/// The default [`BatcherBuilder::max_delay`]: OpenTelemetry's default span `scheduleDelay`.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(5);
/// The default [`BatcherBuilder::drop_timeout`]: how long dropping the last handle waits for
/// the final flush.
pub const DEFAULT_DROP_TIMEOUT: Duration = Duration::from_secs(5);
/// The default [`BatcherBuilder::max_retry_delay`]: the longest wait between two tries of a
/// batch the sink could not deliver for now.
pub const DEFAULT_MAX_RETRY_DELAY: Duration = Duration::from_secs(30);
/// The shortest wait before trying a batch again, whatever `max_delay` says: a sink that fails
/// at once (a refused connection) must not make the worker spin.
pub(crate) const MIN_RETRY_DELAY: Duration = Duration::from_millis(10);
/// The largest `max_retry_delay` kept: a day, far from overflowing an `Instant`.
const MAX_RETRY_DELAY_CAP: Duration = Duration::from_secs(24 * 60 * 60);

/// `wake_at` when the worker is not waiting to be woken by a push.
pub(crate) const NO_WAKE: u64 = u64::MAX;

/// What a push does when the buffer is full. Either way the loss is counted and the first one
/// is reported on stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OverflowPolicy {
    /// Drop the item being pushed and keep the older ones (the default).
    ///
    /// The default because it costs the producer nothing extra when the buffer is full, and
    /// because what is already queued is usually the more useful context: the start of an
    /// incident rather than its tail, the same choice as OpenTelemetry's batch processors.
    #[default]
    DropNewest,
    /// Remove the oldest queued item to make room for the new one.
    ///
    /// For "the latest state matters most" data. A full-buffer push then pops too, so it costs
    /// a second compare-and-swap, on the consumer's index.
    OverwriteOldest,
}

/// What has gone through a [`Batcher`], by fate. Every item is in exactly one bucket:
///
/// `pushed == exported + dropped_full + dropped_overwritten + dropped_sink_panic +
/// dropped_export_failed + queued`.
///
/// Each counter only grows (except `queued`) and is read without stopping anyone, so a
/// snapshot taken while items flow is a close approximation; after
/// [`force_flush`](Batcher::force_flush) with no concurrent pushes, or after
/// [`shutdown`](Batcher::shutdown), it is exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// Calls to [`Batcher::push`] before shutdown: accepted or dropped for lack of room.
    pub pushed: u64,
    /// Items handed to the sink in a batch from which it returned normally.
    pub exported: u64,
    /// Items dropped because the buffer was full ([`OverflowPolicy::DropNewest`]).
    pub dropped_full: u64,
    /// Queued items removed to make room ([`OverflowPolicy::OverwriteOldest`]).
    pub dropped_overwritten: u64,
    /// Items in batches during which the sink panicked.
    pub dropped_sink_panic: u64,
    /// Items the sink could not deliver: batches it reported
    /// [`Outcome::Failed`](crate::Outcome::Failed) (a permanent failure), and at shutdown the batches it reported
    /// [`Outcome::Retry`](crate::Outcome::Retry) for, with everything still queued behind
    /// them (the shutdown does not wait out an outage).
    pub dropped_export_failed: u64,
    /// Items accepted and not yet exported or dropped: in the buffer, in the worker's batch
    /// (including one kept for a retry), or in the sink right now.
    pub queued: u64,
}

impl Counts {
    /// All items lost, whatever the cause.
    pub fn dropped(&self) -> u64 {
        self.dropped_full
            + self.dropped_overwritten
            + self.dropped_sink_panic
            + self.dropped_export_failed
    }
}

/// Configures and starts a [`Batcher`]; from [`Batcher::builder`].
#[derive(Debug, Clone)]
pub struct BatcherBuilder {
    capacity: usize,
    max_batch: usize,
    max_delay: Duration,
    overflow: OverflowPolicy,
    drop_timeout: Duration,
    max_retry_delay: Duration,
    thread_name: String,
}

/// A cloneable handle to a lock-free queue drained in batches by a worker thread.
///
/// Producers on any thread [`push`](Self::push) items without ever blocking; one worker thread,
/// owned by the batcher, hands them to the [`Sink`] in batches of up to `max_batch` items, as
/// soon as that many are waiting or `max_delay` after the worker first saw the oldest of them.
/// [`force_flush`](Self::force_flush) and [`shutdown`](Self::shutdown) wait, up to a deadline,
/// for everything pushed before them to reach the sink. Dropping the last handle shuts down,
/// waiting at most [`BatcherBuilder::drop_timeout`].
///
/// # When the sink cannot deliver
///
/// A batch the sink reports as [`Outcome::Retry`](crate::Outcome::Retry) (the destination is
/// down) is not dropped: the worker keeps it, tops it up to `max_batch` from the buffer, and
/// tries it again after a backoff that starts at `max_delay` (at least 10 ms) and doubles up
/// to [`BatcherBuilder::max_retry_delay`]. Meanwhile producers go on pushing into the buffer;
/// only when it is full does the [`OverflowPolicy`] drop items, counted as usual. So an outage
/// of any length loses nothing as long as the buffer holds what arrives during it, and memory
/// stays bounded: at most `capacity` items in the buffer plus one batch of at most `max_batch`
/// held by the worker (which is all it ever holds, outage or not).
///
/// A [`force_flush`](Self::force_flush) tries the queued batches at once, without waiting out
/// the backoff; at the first one that fails again it returns [`FlushError::Undelivered`],
/// keeping everything. A [`shutdown`](Self::shutdown) gives each remaining batch one try; after
/// the first that fails again it drops the rest without trying (the sink has already spent its
/// own deadline on retries), counts them in [`Counts::dropped_export_failed`] and returns, so
/// an outage never makes it hang.
///
/// Do not give the sink a handle to its own batcher: the worker would keep the batcher alive,
/// and dropping the other handles would no longer shut it down.
///
/// See the [crate docs](crate) for an example.
pub struct Batcher<T> {
    /// The state shared with the worker: what `push` touches.
    shared: Arc<Shared<T>>,
    /// Shuts the worker down when the last handle goes.
    owner: Arc<Owner<T>>,
}

/// The state shared by the handles and the worker.
pub(crate) struct Shared<T> {
    /// The queue. Producers push, the worker pops (and, under `OverwriteOldest`, so do
    /// producers, to evict).
    pub(crate) ring: RingBuffer<T>,
    /// Immutable configuration.
    pub(crate) overflow: OverflowPolicy,
    pub(crate) max_batch: usize,
    pub(crate) max_delay: Duration,
    pub(crate) max_retry_delay: Duration,
    /// One more than the sequence number of the push that should wake the worker, or
    /// [`NO_WAKE`].
    ///
    /// Writers: the worker alone, before it parks (a target) and after (`NO_WAKE`).
    /// Readers: every producer, after every successful push; the one whose push makes
    /// `seq + 1 == wake_at` unparks the worker. Sequence numbers are unique, so exactly one
    /// producer does, without writing anything here.
    /// Orderings: all `Relaxed`. The worker's store is made visible to that producer by the
    /// acquire-release handshake on the ring's tail (module docs); `unpark` synchronizes with
    /// the `park` it ends.
    pub(crate) wake_at: CachePadded<AtomicU64>,
    /// Written by producers on the slow paths only.
    pub(crate) losses: CachePadded<Losses>,
    /// Written by the worker, once per batch.
    pub(crate) outflow: CachePadded<Outflow>,
    /// The number of `force_flush` calls so far; each call's ticket is its new value.
    ///
    /// Writers: `force_flush`, by `fetch_add` (`AcqRel`). Readers: the worker (`Acquire`).
    /// Orderings: the flusher's `Release` makes its own earlier pushes (tail claims) visible to
    /// the worker, which reads the tail after it reads the ticket, so the drain target covers
    /// them. A worker that reads a stale value parks and is woken by the flusher's `unpark`,
    /// which synchronizes with that `park`.
    pub(crate) flush_requested: AtomicU64,
    /// Set once by `shutdown`, after closing the ring.
    ///
    /// Writers: `shutdown` (`Release`). Readers: the worker and `Drop` (`Acquire`).
    /// Orderings: the worker's `Acquire` load that sees `true` synchronizes with the store,
    /// which follows the ring's `close`, so the worker's later pops see the closed tail and
    /// its final drain is finite and complete.
    pub(crate) shutdown_requested: AtomicBool,
    /// What the worker has finished, for the callers waiting on `state_changed`.
    pub(crate) state: Mutex<WorkerState>,
    pub(crate) state_changed: Condvar,
    /// The worker thread, for `unpark`; set by `build` before the first handle exists.
    pub(crate) worker: OnceLock<Thread>,
}

/// Loss counters, written by producers.
///
/// Each is written with `fetch_add(Release)` and read by `counts` with `Acquire`: an item is
/// always counted as accepted (tail claim) before it is counted as lost, and the acquire read
/// of a loss counter makes that claim visible to the later read of the tail, so `queued`
/// never comes out negative.
#[derive(Default)]
pub(crate) struct Losses {
    pub(crate) dropped_full: AtomicU64,
    pub(crate) dropped_overwritten: AtomicU64,
    /// Whether the first drop of each kind has been reported: written once (`Relaxed`; the
    /// flag orders nothing).
    pub(crate) warned_full: AtomicBool,
    pub(crate) warned_overwritten: AtomicBool,
}

/// Outflow counters, written by the worker only, read by `counts`; orderings as for [`Losses`].
#[derive(Default)]
pub(crate) struct Outflow {
    pub(crate) exported: AtomicU64,
    pub(crate) dropped_sink_panic: AtomicU64,
    pub(crate) dropped_export_failed: AtomicU64,
    pub(crate) warned_sink_panic: AtomicBool,
}

/// Progress of the worker, under `Shared::state`.
#[derive(Debug, Default)]
pub(crate) struct WorkerState {
    /// The highest flush ticket served, delivered or not.
    pub(crate) flushed: u64,
    /// The highest flush ticket served with everything before it delivered or dropped; at
    /// most `flushed`. A ticket in `delivered + 1 ..= flushed` was served by giving up on a
    /// batch the sink could not deliver for now.
    pub(crate) delivered: u64,
    /// `Counts::queued` when the last flush gave up, for [`FlushError::Undelivered`].
    pub(crate) undelivered_queued: u64,
    /// The worker has exited (after its final drain, or by dying).
    pub(crate) stopped: bool,
    /// The worker exited by panicking.
    pub(crate) died: bool,
}

/// Held once by all the handles together; shuts the worker down when dropped.
struct Owner<T> {
    shared: Arc<Shared<T>>,
    /// The worker, joined by the first completed shutdown.
    worker: Mutex<Option<JoinHandle<()>>>,
    drop_timeout: Duration,
}

impl Batcher<()> {
    /// Starts configuring a batcher. (Defined on `Batcher<()>` only so that
    /// `Batcher::builder()` needs no type annotation; [`BatcherBuilder::build`] picks the item
    /// type from its sink.)
    pub fn builder() -> BatcherBuilder {
        BatcherBuilder::default()
    }
}

impl<T> Batcher<T> {
    /// Queues `item` for the sink; never blocks.
    ///
    /// A full buffer is not an error: the [`OverflowPolicy`] drops the new item or overwrites the
    /// oldest, the loss is counted in [`counts`](Self::counts), and the first one is reported on
    /// stderr. A dropped or overwritten item is dropped on the calling thread.
    ///
    /// # Errors
    ///
    /// [`PushError::Closed`], with the item, after [`shutdown`](Self::shutdown) began.
    #[inline]
    pub fn push(&self, item: T) -> Result<(), PushError<T>> {
        self.push_source(item)
    }

    /// Queues the item in `source`, moving it from there straight into the buffer, and
    /// leaves `None` behind; does nothing if `source` is `None`. The same as
    /// [`push`](Self::push) otherwise, one copy of the item cheaper: for a caller whose item
    /// already sits in a place of its own (a span ending out of its cell, say).
    ///
    /// # Errors
    ///
    /// [`PushError::Closed`] after [`shutdown`](Self::shutdown) began; the item is left in
    /// `source`.
    #[inline]
    pub fn push_from(&self, source: &mut Option<T>) -> Result<(), PushError<()>> {
        let Some(present) = Present::new(source) else {
            return Ok(());
        };
        self.push_source(present).map_err(|_| PushError::Closed(()))
    }

    /// The push behind `push` and `push_from`: applies the overflow policy, counts losses
    /// and wakes the worker when this push is the one it waits for.
    #[inline(always)]
    fn push_source<S: Source<T>>(&self, source: S) -> Result<(), PushError<S>> {
        let shared = &*self.shared;
        let overwrite = shared.overflow == OverflowPolicy::OverwriteOldest;
        match shared.ring.push_inner(source, overwrite) {
            Ok(Pushed { seq, evicted }) => {
                if let Some(evicted) = evicted {
                    shared.record_overwrite(evicted);
                }
                if seq + 1 == shared.wake_at.load(Ordering::Relaxed) {
                    shared.wake_from_push();
                }
                Ok(())
            }
            Err(PushError::Full(source)) => {
                if let Some(item) = source.into_item() {
                    shared.record_full(item);
                }
                Ok(())
            }
            Err(err) => Err(err),
        }
    }

    /// What has gone through the batcher so far; see [`Counts`] for how exact it is.
    pub fn counts(&self) -> Counts {
        self.shared.counts()
    }

    /// The buffer's capacity: the configured one rounded up to a power of two.
    pub fn capacity(&self) -> usize {
        self.shared.ring.capacity()
    }

    /// Waits until every item pushed before this call has gone through the sink (or been
    /// counted as dropped), and the sink's [`Sink::flush`] has returned.
    ///
    /// # Errors
    ///
    /// [`FlushError::Timeout`] if that takes longer than `timeout` (the flush still completes
    /// in the background), [`FlushError::Undelivered`] if the sink could not deliver a batch
    /// for now (the items stay queued), [`FlushError::ShutDown`] after
    /// [`shutdown`](Self::shutdown) began, [`FlushError::WorkerDied`] if the worker thread is
    /// gone.
    pub fn force_flush(&self, timeout: Duration) -> Result<(), FlushError> {
        let shared = &*self.shared;
        if shared.ring.is_closed() {
            return Err(FlushError::ShutDown);
        }
        let ticket = shared.flush_requested.fetch_add(1, Ordering::AcqRel) + 1;
        shared.unpark_worker();
        // A shutdown that completes meanwhile has drained everything too (or counted it).
        let mut gave_up = None;
        shared.wait(timeout, |state| {
            if state.delivered >= ticket || state.stopped {
                return true;
            }
            if state.flushed >= ticket {
                gave_up = Some(state.undelivered_queued);
                return true;
            }
            false
        })?;
        match gave_up {
            Some(queued) => Err(FlushError::Undelivered { queued }),
            None => Ok(()),
        }
    }

    /// Stops accepting items, waits until everything accepted has gone through the sink, calls
    /// [`Sink::shutdown`], stops the worker, and returns the final [`Counts`].
    ///
    /// From the moment this is called, [`push`](Self::push) returns [`PushError::Closed`].
    /// Calling it again (from any handle) waits for the same shutdown and returns the same
    /// counts.
    ///
    /// # Errors
    ///
    /// [`FlushError::Timeout`] if the worker has not finished within `timeout` (it goes on in
    /// the background), [`FlushError::WorkerDied`] if the worker thread died.
    pub fn shutdown(&self, timeout: Duration) -> Result<Counts, FlushError> {
        self.owner.shutdown(timeout)?;
        Ok(self.counts())
    }
}

impl<T> Clone for Batcher<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            owner: Arc::clone(&self.owner),
        }
    }
}

impl<T> fmt::Debug for Batcher<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batcher")
            .field("capacity", &self.capacity())
            .field("max_batch", &self.shared.max_batch)
            .field("max_delay", &self.shared.max_delay)
            .field("overflow", &self.shared.overflow)
            .field("counts", &self.counts())
            .finish()
    }
}

impl Default for BatcherBuilder {
    fn default() -> Self {
        Self {
            capacity: DEFAULT_CAPACITY,
            max_batch: DEFAULT_MAX_BATCH,
            max_delay: DEFAULT_MAX_DELAY,
            overflow: OverflowPolicy::default(),
            drop_timeout: DEFAULT_DROP_TIMEOUT,
            max_retry_delay: DEFAULT_MAX_RETRY_DELAY,
            thread_name: "telemetry-batcher".to_owned(),
        }
    }
}

impl BatcherBuilder {
    /// How many items the buffer holds (rounded up to a power of two);
    /// default [`DEFAULT_CAPACITY`].
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// The most items in one batch; default [`DEFAULT_MAX_BATCH`]. A batch this big is exported
    /// as soon as it is waiting.
    pub fn max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch;
        self
    }

    /// How long an item may wait for its batch to fill, counted from when the worker first saw
    /// it (within a wake-up of its push when the worker is idle); default
    /// [`DEFAULT_MAX_DELAY`].
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// What a push does when the buffer is full; default [`OverflowPolicy::DropNewest`].
    pub fn overflow(mut self, overflow: OverflowPolicy) -> Self {
        self.overflow = overflow;
        self
    }

    /// How long dropping the last handle waits for the shutdown; default
    /// [`DEFAULT_DROP_TIMEOUT`].
    pub fn drop_timeout(mut self, drop_timeout: Duration) -> Self {
        self.drop_timeout = drop_timeout;
        self
    }

    /// The longest wait between two tries of a batch the sink reported as
    /// [`Outcome::Retry`](crate::Outcome::Retry); default [`DEFAULT_MAX_RETRY_DELAY`]. The
    /// first wait is `max_delay` (at least 10 ms, at most this), doubling after each failed
    /// try. Kept between 10 ms and a day.
    pub fn max_retry_delay(mut self, max_retry_delay: Duration) -> Self {
        self.max_retry_delay = max_retry_delay;
        self
    }

    /// The worker thread's name; default `telemetry-batcher`.
    pub fn thread_name(mut self, thread_name: impl Into<String>) -> Self {
        self.thread_name = thread_name.into();
        self
    }

    /// Allocates the buffer, starts the worker thread, and returns the first handle.
    ///
    /// # Errors
    ///
    /// [`BuildError`] for a zero or too large capacity, a zero `max_batch`, or a thread that
    /// could not be started.
    pub fn build<T, S>(self, sink: S) -> Result<Batcher<T>, BuildError>
    where
        T: Send + 'static,
        S: Sink<T>,
    {
        if self.max_batch == 0 {
            return Err(BuildError::ZeroMaxBatch);
        }
        let shared = Arc::new(Shared {
            ring: RingBuffer::new(self.capacity)?,
            overflow: self.overflow,
            max_batch: self.max_batch,
            max_delay: self.max_delay,
            max_retry_delay: self
                .max_retry_delay
                .clamp(MIN_RETRY_DELAY, MAX_RETRY_DELAY_CAP),
            wake_at: CachePadded::new(AtomicU64::new(NO_WAKE)),
            losses: CachePadded::default(),
            outflow: CachePadded::default(),
            flush_requested: AtomicU64::new(0),
            shutdown_requested: AtomicBool::new(false),
            state: Mutex::new(WorkerState::default()),
            state_changed: Condvar::new(),
            worker: OnceLock::new(),
        });
        let handle = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(self.thread_name)
                .spawn(move || worker::run(&shared, sink))
                .map_err(BuildError::Spawn)?
        };
        // The worker never reads this; handles only exist after it is set.
        let _ = shared.worker.set(handle.thread().clone());
        Ok(Batcher {
            owner: Arc::new(Owner {
                shared: Arc::clone(&shared),
                worker: Mutex::new(Some(handle)),
                drop_timeout: self.drop_timeout,
            }),
            shared,
        })
    }
}

impl<T> Shared<T> {
    /// A producer's push reached `wake_at`: unpark the worker.
    #[cold]
    #[inline(never)]
    fn wake_from_push(&self) {
        self.unpark_worker();
    }

    /// Unparks the worker unconditionally (flush and shutdown requests).
    pub(crate) fn unpark_worker(&self) {
        if let Some(worker) = self.worker.get() {
            worker.unpark();
        }
    }

    #[cold]
    #[inline(never)]
    fn record_full(&self, item: T) {
        drop(item);
        self.losses.dropped_full.fetch_add(1, Ordering::Release);
        if first_time(&self.losses.warned_full) {
            eprintln!(
                "telemetry-batcher: the buffer is full (capacity {}); dropping new items. \
                 Further drops are counted, not reported.",
                self.ring.capacity()
            );
        }
    }

    #[cold]
    #[inline(never)]
    fn record_overwrite(&self, evicted: T) {
        drop(evicted);
        self.losses
            .dropped_overwritten
            .fetch_add(1, Ordering::Release);
        if first_time(&self.losses.warned_overwritten) {
            eprintln!(
                "telemetry-batcher: the buffer is full (capacity {}); overwriting the oldest \
                 items. Further overwrites are counted, not reported.",
                self.ring.capacity()
            );
        }
    }

    /// Counts `lost` items of a batch during which the sink panicked.
    pub(crate) fn record_sink_panic(&self, lost: u64) {
        self.outflow
            .dropped_sink_panic
            .fetch_add(lost, Ordering::Release);
        if first_time(&self.outflow.warned_sink_panic) {
            eprintln!(
                "telemetry-batcher: the sink panicked; the {lost} items of that batch are \
                 dropped. Further sink panics are counted, not reported."
            );
        }
    }

    /// Counts `lost` items the sink could not deliver, for good or at shutdown.
    pub(crate) fn record_export_failed(&self, lost: u64) {
        self.outflow
            .dropped_export_failed
            .fetch_add(lost, Ordering::Release);
    }

    pub(crate) fn counts(&self) -> Counts {
        // Losses and exports first, acceptances last: see `Losses` for why that keeps
        // `queued` from going negative.
        let exported = self.outflow.exported.load(Ordering::Acquire);
        let dropped_sink_panic = self.outflow.dropped_sink_panic.load(Ordering::Acquire);
        let dropped_export_failed = self.outflow.dropped_export_failed.load(Ordering::Acquire);
        let dropped_overwritten = self.losses.dropped_overwritten.load(Ordering::Acquire);
        let dropped_full = self.losses.dropped_full.load(Ordering::Acquire);
        let accepted = self.ring.tail_seq();
        Counts {
            pushed: accepted + dropped_full,
            exported,
            dropped_full,
            dropped_overwritten,
            dropped_sink_panic,
            dropped_export_failed,
            queued: accepted.saturating_sub(
                exported + dropped_sink_panic + dropped_export_failed + dropped_overwritten,
            ),
        }
    }

    pub(crate) fn lock_state(&self) -> MutexGuard<'_, WorkerState> {
        // The worker never panics while holding the lock; a poisoned lock still holds valid
        // progress numbers.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `done(state)`, the worker dies, or `timeout` passes.
    fn wait(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&WorkerState) -> bool,
    ) -> Result<(), FlushError> {
        let deadline = now().checked_add(timeout);
        let mut state = self.lock_state();
        loop {
            if state.died {
                return Err(FlushError::WorkerDied);
            }
            if done(&state) {
                return Ok(());
            }
            state = match deadline {
                None => self
                    .state_changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(now());
                    if left.is_zero() {
                        return Err(FlushError::Timeout { timeout });
                    }
                    self.state_changed
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

impl<T> Owner<T> {
    fn shutdown(&self, timeout: Duration) -> Result<(), FlushError> {
        let shared = &*self.shared;
        // Close first: a worker that sees the request must also see the closed tail.
        shared.ring.close();
        shared.shutdown_requested.store(true, Ordering::Release);
        shared.unpark_worker();
        shared.wait(timeout, |state| state.stopped)?;
        let worker = self
            .worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(worker) = worker {
            // Never join ourselves (a sink that dropped the last handle on the worker thread).
            if worker.thread().id() != thread::current().id() {
                let _ = worker.join();
            }
        }
        Ok(())
    }
}

impl<T> Drop for Owner<T> {
    fn drop(&mut self) {
        if self.shared.shutdown_requested.load(Ordering::Acquire) {
            // An explicit shutdown ran; if it timed out, the worker finishes on its own.
            return;
        }
        if let Err(err) = self.shutdown(self.drop_timeout) {
            let counts = self.shared.counts();
            eprintln!(
                "telemetry-batcher: shutting down on drop: {err}; {} items were still queued",
                counts.queued
            );
        }
    }
}

/// Whether this call is the first to set `flag`.
fn first_time(flag: &AtomicBool) -> bool {
    !flag.load(Ordering::Relaxed) && !flag.swap(true, Ordering::Relaxed)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sink::Outcome;
    use std::sync::mpsc;

    /// A builder whose batches never go out on time alone.
    fn patient(max_batch: usize) -> BatcherBuilder {
        Batcher::builder()
            .capacity(16)
            .max_batch(max_batch)
            .max_delay(Duration::from_secs(3600))
    }

    #[test]
    fn full_batches_go_out_without_waiting_for_the_delay() -> Result<(), Box<dyn std::error::Error>>
    {
        let builder = patient(4);
        let (tx, rx) = mpsc::channel();
        let batcher = builder.build(move |batch: &mut Vec<u32>| {
            let _ = tx.send(std::mem::take(batch));
        })?;
        for i in 0..8 {
            batcher.push(i)?;
        }
        let mut got = Vec::new();
        while got.len() < 8 {
            got.extend(rx.recv_timeout(Duration::from_secs(10))?);
        }
        assert_eq!(got, (0..8).collect::<Vec<_>>());
        Ok(())
    }

    #[test]
    fn a_partial_batch_goes_out_after_max_delay() -> Result<(), Box<dyn std::error::Error>> {
        let (tx, rx) = mpsc::channel();
        let batcher = Batcher::builder()
            .max_batch(100)
            .max_delay(Duration::from_millis(20))
            .build(move |batch: &mut Vec<u32>| {
                let _ = tx.send(std::mem::take(batch));
            })?;
        let start = std::time::Instant::now();
        batcher.push(1)?;
        batcher.push(2)?;
        assert_eq!(rx.recv_timeout(Duration::from_secs(10))?, [1, 2]);
        assert!(start.elapsed() >= Duration::from_millis(20));
        Ok(())
    }

    #[test]
    fn force_flush_delivers_everything_pushed_before() -> Result<(), Box<dyn std::error::Error>> {
        let builder = patient(1000);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let flushes = Arc::new(std::sync::atomic::AtomicU32::new(0));
        struct Collect(Arc<Mutex<Vec<u32>>>, Arc<std::sync::atomic::AtomicU32>);
        impl Sink<u32> for Collect {
            fn export(&mut self, batch: &mut Vec<u32>) -> Outcome {
                self.0.lock().expect("lock").append(batch);
                Outcome::Exported
            }
            fn flush(&mut self) {
                self.1.fetch_add(1, Ordering::SeqCst);
            }
        }
        let batcher = builder.build(Collect(seen.clone(), flushes.clone()))?;
        for i in 0..10 {
            batcher.push(i)?;
        }
        batcher.force_flush(Duration::from_secs(10))?;
        assert_eq!(*seen.lock().expect("lock"), (0..10).collect::<Vec<_>>());
        assert_eq!(flushes.load(Ordering::SeqCst), 1);
        assert_eq!(
            batcher.counts(),
            Counts {
                pushed: 10,
                exported: 10,
                ..Counts::default()
            }
        );
        Ok(())
    }

    #[test]
    fn shutdown_flushes_then_rejects() -> Result<(), Box<dyn std::error::Error>> {
        let builder = patient(1000);
        let shut = Arc::new(AtomicBool::new(false));
        struct OnShutdown(Arc<AtomicBool>);
        impl Sink<u32> for OnShutdown {
            fn export(&mut self, _: &mut Vec<u32>) -> Outcome {
                Outcome::Exported
            }
            fn shutdown(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let batcher = builder.build(OnShutdown(shut.clone()))?;
        let other = batcher.clone();
        for i in 0..5 {
            batcher.push(i)?;
        }
        let counts = batcher.shutdown(Duration::from_secs(10))?;
        assert!(shut.load(Ordering::SeqCst));
        assert_eq!(counts.exported, 5);
        assert_eq!(counts.queued, 0);
        assert!(matches!(other.push(9), Err(PushError::Closed(9))));
        assert_eq!(
            other.force_flush(Duration::from_secs(1)),
            Err(FlushError::ShutDown)
        );
        assert_eq!(other.shutdown(Duration::from_secs(1))?, counts);
        Ok(())
    }

    #[test]
    fn drop_newest_counts_and_keeps_the_oldest() -> Result<(), Box<dyn std::error::Error>> {
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let (tx, rx) = mpsc::channel();
        // The sink blocks on its first batch so the buffer fills up behind it.
        let batcher =
            Batcher::builder()
                .capacity(4)
                .max_batch(1)
                .build(move |batch: &mut Vec<u32>| {
                    let _ = gate_rx.recv();
                    let _ = tx.send(std::mem::take(batch));
                })?;
        batcher.push(0)?;
        // Wait until the worker holds item 0 in the sink.
        while batcher.shared.ring.head_seq() == 0 {
            thread::yield_now();
        }
        for i in 1..10 {
            batcher.push(i)?;
        }
        let counts = batcher.counts();
        assert_eq!(counts.pushed, 10);
        assert_eq!(counts.dropped_full, 5);
        drop(gate_tx); // let the sink go
        batcher.force_flush(Duration::from_secs(10))?;
        let got: Vec<u32> = rx.try_iter().flatten().collect();
        assert_eq!(got, [0, 1, 2, 3, 4]);
        let counts = batcher.counts();
        assert_eq!(
            (counts.exported, counts.dropped(), counts.queued),
            (5, 5, 0)
        );
        Ok(())
    }

    /// An item that counts its drops, so a push that moved it out of its `Option` and a drop
    /// of what was left there cannot both drop it.
    struct Tracked(u32, Arc<AtomicU64>);

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn push_from_takes_the_item_and_leaves_none() -> Result<(), Box<dyn std::error::Error>> {
        for overflow in [OverflowPolicy::DropNewest, OverflowPolicy::OverwriteOldest] {
            let (gate_tx, gate_rx) = mpsc::channel::<()>();
            let (tx, rx) = mpsc::channel();
            let batcher = Batcher::builder()
                .capacity(4)
                .max_batch(1)
                .overflow(overflow)
                .build(move |batch: &mut Vec<Tracked>| {
                    let _ = gate_rx.recv();
                    let _ = tx.send(batch.drain(..).map(|item| item.0).collect::<Vec<_>>());
                })?;
            let drops = Arc::new(AtomicU64::new(0));
            let mut nothing = None;
            batcher.push_from(&mut nothing)?;
            assert_eq!(batcher.counts().pushed, 0, "an empty source pushes nothing");
            let mut first = Some(Tracked(0, Arc::clone(&drops)));
            batcher.push_from(&mut first)?;
            assert!(first.is_none());
            while batcher.shared.ring.head_seq() == 0 {
                thread::yield_now();
            }
            // The sink holds item 0; the buffer fills up behind it, then overflows.
            for i in 1..10 {
                let mut source = Some(Tracked(i, Arc::clone(&drops)));
                batcher.push_from(&mut source)?;
                assert!(
                    source.is_none(),
                    "item {i} was taken, even when it was dropped"
                );
            }
            let lost = match overflow {
                OverflowPolicy::DropNewest => batcher.counts().dropped_full,
                OverflowPolicy::OverwriteOldest => batcher.counts().dropped_overwritten,
            };
            assert_eq!(lost, 5);
            assert_eq!(
                drops.load(Ordering::Relaxed),
                5,
                "each lost item dropped once"
            );
            drop(gate_tx);
            batcher.force_flush(Duration::from_secs(10))?;
            let got: Vec<u32> = rx.try_iter().flatten().collect();
            let expected = match overflow {
                OverflowPolicy::DropNewest => [0, 1, 2, 3, 4],
                OverflowPolicy::OverwriteOldest => [0, 6, 7, 8, 9],
            };
            assert_eq!(got, expected);
            batcher.shutdown(Duration::from_secs(10))?;
            let mut refused = Some(Tracked(10, Arc::clone(&drops)));
            assert!(matches!(
                batcher.push_from(&mut refused),
                Err(PushError::Closed(()))
            ));
            assert!(refused.is_some(), "a refused item stays with the caller");
            drop(refused);
            assert_eq!(
                drops.load(Ordering::Relaxed),
                11,
                "every item dropped exactly once"
            );
        }
        Ok(())
    }

    #[test]
    fn overwrite_oldest_keeps_the_newest() -> Result<(), Box<dyn std::error::Error>> {
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let (tx, rx) = mpsc::channel();
        let batcher = Batcher::builder()
            .capacity(4)
            .max_batch(1)
            .overflow(OverflowPolicy::OverwriteOldest)
            .build(move |batch: &mut Vec<u32>| {
                let _ = gate_rx.recv();
                let _ = tx.send(std::mem::take(batch));
            })?;
        batcher.push(0)?;
        while batcher.shared.ring.head_seq() == 0 {
            thread::yield_now();
        }
        for i in 1..10 {
            batcher.push(i)?;
        }
        assert_eq!(batcher.counts().dropped_overwritten, 5);
        drop(gate_tx);
        batcher.force_flush(Duration::from_secs(10))?;
        let got: Vec<u32> = rx.try_iter().flatten().collect();
        assert_eq!(got, [0, 6, 7, 8, 9]);
        let counts = batcher.counts();
        assert_eq!((counts.pushed, counts.exported, counts.queued), (10, 5, 0));
        Ok(())
    }

    #[test]
    fn a_panicking_sink_loses_only_its_batch() -> Result<(), Box<dyn std::error::Error>> {
        let (tx, rx) = mpsc::channel();
        let batcher = Batcher::builder()
            .max_batch(2)
            .build(move |batch: &mut Vec<u32>| {
                assert!(!batch.contains(&13), "unlucky batch");
                let _ = tx.send(std::mem::take(batch));
            })?;
        for i in [10, 11, 12, 13, 14, 15] {
            batcher.push(i)?;
            if i % 2 == 1 {
                batcher.force_flush(Duration::from_secs(10))?;
            }
        }
        let counts = batcher.shutdown(Duration::from_secs(10))?;
        assert_eq!(counts.dropped_sink_panic, 2);
        assert_eq!(counts.exported, 4);
        let got: Vec<u32> = rx.try_iter().flatten().collect();
        assert_eq!(got, [10, 11, 14, 15]);
        Ok(())
    }

    #[test]
    fn dropping_the_last_handle_shuts_down() -> Result<(), Box<dyn std::error::Error>> {
        let (tx, rx) = mpsc::channel();
        let batcher = Batcher::builder().build(move |batch: &mut Vec<u32>| {
            let _ = tx.send(std::mem::take(batch));
        })?;
        let clone = batcher.clone();
        batcher.push(1)?;
        drop(batcher);
        clone.push(2)?;
        drop(clone);
        // The sink (and its sender) is gone only once the worker has exited.
        let got: Vec<u32> = rx.iter().flatten().collect();
        assert_eq!(got, [1, 2]);
        Ok(())
    }

    #[test]
    fn a_flush_that_cannot_finish_times_out() -> Result<(), Box<dyn std::error::Error>> {
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let batcher = Batcher::builder()
            .max_batch(1)
            .build(move |_: &mut Vec<u32>| {
                let _ = gate_rx.recv();
            })?;
        batcher.push(1)?;
        assert_eq!(
            batcher.force_flush(Duration::from_millis(20)),
            Err(FlushError::Timeout {
                timeout: Duration::from_millis(20)
            })
        );
        drop(gate_tx);
        batcher.force_flush(Duration::from_secs(10))?;
        Ok(())
    }

    #[test]
    fn a_batch_bigger_than_the_buffer_still_drains_it() -> Result<(), Box<dyn std::error::Error>> {
        let (tx, rx) = mpsc::channel();
        let batcher = Batcher::builder()
            .capacity(4)
            .max_batch(100)
            .max_delay(Duration::from_secs(3600))
            .build(move |batch: &mut Vec<u32>| {
                let _ = tx.send(std::mem::take(batch));
            })?;
        // Twenty items through a buffer of four, with a batch of a hundred that never fills
        // and a delay that never passes: only the half-full wake-up moves items out, so
        // without it the producer below would wait for room forever.
        let capacity = batcher.capacity() as u64;
        let ring = &batcher.shared.ring;
        for item in 0..20 {
            let waiting_since = std::time::Instant::now();
            // `head` moves when the worker claims an item, before it frees the slot, so one
            // slot may still be held: wait for two, or the push could find the ring full.
            while ring.tail_seq() - ring.head_seq() >= capacity - 1 {
                assert!(
                    waiting_since.elapsed() < Duration::from_secs(30),
                    "the worker never made room"
                );
                thread::yield_now();
            }
            batcher.push(item)?;
        }
        assert!(rx.try_recv().is_err(), "the batch is not full yet");
        batcher.force_flush(Duration::from_secs(10))?;
        assert_eq!(rx.try_recv()?, (0..20).collect::<Vec<_>>());
        assert_eq!(batcher.counts().dropped(), 0);
        Ok(())
    }

    #[test]
    fn max_delay_counts_from_the_push_not_from_a_busy_worker()
    -> Result<(), Box<dyn std::error::Error>> {
        // The first export takes 1000 ms; an item pushed 100 ms into it has waited 900 ms
        // when the worker comes back, more than `max_delay` (500 ms): it must go at once,
        // not wait another 500 ms (1400 ms in all).
        let (tx, rx) = mpsc::channel();
        let batcher = Batcher::builder()
            .max_batch(1000)
            .max_delay(Duration::from_millis(500))
            .build(move |batch: &mut Vec<u32>| {
                if batch.contains(&0) {
                    thread::sleep(Duration::from_millis(1000));
                }
                let _ = tx.send((std::mem::take(batch), std::time::Instant::now()));
            })?;
        batcher.push(0)?;
        // The worker exports item 0 after 500 ms and sleeps in the sink until 1500 ms.
        thread::sleep(Duration::from_millis(600));
        let pushed = std::time::Instant::now();
        batcher.push(1)?;
        let (first, _) = rx.recv_timeout(Duration::from_secs(10))?;
        assert_eq!(first, [0]);
        let (second, exported) = rx.recv_timeout(Duration::from_secs(10))?;
        assert_eq!(second, [1]);
        let waited = exported.duration_since(pushed);
        assert!(
            waited < Duration::from_millis(1150),
            "item 1 waited {waited:?}: its delay restarted when the worker came back"
        );
        Ok(())
    }

    /// A sink standing for a destination that is down for its first `outage` tries, then
    /// answers every later try with `after`; it records every delivered item.
    #[derive(Clone, Default)]
    struct Flaky(Arc<Mutex<FlakyState>>);

    #[derive(Default)]
    struct FlakyState {
        outage: usize,
        after: Option<Outcome>,
        tries: usize,
        delivered: Vec<u32>,
    }

    impl Flaky {
        fn new(outage: usize, after: Outcome) -> Self {
            Flaky(Arc::new(Mutex::new(FlakyState {
                outage,
                after: Some(after),
                ..FlakyState::default()
            })))
        }

        fn state(&self) -> MutexGuard<'_, FlakyState> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    impl Sink<u32> for Flaky {
        fn export(&mut self, batch: &mut Vec<u32>) -> Outcome {
            let mut state = self.state();
            state.tries += 1;
            if state.tries <= state.outage {
                return Outcome::Retry;
            }
            let outcome = state.after.unwrap_or(Outcome::Exported);
            if outcome == Outcome::Exported {
                state.delivered.extend(batch.iter().copied());
            }
            outcome
        }
    }

    #[test]
    fn an_outage_keeps_every_item_the_buffer_can_hold() -> Result<(), Box<dyn std::error::Error>> {
        let sink = Flaky::new(2, Outcome::Exported);
        // Only a full batch goes out, and a retry comes 500 ms after a failure: long enough
        // for the pushes below to find the kept batch still waiting.
        let batcher = Batcher::builder()
            .capacity(8)
            .max_batch(4)
            .max_delay(Duration::from_secs(3600))
            .max_retry_delay(Duration::from_millis(500))
            .build(sink.clone())?;
        // The first batch fails and is kept; the rest wait in the buffer meanwhile: 4 + 8
        // items are held, the last 3 pushes find the buffer full.
        for i in 0..4 {
            batcher.push(i)?;
        }
        let waiting = std::time::Instant::now();
        while sink.state().tries == 0 {
            assert!(waiting.elapsed() < Duration::from_secs(5), "never tried");
            thread::yield_now();
        }
        for i in 4..15 {
            batcher.push(i)?;
        }
        let counts = batcher.counts();
        assert_eq!((counts.pushed, counts.dropped_full), (15, 3), "{counts:?}");
        let waiting = std::time::Instant::now();
        while sink.state().delivered.len() < 12 {
            assert!(waiting.elapsed() < Duration::from_secs(5), "not delivered");
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(sink.state().delivered, (0..12).collect::<Vec<_>>());
        let counts = batcher.shutdown(Duration::from_secs(5))?;
        assert_eq!(
            counts,
            Counts {
                pushed: 15,
                exported: 12,
                dropped_full: 3,
                ..Counts::default()
            }
        );
        Ok(())
    }

    #[test]
    fn a_permanent_failure_is_dropped_and_counted_without_a_retry()
    -> Result<(), Box<dyn std::error::Error>> {
        let sink = Flaky::new(0, Outcome::Failed);
        let batcher = patient(4).build(sink.clone())?;
        for i in 0..6 {
            batcher.push(i)?;
        }
        batcher.force_flush(Duration::from_secs(5))?;
        assert_eq!(sink.state().tries, 2, "one try per batch, none again");
        let counts = batcher.counts();
        assert_eq!(
            (counts.exported, counts.dropped_export_failed, counts.queued),
            (0, 6, 0)
        );
        assert_eq!(counts.dropped(), 6);
        Ok(())
    }

    #[test]
    fn a_flush_during_an_outage_keeps_the_items_and_says_so()
    -> Result<(), Box<dyn std::error::Error>> {
        let sink = Flaky::new(1, Outcome::Exported);
        // Batches of 8 hold all 6 items: no full batch wakes the worker to try (and fail)
        // before the flush does, which would leave the flush to succeed on its own retry.
        let batcher = patient(8)
            .max_retry_delay(Duration::from_secs(3600))
            .build(sink.clone())?;
        for i in 0..6 {
            batcher.push(i)?;
        }
        assert_eq!(
            batcher.force_flush(Duration::from_secs(5)),
            Err(FlushError::Undelivered { queued: 6 })
        );
        assert_eq!(batcher.counts().dropped(), 0);
        // The destination is back: the next flush does not wait out the hour of backoff.
        batcher.force_flush(Duration::from_secs(5))?;
        assert_eq!(sink.state().delivered, (0..6).collect::<Vec<_>>());
        Ok(())
    }

    #[test]
    fn a_shutdown_during_an_outage_tries_once_and_counts_the_rest()
    -> Result<(), Box<dyn std::error::Error>> {
        let sink = Flaky::new(usize::MAX, Outcome::Exported);
        let batcher = patient(4).build(sink.clone())?;
        for i in 0..10 {
            batcher.push(i)?;
        }
        let started = std::time::Instant::now();
        let counts = batcher.shutdown(Duration::from_secs(5))?;
        assert!(started.elapsed() < Duration::from_secs(5));
        // Ten items are three batches of 4. The worker may already have tried the first when
        // it filled (then it waits out the backoff); shutdown tries once more and drops the
        // rest untried, never a try per batch.
        let tries = sink.state().tries;
        assert!(
            (1..=2).contains(&tries),
            "{tries} tries: the rest is dropped without a try"
        );
        assert_eq!(
            counts,
            Counts {
                pushed: 10,
                dropped_export_failed: 10,
                ..Counts::default()
            }
        );
        Ok(())
    }

    #[test]
    fn invalid_configurations_are_typed_errors() {
        let sink = |_: &mut Vec<u8>| {};
        assert!(matches!(
            Batcher::builder().capacity(0).build(sink),
            Err(BuildError::ZeroCapacity)
        ));
        assert!(matches!(
            Batcher::builder().max_batch(0).build(sink),
            Err(BuildError::ZeroMaxBatch)
        ));
    }
}
