//! Wall-clock timestamps in nanoseconds since the Unix epoch, read fast.
//!
//! Every span reads the clock twice, so the read is on the hot path. Measured on the
//! project's 2-core machines (`cargo bench -p telemetry-benches --bench clock`): a TSC read
//! through `fastant` costs about 9 ns, `SystemTime::now()` about 29 ns. So when the CPU has
//! an invariant TSC (`constant_tsc` and `nonstop_tsc`, which `fastant` checks along with
//! cross-core synchronisation), timestamps are the TSC reading converted through an anchor
//! taken once against `SystemTime`; otherwise they are `SystemTime::now()` itself. Either
//! way the resolution is well under a microsecond.
//!
//! The anchored clock does not follow later steps of the system clock (NTP slews or manual
//! changes); over a process's life it drifts with the TSC's calibration error, which is
//! acceptable for span timing and keeps durations monotonic.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, in nanoseconds since the Unix epoch (as OTLP's `*_unix_nano` fields).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Timestamp(u64);

/// Which source [`Timestamp::now`] reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ClockSource {
    /// The CPU's invariant time-stamp counter, anchored to the system clock once.
    Tsc,
    /// `std::time::SystemTime::now()` on every read.
    SystemTime,
}

/// `Some` when the TSC is usable on this machine.
static TSC_ANCHOR: OnceLock<Option<fastant::Anchor>> = OnceLock::new();

fn tsc_anchor() -> Option<&'static fastant::Anchor> {
    TSC_ANCHOR
        .get_or_init(|| fastant::is_tsc_available().then(fastant::Anchor::new))
        .as_ref()
}

impl Timestamp {
    /// The Unix epoch itself, which OTLP treats as "not set".
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    /// The current time, from the fastest accurate source (see [`Timestamp::source`]).
    #[inline]
    pub fn now() -> Self {
        match tsc_anchor() {
            Some(anchor) => Timestamp(fastant::Instant::now().as_unix_nanos(anchor)),
            None => Self::from_system_time(SystemTime::now()),
        }
    }

    /// Which clock [`Timestamp::now`] reads on this machine.
    pub fn source() -> ClockSource {
        if tsc_anchor().is_some() {
            ClockSource::Tsc
        } else {
            ClockSource::SystemTime
        }
    }

    /// A timestamp from nanoseconds since the Unix epoch.
    #[inline]
    pub const fn from_unix_nanos(nanos: u64) -> Self {
        Timestamp(nanos)
    }

    /// Nanoseconds since the Unix epoch.
    #[inline]
    pub const fn as_unix_nanos(self) -> u64 {
        self.0
    }

    /// Converts a `SystemTime`; times before the epoch become the epoch, and times past
    /// the year 2554 saturate.
    pub fn from_system_time(time: SystemTime) -> Self {
        let nanos = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        Timestamp(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The same instant as a `SystemTime`.
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.0)
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    #[inline]
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        Timestamp::from_system_time(time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_agrees_with_the_system_clock() {
        let before = Timestamp::from_system_time(SystemTime::now());
        let now = Timestamp::now();
        let after = Timestamp::from_system_time(SystemTime::now());
        // The anchored TSC clock may sit a little off the system clock; a few milliseconds
        // is far inside what calibration error allows over a test's lifetime.
        let slack = Duration::from_millis(5).as_nanos() as u64;
        assert!(
            now.as_unix_nanos() + slack >= before.as_unix_nanos(),
            "{now:?} < {before:?}"
        );
        assert!(
            now.as_unix_nanos() <= after.as_unix_nanos() + slack,
            "{now:?} > {after:?}"
        );
    }

    #[test]
    fn reads_are_monotonic_and_fine_grained() {
        let first = Timestamp::now();
        let mut last = first;
        let mut distinct = 0;
        for _ in 0..10_000 {
            let next = Timestamp::now();
            assert!(next >= last);
            if next != last {
                distinct += 1;
            }
            last = next;
        }
        // Sub-microsecond resolution shows as many distinct readings in a tight loop.
        assert!(distinct > 1_000, "only {distinct} distinct readings");
    }

    #[test]
    fn conversions() {
        let t = Timestamp::from_unix_nanos(1_700_000_000_123_456_789);
        assert_eq!(Timestamp::from(t.to_system_time()), t);
        assert_eq!(
            t.saturating_duration_since(Timestamp::from_unix_nanos(1_700_000_000_000_000_000)),
            Duration::from_nanos(123_456_789)
        );
        assert_eq!(
            Timestamp::UNIX_EPOCH.saturating_duration_since(t),
            Duration::ZERO
        );
        assert_eq!(
            Timestamp::from_system_time(UNIX_EPOCH - Duration::from_secs(1)).as_unix_nanos(),
            0
        );
    }

    #[test]
    fn elapsed_time_tracks_the_system_clock() {
        let source = Timestamp::source();
        assert_eq!(Timestamp::source(), source, "chosen once per process");
        // A miscalibrated TSC (wrong cycles per second) shows as a drift over a short sleep.
        let (start, system_start) = (Timestamp::now(), SystemTime::now());
        std::thread::sleep(Duration::from_millis(100));
        let (end, system_end) = (Timestamp::now(), SystemTime::now());
        let ours = end.saturating_duration_since(start).as_nanos() as i128;
        let system = system_end
            .duration_since(system_start)
            .unwrap_or_default()
            .as_nanos() as i128;
        assert!(
            (ours - system).abs() < Duration::from_millis(5).as_nanos() as i128,
            "{source:?}: {ours} ns elapsed against the system clock's {system} ns"
        );
    }
}
