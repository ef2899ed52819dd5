//! A fast keyed hasher for the store's maps keyed by trace id.
//!
//! Trace ids are 16 random bytes, so SipHash's work on them (a profile put it at about 8 % of
//! the server's time, over all the store's maps) buys no spread that the id lacks. The ids
//! come from the network, though: a sender could choose them. An unkeyed hash that used the
//! id's bits as they are (say its low 64 bits) would let a sender put every trace in one
//! probe sequence, so that each insert and lookup walks all the others, quadratic work from
//! linear input. Hence this hasher is keyed: two 64-bit keys drawn once per store from the
//! standard library's random seed, and every input word is mixed with a key before a
//! 64×64→128-bit multiply whose halves are folded together (the construction of `foldhash`
//! and `ahash`). Colliding ids on purpose then needs the keys, which never leave the process
//! and which no response reveals (the API lists traces by time, never in map order). It is
//! not a cryptographic PRF, which is why the maps keyed by other strings a sender picks
//! (service and span names) keep the standard SipHash: their keys are long and of any shape,
//! where this one-multiply mix is weakest, and they are fewer lookups per span.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// Builds [`IdHasher`]s with this store's keys.
#[derive(Clone, Debug)]
pub(crate) struct IdHash {
    keys: [u64; 2],
}

impl IdHash {
    /// Keys drawn from the standard library's per-process random seed.
    pub(crate) fn new() -> IdHash {
        // `RandomState` is seeded from the OS once per thread and stepped for each new state;
        // SipHash of two constants under it gives two unpredictable words.
        let seed = RandomState::new();
        IdHash {
            keys: [seed.hash_one(0u64), seed.hash_one(1u64) | 1],
        }
    }
}

impl BuildHasher for IdHash {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher {
            state: self.keys[0],
            key: self.keys[1],
        }
    }
}

/// Folds the 128-bit product of `a` and `b` into 64 bits: every input bit reaches both
/// halves, so the result is spread in its low bits (the bucket index) and its top bits (the
/// table's tag byte) alike.
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// The hasher of [`IdHash`]: one multiply per 16 bytes of input.
#[derive(Debug)]
pub(crate) struct IdHasher {
    state: u64,
    key: u64,
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(16);
        for chunk in &mut chunks {
            let (low, high) = chunk.split_at(8);
            self.mix(word(low), word(high));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let (low, high) = rest.split_at(rest.len().min(8));
            // The length goes in with the tail so that tails differing only in trailing
            // zero bytes hash apart.
            self.mix(word(low), word(high) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.mix(value, 0);
    }

    fn write_usize(&mut self, value: usize) {
        self.mix(value as u64, 0);
    }

    fn finish(&self) -> u64 {
        self.state
    }
}

impl IdHasher {
    fn mix(&mut self, low: u64, high: u64) {
        // Both operands carry a key, so no input word can zero the product without it.
        self.state = fold(low ^ self.state, high ^ self.key);
    }
}

/// Up to 8 bytes as a little-endian word, zero-padded.
fn word(bytes: &[u8]) -> u64 {
    let mut buffer = [0u8; 8];
    let len = bytes.len().min(8);
    buffer[..len].copy_from_slice(&bytes[..len]);
    u64::from_le_bytes(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use telemetry_core::TraceId;

    fn hash(build: &IdHash, id: TraceId) -> u64 {
        build.hash_one(id)
    }

    #[test]
    fn equal_ids_hash_equal_and_stores_get_different_keys() {
        let (a, b) = (IdHash::new(), IdHash::new());
        let id = TraceId::from_int(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        assert_eq!(hash(&a, id), hash(&a, id));
        assert_ne!(a.keys, b.keys);
        assert_ne!(hash(&a, id), hash(&b, id));
    }

    #[test]
    fn ids_sharing_their_low_or_high_half_still_spread() {
        // A sender choosing ids that agree in one half (or differ in one bit) must not get
        // them into few buckets: the low 7 bits and the top 7 bits are what the table uses.
        let build = IdHash::new();
        let mut low_bits = HashSet::new();
        let mut top_bits = HashSet::new();
        let mut all = HashSet::new();
        for i in 0..4096u128 {
            for id in [i << 64 | 0xdead_beef, i | 0xdead_beef << 64, 1 << (i % 128)] {
                let h = hash(&build, TraceId::from_int(id));
                low_bits.insert(h & 0x7f);
                top_bits.insert(h >> 57);
                all.insert(h);
            }
        }
        assert_eq!(low_bits.len(), 128);
        assert_eq!(top_bits.len(), 128);
        // 4096 * 2 distinct ids in the first two families plus 128 single-bit ids.
        assert_eq!(all.len(), 2 * 4096 + 128);
    }

    #[test]
    fn byte_tails_of_any_length_hash_apart() {
        let build = IdHash::new();
        let zeros = [0u8; 40];
        let hashes: HashSet<u64> = (0..40usize)
            .map(|len| {
                let mut hasher = build.build_hasher();
                hasher.write(&zeros[..len]);
                hasher.finish()
            })
            .collect();
        assert_eq!(hashes.len(), 40);
    }
}
