//! `cad demo`: the whole mission on the embedded simulated cluster, in one
//! process and in simulated time (tokio's paused clock: a simulated quarter of
//! an hour takes seconds): collect, train, evaluate, print the confusion
//! matrix, then watch newly spawning pods — impostors among them — and print
//! each verdict next to the simulation's ground truth.

use crate::cli::DemoArgs;
use crate::cli::TrainArgs;
use crate::collect::{train_config, train_with_progress, write_outputs};
use anyhow::Result;
use async_trait::async_trait;
use cad_core::engine::{ActiveModel, CollectConfig, ModelHandle, Watcher, WatcherConfig, collect_dataset};
use cad_core::sim::{PodSpec, SimCluster, SimConfig};
use cad_core::{Clock, FeatureSet, Labeler, Outcome, SinkError, Timestamp, TokioClock, VerdictSink};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// Prints the outcomes of pods spawned after training, with the ground truth,
/// and counts how well the verdicts match it.
struct DemoSink {
    sim: SimCluster,
    before: HashSet<String>,
    tally: Mutex<Tally>,
}

#[derive(Default, Debug)]
struct Tally {
    new_pods: usize,
    right: usize,
    impostors: usize,
    impostors_flagged: usize,
    honest_flagged: usize,
    timed_out: usize,
    deleted: usize,
    old_pods: usize,
}

#[async_trait]
impl VerdictSink for DemoSink {
    fn name(&self) -> &str {
        "demo"
    }

    async fn record(&self, outcome: &Outcome) -> Result<(), SinkError> {
        let mut t = self.tally.lock().map_err(|_| SinkError::new("demo", "poisoned"))?;
        if self.before.contains(&outcome.pod().uid) {
            t.old_pods += 1;
            return Ok(());
        }
        t.new_pods += 1;
        let truth = self.sim.truth(outcome.pod());
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
                        truth.named_as.as_deref().unwrap_or("-"),
                        truth.behaves_as
                    )
                } else {
                    format!("behaves like {}", truth.behaves_as)
                };
                println!(
                    "  {mark} {v}   [truth: {what}; {} s after start]",
                    v.time_to_verdict.as_secs()
                );
            }
            Outcome::TimedOut { .. } => {
                t.timed_out += 1;
                println!("  timeout  {outcome}");
            }
            Outcome::Deleted { .. } => {
                t.deleted += 1;
                println!("  gone     {outcome}");
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
    println!(
        "== cad demo: a simulated cluster (seed {}) with {} running pods of {} classes ({})",
        args.sim_seed,
        pods.len(),
        sim.class_names().len(),
        sim.class_names().join(", ")
    );

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
    println!(
        "== collected {} rows from {} containers ({} pods named like a class, {} metric queries), feature set {}",
        stats.rows, stats.containers_with_rows, stats.labelled_pods, stats.fetches, features.name
    );

    // 2. Train and evaluate.
    let train_args = TrainArgs {
        algorithm: args.algorithm.clone(),
        max_depth: None,
        max_leaves: None,
        min_leaf_rows: 1,
        trees: 100,
        threads: 1,
        seed: args.seed,
        eval: "grouped-kfold".into(),
        folds: 5,
        training_ratio: 0.7,
        training_max_rows: None,
        curve_points: 10,
    };
    let config = train_config(
        &train_args,
        format!("simulated cluster, seed {} (demo model)", args.sim_seed),
    )?;
    let trained = train_with_progress(&data, &features, &config, clock.now())?;
    match &trained.report {
        Some(r) => println!("\n{r}"),
        None => println!("\n{}", trained.evaluation_skipped.clone().unwrap_or_default()),
    }
    let written = write_outputs(&args.out_dir, None, &trained, Some(&stats))?;
    println!(
        "== model, report, tree and plots written to {} (model: {})\n",
        args.out_dir.display(),
        written.model.display()
    );

    // 3. Watch: pods already running are classified first (not printed: they
    // were the training data); new pods spawn, and `--impostors` impostors among them.
    let before: HashSet<String> = sim.pods().into_iter().map(|p| p.id.uid).collect();
    let sink = Arc::new(DemoSink {
        sim: sim.clone(),
        before,
        tally: Mutex::new(Tally::default()),
    });
    let bundle = trained.bundle;
    let watcher = Watcher::new(
        Arc::new(sim.clone()),
        Arc::new(sim.clone()),
        clock.clone(),
        ModelHandle::new(ActiveModel::from_bundle(bundle)),
        WatcherConfig::default(),
    )
    .with_sink(sink.clone());
    println!(
        "== watching newly spawning pods for {} of simulated time (a verdict needs {} complete metric snapshots):",
        humantime::format_duration(args.watch_for),
        features.window
    );
    let impostors = if sim.class_names().len() > 2 { args.impostors } else { 0 };
    let interval = args.watch_for / (impostors as u32 + 2);
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
    let (stats, ()) = tokio::join!(watcher.run_until(clock.sleep(args.watch_for)), spawner);
    let t = sink
        .tally
        .lock()
        .map(|mut t| std::mem::take(&mut *t))
        .unwrap_or_default();
    let classified = t.new_pods - t.timed_out - t.deleted;
    println!(
        "\n== {} new pods: {} classified ({} behave as predicted), {} timed out without metrics, {} deleted first",
        t.new_pods, classified, t.right, t.timed_out, t.deleted
    );
    println!(
        "== impostors caught: {} of {}; honest pods flagged (mismatch or low confidence): {}",
        t.impostors_flagged, t.impostors, t.honest_flagged
    );
    println!(
        "== plus {} outcomes for the pods that were already running; {} metric queries in {} ticks (one per tick at most)",
        t.old_pods, stats.fetches, stats.ticks
    );
    Ok(())
}
