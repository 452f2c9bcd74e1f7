//! The watcher's state machine, driven by hand: no runtime, no clock, no
//! sources. (The whole watcher on the simulated cluster is tested in
//! `cad-core/tests/engines.rs`.)

use super::*;
use crate::classifier::{Classifier, Prediction};
use crate::features::{Column, Feature, FeatureSet};
use crate::metric::{Metric, MetricBatch, Sample};
use crate::openset::Kind;
use crate::pod::{ContainerInfo, PodId, PodInfo, PodPhase};
use crate::source::SourceError;
use crate::time::Timestamp;
use crate::verdict::{ANNOTATION_PREDICTED, AnomalyReason, SkipReason};

/// Predicts class 0 ("nginx") with confidence 0.9.
struct First;

impl Classifier for First {
    fn n_features(&self) -> usize {
        1
    }
    fn n_classes(&self) -> usize {
        2
    }
    fn predict(&self, _row: &[Option<f64>]) -> Prediction {
        Prediction {
            class: 0,
            confidence: 0.9,
        }
    }
    fn predict_proba_into(&self, _row: &[Option<f64>], out: &mut [f64]) {
        out.iter_mut()
            .enumerate()
            .for_each(|(i, p)| *p = [0.9, 0.1].get(i).copied().unwrap_or(0.0));
    }
}

/// A model over one column, the memory of the window's last snapshot, in
/// windows of two snapshots.
fn model() -> ActiveModel {
    ActiveModel {
        classifier: Arc::new(First),
        classes: vec!["nginx".into(), "mysql".into()],
        features: FeatureSet {
            name: "memory".into(),
            columns: vec![Column {
                name: "memory".into(),
                feature: Feature::Last(Metric::MemoryUsageBytes),
            }],
            required: vec![Metric::MemoryUsageBytes],
            window: 2,
            stride: 1,
            align_tolerance_ms: 5_000,
        },
        description: "test".into(),
        ages: None,
        open_set: None,
        confidence: None,
    }
}

const T0: i64 = 1_700_000_000;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_secs(T0 + secs)
}

fn pod(name: &str, started: Option<i64>) -> PodInfo {
    let mut p = PodInfo::new(PodId::new("ns", name, format!("uid-{name}")));
    p.phase = PodPhase::Running;
    p.start_time = started.map(at);
    p.containers = vec![ContainerInfo::new("main", "img")];
    p
}

fn memory(p: &PodInfo, secs: &[i64]) -> MetricBatch {
    let mut b = MetricBatch::new();
    let id = p.id.container("main");
    for &s in secs {
        b.push(&id, Sample::new(at(s), Metric::MemoryUsageBytes, 1e6));
    }
    b
}

fn state() -> WatchState {
    WatchState::new(WatcherConfig::default(), at(0))
}

#[test]
fn a_container_is_classified_once_it_has_a_window_and_then_never_again() {
    let (mut s, m) = (state(), model());
    let p = pod("nginx-1", Some(1));
    assert!(s.on_event(PodEvent::Added(p.clone()), at(1), &m).is_empty());
    assert_eq!(s.pending(), 1);

    let plan = s.plan_fetch(at(5)).expect("a started pod's container is fetched");
    assert_eq!(plan.containers, vec![p.id.container("main")]);
    assert_eq!((plan.window.start, plan.at), (at(1), at(5)));
    // One snapshot: not yet a window of two.
    assert!(s.on_batch(&plan, Ok(memory(&p, &[2])), &m).outcomes.is_empty());

    let plan = s.plan_fetch(at(15)).unwrap();
    // The next fetch reaches back one poll interval (late data), not to the start.
    assert_eq!(plan.window.start, at(0));
    let step = s.on_batch(&plan, Ok(memory(&p, &[2, 12])), &m);
    let [Outcome::Classified(v)] = step.outcomes.as_slice() else {
        panic!("{step:?}")
    };
    assert_eq!((v.predicted.as_str(), v.claimed.as_deref()), ("nginx", Some("nginx")));
    assert_eq!((v.time, v.time_to_verdict), (at(15), Duration::from_secs(14)));
    assert!(!v.is_anomaly() && !v.at_start);

    assert_eq!(s.pending(), 0);
    assert!(s.plan_fetch(at(20)).is_none());
    assert!(s.decide(at(500), &m).is_empty());
    // A deletion after the verdict adds nothing.
    assert!(s.on_event(PodEvent::Deleted(p.id.clone()), at(30), &m).is_empty());
    let stats = s.finish();
    assert_eq!(
        (stats.classified, stats.deleted, stats.ticks, stats.fetches),
        (1, 0, 3, 2)
    );
    assert_eq!((stats.events, stats.max_pending, stats.still_pending), (2, 1, 0));
}

#[test]
fn a_deleted_pod_ends_as_deleted_and_its_late_metrics_are_ignored() {
    let (mut s, m) = (state(), model());
    let p = pod("mysql-1", Some(1));
    s.on_event(PodEvent::Added(p.clone()), at(1), &m);
    let plan = s.plan_fetch(at(5)).unwrap();
    let step = s.on_event(PodEvent::Deleted(p.id.clone()), at(6), &m);
    let [Outcome::Deleted { claimed, time, .. }] = step.outcomes.as_slice() else {
        panic!("{step:?}")
    };
    assert_eq!((claimed.as_deref(), *time), (Some("mysql"), at(6)));
    // The answer to a fetch planned before the deletion decides nothing.
    assert!(s.on_batch(&plan, Ok(memory(&p, &[2, 3, 4])), &m).is_empty());
    assert_eq!(s.finish().deleted, 1);
}

#[test]
fn a_pod_that_ends_ends_its_waiting_containers() {
    let (mut s, m) = (state(), model());
    let mut p = pod("nginx-2", Some(1));
    s.on_event(PodEvent::Added(p.clone()), at(1), &m);
    p.phase = PodPhase::Failed;
    let step = s.on_event(PodEvent::Updated(p.clone()), at(9), &m);
    assert!(
        matches!(step.outcomes.as_slice(), [Outcome::Deleted { .. }]),
        "{step:?}"
    );
    assert!(s.on_event(PodEvent::Updated(p), at(10), &m).is_empty());
}

#[test]
fn a_container_without_metrics_times_out_after_the_timeout() {
    let (mut s, m) = (state(), model());
    let p = pod("silent", Some(10));
    s.on_event(PodEvent::Added(p.clone()), at(10), &m);
    for t in (15..130).step_by(5) {
        let plan = s.plan_fetch(at(t)).unwrap();
        assert!(s.on_batch(&plan, Ok(MetricBatch::new()), &m).is_empty(), "at {t}");
    }
    let plan = s.plan_fetch(at(130)).unwrap();
    let step = s.on_batch(&plan, Ok(MetricBatch::new()), &m);
    let [Outcome::TimedOut { waited, claimed, .. }] = step.outcomes.as_slice() else {
        panic!("{step:?}")
    };
    assert_eq!((*waited, claimed.as_deref()), (Duration::from_secs(120), None));
}

#[test]
fn unreadable_containers_keep_their_fetch_start_and_failed_fetches_count() {
    let (mut s, m) = (state(), model());
    let p = pod("nginx-3", Some(1));
    s.on_event(PodEvent::Added(p.clone()), at(1), &m);
    let unavailable = || SourceError::Unavailable {
        backend: "test".into(),
        source: "timed out".into(),
    };
    for t in [5, 10, 15] {
        let plan = s.plan_fetch(at(t)).unwrap();
        assert_eq!(plan.window.start, at(1), "at {t}: still from the pod's start");
        let mut batch = memory(&p, &[2]);
        batch.take(&p.id.container("main"));
        batch.mark_unavailable([&p.id.container("main")], unavailable());
        assert!(s.on_batch(&plan, Ok(batch), &m).is_empty());
    }
    let plan = s.plan_fetch(at(20)).unwrap();
    assert_eq!(plan.window.start, at(1));
    assert!(s.on_batch(&plan, Err(unavailable()), &m).is_empty());
    let plan = s.plan_fetch(at(25)).unwrap();
    assert_eq!(plan.window.start, at(1));
    // Its whole history arrives at once: classified at this very tick.
    let step = s.on_batch(&plan, Ok(memory(&p, &[2, 12, 22])), &m);
    assert!(matches!(step.outcomes.as_slice(), [Outcome::Classified(_)]), "{step:?}");
    let stats = s.finish();
    assert_eq!(
        (stats.partial_fetches, stats.unavailable, stats.fetch_errors),
        (3, 3, 1)
    );
}

#[test]
fn pods_running_at_the_start_and_annotated_pods_are_skipped_with_the_reason() {
    let m = model();
    let mut annotated = pod("nginx-4", Some(5));
    annotated
        .annotations
        .insert(ANNOTATION_PREDICTED.into(), "nginx".into());
    // Started 300 s before the watcher: older than the 120 s timeout.
    let old = pod("nginx-5", Some(-300));
    let recent = pod("nginx-6", Some(-30));
    let unstarted = pod("nginx-7", None);
    for (mode, judged) in [
        (ExistingPods::Recent, vec!["nginx-6", "nginx-7"]),
        (ExistingPods::All, vec!["nginx-5", "nginx-6", "nginx-7"]),
        (ExistingPods::None, vec!["nginx-7"]),
    ] {
        let config = WatcherConfig {
            existing_pods: mode,
            ..WatcherConfig::default()
        };
        let mut s = WatchState::new(config, at(0));
        let mut skipped = Vec::new();
        for p in [&annotated, &old, &recent, &unstarted] {
            skipped.extend(s.on_event(PodEvent::Added(p.clone()), at(1), &m).skipped);
        }
        let mut expected_skips = vec![(annotated.id.clone(), SkipReason::AlreadyClassified)];
        for p in [&old, &recent] {
            if !judged.contains(&p.id.name.as_str()) {
                expected_skips.push((p.id.clone(), SkipReason::RunningBeforeStart));
            }
        }
        assert_eq!(skipped, expected_skips, "{mode:?}");
        assert_eq!(s.pending(), judged.len(), "{mode:?}");
        // A pod whose start time is unknown is fetched too (from its first
        // sight back; see the tests below).
        let plan = s.plan_fetch(at(2));
        assert_eq!(plan.map_or(0, |p| p.containers.len()), judged.len(), "{mode:?}");
        let stats = s.finish();
        assert_eq!(stats.already_classified, 1);
        assert_eq!(stats.skipped_at_start as usize, 3 - judged.len(), "{mode:?}");
    }
}

#[test]
fn a_pod_started_long_before_it_was_seen_is_fetched_from_the_recent_past_only() {
    // A watcher started two days ago, which sees the pod only now.
    let (mut s, m) = (WatchState::new(WatcherConfig::default(), at(-172_800)), model());
    s.on_event(PodEvent::Added(pod("nginx-8", Some(-86_400))), at(1000), &m);
    let plan = s.plan_fetch(at(1000)).unwrap();
    // timeout (120 s) + one poll interval (5 s) back.
    assert_eq!(plan.window.start, at(1000 - 125));
}

fn with_containers(mut p: PodInfo, containers: &[(&str, &str)]) -> PodInfo {
    p.containers = containers.iter().map(|(n, i)| ContainerInfo::new(*n, *i)).collect();
    p
}

fn batch_for(p: &PodInfo, container: &str, secs: &[i64]) -> MetricBatch {
    let mut b = MetricBatch::new();
    let id = p.id.container(container);
    for &s in secs {
        b.push(&id, Sample::new(at(s), Metric::MemoryUsageBytes, 1e6));
    }
    b
}

/// A model trained on young rows (up to 290 s of age) and, with `steady`,
/// on rows of pods up to a day old.
fn aged_model(steady: bool) -> ActiveModel {
    use crate::age::{AgeCoverage, AgeRange};
    let range = |min, max| AgeRange {
        min: Duration::from_secs(min),
        max: Duration::from_secs(max),
    };
    ActiveModel {
        ages: Some(AgeCoverage {
            young_horizon: Duration::from_secs(300),
            young: Some(range(20, 290)),
            steady: steady.then(|| range(600, 86_400)),
            young_rows: 10,
            steady_rows: if steady { 10 } else { 0 },
            ..AgeCoverage::default()
        }),
        ..model()
    }
}

#[test]
fn sidecars_are_skipped_at_once_and_each_container_claims_its_own_class() {
    // Each verdict on its first window: the anomaly is not held back.
    let (mut s, m) = (confirming(1), model());
    let p = with_containers(
        pod("shop-1", Some(1)),
        &[
            ("web", "nginx:1.25"),
            ("istio-proxy", "docker.io/istio/proxyv2:1.20"),
            ("db", "mysql:8"),
        ],
    );
    let step = s.on_event(PodEvent::Added(p.clone()), at(1), &m);
    let [
        Outcome::Skipped {
            container,
            reason: SkipReason::Sidecar,
            claimed: None,
            at_start: false,
            ..
        },
    ] = step.outcomes.as_slice()
    else {
        panic!("{step:?}")
    };
    assert_eq!(container, "istio-proxy");
    assert!(step.skipped.is_empty(), "the pod itself is judged");
    assert_eq!(s.pending(), 2);
    let plan = s.plan_fetch(at(15)).unwrap();
    assert!(!plan.containers.contains(&p.id.container("istio-proxy")));
    let mut batch = batch_for(&p, "web", &[2, 12]);
    for t in [2, 12] {
        batch.push(&p.id.container("db"), Sample::new(at(t), Metric::MemoryUsageBytes, 1e6));
    }
    let step = s.on_batch(&plan, Ok(batch), &m);
    let mut got: Vec<(String, Option<String>, bool)> = step
        .outcomes
        .iter()
        .map(|o| match o {
            Outcome::Classified(v) => (v.container.clone(), v.claimed.clone(), v.is_anomaly()),
            other => panic!("{other:?}"),
        })
        .collect();
    got.sort();
    // The model says nginx for both: the mysql container is the anomaly.
    assert_eq!(
        got,
        [
            ("db".to_owned(), Some("mysql".to_owned()), true),
            ("web".to_owned(), Some("nginx".to_owned()), false)
        ]
    );
    // The sidecar's outcome was its only one: a deletion adds nothing.
    assert!(s.on_event(PodEvent::Deleted(p.id.clone()), at(20), &m).is_empty());
    let stats = s.finish();
    assert_eq!((stats.sidecars, stats.classified, stats.anomalies), (1, 2, 1));
}

#[test]
fn a_sidecar_listed_as_a_class_or_left_off_the_list_is_judged() {
    let p = with_containers(
        pod("nginx-1", Some(1)),
        &[("nginx", "nginx"), ("envoy", "envoyproxy/envoy:v1")],
    );
    // envoy is one of the model's classes: classified as one.
    let m = ActiveModel {
        classes: vec!["nginx".into(), "envoy".into()],
        ..model()
    };
    let mut s = state();
    assert!(s.on_event(PodEvent::Added(p.clone()), at(1), &m).is_empty());
    assert_eq!(s.pending(), 2);
    let step = s.decide(at(200), &m);
    let claims: Vec<_> = step
        .outcomes
        .iter()
        .map(|o| match o {
            Outcome::TimedOut { container, claimed, .. } => (container.as_str(), claimed.as_deref()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(claims.len(), 2);
    assert!(claims.contains(&("envoy", Some("envoy"))) && claims.contains(&("nginx", Some("nginx"))));
    // An empty sidecar list: envoy is an ordinary container, claiming nothing.
    let config = WatcherConfig {
        sidecars: Vec::new(),
        ..WatcherConfig::default()
    };
    let (mut s, m) = (WatchState::new(config, at(0)), model());
    assert!(s.on_event(PodEvent::Added(p), at(1), &m).is_empty());
    assert_eq!(s.pending(), 2);
}

#[test]
fn a_pod_without_a_start_time_is_fetched_from_its_first_sight_and_times_out() {
    let (mut s, m) = (state(), model());
    // PodInfo::new knows no start time.
    let mut p = PodInfo::new(PodId::new("ns", "nginx-9", "uid-9"));
    p.containers = vec![ContainerInfo::new("main", "img")];
    s.on_event(PodEvent::Added(p.clone()), at(10), &m);
    let plan = s.plan_fetch(at(12)).expect("fetched although its start is unknown");
    // From first sight back by the timeout and one poll interval.
    assert_eq!(plan.window.start, at(10 - 125));
    assert!(s.on_batch(&plan, Ok(MetricBatch::new()), &m).is_empty());
    assert!(s.decide(at(129), &m).is_empty());
    let step = s.decide(at(130), &m);
    let [Outcome::TimedOut { waited, claimed, .. }] = step.outcomes.as_slice() else {
        panic!("{step:?}")
    };
    assert_eq!((*waited, claimed.as_deref()), (Duration::from_secs(120), Some("nginx")));
    assert_eq!(s.pending(), 0);

    // Its samples, if any, classify it; the time to verdict counts from first sight.
    let (mut s, m) = (state(), model());
    s.on_event(PodEvent::Added(p.clone()), at(10), &m);
    let plan = s.plan_fetch(at(20)).unwrap();
    let step = s.on_batch(&plan, Ok(memory(&p, &[-30, 15])), &m);
    let [Outcome::Classified(v)] = step.outcomes.as_slice() else {
        panic!("{step:?}")
    };
    assert_eq!(v.time_to_verdict, Duration::from_secs(10));
}

#[test]
fn a_start_time_reported_later_moves_the_deadline_to_the_start() {
    let (mut s, m) = (state(), model());
    let mut p = pod("nginx-10", None);
    p.phase = PodPhase::Pending;
    s.on_event(PodEvent::Added(p.clone()), at(10), &m);
    // It starts at 40 s; the update says so at 45 s.
    p.phase = PodPhase::Running;
    p.start_time = Some(at(40));
    s.on_event(PodEvent::Updated(p.clone()), at(45), &m);
    assert!(s.decide(at(159), &m).is_empty());
    let step = s.decide(at(160), &m);
    assert!(
        matches!(step.outcomes.as_slice(), [Outcome::TimedOut { waited, .. }] if *waited == Duration::from_secs(120)),
        "{step:?}"
    );
    // A start time after the event that reports it counts as the event's time.
    let (mut s, m) = (state(), model());
    let mut q = pod("nginx-11", None);
    s.on_event(PodEvent::Added(q.clone()), at(10), &m);
    q.start_time = Some(at(10_000));
    s.on_event(PodEvent::Updated(q), at(20), &m);
    assert!(s.decide(at(139), &m).is_empty());
    assert_eq!(s.decide(at(140), &m).outcomes.len(), 1);
}

#[test]
fn a_pod_older_than_the_models_ages_is_skipped_unless_the_model_has_steady_rows() {
    let young_only = aged_model(false);
    let config = WatcherConfig {
        existing_pods: ExistingPods::All,
        ..WatcherConfig::default()
    };
    let mut s = WatchState::new(config.clone(), at(0));
    // Running for two hours before the watcher started, with a sidecar.
    let old = with_containers(
        pod("nginx-12", Some(-7200)),
        &[("nginx", "nginx"), ("fluent-bit", "fluent/fluent-bit:3")],
    );
    let step = s.on_event(PodEvent::Added(old.clone()), at(1), &young_only);
    let mut reasons: Vec<_> = step
        .outcomes
        .iter()
        .map(|o| match o {
            Outcome::Skipped {
                container,
                reason,
                at_start: true,
                ..
            } => (container.clone(), *reason),
            other => panic!("{other:?}"),
        })
        .collect();
    reasons.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        reasons,
        [
            ("fluent-bit".to_owned(), SkipReason::Sidecar),
            (
                "nginx".to_owned(),
                SkipReason::TooOld {
                    age: Duration::from_secs(7201),
                    max_age: Duration::from_secs(290)
                }
            )
        ]
    );
    assert!(step.outcomes.iter().any(|o| {
        o.to_string()
            .contains("too old (age 7201 s; the model was trained for ages up to 290 s)")
    }));
    // A young pod is judged by the same model, even one first seen late.
    let young = pod("nginx-13", Some(-100));
    assert!(s.on_event(PodEvent::Added(young), at(1), &young_only).is_empty());
    assert_eq!(s.pending(), 1);
    let stats = s.finish();
    assert_eq!((stats.too_old, stats.sidecars), (1, 1));

    // A model with steady rows judges the old pod, on a row of its current age.
    let (mut s, steady) = (WatchState::new(config, at(0)), aged_model(true));
    let step = s.on_event(PodEvent::Added(old.clone()), at(1), &steady);
    assert!(
        matches!(
            step.outcomes.as_slice(),
            [Outcome::Skipped {
                reason: SkipReason::Sidecar,
                ..
            }]
        ),
        "{step:?}"
    );
    let plan = s.plan_fetch(at(5)).unwrap();
    assert_eq!(plan.window.start, at(5 - 125));
    let step = s.on_batch(&plan, Ok(batch_for(&old, "nginx", &[-10, 0])), &steady);
    let [Outcome::Classified(v)] = step.outcomes.as_slice() else {
        panic!("{step:?}")
    };
    assert!(v.at_start);
    assert_eq!(v.time_to_verdict, Duration::from_secs(7205));

    // Without known ages (a model trained from a file), every age is judged.
    let (mut s, m) = (WatchState::new(WatcherConfig::default(), at(-86_400)), model());
    assert!(
        s.on_event(PodEvent::Added(pod("nginx-14", Some(-80_000))), at(1), &m)
            .is_empty()
    );
    assert_eq!(s.pending(), 1);
}

/// Predicts "nginx" (class 0) for a memory under 2 MB, "mysql" (class 1)
/// above, with confidence 0.9: an `nginx-…` pod with more memory is an
/// impostor.
struct ByMemory;

impl Classifier for ByMemory {
    fn n_features(&self) -> usize {
        1
    }
    fn n_classes(&self) -> usize {
        2
    }
    fn predict(&self, row: &[Option<f64>]) -> Prediction {
        Prediction {
            class: usize::from(row.first().copied().flatten().is_some_and(|m| m > 2e6)),
            confidence: 0.9,
        }
    }
    fn predict_proba_into(&self, row: &[Option<f64>], out: &mut [f64]) {
        let c = self.predict(row).class;
        out.iter_mut()
            .enumerate()
            .for_each(|(i, p)| *p = if i == c { 0.9 } else { 0.1 });
    }
}

/// [`model`] with the [`ByMemory`] classifier.
fn memory_model() -> ActiveModel {
    ActiveModel {
        classifier: Arc::new(ByMemory),
        ..model()
    }
}

/// A state whose anomalies need `windows` windows in a row.
fn confirming(windows: usize) -> WatchState {
    WatchState::new(
        WatcherConfig {
            confirm_windows: windows,
            ..WatcherConfig::default()
        },
        at(0),
    )
}

/// Memory samples of `p`'s container at the given seconds, with the given values.
fn memory_values(p: &PodInfo, points: &[(i64, f64)]) -> MetricBatch {
    let mut b = MetricBatch::new();
    let id = p.id.container("main");
    for &(t, v) in points {
        b.push(&id, Sample::new(at(t), Metric::MemoryUsageBytes, v));
    }
    b
}

/// Feeds `p`'s samples up to each tick (every 10 s from `from`, while `t <=
/// until`) and returns the outcomes with the tick that gave them.
fn run_ticks(
    s: &mut WatchState,
    m: &ActiveModel,
    p: &PodInfo,
    points: &[(i64, f64)],
    (from, until): (i64, i64),
) -> Vec<(i64, Outcome)> {
    let mut got = Vec::new();
    for t in (from..=until).step_by(10) {
        let Some(plan) = s.plan_fetch(at(t)) else {
            break;
        };
        let upto: Vec<(i64, f64)> = points.iter().copied().filter(|&(x, _)| x <= t).collect();
        let step = s.on_batch(&plan, Ok(memory_values(p, &upto)), m);
        got.extend(step.outcomes.into_iter().map(|o| (t, o)));
    }
    got
}

const HIGH: f64 = 3e6;
const LOW: f64 = 1e6;

#[test]
fn an_anomalous_first_window_then_a_normal_one_is_reported_normal_after_the_second() {
    let m = memory_model();
    let p = pod("nginx-1", Some(1));
    let points = [(2, HIGH), (12, HIGH), (22, LOW), (32, LOW), (42, HIGH), (52, HIGH)];

    // Judged on the first window alone: an impostor at 15 s.
    let mut s = confirming(1);
    s.on_event(PodEvent::Added(p.clone()), at(1), &m);
    let got = run_ticks(&mut s, &m, &p, &points, (5, 200));
    let [(15, Outcome::Classified(v))] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!((v.kind, v.predicted.as_str()), (Kind::Impostor, "mysql"), "{v}");

    // Confirmed by a second window: at 25 s the latest window (12, 22)
    // shares a snapshot with the first; the next, (22, 32), is normal.
    let mut s = confirming(2);
    s.on_event(PodEvent::Added(p.clone()), at(1), &m);
    let got = run_ticks(&mut s, &m, &p, &points, (5, 200));
    let [(35, Outcome::Classified(v))] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(
        (v.kind, v.predicted.as_str(), v.anomaly),
        (Kind::AsClaimed, "nginx", None),
        "{v}"
    );
    assert_eq!((v.time, v.time_to_verdict), (at(35), Duration::from_secs(34)));
    let stats = s.finish();
    assert_eq!(
        (
            stats.classified,
            stats.anomalies,
            stats.suspects,
            stats.cleared,
            stats.unconfirmed
        ),
        (1, 0, 1, 1, 0)
    );
}

#[test]
fn an_anomaly_in_every_window_is_flagged_after_the_last_one() {
    let m = memory_model();
    let p = pod("nginx-1", Some(1));
    let points: Vec<(i64, f64)> = (0..12).map(|i| (2 + 10 * i, HIGH)).collect();
    for (windows, when) in [(1, 15), (2, 35), (3, 55)] {
        let mut s = confirming(windows);
        s.on_event(PodEvent::Added(p.clone()), at(1), &m);
        let got = run_ticks(&mut s, &m, &p, &points, (5, 200));
        let [(t, Outcome::Classified(v))] = got.as_slice() else {
            panic!("{windows} windows: {got:?}")
        };
        assert_eq!(*t, when, "{windows} windows");
        assert_eq!(
            (v.kind, v.anomaly),
            (Kind::Impostor, Some(AnomalyReason::Mismatch)),
            "{v}"
        );
        let stats = s.finish();
        assert_eq!(
            (stats.anomalies, stats.suspects, stats.cleared, stats.unconfirmed),
            (1, u64::from(windows > 1), 0, 0)
        );
    }
    // Three windows: a normal third window clears the first two.
    let mut points = points;
    points[4].1 = LOW;
    points[5].1 = LOW;
    let mut s = confirming(3);
    s.on_event(PodEvent::Added(p.clone()), at(1), &m);
    let got = run_ticks(&mut s, &m, &p, &points, (5, 200));
    let [(55, Outcome::Classified(v))] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert!(!v.is_anomaly(), "{v}");
}

#[test]
fn a_normal_first_window_is_reported_at_once() {
    let m = memory_model();
    let p = pod("nginx-1", Some(1));
    let mut s = confirming(3);
    s.on_event(PodEvent::Added(p.clone()), at(1), &m);
    let got = run_ticks(&mut s, &m, &p, &[(2, LOW), (12, LOW), (22, HIGH), (32, HIGH)], (5, 200));
    let [(15, Outcome::Classified(v))] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert!(!v.is_anomaly(), "{v}");
    assert_eq!(s.finish().suspects, 0);
}

#[test]
fn an_unconfirmed_anomaly_is_reported_at_the_timeout_or_when_the_pod_ends() {
    let m = memory_model();
    let p = pod("nginx-1", Some(1));
    // The metrics stop after the first window.
    let points = [(2, HIGH), (12, HIGH)];
    let mut s = confirming(2);
    s.on_event(PodEvent::Added(p.clone()), at(1), &m);
    let got = run_ticks(&mut s, &m, &p, &points, (5, 115));
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(s.pending(), 1);
    // The timeout is 120 s after the start at 1 s.
    let got = run_ticks(&mut s, &m, &p, &points, (125, 125));
    let [(125, Outcome::Classified(v))] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(
        (v.kind, v.time, v.time_to_verdict),
        (Kind::Impostor, at(125), Duration::from_secs(124))
    );
    let stats = s.finish();
    assert_eq!(
        (stats.classified, stats.anomalies, stats.timed_out, stats.unconfirmed),
        (1, 1, 0, 1)
    );

    // Deleted while waiting for the second window: the anomaly, unconfirmed.
    let mut s = confirming(2);
    s.on_event(PodEvent::Added(p.clone()), at(1), &m);
    assert!(run_ticks(&mut s, &m, &p, &points, (5, 25)).is_empty());
    let step = s.on_event(PodEvent::Deleted(p.id.clone()), at(27), &m);
    let [Outcome::Classified(v)] = step.outcomes.as_slice() else {
        panic!("{step:?}")
    };
    assert_eq!((v.kind, v.time), (Kind::Impostor, at(27)));
    let stats = s.finish();
    assert_eq!((stats.deleted, stats.unconfirmed, stats.still_pending), (0, 1, 0));

    // A first window reached only at the timeout is not held back.
    let mut s = confirming(2);
    s.on_event(PodEvent::Added(p.clone()), at(1), &m);
    let late = [(110, HIGH), (120, HIGH)];
    let got = run_ticks(&mut s, &m, &p, &late, (5, 115));
    assert!(got.is_empty(), "{got:?}");
    let plan = s.plan_fetch(at(121)).unwrap();
    let step = s.on_batch(&plan, Ok(memory_values(&p, &late)), &m);
    assert!(
        matches!(step.outcomes.as_slice(), [Outcome::Classified(v)] if v.kind == Kind::Impostor),
        "{step:?}"
    );
}

/// The exactly-one-outcome property, driven by random pod events, fetches
/// and time.
mod one_outcome {
    use super::*;
    use crate::pod::ContainerId;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashMap};

    const CONTAINERS: &[(&str, &str)] = &[
        ("main", "example/app:1"),
        ("nginx", "nginx:1.25"),
        ("db", "mysql:8"),
        ("istio-proxy", "docker.io/istio/proxyv2:1.20"),
        ("logs", "fluent/fluent-bit:3"),
    ];
    const NAMES: &[&str] = &["nginx", "mysql", "web"];
    const SLOTS: usize = 6;

    #[derive(Clone, Copy, Debug)]
    enum Start {
        Unknown,
        /// Started this many seconds before it is first seen.
        Ago(u32),
        /// Reports a start time this many seconds after it is first seen.
        Future(u32),
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// A new pod in a slot (a new UID; the slot's old pod is forgotten
        /// by the test, not by the watcher).
        Add {
            slot: usize,
            name: usize,
            containers: Vec<usize>,
            start: Start,
            annotated: bool,
            ended: bool,
            pending: bool,
        },
        /// An update of the slot's pod: it starts, ends, or changes its labels.
        Update {
            slot: usize,
            change: u8,
        },
        Delete {
            slot: usize,
        },
        /// A tick: a fetch answered in full (0), partly (1) or failed (2).
        Tick {
            answer: u8,
            seed: u64,
        },
        Decide,
        Advance(u32),
    }

    fn start() -> impl Strategy<Value = Start> {
        prop_oneof![
            Just(Start::Unknown),
            (0u32..200).prop_map(Start::Ago),
            (200u32..200_000).prop_map(Start::Ago),
            (1u32..60).prop_map(Start::Future),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (
                0..SLOTS,
                0..NAMES.len(),
                prop::collection::vec(0..CONTAINERS.len(), 0..4),
                start(),
                prop::bool::weighted(0.1),
                prop::bool::weighted(0.05),
                prop::bool::weighted(0.2),
            )
                .prop_map(|(slot, name, mut containers, start, annotated, ended, pending)| {
                    containers.sort_unstable();
                    containers.dedup();
                    Op::Add { slot, name, containers, start, annotated, ended, pending }
                }),
            2 => (0..SLOTS, 0u8..4).prop_map(|(slot, change)| Op::Update { slot, change }),
            1 => (0..SLOTS).prop_map(|slot| Op::Delete { slot }),
            4 => (0u8..3, any::<u64>()).prop_map(|(answer, seed)| Op::Tick { answer, seed }),
            1 => Just(Op::Decide),
            3 => (0u32..40).prop_map(Op::Advance),
        ]
    }

    /// What the test knows of a pod the watcher saw.
    struct Seen {
        id: PodId,
        containers: Vec<String>,
        skipped: bool,
        first_seen: Timestamp,
        /// Where the timeout counts from (see `PodState::since`).
        since: Timestamp,
        start_known: bool,
    }

    struct Run {
        state: WatchState,
        existing: ExistingPods,
        model: ActiveModel,
        now: Timestamp,
        timeout: Duration,
        /// Per slot: the pod last sent for it.
        pods: Vec<Option<PodInfo>>,
        uids: u64,
        seen: HashMap<String, Seen>,
        outcomes: BTreeMap<ContainerId, Vec<Outcome>>,
        skipped_pods: BTreeMap<PodId, usize>,
    }

    impl Run {
        fn take(&mut self, step: Step) -> Result<(), TestCaseError> {
            for (pod, _) in step.skipped {
                let seen = self.seen.get(&pod.uid);
                prop_assert!(seen.is_some_and(|s| s.skipped), "{pod} skipped but not at first sight");
                *self.skipped_pods.entry(pod).or_default() += 1;
            }
            for o in step.outcomes {
                let seen = self.seen.get(&o.pod().uid);
                prop_assert!(
                    seen.is_some_and(|s| !s.skipped && s.containers.iter().any(|c| c == o.container())),
                    "an outcome for a container not judged: {o:?}"
                );
                let id = o.pod().container(o.container());
                let sidecar = ["istio-proxy", "logs"].contains(&o.container());
                let is_sidecar_skip = matches!(
                    o,
                    Outcome::Skipped {
                        reason: SkipReason::Sidecar,
                        ..
                    }
                );
                prop_assert_eq!(sidecar, is_sidecar_skip, "{:?}", o);
                if let Outcome::Skipped {
                    reason: SkipReason::TooOld { age, max_age },
                    ..
                } = &o
                {
                    prop_assert!(*age > *max_age);
                    prop_assert_eq!(o.time(), self.seen[&o.pod().uid].first_seen);
                }
                self.outcomes.entry(id).or_default().push(o);
            }
            Ok(())
        }

        fn event(&mut self, event: PodEvent) -> Result<(), TestCaseError> {
            let now = self.now;
            match &event {
                PodEvent::Added(p) | PodEvent::Updated(p) => match self.seen.get_mut(&p.id.uid) {
                    Some(s) => {
                        if !s.start_known
                            && let Some(start) = p.start_time
                        {
                            s.start_known = true;
                            s.since = s.first_seen.max(start.min(now));
                        }
                    }
                    None if !p.phase.is_terminal() && !p.containers.is_empty() => {
                        let at_start = p.start_time.filter(|t| *t < at(0));
                        let skipped = p.annotations.contains_key(ANNOTATION_PREDICTED)
                            || at_start.is_some_and(|t| match self.existing {
                                ExistingPods::All => false,
                                ExistingPods::Recent => at(0).since(t) >= self.timeout,
                                ExistingPods::None => true,
                            });
                        self.seen.insert(
                            p.id.uid.clone(),
                            Seen {
                                id: p.id.clone(),
                                containers: p.containers.iter().map(|c| c.name.clone()).collect(),
                                skipped,
                                first_seen: now,
                                since: now,
                                start_known: p.start_time.is_some(),
                            },
                        );
                    }
                    None => {}
                },
                PodEvent::Deleted(_) => {}
            }
            let step = self.state.on_event(event, now, &self.model);
            self.take(step)
        }

        /// After a decision at `now`: every judged container whose deadline
        /// has passed has its outcome.
        fn check_deadlines(&self) -> Result<(), TestCaseError> {
            for s in self.seen.values().filter(|s| !s.skipped) {
                for c in &s.containers {
                    let id = s.id.container(c.clone());
                    if self.now >= s.since + self.timeout {
                        prop_assert!(
                            self.outcomes.contains_key(&id),
                            "{id} still waits at {} (deadline {})",
                            self.now,
                            s.since + self.timeout
                        );
                    }
                }
            }
            Ok(())
        }

        fn tick(&mut self, answer: u8, seed: u64) -> Result<(), TestCaseError> {
            let Some(plan) = self.state.plan_fetch(self.now) else {
                let step = self.state.decide(self.now, &self.model);
                self.take(step)?;
                return self.check_deadlines();
            };
            for id in &plan.containers {
                prop_assert!(!self.outcomes.contains_key(id), "{id} fetched after its outcome");
            }
            let fetched = if answer == 2 {
                Err(SourceError::Unavailable {
                    backend: "test".into(),
                    source: "down".into(),
                })
            } else {
                let mut b = MetricBatch::new();
                let mut unavailable = Vec::new();
                for (i, id) in plan.containers.iter().enumerate() {
                    let bits = seed.rotate_left(i as u32 * 3);
                    if answer == 1 && bits & 1 == 0 {
                        unavailable.push(id.clone());
                        continue;
                    }
                    // Zero, one or two samples, 10 s apart, inside the window.
                    // Memory high or low: with `ByMemory`, verdicts of
                    // `nginx` containers change from window to window.
                    let value = if (bits >> 3) & 1 == 0 { 1e6 } else { 3e6 };
                    for k in 0..(bits >> 1) % 3 {
                        let t = plan.at - Duration::from_secs(1 + 10 * k);
                        if plan.window.contains(t) {
                            b.push(id, Sample::new(t, Metric::MemoryUsageBytes, value));
                        }
                    }
                }
                if !unavailable.is_empty() {
                    b.mark_unavailable(&unavailable, SourceError::Invalid("not now".into()));
                }
                Ok(b)
            };
            let step = self.state.on_batch(&plan, fetched, &self.model);
            self.take(step)?;
            self.check_deadlines()
        }

        fn apply(&mut self, op: Op) -> Result<(), TestCaseError> {
            match op {
                Op::Add {
                    slot,
                    name,
                    containers,
                    start,
                    annotated,
                    ended,
                    pending,
                } => {
                    self.uids += 1;
                    let mut p = PodInfo::new(PodId::new(
                        "ns",
                        format!("{}-{}", NAMES[name], self.uids),
                        format!("uid-{}", self.uids),
                    ));
                    p.phase = match (ended, pending) {
                        (true, _) => PodPhase::Succeeded,
                        (false, true) => PodPhase::Pending,
                        _ => PodPhase::Running,
                    };
                    p.start_time = match start {
                        Start::Unknown => None,
                        Start::Ago(s) => Some(self.now - Duration::from_secs(u64::from(s))),
                        Start::Future(s) => Some(self.now + Duration::from_secs(u64::from(s))),
                    };
                    p.containers = containers
                        .iter()
                        .map(|&i| ContainerInfo::new(CONTAINERS[i].0, CONTAINERS[i].1))
                        .collect();
                    if annotated {
                        p.annotations.insert(ANNOTATION_PREDICTED.into(), "nginx".into());
                    }
                    self.pods[slot] = Some(p.clone());
                    self.event(PodEvent::Added(p))
                }
                Op::Update { slot, change } => {
                    let Some(mut p) = self.pods[slot].clone() else {
                        return Ok(());
                    };
                    match change {
                        0 => {
                            p.phase = PodPhase::Running;
                            p.start_time = p.start_time.or(Some(self.now));
                        }
                        1 => p.phase = PodPhase::Failed,
                        2 => {
                            p.labels.insert("app".into(), "mysql".into());
                        }
                        _ => p.containers.truncate(1),
                    }
                    self.pods[slot] = Some(p.clone());
                    self.event(PodEvent::Updated(p))
                }
                Op::Delete { slot } => match self.pods[slot].take() {
                    Some(p) => self.event(PodEvent::Deleted(p.id)),
                    None => Ok(()),
                },
                Op::Tick { answer, seed } => self.tick(answer, seed),
                Op::Decide => {
                    let step = self.state.decide(self.now, &self.model);
                    self.take(step)?;
                    self.check_deadlines()
                }
                Op::Advance(s) => {
                    self.now += Duration::from_secs(u64::from(s));
                    Ok(())
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        #[test]
        fn every_container_seen_ends_in_exactly_one_outcome(
            ops in prop::collection::vec(op(), 0..80),
            model_ages in 0u8..3,
            existing in prop_oneof![Just(ExistingPods::All), Just(ExistingPods::Recent), Just(ExistingPods::None)],
            by_memory in any::<bool>(),
            confirm_windows in 1usize..4,
        ) {
            let model = match model_ages {
                0 => model(),
                1 => aged_model(false),
                _ => aged_model(true),
            };
            let model = if by_memory {
                ActiveModel { classifier: Arc::new(ByMemory), ..model }
            } else {
                model
            };
            let config = WatcherConfig {
                existing_pods: existing,
                confirm_windows,
                ..WatcherConfig::default()
            };
            let (timeout, poll) = (config.timeout, config.poll_interval);
            let mut run = Run {
                state: WatchState::new(config, at(0)),
                existing,
                model,
                now: at(0),
                timeout,
                pods: vec![None; SLOTS],
                uids: 0,
                seen: HashMap::new(),
                outcomes: BTreeMap::new(),
                skipped_pods: BTreeMap::new(),
            };
            for op in ops {
                run.apply(op)?;
            }
            // Ticks every poll interval until one poll interval past every
            // deadline.
            let last = run.seen.values().map(|s| s.since).max().unwrap_or(run.now);
            loop {
                run.now += poll;
                run.tick(0, 0)?;
                if run.now >= last + timeout + poll {
                    break;
                }
            }
            prop_assert_eq!(run.state.pending(), 0);
            for s in run.seen.values() {
                if s.skipped {
                    prop_assert_eq!(run.skipped_pods.get(&s.id), Some(&1));
                    continue;
                }
                for c in &s.containers {
                    let got = run.outcomes.get(&s.id.container(c.clone())).map_or(0, Vec::len);
                    prop_assert_eq!(got, 1, "{}/{}: {:?}", s.id, c, run.outcomes.get(&s.id.container(c.clone())));
                }
            }
            let stats = run.state.finish();
            let total: u64 = [
                stats.classified,
                stats.timed_out,
                stats.deleted,
                stats.sidecars,
                stats.too_old,
                stats.too_few_containers,
            ]
            .iter()
            .sum();
            prop_assert_eq!(total as usize, run.outcomes.len());
            prop_assert_eq!(stats.still_pending, 0);
        }
    }
}

/// [`memory_model`] with an open-set model calibrated over several windows:
/// nginx containers use ~1 MB, mysql ones ~3 MB (40 containers each).
fn multi_window_model() -> ActiveModel {
    let mut d = crate::Dataset::new(vec!["memory".into()], vec!["nginx".into(), "mysql".into()]);
    for (class, centre) in [("nginx", LOW), ("mysql", HIGH)] {
        for i in 0..40 {
            let offset = 1.0 + 0.2 * ((i % 9) as f64 - 4.0) / 4.0;
            for r in 0..12 {
                let noise = 1.0 + 0.05 * ((r * 7 + i) % 5) as f64 / 4.0;
                d.push(&[Some(centre * offset * noise)], class, &format!("{class}-{i}"))
                    .unwrap();
            }
        }
    }
    let m = memory_model();
    let open_set = crate::openset::NoveltyParams {
        window_gap: m.features.window_gap(),
        ..Default::default()
    }
    .fit(&d)
    .unwrap();
    ActiveModel {
        open_set: Some(open_set),
        ..m
    }
}

#[test]
fn claims_of_a_class_with_fewer_than_two_training_containers_are_skipped_not_flagged() {
    // The class list has postgresql and mongodb, but no training pod ran
    // postgresql and one ran mongodb: no held-out mongodb container says how
    // its honest containers vary.
    let mut d = crate::Dataset::new(
        vec!["memory".into()],
        vec!["nginx".into(), "mysql".into(), "postgresql".into(), "mongodb".into()],
    );
    for (class, centre, containers) in [("nginx", LOW, 10), ("mysql", HIGH, 10), ("mongodb", 2.0 * HIGH, 1)] {
        for i in 0..containers {
            for r in 0..6 {
                let v = centre * (1.0 + 0.02 * ((i + r) % 5) as f64);
                d.push(&[Some(v)], class, &format!("{class}-{i}")).unwrap();
            }
        }
    }
    let m = memory_model();
    let open_set = crate::openset::NoveltyParams::default().fit(&d).unwrap();
    let m = ActiveModel {
        classes: d.classes().to_vec(),
        open_set: Some(open_set),
        ..m
    };
    assert_eq!(m.unjudged_classes(), [("postgresql", 0), ("mongodb", 1)]);
    assert_eq!(m.trained_containers("nginx"), Some(10));
    assert!(m.judges_claims_of("nginx") && !m.judges_claims_of("mongodb"));
    // Without an open-set model nothing says which classes were trained.
    assert!(memory_model().unjudged_classes().is_empty());
    assert!(memory_model().judges_claims_of("nginx"));

    let mut s = WatchState::new(WatcherConfig::default(), at(0));
    for (name, n) in [("postgresql-0", 0), ("mongodb-0", 1)] {
        let step = s.on_event(PodEvent::Added(pod(name, Some(1))), at(1), &m);
        let [
            o @ Outcome::Skipped {
                claimed: Some(claimed),
                reason: SkipReason::TooFewContainers { containers },
                ..
            },
        ] = step.outcomes.as_slice()
        else {
            panic!("{step:?}")
        };
        assert!(name.starts_with(claimed.as_str()) && *containers == n, "{o}");
        assert!(
            o.to_string()
                .contains(&format!("skipped: claims {claimed}, of which the model has")),
            "{o}"
        );
    }
    // A claim of a class with enough containers waits for its metrics.
    assert!(
        s.on_event(PodEvent::Added(pod("nginx-0", Some(1))), at(1), &m)
            .is_empty()
    );
    assert_eq!(s.pending(), 1);
    let stats = s.finish();
    assert_eq!((stats.too_few_containers, stats.still_pending), (2, 1));
}

#[test]
fn a_multi_window_calibration_decides_at_the_last_window() {
    let m = multi_window_model();
    assert!(m.judges_windows(2) && m.judges_windows(3));
    let p = pod("nginx-1", Some(1));
    let low: Vec<(i64, f64)> = (0..12).map(|i| (2 + 10 * i, LOW)).collect();
    let high: Vec<(i64, f64)> = (0..12).map(|i| (2 + 10 * i, HIGH)).collect();
    // (windows, normal at once, samples) → (tick of the outcome, anomaly).
    for (windows, at_once, points, expect) in [
        (1, true, &low, (15, false)),
        (2, true, &low, (15, false)),
        (2, false, &low, (35, false)),
        (3, false, &low, (55, false)),
        (2, true, &high, (35, true)),
        (2, false, &high, (35, true)),
        (3, true, &high, (55, true)),
    ] {
        let mut s = WatchState::new(
            WatcherConfig {
                confirm_windows: windows,
                normal_at_once: at_once,
                ..WatcherConfig::default()
            },
            at(0),
        );
        s.on_event(PodEvent::Added(p.clone()), at(1), &m);
        let got = run_ticks(&mut s, &m, &p, points, (5, 200));
        let [(t, Outcome::Classified(v))] = got.as_slice() else {
            panic!("{windows} windows: {got:?}")
        };
        assert_eq!(
            (*t, v.is_anomaly()),
            expect,
            "{windows} windows, at once {at_once}: {v}"
        );
        let stats = s.finish();
        assert_eq!((stats.classified, stats.unconfirmed), (1, 0));
    }
    // Deleted while waiting for its second window, first window normal:
    // reported with that verdict, not as deleted and not as an anomaly.
    let mut s = WatchState::new(
        WatcherConfig {
            confirm_windows: 2,
            normal_at_once: false,
            ..WatcherConfig::default()
        },
        at(0),
    );
    s.on_event(PodEvent::Added(p.clone()), at(1), &m);
    assert!(run_ticks(&mut s, &m, &p, &low, (5, 15)).is_empty());
    let step = s.on_event(PodEvent::Deleted(p.id.clone()), at(20), &m);
    let [Outcome::Classified(v)] = step.outcomes.as_slice() else {
        panic!("{step:?}")
    };
    assert!(!v.is_anomaly(), "{v}");
    let stats = s.finish();
    assert_eq!((stats.anomalies, stats.unconfirmed, stats.deleted), (0, 0, 0));
}

/// A model whose training rows came 60 s apart, its first window (2
/// snapshots) at 130 s of age at the youngest.
fn slow_scrape_model() -> ActiveModel {
    use crate::age::{AgeCoverage, AgeRange};
    ActiveModel {
        ages: Some(AgeCoverage {
            young_horizon: Duration::from_secs(300),
            young: Some(AgeRange {
                min: Duration::from_secs(130),
                max: Duration::from_secs(290),
            }),
            young_rows: 10,
            row_interval: Some(Duration::from_secs(60)),
            ..AgeCoverage::default()
        }),
        ..model()
    }
}

#[test]
fn the_timeout_follows_a_model_that_decides_later_unless_it_is_hard() {
    let m = slow_scrape_model();
    let c = WatcherConfig::default();
    // The default three windows of 2: 6 snapshots, the 6th 4 intervals
    // after the first window's, one interval more for a later phase: 130 +
    // 300 s; plus two polls.
    assert_eq!(m.decision_age(&c), Some(Duration::from_secs(430)));
    assert_eq!(c.timeout_for(&m), Duration::from_secs(440));
    let two = WatcherConfig {
        confirm_windows: 2,
        ..WatcherConfig::default()
    };
    // Two: the 4th snapshot, 2 intervals after the first window's.
    assert_eq!(two.timeout_for(&m), Duration::from_secs(320));
    let one = WatcherConfig {
        confirm_windows: 1,
        ..WatcherConfig::default()
    };
    assert_eq!(one.timeout_for(&m), Duration::from_secs(200));
    let hard = WatcherConfig {
        extend_timeout: false,
        ..one.clone()
    };
    assert_eq!(hard.timeout_for(&m), Duration::from_secs(120));
    // A longer timeout is kept; a model that does not record its interval
    // (a bundle before format 8), or no ages, keeps the timeout as given.
    let long = WatcherConfig {
        timeout: Duration::from_secs(600),
        ..WatcherConfig::default()
    };
    assert_eq!(long.timeout_for(&m), Duration::from_secs(600));
    let mut old = slow_scrape_model();
    old.ages.as_mut().unwrap().row_interval = None;
    assert_eq!((old.decision_age(&c), c.timeout_for(&old)), (None, c.timeout));
    assert_eq!(c.timeout_for(&model()), c.timeout);

    // A pod whose samples come every 60 s: its window completes at 130 s.
    for (config, expected) in [(one, "classified"), (hard, "timed out")] {
        let mut s = WatchState::new(config, at(0));
        let p = pod("nginx-1", Some(1));
        assert!(s.on_event(PodEvent::Added(p.clone()), at(1), &m).is_empty());
        let plan = s.plan_fetch(at(125)).unwrap();
        let step = s.on_batch(&plan, Ok(memory(&p, &[70])), &m);
        if expected == "timed out" {
            assert!(matches!(step.outcomes[..], [Outcome::TimedOut { .. }]), "{step:?}");
            continue;
        }
        assert!(step.outcomes.is_empty(), "{step:?}");
        let plan = s.plan_fetch(at(135)).unwrap();
        let step = s.on_batch(&plan, Ok(memory(&p, &[70, 130])), &m);
        assert!(matches!(step.outcomes[..], [Outcome::Classified(_)]), "{step:?}");
    }
}

/// Samples of metrics the model's rows do not read are not kept while a
/// container waits (a Telegraf-shaped source answers with every field), and
/// the verdict is the one the read metric alone gives; a model that reads
/// the CPU gauge keeps the CPU counter it can be derived from.
#[test]
fn only_samples_the_rows_read_are_kept_while_waiting() {
    let m = model();
    let p = pod("nginx-1", Some(1));
    let with_unread = |secs: &[i64]| {
        let mut b = memory(&p, secs);
        let id = p.id.container("main");
        for &t in secs {
            b.push(&id, Sample::new(at(t), Metric::RxBytes, 5e3 * t as f64));
            b.push(&id, Sample::new(at(t), Metric::CpuUsageCoreNanoseconds, 1e9 * t as f64));
        }
        b
    };
    let mut verdicts = Vec::new();
    for batch in [memory(&p, &[2]), with_unread(&[2])] {
        let mut s = state();
        s.on_event(PodEvent::Added(p.clone()), at(1), &m);
        let plan = s.plan_fetch(at(5)).unwrap();
        assert!(s.on_batch(&plan, Ok(batch), &m).outcomes.is_empty());
        assert_eq!(s.kept_samples(), 1, "the memory sample only");
        let plan = s.plan_fetch(at(15)).unwrap();
        let step = s.on_batch(&plan, Ok(with_unread(&[2, 12])), &m);
        verdicts.push(format!("{:?}", step.outcomes));
    }
    assert_eq!(verdicts[0], verdicts[1]);
    assert!(verdicts[0].contains("Classified"), "{}", verdicts[0]);

    // Reading the CPU gauge keeps the counter (its source when the gauge is missing).
    let mut cpu = model();
    cpu.features.columns[0].feature = Feature::Last(Metric::CpuUsageNanocores);
    let mut s = state();
    s.on_event(PodEvent::Added(p.clone()), at(1), &cpu);
    let plan = s.plan_fetch(at(5)).unwrap();
    s.on_batch(&plan, Ok(with_unread(&[2])), &cpu);
    assert_eq!(s.kept_samples(), 2, "memory (required) and the CPU counter");
}

/// A container waiting for later windows keeps only the snapshots the next
/// window needs (and two before it), not every sample since its start, while
/// its windows are placed, and its verdict reached, as before: 5 windows of
/// 2 snapshots, every old sample fetched again at each tick.
#[test]
fn judged_windows_samples_are_dropped_while_waiting_for_the_next() {
    let m = memory_model();
    let p = pod("nginx-1", Some(1));
    let points: Vec<(i64, f64)> = (0..14).map(|i| (2 + 10 * i, HIGH)).collect();
    let mut s = confirming(5);
    s.on_event(PodEvent::Added(p.clone()), at(1), &m);
    assert!(run_ticks(&mut s, &m, &p, &points, (5, 85)).is_empty());
    // 9 snapshots fetched (2 … 82 s); 4 windows judged. The fifth needs the
    // snapshots at 82 and 92 s: kept are 62, 72 and 82 s.
    assert_eq!(s.kept_samples(), 3);
    let got = run_ticks(&mut s, &m, &p, &points, (95, 200));
    let [(95, Outcome::Classified(v))] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(v.kind, Kind::Impostor, "{v}");
}
