//! The collector engine's second half: evaluate honestly, draw the learning
//! curve, fit the final model on all rows, calibrate it (the open-set model
//! on all training containers, the confidence map on out-of-fold
//! predictions of held-out containers) and wrap it all in a [`ModelBundle`].
//!
//! Training is a function of the rows and the seed only: the data set is
//! first put in its [canonical](Dataset::canonical) order, so the order in
//! which pods were listed, samples returned or lines written does not change
//! the folds, the forest's bootstrap samples or the model.

use crate::age::{AgeCoverage, DEFAULT_YOUNG_HORIZON};
use crate::bundle::ModelBundle;
use crate::classifier::FitError;
use crate::dataset::Dataset;
use crate::eval::{self, CurvePoint, CurveSizes, EvalError, Method, Report};
use crate::features::FeatureSet;
use crate::model::Algorithm;
use crate::openset::confidence::{self, CalibrationReport, ConfidenceMap, ConfidenceSource};
use crate::openset::{NoveltyParams, OpenSetModel};
use crate::time::Timestamp;
use std::time::Duration;

/// How to train and evaluate.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// The learning algorithm and its parameters.
    pub algorithm: Algorithm,
    /// How to evaluate (default: grouped 5-fold, all rows of a container on
    /// one side); `None` trains without an evaluation. An evaluation that
    /// cannot be made fails the training, except grouped k-fold with more
    /// folds than containers, which becomes leave-one-container-out with a
    /// warning in the report.
    pub method: Option<Method>,
    /// The most classes a data set may have (default [`DEFAULT_MAX_CLASSES`]).
    /// More usually means a wrong class column (a container or pod name, a
    /// number); the cost of training grows with the class count.
    pub max_classes: usize,
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
    /// Rows of pods at most this old are young (default
    /// [`DEFAULT_YOUNG_HORIZON`]): the bundle's [`AgeCoverage`] and the
    /// warning for classes without young rows use it.
    pub young_horizon: Duration,
    /// How to fit the open-set model stored in the bundle (on all training
    /// containers); `None` stores none, and the watcher then decides from
    /// the classifier alone.
    pub open_set: Option<NoveltyParams>,
    /// Fit the confidence map stored in the bundle, on out-of-fold
    /// predictions of held-out containers (grouped k-fold: the evaluation's
    /// folds and seed when it is grouped k-fold, else 5 folds and `seed`).
    pub calibrate_confidence: bool,
}

/// Default of [`TrainConfig::max_classes`].
pub const DEFAULT_MAX_CLASSES: usize = 100;

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            algorithm: Algorithm::by_name("tree").unwrap_or(Algorithm::Tree(Default::default())),
            method: Some(Method::GroupedKFold { k: 5, seed: 42 }),
            max_classes: DEFAULT_MAX_CLASSES,
            curve_points: 12,
            curve_max_rows: None,
            curve_test_ratio: 0.3,
            seed: 42,
            trained_on: String::new(),
            young_horizon: DEFAULT_YOUNG_HORIZON,
            open_set: Some(NoveltyParams::default()),
            calibrate_confidence: true,
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
    /// Why there is no evaluation, if there is none (none was asked for).
    pub evaluation_skipped: Option<String>,
    /// Accuracy on held-out containers as the training set grows.
    pub curve: Vec<CurvePoint>,
    /// Why the learning curve is missing, if it was asked for and could not be drawn.
    pub curve_skipped: Option<String>,
    /// Warnings about the training data that the evaluation cannot show
    /// (a class without young rows); also in the report's warnings.
    pub warnings: Vec<String>,
    /// The calibration of the confidence (cross-fitted ECE, reliability
    /// diagrams, the map stored in the bundle), if it was fitted.
    pub calibration: Option<CalibrationReport>,
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// Fitting the final model failed.
    #[error("fitting the model failed")]
    Fit(#[from] FitError),
    /// The fitted model did not fit its own class list or feature set.
    #[error("the fitted model is inconsistent")]
    Bundle(#[from] crate::bundle::BundleError),
    /// More classes than [`TrainConfig::max_classes`].
    #[error(
        "the data has {classes} classes, more than the limit of {limit}: is the class column really the class \
         (not a container or pod name)? Raise the limit if it is"
    )]
    TooManyClasses {
        /// Classes in the data set.
        classes: usize,
        /// The limit.
        limit: usize,
    },
    /// Rows of fewer than two classes: nothing to tell apart.
    #[error(
        "the data has rows of {} ({rows} row(s)): a model needs rows of at least two classes to tell anything apart",
        match .class { Some(c) => format!("only one class, {c}"), None => "no class".to_string() }
    )]
    OneClass {
        /// The one class with rows, if any.
        class: Option<String>,
        /// Rows in the data set.
        rows: usize,
    },
    /// The evaluation asked for could not be made.
    #[error("evaluation ({method}) not possible")]
    Evaluation {
        /// The method, as text.
        method: String,
        /// Why.
        #[source]
        source: EvalError,
    },
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
    /// Fitting the final model on all rows (after the calibration, if any).
    Fitting,
    /// Calibrating: the confidence map and the open-set model.
    Calibrating,
}

/// Checks `data` against the limits of `config`: class count, at least two
/// classes with rows. Cheap; call it before collecting more or training.
pub fn check_classes(data: &Dataset, config: &TrainConfig) -> Result<(), TrainError> {
    let classes = data.classes().len();
    if classes > config.max_classes {
        return Err(TrainError::TooManyClasses {
            classes,
            limit: config.max_classes,
        });
    }
    let mut seen = vec![false; classes];
    for &l in data.labels() {
        if let Some(s) = seen.get_mut(l as usize) {
            *s = true;
        }
    }
    if seen.iter().filter(|&&s| s).count() < 2 {
        return Err(TrainError::OneClass {
            class: seen.iter().position(|&s| s).map(|c| data.classes()[c].clone()),
            rows: data.n_rows(),
        });
    }
    Ok(())
}

/// Grouped k-fold with more folds than the data has containers becomes
/// leave-one-container-out (k = the containers), with a note saying so.
fn fit_folds(method: Method, data: &Dataset) -> (Method, Option<String>) {
    if let Method::GroupedKFold { k, seed } = method {
        let groups = crate::split::groups_with_rows(data).len();
        if groups >= 2 && groups < k {
            let note = format!(
                "{k} folds were asked for but the data has only {groups} containers: \
                 leave-one-container-out ({groups} folds) instead"
            );
            return (Method::GroupedKFold { k: groups, seed }, Some(note));
        }
    }
    (method, None)
}

/// Evaluates `algorithm` on `data`, draws the learning curve, then fits the
/// final model on every row.
///
/// Fails on data it cannot learn from ([`check_classes`]) and when the
/// evaluation asked for cannot be made (too few containers). A learning
/// curve that cannot be drawn is skipped with the reason
/// ([`Trained::curve_skipped`]).
///
/// `now` is the training time the bundle records (`clock.now()`); training
/// never waits, so it takes the time rather than a clock. `progress` is `()`
/// or `&mut |step| …` (see [`Progress`](super::Progress)).
///
/// # Example
///
/// Two classes of made-up rows (in a program the data set comes from
/// [`collect_dataset`](super::collect_dataset)):
///
/// ```
/// use cad_core::engine::{TrainConfig, train};
/// use cad_core::{Dataset, FeatureSet, Timestamp};
///
/// let features = FeatureSet::behaviour();
/// let classes = vec!["nginx".to_string(), "mysql".to_string()];
/// let mut data = Dataset::new(features.column_names(), classes);
/// let width = features.columns.len();
/// for container in 0..6 {
///     let class = ["nginx", "mysql"][container % 2];
///     for i in 0..10 {
///         let cpu = if class == "nginx" { 2e6 } else { 9e7 } + i as f64 * 1e4;
///         let row: Vec<Option<f64>> = (0..width).map(|_| Some(cpu)).collect();
///         data.push(&row, class, &format!("shop/pod-{container}/app")).unwrap();
///     }
/// }
/// let config = TrainConfig { curve_points: 0, ..TrainConfig::default() };
/// let trained = train(&data, &features, &config, Timestamp::from_secs(1_700_000_000), ()).unwrap();
/// assert_eq!(trained.bundle.classes, ["nginx", "mysql"]);
/// assert!(trained.report.is_some()); // grouped 5-fold by default
/// ```
pub fn train(
    data: &Dataset,
    features: &FeatureSet,
    config: &TrainConfig,
    now: Timestamp,
    mut progress: impl super::Progress<TrainStep>,
) -> Result<Trained, TrainError> {
    if data.feature_names() != features.column_names().as_slice() {
        return Err(TrainError::Columns {
            set: features.name.clone(),
            expected: features.column_names(),
            data: data.feature_names().to_vec(),
        });
    }
    check_classes(data, config)?;
    // A caller that put its data in canonical order (as the programs do)
    // saves the copy, and with it the data set's size in peak memory.
    let copy;
    let data = if data.is_canonical() {
        data
    } else {
        copy = data.canonical();
        &copy
    };
    let ages = AgeCoverage::of(data, config.young_horizon);
    let warnings = ages.as_ref().map(AgeCoverage::warnings).unwrap_or_default();
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let (report, evaluation_skipped) = match config.method {
        None => (None, Some("no evaluation was asked for".to_string())),
        Some(method) => {
            progress.update(TrainStep::Evaluating);
            let (method, note) = fit_folds(method, data);
            let mut report =
                eval::evaluate(&config.algorithm, data, method).map_err(|source| TrainError::Evaluation {
                    method: method.to_string(),
                    source,
                })?;
            if let Some(note) = note {
                tracing::warn!("{note}");
                report.warnings.insert(0, note);
            }
            for (i, w) in warnings.iter().enumerate() {
                report.warnings.insert(i, w.clone());
            }
            (Some(report), None)
        }
    };
    let mut curve = Vec::new();
    let mut curve_skipped = None;
    if config.curve_points > 0 {
        progress.update(TrainStep::LearningCurve);
        let sizes = match config.curve_max_rows {
            Some(max) => CurveSizes::Exact(eval::spaced_sizes(max, config.curve_points)),
            None => CurveSizes::About(config.curve_points),
        };
        match eval::learning_curve(&config.algorithm, data, &sizes, config.curve_test_ratio, config.seed) {
            Ok(c) => curve = c,
            Err(e) => {
                tracing::warn!(error = %e, "learning curve skipped");
                curve_skipped = Some(format!("learning curve not possible: {e}"));
            }
        }
    }
    // The calibration first, the final model after it: the calibration's
    // fold models and held-out scores then never sit beside the final
    // model in memory (6.5 MB for the default forest on 100,000 rows of
    // noisy data; BENCHMARKS.md, issue 20). Every fit is a function of its
    // rows and seed, so the order changes nothing in the bundle.
    let mut warnings = warnings;
    let before = warnings.len();
    let fitted = calibrate(data, config, features.window_gap(), &mut warnings, &mut progress);
    progress.update(TrainStep::Fitting);
    let model = config.algorithm.fit(data)?;
    let mut bundle = ModelBundle::new(
        data.classes().to_vec(),
        features.clone(),
        model,
        now,
        config.trained_on.clone(),
    );
    bundle.ages = ages;
    let calibration = fitted.and_then(|(report, confidence, open_set)| {
        bundle.confidence = confidence;
        bundle.open_set = open_set;
        report
    });
    let mut report = report;
    if let Some(r) = &mut report {
        r.warnings.extend(warnings[before..].iter().cloned());
    }
    bundle.evaluation = report.as_ref().map(Report::summary);
    bundle.check()?;
    Ok(Trained {
        bundle,
        report,
        evaluation_skipped,
        curve,
        curve_skipped,
        warnings,
        calibration,
    })
}

/// How [`windows_warning`] begins. The watcher says it itself when it
/// loads the model, for its own `--confirm-windows`, so it leaves this
/// warning out when it repeats the training's
/// ([`log_training_warnings`](super::watcher::log_training_warnings)).
pub(crate) const WINDOWS_WARNING: &str = "the open-set calibration judges at most";

/// What marks the training's warning of classes whose claims the watcher
/// will not judge (fewer than
/// [`MIN_CONTAINERS_TO_JUDGE`](crate::openset::MIN_CONTAINERS_TO_JUDGE)
/// training containers) among [`ModelBundle::training_warnings`]. The
/// watcher says it itself when it loads the model (also for bundles trained
/// before the training warned of it), so it leaves this warning out when it
/// repeats the training's
/// ([`log_training_warnings`](super::watcher::log_training_warnings)).
pub const UNJUDGED_WARNING: &str = "whose claims the watcher will not judge";

/// The warning for an open-set model that cannot judge the watcher's
/// `confirm` windows together (`None` when it can): its training containers
/// had too few consecutive rows for that many windows — with young rows
/// only, scraped every 30 s, 7 rows a container, too few for 3 windows of 4
/// snapshots. The watcher warns again when it loads such a model
/// ([`ActiveModel::log_windows`](super::watcher::ActiveModel::log_windows));
/// saying it here tells the operator before the model is published.
fn windows_warning(open_set: &OpenSetModel, confirm: usize) -> Option<String> {
    if open_set.judges_windows(confirm) {
        return None;
    }
    let most = open_set.most_windows_judged(confirm);
    Some(format!(
        "{WINDOWS_WARNING} {most} window(s) together, not the watcher's default \
         {confirm}: the training containers had too few consecutive rows (pods younger than the young horizon \
         scraped slowly, or short histories); with --confirm-windows {confirm} the watcher flags a container \
         only if each window is anomalous alone, which lets more impostors and unknown services through; \
         train on pods that have run longer, or run the watcher with --confirm-windows {most}"
    ))
}

/// The warning for classes with fewer than
/// [`MIN_CONTAINERS_PER_CLASS`](crate::openset::MIN_CONTAINERS_PER_CLASS)
/// training containers (`None` when every class with rows has as many): the
/// held-out containers of the calibration then cover few of a class's
/// workloads, and at the false-anomaly rate more impostors and services
/// outside the class list pass. It names apart the judged classes with fewer
/// than [`MIN_CONTAINERS_FOR_RATE`](crate::openset::MIN_CONTAINERS_FOR_RATE),
/// whose honest pods are flagged several times more often than the rate.
/// Classes without rows are warned of by the evaluation, classes whose
/// claims are not judged by [`unjudged_warning`]. The replicas of one
/// ReplicaSet count once, and a class whose containers are all replicas of
/// one set is named as such (its calibration is made of twins).
fn few_containers_warning(data: &Dataset) -> Option<String> {
    use crate::openset::{MIN_CONTAINERS_FOR_RATE, MIN_CONTAINERS_PER_CLASS, MIN_CONTAINERS_TO_JUDGE};
    // Replicas of one ReplicaSet are near twins: counted once, as the
    // calibration's folds deal them.
    let counts = crate::split::fold_units_per_class(data);
    let containers = eval::groups_per_class(data);
    // A class whose containers are all one set is split by container (see
    // `split`): counted so, but its calibration is made of twins.
    let one_set = crate::split::classes_of_one_replica_set(data);
    let named = |range: std::ops::Range<usize>| -> Vec<String> {
        counts
            .iter()
            .zip(&containers)
            .zip(data.classes())
            .enumerate()
            .filter(|(_, ((g, _), _))| range.contains(*g))
            .map(|(c, ((g, all), name))| {
                if all > g {
                    format!("{name} {g} ({all} containers, the replicas of a ReplicaSet counted once)")
                } else if one_set.get(c).copied().unwrap_or(false) {
                    format!("{name} {g} (all replicas of one ReplicaSet: near twins)")
                } else {
                    format!("{name} {g}")
                }
            })
            .collect()
    };
    let few = named(1..MIN_CONTAINERS_PER_CLASS);
    let below_rate = named(MIN_CONTAINERS_TO_JUDGE.max(1)..MIN_CONTAINERS_FOR_RATE);
    let rate = if below_rate.is_empty() {
        String::new()
    } else {
        format!(
            ", and claims of {} (fewer than {MIN_CONTAINERS_FOR_RATE} a class) flag several times more honest pods \
             than the rate says",
            below_rate.join(", ")
        )
    };
    (!few.is_empty()).then(|| {
        format!(
            "few training containers for the open-set calibration: {} (fewer than {MIN_CONTAINERS_PER_CLASS} a \
             class); at the false-anomaly rate more impostors and services outside the class list pass{rate} \
             (README, \"How many training containers\"); train on more pods of each class",
            few.join(", ")
        )
    })
}

/// The warning for classes whose claims the watcher will not judge (`None`
/// when there are none): fewer than
/// [`MIN_CONTAINERS_TO_JUDGE`](crate::openset::MIN_CONTAINERS_TO_JUDGE)
/// training containers of the class in the open-set model
/// ([`SkipReason::TooFewContainers`](crate::verdict::SkipReason::TooFewContainers)).
fn unjudged_warning(open_set: &OpenSetModel) -> Option<String> {
    let min = crate::openset::MIN_CONTAINERS_TO_JUDGE;
    let few: Vec<String> = open_set
        .unjudged_classes()
        .iter()
        .map(|(class, n)| format!("{class} {n}"))
        .collect();
    (!few.is_empty()).then(|| {
        format!(
            "classes with fewer than {min} training containers, {UNJUDGED_WARNING}: {} (the \
             calibration holds containers of a class out to learn how its honest ones vary); containers claiming them \
             end as skipped (too_few_containers); train on more pods of each class",
            few.join(", ")
        )
    })
}

/// What [`calibrate`] fits: the calibration report, the confidence map and
/// the open-set model (each `None` when not asked for or not possible).
type Calibrated = (Option<CalibrationReport>, Option<ConfidenceMap>, Option<OpenSetModel>);

/// Fits the confidence map and the open-set model `config` asks for (`None`
/// when it asks for neither). Data they cannot be fitted on (fewer than two
/// containers) is not an error: the bundle goes without, with a warning.
fn calibrate(
    data: &Dataset,
    config: &TrainConfig,
    window_gap: usize,
    warnings: &mut Vec<String>,
    progress: &mut impl super::Progress<TrainStep>,
) -> Option<Calibrated> {
    if !config.calibrate_confidence && config.open_set.is_none() {
        return None;
    }
    progress.update(TrainStep::Calibrating);
    let mut warn = |w: String| {
        tracing::warn!("{w}");
        warnings.push(w);
    };
    let calibration = if config.calibrate_confidence {
        let (k, seed) = match config.method {
            Some(Method::GroupedKFold { k, seed }) => (k, seed),
            _ => (5, config.seed),
        };
        // A tree's confidence is its leaf's class share, 1.0 for nearly
        // every row: the open-set forest's probability of the predicted
        // class is calibrated instead, when the bundle carries that forest.
        // A forest's own vote share is kept (docs/method.md, "The
        // confidence shown").
        let forest = config
            .open_set
            .as_ref()
            .filter(|o| o.score != crate::openset::Score::Novelty && !matches!(config.algorithm, Algorithm::Forest(_)))
            .map(|o| &o.forest);
        match confidence::cross_fit_with(&config.algorithm, forest, data, k, seed) {
            Ok(c) => Some(c),
            Err(e) => {
                warn(format!(
                    "no calibrated confidence: {}; verdicts show the classifier's raw confidence",
                    crate::ErrorChain(&e)
                ));
                None
            }
        }
    } else {
        None
    };
    let mut confidence = calibration.as_ref().map(|c| c.map.clone());
    tracing::debug!(fitted = calibration.is_some(), "confidence calibration done");
    let mut open_set: Option<OpenSetModel> = None;
    if let Some(params) = &config.open_set {
        // The watcher's consecutive windows are this many rows apart: the
        // multi-window calibration takes held-out windows at that spacing.
        let params = NoveltyParams {
            window_gap,
            ..params.clone()
        };
        match params.fit(data) {
            Ok(o) => open_set = Some(o),
            Err(e) => warn(format!(
                "no open-set model: {}; the watcher decides from the classifier alone",
                crate::ErrorChain(&e)
            )),
        }
    }
    if let Some(w) = open_set
        .as_ref()
        .and_then(|o| windows_warning(o, super::DEFAULT_CONFIRM_WINDOWS))
    {
        warn(w);
    }
    if let Some(w) = open_set.as_ref().and_then(|_| few_containers_warning(data)) {
        warn(w);
    }
    if let Some(w) = open_set.as_ref().and_then(unjudged_warning) {
        warn(w);
    }
    if confidence
        .as_ref()
        .is_some_and(|m| m.source() == ConfidenceSource::OpenSetForest)
        && !open_set.as_ref().is_some_and(OpenSetModel::has_forest)
    {
        warn("no calibrated confidence: it comes from the open-set forest, which could not be fitted".into());
        confidence = None;
    }
    Some((calibration, confidence, open_set))
}
