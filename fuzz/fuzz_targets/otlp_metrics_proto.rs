//! `telemetry_otlp::decode_metrics` on arbitrary bytes.
//!
//! Properties:
//! - decoding never panics (errors are fine: most inputs are not valid requests);
//! - whatever decodes re-encodes to a fixed point: encoding the decoded data, decoding that
//!   and encoding again gives the same bytes (compared as bytes, not values, so that NaN
//!   values do not make equal data look different);
//! - the re-encoded data has the same number of metrics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetry_otlp::{MetricsData, decode_metrics, encode_metrics_data};

fn metric_count(data: &MetricsData) -> usize {
    data.resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .map(|sm| sm.metrics.len())
        .sum()
}

fuzz_target!(|data: &[u8]| {
    let Ok(decoded) = decode_metrics(data) else {
        return;
    };
    let mut first = Vec::new();
    encode_metrics_data(&decoded, &mut first);
    let again = decode_metrics(&first).expect("our own encoding decodes");
    assert_eq!(metric_count(&again), metric_count(&decoded));
    let mut second = Vec::new();
    encode_metrics_data(&again, &mut second);
    assert!(first == second, "re-encoding is not a fixed point");
});
