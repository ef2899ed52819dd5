//! The part of a span that crosses process boundaries.

use std::fmt;

use telemetry_core::{SpanId, TraceId};

use crate::tracestate::TraceState;

/// The W3C `trace-flags` byte.
///
/// Bits are tested by masking, never by comparing the whole byte, so unknown future bits do
/// not change the meaning of the known ones.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// No flags set: not sampled, trace id not known to be random.
    pub const NONE: TraceFlags = TraceFlags(0);
    /// Bit 0: the caller may have recorded this trace.
    pub const SAMPLED: TraceFlags = TraceFlags(0x01);
    /// Bit 1 (Level 2): the right-most 7 bytes of the trace id are uniformly random.
    pub const RANDOM: TraceFlags = TraceFlags(0x02);
    /// The bits this SDK understands and propagates; others are set to zero on output.
    pub const KNOWN: TraceFlags = TraceFlags(0x03);

    /// Wraps a raw flags byte.
    #[inline]
    pub const fn from_bits(bits: u8) -> Self {
        TraceFlags(bits)
    }

    /// The raw byte.
    #[inline]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// True when every bit of `other` is set here.
    #[inline]
    pub const fn contains(self, other: TraceFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when the sampled bit is set.
    #[inline]
    pub const fn is_sampled(self) -> bool {
        self.contains(TraceFlags::SAMPLED)
    }

    /// True when the random bit is set.
    #[inline]
    pub const fn is_random(self) -> bool {
        self.contains(TraceFlags::RANDOM)
    }

    /// A copy with the sampled bit set or cleared.
    #[inline]
    #[must_use]
    pub const fn with_sampled(self, sampled: bool) -> Self {
        if sampled {
            TraceFlags(self.0 | 0x01)
        } else {
            TraceFlags(self.0 & !0x01)
        }
    }

    /// A copy with only the bits this SDK understands.
    #[inline]
    #[must_use]
    pub const fn known(self) -> Self {
        TraceFlags(self.0 & TraceFlags::KNOWN.0)
    }
}

impl std::ops::BitOr for TraceFlags {
    type Output = TraceFlags;

    fn bitor(self, rhs: TraceFlags) -> TraceFlags {
        TraceFlags(self.0 | rhs.0)
    }
}

impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceFlags({:02x})", self.0)
    }
}

/// A span's identity and the trace-wide state that travels with it.
///
/// Valid when both ids are non-zero. `is_remote` is true only for contexts extracted from a
/// carrier; spans created in this process have it false.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SpanContext {
    trace_id: TraceId,
    span_id: SpanId,
    flags: TraceFlags,
    is_remote: bool,
    trace_state: TraceState,
}

impl SpanContext {
    /// The invalid context: both ids zero.
    pub const INVALID: SpanContext = SpanContext {
        trace_id: TraceId::INVALID,
        span_id: SpanId::INVALID,
        flags: TraceFlags::NONE,
        is_remote: false,
        trace_state: TraceState::EMPTY,
    };

    /// Assembles a span context.
    #[inline]
    pub const fn new(
        trace_id: TraceId,
        span_id: SpanId,
        flags: TraceFlags,
        is_remote: bool,
        trace_state: TraceState,
    ) -> Self {
        SpanContext {
            trace_id,
            span_id,
            flags,
            is_remote,
            trace_state,
        }
    }

    /// The trace id.
    #[inline]
    pub const fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The span id.
    #[inline]
    pub const fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The trace flags.
    #[inline]
    pub const fn flags(&self) -> TraceFlags {
        self.flags
    }

    /// True when the sampled flag is set.
    #[inline]
    pub const fn is_sampled(&self) -> bool {
        self.flags.is_sampled()
    }

    /// True when this context came from another process.
    #[inline]
    pub const fn is_remote(&self) -> bool {
        self.is_remote
    }

    /// The vendor-specific trace state.
    #[inline]
    pub const fn trace_state(&self) -> &TraceState {
        &self.trace_state
    }

    /// True when both ids are non-zero.
    #[inline]
    pub const fn is_valid(&self) -> bool {
        self.trace_id.is_valid() && self.span_id.is_valid()
    }

    /// A copy with another trace state.
    #[must_use]
    pub fn with_trace_state(&self, trace_state: TraceState) -> Self {
        SpanContext {
            trace_state,
            ..self.clone()
        }
    }
}
