//! The collector engine's first half: list pods, label their containers,
//! fetch the metrics of every labelled container in batched calls, and turn
//! them into a [`Dataset`] whose groups are the containers.
//!
//! # Ages
//!
//! The watcher decides on a pod's first window of snapshots after its start,
//! so the collector trains on rows at the ages the watcher decides at (see
//! [`crate::age`]):
//! * **steady rows** from the recent [`CollectConfig::window`], as before;
//! * **young rows** from each labelled container's own early history,
//!   `[start, start + young_horizon]`, for every pod whose start is older
//!   than the recent window (a younger pod's start is in the recent window
//!   already). Pods are grouped by start time, so that one fetch covers
//!   many pods and its window stays short: at most twice the young horizon,
//!   and at most [`CollectConfig::batch_size`] containers.
//!
//! With [`CollectConfig::past`], pods that are gone but whose metrics the
//! source still has (Deployments' replaced pods, finished batch pods) are
//! trained on too: [`MetricSource::containers_seen`] finds them, the
//! labeler labels them as listed pods but without pod labels, and each
//! gives steady rows from the last window of its samples and young rows from
//! its early history where its start is known ([`PAST_START_MARGIN`]). Pods
//! are fetched in groups by their last sample as by their start, and each
//! row comes once (a short life's early history and last window overlap).
//! Only pods of workloads no longer running count, the latest of each: an
//! earlier pod of a listed pod's workload ([`workload_name`]) or of a
//! removed workload is left out.
//!
//! Every row keeps its pod's age as metadata ([`Dataset::age`]), not as a
//! feature. Sidecar containers ([`Labeler::container_claims`]) are not
//! collected.

use super::{Fetched, Progress};
use crate::clock::Clock;
use crate::dataset::Dataset;
use crate::features::{ContainerInput, FeatureSet};
use crate::label::{ContainerClaim, Labeler};
use crate::metric::Metric;
use crate::pod::{ContainerId, ContainerInfo, PodId, PodInfo, replica_set_of, workload_name};
use crate::source::{MetricSource, PodSource, SeenContainer, SourceError};
use crate::time::{TimeWindow, Timestamp};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// How the collector gathers its data.
#[derive(Clone, Debug, PartialEq)]
pub struct CollectConfig {
    /// How far back from now to read metrics (default 10 minutes, as the old
    /// system's ~60 samples per container at Telegraf's 10 s interval).
    pub window: Duration,
    /// Containers per `MetricSource::fetch` call (default 500). The source
    /// may split a call into several backend requests; this bounds how many
    /// containers' samples are held at once.
    pub batch_size: usize,
    /// Further rounds for containers a fetch marked
    /// [unavailable](crate::MetricBatch::mark_unavailable) or whose whole
    /// fetch failed with a transient error (default 2). If any are still
    /// missing after them, collecting fails with [`CollectError::Incomplete`]
    /// rather than train on part of the cluster.
    pub retries: u32,
    /// Wait before the first retry round; it doubles for every further round
    /// (default 2 s).
    pub retry_wait: Duration,
    /// How much of each pod's early history to read for young rows (default
    /// [`DEFAULT_YOUNG_HORIZON`](crate::age::DEFAULT_YOUNG_HORIZON), 5
    /// minutes); zero reads none (steady rows only).
    pub young_horizon: Duration,
    /// How far back to look for past pods, pods that are gone but whose
    /// metrics the source still has (default zero: none). Each past
    /// container found ([`MetricSource::containers_seen`]) is labelled as a
    /// listed one is, from its container name, image and pod name (a past
    /// pod's labels are not known), and gives steady rows from the last
    /// [`window`](Self::window) of its samples and young rows from its early
    /// history. See the [module documentation](self).
    pub past: Duration,
}

impl Default for CollectConfig {
    fn default() -> Self {
        CollectConfig {
            window: Duration::from_secs(600),
            batch_size: 500,
            retries: 2,
            retry_wait: Duration::from_secs(2),
            young_horizon: crate::age::DEFAULT_YOUNG_HORIZON,
            past: Duration::ZERO,
        }
    }
}

/// Why collecting failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    /// Listing pods or fetching metrics failed.
    #[error("collecting failed")]
    Source(#[from] SourceError),
    /// The metrics of some containers could not be fetched, even after the
    /// retry rounds. Training on the others would leave those pods out
    /// silently, so nothing is trained.
    #[error(
        "the metrics of {unavailable} of {containers} containers could not be fetched in {attempts} attempts; not training on part of the cluster"
    )]
    Incomplete {
        /// Containers still without data.
        unavailable: usize,
        /// Containers of labelled pods in all.
        containers: usize,
        /// Fetch rounds made for the last of them.
        attempts: u32,
        /// The last failure reported for them.
        #[source]
        cause: Arc<SourceError>,
    },
    /// No labelled container yielded a single feature row. The message says
    /// why ([`NoRowsCause`]): the source returned no samples in the windows
    /// read (data older than the window, as when a recording is read with
    /// [`SystemClock`](crate::SystemClock), or samples under ids that were
    /// not asked for), or a metric the feature set requires is missing (and
    /// for which containers), or there were too few complete snapshots.
    #[error(
        "no training rows: {pods} pods listed, {labelled} with a class in their name or label, none with enough metrics in the last {window_s} s: {cause}"
    )]
    NoRows {
        /// Pods listed.
        pods: usize,
        /// Of those, pods with a claimed class.
        labelled: usize,
        /// The metric window in seconds.
        window_s: u64,
        /// What the labelled containers lacked.
        cause: Box<NoRowsCause>,
    },
}

/// What the labelled containers lacked when none gave a row (part of
/// [`CollectError::NoRows`]); containers are named `namespace/pod/container`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoRowsCause {
    /// The feature set's name.
    pub feature_set: String,
    /// Complete snapshots a row needs (the feature set's window).
    pub window: usize,
    /// Labelled containers in all.
    pub containers: usize,
    /// Containers the source returned no sample for, in any window read.
    pub without_samples: Vec<String>,
    /// Each metric the feature set requires
    /// ([`FeatureSet::required`](crate::FeatureSet::required)) that some
    /// containers with samples never had, with those containers.
    pub missing: Vec<(Metric, Vec<String>)>,
    /// Containers with every required metric, but in fewer complete
    /// snapshots than a row needs.
    pub too_few_snapshots: Vec<String>,
}

/// `a, b, c and 4 more`.
fn some_of(names: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut s = names.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}

impl std::fmt::Display for NoRowsCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if !self.without_samples.is_empty() {
            let n = self.without_samples.len();
            parts.push(if n == self.containers {
                format!(
                    "the metric source returned no samples for any of the {n} containers in the windows read \
                     (is the data older than the window, e.g. a recording read with the system clock? \
                     does the source answer with the ids it was asked for, pod UID included?)"
                )
            } else {
                format!(
                    "no samples for {n} of {} containers ({})",
                    self.containers,
                    some_of(&self.without_samples)
                )
            });
        }
        for (metric, names) in &self.missing {
            let derived = if *metric == Metric::CpuUsageNanocores {
                format!(
                    " (or its counter {}, from which it is derived)",
                    Metric::CpuUsageCoreNanoseconds
                )
            } else {
                String::new()
            };
            parts.push(format!(
                "feature set {} requires {metric}{derived} in every snapshot, and {} of {} containers have none ({})",
                self.feature_set,
                names.len(),
                self.containers,
                some_of(names)
            ));
        }
        if !self.too_few_snapshots.is_empty() {
            parts.push(format!(
                "{} containers have every required metric but fewer than the {} complete snapshots a row needs ({})",
                self.too_few_snapshots.len(),
                self.window,
                some_of(&self.too_few_snapshots)
            ));
        }
        if parts.is_empty() {
            parts.push("no labelled container was fetched".to_string());
        }
        f.write_str(&parts.join("; "))
    }
}

/// What one labelled container showed, for [`NoRowsCause`].
#[derive(Clone, Copy, Default)]
struct Seen {
    samples: bool,
    /// Per required metric (in [`FeatureSet::required`] order): in some snapshot.
    required: [bool; crate::Metric::ALL.len()],
}

/// Records which required metrics `input`'s snapshots have (complete or not).
fn note_required(seen: &mut Seen, features: &FeatureSet, input: &ContainerInput<'_>) {
    seen.samples = true;
    for snap in features.snapshots(input) {
        for (k, m) in features.required.iter().enumerate() {
            if let Some(slot) = seen.required.get_mut(k) {
                *slot |= snap.get(*m).is_some();
            }
        }
    }
}

/// Builds the [`NoRowsCause`] of the containers `work` named, from what each showed.
fn no_rows_cause(features: &FeatureSet, names: Vec<String>, seen: &[Seen]) -> NoRowsCause {
    let mut cause = NoRowsCause {
        feature_set: features.name.clone(),
        window: features.window.max(1),
        containers: names.len(),
        ..Default::default()
    };
    let mut missing: Vec<Vec<String>> = vec![Vec::new(); features.required.len()];
    for (name, seen) in names.into_iter().zip(seen) {
        if !seen.samples {
            cause.without_samples.push(name);
            continue;
        }
        let mut complete = true;
        for (k, list) in missing.iter_mut().enumerate() {
            if !seen.required[k] {
                list.push(name.clone());
                complete = false;
            }
        }
        if complete {
            cause.too_few_snapshots.push(name);
        }
    }
    cause.missing = features
        .required
        .iter()
        .copied()
        .zip(missing)
        .filter(|(_, names)| !names.is_empty())
        .collect();
    cause
}

/// Counts of what a collection did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CollectStats {
    /// Pods listed.
    pub pods: usize,
    /// Pods with a claimed class.
    pub labelled_pods: usize,
    /// Containers of labelled pods.
    pub containers: usize,
    /// Containers that yielded at least one row.
    pub containers_with_rows: usize,
    /// Rows in the data set.
    pub rows: usize,
    /// `MetricSource::fetch` calls made.
    pub fetches: usize,
    /// Containers fetched again because a fetch could not read them (each
    /// counted once per retry round).
    pub retried: usize,
    /// Sidecar containers of labelled pods, not collected.
    pub sidecars: usize,
    /// Rows at most the young horizon old (from early histories or from
    /// pods that started within the window).
    pub young_rows: usize,
    /// Rows older than the young horizon.
    pub steady_rows: usize,
    /// Containers with at least one young row.
    pub containers_with_young_rows: usize,
    /// Fetches of early histories (part of [`fetches`](Self::fetches)).
    pub early_fetches: usize,
    /// Past pods found in the metrics ([`CollectConfig::past`]), part of
    /// [`pods`](Self::pods).
    #[serde(default)]
    pub past_pods: usize,
    /// Containers of past pods with a claimed class, part of
    /// [`containers`](Self::containers).
    #[serde(default)]
    pub past_containers: usize,
    /// Past pods left out as earlier pods of a listed pod's workload (same
    /// namespace and [`workload_name`]), not part of [`pods`](Self::pods).
    #[serde(default)]
    pub past_pods_of_running: usize,
    /// Past pods left out as other pods of a removed workload (earlier ones,
    /// or replicas beside it) whose latest pod is trained on; not part of
    /// [`pods`](Self::pods).
    #[serde(default)]
    pub past_pods_same_workload: usize,
    /// Rows without an age (of past pods whose start is unknown), part of
    /// [`rows`](Self::rows) but of neither [`young_rows`](Self::young_rows)
    /// nor [`steady_rows`](Self::steady_rows).
    #[serde(default)]
    pub rows_without_age: usize,
    /// Containers with rows that are replicas of one ReplicaSet with another
    /// such container (pods `name-<hash>-xxxxx`,
    /// [`replica_set_name`](crate::pod::replica_set_name)): near twins, kept
    /// on one side of every calibration and evaluation split
    /// ([`Dataset::set_replica_set`]), part of
    /// [`containers_with_rows`](Self::containers_with_rows).
    #[serde(default)]
    pub replicated_containers: usize,
}

/// One fetch to make: which containers, over which window.
struct Job {
    items: Vec<usize>,
    window: TimeWindow,
    /// The last window of past pods: of its rows each keeps those from its
    /// pod's last window, which other fetches of the pod leave out.
    past_steady: bool,
}

/// The early-history fetches: containers whose start is before `recent`
/// (the recent window's start), grouped by start time so that each fetch
/// spans at most two horizons and `batch` containers. Each fetch ends at
/// the latest start plus the horizon, or at `recent`, whichever is first.
fn early_jobs(starts: &[(usize, Timestamp)], horizon: Duration, recent: Timestamp, batch: usize) -> Vec<Job> {
    let mut starts: Vec<(usize, Timestamp)> = starts.iter().copied().filter(|(_, t)| *t < recent).collect();
    starts.sort_by_key(|(i, t)| (*t, *i));
    let mut jobs: Vec<Job> = Vec::new();
    let mut group: Vec<usize> = Vec::new();
    let mut first = Timestamp::EPOCH;
    let mut last = Timestamp::EPOCH;
    let close = |group: &mut Vec<usize>, first: Timestamp, last: Timestamp, jobs: &mut Vec<Job>| {
        if !group.is_empty() {
            let end = (last + horizon).min(recent);
            jobs.push(Job {
                items: std::mem::take(group),
                window: TimeWindow::new(first, end + Duration::from_millis(1)),
                past_steady: false,
            });
        }
    };
    for (i, t) in starts {
        if !group.is_empty() && (t.since(first) > horizon || group.len() >= batch.max(1)) {
            close(&mut group, first, last, &mut jobs);
        }
        if group.is_empty() {
            first = t;
        }
        last = t;
        group.push(i);
    }
    close(&mut group, first, last, &mut jobs);
    jobs
}

/// A past container whose first sample comes later than this after the
/// look-back's start ([`CollectConfig::past`]) started at its first sample;
/// an earlier first sample may be a container that was running before, whose
/// start is unknown (its rows have no age and it gives no young rows).
pub const PAST_START_MARGIN: Duration = Duration::from_secs(300);

/// How much earlier than a past pod's last window its fetch starts, per
/// snapshot of the feature set's window (and one more): Telegraf's longest
/// usual interval, so that the window's first row has the snapshots it spans.
const PAST_CONTEXT_PER_SNAPSHOT: Duration = Duration::from_secs(60);

/// The past pods among `seen` to train on, each with its last sample, in pod
/// order: the latest pod of each removed workload ([`workload_name`], in the
/// same namespace; a source may not know UIDs). Earlier pods of a listed
/// pod's workload, and earlier pods of a removed workload, are left out:
/// they run what the pod kept runs, and as separate containers they would
/// be near twins on both sides of every held-out split, so that the
/// calibration would take a new workload's distance for rare.
fn past_pods(seen: Vec<SeenContainer>, listed: &[PodInfo], look_start: Timestamp) -> PastPods {
    let listed_uids: HashMap<(&str, &str), &str> = listed
        .iter()
        .map(|p| ((p.id.namespace.as_str(), p.id.name.as_str()), p.id.uid.as_str()))
        .collect();
    let running: HashSet<(&str, &str)> = listed
        .iter()
        .map(|p| (p.id.namespace.as_str(), workload_name(&p.id.name)))
        .collect();
    // pod → (pod, last sample, whether every container's start is known)
    let mut pods: BTreeMap<PodId, (PodInfo, Timestamp, bool)> = BTreeMap::new();
    let mut left_out: HashSet<PodId> = HashSet::new();
    for c in seen {
        let ns = c.id.pod.namespace.as_str();
        match listed_uids.get(&(ns, c.id.pod.name.as_str())) {
            // the listed pod itself (without UIDs an earlier pod of the same
            // name cannot be told from it)
            Some(uid) if c.id.pod.uid.is_empty() || uid.is_empty() || *uid == c.id.pod.uid => continue,
            _ => {}
        }
        if running.contains(&(ns, workload_name(&c.id.pod.name))) {
            left_out.insert(c.id.pod);
            continue;
        }
        let start = c
            .started
            .or_else(|| (c.first_sample.since(look_start) > PAST_START_MARGIN).then_some(c.first_sample));
        let (pod, end, known) = pods
            .entry(c.id.pod.clone())
            .or_insert_with(|| (PodInfo::new(c.id.pod.clone()), c.last_sample, true));
        *end = (*end).max(c.last_sample);
        match start {
            Some(s) if *known => pod.start_time = Some(pod.start_time.map_or(s, |t| t.min(s))),
            _ => {
                *known = false;
                pod.start_time = None;
            }
        }
        if !pod.containers.iter().any(|x| x.name == c.id.container) {
            pod.containers
                .push(ContainerInfo::new(c.id.container, c.image.unwrap_or_default()));
        }
    }
    // One pod a removed workload, its latest: the others ran what it ran.
    let mut latest: BTreeMap<(String, String), (PodInfo, Timestamp)> = BTreeMap::new();
    let mut same_workload = 0;
    for (pod, end, _) in pods.into_values() {
        let key = (pod.id.namespace.clone(), workload_name(&pod.id.name).to_string());
        match latest.entry(key) {
            Entry::Vacant(e) => {
                e.insert((pod, end));
            }
            Entry::Occupied(mut e) => {
                same_workload += 1;
                if e.get().1 < end {
                    e.insert((pod, end));
                }
            }
        }
    }
    let mut pods: Vec<(PodInfo, Timestamp)> = latest.into_values().collect();
    pods.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    PastPods {
        pods,
        of_running: left_out.len(),
        same_workload,
    }
}

/// What [`past_pods`] found.
struct PastPods {
    /// The pods to train on, each with its last sample.
    pods: Vec<(PodInfo, Timestamp)>,
    /// Left out as earlier pods of a listed pod's workload.
    of_running: usize,
    /// Left out as other pods of a removed workload whose latest is kept.
    same_workload: usize,
}

/// Lists pods, labels their containers and builds the data set of their
/// feature rows: steady rows of the recent window and young rows of each
/// pod's early history (see the [module documentation](self)).
///
/// Containers whose metrics could not be fetched (marked unavailable in the
/// batch, or in a fetch that failed with a transient error) are fetched again
/// in up to [`CollectConfig::retries`] further rounds; if some still cannot
/// be, the result is [`CollectError::Incomplete`]. Other errors end the
/// collection at once.
///
/// The sources and the clock are taken by value, by reference or in an
/// [`Arc`] (the traits are implemented for all three), as
/// [`Watcher::new`](super::Watcher::new) takes them. `progress` is `()`, or
/// `&mut |done, total| …` called after every fetch, counting the containers
/// of all fetches (early histories included); see [`Progress`].
///
/// Samples the source returns for containers it was not asked for are
/// ignored, with a warning ([`MetricBatch::unasked`](crate::MetricBatch::unasked)).
///
/// # Example
///
/// Collecting from a source of your own (here every container gets the
/// same made-up series) and a [`StaticPods`](crate::StaticPods) list:
///
/// ```
/// use cad_core::engine::{CollectConfig, collect_dataset};
/// use cad_core::prelude::*;
/// use std::time::Duration;
///
/// struct Steady;
///
/// #[async_trait]
/// impl MetricSource for Steady {
///     async fn fetch(&self, containers: &[ContainerId], window: TimeWindow)
///         -> Result<MetricBatch, SourceError>
///     {
///         let mut batch = MetricBatch::new();
///         for id in containers {
///             // Answer with the id that was asked for: its pod UID included.
///             let series = batch.series_mut(id);
///             let mut t = window.start;
///             while t < window.end {
///                 let k = (t.as_millis() / 10_000) as f64;
///                 series.push(Sample::new(t, Metric::MemoryUsageBytes, 8e6));
///                 // The CPU counter only: the gauge is derived from it.
///                 series.push(Sample::new(t, Metric::CpuUsageCoreNanoseconds, 2e7 * k));
///                 t = t + Duration::from_secs(10);
///             }
///         }
///         Ok(batch)
///     }
/// }
///
/// let mut pod = PodInfo::new(PodId::new("shop", "nginx-1", "uid-1"));
/// pod.start_time = Some(Timestamp::now() - Duration::from_secs(3600));
/// pod.containers.push(ContainerInfo::new("nginx", "nginx:1.25"));
/// let labeler = Labeler::new(["nginx", "mysql"]);
/// # futures::executor::block_on(async {
/// let (data, stats) = collect_dataset(
///     StaticPods::new([pod]),
///     Steady,
///     SystemClock,
///     &labeler,
///     &FeatureSet::behaviour(),
///     &CollectConfig::default(),
///     (), // no progress callback
/// )
/// .await
/// .unwrap();
/// assert_eq!(stats.containers_with_rows, 1);
/// // The last 10 minutes and the pod's first 5 (young rows).
/// assert!(stats.steady_rows > 50 && stats.young_rows > 25);
/// assert_eq!(data.n_rows(), stats.rows);
/// # });
/// ```
pub async fn collect_dataset(
    pods: impl PodSource,
    metrics: impl MetricSource,
    clock: impl Clock,
    labeler: &Labeler,
    features: &FeatureSet,
    config: &CollectConfig,
    mut progress: impl Progress<Fetched>,
) -> Result<(Dataset, CollectStats), CollectError> {
    let mut listed = pods.list().await?;
    let now = clock.now();
    let live = listed.len();
    // The last sample of each past pod (none for listed pods).
    let mut ends: Vec<Option<Timestamp>> = vec![None; live];
    let (mut past_of_running, mut past_same_workload) = (0, 0);
    if !config.past.is_zero() {
        let look = TimeWindow::ending_at(now + Duration::from_millis(1), config.past);
        let seen = metrics.containers_seen(look).await?;
        let past = past_pods(seen, &listed, look.start);
        (past_of_running, past_same_workload) = (past.of_running, past.same_workload);
        for (pod, end) in past.pods {
            listed.push(pod);
            ends.push(Some(end));
        }
    }
    let mut stats = CollectStats {
        pods: listed.len(),
        past_pods: listed.len() - live,
        past_pods_of_running: past_of_running,
        past_pods_same_workload: past_same_workload,
        ..Default::default()
    };
    let mut work: Vec<(&PodInfo, &ContainerInfo, String)> = Vec::new();
    let mut work_ends: Vec<Option<Timestamp>> = Vec::new();
    for (p, end) in listed.iter().zip(&ends) {
        let mut labelled = false;
        for (c, claim) in p.containers.iter().zip(labeler.container_claims(p)) {
            match claim {
                ContainerClaim::Class(class) => {
                    labelled = true;
                    work.push((p, c, class.to_string()));
                    work_ends.push(*end);
                }
                ContainerClaim::Sidecar(_) => stats.sidecars += 1,
                ContainerClaim::Nothing => {}
            }
        }
        stats.labelled_pods += usize::from(labelled);
    }
    stats.containers = work.len();
    // Past pods come after the listed ones.
    let first_past = work_ends.iter().position(Option::is_some).unwrap_or(work.len());
    stats.past_containers = work.len() - first_past;
    let mut data = Dataset::new(features.column_names(), labeler.classes().to_vec());
    let recent = TimeWindow::ending_at(now + Duration::from_millis(1), config.window);
    let batch = config.batch_size.max(1);
    let mut jobs: Vec<Job> = (0..first_past)
        .collect::<Vec<_>>()
        .chunks(batch)
        .map(|items| Job {
            items: items.to_vec(),
            window: recent,
            past_steady: false,
        })
        .collect();
    // A past container's steady rows: the last window of its samples. Its
    // fetch starts `context` before the window, so that the window's first
    // rows have the snapshots before them, as one fetch of the whole life
    // would give them (the rows before the window come from the early fetch:
    // each row once, see the filter below), and ends the alignment tolerance
    // after its last sample (the other measurements of its last scrape may be
    // stamped a little later).
    let tolerance = Duration::from_millis(u64::try_from(features.align_tolerance_ms).unwrap_or(0));
    let context = PAST_CONTEXT_PER_SNAPSHOT * (u32::try_from(features.window).unwrap_or(u32::MAX).saturating_add(1));
    let ends: Vec<(usize, Timestamp)> = (first_past..work.len())
        .filter_map(|i| Some((i, work_ends[i]? - config.window - context)))
        .collect();
    jobs.extend(
        early_jobs(
            &ends,
            config.window.saturating_add(context).saturating_add(tolerance),
            now + Duration::from_millis(1),
            batch,
        )
        .into_iter()
        .map(|job| Job {
            past_steady: true,
            ..job
        }),
    );
    if !config.young_horizon.is_zero() {
        let starts: Vec<(usize, Timestamp)> = work
            .iter()
            .enumerate()
            .filter_map(|(i, (p, _, _))| Some((i, p.start_time?)))
            .collect();
        let early = early_jobs(&starts, config.young_horizon, recent.start, batch);
        stats.early_fetches = early.len();
        jobs.extend(early);
    }
    let total: usize = jobs.iter().map(|j| j.items.len()).sum();
    let horizon = config.young_horizon.as_secs_f64();
    let (mut has_rows, mut has_young) = (vec![false; work.len()], vec![false; work.len()]);
    let mut seen = vec![Seen::default(); work.len()];
    let mut done = 0;
    let mut attempts = 0u32;
    let mut last_cause: Option<Arc<SourceError>> = None;
    while !jobs.is_empty() {
        if attempts > 0 {
            let missing: usize = jobs.iter().map(|j| j.items.len()).sum();
            if attempts > config.retries {
                return Err(CollectError::Incomplete {
                    unavailable: missing,
                    containers: work.len(),
                    attempts,
                    cause: last_cause.unwrap_or_else(|| Arc::new(SourceError::Invalid("no cause reported".into()))),
                });
            }
            let wait = config.retry_wait.saturating_mul(1 << (attempts - 1).min(16));
            tracing::warn!(
                containers = missing, round = attempts, of = config.retries, wait_s = wait.as_secs_f64(),
                error = %last_cause.as_deref().map(ToString::to_string).unwrap_or_default(),
                "metrics of some containers could not be fetched; fetching them again"
            );
            stats.retried += missing;
            clock.sleep(wait).await;
        }
        attempts += 1;
        let mut again = Vec::new();
        for job in jobs {
            let ids: Vec<ContainerId> = job
                .items
                .iter()
                .map(|&i| work[i].0.id.container(work[i].1.name.clone()))
                .collect();
            stats.fetches += 1;
            let batch = match metrics.fetch(&ids, job.window).await {
                Ok(b) => b,
                Err(e) if e.is_transient() => {
                    last_cause = Some(Arc::new(e));
                    again.push(job);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            crate::metric::warn_unasked(&batch, &ids, "collector");
            if let Some(e) = batch.unavailable_causes().last() {
                last_cause = Some(e.clone());
            }
            let mut failed = Vec::new();
            for (&i, id) in job.items.iter().zip(&ids) {
                if batch.is_unavailable(id) {
                    failed.push(i);
                    continue;
                }
                let (pod, container, class) = &work[i];
                let input = ContainerInput {
                    pod,
                    container,
                    samples: batch.samples(id),
                };
                let mut rows = features.timed_rows(&input);
                // A past pod's last window comes from its own fetch, its
                // early rows from the others: each row once.
                if let Some(end) = work_ends[i] {
                    let from = end - config.window;
                    rows.retain(|(time, _)| (*time >= from) == job.past_steady);
                }
                done += 1;
                if rows.is_empty() {
                    tracing::debug!(container = %id, "no complete window of metrics in this fetch");
                    if !has_rows[i] && !input.samples.is_empty() {
                        note_required(&mut seen[i], features, &input);
                    }
                    continue;
                }
                has_rows[i] = true;
                let c = data.class_index(class);
                let name = id.to_string();
                let g = data.group_index(&name);
                if let Some(set) = replica_set_of(&name) {
                    // The index is the one just made.
                    let _ = data.set_replica_set(g, &set);
                }
                for (time, row) in rows {
                    let age = pod.start_time.map(|s| time.secs_since(s)).filter(|a| *a >= 0.0);
                    // Width always matches: the rows come from the same feature set.
                    if data.push_aged(&row, c, g, age).is_ok() {
                        stats.rows += 1;
                        match age {
                            Some(a) if a <= horizon => {
                                stats.young_rows += 1;
                                has_young[i] = true;
                            }
                            Some(_) => stats.steady_rows += 1,
                            None => stats.rows_without_age += 1,
                        }
                    }
                }
            }
            if !failed.is_empty() {
                again.push(Job {
                    items: failed,
                    window: job.window,
                    past_steady: job.past_steady,
                });
            }
            progress.update(Fetched { done, total });
        }
        jobs = again;
    }
    stats.containers_with_rows = has_rows.iter().filter(|h| **h).count();
    stats.containers_with_young_rows = has_young.iter().filter(|h| **h).count();
    // Groups are made only for containers with rows.
    let mut sets: HashMap<&str, usize> = HashMap::new();
    for g in 0..data.group_names().len() {
        if let Some(set) = data.replica_set(g) {
            *sets.entry(set).or_default() += 1;
        }
    }
    stats.replicated_containers = sets.values().filter(|&&n| n > 1).sum();
    if data.is_empty() {
        let names = work
            .iter()
            .map(|(p, c, _)| p.id.container(c.name.clone()).to_string())
            .collect();
        return Err(CollectError::NoRows {
            pods: stats.pods,
            labelled: stats.labelled_pods,
            window_s: config.window.as_secs(),
            cause: Box::new(no_rows_cause(features, names, &seen)),
        });
    }
    Ok((data, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_pods_leave_out_listed_names_and_know_a_start_only_well_inside_the_look_back() {
        let look = Timestamp::from_secs(1_000_000);
        let t = |s: i64| Timestamp::from_secs(1_000_000 + s);
        let id = |pod: &str, uid: &str, c: &str| PodId::new("shop", pod, uid).container(c);
        let mut live = PodInfo::new(PodId::new("shop", "mysql-0", "new-uid"));
        live.containers.push(ContainerInfo::new("mysql", "mysql:8"));
        let seen = vec![
            // the live pod's earlier incarnation: same name, other UID (or none)
            SeenContainer::new(id("mysql-0", "old-uid", "mysql"), t(10), t(5_000)),
            // the live pod itself, or without a UID not to be told from it
            SeenContainer::new(id("mysql-0", "new-uid", "mysql"), t(5_000), t(9_000)),
            SeenContainer::new(id("mysql-0", "", "mysql"), t(10), t(9_000)),
            // started within the look-back, with a sidecar seen from a little later
            SeenContainer::new(id("nginx-a", "", "nginx"), t(4_000), t(9_000)).with_image("nginx:1.25"),
            SeenContainer::new(id("nginx-a", "", "istio-proxy"), t(4_010), t(9_010)),
            // running when the look-back began: start unknown
            SeenContainer::new(id("nginx-b", "", "nginx"), t(5), t(9_000)),
            // a recorded start wins over the first sample
            SeenContainer::new(id("nginx-c", "", "nginx"), t(20), t(700)).with_start(t(-50)),
            // one container's start unknown: the pod's is
            SeenContainer::new(id("web-d", "", "app"), t(3_000), t(4_000)),
            SeenContainer::new(id("web-d", "", "log"), t(30), t(4_000)),
        ];
        let mut seen = seen;
        // the live pod's workload: left out (an earlier StatefulSet pod, a
        // Deployment's replaced pod); another Deployment's: kept
        let mut web = PodInfo::new(PodId::new("shop", "web-6d4cf56db6-bcdfg", "w"));
        web.containers.push(ContainerInfo::new("web", "web:2"));
        seen.push(SeenContainer::new(id("mysql-1", "", "mysql"), t(10), t(50)));
        seen.push(SeenContainer::new(id("web-5f7b9c8d4-x7k2q", "", "web"), t(10), t(50)));
        // a removed workload: its latest pod only
        seen.push(SeenContainer::new(id("worker-5f7b9c8d4-x7k2q", "", "w"), t(10), t(50)));
        seen.push(SeenContainer::new(id("worker-5f7b9c8d4-bcdfg", "", "w"), t(60), t(80)));
        seen.push(SeenContainer::new(id("worker-6c8d5f7b9-zzzzz", "", "w"), t(20), t(70)));
        let found = past_pods(seen, &[live, web], look);
        let past = found.pods;
        let names: Vec<&str> = past.iter().map(|(p, _)| p.id.name.as_str()).collect();
        assert_eq!(
            names,
            ["nginx-a", "nginx-b", "nginx-c", "web-d", "worker-5f7b9c8d4-bcdfg"]
        );
        assert_eq!((found.of_running, found.same_workload), (3, 2));
        let (a, end) = &past[0];
        assert_eq!((a.start_time, *end), (Some(t(4_000)), t(9_010)));
        let containers: Vec<(&str, &str)> = a
            .containers
            .iter()
            .map(|c| (c.name.as_str(), c.image.as_str()))
            .collect();
        assert_eq!(containers, [("nginx", "nginx:1.25"), ("istio-proxy", "")]);
        assert_eq!(past[1].0.start_time, None);
        assert_eq!(past[2].0.start_time, Some(t(-50)));
        assert_eq!(past[3].0.start_time, None);
        assert!(PAST_START_MARGIN < Duration::from_secs(3_000));
    }

    #[test]
    fn early_fetches_group_starts_and_stay_short() {
        let h = Duration::from_secs(300);
        let recent = Timestamp::from_secs(100_000);
        let starts: Vec<(usize, Timestamp)> = [10, 20, 200, 400, 5_000, 99_990, 99_000, 100_500]
            .iter()
            .enumerate()
            .map(|(i, s)| (i, Timestamp::from_secs(*s)))
            .collect();
        let jobs = early_jobs(&starts, h, recent, 500);
        let items: Vec<Vec<usize>> = jobs.iter().map(|j| j.items.clone()).collect();
        // 10, 20, 200 together (within 300 s of 10); 400 starts a group;
        // 5000; 99000; 99990; 100500 is in the recent window: none.
        assert_eq!(items, [vec![0, 1, 2], vec![3], vec![4], vec![6], vec![5]]);
        for j in &jobs {
            assert!(
                j.window.duration() <= 2 * h + Duration::from_millis(1),
                "{:?}",
                j.window
            );
            assert!(j.window.end <= recent + Duration::from_millis(1));
        }
        assert_eq!(jobs[0].window.start, Timestamp::from_secs(10));
        assert_eq!(jobs[0].window.end, Timestamp::from_secs(500) + Duration::from_millis(1));
        // The last group ends where the recent window begins.
        assert_eq!(jobs[4].window.end, recent + Duration::from_millis(1));
        // At most `batch` containers per fetch.
        let same: Vec<(usize, Timestamp)> = (0..7).map(|i| (i, Timestamp::from_secs(50))).collect();
        let sizes: Vec<usize> = early_jobs(&same, h, recent, 3).iter().map(|j| j.items.len()).collect();
        assert_eq!(sizes, [3, 3, 1]);
    }
}
