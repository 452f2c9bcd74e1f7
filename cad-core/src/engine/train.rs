//! The collector engine's second half: evaluate honestly, draw the learning
//! curve, fit the final model on all rows and wrap it in a [`ModelBundle`].

use crate::bundle::{EvaluationSummary, ModelBundle};
use crate::classifier::FitError;
use crate::dataset::Dataset;
use crate::eval::{self, CurvePoint, CurveSizes, Method, Report};
use crate::features::FeatureSet;
use crate::model::Algorithm;
use crate::time::Timestamp;

/// How to train and evaluate.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// The learning algorithm and its parameters.
    pub algorithm: Algorithm,
    /// How to evaluate (default: grouped 5-fold, all rows of a container on one side).
    pub method: Method,
    /// Points on the learning curve (0 for none).
    pub curve_points: usize,
    /// Largest training size on the curve (default: the whole training side).
    pub curve_max_rows: Option<usize>,
    /// Share of containers held out for the learning curve.
    pub curve_test_ratio: f64,
    /// Seed of the learning curve's split and shuffle.
    pub seed: u64,
    /// Free text stored in the bundle, e.g. `"simulated cluster, seed 7"`.
    pub trained_on: String,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            algorithm: Algorithm::by_name("tree").unwrap_or(Algorithm::Tree(Default::default())),
            method: Method::GroupedKFold { k: 5, seed: 42 },
            curve_points: 12,
            curve_max_rows: None,
            curve_test_ratio: 0.3,
            seed: 42,
            trained_on: String::new(),
        }
    }
}

/// What training produced.
#[derive(Debug)]
pub struct Trained {
    /// The model fitted on all rows, with its evaluation summary.
    pub bundle: ModelBundle,
    /// The full evaluation, if one was possible.
    pub report: Option<Report>,
    /// Why there is no evaluation, if there is none (for example too few containers).
    pub evaluation_skipped: Option<String>,
    /// Accuracy on held-out containers as the training set grows.
    pub curve: Vec<CurvePoint>,
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// Fitting the final model failed.
    #[error("fitting the model failed: {0}")]
    Fit(#[from] FitError),
    /// The fitted model did not fit its own class list or feature set.
    #[error("the fitted model is inconsistent: {0}")]
    Bundle(#[from] crate::bundle::BundleError),
    /// The data set's columns differ from the feature set's.
    #[error("the data set has columns {data:?} but the feature set {set} has {expected:?}")]
    Columns {
        /// The feature set's name.
        set: String,
        /// Its columns.
        expected: Vec<String>,
        /// The data set's columns.
        data: Vec<String>,
    },
}

/// The steps [`train`] reports to its progress callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrainStep {
    /// Evaluating (with the number of rounds).
    Evaluating,
    /// Drawing the learning curve.
    LearningCurve,
    /// Fitting the final model on all rows.
    Fitting,
}

/// Evaluates `algorithm` on `data`, draws the learning curve, then fits the
/// final model on every row. An evaluation or curve that cannot be made (too
/// few containers for the folds, say) is skipped with the reason, not fatal.
pub fn train(
    data: &Dataset,
    features: &FeatureSet,
    config: &TrainConfig,
    now: Timestamp,
    progress: &mut (dyn FnMut(TrainStep) + Send),
) -> Result<Trained, TrainError> {
    if data.feature_names() != features.column_names().as_slice() {
        return Err(TrainError::Columns {
            set: features.name.clone(),
            expected: features.column_names(),
            data: data.feature_names().to_vec(),
        });
    }
    progress(TrainStep::Evaluating);
    let (report, evaluation_skipped) = match eval::evaluate(&config.algorithm, data, config.method) {
        Ok(r) => (Some(r), None),
        Err(e) => {
            tracing::warn!(error = %e, "evaluation skipped");
            (None, Some(format!("evaluation ({}) not possible: {e}", config.method)))
        }
    };
    let mut curve = Vec::new();
    if config.curve_points > 0 {
        progress(TrainStep::LearningCurve);
        let sizes = match config.curve_max_rows {
            Some(max) => CurveSizes::Exact(eval::spaced_sizes(max, config.curve_points)),
            None => CurveSizes::About(config.curve_points),
        };
        match eval::learning_curve(&config.algorithm, data, &sizes, config.curve_test_ratio, config.seed) {
            Ok(c) => curve = c,
            Err(e) => tracing::warn!(error = %e, "learning curve skipped"),
        }
    }
    progress(TrainStep::Fitting);
    let model = config.algorithm.fit(data)?;
    let mut bundle = ModelBundle::new(
        data.classes().to_vec(),
        features.clone(),
        model,
        now,
        config.trained_on.clone(),
    );
    bundle.evaluation = Some(match (&report, &evaluation_skipped) {
        (Some(r), _) => r.summary(),
        (None, reason) => EvaluationSummary {
            method: config.method.to_string(),
            accuracy: None,
            macro_f1: None,
            train_rows: data.n_rows(),
            test_rows: 0,
            groups: data.group_names().len(),
            warnings: reason.iter().cloned().collect(),
            report: reason.clone().unwrap_or_default(),
        },
    });
    bundle.check()?;
    Ok(Trained {
        bundle,
        report,
        evaluation_skipped,
        curve,
    })
}
