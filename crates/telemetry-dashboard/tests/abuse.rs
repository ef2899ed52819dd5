//! The dashboard under load and abuse: a flood of ten times its memory budget against the
//! real binary with its resident memory measured, a thousand concurrent connections,
//! slowloris clients, and hostile bodies against a real store, each checked to be answered
//! with its error while earlier data stays queryable and the UI and API keep answering.
//!
//! The tests take turns (one lock): each measures latency, and two of them at once on a
//! two-core machine would measure each other. Figures are printed; run with `--nocapture`.

mod abuse_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use abuse_support::*;
use telemetry_core::Timestamp;
use telemetry_dashboard::backend::Backend;
use telemetry_dashboard::{DashboardServer, Store, StoreConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One test at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn now_nanos() -> u64 {
    Timestamp::now().as_unix_nanos()
}

/// The worst latency seen by a client that keeps asking the UI port for the trace list and
/// the index page while something else goes on.
#[derive(Debug, Default)]
struct Probes {
    count: u32,
    max_api: Duration,
    max_page: Duration,
}

async fn probe_until(ui: std::net::SocketAddr, done: Arc<AtomicBool>) -> Probes {
    let mut probes = Probes::default();
    while !done.load(Ordering::Relaxed) {
        // A new connection each time: a flood must not starve new clients either.
        let started = Instant::now();
        let reply = once(ui, "GET", "/api/traces?limit=20", &[], b"").await;
        assert_eq!(reply.status, 200, "the trace list during the flood");
        probes.max_api = probes.max_api.max(started.elapsed());
        let started = Instant::now();
        let reply = once(ui, "GET", "/", &[], b"").await;
        assert_eq!(reply.status, 200, "the index page during the flood");
        assert!(reply.body.len() > 100);
        probes.max_page = probes.max_page.max(started.elapsed());
        probes.count += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    probes
}

// ---------------------------------------------------------------------------------------
// 1. Resident memory under a flood of ten times the budget.

#[test]
fn a_flood_of_ten_times_the_budget_keeps_rss_near_the_budget_and_the_ui_answering() {
    let _serial = serial();
    // 8 MiB keeps the flood of ten times it near 6 s in a debug build on two cores.
    const BUDGET: usize = 8 * MIB;
    let child = ChildDashboard::start("8MiB");
    // Let the runtime threads start and the pages load once, so "idle" includes them.
    runtime().block_on(async {
        assert_eq!(once(child.ui, "GET", "/", &[], b"").await.status, 200);
        assert_eq!(
            once(child.ui, "GET", "/api/health", &[], b"").await.status,
            200
        );
    });
    std::thread::sleep(Duration::from_millis(200));
    let idle = child.status_bytes("VmRSS");

    let start = now_nanos();
    // 64 traces of 8 spans (512 spans, an SDK batch), and 512 log records.
    let traces = Arc::new(traces_template(64, 8, start));
    let logs = Arc::new(logs_template(64, 512, start));
    let (trace_quota, log_quota) = (6 * BUDGET / 2, 4 * BUDGET / 2); // per sender, two each

    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = Arc::clone(&done);
        let pid = child.pid();
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !done.load(Ordering::Relaxed) {
                samples.push(proc_status_bytes(pid, "VmRSS"));
                std::thread::sleep(Duration::from_millis(25));
            }
            samples
        })
    };
    let flood_started = Instant::now();
    let (probes, sent, last_batches) = runtime().block_on(async {
        let prober = tokio::spawn(probe_until(child.ui, Arc::clone(&done)));
        let mut senders = tokio::task::JoinSet::new();
        for sender in 0..4u64 {
            let (template, path, quota) = if sender < 2 {
                (Arc::clone(&traces), "/v1/traces", trace_quota)
            } else {
                (Arc::clone(&logs), "/v1/logs", log_quota)
            };
            let addr = child.http;
            senders.spawn(async move {
                let mut conn = Conn::connect(addr).await.unwrap();
                let (mut sent, mut batch) = (0usize, sender << 32);
                while sent < quota {
                    let body = template.batch(batch);
                    let reply = conn
                        .post(path, "application/x-protobuf", &body)
                        .await
                        .unwrap();
                    assert_eq!(reply.status, 200, "{path}: {}", reply.status_message());
                    assert!(reply.body.is_empty(), "no partial success expected");
                    sent += body.len();
                    batch += 1;
                }
                (sender, sent, batch - 1, Instant::now())
            });
        }
        let mut sent = 0;
        let mut last_batches = [(0u64, flood_started); 4];
        while let Some(result) = senders.join_next().await {
            let (sender, bytes, last, finished) = result.unwrap();
            sent += bytes;
            last_batches[sender as usize] = (last, finished);
        }
        done.store(true, Ordering::Relaxed);
        (prober.await.unwrap(), sent, last_batches)
    });
    let flood_time = flood_started.elapsed();
    let samples = sampler.join().unwrap();
    let rss = child.status_bytes("VmRSS");
    let hwm = child.status_bytes("VmHWM");

    // After the flood: the budget held, evictions were counted, the newest data is there.
    runtime().block_on(async {
        let health = once(child.ui, "GET", "/api/health", &[], b"").await.json();
        let store = &health["store"];
        eprintln!("store after the flood: {store}");
        for signal in ["traces", "logs"] {
            assert!(
                store[signal]["usedBytes"].as_u64() <= store[signal]["budgetBytes"].as_u64(),
                "{signal}: {store}"
            );
        }
        assert!(store["traces"]["evictedTraces"].as_u64().unwrap() > 0);
        assert!(store["logs"]["evictedRecords"].as_u64().unwrap() > 0);
        // The oldest traces are gone; the last batch of the sender of each signal that
        // finished last is there whole (the other sender's may have been evicted by it).
        for (sender, &(last, finished)) in last_batches.iter().enumerate() {
            let id = format!("{:032x}", batch_trace_id(last, 63));
            if sender < 2 {
                let first = format!("{:032x}", batch_trace_id((sender as u64) << 32, 0));
                let gone = once(child.ui, "GET", &format!("/api/traces/{first}"), &[], b"").await;
                assert_eq!(gone.status, 404, "the oldest trace was evicted");
            }
            if finished < last_batches[sender ^ 1].1 {
                continue;
            }
            if sender < 2 {
                let trace = once(child.ui, "GET", &format!("/api/traces/{id}"), &[], b"").await;
                assert_eq!(trace.status, 200, "the newest trace of sender {sender}");
                assert_eq!(trace.json()["spanCount"], 8);
            } else {
                let query = format!("/api/logs?traceId={id}&limit=1000");
                let found = once(child.ui, "GET", &query, &[], b"").await.json();
                assert_eq!(
                    found["logs"].as_array().map(Vec::len),
                    Some(8),
                    "the newest log records of sender {sender}"
                );
            }
        }
    });

    let peak_sampled = samples.iter().copied().max().unwrap_or(0);
    // The margin over the budget: the idle process (code, runtime, pages) plus allocator
    // slack for requests in flight (four senders' bodies and their decoded copies) and
    // memory freed by eviction that the allocator keeps for reuse.
    let slack = 16 * MIB;
    let margin = idle + slack;
    eprintln!(
        "flood: {:.0} MiB of OTLP/HTTP protobuf ({}x the {} MiB budget) in {:.1} s ({:.1} MiB/s)",
        mib(sent),
        sent / BUDGET,
        BUDGET / MIB,
        flood_time.as_secs_f64(),
        mib(sent) / flood_time.as_secs_f64()
    );
    eprintln!(
        "RSS: idle {:.1} MiB, peak sampled {:.1} MiB, VmHWM {:.1} MiB, after {:.1} MiB; \
         bound budget {} MiB + margin {:.1} MiB (idle + {} MiB slack) = {:.1} MiB",
        mib(idle),
        mib(peak_sampled),
        mib(hwm),
        mib(rss),
        BUDGET / MIB,
        mib(margin),
        slack / MIB,
        mib(BUDGET + margin)
    );
    eprintln!(
        "during the flood: {} probes, max /api/traces {:?}, max / {:?}",
        probes.count, probes.max_api, probes.max_page
    );
    assert!(sent >= 10 * BUDGET);
    assert!(probes.count > 0);
    assert!(probes.max_api < Duration::from_secs(2), "{probes:?}");
    assert!(probes.max_page < Duration::from_secs(2), "{probes:?}");
    assert!(
        hwm <= BUDGET + margin,
        "peak RSS {:.1} MiB over budget {} MiB + margin {:.1} MiB",
        mib(hwm),
        BUDGET / MIB,
        mib(margin)
    );
}

// ---------------------------------------------------------------------------------------
// 2. A thousand concurrent connections.

#[test]
fn a_thousand_concurrent_keep_alive_connections_are_all_served() {
    let _serial = serial();
    const CONNECTIONS: usize = 1000;
    // The client side holds a thousand sockets; the server is the child and holds its own.
    let limit = open_files_soft_limit();
    assert!(
        limit >= CONNECTIONS as u64 + 100,
        "this test needs {} open files, the soft limit is {limit}: raise it (ulimit -n 4096)",
        CONNECTIONS + 100
    );
    let child = ChildDashboard::start("64MiB");
    let start = now_nanos();
    runtime().block_on(async {
        let opened = Instant::now();
        let mut conns = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            conns.push(Conn::connect(child.http).await.expect("connects"));
        }
        let open_time = opened.elapsed();

        // Every connection sends an export at once, and keeps its connection.
        let round = |conns: Vec<Conn>, round: u64| async move {
            let mut tasks = tokio::task::JoinSet::new();
            for (i, mut conn) in conns.into_iter().enumerate() {
                tasks.spawn(async move {
                    let trace = (u128::from(round) << 64) | (i as u128 + 1);
                    let body = small_traces_proto("many", trace, start + i as u64);
                    let started = Instant::now();
                    let reply = conn
                        .post("/v1/traces", "application/x-protobuf", &body)
                        .await
                        .expect("answered");
                    assert_eq!(reply.status, 200);
                    (conn, started.elapsed())
                });
            }
            let mut kept = Vec::with_capacity(CONNECTIONS);
            let mut slowest = Duration::ZERO;
            while let Some(done) = tasks.join_next().await {
                let (conn, took) = done.unwrap();
                slowest = slowest.max(took);
                kept.push(conn);
            }
            (kept, slowest)
        };
        let started = Instant::now();
        let (conns, slowest_first) = round(conns, 1).await;
        let first_round = started.elapsed();

        // All thousand still open: a new client is served at once, on both ports.
        let started = Instant::now();
        let health = once(child.ui, "GET", "/api/health", &[], b"").await;
        let new_api = started.elapsed();
        assert_eq!(health.status, 200);
        let started = Instant::now();
        let body = small_traces_proto("many", u128::MAX - 1, start);
        let fresh = once(
            child.http,
            "POST",
            "/v1/traces",
            &[("content-type", "application/x-protobuf")],
            &body,
        )
        .await;
        let new_export = started.elapsed();
        assert_eq!(fresh.status, 200);

        // The same connections again: they were kept alive.
        let started = Instant::now();
        let (conns, slowest_second) = round(conns, 2).await;
        let second_round = started.elapsed();
        assert_eq!(conns.len(), CONNECTIONS);

        let health = once(child.ui, "GET", "/api/health", &[], b"").await.json();
        let items = health["ingest"]["traces"]["items"].as_u64();
        assert_eq!(items, Some(2 * (2 * CONNECTIONS as u64 + 1)), "{health}");
        let last = format!("/api/traces/{:032x}", (2u128 << 64) | CONNECTIONS as u128);
        assert_eq!(once(child.ui, "GET", &last, &[], b"").await.status, 200);
        eprintln!(
            "{CONNECTIONS} connections opened in {open_time:?}; round 1 {first_round:?} \
             (slowest {slowest_first:?}), round 2 on the same connections {second_round:?} \
             (slowest {slowest_second:?}); meanwhile a new API request took {new_api:?} and \
             a new export {new_export:?}"
        );
        assert!(new_api < Duration::from_secs(1), "{new_api:?}");
        assert!(new_export < Duration::from_secs(1), "{new_export:?}");
        assert!(first_round < Duration::from_secs(10), "{first_round:?}");
        assert!(second_round < Duration::from_secs(10), "{second_round:?}");
        drop(conns);
    });
}

// ---------------------------------------------------------------------------------------
// 3. Slowloris.

/// How a slow client's connection ended.
#[derive(Debug)]
struct Ending {
    /// From connecting until the server closed the connection; `None` if it never did.
    closed_after: Option<Duration>,
    /// What the server said before closing, if anything.
    said: String,
}

/// A kind of slow client: its name, where it connects, what it sends at once, what it then
/// drips a byte at a time, when the server should close it, and how the server's last words
/// begin.
type SlowKind<'a> = (
    &'a str,
    std::net::SocketAddr,
    Vec<u8>,
    Vec<u8>,
    Duration,
    &'a str,
);

/// Sends `head` at once, then one byte of `drip` every `interval`, until the server closes
/// the connection or `give_up` passes.
async fn dribble(
    addr: std::net::SocketAddr,
    head: Vec<u8>,
    drip: Vec<u8>,
    interval: Duration,
    give_up: Duration,
) -> Ending {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut said = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = |said: &[u8]| Ending {
        closed_after: Some(started.elapsed()),
        said: String::from_utf8_lossy(said).into_owned(),
    };
    if stream.write_all(&head).await.is_err() {
        return closed(&said);
    }
    let mut next = 0;
    while started.elapsed() < give_up {
        // Waiting for the next byte's turn doubles as watching for the close.
        match tokio::time::timeout(interval, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return closed(&said),
            Ok(Ok(n)) => {
                said.extend_from_slice(&buf[..n]);
                continue;
            }
            Err(_) => {}
        }
        if !drip.is_empty() {
            let byte = drip[next % drip.len()];
            next += 1;
            if stream.write_all(&[byte]).await.is_err() {
                return closed(&said);
            }
        }
    }
    Ending {
        closed_after: None,
        said: String::from_utf8_lossy(&said).into_owned(),
    }
}

#[test]
fn slow_and_silent_clients_are_cut_off_at_their_timeouts_while_others_are_served() {
    let _serial = serial();
    let header_timeout = Duration::from_secs(2);
    let body_timeout = Duration::from_secs(3);
    let idle_timeout = Duration::from_secs(3);
    let store = Arc::new(Store::new(StoreConfig::default()));
    let server = DashboardServer::builder(Arc::clone(&store) as Arc<dyn Backend>)
        .grpc_port(0)
        .http_port(0)
        .ui_port(0)
        .header_read_timeout(header_timeout)
        .body_read_timeout(body_timeout)
        .idle_timeout(idle_timeout)
        .shutdown_timeout(Duration::from_secs(1))
        .build()
        .start()
        .expect("starts on ephemeral ports");
    let (http, ui, grpc) = (server.http_addr(), server.ui_addr(), server.grpc_addr());
    let interval = Duration::from_millis(500);
    let give_up = 2 * idle_timeout + Duration::from_secs(3);
    let start = now_nanos();
    let body = small_traces_proto("slow", 7, start);
    // Bodies that never arrive whole carry a trace of their own, which must not be stored.
    let dribbled = small_traces_proto("slow", 8, start);
    let head = |extra: &str| {
        format!(
            "POST /v1/traces HTTP/1.1\r\nhost: {http}\r\n\
             content-type: application/x-protobuf\r\n{extra}\r\n"
        )
        .into_bytes()
    };
    let whole_request = [
        head(&format!("content-length: {}\r\n", body.len())),
        body.clone(),
    ]
    .concat();
    let mut h2_preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    h2_preface.extend([0, 0, 0, 4, 0, 0, 0, 0, 0]); // an empty SETTINGS frame
    // (kind, address, sent at once, then dripped a byte at a time, expected close, first
    // bytes of what the server says before closing)
    let slack = Duration::from_millis(1500);
    let kinds: Vec<SlowKind<'_>> = vec![
        (
            "header dribble, OTLP port",
            http,
            b"POST /v1/traces HTTP/1.1\r\n".to_vec(),
            b"x-slow: ".to_vec(),
            header_timeout,
            "",
        ),
        (
            "header dribble, UI port",
            ui,
            b"GET /api/health HTTP/1.1\r\n".to_vec(),
            b"x-slow: ".to_vec(),
            header_timeout,
            "",
        ),
        (
            "silent connection",
            grpc,
            Vec::new(),
            Vec::new(),
            header_timeout,
            "",
        ),
        (
            "idle keep-alive after a request",
            http,
            whole_request,
            Vec::new(),
            header_timeout,
            "HTTP/1.1 200",
        ),
        // Asked to close (GOAWAY) after one idle period; a client that does not finish the
        // close (this one answers no PING) is dropped after a second one.
        (
            "HTTP/2 preface, then idle",
            grpc,
            h2_preface,
            Vec::new(),
            idle_timeout,
            "",
        ),
        (
            "body dribble, Content-Length",
            http,
            head(&format!("content-length: {}\r\n", dribbled.len())),
            dribbled.clone(),
            body_timeout,
            "HTTP/1.1 408",
        ),
        (
            "body dribble, chunked",
            http,
            head("transfer-encoding: chunked\r\n"),
            b"1\r\nx\r\n".to_vec(),
            body_timeout,
            "HTTP/1.1 408",
        ),
    ];
    let served = runtime().block_on(async {
        let mut slow = tokio::task::JoinSet::new();
        for (index, (_, addr, sent, drip, _, _)) in kinds.iter().enumerate() {
            for _ in 0..10 {
                let (addr, sent, drip) = (*addr, sent.clone(), drip.clone());
                slow.spawn(
                    async move { (index, dribble(addr, sent, drip, interval, give_up).await) },
                );
            }
        }
        // A gRPC export whose message dribbles in over HTTP/2.
        let grpc_slow = tokio::spawn(grpc_dribble(grpc, interval));
        // Meanwhile an ordinary client exports and reads, on new connections each time.
        let mut worst = Duration::ZERO;
        let mut served = 0u32;
        let serving = Instant::now();
        let mut trace = 100u128;
        while serving.elapsed() < idle_timeout + Duration::from_secs(1) {
            trace += 1;
            let started = Instant::now();
            let body = small_traces_proto("normal", trace, start);
            let headers = [("content-type", "application/x-protobuf")];
            let reply = once(http, "POST", "/v1/traces", &headers, &body).await;
            assert_eq!(reply.status, 200);
            let reply = once(ui, "GET", &format!("/api/traces/{trace:032x}"), &[], b"").await;
            assert_eq!(reply.status, 200);
            worst = worst.max(started.elapsed());
            served += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut endings: Vec<Vec<Ending>> = kinds.iter().map(|_| Vec::new()).collect();
        while let Some(done) = slow.join_next().await {
            let (index, ending) = done.unwrap();
            endings[index].push(ending);
        }
        for ((kind, _, _, _, expected, says), endings) in kinds.iter().zip(&endings) {
            let times: Vec<Duration> = endings
                .iter()
                .map(|e| {
                    e.closed_after
                        .unwrap_or_else(|| panic!("{kind}: never closed ({e:?})"))
                })
                .collect();
            let (first, last) = (times.iter().min().unwrap(), times.iter().max().unwrap());
            let said = &endings[0].said;
            let said = if said.starts_with("HTTP/") {
                said.lines().next().unwrap_or("").to_owned()
            } else {
                format!("{} bytes", said.len())
            };
            eprintln!(
                "{kind}: closed after {first:.2?} to {last:.2?} (timeout {expected:?}); \
                 the server said {said:?}"
            );
            let latest = if kind.starts_with("HTTP/2") {
                2 * *expected + slack
            } else {
                *expected + slack
            };
            assert!(
                *first >= *expected - Duration::from_millis(100) && *last <= latest,
                "{kind}: closed after {first:?}..{last:?}, expected about {expected:?}"
            );
            for ending in endings {
                assert!(
                    ending.said.starts_with(says),
                    "{kind}: said {:?}",
                    ending.said
                );
            }
        }
        let (reply, after) = grpc_slow.await.unwrap();
        eprintln!(
            "gRPC body dribble over HTTP/2: answered after {after:.2?} (timeout {body_timeout:?}) \
             with grpc-status {:?} {:?}",
            reply.grpc_status, reply.message
        );
        // DEADLINE_EXCEEDED: the client was too slow, which an OTLP client retries.
        assert_eq!(reply.grpc_status, Some(4), "{reply:?}");
        assert!(!reply.message.is_empty());
        assert!(
            after >= body_timeout && after <= body_timeout + slack,
            "{after:?}"
        );
        eprintln!("meanwhile {served} ordinary export-and-query rounds, the slowest {worst:.2?}");
        assert!(worst < Duration::from_millis(500), "{worst:?}");
        served
    });
    // What arrived whole was stored, the ordinary client's and the keep-alive clients'
    // trace; what never did was not.
    runtime().block_on(async {
        let list = once(ui, "GET", "/api/traces?service=normal&limit=1000", &[], b"").await;
        let listed = list.json()["traces"].as_array().map(Vec::len);
        assert_eq!(listed, Some(served as usize));
        let trace = |id: u128| format!("/api/traces/{id:032x}");
        assert_eq!(once(ui, "GET", &trace(7), &[], b"").await.status, 200);
        assert_eq!(once(ui, "GET", &trace(8), &[], b"").await.status, 404);
    });
    server.shutdown().unwrap();
}

// ---------------------------------------------------------------------------------------
// 4. Hostile bodies against a real store.

/// One hostile OTLP/HTTP request and the answer it must get.
struct Hostile {
    name: &'static str,
    path: &'static str,
    /// `Content-Type`; `None` sends none.
    content_type: Option<&'static str>,
    gzip: bool,
    body: Vec<u8>,
    status: u16,
    /// Text the error message must contain (any for a 200).
    message: &'static str,
}

fn hostile(
    name: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    status: u16,
    message: &'static str,
) -> Hostile {
    Hostile {
        name,
        path,
        content_type: Some(content_type),
        gzip: false,
        body,
        status,
        message,
    }
}

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// Deterministic noise (xorshift), for garbage bodies.
fn noise(len: usize, mut state: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Gzip members of 1 MiB of zeroes each: about 1 KiB apiece on the wire.
fn gzip_bomb(inflated_mib: usize) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&vec![0u8; MIB]).unwrap();
    encoder.finish().unwrap().repeat(inflated_mib)
}

/// An OTLP/JSON trace request whose one attribute value is `depth` levels deep, built as text
/// (a `serde_json::Value` that deep would overflow the stack of whoever drops it).
fn deep_json(depth: usize, kvlist: bool) -> Vec<u8> {
    let (open, close) = if kvlist {
        (r#"{"kvlistValue":{"values":[{"key":"k","value":"#, "}]}}")
    } else {
        (r#"{"arrayValue":{"values":["#, "]}}")
    };
    format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"{:032x}","spanId":"0102030405060708","name":"deep","attributes":[{{"key":"deep","value":{}{{"stringValue":"leaf"}}{}}}]}}]}}]}}]}}"#,
        0xdee9_u128,
        open.repeat(depth),
        close.repeat(depth)
    )
    .into_bytes()
}

/// An OTLP/JSON trace request with the given ids and `attributes` int attributes.
fn json_span(trace_id: &str, span_id: &str, parent: &str, attributes: usize) -> Vec<u8> {
    let attributes: Vec<String> = (0..attributes)
        .map(|i| format!(r#"{{"key":"attr.{i}","value":{{"intValue":"{i}"}}}}"#))
        .collect();
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"json"}}}}]}},"scopeSpans":[{{"spans":[{{"traceId":"{trace_id}","spanId":"{span_id}","parentSpanId":"{parent}","name":"json span","startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000001000000","attributes":[{}]}}]}}]}}]}}"#,
        attributes.join(",")
    )
    .into_bytes()
}

fn raw_span(start: u64, change: impl FnOnce(&mut RawSpan)) -> Vec<u8> {
    let mut span = RawSpan::valid(0x0bad);
    change(&mut span);
    span.request(start)
}

#[test]
fn hostile_bodies_are_answered_with_their_errors_and_earlier_data_stays_queryable() {
    let _serial = serial();
    let max_body = 8 * MIB;
    let store = Arc::new(Store::new(StoreConfig::default()));
    let server = DashboardServer::builder(Arc::clone(&store) as Arc<dyn Backend>)
        .grpc_port(0)
        .http_port(0)
        .ui_port(0)
        .max_body_size(max_body)
        .build()
        .start()
        .expect("starts on ephemeral ports");
    let (http, ui, grpc) = (server.http_addr(), server.ui_addr(), server.grpc_addr());
    let start = now_nanos();
    const SEED: u128 = 0x5eed;
    const MANY: usize = 100_000;
    let many_attributes: Vec<Vec<u8>> = (0..MANY)
        .map(|i| kv_int(format!("attr.{i}").as_bytes(), i as u64))
        .collect();
    let bad_utf8 = b"caf\xc3\x28 \xff\xfe".to_vec();
    let id = |hex_digits: usize| "ab".repeat(hex_digits.div_ceil(2))[..hex_digits].to_owned();

    let cases = vec![
        // Invalid UTF-8 where protobuf wants a string.
        hostile(
            "invalid UTF-8 in a span name",
            "/v1/traces",
            PROTOBUF,
            raw_span(start, |s| s.name = bad_utf8.clone()),
            400,
            "UTF-8",
        ),
        hostile(
            "invalid UTF-8 in an attribute key",
            "/v1/traces",
            PROTOBUF,
            raw_span(start, |s| s.attributes = vec![kv_string(&bad_utf8, b"v")]),
            400,
            "UTF-8",
        ),
        hostile(
            "invalid UTF-8 in an attribute value",
            "/v1/traces",
            PROTOBUF,
            raw_span(start, |s| s.attributes = vec![kv_string(b"k", &bad_utf8)]),
            400,
            "UTF-8",
        ),
        hostile(
            "invalid UTF-8 in a resource attribute",
            "/v1/traces",
            PROTOBUF,
            raw_span(start, |s| {
                s.resource_attributes = vec![kv_string(b"service.name", &bad_utf8)];
            }),
            400,
            "UTF-8",
        ),
        hostile(
            "invalid UTF-8 in a log body",
            "/v1/logs",
            PROTOBUF,
            raw_log_request(&bad_utf8, &[], start),
            400,
            "UTF-8",
        ),
        // Ids of the wrong length, protobuf.
        hostile(
            "trace id of 15 bytes",
            "/v1/traces",
            PROTOBUF,
            raw_span(start, |s| s.trace_id.truncate(15)),
            400,
            "id must be 16 bytes, found 15",
        ),
        hostile(
            "trace id of 17 bytes",
            "/v1/traces",
            PROTOBUF,
            raw_span(start, |s| s.trace_id.push(1)),
            400,
            "id must be 16 bytes, found 17",
        ),
        hostile(
            "empty trace id",
            "/v1/traces",
            PROTOBUF,
            raw_span(start, |s| s.trace_id.clear()),
            400,
            "id must be 16 bytes, found 0",
        ),
        hostile(
            "all-zero trace id",
            "/v1/traces",
            PROTOBUF,
            raw_span(start, |s| s.trace_id = vec![0; 16]),
            400,
            "all-zero",
        ),
        hostile(
            "span id of 7 bytes",
            "/v1/traces",
            PROTOBUF,
            raw_span(start, |s| s.span_id.truncate(7)),
            400,
            "id must be 8 bytes, found 7",
        ),
        hostile(
            "parent span id of 9 bytes",
            "/v1/traces",
            PROTOBUF,
            raw_span(start, |s| s.parent_span_id = vec![7; 9]),
            400,
            "id must be 8 bytes, found 9",
        ),
        hostile(
            "log trace id of 5 bytes",
            "/v1/logs",
            PROTOBUF,
            raw_log_request(b"hello", &[9; 5], start),
            400,
            "id must be 16 bytes, found 5",
        ),
        // Ids of the wrong length, JSON.
        hostile(
            "JSON traceId of 31 hex digits",
            "/v1/traces",
            JSON,
            json_span(&id(31), &id(16), "", 1),
            400,
            "traceId",
        ),
        hostile(
            "JSON traceId of 34 hex digits",
            "/v1/traces",
            JSON,
            json_span(&id(34), &id(16), "", 1),
            400,
            "traceId",
        ),
        hostile(
            "JSON spanId of 15 hex digits",
            "/v1/traces",
            JSON,
            json_span(&id(32), &id(15), "", 1),
            400,
            "spanId",
        ),
        hostile(
            "JSON parentSpanId of 18 hex digits",
            "/v1/traces",
            JSON,
            json_span(&id(32), &id(16), &id(18), 1),
            400,
            "parentSpanId",
        ),
        hostile(
            "JSON traceId not hex",
            "/v1/traces",
            JSON,
            json_span(&"zz".repeat(16), &id(16), "", 1),
            400,
            "traceId",
        ),
        // Nesting a hundred thousand deep.
        hostile(
            "JSON arrays nested 100,000 deep",
            "/v1/traces",
            JSON,
            deep_json(100_000, false),
            400,
            "nest",
        ),
        hostile(
            "JSON key-value lists nested 100,000 deep",
            "/v1/traces",
            JSON,
            deep_json(100_000, true),
            400,
            "nest",
        ),
        hostile(
            "protobuf key-value lists nested 100,000 deep",
            "/v1/traces",
            PROTOBUF,
            raw_span(start, |s| {
                let mut kv = len_field(1, b"deep");
                kv.extend(len_field(2, &nested_kvlist_value(100_000)));
                s.attributes = vec![kv];
            }),
            400,
            "nested too deeply",
        ),
        // Huge attribute counts.
        hostile(
            "100,000 resource attributes",
            "/v1/traces",
            PROTOBUF,
            raw_span(start, |s| s.resource_attributes = many_attributes.clone()),
            400,
            "too many resource attributes",
        ),
        hostile(
            "100,000 attributes on one span",
            "/v1/traces",
            PROTOBUF,
            raw_span(start, |s| {
                s.trace_id = 0xa77a_u128.to_be_bytes().to_vec();
                s.attributes = many_attributes.clone();
            }),
            200,
            "",
        ),
        hostile(
            "100,000 attributes on one span, JSON",
            "/v1/traces",
            JSON,
            json_span(&format!("{:032x}", 0xa77b_u128), &id(16), "", MANY),
            200,
            "",
        ),
        // Garbage.
        hostile(
            "random bytes as protobuf",
            "/v1/traces",
            PROTOBUF,
            noise(64 << 10, 7),
            400,
            "at byte",
        ),
        hostile(
            "random bytes as JSON",
            "/v1/logs",
            JSON,
            noise(64 << 10, 11),
            400,
            "",
        ),
        hostile(
            "protobuf sent as JSON",
            "/v1/traces",
            JSON,
            small_traces_proto("x", 5, start),
            400,
            "",
        ),
        hostile(
            "a length prefix of 2^63",
            "/v1/metrics",
            PROTOBUF,
            vec![
                0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
            ],
            400,
            "",
        ),
        Hostile {
            content_type: None,
            ..hostile(
                "no Content-Type",
                "/v1/traces",
                PROTOBUF,
                small_traces_proto("x", 5, start),
                415,
                "Content-Type",
            )
        },
        hostile(
            "Content-Type text/xml",
            "/v1/traces",
            "text/xml",
            small_traces_proto("x", 5, start),
            415,
            "Content-Type",
        ),
        // Over the limit, inflated.
        Hostile {
            gzip: true,
            ..hostile(
                "gzip bomb of 1 GiB in 1 MiB",
                "/v1/traces",
                PROTOBUF,
                gzip_bomb(1024),
                413,
                "limit",
            )
        },
    ];

    runtime().block_on(async {
        let headers = [("content-type", PROTOBUF)];
        let seed = small_traces_proto("seed", SEED, start);
        assert_eq!(
            once(http, "POST", "/v1/traces", &headers, &seed)
                .await
                .status,
            200
        );
        let seed_path = format!("/api/traces/{SEED:032x}");
        let mut expected_refusals = std::collections::BTreeMap::<&str, u64>::new();
        for case in &cases {
            let mut headers = Vec::new();
            if let Some(content_type) = case.content_type {
                headers.push(("content-type", content_type));
            }
            if case.gzip {
                headers.push(("content-encoding", "gzip"));
            }
            let started = Instant::now();
            let reply = once(http, "POST", case.path, &headers, &case.body).await;
            let took = started.elapsed();
            let message = if reply.status == 200 {
                String::new()
            } else {
                reply.status_message()
            };
            eprintln!(
                "{}: {} bytes -> {} {:?} in {took:.1?}",
                case.name,
                case.body.len(),
                reply.status,
                message
            );
            assert_eq!(reply.status, case.status, "{}: {message:?}", case.name);
            assert!(message.contains(case.message), "{}: {message:?}", case.name);
            if case.status != 200 {
                assert!(!message.is_empty(), "{}: an error says why", case.name);
            }
            assert!(
                took < Duration::from_secs(3),
                "{}: took {took:?}",
                case.name
            );
            let reason = match case.status {
                400 => "malformed",
                413 => "too_large",
                415 => "unsupported_media_type",
                _ => "",
            };
            *expected_refusals.entry(reason).or_default() += 1;
            // The data accepted before is still there, and the server still takes more.
            let earlier = once(ui, "GET", &seed_path, &[], b"").await;
            assert_eq!(earlier.status, 200, "after {}", case.name);
            assert_eq!(earlier.json()["spanCount"], 2);
        }

        // The spans with 100,000 attributes are stored whole and can be read back.
        for trace in [0xa77a_u128, 0xa77b] {
            let got = once(ui, "GET", &format!("/api/traces/{trace:032x}"), &[], b"").await;
            assert_eq!(got.status, 200);
            let attributes = &got.json()["spans"][0]["attributes"];
            let count = attributes.as_object().map(serde_json::Map::len);
            assert_eq!(count, Some(MANY), "trace {trace:x}");
        }

        // gRPC: the same hostility, framed.
        let grpc_cases: Vec<(&str, &str, bool, Vec<u8>, u32)> = vec![
            (
                "gRPC: random bytes",
                TRACES_METHOD,
                false,
                grpc_frame(false, &noise(4096, 3)),
                3,
            ),
            (
                "gRPC: a length prefix of 4 GiB on 10 bytes",
                TRACES_METHOD,
                false,
                [&[0u8, 0xff, 0xff, 0xff, 0xff][..], &[0u8; 10]].concat(),
                3,
            ),
            (
                "gRPC: not even a prefix",
                TRACES_METHOD,
                false,
                vec![0, 0],
                3,
            ),
            (
                "gRPC: invalid UTF-8",
                TRACES_METHOD,
                false,
                grpc_frame(false, &raw_span(start, |s| s.name = bad_utf8.clone())),
                3,
            ),
            (
                "gRPC: trace id of 15 bytes",
                TRACES_METHOD,
                false,
                grpc_frame(false, &raw_span(start, |s| s.trace_id.truncate(15))),
                3,
            ),
            (
                "gRPC: log trace id of 5 bytes",
                LOGS_METHOD,
                false,
                grpc_frame(false, &raw_log_request(b"x", &[9; 5], start)),
                3,
            ),
            (
                "gRPC: gzip bomb of 1 GiB",
                TRACES_METHOD,
                true,
                grpc_frame(true, &gzip_bomb(1024)),
                8,
            ),
            (
                "gRPC: 9 MiB message over an 8 MiB limit",
                TRACES_METHOD,
                false,
                grpc_frame(false, &vec![0u8; 9 * MIB]),
                8,
            ),
        ];
        for (name, method, gzip, body, code) in grpc_cases {
            let started = Instant::now();
            let reply = grpc_raw(grpc, method, gzip, body).await;
            let took = started.elapsed();
            eprintln!(
                "{name}: grpc-status {:?} {:?} in {took:.1?}",
                reply.grpc_status, reply.message
            );
            assert_eq!(reply.http_status, 200, "{name}");
            assert_eq!(reply.grpc_status, Some(code), "{name}: {reply:?}");
            assert!(!reply.message.is_empty(), "{name}");
            assert!(took < Duration::from_secs(3), "{name}: took {took:?}");
            *expected_refusals
                .entry(if code == 8 { "too_large" } else { "malformed" })
                .or_default() += 1;
            let earlier = once(ui, "GET", &seed_path, &[], b"").await;
            assert_eq!(earlier.status, 200, "after {name}");
        }

        // Every refusal was counted under its reason.
        let health = once(ui, "GET", "/api/health", &[], b"").await.json();
        let mut counted = std::collections::BTreeMap::<String, u64>::new();
        for refusal in health["refusals"].as_array().unwrap() {
            *counted
                .entry(refusal["reason"].as_str().unwrap().to_owned())
                .or_default() += refusal["count"].as_u64().unwrap();
        }
        expected_refusals.remove("");
        let expected: std::collections::BTreeMap<String, u64> = expected_refusals
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(counted, expected, "{}", health["refusals"]);
        // And the server takes ordinary data as before.
        let after = small_traces_proto("after", SEED + 1, start);
        assert_eq!(
            once(http, "POST", "/v1/traces", &headers, &after)
                .await
                .status,
            200
        );
        let path = format!("/api/traces/{:032x}", SEED + 1);
        assert_eq!(once(ui, "GET", &path, &[], b"").await.status, 200);
    });
    server.shutdown().unwrap();
}

#[test]
fn silent_connections_past_the_connection_limit_do_not_lock_the_ui_out_for_long() {
    let _serial = serial();
    // More than the server's connection limit (1024 across its three ports), all silent.
    const SILENT: usize = 1100;
    let limit = open_files_soft_limit();
    assert!(
        limit >= 2 * SILENT as u64 + 100,
        "this test holds both ends of {SILENT} connections, {} open files; the soft limit \
         is {limit}: raise it (ulimit -n 4096)",
        2 * SILENT + 100
    );
    let header_timeout = Duration::from_millis(1500);
    let store = Arc::new(Store::new(StoreConfig::default()));
    let server = DashboardServer::builder(Arc::clone(&store) as Arc<dyn Backend>)
        .grpc_port(0)
        .http_port(0)
        .ui_port(0)
        .header_read_timeout(header_timeout)
        .build()
        .start()
        .expect("starts on ephemeral ports");
    let (grpc, ui) = (server.grpc_addr(), server.ui_addr());
    runtime().block_on(async {
        let opened = Instant::now();
        let mut silent = Vec::with_capacity(SILENT);
        for _ in 0..SILENT {
            silent.push(TcpStream::connect(grpc).await.unwrap());
        }
        // The UI answers again once the silent connections are closed at the timeout.
        let mut refused = 0u32;
        let answered_after = loop {
            let attempt = async {
                let mut conn = Conn::connect(ui).await?;
                conn.get("/api/health").await
            };
            match tokio::time::timeout(Duration::from_secs(1), attempt).await {
                Ok(Ok(reply)) => {
                    assert_eq!(reply.status, 200);
                    break opened.elapsed();
                }
                _ => refused += 1,
            }
            assert!(
                opened.elapsed() < header_timeout + Duration::from_secs(3),
                "the UI is still locked out after {:?}",
                opened.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // Every silent connection was closed by the server.
        let mut buf = [0u8; 16];
        for stream in &mut silent {
            let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await;
            assert!(
                matches!(read, Ok(Ok(0) | Err(_))),
                "a silent connection was left open: {read:?}"
            );
        }
        let all_closed = opened.elapsed();
        eprintln!(
            "{SILENT} silent connections: the UI refused {refused} attempts and answered \
             {answered_after:.2?} after they opened; all were closed by {all_closed:.2?} \
             (header read timeout {header_timeout:?})"
        );
        assert!(all_closed < header_timeout + Duration::from_secs(3));
    });
    server.shutdown().unwrap();
}
