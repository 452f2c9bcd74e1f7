//! # cad-sim
//!
//! A simulated Kubernetes cluster with Telegraf-like metrics: the embedded
//! default behind `cad demo`, every engine test and the benchmarks.
//!
//! [`SimCluster`] implements [`PodSource`] and [`MetricSource`]. It is
//! deterministic from [`SimConfig::seed`] (for the same sequence of calls)
//! and follows an [`Arc<dyn Clock>`](Clock): under tokio's paused time an hour
//! of churn runs in milliseconds.
//!
//! * Pods belong to classes ([`ClassProfile`]; by default nginx, apache,
//!   postgresql, mysql, mongodb with figures measured on a real cluster). Each
//!   pod draws its own parameters around its class profile; samples add noise,
//!   slow drift and rare container restarts (counters reset to ~0).
//! * Some pods are *impostors* (named and labelled like one class, behaving
//!   like another), some are named like no class (`redis-…`, `web-…`), some
//!   are *silent* (never report metrics). [`SimCluster::truth`] tells which.
//! * Samples come every [`SimConfig::sample_interval`] per pod, each family
//!   (container gauges, network, volume, block I/O) with its own jitter of up
//!   to 2 s, starting a delay after the pod starts. A fetch never returns
//!   samples after the clock's now, before the pod's start or after its
//!   deletion. Values are computed from the pod's seed and the sample index,
//!   never stored: any window costs O(samples in it).
//! * Churn: [`SimConfig::initial_pods`] pods exist at creation (started up to
//!   [`SimConfig::initial_max_age`] ago); new pods spawn every
//!   [`SimConfig::spawn_every`] on average and live
//!   [`SimConfig::mean_lifetime`] on average. Tests add and remove pods with
//!   [`SimCluster::spawn`] and [`SimCluster::delete`].
//!
//! ```
//! use cad_sim::{PodSpec, SimCluster, SimConfig};
//! use cad_core::{Clock, MetricSource, PodSource, TimeWindow, Timestamp, TokioClock};
//! use std::{sync::Arc, time::Duration};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let clock = Arc::new(TokioClock::starting_at(Timestamp::from_secs(1_700_000_000)));
//! let sim = SimCluster::new(SimConfig::default().with_seed(7).without_churn(), clock.clone());
//! let pod = sim.spawn(PodSpec::impostor("nginx", "mysql"));
//! clock.sleep(Duration::from_secs(60)).await;
//! let ids: Vec<_> = pod.container_ids().collect();
//! let batch = sim.fetch(&ids, TimeWindow::ending_at(clock.now(), Duration::from_secs(60))).await.unwrap();
//! assert!(batch.sample_count() > 0);
//! assert!(sim.truth(&pod.id).unwrap().impostor);
//! # }
//! ```

#![warn(missing_docs)]

mod cluster;
mod profile;
mod series;

pub use profile::{ClassProfile, Dist, ImageVariant};

use async_trait::async_trait;
use cad_core::clock::Clock;
use cad_core::metric::MetricBatch;
use cad_core::pod::{ContainerId, PodId, PodInfo};
use cad_core::source::{MetricSource, PodEvent, PodSource, SourceError};
use cad_core::time::{TimeWindow, Timestamp};
use cluster::{SimPod, State};
use futures::stream::{self, BoxStream, StreamExt};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

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

/// How the simulated cluster is set up. [`Default`] gives the five measured
/// classes and a demo-sized cluster with churn.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SimConfig {
    /// Everything random derives from this.
    pub seed: u64,
    /// Pods running when the cluster is created.
    pub initial_pods: usize,
    /// The initial pods started up to this long before creation.
    pub initial_max_age: Duration,
    /// Mean time between two spawned pods (exponential); zero: none spawn.
    pub spawn_every: Duration,
    /// Mean lifetime of a pod (exponential, counted from creation for the
    /// initial pods); zero: pods live until deleted explicitly.
    pub mean_lifetime: Duration,
    /// Fraction of pods named like one class that behave like another.
    pub impostor_fraction: f64,
    /// Fraction of pods named like no class (`redis-…`, `web-…`), behaving
    /// like a random class.
    pub unnamed_fraction: f64,
    /// Fraction of pods that never report metrics.
    pub silent_fraction: f64,
    /// Probability that a container restarts within any one hour of running.
    pub restart_probability: f64,
    /// Time between two samples of one pod (Telegraf's interval).
    pub sample_interval: Duration,
    /// Range of the delay from a pod's start to its first samples.
    pub metrics_delay: (Duration, Duration),
    /// Namespaces pods are spread over.
    pub namespaces: Vec<String>,
    /// Nodes pods are spread over.
    pub nodes: Vec<String>,
    /// The classes of service, in order.
    pub classes: Vec<ClassProfile>,
    /// Which image impostors run.
    pub impostor_image: ImpostorImage,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            initial_pods: 40,
            initial_max_age: Duration::from_secs(3_600),
            spawn_every: Duration::from_secs(30),
            mean_lifetime: Duration::from_secs(1_800),
            impostor_fraction: 0.05,
            unnamed_fraction: 0.05,
            silent_fraction: 0.02,
            restart_probability: 0.02,
            sample_interval: Duration::from_secs(10),
            metrics_delay: (Duration::from_secs(10), Duration::from_secs(20)),
            namespaces: ["default", "shop", "analytics", "monitoring"]
                .map(String::from)
                .to_vec(),
            nodes: ["k3s-server", "k3s-agent-1", "k3s-agent-2"].map(String::from).to_vec(),
            classes: ClassProfile::defaults(),
            impostor_image: ImpostorImage::Claimed,
        }
    }
}

impl SimConfig {
    /// This config with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
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

    /// Checks the config: at least one class with a unique, non-empty name,
    /// a namespace and a node, a non-zero sample interval, fractions in
    /// `[0, 1]`, and an ordered metrics delay.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |m: &str| Err(SimError::InvalidConfig(m.to_string()));
        if self.classes.is_empty() {
            return bad("no classes");
        }
        let mut seen = HashSet::new();
        for c in &self.classes {
            if c.name.is_empty() || !seen.insert(c.name.as_str()) {
                return bad("class names must be non-empty and unique");
            }
        }
        if self.namespaces.is_empty() || self.nodes.is_empty() {
            return bad("at least one namespace and one node are needed");
        }
        if self.sample_interval.as_millis() == 0 {
            return bad("sample_interval must be at least 1 ms");
        }
        let fractions = [
            self.impostor_fraction,
            self.unnamed_fraction,
            self.silent_fraction,
            self.restart_probability,
        ];
        if fractions.iter().any(|f| !(0.0..=1.0).contains(f)) {
            return bad("fractions and probabilities must lie in [0, 1]");
        }
        if self.metrics_delay.0 > self.metrics_delay.1 {
            return bad("metrics_delay must be (min, max) with min <= max");
        }
        Ok(())
    }

    /// A config that passes [`validate`](Self::validate), repairing what does not.
    fn sanitized(mut self) -> Self {
        let d = SimConfig::default();
        let mut seen = HashSet::new();
        self.classes
            .retain(|c| !c.name.is_empty() && seen.insert(c.name.clone()));
        if self.classes.is_empty() {
            self.classes = d.classes;
        }
        if self.namespaces.is_empty() {
            self.namespaces = d.namespaces;
        }
        if self.nodes.is_empty() {
            self.nodes = d.nodes;
        }
        if self.sample_interval.as_millis() == 0 {
            self.sample_interval = d.sample_interval;
        }
        let clamp = |f: f64| if f.is_finite() { f.clamp(0.0, 1.0) } else { 0.0 };
        self.impostor_fraction = clamp(self.impostor_fraction);
        self.unnamed_fraction = clamp(self.unnamed_fraction);
        self.silent_fraction = clamp(self.silent_fraction);
        self.restart_probability = clamp(self.restart_probability);
        if self.metrics_delay.0 > self.metrics_delay.1 {
            self.metrics_delay = (self.metrics_delay.1, self.metrics_delay.0);
        }
        self
    }
}

/// A pod to add with [`SimCluster::spawn`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSpec {
    /// The class whose profile the pod's metrics follow.
    pub behaves_as: String,
    /// The class (or any prefix) the pod is named and labelled after; `None`:
    /// a prefix like no class (`redis`, `web`, …).
    pub named_as: Option<String>,
    /// An exact pod name; `None`: generated (`nginx-7f9c4d8b6-xk2lp`, `mysql-0`).
    pub name: Option<String>,
    /// The namespace; `None`: one of the configured ones.
    pub namespace: Option<String>,
    /// The node; `None`: one of the configured ones.
    pub node: Option<String>,
    /// Whether the pod never reports metrics.
    pub silent: bool,
    /// Delete the pod this long after it starts; `None`: only explicitly.
    pub lifetime: Option<Duration>,
}

impl PodSpec {
    /// An honest pod of `class`.
    pub fn new(class: impl Into<String>) -> Self {
        let class = class.into();
        PodSpec {
            named_as: Some(class.clone()),
            behaves_as: class,
            name: None,
            namespace: None,
            node: None,
            silent: false,
            lifetime: None,
        }
    }

    /// A pod named like `named_as` that behaves like `behaves_as`.
    pub fn impostor(named_as: impl Into<String>, behaves_as: impl Into<String>) -> Self {
        PodSpec {
            named_as: Some(named_as.into()),
            ..PodSpec::new(behaves_as)
        }
    }

    /// A pod named like no class that behaves like `behaves_as`.
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
}

/// What a simulated pod really is, for tests and the demo.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Truth {
    /// The class whose profile its metrics follow.
    pub behaves_as: String,
    /// The configured class its name and label claim, if any.
    pub named_as: Option<String>,
    /// Named like one class, behaving like another.
    pub impostor: bool,
    /// Never reports metrics.
    pub silent: bool,
}

/// Why the simulated cluster refused a request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimError {
    /// The class is not configured.
    #[error("unknown class {0:?}")]
    UnknownClass(String),
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
    /// empty lists and a zero interval, fractions clamped) with a warning.
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

    /// What a pod (live or deleted) really is.
    pub fn truth(&self, id: &PodId) -> Option<Truth> {
        let s = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        s.all.get(id).map(|e| e.pod.truth.clone())
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
                    e.pod.info.container(&c.container)?;
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
            pod.series.samples(window.start, end, &mut buf);
            if !buf.is_empty() {
                batch.extend(c, buf.iter().copied());
            }
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests;
