//! What the watcher concludes about each container of each pod it sees.
//!
//! Every (pod, container) the watcher judges ends in exactly one [`Outcome`]:
//! classified (a [`Verdict`]), timed out without metrics, or gone first.
//! Pods it does not judge are [skipped](SkipReason), with the reason.
//!
//! In JSON, durations are seconds as a number (`time_to_verdict_seconds`,
//! `waited_seconds`), times milliseconds since the epoch, and "no class" is
//! `null`; in text (logs, Prometheus labels) "no class" is [`NO_CLASS`].

use crate::pod::PodId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The pod annotation holding the class cad predicted for it (written by the
/// Kubernetes verdict sink). A watcher that first sees a pod already carrying
/// it treats the pod as done: it was classified before a restart.
pub const ANNOTATION_PREDICTED: &str = "cad.io/predicted-class";

/// How "no class" (a pod that claims none) is spelled in text outputs: log
/// fields, Prometheus labels. JSON has `null`; InfluxDB points omit the tag.
pub const NO_CLASS: &str = "none";

/// Why the watcher did not judge a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// It carries [`ANNOTATION_PREDICTED`]: an earlier watcher classified it.
    AlreadyClassified,
    /// It was running when the watcher started, and the configuration says
    /// not to judge such pods (all of them, or those older than the timeout).
    RunningBeforeStart,
}

impl SkipReason {
    /// `already_classified` or `running_before_start`.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::AlreadyClassified => "already_classified",
            SkipReason::RunningBeforeStart => "running_before_start",
        }
    }
}

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
    /// start time is unknown) to the verdict; in JSON `time_to_verdict_seconds`.
    #[serde(rename = "time_to_verdict_seconds", with = "crate::time::seconds")]
    pub time_to_verdict: Duration,
    /// The pod was already running when the watcher started (so the time to
    /// verdict says nothing about the watcher's speed).
    #[serde(default)]
    pub at_start: bool,
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
        /// How long it waited; in JSON `waited_seconds`.
        #[serde(rename = "waited_seconds", with = "crate::time::seconds")]
        waited: Duration,
        /// The pod was already running when the watcher started.
        #[serde(default)]
        at_start: bool,
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
        /// The pod was already running when the watcher started.
        #[serde(default)]
        at_start: bool,
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

    /// When the outcome was reached.
    pub fn time(&self) -> Timestamp {
        match self {
            Outcome::Classified(v) => v.time,
            Outcome::TimedOut { time, .. } | Outcome::Deleted { time, .. } => *time,
        }
    }

    /// Whether the pod was already running when the watcher started.
    pub fn at_start(&self) -> bool {
        match self {
            Outcome::Classified(v) => v.at_start,
            Outcome::TimedOut { at_start, .. } | Outcome::Deleted { at_start, .. } => *at_start,
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
            at_start: false,
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

    #[test]
    fn durations_are_seconds_and_no_class_is_null_in_json() {
        let mut v = verdict(None, "mysql", None);
        v.time_to_verdict = Duration::from_millis(42_500);
        let json: serde_json::Value = serde_json::to_value(Outcome::Classified(v)).unwrap();
        assert_eq!(json["time_to_verdict_seconds"], 42.5, "{json}");
        assert!(json["claimed"].is_null(), "{json}");
        let t = Outcome::TimedOut {
            pod: PodId::new("default", "p", "u"),
            container: "c".into(),
            claimed: None,
            time: Timestamp(0),
            waited: Duration::from_secs(120),
            at_start: true,
        };
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["waited_seconds"], 120.0, "{json}");
        assert_eq!(serde_json::from_value::<Outcome>(json).unwrap(), t);
        let text = serde_json::to_string(&t).unwrap();
        assert!(!text.contains("secs") && !text.contains("nanos"), "{text}");
        let negative = text.replace("120.0", "-1.0");
        assert!(serde_json::from_str::<Outcome>(&negative).is_err());
    }
}
