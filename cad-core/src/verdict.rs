//! What the watcher concludes about each container of each pod it sees.
//!
//! Every (pod, container) the watcher judges ends in exactly one [`Outcome`]:
//! classified (a [`Verdict`]), timed out without metrics, gone first, or
//! skipped with the reason ([`SkipReason`]: a sidecar, too old for the
//! model's trained ages, …).
//!
//! In JSON, durations are seconds as a number (`time_to_verdict_seconds`,
//! `waited_seconds`), times milliseconds since the epoch, and "no class" is
//! `null`; in text (logs, Prometheus labels) "no class" is [`NO_CLASS`].

use crate::openset::Kind;
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

/// Why the watcher did not judge a pod or a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SkipReason {
    /// It carries [`ANNOTATION_PREDICTED`]: an earlier watcher classified it.
    AlreadyClassified,
    /// It was running when the watcher started, and the configuration says
    /// not to judge such pods (all of them, or those older than the timeout).
    RunningBeforeStart,
    /// A known sidecar or infrastructure container
    /// ([`Labeler::container_claims`](crate::label::Labeler::container_claims)):
    /// neither trained on nor judged.
    Sidecar,
    /// First seen at an age the model was not trained for (it has no
    /// steady rows, see [`AgeCoverage`](crate::age::AgeCoverage)).
    TooOld {
        /// The pod's age when the watcher first saw it; in JSON `age_seconds`.
        #[serde(rename = "age_seconds", with = "crate::time::seconds")]
        age: Duration,
        /// The oldest age the model covers; in JSON `max_age_seconds`.
        #[serde(rename = "max_age_seconds", with = "crate::time::seconds")]
        max_age: Duration,
    },
    /// It claims a class of the model's class list that the model has fewer
    /// than [`MIN_CONTAINERS_TO_JUDGE`](crate::openset::MIN_CONTAINERS_TO_JUDGE)
    /// training containers of ([`ActiveModel::judges_claims_of`](crate::engine::ActiveModel::judges_claims_of)):
    /// with none nothing can behave like the class, and with one the
    /// calibration had no container of it to hold out, so the claim cannot
    /// be judged at the false-anomaly rate (such claims were flagged, honest
    /// or not).
    TooFewContainers {
        /// The training containers of the claimed class.
        containers: usize,
    },
}

impl SkipReason {
    /// `already_classified`, `running_before_start`, `sidecar`, `too_old` or
    /// `too_few_containers` (a Prometheus label value).
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::AlreadyClassified => "already_classified",
            SkipReason::RunningBeforeStart => "running_before_start",
            SkipReason::Sidecar => "sidecar",
            SkipReason::TooOld { .. } => "too_old",
            SkipReason::TooFewContainers { .. } => "too_few_containers",
        }
    }
}

impl fmt::Display for SkipReason {
    /// `skipped: sidecar`, `skipped: too old (age 3 h, the model covers up to 5 min)`, ….
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::AlreadyClassified => f.write_str("skipped: already classified"),
            SkipReason::RunningBeforeStart => f.write_str("skipped: running before the watcher started"),
            SkipReason::Sidecar => f.write_str("skipped: sidecar"),
            SkipReason::TooOld { age, max_age } => write!(
                f,
                "skipped: too old (age {} s; the model was trained for ages up to {} s)",
                age.as_secs(),
                max_age.as_secs()
            ),
            SkipReason::TooFewContainers { containers } => write!(
                f,
                "skipped: the model has {} of the class it claims (at least {} are needed to judge a claim)",
                Containers(*containers),
                crate::openset::MIN_CONTAINERS_TO_JUDGE
            ),
        }
    }
}

/// Why a verdict is an anomaly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AnomalyReason {
    /// The pod claims one class and behaves like another ([`Kind::Impostor`]).
    Mismatch,
    /// The model is not sure enough: its raw confidence is under the
    /// watcher's threshold (only for a model without open-set calibration;
    /// the kind is then [`Kind::Unknown`]).
    LowConfidence,
    /// The open-set model finds no known class it behaves like
    /// ([`Kind::Unknown`]).
    NoKnownClass,
}

impl AnomalyReason {
    /// `mismatch`, `low_confidence` or `no_known_class` (a Prometheus label value).
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyReason::Mismatch => "mismatch",
            AnomalyReason::LowConfidence => "low_confidence",
            AnomalyReason::NoKnownClass => "no_known_class",
        }
    }
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
    /// The model's confidence in `predicted`, in `[0, 1]`: calibrated (the
    /// share of such verdicts that were right on held-out containers) when
    /// the model carries a confidence map, else the classifier's own.
    pub confidence: f64,
    /// What the verdict says about the container: as claimed, impostor,
    /// unknown, recognised or undecided ([`crate::openset::decision::decide`]).
    pub kind: Kind,
    /// The evidence of the open-set judgement: for an unknown, the largest
    /// p-value of any class; for an impostor or as claimed, the claimed
    /// class's p-value; otherwise the largest. `None` without open-set
    /// calibration or with too few usable features.
    pub p_value: Option<f64>,
    /// The known class the container behaves most like (the open-set
    /// model's; the classifier's prediction without one), if any.
    pub behaves_like: Option<String>,
    /// Why this is an anomaly, or `None` if it is not one: `Some` exactly
    /// when the kind is an impostor or an unknown.
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

/// `no training containers`, `1 training container`, `3 training containers`.
struct Containers(usize);

impl fmt::Display for Containers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("no training containers"),
            1 => f.write_str("1 training container"),
            n => write!(f, "{n} training containers"),
        }
    }
}

/// ` (p = 0.003)`, ` (p < 0.001)`, or nothing without a p-value.
struct Evidence(Option<f64>);

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(p) if p < 0.0005 => f.write_str(" (p < 0.001)"),
            Some(p) => write!(f, " (p = {p:.3})"),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Verdict {
    /// The old system's log line, extended with the kind and its evidence:
    /// `nginx1239841 got classified by the model as nginx (confidence 0.97)`,
    /// then ` — as claimed (p = 0.412)`,
    /// ` — ANOMALY: named as nginx, behaves like mysql (p = 0.001)`,
    /// ` — ANOMALY: behaves like no known class (p = 0.003)` (` — ANOMALY:
    /// claims no class, behaves like no known class …` without a claim), …. Without
    /// open-set calibration a verdict that is not an anomaly keeps the old
    /// line exactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} got classified by the model as {} (confidence {:.2})",
            self.pod.name, self.predicted, self.confidence
        )?;
        let p = Evidence(self.p_value);
        let like = self.behaves_like.as_deref().unwrap_or(&self.predicted);
        match self.kind {
            Kind::Impostor => match &self.claimed {
                Some(c) => write!(f, " — ANOMALY: named as {c}, behaves like {like}{p}"),
                None => write!(f, " — ANOMALY: mismatch{p}"),
            },
            Kind::Unknown if self.anomaly == Some(AnomalyReason::LowConfidence) => {
                f.write_str(" — ANOMALY: low confidence")
            }
            // Without a claim it was judged at the rate for pods that claim
            // none (`--unclaimed-false-unknown-rate`): say so, as "recognised" does.
            Kind::Unknown if self.claimed.is_none() => {
                write!(f, " — ANOMALY: claims no class, behaves like no known class{p}")
            }
            Kind::Unknown => write!(f, " — ANOMALY: behaves like no known class{p}"),
            Kind::AsClaimed | Kind::Recognised if self.p_value.is_none() => Ok(()),
            // The claimed class is in the prediction set, though not the
            // classifier's top class: say that it fits, not just "as claimed"
            // after "classified … as <another class>".
            Kind::AsClaimed => match &self.claimed {
                Some(c) if *c != self.predicted => write!(f, " — as claimed, {c} fits too{p}"),
                _ => write!(f, " — as claimed{p}"),
            },
            // The classifier's top class and the only class the open-set
            // test keeps can differ; say so rather than print two classes
            // side by side as if they agreed.
            Kind::Recognised if like != self.predicted => {
                write!(f, " — claims no class, behaves like {like}, not {}{p}", self.predicted)
            }
            Kind::Recognised => write!(f, " — claims no class, behaves like {like}{p}"),
            Kind::Undecided if self.p_value.is_none() => f.write_str(" — undecided: too few usable metrics"),
            Kind::Undecided => write!(f, " — undecided: claims no class and fits several{p}"),
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
    /// The container is not judged ([`SkipReason`]).
    Skipped {
        /// The pod.
        pod: PodId,
        /// The container.
        container: String,
        /// The class the container claims, if any.
        claimed: Option<String>,
        /// When it was skipped.
        time: Timestamp,
        /// Why.
        reason: SkipReason,
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
            Outcome::TimedOut { pod, .. } | Outcome::Deleted { pod, .. } | Outcome::Skipped { pod, .. } => pod,
        }
    }

    /// The container the outcome is about.
    pub fn container(&self) -> &str {
        match self {
            Outcome::Classified(v) => &v.container,
            Outcome::TimedOut { container, .. }
            | Outcome::Deleted { container, .. }
            | Outcome::Skipped { container, .. } => container,
        }
    }

    /// When the outcome was reached.
    pub fn time(&self) -> Timestamp {
        match self {
            Outcome::Classified(v) => v.time,
            Outcome::TimedOut { time, .. } | Outcome::Deleted { time, .. } | Outcome::Skipped { time, .. } => *time,
        }
    }

    /// Whether the pod was already running when the watcher started.
    pub fn at_start(&self) -> bool {
        match self {
            Outcome::Classified(v) => v.at_start,
            Outcome::TimedOut { at_start, .. }
            | Outcome::Deleted { at_start, .. }
            | Outcome::Skipped { at_start, .. } => *at_start,
        }
    }

    /// A short name of the kind of outcome: `classified`, `timed_out`,
    /// `deleted`, `skipped`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Classified(_) => "classified",
            Outcome::TimedOut { .. } => "timed_out",
            Outcome::Deleted { .. } => "deleted",
            Outcome::Skipped { .. } => "skipped",
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
            Outcome::Skipped {
                pod,
                container,
                claimed: Some(class),
                reason: SkipReason::TooFewContainers { containers },
                ..
            } => write!(
                f,
                "{} ({container}) skipped: claims {class}, of which the model has {} (at least {} are needed to \
                 judge a claim)",
                pod.name,
                Containers(*containers),
                crate::openset::MIN_CONTAINERS_TO_JUDGE
            ),
            Outcome::Skipped {
                pod, container, reason, ..
            } => write!(f, "{} ({container}) {reason}", pod.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(claimed: Option<&str>, predicted: &str, anomaly: Option<AnomalyReason>) -> Verdict {
        let kind = match (anomaly, claimed) {
            (Some(AnomalyReason::Mismatch), _) => Kind::Impostor,
            (Some(_), _) => Kind::Unknown,
            (None, Some(_)) => Kind::AsClaimed,
            (None, None) => Kind::Recognised,
        };
        Verdict {
            pod: PodId::new("default", "nginx1239841", "u"),
            container: "nginx".into(),
            node: None,
            claimed: claimed.map(Into::into),
            predicted: predicted.into(),
            confidence: 0.974,
            kind,
            p_value: None,
            behaves_like: Some(predicted.into()),
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
        assert_eq!(
            v.to_string(),
            "nginx1239841 got classified by the model as mysql (confidence 0.97) — ANOMALY: named as nginx, behaves like mysql"
        );
        let v = verdict(Some("nginx"), "nginx", Some(AnomalyReason::LowConfidence));
        assert!(v.to_string().ends_with(" — ANOMALY: low confidence"), "{v}");
    }

    #[test]
    fn calibrated_lines_say_the_kind_and_the_evidence() {
        let line = |claimed, predicted, kind, p: Option<f64>, like: Option<&str>| {
            let mut v = verdict(claimed, predicted, None);
            v.kind = kind;
            v.p_value = p;
            v.behaves_like = like.map(Into::into);
            v.anomaly = match kind {
                Kind::Impostor => Some(AnomalyReason::Mismatch),
                Kind::Unknown => Some(AnomalyReason::NoKnownClass),
                _ => None,
            };
            let text = v.to_string();
            let prefix = format!("nginx1239841 got classified by the model as {predicted} (confidence 0.97)");
            assert!(text.starts_with(&prefix), "{text}");
            text[prefix.len()..].to_string()
        };
        assert_eq!(
            line(Some("nginx"), "mysql", Kind::Impostor, Some(0.0012), Some("mysql")),
            " — ANOMALY: named as nginx, behaves like mysql (p = 0.001)"
        );
        assert_eq!(
            line(Some("nginx"), "nginx", Kind::Unknown, Some(0.003), None),
            " — ANOMALY: behaves like no known class (p = 0.003)"
        );
        assert_eq!(
            line(None, "redis", Kind::Unknown, Some(0.0001), None),
            " — ANOMALY: claims no class, behaves like no known class (p < 0.001)"
        );
        assert_eq!(
            line(Some("nginx"), "nginx", Kind::AsClaimed, Some(0.41), Some("nginx")),
            " — as claimed (p = 0.410)"
        );
        assert_eq!(
            line(None, "mysql", Kind::Recognised, Some(0.2), Some("mysql")),
            " — claims no class, behaves like mysql (p = 0.200)"
        );
        assert_eq!(
            line(Some("apache"), "nginx", Kind::AsClaimed, Some(0.385), Some("apache")),
            " — as claimed, apache fits too (p = 0.385)"
        );
        assert_eq!(
            line(None, "postgresql", Kind::Recognised, Some(0.2), Some("mongodb")),
            " — claims no class, behaves like mongodb, not postgresql (p = 0.200)"
        );
        assert_eq!(
            line(None, "mysql", Kind::Undecided, None, None),
            " — undecided: too few usable metrics"
        );
    }

    #[test]
    fn the_kind_and_evidence_are_in_the_json() {
        let mut v = verdict(Some("nginx"), "mysql", Some(AnomalyReason::Mismatch));
        v.p_value = Some(0.004);
        let json = serde_json::to_value(Outcome::Classified(v.clone())).unwrap();
        assert_eq!(json["kind"], "impostor", "{json}");
        assert_eq!(json["p_value"], 0.004, "{json}");
        assert_eq!(json["behaves_like"], "mysql", "{json}");
        assert_eq!(json["anomaly"], "Mismatch", "{json}");
        assert_eq!(serde_json::from_value::<Outcome>(json).unwrap(), Outcome::Classified(v));
        assert_eq!(AnomalyReason::NoKnownClass.as_str(), "no_known_class");
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

    #[test]
    fn skipped_outcomes_say_why() {
        let skipped = |reason| Outcome::Skipped {
            pod: PodId::new("default", "mysql-0", "u"),
            container: "istio-proxy".into(),
            claimed: None,
            time: Timestamp(0),
            reason,
            at_start: false,
        };
        let o = skipped(SkipReason::Sidecar);
        assert_eq!(o.to_string(), "mysql-0 (istio-proxy) skipped: sidecar");
        assert_eq!((o.kind(), o.container()), ("skipped", "istio-proxy"));
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["outcome"], "skipped", "{json}");
        assert_eq!(json["reason"]["kind"], "sidecar", "{json}");
        assert_eq!(serde_json::from_value::<Outcome>(json).unwrap(), o);
        let old = skipped(SkipReason::TooOld {
            age: Duration::from_secs(7200),
            max_age: Duration::from_secs(300),
        });
        assert!(
            old.to_string()
                .ends_with("skipped: too old (age 7200 s; the model was trained for ages up to 300 s)")
        );
        let json = serde_json::to_value(&old).unwrap();
        assert_eq!(json["reason"]["age_seconds"], 7200.0, "{json}");
        assert_eq!(json["reason"]["max_age_seconds"], 300.0, "{json}");
        assert_eq!(serde_json::from_value::<Outcome>(json).unwrap(), old);
        assert_eq!(
            SkipReason::TooOld {
                age: Duration::ZERO,
                max_age: Duration::ZERO
            }
            .as_str(),
            "too_old"
        );
        let few = |containers| Outcome::Skipped {
            pod: PodId::new("default", "mongodb-0", "u"),
            container: "mongodb".into(),
            claimed: Some("mongodb".into()),
            time: Timestamp(0),
            reason: SkipReason::TooFewContainers { containers },
            at_start: false,
        };
        assert_eq!(
            few(0).to_string(),
            "mongodb-0 (mongodb) skipped: claims mongodb, of which the model has no training containers (at least 2 \
             are needed to judge a claim)"
        );
        assert!(
            few(1)
                .to_string()
                .contains("of which the model has 1 training container (at")
        );
        let json = serde_json::to_value(few(1)).unwrap();
        assert_eq!(json["reason"]["kind"], "too_few_containers", "{json}");
        assert_eq!(json["reason"]["containers"], 1, "{json}");
        assert_eq!(serde_json::from_value::<Outcome>(json).unwrap(), few(1));
        assert_eq!(
            SkipReason::TooFewContainers { containers: 0 }.as_str(),
            "too_few_containers"
        );
        assert_eq!(
            SkipReason::TooFewContainers { containers: 3 }.to_string(),
            "skipped: the model has 3 training containers of the class it claims (at least 2 are needed to judge a claim)"
        );
    }
}
