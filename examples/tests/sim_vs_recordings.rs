//! The simulator against real servers: for every recorded instance in
//! `data/recordings/` (nginx, apache, MariaDB, PostgreSQL, redis, memcached;
//! 15 minutes from a fresh start, one workload shape each), simulated pods of
//! the same service and shape at the recorded load (scale 1) must show the
//! same behaviour at the same young ages, within a tolerance: memory
//! footprint and its make-up (RSS / usage), CPU, page faults (per second and
//! per MiB sent), traffic and block-I/O writes (databases write, web servers
//! do not). The comparison runs over ages 2–15 min (after the start-up
//! phases, which `the_start_up_is_recorded_as_measured` checks).
//!
//! A failure here means the simulator drifted away from what real software
//! does; fix the profile (`cad-sim/profiles.toml`), not the tolerance.

mod common;

use cad_core::{Clock, Metric, MetricSource, PodInfo, Sample, TimeWindow, Timestamp, TokioClock};
use cad_sim::{PodSpec, Shape, SimCluster, SimConfig};
use common::{Instance, by_metric, fetch_all, instances};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

const MIB: f64 = 1024.0 * 1024.0;
const KIB: f64 = 1024.0;
/// Simulated pods per recorded instance (each draws its own parameters).
const SIM_PODS: usize = 9;
/// A blkio-capable, quiet node of the simulator: like the recorder's host
/// as far as what is reported goes.
const NODE: &str = "pool-a-1";

/// What one instance did over some ages. Rates are per sample interval
/// (10 s): "typical" is their median (what the pod does most of the time),
/// "peak" their maximum (how hard it works in a burst or a batch).
#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    /// Median working set, MiB.
    ws_mib: f64,
    /// Median RSS / usage.
    rss_per_usage: f64,
    /// CPU, millicores (from the core-nanosecond counter).
    cpu_mc: Rate,
    /// Page faults per second.
    faults_s: Rate,
    /// Bytes sent, KiB/s.
    tx_kib_s: Rate,
    /// Block-device writes, KiB/s.
    write_kib_s: Rate,
}

#[derive(Clone, Copy, Debug, Default)]
struct Rate {
    typical: f64,
    peak: f64,
    low: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The statistics of `samples` between `from` and `to` ms after `start`.
fn stats(samples: &[Sample], start: i64, (from, to): (i64, i64)) -> Stats {
    let series = by_metric(samples);
    let within = |m: Metric| -> Vec<(i64, f64)> {
        series
            .get(&m)
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|(t, _)| (start + from..start + to).contains(t))
                    .collect()
            })
            .unwrap_or_default()
    };
    let gauge = |m: Metric| median(within(m).into_iter().map(|p| p.1).collect());
    // A counter's rates between consecutive samples (a reset is a restart:
    // that interval is left out).
    let rate = |m: Metric, unit: f64| {
        let rates: Vec<f64> = within(m)
            .windows(2)
            .filter(|w| w[1].1 >= w[0].1 && w[1].0 > w[0].0)
            .map(|w| (w[1].1 - w[0].1) / ((w[1].0 - w[0].0) as f64 / 1000.0) / unit)
            .collect();
        Rate {
            peak: rates.iter().copied().fold(f64::NAN, f64::max),
            low: rates.iter().copied().fold(f64::NAN, f64::min),
            typical: median(rates),
        }
    };
    let usage = within(Metric::MemoryUsageBytes);
    let rss = within(Metric::MemoryRssBytes);
    let ratios = usage
        .iter()
        .zip(&rss)
        .filter(|(u, _)| u.1 > 0.0)
        .map(|(u, r)| r.1 / u.1)
        .collect();
    Stats {
        ws_mib: gauge(Metric::MemoryWorkingSetBytes) / MIB,
        rss_per_usage: median(ratios),
        cpu_mc: rate(Metric::CpuUsageCoreNanoseconds, 1e6),
        faults_s: rate(Metric::MemoryPageFaults, 1.0),
        tx_kib_s: rate(Metric::TxBytes, KIB),
        write_kib_s: rate(Metric::BlkioWriteBytes, KIB),
    }
}

/// One statistic, how far the simulator may be from the recording (a
/// factor either way) and the value below which two figures count as equal
/// (nothing measurable: an idle server's page faults, a web server's writes).
struct Check {
    name: &'static str,
    get: fn(&Stats) -> f64,
    factor: f64,
    floor: f64,
}

/// Levels, compared per class: the median over a class's simulated pods
/// must lie in the range of the class's recorded instances, widened by the
/// factor (the recorded instances differ by shape, and so do the pods).
const LEVELS: &[Check] = &[
    Check {
        name: "working set MiB",
        get: |s| s.ws_mib,
        factor: 1.5,
        floor: 0.0,
    },
    Check {
        name: "RSS / usage",
        get: |s| s.rss_per_usage,
        factor: 1.25,
        floor: 0.0,
    },
];

/// Rates, compared per instance with simulated pods of the same shape at
/// the recorded load. The recorder's host was 87–100 % busy with other work:
/// CPU and the rates that follow it are as noisy as that.
const TYPICAL: &[Check] = &[
    Check {
        name: "CPU mc",
        get: |s| s.cpu_mc.typical,
        factor: 3.0,
        floor: 0.02,
    },
    Check {
        name: "page faults /s",
        get: |s| s.faults_s.typical,
        factor: 3.0,
        floor: 1.0,
    },
    Check {
        name: "tx KiB/s",
        get: |s| s.tx_kib_s.typical,
        factor: 3.0,
        floor: 0.05,
    },
    Check {
        name: "blkio write KiB/s",
        get: |s| s.write_kib_s.typical,
        factor: 3.0,
        floor: 2.0,
    },
];

/// The heavy phases of bursty and batch instances (10-s peaks; simulated
/// pods whose first burst or batch falls after the window are left out).
const PEAK: &[Check] = &[
    Check {
        name: "peak CPU mc",
        get: |s| s.cpu_mc.peak,
        factor: 3.0,
        floor: 0.02,
    },
    // A single interval's page faults: a few hundred in a burst's first
    // seconds are noise below this.
    Check {
        name: "peak page faults /s",
        get: |s| s.faults_s.peak,
        factor: 3.0,
        floor: 10.0,
    },
    Check {
        name: "peak tx KiB/s",
        get: |s| s.tx_kib_s.peak,
        factor: 3.0,
        floor: 0.05,
    },
    Check {
        name: "peak write KiB/s",
        get: |s| s.write_kib_s.peak,
        factor: 3.0,
        floor: 2.0,
    },
];

/// Page faults per MiB sent, at the typical rates: what tells nginx (none)
/// from apache in the recordings at every load. Only where the instance
/// sends something (not idle).
const FAULTS_PER_TX: Check = Check {
    name: "faults per MiB sent",
    get: |s| s.faults_s.typical / (s.tx_kib_s.typical / 1024.0),
    factor: 3.0,
    floor: 5.0,
};

fn shape(name: &str) -> Shape {
    Shape::ALL
        .into_iter()
        .find(|s| s.as_str() == name)
        .unwrap_or_else(|| panic!("shape {name}"))
}

/// Simulated pods like each recorded instance, run for its duration: the
/// statistics of each, by the instance's pod name.
async fn simulated(ages: (i64, i64)) -> BTreeMap<String, Vec<Stats>> {
    let instances = instances();
    let clock = Arc::new(TokioClock::starting_at(Timestamp::from_secs(1_800_000_000)));
    let mut config = SimConfig::default().with_seed(16).without_churn();
    config.restart_probability = 0.0;
    let sim = SimCluster::new(config, clock.clone());
    let mut pods: Vec<(String, PodInfo)> = Vec::new();
    for inst in &instances {
        for _ in 0..SIM_PODS {
            let spec = PodSpec::new(inst.class.as_str())
                .with_shape(shape(&inst.shape))
                .with_scale(1.0)
                .on_node(NODE);
            pods.push((
                inst.pod.clone(),
                sim.try_spawn(spec).expect("a pod like the recorded one"),
            ));
        }
    }
    let longest = instances.iter().map(|i| i.duration_s).max().expect("instances");
    clock.sleep(Duration::from_secs(longest as u64)).await;
    let ids: Vec<_> = pods.iter().flat_map(|(_, p)| p.container_ids()).collect();
    let batch = sim
        .fetch(&ids, TimeWindow::new(Timestamp(0), clock.now()))
        .await
        .expect("the simulator fetches");
    let mut out: BTreeMap<String, Vec<Stats>> = BTreeMap::new();
    for (name, pod) in &pods {
        let start = pod.start_time.expect("a start time").0;
        let id = pod.container_ids().next().expect("the app container");
        out.entry(name.clone())
            .or_default()
            .push(stats(batch.samples(&id), start, ages));
    }
    out
}

/// Differences between the simulator and the recordings that are known and
/// not modelled, with the reason: reported, not failed. Everything else must
/// be within its tolerance.
const KNOWN_GAPS: &[(&str, &str, &str)] = &[
    (
        "postgresql-1",
        "CPU mc",
        "between bursts PostgreSQL keeps working off the burst (checkpoints, autovacuum); the simulator drops to the idle floor at once",
    ),
    (
        "postgresql-1",
        "blkio write KiB/s",
        "between bursts PostgreSQL keeps writing the burst's dirty pages (checkpoints); the simulator writes nothing",
    ),
    (
        "mysql-1",
        "peak page faults /s",
        "a spike of page faults as a batch starts (new threads); the simulator's rates have no one-interval spikes",
    ),
    (
        "redis-0",
        "blkio write KiB/s",
        "redis writes only while it saves a snapshot; the simulator spreads the same bytes evenly",
    ),
    (
        "redis-1",
        "peak page faults /s",
        "redis-1's benchmark grew one list without bound (2 GiB in 15 min, a benchmark artefact): faults of a data set that only grows",
    ),
    (
        "redis-1",
        "peak write KiB/s",
        "redis-1's snapshots of that ever-growing data set; the simulator's redis saves at its steady rate",
    ),
];

/// Compares one figure, adds a line to `table` and the failure to `failures`.
fn compare(
    table: &mut String,
    failures: &mut Vec<String>,
    what: &str,
    check: &Check,
    recorded: (f64, f64),
    values: &[f64],
) {
    let s = median(values.to_vec());
    let (lo, hi) = (recorded.0.max(check.floor), recorded.1.max(check.floor));
    let v = s.max(check.floor);
    let ok = v.is_finite() && lo / check.factor <= v && v <= hi * check.factor;
    let rec = if recorded.0 == recorded.1 {
        format!("{:.3}", recorded.0)
    } else {
        format!("{:.3}–{:.3}", recorded.0, recorded.1)
    };
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    writeln!(
        table,
        "{what:<22} {:<20} recorded {rec:>17}  simulated {s:>10.3} [{min:.3}–{max:.3}] ×{}{}",
        check.name,
        check.factor,
        if ok { "" } else { "  <-- off" }
    )
    .unwrap();
    let gap = KNOWN_GAPS
        .iter()
        .find(|(pod, name, _)| what.split(' ').next() == Some(*pod) && *name == check.name);
    match (ok, gap) {
        (true, _) => {}
        (false, Some((_, _, why))) => writeln!(table, "{:<22} known gap: {why}", "").unwrap(),
        (false, None) => failures.push(format!("{what} {}", check.name)),
    }
}

/// The [`LEVELS`] checks, per class.
fn compare_levels(
    table: &mut String,
    failures: &mut Vec<String>,
    instances: &[Instance],
    recorded: &BTreeMap<&str, Stats>,
    sim: &BTreeMap<String, Vec<Stats>>,
) {
    let mut classes: Vec<&str> = instances.iter().map(|i| i.class.as_str()).collect();
    classes.dedup();
    for class in classes {
        let of_class: Vec<_> = instances.iter().filter(|i| i.class == class).collect();
        for check in LEVELS {
            let rec: Vec<f64> = of_class
                .iter()
                .map(|i| (check.get)(&recorded[i.pod.as_str()]))
                .collect();
            let range = (
                rec.iter().copied().fold(f64::INFINITY, f64::min),
                rec.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            );
            let values: Vec<f64> = of_class
                .iter()
                .flat_map(|i| sim[&i.pod].iter().map(check.get))
                .collect();
            compare(table, failures, class, check, range, &values);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_start_up_is_recorded_as_measured() {
    // Ages 10–60 s: after initdb / mariadb-install-db (4–5 s), before any load
    // has grown the caches. A database's memory is there at once (the
    // buffer pool, initdb's files in page cache); a web server's too.
    let ages = (10_000, 60_000);
    let instances = instances();
    let batch = fetch_all(&instances).await;
    let sim = simulated(ages).await;
    let recorded: BTreeMap<&str, Stats> = instances
        .iter()
        .map(|i| (i.pod.as_str(), stats(batch.samples(&i.id()), i.start_ms, ages)))
        .collect();
    let mut table = String::new();
    let mut failures = Vec::new();
    compare_levels(&mut table, &mut failures, &instances, &recorded, &sim);
    println!("{table}");
    assert!(
        failures.is_empty(),
        "the simulator's start-up is off the recordings on: {}\n{table}",
        failures.join(", ")
    );
}

#[tokio::test(start_paused = true)]
async fn simulated_pods_behave_like_the_recorded_servers_at_young_ages() {
    let ages = (120_000, 900_000);
    let instances = instances();
    let batch = fetch_all(&instances).await;
    let sim = simulated(ages).await;
    let recorded: BTreeMap<&str, Stats> = instances
        .iter()
        .map(|i| (i.pod.as_str(), stats(batch.samples(&i.id()), i.start_ms, ages)))
        .collect();
    let mut table = String::new();
    let mut failures = Vec::new();
    compare_levels(&mut table, &mut failures, &instances, &recorded, &sim);
    for inst in &instances {
        let rec = &recorded[inst.pod.as_str()];
        let pods = &sim[&inst.pod];
        let what = format!("{} ({})", inst.pod, inst.shape);
        // The recorder ran its batches at fixed times (a 5-minute job at
        // 2 min, a 3-minute one at 10 min); the simulator's batches come at
        // invented times, so a batch pod's typical rates are not comparable:
        // only its peaks are.
        let typical = if inst.shape == "batch" { &[][..] } else { TYPICAL };
        for check in typical {
            let values: Vec<f64> = pods.iter().map(check.get).collect();
            let r = (check.get)(rec);
            compare(&mut table, &mut failures, &what, check, (r, r), &values);
        }
        if rec.tx_kib_s.typical >= 1.0 && inst.shape != "batch" {
            let values: Vec<f64> = pods.iter().map(FAULTS_PER_TX.get).collect();
            let r = (FAULTS_PER_TX.get)(rec);
            compare(&mut table, &mut failures, &what, &FAULTS_PER_TX, (r, r), &values);
        }
        if matches!(inst.shape.as_str(), "bursty" | "batch") {
            // Pods that worked hard at some point: a CPU peak ten times their quietest.
            let active: Vec<&Stats> = pods.iter().filter(|s| s.cpu_mc.peak >= 10.0 * s.cpu_mc.low).collect();
            assert!(
                active.len() >= 3,
                "{what}: only {} of {} simulated pods had a burst or a batch in the window",
                active.len(),
                pods.len()
            );
            for check in PEAK {
                let values: Vec<f64> = active.iter().map(|s| (check.get)(s)).collect();
                let r = (check.get)(rec);
                compare(&mut table, &mut failures, &what, check, (r, r), &values);
            }
        }
    }
    println!("{table}");
    assert!(
        failures.is_empty(),
        "the simulator is off the recordings on: {}\n{table}",
        failures.join(", ")
    );
}
