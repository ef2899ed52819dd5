//! The OpenTelemetry-to-Prometheus naming rules of the "Prometheus and OpenMetrics
//! Compatibility" specification: metric and label names restricted to Prometheus' character
//! sets, and UCUM units spelled out as the words Prometheus conventions put at the end of a
//! metric name.

/// Replaces every character outside `[a-zA-Z0-9_:]` (metric names) or `[a-zA-Z0-9_]` (label
/// names) by `_`, collapses runs of `_` into one, and prefixes `_` when the result would start
/// with a digit or be empty. Collapsing also means no label name can start with `__`, the
/// prefix Prometheus reserves for itself.
fn sanitize(name: &str, allow_colon: bool) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    for c in name.chars() {
        let keep = c.is_ascii_alphanumeric() || c == '_' || (allow_colon && c == ':');
        let c = if keep { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        if out.is_empty() && c.is_ascii_digit() {
            out.push('_');
        }
        out.push(c);
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// A metric name as Prometheus accepts it (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub(crate) fn metric_name(name: &str) -> String {
    sanitize(name, true)
}

/// A label name as Prometheus accepts it (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub(crate) fn label_name(name: &str) -> String {
    sanitize(name, false)
}

/// The word for a UCUM unit, or `None` when the unit is not one Prometheus spells out.
fn unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tebibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        "1" => "ratio",
        _ => return None,
    })
}

/// The singular word for a unit after `/` (`By/s` is "bytes per second").
fn per_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// Removes every `{...}` annotation: a "count of requests" is unitless in Prometheus.
fn strip_annotations(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    let mut depth = 0usize;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().to_owned()
}

/// The Prometheus unit suffix for a UCUM unit (`ms` → `milliseconds`, `By/s` →
/// `bytes_per_second`, `1` → `ratio`, `{request}` → none), already a valid name fragment
/// without leading or trailing `_`. `None` when nothing is left.
pub(crate) fn unit_suffix(unit: &str) -> Option<String> {
    let unit = strip_annotations(unit);
    let (numerator, denominator) = match unit.split_once('/') {
        Some((n, d)) => (n.trim(), Some(d.trim())),
        None => (unit.as_str(), None),
    };
    let mut words = String::new();
    // "1/s" is a rate of a count: only the "per second" part names a unit.
    let numerator = if denominator.is_some() && numerator == "1" {
        ""
    } else {
        numerator
    };
    if !numerator.is_empty() {
        words.push_str(unit_word(numerator).unwrap_or(numerator));
    }
    if let Some(denominator) = denominator.filter(|d| !d.is_empty()) {
        if !words.is_empty() {
            words.push('_');
        }
        words.push_str("per_");
        words.push_str(per_unit_word(denominator).unwrap_or(denominator));
    }
    let words = metric_name(&words);
    let words = words.trim_matches('_');
    (!words.is_empty()).then(|| words.to_owned())
}

/// The Prometheus name of a metric without its type suffix: the sanitized name with the unit
/// suffix appended, unless the name already ends with it. A `_total` the name already ends
/// with is kept aside so that the unit goes before it; `monotonic` tells whether it is put
/// back (counters get it again from the encoder).
pub(crate) fn family_base(name: &str, unit: &str, monotonic: bool) -> String {
    let mut base = metric_name(name);
    if monotonic && let Some(stripped) = base.strip_suffix("_total") {
        base = stripped.to_owned();
    }
    if let Some(suffix) = unit_suffix(unit) {
        let already = base == suffix
            || (base.len() > suffix.len()
                && base.ends_with(suffix.as_str())
                && base.as_bytes()[base.len() - suffix.len() - 1] == b'_');
        if !already {
            if !base.ends_with('_') {
                base.push('_');
            }
            base.push_str(&suffix);
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_are_sanitized() {
        let cases = [
            (
                "http.server.duration",
                "http.server.duration",
                "http_server_duration",
            ),
            ("colon", "a:b", "a:b"),
            ("leading digit", "2xx.count", "_2xx_count"),
            ("runs collapse", "a..b__c", "a_b_c"),
            ("unicode", "größe", "gr_e"),
            ("empty", "", "_"),
            ("only invalid", "...", "_"),
            ("dash and slash", "io-wait/s", "io_wait_s"),
        ];
        for (case, input, expected) in cases {
            assert_eq!(metric_name(input), expected, "{case}");
        }
    }

    #[test]
    fn label_names_are_sanitized() {
        let cases = [
            ("dots", "http.method", "http_method"),
            ("colon is invalid", "a:b", "a_b"),
            ("reserved prefix", "__name__", "_name_"),
            ("leading digit", "1st", "_1st"),
            ("empty", "", "_"),
        ];
        for (case, input, expected) in cases {
            assert_eq!(label_name(input), expected, "{case}");
        }
    }

    #[test]
    fn units_map_to_words() {
        let cases = [
            ("s", Some("seconds")),
            ("ms", Some("milliseconds")),
            ("By", Some("bytes")),
            ("1", Some("ratio")),
            ("%", Some("percent")),
            ("{request}", None),
            ("", None),
            ("By/s", Some("bytes_per_second")),
            ("{packet}/s", Some("per_second")),
            ("1/s", Some("per_second")),
            ("m/s", Some("meters_per_second")),
            ("foo/bar", Some("foo_per_bar")),
            ("kb{x}", Some("kb")),
            ("{unclosed", None),
            ("  ", None),
        ];
        for (unit, expected) in cases {
            assert_eq!(unit_suffix(unit).as_deref(), expected, "unit {unit:?}");
        }
    }

    #[test]
    fn family_base_adds_the_unit_once() {
        assert_eq!(
            family_base("http.server.duration", "s", false),
            "http_server_duration_seconds"
        );
        assert_eq!(
            family_base("latency_seconds", "s", false),
            "latency_seconds"
        );
        assert_eq!(family_base("seconds", "s", false), "seconds");
        assert_eq!(family_base("xseconds", "s", false), "xseconds_seconds");
        assert_eq!(family_base("requests", "{request}", true), "requests");
        assert_eq!(family_base("sent_total", "By", true), "sent_bytes");
        // A non-monotonic metric keeps its `_total`: it is a gauge, not a counter.
        assert_eq!(family_base("queue_total", "", false), "queue_total");
        assert_eq!(family_base("cpu.usage", "1", false), "cpu_usage_ratio");
        assert_eq!(family_base("x_", "s", false), "x_seconds");
    }
}
