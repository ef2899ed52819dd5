//! Reading `OTEL_*` environment variables by the rules of the OpenTelemetry configuration
//! spec: an empty value is the same as unset, enums are case-insensitive, and a value that
//! does not parse is reported (each time it is read) and ignored, so the default applies.
//!
//! Code that reads the same variable more than once per process (one exporter per signal,
//! all built from one environment) reports through [`report_invalid_once`] instead, so a
//! typo is one warning, not three.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use crate::diagnostic;

/// Where configuration variables come from: the process environment, or a map in tests and
/// in code that configures itself.
pub trait EnvSource {
    /// The raw value of `name`, if set (empty values included).
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
    }
}

impl EnvSource for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

impl EnvSource for [(&str, &str)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    }
}

impl<const N: usize> EnvSource for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<String> {
        EnvSource::get(self.as_slice(), name)
    }
}

/// The trimmed value of `name`, or `None` when it is unset or empty.
pub fn read_string(env: &(impl EnvSource + ?Sized), name: &str) -> Option<String> {
    let value = env.get(name)?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        None
    } else {
        Some(trimmed.to_owned())
    }
}

/// A boolean: only a case-insensitive `true` is true; anything but `false` is reported.
pub fn read_bool(env: &(impl EnvSource + ?Sized), name: &str) -> Option<bool> {
    let value = read_string(env, name)?;
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else {
        if !value.eq_ignore_ascii_case("false") {
            diagnostic::report(
                "env",
                format_args!("{name}={value:?} is not a boolean; using false"),
            );
        }
        Some(false)
    }
}

/// A non-negative integer; a value that does not parse is reported and ignored.
pub fn read_u64(env: &(impl EnvSource + ?Sized), name: &str) -> Option<u64> {
    let value = read_string(env, name)?;
    match value.parse::<u64>() {
        Ok(number) => Some(number),
        Err(_) => {
            diagnostic::report(
                "env",
                format_args!("{name}={value:?} is not a non-negative integer; using the default"),
            );
            None
        }
    }
}

/// A number of milliseconds as a `Duration`; a value that does not parse (negative
/// included) is reported and ignored.
pub fn read_millis(env: &(impl EnvSource + ?Sized), name: &str) -> Option<Duration> {
    read_u64(env, name).map(Duration::from_millis)
}

/// A float; a value that does not parse is reported and ignored.
pub fn read_f64(env: &(impl EnvSource + ?Sized), name: &str) -> Option<f64> {
    let value = read_string(env, name)?;
    match value.parse::<f64>() {
        Ok(number) if number.is_finite() => Some(number),
        _ => {
            diagnostic::report(
                "env",
                format_args!("{name}={value:?} is not a number; using the default"),
            );
            None
        }
    }
}

/// One of `choices`, matched case-insensitively; anything else is reported and ignored.
pub fn read_enum<T: Copy>(
    env: &(impl EnvSource + ?Sized),
    name: &str,
    choices: &[(&str, T)],
) -> Option<T> {
    let value = read_string(env, name)?;
    let found = choices
        .iter()
        .find(|(label, _)| label.eq_ignore_ascii_case(&value));
    if found.is_none() {
        diagnostic::report(
            "env",
            format_args!("{name}={value:?} is not a known value; ignoring it"),
        );
    }
    found.map(|(_, choice)| *choice)
}

/// Reports that variable `name` has the unusable `value`, `why` saying what was wrong and
/// what is done instead, unless the same name with the same value was reported before in
/// this process. Returns whether it reported.
///
/// Keyed by name and value, so a variable read once per signal warns once, while a
/// different bad value (a test, or a process that changes its environment) still warns.
/// The set grows by one entry per distinct bad setting, which the environment bounds.
pub fn report_invalid_once(name: &str, value: &str, why: fmt::Arguments<'_>) -> bool {
    static REPORTED: OnceLock<Mutex<HashSet<(String, String)>>> = OnceLock::new();
    let first = REPORTED
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert((name.to_owned(), value.to_owned()));
    if first {
        // Outside the lock: the handler may do anything, reading variables included.
        diagnostic::report("env", format_args!("{name}={value:?}: {why}"));
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_value_is_reported_once_per_name_and_value() {
        let name = "TELEMETRY_CORE_TEST_REPORT_ONCE";
        assert!(report_invalid_once(name, "x", format_args!("ignored")));
        assert!(!report_invalid_once(name, "x", format_args!("ignored")));
        assert!(report_invalid_once(name, "y", format_args!("ignored")));
        assert!(report_invalid_once(
            "TELEMETRY_CORE_TEST_OTHER",
            "x",
            format_args!("ignored")
        ));
    }

    #[test]
    fn empty_is_unset_and_values_are_trimmed() {
        let env = [("A", ""), ("B", "  x "), ("C", "   ")];
        assert_eq!(read_string(&env, "A"), None);
        assert_eq!(read_string(&env, "B"), Some("x".to_owned()));
        assert_eq!(read_string(&env, "C"), None);
        assert_eq!(read_string(&env, "MISSING"), None);
    }

    #[test]
    fn booleans_follow_the_spec() {
        let env = [("T", "TRUE"), ("F", "false"), ("X", "yes")];
        assert_eq!(read_bool(&env, "T"), Some(true));
        assert_eq!(read_bool(&env, "F"), Some(false));
        assert_eq!(read_bool(&env, "X"), Some(false));
        assert_eq!(read_bool(&env, "MISSING"), None);
    }

    #[test]
    fn numbers_that_do_not_parse_are_ignored() {
        let env = [
            ("N", "2048"),
            ("NEG", "-5"),
            ("BAD", "12ms"),
            ("R", "0.25"),
            ("INF", "inf"),
        ];
        assert_eq!(read_u64(&env, "N"), Some(2048));
        assert_eq!(read_u64(&env, "NEG"), None);
        assert_eq!(read_millis(&env, "N"), Some(Duration::from_millis(2048)));
        assert_eq!(read_millis(&env, "BAD"), None);
        assert_eq!(read_f64(&env, "R"), Some(0.25));
        assert_eq!(read_f64(&env, "INF"), None);
    }

    #[test]
    fn enums_are_case_insensitive() {
        let env = [("P", "HTTP/Protobuf"), ("Q", "carrier-pigeon")];
        let choices = [("grpc", 1), ("http/protobuf", 2)];
        assert_eq!(read_enum(&env, "P", &choices), Some(2));
        assert_eq!(read_enum(&env, "Q", &choices), None);
    }

    #[test]
    fn maps_are_sources() {
        let mut map = HashMap::new();
        map.insert("K".to_owned(), "v".to_owned());
        assert_eq!(read_string(&map, "K"), Some("v".to_owned()));
    }
}
