//! Two threads end spans and record metrics as fast as they can for
//! `TELEMETRY_STRESS_SECONDS` seconds (5 by default; 60 for the figures in
//! docs/reliability.md), through a real batch span processor and a metric reader collected
//! concurrently, and every count must come out exact:
//!
//! - spans exported + spans the processor counted as dropped == spans ended, no span
//!   exported twice, and every exported child's parent exported too, unless the processor
//!   dropped some (then at most that many orphans);
//! - the counter's deltas, summed over every collection, == the number of adds (through a
//!   bound handle and by attributes); the histogram's count == the number of records and its
//!   sum the exact sum of the values.
//!
//! Span ids are structured (a thread slot and a per-thread sequence), so the exporter keeps
//! one bit per span instead of the spans themselves, and a 60 s run stays small.
//!
//! ```text
//! TELEMETRY_STRESS_SECONDS=60 cargo test -p telemetry --test stress -- --nocapture
//! ```

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use telemetry::KeyValue;
use telemetry::core::{SpanId, TraceId};
use telemetry::metrics::data::{MetricData, ResourceMetrics};
use telemetry::metrics::{ManualReader, MeterProvider, TemporalityPreference};
use telemetry::span::{
    BatchConfig, BatchSpanProcessor, ExportError, IdGenerator, Sampler, SpanData, SpanExporter,
    TracerProvider,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Threads recording, besides the pipeline's own (the span export worker) and the collector.
const THREADS: usize = 2;

/// Bits of a span id that hold the per-thread sequence; the bits above hold the slot.
const SEQ_BITS: u32 = 40;

/// Gives each thread a slot on its first span.
static NEXT_SLOT: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's slot, once it has started a span.
    static SLOT: Cell<Option<u64>> = const { Cell::new(None) };
    /// The sequence number of this thread's next span id.
    static SEQ: Cell<u64> = const { Cell::new(0) };
}

/// Span ids `(slot + 1) << SEQ_BITS | seq`, counting up on each thread: a parent started
/// just before its child gets the id one below the child's. Trace ids are unique likewise.
#[derive(Debug)]
struct SequentialIds;

fn slot() -> u64 {
    SLOT.with(|slot| {
        slot.get().unwrap_or_else(|| {
            // Relaxed: only uniqueness matters.
            let new = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
            slot.set(Some(new));
            new
        })
    })
}

impl IdGenerator for SequentialIds {
    fn new_trace_id(&self) -> TraceId {
        // The next span id is the root's: the trace takes its number.
        let seq = SEQ.with(Cell::get);
        TraceId::from_int((u128::from(slot() + 1) << 64) | u128::from(seq))
    }

    fn new_span_id(&self) -> SpanId {
        let seq = SEQ.with(|seq| {
            let value = seq.get();
            seq.set(value + 1);
            value
        });
        SpanId::from_int(((slot() + 1) << SEQ_BITS) | seq)
    }
}

/// The slot and sequence number of a span id from [`SequentialIds`].
fn split(id: SpanId) -> (usize, u64) {
    let id = id.to_int();
    let slot = (id >> SEQ_BITS).saturating_sub(1);
    (
        usize::try_from(slot).unwrap_or(usize::MAX),
        id & ((1 << SEQ_BITS) - 1),
    )
}

/// What the exporter saw: one bit per exported span id, per thread slot.
#[derive(Debug, Default)]
struct Seen {
    bits: Vec<Vec<u64>>,
    exported: u64,
    duplicates: u64,
    /// Spans whose id, name or parent does not fit the shape the threads make.
    malformed: u64,
}

impl Seen {
    /// Marks `(slot, seq)`; false when it was marked already.
    fn mark(&mut self, slot: usize, seq: u64) -> bool {
        if self.bits.len() <= slot {
            self.bits.resize_with(slot + 1, Vec::new);
        }
        let words = &mut self.bits[slot];
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if words.len() <= word {
            words.resize(word + 1, 0);
        }
        let fresh = words[word] & (1 << bit) == 0;
        words[word] |= 1 << bit;
        fresh
    }

    fn is_marked(&self, slot: usize, seq: u64) -> bool {
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        self.bits
            .get(slot)
            .and_then(|words| words.get(word))
            .is_some_and(|w| w & (1 << bit) != 0)
    }

    /// Exported children (odd sequence numbers) whose parent (the even one below) was not
    /// exported.
    fn orphans(&self) -> u64 {
        let mut orphans = 0;
        for (slot, words) in self.bits.iter().enumerate() {
            for (word, bits) in words.iter().enumerate() {
                for bit in (1..64).step_by(2) {
                    if bits & (1 << bit) != 0 && !self.is_marked(slot, word as u64 * 64 + bit - 1) {
                        orphans += 1;
                    }
                }
            }
        }
        orphans
    }
}

/// Checks each exported span's shape and marks its id.
#[derive(Debug, Clone, Default)]
struct CountingExporter {
    seen: Arc<Mutex<Seen>>,
}

impl SpanExporter for CountingExporter {
    fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError> {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for span in batch {
            let (slot, seq) = split(span.span_context.span_id());
            seen.exported += 1;
            if !seen.mark(slot, seq) {
                seen.duplicates += 1;
            }
            let well_formed = if seq % 2 == 0 {
                span.name.as_str() == "stress.parent" && !span.parent_span_id.is_valid()
            } else {
                span.name.as_str() == "stress.child"
                    && span.parent_span_id.to_int() == span.span_context.span_id().to_int() - 1
                    && span.attributes.len() == 2
            };
            if !well_formed {
                seen.malformed += 1;
            }
        }
        Ok(())
    }
}

/// Totals of the counter and the histogram over every delta collection.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct MetricTotals {
    bound_adds: u64,
    unbound_adds: u64,
    histogram_count: u64,
    histogram_sum: f64,
    collections: u64,
}

impl MetricTotals {
    fn add(&mut self, metrics: &ResourceMetrics) {
        self.collections += 1;
        for metric in metrics.scope_metrics.iter().flat_map(|s| &s.metrics) {
            match (&metric.data, metric.name.as_str()) {
                (MetricData::Sum(sum), "stress.adds") => {
                    for point in &sum.points {
                        let bound = point.attributes.iter().any(|kv| {
                            kv.key.as_str() == "path" && kv.value.as_str() == Some("bound")
                        });
                        // Integral and far below 2^53: exact as an f64.
                        let value = point.value.as_f64() as u64;
                        if bound {
                            self.bound_adds += value;
                        } else {
                            self.unbound_adds += value;
                        }
                    }
                }
                (MetricData::Histogram(histogram), "stress.values") => {
                    for point in &histogram.points {
                        self.histogram_count += point.count;
                        self.histogram_sum += point.sum.unwrap_or(f64::NAN);
                    }
                }
                _ => {}
            }
        }
    }
}

/// What one recording thread did.
#[derive(Debug, Default, Clone, Copy)]
struct Done {
    iterations: u64,
    histogram_sum: u64,
}

fn stress_seconds() -> Result<u64, Box<dyn std::error::Error>> {
    match std::env::var("TELEMETRY_STRESS_SECONDS") {
        Ok(value) => Ok(value
            .parse()
            .map_err(|e| format!("TELEMETRY_STRESS_SECONDS={value:?}: {e}"))?),
        Err(_) => Ok(5),
    }
}

#[test]
fn two_threads_of_spans_and_metrics_give_exact_counts() -> TestResult {
    let seconds = stress_seconds()?;
    let exporter = CountingExporter::default();
    // A small queue and delay: the worker drains often and the queue may fill under load;
    // either way every span is exported or counted.
    let processor = Arc::new(BatchSpanProcessor::with_config(
        exporter.clone(),
        BatchConfig {
            max_queue_size: 4096,
            max_export_batch_size: 512,
            scheduled_delay: Duration::from_millis(5),
            export_timeout: Duration::from_secs(30),
        },
    )?);
    let tracer_provider = TracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_id_generator(SequentialIds)
        .with_span_processor(Arc::clone(&processor))
        .build();
    let reader = ManualReader::with_temporality(TemporalityPreference::Delta);
    let meter_provider = MeterProvider::builder().with_reader(reader.clone()).build();

    let stop = AtomicBool::new(false);
    let start = Barrier::new(THREADS + 1);
    let mut totals = MetricTotals::default();
    let started = Instant::now();
    let done: Vec<Done> = thread::scope(|scope| -> Result<Vec<Done>, String> {
        let workers: Vec<_> = (0..THREADS)
            .map(|index| {
                let tracer = tracer_provider.tracer("stress");
                let meter = meter_provider.meter("stress");
                let (stop, start) = (&stop, &start);
                scope.spawn(move || -> Result<Done, String> {
                    let adds = meter
                        .u64_counter("stress.adds")
                        .build()
                        .map_err(|e| e.to_string())?;
                    let values = meter
                        .u64_histogram("stress.values")
                        .build()
                        .map_err(|e| e.to_string())?;
                    let bound = adds.bind(&[KeyValue::new("path", "bound")]);
                    let unbound = [KeyValue::new("path", "unbound")];
                    let thread = KeyValue::new("thread", index as i64);
                    let mut done = Done::default();
                    start.wait();
                    // Relaxed: the flag only ends the loop; the scope's join orders the rest.
                    while !stop.load(Ordering::Relaxed) {
                        let parent = tracer.start("stress.parent");
                        parent.set_attribute(thread.clone());
                        {
                            let _current = parent.enter();
                            let child = tracer.start("stress.child");
                            child.set_attribute(thread.clone());
                            child.set_attribute(KeyValue::new("iteration", done.iterations as i64));
                        }
                        drop(parent);
                        bound.add(1);
                        adds.add(1, &unbound);
                        let value = done.iterations % 1000;
                        values.record(value, &[]);
                        done.histogram_sum += value;
                        done.iterations += 1;
                    }
                    Ok(done)
                })
            })
            .collect();
        start.wait();
        // Collects deltas while the threads record, as an exporter's reader would.
        let deadline = Instant::now() + Duration::from_secs(seconds);
        while Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
            totals.add(&reader.collect().map_err(|e| e.to_string())?);
        }
        stop.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .map(|worker| worker.join().map_err(|_| "a worker panicked".to_owned())?)
            .collect()
    })?;
    let recording = started.elapsed();
    totals.add(&reader.collect()?);
    let shutdown_started = Instant::now();
    tracer_provider.shutdown()?;
    let shutdown = shutdown_started.elapsed();
    meter_provider.shutdown()?;

    let iterations: u64 = done.iter().map(|d| d.iterations).sum();
    let ended = 2 * iterations;
    let counts = processor.counts();
    let seen = exporter
        .seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let orphans = seen.orphans();
    eprintln!(
        "stress: {seconds} s ({recording:.1?} recording, {shutdown:.1?} shutdown), {THREADS} \
         threads: {iterations} iterations, spans ended {ended}, exported {}, dropped {} \
         (queue full {}, export failed {}, exporter panic {}), queued at the end {}, orphans \
         {orphans}; counter adds {} bound + {} unbound, histogram count {} sum {}, over {} \
         delta collections",
        seen.exported,
        counts.queue.dropped(),
        counts.queue.dropped_full,
        counts.queue.dropped_export_failed,
        counts.queue.dropped_sink_panic,
        counts.queue.queued,
        totals.bound_adds,
        totals.unbound_adds,
        totals.histogram_count,
        totals.histogram_sum,
        totals.collections,
    );

    assert!(iterations > 0, "the threads recorded nothing");
    // Spans: every one ended is exported or counted as dropped, exactly once.
    assert_eq!(counts.queue.pushed, ended, "{counts:?}");
    assert_eq!(counts.queue.queued, 0, "{counts:?}");
    assert_eq!(counts.queue.exported, seen.exported, "{counts:?}");
    assert_eq!(seen.exported + counts.queue.dropped(), ended, "{counts:?}");
    assert_eq!(seen.duplicates, 0);
    assert_eq!(seen.malformed, 0);
    assert!(
        orphans <= counts.queue.dropped(),
        "{orphans} orphans, {counts:?}"
    );
    // Metrics: nothing lost or counted twice between collections.
    assert_eq!(totals.bound_adds, iterations);
    assert_eq!(totals.unbound_adds, iterations);
    assert_eq!(totals.histogram_count, iterations);
    let histogram_sum: u64 = done.iter().map(|d| d.histogram_sum).sum();
    // Integral and far below 2^53: every partial sum is exact in f64.
    assert_eq!(totals.histogram_sum, histogram_sum as f64);
    Ok(())
}
