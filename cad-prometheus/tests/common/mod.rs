//! Test harness: real Prometheus and VictoriaMetrics servers (and vmauth in
//! front of one) on free loopback ports, with their data in temporary
//! directories; a private CA made per test; writers of cAdvisor-shaped data.
//! Dropped, a server is killed.
//!
//! Where a binary is missing the tests skip with a printed reason, unless
//! `CI=true`, where a missing server is a failure (`scripts/test.sh` installs
//! Debian's `prometheus` and `victoria-metrics`).

#![allow(dead_code)]

pub mod cluster;

/// cad-influx's harness (a real `influxd`, and the recording clock), for the
/// cross-store test and the retry tests.
#[path = "../../../cad-influx/tests/common/mod.rs"]
pub mod influx;

pub use influx::{Certs, RecordingClock};

use cad_core::{ContainerId, Metric, MetricBatch, RetryPolicy, Timestamp};
use cad_prometheus::{Auth, PrometheusConfig};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary `name` (from `$env`, else `PATH`), or `None` with a printed
/// reason; with `CI=true` a missing binary panics.
pub fn binary(name: &str, env: &str, package: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let found = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()));
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "{name} not found on PATH and CI=true: scripts/test.sh should have installed the `{package}` package"
            );
        }
        // Written to stderr directly: libtest captures eprintln! of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {name} not found on PATH (apt-get install {package}, or set {env}=/path/to/{name})"
        );
    }
    found
}

/// A free loopback port, never the same twice in this test process.
pub fn free_port() -> u16 {
    static TAKEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
        let port = l.local_addr().expect("local addr").port();
        let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
        if !taken.contains(&port) {
            taken.push(port);
            return port;
        }
    }
}

/// A child process that is killed when dropped.
struct Process {
    child: Option<Child>,
    log: PathBuf,
}

impl Process {
    fn spawn(cmd: &mut Command, log: PathBuf) -> Process {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log handle"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        Process {
            child: Some(child),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Polls `url` until it answers 2xx (readiness of a real process).
    async fn wait_ready(&mut self, client: &reqwest::Client, url: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(url).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Some(status) = self.exited() {
                panic!("{what} exited with {status}: {}", self.log());
            }
            assert!(Instant::now() < deadline, "{what} not ready in 60 s: {}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A reqwest client trusting `certs`' CA (for the harness's own calls).
fn harness_client(certs: Option<&Certs>, client_cert: bool) -> reqwest::Client {
    match certs {
        Some(c) => c.client(client_cert),
        None => reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client"),
    }
}

/// `http://127.0.0.1:PORT`, or `https://localhost:PORT` (the name the
/// server certificate carries) with TLS.
fn base_url(tls: bool, port: u16) -> String {
    if tls {
        format!("https://localhost:{port}")
    } else {
        format!("http://127.0.0.1:{port}")
    }
}

/// Options of a Prometheus server.
#[derive(Default)]
pub struct PromOptions<'a> {
    /// Serve HTTPS with this CA's server certificate and require its client certificate.
    pub tls: Option<&'a Certs>,
    /// `--query.max-samples`.
    pub max_samples: Option<u64>,
    /// promtool's `--max-block-duration` for the backfill (hidden in
    /// Debian's 2.42, which takes it): blocks up to this long instead of
    /// 2 h. The 30-day scale fixture of `containers_seen.rs` took promtool
    /// over 5 minutes in 2-hour blocks, 5 s in 31-day ones, and Prometheus
    /// answered slower over hundreds of blocks; a Prometheus that has run
    /// for a while has compacted its blocks to up to 31 days anyway.
    pub backfill_block: Option<Duration>,
}

/// A running Prometheus over a data directory backfilled with
/// `promtool tsdb create-blocks-from openmetrics`.
pub struct PromServer {
    dir: tempfile::TempDir,
    port: u16,
    tls: bool,
    process: Process,
}

impl PromServer {
    /// Backfills `series` and starts Prometheus over them, or `None` (printed
    /// reason) where a binary is absent and `CI` is not `true`.
    pub async fn start(series: &[SeriesData], options: PromOptions<'_>) -> Option<PromServer> {
        let prometheus = binary("prometheus", "PROMETHEUS", "prometheus")?;
        let promtool = binary("promtool", "PROMTOOL", "prometheus")?;
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let data = root.join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        if !series.is_empty() {
            let om = root.join("backfill.om");
            std::fs::write(&om, openmetrics(series)).expect("write OpenMetrics");
            let mut cmd = Command::new(&promtool);
            cmd.args(["tsdb", "create-blocks-from"]);
            if let Some(d) = options.backfill_block {
                cmd.arg(format!("--max-block-duration={}s", d.as_secs()));
            }
            let out = cmd
                .arg("openmetrics")
                .arg(&om)
                .arg(&data)
                .output()
                .expect("run promtool");
            assert!(
                out.status.success(),
                "promtool create-blocks-from: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let config = root.join("prometheus.yml");
        std::fs::write(&config, "global: {}\n").expect("write config");
        let port = free_port();
        let mut cmd = Command::new(&prometheus);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg("--storage.tsdb.retention.time=100y")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn");
        if let Some(n) = options.max_samples {
            cmd.arg(format!("--query.max-samples={n}"));
        }
        if let Some(c) = options.tls {
            let web = root.join("web.yml");
            std::fs::write(
                &web,
                format!(
                    "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
                    c.path("server.pem").display(),
                    c.path("server-key.pem").display(),
                    c.path("ca.pem").display()
                ),
            )
            .expect("write web config");
            cmd.arg(format!("--web.config.file={}", web.display()));
        }
        let mut process = Process::spawn(&mut cmd, root.join("prometheus.log"));
        let server = |process| PromServer {
            port,
            tls: options.tls.is_some(),
            process,
            dir,
        };
        let client = harness_client(options.tls, true);
        let ready = format!("{}/-/ready", base_url(options.tls.is_some(), port));
        process.wait_ready(&client, &ready, "prometheus").await;
        Some(server(process))
    }

    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` with TLS.
    pub fn url(&self) -> String {
        base_url(self.tls, self.port)
    }

    pub fn stop(&mut self) {
        self.process.stop();
    }

    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// Options of a VictoriaMetrics server.
#[derive(Default)]
pub struct VmOptions<'a> {
    /// `-httpAuth.username` / `-httpAuth.password`.
    pub basic_auth: Option<(&'a str, &'a str)>,
    /// Serve HTTPS with this CA's server certificate.
    pub tls: Option<&'a Certs>,
}

/// A running single-node VictoriaMetrics.
pub struct VmServer {
    dir: tempfile::TempDir,
    port: u16,
    tls: bool,
    basic_auth: Option<(String, String)>,
    process: Process,
    client: reqwest::Client,
}

impl VmServer {
    pub async fn start(options: VmOptions<'_>) -> Option<VmServer> {
        let bin = binary("victoria-metrics", "VICTORIA_METRICS", "victoria-metrics")?;
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut cmd = Command::new(&bin);
        cmd.arg(format!("-storageDataPath={}", dir.path().join("data").display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            // Test data lies in the past: keep it, and answer about it at once.
            .arg("-retentionPeriod=100y")
            .arg("-search.latencyOffset=0s")
            .arg("-search.disableCache")
            .arg("-loggerLevel=WARN");
        if let Some((u, p)) = options.basic_auth {
            cmd.arg(format!("-httpAuth.username={u}"))
                .arg(format!("-httpAuth.password={p}"));
        }
        if let Some(c) = options.tls {
            cmd.arg("-tls")
                .arg(format!("-tlsCertFile={}", c.path("server.pem").display()))
                .arg(format!("-tlsKeyFile={}", c.path("server-key.pem").display()));
        }
        let mut process = Process::spawn(&mut cmd, dir.path().join("vm.log"));
        let client = harness_client(options.tls, false);
        let health = format!("{}/health", base_url(options.tls.is_some(), port));
        process.wait_ready(&client, &health, "victoria-metrics").await;
        Some(VmServer {
            port,
            tls: options.tls.is_some(),
            basic_auth: options.basic_auth.map(|(u, p)| (u.to_owned(), p.to_owned())),
            client,
            dir,
            process,
        })
    }

    pub fn url(&self) -> String {
        base_url(self.tls, self.port)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.client.request(method, format!("{}{path}", self.url()));
        match &self.basic_auth {
            Some((u, p)) => r.basic_auth(u, Some(p)),
            None => r,
        }
    }

    /// Imports `series` (Prometheus text format, millisecond timestamps) and
    /// flushes, so that they are searchable at once.
    pub async fn import(&self, series: &[SeriesData]) {
        let r = self
            .request(reqwest::Method::POST, "/api/v1/import/prometheus")
            .body(prometheus_text(series))
            .send()
            .await
            .expect("import");
        let status = r.status();
        assert!(
            status.is_success(),
            "import: HTTP {status}: {}",
            r.text().await.unwrap_or_default()
        );
        let r = self
            .request(reqwest::Method::GET, "/internal/force_flush")
            .send()
            .await
            .expect("flush");
        assert!(r.status().is_success(), "force_flush: HTTP {}", r.status());
    }

    pub fn stop(&mut self) {
        self.process.stop();
    }
}

/// vmauth in front of a backend URL, accepting one bearer token.
pub struct VmAuth {
    dir: tempfile::TempDir,
    port: u16,
    process: Process,
}

impl VmAuth {
    pub async fn start(backend: &str, bearer_token: &str) -> Option<VmAuth> {
        let bin = binary("vmauth", "VMAUTH", "victoria-metrics")?;
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("auth.yml");
        std::fs::write(
            &config,
            format!("users:\n- bearer_token: \"{bearer_token}\"\n  url_prefix: \"{backend}\"\n"),
        )
        .expect("write vmauth config");
        let port = free_port();
        let mut cmd = Command::new(&bin);
        cmd.arg(format!("-auth.config={}", config.display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg("-loggerLevel=WARN");
        let mut process = Process::spawn(&mut cmd, dir.path().join("vmauth.log"));
        let url = format!("http://127.0.0.1:{port}/health");
        process.wait_ready(&reqwest::Client::new(), &url, "vmauth").await;
        Some(VmAuth { dir, port, process })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// One series of test data: its name, labels and `(ms, value)` points.
#[derive(Clone, Debug)]
pub struct SeriesData {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub points: Vec<(i64, f64)>,
}

impl SeriesData {
    pub fn new(name: &str, labels: &[(&str, &str)]) -> Self {
        SeriesData {
            name: name.into(),
            labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            points: Vec::new(),
        }
    }

    pub fn point(mut self, ms: i64, v: f64) -> Self {
        self.points.push((ms, v));
        self
    }

    pub fn points(mut self, points: impl IntoIterator<Item = (i64, f64)>) -> Self {
        self.points.extend(points);
        self
    }
}

/// A label value escaped for the text exposition formats.
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn labels_text(s: &SeriesData) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in s.labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{k}=\"{}\"", label_value(v));
    }
    out.push('}');
    out
}

/// OpenMetrics text for promtool: families contiguous, each series' points
/// in time order, timestamps in seconds, `# EOF` at the end.
pub fn openmetrics(series: &[SeriesData]) -> String {
    let mut by_name: std::collections::BTreeMap<&str, Vec<&SeriesData>> = Default::default();
    for s in series {
        by_name.entry(s.name.as_str()).or_default().push(s);
    }
    let mut out = String::new();
    for (name, list) in by_name {
        let _ = writeln!(out, "# TYPE {name} unknown");
        for s in list {
            let labels = labels_text(s);
            let mut points = s.points.clone();
            points.sort_by_key(|p| p.0);
            for (ms, v) in points {
                let sign = if ms < 0 { "-" } else { "" };
                let a = ms.unsigned_abs();
                let _ = writeln!(out, "{name}{labels} {v} {sign}{}.{:03}", a / 1000, a % 1000);
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// Prometheus text format with millisecond timestamps (VictoriaMetrics' import).
pub fn prometheus_text(series: &[SeriesData]) -> String {
    let mut out = String::new();
    for s in series {
        let labels = labels_text(s);
        for (ms, v) in &s.points {
            let _ = writeln!(out, "{}{labels} {v} {ms}", s.name);
        }
    }
    out
}

/// The start of test data: a whole minute about an hour ago (VictoriaMetrics
/// drops samples outside its retention, so data cannot lie in a fixed past).
pub fn data_start() -> Timestamp {
    let now = Timestamp::now().as_millis();
    Timestamp::from_millis(now - now % 60_000 - 3_600_000)
}

/// A source configuration for `url` with retries that do not sleep.
pub fn config(url: &str, clock: Arc<RecordingClock>) -> PrometheusConfig {
    let mut c = PrometheusConfig::new(url);
    c.retries = RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(2),
    };
    c.timeout = Duration::from_secs(60);
    c.clock = clock;
    c
}

/// Basic auth for `config`.
pub fn basic(user: &str, password: &str) -> Auth {
    Auth::basic(user, password)
}

/// A path for `text` in `dir`.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write file");
    p
}

/// Samples per container as sorted `(ms, metric, value)`.
pub type Expected = std::collections::BTreeMap<ContainerId, Vec<(i64, Metric, f64)>>;

/// The batch as [`Expected`]: bit-exact values, containers without samples left out.
pub fn flatten(batch: &MetricBatch) -> Expected {
    let mut out = Expected::new();
    for (id, samples) in batch.iter() {
        let mut v: Vec<(i64, Metric, f64)> = samples
            .iter()
            .map(|s| (s.time.as_millis(), s.metric, s.value))
            .collect();
        v.sort_by_key(|a| (a.0, a.1));
        if !v.is_empty() {
            out.insert(id.clone(), v);
        }
    }
    out
}
