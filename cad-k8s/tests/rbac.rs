//! The RBAC rules in `deploy/` against the API calls the programs make.
//!
//! Each test runs what one program does with cad-k8s's public API against the
//! fake API server, takes the fake's record of requests, and checks, for the
//! program's service account as bound in `deploy/`:
//!
//! * every request is granted (verb, API group, resource, namespace and —
//!   where the rule has `resourceNames` — the object's name; a list or watch
//!   names its object with the field selector `metadata.name=…`, as the real
//!   API server's authoriser reads it);
//! * every granted (verb, group, resource, name) is used by some request:
//!   no unused rule, so least privilege is checked in both directions.
//!
//! The names the programs use (model ConfigMap, service accounts) come from
//! the workloads in `deploy/` too, so a renamed ConfigMap or service account
//! breaks this test instead of a cluster.

mod fake_api;

use cad_core::PodId;
use cad_core::PodSource;
use cad_k8s::{ConfigMapModelStore, KubeEventRecorder, KubePodSource, PodSourceConfig, VerdictNote};
use fake_api::{FakeApi, RecordedRequest, Res, TestPod};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// Guard against a hung test; never reached when the code works.
const HANG_GUARD: Duration = Duration::from_secs(30);

// ---- reading deploy/ ---------------------------------------------------------

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn yaml_docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("parse {}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

/// The objects of a kustomization (or component) directory: its `resources`
/// (files, or directories with their own kustomization) and `components`,
/// with the kustomization's `namespace` set on namespaced objects. Patches are
/// not applied: none of deploy/'s patches touch RBAC objects.
fn kustomize(dir: &Path) -> Vec<Value> {
    let k = yaml_docs(&dir.join("kustomization.yaml"))
        .into_iter()
        .next()
        .expect("a kustomization document");
    let mut out = Vec::new();
    for key in ["resources", "components"] {
        for entry in k[key].as_array().into_iter().flatten() {
            let rel = entry.as_str().expect("resource entries are strings");
            let path = dir.join(rel);
            if path.is_dir() {
                out.extend(kustomize(&path));
            } else {
                out.extend(yaml_docs(&path));
            }
        }
    }
    if let Some(ns) = k["namespace"].as_str() {
        for obj in &mut out {
            let cluster_scoped = matches!(
                obj["kind"].as_str(),
                Some("Namespace" | "ClusterRole" | "ClusterRoleBinding")
            );
            if !cluster_scoped {
                obj["metadata"]["namespace"] = Value::from(ns);
            }
        }
    }
    out
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name} not in deploy/"))
}

/// The pod template's first container's environment variable `key`.
fn env_of(workload: &Value, key: &str) -> String {
    let spec = match workload["kind"].as_str() {
        Some("CronJob") => &workload["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => &workload["spec"]["template"]["spec"],
    };
    spec["containers"][0]["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == key)
        .and_then(|e| e["value"].as_str())
        .unwrap_or_else(|| panic!("{key} not set on {}", workload["metadata"]["name"]))
        .to_owned()
}

/// `(namespace, name)` of the service account a workload runs as.
fn service_account_of(workload: &Value) -> (String, String) {
    let spec = match workload["kind"].as_str() {
        Some("CronJob") => &workload["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => &workload["spec"]["template"]["spec"],
    };
    (
        workload["metadata"]["namespace"]
            .as_str()
            .expect("namespace")
            .to_owned(),
        spec["serviceAccountName"]
            .as_str()
            .expect("serviceAccountName")
            .to_owned(),
    )
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().expect("RBAC lists hold strings").to_owned())
        .collect()
}

/// One rule as bound to a service account: cluster-wide or in one namespace.
#[derive(Debug, Clone)]
struct Grant {
    /// `None`: cluster-wide (ClusterRoleBinding); `Some(ns)`: RoleBinding in `ns`.
    namespace: Option<String>,
    role: String,
    groups: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
    names: Vec<String>,
}

/// Every rule bound to the service account `ns/sa` in these objects.
fn grants_for(objs: &[Value], (ns, sa): &(String, String)) -> Vec<Grant> {
    let mut out = Vec::new();
    for b in objs
        .iter()
        .filter(|o| o["kind"] == "RoleBinding" || o["kind"] == "ClusterRoleBinding")
    {
        let bound = b["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["kind"] == "ServiceAccount" && s["name"] == sa.as_str() && s["namespace"] == ns.as_str());
        if !bound {
            continue;
        }
        let role_kind = b["roleRef"]["kind"].as_str().expect("roleRef.kind");
        let role_name = b["roleRef"]["name"].as_str().expect("roleRef.name");
        let role = find(objs, role_kind, role_name);
        let scope = match b["kind"].as_str() {
            Some("RoleBinding") => Some(b["metadata"]["namespace"].as_str().expect("namespace").to_owned()),
            _ => None,
        };
        if role_kind == "Role" {
            assert_eq!(
                scope.as_deref(),
                role["metadata"]["namespace"].as_str(),
                "RoleBinding {role_name} must be in its Role's namespace"
            );
        }
        for rule in role["rules"].as_array().into_iter().flatten() {
            out.push(Grant {
                namespace: scope.clone(),
                role: format!("{role_kind}/{role_name}"),
                groups: strings(&rule["apiGroups"]),
                resources: strings(&rule["resources"]),
                verbs: strings(&rule["verbs"]),
                names: strings(&rule["resourceNames"]),
            });
        }
    }
    out
}

// ---- requests as the authoriser sees them ---------------------------------

/// What RBAC decides on for one request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Attrs {
    verb: String,
    group: String,
    resource: String,
    namespace: Option<String>,
    /// The object's name: from the path, or a list/watch's `metadata.name` field selector.
    name: Option<String>,
}

impl std::fmt::Display for Attrs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.verb, self.group, self.resource)?;
        if let Some(n) = &self.name {
            write!(f, " name={n}")?;
        }
        match &self.namespace {
            Some(ns) => write!(f, " in namespace {ns}"),
            None => write!(f, " cluster-wide"),
        }
    }
}

fn attrs(r: &RecordedRequest) -> Attrs {
    let (verb, group, resource) = r.rbac().unwrap_or_else(|| panic!("unrecognised request {r:?}"));
    let segs: Vec<&str> = r.path.trim_matches('/').split('/').collect();
    let rest = match segs.as_slice() {
        ["api", _version, rest @ ..] | ["apis", _, _version, rest @ ..] => rest,
        _ => panic!("unrecognised path {}", r.path),
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some((*ns).to_owned()), rest),
        _ => (None, rest),
    };
    let name = match rest {
        [_, name] => Some((*name).to_owned()),
        _ => r.param("fieldSelector").and_then(|fs| {
            fs.split(',')
                .find_map(|term| term.strip_prefix("metadata.name=").map(str::to_owned))
        }),
    };
    Attrs {
        verb,
        group,
        resource,
        namespace,
        name,
    }
}

fn covers(list: &[String], item: &str) -> bool {
    list.iter().any(|x| x == item || x == "*")
}

fn allows(g: &Grant, a: &Attrs) -> bool {
    let in_scope = match &g.namespace {
        None => true,
        Some(ns) => a.namespace.as_deref() == Some(ns.as_str()),
    };
    let named = g.names.is_empty() || a.name.as_deref().is_some_and(|n| g.names.iter().any(|x| x == n));
    in_scope && named && covers(&g.verbs, &a.verb) && covers(&g.groups, &a.group) && covers(&g.resources, &a.resource)
}

/// The requests that no grant allows.
fn denied(grants: &[Grant], requests: &[Attrs]) -> BTreeSet<String> {
    requests
        .iter()
        .filter(|a| !grants.iter().any(|g| allows(g, a)))
        .map(ToString::to_string)
        .collect()
}

/// The granted (verb, group, resource, name) combinations no request uses.
fn unused(grants: &[Grant], requests: &[Attrs]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for g in grants {
        let names: Vec<Option<&String>> = if g.names.is_empty() {
            vec![None]
        } else {
            g.names.iter().map(Some).collect()
        };
        for verb in &g.verbs {
            for group in &g.groups {
                for resource in &g.resources {
                    for name in &names {
                        let used = requests.iter().any(|a| {
                            a.verb == *verb
                                && a.group == *group
                                && a.resource == *resource
                                && name.is_none_or(|n| a.name.as_ref() == Some(n))
                                && allows(g, a)
                        });
                        if !used {
                            out.insert(format!(
                                "{}: {verb} {group}/{resource}{}",
                                g.role,
                                name.map(|n| format!(" name={n}")).unwrap_or_default()
                            ));
                        }
                    }
                }
            }
        }
    }
    out
}

/// Checks both directions and that no rule uses a wildcard.
fn assert_least_privilege(who: &str, grants: &[Grant], requests: &[Attrs]) {
    assert!(!grants.is_empty(), "{who}: no rules bound to its service account");
    assert!(!requests.is_empty(), "{who}: made no API requests");
    for g in grants {
        for list in [&g.verbs, &g.groups, &g.resources] {
            assert!(!list.iter().any(|x| x == "*"), "{who}: {} has a wildcard", g.role);
        }
    }
    let missing = denied(grants, requests);
    assert!(
        missing.is_empty(),
        "{who}: requests deploy/ does not grant: {missing:#?}"
    );
    let extra = unused(grants, requests);
    assert!(extra.is_empty(), "{who}: deploy/ grants what is never used: {extra:#?}");
}

// ---- the programs' API calls ----------------------------------------------

fn split_ns_name(s: &str) -> (String, String) {
    let (ns, name) = s
        .split_once('/')
        .unwrap_or_else(|| panic!("{s:?} is not namespace/name"));
    (ns.to_owned(), name.to_owned())
}

/// A fake cluster holding deploy/'s model ConfigMap, two nodes and some pods.
async fn cluster(objs: &[Value]) -> FakeApi {
    let api = FakeApi::start().await;
    api.upsert(Res::ConfigMaps, find(objs, "ConfigMap", "cad-model").clone());
    api.add_node("node-a", &[(&["docker.io/library/nginx:1.27"], 70_000_000)]);
    api.add_node("node-b", &[(&["docker.io/library/mysql:8.4"], 600_000_000)]);
    api.add_pod(
        &TestPod::new("shop", "nginx-1", "nginx:1.27")
            .on("node-a")
            .phase("Running"),
    );
    api.add_pod(
        &TestPod::new("shop", "mysql-1", "mysql:8.4")
            .on("node-b")
            .phase("Running"),
    );
    api
}

/// What `cad-collector --source cluster --publish` does through the API:
/// list pods (with image sizes from the nodes), then publish the model.
async fn run_collector(api: &FakeApi, configmap: &str, key: &str) -> Result<(), cad_k8s::K8sError> {
    let pods = KubePodSource::new(api.client(), PodSourceConfig::all())
        .list_pods()
        .await
        .expect("list pods");
    assert_eq!(pods.len(), 2);
    assert!(
        pods.iter()
            .flat_map(|p| &p.containers)
            .all(|c| c.image_size_bytes.is_some()),
        "image sizes come from the nodes"
    );
    let (ns, name) = split_ns_name(configmap);
    ConfigMapModelStore::new(api.client(), ns, name, key)
        .publish_bytes(b"a model")
        .await
}

/// What `cad-watcher` does through the API: follow the model ConfigMap,
/// follow pods (optionally on one node), record a verdict as an Event, and
/// (with `--annotate`) annotate the pod.
async fn run_watcher(api: &FakeApi, configmap: &str, node: Option<&str>, annotate: bool) {
    let (ns, name) = split_ns_name(configmap);
    let store = ConfigMapModelStore::new(api.client(), ns.clone(), name.clone(), "model.cadm");
    // The shipped ConfigMap may still be the placeholder without the key.
    match store.load_bytes().await {
        Ok(_) => {}
        Err(e) => assert!(e.is_not_found(), "load: {e}"),
    }
    // Streams are lazy: a task keeps polling each, as the watcher's loop does.
    let mut models = follow(store.watch_bytes());
    api.modify(Res::ConfigMaps, &ns, &name, |cm| {
        cm["binaryData"] = serde_json::json!({"model.cadm": "bmV3IG1vZGVs"});
    });
    let first = tokio::time::timeout(HANG_GUARD, models.recv())
        .await
        .expect("a model arrives")
        .expect("stream goes on")
        .expect("model bytes");
    assert_eq!(first, b"new model");

    let mut config = PodSourceConfig::all();
    if let Some(n) = node {
        config = config.node(n);
    }
    let mut pods = follow(KubePodSource::new(api.client(), config).watch());
    let expected = if node.is_some() { 1 } else { 2 };
    for _ in 0..expected {
        tokio::time::timeout(HANG_GUARD, pods.recv())
            .await
            .expect("pod events arrive")
            .expect("stream goes on")
            .expect("pod event");
    }
    // Both followed lists turn into watches once their initial list is done.
    tokio::time::timeout(HANG_GUARD, api.wait_for_watches(2))
        .await
        .expect("the model and the pods are watched");

    let pod = api.get(Res::Pods, "shop", "nginx-1").expect("pod");
    let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
    let note = VerdictNote {
        pod: PodId::new("shop", "nginx-1", uid),
        container: "main".into(),
        predicted: "nginx".into(),
        claimed: Some("nginx".into()),
        anomaly: false,
        kind: cad_core::openset::Kind::AsClaimed,
        p_value: None,
        behaves_like: Some("nginx".into()),
        confidence: 0.97,
    };
    KubeEventRecorder::new(api.client(), "cad-watcher-0")
        .with_annotations(annotate)
        .record(&note)
        .await
        .expect("event recorded");
}

/// Polls a stream in a task and hands its items over a channel.
fn follow<T: Send + 'static>(mut s: futures::stream::BoxStream<'static, T>) -> mpsc::UnboundedReceiver<T> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(item) = s.next().await {
            if tx.send(item).is_err() {
                return;
            }
        }
    });
    rx
}

fn recorded(api: &FakeApi) -> Vec<Attrs> {
    api.requests().iter().map(attrs).collect()
}

// ---- the tests -------------------------------------------------------------

#[tokio::test]
async fn collector_rbac_is_exactly_what_the_collector_uses() {
    let objs = kustomize(&deploy_dir());
    let cron = find(&objs, "CronJob", "cad-collector");
    let grants = grants_for(&objs, &service_account_of(cron));

    let api = cluster(&objs).await;
    run_collector(&api, &env_of(cron, "CAD_CONFIGMAP"), &env_of(cron, "CAD_CONFIGMAP_KEY"))
        .await
        .expect("publish");
    let requests = recorded(&api);
    assert!(
        requests
            .iter()
            .any(|a| a.verb == "update" && a.resource == "configmaps"),
        "the model was replaced: {requests:?}"
    );
    assert_least_privilege("cad-collector", &grants, &requests);
}

/// `create` cannot be limited to one name, so it is not granted: deploy/
/// ships the ConfigMap. Without it, publishing needs a `create` that the
/// collector's roles refuse — the check sees it.
#[tokio::test]
async fn collector_cannot_create_configmaps() {
    let objs = kustomize(&deploy_dir());
    let cron = find(&objs, "CronJob", "cad-collector");
    let grants = grants_for(&objs, &service_account_of(cron));

    let api = cluster(&objs).await;
    let (ns, name) = split_ns_name(&env_of(cron, "CAD_CONFIGMAP"));
    assert!(api.delete(Res::ConfigMaps, &ns, &name));
    run_collector(&api, &env_of(cron, "CAD_CONFIGMAP"), &env_of(cron, "CAD_CONFIGMAP_KEY"))
        .await
        .expect("the fake allows everything");
    let missing = denied(&grants, &recorded(&api));
    assert_eq!(
        missing,
        BTreeSet::from([format!("create /configmaps in namespace {ns}")]),
        "only the create is refused"
    );
}

#[tokio::test]
async fn watcher_rbac_is_exactly_what_the_watcher_uses() {
    let objs = kustomize(&deploy_dir());
    let deployment = find(&objs, "Deployment", "cad-watcher");
    let grants = grants_for(&objs, &service_account_of(deployment));
    assert!(
        !deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["name"] == "CAD_ANNOTATE"),
        "the base does not annotate"
    );

    let api = cluster(&objs).await;
    run_watcher(&api, &env_of(deployment, "CAD_MODEL_CONFIGMAP"), None, false).await;
    let requests = recorded(&api);
    assert_least_privilege("cad-watcher", &grants, &requests);
}

#[tokio::test]
async fn daemonset_watcher_needs_no_more_than_the_base_grants() {
    let objs = kustomize(&deploy_dir().join("overlays/daemonset"));
    let ds = find(&objs, "DaemonSet", "cad-watcher");
    let grants = grants_for(&objs, &service_account_of(ds));
    let node_env = ds["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == "CAD_NODE_NAME")
        .expect("CAD_NODE_NAME set")
        .clone();
    assert_eq!(node_env["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName");

    let api = cluster(&objs).await;
    run_watcher(&api, &env_of(ds, "CAD_MODEL_CONFIGMAP"), Some("node-a"), false).await;
    let requests = recorded(&api);
    let pod_reads: Vec<RecordedRequest> = api
        .requests()
        .into_iter()
        .filter(|r| r.rbac().is_some_and(|(_, _, res)| res == "pods") && r.method == "GET")
        .collect();
    assert!(
        pod_reads.iter().any(RecordedRequest::is_watch)
            && pod_reads
                .iter()
                .all(|r| r.param("fieldSelector").as_deref() == Some("spec.nodeName=node-a")),
        "the DaemonSet watcher only lists and watches its node's pods: {pod_reads:?}"
    );
    assert_least_privilege("cad-watcher (DaemonSet)", &grants, &requests);
}

#[tokio::test]
async fn annotating_watcher_rbac_is_exactly_what_it_uses() {
    let objs = kustomize(&deploy_dir().join("overlays/annotate"));
    let deployment = find(&objs, "Deployment", "cad-watcher");
    let sa = service_account_of(deployment);
    let grants = grants_for(&objs, &sa);

    let api = cluster(&objs).await;
    run_watcher(&api, &env_of(deployment, "CAD_MODEL_CONFIGMAP"), None, true).await;
    let requests = recorded(&api);
    assert!(requests.iter().any(|a| a.verb == "patch" && a.resource == "pods"));
    assert_least_privilege("cad-watcher (annotate)", &grants, &requests);

    // Without the component the patch is refused.
    let base = grants_for(&kustomize(&deploy_dir()), &sa);
    assert_eq!(
        denied(&base, &requests),
        BTreeSet::from(["patch /pods name=nginx-1 in namespace shop".to_owned()])
    );
}
