//! Differential tests of the borrowing decoder, [`TracesView`], against prost (the types of
//! the `opentelemetry-proto` crate, generated from the `.proto` files) and against our owned
//! decoder, [`decode_traces`].
//!
//! Random prost messages, including members and fields this decoder does not know (the
//! profiles-only `key_strindex` and `string_value_strindex`, resource `entity_refs`), are
//! encoded by prost; then:
//! - the view, mapped field by field to prost's types, equals what prost decodes from the
//!   same bytes, once that is put in the terms OTLP gives it (see `as_the_view_reads_it`);
//! - the view's owned form equals what `decode_traces` gives;
//! - every truncation and a few mutations of the bytes are errors (or valid shorter inputs)
//!   on which both decoders agree, never panics.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as pc;
use opentelemetry_proto::tonic::resource::v1 as pr;
use opentelemetry_proto::tonic::trace::v1 as pt;
use proptest::prelude::*;
use prost::Message;
use telemetry_context::TraceState;
use telemetry_otlp::{
    KeyValues, SpanView, StatusView, TracesView, ValueView, decode_traces, encode_traces_data,
};

// The view, in prost's types.

fn value_to_prost(value: ValueView<'_, '_>) -> pc::AnyValue {
    use pc::any_value::Value as V;
    let value = match value {
        ValueView::Empty => None,
        ValueView::Bool(v) => Some(V::BoolValue(v)),
        ValueView::I64(v) => Some(V::IntValue(v)),
        ValueView::F64(v) => Some(V::DoubleValue(v)),
        ValueView::String(s) => Some(V::StringValue(s.to_owned())),
        ValueView::Bytes(b) => Some(V::BytesValue(b.to_vec())),
        ValueView::Array(values) => Some(V::ArrayValue(pc::ArrayValue {
            values: values.map(value_to_prost).collect(),
        })),
        ValueView::Map(pairs) => Some(V::KvlistValue(pc::KeyValueList {
            values: key_values_to_prost(pairs),
        })),
    };
    pc::AnyValue { value }
}

fn key_values_to_prost(pairs: KeyValues<'_, '_>) -> Vec<pc::KeyValue> {
    pairs
        .map(|kv| pc::KeyValue {
            key: kv.key.to_owned(),
            value: Some(value_to_prost(kv.value)),
            key_strindex: 0,
        })
        .collect()
}

fn span_to_prost(span: SpanView<'_, '_>) -> pt::Span {
    let parent = span.parent_span_id();
    pt::Span {
        trace_id: span.trace_id().to_bytes().to_vec(),
        span_id: span.span_id().to_bytes().to_vec(),
        trace_state: span.trace_state().to_owned(),
        parent_span_id: if parent.is_valid() {
            parent.to_bytes().to_vec()
        } else {
            Vec::new()
        },
        flags: span.flags(),
        name: span.name().to_owned(),
        kind: span.kind().otlp_value(),
        start_time_unix_nano: span.start_time().as_unix_nanos(),
        end_time_unix_nano: span.end_time().as_unix_nanos(),
        attributes: key_values_to_prost(span.attributes()),
        dropped_attributes_count: span.dropped_attributes_count(),
        events: span
            .events()
            .map(|event| pt::span::Event {
                time_unix_nano: event.timestamp().as_unix_nanos(),
                name: event.name().to_owned(),
                attributes: key_values_to_prost(event.attributes()),
                dropped_attributes_count: event.dropped_attributes_count(),
            })
            .collect(),
        dropped_events_count: span.dropped_events_count(),
        links: span
            .links()
            .map(|link| pt::span::Link {
                trace_id: link.trace_id().to_bytes().to_vec(),
                span_id: link.span_id().to_bytes().to_vec(),
                trace_state: link.trace_state().to_owned(),
                attributes: key_values_to_prost(link.attributes()),
                dropped_attributes_count: link.dropped_attributes_count(),
                flags: link.flags(),
            })
            .collect(),
        dropped_links_count: span.dropped_links_count(),
        status: match span.status() {
            StatusView::Unset => None,
            StatusView::Ok => Some(pt::Status {
                message: String::new(),
                code: 1,
            }),
            StatusView::Error { description } => Some(pt::Status {
                message: description.to_owned(),
                code: 2,
            }),
        },
    }
}

fn view_to_prost(view: &TracesView<'_>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: view
            .resource_spans()
            .map(|rs| pt::ResourceSpans {
                resource: Some(pr::Resource {
                    attributes: key_values_to_prost(rs.resource_attributes()),
                    dropped_attributes_count: rs.resource_dropped_attributes_count(),
                    entity_refs: Vec::new(),
                }),
                scope_spans: rs
                    .scope_spans()
                    .map(|ss| pt::ScopeSpans {
                        scope: Some(pc::InstrumentationScope {
                            name: ss.scope_name().to_owned(),
                            version: ss.scope_version().to_owned(),
                            attributes: key_values_to_prost(ss.scope_attributes()),
                            dropped_attributes_count: ss.scope_dropped_attributes_count(),
                        }),
                        spans: ss.spans().map(span_to_prost).collect(),
                        schema_url: ss.schema_url().to_owned(),
                    })
                    .collect(),
                schema_url: rs.schema_url().to_owned(),
            })
            .collect(),
    }
}

// What prost decoded, in the terms the view gives it.

fn normalize_value(value: &mut pc::AnyValue) {
    use pc::any_value::Value as V;
    match &mut value.value {
        // A member this decoder does not know: the value reads as empty.
        Some(V::StringValueStrindex(_)) => value.value = None,
        Some(V::ArrayValue(array)) => array.values.iter_mut().for_each(normalize_value),
        Some(V::KvlistValue(list)) => normalize_key_values(&mut list.values),
        _ => {}
    }
}

fn normalize_key_values(pairs: &mut [pc::KeyValue]) {
    for kv in pairs {
        kv.key_strindex = 0;
        normalize_value(kv.value.get_or_insert_with(Default::default));
    }
}

/// The message as OTLP defines its content: an absent resource, scope or value is an empty
/// one, fields we skip are gone, an unspecified kind is internal, an all-zero parent is no
/// parent, an unset status is no status and an OK status has no message.
fn as_the_view_reads_it(mut request: ExportTraceServiceRequest) -> ExportTraceServiceRequest {
    for rs in &mut request.resource_spans {
        let resource = rs.resource.get_or_insert_with(Default::default);
        resource.entity_refs.clear();
        normalize_key_values(&mut resource.attributes);
        for ss in &mut rs.scope_spans {
            let scope = ss.scope.get_or_insert_with(Default::default);
            normalize_key_values(&mut scope.attributes);
            for span in &mut ss.spans {
                normalize_key_values(&mut span.attributes);
                if span.kind == 0 {
                    span.kind = 1;
                }
                if span.parent_span_id.iter().all(|&b| b == 0) {
                    span.parent_span_id.clear();
                }
                for event in &mut span.events {
                    normalize_key_values(&mut event.attributes);
                }
                for link in &mut span.links {
                    normalize_key_values(&mut link.attributes);
                }
                match &mut span.status {
                    Some(status) if status.code == 0 => span.status = None,
                    Some(status) if status.code == 1 => status.message.clear(),
                    _ => {}
                }
            }
        }
    }
    request
}

// Strategies: prost messages that are valid OTLP (ids of the right length and not zero,
// valid trace states, known enum values), with unknown members and fields mixed in.

fn text() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-z.]{0,12}", 1 => any::<String>()]
}

fn strindex() -> impl Strategy<Value = i32> {
    prop_oneof![4 => Just(0), 1 => any::<i32>()]
}

fn any_value() -> impl Strategy<Value = pc::AnyValue> {
    use pc::any_value::Value as V;
    let leaf = prop_oneof![
        Just(None),
        any::<bool>().prop_map(|v| Some(V::BoolValue(v))),
        any::<i64>().prop_map(|v| Some(V::IntValue(v))),
        // Finite: NaN is not equal to itself.
        (-1e300..1e300f64).prop_map(|v| Some(V::DoubleValue(v))),
        text().prop_map(|v| Some(V::StringValue(v))),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(|v| Some(V::BytesValue(v))),
        any::<i32>().prop_map(|v| Some(V::StringValueStrindex(v))),
    ]
    .prop_map(|value| pc::AnyValue { value });
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|values| pc::AnyValue {
                value: Some(V::ArrayValue(pc::ArrayValue { values }))
            }),
            proptest::collection::vec((text(), inner, strindex()), 0..4).prop_map(|pairs| {
                pc::AnyValue {
                    value: Some(V::KvlistValue(pc::KeyValueList {
                        values: pairs.into_iter().map(key_value).collect(),
                    })),
                }
            }),
        ]
    })
}

fn key_value((key, value, key_strindex): (String, pc::AnyValue, i32)) -> pc::KeyValue {
    pc::KeyValue {
        key,
        value: Some(value),
        key_strindex,
    }
}

fn attributes(max: usize) -> impl Strategy<Value = Vec<pc::KeyValue>> {
    proptest::collection::vec((text(), any_value(), strindex()), 0..max)
        .prop_map(|pairs| pairs.into_iter().map(key_value).collect())
}

fn trace_state() -> impl Strategy<Value = String> {
    proptest::collection::btree_map("[a-z][a-z0-9_]{0,6}", "[!-+\\--<>-~]{1,6}", 0..3).prop_map(
        |members| {
            let header: Vec<String> = members.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let header = header.join(",");
            // Only valid headers: an invalid one fails the whole request.
            if TraceState::parse(&header).is_ok() {
                header
            } else {
                String::new()
            }
        },
    )
}

fn trace_id() -> impl Strategy<Value = Vec<u8>> {
    (1..=u128::MAX).prop_map(|id| id.to_be_bytes().to_vec())
}

fn span_id() -> impl Strategy<Value = Vec<u8>> {
    (1..=u64::MAX).prop_map(|id| id.to_be_bytes().to_vec())
}

fn event() -> impl Strategy<Value = pt::span::Event> {
    (any::<u64>(), text(), attributes(3), any::<u32>()).prop_map(
        |(time_unix_nano, name, attributes, dropped_attributes_count)| pt::span::Event {
            time_unix_nano,
            name,
            attributes,
            dropped_attributes_count,
        },
    )
}

fn link() -> impl Strategy<Value = pt::span::Link> {
    (
        trace_id(),
        span_id(),
        trace_state(),
        attributes(3),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(trace_id, span_id, trace_state, attributes, dropped_attributes_count, flags)| {
                pt::span::Link {
                    trace_id,
                    span_id,
                    trace_state,
                    attributes,
                    dropped_attributes_count,
                    flags,
                }
            },
        )
}

fn span() -> impl Strategy<Value = pt::Span> {
    let parent = prop_oneof![Just(Vec::new()), Just(vec![0; 8]), span_id()];
    let status = proptest::option::of((0..=2i32, text()))
        .prop_map(|status| status.map(|(code, message)| pt::Status { message, code }));
    (
        (
            trace_id(),
            span_id(),
            trace_state(),
            parent,
            any::<u32>(),
            text(),
            0..=5i32,
            any::<u64>(),
            any::<u64>(),
        ),
        (
            attributes(6),
            proptest::collection::vec(event(), 0..3),
            proptest::collection::vec(link(), 0..3),
            status,
            (any::<u32>(), any::<u32>(), any::<u32>()),
        ),
    )
        .prop_map(
            |(
                (trace_id, span_id, trace_state, parent_span_id, flags, name, kind, start, end),
                (attributes, events, links, status, (da, de, dl)),
            )| pt::Span {
                trace_id,
                span_id,
                trace_state,
                parent_span_id,
                flags,
                name,
                kind,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes,
                dropped_attributes_count: da,
                events,
                dropped_events_count: de,
                links,
                dropped_links_count: dl,
                status,
            },
        )
}

fn scope_spans() -> impl Strategy<Value = pt::ScopeSpans> {
    let scope = proptest::option::of((text(), text(), attributes(3), any::<u32>()).prop_map(
        |(name, version, attributes, dropped_attributes_count)| pc::InstrumentationScope {
            name,
            version,
            attributes,
            dropped_attributes_count,
        },
    ));
    (scope, proptest::collection::vec(span(), 0..4), text()).prop_map(
        |(scope, spans, schema_url)| pt::ScopeSpans {
            scope,
            spans,
            schema_url,
        },
    )
}

fn request() -> impl Strategy<Value = ExportTraceServiceRequest> {
    let entity_refs = proptest::collection::vec(
        ("[a-z]{0,6}", "[a-z]{0,6}").prop_map(|(schema_url, r#type)| pc::EntityRef {
            schema_url,
            r#type,
            id_keys: vec!["service.name".to_owned()],
            description_keys: Vec::new(),
        }),
        0..2,
    );
    let resource = proptest::option::of((attributes(5), any::<u32>(), entity_refs).prop_map(
        |(attributes, dropped_attributes_count, entity_refs)| pr::Resource {
            attributes,
            dropped_attributes_count,
            entity_refs,
        },
    ));
    let resource_spans = (
        resource,
        proptest::collection::vec(scope_spans(), 0..3),
        text(),
    )
        .prop_map(|(resource, scope_spans, schema_url)| pt::ResourceSpans {
            resource,
            scope_spans,
            schema_url,
        });
    proptest::collection::vec(resource_spans, 0..3)
        .prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

/// The offsets at which a prefix of `request`'s encoding is a whole request: between its
/// top-level fields.
fn top_level_boundaries(request: &ExportTraceServiceRequest) -> Vec<usize> {
    let mut offsets = vec![0];
    let mut offset = 0;
    for rs in &request.resource_spans {
        let len = rs.encoded_len();
        offset += 1 + prost::length_delimiter_len(len) + len;
        offsets.push(offset);
    }
    offsets
}

/// Both decoders on `bytes`: the same error, or the same data (compared through our
/// encoding, so that a NaN a mutation produced compares equal to itself).
fn decoders_agree(bytes: &[u8]) -> Result<bool, TestCaseError> {
    let owned = decode_traces(bytes);
    let view = TracesView::decode(bytes);
    match (owned, view) {
        (Err(owned), Err(view)) => {
            prop_assert_eq!(view, owned);
            Ok(false)
        }
        (Ok(owned), Ok(view)) => {
            prop_assert_eq!(view.span_count(), count_spans(&owned));
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            encode_traces_data(&view.to_traces_data(), &mut ours);
            encode_traces_data(&owned, &mut theirs);
            prop_assert_eq!(ours, theirs);
            Ok(true)
        }
        (owned, view) => Err(TestCaseError::fail(format!(
            "the decoders disagree: owned {:?}, view {:?}",
            owned.map(|_| ()),
            view.map(|_| ())
        ))),
    }
}

fn count_spans(data: &telemetry_otlp::TracesData) -> usize {
    data.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_view_reads_what_prost_reads(request in request()) {
        let bytes = request.encode_to_vec();
        let view = TracesView::decode(&bytes);
        prop_assert!(view.is_ok(), "{:?}", view.as_ref().err());
        let view = view.map_err(|e| TestCaseError::fail(e.to_string()))?;
        let theirs = ExportTraceServiceRequest::decode(bytes.as_slice())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(view_to_prost(&view), as_the_view_reads_it(theirs));
        prop_assert_eq!(Ok(view.to_traces_data()), decode_traces(&bytes));
    }

    #[test]
    fn every_truncation_fails_as_the_owned_decoder_fails(request in request()) {
        let bytes = request.encode_to_vec();
        let whole = top_level_boundaries(&request);
        // Every prefix of small requests; an even spread over large ones.
        let step = (bytes.len() / 512).max(1);
        for len in (0..bytes.len()).step_by(step) {
            let decoded = decoders_agree(&bytes[..len])?;
            prop_assert_eq!(decoded, whole.contains(&len), "prefix of {} bytes", len);
        }
    }

    #[test]
    fn mutated_requests_are_read_alike_by_both_decoders(
        request in request(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = request.encode_to_vec();
        if !bytes.is_empty() {
            for (index, byte) in flips {
                let i = index.index(bytes.len());
                bytes[i] = byte;
            }
        }
        decoders_agree(&bytes)?;
    }

    #[test]
    fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        decoders_agree(&bytes)?;
    }
}
