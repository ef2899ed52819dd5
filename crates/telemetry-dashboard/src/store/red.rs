//! Live RED figures (rate, errors, duration) over a sliding window, kept on ingest.
//!
//! The window is [`WINDOW_SLOTS`] slots of [`SLOT_NANOS`] (one minute). A span lands in the
//! slot of its end time; spans that ended before the window or more than one slot in the
//! future (clock skew) are not counted, and those less than a slot ahead count as now. Each slot keeps a count, an error count and an
//! `hdrhistogram` of durations in microseconds with two significant figures (1 % precision),
//! created only when a span lands in it and growing only to the largest duration recorded.
//! A query merges the slots still inside the window. What the windows hold counts against
//! the traces' share of the store's memory budget ([`Red::bytes`]).

use std::collections::HashMap;
use std::mem::size_of;

use hdrhistogram::Histogram;
use serde_json::{Value as Json, json};
use telemetry_core::StringValue;

/// One slot of the sliding windows, in nanoseconds.
pub(crate) const SLOT_NANOS: u64 = 10_000_000_000;
/// Slots per window: 6 × 10 s = one minute. Few slots keep the histograms' memory small (at
/// most about 10 KiB per slot and key, for durations up to a minute).
pub(crate) const WINDOW_SLOTS: u64 = 6;

/// A span's contribution to the RED figures, computed before any lock is taken.
#[derive(Debug)]
pub(crate) struct RedSample {
    /// The span's service.
    pub(crate) service: StringValue,
    /// The span's name when it is a trace root (no parent): also counted per operation.
    pub(crate) root_operation: Option<StringValue>,
    /// End time, unix nanoseconds.
    pub(crate) end: u64,
    /// Duration in microseconds.
    pub(crate) micros: u64,
    /// Whether the span's status is an error.
    pub(crate) error: bool,
}

#[derive(Debug, Default)]
struct Slot {
    index: u64,
    count: u64,
    errors: u64,
    latency: Option<Histogram<u32>>,
}

/// Counts and durations of one service or operation over the window.
#[derive(Debug, Default)]
struct Window {
    slots: Vec<Slot>,
}

impl Window {
    fn record(&mut self, slot_index: u64, micros: u64, error: bool) {
        if self.slots.is_empty() {
            self.slots.resize_with(WINDOW_SLOTS as usize, Slot::default);
        }
        let slot = &mut self.slots[(slot_index % WINDOW_SLOTS) as usize];
        if slot.index != slot_index {
            slot.index = slot_index;
            slot.count = 0;
            slot.errors = 0;
            if let Some(latency) = &mut slot.latency {
                latency.reset();
            }
        }
        slot.count += 1;
        slot.errors += u64::from(error);
        if slot.latency.is_none() {
            // Only fails for significant figures outside 0..=5, never with 2.
            slot.latency = Histogram::new(2).ok();
        }
        if let Some(latency) = &mut slot.latency {
            // Auto-resizing histograms only fail on values beyond their u64 range.
            let _ = latency.record(micros.max(1));
        }
    }

    fn figures(&self, now_slot: u64) -> Figures {
        let mut figures = Figures::default();
        let mut merged: Option<Histogram<u32>> = None;
        for slot in &self.slots {
            if slot.count == 0 || !in_window(slot.index, now_slot) {
                continue;
            }
            figures.count += slot.count;
            figures.errors += slot.errors;
            if let Some(latency) = &slot.latency {
                match &mut merged {
                    Some(merged) => {
                        let _ = merged.add(latency);
                    }
                    None => merged = Some(latency.clone()),
                }
            }
        }
        if let Some(merged) = merged {
            figures.p50_micros = merged.value_at_quantile(0.50);
            figures.p95_micros = merged.value_at_quantile(0.95);
            figures.p99_micros = merged.value_at_quantile(0.99);
        }
        figures
    }
}

fn in_window(index: u64, now_slot: u64) -> bool {
    index + WINDOW_SLOTS > now_slot && index <= now_slot
}

/// RED figures of one key over the window.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Figures {
    /// Spans counted.
    pub(crate) count: u64,
    /// Of which errors.
    pub(crate) errors: u64,
    /// Median duration, microseconds.
    pub(crate) p50_micros: u64,
    /// 95th percentile duration, microseconds.
    pub(crate) p95_micros: u64,
    /// 99th percentile duration, microseconds.
    pub(crate) p99_micros: u64,
}

impl Figures {
    /// As JSON: rate per second over the window, error ratio, percentiles in milliseconds.
    pub(crate) fn to_json(self) -> Json {
        let window_secs = (WINDOW_SLOTS * SLOT_NANOS) as f64 / 1e9;
        let ratio = if self.count == 0 {
            0.0
        } else {
            self.errors as f64 / self.count as f64
        };
        json!({
            "count": self.count,
            "errors": self.errors,
            "ratePerSec": self.count as f64 / window_secs,
            "errorRatio": ratio,
            "p50Ms": self.p50_micros as f64 / 1e3,
            "p95Ms": self.p95_micros as f64 / 1e3,
            "p99Ms": self.p99_micros as f64 / 1e3,
        })
    }
}

/// RED windows per service and per (service, root operation), with caps on the keys: at
/// most `max_keys`, and no new key once the windows hold `max_bytes` (so that on a small
/// budget the figures cannot crowd out the spans they are derived from).
#[derive(Debug)]
pub(crate) struct Red {
    services: HashMap<StringValue, Window>,
    operations: HashMap<(StringValue, StringValue), Window>,
    max_keys: usize,
    max_bytes: usize,
    /// [`Red::bytes`] as of the end of the last `record`.
    bytes: usize,
    /// Samples not counted because a key cap was reached.
    pub(crate) dropped_keys: u64,
}

impl Red {
    pub(crate) fn new(max_keys: usize, max_bytes: usize) -> Red {
        Red {
            services: HashMap::new(),
            operations: HashMap::new(),
            max_keys,
            max_bytes,
            bytes: 0,
            dropped_keys: 0,
        }
    }

    fn has_room(&self) -> bool {
        self.services.len() + self.operations.len() < self.max_keys && self.bytes < self.max_bytes
    }

    /// Adds samples; `now` is the current unix time in nanoseconds.
    pub(crate) fn record(&mut self, samples: &[RedSample], now: u64) {
        let now_slot = now / SLOT_NANOS;
        for sample in samples {
            let slot = sample.end / SLOT_NANOS;
            // Up to one slot of clock skew counts as now; later is not counted.
            if slot > now_slot + 1 {
                continue;
            }
            let slot = slot.min(now_slot);
            if !in_window(slot, now_slot) {
                continue;
            }
            let room = self.has_room();
            match self.services.get_mut(&sample.service) {
                Some(window) => window.record(slot, sample.micros, sample.error),
                None if room => self
                    .services
                    .entry(sample.service.clone())
                    .or_default()
                    .record(slot, sample.micros, sample.error),
                None => self.dropped_keys += 1,
            }
            if let Some(operation) = &sample.root_operation {
                let key = (sample.service.clone(), operation.clone());
                let room = self.has_room();
                match self.operations.get_mut(&key) {
                    Some(window) => window.record(slot, sample.micros, sample.error),
                    None if room => self.operations.entry(key).or_default().record(
                        slot,
                        sample.micros,
                        sample.error,
                    ),
                    None => self.dropped_keys += 1,
                }
            }
        }
        self.bytes = self.measure();
    }

    /// Bytes the windows hold: their slots, the latency histograms' counts, and the keys.
    /// This is charged to the traces' share of the memory budget, so the figures derived
    /// from spans live within the same budget as the spans.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// [`Red::bytes`], counted afresh: a walk over at most `max_keys` windows of six slots.
    fn measure(&self) -> usize {
        fn window(window: &Window) -> usize {
            let histograms: usize = window
                .slots
                .iter()
                .filter_map(|slot| slot.latency.as_ref())
                .map(|latency| {
                    size_of::<Histogram<u32>>() + latency.distinct_values() * size_of::<u32>()
                })
                .sum();
            size_of::<Window>() + window.slots.capacity() * size_of::<Slot>() + histograms
        }
        let services: usize = self
            .services
            .iter()
            .map(|(key, w)| size_of::<StringValue>() + super::size::string(key) + window(w))
            .sum();
        let operations: usize = self
            .operations
            .iter()
            .map(|((service, operation), w)| {
                2 * size_of::<StringValue>()
                    + super::size::string(service)
                    + super::size::string(operation)
                    + window(w)
            })
            .sum();
        services + operations
    }

    /// Figures of one service.
    pub(crate) fn service(&self, service: &str, now: u64) -> Figures {
        self.services
            .get(service)
            .map(|window| window.figures(now / SLOT_NANOS))
            .unwrap_or_default()
    }

    /// Service names with a window.
    pub(crate) fn service_names(&self) -> impl Iterator<Item = &StringValue> {
        self.services.keys()
    }

    /// The whole snapshot as JSON: per service, each with its root operations.
    pub(crate) fn to_json(&self, now: u64) -> Json {
        let now_slot = now / SLOT_NANOS;
        let mut services: Vec<_> = self.services.iter().collect();
        services.sort_by(|a, b| a.0.cmp(b.0));
        let list: Vec<Json> = services
            .into_iter()
            .map(|(service, window)| {
                let mut operations: Vec<_> = self
                    .operations
                    .iter()
                    .filter(|((s, _), _)| s == service)
                    .map(|((_, operation), window)| {
                        let mut figures = window.figures(now_slot).to_json();
                        figures["operation"] = json!(operation.as_str());
                        figures
                    })
                    .collect();
                operations.sort_by(|a, b| a["operation"].as_str().cmp(&b["operation"].as_str()));
                let mut figures = window.figures(now_slot).to_json();
                figures["service"] = json!(service.as_str());
                figures["operations"] = Json::Array(operations);
                figures
            })
            .collect();
        json!({
            "windowSeconds": WINDOW_SLOTS * SLOT_NANOS / 1_000_000_000,
            "services": list,
            "droppedKeys": self.dropped_keys,
        })
    }
}

/// A count per slot over the same window, for ingest rates.
#[derive(Debug, Default, Clone)]
pub(crate) struct RateWindow {
    slots: [(u64, u64); WINDOW_SLOTS as usize],
}

impl RateWindow {
    /// Adds `count` at `now` (unix nanoseconds).
    pub(crate) fn add(&mut self, now: u64, count: u64) {
        let index = now / SLOT_NANOS;
        let slot = &mut self.slots[(index % WINDOW_SLOTS) as usize];
        if slot.0 != index {
            *slot = (index, 0);
        }
        slot.1 += count;
    }

    /// Items per second over the window ending at `now`.
    pub(crate) fn per_second(&self, now: u64) -> f64 {
        let now_slot = now / SLOT_NANOS;
        let total: u64 = self
            .slots
            .iter()
            .filter(|(index, _)| *index != 0 && in_window(*index, now_slot))
            .map(|(_, count)| count)
            .sum();
        total as f64 / ((WINDOW_SLOTS * SLOT_NANOS) as f64 / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000_000_000;

    fn sample(service: &'static str, micros: u64, error: bool, end: u64) -> RedSample {
        RedSample {
            service: service.into(),
            root_operation: Some("GET /".into()),
            end,
            micros,
            error,
        }
    }

    #[test]
    fn percentiles_and_error_ratio_match_known_latencies() {
        let mut red = Red::new(16, usize::MAX);
        let samples: Vec<_> = (1..=100)
            .map(|ms| sample("api", ms * 1000, ms % 10 == 0, NOW - ms * 100_000_000))
            .collect();
        red.record(&samples, NOW);
        let figures = red.service("api", NOW);
        assert_eq!(figures.count, 100);
        assert_eq!(figures.errors, 10);
        // Two significant figures: within 1 % of 50, 95 and 99 ms.
        assert!(
            (49_500..=50_500).contains(&figures.p50_micros),
            "{figures:?}"
        );
        assert!(
            (94_000..=96_000).contains(&figures.p95_micros),
            "{figures:?}"
        );
        assert!(
            (98_000..=100_000).contains(&figures.p99_micros),
            "{figures:?}"
        );
    }

    #[test]
    fn spans_outside_the_window_are_not_counted_and_old_slots_expire() {
        let mut red = Red::new(16, usize::MAX);
        red.record(
            &[sample("api", 10, false, NOW - 2 * 60 * 1_000_000_000)],
            NOW,
        );
        assert_eq!(red.service("api", NOW).count, 0);
        red.record(&[sample("api", 10, false, NOW)], NOW);
        assert_eq!(red.service("api", NOW).count, 1);
        assert_eq!(red.service("api", NOW + 61 * 1_000_000_000).count, 0);
        // Skew: a span a little ahead counts as now, one far ahead does not count.
        red.record(&[sample("api", 10, false, NOW + SLOT_NANOS / 2)], NOW);
        red.record(&[sample("api", 10, false, NOW + 3 * SLOT_NANOS)], NOW);
        assert_eq!(red.service("api", NOW).count, 2);
    }

    #[test]
    fn the_key_cap_bounds_memory_and_counts_what_it_refused() {
        let mut red = Red::new(2, usize::MAX);
        red.record(
            &[sample("a", 1, false, NOW), sample("b", 1, false, NOW)],
            NOW,
        );
        assert_eq!(red.dropped_keys, 2);
        assert_eq!(red.service_names().count(), 1);
    }

    #[test]
    fn rate_window_averages_over_a_minute() {
        let mut rate = RateWindow::default();
        rate.add(NOW, 600);
        assert!((rate.per_second(NOW) - 10.0).abs() < 1e-9);
        assert_eq!(rate.per_second(NOW + 120 * 1_000_000_000), 0.0);
    }
}
