//! KubePodSource against the fake API server over real HTTP.

mod fake_api;

use cad_core::{PodEvent, PodPhase, PodSource, SourceError};
use cad_k8s::{KubePodSource, PodSourceConfig};
use fake_api::{FakeApi, Res, TestPod};
use futures::stream::{BoxStream, StreamExt};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc;

const NGINX_DIGEST: &str = "sha256:5f44022eab9198d75939d9eaa5341bc077eca16fa51d4ef32d33f1bd4c8cbe7d";
/// Guard against a hung test; never reached when the code works.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// Follows a watch like a real consumer does: a task polls the stream all the
/// time (the stream is lazy; nothing happens while nobody polls it).
struct Watch(mpsc::UnboundedReceiver<Result<PodEvent, SourceError>>);

fn follow(mut s: BoxStream<'static, Result<PodEvent, SourceError>>) -> Watch {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(item) = s.next().await {
            if tx.send(item).is_err() {
                return;
            }
        }
    });
    Watch(rx)
}

async fn next(w: &mut Watch) -> Result<PodEvent, SourceError> {
    tokio::time::timeout(HANG_GUARD, w.0.recv())
        .await
        .expect("the watch stream produced nothing")
        .expect("the watch stream ended")
}

async fn next_ok(w: &mut Watch) -> PodEvent {
    match next(w).await {
        Ok(ev) => ev,
        Err(e) => panic!("unexpected watch error: {e}"),
    }
}

async fn watches(api: &FakeApi, n: usize) {
    tokio::time::timeout(HANG_GUARD, api.wait_for_watches(n))
        .await
        .expect("watch requests arrive");
}

/// A compact label for an event: `A:name`, `U:name:Phase`, `D:name`.
fn tag(ev: &PodEvent) -> String {
    match ev {
        PodEvent::Added(p) => format!("A:{}", p.id.name),
        PodEvent::Updated(p) => format!("U:{}:{:?}", p.id.name, p.phase),
        PodEvent::Deleted(id) => format!("D:{}", id.name),
    }
}

fn by_uid(events: &[PodEvent]) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in events {
        m.entry(e.pod_id().uid.clone()).or_default().push(tag(e));
    }
    m
}

fn source(api: &FakeApi, config: PodSourceConfig) -> KubePodSource {
    KubePodSource::new(api.client(), config)
}

#[tokio::test]
async fn list_maps_pods_with_image_sizes_from_nodes() {
    let api = FakeApi::start().await;
    api.add_node(
        "node-a",
        &[
            (
                &[
                    &format!("docker.io/library/nginx@{NGINX_DIGEST}"),
                    "docker.io/library/nginx:1.25",
                ],
                67_000_000,
            ),
            (&["docker.io/library/nginx:latest"], 70_000_000),
            (&["docker.io/library/nginx-exporter:latest"], 9_000_000),
            (&["localhost:5000/shop/app:1"], 12_345),
        ],
    );
    api.add_pod(&TestPod::new("shop", "nginx-1", "nginx:1.25").container("exporter", "nginx-exporter"));
    // The spec says `nginx` (latest), but the runtime resolved it to the 1.25 digest.
    api.add_pod(&TestPod::new("shop", "nginx-2", "nginx").image_id(&format!("docker.io/library/nginx@{NGINX_DIGEST}")));
    api.add_pod(&TestPod::new("dev", "app-1", "localhost:5000/shop/app:1").phase("Pending"));
    api.add_pod(&TestPod::new("dev", "mystery-1", "quay.io/unknown/thing:2"));

    let pods = source(&api, PodSourceConfig::all()).list().await.expect("list");
    let get = |name: &str| {
        pods.iter()
            .find(|p| p.id.name == name)
            .unwrap_or_else(|| panic!("{name} listed"))
    };
    assert_eq!(pods.len(), 4);

    let n1 = get("nginx-1");
    assert_eq!(n1.id.namespace, "shop");
    assert!(!n1.id.uid.is_empty());
    assert_eq!(n1.node.as_deref(), Some("node-a"));
    assert_eq!(n1.phase, PodPhase::Running);
    assert_eq!(n1.start_time.map(|t| t.as_millis()), Some(1_767_323_045_000));
    assert_eq!(n1.labels.get("app").map(String::as_str), Some("nginx"));
    let sizes: Vec<(&str, Option<u64>)> = n1
        .containers
        .iter()
        .map(|c| (c.name.as_str(), c.image_size_bytes))
        .collect();
    assert_eq!(sizes, vec![("main", Some(67_000_000)), ("exporter", Some(9_000_000))]);

    assert_eq!(get("nginx-2").containers[0].image_size_bytes, Some(67_000_000));
    assert_eq!(get("app-1").containers[0].image_size_bytes, Some(12_345));
    assert_eq!(get("app-1").phase, PodPhase::Pending);
    assert_eq!(get("mystery-1").containers[0].image_size_bytes, None);

    let reqs = api.requests();
    assert!(
        reqs.iter()
            .any(|r| r.method == "GET" && r.path == "/api/v1/pods" && !r.is_watch())
    );
    // Image sizes come from one node listing, not one per pod (the cache holds).
    let node_lists = reqs.iter().filter(|r| r.path == "/api/v1/nodes").count();
    assert!(node_lists <= 2, "nodes listed {node_lists} times");
}

#[tokio::test]
async fn list_pages_through_continue_tokens_and_namespaces() {
    let api = FakeApi::start().await;
    for i in 0..7 {
        api.add_pod(&TestPod::new("a", &format!("p-{i}"), "nginx"));
    }
    api.add_pod(&TestPod::new("b", "q-0", "nginx"));
    api.add_pod(&TestPod::new("c", "r-0", "nginx"));
    let src = source(&api, PodSourceConfig::default().namespaces(["a", "b"]));
    let mut names: Vec<String> = src.list().await.expect("list").into_iter().map(|p| p.id.name).collect();
    names.sort();
    assert_eq!(names, vec!["p-0", "p-1", "p-2", "p-3", "p-4", "p-5", "p-6", "q-0"]);
    let paths: Vec<String> = api.requests().into_iter().map(|r| r.path).collect();
    assert!(paths.contains(&"/api/v1/namespaces/a/pods".to_owned()));
    assert!(paths.contains(&"/api/v1/namespaces/b/pods".to_owned()));
    assert!(!paths.contains(&"/api/v1/pods".to_owned()));
}

#[tokio::test]
async fn watch_reports_initial_pods_then_additions_changes_and_deletions() {
    let api = FakeApi::start().await;
    let a = api.add_pod(&TestPod::new("shop", "nginx-1", "nginx"));
    let b = api.add_pod(&TestPod::new("shop", "mysql-1", "mysql:8"));
    let src = source(&api, PodSourceConfig::default());
    let mut w = follow(src.watch());

    let first = [next_ok(&mut w).await, next_ok(&mut w).await];
    let mut firsts: Vec<String> = first.iter().map(tag).collect();
    firsts.sort();
    assert_eq!(firsts, vec!["A:mysql-1", "A:nginx-1"]);

    watches(&api, 1).await;
    let c = api.add_pod(&TestPod::new("shop", "redis-1", "redis").phase("Pending"));
    assert_eq!(tag(&next_ok(&mut w).await), "A:redis-1");
    api.set_pod_phase("shop", "redis-1", "Running");
    assert_eq!(tag(&next_ok(&mut w).await), "U:redis-1:Running");
    api.delete_pod("shop", "nginx-1");
    let ev = next_ok(&mut w).await;
    assert_eq!(tag(&ev), "D:nginx-1");
    assert_eq!(ev.pod_id().uid, a);
    // A change that does not touch PodInfo's fields is not news; the next event is the deletion.
    api.modify(Res::Pods, "shop", "mysql-1", |p| {
        p["status"]["podIP"] = serde_json::json!("10.42.0.99")
    });
    api.delete_pod("shop", "mysql-1");
    let ev = next_ok(&mut w).await;
    assert_eq!((tag(&ev), ev.pod_id().uid.clone()), ("D:mysql-1".to_owned(), b));
    let _ = c;
}

#[tokio::test]
async fn dropped_connection_resumes_without_losing_or_duplicating_pods() {
    let api = FakeApi::start().await;
    api.add_pod(&TestPod::new("shop", "a-1", "nginx"));
    api.add_pod(&TestPod::new("shop", "b-1", "nginx").phase("Pending"));
    let src = source(&api, PodSourceConfig::default());
    let mut w = follow(src.watch());
    let mut events = vec![next_ok(&mut w).await, next_ok(&mut w).await];
    watches(&api, 1).await;

    // The connection drops; while it is down (partition), pods change.
    api.set_partitioned(true);
    api.drop_watches();
    api.add_pod(&TestPod::new("shop", "c-1", "nginx"));
    api.delete_pod("shop", "a-1");
    api.set_pod_phase("shop", "b-1", "Running");
    api.set_partitioned(false);

    for _ in 0..3 {
        events.push(next_ok(&mut w).await);
    }
    // And the stream goes on after the resume.
    api.delete_pod("shop", "c-1");
    events.push(next_ok(&mut w).await);

    let seqs: Vec<Vec<String>> = by_uid(&events).into_values().collect();
    let mut seqs = seqs;
    seqs.sort();
    assert_eq!(
        seqs,
        vec![
            vec!["A:a-1".to_owned(), "D:a-1".to_owned()],
            vec!["A:b-1".to_owned(), "U:b-1:Running".to_owned()],
            vec!["A:c-1".to_owned(), "D:c-1".to_owned()],
        ]
    );
    // Resumed by a watch from the last resourceVersion, not by a re-list.
    let reqs = api.requests();
    let lists = reqs
        .iter()
        .filter(|r| r.path == "/api/v1/pods" && !r.is_watch())
        .count();
    let watches: Vec<_> = reqs
        .iter()
        .filter(|r| r.path == "/api/v1/pods" && r.is_watch())
        .collect();
    assert_eq!(lists, 1, "a dropped connection must not cause a re-list");
    assert!(watches.len() >= 2);
    assert_eq!(watches[0].param("resourceVersion"), watches[1].param("resourceVersion"));
    assert_eq!(watches[0].param("allowWatchBookmarks").as_deref(), Some("true"));
}

#[tokio::test]
async fn bookmarks_move_the_resume_point() {
    let api = FakeApi::start().await;
    api.add_pod(&TestPod::new("shop", "a-1", "nginx"));
    let src = source(&api, PodSourceConfig::default());
    let mut w = follow(src.watch());
    next_ok(&mut w).await;
    watches(&api, 1).await;
    let last_pod_rv = api.resource_version();
    // Other resources change (the pods' watch sees none of it), then a bookmark, then the connection drops.
    api.add_node("node-z", &[]);
    api.add_node("node-y", &[]);
    let bookmark_rv = api.resource_version();
    api.bookmark();
    api.drop_watches();
    watches(&api, 2).await;
    let watches: Vec<_> = api.requests().into_iter().filter(|r| r.is_watch()).collect();
    let first: u64 = watches[0]
        .param("resourceVersion")
        .and_then(|v| v.parse().ok())
        .expect("rv");
    let resumed: u64 = watches[1]
        .param("resourceVersion")
        .and_then(|v| v.parse().ok())
        .expect("rv");
    assert_eq!(first, last_pod_rv);
    assert_eq!(resumed, bookmark_rv, "the resume must start at the bookmark");
    // Still live.
    api.delete_pod("shop", "a-1");
    assert_eq!(tag(&next_ok(&mut w).await), "D:a-1");
}

#[tokio::test]
async fn gone_410_relists_reports_vanished_pods_deleted_and_duplicates_nothing() {
    let api = FakeApi::start().await;
    api.add_pod(&TestPod::new("shop", "keep-1", "nginx"));
    api.add_pod(&TestPod::new("shop", "gone-1", "nginx"));
    api.add_pod(&TestPod::new("shop", "chg-1", "nginx").phase("Pending"));
    let src = source(&api, PodSourceConfig::default());
    let mut w = follow(src.watch());
    let mut events = Vec::new();
    for _ in 0..3 {
        events.push(next_ok(&mut w).await);
    }
    watches(&api, 1).await;

    api.set_partitioned(true);
    api.drop_watches();
    api.delete_pod("shop", "gone-1");
    api.set_pod_phase("shop", "chg-1", "Running");
    api.add_pod(&TestPod::new("shop", "new-1", "nginx"));
    // The API server forgets the history of the gap: the resume gets 410 Gone.
    api.compact();
    api.set_partitioned(false);

    // Re-list: chg-1 updated, new-1 added, gone-1 deleted (at InitDone). keep-1: nothing.
    for _ in 0..3 {
        events.push(next_ok(&mut w).await);
    }
    // Then live again.
    api.delete_pod("shop", "keep-1");
    events.push(next_ok(&mut w).await);

    let mut seqs: Vec<Vec<String>> = by_uid(&events).into_values().collect();
    seqs.sort();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        seqs,
        vec![
            s(&["A:chg-1", "U:chg-1:Running"]),
            s(&["A:gone-1", "D:gone-1"]),
            s(&["A:keep-1", "D:keep-1"]),
            s(&["A:new-1"]),
        ]
    );
    let reqs = api.requests();
    let lists = reqs
        .iter()
        .filter(|r| r.path == "/api/v1/pods" && !r.is_watch())
        .count();
    assert_eq!(lists, 2, "410 Gone must lead to exactly one re-list");
}

#[tokio::test]
async fn node_field_selector_restricts_pods_to_one_node() {
    let api = FakeApi::start().await;
    api.add_node("node-a", &[(&["docker.io/library/nginx:latest"], 70)]);
    api.add_node("node-b", &[(&["docker.io/library/nginx:latest"], 99)]);
    api.add_pod(&TestPod::new("shop", "here-1", "nginx").on("node-a"));
    api.add_pod(&TestPod::new("shop", "there-1", "nginx").on("node-b"));
    let src = source(&api, PodSourceConfig::all().node("node-a"));

    let pods = src.list().await.expect("list");
    assert_eq!(
        pods.iter().map(|p| p.id.name.as_str()).collect::<Vec<_>>(),
        vec!["here-1"]
    );
    assert_eq!(pods[0].containers[0].image_size_bytes, Some(70));

    let mut w = follow(src.watch());
    assert_eq!(tag(&next_ok(&mut w).await), "A:here-1");
    watches(&api, 1).await;
    api.add_pod(&TestPod::new("shop", "there-2", "nginx").on("node-b"));
    api.add_pod(&TestPod::new("shop", "here-2", "nginx").on("node-a"));
    assert_eq!(tag(&next_ok(&mut w).await), "A:here-2");

    let reqs = api.requests();
    let pod_reqs: Vec<_> = reqs.iter().filter(|r| r.path == "/api/v1/pods").collect();
    assert!(
        pod_reqs
            .iter()
            .all(|r| r.param("fieldSelector").as_deref() == Some("spec.nodeName=node-a"))
    );
    let node_reqs: Vec<_> = reqs.iter().filter(|r| r.path == "/api/v1/nodes").collect();
    assert!(
        node_reqs
            .iter()
            .all(|r| r.param("fieldSelector").as_deref() == Some("metadata.name=node-a"))
    );
}

#[tokio::test]
async fn label_selector_is_passed_through() {
    let api = FakeApi::start().await;
    api.add_pod(&TestPod::new("shop", "a-1", "nginx").label("tier", "web"));
    api.add_pod(&TestPod::new("shop", "b-1", "nginx").label("tier", "db"));
    let src = source(&api, PodSourceConfig::default().label_selector("tier=web"));
    let names: Vec<String> = src.list().await.expect("list").into_iter().map(|p| p.id.name).collect();
    assert_eq!(names, vec!["a-1"]);
}

#[tokio::test]
async fn rbac_denial_is_a_clear_denied_error() {
    let api = FakeApi::start().await;
    api.add_pod(&TestPod::new("shop", "a-1", "nginx"));
    api.deny("list", Res::Pods);
    let src = source(&api, PodSourceConfig::default());
    let err = src.list().await.expect_err("list must be refused");
    let SourceError::Denied { .. } = &err else {
        panic!("expected Denied, got {err:?}")
    };
    // What RBAC said is in the cause (K8sError), printed once after the message.
    let message = cad_core::ErrorChain(&err).to_string();
    assert!(message.contains("may not list pods"), "{message}");
    assert!(
        message.contains("must grant verb \"list\" on resource \"pods\""),
        "{message}"
    );
    assert!(
        message.contains(r#"pods is forbidden: User "system:serviceaccount:cad:cad-watcher" cannot list resource "pods" in API group "" at the cluster scope"#),
        "{message}"
    );
    let typed = src.list_pods().await.expect_err("refused");
    assert!(
        matches!(typed, cad_k8s::K8sError::Forbidden { ref verb, ref resource, .. } if verb == "list" && resource == "pods")
    );

    // The watch reports the same, and recovers once the Role is fixed.
    let mut w = follow(src.watch());
    let first = next(&mut w).await;
    assert!(matches!(first, Err(SourceError::Denied { .. })), "{first:?}");
    api.allow("list", Res::Pods);
    assert_eq!(tag(&next_ok(&mut w).await), "A:a-1");

    // Namespaced denial names the namespace.
    api.deny("list", Res::Pods);
    let ns_src = source(&api, PodSourceConfig::default().namespaces(["shop"]));
    let msg = cad_core::ErrorChain(&ns_src.list().await.expect_err("refused")).to_string();
    assert!(msg.contains(r#"in the namespace "shop""#), "{msg}");
}

#[tokio::test]
async fn image_sizes_survive_a_denied_node_listing() {
    let api = FakeApi::start().await;
    api.add_node("node-a", &[(&["docker.io/library/nginx:latest"], 70)]);
    api.add_pod(&TestPod::new("shop", "a-1", "nginx"));
    api.deny("list", Res::Nodes);
    let pods = source(&api, PodSourceConfig::all())
        .list()
        .await
        .expect("pods still list");
    assert_eq!(pods[0].containers[0].image_size_bytes, None);
}
