//! The bridge from `tracing`: a layer that turns tracing spans into our spans.
//!
//! Three decisions shape it.
//!
//! - **Parents.** A tracing span's parent is decided when it is created: an explicit root
//!   starts a new trace; an explicit parent is used when this layer bridged it; a contextual
//!   span takes the current [`Context`] when it holds a valid span, which is what entering a
//!   bridged tracing span makes current, and also what entering one of our own spans makes
//!   current, so tracing spans nest under ours and ours under them. Only when no context is
//!   current does the bridged tracing parent stand in (its context was detached by something
//!   else, e.g. a future wrapper ending its poll).
//! - **The context to attach is built once**, when the span is created: the parent's context
//!   with the new span as active span. Entering attaches a clone of it, so a span entered on
//!   another thread (recursion through explicit parents) carries its own trace and baggage,
//!   not whatever that thread had.
//! - **Guards live in a thread-local stack**, not in the span: a [`ContextGuard`] is `!Send`
//!   and must be dropped on the thread that attached it, while a tracing span is shared and
//!   may be entered on several threads at once, or several times on one thread. tracing
//!   always exits a span on the thread that entered it, so `on_enter` pushes a guard on this
//!   thread's stack under (layer, span id) and `on_exit` removes the newest guard with that
//!   key. [`ContextGuard`] restores by position, so guards removed out of order are fine.
//!
//! The layer never holds the registry's extension lock while it calls code that could emit
//! tracing events (user `Debug` impls, processors, exporters): that event's layers would
//! look the span up again and deadlock. And while it calls into the pipeline, tracing spans
//! created on the same thread (an exporter instrumented with `tracing`, say) are not
//! bridged, so exporting a span can never create spans to export, forever.

use std::cell::{Cell, RefCell};
use std::error::Error as StdError;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use telemetry_context::{BridgedContext, Context, ContextGuard, SpanContext};
use telemetry_core::{KeyValue, StringValue, Value};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{LevelFilter, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::span::{Span, SpanRef, span_of_context};
use crate::span_data::{SpanKind, Status};
use crate::tracer::Tracer;

/// The field whose value names the span instead of the tracing span's name.
const OTEL_NAME: &str = "otel.name";
/// The field whose value (`server`, `client`, `producer`, `consumer`, `internal`) is the kind.
const OTEL_KIND: &str = "otel.kind";
/// The field whose value (`ok`, `error`, `unset`) is the status code.
const OTEL_STATUS_CODE: &str = "otel.status_code";
/// The field whose value describes an error status.
const OTEL_STATUS_MESSAGE: &str = "otel.status_message";
/// The field that marks the span failed, with its value as the description.
const ERROR: &str = "error";

/// Source of [`TracingSpanLayer::id`]s. Writers: every `TracingSpanLayer::new`; no readers
/// besides them; counts up from 1 and would need 2^64 layers to wrap. Relaxed: only
/// uniqueness matters, which `fetch_add` gives in any ordering.
static NEXT_LAYER_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The contexts this thread attached for entered tracing spans, oldest first.
    static ENTERED: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
    /// True while a layer on this thread is calling into the span pipeline.
    static IN_PIPELINE: Cell<bool> = const { Cell::new(false) };
}

/// A [`tracing_subscriber::Layer`] that turns every tracing span into one of our [`Span`]s,
/// started by a fixed [`Tracer`] ([`TracingSpanLayer::new`]) or by the process-wide provider
/// installed at the time each span starts ([`TracingSpanLayer::global`]).
///
/// - **Name**: the tracing span's name, or the value of an `otel.name` field.
/// - **Parent**: see below; the same tree as calling the tracer directly.
/// - **Kind**: [`SpanKind::Internal`], or the value of an `otel.kind` field (`server`,
///   `client`, `producer`, `consumer`, `internal`, in any case) given when the span is
///   created; a kind recorded later is ignored, as the sampler has already seen the span.
/// - **Attributes**: every other field under its own name, given at start (so the sampler
///   sees them) or recorded later. Integers, floats, booleans, strings and bytes keep their
///   type; unsigned and 128-bit integers beyond `i64` become strings, as do `Debug`,
///   `Display` and error values.
/// - **Status**: ERROR when a field named `error` is recorded (its value is the
///   description; `error = false` does nothing) or a field is recorded with a
///   `&dyn Error` value (its message is the description). `otel.status_code` (`ok`,
///   `error`, `unset`) and `otel.status_message` set it explicitly, and win over `error`.
/// - **Links**: `span.follows_from(other)` adds a link to `other`'s span.
/// - **End**: when the tracing span closes (its last handle is dropped).
///
/// While a tracing span is entered on a thread, its span's context is that thread's current
/// [`Context`]: records emitted inside it (by `telemetry-logs`' tracing layer, say) carry its
/// ids, and spans started inside it, tracing's or ours, are its children. That includes
/// async code, since [`tracing::Instrument`](https://docs.rs/tracing) enters the span around
/// every poll. That context is also stored in the tracing span's extensions as a
/// [`BridgedContext`], for layers that look ids up there (`telemetry-logs`' layer does, for
/// an event whose explicit parent is not entered).
///
/// A tracing span whose span the sampler drops costs its ids, its context and the fields
/// seen by the sampler; nothing is recorded or exported for it, and its children follow its
/// decision.
///
/// Tracing spans opened on a thread while this layer is calling into the span pipeline
/// (starting or ending a span, which runs the processors, and a simple processor's
/// exporter) are not bridged, so an exporter instrumented with `tracing` cannot feed its
/// own spans back into the pipeline on that thread.
///
/// Two options leave more spans out: [`with_max_level`](Self::with_max_level) skips spans
/// more verbose than a level, and [`with_skip_when`](Self::with_skip_when) skips spans
/// opened while a predicate holds on the creating thread (the `telemetry` facade passes
/// `telemetry_logs::is_suppressed`, true on threads that export). A span left out is
/// transparent: spans inside it nest under the nearest bridged span or the current context.
///
/// # Example
///
/// ```
/// use telemetry_span::{InMemorySpanExporter, TracerProvider, TracingSpanLayer};
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let exporter = InMemorySpanExporter::new();
/// let provider = TracerProvider::builder().with_simple_exporter(exporter.clone()).build();
/// let subscriber =
///     tracing_subscriber::registry().with(TracingSpanLayer::new(provider.tracer("my-app")));
///
/// tracing::subscriber::with_default(subscriber, || {
///     let _request = tracing::info_span!("request", otel.kind = "server").entered();
///     let _query = tracing::info_span!("query", rows = 3).entered();
/// });
///
/// let spans = exporter.finished_spans();
/// let (query, request) = (&spans[0], &spans[1]);
/// assert_eq!(query.parent_span_id, request.span_context.span_id());
/// assert_eq!(query.attributes[0].key, "rows");
/// provider.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TracingSpanLayer {
    source: Source,
    /// Tells this layer's entries on the thread-local stack from another layer's: span ids
    /// are unique only within one subscriber, and a thread may use several.
    id: u64,
    /// Spans more verbose than this are not bridged.
    max_level: LevelFilter,
    /// Spans opened while this returns true on the creating thread are not bridged.
    skip_when: Option<fn() -> bool>,
}

/// Where a [`TracingSpanLayer`] gets its tracer.
enum Source {
    /// One tracer, for the layer's whole life.
    Fixed(Tracer),
    /// The tracer of this scope of whichever provider `crate::global` holds when a span
    /// starts, through its per-thread cache.
    Global(&'static str),
}

// What the layer keeps in a tracing span's extensions: one [`BridgedContext`], the parent's
// context with our span active. It is what entering attaches, and its handle is the only one
// to our span that the layer keeps: closing the tracing span ends ours through it (should
// the registry drop it without closing, the span ends when its last handle drops). A
// `StatusState` joins it only once a status field is recorded. One extension, not a struct
// of our own beside a `SpanContext` for the logs bridge: each extension is a boxed entry in
// a hash map, made and freed with every span.

/// An entered tracing span's context, attached on this thread.
struct Entered {
    layer: u64,
    span: u64,
    _guard: ContextGuard,
}

/// What status fields said so far, so that a message recorded apart from its code still
/// describes the error.
#[derive(Default)]
struct StatusState {
    is_error: bool,
    message: Option<StringValue>,
}

/// Status codes named by `otel.status_code`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum StatusCode {
    Unset,
    Ok,
    Error,
}

/// Fields of one `new_span` or `record`, sorted into what they mean for the span.
#[derive(Default)]
struct Fields {
    attributes: Vec<KeyValue>,
    name: Option<StringValue>,
    kind: Option<SpanKind>,
    code: Option<StatusCode>,
    message: Option<StringValue>,
    /// The description of an error field, if one was recorded.
    error: Option<StringValue>,
}

/// Resets [`IN_PIPELINE`] when dropped, also if the pipeline panics.
struct PipelineGuard {
    was: bool,
}

impl fmt::Debug for TracingSpanLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("TracingSpanLayer");
        match &self.source {
            Source::Fixed(tracer) => debug.field("tracer", tracer),
            Source::Global(scope) => debug.field("global_scope", scope),
        };
        debug
            .field("max_level", &self.max_level)
            .field("skip_when", &self.skip_when.is_some())
            .finish_non_exhaustive()
    }
}

impl TracingSpanLayer {
    /// The scope of the spans a [`global`](Self::global) layer starts.
    pub const GLOBAL_SCOPE: &'static str = "tracing";

    /// A layer starting spans with `tracer`.
    pub fn new(tracer: Tracer) -> Self {
        TracingSpanLayer::with_source(Source::Fixed(tracer))
    }

    /// A layer starting each span with the process-wide provider installed at that moment
    /// ([`crate::global`]), in the scope [`GLOBAL_SCOPE`](Self::GLOBAL_SCOPE).
    ///
    /// `tracing` allows one global subscriber per process, set once; a layer bound to one
    /// provider would go on feeding it after the program replaced or shut it down. This one
    /// follows [`global::set_tracer_provider`](crate::global::set_tracer_provider): while no
    /// provider is installed its spans are non-recording, cost little, and still carry
    /// context. Looking the tracer up goes through the global module's per-thread cache, so
    /// it costs one atomic load unless the provider changed.
    ///
    /// ```
    /// use telemetry_span::{InMemorySpanExporter, TracerProvider, TracingSpanLayer, global};
    /// use tracing_subscriber::layer::SubscriberExt;
    ///
    /// let subscriber = tracing_subscriber::registry().with(TracingSpanLayer::global());
    /// tracing::subscriber::with_default(subscriber, || {
    ///     let exporter = InMemorySpanExporter::new();
    ///     let provider = TracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    ///     let previous = global::set_tracer_provider(provider.clone());
    ///     drop(tracing::info_span!("recorded").entered());
    ///     match previous {
    ///         Some(previous) => global::set_tracer_provider(previous),
    ///         None => global::take_tracer_provider(),
    ///     };
    ///     drop(tracing::info_span!("after").entered());
    ///     assert_eq!(exporter.finished_spans().len(), 1);
    /// });
    /// ```
    pub fn global() -> Self {
        TracingSpanLayer::with_source(Source::Global(Self::GLOBAL_SCOPE))
    }

    fn with_source(source: Source) -> Self {
        TracingSpanLayer {
            source,
            id: NEXT_LAYER_ID.fetch_add(1, Ordering::Relaxed),
            max_level: LevelFilter::TRACE,
            skip_when: None,
        }
    }

    /// Leaves out spans more verbose than `level` (with `LevelFilter::INFO`, DEBUG and TRACE
    /// spans); they stay transparent. Every level is bridged by default.
    ///
    /// The libraries under an exporter (hyper, h2, tonic) open DEBUG and TRACE spans: a
    /// layer that sees the exporting threads should not bridge those. Unlike a per-layer
    /// `tracing_subscriber` filter, this keeps the layer's other callbacks cheap and the
    /// span transparent rather than invisible to the layer's parent lookups.
    pub fn with_max_level(mut self, level: impl Into<LevelFilter>) -> Self {
        self.max_level = level.into();
        self
    }

    /// Leaves out spans opened while `skip` returns true on the creating thread; they stay
    /// transparent. For a process-wide flag that the pipeline sets around its own work, such
    /// as `telemetry_logs::is_suppressed`, so export threads never feed spans back in.
    pub fn with_skip_when(mut self, skip: fn() -> bool) -> Self {
        self.skip_when = Some(skip);
        self
    }

    /// The tracer spans are started with, for a layer made by [`new`](Self::new); `None`
    /// for a [`global`](Self::global) one, whose tracer changes with the installed provider.
    pub fn tracer(&self) -> Option<&Tracer> {
        match &self.source {
            Source::Fixed(tracer) => Some(tracer),
            Source::Global(_) => None,
        }
    }

    /// Whether a span with this metadata is left out by the options.
    fn skips(&self, metadata: &tracing_core::Metadata<'_>) -> bool {
        *metadata.level() > self.max_level || self.skip_when.is_some_and(|skip| skip())
    }

    /// Starts the span `builder` describes with this layer's tracer.
    fn start(&self, build: impl FnOnce(&Tracer) -> Span) -> Span {
        match &self.source {
            Source::Fixed(tracer) => build(tracer),
            Source::Global(scope) => crate::global::with_tracer(scope, build),
        }
    }
}

impl<S> Layer<S> for TracingSpanLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        if in_pipeline() || self.skips(attrs.metadata()) {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        let parent_cx = if attrs.is_root() {
            Context::new()
        } else {
            let bridged_parent = || {
                span.parent().and_then(|parent| {
                    parent
                        .extensions()
                        .get::<BridgedContext>()
                        .map(|bridged| bridged.0.clone())
                })
            };
            if attrs.is_contextual() {
                let current = Context::current();
                if current.span_context().is_some_and(SpanContext::is_valid) {
                    current
                } else {
                    bridged_parent().unwrap_or(current)
                }
            } else {
                bridged_parent().unwrap_or_else(Context::current)
            }
        };

        let mut fields = Fields::for_new_span(attrs.fields().len());
        attrs.record(&mut fields);
        let metadata = attrs.metadata();
        let name = fields
            .name
            .take()
            .unwrap_or_else(|| StringValue::from_static(metadata.name()));
        let kind = fields.kind.unwrap_or_default();
        let attributes = std::mem::take(&mut fields.attributes);
        let parent = parent_cx.clone();
        let our_span =
            pipeline(|| self.start(|tracer| tracer.start_bridged(name, kind, attributes, parent)));
        // Just started, so it records exactly when the sampler made it a recording span.
        let recording = our_span.has_recording_handle();
        let mut status = None;
        if recording && fields.has_status() {
            let mut state = StatusState::default();
            if let Some(update) = state.update(&fields) {
                our_span.set_status(update);
            }
            status = Some(state);
        }
        let cx = our_span.context_with(&parent_cx);
        // From here the handle in `cx` is the span's only one; closing the tracing span ends
        // the span through it.
        drop(our_span.into_handle());

        let mut extensions = span.extensions_mut();
        // `replace`, not `insert`: another layer may have stored one already, and `insert`
        // would panic.
        let previous = extensions.replace(BridgedContext(cx));
        if let Some(status) = status {
            extensions.replace(status);
        }
        drop(extensions);
        // Never happens with one layer per subscriber; if it does, the old span still ends.
        if let Some(previous) = previous {
            pipeline(|| end_bridged(&previous));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let Some(handle) = recording_handle_of(&span) else {
            return;
        };
        let mut fields = Fields {
            attributes: Vec::with_capacity(values.len()),
            ..Fields::default()
        };
        values.record(&mut fields);
        let status = if fields.has_status() {
            let mut extensions = span.extensions_mut();
            match extensions.get_mut::<StatusState>() {
                Some(state) => state.update(&fields),
                None => {
                    let mut state = StatusState::default();
                    let update = state.update(&fields);
                    extensions.insert(state);
                    update
                }
            }
        } else {
            None
        };
        if let Some(name) = fields.name.take() {
            handle.update_name(name);
        }
        if !fields.attributes.is_empty() {
            handle.set_attributes(fields.attributes);
        }
        if let Some(status) = status {
            handle.set_status(status);
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: LayerContext<'_, S>) {
        let (Some(span), Some(follows)) = (ctx.span(id), ctx.span(follows)) else {
            return;
        };
        let Some(target) = follows
            .extensions()
            .get::<BridgedContext>()
            .and_then(|bridged| bridged.span_context().cloned())
        else {
            return;
        };
        let Some(handle) = recording_handle_of(&span) else {
            return;
        };
        handle.add_link(target, Vec::new());
    }

    fn on_enter(&self, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(cx) = ctx.span(id).and_then(|span| {
            span.extensions()
                .get::<BridgedContext>()
                .map(|bridged| bridged.0.clone())
        }) else {
            return;
        };
        let entered = Entered {
            layer: self.id,
            span: id.into_u64(),
            _guard: cx.attach(),
        };
        // If the stack is unavailable (thread teardown), `entered` drops here and detaches
        // at once: the span is simply not current.
        let _ = ENTERED.try_with(|stack| {
            if let Ok(mut stack) = stack.try_borrow_mut() {
                stack.push(entered);
            }
        });
    }

    fn on_exit(&self, id: &Id, _ctx: LayerContext<'_, S>) {
        let key = (self.id, id.into_u64());
        let entered = ENTERED
            .try_with(|stack| {
                let mut stack = stack.try_borrow_mut().ok()?;
                let position = stack
                    .iter()
                    .rposition(|entry| (entry.layer, entry.span) == key)?;
                Some(stack.remove(position))
            })
            .ok()
            .flatten();
        // Detaches outside the stack's borrow.
        drop(entered);
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let bridged = span.extensions_mut().remove::<BridgedContext>();
        if let Some(bridged) = bridged {
            // The processors run outside the extension lock.
            pipeline(|| end_bridged(&bridged));
        }
    }
}

/// Our span for the tracing span `span`, when it records.
fn recording_handle_of<'a, R: LookupSpan<'a>>(
    span: &tracing_subscriber::registry::SpanRef<'a, R>,
) -> Option<SpanRef> {
    span.extensions()
        .get::<BridgedContext>()
        .and_then(recording_handle)
}

/// Our span in `bridged`, when it records (a handle to change it through).
fn recording_handle(bridged: &BridgedContext) -> Option<SpanRef> {
    span_of_context(&bridged.0).filter(SpanRef::has_recording_handle)
}

/// Ends our span in `bridged` (nothing for a span that does not record).
fn end_bridged(bridged: &BridgedContext) {
    if let Some(span) = recording_handle(bridged) {
        span.end();
    }
}

impl Drop for PipelineGuard {
    fn drop(&mut self) {
        let was = self.was;
        let _ = IN_PIPELINE.try_with(|flag| flag.set(was));
    }
}

/// True while this thread is inside [`pipeline`].
fn in_pipeline() -> bool {
    IN_PIPELINE.try_with(Cell::get).unwrap_or(false)
}

/// Runs `f`, which calls into the span pipeline, with bridging off on this thread.
fn pipeline<R>(f: impl FnOnce() -> R) -> R {
    let was = IN_PIPELINE
        .try_with(|flag| flag.replace(true))
        .unwrap_or(false);
    let _guard = PipelineGuard { was };
    f()
}

impl StatusState {
    /// Folds the status fields of one record into the state; returns the status to set, if
    /// they call for one.
    fn update(&mut self, fields: &Fields) -> Option<Status> {
        if let Some(message) = &fields.message {
            self.message = Some(message.clone());
        }
        let error = match fields.code {
            Some(StatusCode::Ok) => return Some(Status::Ok),
            Some(StatusCode::Error) => true,
            Some(StatusCode::Unset) | None => fields.error.is_some(),
        };
        if error {
            self.is_error = true;
        } else if !(self.is_error && fields.message.is_some()) {
            return None;
        }
        let description = self
            .message
            .clone()
            .or_else(|| fields.error.clone())
            .unwrap_or(StringValue::from_static(""));
        Some(Status::error(description))
    }
}

impl Fields {
    /// Fields of a new span, with room for `capacity` attributes in a buffer from the export
    /// worker's returns when there is one (see `recycle`): it becomes the span's own. (Fields
    /// recorded later are copied into the span's buffer, so they take an ordinary `Vec`.)
    fn for_new_span(capacity: usize) -> Self {
        let attributes = if capacity == 0 {
            Vec::new()
        } else {
            crate::recycle::attribute_buffer(capacity)
        };
        Fields {
            attributes,
            ..Fields::default()
        }
    }

    fn has_status(&self) -> bool {
        self.code.is_some() || self.message.is_some() || self.error.is_some()
    }

    fn attribute(&mut self, field: &Field, value: Value) {
        self.attributes
            .push(KeyValue::new(StringValue::from_static(field.name()), value));
    }

    /// A string value, which may be one of the special fields.
    fn text(&mut self, field: &Field, text: StringValue) {
        match field.name() {
            OTEL_NAME => self.name = Some(text),
            OTEL_KIND => self.kind = parse_kind(&text),
            OTEL_STATUS_CODE => self.code = parse_code(&text),
            OTEL_STATUS_MESSAGE => self.message = Some(text),
            name => {
                if name == ERROR {
                    self.error = Some(text.clone());
                }
                self.attribute(field, Value::String(text));
            }
        }
    }

    fn integer(&mut self, field: &Field, value: Result<i64, String>) {
        let value = match value {
            Ok(value) => Value::I64(value),
            Err(text) => Value::from(text),
        };
        self.attribute(field, value);
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.attribute(field, Value::F64(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.attribute(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.integer(field, i64::try_from(value).map_err(|_| value.to_string()));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.integer(field, i64::try_from(value).map_err(|_| value.to_string()));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.integer(field, i64::try_from(value).map_err(|_| value.to_string()));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == ERROR && value {
            self.error = Some(StringValue::from_static(""));
        }
        self.attribute(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, StringValue::from(value.to_owned()));
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.attribute(field, Value::Bytes(value.to_vec()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn StdError + 'static)) {
        let message = StringValue::from(value.to_string());
        self.error = Some(message.clone());
        self.attribute(field, Value::String(message));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` arrives here too, wrapped so that its `Debug` is its `Display`.
        self.text(field, StringValue::from(format!("{value:?}")));
    }
}

fn parse_kind(text: &str) -> Option<SpanKind> {
    [
        ("internal", SpanKind::Internal),
        ("server", SpanKind::Server),
        ("client", SpanKind::Client),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
    ]
    .into_iter()
    .find(|(name, _)| name.eq_ignore_ascii_case(text))
    .map(|(_, kind)| kind)
}

fn parse_code(text: &str) -> Option<StatusCode> {
    [
        ("unset", StatusCode::Unset),
        ("ok", StatusCode::Ok),
        ("error", StatusCode::Error),
    ]
    .into_iter()
    .find(|(name, _)| name.eq_ignore_ascii_case(text))
    .map(|(_, code)| code)
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use telemetry_core::{KeyValue, SpanId, Value};
    use tracing::Dispatch;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::exporter::{InMemorySpanExporter, SpanExporter};
    use crate::provider::TracerProvider;
    use crate::sampler::Sampler;
    use crate::span::SpanRef;
    use crate::span_data::SpanData;

    struct Pipeline {
        provider: TracerProvider,
        exporter: InMemorySpanExporter,
        dispatch: Dispatch,
    }

    fn pipeline_with(sampler: Sampler) -> Pipeline {
        let exporter = InMemorySpanExporter::new();
        let provider = TracerProvider::builder()
            .with_sampler(sampler)
            .with_simple_exporter(exporter.clone())
            .build();
        let layer = TracingSpanLayer::new(provider.tracer("bridge-test"));
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
        Pipeline {
            provider,
            exporter,
            dispatch,
        }
    }

    fn pipeline() -> Pipeline {
        pipeline_with(Sampler::AlwaysOn)
    }

    fn by_name<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
        spans
            .iter()
            .find(|span| span.name == name)
            .unwrap_or_else(|| panic!("no span named {name} in {spans:#?}"))
    }

    fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
        span.attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| &kv.value)
    }

    /// The tree as indented names, children in start order; also checks that every span of
    /// a tree shares its root's trace id.
    fn render(spans: &[SpanData]) -> String {
        fn walk(spans: &[SpanData], parent: SpanId, depth: usize, out: &mut String) {
            let mut children: Vec<&SpanData> = spans
                .iter()
                .filter(|span| span.parent_span_id == parent)
                .collect();
            children.sort_by(|a, b| (a.start_time, &a.name).cmp(&(b.start_time, &b.name)));
            for child in children {
                out.push_str(&"  ".repeat(depth));
                out.push_str(&child.name);
                out.push('\n');
                let below = spans
                    .iter()
                    .filter(|span| span.parent_span_id == child.span_context.span_id());
                for span in below {
                    assert_eq!(
                        span.span_context.trace_id(),
                        child.span_context.trace_id(),
                        "{} is in its parent's trace",
                        span.name
                    );
                }
                walk(spans, child.span_context.span_id(), depth + 1, out);
            }
        }
        let mut out = String::new();
        walk(spans, SpanId::INVALID, 0, &mut out);
        out
    }

    const TREE: &str = "root\n  a\n    b\n  c\n    d\n";

    #[test]
    fn nested_tracing_spans_build_the_same_tree_as_the_tracer() {
        let p = pipeline();
        tracing::dispatcher::with_default(&p.dispatch, || {
            let root = tracing::info_span!("root");
            let _root = root.enter();
            {
                let a = tracing::info_span!("a");
                let _a = a.enter();
                let _b = tracing::info_span!("b").entered();
            }
            tracing::info_span!("c").in_scope(|| {
                let _d = tracing::info_span!("d").entered();
            });
        });
        let bridged = p.exporter.finished_spans();

        let (direct_provider, direct_exporter) = {
            let exporter = InMemorySpanExporter::new();
            let provider = TracerProvider::builder()
                .with_sampler(Sampler::AlwaysOn)
                .with_simple_exporter(exporter.clone())
                .build();
            (provider, exporter)
        };
        let tracer = direct_provider.tracer("direct");
        tracer.in_span("root", |_| {
            tracer.in_span("a", |_| tracer.in_span("b", |_| {}));
            tracer.in_span("c", |_| tracer.in_span("d", |_| {}));
        });
        let direct = direct_exporter.finished_spans();

        assert_eq!(render(&bridged), TREE);
        assert_eq!(render(&direct), render(&bridged));
        let names =
            |spans: &[SpanData]| spans.iter().map(|s| s.name.to_string()).collect::<Vec<_>>();
        assert_eq!(
            names(&bridged),
            names(&direct),
            "spans end in the same order"
        );
        for span in &bridged {
            assert!(
                span.end_time >= span.start_time,
                "{} ended after it started",
                span.name
            );
            assert_eq!(span.scope.name(), "bridge-test");
            assert_eq!(span.kind, SpanKind::Internal);
            assert_eq!(span.status, Status::Unset);
        }
        assert_eq!(
            Context::current_span_context(),
            None,
            "nothing stays attached"
        );
        p.provider.shutdown().expect("shutdown");
    }

    #[test]
    fn an_entered_tracing_span_is_the_current_context_until_it_exits() {
        let p = pipeline();
        tracing::dispatcher::with_default(&p.dispatch, || {
            let span = tracing::info_span!("outer");
            assert_eq!(
                Context::current_span_context(),
                None,
                "created, not entered"
            );
            let entered = span.enter();
            let current = SpanRef::current().expect("a current span");
            assert!(current.is_recording(), "the handle reaches our span");
            current.set_attribute(KeyValue::new("set.through", "SpanRef::current"));
            drop(entered);
            assert_eq!(Context::current_span_context(), None, "exit detaches");
        });
        let spans = p.exporter.finished_spans();
        assert_eq!(
            attribute(&spans[0], "set.through").and_then(Value::as_str),
            Some("SpanRef::current")
        );
    }

    #[test]
    fn entering_one_span_twice_on_a_thread_restores_in_either_order() {
        let p = pipeline();
        tracing::dispatcher::with_default(&p.dispatch, || {
            let a = tracing::info_span!("a");
            let b = tracing::info_span!("b");
            let current = || Context::current_span_context().map(|sc| sc.span_id());
            let first = a.enter();
            let a_span = current();
            let second = a.enter();
            assert_eq!(current(), a_span);
            let inner = b.enter();
            let b_span = current();
            assert_ne!(b_span, a_span);
            drop(second);
            assert_eq!(current(), b_span, "the newest entry stays current");
            drop(inner);
            assert_eq!(current(), a_span, "the first entry of a is still there");
            drop(first);
            assert_eq!(current(), None);
        });
    }

    #[test]
    fn one_span_entered_on_two_threads_at_once_parents_both() {
        let p = pipeline();
        let barrier = Barrier::new(2);
        let parent =
            tracing::dispatcher::with_default(&p.dispatch, || tracing::info_span!("parent"));
        std::thread::scope(|scope| {
            for name in ["left", "right"] {
                let (parent, barrier, dispatch) = (&parent, &barrier, &p.dispatch);
                scope.spawn(move || {
                    tracing::dispatcher::with_default(dispatch, || {
                        let _entered = parent.enter();
                        // Both threads are inside the same span at the same time.
                        barrier.wait();
                        let _child = tracing::info_span!("child", side = name).entered();
                        barrier.wait();
                    });
                    assert_eq!(Context::current_span_context(), None, "{name} detached");
                });
            }
        });
        drop(parent);
        let spans = p.exporter.finished_spans();
        assert_eq!(spans.len(), 3);
        let parent = by_name(&spans, "parent");
        for child in spans.iter().filter(|s| s.name == "child") {
            assert_eq!(child.parent_span_id, parent.span_context.span_id());
            assert_eq!(
                child.span_context.trace_id(),
                parent.span_context.trace_id()
            );
        }
    }

    /// Each level opens a span under `parent` explicitly, on two new threads.
    fn recurse(dispatch: &Dispatch, parent: &tracing::Span, depth: u32) {
        if depth == 0 {
            return;
        }
        std::thread::scope(|scope| {
            for side in 0..2u32 {
                scope.spawn(move || {
                    tracing::dispatcher::with_default(dispatch, || {
                        let span = tracing::info_span!(parent: parent, "level", depth, side);
                        recurse(dispatch, &span, depth - 1);
                    });
                });
            }
        });
    }

    #[test]
    fn explicit_parents_carry_the_tree_across_threads() {
        let p = pipeline();
        tracing::dispatcher::with_default(&p.dispatch, || {
            let root = tracing::info_span!("root");
            recurse(&p.dispatch, &root, 3);
        });
        let spans = p.exporter.finished_spans();
        assert_eq!(spans.len(), 1 + 2 + 4 + 8);
        let root = by_name(&spans, "root");
        assert_eq!(root.parent_span_id, SpanId::INVALID);
        for span in spans.iter().filter(|s| s.name == "level") {
            let depth = attribute(span, "depth")
                .and_then(Value::as_i64)
                .expect("depth");
            let parent = spans
                .iter()
                .find(|p| p.span_context.span_id() == span.parent_span_id)
                .expect("the parent was exported");
            let parent_depth = attribute(parent, "depth")
                .and_then(Value::as_i64)
                .unwrap_or(4);
            assert_eq!(parent_depth, depth + 1, "each level is under the one above");
            assert_eq!(span.span_context.trace_id(), root.span_context.trace_id());
        }
        let leaf = "      level\n".repeat(2);
        let middle = format!("    level\n{leaf}").repeat(2);
        let top = format!("  level\n{middle}").repeat(2);
        assert_eq!(render(&spans), format!("root\n{top}"));
    }

    #[test]
    fn tracing_spans_and_our_spans_nest_under_each_other() {
        let p = pipeline();
        let tracer = p.provider.tracer("direct");
        tracing::dispatcher::with_default(&p.dispatch, || {
            tracer.in_span("ours outer", |_| {
                let _tracing = tracing::info_span!("tracing middle").entered();
                tracer.in_span("ours inner", |_| {
                    let _leaf = tracing::info_span!("tracing leaf").entered();
                });
            });
        });
        let spans = p.exporter.finished_spans();
        assert_eq!(
            render(&spans),
            "ours outer\n  tracing middle\n    ours inner\n      tracing leaf\n"
        );
    }

    #[test]
    fn an_explicit_root_starts_a_new_trace_even_inside_a_span() {
        let p = pipeline();
        tracing::dispatcher::with_default(&p.dispatch, || {
            let _outer = tracing::info_span!("outer").entered();
            let _root = tracing::info_span!(parent: None, "detached").entered();
            let _child = tracing::info_span!("child").entered();
        });
        let spans = p.exporter.finished_spans();
        let (outer, detached) = (by_name(&spans, "outer"), by_name(&spans, "detached"));
        assert_eq!(detached.parent_span_id, SpanId::INVALID);
        assert_ne!(
            detached.span_context.trace_id(),
            outer.span_context.trace_id()
        );
        assert_eq!(
            by_name(&spans, "child").parent_span_id,
            detached.span_context.span_id(),
            "the detached root is current while entered"
        );
    }

    #[derive(Debug)]
    struct Declined {
        source: std::io::Error,
    }

    impl fmt::Display for Declined {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("card declined")
        }
    }

    impl StdError for Declined {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.source)
        }
    }

    #[derive(Debug)]
    #[allow(dead_code, reason = "read through Debug only")]
    struct Order {
        id: u32,
    }

    #[test]
    fn fields_become_typed_attributes() {
        let p = pipeline();
        tracing::dispatcher::with_default(&p.dispatch, || {
            let _span = tracing::info_span!(
                "typed",
                signed = -3i64,
                small = 7u64,
                huge = u64::MAX,
                wide = i128::MIN,
                ratio = 0.5f64,
                flag = true,
                text = "plain",
                shown = %"displayed",
                debugged = ?Order { id: 9 },
                bytes = &b"\x01\x02"[..],
                later = tracing::field::Empty,
            )
            .entered();
        });
        let spans = p.exporter.finished_spans();
        let span = &spans[0];
        let expected = vec![
            KeyValue::new("signed", -3i64),
            KeyValue::new("small", 7i64),
            KeyValue::new("huge", u64::MAX.to_string()),
            KeyValue::new("wide", i128::MIN.to_string()),
            KeyValue::new("ratio", 0.5f64),
            KeyValue::new("flag", true),
            KeyValue::new("text", "plain"),
            KeyValue::new("shown", "displayed"),
            KeyValue::new("debugged", "Order { id: 9 }"),
            KeyValue::new("bytes", vec![1u8, 2]),
        ];
        assert_eq!(
            span.attributes, expected,
            "an Empty field is not an attribute"
        );
        assert_eq!(span.status, Status::Unset);
    }

    #[test]
    fn recorded_fields_add_attributes_and_rename() {
        let p = pipeline();
        tracing::dispatcher::with_default(&p.dispatch, || {
            let span = tracing::info_span!(
                "request",
                http.response.status_code = tracing::field::Empty,
                otel.name = tracing::field::Empty,
                first = 1i64,
            );
            span.record("http.response.status_code", 404i64);
            span.record("first", 2i64);
            span.record("otel.name", "GET /users/{id}");
        });
        let spans = p.exporter.finished_spans();
        assert_eq!(spans[0].name, "GET /users/{id}");
        assert_eq!(
            spans[0].attributes,
            vec![
                KeyValue::new("first", 2i64),
                KeyValue::new("http.response.status_code", 404i64),
            ],
            "a recorded value replaces the earlier one"
        );
    }

    #[derive(Debug)]
    enum Kind {
        Client,
    }

    #[test]
    fn otel_fields_set_name_kind_and_status() {
        let p = pipeline();
        tracing::dispatcher::with_default(&p.dispatch, || {
            let _server = tracing::info_span!(
                "ignored",
                otel.name = "GET /",
                otel.kind = "SERVER",
                otel.status_code = "ok",
            )
            .entered();
            let _client = tracing::info_span!("call", otel.kind = ?Kind::Client).entered();
            let _failed = tracing::info_span!(
                "failed",
                otel.status_code = "Error",
                otel.status_message = "upstream timed out"
            )
            .entered();
            let _producer = tracing::info_span!("send", otel.kind = "producer").entered();
            let _consumer = tracing::info_span!("receive", otel.kind = "consumer").entered();
            let _unknown = tracing::info_span!("odd", otel.kind = "sideways").entered();
        });
        let spans = p.exporter.finished_spans();
        let server = by_name(&spans, "GET /");
        assert_eq!(server.kind, SpanKind::Server);
        assert_eq!(server.status, Status::Ok);
        assert!(
            server.attributes.is_empty(),
            "otel.* fields are not attributes"
        );
        assert_eq!(by_name(&spans, "call").kind, SpanKind::Client);
        assert_eq!(by_name(&spans, "send").kind, SpanKind::Producer);
        assert_eq!(by_name(&spans, "receive").kind, SpanKind::Consumer);
        assert_eq!(by_name(&spans, "odd").kind, SpanKind::Internal);
        assert_eq!(
            by_name(&spans, "failed").status,
            Status::error("upstream timed out")
        );
    }

    #[test]
    fn an_error_field_sets_status_error() {
        let p = pipeline();
        tracing::dispatcher::with_default(&p.dispatch, || {
            let error = Declined {
                source: std::io::Error::other("insufficient funds"),
            };
            let _dyn = tracing::info_span!("dyn error", cause = &error as &dyn StdError).entered();
            let _named = tracing::info_span!("named", error = %"disk full").entered();
            let _flag = tracing::info_span!("flag", error = true).entered();
            let _fine = tracing::info_span!("fine", error = false).entered();
            let later = tracing::info_span!("later", error = tracing::field::Empty);
            later.record("error", "timed out");
            let _ok_wins =
                tracing::info_span!("ok wins", error = "ignored", otel.status_code = "OK")
                    .entered();
            let message = tracing::info_span!(
                "message later",
                error = tracing::field::Empty,
                otel.status_message = tracing::field::Empty,
            );
            message.record("error", true);
            message.record("otel.status_message", "described afterwards");
        });
        let spans = p.exporter.finished_spans();
        let status = |name| by_name(&spans, name).status.clone();
        assert_eq!(status("dyn error"), Status::error("card declined"));
        assert_eq!(
            attribute(by_name(&spans, "dyn error"), "cause").and_then(Value::as_str),
            Some("card declined")
        );
        assert_eq!(status("named"), Status::error("disk full"));
        assert_eq!(status("flag"), Status::error(""));
        assert_eq!(status("fine"), Status::Unset);
        assert_eq!(status("later"), Status::error("timed out"));
        assert_eq!(status("ok wins"), Status::Ok);
        assert_eq!(
            status("message later"),
            Status::error("described afterwards")
        );
    }

    #[test]
    fn follows_from_becomes_a_link() {
        let p = pipeline();
        tracing::dispatcher::with_default(&p.dispatch, || {
            let cause = tracing::info_span!("cause");
            let effect = tracing::info_span!("effect");
            effect.follows_from(&cause);
            // A span of no subscriber links to nothing.
            effect.follows_from(tracing::Span::none().id());
        });
        let spans = p.exporter.finished_spans();
        let (cause, effect) = (by_name(&spans, "cause"), by_name(&spans, "effect"));
        assert_eq!(effect.links.len(), 1);
        assert_eq!(effect.links[0].span_context, cause.span_context);
        assert!(cause.links.is_empty());
    }

    #[test]
    fn unsampled_spans_record_nothing_but_keep_the_trace() {
        let p = pipeline_with(Sampler::AlwaysOff);
        let (parent, child) = tracing::dispatcher::with_default(&p.dispatch, || {
            let span = tracing::info_span!("dropped", error = true);
            span.record("error", "ignored");
            let _entered = span.enter();
            let parent = Context::current_span_context().expect("a context even unsampled");
            let _child = tracing::info_span!("child").entered();
            let child = Context::current_span_context().expect("the child's context");
            (parent, child)
        });
        assert!(parent.is_valid() && !parent.is_sampled());
        assert_eq!(
            child.trace_id(),
            parent.trace_id(),
            "children follow the decision"
        );
        assert!(!child.is_sampled());
        assert!(p.exporter.finished_spans().is_empty());
    }

    thread_local! {
        static QUIET: Cell<bool> = const { Cell::new(false) };
    }

    fn quiet() -> bool {
        QUIET.with(Cell::get)
    }

    #[test]
    fn spans_left_out_by_level_or_predicate_are_transparent() {
        let exporter = InMemorySpanExporter::new();
        let provider = TracerProvider::builder()
            .with_sampler(Sampler::AlwaysOn)
            .with_simple_exporter(exporter.clone())
            .build();
        let layer = TracingSpanLayer::new(provider.tracer("filtered"))
            .with_max_level(tracing::Level::INFO)
            .with_skip_when(quiet);
        assert!(layer.tracer().is_some());
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
        tracing::dispatcher::with_default(&dispatch, || {
            let _kept = tracing::info_span!("kept").entered();
            let debug = tracing::debug_span!("too verbose");
            let _debug = debug.enter();
            let _warn = tracing::warn_span!("warn inside debug").entered();
            let _by_explicit_parent = tracing::info_span!(parent: &debug, "explicit").entered();
            QUIET.with(|q| q.set(true));
            drop(tracing::error_span!("while quiet").entered());
            QUIET.with(|q| q.set(false));
            drop(tracing::trace_span!("trace").entered());
        });
        let spans = exporter.finished_spans();
        assert_eq!(
            render(&spans),
            "kept\n  warn inside debug\n    explicit\n",
            "{spans:#?}"
        );
    }

    #[test]
    fn a_global_layer_has_no_fixed_tracer() {
        let layer = TracingSpanLayer::global().with_max_level(LevelFilter::OFF);
        assert!(layer.tracer().is_none());
        assert!(format!("{layer:?}").contains("global_scope"));
    }

    /// Opens a tracing span in every export, as an exporter instrumented with `tracing`
    /// (an HTTP client, say) would.
    #[derive(Debug)]
    struct TracingExporter {
        inner: InMemorySpanExporter,
    }

    impl SpanExporter for TracingExporter {
        fn export(&mut self, batch: &[SpanData]) -> Result<(), crate::ExportError> {
            let _send = tracing::info_span!("exporter send").entered();
            self.inner.export(batch)
        }
    }

    #[test]
    fn spans_opened_while_exporting_are_not_bridged() {
        let inner = InMemorySpanExporter::new();
        let provider = TracerProvider::builder()
            .with_sampler(Sampler::AlwaysOn)
            .with_simple_exporter(TracingExporter {
                inner: inner.clone(),
            })
            .build();
        let dispatch = Dispatch::new(
            tracing_subscriber::registry().with(TracingSpanLayer::new(provider.tracer("t"))),
        );
        tracing::dispatcher::with_default(&dispatch, || {
            let _work = tracing::info_span!("work").entered();
        });
        let names: Vec<String> = inner
            .finished_spans()
            .iter()
            .map(|s| s.name.to_string())
            .collect();
        assert_eq!(names, ["work"], "the exporter's own span is not exported");
        assert!(!in_pipeline(), "the flag is reset afterwards");
    }

    #[test]
    fn two_layers_on_one_thread_keep_their_entries_apart() {
        let first = pipeline();
        let second = pipeline();
        let current = || Context::current_span_context().map(|sc| sc.span_id());
        tracing::dispatcher::with_default(&first.dispatch, || {
            let outer = tracing::info_span!("first");
            let outer_entered = outer.enter();
            tracing::dispatcher::with_default(&second.dispatch, || {
                let inner = tracing::info_span!("second");
                assert_eq!(
                    inner.id(),
                    outer.id(),
                    "each registry numbers its spans alike"
                );
                let inner_entered = inner.enter();
                let inner_span = current();
                // Exits through the first subscriber: it must remove its own entry, not the
                // newer one of the same id.
                drop(outer_entered);
                assert_eq!(current(), inner_span);
                drop(inner_entered);
                assert_eq!(current(), None);
            });
        });
        let outer = first.exporter.finished_spans();
        let inner = second.exporter.finished_spans();
        assert_eq!(
            inner[0].parent_span_id,
            outer[0].span_context.span_id(),
            "the second subscriber's span nests under the first's through the context"
        );
    }

    #[test]
    fn status_state_table() {
        struct Case {
            name: &'static str,
            code: Option<StatusCode>,
            message: Option<&'static str>,
            error: Option<&'static str>,
            was_error: bool,
            expected: Option<Status>,
        }
        let cases = [
            Case {
                name: "nothing",
                code: None,
                message: None,
                error: None,
                was_error: false,
                expected: None,
            },
            Case {
                name: "error field",
                code: None,
                message: None,
                error: Some("e"),
                was_error: false,
                expected: Some(Status::error("e")),
            },
            Case {
                name: "message wins over error text",
                code: None,
                message: Some("m"),
                error: Some("e"),
                was_error: false,
                expected: Some(Status::error("m")),
            },
            Case {
                name: "message alone",
                code: None,
                message: Some("m"),
                error: None,
                was_error: false,
                expected: None,
            },
            Case {
                name: "message after an error",
                code: None,
                message: Some("m"),
                error: None,
                was_error: true,
                expected: Some(Status::error("m")),
            },
            Case {
                name: "code ok",
                code: Some(StatusCode::Ok),
                message: None,
                error: Some("e"),
                was_error: false,
                expected: Some(Status::Ok),
            },
            Case {
                name: "code error",
                code: Some(StatusCode::Error),
                message: None,
                error: None,
                was_error: false,
                expected: Some(Status::error("")),
            },
            Case {
                name: "code unset",
                code: Some(StatusCode::Unset),
                message: None,
                error: None,
                was_error: false,
                expected: None,
            },
            Case {
                name: "code unset with error",
                code: Some(StatusCode::Unset),
                message: None,
                error: Some("e"),
                was_error: false,
                expected: Some(Status::error("e")),
            },
        ];
        for case in cases {
            let mut state = StatusState {
                is_error: case.was_error,
                message: None,
            };
            let fields = Fields {
                code: case.code,
                message: case.message.map(StringValue::from_static),
                error: case.error.map(StringValue::from_static),
                ..Fields::default()
            };
            assert_eq!(state.update(&fields), case.expected, "{}", case.name);
        }
    }

    #[test]
    fn kinds_and_codes_parse_in_any_case() {
        assert_eq!(parse_kind("Server"), Some(SpanKind::Server));
        assert_eq!(parse_kind("INTERNAL"), Some(SpanKind::Internal));
        assert_eq!(parse_kind("serverx"), None);
        assert_eq!(parse_kind(""), None);
        assert_eq!(parse_code("OK"), Some(StatusCode::Ok));
        assert_eq!(parse_code("error"), Some(StatusCode::Error));
        assert_eq!(parse_code("Unset"), Some(StatusCode::Unset));
        assert_eq!(parse_code("fail"), None);
    }
}
