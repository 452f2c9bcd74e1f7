//! Command-line arguments of the programs. Every flag is also an environment
//! variable `CAD_…`; secrets can also come from a file (`…_FILE`).
//!
//! Every value is checked when the arguments are parsed: a number or a
//! duration outside its range is refused with a message naming the flag and
//! the range (from the flag or from its variable), before anything runs. The
//! ranges are in the help texts, and so in `docs/configuration.md`, which is
//! generated from these definitions ([`crate::reference`]).

use cad_core::FeatureSet;
use cad_core::engine::TrainConfig;
use cad_core::eval::Method;
use cad_core::model::Algorithm;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::fmt::Display;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

fn duration(s: &str) -> Result<Duration, String> {
    // Plain numbers are seconds, as in the old system's properties.
    if let Ok(secs) = s.trim().parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s.trim()).map_err(|e| format!("{e} (examples: 120, 90s, 5m, 1h30m)"))
}

/// `90d`, `1h`, `10m`, `0s`: a bound as the help texts write it, in its
/// largest whole unit (humantime would write 90 days as "2months 29days
/// 2h 52m 48s": its month is 30.44 days).
fn bound(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_nanos() != 0 {
        return humantime::format_duration(d).to_string();
    }
    for (unit, n) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if s >= n && s.is_multiple_of(n) {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

/// A parser of durations from `min` to `max` (both included).
fn duration_in(min: Duration, max: Duration) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync {
    move |s| {
        let range = || format!("must be from {} to {}", bound(min), bound(max));
        let d = duration(s).map_err(|e| format!("{e}; {}", range()))?;
        if d < min || d > max {
            return Err(range());
        }
        Ok(d)
    }
}

/// A parser of numbers from `min` to `max` (both included; NaN is refused).
/// clap's own `value_parser!(u64).range(..)` covers 64-bit integers only;
/// this covers `usize` and `f64` fields alike.
fn number_in<T>(min: T, max: T) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync
where
    T: FromStr + PartialOrd + Display + Copy + Send + Sync,
    T::Err: Display,
{
    move |s| {
        let v: T = s.trim().parse().map_err(|e| format!("{e}"))?;
        // Written so that NaN (unordered) fails too.
        if !(v >= min && v <= max) {
            return Err(format!("must be from {min} to {max}"));
        }
        Ok(v)
    }
}

/// The most leaves per tree this build accepts (`--max-leaves`).
const MAX_LEAVES: usize = 10_000_000;

/// A parser of a leaf-count limit: 0 (no limit) or 2 to [`MAX_LEAVES`]
/// (one leaf would be no tree at all).
fn leaf_limit(s: &str) -> Result<usize, String> {
    let allowed = || format!("must be 0 (no limit) or from 2 to {MAX_LEAVES}");
    match s.trim().parse::<usize>() {
        Ok(v) if v != 1 && v <= MAX_LEAVES => Ok(v),
        Ok(_) => Err(allowed()),
        Err(e) => Err(format!("{e}; {}", allowed())),
    }
}

/// A parser of a share strictly between 0 and 1.
fn open_ratio(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|e| format!("{e}"))?;
    if !(v > 0.0 && v < 1.0) {
        return Err("must be greater than 0 and less than 1".into());
    }
    Ok(v)
}

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// The learning algorithms (`--algorithm`), as [`cad_core::model::Algorithm::by_name`] names them.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlgorithmArg {
    /// cad's decision tree (CART with class counts in every leaf).
    Tree,
    /// A random forest of cad's trees.
    Forest,
    /// smartcore's decision tree (a second backend, for comparison).
    SmartcoreTree,
}

/// The size and seed settings of [`AlgorithmArg::algorithm`] (`--max-depth`,
/// `--max-leaves`, `--min-leaf-rows`, `--trees`, `--threads`, `--seed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlgorithmSettings {
    /// Deepest level; `None` for no limit.
    pub max_depth: Option<usize>,
    /// Most leaves per tree: `Some(0)` for no limit, `None` for the algorithm's default.
    pub max_leaves: Option<usize>,
    /// Fewest training rows in a leaf.
    pub min_leaf_rows: usize,
    /// Trees in a forest.
    pub trees: usize,
    /// Threads for a forest.
    pub threads: usize,
    /// Seed.
    pub seed: u64,
}

impl AlgorithmSettings {
    /// The command line's defaults with this seed.
    pub fn defaults(seed: u64) -> Self {
        AlgorithmSettings {
            max_depth: None,
            max_leaves: None,
            min_leaf_rows: 1,
            trees: 100,
            threads: 1,
            seed,
        }
    }
}

impl AlgorithmArg {
    /// The algorithm with its parameters.
    pub fn algorithm(self, s: &AlgorithmSettings) -> Algorithm {
        let Some(mut algorithm) = Algorithm::by_name(self.name()) else {
            unreachable!("every AlgorithmArg names an Algorithm (tested)")
        };
        // 0 = no limit; absent = the algorithm's default.
        let leaves = |default: Option<usize>| match s.max_leaves {
            Some(0) => None,
            Some(n) => Some(n),
            None => default,
        };
        match &mut algorithm {
            Algorithm::Tree(p) => {
                p.max_depth = s.max_depth;
                p.max_leaf_nodes = leaves(p.max_leaf_nodes);
                p.min_samples_leaf = s.min_leaf_rows;
                p.seed = s.seed;
            }
            Algorithm::Forest(p) => {
                p.n_trees = s.trees;
                p.threads = s.threads;
                p.tree.max_depth = s.max_depth;
                p.tree.max_leaf_nodes = leaves(p.tree.max_leaf_nodes);
                p.tree.min_samples_leaf = s.min_leaf_rows;
                p.seed = s.seed;
            }
            Algorithm::Smartcore(p) => {
                p.max_depth = s.max_depth.map(|d| u16::try_from(d).unwrap_or(u16::MAX));
                p.min_samples_leaf = s.min_leaf_rows;
                p.seed = s.seed;
            }
        }
        algorithm
    }

    /// The name `--algorithm` takes, as [`Algorithm::by_name`] knows it.
    pub fn name(self) -> &'static str {
        match self {
            AlgorithmArg::Tree => "tree",
            AlgorithmArg::Forest => "forest",
            AlgorithmArg::SmartcoreTree => "smartcore-tree",
        }
    }
}

/// The tests of "behaves like no known class" (`--unknown-test`), as
/// [`cad_core::openset::UnknownTest::by_name`] names them.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UnknownTestArg {
    /// No class's combined p-value above the rate (the default before
    /// session 8).
    Combined,
    /// No class's class-scaled novelty p-value above the rate; the claim on
    /// the combined score (up to twice the rate).
    Novelty,
    /// novelty with each test at half the rate.
    NoveltyHalf,
    /// No class by either test, each at the rate (up to twice the rate).
    Either,
    /// either with each test at half the rate.
    EitherHalf,
    /// either at half the rate for pods without a claim; with a claim, the
    /// combined test (the default).
    #[default]
    EitherUnclaimed,
    /// One set of the classes both tests keep, each at the rate.
    Both,
    /// both with each test at half the rate.
    BothHalf,
}

impl UnknownTestArg {
    /// The library's test.
    pub fn unknown_test(self) -> cad_core::openset::UnknownTest {
        use cad_core::openset::UnknownTest as T;
        match self {
            UnknownTestArg::Combined => T::Combined,
            UnknownTestArg::Novelty => T::Novelty,
            UnknownTestArg::NoveltyHalf => T::NoveltyHalf,
            UnknownTestArg::Either => T::Either,
            UnknownTestArg::EitherHalf => T::EitherHalf,
            UnknownTestArg::EitherUnclaimed => T::EitherUnclaimed,
            UnknownTestArg::Both => T::Both,
            UnknownTestArg::BothHalf => T::BothHalf,
        }
    }
}

/// The evaluation methods (`--eval`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalArg {
    /// Grouped k-fold: all rows of a container in one fold.
    GroupedKfold,
    /// One grouped train/test split.
    GroupedSplit,
    /// The old system's random row split (rows of a container on both sides).
    LeakySplit,
    /// Grouped k-fold plus leave-one-class-out: each class in turn is left
    /// out of the model and its containers should be judged "behaves like no
    /// known class".
    OpenSet,
    /// No evaluation.
    None,
}

/// The built-in feature sets (`--feature-set`), as [`cad_core::FeatureSet::by_name`] names them.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FeatureSetArg {
    /// The old system's columns.
    Legacy,
    /// Memory footprint and ratios of rates: nothing that grows with a pod's
    /// age or follows its load.
    #[default]
    Behaviour,
    /// The behaviour set before issue 17, with levels that follow the load
    /// (to compare).
    #[value(name = "behaviour-v2")]
    BehaviourV2,
    /// The behaviour set before issue 16, with levels that grow with age or
    /// identify the image (to compare).
    #[value(name = "behaviour-v1")]
    BehaviourV1,
}

impl FeatureSetArg {
    /// The feature set.
    pub fn feature_set(self) -> FeatureSet {
        match self {
            FeatureSetArg::Legacy => FeatureSet::legacy(),
            FeatureSetArg::Behaviour => FeatureSet::behaviour(),
            FeatureSetArg::BehaviourV2 => FeatureSet::behaviour_v2(),
            FeatureSetArg::BehaviourV1 => FeatureSet::behaviour_v1(),
        }
    }
}

/// Why a [`TrainArgs`] (built in code, so not checked by clap) makes no [`TrainConfig`].
#[derive(Debug, thiserror::Error)]
#[error("{flag} must be {allowed}, not {value}")]
pub struct TrainArgsError {
    flag: &'static str,
    allowed: &'static str,
    value: String,
}

impl TryFrom<&TrainArgs> for TrainConfig {
    type Error = TrainArgsError;

    /// The training configuration (with `trained_on` empty). The ranges clap
    /// checks at parse time are checked again here, for arguments built in code.
    fn try_from(args: &TrainArgs) -> Result<Self, Self::Error> {
        let check = |ok: bool, flag, allowed, value: &dyn Display| {
            if ok {
                Ok(())
            } else {
                Err(TrainArgsError {
                    flag,
                    allowed,
                    value: value.to_string(),
                })
            }
        };
        let ratio = args.training_ratio;
        check(
            ratio > 0.0 && ratio < 1.0,
            "--training-ratio",
            "greater than 0 and less than 1",
            &ratio,
        )?;
        check(
            (2..=1000).contains(&args.folds),
            "--folds",
            "from 2 to 1000",
            &args.folds,
        )?;
        check(
            (1..=10_000).contains(&args.trees),
            "--trees",
            "from 1 to 10000",
            &args.trees,
        )?;
        check(
            (1..=1024).contains(&args.threads),
            "--threads",
            "from 1 to 1024",
            &args.threads,
        )?;
        check(
            (2..=1000).contains(&args.max_classes),
            "--max-classes",
            "from 2 to 1000",
            &args.max_classes,
        )?;
        check(
            args.curve_points <= 100,
            "--curve-points",
            "from 0 to 100",
            &args.curve_points,
        )?;
        if let Some(d) = args.max_depth {
            check((1..=1000).contains(&d), "--max-depth", "from 1 to 1000", &d)?;
        }
        if let Some(n) = args.max_leaves {
            check(
                n != 1 && n <= MAX_LEAVES,
                "--max-leaves",
                "0 (no limit) or from 2 to 10000000",
                &n,
            )?;
        }
        check(
            (1..=1_000_000).contains(&args.min_leaf_rows),
            "--min-leaf-rows",
            "from 1 to 1000000",
            &args.min_leaf_rows,
        )?;
        let score = cad_core::openset::Score::by_name(&args.open_set_score).ok_or_else(|| TrainArgsError {
            flag: "--open-set-score",
            allowed: "novelty, classifier or both",
            value: args.open_set_score.clone(),
        })?;
        let unknown_test = args.unknown_test.unknown_test();
        let seed = args.seed;
        let method = match args.eval {
            EvalArg::GroupedKfold | EvalArg::OpenSet => Some(Method::GroupedKFold { k: args.folds, seed }),
            EvalArg::GroupedSplit => Some(Method::GroupedSplit {
                test_ratio: 1.0 - ratio,
                seed,
            }),
            EvalArg::LeakySplit => Some(Method::LeakyRowSplit {
                train_ratio: ratio,
                seed,
            }),
            EvalArg::None => None,
        };
        Ok(TrainConfig {
            algorithm: args.algorithm.algorithm(&AlgorithmSettings {
                max_depth: args.max_depth,
                max_leaves: args.max_leaves,
                min_leaf_rows: args.min_leaf_rows,
                trees: args.trees,
                threads: args.threads,
                seed,
            }),
            method,
            max_classes: args.max_classes,
            curve_points: args.curve_points,
            curve_max_rows: args.training_max_rows,
            curve_test_ratio: 1.0 - ratio,
            seed,
            trained_on: String::new(),
            young_horizon: cad_core::age::DEFAULT_YOUNG_HORIZON,
            open_set: (!args.no_calibration).then(|| cad_core::openset::NoveltyParams {
                score,
                unknown_test,
                ..Default::default()
            }),
            calibrate_confidence: !args.no_calibration,
        })
    }
}

/// Options every program has.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "CAD_LOG_JSON", global = true)]
    pub log_json: bool,
}

/// Where pods and metrics come from.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The embedded simulated cluster (no cluster, no InfluxDB needed).
    Sim,
    /// A real cluster: pods from the Kubernetes API, metrics from the store
    /// --metrics-backend names.
    Cluster,
}

/// Which store a real cluster's metrics are read from.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsBackend {
    /// InfluxDB 1.x (or 2.x's v1 API) where Telegraf's kubernetes input writes.
    Influx,
    /// The Prometheus HTTP API (Prometheus, VictoriaMetrics, Thanos, Mimir)
    /// holding the kubelet's cAdvisor series, as kube-prometheus-stack scrapes them.
    Prometheus,
}

/// How to reach the Prometheus HTTP API (`--metrics-backend prometheus`).
#[derive(Args, Debug, Clone)]
pub struct PrometheusArgs {
    /// Base URL of the Prometheus HTTP API, to which /api/v1/query is
    /// appended, e.g. http://prometheus-operated.monitoring:9090,
    /// https://thanos-query:10902, http://vmselect:8481/select/0/prometheus.
    #[arg(long, env = "CAD_PROMETHEUS_URL")]
    pub prometheus_url: Option<String>,
    /// User name for HTTP basic auth.
    #[arg(long, env = "CAD_PROMETHEUS_USER")]
    pub prometheus_user: Option<String>,
    /// Password for basic auth. Visible to every user in `ps` when given as a
    /// flag (a warning says so): prefer --prometheus-password-file or the variable.
    #[arg(long, env = "CAD_PROMETHEUS_PASSWORD", hide_env_values = true)]
    pub prometheus_password: Option<String>,
    /// File holding the basic-auth password (a mounted Secret).
    #[arg(long, env = "CAD_PROMETHEUS_PASSWORD_FILE")]
    pub prometheus_password_file: Option<PathBuf>,
    /// Bearer token. Visible in `ps` as a flag: prefer
    /// --prometheus-token-file or the variable.
    #[arg(long, env = "CAD_PROMETHEUS_TOKEN", hide_env_values = true)]
    pub prometheus_token: Option<String>,
    /// File holding a bearer token, read again every minute so that a
    /// rotated token (a projected service-account token, a Vault agent's
    /// file) is used without a restart.
    #[arg(long, env = "CAD_PROMETHEUS_TOKEN_FILE")]
    pub prometheus_token_file: Option<PathBuf>,
    /// PEM file of the certificate authorities to trust for https:// (a
    /// private CA); only these are trusted, not the system's roots.
    #[arg(long, env = "CAD_PROMETHEUS_CA_FILE")]
    pub prometheus_ca_file: Option<PathBuf>,
    /// PEM file of a client certificate to present (with --prometheus-key-file).
    #[arg(long, env = "CAD_PROMETHEUS_CERT_FILE", requires = "prometheus_key_file")]
    pub prometheus_cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key (with --prometheus-cert-file).
    #[arg(long, env = "CAD_PROMETHEUS_KEY_FILE", requires = "prometheus_cert_file")]
    pub prometheus_key_file: Option<PathBuf>,
    /// cAdvisor's label names before Kubernetes 1.16 (pod_name,
    /// container_name) instead of pod and container.
    #[arg(long, env = "CAD_PROMETHEUS_LEGACY_LABELS")]
    pub prometheus_legacy_labels: bool,
    /// How far before a window the CPU counter is read, so that the first
    /// sample has a predecessor to derive the CPU rate from: at least one
    /// scrape interval (10s to 1h).
    #[arg(long, env = "CAD_PROMETHEUS_COUNTER_LOOKBEHIND", value_parser = duration_in(10 * SECOND, HOUR), default_value = "2m")]
    pub prometheus_counter_lookbehind: Duration,
    /// Timeout of one Prometheus API request (1s to 10m).
    #[arg(long, env = "CAD_PROMETHEUS_TIMEOUT", value_parser = duration_in(SECOND, 10 * MINUTE), default_value = "30s")]
    pub prometheus_timeout: Duration,
    /// Attempts per Prometheus API request on transient errors (1 to 20).
    #[arg(long, env = "CAD_PROMETHEUS_RETRIES", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub prometheus_retries: u32,
}

/// The simulated cluster's knobs.
#[derive(Args, Debug, Clone)]
pub struct SimArgs {
    /// Seed of the simulated cluster.
    #[arg(long, env = "CAD_SIM_SEED", default_value_t = 7)]
    pub sim_seed: u64,
    /// Pods running in the simulated cluster at the start (1 to 100000).
    #[arg(long, env = "CAD_SIM_PODS", default_value_t = 60, value_parser = number_in(1usize, 100_000))]
    pub sim_pods: usize,
    /// Share of simulated pods named like one class but behaving like another (0 to 1).
    #[arg(long, env = "CAD_SIM_IMPOSTORS", default_value_t = 0.1, value_parser = number_in(0.0, 1.0))]
    pub sim_impostors: f64,
    /// Past pods of the simulated cluster, their metrics kept (0 to 100000;
    /// see --past-pods): half of them earlier pods of the running pods'
    /// workloads, half pods of workloads since removed.
    #[arg(long, env = "CAD_SIM_PAST_PODS", default_value_t = 0, value_parser = number_in(0usize, 100_000))]
    pub sim_past_pods: usize,
    /// Pods of each Deployment present at the start (1 to 10): every initial
    /// Deployment pod with this many near-twin replicas in all.
    #[arg(long, env = "CAD_SIM_REPLICAS", default_value_t = 1, value_parser = number_in(1usize, 10))]
    pub sim_replicas: usize,
}

/// How to reach InfluxDB (where Telegraf writes the metrics).
#[derive(Args, Debug, Clone)]
pub struct InfluxArgs {
    /// InfluxDB URL (old `influxdb.server.url`), e.g. http://influxdb.monitoring:8086.
    #[arg(long, env = "CAD_INFLUX_URL")]
    pub influx_url: Option<String>,
    /// Database Telegraf writes to (old `influxdb.database`).
    #[arg(long, env = "CAD_INFLUX_DB", default_value = "telegraf")]
    pub influx_db: String,
    /// User name (old `influxdb.username`).
    #[arg(long, env = "CAD_INFLUX_USER")]
    pub influx_user: Option<String>,
    /// Password (old `influxdb.password`). Visible to every user in `ps` when
    /// given as a flag (a warning says so): prefer --influx-password-file or
    /// the variable.
    #[arg(long, env = "CAD_INFLUX_PASSWORD", hide_env_values = true)]
    pub influx_password: Option<String>,
    /// File holding the password (a mounted Secret).
    #[arg(long, env = "CAD_INFLUX_PASSWORD_FILE")]
    pub influx_password_file: Option<PathBuf>,
    /// Token for InfluxDB 2's v1-compatible API. Visible in `ps` as a flag:
    /// prefer --influx-token-file or the variable.
    #[arg(long, env = "CAD_INFLUX_TOKEN", hide_env_values = true)]
    pub influx_token: Option<String>,
    /// File holding the token.
    #[arg(long, env = "CAD_INFLUX_TOKEN_FILE")]
    pub influx_token_file: Option<PathBuf>,
    /// PEM file of the certificate authorities to trust for https:// (a
    /// private CA); only these are trusted, not the system's roots.
    #[arg(long, env = "CAD_INFLUX_CA_FILE")]
    pub influx_ca_file: Option<PathBuf>,
    /// PEM file of a client certificate to present (with --influx-key-file).
    #[arg(long, env = "CAD_INFLUX_CERT_FILE", requires = "influx_key_file")]
    pub influx_cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key (with --influx-cert-file).
    #[arg(long, env = "CAD_INFLUX_KEY_FILE", requires = "influx_cert_file")]
    pub influx_key_file: Option<PathBuf>,
    /// Timeout of one InfluxDB request (1s to 10m).
    #[arg(long, env = "CAD_INFLUX_TIMEOUT", value_parser = duration_in(SECOND, 10 * MINUTE), default_value = "30s")]
    pub influx_timeout: Duration,
    /// Attempts per InfluxDB request on transient errors (1 to 20).
    #[arg(long, env = "CAD_INFLUX_RETRIES", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub influx_retries: u32,
}

/// How metric reads are split into requests: the same flags for every
/// metrics backend (InfluxDB and the Prometheus API).
/// Chunks of one read are sent concurrently; a failed chunk costs only its
/// own pods, which are asked for again.
#[derive(Args, Debug, Clone)]
pub struct MetricsQueryArgs {
    /// Most pods per metrics request (with the Prometheus API: per group of
    /// queries, five for the default series).
    #[arg(long, env = "CAD_BATCH_SIZE", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=5_000))]
    pub batch_size: u32,
    /// Most bytes per metrics request (its URL and body); a pod that alone
    /// needs more is sent alone.
    #[arg(long, env = "CAD_MAX_REQUEST_BYTES", default_value_t = 65_536,
          value_parser = clap::value_parser!(u32).range(4_096..=8_388_608))]
    pub max_request_bytes: u32,
    /// Metrics requests in flight at once.
    #[arg(long, env = "CAD_QUERY_CONCURRENCY", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub query_concurrency: u32,
}

impl MetricsQueryArgs {
    /// Containers the collector reads per round: enough to keep every
    /// request slot busy four times over, and at most 2,000, so the samples
    /// held at once stay bounded (2,000 containers × 10 min ≈ 2 M samples).
    pub fn collector_batch(&self) -> usize {
        (4 * self.batch_size as usize * self.query_concurrency as usize).clamp(1, 2_000)
    }
}

/// How to reach the Kubernetes API (kubeconfig or in-cluster, as kubectl does).
#[derive(Args, Debug, Clone)]
pub struct KubeArgs {
    /// Namespaces to watch, comma-separated (default: all).
    #[arg(long, env = "CAD_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Only pods on this node (DaemonSet mode; set from the downward API).
    #[arg(long, env = "CAD_NODE_NAME")]
    pub node_name: Option<String>,
    /// API server URL to use instead of kubeconfig / in-cluster config (e.g. `kubectl proxy`'s http://127.0.0.1:8001).
    #[arg(long, env = "CAD_KUBE_URL")]
    pub kube_url: Option<String>,
}

/// How models are trained and evaluated.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Learning algorithm.
    #[arg(long, env = "CAD_ALGORITHM", value_enum, default_value_t = AlgorithmArg::Tree)]
    pub algorithm: AlgorithmArg,
    /// Maximum tree depth (1 to 1000; none by default).
    #[arg(long, env = "CAD_MAX_DEPTH", value_parser = number_in(1usize, 1000))]
    pub max_depth: Option<usize>,
    /// Most leaves per tree, grown best first (0 for no limit, or 2 to
    /// 10000000). Default: no limit for a tree, 1024 for each tree of a
    /// forest (so that a forest of 100 trees fits a ConfigMap).
    #[arg(long, env = "CAD_MAX_LEAVES", value_parser = leaf_limit)]
    pub max_leaves: Option<usize>,
    /// Fewest training rows in a leaf (1 to 1000000).
    #[arg(long, env = "CAD_MIN_LEAF_ROWS", default_value_t = 1, value_parser = number_in(1usize, 1_000_000))]
    pub min_leaf_rows: usize,
    /// Trees in a forest (1 to 10000).
    #[arg(long, env = "CAD_TREES", default_value_t = 100, value_parser = number_in(1usize, 10_000))]
    pub trees: usize,
    /// Threads for forest training and batch prediction, the evaluation's
    /// (1 to 1024).
    #[arg(long, env = "CAD_THREADS", default_value_t = 1, value_parser = number_in(1usize, 1024))]
    pub threads: usize,
    /// Seed for training and splits.
    #[arg(long, env = "CAD_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Evaluation: grouped-kfold (default), grouped-split, leaky-split (the
    /// old system's random row split, which puts rows of one container on
    /// both sides; for comparison only), or none. An evaluation that cannot
    /// be made fails the run; grouped k-fold with more folds than containers
    /// becomes leave-one-container-out, with a warning in the report.
    /// open-set is grouped k-fold plus leave-one-class-out: each class in
    /// turn is left out of the model and its containers should be judged
    /// "behaves like no known class" (report.json `open_set`).
    #[arg(long, env = "CAD_EVAL", value_enum, default_value_t = EvalArg::GroupedKfold)]
    pub eval: EvalArg,
    /// The false-anomaly rate accepted: the share of honest containers that
    /// may be flagged (0.0001 to 0.5). The open-set evaluation reports its
    /// figures at this rate.
    #[arg(long, env = "CAD_FALSE_ANOMALY_RATE", default_value_t = cad_core::openset::DEFAULT_FALSE_ANOMALY_RATE,
          value_parser = number_in(0.0001, 0.5))]
    pub false_anomaly_rate: f64,
    /// The rate for containers that claim no class (0.0001 to 0.5): the share
    /// of containers of a known class, claiming none, that may be judged
    /// "behaves like no known class". The open-set evaluation judges the
    /// left-out class's containers and `false_unknown_rate` at this rate.
    #[arg(long, env = "CAD_UNCLAIMED_FALSE_UNKNOWN_RATE",
          default_value_t = cad_core::openset::DEFAULT_UNCLAIMED_FALSE_UNKNOWN_RATE,
          value_parser = number_in(0.0001, 0.5))]
    pub unclaimed_false_unknown_rate: f64,
    /// The open-set nonconformity score: combined (the novelty in units of
    /// the class's typical score times 1 + 4·(1 − the forest's probability
    /// of the class), calibrated over all classes), novelty (distance to the
    /// class's nearest training containers), classifier (1 − the forest's
    /// probability of the class) or both (a class must pass both at α / 2).
    #[arg(long, env = "CAD_OPEN_SET_SCORE", default_value = "combined",
          value_parser = clap::builder::PossibleValuesParser::new(cad_core::openset::Score::NAMES))]
    pub open_set_score: String,
    /// How "behaves like no known class" is decided with the combined
    /// score: combined (no class's combined p-value above the rate, the
    /// test before session 8) or with tests of the class-scaled novelty,
    /// calibrated on held-out containers of all classes (stored in the
    /// bundle, format 7): novelty (alone), either (no class by either
    /// test), both (one set of the classes both tests keep), each at the
    /// rate (an honest pod can be flagged by either: up to twice the rate)
    /// or with -half at half of it; either-unclaimed (the default): either
    /// at half the rate for pods without a claim, combined with one.
    /// Bundles of formats 2 to 6 keep combined.
    #[arg(long, env = "CAD_UNKNOWN_TEST", value_enum, default_value_t = UnknownTestArg::EitherUnclaimed)]
    pub unknown_test: UnknownTestArg,
    /// Consecutive windows the open-set evaluation judges together (1 to
    /// 5), as the watcher does with --confirm-windows and a model of bundle
    /// format 5: the statistic of the windows' scores, calibrated on
    /// held-out containers over as many windows. 1: each window alone.
    #[arg(long, env = "CAD_CONFIRM_WINDOWS", default_value_t = cad_core::engine::DEFAULT_CONFIRM_WINDOWS,
          value_parser = number_in(1usize, cad_core::openset::conformal::MAX_CALIBRATED_WINDOWS))]
    pub open_set_windows: usize,
    /// With --open-set-windows above 1: a container whose first window is
    /// normal counts as normal (the watcher's --normal-at-once).
    #[arg(long, env = "CAD_NORMAL_AT_ONCE", default_value_t = false, action = clap::ArgAction::Set)]
    pub normal_at_once: bool,
    /// Store no calibration in the bundle (neither the open-set model nor
    /// the confidence map): the watcher then decides from the classifier
    /// alone, with its raw --confidence-threshold. For comparison, and for
    /// bundles that must stay as small as possible.
    #[arg(long, env = "CAD_NO_CALIBRATION")]
    pub no_calibration: bool,
    /// Folds of grouped k-fold (2 to 1000).
    #[arg(long, env = "CAD_FOLDS", default_value_t = 5, value_parser = number_in(2usize, 1000))]
    pub folds: usize,
    /// Share of rows (or containers) for training in a split (old
    /// `training.ratio`; greater than 0, less than 1).
    #[arg(long, env = "CAD_TRAINING_RATIO", default_value_t = 0.7, value_parser = open_ratio)]
    pub training_ratio: f64,
    /// Largest training-set size on the learning curve (old `training.maxNumber`;
    /// 1 or more; default: all training rows).
    #[arg(long, env = "CAD_TRAINING_MAX_ROWS", value_parser = number_in(1usize, usize::MAX))]
    pub training_max_rows: Option<usize>,
    /// Points on the learning curve (0 for none, up to 100).
    #[arg(long, env = "CAD_CURVE_POINTS", default_value_t = 12, value_parser = number_in(0usize, 100))]
    pub curve_points: usize,
    /// Refuse data with more classes than this (2 to 1000): more usually
    /// means the wrong class column, and training cost grows with the classes.
    #[arg(long, env = "CAD_MAX_CLASSES", default_value_t = cad_core::engine::DEFAULT_MAX_CLASSES,
          value_parser = number_in(2usize, 1000))]
    pub max_classes: usize,
}

/// Where the collector's results go.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Directory for the model, report, tree and plots.
    #[arg(long, env = "CAD_OUT_DIR", default_value = "cad-out")]
    pub out_dir: PathBuf,
    /// Model file (old `path.serialized.model`); default `<out-dir>/model.cadm`.
    #[arg(long, env = "CAD_MODEL")]
    pub model: Option<PathBuf>,
    /// Also print the model on stdout: as base64, or as a ConfigMap manifest.
    #[arg(long, env = "CAD_PRINT", value_enum)]
    pub print: Option<PrintAs>,
    /// Namespace/name of the model ConfigMap.
    #[arg(long, env = "CAD_CONFIGMAP", default_value = "cad/cad-model")]
    pub configmap: String,
    /// Key of the model in the ConfigMap's binaryData.
    #[arg(long, env = "CAD_CONFIGMAP_KEY", default_value = "model.cadm")]
    pub configmap_key: String,
    /// Publish the model to the ConfigMap through the Kubernetes API:
    /// replace its key in the existing ConfigMap (deploy/ ships it and grants
    /// get and update of it only), or create the ConfigMap where the account
    /// may create ConfigMaps.
    #[arg(long, env = "CAD_PUBLISH")]
    pub publish: bool,
}

/// How to print a model.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrintAs {
    /// Base64 of the model bytes.
    Base64,
    /// A ConfigMap manifest with the model in binaryData.
    Configmap,
}

/// The default of `--sidecars`: [`cad_core::label::DEFAULT_SIDECARS`], joined.
const DEFAULT_SIDECARS_ARG: &str = "istio-proxy,linkerd-proxy,envoy,vault-agent,cloud-sql-proxy,fluent-bit,fluentd,*exporter,\
                                    *config-reloader,configmap-reload,kube-rbac-proxy,oauth2-proxy,gce-proxy,promtail,\
                                    filebeat,jaeger-agent";

/// `cad-collector`: collect data from a cluster (or read a file), train,
/// evaluate, write the model.
#[derive(Args, Debug, Clone)]
pub struct CollectArgs {
    /// Where pods and metrics come from.
    #[arg(long, env = "CAD_SOURCE", value_enum, default_value_t = Source::Cluster)]
    pub source: Source,
    /// Where a real cluster's metrics are read from.
    #[arg(long, env = "CAD_METRICS_BACKEND", value_enum, default_value_t = MetricsBackend::Influx)]
    pub metrics_backend: MetricsBackend,
    /// Train from an ARFF or CSV file instead of collecting.
    #[arg(long, env = "CAD_FROM_FILE")]
    pub from_file: Option<PathBuf>,
    /// Classes, in priority order (old `data.aggregator.decision.tree.classifier.list`).
    /// A well-known server's class also matches its other names (apache:
    /// httpd, apache2; mysql: mariadb; postgresql: postgres; mongodb: mongo).
    #[arg(long, env = "CAD_CLASSES", default_value = "mysql,nginx,apache,postgres,mongo")]
    pub classes: String,
    /// Take the class from this pod label where present (e.g. app.kubernetes.io/name).
    #[arg(long, env = "CAD_LABEL_KEY")]
    pub label_key: Option<String>,
    /// Feature set to compute from metrics (default behaviour). Not with
    /// --from-file: there the file's columns are the features.
    #[arg(long, env = "CAD_FEATURE_SET", conflicts_with = "from_file", value_enum)]
    pub feature_set: Option<FeatureSetArg>,
    /// How far back to read metrics (1m to 30d): the steady rows.
    #[arg(long, env = "CAD_WINDOW", value_parser = duration_in(MINUTE, 30 * DAY), default_value = "10m")]
    pub window: Duration,
    /// How much of each training pod's early history to read (0s to 1h):
    /// rows at the ages the watcher decides at. Pods are read in groups of
    /// similar start times, each fetch at most twice this long. 0 reads
    /// none (steady rows only; the report warns of each class left without
    /// young rows).
    #[arg(long, env = "CAD_YOUNG_HORIZON", value_parser = duration_in(Duration::ZERO, HOUR), default_value = "5m")]
    pub young_horizon: Duration,
    /// Also train on past pods (0s to 90d): containers the metric store has
    /// samples of within this long whose pods are no longer listed, labelled
    /// from their container name, image and pod name. Only pods of workloads
    /// no longer running count (a removed Deployment, an old namespace, a
    /// finished Job; an earlier pod of a running workload is left out), the
    /// latest pod of each. 0 (the default) trains on the listed pods only.
    #[arg(long, env = "CAD_PAST_PODS", value_parser = duration_in(Duration::ZERO, 90 * DAY), default_value = "0s")]
    pub past_pods: Duration,
    /// Sidecar and infrastructure containers, neither trained on nor judged
    /// (comma-separated container or image names, `*` for any run of
    /// characters; empty: none). A name that is also in --classes is
    /// classified.
    #[arg(long, env = "CAD_SIDECARS", value_delimiter = ',', default_value = DEFAULT_SIDECARS_ARG)]
    pub sidecars: Vec<String>,
    #[command(flatten)]
    pub query: MetricsQueryArgs,
    #[command(flatten)]
    pub train: TrainArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub sim: SimArgs,
    #[command(flatten)]
    pub influx: InfluxArgs,
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// `cad-watcher`: classify every new pod with a trained model.
#[derive(Args, Debug, Clone)]
pub struct WatchArgs {
    /// Where pods and metrics come from.
    #[arg(long, env = "CAD_SOURCE", value_enum, default_value_t = Source::Cluster)]
    pub source: Source,
    /// Where a real cluster's metrics are read from.
    #[arg(long, env = "CAD_METRICS_BACKEND", value_enum, default_value_t = MetricsBackend::Influx)]
    pub metrics_backend: MetricsBackend,
    /// Model file (a mounted ConfigMap works as is).
    #[arg(long, env = "CAD_MODEL", default_value = "cad-out/model.cadm")]
    pub model: PathBuf,
    /// Load the model from this ConfigMap (namespace/name) instead, and follow
    /// it: a new model is used without a restart, a bad one is rejected.
    #[arg(long, env = "CAD_MODEL_CONFIGMAP")]
    pub model_configmap: Option<String>,
    /// Key of the model in the ConfigMap's binaryData.
    #[arg(long, env = "CAD_CONFIGMAP_KEY", default_value = "model.cadm")]
    pub configmap_key: String,
    /// Record a Kubernetes Event on every classified pod.
    #[arg(long, env = "CAD_EVENTS")]
    pub events: bool,
    /// Also annotate classified pods with `cad.io/predicted-class`.
    #[arg(long, env = "CAD_ANNOTATE")]
    pub annotate: bool,
    /// Write every verdict as a `cad_verdict` point to InfluxDB.
    #[arg(long, env = "CAD_INFLUX_VERDICTS")]
    pub influx_verdicts: bool,
    /// How long to wait for a pod's metrics (old `timeout.fetching.metrics`;
    /// 10s to 1d). Unset: 120s, or longer when the model decides later (the
    /// model records when its windows complete; with the default
    /// --confirm-windows about 150s at Telegraf's 10 s, about 410s at 30 s
    /// scrapes). Set, it is a hard value: a model that needs longer is
    /// warned about when loaded, with the timeout it needs.
    #[arg(long, env = "CAD_TIMEOUT", value_parser = duration_in(10 * SECOND, DAY))]
    pub timeout: Option<Duration>,
    /// Time between metric fetches (1s to 1h).
    #[arg(long, env = "CAD_POLL_INTERVAL", value_parser = duration_in(SECOND, HOUR), default_value = "5s")]
    pub poll_interval: Duration,
    /// Complete metric snapshots needed before classifying (1 to 1000;
    /// default: the model's window).
    #[arg(long, env = "CAD_MIN_SNAPSHOTS", value_parser = number_in(1usize, 1000))]
    pub min_snapshots: Option<usize>,
    /// The false-anomaly rate accepted (0.0001 to 0.5): the share of honest
    /// containers that may be flagged. With a model that carries open-set
    /// calibration (bundle format 4), a class is in a verdict's prediction
    /// set when its p-value exceeds this; an empty set is "behaves like no
    /// known class", a claimed class outside it an impostor.
    #[arg(long, env = "CAD_FALSE_ANOMALY_RATE", default_value_t = cad_core::openset::DEFAULT_FALSE_ANOMALY_RATE,
          value_parser = number_in(0.0001, 0.5))]
    pub false_anomaly_rate: f64,
    /// The rate a container that claims no class is judged at, instead of
    /// --false-anomaly-rate (0.0001 to 0.5): the share of containers of a
    /// known class, claiming none, that may be judged "behaves like no known
    /// class". A container's class comes from --label-key, its container name
    /// or image, or the pod name, so one that claims none is seldom a class.
    #[arg(long, env = "CAD_UNCLAIMED_FALSE_UNKNOWN_RATE",
          default_value_t = cad_core::openset::DEFAULT_UNCLAIMED_FALSE_UNKNOWN_RATE,
          value_parser = number_in(0.0001, 0.5))]
    pub unclaimed_false_unknown_rate: f64,
    /// Consecutive windows that must all be anomalies for a verdict to be
    /// an anomaly (1 to 10; 1: judge each container on its first window
    /// alone). A container whose first verdict is an anomaly waits for the
    /// next window (the model's window later) and is reported with the first
    /// normal verdict, or as an anomaly once that many windows in a row were
    /// anomalies; if --timeout comes first, its latest anomaly is reported.
    /// A model of bundle format 5 decides instead at the N-th window on a
    /// statistic of the N windows, calibrated on held-out containers.
    #[arg(long, env = "CAD_CONFIRM_WINDOWS", default_value_t = cad_core::engine::DEFAULT_CONFIRM_WINDOWS,
          value_parser = number_in(1usize, cad_core::engine::MAX_CONFIRM_WINDOWS))]
    pub confirm_windows: usize,
    /// With a model calibrated over several windows (bundle format 5) and
    /// --confirm-windows above 1: report a container whose first window is
    /// normal at once (true), or decide every container at its N-th window
    /// (false: more unknown services and impostors found, ~40 s later for
    /// each window after the first at 10 s samples).
    #[arg(long, env = "CAD_NORMAL_AT_ONCE", default_value_t = false, action = clap::ArgAction::Set)]
    pub normal_at_once: bool,
    /// Only for a model without open-set calibration (bundle format 2 or 3,
    /// or trained with --no-calibration): verdicts less confident than this
    /// are anomalies of kind unknown, reason low confidence (0 to 1). Models
    /// with calibration use --false-anomaly-rate instead and ignore this.
    #[arg(long, env = "CAD_CONFIDENCE_THRESHOLD", default_value_t = 0.6, value_parser = number_in(0.0, 1.0))]
    pub confidence_threshold: f64,
    /// Which pods already running at the start to judge: recent (those
    /// started less than --timeout before: after a restart, the ones the
    /// previous watcher may not have decided), all (every one, e.g. a first
    /// sweep; a restart reports them all again unless --annotate), or none.
    #[arg(long, env = "CAD_EXISTING_PODS", value_enum, default_value_t = ExistingPodsArg::Recent)]
    pub existing_pods: ExistingPodsArg,
    /// Take the claimed class from this pod label where present.
    #[arg(long, env = "CAD_LABEL_KEY")]
    pub label_key: Option<String>,
    /// Sidecar and infrastructure containers, not judged: each ends as
    /// "skipped: sidecar" (comma-separated container or image names, `*` for
    /// any run of characters; empty: none). A name that is one of the
    /// model's classes is classified. The
    /// model does not record the collector's list: give both the same one.
    #[arg(long, env = "CAD_SIDECARS", value_delimiter = ',', default_value = DEFAULT_SIDECARS_ARG)]
    pub sidecars: Vec<String>,
    /// Address for /metrics, /healthz and /readyz.
    #[arg(long, env = "CAD_LISTEN", default_value = "0.0.0.0:9090")]
    pub listen: SocketAddr,
    /// Also write every outcome as a JSON line to this file ("-" for stdout).
    #[arg(long, env = "CAD_VERDICTS_JSON")]
    pub verdicts_json: Option<PathBuf>,
    /// Stop after this long (1s to 365d; default: run until interrupted).
    #[arg(long, env = "CAD_RUN_FOR", value_parser = duration_in(SECOND, 365 * DAY))]
    pub run_for: Option<Duration>,
    #[command(flatten)]
    pub query: MetricsQueryArgs,
    #[command(flatten)]
    pub sim: SimArgs,
    #[command(flatten)]
    pub influx: InfluxArgs,
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// Which pods already running when the watcher starts it judges.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExistingPodsArg {
    /// Those started less than --timeout before the watcher.
    Recent,
    /// Every running pod.
    All,
    /// None: only pods started after the watcher.
    None,
}

impl From<ExistingPodsArg> for cad_core::engine::ExistingPods {
    fn from(a: ExistingPodsArg) -> Self {
        match a {
            ExistingPodsArg::Recent => Self::Recent,
            ExistingPodsArg::All => Self::All,
            ExistingPodsArg::None => Self::None,
        }
    }
}

/// `cad demo`: the whole mission on the simulated cluster.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Simulated time during which new pods spawn after training (1m to 1d);
    /// the demo then waits until each has its outcome.
    #[arg(long, env = "CAD_DEMO_WATCH_FOR", value_parser = duration_in(MINUTE, DAY), default_value = "10m")]
    pub watch_for: Duration,
    /// Directory for the model, report and plots.
    #[arg(long, env = "CAD_OUT_DIR", default_value = "cad-out")]
    pub out_dir: PathBuf,
    /// Seed for training and splits.
    #[arg(long, env = "CAD_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Learning algorithm.
    #[arg(long, env = "CAD_ALGORITHM", value_enum, default_value_t = AlgorithmArg::Tree)]
    pub algorithm: AlgorithmArg,
    /// Seed of the simulated cluster.
    #[arg(long, env = "CAD_SIM_SEED", default_value_t = 7)]
    pub sim_seed: u64,
    /// Pods running in the simulated cluster when the demo starts (the
    /// training pods; 10 to 10000).
    #[arg(long, env = "CAD_SIM_PODS", default_value_t = 60, value_parser = number_in(10usize, 10_000))]
    pub sim_pods: usize,
    /// Past pods, their metrics kept (0 to 10000): half of them earlier pods
    /// of the running pods' workloads (left out, as twins of those), half
    /// pods of workloads since removed (trained on), as `cad-collector
    /// --past-pods 30d` finds them in a real cluster's metrics. 0, the
    /// default: none.
    #[arg(long, env = "CAD_SIM_PAST_PODS", default_value_t = 0, value_parser = number_in(0usize, 10_000))]
    pub sim_past_pods: usize,
    /// Pods of each training Deployment (1 to 10): every training pod of a
    /// Deployment (not of a StatefulSet) comes with near-twin replicas (same
    /// service, load and image; own node, noise and start), as a
    /// Deployment's replicas behind one Service are. --sim-pods counts the
    /// independent pods. 1, the default: no replicas.
    #[arg(long, env = "CAD_SIM_REPLICAS", default_value_t = 1, value_parser = number_in(1usize, 10))]
    pub sim_replicas: usize,
    /// Impostors spawned while watching (named like one class, behaving like
    /// another; 0 to 1000). All new pods are spawned in the first half of
    /// --watch-for, in a random order.
    #[arg(long, env = "CAD_DEMO_IMPOSTORS", default_value_t = 5, value_parser = number_in(0usize, 1000))]
    pub impostors: usize,
    /// Honest pods spawned while watching (named like the class they
    /// behave as; 0 to 10000).
    #[arg(long, env = "CAD_DEMO_HONEST", default_value_t = 30, value_parser = number_in(0usize, 10_000))]
    pub honest: usize,
    /// Pods of services outside the class list spawned while watching
    /// (redis, kafka, …; named after themselves or like a class; 0 to 1000).
    #[arg(long, env = "CAD_DEMO_UNKNOWN", default_value_t = 5, value_parser = number_in(0usize, 1000))]
    pub unknown: usize,
    /// Pods of a class that claim none, spawned while watching (0 to 1000):
    /// named like no class (`web-…`), with an in-house image that names no
    /// class. They measure what --unclaimed-false-unknown-rate costs: the
    /// summary counts those judged "behaves like no known class".
    #[arg(long, env = "CAD_DEMO_UNCLAIMED", default_value_t = 0, value_parser = number_in(0usize, 1000))]
    pub unclaimed: usize,
    /// Run the demo for simulator seeds 1 to N (1 to 1000) instead of one
    /// run with --sim-seed: one line per seed, then the totals as the last
    /// line. A sweep writes no files.
    #[arg(long, env = "CAD_DEMO_SWEEP", value_name = "N", value_parser = number_in(1u64, 1000))]
    pub sweep: Option<u64>,
    /// The watcher's false-anomaly rate (0.0001 to 0.5): a class is in a
    /// verdict's prediction set when its p-value exceeds this.
    #[arg(long, env = "CAD_FALSE_ANOMALY_RATE", default_value_t = cad_core::openset::DEFAULT_FALSE_ANOMALY_RATE,
          value_parser = number_in(0.0001, 0.5))]
    pub false_anomaly_rate: f64,
    /// The watcher's rate for containers that claim no class (0.0001 to 0.5):
    /// the share of containers of a known class, claiming none, that may be
    /// judged "behaves like no known class".
    #[arg(long, env = "CAD_UNCLAIMED_FALSE_UNKNOWN_RATE",
          default_value_t = cad_core::openset::DEFAULT_UNCLAIMED_FALSE_UNKNOWN_RATE,
          value_parser = number_in(0.0001, 0.5))]
    pub unclaimed_false_unknown_rate: f64,
    /// The watcher's windows that must all be anomalies for a verdict to be
    /// an anomaly (1 to 10; see `cad watch --confirm-windows`).
    #[arg(long, env = "CAD_CONFIRM_WINDOWS", default_value_t = cad_core::engine::DEFAULT_CONFIRM_WINDOWS,
          value_parser = number_in(1usize, cad_core::engine::MAX_CONFIRM_WINDOWS))]
    pub confirm_windows: usize,
    /// How "behaves like no known class" is decided (see `cad collect
    /// --unknown-test`).
    #[arg(long, env = "CAD_UNKNOWN_TEST", value_enum, default_value_t = UnknownTestArg::EitherUnclaimed)]
    pub unknown_test: UnknownTestArg,
    /// The watcher's --normal-at-once (see `cad watch --normal-at-once`).
    #[arg(long, env = "CAD_NORMAL_AT_ONCE", default_value_t = false, action = clap::ArgAction::Set)]
    pub normal_at_once: bool,
}

/// `cad inspect`: show a model file.
#[derive(Args, Debug, Clone)]
pub struct InspectArgs {
    /// The model file.
    #[arg(env = "CAD_MODEL")]
    pub model: PathBuf,
    /// What to show.
    #[arg(long, env = "CAD_SHOW", value_enum, default_value_t = InspectAs::Summary)]
    pub show: InspectAs,
    /// Namespace/name for `--show configmap`.
    #[arg(long, env = "CAD_CONFIGMAP", default_value = "cad/cad-model")]
    pub configmap: String,
    /// Key for `--show configmap`.
    #[arg(long, env = "CAD_CONFIGMAP_KEY", default_value = "model.cadm")]
    pub configmap_key: String,
}

/// Views of a model.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InspectAs {
    /// Classes, features, evaluation.
    Summary,
    /// The tree as text (like Weka's J48 listing).
    Tree,
    /// The tree as Graphviz DOT.
    Dot,
    /// Base64 of the model bytes.
    Base64,
    /// A ConfigMap manifest with the model in binaryData.
    Configmap,
}

/// The `cad` front door.
#[derive(Parser, Debug)]
#[command(
    name = "cad",
    version,
    about = "Recognise what Kubernetes containers run from how they behave"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of `cad`.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the whole mission on the embedded simulated cluster.
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
    /// Collect data, train and evaluate a model (same as `cad-collector`).
    Collect(Box<CollectArgs>),
    /// Classify new pods with a model (same as `cad-watcher`).
    Watch(Box<WatchArgs>),
    /// Show a model file.
    Inspect(InspectArgs),
}

/// `cad-collector`'s arguments.
#[derive(Parser, Debug)]
#[command(
    name = "cad-collector",
    version,
    about = "Collect container metrics, train and evaluate a model"
)]
pub struct CollectorCli {
    #[command(flatten)]
    pub global: Global,
    #[command(flatten)]
    pub args: CollectArgs,
}

/// `cad-watcher`'s arguments.
#[derive(Parser, Debug)]
#[command(name = "cad-watcher", version, about = "Classify every new pod and flag anomalies")]
pub struct WatcherCli {
    #[command(flatten)]
    pub global: Global,
    #[command(flatten)]
    pub args: WatchArgs,
}

/// Flags whose value is a secret: given on the command line, it is
/// visible to every user of the machine in `ps` and `/proc/<pid>/cmdline`.
const SECRET_FLAGS: [(&str, &str); 4] = [
    ("influx_password", "--influx-password-file or CAD_INFLUX_PASSWORD_FILE"),
    ("influx_token", "--influx-token-file or CAD_INFLUX_TOKEN_FILE"),
    (
        "prometheus_password",
        "--prometheus-password-file or CAD_PROMETHEUS_PASSWORD_FILE",
    ),
    (
        "prometheus_token",
        "--prometheus-token-file or CAD_PROMETHEUS_TOKEN_FILE",
    ),
];

/// The secret flags given on the command line (not from their variables),
/// with the safer form to use, in these matches or a subcommand's.
pub fn secrets_on_command_line(matches: &clap::ArgMatches) -> Vec<(String, &'static str)> {
    let mut found = Vec::new();
    let mut m = Some(matches);
    while let Some(cur) = m {
        for (id, instead) in SECRET_FLAGS {
            if cur.try_contains_id(id).unwrap_or(false)
                && cur.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
            {
                found.push((format!("--{}", id.replace('_', "-")), instead));
            }
        }
        m = cur.subcommand().map(|(_, sub)| sub);
    }
    found
}

/// Parses the arguments of program `P`, exiting with clap's message on an
/// error (a value out of range names the flag and the range), and warns about
/// secrets given as flags once logging is set up by `init`.
pub fn parse<P: Parser>(init: impl FnOnce(&P)) -> P {
    let mut command = P::command();
    let matches = command.clone().get_matches();
    let parsed = P::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut command).exit());
    init(&parsed);
    for (flag, instead) in secrets_on_command_line(&matches) {
        tracing::warn!(
            "{flag} puts the secret on the command line, where every user of this machine can read it \
             (ps, /proc); use {instead} instead"
        );
    }
    parsed
}

#[cfg(test)]
mod tests {
    /// The enums' names are the library's: each algorithm and feature set
    /// the command line offers exists, and every one the library has is offered.
    #[test]
    fn the_value_enums_name_what_the_library_knows() {
        let names = |values: &[clap::builder::PossibleValue]| -> Vec<String> {
            values.iter().map(|v| v.get_name().to_owned()).collect()
        };
        let algorithms: Vec<_> = AlgorithmArg::value_variants()
            .iter()
            .map(|a| a.to_possible_value().unwrap())
            .collect();
        assert_eq!(names(&algorithms), cad_core::model::Algorithm::NAMES);
        for a in AlgorithmArg::value_variants() {
            assert_eq!(a.algorithm(&AlgorithmSettings::defaults(7)).name(), a.name());
        }
        let sets: Vec<_> = FeatureSetArg::value_variants()
            .iter()
            .map(|f| f.to_possible_value().unwrap())
            .collect();
        assert_eq!(names(&sets), FeatureSet::names());
        for f in FeatureSetArg::value_variants() {
            let name = f.to_possible_value().unwrap().get_name().to_owned();
            assert_eq!(Some(f.feature_set()), FeatureSet::by_name(&name));
        }
        let tests: Vec<_> = UnknownTestArg::value_variants()
            .iter()
            .map(|t| t.to_possible_value().unwrap())
            .collect();
        assert_eq!(names(&tests), cad_core::openset::UnknownTest::NAMES);
        for t in UnknownTestArg::value_variants() {
            let name = t.to_possible_value().unwrap().get_name().to_owned();
            assert_eq!(Some(t.unknown_test()), cad_core::openset::UnknownTest::by_name(&name));
        }
        assert_eq!(
            UnknownTestArg::default().unknown_test(),
            cad_core::openset::UnknownTest::default()
        );
    }

    /// Arguments built in code get the checks clap makes at parse time.
    #[test]
    fn train_args_out_of_range_make_no_train_config() {
        let parsed = CollectorCli::try_parse_from(["cad-collector"]).unwrap();
        let mut args = parsed.args.train.clone();
        assert!(TrainConfig::try_from(&args).is_ok());
        args.training_ratio = 1.5;
        let e = TrainConfig::try_from(&args).unwrap_err().to_string();
        assert!(e.contains("--training-ratio") && e.contains("1.5"), "{e}");
    }

    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
        CollectorCli::command().debug_assert();
        WatcherCli::command().debug_assert();
    }

    #[test]
    fn every_flag_has_an_environment_variable() {
        fn check(cmd: &clap::Command, path: &str) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") || arg.is_positional() {
                    continue;
                }
                assert!(
                    arg.get_env().is_some(),
                    "{path} --{id} has no CAD_ environment variable"
                );
                let env = arg.get_env().and_then(|e| e.to_str()).unwrap_or_default();
                assert!(env.starts_with("CAD_"), "{path} --{id}: {env}");
            }
            for sub in cmd.get_subcommands() {
                check(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        check(&Cli::command(), "cad");
        check(&CollectorCli::command(), "cad-collector");
        check(&WatcherCli::command(), "cad-watcher");
    }

    /// Each case: arguments, then the flag the refusal must name.
    const OUT_OF_RANGE: &[(&[&str], &str)] = &[
        (&["--trees", "0"], "--trees"),
        (&["--trees", "10001"], "--trees"),
        (&["--max-depth", "0"], "--max-depth"),
        (&["--threads", "0"], "--threads"),
        (&["--max-leaves", "1"], "--max-leaves"),
        (&["--max-leaves", "10000001"], "--max-leaves"),
        (&["--max-leaves=-1"], "--max-leaves"),
        (&["--min-leaf-rows", "0"], "--min-leaf-rows"),
        (&["--min-leaf-rows", "1000001"], "--min-leaf-rows"),
        (&["--folds", "0"], "--folds"),
        (&["--folds", "1"], "--folds"),
        (&["--sim-impostors", "2"], "--sim-impostors"),
        (&["--sim-impostors=-1"], "--sim-impostors"),
        (&["--sim-impostors", "NaN"], "--sim-impostors"),
        (&["--sim-pods", "0"], "--sim-pods"),
        (&["--training-ratio", "1"], "--training-ratio"),
        (&["--training-ratio", "NaN"], "--training-ratio"),
        (&["--training-max-rows", "0"], "--training-max-rows"),
        (&["--curve-points", "101"], "--curve-points"),
        (&["--max-classes", "1"], "--max-classes"),
        (&["--batch-size", "0"], "--batch-size"),
        (&["--window", "0"], "--window"),
        (&["--influx-timeout", "0s"], "--influx-timeout"),
        (&["--influx-retries", "0"], "--influx-retries"),
        (&["--prometheus-timeout", "0s"], "--prometheus-timeout"),
        (&["--prometheus-timeout", "11m"], "--prometheus-timeout"),
        (&["--prometheus-retries", "0"], "--prometheus-retries"),
        (&["--prometheus-retries", "21"], "--prometheus-retries"),
        (
            &["--prometheus-counter-lookbehind", "5s"],
            "--prometheus-counter-lookbehind",
        ),
        (&["--metrics-backend", "graphite"], "--metrics-backend"),
        (&["--algorithm", "bogus"], "--algorithm"),
        (&["--eval", "bogus"], "--eval"),
        (&["--feature-set", "bogus"], "--feature-set"),
        (&["--young-horizon", "2h"], "--young-horizon"),
        (&["--young-horizon", "soon"], "--young-horizon"),
        (&["--past-pods", "91d"], "--past-pods"),
        (&["--past-pods=-1s"], "--past-pods"),
        (&["--sim-past-pods", "100001"], "--sim-past-pods"),
    ];

    const WATCHER_OUT_OF_RANGE: &[(&[&str], &str)] = &[
        (&["--confidence-threshold", "2"], "--confidence-threshold"),
        (&["--confidence-threshold=-1"], "--confidence-threshold"),
        (&["--confidence-threshold", "NaN"], "--confidence-threshold"),
        (&["--poll-interval", "0"], "--poll-interval"),
        (&["--timeout", "0"], "--timeout"),
        (&["--min-snapshots", "0"], "--min-snapshots"),
        (&["--run-for", "0"], "--run-for"),
        (&["--existing-pods", "some"], "--existing-pods"),
    ];

    fn refused<P: Parser + std::fmt::Debug>(program: &str, args: &[&str], flag: &str) {
        let argv = std::iter::once(program).chain(args.iter().copied());
        match P::try_parse_from(argv) {
            Ok(p) => panic!("{args:?} accepted: {p:?}"),
            Err(e) => {
                let text = e.to_string();
                assert!(text.contains(flag), "{args:?}: {text}");
                assert!(
                    text.contains("must be") || text.contains("possible values") || text.contains("not in"),
                    "{args:?}: the message says what is allowed: {text}"
                );
            }
        }
    }

    #[test]
    fn every_number_and_duration_is_range_checked_at_parse_time() {
        for (args, flag) in OUT_OF_RANGE {
            refused::<CollectorCli>("cad-collector", args, flag);
        }
        for (args, flag) in WATCHER_OUT_OF_RANGE {
            refused::<WatcherCli>("cad-watcher", args, flag);
        }
        #[cfg(feature = "demo")]
        for (args, flag) in [
            (&["demo", "--impostors", "1001"][..], "--impostors"),
            (&["demo", "--sim-pods", "5"], "--sim-pods"),
            (&["demo", "--sim-past-pods", "10001"], "--sim-past-pods"),
            (&["demo", "--watch-for", "1s"], "--watch-for"),
        ] {
            refused::<Cli>("cad", args, flag);
        }
        // The bounds themselves are accepted.
        let ok = CollectorCli::try_parse_from([
            "cad-collector",
            "--trees",
            "10000",
            "--folds",
            "2",
            "--sim-impostors",
            "1",
            "--training-ratio",
            "0.999",
            "--curve-points",
            "0",
            "--max-leaves",
            "2",
            "--min-leaf-rows",
            "1000000",
        ]);
        assert!(ok.is_ok(), "{ok:?}");
        for limit in ["0", "10000000"] {
            let ok = CollectorCli::try_parse_from(["cad-collector", "--max-leaves", limit]);
            assert!(ok.is_ok(), "{ok:?}");
        }
        let ok = WatcherCli::try_parse_from(["cad-watcher", "--confidence-threshold", "1", "--poll-interval", "1s"]);
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn a_feature_set_with_a_file_is_refused_not_ignored() {
        let e = CollectorCli::try_parse_from(["cad-collector", "--from-file", "x.csv", "--feature-set", "legacy"])
            .unwrap_err();
        assert!(e.to_string().contains("--feature-set"), "{e}");
        assert!(CollectorCli::try_parse_from(["cad-collector", "--feature-set", "legacy"]).is_ok());
    }

    #[test]
    fn secrets_given_as_flags_are_found_through_subcommands() {
        let m =
            Cli::command().get_matches_from(["cad", "watch", "--influx-password", "pw", "--influx-token-file", "f"]);
        let found = secrets_on_command_line(&m);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "--influx-password");
        let m = WatcherCli::command().get_matches_from(["cad-watcher", "--influx-token", "t"]);
        assert_eq!(secrets_on_command_line(&m)[0].0, "--influx-token");
        let m = WatcherCli::command().get_matches_from(["cad-watcher"]);
        assert!(secrets_on_command_line(&m).is_empty());
        let m = CollectorCli::command().get_matches_from([
            "cad-collector",
            "--prometheus-password",
            "pw",
            "--prometheus-token",
            "t",
        ]);
        let flags: Vec<String> = secrets_on_command_line(&m).into_iter().map(|(f, _)| f).collect();
        assert_eq!(flags, ["--prometheus-password", "--prometheus-token"]);
    }

    #[test]
    fn a_client_certificate_needs_its_key() {
        for (program, flag, other) in [
            ("cad-collector", "--prometheus-cert-file", "--prometheus-key-file"),
            ("cad-collector", "--prometheus-key-file", "--prometheus-cert-file"),
            ("cad-collector", "--influx-cert-file", "--influx-key-file"),
            ("cad-collector", "--influx-key-file", "--influx-cert-file"),
        ] {
            let e = CollectorCli::try_parse_from([program, flag, "x.pem"]).unwrap_err();
            assert!(e.to_string().contains(other), "{flag}: {e}");
            assert!(CollectorCli::try_parse_from([program, flag, "x.pem", other, "y.pem"]).is_ok());
        }
        let w = WatcherCli::try_parse_from(["cad-watcher", "--metrics-backend", "prometheus"]).unwrap();
        assert_eq!(w.args.metrics_backend, MetricsBackend::Prometheus);
        let w = WatcherCli::try_parse_from(["cad-watcher"]).unwrap();
        assert_eq!(w.args.metrics_backend, MetricsBackend::Influx);
    }

    #[test]
    fn both_programs_take_the_metrics_query_flags_with_the_adapter_defaults() {
        let w = WatcherCli::try_parse_from(["cad-watcher"]).unwrap().args.query;
        let c = CollectorCli::try_parse_from(["cad-collector"]).unwrap().args.query;
        for q in [&w, &c] {
            assert_eq!(q.batch_size as usize, cad_influx::DEFAULT_CHUNK_SIZE);
            assert_eq!(q.max_request_bytes as usize, cad_influx::DEFAULT_MAX_REQUEST_BYTES);
            assert_eq!(q.query_concurrency as usize, cad_influx::DEFAULT_CONCURRENCY);
        }
        assert!(c.max_request_bytes as usize >= cad_influx::MIN_REQUEST_BYTES);
        let args = [
            "--batch-size",
            "7",
            "--max-request-bytes",
            "20000",
            "--query-concurrency",
            "3",
        ];
        for (name, q) in [
            (
                "cad-watcher",
                WatcherCli::try_parse_from(std::iter::once("cad-watcher").chain(args)).map(|c| c.args.query),
            ),
            (
                "cad-collector",
                CollectorCli::try_parse_from(std::iter::once("cad-collector").chain(args)).map(|c| c.args.query),
            ),
        ] {
            let q = q.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                (q.batch_size, q.max_request_bytes, q.query_concurrency),
                (7, 20_000, 3),
                "{name}"
            );
        }
        for bad in [
            ["--batch-size", "0"],
            ["--batch-size", "5001"],
            ["--max-request-bytes", "4095"],
            ["--max-request-bytes", "9000000"],
            ["--query-concurrency", "0"],
            ["--query-concurrency", "65"],
            ["--batch-size=-3", "--query-concurrency=1"],
        ] {
            let err = WatcherCli::try_parse_from(std::iter::once("cad-watcher").chain(bad)).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{bad:?}: {err}");
        }
        // The collector reads a bounded number of containers per round.
        assert_eq!(c.collector_batch(), 1_600);
        let big = MetricsQueryArgs {
            batch_size: 5_000,
            max_request_bytes: 65_536,
            query_concurrency: 64,
        };
        assert_eq!(big.collector_batch(), 2_000);
    }

    #[test]
    fn the_sidecar_list_defaults_to_cad_cores_and_can_be_emptied() {
        let c = CollectorCli::try_parse_from(["cad-collector"]).unwrap().args;
        assert_eq!(c.sidecars, cad_core::label::DEFAULT_SIDECARS);
        let w = WatcherCli::try_parse_from(["cad-watcher"]).unwrap().args;
        assert_eq!(w.sidecars, cad_core::label::DEFAULT_SIDECARS);
        let w = WatcherCli::try_parse_from(["cad-watcher", "--sidecars", "envoy"])
            .unwrap()
            .args;
        assert_eq!(crate::watch::watcher_config(&w).sidecars, ["envoy"]);
        assert_eq!(c.young_horizon, Duration::from_secs(300));
        let c = CollectorCli::try_parse_from(["cad-collector", "--sidecars", "envoy,my-agent", "--young-horizon", "0"])
            .unwrap()
            .args;
        assert_eq!(c.sidecars, ["envoy", "my-agent"]);
        assert_eq!(c.young_horizon, Duration::ZERO);
        assert_eq!(c.past_pods, Duration::ZERO, "no past pods by default");
        let c = CollectorCli::try_parse_from(["cad-collector", "--past-pods", "30d"])
            .unwrap()
            .args;
        assert_eq!(c.past_pods, Duration::from_secs(30 * 86_400));
        let err = CollectorCli::try_parse_from(["cad-collector", "--past-pods", "91d"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be from 0s to 90d"), "{err}");
        let err = CollectorCli::try_parse_from(["cad-collector", "--window", "10s"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be from 1m to 30d"), "{err}");
        let c = CollectorCli::try_parse_from(["cad-collector", "--sidecars", ""])
            .unwrap()
            .args;
        assert!(
            cad_core::Labeler::new(["a"])
                .with_sidecars(c.sidecars)
                .sidecars()
                .is_empty()
        );
    }

    #[test]
    fn durations_accept_seconds_and_units() {
        assert_eq!(duration("120").unwrap(), Duration::from_secs(120));
        assert_eq!(duration("5m").unwrap(), Duration::from_secs(300));
        assert!(duration("soon").is_err());
    }
}
