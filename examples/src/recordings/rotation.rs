//! The rotations of the recordings into training pods and judged pods, as
//! the tests that judge the recordings through the engines build them
//! (`examples/tests/slow_scrapes.rs`,
//! `cad-influx/tests/recordings_end_to_end.rs`): rotation `held` trains on
//! every instance of the known classes ([`KNOWN`]) but number `held`
//! (`nginx-3` is number 3) and judges
//!
//! * honest: the held-out instance of each known class, named as it is;
//! * impostors: each of them renamed as each other known class;
//! * unknown services: every service outside the class list under its own
//!   name (claiming nothing),
//! * and the same named as each known class.
//!
//! Each pod is a recording under some name, moved to start at a given time
//! ([`moved_samples`]): the training pods at one, the judged pods at
//! another, so a watcher sees them start "now". The tests then judge them
//! in-process ([`fit`], [`rows`]) and through the engines
//! ([`collect_and_train`] on the training pods, [`watch`] over the judged
//! ones, reading [`InMemory`] or a store), and count the verdicts per
//! [`Role`] ([`count`]).

use super::Instance;
use cad_core::engine::{
    ActiveModel, CollectConfig, CollectError, CollectStats, TrainConfig, TrainError, WatchState, WatcherConfig,
    collect_dataset, train,
};
use cad_core::openset::{Kind, NoveltyParams, OpenSetError, OpenSetModel};
use cad_core::{
    Clock, ContainerId, ContainerInfo, ContainerInput, Dataset, DatasetError, FeatureRow, FeatureSet, Labeler,
    MetricBatch, MetricSource, Outcome, PodEvent, PodId, PodInfo, PodPhase, Sample, SourceError, StaticPods,
    TimeWindow, Timestamp,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// The known classes, in the order the claims index them.
pub const KNOWN: [&str; 4] = ["nginx", "apache", "mysql", "postgresql"];

/// The node every pod runs on (written as Telegraf's `node_name` tag; the
/// verdicts carry it, the figures do not depend on it).
pub const NODE: &str = "node-1";

/// The number in a pod's name (`nginx-3` → 3): the rotation that holds it out.
pub fn instance_no(pod: &str) -> Option<usize> {
    pod.rsplit('-').next().and_then(|n| n.parse().ok())
}

/// Why a pod is judged, and so what judging it right means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// A held-out instance of a known class under its own name.
    Honest,
    /// A held-out instance of a known class named as another known class.
    Impostor,
    /// A service outside the class list named as a known class.
    UnknownNamed,
    /// A service outside the class list under its own name (claiming nothing).
    Unknown,
}

impl Role {
    /// Whether a verdict of `kind` flags a pod of this role: an anomaly, for
    /// an unnamed service outside the class list the kind unknown.
    pub fn flagged(self, kind: Kind) -> bool {
        match self {
            Role::Unknown => kind == Kind::Unknown,
            _ => kind.is_anomaly(),
        }
    }
}

/// Per role: (flagged, judged), flagged as [`Role::flagged`] says.
pub type Counts = BTreeMap<Role, (usize, usize)>;

/// `flagged/judged` of `role`, or `-` where none was judged.
pub fn fraction(counts: &Counts, role: Role) -> String {
    counts.get(&role).map_or("-".to_owned(), |(f, n)| format!("{f}/{n}"))
}

/// The counts as one sentence: `honest flagged 0/4, impostors flagged …`.
pub fn describe(counts: &Counts) -> String {
    format!(
        "honest flagged {}, impostors flagged {}, unknowns named like a class flagged {}, unnamed unknowns judged unknown {}",
        fraction(counts, Role::Honest),
        fraction(counts, Role::Impostor),
        fraction(counts, Role::UnknownNamed),
        fraction(counts, Role::Unknown)
    )
}

/// Counts a verdict of `kind` on a pod of `role`.
pub fn count(counts: &mut Counts, role: Role, kind: Kind) {
    let e = counts.entry(role).or_default();
    e.0 += usize::from(role.flagged(kind));
    e.1 += 1;
}

/// A pod of a rotation: a recording under some name, moved to start at
/// `info.start_time`.
#[derive(Clone, Debug)]
pub struct RotatedPod {
    /// The pod as a pod source reports it (running on [`NODE`], one container).
    pub info: PodInfo,
    /// Index into the instances.
    pub inst: usize,
    /// The known class it claims (index into [`KNOWN`]), if any.
    pub claimed: Option<usize>,
    /// Why it is judged; `None` for a training pod.
    pub role: Option<Role>,
}

impl RotatedPod {
    /// Instance `inst` as pod `name` (UID `uid`) with one container
    /// (image `debian/<container>`), started at `start`.
    pub fn new(inst: usize, name: &str, uid: &str, container: &str, start: Timestamp, role: Option<Role>) -> Self {
        let mut info = PodInfo::new(PodId::new("rec", name, uid));
        info.start_time = Some(start);
        info.phase = PodPhase::Running;
        info.node = Some(NODE.into());
        info.containers
            .push(ContainerInfo::new(container, format!("debian/{container}")));
        let claimed = Labeler::new(KNOWN)
            .container_claims(&info)
            .first()
            .and_then(|c| c.class())
            .and_then(|c| KNOWN.iter().position(|k| *k == c));
        RotatedPod {
            info,
            inst,
            claimed,
            role,
        }
    }

    /// Its container's identity.
    pub fn container_id(&self) -> ContainerId {
        self.info.id.container(self.info.containers[0].name.clone())
    }
}

/// When the pods of a rotation start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Starts {
    /// The training pods' start.
    pub training: Timestamp,
    /// The judged pods' start.
    pub judged: Timestamp,
}

impl Starts {
    /// The training pods at 1,700,000,000 s, the judged pods an hour later.
    pub const HOUR_APART: Starts = Starts {
        training: Timestamp::from_secs(1_700_000_000),
        judged: Timestamp::from_secs(1_700_000_000 + 3_600),
    };

    /// When the training pods have run `secs` seconds.
    pub const fn training_plus(self, secs: i64) -> Timestamp {
        Timestamp::from_millis(self.training.as_millis() + secs * 1_000)
    }
}

/// The training pods and the judged ones of rotation `held` (see the
/// module documentation). Renamed pods name their container `app`, so only
/// the pod name claims a class.
pub fn pods(instances: &[Instance], held: usize, starts: Starts) -> (Vec<RotatedPod>, Vec<RotatedPod>) {
    let (mut training, mut judged) = (Vec::new(), Vec::new());
    let judge = |i: usize, name: &str, uid: &str, container: &str, role| {
        RotatedPod::new(i, name, uid, container, starts.judged, Some(role))
    };
    for (i, inst) in instances.iter().enumerate() {
        match KNOWN.iter().position(|k| *k == inst.class) {
            Some(_) if instance_no(&inst.pod) != Some(held) => {
                training.push(RotatedPod::new(
                    i,
                    &inst.pod,
                    &inst.uid,
                    &inst.container,
                    starts.training,
                    None,
                ));
            }
            Some(c) => {
                judged.push(judge(i, &inst.pod, &inst.uid, &inst.container, Role::Honest));
                for (o, other) in KNOWN.iter().enumerate().filter(|(o, _)| *o != c) {
                    let (name, uid) = (format!("{other}-imp-{c}"), format!("{}-imp-{o}", inst.uid));
                    judged.push(judge(i, &name, &uid, "app", Role::Impostor));
                }
            }
            None => {
                judged.push(judge(i, &inst.pod, &inst.uid, &inst.container, Role::Unknown));
                for (o, other) in KNOWN.iter().enumerate() {
                    let (name, uid) = (format!("{other}-unk-{}", inst.pod), format!("{}-unk-{o}", inst.uid));
                    judged.push(judge(i, &name, &uid, "app", Role::UnknownNamed));
                }
            }
        }
    }
    (training, judged)
}

/// Every pod's samples of `recorded` under its own container id, moved so
/// the recording starts at the pod's start time.
pub fn moved_samples(pods: &[&RotatedPod], instances: &[Instance], recorded: &MetricBatch) -> MetricBatch {
    let mut batch = MetricBatch::new();
    for p in pods {
        let inst = &instances[p.inst];
        let start = p.info.start_time.map_or(inst.start_ms, |t| t.as_millis());
        let shift = start - inst.start_ms;
        let series = batch.series_mut(&p.container_id());
        for s in recorded.samples(&inst.id()) {
            series.push(Sample::new(
                Timestamp::from_millis(s.time.as_millis() + shift),
                s.metric,
                s.value,
            ));
        }
    }
    batch
}

/// Samples in memory, answered per window as a store would.
#[derive(Clone, Debug, Default)]
pub struct InMemory(pub MetricBatch);

#[async_trait::async_trait]
impl MetricSource for InMemory {
    async fn fetch(&self, containers: &[ContainerId], window: TimeWindow) -> Result<MetricBatch, SourceError> {
        let mut batch = MetricBatch::new();
        for id in containers {
            let series = batch.series_mut(id);
            series.extend(self.0.samples(id).iter().filter(|s| window.contains(s.time)).copied());
        }
        Ok(batch)
    }
}

/// The watcher's verdict on a container from its rows (one starting at
/// every snapshot, windows of `window` snapshots): the statistic of its first
/// [`DEFAULT_CONFIRM_WINDOWS`](cad_core::engine::DEFAULT_CONFIRM_WINDOWS)
/// windows sharing no snapshot, or the first window alone where the model
/// cannot judge several.
pub fn judge_first_windows(
    model: &OpenSetModel,
    rows: &[FeatureRow],
    window: usize,
    claimed: Option<usize>,
    alpha: f64,
) -> Kind {
    let ws: Vec<&FeatureRow> = (0..cad_core::engine::DEFAULT_CONFIRM_WINDOWS)
        .filter_map(|j| rows.get(j * window))
        .collect();
    if ws.len() >= 2 && model.judges_windows(ws.len()) {
        let scores: Vec<_> = ws.iter().filter_map(|r| model.window_scores(r)).collect();
        model.judge_windows(&scores, claimed, alpha).kind
    } else {
        model.judge(&rows[0], claimed, alpha).kind
    }
}

/// The feature rows under `set` of a pod's recording as recorded in
/// `batch` (at its recorded time, under its recorded name), oldest first.
pub fn rows(pod: &RotatedPod, instances: &[Instance], batch: &MetricBatch, set: &FeatureSet) -> Vec<FeatureRow> {
    let inst = &instances[pod.inst];
    let info = inst.pod_info();
    set.rows(&ContainerInput {
        pod: &info,
        container: &info.containers[0],
        samples: batch.samples(&inst.id()),
    })
}

/// The open-set model fitted in-process on every row ([`rows`]) of the
/// training pods, its windows `set.window` rows apart (windows that share
/// no snapshot), as `openset_recordings.rs` fits it.
pub fn fit(
    training: &[RotatedPod],
    instances: &[Instance],
    batch: &MetricBatch,
    set: &FeatureSet,
) -> Result<OpenSetModel, Error> {
    let mut data = Dataset::new(set.column_names(), KNOWN.iter().map(|s| s.to_string()).collect());
    for p in training {
        let inst = &instances[p.inst];
        for r in rows(p, instances, batch, set) {
            data.push(&r, &inst.class, &inst.pod)?;
        }
    }
    NoveltyParams {
        window_gap: set.window.max(1),
        ..NoveltyParams::default()
    }
    .fit(&data)
    .map_err(Error::Fit)
}

/// The engines' training on `training`: the collector reading them from
/// `source` at `clock`'s time under `collect`, then training (no
/// classifier method, no curve) at that time. The collected data, the
/// collector's statistics and the model.
pub async fn collect_and_train(
    training: &[RotatedPod],
    source: &impl MetricSource,
    clock: &impl Clock,
    collect: &CollectConfig,
    trained_on: &str,
) -> Result<(Dataset, CollectStats, ActiveModel), Error> {
    let at = clock.now();
    let features = FeatureSet::behaviour();
    let (data, stats) = collect_dataset(
        StaticPods::new(training.iter().map(|p| p.info.clone())),
        source,
        clock,
        &Labeler::new(KNOWN),
        &features,
        collect,
        (),
    )
    .await?;
    let config = TrainConfig {
        method: None,
        curve_points: 0,
        trained_on: trained_on.into(),
        ..TrainConfig::default()
    };
    let trained = train(&data, &features, &config, at, ())?;
    Ok((data, stats, ActiveModel::from_bundle(trained.bundle)))
}

/// Why [`fit`] or [`collect_and_train`] failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A training row did not fit the data set.
    #[error("a training row did not fit the data set")]
    Row(#[from] DatasetError),
    /// The open-set model could not be fitted.
    #[error("fitting the open-set model")]
    Fit(#[from] OpenSetError),
    /// The collector failed.
    #[error("collecting from the training pods")]
    Collect(#[from] CollectError),
    /// Training failed.
    #[error("training")]
    Train(#[from] TrainError),
}

/// The watcher's state under `watcher` stepped over `judged`, added at
/// `start`, every poll interval after it until every container has an
/// outcome or the time passes `limit`: the outcomes, and how many
/// containers were still pending.
pub async fn watch(
    watcher: WatcherConfig,
    model: &ActiveModel,
    judged: &[RotatedPod],
    source: &impl MetricSource,
    start: Timestamp,
    limit: Timestamp,
) -> (Vec<Outcome>, usize) {
    let poll = watcher.poll_interval;
    let mut state = WatchState::new(watcher, start - Duration::from_secs(1));
    let mut outcomes = Vec::new();
    for p in judged {
        outcomes.extend(state.on_event(PodEvent::Added(p.info.clone()), start, model).outcomes);
    }
    let mut now = start;
    while state.pending() > 0 && now <= limit {
        now += poll;
        let step = match state.plan_fetch(now) {
            Some(plan) => {
                let fetched = source.fetch(&plan.containers, plan.window).await;
                state.on_batch(&plan, fetched, model)
            }
            None => state.decide(now, model),
        };
        outcomes.extend(step.outcomes);
    }
    (outcomes, state.pending())
}
