//! Attribute sets as series identities.
//!
//! A series is identified by the *set* of its attributes: `[a=1, b=2]` and `[b=2, a=1]` are
//! one series, and a repeated key keeps its last value. Sorting and deduplicating on every
//! measurement would cost an allocation, so the set's hash is order-independent (a wrapping
//! sum of per-attribute hashes) and a stored, normalized set can be compared against the
//! caller's unsorted slice directly. Only a first sighting (or input with a repeated key)
//! pays for normalization.
//!
//! Values compare by bit pattern, so a `NaN` attribute value is one series rather than a new
//! one on every measurement.

use std::hash::Hasher;
use std::sync::Arc;

use telemetry_core::{Key, KeyValue, Value};

/// A normalized attribute set: sorted by key, one value per key, with its hash.
#[derive(Clone, Debug)]
pub(crate) struct AttributeSet {
    attributes: Arc<[KeyValue]>,
    hash: u64,
}

impl AttributeSet {
    /// Sorts `attributes` by key and keeps the last value of each repeated key.
    pub(crate) fn new(attributes: &[KeyValue]) -> Self {
        let mut sorted: Vec<KeyValue> = attributes.to_vec();
        // Stable sort keeps input order among equal keys, so the last one is the latest.
        sorted.sort_by(|a, b| a.key.cmp(&b.key));
        let mut normalized: Vec<KeyValue> = Vec::with_capacity(sorted.len());
        for attribute in sorted {
            match normalized.last_mut() {
                Some(last) if last.key == attribute.key => *last = attribute,
                _ => normalized.push(attribute),
            }
        }
        let hash = set_hash(&normalized);
        AttributeSet {
            attributes: normalized.into(),
            hash,
        }
    }

    /// The empty set.
    pub(crate) fn empty() -> Self {
        AttributeSet {
            attributes: Arc::new([]),
            hash: 0,
        }
    }

    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }

    pub(crate) fn as_slice(&self) -> &[KeyValue] {
        &self.attributes
    }

    /// True when the unsorted `input` denotes this set. Input with a repeated key never
    /// matches here (it takes the normalizing path instead).
    #[inline]
    pub(crate) fn matches_unsorted(&self, input: &[KeyValue]) -> bool {
        let stored = &*self.attributes;
        if stored.len() != input.len() || input.len() > 64 {
            return false;
        }
        // Every input key must hit a distinct stored key; the bitmask catches an input that
        // repeats a key while having the same length as the stored set.
        let mut seen = 0u64;
        for (position, attribute) in input.iter().enumerate() {
            let index = if key_eq(&stored[position].key, &attribute.key) {
                // Callers usually pass their attributes in one order; sorted input hits here.
                position
            } else if stored.len() <= 8 {
                // A short linear scan with the pointer check beats a binary search's string
                // comparisons.
                match stored.iter().position(|s| key_eq(&s.key, &attribute.key)) {
                    Some(index) => index,
                    None => return false,
                }
            } else {
                match stored.binary_search_by(|probe| probe.key.cmp(&attribute.key)) {
                    Ok(index) => index,
                    Err(_) => return false,
                }
            };
            if !value_eq(&stored[index].value, &attribute.value) {
                return false;
            }
            seen |= 1 << index;
        }
        seen.count_ones() as usize == stored.len()
    }

    /// True when both sets are the same.
    pub(crate) fn same_as(&self, other: &AttributeSet) -> bool {
        self.hash == other.hash
            && self.attributes.len() == other.attributes.len()
            && self
                .attributes
                .iter()
                .zip(other.attributes.iter())
                .all(|(a, b)| a.key == b.key && value_eq(&a.value, &b.value))
    }
}

/// The order-independent hash of a set without repeated keys.
#[inline]
pub(crate) fn set_hash(attributes: &[KeyValue]) -> u64 {
    attributes.iter().fold(0u64, |sum, attribute| {
        sum.wrapping_add(attribute_hash(attribute))
    })
}

#[inline]
fn attribute_hash(attribute: &KeyValue) -> u64 {
    let mut hasher = FoldHasher::default();
    hasher.write(attribute.key.as_bytes());
    hasher.write_u8(0xff);
    hash_value(&attribute.value, &mut hasher);
    // A final avalanche so that summing hashes of similar attributes does not cancel out.
    let mut x = hasher.finish();
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

#[inline]
fn hash_value(value: &Value, hasher: &mut FoldHasher) {
    match value {
        Value::Empty => hasher.write_u8(0),
        Value::Bool(v) => {
            hasher.write_u8(1);
            hasher.write_u8(u8::from(*v));
        }
        Value::I64(v) => {
            hasher.write_u8(2);
            hasher.write_u64(*v as u64);
        }
        Value::F64(v) => {
            hasher.write_u8(3);
            hasher.write_u64(v.to_bits());
        }
        Value::String(s) => {
            hasher.write_u8(4);
            hasher.write(s.as_bytes());
        }
        Value::Bytes(bytes) => {
            hasher.write_u8(5);
            hasher.write(bytes);
        }
        Value::Array(values) => {
            hasher.write_u8(6);
            hasher.write_u64(values.len() as u64);
            values.iter().for_each(|v| hash_value(v, hasher));
        }
        Value::Map(pairs) => {
            hasher.write_u8(7);
            hasher.write_u64(pairs.len() as u64);
            for pair in pairs {
                hasher.write(pair.key.as_bytes());
                hash_value(&pair.value, hasher);
            }
        }
    }
}

/// String equality that skips the byte comparison when both sides are the same string in
/// memory, as keys and values from one literal are.
#[inline]
fn str_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && (std::ptr::eq(a.as_ptr(), b.as_ptr()) || a == b)
}

#[inline]
fn key_eq(a: &Key, b: &Key) -> bool {
    str_eq(a.as_str(), b.as_str())
}

/// Equality by bit pattern for floats, so that equal-looking series are one series.
#[inline]
pub(crate) fn value_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => str_eq(x, y),
        (Value::I64(x), Value::I64(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        _ => nested_value_eq(a, b),
    }
}

/// The rare cases, out of line so the common scalar comparisons inline.
#[inline(never)]
fn nested_value_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| value_eq(x, y))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(x, y)| x.key == y.key && value_eq(&x.value, &y.value))
        }
        _ => a == b,
    }
}

/// Where each attribute of `input` sits in `set` (input order), when `input` denotes the set
/// and has at most [`MAX_ORDERED`] attributes.
pub(crate) fn input_order(set: &AttributeSet, input: &[KeyValue]) -> Option<[u8; MAX_ORDERED]> {
    if input.len() > MAX_ORDERED || !set.matches_unsorted(input) {
        return None;
    }
    let mut order = [0u8; MAX_ORDERED];
    for (slot, attribute) in order.iter_mut().zip(input) {
        let index = set
            .as_slice()
            .iter()
            .position(|stored| key_eq(&stored.key, &attribute.key))?;
        *slot = u8::try_from(index).ok()?;
    }
    Some(order)
}

/// The most attributes [`input_order`] records.
pub(crate) const MAX_ORDERED: usize = 16;

impl AttributeSet {
    /// True when the set's attribute at `index` equals `attribute`.
    #[inline]
    pub(crate) fn matches_at(&self, index: u8, attribute: &KeyValue) -> bool {
        self.attributes
            .get(usize::from(index))
            .is_some_and(|s| key_eq(&s.key, &attribute.key) && value_eq(&s.value, &attribute.value))
    }

    /// True when `input` denotes this set with its attributes at the positions `order` gives
    /// (as computed by [`input_order`] for an earlier input). `order` is a permutation, so
    /// matching every input attribute covers every stored one. The thread cache does this
    /// position by position ([`AttributeSet::matches_at`]).
    #[cfg(test)]
    fn matches_in_order(&self, input: &[KeyValue], order: &[u8; MAX_ORDERED]) -> bool {
        self.attributes.len() == input.len()
            && input.len() <= MAX_ORDERED
            && input
                .iter()
                .zip(order)
                .all(|(attribute, &index)| self.matches_at(index, attribute))
    }
}

/// A small multiply-rotate hasher. Attribute sets are hashed on every measurement, where
/// SipHash would cost more than the rest of the add; flooding one bucket with crafted
/// collisions is bounded by the cardinality limit.
#[derive(Default)]
struct FoldHasher {
    state: u64,
}

const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for FoldHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.state
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // Byte by byte: a variable-length copy would call memmove for at most 7 bytes.
            let word = rest
                .iter()
                .enumerate()
                .fold(0u64, |word, (i, &b)| word | (u64::from(b) << (8 * i)));
            self.write_u64(word ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, byte: u8) {
        self.write_u64(u64::from(byte) | 0x100);
    }

    #[inline]
    fn write_u64(&mut self, word: u64) {
        self.state = (self.state ^ word).wrapping_mul(SEED).rotate_left(23);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_repeats_do_not_change_the_set() {
        let a = AttributeSet::new(&[KeyValue::new("b", 2i64), KeyValue::new("a", "x")]);
        let b = AttributeSet::new(&[
            KeyValue::new("a", "y"),
            KeyValue::new("b", 2i64),
            KeyValue::new("a", "x"),
        ]);
        assert!(a.same_as(&b));
        assert_eq!(a.hash(), b.hash());
        assert_eq!(a.as_slice()[0], KeyValue::new("a", "x"));
        assert!(a.matches_unsorted(&[KeyValue::new("b", 2i64), KeyValue::new("a", "x")]));
        assert_eq!(
            set_hash(&[KeyValue::new("b", 2i64), KeyValue::new("a", "x")]),
            a.hash()
        );
    }

    #[test]
    fn unsorted_matching_rejects_near_misses() {
        let set = AttributeSet::new(&[KeyValue::new("a", 1i64), KeyValue::new("b", 2i64)]);
        assert!(!set.matches_unsorted(&[KeyValue::new("a", 1i64), KeyValue::new("a", 1i64)]));
        assert!(!set.matches_unsorted(&[KeyValue::new("a", 1i64), KeyValue::new("b", 3i64)]));
        assert!(!set.matches_unsorted(&[KeyValue::new("a", 1i64)]));
        assert!(!set.matches_unsorted(&[KeyValue::new("a", 1i64), KeyValue::new("c", 2i64)]));
    }

    #[test]
    fn every_lookup_strategy_agrees() {
        // Up to 8 attributes use a linear scan, more a binary search; owned strings compare
        // by content, static ones by pointer first.
        for n in [1usize, 3, 8, 9, 20] {
            let forward: Vec<KeyValue> = (0..n)
                .map(|i| KeyValue::new(format!("key{i:02}"), format!("v{i}")))
                .collect();
            let set = AttributeSet::new(&forward);
            let mut backward = forward.clone();
            backward.reverse();
            assert!(set.matches_unsorted(&forward), "{n} forward");
            assert!(set.matches_unsorted(&backward), "{n} backward");
            assert_eq!(set_hash(&backward), set.hash());
            let mut changed = backward.clone();
            changed[n / 2] = KeyValue::new(changed[n / 2].key.clone(), "other");
            assert!(!set.matches_unsorted(&changed), "{n} changed value");
            let mut renamed = backward;
            renamed[0] = KeyValue::new("zzz", renamed[0].value.clone());
            assert!(!set.matches_unsorted(&renamed), "{n} changed key");
        }
        let fixed = AttributeSet::new(&[KeyValue::new("k", "value")]);
        assert!(fixed.matches_unsorted(&[KeyValue::new("k", String::from("value"))]));
    }

    #[test]
    fn input_order_maps_positions_and_rejects_changes() {
        let input = [
            KeyValue::new("z", 1i64),
            KeyValue::new("a", "x"),
            KeyValue::new("m", true),
        ];
        let set = AttributeSet::new(&input);
        let order = input_order(&set, &input).expect("the input denotes the set");
        assert_eq!(&order[..3], &[2, 0, 1]);
        assert!(set.matches_in_order(&input, &order));
        let mut changed = input.clone();
        changed[2] = KeyValue::new("m", false);
        assert!(!set.matches_in_order(&changed, &order));
        let mut reordered = input.clone();
        reordered.swap(0, 1);
        assert!(!set.matches_in_order(&reordered, &order));
        assert!(!set.matches_in_order(&input[..2], &order));
        assert!(input_order(&set, &input[..2]).is_none());
    }

    #[test]
    fn nan_values_are_one_series_and_types_differ() {
        let nan = AttributeSet::new(&[KeyValue::new("v", f64::NAN)]);
        assert!(nan.same_as(&AttributeSet::new(&[KeyValue::new("v", f64::NAN)])));
        let int = AttributeSet::new(&[KeyValue::new("v", 1i64)]);
        let float = AttributeSet::new(&[KeyValue::new("v", 1.0)]);
        assert!(!int.same_as(&float));
        assert_ne!(int.hash(), float.hash());
    }
}
