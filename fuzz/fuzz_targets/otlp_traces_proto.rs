//! `telemetry_otlp::decode_traces` and `TracesView::decode` on arbitrary bytes.
//!
//! Properties:
//! - decoding never panics (errors are fine: most inputs are not valid requests), and
//!   neither does reading every field of a decoded view (its `Debug` output reads them all);
//! - the borrowing decoder accepts exactly the inputs the owned one accepts, fails on the
//!   others with the same error (kind, offset, message and field), and holds the same
//!   content: its owned form encodes to the same bytes as the owned decoder's result;
//! - whatever decodes re-encodes to a fixed point: encoding the decoded data, decoding that
//!   and encoding again gives the same bytes (compared as bytes, not values, so that NaN
//!   attribute values do not make equal data look different);
//! - the re-encoded data decodes to data equal to the first decode wherever no NaN is
//!   involved (checked through the bytes above) and has the same number of spans.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetry_otlp::{TracesData, TracesView, decode_traces, encode_traces_data};

fn span_count(data: &TracesData) -> usize {
    data.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}

fuzz_target!(|data: &[u8]| {
    let (decoded, view) = match (decode_traces(data), TracesView::decode(data)) {
        (Ok(decoded), Ok(view)) => (decoded, view),
        (Err(owned), Err(view)) => {
            assert_eq!(owned, view, "the decoders fail differently");
            return;
        }
        (owned, view) => panic!(
            "the decoders disagree on validity: owned {:?}, view {:?}",
            owned.err(),
            view.err()
        ),
    };
    let mut first = Vec::new();
    encode_traces_data(&decoded, &mut first);

    assert_eq!(view.span_count(), span_count(&decoded));
    let mut from_view = Vec::new();
    encode_traces_data(&view.to_traces_data(), &mut from_view);
    assert!(first == from_view, "the view holds other content");
    assert!(!format!("{view:?}").is_empty());

    let again = decode_traces(&first).expect("our own encoding decodes");
    assert_eq!(span_count(&again), span_count(&decoded));
    let mut second = Vec::new();
    encode_traces_data(&again, &mut second);
    assert!(first == second, "re-encoding is not a fixed point");
});
