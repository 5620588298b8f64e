//! Caller-supplied time.
//!
//! The core never reads a clock: every entry point takes an [`Instant`] from
//! the caller, which makes runs reproducible and lets a simulator drive
//! thousands of connections on a virtual clock.

use core::ops::{Add, Sub};
use core::time::Duration;

/// A point on the caller's monotonic clock, in microseconds from an arbitrary
/// origin the caller chooses (process start, a simulation's zero, ...).
///
/// Arithmetic saturates instead of panicking, so a hostile or buggy clock can
/// not crash the library.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The origin of the caller's clock.
    pub const ZERO: Instant = Instant(0);

    /// An instant `micros` microseconds after the origin.
    pub const fn from_micros(micros: u64) -> Self {
        Instant(micros)
    }

    /// An instant `millis` milliseconds after the origin (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Instant(millis.saturating_mul(1000))
    }

    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

/// Microseconds in `d`, saturated to `u64::MAX`.
pub(crate) fn duration_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(duration_micros(rhs)))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_sub(duration_micros(rhs)))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: an `earlier` that is later gives zero.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_millis(5);
        assert_eq!(t.as_micros(), 5_000);
        assert_eq!((t + Duration::from_millis(1)).as_micros(), 6_000);
        assert_eq!(Instant::ZERO - t, Duration::ZERO);
        assert_eq!(t - Instant::ZERO, Duration::from_millis(5));
        assert_eq!(
            Instant::from_micros(u64::MAX) + Duration::MAX,
            Instant::from_micros(u64::MAX)
        );
        assert_eq!(Instant::from_millis(u64::MAX).as_micros(), u64::MAX);
        assert_eq!((t - Duration::from_secs(1)).as_micros(), 0);
    }
}
