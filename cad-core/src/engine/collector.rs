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
//! Every row keeps its pod's age as metadata ([`Dataset::age`]), not as a
//! feature. Sidecar containers ([`Labeler::container_claims`]) are not
//! collected.

use crate::clock::Clock;
use crate::dataset::Dataset;
use crate::features::{ContainerInput, FeatureSet};
use crate::label::{ContainerClaim, Labeler};
use crate::pod::{ContainerId, ContainerInfo, PodInfo};
use crate::source::{MetricSource, PodSource, SourceError};
use crate::time::{TimeWindow, Timestamp};
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
}

impl Default for CollectConfig {
    fn default() -> Self {
        CollectConfig {
            window: Duration::from_secs(600),
            batch_size: 500,
            retries: 2,
            retry_wait: Duration::from_secs(2),
            young_horizon: crate::age::DEFAULT_YOUNG_HORIZON,
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
    /// No labelled container yielded a single feature row.
    #[error(
        "no training rows: {pods} pods listed, {labelled} with a class in their name or label, none with enough metrics in the last {window_s} s"
    )]
    NoRows {
        /// Pods listed.
        pods: usize,
        /// Of those, pods with a claimed class.
        labelled: usize,
        /// The metric window in seconds.
        window_s: u64,
    },
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
}

/// One fetch to make: which containers, over which window.
struct Job {
    items: Vec<usize>,
    window: TimeWindow,
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
/// `progress(done, total)` is called after every fetch, counting the
/// containers of all fetches (early histories included).
pub async fn collect_dataset(
    pods: &dyn PodSource,
    metrics: &dyn MetricSource,
    clock: &dyn Clock,
    labeler: &Labeler,
    features: &FeatureSet,
    config: &CollectConfig,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> Result<(Dataset, CollectStats), CollectError> {
    let listed = pods.list().await?;
    let mut stats = CollectStats {
        pods: listed.len(),
        ..Default::default()
    };
    let mut work: Vec<(&PodInfo, &ContainerInfo, String)> = Vec::new();
    for p in &listed {
        let mut labelled = false;
        for (c, claim) in p.containers.iter().zip(labeler.container_claims(p)) {
            match claim {
                ContainerClaim::Class(class) => {
                    labelled = true;
                    work.push((p, c, class.to_string()));
                }
                ContainerClaim::Sidecar(_) => stats.sidecars += 1,
                ContainerClaim::Nothing => {}
            }
        }
        stats.labelled_pods += usize::from(labelled);
    }
    stats.containers = work.len();
    let mut data = Dataset::new(features.column_names(), labeler.classes().to_vec());
    let now = clock.now();
    let recent = TimeWindow::ending_at(now + Duration::from_millis(1), config.window);
    let batch = config.batch_size.max(1);
    let mut jobs: Vec<Job> = (0..work.len())
        .collect::<Vec<_>>()
        .chunks(batch)
        .map(|items| Job {
            items: items.to_vec(),
            window: recent,
        })
        .collect();
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
                let rows = features.timed_rows(&input);
                done += 1;
                if rows.is_empty() {
                    tracing::debug!(container = %id, "no complete window of metrics in this fetch");
                    continue;
                }
                has_rows[i] = true;
                let c = data.class_index(class);
                let g = data.group_index(&id.to_string());
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
                            None => {}
                        }
                    }
                }
            }
            if !failed.is_empty() {
                again.push(Job {
                    items: failed,
                    window: job.window,
                });
            }
            progress(done, total);
        }
        jobs = again;
    }
    stats.containers_with_rows = has_rows.iter().filter(|h| **h).count();
    stats.containers_with_young_rows = has_young.iter().filter(|h| **h).count();
    if data.is_empty() {
        return Err(CollectError::NoRows {
            pods: stats.pods,
            labelled: stats.labelled_pods,
            window_s: config.window.as_secs(),
        });
    }
    Ok((data, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

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
