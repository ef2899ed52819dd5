//! `#[traced]`: wraps a function in a span of the global tracer provider.
//!
//! The attribute goes on free functions, methods (any receiver) and `async fn`s, generic
//! or not. Each call starts a span as a child of the current span, makes it current for
//! the body, and ends it when the call returns (for an `async fn`: when its future
//! completes or is dropped). Spans go to the provider installed with
//! `telemetry_span::global::set_tracer_provider`;
//! until one is installed they are non-recording and cost almost nothing.
//!
//! # Syntax
//!
//! All options are optional and may come in any order:
//!
//! ```text
//! #[traced(
//!     name = "checkout",                          // default: concat!(module_path!(), "::", "fn_name")
//!     kind = "server",                            // "internal" (default), "server", "client", "producer", "consumer"
//!     attributes(user.tier = "gold", "http.route" = route(), retries = 3),
//!     fields(order_id, items),                    // or record(...): arguments recorded as attributes
//!     crate = ::my_reexport::telemetry,           // where the facade is, if not found by name
//! )]
//! ```
//!
//! - **`name`**: a string literal. The default is the function's module path and name,
//!   e.g. `my_app::orders::checkout`; for methods the type is not part of it.
//! - **`attributes(...)`**: keys are string literals, idents, or dotted idents
//!   (`http.request.method`); values are any expressions `KeyValue::new` accepts
//!   (`impl Into<Value>`: integers, floats, bools, `String`, `&'static str`, ...). They are
//!   evaluated when the span starts, inside a closure (no `.await` or `?` in them; a value
//!   used by name is moved in, so `.clone()` what the body still needs), and only when a
//!   provider that records is installed: do not rely on their side effects.
//! - **`fields(...)`** (alias `record(...)`): names arguments bound by a plain
//!   `name: Type` pattern; each becomes an attribute named after the argument. The value is
//!   native when the declared type is obviously a `bool`, integer, float, `String` or
//!   `str` (also behind references: `&str`, `&i64`); `u64`, `usize`, `i128` and the like
//!   become integers when they fit in `i64`, else strings. Every other type is recorded as
//!   its `Debug` formatting (`format!("{:?}", arg)`), so it must implement `Debug`. Naming
//!   something that is not an argument is a compile error pointing at the name.
//! - **`crate`**: see [Paths](#paths).
//!
//! # Status
//!
//! The span's status stays UNSET unless something sets it: `#[traced]` never sets OK.
//!
//! - If the return type's last path segment is `Result` (`Result<T, E>`, `io::Result<T>`,
//!   `anyhow::Result<T>`), an `Err(e)` adds an `exception` event with `exception.type` =
//!   the error's Rust type name and `exception.message` = `e.to_string()`, and sets the
//!   status to ERROR with that message. **The error type must implement `Display`**
//!   (`std::error::Error` types do); the check is syntactic, so the type must be
//!   `core::result::Result` or an alias of it. The `source()` chain is not recorded: call
//!   `SpanRef::record_error` yourself for that.
//! - If the body panics, the span gets an `exception` event with `exception.type` =
//!   `"panic"` and `exception.message` = `"the function panicked"` (the payload cannot be
//!   seen from where the span is finished), its status becomes ERROR, it ends and is
//!   exported, and the panic goes on unwinding.
//!
//! # Example
//!
//! ```
//! use telemetry_core::Value;
//! use telemetry_macros::traced;
//! use telemetry_span::{InMemorySpanExporter, Status, TracerProvider, global};
//!
//! #[traced(attributes(cache.hit = false), fields(path))]
//! fn load(path: &str) -> std::io::Result<String> {
//!     std::fs::read_to_string(path)
//! }
//!
//! #[traced(name = "startup", kind = "internal")]
//! async fn startup() -> usize {
//!     load("/no/such/file").map_or(0, |text| text.len())
//! }
//!
//! let exporter = InMemorySpanExporter::new();
//! let provider = TracerProvider::builder().with_simple_exporter(exporter.clone()).build();
//! global::set_tracer_provider(provider.clone());
//!
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! assert_eq!(runtime.block_on(startup()), 0);
//!
//! let spans = exporter.finished_spans();
//! let (load, startup) = (&spans[0], &spans[1]);
//! assert_eq!(startup.name, "startup");
//! assert!(load.name.ends_with("::load"));
//! assert_eq!(load.parent_span_id, startup.span_context.span_id());
//! assert_eq!(load.attributes[1].value, Value::from("/no/such/file"));
//! assert!(matches!(load.status, Status::Error { .. }));
//! assert_eq!(load.events[0].name, "exception");
//! assert_eq!(startup.status, Status::Unset);
//! provider.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Expansion
//!
//! For a synchronous function (names are hygienic in the real expansion):
//!
//! ```text
//! fn load(path: &str) -> io::Result<String> {
//!     struct Guard { span: Span, panicking: bool }   // Drop: ERROR + exception if a panic began
//!     let guard = Guard {
//!         span: global::with_tracer(module_path!(), |t| t.span_builder(NAME).with_kind(..)
//!             .with_attributes(vec![KeyValue::new("path", path.to_string()), ..]).start()),
//!         panicking: std::thread::panicking(),
//!     };
//!     let entered = guard.span.enter();               // current for the body
//!     { body }                                         // Result functions: the body runs in an
//! }                                                    // FnOnce closure, then Err is recorded
//! ```
//!
//! An `async fn` stays an `async fn`; its body becomes
//!
//! ```text
//!     let guard = Guard { span: /* as above */, panicking: std::thread::panicking() };
//!     let cx = guard.span.context_with(&Context::current());
//!     FutureExt::with_context(async move { body }, cx).await   // then Err is recorded
//! ```
//!
//! # Design
//!
//! - **Panics are seen by a drop guard**, not `catch_unwind`: the guard owns the span and,
//!   in `Drop`, checks `std::thread::panicking()` (and that the thread was not already
//!   unwinding when the function started). This needs no `UnwindSafe` bound, works the
//!   same for sync bodies and for futures (a panic in `poll` drops the future's locals),
//!   never interferes with unwinding, and costs one thread-local read per call. A future
//!   dropped while its thread unwinds from some other panic is also marked as panicked.
//! - **Async bodies use `with_context`**, not a guard held across `.await`: the context is
//!   attached for the duration of each `poll` and detached before it returns, so the span
//!   is current on whichever worker thread polls the body and never leaks into other
//!   tasks. As with any `async fn`, the span starts on the first poll, as a child of what
//!   is current then. A task spawned from inside a traced function does not inherit the
//!   context by itself: spawn `child().with_current_context()` (from
//!   `telemetry_context::FutureExt`).
//! - A function that is not `async` but returns a future or an iterator is traced only
//!   while it builds that value.
//! - In a synchronous function returning a `Result`, the body runs in a closure (so that
//!   its `return`s and `?`s can be seen); there, `Location::caller()` of a
//!   `#[track_caller]` function names the macro's call instead of the caller.
//!
//! # Paths
//!
//! The generated code needs `telemetry-span`, `telemetry-context` and `telemetry-core`. It
//! finds them, in this order:
//!
//! 1. with `#[traced(crate = path)]`, under `path::__private::{span, context, core}`;
//! 2. if the calling crate depends on the facade `telemetry` (found in its `Cargo.toml`,
//!    renames followed), under `::telemetry::__private::{span, context, core}`;
//! 3. otherwise as `::telemetry_span`, `::telemetry_context` and `::telemetry_core` (or
//!    their renames): the caller must then depend on all three directly.
//!
//! So a facade must provide:
//!
//! ```text
//! #[doc(hidden)]
//! pub mod __private {
//!     pub use telemetry_context as context;
//!     pub use telemetry_core as core;
//!     pub use telemetry_span as span;
//! }
//! ```
//!
//! Used under it: `span::{Span, SpanKind, Status}`, `span::global::with_tracer`,
//! `context::{Context, FutureExt}`, `core::{KeyValue, Value}`. A facade that uses
//! `#[traced]` in its own library code also needs `extern crate self as telemetry;`
//! (its tests, examples and doc tests do not).
#![forbid(unsafe_code)]

mod expand;
mod options;
mod paths;

use proc_macro::TokenStream;

/// Wraps the function in a span: see the [crate docs](crate) for the options, the status
/// rules and the expansion.
///
/// ```
/// # use telemetry_macros::traced;
/// #[traced(name = "db.query", kind = "client", attributes("db.system" = "sqlite"), fields(sql))]
/// fn query(sql: &str) -> Result<usize, std::fmt::Error> {
///     Ok(sql.len())
/// }
/// assert_eq!(query("SELECT 1"), Ok(8));
/// ```
#[proc_macro_attribute]
pub fn traced(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::traced(attr.into(), item.into()).into()
}
