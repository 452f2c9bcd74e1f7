//! Building InfluxQL: quoting ([`quote`]) and the batched `SELECT` statements.
//!
//! Every name that reaches a statement — pod, namespace, container, UID, and
//! the configured measurement/tag/field names — goes through [`quote`]. Nothing
//! else is ever spliced into a query except integers (times) we format ourselves.

use crate::config::Schema;
use cad_core::{Metric, TimeWindow};
use std::collections::BTreeSet;
use std::fmt::Write as _;

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

/// One pod of a request with the containers wanted from it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PodGroup {
    pub namespace: String,
    pub name: String,
    /// UIDs of the requested pods with this namespace/name (normally one).
    pub uids: BTreeSet<String>,
    pub containers: BTreeSet<String>,
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

/// Everything one HTTP request sends: statements joined by `;`.
#[derive(Clone, Debug)]
pub(crate) struct RequestPlan {
    pub statements: Vec<Statement>,
}

impl RequestPlan {
    /// The `q` parameter.
    pub fn query(&self) -> String {
        let texts: Vec<&str> = self.statements.iter().map(|s| s.text.as_str()).collect();
        texts.join(";\n")
    }
}

/// Builds statements for one configuration.
pub(crate) struct Planner<'a> {
    pub schema: &'a Schema,
    pub retention_policy: Option<&'a str>,
    pub chunk_size: usize,
    pub max_statement_bytes: usize,
}

impl Planner<'_> {
    fn from(&self, measurement: &str) -> String {
        match self.retention_policy {
            Some(rp) => format!("{}.{}", ident(rp), ident(measurement)),
            None => ident(measurement),
        }
    }

    /// `time >= …ms AND time < …ms`; times before 1970 are clamped to the epoch.
    fn time_cond(window: TimeWindow) -> String {
        let start = window.start.as_millis().max(0);
        let end = window.end.as_millis().max(0);
        format!("time >= {start}ms AND time < {end}ms")
    }

    fn k8s_pod_cond(&self, ns_tag: &str, pod_tag: &str, pod: &PodGroup, container_tag: Option<&str>) -> String {
        let mut s = format!(
            "({} = {} AND {} = {}",
            ident(ns_tag),
            lit(&pod.namespace),
            ident(pod_tag),
            lit(&pod.name)
        );
        if let Some(ctag) = container_tag {
            s.push_str(" AND (");
            for (i, c) in pod.containers.iter().enumerate() {
                if i > 0 {
                    s.push_str(" OR ");
                }
                let _ = write!(s, "{} = {}", ident(ctag), lit(c));
            }
            s.push(')');
        }
        s.push(')');
        s
    }

    fn blkio_pod_cond(&self, uid_tag: &str, container_tag: &str, pod: &PodGroup) -> Option<String> {
        let uids: Vec<&String> = pod.uids.iter().filter(|u| !u.is_empty()).collect();
        if uids.is_empty() {
            return None;
        }
        let mut s = String::from("((");
        for (i, u) in uids.iter().enumerate() {
            if i > 0 {
                s.push_str(" OR ");
            }
            let _ = write!(s, "{} = {}", ident(uid_tag), lit(u));
        }
        s.push_str(") AND (");
        for (i, c) in pod.containers.iter().enumerate() {
            if i > 0 {
                s.push_str(" OR ");
            }
            let _ = write!(s, "{} = {}", ident(container_tag), lit(c));
        }
        s.push_str("))");
        Some(s)
    }

    /// `SELECT fields FROM m WHERE time AND (c1 OR c2 …) GROUP BY tags`.
    fn select(
        &self,
        fields: &[&str],
        measurement: &str,
        window: TimeWindow,
        conds: &[String],
        group: &[&str],
    ) -> String {
        let fields: Vec<String> = fields.iter().map(|f| ident(f)).collect();
        let group: Vec<String> = group.iter().map(|g| ident(g)).collect();
        format!(
            "SELECT {} FROM {} WHERE {} AND ({}) GROUP BY {}",
            fields.join(", "),
            self.from(measurement),
            Self::time_cond(window),
            conds.join(" OR "),
            group.join(", ")
        )
    }

    fn container_stmt(&self, window: TimeWindow, pods: &[PodGroup]) -> Option<Statement> {
        let m = &self.schema.container;
        if m.fields.is_empty() || pods.is_empty() {
            return None;
        }
        let conds: Vec<String> = pods
            .iter()
            .map(|p| self.k8s_pod_cond(&m.namespace_tag, &m.pod_tag, p, Some(&m.container_tag)))
            .collect();
        let fields: Vec<&str> = m.fields.iter().map(|(_, f)| f.as_str()).collect();
        let group = [m.namespace_tag.as_str(), m.pod_tag.as_str(), m.container_tag.as_str()];
        Some(Statement {
            kind: StatementKind::Container,
            text: self.select(&fields, &m.measurement, window, &conds, &group),
        })
    }

    fn network_stmt(&self, window: TimeWindow, pods: &[PodGroup]) -> Option<Statement> {
        let m = self.schema.network.as_ref()?;
        if m.fields.is_empty() || pods.is_empty() {
            return None;
        }
        let conds: Vec<String> = pods
            .iter()
            .map(|p| self.k8s_pod_cond(&m.namespace_tag, &m.pod_tag, p, None))
            .collect();
        let fields: Vec<&str> = m.fields.iter().map(|(_, f)| f.as_str()).collect();
        let group = [m.namespace_tag.as_str(), m.pod_tag.as_str()];
        Some(Statement {
            kind: StatementKind::Network,
            text: self.select(&fields, &m.measurement, window, &conds, &group),
        })
    }

    fn volume_stmt(&self, window: TimeWindow, pods: &[PodGroup]) -> Option<Statement> {
        let m = self.schema.volume.as_ref()?;
        if pods.is_empty() {
            return None;
        }
        let conds: Vec<String> = pods
            .iter()
            .map(|p| self.k8s_pod_cond(&m.namespace_tag, &m.pod_tag, p, None))
            .collect();
        let group = [m.namespace_tag.as_str(), m.pod_tag.as_str(), m.volume_tag.as_str()];
        Some(Statement {
            kind: StatementKind::Volume,
            text: self.select(&[m.used_field.as_str()], &m.measurement, window, &conds, &group),
        })
    }

    fn blkio_stmt(&self, window: TimeWindow, pods: &[PodGroup]) -> Option<Statement> {
        let m = self.schema.blkio.as_ref()?;
        if m.fields.is_empty() {
            return None;
        }
        let conds: Vec<String> = pods
            .iter()
            .filter_map(|p| self.blkio_pod_cond(&m.pod_uid_tag, &m.container_tag, p))
            .collect();
        if conds.is_empty() {
            return None;
        }
        let fields: Vec<&str> = m.fields.iter().map(|(_, f)| f.as_str()).collect();
        let group = [m.pod_uid_tag.as_str(), m.container_tag.as_str(), m.device_tag.as_str()];
        Some(Statement {
            kind: StatementKind::Blkio,
            text: self.select(&fields, &m.measurement, window, &conds, &group),
        })
    }

    /// The longest condition one pod adds to any statement.
    fn pod_cost(&self, pod: &PodGroup) -> usize {
        let c = &self.schema.container;
        let mut cost = self
            .k8s_pod_cond(&c.namespace_tag, &c.pod_tag, pod, Some(&c.container_tag))
            .len();
        if let Some(b) = &self.schema.blkio {
            cost = cost.max(
                self.blkio_pod_cond(&b.pod_uid_tag, &b.container_tag, pod)
                    .map_or(0, |s| s.len()),
            );
        }
        cost + " OR ".len()
    }

    /// Splits `pods` into chunks of at most `chunk_size` pods whose statements
    /// stay under `max_statement_bytes` (a lone pod always makes a chunk), and
    /// builds one request per chunk.
    pub fn plan(&self, window: TimeWindow, pods: &[PodGroup]) -> Vec<RequestPlan> {
        // Fixed part of the longest statement: fields, FROM, time, GROUP BY.
        let overhead = [
            self.container_stmt(window, &[]),
            self.network_stmt(window, &[]),
            self.volume_stmt(window, &[]),
        ]
        .iter()
        .flatten()
        .map(|s| s.text.len())
        .max()
        .unwrap_or(0)
            + 256;
        let chunk_size = self.chunk_size.max(1);
        let mut chunks: Vec<&[PodGroup]> = Vec::new();
        let mut start = 0;
        let mut bytes = overhead;
        for (i, pod) in pods.iter().enumerate() {
            let cost = self.pod_cost(pod);
            let n = i - start;
            if n > 0 && (n >= chunk_size || bytes + cost > self.max_statement_bytes) {
                chunks.push(&pods[start..i]);
                start = i;
                bytes = overhead;
            }
            bytes += cost;
        }
        if start < pods.len() {
            chunks.push(&pods[start..]);
        }
        chunks
            .into_iter()
            .map(|chunk| RequestPlan {
                statements: [
                    self.container_stmt(window, chunk),
                    self.network_stmt(window, chunk),
                    self.volume_stmt(window, chunk),
                    self.blkio_stmt(window, chunk),
                ]
                .into_iter()
                .flatten()
                .collect(),
            })
            .collect()
    }
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

    fn pod(ns: &str, name: &str, uid: &str, containers: &[&str]) -> PodGroup {
        PodGroup {
            namespace: ns.into(),
            name: name.into(),
            uids: [uid.to_owned()].into_iter().collect(),
            containers: containers.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    fn planner(schema: &Schema) -> Planner<'_> {
        Planner {
            schema,
            retention_policy: None,
            chunk_size: 200,
            max_statement_bytes: 1 << 20,
        }
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
        let plans = planner(&schema).plan(window(), &[pod("default", "nginx-1", "u-1", &["nginx"])]);
        assert_eq!(plans.len(), 1);
        let q = plans[0].query();
        assert!(q.contains(
            r#"FROM "kubernetes_pod_container" WHERE time >= 1700000000000ms AND time < 1700000600000ms AND (("namespace" = 'default' AND "pod_name" = 'nginx-1' AND ("container_name" = 'nginx'))) GROUP BY "namespace", "pod_name", "container_name""#
        ), "{q}");
        assert!(q.contains(r#"("io.kubernetes.pod.uid" = 'u-1') AND ("io.kubernetes.container.name" = 'nginx')"#));
        assert_eq!(plans[0].statements.len(), 4);
        // Only fields cad uses are selected.
        assert!(!q.contains("*") && !q.contains("rootfs_available_bytes"));
        assert!(q.starts_with(r#"SELECT "cpu_usage_nanocores", "cpu_usage_core_nanoseconds""#));
    }

    #[test]
    fn chunks_by_count_and_by_length() {
        let schema = Schema::default();
        let pods: Vec<PodGroup> = (0..450)
            .map(|i| pod("ns", &format!("pod-{i}"), &format!("u{i}"), &["c"]))
            .collect();
        let p = planner(&schema);
        assert_eq!(p.plan(window(), &pods).len(), 3); // 200 + 200 + 50
        assert_eq!(p.plan(window(), &pods[..200]).len(), 1);
        let small = Planner {
            max_statement_bytes: 4096,
            ..planner(&schema)
        };
        let plans = small.plan(window(), &pods);
        assert!(plans.len() > 3);
        for plan in &plans {
            for s in &plan.statements {
                assert!(s.text.len() <= 4096, "statement of {} bytes", s.text.len());
            }
        }
        let total: usize = plans
            .iter()
            .map(|p| p.statements[0].text.matches("\"pod_name\" = ").count())
            .sum();
        assert_eq!(total, 450);
    }

    #[test]
    fn pods_without_uid_get_no_blkio_statement() {
        let schema = Schema::default();
        let plans = planner(&schema).plan(window(), &[pod("ns", "p", "", &["c"])]);
        assert_eq!(plans[0].statements.len(), 3);
        assert!(plans[0].statements.iter().all(|s| s.kind != StatementKind::Blkio));
    }

    fn hostile() -> impl Strategy<Value = String> {
        prop_oneof![
            "[^\u{0}]{0,24}",
            proptest::collection::vec(
                prop_oneof![
                    Just("'".to_owned()),
                    Just("\"".to_owned()),
                    Just("\\".to_owned()),
                    Just("\n".to_owned()),
                    Just(";".to_owned()),
                    Just(" OR 1=1 --".to_owned()),
                    Just("\\n".to_owned()),
                    "[a-zé€😀]{1,3}",
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
        fn hostile_names_cannot_change_the_statement(
            ns in hostile(), name in hostile(), uid in hostile(),
            c1 in hostile(), c2 in hostile(),
        ) {
            let schema = Schema::default();
            let p = planner(&schema);
            let real = pod(&ns, &name, &uid, &[&c1, &c2]);
            let q = p.plan(window(), std::slice::from_ref(&real))[0].query();
            let toks = tokenize(&q).map_err(TestCaseError::fail)?;
            // The same statement built from harmless names has the same tokens
            // apart from the string literals.
            let containers: Vec<String> = real.containers.iter().enumerate().map(|(i, _)| format!("c{i}")).collect();
            let uid_name = if uid.is_empty() { "" } else { "u" };
            let tame = pod("n", "p", uid_name, &containers.iter().map(String::as_str).collect::<Vec<_>>());
            let tame_toks = tokenize(&p.plan(window(), &[tame])[0].query()).map_err(TestCaseError::fail)?;
            prop_assert_eq!(toks.len(), tame_toks.len());
            let mut literals = Vec::new();
            for (a, b) in toks.iter().zip(&tame_toks) {
                match (a, b) {
                    (Tok::Str(s), Tok::Str(_)) => literals.push(s.clone()),
                    _ => prop_assert_eq!(a, b),
                }
            }
            // Literals are exactly the names, in the order the planner uses them.
            let cs: Vec<String> = real.containers.iter().cloned().collect();
            let mut expected = Vec::new();
            for _ in 0..1 { expected.extend([ns.clone(), name.clone()]); expected.extend(cs.iter().cloned()); } // container
            expected.extend([ns.clone(), name.clone()]); // network
            expected.extend([ns.clone(), name.clone()]); // volume
            if !uid.is_empty() { expected.push(uid.clone()); expected.extend(cs.iter().cloned()); } // blkio
            prop_assert_eq!(literals, expected);
        }
    }
}
