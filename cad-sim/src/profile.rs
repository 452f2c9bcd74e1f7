//! The profiles of `profiles.toml` (every service, sidecar and node kind the
//! simulator knows, each figure marked measured or invented), and the
//! per-pod parameters drawn from them.

use cad_core::metric::Metric;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;
/// Nanocores per millicore.
const NANOCORES_PER_MC: f64 = 1e6;

/// The profile file, compiled in.
pub(crate) const PROFILES_TOML: &str = include_str!("../profiles.toml");

/// A range `[min, max]` a parameter is drawn from, once per pod or node:
/// log-uniformly when `max >= 10 × min > 0` (a range over orders of
/// magnitude), else uniformly. Written `[min, max]` in the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "[f64; 2]", into = "[f64; 2]")]
pub struct Range {
    /// Lower bound.
    pub min: f64,
    /// Upper bound.
    pub max: f64,
}

impl From<[f64; 2]> for Range {
    fn from([min, max]: [f64; 2]) -> Self {
        Range { min, max }
    }
}

impl From<Range> for [f64; 2] {
    fn from(r: Range) -> Self {
        [r.min, r.max]
    }
}

impl Range {
    /// `[min, max]`.
    pub const fn new(min: f64, max: f64) -> Self {
        Range { min, max }
    }

    /// Draws one value (see the type's documentation). A malformed range
    /// (not finite, or min > max) gives its finite bound or 0 rather than panic.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let u: f64 = rng.random();
        let (lo, hi) = (self.min, self.max);
        if !(lo.is_finite() && hi.is_finite()) || lo > hi {
            return if lo.is_finite() { lo } else { 0.0 };
        }
        if lo > 0.0 && hi >= 10.0 * lo {
            (lo.ln() + (hi.ln() - lo.ln()) * u).exp()
        } else {
            lo + (hi - lo) * u
        }
    }

    /// Whether the range is finite, non-negative and ordered.
    pub fn is_valid(&self) -> bool {
        self.min.is_finite() && self.max.is_finite() && 0.0 <= self.min && self.min <= self.max
    }

    /// Whether `x` lies in the range.
    pub fn contains(&self, x: f64) -> bool {
        self.min <= x && x <= self.max
    }
}

/// One image a service's pods may run, with its size on the node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageVariant {
    /// The image reference, e.g. `docker.io/library/mysql:8.0`.
    pub reference: String,
    /// Its size in bytes.
    pub size_bytes: u64,
}

/// Figures that hold for every pod.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    /// Bytes per second the kubelet's probe sends to every pod.
    pub probe_rx_b: Range,
    /// Bytes per second every pod answers a probe with.
    pub probe_tx_b: Range,
    /// A steady pod's load, in units of the recorded steady load.
    pub scale: Range,
    /// A bursty or batch pod's load, in units of the recorded heavy load.
    pub heavy_scale: Range,
    /// Seconds from one burst to the next (bursty pods).
    pub burst_period_s: Range,
    /// Seconds a burst lasts.
    pub burst_s: Range,
    /// Seconds from one batch to the next (batch pods).
    pub batch_period_s: Range,
    /// The share of a batch period spent working.
    pub batch_fraction: Range,
    /// Relative swing of a steady load (0 to 0.6).
    pub steady_swing: f64,
    /// KiB of the service-account token volume every pod mounts.
    pub token_volume_kib: Range,
}

/// Rates of one operating point (all optional in the file, 0 when absent).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rates {
    /// CPU, millicores.
    pub cpu_mc: Range,
    /// Bytes received, KiB/s.
    pub rx_kib_s: Range,
    /// Bytes sent, KiB/s.
    pub tx_kib_s: Range,
    /// Page faults per second.
    pub faults_s: Range,
    /// Block-device writes, KiB/s.
    pub write_kib_s: Range,
    /// Block-device reads, KiB/s.
    pub read_kib_s: Range,
    /// Log bytes per second.
    pub log_b: Range,
    /// What the service answers the probe with, bytes/s, if not the global figure.
    pub probe_tx_b: Option<Range>,
}

impl Rates {
    fn ranges(&self) -> [Range; 7] {
        [
            self.cpu_mc,
            self.rx_kib_s,
            self.tx_kib_s,
            self.faults_s,
            self.write_kib_s,
            self.read_kib_s,
            self.log_b,
        ]
    }

    /// Draws one operating point, in base units (nanocores, bytes/s).
    fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Op {
        Op {
            cpu: self.cpu_mc.draw(rng) * NANOCORES_PER_MC,
            rx: self.rx_kib_s.draw(rng) * KIB,
            tx: self.tx_kib_s.draw(rng) * KIB,
            faults: self.faults_s.draw(rng),
            write: self.write_kib_s.draw(rng) * KIB,
            read: self.read_kib_s.draw(rng) * KIB,
            log: self.log_b.draw(rng),
        }
    }
}

/// Weights of the four workload shapes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Shapes {
    /// Probe traffic only.
    pub idle: f64,
    /// A steady load.
    pub steady: f64,
    /// Quiet, with short heavy bursts.
    pub bursty: f64,
    /// Quiet, with long heavy stretches.
    pub batch: f64,
}

/// A pod's workload shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Probe traffic and the server's own timers only.
    Idle,
    /// A steady load.
    Steady,
    /// Quiet, with heavy bursts of 10–40 s every few minutes.
    Bursty,
    /// Quiet, with long heavy stretches.
    Batch,
}

impl Shape {
    /// All shapes.
    pub const ALL: [Shape; 4] = [Shape::Idle, Shape::Steady, Shape::Bursty, Shape::Batch];

    /// `idle`, `steady`, `bursty` or `batch`.
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Idle => "idle",
            Shape::Steady => "steady",
            Shape::Bursty => "bursty",
            Shape::Batch => "batch",
        }
    }
}

impl Shapes {
    fn weights(&self) -> [f64; 4] {
        [self.idle, self.steady, self.bursty, self.batch]
    }

    fn pick<R: Rng + ?Sized>(&self, rng: &mut R) -> Shape {
        let w = self.weights().map(|x| if x.is_finite() && x > 0.0 { x } else { 0.0 });
        let total: f64 = w.iter().sum();
        let mut u = rng.random::<f64>() * total;
        for (i, x) in w.iter().enumerate() {
            if u < *x {
                return Shape::ALL[i];
            }
            u -= x;
        }
        Shape::Steady
    }
}

/// How one rate of a steady pod follows its load scale `k` (in units of the
/// recorded steady load): `k^below` for `k < 1`, `k^above` for `k > 1`, so
/// scale 1 is the recorded steady rate. Real servers are not linear: a
/// quarter of the load may take half the CPU (a per-connection cost), four
/// times the load only twice (batching). 1 and 1 when not measured.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exponent {
    /// The exponent below the recorded load.
    pub below: f64,
    /// The exponent above it.
    pub above: f64,
}

impl Default for Exponent {
    fn default() -> Self {
        Exponent { below: 1.0, above: 1.0 }
    }
}

impl Exponent {
    /// The factor at load scale `k` (0 for no load or a scale that is not a number).
    pub fn factor(&self, k: f64) -> f64 {
        if !(k.is_finite() && k > 0.0) {
            0.0
        } else if k < 1.0 {
            k.powf(self.below)
        } else {
            k.powf(self.above)
        }
    }

    fn is_valid(&self) -> bool {
        (0.0..=2.0).contains(&self.below) && (0.0..=2.0).contains(&self.above)
    }
}

/// How a steady pod's CPU, page faults and block-device writes follow its
/// load scale; every other rate (traffic, reads, logs) follows it linearly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadExponents {
    /// CPU.
    pub cpu_mc: Exponent,
    /// Page faults.
    pub faults_s: Exponent,
    /// Block-device writes.
    pub write_kib_s: Exponent,
}

/// Work a service goes on doing after each stretch of work (a burst, a
/// batch) has ended: PostgreSQL's checkpointer writing the pages the stretch
/// dirtied, autovacuum cleaning up after it. Each stretch leaves these
/// amounts (at most what the stretch itself did), done at a rate that decays
/// with time constant `secs` after the stretch ends. Steady pods never stop
/// working: their measured rates already hold it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tail {
    /// Time constant of the decay, seconds.
    pub secs: Range,
    /// CPU-seconds left per stretch.
    #[serde(default)]
    pub cpu_core_s: Range,
    /// MiB of block-device writes left per stretch.
    #[serde(default)]
    pub write_mib: Range,
}

/// How a service uses memory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    /// RSS once started, MiB.
    pub rss_mib: Range,
    /// RSS / usage (the rest of usage is page cache), for a service whose
    /// page cache grows with its RSS (a database's pages); give this or
    /// `cache_mib`.
    #[serde(default)]
    pub rss_ratio: Option<Range>,
    /// Page cache beside the RSS, MiB, for a service whose page cache is its
    /// program's files and stays put while its RSS grows (a web server's:
    /// RSS / usage then rises with the RSS, as recorded); usage is the RSS,
    /// this and `inactive_mib`, and this is in the working set. Give this or
    /// `rss_ratio`.
    #[serde(default)]
    pub cache_mib: Option<Range>,
    /// Page cache beside `cache_mib` that is not in the working set (files
    /// read once, on the inactive list: what the first container of an image
    /// on a node is charged for its libraries), MiB; 0 when left out. Only
    /// with `cache_mib`.
    #[serde(default)]
    pub inactive_mib: Option<Range>,
    /// Working set / usage.
    pub ws_ratio: Range,
    /// How much RSS can grow with use (a buffer pool, a cache), MiB.
    pub grow_mib: Range,
    /// How fast it grows: MiB per CPU-second of work.
    pub grow_mib_per_core_s: Range,
    /// Memory the first work allocates at once, before and on top of
    /// `grow_mib` (memcached's first 1 MiB slab page of every slab class
    /// its items fall into), MiB; 0 when left out.
    #[serde(default)]
    pub first_mib: Range,
    /// How fast `first_mib` is allocated: MiB per CPU-second of work.
    #[serde(default)]
    pub first_mib_per_core_s: Range,
}

/// A service's data volume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// MiB on it once started.
    pub start_mib: Range,
    /// The share of the bytes written that stays on it.
    pub per_write: Range,
    /// Its size, GiB: it stops growing there.
    pub cap_gib: Range,
}

/// A start-up phase: extra rates for its first seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// What happens (`initdb`, `index build`, …).
    pub what: String,
    /// How long it lasts, seconds.
    pub secs: Range,
    /// CPU, millicores.
    #[serde(default)]
    pub cpu_mc: Range,
    /// Block-device writes, KiB/s.
    #[serde(default)]
    pub write_kib_s: Range,
    /// Block-device reads, KiB/s.
    #[serde(default)]
    pub read_kib_s: Range,
    /// Page faults per second.
    #[serde(default)]
    pub faults_s: Range,
}

/// How one service behaves: a class cad knows, or a service outside the
/// class list. See `profiles.toml` for the model and the sources.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceProfile {
    /// The service name; the pod name prefix and container name of pods named after it.
    pub name: String,
    /// Whether it is one of the classes (else a service outside the class list).
    pub class: bool,
    /// Whether pods are named like a StatefulSet's (`mysql-0`).
    pub stateful: bool,
    /// Relative weight when a pod of this kind is picked.
    pub weight: f64,
    /// Where the figures come from.
    pub source: String,
    /// Images the pods run.
    pub images: Vec<ImageVariant>,
    /// Ages of the pods running when the cluster is created, hours.
    pub age_hours: Range,
    /// Weights of the workload shapes.
    pub shapes: Shapes,
    /// Writable layer, KiB (a constant of the image).
    pub rootfs_kib: Range,
    /// Logs right after start, KiB.
    pub logs_start_kib: Range,
    /// Rates with no load beyond the probe.
    pub floor: Rates,
    /// Extra rates at the recorded steady load.
    pub steady: Rates,
    /// Extra rates at the recorded heavy load (bursts, batches).
    pub heavy: Rates,
    /// How a steady pod's CPU, page faults and writes follow its load scale.
    #[serde(default)]
    pub load_exponent: LoadExponents,
    /// If set, the service writes to disk only in saves every so many
    /// seconds (redis's RDB snapshots): the bytes of `write_kib_s` land in
    /// one sample interval per period instead of evenly.
    #[serde(default)]
    pub writes_every_s: Option<Range>,
    /// Work left after each burst or batch, if any.
    #[serde(default)]
    pub tail: Option<Tail>,
    /// Whether its page faults are the first touch of its growing memory:
    /// one per 4 KiB page its RSS grows by with use, on top of its rates'.
    #[serde(default)]
    pub faults_from_growth: bool,
    /// The probability that a pod writes its log (the `log_b` rates) to
    /// files in its container's writable layer, growing `rootfs_kib`,
    /// instead of to stdout, growing the container log (Tomcat's access
    /// log and `catalina.<date>.log` in `CATALINA_BASE/logs`); 0 when left
    /// out.
    #[serde(default)]
    pub logs_in_rootfs: f64,
    /// Memory.
    pub memory: Memory,
    /// The data volume, if any.
    #[serde(default)]
    pub volume: Option<Volume>,
    /// Start-up phases, in order.
    #[serde(default)]
    pub startup: Vec<Phase>,
}

/// What a sidecar's activity follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Follows {
    /// The pod's network traffic (a proxy).
    Traffic,
    /// The app container's log output (a log shipper).
    Logs,
    /// Nothing: its own timers only.
    None,
}

/// A sidecar container (a mesh proxy, a log shipper, …).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SidecarProfile {
    /// The container name (one of cad-core's default sidecar names).
    pub name: String,
    /// Relative weight when a sidecar is picked for a pod.
    pub weight: f64,
    /// Where the figures come from.
    pub source: String,
    /// Its image.
    pub image: String,
    /// What its activity follows.
    pub follows: Follows,
    /// RSS, MiB.
    pub rss_mib: Range,
    /// RSS / usage.
    pub rss_ratio: Range,
    /// Its own rates.
    pub floor: Rates,
    /// Extra rates per MiB/s of what it follows.
    pub per_app_mib: Rates,
}

/// A node kind: what its runtime and stats path report, and how noisy it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeProfile {
    /// The node name.
    pub name: String,
    /// Where the figures come from.
    pub source: String,
    /// Whether `docker_container_blkio` exists for its pods.
    pub blkio: bool,
    /// The kubelet's log rotation size, MiB; 0: none.
    pub log_rotation_mib: f64,
    /// The share of CPU-bound work lost to noisy neighbours.
    pub contention: Range,
    /// Metric names its stats path leaves out, which Telegraf writes as 0.
    pub zero_fields: Vec<String>,
}

impl NodeProfile {
    /// A quiet Docker node with block I/O, no rotation and every field.
    pub fn plain(name: impl Into<String>) -> Self {
        NodeProfile {
            name: name.into(),
            source: "test".into(),
            blkio: true,
            log_rotation_mib: 0.0,
            contention: Range::new(0.0, 0.0),
            zero_fields: Vec::new(),
        }
    }

    /// The metrics written as 0 on this node (unknown names are skipped;
    /// [`Profiles::validate`] reports them).
    pub(crate) fn zero_metrics(&self) -> Vec<Metric> {
        self.zero_fields.iter().filter_map(|n| Metric::from_name(n)).collect()
    }
}

/// Everything in `profiles.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profiles {
    /// Figures for every pod.
    pub global: Global,
    /// Services: classes and services outside the class list.
    pub service: Vec<ServiceProfile>,
    /// Sidecars.
    pub sidecar: Vec<SidecarProfile>,
    /// Nodes.
    pub node: Vec<NodeProfile>,
}

/// Why a profile file is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// Not TOML, or not the profile schema.
    #[error("the profiles do not parse")]
    Parse(#[source] toml::de::Error),
    /// Parsed, but a figure is out of range.
    #[error("invalid profile: {0}")]
    Invalid(String),
}

impl Profiles {
    /// The profiles compiled into the crate (`cad-sim/profiles.toml`).
    pub fn builtin() -> Profiles {
        // The file is part of the crate and a unit test parses and validates
        // it, so this cannot fail in a released build.
        Profiles::parse(PROFILES_TOML).unwrap_or_else(|e| panic!("cad-sim/profiles.toml: {e}"))
    }

    /// Parses and validates a profile file.
    pub fn parse(text: &str) -> Result<Profiles, ProfileError> {
        let p: Profiles = toml::from_str(text).map_err(ProfileError::Parse)?;
        p.validate()?;
        Ok(p)
    }

    /// Checks every range and name.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let bad = |m: String| Err(ProfileError::Invalid(m));
        let g = &self.global;
        for (n, r) in [
            ("probe_rx_b", g.probe_rx_b),
            ("probe_tx_b", g.probe_tx_b),
            ("scale", g.scale),
            ("heavy_scale", g.heavy_scale),
            ("burst_period_s", g.burst_period_s),
            ("burst_s", g.burst_s),
            ("batch_period_s", g.batch_period_s),
            ("batch_fraction", g.batch_fraction),
            ("token_volume_kib", g.token_volume_kib),
        ] {
            if !r.is_valid() {
                return bad(format!("global.{n} {r:?}"));
            }
        }
        if g.burst_s.max > g.burst_period_s.min || g.batch_fraction.max >= 1.0 || g.burst_period_s.min <= 0.0 {
            return bad("bursts must fit in their period, batches in theirs".into());
        }
        if g.batch_period_s.min <= 0.0 || !(0.0..=0.6).contains(&g.steady_swing) {
            return bad("batch_period_s must be positive, steady_swing in [0, 0.6]".into());
        }
        let mut names = HashSet::new();
        for s in &self.service {
            let n = &s.name;
            if n.is_empty() || !names.insert(n.as_str()) {
                return bad(format!("service names must be non-empty and unique ({n:?})"));
            }
            let mut ranges = vec![
                s.age_hours,
                s.rootfs_kib,
                s.logs_start_kib,
                s.memory.rss_mib,
                s.memory.ws_ratio,
                s.memory.grow_mib,
                s.memory.grow_mib_per_core_s,
                s.memory.first_mib,
                s.memory.first_mib_per_core_s,
            ];
            for r in [&s.floor, &s.steady, &s.heavy] {
                ranges.extend(r.ranges());
                ranges.extend(r.probe_tx_b);
            }
            if let Some(v) = &s.volume {
                ranges.extend([v.start_mib, v.per_write, v.cap_gib]);
            }
            for p in &s.startup {
                ranges.extend([p.secs, p.cpu_mc, p.write_kib_s, p.read_kib_s, p.faults_s]);
            }
            if let Some(r) = ranges.iter().find(|r| !r.is_valid()) {
                return bad(format!("service {n}: range {r:?}"));
            }
            let e = &s.load_exponent;
            if !(e.cpu_mc.is_valid() && e.faults_s.is_valid() && e.write_kib_s.is_valid()) {
                return bad(format!("service {n}: load exponents must lie in [0, 2]"));
            }
            if !(0.0..=1.0).contains(&s.logs_in_rootfs) {
                return bad(format!("service {n}: logs_in_rootfs must be a probability"));
            }
            if s.writes_every_s.is_some_and(|r| !r.is_valid() || r.min <= 0.0) {
                return bad(format!("service {n}: writes_every_s must be positive"));
            }
            if let Some(t) = &s.tail
                && ([t.secs, t.cpu_core_s, t.write_mib].iter().any(|r| !r.is_valid()) || t.secs.min <= 0.0)
            {
                return bad(format!("service {n}: tail ranges must be valid, its secs positive"));
            }
            match (s.memory.rss_ratio, s.memory.cache_mib) {
                (Some(r), None) if r.is_valid() && r.min > 0.0 && r.max <= 1.0 => {}
                (None, Some(c)) if c.is_valid() => {}
                (Some(_), None) => return bad(format!("service {n}: rss_ratio must lie in (0, 1]")),
                (None, Some(c)) => return bad(format!("service {n}: range {c:?}")),
                _ => return bad(format!("service {n}: memory needs one of rss_ratio and cache_mib")),
            }
            match (s.memory.inactive_mib, s.memory.cache_mib) {
                (None, _) => {}
                (Some(i), Some(_)) if i.is_valid() => {}
                (Some(i), Some(_)) => return bad(format!("service {n}: range {i:?}")),
                (Some(_), None) => return bad(format!("service {n}: inactive_mib needs cache_mib")),
            }
            if s.memory.ws_ratio.max > 1.0 {
                return bad(format!("service {n}: ws_ratio must lie in (0, 1]"));
            }
            if s.memory.rss_mib.min <= 0.0 {
                return bad(format!("service {n}: rss_mib must be positive"));
            }
            if s.memory.grow_mib.max > 0.0 && s.memory.grow_mib_per_core_s.min <= 0.0 {
                return bad(format!("service {n}: memory that grows needs grow_mib_per_core_s > 0"));
            }
            if s.memory.first_mib.max > 0.0 && s.memory.first_mib_per_core_s.min <= 0.0 {
                return bad(format!("service {n}: first_mib needs first_mib_per_core_s > 0"));
            }
            if s.shapes.weights().iter().all(|w| !(w.is_finite() && *w > 0.0))
                || !(s.weight.is_finite() && s.weight >= 0.0)
            {
                return bad(format!("service {n}: needs a positive shape weight and a weight >= 0"));
            }
        }
        for s in &self.sidecar {
            let n = &s.name;
            if n.is_empty() || !names.insert(n.as_str()) {
                return bad(format!("sidecar names must be non-empty and unique ({n:?})"));
            }
            let mut ranges = vec![s.rss_mib, s.rss_ratio];
            ranges.extend(s.floor.ranges());
            ranges.extend(s.per_app_mib.ranges());
            if ranges.iter().any(|r| !r.is_valid()) || s.rss_ratio.min <= 0.0 || s.rss_ratio.max > 1.0 {
                return bad(format!("sidecar {n}: a range is invalid"));
            }
        }
        for node in &self.node {
            if !node.contention.is_valid()
                || node.contention.max >= 1.0
                || node.log_rotation_mib.is_nan()
                || node.log_rotation_mib < 0.0
            {
                return bad(format!(
                    "node {}: contention must lie in [0, 1), rotation >= 0",
                    node.name
                ));
            }
            if let Some(f) = node.zero_fields.iter().find(|f| Metric::from_name(f).is_none()) {
                return bad(format!("node {}: no metric named {f}", node.name));
            }
        }
        Ok(())
    }

    /// The services that are classes, in file order.
    pub fn classes(&self) -> Vec<ServiceProfile> {
        self.service.iter().filter(|s| s.class).cloned().collect()
    }

    /// The services outside the class list, in file order.
    pub fn unknown_services(&self) -> Vec<ServiceProfile> {
        self.service.iter().filter(|s| !s.class).cloned().collect()
    }
}

impl ServiceProfile {
    /// The image a pod with this `pick` (any number) runs.
    pub(crate) fn image(&self, pick: u64) -> ImageVariant {
        let n = self.images.len() as u64;
        match n {
            0 => ImageVariant {
                reference: format!("docker.io/library/{}:latest", self.name),
                size_bytes: 0,
            },
            _ => self.images[(pick % n) as usize].clone(),
        }
    }
}

/// Rates of one operating point in base units: nanocores, bytes/s, faults/s.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Op {
    pub cpu: f64,
    pub rx: f64,
    pub tx: f64,
    pub faults: f64,
    pub write: f64,
    pub read: f64,
    pub log: f64,
}

impl Op {
    pub(crate) fn scaled(self, k: f64) -> Op {
        Op {
            cpu: self.cpu * k,
            rx: self.rx * k,
            tx: self.tx * k,
            faults: self.faults * k,
            write: self.write * k,
            read: self.read * k,
            log: self.log * k,
        }
    }

    /// `self` (the rates at the recorded steady load) at load scale `k`:
    /// CPU, page faults and writes by `e`, every other rate linearly.
    pub(crate) fn at_load(self, k: f64, e: &LoadExponents) -> Op {
        Op {
            cpu: self.cpu * e.cpu_mc.factor(k),
            faults: self.faults * e.faults_s.factor(k),
            write: self.write * e.write_kib_s.factor(k),
            ..self.scaled(k)
        }
    }

    pub(crate) fn plus(self, o: Op) -> Op {
        Op {
            cpu: self.cpu + o.cpu,
            rx: self.rx + o.rx,
            tx: self.tx + o.tx,
            faults: self.faults + o.faults,
            write: self.write + o.write,
            read: self.read + o.read,
            log: self.log + o.log,
        }
    }

    /// Each field multiplied by the matching one of `per`.
    fn times(self, per: Op) -> Op {
        Op {
            cpu: self.cpu * per.cpu,
            rx: self.rx * per.rx,
            tx: self.tx * per.tx,
            faults: self.faults * per.faults,
            write: self.write * per.write,
            read: self.read * per.read,
            log: self.log * per.log,
        }
    }
}

/// A rate that swings around 1 with two sine waves (one slow, one fast),
/// so it can be integrated exactly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Wave {
    a1: f64,
    w1: f64,
    p1: f64,
    a2: f64,
    w2: f64,
    p2: f64,
    /// `a1 / w1 * sin(p1) + a2 / w2 * sin(p2)`: makes the integral 0 at `t = 0`.
    offset: f64,
}

/// The sum of the wave amplitudes never exceeds this.
pub(crate) const MAX_SWING: f64 = 0.6;

impl Wave {
    /// A wave with relative swing `swing` (0..=MAX_SWING).
    pub(crate) fn draw<R: Rng + ?Sized>(rng: &mut R, swing: f64) -> Self {
        let v = if swing.is_finite() {
            swing.clamp(0.0, MAX_SWING)
        } else {
            0.0
        };
        let tau = std::f64::consts::TAU;
        let a1 = 0.6 * v * rng.random::<f64>();
        let w1 = tau / (300.0 + 1_500.0 * rng.random::<f64>());
        let p1 = tau * rng.random::<f64>();
        let a2 = 0.4 * v * rng.random::<f64>();
        let w2 = tau / (30.0 + 90.0 * rng.random::<f64>());
        let p2 = tau * rng.random::<f64>();
        let offset = a1 / w1 * p1.sin() + a2 / w2 * p2.sin();
        Wave {
            a1,
            w1,
            p1,
            a2,
            w2,
            p2,
            offset,
        }
    }

    /// The rate `t` seconds after the start (mean 1).
    pub(crate) fn rate(&self, t: f64) -> f64 {
        1.0 + self.a1 * (self.w1 * t + self.p1).cos() + self.a2 * (self.w2 * t + self.p2).cos()
    }

    /// The integral of the rate from 0 to `t` seconds.
    pub(crate) fn integral(&self, t: f64) -> f64 {
        let s1 = self.a1 / self.w1 * (self.w1 * t + self.p1).sin();
        let s2 = self.a2 / self.w2 * (self.w2 * t + self.p2).sin();
        t + s1 + s2 - self.offset
    }
}

/// When a pod works: its activity `a(t)` (0 when quiet, about 1 when
/// working) and the integral of it, both in closed form so a sample at any
/// age costs the same.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Activity {
    /// Never works.
    Idle,
    /// Always works, swinging slowly.
    Steady(Wave),
    /// Works `len` seconds in every `period`, at an offset drawn per period
    /// from `seed`.
    Periodic { period: f64, len: f64, seed: u64 },
}

impl Activity {
    fn offset(period: f64, len: f64, seed: u64, n: f64) -> f64 {
        let h = crate::series::mix(seed ^ (n as i64 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        (h >> 11) as f64 / (1u64 << 53) as f64 * (period - len).max(0.0)
    }

    /// The activity `t` seconds after the pod started.
    pub(crate) fn rate(&self, t: f64) -> f64 {
        match *self {
            Activity::Idle => 0.0,
            Activity::Steady(w) => w.rate(t),
            Activity::Periodic { period, len, seed } => {
                if t < 0.0 {
                    return 0.0;
                }
                let n = (t / period).floor();
                let o = Self::offset(period, len, seed, n);
                let x = t - n * period - o;
                if (0.0..len).contains(&x) { 1.0 } else { 0.0 }
            }
        }
    }

    /// The integral of the activity from the pod's start to `t` seconds.
    pub(crate) fn integral(&self, t: f64) -> f64 {
        let t = t.max(0.0);
        match *self {
            Activity::Idle => 0.0,
            Activity::Steady(w) => w.integral(t),
            Activity::Periodic { period, len, seed } => {
                let n = (t / period).floor();
                let o = Self::offset(period, len, seed, n);
                n * len + (t - n * period - o).clamp(0.0, len)
            }
        }
    }

    /// The stretches of work (bursts, batches) that ended in `(from, to]`
    /// seconds after the pod started: how many, and the sum over them of
    /// `exp(-(to - end) / tau)` (those that ended more than `TAIL_HORIZON`
    /// time constants before `to` count as fully decayed). A steady or idle
    /// pod has none.
    pub(crate) fn ends(&self, from: f64, to: f64, tau: f64) -> (f64, f64) {
        let Activity::Periodic { period, len, seed } = *self else {
            return (0.0, 0.0);
        };
        if len <= 0.0 || to <= from || to < 0.0 || tau.is_nan() || tau <= 0.0 {
            return (0.0, 0.0);
        }
        let end = |n: f64| n * period + Self::offset(period, len, seed, n) + len;
        // how many ended at or before `t`
        let upto = |t: f64| {
            if t < 0.0 {
                return 0.0;
            }
            let n = (t / period).floor();
            n + if end(n) <= t { 1.0 } else { 0.0 }
        };
        let count = upto(to) - upto(from);
        let mut pending = 0.0;
        let mut n = (to / period).floor();
        while n >= 0.0 && (n + 1.0) * period > from && to - (n + 1.0) * period < TAIL_HORIZON * tau {
            let e = end(n);
            if from < e && e <= to {
                pending += (-(to - e) / tau).exp();
            }
            n -= 1.0;
        }
        (count, pending)
    }
}

/// After this many time constants a tail counts as done (e^-8: 0.03 % left).
const TAIL_HORIZON: f64 = 8.0;

/// A node's drawn behaviour (the same for every pod on it).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NodeModel {
    pub blkio: bool,
    pub rotation_bytes: f64,
    /// The largest share of CPU-bound work lost to neighbours.
    pub contention: f64,
    /// The neighbours' slow swing (shared by the node's pods).
    pub swing_w: f64,
    pub swing_p: f64,
    pub zero: Vec<Metric>,
}

impl NodeModel {
    pub(crate) fn draw<R: Rng + ?Sized>(node: &NodeProfile, rng: &mut R) -> Self {
        let tau = std::f64::consts::TAU;
        NodeModel {
            blkio: node.blkio,
            rotation_bytes: node.log_rotation_mib.max(0.0) * MIB,
            contention: node.contention.draw(rng).clamp(0.0, 0.95),
            swing_w: tau / (120.0 + 1_200.0 * rng.random::<f64>()),
            swing_p: tau * rng.random::<f64>(),
            zero: node.zero_metrics(),
        }
    }

    /// The share of CPU-bound work lost at time `t` (seconds since the epoch):
    /// between 0 and `contention`, the same for every pod of the node.
    pub(crate) fn lost(&self, t: f64) -> f64 {
        self.contention * 0.5 * (1.0 + (self.swing_w * t + self.swing_p).sin())
    }
}

/// One start-up phase of a pod, drawn: from `from` to `to` seconds after
/// the container starts, these extra rates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct PhaseModel {
    pub from: f64,
    pub to: f64,
    pub op: Op,
}

/// One container's drawn parameters: its rates are `base + act × a(t)`
/// (the pod's activity) plus its start-up phases.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ContainerModel {
    pub base: Op,
    pub act: Op,
    /// Seconds between saves if the container writes only when saving
    /// (its writes land at the last save); 0: it writes as it works.
    pub write_every: f64,
    /// Work left after each stretch of work, if any.
    pub tail: Option<TailModel>,
    /// A page fault per page of RSS growth (see [`ServiceProfile::faults_from_growth`]).
    pub growth_faults: bool,
    /// Whether its log goes to files in its writable layer (rootfs) rather
    /// than to the container log (see [`ServiceProfile::logs_in_rootfs`]).
    pub logs_in_rootfs: bool,
    /// Whether the activity's work is CPU-bound (bursts, batches): then
    /// noisy neighbours take a share of it.
    pub cpu_bound: bool,
    pub phases: Vec<PhaseModel>,
    pub rss: f64,
    pub grow: f64,
    /// Bytes of RSS per core-second of work.
    pub grow_per_core_s: f64,
    /// RSS the first work allocates at once, bytes (0: none), and how
    /// fast: bytes per core-second.
    pub first: f64,
    pub first_per_core_s: f64,
    pub page_cache: PageCache,
    pub ws_ratio: f64,
    pub rootfs: f64,
    pub logs: f64,
    pub major_fault_ratio: f64,
}

/// How a container's page cache makes its memory usage from its RSS.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum PageCache {
    /// A share of usage: RSS / usage is this (the cache grows with the RSS).
    Share(f64),
    /// Sizes of their own beside the RSS, bytes: the cache in the working
    /// set, and the cache outside it (read once, inactive).
    Fixed { active: f64, inactive: f64 },
}

impl PageCache {
    /// The usage of a container with `rss` bytes of RSS, and the part of it
    /// that may be working set (all but the inactive cache).
    pub(crate) fn usage_and_active(self, rss: f64) -> (f64, f64) {
        match self {
            PageCache::Share(r) => (rss / r, rss / r),
            PageCache::Fixed { active, inactive } => (rss + active + inactive, rss + active),
        }
    }
}

impl ContainerModel {
    /// The end of the last start-up phase, seconds after the container starts.
    pub(crate) fn startup_secs(&self) -> f64 {
        self.phases.last().map_or(0.0, |p| p.to)
    }
}

/// The work a stretch leaves behind, drawn: `op` holds amounts per stretch
/// (nanocore-seconds, bytes, …), done at `op / tau × exp(-age / tau)` after
/// the stretch ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct TailModel {
    pub op: Op,
    pub tau: f64,
}

/// A pod's drawn parameters, shared by its containers.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PodModel {
    pub shape: Shape,
    pub activity: Activity,
    pub probe_rx: f64,
    pub probe_tx: f64,
    /// Volume: bytes after start, share of writes kept, cap; the token is
    /// always there.
    pub volume: Option<(f64, f64, f64)>,
    pub token: f64,
}

/// What a spawned pod's draw may fix instead of drawing.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Fixed {
    pub shape: Option<Shape>,
    pub scale: Option<f64>,
}

/// Draws a pod of `service`: the pod-level model and the app container's.
pub(crate) fn draw_app<R: Rng + ?Sized>(
    g: &Global,
    s: &ServiceProfile,
    fixed: Fixed,
    rng: &mut R,
) -> (PodModel, ContainerModel) {
    let pos = |x: f64| if x.is_finite() { x.max(0.0) } else { 0.0 };
    let shape = fixed.shape.unwrap_or_else(|| s.shapes.pick(rng));
    let activity_seed: u64 = rng.random();
    let (activity, act) = match shape {
        Shape::Idle => (Activity::Idle, Op::default()),
        Shape::Steady => {
            let scale = fixed.scale.unwrap_or_else(|| g.scale.draw(rng));
            (
                Activity::Steady(Wave::draw(rng, g.steady_swing)),
                s.steady.draw(rng).at_load(pos(scale), &s.load_exponent),
            )
        }
        Shape::Bursty | Shape::Batch => {
            let scale = fixed.scale.unwrap_or_else(|| g.heavy_scale.draw(rng));
            let (period, len) = if shape == Shape::Bursty {
                (g.burst_period_s.draw(rng), g.burst_s.draw(rng))
            } else {
                let p = g.batch_period_s.draw(rng);
                (p, p * g.batch_fraction.draw(rng))
            };
            let period = period.max(1.0);
            let activity = Activity::Periodic {
                period,
                len: len.clamp(0.0, period),
                seed: activity_seed,
            };
            (activity, s.heavy.draw(rng).scaled(pos(scale)))
        }
    };
    let mut base = s.floor.draw(rng);
    let probe_rx = g.probe_rx_b.draw(rng);
    let probe_tx = s.floor.probe_tx_b.unwrap_or(g.probe_tx_b).draw(rng);
    // the probe's traffic is the pod's, not the container's
    base.rx = base.rx.max(0.0);
    let mut phases = Vec::new();
    let mut at = 0.0;
    for p in &s.startup {
        let secs = pos(p.secs.draw(rng));
        let op = Op {
            cpu: p.cpu_mc.draw(rng) * NANOCORES_PER_MC,
            write: p.write_kib_s.draw(rng) * KIB,
            read: p.read_kib_s.draw(rng) * KIB,
            faults: p.faults_s.draw(rng),
            ..Op::default()
        };
        phases.push(PhaseModel {
            from: at,
            to: at + secs,
            op,
        });
        at += secs;
    }
    let m = &s.memory;
    // Drawn in this order, the services with `rss_ratio` draw as before
    // `cache_mib` was added.
    let page_cache = match (m.rss_ratio, m.cache_mib) {
        (_, Some(c)) => PageCache::Fixed {
            active: pos(c.draw(rng)) * MIB,
            inactive: m.inactive_mib.map_or(0.0, |i| pos(i.draw(rng)) * MIB),
        },
        (Some(r), None) => PageCache::Share(r.draw(rng).clamp(1e-3, 1.0)),
        (None, None) => PageCache::Share(1.0),
    };
    let ws_ratio = m.ws_ratio.draw(rng);
    let grow = pos(m.grow_mib.draw(rng)) * MIB;
    let rss = pos(m.rss_mib.draw(rng)) * MIB;
    // The working set is at least the RSS at the start.
    let ws_ratio = ws_ratio.clamp(rss / page_cache.usage_and_active(rss).1, 1.0);
    let mut container = ContainerModel {
        base,
        act,
        write_every: 0.0,
        tail: None,
        growth_faults: s.faults_from_growth,
        logs_in_rootfs: false,
        cpu_bound: matches!(shape, Shape::Bursty | Shape::Batch),
        phases,
        rss,
        grow,
        grow_per_core_s: pos(m.grow_mib_per_core_s.draw(rng)) * MIB,
        first: 0.0,
        first_per_core_s: 0.0,
        page_cache,
        ws_ratio,
        rootfs: pos(s.rootfs_kib.draw(rng)) * KIB,
        logs: pos(s.logs_start_kib.draw(rng)) * KIB,
        major_fault_ratio: 1e-4 * rng.random::<f64>(),
    };
    let volume = s.volume.as_ref().map(|v| {
        (
            pos(v.start_mib.draw(rng)) * MIB,
            pos(v.per_write.draw(rng)),
            pos(v.cap_gib.draw(rng)) * 1024.0 * MIB,
        )
    });
    let pod = PodModel {
        shape,
        activity,
        probe_rx,
        probe_tx,
        volume,
        token: pos(g.token_volume_kib.draw(rng)) * KIB,
    };
    // drawn last, and only for services that have them, so that every
    // other pod draws what it drew before these existed
    container.write_every = s.writes_every_s.map_or(0.0, |r| pos(r.draw(rng)));
    if s.logs_in_rootfs > 0.0 {
        container.logs_in_rootfs = rng.random::<f64>() < s.logs_in_rootfs;
    }
    if m.first_mib.max > 0.0 {
        container.first = pos(m.first_mib.draw(rng)) * MIB;
        container.first_per_core_s = pos(m.first_mib_per_core_s.draw(rng)) * MIB;
    }
    if let (Some(t), Activity::Periodic { len, .. }) = (&s.tail, activity) {
        let tau = t.secs.draw(rng).max(1.0);
        let cpu = pos(t.cpu_core_s.draw(rng)) * 1e9;
        let write = pos(t.write_mib.draw(rng)) * MIB;
        // a stretch leaves at most what it did itself
        let did = container.act.scaled(len);
        container.tail = Some(TailModel {
            op: Op {
                cpu: cpu.min(did.cpu),
                write: write.min(did.write),
                ..Op::default()
            },
            tau,
        });
    }
    (pod, container)
}

/// Draws a sidecar of a pod whose app container is `app`.
pub(crate) fn draw_sidecar<R: Rng + ?Sized>(s: &SidecarProfile, app: &ContainerModel, rng: &mut R) -> ContainerModel {
    let per = s.per_app_mib.draw(rng).scaled(1.0 / MIB);
    // what it follows, in bytes/s: constant part and activity part
    let (d_base, d_act) = match s.follows {
        Follows::Traffic => (app.base.rx + app.base.tx, app.act.rx + app.act.tx),
        Follows::Logs => (app.base.log, app.act.log),
        Follows::None => (0.0, 0.0),
    };
    let ones = |k: f64| Op {
        cpu: k,
        rx: k,
        tx: k,
        faults: k,
        write: k,
        read: k,
        log: k,
    };
    let rss_ratio = s.rss_ratio.draw(rng).clamp(1e-3, 1.0);
    ContainerModel {
        base: s.floor.draw(rng).plus(ones(d_base).times(per)),
        act: ones(d_act).times(per),
        write_every: 0.0,
        tail: None,
        growth_faults: false,
        logs_in_rootfs: false,
        cpu_bound: app.cpu_bound,
        phases: Vec::new(),
        rss: s.rss_mib.draw(rng).max(0.1) * MIB,
        grow: 0.0,
        grow_per_core_s: 0.0,
        first: 0.0,
        first_per_core_s: 0.0,
        page_cache: PageCache::Share(rss_ratio),
        ws_ratio: (rss_ratio + 0.05).min(1.0),
        rootfs: (4.0 + 16.0 * rng.random::<f64>()) * KIB,
        logs: (1.0 + 7.0 * rng.random::<f64>()) * KIB,
        major_fault_ratio: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    proptest! {
        #[test]
        fn wave_integral_is_monotone_and_matches_rate(seed in any::<u64>(), v in 0.0f64..0.6, t in 0.0f64..1e5) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let w = Wave::draw(&mut rng, v);
            prop_assert!(w.rate(t) >= 1.0 - MAX_SWING - 1e-9);
            prop_assert!(w.integral(t + 1.0) >= w.integral(t));
            let h = 1e-3;
            let slope = (w.integral(t + h) - w.integral(t)) / h;
            prop_assert!((slope - w.rate(t + h / 2.0)).abs() <= 1e-3);
        }

        /// The periodic activity's integral is monotone and its slope is the activity.
        #[test]
        fn periodic_integral_matches_rate(seed in any::<u64>(), period in 10.0f64..10_000.0, frac in 0.0f64..1.0, t in 0.0f64..1e7) {
            let a = Activity::Periodic { period, len: period * frac, seed };
            prop_assert!(a.integral(t + 1.0) >= a.integral(t));
            prop_assert!(a.integral(t + 1.0) - a.integral(t) <= 1.0 + 1e-6);
            let whole = (t / period).floor();
            prop_assert!((a.integral(whole * period) - whole * period * frac).abs() < 1e-6 * (1.0 + t));
        }

        #[test]
        fn ranges_draw_inside(seed in any::<u64>(), a in 0.0f64..1e6, b in 0.0f64..1e6) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let r = Range::new(a.min(b), a.max(b));
            let x = r.draw(&mut rng);
            prop_assert!(r.min * (1.0 - 1e-12) <= x && x <= r.max * (1.0 + 1e-12), "{x} outside {r:?}");
        }
    }

    #[test]
    fn the_profile_file_parses_and_validates() {
        let p = Profiles::parse(PROFILES_TOML).unwrap();
        let classes: Vec<_> = p.classes().into_iter().map(|c| c.name).collect();
        assert_eq!(classes, ["nginx", "apache", "postgresql", "mysql", "mongodb"]);
        let unknown: Vec<_> = p.unknown_services().into_iter().map(|c| c.name).collect();
        assert!(unknown.len() >= 5, "{unknown:?}");
        for s in &p.service {
            assert!(
                s.source.contains("measured") || s.source.contains("invented") || s.source.contains("published"),
                "{} says where its figures come from",
                s.name
            );
        }
        assert!(p.node.iter().any(|n| !n.blkio) && p.node.iter().any(|n| n.blkio));
        assert!(p.node.iter().any(|n| !n.zero_fields.is_empty()));
    }

    #[test]
    fn bad_profiles_are_errors_not_panics() {
        assert!(matches!(Profiles::parse("nope = ["), Err(ProfileError::Parse(_))));
        let bad = PROFILES_TOML.replacen("cache_mib = [0.35, 1.0]", "cache_mib = [1.0, 0.35]", 1);
        assert!(
            matches!(Profiles::parse(&bad), Err(ProfileError::Invalid(_))),
            "{bad:.0}"
        );
        let bad = PROFILES_TOML.replacen(
            "cache_mib = [0.35, 1.0]",
            "cache_mib = [0.35, 1.0], rss_ratio = [0.5, 0.6]",
            1,
        );
        assert!(
            matches!(Profiles::parse(&bad), Err(ProfileError::Invalid(_))),
            "{bad:.0}"
        );
        // a page cache outside the working set needs one beside the RSS
        let bad = PROFILES_TOML.replacen("rss_ratio = [", "inactive_mib = [0.0, 1.0], rss_ratio = [", 1);
        assert!(
            matches!(Profiles::parse(&bad), Err(ProfileError::Invalid(_))),
            "{bad:.0}"
        );
        let bad = PROFILES_TOML.replacen("inactive_mib = [0.0, 1.2]", "inactive_mib = [1.2, 0.0]", 1);
        assert_ne!(bad, PROFILES_TOML);
        assert!(
            matches!(Profiles::parse(&bad), Err(ProfileError::Invalid(_))),
            "{bad:.0}"
        );
        let bad = PROFILES_TOML.replacen("zero_fields = [\"memory_rss_bytes\"", "zero_fields = [\"nope\"", 1);
        assert!(matches!(Profiles::parse(&bad), Err(ProfileError::Invalid(_))));
    }
}
