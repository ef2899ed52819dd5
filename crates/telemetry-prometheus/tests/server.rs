//! The `/metrics` server over real sockets: negotiation, gzip, status codes, limits and
//! shutdown.

mod common;

use std::io::Read as _;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Reply, get, request};
use hyper::Method;
use telemetry_core::KeyValue;
use telemetry_metrics::MeterProvider;
use telemetry_prometheus::{Format, PrometheusExporter, PrometheusServer, ServerErrorKind};

fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn pipeline() -> (PrometheusExporter, MeterProvider) {
    // target_info (the detected resource) is left out so that bodies can be compared whole.
    let exporter = PrometheusExporter::builder()
        .with_target_info(false)
        .build();
    let provider = MeterProvider::builder()
        .with_reader(exporter.reader())
        .build();
    let counter = provider
        .meter("server-test")
        .u64_counter("served")
        .build()
        .expect("valid name");
    counter.add(3, &[KeyValue::new("path", "/a")]);
    (exporter, provider)
}

fn text(reply: &Reply) -> String {
    String::from_utf8(reply.body.clone()).expect("utf-8 body")
}

#[test]
fn serves_text_by_default_and_openmetrics_when_asked() {
    let (exporter, _provider) = pipeline();
    let server = PrometheusServer::bind(localhost(), exporter).expect("bind");
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);

    let plain = get(addr, "/metrics", &[]).expect("scrape");
    assert_eq!(plain.status, 200);
    assert_eq!(
        plain.header("content-type"),
        Some(Format::Text.content_type())
    );
    assert_eq!(
        text(&plain),
        "# TYPE served_total counter\nserved_total{path=\"/a\",otel_scope_name=\"server-test\"} 3\n"
    );

    let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    let om = get(addr, "/metrics", &[("accept", accept)]).expect("scrape");
    assert_eq!(om.status, 200);
    assert_eq!(
        om.header("content-type"),
        Some(Format::OpenMetrics.content_type())
    );
    // OpenMetrics adds the series' start time as a `_created` sample.
    let om = text(&om);
    let mut lines = om.lines();
    assert_eq!(lines.next(), Some("# TYPE served counter"));
    assert_eq!(
        lines.next(),
        Some("served_total{path=\"/a\",otel_scope_name=\"server-test\"} 3")
    );
    let created = lines
        .next()
        .and_then(|line| {
            line.strip_prefix("served_created{path=\"/a\",otel_scope_name=\"server-test\"} ")
        })
        .and_then(|seconds| seconds.parse::<f64>().ok())
        .expect("a _created sample");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    assert!(
        (now - 60.0..=now).contains(&created),
        "{created} vs now {now}"
    );
    assert_eq!(lines.next(), Some("# EOF"));
    assert_eq!(lines.next(), None);
}

#[test]
fn openmetrics_can_be_turned_off() {
    let (exporter, _provider) = pipeline();
    let server = PrometheusServer::builder(exporter)
        .with_openmetrics(false)
        .bind(localhost())
        .expect("bind");
    let reply = get(
        server.local_addr(),
        "/metrics",
        &[("accept", "application/openmetrics-text;version=1.0.0")],
    )
    .expect("scrape");
    assert_eq!(
        reply.header("content-type"),
        Some(Format::Text.content_type())
    );
    assert!(!text(&reply).contains("# EOF"));
}

#[test]
fn gzips_when_the_client_accepts_it() {
    let (exporter, _provider) = pipeline();
    let expected = exporter.render(Format::Text).expect("render");
    let server = PrometheusServer::bind(localhost(), exporter).expect("bind");
    let zipped = get(
        server.local_addr(),
        "/metrics",
        &[("accept-encoding", "gzip")],
    )
    .expect("scrape");
    assert_eq!(zipped.status, 200);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&zipped.body[..])
        .read_to_end(&mut unzipped)
        .expect("valid gzip");
    assert_eq!(unzipped, expected);

    let identity = get(
        server.local_addr(),
        "/metrics",
        &[("accept-encoding", "gzip;q=0")],
    )
    .expect("scrape");
    assert_eq!(identity.header("content-encoding"), None);
    assert_eq!(identity.body, expected);
}

#[test]
fn other_paths_and_methods_are_refused() {
    let (exporter, _provider) = pipeline();
    let server = PrometheusServer::builder(exporter)
        .with_path("stats")
        .bind(localhost())
        .expect("bind");
    let addr = server.local_addr();
    assert_eq!(get(addr, "/metrics", &[]).expect("request").status, 404);
    assert_eq!(get(addr, "/", &[]).expect("request").status, 404);
    assert_eq!(get(addr, "/stats", &[]).expect("request").status, 200);
    let post = request(addr, Method::POST, "/stats", &[]).expect("request");
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET"));
}

#[test]
fn an_unregistered_or_shut_down_pipeline_answers_503() {
    let exporter = PrometheusExporter::new();
    let server = PrometheusServer::bind(localhost(), exporter.clone()).expect("bind");
    assert_eq!(
        get(server.local_addr(), "/metrics", &[])
            .expect("request")
            .status,
        503
    );
    let provider = MeterProvider::builder()
        .with_reader(exporter.reader())
        .build();
    assert_eq!(
        get(server.local_addr(), "/metrics", &[])
            .expect("request")
            .status,
        200
    );
    provider.shutdown().expect("shutdown");
    assert_eq!(
        get(server.local_addr(), "/metrics", &[])
            .expect("request")
            .status,
        503
    );
}

#[test]
fn shutdown_and_drop_close_the_port() {
    let (exporter, _provider) = pipeline();
    let mut server = PrometheusServer::bind(localhost(), exporter.clone()).expect("bind");
    let addr = server.local_addr();
    assert_eq!(get(addr, "/metrics", &[]).expect("scrape").status, 200);
    server.shutdown().expect("shutdown");
    server.shutdown().expect("a second shutdown does nothing");
    assert!(TcpStream::connect(addr).is_err());

    let dropped = PrometheusServer::bind(localhost(), exporter).expect("bind");
    let addr = dropped.local_addr();
    drop(dropped);
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn a_taken_port_is_a_bind_error() {
    let (exporter, _provider) = pipeline();
    let first = PrometheusServer::bind(localhost(), exporter.clone()).expect("bind");
    let err = PrometheusServer::bind(first.local_addr(), exporter).expect_err("port in use");
    assert_eq!(err.kind(), ServerErrorKind::Bind);
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn connections_past_the_limit_are_closed() {
    let (exporter, _provider) = pipeline();
    let server = PrometheusServer::builder(exporter)
        .with_max_connections(1)
        .bind(localhost())
        .expect("bind");
    let addr = server.local_addr();
    let idle = TcpStream::connect(addr).expect("connect");
    // Give the server time to accept the idle connection and take the only slot.
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        get(addr, "/metrics", &[]).is_err(),
        "the second connection must be closed"
    );
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match get(addr, "/metrics", &[]) {
            Ok(reply) => {
                assert_eq!(reply.status, 200);
                break;
            }
            Err(e) if Instant::now() > deadline => panic!("slot never freed: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[tokio::test]
async fn starts_and_stops_inside_a_tokio_runtime() {
    let (exporter, _provider) = pipeline();
    let mut server = PrometheusServer::bind(localhost(), exporter).expect("bind");
    let addr = server.local_addr();
    let stream = tokio::net::TcpStream::connect(addr).await;
    assert!(stream.is_ok());
    server.shutdown().expect("shutdown");
}
