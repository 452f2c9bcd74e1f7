//! Set-ups on the simulated cluster (`cad-sim`), all under a paused
//! current-thread tokio runtime: simulated minutes pass in no real time.

use async_trait::async_trait;
use cad_core::engine::watcher::Subject;
use cad_core::engine::{ActiveModel, CollectConfig, CollectStats, ModelHandle, WatchStats, Watcher, WatcherConfig};
use cad_core::engine::{TrainConfig, collect_dataset, train};
use cad_core::model::Algorithm;
use cad_core::sink::{SinkError, VerdictSink};
use cad_core::{
    Clock, ContainerInfo, ContainerInput, Dataset, FeatureSet, Labeler, MetricSource, Outcome, PodInfo, Sample,
    TimeWindow, Timestamp, TokioClock,
};
use cad_sim::{PodSpec, SimCluster, SimConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Where the simulated clocks start.
pub const EPOCH: Timestamp = Timestamp::from_secs(1_700_000_000);

/// Ten minutes: 60 samples per container at Telegraf's 10 s interval, the
/// collector's default window.
pub const TEN_MINUTES: Duration = Duration::from_secs(600);

/// A current-thread tokio runtime with paused time (timers fire as soon as
/// the runtime is idle).
pub fn paused_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
}

/// A cluster without churn holding `pods` honest pods of every class in turn
/// (one container each), spawned `age` ago. Call inside a paused runtime.
pub async fn aged_cluster(pods: usize, age: Duration, seed: u64) -> (Arc<TokioClock>, SimCluster) {
    let clock = Arc::new(TokioClock::starting_at(EPOCH));
    let mut config = SimConfig::default().with_seed(seed).without_churn();
    config.initial_pods = 0;
    let sim = SimCluster::new(config, clock.clone());
    let classes = sim.class_names();
    for i in 0..pods {
        sim.spawn(PodSpec::new(classes[i % classes.len()].clone()));
    }
    // The first samples come 10–20 s after the start: wait that much more.
    clock.sleep(age + Duration::from_secs(25)).await;
    (clock, sim)
}

/// One container with its samples, owned (see [`ContainerSamples::input`]).
#[derive(Clone, Debug)]
pub struct ContainerSamples {
    /// Its pod.
    pub pod: PodInfo,
    /// The container.
    pub container: ContainerInfo,
    /// Its samples in the window.
    pub samples: Vec<Sample>,
}

impl ContainerSamples {
    /// The feature extractor's view of it.
    pub fn input(&self) -> ContainerInput<'_> {
        ContainerInput {
            pod: &self.pod,
            container: &self.container,
            samples: &self.samples,
        }
    }
}

/// `n` containers of a simulated cluster with the last `window` of their
/// samples (`TEN_MINUTES`: ~60 samples of each metric family).
pub fn containers(n: usize, window: Duration) -> std::io::Result<Vec<ContainerSamples>> {
    paused_runtime()?.block_on(async {
        let (clock, sim) = aged_cluster(n, window, 1).await;
        let pods = sim.pods();
        let ids: Vec<_> = pods.iter().flat_map(|p| p.container_ids()).collect();
        let batch = sim
            .fetch(&ids, TimeWindow::ending_at(clock.now(), window))
            .await
            .map_err(std::io::Error::other)?;
        Ok(pods
            .iter()
            .flat_map(|p| {
                p.containers.iter().map(|c| ContainerSamples {
                    pod: p.clone(),
                    container: c.clone(),
                    samples: batch.samples(&p.id.container(c.name.clone())).to_vec(),
                })
            })
            .collect())
    })
}

/// Builds the collector's data set (behaviour features, last `window`) from a
/// prepared cluster.
pub async fn collect(
    sim: &SimCluster,
    clock: &TokioClock,
    window: Duration,
) -> Result<(Dataset, CollectStats), cad_core::engine::CollectError> {
    let labeler = Labeler::new(sim.class_names());
    let config = CollectConfig {
        window,
        ..CollectConfig::default()
    };
    collect_dataset(
        sim,
        sim,
        clock,
        &labeler,
        &FeatureSet::behaviour(),
        &config,
        &mut |_, _| {},
    )
    .await
}

/// The collector's data set (behaviour features, the last 5 minutes) of
/// `pods` simulated containers of a cluster drawn with `seed`.
pub fn dataset(pods: usize, seed: u64) -> Result<Dataset, Box<dyn std::error::Error>> {
    paused_runtime()?.block_on(async {
        let (clock, sim) = aged_cluster(pods, Duration::from_secs(300), seed).await;
        let (data, _) = collect(&sim, &clock, Duration::from_secs(300)).await?;
        Ok(data)
    })
}

/// A decision tree on the behaviour features, trained on `pods` simulated
/// containers (the last 5 minutes of each), ready for the watcher.
pub fn trained_model(pods: usize) -> Result<ActiveModel, Box<dyn std::error::Error>> {
    let data = dataset(pods, 2)?;
    let classes = data.classes().to_vec();
    let model = Algorithm::default().fit(&data)?;
    Ok(ActiveModel {
        classifier: Arc::new(model),
        classes,
        features: FeatureSet::behaviour(),
        description: format!("tree on {} simulated rows", data.n_rows()),
        ages: None,
        open_set: None,
        confidence: None,
    })
}

/// A model trained as `cad-collector` trains one (`engine::train`: a
/// decision tree, the default open-set model with its two-window
/// calibration, the open-set forest's calibrated confidence) on `pods`
/// simulated containers of a cluster drawn with seed 2, ready for the
/// watcher.
pub fn calibrated_model(pods: usize) -> Result<ActiveModel, Box<dyn std::error::Error>> {
    let data = dataset(pods, 2)?;
    let config = TrainConfig {
        method: None,
        curve_points: 0,
        ..TrainConfig::default()
    };
    let trained = train(&data, &FeatureSet::behaviour(), &config, EPOCH, ())?;
    Ok(ActiveModel::from_bundle(trained.bundle))
}

/// The first `n` rows of `data` (at most), each with its class's name: the
/// class a container of that row claims.
pub fn claimed_rows(data: &Dataset, n: usize) -> Vec<(Vec<Option<f64>>, String)> {
    (0..data.n_rows().min(n))
        .map(|i| (data.row(i), data.classes()[data.label(i)].clone()))
        .collect()
}

/// A container `c` of `pod` claiming class `claimed`, judged at [`EPOCH`].
pub fn subject<'a>(pod: &'a PodInfo, claimed: &str) -> Subject<'a> {
    Subject {
        pod,
        container: "c",
        claimed: Some(claimed.to_owned()),
        time: EPOCH,
        time_to_verdict: Duration::ZERO,
        at_start: false,
    }
}

/// Counts outcomes, so a run can stop once every container has one.
#[derive(Debug, Default)]
struct Counting(AtomicU64);

#[async_trait]
impl VerdictSink for Counting {
    fn name(&self) -> &str {
        "count"
    }

    async fn record(&self, _outcome: &Outcome) -> Result<(), SinkError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// What a [`watcher_burst`] did.
#[derive(Clone, Debug)]
pub struct BurstReport {
    /// Pods spawned.
    pub pods: usize,
    /// Their containers.
    pub containers: usize,
    /// The watcher's counts.
    pub stats: WatchStats,
    /// `MetricSource::fetch` calls the simulated cluster saw.
    pub fetch_calls: u64,
    /// Simulated time until every container had an outcome.
    pub simulated: Duration,
    /// Real time of the whole run (spawning included).
    pub wall: Duration,
}

/// Runs a watcher on a fresh simulated cluster (in its own paused runtime),
/// spawns `pods` pods at once a second after it starts, and stops when every
/// container has an outcome (or after 10 simulated minutes).
pub fn watcher_burst(pods: usize, model: &ModelHandle) -> std::io::Result<BurstReport> {
    let rt = paused_runtime()?;
    let wall = Instant::now();
    let mut report = rt.block_on(async {
        let clock = Arc::new(TokioClock::starting_at(EPOCH));
        let mut config = SimConfig::default().with_seed(3).without_churn();
        config.initial_pods = 0;
        config.silent_fraction = 0.0;
        let sim = SimCluster::new(config, clock.clone());
        let counter = Arc::new(Counting::default());
        let watcher = Watcher::new(
            Arc::new(sim.clone()),
            Arc::new(sim.clone()),
            clock.clone(),
            model.clone(),
            WatcherConfig::default(),
        )
        .with_sink(counter.clone());
        let containers = Arc::new(AtomicU64::new(u64::MAX));
        let stop = {
            let (clock, counter, containers, sim) = (clock.clone(), counter.clone(), containers.clone(), sim.clone());
            async move {
                clock.sleep(Duration::from_secs(1)).await;
                let classes = sim.class_names();
                let n: usize = (0..pods)
                    .map(|i| {
                        sim.spawn(PodSpec::new(classes[i % classes.len()].clone()))
                            .containers
                            .len()
                    })
                    .sum();
                containers.store(n as u64, Ordering::Relaxed);
                let start = clock.now();
                while counter.0.load(Ordering::Relaxed) < n as u64 && clock.now().since(start) < TEN_MINUTES {
                    clock.sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let stats = watcher.run_until(stop).await;
        BurstReport {
            pods,
            containers: containers.load(Ordering::Relaxed) as usize,
            stats,
            fetch_calls: sim.fetch_calls(),
            simulated: clock.now().since(EPOCH),
            wall: Duration::ZERO,
        }
    });
    report.wall = wall.elapsed();
    Ok(report)
}
