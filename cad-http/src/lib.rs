//! # cad-http
//!
//! The HTTP pieces that cad's metric-store adapters (`cad-influx`,
//! `cad-prometheus`) share, so that each is written once:
//!
//! * [`TlsConfig`] and [`client`] — a `reqwest` client on rustls that trusts
//!   a private CA (only it, not the system's roots) and presents a client
//!   certificate, as Telegraf's and Prometheus' `tls_ca` / `tls_cert` /
//!   `tls_key`; [`is_tls_failure`] tells a failed handshake (not worth a
//!   retry) from a network error.
//! * [`base_url`] and [`join`] — a base URL checked once (http or https, no
//!   credentials in it) and paths appended to it.
//! * [`Credential`] — an `Authorization` header marked sensitive, and the
//!   texts to [scrub](Credential::scrub) from anything a server echoes.
//! * [`read_body`] — an answer read up to a limit, never further.
//! * [`with_retries`] — attempts with exponential backoff on a
//!   [`RetryPolicy`](cad_core::RetryPolicy), honouring `Retry-After`, waiting
//!   on a [`Clock`](cad_core::Clock) so that tests do not sleep.
//! * [`read_secret_file`] — a token or password file, bounded and trimmed.
//! * [`error_chain`] — an error and its causes as one line of text.
//!
//! The adapters keep what differs: their URLs, error types and the mapping
//! of HTTP statuses onto [`SourceError`](cad_core::SourceError).
#![warn(missing_docs)]

mod body;
mod credential;
mod retry;
mod tls;
mod url;

pub use body::{BodyError, read_body};
pub use credential::{Credential, InvalidCredential, MAX_SECRET_FILE_BYTES, read_secret_file};
pub use retry::{Attempt, Failure, retry_after, with_retries};
pub use tls::{ClientError, TlsConfig, client, is_tls_failure};
pub use url::{UrlError, base_url, join};

/// `e: cause: cause…`: an error and its causes on one line, for a message
/// that cannot keep them as a `source` (`SourceError::Denied` holds text).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}
