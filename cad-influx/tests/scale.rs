//! Scale against a real InfluxDB (`influxd` from the test harness): the
//! collector trains from 3,000 labelled pods, then the watcher classifies a
//! burst of 3,000 new pods with that model, through the real adapter with
//! its default request sizes and concurrency.
//!
//! The pods are the simulated cluster's (class profiles measured on a real
//! cluster); their Telegraf-shaped metrics are written at 10 s intervals with
//! their real timestamps. The watcher's clock runs 5× faster than real time
//! over that pre-written data, so a minute of cluster life takes 12 s while
//! InfluxDB answers every query for real. The test prints every poll's
//! requests and bytes and asserts their bounds. The 10,000-pod run with CPU
//! and memory figures is the `influx_scale` example (see BENCHMARKS.md).
//!
//! Then `containers_seen` over a 30-day look-back (what `cad-collector
//! --past-pods 30d` asks) lists the 6,000 containers of both sets from the
//! same data, each exactly once as its documentation says: with its pod UID,
//! image and exact first and last points where block I/O carries the UID,
//! and once per name without UID where the two sets' StatefulSet pods share
//! names on nodes without block I/O (4,200 in all). The test prints its
//! time, requests and bytes each way.

mod common;

use cad_core::engine::{ActiveModel, ModelHandle, TrainConfig, WatcherConfig, train};
use cad_core::{ContainerId, FeatureSet, MetricSource, PodId, SeenContainer, SystemClock, TimeWindow, Timestamp};
use cad_influx::{DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY, DEFAULT_MAX_REQUEST_BYTES, InfluxMetricSource};
use common::load::{Burst, History, collect_at_scale, prepare_burst, run_watch};
use common::{InfluxServer, Relay, admin_config};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DB: &str = "telegraf";
const PODS: usize = 3_000;
const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_trains_from_3000_pods_then_the_watcher_classifies_a_burst_of_3000() {
    let Some(server) = InfluxServer::start().await else {
        return;
    };
    server.create_database(DB).await;
    let config = || {
        let mut c = server.config(DB, Arc::default());
        c.clock = Arc::new(SystemClock);
        c
    };
    let defaults = config();
    assert_eq!(
        (defaults.chunk_size, defaults.max_request_bytes, defaults.concurrency),
        (DEFAULT_CHUNK_SIZE, DEFAULT_MAX_REQUEST_BYTES, DEFAULT_CONCURRENCY)
    );
    let (chunk, cap) = (defaults.chunk_size, defaults.max_request_bytes);

    // The collector: 3,000 labelled pods with 4 minutes of history; it reads the last 3.
    let history = History {
        pods: PODS,
        start: T0,
        history: Duration::from_secs(240),
        window: Duration::from_secs(180),
        seed: 1,
    };
    let c = collect_at_scale(&server, DB, &history, config())
        .await
        .expect("collecting from 3,000 pods");
    println!("{}", c.report());
    assert_eq!(c.stats.containers_with_rows, PODS, "every labelled pod yields rows");
    assert_eq!(c.stats.retried, 0);
    let requests: u64 = c.polls.iter().map(|p| p.requests).sum();
    let bound: usize = c.polls.iter().map(|p| p.containers.div_ceil(chunk)).sum();
    assert!(requests as usize <= bound, "{requests} requests for {bound} chunks");
    assert!(c.traffic.largest_request_bytes as usize <= cap);
    assert!(c.traffic.peak_in_flight >= 2, "chunks are sent concurrently");
    assert!(c.traffic.peak_in_flight as usize <= DEFAULT_CONCURRENCY);

    let features = FeatureSet::behaviour();
    let trained = train(
        &c.data,
        &features,
        &TrainConfig {
            trained_on: "3,000 pods in InfluxDB".into(),
            curve_points: 0,
            ..TrainConfig::default()
        },
        T0 + Duration::from_secs(240),
        &mut |_| {},
    )
    .expect("training");
    let report = trained.report.as_ref().expect("an evaluation");
    println!(
        "trained on {} rows of {} containers: grouped accuracy {:.4}",
        c.data.n_rows(),
        PODS,
        report.accuracy.unwrap_or(0.0)
    );
    assert!(report.accuracy.unwrap_or(0.0) > 0.9, "{report}");

    // The watcher: 3,000 new pods start at once, ten minutes later.
    let burst = Burst {
        pods: PODS,
        speed: 5.0,
        start: T0 + Duration::from_secs(600),
        // The default watcher decides at its third window of 4 snapshots,
        // 120–150 s after a pod's start; 150 s left the last pods pending
        // when polls ran slow (6 of 3,000 in a debug build on 2 cores).
        // The run ends as soon as every pod has its outcome.
        limit: Duration::from_secs(240),
        seed: 2,
    };
    let (burst_pods, burst_written, write) = prepare_burst(&server, DB, &burst).await;
    let mut run = run_watch(
        &server,
        &burst,
        burst_pods.clone(),
        burst_written.first_sample.clone(),
        config(),
        ModelHandle::new(ActiveModel::from_bundle(trained.bundle)),
        WatcherConfig::default(),
    )
    .await;
    (run.lines, run.write) = (burst_written.lines, write);
    println!("{}", run.report(chunk, cap));
    let s = &run.stats;
    assert_eq!(s.classified as usize, PODS, "every pod gets a verdict");
    assert_eq!((run.outcomes, run.classified), (PODS, PODS), "and exactly one outcome");
    assert_eq!(run.first_sample_to_verdict.len(), PODS);
    assert_eq!((s.fetch_errors, s.partial_fetches), (0, 0));
    assert!(
        run.as_claimed * 10 >= PODS * 9,
        "{} of {PODS} verdicts as claimed: the data came back intact",
        run.as_claimed
    );
    for (i, p) in run.polls.iter().enumerate() {
        assert!(
            p.requests as usize <= p.containers.div_ceil(chunk),
            "poll {}: {} requests for {} pods",
            i + 1,
            p.requests,
            p.containers
        );
    }
    assert!(run.polls.iter().any(|p| p.containers == PODS && p.requests > 1));
    assert!(
        run.traffic.largest_request_bytes as usize <= cap,
        "{}",
        run.traffic.largest_request_bytes
    );
    assert!(run.traffic.peak_in_flight >= 2, "chunks are sent concurrently");
    assert!(run.traffic.peak_in_flight as usize <= DEFAULT_CONCURRENCY);

    // The collector's `--past-pods 30d`: both sets, the first gone six
    // minutes before the second started, from one look-back over them all.
    // Pods of a StatefulSet have the same names in both sets (`mysql-0` …)
    // under other UIDs: one series of the container measurement per name.
    let mut names: BTreeMap<(&str, &str, &str), Vec<Incarnation>> = BTreeMap::new();
    for (pods, written) in [(&c.pods, &c.written), (&burst_pods, &burst_written)] {
        for p in pods {
            for cn in &p.containers {
                let id = p.id.container(cn.name.clone());
                let (first, last) = written.memory[&id];
                names
                    .entry((&p.id.namespace, &p.id.name, &cn.name))
                    .or_default()
                    .push(Incarnation {
                        uid: &p.id.uid,
                        first,
                        last,
                        blkio: written.blkio.contains(&id),
                    });
            }
        }
    }
    assert_eq!(names.values().map(Vec::len).sum::<usize>(), 2 * PODS);
    let (want, kinds) = expected(&names);
    println!(
        "expected: {} containers: {} of one pod with block I/O (listed with its UID), {} without (no UID), {} names of recreated pods without block I/O (listed once, no UID), {} UIDs of recreated pods with block I/O (listed once each)",
        want.len(),
        kinds[0],
        kinds[1],
        kinds[2],
        kinds[3]
    );
    assert!(kinds[0] > 0 && kinds[2] > 0, "{kinds:?}");

    let relay = Relay::start(&server.url()).await;
    let source = InfluxMetricSource::new(admin_config(&relay.url(), DB)).expect("source");
    let look = TimeWindow::ending_at(T0 + Duration::from_secs(3600), Duration::from_secs(30 * 86_400));
    let started = Instant::now();
    let seen = source.containers_seen(look).await.expect("containers_seen");
    let took = started.elapsed();
    let traffic = source.traffic();
    let (up, down) = relay.bytes();
    println!(
        "containers_seen over 30 days: {} containers in {:.2} s | {} request(s), {} B of URL and body sent | on the wire (HTTP headers included): {} B up, {} B down",
        seen.len(),
        took.as_secs_f64(),
        traffic.requests,
        traffic.bytes_sent,
        up,
        down,
    );
    assert_eq!(traffic.requests, 30, "one request a day, no retries");
    let mut got: BTreeMap<&ContainerId, &SeenContainer> = BTreeMap::new();
    for s in &seen {
        assert!(got.insert(&s.id, s).is_none(), "{} listed twice", s.id);
    }
    let missing: Vec<_> = want.keys().filter(|id| !got.contains_key(id)).take(5).collect();
    let extra: Vec<_> = got.keys().filter(|id| !want.contains_key(**id)).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} listed, {} expected; missing {missing:?}, unexpected {extra:?}",
        got.len(),
        want.len()
    );
    for (id, w) in &want {
        let s = got[id];
        let off = |a: Timestamp, b: Timestamp| (a.as_millis() - b.as_millis()).abs();
        assert!(
            off(s.first_sample, w.first) <= w.tolerance_ms && off(s.last_sample, w.last) <= w.tolerance_ms,
            "{id}: {:?}..{:?}, written {:?}..{:?}",
            s.first_sample,
            s.last_sample,
            w.first,
            w.last
        );
        let image = w.blkio.then(|| format!("docker.io/library/{}", id.container));
        assert_eq!(s.image, image, "{id}");
        assert_eq!(s.started, None, "{id}: Telegraf writes no start");
    }
}

/// One pod's container of a name, as written.
#[derive(Debug)]
struct Incarnation<'a> {
    uid: &'a str,
    /// Its first and last memory point.
    first: Timestamp,
    last: Timestamp,
    /// Whether it has block-I/O points (whose Docker labels carry the pod UID).
    blkio: bool,
}

/// What `containers_seen` lists of one container.
struct Want {
    first: Timestamp,
    last: Timestamp,
    /// With the image of its block-I/O points.
    blkio: bool,
    /// How far its first and last may be from the written ones, in ms.
    tolerance_ms: i64,
}

/// What `containers_seen` lists of the containers of each name
/// (namespace, pod, container), as its documentation says, and how many of
/// each kind: one pod with block I/O (with its UID), one pod without (no
/// UID), several pods without block I/O (once, without UID, from the first
/// one's first point to the last one's last), several with (once per UID,
/// the boundaries from the block-I/O points: within a scrape interval).
fn expected(names: &BTreeMap<(&str, &str, &str), Vec<Incarnation>>) -> (BTreeMap<ContainerId, Want>, [usize; 4]) {
    const SCRAPE_MS: i64 = 10_000;
    let mut want = BTreeMap::new();
    let mut kinds = [0; 4];
    for (&(ns, pod, cn), incarnations) in names {
        let id = |uid: &str| PodId::new(ns, pod, uid).container(cn);
        let mut add = |uid: &str, first, last, blkio, tolerance_ms| {
            want.insert(
                id(uid),
                Want {
                    first,
                    last,
                    blkio,
                    tolerance_ms,
                },
            );
        };
        match incarnations.as_slice() {
            [one] => {
                kinds[usize::from(!one.blkio)] += 1;
                add(if one.blkio { one.uid } else { "" }, one.first, one.last, one.blkio, 0);
            }
            several if several.iter().all(|i| !i.blkio) => {
                kinds[2] += 1;
                let first = several.iter().map(|i| i.first).min().expect("several");
                let last = several.iter().map(|i| i.last).max().expect("several");
                add("", first, last, false, 0);
            }
            several if several.iter().all(|i| i.blkio) => {
                for i in several {
                    kinds[3] += 1;
                    add(i.uid, i.first, i.last, true, SCRAPE_MS);
                }
            }
            mixed => panic!("{ns}/{pod}/{cn}: pods with and without block I/O: {mixed:?}"),
        }
    }
    (want, kinds)
}
