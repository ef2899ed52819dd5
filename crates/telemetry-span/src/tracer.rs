//! Tracers start spans for one instrumentation scope.

use std::fmt;
use std::sync::Arc;

use telemetry_context::{Context, SpanContext, TraceFlags, TraceState};
use telemetry_core::{InstrumentationScope, KeyValue, SpanId, StringValue, Timestamp};

use crate::limits::limit_attributes;
use crate::provider::ProviderInner;
use crate::sampler::SamplingDecision;
use crate::span::{Span, SpanCell, SpanRef};
use crate::span_data::{Link, SpanData, SpanKind, Status};

/// Starts spans on behalf of one instrumentation scope. Cloning is cheap.
#[derive(Clone)]
pub struct Tracer {
    provider: Arc<ProviderInner>,
    scope: InstrumentationScope,
}

/// Where a new span's parent comes from.
#[derive(Debug, Clone, Default)]
enum Parent {
    /// The current context's span, if any.
    #[default]
    Current,
    /// No parent: a new trace.
    Root,
    /// The span of this context.
    Context(Context),
}

/// Describes a span before it starts; from [`Tracer::span_builder`].
#[derive(Debug)]
#[must_use = "a span builder does nothing until `start` is called"]
pub struct SpanBuilder<'a> {
    tracer: &'a Tracer,
    name: StringValue,
    kind: SpanKind,
    attributes: Vec<KeyValue>,
    links: Vec<Link>,
    start_time: Option<Timestamp>,
    parent: Parent,
}

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracer")
            .field("scope", &self.scope.name())
            .finish()
    }
}

impl Tracer {
    pub(crate) fn new(provider: Arc<ProviderInner>, scope: InstrumentationScope) -> Self {
        Tracer { provider, scope }
    }

    /// The scope spans of this tracer are reported under.
    pub fn scope(&self) -> &InstrumentationScope {
        &self.scope
    }

    /// True when spans of this tracer can reach a processor: the provider has processors and
    /// is not shut down.
    pub fn is_enabled(&self) -> bool {
        !self.provider.processors.is_empty() && !self.provider.is_shut_down()
    }

    /// Starts a span named `name` as a child of the current span (or a root span).
    #[inline]
    pub fn start(&self, name: impl Into<StringValue>) -> Span {
        self.span_builder(name).start()
    }

    /// Describes a span to start.
    #[inline]
    pub fn span_builder(&self, name: impl Into<StringValue>) -> SpanBuilder<'_> {
        SpanBuilder {
            tracer: self,
            name: name.into(),
            kind: SpanKind::Internal,
            attributes: Vec::new(),
            links: Vec::new(),
            start_time: None,
            parent: Parent::Current,
        }
    }

    /// Starts a span of the `tracing` bridge: the builder written in one literal, since each
    /// builder call moves the whole builder and the compiler does not elide those copies.
    /// `attributes` becomes the span's own buffer.
    #[inline]
    pub(crate) fn start_bridged(
        &self,
        name: StringValue,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
        parent: Context,
    ) -> Span {
        SpanBuilder {
            tracer: self,
            name,
            kind,
            attributes,
            links: Vec::new(),
            start_time: None,
            parent: Parent::Context(parent),
        }
        .start()
    }

    /// Runs `f` inside a new span that is current while `f` runs and ends when it returns.
    pub fn in_span<T>(&self, name: impl Into<StringValue>, f: impl FnOnce(&Span) -> T) -> T {
        let span = self.start(name);
        let _guard = span.enter();
        f(&span)
    }
}

impl<'a> SpanBuilder<'a> {
    /// Sets the kind (default [`SpanKind::Internal`]).
    pub fn with_kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    /// Adds one attribute; the sampler sees it.
    pub fn with_attribute(mut self, attribute: KeyValue) -> Self {
        if self.attributes.capacity() == 0 {
            self.attributes = crate::recycle::attribute_buffer(1);
        }
        self.attributes.push(attribute);
        self
    }

    /// Adds attributes; the sampler sees them.
    pub fn with_attributes(mut self, attributes: impl IntoIterator<Item = KeyValue>) -> Self {
        let attributes = attributes.into_iter();
        if self.attributes.capacity() == 0 {
            self.attributes = crate::recycle::attribute_buffer(attributes.size_hint().0);
        }
        self.attributes.extend(attributes);
        self
    }

    /// Adds links; the sampler sees them.
    pub fn with_links(mut self, links: impl IntoIterator<Item = Link>) -> Self {
        self.links.extend(links);
        self
    }

    /// Sets an explicit start time (default: now).
    pub fn with_start_time(mut self, start_time: Timestamp) -> Self {
        self.start_time = Some(start_time);
        self
    }

    /// Uses the span of `cx` as parent (none if it has none: a root span).
    pub fn with_parent_context(mut self, cx: Context) -> Self {
        self.parent = Parent::Context(cx);
        self
    }

    /// Uses `parent` as the parent span.
    pub fn with_parent(self, parent: &SpanRef) -> Self {
        let cx = crate::span::context_with_span(&Context::new(), parent);
        self.with_parent_context(cx)
    }

    /// Starts a new trace, whatever is current.
    pub fn as_root(mut self) -> Self {
        self.parent = Parent::Root;
        self
    }

    /// Starts the span.
    pub fn start(self) -> Span {
        let tracer = self.tracer;
        let provider = &tracer.provider;
        // The whole parent context is needed only by the processors of a recording span; the
        // decision needs just the span context, which is cheaper to read from the current one.
        let (parent_span_context, parent_cx) = match self.parent {
            Parent::Current => (Context::current_span_context(), None),
            Parent::Root => (None, Some(Context::new())),
            Parent::Context(cx) => (cx.span_context().cloned(), Some(cx)),
        };
        let parent = parent_span_context.as_ref().filter(|sc| sc.is_valid());
        if provider.is_shut_down() {
            // A no-op span that carries the parent's context onward.
            return Span::from_ref(SpanRef::non_recording(
                parent.cloned().unwrap_or(SpanContext::INVALID),
            ));
        }
        let (trace_id, parent_span_id, parent_is_remote, inherited_flags, inherited_state) =
            match parent {
                Some(p) => (
                    p.trace_id(),
                    p.span_id(),
                    p.is_remote(),
                    p.flags().known().with_sampled(false),
                    p.trace_state().clone(),
                ),
                None => {
                    let random = if provider.trace_ids_are_random() {
                        TraceFlags::RANDOM
                    } else {
                        TraceFlags::NONE
                    };
                    (
                        provider.new_trace_id(),
                        SpanId::INVALID,
                        false,
                        random,
                        TraceState::EMPTY,
                    )
                }
            };
        let result = provider.sampler.should_sample(
            parent,
            trace_id,
            &self.name,
            self.kind,
            &self.attributes,
            &self.links,
        );
        let span_id = provider.new_span_id();
        let sampled = result.decision == SamplingDecision::RecordAndSample;
        let span_context = SpanContext::new(
            trace_id,
            span_id,
            inherited_flags.with_sampled(sampled),
            false,
            result.trace_state.unwrap_or(inherited_state),
        );
        if result.decision == SamplingDecision::Drop || provider.processors.is_empty() {
            return Span::from_ref(SpanRef::non_recording(span_context));
        }

        let limits = provider.limits;
        let mut attributes = self.attributes;
        attributes.extend(result.attributes);
        let (attributes, dropped_attributes_count) = limit_attributes(
            attributes,
            limits.max_attributes_per_span,
            limits.max_attribute_value_length,
        );
        let mut links = self.links;
        let dropped_links_count = links
            .len()
            .saturating_sub(limits.max_links_per_span as usize)
            as u32;
        if dropped_links_count > 0 {
            crate::limits::report_limit_once("links");
        }
        links.truncate(limits.max_links_per_span as usize);
        for link in &mut links {
            let taken = std::mem::take(&mut link.attributes);
            let (kept, dropped) = limit_attributes(
                taken,
                limits.max_attributes_per_link,
                limits.max_attribute_value_length,
            );
            link.attributes = kept;
            link.dropped_attributes_count += dropped;
        }

        let start_time = self.start_time.unwrap_or_else(Timestamp::now);
        // The span's data is written straight into the cell's allocation. `Arc::new` takes a
        // value built on the stack and copies it in (with the lock's byte and padding, at odd
        // offsets that stall the copy); `new_cyclic` allocates first and builds the empty cell
        // in place, and the data is then written through `get_mut`, which a fresh `Arc` always
        // grants.
        let mut cell =
            Arc::new_cyclic(|_| SpanCell::new(span_context.clone(), Arc::clone(provider)));
        if let Some(place) = Arc::get_mut(&mut cell).map(SpanCell::data_mut) {
            *place = Some(SpanData {
                span_context,
                parent_span_id,
                parent_is_remote,
                name: self.name,
                kind: self.kind,
                start_time,
                end_time: Timestamp::UNIX_EPOCH,
                attributes,
                dropped_attributes_count,
                events: Vec::new(),
                dropped_events_count: 0,
                links,
                dropped_links_count,
                status: Status::Unset,
                scope: tracer.scope.clone(),
            });
        }
        if provider.calls_on_start
            && let Some(data) = Arc::get_mut(&mut cell).and_then(|cell| cell.data_mut().as_mut())
        {
            let parent_cx = parent_cx.unwrap_or_else(Context::current);
            for processor in &provider.processors {
                processor.on_start(data, &parent_cx);
            }
        }
        Span::from_ref(SpanRef::recording(cell))
    }
}
