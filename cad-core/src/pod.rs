//! Pods and containers: who a metric belongs to and what we know about it.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A pod's identity: namespace, name and the UID Kubernetes gave it.
///
/// Two pods with the same name but different UIDs (a pod deleted and
/// created again) are different pods.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PodId {
    /// The namespace the pod lives in.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// The pod's UID (may be empty where a source does not know it).
    pub uid: String,
}

/// The characters of the suffixes Kubernetes generates for pod names
/// (`k8s.io/apimachinery/pkg/util/rand`: no vowels, no 0, 1 or 3).
const GENERATED_NAME_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Whether `s` could be a name part Kubernetes generated, of a length in `lens`.
fn generated(s: &str, lens: std::ops::RangeInclusive<usize>) -> bool {
    lens.contains(&s.len()) && s.bytes().all(|b| GENERATED_NAME_CHARS.contains(&b))
}

/// The workload a pod's name says it belongs to: the name without a
/// StatefulSet's ordinal (`mysql-0` → `mysql`), or without the generated
/// suffix of a ReplicaSet's, Job's or DaemonSet's pod (`worker-x7k2q` →
/// `worker`) and then without a Deployment's pod-template hash
/// (`nginx-7c5ddbdf54-x7k2q` → `nginx`). Other names are their own workload.
///
/// ```
/// use cad_core::pod::workload_name;
/// assert_eq!(workload_name("nginx-7c5ddbdf54-x7k2q"), "nginx");
/// assert_eq!(workload_name("mysql-0"), "mysql");
/// assert_eq!(workload_name("backup-28391234-b2v4z"), "backup-28391234");
/// assert_eq!(workload_name("frontend"), "frontend");
/// ```
pub fn workload_name(name: &str) -> &str {
    fn strip(s: &str, ok: impl Fn(&str) -> bool) -> Option<&str> {
        let (base, last) = s.rsplit_once('-')?;
        (!base.is_empty() && ok(last)).then_some(base)
    }
    if let Some(base) = strip(name, |s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())) {
        return base;
    }
    match strip(name, |s| generated(s, 5..=5)) {
        Some(base) => strip(base, |s| generated(s, 6..=10)).unwrap_or(base),
        None => name,
    }
}

/// The ReplicaSet a pod's name says it is a replica of, when the name has
/// the shape Kubernetes gives a Deployment's pods: `<deployment>-<pod-template
/// hash>-<generated suffix>` (`nginx-7c5ddbdf54-x7k2q` → `nginx-7c5ddbdf54`).
/// Replicas of one template run the same image, configuration and, behind
/// one Service, the same share of the load: near twins. Other names
/// (StatefulSet ordinals, bare names, a generated suffix alone) give `None`:
/// their pods may well be configured apart.
///
/// ```
/// use cad_core::pod::replica_set_name;
/// assert_eq!(replica_set_name("nginx-7c5ddbdf54-x7k2q"), Some("nginx-7c5ddbdf54"));
/// assert_eq!(replica_set_name("mysql-0"), None);
/// assert_eq!(replica_set_name("worker-x7k2q"), None);
/// ```
pub fn replica_set_name(name: &str) -> Option<&str> {
    let (set, suffix) = name.rsplit_once('-')?;
    let (deployment, hash) = set.rsplit_once('-')?;
    (!deployment.is_empty() && generated(suffix, 5..=5) && generated(hash, 6..=10)).then_some(set)
}

/// The replica set of the container a group name `namespace/pod/container`
/// stands for (how the collector names a container's rows, the display of
/// [`ContainerId`]): `namespace/<deployment>-<hash>/container` when the pod's
/// name is a Deployment pod's ([`replica_set_name`]), else `None`.
///
/// ```
/// use cad_core::pod::replica_set_of;
/// assert_eq!(replica_set_of("shop/nginx-7c5ddbdf54-x7k2q/nginx").as_deref(), Some("shop/nginx-7c5ddbdf54/nginx"));
/// assert_eq!(replica_set_of("shop/mysql-0/mysql"), None);
/// assert_eq!(replica_set_of("nginx-7c5ddbdf54-x7k2q"), None);
/// ```
pub fn replica_set_of(group: &str) -> Option<String> {
    let mut parts = group.split('/');
    let (namespace, pod, container) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || namespace.is_empty() || container.is_empty() {
        return None;
    }
    replica_set_name(pod).map(|set| format!("{namespace}/{set}/{container}"))
}

impl PodId {
    /// A pod identity from its parts.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, uid: impl Into<String>) -> Self {
        PodId {
            namespace: namespace.into(),
            name: name.into(),
            uid: uid.into(),
        }
    }

    /// The identity of one of this pod's containers.
    pub fn container(&self, container: impl Into<String>) -> ContainerId {
        ContainerId {
            pod: self.clone(),
            container: container.into(),
        }
    }
}

impl fmt::Display for PodId {
    /// `namespace/name`, as `kubectl` shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A container's identity: its pod and its name within the pod.
///
/// Equality includes the pod's UID. A [`MetricSource`](crate::MetricSource)
/// must answer with the ids it is given: one that builds ids of its own from
/// names (without the UID, or with another) matches none of them, and its
/// samples are ignored (the engines warn, see
/// [`MetricBatch::unasked`](crate::MetricBatch::unasked)).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ContainerId {
    /// The pod the container belongs to.
    pub pod: PodId,
    /// The container's name within its pod.
    pub container: String,
}

impl fmt::Display for ContainerId {
    /// `namespace/pod/container`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.pod, self.container)
    }
}

/// A pod's lifecycle phase, as Kubernetes reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PodPhase {
    /// Accepted, but not all containers run yet.
    Pending,
    /// Bound to a node, all containers created, at least one running.
    Running,
    /// All containers ended successfully.
    Succeeded,
    /// All containers ended, at least one in failure.
    Failed,
    /// The phase could not be obtained.
    #[default]
    Unknown,
}

impl PodPhase {
    /// Parses Kubernetes' spelling (`"Running"`, …); anything else is `Unknown`.
    pub fn parse(s: &str) -> Self {
        match s {
            "Pending" => PodPhase::Pending,
            "Running" => PodPhase::Running,
            "Succeeded" => PodPhase::Succeeded,
            "Failed" => PodPhase::Failed,
            _ => PodPhase::Unknown,
        }
    }

    /// Whether the pod has ended (succeeded or failed).
    pub fn is_terminal(self) -> bool {
        matches!(self, PodPhase::Succeeded | PodPhase::Failed)
    }
}

/// One container of a pod as the pod's spec and the node describe it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// The container's name within the pod.
    pub name: String,
    /// The image reference from the pod spec (e.g. `nginx:1.25`).
    pub image: String,
    /// The image's size in bytes on the node, where known.
    pub image_size_bytes: Option<u64>,
}

impl ContainerInfo {
    /// A container with a name and image, size unknown.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        ContainerInfo {
            name: name.into(),
            image: image.into(),
            image_size_bytes: None,
        }
    }
}

/// What a [`PodSource`](crate::PodSource) knows about a pod.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodInfo {
    /// The pod's identity.
    pub id: PodId,
    /// The node the pod is scheduled on, once scheduled.
    pub node: Option<String>,
    /// When the pod started (its `status.startTime`), once started.
    pub start_time: Option<Timestamp>,
    /// The pod's phase.
    pub phase: PodPhase,
    /// The pod's labels.
    pub labels: BTreeMap<String, String>,
    /// The pod's application containers, in spec order (init and ephemeral
    /// containers are not listed: they are neither trained on nor judged).
    pub containers: Vec<ContainerInfo>,
    /// The pod's annotations (the watcher reads
    /// [`ANNOTATION_PREDICTED`](crate::verdict::ANNOTATION_PREDICTED) from them).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl PodInfo {
    /// A pod with an identity and nothing else known yet.
    pub fn new(id: PodId) -> Self {
        PodInfo {
            id,
            node: None,
            start_time: None,
            phase: PodPhase::Unknown,
            labels: BTreeMap::new(),
            containers: Vec::new(),
            annotations: BTreeMap::new(),
        }
    }

    /// The identities of all containers of this pod.
    pub fn container_ids(&self) -> impl Iterator<Item = ContainerId> + '_ {
        self.containers.iter().map(|c| self.id.container(c.name.clone()))
    }

    /// The container with this name, if the pod has one.
    pub fn container(&self, name: &str) -> Option<&ContainerInfo> {
        self.containers.iter().find(|c| c.name == name)
    }
}
