//! Points in time as used throughout cad: milliseconds since the Unix epoch.
//!
//! A plain integer keeps samples small and comparisons cheap; conversions to
//! [`std::time::SystemTime`] and seconds are provided for adapters.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, in milliseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// From milliseconds since the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    /// From whole seconds since the epoch (saturating).
    pub const fn from_secs(s: i64) -> Self {
        Timestamp(s.saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Seconds since the epoch, with fraction.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// The current wall-clock time (times before 1970 read as the epoch).
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }

    /// RFC 3339 in UTC with milliseconds, e.g. `2023-11-14T22:13:20.250Z`.
    /// Times humantime cannot print (before 1970, after 9999) are given as
    /// milliseconds since the epoch instead.
    pub fn to_rfc3339(self) -> String {
        // 9999-12-31T23:59:59.999Z.
        const LAST: i64 = 253_402_300_799_999;
        if (0..=LAST).contains(&self.0) {
            humantime::format_rfc3339_millis(SystemTime::from(self)).to_string()
        } else {
            format!("{} ms since the epoch", self.0)
        }
    }

    /// Seconds from `earlier` to `self`; negative if `earlier` is later.
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        (self.0 as f64 - earlier.0 as f64) / 1000.0
    }
}

/// `t + d` and `t - d` move a time by a [`Duration`], saturating at the ends
/// of time; `+=` and `-=` too; [`Timestamp::since`] is the duration between
/// two times.
///
/// ```
/// use cad_core::Timestamp;
/// use std::time::Duration;
///
/// let t = Timestamp::from_secs(100);
/// assert_eq!(t + Duration::from_secs(10), Timestamp::from_secs(110));
/// assert_eq!(t - Duration::from_millis(500), Timestamp::from_millis(99_500));
/// let mut u = t;
/// u += Duration::from_secs(1);
/// assert_eq!(u.since(t), Duration::from_secs(1));
/// ```
impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    /// This time plus `d`, saturating at the end of time.
    fn add(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Timestamp;
    /// This time minus `d`, saturating at the start of time.
    fn sub(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }
}

impl std::ops::AddAssign<Duration> for Timestamp {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl std::ops::SubAssign<Duration> for Timestamp {
    fn sub_assign(&mut self, d: Duration) {
        *self = *self - d;
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            Err(e) => Timestamp(-i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX)),
        }
    }
}

impl From<Timestamp> for SystemTime {
    fn from(t: Timestamp) -> Self {
        if t.0 >= 0 {
            UNIX_EPOCH + Duration::from_millis(t.0 as u64)
        } else {
            UNIX_EPOCH - Duration::from_millis(t.0.unsigned_abs())
        }
    }
}

impl fmt::Display for Timestamp {
    /// Seconds since the epoch with millisecond precision, e.g. `1700000000.250`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:03}", a / 1000, a % 1000)
    }
}

/// Serde for a [`Duration`] as a number of seconds (`42.5`), the one
/// convention of cad's JSON outputs: `#[serde(with = "cad_core::time::seconds")]`.
pub mod seconds {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Writes `d` as seconds with fraction.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    /// Reads seconds (finite, not negative).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// A half-open time interval `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeWindow {
    /// First instant inside the window.
    pub start: Timestamp,
    /// First instant after the window.
    pub end: Timestamp,
}

impl TimeWindow {
    /// The window `[start, end)`; an inverted pair gives an empty window at `start`.
    pub fn new(start: Timestamp, end: Timestamp) -> Self {
        TimeWindow {
            start,
            end: end.max(start),
        }
    }

    /// The window of length `d` that ends at `end`.
    pub fn ending_at(end: Timestamp, d: Duration) -> Self {
        TimeWindow::new(end - d, end)
    }

    /// Whether `t` lies inside the window.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }

    /// The window's length.
    pub fn duration(&self) -> Duration {
        self.end.since(self.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_time_round_trip_and_display() {
        let t = Timestamp::from_millis(1_700_000_000_250);
        assert_eq!(Timestamp::from(SystemTime::from(t)), t);
        assert_eq!(t.to_string(), "1700000000.250");
        assert_eq!(Timestamp::from_millis(-1500).to_string(), "-1.500");
        assert_eq!(Timestamp::from(SystemTime::from(Timestamp(-1500))), Timestamp(-1500));
        assert_eq!(t.to_rfc3339(), "2023-11-14T22:13:20.250Z");
        assert_eq!(Timestamp(-1).to_rfc3339(), "-1 ms since the epoch");
        assert_eq!(
            Timestamp(i64::MAX).to_rfc3339(),
            format!("{} ms since the epoch", i64::MAX)
        );
        assert_eq!(Timestamp(253_402_300_799_999).to_rfc3339(), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn windows_are_half_open_and_never_inverted() {
        let w = TimeWindow::new(Timestamp(10), Timestamp(20));
        assert!(w.contains(Timestamp(10)) && !w.contains(Timestamp(20)));
        let inv = TimeWindow::new(Timestamp(20), Timestamp(10));
        assert_eq!(inv.duration(), Duration::ZERO);
        assert!(!inv.contains(Timestamp(20)));
        assert_eq!(Timestamp(5).since(Timestamp(9)), Duration::ZERO);
        assert_eq!(Timestamp(i64::MAX) + Duration::from_secs(1), Timestamp(i64::MAX));
        assert_eq!(Timestamp(i64::MIN) - Duration::from_secs(1), Timestamp(i64::MIN));
    }
}
