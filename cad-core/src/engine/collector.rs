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
use std::time::Duration;

/// How the collector gathers its data.
#[derive(Clone, Debug, PartialEq)]
pub struct CollectConfig {
    /// How far back from now to read metrics (default 10 minutes, as the old
    /// system's ~60 samples per container at Telegraf's 10 s interval).
    pub window: Duration,
    /// Containers per `MetricSource::fetch` call (default 500).
    pub batch_size: usize,
}

impl Default for CollectConfig {
    fn default() -> Self {
        CollectConfig {
            window: Duration::from_secs(600),
            batch_size: 500,
        }
    }
}

/// Why collecting failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    /// Listing pods or fetching metrics failed.
    #[error("collecting failed: {0}")]
    Source(#[from] SourceError),
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
}

/// Lists pods, labels them and builds the data set of their feature rows.
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
    for chunk in work.chunks(config.batch_size.max(1)) {
        let ids: Vec<ContainerId> = chunk.iter().map(|(p, c, _)| p.id.container(c.name.clone())).collect();
        stats.fetches += 1;
        let batch = metrics.fetch(&ids, window).await?;
        for ((pod, container, class), id) in chunk.iter().zip(&ids) {
            let input = ContainerInput {
                pod,
                container,
                samples: batch.samples(id),
            };
            let rows = features.rows(&input);
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
        done += chunk.len();
        progress(done, stats.containers);
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
