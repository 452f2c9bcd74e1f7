//! Configuration: where the Prometheus API is, how to authenticate and trust
//! it, which series to read and how to batch.

use crate::promql::is_label_name;
use cad_core::{Clock, Metric, MetricScope, RetryPolicy, Secret, SystemClock};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to authenticate to the Prometheus API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// HTTP basic auth (Prometheus' `basic_auth_users`, VictoriaMetrics'
    /// `-httpAuth.*`, most reverse proxies).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
    /// `Authorization: Bearer …` with a fixed token.
    Bearer(Secret),
    /// `Authorization: Bearer …` with the token read from a file, re-read at
    /// most every [`TOKEN_REREAD`](crate::TOKEN_REREAD) so a rotated token
    /// (a projected service-account token, a Vault agent's file) is picked
    /// up without a restart. Leading and trailing whitespace is trimmed.
    BearerFile(PathBuf),
}

impl Auth {
    /// User and password.
    pub fn basic(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Auth::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    /// A fixed bearer token.
    pub fn bearer(token: impl Into<Secret>) -> Self {
        Auth::Bearer(token.into())
    }

    /// A bearer token read from `path`.
    pub fn bearer_file(path: impl Into<PathBuf>) -> Self {
        Auth::BearerFile(path.into())
    }
}

/// TLS settings for `https://` URLs (rustls): a private CA, a client
/// certificate. The same type as `cad-influx`'s.
pub use cad_http::TlsConfig;

/// The labels that name a container's namespace, pod and container, and its image.
///
/// cAdvisor in the kubelet uses `namespace`, `pod` and `container` since
/// Kubernetes 1.16; before that `pod_name` and `container_name`
/// ([`LabelNames::legacy`]); `image` in both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelNames {
    /// Label holding the namespace.
    pub namespace: String,
    /// Label holding the pod name.
    pub pod: String,
    /// Label holding the container name.
    pub container: String,
    /// Label holding the container's image (read by
    /// [`containers_seen`](cad_core::MetricSource::containers_seen) only).
    pub image: String,
}

impl Default for LabelNames {
    fn default() -> Self {
        LabelNames {
            namespace: "namespace".into(),
            pod: "pod".into(),
            container: "container".into(),
            image: "image".into(),
        }
    }
}

impl LabelNames {
    /// The names before Kubernetes 1.16: `namespace`, `pod_name`, `container_name`.
    pub fn legacy() -> Self {
        LabelNames {
            namespace: "namespace".into(),
            pod: "pod_name".into(),
            container: "container_name".into(),
            image: "image".into(),
        }
    }
}

/// A condition on one label of a series: its value must be one of `values`;
/// an empty value stands for "the label is absent", as in PromQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelFilter {
    /// The label.
    pub label: String,
    /// The values allowed.
    pub values: Vec<String>,
}

impl LabelFilter {
    /// `label` must have one of `values`.
    pub fn new(label: impl Into<String>, values: impl IntoIterator<Item = impl Into<String>>) -> Self {
        LabelFilter {
            label: label.into(),
            values: values.into_iter().map(Into::into).collect(),
        }
    }

    pub(crate) fn accepts(&self, value: &str) -> bool {
        self.values.iter().any(|v| v == value)
    }
}

/// How a series' values convert into the unit of cad's metric.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unit {
    /// The same unit (bytes, counts).
    #[default]
    Same,
    /// Seconds to nanoseconds, rounded to a whole nanosecond: cAdvisor's
    /// `container_cpu_usage_seconds_total` is the kernel's integer
    /// nanoseconds divided by 10⁹, and rounding gives them back exactly (below
    /// 2⁵³ ns, about 104 core-days; past that the `f64` has lost them already).
    SecondsToNanoseconds,
}

impl Unit {
    pub(crate) fn convert(self, v: f64) -> f64 {
        match self {
            Unit::Same => v,
            Unit::SecondsToNanoseconds => (v * 1e9).round(),
        }
    }
}

/// One series read into one of cad's metrics.
///
/// Several series of one container (one per device of
/// `container_fs_reads_bytes_total`, one per interface of a pod's network)
/// are summed per timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesMap {
    /// The series (metric) name, e.g. `container_memory_rss`.
    pub series: String,
    /// Conditions on other labels; every one must hold.
    pub filters: Vec<LabelFilter>,
    /// The metric of cad's catalogue the values feed.
    pub metric: Metric,
    /// Unit conversion.
    pub unit: Unit,
}

impl SeriesMap {
    /// `series` read as `metric`, same unit, no filters.
    pub fn new(series: impl Into<String>, metric: Metric) -> Self {
        SeriesMap {
            series: series.into(),
            filters: Vec::new(),
            metric,
            unit: Unit::Same,
        }
    }

    /// Adds a filter.
    pub fn with_filter(mut self, filter: LabelFilter) -> Self {
        self.filters.push(filter);
        self
    }

    /// Sets the unit conversion.
    pub fn with_unit(mut self, unit: Unit) -> Self {
        self.unit = unit;
        self
    }

    /// Whether a series with this name and these labels is one of this mapping's.
    pub(crate) fn accepts<'a>(&self, name: &str, label: impl Fn(&str) -> &'a str) -> bool {
        name == self.series && self.filters.iter().all(|f| f.accepts(label(&f.label)))
    }
}

/// How persistent-volume usage reaches pods.
///
/// `kubelet_volume_stats_used_bytes` is labelled with the namespace and the
/// PersistentVolumeClaim only, not the pod. kube-state-metrics'
/// `kube_pod_spec_volumes_persistentvolumeclaims_info` says which pod mounts
/// which claim; the source reads it first (one instant query per chunk of
/// pods: `last_over_time` of the info series over the window), then the
/// claims' raw usage samples, and sums a pod's claims per timestamp into
/// [`Metric::VolumeUsedBytes`]. A claim mounted by several pods counts for
/// each. Without kube-state-metrics no pod has volume samples — the column
/// stays missing, never 0.
///
/// Telegraf's `kubernetes_pod_volume` also counts `emptyDir`, ConfigMap and
/// Secret volumes; the kubelet's volume stats cover persistent volumes only.
/// A model trained on one sees a different `mean(used_bytes)` from the other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeSeries {
    /// Used bytes per claim (the kubelet's `kubelet_volume_stats_used_bytes`).
    pub used_bytes: String,
    /// Label of `used_bytes` holding the namespace.
    pub namespace_label: String,
    /// Label of `used_bytes` holding the claim name.
    pub claim_label: String,
    /// Pod-to-claim info series (kube-state-metrics'
    /// `kube_pod_spec_volumes_persistentvolumeclaims_info`).
    pub pod_claims: String,
    /// Label of `pod_claims` holding the namespace.
    pub pod_claims_namespace_label: String,
    /// Label of `pod_claims` holding the pod name.
    pub pod_claims_pod_label: String,
    /// Label of `pod_claims` holding the claim name.
    pub pod_claims_claim_label: String,
}

impl Default for VolumeSeries {
    fn default() -> Self {
        VolumeSeries {
            used_bytes: "kubelet_volume_stats_used_bytes".into(),
            namespace_label: "namespace".into(),
            claim_label: "persistentvolumeclaim".into(),
            pod_claims: "kube_pod_spec_volumes_persistentvolumeclaims_info".into(),
            pod_claims_namespace_label: "namespace".into(),
            pod_claims_pod_label: "pod".into(),
            pod_claims_claim_label: "persistentvolumeclaim".into(),
        }
    }
}

/// Which series feed which metrics. [`Default`] is the kubelet's cAdvisor
/// endpoint (`/metrics/cadvisor`) as kube-prometheus-stack scrapes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catalogue {
    /// Label names of the per-container series.
    pub labels: LabelNames,
    /// Per-container series (CPU, memory, file system, block I/O). Series of
    /// a pause container are never read as a container's.
    pub container: Vec<SeriesMap>,
    /// Per-pod series (network), attributed to every requested container of
    /// the pod. See [`pause_containers`](Self::pause_containers) for which
    /// of a pod's series are used.
    pub pod: Vec<SeriesMap>,
    /// Values of the container label that mean "the pod's sandbox", not a
    /// container: `""` (containerd, CRI-O, and the pod-level cgroup) and `"POD"`
    /// (dockershim). cAdvisor reports a pod's network on its sandbox; where a
    /// runtime reports it on the containers instead, the source falls back to
    /// those (one series set per pod, never a sum of copies).
    pub pause_containers: Vec<String>,
    /// Fill [`Metric::CpuUsageNanocores`], which the `behaviour` feature set
    /// requires and Prometheus does not have, from the CPU counter: at every
    /// counter sample, the increase since the previous sample divided by the
    /// time between them (as the kubelet computes the summary API's
    /// `usageNanoCores`). No value after a decrease (a restart) or at a
    /// container's first sample.
    pub derive_cpu_nanocores: bool,
    /// Persistent-volume usage; `None` reads none.
    pub volumes: Option<VolumeSeries>,
    /// The series holding each container's start time in seconds since the
    /// epoch, labelled like the per-container series (cAdvisor's
    /// `container_start_time_seconds`), read by
    /// [`containers_seen`](cad_core::MetricSource::containers_seen); `None`
    /// reads none and leaves every start unknown.
    pub start_time: Option<String>,
}

impl Default for Catalogue {
    fn default() -> Self {
        use Metric::*;
        let faults = |t: &str, m: Metric| {
            SeriesMap::new("container_memory_failures_total", m)
                .with_filter(LabelFilter::new("failure_type", [t]))
                .with_filter(LabelFilter::new("scope", ["container"]))
        };
        let eth0 = || LabelFilter::new("interface", ["eth0"]);
        Catalogue {
            labels: LabelNames::default(),
            container: vec![
                SeriesMap::new("container_cpu_usage_seconds_total", CpuUsageCoreNanoseconds)
                    .with_unit(Unit::SecondsToNanoseconds)
                    // `total`, or no `cpu` label at all; never per-CPU series
                    // (cAdvisor with percpu metrics has both).
                    .with_filter(LabelFilter::new("cpu", ["total", ""])),
                SeriesMap::new("container_memory_usage_bytes", MemoryUsageBytes),
                SeriesMap::new("container_memory_working_set_bytes", MemoryWorkingSetBytes),
                SeriesMap::new("container_memory_rss", MemoryRssBytes),
                faults("pgfault", MemoryPageFaults),
                faults("pgmajfault", MemoryMajorPageFaults),
                SeriesMap::new("container_fs_usage_bytes", RootfsUsedBytes),
                SeriesMap::new("container_fs_reads_bytes_total", BlkioReadBytes),
                SeriesMap::new("container_fs_writes_bytes_total", BlkioWriteBytes),
            ],
            pod: vec![
                SeriesMap::new("container_network_receive_bytes_total", RxBytes).with_filter(eth0()),
                SeriesMap::new("container_network_transmit_bytes_total", TxBytes).with_filter(eth0()),
                SeriesMap::new("container_network_receive_errors_total", RxErrors).with_filter(eth0()),
                SeriesMap::new("container_network_transmit_errors_total", TxErrors).with_filter(eth0()),
            ],
            pause_containers: vec![String::new(), "POD".into()],
            derive_cpu_nanocores: true,
            volumes: Some(VolumeSeries::default()),
            start_time: Some("container_start_time_seconds".into()),
        }
    }
}

impl Catalogue {
    /// The default catalogue with the label names before Kubernetes 1.16
    /// (`pod_name`, `container_name`).
    pub fn legacy() -> Self {
        Catalogue {
            labels: LabelNames::legacy(),
            ..Catalogue::default()
        }
    }

    /// Every metric this catalogue can fill.
    pub fn metrics(&self) -> Vec<Metric> {
        let mut out: Vec<Metric> = self.container.iter().chain(&self.pod).map(|m| m.metric).collect();
        if self.derives_nanocores() {
            out.push(Metric::CpuUsageNanocores);
        }
        if self.volumes.is_some() {
            out.push(Metric::VolumeUsedBytes);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether nanocores are derived (asked for, read from no series, and
    /// the CPU counter is read).
    pub(crate) fn derives_nanocores(&self) -> bool {
        self.derive_cpu_nanocores
            && self
                .container
                .iter()
                .any(|m| m.metric == Metric::CpuUsageCoreNanoseconds)
            && !self.container.iter().any(|m| m.metric == Metric::CpuUsageNanocores)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        let l = &self.labels;
        let mut labels = vec![l.namespace.as_str(), &l.pod, &l.container, &l.image];
        if self.start_time.as_ref().is_some_and(String::is_empty) {
            return invalid("the start time series name is empty".into());
        }
        let mut seen: Vec<Metric> = Vec::new();
        for (list, scope) in [(&self.container, MetricScope::Container), (&self.pod, MetricScope::Pod)] {
            for m in list {
                if m.series.is_empty() {
                    return invalid("a series name is empty".into());
                }
                if m.metric.scope() != scope {
                    return invalid(format!(
                        "{} is a {:?}-level metric and cannot be read from the {:?}-level series {:?}",
                        m.metric,
                        m.metric.scope(),
                        scope,
                        m.series
                    ));
                }
                if m.metric == Metric::VolumeUsedBytes {
                    return invalid(format!("{} is read through the volume settings", m.metric));
                }
                if seen.contains(&m.metric) {
                    return invalid(format!("{} is mapped twice", m.metric));
                }
                seen.push(m.metric);
                for f in &m.filters {
                    if f.values.is_empty() {
                        return invalid(format!("the filter on {:?} of {:?} allows no value", f.label, m.series));
                    }
                    labels.push(&f.label);
                }
            }
        }
        if let Some(v) = &self.volumes {
            if v.used_bytes.is_empty() || v.pod_claims.is_empty() {
                return invalid("a volume series name is empty".into());
            }
            labels.extend([
                v.namespace_label.as_str(),
                &v.claim_label,
                &v.pod_claims_namespace_label,
                &v.pod_claims_pod_label,
                &v.pod_claims_claim_label,
            ]);
        }
        for name in labels {
            if !is_label_name(name) || name == "__name__" {
                return invalid(format!("{name:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"));
            }
        }
        Ok(())
    }
}

/// How one fetch is split into queries and how many run at once.
///
/// Pods are sorted by namespace and name and cut into chunks; each chunk
/// costs a fixed number of queries (one per group of series, see
/// [`PrometheusMetricSource`](crate::PrometheusMetricSource)), so the number
/// of queries grows with pods ÷ `max_pods_per_request`, never with pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunking {
    /// Most pods per query (at least 1).
    pub max_pods_per_request: usize,
    /// Upper bound on one query's form-encoded size in bytes; a chunk is
    /// closed early rather than exceed it (a single pod always fits).
    pub max_request_bytes: usize,
    /// Most HTTP requests in flight at once (at least 1).
    pub concurrency: usize,
    /// Queries whose URL would be longer than this are sent as `POST` with a
    /// form body (the API accepts both); shorter ones as `GET`, which proxies
    /// and logs show more readably.
    pub max_get_bytes: usize,
}

impl Default for Chunking {
    /// 200 pods and 64 KiB per query, 4 requests at once, `POST` past 4 KiB.
    fn default() -> Self {
        Chunking {
            max_pods_per_request: 200,
            max_request_bytes: 64 * 1024,
            concurrency: 4,
            max_get_bytes: 4 * 1024,
        }
    }
}

/// How [`containers_seen`](cad_core::MetricSource::containers_seen) scans a
/// window (see [`PrometheusMetricSource`](crate::PrometheusMetricSource)).
///
/// The window is cut into spans of at most `span`, each read by instant
/// queries whose subqueries evaluate every series at each multiple of `step`:
/// a query's work on the server is about `span / step` points per series, and
/// its answer one value per container, whatever the window's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeenQueries {
    /// The subqueries' resolution: first and last samples are found within
    /// one step. At least 1 s and at most 5 min (Prometheus' default
    /// look-back: a longer step would miss containers between steps).
    /// Whole seconds.
    pub step: Duration,
    /// The longest time one query covers; a longer window takes one query of
    /// each kind per span. At least one step, at most 10 000 steps. Whole
    /// multiples of the step. Prometheus refuses a query holding more than
    /// `--query.max-samples` points (50 million by default): `span / step`
    /// times the containers seen in a span must stay below it, so a cluster
    /// with more than about 30 000 containers a day needs shorter spans. A
    /// window of more than 400 spans is cut into 400 longer ones.
    pub span: Duration,
}

impl Default for SeenQueries {
    /// A step of 1 min, spans of one day (1 440 points per series per query;
    /// a 30-day window is 31 spans of 3 queries: 30 days, and the step
    /// before the window).
    fn default() -> Self {
        SeenQueries {
            step: Duration::from_secs(60),
            span: Duration::from_secs(86_400),
        }
    }
}

impl SeenQueries {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        let (step, span) = (self.step, self.span);
        if step < Duration::from_secs(1) || step > Duration::from_secs(300) || step.subsec_nanos() != 0 {
            return invalid("seen.step must be whole seconds from 1 s to 5 min");
        }
        if span < step || span > step * 10_000 || span.as_nanos() % step.as_nanos() != 0 {
            return invalid("seen.span must be a whole multiple of seen.step, from 1 to 10 000 steps");
        }
        Ok(())
    }
}

/// Everything [`PrometheusMetricSource`](crate::PrometheusMetricSource) needs.
///
/// Build it with [`PrometheusConfig::new`] and set fields directly; the
/// defaults suit a kube-prometheus-stack Prometheus.
#[derive(Clone)]
pub struct PrometheusConfig {
    /// Base URL of the API, e.g. `http://prometheus-operated.monitoring:9090`,
    /// `https://thanos-query:10902`, `http://vmselect:8481/select/0/prometheus`
    /// (`/api/v1/query` is appended). Must not carry credentials.
    pub url: String,
    /// Credentials.
    pub auth: Auth,
    /// TLS trust and client certificate.
    pub tls: TlsConfig,
    /// Series to read.
    pub catalogue: Catalogue,
    /// How far before a window the CPU counter is read, so that the first
    /// sample in the window has a predecessor to derive nanocores from. At
    /// least one scrape interval; the default 2 min covers intervals up to
    /// about 1 min with jitter.
    pub counter_lookbehind: Duration,
    /// Batching.
    pub chunking: Chunking,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request (sending, waiting, reading the answer).
    pub timeout: Duration,
    /// Retries on transient errors.
    pub retries: RetryPolicy,
    /// Largest answer read, in bytes; a larger one is an error that says to
    /// lower `max_pods_per_request` or the window.
    pub max_response_bytes: usize,
    /// Ask Thanos (`partial_response=false`) to fail a query rather than
    /// answer from the stores that are up. Prometheus and VictoriaMetrics
    /// ignore the parameter. Either way, an answer's `warnings` are logged.
    pub deny_partial_response: bool,
    /// How [`containers_seen`](cad_core::MetricSource::containers_seen) scans a window.
    pub seen: SeenQueries,
    /// Clock used for the waits between retries (tests pass one that does not sleep).
    pub clock: Arc<dyn Clock>,
}

impl PrometheusConfig {
    /// A configuration for `url` with defaults for everything else: no auth,
    /// system roots, the cAdvisor catalogue, 2 min counter lookbehind,
    /// [`Chunking::default`], 5 s connect / 30 s request timeouts, 4 attempts,
    /// answers up to 256 MiB.
    pub fn new(url: impl Into<String>) -> Self {
        PrometheusConfig {
            url: url.into(),
            auth: Auth::None,
            tls: TlsConfig::default(),
            catalogue: Catalogue::default(),
            counter_lookbehind: Duration::from_secs(120),
            chunking: Chunking::default(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            retries: RetryPolicy::default(),
            max_response_bytes: 256 << 20,
            deny_partial_response: false,
            seen: SeenQueries::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Sets the credentials.
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Sets the TLS settings.
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.tls = tls;
        self
    }

    /// Checks every setting that can be checked without the network.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        let c = &self.chunking;
        if c.max_pods_per_request == 0 {
            return invalid("max_pods_per_request must be at least 1");
        }
        if c.concurrency == 0 {
            return invalid("concurrency must be at least 1");
        }
        if c.max_request_bytes < 1024 {
            return invalid("max_request_bytes must be at least 1024");
        }
        if self.retries.max_attempts == 0 {
            return invalid("retries.max_attempts must be at least 1");
        }
        if self.max_response_bytes == 0 {
            return invalid("max_response_bytes must be at least 1");
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return invalid("timeouts must be longer than zero");
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return invalid("a client certificate needs both cert_file and key_file");
        }
        self.seen.validate()?;
        self.catalogue.validate()
    }
}

impl fmt::Debug for PrometheusConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusConfig")
            .field("url", &self.url)
            .field("auth", &self.auth)
            .field("tls", &self.tls)
            .field("catalogue", &self.catalogue)
            .field("counter_lookbehind", &self.counter_lookbehind)
            .field("chunking", &self.chunking)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("deny_partial_response", &self.deny_partial_response)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

/// Why a [`PrometheusConfig`] cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The URL does not parse or is not http(s).
    #[error("invalid Prometheus API URL {url:?}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL carries a user name or password.
    #[error("the Prometheus API URL must not carry credentials; set them in the auth settings")]
    CredentialsInUrl,
    /// A setting has a value that cannot work.
    #[error("invalid Prometheus setting: {0}")]
    Invalid(String),
    /// The bearer token file cannot be read.
    #[error("cannot read {what} {path:?}")]
    ReadFile {
        /// What the file is for ("CA file", "bearer token file", …).
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client could not be built: an unreadable or unusable CA
    /// file, client certificate or key.
    #[error("cannot set up HTTPS")]
    Client(#[source] cad_http::ClientError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_catalogue_fills_what_prometheus_can_give() {
        let got = Catalogue::default().metrics();
        for m in Metric::fetched() {
            // No cAdvisor series: the logs file system (Telegraf reads it
            // from the kubelet's summary API).
            let absent = [Metric::LogsfsUsedBytes];
            assert_eq!(got.contains(&m), !absent.contains(&m), "{m}");
        }
        // Every metric the behaviour set requires.
        for m in cad_core::FeatureSet::behaviour().required {
            assert!(got.contains(&m), "{m}");
        }
    }

    #[test]
    fn validation_names_the_problem() {
        let mut c = PrometheusConfig::new("http://x");
        assert!(c.validate().is_ok());
        c.catalogue.labels.pod = "pod-name".into();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("\"pod-name\" is not a label name")
        );
        let mut c = PrometheusConfig::new("http://x");
        c.catalogue
            .container
            .push(SeriesMap::new("container_network_receive_bytes_total", Metric::RxBytes));
        assert!(c.validate().unwrap_err().to_string().contains("Pod-level metric"));
        let mut c = PrometheusConfig::new("http://x");
        c.catalogue
            .container
            .push(SeriesMap::new("container_memory_cache", Metric::MemoryRssBytes));
        assert!(c.validate().unwrap_err().to_string().contains("mapped twice"));
        let mut c = PrometheusConfig::new("http://x");
        c.chunking.concurrency = 0;
        assert!(c.validate().is_err());
        let mut c = PrometheusConfig::new("http://x");
        c.tls.cert_file = Some("c.pem".into());
        assert!(c.validate().unwrap_err().to_string().contains("key_file"));
        for (step, span, ok) in [
            (60, 86_400, true),
            (1, 1, true),
            (300, 3_000_000, true),
            (0, 60, false),
            (301, 602, false),
            (60, 30, false),
            (60, 90, false),
            (1, 10_001, false),
        ] {
            let mut c = PrometheusConfig::new("http://x");
            c.seen = SeenQueries {
                step: Duration::from_secs(step),
                span: Duration::from_secs(span),
            };
            assert_eq!(c.validate().is_ok(), ok, "step {step} s, span {span} s");
        }
        let mut c = PrometheusConfig::new("http://x");
        c.seen.step = Duration::from_millis(1500);
        assert!(c.validate().unwrap_err().to_string().contains("seen.step"));
        let mut c = PrometheusConfig::new("http://x");
        c.catalogue.start_time = Some(String::new());
        assert!(c.validate().is_err());
        let mut c = PrometheusConfig::new("http://x");
        c.catalogue.labels.image = "image-name".into();
        assert!(c.validate().is_err());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let c = PrometheusConfig::new("http://x").with_auth(Auth::basic("u", "pa55-w0rd-xyz"));
        let d = format!("{c:?}");
        assert!(!d.contains("pa55-w0rd-xyz") && d.contains("Secret(***)"), "{d}");
        let c = PrometheusConfig::new("http://x").with_auth(Auth::bearer("tok-123-abc"));
        assert!(!format!("{c:?}").contains("tok-123-abc"));
    }

    #[test]
    fn seconds_become_whole_nanoseconds() {
        let ns: f64 = 123_456_789_012_345.0;
        assert_eq!(Unit::SecondsToNanoseconds.convert(ns / 1e9), ns);
        assert_eq!(Unit::Same.convert(2.5), 2.5);
    }
}
