//! The worker thread: drains the ring into batches and hands them to the sink.
//!
//! One loop, in this order of priority: shut down (drain everything, then stop); serve flush
//! tickets (drain up to the tail as it was when the ticket was seen); retry a batch the sink
//! could not deliver for now, once its backoff has passed; otherwise fill the batch, export it
//! if it is full or its oldest item has waited `max_delay`, and park when there is nothing to
//! do, with `wake_at` set so that a producer wakes it when it matters (see `batcher.rs`).
//! Every call into the sink is wrapped in `catch_unwind`.
//!
//! A batch the sink answers with [`Outcome::Retry`] stays in `batch`, the one place the worker
//! holds items, so keeping it costs no memory beyond the `max_batch` the worker always had;
//! the ring goes on taking pushes up to its capacity meanwhile. While the backoff runs the
//! worker publishes no `wake_at`: a push cannot make the retry come sooner, and only a flush or
//! a shutdown request (which unpark unconditionally) or the backoff's end wake it.

use std::mem;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::panicking;
use std::time::{Duration, Instant};

use crate::batcher::{MIN_RETRY_DELAY, NO_WAKE, Shared};
use crate::sink::{Outcome, Sink};
use crate::sync::{Ordering, now, park_timeout, thread};

/// The worker's body; returns after the shutdown drain.
pub(crate) fn run<T, S: Sink<T>>(shared: &Shared<T>, sink: S) {
    let _exit = ExitGuard(shared);
    let mut worker = Worker {
        shared,
        batch: Vec::with_capacity(shared.max_batch.min(shared.ring.capacity())),
        sink,
        oldest: None,
        waiting_since: None,
        flushed: 0,
        retry_at: None,
        backoff: first_backoff(shared),
    };
    worker.run();
}

struct Worker<'a, T, S> {
    shared: &'a Shared<T>,
    /// Items taken out of the ring, not yet exported; at most `max_batch`.
    batch: Vec<T>,
    sink: S,
    /// When the worker first saw the oldest item in `batch`.
    oldest: Option<Instant>,
    /// When the last export began, if items were waiting in the ring as it ended: they have
    /// waited at least that long, so their `max_delay` counts from there, not from when this
    /// busy worker gets round to them.
    waiting_since: Option<Instant>,
    /// The last flush ticket served.
    flushed: u64,
    /// When to try `batch` again, if the sink asked for a retry; `None` otherwise.
    retry_at: Option<Instant>,
    /// The wait before the next retry: `max_delay` (clamped) after a delivery, doubling after
    /// each failed try up to `max_retry_delay`.
    backoff: Duration,
}

impl<T, S: Sink<T>> Worker<'_, T, S> {
    fn run(&mut self) {
        loop {
            if self.shared.shutdown_requested.load(Ordering::Acquire) {
                self.drain_all();
                self.call_sink(S::shutdown);
                self.report();
                return;
            }
            let ticket = self.shared.flush_requested.load(Ordering::Acquire);
            if ticket != self.flushed {
                self.flush(ticket);
                continue;
            }
            if let Some(retry_at) = self.retry_at {
                if now() >= retry_at {
                    // Top the kept batch up first, so each try moves as much as it can.
                    self.fill();
                    self.export();
                } else {
                    self.sleep_until(retry_at);
                }
                continue;
            }
            self.fill();
            let overdue = self
                .oldest
                .is_some_and(|oldest| now().duration_since(oldest) >= self.shared.max_delay);
            if self.batch.len() >= self.shared.max_batch || overdue {
                self.export();
            } else {
                self.sleep();
            }
        }
    }

    /// Moves items from the ring into the batch until it is full or the ring is empty.
    fn fill(&mut self) {
        let room = self.shared.max_batch - self.batch.len();
        if self.shared.ring.pop_batch(&mut self.batch, room) > 0 && self.oldest.is_none() {
            self.oldest = Some(self.waiting_since.take().unwrap_or_else(now));
        }
    }

    /// Parks until a producer reaches `wake_at`, the oldest item is due, or a request comes.
    fn sleep(&mut self) {
        let ring = &self.shared.ring;
        // Wake at the first item if there is none, else when the batch can be filled, or
        // when the ring is half full if that comes first (a `max_batch` near or above the
        // capacity must not leave the ring to overflow while we sleep).
        let wanted = if self.batch.is_empty() {
            1
        } else {
            (self.shared.max_batch - self.batch.len()).min((ring.capacity() / 2).max(1)) as u64
        };
        let wake_at = ring.head_seq().saturating_add(wanted);
        self.shared.wake_at.store(wake_at, Ordering::Relaxed);
        // The handshake with the producers (see `batcher.rs`): after this, a push that reaches
        // `wake_at` either is visible here or sees `wake_at` and unparks us. The request check
        // is redundant with std's park token (a flusher unparks after posting its ticket), but
        // loom drops an unpark that reaches a thread while it is yielding or blocked on a
        // lock, and the check costs two loads once per sleep.
        if ring.sync_tail_seq() < wake_at && !self.requests_pending() {
            match self.oldest {
                None => thread::park(),
                Some(oldest) => {
                    let left = (oldest + self.shared.max_delay).saturating_duration_since(now());
                    if !left.is_zero() {
                        park_timeout(left);
                    }
                }
            }
        }
        self.shared.wake_at.store(NO_WAKE, Ordering::Relaxed);
    }

    /// Parks until `until` or a request, with no `wake_at`: pushes cannot help a batch that
    /// waits for its retry (see the module docs).
    fn sleep_until(&mut self, until: Instant) {
        // A request posted after this check unparks us, and std keeps that token for the park
        // below; the check covers loom, which can drop such an unpark (see `sleep`).
        if !self.requests_pending() {
            let left = until.saturating_duration_since(now());
            if !left.is_zero() {
                park_timeout(left);
            }
        }
    }

    /// Whether a shutdown or a flush this worker has not served has been requested.
    fn requests_pending(&self) -> bool {
        self.shared.shutdown_requested.load(Ordering::Acquire)
            || self.shared.flush_requested.load(Ordering::Acquire) != self.flushed
    }

    /// Serves flush `ticket`: exports every item accepted before the ticket was read, trying
    /// a kept batch at once whatever its backoff; gives up, keeping everything, at the first
    /// batch the sink cannot deliver for now.
    fn flush(&mut self, ticket: u64) {
        // Read after the ticket (Acquire), so it covers every push the flusher saw. A kept
        // batch holds only items popped earlier, all below it.
        let target = self.shared.ring.tail_seq();
        let mut gave_up = false;
        loop {
            while self.batch.len() < self.shared.max_batch && self.shared.ring.head_seq() < target {
                match self.shared.ring.pop() {
                    Some(item) => self.batch.push(item),
                    None => break,
                }
            }
            let more = self.batch.len() >= self.shared.max_batch;
            if self.export() {
                gave_up = true;
                break;
            }
            if !more {
                break;
            }
        }
        if !gave_up {
            // The sink's own flush would only meet the same outage.
            self.call_sink(S::flush);
        }
        self.flushed = ticket;
        let queued = if gave_up {
            self.shared.counts().queued
        } else {
            0
        };
        let mut state = self.shared.lock_state();
        state.flushed = state.flushed.max(ticket);
        if gave_up {
            state.undelivered_queued = queued;
        } else {
            state.delivered = state.delivered.max(ticket);
        }
        drop(state);
        self.shared.state_changed.notify_all();
    }

    /// Exports everything in the ring; the ring is closed, so this ends. Each batch gets one
    /// try; after the first the sink cannot deliver, that batch and everything behind it are
    /// dropped and counted without trying: the sink has just spent its own deadline on
    /// retries, and a shutdown must not wait out an outage.
    fn drain_all(&mut self) {
        let mut giving_up = false;
        loop {
            let room = self.shared.max_batch - self.batch.len();
            let moved = self.shared.ring.pop_batch(&mut self.batch, room);
            let more = moved == room;
            if giving_up || self.export() {
                giving_up = true;
                self.drop_batch();
            }
            if !more {
                break;
            }
        }
    }

    /// Drops the batch as undeliverable, counting it.
    fn drop_batch(&mut self) {
        let lost = self.batch.len() as u64;
        if lost == 0 {
            return;
        }
        self.shared.record_export_failed(lost);
        // Dropping items runs their code, which may panic.
        let lost = mem::take(&mut self.batch);
        let _ = catch_unwind(AssertUnwindSafe(move || drop(lost)));
        self.batch = Vec::with_capacity(self.shared.max_batch.min(self.shared.ring.capacity()));
        self.retry_at = None;
    }

    /// Hands the batch to the sink, if there is one, and counts its fate. Returns whether the
    /// sink asked for a retry and the batch is kept for it, with `retry_at` set.
    fn export(&mut self) -> bool {
        self.oldest = None;
        if self.batch.is_empty() {
            self.retry_at = None;
            return false;
        }
        let len = self.batch.len() as u64;
        let started = now();
        let (sink, batch) = (&mut self.sink, &mut self.batch);
        let result = catch_unwind(AssertUnwindSafe(|| {
            let outcome = sink.export(batch);
            if outcome != Outcome::Retry {
                batch.clear();
            }
            outcome
        }));
        let kept = match result {
            Ok(Outcome::Exported) => {
                self.shared
                    .outflow
                    .exported
                    .fetch_add(len, Ordering::Release);
                false
            }
            Ok(Outcome::Failed) => {
                self.shared.record_export_failed(len);
                false
            }
            Ok(Outcome::Retry) => {
                // The sink may have taken items despite asking for a retry: those are gone.
                let left = self.batch.len() as u64;
                if left < len {
                    self.shared.record_export_failed(len - left);
                }
                left > 0
            }
            Err(_) => {
                self.shared.record_sink_panic(len);
                // Whatever the sink left is lost; dropping it may panic too.
                let leftovers = mem::take(&mut self.batch);
                let _ = catch_unwind(AssertUnwindSafe(move || drop(leftovers)));
                self.batch =
                    Vec::with_capacity(self.shared.max_batch.min(self.shared.ring.capacity()));
                false
            }
        };
        if kept {
            // The backoff is capped well below what could overflow an `Instant` (see
            // `BatcherBuilder::build`); should it still, retrying now beats never.
            let end = now();
            self.retry_at = Some(end.checked_add(self.backoff).unwrap_or(end));
            self.backoff = self
                .backoff
                .saturating_mul(2)
                .min(self.shared.max_retry_delay);
        } else {
            self.retry_at = None;
            self.backoff = first_backoff(self.shared);
        }
        let ring = &self.shared.ring;
        self.waiting_since = (ring.tail_seq() > ring.head_seq()).then_some(started);
        kept
    }

    /// Calls `flush` or `shutdown` on the sink, surviving a panic.
    fn call_sink(&mut self, call: fn(&mut S)) {
        let sink = &mut self.sink;
        let _ = catch_unwind(AssertUnwindSafe(|| call(sink)));
    }

    /// Reports the totals on stderr if anything was lost.
    fn report(&self) {
        let counts = self.shared.counts();
        if counts.dropped() > 0 {
            eprintln!(
                "telemetry-batcher: shut down after exporting {} items; lost {}: {} to a full \
                 buffer, {} overwritten, {} in sink panics, {} undeliverable",
                counts.exported,
                counts.dropped(),
                counts.dropped_full,
                counts.dropped_overwritten,
                counts.dropped_sink_panic,
                counts.dropped_export_failed
            );
        }
    }
}

/// The first wait before retrying a batch: `max_delay`, within `MIN_RETRY_DELAY` and
/// `max_retry_delay` (which `build` keeps at least `MIN_RETRY_DELAY`).
fn first_backoff<T>(shared: &Shared<T>) -> Duration {
    shared
        .max_delay
        .max(MIN_RETRY_DELAY)
        .min(shared.max_retry_delay)
}

/// Marks the worker stopped when it exits, normally or by panicking, and wakes the waiters.
struct ExitGuard<'a, T>(&'a Shared<T>);

impl<T> Drop for ExitGuard<'_, T> {
    fn drop(&mut self) {
        let mut state = self.0.lock_state();
        state.stopped = true;
        state.died = panicking();
        drop(state);
        self.0.state_changed.notify_all();
    }
}
