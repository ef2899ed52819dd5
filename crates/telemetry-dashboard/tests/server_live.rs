//! The UI/API port end to end: the live stream (Server-Sent Events), the `/api/` passthrough,
//! the pages, `/api/about`, the login link and the token check, over real sockets on 127.0.0.1.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use parking_lot::Mutex;
use telemetry_dashboard::backend::{
    ApiRequest, ApiResponse, Backend, IngestOutcome, IngestSource, Refusal,
};
use telemetry_dashboard::{DashboardServer, DashboardServerBuilder, RunningDashboard};
use telemetry_otlp::{LogsData, MetricsData, Signal, TracesData};
use tokio::time::Instant;

/// One `/api/` request as the backend saw it: method, path, query, body.
type ApiCall = (Method, String, Option<String>, Vec<u8>);

/// A backend whose live position the test moves, and which records API requests.
#[derive(Debug, Default)]
struct LiveBackend {
    position: AtomicU64,
    api_calls: Mutex<Vec<ApiCall>>,
    /// When each delta was built, by its end position: the server's own send times, which
    /// a client's receive times only approximate (delivery jitters on a loaded machine).
    built: Mutex<Vec<(u64, std::time::Instant)>>,
}

impl LiveBackend {
    fn bump(&self) -> u64 {
        self.position.fetch_add(1, Ordering::SeqCst) + 1
    }
}

impl Backend for LiveBackend {
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
    fn api(&self, request: &ApiRequest<'_>) -> ApiResponse {
        self.api_calls.lock().push((
            request.method.clone(),
            request.path.to_owned(),
            request.query.map(str::to_owned),
            request.body.to_vec(),
        ));
        ApiResponse {
            status: StatusCode::CREATED,
            content_type: "application/json",
            body: br#"{"echo":true}"#.to_vec(),
        }
    }
    fn live_position(&self) -> u64 {
        self.position.load(Ordering::SeqCst)
    }
    fn live_delta(&self, since: u64) -> Option<(u64, Vec<u8>)> {
        let position = self.position.load(Ordering::SeqCst);
        (position > since).then(|| {
            self.built
                .lock()
                .push((position, std::time::Instant::now()));
            let json = serde_json::json!({"since": since, "position": position});
            (position, json.to_string().into_bytes())
        })
    }
}

fn builder(backend: &Arc<LiveBackend>) -> DashboardServerBuilder {
    DashboardServer::builder(Arc::clone(backend) as Arc<dyn Backend>)
        .grpc_port(0)
        .http_port(0)
        .ui_port(0)
        .shutdown_timeout(Duration::from_secs(2))
}

fn start(backend: &Arc<LiveBackend>) -> RunningDashboard {
    builder(backend).build().start().expect("the server starts")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn get(url: String, headers: &[(&str, &str)]) -> hyper::Response<Incoming> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::get(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    client
        .request(req.body(Full::new(Bytes::new())).unwrap())
        .await
        .expect("the server answers")
}

async fn get_text(url: String, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, String) {
    let response = get(url, headers).await;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

/// Reads Server-Sent Events off a response body.
struct Events {
    body: Incoming,
    buffer: String,
    /// Everything read, fields and comments alike, for the assertions on `retry:`.
    raw: String,
}

/// One event: when it arrived, its `id:` and its joined `data:` lines.
#[derive(Debug)]
struct Event {
    at: Instant,
    id: u64,
    data: serde_json::Value,
}

impl Events {
    fn new(response: hyper::Response<Incoming>) -> Self {
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Events {
            body: response.into_body(),
            buffer: String::new(),
            raw: String::new(),
        }
    }

    /// The next event with data, or `None` if none came within `wait` or the stream ended.
    async fn next(&mut self, wait: Duration) -> Option<Event> {
        let deadline = Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if let Some(id) = id {
                    let data = serde_json::from_str(&data).unwrap();
                    return Some(Event {
                        at: Instant::now(),
                        id,
                        data,
                    });
                }
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .ok()??
                .ok()?;
            if let Ok(data) = frame.into_data() {
                let text = std::str::from_utf8(&data).unwrap();
                self.buffer.push_str(text);
                self.raw.push_str(text);
            }
        }
    }
}

#[test]
fn a_new_stream_gets_the_current_state_at_once() {
    let backend = Arc::new(LiveBackend::default());
    backend.position.store(3, Ordering::SeqCst);
    let server = start(&backend);
    runtime().block_on(async {
        let started = Instant::now();
        let mut events =
            Events::new(get(format!("http://{}/api/live", server.ui_addr()), &[]).await);
        let event = events.next(Duration::from_secs(5)).await.unwrap();
        assert!(event.at - started < Duration::from_secs(1));
        assert_eq!(event.id, 3);
        assert_eq!(event.data, serde_json::json!({"since": 0, "position": 3}));
        assert!(events.raw.starts_with("retry: "));
        // Nothing changed: nothing more.
        assert!(events.next(Duration::from_millis(600)).await.is_none());
    });
    server.shutdown().unwrap();
}

#[test]
fn deltas_are_coalesced_to_one_per_quarter_second() {
    let backend = Arc::new(LiveBackend::default());
    let server = start(&backend);
    let writer = {
        let backend = Arc::clone(&backend);
        std::thread::spawn(move || {
            for _ in 0..300 {
                backend.bump();
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let got = runtime().block_on(async {
        let mut events =
            Events::new(get(format!("http://{}/api/live", server.ui_addr()), &[]).await);
        let mut got = Vec::new();
        let until = Instant::now() + Duration::from_millis(1300);
        while let Some(event) = events.next(until - Instant::now()).await {
            got.push(event);
        }
        got
    });
    writer.join().unwrap();
    // About 260 changes in 1.3 s; a stream of one event per change would carry them all.
    assert!((3..=7).contains(&got.len()), "{} events", got.len());
    let built = backend.built.lock().clone();
    let built_at = |id: u64| {
        built
            .iter()
            .find(|(position, _)| *position == id)
            .map(|(_, at)| *at)
            .unwrap_or_else(|| panic!("no delta was built for event {id}"))
    };
    for pair in got.windows(2) {
        // The server builds them at least 250 ms apart. Measured where they are built, not
        // where they arrive: under load a delayed delivery followed by a prompt one arrives
        // closer together than the server sent them.
        let gap = built_at(pair[1].id) - built_at(pair[0].id);
        assert!(gap >= Duration::from_millis(245), "{gap:?} {pair:?}");
        assert!(pair[1].id > pair[0].id);
        assert_eq!(
            pair[1].data["since"], pair[0].id,
            "each delta starts where the last ended"
        );
    }
    server.shutdown().unwrap();
}

#[test]
fn push_now_sends_at_once() {
    let backend = Arc::new(LiveBackend::default());
    backend.bump();
    let server = start(&backend);
    runtime().block_on(async {
        let mut events =
            Events::new(get(format!("http://{}/api/live", server.ui_addr()), &[]).await);
        let first = events.next(Duration::from_secs(5)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        backend.bump();
        server.push_now();
        let second = events.next(Duration::from_secs(5)).await.unwrap();
        // Without the push it would come 250 ms after the first at the earliest.
        assert!(
            second.at - first.at < Duration::from_millis(200),
            "{first:?} {second:?}"
        );
        assert_eq!(second.id, 2);
    });
    server.shutdown().unwrap();
}

#[test]
fn a_stream_resumes_after_since_or_last_event_id() {
    let backend = Arc::new(LiveBackend::default());
    backend.position.store(5, Ordering::SeqCst);
    let server = start(&backend);
    runtime().block_on(async {
        let url = format!("http://{}/api/live?since=5", server.ui_addr());
        let mut by_query = Events::new(get(url.clone(), &[]).await);
        let url = format!("http://{}/api/live", server.ui_addr());
        let mut by_header = Events::new(get(url, &[("last-event-id", "5")]).await);
        assert!(by_query.next(Duration::from_millis(400)).await.is_none());
        backend.bump();
        for events in [&mut by_query, &mut by_header] {
            let event = events.next(Duration::from_secs(5)).await.unwrap();
            assert_eq!(event.data, serde_json::json!({"since": 5, "position": 6}));
        }
    });
    server.shutdown().unwrap();
}

#[test]
fn closed_streams_free_their_slots() {
    let backend = Arc::new(LiveBackend::default());
    let server = start(&backend);
    runtime().block_on(async {
        // More than the server's limit of open streams, one after another.
        for _ in 0..80 {
            let response = get(format!("http://{}/api/live", server.ui_addr()), &[]).await;
            let mut events = Events::new(response);
            assert!(events.next(Duration::from_millis(1)).await.is_none());
            drop(events);
            // Let the server see the closed connection.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    server.shutdown().unwrap();
}

#[test]
fn shutdown_ends_open_streams() {
    let backend = Arc::new(LiveBackend::default());
    let server = start(&backend);
    let rt = runtime();
    let mut events = rt.block_on(async {
        Events::new(get(format!("http://{}/api/live", server.ui_addr()), &[]).await)
    });
    let started = std::time::Instant::now();
    server.shutdown().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    rt.block_on(async {
        let ended = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = events.body.frame().await {}
        })
        .await;
        assert!(ended.is_ok(), "the stream ended");
    });
}

#[test]
fn api_requests_reach_the_backend_with_their_body() {
    let backend = Arc::new(LiveBackend::default());
    let server = builder(&backend)
        .max_api_body_size(1024)
        .build()
        .start()
        .unwrap();
    runtime().block_on(async {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(b"{\"resourceSpans\":[]}\n").unwrap();
        let req = Request::post(format!(
            "http://{}/api/import?format=jsonl",
            server.ui_addr()
        ))
        .header("content-encoding", "gzip")
        .body(Full::new(Bytes::from(enc.finish().unwrap())))
        .unwrap();
        let response = client.request(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()["content-type"], "application/json");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], br#"{"echo":true}"#);

        let req = Request::post(format!("http://{}/api/import", server.ui_addr()))
            .body(Full::new(Bytes::from(vec![b'x'; 1025])))
            .unwrap();
        assert_eq!(
            client.request(req).await.unwrap().status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );

        let (status, _, _) = get_text(format!("http://{}/api/health", server.ui_addr()), &[]).await;
        assert_eq!(status, StatusCode::CREATED);
    });
    let calls = backend.api_calls.lock().clone();
    assert_eq!(
        calls,
        [
            (
                Method::POST,
                "/api/import".to_owned(),
                Some("format=jsonl".to_owned()),
                b"{\"resourceSpans\":[]}\n".to_vec()
            ),
            (Method::GET, "/api/health".to_owned(), None, Vec::new()),
        ]
    );
    server.shutdown().unwrap();
}

#[test]
fn pages_are_the_shell_under_a_strict_policy_and_about_gives_the_addresses() {
    let backend = Arc::new(LiveBackend::default());
    let server = start(&backend);
    let ui = server.ui_addr();
    runtime().block_on(async {
        for path in [
            "/",
            "/traces",
            "/traces/0af7651916cd43dd8448eb211c80319c?span=00f067aa0ba902b7",
            "/metrics/cpu",
            "/logs",
        ] {
            let (status, headers, page) = get_text(format!("http://{ui}{path}"), &[]).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(
                headers["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            );
            assert!(page.contains("/ui/js/app.js"), "{path}: {page}");
            let policy = headers["content-security-policy"].to_str().unwrap();
            assert!(policy.contains("script-src 'self'"), "{policy}");
            assert!(!policy.contains("unsafe-inline"), "{policy}");
            assert_eq!(headers["x-frame-options"], "DENY");
        }
        let (status, headers, module) = get_text(format!("http://{ui}/ui/js/app.js"), &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/javascript")
        );
        assert!(module.contains("EventSource"));

        let (status, headers, about) = get_text(format!("http://{ui}/api/about"), &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], "application/json");
        let about: serde_json::Value = serde_json::from_str(&about).unwrap();
        assert_eq!(about["ui"], format!("http://{ui}"));
        assert_eq!(about["otlpHttp"], format!("http://{}", server.http_addr()));
        assert_eq!(about["otlpGrpc"], format!("http://{}", server.grpc_addr()));
        assert_eq!(about["apiKeyRequired"], false);
        assert_eq!(about["tokenRequired"], false);

        for path in ["/nothing-here", "/ui/js/nothing.js", "/tracesx"] {
            let (status, _, _) = get_text(format!("http://{ui}{path}"), &[]).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }

        // DNS rebinding: a page on a hostile name that resolves to 127.0.0.1.
        let url = format!("http://{ui}/");
        let (status, _, _) = get_text(url.clone(), &[("host", "evil.example:18888")]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = get_text(url, &[("host", "localhost:18888")]).await;
        assert_eq!(status, StatusCode::OK);
    });
    server.shutdown().unwrap();
}

#[test]
fn the_login_link_sets_the_cookie_and_goes_to_the_pages() {
    let backend = Arc::new(LiveBackend::default());
    let server = builder(&backend)
        .token("s3cret")
        .otlp_api_key("k3y")
        .build()
        .start()
        .unwrap();
    let ui = server.ui_addr();
    runtime().block_on(async {
        let (status, headers, _) = get_text(format!("http://{ui}/login?t=wrong"), &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(headers.get("set-cookie").is_none());
        // `t` is the login link's name only; elsewhere the parameter is `token`.
        let (status, _, _) = get_text(format!("http://{ui}/?t=s3cret"), &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        let (status, headers, _) = get_text(format!("http://{ui}/login?t=s3cret"), &[]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers["location"], "/");
        let cookie = headers["set-cookie"].to_str().unwrap().to_owned();
        assert!(
            cookie.starts_with("telemetry_dashboard_token=s3cret;"),
            "{cookie}"
        );
        assert!(cookie.contains("SameSite=Strict"), "{cookie}");
        let pair = cookie.split(';').next().unwrap().to_owned();
        let (status, _, about) =
            get_text(format!("http://{ui}/api/about"), &[("cookie", &pair)]).await;
        assert_eq!(status, StatusCode::OK);
        let about: serde_json::Value = serde_json::from_str(&about).unwrap();
        assert_eq!(about["tokenRequired"], true);
        assert_eq!(about["apiKeyRequired"], true);
        assert_eq!(about["apiKeyHeader"], "x-otlp-api-key");
    });
    server.shutdown().unwrap();
}

#[test]
fn a_token_guards_the_ui_and_the_api() {
    let backend = Arc::new(LiveBackend::default());
    backend.bump();
    let server = builder(&backend).token("s3cret").build().start().unwrap();
    let ui = server.ui_addr();
    runtime().block_on(async {
        let (status, headers, _) = get_text(format!("http://{ui}/"), &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers["www-authenticate"], "Bearer");
        let (status, _, _) = get_text(format!("http://{ui}/api/health?token=wrong"), &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        let (status, headers, _) = get_text(format!("http://{ui}/?token=s3cret"), &[]).await;
        assert_eq!(status, StatusCode::OK);
        let cookie = headers["set-cookie"].to_str().unwrap().to_owned();
        assert!(
            cookie.starts_with("telemetry_dashboard_token=s3cret;"),
            "{cookie}"
        );
        assert!(cookie.contains("HttpOnly"));

        let (status, _, _) = get_text(
            format!("http://{ui}/api/health"),
            &[("authorization", "Bearer s3cret")],
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);

        // The browser's EventSource sends the cookie.
        let pair = cookie.split(';').next().unwrap().to_owned();
        let mut events =
            Events::new(get(format!("http://{ui}/api/live"), &[("cookie", &pair)]).await);
        assert_eq!(events.next(Duration::from_secs(5)).await.unwrap().id, 1);
    });
    server.shutdown().unwrap();
}
