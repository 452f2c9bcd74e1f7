//! # cad-k8s
//!
//! cad's Kubernetes adapter, on `kube` and `k8s-openapi`:
//!
//! * [`KubePodSource`] — a [`cad_core::PodSource`] over the API (list, and a
//!   watch built on `kube::runtime::watcher` that survives dropped connections
//!   and `410 Gone`), optionally restricted to one node for a DaemonSet;
//! * [`ImageSizeResolver`] / [`ImageRef`] — image sizes from the nodes'
//!   `status.images`, with Docker reference normalisation;
//! * [`ConfigMapModelStore`] — model bytes in a ConfigMap (load, publish, follow);
//! * [`KubeEventRecorder`] — verdicts as Events (and annotations) on the pod;
//! * `KubeMetricsSource` (feature `metrics`) — CPU and memory from `metrics.k8s.io`;
//! * [`default_client`] / [`client_for_url`] — building a client.
//!
//! This crate does not choose a Kubernetes API version: the binary enables
//! one `k8s-openapi` `v1_*` feature.
#![warn(missing_docs)]

pub mod client;
pub mod error;
pub mod events;
pub mod image;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod pods;
pub mod store;

pub use client::{client_for_url, default_client};
pub use error::K8sError;
pub use events::{KubeEventRecorder, VerdictNote};
pub use image::{ImageIndex, ImageRef, ImageSizeResolver};
#[cfg(feature = "metrics")]
pub use metrics::KubeMetricsSource;
pub use pods::{KubePodSource, PodEventMapper, PodSourceConfig, RawPodEvent, pod_info};
pub use store::{ConfigMapModelStore, LoadError, MAX_BLOB_BYTES};
