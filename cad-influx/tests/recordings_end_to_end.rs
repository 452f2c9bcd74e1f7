//! The recordings of real servers (`data/recordings/`) end to end through a
//! real InfluxDB: their samples written as Telegraf's `kubernetes` and
//! `docker` inputs write them, read back by [`InfluxMetricSource`], the
//! collector engine training on 16 of them (instances 0–3 of nginx, apache,
//! mysql and postgresql; steady rows of the recent window and young rows of
//! each pod's early history, both read from the store), and the watcher
//! engine ([`WatchState`], stepped every poll interval of a manual clock,
//! with the watcher's default configuration) judging held-out pods that
//! start "now" on their first windows:
//!
//! * honest: the held-out instance 4 of each known class, named as it is;
//! * impostors: each of them named as each other known class (12);
//! * unknown services named like a known class: every redis, memcached,
//!   Tomcat and RabbitMQ instance named as each known class (56);
//! * unknown services: the same 14 under their own names (claiming nothing).
//!
//! As Telegraf writes them: integer fields, the extra fields and tags its
//! inputs write, each measurement stamped a little apart
//! ([`STAMP_OFFSET_MS`]), blkio matched by pod UID, and
//! `cpu_usage_nanocores=0` at each container's first scrape
//! ([`with_telegraf_zero`]), which the feature extractor reads as not known
//! (`cad_core::metric::nanocores_zero_is_unknown`).
//!
//! Three comparisons. The same engines over an in-memory source holding the
//! same samples (no InfluxDB): the collected data sets and every verdict
//! must be identical, so whatever the store changes (timestamps, field
//! names, the young-history reads, blkio) shows up as a difference. The
//! same engines over the samples as recorded (without Telegraf's zero, as
//! the CSV): the same data set and the same verdicts, p-values printed. The held-out rotation
//! of `examples/tests/openset_recordings.rs` computed in-process (rows of
//! the whole recordings as recorded, `NoveltyParams::fit`, the statistic of
//! the watcher's default number of first windows): same counts. Measured: through InfluxDB honest
//! 0/4, impostors 12/12, unknowns named like a class 31/32, unnamed unknowns
//! judged unknown 8/8 (7/8 with the combined test alone before session
//! 8's `--unknown-test either-unclaimed`), equal on every path, every pod
//! the same kind, with the 28 recordings of batches 1–4; with Tomcat and
//! RabbitMQ (batch 5) named like a class 54/56 and unnamed 14/14 on every
//! path, every pod of the 86 the same kind; with the default of 3 windows
//! (session 12) 55/56 and 14/14 on the watcher's paths (in-process 56/56:
//! the 4 claims of rabbitmq-0 differ, see the assertions).
//!
//! Not in the assertions, measured by hand: with the blkio stamped 1.25 s
//! *before* the container measurement, a snapshot takes the earlier time
//! (every row's age 1.25 s older) and the rates of 5–8 of 1,328 training
//! rows at the fetch edges change; the verdict counts did not. Without the
//! blkio measurement at all (a node without Docker) the counts did not
//! change either.
//!
//! `cargo test -p cad-influx --test recordings_end_to_end -- --nocapture`;
//! `-- --ignored` prints the effect of Telegraf's zero over all 5 rotations
//! in-process.

mod common;

use cad_core::engine::{CollectConfig, CollectStats, WatcherConfig};
use cad_core::openset::Kind;
use cad_core::{Dataset, FeatureSet, MetricBatch, MetricSource, Outcome, PodInfo, Timestamp};
use cad_examples::recordings::rotation::{self, Counts, InMemory, KNOWN, Role, RotatedPod as Pod, Starts, count};
use cad_examples::recordings::{self, Instance};
use cad_influx::InfluxMetricSource;
use common::InfluxServer;
use common::load::{ManualClock, stamped_apart, telegraf_lines, with_telegraf_zero};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

const DB: &str = "telegraf";
/// The instance of each known class held out of training.
const HELD_OUT: usize = 4;
/// The training pods start at one time, the judged ones an hour later.
const STARTS: Starts = Starts::HOUR_APART;
/// The collector runs when the training pods have run 15 minutes (the
/// recordings' last sample is at 890 s).
const COLLECT_AT: Timestamp = STARTS.training_plus(900);
/// The judged pods' start.
const NEW_START: Timestamp = STARTS.judged;

/// What one path gave: the collected data, and each watched pod's verdict.
struct PathResult {
    data: Dataset,
    stats: CollectStats,
    /// Pod name → (kind, predicted class, p-value).
    verdicts: BTreeMap<String, (Kind, String, Option<f64>)>,
}

/// Collects from the training pods, trains, then steps the watcher's state
/// over the watched pods every poll interval from their start until every
/// container has an outcome.
async fn run_path(source: &impl MetricSource, training: &[Pod], watched: &[Pod]) -> PathResult {
    let (data, stats, model) = rotation::collect_and_train(
        training,
        source,
        &ManualClock::new(COLLECT_AT),
        &CollectConfig::default(),
        "recordings of real servers",
    )
    .await
    .expect("collecting from the training pods and training");
    assert!(model.is_calibrated(), "the bundle carries its open-set model");

    let watcher = WatcherConfig::default();
    let limit = NEW_START + watcher.timeout + watcher.poll_interval;
    let (outcomes, pending) = rotation::watch(watcher, &model, watched, source, NEW_START, limit).await;
    assert_eq!(pending, 0, "every watched container has an outcome");
    let verdicts = outcomes
        .into_iter()
        .map(|o| match o {
            Outcome::Classified(v) => (v.pod.name.clone(), (v.kind, v.predicted.clone(), v.p_value)),
            other => panic!("every watched container is classified, got {other:?}"),
        })
        .collect();
    PathResult { data, stats, verdicts }
}

/// (flagged, judged) per role of the verdicts' kinds.
fn counts(kinds: &BTreeMap<String, (Role, Kind)>) -> Counts {
    let mut out = Counts::new();
    for (role, kind) in kinds.values() {
        count(&mut out, *role, *kind);
    }
    out
}

/// The held-out rotation of `openset_recordings.rs` in-process: the model
/// fitted on every row of the training recordings, each watched pod judged
/// on the calibrated statistic of its first windows that share no
/// snapshot, as many as the watcher's default `confirm_windows`.
fn in_process(
    watched: &[Pod],
    training: &[Pod],
    instances: &[Instance],
    recorded: &MetricBatch,
) -> BTreeMap<String, Kind> {
    let set = FeatureSet::behaviour();
    let model = rotation::fit(training, instances, recorded, &set).expect("fit");
    let window = set.window.max(1);
    let config = WatcherConfig::default();
    let alpha = config.false_anomaly_rate;
    watched
        .iter()
        .map(|p| {
            let rows = rotation::rows(p, instances, recorded, &set);
            let scores: Vec<_> = (0..config.confirm_windows.max(1))
                .filter_map(|j| rows.get(j * window))
                .filter_map(|r| model.window_scores(r))
                .collect();
            (
                p.info.id.name.clone(),
                model.judge_windows(&scores, p.claimed, alpha).kind,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_through_influxdb_collector_and_watcher() {
    let Some(server) = InfluxServer::start().await else {
        return;
    };
    let started = Instant::now();
    server.create_database(DB).await;
    let dir = recordings::dir();
    let instances = recordings::instances(&dir).expect("instances.csv");
    let recorded = recordings::samples(&dir, &instances).await.expect("samples.csv");
    let (training, watched) = rotation::pods(&instances, HELD_OUT, STARTS);
    assert_eq!(training.len(), 16);
    assert_eq!(watched.len(), 4 + 12 + 56 + 14);

    // Every pod's samples, moved to its start, as Telegraf writes them.
    let all: Vec<&Pod> = training.iter().chain(&watched).collect();
    let moved = rotation::moved_samples(&all, &instances, &recorded);
    let telegraf = with_telegraf_zero(&moved);
    let mut lines = 0;
    for chunk in all.chunks(8) {
        let infos: Vec<PodInfo> = chunk.iter().map(|p| p.info.clone()).collect();
        let mut out = Vec::new();
        telegraf_lines(&infos, &telegraf, &mut out);
        for line in &mut out {
            *line = stamped_apart(line);
        }
        lines += out.len();
        server.write(DB, &out.join("\n")).await;
    }
    let wrote = started.elapsed();

    let source = InfluxMetricSource::new(server.config(DB, Arc::default())).expect("a valid configuration");
    let influx = run_path(&source, &training, &watched).await;
    let through_influx = started.elapsed();
    // The same engines over the same samples without the store, and over
    // the samples as recorded (no zero at the first scrape, as the CSV).
    let memory = run_path(&InMemory(telegraf), &training, &watched).await;
    let as_recorded = run_path(&InMemory(moved), &training, &watched).await;
    let direct = in_process(&watched, &training, &instances, &recorded);
    println!(
        "wrote {lines} lines in {:.1} s; InfluxDB path done at {:.1} s; all done at {:.1} s",
        wrote.as_secs_f64(),
        through_influx.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    for (name, r) in [("through InfluxDB", &influx), ("as recorded", &as_recorded)] {
        println!(
            "collected {name}: {} rows ({} young, {} steady) of {} containers in {} fetches ({} of early histories)",
            r.stats.rows,
            r.stats.young_rows,
            r.stats.steady_rows,
            r.stats.containers_with_rows,
            r.stats.fetches,
            r.stats.early_fetches
        );
    }

    let role: BTreeMap<&str, Role> = watched
        .iter()
        .map(|p| (p.info.id.name.as_str(), p.role.expect("a watched pod has a role")))
        .collect();
    let tally = |kinds: &BTreeMap<String, Kind>| {
        counts(
            &kinds
                .iter()
                .map(|(name, k)| (name.clone(), (role[name.as_str()], *k)))
                .collect(),
        )
    };
    let kinds =
        |r: &PathResult| -> BTreeMap<String, Kind> { r.verdicts.iter().map(|(n, v)| (n.clone(), v.0)).collect() };
    let c_influx = tally(&kinds(&influx));
    let c_recorded = tally(&kinds(&as_recorded));
    let c_direct = tally(&direct);
    println!("through InfluxDB:               {}", rotation::describe(&c_influx));
    println!(
        "same engines, in memory:        {}",
        rotation::describe(&tally(&kinds(&memory)))
    );
    println!("same engines, as recorded:      {}", rotation::describe(&c_recorded));
    println!(
        "in-process (rotation {HELD_OUT}, as recorded): {}",
        rotation::describe(&c_direct)
    );
    println!(
        "pod                          role         claims        InfluxDB (p)                    | as recorded (p)          | in-process"
    );
    for p in &watched {
        let name = p.info.id.name.as_str();
        let (kind, predicted, pv) = &influx.verdicts[name];
        let (rk, _, rp) = &as_recorded.verdicts[name];
        let d = direct[name];
        let p3 = |p: &Option<f64>| p.map_or("-".to_owned(), |p| format!("{p:.4}"));
        println!(
            "{name:<28} {:<12} {:<13} {:<10} like {predicted:<10} ({}) | {:<10} ({}) | {}{}",
            format!("{:?}", role[name]),
            p.claimed.map_or("nothing", |c| KNOWN[c]),
            kind.as_str(),
            p3(pv),
            rk.as_str(),
            p3(rp),
            d.as_str(),
            if d == *kind && rk == kind { "" } else { "  DIFFERS" }
        );
    }

    // The store changes nothing: the same rows collected, the same verdicts.
    assert_eq!(influx.stats.containers_with_rows, 16);
    assert!(influx.stats.young_rows > 0 && influx.stats.steady_rows > 0);
    assert_eq!(
        influx.stats, memory.stats,
        "collect statistics through InfluxDB and in memory"
    );
    assert!(
        influx.data.canonical() == memory.data.canonical(),
        "the data set collected through InfluxDB differs from the one collected in memory"
    );
    assert_eq!(
        influx.verdicts, memory.verdicts,
        "verdicts through InfluxDB and in memory"
    );
    // Telegraf's zero at each container's first scrape is read as not known
    // (`cad_core::metric::nanocores_zero_is_unknown`: the CPU counter has
    // no earlier reading), so that scrape is no complete snapshot, as
    // without the field: the same data set and verdicts as recorded (before
    // the rule, 16 more rows, one young row per container, and the counts
    // of the ignored measurement below moved).
    assert_eq!(
        influx.stats, as_recorded.stats,
        "collect statistics, Telegraf's zero and as recorded"
    );
    assert!(
        memory.data.canonical() == as_recorded.data.canonical(),
        "the data set with Telegraf's zero differs from the one as recorded"
    );
    assert_eq!(
        influx.verdicts, as_recorded.verdicts,
        "verdicts, Telegraf's zero and as recorded"
    );

    // What the recordings show in-process, through the real path: no honest
    // pod flagged (their p-values for their own class measured 0.71–1.0
    // through InfluxDB, 0.96–1.0 as recorded), every impostor flagged
    // (p < 0.001), and most unknown services caught — measured 31 of 32
    // named like a class and 8 of 8 unnamed on every path (memcached-1,
    // bursty, named as nginx passes at p 0.029, as recorded 0.025, as in
    // openset_recordings.rs; unnamed, it was missed with the combined test
    // alone before session 8 and is unknown by the class-scaled novelty at
    // p 0.0008); held to that test's shares (80 %, 60 %). With Tomcat and
    // RabbitMQ (batch 5, session 9): named like a class 54 of 56 and
    // unnamed 14 of 14 on every path (missed: memcached-1 as nginx and
    // rabbitmq-0, steady, as mysql, each at p 0.025 through InfluxDB and
    // as recorded); the same shares. With the default of 3 windows
    // (session 12): 55 of 56 and 14 of 14 through InfluxDB, in memory and
    // as recorded (missed: rabbitmq-0 as mysql, p 0.0227; memcached-1 as
    // nginx caught), 56 of 56 in-process; rotations in-process 0/20,
    // 60/60, 278/280, 70/70.
    for (name, c) in [
        ("InfluxDB", &c_influx),
        ("as recorded", &c_recorded),
        ("in-process", &c_direct),
    ] {
        assert_eq!(c[&Role::Honest], (0, 4), "{name}: honest pods flagged");
        assert_eq!(c[&Role::Impostor], (12, 12), "{name}: impostors flagged");
        let (named, unnamed) = (c[&Role::UnknownNamed], c[&Role::Unknown]);
        assert!(named.0 >= 45, "{name}: unknowns named like a class flagged: {named:?}");
        assert!(unnamed.0 >= 9, "{name}: unnamed unknowns judged unknown: {unnamed:?}");
    }
    // The paths differ in their rows (the collector reads the last 10
    // minutes and the first 5 apart, so rows spanning that edge are not
    // made in-process's way):
    // at 2 windows every pod got the same kind on all three (measured); at
    // 3 (session 11) the 4 claims of rabbitmq-0 differ: the
    // in-process model (fitted on every row, no held-out calibration) judges
    // them unknown, the collector's impostors as nginx, apache and
    // postgresql and as claimed as mysql (p 0.0227 on both real paths). At
    // most 4 of 86 may differ.
    let differ: Vec<&String> = direct
        .iter()
        .filter(|(n, k)| influx.verdicts[*n].0 != **k || as_recorded.verdicts[*n].0 != **k)
        .map(|(n, _)| n)
        .collect();
    assert!(differ.len() <= 4, "kinds differ between the paths: {differ:?}");
}

/// Measurement: the in-process judgement of every rotation (instance `k` of
/// each known class held out, as `openset_recordings.rs` does) on the
/// samples as recorded and with Telegraf's zero at each container's first
/// scrape ([`with_telegraf_zero`]). Before the feature extractor read that
/// zero as not known, it made the first scrape a complete snapshot and moved
/// every container's first window one scrape earlier: measured 0/20, 60/60,
/// 155/160, 34/40 against 0/20, 60/60, 156/160, 40/40 as recorded; with the
/// rule both are the latter.
#[tokio::test]
#[ignore = "a measurement: prints the verdict counts of every rotation"]
async fn telegraf_first_scrape_zero_across_rotations() {
    let dir = recordings::dir();
    let instances = recordings::instances(&dir).expect("instances.csv");
    let recorded = recordings::samples(&dir, &instances).await.expect("samples.csv");
    let zero = with_telegraf_zero(&recorded);
    let mut sums: BTreeMap<(&str, Role), (usize, usize)> = BTreeMap::new();
    for held in 0..5 {
        let (training, watched) = rotation::pods(&instances, held, STARTS);
        let role: BTreeMap<String, Role> = watched
            .iter()
            .map(|p| (p.info.id.name.clone(), p.role.expect("a role")))
            .collect();
        for (name, batch) in [("as recorded", &recorded), ("Telegraf's zero", &zero)] {
            let kinds = in_process(&watched, &training, &instances, batch);
            let c = counts(&kinds.iter().map(|(n, k)| (n.clone(), (role[n], *k))).collect());
            println!("rotation {held} {name:<16} {}", rotation::describe(&c));
            for (r, (f, n)) in c {
                let e = sums.entry((name, r)).or_default();
                e.0 += f;
                e.1 += n;
            }
        }
    }
    for name in ["as recorded", "Telegraf's zero"] {
        let c: Counts = sums
            .iter()
            .filter(|((n, _), _)| *n == name)
            .map(|((_, r), v)| (*r, *v))
            .collect();
        println!("all rotations {name:<16} {}", rotation::describe(&c));
    }
}
