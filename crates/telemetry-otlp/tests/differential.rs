//! Differential tests against an independent implementation: the prost types of the
//! `opentelemetry-proto` crate, generated from the `.proto` files.
//!
//! For random span data:
//! - our protobuf bytes, decoded by prost, equal the prost message built from the data;
//! - prost's bytes for that message, decoded by us, give back the data;
//! - `TraceEncoder` groups a flat batch by scope exactly as the expected envelopes do;
//! - a span's detail (`encode_span_detail`), decoded by prost, is the prost span without its
//!   identity fields, and restores the span with `decode_span_detail`;
//! - our OTLP/JSON, parsed by opentelemetry-proto's serde types, equals the same message, and
//!   their JSON, parsed by us, gives back the data.
//!
//! `to_prost` below maps our types to prost's field by field from the proto definitions; it
//! shares no code with the crate's encoders.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as pc;
use opentelemetry_proto::tonic::resource::v1 as pr;
use opentelemetry_proto::tonic::trace::v1 as pt;
use proptest::prelude::*;
use prost::Message;
use telemetry_context::{SpanContext, TraceFlags, TraceState};
use telemetry_core::{
    InstrumentationScope, KeyValue, Resource, SpanId, StringValue, Timestamp, TraceId, Value,
};
use telemetry_otlp::{
    ResourceSpans, ScopeSpans, TraceEncoder, TracesData, decode_span_detail, decode_traces,
    decode_traces_json, encode_span_detail, encode_traces_data, encode_traces_data_json,
    span_detail_attribute_matches,
};
use telemetry_span::{Event, Link, SpanData, SpanKind, Status};

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

fn flags(trace_flags: TraceFlags, is_remote: bool) -> u32 {
    u32::from(trace_flags.bits()) | 0x100 | if is_remote { 0x200 } else { 0 }
}

fn span(span: &SpanData) -> pt::Span {
    let context = &span.span_context;
    pt::Span {
        trace_id: context.trace_id().to_bytes().to_vec(),
        span_id: context.span_id().to_bytes().to_vec(),
        trace_state: context.trace_state().header().to_owned(),
        parent_span_id: if span.parent_span_id.is_valid() {
            span.parent_span_id.to_bytes().to_vec()
        } else {
            Vec::new()
        },
        flags: flags(context.flags(), span.parent_is_remote),
        name: span.name.to_string(),
        kind: span.kind.otlp_value(),
        start_time_unix_nano: span.start_time.as_unix_nanos(),
        end_time_unix_nano: span.end_time.as_unix_nanos(),
        attributes: key_values(&span.attributes),
        dropped_attributes_count: span.dropped_attributes_count,
        events: span
            .events
            .iter()
            .map(|event| pt::span::Event {
                time_unix_nano: event.timestamp.as_unix_nanos(),
                name: event.name.to_string(),
                attributes: key_values(&event.attributes),
                dropped_attributes_count: event.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: span.dropped_events_count,
        links: span
            .links
            .iter()
            .map(|link| pt::span::Link {
                trace_id: link.span_context.trace_id().to_bytes().to_vec(),
                span_id: link.span_context.span_id().to_bytes().to_vec(),
                trace_state: link.span_context.trace_state().header().to_owned(),
                attributes: key_values(&link.attributes),
                dropped_attributes_count: link.dropped_attributes_count,
                flags: flags(link.span_context.flags(), link.span_context.is_remote()),
            })
            .collect(),
        dropped_links_count: span.dropped_links_count,
        status: match &span.status {
            Status::Unset => None,
            status => Some(pt::Status {
                message: match status {
                    Status::Error { description } => description.to_string(),
                    _ => String::new(),
                },
                code: status.otlp_code(),
            }),
        },
    }
}

fn to_prost(data: &TracesData) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: data
            .resource_spans
            .iter()
            .map(|rs| pt::ResourceSpans {
                resource: Some(pr::Resource {
                    attributes: key_values(rs.resource.attributes()),
                    dropped_attributes_count: rs.resource_dropped_attributes_count,
                    ..Default::default()
                }),
                scope_spans: rs
                    .scope_spans
                    .iter()
                    .map(|ss| pt::ScopeSpans {
                        scope: Some(pc::InstrumentationScope {
                            name: ss.scope.name().to_owned(),
                            version: ss.scope.version().unwrap_or_default().to_owned(),
                            attributes: key_values(ss.scope.attributes()),
                            dropped_attributes_count: ss.scope_dropped_attributes_count,
                        }),
                        spans: ss.spans.iter().map(span).collect(),
                        schema_url: ss.scope.schema_url().unwrap_or_default().to_owned(),
                    })
                    .collect(),
                schema_url: rs.resource.schema_url().unwrap_or_default().to_owned(),
            })
            .collect(),
    }
}

// Strategies.

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z.]{1,12}",
        1 => any::<String>(),
    ]
}

fn non_empty_text() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-z.]{1,12}", 1 => ".+"]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Empty),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        // Finite only: NaN is not equal to itself, and JSON spells the rest as strings that
        // the prost serde types do not read.
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

fn trace_state() -> impl Strategy<Value = TraceState> {
    proptest::collection::btree_map("[a-z][a-z0-9_@]{0,6}", "[!-+\\--<>-~]{1,6}", 0..3).prop_map(
        |members| {
            let header: Vec<String> = members.iter().map(|(k, v)| format!("{k}={v}")).collect();
            TraceState::parse(&header.join(",")).unwrap_or_default()
        },
    )
}

fn span_context(is_remote: bool) -> impl Strategy<Value = SpanContext> {
    (1..=u128::MAX, 1..=u64::MAX, any::<u8>(), trace_state()).prop_map(
        move |(trace, span, flags, state)| {
            SpanContext::new(
                TraceId::from_int(trace),
                SpanId::from_int(span),
                TraceFlags::from_bits(flags),
                is_remote,
                state,
            )
        },
    )
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Unset),
        Just(Status::Ok),
        text().prop_map(Status::error),
    ]
}

fn kind() -> impl Strategy<Value = SpanKind> {
    prop_oneof![
        Just(SpanKind::Internal),
        Just(SpanKind::Server),
        Just(SpanKind::Client),
        Just(SpanKind::Producer),
        Just(SpanKind::Consumer),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    (text(), any::<u64>(), attributes(3), any::<u32>()).prop_map(
        |(name, time, attributes, dropped)| Event {
            name: name.into(),
            timestamp: Timestamp::from_unix_nanos(time),
            attributes,
            dropped_attributes_count: dropped,
        },
    )
}

fn link() -> impl Strategy<Value = Link> {
    (any::<bool>(), attributes(3), any::<u32>()).prop_flat_map(|(remote, attributes, dropped)| {
        span_context(remote).prop_map(move |context| Link {
            span_context: context,
            attributes: attributes.clone(),
            dropped_attributes_count: dropped,
        })
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

/// A span of one of `scopes` (chosen by index), so that batches hold repeated scopes.
fn span_data(scopes: Vec<InstrumentationScope>) -> impl Strategy<Value = SpanData> {
    let counts = (any::<u32>(), any::<u32>(), any::<u32>());
    (
        (
            span_context(false),
            proptest::option::of(1..=u64::MAX),
            any::<bool>(),
            text(),
            kind(),
            any::<u64>(),
            any::<u64>(),
        ),
        (
            attributes(6),
            proptest::collection::vec(event(), 0..3),
            proptest::collection::vec(link(), 0..3),
            status(),
            counts,
            0..scopes.len(),
        ),
    )
        .prop_map(
            move |(
                (context, parent, parent_is_remote, name, kind, start, end),
                (attributes, events, links, status, (da, de, dl), scope),
            )| SpanData {
                span_context: context,
                parent_span_id: parent.map_or(SpanId::INVALID, SpanId::from_int),
                parent_is_remote,
                name: name.into(),
                kind,
                start_time: Timestamp::from_unix_nanos(start),
                end_time: Timestamp::from_unix_nanos(end),
                attributes,
                dropped_attributes_count: da,
                events,
                dropped_events_count: de,
                links,
                dropped_links_count: dl,
                status,
                scope: scopes[scope].clone(),
            },
        )
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

/// A resource and a flat batch of spans over up to three scopes.
fn batch() -> impl Strategy<Value = (Resource, Vec<SpanData>)> {
    proptest::collection::vec(scope(), 1..4).prop_flat_map(|scopes| {
        (
            resource(),
            proptest::collection::vec(span_data(scopes), 0..6),
        )
    })
}

/// What a batch must encode to: one resource, one envelope per scope in first-seen order.
fn grouped(resource: &Resource, spans: &[SpanData]) -> TracesData {
    let mut scope_spans: Vec<ScopeSpans> = Vec::new();
    for span in spans {
        match scope_spans.iter_mut().find(|ss| ss.scope == span.scope) {
            Some(ss) => ss.spans.push(span.clone()),
            None => scope_spans.push(ScopeSpans {
                scope: span.scope.clone(),
                scope_dropped_attributes_count: 0,
                spans: vec![span.clone()],
            }),
        }
    }
    TracesData {
        resource_spans: if spans.is_empty() {
            Vec::new()
        } else {
            vec![ResourceSpans {
                resource: resource.clone(),
                resource_dropped_attributes_count: 0,
                scope_spans,
            }]
        },
    }
}

/// Arbitrary envelopes, including empty ones and dropped counts.
fn traces_data() -> impl Strategy<Value = TracesData> {
    let resource_spans = (batch(), any::<u32>(), any::<u32>()).prop_map(
        |((resource, spans), resource_dropped, scope_dropped)| {
            let mut data = grouped(&resource, &spans);
            for rs in &mut data.resource_spans {
                rs.resource_dropped_attributes_count = resource_dropped;
                for ss in &mut rs.scope_spans {
                    ss.scope_dropped_attributes_count = scope_dropped;
                }
            }
            data.resource_spans
        },
    );
    proptest::collection::vec(resource_spans, 0..3).prop_map(|lists| TracesData {
        resource_spans: lists.into_iter().flatten().collect(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn prost_decodes_our_bytes_to_the_same_message(data in traces_data()) {
        let mut bytes = Vec::new();
        encode_traces_data(&data, &mut bytes);
        let decoded = ExportTraceServiceRequest::decode(bytes.as_slice());
        prop_assert_eq!(decoded.ok(), Some(to_prost(&data)));
        // Canonical encoding: the same bytes prost writes for the same message.
        prop_assert_eq!(&bytes, &to_prost(&data).encode_to_vec());
    }

    #[test]
    fn we_decode_prost_bytes_to_the_same_data(data in traces_data()) {
        let bytes = to_prost(&data).encode_to_vec();
        prop_assert_eq!(decode_traces(&bytes), Ok(data));
    }

    #[test]
    fn the_encoder_groups_a_batch_by_scope_in_first_seen_order(
        (resource, spans) in batch(),
    ) {
        let expected = grouped(&resource, &spans);
        let mut encoder = TraceEncoder::new();
        // Reuse the buffer and the encoder, as an exporter does.
        let mut bytes = vec![0xff; 3];
        bytes.clear();
        encoder.encode(&resource, &spans, &mut bytes);
        let decoded = ExportTraceServiceRequest::decode(bytes.as_slice());
        prop_assert_eq!(decoded.ok(), Some(to_prost(&expected)));
        prop_assert_eq!(decode_traces(&bytes), Ok(expected.clone()));

        let mut json = Vec::new();
        encoder.encode_json(&resource, &spans, &mut json);
        prop_assert_eq!(decode_traces_json(&json), Ok(expected));
    }

    #[test]
    fn prost_serde_reads_our_json_and_we_read_theirs(data in traces_data()) {
        let mut json = Vec::new();
        encode_traces_data_json(&data, &mut json);
        let theirs: Result<ExportTraceServiceRequest, _> = serde_json::from_slice(&json);
        prop_assert_eq!(
            theirs.map_err(|e| e.to_string()),
            Ok(to_prost(&data)),
            "{}",
            String::from_utf8_lossy(&json)
        );
        let their_json = serde_json::to_vec(&to_prost(&data)).unwrap_or_default();
        prop_assert_eq!(decode_traces_json(&their_json), Ok(data.clone()));
        // Pretty-printed input is the same input.
        let pretty: serde_json::Value = serde_json::from_slice(&json).unwrap_or_default();
        let pretty = serde_json::to_vec_pretty(&pretty).unwrap_or_default();
        prop_assert_eq!(decode_traces_json(&pretty), Ok(data));
    }

    #[test]
    fn a_span_detail_is_the_span_message_without_its_identity(data in traces_data()) {
        let all = data.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans);
        for original in all {
            let mut detail = Vec::new();
            encode_span_detail(original, &mut detail);
            // prost reads the detail as a Span holding only the fields outside the identity.
            let mut expected = span(original);
            expected.trace_id.clear();
            expected.span_id.clear();
            expected.parent_span_id.clear();
            expected.name.clear();
            expected.kind = 0;
            expected.start_time_unix_nano = 0;
            expected.end_time_unix_nano = 0;
            expected.flags = 0;
            let theirs = pt::Span::decode(detail.as_slice()).map_err(|e| e.to_string());
            prop_assert_eq!(theirs, Ok(expected));
            // The identity plus the detail is the span again.
            let mut restored = original.clone();
            restored.attributes.clear();
            restored.events.clear();
            restored.links.clear();
            restored.status = Status::Unset;
            restored.dropped_attributes_count = 0;
            restored.dropped_events_count = 0;
            restored.dropped_links_count = 0;
            let context = &original.span_context;
            restored.span_context = SpanContext::new(
                context.trace_id(),
                context.span_id(),
                context.flags(),
                context.is_remote(),
                TraceState::EMPTY,
            );
            prop_assert_eq!(decode_span_detail(&detail, &mut restored), Ok(()));
            prop_assert_eq!(&restored, original);
            for kv in &original.attributes {
                let found = span_detail_attribute_matches(&detail, kv.key.as_str(), |value| {
                    value == &kv.value
                });
                // A NaN double is not equal to itself, so only its lookup by key is checked.
                let nan = matches!(kv.value, Value::F64(f) if f.is_nan());
                prop_assert!(nan || found == Ok(true), "{:?} not found", kv);
            }
        }
    }

    #[test]
    fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_traces(&bytes);
        let _ = decode_traces_json(&bytes);
    }

    #[test]
    fn mutated_valid_requests_never_panic_and_re_encode_stably(
        data in traces_data(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = Vec::new();
        encode_traces_data(&data, &mut bytes);
        if !bytes.is_empty() {
            for (index, byte) in flips {
                let i = index.index(bytes.len());
                bytes[i] = byte;
            }
        }
        if let Ok(decoded) = decode_traces(&bytes) {
            // Compared as bytes: a flipped byte can turn a double into a NaN, which is not
            // equal to itself as a value.
            let mut again = Vec::new();
            encode_traces_data(&decoded, &mut again);
            let redecoded = decode_traces(&again);
            prop_assert!(redecoded.is_ok(), "our own encoding fails to decode: {:?}", redecoded);
            let mut third = Vec::new();
            encode_traces_data(&redecoded.unwrap_or_default(), &mut third);
            prop_assert_eq!(third, again);
        }
    }
}

#[test]
fn empty_scope_names_and_versions_read_as_proto3_defaults() -> Result<(), Box<dyn std::error::Error>>
{
    // Optional strings that are empty on the wire are absent: an explicit empty version
    // cannot survive a trip through proto3, so the decoder reports no version.
    let message = ExportTraceServiceRequest {
        resource_spans: vec![pt::ResourceSpans {
            resource: None,
            scope_spans: vec![pt::ScopeSpans {
                scope: None,
                spans: vec![pt::Span {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    let data = decode_traces(&message.encode_to_vec())?;
    let span = &data.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.scope.name(), "");
    assert_eq!(span.scope.version(), None);
    assert_eq!(span.kind, SpanKind::Internal);
    assert_eq!(span.name, StringValue::from_static(""));
    assert!(data.resource_spans[0].resource.is_empty());
    Ok(())
}
