//! OTLP/JSON for the messages every signal shares: `AnyValue`, `KeyValue`,
//! `InstrumentationScope` and `Resource`.

use telemetry_core::{InstrumentationScope, KeyValue, Resource, Value};

use super::base64;
use super::parse::{Json, Map};
use super::read::{boolean, double, error, field, int64, list, object, string, uint32};
use super::write::JsonWriter;
use crate::error::{JsonError, JsonErrorKind};
use crate::proto::common::{MAX_RESOURCE_ATTRIBUTES, build_resource, string_value};

/// Writes `"key":[…]` with the attributes, or nothing when there are none.
pub(crate) fn write_attributes(w: &mut JsonWriter<'_>, key: &str, attributes: &[KeyValue]) {
    if attributes.is_empty() {
        return;
    }
    w.key(key);
    w.begin_array();
    for kv in attributes {
        write_key_value(w, kv);
    }
    w.end_array();
}

fn write_key_value(w: &mut JsonWriter<'_>, kv: &KeyValue) {
    w.begin_object();
    w.key("key");
    w.string(&kv.key);
    w.key("value");
    write_any_value(w, &kv.value);
    w.end_object();
}

/// Writes an `AnyValue` object; `Value::Empty` is `{}`.
pub(crate) fn write_any_value(w: &mut JsonWriter<'_>, value: &Value) {
    w.begin_object();
    match value {
        Value::Empty => {}
        Value::Bool(v) => {
            w.key("boolValue");
            w.bool(*v);
        }
        Value::I64(v) => {
            w.key("intValue");
            w.i64_string(*v);
        }
        Value::F64(v) => {
            w.key("doubleValue");
            w.double(*v);
        }
        Value::String(s) => {
            w.key("stringValue");
            w.string(s);
        }
        Value::Bytes(bytes) => {
            w.key("bytesValue");
            w.base64(bytes);
        }
        Value::Array(values) => {
            // `values` is written even when empty, unlike other repeated fields: some
            // receivers (opentelemetry-proto's serde types among them) require it here.
            w.key("arrayValue");
            w.begin_object();
            w.key("values");
            w.begin_array();
            for value in values {
                write_any_value(w, value);
            }
            w.end_array();
            w.end_object();
        }
        Value::Map(pairs) => {
            w.key("kvlistValue");
            w.begin_object();
            w.key("values");
            w.begin_array();
            for kv in pairs {
                write_key_value(w, kv);
            }
            w.end_array();
            w.end_object();
        }
    }
    w.end_object();
}

/// Writes `"droppedAttributesCount":n` unless it is zero.
pub(crate) fn write_count(w: &mut JsonWriter<'_>, key: &str, count: u32) {
    if count != 0 {
        w.key(key);
        w.number(u64::from(count));
    }
}

/// Writes `"key":"value"` unless the value is empty.
pub(crate) fn write_string(w: &mut JsonWriter<'_>, key: &str, value: &str) {
    if !value.is_empty() {
        w.key(key);
        w.string(value);
    }
}

/// Writes `"resource":{…}`.
pub(crate) fn write_resource(w: &mut JsonWriter<'_>, resource: &Resource, dropped: u32) {
    w.key("resource");
    w.begin_object();
    write_attributes(w, "attributes", resource.attributes());
    write_count(w, "droppedAttributesCount", dropped);
    w.end_object();
}

/// Writes `"scope":{…}`; the schema URL belongs to the envelope.
pub(crate) fn write_scope(w: &mut JsonWriter<'_>, scope: &InstrumentationScope, dropped: u32) {
    w.key("scope");
    w.begin_object();
    write_string(w, "name", scope.name());
    write_string(w, "version", scope.version().unwrap_or_default());
    write_attributes(w, "attributes", scope.attributes());
    write_count(w, "droppedAttributesCount", dropped);
    w.end_object();
}

/// The object, or an empty one for `null` (proto3 JSON's "absent").
pub(crate) fn object_or_empty<'j, 'a>(value: &'j Json<'a>) -> Result<&'j Map<'a>, JsonError> {
    Ok(object(value)?.unwrap_or_default())
}

/// Reads the `KeyValue` array in field `key`.
pub(crate) fn read_attributes(map: &Map<'_>, key: &str) -> Result<Vec<KeyValue>, JsonError> {
    list(map, key, read_key_value)
}

fn read_key_value(value: &Json<'_>) -> Result<KeyValue, JsonError> {
    let map = object_or_empty(value)?;
    let key = field(map, "key", string)?.unwrap_or_default();
    let value = field(map, "value", read_any_value)?.unwrap_or_default();
    Ok(KeyValue {
        key: string_value(key),
        value,
    })
}

/// Reads an `AnyValue` object. With several members present (which a conforming sender
/// never writes) the first in the proto's field order wins; an object with none, or with
/// only unknown keys, is the empty value.
pub(crate) fn read_any_value(value: &Json<'_>) -> Result<Value, JsonError> {
    let map = object_or_empty(value)?;
    if let Some(s) = field(map, "stringValue", string)? {
        return Ok(Value::String(string_value(s)));
    }
    if let Some(b) = field(map, "boolValue", boolean)? {
        return Ok(Value::Bool(b));
    }
    if let Some(i) = field(map, "intValue", int64)? {
        return Ok(Value::I64(i));
    }
    if let Some(d) = field(map, "doubleValue", double)? {
        return Ok(Value::F64(d));
    }
    if let Some(values) = field(map, "arrayValue", |array| {
        list(object_or_empty(array)?, "values", read_any_value)
    })? {
        return Ok(Value::Array(values));
    }
    if let Some(pairs) = field(map, "kvlistValue", |kvlist| {
        read_attributes(object_or_empty(kvlist)?, "values")
    })? {
        return Ok(Value::Map(pairs));
    }
    if let Some(bytes) = field(map, "bytesValue", |b| {
        base64::decode(string(b)?).ok_or_else(|| error(JsonErrorKind::InvalidBase64))
    })? {
        return Ok(Value::Bytes(bytes));
    }
    Ok(Value::Empty)
}

/// Reads a `Resource` object with the envelope's schema URL.
pub(crate) fn read_resource(
    value: &Json<'_>,
    schema_url: &str,
) -> Result<(Resource, u32), JsonError> {
    let map = object_or_empty(value)?;
    let attributes = read_attributes(map, "attributes")?;
    if attributes.len() > MAX_RESOURCE_ATTRIBUTES {
        return Err(error(JsonErrorKind::TooManyAttributes).under("attributes"));
    }
    let dropped = field(map, "droppedAttributesCount", uint32)?.unwrap_or_default();
    Ok((build_resource(attributes, schema_url), dropped))
}

/// Reads an `InstrumentationScope` object with the envelope's schema URL.
pub(crate) fn read_scope(
    value: &Json<'_>,
    schema_url: &str,
) -> Result<(InstrumentationScope, u32), JsonError> {
    let map = object_or_empty(value)?;
    let name = field(map, "name", string)?.unwrap_or_default();
    let version = field(map, "version", string)?.unwrap_or_default();
    let attributes = read_attributes(map, "attributes")?;
    let dropped = field(map, "droppedAttributesCount", uint32)?.unwrap_or_default();
    let mut builder = InstrumentationScope::builder(string_value(name));
    if !version.is_empty() {
        builder = builder.with_version(string_value(version));
    }
    if !schema_url.is_empty() {
        builder = builder.with_schema_url(string_value(schema_url));
    }
    Ok((builder.with_attributes(attributes).build(), dropped))
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;

    fn to_json(value: &Value) -> String {
        let mut out = Vec::new();
        write_any_value(&mut JsonWriter::new(&mut out), value);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn any_value_shapes_match_the_otlp_examples() -> Result<(), JsonError> {
        let cases = [
            (Value::Empty, r#"{}"#),
            (Value::from("v"), r#"{"stringValue":"v"}"#),
            (Value::from(-10i64), r#"{"intValue":"-10"}"#),
            (Value::from(false), r#"{"boolValue":false}"#),
            (Value::from(1.5), r#"{"doubleValue":1.5}"#),
            (Value::Bytes(vec![1, 2, 3]), r#"{"bytesValue":"AQID"}"#),
            (Value::Array(vec![]), r#"{"arrayValue":{"values":[]}}"#),
            (Value::Map(vec![]), r#"{"kvlistValue":{"values":[]}}"#),
            (
                Value::Array(vec![Value::from(1i64), Value::Empty]),
                r#"{"arrayValue":{"values":[{"intValue":"1"},{}]}}"#,
            ),
            (
                Value::Map(vec![KeyValue::new("k", "v")]),
                r#"{"kvlistValue":{"values":[{"key":"k","value":{"stringValue":"v"}}]}}"#,
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(to_json(&value), expected);
            let parsed = parse(expected.as_bytes())?;
            assert_eq!(read_any_value(&parsed)?, value, "{expected}");
        }
        Ok(())
    }

    #[test]
    fn int_values_are_accepted_as_numbers_too_and_unknown_keys_ignored() -> Result<(), JsonError> {
        assert_eq!(
            read_any_value(&parse(br#"{"intValue": 7}"#)?)?,
            Value::I64(7)
        );
        assert_eq!(
            read_any_value(&parse(br#"{"futureValue": 7}"#)?)?,
            Value::Empty
        );
        assert_eq!(read_any_value(&parse(b"null")?)?, Value::Empty);
        let error = read_any_value(&parse(br#"{"bytesValue": "!"}"#)?).expect_err("bad base64");
        assert_eq!(
            (error.kind(), error.path()),
            (JsonErrorKind::InvalidBase64, "bytesValue")
        );
        Ok(())
    }
}
