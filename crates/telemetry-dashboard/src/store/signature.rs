//! Attribute signatures: a one-word Bloom filter of an item's attributes (each key with its
//! value rendered as a search compares it), kept with stored spans, traces and log records.
//!
//! A search for an attribute pair first checks the pair's two bits against an item's
//! signature: an item missing either cannot have the pair and is skipped with one AND; the
//! few that pass are compared exactly. There are no false negatives, because the bits are
//! hashed from exactly the text that `json::value_equals` compares.

use std::io::Write as _;

use telemetry_core::{KeyValue, Value};

/// The key under which a span's name enters its signature; a real attribute with this key
/// can only make a name filter look closer, never skip a span.
pub(crate) const NAME_KEY: &str = "\u{0}span.name";

/// The bits one attribute sets in an item's [`attribute_signature`]: two of 64, picked by a
/// hash of its key and its value rendered as a search compares it (strings as themselves,
/// other values as displayed; see `json::value_equals`).
pub(crate) fn attribute_bits(key: &str, rendered: &[u8]) -> u64 {
    let hash = mix(mix(hash_bytes(key.as_bytes())) ^ hash_bytes(rendered));
    (1 << (hash & 63)) | (1 << ((hash >> 6) & 63))
}

/// The union of [`attribute_bits`] of `attributes`: a span whose signature lacks any bit of a
/// filter's pair cannot have that attribute. With the handful of attributes a span carries,
/// a pair it lacks passes in a few percent of spans, and those are then checked exactly.
/// `scratch` holds each non-string value's rendering.
pub(crate) fn attribute_signature(attributes: &[KeyValue], scratch: &mut Vec<u8>) -> u64 {
    let mut bits = 0;
    for kv in attributes {
        let rendered = match &kv.value {
            Value::String(s) => s.as_str().as_bytes(),
            other => {
                scratch.clear();
                // Writing into a Vec cannot fail.
                let _ = write!(scratch, "{other}");
                scratch.as_slice()
            }
        };
        bits |= attribute_bits(kv.key.as_str(), rendered);
    }
    bits
}

/// A word-at-a-time hash. The length goes into the last word, so texts that differ only by
/// trailing zero bytes still differ.
fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut hash = 0x9e37_79b9_7f4a_7c15_u64;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(word);
        hash = mix(hash ^ u64::from_le_bytes(buf));
    }
    let rest = words.remainder();
    let mut buf = [0u8; 8];
    buf[..rest.len()].copy_from_slice(rest);
    mix(hash ^ u64::from_le_bytes(buf) ^ ((bytes.len() as u64) << 56))
}

/// A 64-bit finalizer (SplitMix64's): every input bit reaches every output bit.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
