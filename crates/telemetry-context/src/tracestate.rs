//! The W3C `tracestate` header: up to 32 vendor `key=value` members.
//!
//! Grammar (Level 2): `key = (lcalpha / DIGIT) 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@")`,
//! `value = 0*255(chr) nblk-chr` with `chr` printable ASCII except `,` and `=`, and `nblk-chr`
//! the same without space. Members are separated by `,` with optional whitespace; empty
//! members are allowed and skipped. One member that breaks the grammar, or more than 32
//! members, discards the whole header, as the W3C test suite requires.

use std::fmt;
use std::sync::Arc;

/// Most members a `tracestate` may hold.
pub const MAX_MEMBERS: usize = 32;
/// Longest key.
pub const MAX_KEY_LEN: usize = 256;
/// Longest value.
pub const MAX_VALUE_LEN: usize = 256;

/// An immutable, ordered list of vendor entries. Cloning is cheap; every change returns a
/// new value with the changed key moved to the front, as the spec requires.
///
/// Stored as its canonical header (members without whitespace, empty members or repeated
/// keys, joined by `,`) in one shared allocation: injection writes it as is, and extracting a
/// header that is already canonical, the usual case, costs one allocation.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TraceState(Option<Arc<str>>);

/// Why a `tracestate` header or a mutation was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceStateError {
    kind: TraceStateErrorKind,
    member: usize,
}

/// The kinds of [`TraceStateError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceStateErrorKind {
    /// A member has no `=`.
    MissingEquals,
    /// A key breaks the key grammar or is longer than 256 bytes.
    InvalidKey,
    /// A value breaks the value grammar, is empty, or is longer than 256 bytes.
    InvalidValue,
    /// More than 32 members.
    TooManyMembers,
}

impl TraceStateError {
    /// What was wrong.
    pub fn kind(&self) -> TraceStateErrorKind {
        self.kind
    }

    /// Zero-based index of the offending member among the non-empty ones.
    pub fn member(&self) -> usize {
        self.member
    }
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            TraceStateErrorKind::MissingEquals => "has no '='",
            TraceStateErrorKind::InvalidKey => "has an invalid key",
            TraceStateErrorKind::InvalidValue => "has an invalid value",
            TraceStateErrorKind::TooManyMembers => "exceeds the limit of 32 members",
        };
        write!(f, "tracestate member {} {what}", self.member)
    }
}

impl std::error::Error for TraceStateError {}

/// Byte classes of the grammar, so that the scanner checks each byte with one table load.
const KEY: u8 = 1;
/// `lcalpha / DIGIT`: what a key may start with.
const KEY_FIRST: u8 = 2;
/// `chr`: printable ASCII except `,` and `=`.
const VALUE: u8 = 4;

/// [`KEY`], [`KEY_FIRST`] and [`VALUE`] of every byte.
static CLASSES: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut b = 0x20;
    while b <= 0x7e {
        if b != b',' as usize && b != b'=' as usize {
            table[b] = VALUE;
        }
        b += 1;
    }
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        if byte.is_ascii_lowercase() || byte.is_ascii_digit() {
            table[b] |= KEY | KEY_FIRST;
        } else if matches!(byte, b'_' | b'-' | b'*' | b'/' | b'@') {
            table[b] |= KEY;
        }
        b += 1;
    }
    table
}

/// True when `key` matches the Level-2 key grammar.
pub(crate) fn is_valid_key(key: &[u8]) -> bool {
    let Some(&first) = key.first() else {
        return false;
    };
    key.len() <= MAX_KEY_LEN
        && CLASSES[usize::from(first)] & KEY_FIRST != 0
        && key.iter().all(|&b| CLASSES[usize::from(b)] & KEY != 0)
}

/// True when `value` matches the value grammar: 1 to 256 printable ASCII bytes other than
/// `,` and `=`, not ending in a space.
pub(crate) fn is_valid_value(value: &[u8]) -> bool {
    let Some(&last) = value.last() else {
        return false;
    };
    value.len() <= MAX_VALUE_LEN
        && last != b' '
        && value.iter().all(|&b| CLASSES[usize::from(b)] & VALUE != 0)
}

impl TraceState {
    /// The empty trace state.
    pub const EMPTY: TraceState = TraceState(None);

    /// Parses one header value.
    pub fn parse(value: &str) -> Result<TraceState, TraceStateError> {
        Self::parse_headers([value.as_bytes()])
    }

    /// Parses several header lines as the one list they form when joined with `,`, in order.
    /// Duplicate keys keep their first occurrence.
    pub fn parse_headers<'a>(
        values: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<TraceState, TraceStateError> {
        let mut scanner = Scanner::default();
        let mut values = values.into_iter();
        let Some(first) = values.next() else {
            return Ok(TraceState::EMPTY);
        };
        scanner.line(first)?;
        for line in values {
            // Lines after the first are joined with `,`: the result is built from then on.
            scanner.start_building(first);
            scanner.line(line)?;
        }
        if !scanner.building {
            // One canonical line, the usual case: shared as it came, one allocation.
            let canonical = std::str::from_utf8(first).unwrap_or_default();
            return Ok(Self::from_header(canonical));
        }
        match String::from_utf8(scanner.out) {
            Ok(header) => Ok(Self::from_header(&header)),
            // Unreachable: every byte written was checked to be printable ASCII.
            Err(_) => Err(TraceStateError {
                kind: TraceStateErrorKind::InvalidValue,
                member: 0,
            }),
        }
    }

    fn from_header(header: &str) -> TraceState {
        if header.is_empty() {
            TraceState(None)
        } else {
            TraceState(Some(Arc::from(header)))
        }
    }

    /// The value for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        // The header is canonical: every member is `key=value`, separated by single commas.
        self.header()
            .split(',')
            .filter_map(|member| member.split_once('='))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True when there are no entries (the header is then not sent).
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The header value: `k=v` pairs joined by `,` without spaces.
    pub fn header(&self) -> &str {
        self.0.as_deref().unwrap_or_default()
    }

    /// Sets `key` to `value` and moves it to the front. When the list would exceed 32
    /// members, the right-most one is removed.
    pub fn insert(&self, key: &str, value: &str) -> Result<TraceState, TraceStateError> {
        if !is_valid_key(key.as_bytes()) {
            return Err(TraceStateError {
                kind: TraceStateErrorKind::InvalidKey,
                member: 0,
            });
        }
        if !is_valid_value(value.as_bytes()) {
            return Err(TraceStateError {
                kind: TraceStateErrorKind::InvalidValue,
                member: 0,
            });
        }
        let mut header = String::with_capacity(key.len() + value.len() + 2 + self.header().len());
        push_member(&mut header, key, value);
        for (k, v) in self.iter().filter(|(k, _)| *k != key).take(MAX_MEMBERS - 1) {
            push_member(&mut header, k, v);
        }
        Ok(Self::from_header(&header))
    }

    /// Removes `key`, keeping the order of the rest.
    #[must_use]
    pub fn remove(&self, key: &str) -> TraceState {
        if self.get(key).is_none() {
            return self.clone();
        }
        let mut header = String::with_capacity(self.header().len());
        for (k, v) in self.iter().filter(|(k, _)| *k != key) {
            push_member(&mut header, k, v);
        }
        Self::from_header(&header)
    }
}

/// Appends `key=value` to a canonical header, after a `,` unless it is the first member.
fn push_member(header: &mut String, key: &str, value: &str) {
    if !header.is_empty() {
        header.push(',');
    }
    header.push_str(key);
    header.push('=');
    header.push_str(value);
}

/// Validates header lines and builds their canonical form in one pass over the bytes.
///
/// While everything seen is canonical (one line, no whitespace, no empty member, no repeated
/// key), nothing is copied: the line itself is the result. At the first sign that it is not,
/// the canonical prefix so far is copied into `out`, and every later kept member is appended
/// there. Key positions are the same in both (the prefix is copied as it is), so the
/// duplicate check reads keys from whichever holds them, without allocating.
struct Scanner {
    /// True once the result is being built in `out`.
    building: bool,
    /// The canonical header, once `building`.
    out: Vec<u8>,
    /// End of the last kept member in the first line, while not `building`.
    canonical_end: usize,
    /// Non-empty members seen, repeated keys included: the limit counts them all.
    seen: usize,
    /// Members kept (first occurrences of their key).
    kept: usize,
    /// Where each kept member's key starts, in the first line or in `out`.
    key_at: [u32; MAX_MEMBERS],
    /// Length of each kept member's key.
    key_len: [u16; MAX_MEMBERS],
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner {
            building: false,
            out: Vec::new(),
            canonical_end: 0,
            seen: 0,
            kept: 0,
            key_at: [0; MAX_MEMBERS],
            key_len: [0; MAX_MEMBERS],
        }
    }
}

/// True for optional whitespace (space and horizontal tab).
fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Eight copies of `byte`, one per lane of a `u64`.
const fn lanes(byte: u8) -> u64 {
    u64::from_ne_bytes([byte; 8])
}

/// True when some lane of `x` is zero (exact: a borrow only ever follows a zero lane).
const fn has_zero(x: u64) -> bool {
    x.wrapping_sub(lanes(0x01)) & !x & lanes(0x80) != 0
}

/// True when all eight bytes are value bytes (printable ASCII but `,` and `=`), tested
/// together in one `u64` instead of one table load each.
fn all_value_bytes(chunk: &[u8]) -> bool {
    let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
        return false;
    };
    let x = u64::from_ne_bytes(bytes);
    // Every lane below 0x80 (ASCII), then none below 0x20 (lanes stay below 0x80, so the
    // subtraction's borrows mark exactly the lanes that are), none 0x7f, `,` or `=`.
    x & lanes(0x80) == 0
        && x.wrapping_sub(lanes(0x20)) & lanes(0x80) == 0
        && !has_zero(x ^ lanes(0x7f))
        && !has_zero(x ^ lanes(b','))
        && !has_zero(x ^ lanes(b'='))
}

impl Scanner {
    /// Switches to building the result in `out`, starting from the canonical prefix of
    /// `first`, the first line.
    fn start_building(&mut self, first: &[u8]) {
        if !self.building {
            self.building = true;
            self.out.reserve(first.len() + 64);
            self.out
                .extend_from_slice(&first[..self.canonical_end.min(first.len())]);
        }
    }

    /// True when a kept member's key equals `key`. `line` is the first line while not
    /// building.
    fn has_key(&self, line: &[u8], key: &[u8]) -> bool {
        let keys = if self.building { &self.out[..] } else { line };
        (0..self.kept).any(|i| {
            let at = self.key_at[i] as usize;
            usize::from(self.key_len[i]) == key.len() && keys.get(at..at + key.len()) == Some(key)
        })
    }

    /// Scans one header line: each member is checked byte by byte as it is split off, in the
    /// order the errors are reported (too many members, no `=`, key, value).
    fn line(&mut self, line: &[u8]) -> Result<(), TraceStateError> {
        let n = line.len();
        let mut i = 0;
        loop {
            let member_start = i;
            while i < n && is_ows(line[i]) {
                i += 1;
            }
            if i == n || line[i] == b',' {
                // An empty member (whitespace only): skipped, and the line is not canonical.
                if !self.building {
                    self.start_building(line);
                }
                if i == n {
                    return Ok(());
                }
                i += 1;
                continue;
            }
            let fail = |kind| {
                Err(TraceStateError {
                    kind,
                    member: self.seen,
                })
            };
            if self.seen == MAX_MEMBERS {
                return fail(TraceStateErrorKind::TooManyMembers);
            }
            // The key: a tight loop over key bytes; what stops it decides the rest.
            let key_start = i;
            while i < n && CLASSES[usize::from(line[i])] & KEY != 0 {
                i += 1;
            }
            if line.get(i) != Some(&b'=') {
                // Not a key byte: a `,` or the end (no `=`), or a byte the key may not hold,
                // which is reported as a bad key only if an `=` follows in this member.
                let has_equals = line[i..]
                    .iter()
                    .take_while(|&&b| b != b',')
                    .any(|&b| b == b'=');
                return fail(if has_equals {
                    TraceStateErrorKind::InvalidKey
                } else {
                    TraceStateErrorKind::MissingEquals
                });
            }
            let key = &line[key_start..i];
            if key.is_empty()
                || key.len() > MAX_KEY_LEN
                || CLASSES[usize::from(key[0])] & KEY_FIRST == 0
            {
                return fail(TraceStateErrorKind::InvalidKey);
            }
            i += 1;
            // The value: eight bytes at a time while they are all value bytes, then byte by
            // byte up to the first that is not.
            let value_start = i;
            while let Some(chunk) = line.get(i..i + 8) {
                if !all_value_bytes(chunk) {
                    break;
                }
                i += 8;
            }
            while i < n && CLASSES[usize::from(line[i])] & VALUE != 0 {
                i += 1;
            }
            let mut value_end = i;
            if i < n && line[i] != b',' {
                // A tab may only start the whitespace trimmed after the value; anything else
                // is not allowed in a value.
                if line[i] != b'\t' {
                    return fail(TraceStateErrorKind::InvalidValue);
                }
                while i < n && line[i] != b',' {
                    if !is_ows(line[i]) {
                        return fail(TraceStateErrorKind::InvalidValue);
                    }
                    i += 1;
                }
            }
            while value_end > value_start && line[value_end - 1] == b' ' {
                value_end -= 1;
            }
            let value = &line[value_start..value_end];
            if value.is_empty() || value.len() > MAX_VALUE_LEN {
                return fail(TraceStateErrorKind::InvalidValue);
            }
            self.seen += 1;
            let trimmed = key_start != member_start || value_end != i;
            if trimmed && !self.building {
                self.start_building(line);
            }
            if !self.has_key(line, key) {
                self.keep(key_start, key, value);
            } else if !self.building {
                self.start_building(line);
            }
            if i == n {
                return Ok(());
            }
            // Past the `,`; a `,` ending the line leaves an empty member, handled above.
            i += 1;
        }
    }

    /// Records a member whose key is new: in `out` when building, else where it stands in
    /// the first line (`key_start`).
    fn keep(&mut self, key_start: usize, key: &[u8], value: &[u8]) {
        let at = if self.building {
            if !self.out.is_empty() {
                self.out.push(b',');
            }
            let at = self.out.len();
            self.out.extend_from_slice(key);
            self.out.push(b'=');
            self.out.extend_from_slice(value);
            at
        } else {
            self.canonical_end = key_start + key.len() + 1 + value.len();
            key_start
        };
        // Both fit: a kept member's key is at most 256 bytes, and a canonical prefix with 32
        // members of at most 514 bytes each is far below 4 GiB.
        self.key_at[self.kept] = u32::try_from(at).unwrap_or(u32::MAX);
        self.key_len[self.kept] = u16::try_from(key.len()).unwrap_or(u16::MAX);
        self.kept += 1;
    }
}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceState({:?})", self.header())
    }
}

impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.header())
    }
}

impl std::str::FromStr for TraceState {
    type Err = TraceStateError;

    fn from_str(s: &str) -> Result<Self, TraceStateError> {
        TraceState::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TraceStateErrorKind::*;
    use proptest::prelude::*;

    fn parse_all(values: &[&str]) -> Result<String, TraceStateErrorKind> {
        TraceState::parse_headers(values.iter().map(|v| v.as_bytes()))
            .map(|state| state.header().to_owned())
            .map_err(|e| e.kind())
    }

    /// Each case is a rule of W3C Trace Context Level 2 (TS-2 … TS-9).
    #[test]
    fn table_of_rules() {
        let all_key_chars = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
        let all_value_chars: String = (0x20u8..=0x7e)
            .filter(|&b| b != b',' && b != b'=')
            .map(char::from)
            .collect();
        let multi_tenant_key = format!("{all_key_chars}@a-z0-9_-*/");
        let accepted: Vec<(&str, Vec<String>, String)> = vec![
            ("one member", vec!["foo=1".into()], "foo=1".into()),
            (
                "headers combined in order",
                vec![
                    "foo=1,bar=2".into(),
                    "rojo=1,congo=2".into(),
                    "baz=3".into(),
                ],
                "foo=1,bar=2,rojo=1,congo=2,baz=3".into(),
            ),
            (
                "whitespace around members",
                vec!["foo=1 \t , \t bar=2, \t baz=3".into()],
                "foo=1,bar=2,baz=3".into(),
            ),
            (
                "whitespace at both ends",
                vec!["\t foo=1 \t".into()],
                "foo=1".into(),
            ),
            ("empty header", vec![String::new()], String::new()),
            (
                "empty header first",
                vec![String::new(), "foo=1".into()],
                "foo=1".into(),
            ),
            (
                "empty header last",
                vec!["foo=1".into(), String::new()],
                "foo=1".into(),
            ),
            (
                "empty members",
                vec![",foo=1,,bar=2,".into()],
                "foo=1,bar=2".into(),
            ),
            (
                "leading space kept in value",
                vec![format!("{all_key_chars}={all_value_chars}")],
                format!("{all_key_chars}={all_value_chars}"),
            ),
            (
                "multi-tenant key",
                vec![format!("{multi_tenant_key}=1")],
                format!("{multi_tenant_key}=1"),
            ),
            (
                "level 2: @ at the end",
                vec!["foo@=1".into()],
                "foo@=1".into(),
            ),
            (
                "level 2: two @",
                vec!["foo@@bar=1".into()],
                "foo@@bar=1".into(),
            ),
            (
                "level 2: @ twice apart",
                vec!["foo@bar@baz=1".into()],
                "foo@bar@baz=1".into(),
            ),
            (
                "key of 256",
                vec![format!("{}=1", "k".repeat(256))],
                format!("{}=1", "k".repeat(256)),
            ),
            (
                "value of 256",
                vec![format!("k={}", "v".repeat(256))],
                format!("k={}", "v".repeat(256)),
            ),
            (
                "duplicate keys keep the first",
                vec!["foo=1,foo=2".into()],
                "foo=1".into(),
            ),
            ("digit first", vec!["1foo=1".into()], "1foo=1".into()),
        ];
        for (name, headers, expected) in &accepted {
            let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
            assert_eq!(parse_all(&refs).as_deref(), Ok(expected.as_str()), "{name}");
        }

        let thirty_two: Vec<String> = (0..4)
            .map(|h| {
                (0..8)
                    .map(|i| format!("k{h}{i}=v"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        let refs: Vec<&str> = thirty_two.iter().map(String::as_str).collect();
        assert_eq!(
            parse_all(&refs).map(|h| h.split(',').count()),
            Ok(32),
            "32 members across 4 headers"
        );
        let mut thirty_three = thirty_two.clone();
        thirty_three.push("one=more".into());
        let refs: Vec<&str> = thirty_three.iter().map(String::as_str).collect();
        assert_eq!(parse_all(&refs), Err(TooManyMembers), "33 members");

        let rejected: Vec<(&str, String, TraceStateErrorKind)> = vec![
            ("space before =", "foo =1".into(), InvalidKey),
            ("uppercase key", "FOO=1".into(), InvalidKey),
            ("dot in key", "foo.bar=1".into(), InvalidKey),
            (
                "@ first, whole header lost",
                "@foo=1,bar=2".into(),
                InvalidKey,
            ),
            ("= in value", "foo=bar=baz".into(), InvalidValue),
            ("empty value loses all", "foo=,bar=3".into(), InvalidValue),
            ("no =", "foo".into(), MissingEquals),
            ("key of 257", format!("{}=1", "k".repeat(257)), InvalidKey),
            (
                "value of 257",
                format!("k={}", "v".repeat(257)),
                InvalidValue,
            ),
            ("control character", "foo=a\u{1}b".into(), InvalidValue),
            ("non-ASCII value", "foo=é".into(), InvalidValue),
            ("empty key", "=1".into(), InvalidKey),
        ];
        for (name, header, expected) in &rejected {
            assert_eq!(parse_all(&[header]), Err(*expected), "{name}");
        }
    }

    #[test]
    fn insert_moves_the_key_to_the_front_and_caps_the_list() -> Result<(), TraceStateError> {
        let state = TraceState::parse("a=1,b=2,c=3")?;
        assert_eq!(state.insert("b", "9")?.header(), "b=9,a=1,c=3");
        assert_eq!(state.insert("z", "0")?.header(), "z=0,a=1,b=2,c=3");
        assert_eq!(state.remove("a").header(), "b=2,c=3");
        assert_eq!(state.remove("nope"), state);
        assert_eq!(state.get("c"), Some("3"));
        assert_eq!(state.len(), 3);
        assert!(state.insert("B", "1").is_err());
        assert!(state.insert("b", "x,y").is_err());

        let full = TraceState::parse(
            &(0..32)
                .map(|i| format!("k{i}=v"))
                .collect::<Vec<_>>()
                .join(","),
        )?;
        let grown = full.insert("new", "1")?;
        assert_eq!(grown.len(), 32);
        assert_eq!(grown.iter().next(), Some(("new", "1")));
        assert_eq!(grown.get("k31"), None, "the right-most member goes");
        assert!(TraceState::EMPTY.remove("x").is_empty());
        Ok(())
    }

    /// Edges where the one-pass scanner's code differs from a split-trim-check parser: each
    /// is also checked against the reference parser below.
    #[test]
    fn scanner_edges() {
        let thirty_two_with_dup = (0..31)
            .map(|i| format!("k{i}=v"))
            .chain(["k0=again".to_owned()])
            .collect::<Vec<_>>()
            .join(",");
        let long_value = "v".repeat(256);
        let thirty_one = (0..31)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        let long_member = format!("k={long_value}");
        type Case<'a> = (
            &'a str,
            Vec<String>,
            Result<&'a str, (TraceStateErrorKind, usize)>,
        );
        let cases: Vec<Case<'_>> = vec![
            ("only commas", vec![",,,".into()], Ok("")),
            ("only whitespace", vec![" \t ".into()], Ok("")),
            ("whitespace members", vec![" , \t ,a=1".into()], Ok("a=1")),
            ("trailing comma", vec!["a=1,".into()], Ok("a=1")),
            ("leading comma", vec![",a=1".into()], Ok("a=1")),
            ("trailing tab", vec!["a=1\t".into()], Ok("a=1")),
            (
                "trailing tab then space",
                vec!["a=1\t \t".into()],
                Ok("a=1"),
            ),
            ("space inside value", vec!["a=1 2".into()], Ok("a=1 2")),
            ("leading space in value", vec!["a= 1".into()], Ok("a= 1")),
            (
                "tab inside value",
                vec!["a=1\t2".into()],
                Err((InvalidValue, 0)),
            ),
            (
                "tab before value",
                vec!["a=\t1".into()],
                Err((InvalidValue, 0)),
            ),
            (
                "value only spaces",
                vec!["a=   ".into()],
                Err((InvalidValue, 0)),
            ),
            (
                "value only tab",
                vec!["a=\t".into()],
                Err((InvalidValue, 0)),
            ),
            (
                "second member bad",
                vec!["a=1,b".into()],
                Err((MissingEquals, 1)),
            ),
            (
                "uppercase without =",
                vec!["A".into()],
                Err((MissingEquals, 0)),
            ),
            ("= first", vec![" =1".into()], Err((InvalidKey, 0))),
            ("tab in key", vec!["a\tb=1".into()], Err((InvalidKey, 0))),
            ("duplicate later", vec!["a=1,b=2,a=3".into()], Ok("a=1,b=2")),
            (
                "duplicate first in line two",
                vec!["a=1".into(), "a=2,b=3".into()],
                Ok("a=1,b=3"),
            ),
            (
                "duplicate prefix key",
                vec!["ab=1,a=2,abc=3,a=4".into()],
                Ok("ab=1,a=2,abc=3"),
            ),
            (
                "duplicate after whitespace",
                vec!["a=1 , a=2".into()],
                Ok("a=1"),
            ),
            (
                "32 with a duplicate",
                vec![thirty_two_with_dup.clone()],
                Ok(&thirty_one),
            ),
            (
                "33 with a duplicate",
                vec![thirty_two_with_dup.clone(), "x=1".into()],
                Err((TooManyMembers, 32)),
            ),
            (
                "33rd member invalid still too many",
                vec![thirty_two_with_dup.clone(), "X".into()],
                Err((TooManyMembers, 32)),
            ),
            (
                "multi-tenant key",
                vec!["tenant@vendor=1,t2@v=2".into()],
                Ok("tenant@vendor=1,t2@v=2"),
            ),
            (
                "multi-tenant tenant digit",
                vec!["0@vendor=1".into()],
                Ok("0@vendor=1"),
            ),
            (
                "value of 256 with ows",
                vec![format!(" k={long_value} ")],
                Ok(&long_member),
            ),
            (
                "value of 256 then 257",
                vec![format!("k={long_value},j={long_value}v")],
                Err((InvalidValue, 1)),
            ),
            (
                "empty line between",
                vec!["a=1".into(), String::new(), "b=2".into()],
                Ok("a=1,b=2"),
            ),
            (
                "empty lines only",
                vec![String::new(), String::new()],
                Ok(""),
            ),
            (
                "lines with whitespace",
                vec![" a=1 ".into(), "\tb=2".into()],
                Ok("a=1,b=2"),
            ),
            ("del byte", vec!["a=1\u{7f}".into()], Err((InvalidValue, 0))),
        ];
        for (name, lines, expected) in &cases {
            let got = TraceState::parse_headers(lines.iter().map(String::as_bytes))
                .map(|state| state.header().to_owned())
                .map_err(|e| (e.kind(), e.member()));
            let reference = reference::parse(lines.iter().map(String::as_bytes))
                .map_err(|e| (e.kind(), e.member()));
            assert_eq!(got, reference, "{name}: differs from the reference parser");
            match expected {
                Ok(header) => assert_eq!(got.as_deref(), Ok(*header), "{name}"),
                Err(error) => assert_eq!(got, Err(*error), "{name}"),
            }
        }
    }

    /// The eight-at-a-time check agrees with the per-byte table for every byte in every lane,
    /// and next to the bytes where a borrow could spill into the following lane.
    #[test]
    fn all_value_bytes_matches_the_table() {
        for b in 0..=255u8 {
            for lane in 0..8 {
                for neighbour in [b'a', b' ', 0x21, b'~', 0x1f, 0x7f] {
                    let mut chunk = [neighbour; 8];
                    chunk[lane] = b;
                    let expected = chunk.iter().all(|&b| CLASSES[usize::from(b)] & VALUE != 0);
                    assert_eq!(all_value_bytes(&chunk), expected, "{chunk:?}");
                }
            }
        }
        assert!(
            !all_value_bytes(b"short"),
            "a short chunk is not taken whole"
        );
    }

    /// The multi-pass parser the scanner replaced (split, trim, find `=`, check key and
    /// value, search the output for the key), kept as the oracle of the differential tests.
    mod reference {
        use super::super::*;
        use crate::traceparent::trim_ows;

        pub(super) fn parse<'a>(
            values: impl IntoIterator<Item = &'a [u8]>,
        ) -> Result<String, TraceStateError> {
            let mut header = String::new();
            let mut member = 0;
            for value in values {
                for raw in value.split(|&b| b == b',').map(trim_ows) {
                    if raw.is_empty() {
                        continue;
                    }
                    let fail = |kind| TraceStateError { kind, member };
                    if member == MAX_MEMBERS {
                        return Err(fail(TraceStateErrorKind::TooManyMembers));
                    }
                    let equals = raw
                        .iter()
                        .position(|&b| b == b'=')
                        .ok_or(fail(TraceStateErrorKind::MissingEquals))?;
                    let (key, value) = (&raw[..equals], &raw[equals + 1..]);
                    let key_ok = key
                        .first()
                        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                        && key.len() <= MAX_KEY_LEN
                        && key.iter().all(|&b| {
                            b.is_ascii_lowercase()
                                || b.is_ascii_digit()
                                || matches!(b, b'_' | b'-' | b'*' | b'/' | b'@')
                        });
                    if !key_ok {
                        return Err(fail(TraceStateErrorKind::InvalidKey));
                    }
                    let value_ok = !value.is_empty()
                        && value.len() <= MAX_VALUE_LEN
                        && value.last() != Some(&b' ')
                        && value
                            .iter()
                            .all(|&b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=');
                    if !value_ok {
                        return Err(fail(TraceStateErrorKind::InvalidValue));
                    }
                    let (key, value) = (
                        String::from_utf8_lossy(key).into_owned(),
                        String::from_utf8_lossy(value).into_owned(),
                    );
                    let seen = header
                        .split(',')
                        .any(|m| m.split_once('=').is_some_and(|(k, _)| k == key));
                    if !seen {
                        if !header.is_empty() {
                            header.push(',');
                        }
                        header.push_str(&key);
                        header.push('=');
                        header.push_str(&value);
                    }
                    member += 1;
                }
            }
            Ok(header)
        }
    }

    /// Lines made mostly of grammar bytes, so that most members are valid or fail late.
    fn line() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            8 => prop::sample::select(b"ab0@_-*/".to_vec()),
            3 => Just(b'='),
            3 => Just(b','),
            2 => Just(b' '),
            1 => Just(b'\t'),
            1 => prop::sample::select(b"A.~!\x01\x7f\xc3".to_vec()),
        ];
        proptest::collection::vec(byte, 0..80)
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = TraceState::parse_headers([bytes.as_slice()]);
        }

        #[test]
        fn scanner_matches_the_reference(lines in proptest::collection::vec(line(), 0..4)) {
            let got = TraceState::parse_headers(lines.iter().map(Vec::as_slice))
                .map(|state| state.header().to_owned());
            let reference = reference::parse(lines.iter().map(Vec::as_slice));
            prop_assert_eq!(got, reference);
        }

        #[test]
        fn scanner_matches_the_reference_near_the_limits(
            members in proptest::collection::vec(("[a-c]{1,2}|k{255,257}", "[ -~]{0,3}|v{255,257}", "[ \t,]{0,2}"), 28..36),
        ) {
            let header: String = members.iter().map(|(k, v, sep)| format!("{k}={v}{sep},")).collect();
            let got = TraceState::parse_headers([header.as_bytes()])
                .map(|state| state.header().to_owned());
            let reference = reference::parse([header.as_bytes()]);
            prop_assert_eq!(got, reference);
        }

        #[test]
        fn header_round_trips(members in proptest::collection::vec(("[a-z0-9][a-z0-9_*/@-]{0,20}", "[ -+--<>-~]{0,10}[!-+--<>-~]"), 0..32)) {
            let header = members.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
            let state = TraceState::parse(&header).expect("generated header is valid");
            let again = TraceState::parse(state.header()).expect("our header is valid");
            prop_assert_eq!(&again, &state);
        }
    }
}
