//! `Baggage::parse_headers` (lenient) and `Baggage::parse` (strict) on arbitrary bytes.
//!
//! Properties:
//! - the lenient result keeps at most 64 members, unique names, and a header of at most
//!   8192 bytes; every non-empty input member is kept, counted as invalid or over the
//!   limit, or replaced by a later one of the same name, so nothing is dropped silently;
//! - its header parses strictly to an equal `Baggage`;
//! - when the input is UTF-8 the strict parser does not panic, and when it accepts the
//!   input, the lenient parser keeps exactly the same members and drops nothing.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use telemetry_context::Baggage;
use telemetry_context::limits::{BAGGAGE_MAX_BYTES, BAGGAGE_MAX_MEMBERS};

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
    let parsed = Baggage::parse_headers([data]);
    let baggage = &parsed.baggage;
    assert!(
        baggage.len() <= BAGGAGE_MAX_MEMBERS,
        "{} members kept",
        baggage.len()
    );
    assert_eq!(baggage.is_empty(), baggage.len() == 0);
    let header = baggage.header();
    assert!(
        header.len() <= BAGGAGE_MAX_BYTES,
        "header of {} bytes",
        header.len()
    );

    let mut names = HashSet::new();
    for entry in baggage.iter_entries() {
        assert!(
            names.insert(&*entry.name),
            "duplicate name {:?}",
            entry.name
        );
        assert_eq!(baggage.get(&entry.name), Some(&*entry.value));
    }

    let members = data
        .split(|&b| b == b',')
        .filter(|member| !trim_ows(member).is_empty())
        .count();
    let accounted = baggage.len() + parsed.invalid + parsed.over_limit;
    assert!(
        accounted <= members,
        "{accounted} accounted of {members} members"
    );
    if members > 0 {
        assert!(accounted > 0, "{members} members dropped without a count");
    }

    let again = Baggage::parse(&header).expect("our own baggage header parses strictly");
    assert_eq!(&again, baggage, "header {header:?} did not round-trip");

    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(strict) = Baggage::parse(text) {
            assert_eq!(
                (parsed.invalid, parsed.over_limit),
                (0, 0),
                "lenient parse dropped members of a header the strict parse accepts"
            );
            assert_eq!(&strict, baggage, "strict and lenient parses disagree");
        }
    }
});
