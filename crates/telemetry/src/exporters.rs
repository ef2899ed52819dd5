//! The OTLP exporters for `OTEL_*_EXPORTER=otlp`: gRPC or HTTP by the configured protocol.

#[cfg(not(feature = "otlp"))]
mod absent {
    use std::error::Error as StdError;
    use std::fmt;

    /// The `otlp` feature is off, so no OTLP exporter exists in this build.
    #[derive(Debug)]
    pub(crate) struct NotBuilt;

    impl fmt::Display for NotBuilt {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("this build has no OTLP exporter (the `otlp` feature is off)")
        }
    }

    impl StdError for NotBuilt {}
}

#[cfg(not(feature = "otlp"))]
pub(crate) use absent::NotBuilt;

#[cfg(feature = "otlp")]
mod present {
    use telemetry_logs::LogExporter;
    use telemetry_metrics::{PushMetricExporter, TemporalityPreference};
    use telemetry_otlp::{
        ExporterConfig, GrpcLogExporter, GrpcMetricExporter, GrpcSpanExporter, HttpLogExporter,
        HttpMetricExporter, HttpSpanExporter, Protocol,
    };
    use telemetry_span::SpanExporter;

    use crate::error::{BuildError, Signal};

    /// The span exporter `config` describes.
    pub(crate) fn span_exporter(
        config: &ExporterConfig,
    ) -> Result<Box<dyn SpanExporter>, BuildError> {
        let fail = |error| BuildError::new(Signal::Traces, "otlp", error);
        Ok(match config.protocol {
            Protocol::Grpc => Box::new(
                GrpcSpanExporter::builder()
                    .config(config.clone())
                    .build()
                    .map_err(fail)?,
            ),
            _ => Box::new(
                HttpSpanExporter::builder()
                    .config(config.clone())
                    .build()
                    .map_err(fail)?,
            ),
        })
    }

    /// The metric exporter `config` describes, asking for `temporality`.
    pub(crate) fn metric_exporter(
        config: &ExporterConfig,
        temporality: TemporalityPreference,
    ) -> Result<Box<dyn PushMetricExporter>, BuildError> {
        let fail = |error| BuildError::new(Signal::Metrics, "otlp", error);
        Ok(match config.protocol {
            Protocol::Grpc => Box::new(
                GrpcMetricExporter::builder()
                    .config(config.clone())
                    .temporality(temporality)
                    .build()
                    .map_err(fail)?,
            ),
            _ => Box::new(
                HttpMetricExporter::builder()
                    .config(config.clone())
                    .temporality_preference(temporality)
                    .build()
                    .map_err(fail)?,
            ),
        })
    }

    /// The log exporter `config` describes.
    pub(crate) fn log_exporter(
        config: &ExporterConfig,
    ) -> Result<Box<dyn LogExporter>, BuildError> {
        let fail = |error| BuildError::new(Signal::Logs, "otlp", error);
        Ok(match config.protocol {
            Protocol::Grpc => Box::new(
                GrpcLogExporter::builder()
                    .config(config.clone())
                    .build()
                    .map_err(fail)?,
            ),
            _ => Box::new(
                HttpLogExporter::builder()
                    .config(config.clone())
                    .build()
                    .map_err(fail)?,
            ),
        })
    }
}

#[cfg(feature = "otlp")]
pub(crate) use present::{log_exporter, metric_exporter, span_exporter};

#[cfg(all(test, feature = "otlp"))]
mod tests {
    use telemetry_metrics::TemporalityPreference;
    use telemetry_otlp::{ExporterConfig, Protocol, Signal};

    use super::*;

    fn config(signal: Signal, protocol: Protocol) -> ExporterConfig {
        let mut config = ExporterConfig::new(signal);
        config.protocol = protocol;
        config.endpoint = "http://127.0.0.1:9/".to_owned();
        config
    }

    #[test]
    fn the_protocol_picks_grpc_or_http() -> Result<(), crate::BuildError> {
        let grpc = span_exporter(&config(Signal::Traces, Protocol::Grpc))?;
        assert!(
            format!("{grpc:?}").starts_with("GrpcSpanExporter"),
            "{grpc:?}"
        );
        let http = span_exporter(&config(Signal::Traces, Protocol::HttpJson))?;
        assert!(
            format!("{http:?}").starts_with("HttpSpanExporter"),
            "{http:?}"
        );
        let grpc = metric_exporter(
            &config(Signal::Metrics, Protocol::Grpc),
            TemporalityPreference::Delta,
        )?;
        assert!(
            format!("{grpc:?}").starts_with("GrpcMetricExporter"),
            "{grpc:?}"
        );
        let http = metric_exporter(
            &config(Signal::Metrics, Protocol::HttpProtobuf),
            TemporalityPreference::Cumulative,
        )?;
        assert!(
            format!("{http:?}").starts_with("HttpMetricExporter"),
            "{http:?}"
        );
        let grpc = log_exporter(&config(Signal::Logs, Protocol::Grpc))?;
        assert!(
            format!("{grpc:?}").starts_with("GrpcLogExporter"),
            "{grpc:?}"
        );
        let http = log_exporter(&config(Signal::Logs, Protocol::HttpProtobuf))?;
        assert!(
            format!("{http:?}").starts_with("HttpLogExporter"),
            "{http:?}"
        );
        Ok(())
    }

    #[test]
    fn an_endpoint_that_is_not_a_url_is_a_build_error() {
        let mut bad = config(Signal::Traces, Protocol::HttpProtobuf);
        bad.endpoint = "not a url".to_owned();
        let error = span_exporter(&bad).err();
        assert_eq!(
            error.map(|e| (e.signal(), e.exporter())),
            Some((crate::Signal::Traces, "otlp"))
        );
    }
}
