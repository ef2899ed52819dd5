//! Exporter settings from `OTEL_EXPORTER_OTLP_*`, by the rules of the OTLP exporter spec
//! (conformance.md §2.4): per-signal variables override the generic ones option by option,
//! the generic endpoint is a base that gets the signal's path, and anything unparsable is
//! reported and ignored so the default applies. The facade builds one exporter per signal
//! from one environment, so each bad value is reported once per process, not per signal.

use std::fmt;
use std::time::Duration;

use telemetry_core::env::{self, EnvSource, ProcessEnv};

use crate::tls::{PemSource, TlsConfig};

/// The export timeout when neither the environment nor code sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The OTLP/HTTP endpoint when none is configured; the signal's path is appended.
pub const DEFAULT_HTTP_ENDPOINT: &str = "http://localhost:4318";

/// The OTLP/gRPC endpoint when none is configured.
pub const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";

/// Which kind of telemetry an exporter sends: it picks the `OTEL_EXPORTER_OTLP_{SIGNAL}_*`
/// overrides and the `/v1/{signal}` path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signal {
    /// Spans, to `/v1/traces`.
    Traces,
    /// Metrics, to `/v1/metrics`.
    Metrics,
    /// Log records, to `/v1/logs`.
    Logs,
}

impl Signal {
    fn env_name(self) -> &'static str {
        match self {
            Signal::Traces => "TRACES",
            Signal::Metrics => "METRICS",
            Signal::Logs => "LOGS",
        }
    }

    /// The path relative to a base endpoint, without the leading slash.
    fn path(self) -> &'static str {
        match self {
            Signal::Traces => "v1/traces",
            Signal::Metrics => "v1/metrics",
            Signal::Logs => "v1/logs",
        }
    }
}

/// The wire protocol (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Protocol {
    /// OTLP/HTTP with protobuf bodies, the spec's default.
    #[default]
    HttpProtobuf,
    /// OTLP/HTTP with OTLP/JSON bodies.
    HttpJson,
    /// OTLP/gRPC, spoken by the `Grpc*Exporter`s; the HTTP exporters refuse it when built.
    Grpc,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
            Protocol::Grpc => "grpc",
        })
    }
}

/// How request bodies are compressed (`OTEL_EXPORTER_OTLP_COMPRESSION`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// Sent as encoded.
    #[default]
    None,
    /// gzip, with `Content-Encoding: gzip`.
    Gzip,
}

/// The settings of one OTLP exporter, resolved for one signal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExporterConfig {
    /// The full URL requests go to: for OTLP/HTTP, the signal's path included
    /// (`http://localhost:4318/v1/traces` by default).
    pub endpoint: String,
    /// Headers added to every request, in order.
    pub headers: Vec<(String, String)>,
    /// How long one export may take, retries included; `None`: no limit.
    pub timeout: Option<Duration>,
    /// Request body compression.
    pub compression: Compression,
    /// The wire protocol.
    pub protocol: Protocol,
    /// Trust roots and client identity for `https` endpoints
    /// (`OTEL_EXPORTER_OTLP_CERTIFICATE`, `_CLIENT_CERTIFICATE`, `_CLIENT_KEY`).
    pub tls: TlsConfig,
    /// OTLP/gRPC only: an endpoint without a scheme (`collector:4317`) is connected to in
    /// plain text instead of TLS (`OTEL_EXPORTER_OTLP_INSECURE`). An `http` or `https`
    /// scheme decides by itself and overrides this.
    pub insecure: bool,
}

impl ExporterConfig {
    /// The spec's defaults for `signal`: OTLP/HTTP protobuf to `localhost:4318`, no headers,
    /// 10 s, no compression, the system's trust roots, secure.
    pub fn new(signal: Signal) -> Self {
        ExporterConfig {
            endpoint: signal_endpoint(DEFAULT_HTTP_ENDPOINT, signal),
            headers: Vec::new(),
            timeout: Some(DEFAULT_TIMEOUT),
            compression: Compression::None,
            protocol: Protocol::HttpProtobuf,
            tls: TlsConfig::default(),
            insecure: false,
        }
    }

    /// The defaults overridden by `OTEL_EXPORTER_OTLP_*` in the process environment.
    pub fn from_env(signal: Signal) -> Self {
        Self::from_env_source(&ProcessEnv, signal)
    }

    /// [`ExporterConfig::from_env`] reading variables from `env`.
    ///
    /// For each option the per-signal variable (`OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`) wins
    /// over the generic one (`OTEL_EXPORTER_OTLP_TIMEOUT`), and a value that does not parse
    /// is reported (once per process, however many exporters read it) and ignored, falling
    /// through to the next source. With `protocol` gRPC, a header whose value is not
    /// visible ASCII (which gRPC metadata cannot carry) is skipped the same way. Headers from the
    /// per-signal variable replace the generic list as a whole, as any other option does.
    ///
    /// The certificate variables hold file paths, which are read when the exporter is built:
    /// a file that is missing or not PEM fails `build` with an error naming the variable.
    pub fn from_env_source(env: &(impl EnvSource + ?Sized), signal: Signal) -> Self {
        let generic = |option: &str| format!("OTEL_EXPORTER_OTLP_{option}");
        let specific = |option: &str| format!("OTEL_EXPORTER_OTLP_{}_{option}", signal.env_name());

        let protocols = [
            ("http/protobuf", Protocol::HttpProtobuf),
            ("http/json", Protocol::HttpJson),
            ("grpc", Protocol::Grpc),
        ];
        let protocol = read_choice(env, &specific("PROTOCOL"), &protocols)
            .or_else(|| read_choice(env, &generic("PROTOCOL"), &protocols))
            .unwrap_or_default();
        let compressions = [("gzip", Compression::Gzip), ("none", Compression::None)];
        let compression = read_choice(env, &specific("COMPRESSION"), &compressions)
            .or_else(|| read_choice(env, &generic("COMPRESSION"), &compressions))
            .unwrap_or_default();
        // Timeout 0 means no limit (configuration/sdk-environment-variables.md).
        let timeout = read_millis(env, &specific("TIMEOUT"))
            .or_else(|| read_millis(env, &generic("TIMEOUT")))
            .map_or(Some(DEFAULT_TIMEOUT), |t| Some(t).filter(|t| !t.is_zero()));
        let headers = [specific("HEADERS"), generic("HEADERS")]
            .into_iter()
            .find_map(|name| {
                env::read_string(env, &name).map(|value| parse_headers(&name, &value, protocol))
            })
            .unwrap_or_default();

        let endpoint = match env::read_string(env, &specific("ENDPOINT")) {
            Some(url) => as_is(&url),
            None => {
                let base = env::read_string(env, &generic("ENDPOINT"));
                match protocol {
                    // gRPC addresses a service, not a path: the endpoint is used as given.
                    Protocol::Grpc => base.unwrap_or_else(|| DEFAULT_GRPC_ENDPOINT.to_owned()),
                    Protocol::HttpProtobuf | Protocol::HttpJson => {
                        signal_endpoint(base.as_deref().unwrap_or(DEFAULT_HTTP_ENDPOINT), signal)
                    }
                }
            }
        };

        // Each file is an option of its own: a per-signal CA does not drop the generic
        // client identity, as the spec makes every option overridable on its own.
        let pem = |option: &str| {
            [specific(option), generic(option)]
                .into_iter()
                .find_map(|name| {
                    env::read_string(env, &name).map(|path| PemSource::File {
                        path: path.into(),
                        variable: Some(name),
                    })
                })
        };
        let tls = TlsConfig {
            ca_certificate: pem("CERTIFICATE"),
            client_certificate: pem("CLIENT_CERTIFICATE"),
            client_key: pem("CLIENT_KEY"),
        };
        let insecure = env::read_bool(env, &specific("INSECURE"))
            .or_else(|| env::read_bool(env, &generic("INSECURE")))
            .unwrap_or(false);

        ExporterConfig {
            endpoint,
            headers,
            timeout,
            compression,
            protocol,
            tls,
            insecure,
        }
    }
}

/// Splits `url` into everything up to the end of its path and the query/fragment after it.
fn split_path(url: &str) -> (&str, &str) {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let end = url[authority_start..]
        .find(['?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    url.split_at(end)
}

/// A per-signal endpoint: used as is, except that an empty path becomes `/`.
fn as_is(url: &str) -> String {
    let (head, tail) = split_path(url);
    let authority_start = head.find("://").map_or(0, |i| i + 3);
    if head[authority_start..].contains('/') {
        url.to_owned()
    } else {
        format!("{head}/{tail}")
    }
}

/// A base endpoint with the signal's path appended after exactly one `/`.
fn signal_endpoint(base: &str, signal: Signal) -> String {
    let (head, tail) = split_path(base);
    let slash = if head.ends_with('/') { "" } else { "/" };
    format!("{head}{slash}{}{tail}", signal.path())
}

/// One of `choices`, matched case-insensitively; anything else is reported (once per
/// process) and ignored.
fn read_choice<T: Copy>(
    env: &(impl EnvSource + ?Sized),
    name: &str,
    choices: &[(&str, T)],
) -> Option<T> {
    let value = env::read_string(env, name)?;
    let found = choices
        .iter()
        .find(|(label, _)| label.eq_ignore_ascii_case(&value))
        .map(|(_, choice)| *choice);
    if found.is_none() {
        env::report_invalid_once(name, &value, format_args!("not a known value; ignoring it"));
    }
    found
}

/// A number of milliseconds; anything else (a negative number, a unit) is reported (once
/// per process) and ignored.
fn read_millis(env: &(impl EnvSource + ?Sized), name: &str) -> Option<Duration> {
    let value = env::read_string(env, name)?;
    match value.parse::<u64>() {
        Ok(millis) => Some(Duration::from_millis(millis)),
        Err(_) => {
            env::report_invalid_once(
                name,
                &value,
                format_args!("not a non-negative number of milliseconds; ignoring it"),
            );
            None
        }
    }
}

/// Whether gRPC can send `value` as ASCII metadata: visible ASCII, spaces and tabs. HTTP
/// allows more (obs-text), so a value can pass as an HTTP header and still be unsendable.
fn is_grpc_metadata_value(value: &str) -> bool {
    value
        .bytes()
        .all(|byte| byte == b'\t' || (b' '..=b'~').contains(&byte))
}

/// Parses `k1=v1,k2=v2` with percent-decoded keys and values (the W3C baggage format less
/// its `;` properties). A pair that does not parse, or that `protocol` cannot send, is
/// reported (once per process) and skipped: one typo must not cost the others.
fn parse_headers(variable: &str, value: &str, protocol: Protocol) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    let mut skipped = Vec::new();
    for pair in value.split(',') {
        if pair.trim().is_empty() {
            continue;
        }
        let parsed = pair.split_once('=').and_then(|(key, value)| {
            let key = percent_decode(key.trim())?;
            let value = percent_decode(value.trim())?;
            let valid = !key.is_empty()
                && http::HeaderName::from_bytes(key.as_bytes()).is_ok()
                && http::HeaderValue::from_str(&value).is_ok()
                && (protocol != Protocol::Grpc || is_grpc_metadata_value(&value));
            valid.then_some((key, value))
        });
        match parsed {
            Some(header) => headers.push(header),
            None => skipped.push(pair.trim()),
        }
    }
    if !skipped.is_empty() {
        env::report_invalid_once(
            variable,
            value,
            format_args!("skipping the malformed headers {skipped:?}"),
        );
    }
    headers
}

/// Decodes `%XX` escapes; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let high = char::from(hex[0]).to_digit(16)?;
            let low = char::from(hex[1]).to_digit(16)?;
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Variables, or expected headers, as name-value pairs.
    type Pairs<'a> = &'a [(&'a str, &'a str)];

    fn traces(env: Pairs<'_>) -> ExporterConfig {
        ExporterConfig::from_env_source(env, Signal::Traces)
    }

    #[test]
    fn defaults() {
        let config = traces(&[]);
        assert_eq!(config, ExporterConfig::new(Signal::Traces));
        assert_eq!(config.endpoint, "http://localhost:4318/v1/traces");
        assert_eq!(config.timeout, Some(Duration::from_secs(10)));
        assert_eq!(config.protocol, Protocol::HttpProtobuf);
        assert_eq!(config.compression, Compression::None);
        assert!(config.headers.is_empty());
        assert_eq!(
            ExporterConfig::from_env_source(&[], Signal::Logs).endpoint,
            "http://localhost:4318/v1/logs"
        );
    }

    #[test]
    fn endpoint_rules() {
        let cases: &[(&str, Pairs<'_>, &str)] = &[
            (
                "base gets the path",
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")],
                "http://collector:4318/v1/traces",
            ),
            (
                "base with a trailing slash",
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")],
                "http://collector:4318/v1/traces",
            ),
            (
                "base with a path",
                &[(
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    "http://collector:4318/mycollector/",
                )],
                "http://collector:4318/mycollector/v1/traces",
            ),
            (
                "base with a path and a query",
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:1/p?x=1")],
                "http://c:1/p/v1/traces?x=1",
            ),
            (
                "per-signal is used as is, empty path becomes /",
                &[(
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://collector:4318",
                )],
                "http://collector:4318/",
            ),
            (
                "per-signal keeps its path and wins",
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:1"),
                    ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:2/custom"),
                ],
                "http://c:2/custom",
            ),
            (
                "an empty per-signal value is unset",
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:3"),
                    ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""),
                ],
                "http://c:3/v1/traces",
            ),
            (
                "another signal's override is not ours",
                &[("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:1/")],
                "http://localhost:4318/v1/traces",
            ),
            (
                "grpc default",
                &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
                "http://localhost:4317",
            ),
            (
                "grpc base is used as is",
                &[
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
                ],
                "http://c:4317",
            ),
        ];
        for (name, env, expected) in cases {
            assert_eq!(traces(env).endpoint, *expected, "{name}");
        }
    }

    #[test]
    fn options_and_per_signal_overrides() {
        let config = traces(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "GZIP"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
        ]);
        assert_eq!(config.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(config.compression, Compression::Gzip);
        assert_eq!(config.protocol, Protocol::HttpJson);
        assert_eq!(config.headers, [("a".to_owned(), "1".to_owned())]);

        let config = traces(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "0"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1,b=2"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "c=3"),
        ]);
        assert_eq!(config.timeout, None, "0 means no limit");
        assert_eq!(config.compression, Compression::None);
        assert_eq!(config.protocol, Protocol::HttpProtobuf);
        assert_eq!(config.headers, [("c".to_owned(), "3".to_owned())]);
    }

    #[test]
    fn certificate_files_and_insecure_per_signal_over_generic() {
        let file = |path: &str, variable: &str| {
            Some(PemSource::File {
                path: path.into(),
                variable: Some(variable.to_owned()),
            })
        };
        let env = [
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                "/etc/traces-ca.pem",
            ),
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/etc/client.pem"),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/etc/client.key"),
            ("OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY", "/etc/logs.key"),
            ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
            ("OTEL_EXPORTER_OTLP_METRICS_INSECURE", "false"),
        ];
        let traces = ExporterConfig::from_env_source(&env, Signal::Traces);
        assert_eq!(
            traces.tls,
            TlsConfig {
                ca_certificate: file(
                    "/etc/traces-ca.pem",
                    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"
                ),
                client_certificate: file(
                    "/etc/client.pem",
                    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"
                ),
                client_key: file("/etc/client.key", "OTEL_EXPORTER_OTLP_CLIENT_KEY"),
            }
        );
        assert!(traces.insecure);
        let logs = ExporterConfig::from_env_source(&env, Signal::Logs);
        assert_eq!(
            logs.tls.ca_certificate,
            file("/etc/ca.pem", "OTEL_EXPORTER_OTLP_CERTIFICATE")
        );
        assert_eq!(
            logs.tls.client_key,
            file("/etc/logs.key", "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY")
        );
        assert!(logs.insecure);
        let metrics = ExporterConfig::from_env_source(&env, Signal::Metrics);
        assert!(!metrics.insecure, "the per-signal false wins");
        assert_eq!(
            ExporterConfig::new(Signal::Traces).tls,
            TlsConfig::default()
        );
    }

    #[test]
    fn bad_values_fall_through() {
        let config = traces(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "700"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "5s"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
        ]);
        assert_eq!(config.timeout, Some(Duration::from_millis(700)));
        assert_eq!(config.compression, Compression::None);
        assert_eq!(config.protocol, Protocol::HttpProtobuf);
        let negative = traces(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "-1")]);
        assert_eq!(negative.timeout, Some(DEFAULT_TIMEOUT));
    }

    #[test]
    fn headers_are_percent_decoded_and_bad_pairs_skipped() {
        let cases: &[(&str, &str, Pairs<'_>)] = &[
            ("plain", "api-key=secret", &[("api-key", "secret")]),
            (
                "spaces trimmed, decoded",
                " a = x%20y , b=%3D%2C ",
                &[("a", "x y"), ("b", "=,")],
            ),
            ("value keeps later =", "a=b=c", &[("a", "b=c")]),
            ("empty value", "a=", &[("a", "")]),
            ("no =", "a,b=1", &[("b", "1")]),
            ("empty key", "=1,b=2", &[("b", "2")]),
            ("broken escape", "a=%4,b=%zz,c=ok", &[("c", "ok")]),
            ("not utf-8", "a=%ff,c=ok", &[("c", "ok")]),
            ("invalid header name", "a b=1,c=ok", &[("c", "ok")]),
            ("control character in value", "a=x%0Ay,c=ok", &[("c", "ok")]),
            ("empty pairs ignored", ",,a=1,", &[("a", "1")]),
            (
                "utf-8 value",
                "a=caf%C3%A9,c=ok",
                &[("a", "café"), ("c", "ok")],
            ),
        ];
        for (name, input, expected) in cases {
            let parsed = parse_headers("TEST", input, Protocol::HttpProtobuf);
            let expected: Vec<(String, String)> = expected
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            assert_eq!(parsed, expected, "{name}");
        }
    }

    #[test]
    fn grpc_headers_must_be_ascii() {
        // A value HTTP can send but gRPC ASCII metadata cannot is skipped, not left to fail
        // the exporter's build.
        let env = [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=caf%C3%A9,b=x%09y,c=ok"),
        ];
        let headers = traces(&env).headers;
        assert_eq!(
            headers,
            [
                ("b".to_owned(), "x\ty".to_owned()),
                ("c".to_owned(), "ok".to_owned())
            ]
        );
        for (name, value) in &headers {
            assert!(
                tonic::metadata::AsciiMetadataKey::from_bytes(name.as_bytes()).is_ok()
                    && tonic::metadata::AsciiMetadataValue::try_from(value.as_str()).is_ok(),
                "{name}"
            );
        }
        let http = [("OTEL_EXPORTER_OTLP_HEADERS", "a=caf%C3%A9")];
        assert_eq!(traces(&http).headers.len(), 1, "HTTP can send it");
    }

    /// Reports whose text names [`ONCE_MARKER`], counted by [`count_marked`].
    static MARKED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// A value no other test uses, so that reports of concurrent tests are not counted.
    const ONCE_MARKER: &str = "once-marker-7f3a";

    fn count_marked(diagnostic: &telemetry_core::diagnostic::Diagnostic<'_>) {
        if diagnostic.message.to_string().contains(ONCE_MARKER) {
            MARKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn a_bad_value_is_reported_once_for_all_three_signals() {
        let timeout = format!("{ONCE_MARKER}s");
        let headers = ONCE_MARKER.to_owned();
        let compression = format!("zip-{ONCE_MARKER}");
        let env = [
            ("OTEL_EXPORTER_OTLP_TIMEOUT", timeout.as_str()),
            ("OTEL_EXPORTER_OTLP_HEADERS", headers.as_str()),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", compression.as_str()),
        ];
        let previous = telemetry_core::diagnostic::set_diagnostic_handler(count_marked);
        for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
            let config = ExporterConfig::from_env_source(&env, signal);
            assert_eq!(config.timeout, Some(DEFAULT_TIMEOUT));
        }
        telemetry_core::diagnostic::set_diagnostic_handler(previous);
        assert_eq!(
            MARKED.load(std::sync::atomic::Ordering::Relaxed),
            3,
            "one per variable"
        );
    }
}
