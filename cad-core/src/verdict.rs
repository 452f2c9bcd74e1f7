//! What the watcher concludes about each container of each pod it sees.
//!
//! Every (pod, container) the watcher sees ends in exactly one [`Outcome`]:
//! classified (a [`Verdict`]), timed out without metrics, or gone first.

use crate::pod::PodId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The pod annotation holding the class cad predicted for it (written by the
/// Kubernetes verdict sink). A watcher that first sees a pod already carrying
/// it treats the pod as done: it was classified before a restart.
pub const ANNOTATION_PREDICTED: &str = "cad.io/predicted-class";

/// Why a verdict is an anomaly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AnomalyReason {
    /// The pod claims one class and behaves like another.
    Mismatch,
    /// The model is not sure enough (confidence under the threshold).
    LowConfidence,
}

/// The classification of one container of one pod.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The pod.
    pub pod: PodId,
    /// The container within the pod.
    pub container: String,
    /// The node the pod runs on, if known.
    pub node: Option<String>,
    /// The class the pod claims (from its name or label), if any.
    pub claimed: Option<String>,
    /// The class the model predicts.
    pub predicted: String,
    /// The model's confidence in `predicted`, in `[0, 1]`.
    pub confidence: f64,
    /// Why this is an anomaly, or `None` if it is not one.
    pub anomaly: Option<AnomalyReason>,
    /// When the verdict was reached.
    pub time: Timestamp,
    /// Time from the pod's start (or from when it was first seen, if its
    /// start time is unknown) to the verdict.
    pub time_to_verdict: Duration,
}

impl Verdict {
    /// Whether the verdict flags an anomaly.
    pub fn is_anomaly(&self) -> bool {
        self.anomaly.is_some()
    }
}

impl fmt::Display for Verdict {
    /// The old system's log line, extended:
    /// `nginx1239841 got classified by the model as nginx (confidence 0.97)`,
    /// followed by `— ANOMALY: …` where there is one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} got classified by the model as {} (confidence {:.2})",
            self.pod.name, self.predicted, self.confidence
        )?;
        match (self.anomaly, &self.claimed) {
            (Some(AnomalyReason::Mismatch), Some(c)) => write!(f, " — ANOMALY: named as {c}"),
            (Some(AnomalyReason::Mismatch), None) => write!(f, " — ANOMALY: mismatch"),
            (Some(AnomalyReason::LowConfidence), _) => write!(f, " — ANOMALY: low confidence"),
            (None, _) => Ok(()),
        }
    }
}

/// How the watcher's wait for one container ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The container was classified.
    Classified(Verdict),
    /// No usable metrics arrived before the timeout.
    TimedOut {
        /// The pod.
        pod: PodId,
        /// The container.
        container: String,
        /// The class the pod claims, if any.
        claimed: Option<String>,
        /// When the watcher gave up.
        time: Timestamp,
        /// How long it waited.
        waited: Duration,
    },
    /// The pod was deleted (or ended) before a verdict.
    Deleted {
        /// The pod.
        pod: PodId,
        /// The container.
        container: String,
        /// The class the pod claims, if any.
        claimed: Option<String>,
        /// When the deletion was seen.
        time: Timestamp,
    },
}

impl Outcome {
    /// The pod the outcome is about.
    pub fn pod(&self) -> &PodId {
        match self {
            Outcome::Classified(v) => &v.pod,
            Outcome::TimedOut { pod, .. } | Outcome::Deleted { pod, .. } => pod,
        }
    }

    /// The container the outcome is about.
    pub fn container(&self) -> &str {
        match self {
            Outcome::Classified(v) => &v.container,
            Outcome::TimedOut { container, .. } | Outcome::Deleted { container, .. } => container,
        }
    }

    /// A short name of the kind of outcome: `classified`, `timed_out`, `deleted`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Classified(_) => "classified",
            Outcome::TimedOut { .. } => "timed_out",
            Outcome::Deleted { .. } => "deleted",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Classified(v) => v.fmt(f),
            Outcome::TimedOut {
                pod, container, waited, ..
            } => write!(
                f,
                "{} ({container}) got no usable metrics within {} s; not classified",
                pod.name,
                waited.as_secs()
            ),
            Outcome::Deleted { pod, container, .. } => {
                write!(
                    f,
                    "{} ({container}) was deleted before it could be classified",
                    pod.name
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(claimed: Option<&str>, predicted: &str, anomaly: Option<AnomalyReason>) -> Verdict {
        Verdict {
            pod: PodId::new("default", "nginx1239841", "u"),
            container: "nginx".into(),
            node: None,
            claimed: claimed.map(Into::into),
            predicted: predicted.into(),
            confidence: 0.974,
            anomaly,
            time: Timestamp(0),
            time_to_verdict: Duration::from_secs(12),
        }
    }

    #[test]
    fn the_old_log_line_is_kept() {
        let v = verdict(Some("nginx"), "nginx", None);
        assert_eq!(
            v.to_string(),
            "nginx1239841 got classified by the model as nginx (confidence 0.97)"
        );
        let v = verdict(Some("nginx"), "mysql", Some(AnomalyReason::Mismatch));
        assert!(
            v.to_string()
                .starts_with("nginx1239841 got classified by the model as mysql")
        );
        assert!(v.to_string().ends_with("ANOMALY: named as nginx"));
    }

    #[test]
    fn outcomes_serialise_with_their_kind() {
        let o = Outcome::Classified(verdict(None, "mysql", None));
        let json = serde_json::to_string(&o).unwrap();
        assert!(json.contains("\"outcome\":\"classified\""), "{json}");
        let back: Outcome = serde_json::from_str(&json).unwrap();
        assert_eq!(back, o);
    }
}
