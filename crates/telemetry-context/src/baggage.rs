//! W3C Baggage: user-defined `name=value` pairs that travel with a request.
//!
//! Parsing is lenient per member: the spec leaves invalid input undefined, and we choose to
//! drop only the offending member and keep the rest, counting what was dropped. Limits: the
//! first 64 members and at most 8192 bytes of serialised baggage are kept; members beyond
//! either limit are dropped whole, never cut. Values are percent-decoded (invalid UTF-8
//! becomes U+FFFD) and written back with only what the spec requires encoded, so a header
//! we accept is never longer when we pass it on; properties are kept as opaque metadata and
//! written back with the whitespace around them removed.
//!
//! A `Baggage` is one shared string: the header exactly as we write it (so injecting costs
//! nothing), followed, only when some values needed percent-encoding, by their decoded forms.
//! Parsing is one pass per member over its bytes, and a whole header costs two allocations
//! (the buffer it is built in and the shared string), whatever the number of members; only
//! escapes that decode to non-ASCII bytes allocate once more, to check their UTF-8.

use std::fmt;
use std::sync::Arc;

/// Most members kept.
pub const MAX_MEMBERS: usize = 64;
/// Most bytes of serialised baggage kept (all members, with separators).
pub const MAX_BYTES: usize = 8192;

/// One baggage member, borrowed from its [`Baggage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaggageEntry<'a> {
    /// The member's name (an RFC 7230 token).
    pub name: &'a str,
    /// The decoded value.
    pub value: &'a str,
    /// Properties after the value (`;k=v;flag`), as received with the whitespace around
    /// them removed; empty if none.
    pub metadata: &'a str,
}

/// An immutable, ordered set of baggage members. Cloning is cheap.
///
/// Stored as one shared string: the canonical header (members joined by `,`, values
/// encoded exactly as [`Baggage::header`] writes them), then, when some value needed
/// percent-encoding, a `\n` (which no header holds) and the decoded form of each such
/// value in order, each after its length as 4 lowercase hex digits. The header determines
/// the decoded values, so equal baggage is equal strings.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Baggage(Option<Arc<str>>);

/// Why a baggage name, value or header member was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaggageError {
    kind: BaggageErrorKind,
}

/// The kinds of [`BaggageError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BaggageErrorKind {
    /// The name is empty or has a character outside the token set.
    InvalidName,
    /// A member has no `=`.
    MissingEquals,
    /// The value has a character that must be percent-encoded, or a bad `%` escape.
    InvalidValue,
    /// A property after `;` is malformed.
    InvalidProperty,
    /// Adding the member would exceed 64 members or 8192 bytes.
    LimitExceeded,
}

impl BaggageError {
    /// What was wrong.
    pub fn kind(&self) -> BaggageErrorKind {
        self.kind
    }
}

impl fmt::Display for BaggageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            BaggageErrorKind::InvalidName => "baggage name is not a token",
            BaggageErrorKind::MissingEquals => "baggage member has no '='",
            BaggageErrorKind::InvalidValue => {
                "baggage value has a character that must be percent-encoded"
            }
            BaggageErrorKind::InvalidProperty => "baggage property is malformed",
            BaggageErrorKind::LimitExceeded => "baggage exceeds 64 members or 8192 bytes",
        })
    }
}

impl std::error::Error for BaggageError {}

/// The outcome of parsing baggage headers leniently.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ParsedBaggage {
    /// The members that were valid and within the limits.
    pub baggage: Baggage,
    /// How many members were malformed and dropped.
    pub invalid: usize,
    /// How many valid members were dropped for exceeding the limits.
    pub over_limit: usize,
}

/// RFC 7230 `tchar`: one of the byte classes, so that the member scanner checks each byte
/// with one table load.
const TOKEN: u8 = 1;
/// `baggage-octet`: printable ASCII except space, `"`, `,`, `;` and `\`.
const OCTET: u8 = 2;

/// [`TOKEN`] and [`OCTET`] of every byte.
static CLASSES: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        // RFC 7230 `tchar`.
        if byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            )
        {
            table[b] |= TOKEN;
        }
        if matches!(byte, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e) {
            table[b] |= OCTET;
        }
        b += 1;
    }
    table
}

fn class(b: u8) -> u8 {
    CLASSES[usize::from(b)]
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| class(b) & TOKEN != 0)
}

/// True for the bytes [`percent_encode`] writes as they are: baggage octets other than `%`.
fn is_written_raw(b: u8) -> bool {
    class(b) & OCTET != 0 && b != b'%'
}

/// Length of `value` once [`percent_encode`]d, without encoding it.
fn percent_encoded_len(value: impl IntoIterator<Item = u8>) -> usize {
    value
        .into_iter()
        .map(|b| if is_written_raw(b) { 1 } else { 3 })
        .sum()
}

/// Encodes exactly what the spec requires: bytes outside `baggage-octet`, and `%`. Encoding
/// more (as the W3C reference implementation does with `=`, `!`, `/`, ...) would make the
/// header we write longer than the one we accepted, and the 8192-byte limit, which applies
/// to what is on the wire, would then reject a member a conforming sender was entitled to.
fn percent_encode(value: impl IntoIterator<Item = u8>, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in value {
        if is_written_raw(b) {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0f)]]);
        }
    }
}

/// The value of one hex digit, either case (0 for any other byte, which callers exclude).
fn hex_digit(b: u8) -> u8 {
    (b as char).to_digit(16).unwrap_or_default() as u8
}

/// The bytes `value` decodes to: baggage octets whose every `%` starts a `%XX` escape.
fn decode_escapes(value: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || match value.get(i..)? {
        [b'%', hi, lo, ..] => {
            i += 3;
            Some((hex_digit(*hi) << 4) | hex_digit(*lo))
        }
        [b, ..] => {
            i += 1;
            Some(*b)
        }
        [] => None,
    })
}

/// True when every escape of `value` decodes to ASCII, so that the decoded bytes are UTF-8
/// without checking.
fn escapes_are_ascii(value: &[u8]) -> bool {
    value
        .iter()
        .zip(value.iter().skip(1))
        .all(|(&b, &hi)| b != b'%' || matches!(hi, b'0'..=b'7'))
}

/// A member's value as the parser or the API hands it to [`Builder::push`].
#[derive(Clone, Copy)]
enum Value<'a> {
    /// Baggage octets without `%`: already what [`percent_encode`] would write.
    Canonical(&'a [u8]),
    /// Baggage octets with valid `%XX` escapes, decoded on the way in.
    Escaped(&'a [u8]),
    /// A decoded value, encoded on the way in.
    Decoded(&'a str),
}

/// One valid member, borrowed from the header it was parsed from.
struct Member<'a> {
    name: &'a [u8],
    /// The value with its whitespace trimmed, escapes still in it.
    value: &'a [u8],
    /// True when `value` holds a `%`, so it must be decoded.
    escaped: bool,
    /// The properties from the first `;`, trimmed; normalised already unless `spaced`.
    metadata: &'a [u8],
    /// True when whitespace inside `metadata` must be removed.
    spaced: bool,
}

/// Scans one member (trimmed, non-empty, without `,`) in one pass over its bytes: the name
/// up to `=`, the value up to `;`, then the properties, each byte checked once against the
/// grammar. Errors come in the order of the grammar: no `=`, name, value, properties.
fn scan_member(bytes: &[u8]) -> Result<Member<'_>, BaggageErrorKind> {
    let n = bytes.len();
    // The name: a tight loop over token bytes, then optional whitespace before `=`. What
    // stops it otherwise decides between a missing `=` and a bad name.
    let mut i = 0;
    while i < n && class(bytes[i]) & TOKEN != 0 {
        i += 1;
    }
    let name_end = i;
    while i < n && is_ows(bytes[i]) {
        i += 1;
    }
    if bytes.get(i) != Some(&b'=') {
        let has_equals = bytes[i..]
            .iter()
            .take_while(|&&b| b != b';')
            .any(|&b| b == b'=');
        return Err(if has_equals {
            BaggageErrorKind::InvalidName
        } else {
            BaggageErrorKind::MissingEquals
        });
    }
    if name_end == 0 {
        return Err(BaggageErrorKind::InvalidName);
    }
    i += 1;
    // The value: optional whitespace, baggage octets, optional whitespace, then `;` or the
    // end of the member.
    while i < n && is_ows(bytes[i]) {
        i += 1;
    }
    let value_start = i;
    let mut escaped = false;
    while i < n && class(bytes[i]) & OCTET != 0 {
        escaped |= bytes[i] == b'%';
        i += 1;
    }
    let value_end = i;
    while i < n && is_ows(bytes[i]) {
        i += 1;
    }
    if (i < n && bytes[i] != b';') || (escaped && !escapes_ok(&bytes[value_start..value_end])) {
        return Err(BaggageErrorKind::InvalidValue);
    }
    // The properties: `;key` or `;key=value`, whitespace allowed around each part.
    let metadata_start = i;
    let mut spaced = false;
    while i < n {
        // At a `;`.
        i += 1;
        let mut part_end = i;
        let mut seen_token = false;
        let mut key_bad = false;
        while i < n && bytes[i] != b'=' && bytes[i] != b';' {
            let b = bytes[i];
            if class(b) & TOKEN != 0 {
                key_bad |= seen_token && part_end != i;
                seen_token = true;
                part_end = i + 1;
            } else if is_ows(b) {
                spaced = true;
            } else {
                key_bad = true;
            }
            i += 1;
        }
        if key_bad || !seen_token {
            return Err(BaggageErrorKind::InvalidProperty);
        }
        if i < n && bytes[i] == b'=' {
            i += 1;
            let mut seen_octet = false;
            let mut value_end = i;
            while i < n && bytes[i] != b';' {
                let b = bytes[i];
                if class(b) & OCTET != 0 {
                    if seen_octet && value_end != i {
                        return Err(BaggageErrorKind::InvalidProperty);
                    }
                    seen_octet = true;
                    value_end = i + 1;
                } else if is_ows(b) {
                    spaced = true;
                } else {
                    return Err(BaggageErrorKind::InvalidProperty);
                }
                i += 1;
            }
        }
    }
    Ok(Member {
        name: &bytes[..name_end],
        value: &bytes[value_start..value_end],
        escaped,
        metadata: &bytes[metadata_start..],
        spaced,
    })
}

/// True when every `%` in `value` starts a `%XX` escape.
fn escapes_ok(value: &[u8]) -> bool {
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'%' {
            match value.get(i + 1..i + 3) {
                Some(&[hi, lo]) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => i += 3,
                _ => return false,
            }
        } else {
            i += 1;
        }
    }
    true
}

/// Writes properties without the whitespace around their parts (`;k=v;flag`), from
/// properties [`scan_member`] accepted, or from the API's `k=v;flag` (without the leading
/// `;`), which it checks.
fn normalise_properties(properties: &str, out: &mut Vec<u8>) -> Result<(), BaggageErrorKind> {
    for property in properties.split(';') {
        let (key, value) = match property.split_once('=') {
            Some((key, value)) => (key, Some(value.trim_matches([' ', '\t']))),
            None => (property, None),
        };
        let key = key.trim_matches([' ', '\t']);
        if !is_token(key.as_bytes())
            || value.is_some_and(|v| !v.bytes().all(|b| class(b) & OCTET != 0))
        {
            return Err(BaggageErrorKind::InvalidProperty);
        }
        out.push(b';');
        out.extend_from_slice(key.as_bytes());
        if let Some(value) = value {
            out.push(b'=');
            out.extend_from_slice(value.as_bytes());
        }
    }
    Ok(())
}

/// Builds the stored string of a [`Baggage`], member by member, applying the limits to the
/// set as it will be after each insert.
///
/// A member whose name is already present replaces the earlier one, which moves to the end.
/// No allocation per member: `starts` and `escaped` are fixed-size and the header grows in
/// one buffer; the decoded values that need escapes are appended at the end, decoded back
/// from the header (encoding is exact, so that gives the same value).
struct Builder {
    /// The canonical header so far (ASCII): at most [`MAX_BYTES`], which `u16` offsets
    /// cover.
    header: Vec<u8>,
    /// Where each member starts in `header`.
    starts: [u16; MAX_MEMBERS],
    /// Members in `header`.
    count: usize,
    /// Bit `i`: member `i`'s value has escapes in the header.
    escaped: u64,
}

impl Builder {
    fn with_capacity(capacity: usize) -> Self {
        Builder {
            header: Vec::with_capacity(capacity.min(MAX_BYTES) + 16),
            starts: [0; MAX_MEMBERS],
            count: 0,
            escaped: 0,
        }
    }

    /// The members of `baggage`, in order.
    fn from_baggage(baggage: &Baggage) -> Self {
        let mut builder = Builder::with_capacity(baggage.header().len() + 64);
        for entry in baggage.iter_entries() {
            // Fits: it was within the limits where it came from.
            let _ = builder.push(
                entry.name.as_bytes(),
                Value::Decoded(entry.value),
                Metadata::Normalised(entry.metadata.as_bytes()),
            );
        }
        builder
    }

    /// End of member `i` in `header` (before its `,`).
    fn end(&self, i: usize) -> usize {
        if i + 1 < self.count {
            usize::from(self.starts[i + 1]) - 1
        } else {
            self.header.len()
        }
    }

    fn find(&self, name: &[u8]) -> Option<usize> {
        (0..self.count).find(|&i| {
            let member = &self.header[usize::from(self.starts[i])..];
            member.len() > name.len() && member[name.len()] == b'=' && &member[..name.len()] == name
        })
    }

    /// Adds a member, replacing one of the same name; refuses it, changing nothing, when the
    /// result would exceed the limits.
    fn push(&mut self, name: &[u8], value: Value<'_>, metadata: Metadata<'_>) -> Result<(), ()> {
        // Escapes that decode to more than ASCII may form invalid UTF-8, which becomes
        // U+FFFD: only then is the decoded value materialised.
        let lossy = match value {
            Value::Escaped(raw) if !escapes_are_ascii(raw) => {
                let bytes: Vec<u8> = decode_escapes(raw).collect();
                Some(String::from_utf8_lossy(&bytes).into_owned())
            }
            _ => None,
        };
        let (value_len, plain_len) = match (&value, &lossy) {
            (_, Some(lossy)) => (percent_encoded_len(lossy.bytes()), lossy.len()),
            (Value::Canonical(raw), None) => (raw.len(), raw.len()),
            (Value::Escaped(raw), None) => (
                percent_encoded_len(decode_escapes(raw)),
                decode_escapes(raw).count(),
            ),
            (Value::Decoded(value), None) => (percent_encoded_len(value.bytes()), value.len()),
        };
        let metadata_len = match metadata {
            Metadata::Normalised(metadata) => metadata.len(),
            Metadata::Spaced(metadata) => metadata.iter().filter(|&&b| !is_ows(b)).count(),
        };
        let length = name.len() + 1 + value_len + metadata_len;
        let existing = self.find(name);
        let (count, size) = match existing {
            Some(i) => (
                self.count,
                self.header.len() - (self.end(i) - usize::from(self.starts[i])) + length,
            ),
            None => (
                self.count + 1,
                self.header.len() + usize::from(self.count > 0) + length,
            ),
        };
        if count > MAX_MEMBERS || size > MAX_BYTES {
            return Err(());
        }
        if let Some(i) = existing {
            self.remove(i);
        }
        if self.count > 0 {
            self.header.push(b',');
        }
        // Below MAX_BYTES, checked above.
        self.starts[self.count] = u16::try_from(self.header.len()).unwrap_or(u16::MAX);
        self.header.extend_from_slice(name);
        self.header.push(b'=');
        match (value, &lossy) {
            (_, Some(lossy)) => percent_encode(lossy.bytes(), &mut self.header),
            (Value::Canonical(raw), None) => self.header.extend_from_slice(raw),
            (Value::Escaped(raw), None) => percent_encode(decode_escapes(raw), &mut self.header),
            (Value::Decoded(value), None) => percent_encode(value.bytes(), &mut self.header),
        }
        if value_len != plain_len {
            self.escaped |= 1 << self.count;
        }
        match metadata {
            Metadata::Normalised(metadata) => self.header.extend_from_slice(metadata),
            Metadata::Spaced(metadata) => {
                self.header.extend(metadata.iter().filter(|&&b| !is_ows(b)));
            }
        }
        self.count += 1;
        Ok(())
    }

    /// Removes member `i`.
    fn remove(&mut self, i: usize) {
        let start = usize::from(self.starts[i]);
        let end = self.end(i);
        // With the `,` after it, or for the last member the one before it.
        let range = if i + 1 < self.count {
            start..end + 1
        } else {
            start.saturating_sub(1)..end
        };
        let removed = u16::try_from(range.len()).unwrap_or(u16::MAX);
        self.header.drain(range);
        for j in i + 1..self.count {
            self.starts[j - 1] = self.starts[j] - removed;
        }
        let below = self.escaped & ((1 << i) - 1);
        let above = (self.escaped >> 1) & !((1 << i) - 1);
        self.escaped = below | above;
        self.count -= 1;
    }

    /// Appends the decoded values of the members with escapes, then shares the result.
    fn finish(mut self) -> Baggage {
        if self.count == 0 {
            return Baggage::EMPTY;
        }
        if self.escaped != 0 {
            let header_len = self.header.len();
            self.header.push(b'\n');
            for i in (0..self.count).filter(|&i| self.escaped & (1 << i) != 0) {
                let end = if i + 1 < self.count {
                    usize::from(self.starts[i + 1]) - 1
                } else {
                    header_len
                };
                let member = usize::from(self.starts[i])..end;
                let Some(equals) = self.header[member.clone()].iter().position(|&b| b == b'=')
                else {
                    continue;
                };
                let value_start = member.start + equals + 1;
                let value_end = self.header[value_start..end]
                    .iter()
                    .position(|&b| b == b';')
                    .map_or(end, |at| value_start + at);
                let mark = self.header.len();
                self.header.extend_from_slice(b"0000");
                let mut k = value_start;
                while k < value_end {
                    if self.header[k] == b'%' && k + 2 < value_end {
                        let b =
                            (hex_digit(self.header[k + 1]) << 4) | hex_digit(self.header[k + 2]);
                        self.header.push(b);
                        k += 3;
                    } else {
                        let b = self.header[k];
                        self.header.push(b);
                        k += 1;
                    }
                }
                // A decoded value is shorter than its escaped form, itself within MAX_BYTES.
                let len = (self.header.len() - mark - 4).min(0xffff);
                for (digit, shift) in [12, 8, 4, 0].into_iter().enumerate() {
                    self.header[mark + digit] = HEX_LOWER[(len >> shift) & 0xf];
                }
            }
        }
        // One UTF-8 check for everything: the header is ASCII, and each decoded value is
        // the exact inverse of an encoding of UTF-8.
        match String::from_utf8(self.header) {
            Ok(stored) => Baggage(Some(Arc::from(stored))),
            Err(_) => Baggage::EMPTY,
        }
    }
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// Properties as [`Builder::push`] takes them.
#[derive(Clone, Copy)]
enum Metadata<'a> {
    /// `;k=v;flag`, already without whitespace.
    Normalised(&'a [u8]),
    /// Checked properties with whitespace around their parts, to be removed.
    Spaced(&'a [u8]),
}

/// The decoded values stored after the header, in order (each after 4 hex digits of
/// length).
fn records(mut decoded: &str) -> impl Iterator<Item = &str> {
    std::iter::from_fn(move || {
        let len = usize::from_str_radix(decoded.get(..4)?, 16).ok()?;
        let value = decoded.get(4..4 + len)?;
        decoded = &decoded[4 + len..];
        Some(value)
    })
}

/// Scans header lines member by member, feeding valid members to `builder` and reporting
/// each member that is malformed or over the limits to `dropped`; stops at the first `Err`
/// `dropped` returns.
fn parse_into<'a, E>(
    values: impl IntoIterator<Item = &'a [u8]>,
    builder: &mut Builder,
    mut dropped: impl FnMut(Result<(), BaggageErrorKind>) -> Result<(), E>,
) -> Result<(), E> {
    for line in values {
        for raw in line.split(|&b| b == b',') {
            let raw = crate::traceparent::trim_ows(raw);
            if raw.is_empty() {
                continue;
            }
            let member = match scan_member(raw) {
                Ok(member) => member,
                Err(kind) => {
                    dropped(Err(kind))?;
                    continue;
                }
            };
            let metadata = if member.spaced {
                Metadata::Spaced(member.metadata)
            } else {
                Metadata::Normalised(member.metadata)
            };
            let value = if member.escaped {
                Value::Escaped(member.value)
            } else {
                Value::Canonical(member.value)
            };
            if builder.push(member.name, value, metadata).is_err() {
                dropped(Ok(()))?;
            }
        }
    }
    Ok(())
}

impl Baggage {
    /// No members.
    pub const EMPTY: Baggage = Baggage(None);

    /// Parses header values (several lines combine in order), dropping malformed members
    /// and members beyond the limits, and counting both. A later member with the same name
    /// replaces an earlier one; the limits apply to the result after replacement.
    pub fn parse_headers<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> ParsedBaggage {
        let mut parsed = ParsedBaggage::default();
        let mut values = values.into_iter().peekable();
        let capacity = values.peek().map_or(0, |first| first.len());
        let mut builder = Builder::with_capacity(capacity);
        let result: Result<(), std::convert::Infallible> =
            parse_into(values, &mut builder, |dropped| {
                match dropped {
                    Ok(()) => parsed.over_limit += 1,
                    Err(_) => parsed.invalid += 1,
                }
                Ok(())
            });
        let Ok(()) = result;
        parsed.baggage = builder.finish();
        parsed
    }

    /// Parses one header value strictly: the first malformed member, or exceeding the
    /// limits, is an error.
    pub fn parse(value: &str) -> Result<Baggage, BaggageError> {
        let mut builder = Builder::with_capacity(value.len());
        parse_into([value.as_bytes()], &mut builder, |dropped| {
            Err(BaggageError {
                kind: dropped.err().unwrap_or(BaggageErrorKind::LimitExceeded),
            })
        })?;
        Ok(builder.finish())
    }

    /// Sets `name` to `value` (replacing an earlier value, as the later set wins).
    pub fn insert(&self, name: &str, value: &str) -> Result<Baggage, BaggageError> {
        self.insert_with_metadata(name, value, "")
    }

    /// Sets `name` to `value` with properties `metadata` (e.g. `"ttl=30;private"`, without
    /// the leading `;`).
    pub fn insert_with_metadata(
        &self,
        name: &str,
        value: &str,
        metadata: &str,
    ) -> Result<Baggage, BaggageError> {
        if !is_token(name.as_bytes()) {
            return Err(BaggageError {
                kind: BaggageErrorKind::InvalidName,
            });
        }
        let mut properties = Vec::new();
        if !metadata.is_empty() {
            normalise_properties(metadata, &mut properties)
                .map_err(|kind| BaggageError { kind })?;
        }
        let mut builder = Builder::from_baggage(self);
        builder
            .push(
                name.as_bytes(),
                Value::Decoded(value),
                Metadata::Normalised(&properties),
            )
            .map_err(|()| BaggageError {
                kind: BaggageErrorKind::LimitExceeded,
            })?;
        Ok(builder.finish())
    }

    /// Removes `name`.
    #[must_use]
    pub fn remove(&self, name: &str) -> Baggage {
        if self.get(name).is_none() {
            return self.clone();
        }
        let mut builder = Builder::with_capacity(self.header().len());
        for entry in self.iter_entries().filter(|e| e.name != name) {
            // Fits: the set only shrinks.
            let _ = builder.push(
                entry.name.as_bytes(),
                Value::Decoded(entry.value),
                Metadata::Normalised(entry.metadata.as_bytes()),
            );
        }
        builder.finish()
    }

    /// The decoded value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter_entries()
            .find(|e| e.name == name)
            .map(|e| e.value)
    }

    /// The members, in order.
    pub fn iter_entries(&self) -> impl Iterator<Item = BaggageEntry<'_>> {
        let stored = self.0.as_deref().unwrap_or_default();
        let (header, decoded) = stored.split_once('\n').unwrap_or((stored, ""));
        let mut members = header.split(',').filter(|m| !m.is_empty());
        let mut decoded = records(decoded);
        std::iter::from_fn(move || {
            let member = members.next()?;
            let (name, rest) = member.split_once('=').unwrap_or((member, ""));
            let (value, metadata) = rest.split_at(rest.find(';').unwrap_or(rest.len()));
            // Escapes in the header mean the decoded value is the next record.
            let value = if value.contains('%') {
                decoded.next().unwrap_or_default()
            } else {
                value
            };
            Some(BaggageEntry {
                name,
                value,
                metadata,
            })
        })
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.iter_entries().count()
    }

    /// True when there are no members.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The `baggage` header value: members joined by `,`, values percent-encoded,
    /// properties as received. Stored as it is written, so this costs nothing.
    pub fn header(&self) -> &str {
        let stored = self.0.as_deref().unwrap_or_default();
        stored.split_once('\n').map_or(stored, |(header, _)| header)
    }
}

impl fmt::Debug for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter_entries()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lenient(headers: &[&str]) -> ParsedBaggage {
        Baggage::parse_headers(headers.iter().map(|h| h.as_bytes()))
    }

    #[test]
    fn w3c_reference_vectors() -> Result<(), BaggageError> {
        // Whitespace around keys, '=', values, ';' and ',' is not part of them (BG-2).
        let baggage = Baggage::parse(" SomeKey \t = \t SomeValue \t , other=1 ")?;
        assert_eq!(baggage.get("SomeKey"), Some("SomeValue"));
        assert_eq!(baggage.get("other"), Some("1"));
        // '=' inside a value: split on the first '=' only (BG-3).
        assert_eq!(
            Baggage::parse("SomeKey=SomeValue=equals")?.get("SomeKey"),
            Some("SomeValue=equals")
        );
        // Percent-encoding of exactly what BG-1 requires: bytes outside baggage-octet, and '%'.
        let tricky = "\t \"';=asdf!@#$%^&*()";
        let with_tricky = Baggage::EMPTY.insert("key", tricky)?;
        let encoded = with_tricky.header();
        assert_eq!(encoded, "key=%09%20%22'%3B=asdf!@#$%25^&*()");
        assert_eq!(Baggage::parse(encoded)?.get("key"), Some(tricky));
        // Properties are kept, repeated property names included (BG-4).
        let with_props = Baggage::parse("k=v;p1=1;p1=2;flag")?;
        assert_eq!(with_props.header(), "k=v;p1=1;p1=2;flag");
        // An encoded '=' in a property stays as it came: it is a key-only property.
        assert_eq!(Baggage::parse("k=v;p%3D1")?.header(), "k=v;p%3D1");
        // Invalid UTF-8 after decoding becomes U+FFFD.
        assert_eq!(Baggage::parse("k=%FF")?.get("k"), Some("\u{fffd}"));
        Ok(())
    }

    #[test]
    fn invalid_members_are_dropped_alone() {
        let cases: &[(&str, BaggageErrorKind)] = &[
            ("novalue", BaggageErrorKind::MissingEquals),
            ("=v", BaggageErrorKind::InvalidName),
            ("k y=v", BaggageErrorKind::InvalidName),
            ("k=a b", BaggageErrorKind::InvalidValue),
            ("k=a\"b", BaggageErrorKind::InvalidValue),
            ("k=a\\b", BaggageErrorKind::InvalidValue),
            ("k=%4", BaggageErrorKind::InvalidValue),
            ("k=%zz", BaggageErrorKind::InvalidValue),
            ("k=v;=x", BaggageErrorKind::InvalidProperty),
            ("k=v;p=a b", BaggageErrorKind::InvalidProperty),
        ];
        for (member, kind) in cases {
            assert_eq!(
                Baggage::parse(member).map_err(|e| e.kind()),
                Err(*kind),
                "{member}"
            );
            let parsed = lenient(&["a=1", member, "b=2"]);
            assert_eq!(parsed.invalid, 1, "{member}");
            assert_eq!(parsed.baggage.header(), "a=1,b=2", "{member}");
        }
    }

    #[test]
    fn limits_drop_whole_members() {
        // 64 members pass; the 65th is dropped whole.
        let members: Vec<String> = (0..65).map(|i| format!("k{i}=v")).collect();
        let parsed = lenient(&[&members.join(",")]);
        assert_eq!((parsed.baggage.len(), parsed.over_limit), (64, 1));

        // One member of 8192 bytes in all is kept; one byte more is not.
        let fits = format!("k={}", "v".repeat(MAX_BYTES - 2));
        assert_eq!(lenient(&[&fits]).baggage.len(), 1);
        let too_big = format!("k={}", "v".repeat(MAX_BYTES - 1));
        assert_eq!(lenient(&[&too_big]).over_limit, 1);

        // 512 small members: the first 64 survive.
        let many: Vec<String> = (0..512).map(|i| format!("k{i}=v")).collect();
        let parsed = lenient(&[&many.join(",")]);
        assert_eq!(parsed.baggage.len(), 64);
        assert_eq!(
            parsed.baggage.iter_entries().last().map(|e| e.name),
            Some("k63")
        );
        assert_eq!(
            Baggage::parse(&many.join(",")).map_err(|e| e.kind()),
            Err(BaggageErrorKind::LimitExceeded)
        );
    }

    #[test]
    fn headers_combine_and_later_names_win() {
        let parsed = lenient(&["a=1,b=2", "a=3"]);
        assert_eq!(parsed.baggage.header(), "b=2,a=3");
        assert!(lenient(&["", " , "]).baggage.is_empty());
    }

    /// Found by the `baggage` fuzz target: repeated names used to consume the limits.
    #[test]
    fn the_byte_limit_applies_to_the_header_as_received() {
        // Found in review: with '/' and ':' written back as %2F and %3A, the limit measured
        // our re-encoding, three times the received size, and dropped these valid members.
        let slashes = "/".repeat(3000);
        let header = format!("a={slashes},b={slashes}");
        let parsed = lenient(&[header.as_str()]);
        assert_eq!((parsed.invalid, parsed.over_limit), (0, 0));
        assert_eq!(parsed.baggage.header(), header);
        let colons = format!("k={}", ":".repeat(MAX_BYTES - 2));
        let parsed = lenient(&[colons.as_str()]);
        assert_eq!(parsed.over_limit, 0);
        assert_eq!(parsed.baggage.header().len(), MAX_BYTES);
    }

    #[test]
    fn duplicate_names_do_not_consume_the_limits() {
        let mut members: Vec<String> = (0..64).map(|i| format!("k{i}=v")).collect();
        members.push("k0=w".to_owned());
        let header = members.join(",");
        let parsed = lenient(&[&header]);
        assert_eq!((parsed.baggage.len(), parsed.over_limit), (64, 0));
        assert_eq!(parsed.baggage.get("k0"), Some("w"));
        assert_eq!(
            Baggage::parse(&header).map(|b| b.get("k0").map(str::to_owned)),
            Ok(Some("w".to_owned()))
        );

        let bytes = format!("a={},a={},b=12345678", "x".repeat(4090), "y".repeat(4090));
        let parsed = lenient(&[&bytes]);
        assert_eq!((parsed.baggage.len(), parsed.over_limit), (2, 0));
        assert_eq!(parsed.baggage.get("b"), Some("12345678"));
    }

    #[test]
    fn api_edits() -> Result<(), BaggageError> {
        let baggage = Baggage::EMPTY
            .insert("user", "alice")?
            .insert_with_metadata("tenant", "t 1", "ttl=30;private")?;
        assert_eq!(baggage.header(), "user=alice,tenant=t%201;ttl=30;private");
        assert_eq!(baggage.remove("user").len(), 1);
        assert_eq!(baggage.insert("user", "bob")?.get("user"), Some("bob"));
        assert!(baggage.insert("bad name", "x").is_err());
        assert!(baggage.insert_with_metadata("k", "v", "bad prop").is_err());
        Ok(())
    }

    /// The parser the one-pass scanner replaced (split, trim, decode, one allocation per
    /// name and value), kept as the oracle of the differential tests.
    #[allow(dead_code)]
    mod reference {
        use super::super::{BaggageError, BaggageErrorKind, MAX_BYTES, MAX_MEMBERS};
        use crate::traceparent::trim_ows;

        #[derive(Clone, Debug, PartialEq, Eq)]
        pub(super) struct Entry {
            pub(super) name: Box<str>,
            pub(super) value: Box<str>,
            pub(super) metadata: Box<str>,
        }

        /// RFC 7230 `tchar`.
        fn is_token_byte(b: u8) -> bool {
            b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
        }

        /// `baggage-octet`: printable ASCII except space, `"`, `,`, `;` and `\`.
        fn is_baggage_octet(b: u8) -> bool {
            matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
        }

        fn is_token(bytes: &[u8]) -> bool {
            !bytes.is_empty() && bytes.iter().all(|&b| is_token_byte(b))
        }

        fn percent_decode(bytes: &[u8]) -> Option<Box<str>> {
            if !bytes.iter().all(|&b| is_baggage_octet(b)) {
                return None;
            }
            if !bytes.contains(&b'%') {
                // Baggage octets are ASCII, so this is valid UTF-8: one allocation, no copy to fix up.
                return std::str::from_utf8(bytes).ok().map(Box::from);
            }
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                let b = bytes[i];
                if b == b'%' {
                    let digit = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16));
                    let (hi, lo) = (digit(bytes.get(i + 1))?, digit(bytes.get(i + 2))?);
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                } else {
                    out.push(b);
                    i += 1;
                }
            }
            Some(match String::from_utf8(out) {
                Ok(value) => value.into_boxed_str(),
                Err(error) => String::from_utf8_lossy(error.as_bytes()).into(),
            })
        }

        /// True for the bytes [`percent_encode`] writes as they are: baggage octets other than `%`.
        fn ref_written_raw(b: u8) -> bool {
            is_baggage_octet(b) && b != b'%'
        }

        /// Length of `value` once [`percent_encode`]d, without encoding it.
        fn percent_encoded_len(value: &str) -> usize {
            value
                .bytes()
                .map(|b| if ref_written_raw(b) { 1 } else { 3 })
                .sum()
        }

        /// Validates `;`-separated properties and returns them normalised (`;k=v;k2`), or an error.
        fn parse_properties(
            parts: &mut dyn Iterator<Item = &[u8]>,
        ) -> Result<String, BaggageErrorKind> {
            let mut metadata = String::new();
            for property in parts {
                let property = trim_ows(property);
                let (key, value) = match property.iter().position(|&b| b == b'=') {
                    Some(equals) => (
                        trim_ows(&property[..equals]),
                        Some(trim_ows(&property[equals + 1..])),
                    ),
                    None => (property, None),
                };
                if !is_token(key) || value.is_some_and(|v| !v.iter().all(|&b| is_baggage_octet(b)))
                {
                    return Err(BaggageErrorKind::InvalidProperty);
                }
                metadata.push(';');
                metadata.push_str(&String::from_utf8_lossy(key));
                if let Some(value) = value {
                    metadata.push('=');
                    metadata.push_str(&String::from_utf8_lossy(value));
                }
            }
            Ok(metadata)
        }

        fn parse_member(raw: &[u8]) -> Result<Entry, BaggageErrorKind> {
            let mut parts = raw.split(|&b| b == b';');
            let pair = parts.next().unwrap_or_default();
            let equals = pair
                .iter()
                .position(|&b| b == b'=')
                .ok_or(BaggageErrorKind::MissingEquals)?;
            let name = trim_ows(&pair[..equals]);
            if !is_token(name) {
                return Err(BaggageErrorKind::InvalidName);
            }
            let value = percent_decode(trim_ows(&pair[equals + 1..]))
                .ok_or(BaggageErrorKind::InvalidValue)?;
            let metadata = parse_properties(&mut parts)?;
            // A token is ASCII, checked above.
            let name = std::str::from_utf8(name).map_err(|_| BaggageErrorKind::InvalidName)?;
            Ok(Entry {
                name: name.into(),
                value,
                metadata: metadata.into(),
            })
        }

        fn encoded_len(entry: &Entry) -> usize {
            entry.name.len() + 1 + percent_encoded_len(&entry.value) + entry.metadata.len()
        }

        /// Members being collected, with the running size of their serialisation, so each insert
        /// checks the limits in constant time against the set as it will be after the insert.
        #[derive(Default)]
        struct Members {
            entries: Vec<Entry>,
            /// `encoded_len` of each entry, in the same order.
            lengths: Vec<usize>,
            /// Sum of `lengths`.
            total: usize,
        }

        impl Members {
            /// Serialised size of `count` members whose lengths sum to `total`, with separators.
            fn size(count: usize, total: usize) -> usize {
                total + count.saturating_sub(1)
            }

            /// Adds `entry`, replacing a member of the same name; refuses it if the result would
            /// exceed the limits.
            fn insert(&mut self, entry: Entry) -> Result<(), BaggageError> {
                let length = encoded_len(&entry);
                let existing = self.entries.iter().position(|e| e.name == entry.name);
                let (count, total) = match existing {
                    Some(i) => (self.entries.len(), self.total - self.lengths[i] + length),
                    None => (self.entries.len() + 1, self.total + length),
                };
                if count > MAX_MEMBERS || Self::size(count, total) > MAX_BYTES {
                    return Err(BaggageError {
                        kind: BaggageErrorKind::LimitExceeded,
                    });
                }
                if let Some(i) = existing {
                    self.entries.remove(i);
                    self.lengths.remove(i);
                }
                self.entries.push(entry);
                self.lengths.push(length);
                self.total = total;
                Ok(())
            }
        }

        /// Lenient parse: the entries kept, and the counts of invalid and over-limit members.
        pub(super) fn parse_headers<'a>(
            values: impl IntoIterator<Item = &'a [u8]>,
        ) -> (Vec<Entry>, usize, usize) {
            let (mut invalid, mut over_limit) = (0, 0);
            let mut members = Members::default();
            for value in values {
                for raw in value.split(|&b| b == b',') {
                    let raw = trim_ows(raw);
                    if raw.is_empty() {
                        continue;
                    }
                    match parse_member(raw) {
                        Ok(entry) => {
                            if members.insert(entry).is_err() {
                                over_limit += 1;
                            }
                        }
                        Err(_) => invalid += 1,
                    }
                }
            }
            (members.entries, invalid, over_limit)
        }

        /// Strict parse.
        pub(super) fn parse(value: &str) -> Result<Vec<Entry>, BaggageErrorKind> {
            let mut members = Members::default();
            for raw in value.as_bytes().split(|&b| b == b',') {
                let raw = trim_ows(raw);
                if raw.is_empty() {
                    continue;
                }
                let entry = parse_member(raw)?;
                members.insert(entry).map_err(|e| e.kind())?;
            }
            Ok(members.entries)
        }
    }

    fn entries(baggage: &Baggage) -> Vec<reference::Entry> {
        baggage
            .iter_entries()
            .map(|e| reference::Entry {
                name: e.name.into(),
                value: e.value.into(),
                metadata: e.metadata.into(),
            })
            .collect()
    }

    /// Edges where the one-pass scanner's code differs from a split-trim-decode parser:
    /// each is also checked against the reference parser.
    #[test]
    fn scanner_edges() {
        let cases: &[(&str, Result<&str, BaggageErrorKind>)] = &[
            ("", Ok("")),
            (" , ,\t,", Ok("")),
            ("k=v,,j=w", Ok("k=v,j=w")),
            ("k = v", Ok("k=v")),
            ("k\t=\tv\t", Ok("k=v")),
            ("k=", Ok("k=")),
            ("k= \t", Ok("k=")),
            ("k=v w", Err(BaggageErrorKind::InvalidValue)),
            ("k=v\tw", Err(BaggageErrorKind::InvalidValue)),
            ("k w=v", Err(BaggageErrorKind::InvalidName)),
            ("k;p=1", Err(BaggageErrorKind::MissingEquals)),
            ("k=v;", Err(BaggageErrorKind::InvalidProperty)),
            ("k=v;;p", Err(BaggageErrorKind::InvalidProperty)),
            ("k=v; p = 1 ; flag ", Ok("k=v;p=1;flag")),
            ("k=v ;p=", Ok("k=v;p=")),
            ("k=v;p=a=b", Ok("k=v;p=a=b")),
            ("k=v;p=a b", Err(BaggageErrorKind::InvalidProperty)),
            ("k=v;p q", Err(BaggageErrorKind::InvalidProperty)),
            ("k=v;p=%zz", Ok("k=v;p=%zz")),
            ("k=%41%2c%2C", Ok("k=A%2C%2C")),
            ("k=%", Err(BaggageErrorKind::InvalidValue)),
            ("k=%4", Err(BaggageErrorKind::InvalidValue)),
            ("k=%g0", Err(BaggageErrorKind::InvalidValue)),
            ("k=%C3%A9", Ok("k=%C3%A9")),
            ("k=%FF%FE", Ok("k=%EF%BF%BD%EF%BF%BD")),
            ("k=1,k=2", Ok("k=2")),
            ("a=%201,b=2,a=3", Ok("b=2,a=3")),
            ("a=1,b=%202,a=%203,c=%204", Ok("b=%202,a=%203,c=%204")),
            ("%=1,%25=2", Ok("%=1,%25=2")),
            ("k=\u{e9}", Err(BaggageErrorKind::InvalidValue)),
        ];
        for (header, expected) in cases {
            let header = header.replace("\\t", "\t");
            let strict = Baggage::parse(&header);
            let reference = reference::parse(&header);
            assert_eq!(
                strict.as_ref().map(entries).map_err(BaggageError::kind),
                reference,
                "{header:?}: differs from the reference parser"
            );
            assert_eq!(
                strict
                    .as_ref()
                    .map(Baggage::header)
                    .map_err(BaggageError::kind),
                *expected,
                "{header:?}"
            );
            let lenient = Baggage::parse_headers([header.as_bytes()]);
            let (kept, invalid, over_limit) = reference::parse_headers([header.as_bytes()]);
            assert_eq!(
                (
                    entries(&lenient.baggage),
                    lenient.invalid,
                    lenient.over_limit
                ),
                (kept, invalid, over_limit),
                "{header:?}: lenient"
            );
        }
        // Decoded values that need escapes come back decoded, in order, after a replacement.
        let parsed = Baggage::parse("a=%201,b=%202,c=3,a=%204").expect("valid");
        assert_eq!(
            parsed.iter_entries().map(|e| e.value).collect::<Vec<_>>(),
            [" 2", "3", " 4"]
        );
        assert_eq!(parsed.get("a"), Some(" 4"));
    }

    #[test]
    fn scanner_limits() {
        // 180 members, as a busy gateway may send: the first 64 kept, the rest counted.
        let many: Vec<String> = (0..180).map(|i| format!("member{i}=value{i}")).collect();
        let parsed = lenient(&[&many.join(",")]);
        assert_eq!((parsed.baggage.len(), parsed.over_limit), (64, 116));
        let (kept, _, over) = reference::parse_headers([many.join(",").as_bytes()]);
        assert_eq!((entries(&parsed.baggage), parsed.over_limit), (kept, over));

        // Exactly 8192 bytes over several members and lines; then one byte too many.
        let four: Vec<String> = [2044, 2044, 2044, 2045]
            .iter()
            .enumerate()
            .map(|(i, &len)| format!("k{i}={}", "v".repeat(len)))
            .collect();
        let header = four.join(",");
        assert_eq!(header.len(), MAX_BYTES);
        let parsed = lenient(&[&four[..2].join(","), &four[2..].join(",")]);
        assert_eq!((parsed.baggage.len(), parsed.over_limit), (4, 0));
        assert_eq!(parsed.baggage.header(), header);
        let parsed = lenient(&[&format!("{header}v")]);
        assert_eq!((parsed.baggage.len(), parsed.over_limit), (3, 1));
        assert_eq!(
            Baggage::parse(&format!("{header}v")).map_err(|e| e.kind()),
            Err(BaggageErrorKind::LimitExceeded)
        );

        // Escaped values count at their written size: 2730 escapes are 8190 bytes.
        let spaces = "%20".repeat(2730);
        let parsed = lenient(&[&format!("k={spaces}")]);
        assert_eq!((parsed.baggage.len(), parsed.over_limit), (1, 0));
        assert_eq!(parsed.baggage.get("k").map(str::len), Some(2730));
        let parsed = lenient(&[&format!("kk={spaces}")]);
        assert_eq!((parsed.baggage.len(), parsed.over_limit), (0, 1));

        // A replacement that would overflow is refused, and the earlier member stays.
        let big = "x".repeat(8000);
        let parsed = lenient(&[&format!("a=1,b={big},a={big}")]);
        assert_eq!(parsed.over_limit, 1);
        assert_eq!(parsed.baggage.get("a"), Some("1"));
        let (kept, _, _) = reference::parse_headers([format!("a=1,b={big},a={big}").as_bytes()]);
        assert_eq!(entries(&parsed.baggage), kept);
    }

    #[test]
    fn invalid_utf8_members_are_dropped_alone() {
        let parsed = Baggage::parse_headers([&b"a=1,b=\xff,c=3"[..]]);
        assert_eq!(parsed.baggage.header(), "a=1,c=3");
        assert_eq!(parsed.invalid, 1);
    }

    /// Header bytes made mostly of the grammar's delimiters and a few names, so that
    /// duplicates, escapes, properties and whitespace meet often.
    fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            6 => prop::sample::select(b"abk1".to_vec()),
            3 => Just(b'='),
            3 => Just(b','),
            2 => Just(b';'),
            2 => Just(b'%'),
            2 => prop::sample::select(b"2F0e".to_vec()),
            2 => Just(b' '),
            1 => Just(b'\t'),
            1 => prop::sample::select(b"\"\\\x01\x7f\xc3\xa9/".to_vec()),
        ];
        proptest::collection::vec(byte, 0..60)
    }

    proptest! {
        // Few cases: each one is a header of several KiB, parsed twice without optimisation.
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn scanner_matches_the_reference_near_the_limits(
            members in proptest::collection::vec(("[a-e]{1,2}", "[a-z%]{0,2}|x{1000,1400}|%20{300,500}"), 50..80),
        ) {
            let header: String = members.iter().map(|(k, v)| format!("{k}={v},")).collect();
            let parsed = Baggage::parse_headers([header.as_bytes()]);
            let (kept, invalid, over_limit) = reference::parse_headers([header.as_bytes()]);
            prop_assert_eq!((entries(&parsed.baggage), parsed.invalid, parsed.over_limit), (kept, invalid, over_limit));
        }
    }

    proptest! {
        #[test]
        fn scanner_matches_the_reference(lines in proptest::collection::vec(header_bytes(), 0..3)) {
            let parsed = Baggage::parse_headers(lines.iter().map(Vec::as_slice));
            let (kept, invalid, over_limit) = reference::parse_headers(lines.iter().map(Vec::as_slice));
            prop_assert_eq!((entries(&parsed.baggage), parsed.invalid, parsed.over_limit), (kept, invalid, over_limit));
            for line in &lines {
                if let Ok(text) = std::str::from_utf8(line) {
                    let strict = Baggage::parse(text).map(|b| entries(&b)).map_err(|e| e.kind());
                    prop_assert_eq!(strict, reference::parse(text));
                }
            }
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Baggage::parse_headers([bytes.as_slice()]);
            if let Ok(text) = std::str::from_utf8(&bytes) {
                let _ = Baggage::parse(text);
            }
        }

        #[test]
        fn header_round_trips(members in proptest::collection::vec(("[A-Za-z0-9!#$&'*+.^_`|~-]{1,12}", any::<String>()), 0..20)) {
            let mut baggage = Baggage::EMPTY;
            for (name, value) in &members {
                baggage = baggage.insert(name, value).expect("small baggage fits");
            }
            let again = Baggage::parse(baggage.header()).expect("our header parses");
            prop_assert_eq!(again, baggage);
        }
    }
}
