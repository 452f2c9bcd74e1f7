//! Calibrated confidence: a verdict's confidence should be the share of such
//! verdicts that are right.
//!
//! A tree grown until its leaves are pure says 1.00 for every row; a forest's
//! vote share is not a probability either. Both are mapped through an
//! **isotonic** map (pool-adjacent-violators: the best non-decreasing step
//! function from raw confidence to accuracy) fitted on *out-of-fold*
//! predictions of held-out containers (grouped k-fold), with Laplace
//! smoothing of every step (`(right + 1) / (n + 2)`), so a step seen on few
//! rows cannot say 1.00 or 0.00.
//!
//! The expected calibration error (ECE, 10 equal-width bins of confidence:
//! the row-weighted mean of |accuracy − mean confidence| per bin) is
//! measured honestly by cross-fitting: the map that scores fold `f` is fitted
//! on the out-of-fold predictions of the other folds only.

use crate::classifier::{Classifier, Fit, FitError};
use crate::dataset::Dataset;
use crate::split::{self, SplitError};
use serde::{Deserialize, Serialize};

/// Bins of the expected calibration error and the reliability diagram.
pub const ECE_BINS: usize = 10;

/// The most steps a [`ConfidenceMap`] keeps (adjacent steps are merged beyond).
pub const MAX_STEPS: usize = 64;

/// A non-decreasing map from a classifier's raw confidence to a calibrated one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceMap {
    /// Upper raw confidence of each step, ascending; the last covers 1.
    upper: Vec<f64>,
    /// Calibrated confidence of each step, non-decreasing.
    value: Vec<f64>,
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
        }
    }

    /// Fits the isotonic map to `outcomes` (pool-adjacent-violators over rows
    /// sorted by confidence, equal confidences pooled), each step smoothed
    /// to `(right + 1) / (n + 2)`.
    pub fn fit(outcomes: &[Outcome]) -> ConfidenceMap {
        let mut sorted: Vec<(f64, f64)> = outcomes
            .iter()
            .filter(|o| o.confidence.is_finite())
            .map(|o| (o.confidence.clamp(0.0, 1.0), f64::from(u8::from(o.correct))))
            .collect();
        if sorted.is_empty() {
            return ConfidenceMap::identity();
        }
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Blocks: (upper raw confidence, rows, right).
        let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
        for (c, y) in sorted {
            match blocks.last_mut() {
                Some(last) if last.0 == c => {
                    last.1 += 1.0;
                    last.2 += y;
                }
                _ => blocks.push((c, 1.0, y)),
            }
            while blocks.len() >= 2 {
                let n = blocks.len();
                let (a, b) = (blocks[n - 2], blocks[n - 1]);
                if a.2 / a.1 >= b.2 / b.1 {
                    blocks.pop();
                    blocks[n - 2] = (b.0, a.1 + b.1, a.2 + b.2);
                } else {
                    break;
                }
            }
        }
        // Bound the size: merge the adjacent pair with the fewest rows.
        while blocks.len() > MAX_STEPS {
            let i = (0..blocks.len() - 1)
                .min_by(|&i, &j| (blocks[i].1 + blocks[i + 1].1).total_cmp(&(blocks[j].1 + blocks[j + 1].1)))
                .unwrap_or(0);
            let (a, b) = (blocks[i], blocks[i + 1]);
            blocks[i] = (b.0, a.1 + b.1, a.2 + b.2);
            blocks.remove(i + 1);
        }
        let mut value: Vec<f64> = blocks.iter().map(|b| (b.2 + 1.0) / (b.1 + 2.0)).collect();
        // Smoothing can break monotonicity between small blocks: restore it.
        for i in 1..value.len() {
            if value[i] < value[i - 1] {
                value[i] = value[i - 1];
            }
        }
        let mut upper: Vec<f64> = blocks.iter().map(|b| b.0).collect();
        if let Some(last) = upper.last_mut() {
            *last = 1.0;
        }
        ConfidenceMap { upper, value }
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
    let mut sums = vec![(0usize, 0.0, 0usize); ECE_BINS];
    for o in outcomes.iter().filter(|o| o.confidence.is_finite()) {
        let c = o.confidence.clamp(0.0, 1.0);
        let b = ((c * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
        sums[b].0 += 1;
        sums[b].1 += c;
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
    /// ECE of the raw confidences.
    pub ece_raw: Option<f64>,
    /// ECE of the calibrated confidences (each fold mapped by a map fitted
    /// on the other folds).
    pub ece: Option<f64>,
    /// Reliability diagram of the raw confidences.
    pub raw_bins: Vec<ReliabilityBin>,
    /// Reliability diagram of the calibrated confidences.
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

/// Out-of-fold predictions of `params` over grouped `k`-fold (`k` capped at
/// the containers), then the cross-fitted calibration map and its ECE.
pub fn cross_fit<F: Fit>(
    params: &F,
    data: &Dataset,
    k: usize,
    seed: u64,
) -> Result<CalibrationReport, CalibrationError> {
    let groups = split::groups_with_rows(data).len();
    let folds = split::grouped_k_fold(data, k.min(groups), seed).map_err(CalibrationError::Split)?;
    let mut per_fold: Vec<Vec<Outcome>> = Vec::with_capacity(folds.len());
    for (train, test) in &folds {
        let model = params.fit(&data.select(train)).map_err(CalibrationError::Fit)?;
        let test_data = data.select(test);
        let preds = model.predict_dataset(&test_data);
        per_fold.push(
            preds
                .iter()
                .enumerate()
                .map(|(i, p)| Outcome {
                    confidence: p.confidence,
                    correct: p.class == test_data.label(i),
                })
                .collect(),
        );
    }
    Ok(calibration_report(&per_fold))
}

/// The cross-fitted calibration of out-of-fold outcomes grouped by fold.
pub fn calibration_report(per_fold: &[Vec<Outcome>]) -> CalibrationReport {
    let all: Vec<Outcome> = per_fold.iter().flatten().copied().collect();
    let mut mapped = Vec::with_capacity(all.len());
    for (f, fold) in per_fold.iter().enumerate() {
        let others: Vec<Outcome> = per_fold
            .iter()
            .enumerate()
            .filter(|(g, _)| *g != f)
            .flat_map(|(_, o)| o.iter().copied())
            .collect();
        let map = ConfidenceMap::fit(&others);
        mapped.extend(fold.iter().map(|o| Outcome {
            confidence: map.apply(o.confidence),
            correct: o.correct,
        }));
    }
    let raw_bins = reliability(&all);
    let bins = reliability(&mapped);
    CalibrationReport {
        folds: per_fold.len(),
        predictions: all.len(),
        ece_raw: ece(&raw_bins),
        ece: ece(&bins),
        raw_bins,
        bins,
        map: ConfidenceMap::fit(&all),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes(pairs: &[(f64, bool)]) -> Vec<Outcome> {
        pairs
            .iter()
            .map(|&(confidence, correct)| Outcome { confidence, correct })
            .collect()
    }

    #[test]
    fn the_map_is_isotonic_smoothed_and_bounded() {
        // Pure leaves (1.0) right 9 times in 10: the map says 10/12, not 1.
        let mut v = vec![(1.0, true); 9];
        v.push((1.0, false));
        v.extend([(0.5, false), (0.5, true), (0.6, false)]);
        let m = ConfidenceMap::fit(&outcomes(&v));
        assert!((m.apply(1.0) - 10.0 / 12.0).abs() < 1e-12, "{m:?}");
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

    #[test]
    fn cross_fitting_does_not_score_a_fold_with_its_own_map() {
        // Fold 0 is all wrong at 1.0, fold 1 all right: each fold's map comes
        // from the other, so the calibrated ECE stays large — a map fitted on
        // both folds would hide that (ECE near 0.5 either way for pooled).
        let f0 = outcomes(&[(1.0, false); 20]);
        let f1 = outcomes(&[(1.0, true); 20]);
        let r = calibration_report(&[f0, f1]);
        assert!(r.ece.unwrap() > 0.9, "{r:?}");
        assert!((r.map.apply(1.0) - 0.5).abs() < 1e-12);
    }
}
