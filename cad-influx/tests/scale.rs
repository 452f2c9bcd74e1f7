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

mod common;

use cad_core::engine::{ActiveModel, ModelHandle, TrainConfig, WatcherConfig, train};
use cad_core::{FeatureSet, SystemClock, Timestamp};
use cad_influx::{DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY, DEFAULT_MAX_REQUEST_BYTES};
use common::InfluxServer;
use common::load::{Burst, History, collect_at_scale, watch_burst};
use std::sync::Arc;
use std::time::Duration;

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
    let run = watch_burst(
        &server,
        DB,
        &burst,
        config(),
        ModelHandle::new(ActiveModel::from_bundle(trained.bundle)),
        WatcherConfig::default(),
    )
    .await;
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
}
