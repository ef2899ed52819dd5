//! Many producers, one worker, small buffers: every item pushed is exported exactly once or
//! counted as dropped, and each producer's exported items keep their order.
#![cfg(not(loom))]

use std::sync::{Arc, Mutex, Once};
use std::thread;
use std::time::Duration;

use telemetry_batcher::{Batcher, Counts, OverflowPolicy};

const PRODUCERS: u64 = 4;
const ITEMS: u64 = 100_000;

/// Which batches the sink panics on (every `n`th), if any.
struct Config {
    capacity: usize,
    max_batch: usize,
    overflow: OverflowPolicy,
    panic_every: Option<u64>,
    flusher: bool,
}

const PANIC_MESSAGE: &str = "stress sink panics on purpose";

/// Keeps the intended sink panics from flooding the test output.
fn quiet_intended_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&PANIC_MESSAGE) {
                default(info);
            }
        }));
    });
}

fn run(config: &Config) -> (Counts, Vec<u64>) {
    quiet_intended_panics();
    let received = Arc::new(Mutex::new(Vec::new()));
    let batcher = {
        let received = Arc::clone(&received);
        let panic_every = config.panic_every;
        let mut batches = 0u64;
        Batcher::builder()
            .capacity(config.capacity)
            .max_batch(config.max_batch)
            .max_delay(Duration::from_millis(1))
            .overflow(config.overflow)
            .build(move |batch: &mut Vec<u64>| {
                batches += 1;
                if panic_every.is_some_and(|n| batches.is_multiple_of(n)) {
                    std::panic::panic_any(PANIC_MESSAGE);
                }
                received.lock().expect("lock").extend_from_slice(batch);
            })
            .expect("build")
    };
    let stop_flushing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    thread::scope(|scope| {
        if config.flusher {
            let (batcher, stop) = (batcher.clone(), Arc::clone(&stop_flushing));
            scope.spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    batcher.force_flush(Duration::from_secs(30)).expect("flush");
                    thread::sleep(Duration::from_millis(1));
                }
            });
        }
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let batcher = batcher.clone();
                scope.spawn(move || {
                    for i in 0..ITEMS {
                        batcher.push(p << 32 | i).expect("open");
                        if i % 1024 == 0 {
                            thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for producer in producers {
            producer.join().expect("producer");
        }
        stop_flushing.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let counts = batcher.shutdown(Duration::from_secs(30)).expect("shutdown");
    let received = std::mem::take(&mut *received.lock().expect("lock"));
    (counts, received)
}

fn check(config: &Config) -> Counts {
    let (counts, received) = run(config);
    assert_eq!(counts.pushed, PRODUCERS * ITEMS, "{counts:?}");
    assert_eq!(counts.queued, 0, "{counts:?}");
    assert_eq!(counts.exported, received.len() as u64, "{counts:?}");
    assert_eq!(
        counts.exported + counts.dropped(),
        counts.pushed,
        "{counts:?}"
    );
    if config.panic_every.is_none() {
        assert_eq!(counts.dropped_sink_panic, 0);
    }
    if config.overflow == OverflowPolicy::DropNewest {
        assert_eq!(counts.dropped_overwritten, 0);
    } else {
        assert_eq!(counts.dropped_full, 0);
    }
    // Nothing duplicated, nothing reordered within a producer.
    let mut last = [None::<u64>; PRODUCERS as usize];
    for &item in &received {
        let (p, i) = ((item >> 32) as usize, item & 0xffff_ffff);
        assert!(i < ITEMS);
        assert!(
            last[p].is_none_or(|l| l < i),
            "producer {p}: {i} after {last:?}"
        );
        last[p] = Some(i);
    }
    counts
}

#[test]
fn drop_newest_accounts_for_every_item() {
    check(&Config {
        capacity: 64,
        max_batch: 16,
        overflow: OverflowPolicy::DropNewest,
        panic_every: None,
        flusher: false,
    });
}

#[test]
fn overwrite_oldest_accounts_for_every_item() {
    check(&Config {
        capacity: 64,
        max_batch: 16,
        overflow: OverflowPolicy::OverwriteOldest,
        panic_every: None,
        flusher: false,
    });
}

#[test]
fn flushes_and_sink_panics_lose_only_what_they_count() {
    let counts = check(&Config {
        capacity: 256,
        max_batch: 32,
        overflow: OverflowPolicy::DropNewest,
        panic_every: Some(7),
        flusher: true,
    });
    assert!(counts.dropped_sink_panic > 0, "{counts:?}");
}

#[test]
fn a_big_enough_buffer_loses_nothing() {
    // Capacity for everything: the worker's pace cannot cause a drop.
    let counts = check(&Config {
        capacity: (PRODUCERS * ITEMS) as usize,
        max_batch: 512,
        overflow: OverflowPolicy::DropNewest,
        panic_every: None,
        flusher: false,
    });
    assert_eq!(counts.exported, PRODUCERS * ITEMS, "{counts:?}");
}
