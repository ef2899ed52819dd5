//! The W3C `tracestate` header: up to 32 vendor `key=value` members.
//!
//! Grammar (Level 2): `key = (lcalpha / DIGIT) 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@")`,
//! `value = 0*255(chr) nblk-chr` with `chr` printable ASCII except `,` and `=`, and `nblk-chr`
//! the same without space. Members are separated by `,` with optional whitespace; empty
//! members are allowed and skipped. One member that breaks the grammar, or more than 32
//! members, discards the whole header, as the W3C test suite requires.

use std::fmt;
use std::sync::Arc;

use crate::traceparent::trim_ows;

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

/// True when `key` matches the Level-2 key grammar.
pub(crate) fn is_valid_key(key: &[u8]) -> bool {
    let Some((&first, rest)) = key.split_first() else {
        return false;
    };
    key.len() <= MAX_KEY_LEN
        && (first.is_ascii_lowercase() || first.is_ascii_digit())
        && rest.iter().all(|&b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'_' | b'-' | b'*' | b'/' | b'@')
        })
}

/// True when `value` matches the value grammar: 1 to 256 printable ASCII bytes other than
/// `,` and `=`, not ending in a space.
pub(crate) fn is_valid_value(value: &[u8]) -> bool {
    let Some(&last) = value.last() else {
        return false;
    };
    value.len() <= MAX_VALUE_LEN
        && last != b' '
        && value
            .iter()
            .all(|&b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
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
        let mut values = values.into_iter();
        let Some(first) = values.next() else {
            return Ok(TraceState::EMPTY);
        };
        let mut header = String::new();
        match values.next() {
            None => {
                // One line, the usual case: when it is canonical already, share it as is.
                if scan([first], None)? {
                    let canonical = std::str::from_utf8(first).unwrap_or_default();
                    return Ok(Self::from_header(canonical));
                }
                scan([first], Some(&mut header))?;
            }
            Some(second) => {
                scan([first, second].into_iter().chain(values), Some(&mut header))?;
            }
        }
        Ok(Self::from_header(&header))
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

/// True when the canonical header `header` has a member named `key`.
fn has_key(header: &[u8], key: &[u8]) -> bool {
    header
        .split(|&b| b == b',')
        .any(|member| member.split(|&b| b == b'=').next() == Some(key))
}

/// Checks header lines against the grammar and the member limit.
///
/// With `out`, appends the canonical form to it and returns `Ok(false)`. Without, stops at the
/// first sign that the input is not canonical (whitespace, an empty member, a repeated key)
/// and returns `Ok(false)`, or `Ok(true)` when the one line checked is canonical; the caller
/// then scans again with `out` to build the canonical form and report any later error.
fn scan<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
    mut out: Option<&mut String>,
) -> Result<bool, TraceStateError> {
    let mut member = 0;
    for value in values {
        let mut start = 0;
        for untrimmed in value.split(|&b| b == b',') {
            let raw = trim_ows(untrimmed);
            let prefix = &value[..start.min(value.len())];
            start += untrimmed.len() + 1;
            if out.is_none() && (raw.len() != untrimmed.len() || raw.is_empty()) {
                return Ok(false);
            }
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
            if !is_valid_key(key) {
                return Err(fail(TraceStateErrorKind::InvalidKey));
            }
            if !is_valid_value(value) {
                return Err(fail(TraceStateErrorKind::InvalidValue));
            }
            match out.as_deref_mut() {
                None if has_key(prefix, key) => return Ok(false),
                None => {}
                Some(header) if !has_key(header.as_bytes(), key) => {
                    // Both were checked to be printable ASCII above.
                    let (Ok(key), Ok(value)) =
                        (std::str::from_utf8(key), std::str::from_utf8(value))
                    else {
                        return Err(fail(TraceStateErrorKind::InvalidValue));
                    };
                    push_member(header, key, value);
                }
                Some(_) => {}
            }
            member += 1;
        }
    }
    Ok(out.is_none())
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

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = TraceState::parse_headers([bytes.as_slice()]);
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
