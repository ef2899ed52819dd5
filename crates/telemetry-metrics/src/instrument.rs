//! Instruments: what instrumented code calls. Every recording method is infallible and never
//! panics; a value the instrument cannot take (NaN, an infinity, a `u64` above `i64::MAX`, a
//! negative increment of a counter or histogram) is dropped, counted, and reported once.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;
use telemetry_core::{KeyValue, diagnostic};

use crate::exemplar::{ExemplarFilter, Offer};
use crate::number::{Measurement, MetricValue};
use crate::stream::{AsyncStream, Series, SyncStream};

/// The kinds of instruments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InstrumentKind {
    /// Monotonic sum of increments.
    Counter,
    /// Sum of increments and decrements.
    UpDownCounter,
    /// Last recorded value (synchronous gauge).
    Gauge,
    /// Distribution of recorded values.
    Histogram,
    /// Monotonic sum reported by a callback.
    ObservableCounter,
    /// Non-monotonic sum reported by a callback.
    ObservableUpDownCounter,
    /// Last value reported by a callback.
    ObservableGauge,
}

impl InstrumentKind {
    /// Every kind, for tables indexed by kind.
    pub const ALL: [InstrumentKind; 7] = [
        InstrumentKind::Counter,
        InstrumentKind::UpDownCounter,
        InstrumentKind::Gauge,
        InstrumentKind::Histogram,
        InstrumentKind::ObservableCounter,
        InstrumentKind::ObservableUpDownCounter,
        InstrumentKind::ObservableGauge,
    ];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// True for the callback-driven kinds.
    pub fn is_observable(self) -> bool {
        matches!(
            self,
            InstrumentKind::ObservableCounter
                | InstrumentKind::ObservableUpDownCounter
                | InstrumentKind::ObservableGauge
        )
    }

    /// Whether a value is acceptable: finite, and not negative where the kind only grows.
    fn accepts(self, value: impl MetricValue) -> bool {
        let non_negative = matches!(
            self,
            InstrumentKind::Counter | InstrumentKind::Histogram | InstrumentKind::ObservableCounter
        );
        value.is_recordable() && !(non_negative && value.is_negative())
    }
}

/// What describes an instrument.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct InstrumentDescriptor {
    /// The name as first registered (identity is case-insensitive).
    pub name: String,
    /// The description, or empty.
    pub description: String,
    /// The unit, or empty.
    pub unit: String,
    /// The kind.
    pub kind: InstrumentKind,
    /// Advisory histogram boundaries, if the instrument gave some.
    pub advisory_boundaries: Option<Vec<f64>>,
    /// Advisory attribute keys to keep, if the instrument gave some; a view's filter wins.
    pub advisory_attribute_keys: Option<Vec<String>>,
}

/// Counts of dropped measurements, shared by every handle of an instrument.
#[derive(Debug, Default)]
struct Dropped {
    /// Incremented by any recording thread; read by `dropped_measurements`. Relaxed: a plain
    /// statistic.
    count: AtomicU64,
}

impl Dropped {
    #[cold]
    fn record(&self, descriptor: &InstrumentDescriptor, value: impl fmt::Debug) {
        if self.count.fetch_add(1, Ordering::Relaxed) == 0 {
            diagnostic::report(
                "metrics",
                format_args!(
                    "instrument {:?} dropped the invalid value {value:?}; further invalid values \
                     are counted silently",
                    descriptor.name
                ),
            );
        }
    }

    fn get(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// The shared state of a synchronous instrument: its streams, one per reader and view.
#[derive(Debug)]
pub(crate) struct SyncCore {
    pub(crate) descriptor: InstrumentDescriptor,
    streams: Box<[Arc<SyncStream>]>,
    /// `AlwaysOff` when no stream keeps exemplars, so recording skips the context read.
    exemplar_filter: ExemplarFilter,
    dropped: Dropped,
}

impl SyncCore {
    pub(crate) fn new(
        descriptor: InstrumentDescriptor,
        streams: Vec<Arc<SyncStream>>,
        exemplar_filter: ExemplarFilter,
    ) -> Self {
        let wants_exemplars = streams.iter().any(|s| s.settings.exemplars);
        SyncCore {
            descriptor,
            streams: streams.into_boxed_slice(),
            exemplar_filter: if wants_exemplars {
                exemplar_filter
            } else {
                ExemplarFilter::AlwaysOff
            },
            dropped: Dropped::default(),
        }
    }

    // Always inlined into the caller's loop: the frame of an out-of-line call (saved
    // registers, a return address) is stores that every add's atomic must wait for.
    #[inline(always)]
    fn measure<T: MetricValue>(&self, value: T, attributes: &[KeyValue]) {
        if !self.descriptor.kind.accepts(value) {
            return self.dropped.record(&self.descriptor, value);
        }
        let measurement = Measurement::of(value.to_number());
        // The check alone first, inlined: in the common case (no sampled span) recording
        // then runs with the exemplar code gone, and no span ids are built.
        if self.exemplar_filter.skips() {
            for stream in &self.streams {
                stream.record(measurement, attributes, None);
            }
        } else {
            self.measure_offered(measurement, attributes);
        }
    }

    /// Records a measurement that may become an exemplar.
    #[inline(never)]
    fn measure_offered(&self, measurement: Measurement, attributes: &[KeyValue]) {
        let ids = self.exemplar_filter.sample();
        let offer = ids.map(|ids| Offer {
            value: measurement.to_number(),
            attributes,
            ids,
        });
        for stream in &self.streams {
            stream.record(measurement, attributes, offer.as_ref());
        }
    }

    fn bind(self: &Arc<Self>, attributes: &[KeyValue]) -> BoundCore {
        BoundCore {
            kind: self.descriptor.kind,
            exemplar_filter: self.exemplar_filter,
            series: self
                .streams
                .iter()
                .map(|stream| (Arc::clone(stream), stream.bind(attributes)))
                .collect(),
            attributes: attributes.into(),
            core: Arc::clone(self),
        }
    }
}

/// A bound handle's state: the series it feeds in every stream.
struct BoundCore {
    core: Arc<SyncCore>,
    /// Copies of the core's, read on every measurement without following `core`.
    kind: InstrumentKind,
    exemplar_filter: ExemplarFilter,
    series: Box<[(Arc<SyncStream>, Arc<Series>)]>,
    /// Kept for exemplars, which report the attributes a view dropped.
    attributes: Arc<[KeyValue]>,
}

impl BoundCore {
    // Always inlined, as `SyncCore::measure` is.
    #[inline(always)]
    fn measure<T: MetricValue>(&self, value: T) {
        if !self.kind.accepts(value) {
            return self.core.dropped.record(&self.core.descriptor, value);
        }
        let measurement = Measurement::of(value.to_number());
        if self.exemplar_filter.skips() {
            for (stream, series) in &self.series {
                stream.record_into(series, measurement, None);
            }
        } else {
            self.measure_offered(measurement);
        }
    }

    /// Records a measurement that may become an exemplar.
    #[inline(never)]
    fn measure_offered(&self, measurement: Measurement) {
        let ids = self.exemplar_filter.sample();
        let offer = ids.map(|ids| Offer {
            value: measurement.to_number(),
            attributes: &self.attributes,
            ids,
        });
        for (stream, series) in &self.series {
            stream.record_into(series, measurement, offer.as_ref());
        }
    }
}

impl fmt::Debug for BoundCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bound")
            .field("instrument", &self.core.descriptor.name)
            .field("attributes", &self.attributes)
            .finish()
    }
}

macro_rules! sync_instrument {
    ($(#[$doc:meta])* $name:ident, $method:ident, $bound:ident) => {
        $(#[$doc])*
        pub struct $name<T> {
            core: Arc<SyncCore>,
            value: PhantomData<fn(T)>,
        }

        impl<T: MetricValue> $name<T> {
            pub(crate) fn from_core(core: Arc<SyncCore>) -> Self {
                $name { core, value: PhantomData }
            }

            /// Records `value` for the series of `attributes` (any order; a repeated key keeps
            /// its last value).
            #[inline]
            pub fn $method(&self, value: T, attributes: &[KeyValue]) {
                self.core.measure(value, attributes);
            }

            /// A handle bound to one attribute set: recording through it skips the series
            /// lookup entirely. The series stays allocated while the handle lives.
            pub fn bind(&self, attributes: &[KeyValue]) -> $bound<T> {
                $bound { core: self.core.bind(attributes), value: PhantomData }
            }

            /// How many invalid values this instrument has dropped.
            pub fn dropped_measurements(&self) -> u64 {
                self.core.dropped.get()
            }

            /// The instrument's name, description, unit and kind.
            pub fn descriptor(&self) -> &InstrumentDescriptor {
                &self.core.descriptor
            }
        }

        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                $name { core: Arc::clone(&self.core), value: PhantomData }
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("name", &self.core.descriptor.name)
                    .finish_non_exhaustive()
            }
        }

        impl<T> PartialEq for $name<T> {
            /// Two handles are equal when they record into the same instrument.
            fn eq(&self, other: &Self) -> bool {
                Arc::ptr_eq(&self.core, &other.core)
            }
        }
    };
}

sync_instrument!(
    /// A monotonic sum: request counts, bytes sent. Negative increments are dropped.
    Counter,
    add,
    BoundCounter
);
sync_instrument!(
    /// A sum that goes up and down: queue length, active connections.
    UpDownCounter,
    add,
    BoundCounter
);
sync_instrument!(
    /// The last recorded value: a temperature, a configuration value.
    Gauge,
    record,
    BoundGauge
);
sync_instrument!(
    /// A distribution: request durations, payload sizes. Negative values are dropped.
    Histogram,
    record,
    BoundHistogram
);

macro_rules! bound_instrument {
    ($(#[$doc:meta])* $name:ident, $method:ident) => {
        $(#[$doc])*
        pub struct $name<T> {
            core: BoundCore,
            value: PhantomData<fn(T)>,
        }

        impl<T: MetricValue> $name<T> {
            /// Records `value` for the bound attribute set: atomic work only, no lookup.
            #[inline]
            pub fn $method(&self, value: T) {
                self.core.measure(value);
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.core, f)
            }
        }
    };
}

bound_instrument!(
    /// A counter or up-down counter bound to one attribute set.
    BoundCounter,
    add
);
bound_instrument!(
    /// A gauge bound to one attribute set.
    BoundGauge,
    record
);
bound_instrument!(
    /// A histogram bound to one attribute set.
    BoundHistogram,
    record
);

/// A callback of an observable instrument.
pub(crate) type Callback<T> = Arc<dyn Fn(&Observer<'_, T>) + Send + Sync>;

/// Receives the values a callback observes.
pub struct Observer<'a, T> {
    core: &'a AsyncCore<T>,
    streams: &'a [Arc<AsyncStream>],
}

impl<T: MetricValue> Observer<'_, T> {
    /// Reports the current value for the series of `attributes`.
    pub fn observe(&self, value: T, attributes: &[KeyValue]) {
        if !self.core.descriptor.kind.accepts(value) {
            return self.core.dropped.record(&self.core.descriptor, value);
        }
        for stream in self.streams {
            stream.observe(value.to_number(), attributes);
        }
    }
}

impl<T> fmt::Debug for Observer<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observer")
            .field("instrument", &self.core.descriptor.name)
            .finish_non_exhaustive()
    }
}

/// The shared state of an observable instrument.
pub(crate) struct AsyncCore<T> {
    pub(crate) descriptor: InstrumentDescriptor,
    pub(crate) callbacks: RwLock<Vec<Callback<T>>>,
    dropped: Dropped,
}

impl<T> AsyncCore<T> {
    pub(crate) fn new(descriptor: InstrumentDescriptor, callbacks: Vec<Callback<T>>) -> Self {
        AsyncCore {
            descriptor,
            callbacks: RwLock::new(callbacks),
            dropped: Dropped::default(),
        }
    }
}

/// Runs an observable instrument's callbacks into one reader's streams.
pub(crate) trait RunCallbacks: Send + Sync {
    fn run(&self, streams: &[Arc<AsyncStream>]);
}

impl<T: MetricValue> RunCallbacks for AsyncCore<T> {
    fn run(&self, streams: &[Arc<AsyncStream>]) {
        // Clone the list so a callback may register more callbacks without deadlocking.
        let callbacks = self.callbacks.read().clone();
        let observer = Observer {
            core: self,
            streams,
        };
        for callback in callbacks {
            callback(&observer);
        }
    }
}

impl<T> fmt::Debug for AsyncCore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncCore")
            .field("descriptor", &self.descriptor)
            .field("callbacks", &self.callbacks.read().len())
            .finish_non_exhaustive()
    }
}

macro_rules! async_instrument {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name<T> {
            core: Arc<AsyncCore<T>>,
        }

        impl<T: MetricValue> $name<T> {
            pub(crate) fn from_core(core: Arc<AsyncCore<T>>) -> Self {
                $name { core }
            }

            /// How many invalid values the callbacks have reported and the instrument dropped.
            pub fn dropped_measurements(&self) -> u64 {
                self.core.dropped.get()
            }

            /// The instrument's name, description, unit and kind.
            pub fn descriptor(&self) -> &InstrumentDescriptor {
                &self.core.descriptor
            }
        }

        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                $name { core: Arc::clone(&self.core) }
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("name", &self.core.descriptor.name)
                    .finish_non_exhaustive()
            }
        }
    };
}

async_instrument!(
    /// A monotonic sum whose callbacks report the running total.
    ObservableCounter
);
async_instrument!(
    /// A sum that goes up and down, whose callbacks report the current total.
    ObservableUpDownCounter
);
async_instrument!(
    /// A value whose callbacks report it at each collection.
    ObservableGauge
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_by_kind() {
        let table: [(InstrumentKind, f64, bool); 8] = [
            (InstrumentKind::Counter, 1.0, true),
            (InstrumentKind::Counter, -1.0, false),
            (InstrumentKind::Counter, f64::NAN, false),
            (InstrumentKind::Histogram, -0.5, false),
            (InstrumentKind::UpDownCounter, -1.0, true),
            (InstrumentKind::UpDownCounter, f64::INFINITY, false),
            (InstrumentKind::Gauge, -3.0, true),
            (InstrumentKind::Gauge, f64::NEG_INFINITY, false),
        ];
        for (kind, value, ok) in table {
            assert_eq!(kind.accepts(value), ok, "{kind:?} {value}");
        }
        assert!(!InstrumentKind::ObservableCounter.accepts(-1i64));
        assert!(InstrumentKind::ObservableUpDownCounter.accepts(-1i64));
    }
}
