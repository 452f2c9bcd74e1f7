//! Where pods and metrics come from: the [`PodSource`] and [`MetricSource`] traits.
//!
//! The engines take any implementation — a value, a reference or an `Arc`
//! (the traits are implemented for `&T` and `Arc<T>`) — so adapters for other
//! backends can be written outside this crate: see
//! `docs/writing-an-adapter.md` and `examples/adapter/` in the repository.
//! [`StaticPods`] is a ready-made pod source for a fixed list of pods.

use crate::metric::MetricBatch;
use crate::pod::{ContainerId, PodId, PodInfo};
use crate::time::{TimeWindow, Timestamp};
use async_trait::async_trait;
use futures::stream::BoxStream;

/// A boxed error from a backend, kept as the cause of a [`SourceError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a pod or metric source could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The backend could not be reached or did not answer in time; trying
    /// again later may work.
    #[error("{backend} is unavailable")]
    Unavailable {
        /// Which backend (`"InfluxDB at http://…"`, `"Kubernetes API"`).
        backend: String,
        /// The underlying cause.
        #[source]
        source: BoxError,
    },
    /// The backend refused us (wrong password, RBAC); trying again will not help.
    #[error("{backend} refused access{}", colon(message))]
    Denied {
        /// Which backend.
        backend: String,
        /// What it said (empty when the cause says it all).
        message: String,
        /// The adapter's own error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// The backend answered with something we cannot use.
    #[error("{backend} gave an answer cad cannot use{}", colon(message))]
    Protocol {
        /// Which backend.
        backend: String,
        /// What was wrong with the answer (empty when the cause says it all).
        message: String,
        /// The adapter's own error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// The request itself was invalid (for example a name the backend cannot accept).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The source does not offer what was asked (for example a
    /// [`MetricSource`] without [`containers_seen`](MetricSource::containers_seen)).
    #[error("{backend} cannot {what}")]
    Unsupported {
        /// Which backend.
        backend: String,
        /// What it cannot do (`"list the containers it has samples of"`).
        what: String,
    },
}

/// `": message"`, or nothing for an empty message.
fn colon(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl SourceError {
    /// Whether trying the same call again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SourceError::Unavailable { .. })
    }
}

/// A change to the set of pods, as a [`PodSource::watch`] stream reports it.
#[derive(Clone, Debug, PartialEq)]
pub enum PodEvent {
    /// A pod seen for the first time on this stream (including every pod that
    /// already existed when the stream started).
    Added(PodInfo),
    /// A pod already reported changed (phase, start time, node, containers).
    Updated(PodInfo),
    /// A pod is gone.
    Deleted(PodId),
}

impl PodEvent {
    /// The identity of the pod the event is about.
    pub fn pod_id(&self) -> &PodId {
        match self {
            PodEvent::Added(p) | PodEvent::Updated(p) => &p.id,
            PodEvent::Deleted(id) => id,
        }
    }
}

/// Lists pods and follows their creation and deletion.
///
/// The Kubernetes adapter (`cad-k8s`) and the simulated cluster
/// (`cad-sim`) implement it.
///
/// # Example
///
/// A fixed set of pods that never changes:
///
/// ```
/// use cad_core::{PodEvent, PodId, PodInfo, PodSource, SourceError};
/// use futures::stream::{self, BoxStream, StreamExt};
///
/// struct Fixed(Vec<PodInfo>);
///
/// #[async_trait::async_trait]
/// impl PodSource for Fixed {
///     async fn list(&self) -> Result<Vec<PodInfo>, SourceError> {
///         Ok(self.0.clone())
///     }
///     fn watch(&self) -> BoxStream<'static, Result<PodEvent, SourceError>> {
///         let added: Vec<_> = self.0.iter().cloned().map(|p| Ok(PodEvent::Added(p))).collect();
///         stream::iter(added).chain(stream::pending()).boxed()
///     }
/// }
///
/// # futures::executor::block_on(async {
/// let src = Fixed(vec![PodInfo::new(PodId::new("default", "nginx-1", "u1"))]);
/// let pods = src.list().await.unwrap();
/// assert_eq!(pods[0].id.name, "nginx-1");
/// let first = src.watch().next().await.unwrap().unwrap();
/// assert!(matches!(first, PodEvent::Added(p) if p.id.name == "nginx-1"));
/// # });
/// ```
#[async_trait]
pub trait PodSource: Send + Sync {
    /// Every pod the source can see now.
    async fn list(&self) -> Result<Vec<PodInfo>, SourceError>;

    /// A stream of pod events. It starts by reporting every existing pod as
    /// [`PodEvent::Added`], then reports changes as they happen. An `Err` item
    /// is a failure the stream may recover from (it goes on after it, as
    /// `kube`'s watcher does); the stream ends only if the source cannot go on.
    fn watch(&self) -> BoxStream<'static, Result<PodEvent, SourceError>>;
}

/// Returns metric samples for many containers at once.
///
/// Batched by design: one call covers every container the caller is
/// interested in, and an implementation must not turn it into one backend
/// query per container.
///
/// # Example
///
/// A source that knows one constant gauge for every container:
///
/// ```
/// use cad_core::{ContainerId, Metric, MetricBatch, MetricSource, PodId, Sample,
///                SourceError, TimeWindow, Timestamp};
///
/// struct Flat;
///
/// #[async_trait::async_trait]
/// impl MetricSource for Flat {
///     async fn fetch(&self, containers: &[ContainerId], window: TimeWindow)
///         -> Result<MetricBatch, SourceError>
///     {
///         let mut batch = MetricBatch::new();
///         for c in containers {
///             batch.push(c, Sample::new(window.start, Metric::MemoryUsageBytes, 8e6));
///         }
///         Ok(batch)
///     }
/// }
///
/// # futures::executor::block_on(async {
/// let c = PodId::new("default", "nginx-1", "u1").container("nginx");
/// let w = TimeWindow::new(Timestamp::from_secs(0), Timestamp::from_secs(60));
/// let batch = Flat.fetch(&[c.clone()], w).await.unwrap();
/// assert_eq!(batch.samples(&c).len(), 1);
/// # });
/// ```
#[async_trait]
pub trait MetricSource: Send + Sync {
    /// Samples of every metric the source has for `containers` within `window`.
    /// Containers without data are absent from (or empty in) the batch.
    ///
    /// A source that splits the call into several backend requests answers
    /// what it could: containers of a failed request are
    /// [marked unavailable](MetricBatch::mark_unavailable) with the error,
    /// and the engines retry them. `Err` means nothing could be fetched.
    async fn fetch(&self, containers: &[ContainerId], window: TimeWindow) -> Result<MetricBatch, SourceError>;

    /// Every container the source has samples of within `window`, pods that
    /// no longer exist included, each with the first and last sample's time:
    /// how the collector finds past pods to train on
    /// ([`CollectConfig::past`](crate::engine::CollectConfig::past)).
    ///
    /// The ids must be the ones [`fetch`](Self::fetch) answers to (a source
    /// that matches by names may leave the pod UID empty). The default
    /// answers [`SourceError::Unsupported`].
    async fn containers_seen(&self, window: TimeWindow) -> Result<Vec<SeenContainer>, SourceError> {
        let _ = window;
        Err(SourceError::Unsupported {
            backend: "this metric source".into(),
            what: "list the containers it has samples of".into(),
        })
    }
}

/// A container a [`MetricSource`] has samples of, as
/// [`MetricSource::containers_seen`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SeenContainer {
    /// The container, as [`MetricSource::fetch`] answers to it.
    pub id: ContainerId,
    /// Its image, where the source records one.
    pub image: Option<String>,
    /// Its earliest sample in the window asked about.
    pub first_sample: Timestamp,
    /// Its latest sample in the window.
    pub last_sample: Timestamp,
    /// When it started, where the source records it (cAdvisor's
    /// `container_start_time_seconds`). Without it the collector takes the
    /// first sample for the start when that lies well inside the window.
    pub started: Option<Timestamp>,
}

impl SeenContainer {
    /// A container seen from `first_sample` to `last_sample`, image and start unknown.
    pub fn new(id: ContainerId, first_sample: Timestamp, last_sample: Timestamp) -> Self {
        SeenContainer {
            id,
            image: None,
            first_sample,
            last_sample,
            started: None,
        }
    }

    /// With the container's image.
    pub fn with_image(mut self, image: impl Into<String>) -> Self {
        self.image = Some(image.into());
        self
    }

    /// With the container's recorded start.
    pub fn with_start(mut self, started: Timestamp) -> Self {
        self.started = Some(started);
        self
    }
}

#[async_trait]
impl<T: PodSource + ?Sized> PodSource for std::sync::Arc<T> {
    async fn list(&self) -> Result<Vec<PodInfo>, SourceError> {
        (**self).list().await
    }
    fn watch(&self) -> BoxStream<'static, Result<PodEvent, SourceError>> {
        (**self).watch()
    }
}

#[async_trait]
impl<T: MetricSource + ?Sized> MetricSource for std::sync::Arc<T> {
    async fn fetch(&self, containers: &[ContainerId], window: TimeWindow) -> Result<MetricBatch, SourceError> {
        (**self).fetch(containers, window).await
    }
    async fn containers_seen(&self, window: TimeWindow) -> Result<Vec<SeenContainer>, SourceError> {
        (**self).containers_seen(window).await
    }
}

#[async_trait]
impl<T: PodSource + ?Sized> PodSource for &T {
    async fn list(&self) -> Result<Vec<PodInfo>, SourceError> {
        (**self).list().await
    }
    fn watch(&self) -> BoxStream<'static, Result<PodEvent, SourceError>> {
        (**self).watch()
    }
}

#[async_trait]
impl<T: MetricSource + ?Sized> MetricSource for &T {
    async fn fetch(&self, containers: &[ContainerId], window: TimeWindow) -> Result<MetricBatch, SourceError> {
        (**self).fetch(containers, window).await
    }
    async fn containers_seen(&self, window: TimeWindow) -> Result<Vec<SeenContainer>, SourceError> {
        (**self).containers_seen(window).await
    }
}

/// A [`PodSource`] over a fixed list of pods: [`list`](PodSource::list)
/// gives them, [`watch`](PodSource::watch) reports each as
/// [`PodEvent::Added`] and then nothing more (the stream stays open, as a
/// cluster's would).
///
/// For a static inventory (a file of pods, a test). Pods need a
/// [`start_time`](PodInfo::start_time) for the collector to read their early
/// history and for the watcher to count its timeout from their start.
///
/// ```
/// use cad_core::prelude::*;
///
/// let mut pod = PodInfo::new(PodId::new("shop", "nginx-1", "uid-1"));
/// pod.containers.push(ContainerInfo::new("nginx", "nginx:1.25"));
/// let pods = StaticPods::new([pod]);
/// # futures::executor::block_on(async {
/// assert_eq!(pods.list().await.unwrap().len(), 1);
/// let first = pods.watch().next().await.unwrap().unwrap();
/// assert!(matches!(first, PodEvent::Added(p) if p.id.name == "nginx-1"));
/// # });
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StaticPods {
    pods: Vec<PodInfo>,
}

impl StaticPods {
    /// A source that always answers with `pods`.
    pub fn new(pods: impl IntoIterator<Item = PodInfo>) -> Self {
        StaticPods {
            pods: pods.into_iter().collect(),
        }
    }

    /// The pods.
    pub fn pods(&self) -> &[PodInfo] {
        &self.pods
    }
}

#[async_trait]
impl PodSource for StaticPods {
    async fn list(&self) -> Result<Vec<PodInfo>, SourceError> {
        Ok(self.pods.clone())
    }

    fn watch(&self) -> BoxStream<'static, Result<PodEvent, SourceError>> {
        use futures::stream::StreamExt;
        let added: Vec<_> = self.pods.iter().cloned().map(|p| Ok(PodEvent::Added(p))).collect();
        futures::stream::iter(added).chain(futures::stream::pending()).boxed()
    }
}
