//! The process-wide tracer provider, for code that does not pass tracers around (and for
//! `#[traced]`).
//!
//! Until a provider is installed, spans started here are non-recording: they cost almost
//! nothing but still carry context, so instrumented libraries work in programs that never
//! configure tracing.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{OnceLock, RwLock};

use telemetry_core::{KeyValue, Resource};

use crate::provider::TracerProvider;
use crate::sampler::Sampler;
use crate::span::Span;
use crate::tracer::Tracer;

/// The installed provider, if any.
static PROVIDER: RwLock<Option<TracerProvider>> = RwLock::new(None);

/// Bumped on every install. Written under the `PROVIDER` write lock; read by each thread's
/// cache to notice a new provider. Release on write and Acquire on read make the new
/// provider visible to a thread that sees the new generation.
static GENERATION: AtomicU64 = AtomicU64::new(1);

/// What each thread remembers, so the hot path takes no lock: the generation it saw, that
/// generation's provider, and the tracers it made for each scope name.
struct Cache {
    generation: u64,
    provider: TracerProvider,
    tracers: Vec<(&'static str, Tracer)>,
}

thread_local! {
    static CACHE: RefCell<Option<Cache>> = const { RefCell::new(None) };
}

/// A provider with no processors: its spans never record.
fn noop_provider() -> TracerProvider {
    static NOOP: OnceLock<TracerProvider> = OnceLock::new();
    NOOP.get_or_init(|| {
        TracerProvider::builder()
            .with_resource(Resource::empty())
            .with_sampler(Sampler::AlwaysOn)
            .build()
    })
    .clone()
}

/// Installs `provider` for the whole process, returning the previous one (which the
/// caller should shut down when it is done with it).
pub fn set_tracer_provider(provider: TracerProvider) -> Option<TracerProvider> {
    let mut slot = PROVIDER
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let previous = slot.replace(provider);
    GENERATION.fetch_add(1, Ordering::Release);
    previous
}

/// Removes the installed provider, returning it; later spans do not record.
pub fn take_tracer_provider() -> Option<TracerProvider> {
    let mut slot = PROVIDER
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let previous = slot.take();
    GENERATION.fetch_add(1, Ordering::Release);
    previous
}

/// The installed provider, or a non-recording one.
pub fn tracer_provider() -> TracerProvider {
    PROVIDER
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
        .unwrap_or_else(noop_provider)
}

/// A tracer of the installed provider for scope `name`.
pub fn tracer(name: &'static str) -> Tracer {
    with_tracer(name, Tracer::clone)
}

/// Runs `f` with this thread's cached tracer for scope `name` of the installed provider.
/// Lock-free unless a new provider was installed since this thread last looked.
pub fn with_tracer<R, F: FnOnce(&Tracer) -> R>(name: &'static str, f: F) -> R {
    // During thread teardown the cache is gone: build a tracer without it. (Checked first
    // because `try_with` would drop `f` along with its closure.)
    if CACHE.try_with(|_| ()).is_err() {
        return f(&tracer_provider().tracer(name));
    }
    let generation = GENERATION.load(Ordering::Acquire);
    let outcome: Result<R, F> = CACHE.with(move |cache| {
        // Fails only if `f` re-enters (a processor starting spans of its own).
        let Ok(mut cache) = cache.try_borrow_mut() else {
            return Err(f);
        };
        let cache = match &mut *cache {
            Some(cache) if cache.generation == generation => cache,
            stale => stale.insert(Cache {
                generation,
                provider: tracer_provider(),
                tracers: Vec::new(),
            }),
        };
        let index = match cache.tracers.iter().position(|(scope, _)| *scope == name) {
            Some(index) => index,
            None => {
                let tracer = cache.provider.tracer(name);
                cache.tracers.push((name, tracer));
                cache.tracers.len() - 1
            }
        };
        Ok(f(&cache.tracers[index].1))
    });
    outcome.unwrap_or_else(|f| f(&tracer_provider().tracer(name)))
}

/// Starts a span of the installed provider in scope `scope`, with `attributes`, as a child
/// of the current span. (`#[traced]` goes through [`with_tracer`] to set the kind as well.)
pub fn start_span(scope: &'static str, name: &'static str, attributes: Vec<KeyValue>) -> Span {
    with_tracer(scope, |tracer| {
        tracer
            .span_builder(name)
            .with_attributes(attributes)
            .start()
    })
}
