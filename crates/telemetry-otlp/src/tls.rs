//! TLS for `https` endpoints, shared by the OTLP/HTTP and OTLP/gRPC exporters: where the
//! trust roots and the client identity come from ([`TlsConfig`]), the rustls `ClientConfig`
//! built from them when an exporter is built, and the reading of handshake failures out of
//! the errors hyper and tonic return.
//!
//! The configuration is checked when the exporter is built, not on the first export: a
//! missing or malformed PEM file is a [`TlsConfigError`] from `build`, naming the variable
//! and the path, instead of every export failing later. The crypto provider is `ring`,
//! named explicitly on every `ClientConfig`, so a process-wide default that the program or
//! another library installs cannot change what the exporters use.

use std::error::Error as StdError;
use std::fmt;
use std::fs::File;
use std::future::Future;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};

use http::Uri;
use hyper::rt::{Read as RtRead, ReadBufCursor, Write as RtWrite};
use hyper_util::client::legacy::connect::{Connected, Connection};

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, ConfigBuilder, RootCertStore, WantsVerifier};
use telemetry_core::diagnostic;
use tower_service::Service;

/// The TLS setters every exporter builder has, HTTP and gRPC alike; expanded inside their
/// `impl` blocks, whose `settings.config` is an [`ExporterConfig`](crate::ExporterConfig).
macro_rules! tls_builder_setters {
    () => {
        /// Trusts the CAs whose certificates `pem` holds (PEM text, one or more
        /// certificates) besides the system's roots, for an `https` endpoint; checked when
        /// building. Replaces a CA file set before.
        pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
            self.settings.config.tls.ca_certificate = Some($crate::PemSource::Pem(pem.into()));
            self
        }

        /// [`ca_certificate_pem`](Self::ca_certificate_pem) from a file, read when
        /// building.
        pub fn ca_certificate_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
            self.settings.config.tls.ca_certificate = Some($crate::PemSource::file(path));
            self
        }

        /// The client certificate chain (leaf first) and its private key, both PEM, that
        /// an `https` endpoint asking for mutual TLS is shown; checked when building.
        pub fn client_identity_pem(
            mut self,
            certificate: impl Into<Vec<u8>>,
            key: impl Into<Vec<u8>>,
        ) -> Self {
            let tls = &mut self.settings.config.tls;
            tls.client_certificate = Some($crate::PemSource::Pem(certificate.into()));
            tls.client_key = Some($crate::PemSource::Pem(key.into()));
            self
        }

        /// [`client_identity_pem`](Self::client_identity_pem) from two files, read when
        /// building.
        pub fn client_identity_files(
            mut self,
            certificate: impl Into<std::path::PathBuf>,
            key: impl Into<std::path::PathBuf>,
        ) -> Self {
            let tls = &mut self.settings.config.tls;
            tls.client_certificate = Some($crate::PemSource::file(certificate));
            tls.client_key = Some($crate::PemSource::file(key));
            self
        }
    };
}
pub(crate) use tls_builder_setters;

/// The largest PEM file read: a CA bundle of every public root is under 300 KiB, and a path
/// that names `/dev/zero` or a log file must not fill memory.
const MAX_PEM_FILE: u64 = 4 * 1024 * 1024;

/// Where PEM text comes from: a file read when the exporter is built, or bytes given in code.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PemSource {
    /// A file, read when the exporter is built.
    File {
        /// The file's path.
        path: PathBuf,
        /// The environment variable that named it, for error messages; `None` when the
        /// path was given in code.
        variable: Option<String>,
    },
    /// PEM text given in code.
    Pem(Vec<u8>),
}

impl PemSource {
    /// A file given in code.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        PemSource::File {
            path: path.into(),
            variable: None,
        }
    }
}

impl fmt::Debug for PemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemSource::File { path, variable } => f
                .debug_struct("File")
                .field("path", path)
                .field("variable", variable)
                .finish(),
            // Not the bytes: they may hold a private key, and debug output ends up in logs.
            PemSource::Pem(bytes) => write!(f, "Pem({} bytes)", bytes.len()),
        }
    }
}

/// The TLS settings of an exporter, used when its endpoint is `https`: trust roots besides
/// the system's, and a client identity for mutual TLS. Ignored for `http` endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM certificates of CAs to trust besides the system's roots
    /// (`OTEL_EXPORTER_OTLP_CERTIFICATE`).
    pub ca_certificate: Option<PemSource>,
    /// The client's PEM certificate chain for mutual TLS, leaf first
    /// (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`); needs [`client_key`](TlsConfig::client_key).
    pub client_certificate: Option<PemSource>,
    /// The private key of [`client_certificate`](TlsConfig::client_certificate), PEM in
    /// PKCS#8, PKCS#1 or SEC1 form (`OTEL_EXPORTER_OTLP_CLIENT_KEY`).
    pub client_key: Option<PemSource>,
}

/// Which TLS setting a [`TlsConfigError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PemItem {
    /// [`TlsConfig::ca_certificate`].
    CaCertificate,
    /// [`TlsConfig::client_certificate`].
    ClientCertificate,
    /// [`TlsConfig::client_key`].
    ClientKey,
}

impl PemItem {
    fn describe(self) -> &'static str {
        match self {
            PemItem::CaCertificate => "CA certificate",
            PemItem::ClientCertificate => "client certificate",
            PemItem::ClientKey => "client key",
        }
    }
}

/// The kinds of [`TlsConfigError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsConfigErrorKind {
    /// The file could not be opened or read.
    Unreadable,
    /// The file is larger than the 4 MiB read at most.
    TooLarge,
    /// No PEM section of the expected kind (a certificate, or a private key) was found.
    NotFound,
    /// A PEM section is malformed (bad base64, an unterminated section).
    InvalidPem,
    /// A CA certificate could not be used as a trust root.
    InvalidCertificate,
    /// A client certificate was given without its key.
    MissingClientKey,
    /// A client key was given without its certificate.
    MissingClientCertificate,
    /// rustls refused the client identity (a key type it cannot sign with, or a key that
    /// does not match the certificate).
    InvalidClientIdentity,
    /// The crypto provider supports none of the TLS versions; not expected with ring.
    Provider,
}

/// Why the TLS settings could not be used: which setting, from where (the environment
/// variable and the path, when it was a file), and what was wrong.
#[derive(Debug)]
pub struct TlsConfigError {
    item: PemItem,
    kind: TlsConfigErrorKind,
    path: Option<PathBuf>,
    variable: Option<String>,
    source: Option<Cause>,
}

/// The error underneath a [`TlsConfigError`].
#[derive(Debug)]
enum Cause {
    Io(io::Error),
    Pem(pem::Error),
    Rustls(rustls::Error),
}

impl TlsConfigError {
    fn new(item: PemItem, kind: TlsConfigErrorKind, source: Option<Cause>) -> Self {
        TlsConfigError {
            item,
            kind,
            path: None,
            variable: None,
            source,
        }
    }

    /// Names the file (and variable) the setting came from.
    fn naming(mut self, source: &PemSource) -> Self {
        if let PemSource::File { path, variable } = source {
            self.path = Some(path.clone());
            self.variable.clone_from(variable);
        }
        self
    }

    /// What was wrong.
    pub fn kind(&self) -> TlsConfigErrorKind {
        self.kind
    }

    /// Which setting it is about.
    pub fn item(&self) -> PemItem {
        self.item
    }

    /// The file the setting was read from; `None` for PEM text given in code.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The environment variable that named the file, e.g.
    /// `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE`; `None` when it was set in code.
    pub fn variable(&self) -> Option<&str> {
        self.variable.as_deref()
    }
}

impl fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let item = self.item.describe();
        if self.kind == TlsConfigErrorKind::Provider {
            f.write_str("the ring crypto provider refused the default TLS versions")?;
            if let Some(Cause::Rustls(error)) = &self.source {
                write!(f, ": {error}")?;
            }
            return Ok(());
        }
        match (&self.variable, &self.path) {
            (Some(variable), Some(path)) => write!(f, "{variable}={}", path.display())?,
            (None, Some(path)) => write!(f, "{item} file {}", path.display())?,
            _ => write!(f, "{item}")?,
        }
        let what = match self.kind {
            TlsConfigErrorKind::Unreadable => "cannot be read",
            TlsConfigErrorKind::TooLarge => "is over the 4 MiB a PEM file may have",
            TlsConfigErrorKind::NotFound => match self.item {
                PemItem::ClientKey => "holds no PEM private key",
                _ => "holds no PEM certificate",
            },
            TlsConfigErrorKind::InvalidPem => "is not valid PEM",
            TlsConfigErrorKind::InvalidCertificate => "is not a usable CA certificate",
            TlsConfigErrorKind::MissingClientKey => "is set without a client key",
            TlsConfigErrorKind::MissingClientCertificate => "is set without a client certificate",
            TlsConfigErrorKind::InvalidClientIdentity => {
                "and the client certificate are refused by TLS"
            }
            TlsConfigErrorKind::Provider => "",
        };
        write!(f, " {what}")?;
        match &self.source {
            Some(Cause::Io(error)) => write!(f, ": {error}"),
            Some(Cause::Pem(error)) => write!(f, ": {error}"),
            Some(Cause::Rustls(error)) => write!(f, ": {error}"),
            None => Ok(()),
        }
    }
}

impl StdError for TlsConfigError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.source {
            Some(Cause::Io(error)) => Some(error),
            Some(Cause::Pem(error)) => Some(error),
            Some(Cause::Rustls(error)) => Some(error),
            None => None,
        }
    }
}

/// The provider every exporter's `ClientConfig` is built with, whatever the process default.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The system's trust roots, loaded once per process: a directory of a few hundred files
/// is parsed, and every exporter of every signal would otherwise parse it again.
fn native_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        if !loaded.errors.is_empty() {
            diagnostic::report(
                "otlp exporter",
                format_args!(
                    "some system trust roots could not be loaded ({} errors, the first: {}); \
                     using the {} that could",
                    loaded.errors.len(),
                    loaded.errors[0],
                    loaded.certs.len()
                ),
            );
        }
        loaded.certs
    })
}

/// The bytes of `source`, a file read up to [`MAX_PEM_FILE`].
fn read(item: PemItem, source: &PemSource) -> Result<Vec<u8>, TlsConfigError> {
    let path = match source {
        PemSource::Pem(bytes) => return Ok(bytes.clone()),
        PemSource::File { path, .. } => path,
    };
    let fail = |kind, cause| TlsConfigError::new(item, kind, cause).naming(source);
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|file| file.take(MAX_PEM_FILE + 1).read_to_end(&mut bytes))
        .map_err(|error| fail(TlsConfigErrorKind::Unreadable, Some(Cause::Io(error))))?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(fail(TlsConfigErrorKind::TooLarge, None));
    }
    Ok(bytes)
}

/// Every certificate in `source`, at least one.
fn certificates(
    item: PemItem,
    source: &PemSource,
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let bytes = read(item, source)?;
    let fail = |kind, cause| TlsConfigError::new(item, kind, cause).naming(source);
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| fail(TlsConfigErrorKind::InvalidPem, Some(Cause::Pem(error))))?;
    if certificates.is_empty() {
        return Err(fail(TlsConfigErrorKind::NotFound, None));
    }
    Ok(certificates)
}

/// The first private key in `source`.
fn private_key(source: &PemSource) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    let item = PemItem::ClientKey;
    let bytes = read(item, source)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|error| {
        let kind = match error {
            pem::Error::NoItemsFound => TlsConfigErrorKind::NotFound,
            _ => TlsConfigErrorKind::InvalidPem,
        };
        let cause = (kind == TlsConfigErrorKind::InvalidPem).then_some(Cause::Pem(error));
        TlsConfigError::new(item, kind, cause).naming(source)
    })
}

impl TlsConfig {
    /// Reads and checks the settings and builds the rustls configuration an `https`
    /// connection uses: the system's roots plus [`ca_certificate`](TlsConfig::ca_certificate),
    /// and the client identity if one is set. ALPN is left empty for the connector to fill.
    pub(crate) fn client_config(&self) -> Result<ClientConfig, TlsConfigError> {
        let mut roots = RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(native_roots().iter().cloned());
        if let Some(source) = &self.ca_certificate {
            for certificate in certificates(PemItem::CaCertificate, source)? {
                roots.add(certificate).map_err(|error| {
                    TlsConfigError::new(
                        PemItem::CaCertificate,
                        TlsConfigErrorKind::InvalidCertificate,
                        Some(Cause::Rustls(error)),
                    )
                    .naming(source)
                })?;
            }
        } else if added == 0 {
            diagnostic::report(
                "otlp exporter",
                format_args!(
                    "no system trust roots were found and no CA certificate is configured \
                     (OTEL_EXPORTER_OTLP_CERTIFICATE); every https connection will fail"
                ),
            );
        }

        let builder = builder()?.with_root_certificates(roots);
        match (&self.client_certificate, &self.client_key) {
            (None, None) => Ok(builder.with_no_client_auth()),
            (Some(certificate), None) => Err(TlsConfigError::new(
                PemItem::ClientCertificate,
                TlsConfigErrorKind::MissingClientKey,
                None,
            )
            .naming(certificate)),
            (None, Some(key)) => Err(TlsConfigError::new(
                PemItem::ClientKey,
                TlsConfigErrorKind::MissingClientCertificate,
                None,
            )
            .naming(key)),
            (Some(certificate), Some(key)) => {
                let chain = certificates(PemItem::ClientCertificate, certificate)?;
                let private = private_key(key)?;
                builder
                    .with_client_auth_cert(chain, private)
                    .map_err(|error| {
                        TlsConfigError::new(
                            PemItem::ClientKey,
                            TlsConfigErrorKind::InvalidClientIdentity,
                            Some(Cause::Rustls(error)),
                        )
                        .naming(key)
                    })
            }
        }
    }
}

/// A configuration for a TLS layer that is never used (the `http` case of a connector that
/// must have one): no roots, so nothing is loaded.
pub(crate) fn unused_client_config() -> Result<ClientConfig, TlsConfigError> {
    Ok(builder()?
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth())
}

/// A `ClientConfig` builder on [`provider`] with rustls's default protocol versions.
fn builder() -> Result<ConfigBuilder<ClientConfig, WantsVerifier>, TlsConfigError> {
    // ring supports both default versions (TLS 1.2 and 1.3), so this does not fail; the
    // error is mapped rather than unwrapped all the same.
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| {
            TlsConfigError::new(
                PemItem::CaCertificate,
                TlsConfigErrorKind::Provider,
                Some(Cause::Rustls(error)),
            )
        })
}

/// The rustls error somewhere in `error`'s chain, if the failure was TLS's. An `io::Error`
/// hides the error it wraps from `source()` (it returns the wrapped error's source), so the
/// walk steps into its payload with `get_ref` instead.
pub(crate) fn tls_failure<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(error);
    // Bounded: a cyclic chain (which no library should build) must not hang the exporter.
    for _ in 0..32 {
        let current = next?;
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match current
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
        {
            Some(inner) => Some(inner),
            None => current.source(),
        };
    }
    None
}

/// The last TLS error read or written on any connection of one exporter.
///
/// Needed because a TLS 1.3 server checks the client's certificate after the client has
/// finished its side of the handshake: the refusal (a `certificate_required` alert) arrives
/// on the first read, and over HTTP/2 hyper reports only that the connection closed. The
/// stream wrapper [`Recording`] puts on every connection keeps the TLS error here, where the
/// failed attempt finds it.
#[derive(Clone, Debug, Default)]
pub(crate) struct FailureSlot(Arc<Mutex<Option<rustls::Error>>>);

impl FailureSlot {
    fn record(&self, error: &io::Error) {
        if let Some(tls) = tls_failure(error) {
            *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(tls.clone());
        }
    }

    /// The error recorded since the last call, if any.
    pub(crate) fn take(&self) -> Option<rustls::Error> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// A connector whose connections record their TLS errors in a [`FailureSlot`].
#[derive(Clone, Debug)]
pub(crate) struct Recording<C> {
    inner: C,
    slot: FailureSlot,
}

impl<C> Recording<C> {
    pub(crate) fn new(inner: C, slot: FailureSlot) -> Self {
        Recording { inner, slot }
    }
}

impl<C> Service<Uri> for Recording<C>
where
    C: Service<Uri>,
    C::Future: Send + 'static,
{
    type Response = RecordingStream<C::Response>;
    type Error = C::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, C::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), C::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let slot = self.slot.clone();
        Box::pin(async move {
            connecting
                .await
                .map(|stream| RecordingStream { stream, slot })
        })
    }
}

/// A connection of [`Recording`]: the stream, and where its TLS errors go.
#[derive(Debug)]
pub(crate) struct RecordingStream<T> {
    stream: T,
    slot: FailureSlot,
}

impl<T> RecordingStream<T> {
    fn note<R>(&self, result: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if let Poll::Ready(Err(error)) = &result {
            self.slot.record(error);
        }
        result
    }
}

impl<T: RtRead + Unpin> RtRead for RecordingStream<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_read(cx, buf);
        this.note(result)
    }
}

impl<T: RtWrite + Unpin> RtWrite for RecordingStream<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.note(result)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.note(result)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_flush(cx);
        this.note(result)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_shutdown(cx);
        this.note(result)
    }
}

impl<T: Connection> Connection for RecordingStream<T> {
    fn connected(&self) -> Connected {
        self.stream.connected()
    }
}

/// Whether a TLS failure will happen again on the next attempt: a certificate the client
/// does not trust, a name that does not match, a server refusing our certificate (or its
/// absence), or no protocol in common are configuration problems that retrying cannot fix,
/// so the export fails at once instead of retrying until its deadline. Other TLS errors (a
/// corrupted record, an unexpected message) may come from a broken connection and are
/// retried.
pub(crate) fn is_permanent(error: &rustls::Error) -> bool {
    matches!(
        error,
        rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::AlertReceived(_)
            | rustls::Error::PeerIncompatible(_)
            | rustls::Error::UnsupportedNameType
    )
}

/// The words an export error gives a TLS failure with `endpoint`.
pub(crate) fn describe_failure(endpoint: &str, error: &rustls::Error) -> String {
    format!("TLS with {endpoint} failed: {error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, variable: &str) -> PemSource {
        PemSource::File {
            path: PathBuf::from(path),
            variable: Some(variable.to_owned()),
        }
    }

    #[test]
    fn bad_sources_are_typed_errors_naming_variable_and_path() {
        let dir = std::env::temp_dir().join(format!("telemetry-otlp-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let garbage = dir.join("garbage.pem");
        std::fs::write(&garbage, "not pem at all\n").expect("write");
        let broken = dir.join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let garbage = garbage.to_string_lossy().into_owned();
        let broken = broken.to_string_lossy().into_owned();

        let cases: &[(&str, TlsConfig, PemItem, TlsConfigErrorKind)] = &[
            (
                "missing file",
                TlsConfig {
                    ca_certificate: Some(file(
                        "/nonexistent/ca.pem",
                        "OTEL_EXPORTER_OTLP_CERTIFICATE",
                    )),
                    ..TlsConfig::default()
                },
                PemItem::CaCertificate,
                TlsConfigErrorKind::Unreadable,
            ),
            (
                "no certificate in the file",
                TlsConfig {
                    ca_certificate: Some(file(&garbage, "OTEL_EXPORTER_OTLP_CERTIFICATE")),
                    ..TlsConfig::default()
                },
                PemItem::CaCertificate,
                TlsConfigErrorKind::NotFound,
            ),
            (
                "broken base64",
                TlsConfig {
                    ca_certificate: Some(file(&broken, "OTEL_EXPORTER_OTLP_CERTIFICATE")),
                    ..TlsConfig::default()
                },
                PemItem::CaCertificate,
                TlsConfigErrorKind::InvalidPem,
            ),
            (
                "a directory",
                TlsConfig {
                    ca_certificate: Some(file(
                        &dir.to_string_lossy(),
                        "OTEL_EXPORTER_OTLP_CERTIFICATE",
                    )),
                    ..TlsConfig::default()
                },
                PemItem::CaCertificate,
                TlsConfigErrorKind::Unreadable,
            ),
            (
                "certificate without key",
                TlsConfig {
                    client_certificate: Some(file(
                        &garbage,
                        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                    )),
                    ..TlsConfig::default()
                },
                PemItem::ClientCertificate,
                TlsConfigErrorKind::MissingClientKey,
            ),
            (
                "key without certificate",
                TlsConfig {
                    client_key: Some(PemSource::Pem(b"x".to_vec())),
                    ..TlsConfig::default()
                },
                PemItem::ClientKey,
                TlsConfigErrorKind::MissingClientCertificate,
            ),
        ];
        for (name, config, item, kind) in cases {
            let error = config.client_config().expect_err(name);
            assert_eq!(
                (error.item(), error.kind()),
                (*item, *kind),
                "{name}: {error}"
            );
        }

        let error = cases[0].1.client_config().expect_err("missing");
        assert_eq!(error.variable(), Some("OTEL_EXPORTER_OTLP_CERTIFICATE"));
        assert_eq!(error.path(), Some(Path::new("/nonexistent/ca.pem")));
        let text = error.to_string();
        assert!(
            text.starts_with("OTEL_EXPORTER_OTLP_CERTIFICATE=/nonexistent/ca.pem cannot be read: "),
            "{text}"
        );
        assert!(error.source().is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_pem_section_that_is_not_a_certificate_is_refused() {
        let config = TlsConfig {
            ca_certificate: Some(PemSource::Pem(
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(),
            )),
            ..TlsConfig::default()
        };
        let error = config.client_config().expect_err("three zero bytes");
        assert_eq!(
            error.kind(),
            TlsConfigErrorKind::InvalidCertificate,
            "{error}"
        );
    }

    #[test]
    fn inline_pem_errors_say_code() {
        let config = TlsConfig {
            ca_certificate: Some(PemSource::Pem(b"hello".to_vec())),
            ..TlsConfig::default()
        };
        let error = config.client_config().expect_err("no certificate");
        assert_eq!(error.to_string(), "CA certificate holds no PEM certificate");
        assert_eq!((error.path(), error.variable()), (None, None));
        let code = PemSource::file("/x.pem");
        assert_eq!(
            TlsConfigError::new(PemItem::ClientKey, TlsConfigErrorKind::NotFound, None)
                .naming(&code)
                .to_string(),
            "client key file /x.pem holds no PEM private key"
        );
    }

    #[test]
    fn debug_hides_inline_pem() {
        let key = PemSource::Pem(b"-----BEGIN PRIVATE KEY-----secret".to_vec());
        assert_eq!(format!("{key:?}"), "Pem(33 bytes)");
    }

    #[test]
    fn tls_errors_are_found_inside_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = io::Error::new(io::ErrorKind::InvalidData, tls);
        let outer: Box<dyn StdError + Send + Sync> = Box::new(io);
        let found = tls_failure(outer.as_ref()).expect("found");
        assert!(is_permanent(found));
        let plain = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        assert!(tls_failure(&plain).is_none());
        assert!(!is_permanent(&rustls::Error::DecryptError));
    }

    #[test]
    fn an_empty_config_builds() {
        let config = TlsConfig::default().client_config().expect("builds");
        assert!(config.alpn_protocols.is_empty(), "the connector sets ALPN");
    }
}
