//! The `log` and `tracing` bridges, installed once per process and pointing at whichever
//! pipeline is installed at the time of each record.
//!
//! Both crates allow one global logger (subscriber) per process, set once. Installing one
//! bound to a single pipeline would leave it writing into a shut-down provider after the
//! first guard drops; these delegate to [`global`](crate::global) instead, so every
//! [`init`](crate::init) or [`install`](crate::Telemetry::install) is picked up.

/// Installs the bridges the enabled features ask for, the first time it is called.
pub(crate) fn install_once() {
    #[cfg(any(feature = "log", feature = "tracing"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            #[cfg(feature = "log")]
            log_bridge::install();
            #[cfg(feature = "tracing")]
            tracing_bridge::install();
        });
    }
}

#[cfg(feature = "log")]
mod log_bridge {
    use telemetry_core::diagnostic;

    /// The `log` logger: hands each record to the installed pipeline's `LogBridge`.
    struct GlobalLog;

    impl log::Log for GlobalLog {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            log::Log::enabled(crate::global().log_bridge(), metadata)
        }

        fn log(&self, record: &log::Record<'_>) {
            log::Log::log(crate::global().log_bridge(), record);
        }

        fn flush(&self) {}
    }

    pub(super) fn install() {
        match log::set_boxed_logger(Box::new(GlobalLog)) {
            // Info and up, as most `log` users expect by default; a program that wants more
            // calls `log::set_max_level` itself after `init`.
            Ok(()) => log::set_max_level(log::LevelFilter::Info),
            Err(error) => diagnostic::report(
                "telemetry",
                format_args!("{error}: `log` records do not reach the pipeline"),
            ),
        }
    }
}

#[cfg(feature = "tracing")]
mod tracing_bridge {
    use telemetry_core::diagnostic;
    use telemetry_span::TracingSpanLayer;
    use tracing_core::{Dispatch, Event, LevelFilter, Subscriber};
    use tracing_subscriber::Registry;
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;

    /// The `tracing` layer: hands each event to the installed pipeline's `TracingLayer`.
    struct GlobalTracing;

    impl<S> Layer<S> for GlobalTracing
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
            crate::global().tracing_layer().on_event(event, ctx);
        }
    }

    pub(super) fn install() {
        // Events become log records; spans become spans of whichever pipeline is installed
        // (and are entered as the current context, so events inside them carry their
        // trace). Spans below INFO are left out: the libraries under an exporter (h2, hyper,
        // tonic) open DEBUG and TRACE spans. So are spans opened while the pipeline
        // suppresses its own telemetry on the thread, so exporting never exports the export.
        let spans = TracingSpanLayer::global()
            .with_max_level(LevelFilter::INFO)
            .with_skip_when(telemetry_logs::is_suppressed);
        let subscriber = Registry::default().with(spans).with(GlobalTracing);
        if let Err(error) = tracing_core::dispatcher::set_global_default(Dispatch::new(subscriber))
        {
            diagnostic::report(
                "telemetry",
                format_args!("{error}: `tracing` events do not reach the pipeline"),
            );
        }
    }
}
