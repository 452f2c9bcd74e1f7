//! One type for any fitted model ([`Model`]) and for how to fit one ([`Algorithm`]).

use crate::classifier::{Classifier, Fit, FitError, Prediction};
use crate::dataset::Dataset;
use crate::forest::{ForestParams, RandomForest};
#[cfg(feature = "smartcore")]
use crate::smartcore_backend::{SmartcoreTree, SmartcoreTreeParams};
use crate::tree::{DecisionTree, TreeParams};
use serde::{Deserialize, Serialize};

/// A fitted model of any backend.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Model {
    /// Our decision tree.
    Tree(DecisionTree),
    /// Our random forest.
    Forest(RandomForest),
    /// smartcore's decision tree (feature `smartcore`).
    #[cfg(feature = "smartcore")]
    Smartcore(SmartcoreTree),
}

impl Model {
    fn inner(&self) -> &dyn Classifier {
        match self {
            Model::Tree(m) => m,
            Model::Forest(m) => m,
            #[cfg(feature = "smartcore")]
            Model::Smartcore(m) => m,
        }
    }

    /// The algorithm's name as accepted by [`Algorithm::by_name`].
    pub fn algorithm_name(&self) -> &'static str {
        match self {
            Model::Tree(_) => "tree",
            Model::Forest(_) => "forest",
            #[cfg(feature = "smartcore")]
            Model::Smartcore(_) => "smartcore-tree",
        }
    }
}

impl Classifier for Model {
    fn n_features(&self) -> usize {
        self.inner().n_features()
    }

    fn n_classes(&self) -> usize {
        self.inner().n_classes()
    }

    fn predict(&self, row: &[Option<f64>]) -> Prediction {
        self.inner().predict(row)
    }

    fn predict_proba_into(&self, row: &[Option<f64>], out: &mut [f64]) {
        self.inner().predict_proba_into(row, out)
    }

    fn predict_dataset(&self, data: &Dataset) -> Vec<Prediction> {
        self.inner().predict_dataset(data)
    }

    fn predict_classes(&self, data: &Dataset) -> Vec<u32> {
        self.inner().predict_classes(data)
    }
}

/// How to fit a [`Model`]: a backend with its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Algorithm {
    /// Our decision tree.
    Tree(TreeParams),
    /// Our random forest.
    Forest(ForestParams),
    /// smartcore's decision tree (feature `smartcore`).
    #[cfg(feature = "smartcore")]
    Smartcore(SmartcoreTreeParams),
}

impl Default for Algorithm {
    fn default() -> Self {
        Algorithm::Tree(TreeParams::default())
    }
}

impl Algorithm {
    /// The names [`Algorithm::by_name`] accepts (`smartcore-tree` with the
    /// feature `smartcore`).
    #[cfg(feature = "smartcore")]
    pub const NAMES: &'static [&'static str] = &["tree", "forest", "smartcore-tree"];
    /// The names [`Algorithm::by_name`] accepts (`smartcore-tree` with the
    /// feature `smartcore`).
    #[cfg(not(feature = "smartcore"))]
    pub const NAMES: &'static [&'static str] = &["tree", "forest"];

    /// The algorithm with default parameters for `"tree"`, `"forest"` or
    /// `"smartcore-tree"` (case-insensitive); `None` for anything else.
    pub fn by_name(name: &str) -> Option<Algorithm> {
        match name.trim().to_ascii_lowercase().as_str() {
            "tree" => Some(Algorithm::Tree(TreeParams::default())),
            "forest" => Some(Algorithm::Forest(ForestParams::default())),
            #[cfg(feature = "smartcore")]
            "smartcore-tree" => Some(Algorithm::Smartcore(SmartcoreTreeParams::default())),
            _ => None,
        }
    }

    /// The algorithm's name.
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::Tree(_) => "tree",
            Algorithm::Forest(_) => "forest",
            #[cfg(feature = "smartcore")]
            Algorithm::Smartcore(_) => "smartcore-tree",
        }
    }

    /// Fits a model to `data`.
    pub fn fit(&self, data: &Dataset) -> Result<Model, FitError> {
        Ok(match self {
            Algorithm::Tree(p) => Model::Tree(p.fit(data)?),
            Algorithm::Forest(p) => Model::Forest(p.fit(data)?),
            #[cfg(feature = "smartcore")]
            Algorithm::Smartcore(p) => Model::Smartcore(p.fit(data)?),
        })
    }

    /// Fits a model to the rows `rows` of `data` ([`Fit::fit_rows`]).
    pub fn fit_rows(&self, data: &Dataset, rows: &[usize]) -> Result<Model, FitError> {
        Ok(match self {
            Algorithm::Tree(p) => Model::Tree(p.fit_rows(data, rows)?),
            Algorithm::Forest(p) => Model::Forest(p.fit_rows(data, rows)?),
            #[cfg(feature = "smartcore")]
            Algorithm::Smartcore(p) => Model::Smartcore(p.fit_rows(data, rows)?),
        })
    }
}

impl Fit for Algorithm {
    type Model = Model;

    fn fit(&self, data: &Dataset) -> Result<Model, FitError> {
        Algorithm::fit(self, data)
    }

    fn fit_rows(&self, data: &Dataset, rows: &[usize]) -> Result<Model, FitError> {
        Algorithm::fit_rows(self, data, rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::synth::make;

    #[test]
    fn every_named_algorithm_fits_and_delegates() {
        let d = make(400, 4, 3, 20, 3.0, 0.0, 31);
        for &name in Algorithm::NAMES {
            let mut a = Algorithm::by_name(name).unwrap();
            if let Algorithm::Forest(p) = &mut a {
                p.n_trees = 5;
            }
            assert_eq!(a.name(), name);
            let m = Fit::fit(&a, &d).unwrap();
            assert_eq!(m.algorithm_name(), name);
            assert_eq!((m.n_features(), m.n_classes()), (4, 3));
            let row = d.row(3);
            assert_eq!(m.predict(&row), m.predict_dataset(&d)[3]);
            assert_eq!(m.predict(&row).class, d.label(3));
        }
        assert_eq!(
            Algorithm::by_name(" Forest "),
            Some(Algorithm::Forest(ForestParams::default()))
        );
        assert_eq!(Algorithm::by_name("j48"), None);
    }
}
