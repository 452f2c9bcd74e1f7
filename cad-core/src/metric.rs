//! The catalogue of metrics cad knows, and the samples sources return.
//!
//! Names follow Telegraf's `kubernetes` and `docker` inputs, which fed the old
//! system. Each metric is either a [`MetricKind::Gauge`] (a level, used as it
//! is or aggregated over a window) or a [`MetricKind::Counter`] (cumulative
//! since the container started; only its rate says anything).
//!
//! Units: bytes for memory, file systems, network and block I/O; nanocores
//! (10⁻⁹ of a core: `1e9` is one core busy) for the CPU gauge;
//! core-nanoseconds for the CPU counter (cAdvisor's and Prometheus'
//! `container_cpu_usage_seconds_total` × 10⁹); counts for page faults and
//! errors. [`Metric::kind`] says which metrics are counters and
//! [`Metric::scope`] which are per pod; a source gives each metric it has,
//! converted to these units. What the feature sets require of a source is
//! in [`features::sets`](crate::features::sets): memory usage and CPU
//! nanocores in every snapshot (the nanocores gauge is derived from the CPU
//! counter when a source has only the counter, see [`derive_nanocores`]).

use crate::pod::ContainerId;
use crate::source::SourceError;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

/// How a metric's values behave over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MetricKind {
    /// A level that can go up and down (memory in use, CPU nanocores now).
    Gauge,
    /// A cumulative total that only grows, except when the container restarts.
    Counter,
}

/// Where a metric is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MetricScope {
    /// Per container.
    Container,
    /// Per pod (network, volumes): every container of the pod sees the same value.
    Pod,
    /// Not fetched from a [`MetricSource`](crate::MetricSource) but derived
    /// from [`PodInfo`](crate::PodInfo) (image size, running time).
    PodInfo,
}

macro_rules! catalogue {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, $kind:ident, $scope:ident; )*) => {
        /// A metric cad can use. See the module documentation.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum Metric {
            $( $(#[$doc])* $variant, )*
        }

        impl Metric {
            /// Every metric in the catalogue, in a fixed order.
            pub const ALL: &'static [Metric] = &[$(Metric::$variant),*];

            /// The metric's name (Telegraf's field name where Telegraf has one).
            pub const fn name(self) -> &'static str {
                match self { $(Metric::$variant => $name,)* }
            }

            /// Whether the metric is a gauge or a counter.
            pub const fn kind(self) -> MetricKind {
                match self { $(Metric::$variant => MetricKind::$kind,)* }
            }

            /// Where the metric is measured.
            pub const fn scope(self) -> MetricScope {
                match self { $(Metric::$variant => MetricScope::$scope,)* }
            }
        }
    };
}

catalogue! {
    /// CPU in use now, in nanocores (`kubernetes_pod_container`).
    CpuUsageNanocores => "cpu_usage_nanocores", Gauge, Container;
    /// CPU time used since start, in core-nanoseconds (`kubernetes_pod_container`).
    CpuUsageCoreNanoseconds => "cpu_usage_core_nanoseconds", Counter, Container;
    /// Memory in use, page cache included (`kubernetes_pod_container`).
    MemoryUsageBytes => "memory_usage_bytes", Gauge, Container;
    /// Working-set memory, what the kubelet evicts on (`kubernetes_pod_container`).
    MemoryWorkingSetBytes => "memory_working_set_bytes", Gauge, Container;
    /// Resident anonymous memory (`kubernetes_pod_container`).
    MemoryRssBytes => "memory_rss_bytes", Gauge, Container;
    /// Page faults since start (`kubernetes_pod_container`).
    MemoryPageFaults => "memory_page_faults", Counter, Container;
    /// Major page faults since start (`kubernetes_pod_container`).
    MemoryMajorPageFaults => "memory_major_page_faults", Counter, Container;
    /// Bytes used by the container's writable layer (`kubernetes_pod_container`).
    RootfsUsedBytes => "rootfs_used_bytes", Gauge, Container;
    /// Bytes used by the container's logs (`kubernetes_pod_container`).
    LogsfsUsedBytes => "logsfs_used_bytes", Gauge, Container;
    /// Bytes received by the pod since start (`kubernetes_pod_network`).
    RxBytes => "rx_bytes", Counter, Pod;
    /// Bytes sent by the pod since start (`kubernetes_pod_network`).
    TxBytes => "tx_bytes", Counter, Pod;
    /// Receive errors since start (`kubernetes_pod_network`).
    RxErrors => "rx_errors", Counter, Pod;
    /// Transmit errors since start (`kubernetes_pod_network`).
    TxErrors => "tx_errors", Counter, Pod;
    /// Bytes used on the pod's volumes, summed (`kubernetes_pod_volume`).
    VolumeUsedBytes => "used_bytes", Gauge, Pod;
    /// Bytes read from block devices since start (`docker_container_blkio`, `io_service_bytes_recursive_read`).
    BlkioReadBytes => "io_service_bytes_recursive_read", Counter, Container;
    /// Bytes written to block devices since start (`docker_container_blkio`, `io_service_bytes_recursive_write`).
    BlkioWriteBytes => "io_service_bytes_recursive_write", Counter, Container;
    /// Size of the container's image on its node, from the node's status.
    ImageSizeBytes => "image_size_bytes", Gauge, PodInfo;
    /// Seconds since the pod started; grows by one per second.
    RunningTimeSeconds => "running_time_seconds", Counter, PodInfo;
}

impl Metric {
    /// The metric with this [`name`](Metric::name), if any.
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.iter().copied().find(|m| m.name() == name)
    }

    /// Whether a value of exactly 0 means "not known" rather than a
    /// measured zero. Telegraf (and the kubelet's summary API behind it)
    /// writes 0 for fields a runtime does not report, for example memory
    /// usage on some containerd setups. A running container always has some
    /// memory in use and resident, and has page faults from its first
    /// instruction on, so 0 in these is never a measurement; 0 bytes sent
    /// or written can be. CPU nanocores at 0 can be too, except where the
    /// CPU counter shows it cannot ([`nanocores_zero_is_unknown`]: the
    /// kubelet's first reading of a container, which Telegraf writes as 0).
    pub const fn zero_means_unknown(self) -> bool {
        matches!(
            self,
            Metric::MemoryUsageBytes
                | Metric::MemoryWorkingSetBytes
                | Metric::MemoryRssBytes
                | Metric::MemoryPageFaults
        )
    }

    /// Every metric a [`MetricSource`](crate::MetricSource) is asked for
    /// (those not derived from pod info).
    pub fn fetched() -> impl Iterator<Item = Metric> {
        Metric::ALL
            .iter()
            .copied()
            .filter(|m| m.scope() != MetricScope::PodInfo)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// CPU in nanocores between two readings `(time, core-nanoseconds)` of the
/// CPU counter ([`Metric::CpuUsageCoreNanoseconds`]), as the kubelet computes
/// `usageNanoCores`: the increase in core-nanoseconds divided by the seconds
/// between the readings. `None` when the counter went down (a restart) or
/// time did not advance.
///
/// ```
/// use cad_core::Timestamp;
/// use cad_core::metric::nanocores_between;
///
/// // Half a core for 10 s: 5e9 core-nanoseconds.
/// let (t0, t1) = (Timestamp::from_secs(0), Timestamp::from_secs(10));
/// assert_eq!(nanocores_between((t0, 1e9), (t1, 6e9)), Some(5e8));
/// assert_eq!(nanocores_between((t0, 6e9), (t1, 1e9)), None); // a restart
/// ```
pub fn nanocores_between(earlier: (Timestamp, f64), later: (Timestamp, f64)) -> Option<f64> {
    let dt_ms = later.0.0.checked_sub(earlier.0.0)?;
    let dv = later.1 - earlier.1;
    if dt_ms <= 0 || dv < 0.0 {
        return None;
    }
    let v = dv / (dt_ms as f64 / 1000.0);
    v.is_finite().then_some(v)
}

/// Whether a [`Metric::CpuUsageNanocores`] of exactly 0 means "not known"
/// rather than an idle container, judged from the CPU counter
/// ([`Metric::CpuUsageCoreNanoseconds`]): `counter` at the same scrape and
/// `counter_before`, the container's previous reading of it in the series
/// (`None` if there is none).
///
/// The kubelet computes `usageNanoCores` from its previous and its current
/// reading of one container's counter (cached by the runtime's container
/// id). At its first reading of a container (the first scrape, and the
/// first after a restart, which has a new id) and whenever the counter fell,
/// it has no rate and omits the field; Telegraf's `kubernetes` input reads
/// it into a plain `int64` and writes `cpu_usage_nanocores=0`. When the
/// counter rose, the rate is above 0. So a 0 is a measured rate only when
/// the counter is the same as at the previous reading — a truly idle
/// container — and is not known when there is no previous reading or the
/// counter changed (rose: CPU was used, so the rate cannot be 0; fell: a
/// restart). That holds for a counter at 0 too: a started container has
/// run its first instructions, and the kubelet writes 0 for a counter it
/// has no stats for yet (recorded: memcached's first scrape, every field 0).
/// Without a counter there is nothing to judge by, and the 0 is kept.
///
/// The cost: an idle container's 0 at the first reading of a series that
/// starts after its first scrape (a fetch reaching back less than the pod's
/// age) is read as not known, one snapshot lost.
///
/// The feature extractor applies this where a snapshot's completeness is
/// decided, so a first scrape with Telegraf's 0 is not a complete snapshot,
/// as it is not when the field is absent.
///
/// ```
/// use cad_core::metric::nanocores_zero_is_unknown;
///
/// assert!(nanocores_zero_is_unknown(5e9, None)); // a first scrape
/// assert!(nanocores_zero_is_unknown(0.0, None)); // no stats yet
/// assert!(nanocores_zero_is_unknown(5e9, Some(4e9))); // CPU was used
/// assert!(nanocores_zero_is_unknown(1e8, Some(4e9))); // a restart
/// assert!(!nanocores_zero_is_unknown(5e9, Some(5e9))); // idle
/// ```
pub fn nanocores_zero_is_unknown(counter: f64, counter_before: Option<f64>) -> bool {
    counter_before != Some(counter)
}

/// The [`Metric::CpuUsageNanocores`] samples a series of CPU-counter readings
/// implies: one at every reading of `counter` (in any order) that has an
/// earlier one, from [`nanocores_between`] the two (none across a restart).
/// Samples of other metrics in `counter` are ignored.
///
/// The feature extractor calls this for a container whose samples have the
/// counter but no nanocores at all (as Prometheus and cAdvisor give), so a
/// source does not have to; `cad-prometheus` uses it too.
///
/// ```
/// use cad_core::{Metric, Sample, Timestamp};
/// use cad_core::metric::derive_nanocores;
///
/// let counter: Vec<Sample> = [(0, 0.0), (10, 2e9), (20, 5e9)]
///     .map(|(s, v)| Sample::new(Timestamp::from_secs(s), Metric::CpuUsageCoreNanoseconds, v))
///     .to_vec();
/// let gauge = derive_nanocores(&counter);
/// assert_eq!(gauge.len(), 2);
/// assert_eq!(gauge[1], Sample::new(Timestamp::from_secs(20), Metric::CpuUsageNanocores, 3e8));
/// ```
pub fn derive_nanocores(counter: &[Sample]) -> Vec<Sample> {
    let mut readings: Vec<(Timestamp, f64)> = counter
        .iter()
        .filter(|s| s.metric == Metric::CpuUsageCoreNanoseconds && s.value.is_finite())
        .map(|s| (s.time, s.value))
        .collect();
    readings.sort_by_key(|r| r.0);
    readings
        .windows(2)
        .filter_map(|w| {
            Some(Sample::new(
                w[1].0,
                Metric::CpuUsageNanocores,
                nanocores_between(w[0], w[1])?,
            ))
        })
        .collect()
}

/// One measured value of one metric at one time.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// When the value was measured.
    pub time: Timestamp,
    /// What was measured.
    pub metric: Metric,
    /// The value, in the metric's unit. Sources pass on what they read;
    /// the feature extractor copes with NaN, infinities and negatives.
    pub value: f64,
}

impl Sample {
    /// A sample from its parts.
    pub const fn new(time: Timestamp, metric: Metric, value: f64) -> Self {
        Sample { time, metric, value }
    }
}

/// The answer of one [`MetricSource::fetch`](crate::MetricSource::fetch):
/// samples per container, in no particular order.
///
/// A container the source knows nothing about is simply absent (or present
/// with no samples); that is not an error. A container whose data could not
/// be read (one of several backend requests failed) is marked
/// [unavailable](Self::mark_unavailable) with the cause: the engines retry
/// it instead of taking "no samples" for an answer.
#[derive(Clone, Debug, Default)]
pub struct MetricBatch {
    series: HashMap<ContainerId, Vec<Sample>>,
    unavailable: HashSet<ContainerId>,
    causes: Vec<Arc<SourceError>>,
}

impl MetricBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one sample for `container`.
    pub fn push(&mut self, container: &ContainerId, sample: Sample) {
        match self.series.get_mut(container) {
            Some(v) => v.push(sample),
            None => {
                self.series.insert(container.clone(), vec![sample]);
            }
        }
    }

    /// The samples of `container`, to add to in place: a source that reads
    /// one container's series at a time looks its id up once and pushes every
    /// sample through the returned vector, instead of passing (or cloning)
    /// the id per sample.
    ///
    /// ```
    /// use cad_core::{Metric, MetricBatch, PodId, Sample, Timestamp};
    ///
    /// let id = PodId::new("shop", "nginx-1", "uid-1").container("nginx");
    /// let mut batch = MetricBatch::new();
    /// let series = batch.series_mut(&id);
    /// for (ms, bytes) in [(0, 8e6), (10_000, 8.2e6)] {
    ///     series.push(Sample::new(Timestamp(ms), Metric::MemoryUsageBytes, bytes));
    /// }
    /// assert_eq!(batch.samples(&id).len(), 2);
    /// ```
    pub fn series_mut(&mut self, container: &ContainerId) -> &mut Vec<Sample> {
        self.series.entry(container.clone()).or_default()
    }

    /// Adds many samples for `container`.
    pub fn extend(&mut self, container: &ContainerId, samples: impl IntoIterator<Item = Sample>) {
        let v = match self.series.get_mut(container) {
            Some(v) => v,
            None => self.series.entry(container.clone()).or_default(),
        };
        v.extend(samples);
    }

    /// The samples of `container` (empty if there are none).
    pub fn samples(&self, container: &ContainerId) -> &[Sample] {
        self.series.get(container).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Removes and returns the samples of `container`.
    pub fn take(&mut self, container: &ContainerId) -> Vec<Sample> {
        self.series.remove(container).unwrap_or_default()
    }

    /// Every container with its samples.
    pub fn iter(&self) -> impl Iterator<Item = (&ContainerId, &[Sample])> {
        self.series.iter().map(|(k, v)| (k, v.as_slice()))
    }

    /// How many containers have an entry.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether no container has an entry.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Total number of samples over all containers.
    pub fn sample_count(&self) -> usize {
        self.series.values().map(Vec::len).sum()
    }

    /// Records that the data of `containers` could not be fetched, and why
    /// (for example: the backend request that carried them failed while
    /// others succeeded). Their samples, if any, stay in the batch.
    pub fn mark_unavailable<'a>(&mut self, containers: impl IntoIterator<Item = &'a ContainerId>, cause: SourceError) {
        self.unavailable.extend(containers.into_iter().cloned());
        self.causes.push(Arc::new(cause));
    }

    /// The containers whose data could not be fetched, in no particular order.
    pub fn unavailable(&self) -> impl Iterator<Item = &ContainerId> {
        self.unavailable.iter()
    }

    /// Whether the data of `container` could not be fetched.
    pub fn is_unavailable(&self, container: &ContainerId) -> bool {
        self.unavailable.contains(container)
    }

    /// How many containers could not be fetched.
    pub fn unavailable_count(&self) -> usize {
        self.unavailable.len()
    }

    /// Why: one error per [`mark_unavailable`](Self::mark_unavailable) call, in call order.
    pub fn unavailable_causes(&self) -> &[Arc<SourceError>] {
        &self.causes
    }

    /// The containers that have samples in this batch but are not among
    /// `asked` (the ids a [`fetch`](crate::MetricSource::fetch) was given),
    /// in no particular order. The engines ignore their samples, and warn:
    /// a source that builds its own [`ContainerId`]s (from names, say)
    /// instead of answering with the ones it was asked for matches nothing
    /// when the ids differ, often only by the pod UID.
    pub fn unasked<'a>(&'a self, asked: &[ContainerId]) -> Vec<&'a ContainerId> {
        let asked: HashSet<&ContainerId> = asked.iter().collect();
        self.series
            .iter()
            .filter(|(id, samples)| !samples.is_empty() && !asked.contains(id))
            .map(|(id, _)| id)
            .collect()
    }

    /// Sorts every container's samples by time (stable, so equal times keep
    /// their order).
    pub fn sort_by_time(&mut self) {
        for v in self.series.values_mut() {
            v.sort_by_key(|s| s.time);
        }
    }
}

/// Logs a warning when `batch` has samples for containers not among `asked`
/// (see [`MetricBatch::unasked`]), saying how to fix the source; `engine`
/// names the caller. Returns how many such containers there were.
pub(crate) fn warn_unasked(batch: &MetricBatch, asked: &[ContainerId], engine: &'static str) -> usize {
    let unasked = batch.unasked(asked);
    let Some(first) = unasked.iter().min().copied() else {
        return 0;
    };
    // The asked id with the same namespace, pod name and container name, if any.
    let twin = asked.iter().find(|a| {
        a.pod.namespace == first.pod.namespace && a.pod.name == first.pod.name && a.container == first.container
    });
    let hint = match twin {
        Some(a) => format!(
            "{first} was asked for with pod UID {:?} but answered with UID {:?}: ",
            a.pod.uid, first.pod.uid
        ),
        None => format!("{first} was not asked for: "),
    };
    tracing::warn!(
        engine,
        unasked = unasked.len(),
        asked = asked.len(),
        "the metric source returned samples for {} container(s) it was not asked for; they are ignored. {hint}\
         a MetricSource must key its answer by the ContainerIds passed to fetch (namespace, pod name, pod UID \
         and container name all equal), not by ids it builds itself",
        unasked.len()
    );
    unasked.len()
}

impl FromIterator<(ContainerId, Sample)> for MetricBatch {
    fn from_iter<I: IntoIterator<Item = (ContainerId, Sample)>>(iter: I) -> Self {
        let mut b = MetricBatch::new();
        for (c, s) in iter {
            b.push(&c, s);
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::PodId;

    #[test]
    fn catalogue_names_are_unique_and_round_trip() {
        for m in Metric::ALL {
            assert_eq!(Metric::from_name(m.name()), Some(*m));
        }
        let mut names: Vec<_> = Metric::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Metric::ALL.len());
        assert_eq!(Metric::from_name("no_such_metric"), None);
    }

    #[test]
    fn counters_and_gauges_are_marked() {
        assert_eq!(Metric::RxBytes.kind(), MetricKind::Counter);
        assert_eq!(Metric::BlkioWriteBytes.kind(), MetricKind::Counter);
        assert_eq!(Metric::MemoryUsageBytes.kind(), MetricKind::Gauge);
        assert_eq!(Metric::CpuUsageNanocores.kind(), MetricKind::Gauge);
        assert!(Metric::fetched().all(|m| m.scope() != MetricScope::PodInfo));
    }

    #[test]
    fn batch_groups_samples_by_container() {
        let a = PodId::new("ns", "a", "1").container("c");
        let b = PodId::new("ns", "b", "2").container("c");
        let mut batch = MetricBatch::new();
        batch.push(&a, Sample::new(Timestamp(2), Metric::RxBytes, 2.0));
        batch.push(&a, Sample::new(Timestamp(1), Metric::RxBytes, 1.0));
        batch.extend(&b, [Sample::new(Timestamp(1), Metric::TxBytes, 5.0)]);
        batch.sort_by_time();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.sample_count(), 3);
        assert_eq!(batch.samples(&a)[0].time, Timestamp(1));
        let missing = PodId::new("ns", "z", "9").container("c");
        assert!(batch.samples(&missing).is_empty());
        assert_eq!(batch.unavailable_count(), 0);
    }

    #[test]
    fn samples_for_ids_not_asked_for_are_found_and_counted() {
        let asked = PodId::new("ns", "a", "uid-1").container("c");
        let no_uid = PodId::new("ns", "a", "").container("c");
        let other = PodId::new("ns", "b", "uid-2").container("c");
        let mut batch = MetricBatch::new();
        batch.push(&asked, Sample::new(Timestamp(1), Metric::RxBytes, 1.0));
        assert!(batch.unasked(std::slice::from_ref(&asked)).is_empty());
        assert_eq!(warn_unasked(&batch, std::slice::from_ref(&asked), "test"), 0);
        batch.push(&no_uid, Sample::new(Timestamp(1), Metric::RxBytes, 1.0));
        batch.push(&other, Sample::new(Timestamp(1), Metric::RxBytes, 1.0));
        // An entry without samples is no answer.
        batch.series_mut(&PodId::new("ns", "z", "9").container("c"));
        let mut got = batch.unasked(std::slice::from_ref(&asked));
        got.sort();
        assert_eq!(got, [&no_uid, &other]);
        assert_eq!(warn_unasked(&batch, std::slice::from_ref(&asked), "test"), 2);
    }

    #[test]
    fn nanocores_follow_the_kubelet() {
        let t = Timestamp::from_millis;
        // 0.5 core for 10 s.
        assert_eq!(nanocores_between((t(0), 1e9), (t(10_000), 6e9)), Some(5e8));
        assert_eq!(nanocores_between((t(0), 6e9), (t(10_000), 1e9)), None, "restart");
        assert_eq!(nanocores_between((t(10_000), 1e9), (t(10_000), 2e9)), None);
        assert_eq!(nanocores_between((t(i64::MIN), 0.0), (t(i64::MAX), 1.0)), None);
        // Any order in, one value per reading after the first, none across a restart.
        let c = |s: i64, v: f64| Sample::new(Timestamp::from_secs(s), Metric::CpuUsageCoreNanoseconds, v);
        let other = Sample::new(Timestamp::from_secs(5), Metric::RxBytes, 1e12);
        let got = derive_nanocores(&[c(30, 2e9), c(0, 0.0), other, c(20, 1e9), c(10, 2e9)]);
        let got: Vec<(i64, f64)> = got.iter().map(|s| (s.time.as_millis(), s.value)).collect();
        assert_eq!(got, [(10_000, 2e8), (30_000, 1e8)]);
    }

    #[test]
    fn unavailable_containers_are_kept_with_their_cause() {
        let a = PodId::new("ns", "a", "1").container("c");
        let b = PodId::new("ns", "b", "2").container("c");
        let mut batch = MetricBatch::new();
        batch.push(&a, Sample::new(Timestamp(1), Metric::RxBytes, 1.0));
        batch.mark_unavailable([&b], SourceError::Invalid("request 2 of 2 failed".into()));
        batch.mark_unavailable([&b], SourceError::Invalid("again".into()));
        assert!(batch.is_unavailable(&b) && !batch.is_unavailable(&a));
        assert_eq!(batch.unavailable().collect::<Vec<_>>(), vec![&b]);
        assert_eq!(batch.unavailable_count(), 1, "a container counts once");
        let causes: Vec<String> = batch.unavailable_causes().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            causes,
            ["invalid request: request 2 of 2 failed", "invalid request: again"]
        );
        assert_eq!(batch.samples(&a).len(), 1);
    }
}
