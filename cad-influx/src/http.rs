//! The HTTP layer shared by the reader and the verdict writer: traffic
//! counters, and the mapping of answers onto [`InfluxError`]. The client
//! (rustls, a private CA, a client certificate), credentials and their
//! scrubbing, bounded answers and the retries are `cad-http`'s, shared with
//! `cad-prometheus`.

use crate::config::{Auth, ConfigError, InfluxConfig, RetryPolicy};
use crate::error::InfluxError;
use cad_core::Clock;
use cad_http::{Attempt, BodyError, Credential, Failure};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a source (and the writers made from it) has sent so far; every
/// attempt counts, retries included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// HTTP requests sent.
    pub requests: u64,
    /// Bytes of their URLs and bodies (headers not counted).
    pub bytes_sent: u64,
    /// The largest request's URL and body, in bytes.
    pub largest_request_bytes: u64,
    /// The most requests that were in flight at once.
    pub peak_in_flight: u64,
}

/// A request body and its media type.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Body<'a> {
    pub content_type: &'static str,
    pub text: &'a str,
}

/// Counts a request in flight until dropped (also when its future is cancelled).
struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Client, base URL, credentials and retry policy.
pub(crate) struct Http {
    client: reqwest::Client,
    base: Url,
    credential: Option<Credential>,
    retries: RetryPolicy,
    clock: Arc<dyn Clock>,
    max_response_bytes: usize,
    requests: AtomicU64,
    bytes_sent: AtomicU64,
    largest_request: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    backend: String,
}

impl Http {
    pub fn new(config: &InfluxConfig) -> Result<Self, ConfigError> {
        let base = cad_http::base_url(&config.url).map_err(|e| match e {
            cad_http::UrlError::Credentials => ConfigError::CredentialsInUrl,
            e => ConfigError::Url(format!("{}: {e}", config.url)),
        })?;
        if config.retries.max_attempts == 0 {
            return Err(ConfigError::Invalid("retries.max_attempts must be at least 1".into()));
        }
        if config.max_response_bytes == 0 {
            return Err(ConfigError::Invalid("max_response_bytes must be at least 1".into()));
        }
        let credential = match &config.auth {
            Auth::None => None,
            Auth::Basic { username, password } => Some(Credential::basic(username, password)),
            Auth::Token(t) => Some(Credential::influx_token(t)),
        }
        .transpose()
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let client =
            cad_http::client(&config.tls, config.connect_timeout, config.timeout).map_err(ConfigError::Client)?;
        let mut shown = base.clone();
        shown.set_query(None);
        let backend = format!("InfluxDB at {}", shown.as_str().trim_end_matches('/'));
        Ok(Http {
            client,
            base,
            credential,
            retries: config.retries,
            clock: config.clock.clone(),
            max_response_bytes: config.max_response_bytes,
            requests: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            largest_request: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            peak_in_flight: AtomicU64::new(0),
            backend,
        })
    }

    /// `"InfluxDB at http://…"`, for errors.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// HTTP requests sent so far (every attempt counts).
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Requests, bytes and concurrency so far.
    pub fn traffic(&self) -> Traffic {
        Traffic {
            requests: self.requests.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            largest_request_bytes: self.largest_request.load(Ordering::Relaxed),
            peak_in_flight: self.peak_in_flight.load(Ordering::Relaxed),
        }
    }

    /// `base` + `path` with the given query parameters.
    pub fn url(&self, path: &str, params: &[(&str, &str)]) -> Url {
        let mut url = cad_http::join(&self.base, path);
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in params {
                q.append_pair(k, v);
            }
        }
        url
    }

    /// Removes the secret from text that came from the server, in case it
    /// echoes it: the password or token itself, and the Authorization header's
    /// credentials (base64 of `user:password` for basic auth).
    fn scrub(&self, text: &str) -> String {
        match &self.credential {
            Some(c) => c.scrub(text),
            None => text.to_owned(),
        }
    }

    /// The server's `{"error": "..."}` text, or the start of the body.
    fn server_message(&self, body: &[u8]) -> String {
        #[derive(serde::Deserialize)]
        struct ErrBody {
            error: Option<String>,
            message: Option<String>,
        }
        let text = match serde_json::from_slice::<ErrBody>(body) {
            Ok(ErrBody { error: Some(e), .. }) | Ok(ErrBody { message: Some(e), .. }) => e,
            _ => {
                let s = String::from_utf8_lossy(body);
                s.chars().take(300).collect()
            }
        };
        self.scrub(text.trim())
    }

    async fn attempt(&self, method: &Method, url: &Url, body: Option<Body<'_>>) -> Attempt<Vec<u8>, InfluxError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let size = (url.as_str().len() + body.map_or(0, |b| b.text.len())) as u64;
        self.bytes_sent.fetch_add(size, Ordering::Relaxed);
        self.largest_request.fetch_max(size, Ordering::Relaxed);
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        let _in_flight = InFlight(&self.in_flight);
        let mut req = self.client.request(method.clone(), url.clone());
        if let Some(c) = &self.credential {
            req = req.header(AUTHORIZATION, c.header().clone());
        }
        if let Some(b) = body {
            req = req.header(CONTENT_TYPE, b.content_type).body(b.text.to_owned());
        }
        // URLs and bodies carry names and query text; keep them out of error messages.
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_builder() => return Attempt::Fatal(InfluxError::Build(e.without_url())),
            Err(e) if cad_http::is_tls_failure(&e) => return Attempt::Fatal(InfluxError::Tls(e.without_url())),
            Err(e) => return Attempt::Transient(InfluxError::Transport(Box::new(e.without_url())), None),
        };
        let status = resp.status();
        let retry_after = cad_http::retry_after(resp.headers());
        let bytes = match cad_http::read_body(resp, self.max_response_bytes).await {
            Ok(b) => b,
            Err(BodyError::TooLarge { limit }) => return Attempt::Fatal(InfluxError::TooLarge { limit }),
            Err(e) => return Attempt::Transient(InfluxError::Transport(Box::new(e)), None),
        };
        if status.is_success() {
            return Attempt::Done(bytes);
        }
        let message = self.server_message(&bytes);
        let status_code = status.as_u16();
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Attempt::Fatal(InfluxError::Denied {
                status: status_code,
                message,
            }),
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS || s == StatusCode::REQUEST_TIMEOUT => {
                Attempt::Transient(
                    InfluxError::Unavailable {
                        status: status_code,
                        message,
                    },
                    retry_after,
                )
            }
            _ => Attempt::Fatal(InfluxError::Rejected {
                status: status_code,
                message,
            }),
        }
    }

    /// Sends a request, retrying transient failures; returns the body of a 2xx answer.
    pub async fn send(&self, method: Method, url: Url, body: Option<Body<'_>>) -> Result<Vec<u8>, InfluxError> {
        cad_http::with_retries(&self.retries, self.clock.as_ref(), &self.backend, || {
            self.attempt(&method, &url, body)
        })
        .await
        .map_err(|f| match f {
            Failure::Fatal(e) => e,
            Failure::GaveUp { attempts, last } => InfluxError::GaveUp {
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
    fn url_joins_path_and_encodes_params() {
        let c = InfluxConfig::new("http://127.0.0.1:8086/prefix/", "db");
        let h = Http::new(&c).unwrap();
        let u = h.url("query", &[("db", "db"), ("q", "SELECT 'a b'&x=1;")]);
        assert_eq!(u.path(), "/prefix/query");
        let pairs: Vec<(String, String)> = u.query_pairs().into_owned().collect();
        assert_eq!(pairs[1], ("q".into(), "SELECT 'a b'&x=1;".into()));
        assert_eq!(h.backend(), "InfluxDB at http://127.0.0.1:8086/prefix");
    }

    #[test]
    fn credentials_in_url_are_refused() {
        let c = InfluxConfig::new("http://admin:pw@127.0.0.1:8086", "db");
        assert!(matches!(Http::new(&c), Err(ConfigError::CredentialsInUrl)));
        assert!(matches!(
            Http::new(&InfluxConfig::new("ftp://x", "db")),
            Err(ConfigError::Url(_))
        ));
        let c = InfluxConfig::new("https://x", "db").with_tls(crate::TlsConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        });
        let e = Http::new(&c).err().expect("a missing CA file is refused at start");
        assert!(matches!(e, ConfigError::Client(_)), "{e}");
    }
}
