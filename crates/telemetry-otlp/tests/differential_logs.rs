//! Differential tests of the logs codec against an independent implementation: the prost
//! types of the `opentelemetry-proto` crate, generated from the `.proto` files.
//!
//! For random log records:
//! - our protobuf bytes, decoded by prost, equal the prost message built from the data, and
//!   are the very bytes prost writes for it;
//! - prost's bytes for that message, decoded by us, give back the data;
//! - `LogsEncoder` groups a flat batch by scope exactly as the expected envelopes do;
//! - our OTLP/JSON, parsed by opentelemetry-proto's serde types, equals the same message, and
//!   their JSON, parsed by us, gives back the data;
//! - every prefix of a request decodes to an error or a shorter request, never a panic.
//!
//! `to_prost` below maps our types to prost's field by field from the proto definitions; it
//! shares no code with the crate's encoders.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1 as pc;
use opentelemetry_proto::tonic::logs::v1 as pl;
use opentelemetry_proto::tonic::resource::v1 as pr;
use proptest::prelude::*;
use prost::Message;
use telemetry_context::TraceFlags;
use telemetry_core::{
    InstrumentationScope, KeyValue, Resource, SpanId, StringValue, Timestamp, TraceId, Value,
};
use telemetry_logs::{LogRecord, Severity};
use telemetry_otlp::{
    LogsData, LogsEncoder, ResourceLogs, ScopeLogs, decode_logs, decode_logs_json,
    encode_logs_data, encode_logs_data_json,
};

fn any_value(value: &Value) -> pc::AnyValue {
    use pc::any_value::Value as V;
    let value = match value {
        Value::Empty => None,
        Value::Bool(v) => Some(V::BoolValue(*v)),
        Value::I64(v) => Some(V::IntValue(*v)),
        Value::F64(v) => Some(V::DoubleValue(*v)),
        Value::String(s) => Some(V::StringValue(s.to_string())),
        Value::Bytes(b) => Some(V::BytesValue(b.clone())),
        Value::Array(values) => Some(V::ArrayValue(pc::ArrayValue {
            values: values.iter().map(any_value).collect(),
        })),
        Value::Map(pairs) => Some(V::KvlistValue(pc::KeyValueList {
            values: key_values(pairs),
        })),
    };
    pc::AnyValue { value }
}

fn key_values(attributes: &[KeyValue]) -> Vec<pc::KeyValue> {
    attributes
        .iter()
        .map(|kv| pc::KeyValue {
            key: kv.key.to_string(),
            value: Some(any_value(&kv.value)),
            key_strindex: 0,
        })
        .collect()
}

fn record(record: &LogRecord) -> pl::LogRecord {
    pl::LogRecord {
        time_unix_nano: record.timestamp.map_or(0, Timestamp::as_unix_nanos),
        observed_time_unix_nano: record.observed_timestamp.as_unix_nanos(),
        severity_number: i32::from(record.severity.number()),
        severity_text: record
            .severity_text
            .as_deref()
            .unwrap_or_default()
            .to_owned(),
        body: (record.body != Value::Empty).then(|| any_value(&record.body)),
        attributes: key_values(&record.attributes),
        dropped_attributes_count: record.dropped_attributes_count,
        flags: u32::from(record.trace_flags.bits()),
        trace_id: if record.trace_id.is_valid() {
            record.trace_id.to_bytes().to_vec()
        } else {
            Vec::new()
        },
        span_id: if record.span_id.is_valid() {
            record.span_id.to_bytes().to_vec()
        } else {
            Vec::new()
        },
        event_name: record.event_name.as_deref().unwrap_or_default().to_owned(),
    }
}

fn to_prost(data: &LogsData) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: data
            .resource_logs
            .iter()
            .map(|rl| pl::ResourceLogs {
                resource: Some(pr::Resource {
                    attributes: key_values(rl.resource.attributes()),
                    dropped_attributes_count: rl.resource_dropped_attributes_count,
                    ..Default::default()
                }),
                scope_logs: rl
                    .scope_logs
                    .iter()
                    .map(|sl| pl::ScopeLogs {
                        scope: Some(pc::InstrumentationScope {
                            name: sl.scope.name().to_owned(),
                            version: sl.scope.version().unwrap_or_default().to_owned(),
                            attributes: key_values(sl.scope.attributes()),
                            dropped_attributes_count: sl.scope_dropped_attributes_count,
                        }),
                        log_records: sl.records.iter().map(record).collect(),
                        schema_url: sl.scope.schema_url().unwrap_or_default().to_owned(),
                    })
                    .collect(),
                schema_url: rl.resource.schema_url().unwrap_or_default().to_owned(),
            })
            .collect(),
    }
}

// Strategies.

fn text() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-z.]{1,12}", 1 => any::<String>()]
}

fn non_empty_text() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-z.]{1,12}", 1 => ".+"]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Empty),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        // Finite only: NaN is not equal to itself.
        (-1e300..1e300f64).prop_map(Value::F64),
        text().prop_map(Value::from),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((text(), inner), 0..4).prop_map(|pairs| {
                Value::Map(
                    pairs
                        .into_iter()
                        .map(|(k, v)| KeyValue::new(k, v))
                        .collect(),
                )
            }),
        ]
    })
}

fn attributes(max: usize) -> impl Strategy<Value = Vec<KeyValue>> {
    proptest::collection::vec((text(), value()), 0..max).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| KeyValue::new(k, v))
            .collect()
    })
}

fn scope() -> impl Strategy<Value = InstrumentationScope> {
    (
        non_empty_text(),
        proptest::option::of(non_empty_text()),
        proptest::option::of(non_empty_text()),
        attributes(3),
    )
        .prop_map(|(name, version, schema_url, attributes)| {
            let mut builder = InstrumentationScope::builder(name);
            if let Some(version) = version {
                builder = builder.with_version(version);
            }
            if let Some(url) = schema_url {
                builder = builder.with_schema_url(url);
            }
            builder.with_attributes(attributes).build()
        })
}

fn resource() -> impl Strategy<Value = Resource> {
    // Keys are unique: the resource builder keeps one value per key.
    (
        proptest::collection::btree_map(text(), value(), 0..5),
        proptest::option::of(non_empty_text()),
    )
        .prop_map(|(attributes, schema_url)| {
            let mut builder = Resource::builder()
                .with_attributes(attributes.into_iter().map(|(k, v)| KeyValue::new(k, v)));
            if let Some(url) = schema_url {
                builder = builder.with_schema_url(url);
            }
            builder.build()
        })
}

/// A record of one of `scopes` (chosen by index), so that batches hold repeated scopes.
/// Optional texts are never empty: proto3 cannot tell an empty one from none.
fn log_record(scopes: Vec<InstrumentationScope>) -> impl Strategy<Value = LogRecord> {
    (
        (
            proptest::option::of(1..=u64::MAX),
            any::<u64>(),
            0..=24u8,
            proptest::option::of(non_empty_text()),
            value(),
        ),
        (
            attributes(6),
            any::<u32>(),
            proptest::option::of((1..=u128::MAX, 1..=u64::MAX)),
            any::<u8>(),
            proptest::option::of(non_empty_text()),
            0..scopes.len(),
        ),
    )
        .prop_map(
            move |(
                (time, observed, severity, severity_text, body),
                (attributes, dropped, ids, flags, event_name, scope),
            )| {
                let (trace_id, span_id) = ids
                    .map_or((TraceId::INVALID, SpanId::INVALID), |(t, s)| {
                        (TraceId::from_int(t), SpanId::from_int(s))
                    });
                LogRecord {
                    timestamp: time.map(Timestamp::from_unix_nanos),
                    observed_timestamp: Timestamp::from_unix_nanos(observed),
                    severity: Severity::from_number(severity).unwrap_or(Severity::UNSPECIFIED),
                    severity_text: severity_text.map(StringValue::from),
                    body,
                    attributes: attributes.into(),
                    dropped_attributes_count: dropped,
                    trace_id,
                    span_id,
                    trace_flags: TraceFlags::from_bits(flags),
                    event_name: event_name.map(StringValue::from),
                    scope: scopes[scope].clone(),
                }
            },
        )
}

/// A resource and a flat batch of records over up to three scopes.
fn batch() -> impl Strategy<Value = (Resource, Vec<LogRecord>)> {
    proptest::collection::vec(scope(), 1..4).prop_flat_map(|scopes| {
        (
            resource(),
            proptest::collection::vec(log_record(scopes), 0..6),
        )
    })
}

/// What a batch must encode to: one resource, one envelope per scope in first-seen order.
fn grouped(resource: &Resource, records: &[LogRecord]) -> LogsData {
    let mut scope_logs: Vec<ScopeLogs> = Vec::new();
    for record in records {
        match scope_logs.iter_mut().find(|sl| sl.scope == record.scope) {
            Some(sl) => sl.records.push(record.clone()),
            None => scope_logs.push(ScopeLogs {
                scope: record.scope.clone(),
                scope_dropped_attributes_count: 0,
                records: vec![record.clone()],
            }),
        }
    }
    LogsData {
        resource_logs: if records.is_empty() {
            Vec::new()
        } else {
            vec![ResourceLogs {
                resource: resource.clone(),
                resource_dropped_attributes_count: 0,
                scope_logs,
            }]
        },
    }
}

/// Arbitrary envelopes, including dropped counts.
fn logs_data() -> impl Strategy<Value = LogsData> {
    let resource_logs = (batch(), any::<u32>(), any::<u32>()).prop_map(
        |((resource, records), resource_dropped, scope_dropped)| {
            let mut data = grouped(&resource, &records);
            for rl in &mut data.resource_logs {
                rl.resource_dropped_attributes_count = resource_dropped;
                for sl in &mut rl.scope_logs {
                    sl.scope_dropped_attributes_count = scope_dropped;
                }
            }
            data.resource_logs
        },
    );
    proptest::collection::vec(resource_logs, 0..3).prop_map(|lists| LogsData {
        resource_logs: lists.into_iter().flatten().collect(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn prost_decodes_our_bytes_to_the_same_message(data in logs_data()) {
        let mut bytes = Vec::new();
        encode_logs_data(&data, &mut bytes);
        let decoded = ExportLogsServiceRequest::decode(bytes.as_slice());
        prop_assert_eq!(decoded.ok(), Some(to_prost(&data)));
        // Canonical encoding: the same bytes prost writes for the same message.
        prop_assert_eq!(&bytes, &to_prost(&data).encode_to_vec());
    }

    #[test]
    fn we_decode_prost_bytes_to_the_same_data(data in logs_data()) {
        let bytes = to_prost(&data).encode_to_vec();
        prop_assert_eq!(decode_logs(&bytes), Ok(data));
    }

    #[test]
    fn the_encoder_groups_a_batch_by_scope_in_first_seen_order(
        (resource, records) in batch(),
    ) {
        let expected = grouped(&resource, &records);
        let mut encoder = LogsEncoder::new();
        // Reuse the buffer and the encoder, as an exporter does.
        let mut bytes = vec![0xff; 3];
        bytes.clear();
        encoder.encode(&resource, &records, &mut bytes);
        let decoded = ExportLogsServiceRequest::decode(bytes.as_slice());
        prop_assert_eq!(decoded.ok(), Some(to_prost(&expected)));
        prop_assert_eq!(decode_logs(&bytes), Ok(expected.clone()));

        let mut json = Vec::new();
        encoder.encode_json(&resource, &records, &mut json);
        prop_assert_eq!(decode_logs_json(&json), Ok(expected));
    }

    #[test]
    fn every_prefix_decodes_or_fails_without_panicking(data in logs_data()) {
        let mut bytes = Vec::new();
        encode_logs_data(&data, &mut bytes);
        for len in 0..bytes.len() {
            let _ = decode_logs(&bytes[..len]);
        }
    }

    #[test]
    fn prost_serde_reads_our_json_and_we_read_theirs(data in logs_data()) {
        let mut json = Vec::new();
        encode_logs_data_json(&data, &mut json);
        let theirs: Result<ExportLogsServiceRequest, _> = serde_json::from_slice(&json);
        prop_assert_eq!(
            theirs.map_err(|e| e.to_string()),
            Ok(to_prost(&data)),
            "{}",
            String::from_utf8_lossy(&json)
        );
        let their_json = serde_json::to_vec(&to_prost(&data)).unwrap_or_default();
        prop_assert_eq!(decode_logs_json(&their_json), Ok(data.clone()));
        // Pretty-printed input is the same input.
        let pretty: serde_json::Value = serde_json::from_slice(&json).unwrap_or_default();
        let pretty = serde_json::to_vec_pretty(&pretty).unwrap_or_default();
        prop_assert_eq!(decode_logs_json(&pretty), Ok(data));
    }

    #[test]
    fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_logs(&bytes);
        let _ = decode_logs_json(&bytes);
    }

    #[test]
    fn mutated_valid_requests_never_panic_and_re_encode_stably(
        data in logs_data(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = Vec::new();
        encode_logs_data(&data, &mut bytes);
        if !bytes.is_empty() {
            for (index, byte) in flips {
                let i = index.index(bytes.len());
                bytes[i] = byte;
            }
        }
        if let Ok(decoded) = decode_logs(&bytes) {
            // Compared as bytes: a flipped byte can turn a double into a NaN.
            let mut again = Vec::new();
            encode_logs_data(&decoded, &mut again);
            let redecoded = decode_logs(&again);
            prop_assert!(redecoded.is_ok(), "our own encoding fails to decode: {:?}", redecoded);
            let mut third = Vec::new();
            encode_logs_data(&redecoded.unwrap_or_default(), &mut third);
            prop_assert_eq!(third, again);
        }
    }
}
