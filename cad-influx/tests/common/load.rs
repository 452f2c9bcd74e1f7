//! Load for the scale tests: many pods of the simulated cluster
//! (`cad-sim`, class profiles measured on a real cluster) whose samples
//! are written to a real InfluxDB as Telegraf's `kubernetes` and `docker`
//! inputs would write them, at Telegraf's 10 s interval.
//!
//! The simulator computes every sample from the pod's seed, so the same pods
//! are written to InfluxDB and known to the pod source of the test; the
//! watcher and the collector then read them back through the real adapter.

use super::{InfluxServer, admin_config, write_lines};
use cad_core::engine::{
    CollectConfig, CollectError, CollectStats, ModelHandle, WatchStats, Watcher, WatcherConfig, collect_dataset,
};
use cad_core::{
    Clock, ContainerId, Dataset, FeatureSet, Labeler, Metric, MetricBatch, MetricSource, Outcome, PodEvent, PodInfo,
    PodSource, Sample, SinkError, SourceError, TimeWindow, Timestamp, VerdictSink,
};
use cad_influx::{InfluxConfig, InfluxMetricSource, Traffic};
use cad_sim::{PodSpec, SimCluster, SimConfig};
use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A clock that stands still until moved with [`set`](Self::set); its waits return at once.
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    pub fn new(t: Timestamp) -> Self {
        ManualClock(Mutex::new(t))
    }
    pub fn set(&self, t: Timestamp) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn sleep_until(&self, _deadline: Timestamp) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
}

/// Wall time sped up `factor` times from `epoch`: the engines see minutes pass
/// in seconds while InfluxDB answers in real time. Waits are real waits of
/// the scaled-down length. Not tokio's paused time: that jumps the clock ahead
/// whenever every task waits, which is all the time while a request waits on
/// InfluxDB's real I/O, so each poll would look instantaneous or time out.
pub struct FastClock {
    epoch: Timestamp,
    start: std::time::Instant,
    factor: f64,
}

impl FastClock {
    pub fn new(epoch: Timestamp, factor: f64) -> Self {
        FastClock {
            epoch,
            start: std::time::Instant::now(),
            factor: factor.max(1e-3),
        }
    }
}

impl Clock for FastClock {
    fn now(&self) -> Timestamp {
        self.epoch + self.start.elapsed().mul_f64(self.factor)
    }
    fn sleep_until(&self, deadline: Timestamp) -> BoxFuture<'static, ()> {
        let d = deadline.since(self.now()).div_f64(self.factor);
        Box::pin(tokio::time::sleep(d))
    }
}

/// `n` pods of the simulator's five classes in turn (one container each,
/// none silent, no impostors, no churn), started at `start`, and the
/// cluster that computes their samples. Pod names look like real ones
/// (`nginx-7f9c4d8b6-xk2lp`, `mysql-17`) in four namespaces.
pub fn sim_pods(n: usize, start: Timestamp, seed: u64) -> (SimCluster, std::sync::Arc<ManualClock>, Vec<PodInfo>) {
    let clock = std::sync::Arc::new(ManualClock::new(start));
    let mut config = SimConfig::default().with_seed(seed).without_churn();
    config.silent_fraction = 0.0;
    config.impostor_fraction = 0.0;
    config.restart_probability = 0.0;
    let sim = SimCluster::new(config, clock.clone());
    let classes = sim.class_names();
    let pods = (0..n)
        .map(|i| sim.spawn(PodSpec::new(classes[i % classes.len()].clone())))
        .collect();
    (sim, clock, pods)
}

/// Line-protocol escaping of a tag value (comma, equals, space).
fn tag(s: &str) -> String {
    s.replace(',', "\\,").replace('=', "\\=").replace(' ', "\\ ")
}

/// Telegraf-shaped line protocol (millisecond times) for `pods`' samples in
/// `batch`: one `kubernetes_pod_container` line per container and sample
/// time (with the fields Telegraf writes that cad does not read), one
/// `kubernetes_pod_network` and two `kubernetes_pod_volume` lines per pod,
/// and `docker_container_blkio` lines for device `8:0` and `total`.
pub fn telegraf_lines(pods: &[PodInfo], batch: &MetricBatch, out: &mut Vec<String>) {
    for p in pods {
        let node = tag(p.node.as_deref().unwrap_or("node-1"));
        let (ns, name, uid) = (tag(&p.id.namespace), tag(&p.id.name), tag(&p.id.uid));
        for c in &p.containers {
            let id = p.id.container(c.name.clone());
            let cn = tag(&c.name);
            // time → (metric, value) per measurement family
            let mut container: BTreeMap<i64, Vec<&Sample>> = BTreeMap::new();
            let mut network: BTreeMap<i64, Vec<&Sample>> = BTreeMap::new();
            let mut volume: BTreeMap<i64, f64> = BTreeMap::new();
            let mut blkio: BTreeMap<i64, Vec<&Sample>> = BTreeMap::new();
            for s in batch.samples(&id) {
                let t = s.time.as_millis();
                match s.metric {
                    Metric::RxBytes | Metric::TxBytes | Metric::RxErrors | Metric::TxErrors => {
                        network.entry(t).or_default().push(s)
                    }
                    Metric::VolumeUsedBytes => {
                        volume.insert(t, s.value);
                    }
                    Metric::BlkioReadBytes | Metric::BlkioWriteBytes => blkio.entry(t).or_default().push(s),
                    m if m.scope() == cad_core::MetricScope::Container => container.entry(t).or_default().push(s),
                    _ => {}
                }
            }
            let fields = |v: &[&Sample]| {
                v.iter()
                    .map(|s| format!("{}={}i", s.metric.name(), s.value.round() as i64))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            for (t, v) in &container {
                out.push(format!(
                    "kubernetes_pod_container,container_name={cn},namespace={ns},node_name={node},pod_name={name} {},rootfs_available_bytes=121128271872i,rootfs_capacity_bytes=153567944704i,logsfs_available_bytes=121128271872i,logsfs_capacity_bytes=153567944704i {t}",
                    fields(v)
                ));
            }
            for (t, v) in &network {
                out.push(format!(
                    "kubernetes_pod_network,namespace={ns},node_name={node},pod_name={name} {} {t}",
                    fields(v)
                ));
            }
            for (t, used) in &volume {
                // Two volumes whose used bytes add up to the sample.
                let a = (used * 0.25).round() as i64;
                let b = used.round() as i64 - a;
                for (vol, u) in [("kube-api-access-x7k2q", a), ("data", b)] {
                    out.push(format!(
                        "kubernetes_pod_volume,namespace={ns},node_name={node},pod_name={name},volume_name={vol} available_bytes=8415240192i,capacity_bytes=8415252480i,used_bytes={u}i {t}"
                    ));
                }
            }
            for (t, v) in &blkio {
                let mut line_fields = fields(v);
                let _ = write!(
                    line_fields,
                    ",io_serviced_recursive_read=3i,io_serviced_recursive_write=5i"
                );
                for dev in ["8:0", "total"] {
                    out.push(format!(
                        "docker_container_blkio,container_image=docker.io/library/{cn},container_name=k8s_{cn}_{name}_{ns}_{uid}_0,container_status=running,device={dev},engine_host={node},io.kubernetes.container.name={cn},io.kubernetes.pod.name={name},io.kubernetes.pod.namespace={ns},io.kubernetes.pod.uid={uid} {line_fields} {t}"
                    ));
                }
            }
        }
    }
}

/// What [`write_pods`] wrote.
#[derive(Debug, Default)]
pub struct Written {
    /// Lines of line protocol.
    pub lines: usize,
    /// The first sample time of every container.
    pub first_sample: HashMap<ContainerId, Timestamp>,
    /// The first and last memory sample of every container (the field of
    /// the container measurement `containers_seen` reads).
    pub memory: HashMap<ContainerId, (Timestamp, Timestamp)>,
    /// The containers with block-I/O samples (their pod's node has them).
    pub blkio: HashSet<ContainerId>,
}

/// Writes the samples of `pods` between `from` and `to` to `db` through
/// `write` (a function that posts one body of line protocol), `per_request`
/// pods at a time.
pub async fn write_pods<W, F>(
    sim: &SimCluster,
    clock: &ManualClock,
    pods: &[PodInfo],
    from: Timestamp,
    to: Timestamp,
    per_request: usize,
    mut write: W,
) -> Written
where
    W: FnMut(String) -> F,
    F: std::future::Future<Output = ()>,
{
    clock.set(to);
    let mut lines = Vec::new();
    let mut written = Written::default();
    for chunk in pods.chunks(per_request.max(1)) {
        let ids: Vec<_> = chunk.iter().flat_map(|p| p.container_ids()).collect();
        let batch = sim
            .fetch(&ids, TimeWindow::new(from, to))
            .await
            .expect("the simulator always answers");
        for (id, samples) in batch.iter() {
            if let Some(first) = samples.iter().map(|s| s.time).min() {
                written.first_sample.insert(id.clone(), first);
            }
            let memory = samples.iter().filter(|s| s.metric == Metric::MemoryUsageBytes);
            if let (Some(first), Some(last)) = (memory.clone().map(|s| s.time).min(), memory.map(|s| s.time).max()) {
                written.memory.insert(id.clone(), (first, last));
            }
            if samples.iter().any(|s| s.metric == Metric::BlkioReadBytes) {
                written.blkio.insert(id.clone());
            }
        }
        lines.clear();
        telegraf_lines(chunk, &batch, &mut lines);
        written.lines += lines.len();
        write(lines.join("\n")).await;
    }
    written
}

/// An InfluxDB the load goes to: the harness's own server, or one that
/// another process started (`Remote`).
#[async_trait::async_trait]
pub trait Store: Sync {
    /// `http://127.0.0.1:PORT`.
    fn url(&self) -> String;
    /// The server's process id, where known (for its CPU time).
    fn pid(&self) -> Option<u32>;
    /// Writes line protocol as the admin.
    async fn write(&self, db: &str, lines: &str);
    /// A source configuration for `db` as the admin, with the adapter's
    /// default request sizes and concurrency.
    fn config(&self, db: &str) -> InfluxConfig {
        admin_config(&self.url(), db)
    }
}

#[async_trait::async_trait]
impl Store for InfluxServer {
    fn url(&self) -> String {
        InfluxServer::url(self)
    }
    fn pid(&self) -> Option<u32> {
        InfluxServer::pid(self)
    }
    async fn write(&self, db: &str, lines: &str) {
        InfluxServer::write(self, db, lines).await
    }
}

/// A server started by another process.
pub struct Remote {
    pub url: String,
    pub client: reqwest::Client,
}

#[async_trait::async_trait]
impl Store for Remote {
    fn url(&self) -> String {
        self.url.clone()
    }
    fn pid(&self) -> Option<u32> {
        None
    }
    async fn write(&self, db: &str, lines: &str) {
        write_lines(&self.client, &self.url, db, lines).await
    }
}

/// Writes `pods`' samples between `from` and `to` to `server`'s `db`, two
/// requests of 50 pods in flight.
pub async fn write_to(
    server: &dyn Store,
    db: &str,
    sim: &SimCluster,
    clock: &ManualClock,
    pods: &[PodInfo],
    from: Timestamp,
    to: Timestamp,
) -> Written {
    let mut written = Written::default();
    let parts: Vec<&[PodInfo]> = pods.chunks(pods.len().div_ceil(2).max(1)).collect();
    let results = futures::future::join_all(parts.into_iter().map(|part| {
        write_pods(sim, clock, part, from, to, 50, move |body| async move {
            server.write(db, &body).await
        })
    }))
    .await;
    for w in results {
        written.lines += w.lines;
        written.first_sample.extend(w.first_sample);
        written.memory.extend(w.memory);
        written.blkio.extend(w.blkio);
    }
    written
}

/// One `MetricSource::fetch` as the source saw it.
#[derive(Clone, Debug)]
pub struct Poll {
    /// Containers asked for (one per pod here).
    pub containers: usize,
    /// HTTP requests it took.
    pub requests: u64,
    /// Bytes of their URLs and bodies.
    pub bytes: u64,
    /// Containers the fetch marked unavailable.
    pub unavailable: usize,
    /// Real time it took.
    pub took: Duration,
}

/// The InfluxDB source with a record of every fetch.
pub struct Metered {
    pub inner: InfluxMetricSource,
    pub polls: Mutex<Vec<Poll>>,
}

impl Metered {
    pub fn new(inner: InfluxMetricSource) -> Self {
        Metered {
            inner,
            polls: Mutex::default(),
        }
    }
    pub fn polls(&self) -> Vec<Poll> {
        self.polls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait::async_trait]
impl MetricSource for Metered {
    async fn fetch(&self, containers: &[ContainerId], window: TimeWindow) -> Result<MetricBatch, SourceError> {
        let before = self.inner.traffic();
        let started = Instant::now();
        let r = self.inner.fetch(containers, window).await;
        let after = self.inner.traffic();
        self.polls.lock().unwrap_or_else(|e| e.into_inner()).push(Poll {
            containers: containers.len(),
            requests: after.requests - before.requests,
            bytes: after.bytes_sent - before.bytes_sent,
            unavailable: r.as_ref().map_or(containers.len(), MetricBatch::unavailable_count),
            took: started.elapsed(),
        });
        r
    }
}

/// Pods that exist from the start: listed, and reported as added at once.
pub struct FixedPods(pub Vec<PodInfo>);

#[async_trait::async_trait]
impl PodSource for FixedPods {
    async fn list(&self) -> Result<Vec<PodInfo>, SourceError> {
        Ok(self.0.clone())
    }
    fn watch(&self) -> BoxStream<'static, Result<PodEvent, SourceError>> {
        let added: Vec<_> = self.0.iter().cloned().map(|p| Ok(PodEvent::Added(p))).collect();
        futures::stream::iter(added).chain(futures::stream::pending()).boxed()
    }
}

/// Counts outcomes as they come (so a run can stop once every container has
/// one) and keeps, per verdict, only the seconds from the container's first
/// sample: a few bytes each, so 10,000 verdicts do not weigh on the
/// watcher's measured memory.
#[derive(Default)]
pub struct Outcomes {
    first_sample: HashMap<ContainerId, Timestamp>,
    pub count: AtomicUsize,
    pub classified: AtomicUsize,
    pub as_claimed: AtomicUsize,
    pub first_sample_to_verdict: Mutex<Vec<f64>>,
}

#[async_trait::async_trait]
impl VerdictSink for Outcomes {
    fn name(&self) -> &str {
        "outcomes"
    }
    async fn record(&self, outcome: &Outcome) -> Result<(), SinkError> {
        if let Outcome::Classified(v) = outcome {
            self.classified.fetch_add(1, Ordering::SeqCst);
            if v.claimed.as_deref() == Some(v.predicted.as_str()) {
                self.as_claimed.fetch_add(1, Ordering::SeqCst);
            }
            if let Some(first) = self.first_sample.get(&v.pod.container(v.container.clone())) {
                let secs = v.time.secs_since(*first);
                self.first_sample_to_verdict
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(secs);
            }
        }
        self.count.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// What the collector did at scale.
pub struct CollectRun {
    /// The pods written and collected.
    pub pods: Vec<PodInfo>,
    /// What was written of them.
    pub written: Written,
    pub data: Dataset,
    pub stats: CollectStats,
    pub polls: Vec<Poll>,
    pub traffic: Traffic,
    pub lines: usize,
    pub write: Duration,
    pub collect: Duration,
    pub cpu_s: f64,
    pub influx_cpu_s: f64,
}

/// The collector's set-up: `pods` simulated pods running since `start`,
/// with `history` of metrics written, of which the collector reads the last
/// `window`.
pub struct History {
    pub pods: usize,
    pub start: Timestamp,
    pub history: Duration,
    pub window: Duration,
    pub seed: u64,
}

/// Writes the pods of `h` to InfluxDB, then builds the collector's data set
/// through the real adapter (configured by `config`).
pub async fn collect_at_scale(
    server: &dyn Store,
    db: &str,
    h: &History,
    config: InfluxConfig,
) -> Result<CollectRun, CollectError> {
    let (n, t0, history, window, seed) = (h.pods, h.start, h.history, h.window, h.seed);
    let (sim, clock, pods) = sim_pods(n, t0, seed);
    let started = Instant::now();
    let end = t0 + history;
    let written = write_to(server, db, &sim, &clock, &pods, t0, end).await;
    let write = started.elapsed();
    let labeler = Labeler::new(sim.class_names());
    drop(sim);
    // What `cad-collector` reads per round (`MetricsQueryArgs::collector_batch`).
    let collect_config = CollectConfig {
        window,
        batch_size: (4 * config.chunk_size * config.concurrency).clamp(1, 2_000),
        ..CollectConfig::default()
    };
    let source = Metered::new(InfluxMetricSource::new(config).expect("a valid InfluxDB configuration"));
    let (cpu0, icpu0) = (own_cpu_seconds(), influx_cpu(server));
    let started = Instant::now();
    clock.set(end);
    let (data, stats) = collect_dataset(
        &FixedPods(pods.clone()),
        &source,
        clock.as_ref(),
        &labeler,
        &FeatureSet::behaviour(),
        &collect_config,
        &mut |_, _| {},
    )
    .await?;
    Ok(CollectRun {
        pods,
        lines: written.lines,
        written,
        data,
        stats,
        polls: source.polls(),
        traffic: source.inner.traffic(),
        write,
        collect: started.elapsed(),
        cpu_s: own_cpu_seconds() - cpu0,
        influx_cpu_s: influx_cpu(server) - icpu0,
    })
}

/// Percentile `p` (0–100) of `values` (nearest rank), or 0 for none.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// Seconds of CPU (user + system) process `pid` has used, from `/proc`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ, which /proc/<pid>/stat counts in, is 100 on Linux
}

/// A `kB` figure of this process's `/proc/self/status`, in bytes.
fn status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// This process's peak resident set size in bytes (`VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// This process's resident set size now, in bytes (`VmRSS`).
pub fn rss_bytes() -> Option<u64> {
    status_bytes("VmRSS:")
}

/// Process CPU seconds of this process.
pub fn own_cpu_seconds() -> f64 {
    cpu_seconds(std::process::id()).unwrap_or(0.0)
}

fn influx_cpu(server: &dyn Store) -> f64 {
    server.pid().and_then(cpu_seconds).unwrap_or(0.0)
}

/// Resets this process's peak resident set size to its current size
/// (Linux: `5` to `/proc/self/clear_refs`), so a later [`peak_rss_bytes`]
/// covers only what follows.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// What a watcher burst did.
pub struct WatchRun {
    pub pods: usize,
    pub stats: WatchStats,
    /// Outcomes the sinks got, of which verdicts.
    pub outcomes: usize,
    pub classified: usize,
    pub polls: Vec<Poll>,
    pub traffic: Traffic,
    /// Simulated seconds from each classified container's first sample to its verdict.
    pub first_sample_to_verdict: Vec<f64>,
    /// Verdicts whose predicted class is the claimed one.
    pub as_claimed: usize,
    pub lines: usize,
    pub write: Duration,
    pub watch: Duration,
    pub cpu_s: f64,
    pub influx_cpu_s: f64,
    /// Peak RSS of this process while watching (None where /proc cannot say).
    pub peak_rss: Option<u64>,
    /// Its RSS when the watch began.
    pub start_rss: Option<u64>,
}

/// How a burst runs.
pub struct Burst {
    /// Pods that start at once.
    pub pods: usize,
    /// How many times faster than real time the watcher's clock runs.
    pub speed: f64,
    /// When the pods start (simulated time; the data carries these times).
    pub start: Timestamp,
    /// Longest simulated time to wait for every outcome.
    pub limit: Duration,
    pub seed: u64,
}

/// `burst.pods` pods start at once; their Telegraf-shaped metrics for the
/// next `burst.limit` (plus a minute) are written to InfluxDB with their
/// real timestamps, so a query at simulated time `t` sees exactly what
/// Telegraf would have written by `t`. Returns the pods and what was written.
pub async fn prepare_burst(server: &dyn Store, db: &str, burst: &Burst) -> (Vec<PodInfo>, Written, Duration) {
    let (sim, clock, pods) = sim_pods(burst.pods, burst.start, burst.seed);
    let started = Instant::now();
    let until = burst.start + burst.limit + Duration::from_secs(60);
    let written = write_to(server, db, &sim, &clock, &pods, burst.start, until).await;
    (pods, written, started.elapsed())
}

/// [`prepare_burst`], then [`run_watch`].
pub async fn watch_burst(
    server: &dyn Store,
    db: &str,
    burst: &Burst,
    config: InfluxConfig,
    model: ModelHandle,
    watcher: WatcherConfig,
) -> WatchRun {
    let (pods, written, write) = prepare_burst(server, db, burst).await;
    let mut run = run_watch(server, burst, pods, written.first_sample, config, model, watcher).await;
    run.lines = written.lines;
    run.write = write;
    run
}

/// A watcher on a clock running `burst.speed` times faster than real time
/// classifies `pods` (whose data is in InfluxDB) through the real adapter;
/// the run stops when every container has an outcome or after
/// `burst.limit`. `first_sample` gives each container's first sample time.
pub async fn run_watch(
    server: &dyn Store,
    burst: &Burst,
    pods: Vec<PodInfo>,
    first_sample: HashMap<ContainerId, Timestamp>,
    config: InfluxConfig,
    model: ModelHandle,
    watcher: WatcherConfig,
) -> WatchRun {
    let containers: usize = pods.iter().map(|p| p.containers.len()).sum();
    let source = Arc::new(Metered::new(
        InfluxMetricSource::new(config).expect("a valid InfluxDB configuration"),
    ));
    let sink = Arc::new(Outcomes {
        first_sample,
        ..Outcomes::default()
    });
    let fast: Arc<FastClock> = Arc::new(FastClock::new(burst.start, burst.speed));
    let w =
        Watcher::new(Arc::new(FixedPods(pods)), source.clone(), fast.clone(), model, watcher).with_sink(sink.clone());
    let rss_reset = reset_peak_rss();
    let start_rss = rss_bytes();
    let (cpu0, icpu0) = (own_cpu_seconds(), influx_cpu(server));
    let started = Instant::now();
    let stop = {
        let (sink, fast) = (sink.clone(), fast.clone());
        let end = burst.start + burst.limit;
        async move {
            while sink.count.load(Ordering::SeqCst) < containers && fast.now() < end {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let stats = w.run_until(stop).await;
    let watch = started.elapsed();
    let (cpu_s, influx_cpu_s) = (own_cpu_seconds() - cpu0, influx_cpu(server) - icpu0);
    let peak_rss = if rss_reset { peak_rss_bytes() } else { None };
    let first_sample_to_verdict = sink
        .first_sample_to_verdict
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    WatchRun {
        pods: containers,
        stats,
        outcomes: sink.count.load(Ordering::SeqCst),
        classified: sink.classified.load(Ordering::SeqCst),
        polls: source.polls(),
        traffic: source.inner.traffic(),
        first_sample_to_verdict,
        as_claimed: sink.as_claimed.load(Ordering::SeqCst),
        lines: 0,
        write: Duration::ZERO,
        watch,
        cpu_s,
        influx_cpu_s,
        peak_rss,
        start_rss,
    }
}

impl CollectRun {
    /// One line: what was collected and what it cost.
    pub fn report(&self) -> String {
        let requests: Vec<u64> = self.polls.iter().map(|p| p.requests).collect();
        format!(
            "collector: {} pods, {} containers with rows, {} rows, {} fetch calls (requests per call {:?}), {} retried | {} requests, {} bytes ({} per request), largest {} B, peak in flight {} | wrote {} lines in {:.1} s | collected in {:.2} s | CPU: collector {:.2} s, influxd {:.2} s",
            self.stats.pods,
            self.stats.containers_with_rows,
            self.stats.rows,
            self.stats.fetches,
            requests,
            self.stats.retried,
            self.traffic.requests,
            self.traffic.bytes_sent,
            self.traffic.bytes_sent / self.traffic.requests.max(1),
            self.traffic.largest_request_bytes,
            self.traffic.peak_in_flight,
            self.lines,
            self.write.as_secs_f64(),
            self.collect.as_secs_f64(),
            self.cpu_s,
            self.influx_cpu_s,
        )
    }
}

impl WatchRun {
    /// One line per poll and a summary, for the test's output and the benchmark.
    pub fn report(&self, chunk: usize, cap: usize) -> String {
        let mut out = String::new();
        for (i, p) in self.polls.iter().enumerate() {
            let _ = writeln!(
                out,
                "poll {:>3}: {:>5} pending, {:>3} requests (bound {:>3}), {:>8} bytes ({:>6} per request), {} unavailable, {:.2} s",
                i + 1,
                p.containers,
                p.requests,
                p.containers.div_ceil(chunk),
                p.bytes,
                p.bytes / p.requests.max(1),
                p.unavailable,
                p.took.as_secs_f64()
            );
        }
        let t = &self.first_sample_to_verdict;
        let s = &self.stats;
        let _ = writeln!(
            out,
            "pods {} | classified {} (as claimed {}), timed out {}, still pending {} | first sample to verdict: median {:.1} s, p95 {:.1} s, max {:.1} s (simulated)",
            self.pods,
            s.classified,
            self.as_claimed,
            s.timed_out,
            s.still_pending,
            percentile(t, 50.0),
            percentile(t, 95.0),
            percentile(t, 100.0),
        );
        let _ = writeln!(
            out,
            "ticks {} fetches {} (failed {}, partial {}) | requests {} bytes {} largest request {} B (cap {cap}) | peak in flight {} | wrote {} lines in {:.1} s, watched {:.1} s | CPU: watcher {:.1} s, influxd {:.1} s | RSS at the start {}, peak while watching {}",
            s.ticks,
            s.fetches,
            s.fetch_errors,
            s.partial_fetches,
            self.traffic.requests,
            self.traffic.bytes_sent,
            self.traffic.largest_request_bytes,
            self.traffic.peak_in_flight,
            self.lines,
            self.write.as_secs_f64(),
            self.watch.as_secs_f64(),
            self.cpu_s,
            self.influx_cpu_s,
            mib(self.start_rss),
            mib(self.peak_rss),
        );
        out
    }
}

/// `12.3 MiB`, or `unknown`.
pub fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "unknown".to_owned(), |b| format!("{:.1} MiB", b as f64 / 1048576.0))
}

/// How much later than `kubernetes_pod_container` each measurement is
/// stamped: Telegraf's `kubernetes` input stamps each measurement when it
/// adds it (milliseconds apart), the `docker` input with the time Docker read
/// the container's stats, a moment of its own. The feature extractor aligns
/// them into one snapshot (`FeatureSet::align_tolerance_ms`); the in-memory
/// path keeps the recorded times, so a misalignment would show as a
/// difference.
pub const STAMP_OFFSET_MS: [(&str, i64); 3] = [
    ("kubernetes_pod_network", 3),
    ("kubernetes_pod_volume", 5),
    ("docker_container_blkio", 1_250),
];

/// `line` with its timestamp moved by its measurement's [`STAMP_OFFSET_MS`].
pub fn stamped_apart(line: &str) -> String {
    let offset = STAMP_OFFSET_MS
        .iter()
        .find(|(m, _)| line.starts_with(&format!("{m},")))
        .map_or(0, |(_, o)| *o);
    let (head, time) = line.rsplit_once(' ').expect("a line with a timestamp");
    let time: i64 = time.parse().expect("a millisecond timestamp");
    format!("{head} {}", time + offset)
}

/// What Telegraf's `kubernetes` input writes at a container's first
/// scrape: the kubelet has no CPU rate yet (it needs two readings) and omits
/// `usageNanoCores`, which Telegraf reads into a plain `int64` and writes as
/// `cpu_usage_nanocores=0i` (`plugins/inputs/kubernetes`, `CPUMetrics`).
/// The recordings, like the kubelet, have no value there.
pub fn with_telegraf_zero(recorded: &MetricBatch) -> MetricBatch {
    let mut out = MetricBatch::new();
    for (id, samples) in recorded.iter() {
        let series = out.series_mut(id);
        series.extend_from_slice(samples);
        if let Some(first) = samples.iter().map(|s| s.time).min()
            && !samples
                .iter()
                .any(|s| s.time == first && s.metric == Metric::CpuUsageNanocores)
        {
            series.push(Sample::new(first, Metric::CpuUsageNanocores, 0.0));
        }
    }
    out
}
