//! `TraceParent::parse` on arbitrary bytes.
//!
//! Properties, for every value the parser accepts:
//! - both ids are non-zero and the version is not `ff`;
//! - the 55 bytes of the fields hold no uppercase ASCII (lowercase hex only) and have their
//!   `-` delimiters in place; a version-`00` value is exactly those 55 bytes. Bytes after a
//!   further `-` of a higher version are ignored by the spec, so they may hold anything;
//! - the ids are re-encoded byte for byte as received (lowercase hex is canonical);
//! - `to_bytes()` parses again as version `00` with the same ids and the known flags, and
//!   formatting is a fixpoint.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetry_context::{TRACEPARENT_LEN, TraceParent};
use telemetry_core::{SpanId, TraceId};

/// Leading and trailing spaces and tabs removed, as the parser tolerates them.
fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = TraceParent::parse(data) else {
        return;
    };
    assert!(parsed.trace_id.is_valid(), "all-zero trace id accepted");
    assert!(parsed.parent_id.is_valid(), "all-zero parent id accepted");
    assert_ne!(parsed.version, 0xff, "forbidden version accepted");

    let trimmed = trim_ows(data);
    assert!(
        trimmed.len() >= TRACEPARENT_LEN,
        "accepted {} bytes",
        trimmed.len()
    );
    let fields = &trimmed[..TRACEPARENT_LEN];
    assert!(
        !fields.iter().any(u8::is_ascii_uppercase),
        "uppercase accepted in {:?}",
        String::from_utf8_lossy(fields)
    );
    assert_eq!((fields[2], fields[35], fields[52]), (b'-', b'-', b'-'));
    if parsed.version == 0 {
        assert_eq!(
            trimmed.len(),
            TRACEPARENT_LEN,
            "version 00 with trailing data"
        );
    } else if trimmed.len() > TRACEPARENT_LEN {
        assert_eq!(
            trimmed[TRACEPARENT_LEN], b'-',
            "future version without '-' after flags"
        );
    }

    assert_eq!(TraceId::from_hex_bytes(&fields[3..35]), Ok(parsed.trace_id));
    assert_eq!(
        SpanId::from_hex_bytes(&fields[36..52]),
        Ok(parsed.parent_id)
    );

    let bytes = parsed.to_bytes();
    assert_eq!(
        &bytes[3..53],
        &fields[3..53],
        "ids not re-encoded as received"
    );
    let again = TraceParent::parse(&bytes).expect("our own traceparent parses");
    assert_eq!(again.version, 0);
    assert_eq!(again.trace_id, parsed.trace_id);
    assert_eq!(again.parent_id, parsed.parent_id);
    assert_eq!(again.flags, parsed.flags.known());
    assert_eq!(again.to_bytes(), bytes, "formatting is not a fixpoint");
    if parsed.version == 0 && parsed.flags == parsed.flags.known() {
        assert_eq!(
            &bytes[..],
            trimmed,
            "a canonical value did not round-trip exactly"
        );
    }
});
