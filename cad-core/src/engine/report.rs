//! [`TrainingReport`]: the machine-readable summary of a training run (the
//! collector's `report.json`).

use super::collector::CollectStats;
use super::train::Trained;
use crate::eval::{ConfusionMatrix, CurvePoint};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What a training run produced and how the model did, as the collector
/// writes it to `report.json`. Fields without a value (no evaluation, no
/// collection) are `null`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingReport {
    /// Where the model was written.
    pub model: PathBuf,
    /// When the model was made (RFC 3339).
    pub created_at: String,
    /// The algorithm's name (`tree`, `forest`, `smartcore-tree`).
    pub algorithm: String,
    /// The model file's size.
    pub model_bytes: u64,
    /// Its size in base64, as a ConfigMap's `binaryData` holds it.
    pub model_base64_bytes: u64,
    /// Whether it fits the ConfigMap limit given to [`TrainingReport::new`].
    pub model_fits_configmap: bool,
    /// The feature set's name.
    pub feature_set: String,
    /// The model's classes, in prediction order.
    pub classes: Vec<String>,
    /// How it was evaluated.
    pub method: Option<String>,
    /// Accuracy on held-out rows.
    pub accuracy: Option<f64>,
    /// Macro-averaged F1 on held-out rows.
    pub macro_f1: Option<f64>,
    /// Seconds spent fitting during the evaluation.
    pub fit_seconds: Option<f64>,
    /// Seconds per predicted row during the evaluation.
    pub predict_seconds_per_row: Option<f64>,
    /// Rows trained on in the evaluation (summed over rounds).
    pub train_rows: Option<usize>,
    /// Rows tested in the evaluation (summed over rounds).
    pub test_rows: Option<usize>,
    /// Rows in the data set.
    pub rows: Option<usize>,
    /// Containers (groups) in the data set.
    pub groups: Option<usize>,
    /// The evaluation's warnings.
    pub warnings: Vec<String>,
    /// Why there is no evaluation, if none was made.
    pub evaluation_skipped: Option<String>,
    /// Why there is no learning curve, if it was asked for and could not be drawn.
    pub learning_curve_skipped: Option<String>,
    /// The confusion matrix: one row per true class, one count per predicted class.
    pub confusion_matrix: Option<Vec<Vec<u64>>>,
    /// Accuracy on held-out containers as the training set grows.
    pub learning_curve: Vec<CurvePoint>,
    /// What was collected, when the data came from a cluster.
    pub collected: Option<Collected>,
    /// The pod ages of the training rows, when they were collected
    /// ([`AgeCoverage`](crate::age::AgeCoverage); durations as seconds and
    /// nanoseconds).
    #[serde(default)]
    pub ages: Option<crate::age::AgeCoverage>,
    /// The usual time between a container's consecutive young training rows
    /// ([`AgeCoverage::row_interval`](crate::age::AgeCoverage::row_interval),
    /// which `ages` leaves out): with `ages.young`, when the watcher's
    /// windows complete.
    #[serde(default)]
    pub row_interval: Option<std::time::Duration>,
}

/// What the collector gathered for a [`TrainingReport`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collected {
    /// Where the metrics came from (`influxdb`, `prometheus`, `simulated cluster`).
    pub metrics_backend: String,
    /// The collector's counts (as fields of this object in JSON).
    #[serde(flatten)]
    pub stats: CollectStats,
}

impl Collected {
    /// The collector's counts, with the backend the metrics came from.
    pub fn new(stats: &CollectStats, metrics_backend: impl Into<String>) -> Self {
        Collected {
            metrics_backend: metrics_backend.into(),
            stats: stats.clone(),
        }
    }
}

impl TrainingReport {
    /// The report of `trained`, whose model was written to `model`
    /// (`model_bytes` bytes; a ConfigMap holds at most `configmap_limit`).
    pub fn new(
        trained: &Trained,
        model: impl Into<PathBuf>,
        model_bytes: u64,
        configmap_limit: u64,
        collected: Option<Collected>,
    ) -> Self {
        let (b, r) = (&trained.bundle, trained.report.as_ref());
        TrainingReport {
            model: model.into(),
            created_at: b.created_at.to_rfc3339(),
            algorithm: b.model.algorithm_name().to_owned(),
            model_bytes,
            model_base64_bytes: model_bytes.div_ceil(3) * 4,
            model_fits_configmap: model_bytes <= configmap_limit,
            feature_set: b.feature_set.name.clone(),
            classes: b.classes.clone(),
            method: r.map(|r| r.method.to_string()),
            accuracy: r.and_then(|r| r.accuracy),
            macro_f1: r.and_then(|r| r.macro_f1),
            fit_seconds: r.map(|r| r.fit_seconds),
            predict_seconds_per_row: r.and_then(|r| r.predict_ns_per_row()).map(|ns| ns * 1e-9),
            train_rows: r.map(|r| r.train_rows),
            test_rows: r.map(|r| r.test_rows),
            rows: r.map(|r| r.rows),
            groups: r.map(|r| r.groups),
            warnings: r.map(|r| r.warnings.clone()).unwrap_or_default(),
            evaluation_skipped: trained.evaluation_skipped.clone(),
            learning_curve_skipped: trained.curve_skipped.clone(),
            confusion_matrix: r.map(|r| matrix_rows(&r.matrix)),
            learning_curve: trained.curve.clone(),
            collected,
            ages: b.ages.clone(),
            row_interval: b.ages.as_ref().and_then(|a| a.row_interval),
        }
    }
}

/// The matrix's counts, one row per true class.
pub fn matrix_rows(m: &ConfusionMatrix) -> Vec<Vec<u64>> {
    let n = m.classes().len();
    (0..n).map(|t| (0..n).map(|p| m.count(t, p)).collect()).collect()
}
