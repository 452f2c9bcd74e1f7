//! Grouping a container's samples into aligned [`Snapshot`]s.
//!
//! See the [module documentation](super) for the rule. This is the hot path
//! of the collector (thousands of containers × dozens of samples), so it
//! allocates once per container (the snapshot list, plus one sorted copy of
//! the samples when they do not arrive sorted) and indexes metrics by
//! position in [`Metric::ALL`] instead of hashing.

use super::ContainerInput;
use crate::metric::{Metric, MetricScope, Sample};
use crate::time::Timestamp;

/// Number of metrics in the catalogue; the length of per-metric arrays.
pub(crate) const N_METRICS: usize = Metric::ALL.len();

/// The position of `m` in [`Metric::ALL`] (the catalogue macro declares the
/// variants in that order, so the discriminant is the position; a test checks).
#[inline]
pub(crate) const fn idx(m: Metric) -> usize {
    m as usize
}

/// A set of metrics as a fixed bit mask over [`Metric::ALL`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MetricMask([bool; N_METRICS]);

impl MetricMask {
    pub(crate) fn of(metrics: impl IntoIterator<Item = Metric>) -> Self {
        let mut mask = MetricMask::default();
        for m in metrics {
            mask.0[idx(m)] = true;
        }
        mask
    }

    #[inline]
    pub(crate) fn contains(&self, m: Metric) -> bool {
        self.0[idx(m)]
    }

    /// These metrics and the ones [`align`] reads them from: the CPU
    /// counter when the CPU gauge is read ([`derived_nanocores`]).
    pub(crate) fn with_sources(mut self) -> Self {
        if self.contains(Metric::CpuUsageNanocores) {
            self.0[idx(Metric::CpuUsageCoreNanoseconds)] = true;
        }
        self
    }
}

/// The values of the metrics at one moment: the samples Telegraf wrote for
/// one scrape, aligned (see the [module documentation](super)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Snapshot {
    /// When the snapshot was taken: the time of its first sample.
    pub time: Timestamp,
    values: [Option<f64>; N_METRICS],
}

impl Snapshot {
    /// An empty snapshot at `time`.
    pub const fn new(time: Timestamp) -> Self {
        Snapshot {
            time,
            values: [None; N_METRICS],
        }
    }

    /// The value of `m`, if the snapshot has one. Never NaN, infinite or negative.
    #[inline]
    pub fn get(&self, m: Metric) -> Option<f64> {
        self.values[idx(m)]
    }

    /// Sets (or with `None` clears) the value of `m`. A NaN, infinite or
    /// negative value clears it: snapshots only hold usable values.
    pub fn set(&mut self, m: Metric, value: Option<f64>) {
        self.values[idx(m)] = value.and_then(usable);
    }

    /// Whether the snapshot has a value for every metric in `required`.
    pub fn has_all(&self, required: &[Metric]) -> bool {
        required.iter().all(|m| self.values[idx(*m)].is_some())
    }
}

/// `v` if it is a usable metric value (finite, not negative), with `-0.0`
/// turned into `0.0`.
#[inline]
pub(crate) fn usable(v: f64) -> Option<f64> {
    (v.is_finite() && v >= 0.0).then_some(v + 0.0)
}

/// Why a sample's value is dropped, for the debug log.
fn rejection(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v.is_infinite() {
        "infinite"
    } else {
        "negative"
    }
}

/// The CPU gauge derived from the CPU counter, when the set reads the gauge
/// and `samples` have the counter but not one sample of the gauge (a
/// Prometheus or cAdvisor source); `None` otherwise.
fn derived_nanocores(samples: &[Sample], reads: MetricMask) -> Option<Vec<Sample>> {
    if !reads.contains(Metric::CpuUsageNanocores) {
        return None;
    }
    let mut counters = 0;
    for s in samples {
        match s.metric {
            Metric::CpuUsageNanocores => return None,
            Metric::CpuUsageCoreNanoseconds => counters += 1,
            _ => {}
        }
    }
    (counters >= 2).then(|| crate::metric::derive_nanocores(samples))
}

/// What the aligner should produce.
pub(crate) struct AlignSpec<'a> {
    /// Metrics to keep; samples of other metrics are ignored.
    pub reads: MetricMask,
    /// Metrics a complete snapshot has.
    pub required: &'a [Metric],
    /// Samples up to this many milliseconds after a snapshot's first sample join it.
    pub tolerance_ms: i64,
    /// Keep only complete snapshots.
    pub only_complete: bool,
    /// Stop after this many snapshots (of the kind kept).
    pub limit: usize,
}

/// Aligns `input`'s samples into snapshots following `spec`.
pub(crate) fn align(input: &ContainerInput<'_>, spec: &AlignSpec<'_>) -> Vec<Snapshot> {
    let with_derived;
    let samples = match derived_nanocores(input.samples, spec.reads) {
        Some(derived) => {
            with_derived = [input.samples, &derived].concat();
            &with_derived[..]
        }
        None => input.samples,
    };
    let sorted_copy;
    let sorted: &[Sample] = if samples.is_sorted_by_key(|s| s.time) {
        samples
    } else {
        let mut v = samples.to_vec();
        // Stable: samples with equal times keep their order, so the later one
        // of two duplicates is the one kept.
        v.sort_by_key(|s| s.time);
        sorted_copy = v;
        &sorted_copy
    };

    let image_size = input.container.image_size_bytes.map(|b| b as f64).and_then(usable);
    let start = input.pod.start_time;
    let derive_image = spec.reads.contains(Metric::ImageSizeBytes);
    let derive_running = spec.reads.contains(Metric::RunningTimeSeconds);
    let tolerance = spec.tolerance_ms.max(0);

    // The container's previous reading of the CPU counter, for Telegraf's
    // first-scrape zero (see `finish`).
    let mut counter_before: Option<f64> = None;
    // Finishes a snapshot: Telegraf's zero, derived metrics, completeness,
    // keep or drop.
    let mut finish = |mut snap: Snapshot, out: &mut Vec<Snapshot>| {
        // A CPU gauge at 0 that the counter shows cannot be a measurement
        // (the kubelet had no rate; Telegraf wrote 0) is not known, before
        // completeness is decided: such a first scrape is no complete snapshot.
        if let Some(counter) = snap.get(Metric::CpuUsageCoreNanoseconds) {
            if snap.get(Metric::CpuUsageNanocores) == Some(0.0)
                && crate::metric::nanocores_zero_is_unknown(counter, counter_before)
            {
                tracing::debug!(time = %snap.time, counter, "cpu_usage_nanocores 0 read as not known");
                snap.values[idx(Metric::CpuUsageNanocores)] = None;
            }
            counter_before = Some(counter);
        }
        if derive_image {
            snap.values[idx(Metric::ImageSizeBytes)] = image_size;
        }
        if derive_running {
            snap.values[idx(Metric::RunningTimeSeconds)] = start.and_then(|s| usable(snap.time.secs_since(s)));
        }
        if !spec.only_complete || snap.has_all(spec.required) {
            out.push(snap);
        }
    };

    let mut out = Vec::with_capacity(if spec.limit == usize::MAX {
        // Telegraf writes a handful of measurements per scrape; a rough guess
        // that avoids most regrowth without over-allocating much.
        sorted.len() / 4 + 1
    } else {
        spec.limit
    });
    let mut current: Option<Snapshot> = None;
    // Time of the sample that set each value of `current`.
    let mut set_at = [Timestamp::EPOCH; N_METRICS];

    for s in sorted {
        if !spec.reads.contains(s.metric) {
            continue;
        }
        if s.metric.scope() == MetricScope::PodInfo {
            tracing::debug!(metric = %s.metric, "ignoring a sample of a metric derived from pod info");
            continue;
        }
        let Some(value) = usable(s.value) else {
            tracing::debug!(metric = %s.metric, value = s.value, time = %s.time,
                reason = rejection(s.value), "dropping a sample");
            continue;
        };
        let i = idx(s.metric);
        let snap = match current.as_mut() {
            Some(snap)
                if s.time.0.saturating_sub(snap.time.0) <= tolerance
                    && (snap.values[i].is_none() || set_at[i] == s.time) =>
            {
                snap
            }
            _ => {
                if let Some(done) = current.take() {
                    finish(done, &mut out);
                    if out.len() >= spec.limit {
                        return out;
                    }
                }
                current.insert(Snapshot::new(s.time))
            }
        };
        snap.values[i] = Some(value);
        set_at[i] = s.time;
    }
    if let Some(done) = current.take() {
        finish(done, &mut out);
    }
    out.truncate(spec.limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_discriminant_is_its_position_in_the_catalogue() {
        for (i, m) in Metric::ALL.iter().enumerate() {
            assert_eq!(idx(*m), i, "{m}");
        }
    }

    #[test]
    fn the_cpu_gauge_is_derived_from_the_counter_only_when_absent() {
        use crate::features::FeatureSet;
        use crate::pod::{ContainerInfo, PodId, PodInfo};
        let pod = PodInfo::new(PodId::new("ns", "p", "u"));
        let container = ContainerInfo::new("c", "i");
        let set = FeatureSet::behaviour();
        let counter_only: Vec<Sample> = (0..5)
            .flat_map(|i| {
                let t = Timestamp::from_secs(10 * i);
                [
                    Sample::new(t, Metric::MemoryUsageBytes, 8e6),
                    // Half a core.
                    Sample::new(t, Metric::CpuUsageCoreNanoseconds, 5e9 * i as f64),
                ]
            })
            .collect();
        let input = ContainerInput {
            pod: &pod,
            container: &container,
            samples: &counter_only,
        };
        let snaps = set.complete_snapshot_list(&input);
        assert_eq!(snaps.len(), 4, "the first reading has no predecessor");
        assert!(snaps.iter().all(|s| s.get(Metric::CpuUsageNanocores) == Some(5e8)));
        // A source with the gauge keeps its own values.
        let mut with_gauge = counter_only.clone();
        with_gauge.push(Sample::new(Timestamp::from_secs(0), Metric::CpuUsageNanocores, 1.0));
        let input = ContainerInput {
            samples: &with_gauge,
            ..input
        };
        let snaps = set.snapshots(&input);
        assert_eq!(snaps[0].get(Metric::CpuUsageNanocores), Some(1.0));
        assert!(snaps[1..].iter().all(|s| s.get(Metric::CpuUsageNanocores).is_none()));
        // A set that does not read the gauge derives nothing.
        let mut no_cpu = set.clone();
        no_cpu.columns.retain(|c| {
            c.feature
                .metrics()
                .iter()
                .all(|m| *m != Some(Metric::CpuUsageNanocores))
        });
        no_cpu.required = vec![Metric::MemoryUsageBytes];
        assert!(
            no_cpu
                .snapshots(&ContainerInput {
                    samples: &counter_only,
                    ..input
                })
                .iter()
                .all(|s| s.get(Metric::CpuUsageNanocores).is_none())
        );
    }

    #[test]
    fn snapshots_refuse_unusable_values() {
        let mut s = Snapshot::new(Timestamp(0));
        s.set(Metric::RxBytes, Some(f64::NAN));
        assert_eq!(s.get(Metric::RxBytes), None);
        s.set(Metric::RxBytes, Some(-1.0));
        assert_eq!(s.get(Metric::RxBytes), None);
        s.set(Metric::RxBytes, Some(f64::INFINITY));
        assert_eq!(s.get(Metric::RxBytes), None);
        s.set(Metric::RxBytes, Some(3.0));
        assert_eq!(s.get(Metric::RxBytes), Some(3.0));
        assert!(s.has_all(&[Metric::RxBytes]));
        assert!(!s.has_all(&[Metric::RxBytes, Metric::TxBytes]));
    }
}
