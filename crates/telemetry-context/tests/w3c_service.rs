//! W3C Trace Context rules checked end to end through the `w3c_service` example, the way
//! the W3C test suite drives a service: send headers to it, tell it to call back a server
//! of ours, and read what arrives there.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// Header lines as received, names lowercased, duplicates kept in order.
type Headers = Vec<(String, String)>;

/// A callback server: records the headers of every request by path.
struct Callbacks {
    port: u16,
    received: Arc<(Mutex<HashMap<String, Headers>>, Condvar)>,
}

/// The service under test; its stdin is held open, and closing it (when the test process
/// ends) stops the service.
struct Service {
    port: u16,
    _child: Child,
    _stdin: ChildStdin,
}

fn read_head(stream: &mut BufReader<TcpStream>) -> std::io::Result<(String, Headers)> {
    let mut request_line = String::new();
    stream.read_line(&mut request_line)?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    Ok((request_line, headers))
}

fn serve_callback(
    stream: &TcpStream,
    received: &(Mutex<HashMap<String, Headers>>, Condvar),
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    // The service may reuse a connection for several calls.
    loop {
        let (request_line, headers) = read_head(&mut reader)?;
        if request_line.is_empty() {
            return Ok(());
        }
        let length: usize = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .and_then(|(_, value)| value.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        {
            let (map, signal) = received;
            map.lock().expect("lock").insert(path, headers);
            signal.notify_all();
        }
        let mut writer = stream;
        writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")?;
    }
}

fn callbacks() -> &'static Callbacks {
    static CALLBACKS: OnceLock<Callbacks> = OnceLock::new();
    CALLBACKS.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind callback server");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new((Mutex::new(HashMap::new()), Condvar::new()));
        let shared = Arc::clone(&received);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || serve_callback(&stream, &shared));
            }
        });
        Callbacks { port, received }
    })
}

fn example_binary() -> PathBuf {
    // Test binaries live in target/<profile>/deps; examples in target/<profile>/examples.
    let exe = std::env::current_exe().expect("test exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let binary = profile_dir.join("examples").join("w3c_service");
    // `cargo test` builds a package's examples before it runs the package's tests, so the
    // binary is as fresh as this test. Building here covers only a test binary run by hand;
    // it cannot be done unconditionally, since the running `cargo test` holds the build lock.
    if !binary.exists() {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "-p",
                "telemetry-context",
                "--example",
                "w3c_service",
            ])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the example failed");
    }
    binary
}

fn service() -> &'static Service {
    static SERVICE: OnceLock<Service> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let mut child = Command::new(example_binary())
            .args(["--port", "0", "--exit-on-stdin-eof"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start w3c_service");
        let stdout = child.stdout.take().expect("stdout");
        let mut first_line = String::new();
        BufReader::new(stdout)
            .read_line(&mut first_line)
            .expect("read address");
        let port = first_line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {first_line:?}"));
        let stdin = child.stdin.take().expect("stdin");
        Service {
            port,
            _child: child,
            _stdin: stdin,
        }
    })
}

/// Sends `headers` to the service's `/test` and asks for `calls` callbacks; returns the
/// headers each callback received, in order.
fn run(headers: &[(&str, &str)], calls: usize) -> Vec<Headers> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let callbacks = callbacks();
    let paths: Vec<String> = (0..calls)
        .map(|_| format!("/cb/{}", NEXT.fetch_add(1, Ordering::Relaxed)))
        .collect();
    let body = serde_json::to_string(
        &paths
            .iter()
            .map(|path| serde_json::json!({"url": format!("http://127.0.0.1:{}{path}", callbacks.port), "arguments": []}))
            .collect::<Vec<_>>(),
    )
    .expect("json");
    let mut request = format!(
        "POST /test HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}:{value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);

    let mut stream = TcpStream::connect(("127.0.0.1", service().port)).expect("connect to service");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "service answered {response:?}"
    );

    let (map, signal) = &*callbacks.received;
    let mut map = map.lock().expect("lock");
    let mut out = Vec::with_capacity(paths.len());
    for path in &paths {
        loop {
            if let Some(headers) = map.remove(path) {
                out.push(headers);
                break;
            }
            let (next, timeout) = signal
                .wait_timeout(map, Duration::from_secs(10))
                .expect("wait");
            assert!(!timeout.timed_out(), "callback {path} never arrived");
            map = next;
        }
    }
    out
}

fn all<'a>(headers: &'a Headers, name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The single outgoing traceparent, split into its four fields.
fn traceparent(headers: &Headers) -> (String, String, String, u8) {
    let values = all(headers, "traceparent");
    assert_eq!(
        values.len(),
        1,
        "exactly one traceparent goes out: {headers:?}"
    );
    let fields: Vec<&str> = values[0].split('-').collect();
    assert_eq!(fields.len(), 4, "{values:?}");
    assert_eq!(values[0].len(), 55);
    assert!(
        values[0]
            .bytes()
            .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "lowercase hex"
    );
    let flags = u8::from_str_radix(fields[3], 16).expect("flags");
    (
        fields[0].to_owned(),
        fields[1].to_owned(),
        fields[2].to_owned(),
        flags,
    )
}

fn tracestate(headers: &Headers) -> Option<String> {
    let values = all(headers, "tracestate");
    assert!(
        values.len() <= 1,
        "tracestate goes out as one line: {values:?}"
    );
    values.first().map(|v| (*v).to_owned())
}

const TRACE: &str = "12345678901234567890123456789012";
const PARENT: &str = "1234567890123456";

fn valid(flags: &str) -> String {
    format!("00-{TRACE}-{PARENT}-{flags}")
}

/// The incoming trace continues: same trace id, new parent id.
fn assert_continued(headers: &Headers) {
    let (version, trace, parent, _) = traceparent(headers);
    assert_eq!(version, "00");
    assert_eq!(trace, TRACE);
    assert_ne!(parent, PARENT);
}

/// The incoming trace was rejected: a new trace id, and no tracestate from the caller.
fn assert_restarted(headers: &Headers) {
    let (version, trace, parent, flags) = traceparent(headers);
    assert_eq!(version, "00");
    assert_ne!(trace, TRACE);
    assert_ne!(trace, "0".repeat(32));
    assert_ne!(parent, "0".repeat(16));
    assert_eq!(
        flags & 0x02,
        0x02,
        "a new random trace id carries the random flag"
    );
    assert_eq!(
        tracestate(headers),
        None,
        "tracestate is dropped with an invalid traceparent"
    );
}

#[test]
fn a_valid_traceparent_is_continued() {
    let out = run(&[("traceparent", &valid("01"))], 1);
    assert_continued(&out[0]);
    assert_eq!(traceparent(&out[0]).3 & 0x01, 1, "sampled flag kept");
    let out = run(&[("traceparent", &valid("00"))], 1);
    assert_eq!(traceparent(&out[0]).3, 0, "unsampled stays unsampled");
}

#[test]
fn header_name_is_case_insensitive_and_must_be_exact() {
    for name in ["TRACEPARENT", "TraceParent", "traceparent"] {
        assert_continued(&run(&[(name, &valid("01"))], 1)[0]);
    }
    for name in ["trace-parent", "trace.parent"] {
        let out = run(&[(name, &valid("01"))], 1);
        assert_ne!(traceparent(&out[0]).1, TRACE, "{name} is not the header");
    }
}

#[test]
fn whitespace_around_the_value_is_tolerated() {
    for value in [
        format!(" {}", valid("01")),
        format!("\t{}", valid("01")),
        format!("{} ", valid("01")),
        format!("\t {} \t", valid("01")),
    ] {
        assert_continued(&run(&[("traceparent", &value)], 1)[0]);
    }
}

#[test]
fn duplicated_traceparent_restarts_the_trace() {
    let out = run(
        &[
            ("traceparent", &valid("01")),
            ("traceparent", &valid("01")),
            ("tracestate", "foo=1"),
        ],
        1,
    );
    assert_restarted(&out[0]);
}

#[test]
fn invalid_traceparents_restart_the_trace() {
    let cases = [
        ("version ff", format!("ff-{TRACE}-{PARENT}-01")),
        ("version too short", format!("0-{TRACE}-{PARENT}-01")),
        ("version too long", format!("000-{TRACE}-{PARENT}-01")),
        ("version illegal", format!(".0-{TRACE}-{PARENT}-01")),
        (
            "00 with trailing data",
            format!("00-{TRACE}-{PARENT}-01-what-the-future-will-be-like"),
        ),
        ("00 with trailing dot", format!("00-{TRACE}-{PARENT}-01.")),
        (
            "future version with dot",
            format!("cc-{TRACE}-{PARENT}-01.what-the-future-will-be-like"),
        ),
        (
            "trace id all zero",
            format!("00-{}-{PARENT}-01", "0".repeat(32)),
        ),
        (
            "trace id uppercase",
            format!("00-{}-{PARENT}-01", "ABCDEF".repeat(5) + "AB"),
        ),
        ("trace id too long", format!("00-{TRACE}0-{PARENT}-01")),
        (
            "trace id too short",
            format!("00-{}-{PARENT}-01", &TRACE[1..]),
        ),
        (
            "parent id all zero",
            format!("00-{TRACE}-{}-01", "0".repeat(16)),
        ),
        (
            "parent id illegal",
            format!("00-{TRACE}-123456789012345.-01"),
        ),
        ("parent id too long", format!("00-{TRACE}-{PARENT}0-01")),
        ("flags illegal", format!("00-{TRACE}-{PARENT}-.0")),
        ("flags too long", format!("00-{TRACE}-{PARENT}-001")),
        ("flags too short", format!("00-{TRACE}-{PARENT}-1")),
        ("flags uppercase", format!("00-{TRACE}-{PARENT}-0A")),
        ("empty", String::new()),
    ];
    for (name, value) in cases {
        let out = run(&[("traceparent", &value), ("tracestate", "foo=1")], 1);
        let (_, trace, _, _) = traceparent(&out[0]);
        assert_ne!(trace, TRACE, "{name}: {value:?} was accepted");
        assert_restarted(&out[0]);
    }
}

#[test]
fn a_future_version_is_parsed_and_sent_as_00() {
    let value = format!("cc-{TRACE}-{PARENT}-01-what-the-future-will-be-like");
    let out = run(&[("traceparent", &value)], 1);
    assert_continued(&out[0]);
    assert_eq!(
        traceparent(&out[0]).3 & 0xfc,
        0,
        "unknown flags are not sent"
    );
}

#[test]
fn the_random_flag_is_propagated_and_unknown_flags_cleared() {
    let out = run(&[("traceparent", &valid("02"))], 1);
    assert_eq!(traceparent(&out[0]).3, 0x02);
    let out = run(&[("traceparent", &valid("ff"))], 1);
    assert_eq!(traceparent(&out[0]).3, 0x03);
}

#[test]
fn no_traceparent_starts_a_new_trace() {
    let out = run(&[], 1);
    assert_restarted(&out[0]);
    let out = run(&[("tracestate", "foo=1")], 1);
    assert_restarted(&out[0]);
}

#[test]
fn each_callback_gets_its_own_parent_id() {
    let out = run(&[("traceparent", &valid("01"))], 3);
    let parents: std::collections::HashSet<String> = out.iter().map(|h| traceparent(h).2).collect();
    assert_eq!(parents.len(), 3);
    assert!(out.iter().all(|h| traceparent(h).1 == TRACE));
    let fresh = run(&[], 3);
    let traces: std::collections::HashSet<String> =
        fresh.iter().map(|h| traceparent(h).1).collect();
    assert_eq!(
        traces.len(),
        1,
        "one new trace for all callbacks of a request"
    );
}

#[test]
fn tracestate_lines_combine_in_order() {
    let out = run(
        &[
            ("traceparent", &valid("01")),
            ("tracestate", "foo=1,bar=2"),
            ("tracestate", "rojo=1,congo=2"),
            ("tracestate", "baz=3"),
        ],
        1,
    );
    assert_eq!(
        tracestate(&out[0]).as_deref(),
        Some("foo=1,bar=2,rojo=1,congo=2,baz=3")
    );
    let out = run(
        &[
            ("traceparent", &valid("01")),
            ("tracestate", "foo=1 \t , \t bar=2, \t baz=3"),
        ],
        1,
    );
    assert_eq!(tracestate(&out[0]).as_deref(), Some("foo=1,bar=2,baz=3"));
    let out = run(
        &[
            ("traceparent", &valid("01")),
            ("tracestate", ""),
            ("tracestate", "foo=1"),
        ],
        1,
    );
    assert_eq!(tracestate(&out[0]).as_deref(), Some("foo=1"));
}

#[test]
fn an_invalid_tracestate_is_dropped_but_the_trace_continues() {
    for bad in [
        "foo =1",
        "FOO=1",
        "foo.bar=1",
        "@foo=1,bar=2",
        "foo=bar=baz",
        "foo=,bar=3",
    ] {
        let out = run(&[("traceparent", &valid("01")), ("tracestate", bad)], 1);
        assert_continued(&out[0]);
        assert_eq!(tracestate(&out[0]), None, "{bad:?} should be discarded");
    }
}

#[test]
fn tracestate_member_limit() {
    let line = |h: usize| {
        (0..8)
            .map(|i| format!("k{h}{i}=v"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let lines: Vec<String> = (0..4).map(line).collect();
    let mut headers: Vec<(&str, &str)> = vec![("traceparent", "")];
    let tp = valid("01");
    headers[0].1 = &tp;
    headers.extend(lines.iter().map(|l| ("tracestate", l.as_str())));
    let out = run(&headers, 1);
    assert_eq!(tracestate(&out[0]).map(|s| s.split(',').count()), Some(32));
    headers.push(("tracestate", "one=more"));
    let out = run(&headers, 1);
    assert_continued(&out[0]);
    assert_eq!(tracestate(&out[0]), None, "33 members discard the header");
}

#[test]
fn baggage_is_propagated() {
    let out = run(
        &[
            ("traceparent", &valid("01")),
            ("baggage", "user=alice, tenant = t%201;ttl=30"),
        ],
        1,
    );
    assert_eq!(
        all(&out[0], "baggage"),
        vec!["user=alice,tenant=t%201;ttl=30"]
    );
}
