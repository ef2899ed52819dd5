//! Meters hand out instruments; asking twice for the same instrument returns the same one.

use std::any::{Any, TypeId};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use parking_lot::Mutex;
use telemetry_core::{InstrumentationScope, diagnostic};

use crate::error::{InstrumentError, InstrumentErrorKind, validate_name, validate_unit};
use crate::instrument::{
    AsyncCore, Callback, Counter, Gauge, Histogram, InstrumentDescriptor, InstrumentKind,
    ObservableCounter, ObservableGauge, ObservableUpDownCounter, Observer, RunCallbacks, SyncCore,
    UpDownCounter,
};
use crate::number::MetricValue;
use crate::pipeline::{Config, Registered};
use crate::stream::{AsyncStream, SyncStream};

/// Creates instruments for one instrumentation scope. Cloning is cheap; clones share the
/// instruments.
#[derive(Clone)]
pub struct Meter {
    inner: Arc<MeterInner>,
}

struct MeterInner {
    scope: InstrumentationScope,
    config: Arc<Config>,
    instruments: Mutex<Vec<Registration>>,
}

/// An instrument the meter has handed out.
struct Registration {
    /// Lowercased: instrument identity is case-insensitive.
    key: String,
    kind: InstrumentKind,
    value_type: TypeId,
    descriptor: InstrumentDescriptor,
    core: Arc<dyn Any + Send + Sync>,
}

impl Meter {
    pub(crate) fn new(scope: InstrumentationScope, config: Arc<Config>) -> Self {
        Meter {
            inner: Arc::new(MeterInner {
                scope,
                config,
                instruments: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The meter's instrumentation scope.
    pub fn scope(&self) -> &InstrumentationScope {
        &self.inner.scope
    }

    fn builder<I>(&self, name: &str) -> InstrumentBuilder<'_, I> {
        InstrumentBuilder {
            meter: self,
            name: name.to_owned(),
            description: String::new(),
            unit: String::new(),
            boundaries: None,
            attribute_keys: None,
            instrument: PhantomData,
        }
    }

    fn observable<I, T>(&self, name: &str) -> ObservableBuilder<'_, I, T> {
        ObservableBuilder {
            base: self.builder(name),
            callbacks: Vec::new(),
        }
    }

    /// A counter of unsigned integers.
    pub fn u64_counter(&self, name: &str) -> InstrumentBuilder<'_, Counter<u64>> {
        self.builder(name)
    }

    /// A counter of floats.
    pub fn f64_counter(&self, name: &str) -> InstrumentBuilder<'_, Counter<f64>> {
        self.builder(name)
    }

    /// An up-down counter of signed integers.
    pub fn i64_up_down_counter(&self, name: &str) -> InstrumentBuilder<'_, UpDownCounter<i64>> {
        self.builder(name)
    }

    /// An up-down counter of floats.
    pub fn f64_up_down_counter(&self, name: &str) -> InstrumentBuilder<'_, UpDownCounter<f64>> {
        self.builder(name)
    }

    /// A synchronous gauge of unsigned integers.
    pub fn u64_gauge(&self, name: &str) -> InstrumentBuilder<'_, Gauge<u64>> {
        self.builder(name)
    }

    /// A synchronous gauge of signed integers.
    pub fn i64_gauge(&self, name: &str) -> InstrumentBuilder<'_, Gauge<i64>> {
        self.builder(name)
    }

    /// A synchronous gauge of floats.
    pub fn f64_gauge(&self, name: &str) -> InstrumentBuilder<'_, Gauge<f64>> {
        self.builder(name)
    }

    /// A histogram of unsigned integers.
    pub fn u64_histogram(&self, name: &str) -> InstrumentBuilder<'_, Histogram<u64>> {
        self.builder(name)
    }

    /// A histogram of floats.
    pub fn f64_histogram(&self, name: &str) -> InstrumentBuilder<'_, Histogram<f64>> {
        self.builder(name)
    }

    /// An observable counter of unsigned integers.
    pub fn u64_observable_counter(
        &self,
        name: &str,
    ) -> ObservableBuilder<'_, ObservableCounter<u64>, u64> {
        self.observable(name)
    }

    /// An observable counter of floats.
    pub fn f64_observable_counter(
        &self,
        name: &str,
    ) -> ObservableBuilder<'_, ObservableCounter<f64>, f64> {
        self.observable(name)
    }

    /// An observable up-down counter of signed integers.
    pub fn i64_observable_up_down_counter(
        &self,
        name: &str,
    ) -> ObservableBuilder<'_, ObservableUpDownCounter<i64>, i64> {
        self.observable(name)
    }

    /// An observable up-down counter of floats.
    pub fn f64_observable_up_down_counter(
        &self,
        name: &str,
    ) -> ObservableBuilder<'_, ObservableUpDownCounter<f64>, f64> {
        self.observable(name)
    }

    /// An observable gauge of unsigned integers.
    pub fn u64_observable_gauge(
        &self,
        name: &str,
    ) -> ObservableBuilder<'_, ObservableGauge<u64>, u64> {
        self.observable(name)
    }

    /// An observable gauge of signed integers.
    pub fn i64_observable_gauge(
        &self,
        name: &str,
    ) -> ObservableBuilder<'_, ObservableGauge<i64>, i64> {
        self.observable(name)
    }

    /// An observable gauge of floats.
    pub fn f64_observable_gauge(
        &self,
        name: &str,
    ) -> ObservableBuilder<'_, ObservableGauge<f64>, f64> {
        self.observable(name)
    }

    /// Finds an instrument registered with the same identity, warning about conflicts.
    fn existing(
        registrations: &[Registration],
        descriptor: &InstrumentDescriptor,
        value_type: TypeId,
    ) -> Option<Arc<dyn Any + Send + Sync>> {
        let key = descriptor.name.to_ascii_lowercase();
        let mut found = None;
        for registration in registrations.iter().filter(|r| r.key == key) {
            if registration.kind == descriptor.kind && registration.value_type == value_type {
                let first = &registration.descriptor;
                if first.unit != descriptor.unit || first.description != descriptor.description {
                    diagnostic::report(
                        "metrics",
                        format_args!(
                            "instrument {:?} registered again with another unit or description; \
                             keeping the first ({:?}, {:?})",
                            descriptor.name, first.unit, first.description
                        ),
                    );
                }
                found = Some(Arc::clone(&registration.core));
            } else {
                diagnostic::report(
                    "metrics",
                    format_args!(
                        "instrument {:?} registered again as another kind or value type; both \
                         streams are exported under conflicting identities",
                        descriptor.name
                    ),
                );
            }
        }
        found
    }

    fn sync_core<T: MetricValue>(
        &self,
        descriptor: InstrumentDescriptor,
    ) -> Result<Arc<SyncCore>, InstrumentError> {
        let mut registrations = self.inner.instruments.lock();
        if let Some(core) = Self::existing(&registrations, &descriptor, TypeId::of::<T>())
            && let Ok(core) = core.downcast::<SyncCore>()
        {
            return Ok(core);
        }
        let config = &self.inner.config;
        let mut streams = Vec::new();
        if !config.is_shut_down() {
            for pipeline in &config.pipelines {
                for settings in
                    config.stream_settings(pipeline, &descriptor, &self.inner.scope, T::FLOAT)
                {
                    let stream = Arc::new(SyncStream::new(settings));
                    pipeline.register(&self.inner.scope, Registered::Sync(Arc::clone(&stream)));
                    streams.push(stream);
                }
            }
        }
        let core = Arc::new(SyncCore::new(
            descriptor.clone(),
            streams,
            config.exemplar_filter,
        ));
        registrations.push(Registration {
            key: descriptor.name.to_ascii_lowercase(),
            kind: descriptor.kind,
            value_type: TypeId::of::<T>(),
            descriptor,
            core: Arc::clone(&core) as Arc<dyn Any + Send + Sync>,
        });
        Ok(core)
    }

    fn async_core<T: MetricValue>(
        &self,
        descriptor: InstrumentDescriptor,
        callbacks: Vec<Callback<T>>,
    ) -> Arc<AsyncCore<T>> {
        let mut registrations = self.inner.instruments.lock();
        if let Some(core) = Self::existing(&registrations, &descriptor, TypeId::of::<T>())
            && let Ok(core) = core.downcast::<AsyncCore<T>>()
        {
            core.callbacks.write().extend(callbacks);
            return core;
        }
        let core = Arc::new(AsyncCore::new(descriptor.clone(), callbacks));
        let config = &self.inner.config;
        if !config.is_shut_down() {
            for pipeline in &config.pipelines {
                let streams: Arc<[Arc<AsyncStream>]> = config
                    .stream_settings(pipeline, &descriptor, &self.inner.scope, T::FLOAT)
                    .into_iter()
                    .map(|settings| Arc::new(AsyncStream::new(settings)))
                    .collect();
                if !streams.is_empty() {
                    pipeline.register(
                        &self.inner.scope,
                        Registered::Async {
                            instrument: Arc::clone(&core) as Arc<dyn RunCallbacks>,
                            streams,
                        },
                    );
                }
            }
        }
        registrations.push(Registration {
            key: descriptor.name.to_ascii_lowercase(),
            kind: descriptor.kind,
            value_type: TypeId::of::<T>(),
            descriptor,
            core: Arc::clone(&core) as Arc<dyn Any + Send + Sync>,
        });
        core
    }
}

impl fmt::Debug for Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Meter")
            .field("scope", &self.inner.scope)
            .field("instruments", &self.inner.instruments.lock().len())
            .finish_non_exhaustive()
    }
}

/// Configures a synchronous instrument before [`build`](InstrumentBuilder::build).
#[must_use = "an instrument builder does nothing until built"]
pub struct InstrumentBuilder<'a, I> {
    meter: &'a Meter,
    name: String,
    description: String,
    unit: String,
    boundaries: Option<Vec<f64>>,
    attribute_keys: Option<Vec<String>>,
    instrument: PhantomData<I>,
}

impl<I> InstrumentBuilder<'_, I> {
    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the unit (UCUM, e.g. `ms`, `By`, `{request}`).
    pub fn with_unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = unit.into();
        self
    }

    /// Advisory attribute keys: the stream keeps only these unless a view says otherwise.
    pub fn with_attribute_keys(
        mut self,
        keys: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.attribute_keys = Some(keys.into_iter().map(Into::into).collect());
        self
    }

    fn descriptor(&self, kind: InstrumentKind) -> Result<InstrumentDescriptor, InstrumentError> {
        validate_name(&self.name)?;
        validate_unit(&self.name, &self.unit)?;
        if let Some(bounds) = &self.boundaries {
            let ok = bounds.iter().all(|b| b.is_finite()) && bounds.windows(2).all(|w| w[0] < w[1]);
            if !ok {
                return Err(InstrumentError::new(
                    InstrumentErrorKind::InvalidBoundaries,
                    &self.name,
                ));
            }
        }
        Ok(InstrumentDescriptor {
            name: self.name.clone(),
            description: self.description.clone(),
            unit: self.unit.clone(),
            kind,
            advisory_boundaries: self.boundaries.clone(),
            advisory_attribute_keys: self.attribute_keys.clone(),
        })
    }
}

impl<T: MetricValue> InstrumentBuilder<'_, Histogram<T>> {
    /// Advisory bucket boundaries, used unless a view sets others.
    pub fn with_boundaries(mut self, boundaries: impl Into<Vec<f64>>) -> Self {
        self.boundaries = Some(boundaries.into());
        self
    }
}

impl<I> fmt::Debug for InstrumentBuilder<'_, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentBuilder")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("unit", &self.unit)
            .finish_non_exhaustive()
    }
}

macro_rules! build_sync {
    ($instrument:ident, $kind:ident) => {
        impl<T: MetricValue> InstrumentBuilder<'_, $instrument<T>> {
            /// The instrument, or why its name or unit is invalid. Asking again for the same
            /// name (any case), kind and value type returns the same instrument.
            pub fn build(self) -> Result<$instrument<T>, InstrumentError> {
                let descriptor = self.descriptor(InstrumentKind::$kind)?;
                self.meter
                    .sync_core::<T>(descriptor)
                    .map($instrument::from_core)
            }
        }
    };
}

build_sync!(Counter, Counter);
build_sync!(UpDownCounter, UpDownCounter);
build_sync!(Gauge, Gauge);
build_sync!(Histogram, Histogram);

/// Configures an observable instrument and its callbacks.
#[must_use = "an instrument builder does nothing until built"]
pub struct ObservableBuilder<'a, I, T> {
    base: InstrumentBuilder<'a, I>,
    callbacks: Vec<Callback<T>>,
}

impl<I, T: MetricValue> ObservableBuilder<'_, I, T> {
    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.base.description = description.into();
        self
    }

    /// Sets the unit.
    pub fn with_unit(mut self, unit: impl Into<String>) -> Self {
        self.base.unit = unit.into();
        self
    }

    /// Adds a callback, run on every collection of every reader. It should be quick and must
    /// not block on the metrics pipeline.
    pub fn with_callback(
        mut self,
        callback: impl Fn(&Observer<'_, T>) + Send + Sync + 'static,
    ) -> Self {
        self.callbacks.push(Arc::new(callback));
        self
    }
}

impl<I, T> fmt::Debug for ObservableBuilder<'_, I, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObservableBuilder")
            .field("name", &self.base.name)
            .field("callbacks", &self.callbacks.len())
            .finish_non_exhaustive()
    }
}

macro_rules! build_async {
    ($instrument:ident, $kind:ident) => {
        impl<T: MetricValue> ObservableBuilder<'_, $instrument<T>, T> {
            /// The instrument, or why its name or unit is invalid. Registering the same
            /// instrument again adds these callbacks to it.
            pub fn build(self) -> Result<$instrument<T>, InstrumentError> {
                let descriptor = self.base.descriptor(InstrumentKind::$kind)?;
                Ok($instrument::from_core(
                    self.base.meter.async_core(descriptor, self.callbacks),
                ))
            }
        }
    };
}

build_async!(ObservableCounter, ObservableCounter);
build_async!(ObservableUpDownCounter, ObservableUpDownCounter);
build_async!(ObservableGauge, ObservableGauge);
