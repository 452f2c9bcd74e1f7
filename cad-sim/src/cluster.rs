//! The simulated cluster's state: pods alive and gone, the churn schedule,
//! naming, and the subscribers of watch streams.

use super::profile::{NodeModel, draw_app, draw_sidecar};
use super::series::{PodShared, Series, mix};
use super::{ImpostorImage, PodSpec, SimConfig, SimError, Truth};
use cad_core::pod::{ContainerInfo, PodId, PodInfo, PodPhase};
use cad_core::source::PodEvent;
use cad_core::time::Timestamp;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// Name prefixes of pods named like no class (and like no service).
const UNNAMED_PREFIXES: &[&str] = &["web", "api", "worker", "store", "frontend", "backend", "edge", "db"];
/// Characters Kubernetes uses in generated name suffixes (no vowels, no 0/1/3).
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// Streams of pod seeds: churn pods and explicitly spawned pods draw from
/// separate streams, so explicit spawns do not change the churn.
const STREAM_CHURN: u64 = 1;
const STREAM_EXPLICIT: u64 = 2;
/// Tags of the seeds of draws of their own: a pod's template hash, the
/// copies that make the replicas of an initial pod.
const TAG_TEMPLATE: u64 = 0x7E3A_9A7E;
const TAG_REPLICAS: u64 = 0x2E91_1CA5;
/// Replicas of one Deployment start within this many seconds of each other.
const REPLICA_START_SPREAD_SECS: f64 = 150.0;

/// One simulated pod: what sources show of it, the truth, its metrics.
#[derive(Debug)]
pub(crate) struct SimPod {
    pub info: PodInfo,
    /// The truth of the pod (its app container's).
    pub truth: Truth,
    /// Per container, in the order of `info.containers`: its truth and metrics.
    pub containers: Vec<(Truth, Series)>,
}

impl SimPod {
    /// The truth and metrics of the container named `name`.
    pub(crate) fn container(&self, name: &str) -> Option<&(Truth, Series)> {
        let i = self.info.containers.iter().position(|c| c.name == name)?;
        self.containers.get(i)
    }
}

/// A pod ever created, with when it was deleted (if it was).
#[derive(Debug)]
pub(crate) struct Entry {
    pub serial: u64,
    pub pod: Arc<SimPod>,
    pub deleted_at: Option<Timestamp>,
}

/// Whether a pod added to the cluster is running or ended before it began.
#[derive(Clone, Copy, Debug)]
enum Life {
    /// Listed, its name taken; deleted at this time, if any.
    Running(Option<Timestamp>),
    /// Ended at this time: never listed, its metrics kept.
    Ended(Timestamp),
}

/// How a new pod is named.
#[derive(Clone, Debug)]
enum Naming {
    /// After the class at this index.
    Class(usize),
    /// With one of [`UNNAMED_PREFIXES`] or a caller's prefix.
    Unnamed(String),
}

/// A pod to create, decided before its own random draws.
#[derive(Clone, Debug)]
struct Plan {
    /// Index into [`SimConfig::services`].
    behaves_as: usize,
    naming: Naming,
    exact_name: Option<String>,
    exact_image: Option<String>,
    namespace: String,
    /// Index into [`SimConfig::nodes`].
    node: usize,
    silent: bool,
    deletion: Option<Timestamp>,
    /// Index into [`SimConfig::sidecars`].
    sidecar: Option<usize>,
    fixed: super::profile::Fixed,
}

/// Everything behind the cluster's mutex.
pub(crate) struct State {
    pub all: HashMap<PodId, Entry>,
    /// Live pods by serial (creation order).
    pub live: BTreeMap<u64, PodId>,
    names: HashSet<(String, String)>,
    ordinals: HashMap<(String, String), u32>,
    deletions: BTreeSet<(Timestamp, u64)>,
    next_spawn: Option<Timestamp>,
    churn_rng: ChaCha8Rng,
    serial: u64,
    churn_count: u64,
    explicit_count: u64,
    subscribers: Vec<UnboundedSender<PodEvent>>,
    /// Each configured node's drawn behaviour, in order.
    nodes: Vec<NodeModel>,
}

/// A pod's age (or a past pod's life) drawn from its service's `age_hours`
/// (log-uniform), at most the config's `initial_max_age`, at least `min_secs`.
fn age_draw(config: &SimConfig, hours: super::Range, min_secs: f64, rng: &mut ChaCha8Rng) -> Duration {
    let max_h = config.initial_max_age.as_secs_f64() / 3_600.0;
    let range = super::Range::new(hours.min.min(max_h), hours.max.min(max_h));
    Duration::from_secs_f64((range.draw(rng) * 3_600.0).clamp(min_secs, 1e10))
}

/// A draw from an exponential distribution with this mean, at least 1 ms.
fn exp_draw(rng: &mut ChaCha8Rng, mean: Duration) -> Duration {
    let u: f64 = rng.random();
    let secs = -(1.0 - u).ln() * mean.as_secs_f64();
    Duration::from_secs_f64(secs.clamp(0.001, 1e12))
}

/// A stable hash of a string, for names that must depend only on the seed
/// (std's `DefaultHasher` is not guaranteed stable across Rust versions).
fn str_hash(seed: u64, parts: &[&str]) -> u64 {
    parts.iter().fold(mix(seed), |h, p| {
        p.bytes().fold(mix(h ^ 0xFF), |h, b| mix(h ^ u64::from(b)))
    })
}

fn suffix_from_hash(mut h: u64, len: usize) -> String {
    let n = NAME_ALPHABET.len() as u64;
    (0..len)
        .map(|_| {
            let c = NAME_ALPHABET[(h % n) as usize];
            h /= n;
            if h == 0 {
                h = mix(c as u64);
            }
            c as char
        })
        .collect()
}

fn random_suffix(rng: &mut ChaCha8Rng, len: usize) -> String {
    (0..len)
        .map(|_| NAME_ALPHABET[rng.random_range(0..NAME_ALPHABET.len())] as char)
        .collect()
}

fn uid(rng: &mut ChaCha8Rng) -> String {
    let a: u64 = rng.random();
    let b: u64 = rng.random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFF,
        0x8000 | ((b >> 48) & 0x3FFF),
        b & 0xFFFF_FFFF_FFFF
    )
}

impl State {
    pub(crate) fn new(config: &SimConfig, now: Timestamp) -> Self {
        let mut churn_rng = ChaCha8Rng::seed_from_u64(mix(config.seed ^ 0x5EED));
        let next_spawn = (!config.spawn_every.is_zero()).then(|| now + exp_draw(&mut churn_rng, config.spawn_every));
        let mut s = State {
            all: HashMap::new(),
            live: BTreeMap::new(),
            names: HashSet::new(),
            ordinals: HashMap::new(),
            deletions: BTreeSet::new(),
            next_spawn,
            churn_rng,
            serial: 0,
            churn_count: 0,
            explicit_count: 0,
            subscribers: Vec::new(),
            nodes: config
                .nodes
                .iter()
                .map(|n| {
                    NodeModel::draw(
                        n,
                        &mut ChaCha8Rng::seed_from_u64(str_hash(config.seed, &["node", &n.name])),
                    )
                })
                .collect(),
        };
        let services = config.services();
        let mut initial = Vec::with_capacity(config.initial_pods);
        for _ in 0..config.initial_pods {
            let plan = s.churn_plan(config, now);
            // ages from the service's range (log-uniform), at most the configured maximum
            let age = age_draw(config, services[plan.behaves_as].age_hours, 0.0, &mut s.churn_rng);
            initial.push(s.create(config, plan, now - age, STREAM_CHURN));
        }
        s.create_past(config, now);
        // after the past: the initial pods and the past ones stay as without replicas
        s.create_replicas(config, &initial, now);
        s
    }

    /// Makes each initial Deployment pod of `initial` one of
    /// [`SimConfig::replicas`] replicas: `replicas - 1` copies of it (see
    /// [`copy_of`](Self::copy_of)), running, each started within a few
    /// minutes of it and with a lifetime of its own. StatefulSet pods are
    /// not replicated. The copies' draws come from a generator of their own
    /// per pod: the other pods, the past ones and the churn stay as with
    /// one replica.
    fn create_replicas(&mut self, config: &SimConfig, initial: &[Arc<SimPod>], now: Timestamp) {
        if config.replicas <= 1 {
            return;
        }
        for of in initial {
            if of.info.labels.contains_key("statefulset.kubernetes.io/pod-name") {
                continue;
            }
            let Some(seed) = of.containers.first().map(|(_, s)| s.pod.seed) else {
                continue;
            };
            let mut rng = ChaCha8Rng::seed_from_u64(mix(seed ^ TAG_REPLICAS));
            let of_start = of.info.start_time.unwrap_or(now);
            for _ in 1..config.replicas {
                let offset = (rng.random::<f64>() * 2.0 - 1.0) * REPLICA_START_SPREAD_SECS;
                let start = if offset < 0.0 {
                    of_start - Duration::from_secs_f64(-offset)
                } else {
                    (of_start + Duration::from_secs_f64(offset)).min(now)
                };
                let Some(copy) = self.copy_of(config, of, start, PodPhase::Running, &mut rng) else {
                    break;
                };
                // lifetimes are memoryless: counted from now, as an initial pod's
                let deletion =
                    (!config.mean_lifetime.is_zero()).then(|| now + exp_draw(&mut rng, config.mean_lifetime));
                self.add(copy, Life::Running(deletion));
            }
        }
    }

    /// Creates [`SimConfig::past_pods`] ended pods: half of workloads since
    /// removed ([`create_gone`](Self::create_gone)), half earlier pods of the
    /// running pods' workloads, as a Deployment's replaced pods: each is a
    /// copy of a running pod (service, load, shape, sidecar, image; its own
    /// node, times and noise) that ended as the next one of its chain began.
    /// A StatefulSet's earlier pod has the same name as the running one. The
    /// draws are their own: the running pods and the churn stay as without them.
    fn create_past(&mut self, config: &SimConfig, now: Timestamp) {
        let running: Vec<Arc<SimPod>> = self
            .live
            .values()
            .filter_map(|id| self.all.get(id))
            .map(|e| e.pod.clone())
            .collect();
        if config.past_pods == 0 || running.is_empty() {
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(mix(config.seed ^ 0x9A57));
        let services = config.services();
        // Each running pod's chain: when its earliest pod so far started.
        let mut chain: Vec<Timestamp> = running.iter().map(|p| p.info.start_time.unwrap_or(now)).collect();
        // Half of them (invented) are pods of workloads since removed:
        // preview environments, deleted Deployments, finished Jobs.
        let gone = config.past_pods / 2;
        self.create_gone(config, now, gone, &mut rng);
        for _ in gone..config.past_pods {
            let k = rng.random_range(0..running.len());
            let of = &running[k];
            let hours = services
                .iter()
                .find(|s| s.name == of.truth.behaves_as)
                .map_or(super::Range::new(1.0, 24.0), |s| s.age_hours);
            let life = age_draw(config, hours, 60.0, &mut rng);
            let end = chain[k] - Duration::from_secs_f64(rng.random::<f64>() * 30.0);
            let start = end - life;
            chain[k] = start;
            self.create_earlier(config, of, start, end, &mut rng);
        }
    }

    /// `n` pods of workloads since removed, drawn as initial pods are, three
    /// to a namespace since deleted (`preview-…`), each ended within the 30
    /// days before `now` after a life drawn like an initial pod's age.
    fn create_gone(&mut self, config: &SimConfig, now: Timestamp, n: usize, rng: &mut ChaCha8Rng) {
        let services = config.services();
        let churn = std::mem::replace(&mut self.churn_rng, ChaCha8Rng::seed_from_u64(rng.random()));
        let churn_count = std::mem::replace(&mut self.churn_count, 1 << 40); // seeds of their own
        for i in 0..n {
            let mut plan = self.churn_plan(config, now);
            plan.deletion = None;
            plan.namespace = format!("preview-{}", i / 3 + 1);
            let life = age_draw(config, services[plan.behaves_as].age_hours, 60.0, &mut self.churn_rng);
            let end = now - Duration::from_secs_f64(self.churn_rng.random::<f64>() * 30.0 * 86_400.0);
            let pod = self.create(config, plan, end - life, STREAM_CHURN);
            // gone before anyone watched: no event
            if let Some(entry) = self.all.get_mut(&pod.info.id) {
                entry.deleted_at = Some(end);
                self.live.remove(&entry.serial);
            }
            self.names
                .remove(&(pod.info.id.namespace.clone(), pod.info.id.name.clone()));
        }
        self.churn_rng = churn;
        self.churn_count = churn_count;
    }

    /// An earlier pod of `of`'s workload, from `start` to `end` (deleted).
    fn create_earlier(
        &mut self,
        config: &SimConfig,
        of: &SimPod,
        start: Timestamp,
        end: Timestamp,
        rng: &mut ChaCha8Rng,
    ) {
        if let Some(pod) = self.copy_of(config, of, start, PodPhase::Succeeded, rng) {
            self.add(pod, Life::Ended(end));
        }
    }

    /// A pod of `of`'s workload starting at `start`, not yet added: the same
    /// containers (their models, app and sidecar), labels, image and truth;
    /// its own uid, node, noise and metrics delay, drawn from `rng`. A
    /// StatefulSet's pod keeps `of`'s name; a Deployment's is of the same
    /// ReplicaSet (`prefix-template-` and a fresh suffix). `None` for a pod
    /// without containers.
    fn copy_of(
        &self,
        config: &SimConfig,
        of: &SimPod,
        start: Timestamp,
        phase: PodPhase,
        rng: &mut ChaCha8Rng,
    ) -> Option<SimPod> {
        let shared = of.containers.first().map(|(_, s)| s.pod.clone())?;
        let ns = of.info.id.namespace.clone();
        let stateful = of.info.labels.contains_key("statefulset.kubernetes.io/pod-name");
        let name = if stateful {
            of.info.id.name.clone()
        } else {
            // the same Deployment and template: `prefix-template-xxxxx`
            let base = of
                .info
                .id
                .name
                .rsplit_once('-')
                .map_or(of.info.id.name.as_str(), |(b, _)| b);
            loop {
                let name = format!("{base}-{}", random_suffix(rng, 5));
                let taken = self.names.contains(&(ns.clone(), name.clone()))
                    || self.all.keys().any(|id| id.namespace == ns && id.name == name);
                if !taken {
                    break name;
                }
            }
        };
        let id = PodId::new(ns, name, uid(rng));
        let node_index = rng.random_range(0..self.nodes.len().max(1));
        let node = self
            .nodes
            .get(node_index)
            .cloned()
            .unwrap_or_else(|| NodeModel::draw(&super::profile::NodeProfile::plain("default"), rng));
        let (d0, d1) = config.metrics_delay;
        let delay = d0 + d1.saturating_sub(d0).mul_f64(rng.random::<f64>());
        let pod_series_seed: u64 = rng.random();
        let models: Vec<_> = of.containers.iter().map(|(_, s)| s.model.clone()).collect();
        let shared = Arc::new(PodShared::new(
            pod_series_seed,
            start,
            start + delay,
            shared.interval_ms,
            shared.silent,
            shared.model.clone(),
            node,
            &models,
        ));
        let containers = of
            .containers
            .iter()
            .enumerate()
            .map(|(i, (truth, series))| {
                let series = Series {
                    pod: shared.clone(),
                    seed: mix(pod_series_seed ^ mix(i as u64 + 1)),
                    restart_p_epoch: series.restart_p_epoch,
                    model: series.model.clone(),
                };
                (truth.clone(), series)
            })
            .collect();
        let mut labels = of.info.labels.clone();
        if stateful {
            labels.insert("statefulset.kubernetes.io/pod-name".to_string(), id.name.clone());
        }
        let info = PodInfo {
            id,
            node: config.nodes.get(node_index).map(|n| n.name.clone()),
            start_time: Some(start),
            phase,
            labels,
            containers: of.info.containers.clone(),
            annotations: Default::default(),
        };
        Some(SimPod {
            info,
            truth: of.truth.clone(),
            containers,
        })
    }

    /// Adds a pod to the cluster with the next serial: running (listed, its
    /// name taken, its deletion scheduled) or ended.
    fn add(&mut self, pod: SimPod, life: Life) -> Arc<SimPod> {
        let serial = self.serial;
        self.serial += 1;
        let id = pod.info.id.clone();
        let pod = Arc::new(pod);
        let deleted_at = match life {
            Life::Running(deletion) => {
                self.names.insert((id.namespace.clone(), id.name.clone()));
                self.live.insert(serial, id.clone());
                if let Some(d) = deletion {
                    self.deletions.insert((d, serial));
                }
                None
            }
            Life::Ended(end) => Some(end),
        };
        self.all.insert(
            id,
            Entry {
                serial,
                pod: pod.clone(),
                deleted_at,
            },
        );
        pod
    }

    /// The next scheduled spawn or deletion.
    pub(crate) fn next_event(&self) -> Option<Timestamp> {
        let del = self.deletions.first().map(|(t, _)| *t);
        match (del, self.next_spawn) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Plays every scheduled spawn and deletion up to `now`, in time order
    /// (deletions first on ties), telling the subscribers.
    pub(crate) fn advance(&mut self, config: &SimConfig, now: Timestamp) {
        loop {
            let del = self.deletions.first().copied().filter(|(t, _)| *t <= now);
            let spawn = self.next_spawn.filter(|t| *t <= now);
            match (del, spawn) {
                (Some((t, serial)), s) if s.is_none_or(|s| t <= s) => {
                    self.deletions.remove(&(t, serial));
                    if let Some(id) = self.live.get(&serial).cloned() {
                        self.remove(&id, t);
                    }
                }
                (_, Some(t)) => {
                    let plan = self.churn_plan(config, t);
                    let pod = self.create(config, plan, t, STREAM_CHURN);
                    self.broadcast(PodEvent::Added(pod.info.clone()));
                    self.next_spawn = Some(t + exp_draw(&mut self.churn_rng, config.spawn_every));
                }
                _ => return,
            }
        }
    }

    /// Marks a live pod deleted at `t` and tells the subscribers. Returns
    /// whether the pod was live.
    pub(crate) fn remove(&mut self, id: &PodId, t: Timestamp) -> bool {
        let Some(entry) = self.all.get_mut(id) else {
            return false;
        };
        if entry.deleted_at.is_some() {
            return false;
        }
        entry.deleted_at = Some(t);
        let serial = entry.serial;
        self.live.remove(&serial);
        self.names.remove(&(id.namespace.clone(), id.name.clone()));
        self.broadcast(PodEvent::Deleted(id.clone()));
        true
    }

    pub(crate) fn subscribe(&mut self, tx: UnboundedSender<PodEvent>) {
        self.subscribers.push(tx);
    }

    fn broadcast(&mut self, event: PodEvent) {
        self.subscribers.retain(|tx| tx.send(event.clone()).is_ok());
    }

    /// The live pods in creation order.
    pub(crate) fn live_pods(&self) -> Vec<PodInfo> {
        self.live
            .values()
            .filter_map(|id| self.all.get(id))
            .map(|e| e.pod.info.clone())
            .collect()
    }

    /// Picks an index by weight, never `except`; all weights zero: uniformly.
    fn pick(rng: &mut ChaCha8Rng, weights: &[f64], except: Option<usize>) -> usize {
        let w = |i: usize, x: f64| {
            if Some(i) == except || !x.is_finite() || x <= 0.0 {
                0.0
            } else {
                x
            }
        };
        let total: f64 = weights.iter().enumerate().map(|(i, x)| w(i, *x)).sum();
        if total <= 0.0 {
            let allowed: Vec<usize> = (0..weights.len()).filter(|i| Some(*i) != except).collect();
            return allowed
                .get(rng.random_range(0..allowed.len().max(1)))
                .copied()
                .unwrap_or(0);
        }
        let mut pick = rng.random::<f64>() * total;
        for (i, x) in weights.iter().enumerate() {
            let x = w(i, *x);
            if pick < x {
                return i;
            }
            pick -= x;
        }
        0
    }

    fn pick_class(rng: &mut ChaCha8Rng, config: &SimConfig, except: Option<usize>) -> usize {
        let w: Vec<f64> = config.classes.iter().map(|c| c.weight).collect();
        Self::pick(rng, &w, except)
    }

    /// An index into [`SimConfig::services`] of a service outside the class list.
    fn pick_unknown(rng: &mut ChaCha8Rng, config: &SimConfig) -> Option<usize> {
        if config.unknown_services.is_empty() {
            return None;
        }
        let w: Vec<f64> = config.unknown_services.iter().map(|c| c.weight).collect();
        Some(config.classes.len() + Self::pick(rng, &w, None))
    }

    fn pick_sidecar(rng: &mut ChaCha8Rng, config: &SimConfig) -> Option<usize> {
        if config.sidecars.is_empty() || rng.random::<f64>() >= config.sidecar_fraction {
            return None;
        }
        let w: Vec<f64> = config.sidecars.iter().map(|c| c.weight).collect();
        Some(Self::pick(rng, &w, None))
    }

    /// Decides a churn pod spawned at `now`, or an initial pod that exists at `now`.
    fn churn_plan(&mut self, config: &SimConfig, now: Timestamp) -> Plan {
        let rng = &mut self.churn_rng;
        let u: f64 = rng.random();
        let many = config.classes.len() > 1;
        let (f_imp, f_unk, f_unn) = (
            config.impostor_fraction,
            config.unknown_fraction,
            config.unnamed_fraction,
        );
        let unknown = if (f_imp..f_imp + f_unk).contains(&u) {
            Self::pick_unknown(rng, config)
        } else {
            None
        };
        let (behaves_as, naming) = if u < f_imp && many {
            let named = Self::pick_class(rng, config, None);
            (Self::pick_class(rng, config, Some(named)), Naming::Class(named))
        } else if let Some(svc) = unknown {
            if rng.random::<f64>() < config.unknown_named_like_class {
                (svc, Naming::Class(Self::pick_class(rng, config, None)))
            } else {
                (svc, Naming::Unnamed(config.services()[svc].name.clone()))
            }
        } else if u < f_imp + f_unk + f_unn {
            let prefix = UNNAMED_PREFIXES[rng.random_range(0..UNNAMED_PREFIXES.len())];
            (Self::pick_class(rng, config, None), Naming::Unnamed(prefix.to_string()))
        } else {
            let c = Self::pick_class(rng, config, None);
            (c, Naming::Class(c))
        };
        let namespace = config.namespaces[rng.random_range(0..config.namespaces.len())].clone();
        let node = rng.random_range(0..config.nodes.len());
        let silent = rng.random::<f64>() < config.silent_fraction;
        let sidecar = Self::pick_sidecar(rng, config);
        let deletion = (!config.mean_lifetime.is_zero()).then(|| {
            let life = exp_draw(rng, config.mean_lifetime);
            // an initial pod is already old; lifetimes are memoryless, so count from now
            now + life
        });
        Plan {
            behaves_as,
            naming,
            exact_name: None,
            exact_image: None,
            namespace,
            node,
            silent,
            deletion,
            sidecar,
            fixed: Default::default(),
        }
    }

    /// Decides an explicitly spawned pod.
    pub(crate) fn explicit_plan(
        &mut self,
        config: &SimConfig,
        spec: &PodSpec,
        now: Timestamp,
    ) -> Result<PlanHandle, SimError> {
        let class = |name: &str| config.classes.iter().position(|c| c.name == name);
        let behaves_as = config
            .services()
            .iter()
            .position(|c| c.name == spec.behaves_as)
            .ok_or_else(|| SimError::UnknownClass(spec.behaves_as.clone()))?;
        let sidecar = match &spec.sidecar {
            None => None,
            Some(n) => Some(
                config
                    .sidecars
                    .iter()
                    .position(|s| s.name == *n)
                    .ok_or_else(|| SimError::UnknownSidecar(n.clone()))?,
            ),
        };
        let node = match &spec.node {
            None => (self.explicit_count % config.nodes.len() as u64) as usize,
            Some(n) => config
                .nodes
                .iter()
                .position(|x| x.name == *n)
                .ok_or_else(|| SimError::UnknownNode(n.clone()))?,
        };
        let naming = match &spec.named_as {
            Some(n) => match class(n) {
                Some(i) => Naming::Class(i),
                None => Naming::Unnamed(n.clone()),
            },
            None => {
                let h = str_hash(config.seed, &["unnamed", &self.explicit_count.to_string()]);
                Naming::Unnamed(UNNAMED_PREFIXES[(h % UNNAMED_PREFIXES.len() as u64) as usize].to_string())
            }
        };
        let namespace = spec.namespace.clone().unwrap_or_else(|| {
            config.namespaces[(self.explicit_count % config.namespaces.len() as u64) as usize].clone()
        });
        if let Some(name) = &spec.name
            && self.names.contains(&(namespace.clone(), name.clone()))
        {
            return Err(SimError::NameTaken(format!("{namespace}/{name}")));
        }
        Ok(PlanHandle(Plan {
            behaves_as,
            naming,
            exact_name: spec.name.clone(),
            exact_image: spec.image.clone(),
            namespace,
            node,
            silent: spec.silent,
            deletion: spec.lifetime.map(|d| now + d.max(Duration::from_millis(1))),
            sidecar,
            fixed: super::profile::Fixed {
                shape: spec.shape,
                scale: spec.scale,
            },
        }))
    }

    /// Creates an explicitly planned pod and tells the subscribers.
    pub(crate) fn spawn_planned(&mut self, config: &SimConfig, plan: PlanHandle, now: Timestamp) -> PodInfo {
        let pod = self.create(config, plan.0, now, STREAM_EXPLICIT);
        self.broadcast(PodEvent::Added(pod.info.clone()));
        pod.info.clone()
    }

    /// A free name for a pod of `prefix` in `ns` and its labels: a
    /// StatefulSet's next free ordinal, or a Deployment's
    /// `prefix-template-xxxxx`, the template hash from `pod_seed` (the pod's
    /// own: independent pods are not replicas of one Deployment).
    fn unique_name(
        &mut self,
        pod_seed: u64,
        ns: &str,
        prefix: &str,
        stateful: bool,
        rng: &mut ChaCha8Rng,
    ) -> (String, BTreeMap<String, String>) {
        let mut labels = BTreeMap::new();
        labels.insert("app.kubernetes.io/name".to_string(), prefix.to_string());
        if stateful {
            let next = self.ordinals.entry((ns.to_string(), prefix.to_string())).or_insert(0);
            loop {
                let name = format!("{prefix}-{next}");
                *next = next.saturating_add(1);
                if !self.names.contains(&(ns.to_string(), name.clone())) {
                    labels.insert("statefulset.kubernetes.io/pod-name".to_string(), name.clone());
                    return (name, labels);
                }
            }
        }
        // each independent pod is a Deployment of its own: its own template
        // hash, from its seed (no draw of `rng`)
        let h = str_hash(mix(pod_seed ^ TAG_TEMPLATE), &[ns, prefix]);
        let template = suffix_from_hash(h, 9 + (h % 2) as usize);
        labels.insert("pod-template-hash".to_string(), template.clone());
        loop {
            let name = format!("{prefix}-{template}-{}", random_suffix(rng, 5));
            if !self.names.contains(&(ns.to_string(), name.clone())) {
                return (name, labels);
            }
        }
    }

    /// Creates a pod from a plan: its own random draws come from its seed.
    fn create(&mut self, config: &SimConfig, plan: Plan, start: Timestamp, stream: u64) -> Arc<SimPod> {
        let count = match stream {
            STREAM_CHURN => &mut self.churn_count,
            _ => &mut self.explicit_count,
        };
        let pod_seed = mix(mix(config.seed ^ mix(stream)).wrapping_add(*count));
        *count += 1;
        let mut rng = ChaCha8Rng::seed_from_u64(pod_seed);
        let services = config.services();
        let behaves = &services[plan.behaves_as];
        let (prefix, named_class, stateful) = match &plan.naming {
            Naming::Class(i) => {
                let c = &config.classes[*i];
                (c.name.clone(), Some(*i), c.stateful)
            }
            Naming::Unnamed(p) => (p.clone(), None, behaves.stateful && *p == behaves.name),
        };
        let (name, labels) = match plan.exact_name.clone() {
            Some(n) => {
                let mut l = BTreeMap::new();
                l.insert("app.kubernetes.io/name".to_string(), prefix.clone());
                (n, l)
            }
            None => self.unique_name(pod_seed, &plan.namespace, &prefix, stateful, &mut rng),
        };
        let id = PodId::new(plan.namespace.clone(), name.clone(), uid(&mut rng));
        let image_class = match (named_class, config.impostor_image) {
            (Some(i), ImpostorImage::Claimed) => &config.classes[i],
            _ => behaves,
        };
        // Drawn even for an exact image: the pod's other draws stay the same.
        let image = image_class.image(rng.random());
        let mut containers = vec![ContainerInfo {
            name: prefix.clone(),
            image: plan.exact_image.clone().unwrap_or(image.reference),
            image_size_bytes: (image.size_bytes > 0).then_some(image.size_bytes),
        }];
        let (d0, d1) = config.metrics_delay;
        let delay = d0 + d1.saturating_sub(d0).mul_f64(rng.random::<f64>());
        let pod_series_seed: u64 = rng.random();
        let (model, app) = draw_app(&config.global, behaves, plan.fixed, &mut rng);
        let mut models = vec![app];
        let named_as = named_class.map(|i| config.classes[i].name.clone());
        let unknown_service = plan.behaves_as >= config.classes.len();
        let truth = Truth {
            impostor: named_as.as_ref().is_some_and(|n| *n != behaves.name),
            behaves_as: behaves.name.clone(),
            named_as,
            unknown_service,
            silent: plan.silent,
            sidecar: None,
        };
        let mut truths = vec![truth.clone()];
        if let Some(sc) = plan.sidecar.and_then(|i| config.sidecars.get(i)) {
            models.push(draw_sidecar(sc, &models[0], &mut rng));
            containers.push(ContainerInfo {
                name: sc.name.clone(),
                image: sc.image.clone(),
                image_size_bytes: None,
            });
            truths.push(Truth {
                behaves_as: sc.name.clone(),
                named_as: None,
                impostor: false,
                unknown_service: false,
                silent: plan.silent,
                sidecar: Some(sc.name.clone()),
            });
        }
        let node = self
            .nodes
            .get(plan.node)
            .cloned()
            .unwrap_or_else(|| NodeModel::draw(&super::profile::NodeProfile::plain("default"), &mut rng));
        let shared = Arc::new(PodShared::new(
            pod_series_seed,
            start,
            start + delay,
            i64::try_from(config.sample_interval.as_millis())
                .unwrap_or(i64::MAX)
                .max(1),
            plan.silent,
            model,
            node,
            &models,
        ));
        let restart_p_epoch = Series::restart_p_epoch(config.restart_probability);
        let series = models.into_iter().enumerate().map(|(i, model)| Series {
            pod: shared.clone(),
            seed: mix(pod_series_seed ^ mix(i as u64 + 1)),
            restart_p_epoch,
            model,
        });
        let info = PodInfo {
            id,
            node: config.nodes.get(plan.node).map(|n| n.name.clone()),
            start_time: Some(start),
            phase: PodPhase::Running,
            labels,
            containers,
            annotations: Default::default(),
        };
        let pod = SimPod {
            info,
            truth,
            containers: truths.into_iter().zip(series).collect(),
        };
        self.add(pod, Life::Running(plan.deletion))
    }
}

/// A validated plan for an explicit spawn.
pub(crate) struct PlanHandle(Plan);
