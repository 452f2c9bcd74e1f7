//! Configuration: where InfluxDB is, how to authenticate, which schema to read.

use cad_core::{Clock, Metric, SystemClock};
pub use cad_core::{RetryPolicy, Secret};
pub use cad_http::TlsConfig;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How to authenticate to InfluxDB.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// No credentials (a server with `auth-enabled = false`).
    #[default]
    None,
    /// InfluxDB 1.x user and password, sent as HTTP basic auth (not as `u`/`p`
    /// URL parameters, which end up in proxies' access logs).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
    /// An API token, sent as `Authorization: Token …` (InfluxDB 2's v1-compatible API).
    Token(Secret),
}

impl Auth {
    /// User and password.
    pub fn basic(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Auth::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    /// An API token.
    pub fn token(token: impl Into<Secret>) -> Self {
        Auth::Token(token.into())
    }
}

/// Names of one per-container measurement (Telegraf's `kubernetes_pod_container`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerMeasurement {
    /// Measurement name.
    pub measurement: String,
    /// Tag holding the namespace.
    pub namespace_tag: String,
    /// Tag holding the pod name.
    pub pod_tag: String,
    /// Tag holding the container name.
    pub container_tag: String,
    /// Which field feeds which metric. Only these fields are selected.
    pub fields: Vec<(Metric, String)>,
}

/// Names of one per-pod measurement (Telegraf's `kubernetes_pod_network`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodMeasurement {
    /// Measurement name.
    pub measurement: String,
    /// Tag holding the namespace.
    pub namespace_tag: String,
    /// Tag holding the pod name.
    pub pod_tag: String,
    /// Which field feeds which metric.
    pub fields: Vec<(Metric, String)>,
}

/// Names of the per-volume measurement (Telegraf's `kubernetes_pod_volume`); the
/// used bytes of all a pod's volumes are summed per timestamp into
/// [`Metric::VolumeUsedBytes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeMeasurement {
    /// Measurement name.
    pub measurement: String,
    /// Tag holding the namespace.
    pub namespace_tag: String,
    /// Tag holding the pod name.
    pub pod_tag: String,
    /// Tag holding the volume name.
    pub volume_tag: String,
    /// Field with the bytes used on the volume.
    pub used_field: String,
}

/// Names of the block-I/O measurement (Telegraf's `docker` input,
/// `docker_container_blkio`), matched by pod UID and container name taken from
/// the Docker labels Kubernetes sets. Per timestamp the device named
/// [`total_device`](Self::total_device) is used where present, otherwise the
/// devices are summed.
///
/// [`containers_seen`](cad_core::MetricSource::containers_seen) also reads
/// the pod's namespace and name and the image from it, to give past
/// containers their pod UID and image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlkioMeasurement {
    /// Measurement name.
    pub measurement: String,
    /// Tag holding the pod's namespace (Docker label `io.kubernetes.pod.namespace`).
    pub namespace_tag: String,
    /// Tag holding the pod name (Docker label `io.kubernetes.pod.name`).
    pub pod_tag: String,
    /// Tag holding the pod UID.
    pub pod_uid_tag: String,
    /// Tag holding the container name.
    pub container_tag: String,
    /// Tag holding the container's image (Telegraf's `container_image`: the
    /// image reference without its tag, which goes to `container_version`);
    /// `None` reports no image.
    pub image_tag: Option<String>,
    /// Tag holding the device (`8:0`, or `total`).
    pub device_tag: String,
    /// Value of the device tag on Telegraf's per-container total.
    pub total_device: String,
    /// Which field feeds which metric.
    pub fields: Vec<(Metric, String)>,
}

/// Measurement, tag and field names to read. `Default` is Telegraf's
/// `kubernetes` and `docker` inputs. A measurement set to `None` is not queried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    /// Per-container CPU, memory and file-system metrics.
    pub container: ContainerMeasurement,
    /// Per-pod network counters, attributed to every requested container of the pod.
    pub network: Option<PodMeasurement>,
    /// Per-pod volume usage, summed over volumes.
    pub volume: Option<VolumeMeasurement>,
    /// Per-container block I/O; absent on nodes without Docker, which is fine.
    pub blkio: Option<BlkioMeasurement>,
}

fn fields(metrics: &[Metric]) -> Vec<(Metric, String)> {
    metrics.iter().map(|m| (*m, m.name().to_owned())).collect()
}

impl Default for Schema {
    fn default() -> Self {
        use Metric::*;
        Schema {
            container: ContainerMeasurement {
                measurement: "kubernetes_pod_container".into(),
                namespace_tag: "namespace".into(),
                pod_tag: "pod_name".into(),
                container_tag: "container_name".into(),
                fields: fields(&[
                    CpuUsageNanocores,
                    CpuUsageCoreNanoseconds,
                    MemoryUsageBytes,
                    MemoryWorkingSetBytes,
                    MemoryRssBytes,
                    MemoryPageFaults,
                    MemoryMajorPageFaults,
                    RootfsUsedBytes,
                    LogsfsUsedBytes,
                ]),
            },
            network: Some(PodMeasurement {
                measurement: "kubernetes_pod_network".into(),
                namespace_tag: "namespace".into(),
                pod_tag: "pod_name".into(),
                fields: fields(&[RxBytes, TxBytes, RxErrors, TxErrors]),
            }),
            volume: Some(VolumeMeasurement {
                measurement: "kubernetes_pod_volume".into(),
                namespace_tag: "namespace".into(),
                pod_tag: "pod_name".into(),
                volume_tag: "volume_name".into(),
                used_field: "used_bytes".into(),
            }),
            blkio: Some(BlkioMeasurement {
                measurement: "docker_container_blkio".into(),
                namespace_tag: "io.kubernetes.pod.namespace".into(),
                pod_tag: "io.kubernetes.pod.name".into(),
                pod_uid_tag: "io.kubernetes.pod.uid".into(),
                container_tag: "io.kubernetes.container.name".into(),
                image_tag: Some("container_image".into()),
                device_tag: "device".into(),
                total_device: "total".into(),
                fields: fields(&[BlkioReadBytes, BlkioWriteBytes]),
            }),
        }
    }
}

/// Default [`InfluxConfig::chunk_size`]: pods per request (see BENCHMARKS.md
/// for how it was chosen).
pub const DEFAULT_CHUNK_SIZE: usize = 100;
/// Default [`InfluxConfig::max_request_bytes`].
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Default [`InfluxConfig::concurrency`].
pub const DEFAULT_CONCURRENCY: usize = 4;

/// Everything [`InfluxMetricSource`](crate::InfluxMetricSource) and
/// [`InfluxVerdictWriter`](crate::InfluxVerdictWriter) need.
///
/// Build it with [`InfluxConfig::new`] and set fields directly; the defaults
/// suit a Telegraf-fed InfluxDB 1.x.
#[derive(Clone)]
pub struct InfluxConfig {
    /// Base URL, e.g. `http://influxdb.monitoring:8086` or `https://…` (rustls).
    /// Must not carry credentials; use [`auth`](Self::auth).
    pub url: String,
    /// TLS trust and client certificate for `https://` (InfluxDB's
    /// `https-enabled`): a private CA, as Telegraf's `tls_ca` / `tls_cert` /
    /// `tls_key`.
    pub tls: TlsConfig,
    /// Database to read metrics from and write verdicts to.
    pub database: String,
    /// Retention policy; `None` is the database's default.
    pub retention_policy: Option<String>,
    /// Credentials.
    pub auth: Auth,
    /// Names to read.
    pub schema: Schema,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request (sending, waiting, reading the answer).
    pub timeout: Duration,
    /// Retries on transient errors.
    pub retries: RetryPolicy,
    /// Largest answer read, in bytes; a larger one is an error that says to
    /// lower the pods per request or the window.
    pub max_response_bytes: usize,
    /// Most pods per request; one request carries one statement per
    /// measurement for one chunk of pods.
    pub chunk_size: usize,
    /// Most bytes per request, counting its URL and its form body: a chunk is
    /// closed early rather than exceed it. A pod that alone needs more (very
    /// long names, very many containers) is sent alone. At least
    /// [`MIN_REQUEST_BYTES`](crate::source::MIN_REQUEST_BYTES).
    pub max_request_bytes: usize,
    /// Most requests of one fetch in flight at once.
    pub concurrency: usize,
    /// Measurement verdicts are written to.
    pub verdict_measurement: String,
    /// Clock used for the waits between retries (tests pass one that does not sleep).
    pub clock: Arc<dyn Clock>,
}

impl InfluxConfig {
    /// A configuration for `url` and `database` with defaults for everything else:
    /// no auth, the system's roots, Telegraf's schema, 5 s connect / 30 s
    /// request timeouts, 4 attempts, answers up to 256 MiB,
    /// requests of at most [`DEFAULT_CHUNK_SIZE`] pods and
    /// [`DEFAULT_MAX_REQUEST_BYTES`] bytes, [`DEFAULT_CONCURRENCY`] in flight.
    pub fn new(url: impl Into<String>, database: impl Into<String>) -> Self {
        InfluxConfig {
            url: url.into(),
            tls: TlsConfig::default(),
            database: database.into(),
            retention_policy: None,
            auth: Auth::None,
            schema: Schema::default(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            retries: RetryPolicy::default(),
            max_response_bytes: 256 << 20,
            chunk_size: DEFAULT_CHUNK_SIZE,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            concurrency: DEFAULT_CONCURRENCY,
            verdict_measurement: "cad_verdict".into(),
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
}

impl fmt::Debug for InfluxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InfluxConfig")
            .field("url", &self.url)
            .field("tls", &self.tls)
            .field("database", &self.database)
            .field("retention_policy", &self.retention_policy)
            .field("auth", &self.auth)
            .field("schema", &self.schema)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("chunk_size", &self.chunk_size)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("concurrency", &self.concurrency)
            .field("verdict_measurement", &self.verdict_measurement)
            .finish_non_exhaustive()
    }
}

/// Why an [`InfluxConfig`] cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The URL does not parse or is not http(s).
    #[error("invalid InfluxDB URL: {0}")]
    Url(String),
    /// The URL carries a user name or password.
    #[error("the InfluxDB URL must not carry credentials; set them in the auth settings")]
    CredentialsInUrl,
    /// A setting has a value that cannot work.
    #[error("invalid InfluxDB setting: {0}")]
    Invalid(String),
    /// The HTTP client could not be built: an unreadable or unusable CA
    /// file, client certificate or key.
    #[error("cannot set up HTTPS")]
    Client(#[source] cad_http::ClientError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_password() {
        let c = InfluxConfig::new("http://x:8086", "telegraf").with_auth(Auth::basic("u", "pa55-w0rd-xyz"));
        let d = format!("{c:?}");
        assert!(!d.contains("pa55-w0rd-xyz"), "{d}");
        assert!(d.contains("Secret(***)"));
    }

    #[test]
    fn default_schema_covers_every_fetched_metric() {
        let s = Schema::default();
        let mut covered: Vec<Metric> = s.container.fields.iter().map(|(m, _)| *m).collect();
        covered.extend(s.network.iter().flat_map(|n| n.fields.iter().map(|(m, _)| *m)));
        covered.extend(s.blkio.iter().flat_map(|b| b.fields.iter().map(|(m, _)| *m)));
        covered.push(Metric::VolumeUsedBytes);
        for m in Metric::fetched() {
            assert!(covered.contains(&m), "{m} not read by the default schema");
        }
    }
}
