//! `TraceState::parse_headers` on arbitrary bytes, split at `0xff` into header lines.
//!
//! Properties:
//! - a list of more than 32 non-empty members is rejected; an accepted one holds at most 32
//!   entries with unique keys, each key and value within the Level-2 grammar;
//! - several lines parse exactly as the one line they form when joined with `,`;
//! - `TraceState::parse(state.header())` gives back an equal state, and the header is the
//!   entries joined as `k=v` with `,`.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use telemetry_context::TraceState;
use telemetry_context::limits::{
    TRACESTATE_MAX_KEY_LEN, TRACESTATE_MAX_MEMBERS, TRACESTATE_MAX_VALUE_LEN,
};

fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// `key = (lcalpha / DIGIT) 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@")`.
fn key_ok(key: &str) -> bool {
    let bytes = key.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= TRACESTATE_MAX_KEY_LEN
        && matches!(bytes[0], b'a'..=b'z' | b'0'..=b'9')
        && bytes
            .iter()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/' | b'@'))
}

/// `value = 0*255(chr) nblk-chr`, `chr` = printable ASCII except `,` and `=`.
fn value_ok(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= TRACESTATE_MAX_VALUE_LEN
        && !value.ends_with(' ')
        && bytes
            .iter()
            .all(|&b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
}

fuzz_target!(|data: &[u8]| {
    let lines: Vec<&[u8]> = data.split(|&b| b == 0xff).collect();
    let result = TraceState::parse_headers(lines.iter().copied());

    let joined = lines.join(&b","[..]);
    assert_eq!(
        TraceState::parse_headers([joined.as_slice()]),
        result,
        "lines parse differently from their join"
    );

    let members = lines
        .iter()
        .flat_map(|line| line.split(|&b| b == b','))
        .filter(|member| !trim_ows(member).is_empty())
        .count();
    let Ok(state) = result else {
        return;
    };
    assert!(
        members <= TRACESTATE_MAX_MEMBERS,
        "{members} members accepted"
    );
    assert!(state.len() <= TRACESTATE_MAX_MEMBERS);
    assert!(state.len() <= members);
    assert_eq!(state.is_empty(), state.len() == 0);

    let mut keys = HashSet::new();
    for (key, value) in state.iter() {
        assert!(keys.insert(key), "duplicate key {key:?}");
        assert!(key_ok(key), "invalid key {key:?}");
        assert!(value_ok(value), "invalid value {value:?}");
        assert_eq!(state.get(key), Some(value));
    }
    let expected: Vec<String> = state.iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(state.header(), expected.join(","));

    let again = TraceState::parse(state.header()).expect("our own tracestate parses");
    assert_eq!(again, state);
});
