//! A JSON parser into a tree that borrows from the input.
//!
//! Strings without escapes (nearly all of them in OTLP: keys, ids, names) are slices of the
//! input, objects are vectors of pairs searched linearly (OTLP objects have a handful of
//! keys), and numbers stay as their text until a field asks for a `u64`, an `i64` or an
//! `f64`, so 64-bit integers never pass through a float and doubles are parsed once, with
//! the standard library's correctly rounded conversion.

use std::borrow::Cow;

use crate::error::{JsonError, JsonErrorKind};

/// Deepest nesting of arrays and objects accepted. An attribute value costs up to four
/// levels per level of its own nesting (`kvlistValue`, `values`, the pair, `value`), on top of
/// the envelope's eight, so 256 admits values about 60 levels deep while bounding recursion.
pub(crate) const MAX_DEPTH: usize = 256;

/// A parsed JSON value.
#[derive(Debug, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    /// A number, as it was written (checked against the JSON grammar).
    Number(&'a str),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

/// The members of an object.
pub(crate) type Map<'a> = [(Cow<'a, str>, Json<'a>)];

/// The value of `key` in `map`; with repeated keys the last wins, as in most parsers.
pub(crate) fn get<'j, 'a>(map: &'j Map<'a>, key: &str) -> Option<&'j Json<'a>> {
    map.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Parses one JSON document (surrounding whitespace allowed).
pub(crate) fn parse(input: &[u8]) -> Result<Json<'_>, JsonError> {
    let text = std::str::from_utf8(input).map_err(|e| syntax_error(input, e.valid_up_to()))?;
    let mut parser = Parser {
        text,
        bytes: input,
        pos: 0,
    };
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if parser.pos != input.len() {
        return Err(parser.error());
    }
    Ok(value)
}

#[cold]
fn syntax_error(input: &[u8], offset: usize) -> JsonError {
    let before = &input[..offset.min(input.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    JsonError::new(
        JsonErrorKind::Syntax,
        format!("line {line} column {column}"),
    )
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn error(&self) -> JsonError {
        syntax_error(self.bytes, self.pos)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), JsonError> {
        self.skip_whitespace();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json<'a>, JsonError> {
        self.skip_whitespace();
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.literal(b"true", Json::Bool(true)),
            Some(b'f') => self.literal(b"false", Json::Bool(false)),
            Some(b'n') => self.literal(b"null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.error()),
        }
    }

    fn literal(&mut self, word: &[u8], value: Json<'a>) -> Result<Json<'a>, JsonError> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error())
        }
    }

    fn check_depth(&self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            Err(JsonError::new(
                JsonErrorKind::DepthLimit,
                format!("byte {}", self.pos),
            ))
        } else {
            Ok(())
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json<'a>, JsonError> {
        self.check_depth(depth)?;
        self.pos += 1;
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error());
            }
            let key = self.string()?;
            self.expect(b':')?;
            let value = self.value(depth)?;
            members.push((key, value));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(self.error()),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json<'a>, JsonError> {
        self.check_depth(depth)?;
        self.pos += 1;
        let mut elements = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(elements));
        }
        loop {
            elements.push(self.value(depth)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(elements));
                }
                _ => return Err(self.error()),
            }
        }
    }

    /// A string starting at the opening quote: borrowed when it has no escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.peek() {
                Some(b'"') => {
                    let s = &self.text[start..self.pos];
                    self.pos += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(0x20..) => self.pos += 1,
                // Control characters must be escaped; or the input ended.
                _ => return Err(self.error()),
            }
        }
        let mut out = String::from(&self.text[start..self.pos]);
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    let Some(&kind) = self.bytes.get(self.pos + 1) else {
                        return Err(self.error());
                    };
                    self.pos += 2;
                    let escaped = match kind {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(self.error()),
                    };
                    out.push(escaped);
                }
                Some(0x20..) => {
                    // Copy the run up to the next quote or escape at once; the input is
                    // UTF-8 and both delimiters are ASCII, so the run is whole characters.
                    let run_start = self.pos;
                    while let Some(b) = self.peek() {
                        if b == b'"' || b == b'\\' || b < 0x20 {
                            break;
                        }
                        self.pos += 1;
                    }
                    out.push_str(&self.text[run_start..self.pos]);
                }
                _ => return Err(self.error()),
            }
        }
    }

    /// The character of a `\uXXXX` escape (the `\u` already read), joining a surrogate pair;
    /// a lone surrogate is an error, since it is not a character.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        let code = match first {
            0xd800..=0xdbff => {
                if !self.bytes[self.pos..].starts_with(b"\\u") {
                    return Err(self.error());
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&second) {
                    return Err(self.error());
                }
                0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(self.error()),
            _ => first,
        };
        char::from_u32(code).ok_or_else(|| self.error())
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error())?;
        let mut value = 0;
        for &b in digits {
            let digit = char::from(b).to_digit(16).ok_or_else(|| self.error())?;
            value = value * 16 + digit;
        }
        self.pos += 4;
        Ok(value)
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Result<Json<'a>, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error()),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error());
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error());
            }
            self.digits();
        }
        Ok(Json::Number(&self.text[start..self.pos]))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn s(text: &str) -> Json<'_> {
        Json::String(Cow::Borrowed(text))
    }

    #[test]
    fn parses_every_kind_of_value() -> Result<(), JsonError> {
        let parsed = parse(
            br#" { "a" : [ true , false , null , -0.5e+3 , 0 , "x" ] , "b" : { } , "c" : [ ] } "#,
        )?;
        let expected = Json::Object(vec![
            (
                "a".into(),
                Json::Array(vec![
                    Json::Bool(true),
                    Json::Bool(false),
                    Json::Null,
                    Json::Number("-0.5e+3"),
                    Json::Number("0"),
                    s("x"),
                ]),
            ),
            ("b".into(), Json::Object(vec![])),
            ("c".into(), Json::Array(vec![])),
        ]);
        assert_eq!(parsed, expected);
        Ok(())
    }

    #[test]
    fn strings_unescape_and_borrow_when_they_can() -> Result<(), JsonError> {
        let cases: &[(&str, &str)] = &[
            (r#""plain é""#, "plain é"),
            (r#""q\"b\\s\/\b\f\n\r\t""#, "q\"b\\s/\u{8}\u{c}\n\r\t"),
            (r#""\u00e9\u20AC\ud83d\ude00x""#, "é€😀x"),
            (r#""a\nb é c""#, "a\nb é c"),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input.as_bytes())?, s(expected), "{input}");
        }
        assert!(matches!(
            parse(br#""plain""#)?,
            Json::String(Cow::Borrowed(_))
        ));
        Ok(())
    }

    #[test]
    fn rejects_what_json_does_not_allow() {
        let cases: &[&[u8]] = &[
            b"",
            b"{",
            b"[1,]",
            b"{\"a\":1,}",
            b"{\"a\" 1}",
            b"{a:1}",
            b"01",
            b"1.",
            b".5",
            b"1e",
            b"+1",
            b"-",
            b"NaN",
            b"tru",
            b"nul",
            b"\"a",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"\"\\ud800\"",
            b"\"\\udc00\"",
            b"\"\\ud800\\u0041\"",
            b"\"tab\there\"",
            b"1 2",
            b"[1] x",
            b"\"\xff\"",
        ];
        for input in cases {
            let error = parse(input).expect_err(&String::from_utf8_lossy(input));
            assert_eq!(error.kind(), JsonErrorKind::Syntax, "{input:?}");
        }
        let error = parse(b"{\n  \"a\": tru\n}").expect_err("bad literal");
        assert_eq!(error.path(), "line 2 column 8");
    }

    #[test]
    fn nesting_stops_at_the_limit() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(ok.as_bytes()).is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let error = parse(deep.as_bytes()).expect_err("too deep");
        assert_eq!(error.kind(), JsonErrorKind::DepthLimit);
    }

    /// Our tree as serde_json's, to compare the two parsers.
    fn to_serde(value: &Json<'_>) -> serde_json::Value {
        match value {
            Json::Null => serde_json::Value::Null,
            Json::Bool(b) => serde_json::Value::Bool(*b),
            Json::Number(n) => serde_json::from_str(n).unwrap_or_default(),
            Json::String(s) => serde_json::Value::String(s.to_string()),
            Json::Array(elements) => elements.iter().map(to_serde).collect(),
            Json::Object(members) => members
                .iter()
                .map(|(k, v)| (k.to_string(), to_serde(v)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }

    fn serde_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value as V;
        let leaf = prop_oneof![
            Just(V::Null),
            any::<bool>().prop_map(V::Bool),
            any::<i64>().prop_map(V::from),
            any::<u64>().prop_map(V::from),
            (-1e300..1e300f64).prop_map(V::from),
            any::<String>().prop_map(V::String),
        ];
        leaf.prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(V::Array),
                proptest::collection::btree_map(any::<String>(), inner, 0..5)
                    .prop_map(|map| V::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn agrees_with_serde_json_on_what_it_writes(value in serde_value()) {
            let compact = serde_json::to_vec(&value).unwrap_or_default();
            let pretty = serde_json::to_vec_pretty(&value).unwrap_or_default();
            for text in [compact, pretty] {
                let parsed = parse(&text);
                prop_assert!(parsed.is_ok(), "{:?} on {}", parsed, String::from_utf8_lossy(&text));
                prop_assert_eq!(to_serde(&parsed.unwrap_or(Json::Null)), value.clone());
            }
        }

        #[test]
        fn never_panics_and_rejects_only_what_serde_json_rejects(
            bytes in proptest::collection::vec(
                prop_oneof![
                    Just(b'{'), Just(b'}'), Just(b'['), Just(b']'), Just(b'"'), Just(b':'),
                    Just(b','), Just(b'\\'), Just(b'u'), Just(b'1'), Just(b'-'), Just(b'.'),
                    Just(b' '), Just(b'a'), any::<u8>(),
                ],
                0..24,
            ),
        ) {
            // Numbers out of f64's range are the one difference: serde_json rejects them while
            // parsing, we when a field reads one. They need an exponent.
            prop_assume!(!bytes.iter().any(|b| matches!(b, b'e' | b'E')));
            let ours = parse(&bytes);
            let theirs = serde_json::from_slice::<serde_json::Value>(&bytes);
            prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}", String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn repeated_keys_keep_the_last() -> Result<(), JsonError> {
        let parsed = parse(br#"{"k":1,"k":2}"#)?;
        let Json::Object(map) = &parsed else {
            panic!("not an object: {parsed:?}");
        };
        assert_eq!(get(map, "k"), Some(&Json::Number("2")));
        assert_eq!(get(map, "missing"), None);
        Ok(())
    }
}
