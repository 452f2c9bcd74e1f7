//! Where verdicts go: the [`VerdictSink`] trait and the sinks that need no
//! backend — the log line, an in-memory collector, JSON lines (feature
//! `json`) and Prometheus metrics (feature `prometheus`). Kubernetes Events
//! and InfluxDB points live in their adapters.

#[cfg(feature = "json")]
mod json;
#[cfg(feature = "prometheus")]
mod prometheus;

#[cfg(feature = "json")]
pub use json::JsonLinesSink;
#[cfg(feature = "prometheus")]
pub use prometheus::PrometheusSink;

use crate::pod::PodId;
use crate::verdict::{NO_CLASS, Outcome, SkipReason};
use async_trait::async_trait;
use std::sync::Mutex;

/// Why a sink could not record an outcome. The watcher logs it and goes on:
/// one failing sink never stops the others or the watcher.
#[derive(Debug, thiserror::Error)]
#[error("sink {sink} failed")]
pub struct SinkError {
    /// Which sink.
    pub sink: String,
    /// What went wrong (an error, or a message: `&str` and `String` convert too).
    #[source]
    pub source: crate::source::BoxError,
}

impl SinkError {
    /// An error of sink `sink` caused by `source`.
    pub fn new(sink: impl Into<String>, source: impl Into<crate::source::BoxError>) -> Self {
        SinkError {
            sink: sink.into(),
            source: source.into(),
        }
    }
}

/// Receives every outcome the watcher reaches.
///
/// Each sink runs in its own task behind a bounded buffer
/// ([`SinkOptions`](crate::engine::SinkOptions)); an error is logged and
/// counted, and the watcher goes on.
///
/// # Example
///
/// A sink that counts anomalies (add it with
/// [`Watcher::with_sink`](crate::engine::Watcher::with_sink); the
/// [`Watcher`](crate::engine::Watcher) example runs one):
///
/// ```
/// use cad_core::prelude::*;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// #[derive(Default)]
/// struct Anomalies(AtomicUsize);
///
/// #[async_trait]
/// impl VerdictSink for Anomalies {
///     fn name(&self) -> &str {
///         "anomalies"
///     }
///     async fn record(&self, outcome: &Outcome) -> Result<(), SinkError> {
///         if matches!(outcome, Outcome::Classified(v) if v.is_anomaly()) {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///         Ok(())
///     }
/// }
///
/// # futures::executor::block_on(async {
/// let sink = Anomalies::default();
/// let gone = Outcome::Deleted {
///     pod: PodId::new("shop", "nginx-1", "uid-1"),
///     container: "nginx".into(),
///     claimed: Some("nginx".into()),
///     time: Timestamp::from_secs(1_700_000_000),
///     at_start: false,
/// };
/// sink.record(&gone).await.unwrap();
/// assert_eq!(sink.0.load(Ordering::Relaxed), 0);
/// # });
/// ```
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
/// (`nginx1239841 got classified by the model as nginx`), plus confidence,
/// the verdict's kind and its evidence (see [`Verdict`](crate::Verdict)'s
/// `Display`), also as the fields `kind` and `p_value`; anomalies and
/// timeouts at WARN, the rest at INFO.
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
                confidence = v.confidence, kind = v.kind.as_str(), p_value = v.p_value, "{v}"
            ),
            Outcome::Classified(v) => tracing::info!(
                namespace = %pod.namespace, pod = %pod.name, container = %v.container,
                predicted = %v.predicted, claimed = v.claimed.as_deref().unwrap_or(NO_CLASS),
                confidence = v.confidence, kind = v.kind.as_str(), p_value = v.p_value, "{v}"
            ),
            Outcome::TimedOut { .. } => tracing::warn!(namespace = %pod.namespace, pod = %pod.name, "{outcome}"),
            Outcome::Deleted { .. } | Outcome::Skipped { .. } => {
                tracing::info!(namespace = %pod.namespace, pod = %pod.name, "{outcome}")
            }
        }
        Ok(())
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

#[cfg(test)]
pub(crate) mod test_outcomes {
    use crate::openset::Kind;
    use crate::pod::PodId;
    use crate::time::Timestamp;
    use crate::verdict::{AnomalyReason, Outcome, Verdict};
    use std::time::Duration;

    /// A verdict of the kind `anomaly` implies (mismatch: impostor; the
    /// others: unknown; none: as claimed, or recognised without a claim),
    /// with a p-value of 0.5 (0.004 for an anomaly).
    pub(crate) fn classified(predicted: &str, claimed: Option<&str>, anomaly: Option<AnomalyReason>) -> Outcome {
        let kind = match (anomaly, claimed) {
            (Some(AnomalyReason::Mismatch), _) => Kind::Impostor,
            (Some(_), _) => Kind::Unknown,
            (None, Some(_)) => Kind::AsClaimed,
            (None, None) => Kind::Recognised,
        };
        Outcome::Classified(Verdict {
            pod: PodId::new("ns", "nginx-1", "u1"),
            container: "nginx".into(),
            node: Some("node-a".into()),
            claimed: claimed.map(Into::into),
            predicted: predicted.into(),
            confidence: 0.9,
            kind,
            p_value: Some(if anomaly.is_some() { 0.004 } else { 0.5 }),
            behaves_like: (kind != Kind::Unknown).then(|| predicted.into()),
            anomaly,
            time: Timestamp::from_secs(100),
            time_to_verdict: Duration::from_secs(20),
            at_start: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::test_outcomes::classified;
    use super::*;
    use crate::verdict::AnomalyReason;

    #[tokio::test]
    async fn memory_sink_keeps_every_outcome_in_order() {
        let sink = MemorySink::new();
        let a = classified("nginx", Some("nginx"), None);
        let b = classified("mysql", Some("nginx"), Some(AnomalyReason::Mismatch));
        sink.record(&a).await.unwrap();
        sink.record(&b).await.unwrap();
        assert_eq!(sink.outcomes(), vec![a, b]);
    }
}
