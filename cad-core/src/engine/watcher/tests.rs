//! The watcher's state machine, driven by hand: no runtime, no clock, no
//! sources. (The whole watcher on the simulated cluster is tested in
//! `cad-core/tests/engines.rs`.)

use super::*;
use crate::classifier::{Classifier, Prediction};
use crate::features::{Column, Feature, FeatureSet};
use crate::metric::{Metric, MetricBatch, Sample};
use crate::pod::{ContainerInfo, PodId, PodInfo, PodPhase};
use crate::source::SourceError;
use crate::time::Timestamp;
use crate::verdict::{ANNOTATION_PREDICTED, SkipReason};

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
        // A pod not yet started waits without a fetch (and without a deadline).
        let plan = s.plan_fetch(at(500));
        assert_eq!(plan.map_or(0, |p| p.containers.len()), judged.len() - 1, "{mode:?}");
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
