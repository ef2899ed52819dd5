//! The floor every `telemetry` crate stands on: identifiers, attribute values, resources,
//! instrumentation scopes, and the clock.
//!
//! - [`TraceId`] and [`SpanId`]: W3C/OTLP identifiers, random from a thread-local generator
//!   (never all-zero), strict lowercase-hex parsing and allocation-free formatting.
//! - [`Value`], [`KeyValue`], [`StringValue`]: OTLP's `AnyValue` model; static strings are
//!   stored without allocating, because most keys and names in instrumented code are static.
//! - [`Resource`]: what produces the telemetry, with the spec's defaults
//!   (`service.name = unknown_service:<executable>`, `telemetry.sdk.*` naming this SDK) and
//!   the `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` variables.
//! - [`InstrumentationScope`]: which library emitted it.
//! - [`Timestamp`]: nanoseconds since the Unix epoch, read from the TSC where that is safe.
//! - [`env`](mod@env) and [`diagnostic`]: reading `OTEL_*` variables by the spec's rules, and where
//!   the SDK's warnings go.
//!
//! This crate depends on no other workspace crate; everything above builds on it.
//!
//! # Example
//!
//! ```
//! use telemetry_core::{KeyValue, Resource, SpanId, Timestamp, TraceId};
//!
//! let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736")?;
//! assert_eq!(trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! assert!(SpanId::random().is_valid());
//!
//! let resource = Resource::builder()
//!     .with_service_name("checkout")
//!     .with_attribute(KeyValue::new("deployment.environment", "prod"))
//!     .build();
//! assert_eq!(resource.service_name(), Some("checkout"));
//!
//! let start = Timestamp::now();
//! assert!(Timestamp::now() >= start);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Untrusted input
//!
//! [`TraceId::from_hex`], [`SpanId::from_hex`] and [`parse_resource_attributes`] take input
//! from outside the program. They check every byte, never panic, and allocate at most in
//! proportion to their input.
#![forbid(unsafe_code)]

mod clock;
pub mod diagnostic;
pub mod env;
mod hex;
mod id;
pub mod line;
mod resource;
mod rng;
mod scope;
mod value;

pub use clock::{ClockSource, Timestamp};
pub use id::{IdError, IdErrorKind, SpanId, TraceId};
pub use resource::{
    MergeError, Resource, ResourceAttributesError, ResourceAttributesErrorKind, ResourceBuilder,
    SDK_NAME, SDK_VERSION, parse_resource_attributes,
};
pub use scope::{InstrumentationScope, InstrumentationScopeBuilder};
pub use value::{Key, KeyValue, StringValue, Value};
