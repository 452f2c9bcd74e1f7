//! Reliability: InfluxDB stopped and restarted while the watcher runs (a real
//! `influxd` from the test harness). Pods pending during the outage must be
//! classified once it is back, or time out with that reason; none vanish and
//! none get two outcomes.
//!
//! The watcher runs on the system clock (the data written to InfluxDB carries
//! real timestamps), with a 200 ms poll and a 5 s timeout; the test waits for
//! conditions, never for a fixed time, and takes about 10 s.

mod common;

use cad_core::engine::watcher::{ActiveModel, ModelHandle, Watcher, WatcherConfig};
use cad_core::{
    Classifier, ContainerId, ContainerInfo, FeatureSet, MemorySink, MetricBatch, MetricSource, PodEvent, PodId,
    PodInfo, PodPhase, PodSource, Prediction, SourceError, SystemClock, TimeWindow, Timestamp,
};
use cad_influx::{InfluxMetricSource, RetryPolicy};
use common::{InfluxServer, RecordingClock};
use futures::stream::{BoxStream, StreamExt};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DB: &str = "telegraf";
const HANG_GUARD: Duration = Duration::from_secs(60);
const CLASSES: [&str; 5] = ["mysql", "nginx", "apache", "postgresql", "mongodb"];

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

/// Pods the test announces through a channel.
struct ChannelPods {
    rx: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<PodEvent>>>,
}

#[async_trait::async_trait]
impl PodSource for ChannelPods {
    async fn list(&self) -> Result<Vec<PodInfo>, SourceError> {
        Ok(Vec::new())
    }
    fn watch(&self) -> BoxStream<'static, Result<PodEvent, SourceError>> {
        match self.rx.lock().unwrap().take() {
            Some(rx) => tokio_stream_from(rx).map(Ok).boxed(),
            None => futures::stream::pending().boxed(),
        }
    }
}

fn tokio_stream_from(rx: tokio::sync::mpsc::UnboundedReceiver<PodEvent>) -> BoxStream<'static, PodEvent> {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) }).boxed()
}

/// Counts fetches and failed fetches of the wrapped source.
struct Counting {
    inner: InfluxMetricSource,
    calls: AtomicU64,
    failures: AtomicU64,
}

#[async_trait::async_trait]
impl MetricSource for Counting {
    async fn fetch(&self, containers: &[ContainerId], window: TimeWindow) -> Result<MetricBatch, SourceError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let r = self.inner.fetch(containers, window).await;
        if r.is_err() {
            self.failures.fetch_add(1, Ordering::SeqCst);
        }
        r
    }
}

fn pod(name: &str) -> PodInfo {
    let mut p = PodInfo::new(PodId::new("shop", name, format!("uid-{name}")));
    p.phase = PodPhase::Running;
    p.node = Some("node-a".into());
    p.start_time = Some(Timestamp::now());
    p.containers = vec![ContainerInfo::new("main", "nginx:1.27")];
    p
}

fn lines_for(names: &[String], t: Timestamp) -> String {
    let ms = (t.as_secs_f64() * 1000.0) as i64;
    names
        .iter()
        .map(|n| {
            format!(
                "kubernetes_pod_container,container_name=main,namespace=shop,node_name=node-a,pod_name={n} \
                 memory_usage_bytes=52428800i,cpu_usage_nanocores=20000000i {ms}"
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let r = tokio::time::timeout(HANG_GUARD, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(r.is_ok(), "timed out waiting for: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxdb_stopped_and_restarted_while_watching_loses_and_duplicates_nothing() {
    let Some(mut server) = InfluxServer::start().await else {
        return;
    };
    server.create_database(DB).await;

    let mut config = server.config(DB, Arc::new(RecordingClock::default()));
    config.clock = Arc::new(SystemClock);
    config.retries = RetryPolicy {
        max_attempts: 1,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(50),
    };
    config.connect_timeout = Duration::from_millis(500);
    config.timeout = Duration::from_secs(2);
    let metrics = Arc::new(Counting {
        inner: InfluxMetricSource::new(config).expect("source"),
        calls: AtomicU64::new(0),
        failures: AtomicU64::new(0),
    });
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let pods = Arc::new(ChannelPods {
        rx: Mutex::new(Some(rx)),
    });
    let features = FeatureSet::legacy();
    let model = ModelHandle::new(ActiveModel {
        classifier: Arc::new(AlwaysNginx(features.columns.len())),
        classes: CLASSES.iter().map(|s| s.to_string()).collect(),
        features,
        description: "always nginx".into(),
        ages: None,
        open_set: None,
        confidence: None,
    });
    let sink = Arc::new(MemorySink::new());
    let watcher = Watcher::new(
        pods,
        metrics.clone(),
        Arc::new(SystemClock),
        model,
        WatcherConfig {
            poll_interval: Duration::from_millis(200),
            timeout: Duration::from_secs(5),
            late_data: Duration::from_secs(1),
            ..WatcherConfig::default()
        },
    )
    .with_sink(sink.clone());

    // Pods whose metrics Telegraf writes (silent pods never get any).
    let writing: Arc<Mutex<Vec<String>>> = Arc::default();
    let up = Arc::new(AtomicBool::new(true));
    let url = server.url();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (stats, (failed_during_outage, outage_pending)) = tokio::join!(
        watcher.run_until(async move {
            let _ = stopped.await;
        }),
        async {
            let writer = {
                let writing = writing.clone();
                let up = up.clone();
                let url = url.clone();
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    loop {
                        let names = writing.lock().unwrap().clone();
                        if up.load(Ordering::SeqCst) && !names.is_empty() {
                            // A failed write is what Telegraf sees during an outage too.
                            let _ = client
                                .post(format!("{url}/write?db={DB}&precision=ms"))
                                .basic_auth(common::ADMIN, Some(common::ADMIN_PASSWORD))
                                .body(lines_for(&names, Timestamp::now()))
                                .send()
                                .await;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                })
            };
            // Before the outage: 4 pods with metrics.
            for i in 0..4 {
                let p = pod(&format!("before-nginx-{i}"));
                writing.lock().unwrap().push(p.id.name.clone());
                tx.send(PodEvent::Added(p)).unwrap();
            }
            until("the 4 pods before the outage classified", || sink.outcomes().len() >= 4).await;

            // The outage: InfluxDB stops; 4 pods start (Telegraf cannot write their
            // metrics yet) and 2 silent pods that will never have metrics.
            up.store(false, Ordering::SeqCst);
            server.stop();
            let failures_before = metrics.failures.load(Ordering::SeqCst);
            for i in 0..4 {
                tx.send(PodEvent::Added(pod(&format!("during-nginx-{i}")))).unwrap();
            }
            for i in 0..2 {
                tx.send(PodEvent::Added(pod(&format!("silent-nginx-{i}")))).unwrap();
            }
            until("3 failed fetches during the outage", || {
                metrics.failures.load(Ordering::SeqCst) >= failures_before + 3
            })
            .await;
            let outage_pending = 6 - sink.outcomes().len().saturating_sub(4);
            let failed = metrics.failures.load(Ordering::SeqCst) - failures_before;

            // Back: the server restarts on the same data; metrics flow again.
            server.restart().await;
            for i in 0..4 {
                writing.lock().unwrap().push(format!("during-nginx-{i}"));
            }
            up.store(true, Ordering::SeqCst);
            until("all 10 pods have an outcome", || sink.outcomes().len() >= 10).await;
            writer.abort();
            let _ = stop.send(());
            (failed, outage_pending)
        }
    );

    let outcomes = sink.outcomes();
    let mut per: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    for o in &outcomes {
        per.entry(o.pod().name.clone()).or_default().push(o.kind());
    }
    let count = |prefix: &str, kind: &str| {
        per.iter()
            .filter(|(n, v)| n.starts_with(prefix) && v.as_slice() == [kind])
            .count()
    };
    let kinds: BTreeSet<&str> = per.values().flatten().copied().collect();
    println!(
        "influx outage: fetches {} (failed {}, {failed_during_outage} while down), pending at the outage {outage_pending}; \
         before: classified {}; during: classified {} timed out {}; silent: timed out {}; \
         containers {} outcomes {} (kinds {kinds:?}); >1 outcome {}; still pending {}",
        stats.fetches,
        stats.fetch_errors,
        count("before-", "classified"),
        count("during-", "classified"),
        count("during-", "timed_out"),
        count("silent-", "timed_out"),
        per.len(),
        outcomes.len(),
        per.values().filter(|v| v.len() > 1).count(),
        stats.still_pending,
    );
    assert_eq!(per.len(), 10, "no pod vanished: {per:?}");
    assert_eq!(outcomes.len(), 10, "no pod got two outcomes: {per:?}");
    assert!(failed_during_outage >= 3);
    assert_eq!(stats.fetch_errors, metrics.failures.load(Ordering::SeqCst));
    assert_eq!(count("before-", "classified"), 4);
    assert_eq!(
        count("during-", "classified") + count("during-", "timed_out"),
        4,
        "pods pending during the outage are classified or time out"
    );
    assert!(
        count("during-", "classified") >= 1,
        "metrics written after the restart are used"
    );
    assert_eq!(count("silent-", "timed_out"), 2);
    assert_eq!(stats.still_pending, 0);
    assert!(stats.fetches <= stats.ticks);
}
