//! [`WatchState`]: the watcher's bookkeeping as a state machine without I/O.
//!
//! Pod events, the clock's time and fetched metrics go in; outcomes come
//! out. The [`Watcher`](super::Watcher) drives it — reads the pod stream,
//! sleeps between ticks, calls the [`MetricSource`](crate::MetricSource),
//! hands outcomes to the sinks — and tests can drive it by hand:
//!
//! * [`on_event`](WatchState::on_event) for every pod event;
//! * every poll interval, [`plan_fetch`](WatchState::plan_fetch) says which
//!   containers to fetch over which window (one batched fetch for all), and
//!   [`on_batch`](WatchState::on_batch) takes the answer (or the failure)
//!   and decides; a tick with nothing to fetch calls
//!   [`decide`](WatchState::decide).
//!
//! Every container ends in exactly one outcome because an outcome is only
//! made for a container removed from the waiting set at that moment (or one
//! that never entered it: a sidecar, or a pod too old for the model), and
//! every waiting container has a deadline: `timeout` after its pod's start,
//! or after the moment the watcher first saw it if that is later or the
//! start time is unknown. `timeout` is the one for the model of the latest
//! event or decision ([`WatcherConfig::timeout_for`]): longer than
//! [`WatcherConfig::timeout`] for a model that decides later. A pod's containers are those it had when first
//! seen; later events change its labels, phase and start time, not them.

use super::model::{ActiveModel, Subject};
use super::{ExistingPods, WatchStats, WatcherConfig};
use crate::ErrorChain;
use crate::features::{ContainerInput, Snapshot};
use crate::label::{ContainerClaim, Labeler};
use crate::metric::{MetricBatch, Sample};
use crate::pod::{ContainerId, ContainerInfo, PodId, PodInfo};
use crate::source::{PodEvent, SourceError};
use crate::time::{TimeWindow, Timestamp};
use crate::verdict::{ANNOTATION_PREDICTED, Outcome, SkipReason, Verdict};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// What a change of state gives the sinks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Step {
    /// Outcomes reached, each for a container that waited until now, or
    /// (skipped: a sidecar, or too old for the model) one seen for the first
    /// time.
    pub outcomes: Vec<Outcome>,
    /// Pods seen for the first time and not judged at all, with the reason
    /// (their containers get no outcome).
    pub skipped: Vec<(PodId, SkipReason)>,
}

impl Step {
    /// Whether nothing happened.
    pub fn is_empty(&self) -> bool {
        self.outcomes.is_empty() && self.skipped.is_empty()
    }
}

/// One batched fetch a tick needs: every waiting container of a started
/// pod, over one window.
#[derive(Clone, Debug, PartialEq)]
pub struct FetchPlan {
    /// The containers to fetch.
    pub containers: Vec<ContainerId>,
    /// From the earliest sample any of them still needs to just after `at`.
    pub window: TimeWindow,
    /// The tick's time: the fetch's answer is judged as of then.
    pub at: Timestamp,
}

struct Waiting {
    pod_uid: String,
    container: String,
    samples: Vec<Sample>,
    /// The next fetch must reach back to here for this container.
    need_from: Option<Timestamp>,
    /// An anomaly waiting for a later window to confirm it
    /// ([`WatcherConfig::confirm_windows`]).
    suspect: Option<Suspect>,
    /// Complete snapshots whose samples were dropped once judged
    /// ([`forget_judged`]); snapshots are counted as if they were there.
    dropped: usize,
    /// Samples before this time were dropped: refetched ones are not kept.
    kept_from: Option<Timestamp>,
}

/// A container whose verdicts so far were all anomalies, fewer than
/// [`WatcherConfig::confirm_windows`] of them.
struct Suspect {
    /// The latest verdict (an anomaly, or with a multi-window calibration
    /// and [`WatcherConfig::normal_at_once`] off, any).
    verdict: Verdict,
    /// The open-set scores of the windows judged so far (with a
    /// multi-window calibration; windows that could not be scored are left
    /// out).
    scores: Vec<Vec<Option<f64>>>,
    /// Windows judged so far (all anomalies, unless judged together).
    windows: usize,
    /// Whether the first window's verdict was an anomaly.
    first_anomaly: bool,
    /// Complete snapshots the container had when `verdict` was reached: the
    /// next window judged starts after them.
    snapshots: usize,
}

impl Suspect {
    /// Its latest verdict, reported at `now` without confirmation, `waited`
    /// after its pod's start (or first sight).
    fn unconfirmed(self, now: Timestamp, waited: std::time::Duration) -> Verdict {
        Verdict {
            time: now,
            time_to_verdict: waited,
            ..self.verdict
        }
    }
}

struct PodState {
    /// The pod as last reported, with the containers it had when first seen.
    info: PodInfo,
    waiting: usize,
    /// Started before the watcher did.
    at_start: bool,
    /// When the watcher first saw it.
    first_seen: Timestamp,
    /// Where its containers' timeout counts from: its start, or
    /// `first_seen` if later or if the start time is unknown (a start time
    /// later than the event that reports it counts as that event's time).
    since: Timestamp,
}

/// The watcher's state: the pods it knows, the containers waiting for a
/// verdict and their samples so far, and the counts of what happened.
pub struct WatchState {
    config: WatcherConfig,
    /// The timeout with the latest model seen ([`WatcherConfig::timeout_for`]).
    timeout: Duration,
    /// When the watcher started: pods started before are "at start".
    started: Timestamp,
    known: HashMap<String, PodState>,
    /// Ordered, so that the outcomes of one tick come in the same order on
    /// every run (by namespace, pod, container).
    waiting: BTreeMap<ContainerId, Waiting>,
    stats: WatchStats,
}

impl std::fmt::Debug for WatchState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchState")
            .field("started", &self.started)
            .field("pods", &self.known.len())
            .field("waiting", &self.waiting.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl WatchState {
    /// An empty state for a watcher that starts at `started`.
    pub fn new(config: WatcherConfig, started: Timestamp) -> Self {
        WatchState {
            timeout: config.timeout,
            config,
            started,
            known: HashMap::new(),
            waiting: BTreeMap::new(),
            stats: WatchStats::default(),
        }
    }

    /// Containers waiting for an outcome.
    pub fn pending(&self) -> usize {
        self.waiting.len()
    }

    /// What happened so far (the counts the state keeps; the driver adds
    /// its own: stream errors, sinks, the slowest tick).
    pub fn stats(&self) -> &WatchStats {
        &self.stats
    }

    /// Ends the run: the counts, with the containers still waiting.
    pub fn finish(mut self) -> WatchStats {
        self.stats.still_pending = self.waiting.len() as u64;
        self.stats
    }

    /// Applies a pod event seen at `now`.
    ///
    /// A new pod's containers start waiting (or the pod is skipped, see
    /// [`ExistingPods`] and [`ANNOTATION_PREDICTED`]), except its sidecars
    /// and, if the pod is older than `model`'s trained ages, all of them:
    /// those end at once as [`Outcome::Skipped`]. A pod that ends or is
    /// deleted ends its waiting containers as [`Outcome::Deleted`], their
    /// claimed classes read with `model`'s classes.
    pub fn on_event(&mut self, event: PodEvent, now: Timestamp, model: &ActiveModel) -> Step {
        self.stats.events += 1;
        self.timeout = self.config.timeout_for(model);
        match event {
            PodEvent::Added(p) | PodEvent::Updated(p) => self.on_pod(p, now, model),
            PodEvent::Deleted(id) => {
                let step = self.finish_pod_early(&id.uid, now, model);
                self.known.remove(&id.uid);
                step
            }
        }
    }

    fn on_pod(&mut self, p: PodInfo, now: Timestamp, model: &ActiveModel) -> Step {
        if let Some(state) = self.known.get_mut(&p.id.uid) {
            let ended = p.phase.is_terminal();
            let uid = p.id.uid.clone();
            if state.info.start_time.is_none()
                && let Some(start) = p.start_time
            {
                // It started (or its start became known) only now.
                state.since = state.first_seen.max(start.min(now));
            }
            let containers = std::mem::take(&mut state.info.containers);
            state.info = PodInfo { containers, ..p };
            if ended && state.waiting > 0 {
                return self.finish_pod_early(&uid, now, model);
            }
            return Step::default();
        }
        if p.phase.is_terminal() || p.containers.is_empty() {
            return Step::default();
        }
        let at_start = p.start_time.is_some_and(|t| t < self.started);
        let skip = if p.annotations.contains_key(ANNOTATION_PREDICTED) {
            // Classified by an earlier run: remember it as done.
            self.stats.already_classified += 1;
            Some(SkipReason::AlreadyClassified)
        } else if at_start && !self.judges_existing(&p) {
            self.stats.skipped_at_start += 1;
            Some(SkipReason::RunningBeforeStart)
        } else {
            None
        };
        let mut state = PodState {
            info: p,
            waiting: 0,
            at_start,
            first_seen: now,
            since: now,
        };
        if let Some(reason) = skip {
            tracing::debug!(pod = %state.info.id, reason = reason.as_str(), "pod skipped");
            let step = Step {
                outcomes: Vec::new(),
                skipped: vec![(state.info.id.clone(), reason)],
            };
            self.known.insert(state.info.id.uid.clone(), state);
            return step;
        }
        let p = &state.info;
        let labeler = self.labeler(model);
        let too_old = too_old(p, now, model);
        let (mut outcomes, mut waiting) = (Vec::new(), 0);
        for (c, claim) in p.containers.iter().zip(labeler.container_claims(p)) {
            let reason = match claim {
                ContainerClaim::Sidecar(_) => Some(SkipReason::Sidecar),
                ContainerClaim::Class(class) if !model.judges_claims_of(class) => Some(SkipReason::TooFewContainers {
                    containers: model.trained_containers(class).unwrap_or(0),
                }),
                _ => too_old,
            };
            let Some(reason) = reason else {
                self.waiting.insert(
                    p.id.container(c.name.clone()),
                    Waiting {
                        pod_uid: p.id.uid.clone(),
                        container: c.name.clone(),
                        samples: Vec::new(),
                        need_from: None,
                        suspect: None,
                        dropped: 0,
                        kept_from: None,
                    },
                );
                waiting += 1;
                continue;
            };
            match reason {
                SkipReason::Sidecar => self.stats.sidecars += 1,
                SkipReason::TooFewContainers { .. } => self.stats.too_few_containers += 1,
                _ => self.stats.too_old += 1,
            }
            outcomes.push(Outcome::Skipped {
                pod: p.id.clone(),
                container: c.name.clone(),
                claimed: claim.class().map(str::to_string),
                time: now,
                reason,
                at_start,
            });
        }
        state.waiting = waiting;
        self.known.insert(state.info.id.uid.clone(), state);
        Step {
            outcomes,
            skipped: Vec::new(),
        }
    }

    /// The labeler for `model`'s classes with this watcher's label key and
    /// sidecar list.
    fn labeler(&self, model: &ActiveModel) -> Labeler {
        model
            .labeler(self.config.label_key.as_deref())
            .with_sidecars(self.config.sidecars.iter().cloned())
    }

    /// Whether a pod running before the start is judged.
    fn judges_existing(&self, p: &PodInfo) -> bool {
        match self.config.existing_pods {
            ExistingPods::All => true,
            ExistingPods::None => false,
            ExistingPods::Recent => p.start_time.is_some_and(|t| self.started.since(t) < self.timeout),
        }
    }

    /// The pod is gone or ended: every container still waiting ends as
    /// `Deleted`, except one waiting to confirm an anomaly: that one is
    /// reported with its latest verdict (an anomaly, unconfirmed).
    fn finish_pod_early(&mut self, uid: &str, now: Timestamp, model: &ActiveModel) -> Step {
        let Some(state) = self.known.get_mut(uid) else {
            return Step::default();
        };
        state.waiting = 0;
        let (info, at_start) = (&state.info, state.at_start);
        let waited = now.since(info.start_time.unwrap_or(state.first_seen));
        let labeler = model
            .labeler(self.config.label_key.as_deref())
            .with_sidecars(self.config.sidecars.iter().cloned());
        let mut outcomes = Vec::new();
        // The containers as first seen: every one that waits is among them.
        for (c, claim) in info.containers.iter().zip(labeler.container_claims(info)) {
            let Some(w) = self.waiting.remove(&info.id.container(c.name.clone())) else {
                continue;
            };
            if let Some(suspect) = w.suspect {
                let anomaly = suspect.verdict.is_anomaly();
                self.stats.classified += 1;
                self.stats.anomalies += u64::from(anomaly);
                self.stats.unconfirmed += u64::from(anomaly);
                outcomes.push(Outcome::Classified(suspect.unconfirmed(now, waited)));
            } else {
                self.stats.deleted += 1;
                outcomes.push(Outcome::Deleted {
                    pod: info.id.clone(),
                    container: c.name.clone(),
                    claimed: claim.class().map(str::to_string),
                    time: now,
                    at_start,
                });
            }
        }
        Step {
            outcomes,
            skipped: Vec::new(),
        }
    }

    /// Starts a tick at `now`: the one batched fetch it needs — every
    /// waiting container, from the earliest sample any of them still needs —
    /// or `None` when no container waits.
    ///
    /// A container's first fetch reaches back to its pod's start, but no
    /// further than `timeout` + `poll_interval` before `now` (a pod that
    /// started long before it was seen: only recent samples matter). When
    /// the start time is unknown, it reaches back `timeout` + `poll_interval`
    /// before the moment the pod was first seen, as for a pod that started
    /// long before: a window of the model needs at most that much history to
    /// be decided within the timeout.
    pub fn plan_fetch(&mut self, now: Timestamp) -> Option<FetchPlan> {
        self.stats.ticks += 1;
        let mut containers = Vec::new();
        let mut from = now;
        let span = self.timeout + self.config.poll_interval;
        let lookback = now - span;
        for (id, w) in &self.waiting {
            let Some(state) = self.known.get(&w.pod_uid) else {
                continue;
            };
            let first = match state.info.start_time {
                Some(start) => start.max(lookback),
                None => state.first_seen - span,
            };
            from = from.min(w.need_from.unwrap_or(first));
            containers.push(id.clone());
        }
        if containers.is_empty() {
            return None;
        }
        self.stats.fetches += 1;
        Some(FetchPlan {
            containers,
            window: TimeWindow::new(from, now + Duration::from_millis(1)),
            at: now,
        })
    }

    /// Takes the answer to `plan`'s fetch, then [decides](Self::decide) as
    /// of the tick's time.
    ///
    /// Samples are kept per container: those of the metrics the model's
    /// rows read, and of the snapshots its next window needs (a container
    /// waiting for a later window forgets those of the windows judged). A
    /// container the batch marks
    /// [unavailable](MetricBatch::mark_unavailable), or every container of a
    /// fetch that failed, keeps waiting, and its next fetch reaches back as
    /// far as this one did.
    pub fn on_batch(
        &mut self,
        plan: &FetchPlan,
        fetched: Result<MetricBatch, SourceError>,
        model: &ActiveModel,
    ) -> Step {
        match fetched {
            Ok(mut batch) => {
                let next_from = plan.at - self.config.late_data;
                let mut unavailable = 0u64;
                // Only samples that can change a row are kept: with 10,000
                // containers waiting for 3 windows of 4 snapshots, the
                // unread fields of Telegraf's measurements added 18 MiB to
                // the watcher's peak RSS (138 against 120 MiB; BENCHMARKS.md).
                // Samples older than what was dropped once judged
                // (`forget_judged`), fetched again, are not kept either.
                let keep = model.features.sample_mask();
                for id in &plan.containers {
                    let mut new = batch.take(id);
                    let failed = batch.is_unavailable(id);
                    unavailable += u64::from(failed);
                    if let Some(w) = self.waiting.get_mut(id) {
                        let kept_from = w.kept_from.unwrap_or(Timestamp::EPOCH);
                        new.retain(|s| keep.contains(s.metric) && s.time >= kept_from);
                        merge_samples(&mut w.samples, new);
                        // A container whose data could not be read is asked
                        // again from where it was, not from now.
                        if !failed {
                            w.need_from = Some(next_from);
                        }
                    }
                }
                if unavailable > 0 {
                    self.stats.partial_fetches += 1;
                    self.stats.unavailable += unavailable;
                    let causes = batch.unavailable_causes();
                    let first = causes
                        .first()
                        .map_or_else(|| "no cause given".to_owned(), |e| ErrorChain(e.as_ref()).to_string());
                    tracing::warn!(
                        containers = unavailable, of = plan.containers.len(), failures = causes.len(), error = %first,
                        "metrics of some containers could not be fetched; they keep waiting and are asked again next tick"
                    );
                }
            }
            Err(e) => {
                self.stats.fetch_errors += 1;
                tracing::warn!(
                    error = %ErrorChain(&e), containers = plan.containers.len(),
                    "metric fetch failed; containers keep waiting"
                );
            }
        }
        self.decide(plan.at, model)
    }

    /// Decides at `now` with the samples so far: a verdict for every
    /// container with enough complete snapshots for `model`, a timeout for
    /// every container that waited `timeout` since its pod started (or since
    /// it was first seen, if later or if the start time is unknown).
    ///
    /// With [`WatcherConfig::confirm_windows`] `n` > 1, an anomaly is
    /// reported only once `n` windows in a row were anomalies, each window
    /// the latest one that starts after the snapshots the container had when
    /// the previous one was judged (with stride 1: the next `window`
    /// snapshots, sharing none with the previous window). The first normal
    /// verdict is reported as soon as it is reached. When the timeout comes
    /// before the confirming windows (or the first anomaly is reached at or
    /// after the timeout), the latest anomaly is reported unconfirmed
    /// ([`WatchStats::unconfirmed`]): a container that behaved like another
    /// class, or like none, in every window seen is not let go for lack of
    /// time.
    ///
    /// With a model calibrated over `n` windows
    /// ([`ActiveModel::judges_windows`]), the windows are the same, but
    /// their open-set scores are judged together: the verdict at the `n`-th
    /// window comes from the calibrated statistic of all `n`
    /// ([`OpenSetModel::p_values_of_windows`](crate::openset::OpenSetModel::p_values_of_windows)),
    /// every container is decided there (unless
    /// [`WatcherConfig::normal_at_once`] and its first window is normal),
    /// and at the timeout or the pod's end the verdict of the windows seen
    /// so far is reported.
    ///
    /// Each container's claimed class is its own
    /// ([`Labeler::container_claims`]), read with `model`'s classes.
    pub fn decide(&mut self, now: Timestamp, model: &ActiveModel) -> Step {
        self.timeout = self.config.timeout_for(model);
        let first_needed = self.config.min_snapshots.unwrap_or(0).max(model.features.window).max(1);
        let (window, stride) = (model.features.window.max(1), model.features.stride.max(1));
        let confirm = self.config.confirm_windows.max(1);
        // Decide on a calibrated statistic of `confirm` windows together.
        let multi = confirm > 1 && model.judges_windows(confirm);
        let labeler = self.labeler(model);
        let mut outcomes = Vec::new();
        let mut finished = Vec::new();
        for (id, w) in &mut self.waiting {
            let Some(state) = self.known.get(&w.pod_uid) else {
                continue;
            };
            let info = &state.info;
            let since = state.since;
            let expired = now >= since + self.timeout;
            let waited = now.since(info.start_time.unwrap_or(state.first_seen));
            let container = info.container(&w.container);
            let input = container.map(|c| ContainerInput {
                pod: info,
                container: c,
                samples: &w.samples,
            });
            // The next window starts after the snapshots already judged
            // (rounded up to the stride, where training windows start).
            let needed = match &w.suspect {
                None => first_needed,
                Some(s) => s.snapshots.div_ceil(stride) * stride + window,
            };
            let row = input
                .as_ref()
                .and_then(|i| model.features.latest_row_after(i, needed, w.dropped));
            if let Some(row) = row {
                let claimed = labeler.container_claim(info, &w.container).class().map(str::to_string);
                let mut scores = w
                    .suspect
                    .as_mut()
                    .map(|s| std::mem::take(&mut s.scores))
                    .unwrap_or_default();
                let subject = Subject {
                    pod: info,
                    container: &w.container,
                    claimed,
                    time: now,
                    time_to_verdict: waited,
                    at_start: state.at_start,
                };
                let verdict = if multi {
                    model.verdict_of_next_window(&row, &mut scores, subject, &self.config)
                } else {
                    model.verdict(&row, subject, &self.config)
                };
                let windows = w.suspect.as_ref().map_or(0, |s| s.windows) + 1;
                // Wait for the next window: an anomaly not yet confirmed by
                // `confirm` windows; with a multi-window calibration, every
                // verdict before the `confirm`-th window except a first one
                // that is normal when normal verdicts are reported at once.
                let wait = if multi {
                    windows < confirm && !(windows == 1 && self.config.normal_at_once && !verdict.is_anomaly())
                } else {
                    verdict.is_anomaly() && windows < confirm
                };
                let first_anomaly = match &w.suspect {
                    None => verdict.is_anomaly(),
                    Some(s) => s.windows >= 1 && s.first_anomaly,
                };
                if wait {
                    self.stats.suspects += u64::from(w.suspect.is_none() && verdict.is_anomaly());
                    if !expired {
                        // Wait for the next window.
                        let snaps = input.as_ref().map(|i| model.features.complete_snapshot_list(i));
                        let snapshots = snaps.as_ref().map_or(needed, |s| w.dropped + s.len());
                        w.suspect = Some(Suspect {
                            verdict,
                            scores,
                            windows,
                            snapshots,
                            first_anomaly,
                        });
                        if let (Some(c), Some(snaps)) = (container, &snaps) {
                            forget_judged(w, snaps, info, c, model, snapshots.div_ceil(stride) * stride);
                        }
                        continue;
                    }
                    self.stats.unconfirmed += u64::from(verdict.is_anomaly());
                } else if first_anomaly && w.suspect.is_some() && !verdict.is_anomaly() {
                    self.stats.cleared += 1;
                }
                self.stats.classified += 1;
                self.stats.anomalies += u64::from(verdict.is_anomaly());
                outcomes.push(Outcome::Classified(verdict));
                finished.push(id.clone());
            } else if expired {
                match w.suspect.take() {
                    Some(suspect) => {
                        let anomaly = suspect.verdict.is_anomaly();
                        self.stats.classified += 1;
                        self.stats.anomalies += u64::from(anomaly);
                        self.stats.unconfirmed += u64::from(anomaly);
                        outcomes.push(Outcome::Classified(suspect.unconfirmed(now, waited)));
                    }
                    None => {
                        self.stats.timed_out += 1;
                        outcomes.push(Outcome::TimedOut {
                            pod: info.id.clone(),
                            container: w.container.clone(),
                            claimed: labeler.container_claim(info, &w.container).class().map(str::to_string),
                            time: now,
                            waited: now.since(since),
                            at_start: state.at_start,
                        });
                    }
                }
                finished.push(id.clone());
            }
        }
        for id in finished {
            if let Some(w) = self.waiting.remove(&id)
                && let Some(state) = self.known.get_mut(&w.pod_uid)
            {
                state.waiting = state.waiting.saturating_sub(1);
            }
        }
        self.stats.max_pending = self.stats.max_pending.max(self.waiting.len() as u64);
        Step {
            outcomes,
            skipped: Vec::new(),
        }
    }
}

/// Why `p`, first seen at `now`, is too old for `model`, if it is: the model
/// records its training ages, has no steady rows (no rows older than its
/// young horizon) and `p` is older than its oldest young row. A pod whose
/// start time is unknown, or a model without known ages, is judged.
fn too_old(p: &PodInfo, now: Timestamp, model: &ActiveModel) -> Option<SkipReason> {
    let ages = model.ages.as_ref()?;
    if ages.young.is_none() && ages.steady.is_none() {
        return None;
    }
    let age = now.since(p.start_time?);
    let max_age = ages.max_age()?;
    (!ages.covers(age)).then_some(SkipReason::TooOld { age, max_age })
}

/// Complete snapshots kept before the next window's first: the one just
/// before carries the CPU counter that tells Telegraf's first-scrape zero
/// from a measured zero in the window's first snapshot; the one before it
/// absorbs what cutting the samples at a time can change (a sample of the
/// snapshot before that, at the same time as the first kept one).
const KEPT_BEFORE_WINDOW: usize = 2;

/// Drops `w`'s samples of complete snapshots before the next window, which
/// starts at (absolute) snapshot `next_start`, keeping
/// [`KEPT_BEFORE_WINDOW`] snapshots before it; `snaps` are the complete
/// snapshots of `w`'s samples as they are. A container waiting for its
/// third window of 4 snapshots otherwise holds 12 snapshots and more; with
/// 10,000 of them that was most of the watcher's memory. The snapshots
/// dropped are counted ([`Waiting::dropped`]) so that the windows are
/// placed as before.
fn forget_judged(
    w: &mut Waiting,
    snaps: &[Snapshot],
    pod: &PodInfo,
    container: &ContainerInfo,
    model: &ActiveModel,
    next_start: usize,
) {
    let keep_from = next_start.saturating_sub(KEPT_BEFORE_WINDOW);
    let Some(local) = keep_from.checked_sub(w.dropped).filter(|l| *l > 0) else {
        return;
    };
    let Some(cut) = snaps.get(local).map(|s| s.time) else {
        return;
    };
    let first = w.samples.partition_point(|s| s.time < cut);
    let kept = w.samples.split_off(first);
    // Counted again: cutting at a time can change the first kept snapshot.
    let after = model.features.complete_snapshots(&ContainerInput {
        pod,
        container,
        samples: &kept,
    });
    w.dropped += snaps.len().saturating_sub(after);
    w.samples = kept;
    w.kept_from = Some(cut);
}

#[cfg(test)]
impl WatchState {
    /// The samples kept for waiting containers, all together.
    pub(crate) fn kept_samples(&self) -> usize {
        self.waiting.values().map(|w| w.samples.len()).sum()
    }
}

/// Adds `new` samples to `have`, keeping time order and dropping exact
/// duplicates (the same metric at the same time fetched twice because of the
/// late-data overlap).
fn merge_samples(have: &mut Vec<Sample>, new: Vec<Sample>) {
    if new.is_empty() {
        return;
    }
    // Exactly what is needed: with 10,000 containers waiting, the slack of a
    // doubling Vec would be megabytes.
    have.reserve_exact(new.len());
    have.extend(new);
    have.sort_by(|a, b| a.time.cmp(&b.time).then(a.metric.cmp(&b.metric)));
    have.dedup_by(|a, b| a.time == b.time && a.metric == b.metric);
}
