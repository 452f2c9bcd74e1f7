//! The collector and the watcher at scale against a real InfluxDB 1.x, with
//! the adapter's default request sizes and concurrency: the larger run of
//! `tests/scale.rs` (which does 3,000 pods in the test command).
//!
//! ```text
//! cargo build --release -p cad-influx --example influx_scale
//! target/release/examples/influx_scale collect 10000     # train from 10,000 labelled pods
//! target/release/examples/influx_scale watch 10000       # a burst of 10,000 new pods
//! ```
//!
//! (`bash scripts/influx-scale.sh` runs both.) It starts its own `influxd`
//! on free loopback ports, as the tests do, and writes the simulated pods'
//! Telegraf-shaped metrics (10 s interval) with their real timestamps.
//!
//! * `collect N`: N pods with 11 minutes of history; the collector reads
//!   the last 10 (its default window) and trains a tree.
//! * `watch N [speed]`: a child process (this program, `prepare`) trains a
//!   model from 500 other pods and writes the metrics of N pods that start
//!   at once, and hands over the model and the pod list in files; then this
//!   process, which holds only the watcher, its model and the pod list (as
//!   the real watcher holds its pod cache), runs the watcher (5 s poll, 120 s timeout) on a clock
//!   `speed` times real time (default 1: real time) until every pod has an
//!   outcome. Prints every poll, the time from each pod's first sample to
//!   its verdict, requests and bytes, the CPU time of this process and of
//!   influxd while watching, and this process's RSS when the watch began and
//!   at its peak.

#[path = "../tests/common/mod.rs"]
mod common;

use cad_core::bundle::ModelBundle;
use cad_core::engine::{ActiveModel, ModelHandle, TrainConfig, Trained, WatcherConfig, train};
use cad_core::{ContainerId, FeatureSet, PodInfo, Timestamp};
use common::InfluxServer;
use common::load::{
    Burst, History, Remote, Store, collect_at_scale, mib, peak_rss_bytes, prepare_burst, reset_peak_rss, run_watch,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The system allocator, counting live heap bytes and their peak: the
/// watcher's own memory, apart from what the allocator keeps from earlier
/// work (RSS counts both). A dozen lines, so no crate for it.
struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are updated.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is the system allocator's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const DB: &str = "telegraf";
const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

fn burst(pods: usize, speed: f64) -> Burst {
    Burst {
        pods,
        speed,
        start: T0 + Duration::from_secs(1_800),
        // The default watcher decides at its third window of 4 snapshots,
        // 120–150 s after a pod's start; 150 s left the last pods pending
        // when polls ran slow (6 of 3,000 in a debug build on 2 cores).
        // The run ends as soon as every pod has its outcome.
        limit: Duration::from_secs(240),
        seed: 2,
    }
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("{what}: {e}");
    std::process::exit(1)
}

/// Writes `pods` pods with `history` seconds of metrics, collects the last
/// `window` seconds and trains a tree on them.
async fn collect(server: &dyn Store, pods: usize, history: u64, window: u64) -> Trained {
    let h = History {
        pods,
        start: T0,
        history: Duration::from_secs(history),
        window: Duration::from_secs(window),
        seed: 1,
    };
    let rss = reset_peak_rss();
    let c = collect_at_scale(server, DB, &h, server.config(DB))
        .await
        .unwrap_or_else(|e| fail("collecting failed", e));
    let peak = if rss { peak_rss_bytes() } else { None };
    println!("{} | peak RSS while writing and collecting {}", c.report(), mib(peak));
    let started = Instant::now();
    let trained = train(
        &c.data,
        &FeatureSet::behaviour(),
        &TrainConfig {
            trained_on: format!("{pods} simulated pods in InfluxDB"),
            curve_points: 0,
            ..TrainConfig::default()
        },
        T0 + Duration::from_secs(history),
        &mut |_| {},
    )
    .unwrap_or_else(|e| fail("training failed", e));
    println!(
        "trained on {} rows in {:.2} s (evaluation included): grouped accuracy {:.4}",
        c.data.n_rows(),
        started.elapsed().as_secs_f64(),
        trained.report.as_ref().and_then(|r| r.accuracy).unwrap_or(0.0)
    );
    trained
}

/// What the child of `watch` hands over besides the model.
#[derive(serde::Serialize, serde::Deserialize)]
struct Prepared {
    pods: Vec<PodInfo>,
    /// Each container's first sample, in milliseconds.
    first_sample: Vec<(ContainerId, i64)>,
}

/// The child of `watch`: trains the model (written to `dir/model.cadm`) and
/// writes the burst's metrics to the server at `url`, and the pods to
/// `dir/pods.json`.
async fn prepare(url: &str, pods: usize, dir: &std::path::Path) {
    let remote = Remote {
        url: url.to_owned(),
        client: reqwest::Client::new(),
    };
    let trained = collect(&remote, 500, 240, 180).await;
    let bytes = trained
        .bundle
        .to_bytes()
        .unwrap_or_else(|e| fail("encoding the model", e));
    std::fs::write(dir.join("model.cadm"), bytes).unwrap_or_else(|e| fail("writing the model", e));
    let (pod_list, written, took) = prepare_burst(&remote, DB, &burst(pods, 1.0)).await;
    println!(
        "wrote the metrics of {pods} pods: {} lines in {:.1} s",
        written.lines,
        took.as_secs_f64()
    );
    let prepared = Prepared {
        pods: pod_list,
        first_sample: written
            .first_sample
            .into_iter()
            .map(|(c, t)| (c, t.as_millis()))
            .collect(),
    };
    let file = std::fs::File::create(dir.join("pods.json")).unwrap_or_else(|e| fail("pods.json", e));
    serde_json::to_writer(std::io::BufWriter::new(file), &prepared).unwrap_or_else(|e| fail("pods.json", e));
}

async fn watch(server: &InfluxServer, pods: usize, speed: f64) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| fail("a temporary directory", e));
    let me = std::env::current_exe().unwrap_or_else(|e| fail("this program's path", e));
    let status = std::process::Command::new(me)
        .args(["prepare", &pods.to_string(), &server.url()])
        .arg(dir.path())
        .status()
        .unwrap_or_else(|e| fail("starting the preparing process", e));
    if !status.success() {
        fail("preparing failed", status);
    }
    let bytes = std::fs::read(dir.path().join("model.cadm")).unwrap_or_else(|e| fail("reading the model", e));
    let bundle = ModelBundle::from_bytes(&bytes).unwrap_or_else(|e| fail("decoding the model", e));
    let file = std::fs::File::open(dir.path().join("pods.json")).unwrap_or_else(|e| fail("pods.json", e));
    let prepared: Prepared =
        serde_json::from_reader(std::io::BufReader::new(file)).unwrap_or_else(|e| fail("pods.json", e));
    let pod_list = prepared.pods;
    let first_sample: HashMap<ContainerId, Timestamp> = prepared
        .first_sample
        .into_iter()
        .map(|(c, ms)| (c, Timestamp::from_millis(ms)))
        .collect();
    let b = burst(pods, speed);
    let config = Store::config(server, DB);
    let (chunk, cap) = (config.chunk_size, config.max_request_bytes);
    let heap_start = LIVE.load(Ordering::Relaxed);
    PEAK.store(heap_start, Ordering::Relaxed);
    let run = run_watch(
        server,
        &b,
        pod_list,
        first_sample,
        config,
        ModelHandle::new(ActiveModel::from_bundle(bundle)),
        WatcherConfig::default(),
    )
    .await;
    print!("{}", run.report(chunk, cap));
    println!(
        "live heap at the start {}, peak while watching {}",
        mib(Some(heap_start as u64)),
        mib(Some(PEAK.load(Ordering::Relaxed) as u64))
    );
    let outcomes = run.stats.classified + run.stats.timed_out + run.stats.deleted;
    if outcomes as usize != pods {
        fail("incomplete", format!("{outcomes} of {pods} pods got an outcome"));
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map_or("watch", String::as_str).to_owned();
    let pods: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    if mode == "prepare" {
        let (Some(url), Some(dir)) = (args.get(2), args.get(3)) else {
            fail("usage", "prepare N URL DIR");
        };
        prepare(url, pods, std::path::Path::new(dir)).await;
        return;
    }
    let speed: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let Some(server) = InfluxServer::start().await else {
        fail("influxd not found", "apt-get install influxdb, or set INFLUXD");
    };
    server.create_database(DB).await;
    let defaults = Store::config(&server, DB);
    println!(
        "influxd pid {:?}; requests of at most {} pods and {} bytes, {} in flight",
        server.pid(),
        defaults.chunk_size,
        defaults.max_request_bytes,
        defaults.concurrency
    );
    match mode.as_str() {
        "collect" => {
            collect(&server, pods, 660, 600).await;
        }
        "watch" => watch(&server, pods, speed).await,
        other => fail("unknown mode", format!("{other:?}: collect N | watch N [speed]")),
    }
}
