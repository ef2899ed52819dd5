//! One reader's view of the provider: the streams registered for it, grouped by meter, and
//! how instruments become streams.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use telemetry_core::{InstrumentationScope, Resource, Timestamp, diagnostic};

use crate::data::{Metric, ResourceMetrics, ScopeMetrics, Temporality};
use crate::error::MetricError;
use crate::exemplar::ExemplarFilter;
use crate::exponential::DEFAULT_MAX_SIZE;
use crate::instrument::{InstrumentDescriptor, InstrumentKind, RunCallbacks};
use crate::stream::{Aggregator, AsyncStream, StreamIdentity, StreamSettings, SyncStream};
use crate::view::{Aggregation, AttributeFilter, DEFAULT_HISTOGRAM_BOUNDARIES, View};

/// What every meter of a provider needs to create instruments.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) views: Vec<View>,
    pub(crate) pipelines: Vec<Arc<Pipeline>>,
    pub(crate) exemplar_filter: ExemplarFilter,
    pub(crate) cardinality_limit: usize,
    /// Set once by shutdown; read when creating instruments. Relaxed: instruments created
    /// during a racing shutdown merely record into streams nobody collects.
    pub(crate) shut_down: AtomicBool,
}

impl Config {
    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Relaxed)
    }

    /// The streams settings an instrument gets in one pipeline: one per matching view, or
    /// the default when no view matches. Dropped streams yield nothing.
    pub(crate) fn stream_settings(
        &self,
        pipeline: &Pipeline,
        descriptor: &InstrumentDescriptor,
        scope: &InstrumentationScope,
        float_values: bool,
    ) -> Vec<StreamSettings> {
        let matching: Vec<&View> = self
            .views
            .iter()
            .filter(|view| view.matches(descriptor, scope))
            .collect();
        let temporality = pipeline.temporality[descriptor.kind.index()];
        let default_stream = || StreamSettings {
            identity: StreamIdentity {
                name: descriptor.name.clone(),
                description: descriptor.description.clone(),
                unit: descriptor.unit.clone(),
            },
            aggregator: default_aggregator(descriptor),
            temporality,
            filter: descriptor
                .advisory_attribute_keys
                .clone()
                .map(AttributeFilter::Keep),
            // A view's limit wins over the reader's, which wins over the provider's.
            limit: pipeline.cardinality_limit.unwrap_or(self.cardinality_limit),
            exemplars: false,
            float: float_values,
        };
        let with_exemplars = |mut settings: StreamSettings| {
            settings.exemplars = self.exemplar_filter != ExemplarFilter::AlwaysOff
                && !matches!(settings.aggregator, Aggregator::LastValue);
            settings
        };
        if matching.is_empty() {
            return vec![with_exemplars(default_stream())];
        }
        let mut streams = Vec::new();
        for view in matching {
            let config = &view.stream;
            let mut settings = default_stream();
            if let Some(name) = &config.name {
                settings.identity.name = name.clone();
            }
            if let Some(description) = &config.description {
                settings.identity.description = description.clone();
            }
            if let Some(filter) = &config.attributes {
                settings.filter = Some(filter.clone());
            }
            if let Some(limit) = config.cardinality_limit {
                settings.limit = limit;
            }
            match config.aggregation.as_ref() {
                Some(Aggregation::Drop) => continue,
                Some(aggregation) => match aggregator_for(aggregation, descriptor) {
                    Some(aggregator) => settings.aggregator = aggregator,
                    None => diagnostic::report(
                        "metrics",
                        format_args!(
                            "a view asks for {aggregation:?} on {:?} ({:?}), which it cannot \
                             produce; using the default aggregation",
                            descriptor.name, descriptor.kind
                        ),
                    ),
                },
                None => {}
            }
            streams.push(with_exemplars(settings));
        }
        streams
    }
}

fn monotonic(kind: InstrumentKind) -> bool {
    matches!(
        kind,
        InstrumentKind::Counter | InstrumentKind::ObservableCounter | InstrumentKind::Histogram
    )
}

/// Whether the instrument's values can be negative, which makes a histogram sum meaningless.
fn can_be_negative(kind: InstrumentKind) -> bool {
    matches!(
        kind,
        InstrumentKind::UpDownCounter
            | InstrumentKind::ObservableUpDownCounter
            | InstrumentKind::Gauge
            | InstrumentKind::ObservableGauge
    )
}

fn default_aggregator(descriptor: &InstrumentDescriptor) -> Aggregator {
    match descriptor.kind {
        InstrumentKind::Counter | InstrumentKind::ObservableCounter => {
            Aggregator::Sum { monotonic: true }
        }
        InstrumentKind::UpDownCounter | InstrumentKind::ObservableUpDownCounter => {
            Aggregator::Sum { monotonic: false }
        }
        InstrumentKind::Gauge | InstrumentKind::ObservableGauge => Aggregator::LastValue,
        InstrumentKind::Histogram => Aggregator::Histogram {
            bounds: descriptor
                .advisory_boundaries
                .as_deref()
                .unwrap_or(&DEFAULT_HISTOGRAM_BOUNDARIES)
                .into(),
            min_max: true,
            sum: true,
        },
    }
}

/// The aggregator a view asks for, or `None` when the instrument cannot produce it
/// (observable instruments report totals or values, not distributions).
fn aggregator_for(
    aggregation: &Aggregation,
    descriptor: &InstrumentDescriptor,
) -> Option<Aggregator> {
    let kind = descriptor.kind;
    match aggregation {
        Aggregation::Drop | Aggregation::Default => Some(default_aggregator(descriptor)),
        Aggregation::Sum => Some(Aggregator::Sum {
            monotonic: monotonic(kind),
        }),
        Aggregation::LastValue => Some(Aggregator::LastValue),
        _ if kind.is_observable() => None,
        Aggregation::ExplicitBucketHistogram {
            boundaries,
            record_min_max,
        } => Some(Aggregator::Histogram {
            bounds: boundaries.as_slice().into(),
            min_max: *record_min_max,
            sum: !can_be_negative(kind),
        }),
        Aggregation::Base2ExponentialHistogram {
            max_size,
            max_scale,
            record_min_max,
        } => Some(Aggregator::Exponential {
            max_size: usize::try_from(*max_size).unwrap_or(DEFAULT_MAX_SIZE),
            max_scale: i32::from(*max_scale),
            min_max: *record_min_max,
            sum: !can_be_negative(kind),
        }),
    }
}

/// A stream registered with a pipeline.
#[derive(Clone)]
pub(crate) enum Registered {
    Sync(Arc<SyncStream>),
    Async {
        instrument: Arc<dyn RunCallbacks>,
        streams: Arc<[Arc<AsyncStream>]>,
    },
}

struct ScopeEntry {
    scope: InstrumentationScope,
    streams: Vec<Registered>,
}

/// One reader's streams.
pub(crate) struct Pipeline {
    resource: Resource,
    /// The reader's temporality per instrument kind, asked once at registration.
    temporality: [Temporality; 7],
    /// The reader's default cardinality limit, if it has one.
    cardinality_limit: Option<usize>,
    scopes: Mutex<Vec<ScopeEntry>>,
}

impl Pipeline {
    pub(crate) fn new(
        resource: Resource,
        temporality: [Temporality; 7],
        cardinality_limit: Option<usize>,
    ) -> Self {
        Pipeline {
            resource,
            temporality,
            cardinality_limit,
            scopes: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn register(&self, scope: &InstrumentationScope, stream: Registered) {
        let mut scopes = self.scopes.lock();
        match scopes.iter_mut().find(|entry| entry.scope == *scope) {
            Some(entry) => entry.streams.push(stream),
            None => scopes.push(ScopeEntry {
                scope: scope.clone(),
                streams: vec![stream],
            }),
        }
    }

    /// Runs the callbacks and collects every stream.
    pub(crate) fn collect(&self) -> ResourceMetrics {
        // Copy the registrations out: callbacks may create instruments, which registers them.
        let scopes: Vec<(InstrumentationScope, Vec<Registered>)> = self
            .scopes
            .lock()
            .iter()
            .map(|entry| (entry.scope.clone(), entry.streams.clone()))
            .collect();
        let now = Timestamp::now();
        let mut scope_metrics = Vec::new();
        for (scope, streams) in scopes {
            let mut metrics: Vec<Metric> = Vec::new();
            for registered in streams {
                match registered {
                    Registered::Sync(stream) => metrics.extend(stream.collect(now)),
                    Registered::Async {
                        instrument,
                        streams,
                    } => {
                        instrument.run(&streams);
                        metrics.extend(streams.iter().filter_map(|s| s.collect(now)));
                    }
                }
            }
            if !metrics.is_empty() {
                scope_metrics.push(ScopeMetrics { scope, metrics });
            }
        }
        ResourceMetrics {
            resource: self.resource.clone(),
            scope_metrics,
        }
    }
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("temporality", &self.temporality)
            .field("scopes", &self.scopes.lock().len())
            .finish_non_exhaustive()
    }
}

/// The handle a reader collects through; the provider gives one to each reader it owns.
#[derive(Clone, Debug)]
pub struct Producer {
    pipeline: Arc<Pipeline>,
    config: Arc<Config>,
}

impl Producer {
    pub(crate) fn new(pipeline: Arc<Pipeline>, config: Arc<Config>) -> Self {
        Producer { pipeline, config }
    }

    /// Collects the current metrics of every meter: runs the observable instruments'
    /// callbacks and aggregates each stream by the reader's temporality.
    pub fn collect(&self) -> Result<ResourceMetrics, MetricError> {
        if self.config.is_shut_down() {
            return Err(MetricError::AlreadyShutDown);
        }
        Ok(self.pipeline.collect())
    }
}
