//! Feature extraction: turning a container's raw samples into rows.
//!
//! A [`FeatureSet`] names the columns a model uses and how each is computed
//! from the samples of a window of aligned *snapshots*. The model bundle
//! carries its feature set, so the watcher computes exactly the columns the
//! model was trained on.
//!
//! Named sets (defined together in one place, [`sets`], which also says what
//! each requires of a metric source):
//! * `legacy` — the old system's 15 columns in the old order (identity
//!   hashes, raw gauges, raw cumulative counters), so the old ARFF files can
//!   be used. It leaks the label through the pod-name hash: comparison only.
//! * `behaviour` (the default) — behavioural columns only, none that grows
//!   with a pod's age, identifies its image or follows its load: the memory
//!   footprint (working set, RSS), the shares of memory usage that are
//!   resident and in the working set, the growth per second of the volume
//!   and the logs, and the cost per unit of work as ratios of rates (CPU
//!   nanoseconds per byte received and sent, page faults per CPU nanosecond
//!   and per byte sent, …); no names, namespaces or image hashes, no levels
//!   of memory usage or of the file systems, no rates of CPU or traffic.
//! * `behaviour-v2` — the behaviour set from issue 16 to issue 17, with the
//!   load's levels (CPU mean, max and spread, rates of traffic, block I/O and
//!   page faults): to compare, and to read models and files written with it.
//! * `behaviour-v1` — the behaviour set before issue 16, with levels of
//!   memory usage and the file systems too.
//!
//! # Alignment: from samples to snapshots
//!
//! Telegraf writes each measurement (`kubernetes_pod_container`,
//! `kubernetes_pod_network`, `docker_container_blkio`, …) every ~10 s, but
//! with slightly different timestamps, up to a couple of seconds apart. The
//! extractor regroups them into [`Snapshot`]s, one per scrape:
//!
//! 0. If the set reads [`Metric::CpuUsageNanocores`] and the container's
//!    samples have the CPU counter ([`Metric::CpuUsageCoreNanoseconds`]) but
//!    no nanocores at all — what Prometheus and cAdvisor give — the gauge is
//!    derived from the counter ([`derive_nanocores`](crate::metric::derive_nanocores):
//!    one value at every counter reading after the first, none across a
//!    restart). A source that has the gauge itself is used as it is.
//! 1. Samples of metrics the set does not read are ignored, so rows do not
//!    depend on what else a source returns. Samples with a NaN, infinite or
//!    negative value are dropped (logged at debug level with the reason).
//!    Samples of metrics derived from pod info (scope
//!    [`MetricScope::PodInfo`]) are ignored too.
//! 2. The rest are sorted by time (stably; any input order is fine).
//! 3. A sample joins the current snapshot unless it is more than
//!    [`FeatureSet::align_tolerance_ms`] (default 5,000 ms) after the
//!    snapshot's first sample, or its metric already has a value there; then
//!    it starts a new snapshot. The exception is an exact duplicate — the
//!    same metric at the same time as the value already there — which
//!    replaces it: the last value wins.
//! 4. A snapshot's time is its first sample's time.
//! 5. Derived metrics are filled in: `image_size_bytes` from
//!    [`ContainerInfo::image_size_bytes`], `running_time_seconds` = snapshot
//!    time − [`PodInfo::start_time`] (none if unknown or not positive).
//! 6. A `cpu_usage_nanocores` of exactly 0 is cleared (not known) when the
//!    snapshot has the CPU counter and there is no earlier counter reading
//!    or the counter changed since it
//!    ([`nanocores_zero_is_unknown`](crate::metric::nanocores_zero_is_unknown)):
//!    the kubelet had no rate (a first scrape, the first after a restart)
//!    and Telegraf wrote 0, or CPU was used. With the counter unchanged (an
//!    idle container) or no counter read, the 0 stays.
//! 7. A snapshot is *complete* when it has every metric of
//!    [`FeatureSet::required`]. Only complete snapshots make rows.
//!
//! # Windows and rows
//!
//! A row is computed from `window` consecutive complete snapshots; training
//! rows ([`FeatureSet::rows`]) start every `stride` complete snapshots, so a
//! container with `n ≥ window` complete snapshots gives
//! `(n − window) / stride + 1` rows (none if `n < window`). The watcher
//! classifies a container with [`FeatureSet::latest_row`], the last of those
//! rows, once it has enough complete snapshots; [`FeatureSet::first_row`] is
//! the row of the first `window` complete snapshots. A `window` or `stride`
//! of 0 (possible in a deserialised set) is treated as 1.
//!
//! Per column ([`Feature`]):
//! * `Last` — the value in the window's last snapshot.
//! * `Mean`, `Max`, `StdDev` (population) — over the window's snapshots that
//!   have the metric.
//! * `Rate` — for counters: the sum of the increases between consecutive
//!   snapshots that have the counter (a decrease means a restart, and the
//!   new value is the increase, as in Prometheus' `rate()`), divided by the
//!   seconds between the first and the last of them. With only one such
//!   snapshot: the lifetime average `value / seconds since the pod started`
//!   if the start is known and earlier, else none.
//! * `Growth` — for gauges of accumulated state: the sum of the increases
//!   between consecutive snapshots that have the gauge (a decrease — a
//!   rotated log, a recycled WAL segment — counts as none), per second
//!   between the first and the last of them; none with fewer than two.
//! * `Ratio(a, b)` — `Mean(a) / Mean(b)`; `RateRatio(a, b)` — `Rate(a) /
//!   Rate(b)`. A zero denominator gives none.
//! * `IdentityHash` — [`java_string_hash`] of the string, as the old system did.
//!
//! In every column, a 0 in a metric where Telegraf writes 0 for "not known"
//! ([`Metric::zero_means_unknown`]: memory usage, working set, RSS, page
//! faults) is read as missing, and so is Telegraf's first-scrape CPU 0
//! (step 6 above). A value that cannot be computed is `None`, never 0. No NaN or infinity
//! ever leaves the extractor: an arithmetic result that is not finite
//! becomes `None`.
//!
//! # Example
//!
//! ```
//! use cad_core::{ContainerInfo, ContainerInput, FeatureSet, Metric, PodId, PodInfo, Sample, Timestamp};
//!
//! let pod = PodInfo::new(PodId::new("default", "nginx-1", "u1"));
//! let container = ContainerInfo::new("nginx", "nginx:1.25");
//! let mut samples = Vec::new();
//! for i in 0..4 {
//!     let t = i * 10_000;
//!     samples.push(Sample::new(Timestamp(t), Metric::MemoryUsageBytes, 8e6));
//!     samples.push(Sample::new(Timestamp(t + 300), Metric::CpuUsageNanocores, 2e6));
//!     samples.push(Sample::new(Timestamp(t + 1_500), Metric::RxBytes, 1000.0 * i as f64));
//! }
//! let input = ContainerInput { pod: &pod, container: &container, samples: &samples };
//! // The set before issue 17 has the traffic rates (`behaviour` has
//! // only costs per byte, which need the CPU counter too).
//! let set = FeatureSet::behaviour_v2();
//! let rows = set.rows(&input);
//! assert_eq!(rows.len(), 2); // windows of 3 snapshots out of 4
//! let rx = set.column_names().iter().position(|n| n == "rate(rx_bytes)").unwrap();
//! assert_eq!(rows[0][rx], Some(100.0)); // 2000 bytes in 20 s
//! assert_eq!(set.first_row(&input), Some(rows[0].clone()));
//! ```

mod align;
mod extract;
mod java_hash;
pub mod sets;

pub use align::Snapshot;
pub use java_hash::java_string_hash;
pub use sets::DEFAULT_ALIGN_TOLERANCE_MS;

use crate::metric::{Metric, MetricScope, Sample};
use crate::pod::{ContainerInfo, PodInfo};
use crate::time::Timestamp;
use align::{AlignSpec, MetricMask};
use serde::{Deserialize, Serialize};

/// An identity string whose Java `String.hashCode()` the legacy set uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Identity {
    /// The pod's name.
    PodName,
    /// The pod's namespace.
    Namespace,
    /// The container's image reference.
    ImageName,
    /// The container's name.
    ContainerName,
}

/// How one column is computed from a window of snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Feature {
    /// Java `String.hashCode()` of an identity string (legacy set only).
    IdentityHash(Identity),
    /// The metric's value in the window's last snapshot.
    Last(Metric),
    /// The mean of the metric over the window's snapshots.
    Mean(Metric),
    /// The maximum of the metric over the window's snapshots.
    Max(Metric),
    /// The population standard deviation of the metric over the window.
    StdDev(Metric),
    /// The per-second rate of a counter over the window.
    Rate(Metric),
    /// A column that came with a data file (ARFF/CSV) and that cad cannot
    /// compute from metrics: always missing when extracted.
    External,
    /// How fast a gauge of accumulated state grows: the sum of its increases
    /// between consecutive snapshots, per second. Decreases (log rotation,
    /// recycled WAL segments, reclaimed cache) count as no growth.
    Growth(Metric),
    /// The mean of one gauge over the mean of another (`rss / usage`).
    Ratio(Metric, Metric),
    /// The rate of one counter over the rate of another (page faults per
    /// byte sent, bytes sent per byte received).
    RateRatio(Metric, Metric),
}

/// One named column of a feature set.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Column {
    /// The column's name (in data sets, ARFF files and printed trees).
    pub name: String,
    /// How it is computed.
    pub feature: Feature,
}

/// A named list of columns plus how samples are grouped into windows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureSet {
    /// The set's name (`legacy`, `behaviour`, or a custom one).
    pub name: String,
    /// The columns, in order.
    pub columns: Vec<Column>,
    /// Metrics a snapshot must have to count as complete; a container with
    /// fewer complete snapshots than [`window`](Self::window) gives no row.
    /// All built-in sets require memory usage and CPU nanocores (derived from
    /// the CPU counter when a source has only that): see [`sets`].
    pub required: Vec<Metric>,
    /// Complete snapshots per row.
    pub window: usize,
    /// Snapshots between the starts of consecutive training rows.
    pub stride: usize,
    /// Samples closer in time than this (milliseconds) belong to one snapshot.
    pub align_tolerance_ms: i64,
}

/// The samples of one container, with what the pod source knows of it.
#[derive(Clone, Copy, Debug)]
pub struct ContainerInput<'a> {
    /// The container's pod.
    pub pod: &'a PodInfo,
    /// The container.
    pub container: &'a ContainerInfo,
    /// Its samples, in any order.
    pub samples: &'a [Sample],
}

/// One feature row: a value per column, `None` where it cannot be computed.
/// Never holds NaN or infinity.
pub type FeatureRow = Vec<Option<f64>>;

impl Feature {
    /// The (first) metric the feature reads, if any (identity hashes read
    /// none); see [`Feature::metrics`] for all of them.
    pub fn metric(self) -> Option<Metric> {
        self.metrics()[0]
    }

    /// The metrics the feature reads: none, one, or two (for ratios, the
    /// numerator first).
    pub fn metrics(self) -> [Option<Metric>; 2] {
        match self {
            Feature::IdentityHash(_) | Feature::External => [None, None],
            Feature::Last(m)
            | Feature::Mean(m)
            | Feature::Max(m)
            | Feature::StdDev(m)
            | Feature::Rate(m)
            | Feature::Growth(m) => [Some(m), None],
            Feature::Ratio(a, b) | Feature::RateRatio(a, b) => [Some(a), Some(b)],
        }
    }

    /// The column name the `behaviour` set gives the feature:
    /// `mean(memory_usage_bytes)`, `rate(rx_bytes)`, `growth(used_bytes)`,
    /// `ratio(memory_rss_bytes/memory_usage_bytes)`,
    /// `rate_ratio(memory_page_faults/tx_bytes)`, `hash(pod_name)`, ….
    pub fn default_name(self) -> String {
        let (op, arg) = match self {
            Feature::IdentityHash(id) => (
                "hash",
                match id {
                    Identity::PodName => "pod_name",
                    Identity::Namespace => "namespace",
                    Identity::ImageName => "image_name",
                    Identity::ContainerName => "container_name",
                },
            ),
            Feature::Last(m) => ("last", m.name()),
            Feature::Mean(m) => ("mean", m.name()),
            Feature::Max(m) => ("max", m.name()),
            Feature::StdDev(m) => ("stddev", m.name()),
            Feature::Rate(m) => ("rate", m.name()),
            Feature::Growth(m) => ("growth", m.name()),
            Feature::Ratio(a, b) => return format!("ratio({}/{})", a.name(), b.name()),
            Feature::RateRatio(a, b) => return format!("rate_ratio({}/{})", a.name(), b.name()),
            Feature::External => return "external".to_owned(),
        };
        format!("{op}({arg})")
    }
}

impl FeatureSet {
    /// The columns' names, in order.
    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    /// Every metric the set reads (its columns' and its required metrics),
    /// in [`Metric::ALL`] order, including those derived from pod info;
    /// see [`FeatureSet::fetched_metrics`] for the ones to ask a source for.
    pub fn metrics(&self) -> Vec<Metric> {
        let mask = self.mask();
        Metric::ALL.iter().copied().filter(|m| mask.contains(*m)).collect()
    }

    /// The metrics of [`FeatureSet::metrics`] that a
    /// [`MetricSource`](crate::MetricSource) provides (those not derived from
    /// pod info).
    pub fn fetched_metrics(&self) -> Vec<Metric> {
        let mut v = self.metrics();
        v.retain(|m| m.scope() != MetricScope::PodInfo);
        v
    }

    /// All aligned snapshots of `input` (complete or not), oldest first;
    /// see the [module documentation](self) for the rule.
    pub fn snapshots(&self, input: &ContainerInput<'_>) -> Vec<Snapshot> {
        align::align(input, &self.align_spec(false, usize::MAX))
    }

    /// The complete snapshots of `input`, oldest first.
    pub fn complete_snapshot_list(&self, input: &ContainerInput<'_>) -> Vec<Snapshot> {
        align::align(input, &self.align_spec(true, usize::MAX))
    }

    /// How many complete snapshots `input` has.
    pub fn complete_snapshots(&self, input: &ContainerInput<'_>) -> usize {
        self.complete_snapshot_list(input).len()
    }

    /// The training rows of `input`: one per window of `window` consecutive
    /// complete snapshots, windows starting every `stride` snapshots.
    pub fn rows(&self, input: &ContainerInput<'_>) -> Vec<FeatureRow> {
        self.timed_rows(input).into_iter().map(|(_, row)| row).collect()
    }

    /// Like [`FeatureSet::rows`], each row with the time of its window's last
    /// snapshot: the moment it could be computed. With the pod's start time,
    /// that gives the age at which a watcher would see the row.
    pub fn timed_rows(&self, input: &ContainerInput<'_>) -> Vec<(Timestamp, FeatureRow)> {
        let snaps = self.complete_snapshot_list(input);
        let (window, stride) = (self.window_len(), self.stride.max(1));
        if snaps.len() < window {
            return Vec::new();
        }
        (0..=snaps.len() - window)
            .step_by(stride)
            .map(|start| {
                let w = &snaps[start..start + window];
                (w[window - 1].time, self.row_from(input, w))
            })
            .collect()
    }

    /// The row of the first `window` complete snapshots of `input` (the first
    /// training row); `None` until there are that many.
    pub fn first_row(&self, input: &ContainerInput<'_>) -> Option<FeatureRow> {
        let window = self.window_len();
        let snaps = align::align(input, &self.align_spec(true, window));
        (snaps.len() == window).then(|| self.row_from(input, &snaps))
    }

    /// The row the watcher classifies: that of the last training window of
    /// `input` (the last row [`rows`](Self::rows) gives), once `input` has at
    /// least `min_snapshots` complete snapshots and a whole window; `None`
    /// before. Aligns the samples once and computes one row.
    pub fn latest_row(&self, input: &ContainerInput<'_>, min_snapshots: usize) -> Option<FeatureRow> {
        self.latest_row_after(input, min_snapshots, 0)
    }

    /// Like [`latest_row`](Self::latest_row) for an `input` whose first
    /// `dropped` complete snapshots are no longer among its samples (a
    /// watcher forgets the snapshots of windows it has judged): snapshots
    /// are counted, and windows placed, as if they were there. `None` also
    /// when the window would start among the dropped snapshots.
    pub fn latest_row_after(
        &self,
        input: &ContainerInput<'_>,
        min_snapshots: usize,
        dropped: usize,
    ) -> Option<FeatureRow> {
        let snaps = self.complete_snapshot_list(input);
        let (window, stride) = (self.window_len(), self.stride.max(1));
        let total = dropped + snaps.len();
        if total < window.max(min_snapshots) {
            return None;
        }
        let start = ((total - window) / stride * stride).checked_sub(dropped)?;
        snaps.get(start..start + window).map(|w| self.row_from(input, w))
    }

    /// The row computed from `snapshots` (oldest first) as one window,
    /// whatever its length. `input` supplies the identity strings and the
    /// pod's start time; its samples are not read.
    pub fn row_from(&self, input: &ContainerInput<'_>, snapshots: &[Snapshot]) -> FeatureRow {
        self.columns
            .iter()
            .map(|c| extract::compute(c.feature, input, snapshots))
            .collect()
    }

    /// Rows (of [`FeatureSet::rows`]) between two consecutive windows the
    /// watcher judges of one container: the next window shares no snapshot
    /// with the previous one, so it starts `window` snapshots later, rounded
    /// up to the stride.
    pub fn window_gap(&self) -> usize {
        self.window_len().div_ceil(self.stride.max(1))
    }

    fn window_len(&self) -> usize {
        self.window.max(1)
    }

    /// The metrics whose samples can change a row: those the columns read,
    /// the required ones, and the CPU counter a missing CPU gauge is derived
    /// from. Samples of other metrics are ignored when rows are computed;
    /// the watcher does not keep them (a Telegraf-shaped source answers with
    /// every field of its measurements).
    pub(crate) fn sample_mask(&self) -> MetricMask {
        self.mask().with_sources()
    }

    fn mask(&self) -> MetricMask {
        MetricMask::of(
            self.columns
                .iter()
                .flat_map(|c| c.feature.metrics().into_iter().flatten())
                .chain(self.required.iter().copied()),
        )
    }

    fn align_spec(&self, only_complete: bool, limit: usize) -> AlignSpec<'_> {
        AlignSpec {
            reads: self.mask(),
            required: &self.required,
            tolerance_ms: self.align_tolerance_ms,
            only_complete,
            limit,
        }
    }
}

#[cfg(test)]
mod tests;
