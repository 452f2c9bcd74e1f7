//! The model the watcher uses: [`ActiveModel`] (a classifier with its classes
//! and feature set) behind a replaceable [`ModelHandle`].

use crate::ErrorChain;
use crate::age::AgeCoverage;
use crate::bundle::{BundleError, ModelBundle};
use crate::classifier::Classifier;
use crate::clock::Clock;
use crate::features::FeatureSet;
use crate::label::Labeler;
use crate::pod::PodInfo;
use crate::time::Timestamp;
use crate::verdict::{AnomalyReason, Verdict};
use futures::stream::{BoxStream, Stream, StreamExt};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::WatcherConfig;

/// The container a verdict is about, and when it is reached: everything of a
/// [`Verdict`] that does not come from the model.
#[derive(Clone, Debug)]
pub struct Subject<'a> {
    /// The container's pod.
    pub pod: &'a PodInfo,
    /// The container's name.
    pub container: &'a str,
    /// The class it claims, if any.
    pub claimed: Option<String>,
    /// When the verdict is reached.
    pub time: Timestamp,
    /// Time from the pod's start (or first sight) to the verdict.
    pub time_to_verdict: Duration,
    /// The pod was running when the watcher started.
    pub at_start: bool,
}

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
    /// The pod ages the model was trained for ([`ModelBundle::ages`]);
    /// `None` if unknown: every age is judged.
    pub ages: Option<AgeCoverage>,
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
            ages: bundle.ages,
        }
    }
}

impl std::fmt::Debug for ActiveModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveModel")
            .field("classes", &self.classes)
            .field("features", &self.features.name)
            .field("description", &self.description)
            .field("ages", &self.ages)
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

    /// Follows `updates` until the stream ends: each model it yields
    /// replaces the current one; each error is logged and the current model
    /// stays in use. `origin` names where the models come from in the logs
    /// (`"ConfigMap cad/cad-model"`, a file's path).
    ///
    /// The updates are a ConfigMap's (`cad_k8s::ConfigMapModelStore::watch_with`)
    /// or a file's ([`poll_file`](Self::poll_file)).
    pub async fn follow<E>(&self, origin: &str, updates: impl Stream<Item = Result<ModelBundle, E>>)
    where
        E: std::error::Error,
    {
        let mut updates = std::pin::pin!(updates);
        while let Some(update) = updates.next().await {
            match update {
                Ok(bundle) => {
                    self.replace(ActiveModel::from_bundle(bundle));
                    let model = self.current();
                    tracing::info!(%origin, model = %model.description, "the model changed: new model in use");
                    let external = model.features.external_columns();
                    if !external.is_empty() {
                        tracing::warn!(columns = ?external, "the model uses columns that cannot be computed from metrics; they are missing for every pod");
                    }
                }
                Err(e) => tracing::error!(
                    %origin, error = %ErrorChain(&e),
                    "the new model was rejected; the previous model stays in use"
                ),
            }
        }
    }

    /// The models of a file read every `every` (on `clock`), for
    /// [`follow`](Self::follow): a mounted ConfigMap is updated in place by
    /// the kubelet. Yields the decoded bundle (or why it was refused) each
    /// time the bytes differ from the last ones read, starting from `last`
    /// (the bytes in use). A file that cannot be read at a poll (missing,
    /// being replaced, not a bundle) is tried again at the next.
    pub fn poll_file(
        path: PathBuf,
        last: Vec<u8>,
        every: Duration,
        clock: Arc<dyn Clock>,
    ) -> BoxStream<'static, Result<ModelBundle, BundleError>> {
        futures::stream::unfold((path, last, clock), move |(path, mut last, clock)| async move {
            loop {
                clock.sleep(every).await;
                let bytes = match crate::bundle::read_file_bytes(&path) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::debug!(path = %path.display(), error = %ErrorChain(&e), "model file not read; trying again");
                        continue;
                    }
                };
                if bytes != last {
                    let decoded = ModelBundle::from_bytes(&bytes);
                    last = bytes;
                    return Some((decoded, (path, last, clock)));
                }
            }
        })
        .boxed()
    }
}

impl ActiveModel {
    /// The verdict on `subject` from its feature row `row` (the columns of
    /// [`features`](Self::features)): the predicted class, its confidence and
    /// whether it is an anomaly under `config`.
    pub fn verdict(&self, row: &[Option<f64>], subject: Subject<'_>, config: &WatcherConfig) -> Verdict {
        let p = self.classifier.predict(row);
        let predicted = self
            .classes
            .get(p.class)
            .cloned()
            .unwrap_or_else(|| format!("class-{}", p.class));
        let anomaly = if subject.claimed.as_deref().is_some_and(|c| c != predicted) {
            Some(AnomalyReason::Mismatch)
        } else if p.confidence < config.confidence_threshold {
            Some(AnomalyReason::LowConfidence)
        } else {
            None
        };
        Verdict {
            pod: subject.pod.id.clone(),
            container: subject.container.to_owned(),
            node: subject.pod.node.clone(),
            claimed: subject.claimed,
            predicted,
            confidence: p.confidence,
            anomaly,
            time: subject.time,
            time_to_verdict: subject.time_to_verdict,
            at_start: subject.at_start,
        }
    }

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
