//! JSON renderings shared by the store's answers.
//!
//! Timestamps and nanosecond durations are strings (JSON numbers lose precision past 2^53),
//! with a millisecond number beside them for charts; ids are lowercase hex.

use serde_json::{Map, Value as Json, json};
use telemetry_core::{InstrumentationScope, KeyValue, Resource, Value};

/// Unix nanoseconds as a decimal string.
pub(crate) fn nanos(value: u64) -> Json {
    Json::String(value.to_string())
}

/// Nanoseconds as a millisecond number.
pub(crate) fn millis(value: u64) -> Json {
    json!(value as f64 / 1e6)
}

/// An attribute value as JSON; bytes become lowercase hex.
pub(crate) fn value(value: &Value) -> Json {
    match value {
        Value::Empty => Json::Null,
        Value::Bool(v) => json!(v),
        Value::I64(v) => json!(v),
        Value::F64(v) => json!(v),
        Value::String(s) => json!(s.as_str()),
        Value::Bytes(bytes) => Json::String(bytes.iter().map(|b| format!("{b:02x}")).collect()),
        Value::Array(values) => Json::Array(values.iter().map(self::value).collect()),
        Value::Map(pairs) => attributes(pairs),
    }
}

/// Attributes as one JSON object, key to value.
pub(crate) fn attributes(list: &[KeyValue]) -> Json {
    let mut map = Map::with_capacity(list.len());
    for kv in list {
        map.insert(kv.key.as_str().to_owned(), value(&kv.value));
    }
    Json::Object(map)
}

/// A resource: its attributes and schema URL.
pub(crate) fn resource(resource: &Resource) -> Json {
    json!({
        "attributes": attributes(resource.attributes()),
        "schemaUrl": resource.schema_url(),
    })
}

/// An instrumentation scope.
pub(crate) fn scope(scope: &InstrumentationScope) -> Json {
    json!({
        "name": scope.name(),
        "version": scope.version(),
        "attributes": attributes(scope.attributes()),
    })
}

/// Whether any attribute `key` renders as `expected` (the API's attribute equality).
pub(crate) fn attribute_matches(list: &[KeyValue], key: &str, expected: &str) -> bool {
    list.iter()
        .any(|kv| kv.key.as_str() == key && value_equals(&kv.value, expected))
}

/// Whether `value` renders as `expected` (strings as themselves, other values as displayed).
/// Searches call this for every candidate, so the rendering is compared as it is written,
/// never allocated.
pub(crate) fn value_equals(value: &Value, expected: &str) -> bool {
    match value {
        Value::String(s) => s.as_str() == expected,
        other => {
            let mut rest = RenderedEquals(Some(expected.as_bytes()));
            // An `Err` is only our own signal that the rendering has already differed.
            let _ = std::fmt::Write::write_fmt(&mut rest, format_args!("{other}"));
            rest.0.is_some_and(<[u8]>::is_empty)
        }
    }
}

/// What a rendering has yet to match; `None` once it differed.
struct RenderedEquals<'a>(Option<&'a [u8]>);

impl std::fmt::Write for RenderedEquals<'_> {
    fn write_str(&mut self, piece: &str) -> std::fmt::Result {
        match self.0.and_then(|rest| rest.strip_prefix(piece.as_bytes())) {
            Some(rest) => {
                self.0 = Some(rest);
                Ok(())
            }
            None => {
                self.0 = None;
                Err(std::fmt::Error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_render_with_bytes_as_hex_and_maps_as_objects() {
        let list = vec![
            KeyValue::new("b", Value::Bytes(vec![0xab, 0x01])),
            KeyValue::new("m", Value::Map(vec![KeyValue::new("x", 1i64)])),
            KeyValue::new("e", Value::Empty),
        ];
        assert_eq!(
            attributes(&list),
            json!({"b": "ab01", "m": {"x": 1}, "e": null})
        );
    }

    #[test]
    fn value_equality_matches_the_whole_rendering_exactly() {
        let values = [
            Value::I64(-42),
            Value::F64(1.5),
            Value::Bool(true),
            Value::Bytes(vec![0xab, 0x01]),
            Value::Array(vec![Value::I64(1), Value::from("x")]),
            Value::Map(vec![KeyValue::new("k", 2i64)]),
            Value::Empty,
        ];
        for value in values {
            let rendered = value.to_string();
            assert!(value_equals(&value, &rendered), "{value:?}");
            let longer = format!("{rendered}0");
            assert!(!value_equals(&value, &longer), "{value:?} vs {longer:?}");
            if let Some((cut, _)) = rendered.char_indices().last() {
                assert!(
                    !value_equals(&value, &rendered[..cut]),
                    "{value:?}, a prefix"
                );
            }
        }
    }

    #[test]
    fn attribute_equality_compares_rendered_values() {
        let list = vec![KeyValue::new("code", 200i64), KeyValue::new("ok", true)];
        assert!(attribute_matches(&list, "code", "200"));
        assert!(attribute_matches(&list, "ok", "true"));
        assert!(!attribute_matches(&list, "code", "404"));
        assert!(!attribute_matches(&list, "missing", "200"));
    }
}
