//! Calibrated confidence: a verdict's confidence should be the share of such
//! verdicts that are right, and should say which verdicts are doubtful.
//!
//! A tree grown until its leaves are pure says 1.00 for nearly every row:
//! calibrated, its confidence is one value per model, which tells the
//! operator nothing. So for a tree the raw confidence is the **open-set
//! model's forest's probability of the class the tree predicts**
//! ([`ConfidenceSource::OpenSetForest`]; the forest rides in the bundle
//! already); a forest classifier keeps its own vote share
//! ([`ConfidenceSource::Classifier`]). Either is mapped through an
//! **isotonic** map (pool-adjacent-violators: the best non-decreasing step
//! function from raw confidence to accuracy) fitted on *out-of-fold*
//! predictions of held-out containers (grouped k-fold; the forest of a
//! fold is fitted on the same training rows as its classifier). Every step
//! is shrunk by the number of *containers* among its rows, not the rows
//! (errors come by container), toward its own raw confidence rescaled to
//! the pooled accuracy and capped by the rule of succession over the
//! containers ([`ConfidenceMap::fit_grouped`]), so a step seen on few
//! containers says about what its raw score says, never 1.00 or 0.00
//! exactly. (Shrunk toward the pooled accuracy instead, as before, the
//! forest's probability gave ECE up to 0.059 on the simulator, 0.060 on the
//! ARFF; see docs/measurements.md, "Open set and calibration".)
//!
//! The expected calibration error (ECE, 10 equal-width bins of confidence:
//! the row-weighted mean of |accuracy − mean confidence| per bin, so per
//! verdict: the watcher gives one per window) is measured out of sample by
//! cross-fitting **by container**: the map that scores a container's
//! held-out rows is fitted on the out-of-fold predictions of the other
//! containers only (leave one container out; beyond
//! [`MAX_CROSS_FIT_PARTS`] containers, leave one of that many parts out).
//! Cross-fitting by fold instead scored each fold with a map fitted on the
//! other 4 folds: with the default tree, whose raw confidence is 1.0 on
//! every row, that map is a constant — the other folds' accuracy, which is
//! low exactly when the scored fold's is high — and where the folds'
//! constants fell on both sides of a bin edge the ECE read 0.09–0.11 from
//! that alone. Cross-fitted by container, the same happens if the rows are
//! binned by their cross-fitted confidence: leaving out a wrong container
//! raises the one step, a right one lowers it, so near an edge the bins sort
//! the containers by their own outcome. So a row falls in the bin of the
//! confidence the *shipped* map gives it (a function of its raw confidence,
//! the same for every row with it), and each bin compares the rows'
//! cross-fitted confidences with their outcomes.
//! Errors come by container (a container is mostly right or
//! mostly wrong), so the report also gives the spread of the ECE over
//! bootstrap samples of the containers.

use crate::classifier::{Classifier, Fit, FitError};
use crate::dataset::Dataset;
use crate::forest::ForestParams;
use crate::split::{self, SplitError};
use serde::{Deserialize, Serialize};

/// Bins of the expected calibration error and the reliability diagram.
pub const ECE_BINS: usize = 10;

/// The most steps a [`ConfidenceMap`] keeps (adjacent steps are merged beyond).
pub const MAX_STEPS: usize = 64;

/// Pseudo-containers each step of a [`ConfidenceMap`] is shrunk with
/// (see [`ConfidenceMap::fit_grouped`]).
pub const PRIOR_CONTAINERS: f64 = 2.0;

/// The most parts the containers are cross-fitted in (one container a part
/// up to this many containers).
pub const MAX_CROSS_FIT_PARTS: usize = 100;

/// Bootstrap samples of the containers for the ECE's spread.
pub const BOOTSTRAP_SAMPLES: usize = 200;

/// Where the raw confidence a [`ConfidenceMap`] maps comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfidenceSource {
    /// The classifier's own confidence in its predicted class (its leaf's
    /// class share, a forest's vote share). The default tree's is 1.0 on
    /// every row, so its map is one value. Maps of bundles before format 6.
    #[default]
    Classifier,
    /// The open-set model's forest's probability of the class the
    /// classifier predicts ([`crate::openset::OpenSetModel::class_probability`]).
    OpenSetForest,
}

impl ConfidenceSource {
    /// `classifier` or `open-set forest` (for reports).
    pub fn as_str(self) -> &'static str {
        match self {
            ConfidenceSource::Classifier => "classifier",
            ConfidenceSource::OpenSetForest => "open-set forest",
        }
    }
}

/// A non-decreasing map from a raw confidence (of its
/// [`source`](ConfidenceMap::source)) to a calibrated one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceMap {
    /// Upper raw confidence of each step, ascending; the last covers 1.
    upper: Vec<f64>,
    /// Calibrated confidence of each step, non-decreasing.
    value: Vec<f64>,
    /// What the raw confidence is. Stored apart in the bundle (format 6),
    /// so that the maps of formats 4 and 5 still read (as
    /// [`ConfidenceSource::Classifier`]).
    #[serde(skip)]
    source: ConfidenceSource,
}

/// One prediction of a held-out row: its raw confidence, whether it was right.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome {
    /// The classifier's confidence in its predicted class.
    pub confidence: f64,
    /// Whether the predicted class was the row's class.
    pub correct: bool,
}

impl ConfidenceMap {
    /// The identity (no calibration).
    pub fn identity() -> ConfidenceMap {
        ConfidenceMap {
            upper: Vec::new(),
            value: Vec::new(),
            source: ConfidenceSource::Classifier,
        }
    }

    /// Where the raw confidence this map maps comes from.
    pub fn source(&self) -> ConfidenceSource {
        self.source
    }

    /// The same map, for raw confidences of `source`.
    pub fn with_source(mut self, source: ConfidenceSource) -> ConfidenceMap {
        self.source = source;
        self
    }

    /// The calibrated confidence of a verdict whose classifier said
    /// `classifier` (its confidence in its predicted class) and whose
    /// open-set forest gives that class probability `forest` (`None`: no
    /// forest): the map applied to the raw confidence of its
    /// [`source`](Self::source). A map of the forest without the forest's
    /// probability gives the classifier's confidence unmapped (a bundle
    /// that pairs them is refused: see `ModelBundle::check`).
    pub fn calibrated(&self, classifier: f64, forest: Option<f64>) -> f64 {
        match (self.source, forest) {
            (ConfidenceSource::Classifier, _) => self.apply(classifier),
            (ConfidenceSource::OpenSetForest, Some(p)) => self.apply(p),
            (ConfidenceSource::OpenSetForest, None) => classifier,
        }
    }

    /// Fits the isotonic map to `outcomes`, each row its own container
    /// ([`fit_grouped`](Self::fit_grouped)).
    pub fn fit(outcomes: &[Outcome]) -> ConfidenceMap {
        let rows: Vec<(Outcome, usize)> = outcomes.iter().enumerate().map(|(i, &o)| (o, i)).collect();
        ConfidenceMap::fit_grouped(&rows)
    }

    /// Fits the isotonic map to `(outcome, container)` pairs:
    /// pool-adjacent-violators over rows sorted by confidence (equal
    /// confidences pooled), at most [`MAX_STEPS`] steps. A step's value is
    /// its accuracy shrunk, as if it had seen one row per container, toward
    /// its own raw confidence rescaled to the pooled accuracy:
    /// `(accuracy · g + 2t) / (g + 2)` with `g` the containers among its
    /// rows and `t = min(1, c̄ · p / r̄)` (`c̄` the step's mean raw
    /// confidence, `p` the pooled accuracy, `r̄` the pooled mean raw
    /// confidence). A container's rows are mostly all right or all wrong,
    /// so 900 right rows of 12 containers are evidence of 12; a step of few
    /// containers says about what its raw confidence says, on the scale of
    /// the held-out accuracy. A constant raw score (a pure leaf's 1.0) has
    /// `t = p`: the step says about `p`.
    pub fn fit_grouped(outcomes: &[(Outcome, usize)]) -> ConfidenceMap {
        ConfidenceMap::fit_grouped_iter(outcomes.iter().copied())
    }

    /// [`fit_grouped`](Self::fit_grouped) of the pairs `outcomes` yields,
    /// in that order.
    fn fit_grouped_iter(outcomes: impl Iterator<Item = (Outcome, usize)>) -> ConfidenceMap {
        let sorted = fit_rows(outcomes);
        ConfidenceMap::fit_sorted(|| sorted.iter().copied())
    }

    /// [`fit_grouped`](Self::fit_grouped) of rows as [`fit_rows`] gives
    /// them: `rows` yields them anew for each of two passes (the pooled
    /// figures, then the steps), so that the maps of many subsets of one
    /// list need neither a sort nor a list each.
    fn fit_sorted<I: Iterator<Item = FitRow>>(rows: impl Fn() -> I) -> ConfidenceMap {
        let prior = PRIOR_CONTAINERS;
        let (mut n, mut right, mut raw, mut last_group) = (0usize, 0.0, 0.0, 0usize);
        for (c, y, g) in rows() {
            n += 1;
            right += y;
            raw += c;
            last_group = last_group.max(g);
        }
        if n == 0 {
            return ConfidenceMap::identity();
        }
        let pooled = right / n as f64;
        let pooled_raw = raw / n as f64;
        let mut blocks: Vec<Block> = Vec::new();
        for (c, y, _) in rows() {
            match blocks.last_mut() {
                Some(last) if last.upper == c => {
                    last.n += 1;
                    last.rows += 1.0;
                    last.right += y;
                    last.raw += c;
                }
                _ => blocks.push(Block {
                    upper: c,
                    n: 1,
                    rows: 1.0,
                    right: y,
                    raw: c,
                }),
            }
            while blocks.len() >= 2 {
                let n = blocks.len();
                if blocks[n - 2].accuracy() >= blocks[n - 1].accuracy() {
                    let b = blocks.pop().unwrap_or_else(|| unreachable!("two blocks"));
                    blocks[n - 2].absorb(b);
                } else {
                    break;
                }
            }
        }
        // Bound the size: merge the adjacent pair with the fewest rows.
        while blocks.len() > MAX_STEPS {
            let i = (0..blocks.len() - 1)
                .min_by(|&i, &j| {
                    (blocks[i].rows + blocks[i + 1].rows).total_cmp(&(blocks[j].rows + blocks[j + 1].rows))
                })
                .unwrap_or(0);
            let b = blocks.remove(i + 1);
            blocks[i].absorb(b);
        }
        // The containers among each step's rows (a step is a run of the
        // rows: a container counts again only in the next step) and among
        // all rows.
        let mut groups = vec![0usize; blocks.len()];
        let mut step_of = vec![usize::MAX; last_group + 1];
        let (mut step, mut left) = (0, blocks.first().map_or(0, |b| b.n));
        for (_, _, g) in rows() {
            while left == 0 && step + 1 < blocks.len() {
                step += 1;
                left = blocks[step].n;
            }
            left = left.saturating_sub(1);
            if step_of[g] != step {
                step_of[g] = step;
                groups[step] += 1;
            }
        }
        // No step's target says more than the rule of succession over the
        // containers: all `G` right, the next is right with (G + 1) / (G + 2).
        let containers = step_of.iter().filter(|&&s| s != usize::MAX).count() as f64;
        drop(step_of);
        let cap = (containers + 1.0) / (containers + 2.0);
        let mut value: Vec<f64> = blocks
            .iter()
            .zip(&groups)
            .map(|(b, &g)| {
                let g = g as f64;
                // The step's raw confidence, rescaled so that over all rows
                // it equals the pooled accuracy (a constant raw score, the
                // tree's 1.0: the pooled accuracy itself).
                let toward = (b.raw / b.rows * pooled / pooled_raw.max(f64::MIN_POSITIVE)).min(cap);
                (b.accuracy() * g + prior * toward) / (g + prior)
            })
            .collect();
        // Shrinking can break monotonicity between small blocks: restore it.
        for i in 1..value.len() {
            if value[i] < value[i - 1] {
                value[i] = value[i - 1];
            }
        }
        let mut upper: Vec<f64> = blocks.iter().map(|b| b.upper).collect();
        if let Some(last) = upper.last_mut() {
            *last = 1.0;
        }
        ConfidenceMap {
            upper,
            value,
            source: ConfidenceSource::Classifier,
        }
    }

    /// The calibrated confidence of raw confidence `c`.
    pub fn apply(&self, c: f64) -> f64 {
        if self.upper.is_empty() || c.is_nan() {
            return c;
        }
        let i = self.upper.partition_point(|&u| u < c).min(self.value.len() - 1);
        self.value[i]
    }

    /// Number of steps (0 for the identity).
    pub fn steps(&self) -> usize {
        self.upper.len()
    }

    /// Whether the numbers are usable (checked after decoding).
    pub fn is_valid(&self) -> bool {
        self.upper.len() == self.value.len()
            && self.upper.len() <= MAX_STEPS
            && self.upper.is_sorted()
            && self.value.is_sorted()
            && self
                .upper
                .iter()
                .chain(&self.value)
                .all(|v| v.is_finite() && (0.0..=1.0).contains(v))
    }
}

/// A row of a map's fit: its confidence clamped to `[0, 1]`, 1 if the
/// prediction was right (else 0), its container.
type FitRow = (f64, f64, usize);

/// The rows of `(outcome, container)` pairs with a finite confidence, in the
/// order the map is fitted in: by confidence, equal ones in the given order.
fn fit_rows(outcomes: impl Iterator<Item = (Outcome, usize)>) -> Vec<FitRow> {
    let mut sorted: Vec<FitRow> = outcomes
        .filter(|(o, _)| o.confidence.is_finite())
        .map(|(o, g)| (o.confidence.clamp(0.0, 1.0), f64::from(u8::from(o.correct)), g))
        .collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    sorted
}

/// A step being fitted: its upper raw confidence, rows (a run of the
/// sorted rows: `n` of them), right rows.
struct Block {
    upper: f64,
    n: usize,
    rows: f64,
    right: f64,
    /// Sum of the rows' raw confidences.
    raw: f64,
}

impl Block {
    fn accuracy(&self) -> f64 {
        self.right / self.rows
    }

    /// Takes in the next block up.
    fn absorb(&mut self, b: Block) {
        self.upper = b.upper;
        self.n += b.n;
        self.rows += b.rows;
        self.right += b.right;
        self.raw += b.raw;
    }
}

/// One bin of a reliability diagram.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Lower edge of the bin's confidence.
    pub lower: f64,
    /// Upper edge.
    pub upper: f64,
    /// Predictions in the bin.
    pub count: usize,
    /// Their mean confidence (`None` when empty).
    pub confidence: Option<f64>,
    /// The share of them that were right (`None` when empty).
    pub accuracy: Option<f64>,
}

/// The reliability diagram of `(confidence, correct)` pairs: [`ECE_BINS`]
/// equal-width bins (a confidence of exactly 1 falls in the last).
pub fn reliability(outcomes: &[Outcome]) -> Vec<ReliabilityBin> {
    reliability_of(outcomes.iter().copied())
}

/// [`reliability`] of the outcomes `outcomes` yields, without a list of them.
fn reliability_of(outcomes: impl Iterator<Item = Outcome>) -> Vec<ReliabilityBin> {
    reliability_keyed(outcomes.map(|o| (o.confidence, o)))
}

/// The bin of confidence `c` (finite).
fn bin_of(c: f64) -> usize {
    ((c.clamp(0.0, 1.0) * ECE_BINS as f64) as usize).min(ECE_BINS - 1)
}

/// A reliability diagram of `(key, outcome)` pairs: each outcome falls in
/// the bin of its key, and the bin's confidence is the mean of the
/// outcomes' confidences.
fn reliability_keyed(outcomes: impl Iterator<Item = (f64, Outcome)>) -> Vec<ReliabilityBin> {
    let mut sums = vec![(0usize, 0.0, 0usize); ECE_BINS];
    for (key, o) in outcomes.filter(|(k, o)| k.is_finite() && o.confidence.is_finite()) {
        let b = bin_of(key);
        sums[b].0 += 1;
        sums[b].1 += o.confidence.clamp(0.0, 1.0);
        sums[b].2 += usize::from(o.correct);
    }
    sums.iter()
        .enumerate()
        .map(|(b, &(n, c, right))| ReliabilityBin {
            lower: b as f64 / ECE_BINS as f64,
            upper: (b + 1) as f64 / ECE_BINS as f64,
            count: n,
            confidence: (n > 0).then(|| c / n as f64),
            accuracy: (n > 0).then(|| right as f64 / n as f64),
        })
        .collect()
}

/// The expected calibration error of a reliability diagram (`None` when empty).
pub fn ece(bins: &[ReliabilityBin]) -> Option<f64> {
    let total: usize = bins.iter().map(|b| b.count).sum();
    (total > 0).then(|| {
        bins.iter()
            .filter_map(|b| Some(b.count as f64 * (b.accuracy? - b.confidence?).abs()))
            .sum::<f64>()
            / total as f64
    })
}

/// Calibration measured by cross-fitting, and the map for the final model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationReport {
    /// Folds of the out-of-fold predictions.
    pub folds: usize,
    /// Predictions measured (held-out rows).
    pub predictions: usize,
    /// Containers they came from.
    pub containers: usize,
    /// ECE of the raw confidences.
    pub ece_raw: Option<f64>,
    /// ECE of the calibrated confidences (each container's rows mapped by a
    /// map fitted without that container), per row.
    pub ece: Option<f64>,
    /// The 5th and 95th percentile of [`ece`](Self::ece) over
    /// [`BOOTSTRAP_SAMPLES`] bootstrap samples of the containers (the
    /// mapped confidences fixed): how much it depends on which containers
    /// were measured. The ECE is biased upward by noise (each bin's gap is
    /// an absolute value), and a resample adds more, so the interval can lie
    /// above [`ece`](Self::ece) itself when that is small.
    pub ece_bootstrap: Option<[f64; 2]>,
    /// Reliability diagram of the raw confidences.
    pub raw_bins: Vec<ReliabilityBin>,
    /// Reliability diagram of the calibrated confidences: rows binned by
    /// the shipped map's confidence, each bin's confidence the mean of the
    /// cross-fitted ones (so it can fall a little outside its bin).
    pub bins: Vec<ReliabilityBin>,
    /// The map fitted on all out-of-fold predictions: the one to ship.
    pub map: ConfidenceMap,
}

/// Why calibrating failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CalibrationError {
    /// The folds could not be made.
    #[error("split")]
    Split(#[source] SplitError),
    /// Fitting a fold failed.
    #[error("fit")]
    Fit(#[source] FitError),
}

/// One held-out prediction with where it came from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeldOut {
    /// The fold it was held out in.
    pub fold: usize,
    /// Its container (the data set's group index).
    pub group: usize,
    /// Its class (the data set's label).
    pub class: usize,
    /// The class predicted.
    pub predicted: usize,
    /// The prediction and whether it was right.
    pub outcome: Outcome,
}

/// Out-of-fold predictions of `params` over grouped `k`-fold (`k` capped at
/// the containers): every row predicted by a model fitted without its
/// container, its raw confidence the classifier's.
pub fn out_of_fold<F: Fit>(params: &F, data: &Dataset, k: usize, seed: u64) -> Result<Vec<HeldOut>, CalibrationError> {
    out_of_fold_with(params, None, data, k, seed)
}

/// [`out_of_fold`], the raw confidence of each row the probability that a
/// forest of `forest` fitted on the same fold's training rows gives the
/// class the classifier predicts ([`ConfidenceSource::OpenSetForest`]);
/// the classifier's own confidence when `forest` is `None`.
pub fn out_of_fold_with<F: Fit>(
    params: &F,
    forest: Option<&ForestParams>,
    data: &Dataset,
    k: usize,
    seed: u64,
) -> Result<Vec<HeldOut>, CalibrationError> {
    let groups = split::fold_units(data);
    // One fold's row lists at a time, the training side fitted in place and
    // the test side predicted a block of rows at a time: no copy of the
    // data set's rows beyond one block.
    let folds = split::GroupedFolds::new(data, k.min(groups), seed).map_err(CalibrationError::Split)?;
    let mut out = Vec::with_capacity(data.n_rows());
    let mut proba = vec![0.0; data.classes().len()];
    for fold in 0..folds.len() {
        let train = folds.train(fold);
        let model = params.fit_rows(data, &train).map_err(CalibrationError::Fit)?;
        let scorer = forest
            .map(|f| f.fit_rows(data, &train))
            .transpose()
            .map_err(CalibrationError::Fit)?;
        drop(train);
        for test in folds.test(fold).chunks(PREDICT_BLOCK) {
            let preds = model.predict_dataset(&data.select(test));
            out.extend(test.iter().zip(preds).map(|(&row, p)| {
                let confidence = match &scorer {
                    Some(f) => {
                        f.predict_proba_into(&data.row(row), &mut proba);
                        proba.get(p.class).copied().unwrap_or(0.0)
                    }
                    None => p.confidence,
                };
                HeldOut {
                    fold,
                    group: data.group(row),
                    class: data.label(row),
                    predicted: p.class,
                    outcome: Outcome {
                        confidence,
                        correct: p.class == data.label(row),
                    },
                }
            }));
        }
    }
    Ok(out)
}

/// Held-out rows predicted at once by [`out_of_fold`]: a copy of this many
/// rows, not of the whole test side. Prediction is row by row, so the
/// predictions are those of the whole side at once.
pub(crate) const PREDICT_BLOCK: usize = 4096;

/// Out-of-fold predictions of `params` over grouped `k`-fold (`k` capped at
/// the containers), then the cross-fitted calibration map and its ECE.
pub fn cross_fit<F: Fit>(
    params: &F,
    data: &Dataset,
    k: usize,
    seed: u64,
) -> Result<CalibrationReport, CalibrationError> {
    cross_fit_with(params, None, data, k, seed)
}

/// [`cross_fit`] of the raw confidences of [`out_of_fold_with`]: with
/// `forest`, the map's [`source`](ConfidenceMap::source) is
/// [`ConfidenceSource::OpenSetForest`].
pub fn cross_fit_with<F: Fit>(
    params: &F,
    forest: Option<&ForestParams>,
    data: &Dataset,
    k: usize,
    seed: u64,
) -> Result<CalibrationReport, CalibrationError> {
    let mut report = calibration_report(&out_of_fold_with(params, forest, data, k, seed)?);
    if forest.is_some() {
        report.map.source = ConfidenceSource::OpenSetForest;
    }
    Ok(report)
}

/// The calibration of out-of-fold predictions, cross-fitted by container:
/// each container's rows are mapped by a map fitted on the other
/// containers' rows (containers dealt into at most [`MAX_CROSS_FIT_PARTS`]
/// parts in the order of their index).
pub fn calibration_report(held: &[HeldOut]) -> CalibrationReport {
    // The distinct groups, ascending. Here, and below, lists as long as
    // `held` are made only where needed: this runs at the training's peak
    // of memory (BENCHMARKS.md, issue 20).
    let mut seen = vec![false; held.iter().map(|h| h.group + 1).max().unwrap_or(0)];
    held.iter().for_each(|h| seen[h.group] = true);
    let groups: Vec<usize> = (0..seen.len()).filter(|&g| seen[g]).collect();
    let parts = groups.len().min(MAX_CROSS_FIT_PARTS);
    // Each container's part, by its group index.
    let mut part_by_group = vec![0usize; seen.len()];
    drop(seen);
    for (i, &g) in groups.iter().enumerate() {
        part_by_group[g] = i % parts.max(1);
    }
    let part_of = |g: usize| part_by_group[g];
    // The rows sorted once for all the maps (a sort of the rows per part
    // was most of the calibration of 1,000,000 rows).
    let sorted = fit_rows(held.iter().map(|h| (h.outcome, h.group)));
    let mut mapped: Vec<Outcome> = held.iter().map(|h| h.outcome).collect();
    for part in 0..parts {
        let map = ConfidenceMap::fit_sorted(|| sorted.iter().copied().filter(|r| part_of(r.2) != part));
        for (m, h) in mapped.iter_mut().zip(held) {
            if part_of(h.group) == part {
                m.confidence = map.apply(h.outcome.confidence);
            }
        }
    }
    // Each row falls in the bin of the confidence the shipped map gives
    // it, and the bin compares the cross-fitted confidences with the
    // outcomes. Binned by the cross-fitted confidence itself, the bins
    // would sort the containers by their own outcome: leaving out a wrong
    // container raises its map's step, leaving out a right one lowers it,
    // and where one step sits near a bin edge (the default tree: one step,
    // the accuracy) the wrong containers land above the edge and the right
    // ones below — ECE 0.16–0.34 measured where the confidences were within
    // 0.02 of the accuracy.
    let map = ConfidenceMap::fit_sorted(|| sorted.iter().copied());
    drop(sorted);
    let keys: Vec<f64> = held.iter().map(|h| map.apply(h.outcome.confidence)).collect();
    let raw_bins = reliability_of(held.iter().map(|h| h.outcome));
    let bins = reliability_keyed(keys.iter().copied().zip(mapped.iter().copied()));
    let group_of: Vec<usize> = held.iter().map(|h| h.group).collect();
    let ece_bootstrap = bootstrap(&keys, &mapped, &group_of, &groups);
    drop((keys, mapped, group_of));
    CalibrationReport {
        folds: held.iter().map(|h| h.fold + 1).max().unwrap_or(0),
        predictions: held.len(),
        containers: groups.len(),
        ece_raw: ece(&raw_bins),
        ece: ece(&bins),
        ece_bootstrap,
        raw_bins,
        bins,
        map,
    }
}

/// The 5th and 95th percentile of the ECE of `mapped` (binned by `keys`)
/// over bootstrap samples of the containers (`groups`, each row's in
/// `group_of`).
fn bootstrap(keys: &[f64], mapped: &[Outcome], group_of: &[usize], groups: &[usize]) -> Option<[f64; 2]> {
    if groups.len() < 2 {
        return None;
    }
    // Per container: its rows' counts per bin (rows, sum of confidence, right).
    let mut per: Vec<Vec<(usize, f64, usize)>> = vec![vec![(0, 0.0, 0); ECE_BINS]; groups.len()];
    for ((o, &g), &key) in mapped.iter().zip(group_of).zip(keys) {
        let (Ok(i), true) = (groups.binary_search(&g), o.confidence.is_finite() && key.is_finite()) else {
            continue;
        };
        let c = o.confidence.clamp(0.0, 1.0);
        let b = bin_of(key);
        per[i][b].0 += 1;
        per[i][b].1 += c;
        per[i][b].2 += usize::from(o.correct);
    }
    // A fixed xorshift stream: the spread is a function of the predictions.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut eces: Vec<f64> = (0..BOOTSTRAP_SAMPLES)
        .filter_map(|_| {
            let mut sums = vec![(0usize, 0.0, 0usize); ECE_BINS];
            for _ in 0..groups.len() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let g = (state % groups.len() as u64) as usize;
                for (s, p) in sums.iter_mut().zip(&per[g]) {
                    s.0 += p.0;
                    s.1 += p.1;
                    s.2 += p.2;
                }
            }
            let total: usize = sums.iter().map(|s| s.0).sum();
            (total > 0).then(|| {
                sums.iter()
                    .filter(|s| s.0 > 0)
                    .map(|s| (s.2 as f64 - s.1).abs())
                    .sum::<f64>()
                    / total as f64
            })
        })
        .collect();
    if eces.is_empty() {
        return None;
    }
    eces.sort_by(f64::total_cmp);
    let at = |q: f64| eces[((eces.len() - 1) as f64 * q).round() as usize];
    Some([at(0.05), at(0.95)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_fold_predictions_are_those_of_copied_folds() {
        // Fitted in place and predicted by blocks (more test rows than a
        // block), they are what fitting and predicting copies gives.
        let d = crate::tree::synth::make(3 * PREDICT_BLOCK, 4, 3, 40, 1.0, 0.05, 5);
        let params = crate::tree::TreeParams::default();
        let held = out_of_fold(&params, &d, 2, 7).unwrap();
        assert_eq!(held.len(), d.n_rows());
        let mut expected = Vec::new();
        for (fold, (train, test)) in split::grouped_k_fold(&d, 2, 7).unwrap().iter().enumerate() {
            assert!(test.len() > PREDICT_BLOCK);
            let model = params.fit(&d.select(train)).unwrap();
            for (&row, p) in test.iter().zip(model.predict_dataset(&d.select(test))) {
                expected.push((fold, row, p.class, p.confidence));
            }
        }
        let got: Vec<_> = held
            .iter()
            .zip(&expected)
            .map(|(h, e)| (h.fold, e.1, h.predicted, h.outcome.confidence))
            .collect();
        assert_eq!(got, expected);
        for (h, e) in held.iter().zip(&expected) {
            assert_eq!((h.group, h.class), (d.group(e.1), d.label(e.1)));
        }
    }

    fn outcomes(pairs: &[(f64, bool)]) -> Vec<Outcome> {
        pairs
            .iter()
            .map(|&(confidence, correct)| Outcome { confidence, correct })
            .collect()
    }

    #[test]
    fn the_map_is_isotonic_smoothed_and_bounded() {
        // Pure leaves (1.0) right 9 times in 13, each row its own
        // container: a constant raw score is shrunk toward the pooled
        // accuracy, its own: one step, 9/13, not 1.
        let leaves = vec![(1.0, true); 9].into_iter().chain([(1.0, false)]);
        let m = ConfidenceMap::fit(&outcomes(&leaves.clone().chain([(1.0, false); 3]).collect::<Vec<_>>()));
        assert!((m.apply(1.0) - 9.0 / 13.0).abs() < 1e-12, "{m:?}");
        assert_eq!(m.steps(), 1);
        // With lower raw scores beside them (pooled raw 11.6/13), the top
        // step is shrunk toward its raw 1.0 rescaled to the pooled
        // accuracy: 1.0 · (10/13) / (11.6/13) = 10/11.6.
        let mut v: Vec<(f64, bool)> = leaves.collect();
        v.extend([(0.5, false), (0.5, true), (0.6, false)]);
        let m = ConfidenceMap::fit(&outcomes(&v));
        assert!((m.apply(1.0) - (9.0 + 2.0 * 10.0 / 11.6) / 12.0).abs() < 1e-12, "{m:?}");
        // The merged step below (3 rows, 1 right, raw mean 1.6/3).
        let low = (1.0 + 2.0 * (1.6 / 3.0) * 10.0 / 11.6) / 5.0;
        assert!((m.apply(0.55) - low).abs() < 1e-12, "{m:?}");
        assert!(m.apply(0.55) <= m.apply(1.0));
        assert!(m.is_valid());
        assert_eq!(ConfidenceMap::identity().apply(0.3), 0.3);
        let many: Vec<(f64, bool)> = (0..10_000)
            .map(|i| (i as f64 / 10_000.0, i % 3 != 0 || i > 9000))
            .collect();
        let m = ConfidenceMap::fit(&outcomes(&many));
        assert!(m.steps() <= MAX_STEPS && m.is_valid());
    }

    #[test]
    fn a_step_is_shrunk_by_its_containers_not_its_rows() {
        // 400 right rows at raw 0.9 from 4 containers, 200 rows at 0.5 from
        // 10 containers half right: pooled accuracy p = 500/600, pooled raw
        // 460/600. Row-counted, the top step would say 401/402; with 4
        // containers it says (1·4 + 2t)/6, t the step's raw confidence on
        // the scale of the accuracy, 0.9·p/(460/600), at most (G+1)/(G+2).
        let mut v: Vec<(Outcome, usize)> = (0..400)
            .map(|i| {
                (
                    Outcome {
                        confidence: 0.9,
                        correct: true,
                    },
                    i % 4,
                )
            })
            .collect();
        v.extend((0..200).map(|i| {
            (
                Outcome {
                    confidence: 0.5,
                    correct: i % 2 == 0,
                },
                4 + i % 10,
            )
        }));
        let m = ConfidenceMap::fit_grouped(&v);
        let scale = 500.0 / 460.0;
        // 0.9 · scale = 0.978 is over the rule of succession over the 14
        // containers, 15/16: that is the top step's target.
        assert!(0.9 * scale > 15.0 / 16.0);
        assert!((m.apply(1.0) - (4.0 + 2.0 * 15.0 / 16.0) / 6.0).abs() < 1e-12, "{m:?}");
        assert!(
            (m.apply(0.5) - (0.5 * 10.0 + 2.0 * 0.5 * scale) / 12.0).abs() < 1e-12,
            "{m:?}"
        );
        assert!(m.apply(1.0) < 0.995, "{m:?}");
        assert!(m.is_valid());
    }

    #[test]
    fn a_map_reads_the_confidence_of_its_source() {
        let m = ConfidenceMap::fit(&outcomes(&[(0.2, false), (0.2, false), (0.9, true), (0.9, true)]));
        assert_eq!(m.source(), ConfidenceSource::Classifier);
        assert_eq!(m.calibrated(0.9, Some(0.2)), m.apply(0.9));
        let f = m.clone().with_source(ConfidenceSource::OpenSetForest);
        assert_eq!(f.calibrated(0.9, Some(0.2)), m.apply(0.2));
        assert!(f.calibrated(0.9, Some(0.2)) < f.calibrated(0.9, Some(0.9)));
        // Without the forest's probability: the classifier's, unmapped.
        assert_eq!(f.calibrated(0.9, None), 0.9);
    }

    #[test]
    fn out_of_fold_with_a_forest_reads_its_probability_of_the_predicted_class() {
        let d = crate::tree::synth::make(600, 4, 3, 30, 1.0, 0.1, 9);
        let params = crate::tree::TreeParams::default();
        let forest = ForestParams {
            n_trees: 10,
            seed: 3,
            ..ForestParams::default()
        };
        let held = out_of_fold_with(&params, Some(&forest), &d, 3, 7).unwrap();
        let plain = out_of_fold(&params, &d, 3, 7).unwrap();
        assert_eq!(held.len(), d.n_rows());
        let mut rows = Vec::new();
        let mut proba = vec![0.0; d.classes().len()];
        for (fold, (train, test)) in split::grouped_k_fold(&d, 3, 7).unwrap().iter().enumerate() {
            let f = forest.fit(&d.select(train)).unwrap();
            for &row in test {
                f.predict_proba_into(&d.row(row), &mut proba);
                rows.push((fold, row, proba.clone()));
            }
        }
        for ((h, p), (fold, _, proba)) in held.iter().zip(&plain).zip(&rows) {
            // The same classifier's predictions, the forest's confidence.
            assert_eq!(
                (h.fold, h.group, h.predicted, h.outcome.correct),
                (*fold, p.group, p.predicted, p.outcome.correct)
            );
            assert_eq!(h.outcome.confidence, proba[h.predicted]);
        }
        // The tree says 1.0 nearly everywhere; the forest does not.
        let distinct = |v: &[HeldOut]| {
            let mut c: Vec<u64> = v.iter().map(|h| h.outcome.confidence.to_bits()).collect();
            c.sort_unstable();
            c.dedup();
            c.len()
        };
        assert!(
            distinct(&held) > 10 * distinct(&plain),
            "{} {}",
            distinct(&held),
            distinct(&plain)
        );
        let r = cross_fit_with(&params, Some(&forest), &d, 3, 7).unwrap();
        assert_eq!(r.map.source(), ConfidenceSource::OpenSetForest);
        assert_eq!(
            cross_fit(&params, &d, 3, 7).unwrap().map.source(),
            ConfidenceSource::Classifier
        );
    }

    #[test]
    fn ece_of_a_perfectly_calibrated_and_of_an_overconfident_model() {
        // In bin 0.7–0.8: confidence 0.75, right 3 times in 4.
        let good = outcomes(&[(0.75, true), (0.75, true), (0.75, true), (0.75, false)]);
        assert_eq!(ece(&reliability(&good)), Some(0.0));
        let over = outcomes(&[(1.0, true), (1.0, false)]);
        assert_eq!(ece(&reliability(&over)), Some(0.5));
        assert_eq!(ece(&reliability(&[])), None);
        let bins = reliability(&over);
        assert_eq!(bins.len(), ECE_BINS);
        assert_eq!(bins[9].count, 2);
    }

    fn held(group: usize, confidence: f64, correct: bool) -> HeldOut {
        HeldOut {
            fold: group % 5,
            group,
            class: 0,
            predicted: 0,
            outcome: Outcome { confidence, correct },
        }
    }

    #[test]
    fn cross_fitting_does_not_score_a_container_with_its_own_map() {
        // Container 0 has 10 rows, all wrong at 1.0; container 1 has 30, all
        // right. The map fitted on both says 0.75, the accuracy: scored with
        // it, the ECE would be 0. Each container's map comes from the other:
        // for container 0, one right container, (1 + 2 · 2/3) / 3 = 7/9 (the
        // target capped by the rule of succession, 2/3); for container 1,
        // 0.0. Mean confidence 7/36 against an accuracy of 0.75.
        let mut v: Vec<HeldOut> = (0..10).map(|_| held(0, 1.0, false)).collect();
        v.extend((0..30).map(|_| held(1, 1.0, true)));
        let r = calibration_report(&v);
        assert!((r.ece.unwrap() - (0.75 - 7.0 / 36.0)).abs() < 1e-9, "{r:?}");
        assert_eq!((r.containers, r.predictions, r.folds), (2, 40, 2));
        assert!((r.map.apply(1.0) - 0.75).abs() < 1e-12);
    }

    #[test]
    fn a_one_step_map_at_a_bin_edge_is_not_sorted_by_outcome() {
        // 50 containers, 44 right and 6 wrong (accuracy 0.88), one raw
        // confidence: leaving out a wrong container gives 0.898, a right
        // one 0.878 — the same side of the 0.9 edge here, but at accuracy
        // 0.9 they would straddle it. Binned by the shipped confidence, all
        // rows share one bin whatever the cross-fitted values are.
        for (n, wrong) in [(50usize, 6usize), (50, 5), (51, 5)] {
            let v: Vec<HeldOut> = (0..n)
                .flat_map(|g| (0..20).map(move |_| held(g, 1.0, g >= wrong)))
                .collect();
            let r = calibration_report(&v);
            assert_eq!(
                r.bins.iter().filter(|b| b.count > 0).count(),
                1,
                "{n} {wrong}: {:?}",
                r.bins
            );
            assert!(r.ece.unwrap() < 0.01, "{n} {wrong}: {:?}", r.ece);
        }
    }

    #[test]
    fn an_overconfident_score_is_calibrated_out_of_sample() {
        // 60 containers of 40 rows; raw confidence c in [0.5, 1), right with
        // probability c − 0.3 (overconfident by 0.3), drawn by a fixed stream.
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let v: Vec<HeldOut> = (0..60)
            .flat_map(|g| (0..40).map(move |i| (g, i)))
            .map(|(g, _)| {
                let c = 0.5 + 0.5 * next();
                let right = next() < c - 0.3;
                held(g, c, right)
            })
            .collect();
        let r = calibration_report(&v);
        let (raw, cal) = (r.ece_raw.unwrap(), r.ece.unwrap());
        assert!(raw > 0.25, "raw {raw}");
        assert!(cal < 0.05, "calibrated {cal}");
        let [lo, hi] = r.ece_bootstrap.unwrap();
        assert!(lo <= hi && hi < 0.1 && lo > 0.0, "{lo} {hi}");
        // The shipped map brings 0.9 near 0.6.
        assert!((r.map.apply(0.9) - 0.6).abs() < 0.1, "{:?}", r.map);
    }

    #[test]
    fn the_bootstrap_spread_grows_when_errors_come_by_container() {
        // The same 10 % of wrong rows: spread over every container, or all
        // in 4 of 40 containers. A constant raw score: the map says 0.9.
        let spread: Vec<HeldOut> = (0..40)
            .flat_map(|g| (0..50).map(move |i| held(g, 1.0, i % 10 != 0)))
            .collect();
        let clustered: Vec<HeldOut> = (0..40)
            .flat_map(|g| (0..50).map(move |_| held(g, 1.0, g % 10 != 0)))
            .collect();
        let a = calibration_report(&spread).ece_bootstrap.unwrap();
        let b = calibration_report(&clustered).ece_bootstrap.unwrap();
        assert!(b[1] > 2.0 * a[1], "{a:?} {b:?}");
        assert!(calibration_report(&spread[..50]).ece_bootstrap.is_none());
    }
}
