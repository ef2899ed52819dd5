//! Loom models of the ring buffer and the batcher's worker handshake.
//!
//! Run with `scripts/batcher-loom.sh` (`RUSTFLAGS="--cfg loom"`, release, bounded preemptions).
//! Each model is kept to two or three threads and a handful of operations so the whole file
//! explores every interleaving within the bound in a few minutes.
#![cfg(loom)]

use std::collections::BTreeSet;
use std::time::Duration;

use loom::sync::Arc;
use loom::sync::mpsc;
use loom::thread;
use telemetry_batcher::{
    Batcher, FlushError, Outcome, OverflowPolicy, PushError, RingBuffer, Sink,
};

/// Two producers and one consumer on a buffer of two: three pushes and two concurrent pops
/// wrap around to the second lap while the others are mid-operation. Every push is accepted or
/// refused as `Full`; nothing accepted is lost or duplicated, and each producer's items come
/// out in order.
#[test]
fn concurrent_push_and_pop_wrap_around() {
    loom::model(|| {
        let ring = Arc::new(RingBuffer::new(2).expect("capacity"));
        let push = |ring: &RingBuffer<i32>, item| match ring.push(item) {
            Ok(()) => Some(item),
            Err(PushError::Full(_)) => None,
            Err(err) => panic!("unexpected {err}"),
        };
        let a = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || {
                let mut accepted: Vec<i32> = push(&ring, 10).into_iter().collect();
                accepted.extend(push(&ring, 11));
                accepted
            })
        };
        let b = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || push(&ring, 20))
        };
        let mut got: Vec<i32> = ring.pop().into_iter().collect();
        got.extend(ring.pop());
        let mut accepted = a.join().expect("producer a");
        accepted.extend(b.join().expect("producer b"));
        got.extend(std::iter::from_fn(|| ring.pop()));
        let from_a: Vec<_> = got.iter().copied().filter(|&i| i < 20).collect();
        assert!(from_a == [10, 11] || from_a.len() < 2, "{got:?}");
        accepted.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, accepted);
        // With one slot to spare after the first pop, at most one push can have been refused.
        assert!(accepted.len() >= 2, "{accepted:?}");
    });
}

/// Two producers push into a full buffer of two while a consumer pops one item: every push is
/// either accepted or handed back as `Full`, and the accepted ones all come out, in order.
#[test]
fn drop_newest_when_full() {
    loom::model(|| {
        let ring = Arc::new(RingBuffer::new(2).expect("capacity"));
        ring.push(0).expect("empty");
        ring.push(1).expect("room");
        let producers: Vec<_> = [2, 3]
            .into_iter()
            .map(|item| {
                let ring = Arc::clone(&ring);
                thread::spawn(move || match ring.push(item) {
                    Ok(()) => Some(item),
                    Err(PushError::Full(back)) => {
                        assert_eq!(back, item);
                        None
                    }
                    Err(err) => panic!("unexpected {err}"),
                })
            })
            .collect();
        let first = ring.pop();
        let accepted: BTreeSet<i32> = producers
            .into_iter()
            .filter_map(|p| p.join().expect("producer"))
            .collect();
        assert_eq!(first, Some(0));
        // One slot was freed, and only one, so at most one push got in.
        assert!(accepted.len() <= 1);
        let rest: Vec<_> = std::iter::from_fn(|| ring.pop()).collect();
        let mut expected = vec![1];
        expected.extend(&accepted);
        assert_eq!(rest, expected);
    });
}

/// Checks that every item in `0..n` met exactly one fate, and the queue kept FIFO order.
fn assert_each_once(mut fates: Vec<i32>, queued: &[i32], n: i32) {
    assert!(
        queued.windows(2).all(|w| w[0] < 2 || w[1] >= 2),
        "{queued:?}"
    );
    assert!(queued.len() <= 2);
    fates.extend(queued);
    fates.sort_unstable();
    assert_eq!(fates, (0..n).collect::<Vec<_>>());
}

/// Two producers overwrite into a full buffer of two: each evicts one item, and every item
/// ends up exactly once either evicted or still queued, in order.
#[test]
fn overwrite_oldest_races_with_overwrite() {
    loom::model(|| {
        let ring = Arc::new(RingBuffer::new(2).expect("capacity"));
        ring.push(0).expect("empty");
        ring.push(1).expect("room");
        let other = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || ring.force_push(2).expect("open"))
        };
        let mine = ring.force_push(3).expect("open");
        let evicted: Vec<i32> = mine
            .into_iter()
            .chain(other.join().expect("producer"))
            .collect();
        assert_eq!(evicted.len(), 2);
        let queued: Vec<_> = std::iter::from_fn(|| ring.pop()).collect();
        assert_each_once(evicted, &queued, 4);
    });
}

/// A producer overwrites into a full buffer of two while a consumer pops, twice each: every
/// item ends up exactly once evicted, popped, or still queued, in order.
#[test]
fn overwrite_oldest_races_with_pop() {
    loom::model(|| {
        let ring = Arc::new(RingBuffer::new(2).expect("capacity"));
        ring.push(0).expect("empty");
        ring.push(1).expect("room");
        let producer = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || {
                let mut evicted: Vec<i32> = ring.force_push(2).expect("open").into_iter().collect();
                evicted.extend(ring.force_push(3).expect("open"));
                evicted
            })
        };
        let mut fates: Vec<i32> = ring.pop().into_iter().collect();
        fates.extend(ring.pop());
        fates.extend(producer.join().expect("producer"));
        let queued: Vec<_> = std::iter::from_fn(|| ring.pop()).collect();
        assert_each_once(fates, &queued, 4);
    });
}

/// A push racing with `close`: it is either accepted (and its item can still be popped) or
/// refused with `Closed`; every push after `close` returns is refused.
#[test]
fn close_races_with_push() {
    loom::model(|| {
        let ring = Arc::new(RingBuffer::new(2).expect("capacity"));
        ring.push(0).expect("empty");
        let producer = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || ring.force_push(1).is_ok())
        };
        assert!(ring.close());
        assert!(matches!(ring.push(9), Err(PushError::Closed(9))));
        let accepted = producer.join().expect("producer");
        let drained: Vec<_> = std::iter::from_fn(|| ring.pop()).collect();
        assert_eq!(drained, if accepted { vec![0, 1] } else { vec![0] });
    });
}

/// A producer's push wakes the idle worker, and the push that completes a batch wakes it
/// again: no wake-up is lost, or the model would deadlock (nothing else wakes the worker:
/// under loom its clock is frozen, so `max_delay` never expires). `first` makes the first
/// push (item 1), so both ways of pushing are modelled.
fn second_push_wakes_the_worker(first: fn(&Batcher<u32>)) {
    loom::model(move || {
        let (tx, rx) = mpsc::channel();
        let batcher = Batcher::builder()
            .capacity(2)
            .max_batch(2)
            .build(move |batch: &mut Vec<u32>| {
                tx.send(std::mem::take(batch)).expect("receiver");
            })
            .expect("build");
        let producer = {
            let batcher = batcher.clone();
            thread::spawn(move || {
                first(&batcher);
                batcher.push(2).expect("open");
            })
        };
        assert_eq!(rx.recv().expect("a batch"), [1, 2]);
        producer.join().expect("producer");
        drop(batcher);
    });
}

#[test]
fn pushes_wake_the_worker() {
    second_push_wakes_the_worker(|batcher| batcher.push(1).expect("open"));
}

/// The first item moved out of an `Option` (`push_from`, which writes its slot through
/// another path): it arrives once, in order, and the `Option` is left empty.
#[test]
fn push_from_wakes_the_worker() {
    second_push_wakes_the_worker(|batcher| {
        let mut source = Some(1);
        batcher.push_from(&mut source).expect("open");
        assert_eq!(source, None);
    });
}

/// Two producers fill one batch between them: whichever push completes it wakes the worker,
/// whatever the order of their claims and stamp stores.
#[test]
fn two_producers_fill_a_batch() {
    loom::model(|| {
        let (tx, rx) = mpsc::channel();
        let batcher = Batcher::builder()
            .capacity(2)
            .max_batch(2)
            .build(move |batch: &mut Vec<u32>| {
                tx.send(std::mem::take(batch)).expect("receiver");
            })
            .expect("build");
        let producers: Vec<_> = [1, 2]
            .into_iter()
            .map(|item| {
                let batcher = batcher.clone();
                thread::spawn(move || batcher.push(item).expect("open"))
            })
            .collect();
        let mut got = rx.recv().expect("a batch");
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        for producer in producers {
            producer.join().expect("producer");
        }
        drop(batcher);
    });
}

/// `shutdown` racing with a push: the push is either refused or exported before `shutdown`
/// returns, and the counts agree.
#[test]
fn shutdown_races_with_push() {
    loom::model(|| {
        let (tx, rx) = mpsc::channel();
        let batcher = Batcher::builder()
            .capacity(2)
            .max_batch(2)
            .build(move |batch: &mut Vec<u32>| {
                tx.send(std::mem::take(batch)).expect("receiver");
            })
            .expect("build");
        let producer = {
            let batcher = batcher.clone();
            thread::spawn(move || batcher.push(1).is_ok())
        };
        let counts = batcher.shutdown(Duration::from_secs(1)).expect("shutdown");
        let accepted = producer.join().expect("producer");
        assert_eq!(counts.exported, u64::from(accepted));
        assert_eq!(counts.pushed, u64::from(accepted));
        assert_eq!(counts.queued, 0);
        let exported: Vec<u32> = std::iter::from_fn(|| rx.try_recv().ok())
            .flatten()
            .collect();
        assert_eq!(exported, if accepted { vec![1] } else { vec![] });
    });
}

/// `force_flush` returns only after the item pushed before it reached the sink, while the
/// worker may be anywhere in its loop (idle, waking for the first item, or parking).
#[test]
fn force_flush_waits_for_earlier_pushes() {
    loom::model(|| {
        let (tx, rx) = mpsc::channel();
        let batcher = Batcher::builder()
            .capacity(2)
            .max_batch(2)
            .overflow(OverflowPolicy::OverwriteOldest)
            .build(move |batch: &mut Vec<u32>| {
                tx.send(std::mem::take(batch)).expect("receiver");
            })
            .expect("build");
        batcher.push(7).expect("open");
        batcher.force_flush(Duration::from_secs(1)).expect("flush");
        assert_eq!(rx.try_recv().expect("flushed"), [7]);
        drop(batcher);
    });
}

/// A sink whose first try fails with a transient error and whose later ones deliver.
struct DownOnce {
    tries: u32,
    delivered: mpsc::Sender<u32>,
}

impl Sink<u32> for DownOnce {
    fn export(&mut self, batch: &mut Vec<u32>) -> Outcome {
        self.tries += 1;
        if self.tries == 1 {
            return Outcome::Retry;
        }
        for item in batch.drain(..) {
            self.delivered.send(item).expect("receiver");
        }
        Outcome::Exported
    }
}

/// A batch kept for a retry, with a push racing: the worker parks for the retry with no
/// `wake_at` (an untimed park under loom), and only the flush and the shutdown wake it. The
/// flush either delivers everything pushed before it or reports it undelivered; the shutdown
/// then delivers the rest. No wake-up is lost (loom would report a deadlock) and every accepted
/// item is delivered exactly once.
#[test]
fn a_kept_batch_survives_a_flush_and_a_shutdown() {
    loom::model(|| {
        let (tx, rx) = mpsc::channel();
        let batcher = Batcher::builder()
            .capacity(2)
            .max_batch(1)
            .build(DownOnce {
                tries: 0,
                delivered: tx,
            })
            .expect("build");
        batcher.push(1).expect("open");
        let producer = {
            let batcher = batcher.clone();
            thread::spawn(move || batcher.push(2).is_ok())
        };
        match batcher.force_flush(Duration::from_secs(1)) {
            Ok(()) | Err(FlushError::Undelivered { .. }) => {}
            Err(err) => panic!("unexpected {err}"),
        }
        let accepted = producer.join().expect("producer");
        assert!(accepted, "the ring has room and is open");
        let counts = batcher.shutdown(Duration::from_secs(1)).expect("shutdown");
        let mut delivered: Vec<u32> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        delivered.sort_unstable();
        assert_eq!(delivered, [1, 2]);
        assert_eq!(
            (counts.pushed, counts.exported, counts.dropped()),
            (2, 2, 0)
        );
    });
}
