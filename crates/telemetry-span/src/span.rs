//! Spans: handles to an operation being recorded.

use std::any::Any;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use telemetry_context::{Context, ContextGuard, SpanContext};
use telemetry_core::{KeyValue, StringValue, Timestamp};

use crate::limits::{limit_attributes, set_attribute};
use crate::processor::SpanProcessor;
use crate::provider::ProviderInner;
use crate::span_data::{Event, Link, SpanData, Status};

/// The span of an operation: ends when dropped (or at [`SpanRef::end`]) and is then handed
/// to the processors.
///
/// Every method of [`SpanRef`] is available on `Span` through `Deref`. A span that was not
/// sampled records nothing and costs almost nothing, but still carries its context so the
/// decision propagates to children and other processes.
#[must_use = "a span ends as soon as it is dropped"]
pub struct Span {
    handle: SpanRef,
}

/// A shareable handle to a span, e.g. the current one from [`SpanRef::current`]. Changes
/// through any handle reach the same span; after the span ends they are ignored.
#[derive(Clone)]
pub struct SpanRef(Handle);

#[derive(Clone)]
enum Handle {
    NonRecording(SpanContext),
    Recording(Arc<SpanCell>),
}

/// The shared state of a recording span.
pub(crate) struct SpanCell {
    span_context: SpanContext,
    provider: Arc<ProviderInner>,
    /// `None` once the span has ended.
    data: Mutex<Option<SpanData>>,
    /// Set once the span has ended (after `data` became `None`). A hint only, read without
    /// ordering: it lets the common `end()`-then-drop skip a second lock; `data` decides.
    ended: AtomicBool,
}

impl SpanCell {
    /// A cell with no data yet: the caller writes it in through [`SpanCell::data_mut`].
    #[inline(always)]
    pub(crate) fn new(span_context: SpanContext, provider: Arc<ProviderInner>) -> Self {
        SpanCell {
            span_context,
            provider,
            data: Mutex::new(None),
            ended: AtomicBool::new(false),
        }
    }

    /// The data of a cell not yet shared: where a new span's data goes, and what the
    /// processors' `on_start` sees.
    #[inline(always)]
    pub(crate) fn data_mut(&mut self) -> &mut Option<SpanData> {
        self.data.get_mut()
    }
}

impl Span {
    pub(crate) fn from_ref(handle: SpanRef) -> Self {
        Span { handle }
    }

    /// A handle to this span that does not end it when dropped.
    pub fn handle(&self) -> SpanRef {
        self.handle.clone()
    }

    /// Gives up ownership without ending the span: it ends through a handle, or when its last
    /// handle drops (see `SpanCell`'s `Drop`).
    pub(crate) fn into_handle(mut self) -> SpanRef {
        std::mem::replace(
            &mut self.handle,
            SpanRef::non_recording(SpanContext::INVALID),
        )
    }
}

impl Drop for SpanCell {
    /// A span whose every handle is gone without an `end` (its owner gave up ownership, as
    /// the `tracing` bridge does, and the handles were dropped) ends now rather than being
    /// lost.
    fn drop(&mut self) {
        if self.data.get_mut().is_some() {
            SpanRef::end_cell(self, Timestamp::now());
        }
    }
}

impl std::ops::Deref for Span {
    type Target = SpanRef;

    fn deref(&self) -> &SpanRef {
        &self.handle
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        self.handle.end();
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.handle, f)
    }
}

impl fmt::Debug for SpanRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanRef")
            .field("span_context", self.span_context())
            .field("recording", &self.is_recording())
            .finish()
    }
}

impl SpanRef {
    pub(crate) fn non_recording(span_context: SpanContext) -> Self {
        SpanRef(Handle::NonRecording(span_context))
    }

    pub(crate) fn recording(cell: Arc<SpanCell>) -> Self {
        SpanRef(Handle::Recording(cell))
    }

    /// The current context's span, if it has one.
    pub fn current() -> Option<SpanRef> {
        span_of_context(&Context::current())
    }

    /// The span's identity.
    pub fn span_context(&self) -> &SpanContext {
        match &self.0 {
            Handle::NonRecording(span_context) => span_context,
            Handle::Recording(cell) => &cell.span_context,
        }
    }

    /// True for a handle to a span the sampler chose to record, ended or not: without the
    /// lock [`SpanRef::is_recording`] takes.
    pub(crate) fn has_recording_handle(&self) -> bool {
        matches!(self.0, Handle::Recording(_))
    }

    /// True while the span records: sampled in (or recorded by the sampler) and not ended.
    pub fn is_recording(&self) -> bool {
        match &self.0 {
            Handle::NonRecording(_) => false,
            Handle::Recording(cell) => cell.data.lock().is_some(),
        }
    }

    #[inline]
    fn with_data(&self, f: impl FnOnce(&mut SpanData, &ProviderInner)) {
        if let Handle::Recording(cell) = &self.0
            && let Some(data) = cell.data.lock().as_mut()
        {
            f(data, &cell.provider);
        }
    }

    /// Sets an attribute, replacing an earlier value of the same key.
    pub fn set_attribute(&self, attribute: KeyValue) {
        self.with_data(|data, provider| {
            let limits = provider.limits;
            if data.attributes.capacity() == 0 {
                data.attributes = crate::recycle::attribute_buffer(1);
            }
            set_attribute(
                &mut data.attributes,
                &mut data.dropped_attributes_count,
                limits.max_attributes_per_span,
                limits.max_attribute_value_length,
                attribute,
            );
        });
    }

    /// Sets several attributes, in order.
    pub fn set_attributes(&self, attributes: impl IntoIterator<Item = KeyValue>) {
        self.with_data(|data, provider| {
            let limits = provider.limits;
            let attributes = attributes.into_iter();
            if data.attributes.capacity() == 0 {
                data.attributes = crate::recycle::attribute_buffer(attributes.size_hint().0);
            }
            for attribute in attributes {
                set_attribute(
                    &mut data.attributes,
                    &mut data.dropped_attributes_count,
                    limits.max_attributes_per_span,
                    limits.max_attribute_value_length,
                    attribute,
                );
            }
        });
    }

    /// Adds an event timestamped now.
    pub fn add_event(&self, name: impl Into<StringValue>, attributes: Vec<KeyValue>) {
        self.add_event_with_timestamp(name, Timestamp::now(), attributes);
    }

    /// Adds an event with an explicit timestamp.
    pub fn add_event_with_timestamp(
        &self,
        name: impl Into<StringValue>,
        timestamp: Timestamp,
        attributes: Vec<KeyValue>,
    ) {
        self.with_data(|data, provider| {
            let limits = provider.limits;
            if data.events.len() >= limits.max_events_per_span as usize {
                data.dropped_events_count = data.dropped_events_count.saturating_add(1);
                crate::limits::report_limit_once("events");
                return;
            }
            let (attributes, dropped_attributes_count) = limit_attributes(
                attributes,
                limits.max_attributes_per_event,
                limits.max_attribute_value_length,
            );
            data.events.push(Event {
                name: name.into(),
                timestamp,
                attributes,
                dropped_attributes_count,
            });
        });
    }

    /// Adds a link to `target`, after the span started.
    pub fn add_link(&self, target: SpanContext, attributes: Vec<KeyValue>) {
        // An invalid context is kept only when it carries something (spec: SHOULD record
        // links with attributes or trace state even if the context is invalid).
        if !target.is_valid() && attributes.is_empty() && target.trace_state().is_empty() {
            return;
        }
        self.with_data(|data, provider| {
            let limits = provider.limits;
            if data.links.len() >= limits.max_links_per_span as usize {
                data.dropped_links_count = data.dropped_links_count.saturating_add(1);
                crate::limits::report_limit_once("links");
                return;
            }
            let (attributes, dropped_attributes_count) = limit_attributes(
                attributes,
                limits.max_attributes_per_link,
                limits.max_attribute_value_length,
            );
            data.links.push(Link {
                span_context: target,
                attributes,
                dropped_attributes_count,
            });
        });
    }

    /// Sets the status by the spec's rules: `Ok` is final, `Unset` changes nothing, a
    /// description is kept only for `Error`.
    pub fn set_status(&self, status: Status) {
        self.with_data(|data, _| {
            if data.status == Status::Ok || status == Status::Unset {
                return;
            }
            data.status = status;
        });
    }

    /// Renames the span.
    pub fn update_name(&self, name: impl Into<StringValue>) {
        self.with_data(|data, _| data.name = name.into());
    }

    /// Records `error` as an `exception` event and sets the status to `Error` with the
    /// error's message. The event carries `exception.type` (the error's Rust type),
    /// `exception.message`, and the chain of `source()` errors in `exception.stacktrace`.
    pub fn record_error<E: StdError + ?Sized>(&self, error: &E) {
        let message = error.to_string();
        let mut causes = String::new();
        let mut source = error.source();
        while let Some(cause) = source {
            causes.push_str("caused by: ");
            causes.push_str(&cause.to_string());
            causes.push('\n');
            source = cause.source();
        }
        self.record_exception(
            std::any::type_name::<E>(),
            &message,
            (!causes.is_empty()).then_some(causes.as_str()),
        );
        self.set_status(Status::error(message));
    }

    /// Adds an `exception` event with the semantic-convention attributes; does not change
    /// the status.
    pub fn record_exception(&self, exception_type: &str, message: &str, stacktrace: Option<&str>) {
        let mut attributes = vec![
            KeyValue::new("exception.type", exception_type.to_owned()),
            KeyValue::new("exception.message", message.to_owned()),
        ];
        if let Some(stacktrace) = stacktrace {
            attributes.push(KeyValue::new("exception.stacktrace", stacktrace.to_owned()));
        }
        self.add_event("exception", attributes);
    }

    /// Ends the span now. Later calls, and changes through any handle, are ignored.
    pub fn end(&self) {
        // Only a span that will record reads the clock: an unsampled span's end is a branch.
        if let Handle::Recording(cell) = &self.0
            && !cell.ended.load(Ordering::Relaxed)
        {
            Self::end_cell(cell, Timestamp::now());
        }
    }

    /// Ends the span at `end_time`.
    pub fn end_with_timestamp(&self, end_time: Timestamp) {
        if let Handle::Recording(cell) = &self.0 {
            Self::end_cell(cell, end_time);
        }
    }

    fn end_cell(cell: &SpanCell, end_time: Timestamp) {
        let mut locked;
        let mut taken;
        let data = if cell.provider.ends_in_place {
            // The span goes from its cell to the processors without a copy on the way, under
            // its lock, which they promise not to hold long (`SpanProcessor::ends_in_place`).
            locked = cell.data.lock();
            &mut *locked
        } else {
            // Taken out first: these processors may block (a simple processor exports here).
            taken = cell.data.lock().take();
            &mut taken
        };
        let Some(span) = data.as_mut() else {
            return;
        };
        span.end_time = end_time;
        hand_over(&cell.provider.processors, data);
        // What a processor left (a span it does not export) ends here; usually nothing is.
        if data.is_some() {
            *data = None;
        }
        cell.ended.store(true, Ordering::Relaxed);
    }

    /// Makes this span current on this thread until the guard drops. The span does not end
    /// when the guard drops.
    pub fn enter(&self) -> ContextGuard {
        context_with_span(&Context::current(), self).attach()
    }

    /// A copy of `cx` with this span as its active span.
    pub fn context_with(&self, cx: &Context) -> Context {
        context_with_span(cx, self)
    }
}

/// Hands an ended span (`Some`) to the processors. Each processor but the last that wants the
/// span gets its own copy; an idle one (see `SpanProcessor::wants_ended_spans`) spares that
/// copy. A lone processor is not asked.
#[inline]
fn hand_over(processors: &[Box<dyn SpanProcessor>], span: &mut Option<SpanData>) {
    if let [only] = processors {
        only.on_end_in_place(span);
        return;
    }
    let mut wanting = processors.iter().filter(|p| p.wants_ended_spans());
    let Some(mut current) = wanting.next() else {
        return;
    };
    for next in wanting {
        current.on_end_in_place(&mut span.clone());
        current = next;
    }
    current.on_end_in_place(span);
}

/// `cx` with `span` as the active span.
pub(crate) fn context_with_span(cx: &Context, span: &SpanRef) -> Context {
    match &span.0 {
        Handle::NonRecording(span_context) => cx.with_span_context(span_context.clone()),
        Handle::Recording(cell) => {
            let handle: Arc<dyn Any + Send + Sync> = cell.clone();
            cx.with_active_span(cell.span_context.clone(), handle)
        }
    }
}

/// The span of `cx`: its own handle when this SDK made it current, else a non-recording
/// handle for its span context (a remote parent, say).
pub(crate) fn span_of_context(cx: &Context) -> Option<SpanRef> {
    if let Some(cell) = cx
        .active_span()
        .and_then(|handle| Arc::clone(handle).downcast::<SpanCell>().ok())
    {
        return Some(SpanRef::recording(cell));
    }
    cx.span_context()
        .map(|span_context| SpanRef::non_recording(span_context.clone()))
}

#[cfg(test)]
mod tests {
    use crate::exporter::InMemorySpanExporter;
    use crate::provider::TracerProvider;

    #[test]
    fn a_span_given_up_ends_when_its_last_handle_drops() {
        let exporter = InMemorySpanExporter::new();
        let provider = TracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let handle = provider.tracer("scope").start("given up").into_handle();
        let other = handle.clone();
        assert!(handle.is_recording(), "giving up ownership does not end it");
        drop(handle);
        assert!(exporter.finished_spans().is_empty(), "a handle is left");
        drop(other);
        let spans = exporter.finished_spans();
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].name.as_str(), "given up");
        assert!(spans[0].end_time >= spans[0].start_time);
    }

    #[test]
    fn an_ended_span_is_not_ended_again_by_its_last_handle() {
        let exporter = InMemorySpanExporter::new();
        let provider = TracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let span = provider.tracer("scope").start("once");
        let handle = span.handle();
        drop(span);
        drop(handle);
        assert_eq!(exporter.finished_spans().len(), 1);
    }
}
