//! Training on past pods ([`CollectConfig::past`]) with the recordings of
//! real servers (`data/recordings/`) through a real InfluxDB.
//!
//! Written as Telegraf writes them (as in `recordings_end_to_end.rs`):
//!
//! * **listed** pods, the pod source's list: instances 0 and 1 of nginx,
//!   apache, mysql and postgresql (8), running when the collector runs
//!   (the nginx ones under Deployment-style names of one workload,
//!   `nginx-7c5ddbdf54-…`);
//! * **past pods of removed workloads**, not listed: instances 2 and 3 of
//!   each class (8), gone one to five hours before the collection: four in
//!   a torn-down namespace `preview-1` (started 2 minutes apart; `nginx-2`
//!   and `nginx-3` one StatefulSet), three in the listed pods' namespace
//!   under other workloads' names, hours apart, and one
//!   (`postgresql-old-…`) that started 4 minutes before the look-back, so
//!   its start is not known;
//! * **earlier pods of listed workloads**, not listed, to be left out: a
//!   replaced pod of the nginx Deployment and a scaled-down `mysql-2`;
//! * the same recordings as the past pods, once more as live pods of a
//!   namespace `ref`, later (the reference: what each gives when listed);
//! * the held-out pods of rotation 4 (honest, impostors, unknown services
//!   named like a class and under their own names), judged by the watcher.
//!
//! Checked: what the collector found (`past_pods`, `past_containers`,
//! `past_pods_of_running`, `past_pods_same_workload`: of `nginx-2` and
//! `nginx-3` only the later-ending `nginx-3` is trained on), the past pods'
//! groups (their container ids, as listed pods'), `rows = young_rows +
//! steady_rows + rows_without_age`, the past containers' rows against the
//! reference's (no repeated row; every reference row, the last included;
//! the young rows where the start is known, none where it is not, the
//! steady rows of the last window), and the watcher's verdicts after
//! training (a) on the listed pods only and (b) on the listed and the past
//! pods.
//!
//! Measured: (b) 15 pods (7 past, 2 of running left out, 1 of the same
//! removed workload), 1241 rows (364 young, 816 steady, 61 without an age),
//! no repeated row, no reference row missing (every pod's last row
//! included). Per past pod whose start is known 26 young and 60 steady rows
//! (the reference 26/57: the 3 more, at 300, 310 and 320 s, are rows the
//! reference's recent window has too few snapshots for); the one started
//! before the look-back 61 rows without an age. Verdicts: (a) honest
//! flagged 0/4, impostors 12/12, unknowns named like a class 48/56, unnamed
//! unknowns judged unknown 13/14; (b) 0/4, 11/12, 52/56, 12/14 (34 kinds
//! differ): with 2 listed and up to 2 past pods a class, close to what 4
//! listed pods a class give (`recordings_end_to_end`).
//!
//! Before the collector fetched a past pod's last window with the minutes
//! before it, each of the three past pods alone in time lacked the
//! reference's row at 290 s: its last window starts at its last sample −
//! 600 s, and that scrape came 31–73 ms after it, so the early-history
//! fetch (rows before the split) dropped it and the last-window fetch had no
//! snapshots before it.
//!
//! `cargo test -p cad-influx --test past_pods_end_to_end -- --nocapture`

mod common;

use cad_core::engine::{ActiveModel, CollectConfig, CollectStats, PAST_START_MARGIN, WatcherConfig, collect_dataset};
use cad_core::openset::Kind;
use cad_core::{Dataset, FeatureSet, Labeler, MetricSource, Outcome, PodInfo, StaticPods, TimeWindow, Timestamp};
use cad_examples::recordings::rotation::{self, Counts, KNOWN, Role, RotatedPod as Pod, Starts, count};
use cad_examples::recordings::{self, Instance};
use cad_influx::InfluxMetricSource;
use common::InfluxServer;
use common::load::{ManualClock, stamped_apart, telegraf_lines, with_telegraf_zero};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DB: &str = "telegraf";
/// The instance of each known class held out of training.
const HELD_OUT: usize = 4;
/// The listed pods start at one time, the judged ones an hour later.
const STARTS: Starts = Starts::HOUR_APART;
/// The collector runs when the listed pods have run 15 minutes.
const COLLECT_AT: Timestamp = STARTS.training_plus(900);
/// How far back the collector looks for past pods.
const LOOK_BACK: Duration = Duration::from_secs(5 * 3600);
/// The reference pods' start (after the judged pods) and their collection.
const REF_START: Timestamp = STARTS.training_plus(3 * 3600);
const REF_COLLECT_AT: Timestamp = STARTS.training_plus(3 * 3600 + 900);

/// A pod written but not listed: (instance, namespace, name, seconds before
/// the collection it started).
type Unlisted = (&'static str, &'static str, &'static str, u64);

/// The past pods of removed workloads.
const PAST: [Unlisted; 8] = [
    // preview-1, torn down: started 2 minutes apart, 4 hours ago
    ("nginx-2", "preview-1", "nginx-2", 4 * 3600),
    ("apache-2", "preview-1", "apache-2", 4 * 3600 - 120),
    ("mysql-3", "preview-1", "mysql-3", 4 * 3600 - 240),
    ("nginx-3", "preview-1", "nginx-3", 4 * 3600 - 360),
    // other workloads of the listed pods' namespace, hours apart
    ("apache-3", "rec", "apache-legacy-6d4cf56db6-bcdfg", 3 * 3600),
    ("mysql-2", "rec", "mysql-analytics-5f7b9c8d4-x7k2q", 2 * 3600),
    ("postgresql-2", "rec", "postgresql-reports-0", 3600),
    // started before the look-back: its start is not known
    ("postgresql-3", "rec", "postgresql-old-7d9f8b6c5-h2jkl", 5 * 3600 + 240),
];

/// Earlier pods of listed pods' workloads: left out.
const EARLIER: [Unlisted; 2] = [
    ("nginx-2", "rec", "nginx-7c5ddbdf54-x7k2q", 2 * 3600 + 1800),
    ("mysql-3", "rec", "mysql-2", 3600 + 1800),
];

/// The listed names of the nginx instances: one Deployment.
const LISTED_NGINX: [(&str, &str); 2] = [
    ("nginx-0", "nginx-7c5ddbdf54-bcdfg"),
    ("nginx-1", "nginx-7c5ddbdf54-k2lp9"),
];

/// The workload of a pod: its namespace and [`cad_core::pod::workload_name`].
fn workload_of(p: &Pod) -> (String, String) {
    (
        p.info.id.namespace.clone(),
        cad_core::pod::workload_name(&p.info.id.name).to_owned(),
    )
}

/// Instance `inst` (by pod name) as pod `name` of namespace `ns`, started at
/// `start`, with UID `<instance uid>-<tag>`.
fn pod_of(instances: &[Instance], inst: &str, ns: &str, name: &str, start: Timestamp, tag: &str) -> Pod {
    let i = instances
        .iter()
        .position(|x| x.pod == inst)
        .unwrap_or_else(|| panic!("instance {inst}"));
    let uid = format!("{}-{tag}", instances[i].uid);
    let mut p = Pod::new(i, name, &uid, &instances[i].container, start, None);
    p.info.id.namespace = ns.to_owned();
    p
}

/// Rows of one group: (young, steady, without an age).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct GroupRows {
    young: usize,
    steady: usize,
    unaged: usize,
    /// Rows equal (values and age) to an earlier row of the group.
    repeated: usize,
    /// The youngest row's age, in seconds.
    youngest: Option<f64>,
}

fn group_rows(data: &Dataset, horizon: Duration) -> BTreeMap<String, GroupRows> {
    let horizon = horizon.as_secs_f64();
    let mut out: BTreeMap<String, GroupRows> = BTreeMap::new();
    let mut seen: BTreeSet<(usize, Vec<u64>)> = BTreeSet::new();
    for i in 0..data.n_rows() {
        let g = data.group(i);
        let e = out.entry(data.group_names()[g].clone()).or_default();
        match data.age(i) {
            Some(a) if a <= horizon => e.young += 1,
            Some(_) => e.steady += 1,
            None => e.unaged += 1,
        }
        if let Some(a) = data.age(i) {
            e.youngest = Some(e.youngest.map_or(a, |y: f64| y.min(a)));
        }
        if !seen.insert((g, row_key(data, i, true))) {
            e.repeated += 1;
        }
    }
    out
}

/// What one training gave: the collected data, and each watched pod's kind.
struct PathResult {
    data: Dataset,
    stats: CollectStats,
    kinds: BTreeMap<String, Kind>,
}

async fn run_path(source: &impl MetricSource, listed: &[Pod], watched: &[Pod], collect: &CollectConfig) -> PathResult {
    let (data, stats, model) = rotation::collect_and_train(
        listed,
        source,
        &ManualClock::new(COLLECT_AT),
        collect,
        "recordings of real servers",
    )
    .await
    .expect("collecting and training");
    let kinds = watch(&model, source, watched).await;
    PathResult { data, stats, kinds }
}

/// Each watched pod's kind, the watcher's state stepped over them from their
/// start until every container has an outcome.
async fn watch(model: &ActiveModel, source: &impl MetricSource, watched: &[Pod]) -> BTreeMap<String, Kind> {
    assert!(model.is_calibrated(), "the bundle carries its open-set model");
    let watcher = WatcherConfig::default();
    let limit = STARTS.judged + watcher.timeout + watcher.poll_interval;
    let (outcomes, pending) = rotation::watch(watcher, model, watched, source, STARTS.judged, limit).await;
    assert_eq!(pending, 0, "every watched container has an outcome");
    outcomes
        .into_iter()
        .map(|o| match o {
            Outcome::Classified(v) => (v.pod.name.clone(), v.kind),
            other => panic!("every watched container is classified, got {other:?}"),
        })
        .collect()
}

/// Row `i`'s values (and its age, if `aged`) as bits.
fn row_key(data: &Dataset, i: usize, aged: bool) -> Vec<u64> {
    let mut key: Vec<u64> = data.raw_row(i).iter().map(|v| v.to_bits()).collect();
    if aged {
        key.push(data.age(i).unwrap_or(f64::NAN).to_bits());
    }
    key
}

/// The distinct rows (values only) of the groups `groups` whose age, where
/// known, passes `age`.
fn row_values(data: &Dataset, groups: &[&str], age: impl Fn(f64) -> bool) -> BTreeSet<Vec<u64>> {
    (0..data.n_rows())
        .filter(|&i| groups.contains(&data.group_names()[data.group(i)].as_str()))
        .filter(|&i| data.age(i).is_none_or(&age))
        .map(|i| row_key(data, i, false))
        .collect()
}

/// The rows of group `g`.
fn rows_of<'a>(data: &'a Dataset, g: &'a str) -> impl Iterator<Item = usize> + 'a {
    (0..data.n_rows()).filter(move |&i| data.group_names()[data.group(i)] == g)
}

/// A reference row (of group `rg`, values `key`) that `data`'s group `g`
/// lacks: its age, where the same scrape of the past pod (written from
/// `split.0`) is from the start of its last window (`split.1`), and the
/// columns in which the nearest row of `g` differs.
fn describe_missing(
    reference: &Dataset,
    rg: &str,
    key: &[u64],
    data: &Dataset,
    g: &str,
    split: (Timestamp, Timestamp),
) -> String {
    let Some(i) = rows_of(reference, rg).find(|&i| row_key(reference, i, false) == key) else {
        return "not in the reference".to_owned();
    };
    let last = rows_of(reference, rg).filter_map(|j| reference.age(j)).reduce(f64::max);
    let (want, age) = (reference.raw_row(i), reference.age(i));
    let nearest = rows_of(data, g).min_by_key(|&j| {
        let differ = data
            .raw_row(j)
            .iter()
            .zip(want)
            .filter(|(x, y)| x.to_bits() != y.to_bits())
            .count();
        let apart = match (data.age(j), age) {
            (Some(x), Some(y)) => ((x - y).abs() * 1000.0) as u64,
            _ => 0,
        };
        (differ, apart)
    });
    let diff = nearest.map_or("no row".to_owned(), |j| {
        let cols: Vec<String> = data
            .raw_row(j)
            .iter()
            .zip(want)
            .zip(data.feature_names())
            .filter(|((x, y), _)| x.to_bits() != y.to_bits())
            .map(|((x, y), name)| format!("{name} {y} (got {x})"))
            .collect();
        format!("nearest row (age {:?} s) differs in {}", data.age(j), cols.join(", "))
    });
    let from_split = age.map_or("-".to_owned(), |a| {
        let at = split.0 + Duration::from_secs_f64(a);
        format!("{:+.3}", at.secs_since(split.1))
    });
    format!(
        "reference row at age {:?} s{} (the past pod's scrape {from_split} s from its last window's start): {diff}",
        age,
        if age == last { " (its last)" } else { "" }
    )
}

/// The rows of group `g` equal (values and age) to an earlier one.
fn repeats(data: &Dataset, g: &str) -> Vec<String> {
    let mut first: BTreeMap<Vec<u64>, usize> = BTreeMap::new();
    rows_of(data, g)
        .filter_map(|i| match first.entry(row_key(data, i, true)) {
            std::collections::btree_map::Entry::Occupied(e) => {
                Some(format!("row {i} at age {:?} s, as row {}", data.age(i), e.get()))
            }
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(i);
                None
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_pods_of_removed_workloads_through_influxdb() {
    let Some(server) = InfluxServer::start().await else {
        return;
    };
    let started = Instant::now();
    server.create_database(DB).await;
    let dir = recordings::dir();
    let instances = recordings::instances(&dir).expect("instances.csv");
    let recorded = recordings::samples(&dir, &instances).await.expect("samples.csv");
    let (training, watched) = rotation::pods(&instances, HELD_OUT, STARTS);

    // Listed: instances 0 and 1; the nginx ones renamed as one Deployment's.
    let listed: Vec<Pod> = training
        .iter()
        .filter(|p| matches!(rotation::instance_no(&instances[p.inst].pod), Some(0 | 1)))
        .map(|p| {
            let inst = &instances[p.inst];
            match LISTED_NGINX.iter().find(|(i, _)| *i == inst.pod) {
                Some((_, name)) => pod_of(&instances, &inst.pod, "rec", name, STARTS.training, "live"),
                None => p.clone(),
            }
        })
        .collect();
    assert_eq!(listed.len(), 8);
    let unlisted = |list: &[Unlisted], tag: &str| -> Vec<Pod> {
        list.iter()
            .map(|(inst, ns, name, ago)| {
                pod_of(&instances, inst, ns, name, COLLECT_AT - Duration::from_secs(*ago), tag)
            })
            .collect()
    };
    let past = unlisted(&PAST, "past");
    let earlier = unlisted(&EARLIER, "old");
    let reference: Vec<Pod> = PAST
        .iter()
        .map(|(inst, ..)| pod_of(&instances, inst, "ref", inst, REF_START, "ref"))
        .collect();

    // Every pod's samples, moved to its start, as Telegraf writes them.
    let all: Vec<&Pod> = listed
        .iter()
        .chain(&past)
        .chain(&earlier)
        .chain(&reference)
        .chain(&watched)
        .collect();
    let telegraf = with_telegraf_zero(&rotation::moved_samples(&all, &instances, &recorded));
    for chunk in all.chunks(8) {
        let infos: Vec<PodInfo> = chunk.iter().map(|p| p.info.clone()).collect();
        let mut out = Vec::new();
        telegraf_lines(&infos, &telegraf, &mut out);
        let out: Vec<String> = out.iter().map(|l| stamped_apart(l)).collect();
        server.write(DB, &out.join("\n")).await;
    }
    let wrote = started.elapsed();
    let source = InfluxMetricSource::new(server.config(DB, Arc::default())).expect("a valid configuration");

    // What the store says it has seen in the look-back.
    let look = TimeWindow::ending_at(COLLECT_AT + Duration::from_millis(1), LOOK_BACK);
    let seen = source.containers_seen(look).await.expect("containers seen");
    println!("containers seen in the look-back (first and last sample, relative to the look-back's start):");
    for c in &seen {
        println!(
            "  {:<50} uid {:<44} image {:<32} {:>7.1} s .. {:>7.1} s",
            c.id.to_string(),
            c.id.pod.uid,
            c.image.as_deref().unwrap_or("-"),
            c.first_sample.secs_since(look.start),
            c.last_sample.secs_since(look.start)
        );
    }
    // Every written pod before the collection, the listed ones included;
    // none of the reference or judged pods (after it).
    let before: BTreeSet<String> = listed
        .iter()
        .chain(&past)
        .chain(&earlier)
        .map(|p| p.container_id().to_string())
        .collect();
    let seen_ids: BTreeSet<String> = seen.iter().map(|c| c.id.to_string()).collect();
    assert_eq!(seen_ids, before, "the containers seen in the look-back");
    for p in past.iter().chain(&earlier).chain(&listed) {
        let c = seen
            .iter()
            .find(|c| c.id == p.container_id())
            .expect("every pod seen under its UID");
        let written: Vec<Timestamp> = telegraf
            .samples(&p.container_id())
            .iter()
            .map(|s| s.time)
            .filter(|t| look.contains(*t))
            .collect();
        let (first, last) = (written.iter().min().copied(), written.iter().max().copied());
        assert_eq!(
            (Some(c.first_sample), Some(c.last_sample)),
            (first, last),
            "{}: first and last sample",
            c.id
        );
    }

    // The reference: the same recordings as live, listed pods.
    let features = FeatureSet::behaviour();
    let (ref_data, ref_stats) = collect_dataset(
        StaticPods::new(reference.iter().map(|p| p.info.clone())),
        &source,
        ManualClock::new(REF_COLLECT_AT),
        &Labeler::new(KNOWN),
        &features,
        &CollectConfig::default(),
        (),
    )
    .await
    .expect("collecting the reference");
    assert_eq!(ref_stats.containers_with_rows, 8);

    let config = CollectConfig {
        past: LOOK_BACK,
        ..CollectConfig::default()
    };
    let a = run_path(&source, &listed, &watched, &CollectConfig::default()).await;
    let b = run_path(&source, &listed, &watched, &config).await;
    println!(
        "wrote {} pods in {:.1} s; collected and trained (a) and (b) at {:.1} s",
        all.len(),
        wrote.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    for (name, s) in [
        ("reference", &ref_stats),
        ("(a) listed", &a.stats),
        ("(b) + past", &b.stats),
    ] {
        println!(
            "{name:<11} pods {} (past {}, of running left out {}, same workload {}), containers {} (past {}) with rows {}, rows {} ({} young, {} steady, {} without an age), fetches {} ({} early)",
            s.pods,
            s.past_pods,
            s.past_pods_of_running,
            s.past_pods_same_workload,
            s.containers,
            s.past_containers,
            s.containers_with_rows,
            s.rows,
            s.young_rows,
            s.steady_rows,
            s.rows_without_age,
            s.fetches,
            s.early_fetches
        );
        assert_eq!(
            s.rows,
            s.young_rows + s.steady_rows + s.rows_without_age,
            "{name}: rows = young + steady + without an age"
        );
    }

    // The past pods trained on: of each removed workload's, the one whose
    // last sample is the latest.
    let span_of = |p: &Pod| {
        seen.iter()
            .find(|c| c.id == p.container_id())
            .map(|c| (c.first_sample, c.last_sample))
            .expect("every past pod seen")
    };
    let mut latest: BTreeMap<(String, String), (usize, Timestamp)> = BTreeMap::new();
    for (k, p) in past.iter().enumerate() {
        let (_, end) = span_of(p);
        let e = latest.entry(workload_of(p)).or_insert((k, end));
        if end > e.1 {
            *e = (k, end);
        }
    }
    let kept: BTreeSet<usize> = latest.values().map(|(k, _)| *k).collect();
    for (k, p) in past.iter().enumerate() {
        let (first, last) = span_of(p);
        println!(
            "past pod {:<40} workload {:<24} {:>7.1} s .. {:>7.1} s {}",
            p.info.id.to_string(),
            workload_of(p).1,
            first.secs_since(look.start),
            last.secs_since(look.start),
            if kept.contains(&k) {
                "trained on"
            } else {
                "left out: same workload"
            }
        );
    }
    assert_eq!(kept.len(), 7, "nginx-2 and nginx-3 of preview-1 are one workload");
    let superseded: Vec<&str> = past
        .iter()
        .enumerate()
        .filter(|(k, _)| !kept.contains(k))
        .map(|(_, p)| p.info.id.name.as_str())
        .collect();
    // nginx-3 started 6 minutes after nginx-2 (its recording is no shorter).
    assert_eq!(superseded, ["nginx-2"], "the superseded past pods");

    // What the collector found.
    assert_eq!(
        (
            a.stats.past_pods,
            a.stats.past_containers,
            a.stats.past_pods_of_running,
            a.stats.past_pods_same_workload,
            a.stats.rows_without_age
        ),
        (0, 0, 0, 0, 0)
    );
    assert_eq!(
        (
            b.stats.pods,
            b.stats.past_pods,
            b.stats.past_containers,
            b.stats.past_pods_of_running,
            b.stats.past_pods_same_workload
        ),
        (15, 7, 7, 2, 1)
    );
    assert_eq!((b.stats.containers, b.stats.containers_with_rows), (15, 15));
    assert_eq!(a.stats.containers_with_rows, 8);

    // The groups: the listed pods' as without past pods, and each past pod
    // trained on by its container id, as a listed pod's.
    let horizon = config.young_horizon;
    let rows_a = group_rows(&a.data, horizon);
    let rows_b = group_rows(&b.data, horizon);
    let rows_ref = group_rows(&ref_data, horizon);
    let expected: BTreeSet<String> = kept.iter().map(|&k| past[k].container_id().to_string()).collect();
    let past_groups: BTreeSet<String> = rows_b.keys().filter(|g| !rows_a.contains_key(*g)).cloned().collect();
    assert_eq!(past_groups, expected, "the past pods' groups");
    for (g, r) in &rows_a {
        assert_eq!(rows_b.get(g), Some(r), "{g}: the listed pod's rows with past pods");
    }
    assert_eq!(
        rows_b.values().map(|r| r.unaged).sum::<usize>(),
        b.stats.rows_without_age,
        "rows without an age in the data set"
    );

    // Each past pod's rows against the reference's of the same recording.
    println!(
        "group                                        rows: young steady no-age repeated youngest | reference: young steady youngest | reference rows missing (last)"
    );
    let age = |a: Option<f64>| a.map_or("-".to_owned(), |a| format!("{a:.1}"));
    let mut repeated = 0;
    let mut missing_all = 0;
    let mut problems: Vec<String> = Vec::new();
    for &k in &kept {
        let p = &past[k];
        let (inst, ..) = PAST[k];
        let g = p.container_id().to_string();
        let r = rows_b[&g];
        let rg = format!("ref/{inst}/{}", p.info.containers[0].name);
        let want = rows_ref[&rg];
        let (first, _) = span_of(p);
        let known = first.since(look.start) > PAST_START_MARGIN;
        // Without a known start only the last window is read: compare with
        // the reference's steady rows.
        let ref_rows = row_values(&ref_data, &[rg.as_str()], |a| known || a > horizon.as_secs_f64());
        let got = row_values(&b.data, &[g.as_str()], |_| true);
        // The reference's last row: that of the pod's last scrape.
        let last = (0..ref_data.n_rows())
            .filter(|&i| ref_data.group_names()[ref_data.group(i)] == rg)
            .max_by(|&i, &j| {
                ref_data
                    .age(i)
                    .unwrap_or(0.0)
                    .total_cmp(&ref_data.age(j).unwrap_or(0.0))
            })
            .map(|i| row_key(&ref_data, i, false));
        let missing: Vec<&Vec<u64>> = ref_rows.difference(&got).collect();
        let missing_last = missing.iter().filter(|m| Some(**m) == last.as_ref()).count();
        repeated += r.repeated;
        missing_all += missing.len();
        println!(
            "{g:<44} {:>5} {:>6} {:>6} {:>8} {:>8} | {:>5} {:>6} {:>8} | {} ({})",
            r.young,
            r.steady,
            r.unaged,
            r.repeated,
            age(r.youngest),
            want.young,
            want.steady,
            age(want.youngest),
            missing.len(),
            missing_last
        );
        for m in &missing {
            let split = (
                p.info.start_time.expect("a written start"),
                span_of(p).1 - config.window,
            );
            println!("  missing: {}", describe_missing(&ref_data, &rg, m, &b.data, &g, split));
        }
        for d in repeats(&b.data, &g) {
            println!("  repeated: {d}");
        }
        // Rows the reference does not have (at the edges of its windows).
        let all_ref = row_values(&ref_data, &[rg.as_str()], |_| true);
        let extra: Vec<String> = rows_of(&b.data, &g)
            .filter(|&i| !all_ref.contains(&row_key(&b.data, i, false)))
            .map(|i| b.data.age(i).map_or("-".to_owned(), |a| format!("{a:.1}")))
            .collect();
        if !extra.is_empty() {
            println!("  not in the reference, at ages (s): {}", extra.join(" "));
        }
        let mut check = |ok: bool, what: String| {
            if !ok {
                problems.push(format!("{g}: {what}"));
            }
        };
        // Each row once, and every row the recording gives as a listed pod
        // (of the last window where the start is not known), the last one
        // included: the last-window fetch reaches the other measurements of
        // the last scrape, stamped up to 1.25 s after the container's.
        check(r.repeated == 0, format!("{} repeated rows", r.repeated));
        check(
            missing.is_empty(),
            format!(
                "{} rows of the reference not collected ({missing_last} the last)",
                missing.len()
            ),
        );
        if known {
            // Started within the look-back: every row aged, the young rows
            // of the reference from the first sample on, and its steady rows.
            check(r.unaged == 0, format!("{} rows without an age", r.unaged));
            check(
                r.young == want.young,
                format!("young rows {}, the reference {}", r.young, want.young),
            );
            check(
                r.youngest.zip(want.youngest).is_some_and(|(y, w)| (y - w).abs() < 1.0),
                format!(
                    "youngest row at {:?} s, the reference's at {:?} s",
                    r.youngest, want.youngest
                ),
            );
            // Its last window is fetched from a few minutes before it
            // (`PAST_CONTEXT_PER_SNAPSHOT`), so its first rows have the
            // snapshots before them: the rows after the start of the
            // reference's recent window, which has too few snapshots for
            // them, come in addition (measured: 3, at 300, 310 and 320 s).
            check(
                r.steady >= want.steady && r.steady <= want.steady + 4,
                format!("steady rows {}, the reference {}", r.steady, want.steady),
            );
        } else {
            // Started before the look-back: no age, so no young rows; the
            // rows of its last window only.
            check(
                (r.young, r.steady) == (0, 0),
                format!(
                    "aged rows ({} young, {} steady) of a pod whose start is not known",
                    r.young, r.steady
                ),
            );
            check(
                r.unaged >= want.steady && r.unaged <= want.steady + 4,
                format!(
                    "{} rows of its last window, the reference {} steady rows",
                    r.unaged, want.steady
                ),
            );
        }
    }
    println!("past pods' rows: {repeated} repeated, {missing_all} of the reference missing");

    // The verdicts.
    let role: BTreeMap<&str, Role> = watched
        .iter()
        .map(|p| (p.info.id.name.as_str(), p.role.expect("a watched pod has a role")))
        .collect();
    let tally = |kinds: &BTreeMap<String, Kind>| {
        let mut c = Counts::new();
        for (name, kind) in kinds {
            count(&mut c, role[name.as_str()], *kind);
        }
        c
    };
    let (ca, cb) = (tally(&a.kinds), tally(&b.kinds));
    println!("(a) trained on the listed pods only: {}", rotation::describe(&ca));
    println!("(b) trained on listed and past pods: {}", rotation::describe(&cb));
    println!("all done at {:.1} s", started.elapsed().as_secs_f64());
    let differ: Vec<String> = watched
        .iter()
        .map(|p| p.info.id.name.as_str())
        .filter(|n| a.kinds[*n] != b.kinds[*n])
        .map(|n| {
            format!(
                "{n} ({:?}): {} -> {}",
                role[n],
                a.kinds[n].as_str(),
                b.kinds[n].as_str()
            )
        })
        .collect();
    println!("kinds that differ between (a) and (b): {}", differ.len());
    for d in &differ {
        println!("  {d}");
    }
    assert!(
        problems.is_empty(),
        "the past pods' rows against the reference's:\n{}",
        problems.join("\n")
    );
    assert_eq!((repeated, missing_all), (0, 0), "repeated rows, reference rows missing");
    assert!(
        cb[&Role::Honest].0 <= ca[&Role::Honest].0 + 1,
        "honest pods flagged: (a) {:?}, (b) {:?}",
        ca[&Role::Honest],
        cb[&Role::Honest]
    );
}
