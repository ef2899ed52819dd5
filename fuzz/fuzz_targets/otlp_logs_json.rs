//! `telemetry_otlp::decode_logs_json` on arbitrary bytes.
//!
//! Properties:
//! - decoding never panics;
//! - whatever decodes re-encodes (as OTLP/JSON) to a fixed point: encode, decode, encode
//!   gives the same bytes;
//! - the same data also survives protobuf: its protobuf encoding decodes and re-encodes to
//!   the same bytes, with the same number of records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetry_otlp::{
    LogsData, decode_logs, decode_logs_json, encode_logs_data, encode_logs_data_json,
};

fn record_count(data: &LogsData) -> usize {
    data.resource_logs
        .iter()
        .flat_map(|rl| &rl.scope_logs)
        .map(|sl| sl.records.len())
        .sum()
}

fuzz_target!(|data: &[u8]| {
    let Ok(decoded) = decode_logs_json(data) else {
        return;
    };
    let mut first = Vec::new();
    encode_logs_data_json(&decoded, &mut first);
    let again = decode_logs_json(&first).expect("our own JSON decodes");
    assert_eq!(record_count(&again), record_count(&decoded));
    let mut second = Vec::new();
    encode_logs_data_json(&again, &mut second);
    assert!(first == second, "JSON re-encoding is not a fixed point");

    let mut proto = Vec::new();
    encode_logs_data(&decoded, &mut proto);
    let from_proto = decode_logs(&proto).expect("our own protobuf decodes");
    assert_eq!(record_count(&from_proto), record_count(&decoded));
    let mut proto_again = Vec::new();
    encode_logs_data(&from_proto, &mut proto_again);
    assert!(
        proto == proto_again,
        "protobuf re-encoding is not a fixed point"
    );
});
