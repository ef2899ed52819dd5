//! `telemetry_otlp::decode_traces_json` on arbitrary bytes.
//!
//! Properties:
//! - decoding never panics;
//! - whatever decodes re-encodes (as OTLP/JSON) to a fixed point: encode, decode, encode
//!   gives the same bytes;
//! - the same data also survives protobuf: its protobuf encoding decodes and re-encodes to
//!   the same bytes, with the same number of spans.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetry_otlp::{
    TracesData, decode_traces, decode_traces_json, encode_traces_data, encode_traces_data_json,
};

fn span_count(data: &TracesData) -> usize {
    data.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}

fuzz_target!(|data: &[u8]| {
    let Ok(decoded) = decode_traces_json(data) else {
        return;
    };
    let mut first = Vec::new();
    encode_traces_data_json(&decoded, &mut first);
    let again = decode_traces_json(&first).expect("our own JSON decodes");
    assert_eq!(span_count(&again), span_count(&decoded));
    let mut second = Vec::new();
    encode_traces_data_json(&again, &mut second);
    assert!(first == second, "JSON re-encoding is not a fixed point");

    let mut proto = Vec::new();
    encode_traces_data(&decoded, &mut proto);
    let from_proto = decode_traces(&proto).expect("our own protobuf decodes");
    assert_eq!(span_count(&from_proto), span_count(&decoded));
    let mut proto_again = Vec::new();
    encode_traces_data(&from_proto, &mut proto_again);
    assert!(
        proto == proto_again,
        "protobuf re-encoding is not a fixed point"
    );
});
