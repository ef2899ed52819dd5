//! The W3C `traceparent` header, parsed byte by byte.
//!
//! Rules (W3C Trace Context Level 2): `version-traceid-parentid-flags`, lowercase hex only,
//! version `ff` forbidden, version `00` exactly 55 bytes, higher versions parsed with the
//! `00` layout and anything after a further `-` ignored, all-zero ids invalid, surrounding
//! spaces and tabs tolerated.

use std::fmt;

use telemetry_core::{IdErrorKind, SpanId, TraceId};

use crate::span_context::TraceFlags;

/// Length of a version-`00` `traceparent` value.
pub const TRACEPARENT_LEN: usize = 55;

/// The fields of a parsed `traceparent` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    /// The header's version (`00` today; higher versions are parsed forward-compatibly).
    pub version: u8,
    /// The trace id, never all zeroes.
    pub trace_id: TraceId,
    /// The caller's span id, never all zeroes.
    pub parent_id: SpanId,
    /// The flags byte exactly as received; [`TraceFlags::known`] keeps what we propagate.
    pub flags: TraceFlags,
}

/// Why a `traceparent` value was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParentError {
    kind: TraceParentErrorKind,
    offset: usize,
}

/// The kinds of [`TraceParentError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceParentErrorKind {
    /// Shorter than the 55 bytes every version needs.
    TooShort,
    /// A version-`00` value with bytes after the flags, or a higher version whose flags are
    /// followed by something other than `-`.
    TrailingData,
    /// The version is not two lowercase hex digits.
    InvalidVersion,
    /// Version `ff`, which the spec forbids.
    ForbiddenVersion,
    /// A `-` is missing where the layout needs one.
    MissingDelimiter,
    /// The trace id is not 32 lowercase hex digits.
    InvalidTraceId,
    /// The trace id is all zeroes.
    ZeroTraceId,
    /// The parent id is not 16 lowercase hex digits.
    InvalidParentId,
    /// The parent id is all zeroes.
    ZeroParentId,
    /// The flags are not two lowercase hex digits.
    InvalidFlags,
}

impl TraceParentError {
    /// What was wrong.
    pub fn kind(&self) -> TraceParentErrorKind {
        self.kind
    }

    /// Byte offset, in the value with surrounding whitespace removed, where the problem is.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Display for TraceParentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            TraceParentErrorKind::TooShort => "is shorter than 55 bytes",
            TraceParentErrorKind::TrailingData => "has data after the flags",
            TraceParentErrorKind::InvalidVersion => {
                "has a version that is not 2 lowercase hex digits"
            }
            TraceParentErrorKind::ForbiddenVersion => "has the forbidden version ff",
            TraceParentErrorKind::MissingDelimiter => "lacks a '-' delimiter",
            TraceParentErrorKind::InvalidTraceId => {
                "has a trace id that is not 32 lowercase hex digits"
            }
            TraceParentErrorKind::ZeroTraceId => "has an all-zero trace id",
            TraceParentErrorKind::InvalidParentId => {
                "has a parent id that is not 16 lowercase hex digits"
            }
            TraceParentErrorKind::ZeroParentId => "has an all-zero parent id",
            TraceParentErrorKind::InvalidFlags => "has flags that are not 2 lowercase hex digits",
        };
        write!(f, "traceparent {what} (at byte {})", self.offset)
    }
}

impl std::error::Error for TraceParentError {}

/// Strips leading and trailing optional whitespace (space and horizontal tab).
pub(crate) fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    Some((digit(pair[0])? << 4) | digit(pair[1])?)
}

impl TraceParent {
    /// Parses one `traceparent` header value.
    pub fn parse(value: &[u8]) -> Result<TraceParent, TraceParentError> {
        let value = trim_ows(value);
        let fail = |kind, offset| Err(TraceParentError { kind, offset });
        if value.len() < 2 {
            return fail(TraceParentErrorKind::TooShort, value.len());
        }
        let Some(version) = hex_byte(&value[..2]) else {
            return fail(TraceParentErrorKind::InvalidVersion, 0);
        };
        if version == 0xff {
            return fail(TraceParentErrorKind::ForbiddenVersion, 0);
        }
        if value.get(2) != Some(&b'-') && value.len() > 2 {
            return fail(TraceParentErrorKind::InvalidVersion, 2);
        }
        if value.len() < TRACEPARENT_LEN {
            return fail(TraceParentErrorKind::TooShort, value.len());
        }
        if value.len() > TRACEPARENT_LEN && (version == 0 || value[TRACEPARENT_LEN] != b'-') {
            return fail(TraceParentErrorKind::TrailingData, TRACEPARENT_LEN);
        }
        let trace_id = TraceId::from_hex_bytes(&value[3..35]).map_err(|error| {
            let kind = match error.kind() {
                IdErrorKind::AllZero => TraceParentErrorKind::ZeroTraceId,
                _ => TraceParentErrorKind::InvalidTraceId,
            };
            TraceParentError { kind, offset: 3 }
        })?;
        if value[35] != b'-' {
            return fail(TraceParentErrorKind::MissingDelimiter, 35);
        }
        let parent_id = SpanId::from_hex_bytes(&value[36..52]).map_err(|error| {
            let kind = match error.kind() {
                IdErrorKind::AllZero => TraceParentErrorKind::ZeroParentId,
                _ => TraceParentErrorKind::InvalidParentId,
            };
            TraceParentError { kind, offset: 36 }
        })?;
        if value[52] != b'-' {
            return fail(TraceParentErrorKind::MissingDelimiter, 52);
        }
        let Some(flags) = hex_byte(&value[53..55]) else {
            return fail(TraceParentErrorKind::InvalidFlags, 53);
        };
        Ok(TraceParent {
            version,
            trace_id,
            parent_id,
            flags: TraceFlags::from_bits(flags),
        })
    }

    /// Writes the header as version `00`, keeping only the flags this SDK understands
    /// (sampled and random), as the spec requires of outgoing headers.
    pub fn to_bytes(&self) -> [u8; TRACEPARENT_LEN] {
        format_traceparent(self.trace_id, self.parent_id, self.flags)
    }
}

/// Formats `00-{trace_id}-{span_id}-{flags}` into a fixed buffer, without allocating.
/// Unknown flag bits are cleared.
#[inline]
pub fn format_traceparent(
    trace_id: TraceId,
    span_id: SpanId,
    flags: TraceFlags,
) -> [u8; TRACEPARENT_LEN] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; TRACEPARENT_LEN];
    out[0] = b'0';
    out[1] = b'0';
    out[3..35].copy_from_slice(&trace_id.to_hex_array());
    out[36..52].copy_from_slice(&span_id.to_hex_array());
    let flags = flags.known().bits();
    out[53] = HEX[usize::from(flags >> 4)];
    out[54] = HEX[usize::from(flags & 0x0f)];
    out
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        f.write_str(std::str::from_utf8(&bytes).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TraceParentErrorKind::*;
    use proptest::prelude::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn kind(input: &str) -> Result<TraceParent, TraceParentErrorKind> {
        TraceParent::parse(input.as_bytes()).map_err(|e| e.kind())
    }

    #[test]
    fn valid_values() {
        let parsed = TraceParent::parse(VALID.as_bytes()).expect("valid");
        assert_eq!(parsed.version, 0);
        assert_eq!(
            parsed.trace_id.to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(parsed.parent_id.to_string(), "00f067aa0ba902b7");
        assert!(parsed.flags.is_sampled());
        assert_eq!(parsed.to_string(), VALID);
    }

    /// Each named case is one rule of W3C Trace Context Level 2 (TP-2 … TP-12).
    #[test]
    fn table_of_rules() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let span = "00f067aa0ba902b7";
        let accepted: &[(&str, String)] = &[
            ("leading space", format!(" 00-{trace}-{span}-01")),
            ("leading tab", format!("\t00-{trace}-{span}-01")),
            ("trailing space", format!("00-{trace}-{span}-01 ")),
            ("both sides", format!("\t 00-{trace}-{span}-01 \t")),
            (
                "future version exact length",
                format!("cc-{trace}-{span}-01"),
            ),
            (
                "future version with more fields",
                format!("cc-{trace}-{span}-01-what-the-future-will-be-like"),
            ),
            (
                "unknown flags kept on parse",
                format!("00-{trace}-{span}-ff"),
            ),
            ("random flag", format!("00-{trace}-{span}-02")),
            ("version fe", format!("fe-{trace}-{span}-00")),
        ];
        for (name, input) in accepted {
            assert!(kind(input).is_ok(), "{name}: {input:?} should parse");
        }
        let rejected: &[(&str, String, TraceParentErrorKind)] = &[
            ("empty", String::new(), TooShort),
            (
                "version ff",
                format!("ff-{trace}-{span}-01"),
                ForbiddenVersion,
            ),
            (
                "version uppercase",
                format!("0A-{trace}-{span}-01"),
                InvalidVersion,
            ),
            (
                "version .0",
                format!(".0-{trace}-{span}-01"),
                InvalidVersion,
            ),
            (
                "version 0.",
                format!("0.-{trace}-{span}-01"),
                InvalidVersion,
            ),
            (
                "version too short",
                format!("0-{trace}-{span}-01"),
                InvalidVersion,
            ),
            (
                "version too long",
                format!("000-{trace}-{span}-01"),
                InvalidVersion,
            ),
            (
                "version 0000",
                format!("0000-{trace}-{span}-01"),
                InvalidVersion,
            ),
            (
                "00 with trailing data",
                format!("00-{trace}-{span}-01-what"),
                TrailingData,
            ),
            (
                "00 with trailing dot",
                format!("00-{trace}-{span}-01."),
                TrailingData,
            ),
            (
                "future version with dot",
                format!("cc-{trace}-{span}-01.what-the-future"),
                TrailingData,
            ),
            (
                "future version too short",
                format!("cc-{trace}-{span}-1"),
                TooShort,
            ),
            (
                "trace id all zero",
                format!("00-{}-{span}-01", "0".repeat(32)),
                ZeroTraceId,
            ),
            (
                "trace id uppercase",
                format!("00-{}-{span}-01", trace.to_uppercase()),
                InvalidTraceId,
            ),
            (
                "trace id illegal char",
                format!("00-4bf92f3577b34da6a3ce929d0e0e473.-{span}-01"),
                InvalidTraceId,
            ),
            (
                "trace id too long",
                format!("00-{trace}0-{span}-01"),
                TrailingData,
            ),
            (
                "trace id too short",
                format!("00-{}-{span}-01", &trace[1..]),
                TooShort,
            ),
            (
                "trace id with sign",
                format!("00-+bf92f3577b34da6a3ce929d0e0e4736-{span}-01"),
                InvalidTraceId,
            ),
            (
                "parent id all zero",
                format!("00-{trace}-0000000000000000-01"),
                ZeroParentId,
            ),
            (
                "parent id uppercase",
                format!("00-{trace}-00F067AA0BA902B7-01"),
                InvalidParentId,
            ),
            (
                "parent id illegal char",
                format!("00-{trace}-00f067aa0ba902b.-01"),
                InvalidParentId,
            ),
            (
                "parent id too long",
                format!("00-{trace}-{span}0-01"),
                TrailingData,
            ),
            (
                "parent id too short",
                format!("00-{trace}-{}-01", &span[1..]),
                TooShort,
            ),
            (
                "flags uppercase",
                format!("00-{trace}-{span}-0A"),
                InvalidFlags,
            ),
            ("flags .0", format!("00-{trace}-{span}-.0"), InvalidFlags),
            ("flags 0.", format!("00-{trace}-{span}-0."), InvalidFlags),
            (
                "flags too long",
                format!("00-{trace}-{span}-001"),
                TrailingData,
            ),
            ("flags too short", format!("00-{trace}-{span}-1"), TooShort),
            (
                "wrong delimiter",
                format!("00_{trace}-{span}-01"),
                InvalidVersion,
            ),
            (
                "inner whitespace",
                format!("00- {}-{span}-01", &trace[1..]),
                InvalidTraceId,
            ),
        ];
        for (name, input, expected) in rejected {
            assert_eq!(kind(input).err(), Some(*expected), "{name}: {input:?}");
        }
    }

    #[test]
    fn output_is_version_00_with_known_flags_only() {
        let input = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff-future";
        let parsed = TraceParent::parse(input.as_bytes()).expect("valid");
        assert_eq!(parsed.flags.bits(), 0xff);
        assert_eq!(
            parsed.to_string(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03"
        );
    }

    #[test]
    fn errors_read_well() {
        let error = TraceParent::parse(b"ff-").expect_err("invalid");
        assert_eq!(error.offset(), 0);
        assert_eq!(
            error.to_string(),
            "traceparent has the forbidden version ff (at byte 0)"
        );
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(trace in 1u128.., span in 1u64.., flags in 0u8..4) {
            let bytes = format_traceparent(TraceId::from_int(trace), SpanId::from_int(span), TraceFlags::from_bits(flags));
            let parsed = TraceParent::parse(&bytes).expect("formatted value parses");
            prop_assert_eq!(parsed.trace_id.to_int(), trace);
            prop_assert_eq!(parsed.parent_id.to_int(), span);
            prop_assert_eq!(parsed.flags.bits(), flags);
            prop_assert_eq!(parsed.to_bytes(), bytes);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = TraceParent::parse(&bytes);
        }

        #[test]
        fn parse_accepts_only_lowercase_hex(s in "[0-9a-fA-F-]{55}") {
            if let Ok(parsed) = TraceParent::parse(s.as_bytes()) {
                prop_assert!(!s.bytes().any(|b| b.is_ascii_uppercase()));
                prop_assert_eq!(parsed.to_string(), format!("00{}", &s[2..53]) + &format!("{:02x}", parsed.flags.known().bits()));
            }
        }
    }
}
