//! Errors of the Kubernetes adapter and how they map onto [`cad_core::SourceError`].

use cad_core::{BoxError, SourceError};
use kube::core::Status;

/// The backend name used in [`SourceError`]s from this crate.
pub const BACKEND: &str = "Kubernetes API";

/// Why a call to the Kubernetes API failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum K8sError {
    /// RBAC refused the call (HTTP 403). The Role or ClusterRole bound to the
    /// service account must grant `verb` on `resource`.
    #[error(
        "forbidden: cad may not {verb} {resource}; the Role/ClusterRole bound to its service account must grant \
         verb \"{verb}\" on resource \"{resource}\" (API server said: {message})"
    )]
    Forbidden {
        /// The verb that was refused (`list`, `watch`, `get`, `create`, `update`, `patch`).
        verb: String,
        /// The resource (`pods`, `nodes`, `configmaps`, `events.k8s.io/events`).
        resource: String,
        /// The API server's message.
        message: String,
    },
    /// The API server did not accept our credentials (HTTP 401).
    #[error("unauthorized: the API server rejected cad's credentials for {verb} {resource}: {message}")]
    Unauthorized {
        /// The verb that was attempted.
        verb: String,
        /// The resource.
        resource: String,
        /// The API server's message.
        message: String,
    },
    /// The object (or the key within it) does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was missing (`ConfigMap cad/cad-model`, `key model in ConfigMap cad/cad-model`).
        what: String,
    },
    /// Any other error status from the API server.
    #[error("API server answered {code} {reason} to {verb} {resource}: {message}")]
    Api {
        /// HTTP status code.
        code: u16,
        /// The Status `reason` (`Conflict`, `Invalid`, …).
        reason: String,
        /// The Status message.
        message: String,
        /// The verb that was attempted.
        verb: String,
        /// The resource.
        resource: String,
    },
    /// A blob is too large for a ConfigMap.
    #[error("{size} bytes do not fit in a ConfigMap (at most {limit} bytes)")]
    TooLarge {
        /// The blob's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The API server could not be reached, or the connection broke.
    #[error("cannot reach the Kubernetes API ({verb} {resource})")]
    Transport {
        /// The verb that was attempted.
        verb: String,
        /// The resource.
        resource: String,
        /// The underlying client error.
        #[source]
        source: kube::Error,
    },
    /// The client configuration (kubeconfig, in-cluster environment, URL) is unusable.
    #[error("Kubernetes client configuration: {what}")]
    Config {
        /// What was tried (`invalid API server URL "…"`).
        what: String,
        /// Why it failed.
        #[source]
        source: BoxError,
    },
    /// An answer could not be decoded, lacks a required field, or a request
    /// body could not be encoded.
    #[error("cannot decode the API server's answer{}", if what.is_empty() { String::new() } else { format!(": {what}") })]
    Decode {
        /// What was wrong, when the cause does not say it (empty otherwise).
        what: String,
        /// The decoder's error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
}

impl K8sError {
    /// [`K8sError::Decode`] with `cause` as its source.
    pub fn decode(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        K8sError::Decode {
            what: String::new(),
            source: Some(Box::new(cause)),
        }
    }

    /// Classifies a `kube` client error from calling `verb` on `resource`.
    pub fn from_kube(err: kube::Error, verb: &str, resource: &str) -> Self {
        match err {
            kube::Error::Api(status) => Self::from_status(&status, verb, resource),
            kube::Error::SerdeError(e) => K8sError::decode(e),
            kube::Error::FromUtf8(e) => K8sError::decode(e),
            other => K8sError::Transport {
                verb: verb.to_owned(),
                resource: resource.to_owned(),
                source: other,
            },
        }
    }

    /// Classifies an API `Status` (an error response or a watch `ERROR` event).
    pub fn from_status(status: &Status, verb: &str, resource: &str) -> Self {
        let (verb, resource, message) = (verb.to_owned(), resource.to_owned(), status.message.clone());
        if status.code == 401 || status.reason == "Unauthorized" {
            K8sError::Unauthorized {
                verb,
                resource,
                message,
            }
        } else if status.is_forbidden() {
            K8sError::Forbidden {
                verb,
                resource,
                message,
            }
        } else if status.is_not_found() {
            K8sError::NotFound {
                what: if message.is_empty() { resource } else { message },
            }
        } else {
            K8sError::Api {
                code: status.code,
                reason: status.reason.clone(),
                message,
                verb,
                resource,
            }
        }
    }

    /// Whether this is an HTTP 409 Conflict (stale resourceVersion, or the object already exists).
    pub fn is_conflict(&self) -> bool {
        matches!(self, K8sError::Api { code: 409, .. })
    }

    /// Whether this is a 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, K8sError::NotFound { .. })
    }

    /// Whether trying again later may help.
    pub fn is_transient(&self) -> bool {
        match self {
            K8sError::Transport { .. } => true,
            K8sError::Api { code, .. } => *code == 429 || *code >= 500,
            _ => false,
        }
    }
}

impl From<K8sError> for SourceError {
    fn from(err: K8sError) -> Self {
        match err {
            K8sError::Forbidden { .. } | K8sError::Unauthorized { .. } => SourceError::Denied {
                backend: BACKEND.to_owned(),
                message: String::new(),
                source: Some(Box::new(err)),
            },
            e if e.is_transient() => SourceError::Unavailable {
                backend: BACKEND.to_owned(),
                source: Box::new(e),
            },
            // SourceError::Invalid holds text only: the cause goes into it.
            e @ K8sError::Config { .. } => SourceError::Invalid(cad_core::ErrorChain(&e).to_string()),
            other => SourceError::Protocol {
                backend: BACKEND.to_owned(),
                message: String::new(),
                source: Some(Box::new(other)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, reason: &str, message: &str) -> Status {
        Status::failure(message, reason).with_code(code)
    }

    #[test]
    fn forbidden_names_verb_and_resource_and_maps_to_denied() {
        let msg = r#"pods is forbidden: User "system:serviceaccount:cad:cad-watcher" cannot list resource "pods" in API group "" at the cluster scope"#;
        let e = K8sError::from_status(&status(403, "Forbidden", msg), "list", "pods");
        let text = e.to_string();
        assert!(text.contains("may not list pods"), "{text}");
        assert!(text.contains("must grant verb \"list\" on resource \"pods\""), "{text}");
        assert!(text.contains(msg), "{text}");
        assert!(matches!(SourceError::from(e), SourceError::Denied { .. }));
    }

    #[test]
    fn unauthorized_is_denied_not_found_is_protocol_server_error_is_transient() {
        let e = K8sError::from_status(&status(401, "Unauthorized", "Unauthorized"), "get", "pods");
        assert!(matches!(SourceError::from(e), SourceError::Denied { .. }));
        let e = K8sError::from_status(
            &status(404, "NotFound", "configmaps \"m\" not found"),
            "get",
            "configmaps",
        );
        assert!(e.is_not_found());
        assert!(matches!(SourceError::from(e), SourceError::Protocol { .. }));
        let e = K8sError::from_status(&status(503, "ServiceUnavailable", "etcd"), "list", "pods");
        assert!(e.is_transient());
        assert!(SourceError::from(e).is_transient());
        let e = K8sError::from_status(&status(409, "Conflict", "stale"), "update", "configmaps");
        assert!(e.is_conflict() && !e.is_transient());
    }
}
