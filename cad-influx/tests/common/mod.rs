//! Test harness: a real `influxd` (InfluxDB 1.x) on free loopback ports, with
//! its data in a temporary directory, `auth-enabled = true`, and an admin user.
//! Dropped, it kills the server.
//!
//! With [`InfluxServer::start_tls`] it serves HTTPS with a certificate of a
//! private CA made for the test ([`Certs`]).
//!
//! Where `influxd` is missing the tests skip with a printed reason, unless
//! `CI=true`, where a missing server is a failure (`scripts/test.sh` installs it).

#![allow(dead_code)]

pub mod load;

use cad_core::{Clock, Timestamp};
use cad_influx::{Auth, InfluxConfig, RetryPolicy, TlsConfig};
use futures::future::BoxFuture;
use reqwest::Url;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "Adm1n-S3cret-for-cad-tests";

/// Where `influxd` is: `$INFLUXD`, else the first `influxd` on `PATH`.
fn find_influxd() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("INFLUXD") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("influxd"))
        .find(|p| p.is_file())
}

/// A free loopback port, never the same twice in this test process (tests run
/// in parallel and each server takes two ports).
fn free_port() -> u16 {
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

/// A private CA with a server certificate for `localhost`/`127.0.0.1` and a
/// client certificate, as PEM files in a temporary directory; and a second
/// CA that signed nothing here.
pub struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    pub fn new() -> Certs {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).expect("write PEM");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "cad test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("CA key")).expect("CA cert");
        write("ca.pem", ca.pem());
        for (name, sans, usage) in [
            (
                "server",
                vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
                ExtendedKeyUsagePurpose::ServerAuth,
            ),
            (
                "client",
                vec!["cad-client".to_owned()],
                ExtendedKeyUsagePurpose::ClientAuth,
            ),
        ] {
            let mut p = CertificateParams::new(sans).expect("params");
            p.distinguished_name.push(DnType::CommonName, name);
            p.extended_key_usages = vec![usage];
            let key = KeyPair::generate().expect("key");
            let cert = p.signed_by(&key, &ca).expect("sign");
            write(&format!("{name}.pem"), cert.pem());
            write(&format!("{name}-key.pem"), key.serialize_pem());
        }
        // A second CA that signed nothing here: trusting it alone must fail.
        let other = CertificateParams::new(Vec::<String>::new())
            .and_then(|mut p| {
                p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                p.self_signed(&KeyPair::generate()?)
            })
            .expect("other CA");
        write("other-ca.pem", other.pem());
        Certs { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Trust the CA; present the client certificate if `client`.
    pub fn tls(&self, client: bool) -> TlsConfig {
        TlsConfig {
            ca_file: Some(self.path("ca.pem")),
            cert_file: client.then(|| self.path("client.pem")),
            key_file: client.then(|| self.path("client-key.pem")),
        }
    }

    /// A reqwest client trusting the CA (for a harness's own calls),
    /// presenting the client certificate if `client`.
    pub fn client(&self, client: bool) -> reqwest::Client {
        let ca = std::fs::read(self.path("ca.pem")).expect("ca");
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca).expect("ca pem"));
        if client {
            let mut pem = std::fs::read(self.path("client.pem")).expect("client cert");
            pem.extend(std::fs::read(self.path("client-key.pem")).expect("client key"));
            b = b.identity(reqwest::Identity::from_pem(&pem).expect("identity"));
        }
        b.build().expect("client")
    }
}

/// A running `influxd`.
pub struct InfluxServer {
    binary: PathBuf,
    dir: tempfile::TempDir,
    config: PathBuf,
    http_port: u16,
    tls: bool,
    child: Option<Child>,
    client: reqwest::Client,
}

impl InfluxServer {
    /// Starts a server with an admin user, or `None` (printed reason) where
    /// `influxd` is absent and `CI` is not `true`.
    pub async fn start() -> Option<InfluxServer> {
        InfluxServer::start_with(None).await
    }

    /// Starts a server that serves HTTPS with `certs`' server certificate
    /// (`https-enabled`, `https-certificate`, `https-private-key`).
    pub async fn start_tls(certs: &Certs) -> Option<InfluxServer> {
        InfluxServer::start_with(Some(certs)).await
    }

    async fn start_with(certs: Option<&Certs>) -> Option<InfluxServer> {
        let Some(binary) = find_influxd() else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "influxd not found on PATH and CI=true: scripts/test.sh should have installed the `influxdb` package"
                );
            }
            // Written to stderr directly: libtest captures eprintln! of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: influxd not found on PATH (apt-get install influxdb, or set INFLUXD=/path/to/influxd)"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let http_port = free_port();
        let rpc_port = free_port();
        let root = dir.path();
        let config = root.join("influxdb.conf");
        let text = format!(
            r#"reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{meta}"
  logging-enabled = false

[data]
  dir = "{data}"
  wal-dir = "{wal}"
  query-log-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false

[retention]
  enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  auth-enabled = true
  log-enabled = false
  pprof-enabled = false
  unix-socket-enabled = false
{https}
[ifql]
  enabled = false

[logging]
  level = "warn"
  suppress-logo = true
"#,
            meta = root.join("meta").display(),
            data = root.join("data").display(),
            wal = root.join("wal").display(),
            https = match certs {
                Some(c) => format!(
                    "  https-enabled = true\n  https-certificate = \"{}\"\n  https-private-key = \"{}\"\n",
                    c.path("server.pem").display(),
                    c.path("server-key.pem").display()
                ),
                None => String::new(),
            },
        );
        std::fs::write(&config, text).expect("write influxd config");
        let mut server = InfluxServer {
            binary,
            dir,
            config,
            http_port,
            tls: certs.is_some(),
            child: None,
            client: certs.map_or_else(reqwest::Client::new, |c| c.client(false)),
        };
        server.launch().await;
        // With auth enabled and no user yet, InfluxDB accepts creating the first admin.
        let q = format!("CREATE USER \"{ADMIN}\" WITH PASSWORD '{ADMIN_PASSWORD}' WITH ALL PRIVILEGES");
        // A 200 answer can still carry a statement error (the meta store may not be
        // ready right after /ping answers), so check the body and try again.
        let url = server.query_url(&q, None);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = server.client.post(url.clone()).send().await.expect("create admin user");
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            if status.is_success() && !body.contains("\"error\"") {
                break;
            }
            assert!(Instant::now() < deadline, "create admin user: HTTP {status}: {body}");
            eprintln!("create admin user: HTTP {status}: {body}; retrying");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(server)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("influxd.log")
    }

    async fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open influxd log");
        let child = Command::new(&self.binary)
            .arg("run")
            .arg("-config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn influxd");
        self.child = Some(child);
        // Wait until /ping answers (readiness poll of a real process).
        let deadline = Instant::now() + Duration::from_secs(60);
        let ping = format!("{}/ping", self.url());
        loop {
            if let Ok(r) = self.client.get(&ping).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("influxd exited with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "influxd did not answer /ping in 60 s: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` (the name the
    /// server certificate carries) with TLS.
    pub fn url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.http_port)
        } else {
            format!("http://127.0.0.1:{}", self.http_port)
        }
    }

    /// The server's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the server (keeps its data).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the stopped server again on the same port and data.
    pub async fn restart(&mut self) {
        self.stop();
        self.launch().await;
    }

    fn query_url(&self, q: &str, db: Option<&str>) -> Url {
        let mut url = Url::parse(&format!("{}/query", self.url())).expect("url");
        {
            let mut p = url.query_pairs_mut();
            if let Some(db) = db {
                p.append_pair("db", db);
            }
            p.append_pair("epoch", "ms").append_pair("q", q);
        }
        url
    }

    /// Runs `q` as the admin (POST /query) and returns the JSON answer.
    pub async fn admin_query(&self, db: Option<&str>, q: &str) -> serde_json::Value {
        let r = self
            .client
            .post(self.query_url(q, db))
            .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
            .send()
            .await
            .expect("admin query");
        let status = r.status();
        let body = r.text().await.expect("admin query body");
        assert!(status.is_success(), "{q}: HTTP {status}: {body}");
        serde_json::from_str(&body).expect("admin query JSON")
    }

    pub async fn create_database(&self, db: &str) {
        self.admin_query(None, &format!("CREATE DATABASE \"{db}\"")).await;
    }

    pub async fn databases(&self) -> Vec<String> {
        let v = self.admin_query(None, "SHOW DATABASES").await;
        v["results"][0]["series"][0]["values"]
            .as_array()
            .map(|rows| rows.iter().filter_map(|r| r[0].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    /// Writes line protocol (millisecond timestamps) as the admin.
    pub async fn write(&self, db: &str, lines: &str) {
        write_lines(&self.client, &self.url(), db, lines).await;
    }

    /// A source configuration for `db` as the admin, with retries that do not sleep.
    pub fn config(&self, db: &str, clock: Arc<RecordingClock>) -> InfluxConfig {
        let mut c = admin_config(&self.url(), db);
        c.clock = clock;
        c
    }
}

/// Writes line protocol (millisecond timestamps) to the server at `url` as the admin.
pub async fn write_lines(client: &reqwest::Client, url: &str, db: &str, lines: &str) {
    let mut url = Url::parse(&format!("{url}/write")).expect("url");
    url.query_pairs_mut()
        .append_pair("db", db)
        .append_pair("precision", "ms");
    let r = client
        .post(url)
        .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
        .body(lines.to_owned())
        .send()
        .await
        .expect("write");
    let status = r.status();
    assert!(
        status.is_success(),
        "write: HTTP {status}: {}",
        r.text().await.unwrap_or_default()
    );
}

/// A source configuration for `db` on the server at `url` as the admin
/// (retries wait on the system clock).
pub fn admin_config(url: &str, db: &str) -> InfluxConfig {
    let mut c = InfluxConfig::new(url, db).with_auth(Auth::basic(ADMIN, ADMIN_PASSWORD));
    c.retries = RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(2),
    };
    c.connect_timeout = Duration::from_secs(5);
    c.timeout = Duration::from_secs(30);
    c
}

impl Drop for InfluxServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A clock whose waits return at once and are recorded, so retry tests
/// check the backoff without sleeping.
#[derive(Default)]
pub struct RecordingClock {
    slept: Mutex<Vec<Duration>>,
}

impl RecordingClock {
    pub fn slept(&self) -> Vec<Duration> {
        self.slept.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Clock for RecordingClock {
    fn now(&self) -> Timestamp {
        let total: Duration = self.slept().iter().sum();
        Timestamp::from_secs(1_700_000_000) + total
    }

    fn sleep_until(&self, deadline: Timestamp) -> BoxFuture<'static, ()> {
        let d = deadline.since(self.now());
        if let Ok(mut v) = self.slept.lock() {
            v.push(d);
        }
        Box::pin(std::future::ready(()))
    }
}

/// `e | cause | cause…`: an error and every cause, for assertions on the text.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(" | ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}

/// A TCP relay in front of a server that counts the bytes each way
/// (requests and answers, their HTTP headers included).
pub struct Relay {
    addr: std::net::SocketAddr,
    sent: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// A relay to the server at `url` (`http://127.0.0.1:PORT`).
    pub async fn start(url: &str) -> Relay {
        let upstream: std::net::SocketAddr = url.trim_start_matches("http://").parse().expect("host:port");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (sent, received) = (Arc::<AtomicU64>::default(), Arc::<AtomicU64>::default());
        let task = tokio::spawn({
            let (sent, received) = (sent.clone(), received.clone());
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        continue;
                    };
                    let ((client_r, client_w), (server_r, server_w)) = (client.into_split(), server.into_split());
                    tokio::spawn(pipe(client_r, server_w, sent.clone()));
                    tokio::spawn(pipe(server_r, client_w, received.clone()));
                }
            }
        });
        Relay {
            addr,
            sent,
            received,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Bytes so far from the clients to the server, and back.
    pub fn bytes(&self) -> (u64, u64) {
        (self.sent.load(Ordering::Relaxed), self.received.load(Ordering::Relaxed))
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to`, counting the bytes.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    count: Arc<AtomicU64>,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => {
                count.fetch_add(n as u64, Ordering::Relaxed);
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
