//! The HTTP layer: one `reqwest` client (rustls, optional private CA and
//! client certificate), authentication, `GET` or form `POST`, a bounded read
//! of the answer, a cap on requests in flight, and bounded retries with
//! exponential backoff.

use crate::config::{Auth, ConfigError, PrometheusConfig};
use crate::error::PrometheusError;
use crate::response::error_of;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cad_core::{Clock, RetryPolicy, Secret};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How long a bearer token read from a file is used before the file is read again.
pub const TOKEN_REREAD: Duration = Duration::from_secs(60);

/// Largest bearer token file read.
const MAX_TOKEN_BYTES: u64 = 64 * 1024;

/// A credential as it is sent.
struct Credential {
    header: HeaderValue,
    /// Texts to scrub from anything the server echoes: the secret and the
    /// header's encoded credentials.
    scrub: Vec<String>,
}

impl Credential {
    fn new(scheme: &str, credentials: &str, secret: &str) -> Result<Self, String> {
        let mut header = HeaderValue::from_str(&format!("{scheme} {credentials}"))
            .map_err(|_| "the credentials contain characters not allowed in an HTTP header".to_owned())?;
        header.set_sensitive(true);
        let scrub = [secret, credentials]
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(Credential { header, scrub })
    }

    fn basic(username: &str, password: &Secret) -> Result<Self, String> {
        let encoded = BASE64.encode(format!("{username}:{}", password.expose()));
        Credential::new("Basic", &encoded, password.expose())
    }

    fn bearer(token: &str) -> Result<Self, String> {
        if token.is_empty() {
            return Err("the bearer token is empty".into());
        }
        Credential::new("Bearer", token, token)
    }
}

/// Reads a bearer token file (bounded, trimmed).
fn read_token(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_TOKEN_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_TOKEN_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("longer than {MAX_TOKEN_BYTES} bytes"),
        ));
    }
    Ok(text.trim().to_owned())
}

enum Credentials {
    None,
    Fixed(Arc<Credential>),
    File {
        path: PathBuf,
        cached: Mutex<Option<(Instant, Arc<Credential>)>>,
    },
}

impl Credentials {
    fn current(&self) -> Result<Option<Arc<Credential>>, PrometheusError> {
        let (path, cached) = match self {
            Credentials::None => return Ok(None),
            Credentials::Fixed(c) => return Ok(Some(c.clone())),
            Credentials::File { path, cached } => (path, cached),
        };
        let mut guard = cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, c)) = guard.as_ref()
            && at.elapsed() < TOKEN_REREAD
        {
            return Ok(Some(c.clone()));
        }
        let token_error = |source| PrometheusError::TokenFile {
            path: path.clone(),
            source,
        };
        let token = read_token(path).map_err(token_error)?;
        let c = Arc::new(
            Credential::bearer(&token)
                .map_err(|m| token_error(std::io::Error::new(std::io::ErrorKind::InvalidData, m)))?,
        );
        *guard = Some((Instant::now(), c.clone()));
        Ok(Some(c))
    }
}

/// Whether `e` is a failed TLS handshake (an unknown issuer, a name
/// mismatch, the server refusing our client certificate): trying again will
/// not help. The rustls error sits inside `io::Error`s (nested, on connect),
/// whose `source()` skips it, so they are unwrapped by hand.
fn is_tls_failure(e: &reqwest::Error) -> bool {
    fn holds_rustls(err: &(dyn std::error::Error + 'static)) -> bool {
        if err.is::<rustls::Error>() {
            return true;
        }
        match err.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
            Some(inner) => holds_rustls(inner),
            None => false,
        }
    }
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if holds_rustls(err) {
            return true;
        }
        next = err.source();
    }
    false
}

/// Outcome of one attempt.
enum Attempt {
    Done(Vec<u8>),
    Transient(PrometheusError, Option<Duration>),
    Fatal(PrometheusError),
}

/// Client, base URL, credentials, retry policy and the cap on requests in flight.
pub(crate) struct Http {
    client: reqwest::Client,
    base: Url,
    credentials: Credentials,
    retries: RetryPolicy,
    clock: Arc<dyn Clock>,
    permits: Semaphore,
    max_get_bytes: usize,
    max_response_bytes: usize,
    requests: AtomicU64,
    backend: String,
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::ReadFile {
        what,
        path: path.to_owned(),
        source,
    })
}

impl Http {
    pub fn new(config: &PrometheusConfig) -> Result<Self, ConfigError> {
        let url_error = |reason: String| ConfigError::Url {
            url: config.url.clone(),
            reason,
        };
        let base = Url::parse(&config.url).map_err(|e| url_error(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(url_error("the scheme must be http or https".into()));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(ConfigError::CredentialsInUrl);
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(url_error("the base URL must not have a query or fragment".into()));
        }
        let credentials = match &config.auth {
            Auth::None => Credentials::None,
            Auth::Basic { username, password } => Credentials::Fixed(Arc::new(
                Credential::basic(username, password).map_err(ConfigError::Invalid)?,
            )),
            Auth::Bearer(token) => Credentials::Fixed(Arc::new(
                Credential::bearer(token.expose()).map_err(ConfigError::Invalid)?,
            )),
            Auth::BearerFile(path) => {
                let token = read_token(path).map_err(|source| ConfigError::ReadFile {
                    what: "bearer token file",
                    path: path.clone(),
                    source,
                })?;
                let c =
                    Credential::bearer(&token).map_err(|m| ConfigError::Invalid(format!("{}: {m}", path.display())))?;
                Credentials::File {
                    path: path.clone(),
                    cached: Mutex::new(Some((Instant::now(), Arc::new(c)))),
                }
            }
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout);
        if let Some(path) = &config.tls.ca_file {
            let pem = read_file("CA file", path)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| ConfigError::Pem {
                what: "CA file",
                path: path.clone(),
                source,
            })?;
            if certs.is_empty() {
                return Err(ConfigError::Invalid(format!("CA file {path:?} holds no certificate")));
            }
            builder = builder.tls_certs_only(certs);
        }
        if let (Some(cert), Some(key)) = (&config.tls.cert_file, &config.tls.key_file) {
            let mut pem = read_file("client certificate file", cert)?;
            pem.push(b'\n');
            pem.extend(read_file("client key file", key)?);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|source| ConfigError::Pem {
                what: "client certificate and key",
                path: cert.clone(),
                source,
            })?;
            builder = builder.identity(identity);
        }
        let client = builder.build().map_err(ConfigError::Client)?;
        let backend = format!("Prometheus API at {}", base.as_str().trim_end_matches('/'));
        Ok(Http {
            client,
            base,
            credentials,
            retries: config.retries,
            clock: config.clock.clone(),
            permits: Semaphore::new(config.chunking.concurrency.max(1)),
            max_get_bytes: config.chunking.max_get_bytes,
            max_response_bytes: config.max_response_bytes,
            requests: AtomicU64::new(0),
            backend,
        })
    }

    /// `"Prometheus API at http://…"`, for errors.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// HTTP requests sent so far (every attempt counts).
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let joined = format!("{}/{}", url.path().trim_end_matches('/'), path.trim_start_matches('/'));
        url.set_path(&joined);
        url
    }

    /// Removes the secret from text that came from the server, in case it echoes it.
    fn scrub(&self, text: &str, credential: Option<&Credential>) -> String {
        let mut out = text.to_owned();
        for s in credential.iter().flat_map(|c| &c.scrub) {
            out = out.replace(s.as_str(), "***");
        }
        out
    }

    /// Reads at most `max_response_bytes` of the body.
    async fn read_body(&self, mut resp: reqwest::Response) -> Result<Vec<u8>, PrometheusError> {
        let limit = self.max_response_bytes;
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(PrometheusError::TooLarge { limit });
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| PrometheusError::Transport(e.without_url()))?
        {
            if body.len() + chunk.len() > limit {
                return Err(PrometheusError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    async fn attempt(&self, url: &Url, form: &str) -> Attempt {
        let credential = match self.credentials.current() {
            Ok(c) => c,
            Err(e) => return Attempt::Transient(e, None),
        };
        // GET while the URL stays short, else POST with the same text as body.
        let get = url.as_str().len() + 1 + form.len() <= self.max_get_bytes;
        let mut req = if get {
            let mut u = url.clone();
            u.set_query(Some(form));
            self.client.request(Method::GET, u)
        } else {
            self.client
                .request(Method::POST, url.clone())
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form.to_owned())
        };
        if let Some(c) = &credential {
            req = req.header(AUTHORIZATION, c.header.clone());
        }
        let _permit = self.permits.acquire().await;
        self.requests.fetch_add(1, Ordering::Relaxed);
        // URLs carry the whole query; keep them out of error messages.
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_builder() => return Attempt::Fatal(PrometheusError::Transport(e.without_url())),
            Err(e) if is_tls_failure(&e) => return Attempt::Fatal(PrometheusError::Tls(e.without_url())),
            Err(e) => return Attempt::Transient(PrometheusError::Transport(e.without_url()), None),
        };
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = match self.read_body(resp).await {
            Ok(b) => b,
            Err(e @ PrometheusError::TooLarge { .. }) => return Attempt::Fatal(e),
            Err(e) => return Attempt::Transient(e, None),
        };
        if status.is_success() {
            return Attempt::Done(body);
        }
        let (error_type, message) = error_of(&body);
        let message = self.scrub(message.trim(), credential.as_deref());
        let code = status.as_u16();
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Attempt::Fatal(PrometheusError::Denied { status: code, message })
            }
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS || s == StatusCode::REQUEST_TIMEOUT => {
                Attempt::Transient(
                    PrometheusError::Unavailable {
                        status: code,
                        error_type,
                        message,
                    },
                    retry_after,
                )
            }
            _ => Attempt::Fatal(PrometheusError::Rejected {
                status: code,
                error_type,
                message,
            }),
        }
    }

    /// Sends `form` (already `application/x-www-form-urlencoded`) to `url`,
    /// retrying transient failures; returns the body of a 2xx answer.
    pub async fn send(&self, url: &Url, form: &str) -> Result<Vec<u8>, PrometheusError> {
        let max = self.retries.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            match self.attempt(url, form).await {
                Attempt::Done(b) => return Ok(b),
                Attempt::Fatal(e) => return Err(e),
                Attempt::Transient(e, _) if attempt >= max => {
                    return Err(PrometheusError::GaveUp {
                        attempts: attempt,
                        last: Box::new(e),
                    });
                }
                Attempt::Transient(e, retry_after) => {
                    // A server's Retry-After is honoured up to max_backoff.
                    let wait = self
                        .retries
                        .backoff(attempt)
                        .max(retry_after.unwrap_or_default().min(self.retries.max_backoff));
                    tracing::warn!(
                        backend = %self.backend, attempt, max_attempts = max, wait_ms = wait.as_millis() as u64,
                        error = %e, "Prometheus API request failed; retrying"
                    );
                    self.clock.sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_joins_path() {
        let h = Http::new(&PrometheusConfig::new("http://127.0.0.1:8481/select/0/prometheus/")).unwrap();
        assert_eq!(h.url("api/v1/query").path(), "/select/0/prometheus/api/v1/query");
        assert_eq!(
            h.backend(),
            "Prometheus API at http://127.0.0.1:8481/select/0/prometheus"
        );
    }

    #[test]
    fn bad_urls_and_credentials_in_urls_are_refused() {
        let new = |u: &str| Http::new(&PrometheusConfig::new(u)).err().map(|e| e.to_string());
        assert!(
            new("http://admin:pw@127.0.0.1:9090")
                .unwrap()
                .contains("must not carry credentials")
        );
        assert!(new("ftp://x").unwrap().contains("http or https"));
        assert!(new("http://x/?a=b").unwrap().contains("query"));
        assert!(new("not a url").is_some());
    }

    #[test]
    fn scrub_removes_password_and_encoded_header() {
        let c = Credential::basic("cad", &Secret::new("s3cr3t-pw")).unwrap();
        let h = Http::new(&PrometheusConfig::new("http://x")).unwrap();
        let encoded = BASE64.encode("cad:s3cr3t-pw");
        let text = format!("bad password s3cr3t-pw in header Basic {encoded}");
        let out = h.scrub(&text, Some(&c));
        assert!(!out.contains("s3cr3t-pw") && !out.contains(&encoded), "{out}");
        assert!(Credential::bearer("").is_err());
        assert!(Credential::bearer("a\nb").is_err());
    }

    #[test]
    fn token_file_is_bounded_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "  tok-123\n").unwrap();
        assert_eq!(read_token(&p).unwrap(), "tok-123");
        std::fs::write(&p, vec![b'a'; MAX_TOKEN_BYTES as usize + 1]).unwrap();
        assert!(read_token(&p).is_err());
        let c = PrometheusConfig::new("http://x").with_auth(Auth::bearer_file(dir.path().join("missing")));
        let e = Http::new(&c).err().unwrap();
        assert!(e.to_string().contains("bearer token file"), "{e}");
    }
}
