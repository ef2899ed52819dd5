//! Estimated heap size of stored items, the unit of the memory budget.
//!
//! The estimate is what the item holds on the heap plus its inline size: every `Vec` counts its
//! capacity times its element size, every non-static string its length. Strings the decoder
//! shares between items (`Arc<str>` keys, service and span names) are counted in full for each
//! item that holds them, so sharing makes the estimate err high. Vectors count their spare
//! capacity too. A stored span is its compact form (`traces::StoredSpan`): its inline size,
//! its detail bytes and its name. Resources and scopes are shared behind an `Arc` by the
//! decoder; a batch's resource is charged once, spread over the items of that batch.

use std::mem::size_of;

use telemetry_core::{KeyValue, Resource, StringValue, Value};
use telemetry_logs::LogRecord;

/// Bytes a string holds on the heap (0 for a `'static` one).
pub(crate) fn string(value: &StringValue) -> usize {
    if value.is_static() { 0 } else { value.len() }
}

/// Bytes an attribute list holds on the heap.
pub(crate) fn attributes(list: &[KeyValue]) -> usize {
    attributes_with_capacity(list, list.len())
}

fn attributes_with_capacity(list: &[KeyValue], capacity: usize) -> usize {
    capacity * size_of::<KeyValue>()
        + list
            .iter()
            .map(|kv| string(&kv.key) + value(&kv.value))
            .sum::<usize>()
}

/// Bytes a value holds on the heap, beyond its inline size.
pub(crate) fn value(value: &Value) -> usize {
    match value {
        Value::String(s) => string(s),
        Value::Bytes(bytes) => bytes.len(),
        Value::Array(values) => {
            values.len() * size_of::<Value>() + values.iter().map(self::value).sum::<usize>()
        }
        Value::Map(pairs) => attributes(pairs),
        Value::Empty | Value::Bool(_) | Value::I64(_) | Value::F64(_) => 0,
    }
}

/// Bytes a resource holds on the heap.
pub(crate) fn resource(resource: &Resource) -> usize {
    attributes(resource.attributes()) + resource.schema_url().map_or(0, str::len)
}

/// Heap bytes of a log record beyond its inline `LogRecord`.
pub(crate) fn log_heap(record: &LogRecord) -> usize {
    value(&record.body)
        + attributes_with_capacity(&record.attributes, record.attributes.heap_capacity())
        + record.severity_text.as_ref().map_or(0, string)
        + record.event_name.as_ref().map_or(0, string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_strings_cost_nothing_and_owned_ones_their_length() {
        assert_eq!(string(&StringValue::from_static("abc")), 0);
        assert_eq!(string(&StringValue::from(String::from("abcd"))), 4);
    }

    #[test]
    fn nested_values_count_every_level() {
        let inner = Value::Array(vec![
            Value::String(String::from("xy").into()),
            Value::I64(1),
        ]);
        assert_eq!(value(&inner), 2 * size_of::<Value>() + 2);
        let list = vec![KeyValue::new(String::from("key"), inner)];
        assert_eq!(
            attributes(&list),
            size_of::<KeyValue>() + 3 + 2 * size_of::<Value>() + 2
        );
    }
}
