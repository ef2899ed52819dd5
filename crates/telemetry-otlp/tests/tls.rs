//! The exporters over TLS, against loopback TLS servers (tokio-rustls under hyper) whose CA
//! and certificates are made at test time with rcgen: OTLP/HTTP and OTLP/gRPC delivered when
//! the CA is configured (in code or by `OTEL_EXPORTER_OTLP_*CERTIFICATE`), refused at once
//! with a TLS error when it is not or the name does not match, mutual TLS, and certificate
//! files that cannot be used failing the build. Every server binds 127.0.0.1 on port 0 and
//! stops when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use telemetry_otlp::{
    ExporterBuildError, ExporterConfig, GrpcExportError, GrpcSpanExporter, HttpExportError,
    HttpSpanExporter, PemItem, Signal, TlsConfigErrorKind, decode_traces,
};
use telemetry_span::TracerProvider;
use telemetry_span::{ExportError, ExportErrorKind, InMemorySpanExporter, SpanData, SpanExporter};
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A CA and what it signed: the server's certificate and a client's, with their keys.
struct Pki {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Vec<u8>,
    client_pem: String,
    client_key_pem: String,
}

impl Pki {
    /// A fresh CA, a server certificate for `names` (IP addresses become IP SANs) and a
    /// client certificate.
    fn new(names: &[&str]) -> Result<Self, rcgen::Error> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "telemetry-otlp test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

        let server_key = KeyPair::generate()?;
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let server = CertificateParams::new(names)?.signed_by(&server_key, &ca)?;

        let client_key = KeyPair::generate()?;
        let mut client_params = CertificateParams::new(Vec::<String>::new())?;
        client_params
            .distinguished_name
            .push(DnType::CommonName, "exporter");
        let client = client_params.signed_by(&client_key, &ca)?;

        Ok(Pki {
            ca_pem: ca.pem(),
            ca_der: CertificateDer::from(ca.der().to_vec()),
            server_chain: vec![CertificateDer::from(server.der().to_vec())],
            server_key: server_key.serialize_der(),
            client_pem: client.pem(),
            client_key_pem: client_key.serialize_pem(),
        })
    }

    /// The server's rustls configuration; `require_client` asks for a certificate our CA
    /// signed. ALPN offers `alpn`.
    fn server_config(
        &self,
        require_client: bool,
        alpn: &[&[u8]],
    ) -> Result<Arc<ServerConfig>, Box<dyn std::error::Error>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?;
        let builder = if require_client {
            let mut roots = RootCertStore::empty();
            roots.add(self.ca_der.clone())?;
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        let mut config = builder.with_single_cert(self.server_chain.clone(), key)?;
        config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

/// What the server speaks over TLS.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// OTLP/HTTP, HTTP/1.1 or HTTP/2 as ALPN picks.
    Http,
    /// OTLP/gRPC over HTTP/2.
    Grpc,
}

/// One request the server decoded.
#[derive(Debug)]
struct Seen {
    version: Version,
    path: String,
    spans: Vec<SpanData>,
}

#[derive(Default)]
struct Shared {
    seen: Mutex<Vec<Seen>>,
    /// Handshakes that failed on the server's side.
    handshake_failures: AtomicUsize,
}

/// A loopback TLS server that decodes every request with our decoder and answers success.
struct TlsServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TlsServer {
    fn start(mode: Mode, config: Arc<ServerConfig>) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind(SocketAddr::from((
            [127, 0, 0, 1],
            0,
        ))))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let (stop, stopped) = oneshot::channel();
        let state = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            runtime.block_on(serve(
                mode,
                listener,
                TlsAcceptor::from(config),
                state,
                stopped,
            ));
        });
        Ok(TlsServer {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(
            &mut *self
                .shared
                .seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Handshakes that failed on the server's side, once at least `expected` have: the
    /// server counts on its own thread, after the client may already have given up.
    fn handshake_failures(&self, expected: usize) -> usize {
        let until = Instant::now() + Duration::from_secs(2);
        loop {
            let failures = self.shared.handshake_failures.load(Ordering::Relaxed);
            if failures >= expected || Instant::now() > until {
                return failures;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    mode: Mode,
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let (acceptor, shared) = (acceptor.clone(), Arc::clone(&shared));
        // Connection tasks end with the runtime, when the server drops.
        tokio::spawn(async move {
            let tls = match acceptor.accept(stream).into_fallible().await {
                Ok(tls) => tls,
                Err((_, mut tcp)) => {
                    shared.handshake_failures.fetch_add(1, Ordering::Relaxed);
                    // Read what the client sent before closing, so the kernel closes with
                    // a FIN after our alert rather than a reset that can discard it; then
                    // the client reads why it was refused, as it does from servers that
                    // linger.
                    let mut sink = [0u8; 4096];
                    let drain = async { while let Ok(1..) = tcp.read(&mut sink).await {} };
                    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
                    return;
                }
            };
            let service = service_fn(move |request| answer(mode, Arc::clone(&shared), request));
            let io = TokioIo::new(tls);
            let _ = match mode {
                Mode::Http => {
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(io, service)
                        .await
                }
                Mode::Grpc => hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(io, service)
                    .await
                    .map_err(Into::into),
            };
        });
    }
}

async fn answer(
    mode: Mode,
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<BoxBody<Bytes, std::convert::Infallible>>, std::io::Error> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let message = match mode {
        Mode::Http => &body[..],
        // One uncompressed length-prefixed message.
        Mode::Grpc => body.get(5..).unwrap_or_default(),
    };
    let spans = decode_traces(message)
        .map_err(std::io::Error::other)?
        .resource_spans
        .into_iter()
        .flat_map(|resource| resource.scope_spans)
        .flat_map(|scope| scope.spans)
        .collect();
    shared
        .seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Seen {
            version: parts.version,
            path: parts.uri.path().to_owned(),
            spans,
        });
    let response = match mode {
        Mode::Http => Response::builder()
            .header("content-type", "application/x-protobuf")
            .body(Full::new(Bytes::new()).boxed()),
        Mode::Grpc => {
            // An empty ExportTraceServiceResponse, then grpc-status 0.
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            let body = Full::new(Bytes::from_static(&[0, 0, 0, 0, 0]))
                .with_trailers(async move { Some(Ok(trailers)) })
                .boxed();
            Response::builder()
                .header("content-type", "application/grpc")
                .body(body)
        }
    };
    response.map_err(std::io::Error::other)
}

/// A directory of its own under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<Self> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "telemetry-otlp-tls-test-{}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }

    fn write(&self, name: &str, contents: &str) -> std::io::Result<String> {
        let path = self.0.join(name);
        std::fs::write(&path, contents)?;
        Ok(path.to_string_lossy().into_owned())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn spans(names: &[&'static str]) -> Result<Vec<SpanData>, Box<dyn std::error::Error>> {
    let exporter = InMemorySpanExporter::new();
    let provider = TracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("tls");
    for name in names {
        tracer.in_span(*name, |_| {});
    }
    provider.shutdown()?;
    Ok(exporter.finished_spans())
}

/// The HTTP details of an HTTP exporter's failed export.
fn http_details(error: &ExportError) -> &HttpExportError {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<HttpExportError>())
        .unwrap_or_else(|| panic!("no HttpExportError under {error}"))
}

/// The gRPC details of a gRPC exporter's failed export.
fn grpc_details(error: &ExportError) -> &GrpcExportError {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<GrpcExportError>())
        .unwrap_or_else(|| panic!("no GrpcExportError under {error}"))
}

const HTTP_ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];
const GRPC_ALPN: &[&[u8]] = &[b"h2"];
const TIMEOUT: Option<Duration> = Some(Duration::from_secs(5));

#[test]
fn http_over_https_with_the_ca_in_code_delivers() -> TestResult {
    let pki = Pki::new(&["127.0.0.1"])?;
    let server = TlsServer::start(Mode::Http, pki.server_config(false, HTTP_ALPN)?)?;
    let mut exporter = HttpSpanExporter::builder()
        .endpoint(format!("https://127.0.0.1:{}/v1/traces", server.port()))
        .ca_certificate_pem(pki.ca_pem.as_bytes())
        .timeout(TIMEOUT)
        .build()?;
    let batch = spans(&["charge", "refund"])?;
    exporter.export(&batch)?;
    let seen = server.take_seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/traces");
    assert_eq!(seen[0].spans, batch);
    assert_eq!(seen[0].version, Version::HTTP_2, "ALPN picked h2");
    assert_eq!(exporter.stats().requests(), 1);
    exporter.shutdown()?;
    Ok(())
}

#[test]
fn http_over_https_with_the_ca_from_the_environment_delivers() -> TestResult {
    let pki = Pki::new(&["127.0.0.1"])?;
    // HTTP/1.1 only this time: the client must fall back to it.
    let server = TlsServer::start(Mode::Http, pki.server_config(false, &[b"http/1.1"])?)?;
    let dir = TempDir::new()?;
    let ca = dir.write("ca.pem", &pki.ca_pem)?;
    let endpoint = format!("https://127.0.0.1:{}", server.port());
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        // The per-signal file wins over the generic one, which does not exist.
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            "/nonexistent/generic-ca.pem",
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", ca.as_str()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000"),
    ];
    let mut exporter = HttpSpanExporter::builder()
        .config(ExporterConfig::from_env_source(&env, Signal::Traces))
        .build()?;
    let batch = spans(&["checkout"])?;
    exporter.export(&batch)?;
    let seen = server.take_seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/traces");
    assert_eq!(seen[0].version, Version::HTTP_11);
    assert_eq!(seen[0].spans, batch);
    exporter.shutdown()?;
    Ok(())
}

#[test]
fn http_without_the_ca_fails_at_once_with_a_tls_error() -> TestResult {
    let pki = Pki::new(&["127.0.0.1"])?;
    let server = TlsServer::start(Mode::Http, pki.server_config(false, HTTP_ALPN)?)?;
    let mut exporter = HttpSpanExporter::builder()
        .endpoint(format!("https://127.0.0.1:{}/v1/traces", server.port()))
        .timeout(TIMEOUT)
        .build()?;
    let started = Instant::now();
    let error = exporter
        .export(&spans(&["lost"])?)
        .expect_err("untrusted CA");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "not retried until the deadline: {:?}",
        started.elapsed()
    );
    assert_eq!(error.kind(), ExportErrorKind::Rejected, "{error}");
    let details = http_details(&error);
    assert_eq!(details.attempts(), 1);
    assert_eq!(details.status(), None);
    assert!(
        details.message().starts_with("TLS with https://127.0.0.1:")
            && details.message().contains("UnknownIssuer"),
        "{}",
        details.message()
    );
    assert!(server.take_seen().is_empty());
    assert_eq!(server.handshake_failures(1), 1);
    exporter.shutdown()?;
    Ok(())
}

#[test]
fn a_certificate_for_another_name_fails_at_once() -> TestResult {
    // Signed by the CA we trust, but for `localhost` only, and we connect to 127.0.0.1.
    let pki = Pki::new(&["localhost"])?;
    let server = TlsServer::start(Mode::Http, pki.server_config(false, HTTP_ALPN)?)?;
    let mut exporter = HttpSpanExporter::builder()
        .endpoint(format!("https://127.0.0.1:{}/v1/traces", server.port()))
        .ca_certificate_pem(pki.ca_pem.as_bytes())
        .timeout(TIMEOUT)
        .build()?;
    let error = exporter.export(&spans(&["lost"])?).expect_err("wrong name");
    assert_eq!(error.kind(), ExportErrorKind::Rejected, "{error}");
    let details = http_details(&error);
    assert_eq!(details.attempts(), 1);
    assert!(
        details.message().contains("TLS") && details.message().contains("not valid for name"),
        "{}",
        details.message()
    );
    assert!(server.take_seen().is_empty());
    exporter.shutdown()?;
    Ok(())
}

#[test]
fn mutual_tls_delivers_with_the_identity_and_is_refused_without() -> TestResult {
    let pki = Pki::new(&["127.0.0.1"])?;
    let server = TlsServer::start(Mode::Http, pki.server_config(true, HTTP_ALPN)?)?;
    let endpoint = format!("https://127.0.0.1:{}/v1/traces", server.port());

    let mut with_code = HttpSpanExporter::builder()
        .endpoint(&endpoint)
        .ca_certificate_pem(pki.ca_pem.as_bytes())
        .client_identity_pem(pki.client_pem.as_bytes(), pki.client_key_pem.as_bytes())
        .timeout(TIMEOUT)
        .build()?;
    let batch = spans(&["signed"])?;
    with_code.export(&batch)?;
    assert_eq!(server.take_seen()[0].spans, batch);
    with_code.shutdown()?;

    let dir = TempDir::new()?;
    let ca = dir.write("ca.pem", &pki.ca_pem)?;
    let certificate = dir.write("client.pem", &pki.client_pem)?;
    let key = dir.write("client.key", &pki.client_key_pem)?;
    let env = [
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.as_str()),
        (
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            certificate.as_str(),
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", key.as_str()),
    ];
    let mut from_env = HttpSpanExporter::builder()
        .config(ExporterConfig::from_env_source(&env, Signal::Traces))
        .timeout(TIMEOUT)
        .build()?;
    from_env.export(&batch)?;
    assert_eq!(server.take_seen()[0].spans, batch);
    from_env.shutdown()?;

    let mut anonymous = HttpSpanExporter::builder()
        .endpoint(&endpoint)
        .ca_certificate_pem(pki.ca_pem.as_bytes())
        .timeout(TIMEOUT)
        .build()?;
    let started = Instant::now();
    let error = anonymous
        .export(&spans(&["unsigned"])?)
        .expect_err("no client certificate");
    let details = http_details(&error);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?} {details}",
        started.elapsed()
    );
    assert!(
        details.message().starts_with("TLS with")
            && details.message().contains("CertificateRequired"),
        "{}",
        details.message()
    );
    assert_eq!(error.kind(), ExportErrorKind::Rejected, "{error}");
    assert_eq!(details.attempts(), 1);
    assert!(server.take_seen().is_empty(), "nothing reached the handler");
    assert_eq!(server.handshake_failures(1), 1);
    anonymous.shutdown()?;
    Ok(())
}

#[test]
fn grpc_over_mutual_tls_delivers_with_the_identity_and_is_refused_without() -> TestResult {
    let pki = Pki::new(&["127.0.0.1"])?;
    let server = TlsServer::start(Mode::Grpc, pki.server_config(true, GRPC_ALPN)?)?;
    let mut exporter = GrpcSpanExporter::builder()
        .endpoint(format!("https://127.0.0.1:{}", server.port()))
        .ca_certificate_pem(pki.ca_pem.as_bytes())
        .client_identity_pem(pki.client_pem.as_bytes(), pki.client_key_pem.as_bytes())
        .timeout(TIMEOUT)
        .build()?;
    let batch = spans(&["rpc"])?;
    exporter.export(&batch)?;
    let seen = server.take_seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].path,
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
    );
    assert_eq!(seen[0].version, Version::HTTP_2);
    assert_eq!(seen[0].spans, batch);
    exporter.shutdown()?;

    let mut anonymous = GrpcSpanExporter::builder()
        .endpoint(format!("https://127.0.0.1:{}", server.port()))
        .ca_certificate_pem(pki.ca_pem.as_bytes())
        .timeout(TIMEOUT)
        .build()?;
    let started = Instant::now();
    let error = anonymous
        .export(&spans(&["unsigned"])?)
        .expect_err("no client certificate");
    let details = grpc_details(&error);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?} {details}",
        started.elapsed()
    );
    assert_eq!(error.kind(), ExportErrorKind::Rejected, "{error}");
    assert_eq!(details.attempts(), 1);
    assert!(
        details.message().starts_with("TLS with")
            && details.message().contains("CertificateRequired"),
        "{}",
        details.message()
    );
    assert!(server.take_seen().is_empty());
    anonymous.shutdown()?;
    Ok(())
}

#[test]
fn grpc_without_a_scheme_is_secure_by_default_and_configured_by_env() -> TestResult {
    let pki = Pki::new(&["127.0.0.1"])?;
    let server = TlsServer::start(Mode::Grpc, pki.server_config(false, GRPC_ALPN)?)?;
    let dir = TempDir::new()?;
    let ca = dir.write("ca.pem", &pki.ca_pem)?;
    let endpoint = format!("127.0.0.1:{}", server.port());
    let env = [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.as_str()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000"),
    ];
    let mut exporter = GrpcSpanExporter::builder()
        .config(ExporterConfig::from_env_source(&env, Signal::Traces))
        .build()?;
    let batch = spans(&["rpc"])?;
    exporter.export(&batch)?;
    assert_eq!(server.take_seen()[0].spans, batch);
    exporter.shutdown()?;
    Ok(())
}

#[test]
fn grpc_without_the_ca_fails_at_once_with_a_tls_error() -> TestResult {
    let pki = Pki::new(&["127.0.0.1"])?;
    let server = TlsServer::start(Mode::Grpc, pki.server_config(false, GRPC_ALPN)?)?;
    let mut exporter = GrpcSpanExporter::builder()
        .endpoint(format!("https://127.0.0.1:{}", server.port()))
        .timeout(TIMEOUT)
        .build()?;
    let started = Instant::now();
    let error = exporter
        .export(&spans(&["lost"])?)
        .expect_err("untrusted CA");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "not retried until the deadline: {:?}",
        started.elapsed()
    );
    assert_eq!(error.kind(), ExportErrorKind::Rejected, "{error}");
    let details = grpc_details(&error);
    assert_eq!(details.attempts(), 1);
    assert_eq!(details.code_name(), Some("UNAVAILABLE"));
    assert!(
        details.message().starts_with("TLS with https://127.0.0.1:")
            && details.message().contains("UnknownIssuer"),
        "{}",
        details.message()
    );
    assert!(server.take_seen().is_empty());
    exporter.shutdown()?;
    Ok(())
}

/// The TLS error of a failed build.
fn tls_error(
    built: Result<impl std::fmt::Debug, ExporterBuildError>,
) -> telemetry_otlp::TlsConfigError {
    match built {
        Err(ExporterBuildError::Tls(error)) => error,
        other => panic!("expected a TLS configuration error, got {other:?}"),
    }
}

#[test]
fn unusable_certificate_files_fail_the_build_naming_variable_and_path() -> TestResult {
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://127.0.0.1:4318"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"),
    ];
    let error = tls_error(
        HttpSpanExporter::builder()
            .config(ExporterConfig::from_env_source(&env, Signal::Traces))
            .build(),
    );
    assert_eq!(error.kind(), TlsConfigErrorKind::Unreadable);
    assert_eq!(error.item(), PemItem::CaCertificate);
    assert_eq!(error.variable(), Some("OTEL_EXPORTER_OTLP_CERTIFICATE"));
    assert_eq!(error.path(), Some(Path::new("/nonexistent/ca.pem")));
    assert!(
        error
            .to_string()
            .starts_with("OTEL_EXPORTER_OTLP_CERTIFICATE=/nonexistent/ca.pem cannot be read"),
        "{error}"
    );

    // Not PEM: the same for gRPC, and for a client key.
    let dir = TempDir::new()?;
    let junk = dir.write("junk.pem", "this is not a certificate\n")?;
    let pki = Pki::new(&["127.0.0.1"])?;
    let certificate = dir.write("client.pem", &pki.client_pem)?;
    let env = [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://127.0.0.1:4317"),
        (
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            certificate.as_str(),
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", junk.as_str()),
    ];
    let error = tls_error(
        GrpcSpanExporter::builder()
            .config(ExporterConfig::from_env_source(&env, Signal::Traces))
            .build(),
    );
    assert_eq!(error.kind(), TlsConfigErrorKind::NotFound);
    assert_eq!(error.item(), PemItem::ClientKey);
    assert_eq!(
        error.variable(),
        Some("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY")
    );
    assert_eq!(error.path(), Some(Path::new(&junk)));

    // A key that is not the certificate's.
    let other_key = KeyPair::generate()?.serialize_pem();
    let error = tls_error(
        HttpSpanExporter::builder()
            .endpoint("https://127.0.0.1:4318/v1/traces")
            .client_identity_pem(pki.client_pem.as_bytes(), other_key.as_bytes())
            .build(),
    );
    assert_eq!(error.kind(), TlsConfigErrorKind::InvalidClientIdentity);
    assert_eq!((error.path(), error.variable()), (None, None));

    // For `http` the files are not read: TLS settings apply to secure connections only.
    let plain = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"),
    ];
    let mut exporter = HttpSpanExporter::builder()
        .config(ExporterConfig::from_env_source(&plain, Signal::Traces))
        .build()?;
    exporter.shutdown()?;
    Ok(())
}
