//! `telemetry_otlp::decode_logs` on arbitrary bytes.
//!
//! Properties:
//! - decoding never panics (errors are fine: most inputs are not valid requests);
//! - whatever decodes re-encodes to a fixed point: encoding the decoded data, decoding that
//!   and encoding again gives the same bytes (compared as bytes, not values, so that NaN
//!   values do not make equal data look different);
//! - the re-encoded data has the same number of records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetry_otlp::{LogsData, decode_logs, encode_logs_data};

fn record_count(data: &LogsData) -> usize {
    data.resource_logs
        .iter()
        .flat_map(|rl| &rl.scope_logs)
        .map(|sl| sl.records.len())
        .sum()
}

fuzz_target!(|data: &[u8]| {
    let Ok(decoded) = decode_logs(data) else {
        return;
    };
    let mut first = Vec::new();
    encode_logs_data(&decoded, &mut first);
    let again = decode_logs(&first).expect("our own encoding decodes");
    assert_eq!(record_count(&again), record_count(&decoded));
    let mut second = Vec::new();
    encode_logs_data(&again, &mut second);
    assert!(first == second, "re-encoding is not a fixed point");
});
