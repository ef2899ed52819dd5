//! A program instrumented only with `tracing` (`#[instrument]`, `info_span!`, `info!`)
//! shows up in our traces and logs without a code change: two layers do it, our
//! `TracingSpanLayer` for spans and `telemetry-logs`' `TracingLayer` for events.
//!
//! Run with `cargo run -p telemetry-span --example tracing_bridge`. It prints the span tree
//! and the log records, each record with the span it was emitted in, then checks them (the
//! test `tracing_bridge::the_example_runs` runs the same `main`).
#![allow(clippy::print_stdout, reason = "an example prints what it did")]

use std::error::Error;
use std::fmt;

use telemetry_core::{Resource, SpanId};
use telemetry_logs::{InMemoryLogExporter, LogRecord, LoggerProvider, Severity, TracingLayer};
use telemetry_span::{
    InMemorySpanExporter, SpanData, SpanKind, Status, TracerProvider, TracingSpanLayer,
};
use tracing::field::Empty;
use tracing_subscriber::layer::SubscriberExt;

/// The card limit, in cents, above which `charge` fails.
const LIMIT_CENTS: u64 = 10_000;

/// Why a payment failed.
#[derive(Debug)]
enum PaymentError {
    /// The amount was over the card's limit.
    Declined { amount_cents: u64 },
}

impl fmt::Display for PaymentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PaymentError::Declined { amount_cents } => {
                write!(f, "card declined: {amount_cents} cents is over the limit")
            }
        }
    }
}

impl Error for PaymentError {}

// ---------------------------------------------------------------------------------------------
// The instrumented program: it knows nothing of telemetry.

#[tracing::instrument(fields(otel.kind = "server", error = Empty))]
fn checkout(order_id: u64, amount_cents: u64) -> Result<(), PaymentError> {
    validate(order_id);
    let result = charge(amount_cents);
    if let Err(error) = &result {
        tracing::Span::current().record("error", error as &dyn Error);
        tracing::warn!(order_id, "checkout failed");
    } else {
        notify(order_id);
    }
    result
}

#[tracing::instrument]
fn validate(order_id: u64) {
    tracing::info!("order is valid");
}

#[tracing::instrument(fields(otel.kind = "client"))]
fn charge(amount_cents: u64) -> Result<(), PaymentError> {
    if amount_cents > LIMIT_CENTS {
        return Err(PaymentError::Declined { amount_cents });
    }
    tracing::info!(amount_cents, "charged");
    Ok(())
}

/// Sends the receipt from another thread, under the checkout span.
fn notify(order_id: u64) {
    let parent = tracing::Span::current();
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            tracing::dispatcher::with_default(&dispatch, || {
                let _span =
                    tracing::info_span!(parent: &parent, "send receipt", order_id).entered();
                tracing::info!("receipt sent");
            });
        });
    });
}

// ---------------------------------------------------------------------------------------------
// The pipelines, and what they received.

pub(crate) fn main() -> Result<(), Box<dyn Error>> {
    let span_exporter = InMemorySpanExporter::new();
    let tracer_provider = TracerProvider::builder()
        .with_resource(Resource::builder().with_service_name("shop").build())
        .with_simple_exporter(span_exporter.clone())
        .build();
    let log_exporter = InMemoryLogExporter::new();
    let logger_provider = LoggerProvider::builder()
        .with_resource(Resource::builder().with_service_name("shop").build())
        .with_min_severity(Severity::INFO)
        .with_simple_exporter(log_exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(TracingSpanLayer::new(tracer_provider.tracer("shop")))
        .with(TracingLayer::new(&logger_provider));

    let outcomes = tracing::subscriber::with_default(subscriber, || {
        [checkout(1, 2_500).is_ok(), checkout(2, 25_000).is_ok()]
    });
    tracer_provider.shutdown()?;
    logger_provider.shutdown()?;

    let spans = span_exporter.finished_spans();
    let records = log_exporter.records();
    println!("spans:");
    print_tree(&spans, SpanId::INVALID, 1);
    println!("log records:");
    for record in &records {
        let span = spans
            .iter()
            .find(|span| span.span_context.span_id() == record.span_id)
            .map_or("-", |span| &span.name);
        println!(
            "  {:<5} {:<16} span={span} trace_id={} span_id={}",
            record.severity.name(),
            record.body.to_string(),
            record.trace_id,
            record.span_id,
        );
    }

    check(outcomes, &spans, &records);
    Ok(())
}

fn print_tree(spans: &[SpanData], parent: SpanId, depth: usize) {
    for span in spans.iter().filter(|span| span.parent_span_id == parent) {
        let attributes: Vec<String> = span
            .attributes
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect();
        println!(
            "{}{} kind={:?} status={:?} span_id={} [{}]",
            "  ".repeat(depth),
            span.name,
            span.kind,
            span.status,
            span.span_context.span_id(),
            attributes.join(", "),
        );
        print_tree(spans, span.span_context.span_id(), depth + 1);
    }
}

/// What the bridges must have made of the program.
fn check(outcomes: [bool; 2], spans: &[SpanData], records: &[LogRecord]) {
    assert_eq!(outcomes, [true, false], "order 2 is declined");
    let names = |parent: SpanId| {
        let mut names: Vec<&str> = spans
            .iter()
            .filter(|span| span.parent_span_id == parent)
            .map(|span| span.name.as_str())
            .collect();
        names.sort_unstable();
        names
    };
    let roots: Vec<&SpanData> = spans
        .iter()
        .filter(|span| span.parent_span_id == SpanId::INVALID)
        .collect();
    assert_eq!(roots.len(), 2, "one trace per checkout");
    let (ok, declined) = (roots[0], roots[1]);
    assert_ne!(ok.span_context.trace_id(), declined.span_context.trace_id());
    assert_eq!(
        names(ok.span_context.span_id()),
        ["charge", "send receipt", "validate"]
    );
    assert_eq!(
        names(declined.span_context.span_id()),
        ["charge", "validate"]
    );
    assert_eq!(ok.kind, SpanKind::Server);
    assert_eq!(ok.status, Status::Unset);
    assert_eq!(
        declined.status,
        Status::error("card declined: 25000 cents is over the limit")
    );
    assert!(
        spans
            .iter()
            .filter(|span| span.name == "charge")
            .all(|span| span.kind == SpanKind::Client)
    );

    assert_eq!(
        records.len(),
        5,
        "validated twice, charged and receipt once, one warning"
    );
    for record in records {
        let span = spans
            .iter()
            .find(|span| span.span_context.span_id() == record.span_id)
            .expect("every record was emitted inside a span, and carries its id");
        assert_eq!(record.trace_id, span.span_context.trace_id());
        let expected = match record.body.to_string().as_str() {
            "order is valid" => "validate",
            "charged" => "charge",
            "receipt sent" => "send receipt",
            "checkout failed" => "checkout",
            other => panic!("unexpected record {other:?}"),
        };
        assert_eq!(span.name, expected);
    }
}

#[cfg(test)]
mod tests {
    /// `cargo test --examples` runs this; `tests/tracing_bridge.rs` includes the file, so
    /// `cargo test` does too.
    #[test]
    fn the_example_checks_pass() {
        super::main().expect("the example runs");
    }
}
