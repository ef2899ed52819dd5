//! The meter provider: owns the configuration (resource, views, readers) and hands out
//! meters.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use telemetry_core::env::ProcessEnv;
use telemetry_core::{InstrumentationScope, Resource, StringValue, diagnostic};

use crate::error::{MetricError, combine};
use crate::exemplar::ExemplarFilter;
use crate::instrument::InstrumentKind;
use crate::meter::Meter;
use crate::pipeline::{Config, Pipeline, Producer};
use crate::reader::MetricReader;
use crate::stream::DEFAULT_CARDINALITY_LIMIT;
use crate::view::View;

/// Owns the metrics pipeline and hands out [`Meter`]s. Cloning is cheap; clones share the
/// pipeline. Dropping the last clone shuts it down.
#[derive(Clone)]
pub struct MeterProvider {
    inner: Arc<ProviderInner>,
}

struct ProviderInner {
    config: Arc<Config>,
    readers: Vec<Arc<dyn MetricReader>>,
    meters: Mutex<Vec<Meter>>,
}

/// Builds a [`MeterProvider`].
#[derive(Debug, Default)]
pub struct MeterProviderBuilder {
    resource: Option<Resource>,
    /// Set by `with_exact_resource`: the resource is used as given, not merged over the
    /// detected one.
    exact_resource: bool,
    readers: Vec<Arc<dyn MetricReader>>,
    views: Vec<View>,
    exemplar_filter: Option<ExemplarFilter>,
    cardinality_limit: Option<usize>,
}

impl MeterProvider {
    /// Starts a provider. Without a reader, instruments record nothing.
    pub fn builder() -> MeterProviderBuilder {
        MeterProviderBuilder::default()
    }

    /// The meter of the instrumentation scope `name` (the same meter on every call).
    pub fn meter(&self, name: impl Into<StringValue>) -> Meter {
        self.meter_with_scope(InstrumentationScope::builder(name).build())
    }

    /// The meter of `scope` (name, version, schema URL and attributes); the same meter for
    /// an equal scope.
    pub fn meter_with_scope(&self, scope: InstrumentationScope) -> Meter {
        let mut meters = self.inner.meters.lock();
        if let Some(meter) = meters.iter().find(|m| *m.scope() == scope) {
            return meter.clone();
        }
        if scope.name().is_empty() {
            diagnostic::report(
                "metrics",
                format_args!("a meter was asked for with an empty name; it works, but is unnamed"),
            );
        }
        let meter = Meter::new(scope, Arc::clone(&self.inner.config));
        meters.push(meter.clone());
        meter
    }

    /// Has every reader export what it has now.
    pub fn force_flush(&self) -> Result<(), MetricError> {
        if self.inner.config.is_shut_down() {
            return Err(MetricError::AlreadyShutDown);
        }
        combine(self.inner.readers.iter().map(|reader| reader.force_flush()))
    }

    /// Shuts every reader down (a final export for push readers). Later collections fail
    /// and new instruments record nothing. Only the first call does anything.
    pub fn shutdown(&self) -> Result<(), MetricError> {
        self.inner.shutdown()
    }
}

impl ProviderInner {
    fn shutdown(&self) -> Result<(), MetricError> {
        if self.config.shut_down.load(Ordering::Relaxed) {
            return Err(MetricError::AlreadyShutDown);
        }
        let result = combine(self.readers.iter().map(|reader| reader.shutdown()));
        // After the readers' final collections, so those still see the data.
        self.config.shut_down.store(true, Ordering::Relaxed);
        result
    }
}

impl Drop for ProviderInner {
    fn drop(&mut self) {
        if !self.config.is_shut_down()
            && let Err(error) = self.shutdown()
        {
            diagnostic::report(
                "metrics",
                format_args!("meter provider shutdown on drop failed: {error}"),
            );
        }
    }
}

impl fmt::Debug for MeterProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeterProvider")
            .field("readers", &self.inner.readers)
            .field("views", &self.inner.config.views.len())
            .field("meters", &self.inner.meters.lock().len())
            .finish_non_exhaustive()
    }
}

impl MeterProviderBuilder {
    /// Sets the resource, merged over the one detected from the environment
    /// ([`Resource::detect_merged`]); without it, [`Resource::detect`].
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self.exact_resource = false;
        self
    }

    /// Sets the resource, used exactly as given: nothing is detected or merged under it.
    /// For callers that detected the resource themselves (the `telemetry` facade, from
    /// its own environment source), so the environment is read, and its errors reported,
    /// once.
    pub fn with_exact_resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self.exact_resource = true;
        self
    }

    /// Adds a reader. Each reader has its own streams and temporality.
    pub fn with_reader(mut self, reader: impl MetricReader) -> Self {
        self.readers.push(Arc::new(reader));
        self
    }

    /// Adds a view. Each view matching an instrument makes one stream of it.
    pub fn with_view(mut self, view: View) -> Self {
        self.views.push(view);
        self
    }

    /// Sets the exemplar filter; by default `OTEL_METRICS_EXEMPLAR_FILTER`, else trace-based.
    pub fn with_exemplar_filter(mut self, filter: ExemplarFilter) -> Self {
        self.exemplar_filter = Some(filter);
        self
    }

    /// Sets the default cardinality limit per stream (2000 by default; views may override;
    /// 0 is ignored).
    pub fn with_cardinality_limit(mut self, limit: usize) -> Self {
        if limit > 0 {
            self.cardinality_limit = Some(limit);
        }
        self
    }

    /// The provider; registers every reader.
    pub fn build(self) -> MeterProvider {
        let resource = match self.resource {
            Some(resource) if self.exact_resource => resource,
            Some(user) => Resource::detect_merged(&user),
            None => Resource::detect(),
        };
        let pipelines: Vec<Arc<Pipeline>> = self
            .readers
            .iter()
            .map(|reader| {
                let temporality = InstrumentKind::ALL.map(|kind| reader.temporality(kind));
                Arc::new(Pipeline::new(
                    resource.clone(),
                    temporality,
                    reader.cardinality_limit(),
                ))
            })
            .collect();
        let config = Arc::new(Config {
            views: self.views,
            pipelines: pipelines.clone(),
            exemplar_filter: self
                .exemplar_filter
                .or_else(|| ExemplarFilter::from_env(&ProcessEnv))
                .unwrap_or_default(),
            cardinality_limit: self.cardinality_limit.unwrap_or(DEFAULT_CARDINALITY_LIMIT),
            shut_down: AtomicBool::new(false),
        });
        for (reader, pipeline) in self.readers.iter().zip(pipelines) {
            reader.register(Producer::new(pipeline, Arc::clone(&config)));
        }
        MeterProvider {
            inner: Arc::new(ProviderInner {
                config,
                readers: self.readers,
                meters: Mutex::new(Vec::new()),
            }),
        }
    }
}

#[cfg(test)]
mod exact_resource_tests {
    use super::*;
    use crate::reader::ManualReader;

    fn collected_resource(builder: MeterProviderBuilder) -> Result<Resource, MetricError> {
        let reader = ManualReader::new();
        let _provider = builder.with_reader(reader.clone()).build();
        Ok(reader.collect()?.resource)
    }

    #[test]
    fn an_exact_resource_is_used_as_given_and_a_plain_one_is_merged() -> Result<(), MetricError> {
        let given = || Resource::builder().with_service_name("exact").build();
        let exact = collected_resource(MeterProvider::builder().with_exact_resource(given()))?;
        assert_eq!(exact, given());
        let merged = collected_resource(MeterProvider::builder().with_resource(given()))?;
        assert_eq!(merged.service_name(), Some("exact"));
        assert!(merged.get("telemetry.sdk.language").is_some());
        // The last setter wins.
        let plain_again = collected_resource(
            MeterProvider::builder()
                .with_exact_resource(given())
                .with_resource(given()),
        )?;
        assert!(plain_again.get("telemetry.sdk.language").is_some());
        Ok(())
    }
}
