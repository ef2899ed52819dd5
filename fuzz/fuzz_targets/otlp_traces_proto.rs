//! `telemetry_otlp::decode_traces` on arbitrary bytes.
//!
//! Properties:
//! - decoding never panics (errors are fine: most inputs are not valid requests);
//! - whatever decodes re-encodes to a fixed point: encoding the decoded data, decoding that
//!   and encoding again gives the same bytes (compared as bytes, not values, so that NaN
//!   attribute values do not make equal data look different);
//! - the re-encoded data decodes to data equal to the first decode wherever no NaN is
//!   involved (checked through the bytes above) and has the same number of spans.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetry_otlp::{TracesData, decode_traces, encode_traces_data};

fn span_count(data: &TracesData) -> usize {
    data.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}

fuzz_target!(|data: &[u8]| {
    let Ok(decoded) = decode_traces(data) else {
        return;
    };
    let mut first = Vec::new();
    encode_traces_data(&decoded, &mut first);
    let again = decode_traces(&first).expect("our own encoding decodes");
    assert_eq!(span_count(&again), span_count(&decoded));
    let mut second = Vec::new();
    encode_traces_data(&again, &mut second);
    assert!(first == second, "re-encoding is not a fixed point");
});
