//! Metric streams: one instrument, as shaped by one view, for one reader.
//!
//! A synchronous stream maps attribute sets to series. The map sits behind a read-mostly
//! lock keyed by the set's precomputed, order-independent hash; every series' cell is
//! atomic (sums, last values) or behind its own small lock (explicit-bucket histograms: a
//! spin lock, see [`HistogramCell`]; exponential ones: a mutex), so concurrent measurements
//! on existing series share the read lock and never take an exclusive one. Only
//! a first sighting takes the write lock. Series that a bound handle holds stay in the map
//! for the handle's life. Cumulative streams add a per-thread cache of recent series in
//! front of the map (see [`CachedSeries`]).
//!
//! An asynchronous stream has no map between collections: each collection runs the
//! callbacks, which replace the round's observations.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};

use parking_lot::{Mutex, RwLock};
use telemetry_core::{KeyValue, StringValue, Timestamp, Value};

use crate::attributes::{AttributeSet, MAX_ORDERED, input_order, set_hash};
use crate::data::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, MetricData, Number, NumberDataPoint, Sum, Temporality,
};
use crate::exemplar::{Offer, Reservoir};
use crate::exponential::ExpoState;
use crate::histogram_cell::HistogramCell;
use crate::number::{AtomicNumber, Measurement};
use crate::view::AttributeFilter;

/// The attribute that marks the overflow series.
pub const OVERFLOW_ATTRIBUTE: &str = "otel.metric.overflow";

/// The default cardinality limit per stream.
pub const DEFAULT_CARDINALITY_LIMIT: usize = 2000;

/// A stream's aggregation, resolved from the view and the instrument kind.
#[derive(Clone, Debug)]
pub(crate) enum Aggregator {
    Sum {
        monotonic: bool,
    },
    LastValue,
    Histogram {
        bounds: Arc<[f64]>,
        min_max: bool,
        sum: bool,
    },
    Exponential {
        max_size: usize,
        max_scale: i32,
        min_max: bool,
        sum: bool,
    },
}

/// What identifies a stream in the output.
#[derive(Clone, Debug)]
pub(crate) struct StreamIdentity {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) unit: String,
}

/// Everything a stream is configured with.
#[derive(Clone, Debug)]
pub(crate) struct StreamSettings {
    pub(crate) identity: StreamIdentity,
    pub(crate) aggregator: Aggregator,
    pub(crate) temporality: Temporality,
    pub(crate) filter: Option<AttributeFilter>,
    pub(crate) limit: usize,
    pub(crate) exemplars: bool,
    /// Whether values are floats (decides how sums are decoded).
    pub(crate) float: bool,
}

#[derive(Debug)]
enum Cell {
    Sum(AtomicNumber),
    LastValue(AtomicNumber),
    Histogram(HistogramCell),
    Exponential(Mutex<ExpoState>),
}

/// One attribute set's aggregate.
#[derive(Debug)]
pub(crate) struct Series {
    attributes: AttributeSet,
    cell: Cell,
    /// Set by every measurement, cleared by a delta collection; tells which series have data
    /// for the interval. Relaxed: a measurement racing a collection lands in this interval or
    /// the next, and the flag at worst reports a zero point once.
    touched: AtomicBool,
    /// When the series was created: the start of its cumulative points.
    start: Timestamp,
    reservoir: Option<Mutex<Reservoir>>,
}

impl Series {
    fn new(attributes: AttributeSet, settings: &StreamSettings) -> Self {
        let (cell, reservoir) = match &settings.aggregator {
            Aggregator::Sum { .. } => (
                Cell::Sum(AtomicNumber::default()),
                Some(Reservoir::sampling()),
            ),
            Aggregator::LastValue => (
                Cell::LastValue(AtomicNumber::default()),
                Some(Reservoir::sampling()),
            ),
            Aggregator::Histogram { bounds, .. } => (
                Cell::Histogram(HistogramCell::new(bounds.len() + 1)),
                Some(Reservoir::aligned(bounds.len() + 1)),
            ),
            Aggregator::Exponential {
                max_size,
                max_scale,
                ..
            } => (
                Cell::Exponential(Mutex::new(ExpoState::new(*max_size, *max_scale))),
                Some(Reservoir::sampling()),
            ),
        };
        Series {
            attributes,
            cell,
            touched: AtomicBool::new(false),
            start: Timestamp::now(),
            reservoir: reservoir.filter(|_| settings.exemplars).map(Mutex::new),
        }
    }
}

/// A pass-through hasher: map keys are already hashes.
#[derive(Default)]
struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

type SeriesMap = HashMap<u64, Vec<Arc<Series>>, BuildHasherDefault<PrehashedHasher>>;

#[derive(Debug, Default)]
struct Table {
    map: SeriesMap,
    /// Series in `map`, compared against the limit.
    len: usize,
}

/// Source of [`SyncStream`] ids. Relaxed: only uniqueness matters.
static NEXT_STREAM_ID: AtomicU64 = AtomicU64::new(1);

/// Entries of each thread's cache of recently used series.
const RECENT_SLOTS: usize = 8;

/// A series this thread recorded into, keyed by the address of the attribute slice it was
/// given. Callers usually record with the same array (a constant, or one built at the same
/// stack slot in a loop), so the next call finds its series without hashing or locking; the
/// attributes are still compared, so a reused address with other contents just misses.
///
/// The comparison is cheap for what callers usually pass: static keys, static string values
/// and scalars. For those the entry keeps a [`Print`] per input position (the address and
/// length of a static string, or the scalar itself), and an attribute whose print matches is
/// equal without touching the series' stored copy. Anything else (an owned string, a
/// different static copy of the same text, bytes, arrays, maps) is compared by content
/// against the series' attribute at the position `order` gives.
///
/// Only cumulative streams use it: they never forget a series, so a cached one is never
/// orphaned. (Delta streams forget idle series, which a cache held by some idle thread would
/// otherwise pin.)
struct CachedSeries {
    stream: u64,
    input: usize,
    /// The input's length, which is also the series' (the input denotes the set).
    len: usize,
    /// The prints of the first [`PRINTED`] input attributes.
    prints: [AttributePrint; PRINTED],
    /// Where each input attribute sits in the series' sorted set, so a miss of the prints
    /// compares position by position.
    order: [u8; MAX_ORDERED],
    series: Arc<Series>,
}

/// Input positions with a [`Print`]; later positions are compared by content.
const PRINTED: usize = 8;

impl CachedSeries {
    /// True when `input` (at the entry's address) still denotes the entry's series.
    #[inline]
    fn matches(&self, input: &[KeyValue]) -> bool {
        if input.len() != self.len {
            return false;
        }
        // The common case, every attribute printed and its print matching, is a short loop
        // of compares with nothing to call; anything else goes out of line, so that its
        // calls do not cost this loop registers.
        let printed = input.len() <= PRINTED
            && input
                .iter()
                .zip(&self.prints)
                .all(|(attribute, print)| print.matches(attribute));
        printed || self.matches_by_content(input)
    }

    /// [`CachedSeries::matches`] for an input some of whose attributes have no matching
    /// print: those are compared by content with the series' copy.
    #[inline(never)]
    fn matches_by_content(&self, input: &[KeyValue]) -> bool {
        let stored = &self.series.attributes;
        input.iter().enumerate().all(|(position, attribute)| {
            self.prints
                .get(position)
                .is_some_and(|print| print.matches(attribute))
                || self
                    .order
                    .get(position)
                    .is_some_and(|&index| stored.matches_at(index, attribute))
        })
    }
}

/// What identifies an attribute without reading its strings: see [`CachedSeries`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct AttributePrint {
    key: KeyPrint,
    value: Print,
}

impl AttributePrint {
    fn of(attribute: &KeyValue) -> Self {
        AttributePrint {
            key: KeyPrint::of(&attribute.key),
            value: Print::of_value(&attribute.value),
        }
    }

    #[inline]
    fn matches(&self, attribute: &KeyValue) -> bool {
        self.key.matches(&attribute.key) && self.value.matches_value(&attribute.value)
    }
}

/// A key's [`Print`] without the tag: keys are strings, and a string that is not static gets
/// address 0, which no reference has, so it matches nothing. One compare fewer per attribute
/// than a [`Print`] on the cache's hit path.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct KeyPrint {
    address: usize,
    len: usize,
}

impl KeyPrint {
    fn of(s: &StringValue) -> Self {
        match Print::of_str(s) {
            Print::Static { address, len } => KeyPrint { address, len },
            _ => KeyPrint::default(),
        }
    }

    #[inline]
    fn matches(self, s: &StringValue) -> bool {
        s.is_static() && s.as_str().as_ptr().addr() == self.address && s.len() == self.len
    }
}

/// A value's identity when it is cheap to compare: a static string by address and length (a
/// `&'static str` never changes, so the same address and length is the same text), a scalar
/// by its bits. `None` matches nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
enum Print {
    #[default]
    None,
    Static {
        address: usize,
        len: usize,
    },
    I64(i64),
    F64(u64),
    Bool(bool),
}

impl Print {
    fn of_str(s: &StringValue) -> Self {
        if s.is_static() {
            Print::Static {
                address: s.as_str().as_ptr().addr(),
                len: s.len(),
            }
        } else {
            Print::None
        }
    }

    fn of_value(value: &Value) -> Self {
        match value {
            Value::String(s) => Print::of_str(s),
            Value::I64(v) => Print::I64(*v),
            Value::F64(v) => Print::F64(v.to_bits()),
            Value::Bool(v) => Print::Bool(*v),
            _ => Print::None,
        }
    }

    #[inline]
    fn matches_str(self, s: &StringValue) -> bool {
        match self {
            Print::Static { address, len } => {
                s.is_static() && s.len() == len && s.as_str().as_ptr().addr() == address
            }
            _ => false,
        }
    }

    /// Tests for the commonest prints one after the other, rather than dispatching through a
    /// jump table.
    #[inline]
    fn matches_value(self, value: &Value) -> bool {
        if let Print::Static { .. } = self {
            return matches!(value, Value::String(s) if self.matches_str(s));
        }
        if let Print::I64(a) = self {
            return matches!(value, Value::I64(b) if a == *b);
        }
        match value {
            Value::F64(v) => self == Print::F64(v.to_bits()),
            Value::Bool(v) => self == Print::Bool(*v),
            _ => false,
        }
    }
}

thread_local! {
    static RECENT: RefCell<[Option<CachedSeries>; RECENT_SLOTS]> =
        const { RefCell::new([const { None }; RECENT_SLOTS]) };
}

/// A synchronous instrument's stream.
#[derive(Debug)]
pub(crate) struct SyncStream {
    pub(crate) settings: StreamSettings,
    /// Unique for the process's life, unlike an address, so thread caches never mix streams.
    id: u64,
    /// Whether recording goes through the threads' caches of recent series: only for
    /// cumulative streams. A cached series cannot be forgotten, and a delta stream must be
    /// free to forget idle series however many threads once recorded into them.
    thread_cache: bool,
    /// `thread_cache` and no attribute filter: the caller's attributes go straight to the
    /// cache, a test the hit path makes once instead of two.
    cache_unfiltered: bool,
    table: RwLock<Table>,
    /// The series without attributes, outside the map: the commonest case skips hashing.
    empty: Arc<Series>,
    overflow: Arc<Series>,
    /// The previous collection's time: the start of delta points.
    last_collect: Mutex<Timestamp>,
    /// An explicit-bucket histogram's boundaries, laid out for [`Boundaries::bucket_of`].
    boundaries: Option<Boundaries>,
}

impl SyncStream {
    pub(crate) fn new(settings: StreamSettings) -> Self {
        let empty = Arc::new(Series::new(AttributeSet::empty(), &settings));
        let overflow = Arc::new(Series::new(
            AttributeSet::new(&[KeyValue::new(OVERFLOW_ATTRIBUTE, true)]),
            &settings,
        ));
        let thread_cache = settings.temporality == Temporality::Cumulative;
        SyncStream {
            thread_cache,
            cache_unfiltered: thread_cache && settings.filter.is_none(),
            boundaries: match &settings.aggregator {
                Aggregator::Histogram { bounds, .. } => Some(Boundaries::new(bounds)),
                _ => None,
            },
            settings,
            id: NEXT_STREAM_ID.fetch_add(1, Ordering::Relaxed),
            table: RwLock::new(Table::default()),
            empty,
            overflow,
            last_collect: Mutex::new(Timestamp::now()),
        }
    }

    /// Records a measurement whose value is valid for the instrument.
    #[inline]
    pub(crate) fn record(
        &self,
        value: Measurement,
        attributes: &[KeyValue],
        offer: Option<&Offer<'_>>,
    ) {
        if attributes.is_empty() {
            return self.record_into(&self.empty, value, offer);
        }
        self.record_attributes(value, attributes, offer);
    }

    /// [`SyncStream::record`] with a non-empty attribute slice.
    #[inline]
    fn record_attributes(
        &self,
        value: Measurement,
        attributes: &[KeyValue],
        offer: Option<&Offer<'_>>,
    ) {
        if self.cache_unfiltered {
            if !self.record_cached(value, attributes, offer) {
                self.record_looked_up(value, attributes, offer);
            }
            return;
        }
        if let Some(filter) = &self.settings.filter {
            return self.record_filtered(filter, value, attributes, offer);
        }
        self.record_looked_up(value, attributes, offer);
    }

    /// Records into the series of the attributes a view keeps.
    #[inline(never)]
    fn record_filtered(
        &self,
        filter: &AttributeFilter,
        value: Measurement,
        attributes: &[KeyValue],
        offer: Option<&Offer<'_>>,
    ) {
        let kept: Vec<KeyValue> = attributes
            .iter()
            .filter(|a| filter.keeps(a))
            .cloned()
            .collect();
        if kept.is_empty() {
            return self.record_into(&self.empty, value, offer);
        }
        // `kept` is a new allocation on every call, but the allocator often hands out the
        // same address again, and the cache compares contents anyway.
        if self.thread_cache && self.record_cached(value, &kept, offer) {
            return;
        }
        self.record_looked_up(value, &kept, offer);
    }

    /// Records through this thread's cache of recent series; false when the cache has no
    /// entry for `attributes`.
    #[inline]
    fn record_cached(
        &self,
        value: Measurement,
        attributes: &[KeyValue],
        offer: Option<&Offer<'_>>,
    ) -> bool {
        let input = attributes.as_ptr().addr();
        let slot = cache_slot(input, self.id);
        RECENT
            .try_with(|recent| {
                // Fails only for a nested call from inside this one (none today) or during
                // the thread's teardown: both just miss.
                let Ok(recent) = recent.try_borrow() else {
                    return false;
                };
                match &recent[slot] {
                    Some(cached)
                        if cached.stream == self.id
                            && cached.input == input
                            && cached.matches(attributes) =>
                    {
                        self.record_into(&cached.series, value, offer);
                        true
                    }
                    _ => false,
                }
            })
            .unwrap_or(false)
    }

    /// Finds (or creates) the series of `attributes` in the map, records into it, and, in a
    /// cumulative stream, remembers it in this thread's cache.
    #[inline(never)]
    fn record_looked_up(
        &self,
        value: Measurement,
        attributes: &[KeyValue],
        offer: Option<&Offer<'_>>,
    ) {
        let hash = set_hash(attributes);
        let found = {
            let table = self.table.read();
            let found = table.map.get(&hash).and_then(|bucket| {
                bucket
                    .iter()
                    .find(|s| s.attributes.matches_unsorted(attributes))
            });
            if let Some(series) = found {
                self.record_into(series, value, offer);
            }
            found.cloned()
        };
        let series = match found {
            Some(series) => series,
            None => {
                let series = self.series_for(AttributeSet::new(attributes));
                self.record_into(&series, value, offer);
                if Arc::ptr_eq(&series, &self.overflow) {
                    // Not cached: a set that overflowed now may get a series of its own
                    // once a delta stream forgets others, and the overflow series is cheap
                    // to reach anyway.
                    return;
                }
                series
            }
        };
        if !self.thread_cache {
            return;
        }
        let Some(order) = input_order(&series.attributes, attributes) else {
            return;
        };
        let mut prints = [AttributePrint::default(); PRINTED];
        for (print, attribute) in prints.iter_mut().zip(attributes) {
            *print = AttributePrint::of(attribute);
        }
        let input = attributes.as_ptr().addr();
        let entry = CachedSeries {
            stream: self.id,
            input,
            len: attributes.len(),
            prints,
            order,
            series,
        };
        let slot = cache_slot(input, self.id);
        // A thread being torn down, or a nested call, simply skips the cache.
        let _ = RECENT.try_with(|recent| {
            if let Ok(mut recent) = recent.try_borrow_mut() {
                recent[slot] = Some(entry);
            }
        });
    }

    /// The series of a normalized set, created if there is room, else the overflow series.
    fn series_for(&self, set: AttributeSet) -> Arc<Series> {
        if set.as_slice().is_empty() {
            return Arc::clone(&self.empty);
        }
        let find = |table: &Table| {
            table
                .map
                .get(&set.hash())
                .and_then(|bucket| bucket.iter().find(|s| s.attributes.same_as(&set)))
                .cloned()
        };
        if let Some(series) = find(&self.table.read()) {
            return series;
        }
        let mut table = self.table.write();
        if let Some(series) = find(&table) {
            return series;
        }
        if table.len >= self.settings.limit {
            return Arc::clone(&self.overflow);
        }
        let series = Arc::new(Series::new(set, &self.settings));
        table.len += 1;
        table
            .map
            .entry(series.attributes.hash())
            .or_default()
            .push(Arc::clone(&series));
        series
    }

    /// The series a bound handle keeps.
    pub(crate) fn bind(&self, attributes: &[KeyValue]) -> Arc<Series> {
        let kept: Vec<KeyValue> = match &self.settings.filter {
            Some(filter) => attributes
                .iter()
                .filter(|a| filter.keeps(a))
                .cloned()
                .collect(),
            None => attributes.to_vec(),
        };
        self.series_for(AttributeSet::new(&kept))
    }

    /// Records into `series`, which belongs to this stream. The sum and last-value cells are
    /// updated inline; distributions and exemplars go out of line, so the counter paths stay
    /// small enough to inline into the caller.
    #[inline]
    pub(crate) fn record_into(
        &self,
        series: &Series,
        value: Measurement,
        offer: Option<&Offer<'_>>,
    ) {
        // Tests rather than a jump table: sums are the commonest cell by far.
        let bucket = if let Cell::Sum(sum) = &series.cell {
            sum.add_measurement(value);
            0
        } else {
            self.record_other(series, value)
        };
        if !series.touched.load(Ordering::Relaxed) {
            series.touched.store(true, Ordering::Relaxed);
        }
        if let (Some(reservoir), Some(offer)) = (&series.reservoir, offer) {
            self.offer_exemplar(reservoir, offer, bucket);
        }
    }

    /// Records into a cell other than a sum; returns the bucket for an aligned reservoir.
    #[inline]
    fn record_other(&self, series: &Series, value: Measurement) -> usize {
        match &series.cell {
            Cell::Sum(sum) => {
                sum.add_measurement(value);
                0
            }
            Cell::LastValue(last) => {
                last.store(value);
                0
            }
            Cell::Histogram(state) => self.record_histogram(state, value.as_f64()),
            Cell::Exponential(state) => {
                record_exponential(state, value.as_f64());
                0
            }
        }
    }

    /// Adds `v` to an explicit-bucket histogram; returns its bucket.
    #[inline(never)]
    fn record_histogram(&self, cell: &HistogramCell, v: f64) -> usize {
        let Some(boundaries) = &self.boundaries else {
            return 0;
        };
        let bucket = boundaries.bucket_of(v);
        cell.record(bucket, v);
        bucket
    }

    #[inline(never)]
    fn offer_exemplar(&self, reservoir: &Mutex<Reservoir>, offer: &Offer<'_>, bucket: usize) {
        reservoir
            .lock()
            .offer(offer, bucket, self.settings.filter.as_ref());
    }

    /// Builds this collection's metric; `None` when the stream has nothing to report.
    pub(crate) fn collect(&self, now: Timestamp) -> Option<Metric> {
        let delta = self.settings.temporality == Temporality::Delta;
        let interval_start = std::mem::replace(&mut *self.last_collect.lock(), now);
        let mut points = PointsBuilder::new(&self.settings, now);
        let mut visit = |series: &Arc<Series>| {
            let touched = if delta {
                series.touched.swap(false, Ordering::Relaxed)
            } else {
                series.touched.load(Ordering::Relaxed)
            };
            if touched {
                let start = if delta { interval_start } else { series.start };
                points.push(series, start, delta);
            }
            touched
        };
        visit(&self.empty);
        if delta {
            // Delta drops series idle for a whole interval, unless a bound handle holds them,
            // so memory follows the active attribute sets. The write lock makes the strong
            // count exact: no recording thread can be inside a series it looked up.
            let mut table = self.table.write();
            let mut removed = 0;
            table.map.retain(|_, bucket| {
                bucket.retain(|series| {
                    // The count first, then the flag. A thread that created the series records
                    // into it outside the lock, holding an `Arc`, and drops that `Arc` after
                    // setting `touched`: read in the other order, the flag could be read
                    // before that thread set it and the count after it dropped its `Arc`,
                    // and the series would be removed with its measurement (seen as lost
                    // counts under a concurrent delta collection). Read count-first, a count
                    // of 1 means that thread is done, and the fence (pairing with the release
                    // decrement of its `Arc`) makes its `touched` visible to `visit`.
                    let held = Arc::strong_count(series) > 1;
                    fence(Ordering::Acquire);
                    let keep = visit(series) || held;
                    removed += usize::from(!keep);
                    keep
                });
                !bucket.is_empty()
            });
            table.len -= removed;
        } else {
            let table = self.table.read();
            table.map.values().flatten().for_each(|series| {
                visit(series);
            });
        }
        visit(&self.overflow);
        points.finish()
    }
}

/// Collects points of one kind while visiting series.
struct PointsBuilder<'a> {
    settings: &'a StreamSettings,
    now: Timestamp,
    numbers: Vec<NumberDataPoint>,
    histograms: Vec<HistogramDataPoint>,
    exponentials: Vec<ExponentialHistogramDataPoint>,
}

impl<'a> PointsBuilder<'a> {
    fn new(settings: &'a StreamSettings, now: Timestamp) -> Self {
        PointsBuilder {
            settings,
            now,
            numbers: Vec::new(),
            histograms: Vec::new(),
            exponentials: Vec::new(),
        }
    }

    fn push(&mut self, series: &Series, start_time: Timestamp, reset: bool) {
        let exemplars = series
            .reservoir
            .as_ref()
            .map(|r| r.lock().drain())
            .unwrap_or_default();
        let attributes = series.attributes.as_slice().to_vec();
        let time = self.now;
        match (&series.cell, &self.settings.aggregator) {
            (Cell::Sum(sum), _) => {
                let value = if reset {
                    sum.take(self.settings.float)
                } else {
                    sum.load(self.settings.float)
                };
                self.numbers.push(NumberDataPoint {
                    attributes,
                    start_time,
                    time,
                    value,
                    exemplars,
                });
            }
            (Cell::LastValue(last), _) => self.numbers.push(NumberDataPoint {
                attributes,
                start_time,
                time,
                value: last.load(self.settings.float),
                exemplars,
            }),
            (
                Cell::Histogram(cell),
                Aggregator::Histogram {
                    bounds,
                    min_max,
                    sum,
                },
            ) => {
                let snapshot = cell.snapshot(reset);
                let has_values = snapshot.count > 0;
                self.histograms.push(HistogramDataPoint {
                    attributes,
                    start_time,
                    time,
                    count: snapshot.count,
                    sum: sum.then_some(snapshot.sum),
                    min: (*min_max && has_values).then_some(snapshot.min),
                    max: (*min_max && has_values).then_some(snapshot.max),
                    bounds: bounds.to_vec(),
                    bucket_counts: snapshot.counts,
                    exemplars,
                });
            }
            (Cell::Exponential(state), Aggregator::Exponential { min_max, sum, .. }) => {
                let mut state = state.lock();
                let has_values = state.count > 0;
                self.exponentials.push(ExponentialHistogramDataPoint {
                    attributes,
                    start_time,
                    time,
                    count: state.count,
                    sum: sum.then_some(state.sum),
                    min: (*min_max && has_values).then_some(state.min),
                    max: (*min_max && has_values).then_some(state.max),
                    scale: state.scale,
                    zero_count: state.zero_count,
                    zero_threshold: 0.0,
                    positive: state.positive(),
                    negative: state.negative(),
                    exemplars,
                });
                if reset {
                    state.reset();
                }
            }
            // A cell always matches its stream's aggregator; nothing to report otherwise.
            _ => {}
        }
    }

    fn finish(self) -> Option<Metric> {
        let temporality = self.settings.temporality;
        let data = match &self.settings.aggregator {
            Aggregator::Sum { monotonic } => {
                if self.numbers.is_empty() {
                    return None;
                }
                MetricData::Sum(Sum {
                    points: self.numbers,
                    temporality,
                    is_monotonic: *monotonic,
                })
            }
            Aggregator::LastValue => {
                if self.numbers.is_empty() {
                    return None;
                }
                MetricData::Gauge(Gauge {
                    points: self.numbers,
                })
            }
            Aggregator::Histogram { .. } => {
                if self.histograms.is_empty() {
                    return None;
                }
                MetricData::Histogram(Histogram {
                    points: self.histograms,
                    temporality,
                })
            }
            Aggregator::Exponential { .. } => {
                if self.exponentials.is_empty() {
                    return None;
                }
                MetricData::ExponentialHistogram(ExponentialHistogram {
                    points: self.exponentials,
                    temporality,
                })
            }
        };
        let identity = &self.settings.identity;
        Some(Metric {
            name: identity.name.clone(),
            description: identity.description.clone(),
            unit: identity.unit.clone(),
            data,
        })
    }
}

/// Observed values by attribute set, with a hash index so that thousands of observed sets
/// stay linear to collect.
#[derive(Debug, Default)]
struct Observations {
    index: HashMap<u64, Vec<usize>, BuildHasherDefault<PrehashedHasher>>,
    entries: Vec<(AttributeSet, Number)>,
}

impl Observations {
    fn position(&self, set: &AttributeSet) -> Option<usize> {
        self.index
            .get(&set.hash())?
            .iter()
            .copied()
            .find(|&i| self.entries[i].0.same_as(set))
    }

    fn get(&self, set: &AttributeSet) -> Option<Number> {
        self.position(set).map(|i| self.entries[i].1)
    }

    /// Combines `value` into the set's entry, or adds the entry.
    fn merge(
        &mut self,
        set: AttributeSet,
        value: Number,
        combine: impl Fn(Number, Number) -> Number,
    ) {
        match self.position(&set) {
            Some(i) => self.entries[i].1 = combine(self.entries[i].1, value),
            None => {
                self.index
                    .entry(set.hash())
                    .or_default()
                    .push(self.entries.len());
                self.entries.push((set, value));
            }
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// An asynchronous instrument's stream: sums or last values reported by callbacks.
#[derive(Debug)]
pub(crate) struct AsyncStream {
    pub(crate) settings: StreamSettings,
    /// This round's observations.
    round: Mutex<Observations>,
    /// For delta sums: the previous round's cumulative values, to subtract.
    previous: Mutex<Observations>,
    created: Timestamp,
    last_collect: Mutex<Timestamp>,
}

impl AsyncStream {
    pub(crate) fn new(settings: StreamSettings) -> Self {
        let now = Timestamp::now();
        AsyncStream {
            settings,
            round: Mutex::new(Observations::default()),
            previous: Mutex::new(Observations::default()),
            created: now,
            last_collect: Mutex::new(now),
        }
    }

    /// Records one callback observation.
    pub(crate) fn observe(&self, value: Number, attributes: &[KeyValue]) {
        let set = match &self.settings.filter {
            Some(filter) => {
                let kept: Vec<KeyValue> = attributes
                    .iter()
                    .filter(|a| filter.keeps(a))
                    .cloned()
                    .collect();
                AttributeSet::new(&kept)
            }
            None => AttributeSet::new(attributes),
        };
        // With a view that drops attributes, several observed sets fold into one: sums add
        // up, gauges keep the last. A set observed twice in a round keeps the last value.
        let folding = self.settings.filter.is_some();
        let sum = matches!(self.settings.aggregator, Aggregator::Sum { .. });
        let combine =
            move |old: Number, new: Number| if sum && folding { add(old, new) } else { new };
        let mut round = self.round.lock();
        if round.len() >= self.settings.limit && round.position(&set).is_none() {
            // Past the limit the first-observed sets keep their series.
            let overflow = AttributeSet::new(&[KeyValue::new(OVERFLOW_ATTRIBUTE, true)]);
            round.merge(
                overflow,
                value,
                move |old, new| if sum { add(old, new) } else { new },
            );
            return;
        }
        round.merge(set, value, combine);
    }

    /// Builds this round's metric from what the callbacks observed.
    pub(crate) fn collect(&self, now: Timestamp) -> Option<Metric> {
        let round = std::mem::take(&mut *self.round.lock());
        let interval_start = std::mem::replace(&mut *self.last_collect.lock(), now);
        let delta = self.settings.temporality == Temporality::Delta;
        let mut previous = self.previous.lock();
        let start_time = if delta { interval_start } else { self.created };
        let points: Vec<NumberDataPoint> = round
            .entries
            .iter()
            .map(|(set, value)| {
                let value = match self.settings.aggregator {
                    Aggregator::Sum { .. } if delta => previous
                        .get(set)
                        .map_or(*value, |before| subtract(*value, before)),
                    _ => *value,
                };
                NumberDataPoint {
                    attributes: set.as_slice().to_vec(),
                    start_time,
                    time: now,
                    value,
                    exemplars: Vec::new(),
                }
            })
            .collect();
        if delta {
            *previous = round;
        }
        if points.is_empty() {
            return None;
        }
        let data = match self.settings.aggregator {
            Aggregator::Sum { monotonic } => MetricData::Sum(Sum {
                points,
                temporality: self.settings.temporality,
                is_monotonic: monotonic,
            }),
            _ => MetricData::Gauge(Gauge { points }),
        };
        let identity = &self.settings.identity;
        Some(Metric {
            name: identity.name.clone(),
            description: identity.description.clone(),
            unit: identity.unit.clone(),
            data,
        })
    }
}

/// The slot of the thread cache for an input address in a stream.
#[inline]
fn cache_slot(input: usize, stream: u64) -> usize {
    // Attribute arrays are at least 8-byte aligned and usually further apart, so the low
    // bits carry nothing; the stream id spreads the arrays a call site shares across
    // instruments.
    ((input >> 4) ^ stream as usize) % RECENT_SLOTS
}

/// Explicit bucket boundaries, laid out for finding a value's bucket.
#[derive(Debug)]
enum Boundaries {
    /// Up to [`PADDED`] boundaries, the rest `+inf`: the bucket is the count of boundaries
    /// below the value, a fixed run of independent comparisons that compiles to a few vector
    /// instructions, where a binary search is a chain of dependent loads and branches.
    Padded(Box<[f64; PADDED]>),
    /// More boundaries: a binary search.
    Sorted(Arc<[f64]>),
}

/// The most boundaries [`Boundaries::Padded`] holds; the default list has 15.
const PADDED: usize = 16;

impl Boundaries {
    fn new(bounds: &Arc<[f64]>) -> Self {
        if bounds.len() > PADDED {
            return Boundaries::Sorted(Arc::clone(bounds));
        }
        let mut padded = Box::new([f64::INFINITY; PADDED]);
        padded[..bounds.len()].copy_from_slice(bounds);
        Boundaries::Padded(padded)
    }

    /// The bucket of `v` (finite: invalid values never get here): upper-inclusive, so the
    /// index of the first boundary >= `v`. A padding `+inf` is never below a finite value.
    #[inline]
    fn bucket_of(&self, v: f64) -> usize {
        match self {
            Boundaries::Padded(bounds) => bounds.iter().map(|&b| usize::from(b < v)).sum(),
            Boundaries::Sorted(bounds) => bounds.partition_point(|&b| b < v),
        }
    }
}

/// Adds `v` to a base-2 exponential histogram.
#[inline(never)]
fn record_exponential(state: &Mutex<ExpoState>, v: f64) {
    state.lock().record(v);
}

fn add(a: Number, b: Number) -> Number {
    match (a, b) {
        (Number::I64(a), Number::I64(b)) => Number::I64(a.wrapping_add(b)),
        (a, b) => Number::F64(a.as_f64() + b.as_f64()),
    }
}

fn subtract(a: Number, b: Number) -> Number {
    match (a, b) {
        (Number::I64(a), Number::I64(b)) => Number::I64(a.wrapping_sub(b)),
        (a, b) => Number::F64(a.as_f64() - b.as_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::DEFAULT_HISTOGRAM_BOUNDARIES;

    fn settings(aggregator: Aggregator, temporality: Temporality) -> StreamSettings {
        StreamSettings {
            identity: StreamIdentity {
                name: "s".to_owned(),
                description: String::new(),
                unit: String::new(),
            },
            aggregator,
            temporality,
            filter: None,
            limit: DEFAULT_CARDINALITY_LIMIT,
            exemplars: false,
            float: true,
        }
    }

    fn histogram_counts(metric: &Metric) -> Vec<u64> {
        match &metric.data {
            MetricData::Histogram(h) => h.points[0].bucket_counts.clone(),
            other => panic!("not a histogram: {other:?}"),
        }
    }

    #[test]
    fn bucket_edges_are_upper_inclusive() {
        // (value, bucket index) with the default boundaries.
        let table = [
            (-1.0, 0),
            (0.0, 0),
            (1e-9, 1),
            (5.0, 1),
            (5.000_000_1, 2),
            (10.0, 2),
            (10_000.0, 14),
            (10_001.0, 15),
            (f64::MAX, 15),
        ];
        let bounds: Arc<[f64]> = DEFAULT_HISTOGRAM_BOUNDARIES.into();
        for (value, bucket) in table {
            let stream = SyncStream::new(settings(
                Aggregator::Histogram {
                    bounds: Arc::clone(&bounds),
                    min_max: true,
                    sum: true,
                },
                Temporality::Cumulative,
            ));
            stream.record(Measurement::of(Number::F64(value)), &[], None);
            let metric = stream.collect(Timestamp::now()).expect("a point");
            let counts = histogram_counts(&metric);
            assert_eq!(counts.len(), 16);
            let mut expected = vec![0; 16];
            expected[bucket] = 1;
            assert_eq!(counts, expected, "value {value}");
        }
    }

    #[test]
    fn a_reused_attribute_array_never_hits_a_stale_series() {
        let mut config = settings(Aggregator::Sum { monotonic: true }, Temporality::Cumulative);
        config.float = false;
        let stream = SyncStream::new(config);
        // One array, one address, changing contents: the thread cache keys on the address
        // and must compare the contents.
        let mut attributes = [KeyValue::new("k", 0i64), KeyValue::new("a", "x")];
        for i in 0..100i64 {
            attributes[0] = KeyValue::new("k", i % 3);
            if i % 10 == 0 {
                attributes.swap(0, 1);
                stream.record(Measurement::of(Number::I64(1)), &attributes, None);
                attributes.swap(0, 1);
            } else {
                stream.record(Measurement::of(Number::I64(1)), &attributes, None);
            }
        }
        let metric = stream.collect(Timestamp::now()).expect("points");
        let MetricData::Sum(sum) = metric.data else {
            panic!("not a sum");
        };
        let mut counts: Vec<(i64, i64)> = sum
            .points
            .iter()
            .map(|p| {
                let k = p.attributes[1].value.as_i64().unwrap_or(-1);
                let Number::I64(count) = p.value else {
                    return (k, -1);
                };
                (k, count)
            })
            .collect();
        counts.sort_unstable();
        assert_eq!(counts, vec![(0, 34), (1, 33), (2, 33)]);
    }

    #[test]
    fn prints_match_only_what_they_can_vouch_for() {
        const TEXT: &str = "value";
        let other_copy: &'static str = Box::leak(String::from(TEXT).into_boxed_str());
        let print = AttributePrint::of(&KeyValue::new("key", TEXT));
        assert!(print.matches(&KeyValue::new("key", TEXT)));
        // The same text elsewhere, or owned: equal, but the print cannot tell; the cache
        // then compares contents.
        assert!(!print.matches(&KeyValue::new("key", other_copy)));
        assert!(!print.matches(&KeyValue::new("key", String::from(TEXT))));
        assert!(!print.matches(&KeyValue::new("key", "other")));
        assert!(!print.matches(&KeyValue::new("kez", TEXT)));
        let owned = AttributePrint::of(&KeyValue::new(String::from("key"), String::from(TEXT)));
        assert_eq!(owned, AttributePrint::default());
        assert!(!owned.matches(&KeyValue::new(String::from("key"), String::from(TEXT))));
        // Every kind of print against every kind of value: only its own matches.
        let values = [
            KeyValue::new("k", 1i64),
            KeyValue::new("k", f64::from_bits(1)),
            KeyValue::new("k", true),
            KeyValue::new("k", f64::NAN),
            KeyValue::new("k", "1"),
            KeyValue::new("k", ""),
        ];
        for (i, a) in values.iter().enumerate() {
            for (j, b) in values.iter().enumerate() {
                assert_eq!(AttributePrint::of(a).matches(b), i == j, "{a:?} {b:?}");
            }
        }
        // A key that is not static has no print, even an empty one (whose address may be
        // dangling like an empty static string's).
        let empty_static = AttributePrint::of(&KeyValue::new("", 1i64));
        assert!(empty_static.matches(&KeyValue::new("", 1i64)));
        assert!(!empty_static.matches(&KeyValue::new(String::new(), 1i64)));
        let empty_owned = AttributePrint::of(&KeyValue::new(String::new(), 1i64));
        assert!(!empty_owned.matches(&KeyValue::new(String::new(), 1i64)));
        assert!(!empty_owned.matches(&KeyValue::new("", 1i64)));
        let bytes = KeyValue::new("k", Value::Bytes(vec![1]));
        assert!(!AttributePrint::of(&bytes).matches(&bytes));
    }

    proptest::proptest! {
        #[test]
        fn linear_and_binary_bucket_search_agree(
            bounds in proptest::collection::vec(-1e6f64..1e6, 0..40),
            value in -2e6f64..2e6,
        ) {
            let mut bounds = bounds;
            bounds.sort_by(f64::total_cmp);
            bounds.dedup();
            let binary = |v: f64| bounds.partition_point(|&b| b < v);
            let laid_out = Boundaries::new(&bounds.clone().into());
            proptest::prop_assert_eq!(
                matches!(laid_out, Boundaries::Padded(_)),
                bounds.len() <= PADDED
            );
            proptest::prop_assert_eq!(laid_out.bucket_of(value), binary(value));
            for &edge in &bounds {
                proptest::prop_assert_eq!(laid_out.bucket_of(edge), binary(edge));
                proptest::prop_assert_eq!(laid_out.bucket_of(edge.next_up()), binary(edge.next_up()));
            }
        }
    }

    #[test]
    fn empty_attributes_and_overflow_are_separate_series() {
        let mut config = settings(Aggregator::Sum { monotonic: true }, Temporality::Cumulative);
        config.limit = 2;
        config.float = false;
        let stream = SyncStream::new(config);
        for i in 0..5i64 {
            stream.record(
                Measurement::of(Number::I64(1)),
                &[KeyValue::new("i", i)],
                None,
            );
        }
        stream.record(Measurement::of(Number::I64(10)), &[], None);
        let metric = stream.collect(Timestamp::now()).expect("points");
        let MetricData::Sum(sum) = metric.data else {
            panic!("not a sum");
        };
        let values: Vec<(Vec<KeyValue>, Number)> = sum
            .points
            .into_iter()
            .map(|p| (p.attributes, p.value))
            .collect();
        assert_eq!(values.len(), 4);
        assert!(values.contains(&(vec![], Number::I64(10))));
        assert!(values.contains(&(
            vec![KeyValue::new(OVERFLOW_ATTRIBUTE, true)],
            Number::I64(3)
        )));
    }
}
