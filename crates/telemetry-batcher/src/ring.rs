//! The bounded multi-producer, multi-consumer array queue.
//!
//! # Algorithm
//!
//! Dmitry Vyukov's bounded MPMC queue, in the form crossbeam-queue's `ArrayQueue` gives it,
//! plus a "closed" mark in the tail. The buffer is an array of `capacity` slots (a power of
//! two), each holding a value cell and a *stamp*. `head` and `tail` are *positions*: a lap
//! number and an index into the array, packed in one `u64` as
//!
//! ```text
//! position = lap * one_lap + index      one_lap = 2 * capacity, index < capacity
//! tail only:  + MARK (= capacity)       set once, by close()
//! ```
//!
//! The bit between the index and the lap (`MARK`) is always clear in positions and in `head`;
//! in `tail` it means "closed". A slot's stamp says whose turn it is:
//!
//! - `stamp == p`: the slot is free for the producer that claims position `p`;
//! - `stamp == p + 1`: the slot holds the value pushed at position `p`, ready for the consumer
//!   that claims it; after reading, the consumer sets `stamp = p + one_lap`, which frees the slot
//!   for the producer one lap later.
//!
//! A producer claims position `tail` with a compare-and-swap only when the slot's stamp says it
//! is free; it then writes the value and publishes it with a release store of the stamp. A
//! consumer claims `head` the same way when the stamp says the value is ready. Claiming is the
//! only contended step: there is no lock, no allocation and no system call.
//!
//! Progress: `push` never waits for another thread. It retries only after another producer's
//! claim succeeded (lock-free), and a slot still held by a consumer, or claimed but not yet
//! published by a producer one lap behind, counts as taken, so the buffer is full then
//! (crossbeam waits for that thread instead). `pop`, and `force_push` when
//! it must evict, may wait out the few instructions between a peer's claim of a slot and its
//! stamp store.
//!
//! # Counting
//!
//! Positions grow by one per pushed item (the lap jump skips the `MARK` values), so
//! `seq(position) = lap * capacity + index` is the number of items ever accepted before that
//! position. A `u64` of positions lasts 2^63 items: centuries at any real rate, so the code
//! never has to reason about wrap-around of the counters themselves, only of indexes.

use std::fmt;
use std::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use crate::error::{BuildError, PushError};
use crate::sync::{AtomicU64, Backoff, Ordering, UnsafeCell, fence};

/// The largest capacity [`RingBuffer::new`] accepts (after rounding up to a power of two).
pub const MAX_CAPACITY: usize = 1 << 30;

/// A bounded, lock-free, multi-producer multi-consumer queue of `T`.
///
/// `push` and `pop` never lock, allocate or make a system call. The capacity is fixed at
/// construction, rounded up to a power of two. When the buffer is full, [`push`](Self::push)
/// hands the item back in [`PushError::Full`], and [`force_push`](Self::force_push) replaces the
/// oldest item instead and hands that one back. After [`close`](Self::close), every push fails
/// with [`PushError::Closed`] while pops go on draining what was accepted.
///
/// This is the queue inside [`Batcher`](crate::Batcher); use it directly when you want to drain
/// it yourself.
///
/// ```
/// use telemetry_batcher::{PushError, RingBuffer};
///
/// let ring = RingBuffer::new(2)?;
/// ring.push("a")?;
/// ring.push("b")?;
/// assert!(matches!(ring.push("c"), Err(PushError::Full("c"))));
/// assert_eq!(ring.force_push("c")?, Some("a")); // overwrites the oldest
///
/// let mut batch = Vec::new();
/// assert_eq!(ring.pop_batch(&mut batch, 10), 2);
/// assert_eq!(batch, ["b", "c"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RingBuffer<T> {
    /// The position of the next item to pop.
    ///
    /// Writers: consumers (`pop`), and producers in `force_push` evicting the oldest item; always
    /// by compare-and-swap from the value they read, so it only grows, one position at a time.
    /// Readers: consumers; producers on the full path; `len` and the counters.
    /// Orderings: the successful CAS is `SeqCst` to order it against the `fence(SeqCst)` in the
    /// full check of `force_push` (as crossbeam's `ArrayQueue` does); the slot contents are
    /// published by the stamps, not by this index, so every plain load of it is `Relaxed`.
    head: CachePadded<AtomicU64>,
    /// The position of the next item to push, plus [`Self::mark`] once closed.
    ///
    /// Writers: producers, by compare-and-swap from an unmarked value (so none claims a slot
    /// after `close`); `force_push` after evicting, by `fetch_add` (it alone may move the tail
    /// then, see there); `close`, by `fetch_or(mark)`; [`Batcher`](crate::Batcher)'s worker, by
    /// `fetch_or(0)` in [`Self::sync_tail_seq`]. Every write after construction is a
    /// read-modify-write, so each one continues the release sequence of all the earlier ones.
    /// Readers: producers; consumers on the empty path; the counters.
    /// Orderings: the producer's CAS is `SeqCst`: it orders against the `fence(SeqCst)` in the
    /// empty check of `pop`, and, as an acquire read-modify-write, it synchronizes with the
    /// worker's release `fetch_or(0)`, which makes the worker's `wake_at` visible to the
    /// producer (see `batcher.rs`).
    tail: CachePadded<AtomicU64>,
    /// `capacity` slots. Read-only after construction except through each slot's stamp protocol.
    slots: Box<[Slot<T>]>,
    /// `capacity - 1`: masks a position to its index. Immutable.
    index_mask: u64,
    /// `capacity`: the closed bit of `tail`, just above the index bits. Immutable.
    mark: u64,
    /// `2 * capacity`: the distance between the same index in consecutive laps. Immutable.
    one_lap: u64,
}

/// One cell of the buffer.
struct Slot<T> {
    /// Whose turn it is at this slot; see the module docs for the values.
    ///
    /// Writers: the producer that claimed position `p` at this slot (`p + 1`, after writing the
    /// value), the consumer that claimed it (`p + one_lap`, after reading the value), and
    /// `force_push` (which does both in one step).
    /// Readers: producers and consumers deciding whether the slot is theirs to claim.
    /// Orderings: every store is `Release` and every load that leads to touching `value` is
    /// `Acquire`: the producer's store of `p + 1` publishes the value it wrote to the consumer
    /// that reads it; the consumer's store of `p + one_lap` orders its read of the value before
    /// the next producer's overwrite.
    stamp: AtomicU64,
    /// The value; initialized exactly while `stamp == position + 1` for some claimed position
    /// (and while a claimer is between its CAS and its stamp store).
    value: UnsafeCell<MaybeUninit<T>>,
}

/// Where a pushed item comes from: an owned `T`, or a [`Present`] `Option<T>` the item is
/// moved out of straight into its slot. Moving from the caller's place spares a copy of the item
/// through the stack (a 216-byte span, four cache lines, per copy).
///
/// # Safety
///
/// `write_to` must leave `slot` initialized: a push publishes the slot to consumers after it.
pub(crate) unsafe trait Source<T> {
    /// Moves the item into `slot`.
    fn write_to(self, slot: &mut MaybeUninit<T>);

    /// The item itself, for a push that did not take it (the buffer was full).
    fn into_item(self) -> Option<T>;
}

// SAFETY: `MaybeUninit::write` initializes the slot.
unsafe impl<T> Source<T> for T {
    #[inline(always)]
    fn write_to(self, slot: &mut MaybeUninit<T>) {
        slot.write(self);
    }

    fn into_item(self) -> Option<T> {
        Some(self)
    }
}

/// An item still in the caller's `Option`, which is `None` once a push took it. Only
/// [`Present::new`] makes one, and only around `Some`: a push that claimed a slot must fill it.
pub(crate) struct Present<'a, T>(&'a mut Option<T>);

impl<'a, T> Present<'a, T> {
    /// `None` when there is no item to push.
    #[inline(always)]
    pub(crate) fn new(source: &'a mut Option<T>) -> Option<Self> {
        source.is_some().then_some(Present(source))
    }
}

// SAFETY: the `Option` is `Some` (only `Present::new` makes a `Present`, only around `Some`,
// and the `&mut` borrow held since then lets nothing take the item), so the `if let` always
// writes the slot.
unsafe impl<T> Source<T> for Present<'_, T> {
    #[inline(always)]
    fn write_to(self, slot: &mut MaybeUninit<T>) {
        if let Some(item) = self.0.take() {
            slot.write(item);
        }
    }

    fn into_item(self) -> Option<T> {
        self.0.take()
    }
}

/// A successful push, as the [`Batcher`](crate::Batcher) needs to see it.
pub(crate) struct Pushed<T> {
    /// The number of items accepted before this one (its sequence number).
    pub(crate) seq: u64,
    /// The oldest item, if `force_push` overwrote it.
    pub(crate) evicted: Option<T>,
}

// SAFETY: the ring hands each `T` from the thread that pushed it to the one that pops it, so
// `T: Send` is required and sufficient. All shared mutation of a slot's `value` is serialized by
// the stamp protocol: only the thread whose CAS on `tail` (or `head`) claimed a position touches
// the slot's value until it releases the slot with a stamp store (see `push_inner` and `pop`).
unsafe impl<T: Send> Sync for RingBuffer<T> {}

impl<T> RingBuffer<T> {
    /// Creates an empty buffer holding at least `capacity` items (rounded up to a power of two).
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroCapacity`] when `capacity` is zero, [`BuildError::CapacityTooLarge`]
    /// when it exceeds [`MAX_CAPACITY`].
    pub fn new(capacity: usize) -> Result<Self, BuildError> {
        if capacity == 0 {
            return Err(BuildError::ZeroCapacity);
        }
        let cap = match capacity.checked_next_power_of_two() {
            Some(cap) if cap <= MAX_CAPACITY => cap,
            _ => {
                return Err(BuildError::CapacityTooLarge {
                    requested: capacity,
                });
            }
        };
        let slots = (0..cap as u64)
            .map(|index| Slot {
                // Position `index` of lap 0 is free.
                stamp: AtomicU64::new(index),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        let cap = cap as u64;
        Ok(Self {
            head: CachePadded::new(AtomicU64::new(0)),
            tail: CachePadded::new(AtomicU64::new(0)),
            slots,
            index_mask: cap - 1,
            mark: cap,
            one_lap: cap * 2,
        })
    }

    /// The number of items the buffer holds when full (a power of two).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Appends `item`, or hands it back if the buffer is full or closed.
    ///
    /// # Errors
    ///
    /// [`PushError::Full`] when the buffer holds [`capacity`](Self::capacity) items (counting
    /// one a consumer is in the middle of taking out), [`PushError::Closed`] after
    /// [`close`](Self::close).
    #[inline]
    pub fn push(&self, item: T) -> Result<(), PushError<T>> {
        self.push_inner(item, false).map(|_| ())
    }

    /// Appends `item`; if the buffer is full, removes the oldest item to make room and returns
    /// it. Never fails for lack of room.
    ///
    /// # Errors
    ///
    /// [`PushError::Closed`] after [`close`](Self::close).
    #[inline]
    pub fn force_push(&self, item: T) -> Result<Option<T>, PushError<T>> {
        self.push_inner(item, true).map(|pushed| pushed.evicted)
    }

    /// Removes the oldest item, or returns `None` when the buffer is empty.
    #[inline]
    pub fn pop(&self) -> Option<T> {
        // SAFETY: `pop_with` calls this only with a slot it claimed, holding an initialized,
        // visible value, which it then releases without reading it again.
        self.pop_with(|slot| unsafe { self.take(slot) })
    }

    /// Claims the oldest item's slot and hands it to `read`, which must move the value out;
    /// returns what `read` returned, or `None` when the buffer is empty. Shared by [`Self::pop`],
    /// which returns the value, and [`Self::pop_batch`], which moves it straight into the
    /// caller's `Vec` (one copy of the item instead of two).
    #[inline(always)]
    fn pop_with<R>(&self, read: impl FnOnce(&Slot<T>) -> R) -> Option<R> {
        let mut backoff = Backoff::new();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let slot = self.slot(head);
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == head + 1 {
                // The value pushed at `head` is ready: claim it.
                match self.head.compare_exchange_weak(
                    head,
                    self.next(head),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: our CAS moved `head` past `head`, so we are the only consumer of
                        // this slot at this lap (other consumers CAS from `head` and fail;
                        // `force_push` evicts only at the current `head`, also by CAS). The stamp
                        // `head + 1`, loaded with Acquire, synchronizes with the producer's Release
                        // store made after it wrote the value, so the value is initialized and
                        // visible. No producer writes the slot until we store the next stamp.
                        let value = read(slot);
                        slot.stamp
                            .store(head.wrapping_add(self.one_lap), Ordering::Release);
                        return Some(value);
                    }
                    Err(current) => {
                        head = current;
                        backoff.spin();
                    }
                }
            } else if stamp == head {
                // The slot is free for this lap: empty, unless a producer has claimed `head` but
                // not yet published its value.
                fence(Ordering::SeqCst);
                let tail = self.tail.load(Ordering::Relaxed);
                if tail & !self.mark == head {
                    return None;
                }
                backoff.snooze();
                head = self.head.load(Ordering::Relaxed);
            } else {
                // `head` is stale (another consumer took it), or a producer overwriting in
                // `force_push` has evicted this slot's item and not yet stored its own.
                backoff.snooze();
                head = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// Pops up to `max` items into `out`, oldest first, and returns how many it moved.
    ///
    /// Stops early when the buffer is empty. Allocates only if `out` must grow.
    pub fn pop_batch(&self, out: &mut Vec<T>, max: usize) -> usize {
        // Room for what is there now, so that each item moves from its slot straight into
        // `out`'s spare capacity (a `pop` then a `push` copies it twice: a 216-byte span, four
        // cache lines, per copy). Items pushed meanwhile go through `push`.
        out.reserve(max.min(self.len()));
        let mut moved = 0;
        while moved < max {
            let popped = match out.spare_capacity_mut().first_mut() {
                Some(spare) => self
                    .pop_with(|slot| {
                        // SAFETY: as in `pop`: a claimed slot with an initialized value, read
                        // once.
                        spare.write(unsafe { self.take(slot) });
                    })
                    .map(|()| {
                        // SAFETY: the element at `len` was just initialized by the write
                        // above, and it is within the capacity (it was spare capacity).
                        unsafe { out.set_len(out.len() + 1) };
                    })
                    .is_some(),
                None => self.pop().map(|item| out.push(item)).is_some(),
            };
            if !popped {
                break;
            }
            moved += 1;
        }
        moved
    }

    /// The number of items in the buffer; a snapshot, exact only when no one pushes or pops.
    pub fn len(&self) -> usize {
        // Head first: it never passes the tail, so the difference is never negative...
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        // ...but a concurrent force_push may have moved head past our stale tail: saturate.
        let len = self.seq(tail & !self.mark).saturating_sub(self.seq(head));
        usize::try_from(len)
            .unwrap_or(usize::MAX)
            .min(self.capacity())
    }

    /// Whether the buffer is empty; a snapshot, like [`len`](Self::len).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes the buffer: every later push fails with [`PushError::Closed`]; pops go on.
    ///
    /// Returns `true` if this call closed it, `false` if it was already closed. A push that
    /// claimed its slot before the close still completes, and its item can be popped.
    pub fn close(&self) -> bool {
        // AcqRel: joins the tail's release sequence like every other tail write; the Acquire
        // half is not needed by the ring itself.
        self.tail.fetch_or(self.mark, Ordering::AcqRel) & self.mark == 0
    }

    /// Whether [`close`](Self::close) has been called.
    pub fn is_closed(&self) -> bool {
        self.tail.load(Ordering::Acquire) & self.mark != 0
    }

    /// The push behind `push` and `force_push`.
    #[inline]
    pub(crate) fn push_inner<S: Source<T>>(
        &self,
        item: S,
        overwrite: bool,
    ) -> Result<Pushed<T>, PushError<S>> {
        let mut backoff = Backoff::new();
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            if tail & self.mark != 0 {
                return Err(PushError::Closed(item));
            }
            let slot = self.slot(tail);
            let new_tail = self.next(tail);
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == tail {
                // The slot is free for this lap: claim it.
                match self.tail.compare_exchange_weak(
                    tail,
                    new_tail,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: our CAS moved `tail` past `tail`, so no other producer writes
                        // this slot at this lap, and no consumer reads it before we store the
                        // stamp `tail + 1` below. The stamp `tail`, loaded with Acquire,
                        // synchronizes with the Release store of the consumer that read the
                        // previous lap's value, so that read is finished. The slot holds no
                        // initialized value (the consumer moved it out), so nothing leaks.
                        unsafe { Self::put_from(slot, item) };
                        slot.stamp.store(tail + 1, Ordering::Release);
                        return Ok(Pushed {
                            seq: self.seq(tail),
                            evicted: None,
                        });
                    }
                    Err(current) => {
                        tail = current;
                        backoff.spin();
                    }
                }
            } else if stamp.wrapping_add(self.one_lap) == tail + 1 {
                // The slot still holds the item pushed one lap ago, or a consumer has claimed
                // that item and not yet released the slot: either way every slot is taken, and
                // the buffer is full. (Unlike crossbeam's `ArrayQueue`, which waits for that
                // consumer, a plain push never waits for another thread.)
                if !overwrite {
                    return Err(PushError::Full(item));
                }
                fence(Ordering::SeqCst);
                let head = self.head.load(Ordering::Relaxed);
                if head.wrapping_add(self.one_lap) == tail {
                    // Evict the oldest item, the one at `head`, which lives in the very slot we
                    // want: claim it as a consumer would, by moving `head` on.
                    if self
                        .head
                        .compare_exchange_weak(
                            head,
                            self.next(head),
                            Ordering::SeqCst,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                    {
                        return Ok(self.overwrite(slot, tail, new_tail, item));
                    }
                    // A consumer or another overwriter took the oldest item first: retry.
                    backoff.spin();
                } else {
                    // A consumer or another overwriter is moving the oldest item out: wait for
                    // it to release the slot (a handful of instructions), or for our stale
                    // `tail` to catch up.
                    backoff.snooze();
                }
                tail = self.tail.load(Ordering::Relaxed);
            } else if !overwrite && stamp.wrapping_add(self.one_lap) == tail {
                // A producer one lap behind has claimed this slot and not yet published its
                // item: every slot is taken, so the buffer is full. Waiting here would make
                // this push wait for that (perhaps preempted) producer.
                return Err(PushError::Full(item));
            } else {
                // Our `tail` is stale: another producer has claimed it already.
                backoff.snooze();
                tail = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Finishes a `force_push` whose CAS on `head` claimed the oldest item, at position
    /// `tail - one_lap` in `slot`, while the buffer was full with its tail at `tail`.
    fn overwrite<S: Source<T>>(
        &self,
        slot: &Slot<T>,
        tail: u64,
        new_tail: u64,
        item: S,
    ) -> Pushed<T> {
        // Only we can move the tail now: a producer claims a slot only when its stamp says
        // free, and this one still says "full one lap ago" until our store below, while every
        // other slot is past it. A concurrent `close` may set the mark, which the addition
        // (unlike crossbeam's plain store) preserves; the drain after a close cannot finish
        // before we store the stamp, since `pop` waits at this slot, so nothing we accept here
        // is lost.
        self.tail
            .fetch_add(new_tail.wrapping_sub(tail), Ordering::SeqCst);
        // SAFETY: our CAS on `head` claimed the previous lap's item in this slot, so no
        // consumer will read it; the stamp we loaded with Acquire in `push_inner` (`tail + 1 -
        // one_lap`) synchronizes with that item's producer's Release store, so the value is
        // initialized and visible.
        let evicted = unsafe { self.take(slot) };
        // SAFETY: we also own the write for position `tail` (see above); the slot is now
        // logically uninitialized because we just moved its value out.
        unsafe { Self::put_from(slot, item) };
        slot.stamp.store(tail + 1, Ordering::Release);
        Pushed {
            seq: self.seq(tail),
            evicted: Some(evicted),
        }
    }

    /// The number of items accepted so far (the sequence number of the next push), read with
    /// `Acquire`.
    pub(crate) fn tail_seq(&self) -> u64 {
        self.seq(self.tail.load(Ordering::Acquire) & !self.mark)
    }

    /// Like [`tail_seq`](Self::tail_seq), but reads the tail with a release-acquire
    /// read-modify-write that changes nothing. Because every producer claims its slot with an
    /// acquire read-modify-write of the tail, either this call sees that producer's claim, or
    /// the producer's claim sees everything this thread did before the call.
    pub(crate) fn sync_tail_seq(&self) -> u64 {
        self.seq(self.tail.fetch_or(0, Ordering::AcqRel) & !self.mark)
    }

    /// The number of items popped or evicted so far (the sequence number of the oldest item).
    pub(crate) fn head_seq(&self) -> u64 {
        self.seq(self.head.load(Ordering::Acquire))
    }

    /// The slot of `position`.
    #[inline(always)]
    fn slot(&self, position: u64) -> &Slot<T> {
        // Masked index < capacity = slots.len(): the bounds check folds away or never fails.
        &self.slots[(position & self.index_mask) as usize]
    }

    /// The position after `position`: the next index, or index 0 of the next lap.
    #[inline(always)]
    fn next(&self, position: u64) -> u64 {
        if position & self.index_mask != self.index_mask {
            position + 1
        } else {
            (position & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    /// The number of positions before `position` (which must not carry the mark).
    #[inline(always)]
    fn seq(&self, position: u64) -> u64 {
        ((position & !(self.one_lap - 1)) >> 1) | (position & self.index_mask)
    }

    /// Moves the value out of `slot`.
    ///
    /// # Safety
    ///
    /// The caller must have claimed the slot's current value through the stamp protocol (a
    /// successful CAS on `head` at a position whose stamp, loaded with Acquire, said "ready"), so
    /// that the value is initialized, visible, and read by no one else.
    #[inline(always)]
    unsafe fn take(&self, slot: &Slot<T>) -> T {
        // SAFETY: the caller guarantees exclusive access to an initialized, visible value.
        let value = slot.value.with(|ptr| unsafe { ptr.read() });
        // SAFETY: as above, the value was initialized by the producer that published it.
        unsafe { value.assume_init() }
    }

    /// Writes `item` into `slot`.
    ///
    /// # Safety
    ///
    /// The caller must have claimed the slot for writing through the stamp protocol (a
    /// successful CAS on `tail` at a position whose stamp said "free", or an eviction in
    /// `force_push`), and the slot must hold no initialized value.
    #[inline(always)]
    unsafe fn put_from<S: Source<T>>(slot: &Slot<T>, item: S) {
        // SAFETY: the caller guarantees exclusive access to an empty slot.
        slot.value
            .with_mut(|ptr| item.write_to(unsafe { &mut *ptr }));
    }
}

impl<T> Drop for RingBuffer<T> {
    fn drop(&mut self) {
        // Drop the items still inside; `&mut self` means no one else is pushing or popping.
        while self.pop().is_some() {}
    }
}

impl<T> fmt::Debug for RingBuffer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingBuffer")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn capacity_rounds_up_to_a_power_of_two() -> Result<(), BuildError> {
        assert_eq!(RingBuffer::<u8>::new(1)?.capacity(), 1);
        assert_eq!(RingBuffer::<u8>::new(3)?.capacity(), 4);
        assert_eq!(RingBuffer::<u8>::new(1024)?.capacity(), 1024);
        assert!(matches!(
            RingBuffer::<u8>::new(0),
            Err(BuildError::ZeroCapacity)
        ));
        assert!(matches!(
            RingBuffer::<u8>::new(MAX_CAPACITY + 1),
            Err(BuildError::CapacityTooLarge { .. })
        ));
        Ok(())
    }

    #[test]
    fn fifo_across_many_laps() -> Result<(), BuildError> {
        for cap in [1, 2, 4, 8] {
            let ring = RingBuffer::new(cap)?;
            let mut next_out = 0;
            for i in 0..100u32 {
                assert!(ring.push(i).is_ok());
                if i % 3 == 2 {
                    while let Some(v) = ring.pop() {
                        assert_eq!(v, next_out);
                        next_out += 1;
                    }
                }
                if ring.len() == cap {
                    assert_eq!(ring.pop(), Some(next_out));
                    next_out += 1;
                }
            }
            while let Some(v) = ring.pop() {
                assert_eq!(v, next_out);
                next_out += 1;
            }
            assert_eq!(next_out, 100);
            assert_eq!(ring.tail_seq(), 100);
            assert_eq!(ring.head_seq(), 100);
        }
        Ok(())
    }

    #[test]
    fn full_hands_the_item_back() -> Result<(), BuildError> {
        let ring = RingBuffer::new(2)?;
        assert!(ring.push(1).is_ok());
        assert!(ring.push(2).is_ok());
        assert_eq!(ring.len(), 2);
        assert!(matches!(ring.push(3), Err(PushError::Full(3))));
        assert_eq!(ring.pop(), Some(1));
        assert!(ring.push(3).is_ok());
        assert_eq!(ring.pop(), Some(2));
        assert_eq!(ring.pop(), Some(3));
        assert_eq!(ring.pop(), None);
        Ok(())
    }

    #[test]
    fn force_push_overwrites_the_oldest() -> Result<(), BuildError> {
        for cap in [1, 2, 4] {
            let ring = RingBuffer::new(cap)?;
            for i in 0..cap {
                assert!(matches!(ring.force_push(i), Ok(None)));
            }
            for i in cap..cap * 5 {
                assert!(matches!(ring.force_push(i), Ok(Some(old)) if old == i - cap));
                assert_eq!(ring.len(), cap);
            }
            let mut out = Vec::new();
            assert_eq!(ring.pop_batch(&mut out, usize::MAX), cap);
            assert_eq!(out, (cap * 4..cap * 5).collect::<Vec<_>>());
            assert_eq!(ring.tail_seq(), (cap * 5) as u64);
            assert_eq!(ring.head_seq(), (cap * 5) as u64);
        }
        Ok(())
    }

    #[test]
    fn close_rejects_pushes_and_keeps_items() -> Result<(), BuildError> {
        let ring = RingBuffer::new(4)?;
        assert!(ring.push("kept").is_ok());
        assert!(!ring.is_closed());
        assert!(ring.close());
        assert!(!ring.close());
        assert!(ring.is_closed());
        assert!(matches!(ring.push("late"), Err(PushError::Closed("late"))));
        assert!(matches!(
            ring.force_push("late"),
            Err(PushError::Closed("late"))
        ));
        assert_eq!(ring.pop(), Some("kept"));
        assert_eq!(ring.pop(), None);
        assert_eq!(ring.len(), 0);
        Ok(())
    }

    #[test]
    fn drop_releases_the_remaining_items() -> Result<(), BuildError> {
        let item = std::sync::Arc::new(());
        {
            let ring = RingBuffer::new(4)?;
            for _ in 0..3 {
                assert!(ring.push(item.clone()).is_ok());
            }
            assert_eq!(std::sync::Arc::strong_count(&item), 4);
        }
        assert_eq!(std::sync::Arc::strong_count(&item), 1);
        Ok(())
    }

    #[test]
    fn zero_sized_items() -> Result<(), BuildError> {
        let ring = RingBuffer::new(2)?;
        assert!(ring.push(()).is_ok());
        assert!(ring.push(()).is_ok());
        assert!(ring.push(()).is_err());
        assert_eq!(ring.pop(), Some(()));
        Ok(())
    }

    #[test]
    fn concurrent_producers_and_consumers_lose_nothing() -> Result<(), BuildError> {
        use std::sync::atomic::AtomicU64;
        const PRODUCERS: u64 = 3;
        const ITEMS: u64 = 20_000;
        const TOTAL: u64 = PRODUCERS * ITEMS;
        let ring = RingBuffer::new(64)?;
        let popped = AtomicU64::new(0);
        let mut received: Vec<u64> = std::thread::scope(|scope| {
            for p in 0..PRODUCERS {
                let ring = &ring;
                scope.spawn(move || {
                    for i in 0..ITEMS {
                        let mut item = p * ITEMS + i;
                        while let Err(PushError::Full(back)) = ring.push(item) {
                            item = back;
                            std::thread::yield_now();
                        }
                    }
                });
            }
            let consumers: Vec<_> = (0..2)
                .map(|_| {
                    let (ring, popped) = (&ring, &popped);
                    scope.spawn(move || {
                        let mut got = Vec::new();
                        let mut last = [None::<u64>; PRODUCERS as usize];
                        while popped.load(Ordering::Relaxed) < TOTAL {
                            match ring.pop() {
                                Some(v) => {
                                    popped.fetch_add(1, Ordering::Relaxed);
                                    let p = (v / ITEMS) as usize;
                                    assert!(last[p].is_none_or(|l| l < v), "reordered");
                                    last[p] = Some(v);
                                    got.push(v);
                                }
                                None => std::thread::yield_now(),
                            }
                        }
                        got
                    })
                })
                .collect();
            consumers
                .into_iter()
                .flat_map(|c| c.join().expect("consumer panicked"))
                .collect()
        });
        received.sort_unstable();
        assert_eq!(received, (0..TOTAL).collect::<Vec<_>>());
        assert!(ring.is_empty());
        Ok(())
    }
}
