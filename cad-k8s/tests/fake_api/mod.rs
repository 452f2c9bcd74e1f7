//! A fake Kubernetes API server for the loopback tests: axum on 127.0.0.1,
//! spoken to by the real `kube` client.
//!
//! It is faithful where cad relies on the API's behaviour: the real paths,
//! `*List` envelopes with `metadata.resourceVersion`, paging with
//! `limit`/`continue`, label and field selectors, `watch=true` streams of
//! newline-delimited `{"type","object"}` events replayed from a given
//! resourceVersion, bookmarks, `timeoutSeconds`, `410 Gone` (an `ERROR` event
//! with an `Expired` Status) for a resourceVersion older than the retained
//! history, `Status` objects for 403/404/409, optimistic concurrency on
//! replace, and JSON merge patches.
//!
//! The [`FakeApi`] handle changes objects, drops watch connections,
//! partitions the network (new watch requests wait), compacts history,
//! denies verbs per resource, and records every request.
#![allow(dead_code)]

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

/// The user the fake pretends cad runs as (for 403 messages).
pub const USER: &str = "system:serviceaccount:cad:cad-watcher";

/// A resource type the fake serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Res {
    Pods,
    Nodes,
    ConfigMaps,
    Events,
    PodMetrics,
}

impl Res {
    fn from_path(group: &str, plural: &str) -> Option<Res> {
        Some(match (group, plural) {
            ("", "pods") => Res::Pods,
            ("", "nodes") => Res::Nodes,
            ("", "configmaps") => Res::ConfigMaps,
            ("events.k8s.io", "events") => Res::Events,
            ("metrics.k8s.io", "pods") => Res::PodMetrics,
            _ => return None,
        })
    }
    pub fn plural(self) -> &'static str {
        match self {
            Res::Pods | Res::PodMetrics => "pods",
            Res::Nodes => "nodes",
            Res::ConfigMaps => "configmaps",
            Res::Events => "events",
        }
    }
    pub fn group(self) -> &'static str {
        match self {
            Res::Events => "events.k8s.io",
            Res::PodMetrics => "metrics.k8s.io",
            _ => "",
        }
    }
    fn kind(self) -> &'static str {
        match self {
            Res::Pods => "Pod",
            Res::Nodes => "Node",
            Res::ConfigMaps => "ConfigMap",
            Res::Events => "Event",
            Res::PodMetrics => "PodMetrics",
        }
    }
    fn api_version(self) -> &'static str {
        match self {
            Res::Events => "events.k8s.io/v1",
            Res::PodMetrics => "metrics.k8s.io/v1beta1",
            _ => "v1",
        }
    }
    fn namespaced(self) -> bool {
        self != Res::Nodes
    }
    fn fields(self) -> &'static [&'static str] {
        match self {
            Res::Pods => &["metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"],
            _ => &["metadata.name", "metadata.namespace"],
        }
    }
}

/// One request as the fake saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
}

impl RecordedRequest {
    /// The RBAC (verb, API group, resource) this request needs.
    pub fn rbac(&self) -> Option<(String, String, String)> {
        let target = parse_target(&self.path)?;
        let watch = query_map(self.query.as_deref())
            .get("watch")
            .is_some_and(|w| w == "true" || w == "1");
        let verb = verb_of(&self.method, target.name.is_some(), watch)?;
        Some((
            verb.to_owned(),
            target.res.group().to_owned(),
            target.res.plural().to_owned(),
        ))
    }
    /// Whether this was a watch request.
    pub fn is_watch(&self) -> bool {
        query_map(self.query.as_deref())
            .get("watch")
            .is_some_and(|w| w == "true" || w == "1")
    }
    /// One query parameter.
    pub fn param(&self, key: &str) -> Option<String> {
        query_map(self.query.as_deref()).get(key).cloned()
    }
}

fn query_map(q: Option<&str>) -> HashMap<String, String> {
    url_decode_pairs(q.unwrap_or(""))
}

fn url_decode_pairs(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (pct_decode(k), pct_decode(v))
        })
        .collect()
}

fn pct_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug)]
struct Target {
    res: Res,
    ns: Option<String>,
    name: Option<String>,
}

/// `/api/v1/[namespaces/{ns}/]{plural}[/{name}]` or `/apis/{group}/{version}/…`.
fn parse_target(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return None,
    };
    let (ns, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
        _ => (None, rest),
    };
    let (plural, name) = match rest {
        [plural] => (*plural, None),
        [plural, name] => (*plural, Some(name.to_string())),
        _ => return None,
    };
    Some(Target {
        res: Res::from_path(group, plural)?,
        ns,
        name,
    })
}

fn verb_of(method: &str, named: bool, watch: bool) -> Option<&'static str> {
    Some(match (method, named) {
        ("GET", _) if watch => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", false) => "create",
        ("PUT", true) => "update",
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => return None,
    })
}

#[derive(Clone, Debug)]
enum ChangeType {
    Added,
    Modified,
    Deleted,
}

#[derive(Clone, Debug)]
struct Change {
    rv: u64,
    res: Res,
    ty: ChangeType,
    old: Option<Value>,
    new: Value,
}

#[derive(Clone, Debug)]
enum Msg {
    Change(Change),
    Bookmark(u64),
    /// End every open stream (after the messages sent before it).
    Drop,
}

type Key = (Res, String, String);

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    history: Vec<Change>,
    compacted_at: u64,
    denied: HashSet<(String, Res)>,
    requests: Vec<RecordedRequest>,
    stale_updates: usize,
    metrics_api: bool,
    next_uid: u64,
    /// Paginated lists in progress: id → (resourceVersion, the full result).
    /// Like the real API server, every page of a list comes from one
    /// consistent snapshot and reports its resourceVersion.
    list_snapshots: HashMap<u64, (u64, Vec<Value>)>,
}

struct Shared {
    inner: Mutex<Inner>,
    changes: broadcast::Sender<Msg>,
    gate_open: watch::Sender<bool>,
    active_watches: watch::Sender<usize>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake API server and its control handle.
pub struct FakeApi {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn status(code: u16, reason: &str, message: &str, details: Value) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "details": details, "code": code})
}

fn status_response(code: u16, reason: &str, message: &str, details: Value) -> Response {
    let body = status(code, reason, message, details).to_string();
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn json_response(code: StatusCode, v: &Value) -> Response {
    (code, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn get_str<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    path.split('.').try_fold(v, |v, k| v.get(k))?.as_str()
}

fn obj_ns(v: &Value) -> String {
    get_str(v, "metadata.namespace").unwrap_or("").to_owned()
}

fn obj_name(v: &Value) -> String {
    get_str(v, "metadata.name").unwrap_or("").to_owned()
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().expect("made an object above");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

#[derive(Clone, Debug, Default)]
struct Selectors {
    labels: Vec<(String, Op, String)>,
    fields: Vec<(String, Op, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Eq,
    Ne,
    Exists,
    NotExists,
}

impl Selectors {
    fn parse(res: Res, q: &HashMap<String, String>) -> Result<Selectors, String> {
        let mut s = Selectors::default();
        if let Some(l) = q.get("labelSelector").filter(|l| !l.is_empty()) {
            for term in l.split(',') {
                let term = term.trim();
                if term.contains(" in ") || term.contains(" notin ") || term.contains('(') {
                    return Err(format!("set-based selector not supported by the fake: {term}"));
                }
                s.labels.push(parse_term(term, true)?);
            }
        }
        if let Some(f) = q.get("fieldSelector").filter(|f| !f.is_empty()) {
            for term in f.split(',') {
                let t = parse_term(term.trim(), false)?;
                if !res.fields().contains(&t.0.as_str()) {
                    return Err(format!("field label not supported: {}", t.0));
                }
                s.fields.push(t);
            }
        }
        Ok(s)
    }

    fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        let labels_ok = self.labels.iter().all(|(k, op, v)| match op {
            Op::Eq => label(k) == Some(v.as_str()),
            Op::Ne => label(k) != Some(v.as_str()),
            Op::Exists => label(k).is_some(),
            Op::NotExists => label(k).is_none(),
        });
        let fields_ok = self.fields.iter().all(|(k, op, v)| {
            let actual = get_str(obj, k).unwrap_or("");
            match op {
                Op::Ne => actual != v,
                _ => actual == v,
            }
        });
        labels_ok && fields_ok
    }
}

fn parse_term(term: &str, label: bool) -> Result<(String, Op, String), String> {
    if let Some((k, v)) = term.split_once("!=") {
        return Ok((k.trim().to_owned(), Op::Ne, v.trim().to_owned()));
    }
    if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return Ok((k.trim().to_owned(), Op::Eq, v.trim().to_owned()));
    }
    if label && !term.is_empty() {
        return Ok(match term.strip_prefix('!') {
            Some(k) => (k.to_owned(), Op::NotExists, String::new()),
            None => (term.to_owned(), Op::Exists, String::new()),
        });
    }
    Err(format!("invalid selector: {term:?}"))
}

#[derive(Clone)]
struct App(Arc<Shared>);

impl FakeApi {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> FakeApi {
        let (changes, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                list_snapshots: HashMap::new(),
                rv: 100,
                objects: BTreeMap::new(),
                history: Vec::new(),
                compacted_at: 0,
                denied: HashSet::new(),
                requests: Vec::new(),
                stale_updates: 0,
                metrics_api: true,
                next_uid: 1,
            }),
            changes,
            gate_open: watch::channel(true).0,
            active_watches: watch::channel(0).0,
        });
        let app = App(shared.clone());
        let router = Router::new()
            .fallback(dispatch)
            .layer(middleware::from_fn_with_state(app.clone(), record_and_authorize))
            .with_state(app);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        FakeApi { shared, addr, server }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A real `kube` client pointed at the fake.
    pub fn client(&self) -> kube::Client {
        cad_k8s::client_for_url(&self.url()).expect("client for loopback URL")
    }

    // ---- objects -------------------------------------------------------

    /// Creates or replaces an object (server-side fields filled in). Returns the stored object.
    pub fn upsert(&self, res: Res, mut obj: Value) -> Value {
        let mut inner = self.shared.lock();
        upsert_locked(&self.shared, &mut inner, res, &mut obj);
        obj
    }

    /// Applies `f` to an existing object and stores it as a modification.
    pub fn modify(&self, res: Res, ns: &str, name: &str, f: impl FnOnce(&mut Value)) {
        let mut inner = self.shared.lock();
        let key = (res, ns.to_owned(), name.to_owned());
        let mut obj = inner.objects.get(&key).cloned().expect("object to modify exists");
        f(&mut obj);
        upsert_locked(&self.shared, &mut inner, res, &mut obj);
    }

    /// Deletes an object (a DELETED event goes out).
    pub fn delete(&self, res: Res, ns: &str, name: &str) -> bool {
        let mut inner = self.shared.lock();
        delete_locked(&self.shared, &mut inner, res, ns, name)
    }

    /// The stored object.
    pub fn get(&self, res: Res, ns: &str, name: &str) -> Option<Value> {
        self.shared
            .lock()
            .objects
            .get(&(res, ns.to_owned(), name.to_owned()))
            .cloned()
    }

    /// All stored objects of one resource.
    pub fn objects(&self, res: Res) -> Vec<Value> {
        self.shared
            .lock()
            .objects
            .iter()
            .filter(|(k, _)| k.0 == res)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Adds a pod; returns its uid.
    pub fn add_pod(&self, pod: &TestPod) -> String {
        let stored = self.upsert(Res::Pods, pod.to_json());
        get_str(&stored, "metadata.uid").unwrap_or_default().to_owned()
    }

    /// Deletes a pod.
    pub fn delete_pod(&self, ns: &str, name: &str) -> bool {
        self.delete(Res::Pods, ns, name)
    }

    /// Sets a pod's phase.
    pub fn set_pod_phase(&self, ns: &str, name: &str, phase: &str) {
        self.modify(Res::Pods, ns, name, |p| p["status"]["phase"] = json!(phase));
    }

    /// Adds a node holding these images (`names`, `sizeBytes`).
    pub fn add_node(&self, name: &str, images: &[(&[&str], u64)]) {
        let images: Vec<Value> = images
            .iter()
            .map(|(names, size)| json!({"names": names, "sizeBytes": size}))
            .collect();
        self.upsert(
            Res::Nodes,
            json!({
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
                "spec": {"podCIDR": "10.42.0.0/24"},
                "status": {"images": images, "nodeInfo": {"kubeletVersion": "v1.33.1", "containerRuntimeVersion": "containerd://2.0.5"},
                           "conditions": [{"type": "Ready", "status": "True"}]}
            }),
        );
    }

    // ---- faults and control ---------------------------------------------

    /// Ends every open watch stream (as a dropped connection would), after
    /// whatever was sent to it before.
    pub fn drop_watches(&self) {
        let _ = self.shared.changes.send(Msg::Drop);
    }

    /// While partitioned, new watch requests wait (the connection hangs)
    /// until the partition heals.
    pub fn set_partitioned(&self, on: bool) {
        self.shared.gate_open.send_replace(!on);
    }

    /// Forgets all history: a watch from any older resourceVersion gets 410 Gone.
    pub fn compact(&self) {
        let mut inner = self.shared.lock();
        inner.compacted_at = inner.rv;
        inner.history.clear();
        // Continue tokens of lists in progress expire with the history.
        inner.list_snapshots.clear();
    }

    /// Sends a BOOKMARK with the current resourceVersion to watchers that asked for bookmarks.
    pub fn bookmark(&self) {
        let inner = self.shared.lock();
        let _ = self.shared.changes.send(Msg::Bookmark(inner.rv));
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.lock().rv
    }

    /// Refuses `verb` on `res` with a 403 like RBAC does.
    pub fn deny(&self, verb: &str, res: Res) {
        self.shared.lock().denied.insert((verb.to_owned(), res));
    }

    /// Lifts a denial.
    pub fn allow(&self, verb: &str, res: Res) {
        self.shared.lock().denied.remove(&(verb.to_owned(), res));
    }

    /// Makes the next `n` updates (PUT) find the object changed by another writer.
    pub fn stale_next_updates(&self, n: usize) {
        self.shared.lock().stale_updates = n;
    }

    /// Turns the metrics.k8s.io API on or off (off: 404 as on a cluster without metrics-server).
    pub fn set_metrics_api(&self, on: bool) {
        self.shared.lock().metrics_api = on;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Waits until at least `n` watch streams have been opened in total since start.
    pub async fn wait_for_watches(&self, n: usize) {
        let mut rx = self.shared.active_watches.subscribe();
        let _ = rx.wait_for(|c| *c >= n).await;
    }

    /// Number of watch streams opened so far.
    pub fn watches_opened(&self) -> usize {
        *self.shared.active_watches.borrow()
    }
}

fn upsert_locked(shared: &Shared, inner: &mut Inner, res: Res, obj: &mut Value) {
    inner.rv += 1;
    let rv = inner.rv;
    let key = (res, obj_ns(obj), obj_name(obj));
    let old = inner.objects.get(&key).cloned();
    if obj.get("metadata").is_none() {
        obj["metadata"] = json!({});
    }
    let meta = &mut obj["metadata"];
    meta["resourceVersion"] = json!(rv.to_string());
    match &old {
        Some(o) => {
            meta["uid"] = o["metadata"]["uid"].clone();
            meta["creationTimestamp"] = o["metadata"]["creationTimestamp"].clone();
        }
        None => {
            if meta.get("uid").and_then(Value::as_str).is_none() {
                meta["uid"] = json!(format!("00000000-0000-4000-8000-{:012x}", inner.next_uid));
                inner.next_uid += 1;
            }
            if meta.get("creationTimestamp").is_none() {
                meta["creationTimestamp"] = json!(now_rfc3339());
            }
        }
    }
    inner.objects.insert(key, obj.clone());
    let ty = if old.is_some() {
        ChangeType::Modified
    } else {
        ChangeType::Added
    };
    let change = Change {
        rv,
        res,
        ty,
        old,
        new: obj.clone(),
    };
    inner.history.push(change.clone());
    let _ = shared.changes.send(Msg::Change(change));
}

fn delete_locked(shared: &Shared, inner: &mut Inner, res: Res, ns: &str, name: &str) -> bool {
    let Some(mut old) = inner.objects.remove(&(res, ns.to_owned(), name.to_owned())) else {
        return false;
    };
    inner.rv += 1;
    let before = old.clone();
    old["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
    let change = Change {
        rv: inner.rv,
        res,
        ty: ChangeType::Deleted,
        old: Some(before),
        new: old,
    };
    inner.history.push(change.clone());
    let _ = shared.changes.send(Msg::Change(change));
    true
}

// ---- HTTP side ------------------------------------------------------------

async fn record_and_authorize(State(app): State<App>, req: Request, next: Next) -> Response {
    let rec = RecordedRequest {
        method: req.method().to_string(),
        path: req.uri().path().to_owned(),
        query: req.uri().query().map(str::to_owned),
    };
    let target = parse_target(&rec.path);
    let verb = target
        .as_ref()
        .and_then(|t| verb_of(&rec.method, t.name.is_some(), rec.is_watch()));
    let denied = {
        let mut inner = app.0.lock();
        inner.requests.push(rec.clone());
        match (&target, verb) {
            (Some(t), Some(v)) if inner.denied.contains(&(v.to_owned(), t.res)) => Some((v, t)),
            _ => None,
        }
    };
    if let Some((verb, t)) = denied {
        let res = t.res.plural();
        let group = t.res.group();
        let subject = match &t.name {
            Some(n) => format!("{res} \"{n}\" is forbidden"),
            None => format!("{res} is forbidden"),
        };
        let scope = match &t.ns {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_owned(),
        };
        let message =
            format!("{subject}: User \"{USER}\" cannot {verb} resource \"{res}\" in API group \"{group}\" {scope}");
        let mut details = json!({"group": group, "kind": res});
        if let Some(n) = &t.name {
            details["name"] = json!(n);
        }
        return status_response(403, "Forbidden", &message, details);
    }
    next.run(req).await
}

fn not_found_path() -> Response {
    status_response(
        404,
        "NotFound",
        "the server could not find the requested resource",
        json!({}),
    )
}

fn not_found(res: Res, name: &str) -> Response {
    status_response(
        404,
        "NotFound",
        &format!("{}{} \"{name}\" not found", res.plural(), group_suffix(res)),
        json!({"name": name, "group": res.group(), "kind": res.plural()}),
    )
}

fn group_suffix(res: Res) -> String {
    if res.group().is_empty() {
        String::new()
    } else {
        format!(".{}", res.group())
    }
}

async fn dispatch(
    State(app): State<App>,
    method: Method,
    uri: axum::http::Uri,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(t) = parse_target(uri.path()) else {
        return not_found_path();
    };
    if t.res == Res::PodMetrics && !app.0.lock().metrics_api {
        return not_found_path();
    }
    if t.res.namespaced() != t.ns.is_some() && !(t.ns.is_none() && t.name.is_none()) {
        return not_found_path();
    }
    let watch = q.get("watch").is_some_and(|w| w == "true" || w == "1");
    match (method.as_str(), &t.name) {
        ("GET", None) if watch => watch_collection(app, t, q).await,
        ("GET", None) => list(&app, &t, &q),
        ("GET", Some(name)) => match app
            .0
            .lock()
            .objects
            .get(&(t.res, t.ns.clone().unwrap_or_default(), name.clone()))
        {
            Some(o) => json_response(StatusCode::OK, &with_type(t.res, o)),
            None => not_found(t.res, name),
        },
        ("POST", None) => create(&app, &t, &body),
        ("PUT", Some(name)) => replace(&app, &t, name, &body),
        ("PATCH", Some(name)) => patch(&app, &t, name, &headers, &body),
        ("DELETE", Some(name)) => {
            let ns = t.ns.clone().unwrap_or_default();
            let mut inner = app.0.lock();
            let obj = inner.objects.get(&(t.res, ns.clone(), name.clone())).cloned();
            match obj {
                Some(o) => {
                    delete_locked(&app.0, &mut inner, t.res, &ns, name);
                    json_response(StatusCode::OK, &with_type(t.res, &o))
                }
                None => not_found(t.res, name),
            }
        }
        _ => status_response(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            json!({}),
        ),
    }
}

fn with_type(res: Res, obj: &Value) -> Value {
    let mut o = obj.clone();
    o["kind"] = json!(res.kind());
    o["apiVersion"] = json!(res.api_version());
    o
}

fn in_scope(t: &Target, key: &Key) -> bool {
    key.0 == t.res && t.ns.as_ref().is_none_or(|ns| *ns == key.1)
}

fn list(app: &App, t: &Target, q: &HashMap<String, String>) -> Response {
    let sel = match Selectors::parse(t.res, q) {
        Ok(s) => s,
        Err(m) => return status_response(400, "BadRequest", &m, json!({})),
    };
    let mut inner = app.0.lock();
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    // A continue token is "<snapshot id>:<offset>"; later pages are served from
    // the snapshot the first page was taken from, as the real server does.
    let (snapshot, offset) = match q.get("continue").and_then(|c| c.split_once(':')) {
        Some((id, off)) => {
            let (Ok(id), Ok(off)) = (id.parse::<u64>(), off.parse::<usize>()) else {
                return status_response(400, "BadRequest", "invalid continue token", json!({}));
            };
            if !inner.list_snapshots.contains_key(&id) {
                return status_response(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display a consistent list result. \
                     You can start a new list without the continue parameter.",
                    json!({}),
                );
            }
            (id, off)
        }
        None => {
            let items: Vec<Value> = inner
                .objects
                .iter()
                .filter(|(k, v)| in_scope(t, k) && sel.matches(v))
                .map(|(_, v)| v.clone())
                .collect();
            let id = inner.rv * 1_000_000 + inner.list_snapshots.len() as u64;
            let rv = inner.rv;
            inner.list_snapshots.insert(id, (rv, items));
            (id, 0)
        }
    };
    let Some((rv, items)) = inner.list_snapshots.get(&snapshot) else {
        return status_response(500, "InternalError", "list snapshot vanished", json!({}));
    };
    let rv = *rv;
    let page: Vec<Value> = items.iter().skip(offset).take(limit).cloned().collect();
    let total = items.len();
    let mut meta = json!({"resourceVersion": rv.to_string()});
    let next = offset.saturating_add(page.len());
    if next < total {
        meta["continue"] = json!(format!("{snapshot}:{next}"));
        meta["remainingItemCount"] = json!(total - next);
    } else {
        inner.list_snapshots.remove(&snapshot);
    }
    json_response(
        StatusCode::OK,
        &json!({"kind": format!("{}List", t.res.kind()), "apiVersion": t.res.api_version(), "metadata": meta, "items": page}),
    )
}

/// The API server's 400 for a request body it cannot read.
fn unreadable_body() -> Response {
    status_response(
        400,
        "BadRequest",
        "the body of the request was in an unknown format",
        json!({}),
    )
}

fn create(app: &App, t: &Target, body: &[u8]) -> Response {
    let Ok(mut obj) = serde_json::from_slice::<Value>(body) else {
        return unreadable_body();
    };
    let ns = t.ns.clone().unwrap_or_default();
    if t.res.namespaced() {
        if let Some(body_ns) = get_str(&obj, "metadata.namespace").filter(|b| *b != ns) {
            return status_response(
                400,
                "BadRequest",
                &format!(
                    "the namespace of the provided object ({body_ns}) does not match the namespace sent on the request ({ns})"
                ),
                json!({}),
            );
        }
        obj["metadata"]["namespace"] = json!(ns);
    }
    let name = obj_name(&obj);
    if name.is_empty() {
        return status_response(
            422,
            "Invalid",
            "metadata.name: Required value: name or generateName is required",
            json!({}),
        );
    }
    let mut inner = app.0.lock();
    if inner.objects.contains_key(&(t.res, ns, name.clone())) {
        return status_response(
            409,
            "AlreadyExists",
            &format!("{}{} \"{name}\" already exists", t.res.plural(), group_suffix(t.res)),
            json!({"name": name, "group": t.res.group(), "kind": t.res.plural()}),
        );
    }
    obj["metadata"].as_object_mut().map(|m| m.remove("resourceVersion"));
    upsert_locked(&app.0, &mut inner, t.res, &mut obj);
    json_response(StatusCode::CREATED, &with_type(t.res, &obj))
}

fn replace(app: &App, t: &Target, name: &str, body: &[u8]) -> Response {
    let Ok(mut obj) = serde_json::from_slice::<Value>(body) else {
        return unreadable_body();
    };
    let ns = t.ns.clone().unwrap_or_default();
    let key = (t.res, ns.clone(), name.to_owned());
    let mut inner = app.0.lock();
    if inner.stale_updates > 0 && inner.objects.contains_key(&key) {
        // Another writer gets there first.
        inner.stale_updates -= 1;
        let mut other = inner.objects[&key].clone();
        other["metadata"]["annotations"]["other-writer"] = json!(inner.rv.to_string());
        upsert_locked(&app.0, &mut inner, t.res, &mut other);
    }
    let Some(current) = inner.objects.get(&key) else {
        return not_found(t.res, name);
    };
    let current_rv = get_str(current, "metadata.resourceVersion").unwrap_or("").to_owned();
    match get_str(&obj, "metadata.resourceVersion") {
        Some(rv) if rv != current_rv => {
            return status_response(
                409,
                "Conflict",
                &format!(
                    "Operation cannot be fulfilled on {}{} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                    t.res.plural(),
                    group_suffix(t.res)
                ),
                json!({"name": name, "group": t.res.group(), "kind": t.res.plural()}),
            );
        }
        _ => {}
    }
    if obj_name(&obj) != name {
        return status_response(
            400,
            "BadRequest",
            "the name of the object does not match the name on the URL",
            json!({}),
        );
    }
    if t.res.namespaced() {
        obj["metadata"]["namespace"] = json!(ns);
    }
    upsert_locked(&app.0, &mut inner, t.res, &mut obj);
    json_response(StatusCode::OK, &with_type(t.res, &obj))
}

fn patch(app: &App, t: &Target, name: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/merge-patch+json") {
        return status_response(
            415,
            "UnsupportedMediaType",
            &format!(
                "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json (the fake), got {ct}"
            ),
            json!({}),
        );
    }
    let Ok(p) = serde_json::from_slice::<Value>(body) else {
        return status_response(400, "BadRequest", "invalid JSON patch", json!({}));
    };
    let key = (t.res, t.ns.clone().unwrap_or_default(), name.to_owned());
    let mut inner = app.0.lock();
    let Some(mut obj) = inner.objects.get(&key).cloned() else {
        return not_found(t.res, name);
    };
    merge_patch(&mut obj, &p);
    upsert_locked(&app.0, &mut inner, t.res, &mut obj);
    json_response(StatusCode::OK, &with_type(t.res, &obj))
}

fn event_line(ty: &str, obj: &Value) -> Bytes {
    let mut s = json!({"type": ty, "object": obj}).to_string();
    s.push('\n');
    Bytes::from(s)
}

/// What a change looks like to a watcher with these selectors (ADDED/MODIFIED/DELETED or nothing).
fn view(change: &Change, sel: &Selectors) -> Option<(&'static str, Value)> {
    let new_ok = sel.matches(&change.new);
    let old_ok = change.old.as_ref().is_some_and(|o| sel.matches(o));
    let obj = with_type(change.res, &change.new);
    match change.ty {
        ChangeType::Deleted => old_ok.then_some(("DELETED", obj)),
        ChangeType::Added => new_ok.then_some(("ADDED", obj)),
        ChangeType::Modified => match (old_ok, new_ok) {
            (true, true) => Some(("MODIFIED", obj)),
            (false, true) => Some(("ADDED", obj)),
            (true, false) => Some(("DELETED", obj)),
            (false, false) => None,
        },
    }
}

async fn watch_collection(app: App, t: Target, q: HashMap<String, String>) -> Response {
    let sel = match Selectors::parse(t.res, &q) {
        Ok(s) => s,
        Err(m) => return status_response(400, "BadRequest", &m, json!({})),
    };
    // A partitioned network: the request hangs until it heals.
    let mut gate = app.0.gate_open.subscribe();
    let _ = gate.wait_for(|open| *open).await;

    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let timeout = q.get("timeoutSeconds").and_then(|s| s.parse::<u64>().ok());
    let from: Option<u64> = q
        .get("resourceVersion")
        .and_then(|r| r.parse().ok())
        .filter(|r| *r != 0);

    let (tx, rx) = mpsc::channel::<Bytes>(1024);
    let (initial, mut sub, expired) = {
        let inner = app.0.lock();
        let sub = app.0.changes.subscribe();
        match from {
            Some(rv) if rv < inner.compacted_at => {
                let msg = format!("too old resource version: {rv} ({})", inner.compacted_at);
                (
                    vec![event_line("ERROR", &status(410, "Expired", &msg, json!({})))],
                    sub,
                    true,
                )
            }
            Some(rv) => {
                let lines = inner
                    .history
                    .iter()
                    .filter(|c| c.rv > rv && c.res == t.res && t.ns.as_ref().is_none_or(|ns| *ns == obj_ns(&c.new)))
                    .filter_map(|c| view(c, &sel))
                    .map(|(ty, o)| event_line(ty, &o))
                    .collect();
                (lines, sub, false)
            }
            None => {
                // No resourceVersion: synthetic ADDED for everything that exists, then changes.
                let lines = inner
                    .objects
                    .iter()
                    .filter(|(k, v)| in_scope(&t, k) && sel.matches(v))
                    .map(|(_, v)| event_line("ADDED", &with_type(t.res, v)))
                    .collect();
                (lines, sub, false)
            }
        }
    };
    app.0.active_watches.send_modify(|c| *c += 1);
    let res = t.res;
    let ns = t.ns.clone();
    tokio::spawn(async move {
        for line in initial {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        if expired {
            return;
        }
        let deadline = tokio::time::sleep(Duration::from_secs(timeout.unwrap_or(1800)));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                msg = sub.recv() => match msg {
                    Ok(Msg::Change(c)) => {
                        if c.res != res || ns.as_ref().is_some_and(|n| *n != obj_ns(&c.new)) {
                            continue;
                        }
                        if let Some((ty, o)) = view(&c, &sel)
                            && tx.send(event_line(ty, &o)).await.is_err() {
                            return;
                        }
                    }
                    Ok(Msg::Bookmark(rv)) if bookmarks => {
                        let bm = json!({"kind": res.kind(), "apiVersion": res.api_version(),
                                        "metadata": {"resourceVersion": rv.to_string()}});
                        if tx.send(event_line("BOOKMARK", &bm)).await.is_err() {
                            return;
                        }
                    }
                    Ok(Msg::Bookmark(_)) => {}
                    Ok(Msg::Drop) => return,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let st = status(410, "Expired", "watch fell behind", json!({}));
                        let _ = tx.send(event_line("ERROR", &st)).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| not_found_path())
}

// ---- test data ------------------------------------------------------------

/// A realistic pod for the fake.
#[derive(Clone, Debug)]
pub struct TestPod {
    pub namespace: String,
    pub name: String,
    pub node: Option<String>,
    pub phase: String,
    pub labels: Vec<(String, String)>,
    /// (container name, spec image, imageID in containerStatuses)
    pub containers: Vec<(String, String, Option<String>)>,
    pub start_time: Option<String>,
}

impl TestPod {
    /// A running pod with one container `main` running `image`, on node `node-a`.
    pub fn new(namespace: &str, name: &str, image: &str) -> TestPod {
        TestPod {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            node: Some("node-a".to_owned()),
            phase: "Running".to_owned(),
            labels: vec![("app".to_owned(), name.split('-').next().unwrap_or(name).to_owned())],
            containers: vec![("main".to_owned(), image.to_owned(), None)],
            start_time: Some("2026-01-02T03:04:05Z".to_owned()),
        }
    }
    pub fn on(mut self, node: &str) -> Self {
        self.node = Some(node.to_owned());
        self
    }
    pub fn phase(mut self, phase: &str) -> Self {
        self.phase = phase.to_owned();
        self
    }
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.labels.push((k.to_owned(), v.to_owned()));
        self
    }
    pub fn image_id(mut self, id: &str) -> Self {
        if let Some(c) = self.containers.first_mut() {
            c.2 = Some(id.to_owned());
        }
        self
    }
    pub fn container(mut self, name: &str, image: &str) -> Self {
        self.containers.push((name.to_owned(), image.to_owned(), None));
        self
    }

    pub fn to_json(&self) -> Value {
        let labels: serde_json::Map<String, Value> = self.labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        let containers: Vec<Value> = self
            .containers
            .iter()
            .map(|(n, img, _)| {
                json!({"name": n, "image": img, "imagePullPolicy": "IfNotPresent",
                                       "resources": {}, "terminationMessagePath": "/dev/termination-log"})
            })
            .collect();
        let running = self.phase == "Running";
        let statuses: Vec<Value> = self
            .containers
            .iter()
            .map(|(n, img, id)| {
                let full = cad_k8s::ImageRef::parse(img).map(|r| r.to_string()).unwrap_or_else(|| img.clone());
                json!({"name": n, "image": full, "imageID": id.clone().unwrap_or_default(),
                       "ready": running, "restartCount": 0, "started": running,
                       "containerID": format!("containerd://{:0>64}", n.len()),
                       "state": if running { json!({"running": {"startedAt": self.start_time}}) } else { json!({"waiting": {"reason": "ContainerCreating"}}) }})
            })
            .collect();
        let mut status = json!({"phase": self.phase, "qosClass": "BestEffort", "podIP": "10.42.0.17",
                                "conditions": [{"type": "PodScheduled", "status": "True"}]});
        if let Some(t) = &self.start_time {
            status["startTime"] = json!(t);
            status["containerStatuses"] = json!(statuses);
        }
        let mut spec = json!({"containers": containers, "restartPolicy": "Always", "serviceAccountName": "default",
                              "schedulerName": "default-scheduler", "dnsPolicy": "ClusterFirst"});
        if let Some(n) = &self.node {
            spec["nodeName"] = json!(n);
        }
        json!({
            "metadata": {"name": self.name, "namespace": self.namespace, "labels": labels,
                         "generateName": format!("{}-", self.name)},
            "spec": spec,
            "status": status,
        })
    }
}
