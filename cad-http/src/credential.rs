//! Credentials as they are sent, and as they are scrubbed from what comes back.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cad_core::Secret;
use reqwest::header::HeaderValue;
use std::path::Path;

/// A credential the HTTP header cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidCredential {
    /// A token is empty.
    #[error("the token is empty")]
    Empty,
    /// Control characters or the like.
    #[error("the credentials contain characters not allowed in an HTTP header")]
    NotAHeader,
}

/// An `Authorization` header value (marked sensitive, so `reqwest` and
/// `http` never print it) and the texts to scrub from anything a server
/// echoes back: the secret itself and the header's encoded credentials.
///
/// `Debug` shows neither.
#[derive(Clone)]
pub struct Credential {
    header: HeaderValue,
    scrub: Vec<String>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(***)")
    }
}

impl Credential {
    /// `scheme credentials`, where `secret` is the part to keep out of texts.
    fn new(scheme: &str, credentials: &str, secret: &str) -> Result<Self, InvalidCredential> {
        let mut header =
            HeaderValue::from_str(&format!("{scheme} {credentials}")).map_err(|_| InvalidCredential::NotAHeader)?;
        header.set_sensitive(true);
        let scrub = [secret, credentials]
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(Credential { header, scrub })
    }

    /// HTTP basic auth (`Basic base64(user:password)`).
    pub fn basic(username: &str, password: &Secret) -> Result<Self, InvalidCredential> {
        let encoded = BASE64.encode(format!("{username}:{}", password.expose()));
        Credential::new("Basic", &encoded, password.expose())
    }

    /// `Bearer <token>` (Prometheus, vmauth, Thanos and Mimir gateways).
    pub fn bearer(token: &Secret) -> Result<Self, InvalidCredential> {
        Credential::token_scheme("Bearer", token)
    }

    /// `Token <token>` (InfluxDB 2's v1-compatible API).
    pub fn influx_token(token: &Secret) -> Result<Self, InvalidCredential> {
        Credential::token_scheme("Token", token)
    }

    fn token_scheme(scheme: &str, token: &Secret) -> Result<Self, InvalidCredential> {
        if token.is_empty() {
            return Err(InvalidCredential::Empty);
        }
        Credential::new(scheme, token.expose(), token.expose())
    }

    /// The header value to send.
    pub fn header(&self) -> &HeaderValue {
        &self.header
    }

    /// `text` with the secret and the encoded credentials replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.scrub {
            out = out.replace(s.as_str(), "***");
        }
        out
    }
}

/// The largest secret file [`read_secret_file`] reads (a password or token is far shorter).
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Reads a token or password file (a mounted Secret, a projected
/// service-account token): at most [`MAX_SECRET_FILE_BYTES`], UTF-8,
/// leading and trailing whitespace trimmed.
pub fn read_secret_file(path: &Path) -> std::io::Result<Secret> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("longer than {MAX_SECRET_FILE_BYTES} bytes"),
        ));
    }
    let text =
        String::from_utf8(bytes).map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"))?;
    Ok(Secret::new(text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_password_and_encoded_header() {
        let c = Credential::basic("cad", &Secret::new("s3cr3t-pw")).unwrap();
        let encoded = BASE64.encode("cad:s3cr3t-pw");
        let text = format!("bad password s3cr3t-pw in header Basic {encoded}");
        let out = c.scrub(&text);
        assert!(!out.contains("s3cr3t-pw") && !out.contains(&encoded), "{out}");
        assert!(c.header().is_sensitive());
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let t = Credential::influx_token(&Secret::new("tok-1")).unwrap();
        assert_eq!(t.header().to_str().unwrap(), "Token tok-1");
        assert_eq!(t.scrub("echo tok-1"), "echo ***");
    }

    #[test]
    fn unusable_tokens_are_refused() {
        assert_eq!(
            Credential::bearer(&Secret::new("")).unwrap_err(),
            InvalidCredential::Empty
        );
        assert_eq!(
            Credential::bearer(&Secret::new("a\nb")).unwrap_err(),
            InvalidCredential::NotAHeader
        );
        // An empty password is allowed (a user without one).
        assert!(Credential::basic("u", &Secret::new("")).is_ok());
    }

    #[test]
    fn secret_files_are_bounded_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "  tok-123\n").unwrap();
        assert_eq!(read_secret_file(&p).unwrap().expose(), "tok-123");
        std::fs::write(&p, vec![b'a'; MAX_SECRET_FILE_BYTES as usize + 1]).unwrap();
        assert!(read_secret_file(&p).is_err());
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert!(read_secret_file(&p).is_err());
        assert!(read_secret_file(&dir.path().join("missing")).is_err());
    }
}
