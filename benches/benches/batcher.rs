//! What the pipe between instrumented threads and the exporter costs: our `Batcher` and
//! `RingBuffer` against crossbeam's `ArrayQueue`, std's `sync_channel` and rtrb, in the same
//! run.
//!
//! - `batcher/push`: one producer pushes a burst of [`BURST`] items into an empty queue with
//!   room for all of them; the queue is drained after the clock stops. This is the
//!   uncontended per-push cost. Our `Batcher` has its worker running: it is woken by the first
//!   push of each burst and drains concurrently, as it would in a program.
//! - `batcher/throughput/{1,2}p`: one or two producers push [`ITEMS`] items in total while a
//!   consumer drains concurrently; the clock stops when every item has been received or
//!   dropped. Every queue has the same capacity ([`CAPACITY`]) and the same policy on a full
//!   queue: the item is dropped and counted, never retried. Drops are reported on stderr at the
//!   end of each group, for every implementation, so a figure that is fast because it dropped
//!   cannot pass unnoticed. rtrb is single-producer, so it is in the 1-producer group only.
//! - `batcher/lossless/{1,2}p`: the same, but producers retry (yielding) until every item is
//!   in, so the figure is the queues' end-to-end throughput with nothing dropped. Our entry is
//!   the bare `RingBuffer` drained by a consumer thread, since `Batcher::push` never retries.
//! - `batcher/full`: the cost a producer pays when the queue is full (our default
//!   `DropNewest` policy, which also counts the drop; the peers just hand the item back).
//!
//! Items are `u64`. Threads are started once per criterion sample (not per item) and meet at
//! a barrier before the clock starts.

use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, TrySendError};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};
use crossbeam_queue::ArrayQueue;
use telemetry_batcher::{Batcher, PushError, RingBuffer};

/// Items per burst in `batcher/push`.
const BURST: usize = 4096;
/// Queue capacity in `batcher/throughput` and `batcher/full`.
const CAPACITY: usize = 4096;
/// Items per criterion iteration in `batcher/throughput`, split among the producers.
const ITEMS: u64 = 1 << 16;
/// Generous deadline for flushes that only drain memory.
const FLUSH: Duration = Duration::from_secs(30);

/// Drop counts per implementation, printed at the end of a group.
#[derive(Default)]
struct Drops(Vec<(&'static str, u64, u64)>);

impl Drops {
    fn add(&mut self, name: &'static str, dropped: u64, total: u64) {
        match self.0.iter_mut().find(|(n, ..)| *n == name) {
            Some(entry) => {
                entry.1 += dropped;
                entry.2 += total;
            }
            None => self.0.push((name, dropped, total)),
        }
    }

    fn report(&self, group: &str) {
        for (name, dropped, total) in &self.0 {
            if *dropped > 0 {
                eprintln!(
                    "{group}/{name}: dropped {dropped} of {total} items ({:.3}%) because the \
                     queue was full",
                    *dropped as f64 * 100.0 / *total as f64
                );
            }
        }
    }
}

fn push(c: &mut Criterion) {
    let mut group = c.benchmark_group("batcher/push");
    group.throughput(Throughput::Elements(BURST as u64));

    group.bench_function("ours_ring", |b| {
        let ring = RingBuffer::new(BURST).expect("capacity");
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for i in 0..BURST as u64 {
                    let _ = black_box(ring.push(black_box(i)));
                }
                elapsed += start.elapsed();
                while ring.pop().is_some() {}
            }
            elapsed
        });
    });

    group.bench_function("ours_batcher", |b| {
        let batcher = Batcher::builder()
            .capacity(BURST)
            .max_batch(512)
            .build(|batch: &mut Vec<u64>| {
                black_box(batch.len());
            })
            .expect("build");
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for i in 0..BURST as u64 {
                    let _ = black_box(batcher.push(black_box(i)));
                }
                elapsed += start.elapsed();
                batcher.force_flush(FLUSH).expect("flush");
            }
            elapsed
        });
        let counts = batcher.shutdown(FLUSH).expect("shutdown");
        assert_eq!(counts.dropped(), 0, "{counts:?}");
    });

    group.bench_function("crossbeam_array_queue", |b| {
        let queue = ArrayQueue::new(BURST);
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for i in 0..BURST as u64 {
                    let _ = black_box(queue.push(black_box(i)));
                }
                elapsed += start.elapsed();
                while queue.pop().is_some() {}
            }
            elapsed
        });
    });

    group.bench_function("std_sync_channel", |b| {
        let (tx, rx) = mpsc::sync_channel(BURST);
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for i in 0..BURST as u64 {
                    let _ = black_box(tx.try_send(black_box(i)));
                }
                elapsed += start.elapsed();
                while rx.try_recv().is_ok() {}
            }
            elapsed
        });
    });

    group.bench_function("rtrb", |b| {
        let (mut tx, mut rx) = rtrb::RingBuffer::new(BURST);
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for i in 0..BURST as u64 {
                    let _ = black_box(tx.push(black_box(i)));
                }
                elapsed += start.elapsed();
                while rx.pop().is_ok() {}
            }
            elapsed
        });
    });

    group.finish();
}

/// Runs `producers` producer threads, each pushing `per_producer` items through the closure
/// `producer(p)` makes for it (which returns whether the item was accepted), and one consumer
/// thread running `consume` until it has accounted for every item. Returns the time from the
/// start barrier to the consumer's end, and the number of items dropped.
fn run_mpsc<M, P, C>(
    producers: usize,
    per_producer: u64,
    producer: M,
    consume: C,
) -> (Duration, u64)
where
    M: Fn(usize) -> P + Sync,
    P: FnMut(u64) -> bool,
    C: FnOnce(&dyn Fn() -> u64) + Send,
{
    let barrier = Barrier::new(producers + 2);
    let dropped = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    thread::scope(|scope| {
        for p in 0..producers {
            let (barrier, producer, dropped, done) = (&barrier, &producer, &dropped, &done);
            scope.spawn(move || {
                let mut push = producer(p);
                barrier.wait();
                let mut lost = 0;
                for i in 0..per_producer {
                    if !push((p as u64) << 40 | i) {
                        lost += 1;
                    }
                }
                dropped.fetch_add(lost, Ordering::Relaxed);
                done.fetch_add(1, Ordering::Release);
            });
        }
        let consumer = {
            let (barrier, dropped, done) = (&barrier, &dropped, &done);
            scope.spawn(move || {
                barrier.wait();
                let start = Instant::now();
                // The number of items to receive, once every producer has finished.
                let expected = move || {
                    if done.load(Ordering::Acquire) == producers as u64 {
                        producers as u64 * per_producer - dropped.load(Ordering::Relaxed)
                    } else {
                        u64::MAX
                    }
                };
                consume(&expected);
                start.elapsed()
            })
        };
        barrier.wait();
        let elapsed = consumer.join().expect("consumer");
        (elapsed, dropped.load(Ordering::Relaxed))
    })
}

/// Pops with `pop` until `expected()` items have been received.
fn drain(expected: &dyn Fn() -> u64, mut pop: impl FnMut() -> bool) {
    let mut received = 0;
    loop {
        if pop() {
            received += 1;
        } else if received >= expected() {
            return;
        } else {
            std::hint::spin_loop();
        }
    }
}

fn throughput_group(group: &mut BenchmarkGroup<'_, WallTime>, producers: usize, drops: &mut Drops) {
    let per_producer = ITEMS / producers as u64;

    group.bench_function("ours_batcher", |b| {
        b.iter_custom(|iters| {
            let batcher = Batcher::builder()
                .capacity(CAPACITY)
                .max_batch(512)
                .build(|batch: &mut Vec<u64>| {
                    black_box(batch.len());
                })
                .expect("build");
            let per = per_producer * iters;
            let barrier = Barrier::new(producers + 1);
            let start = thread::scope(|scope| {
                for p in 0..producers {
                    let (batcher, barrier) = (batcher.clone(), &barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        for i in 0..per {
                            let _ = batcher.push((p as u64) << 40 | i);
                        }
                    });
                }
                barrier.wait();
                Instant::now()
                // The scope joins the producers here.
            });
            // Every producer is done: wait for the worker to hand everything to the sink.
            batcher.force_flush(FLUSH).expect("flush");
            let elapsed = start.elapsed();
            let counts = batcher.shutdown(FLUSH).expect("shutdown");
            assert_eq!(counts.pushed, per * producers as u64, "{counts:?}");
            assert_eq!(
                counts.exported + counts.dropped(),
                counts.pushed,
                "{counts:?}"
            );
            drops.add("ours_batcher", counts.dropped(), counts.pushed);
            elapsed
        });
    });

    group.bench_function("crossbeam_array_queue", |b| {
        b.iter_custom(|iters| {
            let queue = ArrayQueue::new(CAPACITY);
            let per = per_producer * iters;
            let (elapsed, dropped) = run_mpsc(
                producers,
                per,
                |_| |item| queue.push(item).is_ok(),
                |expected| drain(expected, || queue.pop().is_some()),
            );
            drops.add("crossbeam_array_queue", dropped, per * producers as u64);
            elapsed
        });
    });

    group.bench_function("std_sync_channel", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = mpsc::sync_channel(CAPACITY);
            let per = per_producer * iters;
            let (elapsed, dropped) = run_mpsc(
                producers,
                per,
                |_| {
                    let tx = tx.clone();
                    move |item| !matches!(tx.try_send(item), Err(TrySendError::Full(_)))
                },
                move |expected| drain(expected, || rx.try_recv().is_ok()),
            );
            drops.add("std_sync_channel", dropped, per * producers as u64);
            elapsed
        });
    });

    if producers == 1 {
        group.bench_function("rtrb", |b| {
            b.iter_custom(|iters| {
                let (tx, mut rx) = rtrb::RingBuffer::new(CAPACITY);
                // rtrb's producer is `Send` but not `Sync`: the one producer thread takes it.
                let tx = std::sync::Mutex::new(Some(tx));
                let per = per_producer * iters;
                let (elapsed, dropped) = run_mpsc(
                    1,
                    per,
                    |_| {
                        let mut tx = tx.lock().expect("lock").take().expect("one producer");
                        move |item| tx.push(item).is_ok()
                    },
                    |expected| drain(expected, || rx.pop().is_ok()),
                );
                drops.add("rtrb", dropped, per);
                elapsed
            });
        });
    }
}

fn throughput(c: &mut Criterion) {
    for producers in [1, 2] {
        let name = format!("batcher/throughput/{producers}p");
        let mut group = c.benchmark_group(&name);
        group.throughput(Throughput::Elements(ITEMS));
        let mut drops = Drops::default();
        throughput_group(&mut group, producers, &mut drops);
        group.finish();
        drops.report(&name);
    }
}

/// Pushes `item` with `try_push`, yielding while the queue is full; never drops.
fn push_retrying<T>(mut item: T, mut try_push: impl FnMut(T) -> Result<(), T>) -> bool {
    loop {
        match try_push(item) {
            Ok(()) => return true,
            Err(back) => {
                item = back;
                thread::yield_now();
            }
        }
    }
}

/// The queues alone, without drops: producers retry (yielding) until each item is in.
fn lossless(c: &mut Criterion) {
    for producers in [1usize, 2] {
        let mut group = c.benchmark_group(format!("batcher/lossless/{producers}p"));
        group.throughput(Throughput::Elements(ITEMS));
        let per_producer = ITEMS / producers as u64;

        group.bench_function("ours_ring", |b| {
            b.iter_custom(|iters| {
                let ring = RingBuffer::new(CAPACITY).expect("capacity");
                let (elapsed, dropped) = run_mpsc(
                    producers,
                    per_producer * iters,
                    |_| {
                        |item| {
                            push_retrying(item, |item| {
                                ring.push(item).map_err(PushError::into_inner)
                            })
                        }
                    },
                    |expected| drain(expected, || ring.pop().is_some()),
                );
                assert_eq!(dropped, 0);
                elapsed
            });
        });

        group.bench_function("crossbeam_array_queue", |b| {
            b.iter_custom(|iters| {
                let queue = ArrayQueue::new(CAPACITY);
                let (elapsed, dropped) = run_mpsc(
                    producers,
                    per_producer * iters,
                    |_| |item| push_retrying(item, |item| queue.push(item)),
                    |expected| drain(expected, || queue.pop().is_some()),
                );
                assert_eq!(dropped, 0);
                elapsed
            });
        });

        group.bench_function("std_sync_channel", |b| {
            b.iter_custom(|iters| {
                let (tx, rx) = mpsc::sync_channel(CAPACITY);
                let (elapsed, dropped) = run_mpsc(
                    producers,
                    per_producer * iters,
                    |_| {
                        let tx = tx.clone();
                        move |item| tx.send(item).is_ok()
                    },
                    move |expected| drain(expected, || rx.try_recv().is_ok()),
                );
                assert_eq!(dropped, 0);
                elapsed
            });
        });

        if producers == 1 {
            group.bench_function("rtrb", |b| {
                b.iter_custom(|iters| {
                    let (tx, mut rx) = rtrb::RingBuffer::new(CAPACITY);
                    let tx = std::sync::Mutex::new(Some(tx));
                    let (elapsed, dropped) = run_mpsc(
                        1,
                        per_producer * iters,
                        |_| {
                            let mut tx = tx.lock().expect("lock").take().expect("one producer");
                            move |item| {
                                push_retrying(item, |item| {
                                    tx.push(item).map_err(|rtrb::PushError::Full(back)| back)
                                })
                            }
                        },
                        |expected| drain(expected, || rx.pop().is_ok()),
                    );
                    assert_eq!(dropped, 0);
                    elapsed
                });
            });
        }
        group.finish();
    }
}

fn full(c: &mut Criterion) {
    let mut group = c.benchmark_group("batcher/full");
    group.throughput(Throughput::Elements(1));

    group.bench_function("ours_batcher", |b| {
        // A sink that holds its first batch until the end, so the buffer stays full.
        let (release, gate) = mpsc::channel::<()>();
        let batcher = Batcher::builder()
            .capacity(CAPACITY)
            .max_batch(1)
            .build(move |_: &mut Vec<u64>| {
                let _ = gate.recv();
            })
            .expect("build");
        while batcher.counts().queued < CAPACITY as u64 + 1 {
            let _ = batcher.push(0);
        }
        let before = batcher.counts().dropped_full;
        b.iter(|| batcher.push(black_box(1)));
        assert!(batcher.counts().dropped_full > before);
        drop(release);
    });

    group.bench_function("ours_ring", |b| {
        let ring = RingBuffer::new(CAPACITY).expect("capacity");
        while ring.push(0u64).is_ok() {}
        b.iter(|| ring.push(black_box(1)).is_err());
    });

    group.bench_function("crossbeam_array_queue", |b| {
        let queue = ArrayQueue::new(CAPACITY);
        while queue.push(0u64).is_ok() {}
        b.iter(|| queue.push(black_box(1)).is_err());
    });

    group.bench_function("std_sync_channel", |b| {
        let (tx, _rx) = mpsc::sync_channel(CAPACITY);
        while tx.try_send(0u64).is_ok() {}
        b.iter(|| tx.try_send(black_box(1)).is_err());
    });

    group.bench_function("rtrb", |b| {
        let (mut tx, _rx) = rtrb::RingBuffer::new(CAPACITY);
        while tx.push(0u64).is_ok() {}
        b.iter(|| tx.push(black_box(1)).is_err());
    });

    group.finish();
}

criterion_group!(benches, push, throughput, lossless, full);
criterion_main!(benches);
