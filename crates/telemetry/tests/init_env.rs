//! `telemetry::init()` from the process environment. It changes the process's variables,
//! so it is the only test in this file (its own process).

use std::sync::Mutex;

use telemetry::context::TextMapPropagator;
use telemetry::core::diagnostic::{Diagnostic, set_diagnostic_handler};

static REPORTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record(diagnostic: &Diagnostic<'_>) {
    REPORTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(format!("{}: {}", diagnostic.component, diagnostic.message));
}

#[test]
fn init_reads_the_standard_variables_and_reports_bad_values_once() {
    let variables = [
        ("OTEL_SERVICE_NAME", "from-env"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=ci,service.name=ignored",
        ),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "carrier-pigeon,none"),
        ("OTEL_PROPAGATORS", "baggage,b3"),
        // Far above telemetry-logs' cap: the queue is allocated up front, so uncapped this
        // would abort the process.
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "1000000000"),
        ("OTEL_TRACES_SAMPLER", "always_off"),
        ("OTEL_BSP_SCHEDULE_DELAY", "soon"),
        ("OTEL_SDK_DISABLED", ""),
    ];
    for (key, value) in variables {
        // SAFETY: no other thread of this test process reads the environment now: this
        // file holds one test, and the pipeline is not installed yet.
        unsafe { std::env::set_var(key, value) };
    }
    let previous = set_diagnostic_handler(record);

    let guard = telemetry::init();
    let telemetry = guard.telemetry();
    assert!(!telemetry.is_disabled());
    assert_eq!(telemetry.resource().service_name(), Some("from-env"));
    assert_eq!(
        telemetry
            .resource()
            .get("deployment.environment")
            .and_then(|v| v.as_str()),
        Some("ci")
    );
    assert_eq!(telemetry.propagator().fields(), ["baggage"]);
    // always_off: spans do not record, yet `init` installed the pipeline for the free
    // functions.
    let span = telemetry::start_span("sampled-out", None);
    assert!(!span.is_recording());
    assert!(span.span_context().is_valid());
    assert_eq!(
        telemetry::global().resource().service_name(),
        Some("from-env")
    );
    drop(span);
    drop(guard);

    let reports = || {
        REPORTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    };
    let about =
        |reports: &[String], name: &str| reports.iter().filter(|r| r.contains(name)).count();
    let first = reports();
    assert_eq!(about(&first, "OTEL_BSP_SCHEDULE_DELAY"), 1, "{first:#?}");
    assert_eq!(about(&first, "carrier-pigeon"), 1, "{first:#?}");
    assert_eq!(about(&first, "\"b3\""), 1, "{first:#?}");
    assert_eq!(about(&first, "OTEL_BLRP_MAX_QUEUE_SIZE"), 1, "{first:#?}");

    // A second init reads the same environment: the facade's own variables (exporters,
    // propagators) are not reported again.
    drop(telemetry::init());
    set_diagnostic_handler(previous);
    let second = reports();
    assert_eq!(about(&second, "carrier-pigeon"), 1, "{second:#?}");
    assert_eq!(about(&second, "\"b3\""), 1, "{second:#?}");
    // After the guard, the free functions see no pipeline again.
    assert!(telemetry::global().is_disabled());
}
