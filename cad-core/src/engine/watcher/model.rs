//! The model the watcher uses: [`ActiveModel`] (a classifier with its classes
//! and feature set) behind a replaceable [`ModelHandle`].

use crate::bundle::ModelBundle;
use crate::classifier::Classifier;
use crate::features::FeatureSet;
use crate::label::Labeler;
use std::sync::{Arc, RwLock};

/// A model ready for the watcher: the classifier, its classes and its features.
pub struct ActiveModel {
    /// The fitted classifier.
    pub classifier: Arc<dyn Classifier>,
    /// Class names; predictions index into this list.
    pub classes: Vec<String>,
    /// The columns the classifier expects.
    pub features: FeatureSet,
    /// A description for logs (for example when and on what it was trained).
    pub description: String,
}

impl ActiveModel {
    /// The model of a bundle: its classifier, its classes and its feature set.
    pub fn from_bundle(bundle: ModelBundle) -> Self {
        let description = format!(
            "{} over feature set {} with classes [{}], trained on {} at {}",
            bundle.model.algorithm_name(),
            bundle.feature_set.name,
            bundle.classes.join(", "),
            if bundle.trained_on.is_empty() {
                "unknown data"
            } else {
                &bundle.trained_on
            },
            bundle.created_at.to_rfc3339(),
        );
        ActiveModel {
            classifier: Arc::new(bundle.model),
            classes: bundle.classes,
            features: bundle.feature_set,
            description,
        }
    }
}

impl std::fmt::Debug for ActiveModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveModel")
            .field("classes", &self.classes)
            .field("features", &self.features.name)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

/// A shared, replaceable model: the watcher reads the current one at every
/// tick, so a new model (for example from an updated ConfigMap) takes effect
/// without a restart.
#[derive(Clone, Debug)]
pub struct ModelHandle(Arc<RwLock<Arc<ActiveModel>>>);

impl ModelHandle {
    /// A handle holding `model`.
    pub fn new(model: ActiveModel) -> Self {
        ModelHandle(Arc::new(RwLock::new(Arc::new(model))))
    }

    /// The current model.
    pub fn current(&self) -> Arc<ActiveModel> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the model for all later verdicts.
    pub fn replace(&self, model: ActiveModel) {
        let model = Arc::new(model);
        match self.0.write() {
            Ok(mut g) => *g = model,
            Err(p) => *p.into_inner() = model,
        }
    }
}

impl ActiveModel {
    /// The labeler for this model's classes: a pod's claimed class is one of
    /// them (or none), read from `label_key` first if given.
    pub fn labeler(&self, label_key: Option<&str>) -> Labeler {
        let l = Labeler::new(self.classes.iter().cloned());
        match label_key {
            Some(k) => l.with_label_key(k.to_owned()),
            None => l,
        }
    }
}
