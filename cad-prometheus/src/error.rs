//! [`PrometheusError`]: what went wrong talking to the API, and how it maps
//! onto [`SourceError`] for the engines.

use cad_core::SourceError;
use std::path::PathBuf;

/// A failure of one request to the Prometheus API.
///
/// [`into_source_error`](PrometheusError::into_source_error) turns it into
/// the [`SourceError`] the engines act on: transient failures become
/// [`SourceError::Unavailable`] with this error as the `source`; refusals
/// [`SourceError::Denied`]; rejected queries and unusable answers
/// [`SourceError::Protocol`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrometheusError {
    /// No answer: connection refused or reset, DNS, TLS handshake, timeout.
    #[error("request failed")]
    Transport(#[source] reqwest::Error),
    /// The TLS handshake failed: the server's certificate is not trusted
    /// (CA file), or the server refused the client certificate.
    #[error("the TLS handshake failed")]
    Tls(#[source] reqwest::Error),
    /// The server answered with a status that may pass (5xx, 429, 408).
    #[error("HTTP {status}{}: {message}", error_type.as_deref().map(|t| format!(" ({t})")).unwrap_or_default())]
    Unavailable {
        /// The status code.
        status: u16,
        /// The API's `errorType`, if the body had one.
        error_type: Option<String>,
        /// The API's `error` text, or the start of the body.
        message: String,
    },
    /// 401 or 403.
    #[error("HTTP {status}: {message}")]
    Denied {
        /// The status code.
        status: u16,
        /// What the server said.
        message: String,
    },
    /// The server refused the query (400 `bad_data`, 422 `execution`, …).
    #[error("the query was rejected (HTTP {status}{}): {message}", error_type.as_deref().map(|t| format!(", {t}")).unwrap_or_default())]
    Rejected {
        /// The status code.
        status: u16,
        /// The API's `errorType`.
        error_type: Option<String>,
        /// The API's `error` text.
        message: String,
    },
    /// The answer is not the JSON of the API.
    #[error("the answer is not the API's JSON")]
    Json(#[source] serde_json::Error),
    /// The answer is JSON but not what was asked for.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    /// The answer is larger than the configured limit.
    #[error("the answer is larger than {limit} bytes (max_response_bytes); lower max_pods_per_request or the window")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The bearer token file cannot be read.
    #[error("cannot read the bearer token file {path:?}")]
    TokenFile {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Every attempt failed transiently.
    #[error("gave up after {attempts} attempt(s)")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The failure of the last attempt.
        #[source]
        last: Box<PrometheusError>,
    },
}

impl PrometheusError {
    /// Whether trying again may help.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            PrometheusError::Transport(_)
                | PrometheusError::Unavailable { .. }
                | PrometheusError::TokenFile { .. }
                | PrometheusError::GaveUp { .. }
        )
    }

    /// The [`SourceError`] for this failure at `backend`.
    pub fn into_source_error(self, backend: &str) -> SourceError {
        let backend = backend.to_owned();
        match self {
            PrometheusError::Denied { status, message } => SourceError::Denied {
                backend,
                message: format!(
                    "HTTP {status}: {message} (check the configured bearer token, or user name and password, and what they may read)"
                ),
                source: None,
            },
            PrometheusError::Tls(e) => SourceError::Denied {
                backend,
                message: "the TLS handshake failed (check the CA file, the server's name in the URL and the client certificate)"
                    .to_owned(),
                source: Some(Box::new(e)),
            },
            e @ PrometheusError::Rejected { .. } => {
                let hint = match &e {
                    PrometheusError::Rejected { status: 422, .. } => {
                        " (a query over too many series or samples: lower max_pods_per_request or the window)"
                    }
                    PrometheusError::Rejected { status: 404, .. } => {
                        " (is the URL the API's base, to which /api/v1/query is appended?)"
                    }
                    PrometheusError::Rejected { status: 413 | 414, .. } => " (lower max_request_bytes)",
                    _ => {
                        " (the server or a proxy in front of it found the request malformed: a name in the catalogue, or a credential it does not know)"
                    }
                };
                SourceError::Protocol {
                    backend,
                    message: format!("{e}{hint}"),
                    source: None,
                }
            }
            e if e.is_transient() => SourceError::Unavailable {
                backend,
                source: Box::new(e),
            },
            e => SourceError::Protocol {
                backend,
                message: String::new(),
                source: Some(Box::new(e)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn mapping_keeps_causes_and_says_what_to_do() {
        let gave_up = PrometheusError::GaveUp {
            attempts: 3,
            last: Box::new(PrometheusError::Unavailable {
                status: 503,
                error_type: Some("unavailable".into()),
                message: "busy".into(),
            }),
        };
        let e = gave_up.into_source_error("Prometheus API at http://x");
        assert!(e.is_transient());
        let cause = e.source().expect("a cause");
        assert_eq!(cause.to_string(), "gave up after 3 attempt(s)");
        assert_eq!(
            cause.source().map(|c| c.to_string()).as_deref(),
            Some("HTTP 503 (unavailable): busy")
        );

        let e = PrometheusError::Denied {
            status: 401,
            message: "Unauthorized".into(),
        }
        .into_source_error("B");
        assert!(matches!(&e, SourceError::Denied { message, .. } if message.contains("bearer token")));

        let e = PrometheusError::Rejected {
            status: 422,
            error_type: Some("execution".into()),
            message: "query processing would load too many samples into memory in query execution".into(),
        }
        .into_source_error("B");
        let text = e.to_string();
        assert!(
            text.contains("HTTP 422, execution") && text.contains("lower max_pods_per_request"),
            "{text}"
        );
    }
}
