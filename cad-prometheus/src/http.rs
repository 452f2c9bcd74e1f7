//! The HTTP layer: authentication (a bearer token file re-read now and
//! then), `GET` or form `POST`, a cap on requests in flight, and the mapping
//! of answers onto [`PrometheusError`]. The client (rustls, a private CA, a
//! client certificate), the bounded read of answers, secret scrubbing and
//! the retries are `cad-http`'s, shared with `cad-influx`.

use crate::config::{Auth, ConfigError, PrometheusConfig};
use crate::error::PrometheusError;
use crate::response::error_of;
use cad_core::{Clock, RetryPolicy};
use cad_http::{Attempt, BodyError, Credential, Failure};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How long a bearer token read from a file is used before the file is read again.
pub const TOKEN_REREAD: Duration = Duration::from_secs(60);

enum Credentials {
    None,
    Fixed(Arc<Credential>),
    File {
        path: PathBuf,
        cached: Mutex<Option<(Instant, Arc<Credential>)>>,
    },
}

/// The bearer credential of a token file (read, bounded, trimmed).
fn token_file_credential(path: &std::path::Path) -> std::io::Result<Credential> {
    let token = cad_http::read_secret_file(path)?;
    Credential::bearer(&token).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
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
        let c = Arc::new(
            token_file_credential(path).map_err(|source| PrometheusError::TokenFile {
                path: path.clone(),
                source,
            })?,
        );
        *guard = Some((Instant::now(), c.clone()));
        Ok(Some(c))
    }
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

impl Http {
    pub fn new(config: &PrometheusConfig) -> Result<Self, ConfigError> {
        let base = cad_http::base_url(&config.url).map_err(|e| match e {
            cad_http::UrlError::Credentials => ConfigError::CredentialsInUrl,
            e => ConfigError::Url {
                url: config.url.clone(),
                reason: e.to_string(),
            },
        })?;
        if base.query().is_some() || base.fragment().is_some() {
            return Err(ConfigError::Url {
                url: config.url.clone(),
                reason: "the base URL must not have a query or fragment".into(),
            });
        }
        let invalid = |e: cad_http::InvalidCredential| ConfigError::Invalid(e.to_string());
        let credentials = match &config.auth {
            Auth::None => Credentials::None,
            Auth::Basic { username, password } => {
                Credentials::Fixed(Arc::new(Credential::basic(username, password).map_err(invalid)?))
            }
            Auth::Bearer(token) => Credentials::Fixed(Arc::new(Credential::bearer(token).map_err(invalid)?)),
            Auth::BearerFile(path) => {
                let c = token_file_credential(path).map_err(|source| ConfigError::ReadFile {
                    what: "bearer token file",
                    path: path.clone(),
                    source,
                })?;
                Credentials::File {
                    path: path.clone(),
                    cached: Mutex::new(Some((Instant::now(), Arc::new(c)))),
                }
            }
        };
        let client =
            cad_http::client(&config.tls, config.connect_timeout, config.timeout).map_err(ConfigError::Client)?;
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
        cad_http::join(&self.base, path)
    }

    async fn attempt(&self, url: &Url, form: &str) -> Attempt<Vec<u8>, PrometheusError> {
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
            req = req.header(AUTHORIZATION, c.header().clone());
        }
        let _permit = self.permits.acquire().await;
        self.requests.fetch_add(1, Ordering::Relaxed);
        // URLs carry the whole query; keep them out of error messages.
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_builder() => return Attempt::Fatal(PrometheusError::Transport(e.without_url())),
            Err(e) if cad_http::is_tls_failure(&e) => return Attempt::Fatal(PrometheusError::Tls(e.without_url())),
            Err(e) => return Attempt::Transient(PrometheusError::Transport(e.without_url()), None),
        };
        let status = resp.status();
        let retry_after = cad_http::retry_after(resp.headers());
        let body = match cad_http::read_body(resp, self.max_response_bytes).await {
            Ok(b) => b,
            Err(BodyError::TooLarge { limit }) => return Attempt::Fatal(PrometheusError::TooLarge { limit }),
            Err(BodyError::Transport(e)) => return Attempt::Transient(PrometheusError::Transport(e), None),
            Err(e) => return Attempt::Transient(PrometheusError::Unexpected(e.to_string()), None),
        };
        if status.is_success() {
            return Attempt::Done(body);
        }
        let (error_type, message) = error_of(&body);
        let message = match &credential {
            Some(c) => c.scrub(message.trim()),
            None => message.trim().to_owned(),
        };
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
        cad_http::with_retries(&self.retries, self.clock.as_ref(), &self.backend, || {
            self.attempt(url, form)
        })
        .await
        .map_err(|f| match f {
            Failure::Fatal(e) => e,
            Failure::GaveUp { attempts, last } => PrometheusError::GaveUp {
                attempts,
                last: Box::new(last),
            },
        })
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
    fn a_bad_token_file_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let c = PrometheusConfig::new("http://x").with_auth(Auth::bearer_file(dir.path().join("missing")));
        let e = Http::new(&c).err().unwrap();
        assert!(e.to_string().contains("bearer token file"), "{e}");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let c = PrometheusConfig::new("http://x").with_auth(Auth::bearer_file(&empty));
        assert!(Http::new(&c).is_err());
    }
}
