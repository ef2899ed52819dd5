//! The number types instruments accept, and the atomic cell a sum lives in.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::data::Number;

mod sealed {
    pub trait Sealed {}
    impl Sealed for u64 {}
    impl Sealed for i64 {}
    impl Sealed for f64 {}
}

/// A type instruments can record: `u64`, `i64` or `f64`.
pub trait MetricValue: sealed::Sealed + Copy + Send + Sync + fmt::Debug + 'static {
    /// The value as a data-model number.
    fn to_number(self) -> Number;
    /// The value as a float.
    fn to_f64(self) -> f64;
    /// True when the value can be recorded at all: not NaN or infinite, and for `u64` at
    /// most `i64::MAX`, the largest integer OTLP carries.
    fn is_recordable(self) -> bool;
    /// True for values below zero.
    fn is_negative(self) -> bool;
    /// Whether sums of this type are kept as floats.
    #[doc(hidden)]
    const FLOAT: bool;
}

impl MetricValue for u64 {
    const FLOAT: bool = false;
    fn to_number(self) -> Number {
        Number::I64(i64::try_from(self).unwrap_or(i64::MAX))
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn is_recordable(self) -> bool {
        i64::try_from(self).is_ok()
    }
    fn is_negative(self) -> bool {
        false
    }
}

impl MetricValue for i64 {
    const FLOAT: bool = false;
    fn to_number(self) -> Number {
        Number::I64(self)
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn is_recordable(self) -> bool {
        true
    }
    fn is_negative(self) -> bool {
        self < 0
    }
}

impl MetricValue for f64 {
    const FLOAT: bool = true;
    fn to_number(self) -> Number {
        Number::F64(self)
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn is_recordable(self) -> bool {
        self.is_finite()
    }
    fn is_negative(self) -> bool {
        self < 0.0
    }
}

/// A number held in one atomic word: an `i64` as its two's complement, or an `f64` as its
/// bits. Which one is fixed by the instrument's value type, so readers know how to decode.
///
/// Writers: any recording thread (`add` with `fetch_add` or a compare-exchange loop, `store`
/// for last values); readers: the collecting thread (`load` or `take`). Relaxed throughout:
/// the word is self-contained and nothing else is published through it; the map's lock
/// orders creation before use.
#[derive(Debug, Default)]
pub(crate) struct AtomicNumber {
    bits: AtomicU64,
}

impl AtomicNumber {
    /// Adds `measurement`. Integer sums wrap past `i64::MAX` (2^63 of increments; a
    /// saturating compare-exchange loop would slow every contended add to protect an
    /// unreachable case).
    #[inline]
    pub(crate) fn add_measurement(&self, measurement: Measurement) {
        if !measurement.float {
            self.bits.fetch_add(measurement.bits, Ordering::Relaxed);
            return;
        }
        let v = f64::from_bits(measurement.bits);
        let mut current = self.bits.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(current) + v).to_bits();
            match self.bits.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
    }

    /// Replaces the value with `measurement`'s.
    #[inline]
    pub(crate) fn store(&self, measurement: Measurement) {
        self.bits.store(measurement.bits, Ordering::Relaxed);
    }

    pub(crate) fn load(&self, float: bool) -> Number {
        decode(self.bits.load(Ordering::Relaxed), float)
    }

    /// Reads the value and resets it to zero in one step, so no concurrent add is lost.
    pub(crate) fn take(&self, float: bool) -> Number {
        // 0.0 and 0i64 share the all-zero bit pattern.
        decode(self.bits.swap(0, Ordering::Relaxed), float)
    }
}

/// A valid measurement on its way to a cell: a number's bits, and whether they are a
/// float's. Two scalars travel in registers, where a [`Number`] (an enum whose variants hold
/// different types) is passed through memory, which costs a stalled store-to-load forward on
/// every measurement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Measurement {
    /// An `i64`'s two's complement or an `f64`'s bits, as in [`AtomicNumber`].
    bits: u64,
    float: bool,
}

impl Measurement {
    #[inline]
    pub(crate) fn of(number: Number) -> Self {
        match number {
            Number::I64(v) => Measurement {
                bits: v as u64,
                float: false,
            },
            Number::F64(v) => Measurement {
                bits: v.to_bits(),
                float: true,
            },
        }
    }

    pub(crate) fn to_number(self) -> Number {
        decode(self.bits, self.float)
    }

    #[inline]
    pub(crate) fn as_f64(self) -> f64 {
        if self.float {
            f64::from_bits(self.bits)
        } else {
            self.bits as i64 as f64
        }
    }
}

fn decode(bits: u64, float: bool) -> Number {
    if float {
        Number::F64(f64::from_bits(bits))
    } else {
        Number::I64(bits as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_and_float_sums() {
        let cell = AtomicNumber::default();
        cell.add_measurement(Measurement::of(Number::I64(5)));
        cell.add_measurement(Measurement::of(Number::I64(-7)));
        assert_eq!(cell.load(false), Number::I64(-2));
        assert_eq!(cell.take(false), Number::I64(-2));
        assert_eq!(cell.load(false), Number::I64(0));

        cell.add_measurement(Measurement::of(Number::F64(0.5)));
        cell.add_measurement(Measurement::of(Number::F64(0.25)));
        assert_eq!(cell.take(true), Number::F64(0.75));
        assert_eq!(cell.load(true), Number::F64(0.0));
    }

    #[test]
    fn big_unsigned_values_saturate() {
        assert_eq!(u64::MAX.to_number(), Number::I64(i64::MAX));
        assert!(!f64::NAN.is_recordable() && !f64::INFINITY.is_recordable());
        assert!(!(1u64 << 63).is_recordable() && (i64::MAX as u64).is_recordable());
        assert!((-1i64).is_negative() && !0u64.is_negative());
    }
}
