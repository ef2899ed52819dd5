//! The base-2 exponential histogram: bucket index math and the per-series state.
//!
//! At scale `s` the base is `2^(2^-s)` and bucket `i` holds magnitudes in
//! `(base^i, base^(i+1)]`. The index is computed from the float's bits where that is exact:
//! for scale <= 0 it is the binary exponent shifted, and for an exact power of two at any
//! scale it is `(exponent << s) - 1` (a power of two is the upper, inclusive edge of its
//! bucket). Other values at positive scales go through the natural logarithm, which the spec
//! accepts may be off by one next to a boundary that is not a power of two.

use crate::data::ExponentialBuckets;

/// The finest scale, and the one a series starts at.
pub(crate) const MAX_SCALE: i32 = 20;
/// The coarsest scale: at -10 every finite double fits in two buckets.
pub(crate) const MIN_SCALE: i32 = -10;
/// Default maximum number of buckets per sign.
pub(crate) const DEFAULT_MAX_SIZE: usize = 160;

const SIGNIFICAND_BITS: u32 = 52;
const SIGNIFICAND_MASK: u64 = (1 << SIGNIFICAND_BITS) - 1;
const EXPONENT_BIAS: i32 = 1023;

/// `floor(log2(value))` and whether `value` is an exact power of two, for a finite
/// positive double (subnormals included): the exact part of C's `frexp`.
fn base2_exponent(value: f64) -> (i32, bool) {
    let bits = value.to_bits();
    let biased = ((bits >> SIGNIFICAND_BITS) & 0x7ff) as i32;
    let significand = bits & SIGNIFICAND_MASK;
    if biased == 0 {
        // Subnormal: value = significand * 2^-1074.
        let top_bit = 63 - significand.leading_zeros() as i32;
        (top_bit - 1074, significand.count_ones() == 1)
    } else {
        (biased - EXPONENT_BIAS, significand == 0)
    }
}

/// The bucket index of a finite, positive magnitude at `scale`.
pub(crate) fn bucket_index(value: f64, scale: i32) -> i32 {
    let (exponent, power_of_two) = base2_exponent(value);
    if scale <= 0 {
        // Powers of two close their bucket, so they belong one exponent lower.
        let exponent = if power_of_two { exponent - 1 } else { exponent };
        return exponent >> -scale;
    }
    if power_of_two {
        return (exponent << scale) - 1;
    }
    let scale_factor = f64::from(1u32 << scale) * std::f64::consts::LOG2_E;
    let index = (value.ln() * scale_factor).ceil() as i64 - 1;
    // The logarithm can land one bucket outside the exponent's range next to a power of two;
    // clamp to the range the exact exponent allows.
    let low = i64::from(exponent) << scale;
    let high = ((i64::from(exponent) + 1) << scale) - 1;
    index.clamp(low, high) as i32
}

/// One sign's buckets: a dense run starting at `start`.
#[derive(Clone, Debug, Default)]
struct Buckets {
    start: i32,
    counts: Vec<u64>,
}

impl Buckets {
    fn end(&self) -> i32 {
        self.start + self.counts.len() as i32 - 1
    }

    /// The span of indexes after including `index`.
    fn span_with(&self, index: i32) -> (i32, i32) {
        if self.counts.is_empty() {
            (index, index)
        } else {
            (self.start.min(index), self.end().max(index))
        }
    }

    fn increment(&mut self, index: i32) {
        if self.counts.is_empty() {
            self.start = index;
            self.counts.push(1);
            return;
        }
        if index < self.start {
            let grow = (self.start - index) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.start = index;
        } else if index > self.end() {
            self.counts.resize((index - self.start + 1) as usize, 0);
        }
        self.counts[(index - self.start) as usize] += 1;
    }

    fn downscale(&mut self, by: u32) {
        if by == 0 || self.counts.is_empty() {
            return;
        }
        let new_start = self.start >> by;
        let new_end = self.end() >> by;
        let mut merged = vec![0u64; (new_end - new_start + 1) as usize];
        for (offset, count) in self.counts.iter().enumerate() {
            let index = (self.start + offset as i32) >> by;
            merged[(index - new_start) as usize] += count;
        }
        self.start = new_start;
        self.counts = merged;
    }

    fn to_data(&self) -> ExponentialBuckets {
        ExponentialBuckets {
            offset: if self.counts.is_empty() {
                0
            } else {
                self.start
            },
            counts: self.counts.clone(),
        }
    }
}

/// How many halvings make `[low, high]` fit in `max_size` buckets.
fn downscale_needed(low: i32, high: i32, max_size: usize) -> u32 {
    let mut by = 0;
    while i64::from(high >> by) - i64::from(low >> by) + 1 > max_size as i64 {
        by += 1;
    }
    by
}

/// The state of one series.
#[derive(Clone, Debug)]
pub(crate) struct ExpoState {
    pub(crate) max_size: usize,
    pub(crate) max_scale: i32,
    pub(crate) scale: i32,
    pub(crate) zero_count: u64,
    pub(crate) count: u64,
    pub(crate) sum: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    positive: Buckets,
    negative: Buckets,
}

impl ExpoState {
    pub(crate) fn new(max_size: usize, max_scale: i32) -> Self {
        ExpoState {
            max_size: max_size.max(2),
            max_scale: max_scale.clamp(MIN_SCALE, MAX_SCALE),
            scale: max_scale.clamp(MIN_SCALE, MAX_SCALE),
            zero_count: 0,
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            positive: Buckets::default(),
            negative: Buckets::default(),
        }
    }

    /// Records a finite value.
    pub(crate) fn record(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if value == 0.0 {
            self.zero_count += 1;
            return;
        }
        let magnitude = value.abs();
        let mut index = bucket_index(magnitude, self.scale);
        let buckets = if value > 0.0 {
            &self.positive
        } else {
            &self.negative
        };
        let (low, high) = buckets.span_with(index);
        let by = downscale_needed(low, high, self.max_size).min((self.scale - MIN_SCALE) as u32);
        if by > 0 {
            self.positive.downscale(by);
            self.negative.downscale(by);
            self.scale -= by as i32;
            index = bucket_index(magnitude, self.scale);
        }
        if value > 0.0 {
            self.positive.increment(index);
        } else {
            self.negative.increment(index);
        }
    }

    pub(crate) fn positive(&self) -> ExponentialBuckets {
        self.positive.to_data()
    }

    pub(crate) fn negative(&self) -> ExponentialBuckets {
        self.negative.to_data()
    }

    /// Forgets every measurement (delta collection), starting again at the finest scale.
    pub(crate) fn reset(&mut self) {
        *self = ExpoState::new(self.max_size, self.max_scale);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_of_two_close_their_bucket() {
        // (value, scale, index): a power of two is the inclusive upper edge.
        let table: &[(f64, i32, i32)] = &[
            (1.0, 0, -1),
            (2.0, 0, 0),
            (3.0, 0, 1),
            (4.0, 0, 1),
            (4.5, 0, 2),
            (1.0, 1, -1),
            (2.0, 1, 1),
            (1.5, 1, 1),
            (1.4, 1, 0),
            (1.0, 20, -1),
            (2.0, 20, (1 << 20) - 1),
            (0.5, 3, -9),
            (4.0, -1, 0),
            (5.0, -1, 1),
            (8.0, -1, 1),
            (16.0, -1, 1),
            (17.0, -1, 2),
            (1024.0, -10, 0),
            (f64::MAX, -10, 0),
            (f64::MAX, 20, (1024 << 20) - 1),
        ];
        for &(value, scale, expected) in table {
            assert_eq!(
                bucket_index(value, scale),
                expected,
                "value {value} scale {scale}"
            );
        }
    }

    #[test]
    fn subnormals_have_exact_exponents() {
        let smallest = f64::from_bits(1);
        assert_eq!(base2_exponent(smallest), (-1074, true));
        assert_eq!(bucket_index(smallest, 0), -1075);
        assert_eq!(bucket_index(smallest, 20), (-1074 << 20) - 1);
        let three_ulps = f64::from_bits(3);
        assert_eq!(base2_exponent(three_ulps), (-1073, false));
        assert_eq!(bucket_index(three_ulps, 0), -1073);
        assert_eq!(base2_exponent(f64::MIN_POSITIVE), (-1022, true));
    }

    #[test]
    fn every_index_is_inside_its_bucket_bounds() {
        for scale in [-3, 0, 1, 3, 8, 20] {
            for &value in &[1.1, 3.3, 7.0, 1e-300, 1e300, 123_456.789, 0.001] {
                let index = bucket_index(value, scale);
                let width = 2f64.powi(-scale);
                let lower = (f64::from(index) * width).exp2();
                let upper = (f64::from(index + 1) * width).exp2();
                // Relative slack for the float error of powi itself.
                let slack = 1e-9;
                assert!(
                    value > lower * (1.0 - slack) && value <= upper * (1.0 + slack),
                    "value {value} scale {scale} index {index} bounds ({lower}, {upper}]"
                );
            }
        }
    }

    #[test]
    fn a_single_value_keeps_the_finest_scale() {
        let mut state = ExpoState::new(DEFAULT_MAX_SIZE, MAX_SCALE);
        state.record(1.5);
        assert_eq!(state.scale, 20);
        assert_eq!(state.positive().counts, vec![1]);
    }

    #[test]
    fn range_beyond_the_size_downscales() {
        let mut state = ExpoState::new(4, MAX_SCALE);
        for value in [1.0, 2.0, 4.0, 8.0, 16.0] {
            state.record(value);
        }
        // 1, 2, 4, 8, 16 sit at indexes -1..=3 at scale 0: five buckets; scale -1 has three.
        assert_eq!(state.scale, -1);
        let positive = state.positive();
        assert_eq!(positive.offset, -1);
        assert_eq!(positive.counts, vec![1, 2, 2]);
        assert_eq!(state.count, 5);
        state.record(-1.0);
        state.record(0.0);
        assert_eq!(state.negative().counts, vec![1]);
        assert_eq!((state.zero_count, state.min, state.max), (1, -1.0, 16.0));
    }

    #[test]
    fn extreme_range_clamps_at_the_coarsest_scale() {
        let mut state = ExpoState::new(2, MAX_SCALE);
        for value in [f64::from_bits(1), 1.0, f64::MAX] {
            state.record(value);
        }
        assert_eq!(state.scale, MIN_SCALE);
        let total: u64 = state.positive().counts.iter().sum();
        assert_eq!(total, 3);
    }
}
