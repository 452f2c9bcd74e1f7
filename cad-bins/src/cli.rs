//! Command-line arguments of the programs. Every flag is also an environment
//! variable `CAD_…`; secrets can also come from a file (`…_FILE`).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

fn duration(s: &str) -> Result<Duration, String> {
    // Plain numbers are seconds, as in the old system's properties.
    if let Ok(secs) = s.trim().parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s.trim()).map_err(|e| format!("{e} (examples: 120, 90s, 5m, 1h30m)"))
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
    /// A real cluster: pods from the Kubernetes API, metrics from InfluxDB.
    Cluster,
}

/// The simulated cluster's knobs.
#[derive(Args, Debug, Clone)]
pub struct SimArgs {
    /// Seed of the simulated cluster.
    #[arg(long, env = "CAD_SIM_SEED", default_value_t = 7)]
    pub sim_seed: u64,
    /// Pods running in the simulated cluster at the start.
    #[arg(long, env = "CAD_SIM_PODS", default_value_t = 60)]
    pub sim_pods: usize,
    /// Share of simulated pods named like one class but behaving like another.
    #[arg(long, env = "CAD_SIM_IMPOSTORS", default_value_t = 0.1)]
    pub sim_impostors: f64,
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
    /// Password (old `influxdb.password`); prefer --influx-password-file.
    #[arg(long, env = "CAD_INFLUX_PASSWORD", hide_env_values = true)]
    pub influx_password: Option<String>,
    /// File holding the password (a mounted Secret).
    #[arg(long, env = "CAD_INFLUX_PASSWORD_FILE")]
    pub influx_password_file: Option<PathBuf>,
    /// Token for InfluxDB 2's v1-compatible API; prefer --influx-token-file.
    #[arg(long, env = "CAD_INFLUX_TOKEN", hide_env_values = true)]
    pub influx_token: Option<String>,
    /// File holding the token.
    #[arg(long, env = "CAD_INFLUX_TOKEN_FILE")]
    pub influx_token_file: Option<PathBuf>,
    /// Timeout of one InfluxDB request.
    #[arg(long, env = "CAD_INFLUX_TIMEOUT", value_parser = duration, default_value = "30s")]
    pub influx_timeout: Duration,
    /// Attempts per InfluxDB request on transient errors.
    #[arg(long, env = "CAD_INFLUX_RETRIES", default_value_t = 4)]
    pub influx_retries: u32,
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
    /// Learning algorithm: tree, forest or smartcore-tree.
    #[arg(long, env = "CAD_ALGORITHM", default_value = "tree")]
    pub algorithm: String,
    /// Maximum tree depth (none by default).
    #[arg(long, env = "CAD_MAX_DEPTH")]
    pub max_depth: Option<usize>,
    /// Most leaves per tree, grown best first; 0 for no limit. Default: no
    /// limit for a tree, 1024 for each tree of a forest (so that a forest of
    /// 100 trees fits a ConfigMap).
    #[arg(long, env = "CAD_MAX_LEAVES")]
    pub max_leaves: Option<usize>,
    /// Fewest training rows in a leaf (at least 1).
    #[arg(long, env = "CAD_MIN_LEAF_ROWS", default_value_t = 1)]
    pub min_leaf_rows: usize,
    /// Trees in a forest.
    #[arg(long, env = "CAD_TREES", default_value_t = 100)]
    pub trees: usize,
    /// Threads for forest training and batch prediction (the evaluation's).
    #[arg(long, env = "CAD_THREADS", default_value_t = 1)]
    pub threads: usize,
    /// Seed for training and splits.
    #[arg(long, env = "CAD_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Evaluation: grouped-kfold (default), grouped-split, or leaky-split
    /// (the old system's random row split, which puts rows of one container
    /// on both sides; for comparison only).
    #[arg(long, env = "CAD_EVAL", default_value = "grouped-kfold")]
    pub eval: String,
    /// Folds of grouped k-fold.
    #[arg(long, env = "CAD_FOLDS", default_value_t = 5)]
    pub folds: usize,
    /// Share of rows (or containers) for training in a split (old `training.ratio`).
    #[arg(long, env = "CAD_TRAINING_RATIO", default_value_t = 0.7)]
    pub training_ratio: f64,
    /// Largest training-set size on the learning curve (old `training.maxNumber`;
    /// default: all training rows).
    #[arg(long, env = "CAD_TRAINING_MAX_ROWS")]
    pub training_max_rows: Option<usize>,
    /// Points on the learning curve.
    #[arg(long, env = "CAD_CURVE_POINTS", default_value_t = 12)]
    pub curve_points: usize,
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
    /// Create or replace the model ConfigMap through the Kubernetes API.
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

/// `cad-collector`: collect data from a cluster (or read a file), train,
/// evaluate, write the model.
#[derive(Args, Debug, Clone)]
pub struct CollectArgs {
    /// Where pods and metrics come from.
    #[arg(long, env = "CAD_SOURCE", value_enum, default_value_t = Source::Cluster)]
    pub source: Source,
    /// Train from an ARFF or CSV file instead of collecting.
    #[arg(long, env = "CAD_FROM_FILE")]
    pub from_file: Option<PathBuf>,
    /// Classes, in priority order (old `data.aggregator.decision.tree.classifier.list`).
    #[arg(long, env = "CAD_CLASSES", default_value = "mysql,nginx,apache,postgres,mongo")]
    pub classes: String,
    /// Take the class from this pod label where present (e.g. app.kubernetes.io/name).
    #[arg(long, env = "CAD_LABEL_KEY")]
    pub label_key: Option<String>,
    /// Feature set: behaviour (default) or legacy.
    #[arg(long, env = "CAD_FEATURE_SET", default_value = "behaviour")]
    pub feature_set: String,
    /// How far back to read metrics.
    #[arg(long, env = "CAD_WINDOW", value_parser = duration, default_value = "10m")]
    pub window: Duration,
    /// Containers per metrics query batch.
    #[arg(long, env = "CAD_BATCH_SIZE", default_value_t = 500)]
    pub batch_size: usize,
    #[command(flatten)]
    pub train: TrainArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub sim: SimArgs,
    #[command(flatten)]
    pub influx: InfluxArgs,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// `cad-watcher`: classify every new pod with a trained model.
#[derive(Args, Debug, Clone)]
pub struct WatchArgs {
    /// Where pods and metrics come from.
    #[arg(long, env = "CAD_SOURCE", value_enum, default_value_t = Source::Cluster)]
    pub source: Source,
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
    /// How long to wait for a pod's metrics (old `timeout.fetching.metrics`).
    #[arg(long, env = "CAD_TIMEOUT", value_parser = duration, default_value = "120s")]
    pub timeout: Duration,
    /// Time between metric fetches.
    #[arg(long, env = "CAD_POLL_INTERVAL", value_parser = duration, default_value = "5s")]
    pub poll_interval: Duration,
    /// Complete metric snapshots needed before classifying (default: the model's window).
    #[arg(long, env = "CAD_MIN_SNAPSHOTS")]
    pub min_snapshots: Option<usize>,
    /// Verdicts less confident than this are anomalies.
    #[arg(long, env = "CAD_CONFIDENCE_THRESHOLD", default_value_t = 0.6)]
    pub confidence_threshold: f64,
    /// Take the claimed class from this pod label where present.
    #[arg(long, env = "CAD_LABEL_KEY")]
    pub label_key: Option<String>,
    /// Address for /metrics, /healthz and /readyz.
    #[arg(long, env = "CAD_LISTEN", default_value = "0.0.0.0:9090")]
    pub listen: SocketAddr,
    /// Also write every outcome as a JSON line to this file ("-" for stdout).
    #[arg(long, env = "CAD_VERDICTS_JSON")]
    pub verdicts_json: Option<PathBuf>,
    /// Stop after this long (default: run until interrupted).
    #[arg(long, env = "CAD_RUN_FOR", value_parser = duration)]
    pub run_for: Option<Duration>,
    #[command(flatten)]
    pub sim: SimArgs,
    #[command(flatten)]
    pub influx: InfluxArgs,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// `cad demo`: the whole mission on the simulated cluster.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Simulated time to watch newly spawning pods after training.
    #[arg(long, env = "CAD_DEMO_WATCH_FOR", value_parser = duration, default_value = "10m")]
    pub watch_for: Duration,
    /// Directory for the model, report and plots.
    #[arg(long, env = "CAD_OUT_DIR", default_value = "cad-out")]
    pub out_dir: PathBuf,
    /// Seed for training and splits.
    #[arg(long, env = "CAD_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Learning algorithm: tree, forest or smartcore-tree.
    #[arg(long, env = "CAD_ALGORITHM", default_value = "tree")]
    pub algorithm: String,
    /// Seed of the simulated cluster.
    #[arg(long, env = "CAD_SIM_SEED", default_value_t = 7)]
    pub sim_seed: u64,
    /// Pods running in the simulated cluster when the demo starts (the training pods).
    #[arg(long, env = "CAD_SIM_PODS", default_value_t = 60)]
    pub sim_pods: usize,
    /// Impostors spawned while watching (named like one class, behaving like another).
    #[arg(long, env = "CAD_DEMO_IMPOSTORS", default_value_t = 5)]
    pub impostors: usize,
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

#[cfg(test)]
mod tests {
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

    #[test]
    fn durations_accept_seconds_and_units() {
        assert_eq!(duration("120").unwrap(), Duration::from_secs(120));
        assert_eq!(duration("5m").unwrap(), Duration::from_secs(300));
        assert!(duration("soon").is_err());
    }
}
