//! Building a `kube` client: in-cluster, from a kubeconfig, or for a plain URL (tests).

use crate::error::K8sError;
use kube::Client;

/// A client configured the usual way: the kubeconfig (`KUBECONFIG` or
/// `~/.kube/config`) if there is one, otherwise the in-cluster service
/// account (`KUBERNETES_SERVICE_HOST` and the mounted token).
pub async fn default_client() -> Result<Client, K8sError> {
    Client::try_default().await.map_err(|e| K8sError::Config {
        what: "neither a kubeconfig nor an in-cluster service account works".to_owned(),
        source: Box::new(e),
    })
}

/// A client talking to `url` without authentication, for example
/// `http://127.0.0.1:8001` (`kubectl proxy`) or a test server on a loopback port.
pub fn client_for_url(url: &str) -> Result<Client, K8sError> {
    let uri: http::Uri = url.parse().map_err(|e| K8sError::Config {
        what: format!("invalid API server URL {url:?}"),
        source: Box::new(e),
    })?;
    let config = kube::Config::new(uri);
    Client::try_from(config).map_err(|e| K8sError::Config {
        what: format!("cannot build a client for {url}"),
        source: Box::new(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bad_url_is_a_config_error() {
        let Err(err) = client_for_url("not a url") else {
            panic!("not a URL, yet a client was built")
        };
        assert!(matches!(err, K8sError::Config { .. }), "{err:?}");
        // The parser's reason is the source, not repeated in the message.
        let cause = std::error::Error::source(&err).expect("the cause is kept").to_string();
        assert!(
            !cause.is_empty() && !err.to_string().contains(&cause),
            "{err} / {cause}"
        );
    }

    #[tokio::test]
    async fn loopback_url_builds() {
        assert!(client_for_url("http://127.0.0.1:9").is_ok());
    }
}
