//! [`PrometheusSink`]: counters, a gauge and a histogram of the watcher's
//! outcomes in a `prometheus_client` registry (feature `prometheus`).

use super::{SinkError, VerdictSink};
use crate::pod::PodId;
use crate::verdict::{AnomalyReason, NO_CLASS, Outcome, SkipReason};
use async_trait::async_trait;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

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
    use crate::sink::test_outcomes::classified;
    use std::time::Duration;

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
