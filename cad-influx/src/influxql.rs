//! Building InfluxQL: quoting ([`quote`]) and the batched `SELECT` statements.
//!
//! Every name that reaches a statement — pod, namespace, container, UID, and
//! the configured measurement/tag/field names — goes through [`quote`]. Nothing
//! else is ever spliced into a query except integers (times) we format ourselves.

use crate::config::Schema;
use cad_core::{Metric, TimeWindow};
use std::collections::{HashMap, HashSet};
use std::ops::Range;

/// Quotes `value` as an InfluxQL token delimited by `delimiter`: `'` for a
/// string literal, `"` for an identifier.
///
/// InfluxQL's scanner (`influxql.ScanString`) reads a quoted token up to the
/// first unescaped delimiter and knows four escapes: `\\`, `\'`, `\"` and `\n`.
/// A raw newline inside quotes is an error, so it is written as `\n`; the
/// backslash and the delimiter are escaped; every other character (any
/// Unicode, `;`, `--`, the other quote) stands for itself inside the quotes.
///
/// Returns `None` for a value containing NUL: InfluxQL's reader treats
/// U+0000 as the end of input, so no escape can carry it. (Kubernetes names
/// cannot contain it; callers skip such names.)
pub fn quote(value: &str, delimiter: char) -> Option<String> {
    if value.contains('\0') {
        return None;
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push(delimiter);
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c == delimiter => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(delimiter);
    Some(out)
}

/// [`quote`] as a string literal (`'…'`).
pub fn quote_literal(value: &str) -> Option<String> {
    quote(value, '\'')
}

/// [`quote`] as an identifier (`"…"`).
pub fn quote_ident(value: &str) -> Option<String> {
    quote(value, '"')
}

/// Quotes a name from the configuration, which was validated (no NUL) up front.
fn ident(value: &str) -> String {
    quote_ident(value).unwrap_or_else(|| quote_ident(&value.replace('\0', "")).unwrap_or_default())
}

/// Quotes a requested name; the planner only gets names without NUL.
fn lit(value: &str) -> String {
    quote_literal(value).unwrap_or_else(|| quote_literal(&value.replace('\0', "")).unwrap_or_default())
}

/// Bytes `text` takes in an `application/x-www-form-urlencoded` body: the
/// same encoder the request uses, so the planner's sizes are exact.
pub(crate) fn form_len(text: &str) -> usize {
    form_urlencoded::byte_serialize(text.as_bytes()).map(str::len).sum()
}

/// The form body of a query: `q=` and the encoded statements.
pub(crate) fn form_body(query: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("q", query)
        .finish()
}

/// One pod of a request with the containers wanted from it, borrowing the
/// names from the request (a fetch of 10,000 pods holds 10,000 of these).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PodGroup<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    /// Non-empty UIDs of the requested pods with this namespace/name
    /// (normally one), sorted and distinct.
    pub uids: Vec<&'a str>,
    /// Sorted and distinct.
    pub containers: Vec<&'a str>,
}

/// Which measurement a statement reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatementKind {
    Container,
    Network,
    Volume,
    Blkio,
}

/// One InfluxQL statement and what it reads.
#[derive(Clone, Debug)]
pub(crate) struct Statement {
    pub kind: StatementKind,
    pub text: String,
}

/// Everything one HTTP request sends: statements joined by `;`, for the pods
/// `pods` (indices into the planned slice).
#[derive(Clone, Debug)]
pub(crate) struct RequestPlan {
    pub statements: Vec<Statement>,
    pub pods: Range<usize>,
    /// The planner's count of the form body's bytes (`q=` and the encoded
    /// query), which [`form_body`] produces exactly.
    pub body_bytes: usize,
}

impl RequestPlan {
    /// The `q` parameter.
    pub fn query(&self) -> String {
        let texts: Vec<&str> = self.statements.iter().map(|s| s.text.as_str()).collect();
        texts.join(STATEMENT_SEP)
    }
}

const STATEMENT_SEP: &str = ";\n";
const OR: &str = " OR ";
const GROUP_CLOSE: &str = "))";
const LIST_CLOSE: &str = ")";

/// `"rp"."measurement"`, or `"measurement"` for the database's default policy.
fn from_clause(retention_policy: Option<&str>, measurement: &str) -> String {
    match retention_policy {
        Some(rp) => format!("{}.{}", ident(rp), ident(measurement)),
        None => ident(measurement),
    }
}

/// `time >= …ms AND time < …ms`; times before 1970 are clamped to the epoch.
fn time_clause(window: TimeWindow) -> String {
    format!(
        "time >= {}ms AND time < {}ms",
        window.start.as_millis().max(0),
        window.end.as_millis().max(0)
    )
}

/// `tag = 'value'`.
fn term(tag: &str, value: &str) -> String {
    format!("{tag} = {}", lit(value))
}

/// How one per-pod statement (`kubernetes_pod_container`, `…_network`,
/// `…_volume`) is laid out:
///
/// `SELECT fields FROM m WHERE time… AND (` group ` OR ` group … `)`
/// [` AND ("container" = 'c1' OR …)`] ` GROUP BY tags`, where a group is
/// `("namespace" = 'ns' AND ("pod_name" = 'a' OR "pod_name" = 'b' …))`: one
/// per namespace of the request. InfluxDB resolves each equality from its
/// tag index; one `(namespace AND pod AND container)` condition per pod
/// instead costs it time growing with the square of the pods per statement,
/// and a regex per namespace (`=~ /^(?:a|b)$/`) is matched against every
/// pod name of the measurement (see BENCHMARKS.md).
struct PodStatement {
    kind: StatementKind,
    head: String,
    ns_tag: String,
    pod_tag: String,
    container_tag: Option<String>,
    tail: String,
}

impl PodStatement {
    fn group_open(&self, namespace: &str) -> String {
        format!("({} AND (", term(&self.ns_tag, namespace))
    }

    /// Bytes of the parts every request with at least one pod has:
    /// `head`, the `)` closing the groups, ` AND (` … `)` around the
    /// containers, and `tail`.
    fn fixed_len(&self) -> usize {
        form_len(&self.head)
            + form_len(LIST_CLOSE)
            + self
                .container_tag
                .as_ref()
                .map_or(0, |_| form_len(AND_OPEN) + form_len(LIST_CLOSE))
            + form_len(&self.tail)
    }
}

const AND_OPEN: &str = " AND (";

/// `docker_container_blkio`, matched by pod UID and container name:
/// `SELECT … WHERE time… AND ("uid" = 'u1' OR …) AND ("container" = 'c1' OR …) GROUP BY …`.
struct BlkioStatement {
    head: String,
    uid_tag: String,
    container_tag: String,
    tail: String,
}

impl BlkioStatement {
    /// `head(`, `) AND (`, `)` and `tail`.
    fn fixed_len(&self) -> usize {
        form_len(&self.head)
            + form_len("(")
            + form_len(LIST_CLOSE)
            + form_len(AND_OPEN)
            + form_len(LIST_CLOSE)
            + form_len(&self.tail)
    }
}

/// Builds the requests of one fetch: chunks of at most `chunk_size` pods whose
/// whole form body stays within `max_body_bytes` (a pod that alone exceeds it
/// goes alone), one statement per measurement each.
pub(crate) struct Planner {
    pod_statements: Vec<PodStatement>,
    blkio: Option<BlkioStatement>,
    chunk_size: usize,
    max_body_bytes: usize,
}

impl Planner {
    pub fn new(
        schema: &Schema,
        retention_policy: Option<&str>,
        window: TimeWindow,
        chunk_size: usize,
        max_body_bytes: usize,
    ) -> Self {
        let from = |measurement: &str| from_clause(retention_policy, measurement);
        let time = time_clause(window);
        let head = |fields: &[(Metric, String)], measurement: &str| {
            let fields: Vec<String> = fields.iter().map(|(_, f)| ident(f)).collect();
            format!(
                "SELECT {} FROM {} WHERE {time} AND ",
                fields.join(", "),
                from(measurement)
            )
        };
        let tail = |group: &[&str]| {
            let group: Vec<String> = group.iter().map(|g| ident(g)).collect();
            format!(" GROUP BY {}", group.join(", "))
        };
        let mut pod_statements = Vec::new();
        let c = &schema.container;
        if !c.fields.is_empty() {
            pod_statements.push(PodStatement {
                kind: StatementKind::Container,
                head: head(&c.fields, &c.measurement) + "(",
                ns_tag: ident(&c.namespace_tag),
                pod_tag: ident(&c.pod_tag),
                container_tag: Some(ident(&c.container_tag)),
                tail: tail(&[&c.namespace_tag, &c.pod_tag, &c.container_tag]),
            });
        }
        if let Some(n) = schema.network.as_ref().filter(|n| !n.fields.is_empty()) {
            pod_statements.push(PodStatement {
                kind: StatementKind::Network,
                head: head(&n.fields, &n.measurement) + "(",
                ns_tag: ident(&n.namespace_tag),
                pod_tag: ident(&n.pod_tag),
                container_tag: None,
                tail: tail(&[&n.namespace_tag, &n.pod_tag]),
            });
        }
        if let Some(v) = &schema.volume {
            let used = [(Metric::VolumeUsedBytes, v.used_field.clone())];
            pod_statements.push(PodStatement {
                kind: StatementKind::Volume,
                head: head(&used, &v.measurement) + "(",
                ns_tag: ident(&v.namespace_tag),
                pod_tag: ident(&v.pod_tag),
                container_tag: None,
                tail: tail(&[&v.namespace_tag, &v.pod_tag, &v.volume_tag]),
            });
        }
        let blkio = schema
            .blkio
            .as_ref()
            .filter(|b| !b.fields.is_empty())
            .map(|b| BlkioStatement {
                head: head(&b.fields, &b.measurement),
                uid_tag: ident(&b.pod_uid_tag),
                container_tag: ident(&b.container_tag),
                tail: tail(&[&b.pod_uid_tag, &b.container_tag, &b.device_tag]),
            });
        Planner {
            pod_statements,
            blkio,
            chunk_size: chunk_size.max(1),
            max_body_bytes,
        }
    }

    /// Splits `pods` into requests. Pods of one namespace should be next to
    /// each other (the caller sorts them), so most requests hold one group.
    pub fn plan(&self, pods: &[PodGroup<'_>]) -> Vec<RequestPlan> {
        let mut plans = Vec::new();
        let mut chunk = Chunk::default();
        let mut start = 0;
        for (i, pod) in pods.iter().enumerate() {
            let mut cost = chunk.cost(self, pod);
            if chunk.pods > 0 && (chunk.pods >= self.chunk_size || chunk.bytes + cost > self.max_body_bytes) {
                plans.push(self.render(&pods[start..i], start, chunk.bytes));
                chunk = Chunk::default();
                start = i;
                cost = chunk.cost(self, pod);
            }
            chunk.push(self, pod, cost);
        }
        if start < pods.len() {
            plans.push(self.render(&pods[start..], start, chunk.bytes));
        }
        plans
    }

    fn render(&self, pods: &[PodGroup<'_>], offset: usize, body_bytes: usize) -> RequestPlan {
        // Namespace groups in order of first appearance, names in order.
        let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
        let mut group_of: HashMap<&str, usize> = HashMap::new();
        let mut containers = Distinct::default();
        let mut uids = Distinct::default();
        let mut blkio_containers = Distinct::default();
        for p in pods {
            let g = *group_of.entry(p.namespace).or_insert_with(|| {
                groups.push((p.namespace, Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(p.name);
            containers.extend(p.containers.iter().copied());
            if !p.uids.is_empty() {
                uids.extend(p.uids.iter().copied());
                blkio_containers.extend(p.containers.iter().copied());
            }
        }
        let mut statements = Vec::new();
        for s in &self.pod_statements {
            let mut text = s.head.clone();
            for (i, (ns, names)) in groups.iter().enumerate() {
                if i > 0 {
                    text.push_str(OR);
                }
                text.push_str(&s.group_open(ns));
                text.push_str(&names.iter().map(|n| term(&s.pod_tag, n)).collect::<Vec<_>>().join(OR));
                text.push_str(GROUP_CLOSE);
            }
            text.push_str(LIST_CLOSE);
            if let Some(tag) = &s.container_tag {
                text.push_str(AND_OPEN);
                text.push_str(&containers.terms(tag));
                text.push_str(LIST_CLOSE);
            }
            text.push_str(&s.tail);
            statements.push(Statement { kind: s.kind, text });
        }
        if let Some(b) = self.blkio.as_ref().filter(|_| !uids.is_empty()) {
            let text = format!(
                "{}({}){AND_OPEN}{}){}",
                b.head,
                uids.terms(&b.uid_tag),
                blkio_containers.terms(&b.container_tag),
                b.tail
            );
            statements.push(Statement {
                kind: StatementKind::Blkio,
                text,
            });
        }
        RequestPlan {
            statements,
            pods: offset..offset + pods.len(),
            body_bytes,
        }
    }
}

/// Distinct values in order of first appearance.
#[derive(Default)]
struct Distinct<'a> {
    seen: HashSet<&'a str>,
    order: Vec<&'a str>,
}

impl<'a> Distinct<'a> {
    fn extend(&mut self, values: impl IntoIterator<Item = &'a str>) {
        for v in values {
            if self.seen.insert(v) {
                self.order.push(v);
            }
        }
    }
    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
    /// `tag = 'a' OR tag = 'b' …`.
    fn terms(&self, tag: &str) -> String {
        let terms: Vec<String> = self.order.iter().map(|v| term(tag, v)).collect();
        terms.join(OR)
    }
}

/// What the pods added to a request so far take: the exact size of its form
/// body, and what a further pod would add to it.
#[derive(Default)]
struct Chunk<'a> {
    pods: usize,
    bytes: usize,
    statements: usize,
    namespaces: HashSet<&'a str>,
    containers: HashSet<&'a str>,
    uids: HashSet<&'a str>,
    blkio_containers: HashSet<&'a str>,
}

/// Bytes that `tag = 'value'` terms for `values` add to an `OR` list already
/// holding the terms of `have`, counting each new value once.
fn terms_len<'a>(tag: &str, have: &HashSet<&'a str>, values: impl IntoIterator<Item = &'a str>) -> usize {
    let mut added: HashSet<&str> = HashSet::new();
    let mut bytes = 0;
    for v in values {
        if have.contains(v) || !added.insert(v) {
            continue;
        }
        if !have.is_empty() || added.len() > 1 {
            bytes += form_len(OR);
        }
        bytes += form_len(&term(tag, v));
    }
    bytes
}

impl<'a> Chunk<'a> {
    /// Bytes `pod` would add to the form body.
    fn cost(&self, planner: &Planner, pod: &PodGroup<'a>) -> usize {
        let mut bytes = 0;
        let mut statements = self.statements;
        let mut add_statement = |fixed: usize| {
            let sep = if statements > 0 { form_len(STATEMENT_SEP) } else { 0 };
            statements += 1;
            fixed + sep
        };
        if self.pods == 0 {
            bytes += "q=".len();
            for s in &planner.pod_statements {
                bytes += add_statement(s.fixed_len());
            }
        }
        let new_namespace = !self.namespaces.contains(pod.namespace);
        for s in &planner.pod_statements {
            bytes += form_len(&term(&s.pod_tag, pod.name));
            if new_namespace {
                bytes += form_len(&s.group_open(pod.namespace)) + form_len(GROUP_CLOSE);
                if !self.namespaces.is_empty() {
                    bytes += form_len(OR);
                }
            } else {
                bytes += form_len(OR);
            }
            if let Some(tag) = &s.container_tag {
                bytes += terms_len(tag, &self.containers, pod.containers.iter().copied());
            }
        }
        if let Some(b) = planner.blkio.as_ref().filter(|_| !pod.uids.is_empty()) {
            if self.uids.is_empty() {
                bytes += add_statement(b.fixed_len());
            }
            bytes += terms_len(&b.uid_tag, &self.uids, pod.uids.iter().copied());
            bytes += terms_len(&b.container_tag, &self.blkio_containers, pod.containers.iter().copied());
        }
        bytes
    }

    /// Adds `pod`, whose [`cost`](Self::cost) is `cost`.
    fn push(&mut self, planner: &Planner, pod: &PodGroup<'a>, cost: usize) {
        if self.pods == 0 {
            self.statements = planner.pod_statements.len();
        }
        self.pods += 1;
        self.bytes += cost;
        self.namespaces.insert(pod.namespace);
        self.containers.extend(pod.containers.iter().copied());
        if planner.blkio.is_some() && !pod.uids.is_empty() {
            if self.uids.is_empty() {
                self.statements += 1;
            }
            self.uids.extend(pod.uids.iter().copied());
            self.blkio_containers.extend(pod.containers.iter().copied());
        }
    }
}

/// Which point of each series a statement of [`seen_plan`] asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Edge {
    /// The earliest in the window (`first(…)`).
    First,
    /// The latest in the window (`last(…)`).
    Last,
}

/// The field a measurement's series are found by: `preferred`'s (Telegraf
/// writes it on every point), or else the first configured.
fn presence_field(fields: &[(Metric, String)], preferred: Metric) -> Option<&str> {
    fields
        .iter()
        .find(|(m, _)| *m == preferred)
        .or(fields.first())
        .map(|(_, f)| f.as_str())
}

/// The one request of a `containers_seen` call: the first and the last point
/// in `window` of every series of the container measurement and, where the
/// schema has one with fields, of the block-I/O measurement (for the pod
/// UIDs). With Telegraf's schema, in order:
///
/// ```text
/// SELECT first("memory_usage_bytes") FROM "kubernetes_pod_container" WHERE time >= …ms AND time < …ms GROUP BY "namespace", "pod_name", "container_name"
/// SELECT last("memory_usage_bytes") FROM …the same…
/// SELECT first("io_service_bytes_recursive_read") FROM "docker_container_blkio" WHERE time >= …ms AND time < …ms GROUP BY "io.kubernetes.pod.namespace", "io.kubernetes.pod.name", "io.kubernetes.pod.uid", "io.kubernetes.container.name", "container_image"
/// SELECT last("io_service_bytes_recursive_read") FROM …the same…
/// ```
///
/// A selector alone in its statement answers with its point's own time (with
/// `first(x), last(x)` together InfluxDB 1.x answers the window's start),
/// hence two statements per measurement. Each answers one row per series
/// (tag combination), so the answer grows with the containers, not with the
/// points.
///
/// Returns the plan and which edge each statement asks for; `None` when the
/// container measurement has no field to look for.
pub(crate) fn seen_plan(
    schema: &Schema,
    retention_policy: Option<&str>,
    window: TimeWindow,
) -> Option<(RequestPlan, Vec<Edge>)> {
    let time = time_clause(window);
    let pair = |kind: StatementKind, field: &str, measurement: &str, group: &[&str]| {
        let group: Vec<String> = group.iter().map(|g| ident(g)).collect();
        [(Edge::First, "first"), (Edge::Last, "last")].map(|(edge, selector)| {
            let text = format!(
                "SELECT {selector}({}) FROM {} WHERE {time} GROUP BY {}",
                ident(field),
                from_clause(retention_policy, measurement),
                group.join(", ")
            );
            (Statement { kind, text }, edge)
        })
    };
    let c = &schema.container;
    let field = presence_field(&c.fields, Metric::MemoryUsageBytes)?;
    let mut statements: Vec<(Statement, Edge)> = pair(
        StatementKind::Container,
        field,
        &c.measurement,
        &[&c.namespace_tag, &c.pod_tag, &c.container_tag],
    )
    .into();
    if let Some(b) = &schema.blkio
        && let Some(field) = presence_field(&b.fields, Metric::BlkioReadBytes)
    {
        let mut group = vec![b.namespace_tag.as_str(), &b.pod_tag, &b.pod_uid_tag, &b.container_tag];
        group.extend(b.image_tag.as_deref());
        statements.extend(pair(StatementKind::Blkio, field, &b.measurement, &group));
    }
    let (statements, edges): (Vec<Statement>, Vec<Edge>) = statements.into_iter().unzip();
    let mut plan = RequestPlan {
        statements,
        pods: 0..0,
        body_bytes: 0,
    };
    plan.body_bytes = form_body(&plan.query()).len();
    Some((plan, edges))
}

/// The metric a column of `kind`'s statement feeds, by field name.
pub(crate) fn column_metric(schema: &Schema, kind: StatementKind, column: &str) -> Option<Metric> {
    let find = |fields: &[(Metric, String)]| fields.iter().find(|(_, f)| f == column).map(|(m, _)| *m);
    match kind {
        StatementKind::Container => find(&schema.container.fields),
        StatementKind::Network => schema.network.as_ref().and_then(|n| find(&n.fields)),
        StatementKind::Volume => schema
            .volume
            .as_ref()
            .filter(|v| v.used_field == column)
            .map(|_| Metric::VolumeUsedBytes),
        StatementKind::Blkio => schema.blkio.as_ref().and_then(|b| find(&b.fields)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cad_core::Timestamp;
    use proptest::prelude::*;

    /// A token of InfluxQL as its scanner sees it, reduced to what matters here.
    #[derive(Clone, Debug, PartialEq)]
    enum Tok {
        /// A quoted string literal, unescaped.
        Str(String),
        /// A quoted identifier, unescaped.
        QIdent(String),
        /// A bare word, number or operator character run.
        Word(String),
        /// Punctuation: `(`, `)`, `,`, `;`, `.`.
        Punct(char),
    }

    /// A tiny tokenizer following `influxql.ScanString`: quoted tokens end at the
    /// first unescaped delimiter, know the escapes `\\ \' \" \n`, and may not
    /// contain a raw newline or NUL (which the scanner reads as end of input).
    fn tokenize(q: &str) -> Result<Vec<Tok>, String> {
        let mut out = Vec::new();
        let mut it = q.chars().peekable();
        while let Some(c) = it.next() {
            match c {
                '\0' => return Err("NUL outside quotes".into()),
                c if c.is_whitespace() => {}
                '\'' | '"' => {
                    let mut s = String::new();
                    loop {
                        match it.next() {
                            None | Some('\0') => return Err("unterminated".into()),
                            Some('\n') => return Err("raw newline in quotes".into()),
                            Some('\\') => match it.next() {
                                Some('n') => s.push('\n'),
                                Some(e @ ('\\' | '\'' | '"')) => s.push(e),
                                other => return Err(format!("bad escape {other:?}")),
                            },
                            Some(ch) if ch == c => break,
                            Some(ch) => s.push(ch),
                        }
                    }
                    out.push(if c == '\'' { Tok::Str(s) } else { Tok::QIdent(s) });
                }
                '(' | ')' | ',' | ';' | '.' => out.push(Tok::Punct(c)),
                _ => {
                    let mut w = String::from(c);
                    while let Some(&n) = it.peek() {
                        if n.is_whitespace() || "()\"',;.".contains(n) {
                            break;
                        }
                        w.push(n);
                        it.next();
                    }
                    out.push(Tok::Word(w));
                }
            }
        }
        Ok(out)
    }

    fn window() -> TimeWindow {
        TimeWindow::new(Timestamp::from_secs(1_700_000_000), Timestamp::from_secs(1_700_000_600))
    }

    /// A pod as the source builds it (names leaked: tests build many from `format!`).
    fn pod(ns: &str, name: &str, uid: &str, containers: &[&str]) -> PodGroup<'static> {
        let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
        let mut containers: Vec<&'static str> = containers.iter().map(|c| leak(c)).collect();
        containers.sort_unstable();
        containers.dedup();
        PodGroup {
            namespace: leak(ns),
            name: leak(name),
            uids: if uid.is_empty() { Vec::new() } else { vec![leak(uid)] },
            containers,
        }
    }

    fn planner(schema: &Schema, chunk_size: usize, max_body_bytes: usize) -> Planner {
        Planner::new(schema, None, window(), chunk_size, max_body_bytes)
    }

    /// Checks what every plan must satisfy: the counted size is the real
    /// size, within the cap unless the pod is alone, the pods in order and
    /// each exactly once.
    fn check_plans(plans: &[RequestPlan], pods: usize, chunk_size: usize, max_body: usize) -> Result<(), String> {
        let mut next = 0;
        for p in plans {
            let real = form_body(&p.query()).len();
            if real != p.body_bytes {
                return Err(format!("counted {} bytes, sent {real}", p.body_bytes));
            }
            if p.pods.start != next || p.pods.is_empty() || p.pods.len() > chunk_size {
                return Err(format!("pods {:?} after {next}", p.pods));
            }
            if real > max_body && p.pods.len() > 1 {
                return Err(format!("{real} bytes > {max_body} for {} pods", p.pods.len()));
            }
            next = p.pods.end;
        }
        if next != pods {
            return Err(format!("{next} of {pods} pods planned"));
        }
        Ok(())
    }

    #[test]
    fn quote_escapes_exactly_what_the_scanner_needs() {
        assert_eq!(quote_literal("a'b").as_deref(), Some(r"'a\'b'"));
        assert_eq!(quote_literal(r"a\").as_deref(), Some(r"'a\\'"));
        assert_eq!(quote_literal("a\nb").as_deref(), Some(r"'a\nb'"));
        assert_eq!(quote_literal(r#"say "hi""#).as_deref(), Some(r#"'say "hi"'"#));
        assert_eq!(
            quote_ident(r#"io.kubernetes"pod"#).as_deref(),
            Some(r#""io.kubernetes\"pod""#)
        );
        assert_eq!(quote_literal("x\0y"), None);
    }

    #[test]
    fn statement_shape_for_telegraf_schema() {
        let schema = Schema::default();
        let plans = planner(&schema, 100, 1 << 20).plan(&[
            pod("default", "nginx-1", "u-1", &["nginx"]),
            pod("default", "nginx-2", "u-2", &["nginx", "istio-proxy"]),
            pod("shop", "mysql-0", "u-3", &["mysql"]),
        ]);
        assert_eq!(plans.len(), 1);
        let q = plans[0].query();
        assert_eq!(plans[0].statements.len(), 4);
        assert!(q.contains(
            r#"FROM "kubernetes_pod_container" WHERE time >= 1700000000000ms AND time < 1700000600000ms AND (("namespace" = 'default' AND ("pod_name" = 'nginx-1' OR "pod_name" = 'nginx-2')) OR ("namespace" = 'shop' AND ("pod_name" = 'mysql-0'))) AND ("container_name" = 'nginx' OR "container_name" = 'istio-proxy' OR "container_name" = 'mysql') GROUP BY "namespace", "pod_name", "container_name""#
        ), "{q}");
        assert!(q.contains(
            r#"FROM "kubernetes_pod_network" WHERE time >= 1700000000000ms AND time < 1700000600000ms AND (("namespace" = 'default' AND ("pod_name" = 'nginx-1' OR "pod_name" = 'nginx-2')) OR ("namespace" = 'shop' AND ("pod_name" = 'mysql-0'))) GROUP BY "namespace", "pod_name""#
        ), "{q}");
        assert!(q.contains(
            r#"FROM "docker_container_blkio" WHERE time >= 1700000000000ms AND time < 1700000600000ms AND ("io.kubernetes.pod.uid" = 'u-1' OR "io.kubernetes.pod.uid" = 'u-2' OR "io.kubernetes.pod.uid" = 'u-3') AND ("io.kubernetes.container.name" = 'nginx' OR "io.kubernetes.container.name" = 'istio-proxy' OR "io.kubernetes.container.name" = 'mysql') GROUP BY "io.kubernetes.pod.uid", "io.kubernetes.container.name", "device""#
        ), "{q}");
        // Only fields cad uses are selected.
        assert!(!q.contains("*") && !q.contains("rootfs_available_bytes"));
        assert!(q.starts_with(r#"SELECT "cpu_usage_nanocores", "cpu_usage_core_nanoseconds""#));
        check_plans(&plans, 3, 100, 1 << 20).unwrap();
    }

    #[test]
    fn seen_statements_for_telegraf_schema() {
        let (plan, edges) = seen_plan(&Schema::default(), None, window()).unwrap();
        let texts: Vec<&str> = plan.statements.iter().map(|s| s.text.as_str()).collect();
        let time = "time >= 1700000000000ms AND time < 1700000600000ms";
        let container = r#""kubernetes_pod_container" WHERE time >= 1700000000000ms AND time < 1700000600000ms GROUP BY "namespace", "pod_name", "container_name""#;
        let blkio = r#""docker_container_blkio" WHERE time >= 1700000000000ms AND time < 1700000600000ms GROUP BY "io.kubernetes.pod.namespace", "io.kubernetes.pod.name", "io.kubernetes.pod.uid", "io.kubernetes.container.name", "container_image""#;
        assert!(container.contains(time) && blkio.contains(time));
        assert_eq!(
            texts,
            [
                format!(r#"SELECT first("memory_usage_bytes") FROM {container}"#),
                format!(r#"SELECT last("memory_usage_bytes") FROM {container}"#),
                format!(r#"SELECT first("io_service_bytes_recursive_read") FROM {blkio}"#),
                format!(r#"SELECT last("io_service_bytes_recursive_read") FROM {blkio}"#),
            ]
        );
        assert_eq!(edges, [Edge::First, Edge::Last, Edge::First, Edge::Last]);
        let kinds: Vec<StatementKind> = plan.statements.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                StatementKind::Container,
                StatementKind::Container,
                StatementKind::Blkio,
                StatementKind::Blkio
            ]
        );
        assert_eq!(plan.body_bytes, form_body(&plan.query()).len());
        let toks = tokenize(&plan.query()).unwrap();
        assert_eq!(toks.iter().filter(|t| **t == Tok::Punct(';')).count(), 3);
        // Times before 1970 are clamped to the epoch, as in fetch.
        let early = TimeWindow::new(Timestamp::from_millis(-5_000), Timestamp::from_millis(7));
        let (plan, _) = seen_plan(&Schema::default(), None, early).unwrap();
        assert!(
            plan.statements[0]
                .text
                .contains("WHERE time >= 0ms AND time < 7ms GROUP BY")
        );
    }

    #[test]
    fn seen_statements_follow_the_schema_and_quote_its_names() {
        // A retention policy, odd names, no memory field, no image tag.
        let mut schema = Schema::default();
        schema.container.measurement = r#"pod"container"#.into();
        schema.container.namespace_tag = "name'space".into();
        schema.container.fields = vec![
            (Metric::CpuUsageNanocores, "cpu".into()),
            (Metric::MemoryRssBytes, r"rss\n".into()),
        ];
        let b = schema.blkio.as_mut().unwrap();
        b.image_tag = None;
        b.fields = vec![(Metric::BlkioWriteBytes, "w".into())];
        let (plan, edges) = seen_plan(&schema, Some("one week"), window()).unwrap();
        assert_eq!(edges.len(), 4);
        assert_eq!(
            plan.statements[1].text,
            r#"SELECT last("cpu") FROM "one week"."pod\"container" WHERE time >= 1700000000000ms AND time < 1700000600000ms GROUP BY "name'space", "pod_name", "container_name""#
        );
        assert_eq!(
            plan.statements[2].text,
            r#"SELECT first("w") FROM "one week"."docker_container_blkio" WHERE time >= 1700000000000ms AND time < 1700000600000ms GROUP BY "io.kubernetes.pod.namespace", "io.kubernetes.pod.name", "io.kubernetes.pod.uid", "io.kubernetes.container.name""#
        );
        let toks = tokenize(&plan.query()).unwrap();
        assert!(toks.contains(&Tok::QIdent(r#"pod"container"#.into())));
        assert!(toks.contains(&Tok::QIdent("name'space".into())));
        assert!(!toks.iter().any(|t| matches!(t, Tok::Str(_))), "no literals: {toks:?}");

        // Without a block-I/O measurement (or a field of it): two statements.
        for blkio in [None, Some(Vec::new())] {
            let mut s = Schema::default();
            match blkio {
                None => s.blkio = None,
                Some(fields) => s.blkio.as_mut().unwrap().fields = fields,
            }
            let (plan, edges) = seen_plan(&s, None, window()).unwrap();
            assert_eq!(edges, [Edge::First, Edge::Last]);
            assert!(plan.statements.iter().all(|s| s.kind == StatementKind::Container));
        }
        // Without a container field there is nothing to look for.
        let mut s = Schema::default();
        s.container.fields.clear();
        assert!(seen_plan(&s, None, window()).is_none());
    }

    proptest! {
        #[test]
        fn seen_statements_quote_any_configured_name(
            measurement in hostile().prop_filter("not empty", |s| !s.is_empty()),
            tag in hostile().prop_filter("not empty", |s| !s.is_empty()),
            field in hostile().prop_filter("not empty", |s| !s.is_empty()),
        ) {
            let mut schema = Schema::default();
            schema.container.measurement = measurement.clone();
            schema.container.pod_tag = tag.clone();
            schema.container.fields = vec![(Metric::MemoryUsageBytes, field.clone())];
            let (plan, _) = seen_plan(&schema, None, window()).unwrap();
            let toks = tokenize(&plan.statements[0].text).map_err(TestCaseError::fail)?;
            let idents: Vec<&str> = toks.iter().filter_map(|t| match t { Tok::QIdent(s) => Some(s.as_str()), _ => None }).collect();
            prop_assert_eq!(idents, vec![field.as_str(), &measurement, "namespace", &tag, "container_name"]);
        }
    }

    #[test]
    fn chunks_by_count_and_by_bytes() {
        let schema = Schema::default();
        let pods: Vec<PodGroup> = (0..450)
            .map(|i| {
                pod(
                    &format!("ns-{}", i / 100),
                    &format!("pod-{i}"),
                    &format!("u{i}"),
                    &["c"],
                )
            })
            .collect();
        let plans = planner(&schema, 200, 1 << 20).plan(&pods);
        assert_eq!(plans.iter().map(|p| p.pods.len()).collect::<Vec<_>>(), [200, 200, 50]);
        check_plans(&plans, 450, 200, 1 << 20).unwrap();
        assert_eq!(planner(&schema, 200, 1 << 20).plan(&pods[..200]).len(), 1);
        let small = planner(&schema, 200, 4096).plan(&pods);
        assert!(small.len() > 3, "{} requests", small.len());
        check_plans(&small, 450, 200, 4096).unwrap();
        // Chunks are filled: each but the last would have gone over with one more pod.
        assert!(
            small.iter().rev().skip(1).all(|p| p.body_bytes > 4096 - 200),
            "{small:?}"
        );
    }

    #[test]
    fn a_pod_too_big_for_the_cap_goes_alone_and_the_rest_still_fit() {
        let schema = Schema::default();
        let huge: Vec<String> = (0..300).map(|i| format!("container-with-a-long-name-{i}")).collect();
        let huge: Vec<&str> = huge.iter().map(String::as_str).collect();
        let mut pods: Vec<PodGroup> = (0..20)
            .map(|i| pod("ns", &format!("a-{i}"), &format!("u{i}"), &["c"]))
            .collect();
        pods.push(pod("ns", "b-huge", "u-huge", &huge));
        pods.extend((0..20).map(|i| pod("ns", &format!("c-{i}"), &format!("v{i}"), &["c"])));
        let plans = planner(&schema, 100, 4096).plan(&pods);
        check_plans(&plans, pods.len(), 100, 4096).unwrap();
        let alone: Vec<&RequestPlan> = plans.iter().filter(|p| p.body_bytes > 4096).collect();
        assert_eq!(alone.len(), 1);
        assert_eq!(alone[0].pods.len(), 1);
        assert_eq!(pods[alone[0].pods.start].name, "b-huge");
        // And a cap smaller than any single pod still gives one request per pod.
        let tiny = planner(&schema, 100, 10).plan(&pods);
        assert_eq!(tiny.len(), pods.len());
        check_plans(&tiny, pods.len(), 100, 10).unwrap();
    }

    #[test]
    fn pods_without_uid_get_no_blkio_statement() {
        let schema = Schema::default();
        let plans = planner(&schema, 100, 1 << 20).plan(&[pod("ns", "p", "", &["c"])]);
        assert_eq!(plans[0].statements.len(), 3);
        assert!(plans[0].statements.iter().all(|s| s.kind != StatementKind::Blkio));
        check_plans(&plans, 1, 100, 1 << 20).unwrap();
        // A uid appearing later in the chunk adds the statement, and is counted.
        let plans = planner(&schema, 100, 1 << 20).plan(&[pod("ns", "p", "", &["c"]), pod("ns", "q", "u", &["d"])]);
        assert_eq!(plans[0].statements.len(), 4);
        check_plans(&plans, 2, 100, 1 << 20).unwrap();
    }

    fn hostile() -> impl Strategy<Value = String> {
        prop_oneof![
            "[^\u{0}]{0,24}",
            proptest::collection::vec(
                prop_oneof![
                    Just("'".to_owned()),
                    Just("\"".to_owned()),
                    Just("\\".to_owned()),
                    Just("/".to_owned()),
                    Just("\\/".to_owned()),
                    Just("\n".to_owned()),
                    Just("\r".to_owned()),
                    Just(";".to_owned()),
                    Just(" OR 1=1 --".to_owned()),
                    Just(")$/ OR /.*".to_owned()),
                    Just("\\n".to_owned()),
                    Just("<>".to_owned()),
                    "[a-zé€😀|.*+?()\\[\\]{}^$]{1,3}",
                ],
                0..8
            )
            .prop_map(|v| v.concat()),
        ]
    }

    proptest! {
        #[test]
        fn quoted_literal_is_one_token_that_decodes_back(s in any::<String>()) {
            match quote_literal(&s) {
                None => prop_assert!(s.contains('\0')),
                Some(q) => {
                    let toks = tokenize(&q).map_err(TestCaseError::fail)?;
                    prop_assert_eq!(toks, vec![Tok::Str(s)]);
                }
            }
        }

        #[test]
        fn the_counted_size_is_the_sent_size_and_stays_under_the_cap(
            pods in proptest::collection::vec(
                (0..3usize, hostile(), prop_oneof![Just(String::new()), hostile()], proptest::collection::btree_set(hostile(), 1..4)),
                1..40,
            ),
            chunk_size in 1..20usize,
            max_body in 200..6000usize,
        ) {
            let schema = Schema::default();
            let mut groups: Vec<PodGroup> = pods
                .iter()
                .map(|(ns, name, uid, containers)| {
                    let containers: Vec<&str> = containers.iter().map(String::as_str).collect();
                    pod(&format!("ns-{ns}"), name, uid, &containers)
                })
                .collect();
            groups.sort();
            groups.dedup_by(|a, b| a.namespace == b.namespace && a.name == b.name);
            let plans = planner(&schema, chunk_size, max_body).plan(&groups);
            check_plans(&plans, groups.len(), chunk_size, max_body).map_err(TestCaseError::fail)?;
        }

        #[test]
        fn hostile_names_cannot_change_the_statement(
            ns in hostile(), name in hostile(), uid in hostile(),
            c1 in hostile(), c2 in hostile(),
        ) {
            let schema = Schema::default();
            let p = planner(&schema, 100, 1 << 20);
            let real = pod(&ns, &name, &uid, &[&c1, &c2]);
            let q = p.plan(std::slice::from_ref(&real))[0].query();
            let toks = tokenize(&q).map_err(TestCaseError::fail)?;
            // The same statement built from harmless names has the same tokens
            // apart from the string literals.
            let containers: Vec<String> = real.containers.iter().enumerate().map(|(i, _)| format!("c{i}")).collect();
            let uid_name = if uid.is_empty() { "" } else { "u" };
            let tame = pod("n", "p", uid_name, &containers.iter().map(String::as_str).collect::<Vec<_>>());
            let tame_toks = tokenize(&p.plan(&[tame])[0].query()).map_err(TestCaseError::fail)?;
            prop_assert_eq!(toks.len(), tame_toks.len());
            let mut literals = Vec::new();
            for (a, b) in toks.iter().zip(&tame_toks) {
                match (a, b) {
                    (Tok::Str(s), Tok::Str(_)) => literals.push(s.clone()),
                    _ => prop_assert_eq!(a, b),
                }
            }
            // Literals are exactly the names, in the order the planner uses them.
            let cs: Vec<String> = real.containers.iter().map(|c| c.to_string()).collect();
            let mut expected = vec![ns.clone(), name.clone()];
            expected.extend(cs.iter().cloned()); // container
            expected.extend([ns.clone(), name.clone()]); // network
            expected.extend([ns.clone(), name.clone()]); // volume
            if !uid.is_empty() { expected.push(uid.clone()); expected.extend(cs.iter().cloned()); } // blkio
            prop_assert_eq!(literals, expected);
        }
    }
}
