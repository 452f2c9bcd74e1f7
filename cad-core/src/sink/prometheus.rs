//! [`PrometheusSink`]: counters, a gauge and a histogram of the watcher's
//! outcomes in a `prometheus_client` registry (feature `prometheus`).

use super::{SinkError, VerdictSink};
use crate::pod::PodId;
use crate::verdict::{NO_CLASS, Outcome, SkipReason};
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
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnomalyLabels {
    predicted: String,
    claimed: String,
    kind: &'static str,
    reason: &'static str,
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
/// * `cad_verdicts_total{predicted, claimed, kind}` — classifications;
/// * `cad_anomalies_total{predicted, claimed, kind, reason}` — anomalies
///   (`kind` `impostor` or `unknown`; `reason` `mismatch`, `no_known_class`
///   or, for a model without open-set calibration, `low_confidence`);
/// * `cad_outcomes_total{outcome, pods}` — classified / timed_out / deleted;
/// * `cad_skipped_pods_total{reason}` — pods not judged (`already_classified`,
///   `running_before_start`);
/// * `cad_pending_containers` — containers waiting for a verdict;
/// * `cad_time_to_verdict_seconds{pods}` — histogram of pod start to verdict.
///
/// `pods` is `new` for pods that started after the watcher and `at_start`
/// for those already running when it started (their time to verdict counts
/// from a start the watcher did not see, so it is kept apart). A claimed class
/// of none is [`NO_CLASS`]. `kind` is one of the five
/// [`Kind`](crate::openset::Kind)s (`as_claimed`, `impostor`, `unknown`,
/// `recognised`, `undecided`). Labels carry class names and these fixed
/// words only (never pod names or numbers), so with C classes
/// `cad_verdicts_total` has at most 5 · C · (C + 1) series.
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
                    kind: v.kind.as_str(),
                })
                .inc();
            if let Some(reason) = v.anomaly {
                self.anomalies
                    .get_or_create(&AnomalyLabels {
                        predicted: v.predicted.clone(),
                        claimed,
                        kind: v.kind.as_str(),
                        reason: reason.as_str(),
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
    use crate::verdict::AnomalyReason;
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
        sink.record(&classified("mysql", Some("mysql"), Some(AnomalyReason::NoKnownClass)))
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
            text.contains(r#"cad_verdicts_total{predicted="mysql",claimed="nginx",kind="impostor"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"cad_anomalies_total{predicted="mysql",claimed="nginx",kind="impostor",reason="mismatch"} 2"#
            )
        );
        assert!(text.contains(r#"cad_verdicts_total{predicted="nginx",claimed="nginx",kind="as_claimed"} 1"#));
        assert!(text.contains(
            r#"cad_anomalies_total{predicted="mysql",claimed="mysql",kind="unknown",reason="no_known_class"} 1"#
        ));
        assert!(
            text.contains(r#"cad_outcomes_total{outcome="classified",pods="new"} 4"#),
            "{text}"
        );
        assert!(text.contains(r#"cad_outcomes_total{outcome="classified",pods="at_start"} 1"#));
        assert!(text.contains(r#"cad_verdicts_total{predicted="nginx",claimed="none",kind="recognised"} 1"#));
        assert!(text.contains(r#"cad_skipped_pods_total{reason="running_before_start"} 1"#));
        assert!(text.contains("cad_pending_containers 7"));
        // The pod running for a day before the watcher does not land in the new pods' +Inf.
        assert!(
            text.contains(r#"cad_time_to_verdict_seconds_count{pods="new"} 4"#),
            "{text}"
        );
        assert!(text.contains(r#"cad_time_to_verdict_seconds_bucket{le="+Inf",pods="new"} 4"#));
        assert!(text.contains(r#"cad_time_to_verdict_seconds_bucket{le="2048.0",pods="new"} 4"#));
        assert!(text.contains(r#"cad_time_to_verdict_seconds_count{pods="at_start"} 1"#));
    }
}
