//! `cad demo`: the whole mission on the embedded simulated cluster, in one
//! process and in simulated time (tokio's paused clock: a simulated quarter of
//! an hour takes seconds): collect, train, evaluate, print the confusion
//! matrix, then watch newly spawning pods — honest ones, impostors and
//! services outside the class list — and print each outcome next to the
//! simulation's ground truth.
//!
//! `cad demo --sweep N` does this for simulator seeds 1 to N and ends with
//! one comparable line.

use crate::cli::{AlgorithmSettings, DemoArgs};
use crate::collect::{train_with_progress, write_outputs};
use crate::output;
use anyhow::{Context, Result};
use async_trait::async_trait;
use cad_core::engine::{ActiveModel, CollectConfig, ExistingPods, ModelHandle, TrainConfig, Watcher, WatcherConfig};
use cad_core::eval::Method;
use cad_core::{AnomalyReason, Clock, FeatureSet, NO_CLASS, Outcome, SinkError, Timestamp, TokioClock, VerdictSink};
use cad_sim::{DEFAULT_SIDECARS, PodSpec, SimCluster, SimConfig, Truth};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Share of the demo's new pods that get a sidecar container.
const SIDECAR_SHARE: f64 = 0.3;
/// Share of the new pods of services outside the class list that are named
/// like a class (the others are named after their own service).
const UNKNOWN_NAMED_LIKE_CLASS: f64 = 0.3;

/// Lines for stdout from inside the watcher: the first write error is kept
/// (and the demo stopped) instead of panicking, so `cad demo | head -1` ends
/// quietly and `cad demo > /dev/full` fails with a clear error.
#[derive(Default)]
struct Out {
    failed: Mutex<Option<std::io::Error>>,
    stop: Notify,
}

impl Out {
    fn line(&self, text: &str) {
        let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        if failed.is_some() {
            return;
        }
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, "{text}").and_then(|()| out.flush()) {
            *failed = Some(e);
            self.stop.notify_one();
        }
    }

    fn result(&self) -> Result<()> {
        match self.failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(e) => Err(e).context("writing to stdout"),
            None => Ok(()),
        }
    }
}

/// What a new pod's container really is, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Named like the class it behaves as.
    Honest,
    /// Named like one class, behaving like another.
    Impostor,
    /// Runs a service outside the class list, whatever its name.
    Unknown,
    /// Behaves like a class, named like none, with an image of its own: it
    /// claims no class (an in-house image of nginx, say).
    Unclaimed,
    /// A sidecar container.
    Sidecar,
}

impl Kind {
    fn of(truth: &Truth) -> Kind {
        if truth.sidecar.is_some() {
            Kind::Sidecar
        } else if truth.unknown_service {
            Kind::Unknown
        } else if truth.impostor {
            Kind::Impostor
        } else if truth.named_as.is_none() {
            Kind::Unclaimed
        } else {
            Kind::Honest
        }
    }
}

/// Outcomes of one kind of container: how many there were and how many were flagged.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct Count {
    /// Containers of this kind that got an outcome other than skipped (in
    /// the sweep's rates: the pods of this kind spawned).
    judged: usize,
    /// Of those, outcomes that are an anomaly of any kind.
    flagged: usize,
    /// Containers of this kind skipped (a sidecar: `skipped: sidecar`).
    skipped: usize,
}

impl Count {
    fn add(&mut self, other: Count) {
        self.judged += other.judged;
        self.flagged += other.flagged;
        self.skipped += other.skipped;
    }
}

/// The outcomes of the pods spawned after training, against the truth.
#[derive(Default, Debug)]
struct Tally {
    outcomes: usize,
    classified: usize,
    right: usize,
    timed_out: usize,
    deleted: usize,
    skipped: usize,
    honest: Count,
    impostors: Count,
    unknown: Count,
    unclaimed: Count,
    sidecars: Count,
    /// Why honest pods were flagged: impostor (claimed, judged like),
    /// unknown, or low confidence (a model without calibration).
    honest_causes: BTreeMap<String, usize>,
    /// What services outside the class list were judged as.
    unknown_as: BTreeMap<String, usize>,
    /// Services outside the class list, each on its own: judged and flagged.
    unknown_by_service: BTreeMap<String, Count>,
    /// Honest pods and impostors by how many training containers the class
    /// they claim had: the false-anomaly rate holds only with enough of them
    /// (README, "How many training containers").
    by_containers: BTreeMap<usize, (Count, Count)>,
}

impl Tally {
    fn count(&mut self, kind: Kind) -> &mut Count {
        match kind {
            Kind::Honest => &mut self.honest,
            Kind::Impostor => &mut self.impostors,
            Kind::Unknown => &mut self.unknown,
            Kind::Unclaimed => &mut self.unclaimed,
            Kind::Sidecar => &mut self.sidecars,
        }
    }

    fn add(&mut self, o: Tally) {
        self.outcomes += o.outcomes;
        self.classified += o.classified;
        self.right += o.right;
        self.timed_out += o.timed_out;
        self.deleted += o.deleted;
        self.skipped += o.skipped;
        self.honest.add(o.honest);
        self.impostors.add(o.impostors);
        self.unknown.add(o.unknown);
        self.unclaimed.add(o.unclaimed);
        self.sidecars.add(o.sidecars);
        for (k, v) in o.honest_causes {
            *self.honest_causes.entry(k).or_default() += v;
        }
        for (k, v) in o.unknown_as {
            *self.unknown_as.entry(k).or_default() += v;
        }
        for (k, v) in o.unknown_by_service {
            self.unknown_by_service.entry(k).or_default().add(v);
        }
        for (k, (h, i)) in o.by_containers {
            let e = self.by_containers.entry(k).or_default();
            e.0.add(h);
            e.1.add(i);
        }
    }
}

/// Prints the outcomes of pods spawned after training, with the ground truth,
/// and counts how well the outcomes match it.
struct DemoSink {
    sim: SimCluster,
    out: Arc<Out>,
    verbose: bool,
    tally: Mutex<Tally>,
    /// Each class's training containers in the model's open set.
    trained: BTreeMap<String, usize>,
}

fn describe(truth: &Truth) -> String {
    match Kind::of(truth) {
        Kind::Honest => format!("behaves like {}", truth.behaves_as),
        Kind::Impostor => format!(
            "impostor: named {}, behaves like {}",
            truth.named_as.as_deref().unwrap_or(NO_CLASS),
            truth.behaves_as
        ),
        Kind::Unknown => match &truth.named_as {
            Some(n) => format!("{} (not a class), named like {n}", truth.behaves_as),
            None => format!("{} (not a class)", truth.behaves_as),
        },
        Kind::Unclaimed => format!("behaves like {}, claims no class", truth.behaves_as),
        Kind::Sidecar => format!("sidecar {}", truth.behaves_as),
    }
}

#[async_trait]
impl VerdictSink for DemoSink {
    fn name(&self) -> &str {
        "demo"
    }

    async fn record(&self, outcome: &Outcome) -> Result<(), SinkError> {
        let mut t = self.tally.lock().map_err(|_| SinkError::new("demo", "poisoned"))?;
        let Some(truth) = self.sim.container_truth(&outcome.pod().container(outcome.container())) else {
            return Ok(());
        };
        let kind = Kind::of(&truth);
        t.outcomes += 1;
        // Sidecar containers are counted apart and never enter the sweep's
        // rates: their outcome is `skipped: sidecar`; one judged instead is
        // a mistake of the labels, shown as such.
        let flagged = matches!(outcome, Outcome::Classified(v) if v.is_anomaly());
        let count = t.count(kind);
        let one = if matches!(outcome, Outcome::Skipped { .. }) {
            Count {
                skipped: 1,
                ..Count::default()
            }
        } else {
            Count {
                judged: 1,
                flagged: usize::from(flagged),
                skipped: 0,
            }
        };
        count.add(one);
        if kind == Kind::Unknown {
            t.unknown_by_service
                .entry(truth.behaves_as.clone())
                .or_default()
                .add(one);
        }
        if matches!(kind, Kind::Honest | Kind::Impostor) {
            let claimed = truth.named_as.as_deref().unwrap_or(&truth.behaves_as);
            let n = self.trained.get(claimed).copied().unwrap_or(0);
            let e = t.by_containers.entry(n).or_default();
            if kind == Kind::Honest { &mut e.0 } else { &mut e.1 }.add(one);
        }
        let mark = match (kind, flagged) {
            (Kind::Honest | Kind::Unclaimed, false) => "ok      ",
            (Kind::Honest | Kind::Unclaimed, true) => "flagged ",
            (Kind::Impostor | Kind::Unknown, true) => "caught  ",
            (Kind::Impostor | Kind::Unknown, false) => "MISSED  ",
            (Kind::Sidecar, true) => "sidecar!",
            (Kind::Sidecar, false) => "sidecar?",
        };
        // Not matched exhaustively: outcomes other than a verdict (timed
        // out, deleted, skipped, …) are counted by their kind.
        if let Outcome::Classified(v) = outcome {
            t.classified += 1;
            t.right += usize::from(v.predicted == truth.behaves_as);
            if kind == Kind::Honest && flagged {
                let cause = match v.anomaly {
                    Some(AnomalyReason::Mismatch) => format!(
                        "impostor: {} judged like {}",
                        v.claimed.as_deref().unwrap_or(NO_CLASS),
                        v.behaves_like.as_deref().unwrap_or(&v.predicted)
                    ),
                    Some(AnomalyReason::NoKnownClass) => {
                        format!("unknown: {} (classified {})", truth.behaves_as, v.predicted)
                    }
                    _ => format!("low confidence ({} judged {})", truth.behaves_as, v.predicted),
                };
                *t.honest_causes.entry(cause).or_default() += 1;
            }
            if kind == Kind::Unknown {
                let what = format!(
                    "{} judged {}{}",
                    truth.behaves_as,
                    v.predicted,
                    if flagged { " (flagged)" } else { "" }
                );
                *t.unknown_as.entry(what).or_default() += 1;
            }
            if self.verbose {
                self.out.line(&format!(
                    "  {mark} {v}   [truth: {}; {} s after start]",
                    describe(&truth),
                    v.time_to_verdict.as_secs()
                ));
            }
        } else {
            match outcome.kind() {
                "timed_out" => t.timed_out += 1,
                "deleted" => t.deleted += 1,
                "skipped" => t.skipped += 1,
                _ => {}
            }
            if self.verbose {
                self.out.line(&format!(
                    "  {:<8} {outcome}   [truth: {}]",
                    outcome.kind(),
                    describe(&truth)
                ));
            }
        }
        Ok(())
    }
}

/// Runs the demo (or the sweep) on a current-thread runtime with paused
/// (virtual) time.
pub fn run(args: &DemoArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()?;
    rt.block_on(async {
        match args.sweep {
            Some(seeds) => sweep(args, seeds).await,
            None => demo(args, args.sim_seed, true).await.map(|_| ()),
        }
    })
}

/// The last line of `cad demo --sweep N`, exactly as the issue asks:
/// `sweep N seeds: impostors flagged A/B, unknown services flagged C/D,
/// honest pods flagged E/F, grouped accuracy G %` (G: the mean of the
/// seeds' grouped accuracies, in percent, one decimal).
fn sweep_line(seeds: u64, t: &Tally, accuracy: &[f64]) -> String {
    let g = if accuracy.is_empty() {
        "n/a".to_owned()
    } else {
        format!("{:.1}", 100.0 * accuracy.iter().sum::<f64>() / accuracy.len() as f64)
    };
    format!(
        "sweep {seeds} seeds: impostors flagged {}/{}, unknown services flagged {}/{}, honest pods flagged {}/{}, grouped accuracy {g} %",
        t.impostors.flagged, t.impostors.judged, t.unknown.flagged, t.unknown.judged, t.honest.flagged, t.honest.judged
    )
}

/// Honest pods and impostors flagged of judged, by how many training
/// containers the class they claim had (`None` without a judged one): the
/// table of docs/measurements.md, "How many training containers", comes
/// from this line.
fn by_containers_line(t: &Tally) -> Option<String> {
    let each: Vec<String> = t
        .by_containers
        .iter()
        .filter(|(_, (h, i))| h.judged + i.judged > 0)
        .map(|(n, (h, i))| format!("{n}: {}/{} and {}/{}", h.flagged, h.judged, i.flagged, i.judged))
        .collect();
    (!each.is_empty()).then(|| {
        format!(
            "honest pods and impostors flagged, by the training containers of the class they claim: {}",
            each.join("; ")
        )
    })
}

/// Pods of a class that claim none, judged like no known class (`None`
/// without any): the cost of `--unclaimed-false-unknown-rate`.
fn unclaimed_line(c: &Count) -> Option<String> {
    (c.judged > 0).then(|| {
        format!(
            "pods of a class claiming no class (a name and an image of their own), judged like no known class: {}/{}",
            c.flagged, c.judged
        )
    })
}

/// What became of the sidecar containers: skipped, as they should be, or
/// judged (a mistake of the labels).
fn sidecar_line(c: &Count) -> String {
    let mut line = format!("sidecar containers skipped: {} of {}", c.skipped, c.skipped + c.judged);
    if c.judged > 0 {
        line.push_str(&format!(
            "; {} judged like app containers (not recognised as sidecars), {} of them flagged",
            c.judged, c.flagged
        ));
    }
    line
}

/// The app containers not judged (`None`: none): with the simulator's small
/// training sets a class can have fewer than two training pods, and the
/// watcher skips containers claiming it (`skipped: claims …, of which the
/// model has 1 training container`). The rates count them as not flagged
/// (they are over the pods spawned).
fn unjudged_line(t: &Tally) -> Option<String> {
    let (h, i, u) = (t.honest.skipped, t.impostors.skipped, t.unknown.skipped);
    (h + i + u > 0).then(|| {
        format!(
            "not judged (claiming a class with fewer than {} training containers): {h} honest, {i} impostors, {u} of \
             services outside the class list",
            cad_core::openset::MIN_CONTAINERS_TO_JUDGE
        )
    })
}

fn top(map: &BTreeMap<String, usize>, n: usize) -> String {
    let mut v: Vec<_> = map.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let shown: Vec<String> = v.iter().take(n).map(|(k, c)| format!("{k} {c}")).collect();
    let rest: usize = v.iter().skip(n).map(|(_, c)| **c).sum();
    match (shown.is_empty(), rest) {
        (true, _) => "none".to_owned(),
        (false, 0) => shown.join(", "),
        (false, r) => format!("{}, others {r}", shown.join(", ")),
    }
}

/// Every service's flagged of judged, in name order (`none` without any).
fn per_service(map: &BTreeMap<String, Count>) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    let each: Vec<String> = map
        .iter()
        .map(|(s, c)| format!("{s} {}/{}", c.flagged, c.judged))
        .collect();
    each.join(", ")
}

/// When the demo run of `seed` starts: within a minute after
/// 2026-01-01T00:00:00Z, at an offset drawn from the seed, so that a seed
/// gives the same outcomes on every run and the seeds of a sweep see the
/// watcher's ticks at different phases.
fn demo_start(seed: u64) -> Timestamp {
    let offset_ms = seed.wrapping_mul(7_919) % 60_000;
    Timestamp::from_secs(1_767_225_600) + Duration::from_millis(offset_ms)
}

async fn sweep(args: &DemoArgs, seeds: u64) -> Result<()> {
    let mut total = Tally::default();
    let mut accuracy = Vec::new();
    for seed in 1..=seeds {
        let (t, acc) = demo(args, seed, false).await?;
        output::println(&format!(
            "seed {seed}: impostors flagged {}/{}, unknown services flagged {}/{}, honest pods flagged {}/{}, sidecars skipped {}/{}, grouped accuracy {}",
            t.impostors.flagged,
            t.impostors.judged,
            t.unknown.flagged,
            t.unknown.judged,
            t.honest.flagged,
            t.honest.judged,
            t.sidecars.skipped,
            t.sidecars.skipped + t.sidecars.judged,
            acc.map_or("n/a".to_owned(), |a| format!("{:.1} %", 100.0 * a)),
        ))?;
        accuracy.extend(acc);
        total.add(t);
    }
    output::println(&format!(
        "honest pods flagged, by cause: {}",
        top(&total.honest_causes, 8)
    ))?;
    output::println(&format!(
        "services outside the class list, judged as: {}",
        top(&total.unknown_as, 8)
    ))?;
    output::println(&format!(
        "services outside the class list, flagged per service: {}",
        per_service(&total.unknown_by_service)
    ))?;
    if let Some(line) = unjudged_line(&total) {
        output::println(&line)?;
    }
    if let Some(line) = by_containers_line(&total) {
        output::println(&line)?;
    }
    if let Some(line) = unclaimed_line(&total.unclaimed) {
        output::println(&line)?;
    }
    output::println(&sidecar_line(&total.sidecars))?;
    output::println(&sweep_line(seeds, &total, &accuracy))
}

/// The new pods the demo spawns while watching, in a random order drawn
/// from the simulator's seed.
fn new_pods(args: &DemoArgs, sim: &SimCluster, seed: u64) -> Vec<PodSpec> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xDE30_5EED);
    let classes = sim.class_names();
    let unknown = sim.unknown_service_names();
    let impostors = if classes.len() >= 2 { args.impostors } else { 0 };
    if impostors < args.impostors {
        tracing::warn!("impostors need at least 2 classes; none spawned");
    }
    let mut specs = Vec::new();
    for i in 0..args.honest {
        specs.push(PodSpec::new(classes[i % classes.len()].clone()));
    }
    for _ in 0..impostors {
        let named = rng.random_range(0..classes.len());
        let behaves = (named + rng.random_range(1..classes.len())) % classes.len();
        specs.push(PodSpec::impostor(classes[named].clone(), classes[behaves].clone()));
    }
    if !unknown.is_empty() {
        for _ in 0..args.unknown {
            let svc = unknown[rng.random_range(0..unknown.len())].clone();
            specs.push(if rng.random::<f64>() < UNKNOWN_NAMED_LIKE_CLASS {
                PodSpec::impostor(classes[rng.random_range(0..classes.len())].clone(), svc)
            } else {
                PodSpec::new(svc)
            });
        }
    }
    for s in &mut specs {
        if rng.random::<f64>() < SIDECAR_SHARE {
            s.sidecar = Some(DEFAULT_SIDECARS[rng.random_range(0..DEFAULT_SIDECARS.len())].to_owned());
        }
    }
    specs.shuffle(&mut rng);
    // From a stream of their own, so that without them (the default) the
    // other pods are exactly those of before.
    let mut own = ChaCha8Rng::seed_from_u64(seed ^ 0x0C1A_1AED);
    for i in 0..args.unclaimed {
        let class = classes[own.random_range(0..classes.len())].clone();
        let image = format!(
            "registry.example.com/team-{}/service-{i}:{}",
            own.random_range(1..10),
            own.random_range(1..30)
        );
        let at = own.random_range(0..=specs.len());
        specs.insert(at, PodSpec::unnamed(class).with_image(image));
    }
    specs
}

/// One demo run on the simulator with `sim_seed`: the outcomes of the new
/// pods and the grouped accuracy. `verbose` prints everything and writes the
/// output files; otherwise it prints nothing.
/// How far back the demo looks for past pods (`--sim-past-pods`), as
/// `cad-collector --past-pods 30d` would: the simulator's pods of removed
/// workloads ended within 30 days.
const PAST_LOOK_BACK: Duration = Duration::from_secs(30 * 86_400);

async fn demo(args: &DemoArgs, sim_seed: u64, verbose: bool) -> Result<(Tally, Option<f64>)> {
    let say = |line: &str| if verbose { output::println(line) } else { Ok(()) };
    // A start drawn from the seed, not the wall clock: where the simulator's
    // samples fall against the watcher's ticks depends on it. With the wall
    // clock two runs of one seed gave different outcomes (the sweep moved by a
    // few pods); with one fixed start every seed would share one phase.
    let clock = Arc::new(TokioClock::starting_at(demo_start(sim_seed)));
    // The training pods are trusted (as with scripts/training-pods.sh on a
    // real cluster): no impostors and nothing else under a class's name
    // among them. Pods named like no class (redis-0, web-…) are there: those
    // whose image names a class (web-… running httpd) are trained on as that
    // class, the others are not. New pods only spawn once the watcher runs.
    let mut sim_config = SimConfig::training(sim_seed, args.sim_pods);
    sim_config.past_pods = args.sim_past_pods;
    sim_config.replicas = args.sim_replicas;
    let sim = SimCluster::new(sim_config, clock.clone());
    let pods = sim.pods();
    say(&format!(
        "== cad demo: a simulated cluster (seed {sim_seed}) with {} running pods of {} classes ({}) and {} other services ({})",
        pods.len(),
        sim.class_names().len(),
        sim.class_names().join(", "),
        sim.unknown_service_names().len(),
        sim.unknown_service_names().join(", ")
    ))?;

    // 1. Collect.
    let features = FeatureSet::behaviour();
    let collect = CollectConfig {
        past: if args.sim_past_pods > 0 {
            PAST_LOOK_BACK
        } else {
            Duration::ZERO
        },
        ..CollectConfig::default()
    };
    let (data, stats) = sim.collect_training_set(&features, &collect).await?;
    let past = if stats.past_pods + stats.past_pods_of_running + stats.past_pods_same_workload > 0 {
        format!(
            "; past pods: {} trained on (the latest of each removed workload), {} left out",
            stats.past_pods,
            stats.past_pods_of_running + stats.past_pods_same_workload
        )
    } else {
        String::new()
    };
    let past = if stats.replicated_containers > 0 {
        format!(
            "{past}; {} of them replicas of a ReplicaSet, kept on one side of every split",
            stats.replicated_containers
        )
    } else {
        past
    };
    say(&format!(
        "== collected {} rows from {} containers ({} pods named like a class, {} metric queries{past}), feature set {}",
        stats.rows, stats.containers_with_rows, stats.labelled_pods, stats.fetches, features.name
    ))?;

    // 2. Train and evaluate (a sweep skips the learning curve and the files).
    let config = TrainConfig {
        algorithm: args.algorithm.algorithm(&AlgorithmSettings::defaults(args.seed)),
        method: Some(Method::GroupedKFold { k: 5, seed: args.seed }),
        curve_points: if verbose { 10 } else { 0 },
        // As the collector's default --training-ratio 0.7 gives it.
        curve_test_ratio: 1.0 - 0.7,
        seed: args.seed,
        trained_on: format!("simulated cluster, seed {sim_seed} (demo model)"),
        open_set: Some(cad_core::openset::NoveltyParams {
            unknown_test: args.unknown_test.unknown_test(),
            ..Default::default()
        }),
        ..TrainConfig::default()
    };
    let trained = train_with_progress(&data, &features, &config, clock.now())?;
    let accuracy = trained.report.as_ref().and_then(|r| r.accuracy);
    if verbose {
        match &trained.report {
            Some(r) => output::println(&format!("\n{r}"))?,
            None => output::println(&format!("\n{}", trained.evaluation_skipped.clone().unwrap_or_default()))?,
        }
        let written = write_outputs(&args.out_dir, None, &trained, Some((&stats, "simulated cluster")))?;
        output::println(&format!(
            "== model, report, tree and plots written to {} (model: {})\n",
            args.out_dir.display(),
            written.model.display()
        ))?;
    }

    // 3. Watch: the pods already running were the training data and are not
    // judged; the new pods spawn in the first half of `--watch-for`; then
    // the watch goes on until every one has its outcome (at most the timeout
    // after its start).
    let out = Arc::new(Out::default());
    let trained_containers = trained
        .bundle
        .open_set
        .as_ref()
        .map(|o| {
            o.trained_containers_per_class()
                .into_iter()
                .map(|(class, n)| (class.to_owned(), n))
                .collect()
        })
        .unwrap_or_default();
    let sink = Arc::new(DemoSink {
        sim: sim.clone(),
        out: out.clone(),
        verbose,
        tally: Mutex::new(Tally::default()),
        trained: trained_containers,
    });
    let watcher_config = WatcherConfig {
        existing_pods: ExistingPods::None,
        false_anomaly_rate: args.false_anomaly_rate,
        unclaimed_false_unknown_rate: args.unclaimed_false_unknown_rate,
        confirm_windows: args.confirm_windows,
        normal_at_once: args.normal_at_once,
        ..WatcherConfig::default()
    };
    let model = ActiveModel::from_bundle(trained.bundle);
    let drain = watcher_config.timeout_for(&model) + 2 * watcher_config.poll_interval;
    let watcher = Watcher::new(
        Arc::new(sim.clone()),
        Arc::new(sim.clone()),
        clock.clone(),
        ModelHandle::new(model),
        watcher_config,
    )
    .with_sink(sink.clone());
    let specs = new_pods(args, &sim, sim_seed);
    let spawned: Vec<Kind> = specs
        .iter()
        .map(|s| match (&s.named_as, sim.class_names().contains(&s.behaves_as)) {
            (_, false) => Kind::Unknown,
            (Some(n), true) if *n != s.behaves_as => Kind::Impostor,
            (None, true) => Kind::Unclaimed,
            _ => Kind::Honest,
        })
        .collect();
    let n_of = |k: Kind| spawned.iter().filter(|x| **x == k).count();
    let unclaimed = match n_of(Kind::Unclaimed) {
        0 => String::new(),
        n => format!(", {n} of a class claiming none"),
    };
    say(&format!(
        "== watching {} new pods ({} honest, {} impostors, {} of services outside the class list{unclaimed}; {} with a \
         sidecar) spawned over {} of simulated time, until each has an outcome (a verdict needs {} complete metric \
         snapshots):",
        specs.len(),
        n_of(Kind::Honest),
        n_of(Kind::Impostor),
        n_of(Kind::Unknown),
        specs.iter().filter(|s| s.sidecar.is_some()).count(),
        humantime::format_duration(args.watch_for / 2),
        features.window
    ))?;
    let interval = (args.watch_for / 2) / (specs.len() as u32 + 1);
    let spawner = {
        let sim = sim.clone();
        let clock = clock.clone();
        async move {
            for spec in specs {
                clock.sleep(interval).await;
                sim.spawn(spec);
            }
        }
    };
    let stop = async {
        tokio::select! {
            _ = clock.sleep(args.watch_for + drain) => {}
            _ = out.stop.notified() => {}
        }
    };
    let (stats, ()) = tokio::join!(watcher.run_until(stop), spawner);
    out.result()?;
    let t = sink
        .tally
        .lock()
        .map(|mut t| std::mem::take(&mut *t))
        .unwrap_or_default();
    // Pods without an outcome (still waiting) count as not flagged: the
    // rates are over the pods spawned.
    let mut t = t;
    t.honest.judged = n_of(Kind::Honest);
    let impostors_judged = t.impostors.judged;
    t.impostors.judged = n_of(Kind::Impostor);
    t.unknown.judged = n_of(Kind::Unknown);
    t.unclaimed.judged = n_of(Kind::Unclaimed);
    if verbose {
        let mut line = format!(
            "\n== {} outcomes for the new pods' containers: {} classified ({} behave as predicted), {} timed out without metrics, {} deleted first, {} skipped",
            t.outcomes, t.classified, t.right, t.timed_out, t.deleted, t.skipped
        );
        if stats.still_pending > 0 {
            line.push_str(&format!(
                "; {} containers of pods spawned in the last {} s were still waiting when the demo ended",
                stats.still_pending,
                drain.as_secs()
            ));
        }
        output::println(&line)?;
        let mut line = format!(
            "== impostors caught: {} of {}; services outside the class list flagged: {} of {}; honest pods flagged (impostor or unknown): {} of {}",
            t.impostors.flagged,
            t.impostors.judged,
            t.unknown.flagged,
            t.unknown.judged,
            t.honest.flagged,
            t.honest.judged
        );
        let unjudged = t.impostors.judged.saturating_sub(impostors_judged);
        if unjudged > 0 {
            line.push_str(&format!(
                "\n== {unjudged} of the {} impostors spawned got no outcome before the demo ended",
                t.impostors.judged
            ));
        }
        if let Some(skipped) = unjudged_line(&t) {
            line.push_str(&format!("\n== {skipped}"));
        }
        if let Some(unclaimed) = unclaimed_line(&t.unclaimed) {
            line.push_str(&format!("\n== {unclaimed}"));
        }
        output::println(&line)?;
        output::println(&format!("== {}", sidecar_line(&t.sidecars)))?;
        output::println(&format!(
            "== {} metric queries in {} ticks (one per tick at most); the {} pods running at the start were the training data and were not judged",
            stats.fetches, stats.ticks, stats.skipped_at_start
        ))?;
    }
    Ok((t, accuracy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pods_claiming_no_class_leave_the_others_as_they_were() {
        use clap::Parser;
        let args = |extra: &[&str]| {
            let argv = [&["cad", "demo"], extra].concat();
            match crate::cli::Cli::parse_from(argv).command {
                crate::cli::Command::Demo(a) => a,
                _ => unreachable!("a demo command"),
            }
        };
        let sim = SimCluster::new(
            SimConfig::training(7, 60),
            Arc::new(TokioClock::starting_at(demo_start(7))),
        );
        let before = new_pods(&args(&[]), &sim, 7);
        let with = new_pods(&args(&["--unclaimed", "4"]), &sim, 7);
        let (unclaimed, others): (Vec<_>, Vec<_>) = with
            .into_iter()
            .partition(|s| s.named_as.is_none() && s.image.is_some());
        assert_eq!(others, before);
        assert_eq!(unclaimed.len(), 4);
        for s in &unclaimed {
            assert!(sim.class_names().contains(&s.behaves_as), "{s:?}");
            let image = s.image.as_deref().unwrap_or_default();
            assert!(sim.class_names().iter().all(|c| !image.contains(c.as_str())), "{image}");
        }
    }

    #[test]
    fn the_sweep_line_has_the_issues_format() {
        let t = Tally {
            impostors: Count {
                judged: 10,
                flagged: 9,
                skipped: 0,
            },
            unknown: Count {
                judged: 12,
                flagged: 3,
                skipped: 0,
            },
            honest: Count {
                judged: 60,
                flagged: 7,
                skipped: 0,
            },
            ..Tally::default()
        };
        assert_eq!(
            sweep_line(2, &t, &[0.75, 0.8]),
            "sweep 2 seeds: impostors flagged 9/10, unknown services flagged 3/12, honest pods flagged 7/60, grouped accuracy 77.5 %"
        );
    }

    #[test]
    fn sidecars_are_counted_as_skipped_and_a_judged_one_is_called_a_mistake() {
        let skipped = Count {
            judged: 0,
            flagged: 0,
            skipped: 7,
        };
        assert_eq!(sidecar_line(&skipped), "sidecar containers skipped: 7 of 7");
        let judged = Count {
            judged: 2,
            flagged: 1,
            skipped: 5,
        };
        assert_eq!(
            sidecar_line(&judged),
            "sidecar containers skipped: 5 of 7; 2 judged like app containers (not recognised as sidecars), 1 of them flagged"
        );
    }

    #[test]
    fn honest_pods_and_impostors_are_tallied_by_their_class_containers_over_seeds() {
        let c = |judged, flagged, skipped| Count {
            judged,
            flagged,
            skipped,
        };
        let mut total = Tally::default();
        assert_eq!(by_containers_line(&total), None);
        for (n, honest, impostors) in [
            (3, c(10, 1, 0), c(2, 2, 0)),
            (1, c(0, 0, 4), c(0, 0, 1)),
            (3, c(5, 0, 0), c(1, 0, 0)),
        ] {
            let mut seed = Tally::default();
            seed.by_containers.insert(n, (honest, impostors));
            total.add(seed);
        }
        // Containers claiming a class of 1 are skipped, not judged: no entry.
        assert_eq!(
            by_containers_line(&total).as_deref(),
            Some(
                "honest pods and impostors flagged, by the training containers of the class they claim: 3: 1/15 and 2/3"
            )
        );
    }

    #[test]
    fn unknown_services_are_tallied_per_service_and_add_up_over_seeds() {
        let one = |flagged| Count {
            judged: 1,
            flagged,
            skipped: 0,
        };
        let mut total = Tally::default();
        for (svc, flagged) in [("redis", 1), ("kafka", 0), ("redis", 0)] {
            let mut seed = Tally::default();
            seed.unknown_by_service
                .entry(svc.to_owned())
                .or_default()
                .add(one(flagged));
            total.add(seed);
        }
        assert_eq!(per_service(&total.unknown_by_service), "kafka 0/1, redis 1/2");
        assert_eq!(per_service(&BTreeMap::new()), "none");
    }
}
