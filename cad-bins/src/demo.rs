//! `cad demo`: the whole mission on the embedded simulated cluster, in one
//! process and in simulated time (tokio's paused clock: a simulated quarter of
//! an hour takes seconds): collect, train, evaluate, print the confusion
//! matrix, then watch newly spawning pods — impostors among them — and print
//! each verdict next to the simulation's ground truth.

use crate::cli::DemoArgs;
use crate::cli::TrainArgs;
use crate::collect::{train_config, train_with_progress, write_outputs};
use crate::output;
use anyhow::{Context, Result};
use async_trait::async_trait;
use cad_core::engine::{
    ActiveModel, CollectConfig, ExistingPods, ModelHandle, Watcher, WatcherConfig, collect_dataset,
};
use cad_core::{Clock, FeatureSet, Labeler, NO_CLASS, Outcome, SinkError, Timestamp, TokioClock, VerdictSink};
use cad_sim::{PodSpec, SimCluster, SimConfig};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

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

/// Prints the outcomes of pods spawned after training, with the ground truth,
/// and counts how well the verdicts match it.
struct DemoSink {
    sim: SimCluster,
    out: Arc<Out>,
    tally: Mutex<Tally>,
}

#[derive(Default, Debug)]
struct Tally {
    new_pods: usize,
    right: usize,
    impostors: usize,
    impostors_flagged: usize,
    impostors_timed_out: usize,
    impostors_deleted: usize,
    honest_flagged: usize,
    timed_out: usize,
    deleted: usize,
}

#[async_trait]
impl VerdictSink for DemoSink {
    fn name(&self) -> &str {
        "demo"
    }

    async fn record(&self, outcome: &Outcome) -> Result<(), SinkError> {
        let mut t = self.tally.lock().map_err(|_| SinkError::new("demo", "poisoned"))?;
        t.new_pods += 1;
        let truth = self.sim.truth(outcome.pod());
        let impostor = truth.as_ref().is_some_and(|t| t.impostor);
        match outcome {
            Outcome::Classified(v) => {
                let Some(truth) = truth else { return Ok(()) };
                let correct = v.predicted == truth.behaves_as;
                t.right += usize::from(correct);
                let mark = match (truth.impostor, v.is_anomaly()) {
                    (true, true) => {
                        t.impostors += 1;
                        t.impostors_flagged += 1;
                        "caught  "
                    }
                    (true, false) => {
                        t.impostors += 1;
                        "MISSED  "
                    }
                    (false, true) => {
                        t.honest_flagged += 1;
                        "flagged "
                    }
                    (false, false) => "ok      ",
                };
                let what = if truth.impostor {
                    format!(
                        "impostor: named {}, behaves like {}",
                        truth.named_as.as_deref().unwrap_or(NO_CLASS),
                        truth.behaves_as
                    )
                } else {
                    format!("behaves like {}", truth.behaves_as)
                };
                self.out.line(&format!(
                    "  {mark} {v}   [truth: {what}; {} s after start]",
                    v.time_to_verdict.as_secs()
                ));
            }
            Outcome::TimedOut { .. } => {
                t.timed_out += 1;
                t.impostors_timed_out += usize::from(impostor);
                self.out.line(&format!("  timeout  {outcome}"));
            }
            Outcome::Deleted { .. } => {
                t.deleted += 1;
                t.impostors_deleted += usize::from(impostor);
                self.out.line(&format!("  gone     {outcome}"));
            }
        }
        Ok(())
    }
}

/// Runs the demo on a current-thread runtime with paused (virtual) time.
pub fn run(args: &DemoArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()?;
    rt.block_on(demo(args))
}

async fn demo(args: &DemoArgs) -> Result<()> {
    let clock = Arc::new(TokioClock::starting_at(Timestamp::now()));
    // The training pods are trusted (as with scripts/training-pods.sh on a
    // real cluster): impostors only appear once the watcher runs. Impostors
    // in the training data would be learnt under the class they claim.
    let mut config = SimConfig::default().with_seed(args.sim_seed);
    config.initial_pods = args.sim_pods;
    config.impostor_fraction = 0.0;
    let sim = SimCluster::new(config, clock.clone());
    let pods = sim.pods();
    output::println(&format!(
        "== cad demo: a simulated cluster (seed {}) with {} running pods of {} classes ({})",
        args.sim_seed,
        pods.len(),
        sim.class_names().len(),
        sim.class_names().join(", ")
    ))?;

    // 1. Collect.
    let labeler = Labeler::new(sim.class_names());
    let features = FeatureSet::behaviour();
    let (data, stats) = collect_dataset(
        &sim,
        &sim,
        clock.as_ref(),
        &labeler,
        &features,
        &CollectConfig::default(),
        &mut |_, _| {},
    )
    .await?;
    output::println(&format!(
        "== collected {} rows from {} containers ({} pods named like a class, {} metric queries), feature set {}",
        stats.rows, stats.containers_with_rows, stats.labelled_pods, stats.fetches, features.name
    ))?;

    // 2. Train and evaluate.
    let train_args = TrainArgs {
        algorithm: args.algorithm.clone(),
        max_depth: None,
        trees: 100,
        threads: 1,
        seed: args.seed,
        eval: "grouped-kfold".into(),
        folds: 5,
        training_ratio: 0.7,
        training_max_rows: None,
        curve_points: 10,
        max_classes: cad_core::engine::DEFAULT_MAX_CLASSES,
        false_anomaly_rate: cad_core::openset::DEFAULT_FALSE_ANOMALY_RATE,
        open_set_score: "novelty".into(),
    };
    let config = train_config(
        &train_args,
        format!("simulated cluster, seed {} (demo model)", args.sim_seed),
    )?;
    let trained = train_with_progress(&data, &features, &config, clock.now())?;
    match &trained.report {
        Some(r) => output::println(&format!("\n{r}"))?,
        None => output::println(&format!("\n{}", trained.evaluation_skipped.clone().unwrap_or_default()))?,
    }
    let written = write_outputs(&args.out_dir, None, &trained, Some(&stats))?;
    output::println(&format!(
        "== model, report, tree and plots written to {} (model: {})\n",
        args.out_dir.display(),
        written.model.display()
    ))?;

    // 3. Watch: the pods already running were the training data and are not
    // judged; new pods spawn, `--impostors` impostors among them, all in the
    // first half of `--watch-for`; then the watch goes on until every pod
    // spawned in `--watch-for` has its outcome (at most the timeout after
    // its start).
    let out = Arc::new(Out::default());
    let sink = Arc::new(DemoSink {
        sim: sim.clone(),
        out: out.clone(),
        tally: Mutex::new(Tally::default()),
    });
    let bundle = trained.bundle;
    let watcher_config = WatcherConfig {
        existing_pods: ExistingPods::None,
        ..WatcherConfig::default()
    };
    let drain = watcher_config.timeout + 2 * watcher_config.poll_interval;
    let watcher = Watcher::new(
        Arc::new(sim.clone()),
        Arc::new(sim.clone()),
        clock.clone(),
        ModelHandle::new(ActiveModel::from_bundle(bundle)),
        watcher_config,
    )
    .with_sink(sink.clone());
    output::println(&format!(
        "== watching newly spawning pods for {} of simulated time, then until each has an outcome \
         (a verdict needs {} complete metric snapshots):",
        humantime::format_duration(args.watch_for),
        features.window
    ))?;
    let impostors = if sim.class_names().len() > 2 { args.impostors } else { 0 };
    if impostors < args.impostors {
        tracing::warn!("impostors need at least 3 classes; none spawned");
    }
    let interval = (args.watch_for / 2) / (impostors as u32 + 1);
    let spawner = {
        let sim = sim.clone();
        let clock = clock.clone();
        async move {
            let classes = sim.class_names();
            let n = classes.len();
            for i in 0..impostors {
                clock.sleep(interval).await;
                // Named like class i, behaving like the class two further on.
                let (named, behaves) = (&classes[i % n], &classes[(i + 2) % n]);
                sim.spawn(PodSpec::impostor(named.clone(), behaves.clone()));
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
    let classified = t.new_pods - t.timed_out - t.deleted;
    let mut line = format!(
        "\n== {} new pods: {} classified ({} behave as predicted), {} timed out without metrics, {} deleted first",
        t.new_pods, classified, t.right, t.timed_out, t.deleted
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
        "== impostors caught: {} of {}; honest pods flagged (mismatch or low confidence): {}",
        t.impostors_flagged, t.impostors, t.honest_flagged
    );
    let unjudged = impostors.saturating_sub(t.impostors);
    if unjudged > 0 {
        line.push_str(&format!(
            "\n== {unjudged} of the {impostors} impostors spawned got no verdict: {} timed out without metrics, {} were deleted first, {} still waiting",
            t.impostors_timed_out,
            t.impostors_deleted,
            unjudged.saturating_sub(t.impostors_timed_out + t.impostors_deleted)
        ));
    }
    output::println(&line)?;
    output::println(&format!(
        "== {} metric queries in {} ticks (one per tick at most); the {} pods running at the start were the training data and were not judged",
        stats.fetches, stats.ticks, stats.skipped_at_start
    ))?;
    Ok(())
}
