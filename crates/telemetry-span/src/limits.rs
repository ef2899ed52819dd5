//! Span limits: how much one span may hold, and what happens to the rest.

use std::sync::atomic::{AtomicBool, Ordering};

use telemetry_core::env::{self, EnvSource, ProcessEnv};
use telemetry_core::{KeyValue, StringValue, Value, diagnostic};

/// Deepest nesting of arrays and maps kept in an attribute value; deeper parts become empty.
pub const MAX_VALUE_DEPTH: usize = 64;

/// Limits on what a span records. Beyond a count limit the new item is dropped and counted
/// (overwriting an existing attribute key still works); values longer than
/// `max_attribute_value_length` are truncated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanLimits {
    /// Most attributes per span (`OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, then
    /// `OTEL_ATTRIBUTE_COUNT_LIMIT`; default 128).
    pub max_attributes_per_span: u32,
    /// Most events per span (`OTEL_SPAN_EVENT_COUNT_LIMIT`; default 128).
    pub max_events_per_span: u32,
    /// Most links per span (`OTEL_SPAN_LINK_COUNT_LIMIT`; default 128).
    pub max_links_per_span: u32,
    /// Most attributes per event (`OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`; default 128).
    pub max_attributes_per_event: u32,
    /// Most attributes per link (`OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`; default 128).
    pub max_attributes_per_link: u32,
    /// Longest string (in characters) or byte array (in bytes) kept in an attribute value
    /// (`OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`, then `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`;
    /// default unlimited).
    pub max_attribute_value_length: Option<u32>,
}

impl Default for SpanLimits {
    fn default() -> Self {
        SpanLimits {
            max_attributes_per_span: 128,
            max_events_per_span: 128,
            max_links_per_span: 128,
            max_attributes_per_event: 128,
            max_attributes_per_link: 128,
            max_attribute_value_length: None,
        }
    }
}

fn read_limit(
    env: &(impl EnvSource + ?Sized),
    specific: &str,
    general: Option<&str>,
) -> Option<u32> {
    let value = env::read_u64(env, specific)
        .or_else(|| general.and_then(|name| env::read_u64(env, name)))?;
    Some(u32::try_from(value).unwrap_or(u32::MAX))
}

impl SpanLimits {
    /// The defaults overridden by the `OTEL_*` limit variables of the process environment.
    pub fn from_env() -> Self {
        Self::from_env_source(&ProcessEnv)
    }

    /// [`SpanLimits::from_env`] reading variables from `env`. A span-specific variable wins
    /// over the general `OTEL_ATTRIBUTE_*` one.
    pub fn from_env_source(env: &(impl EnvSource + ?Sized)) -> Self {
        let defaults = SpanLimits::default();
        let general_count = Some("OTEL_ATTRIBUTE_COUNT_LIMIT");
        SpanLimits {
            max_attributes_per_span: read_limit(
                env,
                "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
                general_count,
            )
            .unwrap_or(defaults.max_attributes_per_span),
            max_events_per_span: read_limit(env, "OTEL_SPAN_EVENT_COUNT_LIMIT", None)
                .unwrap_or(defaults.max_events_per_span),
            max_links_per_span: read_limit(env, "OTEL_SPAN_LINK_COUNT_LIMIT", None)
                .unwrap_or(defaults.max_links_per_span),
            max_attributes_per_event: read_limit(
                env,
                "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
                general_count,
            )
            .unwrap_or(defaults.max_attributes_per_event),
            max_attributes_per_link: read_limit(
                env,
                "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
                general_count,
            )
            .unwrap_or(defaults.max_attributes_per_link),
            max_attribute_value_length: read_limit(
                env,
                "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
                Some("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"),
            ),
        }
    }
}

/// Sets `attribute` in `attributes`: an existing key is overwritten; a new key is added
/// if there is room, else counted in `dropped`.
pub(crate) fn set_attribute(
    attributes: &mut Vec<KeyValue>,
    dropped: &mut u32,
    max: u32,
    max_len: Option<u32>,
    mut attribute: KeyValue,
) {
    match max_len {
        Some(max_len) => truncate_value(&mut attribute.value, max_len as usize, 0),
        // No length limit, but the depth limit always holds: recursion over a value nested
        // without bound (clone, drop, encode) could overflow the stack.
        None if is_nested(&attribute.value) => truncate_value(&mut attribute.value, usize::MAX, 0),
        None => {}
    }
    if let Some(existing) = attributes.iter_mut().find(|kv| kv.key == attribute.key) {
        existing.value = attribute.value;
    } else if attributes.len() < max as usize {
        attributes.push(attribute);
    } else {
        *dropped = dropped.saturating_add(1);
        report_limit_once("attributes");
    }
}

/// Whether a span limit has dropped anything yet in this process.
static LIMIT_REPORTED: AtomicBool = AtomicBool::new(false);

/// Reports the first time a span limit drops something (the spec asks for a log message);
/// every drop is also counted on its span and exported, so later ones are not repeated.
pub(crate) fn report_limit_once(what: &str) {
    if !LIMIT_REPORTED.swap(true, Ordering::Relaxed) {
        diagnostic::report(
            "span limits",
            format_args!(
                "a span reached its limit of {what} and dropped some; the dropped counts are \
                 exported with each span, and later drops are not reported"
            ),
        );
    }
}

/// Applies limits to a list of attributes given at once (builder, event, link): later
/// duplicates overwrite earlier ones; beyond `max` new keys are dropped and counted.
#[inline]
pub(crate) fn limit_attributes(
    input: Vec<KeyValue>,
    max: u32,
    max_len: Option<u32>,
) -> (Vec<KeyValue>, u32) {
    // Most spans, events and links start with no attributes at all.
    if input.is_empty() {
        return (input, 0);
    }
    limit_some_attributes(input, max, max_len)
}

fn limit_some_attributes(
    input: Vec<KeyValue>,
    max: u32,
    max_len: Option<u32>,
) -> (Vec<KeyValue>, u32) {
    let fits = input.len() <= max as usize
        && max_len.is_none()
        && !input.iter().any(|kv| is_nested(&kv.value));
    if fits && !has_duplicate_keys(&input) {
        return (input, 0);
    }
    let mut out = Vec::with_capacity(input.len().min(max as usize));
    let mut dropped = 0;
    for attribute in input {
        set_attribute(&mut out, &mut dropped, max, max_len, attribute);
    }
    (out, dropped)
}

fn has_duplicate_keys(attributes: &[KeyValue]) -> bool {
    attributes
        .iter()
        .enumerate()
        .any(|(i, kv)| attributes[..i].iter().any(|earlier| earlier.key == kv.key))
}

/// Truncates strings to `max` characters and byte arrays to `max` bytes, recursively in
/// arrays and maps; parts nested deeper than [`MAX_VALUE_DEPTH`] become empty.
fn is_nested(value: &Value) -> bool {
    matches!(value, Value::Array(_) | Value::Map(_))
}

pub(crate) fn truncate_value(value: &mut Value, max: usize, depth: usize) {
    match value {
        Value::String(s) => {
            if let Some((cut, _)) = s.char_indices().nth(max) {
                *s = StringValue::from(s[..cut].to_owned());
            }
        }
        Value::Bytes(bytes) => bytes.truncate(max),
        Value::Array(values) if depth + 1 >= MAX_VALUE_DEPTH => values.clear(),
        Value::Map(pairs) if depth + 1 >= MAX_VALUE_DEPTH => pairs.clear(),
        Value::Array(values) => values
            .iter_mut()
            .for_each(|v| truncate_value(v, max, depth + 1)),
        Value::Map(pairs) => pairs
            .iter_mut()
            .for_each(|kv| truncate_value(&mut kv.value, max, depth + 1)),
        Value::Empty | Value::Bool(_) | Value::I64(_) | Value::F64(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_capped_without_a_length_limit() {
        let mut deep = Value::I64(1);
        for _ in 0..(MAX_VALUE_DEPTH + 10) {
            deep = Value::Array(vec![deep]);
        }
        let depth = |mut value: &Value| {
            let mut levels = 0;
            while let Value::Array(inner) = value {
                levels += 1;
                match inner.first() {
                    Some(next) => value = next,
                    None => break,
                }
            }
            levels
        };
        let (kept, dropped) = limit_attributes(vec![KeyValue::new("deep", deep)], 128, None);
        assert_eq!(dropped, 0);
        assert_eq!(depth(&kept[0].value), MAX_VALUE_DEPTH);
    }

    #[test]
    fn defaults_and_environment() {
        assert_eq!(
            SpanLimits::from_env_source(&[] as &[(&str, &str)]),
            SpanLimits::default()
        );
        let env = [
            ("OTEL_ATTRIBUTE_COUNT_LIMIT", "10"),
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "5"),
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", "3"),
            ("OTEL_SPAN_LINK_COUNT_LIMIT", "2"),
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "8"),
            ("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", "not a number"),
        ];
        let limits = SpanLimits::from_env_source(&env);
        assert_eq!(limits.max_attributes_per_span, 5, "span-specific wins");
        assert_eq!(limits.max_attributes_per_event, 10, "general applies");
        assert_eq!(limits.max_attributes_per_link, 10, "a bad value is ignored");
        assert_eq!(
            (limits.max_events_per_span, limits.max_links_per_span),
            (3, 2)
        );
        assert_eq!(limits.max_attribute_value_length, Some(8));
    }

    #[test]
    fn overwrites_pass_the_count_limit_but_new_keys_do_not() {
        let mut attributes = Vec::new();
        let mut dropped = 0;
        for kv in [
            KeyValue::new("a", 1i64),
            KeyValue::new("b", 2i64),
            KeyValue::new("c", 3i64),
            KeyValue::new("a", 9i64),
        ] {
            set_attribute(&mut attributes, &mut dropped, 2, None, kv);
        }
        assert_eq!(
            attributes,
            vec![KeyValue::new("a", 9i64), KeyValue::new("b", 2i64)]
        );
        assert_eq!(dropped, 1);
    }

    #[test]
    fn truncation_counts_characters_and_recurses() {
        let mut value = Value::Array(vec![
            Value::from("héllo wörld"),
            Value::from(vec![1u8, 2, 3, 4, 5, 6]),
            Value::from(42i64),
        ]);
        truncate_value(&mut value, 4, 0);
        assert_eq!(
            value,
            Value::Array(vec![
                Value::from("héll"),
                Value::from(vec![1u8, 2, 3, 4]),
                Value::from(42i64)
            ])
        );
        let mut deep = Value::from("x");
        for _ in 0..70 {
            deep = Value::Array(vec![deep]);
        }
        truncate_value(&mut deep, 100, 0);
        assert_eq!(
            deep.depth(),
            MAX_VALUE_DEPTH,
            "parts below the depth limit are emptied"
        );
    }

    #[test]
    fn limit_attributes_dedups_and_counts() {
        let input = vec![
            KeyValue::new("a", 1i64),
            KeyValue::new("a", 2i64),
            KeyValue::new("b", 3i64),
            KeyValue::new("c", 4i64),
        ];
        let (kept, dropped) = limit_attributes(input, 2, None);
        assert_eq!(
            kept,
            vec![KeyValue::new("a", 2i64), KeyValue::new("b", 3i64)]
        );
        assert_eq!(dropped, 1);
    }
}
