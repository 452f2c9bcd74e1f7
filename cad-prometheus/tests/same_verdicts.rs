//! The collector and the watcher, run unchanged over cad-influx and
//! cad-prometheus (against Prometheus and VictoriaMetrics) with the same
//! data, build the same data set, train the same model bytes and reach the
//! same verdicts.
//!
//! One simulated cluster gives the data: 15 training pods of five services
//! for the collector, then 7 new pods for the watcher, two of them impostors
//! (named like one service, behaving like another). Their samples are
//! written to a real InfluxDB as Telegraf writes them and to a real
//! Prometheus and VictoriaMetrics as cAdvisor and kube-state-metrics expose
//! them. The engines then run once per store, each on a clock that moves
//! only when the engine waits, so the three runs ask the same questions at
//! the same instants.

mod common;

use cad_core::engine::{
    ActiveModel, CollectConfig, ExistingPods, ModelHandle, TrainConfig, Watcher, WatcherConfig, collect_dataset, train,
};
use cad_core::{
    Clock, ContainerId, Dataset, FeatureSet, Labeler, MemorySink, MetricSource, Outcome, PodInfo, SinkError,
    TimeWindow, Timestamp, VerdictSink,
};
use cad_influx::InfluxMetricSource;
use cad_prometheus::PrometheusMetricSource;
use cad_sim::{PodSpec, SimCluster, SimConfig};
use common::cluster::{Data, cadvisor_series, canonical, telegraf_lines};
use common::influx::InfluxServer;
use common::influx::load::{FixedPods, ManualClock};
use common::{PromOptions, PromServer, RecordingClock, VmOptions, VmServer};
use futures::future::BoxFuture;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Simulated time that moves only when an engine waits: a wait jumps the
/// clock to its deadline when it is first polled. Real requests take real
/// time, but the engines see the same instants whatever the store.
#[derive(Clone)]
struct StepClock(Arc<Mutex<Timestamp>>);

impl StepClock {
    fn at(t: Timestamp) -> Self {
        StepClock(Arc::new(Mutex::new(t)))
    }
}

impl Clock for StepClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn sleep_until(&self, deadline: Timestamp) -> BoxFuture<'static, ()> {
        let now = self.0.clone();
        Box::pin(async move {
            let mut t = now.lock().unwrap_or_else(|e| e.into_inner());
            if deadline > *t {
                *t = deadline;
            }
        })
    }
}

/// Keeps the outcomes, and says when `expected` of them have come.
struct Counting {
    memory: MemorySink,
    seen: AtomicUsize,
    expected: usize,
    done: Notify,
}

#[async_trait::async_trait]
impl VerdictSink for Counting {
    fn name(&self) -> &str {
        "counting"
    }
    async fn record(&self, outcome: &Outcome) -> Result<(), SinkError> {
        self.memory.record(outcome).await?;
        if self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.expected {
            self.done.notify_one();
        }
        Ok(())
    }
}

/// What one store gave the engines.
struct Run {
    data: Dataset,
    model: Vec<u8>,
    outcomes: Vec<Outcome>,
}

const TRAIN_AT: Duration = Duration::from_secs(12 * 60);
const WATCH_FROM: Duration = Duration::from_secs(13 * 60);
const DATA_UNTIL: Duration = Duration::from_secs(20 * 60);

/// The collector, the training and the watcher over `metrics`.
async fn engines(
    t0: Timestamp,
    metrics: Arc<dyn MetricSource>,
    training: &[PodInfo],
    watched: &[PodInfo],
    labeler: &Labeler,
) -> Run {
    let features = FeatureSet::behaviour();
    let collect_clock = ManualClock::new(t0 + TRAIN_AT);
    let (data, stats) = collect_dataset(
        &FixedPods(training.to_vec()),
        metrics.as_ref(),
        &collect_clock,
        labeler,
        &features,
        &CollectConfig::default(),
        &mut |_, _| {},
    )
    .await
    .expect("collect");
    assert_eq!(stats.containers_with_rows, stats.containers, "{stats:?}");
    let config = TrainConfig {
        trained_on: "the same cluster".into(),
        ..TrainConfig::default()
    };
    let trained = train(&data, &features, &config, t0 + TRAIN_AT, &mut |_| {}).expect("train");
    let model = trained.bundle.to_bytes().expect("model bytes");

    let containers: usize = watched.iter().map(|p| p.containers.len()).sum();
    let sink = Arc::new(Counting {
        memory: MemorySink::new(),
        seen: AtomicUsize::new(0),
        expected: containers,
        done: Notify::new(),
    });
    let clock = StepClock::at(t0 + WATCH_FROM);
    let watcher = Watcher::new(
        Arc::new(FixedPods(watched.to_vec())),
        metrics,
        Arc::new(clock.clone()),
        ModelHandle::new(ActiveModel::from_bundle(trained.bundle)),
        WatcherConfig {
            existing_pods: ExistingPods::All,
            ..WatcherConfig::default()
        },
    )
    .with_sink(sink.clone());
    let stats = tokio::time::timeout(Duration::from_secs(120), watcher.run_until(sink.done.notified()))
        .await
        .expect("every container has its outcome within 2 minutes of real time");
    assert_eq!(stats.fetch_errors, 0, "{stats:?}");
    let mut outcomes = sink.memory.outcomes();
    // The sinks run in their own tasks: the watcher may tick on (this clock
    // jumps at once) before the last outcome reaches the sink and stops it.
    // What matters is that every outcome was reached within the data.
    assert!(
        outcomes.iter().all(|o| o.time() < t0 + DATA_UNTIL),
        "the watcher stayed within the data"
    );
    outcomes.sort_by(|a, b| (a.pod(), a.container()).cmp(&(b.pod(), b.container())));
    Run { data, model, outcomes }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_and_watcher_reach_the_same_verdicts_through_influxdb_prometheus_and_victoria_metrics() {
    let t0 = common::data_start();
    let sim_clock = Arc::new(ManualClock::new(t0));
    let mut config = SimConfig::default().with_seed(23).without_churn();
    config.silent_fraction = 0.0;
    config.impostor_fraction = 0.0;
    let sim = SimCluster::new(config, sim_clock.clone());
    let classes = sim.class_names();
    let training: Vec<PodInfo> = (0..3)
        .flat_map(|i| {
            let sim = &sim;
            classes
                .iter()
                .map(move |c| sim.spawn(PodSpec::new(c.clone()).in_namespace(format!("train-{i}"))))
        })
        .collect();
    sim_clock.set(t0 + WATCH_FROM);
    let mut watched: Vec<PodInfo> = classes
        .iter()
        .map(|c| sim.spawn(PodSpec::new(c.clone()).in_namespace("shop")))
        .collect();
    watched.push(sim.spawn(PodSpec::impostor("nginx", "mysql").in_namespace("shop")));
    watched.push(sim.spawn(PodSpec::impostor("mongodb", "nginx").in_namespace("shop")));
    sim_clock.set(t0 + DATA_UNTIL);
    let all: Vec<PodInfo> = training.iter().chain(&watched).cloned().collect();
    let ids: Vec<ContainerId> = all.iter().flat_map(|p| p.container_ids().collect::<Vec<_>>()).collect();
    let truth = sim
        .fetch(&ids, TimeWindow::new(t0, t0 + DATA_UNTIL))
        .await
        .expect("simulated samples");
    let data: Data = ids
        .iter()
        .map(|id| (id.clone(), canonical(truth.samples(id))))
        .collect();

    let Some(influx) = InfluxServer::start().await else {
        return;
    };
    influx.create_database("telegraf").await;
    influx.write("telegraf", &telegraf_lines(&all, &data)).await;
    let series = cadvisor_series(&all, &data);
    let Some(prom) = PromServer::start(&series, PromOptions::default()).await else {
        return;
    };
    let Some(vm) = VmServer::start(VmOptions::default()).await else {
        return;
    };
    vm.import(&series).await;

    let retry_clock = Arc::new(RecordingClock::default());
    let labeler = Labeler::new(classes.clone());
    let mut runs: Vec<(&str, Run)> = Vec::new();
    let influx_source = InfluxMetricSource::new(influx.config("telegraf", retry_clock.clone())).expect("influx");
    runs.push((
        "influxdb",
        engines(t0, Arc::new(influx_source), &training, &watched, &labeler).await,
    ));
    for (store, url) in [("prometheus", prom.url()), ("victoria-metrics", vm.url())] {
        let source = PrometheusMetricSource::new(common::config(&url, retry_clock.clone())).expect("source");
        runs.push((
            store,
            engines(t0, Arc::new(source), &training, &watched, &labeler).await,
        ));
    }
    assert!(retry_clock.slept().is_empty(), "no request needed a retry");

    let (_, reference) = &runs[0];
    let verdicts: Vec<_> = reference
        .outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Classified(v) => Some(v),
            _ => None,
        })
        .collect();
    // Written to stderr directly: libtest captures println! of passing tests.
    use std::io::Write as _;
    let mut err = std::io::stderr();
    let _ = writeln!(
        err,
        "{} training rows of {} containers, a {}-byte model, {} outcomes ({} verdicts, {} anomalies), the same through {}",
        reference.data.n_rows(),
        reference.data.group_names().len(),
        reference.model.len(),
        reference.outcomes.len(),
        verdicts.len(),
        verdicts.iter().filter(|v| v.is_anomaly()).count(),
        runs.iter().map(|(s, _)| *s).collect::<Vec<_>>().join(", ")
    );
    for o in &reference.outcomes {
        let _ = writeln!(err, "  {o}");
    }
    // The runs can tell stores apart: every pod was judged from metrics, the
    // training saw every container, and the impostors were caught.
    assert_eq!(reference.data.group_names().len(), training.len());
    assert_eq!(verdicts.len(), watched.len(), "{:?}", reference.outcomes);
    for impostor in &watched[classes.len()..] {
        let v = verdicts.iter().find(|v| v.pod == impostor.id).expect("a verdict");
        assert!(v.is_anomaly(), "the impostor {} was not caught: {v}", impostor.id);
    }
    for (store, run) in &runs[1..] {
        assert!(run.data == reference.data, "{store}: another data set");
        assert!(run.model == reference.model, "{store}: other model bytes");
        // The same verdicts: kind, class, claim, anomaly and timing. The
        // open-set evidence moves with small differences in the watch-time
        // samples (the stores round and align them differently): the p-value
        // (distances to the training containers) and the confidence shown
        // (the open-set forest's probability through the calibration's
        // step map: a raw probability near a step's edge read 0.11 through
        // Prometheus and 0.99 through InfluxDB for one nginx pod, session
        // 20); the classifier, on binned features, does not.
        assert_eq!(
            without_evidence(&run.outcomes),
            without_evidence(&reference.outcomes),
            "{store}: other outcomes"
        );
    }
}

/// The outcomes without their p-values and confidences.
fn without_evidence(outcomes: &[Outcome]) -> Vec<Outcome> {
    outcomes
        .iter()
        .cloned()
        .map(|mut o| {
            if let Outcome::Classified(v) = &mut o {
                v.p_value = None;
                v.confidence = 0.0;
            }
            o
        })
        .collect()
}
