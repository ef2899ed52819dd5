//! What the OTLP/HTTP and OTLP/gRPC exporters share: the caller's [`Handle`] and the
//! worker thread with its runtime, the deadline rule, the retry loop, the reused request
//! buffer, the `partial_success` reader and how messages are cut.
//!
//! Both transports have the same shape: the caller's thread takes the deadline, encodes
//! into a buffer lent by the handle, hands the body to the exporter's own thread (which owns
//! a current-thread tokio runtime), and waits on a std channel. What differs is one
//! attempt (a hyper request, a tonic call) and the error details each reports; the rest
//! lives here so that the two cannot drift apart.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use telemetry_core::diagnostic;
use tokio::sync::mpsc;

use super::ExporterBuildError;
use super::retry::{self, Jitter, RetryPolicy};
use crate::proto::wire::Reader;

/// Sent with every request (OR-10: name the exporter, the language and the version).
pub(crate) const USER_AGENT: &str = concat!(
    "OTel-OTLP-Exporter-Rust telemetry-otlp/",
    env!("CARGO_PKG_VERSION")
);

/// How much of an error message (a status message, a response body) goes into an error.
pub(crate) const MESSAGE_LEN: usize = 256;

/// How much of a `partial_success.error_message` is kept: the collector's words are worth
/// more room than an error snippet, but a hostile server must not fill memory.
pub(crate) const PARTIAL_MESSAGE_LEN: usize = 1024;

/// A reused request buffer with more capacity than this is given back to the allocator:
/// one huge batch must not pin its memory for the exporter's lifetime.
const SPARE_CAPACITY_LIMIT: usize = 4 << 20;

/// How long dropping the worker's runtime may wait for its blocking tasks (a DNS lookup in
/// flight) before leaving them behind, so that shutdown and drop are bounded.
const RUNTIME_SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(500);

/// Why an export failed, before it becomes a signal crate's `ExportError`; `E` is the
/// transport's details ([`HttpExportError`](crate::HttpExportError) or
/// [`GrpcExportError`](crate::GrpcExportError)).
#[derive(Debug)]
pub(crate) enum Failure<E> {
    /// The exporter was shut down.
    ShutDown,
    /// The deadline passed.
    Timeout(E),
    /// The collector refused the data for good, or the batch was too large to send.
    Rejected(E),
    /// Retries ran out, or the exporter's thread is gone.
    Unavailable(E),
}

/// How one attempt failed.
#[derive(Debug)]
pub(crate) enum AttemptError<E> {
    /// Not worth retrying.
    Permanent(E),
    /// Worth retrying, after at least the delay the server asked for, if it asked.
    Retry(E, Option<Duration>),
}

/// What the shared code needs of a transport's error details. `Clone`, so that the refusal
/// that asked for quiet can be quoted (`Display`) by the exports it holds back.
pub(crate) trait Details: Sized + Clone + fmt::Display {
    /// Details with no status and no attempt, saying `message`.
    fn other(message: String) -> Self;

    /// Appends `note` to the message.
    fn append(&mut self, note: &str);
}

/// One export handed to the worker thread: the body comes back with the outcome, so that
/// its allocation is reused for the next one.
#[derive(Debug)]
pub(crate) struct Job<E> {
    body: Bytes,
    deadline: Option<Instant>,
    reply: std_mpsc::SyncSender<(Result<(), Failure<E>>, Bytes)>,
}

/// The caller's side of an exporter: the deadline rule, the reused buffer, and the channel
/// to the worker thread, which it stops on shutdown or drop.
pub(crate) struct Handle<E> {
    /// The configured per-export timeout.
    timeout: Option<Duration>,
    /// The timeout a processor or reader gave, if it gave one.
    processor_timeout: Option<Duration>,
    /// The last request body, back from the worker, so its allocation is reused.
    spare: Vec<u8>,
    jobs: Option<mpsc::UnboundedSender<Job<E>>>,
    worker: Option<JoinHandle<()>>,
}

impl<E: Details> Handle<E> {
    /// Starts the worker thread `name`, which runs `serve` with the receiving end of the
    /// job channel until the channel closes.
    pub(crate) fn start<F, Fut>(
        name: &str,
        timeout: Option<Duration>,
        serve: F,
    ) -> Result<Self, ExporterBuildError>
    where
        F: FnOnce(mpsc::UnboundedReceiver<Job<E>>) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
        E: Send + 'static,
    {
        let (jobs, receiver) = mpsc::unbounded_channel();
        let worker = spawn(name, move || serve(receiver))?;
        Ok(Handle {
            timeout,
            processor_timeout: None,
            spare: Vec::new(),
            jobs: Some(jobs),
            worker: Some(worker),
        })
    }

    /// True until [`shutdown`](Handle::shutdown).
    pub(crate) fn is_running(&self) -> bool {
        self.jobs.is_some()
    }

    /// Sets the processor's timeout; the smaller of it and the configured one applies.
    pub(crate) fn set_processor_timeout(&mut self, timeout: Option<Duration>) {
        self.processor_timeout = timeout;
    }

    /// Takes the deadline, lets `prepare` fill the (emptied, reused) body, sends it and
    /// waits for the outcome. A `prepare` error is returned as is, nothing sent.
    pub(crate) fn export(
        &mut self,
        prepare: impl FnOnce(&mut Vec<u8>) -> Result<(), Failure<E>>,
    ) -> Result<(), Failure<E>> {
        if self.jobs.is_none() {
            return Err(Failure::ShutDown);
        }
        // Before encoding, so that encoding counts against the timeout.
        let deadline = deadline(self.timeout, self.processor_timeout);
        let mut body = std::mem::take(&mut self.spare);
        body.clear();
        if let Err(failure) = prepare(&mut body) {
            self.spare = recycle(body);
            return Err(failure);
        }
        let Some(jobs) = &self.jobs else {
            return Err(Failure::ShutDown);
        };
        let (reply, outcome) = std_mpsc::sync_channel(1);
        let job = Job {
            body: Bytes::from(body),
            deadline,
            reply,
        };
        if jobs.send(job).is_err() {
            return Err(worker_died());
        }
        // The worker always answers (it enforces the deadline itself); if it died instead,
        // the reply sender is dropped and recv fails.
        let (result, body) = outcome.recv().map_err(|_| worker_died())?;
        // Unique unless the client still holds a clone of a body whose connection closes.
        if let Ok(body) = body.try_into_mut() {
            self.spare = recycle(body.into());
        }
        result
    }

    /// Stops the worker and waits for it; the second call fails with "shut down".
    pub(crate) fn shutdown(&mut self) -> Result<(), Failure<E>> {
        // Closing the channel ends the worker's loop; joining waits for its runtime to
        // close its connections (bounded by RUNTIME_SHUTDOWN_TIMEOUT). The worker never
        // waits on the caller, so this cannot deadlock even from inside a runtime.
        let Some(jobs) = self.jobs.take() else {
            return Err(Failure::ShutDown);
        };
        drop(jobs);
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            return Err(worker_died());
        }
        Ok(())
    }
}

impl<E> fmt::Debug for Handle<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the spare buffer: megabytes of a past request say nothing.
        f.debug_struct("Handle")
            .field("timeout", &self.timeout)
            .field("processor_timeout", &self.processor_timeout)
            .field("running", &self.jobs.is_some())
            .finish_non_exhaustive()
    }
}

impl<E> Drop for Handle<E> {
    fn drop(&mut self) {
        // As `shutdown`, without an error to return.
        if let Some(jobs) = self.jobs.take() {
            drop(jobs);
            if let Some(worker) = self.worker.take() {
                let _ = worker.join();
            }
        }
    }
}

/// The failure of an export whose worker thread is gone.
fn worker_died<E: Details>() -> Failure<E> {
    Failure::Unavailable(E::other("the exporter's thread died".to_owned()))
}

/// The worker's loop: each job is delivered by `deliver` under its deadline, and the
/// outcome sent back with the body.
pub(crate) async fn serve<E: Details>(
    mut jobs: mpsc::UnboundedReceiver<Job<E>>,
    mut deliver: impl AsyncFnMut(&Bytes, Option<Instant>) -> Result<(), Failure<E>>,
) {
    while let Some(job) = jobs.recv().await {
        let result = deliver(&job.body, job.deadline).await;
        let _ = job.reply.send((result, job.body));
    }
}

/// The retry state of one exporter, kept by its worker from one export to the next: the
/// policy and jitter of the backoff between attempts, and the quiet the collector asked for.
///
/// A delay the collector gives with a retryable refusal (`Retry-After`, gRPC `RetryInfo`) is
/// a request about the collector, not about one export: no request may reach it before the
/// delay is over, whether it is this export's retry, a processor's retry of a batch that
/// timed out, or the next metrics collection. An export that starts inside that quiet waits
/// for its end if at least as much of its time is left after the end as it spends waiting;
/// otherwise it fails at once as a timeout without sending anything (counted in
/// `Counters::held_back`, not in `requests`). A request sent on the edge of its deadline
/// would likely be cut off before its answer, and an unanswered request is worse than none:
/// it reaches the collector and teaches the exporter nothing.
///
/// A request sent when a quiet ends can still be cut off by its export's deadline before
/// the answer comes back, and that answer may have asked for quiet again; not knowing, the
/// pacer assumes it did, with the same delay, counted from when the request went out.
/// Otherwise the next export would send at once, and a throttling collector would see two
/// requests closer than it asked for.
#[derive(Debug)]
pub(crate) struct Pacer<E> {
    policy: RetryPolicy,
    jitter: Jitter,
    /// What the collector's last answer asked for: set by every attempt that ends in a
    /// retryable refusal with a delay, cleared by every other answer (a success, a
    /// permanent failure, a refusal without a delay, a failure to connect); an attempt cut
    /// off by the deadline, with no answer, moves its end instead.
    quiet: Option<Quiet<E>>,
    /// Where the exports held back by the quiet are counted.
    counters: Arc<Counters>,
}

/// The quiet a collector asked for.
#[derive(Debug)]
struct Quiet<E> {
    /// No request before this instant.
    until: Instant,
    /// The delay the collector gave.
    delay: Duration,
    /// The refusal that gave it, quoted by the exports held back.
    refusal: E,
}

impl<E: Details> Pacer<E> {
    /// A pacer following `policy`, counting into `counters`, with no quiet asked for yet.
    pub(crate) fn new(policy: RetryPolicy, counters: Arc<Counters>) -> Self {
        Pacer {
            policy,
            jitter: Jitter::new(),
            quiet: None,
            counters,
        }
    }

    /// Makes attempts with `attempt` (given the attempt number, from 1) until one succeeds,
    /// one fails for good, or the retries or the deadline run out, waiting
    /// [`retry::next_wait`] between them, and never starting one inside the collector's
    /// quiet. The one retry loop of both transports.
    pub(crate) async fn deliver(
        &mut self,
        deadline: Option<Instant>,
        mut attempt: impl AsyncFnMut(u32) -> Result<(), AttemptError<E>>,
    ) -> Result<(), Failure<E>> {
        // Kept outside the attempts, so that a deadline passing mid-attempt still reports
        // why the previous one failed, and when the unanswered request went out.
        let mut last_failure = None;
        let mut in_flight = None;
        let attempts = self.retry_loop(deadline, &mut last_failure, &mut in_flight, &mut attempt);
        let Some(deadline) = deadline else {
            return attempts.await;
        };
        let outcome = tokio::time::timeout_at(deadline.into(), attempts).await;
        outcome.unwrap_or_else(|_| {
            if let (Some(sent), Some(quiet)) = (in_flight, &mut self.quiet)
                && let Some(until) = sent.checked_add(quiet.delay)
            {
                quiet.until = quiet.until.max(until);
            }
            Err(timed_out(last_failure.take(), None))
        })
    }

    /// [`deliver`](Self::deliver)'s loop, without the deadline's hard stop. `in_flight` is
    /// when the attempt under way started, `None` between attempts.
    async fn retry_loop(
        &mut self,
        deadline: Option<Instant>,
        last_failure: &mut Option<E>,
        in_flight: &mut Option<Instant>,
        attempt: &mut impl AsyncFnMut(u32) -> Result<(), AttemptError<E>>,
    ) -> Result<(), Failure<E>> {
        self.wait_for_quiet(deadline).await?;
        let mut attempts = 0u32;
        loop {
            attempts = attempts.saturating_add(1);
            *in_flight = Some(Instant::now());
            let outcome = attempt(attempts).await;
            *in_flight = None;
            self.quiet = match &outcome {
                Err(AttemptError::Retry(error, Some(delay))) => {
                    Instant::now().checked_add(*delay).map(|until| Quiet {
                        until,
                        delay: *delay,
                        refusal: error.clone(),
                    })
                }
                _ => None,
            };
            let (failure, delay) = match outcome {
                Ok(()) => return Ok(()),
                Err(AttemptError::Permanent(error)) => return Err(Failure::Rejected(error)),
                Err(AttemptError::Retry(error, delay)) => (error, delay),
            };
            // OR-6: at least the server's delay; the backoff when it is longer.
            let wait = retry::next_wait(&self.policy, &mut self.jitter, attempts - 1, delay);
            *last_failure = Some(failure);
            match deadline {
                // Waiting would only end in the timeout: report it now, so the processor
                // moves on instead of sleeping through the deadline.
                Some(deadline)
                    if Instant::now()
                        .checked_add(wait)
                        .is_none_or(|at| at >= deadline) =>
                {
                    return Err(timed_out(last_failure.take(), Some(wait)));
                }
                None if attempts >= self.policy.max_attempts => {
                    let error = last_failure
                        .take()
                        .unwrap_or_else(|| E::other("no attempt was made".to_owned()));
                    return Err(Failure::Unavailable(error));
                }
                _ => {}
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Waits out the quiet the collector asked for, if it is not over; fails at once, as a
    /// timeout and with nothing sent, when less of the time to `deadline` would be left
    /// after it than is spent waiting.
    async fn wait_for_quiet(&mut self, deadline: Option<Instant>) -> Result<(), Failure<E>> {
        let Some(quiet) = &self.quiet else {
            return Ok(());
        };
        let left = quiet.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        let fits = deadline.is_none_or(|deadline| {
            quiet
                .until
                .checked_add(left)
                .is_some_and(|after| after <= deadline)
        });
        if !fits {
            self.counters.held_back.fetch_add(1, Ordering::Relaxed);
            return Err(Failure::Timeout(E::other(format!(
                "not sent: {left:?} remain of the quiet the collector asked for, too much of \
                 the time left before the export's deadline (its last refusal: {})",
                quiet.refusal
            ))));
        }
        tokio::time::sleep_until(quiet.until.into()).await;
        Ok(())
    }
}

/// The timeout failure: the last attempt's error, if one failed, noting the retry that
/// would have passed the deadline.
fn timed_out<E: Details>(last_failure: Option<E>, next_wait: Option<Duration>) -> Failure<E> {
    let mut error =
        last_failure.unwrap_or_else(|| E::other("no response before the deadline".to_owned()));
    if let Some(wait) = next_wait {
        error.append(&format!(
            " (the next retry, in {wait:?}, would pass the deadline)"
        ));
    }
    Failure::Timeout(error)
}

/// The counters behind both exporters' stats types, written by the exporter (its thread,
/// or the caller's for refused batches) and read anywhere. Relaxed throughout: these are
/// statistics that order nothing else.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Requests sent or attempted, retries included.
    pub(crate) requests: AtomicU64,
    /// Items the collector reported as rejected in `partial_success` responses.
    pub(crate) rejected: AtomicU64,
    /// Batches refused unsent for encoding over the request size limit.
    pub(crate) dropped_oversized: AtomicU64,
    /// Exports failed unsent because the collector's quiet (see [`Pacer`]) lasted too far
    /// into their time.
    pub(crate) held_back: AtomicU64,
}

/// Counts and reports the decoded `partial_success` of a response from `endpoint`
/// (`None`: it did not decode). `items` names what was rejected ("spans"). Either way the
/// collector took the data: an unreadable answer must not resend it.
pub(crate) fn record_partial_success(
    counters: &Counters,
    endpoint: &dyn fmt::Display,
    items: &str,
    partial: Option<(i64, String)>,
) {
    match partial {
        Some((0, message)) if message.is_empty() => {}
        Some((rejected, message)) => {
            let rejected = u64::try_from(rejected).unwrap_or(0);
            counters.rejected.fetch_add(rejected, Ordering::Relaxed);
            diagnostic::report(
                "otlp exporter",
                format_args!(
                    "{endpoint} accepted the export partially: {rejected} {items} rejected: \
                     {message:?}"
                ),
            );
        }
        None => diagnostic::report(
            "otlp exporter",
            format_args!(
                "{endpoint} answered success with an undecodable body; treating the export as \
                 delivered"
            ),
        ),
    }
}

/// The deadline of an export starting now: the smaller of the configured timeout and the
/// processor's, taken before the batch is encoded, so that encoding counts against it.
/// `None` when neither is set, or when the timeout is too large to be a point in time
/// (`Duration::MAX`), which means the same: no deadline.
pub(crate) fn deadline(
    configured: Option<Duration>,
    processor: Option<Duration>,
) -> Option<Instant> {
    let timeout = match (configured, processor) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Instant::now().checked_add(timeout?)
}

/// Keeps `buffer` for the next request unless it grew past [`SPARE_CAPACITY_LIMIT`].
pub(crate) fn recycle(buffer: Vec<u8>) -> Vec<u8> {
    if buffer.capacity() > SPARE_CAPACITY_LIMIT {
        Vec::new()
    } else {
        buffer
    }
}

/// Starts the exporter's thread named `name`: builds a current-thread runtime on it, runs
/// the future `make` returns until it ends, then drops the runtime with a bounded wait.
///
/// The runtime is built on the worker's thread, so that it is also dropped there and never
/// inside a caller's runtime; a failure to build it comes back here.
fn spawn<F, Fut>(name: &str, make: F) -> Result<JoinHandle<()>, ExporterBuildError>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let (started, start) = std_mpsc::sync_channel(1);
    let thread = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            // hyper, h2 and tonic log through `log` and `tracing`; with the bridges
            // installed, their records and spans on this thread would feed the pipeline
            // that is exporting them, batch after batch.
            let _quiet = telemetry_logs::SuppressGuard::new();
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = started.send(Err(error));
                    return;
                }
            };
            let _ = started.send(Ok(()));
            runtime.block_on(make());
            // A plain drop waits for every blocking task, and a DNS lookup to an
            // unreachable resolver can take minutes: shutdown must not.
            runtime.shutdown_timeout(RUNTIME_SHUTDOWN_TIMEOUT);
        })
        .map_err(ExporterBuildError::Thread)?;
    match start.recv() {
        Ok(Ok(())) => Ok(thread),
        Ok(Err(error)) => {
            let _ = thread.join();
            Err(ExporterBuildError::Thread(error))
        }
        Err(_) => {
            let _ = thread.join();
            Err(ExporterBuildError::Thread(std::io::Error::other(
                "the exporter thread ended while starting",
            )))
        }
    }
}

/// The first `limit` bytes of `text` (at a char boundary), trailing whitespace trimmed,
/// marked with `…` when cut.
pub(crate) fn truncate(text: &str, limit: usize) -> String {
    let text = text.trim_end();
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text[..end].trim_end())
}

/// The start of a body as text (invalid UTF-8 replaced), cut as [`truncate`] cuts.
pub(crate) fn snippet(body: &[u8]) -> String {
    // Enough bytes for MESSAGE_LEN of text plus a partial char; the rest is never shown.
    let head = &body[..body.len().min(MESSAGE_LEN + 4)];
    let text = String::from_utf8_lossy(head);
    let cut = truncate(&text, MESSAGE_LEN);
    if body.len() > head.len() && !cut.ends_with('…') {
        format!("{cut}…")
    } else {
        cut
    }
}

/// `(rejected, error_message)` of a protobuf `Export{Trace,Metrics,Logs}ServiceResponse`,
/// which share their layout: `partial_success = 1 { rejected_* = 1; error_message = 2 }`.
/// Both 0/"" when `partial_success` is absent; `None` when the body does not decode. The
/// message is cut to [`PARTIAL_MESSAGE_LEN`].
pub(crate) fn partial_success_proto(body: &[u8]) -> Option<(i64, String)> {
    let mut rejected = 0i64;
    let mut message = String::new();
    Reader::new(body)
        .fields("Export*ServiceResponse", |reader, field| {
            if field.number != 1 {
                return reader.skip(field);
            }
            reader
                .message_field(field)?
                .fields("Export*PartialSuccess", |reader, field| {
                    match field.number {
                        // int64: the varint is the two's complement bit pattern.
                        1 => rejected = reader.varint_field(field)? as i64,
                        2 => message = truncate(reader.str_field(field)?, PARTIAL_MESSAGE_LEN),
                        _ => reader.skip(field)?,
                    }
                    Ok(())
                })
        })
        .ok()?;
    Some((rejected, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HttpExportError;
    use http::StatusCode;

    /// Runs `work` on a current-thread runtime, as the exporter's thread does.
    fn block_on<F: Future>(work: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
            .block_on(work)
    }

    fn pacer() -> (Pacer<HttpExportError>, Arc<Counters>) {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            max_attempts: 3,
        };
        let counters = Arc::new(Counters::default());
        (Pacer::new(policy, Arc::clone(&counters)), counters)
    }

    fn busy(attempts: u32) -> HttpExportError {
        HttpExportError::new(
            Some(StatusCode::SERVICE_UNAVAILABLE),
            attempts,
            "busy".to_owned(),
        )
    }

    #[test]
    fn the_collectors_delay_holds_back_later_exports_until_it_ends() {
        let (mut pacer, counters) = pacer();
        let quiet = Duration::from_millis(300);
        let mut sent = Vec::new();
        block_on(async {
            // Refused with a delay past the deadline: a timeout after the one request.
            let deadline = Instant::now() + Duration::from_millis(100);
            let first = pacer
                .deliver(Some(deadline), async |attempts| {
                    sent.push(Instant::now());
                    Err(AttemptError::Retry(busy(attempts), Some(quiet)))
                })
                .await;
            assert!(matches!(first, Err(Failure::Timeout(_))), "{first:?}");
            assert_eq!(sent.len(), 1);

            // The next export's deadline comes before the delay ends: it fails at once,
            // and says that nothing was sent.
            let started = Instant::now();
            let deadline = started + Duration::from_millis(100);
            let second = pacer
                .deliver(Some(deadline), async |_| {
                    sent.push(Instant::now());
                    Ok(())
                })
                .await;
            assert!(started.elapsed() < quiet / 2, "{:?}", started.elapsed());
            match second {
                Err(Failure::Timeout(error)) => {
                    assert_eq!((error.status(), error.attempts()), (None, 0));
                    assert!(error.message().starts_with("not sent: "), "{error}");
                    assert!(error.message().contains("HTTP 503"), "{error}");
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(sent.len(), 1, "nothing was sent");
            assert_eq!(counters.held_back.load(Ordering::Relaxed), 1);

            // One whose deadline lies past the delay waits for its end, then sends.
            let deadline = Instant::now() + Duration::from_secs(5);
            let third = pacer
                .deliver(Some(deadline), async |_| {
                    sent.push(Instant::now());
                    Ok(())
                })
                .await;
            assert!(third.is_ok(), "{third:?}");
        });
        assert_eq!(sent.len(), 2);
        let gap = sent[1] - sent[0];
        assert!(gap >= quiet, "sent again after {gap:?}");
        assert!(pacer.quiet.is_none(), "a success ends the quiet");
        assert_eq!(counters.held_back.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_request_cut_off_by_the_deadline_is_taken_as_refused_again() {
        let (mut pacer, counters) = pacer();
        let quiet = Duration::from_millis(500);
        let mut sent = Vec::new();
        block_on(async {
            let deadline = Instant::now() + Duration::from_millis(50);
            let _ = pacer
                .deliver(Some(deadline), async |attempts| {
                    sent.push(Instant::now());
                    Err(AttemptError::Retry(busy(attempts), Some(quiet)))
                })
                .await;
            // At most 100 ms of the quiet left, 150 ms after it: the export waits, sends when
            // the quiet ends, and is never answered before its deadline.
            tokio::time::sleep(Duration::from_millis(400)).await;
            let deadline = Instant::now() + Duration::from_millis(250);
            let unanswered = pacer
                .deliver(Some(deadline), async |_| {
                    sent.push(Instant::now());
                    std::future::pending().await
                })
                .await;
            assert!(matches!(unanswered, Err(Failure::Timeout(_))));
            // The answer may have asked for the same quiet again: the next export, which
            // would have to wait for most of it, is held back rather than sent at once.
            let deadline = Instant::now() + Duration::from_millis(50);
            let held = pacer
                .deliver(Some(deadline), async |_| {
                    sent.push(Instant::now());
                    Ok(())
                })
                .await;
            assert!(matches!(held, Err(Failure::Timeout(_))), "{held:?}");
            assert_eq!(counters.held_back.load(Ordering::Relaxed), 1);
            let deadline = Instant::now() + Duration::from_secs(5);
            let last = pacer
                .deliver(Some(deadline), async |_| {
                    sent.push(Instant::now());
                    Ok(())
                })
                .await;
            assert!(last.is_ok(), "{last:?}");
        });
        assert_eq!(sent.len(), 3);
        for pair in sent.windows(2) {
            assert!(pair[1] - pair[0] >= quiet, "{:?}", pair[1] - pair[0]);
        }
    }

    #[test]
    fn an_export_waits_for_the_quiet_only_with_time_left_after_it() {
        let (mut pacer, counters) = pacer();
        let quiet = Duration::from_secs(1);
        let mut sent = 0;
        block_on(async {
            let deadline = Instant::now() + Duration::from_millis(50);
            let _ = pacer
                .deliver(Some(deadline), async |attempts| {
                    Err(AttemptError::Retry(busy(attempts), Some(quiet)))
                })
                .await;
            // The deadline lies after the quiet's end, but by less than the wait: a request
            // sent then would have little time for its answer.
            let deadline = Instant::now() + Duration::from_millis(1200);
            let held = pacer
                .deliver(Some(deadline), async |_| {
                    sent += 1;
                    Ok(())
                })
                .await;
            assert!(matches!(held, Err(Failure::Timeout(_))), "{held:?}");
            assert_eq!((sent, counters.held_back.load(Ordering::Relaxed)), (0, 1));
            let deadline = Instant::now() + Duration::from_secs(5);
            let waited = pacer
                .deliver(Some(deadline), async |_| {
                    sent += 1;
                    Ok(())
                })
                .await;
            assert!(waited.is_ok(), "{waited:?}");
            assert_eq!(sent, 1);
        });
    }

    #[test]
    fn without_a_deadline_the_delay_is_waited_out() {
        let (mut pacer, counters) = pacer();
        let quiet = Duration::from_millis(200);
        let mut sent = Vec::new();
        block_on(async {
            // No deadline, one refusal with a delay, then a success: the retry waits.
            let mut answers = vec![Ok(()), Err(AttemptError::Retry(busy(1), Some(quiet)))];
            let outcome = pacer
                .deliver(None, async |_| {
                    sent.push(Instant::now());
                    answers.pop().unwrap_or(Ok(()))
                })
                .await;
            assert!(outcome.is_ok(), "{outcome:?}");
        });
        assert_eq!(sent.len(), 2);
        assert!(sent[1] - sent[0] >= quiet, "{:?}", sent[1] - sent[0]);
        assert_eq!(counters.held_back.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn only_a_refusal_with_a_delay_leaves_a_quiet_behind() {
        let (mut pacer, _) = pacer();
        block_on(async {
            let deadline = Instant::now() + Duration::from_millis(50);
            let _ = pacer
                .deliver(Some(deadline), async |attempts| {
                    Err(AttemptError::Retry(
                        busy(attempts),
                        Some(Duration::from_secs(60)),
                    ))
                })
                .await;
            assert!(pacer.quiet.is_some());
            // Let the quiet end as if time had passed: what the next answer says replaces it.
            pacer.quiet = Some(Quiet {
                until: Instant::now(),
                delay: Duration::from_secs(60),
                refusal: busy(1),
            });
            let _ = pacer
                .deliver(None, async |attempts| {
                    Err(AttemptError::Permanent(busy(attempts)))
                })
                .await;
            assert!(
                pacer.quiet.is_none(),
                "a permanent failure asks for no quiet"
            );
            let deadline = Instant::now() + Duration::from_millis(50);
            let _ = pacer
                .deliver(Some(deadline), async |attempts| {
                    Err(AttemptError::Retry(busy(attempts), None))
                })
                .await;
            assert!(pacer.quiet.is_none(), "nor does a refusal without a delay");
        });
    }

    #[test]
    fn partial_success_of_any_signal_with_the_message_cut() {
        // partial_success { rejected: 3, error_message: "bad" }, then an unknown field.
        let body = [
            0x0a, 0x07, 0x08, 0x03, 0x12, 0x03, b'b', b'a', b'd', 0x18, 0x01,
        ];
        assert_eq!(partial_success_proto(&body), Some((3, "bad".to_owned())));
        assert_eq!(partial_success_proto(&[]), Some((0, String::new())));
        assert_eq!(
            partial_success_proto(&[0x0a, 0x05, 0x08]),
            None,
            "truncated"
        );
        // A 3000-byte message of two-byte chars is kept to the limit, at a char boundary.
        let text = "é".repeat(1500);
        let mut partial = vec![0x12, 0xb8, 0x17];
        partial.extend(text.as_bytes());
        let mut long = vec![0x0a, 0xbb, 0x17];
        long.extend(partial);
        let (_, message) = partial_success_proto(&long).expect("decodes");
        assert!(message.ends_with('…'));
        assert_eq!(message.len(), PARTIAL_MESSAGE_LEN + '…'.len_utf8());
    }

    #[test]
    fn messages_are_cut_at_a_char_boundary() {
        assert_eq!(truncate("short \n", MESSAGE_LEN), "short");
        let cut = truncate(&"é".repeat(200), 255);
        assert!(cut.ends_with('…'));
        assert_eq!(cut.len(), 254 + '…'.len_utf8());
        assert_eq!(snippet(b"plain text\n"), "plain text");
        let long = snippet(&[b'a'; 1000]);
        assert_eq!(long.len(), MESSAGE_LEN + '…'.len_utf8());
    }

    #[test]
    fn a_huge_timeout_means_no_deadline() {
        assert_eq!(deadline(Some(Duration::MAX), None), None);
        assert_eq!(deadline(None, None), None);
        let near = deadline(Some(Duration::MAX), Some(Duration::from_secs(1)))
            .expect("the smaller timeout applies");
        assert!(near <= Instant::now() + Duration::from_secs(1));
    }

    #[test]
    fn a_blocking_task_in_flight_does_not_hold_up_the_thread() -> Result<(), ExporterBuildError> {
        // As a DNS lookup to an unreachable resolver: a plain drop of the runtime would
        // wait the whole 5 s for it.
        let begun = Instant::now();
        let thread = spawn("telemetry-otlp-test", || async {
            let (started, running) = tokio::sync::oneshot::channel();
            drop(tokio::task::spawn_blocking(move || {
                let _ = started.send(());
                std::thread::sleep(Duration::from_secs(5));
            }));
            // The future ends, and the runtime drops, with the task surely running.
            let _ = running.await;
        })?;
        thread
            .join()
            .map_err(|_| ExporterBuildError::Thread(std::io::Error::other("panicked")))?;
        let took = begun.elapsed();
        assert!(took < Duration::from_secs(3), "{took:?}");
        Ok(())
    }

    #[test]
    fn the_exporter_thread_never_feeds_its_own_pipeline() -> Result<(), ExporterBuildError> {
        let (tx, rx) = std_mpsc::channel();
        let thread = spawn("telemetry-otlp-test", move || async move {
            let _ = tx.send(telemetry_logs::is_suppressed());
        })?;
        thread
            .join()
            .map_err(|_| ExporterBuildError::Thread(std::io::Error::other("panicked")))?;
        assert_eq!(rx.recv().ok(), Some(true));
        assert!(
            !telemetry_logs::is_suppressed(),
            "only the exporter's thread"
        );
        Ok(())
    }

    #[test]
    fn only_moderate_buffers_are_kept() {
        assert_eq!(recycle(Vec::with_capacity(1024)).capacity(), 1024);
        assert_eq!(recycle(Vec::with_capacity(8 << 20)).capacity(), 0);
    }
}
