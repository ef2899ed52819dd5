//! Trace and span identifiers.

use std::fmt;

use crate::hex::{self, DecodeFailure};
use crate::rng;

/// A 16-byte trace identifier. All zeroes is the invalid id, [`TraceId::INVALID`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId([u8; 16]);

/// An 8-byte span identifier. All zeroes is the invalid id, [`SpanId::INVALID`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId([u8; 8]);

/// Why a hex string is not a valid trace or span id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdError {
    kind: IdErrorKind,
}

/// The kinds of [`IdError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdErrorKind {
    /// The input is not exactly `expected` bytes long.
    Length {
        /// The required number of hex digits (32 for a trace id, 16 for a span id).
        expected: usize,
        /// The length of the input.
        found: usize,
    },
    /// The byte at `index` is not a lowercase hex digit.
    NotLowercaseHex {
        /// Offset of the offending byte in the input.
        index: usize,
    },
    /// Every digit is zero, which W3C Trace Context and OTLP reserve for "no id".
    AllZero,
}

impl IdError {
    /// What was wrong with the input.
    pub fn kind(&self) -> IdErrorKind {
        self.kind
    }

    fn from_failure(failure: DecodeFailure, expected: usize, found: usize) -> Self {
        let kind = match failure {
            DecodeFailure::Length => IdErrorKind::Length { expected, found },
            DecodeFailure::Digit(index) => IdErrorKind::NotLowercaseHex { index },
        };
        IdError { kind }
    }
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            IdErrorKind::Length { expected, found } => {
                write!(f, "id must be {expected} hex digits, found {found} bytes")
            }
            IdErrorKind::NotLowercaseHex { index } => {
                write!(f, "byte {index} of the id is not a lowercase hex digit")
            }
            IdErrorKind::AllZero => f.write_str("an all-zero id is invalid"),
        }
    }
}

impl std::error::Error for IdError {}

macro_rules! id_type {
    ($name:ident, $len:literal, $int:ty, $what:literal) => {
        impl $name {
            #[doc = concat!("The invalid ", $what, " id: all zeroes.")]
            pub const INVALID: $name = $name([0; $len]);

            #[doc = concat!("Wraps raw bytes as a ", $what, " id (which may be invalid).")]
            #[inline]
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                $name(bytes)
            }

            #[doc = concat!("The ", $what, " id as big-endian bytes.")]
            #[inline]
            pub const fn to_bytes(self) -> [u8; $len] {
                self.0
            }

            #[doc = concat!("Borrows the ", $what, " id's bytes.")]
            #[inline]
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            #[doc = concat!("Makes a ", $what, " id from its big-endian integer value.")]
            #[inline]
            pub const fn from_int(value: $int) -> Self {
                $name(value.to_be_bytes())
            }

            #[doc = concat!("The ", $what, " id as a big-endian integer.")]
            #[inline]
            pub const fn to_int(self) -> $int {
                <$int>::from_be_bytes(self.0)
            }

            /// True unless every byte is zero.
            #[inline]
            pub const fn is_valid(self) -> bool {
                self.to_int() != 0
            }

            #[doc = concat!("Parses exactly 2×", stringify!($len), " lowercase hex digits; all zeroes is an error.")]
            pub fn from_hex(input: &str) -> Result<Self, IdError> {
                Self::from_hex_bytes(input.as_bytes())
            }

            /// Like [`Self::from_hex`], on raw bytes (header values need not be UTF-8).
            pub fn from_hex_bytes(input: &[u8]) -> Result<Self, IdError> {
                let bytes = hex::decode_exact::<$len>(input)
                    .map_err(|failure| IdError::from_failure(failure, 2 * $len, input.len()))?;
                let id = $name(bytes);
                if id.is_valid() {
                    Ok(id)
                } else {
                    Err(IdError {
                        kind: IdErrorKind::AllZero,
                    })
                }
            }

            /// Writes the id as lowercase hex into a fixed buffer, without allocating.
            #[inline]
            pub fn to_hex_array(self) -> [u8; 2 * $len] {
                let mut out = [0u8; 2 * $len];
                hex::encode_into(&self.0, &mut out);
                out
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let hex = self.to_hex_array();
                // The buffer holds only ASCII hex digits.
                f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::from_hex(s)
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                $name(bytes)
            }
        }
    };
}

id_type!(TraceId, 16, u128, "trace");
id_type!(SpanId, 8, u64, "span");

impl TraceId {
    /// A fresh random trace id, never invalid.
    ///
    /// All 128 bits come from the thread-local generator, so the right-most 56 bits are
    /// uniformly random as W3C Trace Context Level 2 requires for the `random` flag.
    #[inline]
    pub fn random() -> Self {
        loop {
            let id = TraceId::from_int(
                (u128::from(rng::next_u64()) << 64) | u128::from(rng::next_u64()),
            );
            if id.is_valid() {
                return id;
            }
        }
    }
}

impl SpanId {
    /// A fresh random span id, never invalid.
    #[inline]
    pub fn random() -> Self {
        loop {
            let id = SpanId::from_int(rng::next_u64());
            if id.is_valid() {
                return id;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_formats_lowercase_hex() -> Result<(), IdError> {
        let trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736")?;
        assert_eq!(trace.to_int(), 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(trace.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let span = SpanId::from_hex("00f067aa0ba902b7")?;
        assert_eq!(
            span.to_bytes(),
            [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
        assert_eq!(format!("{span:?}"), "SpanId(00f067aa0ba902b7)");
        Ok(())
    }

    #[test]
    fn rejects_each_kind_of_bad_input() {
        let cases: &[(&str, IdErrorKind)] = &[
            (
                "4bf92f3577b34da6a3ce929d0e0e473",
                IdErrorKind::Length {
                    expected: 32,
                    found: 31,
                },
            ),
            (
                "4bf92f3577b34da6a3ce929d0e0e47361",
                IdErrorKind::Length {
                    expected: 32,
                    found: 33,
                },
            ),
            (
                "4BF92F3577B34DA6A3CE929D0E0E4736",
                IdErrorKind::NotLowercaseHex { index: 1 },
            ),
            (
                "+bf92f3577b34da6a3ce929d0e0e4736",
                IdErrorKind::NotLowercaseHex { index: 0 },
            ),
            (
                "4bf92f3577b34da6a3ce929d0e0e473g",
                IdErrorKind::NotLowercaseHex { index: 31 },
            ),
            ("00000000000000000000000000000000", IdErrorKind::AllZero),
        ];
        for (input, kind) in cases {
            assert_eq!(
                TraceId::from_hex(input).map_err(|e| e.kind()),
                Err(*kind),
                "{input}"
            );
        }
        assert_eq!(
            SpanId::from_hex("0000000000000000").map_err(|e| e.kind()),
            Err(IdErrorKind::AllZero)
        );
    }

    #[test]
    fn random_ids_are_valid_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(TraceId::random()));
            assert!(SpanId::random().is_valid());
        }
    }

    proptest! {
        #[test]
        fn hex_round_trips(value in 1u128..) {
            let id = TraceId::from_int(value);
            let hex = id.to_hex_array();
            prop_assert_eq!(TraceId::from_hex_bytes(&hex), Ok(id));
        }

        #[test]
        fn parsing_never_panics(input in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = TraceId::from_hex_bytes(&input);
            let _ = SpanId::from_hex_bytes(&input);
        }
    }
}
