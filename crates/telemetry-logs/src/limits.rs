//! Attribute limits of log records: how many attributes a record keeps, and how long their
//! values may be.

use telemetry_core::env::{self, EnvSource, ProcessEnv};
use telemetry_core::{KeyValue, StringValue, Value};

use crate::attributes::LogAttributes;

/// Deepest nesting of arrays and maps kept in an attribute value; deeper parts become
/// empty, so that a hostile or buggy value cannot make encoders recurse without bound.
pub const MAX_VALUE_DEPTH: usize = 64;

/// Limits on a log record's attributes, applied when it is emitted. The body is exempt.
///
/// Keys are made unique first (a later value for a key replaces the earlier one, in its
/// place); then attributes beyond `max_attributes` are discarded and counted in
/// [`LogRecord::dropped_attributes_count`](crate::LogRecord::dropped_attributes_count);
/// string values longer than `max_attribute_value_length` characters, and byte values
/// longer than that many bytes, are truncated, inside arrays and maps too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogLimits {
    /// Most attributes per record (`OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT`, then
    /// `OTEL_ATTRIBUTE_COUNT_LIMIT`; default 128).
    pub max_attributes: u32,
    /// Longest attribute value kept, in characters for strings and bytes for byte arrays
    /// (`OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT`, then
    /// `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`; default unlimited).
    pub max_attribute_value_length: Option<u32>,
}

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits {
            max_attributes: 128,
            max_attribute_value_length: None,
        }
    }
}

impl LogLimits {
    /// The defaults overridden by the limit variables of the process environment.
    pub fn from_env() -> Self {
        Self::from_env_source(&ProcessEnv)
    }

    /// [`LogLimits::from_env`] reading from `env`. The log-record variable wins over the
    /// general `OTEL_ATTRIBUTE_*` one; values that do not parse are reported and ignored.
    pub fn from_env_source(env: &(impl EnvSource + ?Sized)) -> Self {
        let read = |specific: &str, general: &str| {
            env::read_u64(env, specific)
                .or_else(|| env::read_u64(env, general))
                .map(|value| u32::try_from(value).unwrap_or(u32::MAX))
        };
        LogLimits {
            max_attributes: read(
                "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT",
                "OTEL_ATTRIBUTE_COUNT_LIMIT",
            )
            .unwrap_or(LogLimits::default().max_attributes),
            max_attribute_value_length: read(
                "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT",
                "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            ),
        }
    }

    /// Applies the limits to `attributes`, returning how many were discarded.
    pub(crate) fn apply(&self, attributes: &mut LogAttributes) -> u32 {
        dedup_keys(attributes);
        let max = self.max_attributes as usize;
        let dropped = attributes.len().saturating_sub(max);
        if dropped > 0 {
            attributes.truncate(max);
        }
        let max_len = self.max_attribute_value_length.map(|max| max as usize);
        // Without a length limit only nested values (for the depth limit) need a visit.
        let needs_visit = |kv: &KeyValue| {
            max_len.is_some() || matches!(kv.value, Value::Array(_) | Value::Map(_))
        };
        if attributes.iter().any(needs_visit) {
            for attribute in attributes.iter_mut() {
                limit_value(&mut attribute.value, max_len, 0);
            }
        }
        u32::try_from(dropped).unwrap_or(u32::MAX)
    }
}

/// Keeps the first position of each key with the last value given for it, in place.
/// Quadratic, but records carry a handful of attributes; allocates nothing.
fn dedup_keys(attributes: &mut LogAttributes) {
    let has_duplicates = attributes
        .iter()
        .enumerate()
        .any(|(i, kv)| attributes[..i].iter().any(|earlier| earlier.key == kv.key));
    if !has_duplicates {
        return;
    }
    // `attributes[..kept]` holds one attribute per key seen so far, in first-seen order.
    let mut kept = 0;
    for i in 0..attributes.len() {
        let (unique, rest) = attributes.split_at_mut(i);
        let current = &mut rest[0];
        match unique[..kept].iter_mut().find(|kv| kv.key == current.key) {
            Some(existing) => std::mem::swap(&mut existing.value, &mut current.value),
            None => {
                attributes.swap(kept, i);
                kept += 1;
            }
        }
    }
    attributes.truncate(kept);
}

/// Truncates strings and byte arrays to `max` (when set) and empties arrays and maps nested
/// deeper than [`MAX_VALUE_DEPTH`], which applies even without a length limit.
fn limit_value(value: &mut Value, max: Option<usize>, depth: usize) {
    match value {
        Value::String(s) => {
            if let Some((cut, _)) = max.and_then(|max| s.char_indices().nth(max)) {
                *s = StringValue::from(s[..cut].to_owned());
            }
        }
        Value::Bytes(bytes) => {
            if let Some(max) = max {
                bytes.truncate(max);
            }
        }
        Value::Array(values) if depth + 1 >= MAX_VALUE_DEPTH => values.clear(),
        Value::Map(pairs) if depth + 1 >= MAX_VALUE_DEPTH => pairs.clear(),
        Value::Array(values) => {
            for value in values {
                limit_value(value, max, depth + 1);
            }
        }
        Value::Map(pairs) => {
            for pair in pairs {
                limit_value(&mut pair.value, max, depth + 1);
            }
        }
        Value::Empty | Value::Bool(_) | Value::I64(_) | Value::F64(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_environment() {
        assert_eq!(
            LogLimits::from_env_source(&[] as &[(&str, &str)]),
            LogLimits::default()
        );
        let env = [
            ("OTEL_ATTRIBUTE_COUNT_LIMIT", "10"),
            ("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", "5"),
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "8"),
        ];
        let limits = LogLimits::from_env_source(&env);
        assert_eq!(limits.max_attributes, 5, "the log-record variable wins");
        assert_eq!(
            limits.max_attribute_value_length,
            Some(8),
            "general applies"
        );
        let bad = LogLimits::from_env_source(&[("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", "x")]);
        assert_eq!(bad.max_attributes, 128, "a bad value is ignored");
    }

    #[test]
    fn duplicates_merge_in_place_before_counting() {
        let limits = LogLimits {
            max_attributes: 2,
            max_attribute_value_length: None,
        };
        let mut attributes = LogAttributes::from(vec![
            KeyValue::new("a", 1i64),
            KeyValue::new("b", 2i64),
            KeyValue::new("a", 3i64),
            KeyValue::new("c", 4i64),
            KeyValue::new("d", 5i64),
        ]);
        assert_eq!(limits.apply(&mut attributes), 2);
        assert_eq!(
            attributes,
            vec![KeyValue::new("a", 3i64), KeyValue::new("b", 2i64)]
        );
        // Inline, and a key given three times: its last value, at its first position.
        let mut attributes: LogAttributes = [
            KeyValue::new("x", 1i64),
            KeyValue::new("x", 2i64),
            KeyValue::new("y", 3i64),
            KeyValue::new("x", 4i64),
        ]
        .into();
        assert_eq!(LogLimits::default().apply(&mut attributes), 0);
        assert_eq!(
            attributes,
            [KeyValue::new("x", 4i64), KeyValue::new("y", 3i64)]
        );
    }

    #[test]
    fn values_are_truncated_by_characters_and_depth() {
        let limits = LogLimits {
            max_attributes: 128,
            max_attribute_value_length: Some(3),
        };
        let mut deep = Value::from("deep");
        for _ in 0..70 {
            deep = Value::Array(vec![deep]);
        }
        let mut attributes = LogAttributes::from(vec![
            KeyValue::new("s", "héllo"),
            KeyValue::new("b", vec![1u8, 2, 3, 4]),
            KeyValue::new(
                "m",
                vec![
                    KeyValue::new("inner", "abcdef"),
                    KeyValue::new("n", 12345i64),
                ],
            ),
            KeyValue::new("deep", deep),
        ]);
        assert_eq!(limits.apply(&mut attributes), 0);
        assert_eq!(attributes[0].value, Value::from("hél"));
        assert_eq!(attributes[1].value, Value::from(vec![1u8, 2, 3]));
        assert_eq!(
            attributes[2].value,
            Value::Map(vec![
                KeyValue::new("inner", "abc"),
                KeyValue::new("n", 12345i64)
            ])
        );
        assert_eq!(attributes[3].value.depth(), MAX_VALUE_DEPTH);

        let mut unlimited = LogAttributes::from(vec![KeyValue::new("long", "x".repeat(1000)), {
            let mut deep = Value::from(1i64);
            for _ in 0..70 {
                deep = Value::Map(vec![KeyValue::new("k", deep)]);
            }
            KeyValue::new("deep", deep)
        }]);
        LogLimits::default().apply(&mut unlimited);
        assert_eq!(unlimited[0].value.as_str().map(str::len), Some(1000));
        assert_eq!(
            unlimited[1].value.depth(),
            MAX_VALUE_DEPTH,
            "the depth limit holds without a length limit"
        );
    }
}
