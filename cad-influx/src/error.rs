//! [`InfluxError`]: what went wrong talking to InfluxDB, and how it maps onto
//! [`SourceError`] for the engines.

use cad_core::SourceError;

/// A failure of one request to InfluxDB, or of reading its answer.
///
/// The reader's [`MetricSource`](cad_core::MetricSource) methods, `ping` and
/// `check_credentials` give [`SourceError`]s built by
/// [`into_source_error`](InfluxError::into_source_error): transient failures
/// become [`SourceError::Unavailable`] with this error as the `source`,
/// refusals [`SourceError::Denied`], rejected queries and unusable answers
/// [`SourceError::Protocol`]. The verdict writer returns it as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InfluxError {
    /// The request could not be built (an invalid header value, say).
    #[error("cannot build the request")]
    Build(#[source] reqwest::Error),
    /// No answer: connection refused or reset, DNS, timeout, a body cut short.
    #[error("request failed")]
    Transport(#[source] cad_core::BoxError),
    /// The TLS handshake failed: the server's certificate is not trusted
    /// (CA file), or the server refused the client certificate.
    #[error("the TLS handshake failed")]
    Tls(#[source] reqwest::Error),
    /// The server answered with a status that may pass (5xx, 429, 408).
    #[error("HTTP {status}: {message}")]
    Unavailable {
        /// The status code.
        status: u16,
        /// The server's `error` text, or the start of the body.
        message: String,
    },
    /// 401 or 403: the credentials are wrong or lack a privilege.
    #[error("HTTP {status}: {message}")]
    Denied {
        /// The status code.
        status: u16,
        /// What the server said.
        message: String,
    },
    /// Any other status: the server refused the request.
    #[error("HTTP {status}: {message}")]
    Rejected {
        /// The status code.
        status: u16,
        /// What the server said.
        message: String,
    },
    /// The answer is not InfluxDB's JSON.
    #[error("the answer is not InfluxDB's JSON")]
    Json(#[source] serde_json::Error),
    /// The query or one of its statements failed (a missing database, a
    /// syntax error, a truncated result); the text says which and why.
    #[error("{0}")]
    Query(String),
    /// The answer is JSON but not what was asked for.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    /// The answer is larger than the configured limit.
    #[error("the answer is larger than {limit} bytes (max_response_bytes); lower the pods per request or the window")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Every attempt failed transiently.
    #[error("gave up after {attempts} attempt(s)")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The failure of the last attempt.
        #[source]
        last: Box<InfluxError>,
    },
}

impl InfluxError {
    /// Whether trying again may help.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            InfluxError::Transport(_) | InfluxError::Unavailable { .. } | InfluxError::GaveUp { .. }
        )
    }

    /// Whether the server refused the credentials or the TLS handshake failed.
    pub fn is_denied(&self) -> bool {
        matches!(self, InfluxError::Denied { .. } | InfluxError::Tls(_))
    }

    /// The [`SourceError`] for this failure at `backend` (`"InfluxDB at …"`).
    pub fn into_source_error(self, backend: &str) -> SourceError {
        let backend = backend.to_owned();
        match self {
            InfluxError::Denied { status, message } => SourceError::Denied {
                backend,
                message: format!(
                    "HTTP {status}: {message} (check the configured user name and password or token, and the user's privileges on the database)"
                ),
                source: None,
            },
            e @ InfluxError::Tls(_) => SourceError::Denied {
                backend,
                message: "the TLS handshake failed (check the CA file, the server's name in the URL and the client certificate)"
                    .to_owned(),
                source: Some(Box::new(e)),
            },
            InfluxError::Build(e) => SourceError::Invalid(format!("cannot build the request: {e}")),
            e @ (InfluxError::Query(_) | InfluxError::Rejected { .. } | InfluxError::TooLarge { .. }) => {
                SourceError::Protocol {
                    backend,
                    message: e.to_string(),
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
    fn mapping_keeps_causes_once_and_says_what_to_check() {
        let gave_up = InfluxError::GaveUp {
            attempts: 4,
            last: Box::new(InfluxError::Unavailable {
                status: 503,
                message: "busy".into(),
            }),
        };
        assert!(gave_up.is_transient());
        let e = gave_up.into_source_error("InfluxDB at http://x");
        assert!(matches!(e, SourceError::Unavailable { .. }), "{e:?}");
        let cause = e.source().expect("a cause");
        assert_eq!(cause.to_string(), "gave up after 4 attempt(s)");
        assert_eq!(cause.source().map(|c| c.to_string()).as_deref(), Some("HTTP 503: busy"));
        assert!(!e.to_string().contains("attempt"), "the cause is not repeated: {e}");

        let e = InfluxError::Denied {
            status: 401,
            message: "authorization failed".into(),
        };
        assert!(e.is_denied() && !e.is_transient());
        let e = e.into_source_error("B");
        assert!(
            matches!(&e, SourceError::Denied { message, .. } if message.contains("password")),
            "{e}"
        );

        let e = InfluxError::Query("statement on Container failed: database not found: \"x\"".into())
            .into_source_error("B");
        assert!(matches!(&e, SourceError::Protocol { .. }), "{e:?}");
        assert!(e.to_string().contains("database not found"), "{e}");

        let json = serde_json::from_slice::<serde_json::Value>(b"{").unwrap_err();
        let e = InfluxError::Json(json).into_source_error("B");
        assert!(matches!(&e, SourceError::Protocol { source: Some(_), .. }), "{e:?}");
    }
}
