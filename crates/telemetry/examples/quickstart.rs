//! Spans, metrics and logs: to the console always, and to an OTLP collector when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or another `OTEL_*` variable) says where one listens.
//!
//! ```text
//! cargo run -p telemetry --example quickstart
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 cargo run -p telemetry --example quickstart
//! ```
#![allow(
    clippy::print_stdout,
    reason = "an example reports to its user on stdout"
)]

use std::error::Error;
use std::fmt;
use std::time::Instant;

use telemetry::prelude::*;
use telemetry::{ExporterKind, TelemetryBuilder};

/// Why a price could not be found.
#[derive(Debug)]
struct UnknownItem(String);

impl fmt::Display for UnknownItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no price for {:?}", self.0)
    }
}

impl Error for UnknownItem {}

/// A span per call; an `Err` marks it ERROR with an exception event.
#[traced(name = "price.lookup", fields(item))]
fn price_of(item: &str) -> Result<f64, UnknownItem> {
    match item {
        "apple" => Ok(0.5),
        "pear" => Ok(0.75),
        _ => Err(UnknownItem(item.to_owned())),
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    // Console always; OTLP as well when the environment names a collector.
    let mut exporters = vec![ExporterKind::Console];
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
        || std::env::var_os("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
    {
        exporters.push(ExporterKind::Otlp);
    }
    let mut builder = TelemetryBuilder::from_env().with_exporters(exporters);
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        builder = builder.with_service_name("quickstart");
    }
    let guard = builder.init();

    let orders = telemetry::create_counter("shop.orders")?;
    telemetry::create_histogram("shop.checkout.duration")?;

    let checkout = telemetry::start_span("checkout", None);
    checkout.set_attribute(KeyValue::new("customer.tier", "gold"));
    {
        let _current = checkout.enter();
        let started = Instant::now();
        let mut total = 0.0;
        for item in ["apple", "pear", "durian"] {
            match price_of(item) {
                Ok(price) => total += price,
                // The `log` feature routes `log` records into the pipeline, with the current
                // span's trace id.
                Err(error) => log::warn!("skipping an item: {error}"),
            }
        }
        orders.add(1.0, &[KeyValue::new("payment", "card")]);
        telemetry::record_metric(
            "shop.checkout.duration",
            started.elapsed().as_secs_f64(),
            &[KeyValue::new("payment", "card")],
        )?;
        // Records can also be emitted directly, without the `log` crate.
        guard.telemetry().logger().emit(
            LogRecord::new(Severity::INFO)
                .with_body(format!("order placed, total {total:.2}"))
                .with_attribute("order.items", 2),
        );
        println!(
            "quickstart: checkout trace_id={} total={total:.2}",
            checkout.span_context().trace_id()
        );
    }
    drop(checkout);

    // Flushes every signal and shuts the exporters down: the metrics appear now.
    drop(guard);
    Ok(())
}
