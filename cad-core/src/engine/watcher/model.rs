//! The model the watcher uses: [`ActiveModel`] (a classifier with its classes
//! and feature set) behind a replaceable [`ModelHandle`].

use crate::ErrorChain;
use crate::age::AgeCoverage;
use crate::bundle::{BundleError, ModelBundle};
use crate::classifier::Classifier;
use crate::clock::Clock;
use crate::features::FeatureSet;
use crate::label::Labeler;
use crate::openset::confidence::{ConfidenceMap, ConfidenceSource};
use crate::openset::{Kind, OpenSetModel, RowScores, decision};
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

/// A model ready for the watcher: the classifier, its classes and its
/// features, and the calibration a bundle of format 4 carries.
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
    /// The open-set model: with it, verdicts are judged at the watcher's
    /// false-anomaly rate; without it (bundles of formats 2 and 3), from the
    /// classifier alone and its raw confidence threshold.
    pub open_set: Option<OpenSetModel>,
    /// The map to calibrated confidence (the identity without one); a map
    /// of the open-set forest's probability reads it from
    /// [`open_set`](Self::open_set).
    pub confidence: Option<ConfidenceMap>,
}

impl ActiveModel {
    /// A model without calibration: verdicts come from the classifier alone.
    pub fn new(classifier: Arc<dyn Classifier>, classes: Vec<String>, features: FeatureSet) -> Self {
        ActiveModel {
            classifier,
            classes,
            features,
            description: String::new(),
            ages: None,
            open_set: None,
            confidence: None,
        }
    }

    /// The model of a bundle: its classifier, its classes, its feature set
    /// and its calibration, if any.
    pub fn from_bundle(bundle: ModelBundle) -> Self {
        let calibration = match (&bundle.open_set, &bundle.confidence) {
            (Some(_), Some(_)) => "open-set calibration and calibrated confidence".to_owned(),
            (Some(_), None) => "open-set calibration".to_owned(),
            (None, Some(_)) => "calibrated confidence, no open-set calibration".to_owned(),
            (None, None) => format!("no calibration (bundle format {})", bundle.format_version),
        };
        let description = format!(
            "{} over feature set {} with classes [{}], {calibration}, trained on {} at {}",
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
            open_set: bundle.open_set,
            confidence: bundle.confidence,
        }
    }

    /// Whether verdicts are judged by the open-set model (at the watcher's
    /// false-anomaly rate) rather than by the classifier alone.
    pub fn is_calibrated(&self) -> bool {
        self.open_set.is_some()
    }

    /// The training containers the open-set model has of `class` (`None`
    /// without an open-set model, or for a name not among its classes).
    pub fn trained_containers(&self, class: &str) -> Option<usize> {
        let (open_set, i) = self.open_set_class(class)?;
        Some(open_set.trained_containers(i))
    }

    /// The open-set model and the index of `class` in it, if both exist.
    fn open_set_class(&self, class: &str) -> Option<(&OpenSetModel, usize)> {
        let open_set = self.open_set.as_ref()?;
        Some((open_set, open_set.classes().iter().position(|c| c == class)?))
    }

    /// Whether the watcher judges containers claiming `class`: not when the
    /// open-set model has fewer than
    /// [`MIN_CONTAINERS_TO_JUDGE`](crate::openset::MIN_CONTAINERS_TO_JUDGE)
    /// training containers of it (they end as
    /// [`SkipReason::TooFewContainers`](crate::verdict::SkipReason::TooFewContainers)).
    /// Without an open-set model, always.
    pub fn judges_claims_of(&self, class: &str) -> bool {
        self.open_set_class(class)
            .is_none_or(|(open_set, i)| open_set.judges_claims_of(i))
    }

    /// The classes whose claims are not judged ([`judges_claims_of`](Self::judges_claims_of)),
    /// each with its training containers.
    pub fn unjudged_classes(&self) -> Vec<(&str, usize)> {
        self.open_set
            .as_ref()
            .map_or_else(Vec::new, OpenSetModel::unjudged_classes)
    }

    /// Says at INFO how this model's verdicts are decided (once, when it is
    /// loaded or replaced).
    pub fn log_decision(&self) {
        if self.is_calibrated() {
            tracing::info!(
                "the model carries an open-set calibration: each verdict says whether the container behaves as \
                 claimed, like another known class (impostor) or like no known class (unknown), at the false-anomaly rate"
            );
        } else {
            tracing::warn!(
                "the model carries no open-set calibration (trained by an older cad, bundle format 2 or 3): the \
                 kind of each verdict comes from the classifier alone (a claimed class other than the prediction \
                 is an impostor, a confidence under the threshold an unknown); train again to get calibrated verdicts"
            );
        }
    }
}

impl ActiveModel {
    /// The age at which this model can decide a new pod with `config`: when
    /// its window of snapshots, `config.confirm_windows` times, has
    /// completed ([`AgeCoverage::decision_age`], from the ages and the
    /// interval of the training rows). It grows with the metrics' scrape
    /// interval: about 140 s for the behaviour set's three windows (the
    /// default) of 4 snapshots 10 s apart, about 400 s 30 s apart. `None` when the
    /// bundle does not record it (no training ages, or a bundle before
    /// format 8).
    pub fn decision_age(&self, config: &WatcherConfig) -> Option<Duration> {
        self.ages.as_ref()?.decision_age(
            self.features.window,
            self.features.stride,
            config.min_snapshots.unwrap_or(0),
            config.confirm_windows.max(1),
        )
    }

    /// Says how the timeout suits this model (once, when it is loaded or
    /// replaced): at INFO when [`WatcherConfig::timeout_for`] raises it, a
    /// WARN when the timeout is a hard value
    /// ([`WatcherConfig::extend_timeout`] off) too short for the model to
    /// decide, naming the timeout needed.
    pub fn log_timeout(&self, config: &WatcherConfig) {
        let Some(age) = self.decision_age(config) else {
            return;
        };
        let (timeout, needed) = (config.timeout_for(self), config.needed_timeout(age));
        let row_interval_s = self.ages.as_ref().and_then(|a| a.row_interval).map(|d| d.as_secs_f64());
        if timeout < needed {
            tracing::warn!(
                timeout_s = timeout.as_secs_f64(),
                decision_age_s = age.as_secs_f64(),
                needed_s = needed.as_secs().saturating_add(1),
                confirm_windows = config.confirm_windows,
                row_interval_s,
                "the timeout is shorter than the model needs: it decides a new pod about {} s after its start ({} \
                 window(s) of {} snapshots at the training data's interval), so new pods will time out or be decided \
                 on fewer windows; set --timeout (CAD_TIMEOUT) to at least {} s, or leave it unset to follow the model",
                age.as_secs(),
                config.confirm_windows.max(1),
                self.features.window,
                needed.as_secs().saturating_add(1)
            );
        } else if timeout > config.timeout {
            tracing::info!(
                timeout_s = timeout.as_secs_f64(),
                default_s = config.timeout.as_secs_f64(),
                decision_age_s = age.as_secs_f64(),
                row_interval_s,
                "the timeout is raised to {} s for this model: it decides a new pod about {} s after its start \
                 (its training metrics came further apart, or more windows are asked for, than {} s allow)",
                timeout.as_secs(),
                age.as_secs(),
                config.timeout.as_secs()
            );
        }
    }

    /// Warns (once, when the model is loaded or replaced) when the model has
    /// an open-set calibration but none of `config.confirm_windows` windows
    /// together ([`judges_windows`](Self::judges_windows)): the watcher then
    /// flags a container only if each window is anomalous on its own, which
    /// lets through more impostors and services outside the class list.
    /// Happens with a bundle before format 5, and when the training
    /// containers had too few consecutive rows for that many windows: with
    /// young rows only (training pods younger than the young horizon)
    /// scraped every 30 s, a container has 7 rows, too few for 3 windows of
    /// 4 snapshots (measured on the recordings, `examples/tests/slow_scrapes.rs`:
    /// impostors 53–56 of 60 and unknowns 48–51 of 70 caught, against 60
    /// and 69–70 with the steady rows of running pods).
    pub fn log_windows(&self, config: &WatcherConfig) {
        let confirm = config.confirm_windows.max(1);
        if !self.is_calibrated() || self.judges_windows(confirm) {
            return;
        }
        let most = self.open_set.as_ref().map_or(1, |o| o.most_windows_judged(confirm));
        tracing::warn!(
            confirm_windows = confirm,
            calibrated_windows = most,
            "the model has no calibration of {confirm} windows judged together (a bundle before format 5, or \
             training containers with too few consecutive rows, such as pods younger than the young horizon \
             scraped slowly): a container is flagged only if each of its {confirm} windows is anomalous alone, \
             which lets more impostors and unknown services through; train on pods that have run longer, or set \
             --confirm-windows (CAD_CONFIRM_WINDOWS) to {most}"
        );
    }

    /// Says what an operator should know of this model once it is in use
    /// (when loaded, and at every replacement): how its verdicts are decided
    /// ([`log_decision`](Self::log_decision)), with the watcher's `config`
    /// how the timeout and the confirm windows suit it
    /// ([`log_timeout`](Self::log_timeout), [`log_windows`](Self::log_windows)),
    /// a WARN for classes it cannot judge claims of
    /// ([`unjudged_classes`](Self::unjudged_classes)) and a WARN for
    /// columns no metric gives.
    pub fn log_in_use(&self, config: Option<&WatcherConfig>) {
        self.log_decision();
        let unjudged = self.unjudged_classes();
        if !unjudged.is_empty() {
            let list: Vec<String> = unjudged.iter().map(|(c, n)| format!("{c} {n}")).collect();
            tracing::warn!(
                classes = ?unjudged.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
                "the model has fewer than {} training containers of {}: containers claiming these classes are not \
                 judged (skipped, too_few_containers), since the calibration could not learn how their honest \
                 containers vary; train again while more pods of each class run, or leave these classes out of \
                 --classes",
                crate::openset::MIN_CONTAINERS_TO_JUDGE,
                list.join(", ")
            );
        }
        if let Some(config) = config {
            self.log_timeout(config);
            self.log_windows(config);
        }
        let external = self.features.external_columns();
        if !external.is_empty() {
            tracing::warn!(columns = ?external, "the model uses columns that cannot be computed from metrics; they are missing for every pod");
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

/// Repeats at WARN what the training of the bundle from `origin` warned of
/// ([`ModelBundle::training_warnings`]): the watcher's operator may not
/// have seen the collector's log. Called when a model is loaded or replaced,
/// before [`ActiveModel::log_in_use`] with the watcher's configuration: it
/// leaves out what that says itself for the watcher's settings (the classes
/// whose claims are not judged, the windows the model cannot judge
/// together), so that nothing is said twice.
pub fn log_training_warnings(origin: &str, bundle: &ModelBundle) {
    log_repeated_warnings(origin, bundle, true);
}

/// [`log_training_warnings`]; the warning of the windows the model cannot
/// judge together is left out only if `windows_said` (the watcher's own
/// warning needs its configuration).
fn log_repeated_warnings(origin: &str, bundle: &ModelBundle, windows_said: bool) {
    for warning in repeated_training_warnings(bundle, windows_said) {
        tracing::warn!(%origin, "the model's training warned: {warning}");
    }
}

/// The training warnings [`log_training_warnings`] repeats.
pub(crate) fn repeated_training_warnings(bundle: &ModelBundle, windows_said: bool) -> impl Iterator<Item = &String> {
    use crate::engine::train::{UNJUDGED_WARNING, WINDOWS_WARNING};
    bundle
        .training_warnings()
        .iter()
        // The watcher's own WARNs say these (see `ActiveModel::log_in_use`).
        .filter(move |w| !(w.contains(UNJUDGED_WARNING) || windows_said && w.starts_with(WINDOWS_WARNING)))
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
        self.follow_inner(origin, updates, None).await;
    }

    /// [`follow`](Self::follow), also saying how each new model suits the
    /// watcher's timeout and confirm windows ([`ActiveModel::log_in_use`]).
    pub async fn follow_for<E>(
        &self,
        origin: &str,
        updates: impl Stream<Item = Result<ModelBundle, E>>,
        config: &WatcherConfig,
    ) where
        E: std::error::Error,
    {
        self.follow_inner(origin, updates, Some(config)).await;
    }

    async fn follow_inner<E>(
        &self,
        origin: &str,
        updates: impl Stream<Item = Result<ModelBundle, E>>,
        config: Option<&WatcherConfig>,
    ) where
        E: std::error::Error,
    {
        let mut updates = std::pin::pin!(updates);
        while let Some(update) = updates.next().await {
            match update {
                Ok(bundle) => {
                    log_repeated_warnings(origin, &bundle, config.is_some());
                    self.replace(ActiveModel::from_bundle(bundle));
                    let model = self.current();
                    tracing::info!(%origin, model = %model.description, "the model changed: new model in use");
                    model.log_in_use(config);
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
    /// [`features`](Self::features)): the predicted class, its (calibrated)
    /// confidence, and its kind ([`decision::decide`]) from the open-set
    /// judgement at [`WatcherConfig::false_anomaly_rate`] — or, for a model
    /// without open-set calibration, from the classifier alone and
    /// [`WatcherConfig::confidence_threshold`].
    pub fn verdict(&self, row: &[Option<f64>], subject: Subject<'_>, config: &WatcherConfig) -> Verdict {
        let scored = self.open_set.as_ref().map(|o| o.score_row(row));
        self.verdict_of_scored(row, scored.as_ref(), &[], subject, config)
    }

    /// Whether the open-set model can judge `k` consecutive windows of a
    /// container together ([`OpenSetModel::judges_windows`]; `k` ≤ 1 always).
    pub fn judges_windows(&self, k: usize) -> bool {
        k <= 1 || self.open_set.as_ref().is_some_and(|o| o.judges_windows(k))
    }

    /// The open-set scores of a window's row, kept to judge several windows
    /// together ([`OpenSetModel::window_scores`]).
    pub fn window_scores(&self, row: &[Option<f64>]) -> Option<Vec<Option<f64>>> {
        self.open_set.as_ref()?.window_scores(row)
    }

    /// Like [`ActiveModel::verdict`] on the latest window's `row`, with the
    /// open-set judgement made on the scores of the container's consecutive
    /// windows `windows` (oldest first, `row`'s last) when there are two or
    /// more and the model is calibrated for that many
    /// ([`OpenSetModel::judge_windows`]); the predicted class and the
    /// confidence are `row`'s.
    pub fn verdict_of_windows(
        &self,
        row: &[Option<f64>],
        windows: &[Vec<Option<f64>>],
        subject: Subject<'_>,
        config: &WatcherConfig,
    ) -> Verdict {
        self.verdict_of_scored(row, None, windows, subject, config)
    }

    /// The watcher's verdict after a container's next window: `row` is that
    /// window's row and `windows` the scores of the container's earlier
    /// windows (oldest first). `row` is scored once by the open-set model:
    /// its [`window_scores`](Self::window_scores) are appended to `windows`
    /// (when the model has them), and the verdict is
    /// [`verdict_of_windows`](Self::verdict_of_windows) of `row` and the
    /// windows so extended.
    pub fn verdict_of_next_window(
        &self,
        row: &[Option<f64>],
        windows: &mut Vec<Vec<Option<f64>>>,
        subject: Subject<'_>,
        config: &WatcherConfig,
    ) -> Verdict {
        let scored = self.open_set.as_ref().map(|o| o.score_row(row));
        if let (Some(o), Some(s)) = (&self.open_set, &scored)
            && let Some(w) = o.window_scores_of_row(s)
        {
            windows.push(w);
        }
        self.verdict_of_scored(row, scored.as_ref(), windows, subject, config)
    }

    /// [`verdict_of_windows`](Self::verdict_of_windows), with `row` already
    /// scored by the open-set model (`scored`) or scored here as needed.
    fn verdict_of_scored(
        &self,
        row: &[Option<f64>],
        scored: Option<&RowScores>,
        windows: &[Vec<Option<f64>>],
        subject: Subject<'_>,
        config: &WatcherConfig,
    ) -> Verdict {
        let p = self.classifier.predict(row);
        let name = |c: usize| self.classes.get(c).cloned().unwrap_or_else(|| format!("class-{c}"));
        let predicted = name(p.class);
        // The labeler only gives class names of this model.
        let claimed = subject
            .claimed
            .as_deref()
            .and_then(|c| self.classes.iter().position(|k| k == c));
        let confidence = self.confidence.as_ref().map_or(p.confidence, |m| {
            let forest = match m.source() {
                ConfidenceSource::OpenSetForest => match scored {
                    Some(s) => s.class_probability(p.class),
                    None => self.open_set.as_ref().and_then(|o| o.class_probability(row, p.class)),
                },
                ConfidenceSource::Classifier => None,
            };
            m.calibrated(p.confidence, forest)
        });
        let alpha = config.rate_for(claimed.is_some());
        let judgement = self.open_set.as_ref().map(|o| {
            if windows.len() >= 2 && o.judges_windows(windows.len()) {
                o.judge_windows(windows, claimed, alpha)
            } else if let Some(s) = scored {
                o.judge_scored(s, claimed, alpha)
            } else {
                o.judge(row, claimed, alpha)
            }
        });
        let mut kind = decision::decide(p.class, confidence, judgement.as_ref(), claimed);
        let mut anomaly = match kind {
            Kind::Impostor => Some(AnomalyReason::Mismatch),
            Kind::Unknown => Some(AnomalyReason::NoKnownClass),
            _ => None,
        };
        if judgement.is_none() && anomaly.is_none() && confidence < config.confidence_threshold {
            kind = Kind::Unknown;
            anomaly = Some(AnomalyReason::LowConfidence);
        }
        let behaves_like = match (&judgement, kind) {
            (_, Kind::Unknown) => None,
            (Some(j), _) if !j.set.contains(&p.class) => j.behaves_like.map(name),
            _ => Some(predicted.clone()),
        };
        Verdict {
            pod: subject.pod.id.clone(),
            container: subject.container.to_owned(),
            node: subject.pod.node.clone(),
            claimed: subject.claimed,
            predicted,
            confidence,
            kind,
            p_value: judgement.and_then(|j| j.p_value),
            behaves_like,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Algorithm;
    use crate::openset::NoveltyParams;
    use crate::pod::PodId;
    use crate::tree::synth::make;

    fn features(n: usize) -> FeatureSet {
        crate::test_data::feature_set(n, 1)
    }

    #[test]
    fn a_trained_tree_shows_the_calibrated_probability_of_the_open_set_forest() {
        // Overlapping classes: the tree's leaves say 1.0 nearly everywhere.
        let d = make(1500, 4, 3, 25, 1.0, 0.05, 11);
        let features = features(4);
        let config = crate::engine::TrainConfig {
            method: None,
            curve_points: 0,
            ..crate::engine::TrainConfig::default()
        };
        let bundle = crate::engine::train(&d, &features, &config, Timestamp::EPOCH, ())
            .unwrap()
            .bundle;
        let map = bundle.confidence.clone().unwrap();
        assert_eq!(map.source(), ConfidenceSource::OpenSetForest);
        let m = ActiveModel::from_bundle(bundle);
        let pod = PodInfo::new(PodId::new("ns", "p", "u"));
        let subject = Subject {
            pod: &pod,
            container: "c",
            claimed: None,
            time: Timestamp::EPOCH,
            time_to_verdict: Duration::ZERO,
            at_start: false,
        };
        let (mut shown, mut leaves) = (Vec::new(), Vec::new());
        for i in (0..d.n_rows()).step_by(7) {
            let row = d.row(i);
            let v = m.verdict(&row, subject.clone(), &WatcherConfig::default());
            let p = m.classifier.predict(&row);
            let forest = m.open_set.as_ref().unwrap().class_probability(&row, p.class).unwrap();
            assert_eq!(v.confidence, map.apply(forest), "{v}");
            assert!(v.confidence < 1.0, "{v}");
            shown.push(v.confidence.to_bits());
            leaves.push(p.confidence.to_bits());
        }
        for v in [&mut shown, &mut leaves] {
            v.sort_unstable();
            v.dedup();
        }
        assert!(shown.len() >= 3 && shown.len() > leaves.len(), "{shown:?} {leaves:?}");

        // A forest's own vote share is calibrated, not the open-set forest's.
        let config = crate::engine::TrainConfig {
            algorithm: Algorithm::Forest(crate::forest::ForestParams {
                n_trees: 10,
                ..Default::default()
            }),
            ..config
        };
        let bundle = crate::engine::train(&d, &features, &config, Timestamp::EPOCH, ())
            .unwrap()
            .bundle;
        assert_eq!(
            bundle.confidence.map(|m| m.source()),
            Some(ConfidenceSource::Classifier)
        );
    }

    #[test]
    fn scoring_a_row_once_gives_the_verdicts_of_scoring_it_per_call() {
        // A model with a two-window calibration and the forest's confidence.
        let d = make(1500, 4, 3, 25, 1.0, 0.05, 11);
        let config = crate::engine::TrainConfig {
            method: None,
            curve_points: 0,
            ..crate::engine::TrainConfig::default()
        };
        let bundle = crate::engine::train(&d, &features(4), &config, Timestamp::EPOCH, ())
            .unwrap()
            .bundle;
        let m = ActiveModel::from_bundle(bundle);
        assert!(m.judges_windows(2));
        assert_eq!(
            m.confidence.as_ref().map(ConfidenceMap::source),
            Some(ConfidenceSource::OpenSetForest)
        );
        let o = m.open_set.as_ref().unwrap();
        let pod = PodInfo::new(PodId::new("ns", "p", "u"));
        let watcher = WatcherConfig::default();
        let mut rows: Vec<Vec<Option<f64>>> = (0..d.n_rows()).step_by(11).map(|i| d.row(i)).collect();
        // Far from every class, and too few usable features.
        rows.extend([vec![Some(1e6); 4], vec![None; 4], vec![Some(0.0), None, None, None]]);
        let (mut anomalies, mut by_windows) = (0, 0);
        for pair in rows.windows(2) {
            for claimed in [None, Some("c0"), Some("c1"), Some("c2")] {
                let subject = Subject {
                    pod: &pod,
                    container: "c",
                    claimed: claimed.map(Into::into),
                    time: Timestamp::EPOCH,
                    time_to_verdict: Duration::ZERO,
                    at_start: false,
                };
                // The old path: each call scores the row itself.
                let (mut old, mut new) = (Vec::new(), Vec::new());
                for row in pair {
                    old.extend(m.window_scores(row));
                    let before = m.verdict_of_windows(row, &old, subject.clone(), &watcher);
                    let after = m.verdict_of_next_window(row, &mut new, subject.clone(), &watcher);
                    assert_eq!(new, old);
                    assert_eq!(after, before);
                    if old.len() >= 2 {
                        let c = claimed.and_then(|c| m.classes.iter().position(|k| k == c));
                        let j = o.judge_windows(&old, c, watcher.rate_for(c.is_some()));
                        let kind = decision::decide(m.classifier.predict(row).class, 0.0, Some(&j), c);
                        assert_eq!((after.kind, after.p_value), (kind, j.p_value), "{after}");
                        by_windows += 1;
                    }
                    anomalies += usize::from(after.is_anomaly());
                }
                let row = &pair[0];
                assert_eq!(
                    m.verdict(row, subject.clone(), &watcher),
                    m.verdict_of_windows(row, &[], subject, &watcher)
                );
            }
        }
        // Both kinds of verdicts, and the two-window judgement, were compared.
        assert!(anomalies > 0 && by_windows > 100, "{anomalies} {by_windows}");
    }

    /// The default classifier and open-set model fitted on `d`.
    fn calibrated(d: &crate::Dataset) -> ActiveModel {
        let classifier = Algorithm::default().fit(d).unwrap();
        let mut m = ActiveModel::new(Arc::new(classifier), d.classes().to_vec(), features(4));
        m.open_set = Some(NoveltyParams::default().fit(d).unwrap());
        m
    }

    /// A container `c` of `pod` claiming `claimed`.
    fn claiming<'a>(pod: &'a PodInfo, claimed: Option<&str>) -> Subject<'a> {
        Subject {
            pod,
            container: "c",
            claimed: claimed.map(Into::into),
            time: Timestamp::EPOCH,
            time_to_verdict: Duration::ZERO,
            at_start: false,
        }
    }

    #[test]
    fn calibrated_verdicts_say_their_kind_and_evidence() {
        // Three well separated classes, 60 containers of 20 rows.
        let d = make(1200, 4, 3, 20, 8.0, 0.0, 5);
        let mut m = calibrated(&d);
        assert!(m.is_calibrated());
        let pod = PodInfo::new(PodId::new("ns", "p", "u"));
        let subject = |claimed: Option<&str>| claiming(&pod, claimed);
        let config = WatcherConfig::default();
        let i = (0..d.n_rows()).find(|&i| d.label(i) == 0).unwrap();
        let row = d.row(i);

        let v = m.verdict(&row, subject(Some("c0")), &config);
        assert_eq!(
            (v.kind, v.anomaly, v.predicted.as_str()),
            (Kind::AsClaimed, None, "c0"),
            "{v}"
        );
        assert!(v.p_value.is_some_and(|p| p > config.false_anomaly_rate), "{v}");

        let v = m.verdict(&row, subject(Some("c1")), &config);
        assert_eq!(
            (v.kind, v.anomaly),
            (Kind::Impostor, Some(AnomalyReason::Mismatch)),
            "{v}"
        );
        assert_eq!(v.behaves_like.as_deref(), Some("c0"));
        assert!(v.p_value.is_some_and(|p| p <= config.false_anomaly_rate), "{v}");
        assert!(
            v.to_string().contains("ANOMALY: named as c1, behaves like c0 (p "),
            "{v}"
        );

        let far = vec![Some(1e6); 4];
        let v = m.verdict(&far, subject(Some("c0")), &config);
        assert_eq!(
            (v.kind, v.anomaly),
            (Kind::Unknown, Some(AnomalyReason::NoKnownClass)),
            "{v}"
        );
        assert_eq!(v.behaves_like, None);
        assert!(
            v.to_string().contains("ANOMALY: behaves like no known class (p "),
            "{v}"
        );

        // Without the open-set model the same far row is whatever the
        // classifier says: no unknown unless its raw confidence is low.
        m.open_set = None;
        let v = m.verdict(&far, subject(Some("c0")), &config);
        assert_ne!(v.anomaly, Some(AnomalyReason::NoKnownClass), "{v}");
        assert_eq!(v.p_value, None);
        let v = m.verdict(&row, subject(Some("c1")), &config);
        assert_eq!((v.kind, v.p_value), (Kind::Impostor, None), "{v}");
    }

    #[test]
    fn a_container_without_a_claim_is_judged_at_its_own_rate() {
        // Overlapping classes: many rows lie between the two rates.
        let d = make(900, 4, 3, 15, 1.0, 0.05, 3);
        let m = calibrated(&d);
        let o = m.open_set.clone().unwrap();
        let pod = PodInfo::new(PodId::new("ns", "p", "u"));
        let subject = |claimed: Option<&str>| claiming(&pod, claimed);
        let strict = WatcherConfig {
            unclaimed_false_unknown_rate: 0.01,
            ..WatcherConfig::default()
        };
        let wide = WatcherConfig {
            unclaimed_false_unknown_rate: 0.3,
            ..strict.clone()
        };
        let mut moved = 0;
        for i in 0..d.n_rows() {
            let row = d.row(i);
            let class = m.classifier.predict(&row).class;
            // A claim is judged at the false-anomaly rate whatever the other.
            let c = d.classes()[d.label(i)].as_str();
            let (a, b) = (
                m.verdict(&row, subject(Some(c)), &strict),
                m.verdict(&row, subject(Some(c)), &wide),
            );
            assert_eq!((a.kind, a.p_value), (b.kind, b.p_value));
            // No claim: judged at the unclaimed rate.
            let [a, b] = [&strict, &wide].map(|config| {
                let v = m.verdict(&row, subject(None), config);
                let j = o.judge(&row, None, config.unclaimed_false_unknown_rate);
                assert_eq!(v.kind, decision::decide(class, 0.0, Some(&j), None), "{v}");
                v
            });
            assert!(a.kind != Kind::Unknown || b.kind == Kind::Unknown, "{a} / {b}");
            moved += usize::from(a.kind != Kind::Unknown && b.kind == Kind::Unknown);
        }
        assert!(moved > 0, "no row between the rates");
    }
}
