//! `/api/live`: the live stream, as Server-Sent Events.
//!
//! Each stream is a task that polls the backend's cheap [`live_position`] and, when it moved,
//! sends one coalesced [`live_delta`] — at most one event per [`MIN_INTERVAL`], however fast
//! data arrives, except that [`push_now`] sends at once. The browser thus gets every change
//! within a quarter second without the dashboard pushing one event per span. A stream ends
//! when the client goes (its body is dropped, so the task's sender closes), and at shutdown.
//!
//! [`live_position`]: crate::backend::Backend::live_position
//! [`live_delta`]: crate::backend::Backend::live_delta
//! [`push_now`]: super::RunningDashboard::push_now

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::{Instant, sleep_until};

use super::body::ResponseBody;
use super::{Shared, stopped};

/// Live streams open at once; more get 503, so tabs left open cannot add tasks without bound.
pub(crate) const MAX_STREAMS: usize = 64;
/// The shortest time between two events, except after a push.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(250);
/// A comment line this often keeps proxies and idle timeouts from closing a quiet stream.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// How long a browser waits before reconnecting a dropped stream (the `retry:` field).
const RETRY_MS: u64 = 2000;

/// Opens a stream that starts after position `since` (0: from the beginning).
pub(crate) fn open(shared: &Arc<Shared>, since: u64) -> Response<ResponseBody> {
    let Ok(permit) = Arc::clone(&shared.live_streams).try_acquire_owned() else {
        let mut response = Response::new(ResponseBody::full("too many live streams\n"));
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static("5"));
        return response;
    };
    // Two events of slack: a slow reader holds the task back, which then coalesces more.
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(run(Arc::clone(shared), since, tx, permit));
    let mut response = Response::new(ResponseBody::Stream(rx));
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Reverse proxies such as nginx would otherwise buffer the stream.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

async fn run(
    shared: Arc<Shared>,
    mut since: u64,
    tx: mpsc::Sender<Bytes>,
    _permit: OwnedSemaphorePermit,
) {
    let mut push = shared.push.clone();
    push.borrow_and_update();
    let mut shutdown = shared.shutdown.clone();
    if tx
        .send(Bytes::from(format!("retry: {RETRY_MS}\n\n")))
        .await
        .is_err()
    {
        return;
    }
    let mut last_sent: Option<Instant> = None;
    let mut next_heartbeat = Instant::now() + HEARTBEAT;
    // The first check runs at once, so a new client sees the current state.
    let mut forced = true;
    loop {
        let now = Instant::now();
        let due = forced || last_sent.is_none_or(|t| now >= t + MIN_INTERVAL);
        if due
            && shared.backend.live_position() != since
            && let Some((position, json)) = shared.backend.live_delta(since)
        {
            since = position;
            if tx.send(event(position, &json)).await.is_err() {
                return;
            }
            last_sent = Some(now);
            next_heartbeat = now + HEARTBEAT;
        }
        forced = false;
        let next_check = match last_sent {
            Some(t) if t + MIN_INTERVAL > now => t + MIN_INTERVAL,
            _ => now + MIN_INTERVAL,
        };
        tokio::select! {
            biased;
            _ = tx.closed() => return,
            () = stopped(&mut shutdown) => return,
            changed = push.changed() => {
                if changed.is_err() {
                    return;
                }
                forced = true;
            }
            _ = sleep_until(next_check) => {}
            _ = sleep_until(next_heartbeat) => {
                if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                    return;
                }
                next_heartbeat = Instant::now() + HEARTBEAT;
            }
        }
    }
}

/// One event: `id:` the position (so a reconnecting browser resumes with `Last-Event-ID`),
/// then the JSON, one `data:` line per line.
fn event(position: u64, json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + 32);
    out.extend_from_slice(format!("id: {position}\n").as_bytes());
    let text = String::from_utf8_lossy(json);
    for line in text.split(['\n', '\r']).filter(|l| !l.is_empty()) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    if text.split(['\n', '\r']).all(str::is_empty) {
        out.extend_from_slice(b"data: \n");
    }
    out.push(b'\n');
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use http::StatusCode;
    use telemetry_otlp::{LogsData, MetricsData, Signal, TracesData};
    use tokio::sync::Semaphore;

    use super::*;
    use crate::backend::{ApiRequest, ApiResponse, Backend, IngestOutcome, IngestSource, Refusal};

    /// A backend whose position the test moves; its deltas say where they start.
    #[derive(Debug, Default)]
    struct Counter(AtomicU64);

    impl Backend for Counter {
        fn ingest_traces(&self, _: TracesData, _: &IngestSource) -> IngestOutcome {
            IngestOutcome::Accepted {
                rejected: 0,
                message: String::new(),
            }
        }
        fn ingest_metrics(&self, _: MetricsData, _: &IngestSource) -> IngestOutcome {
            IngestOutcome::Accepted {
                rejected: 0,
                message: String::new(),
            }
        }
        fn ingest_logs(&self, _: LogsData, _: &IngestSource) -> IngestOutcome {
            IngestOutcome::Accepted {
                rejected: 0,
                message: String::new(),
            }
        }
        fn record_refusal(&self, _: Signal, _: Refusal, _: &IngestSource) {}
        fn api(&self, _: &ApiRequest<'_>) -> ApiResponse {
            ApiResponse {
                status: StatusCode::NOT_FOUND,
                content_type: "text/plain",
                body: vec![],
            }
        }
        fn live_position(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
        fn live_delta(&self, since: u64) -> Option<(u64, Vec<u8>)> {
            let now = self.0.load(Ordering::SeqCst);
            (now > since).then(|| (now, format!("{since}->{now}").into_bytes()))
        }
    }

    fn permit() -> OwnedSemaphorePermit {
        Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap()
    }

    async fn next(rx: &mut mpsc::Receiver<Bytes>) -> (Instant, String) {
        let bytes = rx.recv().await.expect("the stream is open");
        (Instant::now(), String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_stream_gets_a_heartbeat_every_15_seconds() {
        let backend = Arc::new(Counter::default());
        let (shared, _push, _shutdown) = super::super::shared_for_tests(backend);
        let (tx, mut rx) = mpsc::channel(2);
        let started = Instant::now();
        tokio::spawn(run(shared, 0, tx, permit()));
        assert_eq!(next(&mut rx).await.1, "retry: 2000\n\n");
        for n in 1..=3 {
            let (at, text) = next(&mut rx).await;
            assert_eq!(text, ": keep-alive\n\n");
            assert_eq!(at - started, HEARTBEAT * n);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn changes_are_coalesced_and_a_push_skips_the_wait() {
        let backend = Arc::new(Counter::default());
        let (shared, push, _shutdown) =
            super::super::shared_for_tests(Arc::clone(&backend) as Arc<dyn Backend>);
        let (tx, mut rx) = mpsc::channel(2);
        let started = Instant::now();
        backend.0.store(1, Ordering::SeqCst);
        tokio::spawn(run(shared, 0, tx, permit()));
        next(&mut rx).await; // retry:
        let (at, text) = next(&mut rx).await;
        assert_eq!(
            (at - started, text.as_str()),
            (Duration::ZERO, "id: 1\ndata: 0->1\n\n")
        );

        // Ten changes 10 ms apart arrive as one event, 250 ms after the last one sent.
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            backend.0.fetch_add(1, Ordering::SeqCst);
        }
        let (at, text) = next(&mut rx).await;
        assert_eq!(
            (at - started, text.as_str()),
            (MIN_INTERVAL, "id: 11\ndata: 1->11\n\n")
        );

        // A push sends at once, 50 ms after the last event.
        tokio::time::sleep(Duration::from_millis(50)).await;
        backend.0.fetch_add(1, Ordering::SeqCst);
        push.send_modify(|g| *g += 1);
        let (at, text) = next(&mut rx).await;
        assert_eq!(at - started, MIN_INTERVAL + Duration::from_millis(50));
        assert_eq!(text, "id: 12\ndata: 11->12\n\n");
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_and_a_gone_client_end_the_task() {
        let backend = Arc::new(Counter::default());
        let (shared, _push, shutdown) = super::super::shared_for_tests(backend);
        let (tx, mut rx) = mpsc::channel(2);
        let task = tokio::spawn(run(Arc::clone(&shared), 0, tx, permit()));
        next(&mut rx).await;
        shutdown.send_replace(true);
        task.await.unwrap();
        assert!(rx.recv().await.is_none());

        let (shared, _push, _shutdown) =
            super::super::shared_for_tests(Arc::new(Counter::default()));
        let (tx, rx) = mpsc::channel(2);
        let task = tokio::spawn(run(shared, 0, tx, permit()));
        drop(rx);
        task.await.unwrap();
    }

    #[test]
    fn event_format() {
        assert_eq!(&event(7, br#"{"a":1}"#)[..], b"id: 7\ndata: {\"a\":1}\n\n");
        assert_eq!(
            &event(8, b"{\n \"a\": 1\r\n}")[..],
            b"id: 8\ndata: {\ndata:  \"a\": 1\ndata: }\n\n"
        );
        assert_eq!(&event(9, b"")[..], b"id: 9\ndata: \n\n");
    }
}
