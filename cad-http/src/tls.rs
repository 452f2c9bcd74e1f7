//! The client: rustls, a private CA, a client certificate, timeouts.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// TLS settings for `https://` URLs (rustls), as Telegraf's and Prometheus'
/// `tls_ca` / `tls_cert` / `tls_key`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM file with the certificate authorities to trust. When set, only
    /// these are trusted (a private CA), not the system's roots.
    pub ca_file: Option<PathBuf>,
    /// PEM file with the client certificate (chain) to present.
    pub cert_file: Option<PathBuf>,
    /// PEM file with the client certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
}

impl TlsConfig {
    /// Trust only the CAs in `ca_file`.
    pub fn with_ca_file(mut self, ca_file: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(ca_file.into());
        self
    }

    /// Present the client certificate in `cert_file` with the key in `key_file`.
    pub fn with_client_certificate(mut self, cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        self.cert_file = Some(cert_file.into());
        self.key_file = Some(key_file.into());
        self
    }

    /// Whether nothing is set (the system's roots, no client certificate).
    pub fn is_default(&self) -> bool {
        self == &TlsConfig::default()
    }
}

/// Why the HTTP client cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A file named in the TLS settings cannot be read.
    #[error("cannot read the {what} {path:?}")]
    ReadFile {
        /// What the file is for ("CA file", "client key file", …).
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A certificate or key file does not hold what it should.
    #[error("the {what} {path:?} is not usable")]
    Pem {
        /// What the file is for.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The CA file holds no certificate.
    #[error("the CA file {0:?} holds no certificate")]
    NoCertificate(PathBuf),
    /// Only one of the client certificate and its key is set.
    #[error("a client certificate needs both the certificate file and the key file")]
    IncompleteClientCertificate,
    /// reqwest refused the settings.
    #[error("cannot build the HTTP client")]
    Build(#[source] reqwest::Error),
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::ReadFile {
        what,
        path: path.to_owned(),
        source,
    })
}

/// A client with these TLS settings and timeouts. Reads the PEM files now,
/// so a missing or unusable one is an error at start, not at the first
/// request.
pub fn client(tls: &TlsConfig, connect_timeout: Duration, timeout: Duration) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(timeout);
    if let Some(path) = &tls.ca_file {
        let pem = read("CA file", path)?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| ClientError::Pem {
            what: "CA file",
            path: path.clone(),
            source,
        })?;
        if certs.is_empty() {
            return Err(ClientError::NoCertificate(path.clone()));
        }
        builder = builder.tls_certs_only(certs);
    }
    match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let mut pem = read("client certificate file", cert)?;
            pem.push(b'\n');
            pem.extend(read("client key file", key)?);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|source| ClientError::Pem {
                what: "client certificate and key",
                path: cert.clone(),
                source,
            })?;
            builder = builder.identity(identity);
        }
        (None, None) => {}
        _ => return Err(ClientError::IncompleteClientCertificate),
    }
    builder.build().map_err(ClientError::Build)
}

/// Whether `e` is a failed TLS handshake (an unknown issuer, a name
/// mismatch, the server refusing our client certificate): trying again will
/// not help. The rustls error sits inside `io::Error`s (nested, on connect),
/// whose `source()` skips it, so they are unwrapped by hand.
pub fn is_tls_failure(e: &reqwest::Error) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn files_are_read_at_once_and_named_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TlsConfig::default().with_ca_file(dir.path().join("ca.pem"));
        let e = client(&missing, S, S).unwrap_err();
        assert!(matches!(e, ClientError::ReadFile { what: "CA file", .. }), "{e}");
        assert!(e.to_string().contains("ca.pem"), "{e}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let e = client(&TlsConfig::default().with_ca_file(&empty), S, S).unwrap_err();
        assert!(matches!(e, ClientError::NoCertificate(_)), "{e}");

        let half = TlsConfig {
            cert_file: Some(empty.clone()),
            ..TlsConfig::default()
        };
        assert!(matches!(
            client(&half, S, S).unwrap_err(),
            ClientError::IncompleteClientCertificate
        ));

        let e = client(&TlsConfig::default().with_client_certificate(&empty, &empty), S, S).unwrap_err();
        assert!(matches!(e, ClientError::Pem { .. }), "{e}");
        assert!(client(&TlsConfig::default(), S, S).is_ok());
    }

    #[test]
    fn a_generated_ca_and_client_certificate_are_accepted() {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let dir = tempfile::tempdir().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["cad".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let path = |n: &str| dir.path().join(n);
        std::fs::write(path("ca.pem"), ca.pem()).unwrap();
        std::fs::write(path("c.pem"), cert.pem()).unwrap();
        std::fs::write(path("k.pem"), key.serialize_pem()).unwrap();
        let tls = TlsConfig::default()
            .with_ca_file(path("ca.pem"))
            .with_client_certificate(path("c.pem"), path("k.pem"));
        assert!(!tls.is_default());
        client(&tls, S, S).expect("usable settings");
    }
}
