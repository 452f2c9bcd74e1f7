//! # cad-sim
//!
//! A simulated Kubernetes cluster with Telegraf-like metrics, as hard as a
//! real one: the embedded default behind `cad demo`, every engine test and
//! the benchmarks.
//!
//! [`SimCluster`] implements [`PodSource`] and [`MetricSource`]. It is
//! deterministic from [`SimConfig::seed`] (for the same sequence of calls)
//! and follows an [`Arc<dyn Clock>`](Clock): under tokio's paused time an hour
//! of churn runs in milliseconds.
//!
//! Every profile is in one file, `cad-sim/profiles.toml` ([`Profiles`]),
//! each figure marked measured (recordings of real servers, a real k3s
//! cluster) or invented:
//!
//! * Services: the classes (nginx, apache, postgresql, mysql, mongodb) and
//!   services outside the class list (redis, memcached, rabbitmq,
//!   elasticsearch, kafka, a JVM web app, a Go API). Each pod draws a
//!   workload shape (idle, steady, bursty, batch) and a load over orders of
//!   magnitude; every pod has the kubelet probe's floor of traffic.
//! * Ages from minutes to weeks for the pods running at creation; start-up
//!   phases (initdb, index build, a JVM's start) and memory that grows with
//!   use (a buffer pool warming). Samples are computed from the pod's seed,
//!   the sample index and the time, never stored: any window of a pod's
//!   history, its first minutes included, costs O(samples in it).
//! * Sidecars (istio-proxy, linkerd-proxy, fluent-bit, …) in a share of the
//!   pods, whose activity follows the app's traffic or logs.
//! * Nodes with noisy neighbours (CPU-bound work loses a share, the same for
//!   every pod of the node), containerd nodes without block-I/O metrics,
//!   a node whose stats path writes 0 for fields it does not know, log
//!   rotation; container restarts reset the container's counters. On every
//!   node `cpu_usage_nanocores` is 0 at a container's first scrape and the
//!   first after a restart, as Telegraf writes it (the kubelet has no CPU
//!   rate before its second reading of a container).
//! * Impostors (named like one class, behaving like another), services
//!   outside the class list (named after themselves or like a class), pods
//!   of a class named like none, silent pods. [`SimCluster::truth`] and
//!   [`SimCluster::container_truth`] tell which.
//! * Samples come every [`SimConfig::sample_interval`] per pod, each family
//!   (container gauges, network, volume, block I/O) with its own jitter of up
//!   to 2 s, starting a delay after the pod starts. A fetch never returns
//!   samples after the clock's now, before the pod's start or after its
//!   deletion.
//! * Churn: [`SimConfig::initial_pods`] pods exist at creation; new pods
//!   spawn every [`SimConfig::spawn_every`] on average and live
//!   [`SimConfig::mean_lifetime`] on average. Tests add and remove pods with
//!   [`SimCluster::spawn`] and [`SimCluster::delete`].
//! * Deployments: every independent pod is a Deployment of its own (its own
//!   pod-template hash); [`SimConfig::replicas`] gives each initial
//!   Deployment pod near-twin replicas of its ReplicaSet.
//!
//! ```
//! use cad_sim::{PodSpec, SimCluster, SimConfig};
//! use cad_core::{Clock, MetricSource, PodSource, TimeWindow, Timestamp, TokioClock};
//! use std::{sync::Arc, time::Duration};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let clock = Arc::new(TokioClock::starting_at(Timestamp::from_secs(1_700_000_000)));
//! let sim = SimCluster::new(SimConfig::default().with_seed(7).without_churn(), clock.clone());
//! let pod = sim.spawn(PodSpec::impostor("nginx", "mysql").with_sidecar("istio-proxy"));
//! clock.sleep(Duration::from_secs(60)).await;
//! let ids: Vec<_> = pod.container_ids().collect();
//! assert_eq!(ids.len(), 2);
//! let batch = sim.fetch(&ids, TimeWindow::ending_at(clock.now(), Duration::from_secs(60))).await.unwrap();
//! assert!(batch.sample_count() > 0);
//! assert!(sim.truth(&pod.id).unwrap().impostor);
//! assert_eq!(sim.container_truth(&ids[1]).unwrap().sidecar.as_deref(), Some("istio-proxy"));
//! # }
//! ```

#![warn(missing_docs)]

mod cluster;
mod profile;
mod series;

pub use profile::{
    Exponent, Follows, Global, ImageVariant, LoadExponents, Memory, NodeProfile, Phase, ProfileError, Profiles, Range,
    Rates, ServiceProfile, Shape, Shapes, SidecarProfile, Tail, Volume,
};

/// The sidecar container names the simulator gives its sidecars (those of
/// `profiles.toml`): the first seven of cad-core's default sidecar list, its
/// named entries before the patterns, so that the labels skip them as they
/// would in a cluster (a test holds the two lists together).
pub const DEFAULT_SIDECARS: &[&str] = cad_core::label::DEFAULT_SIDECARS.split_at(7).0;

use async_trait::async_trait;
use cad_core::clock::Clock;
use cad_core::engine::{CollectConfig, CollectError, CollectStats, collect_dataset};
use cad_core::metric::MetricBatch;
use cad_core::pod::{ContainerId, PodId, PodInfo};
use cad_core::source::{MetricSource, PodEvent, PodSource, SeenContainer, SourceError};
use cad_core::time::{TimeWindow, Timestamp};
use cad_core::{Dataset, FeatureSet, Labeler};
use cluster::{SimPod, State};
use futures::stream::{self, BoxStream, StreamExt};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The most [`SimConfig::replicas`] allows.
const MAX_REPLICAS: usize = 10;

/// Which image an impostor pod runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ImpostorImage {
    /// The image of the class its name claims (a compromised nginx image):
    /// only behaviour gives it away.
    #[default]
    Claimed,
    /// The image of the class it behaves like (a mysql image in a pod named nginx).
    Actual,
}

/// How the simulated cluster is set up. [`Default`] gives the profiles of
/// `profiles.toml` and a demo-sized cluster with churn.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SimConfig {
    /// Everything random derives from this.
    pub seed: u64,
    /// Pods running when the cluster is created: independent draws (with
    /// [`replicas`](Self::replicas) above 1, their Deployments' other
    /// replicas come on top).
    pub initial_pods: usize,
    /// The initial pods' ages come from their service's `age_hours`
    /// (minutes to weeks), at most this.
    pub initial_max_age: Duration,
    /// Mean time between two spawned pods (exponential); zero: none spawn.
    pub spawn_every: Duration,
    /// Mean lifetime of a pod (exponential, counted from creation for the
    /// initial pods); zero: pods live until deleted explicitly.
    pub mean_lifetime: Duration,
    /// Fraction of pods named like one class that behave like another.
    pub impostor_fraction: f64,
    /// Fraction of pods running a service outside the class list.
    pub unknown_fraction: f64,
    /// Of those, the fraction named like a class (the others are named
    /// after their own service: `redis-0`).
    pub unknown_named_like_class: f64,
    /// Fraction of pods of a class named like no class (`web-…`, `api-…`).
    pub unnamed_fraction: f64,
    /// Fraction of pods that never report metrics.
    pub silent_fraction: f64,
    /// Probability that a container restarts within any one hour of running.
    pub restart_probability: f64,
    /// Fraction of pods with a sidecar container.
    pub sidecar_fraction: f64,
    /// Time between two samples of one pod (Telegraf's interval).
    pub sample_interval: Duration,
    /// Range of the delay from a pod's start to its first samples.
    pub metrics_delay: (Duration, Duration),
    /// Namespaces pods are spread over.
    pub namespaces: Vec<String>,
    /// Nodes pods are spread over.
    pub nodes: Vec<NodeProfile>,
    /// The classes of service, in order.
    pub classes: Vec<ServiceProfile>,
    /// Services outside the class list.
    pub unknown_services: Vec<ServiceProfile>,
    /// Sidecars.
    pub sidecars: Vec<SidecarProfile>,
    /// Figures for every pod.
    pub global: Global,
    /// Which image impostors run.
    pub impostor_image: ImpostorImage,
    /// Pods that ended before the cluster's creation, their metrics kept:
    /// no pod source lists them, [`MetricSource::containers_seen`] finds
    /// them. Half of them (invented share) are pods of workloads since
    /// removed (drawn as initial pods are, three to a namespace since
    /// deleted, `preview-…`, each ended within the 30 days before); the
    /// others are earlier pods of the running pods' workloads (a
    /// Deployment's replaced pods): each a copy of a running pod (service,
    /// load, shape, sidecar, image; a StatefulSet's keeps its name) with its
    /// own node, noise and times, ended as the next of its chain began.
    #[serde(default)]
    pub past_pods: usize,
    /// Replicas of each initial Deployment pod, 1 to 10; 1 (the default):
    /// every pod is a Deployment of its own. With `n > 1` each of the
    /// [`initial_pods`](Self::initial_pods) that is a Deployment's (not a
    /// StatefulSet's) comes with `n - 1` more running pods of its
    /// ReplicaSet: near twins that share its name up to the suffix
    /// (`nginx-7c5ddbdf54-…`), labels, image, truth and drawn behaviour
    /// (service, shape, load, sidecar), each with its own uid, node, noise,
    /// metrics delay and lifetime, started within a few minutes of it. The
    /// copies' draws are their own: every other pod, the past pods and the
    /// churn are as with one replica. Spawned pods are never replicated.
    #[serde(default = "one")]
    pub replicas: usize,
}

fn one() -> usize {
    1
}

impl Default for SimConfig {
    fn default() -> Self {
        let p = Profiles::builtin();
        SimConfig {
            seed: 42,
            initial_pods: 40,
            initial_max_age: Duration::from_secs(60 * 86_400),
            spawn_every: Duration::from_secs(30),
            mean_lifetime: Duration::from_secs(1_800),
            impostor_fraction: 0.05,
            unknown_fraction: 0.1,
            unknown_named_like_class: 0.3,
            unnamed_fraction: 0.05,
            silent_fraction: 0.02,
            restart_probability: 0.02,
            sidecar_fraction: 0.3,
            sample_interval: Duration::from_secs(10),
            metrics_delay: (Duration::from_secs(10), Duration::from_secs(20)),
            namespaces: ["default", "shop", "analytics", "monitoring"]
                .map(String::from)
                .to_vec(),
            classes: p.classes(),
            unknown_services: p.unknown_services(),
            sidecars: p.sidecar,
            nodes: p.node,
            global: p.global,
            impostor_image: ImpostorImage::Claimed,
            past_pods: 0,
            replicas: 1,
        }
    }
}

impl SimConfig {
    /// This config with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The cluster `cad demo` trains on: the default config with `seed` and
    /// `pods` running pods, none of them an impostor and no service outside
    /// the class list named like a class (training pods are trusted, as
    /// with `scripts/training-pods.sh` on a real cluster), and no pods
    /// spawned on their own (pods still end).
    pub fn training(seed: u64, pods: usize) -> Self {
        let mut c = SimConfig::default().with_seed(seed);
        c.initial_pods = pods;
        c.impostor_fraction = 0.0;
        c.unknown_named_like_class = 0.0;
        c.spawn_every = Duration::ZERO;
        c
    }

    /// This config with no initial pods, no spawning and no deletions: only
    /// what tests spawn explicitly.
    pub fn without_churn(mut self) -> Self {
        self.initial_pods = 0;
        self.spawn_every = Duration::ZERO;
        self.mean_lifetime = Duration::ZERO;
        self
    }

    /// The class names, in order.
    pub fn class_names(&self) -> Vec<String> {
        self.classes.iter().map(|c| c.name.clone()).collect()
    }

    /// The names of the services outside the class list.
    pub fn unknown_service_names(&self) -> Vec<String> {
        self.unknown_services.iter().map(|c| c.name.clone()).collect()
    }

    /// Every service: the classes, then the others.
    pub(crate) fn services(&self) -> Vec<&ServiceProfile> {
        self.classes.iter().chain(&self.unknown_services).collect()
    }

    /// The profiles in use, as a profile file would give them.
    pub fn profiles(&self) -> Profiles {
        Profiles {
            global: self.global.clone(),
            service: self.classes.iter().chain(&self.unknown_services).cloned().collect(),
            sidecar: self.sidecars.clone(),
            node: self.nodes.clone(),
        }
    }

    /// Checks the config: at least one class, unique non-empty names, valid
    /// profiles, a namespace and a node, a non-zero sample interval,
    /// fractions in `[0, 1]`, an ordered metrics delay, and 1 to 10 replicas.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |m: &str| Err(SimError::InvalidConfig(m.to_string()));
        if self.classes.is_empty() || self.classes.iter().any(|c| !c.class) {
            return bad("at least one class, and every class marked `class = true`");
        }
        if self.unknown_services.iter().any(|c| c.class) {
            return bad("services outside the class list must be marked `class = false`");
        }
        if let Err(e) = self.profiles().validate() {
            return Err(SimError::InvalidConfig(e.to_string()));
        }
        if self.namespaces.is_empty() || self.nodes.is_empty() {
            return bad("at least one namespace and one node are needed");
        }
        if self.sample_interval.as_millis() == 0 {
            return bad("sample_interval must be at least 1 ms");
        }
        let fractions = [
            self.impostor_fraction,
            self.unknown_fraction,
            self.unknown_named_like_class,
            self.unnamed_fraction,
            self.silent_fraction,
            self.restart_probability,
            self.sidecar_fraction,
        ];
        if fractions.iter().any(|f| !(0.0..=1.0).contains(f)) {
            return bad("fractions and probabilities must lie in [0, 1]");
        }
        if self.metrics_delay.0 > self.metrics_delay.1 {
            return bad("metrics_delay must be (min, max) with min <= max");
        }
        if !(1..=MAX_REPLICAS).contains(&self.replicas) {
            return bad("replicas must be from 1 to 10");
        }
        Ok(())
    }

    /// A config that passes [`validate`](Self::validate), repairing what does not.
    fn sanitized(mut self) -> Self {
        let d = SimConfig::default();
        if self.profiles().validate().is_err() || self.classes.is_empty() {
            self.classes = d.classes;
            self.unknown_services = d.unknown_services;
            self.sidecars = d.sidecars;
            self.global = d.global;
        }
        for c in &mut self.classes {
            c.class = true;
        }
        for c in &mut self.unknown_services {
            c.class = false;
        }
        if self.namespaces.is_empty() {
            self.namespaces = d.namespaces;
        }
        if self.nodes.is_empty() || self.profiles().validate().is_err() {
            self.nodes = d.nodes;
        }
        if self.sample_interval.as_millis() == 0 {
            self.sample_interval = d.sample_interval;
        }
        let clamp = |f: f64| if f.is_finite() { f.clamp(0.0, 1.0) } else { 0.0 };
        for f in [
            &mut self.impostor_fraction,
            &mut self.unknown_fraction,
            &mut self.unknown_named_like_class,
            &mut self.unnamed_fraction,
            &mut self.silent_fraction,
            &mut self.restart_probability,
            &mut self.sidecar_fraction,
        ] {
            *f = clamp(*f);
        }
        if self.metrics_delay.0 > self.metrics_delay.1 {
            self.metrics_delay = (self.metrics_delay.1, self.metrics_delay.0);
        }
        self.replicas = self.replicas.clamp(1, MAX_REPLICAS);
        self
    }
}

/// A pod to add with [`SimCluster::spawn`].
#[derive(Clone, Debug, PartialEq)]
pub struct PodSpec {
    /// The service (a class or one outside the class list) whose profile
    /// the pod's metrics follow.
    pub behaves_as: String,
    /// The class (or any prefix) the pod is named and labelled after; `None`:
    /// a prefix like no class (`redis`, `web`, …).
    pub named_as: Option<String>,
    /// An exact pod name; `None`: generated (`nginx-7f9c4d8b6-xk2lp`, `mysql-0`).
    pub name: Option<String>,
    /// An exact image reference for the app container (an in-house image
    /// that names no class, say); `None`: one of the service's images.
    pub image: Option<String>,
    /// The namespace; `None`: one of the configured ones.
    pub namespace: Option<String>,
    /// The node; `None`: one of the configured ones.
    pub node: Option<String>,
    /// Whether the pod never reports metrics.
    pub silent: bool,
    /// Delete the pod this long after it starts; `None`: only explicitly.
    pub lifetime: Option<Duration>,
    /// A sidecar container (one of the configured sidecars); `None`: none.
    pub sidecar: Option<String>,
    /// The workload shape; `None`: drawn with the service's weights.
    pub shape: Option<Shape>,
    /// The load, in units of the recorded steady (or, for bursts and
    /// batches, heavy) load; `None`: drawn.
    pub scale: Option<f64>,
}

impl PodSpec {
    /// An honest pod of `class`.
    pub fn new(class: impl Into<String>) -> Self {
        let class = class.into();
        PodSpec {
            named_as: Some(class.clone()),
            behaves_as: class,
            name: None,
            image: None,
            namespace: None,
            node: None,
            silent: false,
            lifetime: None,
            sidecar: None,
            shape: None,
            scale: None,
        }
    }

    /// A pod named like `named_as` (a class, or any prefix) that behaves
    /// like `behaves_as` (a class or a service outside the class list).
    pub fn impostor(named_as: impl Into<String>, behaves_as: impl Into<String>) -> Self {
        PodSpec {
            named_as: Some(named_as.into()),
            ..PodSpec::new(behaves_as)
        }
    }

    /// A pod named like no class (`web-…`) that behaves like `behaves_as`.
    pub fn unnamed(behaves_as: impl Into<String>) -> Self {
        PodSpec {
            named_as: None,
            ..PodSpec::new(behaves_as)
        }
    }

    /// With this exact name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// With this exact image reference for the app container.
    pub fn with_image(mut self, image: impl Into<String>) -> Self {
        self.image = Some(image.into());
        self
    }

    /// In this namespace.
    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// On this node.
    pub fn on_node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// Silent (never reports metrics) or not.
    pub fn silent(mut self, silent: bool) -> Self {
        self.silent = silent;
        self
    }

    /// Deleted automatically `lifetime` after it starts.
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// With a sidecar container of this name (one of the configured sidecars).
    pub fn with_sidecar(mut self, sidecar: impl Into<String>) -> Self {
        self.sidecar = Some(sidecar.into());
        self
    }

    /// With this workload shape.
    pub fn with_shape(mut self, shape: Shape) -> Self {
        self.shape = Some(shape);
        self
    }

    /// With this load (see [`PodSpec::scale`]).
    pub fn with_scale(mut self, scale: f64) -> Self {
        self.scale = Some(scale);
        self
    }
}

/// What a simulated pod or container really is, for tests and the demo. A
/// pod's truth is its app container's.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Truth {
    /// The service whose profile its metrics follow: a class, a service
    /// outside the class list (`redis`), or a sidecar (`istio-proxy`).
    pub behaves_as: String,
    /// The configured class its name and label claim, if any (sidecars: none).
    pub named_as: Option<String>,
    /// Named like one class, behaving like something else (another class
    /// or a service outside the class list).
    pub impostor: bool,
    /// Runs software outside the class list, whatever its name claims
    /// (not set for sidecars).
    pub unknown_service: bool,
    /// Never reports metrics.
    pub silent: bool,
    /// For a sidecar container: its name.
    pub sidecar: Option<String>,
}

/// Why the simulated cluster refused a request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimError {
    /// The service is not configured (neither a class nor another service).
    #[error("unknown class {0:?}")]
    UnknownClass(String),
    /// The sidecar is not configured.
    #[error("unknown sidecar {0:?}")]
    UnknownSidecar(String),
    /// The node is not configured.
    #[error("unknown node {0:?}")]
    UnknownNode(String),
    /// A live pod already has this `namespace/name`.
    #[error("a pod named {0} already exists")]
    NameTaken(String),
    /// The configuration cannot be used.
    #[error("invalid simulator config: {0}")]
    InvalidConfig(String),
}

struct Inner {
    config: SimConfig,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    fetch_calls: AtomicU64,
    list_calls: AtomicU64,
}

impl Inner {
    /// The state, advanced to the clock's now. A poisoned lock is taken over:
    /// the state is updated in steps that leave it consistent.
    fn state(&self) -> (MutexGuard<'_, State>, Timestamp) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.clock.now();
        s.advance(&self.config, now);
        (s, now)
    }
}

/// The simulated cluster: a cheap, cloneable handle (clones share the cluster).
#[derive(Clone)]
pub struct SimCluster {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SimCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCluster")
            .field("seed", &self.inner.config.seed)
            .field("classes", &self.inner.config.class_names())
            .finish_non_exhaustive()
    }
}

impl SimCluster {
    /// A cluster following `clock`, with the initial pods of `config`.
    /// A config that fails [`SimConfig::validate`] is repaired (defaults for
    /// empty lists and a zero interval, fractions and replicas clamped) with a warning.
    pub fn new(config: SimConfig, clock: Arc<dyn Clock>) -> SimCluster {
        if let Err(e) = config.validate() {
            tracing::warn!(error = %e, "repairing simulator config");
        }
        Self::build(config.sanitized(), clock)
    }

    /// Like [`new`](Self::new), but an invalid config is an error.
    pub fn try_new(config: SimConfig, clock: Arc<dyn Clock>) -> Result<SimCluster, SimError> {
        config.validate()?;
        Ok(Self::build(config, clock))
    }

    /// The training set the collector makes of this cluster's running pods
    /// now (labels from their names, the cluster's clock), as `cad demo`
    /// collects it.
    pub async fn collect_training_set(
        &self,
        features: &FeatureSet,
        config: &CollectConfig,
    ) -> Result<(Dataset, CollectStats), CollectError> {
        let labeler = Labeler::new(self.class_names());
        let clock = self.inner.clock.clone();
        collect_dataset(self, self, clock, &labeler, features, config, &mut |_, _| {}).await
    }

    fn build(config: SimConfig, clock: Arc<dyn Clock>) -> SimCluster {
        let state = State::new(&config, clock.now());
        SimCluster {
            inner: Arc::new(Inner {
                config,
                clock,
                state: Mutex::new(state),
                fetch_calls: AtomicU64::new(0),
                list_calls: AtomicU64::new(0),
            }),
        }
    }

    /// The configuration in use (after repair).
    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    /// The configured class names, in order.
    pub fn class_names(&self) -> Vec<String> {
        self.inner.config.class_names()
    }

    /// Adds a pod starting now and reports it on every watch stream.
    /// An unknown behaves-as class falls back to the first configured class,
    /// a taken name gets a generated one (both with a warning); use
    /// [`try_spawn`](Self::try_spawn) to get an error instead.
    pub fn spawn(&self, spec: PodSpec) -> PodInfo {
        match self.try_spawn(spec.clone()) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "repairing simulated pod spec");
                let mut spec = spec;
                if let SimError::UnknownClass(_) = e
                    && let Some(first) = self.inner.config.classes.first()
                {
                    spec.behaves_as = first.name.clone();
                }
                if let SimError::UnknownSidecar(_) = e {
                    spec.sidecar = None;
                }
                if let SimError::UnknownNode(_) = e {
                    spec.node = None;
                }
                spec.name = None;
                let (mut s, now) = self.inner.state();
                match s.explicit_plan(&self.inner.config, &spec, now) {
                    Ok(plan) => s.spawn_planned(&self.inner.config, plan, now),
                    // unreachable with a repaired spec and a validated config;
                    // report an empty pod rather than panic
                    Err(_) => PodInfo::new(PodId::new("", "", "")),
                }
            }
        }
    }

    /// Adds a pod starting now, or says why it cannot.
    pub fn try_spawn(&self, spec: PodSpec) -> Result<PodInfo, SimError> {
        let (mut s, now) = self.inner.state();
        let plan = s.explicit_plan(&self.inner.config, &spec, now)?;
        Ok(s.spawn_planned(&self.inner.config, plan, now))
    }

    /// Deletes a live pod now and reports it on every watch stream. Returns
    /// whether the pod was live. Its past samples stay fetchable.
    pub fn delete(&self, id: &PodId) -> bool {
        let (mut s, now) = self.inner.state();
        s.remove(id, now)
    }

    /// What a pod (live or deleted) really is: its app container's truth.
    pub fn truth(&self, id: &PodId) -> Option<Truth> {
        let s = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        s.all.get(id).map(|e| e.pod.truth.clone())
    }

    /// What one container of a pod (live or deleted) really is.
    pub fn container_truth(&self, id: &ContainerId) -> Option<Truth> {
        let s = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        s.all.get(&id.pod)?.pod.container(&id.container).map(|(t, _)| t.clone())
    }

    /// The names of the services outside the class list.
    pub fn unknown_service_names(&self) -> Vec<String> {
        self.inner.config.unknown_service_names()
    }

    /// The live pods now, like [`PodSource::list`] but not counted.
    pub fn pods(&self) -> Vec<PodInfo> {
        self.inner.state().0.live_pods()
    }

    /// How many times [`MetricSource::fetch`] was called.
    pub fn fetch_calls(&self) -> u64 {
        self.inner.fetch_calls.load(Ordering::Relaxed)
    }

    /// How many times [`PodSource::list`] was called.
    pub fn list_calls(&self) -> u64 {
        self.inner.list_calls.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl PodSource for SimCluster {
    async fn list(&self) -> Result<Vec<PodInfo>, SourceError> {
        self.inner.list_calls.fetch_add(1, Ordering::Relaxed);
        Ok(self.pods())
    }

    fn watch(&self) -> BoxStream<'static, Result<PodEvent, SourceError>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let initial: VecDeque<PodEvent> = {
            let (mut s, _) = self.inner.state();
            s.subscribe(tx);
            s.live_pods().into_iter().map(PodEvent::Added).collect()
        };
        let inner = self.inner.clone();
        stream::unfold((inner, rx, initial), |(inner, mut rx, mut initial)| async move {
            if let Some(e) = initial.pop_front() {
                return Some((Ok(e), (inner, rx, initial)));
            }
            loop {
                if let Ok(e) = rx.try_recv() {
                    return Some((Ok(e), (inner, rx, initial)));
                }
                // advancing may have queued events for this stream
                let next = inner.state().0.next_event();
                if let Ok(e) = rx.try_recv() {
                    return Some((Ok(e), (inner, rx, initial)));
                }
                match next {
                    Some(t) => {
                        let sleep = inner.clock.sleep_until(t);
                        tokio::select! {
                            e = rx.recv() => return e.map(|e| (Ok(e), (inner, rx, initial))),
                            () = sleep => {}
                        }
                    }
                    None => return rx.recv().await.map(|e| (Ok(e), (inner, rx, initial))),
                }
            }
        })
        .boxed()
    }
}

#[async_trait]
impl MetricSource for SimCluster {
    /// Every container of a pod ever created (past pods included) with a
    /// sample in `window`, up to the clock's now and the pod's deletion.
    async fn containers_seen(&self, window: TimeWindow) -> Result<Vec<SeenContainer>, SourceError> {
        // As `fetch`: the pods out of the lock, their samples computed after it.
        let (pods, now): (Vec<(Arc<SimPod>, Option<Timestamp>)>, Timestamp) = {
            let (s, now) = self.inner.state();
            (s.all.values().map(|e| (e.pod.clone(), e.deleted_at)).collect(), now)
        };
        let horizon = Timestamp(now.0.saturating_add(1)).min(window.end);
        let mut seen = Vec::new();
        for (pod, deleted_at) in &pods {
            let end = deleted_at.map_or(horizon, |d| d.min(horizon));
            for (info, (_, series)) in pod.info.containers.iter().zip(&pod.containers) {
                if let Some((first, last)) = series.first_and_last(window.start, end) {
                    seen.push(
                        SeenContainer::new(pod.info.id.container(info.name.clone()), first, last)
                            .with_image(info.image.clone()),
                    );
                }
            }
        }
        seen.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(seen)
    }

    async fn fetch(&self, containers: &[ContainerId], window: TimeWindow) -> Result<MetricBatch, SourceError> {
        self.inner.fetch_calls.fetch_add(1, Ordering::Relaxed);
        let (wanted, now): (Vec<(&ContainerId, Arc<SimPod>, Option<Timestamp>)>, Timestamp) = {
            let (s, now) = self.inner.state();
            let mut seen = HashSet::new();
            let wanted = containers
                .iter()
                .filter(|c| seen.insert(*c))
                .filter_map(|c| {
                    let e = s.all.get(&c.pod)?;
                    e.pod.container(&c.container)?;
                    Some((c, e.pod.clone(), e.deleted_at))
                })
                .collect();
            (wanted, now)
        };
        // samples at `now` count as already taken
        let horizon = Timestamp(now.0.saturating_add(1)).min(window.end);
        let mut batch = MetricBatch::new();
        let mut buf = Vec::new();
        for (c, pod, deleted_at) in wanted {
            let end = deleted_at.map_or(horizon, |d| d.min(horizon));
            buf.clear();
            if let Some((_, series)) = pod.container(&c.container) {
                series.samples(window.start, end, &mut buf);
            }
            if !buf.is_empty() {
                batch.extend(c, buf.iter().copied());
            }
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests;
