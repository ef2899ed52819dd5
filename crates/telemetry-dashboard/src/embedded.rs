//! Exporters that put the host program's own telemetry straight into the dashboard's store,
//! without encoding or a socket: the embedded mode.

use std::sync::Arc;

use telemetry_core::{InstrumentationScope, Resource};
use telemetry_logs::{LogExporter, LogRecord};
use telemetry_metrics::PushMetricExporter;
use telemetry_metrics::data::ResourceMetrics;
use telemetry_otlp::{
    LogsData, MetricsData, ResourceLogs, ResourceSpans, ScopeLogs, ScopeSpans, TracesData,
};
use telemetry_span::{SpanData, SpanExporter};

use crate::backend::{Backend, IngestOutcome, IngestSource, Transport};
use crate::store::Store;

const EMBEDDED: IngestSource = IngestSource {
    transport: Transport::Embedded,
    peer: None,
};

/// Groups items by scope, keeping the order of first appearance.
fn by_scope<T: Clone>(
    items: &[T],
    scope: impl Fn(&T) -> &InstrumentationScope,
) -> Vec<(InstrumentationScope, Vec<T>)> {
    let mut groups: Vec<(InstrumentationScope, Vec<T>)> = Vec::new();
    for item in items {
        let item_scope = scope(item);
        match groups.iter_mut().rev().find(|(s, _)| s == item_scope) {
            Some((_, list)) => list.push(item.clone()),
            None => groups.push((item_scope.clone(), vec![item.clone()])),
        }
    }
    groups
}

/// A [`SpanExporter`] into a [`Store`]. The store never refuses with backpressure; spans it
/// refuses (see the store's docs) are counted in its health figures, and the export still
/// succeeds, as retrying them would not help.
#[derive(Debug)]
pub struct DashboardSpanExporter {
    store: Arc<Store>,
    resource: Resource,
}

impl DashboardSpanExporter {
    /// An exporter into `store`; the provider sets the resource.
    pub fn new(store: Arc<Store>) -> Self {
        DashboardSpanExporter {
            store,
            resource: Resource::empty(),
        }
    }
}

impl SpanExporter for DashboardSpanExporter {
    fn export(&mut self, batch: &[SpanData]) -> Result<(), telemetry_span::ExportError> {
        if batch.is_empty() {
            return Ok(());
        }
        let scope_spans = by_scope(batch, |span| &span.scope)
            .into_iter()
            .map(|(scope, spans)| ScopeSpans {
                scope,
                scope_dropped_attributes_count: 0,
                spans,
            })
            .collect();
        let data = TracesData {
            resource_spans: vec![ResourceSpans {
                resource: self.resource.clone(),
                resource_dropped_attributes_count: 0,
                scope_spans,
            }],
        };
        match self.store.ingest_traces(data, &EMBEDDED) {
            IngestOutcome::Accepted { .. } => Ok(()),
            IngestOutcome::Backpressure { .. } => Err(telemetry_span::ExportError::new(
                telemetry_span::ExportErrorKind::Unavailable,
            )),
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.clone();
    }
}

/// A [`PushMetricExporter`] into a [`Store`]; the collection carries its own resource.
#[derive(Debug)]
pub struct DashboardMetricExporter {
    store: Arc<Store>,
}

impl DashboardMetricExporter {
    /// An exporter into `store`.
    pub fn new(store: Arc<Store>) -> Self {
        DashboardMetricExporter { store }
    }
}

impl PushMetricExporter for DashboardMetricExporter {
    fn export(&mut self, metrics: &ResourceMetrics) -> Result<(), telemetry_metrics::ExportError> {
        let data = MetricsData {
            resource_metrics: vec![metrics.clone()],
        };
        match self.store.ingest_metrics(data, &EMBEDDED) {
            IngestOutcome::Accepted { .. } => Ok(()),
            IngestOutcome::Backpressure { .. } => Err(telemetry_metrics::ExportError::new(
                telemetry_metrics::ExportErrorKind::Unavailable,
            )),
        }
    }
}

/// A [`LogExporter`] into a [`Store`].
#[derive(Debug)]
pub struct DashboardLogExporter {
    store: Arc<Store>,
    resource: Resource,
}

impl DashboardLogExporter {
    /// An exporter into `store`; the provider sets the resource.
    pub fn new(store: Arc<Store>) -> Self {
        DashboardLogExporter {
            store,
            resource: Resource::empty(),
        }
    }
}

impl LogExporter for DashboardLogExporter {
    fn export(&mut self, batch: &[LogRecord]) -> Result<(), telemetry_logs::ExportError> {
        if batch.is_empty() {
            return Ok(());
        }
        let scope_logs = by_scope(batch, |record| &record.scope)
            .into_iter()
            .map(|(scope, records)| ScopeLogs {
                scope,
                scope_dropped_attributes_count: 0,
                records,
            })
            .collect();
        let data = LogsData {
            resource_logs: vec![ResourceLogs {
                resource: self.resource.clone(),
                resource_dropped_attributes_count: 0,
                scope_logs,
            }],
        };
        match self.store.ingest_logs(data, &EMBEDDED) {
            IngestOutcome::Accepted { .. } => Ok(()),
            IngestOutcome::Backpressure { .. } => Err(telemetry_logs::ExportError::new(
                telemetry_logs::ExportErrorKind::Unavailable,
            )),
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.clone();
    }
}
