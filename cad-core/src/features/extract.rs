//! Computing one column's value from a window of snapshots.
//!
//! Every function returns `None` rather than a non-finite number: inputs are
//! already finite and non-negative (the aligner sees to it), and results
//! that still overflow are caught by [`finite`]. A 0 in a metric where 0
//! means "not known" ([`Metric::zero_means_unknown`]) is read as missing,
//! and a ratio with a zero denominator is `None`, never infinity or a fake 0.

use super::align::Snapshot;
use super::java_hash::java_string_hash;
use super::{ContainerInput, Feature, Identity};
use crate::metric::Metric;
use crate::time::Timestamp;

/// `x` if it is finite.
#[inline]
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// The value of `feature` over `window` (oldest snapshot first).
pub(crate) fn compute(feature: Feature, input: &ContainerInput<'_>, window: &[Snapshot]) -> Option<f64> {
    match feature {
        Feature::IdentityHash(id) => Some(f64::from(java_string_hash(identity(id, input)))),
        Feature::Last(m) => window.last().and_then(|s| value(s, m)),
        Feature::Mean(m) => stats(m, window).map(|s| s.mean),
        Feature::Max(m) => stats(m, window).map(|s| s.max),
        Feature::StdDev(m) => stats(m, window).map(|s| s.std_dev),
        Feature::Rate(m) => rate(m, window, input.pod.start_time),
        Feature::Growth(m) => growth(m, window),
        Feature::Ratio(a, b) => ratio(stats(a, window)?.mean, stats(b, window)?.mean),
        Feature::RateRatio(a, b) => ratio(
            rate(a, window, input.pod.start_time)?,
            rate(b, window, input.pod.start_time)?,
        ),
        Feature::External => None,
    }
}

/// The value of `m` in snapshot `s`, a 0 that means "not known" read as missing.
#[inline]
fn value(s: &Snapshot, m: Metric) -> Option<f64> {
    s.get(m).filter(|v| *v != 0.0 || !m.zero_means_unknown())
}

/// `a / b`, `None` when `b` is 0.
fn ratio(a: f64, b: f64) -> Option<f64> {
    if b > 0.0 { finite(a / b) } else { None }
}

/// The growth per second of gauge `m` over `window`: the sum of its
/// increases between consecutive snapshots that have it (decreases count as
/// 0: a rotated log or a recycled file is not negative growth), divided by
/// the seconds between the first and the last of them. `None` with fewer
/// than two such snapshots.
fn growth(m: Metric, window: &[Snapshot]) -> Option<f64> {
    let mut first: Option<Timestamp> = None;
    let mut last: Option<(Timestamp, f64)> = None;
    let mut increase = 0.0f64;
    for s in window {
        let Some(v) = value(s, m) else { continue };
        match last {
            None => first = Some(s.time),
            Some((_, prev)) => increase += (v - prev).max(0.0),
        }
        last = Some((s.time, v));
    }
    let secs = last?.0.secs_since(first?);
    if secs > 0.0 { finite(increase / secs) } else { None }
}

fn identity<'a>(id: Identity, input: &ContainerInput<'a>) -> &'a str {
    match id {
        Identity::PodName => &input.pod.id.name,
        Identity::Namespace => &input.pod.id.namespace,
        Identity::ImageName => &input.container.image,
        Identity::ContainerName => &input.container.name,
    }
}

/// Mean, maximum and population standard deviation of a gauge.
#[derive(Debug, PartialEq)]
struct Stats {
    mean: f64,
    max: f64,
    std_dev: f64,
}

/// The statistics of `m` over the snapshots of `window` that have it.
///
/// Values are divided by the maximum before summing and squaring, so even
/// values near `f64::MAX` give finite results (1e300² would overflow).
fn stats(m: Metric, window: &[Snapshot]) -> Option<Stats> {
    let mut n = 0usize;
    let mut max = 0.0f64;
    for v in window.iter().filter_map(|s| value(s, m)) {
        n += 1;
        max = max.max(v);
    }
    if n == 0 {
        return None;
    }
    if max == 0.0 {
        return Some(Stats {
            mean: 0.0,
            max: 0.0,
            std_dev: 0.0,
        });
    }
    let count = n as f64;
    let scaled_mean = window.iter().filter_map(|s| value(s, m)).map(|v| v / max).sum::<f64>() / count;
    let scaled_var = window
        .iter()
        .filter_map(|s| value(s, m))
        .map(|v| {
            let d = v / max - scaled_mean;
            d * d
        })
        .sum::<f64>()
        / count;
    Some(Stats {
        mean: finite(scaled_mean * max)?,
        max,
        std_dev: finite(scaled_var.sqrt() * max)?,
    })
}

/// The per-second rate of counter `m` over `window`.
///
/// The sum of the increases between consecutive snapshots that have the
/// counter — a decrease means the container restarted, and the new value is
/// the increase since then (as Prometheus' `rate()` counts it) — divided by
/// the seconds between the first and the last of those snapshots.
///
/// With a single such snapshot, the lifetime average `value / seconds since
/// the pod started`, if the pod's start is known and before the snapshot.
fn rate(m: Metric, window: &[Snapshot], pod_start: Option<Timestamp>) -> Option<f64> {
    let mut first: Option<(Timestamp, f64)> = None;
    let mut last: Option<(Timestamp, f64)> = None;
    let mut increase = 0.0f64;
    let mut n = 0usize;
    for s in window {
        let Some(v) = value(s, m) else { continue };
        match last {
            None => first = Some((s.time, v)),
            Some((_, prev)) => increase += if v >= prev { v - prev } else { v },
        }
        last = Some((s.time, v));
        n += 1;
    }
    let (t0, v0) = first?;
    let (t1, _) = last?;
    if n == 1 {
        let secs = t0.secs_since(pod_start?);
        return if secs > 0.0 { finite(v0 / secs) } else { None };
    }
    let secs = t1.secs_since(t0);
    if secs > 0.0 { finite(increase / secs) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::Metric::*;

    fn snaps(points: &[(i64, Option<f64>)], m: Metric) -> Vec<Snapshot> {
        points
            .iter()
            .map(|(t, v)| {
                let mut s = Snapshot::new(Timestamp(*t));
                s.set(m, *v);
                s
            })
            .collect()
    }

    #[test]
    fn rate_sums_increases_over_elapsed_seconds() {
        let w = snaps(
            &[(0, Some(100.0)), (10_000, Some(300.0)), (20_000, Some(600.0))],
            RxBytes,
        );
        assert_eq!(rate(RxBytes, &w, None), Some(25.0));
    }

    #[test]
    fn rate_treats_a_decrease_as_a_restart() {
        // 100 → 300 (+200), restart, → 50 (+50 since restart), → 150 (+100).
        let w = snaps(
            &[
                (0, Some(100.0)),
                (10_000, Some(300.0)),
                (20_000, Some(50.0)),
                (30_000, Some(150.0)),
            ],
            RxBytes,
        );
        assert_eq!(rate(RxBytes, &w, None), Some(350.0 / 30.0));
    }

    #[test]
    fn rate_uses_only_snapshots_holding_the_counter() {
        let w = snaps(
            &[(0, None), (10_000, Some(100.0)), (20_000, None), (30_000, Some(400.0))],
            TxBytes,
        );
        assert_eq!(rate(TxBytes, &w, None), Some(300.0 / 20.0));
    }

    #[test]
    fn rate_falls_back_to_the_lifetime_average() {
        let w = snaps(&[(0, None), (60_000, Some(1200.0)), (70_000, None)], RxBytes);
        assert_eq!(rate(RxBytes, &w, Some(Timestamp(0))), Some(20.0));
        assert_eq!(rate(RxBytes, &w, None), None, "start unknown");
        assert_eq!(
            rate(RxBytes, &w, Some(Timestamp(60_000))),
            None,
            "started at the snapshot"
        );
        assert_eq!(rate(RxBytes, &w, Some(Timestamp(90_000))), None, "started after it");
        assert_eq!(rate(RxBytes, &snaps(&[(0, None)], RxBytes), Some(Timestamp(-1))), None);
    }

    #[test]
    fn gauge_statistics_use_snapshots_holding_the_gauge() {
        let w = snaps(
            &[(0, Some(2.0)), (1, None), (2, Some(4.0)), (3, Some(6.0))],
            MemoryUsageBytes,
        );
        let s = stats(MemoryUsageBytes, &w).unwrap();
        assert!((s.mean - 4.0).abs() < 1e-12);
        assert_eq!(s.max, 6.0);
        assert!((s.std_dev - (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(stats(MemoryRssBytes, &w), None);
        let zeros = snaps(&[(0, Some(0.0)), (1, Some(0.0))], CpuUsageNanocores);
        assert_eq!(stats(CpuUsageNanocores, &zeros).map(|s| s.std_dev), Some(0.0));
    }

    #[test]
    fn zero_is_unknown_where_telegraf_writes_0_for_unknown() {
        // Memory usage 0 is "not reported", not a measurement.
        let w = snaps(&[(0, Some(0.0)), (10_000, Some(0.0))], MemoryUsageBytes);
        assert_eq!(stats(MemoryUsageBytes, &w), None);
        let w = snaps(&[(0, Some(0.0)), (10_000, Some(6.0))], MemoryUsageBytes);
        assert_eq!(stats(MemoryUsageBytes, &w).map(|s| s.mean), Some(6.0));
        // A page-fault counter at 0 is unknown; bytes sent at 0 are a measurement.
        let w = snaps(&[(0, Some(0.0)), (10_000, Some(0.0))], MemoryPageFaults);
        assert_eq!(rate(MemoryPageFaults, &w, None), None);
        let w = snaps(&[(0, Some(0.0)), (10_000, Some(0.0))], TxBytes);
        assert_eq!(rate(TxBytes, &w, None), Some(0.0));
    }

    #[test]
    fn growth_counts_increases_only() {
        // +100, rotated (-250: no growth), +50 over 30 s.
        let w = snaps(
            &[
                (0, Some(200.0)),
                (10_000, Some(300.0)),
                (20_000, Some(50.0)),
                (30_000, Some(100.0)),
            ],
            LogsfsUsedBytes,
        );
        assert_eq!(growth(LogsfsUsedBytes, &w), Some(150.0 / 30.0));
        let flat = snaps(&[(0, Some(7.0)), (10_000, Some(7.0))], VolumeUsedBytes);
        assert_eq!(growth(VolumeUsedBytes, &flat), Some(0.0));
        assert_eq!(
            growth(VolumeUsedBytes, &flat[..1]),
            None,
            "one snapshot: no growth known"
        );
        assert_eq!(growth(RootfsUsedBytes, &flat), None, "metric absent");
    }

    fn two(points: &[(i64, f64, f64)], a: Metric, b: Metric) -> Vec<Snapshot> {
        points
            .iter()
            .map(|&(t, x, y)| {
                let mut s = Snapshot::new(Timestamp(t));
                s.set(a, Some(x));
                s.set(b, Some(y));
                s
            })
            .collect()
    }

    #[test]
    fn ratios_are_none_on_a_zero_or_unknown_denominator() {
        let p = crate::pod::PodInfo::new(crate::pod::PodId::new("n", "p", "u"));
        let c = crate::pod::ContainerInfo::new("c", "i");
        let input = ContainerInput {
            pod: &p,
            container: &c,
            samples: &[],
        };
        let w = two(&[(0, 2.0, 8.0), (10_000, 4.0, 8.0)], MemoryRssBytes, MemoryUsageBytes);
        let f = Feature::Ratio(MemoryRssBytes, MemoryUsageBytes);
        assert_eq!(compute(f, &input, &w), Some(3.0 / 8.0));
        let w = two(&[(0, 2.0, 0.0), (10_000, 4.0, 0.0)], MemoryRssBytes, MemoryUsageBytes);
        assert_eq!(compute(f, &input, &w), None, "usage written as 0: unknown");
        let w = two(&[(0, 0.0, 8.0), (10_000, 0.0, 8.0)], MemoryRssBytes, MemoryUsageBytes);
        assert_eq!(compute(f, &input, &w), None, "rss written as 0: unknown");

        // Page faults per byte sent: 0 faults is a measurement (nginx), no
        // bytes sent is a zero denominator.
        let f = Feature::RateRatio(MemoryPageFaults, TxBytes);
        let w = two(&[(0, 100.0, 0.0), (10_000, 100.0, 1000.0)], MemoryPageFaults, TxBytes);
        assert_eq!(compute(f, &input, &w), Some(0.0));
        let w = two(&[(0, 100.0, 0.0), (10_000, 150.0, 1000.0)], MemoryPageFaults, TxBytes);
        assert_eq!(compute(f, &input, &w), Some(0.05));
        let w = two(&[(0, 100.0, 500.0), (10_000, 150.0, 500.0)], MemoryPageFaults, TxBytes);
        assert_eq!(compute(f, &input, &w), None, "nothing sent");
        let w = two(&[(0, 0.0, 0.0), (10_000, 0.0, 1000.0)], MemoryPageFaults, TxBytes);
        assert_eq!(compute(f, &input, &w), None, "faults written as 0: unknown");
    }

    #[test]
    fn huge_gauges_do_not_overflow() {
        let w = snaps(
            &[(0, Some(f64::MAX)), (1, Some(f64::MAX / 2.0)), (2, Some(1e300))],
            MemoryUsageBytes,
        );
        let s = stats(MemoryUsageBytes, &w).unwrap();
        assert!(s.mean.is_finite() && s.std_dev.is_finite() && s.std_dev > 0.0);
        assert_eq!(s.max, f64::MAX);
    }
}
