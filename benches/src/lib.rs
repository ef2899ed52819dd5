//! Benchmarks of `telemetry`, run side by side with the peers they compete with.
//!
//! The benchmarks live in `benches/*.rs` and run with `cargo bench -p telemetry-benches`.
//! Each group measures our implementation and its peers (opentelemetry_sdk, fastrace,
//! crossbeam, std) in the same process, so the ratios recorded in `docs/performance.md`
//! compare like with like on the same machine.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

/// Calls `f` `iters` times, and `flush` after every `chunk` calls (a `chunk` of 0 counts as
/// 1) and once after the last.
///
/// The span, log and tracing-bridge pipeline benchmarks pass a flush that waits until the
/// pipeline's exporter has received everything made before it, and a `chunk` of at most half
/// the pipeline's queue: no queue can then overflow, and a pipeline whose export worker is
/// slower than its producer shows it in its time rather than in a drop count.
#[inline]
pub fn run_flushed(iters: u64, chunk: u64, mut f: impl FnMut(), mut flush: impl FnMut()) {
    let chunk = chunk.max(1);
    let mut left = iters;
    while left > 0 {
        let n = left.min(chunk);
        for _ in 0..n {
            f();
        }
        flush();
        left -= n;
    }
}

/// [`run_flushed`], timed: the sustained cost of making `iters` items and exporting them,
/// whichever of the producer and the export worker is slower.
#[inline]
pub fn time_exported(iters: u64, chunk: u64, f: impl FnMut(), flush: impl FnMut()) -> Duration {
    let start = Instant::now();
    run_flushed(iters, chunk, f, flush);
    start.elapsed()
}
