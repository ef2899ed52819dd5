//! The bridge from the `log` crate: a `log::Log` that emits our log records.

use log::kv::{self, VisitSource, VisitValue};
use telemetry_core::{KeyValue, StringValue, Timestamp, Value};

use crate::attributes::LogAttributes;
use crate::logger::Logger;
use crate::provider::LoggerProvider;
use crate::severity::Severity;

/// The instrumentation scope of records from the `log` bridge.
pub const LOG_BRIDGE_SCOPE: &str = "log";

/// The severity of a `log` level: each level is the first number of its range.
///
/// | `log::Level` | severity |
/// | --- | --- |
/// | `Error` | ERROR (17) |
/// | `Warn` | WARN (13) |
/// | `Info` | INFO (9) |
/// | `Debug` | DEBUG (5) |
/// | `Trace` | TRACE (1) |
pub const fn severity_of_log_level(level: log::Level) -> Severity {
    match level {
        log::Level::Error => Severity::ERROR,
        log::Level::Warn => Severity::WARN,
        log::Level::Info => Severity::INFO,
        log::Level::Debug => Severity::DEBUG,
        log::Level::Trace => Severity::TRACE,
    }
}

/// A [`log::Log`] that turns each `log` record into a [`LogRecord`](crate::LogRecord).
///
/// The message becomes the body (without allocating when it is a plain string literal),
/// the level the severity (see [`severity_of_log_level`]) with `log`'s level name as
/// severity text, key-values (`info!(user_id = 7; "...")`) the attributes, and the target
/// the attribute `code.namespace` (the target defaults to the module path). The record is
/// stamped with the current context's span, like any other.
///
/// Install it with [`LogBridge::install`], or wrap it in a logger of your own.
#[derive(Debug, Clone)]
pub struct LogBridge {
    logger: Logger,
}

impl LogBridge {
    /// A bridge emitting through `provider`, under the scope [`LOG_BRIDGE_SCOPE`].
    pub fn new(provider: &LoggerProvider) -> Self {
        Self::with_logger(provider.logger(LOG_BRIDGE_SCOPE))
    }

    /// A bridge emitting through `logger`.
    pub fn with_logger(logger: Logger) -> Self {
        LogBridge { logger }
    }

    /// Makes this the process's `log` logger and lets records up to `max_level` through.
    ///
    /// # Errors
    ///
    /// When a `log` logger is already installed (the `log` crate allows one per process).
    pub fn install(self, max_level: log::LevelFilter) -> Result<(), log::SetLoggerError> {
        log::set_boxed_logger(Box::new(self))?;
        log::set_max_level(max_level);
        Ok(())
    }
}

impl log::Log for LogBridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.logger.enabled(severity_of_log_level(metadata.level()))
    }

    fn log(&self, record: &log::Record<'_>) {
        let severity = severity_of_log_level(record.level());
        if !self.logger.enabled(severity) {
            return;
        }
        let now = Timestamp::now();
        let body = match record.args().as_str() {
            Some(text) => StringValue::from_static(text),
            None => StringValue::from(record.args().to_string()),
        };
        // The target is the module path unless the caller named another; `log` hands out
        // only the module path as `'static`, so that case costs no allocation.
        let target = match record.module_path_static() {
            Some(module) if module == record.target() => StringValue::from_static(module),
            _ => StringValue::from(record.target().to_owned()),
        };
        // Built in place: each builder call would move the whole record (see
        // `Logger::emit_with`).
        self.logger.emit_with(severity, |out| {
            out.severity_text = Some(StringValue::from_static(record.level().as_str()));
            out.body = body.into();
            out.timestamp = Some(now);
            out.observed_timestamp = now;
            out.attributes.push(KeyValue::new("code.namespace", target));
            let mut visitor = Attributes(&mut out.attributes);
            // A source fails only if the visitor does, and ours never does.
            let _ = record.key_values().visit(&mut visitor);
        });
    }

    fn flush(&self) {}
}

struct Attributes<'a>(&'a mut LogAttributes);

impl<'kvs> VisitSource<'kvs> for Attributes<'_> {
    fn visit_pair(&mut self, key: kv::Key<'kvs>, value: kv::Value<'kvs>) -> Result<(), kv::Error> {
        let mut converted = Value::Empty;
        // Fails only if the visitor does, and ours never does.
        let _ = value.visit(ToValue(&mut converted));
        self.0
            .push(KeyValue::new(key.as_str().to_owned(), converted));
        Ok(())
    }
}

struct ToValue<'a>(&'a mut Value);

impl<'v> VisitValue<'v> for ToValue<'_> {
    fn visit_any(&mut self, value: kv::Value<'_>) -> Result<(), kv::Error> {
        *self.0 = Value::from(value.to_string());
        Ok(())
    }

    fn visit_null(&mut self) -> Result<(), kv::Error> {
        *self.0 = Value::Empty;
        Ok(())
    }

    fn visit_u64(&mut self, value: u64) -> Result<(), kv::Error> {
        *self.0 = match i64::try_from(value) {
            Ok(value) => Value::I64(value),
            Err(_) => Value::from(value.to_string()),
        };
        Ok(())
    }

    fn visit_i64(&mut self, value: i64) -> Result<(), kv::Error> {
        *self.0 = Value::I64(value);
        Ok(())
    }

    fn visit_u128(&mut self, value: u128) -> Result<(), kv::Error> {
        *self.0 = match i64::try_from(value) {
            Ok(value) => Value::I64(value),
            Err(_) => Value::from(value.to_string()),
        };
        Ok(())
    }

    fn visit_i128(&mut self, value: i128) -> Result<(), kv::Error> {
        *self.0 = match i64::try_from(value) {
            Ok(value) => Value::I64(value),
            Err(_) => Value::from(value.to_string()),
        };
        Ok(())
    }

    fn visit_f64(&mut self, value: f64) -> Result<(), kv::Error> {
        *self.0 = Value::F64(value);
        Ok(())
    }

    fn visit_bool(&mut self, value: bool) -> Result<(), kv::Error> {
        *self.0 = Value::Bool(value);
        Ok(())
    }

    fn visit_str(&mut self, value: &str) -> Result<(), kv::Error> {
        *self.0 = Value::from(value.to_owned());
        Ok(())
    }

    fn visit_char(&mut self, value: char) -> Result<(), kv::Error> {
        *self.0 = Value::from(value.to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_the_first_number_of_their_range() {
        let table = [
            (log::Level::Error, 17, "ERROR"),
            (log::Level::Warn, 13, "WARN"),
            (log::Level::Info, 9, "INFO"),
            (log::Level::Debug, 5, "DEBUG"),
            (log::Level::Trace, 1, "TRACE"),
        ];
        for (level, number, name) in table {
            let severity = severity_of_log_level(level);
            assert_eq!(severity.number(), number, "{level}");
            assert_eq!(severity.name(), name, "{level}");
            assert_eq!(level.as_str(), name, "severity text is log's own name");
        }
    }

    #[test]
    fn key_values_keep_their_types() {
        let mut converted = LogAttributes::new();
        let pairs: [(&str, kv::Value<'_>); 7] = [
            ("i", kv::Value::from(-3i64)),
            ("u", kv::Value::from(u64::MAX)),
            ("f", kv::Value::from(0.5f64)),
            ("b", kv::Value::from(true)),
            ("s", kv::Value::from("text")),
            ("c", kv::Value::from('x')),
            ("d", kv::Value::from_debug(&[1, 2])),
        ];
        let mut visitor = Attributes(&mut converted);
        for (key, value) in pairs {
            VisitSource::visit_pair(&mut visitor, kv::Key::from(key), value)
                .unwrap_or_else(|_| unreachable!("the visitor never fails"));
        }
        assert_eq!(
            converted,
            vec![
                KeyValue::new("i", -3i64),
                KeyValue::new("u", u64::MAX.to_string()),
                KeyValue::new("f", 0.5),
                KeyValue::new("b", true),
                KeyValue::new("s", "text"),
                KeyValue::new("c", "x"),
                KeyValue::new("d", "[1, 2]"),
            ]
        );
    }
}
