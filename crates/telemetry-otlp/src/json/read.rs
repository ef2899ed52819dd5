//! Typed access to a parsed JSON tree, with OTLP/JSON's number rules and the path of every
//! error.

use super::parse::{Json, Map, get};
use crate::error::{JsonError, JsonErrorKind};

/// An error whose path the callers fill in on the way out.
pub(crate) fn error(kind: JsonErrorKind) -> JsonError {
    JsonError::new(kind, String::new())
}

/// The object, or `None` for `null` (proto3 JSON's "absent").
pub(crate) fn object<'j, 'a>(value: &'j Json<'a>) -> Result<Option<&'j Map<'a>>, JsonError> {
    match value {
        Json::Object(map) => Ok(Some(map)),
        Json::Null => Ok(None),
        _ => Err(error(JsonErrorKind::WrongType)),
    }
}

/// Converts field `key` of `map` with `convert`, naming the key in errors; `None` when the
/// field is missing or `null`.
pub(crate) fn field<'j, 'a, T>(
    map: &'j Map<'a>,
    key: &str,
    convert: impl FnOnce(&'j Json<'a>) -> Result<T, JsonError>,
) -> Result<Option<T>, JsonError> {
    match get(map, key) {
        None | Some(Json::Null) => Ok(None),
        Some(value) => convert(value).map(Some).map_err(|e| e.under(key)),
    }
}

/// Converts every element of the array in field `key` (none when missing or `null`).
pub(crate) fn list<'j, 'a, T>(
    map: &'j Map<'a>,
    key: &str,
    mut convert: impl FnMut(&'j Json<'a>) -> Result<T, JsonError>,
) -> Result<Vec<T>, JsonError> {
    let Some(elements) = field(map, key, |value| match value {
        Json::Array(elements) => Ok(elements),
        _ => Err(error(JsonErrorKind::WrongType)),
    })?
    else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(elements.len());
    for (index, element) in elements.iter().enumerate() {
        out.push(convert(element).map_err(|e| e.at(index).under(key))?);
    }
    Ok(out)
}

/// A string.
pub(crate) fn string<'j>(value: &'j Json<'_>) -> Result<&'j str, JsonError> {
    match value {
        Json::String(s) => Ok(s),
        _ => Err(error(JsonErrorKind::WrongType)),
    }
}

/// A boolean.
pub(crate) fn boolean(value: &Json<'_>) -> Result<bool, JsonError> {
    match value {
        Json::Bool(b) => Ok(*b),
        _ => Err(error(JsonErrorKind::WrongType)),
    }
}

/// Decimal digits only, as proto3 JSON writes integers in strings (an optional `-` for
/// signed ones is handled by the caller).
fn digits(s: &str) -> Result<u64, JsonError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error(JsonErrorKind::InvalidNumber));
    }
    s.parse().map_err(|_| error(JsonErrorKind::InvalidNumber))
}

/// An unsigned 64-bit integer: a decimal string (what OTLP/JSON writes) or a number.
pub(crate) fn uint64(value: &Json<'_>) -> Result<u64, JsonError> {
    match value {
        Json::String(s) => digits(s),
        // A number with a fraction or an exponent is not an integer, even when it is whole.
        Json::Number(n) => digits(n),
        _ => Err(error(JsonErrorKind::WrongType)),
    }
}

/// A signed 64-bit integer: a decimal string or a number.
pub(crate) fn int64(value: &Json<'_>) -> Result<i64, JsonError> {
    let text: &str = match value {
        Json::String(s) => s,
        Json::Number(n) => n,
        _ => return Err(error(JsonErrorKind::WrongType)),
    };
    match text.strip_prefix('-') {
        Some(magnitude) => 0i64
            .checked_sub_unsigned(digits(magnitude)?)
            .ok_or_else(|| error(JsonErrorKind::InvalidNumber)),
        None => i64::try_from(digits(text)?).map_err(|_| error(JsonErrorKind::InvalidNumber)),
    }
}

/// An unsigned 32-bit integer: a number (or, as proto3 JSON parsers also accept, a string).
pub(crate) fn uint32(value: &Json<'_>) -> Result<u32, JsonError> {
    u32::try_from(uint64(value)?).map_err(|_| error(JsonErrorKind::InvalidNumber))
}

/// An enum: OTLP/JSON allows only the integer value, never the name.
pub(crate) fn enumeration(value: &Json<'_>) -> Result<i64, JsonError> {
    match value {
        Json::Number(_) => int64(value)
            .ok()
            .filter(|v| i32::try_from(*v).is_ok())
            .ok_or_else(|| error(JsonErrorKind::InvalidNumber)),
        Json::String(_) => Err(error(JsonErrorKind::UnknownEnumValue)),
        _ => Err(error(JsonErrorKind::WrongType)),
    }
}

/// A double: a number, or one of the strings proto3 JSON uses for the values JSON numbers
/// cannot hold (and, as its parsers do, a number written as a string).
pub(crate) fn double(value: &Json<'_>) -> Result<f64, JsonError> {
    match value {
        // The standard library's conversion is correctly rounded; a number too large for an
        // f64 parses as infinity, which a JSON number cannot mean.
        Json::Number(n) => n
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| error(JsonErrorKind::InvalidNumber)),
        Json::String(s) => match s.as_ref() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| error(JsonErrorKind::InvalidNumber)),
        },
        _ => Err(error(JsonErrorKind::WrongType)),
    }
}

/// An id of `N` bytes as hex (either case, as OTLP/JSON receivers must accept).
pub(crate) fn hex_id<const N: usize>(value: &Json<'_>) -> Result<[u8; N], JsonError> {
    let text = string(value)?.as_bytes();
    if text.len() != 2 * N {
        return Err(error(JsonErrorKind::InvalidId));
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let hi = hex_digit(pair[0]).ok_or_else(|| error(JsonErrorKind::InvalidId))?;
        let lo = hex_digit(pair[1]).ok_or_else(|| error(JsonErrorKind::InvalidId))?;
        *byte = (hi << 4) | lo;
    }
    Ok(out)
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;

    /// Parses test JSON; the inputs here are all valid.
    fn json(text: &str) -> Json<'_> {
        parse(text.as_bytes()).unwrap_or(Json::Null)
    }

    #[test]
    fn numbers_follow_proto3_json() {
        assert_eq!(uint64(&json(r#""18446744073709551615""#)), Ok(u64::MAX));
        assert_eq!(uint64(&json(r#"12"#)), Ok(12));
        assert_eq!(int64(&json(r#""-9223372036854775808""#)), Ok(i64::MIN));
        assert_eq!(int64(&json(r#"-5"#)), Ok(-5));
        assert_eq!(uint32(&json("4294967295")), Ok(u32::MAX));
        assert_eq!(double(&json(r#""-Infinity""#)), Ok(f64::NEG_INFINITY));
        assert_eq!(double(&json(r#"2"#)), Ok(2.0));
        assert_eq!(enumeration(&json(r#"2"#)), Ok(2));
        assert_eq!(int64(&json("-0")), Ok(0));
        assert_eq!(double(&json("0.1")), Ok(0.1));
        assert_eq!(
            double(&json("1.4378975859819249e299")),
            Ok(1.437_897_585_981_924_9e299)
        );
        type Convert = fn(&Json<'_>) -> Result<(), JsonError>;
        let bad: &[(Json<'_>, Convert, JsonErrorKind)] = &[
            (
                json(r#""+1""#),
                |v| uint64(v).map(drop),
                JsonErrorKind::InvalidNumber,
            ),
            (
                json(r#"" 1""#),
                |v| uint64(v).map(drop),
                JsonErrorKind::InvalidNumber,
            ),
            (
                json(r#""18446744073709551616""#),
                |v| uint64(v).map(drop),
                JsonErrorKind::InvalidNumber,
            ),
            (
                json(r#"-1"#),
                |v| uint64(v).map(drop),
                JsonErrorKind::InvalidNumber,
            ),
            (
                json(r#"1.5"#),
                |v| uint64(v).map(drop),
                JsonErrorKind::InvalidNumber,
            ),
            (
                json(r#"true"#),
                |v| uint64(v).map(drop),
                JsonErrorKind::WrongType,
            ),
            (
                json(r#""9223372036854775808""#),
                |v| int64(v).map(drop),
                JsonErrorKind::InvalidNumber,
            ),
            (
                json(r#""-""#),
                |v| int64(v).map(drop),
                JsonErrorKind::InvalidNumber,
            ),
            (
                json("4294967296"),
                |v| uint32(v).map(drop),
                JsonErrorKind::InvalidNumber,
            ),
            (
                json(r#""SPAN_KIND_SERVER""#),
                |v| enumeration(v).map(drop),
                JsonErrorKind::UnknownEnumValue,
            ),
            (
                json(r#""1e999""#),
                |v| double(v).map(drop),
                JsonErrorKind::InvalidNumber,
            ),
            (
                json("1e999"),
                |v| double(v).map(drop),
                JsonErrorKind::InvalidNumber,
            ),
            (
                json("1e2"),
                |v| uint64(v).map(drop),
                JsonErrorKind::InvalidNumber,
            ),
            (
                json("2.0"),
                |v| enumeration(v).map(drop),
                JsonErrorKind::InvalidNumber,
            ),
        ];
        for (value, convert, kind) in bad {
            assert_eq!(
                convert(value).map_err(|e| e.kind()),
                Err(*kind),
                "{value:?}"
            );
        }
    }

    #[test]
    fn ids_are_hex_in_either_case() {
        assert_eq!(hex_id::<2>(&json(r#""0aFf""#)), Ok([0x0a, 0xff]));
        for bad in [
            json(r#""0af""#),
            json(r#""0afff""#),
            json(r#""0ag0""#),
            json(r#""+aff""#),
            json(r#"1"#),
        ] {
            assert!(hex_id::<2>(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn errors_carry_the_path() {
        let value = json(r#"{"a": [{"b": 1}, {"b": "x"}]}"#);
        let map = object(&value).ok().flatten().unwrap_or_default();
        let result = list(map, "a", |element| {
            let inner = object(element)?.unwrap_or_default();
            field(inner, "b", uint32)
        });
        let error = result.expect_err("b is not a number");
        assert_eq!(error.path(), "a[1].b");
        assert_eq!(error.kind(), JsonErrorKind::InvalidNumber);
    }
}
