//! The resource is detected once, from the builder's own variables: `init` reports a bad
//! `OTEL_RESOURCE_ATTRIBUTES` once (not once per provider), and a builder made from a map
//! ignores the process environment. It changes the process's variables, so it is the only
//! test in this file (its own process).

use std::sync::Mutex;

use telemetry::TelemetryBuilder;
use telemetry::core::diagnostic::{Diagnostic, set_diagnostic_handler};

static REPORTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record(diagnostic: &Diagnostic<'_>) {
    REPORTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(format!("{}: {}", diagnostic.component, diagnostic.message));
}

fn set(key: &str, value: &str) {
    // SAFETY: no other thread of this test process reads the environment now: this file
    // holds one test, and it sets variables only while no pipeline is installed.
    unsafe { std::env::set_var(key, value) };
}

#[test]
fn the_resource_is_detected_once_from_the_builders_own_variables()
-> Result<(), Box<dyn std::error::Error>> {
    for signal in ["TRACES", "METRICS", "LOGS"] {
        set(&format!("OTEL_{signal}_EXPORTER"), "none");
    }
    // `%zz` is not a percent-encoding: the whole variable is refused.
    set("OTEL_RESOURCE_ATTRIBUTES", "team=a%zz");
    let previous = set_diagnostic_handler(record);
    let guard = telemetry::init();
    assert!(guard.telemetry().resource().get("team").is_none());
    drop(guard);
    set_diagnostic_handler(previous);
    let reports = REPORTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let about = reports
        .iter()
        .filter(|r| r.contains("OTEL_RESOURCE_ATTRIBUTES"))
        .count();
    assert_eq!(about, 1, "{reports:#?}");

    // From a map: the process's variables do not leak into any provider's resource.
    set("OTEL_RESOURCE_ATTRIBUTES", "leaked=yes");
    set("OTEL_SERVICE_NAME", "from-process");
    let telemetry = TelemetryBuilder::from_env_source(&[("OTEL_SERVICE_NAME", "from-map")])
        .with_exporters([])
        .with_span_exporter(telemetry::span::InMemorySpanExporter::new())
        .build()?;
    let resource = telemetry.resource();
    assert_eq!(resource.service_name(), Some("from-map"));
    assert!(resource.get("leaked").is_none(), "{resource:?}");
    assert_eq!(telemetry.logger_provider().resource(), resource);
    assert_eq!(telemetry.tracer_provider().resource(), resource);
    telemetry.shutdown()?;
    Ok(())
}
