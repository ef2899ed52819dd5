//! Context propagation: W3C Trace Context and Baggage on the wire, the current context in
//! a thread, and the same context carried across `.await` on any executor.
//!
//! - [`TraceParent`], [`TraceState`], [`Baggage`]: the three W3C headers, parsed byte by
//!   byte to the letter of W3C Trace Context Level 2 and W3C Baggage.
//! - [`SpanContext`] and [`TraceFlags`]: what of a span crosses a process boundary.
//! - [`Context`]: an immutable bag (active span context, baggage, typed values). The
//!   current one lives in a thread-local stack; [`Context::attach`] returns a
//!   [`ContextGuard`] that restores the previous one, even when guards drop out of order.
//! - [`FutureExt::with_context`]: attaches a context around every `poll` of a future, so it
//!   follows the task across worker threads and never leaks into other tasks.
//! - [`TextMapPropagator`] with [`TraceContextPropagator`], [`BaggagePropagator`] and
//!   [`CompositePropagator`]; carriers for `http::HeaderMap` (every header line visible),
//!   `HashMap<String, String>` and a list of header lines.
//!
//! The design decision: a thread-local stack plus a poll-scoped future wrapper, instead of
//! relying on a runtime's task-locals, is what makes the context work on every executor and
//! in plain threads alike.
//!
//! # Example
//!
//! ```
//! use http::HeaderMap;
//! use telemetry_context::{CompositePropagator, Context, TextMapPropagator};
//!
//! let mut incoming = HeaderMap::new();
//! incoming.insert(
//!     "traceparent",
//!     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse()?,
//! );
//! let propagator = CompositePropagator::w3c();
//! let cx = propagator.extract(&Context::new(), &incoming);
//! let remote = cx.span_context().ok_or("no parent")?;
//! assert!(remote.is_remote() && remote.is_sampled());
//!
//! let _guard = cx.attach();
//! let mut outgoing = HeaderMap::new();
//! propagator.inject(&Context::current(), &mut outgoing);
//! assert_eq!(outgoing["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Untrusted input
//!
//! Header values come from other processes. Every parser here checks each byte against the
//! grammar, never panics, and allocates at most in proportion to its input; `tracestate` and
//! `baggage` stop at their member limits. Invalid input yields a typed error, or in a
//! propagator the context unchanged, which starts a new trace.
#![forbid(unsafe_code)]

mod baggage;
mod bridged;
mod context;
mod future;
mod propagation;
mod span_context;
mod traceparent;
mod tracestate;

pub use baggage::{Baggage, BaggageEntry, BaggageError, BaggageErrorKind, ParsedBaggage};
pub use bridged::BridgedContext;
pub use context::{Context, ContextGuard};
pub use future::{FutureExt, WithContext};
pub use propagation::{
    BAGGAGE, BaggagePropagator, CompositePropagator, Extractor, Injector, TRACEPARENT, TRACESTATE,
    TextMapPropagator, TraceContextPropagator,
};
pub use span_context::{SpanContext, TraceFlags};
pub use traceparent::{
    TRACEPARENT_LEN, TraceParent, TraceParentError, TraceParentErrorKind, format_traceparent,
};
pub use tracestate::{TraceState, TraceStateError, TraceStateErrorKind};

/// Limits of the W3C headers, for callers that size buffers or validate ahead.
pub mod limits {
    pub use crate::baggage::{MAX_BYTES as BAGGAGE_MAX_BYTES, MAX_MEMBERS as BAGGAGE_MAX_MEMBERS};
    pub use crate::tracestate::{
        MAX_KEY_LEN as TRACESTATE_MAX_KEY_LEN, MAX_MEMBERS as TRACESTATE_MAX_MEMBERS,
        MAX_VALUE_LEN as TRACESTATE_MAX_VALUE_LEN,
    };
}
