//! Where verdicts go: the [`VerdictSink`] trait and the sinks that need no
//! backend — the log line, JSON lines, Prometheus metrics, and an in-memory
//! collector. Kubernetes Events and InfluxDB points live in their adapters.

use crate::pod::PodId;
use crate::verdict::{AnomalyReason, NO_CLASS, Outcome, SkipReason};
use async_trait::async_trait;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::io::Write;
use std::sync::Mutex;

/// Why a sink could not record an outcome. The watcher logs it and goes on:
/// one failing sink never stops the others or the watcher.
#[derive(Debug, thiserror::Error)]
#[error("sink {sink} failed: {message}")]
pub struct SinkError {
    /// Which sink.
    pub sink: String,
    /// What went wrong.
    pub message: String,
}

impl SinkError {
    /// An error of sink `sink` with a message.
    pub fn new(sink: impl Into<String>, message: impl ToString) -> Self {
        SinkError {
            sink: sink.into(),
            message: message.to_string(),
        }
    }
}

/// Receives every outcome the watcher reaches.
#[async_trait]
pub trait VerdictSink: Send + Sync {
    /// A short name for logs (`"log"`, `"kubernetes-events"`).
    fn name(&self) -> &str;

    /// Records one outcome.
    async fn record(&self, outcome: &Outcome) -> Result<(), SinkError>;

    /// Told after every watcher tick how many containers wait for a verdict.
    fn pending(&self, _containers: usize) {}

    /// Told of a pod the watcher does not judge, and why.
    fn skipped(&self, _pod: &PodId, _reason: SkipReason) {}
}

/// Logs each outcome with `tracing`: the old system's line
/// (`nginx1239841 got classified by the model as nginx`), plus confidence and
/// any anomaly; anomalies and timeouts at WARN, the rest at INFO.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogSink;

#[async_trait]
impl VerdictSink for LogSink {
    fn name(&self) -> &str {
        "log"
    }

    async fn record(&self, outcome: &Outcome) -> Result<(), SinkError> {
        let pod = outcome.pod();
        match outcome {
            Outcome::Classified(v) if v.is_anomaly() => tracing::warn!(
                namespace = %pod.namespace, pod = %pod.name, container = %v.container,
                predicted = %v.predicted, claimed = v.claimed.as_deref().unwrap_or(NO_CLASS),
                confidence = v.confidence, "{v}"
            ),
            Outcome::Classified(v) => tracing::info!(
                namespace = %pod.namespace, pod = %pod.name, container = %v.container,
                predicted = %v.predicted, claimed = v.claimed.as_deref().unwrap_or(NO_CLASS),
                confidence = v.confidence, "{v}"
            ),
            Outcome::TimedOut { .. } => tracing::warn!(namespace = %pod.namespace, pod = %pod.name, "{outcome}"),
            Outcome::Deleted { .. } | Outcome::Skipped { .. } => {
                tracing::info!(namespace = %pod.namespace, pod = %pod.name, "{outcome}")
            }
        }
        Ok(())
    }
}

/// Writes each outcome as one JSON object per line to a writer (a file, stdout).
pub struct JsonLinesSink<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> JsonLinesSink<W> {
    /// A sink writing to `out`; each line is flushed.
    pub fn new(out: W) -> Self {
        JsonLinesSink { out: Mutex::new(out) }
    }

    /// Gives the writer back.
    pub fn into_inner(self) -> W {
        match self.out.into_inner() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[async_trait]
impl<W: Write + Send> VerdictSink for JsonLinesSink<W> {
    fn name(&self) -> &str {
        "json-lines"
    }

    async fn record(&self, outcome: &Outcome) -> Result<(), SinkError> {
        let line = serde_json::to_string(outcome).map_err(|e| SinkError::new("json-lines", e))?;
        let mut out = self
            .out
            .lock()
            .map_err(|_| SinkError::new("json-lines", "writer lock poisoned"))?;
        writeln!(out, "{line}")
            .and_then(|_| out.flush())
            .map_err(|e| SinkError::new("json-lines", e))
    }
}

/// Keeps every outcome in memory (tests, the demo's summary).
#[derive(Debug, Default)]
pub struct MemorySink {
    outcomes: Mutex<Vec<Outcome>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every outcome recorded so far, in order.
    pub fn outcomes(&self) -> Vec<Outcome> {
        match self.outcomes.lock() {
            Ok(v) => v.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

#[async_trait]
impl VerdictSink for MemorySink {
    fn name(&self) -> &str {
        "memory"
    }

    async fn record(&self, outcome: &Outcome) -> Result<(), SinkError> {
        match self.outcomes.lock() {
            Ok(mut v) => v.push(outcome.clone()),
            Err(p) => p.into_inner().push(outcome.clone()),
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    predicted: String,
    claimed: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnomalyLabels {
    predicted: String,
    claimed: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
    pods: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PodsLabel {
    pods: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SkipLabels {
    reason: &'static str,
}

/// The `pods` label: `new` for pods that started after the watcher,
/// `at_start` for those already running when it started.
fn pods_label(at_start: bool) -> &'static str {
    if at_start { "at_start" } else { "new" }
}

fn time_to_verdict_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 12))
}

/// Prometheus metrics about the watcher's outcomes, registered in a
/// `prometheus_client` [`Registry`] that the program serves on `/metrics`:
///
/// * `cad_verdicts_total{predicted, claimed}` — classifications;
/// * `cad_anomalies_total{predicted, claimed, reason}` — anomalies;
/// * `cad_outcomes_total{outcome, pods}` — classified / timed_out / deleted;
/// * `cad_skipped_pods_total{reason}` — pods not judged (`already_classified`,
///   `running_before_start`);
/// * `cad_pending_containers` — containers waiting for a verdict;
/// * `cad_time_to_verdict_seconds{pods}` — histogram of pod start to verdict.
///
/// `pods` is `new` for pods that started after the watcher and `at_start`
/// for those already running when it started (their time to verdict counts
/// from a start the watcher did not see, so it is kept apart). A claimed class
/// of none is [`NO_CLASS`]. Labels carry class names only (never pod names),
/// so cardinality stays bounded.
#[derive(Clone, Debug)]
pub struct PrometheusSink {
    verdicts: Family<VerdictLabels, Counter>,
    anomalies: Family<AnomalyLabels, Counter>,
    outcomes: Family<OutcomeLabels, Counter>,
    skipped: Family<SkipLabels, Counter>,
    pending: Gauge,
    time_to_verdict: Family<PodsLabel, Histogram, fn() -> Histogram>,
}

impl PrometheusSink {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let s = PrometheusSink {
            verdicts: Family::default(),
            anomalies: Family::default(),
            outcomes: Family::default(),
            skipped: Family::default(),
            pending: Gauge::default(),
            time_to_verdict: Family::new_with_constructor(time_to_verdict_histogram),
        };
        registry.register(
            "cad_verdicts",
            "Containers classified, by predicted and claimed class",
            s.verdicts.clone(),
        );
        registry.register("cad_anomalies", "Verdicts flagged as anomalies", s.anomalies.clone());
        registry.register("cad_outcomes", "Outcomes of the wait for a verdict", s.outcomes.clone());
        registry.register("cad_skipped_pods", "Pods not judged, by reason", s.skipped.clone());
        registry.register(
            "cad_pending_containers",
            "Containers waiting for a verdict",
            s.pending.clone(),
        );
        registry.register(
            "cad_time_to_verdict_seconds",
            "Time from pod start to verdict (pods=new: started after the watcher)",
            s.time_to_verdict.clone(),
        );
        s
    }
}

#[async_trait]
impl VerdictSink for PrometheusSink {
    fn name(&self) -> &str {
        "prometheus"
    }

    async fn record(&self, outcome: &Outcome) -> Result<(), SinkError> {
        let pods = pods_label(outcome.at_start());
        self.outcomes
            .get_or_create(&OutcomeLabels {
                outcome: outcome.kind().to_string(),
                pods,
            })
            .inc();
        if let Outcome::Classified(v) = outcome {
            let claimed = v.claimed.clone().unwrap_or_else(|| NO_CLASS.into());
            self.verdicts
                .get_or_create(&VerdictLabels {
                    predicted: v.predicted.clone(),
                    claimed: claimed.clone(),
                })
                .inc();
            if let Some(reason) = v.anomaly {
                let reason = match reason {
                    AnomalyReason::Mismatch => "mismatch",
                    AnomalyReason::LowConfidence => "low_confidence",
                };
                self.anomalies
                    .get_or_create(&AnomalyLabels {
                        predicted: v.predicted.clone(),
                        claimed,
                        reason: reason.into(),
                    })
                    .inc();
            }
            self.time_to_verdict
                .get_or_create(&PodsLabel { pods })
                .observe(v.time_to_verdict.as_secs_f64());
        }
        Ok(())
    }

    fn pending(&self, containers: usize) {
        self.pending.set(i64::try_from(containers).unwrap_or(i64::MAX));
    }

    fn skipped(&self, _pod: &PodId, reason: SkipReason) {
        self.skipped
            .get_or_create(&SkipLabels {
                reason: reason.as_str(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::PodId;
    use crate::time::Timestamp;
    use crate::verdict::Verdict;
    use std::time::Duration;

    fn classified(predicted: &str, claimed: Option<&str>, anomaly: Option<AnomalyReason>) -> Outcome {
        Outcome::Classified(Verdict {
            pod: PodId::new("ns", "nginx-1", "u1"),
            container: "nginx".into(),
            node: Some("node-a".into()),
            claimed: claimed.map(Into::into),
            predicted: predicted.into(),
            confidence: 0.9,
            anomaly,
            time: Timestamp::from_secs(100),
            time_to_verdict: Duration::from_secs(20),
            at_start: false,
        })
    }

    #[tokio::test]
    async fn json_lines_are_one_object_per_outcome() {
        let sink = JsonLinesSink::new(Vec::new());
        sink.record(&classified("nginx", Some("nginx"), None)).await.unwrap();
        let timed_out = Outcome::TimedOut {
            pod: PodId::new("ns", "p\"odd\nname", "u2"),
            container: "c".into(),
            claimed: None,
            time: Timestamp(0),
            waited: Duration::from_secs(120),
            at_start: false,
        };
        sink.record(&timed_out).await.unwrap();
        let text = String::from_utf8(sink.into_inner()).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2, "an odd pod name must not break the line format: {text}");
        let back: Outcome = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(back, timed_out);
    }

    #[tokio::test]
    async fn prometheus_counts_verdicts_anomalies_and_pending() {
        let mut registry = Registry::default();
        let sink = PrometheusSink::new(&mut registry);
        sink.record(&classified("nginx", Some("nginx"), None)).await.unwrap();
        sink.record(&classified("mysql", Some("nginx"), Some(AnomalyReason::Mismatch)))
            .await
            .unwrap();
        sink.record(&classified("mysql", Some("nginx"), Some(AnomalyReason::Mismatch)))
            .await
            .unwrap();
        sink.pending(7);
        let mut old = classified("nginx", None, None);
        if let Outcome::Classified(v) = &mut old {
            v.at_start = true;
            v.time_to_verdict = Duration::from_secs(86_400);
        }
        sink.record(&old).await.unwrap();
        sink.skipped(&PodId::new("ns", "p", "u"), SkipReason::RunningBeforeStart);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(r#"cad_verdicts_total{predicted="mysql",claimed="nginx"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"cad_anomalies_total{predicted="mysql",claimed="nginx",reason="mismatch"} 2"#));
        assert!(
            text.contains(r#"cad_outcomes_total{outcome="classified",pods="new"} 3"#),
            "{text}"
        );
        assert!(text.contains(r#"cad_outcomes_total{outcome="classified",pods="at_start"} 1"#));
        assert!(text.contains(r#"cad_verdicts_total{predicted="nginx",claimed="none"} 1"#));
        assert!(text.contains(r#"cad_skipped_pods_total{reason="running_before_start"} 1"#));
        assert!(text.contains("cad_pending_containers 7"));
        // The pod running for a day before the watcher does not land in the new pods' +Inf.
        assert!(
            text.contains(r#"cad_time_to_verdict_seconds_count{pods="new"} 3"#),
            "{text}"
        );
        assert!(text.contains(r#"cad_time_to_verdict_seconds_bucket{le="+Inf",pods="new"} 3"#));
        assert!(text.contains(r#"cad_time_to_verdict_seconds_bucket{le="2048.0",pods="new"} 3"#));
        assert!(text.contains(r#"cad_time_to_verdict_seconds_count{pods="at_start"} 1"#));
    }
}
