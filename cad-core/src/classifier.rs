//! The learning traits, in the style of linfa: parameters that [`Fit`] a data
//! set into a model, and models that [`Classifier::predict`] a row.
//!
//! A row is a slice of optional values, one per feature of the model's
//! feature set; `None` is a missing value.

use crate::dataset::Dataset;

/// A predicted class with how sure the model is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    /// Index into the model's class list.
    pub class: usize,
    /// The share of the leaf's training rows (or of the forest's votes) that
    /// belong to `class`, in `[0, 1]`.
    pub confidence: f64,
}

/// Why fitting failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FitError {
    /// The data set has no rows.
    #[error("cannot fit on an empty data set")]
    Empty,
    /// The data set has no feature columns.
    #[error("cannot fit on a data set without features")]
    NoFeatures,
    /// A parameter is out of its range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// The backend failed.
    #[error("the learning backend failed")]
    Backend(#[source] BackendError),
}

impl FitError {
    /// [`FitError::Backend`] caused by `e` (an error, or a message).
    pub fn backend(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        FitError::Backend(BackendError::new(e))
    }
}

/// A learning backend's own error, kept as the cause of [`FitError::Backend`]
/// (shared, so that a [`FitError`] stays `Clone`; equal when their messages are).
#[derive(Clone, Debug)]
pub struct BackendError(std::sync::Arc<dyn std::error::Error + Send + Sync>);

impl BackendError {
    /// The backend's error (or a message: `&str` and `String` convert too).
    pub fn new(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        BackendError(std::sync::Arc::from(e.into()))
    }
}

impl PartialEq for BackendError {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_string() == other.0.to_string()
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// A fitted model that predicts a class with a confidence.
///
/// Object safe, so a `Box<dyn Classifier>` can hold any backend.
///
/// # Example
///
/// A model that always predicts its first class:
///
/// ```
/// use cad_core::{Classifier, Prediction};
///
/// struct Constant { n_features: usize }
///
/// impl Classifier for Constant {
///     fn n_features(&self) -> usize { self.n_features }
///     fn n_classes(&self) -> usize { 1 }
///     fn predict(&self, _row: &[Option<f64>]) -> Prediction {
///         Prediction { class: 0, confidence: 1.0 }
///     }
///     fn predict_proba_into(&self, _row: &[Option<f64>], out: &mut [f64]) {
///         out.iter_mut().enumerate().for_each(|(i, p)| *p = if i == 0 { 1.0 } else { 0.0 });
///     }
/// }
///
/// let m = Constant { n_features: 2 };
/// assert_eq!(m.predict(&[Some(1.0), None]).class, 0);
/// ```
pub trait Classifier: Send + Sync {
    /// Number of features a row must have.
    fn n_features(&self) -> usize;

    /// Number of classes the model can predict.
    fn n_classes(&self) -> usize;

    /// The most likely class of `row` and its probability. A row with the wrong
    /// number of values is treated as if the extra values were absent and the
    /// missing ones missing; it never panics.
    fn predict(&self, row: &[Option<f64>]) -> Prediction;

    /// Writes the probability of each class for `row` into `out` (which should
    /// have [`n_classes`](Classifier::n_classes) entries; extra entries are set to 0).
    fn predict_proba_into(&self, row: &[Option<f64>], out: &mut [f64]);

    /// Predicts every row of `data` (whose columns must be the model's features).
    fn predict_dataset(&self, data: &Dataset) -> Vec<Prediction> {
        let mut row = Vec::with_capacity(data.n_features());
        (0..data.n_rows())
            .map(|i| {
                row.clear();
                row.extend(data.raw_row(i).iter().map(|&v| (!v.is_nan()).then_some(v)));
                self.predict(&row)
            })
            .collect()
    }

    /// The predicted class of every row of `data`, as class indices like
    /// [`Dataset::labels`]: [`predict_dataset`](Classifier::predict_dataset)
    /// without the confidences (a quarter of the output), which is all an
    /// evaluation needs. Batch learners override it to skip the confidences.
    fn predict_classes(&self, data: &Dataset) -> Vec<u32> {
        self.predict_dataset(data).iter().map(|p| p.class as u32).collect()
    }
}

/// Learning parameters that fit a data set into a [`Classifier`].
///
/// Fitting is deterministic given the parameters (which carry any seed). A
/// model that is to be stored in a [`ModelBundle`](crate::bundle::ModelBundle)
/// is one of [`Model`](crate::model::Model)'s; evaluating a learner needs no
/// serialisation.
pub trait Fit {
    /// The fitted model.
    type Model: Classifier;

    /// Fits a model to `data`.
    fn fit(&self, data: &Dataset) -> Result<Self::Model, FitError>;

    /// Fits a model to the rows `rows` of `data`: the model of
    /// `fit(&data.select(rows))`, which is what this default does. Learners
    /// that can read a subset in place override it, so that an evaluation
    /// does not copy its training side.
    fn fit_rows(&self, data: &Dataset, rows: &[usize]) -> Result<Self::Model, FitError> {
        self.fit(&data.select(rows))
    }
}
