//! A metric adapter written against `cad-core` alone, from a source of its
//! own to the watcher's first verdict: the path `docs/writing-an-adapter.md`
//! describes. It depends on nothing but `cad-core` (without its optional
//! parts) and tokio.
//!
//! * [`Cadvisor`] stands in for the backend an adapter reads (an HTTP API, a
//!   database, files): it answers with series under cAdvisor's metric names
//!   and units, keyed by namespace, pod and container *names*, as most
//!   stores are. Replace it with yours.
//! * [`CadvisorSource`] is the adapter proper: a [`MetricSource`] that maps
//!   those names to cad's catalogue ([`CADVISOR`]), converts the units, and
//!   answers under the ids it was asked for.
//! * [`Collected`] is a [`VerdictSink`] of one's own.
//! * [`run`] is the pipeline: collect, train, write the model file and read
//!   it back, then watch until every new pod has its outcome.
//!
//! `cargo run -p cad-adapter-example` runs it and prints the verdicts.

use cad_core::engine::{CollectConfig, CollectStats, TrainConfig, Watcher, WatcherConfig, collect_dataset, train};
use cad_core::prelude::*;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// cAdvisor's metric names (as the kubelet exposes them to Prometheus) →
/// cad's catalogue, with the factor from cAdvisor's unit to cad's.
///
/// There is no CPU gauge: cAdvisor has only the counter. cad derives the
/// `cpu_usage_nanocores` gauge the feature sets require from it.
pub const CADVISOR: &[(&str, Metric, f64)] = &[
    // Seconds of CPU → core-nanoseconds.
    (
        "container_cpu_usage_seconds_total",
        Metric::CpuUsageCoreNanoseconds,
        1e9,
    ),
    ("container_memory_usage_bytes", Metric::MemoryUsageBytes, 1.0),
    ("container_memory_working_set_bytes", Metric::MemoryWorkingSetBytes, 1.0),
    ("container_memory_rss", Metric::MemoryRssBytes, 1.0),
    ("container_network_receive_bytes_total", Metric::RxBytes, 1.0),
    ("container_network_transmit_bytes_total", Metric::TxBytes, 1.0),
    ("container_fs_reads_bytes_total", Metric::BlkioReadBytes, 1.0),
    ("container_fs_writes_bytes_total", Metric::BlkioWriteBytes, 1.0),
];

/// How a made-up service behaves: CPU, memory and traffic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Behaviour {
    /// Cores busy on average.
    pub cpu_cores: f64,
    /// Memory in use (page cache included), bytes.
    pub memory: f64,
    /// The share of memory in use that is resident.
    pub rss_share: f64,
    /// Bytes received per second.
    pub rx_per_s: f64,
    /// Bytes sent per second.
    pub tx_per_s: f64,
    /// Bytes written to disk per second.
    pub write_per_s: f64,
}

/// A web server: little CPU and memory, sends far more than it receives.
pub const NGINX: Behaviour = Behaviour {
    cpu_cores: 0.01,
    memory: 30e6,
    rss_share: 0.4,
    rx_per_s: 2e3,
    tx_per_s: 4e4,
    write_per_s: 0.0,
};

/// A database: more CPU, a large resident buffer pool, writes to disk.
pub const MYSQL: Behaviour = Behaviour {
    cpu_cores: 0.2,
    memory: 450e6,
    rss_share: 0.9,
    rx_per_s: 5e3,
    tx_per_s: 8e3,
    write_per_s: 2e5,
};

/// One point of a series: cAdvisor's metric name, time in milliseconds,
/// value in cAdvisor's unit.
pub type Point = (&'static str, i64, f64);

/// The stand-in backend: containers by (namespace, pod, container) name, each
/// scraped every 10 s from its pod's start.
#[derive(Clone, Debug, Default)]
pub struct Cadvisor {
    containers: HashMap<(String, String, String), (Timestamp, Behaviour)>,
}

/// Scrape interval of the stand-in backend, milliseconds.
const SCRAPE_MS: i64 = 10_000;

/// A number in `[0, 1)` from `k` and `salt`, the same every time (splitmix64).
fn noise(k: i64, salt: u64) -> f64 {
    let mut z = (k as u64).wrapping_add(salt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as f64 / (u64::MAX as f64 + 1.0)
}

impl Cadvisor {
    /// Makes every container of `pod` behave like `behaviour` from the pod's
    /// start (a pod without a start time gets no series).
    pub fn add(&mut self, pod: &PodInfo, behaviour: Behaviour) {
        let Some(start) = pod.start_time else { return };
        for c in &pod.containers {
            let key = (pod.id.namespace.clone(), pod.id.name.clone(), c.name.clone());
            self.containers.insert(key, (start, behaviour));
        }
    }

    /// The points of one container within `window`: what one query to the
    /// backend returns. Unknown containers have none.
    pub fn query(&self, namespace: &str, pod: &str, container: &str, window: TimeWindow) -> Vec<Point> {
        let key = (namespace.to_owned(), pod.to_owned(), container.to_owned());
        let Some(&(start, b)) = self.containers.get(&key) else {
            return Vec::new();
        };
        let salt = key
            .1
            .bytes()
            .fold(7u64, |h, c| h.wrapping_mul(31).wrapping_add(c.into()));
        // Scrapes from the first at or after the window's start.
        let since_start = window.start.as_millis().saturating_sub(start.as_millis()).max(0) as u64;
        let first = since_start.div_ceil(SCRAPE_MS as u64) as i64;
        let mut out = Vec::new();
        for k in first.. {
            let t = start.as_millis() + k * SCRAPE_MS;
            if t >= window.end.as_millis() {
                break;
            }
            let secs = (k * SCRAPE_MS) as f64 / 1000.0;
            // Counters grow by their rate ± 30 % per scrape, never backwards.
            let counter = |rate: f64, s: u64| rate * (secs + 3.0 * noise(k, salt ^ s));
            let memory = b.memory * (1.0 + 0.05 * noise(k, salt ^ 1));
            out.extend([
                ("container_cpu_usage_seconds_total", t, counter(b.cpu_cores, 2)),
                ("container_memory_usage_bytes", t, memory),
                ("container_memory_working_set_bytes", t, memory * 0.8),
                ("container_memory_rss", t, memory * b.rss_share),
                ("container_fs_writes_bytes_total", t, counter(b.write_per_s, 3)),
                // The network a little after the rest, as separate scrapes are.
                ("container_network_receive_bytes_total", t + 700, counter(b.rx_per_s, 4)),
                (
                    "container_network_transmit_bytes_total",
                    t + 700,
                    counter(b.tx_per_s, 5),
                ),
            ]);
        }
        out.retain(|(_, t, _)| window.contains(Timestamp::from_millis(*t)));
        out
    }
}

/// The adapter: cad's [`MetricSource`] over the [`Cadvisor`] backend.
#[derive(Clone, Debug)]
pub struct CadvisorSource {
    backend: Arc<Cadvisor>,
}

impl CadvisorSource {
    /// A source reading `backend`.
    pub fn new(backend: Arc<Cadvisor>) -> Self {
        CadvisorSource { backend }
    }
}

#[async_trait]
impl MetricSource for CadvisorSource {
    async fn fetch(&self, containers: &[ContainerId], window: TimeWindow) -> Result<MetricBatch, SourceError> {
        let mut batch = MetricBatch::new();
        // A real backend answers every container in one query (or a few);
        // this one is in memory, so one lookup each.
        for id in containers {
            let points = self
                .backend
                .query(&id.pod.namespace, &id.pod.name, &id.container, window);
            // The backend keys by names; answer under `id`, the id asked for.
            // An id rebuilt from the names (without the pod UID) would match
            // nothing: the engines would ignore its samples, with a warning.
            let series = batch.series_mut(id);
            for (name, ms, value) in points {
                if let Some((_, metric, factor)) = CADVISOR.iter().find(|(n, ..)| *n == name) {
                    series.push(Sample::new(Timestamp::from_millis(ms), *metric, value * factor));
                }
            }
        }
        Ok(batch)
    }
}

/// A sink of one's own: keeps every outcome it gets.
#[derive(Debug, Default)]
pub struct Collected(Mutex<Vec<Outcome>>);

impl Collected {
    /// The outcomes so far, in order.
    pub fn outcomes(&self) -> Vec<Outcome> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl VerdictSink for Collected {
    fn name(&self) -> &str {
        "collected"
    }

    async fn record(&self, outcome: &Outcome) -> Result<(), SinkError> {
        let mut v = self
            .0
            .lock()
            .map_err(|_| SinkError::new("collected", "lock poisoned"))?;
        v.push(outcome.clone());
        Ok(())
    }
}

/// What [`run`] did.
#[derive(Debug)]
pub struct Report {
    /// What the collector gathered.
    pub collected: CollectStats,
    /// The model file's size in bytes.
    pub model_bytes: u64,
    /// The grouped cross-validation accuracy of the training data.
    pub accuracy: Option<f64>,
    /// Every outcome the watcher reached, in order.
    pub outcomes: Vec<Outcome>,
}

/// Errors of [`run`]: cad's errors, boxed.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A pod of the `shop` namespace with one container named after the class.
fn pod(name: &str, class: &str, start: Timestamp) -> PodInfo {
    let mut pod = PodInfo::new(PodId::new("shop", name, format!("uid-{name}")));
    pod.start_time = Some(start);
    pod.phase = PodPhase::Running;
    pod.containers
        .push(ContainerInfo::new(class, format!("{class}:latest")));
    pod
}

/// The whole path under `clock` (a [`TokioClock`] under paused time runs it
/// in milliseconds): eight running pods to train on, collected from the
/// adapter, a model trained and written to `model_path` and read back, then
/// the watcher on two new pods — `nginx-new`, which behaves like nginx, and
/// `nginx-odd`, named like nginx but behaving like mysql — until both have
/// their outcome (at most the watcher's timeout after their start: 120 s,
/// or the age at which the model decides plus two polls when that is later).
pub async fn run(clock: TokioClock, model_path: &Path) -> Result<Report, Error> {
    let now = clock.now();
    let mut backend = Cadvisor::default();
    let mut training = Vec::new();
    for i in 0..8u64 {
        let (class, behaviour) = if i % 2 == 0 { ("nginx", NGINX) } else { ("mysql", MYSQL) };
        let started = now - Duration::from_secs(7200 + 1000 * i);
        let p = pod(&format!("{class}-{i}"), class, started);
        backend.add(&p, behaviour);
        training.push(p);
    }
    let new_pods = [pod("nginx-new", "nginx", now), pod("nginx-odd", "nginx", now)];
    backend.add(&new_pods[0], NGINX);
    backend.add(&new_pods[1], MYSQL);
    let source = CadvisorSource::new(Arc::new(backend));

    // 1. Collect: label the running pods by name, fetch, build feature rows.
    let labeler = Labeler::new(["nginx", "mysql"]);
    let features = FeatureSet::behaviour();
    let (data, collected) = collect_dataset(
        StaticPods::new(training.clone()),
        &source,
        &clock,
        &labeler,
        &features,
        &CollectConfig::default(),
        (),
    )
    .await?;

    // 2. Train (grouped 5-fold evaluation, then the final tree on all rows).
    let config = TrainConfig {
        curve_points: 0,
        trained_on: "the cad-adapter-example backend".into(),
        ..TrainConfig::default()
    };
    let trained = train(&data, &features, &config, clock.now(), ())?;
    let accuracy = trained.bundle.evaluation.as_ref().and_then(|e| e.accuracy);

    // 3. The model file, written atomically, and read back as a watcher would.
    trained.bundle.write_to(model_path)?;
    let model_bytes = std::fs::metadata(model_path)?.len();
    let bundle = ModelBundle::read_from(model_path)?;

    // 4. Watch: the pod list now has the two new pods; the running ones
    //    started long before the watcher and are not judged again.
    let sink = Arc::new(Collected::default());
    let pods = StaticPods::new(training.into_iter().chain(new_pods));
    let watcher = Watcher::new(pods, source, clock, bundle, WatcherConfig::default()).with_sink(sink.clone());
    let watching = sink.clone();
    let all_decided = async move {
        // Every 5 s, for at most 10 minutes (each pod ends in an outcome within 120 s).
        for _ in 0..120 {
            if watching.outcomes().len() >= 2 {
                break;
            }
            clock.sleep(Duration::from_secs(5)).await;
        }
    };
    watcher.run_until(all_decided).await;
    Ok(Report {
        collected,
        model_bytes,
        accuracy,
        outcomes: sink.outcomes(),
    })
}
