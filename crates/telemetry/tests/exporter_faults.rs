//! The exporter fault matrix (issue 12, point 1): the real pipeline — batch span and log
//! processors and periodic metric readers over the OTLP/HTTP exporters, and for some faults
//! the OTLP/gRPC ones — against a loopback collector (`fault_server`) that is down at the
//! start, down for 10 s mid-run, refusing with 503 or 429 and `Retry-After` (gRPC:
//! `UNAVAILABLE`), stalling past the export deadline, resetting connections, or answering
//! with a `partial_success`.
//!
//! For each fault the tests check what the pipeline promises:
//! - every span and log record accepted into a queue arrives once the collector is back,
//!   exactly once (span ids and the records' `seq` attribute are checked one by one);
//! - what did not arrive is exactly what was counted: queue overflow (`dropped_full`),
//!   batches given up (`dropped_export_failed`) and items the collector rejected
//!   (`partial_success`, in the exporter's stats);
//! - metrics: the last cumulative value of a counter is the total added; every delta
//!   collection the periodic reader counts as exported arrived exactly once and in order
//!   (or was rejected by the collector in `partial_success`), none is left in the reader's
//!   backlog, and the deltas that arrived or were rejected add up to the total added when
//!   the reader counted no collection as failed or dropped, to less when it did;
//! - no span end, log emit or counter add on the program's thread takes longer than
//!   [`MAX_PUSH`], outage or not (measured, each call);
//! - shutdown returns within its deadline, collector down or stalling; a meter provider's
//!   shutdown returns within the reader's timeout too. It returns the reader's own answer
//!   unless the reader was in the middle of a periodic export, which it finishes (within the
//!   export timeout) before it can take the shutdown; the wait then gives up on time and
//!   the reader's thread ends by itself (the row prints which happened; the reader's unit
//!   tests check the join when no export is in flight).
//!
//! Each test prints one line of the matrix (`cargo test -p telemetry --test
//! exporter_faults -- --nocapture`). One fault gets at-least-once delivery rather than
//! exactly once, by the protocol's design: a collector that records a request and then loses
//! its answer gets the request again (`a_collector_that_records_then_resets_gets_everything_at_least_once`).
//!
//! The pipeline is built from the crates rather than through `TelemetryBuilder`: the facade
//! neither takes a [`RetryPolicy`] nor hands out the processors' counts, and every test
//! needs both (and its own pipeline, with no global state shared between parallel tests).
#![allow(
    clippy::print_stdout,
    reason = "each test prints its row of the fault matrix for docs/reliability.md"
)]

mod fault_server;

use std::collections::HashSet;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fault_server::{Arrived, EXPORTER_HEADER, Fault, FaultServer, Seen, Signal, SumPoint};
use telemetry_core::SpanId;
use telemetry_logs::{
    BatchConfig as LogBatchConfig, BatchLogProcessor, LogRecord, Logger, LoggerProvider, Severity,
};
use telemetry_metrics::data::Temporality;
use telemetry_metrics::{
    Counter, MeterProvider, PeriodicReader, PeriodicReaderStats, PushMetricExporter,
    TemporalityPreference,
};
use telemetry_otlp::{
    GrpcLogExporter, GrpcMetricExporter, GrpcSpanExporter, HttpLogExporter, HttpMetricExporter,
    HttpSpanExporter, RetryPolicy,
};
use telemetry_span::{BatchConfig, BatchSpanProcessor, Sampler, Tracer, TracerProvider};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Spans or log records a queue holds (a power of two, so it is exactly what is allocated).
const QUEUE: usize = 256;
/// Items per export.
const BATCH: usize = 32;
/// How long an item waits for its batch; also the first wait before a failed batch's retry.
const SCHEDULED_DELAY: Duration = Duration::from_millis(50);
/// Deadline of one export, retries included, for every exporter.
const EXPORT_TIMEOUT: Duration = Duration::from_millis(400);
/// The periodic readers' interval.
const METRIC_INTERVAL: Duration = Duration::from_millis(100);
/// Deadline for a provider's shutdown (each span and log processor).
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(2);
/// What a shutdown may take past its deadline: returning, and scheduling on a loaded
/// 2-core machine.
const SHUTDOWN_MARGIN: Duration = Duration::from_millis(300);
/// The longest a span end, a log emit or a counter add may take on the program's thread: a
/// push into a lock-free queue takes microseconds, so this only fails if something blocks
/// (on the exporter, the network, a lock held across an export).
const MAX_PUSH: Duration = Duration::from_millis(50);
/// The longest a test waits for the pipeline to deliver once the collector is back.
const SETTLE_WITHIN: Duration = Duration::from_secs(10);
/// The counter both meter providers record into.
const COUNTER: &str = "faults.added";

/// Fast retries inside one export, so that each export uses its deadline on many attempts.
fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        max_attempts: 5,
    }
}

/// The longest push of each kind seen so far.
#[derive(Clone, Copy, Debug, Default)]
struct PushTimes {
    span_end: Duration,
    log_emit: Duration,
    counter_add: Duration,
}

impl PushTimes {
    fn max(&self) -> Duration {
        self.span_end.max(self.log_emit).max(self.counter_add)
    }
}

/// The queue counts a ledger needs. `telemetry_batcher::Counts` cannot be named here (the
/// facade does not depend on the batcher crate), so [`queue_view!`] copies its fields.
#[derive(Clone, Copy, Debug)]
struct QueueView {
    pushed: u64,
    exported: u64,
    dropped_full: u64,
    dropped_export_failed: u64,
    /// Every drop, whatever the cause.
    dropped: u64,
    queued: u64,
}

/// A [`QueueView`] of a processor's `counts().queue`.
macro_rules! queue_view {
    ($queue:expr) => {{
        let queue = $queue;
        QueueView {
            pushed: queue.pushed,
            exported: queue.exported,
            dropped_full: queue.dropped_full,
            dropped_export_failed: queue.dropped_export_failed,
            dropped: queue.dropped(),
            queued: queue.queued,
        }
    }};
}

/// Which exporters a pipeline uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    /// OTLP/HTTP protobuf, over hyper.
    Http,
    /// OTLP/gRPC, over tonic.
    Grpc,
}

/// The builder of exporter type `$exporter`, set up for the fault server: its endpoint
/// (`$path` for OTLP/HTTP, empty for gRPC), a header naming it, the export deadline and the
/// fast retries.
macro_rules! configured {
    ($exporter:ty, $server:expr, $path:expr, $name:expr) => {
        <$exporter>::builder()
            .endpoint($server.url($path))
            .header(EXPORTER_HEADER, $name)
            .timeout(Some(EXPORT_TIMEOUT))
            .retry(fast_retry())
    };
}

/// Reads an exporter's count of items the collector rejected.
type Rejected = Box<dyn Fn() -> u64>;

/// The whole pipeline under test, built from the crates (see `Pipeline::start` for why not
/// through the facade), with handles on its counts.
struct Pipeline {
    tracer_provider: TracerProvider,
    tracer: Tracer,
    spans: Arc<BatchSpanProcessor>,
    spans_rejected: Rejected,
    logger_provider: LoggerProvider,
    logger: Logger,
    logs: Arc<BatchLogProcessor>,
    logs_rejected: Rejected,
    /// Cumulative, then delta: one meter provider and reader per temporality.
    meters: [MeterProvider; 2],
    counters: [Counter<u64>; 2],
    points_rejected: [Rejected; 2],
    /// What each periodic reader exported, failed and dropped (same order).
    readers: [PeriodicReaderStats; 2],
    sent_spans: Vec<SpanId>,
    sent_logs: Vec<i64>,
    added: u64,
    push: PushTimes,
}

impl Pipeline {
    /// Builds the pipeline on `server`. Directly from the crates rather than through
    /// `TelemetryBuilder`: the facade neither takes a [`RetryPolicy`] nor hands out the
    /// processors' counts, and both are what these tests measure.
    fn start(
        server: &FaultServer,
        transport: Transport,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        // Every exporter names itself, so that the collector can tell their requests apart.
        let span_config = BatchConfig {
            max_queue_size: QUEUE,
            max_export_batch_size: BATCH,
            scheduled_delay: SCHEDULED_DELAY,
            export_timeout: EXPORT_TIMEOUT,
        };
        let (spans, spans_rejected): (BatchSpanProcessor, Rejected) = match transport {
            Transport::Http => {
                let exporter =
                    configured!(HttpSpanExporter, server, "/v1/traces", "spans").build()?;
                let stats = exporter.stats();
                (
                    BatchSpanProcessor::with_config(exporter, span_config)?,
                    Box::new(move || stats.rejected_items()),
                )
            }
            Transport::Grpc => {
                let exporter = configured!(GrpcSpanExporter, server, "", "spans").build()?;
                let stats = exporter.stats();
                (
                    BatchSpanProcessor::with_config(exporter, span_config)?,
                    Box::new(move || stats.rejected_items()),
                )
            }
        };
        let spans = Arc::new(spans);
        let tracer_provider = TracerProvider::builder()
            .with_sampler(Sampler::AlwaysOn)
            .with_span_processor(Arc::clone(&spans))
            .build();
        let tracer = tracer_provider.tracer("faults");

        let log_config = LogBatchConfig {
            max_queue_size: QUEUE,
            max_export_batch_size: BATCH,
            scheduled_delay: SCHEDULED_DELAY,
            export_timeout: EXPORT_TIMEOUT,
        };
        let (logs, logs_rejected): (BatchLogProcessor, Rejected) = match transport {
            Transport::Http => {
                let exporter = configured!(HttpLogExporter, server, "/v1/logs", "logs").build()?;
                let stats = exporter.stats();
                (
                    BatchLogProcessor::with_config(exporter, log_config)?,
                    Box::new(move || stats.rejected_items()),
                )
            }
            Transport::Grpc => {
                let exporter = configured!(GrpcLogExporter, server, "", "logs").build()?;
                let stats = exporter.stats();
                (
                    BatchLogProcessor::with_config(exporter, log_config)?,
                    Box::new(move || stats.rejected_items()),
                )
            }
        };
        let logs = Arc::new(logs);
        let logger_provider = LoggerProvider::builder()
            .with_processor(Arc::clone(&logs))
            .build();
        let logger = logger_provider.logger("faults");

        let meter = |preference, name: &str| -> Result<_, Box<dyn std::error::Error>> {
            let (reader, rejected): (PeriodicReader, Rejected) = match transport {
                Transport::Http => {
                    let exporter = configured!(HttpMetricExporter, server, "/v1/metrics", name)
                        .temporality_preference(preference)
                        .build()?;
                    let stats = exporter.stats();
                    (periodic(exporter), Box::new(move || stats.rejected_items()))
                }
                Transport::Grpc => {
                    let exporter = configured!(GrpcMetricExporter, server, "", name)
                        .temporality(preference)
                        .build()?;
                    let stats = exporter.stats();
                    (periodic(exporter), Box::new(move || stats.rejected_items()))
                }
            };
            let stats = reader.stats();
            let provider = MeterProvider::builder().with_reader(reader).build();
            let counter = provider.meter("faults").u64_counter(COUNTER).build()?;
            Ok((provider, counter, rejected, stats))
        };
        let (cumulative, cumulative_counter, cumulative_rejected, cumulative_reader) =
            meter(TemporalityPreference::Cumulative, "cumulative metrics")?;
        let (delta, delta_counter, delta_rejected, delta_reader) =
            meter(TemporalityPreference::Delta, "delta metrics")?;

        Ok(Pipeline {
            tracer_provider,
            tracer,
            spans,
            spans_rejected,
            logger_provider,
            logger,
            logs,
            logs_rejected,
            meters: [cumulative, delta],
            counters: [cumulative_counter, delta_counter],
            points_rejected: [cumulative_rejected, delta_rejected],
            readers: [cumulative_reader, delta_reader],
            sent_spans: Vec::new(),
            sent_logs: Vec::new(),
            added: 0,
            push: PushTimes::default(),
        })
    }

    /// Ends `n` spans, emits `n` log records and adds `n` times 1 to each counter, timing
    /// every call on this (the program's) thread.
    fn emit(&mut self, n: usize) {
        for _ in 0..n {
            let seq = i64::try_from(self.sent_logs.len()).unwrap_or(i64::MAX);

            let start = Instant::now();
            let span = self.tracer.start("fault");
            let id = span.span_context().span_id();
            span.end();
            let ended = Instant::now();
            let record = LogRecord::new(Severity::INFO)
                .with_body("fault")
                .with_attribute("seq", seq);
            self.logger.emit(record);
            let emitted = Instant::now();
            for counter in &self.counters {
                let start = Instant::now();
                counter.add(1, &[]);
                self.push.counter_add = self.push.counter_add.max(start.elapsed());
            }

            self.push.span_end = self.push.span_end.max(ended - start);
            self.push.log_emit = self.push.log_emit.max(emitted - ended);
            self.sent_spans.push(id);
            self.sent_logs.push(seq);
            self.added += 1;
        }
    }

    /// Waits until both queues are empty and the last cumulative value is the total, then
    /// flushes the meter providers so that the last delta goes out too.
    fn settle(&self, server: &FaultServer) -> TestResult {
        let started = Instant::now();
        loop {
            let spans = self.spans.counts().queue;
            let logs = self.logs.counts().queue;
            let cumulative = server.arrived(last_cumulative);
            if spans.queued == 0
                && spans.pushed == self.sent_spans.len() as u64
                && logs.queued == 0
                && logs.pushed == self.sent_logs.len() as u64
                && cumulative == Some(self.added as f64)
            {
                break;
            }
            if started.elapsed() > SETTLE_WITHIN {
                return Err(format!(
                    "not settled within {SETTLE_WITHIN:?}: spans {spans:?}, logs {logs:?}, last \
                     cumulative {cumulative:?} of {}",
                    self.added
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for meter in &self.meters {
            meter.force_flush()?;
        }
        Ok(())
    }

    /// Shuts every provider down, each timed against its deadline.
    fn shutdown(&self) -> ShutdownTimes {
        let outcomes = std::cell::RefCell::new(Vec::new());
        let timed = |what: &str, deadline: Duration, shutdown: &dyn Fn() -> String| {
            let start = Instant::now();
            let outcome = shutdown();
            let took = start.elapsed();
            assert!(
                took <= deadline + SHUTDOWN_MARGIN,
                "{what} shutdown took {took:?}, deadline {deadline:?} ({outcome})"
            );
            outcomes.borrow_mut().push(outcome);
            took
        };
        let spans = timed("tracer provider", SHUTDOWN_DEADLINE, &|| {
            format!(
                "{:?}",
                self.tracer_provider
                    .shutdown_with_timeout(SHUTDOWN_DEADLINE)
            )
        });
        let logs = timed("logger provider", SHUTDOWN_DEADLINE, &|| {
            format!(
                "{:?}",
                self.logger_provider
                    .shutdown_with_timeout(SHUTDOWN_DEADLINE)
            )
        });
        // A meter provider's deadline is its reader's timeout (one reader each). In the
        // printed outcome, `Timeout` is the provider's wait giving up (the reader was busy
        // with a periodic export); an export's own timeout comes as `Export`.
        let meters = self.meters.each_ref().map(|meter| {
            timed("meter provider", EXPORT_TIMEOUT, &|| {
                format!("{:?}", meter.shutdown())
            })
        });
        ShutdownTimes {
            traces: spans,
            logs,
            metrics: meters[0].max(meters[1]),
            outcomes: outcomes.take().join(", "),
        }
    }
}

/// How long each provider's shutdown took.
#[derive(Clone, Debug)]
struct ShutdownTimes {
    traces: Duration,
    logs: Duration,
    /// The longer of the two meter providers'.
    metrics: Duration,
    /// What each shutdown returned, in that order (cumulative meter provider first).
    outcomes: String,
}

/// A periodic reader on `exporter` with the tests' interval and deadline.
fn periodic(exporter: impl PushMetricExporter) -> PeriodicReader {
    PeriodicReader::builder(exporter)
        .with_interval(METRIC_INTERVAL)
        .with_timeout(EXPORT_TIMEOUT)
        .build()
}

/// The value of the last cumulative point of [`COUNTER`] to arrive.
fn last_cumulative(arrived: &Arrived) -> Option<f64> {
    arrived
        .sums
        .iter()
        .rev()
        .find(|point| point.name == COUNTER && point.temporality == Temporality::Cumulative)
        .map(|point| point.value)
}

/// What became of the delta collections of [`COUNTER`], from the collector's and the
/// delta reader's side.
#[derive(Clone, Copy, Debug, Default)]
struct Deltas {
    /// The sum of the delta points that arrived, and how many arrived.
    sum: f64,
    points: u64,
    /// Those the collector rejected through `partial_success`: sum and count.
    rejected_sum: f64,
    rejected_points: u64,
    /// Delta points that arrived (or were rejected) more than once.
    repeated: u64,
    /// Delta points that arrived out of order: starting no later than the one before.
    out_of_order: u64,
    /// The delta reader's count of collections exported, failed for good, dropped, and
    /// still kept for a later try.
    exported: u64,
    failed: u64,
    dropped: u64,
    backlog: u64,
}

impl Deltas {
    fn read(arrived: &Arrived, reader: &PeriodicReaderStats) -> Self {
        let is_delta =
            |point: &&SumPoint| point.name == COUNTER && point.temporality == Temporality::Delta;
        let kept: Vec<&SumPoint> = arrived.sums.iter().filter(is_delta).collect();
        let rejected: Vec<&SumPoint> = arrived.rejected_sums.iter().filter(is_delta).collect();
        let mut intervals = HashSet::new();
        let repeated = kept
            .iter()
            .chain(&rejected)
            .filter(|point| !intervals.insert((point.start, point.time)))
            .count() as u64;
        let out_of_order = kept
            .windows(2)
            .filter(|pair| pair[1].start <= pair[0].start)
            .count() as u64;
        Deltas {
            // Folded from +0.0: an empty f64 `sum()` is -0.0, which prints as "-0".
            sum: kept.iter().fold(0.0, |sum, point| sum + point.value),
            points: kept.len() as u64,
            rejected_sum: rejected.iter().fold(0.0, |sum, point| sum + point.value),
            rejected_points: rejected.len() as u64,
            repeated,
            out_of_order,
            exported: reader.exported_collections(),
            failed: reader.failed_collections(),
            dropped: reader.dropped_collections(),
            backlog: reader.backlog_collections(),
        }
    }

    /// What the delta ledger must satisfy, as a failure message if it does not. The delta
    /// meter has one counter without attributes, so each collection it exports holds one
    /// point of it.
    fn check(&self, added: u64) -> Result<(), String> {
        let received = self.sum + self.rejected_sum;
        let lost = self.failed + self.dropped;
        if self.repeated > 0 || self.out_of_order > 0 {
            return Err(format!("delta points repeated or out of order: {self:?}"));
        }
        if self.points + self.rejected_points != self.exported {
            return Err(format!(
                "the delta reader exported {} collections, {} points arrived: {self:?}",
                self.exported,
                self.points + self.rejected_points
            ));
        }
        if self.backlog != 0 {
            return Err(format!("collections left in the backlog: {self:?}"));
        }
        if lost == 0 && received != added as f64 {
            return Err(format!(
                "no collection counted lost, yet the deltas add up to {received} of {added}: \
                 {self:?}"
            ));
        }
        if lost > 0 && received >= added as f64 {
            return Err(format!(
                "{lost} collections counted lost, yet the deltas add up to {received} of \
                 {added}: {self:?}"
            ));
        }
        Ok(())
    }
}

impl std::fmt::Display for Deltas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "deltas sum to {} in {} points (+{} in {} rejected); reader: {} exported, {} \
             failed, {} dropped",
            self.sum,
            self.points,
            self.rejected_sum,
            self.rejected_points,
            self.exported,
            self.failed,
            self.dropped
        )
    }
}

/// The fate of one signal's items, for the report.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    sent: u64,
    /// Taken into the queue: sent less `dropped_full`.
    accepted: u64,
    /// Distinct items that arrived.
    delivered: u64,
    /// Arrivals of an item already delivered.
    duplicates: u64,
    dropped_full: u64,
    dropped_export_failed: u64,
    /// Rejected by the collector in `partial_success`, as the exporter counted them.
    rejected: u64,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.sent,
            self.accepted,
            self.delivered,
            self.dropped_full + self.dropped_export_failed + self.rejected
        )?;
        if self.duplicates > 0 {
            write!(f, " ({} duplicates)", self.duplicates)?;
        }
        Ok(())
    }
}

/// Checks one signal's ledger: every arrival is an item that was sent; `duplicates` arrivals
/// repeat an earlier one (the caller asserts how many it allows); the items that did not
/// arrive are exactly as many as the queue and the exporter counted.
fn ledger<T: Eq + Hash + Copy + Debug>(
    what: &str,
    sent: &[T],
    arrived: &[T],
    queue: QueueView,
    rejected_by_exporter: u64,
    rejected_by_server: u64,
) -> Tally {
    let sent_set: HashSet<T> = sent.iter().copied().collect();
    assert_eq!(
        sent_set.len(),
        sent.len(),
        "{what}: ids are unique when sent"
    );
    let mut delivered = HashSet::new();
    let mut duplicates = 0u64;
    for item in arrived {
        assert!(sent_set.contains(item), "{what}: {item:?} was never sent");
        if !delivered.insert(*item) {
            duplicates += 1;
        }
    }
    let missing = (sent.len() - delivered.len()) as u64;
    assert_eq!(queue.pushed, sent.len() as u64, "{what}: {queue:?}");
    assert_eq!(queue.queued, 0, "{what}: nothing left queued: {queue:?}");
    assert_eq!(
        queue.exported + queue.dropped,
        queue.pushed,
        "{what}: every item has one fate: {queue:?}"
    );
    assert_eq!(
        rejected_by_exporter, rejected_by_server,
        "{what}: the exporter counts every item the collector rejected"
    );
    assert_eq!(
        missing,
        queue.dropped + rejected_by_exporter,
        "{what}: what is missing is what was counted: {queue:?}, {rejected_by_exporter} rejected"
    );
    Tally {
        sent: sent.len() as u64,
        accepted: queue.pushed - queue.dropped_full,
        delivered: delivered.len() as u64,
        duplicates,
        dropped_full: queue.dropped_full,
        dropped_export_failed: queue.dropped_export_failed,
        rejected: rejected_by_exporter,
    }
}

/// One row of the matrix: what a scenario sent and what became of it.
#[derive(Debug)]
struct Row {
    fault: String,
    spans: Tally,
    logs: Tally,
    /// The last cumulative value that arrived.
    cumulative: f64,
    /// The delta ledger.
    delta: Deltas,
    added: u64,
    /// Data points the collector rejected (both metric exporters).
    metric_points_rejected: u64,
    push: PushTimes,
    shutdown: ShutdownTimes,
}

impl Row {
    fn print(&self) {
        println!(
            "| {} | spans {} | logs {} | counter {} added: last cumulative {}, {} \
             (added minus deltas: {}; {} points rejected) | max push {:?} (span end {:?}, log emit {:?}, \
             counter add {:?}) | shutdown: traces {:.1?}, logs {:.1?}, metrics {:.1?} ({}) |",
            self.fault,
            self.spans,
            self.logs,
            self.added,
            self.cumulative,
            self.delta,
            self.added as f64 - self.delta.sum,
            self.metric_points_rejected,
            self.push.max(),
            self.push.span_end,
            self.push.log_emit,
            self.push.counter_add,
            self.shutdown.traces,
            self.shutdown.logs,
            self.shutdown.metrics,
            self.shutdown.outcomes,
        );
    }
}

/// Shuts the pipeline down (timed against each deadline), checks both ledgers and the
/// metrics, prints the row, then asserts what every scenario promises.
fn finish(fault: &str, pipeline: &Pipeline, server: &FaultServer) -> Result<Row, String> {
    let shutdown = pipeline.shutdown();
    let spans = server.arrived(|arrived| {
        ledger(
            "spans",
            &pipeline.sent_spans,
            &arrived.span_ids,
            queue_view!(pipeline.spans.counts().queue),
            (pipeline.spans_rejected)(),
            arrived.rejected(Signal::Traces),
        )
    });
    let logs = server.arrived(|arrived| {
        ledger(
            "logs",
            &pipeline.sent_logs,
            &arrived.log_seqs,
            queue_view!(pipeline.logs.counts().queue),
            (pipeline.logs_rejected)(),
            arrived.rejected(Signal::Logs),
        )
    });
    let (cumulative, delta, server_rejected, undecodable) = server.arrived(|arrived| {
        (
            last_cumulative(arrived),
            Deltas::read(arrived, &pipeline.readers[1]),
            arrived.rejected(Signal::Metrics),
            arrived.undecodable,
        )
    });
    let metric_points_rejected: u64 = pipeline.points_rejected.iter().map(|read| read()).sum();
    let row = Row {
        fault: fault.to_owned(),
        spans,
        logs,
        cumulative: cumulative.unwrap_or(0.0),
        delta,
        added: pipeline.added,
        metric_points_rejected,
        push: pipeline.push,
        shutdown,
    };
    row.print();
    let delta_check = row.delta.check(row.added);
    let failures = [
        (
            undecodable == 0,
            format!("{undecodable} requests did not decode"),
        ),
        (
            spans.duplicates == 0,
            format!("{} spans arrived twice", spans.duplicates),
        ),
        (
            logs.duplicates == 0,
            format!("{} log records arrived twice", logs.duplicates),
        ),
        (
            metric_points_rejected == server_rejected,
            format!(
                "the metric exporters counted {metric_points_rejected} rejected points, the \
                 collector rejected {server_rejected}"
            ),
        ),
        (delta_check.is_ok(), delta_check.err().unwrap_or_default()),
        (
            row.push.max() < MAX_PUSH,
            format!("a push took {:?}, over {MAX_PUSH:?}", row.push.max()),
        ),
    ];
    match failures.into_iter().find(|(ok, _)| !ok) {
        Some((_, failure)) => Err(format!("{fault}: {failure}")),
        None => Ok(row),
    }
}

/// Emits `total` items of each signal spread evenly over `over`, then waits out the rest.
fn emit_over(pipeline: &mut Pipeline, total: usize, over: Duration) {
    const CHUNKS: u32 = 10;
    let start = Instant::now();
    for chunk in 1..=CHUNKS {
        pipeline.emit(total / CHUNKS as usize);
        let next = over * chunk / CHUNKS;
        if let Some(wait) = next.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
}

/// The scenario shared by the faults that leave the collector listening: a first batch
/// delivered normally, then `fault` for `hold` while 100 items of each signal are recorded
/// (fewer than the queues hold), then the collector accepts again, 20 more are recorded, and
/// everything must arrive exactly once.
fn fault_then_recover(
    name: &str,
    transport: Transport,
    fault: Fault,
    hold: Duration,
) -> Result<Row, Box<dyn std::error::Error>> {
    let server = FaultServer::start()?;
    let mut pipeline = Pipeline::start(&server, transport)?;
    pipeline.emit(30);
    pipeline.settle(&server)?;
    server.set_fault(fault);
    emit_over(&mut pipeline, 100, hold);
    server.set_fault(Fault::Accept);
    pipeline.emit(20);
    pipeline.settle(&server)?;
    Ok(finish(
        &format!("{transport:?}: {name}"),
        &pipeline,
        &server,
    )?)
}

/// Asserts that nothing was dropped: every item sent was accepted and delivered, and every
/// delta arrived.
fn assert_lossless(row: &Row) {
    for (what, tally) in [("spans", row.spans), ("logs", row.logs)] {
        assert_eq!(
            (
                tally.accepted,
                tally.delivered,
                tally.dropped_full,
                tally.dropped_export_failed
            ),
            (tally.sent, tally.sent, 0, 0),
            "{}: {what}: {tally:?}",
            row.fault
        );
    }
    assert_eq!(
        (row.delta.sum, row.delta.failed, row.delta.dropped),
        (row.added as f64, 0, 0),
        "{}: deltas: {:?}",
        row.fault,
        row.delta
    );
}

/// Down when the pipeline starts; up after 1.2 s (longer than two export deadlines, so
/// every signal fails at least one export); nothing may be lost.
fn down_at_start(transport: Transport) -> TestResult {
    let server = FaultServer::start_down()?;
    let mut pipeline = Pipeline::start(&server, transport)?;
    emit_over(&mut pipeline, 100, Duration::from_millis(1200));
    server.up()?;
    pipeline.emit(20);
    pipeline.settle(&server)?;
    let name = format!("{transport:?}: down at start (connection refused), up after 1.2 s");
    let row = finish(&name, &pipeline, &server)?;
    assert_lossless(&row);
    assert!(pipeline.spans.counts().retries > 0, "the outage was seen");
    assert!(pipeline.logs.counts().retries > 0, "the outage was seen");
    Ok(())
}

#[test]
fn collector_down_at_start() -> TestResult {
    down_at_start(Transport::Http)
}

#[test]
fn grpc_collector_down_at_start() -> TestResult {
    down_at_start(Transport::Grpc)
}

#[test]
fn collector_down_for_10_s_mid_run() -> TestResult {
    let server = FaultServer::start()?;
    let mut pipeline = Pipeline::start(&server, Transport::Http)?;
    pipeline.emit(30);
    pipeline.settle(&server)?;
    server.down();
    let outage = Instant::now();
    // 600 of each signal during the outage: more than a queue and the batch kept for a
    // retry hold, so the queues overflow.
    emit_over(&mut pipeline, 600, Duration::from_secs(10));
    let during = (
        queue_view!(pipeline.spans.counts().queue),
        queue_view!(pipeline.logs.counts().queue),
    );
    server.up()?;
    let down_for = outage.elapsed();
    assert!(down_for >= Duration::from_secs(10), "{down_for:?}");
    // The backlog first: what comes after it must not meet a queue still full.
    let back = Instant::now();
    pipeline.settle(&server)?;
    println!(
        "down {down_for:.1?}: the backlog arrived {:.1?} after the collector came back",
        back.elapsed()
    );
    pipeline.emit(20);
    pipeline.settle(&server)?;
    let row = finish(
        &format!("Http: down {down_for:.1?} mid-run"),
        &pipeline,
        &server,
    )?;
    for (what, tally, during) in [("spans", row.spans, during.0), ("logs", row.logs, during.1)] {
        assert!(
            tally.dropped_full > 0,
            "{what}: the queue overflowed: {tally:?}"
        );
        assert_eq!(tally.dropped_export_failed, 0, "{what}: {tally:?}");
        // Everything dropped overflowed during the outage, and everything it held arrived.
        assert_eq!(
            during.dropped_full, tally.dropped_full,
            "{what}: {during:?}"
        );
        assert!(tally.accepted >= QUEUE as u64, "{what}: {tally:?}");
        assert_eq!(tally.delivered, tally.accepted, "{what}: {tally:?}");
    }
    // Ten chunks of adds make at most a dozen delta collections while down: fewer than the
    // reader keeps, so every one arrives.
    assert_eq!(
        (row.delta.sum, row.delta.failed, row.delta.dropped),
        (row.added as f64, 0, 0),
        "{:?}",
        row.delta
    );
    Ok(())
}

#[test]
fn collector_refuses_with_503_and_429_and_retry_after() -> TestResult {
    for status in [503, 429] {
        let fault = Fault::Refuse {
            status,
            retry_after: Some(1),
        };
        let name = format!("answers {status} with Retry-After: 1 for 1.5 s");
        let row = fault_then_recover(&name, Transport::Http, fault, Duration::from_millis(1500))?;
        assert_lossless(&row);
    }
    Ok(())
}

#[test]
fn collector_stalls_past_the_deadline() -> TestResult {
    let row = fault_then_recover(
        "stalls (reads, never answers) for 1.5 s",
        Transport::Http,
        Fault::Stall,
        Duration::from_millis(1500),
    )?;
    assert_lossless(&row);
    Ok(())
}

#[test]
fn collector_resets_connections_before_recording() -> TestResult {
    let row = fault_then_recover(
        "resets each connection (RST) after reading the request, for 1.5 s",
        Transport::Http,
        Fault::Reset {
            after_recording: false,
        },
        Duration::from_millis(1500),
    )?;
    assert_lossless(&row);
    Ok(())
}

/// A collector that records a request and then resets the connection gets that request's
/// items again: the exporter cannot tell a lost answer from a lost request, and OTLP has it
/// retry both. Delivery is at least once: nothing is lost, and every duplicate comes from a
/// request whose answer was lost (with the reset before recording there are none:
/// `collector_resets_connections_before_recording`). Deltas sent twice are counted twice
/// by such a collector; nothing on the sending side can prevent that.
#[test]
fn a_collector_that_records_then_resets_gets_everything_at_least_once() -> TestResult {
    let server = FaultServer::start()?;
    let mut pipeline = Pipeline::start(&server, Transport::Http)?;
    pipeline.emit(30);
    pipeline.settle(&server)?;
    server.set_fault(Fault::Reset {
        after_recording: true,
    });
    emit_over(&mut pipeline, 100, Duration::from_millis(1500));
    server.set_fault(Fault::Accept);
    pipeline.emit(20);
    pipeline.settle(&server)?;
    pipeline.shutdown();
    let (requests, items, arrived_spans, arrived_logs) = server.arrived(|arrived| {
        (
            arrived.recorded_then_reset,
            arrived.recorded_then_reset_items,
            arrived.span_ids.clone(),
            arrived.log_seqs.clone(),
        )
    });
    let span_set: HashSet<SpanId> = arrived_spans.iter().copied().collect();
    let log_set: HashSet<i64> = arrived_logs.iter().copied().collect();
    let lost_spans = pipeline
        .sent_spans
        .iter()
        .filter(|id| !span_set.contains(id))
        .count();
    let lost_logs = pipeline
        .sent_logs
        .iter()
        .filter(|seq| !log_set.contains(seq))
        .count();
    let duplicates =
        (arrived_spans.len() - span_set.len() + arrived_logs.len() - log_set.len()) as u64;
    println!(
        "| Http: records, then resets the connection, for 1.5 s | {} spans and {} log records \
         sent; {} and {} arrivals; {duplicates} duplicates from {requests} requests whose \
         answers were lost ({items} items in them); lost: {lost_spans} spans, {lost_logs} logs |",
        pipeline.sent_spans.len(),
        pipeline.sent_logs.len(),
        arrived_spans.len(),
        arrived_logs.len(),
    );
    assert_eq!(
        (lost_spans, lost_logs),
        (0, 0),
        "at least once: nothing lost"
    );
    assert!(requests > 0, "the fault lost some answers");
    assert!(
        duplicates <= items,
        "{duplicates} duplicates, but only {items} items were in requests whose answers \
         were lost"
    );
    Ok(())
}

#[test]
fn collector_returns_partial_success() -> TestResult {
    partial_success(Transport::Http)
}

#[test]
fn grpc_collector_returns_partial_success() -> TestResult {
    partial_success(Transport::Grpc)
}

/// `partial_success` rejecting 3 items of every request for 1 s: what was rejected is
/// counted by the exporters and is exactly what is missing; nothing is retried.
fn partial_success(transport: Transport) -> TestResult {
    let row = fault_then_recover(
        "answers success with partial_success rejecting 3 items per request, for 1 s",
        transport,
        Fault::PartialSuccess { rejected: 3 },
        Duration::from_millis(1000),
    )?;
    for (what, tally) in [("spans", row.spans), ("logs", row.logs)] {
        assert!(tally.rejected > 0, "{what}: {tally:?}");
        assert_eq!(
            tally.dropped_full + tally.dropped_export_failed,
            0,
            "{what}: {tally:?}"
        );
        assert_eq!(
            tally.delivered + tally.rejected,
            tally.sent,
            "{what}: {tally:?}"
        );
    }
    assert!(row.metric_points_rejected > 0, "{row:?}");
    Ok(())
}

/// Shutdown while the collector is `fault`y: within its deadline, with every item that did
/// not arrive counted as dropped.
fn shutdown_keeps_its_deadline(name: &str, server: &FaultServer) -> TestResult {
    let mut pipeline = Pipeline::start(server, Transport::Http)?;
    pipeline.emit(100);
    // Long enough for the first exports to be under way.
    std::thread::sleep(Duration::from_millis(200));
    let row = finish(name, &pipeline, server)?;
    for (what, tally) in [("spans", row.spans), ("logs", row.logs)] {
        assert_eq!(tally.delivered, 0, "{what}: {tally:?}");
        assert_eq!(
            tally.dropped_full + tally.dropped_export_failed,
            tally.sent,
            "{what}: every item counted as dropped: {tally:?}"
        );
    }
    Ok(())
}

#[test]
fn shutdown_with_the_collector_down_keeps_its_deadline() -> TestResult {
    let server = FaultServer::start_down()?;
    shutdown_keeps_its_deadline("shutdown while down (connection refused)", &server)
}

#[test]
fn shutdown_with_the_collector_stalling_keeps_its_deadline() -> TestResult {
    let server = FaultServer::start()?;
    server.set_fault(Fault::Stall);
    shutdown_keeps_its_deadline("shutdown while stalling", &server)
}

/// Deltas collected while the collector is down are kept by the periodic reader and sent,
/// in order, once it is back: none is lost, none counted as lost.
#[test]
fn delta_metrics_lose_nothing_to_an_outage() -> TestResult {
    let server = FaultServer::start()?;
    let mut pipeline = Pipeline::start(&server, Transport::Http)?;
    pipeline.emit(30);
    pipeline.settle(&server)?;
    server.down();
    emit_over(&mut pipeline, 100, Duration::from_millis(1000));
    // The outage was seen: collections wait in the reader for the collector.
    let held = pipeline.readers[1].backlog_collections();
    server.up()?;
    pipeline.emit(20);
    pipeline.settle(&server)?;
    let row = finish("down 1 s mid-run, delta temporality", &pipeline, &server)?;
    assert!(
        held > 0,
        "the delta reader kept collections during the outage"
    );
    assert_eq!(
        (row.delta.sum, row.delta.failed, row.delta.dropped),
        (row.added as f64, 0, 0),
        "the deltas that arrived add up to the total added, nothing counted lost: {:?}",
        row.delta
    );
    assert!(
        pipeline.readers[1].exported_collections() > 0,
        "the delta reader exported"
    );
    Ok(())
}

/// The shortest time between two requests of one exporter that the collector refused.
fn shortest_gap_between_refusals(seen: &[Seen], exporter: &str) -> Option<Duration> {
    let refused: Vec<&Seen> = seen
        .iter()
        .filter(|seen| seen.exporter == exporter && matches!(seen.fault, Fault::Refuse { .. }))
        .collect();
    refused
        .windows(2)
        .map(|pair| pair[1].at.duration_since(pair[0].at))
        .min()
}

#[test]
fn refusals_with_retry_after_are_not_retried_sooner() -> TestResult {
    let retry_after = Duration::from_secs(1);
    let server = FaultServer::start()?;
    let mut pipeline = Pipeline::start(&server, Transport::Http)?;
    server.set_fault(Fault::Refuse {
        status: 503,
        retry_after: Some(retry_after.as_secs()),
    });
    emit_over(&mut pipeline, 100, Duration::from_millis(2500));
    server.set_fault(Fault::Accept);
    pipeline.settle(&server)?;
    let row = finish(
        "answers 503 with Retry-After: 1 for 2.5 s",
        &pipeline,
        &server,
    )?;
    assert_lossless(&row);
    let gaps = server.arrived(|arrived| {
        ["spans", "logs", "cumulative metrics", "delta metrics"].map(|exporter| {
            (
                exporter,
                shortest_gap_between_refusals(&arrived.seen, exporter),
            )
        })
    });
    println!("shortest gap between two refused requests, per exporter: {gaps:?}");
    for (exporter, gap) in gaps {
        let gap = gap.ok_or(format!("{exporter}: fewer than two refusals"))?;
        assert!(
            gap >= retry_after,
            "{exporter}: a refused request was sent again after {gap:?}, before Retry-After"
        );
    }
    Ok(())
}

#[test]
fn grpc_collector_down_for_2_s_mid_run() -> TestResult {
    let server = FaultServer::start()?;
    let mut pipeline = Pipeline::start(&server, Transport::Grpc)?;
    pipeline.emit(30);
    pipeline.settle(&server)?;
    server.down();
    emit_over(&mut pipeline, 100, Duration::from_secs(2));
    server.up()?;
    pipeline.emit(20);
    pipeline.settle(&server)?;
    let row = finish("Grpc: down 2 s mid-run", &pipeline, &server)?;
    assert_lossless(&row);
    Ok(())
}

#[test]
fn grpc_collector_answers_unavailable() -> TestResult {
    let fault = Fault::Refuse {
        status: 503,
        retry_after: None,
    };
    let name = "answers UNAVAILABLE (trailers-only, no RetryInfo) for 1.5 s";
    let row = fault_then_recover(name, Transport::Grpc, fault, Duration::from_millis(1500))?;
    assert_lossless(&row);
    Ok(())
}

#[test]
fn grpc_collector_stalls_past_the_deadline() -> TestResult {
    let name = "stalls (reads, never answers) for 1.5 s";
    let row = fault_then_recover(
        name,
        Transport::Grpc,
        Fault::Stall,
        Duration::from_millis(1500),
    )?;
    assert_lossless(&row);
    Ok(())
}

#[test]
fn grpc_collector_resets_connections_before_recording() -> TestResult {
    let fault = Fault::Reset {
        after_recording: false,
    };
    let name = "resets the connection (RST) after reading the request, for 1.5 s";
    let row = fault_then_recover(name, Transport::Grpc, fault, Duration::from_millis(1500))?;
    assert_lossless(&row);
    Ok(())
}

#[test]
fn grpc_collector_answers_resource_exhausted_without_retry_info() -> TestResult {
    // The gRPC 429: without RetryInfo, OTLP says not to retry (OR-5), so the batches are
    // dropped; what matters is that each one is counted.
    let fault = Fault::Refuse {
        status: 429,
        retry_after: None,
    };
    let name = "answers RESOURCE_EXHAUSTED without RetryInfo (not retryable) for 1 s";
    let row = fault_then_recover(name, Transport::Grpc, fault, Duration::from_millis(1000))?;
    for (what, tally) in [("spans", row.spans), ("logs", row.logs)] {
        assert!(tally.dropped_export_failed > 0, "{what}: {tally:?}");
        assert_eq!(tally.dropped_full, 0, "{what}: {tally:?}");
        assert_eq!(
            tally.delivered + tally.dropped_export_failed,
            tally.sent,
            "{what}: {tally:?}"
        );
    }
    Ok(())
}
