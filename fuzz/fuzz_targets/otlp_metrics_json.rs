//! `telemetry_otlp::decode_metrics_json` on arbitrary bytes.
//!
//! Properties:
//! - decoding never panics;
//! - whatever decodes re-encodes (as OTLP/JSON) to a fixed point: encode, decode, encode
//!   gives the same bytes;
//! - the same data also survives protobuf: its protobuf encoding decodes and re-encodes to
//!   the same bytes, with the same number of metrics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetry_otlp::{
    MetricsData, decode_metrics, decode_metrics_json, encode_metrics_data, encode_metrics_data_json,
};

fn metric_count(data: &MetricsData) -> usize {
    data.resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .map(|sm| sm.metrics.len())
        .sum()
}

fuzz_target!(|data: &[u8]| {
    let Ok(decoded) = decode_metrics_json(data) else {
        return;
    };
    let mut first = Vec::new();
    encode_metrics_data_json(&decoded, &mut first);
    let again = decode_metrics_json(&first).expect("our own JSON decodes");
    assert_eq!(metric_count(&again), metric_count(&decoded));
    let mut second = Vec::new();
    encode_metrics_data_json(&again, &mut second);
    assert!(first == second, "JSON re-encoding is not a fixed point");

    let mut proto = Vec::new();
    encode_metrics_data(&decoded, &mut proto);
    let from_proto = decode_metrics(&proto).expect("our own protobuf decodes");
    assert_eq!(metric_count(&from_proto), metric_count(&decoded));
    let mut proto_again = Vec::new();
    encode_metrics_data(&from_proto, &mut proto_again);
    assert!(
        proto == proto_again,
        "protobuf re-encoding is not a fixed point"
    );
});
