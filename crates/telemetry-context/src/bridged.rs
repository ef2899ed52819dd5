//! The context a bridge keeps for a span of another tracing system.

use crate::context::Context;
use crate::span_context::SpanContext;

/// The context of a span that a bridge made for a span of another tracing system (a
/// `tracing` span, say), kept in that span's own storage: the parent's context with the
/// bridged span active.
///
/// It is the meeting point of two bridges that do not know each other: `telemetry-span`'s
/// `tracing` layer stores one in each tracing span's extensions, and `telemetry-logs`'
/// `tracing` layer reads it to stamp an event inside a tracing span that is not entered (an
/// event with an explicit parent). Dropping it does not end the span; the span's own handle
/// in the context belongs to the bridge that stored it.
#[derive(Clone, Debug, Default)]
pub struct BridgedContext(pub Context);

impl BridgedContext {
    /// The bridged span's context, if it has one.
    pub fn span_context(&self) -> Option<&SpanContext> {
        self.0.span_context()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TraceFlags, TraceState};
    use telemetry_core::{SpanId, TraceId};

    #[test]
    fn it_reads_the_span_context_of_its_context() {
        let span_context = SpanContext::new(
            TraceId::random(),
            SpanId::random(),
            TraceFlags::SAMPLED,
            false,
            TraceState::EMPTY,
        );
        let bridged = BridgedContext(Context::new().with_span_context(span_context.clone()));
        assert_eq!(bridged.span_context(), Some(&span_context));
        assert_eq!(BridgedContext::default().span_context(), None);
    }
}
