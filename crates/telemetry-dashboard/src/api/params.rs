//! Query-string parsing: percent-decoding and typed parameter values.

use telemetry_core::{SpanId, TraceId};
use telemetry_logs::Severity;

use super::ApiError;

/// The largest `limit` a search accepts.
pub(crate) const MAX_LIMIT: usize = 1000;
/// The most parameters one query string may carry.
const MAX_PARAMS: usize = 64;

/// Decodes `%XX` escapes and `+` (a space in query strings).
pub(crate) fn percent_decode(input: &str) -> Result<String, ApiError> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|pair| std::str::from_utf8(pair).ok())
                    .and_then(|pair| {
                        u8::from_str_radix(pair, 16)
                            .ok()
                            .filter(|_| pair.bytes().all(|b| b.is_ascii_hexdigit()))
                    });
                let Some(byte) = hex else {
                    return Err(ApiError::bad(
                        "a % escape in the query is not followed by two hex digits",
                    ));
                };
                out.push(byte);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::bad("the query does not decode to UTF-8"))
}

/// The decoded parameters of a query string, in order; names may repeat.
#[derive(Debug, Default)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses `query`, refusing names not in `allowed`.
    pub(crate) fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Params, ApiError> {
        let mut pairs = Vec::new();
        for part in query
            .unwrap_or("")
            .split('&')
            .filter(|part| !part.is_empty())
        {
            if pairs.len() >= MAX_PARAMS {
                return Err(ApiError::bad(format!(
                    "at most {MAX_PARAMS} query parameters"
                )));
            }
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let name = percent_decode(name)?;
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::bad(format!(
                    "unknown parameter {name:?}; this route takes: {}",
                    allowed.join(", ")
                )));
            }
            pairs.push((name, percent_decode(value)?));
        }
        Ok(Params { pairs })
    }

    /// The last value of `name`, when given and not empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// `attr=key=value` pairs, for attribute equality.
    pub(crate) fn attributes(&self) -> Result<Vec<(String, String)>, ApiError> {
        self.pairs
            .iter()
            .filter(|(name, _)| name == "attr")
            .map(|(_, value)| match value.split_once('=') {
                Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
                _ => Err(ApiError::bad(format!("attr {value:?} is not key=value"))),
            })
            .collect()
    }

    /// A unix-nanosecond time.
    pub(crate) fn time(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.get(name)
            .map(|text| {
                parse_u64(text).ok_or_else(|| {
                    ApiError::bad(format!("{name} must be unix nanoseconds, got {text:?}"))
                })
            })
            .transpose()
    }

    /// A duration: a number with an optional unit (ns, us, ms, s, m); milliseconds without one.
    pub(crate) fn duration(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.get(name)
            .map(|text| {
                parse_duration(text).ok_or_else(|| {
                    ApiError::bad(format!(
                        "{name} must be a duration such as 250ms, 1.5s or 200 (ms), got {text:?}"
                    ))
                })
            })
            .transpose()
    }

    /// `limit`, 1 to [`MAX_LIMIT`], or `default`.
    pub(crate) fn limit(&self, default: usize) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(default),
            Some(text) => parse_u64(text)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::bad(format!("limit must be 1 to {MAX_LIMIT}, got {text:?}"))
                }),
        }
    }

    /// A trace id in hex.
    pub(crate) fn trace_id(&self, name: &str) -> Result<Option<TraceId>, ApiError> {
        self.get(name).map(parse_trace_id).transpose()
    }

    /// A span id in hex.
    pub(crate) fn span_id(&self, name: &str) -> Result<Option<SpanId>, ApiError> {
        self.get(name)
            .map(|text| {
                SpanId::from_hex(text).map_err(|error| {
                    ApiError::bad(format!("{name} {text:?} is not a span id: {error}"))
                })
            })
            .transpose()
    }

    /// A severity: a number 1 to 24 or a name (trace, debug, info, warn, error, fatal).
    pub(crate) fn severity(&self, name: &str) -> Result<Option<Severity>, ApiError> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        let by_name = match text.to_ascii_lowercase().as_str() {
            "trace" => Some(Severity::TRACE),
            "debug" => Some(Severity::DEBUG),
            "info" => Some(Severity::INFO),
            "warn" | "warning" => Some(Severity::WARN),
            "error" => Some(Severity::ERROR),
            "fatal" => Some(Severity::FATAL),
            _ => None,
        };
        by_name
            .or_else(|| {
                parse_u64(text)
                    .and_then(|n| u8::try_from(n).ok())
                    .filter(|n| *n >= 1)
                    .and_then(Severity::from_number)
            })
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad(format!(
                    "{name} must be 1 to 24 or trace, debug, info, warn, error, fatal; got {text:?}"
                ))
            })
    }
}

/// A trace id in hex, or a 400.
pub(crate) fn parse_trace_id(text: &str) -> Result<TraceId, ApiError> {
    TraceId::from_hex(text)
        .map_err(|error| ApiError::bad(format!("{text:?} is not a trace id: {error}")))
}

/// Decimal digits only, no sign, no overflow.
pub(crate) fn parse_u64(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_duration(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let scale = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "" | "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        _ => return None,
    };
    let nanos = value * scale;
    (nanos.is_finite() && nanos < 1.8e19).then_some(nanos as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_escapes_and_refuses_broken_ones() {
        assert_eq!(percent_decode("a%20b+c%2Fd").unwrap(), "a b c/d");
        assert!(percent_decode("%2").is_err());
        assert!(percent_decode("%zz").is_err());
        assert!(percent_decode("%+1").is_err());
        assert!(percent_decode("%ff").is_err());
    }

    #[test]
    fn durations_take_units_and_default_to_milliseconds() {
        assert_eq!(parse_duration("250"), Some(250_000_000));
        assert_eq!(parse_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_duration("20us"), Some(20_000));
        assert_eq!(parse_duration("7ns"), Some(7));
        for bad in ["", "ms", "-1ms", "1h", ".5s", "1.", "1e3"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn params_refuse_unknown_names_and_bad_values() {
        assert!(Params::parse(Some("bogus=1"), &["limit"]).is_err());
        let params = Params::parse(Some("limit=0"), &["limit"]).unwrap();
        assert!(params.limit(20).is_err());
        let params =
            Params::parse(Some("limit=5&attr=k%3Dv&attr=x=y=z"), &["limit", "attr"]).unwrap();
        assert_eq!(params.limit(20).unwrap(), 5);
        assert_eq!(
            params.attributes().unwrap(),
            vec![("k".into(), "v".into()), ("x".into(), "y=z".into())]
        );
        let params = Params::parse(Some("severity=warn"), &["severity"]).unwrap();
        assert_eq!(params.severity("severity").unwrap(), Some(Severity::WARN));
        let params = Params::parse(Some("severity=25"), &["severity"]).unwrap();
        assert!(params.severity("severity").is_err());
        let params = Params::parse(Some("start=-5"), &["start"]).unwrap();
        assert!(params.time("start").is_err());
    }
}
