//! What a timestamp costs: our clock against the standard library's.
//!
//! `telemetry_core::Timestamp::now` is read twice per span; this benchmark is the evidence
//! for choosing the TSC-based source over `SystemTime::now()` (see `clock.rs` in
//! telemetry-core).

use std::hint::black_box;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use telemetry_core::Timestamp;

fn clock_reads(c: &mut Criterion) {
    let mut group = c.benchmark_group("clock/read");
    group.bench_function("telemetry Timestamp::now", |b| {
        b.iter(|| black_box(Timestamp::now()));
    });
    group.bench_function("std SystemTime::now", |b| {
        b.iter(|| {
            let since = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            black_box(since.as_nanos() as u64)
        });
    });
    group.bench_function("std Instant::now", |b| {
        b.iter(|| black_box(Instant::now()));
    });
    group.finish();
    eprintln!("clock source on this machine: {:?}", Timestamp::source());
}

criterion_group!(benches, clock_reads);
criterion_main!(benches);
