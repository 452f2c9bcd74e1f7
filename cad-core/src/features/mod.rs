//! Feature extraction: turning a container's raw samples into rows.
//!
//! A [`FeatureSet`] names the columns a model uses and how each is computed
//! from the samples of a window of aligned *snapshots*. The model bundle
//! carries its feature set, so the watcher computes exactly the columns the
//! model was trained on.
//!
//! Named sets:
//! * `legacy` — the old system's 15 columns in the old order (identity
//!   hashes, raw gauges, raw cumulative counters), so the old ARFF files can
//!   be used. It leaks the label through the pod-name hash: comparison only.
//! * `behaviour` (the default) — behavioural columns only: counters as
//!   per-second rates, gauges aggregated over the window (mean, max, standard
//!   deviation), no names, namespaces or image hashes.
//!
//! STATUS: skeleton — the extraction bodies are being implemented.

use crate::metric::{Metric, Sample};
use crate::pod::{ContainerInfo, PodInfo};
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
    /// Metrics a snapshot must have to count as complete.
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

// TEMPORARY stubs so dependants compile while extraction is written on its branch.
#[allow(missing_docs, unused_variables)]
impl FeatureSet {
    pub fn legacy() -> FeatureSet {
        unimplemented!()
    }
    pub fn behaviour() -> FeatureSet {
        unimplemented!()
    }
    pub fn by_name(name: &str) -> Option<FeatureSet> {
        unimplemented!()
    }
    pub fn column_names(&self) -> Vec<String> {
        unimplemented!()
    }
    pub fn metrics(&self) -> Vec<Metric> {
        unimplemented!()
    }
    pub fn complete_snapshots(&self, input: &ContainerInput<'_>) -> usize {
        unimplemented!()
    }
    pub fn rows(&self, input: &ContainerInput<'_>) -> Vec<FeatureRow> {
        unimplemented!()
    }
    pub fn first_row(&self, input: &ContainerInput<'_>) -> Option<FeatureRow> {
        unimplemented!()
    }
}
