//! Verdicts that know what they don't know: per-class novelty, conformal
//! p-values, the prediction set at a false-anomaly rate, the verdict's kind,
//! and calibrated confidence.
//!
//! A classifier trained on known classes extrapolates: a service it has never
//! seen lands in some leaf and gets a known class, often at confidence 1.00.
//! Telling "behaves like no known class" needs a measure of *typicality* per
//! class. Here:
//!
//! 1. **Space** ([`space`]): every feature on a log scale, standardised by its
//!    median and interquartile range.
//! 2. **Novelty score** ([`mod@reference`]): for class `y`, the mean distance of
//!    the row to the `k` nearest training *containers* of `y` (distance to a
//!    container = to its nearest stored row). The reference is bounded
//!    ([`NoveltyParams::max_rows_per_class`]) and quantised.
//! 3. **Calibration** ([`conformal`]): grouped k-fold over containers; each
//!    held-out container's rows are scored against its own class's reference
//!    built without it. The scores give a Mondrian conformal p-value per
//!    class, each container weighing 1.
//! 4. **Decision** ([`judge`]): the prediction set `Γ = {y : p_y > α}` at the
//!    false-anomaly rate α; the claimed class decides the [`Kind`]. For a
//!    container without a claim, the default [`UnknownTest`] also tests the
//!    class-scaled novelty: "like no known class" when either test keeps no
//!    class, each at α / 2 ([`judge_with`]).
//!
//! [`Score`] chooses the nonconformity score: the novelty score above (the
//! default), or `1 − p̂_y(x)` of a random forest calibrated the same way on
//! held-out containers, or both (Bonferroni). docs/measurements.md ("Open
//! set and calibration") compares them on recordings of real servers.
//!
//! [`confidence`] calibrates the classifier's own confidence (a map fitted on
//! out-of-fold predictions of held-out containers) and measures the expected
//! calibration error; [`evaluate`] runs the leave-one-class-out evaluation.
//!
//! Types follow linfa's style: [`NoveltyParams`] fits an [`OpenSetModel`].

pub mod confidence;
pub mod conformal;
pub mod decision;
pub mod evaluate;
pub mod reference;
pub mod space;

use crate::classifier::{Classifier, Fit};
use crate::dataset::Dataset;
use crate::forest::{ForestParams, RandomForest};
use crate::split;
use conformal::{ClassCalibration, MAX_CALIBRATED_WINDOWS, MAX_POINTS, Tail, WindowCalibration, WindowStatistic};
use reference::{ClassReference, Metric};
use serde::{Deserialize, Serialize};
use space::RobustSpace;
use std::fmt;

/// The default false-anomaly rate α: the share of honest containers the
/// operator accepts to see flagged.
pub const DEFAULT_FALSE_ANOMALY_RATE: f64 = 0.01;

/// The default rate for containers that claim no class: the share of
/// containers of a known class, claiming none, that the operator accepts
/// to see judged "like no known class". A container's class comes from a
/// pod label, its container name or image, or the pod name, so on a real
/// cluster a container that claims none is seldom one of the classes, and
/// calling one "unknown" accuses no honest claim: the bar for "recognised
/// as a class" is set higher than for "behaves as claimed".
pub const DEFAULT_UNCLAIMED_FALSE_UNKNOWN_RATE: f64 = 0.05;

/// The fewest training containers per class below which training warns
/// that the open-set calibration is coarse. Measured with `cad demo --sweep
/// 100` (α = 0.01, README "How many training containers"): about 10
/// containers a class (`--sim-pods 60`) flag 94.2 % of impostors and 77 % of
/// services outside the class list, about 20 (`--sim-pods 120`) 98.6 % and
/// 90 %, at fewer honest pods flagged; with 4–7 a class (`--sim-pods 30`)
/// 3.4 % of honest pods are flagged at α = 0.01.
pub const MIN_CONTAINERS_PER_CLASS: usize = 20;

/// The fewest training containers of a class whose claims the watcher
/// judges ([`ActiveModel::judges_claims_of`](crate::engine::ActiveModel::judges_claims_of)).
/// The calibration learns how far an honest container lies from its class
/// by holding containers out: a class with one container has none to hold
/// out (its p-values are not calibrated), and with none nothing can behave
/// like it. Measured with `cad demo --sweep 100 --sim-pods 30` (README,
/// "Watching"): of the honest pods claiming a class of one
/// training container, 31 of 72 were flagged.
pub const MIN_CONTAINERS_TO_JUDGE: usize = 2;

/// The fewest training containers of a class for which the false-anomaly
/// rate held for its claims in the measurements of docs/measurements.md ("How
/// many training containers": `cad demo --sweep 100` at `--sim-pods` 30, 40 and 60, α =
/// 0.01, whose line `honest pods and impostors flagged, by the training
/// containers of the class they claim` groups the honest pods by how many
/// training containers their claimed class had). With 2–4 containers a class 3–15 % of honest pods claiming it
/// were flagged, with 5–8 0.5–2.2 %, with 9 or more at most 1.2 %: a class
/// seen in so few containers shows few of its workloads, and a new honest
/// pod doing other work lies outside all of them. Training names such
/// classes in its warning.
pub const MIN_CONTAINERS_FOR_RATE: usize = 5;

/// Why an open-set model could not be fitted or used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenSetError {
    /// A parameter outside its range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// Too few containers to calibrate on held-out containers.
    #[error("{groups} container(s) with rows: at least 2 are needed to calibrate on held-out containers")]
    TooFewContainers {
        /// Containers with rows.
        groups: usize,
    },
    /// The data set has no feature columns.
    #[error("the data set has no features")]
    NoFeatures,
    /// A decoded model is inconsistent.
    #[error("the open-set model is inconsistent: {0}")]
    Inconsistent(String),
    /// A split could not be made.
    #[error("split")]
    Split(#[source] split::SplitError),
    /// The classifier of the score could not be fitted.
    #[error("fitting the classifier of the nonconformity score")]
    Fit(#[source] crate::classifier::FitError),
}

/// Which nonconformity score the p-values come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Score {
    /// The distance to the class's nearest training containers.
    Novelty,
    /// `1 − p̂_y(x)`: one minus a random forest's probability of the class,
    /// the forests of the calibration fitted without the held-out containers.
    Classifier,
    /// Both, Bonferroni-combined: `p_y = min(1, 2 · min(p_novelty, p_classifier))`,
    /// so a class stays in the set only if both p-values exceed α / 2 and an
    /// honest container is still flagged with probability at most α.
    Both,
    /// One score of both: the novelty score in units of the class's typical
    /// held-out score, times `1 + λ·(1 − p̂_y)` (λ = [`COMBINED_LAMBDA`]),
    /// calibrated on held-out containers of all classes together (the class
    /// scaling makes their scores comparable; pooling gives the tail of the
    /// calibration ~5× more containers than one class has). The default:
    /// see the comparison on the simulator and on recordings of real servers
    /// in docs/measurements.md ("Open set and calibration").
    #[default]
    Combined,
}

/// How "behaves like no known class" is decided (with [`Score::Combined`]).
///
/// The combined score serves impostor detection: the forest's doubt
/// `1 − p̂_y` makes a container unlike its claimed class score high. For
/// "like no known class" it can hurt: the forest must pick a known class and
/// may be sure of one for an unknown service (factor ≈ 1), while honest
/// held-out containers it is unsure of (factors 2–5) widen the pooled null.
/// The alternatives test set emptiness on the class-scaled novelty
/// `novelty_y / m_y` alone, calibrated pooled like the combined score (and
/// over several windows with the same statistic); the claimed class is
/// still tested on the combined score.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnknownTest {
    /// Unknown when no class's combined p-value exceeds α (the default
    /// before session 8, and the test of bundles of formats 2 to 6).
    Combined,
    /// Unknown when no class's novelty p-value exceeds α; the claim is
    /// tested on the combined score at α (an honest container can be
    /// flagged by either: up to 2α).
    Novelty,
    /// [`UnknownTest::Novelty`] with each test at α / 2.
    NoveltyHalf,
    /// Unknown when no class's combined p-value, or no class's novelty
    /// p-value, exceeds α (each at α: up to 2α).
    Either,
    /// [`UnknownTest::Either`] with each test at α / 2.
    EitherHalf,
    /// [`UnknownTest::Either`] at α / 2 each for a container without a
    /// claim (so honest unclaimed containers stay within α); with a claim,
    /// the combined score alone at α (as [`UnknownTest::Combined`]). The
    /// default since session 8: on the recordings of real servers and the
    /// old ARFF it finds more unknown services at the same honest rate.
    #[default]
    EitherUnclaimed,
    /// One prediction set of both tests: a class is in it when its
    /// combined p-value and its novelty p-value both exceed α (up to 2α).
    Both,
    /// [`UnknownTest::Both`] with each test at α / 2 (Bonferroni: up to α).
    BothHalf,
}

impl UnknownTest {
    /// The names [`UnknownTest::by_name`] accepts, in the order of the variants.
    pub const NAMES: [&'static str; 8] = [
        "combined",
        "novelty",
        "novelty-half",
        "either",
        "either-half",
        "either-unclaimed",
        "both",
        "both-half",
    ];

    /// The test called `name` (one of [`UnknownTest::NAMES`]).
    pub fn by_name(name: &str) -> Option<UnknownTest> {
        let i = Self::NAMES.iter().position(|n| *n == name)?;
        Some(
            [
                UnknownTest::Combined,
                UnknownTest::Novelty,
                UnknownTest::NoveltyHalf,
                UnknownTest::Either,
                UnknownTest::EitherHalf,
                UnknownTest::EitherUnclaimed,
                UnknownTest::Both,
                UnknownTest::BothHalf,
            ][i],
        )
    }
}

/// The weight λ of the classifier's doubt `1 − p̂_y` in [`Score::Combined`].
pub const COMBINED_LAMBDA: f64 = 4.0;

impl Score {
    /// The names [`Score::by_name`] accepts, in the order of the variants.
    pub const NAMES: [&'static str; 4] = ["novelty", "classifier", "both", "combined"];

    /// The score called `name` (one of [`Score::NAMES`]).
    pub fn by_name(name: &str) -> Option<Score> {
        let i = Self::NAMES.iter().position(|n| *n == name)?;
        Some([Score::Novelty, Score::Classifier, Score::Both, Score::Combined][i])
    }
}

/// How an [`OpenSetModel`] is fitted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoveltyParams {
    /// Nearest containers averaged in a score (1 to 100).
    pub k: usize,
    /// Rows kept per training container in the reference (evenly spaced).
    pub max_rows_per_container: usize,
    /// Rows kept per class in the reference (spread over its containers).
    pub max_rows_per_class: usize,
    /// Rows of a held-out container scored for calibration (evenly spaced).
    pub max_calibration_rows: usize,
    /// Features two rows must both have to be compared (at least 1; capped
    /// at the feature count). A row with fewer present features is undecided.
    pub min_features: usize,
    /// Folds of the grouped calibration (at least 2; capped at the containers).
    pub folds: usize,
    /// How rows are compared.
    pub metric: Metric,
    /// p-values beyond the largest calibration score.
    pub tail: Tail,
    /// Seed of the calibration folds.
    pub seed: u64,
    /// Which nonconformity score decides.
    pub score: Score,
    /// The forest of the classifier score (unused with [`Score::Novelty`]).
    pub forest: ForestParams,
    /// Weigh each feature by how far apart the known classes are on it
    /// relative to their spread ([`reference::feature_weights`]); else every
    /// feature counts the same.
    pub weigh_features: bool,
    /// Rows between two consecutive windows the watcher judges of one
    /// container (the feature set's window over its stride, rounded up:
    /// the next window shares no snapshot with the previous one). The
    /// multi-window calibration ([`WindowCalibration`], [`Score::Combined`]
    /// only) takes held-out containers' windows this far apart.
    pub window_gap: usize,
    /// How the scores of consecutive windows are summarised.
    pub window_statistic: WindowStatistic,
    /// How "behaves like no known class" is decided ([`Score::Combined`] only).
    #[serde(default)]
    pub unknown_test: UnknownTest,
}

/// The leaf limit of each tree of the open-set forest ([`NoveltyParams::forest`]).
pub const OPEN_SET_MAX_LEAVES: usize = 64;

impl Default for NoveltyParams {
    fn default() -> Self {
        NoveltyParams {
            k: 3,
            max_rows_per_container: 16,
            max_rows_per_class: 256,
            max_calibration_rows: 32,
            min_features: 3,
            folds: 5,
            metric: Metric::Rms,
            tail: Tail::Power,
            seed: 42,
            score: Score::default(),
            // Only its class probabilities are used, and it rides in the
            // bundle beside the classifier: at most 64 leaves a tree keep a
            // default forest's bundle for 100,000 noisy rows under the
            // 774,144 bytes `publish` accepts (768,113 bytes with the
            // default test of "like no known class", 763,895 without; with
            // the test before it 750,282 at 64 leaves, 1,051,458 with
            // 1,024, 776,464 with 128; BENCHMARKS.md).
            forest: ForestParams {
                n_trees: 50,
                seed: 42,
                tree: crate::tree::TreeParams {
                    max_leaf_nodes: Some(OPEN_SET_MAX_LEAVES),
                    ..crate::tree::TreeParams::default()
                },
                ..ForestParams::default()
            },
            weigh_features: false,
            window_gap: 1,
            window_statistic: WindowStatistic::default(),
            unknown_test: UnknownTest::default(),
        }
    }
}

impl NoveltyParams {
    fn check(&self) -> Result<(), OpenSetError> {
        let bad = |m: &str| Err(OpenSetError::InvalidParameter(m.to_string()));
        if !(1..=100).contains(&self.k) {
            return bad("k must be from 1 to 100");
        }
        if self.max_rows_per_container == 0 || self.max_rows_per_class == 0 || self.max_calibration_rows == 0 {
            return bad("row limits must be at least 1");
        }
        if self.max_rows_per_class > 100_000 {
            return bad("max_rows_per_class must be at most 100000");
        }
        if self.min_features == 0 {
            return bad("min_features must be at least 1");
        }
        if self.folds < 2 {
            return bad("folds must be at least 2");
        }
        if !self.metric.is_valid() {
            return bad("a trimmed metric drops at most 4 features (reference::MAX_TRIMMED)");
        }
        if !(1..=1000).contains(&self.window_gap) {
            return bad("window_gap must be from 1 to 1000");
        }
        Ok(())
    }
}

/// Rows per container used to measure a class's spread.
const SPREAD_ROWS_PER_CONTAINER: usize = 64;

/// `n` indices evenly spread over `0..len` (all of them if `len <= n`).
pub(crate) fn evenly(len: usize, n: usize) -> impl Iterator<Item = usize> {
    let take = len.min(n);
    (0..take).map(move |i| if take <= 1 { 0 } else { i * (len - 1) / (take - 1) })
}

/// A fitted open-set model: the space, each class's reference and calibration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenSetModel {
    classes: Vec<String>,
    space: RobustSpace,
    references: Vec<ClassReference>,
    /// Per class; `None` where the class had too few containers to calibrate
    /// (then `pooled` is used).
    calibrations: Vec<Option<ClassCalibration>>,
    /// All classes' calibration scores together.
    pooled: Option<ClassCalibration>,
    /// Neighbours averaged per class (see [`NoveltyParams::fit`]).
    k: Vec<usize>,
    min_features: usize,
    metric: Metric,
    tail: Tail,
    score: Score,
    /// The classifier score's forest and calibration (not with [`Score::Novelty`]).
    forest: Option<ForestScore>,
    /// [`Score::Combined`]: each class's typical held-out novelty score (the
    /// weighted median) and the pooled calibration of the combined score.
    #[serde(default)]
    combined: Option<CombinedScore>,
    /// [`Score::Combined`] over several consecutive windows. Stored apart in
    /// the bundle (format 5), so that format 4's open-set model still reads.
    #[serde(skip)]
    windows: Option<WindowCalibration>,
    /// The novelty test of "like no known class" ([`UnknownTest`], the
    /// default). Stored apart in the bundle (format 7).
    #[serde(skip)]
    novelty_null: Option<NoveltyNull>,
}

/// The pooled calibration of the class-scaled novelty `novelty_y / m_y`
/// (the combined score's scale `m_y`), for [`UnknownTest`]s other than
/// [`UnknownTest::Combined`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoveltyNull {
    /// Which test decides.
    pub test: UnknownTest,
    /// The class-scaled novelty of held-out containers' rows.
    single: ClassCalibration,
    /// Its statistic over several windows.
    windows: WindowCalibration,
}

/// Points kept in a [`NoveltyNull`]'s calibrations: it rides in the bundle
/// beside the combined score's, and a rate α ≥ 0.0001 needs no finer steps
/// below the largest score (the tail extends beyond it).
pub const NOVELTY_NULL_POINTS: usize = 64;

impl NoveltyNull {
    /// Whether the numbers are usable (checked after decoding).
    pub(crate) fn is_valid(&self) -> bool {
        self.test != UnknownTest::Combined && self.single.is_valid() && self.windows.is_valid()
    }
}

/// The part of an [`OpenSetModel`] for [`Score::Combined`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct CombinedScore {
    /// Per class: the [`CLASS_SCALE_QUANTILE`] of its held-out novelty scores.
    scale: Vec<f64>,
    /// The combined scores of held-out containers of every class.
    calibration: ClassCalibration,
}

/// A row scored once by an [`OpenSetModel`] ([`OpenSetModel::score_row`]),
/// for everything read from it without scoring it again: its judgement
/// ([`OpenSetModel::judge_scored`]), its window scores
/// ([`OpenSetModel::window_scores_of_row`]) and the open-set forest's class
/// probabilities ([`RowScores::class_probability`]).
#[derive(Clone, Debug, PartialEq)]
pub struct RowScores {
    /// The novelty score against each class ([`OpenSetModel::scores`];
    /// `None`: too few usable features).
    novelty: Option<Vec<Option<f64>>>,
    /// The forest's class probabilities (`None` without a forest, or when
    /// not needed).
    proba: Option<Vec<f64>>,
}

impl RowScores {
    /// The probability the open-set forest gives class `class` — what
    /// [`OpenSetModel::class_probability`] says of the row (`None` without a
    /// forest).
    pub fn class_probability(&self, class: usize) -> Option<f64> {
        self.proba.as_ref()?.get(class).copied()
    }
}

/// The weighted median of `(value, weight)` points (`None` when empty).
fn weighted_median(v: Vec<(f64, f64)>) -> Option<f64> {
    weighted_quantile(v, 0.5)
}

/// The weighted `q`-quantile of `(value, weight)` points (`None` when empty).
fn weighted_quantile(mut v: Vec<(f64, f64)>, q: f64) -> Option<f64> {
    v.retain(|p| p.0.is_finite() && p.1 > 0.0);
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = v.iter().map(|p| p.1).sum();
    let mut acc = 0.0;
    for (s, w) in &v {
        acc += w;
        if acc >= total * q {
            return Some(*s);
        }
    }
    v.last().map(|p| p.0)
}

/// A training container whose held-out combined scores have a median this
/// many robust standard deviations (of the log-scores of all held-out rows)
/// above their median is taken for mislabelled: it behaves like another
/// class or like none (an impostor or an unknown service among the training
/// pods, whose labels come from names). It is left out of the calibration
/// and of the references: it says nothing about how honest containers vary.
pub const MISLABELLED_SIGMAS: f64 = 3.0;

/// Which quantile of a class's held-out novelty scores is its scale in the
/// combined score. The 95th percentile, not the median: a class whose held-out
/// containers spread widely (nginx's, apache's) is no longer judged on the
/// same yardstick as a tight one. Measured against the median (issue 17):
/// recordings of real servers, impostors 23 → 30 of 36 and unknowns named
/// like a class 17 → 23 of 48 flagged, honest 0 of 12 either way; the old
/// ARFF data, unknown recall 35.0 → 50.4 %, impostors 83.3 → 95.1 %, honest
/// containers flagged 5.9 → 11.8 % (one container more of 17).
pub const CLASS_SCALE_QUANTILE: f64 = 0.95;

/// The smallest class scale of the combined score: a class whose held-out
/// containers all score ~0 must not turn every small distance into a huge one.
const MIN_SCALE: f64 = 0.05;

/// The combined score of novelty `s` (class scale `scale`) and probability `p`.
fn combined(s: f64, scale: f64, p: f64) -> f64 {
    s / scale.max(MIN_SCALE) * (1.0 + COMBINED_LAMBDA * (1.0 - p.clamp(0.0, 1.0)))
}

/// The classifier score's part of an [`OpenSetModel`]: the forest fitted on
/// all rows and the calibration of `1 − p̂_y` on held-out containers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ForestScore {
    forest: RandomForest,
    calibrations: Vec<Option<ClassCalibration>>,
    pooled: Option<ClassCalibration>,
}

/// Each class's calibration from `(class, score, weight)` points (a class
/// with less than two containers' weight gets `None`), and the pooled one;
/// one tail scale for all.
fn calibrate(
    n_classes: usize,
    points: &[(usize, f64, f64)],
) -> (Vec<Option<ClassCalibration>>, Option<ClassCalibration>) {
    let per_class: Vec<Vec<(f64, f64)>> = (0..n_classes)
        .map(|c| points.iter().filter(|p| p.0 == c).map(|p| (p.1, p.2)).collect())
        .collect();
    let beta = conformal::pooled_beta(&per_class);
    let pooled = ClassCalibration::new(points.iter().map(|p| (p.1, p.2)).collect()).map(|c| c.with_beta(beta));
    let calibrations = per_class
        .into_iter()
        .map(|pts| {
            // A class needs two calibration containers to say anything
            // about its spread; with fewer the pooled calibration is used.
            let weight: f64 = pts.iter().map(|p| p.1).sum();
            if weight >= 2.0 - 1e-9 {
                ClassCalibration::new(pts).map(|c| c.with_beta(beta))
            } else {
                None
            }
        })
        .collect();
    (calibrations, pooled)
}

/// A held-out row's scores against every class, from the calibration folds.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoredRow {
    /// The row's index in the data set (its age: [`Dataset::age`]).
    pub row: usize,
    /// The row's group (container) index in the data set.
    pub group: usize,
    /// Its class index.
    pub class: usize,
    /// Its weight: 1 / (rows scored of its container).
    pub weight: f64,
    /// Its score against each class (`None`: no comparable reference).
    pub scores: Vec<Option<f64>>,
}

impl NoveltyParams {
    /// Fits the model on `data`: the space and references on all rows, the
    /// calibration on held-out containers (grouped k-fold).
    pub fn fit(&self, data: &Dataset) -> Result<OpenSetModel, OpenSetError> {
        Ok(self.fit_keeping(data, false)?.0)
    }

    /// Like [`NoveltyParams::fit`], also returning the held-out scores the
    /// calibration was made of (each held-out row against every class).
    pub fn fit_with_scores(&self, data: &Dataset) -> Result<(OpenSetModel, Vec<ScoredRow>), OpenSetError> {
        self.fit_keeping(data, true)
    }

    /// The fit, with the held-out scores when `keep_scored` (else the
    /// returned list is empty: [`NoveltyParams::fit`] does not hold a row's
    /// scores against every class for every held-out row).
    fn fit_keeping(&self, data: &Dataset, keep_scored: bool) -> Result<(OpenSetModel, Vec<ScoredRow>), OpenSetError> {
        self.check()?;
        if data.n_features() == 0 {
            return Err(OpenSetError::NoFeatures);
        }
        let groups = split::groups_with_rows(data);
        if groups.len() < 2 {
            return Err(OpenSetError::TooFewContainers { groups: groups.len() });
        }
        let all: Vec<usize> = (0..groups.len()).collect();
        // The space and each class's spread come from all rows, and the
        // calibration folds use them too: a fold's reference holds fewer
        // containers, but scores in the same units as the final model's.
        // (Measuring the spread without the held-out containers made the
        // calibration scores of classes with few containers several times
        // larger than a new honest container's: nothing was ever flagged.)
        let all_rows: Vec<usize> = (0..data.n_rows()).collect();
        let space = RobustSpace::fit(data, &all_rows);
        drop(all_rows);
        let (spreads, medians) = self.class_spreads(data, &groups, &space);
        let weights = self
            .weigh_features
            .then(|| reference::feature_weights(&medians, &spreads, data.n_features()));
        let spreads: Vec<(Vec<f64>, Option<Vec<f64>>)> = spreads.into_iter().map(|s| (s, weights.clone())).collect();
        let mut references = self.references(data, &groups, &all, &space, &spreads);
        // One fold's row lists at a time (see `split::GroupedFolds`).
        let folds = split::GroupedFolds::new(data, self.folds.min(split::fold_units(data)), self.seed)
            .map_err(OpenSetError::Split)?;
        let group_pos: std::collections::HashMap<usize, usize> =
            groups.iter().enumerate().map(|(i, g)| (g.group, i)).collect();
        let n_classes = data.classes().len();
        let min_features = self.min_features.min(data.n_features());
        let mut scored = Vec::new();
        // Each scored row's score against its own class (what the novelty
        // calibration is made of), in the order of `scored`.
        let mut own: Vec<(usize, f64, f64)> = Vec::new();
        let fold_groups: Vec<(Vec<usize>, Vec<usize>)> = (0..folds.len())
            .map(|f| {
                // The groups of `rows`, a run of rows of one group once
                // (collected without a vector as long as `rows`).
                let of = |rows: &[usize]| {
                    let mut g: Vec<usize> = Vec::new();
                    for &r in rows {
                        let p = group_pos[&data.group(r)];
                        if g.last() != Some(&p) {
                            g.push(p);
                        }
                    }
                    g
                };
                (of(&folds.train(f)), of(&folds.test(f)))
            })
            .collect();
        // Each class is scored with as many neighbours as its calibration
        // could use: the fewest containers of it any fold trained on while
        // holding some of it out. Scoring a new container against more
        // neighbours than the calibration did would make honest scores
        // larger than the calibrated ones.
        let mut k_class: Vec<usize> = vec![self.k; n_classes];
        for (train_groups, test_groups) in &fold_groups {
            for (c, k) in k_class.iter_mut().enumerate() {
                let trained = train_groups.iter().filter(|&&g| groups[g].class == c).count();
                if trained > 0 && test_groups.iter().any(|&g| groups[g].class == c) {
                    *k = (*k).min(trained);
                }
            }
        }
        let use_forest = self.score != Score::Novelty;
        let mut forest_points: Vec<(usize, f64, f64)> = Vec::new();
        // For the combined score: (class, novelty, p̂ of the class, weight).
        let mut combined_points: Vec<(usize, usize, f64, f64, f64)> = Vec::new();
        let mut proba = vec![0.0; n_classes];
        // For the multi-window calibration: per held-out container (group,
        // class), blocks of consecutive rows, each row's (novelty, p̂) for
        // its own class.
        let mut window_blocks: Vec<WindowBlocks> = Vec::new();
        let gap = self.window_gap.max(1);
        let canonical = self.score == Score::Combined && data.is_canonical();
        for (f, (train_groups, test_groups)) in fold_groups.iter().enumerate() {
            let fold_refs = self.references(data, &groups, train_groups, &space, &spreads);
            let fold_forest = if use_forest {
                // In place: the forest of `data.select(rows)` without the copy.
                let train_rows = folds.train(f);
                Some(self.forest.fit_rows(data, &train_rows).map_err(OpenSetError::Fit)?)
            } else {
                None
            };
            let trained: Vec<bool> = (0..n_classes)
                .map(|c| train_groups.iter().any(|&g| groups[g].class == c))
                .collect();
            let (mut z, mut buf) = (Vec::new(), Vec::new());
            for &g in test_groups {
                let c = groups[g].class;
                if self.score == Score::Combined
                    && let Some(forest) = fold_forest.as_ref().filter(|_| trained[c])
                {
                    let order = time_order(data, &groups[g].rows, self.seed ^ groups[g].group as u64, canonical);
                    let blocks = window_block_ranges(order.len(), gap)
                        .into_iter()
                        .map(|range| {
                            order[range]
                                .iter()
                                .map(|&r| {
                                    space.transform_raw_into(data.raw_row(r), &mut z);
                                    if present(&z) < min_features {
                                        return None;
                                    }
                                    let s = fold_refs[c].score(&z, k_class[c], min_features, self.metric, &mut buf)?;
                                    forest.predict_proba_into(&data.row(r), &mut proba);
                                    Some((s, proba[c]))
                                })
                                .collect()
                        })
                        .collect();
                    window_blocks.push((g, c, blocks));
                }
                let rows: Vec<usize> = evenly(groups[g].rows.len(), self.max_calibration_rows)
                    .map(|i| groups[g].rows[i])
                    .collect();
                let weight = 1.0 / rows.len() as f64;
                for &r in &rows {
                    space.transform_raw_into(data.raw_row(r), &mut z);
                    if present(&z) < min_features {
                        continue;
                    }
                    let scores = (0..n_classes)
                        .map(|c| fold_refs[c].score(&z, k_class[c], min_features, self.metric, &mut buf))
                        .collect();
                    // A class no training container of the fold had says
                    // nothing about how its own containers score.
                    let scores: Vec<Option<f64>> = scores;
                    if let Some(f) = fold_forest.as_ref().filter(|_| trained[groups[g].class]) {
                        let c = groups[g].class;
                        f.predict_proba_into(&data.row(r), &mut proba);
                        forest_points.push((c, 1.0 - proba[c], weight));
                        if let Some(s) = scores[c] {
                            combined_points.push((g, c, s, proba[c], weight));
                        }
                    }
                    let class = groups[g].class;
                    if let Some(v) = scores[class] {
                        own.push((class, v, weight));
                    }
                    if keep_scored {
                        scored.push(ScoredRow {
                            row: r,
                            group: groups[g].group,
                            class,
                            weight,
                            scores,
                        });
                    }
                }
            }
        }
        let (calibrations, pooled) = calibrate(n_classes, &own);
        drop((own, folds, fold_groups));
        let mut windows = None;
        let mut novelty_null = None;
        let combined = if self.score == Score::Combined {
            let scale: Vec<f64> = (0..n_classes)
                .map(|c| {
                    weighted_quantile(
                        combined_points
                            .iter()
                            .filter(|p| p.1 == c)
                            .map(|p| (p.2, p.4))
                            .collect(),
                        CLASS_SCALE_QUANTILE,
                    )
                    .unwrap_or(1.0)
                    .max(MIN_SCALE)
                })
                .collect();
            let scored_points: Vec<(usize, f64, f64)> = combined_points
                .iter()
                .map(|&(g, c, s, p, w)| (g, combined(s, scale[c], p), w))
                .collect();
            let mislabelled = mislabelled(&scored_points);
            if !mislabelled.is_empty() {
                let kept: Vec<usize> = all.iter().copied().filter(|g| !mislabelled.contains(g)).collect();
                references = self.references(data, &groups, &kept, &space, &spreads);
            }
            let points: Vec<(f64, f64)> = scored_points
                .iter()
                .filter(|p| !mislabelled.contains(&p.0))
                .map(|p| (p.1, p.2))
                .collect();
            // The judged row weighs as one calibration row (see
            // `ClassCalibration::with_prior`).
            let prior = 1.0 / self.max_calibration_rows as f64;
            windows = Some(self.window_calibration(
                &window_blocks,
                |c, s, p| combined(s, scale[c], p),
                &mislabelled,
                prior,
                MAX_POINTS,
            ));
            if self.unknown_test != UnknownTest::Combined {
                let points: Vec<(f64, f64)> = combined_points
                    .iter()
                    .filter(|p| !mislabelled.contains(&p.0))
                    .map(|&(_, c, s, _, w)| (s / scale[c], w))
                    .collect();
                novelty_null =
                    ClassCalibration::with_max_points(points, NOVELTY_NULL_POINTS).map(|single| NoveltyNull {
                        test: self.unknown_test,
                        single: single.with_prior(prior),
                        windows: self.window_calibration(
                            &window_blocks,
                            |c, s, _| s / scale[c],
                            &mislabelled,
                            prior,
                            NOVELTY_NULL_POINTS,
                        ),
                    });
            }
            ClassCalibration::new(points).map(|calibration| CombinedScore {
                scale,
                calibration: calibration.with_prior(prior),
            })
        } else {
            None
        };
        // The held-out lists go before the final forest is fitted: they
        // were the open-set fit's peak of memory (BENCHMARKS.md, issue 20).
        drop((window_blocks, combined_points));
        let forest = if use_forest {
            let (calibrations, pooled) = calibrate(n_classes, &forest_points);
            drop(forest_points);
            Some(ForestScore {
                forest: self.forest.fit(data).map_err(OpenSetError::Fit)?,
                calibrations,
                pooled,
            })
        } else {
            None
        };
        Ok((
            OpenSetModel {
                classes: data.classes().to_vec(),
                space,
                references,
                calibrations,
                pooled,
                k: k_class,
                min_features,
                metric: self.metric,
                tail: self.tail,
                score: self.score,
                forest,
                combined,
                windows: windows.filter(|_| self.score == Score::Combined),
                novelty_null: novelty_null.filter(|_| self.score == Score::Combined),
            },
            scored,
        ))
    }

    /// 1 / each class's spread of each feature and each class's median of
    /// each feature (NaN: no value), from a bounded sample of its rows.
    fn class_spreads(
        &self,
        data: &Dataset,
        groups: &[split::GroupRows],
        space: &RobustSpace,
    ) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let mut z = Vec::new();
        let mut medians = Vec::new();
        let spreads = (0..data.classes().len())
            .map(|c| {
                let rows: Vec<Vec<f64>> = groups
                    .iter()
                    .filter(|g| g.class == c)
                    .flat_map(|g| evenly(g.rows.len(), SPREAD_ROWS_PER_CONTAINER).map(|i| g.rows[i]))
                    .map(|r| {
                        space.transform_raw_into(data.raw_row(r), &mut z);
                        z.clone()
                    })
                    .collect();
                medians.push(
                    (0..data.n_features())
                        .map(|j| {
                            let mut v: Vec<f64> = rows.iter().map(|r| r[j]).filter(|v| !v.is_nan()).collect();
                            v.sort_by(f64::total_cmp);
                            space::quantile_sorted(&v, 0.5).unwrap_or(f64::NAN)
                        })
                        .collect(),
                );
                reference::inverse_spread(&rows, data.n_features())
            })
            .collect();
        (spreads, medians)
    }

    /// Each class's reference from the containers `use_groups`.
    fn references(
        &self,
        data: &Dataset,
        groups: &[split::GroupRows],
        use_groups: &[usize],
        space: &RobustSpace,
        spreads: &[(Vec<f64>, Option<Vec<f64>>)],
    ) -> Vec<ClassReference> {
        let n_classes = data.classes().len();
        let mut per_class: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
        for &g in use_groups {
            if let Some(v) = per_class.get_mut(groups[g].class) {
                v.push(g);
            }
        }
        let mut z = Vec::new();
        per_class
            .iter()
            .zip(spreads)
            .map(|(gs, (spread, weights))| {
                let per_container = (self.max_rows_per_class / gs.len().max(1)).clamp(1, self.max_rows_per_container);
                let containers: Vec<Vec<Vec<f64>>> = gs
                    .iter()
                    .take(self.max_rows_per_class)
                    .map(|&g| {
                        evenly(groups[g].rows.len(), per_container)
                            .map(|i| {
                                space.transform_raw_into(data.raw_row(groups[g].rows[i]), &mut z);
                                z.clone()
                            })
                            .collect()
                    })
                    .collect();
                let r = ClassReference::new(&containers, spread.clone());
                match weights {
                    Some(w) => r.with_weights(w.clone()),
                    None => r,
                }
            })
            .collect()
    }
}

impl NoveltyParams {
    /// The multi-window calibration from held-out containers' blocks of
    /// consecutive rows (see `fit_keeping`): for each `k`, every run of `k`
    /// windows `window_gap` rows apart within a block, its statistic of the
    /// combined scores; each container weighs 1 over its runs.
    fn window_calibration(
        &self,
        blocks: &[WindowBlocks],
        score: impl Fn(usize, f64, f64) -> f64,
        mislabelled: &std::collections::BTreeSet<usize>,
        prior: f64,
        max_points: usize,
    ) -> WindowCalibration {
        let gap = self.window_gap.max(1);
        let mut scores = Vec::new();
        let by_windows = (2..=MAX_CALIBRATED_WINDOWS)
            .map(|k| {
                let span = (k - 1) * gap;
                let mut points: Vec<(f64, f64)> = Vec::new();
                for (_, c, container) in blocks.iter().filter(|b| !mislabelled.contains(&b.0)) {
                    let first = points.len();
                    for block in container {
                        for start in 0..block.len().saturating_sub(span) {
                            scores.clear();
                            scores.extend(
                                (0..k)
                                    .filter_map(|j| block[start + j * gap])
                                    .map(|(s, p)| score(*c, s, p)),
                            );
                            if scores.len() == k {
                                points.push((conformal::window_statistic(self.window_statistic, &scores), 1.0));
                            }
                        }
                    }
                    let runs = points.len() - first;
                    for p in &mut points[first..] {
                        p.1 = 1.0 / runs as f64;
                    }
                }
                ClassCalibration::with_max_points(points, max_points).map(|c| c.with_prior(prior))
            })
            .collect();
        WindowCalibration::new(gap, self.window_statistic, by_windows)
    }
}

/// A held-out container's (group, class, blocks of consecutive rows), each
/// row's (novelty, p̂) for its own class (`None`: not scored).
type WindowBlocks = (usize, usize, Vec<Vec<Option<(f64, f64)>>>);

/// Blocks of rows scored per held-out container for the multi-window
/// calibration.
const WINDOW_BLOCKS: usize = 8;

/// The ranges (into a container's `n` time-ordered rows) scored for the
/// multi-window calibration: all rows if they fit in [`WINDOW_BLOCKS`]
/// blocks, else that many blocks, evenly spread, each long enough for
/// [`MAX_CALIBRATED_WINDOWS`] windows `gap` rows apart.
fn window_block_ranges(n: usize, gap: usize) -> Vec<std::ops::Range<usize>> {
    let len = (MAX_CALIBRATED_WINDOWS - 1) * gap + 1;
    if n <= WINDOW_BLOCKS * len {
        return std::iter::once(0..n).collect();
    }
    evenly(n - len + 1, WINDOW_BLOCKS).map(|s| s..s + len).collect()
}

/// `rows` (one container's) in time order: by age when every row has one;
/// else in the data set's order, unless that is the canonical order (which
/// sorts a container's rows by value: a data file without times read for
/// training), then in a pseudo-random order drawn from `seed`, so that
/// consecutive rows are not neighbours in value.
pub(crate) fn time_order(data: &Dataset, rows: &[usize], seed: u64, canonical: bool) -> Vec<usize> {
    let mut order = rows.to_vec();
    if !canonical && rows.iter().any(|&r| data.age(r).is_none()) {
        return order;
    }
    if rows.iter().all(|&r| data.age(r).is_some()) {
        order.sort_by(|&a, &b| {
            data.age(a)
                .unwrap_or(0.0)
                .total_cmp(&data.age(b).unwrap_or(0.0))
                .then(a.cmp(&b))
        });
    } else {
        let key = |r: usize| {
            // splitmix64 of (seed, row)
            let mut x = seed.wrapping_add((r as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^ (x >> 31)
        };
        order.sort_by_key(|&r| key(r));
    }
    order
}

/// The containers (indices into the groups) taken for mislabelled (see
/// [`MISLABELLED_SIGMAS`]) from `(group, score, weight)` held-out points.
fn mislabelled(points: &[(usize, f64, f64)]) -> std::collections::BTreeSet<usize> {
    let logs: Vec<(f64, f64)> = points.iter().map(|p| ((p.1 + 1e-3).ln(), p.2)).collect();
    let (Some(q25), Some(q50), Some(q75)) = (
        weighted_quantile(logs.clone(), 0.25),
        weighted_quantile(logs.clone(), 0.5),
        weighted_quantile(logs.clone(), 0.75),
    ) else {
        return Default::default();
    };
    let cut = q50 + MISLABELLED_SIGMAS * ((q75 - q25) / 1.349).max(0.05);
    let mut per_group: std::collections::BTreeMap<usize, Vec<(f64, f64)>> = Default::default();
    for (&(g, _, _), &l) in points.iter().zip(&logs) {
        per_group.entry(g).or_default().push(l);
    }
    per_group
        .into_iter()
        .filter(|(_, v)| weighted_median(v.clone()).is_some_and(|m| m > cut))
        .map(|(g, _)| g)
        .collect()
}

fn present(z: &[f64]) -> usize {
    z.iter().filter(|v| !v.is_nan()).count()
}

/// What a verdict says about a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Behaves like the class it claims.
    AsClaimed,
    /// Claims a class and behaves like another known one.
    Impostor,
    /// Behaves like no known class.
    Unknown,
    /// Claims no class and behaves like exactly one known class.
    Recognised,
    /// Claims no class and fits several, or has too few usable features.
    Undecided,
}

impl Kind {
    /// Every kind, in this order.
    pub const ALL: [Kind; 5] = [
        Kind::AsClaimed,
        Kind::Impostor,
        Kind::Unknown,
        Kind::Recognised,
        Kind::Undecided,
    ];

    /// `as_claimed`, `impostor`, `unknown`, `recognised`, `undecided`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AsClaimed => "as_claimed",
            Kind::Impostor => "impostor",
            Kind::Unknown => "unknown",
            Kind::Recognised => "recognised",
            Kind::Undecided => "undecided",
        }
    }

    /// Whether the kind is an anomaly (impostor or unknown).
    pub fn is_anomaly(self) -> bool {
        matches!(self, Kind::Impostor | Kind::Unknown)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The decision about one row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// The kind.
    pub kind: Kind,
    /// The class it behaves most like among the prediction set (the largest
    /// p-value), if the set is not empty.
    pub behaves_like: Option<usize>,
    /// The evidence: for `Unknown`, the largest p-value of any class; for
    /// `Impostor` and `AsClaimed`, the claimed class's p-value; for
    /// `Recognised` and `Undecided`, the largest p-value (`None` when the row
    /// had too few features).
    pub p_value: Option<f64>,
    /// The prediction set `{y : p_y > α}`, as class indices.
    pub set: Vec<usize>,
}

/// The kind of a row with p-values `p` (one per class; `None`: too few
/// usable features), claiming class `claimed` (an index, if any), at
/// false-anomaly rate `alpha`.
pub fn judge(p: Option<&[f64]>, claimed: Option<usize>, alpha: f64) -> Judgement {
    judge_with(p, None, UnknownTest::Combined, claimed, alpha)
}

/// Like [`judge`], with the class-scaled novelty p-values `novelty` (one
/// per class) deciding "like no known class" as `test` says (`None`, or
/// [`UnknownTest::Combined`]: the combined p-values `p` alone).
pub fn judge_with(
    p: Option<&[f64]>,
    novelty: Option<&[f64]>,
    test: UnknownTest,
    claimed: Option<usize>,
    alpha: f64,
) -> Judgement {
    let Some(p) = p else {
        return Judgement {
            kind: Kind::Undecided,
            behaves_like: None,
            p_value: None,
            set: Vec::new(),
        };
    };
    let claimed = claimed.filter(|&c| c < p.len());
    let novelty = novelty.filter(|n| n.len() == p.len() && test != UnknownTest::Combined);
    let test = if novelty.is_some() { test } else { UnknownTest::Combined };
    // The -half tests (and either-unclaimed without a claim) make each of
    // their two tests at α / 2; either-unclaimed with a claim is combined.
    let (alpha, test) = match test {
        UnknownTest::EitherUnclaimed if claimed.is_some() => (alpha, UnknownTest::Combined),
        UnknownTest::NoveltyHalf | UnknownTest::EitherHalf | UnknownTest::BothHalf | UnknownTest::EitherUnclaimed => {
            (alpha / 2.0, test)
        }
        _ => (alpha, test),
    };
    let both = matches!(test, UnknownTest::Both | UnknownTest::BothHalf);
    let set: Vec<usize> = (0..p.len())
        .filter(|&c| p[c] > alpha && !(both && novelty.is_some_and(|n| n[c] <= alpha)))
        .collect();
    let best_in_set = set.iter().copied().max_by(|&a, &b| p[a].total_cmp(&p[b]));
    let max_p = p.iter().copied().fold(0.0, f64::max);
    // "Like no known class" by the class-scaled novelty: no class above α.
    let novelty_max = novelty.map(|n| n.iter().copied().fold(0.0, f64::max));
    let no_class_by_novelty = novelty_max.is_some_and(|m| m <= alpha);
    let unknown = match test {
        UnknownTest::Combined | UnknownTest::Both | UnknownTest::BothHalf => set.is_empty(),
        UnknownTest::Novelty | UnknownTest::NoveltyHalf => no_class_by_novelty,
        UnknownTest::Either | UnknownTest::EitherHalf | UnknownTest::EitherUnclaimed => {
            set.is_empty() || no_class_by_novelty
        }
    };
    let (kind, evidence) = match (claimed, set.len()) {
        _ if unknown => (
            Kind::Unknown,
            if no_class_by_novelty {
                novelty_max.unwrap_or(max_p)
            } else {
                max_p
            },
        ),
        (Some(c), _) if set.contains(&c) => (Kind::AsClaimed, p[c]),
        (Some(c), _) => (Kind::Impostor, p[c]),
        (None, 1) => (Kind::Recognised, max_p),
        // With the novelty test, an empty set is not "unknown": undecided.
        (None, _) => (Kind::Undecided, max_p),
    };
    Judgement {
        kind,
        behaves_like: best_in_set,
        p_value: Some(evidence),
        set,
    }
}

impl OpenSetModel {
    /// The class names.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Number of features a row has.
    pub fn n_features(&self) -> usize {
        self.space.n_features()
    }

    /// The calibration of class `c` (its own, or the pooled one when it had
    /// too few containers), if any.
    pub fn calibration(&self, c: usize) -> Option<&ClassCalibration> {
        self.calibrations
            .get(c)
            .and_then(Option::as_ref)
            .or(self.pooled.as_ref())
    }

    /// Whether class `c` has its own calibration (else the pooled one is used).
    pub fn has_own_calibration(&self, c: usize) -> bool {
        self.calibrations.get(c).is_some_and(Option::is_some)
    }

    /// The novelty score of `row` for every class; `None` when the row has
    /// fewer usable features than the model needs.
    pub fn scores(&self, row: &[Option<f64>]) -> Option<Vec<Option<f64>>> {
        let mut z = Vec::new();
        self.space.transform_into(row, &mut z);
        self.scores_of(&z)
    }

    fn scores_of(&self, z: &[f64]) -> Option<Vec<Option<f64>>> {
        if present(z) < self.min_features {
            return None;
        }
        let mut buf = Vec::new();
        Some(
            self.references
                .iter()
                .zip(&self.k)
                .map(|(r, &k)| r.score(z, k, self.min_features, self.metric, &mut buf))
                .collect(),
        )
    }

    /// Whether class `c` has no training containers (nothing can behave
    /// like it: p-value 0, score infinite).
    fn has_no_containers(&self, c: usize) -> bool {
        self.trained_containers(c) == 0
    }

    /// The training containers class `c` is known by (its reference; 0 for
    /// a class of the class list that no training pod ran, or out of range).
    pub fn trained_containers(&self, c: usize) -> usize {
        self.references.get(c).map_or(0, ClassReference::n_containers)
    }

    /// Every class of the class list with its training containers
    /// ([`trained_containers`](Self::trained_containers)), in class order.
    pub fn trained_containers_per_class(&self) -> Vec<(&str, usize)> {
        (0..self.classes.len())
            .map(|c| (self.classes[c].as_str(), self.trained_containers(c)))
            .collect()
    }

    /// Whether the watcher judges claims of class `c`: it has at least
    /// [`MIN_CONTAINERS_TO_JUDGE`] training containers.
    pub fn judges_claims_of(&self, c: usize) -> bool {
        self.trained_containers(c) >= MIN_CONTAINERS_TO_JUDGE
    }

    /// The classes whose claims the watcher does not judge
    /// ([`judges_claims_of`](Self::judges_claims_of)), each with its
    /// training containers.
    pub fn unjudged_classes(&self) -> Vec<(&str, usize)> {
        (0..self.classes.len())
            .filter(|&c| !self.judges_claims_of(c))
            .map(|c| (self.classes[c].as_str(), self.trained_containers(c)))
            .collect()
    }

    /// The p-value of each class's score. A class without training
    /// containers gets 0 (nothing can behave like it); a class whose
    /// reference shares too few features with the row, or without any
    /// calibration, gets 1 (nothing speaks against it).
    pub fn p_values_of_scores(&self, scores: &[Option<f64>]) -> Vec<f64> {
        scores
            .iter()
            .enumerate()
            .map(|(c, s)| match (s, self.calibration(c)) {
                _ if self.has_no_containers(c) => 0.0,
                (Some(s), Some(cal)) => cal.p_value(*s, self.tail),
                _ => 1.0,
            })
            .collect()
    }

    /// `row` scored once for everything read from it: one search of the
    /// class references and one prediction of the open-set forest (if the
    /// model has one; also when the row has too few usable features, for
    /// [`RowScores::class_probability`]).
    pub fn score_row(&self, row: &[Option<f64>]) -> RowScores {
        self.score(row, true)
    }

    /// `row`'s [`RowScores`], without the forest's prediction when the row
    /// has too few usable features (nothing but the confidence reads it).
    fn row_scores(&self, row: &[Option<f64>]) -> RowScores {
        self.score(row, false)
    }

    fn score(&self, row: &[Option<f64>], proba_always: bool) -> RowScores {
        let novelty = self.scores(row);
        let proba = self
            .forest
            .as_ref()
            .filter(|_| proba_always || novelty.is_some())
            .map(|f| {
                let mut proba = vec![0.0; self.classes.len()];
                f.forest.predict_proba_into(row, &mut proba);
                proba
            });
        RowScores { novelty, proba }
    }

    /// The novelty scores of `s`, if it had enough usable features and was
    /// scored by a model with as many class references as this one.
    fn novelty_of<'s>(&self, s: &'s RowScores) -> Option<&'s [Option<f64>]> {
        s.novelty.as_deref().filter(|n| n.len() == self.references.len())
    }

    /// The p-value of `row` for every class; `None` when the row has too few
    /// usable features.
    pub fn p_values(&self, row: &[Option<f64>]) -> Option<Vec<f64>> {
        self.p_values_of_row(&self.row_scores(row))
    }

    /// [`OpenSetModel::p_values`] of a scored row.
    fn p_values_of_row(&self, s: &RowScores) -> Option<Vec<f64>> {
        let novelty = self.novelty_of(s)?;
        let forest = self.forest.as_ref().filter(|_| self.score != Score::Novelty);
        let (Some(f), Some(proba)) = (forest, s.proba.as_deref()) else {
            return Some(self.p_values_of_scores(novelty));
        };
        if self.score == Score::Combined {
            return Some(self.combined_p_values(novelty, proba));
        }
        let classifier = proba.iter().enumerate().map(|(c, p)| {
            match f.calibrations.get(c).and_then(Option::as_ref).or(f.pooled.as_ref()) {
                Some(cal) => cal.p_value(1.0 - p, self.tail),
                None => 1.0,
            }
        });
        Some(match self.score {
            Score::Both => self
                .p_values_of_scores(novelty)
                .iter()
                .zip(classifier)
                .map(|(a, b)| (2.0 * a.min(b)).min(1.0))
                .collect(),
            _ => classifier.collect(),
        })
    }

    /// The p-values ([`OpenSetModel::p_values`]) and the novelty test's
    /// p-values ([`OpenSetModel::novelty_p_values`]) of a scored row (`None`:
    /// too few usable features).
    fn p_values_and_novelty(&self, s: &RowScores) -> (Option<Vec<f64>>, Option<Vec<f64>>) {
        (
            self.p_values_of_row(s),
            self.novelty_of(s).and_then(|n| self.novelty_p_values_of_scores(n)),
        )
    }

    /// [`Score::Combined`]'s p-values from the novelty scores and the
    /// forest's probabilities (1 for every class without the combined
    /// calibration).
    fn combined_p_values(&self, scores: &[Option<f64>], proba: &[f64]) -> Vec<f64> {
        let Some(cs) = self.combined.as_ref() else {
            return vec![1.0; scores.len()];
        };
        scores
            .iter()
            .enumerate()
            .map(|(c, s)| match s {
                _ if self.has_no_containers(c) => 0.0,
                Some(s) => cs.calibration.p_value(
                    combined(*s, cs.scale[c], proba.get(c).copied().unwrap_or(0.0)),
                    self.tail,
                ),
                None => 1.0,
            })
            .collect()
    }

    /// The probability the open-set forest gives class `class` for `row`
    /// (`None` without a forest: [`Score::Novelty`]) — the raw confidence
    /// of a [`confidence::ConfidenceSource::OpenSetForest`] map.
    pub fn class_probability(&self, row: &[Option<f64>], class: usize) -> Option<f64> {
        let f = self.forest.as_ref()?;
        let mut proba = vec![0.0; self.classes.len()];
        f.forest.predict_proba_into(row, &mut proba);
        proba.get(class).copied()
    }

    /// Whether the model has a forest ([`OpenSetModel::class_probability`]).
    pub fn has_forest(&self) -> bool {
        self.forest.is_some()
    }

    /// Judges `row`, claiming class `claimed`, at false-anomaly rate `alpha`.
    pub fn judge(&self, row: &[Option<f64>], claimed: Option<usize>, alpha: f64) -> Judgement {
        self.judge_scored(&self.row_scores(row), claimed, alpha)
    }

    /// [`OpenSetModel::judge`] of a row scored by this model
    /// ([`OpenSetModel::score_row`]); scores of another model's row count
    /// as too few usable features.
    pub fn judge_scored(&self, s: &RowScores, claimed: Option<usize>, alpha: f64) -> Judgement {
        let (p, novelty) = self.p_values_and_novelty(s);
        judge_with(p.as_deref(), novelty.as_deref(), self.unknown_test(), claimed, alpha)
    }

    /// The test of "like no known class" ([`UnknownTest`]).
    pub fn unknown_test(&self) -> UnknownTest {
        self.novelty_null.as_ref().map_or(UnknownTest::Combined, |n| n.test)
    }

    /// The novelty test's calibration ([`UnknownTest`]), if the model has one.
    pub fn novelty_null(&self) -> Option<&NoveltyNull> {
        self.novelty_null.as_ref()
    }

    /// The same model with the novelty test's calibration `null` (as read
    /// from a bundle).
    pub fn with_novelty_null(mut self, null: Option<NoveltyNull>) -> OpenSetModel {
        self.novelty_null = null;
        self
    }

    /// The class-scaled novelty `novelty_y / m_y` of `row` for every class
    /// (`None` for a class: no comparable reference; infinite: no training
    /// containers), without a combined score `None`.
    fn scaled_novelty(&self, scores: &[Option<f64>]) -> Option<Vec<Option<f64>>> {
        let cs = self.combined.as_ref()?;
        Some(
            scores
                .iter()
                .enumerate()
                .map(|(c, s)| match s {
                    _ if self.has_no_containers(c) => Some(f64::INFINITY),
                    Some(s) => Some(s / cs.scale[c].max(MIN_SCALE)),
                    None => None,
                })
                .collect(),
        )
    }

    /// The p-value of each class's class-scaled novelty against the pooled
    /// null of held-out containers ([`UnknownTest`]); `None` without that
    /// calibration or with too few usable features.
    pub fn novelty_p_values(&self, row: &[Option<f64>]) -> Option<Vec<f64>> {
        // Without the calibration, no scoring.
        self.novelty_null.as_ref()?;
        self.novelty_p_values_of_scores(&self.scores(row)?)
    }

    /// [`OpenSetModel::novelty_p_values`] of a row's novelty scores.
    fn novelty_p_values_of_scores(&self, scores: &[Option<f64>]) -> Option<Vec<f64>> {
        let null = self.novelty_null.as_ref()?;
        let scaled = self.scaled_novelty(scores)?;
        Some(
            scaled
                .iter()
                .map(|s| match s {
                    Some(s) if s.is_infinite() => 0.0,
                    Some(s) => null.single.p_value(*s, self.tail),
                    None => 1.0,
                })
                .collect(),
        )
    }

    /// The multi-window calibration, if the model has one.
    pub fn windows(&self) -> Option<&WindowCalibration> {
        self.windows.as_ref()
    }

    /// The same model with multi-window calibration `windows` (as read from
    /// a bundle).
    pub fn with_windows(mut self, windows: Option<WindowCalibration>) -> OpenSetModel {
        self.windows = windows;
        self
    }

    /// Whether `k` consecutive windows can be judged together: `k` is 1, or
    /// the model has a multi-window calibration for `k` windows.
    pub fn judges_windows(&self, k: usize) -> bool {
        k <= 1 || self.windows.as_ref().is_some_and(|w| w.for_windows(k).is_some())
    }

    /// The most consecutive windows, at most `up_to` (and at least 1), that
    /// can be judged together ([`judges_windows`](Self::judges_windows)).
    pub fn most_windows_judged(&self, up_to: usize) -> usize {
        (1..=up_to).rev().find(|k| self.judges_windows(*k)).unwrap_or(1)
    }

    /// [`Score::Combined`]'s score of `row` for every class — what the
    /// multi-window statistic summarises (`None` for the row: too few usable
    /// features, or no combined score; `None` for a class: no comparable
    /// reference; infinite for a class without training containers).
    pub fn window_scores(&self, row: &[Option<f64>]) -> Option<Vec<Option<f64>>> {
        if self.combined.is_none() || self.forest.is_none() {
            return None;
        }
        self.window_scores_of_row(&self.row_scores(row))
    }

    /// [`OpenSetModel::window_scores`] of a row scored by this model
    /// ([`OpenSetModel::score_row`]); `None` for another model's row.
    pub fn window_scores_of_row(&self, s: &RowScores) -> Option<Vec<Option<f64>>> {
        let cs = self.combined.as_ref()?;
        let proba = s.proba.as_deref()?;
        let novelty = self.novelty_of(s)?;
        let mut out: Vec<Option<f64>> = novelty
            .iter()
            .enumerate()
            .map(|(c, s)| match s {
                _ if self.has_no_containers(c) => Some(f64::INFINITY),
                Some(s) => Some(combined(*s, cs.scale[c], proba.get(c).copied().unwrap_or(0.0))),
                None => None,
            })
            .collect();
        // With the novelty test, the class-scaled novelty follows.
        if self.novelty_null.is_some()
            && let Some(scaled) = self.scaled_novelty(novelty)
        {
            out.extend(scaled);
        }
        Some(out)
    }

    /// The novelty test's p-values ([`UnknownTest`]) of a container's
    /// consecutive windows' [`OpenSetModel::window_scores`] (see
    /// [`OpenSetModel::p_values_of_windows`]); `None` without that
    /// calibration or scores.
    pub fn novelty_p_values_of_windows(&self, windows: &[Vec<Option<f64>>]) -> Option<Vec<f64>> {
        let null = self.novelty_null.as_ref()?;
        let n = self.classes.len();
        let windows = &windows[windows.len().saturating_sub(MAX_CALIBRATED_WINDOWS)..];
        if windows.iter().any(|w| w.len() < 2 * n) {
            return None;
        }
        let (cal, stat) = match windows.len() {
            0 => return None,
            1 => (&null.single, WindowStatistic::Mean),
            k => (null.windows.for_windows(k)?, null.windows.statistic),
        };
        let mut buf = Vec::with_capacity(windows.len());
        Some(
            (0..n)
                .map(|c| {
                    buf.clear();
                    buf.extend(windows.iter().filter_map(|w| w.get(n + c).copied().flatten()));
                    if buf.len() < windows.len() {
                        1.0
                    } else if buf.iter().any(|s| s.is_infinite()) {
                        0.0
                    } else {
                        cal.p_value(conformal::window_statistic(stat, &buf), self.tail)
                    }
                })
                .collect(),
        )
    }

    /// The p-value of every class for a container judged on its consecutive
    /// windows with [`OpenSetModel::window_scores`] `windows` (oldest first;
    /// at most [`MAX_CALIBRATED_WINDOWS`], the latest, count): the
    /// statistic of the windows' scores against the held-out containers'
    /// statistic over as many windows. One window gives the single-window
    /// p-values. `None` when no window could be scored, or the model has no
    /// calibration for that many windows. A class some window could not be
    /// compared with gets 1.
    pub fn p_values_of_windows(&self, windows: &[Vec<Option<f64>>]) -> Option<Vec<f64>> {
        let windows = &windows[windows.len().saturating_sub(MAX_CALIBRATED_WINDOWS)..];
        let (cal, stat) = match windows.len() {
            0 => return None,
            1 => (&self.combined.as_ref()?.calibration, WindowStatistic::Mean),
            k => {
                let w = self.windows.as_ref()?;
                (w.for_windows(k)?, w.statistic)
            }
        };
        let mut buf = Vec::with_capacity(windows.len());
        Some(
            (0..self.classes.len())
                .map(|c| {
                    buf.clear();
                    buf.extend(windows.iter().filter_map(|w| w.get(c).copied().flatten()));
                    if buf.len() < windows.len() {
                        1.0
                    } else if buf.iter().any(|s| s.is_infinite()) {
                        0.0
                    } else {
                        cal.p_value(conformal::window_statistic(stat, &buf), self.tail)
                    }
                })
                .collect(),
        )
    }

    /// Judges a container on its consecutive windows' scores (see
    /// [`OpenSetModel::p_values_of_windows`]), claiming `claimed`, at
    /// false-anomaly rate `alpha`.
    pub fn judge_windows(&self, windows: &[Vec<Option<f64>>], claimed: Option<usize>, alpha: f64) -> Judgement {
        let (p, novelty) = (
            self.p_values_of_windows(windows),
            self.novelty_p_values_of_windows(windows),
        );
        judge_with(p.as_deref(), novelty.as_deref(), self.unknown_test(), claimed, alpha)
    }

    /// Checks a decoded model against the class count and feature count it
    /// will be used with.
    pub fn check(&self, n_classes: usize, n_features: usize) -> Result<(), OpenSetError> {
        let bad = |m: String| Err(OpenSetError::Inconsistent(m));
        if self.classes.len() != n_classes || self.references.len() != n_classes || self.calibrations.len() != n_classes
        {
            return bad(format!(
                "made for {} classes, used with {n_classes}",
                self.classes.len()
            ));
        }
        if self.space.n_features() != n_features || !self.space.is_valid() {
            return bad(format!(
                "made for {} features, used with {n_features}",
                self.space.n_features()
            ));
        }
        if !self.references.iter().all(|r| r.is_valid(n_features)) {
            return bad("a class reference's layout is broken".into());
        }
        if !self.metric.is_valid() {
            return bad(format!("the metric {:?} is out of range", self.metric));
        }
        if !self
            .calibrations
            .iter()
            .flatten()
            .chain(self.pooled.as_ref())
            .all(ClassCalibration::is_valid)
        {
            return bad("a calibration is broken".into());
        }
        if self.k.len() != n_classes || self.k.contains(&0) || self.min_features == 0 {
            return bad("k and min_features must be at least 1".into());
        }
        match (&self.forest, self.score) {
            (None, Score::Novelty) => {}
            (Some(f), Score::Classifier | Score::Both | Score::Combined)
                if f.forest.n_features() == n_features
                    && f.forest.n_classes() == n_classes
                    && f.calibrations.len() == n_classes
                    && f.calibrations
                        .iter()
                        .flatten()
                        .chain(f.pooled.as_ref())
                        .all(ClassCalibration::is_valid) => {}
            _ => return bad("the classifier score's forest or calibration is broken".into()),
        }
        match (&self.combined, self.score) {
            (None, _) => {}
            (Some(c), Score::Combined)
                if c.scale.len() == n_classes
                    && c.scale.iter().all(|s| s.is_finite() && *s >= MIN_SCALE)
                    && c.calibration.is_valid() => {}
            _ => return bad("the combined score's calibration is broken".into()),
        }
        match (&self.windows, &self.combined) {
            (None, _) => {}
            (Some(w), Some(_)) if w.is_valid() => {}
            _ => return bad("the multi-window calibration is broken".into()),
        }
        match (&self.novelty_null, &self.combined) {
            (None, _) => {}
            (Some(n), Some(_)) if n.is_valid() => {}
            _ => return bad("the novelty test's calibration is broken".into()),
        }
        Ok(())
    }

    /// Rows stored in the references (all classes).
    pub fn reference_rows(&self) -> usize {
        self.references.iter().map(|r| r.n_rows(self.n_features())).sum()
    }
}

#[cfg(test)]
mod tests;
