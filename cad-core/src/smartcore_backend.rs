//! smartcore 0.7's CART decision tree behind our [`Fit`] / [`Classifier`] traits.
//!
//! A second backend, used to cross-check our own [`crate::tree`] on the same
//! data. Its limits (why it is not the default): smartcore's `predict_proba`
//! gives 1 for the predicted class and 0 for the others even in mixed leaves,
//! so the confidence reported here is always 1; and its training time grows
//! about quadratically with the rows. smartcore has no notion of a missing
//! value, so missing values are imputed with the training column's median
//! (stored in the model; 0 for a column with no values).

use crate::classifier::{Classifier, Fit, FitError, Prediction};
use crate::dataset::Dataset;
use crate::tree::{Criterion, check_data};
use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_classifier::{
    DecisionTreeClassifier, DecisionTreeClassifierParameters, SplitCriterion,
};

type Inner = DecisionTreeClassifier<f64, u32, DenseMatrix<f64>, Vec<u32>>;

/// Parameters of a [`SmartcoreTree`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SmartcoreTreeParams {
    /// Maximum depth; `None` grows until pure.
    pub max_depth: Option<u16>,
    /// A node with fewer rows is not split.
    pub min_samples_split: usize,
    /// Each leaf has at least this many rows.
    pub min_samples_leaf: usize,
    /// Split quality measure.
    pub criterion: Criterion,
    /// smartcore's seed.
    pub seed: u64,
}

impl Default for SmartcoreTreeParams {
    fn default() -> Self {
        SmartcoreTreeParams {
            max_depth: None,
            min_samples_split: 2,
            min_samples_leaf: 1,
            criterion: Criterion::Gini,
            seed: 0,
        }
    }
}

/// A fitted smartcore decision tree with the medians it imputes missing values with.
///
/// Cloning shares the fitted tree (smartcore's is not `Clone`; it is never
/// changed after fitting).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SmartcoreTree {
    n_classes: usize,
    medians: Vec<f64>,
    #[serde(with = "shared")]
    inner: std::sync::Arc<Inner>,
}

/// Serde for the shared tree: written and read as the tree itself, so the
/// bundle format does not change.
mod shared {
    use super::Inner;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::sync::Arc;

    pub fn serialize<S: Serializer>(inner: &Arc<Inner>, s: S) -> Result<S::Ok, S::Error> {
        Inner::serialize(inner, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<Inner>, D::Error> {
        Inner::deserialize(d).map(Arc::new)
    }
}

fn backend(e: impl Into<crate::source::BoxError>) -> FitError {
    FitError::backend(e)
}

impl Fit for SmartcoreTreeParams {
    type Model = SmartcoreTree;

    fn fit(&self, data: &Dataset) -> Result<SmartcoreTree, FitError> {
        check_data(data, None)?;
        let (n, w) = (data.n_rows(), data.n_features());
        let medians: Vec<f64> = (0..w)
            .map(|f| {
                let mut v: Vec<f64> = (0..n).map(|r| data.raw_row(r)[f]).filter(|x| !x.is_nan()).collect();
                if v.is_empty() {
                    return 0.0;
                }
                v.sort_unstable_by(f64::total_cmp);
                v[v.len() / 2]
            })
            .collect();
        let mut values = Vec::with_capacity(n * w);
        for r in 0..n {
            values.extend(
                data.raw_row(r)
                    .iter()
                    .zip(&medians)
                    .map(|(&x, &m)| if x.is_nan() { m } else { x }),
            );
        }
        let x = DenseMatrix::new(n, w, values, false).map_err(backend)?;
        let y: Vec<u32> = data.labels().to_vec();
        let params = DecisionTreeClassifierParameters {
            criterion: match self.criterion {
                Criterion::Gini => SplitCriterion::Gini,
                Criterion::Entropy => SplitCriterion::Entropy,
            },
            max_depth: self.max_depth,
            min_samples_leaf: self.min_samples_leaf,
            min_samples_split: self.min_samples_split,
            seed: Some(self.seed),
        };
        let inner = Inner::fit(&x, &y, params).map_err(backend)?;
        Ok(SmartcoreTree {
            n_classes: data.classes().len(),
            medians,
            inner: std::sync::Arc::new(inner),
        })
    }
}

impl SmartcoreTree {
    fn matrix(&self, rows: usize, values: Vec<f64>) -> Option<DenseMatrix<f64>> {
        DenseMatrix::new(rows, self.medians.len(), values, false).ok()
    }

    fn impute(&self, value: impl Fn(usize) -> Option<f64>, out: &mut Vec<f64>) {
        out.extend(
            self.medians
                .iter()
                .enumerate()
                .map(|(f, &m)| value(f).filter(|x| x.is_finite()).unwrap_or(m)),
        );
    }

    fn predict_matrix(&self, x: &DenseMatrix<f64>) -> Option<Vec<u32>> {
        self.inner.predict(x).ok()
    }
}

impl Classifier for SmartcoreTree {
    fn n_features(&self) -> usize {
        self.medians.len()
    }

    fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// The class smartcore predicts, with confidence 1 (smartcore's 0/1
    /// `predict_proba`); class 0 with confidence 0 if smartcore fails.
    fn predict(&self, row: &[Option<f64>]) -> Prediction {
        let mut v = Vec::with_capacity(self.medians.len());
        self.impute(|f| row.get(f).copied().flatten(), &mut v);
        let class = self
            .matrix(1, v)
            .and_then(|x| self.predict_matrix(&x))
            .and_then(|p| p.first().copied());
        match class {
            Some(c) if (c as usize) < self.n_classes => Prediction {
                class: c as usize,
                confidence: 1.0,
            },
            _ => Prediction {
                class: 0,
                confidence: 0.0,
            },
        }
    }

    fn predict_proba_into(&self, row: &[Option<f64>], out: &mut [f64]) {
        let p = self.predict(row);
        for (i, o) in out.iter_mut().enumerate() {
            *o = if i == p.class { p.confidence } else { 0.0 };
        }
    }

    fn predict_dataset(&self, data: &Dataset) -> Vec<Prediction> {
        let n = data.n_rows();
        let mut values = Vec::with_capacity(n * self.medians.len());
        for r in 0..n {
            let row = data.raw_row(r);
            self.impute(|f| row.get(f).copied().filter(|x| !x.is_nan()), &mut values);
        }
        let classes = self.matrix(n, values).and_then(|x| self.predict_matrix(&x));
        match classes {
            Some(c) if c.shape() == n => c
                .iter()
                .map(|&c| Prediction {
                    class: c as usize,
                    confidence: if (c as usize) < self.n_classes { 1.0 } else { 0.0 },
                })
                .collect(),
            _ => vec![
                Prediction {
                    class: 0,
                    confidence: 0.0
                };
                n
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::TreeParams;
    use crate::tree::synth::{accuracy, grouped_split, make};

    #[test]
    fn agrees_with_our_tree_on_synthetic_data() {
        let d = make(4000, 8, 4, 40, 2.0, 0.02, 21);
        let (train, test) = grouped_split(&d);
        let ours = TreeParams::default().fit(&train).unwrap();
        let theirs = SmartcoreTreeParams::default().fit(&train).unwrap();
        let (a, b) = (accuracy(&ours, &test), accuracy(&theirs, &test));
        assert!((a - b).abs() < 0.05, "ours {a}, smartcore {b}");
        assert!(b > 0.85, "smartcore {b}");
        // Per-row predictions agree on most rows too.
        let (pa, pb) = (ours.predict_dataset(&test), theirs.predict_dataset(&test));
        let same = pa.iter().zip(&pb).filter(|(x, y)| x.class == y.class).count();
        assert!(same as f64 > 0.85 * test.n_rows() as f64, "{same} of {}", test.n_rows());
    }

    #[test]
    fn imputes_missing_values_and_reports_full_confidence() {
        let d = make(600, 4, 3, 20, 3.0, 0.1, 22);
        let m = SmartcoreTreeParams::default().fit(&d).unwrap();
        let p = m.predict(&[None, None, None, None]);
        assert!(p.class < 3);
        assert_eq!(p.confidence, 1.0);
        assert_eq!(m.predict_dataset(&d)[5], m.predict(&d.row(5)));
        let mut proba = [0.5; 4];
        m.predict_proba_into(&d.row(0), &mut proba);
        assert_eq!(proba.iter().sum::<f64>(), 1.0);
        assert_eq!(proba[3], 0.0);
    }
}
