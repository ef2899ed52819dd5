//! Exemplars: a few sampled measurements kept beside each point, with the trace and span that
//! were active, so a spike on a chart links to a trace that caused it.

use telemetry_context::{Context, SpanContext};
use telemetry_core::env::{self, EnvSource};
use telemetry_core::{KeyValue, SpanId, Timestamp, TraceId};

use crate::data::{Exemplar, Number};
use crate::view::AttributeFilter;

/// Which measurements may become exemplars (`OTEL_METRICS_EXEMPLAR_FILTER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ExemplarFilter {
    /// Every measurement is offered.
    AlwaysOn,
    /// No measurement is offered; recording never looks at the current context.
    AlwaysOff,
    /// Only measurements taken while a sampled span is active (the default).
    #[default]
    TraceBased,
}

impl ExemplarFilter {
    /// The filter named by `OTEL_METRICS_EXEMPLAR_FILTER` in `source`, if set and valid.
    pub fn from_env(source: &(impl EnvSource + ?Sized)) -> Option<Self> {
        env::read_enum(
            source,
            "OTEL_METRICS_EXEMPLAR_FILTER",
            &[
                ("always_on", ExemplarFilter::AlwaysOn),
                ("always_off", ExemplarFilter::AlwaysOff),
                ("trace_based", ExemplarFilter::TraceBased),
            ],
        )
    }

    /// True when no measurement taken now can become an exemplar: the filter is off, or it
    /// is trace-based and no sampled span is current.
    ///
    /// Inlined into every measurement, and only a test: outside any span (the common case)
    /// the trace-based filter costs one read of the context's one-byte thread-local summary.
    /// Everything else, building the span ids included, is [`ExemplarFilter::sample`]'s,
    /// out of line.
    #[inline(always)]
    pub(crate) fn skips(self) -> bool {
        match self {
            ExemplarFilter::AlwaysOff => true,
            ExemplarFilter::AlwaysOn => false,
            ExemplarFilter::TraceBased => {
                !Context::current_has_span()
                    || match Context::current_span_context() {
                        None => true,
                        Some(span) => !SpanIds::is_sampled(&span),
                    }
            }
        }
    }

    /// Whether the current measurement is offered, and the active span's ids if any.
    pub(crate) fn sample(self) -> Option<SpanIds> {
        match self {
            ExemplarFilter::AlwaysOff => None,
            ExemplarFilter::AlwaysOn => Some(SpanIds::current().unwrap_or_default()),
            ExemplarFilter::TraceBased => SpanIds::current().filter(|ids| ids.sampled),
        }
    }
}

/// The active span's identity at the time of a measurement.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SpanIds {
    trace_id: Option<TraceId>,
    span_id: Option<SpanId>,
    sampled: bool,
}

impl SpanIds {
    fn current() -> Option<SpanIds> {
        // Only the span context: cloning the whole current context would cost reference
        // counts on every measurement.
        let span = Context::current_span_context()?;
        span.is_valid().then(|| SpanIds {
            trace_id: Some(span.trace_id()),
            span_id: Some(span.span_id()),
            sampled: span.is_sampled(),
        })
    }

    /// Whether `span` is one whose measurements the trace-based filter offers.
    #[inline(never)]
    fn is_sampled(span: &SpanContext) -> bool {
        span.is_valid() && span.is_sampled()
    }
}

/// What a measurement offers to a reservoir.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Offer<'a> {
    pub(crate) value: Number,
    pub(crate) attributes: &'a [KeyValue],
    pub(crate) ids: SpanIds,
}

/// A bounded set of exemplars for one series.
///
/// Aligned mode (histograms): one slot per bucket, the latest measurement of the bucket
/// wins, so every bucket shown on a heatmap can link to a trace. Sampling mode (everything
/// else): a fixed number of slots filled by reservoir sampling, so each measurement of the
/// interval is equally likely to be kept.
#[derive(Debug)]
pub(crate) struct Reservoir {
    slots: Vec<Option<Exemplar>>,
    aligned: bool,
    offered: u64,
    rng: u64,
}

/// Slots of a sampling reservoir.
pub(crate) const SAMPLING_SLOTS: usize = 4;

impl Reservoir {
    pub(crate) fn sampling() -> Self {
        Reservoir::with_slots(SAMPLING_SLOTS, false)
    }

    pub(crate) fn aligned(buckets: usize) -> Self {
        Reservoir::with_slots(buckets, true)
    }

    fn with_slots(slots: usize, aligned: bool) -> Self {
        Reservoir {
            slots: (0..slots).map(|_| None).collect(),
            aligned,
            offered: 0,
            // Sampling must be unbiased, not unpredictable: a fixed non-zero seed keeps test
            // runs reproducible.
            rng: 0x2545_f491_4f6c_dd1d,
        }
    }

    /// Offers a measurement; `bucket` is its bucket in aligned mode.
    pub(crate) fn offer(
        &mut self,
        offer: &Offer<'_>,
        bucket: usize,
        filter: Option<&AttributeFilter>,
    ) {
        let slot = if self.aligned {
            bucket
        } else {
            let seen = self.offered;
            self.offered += 1;
            if (seen as usize) < self.slots.len() {
                seen as usize
            } else {
                let pick = self.next_random() % (seen + 1);
                if pick as usize >= self.slots.len() {
                    return;
                }
                pick as usize
            }
        };
        let Some(target) = self.slots.get_mut(slot) else {
            return;
        };
        let filtered_attributes = match filter {
            Some(filter) => offer
                .attributes
                .iter()
                .filter(|a| !filter.keeps(a))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        *target = Some(Exemplar {
            filtered_attributes,
            time: Timestamp::now(),
            value: offer.value,
            trace_id: offer.ids.trace_id,
            span_id: offer.ids.span_id,
        });
    }

    /// The kept exemplars, emptying the reservoir for the next interval.
    pub(crate) fn drain(&mut self) -> Vec<Exemplar> {
        self.offered = 0;
        self.slots.iter_mut().filter_map(Option::take).collect()
    }

    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry_context::{SpanContext, TraceFlags, TraceState};

    fn ids() -> SpanIds {
        SpanIds {
            trace_id: Some(TraceId::from_int(7)),
            span_id: Some(SpanId::from_int(9)),
            sampled: true,
        }
    }

    #[test]
    fn filters_follow_the_active_span() {
        assert!(ExemplarFilter::AlwaysOff.sample().is_none());
        assert!(ExemplarFilter::TraceBased.sample().is_none());
        assert!(ExemplarFilter::AlwaysOn.sample().is_some());
        for (flags, offered) in [(TraceFlags::SAMPLED, true), (TraceFlags::NONE, false)] {
            let span = SpanContext::new(
                TraceId::from_int(1),
                SpanId::from_int(2),
                flags,
                false,
                TraceState::EMPTY,
            );
            let _guard = Context::new().with_span_context(span).attach();
            let sampled = ExemplarFilter::TraceBased.sample();
            assert_eq!(sampled.is_some(), offered);
            if let Some(ids) = sampled {
                assert_eq!(ids.trace_id, Some(TraceId::from_int(1)));
                assert_eq!(ids.span_id, Some(SpanId::from_int(2)));
            }
        }
        let env = [("OTEL_METRICS_EXEMPLAR_FILTER", "ALWAYS_OFF")];
        assert_eq!(
            ExemplarFilter::from_env(&env),
            Some(ExemplarFilter::AlwaysOff)
        );
    }

    #[test]
    fn the_inlined_check_agrees_with_sampling() {
        let spans = [
            None,
            Some((
                TraceId::from_int(1),
                SpanId::from_int(2),
                TraceFlags::SAMPLED,
            )),
            Some((TraceId::from_int(1), SpanId::from_int(2), TraceFlags::NONE)),
            // Invalid: never offered, whatever its flags say.
            Some((TraceId::INVALID, SpanId::INVALID, TraceFlags::SAMPLED)),
        ];
        for span in spans {
            let _guard = span.map(|(trace, span, flags)| {
                let span = SpanContext::new(trace, span, flags, false, TraceState::EMPTY);
                Context::new().with_span_context(span).attach()
            });
            for filter in [
                ExemplarFilter::AlwaysOn,
                ExemplarFilter::AlwaysOff,
                ExemplarFilter::TraceBased,
            ] {
                assert_eq!(
                    filter.skips(),
                    filter.sample().is_none(),
                    "{filter:?} with {span:?}"
                );
            }
        }
    }

    #[test]
    fn sampling_reservoir_stays_bounded_and_drains() {
        let mut reservoir = Reservoir::sampling();
        let attributes = [KeyValue::new("kept", 1i64), KeyValue::new("dropped", 2i64)];
        let filter = AttributeFilter::Keep(vec!["kept".to_owned()]);
        for i in 0..100 {
            let offer = Offer {
                value: Number::I64(i),
                attributes: &attributes,
                ids: ids(),
            };
            reservoir.offer(&offer, 0, Some(&filter));
        }
        let kept = reservoir.drain();
        assert_eq!(kept.len(), SAMPLING_SLOTS);
        assert_eq!(
            kept[0].filtered_attributes,
            vec![KeyValue::new("dropped", 2i64)]
        );
        assert_eq!(kept[0].trace_id, Some(TraceId::from_int(7)));
        assert!(reservoir.drain().is_empty());
    }

    #[test]
    fn aligned_reservoir_keeps_the_latest_per_bucket() {
        let mut reservoir = Reservoir::aligned(3);
        for (value, bucket) in [(1, 0), (2, 0), (3, 2)] {
            let offer = Offer {
                value: Number::I64(value),
                attributes: &[],
                ids: ids(),
            };
            reservoir.offer(&offer, bucket, None);
        }
        let values: Vec<Number> = reservoir.drain().iter().map(|e| e.value).collect();
        assert_eq!(values, vec![Number::I64(2), Number::I64(3)]);
    }
}
