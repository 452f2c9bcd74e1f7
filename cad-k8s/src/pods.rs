//! [`KubePodSource`]: pods from the Kubernetes API as a [`PodSource`].

use crate::error::{BACKEND, K8sError};
use crate::image::ImageSizeResolver;
use cad_core::{ContainerInfo, PodEvent, PodId, PodInfo, PodPhase, PodSource, SourceError, Timestamp};
use futures::stream::{self, BoxStream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use std::collections::{HashMap, HashSet};

/// Which pods a [`KubePodSource`] looks at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSourceConfig {
    /// Namespaces to watch; empty means all namespaces.
    pub namespaces: Vec<String>,
    /// Only pods scheduled on this node (field selector `spec.nodeName=<node>`),
    /// for a watcher run as a DaemonSet. Typically from the downward API's `NODE_NAME`.
    pub node: Option<String>,
    /// An optional label selector (`app.kubernetes.io/part-of=shop`).
    pub label_selector: Option<String>,
    /// Whether to look up image sizes in the nodes' `status.images` (needs `list nodes`).
    pub image_sizes: bool,
    /// Server-side timeout of one watch request in seconds; `None` is kube's default (290 s).
    pub watch_timeout_secs: Option<u32>,
}

impl PodSourceConfig {
    /// All pods of all namespaces, with image sizes.
    pub fn all() -> Self {
        PodSourceConfig {
            image_sizes: true,
            ..Self::default()
        }
    }

    /// Restricts to these namespaces (empty = all).
    pub fn namespaces<S: Into<String>>(mut self, ns: impl IntoIterator<Item = S>) -> Self {
        self.namespaces = ns.into_iter().map(Into::into).collect();
        self
    }

    /// Restricts to the pods on one node.
    pub fn node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// Restricts to pods matching a label selector.
    pub fn label_selector(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into());
        self
    }

    /// Turns image-size lookup on or off.
    pub fn image_sizes(mut self, on: bool) -> Self {
        self.image_sizes = on;
        self
    }

    /// Sets the server-side watch timeout.
    pub fn watch_timeout_secs(mut self, secs: u32) -> Self {
        self.watch_timeout_secs = Some(secs);
        self
    }

    fn field_selector(&self) -> Option<String> {
        self.node.as_ref().map(|n| format!("spec.nodeName={n}"))
    }
}

/// Pods from the Kubernetes API.
///
/// `list` is a plain (paged) list; `watch` is built on `kube::runtime::watcher`
/// with its default backoff, so dropped connections resume from the last
/// resourceVersion, and `410 Gone` leads to a re-list. Across a re-list the
/// stream reports pods it already reported as [`PodEvent::Updated`] (only if
/// something changed), never again as `Added`, and reports pods that vanished
/// during the gap as [`PodEvent::Deleted`].
///
/// RBAC: `list` and `watch` on `pods` (cluster-wide, or in each configured
/// namespace), and `list` on `nodes` for image sizes.
#[derive(Clone)]
pub struct KubePodSource {
    client: Client,
    config: PodSourceConfig,
    images: Option<ImageSizeResolver>,
}

impl std::fmt::Debug for KubePodSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubePodSource")
            .field("config", &self.config)
            .field("images", &self.images)
            .finish_non_exhaustive()
    }
}

impl KubePodSource {
    /// A pod source with this client and configuration.
    pub fn new(client: Client, config: PodSourceConfig) -> Self {
        let images = config.image_sizes.then(|| {
            let r = ImageSizeResolver::new(client.clone());
            match &config.node {
                Some(n) => r.only_node(n.clone()),
                None => r,
            }
        });
        KubePodSource { client, config, images }
    }

    /// Uses this image-size resolver (for example one with another refresh interval).
    pub fn with_image_resolver(mut self, resolver: ImageSizeResolver) -> Self {
        self.images = Some(resolver);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &PodSourceConfig {
        &self.config
    }

    fn apis(&self) -> Vec<Api<Pod>> {
        if self.config.namespaces.is_empty() {
            vec![Api::all(self.client.clone())]
        } else {
            self.config
                .namespaces
                .iter()
                .map(|ns| Api::namespaced(self.client.clone(), ns))
                .collect()
        }
    }

    fn list_params(&self) -> ListParams {
        let mut lp = ListParams::default().limit(500);
        if let Some(f) = self.config.field_selector() {
            lp = lp.fields(&f);
        }
        if let Some(l) = &self.config.label_selector {
            lp = lp.labels(l);
        }
        lp
    }

    fn watcher_config(&self) -> watcher::Config {
        let mut wc = watcher::Config::default();
        if let Some(f) = self.config.field_selector() {
            wc = wc.fields(&f);
        }
        if let Some(l) = &self.config.label_selector {
            wc = wc.labels(l);
        }
        if let Some(t) = self.config.watch_timeout_secs {
            wc = wc.timeout(t);
        }
        wc
    }

    /// Every pod now, as `kube` objects mapped to [`PodInfo`], with a typed error.
    pub async fn list_pods(&self) -> Result<Vec<PodInfo>, K8sError> {
        let mut out = Vec::new();
        for api in self.apis() {
            let mut lp = self.list_params();
            loop {
                let page = api
                    .list(&lp)
                    .await
                    .map_err(|e| K8sError::from_kube(e, "list", "pods"))?;
                for pod in &page.items {
                    if let Some(mut info) = pod_info(pod) {
                        if let Some(r) = &self.images {
                            fill_image_sizes(r, &mut info, Some(pod)).await;
                        }
                        out.push(info);
                    }
                }
                match page.metadata.continue_.filter(|c| !c.is_empty()) {
                    Some(c) => lp = lp.continue_token(&c),
                    None => break,
                }
            }
        }
        Ok(out)
    }

    fn watch_one(&self, api: Api<Pod>) -> BoxStream<'static, Result<PodEvent, SourceError>> {
        let images = self.images.clone();
        watcher(api, self.watcher_config())
            .default_backoff()
            .then(move |item| {
                let images = images.clone();
                async move {
                    match item {
                        Ok(ev) => Ok(to_raw(ev, images.as_ref()).await),
                        Err(e) => Err(e),
                    }
                }
            })
            .scan(PodEventMapper::new(), |mapper, item| {
                let out: Vec<Result<PodEvent, SourceError>> = match item {
                    Ok(Some(raw)) => mapper.handle(raw).into_iter().map(Ok).collect(),
                    Ok(None) => Vec::new(),
                    Err(e) => watcher_error(e).map(Err).into_iter().collect(),
                };
                futures::future::ready(Some(out))
            })
            .flat_map(stream::iter)
            .boxed()
    }
}

#[async_trait::async_trait]
impl PodSource for KubePodSource {
    async fn list(&self) -> Result<Vec<PodInfo>, SourceError> {
        self.list_pods().await.map_err(SourceError::from)
    }

    fn watch(&self) -> BoxStream<'static, Result<PodEvent, SourceError>> {
        let streams: Vec<_> = self.apis().into_iter().map(|api| self.watch_one(api)).collect();
        stream::select_all(streams).boxed()
    }
}

/// Maps a watcher error onto a [`SourceError`]; `None` for the routine
/// `410 Gone` after which the watcher re-lists by itself.
fn watcher_error(err: watcher::Error) -> Option<SourceError> {
    let e = match err {
        watcher::Error::InitialListFailed(e) => K8sError::from_kube(e, "list", "pods"),
        watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => K8sError::from_kube(e, "watch", "pods"),
        watcher::Error::WatchError(status) => {
            if status.code == 410 {
                tracing::debug!(message = %status.message, "pod watch expired (410 Gone); re-listing");
                return None;
            }
            K8sError::from_status(&status, "watch", "pods")
        }
        watcher::Error::NoResourceVersion => {
            return Some(SourceError::Protocol {
                backend: BACKEND.to_owned(),
                message: "watch event without metadata.resourceVersion".to_owned(),
                source: None,
            });
        }
    };
    tracing::warn!(error = %e, "pod watch failed; the watcher retries with backoff");
    Some(SourceError::from(e))
}

/// A watcher event with pods already mapped to [`PodInfo`].
#[derive(Clone, Debug, PartialEq)]
pub enum RawPodEvent {
    /// A (re-)list starts.
    Init,
    /// A pod seen in a (re-)list.
    InitApply(PodInfo),
    /// A (re-)list is complete.
    InitDone,
    /// A pod added or modified while watching.
    Apply(PodInfo),
    /// A pod deleted while watching.
    Delete(PodId),
}

async fn to_raw(ev: watcher::Event<Pod>, images: Option<&ImageSizeResolver>) -> Option<RawPodEvent> {
    let with_sizes = |pod: Pod| async move {
        let mut info = pod_info(&pod)?;
        if let Some(r) = images {
            fill_image_sizes(r, &mut info, Some(&pod)).await;
        }
        Some(info)
    };
    Some(match ev {
        watcher::Event::Init => RawPodEvent::Init,
        watcher::Event::InitDone => RawPodEvent::InitDone,
        watcher::Event::InitApply(p) => RawPodEvent::InitApply(with_sizes(p).await?),
        watcher::Event::Apply(p) => RawPodEvent::Apply(with_sizes(p).await?),
        watcher::Event::Delete(p) => RawPodEvent::Delete(pod_id(&p)?),
    })
}

/// Turns watcher events into [`PodEvent`]s, remembering which pods were
/// reported so that a re-list neither repeats `Added` nor misses a deletion.
#[derive(Debug, Default)]
pub struct PodEventMapper {
    known: HashMap<String, PodInfo>,
    relisted: Option<HashSet<String>>,
}

impl PodEventMapper {
    /// A mapper that has reported nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many pods are currently known (reported and not deleted).
    pub fn known(&self) -> usize {
        self.known.len()
    }

    fn apply(&mut self, info: PodInfo) -> Option<PodEvent> {
        match self.known.get(&info.id.uid) {
            None => {
                self.known.insert(info.id.uid.clone(), info.clone());
                Some(PodEvent::Added(info))
            }
            Some(old) if *old == info => None,
            Some(_) => {
                self.known.insert(info.id.uid.clone(), info.clone());
                Some(PodEvent::Updated(info))
            }
        }
    }

    /// The events one watcher event stands for (none, one, or several at the end of a re-list).
    pub fn handle(&mut self, ev: RawPodEvent) -> Vec<PodEvent> {
        match ev {
            RawPodEvent::Init => {
                self.relisted = Some(HashSet::new());
                Vec::new()
            }
            RawPodEvent::InitApply(info) => {
                if let Some(seen) = &mut self.relisted {
                    seen.insert(info.id.uid.clone());
                }
                self.apply(info).into_iter().collect()
            }
            RawPodEvent::InitDone => {
                let Some(seen) = self.relisted.take() else {
                    return Vec::new();
                };
                let mut gone: Vec<PodId> = self
                    .known
                    .iter()
                    .filter(|(uid, _)| !seen.contains(*uid))
                    .map(|(_, info)| info.id.clone())
                    .collect();
                gone.sort();
                for id in &gone {
                    self.known.remove(&id.uid);
                }
                gone.into_iter().map(PodEvent::Deleted).collect()
            }
            RawPodEvent::Apply(info) => self.apply(info).into_iter().collect(),
            RawPodEvent::Delete(id) => match self.known.remove(&id.uid) {
                Some(info) => vec![PodEvent::Deleted(info.id)],
                None => Vec::new(),
            },
        }
    }
}

fn pod_id(pod: &Pod) -> Option<PodId> {
    let m = &pod.metadata;
    match (&m.namespace, &m.name, &m.uid) {
        (Some(ns), Some(name), Some(uid)) => Some(PodId::new(ns.clone(), name.clone(), uid.clone())),
        _ => {
            tracing::warn!(name = ?m.name, "pod without namespace, name or uid ignored");
            None
        }
    }
}

/// Maps a Kubernetes pod to [`PodInfo`] (image sizes not filled in).
/// `None` if the pod lacks namespace, name or uid.
pub fn pod_info(pod: &Pod) -> Option<PodInfo> {
    let mut info = PodInfo::new(pod_id(pod)?);
    info.labels = pod.metadata.labels.clone().unwrap_or_default();
    info.annotations = pod.metadata.annotations.clone().unwrap_or_default();
    if let Some(spec) = &pod.spec {
        info.node = spec.node_name.clone().filter(|n| !n.is_empty());
        info.containers = spec
            .containers
            .iter()
            .map(|c| ContainerInfo::new(c.name.clone(), c.image.clone().unwrap_or_default()))
            .collect();
    }
    if let Some(status) = &pod.status {
        info.phase = status.phase.as_deref().map_or(PodPhase::Unknown, PodPhase::parse);
        info.start_time = status
            .start_time
            .as_ref()
            .map(|t| Timestamp::from_millis(t.0.as_millisecond()));
    }
    Some(info)
}

fn image_id_of<'a>(pod: Option<&'a Pod>, container: &str) -> Option<&'a str> {
    pod?.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|s| s.name == container)
        .map(|s| s.image_id.as_str())
        .filter(|id| !id.is_empty())
}

async fn fill_image_sizes(resolver: &ImageSizeResolver, info: &mut PodInfo, pod: Option<&Pod>) {
    let node = info.node.clone();
    for c in &mut info.containers {
        if c.image.is_empty() {
            continue;
        }
        c.image_size_bytes = resolver
            .size_of(node.as_deref(), &c.image, image_id_of(pod, &c.name))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, uid: &str, phase: PodPhase) -> PodInfo {
        let mut p = PodInfo::new(PodId::new("default", name, uid));
        p.phase = phase;
        p
    }

    #[test]
    fn initial_list_reports_added_and_changes_updated() {
        let mut m = PodEventMapper::new();
        assert!(m.handle(RawPodEvent::Init).is_empty());
        let a = info("a", "ua", PodPhase::Pending);
        assert_eq!(
            m.handle(RawPodEvent::InitApply(a.clone())),
            vec![PodEvent::Added(a.clone())]
        );
        assert!(m.handle(RawPodEvent::InitDone).is_empty());
        // The same state again is not news.
        assert!(m.handle(RawPodEvent::Apply(a.clone())).is_empty());
        let a2 = info("a", "ua", PodPhase::Running);
        assert_eq!(m.handle(RawPodEvent::Apply(a2.clone())), vec![PodEvent::Updated(a2)]);
        assert_eq!(
            m.handle(RawPodEvent::Delete(a.id.clone())),
            vec![PodEvent::Deleted(a.id.clone())]
        );
        // Deleting an unknown pod says nothing.
        assert!(m.handle(RawPodEvent::Delete(a.id)).is_empty());
        assert_eq!(m.known(), 0);
    }

    #[test]
    fn relist_reports_no_duplicates_and_deletes_the_vanished() {
        let mut m = PodEventMapper::new();
        let (a, b, c) = (
            info("a", "ua", PodPhase::Running),
            info("b", "ub", PodPhase::Running),
            info("c", "uc", PodPhase::Pending),
        );
        m.handle(RawPodEvent::Init);
        m.handle(RawPodEvent::InitApply(a.clone()));
        m.handle(RawPodEvent::InitApply(b.clone()));
        m.handle(RawPodEvent::InitDone);
        // Re-list after a desync: a unchanged, b gone, c new, a' changed later.
        assert!(m.handle(RawPodEvent::Init).is_empty());
        assert!(m.handle(RawPodEvent::InitApply(a.clone())).is_empty());
        assert_eq!(m.handle(RawPodEvent::InitApply(c.clone())), vec![PodEvent::Added(c)]);
        assert_eq!(m.handle(RawPodEvent::InitDone), vec![PodEvent::Deleted(b.id)]);
        let mut a2 = a;
        a2.phase = PodPhase::Succeeded;
        assert_eq!(
            m.handle(RawPodEvent::InitApply(a2.clone())),
            vec![PodEvent::Updated(a2)]
        );
        assert_eq!(m.known(), 2);
    }

    #[test]
    fn pod_json_maps_to_pod_info() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "shop", "name": "nginx-1", "uid": "u-1",
                         "labels": {"app": "nginx"}, "creationTimestamp": "2026-01-02T03:04:00Z"},
            "spec": {"nodeName": "node-a", "containers": [
                {"name": "nginx", "image": "nginx:1.25"}, {"name": "exporter", "image": "nginx-exporter"}]},
            "status": {"phase": "Running", "startTime": "2026-01-02T03:04:05Z"}
        }))
        .unwrap();
        let p = pod_info(&pod).unwrap();
        assert_eq!(p.id, PodId::new("shop", "nginx-1", "u-1"));
        assert_eq!(p.node.as_deref(), Some("node-a"));
        assert_eq!(p.phase, PodPhase::Running);
        assert_eq!(p.start_time, Some(Timestamp::from_secs(1_767_323_045)));
        assert_eq!(p.labels.get("app").map(String::as_str), Some("nginx"));
        assert_eq!(
            p.containers,
            vec![
                ContainerInfo::new("nginx", "nginx:1.25"),
                ContainerInfo::new("exporter", "nginx-exporter")
            ]
        );
        let no_uid: Pod =
            serde_json::from_value(serde_json::json!({"metadata": {"namespace": "a", "name": "b"}})).unwrap();
        assert!(pod_info(&no_uid).is_none());
    }
}
