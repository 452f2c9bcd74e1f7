//! [`KubeMetricsSource`]: CPU and memory from `metrics.k8s.io` (metrics-server).

use crate::error::K8sError;
use cad_core::{ContainerId, Metric, MetricBatch, MetricSource, Sample, SourceError, TimeWindow, Timestamp};
use k8s_metrics::QuantityExt;
use k8s_metrics::v1beta1::PodMetrics;
use kube::api::ListParams;
use kube::{Api, Client};
use std::collections::{BTreeSet, HashMap};

/// The current CPU (nanocores) and working-set memory of containers from
/// `metrics.k8s.io/v1beta1` PodMetrics.
///
/// metrics-server keeps only the latest sample per container, so a fetch
/// returns at most one sample of [`Metric::CpuUsageNanocores`] and one of
/// [`Metric::MemoryWorkingSetBytes`] per container, and only when its
/// timestamp lies in the window. A cluster without the metrics API
/// (404) gives an empty batch, not an error. One list call per namespace
/// involved (one cluster-wide call when several are), never one per container.
///
/// RBAC: `list` on `pods` in API group `metrics.k8s.io`.
#[derive(Clone)]
pub struct KubeMetricsSource {
    client: Client,
}

impl std::fmt::Debug for KubeMetricsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KubeMetricsSource")
    }
}

impl KubeMetricsSource {
    /// A metric source over this client.
    pub fn new(client: Client) -> Self {
        KubeMetricsSource { client }
    }

    /// The PodMetrics of the namespaces involved; `None` if the cluster has no metrics API.
    async fn pod_metrics(&self, namespaces: &BTreeSet<&str>) -> Result<Option<Vec<PodMetrics>>, K8sError> {
        let api: Api<PodMetrics> = match namespaces.iter().next() {
            Some(ns) if namespaces.len() == 1 => Api::namespaced(self.client.clone(), ns),
            _ => Api::all(self.client.clone()),
        };
        match api.list(&ListParams::default()).await {
            Ok(list) => Ok(Some(list.items)),
            Err(kube::Error::Api(s)) if s.is_not_found() || s.code == 503 => {
                tracing::debug!(message = %s.message, "no metrics.k8s.io API in this cluster");
                Ok(None)
            }
            Err(e) => Err(K8sError::from_kube(e, "list", "metrics.k8s.io/pods")),
        }
    }
}

#[async_trait::async_trait]
impl MetricSource for KubeMetricsSource {
    async fn fetch(&self, containers: &[ContainerId], window: TimeWindow) -> Result<MetricBatch, SourceError> {
        let mut batch = MetricBatch::new();
        if containers.is_empty() {
            return Ok(batch);
        }
        let namespaces: BTreeSet<&str> = containers.iter().map(|c| c.pod.namespace.as_str()).collect();
        let Some(items) = self.pod_metrics(&namespaces).await? else {
            return Ok(batch);
        };
        // metrics.k8s.io does not carry pod UIDs: match on namespace, pod and container name.
        let wanted: HashMap<(&str, &str, &str), &ContainerId> = containers
            .iter()
            .map(|c| ((c.pod.namespace.as_str(), c.pod.name.as_str(), c.container.as_str()), c))
            .collect();
        for pm in &items {
            let (Some(ns), Some(name)) = (pm.metadata.namespace.as_deref(), pm.metadata.name.as_deref()) else {
                continue;
            };
            let time = Timestamp::from_millis(pm.timestamp.0.as_millisecond());
            if !window.contains(time) {
                continue;
            }
            for c in &pm.containers {
                let Some(id) = wanted.get(&(ns, name, c.name.as_str())) else {
                    continue;
                };
                match c.usage.cpu.to_f64() {
                    Ok(cores) => batch.push(id, Sample::new(time, Metric::CpuUsageNanocores, cores * 1e9)),
                    Err(e) => tracing::debug!(container = %id, error = %e, "unreadable CPU quantity"),
                }
                match c.usage.memory.to_memory() {
                    Ok(bytes) => batch.push(id, Sample::new(time, Metric::MemoryWorkingSetBytes, bytes as f64)),
                    Err(e) => tracing::debug!(container = %id, error = %e, "unreadable memory quantity"),
                }
            }
        }
        Ok(batch)
    }
}
