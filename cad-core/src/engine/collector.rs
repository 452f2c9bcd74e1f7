//! The collector engine's first half: list pods, label them, fetch the
//! metrics of every labelled container in batched calls, and turn them into a
//! [`Dataset`] whose groups are the containers.

use crate::clock::Clock;
use crate::dataset::Dataset;
use crate::features::{ContainerInput, FeatureSet};
use crate::label::Labeler;
use crate::pod::ContainerId;
use crate::source::{MetricSource, PodSource, SourceError};
use crate::time::TimeWindow;
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
}

impl Default for CollectConfig {
    fn default() -> Self {
        CollectConfig {
            window: Duration::from_secs(600),
            batch_size: 500,
            retries: 2,
            retry_wait: Duration::from_secs(2),
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
}

/// Lists pods, labels them and builds the data set of their feature rows.
///
/// Containers whose metrics could not be fetched (marked unavailable in the
/// batch, or in a fetch that failed with a transient error) are fetched again
/// in up to [`CollectConfig::retries`] further rounds; if some still cannot
/// be, the result is [`CollectError::Incomplete`]. Other errors end the
/// collection at once.
///
/// `progress(done, total)` is called after every batch of containers.
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
    let mut work = Vec::new();
    for p in &listed {
        if let Some(class) = labeler.claimed_class(p) {
            stats.labelled_pods += 1;
            for c in &p.containers {
                work.push((p, c, class.to_string()));
            }
        }
    }
    stats.containers = work.len();
    let mut data = Dataset::new(features.column_names(), labeler.classes().to_vec());
    let window = TimeWindow::ending_at(clock.now() + Duration::from_millis(1), config.window);
    let mut done = 0;
    let mut todo: Vec<usize> = (0..work.len()).collect();
    let mut attempts = 0u32;
    let mut last_cause: Option<Arc<SourceError>> = None;
    while !todo.is_empty() {
        if attempts > 0 {
            if attempts > config.retries {
                return Err(CollectError::Incomplete {
                    unavailable: todo.len(),
                    containers: work.len(),
                    attempts,
                    cause: last_cause.unwrap_or_else(|| Arc::new(SourceError::Invalid("no cause reported".into()))),
                });
            }
            let wait = config.retry_wait.saturating_mul(1 << (attempts - 1).min(16));
            tracing::warn!(
                containers = todo.len(), round = attempts, of = config.retries, wait_s = wait.as_secs_f64(),
                error = %last_cause.as_deref().map(ToString::to_string).unwrap_or_default(),
                "metrics of some containers could not be fetched; fetching them again"
            );
            stats.retried += todo.len();
            clock.sleep(wait).await;
        }
        attempts += 1;
        let mut again = Vec::new();
        for chunk in todo.chunks(config.batch_size.max(1)) {
            let ids: Vec<ContainerId> = chunk
                .iter()
                .map(|&i| work[i].0.id.container(work[i].1.name.clone()))
                .collect();
            stats.fetches += 1;
            let batch = match metrics.fetch(&ids, window).await {
                Ok(b) => b,
                Err(e) if e.is_transient() => {
                    last_cause = Some(Arc::new(e));
                    again.extend_from_slice(chunk);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if let Some(e) = batch.unavailable_causes().last() {
                last_cause = Some(e.clone());
            }
            for (&i, id) in chunk.iter().zip(&ids) {
                if batch.is_unavailable(id) {
                    again.push(i);
                    continue;
                }
                let (pod, container, class) = &work[i];
                let input = ContainerInput {
                    pod,
                    container,
                    samples: batch.samples(id),
                };
                let rows = features.rows(&input);
                done += 1;
                if rows.is_empty() {
                    tracing::debug!(container = %id, "no complete window of metrics; container skipped");
                    continue;
                }
                stats.containers_with_rows += 1;
                let c = data.class_index(class);
                let g = data.group_index(&id.to_string());
                for row in rows {
                    // Width always matches: the rows come from the same feature set.
                    if data.push_indexed(&row, c, g).is_ok() {
                        stats.rows += 1;
                    }
                }
            }
            progress(done, stats.containers);
        }
        todo = again;
    }
    if data.is_empty() {
        return Err(CollectError::NoRows {
            pods: stats.pods,
            labelled: stats.labelled_pods,
            window_s: config.window.as_secs(),
        });
    }
    Ok((data, stats))
}
