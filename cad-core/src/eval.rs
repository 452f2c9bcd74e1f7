//! Evaluating learning parameters on a [`Dataset`]: confusion matrix,
//! per-class metrics, a readable and storable [`Report`], and learning
//! curves.
//!
//! Generic over [`Fit`]: any classifier backend can be evaluated.
//!
//! The honest methods are grouped ([`Method::GroupedSplit`],
//! [`Method::GroupedKFold`]): a container's rows are all trained or all
//! tested, which is what recognising a *new* container means.
//! [`Method::LeakyRowSplit`] exists to compare with the old system.

use crate::classifier::{Classifier, Fit, FitError};
use crate::dataset::Dataset;
use crate::openset::confidence::PREDICT_BLOCK;
use crate::split::{self, SplitError, TrainTest};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A class with fewer groups than this gets a warning in a [`Report`].
pub const MIN_GROUPS_PER_CLASS: usize = 3;

/// Why an evaluation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The split could not be made.
    #[error("the evaluation's split failed")]
    Split(#[from] SplitError),
    /// Fitting failed.
    #[error("fitting during the evaluation failed")]
    Fit(#[from] FitError),
    /// A class index outside the class list (from a prediction or a pair).
    #[error("class index {class} is out of range ({n_classes} classes)")]
    ClassOutOfRange {
        /// The index.
        class: usize,
        /// Number of classes.
        n_classes: usize,
    },
    /// A learning curve was asked for no training sizes.
    #[error("no training-set sizes to evaluate")]
    NoSizes,
}

/// Counts of (true class, predicted class) pairs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawMatrix")]
pub struct ConfusionMatrix {
    classes: Vec<String>,
    /// Row-major: `counts[truth * n + predicted]`.
    counts: Vec<u64>,
}

#[derive(Deserialize)]
struct RawMatrix {
    classes: Vec<String>,
    counts: Vec<u64>,
}

impl TryFrom<RawMatrix> for ConfusionMatrix {
    type Error = String;
    fn try_from(r: RawMatrix) -> Result<Self, String> {
        let n = r.classes.len();
        if n.checked_mul(n) != Some(r.counts.len()) {
            return Err(format!("{} counts for {} classes", r.counts.len(), n));
        }
        Ok(ConfusionMatrix {
            classes: r.classes,
            counts: r.counts,
        })
    }
}

/// Precision, recall and F1 of one class. A ratio with a zero denominator is `None`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// The class name.
    pub class: String,
    /// Rows of this class (tested).
    pub support: u64,
    /// Rows predicted as this class.
    pub predicted: u64,
    /// Rows of this class predicted as it.
    pub true_positives: u64,
    /// `true_positives / predicted`.
    pub precision: Option<f64>,
    /// `true_positives / support`.
    pub recall: Option<f64>,
    /// `2 TP / (support + predicted)` — the harmonic mean of precision and
    /// recall, taking an undefined one as 0. `None` when the class has
    /// neither support nor predictions.
    pub f1: Option<f64>,
}

impl ConfusionMatrix {
    /// An all-zero matrix over `classes`.
    pub fn new(classes: Vec<String>) -> Self {
        let n = classes.len();
        ConfusionMatrix {
            classes,
            counts: vec![0; n * n],
        }
    }

    /// A matrix counting `(truth, predicted)` pairs of class indices.
    pub fn from_pairs(
        classes: Vec<String>,
        pairs: impl IntoIterator<Item = (usize, usize)>,
    ) -> Result<Self, EvalError> {
        let mut m = ConfusionMatrix::new(classes);
        for (t, p) in pairs {
            m.add(t, p)?;
        }
        Ok(m)
    }

    /// Counts one (truth, predicted) pair.
    pub fn add(&mut self, truth: usize, predicted: usize) -> Result<(), EvalError> {
        let n = self.classes.len();
        for class in [truth, predicted] {
            if class >= n {
                return Err(EvalError::ClassOutOfRange { class, n_classes: n });
            }
        }
        self.counts[truth * n + predicted] += 1;
        Ok(())
    }

    /// The class names.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// How many rows of class `truth` were predicted as `predicted` (0 out of range).
    pub fn count(&self, truth: usize, predicted: usize) -> u64 {
        let n = self.classes.len();
        if truth >= n || predicted >= n {
            return 0;
        }
        self.counts[truth * n + predicted]
    }

    /// Number of pairs counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Number of pairs on the diagonal.
    pub fn correct(&self) -> u64 {
        (0..self.classes.len()).map(|c| self.count(c, c)).sum()
    }

    /// Rows of class `c`.
    pub fn support(&self, c: usize) -> u64 {
        (0..self.classes.len()).map(|p| self.count(c, p)).sum()
    }

    /// Rows predicted as `c`.
    pub fn predicted(&self, c: usize) -> u64 {
        (0..self.classes.len()).map(|t| self.count(t, c)).sum()
    }

    /// Share of correct predictions; `None` when empty.
    pub fn accuracy(&self) -> Option<f64> {
        let t = self.total();
        (t > 0).then(|| self.correct() as f64 / t as f64)
    }

    /// Metrics of every class, in class order.
    pub fn class_metrics(&self) -> Vec<ClassMetrics> {
        (0..self.classes.len())
            .map(|c| {
                let tp = self.count(c, c);
                let support = self.support(c);
                let predicted = self.predicted(c);
                let ratio = |d: u64| (d > 0).then(|| tp as f64 / d as f64);
                ClassMetrics {
                    class: self.classes[c].clone(),
                    support,
                    predicted,
                    true_positives: tp,
                    precision: ratio(predicted),
                    recall: ratio(support),
                    f1: (support + predicted > 0).then(|| 2.0 * tp as f64 / (support + predicted) as f64),
                }
            })
            .collect()
    }

    /// Unweighted mean of the classes' F1. Classes with no support and no
    /// predictions are left out (they say nothing about this test set);
    /// a class with support but no predictions counts with F1 = 0, and so
    /// does a class predicted but absent. `None` when empty.
    pub fn macro_f1(&self) -> Option<f64> {
        let f1s: Vec<f64> = self.class_metrics().iter().filter_map(|m| m.f1).collect();
        (!f1s.is_empty()).then(|| f1s.iter().sum::<f64>() / f1s.len() as f64)
    }

    /// The per-class table (precision, recall, F1, support) as a [`fmt::Display`].
    pub fn per_class_table(&self) -> PerClassTable<'_> {
        PerClassTable(self)
    }
}

/// Weka's letter for class `i`: `a`…`z`, then `c26`, `c27`, ….
fn letter(i: usize) -> String {
    match u8::try_from(i) {
        Ok(b) if b < 26 => char::from(b'a' + b).to_string(),
        _ => format!("c{i}"),
    }
}

/// Classes up to which [`ConfusionMatrix`]'s text shows the matrix; past it
/// the text says where the numbers are instead of printing n² of them.
pub const MAX_TEXT_CLASSES: usize = 30;

/// Like Weka's "=== Confusion Matrix ===": rows are true classes, columns predictions.
impl fmt::Display for ConfusionMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.classes.len();
        if n > MAX_TEXT_CLASSES {
            writeln!(f, "=== Confusion Matrix ===")?;
            writeln!(f)?;
            return writeln!(
                f,
                "({n} classes are too many to print here; report.json has the matrix, \
                 the table above has each class's precision and recall)"
            );
        }
        let letters: Vec<String> = (0..n).map(letter).collect();
        let w = self
            .counts
            .iter()
            .map(|c| c.to_string().len())
            .chain(letters.iter().map(String::len))
            .max()
            .unwrap_or(1)
            + 1;
        writeln!(f, "=== Confusion Matrix ===")?;
        writeln!(f)?;
        for l in &letters {
            write!(f, " {l:>w$}")?;
        }
        writeln!(f, "   <-- classified as")?;
        for (t, l) in letters.iter().enumerate() {
            for p in 0..n {
                write!(f, " {:>w$}", self.count(t, p))?;
            }
            writeln!(f, " | {l:>w$} = {}", self.classes[t])?;
        }
        Ok(())
    }
}

/// The per-class table of a [`ConfusionMatrix`], see [`ConfusionMatrix::per_class_table`].
pub struct PerClassTable<'a>(&'a ConfusionMatrix);

fn opt3(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"))
}

impl fmt::Display for PerClassTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        let metrics = m.class_metrics();
        let w = metrics.iter().map(|c| c.class.len()).chain([9]).max().unwrap_or(9);
        writeln!(f, "=== Detailed Accuracy By Class ===")?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<w$}  {:>9}  {:>6}  {:>6}  {:>8}  {:>9}",
            "class", "precision", "recall", "F1", "support", "predicted"
        )?;
        for c in &metrics {
            writeln!(
                f,
                "{:<w$}  {:>9}  {:>6}  {:>6}  {:>8}  {:>9}",
                c.class,
                opt3(c.precision),
                opt3(c.recall),
                opt3(c.f1),
                c.support,
                c.predicted
            )?;
        }
        writeln!(
            f,
            "{:<w$}  {:>9}  {:>6}  {:>6}  {:>8}",
            "macro avg",
            "",
            "",
            opt3(m.macro_f1()),
            m.total()
        )
    }
}

/// How rows are split into training and test data.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Method {
    /// [`split::random_row_split`] — LEAKY, for comparison with the old system only.
    LeakyRowSplit {
        /// Share of rows used for training.
        train_ratio: f64,
        /// Seed of the shuffle.
        seed: u64,
    },
    /// [`split::grouped_split`]: one train/test split by group.
    GroupedSplit {
        /// Share of each class's groups used for testing.
        test_ratio: f64,
        /// Seed of the shuffle.
        seed: u64,
    },
    /// [`split::grouped_k_fold`]: predictions of all folds pooled into one matrix.
    GroupedKFold {
        /// Number of folds.
        k: usize,
        /// Seed of the shuffle.
        seed: u64,
    },
}

impl Method {
    /// Whether all rows of a group stay on one side.
    pub fn is_grouped(&self) -> bool {
        !matches!(self, Method::LeakyRowSplit { .. })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Method::LeakyRowSplit { train_ratio, seed } => write!(
                f,
                "LEAKY random row split, {:.0} % of rows for training (seed {seed})",
                train_ratio * 100.0
            ),
            Method::GroupedSplit { test_ratio, seed } => write!(
                f,
                "grouped split, {:.0} % of each class's containers for testing (seed {seed})",
                test_ratio * 100.0
            ),
            Method::GroupedKFold { k, seed } => write!(f, "grouped {k}-fold cross-validation (seed {seed})"),
        }
    }
}

/// The result of [`evaluate`]: readable with `Display`, storable with serde.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// How the data was split.
    pub method: Method,
    /// Test predictions (pooled over folds for k-fold).
    pub matrix: ConfusionMatrix,
    /// Share of correct test predictions (`None` if nothing was tested).
    pub accuracy: Option<f64>,
    /// See [`ConfusionMatrix::macro_f1`].
    pub macro_f1: Option<f64>,
    /// Per-class metrics, in class order.
    pub per_class: Vec<ClassMetrics>,
    /// Rows in the data set.
    pub rows: usize,
    /// Groups (containers) with rows in the data set.
    pub groups: usize,
    /// The units the grouped splits dealt: the groups, the containers of
    /// one replica set counted once ([`split::fold_units`]; 0 in reports
    /// written before it was counted).
    #[serde(default)]
    pub fold_units: usize,
    /// For each class, the number of groups with a row of that class.
    pub groups_per_class: Vec<usize>,
    /// Number of train/test rounds (1, or k).
    pub rounds: usize,
    /// Rows trained on, summed over rounds.
    #[serde(default)]
    pub train_rows: usize,
    /// Rows tested on, summed over rounds.
    #[serde(default)]
    pub test_rows: usize,
    /// Wall time spent fitting, summed over rounds (a measurement, not a test).
    #[serde(default)]
    pub fit_seconds: f64,
    /// Wall time spent predicting the test rows' classes
    /// ([`Classifier::predict_classes`]),
    /// summed over rounds.
    #[serde(default)]
    pub predict_seconds: f64,
    /// What the figures cannot be trusted for.
    pub warnings: Vec<String>,
}

impl Report {
    /// Mean prediction time per test row, in nanoseconds (`None` if nothing was tested).
    pub fn predict_ns_per_row(&self) -> Option<f64> {
        (self.test_rows > 0).then(|| self.predict_seconds * 1e9 / self.test_rows as f64)
    }

    /// The short form stored in a model bundle.
    pub fn summary(&self) -> crate::bundle::EvaluationSummary {
        crate::bundle::EvaluationSummary {
            method: self.method.to_string(),
            accuracy: self.accuracy,
            macro_f1: self.macro_f1,
            train_rows: self.train_rows,
            test_rows: self.test_rows,
            groups: self.groups,
            warnings: self.warnings.clone(),
            report: self.to_string(),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "=== Evaluation: {} ===", self.method)?;
        writeln!(f)?;
        let together = if self.method.is_grouped() && (1..self.groups).contains(&self.fold_units) {
            format!(
                ", split as {} (the replicas of a ReplicaSet on one side)",
                self.fold_units
            )
        } else {
            String::new()
        };
        writeln!(
            f,
            "Data:      {} rows in {} groups (containers){together}; {} test predictions in {} round(s)",
            self.rows,
            self.groups,
            self.matrix.total(),
            self.rounds
        )?;
        let per_class: Vec<String> = self
            .matrix
            .classes()
            .iter()
            .zip(&self.groups_per_class)
            .map(|(c, g)| format!("{c} {g}"))
            .collect();
        writeln!(f, "Groups:    {}", per_class.join(", "))?;
        match self.accuracy {
            Some(a) => writeln!(
                f,
                "Accuracy:  {:.2} % ({} of {})",
                a * 100.0,
                self.matrix.correct(),
                self.matrix.total()
            )?,
            None => writeln!(f, "Accuracy:  - (nothing tested)")?,
        }
        writeln!(f, "Macro F1:  {}", opt3(self.macro_f1))?;
        if !self.warnings.is_empty() {
            writeln!(f)?;
            writeln!(f, "Warnings:")?;
            for w in &self.warnings {
                writeln!(f, "  - {w}")?;
            }
        }
        writeln!(f)?;
        write!(f, "{}", self.matrix.per_class_table())?;
        writeln!(f)?;
        write!(f, "{}", self.matrix)
    }
}

/// For each class, the number of groups that have a row of it.
pub fn groups_per_class(data: &Dataset) -> Vec<usize> {
    let mut seen = std::collections::HashSet::new();
    let mut out = vec![0usize; data.classes().len()];
    for (&l, &g) in data.labels().iter().zip(data.groups()) {
        if seen.insert((l, g))
            && let Some(c) = out.get_mut(l as usize)
        {
            *c += 1;
        }
    }
    out
}

fn splits_for(data: &Dataset, method: Method) -> Result<Vec<TrainTest>, SplitError> {
    match method {
        Method::LeakyRowSplit { train_ratio, seed } => {
            Ok(vec![split::random_row_split(data.n_rows(), train_ratio, seed)?])
        }
        Method::GroupedSplit { test_ratio, seed } => Ok(vec![split::grouped_split(data, test_ratio, seed)?]),
        Method::GroupedKFold { k, seed } => split::grouped_k_fold(data, k, seed),
    }
}

fn class_flags(data: &Dataset, rows: &[usize]) -> Vec<bool> {
    let mut f = vec![false; data.classes().len()];
    for &r in rows {
        if let Some(x) = f.get_mut(data.label(r)) {
            *x = true;
        }
    }
    f
}

/// Fits `params` on the training side(s) of `method` and tests on the test
/// side(s). Deterministic given the seeds.
pub fn evaluate<F: Fit>(params: &F, data: &Dataset, method: Method) -> Result<Report, EvalError> {
    let splits = splits_for(data, method)?;
    let n_classes = data.classes().len();
    let mut matrix = ConfusionMatrix::new(data.classes().to_vec());
    // Whether some round both trained on and tested a class.
    let mut trained_and_tested = vec![false; n_classes];
    let mut tested = vec![false; n_classes];
    let (mut train_rows, mut test_rows, mut fit_seconds, mut predict_seconds) = (0, 0, 0.0, 0.0);
    for (train, test) in &splits {
        tracing::debug!(train = train.len(), test = test.len(), "evaluation round");
        let started = std::time::Instant::now();
        // In place where the learner can (no copy of the training side).
        let model = params.fit_rows(data, train)?;
        fit_seconds += started.elapsed().as_secs_f64();
        // A block of test rows copied at a time, not the whole test side
        // (that copy was the training's peak of memory: BENCHMARKS.md,
        // issue 20); prediction is row by row, so the predictions are those
        // of the whole side at once. Only the prediction is timed.
        for block in test.chunks(PREDICT_BLOCK) {
            let block_data = data.select(block);
            let started = std::time::Instant::now();
            let predictions = model.predict_classes(&block_data);
            predict_seconds += started.elapsed().as_secs_f64();
            for (&r, &p) in block.iter().zip(&predictions) {
                matrix.add(data.label(r), p as usize)?;
            }
        }
        train_rows += train.len();
        test_rows += test.len();
        let in_train = class_flags(data, train);
        let in_test = class_flags(data, test);
        for c in 0..n_classes {
            trained_and_tested[c] |= in_train[c] && in_test[c];
            tested[c] |= in_test[c];
        }
    }
    let gpc = groups_per_class(data);
    let mut warnings = Vec::new();
    if !method.is_grouped() {
        warnings.push(
            "LEAKY: rows of one container are on both sides of the split, so this measures recognising \
             containers already seen, not new ones; use a grouped method for a real estimate"
                .to_string(),
        );
    }
    for (c, name) in data.classes().iter().enumerate() {
        let g = gpc[c];
        if g == 0 {
            warnings.push(format!("class {name} has no rows"));
        } else if method.is_grouped() && !trained_and_tested[c] {
            let what = if tested[c] {
                "it is only tested, never trained on, so every test row of it is necessarily wrong"
            } else {
                "it is only trained on, never tested"
            };
            warnings.push(format!(
                "class {name} has {g} container(s) and is never both trained and tested: {what}; \
                 this evaluation says nothing about it"
            ));
        } else if g < MIN_GROUPS_PER_CLASS {
            warnings.push(format!(
                "class {name} has only {g} container(s): a grouped evaluation cannot say anything reliable about it"
            ));
        }
    }
    let groups = split::groups_with_rows(data).len();
    let fold_units = split::fold_units(data);
    Ok(Report {
        method,
        accuracy: matrix.accuracy(),
        macro_f1: matrix.macro_f1(),
        per_class: matrix.class_metrics(),
        matrix,
        rows: data.n_rows(),
        groups,
        fold_units,
        groups_per_class: gpc,
        rounds: splits.len(),
        train_rows,
        test_rows,
        fit_seconds,
        predict_seconds,
        warnings,
    })
}

/// One point of a learning curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Training rows used.
    pub train_rows: usize,
    /// Accuracy on the fixed test side.
    pub accuracy: f64,
}

/// Which training-set sizes a learning curve evaluates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CurveSizes {
    /// These sizes (cut to the training side; zeros and repeats dropped).
    Exact(Vec<usize>),
    /// About this many sizes, spaced geometrically from 1 row to the whole
    /// training side, see [`spaced_sizes`].
    About(usize),
}

/// About `points` sizes from 1 to `max`, geometrically spaced (dense at
/// the start, where accuracy changes fastest), always including 1 and `max`.
pub fn spaced_sizes(max: usize, points: usize) -> Vec<usize> {
    if max == 0 || points == 0 {
        return Vec::new();
    }
    if points == 1 {
        return vec![max];
    }
    let ratio = (max as f64).ln() / (points - 1) as f64;
    let mut out: Vec<usize> = (0..points)
        .map(|i| ((ratio * i as f64).exp().round() as usize).clamp(1, max))
        .collect();
    out.push(max);
    out.dedup();
    out
}

/// Accuracy as the training set grows: the test side is fixed by
/// [`split::grouped_split`]`(data, test_ratio, seed)`; the training side is
/// shuffled (seeded) and each point trains on its first `train_rows` rows.
pub fn learning_curve<F: Fit>(
    params: &F,
    data: &Dataset,
    sizes: &CurveSizes,
    test_ratio: f64,
    seed: u64,
) -> Result<Vec<CurvePoint>, EvalError> {
    let (mut train, test) = split::grouped_split(data, test_ratio, seed)?;
    train.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x6c65_6172_6e5f_6375));
    let mut sizes: Vec<usize> = match sizes {
        CurveSizes::Exact(s) => s.iter().map(|&s| s.min(train.len())).filter(|&s| s > 0).collect(),
        CurveSizes::About(n) => spaced_sizes(train.len(), *n),
    };
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.is_empty() {
        return Err(EvalError::NoSizes);
    }
    let test_data = data.select(&test);
    sizes
        .into_iter()
        .map(|s| {
            let model = params.fit_rows(data, &train[..s])?;
            let mut m = ConfusionMatrix::new(data.classes().to_vec());
            for (i, &p) in model.predict_classes(&test_data).iter().enumerate() {
                m.add(test_data.label(i), p as usize)?;
            }
            Ok(CurvePoint {
                train_rows: s,
                accuracy: m.accuracy().unwrap_or(0.0),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::Prediction;

    /// 1-nearest-neighbour on standardised features (missing = the mean): a
    /// tiny classifier for testing the evaluation without a real backend.
    #[derive(Clone, Debug, Serialize, Deserialize)]
    struct OneNn;

    #[derive(Clone, Debug, Serialize, Deserialize)]
    struct OneNnModel {
        n_classes: usize,
        mean: Vec<f64>,
        scale: Vec<f64>,
        rows: Vec<Vec<f64>>,
        labels: Vec<usize>,
    }

    impl OneNnModel {
        fn scaled(&self, row: &[Option<f64>]) -> Vec<f64> {
            (0..self.mean.len())
                .map(|j| match row.get(j).copied().flatten() {
                    Some(v) => (v - self.mean[j]) / self.scale[j],
                    None => 0.0,
                })
                .collect()
        }
    }

    impl Fit for OneNn {
        type Model = OneNnModel;
        fn fit(&self, data: &Dataset) -> Result<OneNnModel, FitError> {
            if data.is_empty() {
                return Err(FitError::Empty);
            }
            let w = data.n_features();
            let mut mean = vec![0.0; w];
            let mut scale = vec![0.0; w];
            for j in 0..w {
                let vals: Vec<f64> = (0..data.n_rows()).filter_map(|i| data.value(i, j)).collect();
                let n = vals.len().max(1) as f64;
                mean[j] = vals.iter().sum::<f64>() / n;
                let var = vals.iter().map(|v| (v - mean[j]).powi(2)).sum::<f64>() / n;
                scale[j] = if var > 0.0 { var.sqrt() } else { 1.0 };
            }
            let mut m = OneNnModel {
                n_classes: data.classes().len(),
                mean,
                scale,
                rows: Vec::new(),
                labels: data.labels().iter().map(|&l| l as usize).collect(),
            };
            m.rows = (0..data.n_rows()).map(|i| m.scaled(&data.row(i))).collect();
            Ok(m)
        }
    }

    impl Classifier for OneNnModel {
        fn n_features(&self) -> usize {
            self.mean.len()
        }
        fn n_classes(&self) -> usize {
            self.n_classes
        }
        fn predict(&self, row: &[Option<f64>]) -> Prediction {
            let x = self.scaled(row);
            let dist = |r: &Vec<f64>| r.iter().zip(&x).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
            let best = (0..self.rows.len())
                .min_by(|&a, &b| dist(&self.rows[a]).total_cmp(&dist(&self.rows[b])))
                .unwrap_or(0);
            Prediction {
                class: self.labels.get(best).copied().unwrap_or(0),
                confidence: 1.0,
            }
        }
        fn predict_proba_into(&self, row: &[Option<f64>], out: &mut [f64]) {
            let c = self.predict(row).class;
            out.iter_mut()
                .enumerate()
                .for_each(|(i, p)| *p = f64::from(u8::from(i == c)));
        }
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn metrics_on_a_hand_checked_matrix() {
        // truth a: 3 → a, 1 → b; truth b: 2 → b; truth c: 1 → a. No row is predicted c.
        let pairs = [(0, 0), (0, 0), (0, 0), (0, 1), (1, 1), (1, 1), (2, 0)];
        let m = ConfusionMatrix::from_pairs(names(&["a", "b", "c", "d"]), pairs).unwrap();
        assert_eq!(m.total(), 7);
        assert_eq!(m.correct(), 5);
        assert_eq!(m.accuracy(), Some(5.0 / 7.0));
        let cm = m.class_metrics();
        // a: tp 3, support 4, predicted 4.
        assert_eq!((cm[0].support, cm[0].predicted, cm[0].true_positives), (4, 4, 3));
        assert_eq!(cm[0].precision, Some(0.75));
        assert_eq!(cm[0].recall, Some(0.75));
        assert_eq!(cm[0].f1, Some(0.75));
        // b: tp 2, support 2, predicted 3: precision 2/3, recall 1, F1 0.8.
        assert_eq!(cm[1].precision, Some(2.0 / 3.0));
        assert_eq!(cm[1].recall, Some(1.0));
        assert!((cm[1].f1.unwrap() - 0.8).abs() < 1e-12);
        // c: support 1, never predicted: precision undefined, F1 0.
        assert_eq!(cm[2].precision, None);
        assert_eq!(cm[2].recall, Some(0.0));
        assert_eq!(cm[2].f1, Some(0.0));
        // d: no support, no predictions: excluded from macro F1.
        assert_eq!(cm[3].f1, None);
        assert!((m.macro_f1().unwrap() - (0.75 + 0.8 + 0.0) / 3.0).abs() < 1e-12);
        assert_eq!(
            ConfusionMatrix::from_pairs(names(&["a"]), [(0, 1)]),
            Err(EvalError::ClassOutOfRange { class: 1, n_classes: 1 })
        );
        assert_eq!(ConfusionMatrix::new(names(&["a"])).accuracy(), None);
        assert_eq!(ConfusionMatrix::new(names(&["a"])).macro_f1(), None);
    }

    #[test]
    fn the_matrix_renders_like_weka() {
        let m = ConfusionMatrix::from_pairs(names(&["mysql", "nginx"]), [(0, 0), (0, 1), (1, 1)]).unwrap();
        let text = m.to_string();
        assert_eq!(
            text,
            "=== Confusion Matrix ===\n\n  a  b   <-- classified as\n  1  1 |  a = mysql\n  0  1 |  b = nginx\n"
        );
        let table = m.per_class_table().to_string();
        assert!(
            table.contains("mysql          1.000   0.500   0.667         2          1"),
            "{table}"
        );
        let mut widths = table.lines().skip(2).map(str::len);
        let first = widths.next().unwrap();
        assert!(widths.take(2).all(|w| w == first), "{table}");
        // Many classes: a line saying where the numbers are, not n² of them.
        let many: Vec<String> = (0..=MAX_TEXT_CLASSES).map(|i| format!("c{i}")).collect();
        let text = ConfusionMatrix::new(many).to_string();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.contains("report.json"), "{text}");
    }

    /// Data with `groups[i] = (class, rows)`; feature = class * 100 + small noise.
    fn data(groups: &[(usize, usize)]) -> Dataset {
        let classes = ["a", "b", "c"];
        let mut d = Dataset::new(vec!["x".into()], names(&classes));
        for (g, &(c, rows)) in groups.iter().enumerate() {
            for r in 0..rows {
                d.push(&[Some(c as f64 * 100.0 + r as f64)], classes[c], &format!("g{g}"))
                    .unwrap();
            }
        }
        d
    }

    /// The report says how many units the folds dealt when replicas of one
    /// set were kept together, and nothing more when none were.
    #[test]
    fn the_report_counts_replica_sets_once() {
        let mut d = data(&[(0, 4), (0, 4), (0, 4), (0, 4), (1, 4), (1, 4), (1, 4)]);
        let plain = evaluate(&OneNn, &d, Method::GroupedKFold { k: 2, seed: 7 }).unwrap();
        assert_eq!((plain.groups, plain.fold_units), (7, 7));
        assert!(!plain.to_string().contains("split as"), "{plain}");
        for g in 0..3 {
            d.set_replica_set(g, "ns/web-7c5ddbdf54/web").unwrap();
        }
        let r = evaluate(&OneNn, &d, Method::GroupedKFold { k: 2, seed: 7 }).unwrap();
        assert_eq!((r.groups, r.fold_units), (7, 5));
        assert!(
            r.to_string()
                .contains("in 7 groups (containers), split as 5 (the replicas of a ReplicaSet on one side);"),
            "{r}"
        );
    }

    #[test]
    fn classes_with_few_groups_are_warned_about() {
        // a: 3 groups, b: 2 groups, c: 1 group.
        let d = data(&[(0, 4), (0, 4), (0, 4), (1, 4), (1, 4), (2, 4)]);
        let r = evaluate(&OneNn, &d, Method::GroupedKFold { k: 2, seed: 7 }).unwrap();
        assert_eq!(r.matrix.total() as usize, d.n_rows());
        assert_eq!(r.groups_per_class, [3, 2, 1]);
        assert!(!r.warnings.iter().any(|w| w.contains("class a ")), "{:?}", r.warnings);
        assert!(
            r.warnings.iter().any(|w| w.contains("class b has only 2")),
            "{:?}",
            r.warnings
        );
        let c = r.warnings.iter().find(|w| w.contains("class c ")).unwrap();
        assert!(
            c.contains("never both trained and tested") && c.contains("only tested"),
            "{c}"
        );
        // The single c group is always tested without training: its rows are all wrong.
        assert_eq!(r.matrix.count(2, 2), 0);

        let r = evaluate(
            &OneNn,
            &d,
            Method::GroupedSplit {
                test_ratio: 0.3,
                seed: 1,
            },
        )
        .unwrap();
        let c = r.warnings.iter().find(|w| w.contains("class c ")).unwrap();
        assert!(c.contains("only trained on"), "{c}");
        assert_eq!(r.matrix.support(2), 0);

        let r = evaluate(
            &OneNn,
            &d,
            Method::LeakyRowSplit {
                train_ratio: 0.7,
                seed: 1,
            },
        )
        .unwrap();
        assert!(r.warnings[0].starts_with("LEAKY"));
        assert!(
            r.warnings.iter().any(|w| w.contains("class c has only 1")),
            "{:?}",
            r.warnings
        );
    }

    #[test]
    fn reports_round_trip_through_serde_and_render() {
        let d = data(&[(0, 3), (0, 3), (1, 3), (1, 3)]);
        let r = evaluate(&OneNn, &d, Method::GroupedKFold { k: 2, seed: 3 }).unwrap();
        let json = serde_json::to_string(&r).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let text = r.to_string();
        for part in [
            "grouped 2-fold",
            "=== Confusion Matrix ===",
            "=== Detailed Accuracy By Class ===",
            "Warnings:",
        ] {
            assert!(text.contains(part), "{part} missing in\n{text}");
        }
        // A stored matrix whose counts do not fit its classes is rejected, not trusted.
        let bad = json.replacen("\"counts\":[", "\"counts\":[1,", 1);
        assert!(serde_json::from_str::<Report>(&bad).is_err());
    }

    #[test]
    fn learning_curve_grows_to_the_training_side() {
        let d = data(&[(0, 10), (0, 10), (0, 10), (1, 10), (1, 10), (1, 10)]);
        let (train, _) = split::grouped_split(&d, 0.34, 5).unwrap();
        let pts = learning_curve(&OneNn, &d, &CurveSizes::About(5), 0.34, 5).unwrap();
        assert_eq!(pts.first().unwrap().train_rows, 1);
        assert_eq!(pts.last().unwrap().train_rows, train.len());
        assert!(pts.windows(2).all(|w| w[0].train_rows < w[1].train_rows));
        assert!(pts.iter().all(|p| (0.0..=1.0).contains(&p.accuracy)));
        // Classes are far apart: with the whole training side 1-NN is perfect.
        assert_eq!(pts.last().unwrap().accuracy, 1.0);
        let exact = learning_curve(&OneNn, &d, &CurveSizes::Exact(vec![0, 3, 3, 10_000]), 0.34, 5).unwrap();
        assert_eq!(exact.iter().map(|p| p.train_rows).collect::<Vec<_>>(), [3, train.len()]);
        assert_eq!(
            learning_curve(&OneNn, &d, &CurveSizes::Exact(vec![0]), 0.34, 5),
            Err(EvalError::NoSizes)
        );
        assert_eq!(spaced_sizes(1000, 4), [1, 10, 100, 1000]);
        assert_eq!(spaced_sizes(3, 10), [1, 2, 3]);
        assert_eq!(spaced_sizes(0, 10), Vec::<usize>::new());
    }

    #[test]
    #[cfg(feature = "io")]
    fn the_old_systems_data_grouped_versus_leaky() {
        let Some(path) = crate::test_data::real_data_file("container-metrics-only-numbers-no-image-size.arff") else {
            return;
        };
        let d = crate::io::arff::from_path(&path).unwrap().data;
        let grouped = evaluate(&OneNn, &d, Method::GroupedKFold { k: 3, seed: 42 }).unwrap();
        let leaky = evaluate(
            &OneNn,
            &d,
            Method::LeakyRowSplit {
                train_ratio: 0.66,
                seed: 42,
            },
        )
        .unwrap();
        println!("{grouped}\n{leaky}");
        assert_eq!(grouped.matrix.total() as usize, d.n_rows());
        let (_, test) = split::random_row_split(d.n_rows(), 0.66, 42).unwrap();
        assert_eq!(leaky.matrix.total() as usize, test.len());
        assert!(leaky.accuracy.unwrap() >= grouped.accuracy.unwrap());
        // Every class with fewer than 3 containers is named in a warning.
        let gpc = groups_per_class(&d);
        for (c, name) in d.classes().iter().enumerate() {
            let warned = grouped.warnings.iter().any(|w| w.contains(&format!("class {name} ")));
            assert_eq!(warned, gpc[c] < MIN_GROUPS_PER_CLASS, "{name}: {:?}", grouped.warnings);
        }
    }
}
