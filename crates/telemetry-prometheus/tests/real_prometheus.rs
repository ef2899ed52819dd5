//! A real Prometheus server scrapes our endpoint; the values it stores, read back through
//! its HTTP query API, must be exactly what was recorded.
//!
//! Two endpoints serve the same pipeline: one negotiates OpenMetrics (which Prometheus
//! prefers), the other has OpenMetrics turned off and serves the text format, so Prometheus'
//! own parsers check both. Needs the `prometheus` binary (Debian package `prometheus`, see
//! scripts/prometheus-peer.sh); skipped without it unless TELEMETRY_REQUIRE_PEERS=1.
//!
//! Prometheus runs with exemplar storage on: measurements taken inside a sampled span carry
//! its ids as exemplars, which only the OpenMetrics endpoint exposes. Its parser must take
//! them in (it fails a whole scrape over one bad exemplar), and whatever it stores must sit on
//! the right series and buckets with the right values.
//!
//! Most of the run time is Prometheus itself: its scrape manager applies new targets on a
//! 5-second tick, so the first scrape comes 5 to 6 seconds after start.

mod common;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Error, TempDir, get, url_encode};
use serde_json::Value as Json;
use telemetry_context::{Context, SpanContext, TraceFlags, TraceState};
use telemetry_core::{InstrumentationScope, KeyValue, Resource, SpanId, TraceId};
use telemetry_metrics::MeterProvider;
use telemetry_prometheus::{Format, PrometheusExporter, PrometheusServer};

/// An instant vector: each series' labels and value.
type Series = Vec<(BTreeMap<String, String>, String)>;

/// Stored exemplars: per series, its labels and each exemplar's labels and value.
type Exemplars = Vec<(Json, Vec<(Json, String)>)>;

/// How long Prometheus gets to start and to scrape what we recorded.
const WAIT: Duration = Duration::from_secs(20);

/// The scrape jobs: (job name, whether its endpoint serves OpenMetrics).
const JOBS: [(&str, bool); 2] = [("openmetrics", true), ("text", false)];

/// Kills and reaps the Prometheus process however the test ends.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where the running Prometheus answers, and its log for failure messages.
struct Prometheus<'a> {
    addr: SocketAddr,
    log: &'a Path,
    deadline: Instant,
}

impl Prometheus<'_> {
    fn log(&self) -> String {
        std::fs::read_to_string(self.log).unwrap_or_default()
    }

    /// The exemplars Prometheus stored for `promql` over the last hour: per series, its
    /// labels and each exemplar's labels and value.
    fn exemplars(&self, promql: &str) -> Result<Exemplars, Error> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let path = format!(
            "/api/v1/query_exemplars?query={}&start={}&end={}",
            url_encode(promql),
            now - 3600,
            now + 60
        );
        let reply = get(self.addr, &path, &[])?;
        let json: Json = serde_json::from_slice(&reply.body)?;
        if json["status"] != "success" {
            return Err(format!("exemplar query {promql} failed: {json}").into());
        }
        let mut out = Vec::new();
        for series in json["data"].as_array().into_iter().flatten() {
            let exemplars = series["exemplars"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    (
                        e["labels"].clone(),
                        e["value"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            out.push((series["seriesLabels"].clone(), exemplars));
        }
        Ok(out)
    }

    /// Runs an instant query and returns its vector result.
    fn query(&self, promql: &str) -> Result<Series, Error> {
        let path = format!("/api/v1/query?query={}", url_encode(promql));
        let reply = get(self.addr, &path, &[])?;
        let json: Json = serde_json::from_slice(&reply.body)?;
        if json["status"] != "success" {
            return Err(format!("query {promql} failed: {json}").into());
        }
        let series = json["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(series
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                let value = s["value"][1].as_str().unwrap_or_default().to_owned();
                (labels, value)
            })
            .collect())
    }

    /// Polls `promql` until it returns `count` series, within the deadline.
    fn wait_for(&self, promql: &str, count: usize) -> Series {
        loop {
            match self.query(promql) {
                Ok(result) if result.len() == count => return result,
                other if Instant::now() > self.deadline => panic!(
                    "`{promql}` never returned {count} series (last: {other:?}); log:\n{}",
                    self.log()
                ),
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Polls until the single series of `promql` has `value`.
    fn wait_for_value(&self, promql: &str, value: &str) -> BTreeMap<String, String> {
        loop {
            let last = self.query(promql).unwrap_or_default();
            if last.len() == 1 && last[0].1 == value {
                return last[0].0.clone();
            }
            assert!(
                Instant::now() < self.deadline,
                "`{promql}` never reached {value} (last: {last:?}); log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The metadata one target's last scrape gave for a metric family.
    fn metadata(&self, job: &str, family: &str) -> Json {
        let path = format!(
            "/api/v1/targets/metadata?match_target={}&metric={}",
            url_encode(&format!("{{job=\"{job}\"}}")),
            url_encode(family)
        );
        let reply = get(self.addr, &path, &[]).expect("metadata query");
        let json: Json = serde_json::from_slice(&reply.body).expect("json");
        let entries = json["data"].as_array().cloned().unwrap_or_default();
        assert_eq!(entries.len(), 1, "metadata of {family} in {job}: {json}");
        entries[0].clone()
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn prometheus_scrapes_and_stores_exactly_what_was_recorded() {
    if !common::peer_available("prometheus") {
        return;
    }

    // Our side: a pipeline with a counter, a gauge and a histogram.
    let exporter = PrometheusExporter::new();
    let provider = MeterProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name("prom-peer")
                .with_attribute(KeyValue::new("deployment.environment", "ci"))
                .build(),
        )
        .with_reader(exporter.reader())
        .build();
    let meter = provider.meter_with_scope(
        InstrumentationScope::builder("peer.test")
            .with_version("0.3.1")
            .build(),
    );
    let jobs = meter
        .u64_counter("jobs.processed")
        .with_unit("{job}")
        .with_description("Jobs \"processed\"")
        .build()
        .expect("valid");
    jobs.add(5, &[KeyValue::new("queue", "high")]);
    jobs.add(2, &[KeyValue::new("queue", "high")]);
    jobs.add(4, &[KeyValue::new("queue", "low \"quoted\"")]);
    let memory = meter
        .f64_gauge("process.memory")
        .with_unit("By")
        .build()
        .expect("valid");
    memory.record(1536.5, &[]);
    let durations = meter
        .f64_histogram("job.duration")
        .with_unit("s")
        .with_boundaries(vec![0.5, 5.0, 10.0])
        .build()
        .expect("valid");
    for v in [0.25, 3.0, 7.0, 7.5, 12.0] {
        durations.record(v, &[KeyValue::new("queue", "high")]);
    }

    // Served on loopback, once per format.
    let servers: Vec<PrometheusServer> = JOBS
        .iter()
        .map(|(_, openmetrics)| {
            PrometheusServer::builder(exporter.clone())
                .with_openmetrics(*openmetrics)
                .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
                .expect("bind")
        })
        .collect();

    // Prometheus, scraping both every second, with its storage in a temporary directory.
    let dir = TempDir::new("peer").expect("temp dir");
    let mut config =
        String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
    for ((job, _), server) in JOBS.iter().zip(&servers) {
        config.push_str(&format!(
            "  - job_name: {job}\n    static_configs:\n      - targets: ['{}']\n",
            server.local_addr()
        ));
    }
    let config_path = dir.0.join("prometheus.yml");
    std::fs::write(&config_path, config).expect("write config");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let log_path = dir.0.join("prometheus.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--enable-feature=exemplar-storage")
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.0.join("data").display()
        ))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("prometheus starts");
    let _peer = Peer(child);
    let prometheus = Prometheus {
        addr,
        log: &log_path,
        deadline: Instant::now() + WAIT,
    };

    while !get(addr, "/-/ready", &[]).is_ok_and(|r| r.status == 200) {
        assert!(
            Instant::now() < prometheus.deadline,
            "prometheus never became ready; log:\n{}",
            prometheus.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    for ((job, _), server) in JOBS.iter().zip(&servers) {
        let instance = server.local_addr().to_string();
        let sel = |extra: &str| format!("{{job=\"{job}\"{extra}}}");

        // The scrape itself succeeded (a parse error would make `up` 0).
        prometheus.wait_for_value(&format!("up{}", sel("")), "1");

        // The counter: `_total`, scope labels, job and instance added by Prometheus.
        let high = prometheus.wait_for_value(
            &format!("jobs_processed_total{}", sel(",queue=\"high\"")),
            "7",
        );
        let expected = labels(&[
            ("__name__", "jobs_processed_total"),
            ("instance", &instance),
            ("job", job),
            ("otel_scope_name", "peer.test"),
            ("otel_scope_version", "0.3.1"),
            ("queue", "high"),
        ]);
        assert_eq!(high, expected, "{job}");
        prometheus.wait_for_value(
            &format!(
                "jobs_processed_total{}",
                sel(",queue=\"low \\\"quoted\\\"\"")
            ),
            "4",
        );

        // The gauge, with its unit suffix.
        prometheus.wait_for_value(&format!("process_memory_bytes{}", sel("")), "1536.5");

        // The histogram: cumulative buckets, sum and count.
        let buckets = prometheus.wait_for(&format!("job_duration_seconds_bucket{}", sel("")), 4);
        let by_le: BTreeMap<String, String> = buckets
            .iter()
            .map(|(labels, value)| (labels["le"].clone(), value.clone()))
            .collect();
        let expected = labels(&[("0.5", "1"), ("5.0", "2"), ("10.0", "4"), ("+Inf", "5")]);
        assert_eq!(by_le, expected, "{job}");
        let count =
            prometheus.wait_for_value(&format!("job_duration_seconds_count{}", sel("")), "5");
        assert_eq!(count["queue"], "high");
        prometheus.wait_for_value(&format!("job_duration_seconds_sum{}", sel("")), "29.75");

        // target_info: the resource's attributes, and only those, beside job and instance.
        let info = prometheus.wait_for_value(&format!("target_info{}", sel("")), "1");
        assert_eq!(info["service_name"], "prom-peer");
        assert_eq!(info["deployment_environment"], "ci");
        assert_eq!(info["instance"], instance);
        assert!(!info.contains_key("otel_scope_name"));

        // The metadata Prometheus kept from the scrape: TYPE, HELP and, from OpenMetrics
        // only, UNIT (which also shows that each endpoint served the format meant).
        let unit = |unit: &'static str| if *job == "openmetrics" { unit } else { "" };
        let gauge = prometheus.metadata(job, "process_memory_bytes");
        assert_eq!(gauge["type"], "gauge", "{gauge}");
        assert_eq!(gauge["unit"], unit("bytes"), "{gauge}");
        let counter_family = if *job == "openmetrics" {
            "jobs_processed"
        } else {
            "jobs_processed_total"
        };
        let counter = prometheus.metadata(job, counter_family);
        assert_eq!(counter["type"], "counter", "{counter}");
        assert_eq!(counter["help"], "Jobs \"processed\"", "{counter}");
        let histogram = prometheus.metadata(job, "job_duration_seconds");
        assert_eq!(histogram["type"], "histogram", "{histogram}");
        assert_eq!(histogram["unit"], unit("seconds"), "{histogram}");
    }

    // Exemplars: measurements inside a sampled span carry its ids, and only the OpenMetrics
    // endpoint exposes them. Prometheus' OpenMetrics parser rejects a whole scrape over one
    // malformed exemplar, so a scrape that takes in the new measurements proves it parsed
    // ours. When it has also stored them (Prometheus 2.42 may take tens of seconds to, under
    // load, so the test does not wait for that), they must be on the right series and
    // buckets, with the span's ids.
    let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("valid");
    let span_id = SpanId::from_hex("00f067aa0ba902b7").expect("valid");
    let span = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::SAMPLED,
        false,
        TraceState::EMPTY,
    );
    {
        let _current = Context::new().with_span_context(span).attach();
        for v in [7.5, 12.0] {
            durations.record(v, &[KeyValue::new("queue", "high")]);
        }
        jobs.add(0, &[KeyValue::new("queue", "low \"quoted\"")]);
    }
    let served =
        String::from_utf8(exporter.render(Format::OpenMetrics).expect("render")).expect("UTF-8");
    let ids = format!("# {{trace_id=\"{trace_id}\",span_id=\"{span_id}\"}}");
    for (line_start, exemplar_value) in [
        ("job_duration_seconds_bucket{queue=\"high\"", "7.5"),
        ("jobs_processed_total{queue=\"low", "0"),
    ] {
        assert!(
            served.lines().any(|line| line.starts_with(line_start)
                && line.contains(&format!("{ids} {exemplar_value} "))),
            "no exemplar {exemplar_value} on {line_start}:\n{served}"
        );
    }
    for (job, _) in JOBS {
        prometheus.wait_for_value(&format!("job_duration_seconds_count{{job=\"{job}\"}}"), "7");
    }
    let ids = serde_json::json!({"trace_id": trace_id.to_string(), "span_id": span_id.to_string()});
    for (series, exemplars) in prometheus
        .exemplars("job_duration_seconds_bucket")
        .expect("exemplar query")
    {
        assert_eq!(series["job"], "openmetrics", "{series}");
        for (labels, value) in exemplars {
            assert_eq!(labels, ids, "{series}");
            let expected = match series["le"].as_str() {
                Some("10.0") => "7.5",
                Some("+Inf") => "12",
                other => panic!("an exemplar on bucket {other:?}"),
            };
            assert_eq!(value, expected, "{series}");
        }
    }

    // Recording more shows up at a later scrape of both endpoints.
    jobs.add(10, &[KeyValue::new("queue", "high")]);
    let later = Prometheus {
        deadline: Instant::now() + Duration::from_secs(5),
        ..prometheus
    };
    for (job, _) in JOBS {
        later.wait_for_value(
            &format!("jobs_processed_total{{job=\"{job}\",queue=\"high\"}}"),
            "17",
        );
    }

    drop(servers);
    provider.shutdown().expect("shutdown");
}
