//! The simulator against real servers: for every recorded instance in
//! `data/recordings/` (nginx, apache, MariaDB, PostgreSQL, redis, memcached,
//! Tomcat and RabbitMQ), `replicas/`, `batch7/` and `batch8/` (the classes;
//! 15 minutes from a fresh start, one workload shape each), simulated pods of
//! the same service and shape at the recorded load (scale 1; 0.25 and 4 for the
//! recorder's `light` and `heavy` steady loads) must show the
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
use common::{Instance, by_metric, dir, fetch_all, instances_in};
use std::collections::{BTreeMap, BTreeSet};
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
/// Tight, 1.1: memory is what tells nginx from apache (2.6–3.4 MiB against
/// 6.1–11.8), and with ×1.5 and ×1.25 the simulator's nginx sat at 3.35 MiB
/// and its apache at 5.67 (session 20), halving the recorded gap between
/// the two and missing impostors the recordings tell apart.
const LEVELS: &[Check] = &[
    Check {
        name: "working set MiB",
        get: |s| s.ws_mib,
        factor: 1.1,
        floor: 0.0,
    },
    Check {
        name: "RSS / usage",
        get: |s| s.rss_per_usage,
        factor: 1.1,
        floor: 0.0,
    },
];

/// A rate's name, where it is, its floor when typical and its floor at peak.
type RateCheck = (&'static str, fn(&Stats) -> Rate, f64, f64);

/// Rates, compared per instance with simulated pods of the same shape at
/// the recorded load: their typical value, and for bursty and batch
/// instances their peak (simulated pods whose first burst or batch falls
/// after the window are left out). Each with the value below which two
/// figures count as equal (nothing measurable: a web server's writes), for
/// the typical rate and for the peak (a few hundred page faults in one
/// interval as a burst starts are noise).
const RATES: &[RateCheck] = &[
    ("CPU mc", |s| s.cpu_mc, 0.02, 0.02),
    ("page faults /s", |s| s.faults_s, 1.0, 10.0),
    ("tx KiB/s", |s| s.tx_kib_s, 0.05, 0.05),
    ("blkio write KiB/s", |s| s.write_kib_s, 2.0, 2.0),
];
/// How far a simulated rate may be from the recorded one, either way. The
/// recorder's host was 87–100 % busy with other work: CPU and the rates
/// that follow it are as noisy as that.
const RATE_FACTOR: f64 = 3.0;

/// Page faults per MiB sent, at the typical rates: what tells nginx (none)
/// from apache in the recordings at every load. Only where the instance
/// sends something (not idle).
const FAULTS_PER_TX: Check = Check {
    name: "faults per MiB sent",
    get: |s| s.faults_s.typical / (s.tx_kib_s.typical / 1024.0),
    factor: 3.0,
    floor: 5.0,
};

/// Recorded services (class in `instances.csv`) that the simulator knows
/// under another name: Tomcat is its `jvm-app` (a JVM web service), fitted
/// to batch 5's recordings (session 10; `data/recordings/PROFILES.md`,
/// "Tomcat and RabbitMQ"). RabbitMQ is `rabbitmq` in both.
const SIM_NAMES: &[(&str, &str)] = &[("tomcat", "jvm-app")];

/// The simulator's service for a recorded class.
fn sim_service(class: &str) -> &str {
    SIM_NAMES
        .iter()
        .find(|(c, _)| *c == class)
        .map_or(class, |(_, sim)| sim)
}

/// The simulator's shape and load scale for a recorded workload shape: the
/// recorder's `light` and `heavy` are its steady load at 0.25 and 4 times
/// the work per 5 s (`scripts/record_real_servers.py`, `INTENSITY`).
fn shape(name: &str) -> (Shape, f64) {
    match name {
        "light" => (Shape::Steady, 0.25),
        "heavy" => (Shape::Steady, 4.0),
        _ => (
            Shape::ALL
                .into_iter()
                .find(|s| s.as_str() == name)
                .unwrap_or_else(|| panic!("shape {name}")),
            1.0,
        ),
    }
}

/// The recorded sets compared: the main set, a Deployment's replicas
/// (batch 6), batch 7 (apache2 below its steady load, and the page cache
/// of the first to read a server's files, on an idle host) and batch 8 (a
/// steady instance of each class, each the first to read its files).
fn recorded_sets() -> [std::path::PathBuf; 4] {
    [
        dir(),
        dir().join("replicas"),
        dir().join("batch7"),
        dir().join("batch8"),
    ]
}

/// Every recorded instance of every set, with its statistics over `ages`;
/// none failed while recording.
async fn recorded(ages: (i64, i64)) -> Vec<(Instance, Stats)> {
    let mut out = Vec::new();
    for set in recorded_sets() {
        let instances = instances_in(&set);
        let batch = fetch_all(&set, &instances).await;
        for i in instances {
            let stats = stats(batch.samples(&i.id()), i.start_ms, ages);
            out.push((i, stats));
        }
    }
    out
}

/// Simulated pods like each recorded instance, run for its duration: the
/// statistics of each, by the instance's pod name.
async fn simulated(instances: &[Instance], ages: (i64, i64)) -> BTreeMap<String, Vec<Stats>> {
    let clock = Arc::new(TokioClock::starting_at(Timestamp::from_secs(1_800_000_000)));
    let mut config = SimConfig::default().with_seed(16).without_churn();
    config.restart_probability = 0.0;
    let sim = SimCluster::new(config, clock.clone());
    let mut pods: Vec<(String, PodInfo)> = Vec::new();
    for inst in instances {
        for _ in 0..SIM_PODS {
            let (shape, scale) = shape(&inst.shape);
            let spec = PodSpec::new(sim_service(&inst.class))
                .with_shape(shape)
                .with_scale(scale)
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
        "redis-1",
        "peak page faults /s",
        "redis-1's benchmark grew one list without bound (2 GiB in 15 min, a benchmark artefact): faults of a data set that only grows",
    ),
    (
        "redis-1",
        "peak blkio write KiB/s",
        "redis-1's snapshots of that ever-growing data set (up to 408 MiB in one interval); the simulator's snapshots hold what its heavy write rate wrote since the last",
    ),
    // Found by batch 3 (session 6), not modelled. Modelled since and gone
    // from this list: nginx-4's CPU and redis-2's page faults
    // (`load_exponent`), redis-0's and redis-2's writes (`writes_every_s`),
    // postgresql-1's CPU and writes between bursts (`tail`), mysql-1's and
    // mysql-3's page faults as a batch or burst starts
    // (`faults_from_growth`).
    (
        "apache-3",
        "peak tx KiB/s",
        "a batch unit that fetched the 1 MiB file (ab -k -n 3000 -c 16: 3 GB) sent 1 GiB/s in one interval; the simulator's peak is a mix of sizes",
    ),
    // Found by batch 5 (session 9) and left when `jvm-app` was fitted to
    // Tomcat (session 10).
    (
        "tomcat-1",
        "peak page faults /s",
        "the JVM's heap grows in its first burst only (tomcat-1's at 199 s: 143 MiB, 6,200 faults/s, 1.8 faults per 4 KiB page grown; ~0 in every later burst); the simulator grows it so too (`faults_from_growth`, one fault per page) but draws its first burst within the first 60–240 s, mostly before this window (from 30 s on its peak is 1,100–3,200/s, median 1,600)",
    ),
    (
        "tomcat-2",
        "page faults /s",
        "G1 stopped growing tomcat-2's heap 45 MiB above its start within 5 min at 4× the load, while tomcat-0's grew 135 MiB in 15 min: the JVM sizes its heap by its own measure; the simulator draws the growth per pod (`grow_mib`), whatever the load",
    ),
    (
        "tomcat-2",
        "faults per MiB sent",
        "the same: tomcat-2's heap was done growing",
    ),
    // Found by `young_pods_have_the_recorded_working_set_for_their_load`
    // (session 11), not modelled.
    (
        "postgresql-3",
        "working set MiB 20-90 s",
        "the idle postgresql-3 loaded no data (`initdb` only): 30 MiB of page cache, RSS / usage 0.083; the simulator's rss_ratio (0.019–0.031, from the instances with `pgbench -i` tables) gives every postgresql pod an application's cache",
    ),
    (
        "redis-0",
        "working set MiB 20-90 s",
        "1.52× (the limit is 1.5): redis's growth per CPU-second is drawn from 3–37 MiB (all its instances); redis-0's first minute is at the low end",
    ),
];

/// The lines of the comparison and what is off.
#[derive(Default)]
struct Report {
    table: String,
    failures: Vec<String>,
}

impl Report {
    /// Compares one figure (`name`, within `factor`, values under `floor`
    /// counting as `floor`) and adds a line.
    fn compare(&mut self, what: &str, (name, factor, floor): (&str, f64, f64), recorded: (f64, f64), values: &[f64]) {
        let s = median(values.to_vec());
        let (lo, hi) = (recorded.0.max(floor), recorded.1.max(floor));
        let v = s.max(floor);
        let ok = v.is_finite() && lo / factor <= v && v <= hi * factor;
        let rec = if recorded.0 == recorded.1 {
            format!("{:.3}", recorded.0)
        } else {
            format!("{:.3}–{:.3}", recorded.0, recorded.1)
        };
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        writeln!(
            self.table,
            "{what:<22} {name:<22} recorded {rec:>17}  simulated {s:>10.3} [{min:.3}–{max:.3}] ×{factor}{}",
            if ok { "" } else { "  <-- off" }
        )
        .unwrap();
        let gap = KNOWN_GAPS
            .iter()
            .find(|(pod, gap, _)| what.split(' ').next() == Some(*pod) && *gap == name);
        match (ok, gap) {
            (true, _) => {}
            (false, Some((_, _, why))) => writeln!(self.table, "{:<22} known gap: {why}", "").unwrap(),
            (false, None) => self.failures.push(format!("{what} {name}")),
        }
    }

    fn check(self, what: &str) {
        println!("{}", self.table);
        assert!(
            self.failures.is_empty(),
            "{what} is off the recordings on: {}\n{}",
            self.failures.join(", "),
            self.table
        );
    }
}

/// The recorded instances, their statistics over `ages` (ms after start)
/// by pod name, and those of the simulated pods like each.
struct Compared {
    instances: Vec<Instance>,
    recorded: BTreeMap<String, Stats>,
    sim: BTreeMap<String, Vec<Stats>>,
}

impl Compared {
    async fn at(ages: (i64, i64)) -> Compared {
        let (instances, stats): (Vec<Instance>, Vec<Stats>) = recorded(ages).await.into_iter().unzip();
        let recorded: BTreeMap<String, Stats> = instances.iter().map(|i| i.pod.clone()).zip(stats).collect();
        assert_eq!(recorded.len(), instances.len(), "pod names are unique across the sets");
        let sim = simulated(&instances, ages).await;
        Compared {
            instances,
            recorded,
            sim,
        }
    }

    /// The [`LEVELS`] checks, per class.
    fn levels(&self, report: &mut Report) {
        let classes: BTreeSet<&str> = self.instances.iter().map(|i| i.class.as_str()).collect();
        for class in classes {
            let of_class: Vec<&Instance> = self.instances.iter().filter(|i| i.class == class).collect();
            for check in LEVELS {
                let rec: Vec<f64> = of_class.iter().map(|i| (check.get)(&self.recorded[&i.pod])).collect();
                let range = (
                    rec.iter().copied().fold(f64::INFINITY, f64::min),
                    rec.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                );
                let values: Vec<f64> = of_class
                    .iter()
                    .flat_map(|i| self.sim[&i.pod].iter().map(check.get))
                    .collect();
                report.compare(class, (check.name, check.factor, check.floor), range, &values);
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_start_up_is_recorded_as_measured() {
    // Ages 10–60 s: after initdb / mariadb-install-db (4–5 s), before any load
    // has grown the caches. A database's memory is there at once (the
    // buffer pool, initdb's files in page cache); a web server's too.
    let c = Compared::at((10_000, 60_000)).await;
    let mut report = Report::default();
    c.levels(&mut report);
    report.check("the simulator's start-up");
}

/// The working set at the ages of a watcher's first windows (the first two:
/// 20–90 s; the third, which the default watcher decides on at 130–143 s,
/// is among the ages of
/// `simulated_pods_behave_like_the_recorded_servers_at_young_ages`, from
/// 120 s), per instance with a load from the start (idle,
/// light, steady, heavy; bursty and batch instances were quiet at these
/// ages, and the simulator's first burst or batch falls anywhere): the
/// class-wide range of `the_start_up_is_recorded_as_measured` holds an idle
/// memcached (1.7 MiB) and a loaded one (15–17 MiB), so it passed a
/// simulated memcached that stayed at 2–4 MiB under load, nginx's
/// footprint (`data/recordings/PROFILES.md`, "memcached's first slab
/// pages").
#[tokio::test(start_paused = true)]
async fn young_pods_have_the_recorded_working_set_for_their_load() {
    let c = Compared::at((20_000, 90_000)).await;
    let mut report = Report::default();
    for inst in &c.instances {
        if matches!(inst.shape.as_str(), "bursty" | "batch") {
            continue;
        }
        let rec = c.recorded[&inst.pod].ws_mib;
        let values: Vec<f64> = c.sim[&inst.pod].iter().map(|s| s.ws_mib).collect();
        let what = format!("{} ({})", inst.pod, inst.shape);
        report.compare(&what, ("working set MiB 20-90 s", 1.5, 0.0), (rec, rec), &values);
    }
    report.check("the simulator's young pods");
}

#[tokio::test(start_paused = true)]
async fn simulated_pods_behave_like_the_recorded_servers_at_young_ages() {
    let c = Compared::at((120_000, 900_000)).await;
    let mut report = Report::default();
    c.levels(&mut report);
    for inst in &c.instances {
        let rec = &c.recorded[&inst.pod];
        let pods = &c.sim[&inst.pod];
        let what = format!("{} ({})", inst.pod, inst.shape);
        let one = |r: f64| (r, r);
        // The recorder ran its batches at fixed times (a 5-minute job at
        // 2 min, a 3-minute one at 10 min); the simulator's batches come at
        // invented times, so a batch pod's typical rates are not comparable:
        // only its peaks are.
        if inst.shape != "batch" {
            for &(name, get, floor, _) in RATES {
                let values: Vec<f64> = pods.iter().map(|s| get(s).typical).collect();
                report.compare(&what, (name, RATE_FACTOR, floor), one(get(rec).typical), &values);
            }
            if rec.tx_kib_s.typical >= 1.0 {
                let f = &FAULTS_PER_TX;
                let values: Vec<f64> = pods.iter().map(f.get).collect();
                report.compare(&what, (f.name, f.factor, f.floor), one((f.get)(rec)), &values);
            }
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
            for &(name, get, _, floor) in RATES {
                let values: Vec<f64> = active.iter().map(|s| get(s).peak).collect();
                let name = format!("peak {name}");
                report.compare(&what, (&name, RATE_FACTOR, floor), one(get(rec).peak), &values);
            }
        }
    }
    report.check("the simulator");
}
