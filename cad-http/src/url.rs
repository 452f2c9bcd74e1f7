//! Base URLs: checked once, paths appended.

use reqwest::Url;

/// Why a base URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// It does not parse.
    #[error("not a URL: {0}")]
    Parse(String),
    /// Its scheme is not `http` or `https`.
    #[error("the scheme must be http or https")]
    Scheme,
    /// It carries a user name or password, which would end up in logs.
    #[error("the URL must not carry credentials; set them in the auth settings")]
    Credentials,
}

/// `url` parsed and checked: `http` or `https`, no credentials in it.
pub fn base_url(url: &str) -> Result<Url, UrlError> {
    let base = Url::parse(url).map_err(|e| UrlError::Parse(e.to_string()))?;
    if !matches!(base.scheme(), "http" | "https") {
        return Err(UrlError::Scheme);
    }
    if !base.username().is_empty() || base.password().is_some() {
        return Err(UrlError::Credentials);
    }
    Ok(base)
}

/// `base` with `path` appended to its path (a base's own path, such as a
/// proxy's prefix, is kept), without its query.
pub fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}/{}", url.path().trim_end_matches('/'), path.trim_start_matches('/'));
    url.set_path(&joined);
    url.set_query(None);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(base_url("http://admin:pw@x:1"), Err(UrlError::Credentials));
        assert_eq!(base_url("http://admin@x:1"), Err(UrlError::Credentials));
        assert_eq!(base_url("ftp://x"), Err(UrlError::Scheme));
        assert!(matches!(base_url("not a url"), Err(UrlError::Parse(_))));
        assert!(base_url("https://x:8086/prefix/").is_ok());
    }

    #[test]
    fn paths_are_appended_to_the_base_path() {
        let b = base_url("http://127.0.0.1:8481/select/0/prometheus/").unwrap();
        assert_eq!(join(&b, "api/v1/query").path(), "/select/0/prometheus/api/v1/query");
        let b = base_url("http://x").unwrap();
        assert_eq!(join(&b, "/ping").as_str(), "http://x/ping");
    }
}
