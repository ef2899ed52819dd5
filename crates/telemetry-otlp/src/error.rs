//! Why an OTLP payload could not be decoded, and where.

use std::fmt;

/// Why protobuf input was rejected: what was wrong, at which byte offset of the input, and
/// in which message and field when that is known.
///
/// Boxed, so that the `Result`s threaded through every decoding step stay two words wide on
/// the success path; errors are rare and allocate once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(Box<DecodeErrorInner>);

#[derive(Clone, Debug, PartialEq, Eq)]
struct DecodeErrorInner {
    kind: DecodeErrorKind,
    offset: usize,
    message: Option<&'static str>,
    field: Option<u32>,
}

/// The kinds of [`DecodeError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended inside a value, or a length points past the end of its message.
    Truncated,
    /// A varint is longer than ten bytes or does not fit in 64 bits.
    VarintOverflow,
    /// A field key has number 0 or one above the protobuf maximum.
    InvalidFieldNumber,
    /// A field key has wire type 6 or 7, which do not exist.
    InvalidWireType(u8),
    /// A known field arrived with another wire type than its declaration's.
    WrongWireType {
        /// The wire type found.
        found: u8,
    },
    /// A group end tag without its matching start.
    UnmatchedEndGroup,
    /// Messages (or groups) are nested deeper than the decoder allows.
    DepthLimit,
    /// A `string` field is not UTF-8.
    InvalidUtf8,
    /// A trace or span id has the wrong number of bytes.
    InvalidIdLength {
        /// The required length: 16 for a trace id, 8 for a span id.
        expected: usize,
        /// The length found (0 when the field is missing).
        found: usize,
    },
    /// A trace or span id is all zeroes.
    ZeroId,
    /// A `trace_state` does not follow the W3C `tracestate` grammar.
    InvalidTraceState,
    /// An enum field holds a value this decoder does not know.
    UnknownEnumValue(i64),
    /// A resource has more attributes than the decoder accepts (1024).
    TooManyAttributes,
}

impl DecodeError {
    #[cold]
    pub(crate) fn new(kind: DecodeErrorKind, offset: usize) -> Self {
        DecodeError(Box::new(DecodeErrorInner {
            kind,
            offset,
            message: None,
            field: None,
        }))
    }

    /// Names the message and field being decoded, unless an inner one was named already.
    #[cold]
    pub(crate) fn within(mut self, message: &'static str, field: Option<u32>) -> Self {
        if self.0.message.is_none() {
            self.0.message = Some(message);
            self.0.field = field;
        }
        self
    }

    /// What was wrong.
    pub fn kind(&self) -> DecodeErrorKind {
        self.0.kind
    }

    /// Byte offset in the input where the offending value (or its field key) starts.
    pub fn offset(&self) -> usize {
        self.0.offset
    }

    /// The protobuf message being decoded, e.g. `opentelemetry.proto.trace.v1.Span`.
    pub fn message(&self) -> Option<&'static str> {
        self.0.message
    }

    /// The number of the field being decoded, when the error is inside one.
    pub fn field(&self) -> Option<u32> {
        self.0.field
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let error = &self.0;
        match error.kind {
            DecodeErrorKind::Truncated => f.write_str("input ends inside a value")?,
            DecodeErrorKind::VarintOverflow => f.write_str("varint does not fit in 64 bits")?,
            DecodeErrorKind::InvalidFieldNumber => f.write_str("invalid field number")?,
            DecodeErrorKind::InvalidWireType(wire_type) => {
                write!(f, "invalid wire type {wire_type}")?;
            }
            DecodeErrorKind::WrongWireType { found } => {
                write!(f, "field has the wrong wire type {found}")?;
            }
            DecodeErrorKind::UnmatchedEndGroup => f.write_str("group end without its start")?,
            DecodeErrorKind::DepthLimit => f.write_str("messages nested too deeply")?,
            DecodeErrorKind::InvalidUtf8 => f.write_str("string is not UTF-8")?,
            DecodeErrorKind::InvalidIdLength { expected, found } => {
                write!(f, "id must be {expected} bytes, found {found}")?;
            }
            DecodeErrorKind::ZeroId => f.write_str("an all-zero id is invalid")?,
            DecodeErrorKind::InvalidTraceState => {
                f.write_str("trace_state is not a valid W3C tracestate")?;
            }
            DecodeErrorKind::UnknownEnumValue(value) => write!(f, "unknown enum value {value}")?,
            DecodeErrorKind::TooManyAttributes => f.write_str("too many resource attributes")?,
        }
        write!(f, " at byte {}", error.offset)?;
        if let Some(message) = error.message {
            write!(f, " in {message}")?;
            if let Some(field) = error.field {
                write!(f, " field {field}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

/// Why OTLP/JSON input was rejected: what was wrong and the path of the offending value,
/// e.g. `resourceSpans[0].scopeSpans[1].spans[3].traceId`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    kind: JsonErrorKind,
    path: String,
}

/// The kinds of [`JsonError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonErrorKind {
    /// The input is not JSON (or not UTF-8); the path is then the line and column.
    Syntax,
    /// A value has the wrong JSON type for its field, e.g. a string where an object belongs.
    WrongType,
    /// A number is out of range for its field, or a string holding one does not parse.
    InvalidNumber,
    /// A `traceId`, `spanId` or `parentSpanId` is not hex of the right length.
    InvalidId,
    /// A trace or span id is all zeroes.
    ZeroId,
    /// `bytesValue` is not base64.
    InvalidBase64,
    /// A `traceState` does not follow the W3C `tracestate` grammar.
    InvalidTraceState,
    /// An enum field holds a value this decoder does not know (names are not accepted).
    UnknownEnumValue,
    /// Arrays and objects are nested deeper than the decoder allows (256); the path is then
    /// the byte offset.
    DepthLimit,
    /// A resource has more attributes than the decoder accepts (1024).
    TooManyAttributes,
}

impl JsonError {
    pub(crate) fn new(kind: JsonErrorKind, path: String) -> Self {
        JsonError { kind, path }
    }

    /// Puts the object key `key` in front of the path.
    pub(crate) fn under(mut self, key: &str) -> Self {
        if self.path.is_empty() || self.path.starts_with('[') {
            self.path.insert_str(0, key);
        } else {
            self.path.insert(0, '.');
            self.path.insert_str(0, key);
        }
        self
    }

    /// Puts the array index `index` in front of the path.
    pub(crate) fn at(mut self, index: usize) -> Self {
        let prefix = format!("[{index}]");
        if !self.path.is_empty() && !self.path.starts_with('[') {
            self.path.insert(0, '.');
        }
        self.path.insert_str(0, &prefix);
        self
    }

    /// What was wrong.
    pub fn kind(&self) -> JsonErrorKind {
        self.kind
    }

    /// Where: the JSON path of the offending value.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            JsonErrorKind::Syntax => "invalid JSON",
            JsonErrorKind::WrongType => "value has the wrong JSON type",
            JsonErrorKind::InvalidNumber => "number out of range or unparsable",
            JsonErrorKind::InvalidId => "id is not hex of the right length",
            JsonErrorKind::ZeroId => "an all-zero id is invalid",
            JsonErrorKind::InvalidBase64 => "bytes are not base64",
            JsonErrorKind::InvalidTraceState => "traceState is not a valid W3C tracestate",
            JsonErrorKind::UnknownEnumValue => "unknown enum value",
            JsonErrorKind::DepthLimit => "values nested too deeply",
            JsonErrorKind::TooManyAttributes => "too many resource attributes",
        };
        write!(f, "{what} at {}", self.path)
    }
}

impl std::error::Error for JsonError {}
