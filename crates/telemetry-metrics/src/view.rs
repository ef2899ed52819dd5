//! Views: which instruments a rule applies to, and how it reshapes their streams.

use std::fmt;

use telemetry_core::{InstrumentationScope, KeyValue};

use crate::exponential::{DEFAULT_MAX_SIZE, MAX_SCALE, MIN_SCALE};
use crate::instrument::{InstrumentDescriptor, InstrumentKind};

/// The spec's default explicit-bucket boundaries.
pub const DEFAULT_HISTOGRAM_BOUNDARIES: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

/// How a stream aggregates measurements.
#[derive(Clone, Debug, PartialEq, Default)]
#[non_exhaustive]
pub enum Aggregation {
    /// Discard every measurement; the stream is not exported.
    Drop,
    /// The instrument kind's default: sum for counters, last value for gauges, explicit
    /// buckets for histograms.
    #[default]
    Default,
    /// The arithmetic sum.
    Sum,
    /// The last measurement.
    LastValue,
    /// Counts in explicit, upper-inclusive buckets.
    ExplicitBucketHistogram {
        /// Strictly increasing, finite boundaries; empty means one bucket (count only).
        boundaries: Vec<f64>,
        /// Whether to keep the minimum and maximum.
        record_min_max: bool,
    },
    /// Counts in base-2 exponential buckets that rescale to fit.
    Base2ExponentialHistogram {
        /// Buckets per sign, at least 2 (default 160).
        max_size: u32,
        /// The starting, finest scale, -10..=20 (default 20).
        max_scale: i8,
        /// Whether to keep the minimum and maximum.
        record_min_max: bool,
    },
}

impl Aggregation {
    /// The exponential histogram with the spec's defaults (160 buckets, scale 20).
    pub const fn exponential_histogram() -> Self {
        Aggregation::Base2ExponentialHistogram {
            max_size: DEFAULT_MAX_SIZE as u32,
            max_scale: MAX_SCALE as i8,
            record_min_max: true,
        }
    }

    /// An explicit-bucket histogram with these boundaries, keeping min and max.
    pub fn explicit_buckets(boundaries: impl Into<Vec<f64>>) -> Self {
        Aggregation::ExplicitBucketHistogram {
            boundaries: boundaries.into(),
            record_min_max: true,
        }
    }

    fn check(&self) -> Result<(), ViewErrorKind> {
        match self {
            Aggregation::ExplicitBucketHistogram { boundaries, .. } => {
                let finite = boundaries.iter().all(|b| b.is_finite());
                let increasing = boundaries.windows(2).all(|pair| pair[0] < pair[1]);
                if finite && increasing {
                    Ok(())
                } else {
                    Err(ViewErrorKind::InvalidBoundaries)
                }
            }
            Aggregation::Base2ExponentialHistogram {
                max_size,
                max_scale,
                ..
            } => {
                let scale = i32::from(*max_scale);
                if *max_size >= 2 && (MIN_SCALE..=MAX_SCALE).contains(&scale) {
                    Ok(())
                } else {
                    Err(ViewErrorKind::InvalidExponentialHistogram)
                }
            }
            _ => Ok(()),
        }
    }
}

/// Which attribute keys a stream keeps.
///
/// The attributes a filter removes from a series still appear on that series' exemplars
/// (as [`Exemplar::filtered_attributes`](crate::data::Exemplar::filtered_attributes)), so a
/// view that drops a sensitive key does not remove it from exported exemplars.
#[derive(Clone, Debug, PartialEq)]
pub enum AttributeFilter {
    /// Keep only these keys.
    Keep(Vec<String>),
    /// Keep every key but these.
    Drop(Vec<String>),
}

impl AttributeFilter {
    pub(crate) fn keeps(&self, attribute: &KeyValue) -> bool {
        match self {
            AttributeFilter::Keep(keys) => keys.iter().any(|k| *k == *attribute.key),
            AttributeFilter::Drop(keys) => !keys.iter().any(|k| *k == *attribute.key),
        }
    }
}

/// A rule that selects instruments and reshapes their streams. Selection criteria are
/// ANDed; a view without criteria is invalid.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    name_pattern: Option<String>,
    kind: Option<InstrumentKind>,
    unit: Option<String>,
    meter_name: Option<String>,
    meter_version: Option<String>,
    meter_schema_url: Option<String>,
    pub(crate) stream: StreamConfig,
}

/// How a view shapes the stream of an instrument it selects.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct StreamConfig {
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) attributes: Option<AttributeFilter>,
    pub(crate) aggregation: Option<Aggregation>,
    pub(crate) cardinality_limit: Option<usize>,
}

/// Builds a [`View`].
#[derive(Debug)]
pub struct ViewBuilder {
    view: View,
}

impl View {
    /// Starts a view; add selection criteria and stream settings, then [`ViewBuilder::build`].
    pub fn builder() -> ViewBuilder {
        ViewBuilder {
            view: View {
                name_pattern: None,
                kind: None,
                unit: None,
                meter_name: None,
                meter_version: None,
                meter_schema_url: None,
                stream: StreamConfig::default(),
            },
        }
    }

    pub(crate) fn matches(
        &self,
        instrument: &InstrumentDescriptor,
        scope: &InstrumentationScope,
    ) -> bool {
        let name_ok = self
            .name_pattern
            .as_deref()
            .is_none_or(|pattern| wildcard_match(pattern, &instrument.name));
        name_ok
            && self.kind.is_none_or(|kind| kind == instrument.kind)
            && self.unit.as_deref().is_none_or(|u| u == instrument.unit)
            && self.meter_name.as_deref().is_none_or(|n| n == scope.name())
            && self
                .meter_version
                .as_deref()
                .is_none_or(|v| Some(v) == scope.version())
            && self
                .meter_schema_url
                .as_deref()
                .is_none_or(|u| Some(u) == scope.schema_url())
    }
}

impl ViewBuilder {
    fn edit(mut self, f: impl FnOnce(&mut View)) -> Self {
        f(&mut self.view);
        self
    }

    /// Selects instruments by name: exact (case-insensitive), or a pattern where `*` matches
    /// any run of characters and `?` any one character.
    pub fn with_instrument_name(self, pattern: impl Into<String>) -> Self {
        let pattern = pattern.into();
        self.edit(|v| v.name_pattern = Some(pattern))
    }

    /// Selects instruments of one kind.
    pub fn with_instrument_kind(self, kind: InstrumentKind) -> Self {
        self.edit(|v| v.kind = Some(kind))
    }

    /// Selects instruments with this unit.
    pub fn with_instrument_unit(self, unit: impl Into<String>) -> Self {
        let unit = unit.into();
        self.edit(|v| v.unit = Some(unit))
    }

    /// Selects instruments of meters with this name.
    pub fn with_meter_name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.edit(|v| v.meter_name = Some(name))
    }

    /// Selects instruments of meters with this version.
    pub fn with_meter_version(self, version: impl Into<String>) -> Self {
        let version = version.into();
        self.edit(|v| v.meter_version = Some(version))
    }

    /// Selects instruments of meters with this schema URL.
    pub fn with_meter_schema_url(self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.edit(|v| v.meter_schema_url = Some(url))
    }

    /// Renames the stream. Only valid when the name criterion selects one instrument (no
    /// wildcard).
    pub fn with_name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.edit(|v| v.stream.name = Some(name))
    }

    /// Replaces the stream's description.
    pub fn with_description(self, description: impl Into<String>) -> Self {
        let description = description.into();
        self.edit(|v| v.stream.description = Some(description))
    }

    /// Keeps only (or drops) some attribute keys, before the cardinality limit applies.
    pub fn with_attribute_filter(self, filter: AttributeFilter) -> Self {
        self.edit(|v| v.stream.attributes = Some(filter))
    }

    /// Changes the aggregation; [`Aggregation::Drop`] drops the instrument.
    pub fn with_aggregation(self, aggregation: Aggregation) -> Self {
        self.edit(|v| v.stream.aggregation = Some(aggregation))
    }

    /// Caps the number of attribute sets of the stream (at least 1).
    pub fn with_cardinality_limit(self, limit: usize) -> Self {
        self.edit(|v| v.stream.cardinality_limit = Some(limit))
    }

    /// The view, or why it is invalid.
    pub fn build(self) -> Result<View, ViewError> {
        let view = self.view;
        let has_criteria = view.name_pattern.is_some()
            || view.kind.is_some()
            || view.unit.is_some()
            || view.meter_name.is_some()
            || view.meter_version.is_some()
            || view.meter_schema_url.is_some();
        if !has_criteria {
            return Err(ViewError::new(ViewErrorKind::NoCriteria));
        }
        let single_instrument = view
            .name_pattern
            .as_deref()
            .is_some_and(|p| !p.contains(['*', '?']));
        if view.stream.name.is_some() && !single_instrument {
            return Err(ViewError::new(ViewErrorKind::RenameNeedsExactName));
        }
        if view.stream.cardinality_limit == Some(0) {
            return Err(ViewError::new(ViewErrorKind::ZeroCardinalityLimit));
        }
        if let Some(aggregation) = &view.stream.aggregation {
            aggregation.check().map_err(ViewError::new)?;
        }
        Ok(view)
    }
}

/// Why a view is invalid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewError {
    kind: ViewErrorKind,
}

/// The kinds of [`ViewError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ViewErrorKind {
    /// The view selects nothing: it has no selection criteria.
    NoCriteria,
    /// A rename with a wildcard (or no) name criterion would give several instruments one
    /// name.
    RenameNeedsExactName,
    /// Histogram boundaries must be finite and strictly increasing.
    InvalidBoundaries,
    /// Exponential histograms need at least 2 buckets and a scale in -10..=20.
    InvalidExponentialHistogram,
    /// A cardinality limit of 0 would send everything to the overflow series.
    ZeroCardinalityLimit,
}

impl ViewError {
    fn new(kind: ViewErrorKind) -> Self {
        ViewError { kind }
    }

    /// What is wrong.
    pub fn kind(&self) -> ViewErrorKind {
        self.kind
    }
}

impl fmt::Display for ViewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            ViewErrorKind::NoCriteria => "a view needs at least one selection criterion",
            ViewErrorKind::RenameNeedsExactName => {
                "a view that renames its stream must select one instrument by exact name"
            }
            ViewErrorKind::InvalidBoundaries => {
                "histogram boundaries must be finite and strictly increasing"
            }
            ViewErrorKind::InvalidExponentialHistogram => {
                "an exponential histogram needs max_size >= 2 and max_scale in -10..=20"
            }
            ViewErrorKind::ZeroCardinalityLimit => "a cardinality limit must be at least 1",
        })
    }
}

impl std::error::Error for ViewError {}

/// Case-insensitive glob match with `*` (any run) and `?` (one character).
pub(crate) fn wildcard_match(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let name: Vec<char> = name.chars().flat_map(char::to_lowercase).collect();
    let (mut p, mut n) = (0, 0);
    // Where the last `*` was, and the name position it currently stands for.
    let mut backtrack: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            backtrack = Some((p, n));
            p += 1;
        } else if let Some((star, matched)) = backtrack {
            p = star + 1;
            n = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let table = [
            ("*", "anything", true),
            ("*", "", true),
            ("http.*", "http.server.duration", true),
            ("http.*", "rpc.duration", false),
            ("http.?", "http.a", true),
            ("http.?", "http.ab", false),
            ("*.duration", "http.server.duration", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("Requests", "requests", true),
            ("req", "requests", false),
        ];
        for (pattern, name, expected) in table {
            assert_eq!(wildcard_match(pattern, name), expected, "{pattern} {name}");
        }
    }

    #[test]
    fn invalid_views_are_rejected() {
        let cases = [
            (View::builder().with_name("x"), ViewErrorKind::NoCriteria),
            (
                View::builder().with_instrument_name("a*").with_name("b"),
                ViewErrorKind::RenameNeedsExactName,
            ),
            (
                View::builder()
                    .with_instrument_name("a")
                    .with_aggregation(Aggregation::explicit_buckets([1.0, 1.0])),
                ViewErrorKind::InvalidBoundaries,
            ),
            (
                View::builder()
                    .with_instrument_name("a")
                    .with_aggregation(Aggregation::explicit_buckets([f64::NAN])),
                ViewErrorKind::InvalidBoundaries,
            ),
            (
                View::builder().with_instrument_name("a").with_aggregation(
                    Aggregation::Base2ExponentialHistogram {
                        max_size: 1,
                        max_scale: 20,
                        record_min_max: true,
                    },
                ),
                ViewErrorKind::InvalidExponentialHistogram,
            ),
            (
                View::builder()
                    .with_instrument_name("a")
                    .with_cardinality_limit(0),
                ViewErrorKind::ZeroCardinalityLimit,
            ),
        ];
        for (builder, kind) in cases {
            assert_eq!(builder.build().map_err(|e| e.kind()), Err(kind));
        }
        assert!(
            View::builder()
                .with_instrument_name("a")
                .with_name("b")
                .build()
                .is_ok()
        );
    }
}
