//! [`ConfigMapModelStore`]: model bytes in one key of a ConfigMap's `binaryData`.

use crate::error::K8sError;
use futures::stream::{BoxStream, StreamExt};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use std::collections::BTreeMap;

/// The most bytes a ConfigMap can hold (etcd's object limit, 1 MiB), less
/// room for metadata and base64 (`binaryData` is base64 on the wire: 4/3).
pub const MAX_BLOB_BYTES: usize = (1024 * 1024 - 16 * 1024) / 4 * 3;

/// How often `publish_bytes` retries after a 409 Conflict.
const MAX_CONFLICT_RETRIES: usize = 5;

/// Why loading and decoding a model failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError<E: std::error::Error + 'static> {
    /// The bytes could not be fetched.
    #[error(transparent)]
    Fetch(#[from] K8sError),
    /// The bytes were fetched but the decoder rejected them.
    #[error("the model in the ConfigMap cannot be decoded")]
    Decode(#[source] E),
}

/// Stores a model as bytes under `binaryData[key]` of the ConfigMap `namespace/name`.
///
/// RBAC: `get`, `create`, `update` on `configmaps` in `namespace` for
/// publishing; `get`, `list`, `watch` for loading and following.
#[derive(Clone)]
pub struct ConfigMapModelStore {
    api: Api<ConfigMap>,
    namespace: String,
    name: String,
    key: String,
}

impl std::fmt::Debug for ConfigMapModelStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConfigMapModelStore({}/{}[{}])", self.namespace, self.name, self.key)
    }
}

impl ConfigMapModelStore {
    /// A store for `binaryData[key]` of ConfigMap `namespace/name`.
    pub fn new(client: Client, namespace: impl Into<String>, name: impl Into<String>, key: impl Into<String>) -> Self {
        let namespace = namespace.into();
        ConfigMapModelStore {
            api: Api::namespaced(client, &namespace),
            namespace,
            name: name.into(),
            key: key.into(),
        }
    }

    fn what(&self) -> String {
        format!("ConfigMap {}/{}", self.namespace, self.name)
    }

    fn bytes_in(&self, cm: &ConfigMap) -> Option<Vec<u8>> {
        cm.binary_data.as_ref()?.get(&self.key).map(|b| b.0.clone())
    }

    /// The stored bytes.
    pub async fn load_bytes(&self) -> Result<Vec<u8>, K8sError> {
        let cm = self
            .get()
            .await?
            .ok_or_else(|| K8sError::NotFound { what: self.what() })?;
        self.bytes_in(&cm).ok_or_else(|| K8sError::NotFound {
            what: format!("key {:?} in binaryData of {}", self.key, self.what()),
        })
    }

    /// Loads and decodes. A decoding failure is [`LoadError::Decode`]; the
    /// caller keeps whatever value it had before.
    pub async fn load_with<T, E: std::error::Error + 'static>(
        &self,
        decode: impl Fn(&[u8]) -> Result<T, E>,
    ) -> Result<T, LoadError<E>> {
        let bytes = self.load_bytes().await?;
        decode(&bytes).map_err(LoadError::Decode)
    }

    async fn get(&self) -> Result<Option<ConfigMap>, K8sError> {
        match self.api.get(&self.name).await {
            Ok(cm) => Ok(Some(cm)),
            Err(kube::Error::Api(s)) if s.is_not_found() => Ok(None),
            Err(e) => Err(K8sError::from_kube(e, "get", "configmaps")),
        }
    }

    /// Creates the ConfigMap with `bytes` under the key, or replaces the key
    /// in the existing one (keeping its other keys, labels and annotations).
    /// Uses the object's resourceVersion and retries on 409 Conflict.
    pub async fn publish_bytes(&self, bytes: &[u8]) -> Result<(), K8sError> {
        if bytes.len() > MAX_BLOB_BYTES {
            return Err(K8sError::TooLarge {
                size: bytes.len(),
                limit: MAX_BLOB_BYTES,
            });
        }
        let pp = PostParams {
            field_manager: Some("cad".to_owned()),
            ..PostParams::default()
        };
        let mut last = None;
        for attempt in 0..MAX_CONFLICT_RETRIES {
            let result = match self.get().await? {
                None => {
                    let cm = ConfigMap {
                        metadata: ObjectMeta {
                            name: Some(self.name.clone()),
                            namespace: Some(self.namespace.clone()),
                            labels: Some(BTreeMap::from([(
                                "app.kubernetes.io/managed-by".to_owned(),
                                "cad".to_owned(),
                            )])),
                            ..ObjectMeta::default()
                        },
                        binary_data: Some(BTreeMap::from([(self.key.clone(), ByteString(bytes.to_vec()))])),
                        ..ConfigMap::default()
                    };
                    self.api
                        .create(&pp, &cm)
                        .await
                        .map_err(|e| K8sError::from_kube(e, "create", "configmaps"))
                }
                Some(mut cm) => {
                    cm.binary_data
                        .get_or_insert_with(BTreeMap::new)
                        .insert(self.key.clone(), ByteString(bytes.to_vec()));
                    // A key may live in data or binaryData, not both.
                    if let Some(d) = cm.data.as_mut() {
                        d.remove(&self.key);
                    }
                    self.api
                        .replace(&self.name, &pp, &cm)
                        .await
                        .map_err(|e| K8sError::from_kube(e, "update", "configmaps"))
                }
            };
            match result {
                Ok(_) => {
                    tracing::info!(store = ?self, bytes = bytes.len(), "model published");
                    return Ok(());
                }
                Err(e) if e.is_conflict() => {
                    tracing::debug!(attempt, error = %e, "ConfigMap changed under us; retrying");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| K8sError::Decode {
            what: "conflict retries exhausted".to_owned(),
            source: None,
        }))
    }

    /// A stream of the key's bytes: the current value first (if any), then
    /// each new value whenever the ConfigMap changes (unchanged bytes are not
    /// repeated). Deleting the ConfigMap or the key yields nothing: the last
    /// model stays in use. Errors are reported and the stream goes on
    /// (kube's watcher with its default backoff).
    pub fn watch_bytes(&self) -> BoxStream<'static, Result<Vec<u8>, K8sError>> {
        let wc = watcher::Config::default().fields(&format!("metadata.name={}", self.name));
        let this = self.clone();
        watcher(self.api.clone(), wc)
            .default_backoff()
            .scan(None::<Vec<u8>>, move |last, item| {
                let out = match item {
                    Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)) => match this.bytes_in(&cm) {
                        Some(b) if last.as_ref() != Some(&b) => {
                            *last = Some(b.clone());
                            Some(Ok(b))
                        }
                        _ => None,
                    },
                    Ok(watcher::Event::Delete(_)) => {
                        tracing::warn!(store = ?this, "model ConfigMap deleted; keeping the last model");
                        None
                    }
                    Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
                    Err(watcher::Error::WatchError(s)) if s.code == 410 => None,
                    Err(e) => Some(Err(watcher_error(e))),
                };
                futures::future::ready(Some(out))
            })
            .filter_map(futures::future::ready)
            .boxed()
    }

    /// [`watch_bytes`](Self::watch_bytes) through a decoder: a blob the
    /// decoder rejects becomes [`LoadError::Decode`], and the caller keeps the
    /// value it had.
    pub fn watch_with<T, E, F>(&self, decode: F) -> BoxStream<'static, Result<T, LoadError<E>>>
    where
        T: Send + 'static,
        E: std::error::Error + Send + 'static,
        F: Fn(&[u8]) -> Result<T, E> + Send + 'static,
    {
        self.watch_bytes()
            .map(move |r| match r {
                Ok(b) => decode(&b).map_err(LoadError::Decode),
                Err(e) => Err(LoadError::Fetch(e)),
            })
            .boxed()
    }
}

fn watcher_error(e: watcher::Error) -> K8sError {
    match e {
        watcher::Error::InitialListFailed(e) => K8sError::from_kube(e, "list", "configmaps"),
        watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => {
            K8sError::from_kube(e, "watch", "configmaps")
        }
        watcher::Error::WatchError(s) => K8sError::from_status(&s, "watch", "configmaps"),
        watcher::Error::NoResourceVersion => K8sError::Decode {
            what: "watch event without resourceVersion".to_owned(),
            source: None,
        },
    }
}
