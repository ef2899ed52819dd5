//! When to retry an OTLP/HTTP export, and how long to wait first (conformance.md §2.3).

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};

/// The longest `Retry-After` honoured: a server asking for more is treated as asking for
/// this, so one bad header cannot park the exporter for a day (the deadline cuts it anyway).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// Exponential backoff with full jitter between the attempts of one export.
///
/// Attempt `n` (from 0) waits a uniformly random time in `[0, min(max, initial * 2^n)]`, so
/// that many exporters cut off by one collector outage do not come back in lockstep. A delay
/// the server asks for (`Retry-After`, gRPC `RetryInfo`) is a lower bound: the wait is the
/// larger of it and the backoff, and never under 10 ms, so neither `Retry-After: 0` nor a
/// zero backoff can turn retries into a busy loop. Retries continue until the export's
/// deadline; with no deadline, they stop after [`RetryPolicy::max_attempts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The cap of the first wait (1 s by default, the opentelemetry-java default; the
    /// conformance notes only require exponential backoff with jitter).
    pub initial_backoff: Duration,
    /// The largest cap any wait reaches (5 s by default).
    pub max_backoff: Duration,
    /// Attempts at most, the first included, when the export has no deadline (5 by default);
    /// with a deadline, retries go on until it passes.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
            max_attempts: 5,
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0 for the first retry), with full jitter.
    pub(crate) fn backoff(&self, attempt: u32, jitter: &mut Jitter) -> Duration {
        let cap = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
            .min(self.max_backoff);
        jitter.up_to(cap)
    }
}

/// The shortest wait between two attempts, whatever the policy and the server say.
pub(crate) const MIN_WAIT: Duration = Duration::from_millis(10);

/// The wait before retry number `attempt` (0 for the first retry): the larger of the
/// server's delay (OR-6: "at least" what it asks) and the jittered backoff, at least
/// [`MIN_WAIT`]. Both exporters use this one rule.
pub(crate) fn next_wait(
    policy: &RetryPolicy,
    jitter: &mut Jitter,
    attempt: u32,
    server_delay: Option<Duration>,
) -> Duration {
    let backoff = policy.backoff(attempt, jitter);
    server_delay
        .map_or(backoff, |delay| delay.max(backoff))
        .max(MIN_WAIT)
}

/// Whether an HTTP status may succeed on a later attempt: 429, 502, 503 and 504, and no
/// other (OR-3: "all other 4xx or 5xx response status codes MUST NOT be retried").
pub(crate) fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

/// Whether a gRPC status code may succeed on a later attempt (OR-5): CANCELLED,
/// DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE and DATA_LOSS always;
/// RESOURCE_EXHAUSTED only when the status carries a `google.rpc.RetryInfo`
/// (`has_retry_info`), the server's sign that the exhaustion is temporary; no other.
pub(crate) fn is_retryable_grpc(code: tonic::Code, has_retry_info: bool) -> bool {
    use tonic::Code;
    match code {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => true,
        Code::ResourceExhausted => has_retry_info,
        _ => false,
    }
}

/// The wait a `Retry-After` header asks for: delta-seconds or an HTTP-date, capped at
/// [`MAX_RETRY_AFTER`]; `None` when absent or unparsable (then backoff applies).
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Digits only, so the only failure is overflow: a huge number means "a long time".
        Duration::from_secs(value.parse().unwrap_or(u64::MAX))
    } else {
        let date = httpdate::parse_http_date(value).ok()?;
        // A date in the past means "now".
        date.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// A small xorshift generator for jitter: statistical quality is irrelevant here, only that
/// exporters in different processes draw different sequences, hence the random seed.
#[derive(Debug)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new() -> Self {
        // RandomState is seeded from the OS once per process and varies per instance.
        let seed = RandomState::new().hash_one(0x5eed_u64);
        Jitter(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A uniformly random duration in `[0, cap]`, at nanosecond resolution.
    pub(crate) fn up_to(&mut self, cap: Duration) -> Duration {
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.next() % nanos.saturating_add(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_codes_are_exactly_the_specs() {
        for code in 100..600u16 {
            let status = StatusCode::from_u16(code).expect("valid code");
            assert_eq!(
                is_retryable(status),
                [429, 502, 503, 504].contains(&code),
                "{code}"
            );
        }
    }

    #[test]
    fn retryable_grpc_codes_are_exactly_the_specs() {
        for value in 0..=16 {
            let code = tonic::Code::from_i32(value);
            let always = [1, 4, 10, 11, 14, 15].contains(&value);
            assert_eq!(is_retryable_grpc(code, false), always, "{value}");
            // RetryInfo changes RESOURCE_EXHAUSTED (8) only.
            assert_eq!(
                is_retryable_grpc(code, true),
                always || value == 8,
                "{value}"
            );
        }
    }

    #[test]
    fn backoff_grows_to_the_cap_with_full_jitter() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            max_attempts: 5,
        };
        let mut jitter = Jitter::new();
        for (attempt, cap) in [(0, 100), (1, 200), (2, 350), (3, 350), (40, 350)] {
            let waits: Vec<Duration> = (0..200)
                .map(|_| policy.backoff(attempt, &mut jitter))
                .collect();
            let cap = Duration::from_millis(cap);
            assert!(waits.iter().all(|w| *w <= cap), "attempt {attempt}");
            // Full jitter: the waits spread over the whole range rather than sitting at the cap.
            assert!(waits.iter().any(|w| *w < cap / 4), "attempt {attempt}");
            assert!(waits.iter().any(|w| *w > cap * 3 / 4), "attempt {attempt}");
        }
        assert_eq!(Jitter::new().up_to(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn the_wait_is_the_larger_of_the_servers_delay_and_the_backoff_with_a_floor() {
        let mut jitter = Jitter::new();
        let zero = RetryPolicy {
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            max_attempts: 5,
        };
        assert_eq!(next_wait(&zero, &mut jitter, 0, None), MIN_WAIT);
        assert_eq!(
            next_wait(&zero, &mut jitter, 3, Some(Duration::ZERO)),
            MIN_WAIT
        );
        assert_eq!(
            next_wait(&zero, &mut jitter, 0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        let slow = RetryPolicy {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(1),
            max_attempts: 5,
        };
        // Retry-After: 0 does not cut the backoff short: over many draws some exceed it.
        let waits: Vec<Duration> = (0..100)
            .map(|_| next_wait(&slow, &mut jitter, 0, Some(Duration::ZERO)))
            .collect();
        assert!(
            waits
                .iter()
                .all(|w| *w >= MIN_WAIT && *w <= Duration::from_secs(1))
        );
        assert!(waits.iter().any(|w| *w > Duration::from_millis(500)));
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let header = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                http::header::RETRY_AFTER,
                value.parse().expect("valid header"),
            );
            retry_after(&headers, now)
        };
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
        assert_eq!(header("0"), Some(Duration::ZERO));
        assert_eq!(header(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(header("86400"), Some(MAX_RETRY_AFTER));
        assert_eq!(header("99999999999999999999999"), Some(MAX_RETRY_AFTER));
        // 1445412480 is Wed, 21 Oct 2015 07:28:00 GMT.
        assert_eq!(
            header("Wed, 21 Oct 2015 07:28:07 GMT"),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            header("Wed, 21 Oct 2015 07:27:00 GMT"),
            Some(Duration::ZERO),
            "past dates mean now"
        );
        assert_eq!(header("-1"), None);
        assert_eq!(header("soon"), None);
    }
}
