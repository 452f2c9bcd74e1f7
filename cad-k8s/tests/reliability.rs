//! Reliability of the watcher over the Kubernetes adapter (fake API server,
//! real `kube` client, real HTTP): a watch stream dropped, answered
//! `410 Gone` and resumed; the watcher process restarted; a burst of pod
//! creations and deletions. Every container must end in exactly one outcome.
//!
//! These tests run the real watch machinery over loopback HTTP, so they use
//! the system clock with a short poll interval; they wait for conditions
//! (never for a fixed time), with a guard against hangs.

mod fake_api;

use cad_core::engine::watcher::{ActiveModel, ExistingPods, ModelHandle, WatchStats, Watcher, WatcherConfig};
use cad_core::{
    Classifier, ContainerId, FeatureSet, MemorySink, Metric, MetricBatch, MetricSource, Outcome, Prediction, Sample,
    SourceError, SystemClock, TimeWindow,
};
use cad_k8s::{KubeEventRecorder, KubePodSource, PodSourceConfig};
use fake_api::{FakeApi, Res, TestPod};
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Guard against a hung test; never reached when the code works.
const HANG_GUARD: Duration = Duration::from_secs(90);
const CLASSES: [&str; 5] = ["mysql", "nginx", "apache", "postgresql", "mongodb"];

/// Always predicts nginx, sure of it.
struct AlwaysNginx(usize);

impl Classifier for AlwaysNginx {
    fn n_features(&self) -> usize {
        self.0
    }
    fn n_classes(&self) -> usize {
        CLASSES.len()
    }
    fn predict(&self, _row: &[Option<f64>]) -> Prediction {
        Prediction {
            class: 1,
            confidence: 0.99,
        }
    }
    fn predict_proba_into(&self, _row: &[Option<f64>], out: &mut [f64]) {
        out.iter_mut()
            .enumerate()
            .for_each(|(i, p)| *p = if i == 1 { 0.99 } else { 0.0 });
    }
}

fn model() -> ModelHandle {
    // The legacy set: one complete snapshot (memory + CPU) is enough.
    let features = FeatureSet::legacy();
    ModelHandle::new(ActiveModel {
        classifier: Arc::new(AlwaysNginx(features.columns.len())),
        classes: CLASSES.iter().map(|s| s.to_string()).collect(),
        features,
        description: "always nginx".into(),
        ages: None,
        open_set: None,
        confidence: None,
    })
}

/// Metrics for any container whose pod name has no withheld prefix: one
/// memory and one CPU sample just before the end of the asked window.
/// Counts calls and remembers every pod name it was asked about.
#[derive(Default)]
struct CheapMetrics {
    calls: AtomicU64,
    asked: Mutex<HashSet<String>>,
    withheld: Mutex<Vec<String>>,
}

impl CheapMetrics {
    fn withhold(&self, prefix: &str) {
        self.withheld.lock().unwrap().push(prefix.to_owned());
    }
    fn release_all(&self) {
        self.withheld.lock().unwrap().clear();
    }
    fn asked(&self) -> HashSet<String> {
        self.asked.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl MetricSource for CheapMetrics {
    async fn fetch(&self, containers: &[ContainerId], window: TimeWindow) -> Result<MetricBatch, SourceError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let withheld = self.withheld.lock().unwrap().clone();
        let mut asked = self.asked.lock().unwrap();
        let mut batch = MetricBatch::new();
        let t = window.end - Duration::from_millis(1);
        for c in containers {
            asked.insert(c.pod.name.clone());
            if withheld.iter().any(|p| c.pod.name.starts_with(p.as_str())) {
                continue;
            }
            batch.push(c, Sample::new(t, Metric::MemoryUsageBytes, 5e7));
            batch.push(c, Sample::new(t, Metric::CpuUsageNanocores, 2e7));
        }
        Ok(batch)
    }
}

fn config() -> WatcherConfig {
    WatcherConfig {
        poll_interval: Duration::from_millis(50),
        timeout: Duration::from_secs(600),
        late_data: Duration::from_millis(50),
        // The fake API server gives every pod the start time
        // 2026-01-02T03:04:05Z, long before the watcher starts: judge them
        // all, as these scenarios (bursts, drops, restarts) need.
        existing_pods: ExistingPods::All,
        ..WatcherConfig::default()
    }
}

fn source(api: &FakeApi) -> KubePodSource {
    KubePodSource::new(api.client(), PodSourceConfig::default().image_sizes(false))
}

/// Runs a watcher until `drive` (the test's actions) completes; returns the
/// watcher's stats and what `drive` returned. (The watcher future is not
/// `Send`-provably general, so it runs beside the test, not in a spawned task.)
async fn with_watcher<T>(
    api: &FakeApi,
    metrics: Arc<CheapMetrics>,
    sinks: Vec<Arc<dyn cad_core::VerdictSink>>,
    drive: impl Future<Output = T>,
) -> (WatchStats, T) {
    let mut w = Watcher::new(Arc::new(source(api)), metrics, Arc::new(SystemClock), model(), config());
    for s in sinks {
        w = w.with_sink(s);
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::join!(
        w.run_until(async move {
            let _ = stopped.await;
        }),
        async move {
            let out = drive.await;
            let _ = stop.send(());
            out
        }
    )
}

/// Waits until `cond` holds (checked every 20 ms), or panics after the hang guard.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let r = tokio::time::timeout(HANG_GUARD, async {
        let mut i = 0u64;
        while !cond() {
            i += 1;
            if i.is_multiple_of(250) {
                println!("still waiting for: {what}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(r.is_ok(), "timed out waiting for: {what}");
}

/// Outcomes per (pod name, container): kind tags, in order.
fn per_container(outcomes: &[Outcome]) -> BTreeMap<(String, String), Vec<&'static str>> {
    let mut m: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for o in outcomes {
        let kind = o.kind();
        m.entry((o.pod().name.clone(), o.container().to_owned()))
            .or_default()
            .push(kind);
    }
    m
}

fn count(m: &BTreeMap<(String, String), Vec<&'static str>>, prefix: &str, kind: &str) -> usize {
    m.iter()
        .filter(|((pod, _), v)| pod.starts_with(prefix) && v.as_slice() == [kind])
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_dropped_then_410_gone_loses_and_duplicates_no_pod() {
    let api = FakeApi::start().await;
    let metrics = Arc::new(CheapMetrics::default());
    metrics.withhold("slow-");
    let sink = Arc::new(MemorySink::new());
    for i in 0..10 {
        api.add_pod(&TestPod::new("shop", &format!("a-nginx-{i}"), "nginx"));
    }
    for i in 0..3 {
        api.add_pod(&TestPod::new("shop", &format!("slow-nginx-{i}"), "nginx"));
    }
    let (stats, before_heal) = with_watcher(&api, metrics.clone(), vec![sink.clone()], async {
        until("the first 10 pods classified", || sink.outcomes().len() >= 10).await;

        // 1. The connection drops; pods created meanwhile arrive when the watch resumes
        //    from its resourceVersion.
        let opened = api.watches_opened();
        api.drop_watches();
        for i in 0..5 {
            api.add_pod(&TestPod::new("shop", &format!("b-nginx-{i}"), "nginx"));
        }
        tokio::time::timeout(HANG_GUARD, api.wait_for_watches(opened + 1))
            .await
            .expect("the watch resumes");
        until("the 5 pods created around the drop classified", || {
            sink.outcomes().len() >= 15
        })
        .await;

        // 2. A partition: the watch is dropped and cannot reconnect; meanwhile pods are
        //    created, pending pods and classified pods deleted, and the history is
        //    compacted, so the resumed watch gets 410 Gone and must re-list.
        api.set_partitioned(true);
        api.drop_watches();
        for i in 0..5 {
            api.add_pod(&TestPod::new("shop", &format!("c-nginx-{i}"), "nginx"));
        }
        for i in 0..3 {
            assert!(api.delete_pod("shop", &format!("slow-nginx-{i}")));
        }
        for i in 0..2 {
            assert!(api.delete_pod("shop", &format!("a-nginx-{i}")));
        }
        api.compact();
        let before_heal = api.requests().len();
        api.set_partitioned(false);
        until(
            "the 5 pods created during the partition classified and the 3 pending deleted",
            || sink.outcomes().len() >= 23,
        )
        .await;
        // A later pod still arrives over the re-established watch.
        api.add_pod(&TestPod::new("shop", "d-nginx-0", "nginx"));
        until("a pod created after the 410 classified", || sink.outcomes().len() >= 24).await;
        before_heal
    })
    .await;

    let relists = api.requests()[before_heal..]
        .iter()
        .filter(|r| !r.is_watch() && r.rbac().is_some_and(|(verb, _, res)| verb == "list" && res == "pods"))
        .count();
    let m = per_container(&sink.outcomes());
    let (a, b, c, d) = (
        count(&m, "a-", "classified"),
        count(&m, "b-", "classified"),
        count(&m, "c-", "classified"),
        count(&m, "d-", "classified"),
    );
    let slow_deleted = count(&m, "slow-", "deleted");
    let more_than_one = m.values().filter(|v| v.len() > 1).count();
    println!(
        "watch drop + 410: outcomes {} for {} containers; classified a={a} b={b} c={c} d={d}; \
         deleted while pending {slow_deleted}; containers with >1 outcome {more_than_one}; \
         re-lists after the 410 {relists}; stream errors {}; fetches {} in {} ticks",
        sink.outcomes().len(),
        m.len(),
        stats.stream_errors,
        stats.fetches,
        stats.ticks
    );
    assert_eq!((a, b, c, d, slow_deleted), (10, 5, 5, 1, 3));
    assert_eq!(more_than_one, 0, "no container gets two outcomes: {m:?}");
    assert_eq!(m.len(), 24, "no container is lost");
    assert_eq!(sink.outcomes().len(), 24);
    assert!(relists >= 1, "the 410 led to a re-list");
    assert!(stats.fetches <= stats.ticks);
    assert_eq!(stats.still_pending, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_watcher_does_not_classify_annotated_pods_again_and_picks_up_pending_ones() {
    let api = FakeApi::start().await;
    let metrics = Arc::new(CheapMetrics::default());
    metrics.withhold("pending-");
    for i in 0..6 {
        api.add_pod(&TestPod::new("shop", &format!("done-nginx-{i}"), "nginx"));
    }
    for i in 0..3 {
        api.add_pod(&TestPod::new("shop", &format!("pending-nginx-{i}"), "nginx"));
    }

    // Run 1: classifies the 6 pods with metrics and annotates them; 3 stay pending.
    let first = Arc::new(MemorySink::new());
    let recorder = Arc::new(KubeEventRecorder::new(api.client(), "cad-watcher-1").with_annotations(true));
    let annotated = || {
        api.objects(Res::Pods)
            .iter()
            .filter(|p| p["metadata"]["annotations"][cad_core::verdict::ANNOTATION_PREDICTED].is_string())
            .count()
    };
    let (run1, ()) = with_watcher(&api, metrics.clone(), vec![first.clone(), recorder], async {
        until("6 pods classified and annotated", || annotated() >= 6).await;
    })
    .await;
    let m1 = per_container(&first.outcomes());
    println!(
        "restart, run 1: classified {} (done-* {}), still pending at stop {}, annotated pods {}",
        run1.classified,
        count(&m1, "done-", "classified"),
        run1.still_pending,
        annotated()
    );
    assert_eq!(count(&m1, "done-", "classified"), 6);
    assert_eq!(run1.classified, 6);
    assert_eq!(run1.still_pending, 3);
    assert_eq!(annotated(), 6);

    // Run 2: a new watcher (as after a process restart); metrics flow for all pods
    // now, and a pod is created after the restart.
    metrics.release_all();
    let asked_before: HashSet<String> = metrics.asked();
    assert!(asked_before.iter().any(|n| n.starts_with("done-")));
    *metrics.asked.lock().unwrap() = HashSet::new();
    let second = Arc::new(MemorySink::new());
    let (run2, ()) = with_watcher(&api, metrics.clone(), vec![second.clone()], async {
        api.add_pod(&TestPod::new("shop", "late-nginx-0", "nginx"));
        until("the 3 pending pods and the new pod classified", || {
            second.outcomes().len() >= 4
        })
        .await;
    })
    .await;
    let m2 = per_container(&second.outcomes());
    let again = m2.keys().filter(|(pod, _)| pod.starts_with("done-")).count();
    let asked_done = metrics.asked().iter().filter(|n| n.starts_with("done-")).count();
    println!(
        "restart, run 2: new verdicts for already classified pods {again} (metrics asked for them {asked_done}), \
         skipped as already classified {}, pending picked up {}, new pod {}",
        run2.already_classified,
        count(&m2, "pending-", "classified"),
        count(&m2, "late-", "classified")
    );
    assert_eq!(again, 0, "no second verdict after a restart: {m2:?}");
    assert_eq!(asked_done, 0, "already classified pods are not even waited for");
    assert_eq!(run2.already_classified, 6);
    assert_eq!(count(&m2, "pending-", "classified"), 3);
    assert_eq!(count(&m2, "late-", "classified"), 1);
    assert_eq!(m2.len(), 4);
    assert_eq!(run2.still_pending, 0);
}

/// Creates `n` pods in one burst while the watcher runs, withholds metrics
/// for every other one, deletes those once the rest are classified, and checks
/// that every pod ends in exactly one outcome.
async fn burst(n: usize) {
    let api = FakeApi::start().await;
    let metrics = Arc::new(CheapMetrics::default());
    metrics.withhold("odd-");
    let sink = Arc::new(MemorySink::new());
    let half = n.div_ceil(2);
    let (stats, ()) = with_watcher(&api, metrics.clone(), vec![sink.clone()], async {
        tokio::time::timeout(HANG_GUARD, api.wait_for_watches(1))
            .await
            .expect("the watch starts");
        let name = |i: usize| format!("{}-nginx-{i}", if i.is_multiple_of(2) { "even" } else { "odd" });
        for i in 0..n {
            api.add_pod(&TestPod::new("load", &name(i), "nginx"));
        }
        until("every even pod classified", || sink.outcomes().len() >= half).await;
        for i in (1..n).step_by(2) {
            assert!(api.delete_pod("load", &name(i)));
        }
        // Bounded wait, then the counts below say what arrived.
        let _ = tokio::time::timeout(
            Duration::from_secs(30),
            until("every pod has an outcome", || sink.outcomes().len() >= n),
        )
        .await;
    })
    .await;

    let m = per_container(&sink.outcomes());
    let classified = count(&m, "even-", "classified");
    let deleted = count(&m, "odd-", "deleted");
    let more_than_one = m.values().filter(|v| v.len() > 1).count();
    let calls = metrics.calls.load(Ordering::SeqCst);
    println!(
        "burst of {n}: outcomes {} for {} containers (classified {classified}, deleted {deleted}, \
         >1 outcome {more_than_one}); peak pending {}; still pending {}; metric fetches {calls} in {} ticks; \
         pod events {}; stream errors {}",
        sink.outcomes().len(),
        m.len(),
        stats.max_pending,
        stats.still_pending,
        stats.ticks,
        stats.events,
        stats.stream_errors
    );
    assert_eq!(m.len(), n, "every pod has an outcome");
    assert_eq!(more_than_one, 0);
    assert_eq!(classified, half);
    assert_eq!(deleted, n - half);
    assert_eq!(calls, stats.fetches);
    assert!(stats.fetches <= stats.ticks, "at most one metrics query per tick");
    assert_eq!(stats.still_pending, 0, "nothing left waiting (bounded state)");
    assert!(stats.max_pending as usize <= n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_2000_pods_each_end_in_exactly_one_outcome() {
    burst(2_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_10000_pods_each_end_in_exactly_one_outcome() {
    burst(10_000).await;
}
