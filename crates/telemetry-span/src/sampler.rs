//! Samplers decide, when a span starts, whether it records and whether it is exported.

use std::fmt;
use std::sync::Arc;

use telemetry_context::{SpanContext, TraceState};
use telemetry_core::env::{self, EnvSource, ProcessEnv};
use telemetry_core::{KeyValue, TraceId, diagnostic};

use crate::span_data::{Link, SpanKind};

/// A sampler's verdict on one span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamplingDecision {
    /// Not recorded, not sampled: the span costs almost nothing.
    Drop,
    /// Recorded (processors see it) but not sampled (exporters do not).
    RecordOnly,
    /// Recorded and sampled.
    RecordAndSample,
}

/// What a sampler returns.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingResult {
    /// The verdict.
    pub decision: SamplingDecision,
    /// Attributes to add to the span.
    pub attributes: Vec<KeyValue>,
    /// A trace state to use instead of the parent's, if the sampler changes it.
    pub trace_state: Option<TraceState>,
}

impl SamplingResult {
    const fn decide(decision: SamplingDecision) -> Self {
        SamplingResult {
            decision,
            attributes: Vec::new(),
            trace_state: None,
        }
    }
}

/// A custom sampling strategy, for what the built-in [`Sampler`]s do not cover.
pub trait ShouldSample: Send + Sync + fmt::Debug {
    /// Decides for a span about to start. `parent` is the parent's context, if any (valid).
    fn should_sample(
        &self,
        parent: Option<&SpanContext>,
        trace_id: TraceId,
        name: &str,
        kind: SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult;

    /// A short description, e.g. `TraceIdRatioBased{0.25}`.
    fn description(&self) -> String;
}

/// The built-in samplers, and a slot for a custom one.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Sampler {
    /// Record and sample everything.
    AlwaysOn,
    /// Drop everything.
    AlwaysOff,
    /// Sample a deterministic fraction of traces by trace id, ignoring the parent.
    TraceIdRatioBased(f64),
    /// Follow the parent's decision; use the inner samplers by case.
    ParentBased(Box<ParentBased>),
    /// A custom sampler.
    Custom(Arc<dyn ShouldSample>),
}

/// The five branches of a parent-based sampler.
#[derive(Clone, Debug)]
pub struct ParentBased {
    /// No parent.
    pub root: Sampler,
    /// Remote parent, sampled (default AlwaysOn).
    pub remote_parent_sampled: Sampler,
    /// Remote parent, not sampled (default AlwaysOff).
    pub remote_parent_not_sampled: Sampler,
    /// Local parent, sampled (default AlwaysOn).
    pub local_parent_sampled: Sampler,
    /// Local parent, not sampled (default AlwaysOff).
    pub local_parent_not_sampled: Sampler,
}

impl ParentBased {
    /// Parent-based with `root` for root spans and the spec's defaults for the rest.
    pub fn new(root: Sampler) -> Self {
        ParentBased {
            root,
            remote_parent_sampled: Sampler::AlwaysOn,
            remote_parent_not_sampled: Sampler::AlwaysOff,
            local_parent_sampled: Sampler::AlwaysOn,
            local_parent_not_sampled: Sampler::AlwaysOff,
        }
    }
}

impl Default for Sampler {
    /// `ParentBased(root = AlwaysOn)`, the SDK default.
    fn default() -> Self {
        Sampler::parent_based(Sampler::AlwaysOn)
    }
}

/// Whether a trace id falls within `ratio`: the low 8 bytes, read big-endian and shifted to
/// 63 bits, compared with `ratio * 2^63`. Deterministic and monotone in `ratio`.
fn ratio_samples(trace_id: TraceId, ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    if ratio.is_nan() || ratio <= 0.0 {
        return false;
    }
    let low = (trace_id.to_int() as u64) >> 1;
    let bound = (ratio * (1u64 << 63) as f64) as u64;
    low < bound
}

impl Sampler {
    /// A parent-based sampler with `root` for root spans.
    pub fn parent_based(root: Sampler) -> Self {
        Sampler::ParentBased(Box::new(ParentBased::new(root)))
    }

    /// Decides for a span about to start.
    #[inline]
    pub fn should_sample(
        &self,
        parent: Option<&SpanContext>,
        trace_id: TraceId,
        name: &str,
        kind: SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        match self {
            Sampler::AlwaysOn => SamplingResult::decide(SamplingDecision::RecordAndSample),
            Sampler::AlwaysOff => SamplingResult::decide(SamplingDecision::Drop),
            Sampler::TraceIdRatioBased(ratio) => {
                SamplingResult::decide(if ratio_samples(trace_id, *ratio) {
                    SamplingDecision::RecordAndSample
                } else {
                    SamplingDecision::Drop
                })
            }
            Sampler::ParentBased(branches) => {
                let delegate = match parent {
                    None => &branches.root,
                    Some(p) if p.is_remote() && p.is_sampled() => &branches.remote_parent_sampled,
                    Some(p) if p.is_remote() => &branches.remote_parent_not_sampled,
                    Some(p) if p.is_sampled() => &branches.local_parent_sampled,
                    Some(_) => &branches.local_parent_not_sampled,
                };
                delegate.should_sample(parent, trace_id, name, kind, attributes, links)
            }
            Sampler::Custom(sampler) => {
                sampler.should_sample(parent, trace_id, name, kind, attributes, links)
            }
        }
    }

    /// The spec's description string, e.g. `ParentBased{root:AlwaysOnSampler,...}`.
    pub fn description(&self) -> String {
        match self {
            Sampler::AlwaysOn => "AlwaysOnSampler".to_owned(),
            Sampler::AlwaysOff => "AlwaysOffSampler".to_owned(),
            Sampler::TraceIdRatioBased(ratio) => format!("TraceIdRatioBased{{{ratio}}}"),
            Sampler::ParentBased(b) => format!(
                "ParentBased{{root:{},remoteParentSampled:{},remoteParentNotSampled:{},localParentSampled:{},localParentNotSampled:{}}}",
                b.root.description(),
                b.remote_parent_sampled.description(),
                b.remote_parent_not_sampled.description(),
                b.local_parent_sampled.description(),
                b.local_parent_not_sampled.description()
            ),
            Sampler::Custom(sampler) => sampler.description(),
        }
    }

    /// The sampler named by `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` in the
    /// process environment; the default when unset or invalid.
    pub fn from_env() -> Self {
        Self::from_env_source(&ProcessEnv)
    }

    /// [`Sampler::from_env`] reading variables from `env`.
    pub fn from_env_source(env: &(impl EnvSource + ?Sized)) -> Self {
        #[derive(Clone, Copy)]
        enum Name {
            AlwaysOn,
            AlwaysOff,
            Ratio,
            ParentOn,
            ParentOff,
            ParentRatio,
        }
        let choices = [
            ("always_on", Name::AlwaysOn),
            ("always_off", Name::AlwaysOff),
            ("traceidratio", Name::Ratio),
            ("parentbased_always_on", Name::ParentOn),
            ("parentbased_always_off", Name::ParentOff),
            ("parentbased_traceidratio", Name::ParentRatio),
        ];
        let Some(name) = env::read_enum(env, "OTEL_TRACES_SAMPLER", &choices) else {
            return Sampler::default();
        };
        let ratio = || match env::read_f64(env, "OTEL_TRACES_SAMPLER_ARG") {
            Some(ratio) if (0.0..=1.0).contains(&ratio) => ratio,
            Some(ratio) => {
                diagnostic::report(
                    "sampler",
                    format_args!("OTEL_TRACES_SAMPLER_ARG={ratio} is outside [0, 1]; using 1.0"),
                );
                1.0
            }
            None => 1.0,
        };
        match name {
            Name::AlwaysOn => Sampler::AlwaysOn,
            Name::AlwaysOff => Sampler::AlwaysOff,
            Name::Ratio => Sampler::TraceIdRatioBased(ratio()),
            Name::ParentOn => Sampler::parent_based(Sampler::AlwaysOn),
            Name::ParentOff => Sampler::parent_based(Sampler::AlwaysOff),
            Name::ParentRatio => Sampler::parent_based(Sampler::TraceIdRatioBased(ratio())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry_context::TraceFlags;
    use telemetry_core::SpanId;

    fn parent(remote: bool, sampled: bool) -> SpanContext {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::NONE
        };
        SpanContext::new(
            TraceId::from_int(1),
            SpanId::from_int(1),
            flags,
            remote,
            TraceState::EMPTY,
        )
    }

    fn decide(sampler: &Sampler, parent: Option<&SpanContext>, trace_id: u128) -> SamplingDecision {
        sampler
            .should_sample(
                parent,
                TraceId::from_int(trace_id),
                "op",
                SpanKind::Internal,
                &[],
                &[],
            )
            .decision
    }

    #[test]
    fn parent_based_takes_each_of_its_five_branches() {
        use SamplingDecision::*;
        let mark = |decision| Sampler::Custom(Arc::new(Fixed(decision)));
        let sampler = Sampler::ParentBased(Box::new(ParentBased {
            root: Sampler::AlwaysOn,
            remote_parent_sampled: mark(RecordOnly),
            remote_parent_not_sampled: Sampler::AlwaysOn,
            local_parent_sampled: Sampler::AlwaysOff,
            local_parent_not_sampled: mark(RecordOnly),
        }));
        let table = [
            (None, RecordAndSample),
            (Some(parent(true, true)), RecordOnly),
            (Some(parent(true, false)), RecordAndSample),
            (Some(parent(false, true)), Drop),
            (Some(parent(false, false)), RecordOnly),
        ];
        for (parent, expected) in table {
            assert_eq!(decide(&sampler, parent.as_ref(), 7), expected, "{parent:?}");
        }
        let default = Sampler::default();
        assert_eq!(decide(&default, None, 7), RecordAndSample);
        assert_eq!(decide(&default, Some(&parent(true, false)), 7), Drop);
        assert_eq!(
            decide(&default, Some(&parent(false, true)), 7),
            RecordAndSample
        );
    }

    #[derive(Debug)]
    struct Fixed(SamplingDecision);

    impl ShouldSample for Fixed {
        fn should_sample(
            &self,
            _: Option<&SpanContext>,
            _: TraceId,
            _: &str,
            _: SpanKind,
            _: &[KeyValue],
            _: &[Link],
        ) -> SamplingResult {
            SamplingResult::decide(self.0)
        }

        fn description(&self) -> String {
            "Fixed".to_owned()
        }
    }

    #[test]
    fn ratio_is_deterministic_monotone_and_close_to_its_target() {
        let ids: Vec<u128> = (0..20_000).map(|_| TraceId::random().to_int()).collect();
        let sampled = |ratio: f64| -> Vec<bool> {
            ids.iter()
                .map(|id| {
                    decide(&Sampler::TraceIdRatioBased(ratio), None, *id)
                        == SamplingDecision::RecordAndSample
                })
                .collect()
        };
        let quarter = sampled(0.25);
        let half = sampled(0.5);
        assert!(
            quarter.iter().zip(&half).all(|(q, h)| !q || *h),
            "0.5 samples a superset of 0.25"
        );
        let fraction = quarter.iter().filter(|s| **s).count() as f64 / ids.len() as f64;
        assert!((0.23..0.27).contains(&fraction), "sampled {fraction}");
        assert_eq!(sampled(0.25), quarter, "deterministic");
        assert!(sampled(1.0).iter().all(|s| *s));
        assert!(sampled(0.0).iter().all(|s| !*s));
        let parent_sampled = parent(false, true);
        assert_eq!(
            decide(&Sampler::TraceIdRatioBased(0.0), Some(&parent_sampled), 5),
            SamplingDecision::Drop,
            "the ratio sampler ignores the parent"
        );
    }

    #[test]
    fn environment_selects_the_sampler() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "ParentBased{root:AlwaysOnSampler,"),
            (&[("OTEL_TRACES_SAMPLER", "always_off")], "AlwaysOffSampler"),
            (&[("OTEL_TRACES_SAMPLER", "ALWAYS_ON")], "AlwaysOnSampler"),
            (
                &[
                    ("OTEL_TRACES_SAMPLER", "traceidratio"),
                    ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
                ],
                "TraceIdRatioBased{0.1}",
            ),
            (
                &[
                    ("OTEL_TRACES_SAMPLER", "traceidratio"),
                    ("OTEL_TRACES_SAMPLER_ARG", "2"),
                ],
                "TraceIdRatioBased{1}",
            ),
            (
                &[
                    ("OTEL_TRACES_SAMPLER", "traceidratio"),
                    ("OTEL_TRACES_SAMPLER_ARG", "x"),
                ],
                "TraceIdRatioBased{1}",
            ),
            (
                &[("OTEL_TRACES_SAMPLER", "parentbased_always_off")],
                "ParentBased{root:AlwaysOffSampler,",
            ),
            (
                &[
                    ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                    ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
                ],
                "ParentBased{root:TraceIdRatioBased{0.5},",
            ),
            (
                &[("OTEL_TRACES_SAMPLER", "jaeger_remote")],
                "ParentBased{root:AlwaysOnSampler,",
            ),
        ];
        for (env, expected) in cases {
            let description = Sampler::from_env_source(*env).description();
            assert!(description.starts_with(expected), "{env:?}: {description}");
        }
    }
}
