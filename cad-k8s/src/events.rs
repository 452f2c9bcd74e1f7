//! [`KubeEventRecorder`]: verdicts as Kubernetes Events (and optional annotations) on the pod.

use crate::error::K8sError;
use cad_core::PodId;
use cad_core::openset::Kind;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp as JiffTimestamp;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// Annotation holding the predicted class (a watcher restarted later skips pods carrying it).
pub use cad_core::verdict::ANNOTATION_PREDICTED;
/// Annotation holding the whole verdict as JSON.
pub const ANNOTATION_VERDICT: &str = "cad.io/verdict";

/// What the recorder needs to know about one verdict on one container.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VerdictNote {
    /// The pod.
    pub pod: PodId,
    /// The container within the pod.
    pub container: String,
    /// The class the model predicted.
    pub predicted: String,
    /// The class the pod claims to be (from its name or a label), if any.
    pub claimed: Option<String>,
    /// Whether the verdict is an anomaly.
    pub anomaly: bool,
    /// The verdict's kind: as claimed, impostor, unknown, recognised or undecided.
    pub kind: Kind,
    /// The open-set evidence, when there is one.
    pub p_value: Option<f64>,
    /// The known class the container behaves most like, if any.
    pub behaves_like: Option<String>,
    /// The model's confidence in `predicted`, 0..=1.
    pub confidence: f64,
}

impl VerdictNote {
    /// The Event's reason: `Anomaly` or `Classified`.
    pub fn reason(&self) -> &'static str {
        if self.anomaly { "Anomaly" } else { "Classified" }
    }

    /// The Event's type: `Warning` for an anomaly, else `Normal`.
    pub fn event_type(&self) -> &'static str {
        if self.anomaly { "Warning" } else { "Normal" }
    }

    /// The human-readable message, in the old system's wording
    /// (`nginx-1 got classified by the model as nginx (confidence 0.97,
    /// container nginx)`), then the kind and its evidence:
    /// `; ANOMALY (impostor): it claims to be nginx and behaves like mysql (p = 0.001)`,
    /// `; ANOMALY (unknown): it behaves like no known class (p = 0.003)`
    /// (`; ANOMALY (unknown): it claims no class and behaves like …` without a claim),
    /// `; as claimed (p = 0.412)`, …. A verdict without open-set evidence
    /// that is not an anomaly keeps the old line exactly.
    pub fn message(&self) -> String {
        let mut m = format!(
            "{} got classified by the model as {} (confidence {:.2}, container {})",
            self.pod.name, self.predicted, self.confidence, self.container
        );
        let p = match self.p_value {
            Some(p) if p < 0.0005 => " (p < 0.001)".to_owned(),
            Some(p) => format!(" (p = {p:.3})"),
            None => String::new(),
        };
        let like = self.behaves_like.as_deref().unwrap_or(&self.predicted);
        let claimed = self.claimed.as_deref().unwrap_or(cad_core::NO_CLASS);
        let rest = match self.kind {
            Kind::Impostor => format!("; ANOMALY (impostor): it claims to be {claimed} and behaves like {like}{p}"),
            Kind::Unknown if self.p_value.is_none() => "; ANOMALY (unknown): the confidence is too low".to_owned(),
            Kind::Unknown if self.claimed.is_none() => {
                format!("; ANOMALY (unknown): it claims no class and behaves like no known class{p}")
            }
            Kind::Unknown => format!("; ANOMALY (unknown): it behaves like no known class{p}"),
            Kind::AsClaimed | Kind::Recognised if self.p_value.is_none() => String::new(),
            Kind::AsClaimed => format!("; as claimed{p}"),
            Kind::Recognised => format!("; it claims no class and behaves like {like}{p}"),
            Kind::Undecided if self.p_value.is_none() => "; undecided: too few usable metrics".to_owned(),
            Kind::Undecided => format!("; undecided: it claims no class and fits several{p}"),
        };
        m.push_str(&rest);
        m
    }
}

/// Records verdicts as `events.k8s.io/v1` Events regarding the pod, and
/// optionally annotates the pod (merge patch).
///
/// Written on the plain Events API rather than `kube::runtime::events::Recorder`:
/// that recorder folds events with the same reason on the same object into one
/// series and keeps the first message, so the second container's verdict (or a
/// changed verdict) would be lost.
///
/// RBAC: `create` on `events` in API group `events.k8s.io`; with annotations,
/// `patch` on `pods`.
pub struct KubeEventRecorder {
    client: Client,
    controller: String,
    instance: String,
    annotate: bool,
    seq: AtomicU64,
}

impl std::fmt::Debug for KubeEventRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeEventRecorder")
            .field("controller", &self.controller)
            .field("instance", &self.instance)
            .field("annotate", &self.annotate)
            .finish_non_exhaustive()
    }
}

impl KubeEventRecorder {
    /// The reporting controller name written on every Event.
    pub const DEFAULT_CONTROLLER: &'static str = "cad.io/cad-watcher";

    /// A recorder reporting as `instance` (typically the watcher's pod name).
    pub fn new(client: Client, instance: impl Into<String>) -> Self {
        KubeEventRecorder {
            client,
            controller: Self::DEFAULT_CONTROLLER.to_owned(),
            instance: instance.into(),
            annotate: false,
            seq: AtomicU64::new(0),
        }
    }

    /// Also annotate the pod with `cad.io/predicted-class` and `cad.io/verdict`.
    pub fn with_annotations(mut self, on: bool) -> Self {
        self.annotate = on;
        self
    }

    /// The Event a verdict becomes (exposed for tests and dry runs).
    pub fn event_for(&self, note: &VerdictNote) -> Event {
        let now = JiffTimestamp::now();
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        Event {
            metadata: ObjectMeta {
                name: Some(format!(
                    "{}.{:x}{:04x}",
                    note.pod.name,
                    now.as_nanosecond(),
                    seq & 0xffff
                )),
                namespace: Some(note.pod.namespace.clone()),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(now)),
            type_: Some(note.event_type().to_owned()),
            reason: Some(note.reason().to_owned()),
            action: Some("Classify".to_owned()),
            note: Some(truncate(note.message(), 1024)),
            regarding: Some(ObjectReference {
                api_version: Some("v1".to_owned()),
                kind: Some("Pod".to_owned()),
                namespace: Some(note.pod.namespace.clone()),
                name: Some(note.pod.name.clone()),
                uid: Some(note.pod.uid.clone()).filter(|u| !u.is_empty()),
                field_path: Some(format!("spec.containers{{{}}}", note.container)),
                ..ObjectReference::default()
            }),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(truncate(self.instance.clone(), 128)),
            ..Event::default()
        }
    }

    /// Records the verdict: an Event, then (if enabled) the annotations.
    pub async fn record(&self, note: &VerdictNote) -> Result<(), K8sError> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), &note.pod.namespace);
        events
            .create(&PostParams::default(), &self.event_for(note))
            .await
            .map_err(|e| K8sError::from_kube(e, "create", "events.k8s.io/events"))?;
        if self.annotate {
            self.annotate_pod(note).await?;
        }
        Ok(())
    }

    /// Writes `cad.io/predicted-class` and `cad.io/verdict` on the pod (merge patch).
    pub async fn annotate_pod(&self, note: &VerdictNote) -> Result<(), K8sError> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &note.pod.namespace);
        let verdict = serde_json::to_string(note).map_err(K8sError::decode)?;
        let patch = serde_json::json!({"metadata": {"annotations": {
            ANNOTATION_PREDICTED: note.predicted,
            ANNOTATION_VERDICT: verdict,
        }}});
        pods.patch(&note.pod.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| K8sError::from_kube(e, "patch", "pods"))?;
        Ok(())
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

impl VerdictNote {
    /// The note for a classification outcome; `None` for timeouts and deletions
    /// (nothing to record on a pod that has no verdict or is gone).
    pub fn from_outcome(outcome: &cad_core::Outcome) -> Option<VerdictNote> {
        match outcome {
            cad_core::Outcome::Classified(v) => Some(VerdictNote {
                pod: v.pod.clone(),
                container: v.container.clone(),
                predicted: v.predicted.clone(),
                claimed: v.claimed.clone(),
                anomaly: v.is_anomaly(),
                kind: v.kind,
                p_value: v.p_value,
                behaves_like: v.behaves_like.clone(),
                confidence: v.confidence,
            }),
            _ => None,
        }
    }
}

/// Records every classification as an Event on its pod (and the annotations,
/// if enabled); timeouts and deletions are not recorded.
#[async_trait::async_trait]
impl cad_core::VerdictSink for KubeEventRecorder {
    fn name(&self) -> &str {
        "kubernetes-events"
    }

    async fn record(&self, outcome: &cad_core::Outcome) -> Result<(), cad_core::SinkError> {
        match VerdictNote::from_outcome(outcome) {
            Some(note) => KubeEventRecorder::record(self, &note)
                .await
                .map_err(|e| cad_core::SinkError::new("kubernetes-events", e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(predicted: &str, claimed: Option<&str>, anomaly: bool) -> VerdictNote {
        VerdictNote {
            pod: PodId::new("shop", "nginx-1", "u1"),
            container: "nginx".into(),
            predicted: predicted.into(),
            claimed: claimed.map(Into::into),
            anomaly,
            kind: if anomaly { Kind::Impostor } else { Kind::AsClaimed },
            p_value: None,
            behaves_like: Some(predicted.into()),
            confidence: 0.9749,
        }
    }

    #[test]
    fn messages_use_the_old_wording() {
        let n = note("nginx", Some("nginx"), false);
        assert_eq!(
            n.message(),
            "nginx-1 got classified by the model as nginx (confidence 0.97, container nginx)"
        );
        assert_eq!((n.reason(), n.event_type()), ("Classified", "Normal"));
        let mut a = note("mysql", Some("nginx"), true);
        assert!(
            a.message()
                .ends_with("; ANOMALY (impostor): it claims to be nginx and behaves like mysql"),
            "{}",
            a.message()
        );
        assert_eq!((a.reason(), a.event_type()), ("Anomaly", "Warning"));
        a.p_value = Some(0.0012);
        assert!(
            a.message().ends_with("behaves like mysql (p = 0.001)"),
            "{}",
            a.message()
        );
        let mut u = note("nginx", Some("nginx"), true);
        (u.kind, u.p_value, u.behaves_like) = (Kind::Unknown, Some(0.0001), None);
        assert!(
            u.message()
                .ends_with("; ANOMALY (unknown): it behaves like no known class (p < 0.001)"),
            "{}",
            u.message()
        );
        u.claimed = None;
        assert!(
            u.message()
                .ends_with("; ANOMALY (unknown): it claims no class and behaves like no known class (p < 0.001)"),
            "{}",
            u.message()
        );
        let mut ok = note("nginx", Some("nginx"), false);
        ok.p_value = Some(0.41);
        assert!(
            ok.message().ends_with("container nginx); as claimed (p = 0.410)"),
            "{}",
            ok.message()
        );
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("ääää".into(), 3), "ä");
        assert_eq!(truncate("abc".into(), 10), "abc");
    }
}
