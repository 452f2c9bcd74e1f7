//! Issue 16's test of age-aware training: a model trained on simulated pods
//! that have run for hours to weeks flags at most 2 % of freshly started
//! honest pods, over many seeds. The same model trained on steady rows
//! only (no early history) is measured and printed beside it.
//!
//! ```text
//! cargo test -p cad-core --test ages -- --nocapture
//! ```

use cad_core::clock::{Clock, TokioClock};
use cad_core::engine::*;
use cad_core::features::FeatureSet;
use cad_core::sink::MemorySink;
use cad_core::time::Timestamp;
use cad_core::verdict::Outcome;
use cad_sim::{PodSpec, SimCluster, SimConfig};
use std::sync::Arc;
use std::time::Duration;

const SEEDS: u64 = 12;
const FRESH_PER_SEED: usize = 40;

/// Honest fresh pods flagged, and honest fresh pods classified, for one seed.
async fn flagged(seed: u64, young_horizon: Duration) -> (usize, usize) {
    let clock = Arc::new(TokioClock::starting_at(Timestamp::from_secs(1_700_000_000)));
    let mut config = SimConfig::training(seed, 60);
    config.mean_lifetime = Duration::ZERO;
    config.unknown_fraction = 0.0;
    config.unnamed_fraction = 0.0;
    config.silent_fraction = 0.0;
    let sim = SimCluster::new(config, clock.clone());
    // Every training pod has run for two hours at least (up to weeks).
    clock.sleep(Duration::from_secs(2 * 3600)).await;
    let oldest_young = sim
        .pods()
        .iter()
        .filter_map(|p| p.start_time)
        .map(|t| clock.now().since(t))
        .min()
        .unwrap_or_default();
    assert!(oldest_young >= Duration::from_secs(2 * 3600));

    let features = FeatureSet::behaviour();
    let collect = CollectConfig {
        young_horizon,
        ..CollectConfig::default()
    };
    let (data, _) = sim.collect_training_set(&features, &collect).await.unwrap();
    let train_config = TrainConfig {
        method: None,
        curve_points: 0,
        seed,
        ..TrainConfig::default()
    };
    let trained = train(&data, &features, &train_config, clock.now(), &mut |_| {}).unwrap();

    // Fresh honest pods of every class, one app container each; the watcher
    // judges each on its first window.
    let classes = sim.class_names();
    let fresh: Vec<_> = (0..FRESH_PER_SEED)
        .map(|i| sim.spawn(PodSpec::new(classes[i % classes.len()].clone())))
        .collect();
    let sink = Arc::new(MemorySink::new());
    let watcher = Watcher::new(
        Arc::new(sim.clone()),
        Arc::new(sim.clone()),
        clock.clone(),
        ModelHandle::new(ActiveModel::from_bundle(trained.bundle)),
        WatcherConfig {
            existing_pods: ExistingPods::None,
            ..WatcherConfig::default()
        },
    )
    .with_sink(sink.clone());
    watcher.run_until(clock.sleep(Duration::from_secs(180))).await;
    let (mut flagged, mut classified) = (0, 0);
    for o in sink.outcomes() {
        if let Outcome::Classified(v) = o
            && fresh.iter().any(|p| p.id == v.pod)
        {
            classified += 1;
            flagged += usize::from(v.is_anomaly());
        }
    }
    (flagged, classified)
}

/// Fresh honest pods flagged over [`SEEDS`] seeds: (flagged, classified)
/// with young and steady rows, then with steady rows only.
async fn sweep() -> ((usize, usize), (usize, usize)) {
    let (mut aware, mut steady) = ((0, 0), (0, 0));
    for seed in 1..=SEEDS {
        let a = flagged(seed, cad_core::age::DEFAULT_YOUNG_HORIZON).await;
        let s = flagged(seed, Duration::ZERO).await;
        eprintln!(
            "seed {seed}: age-aware {}/{} flagged, steady rows only {}/{}",
            a.0, a.1, s.0, s.1
        );
        aware = (aware.0 + a.0, aware.1 + a.1);
        steady = (steady.0 + s.0, steady.1 + s.1);
    }
    eprintln!(
        "{SEEDS} seeds, fresh honest pods flagged: age-aware {}/{} ({:.1} %), steady rows only {}/{} ({:.1} %)",
        aware.0,
        aware.1,
        100.0 * aware.0 as f64 / aware.1.max(1) as f64,
        steady.0,
        steady.1,
        100.0 * steady.0 as f64 / steady.1.max(1) as f64
    );
    (aware, steady)
}

/// The issue's target, with the watcher's defaults (open-set verdicts at
/// α = 0.01 on the calibrated statistic of 2 windows, the `behaviour` set
/// with windows of 4 snapshots): 1 of 480 (0.2 %) measured (3 of 480 with
/// windows of 3; 1 of 480 with `behaviour-v2` and each of 2
/// windows an anomaly; 3 of 480 with the median class scale before);
/// judged on the first window alone (`confirm_windows: 1`), 5 of 480 (1.0 %)
/// with the median scale. (Before the open-set verdicts: 27 of 480, 5.6 %.)
#[tokio::test(start_paused = true)]
async fn a_model_of_old_pods_flags_at_most_2_percent_of_fresh_honest_pods() {
    let (aware, _) = sweep().await;
    // Nearly every fresh pod gets a verdict in three minutes.
    assert!(aware.1 as u64 >= SEEDS * FRESH_PER_SEED as u64 * 9 / 10, "{aware:?}");
    assert!(
        aware.0 * 50 <= aware.1,
        "age-aware: {} of {} fresh honest pods flagged, more than 2 %",
        aware.0,
        aware.1
    );
}

/// Early histories never flag more fresh honest pods than steady rows only.
/// They helped while the features had levels that grow with age or follow
/// the load (27 against 41 of 480 before the open-set verdicts; 1 against 6
/// with `behaviour-v2`); with the `behaviour` set, which has none, and the
/// statistic of 2 windows, both flagged 3 of 480 with windows of 3
/// snapshots; with windows of 4, 1 against 7 of 480.
#[tokio::test(start_paused = true)]
async fn early_histories_flag_no_more_fresh_honest_pods_than_steady_rows_only() {
    let (aware, steady) = sweep().await;
    assert!(aware.1 as u64 >= SEEDS * FRESH_PER_SEED as u64 * 9 / 10, "{aware:?}");
    assert_eq!(aware.1, steady.1, "the same pods are judged");
    assert!(aware.0 <= steady.0, "age-aware {aware:?}, steady only {steady:?}");
}
