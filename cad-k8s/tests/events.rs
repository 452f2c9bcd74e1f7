//! KubeEventRecorder against the fake API server.

mod fake_api;

use cad_core::PodId;
use cad_core::openset::Kind;
use cad_k8s::{K8sError, KubeEventRecorder, VerdictNote};
use fake_api::{FakeApi, Res, TestPod};
use serde_json::json;

fn note(pod: &PodId, predicted: &str, claimed: Option<&str>, anomaly: bool, confidence: f64) -> VerdictNote {
    VerdictNote {
        pod: pod.clone(),
        container: "main".into(),
        predicted: predicted.into(),
        claimed: claimed.map(Into::into),
        anomaly,
        kind: match (anomaly, claimed) {
            (true, _) => Kind::Impostor,
            (false, Some(_)) => Kind::AsClaimed,
            (false, None) => Kind::Recognised,
        },
        p_value: anomaly.then_some(0.002),
        behaves_like: Some(predicted.into()),
        confidence,
    }
}

#[tokio::test]
async fn classification_and_anomaly_events_land_on_the_pod() {
    let api = FakeApi::start().await;
    let uid = api.add_pod(&TestPod::new("shop", "nginx-1", "nginx"));
    let pod = PodId::new("shop", "nginx-1", uid.clone());
    let rec = KubeEventRecorder::new(api.client(), "cad-watcher-7d9f");

    rec.record(&note(&pod, "nginx", Some("nginx"), false, 0.97))
        .await
        .expect("normal event");
    rec.record(&note(&pod, "mysql", Some("nginx"), true, 0.91))
        .await
        .expect("warning event");

    let mut events = api.objects(Res::Events);
    events.sort_by_key(|e| e["reason"].as_str().map(str::to_owned));
    assert_eq!(events.len(), 2);
    let (anomaly, classified) = (&events[0], &events[1]);
    for e in [anomaly, classified] {
        assert_eq!(e["metadata"]["namespace"], json!("shop"));
        assert_eq!(e["regarding"]["kind"], json!("Pod"));
        assert_eq!(e["regarding"]["apiVersion"], json!("v1"));
        assert_eq!(e["regarding"]["name"], json!("nginx-1"));
        assert_eq!(e["regarding"]["namespace"], json!("shop"));
        assert_eq!(e["regarding"]["uid"], json!(uid));
        assert_eq!(e["reportingController"], json!("cad.io/cad-watcher"));
        assert_eq!(e["reportingInstance"], json!("cad-watcher-7d9f"));
        assert!(e["eventTime"].is_string());
    }
    assert_eq!(classified["type"], json!("Normal"));
    assert_eq!(classified["reason"], json!("Classified"));
    assert_eq!(
        classified["note"],
        json!("nginx-1 got classified by the model as nginx (confidence 0.97, container main)")
    );
    assert_eq!(anomaly["type"], json!("Warning"));
    assert_eq!(anomaly["reason"], json!("Anomaly"));
    assert!(
        anomaly["note"]
            .as_str()
            .is_some_and(|n| n.contains("as mysql") && n.contains("claims to be nginx") && n.contains("(p = 0.002)"))
    );

    let posts: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.path)
        .collect();
    assert_eq!(posts, vec!["/apis/events.k8s.io/v1/namespaces/shop/events"; 2]);
    // No annotation unless asked for.
    assert!(api.get(Res::Pods, "shop", "nginx-1").expect("pod")["metadata"]["annotations"].is_null());
}

#[tokio::test]
async fn annotations_are_merge_patched_onto_the_pod() {
    let api = FakeApi::start().await;
    let uid = api.add_pod(&TestPod::new("shop", "nginx-1", "nginx"));
    api.modify(Res::Pods, "shop", "nginx-1", |p| {
        p["metadata"]["annotations"] = json!({"keep": "me"})
    });
    let pod = PodId::new("shop", "nginx-1", uid);
    let rec = KubeEventRecorder::new(api.client(), "w").with_annotations(true);
    rec.record(&note(&pod, "postgresql", Some("nginx"), true, 0.8))
        .await
        .expect("record");
    let stored = api.get(Res::Pods, "shop", "nginx-1").expect("pod");
    let ann = &stored["metadata"]["annotations"];
    assert_eq!(ann["keep"], json!("me"));
    assert_eq!(ann["cad.io/predicted-class"], json!("postgresql"));
    let verdict: serde_json::Value =
        serde_json::from_str(ann["cad.io/verdict"].as_str().expect("string")).expect("JSON");
    assert_eq!(verdict["predicted"], json!("postgresql"));
    assert_eq!(verdict["claimed"], json!("nginx"));
    assert_eq!(verdict["anomaly"], json!(true));
    assert_eq!(verdict["kind"], json!("impostor"));
    assert_eq!(verdict["p_value"], json!(0.002));
    assert!(
        api.requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.path == "/api/v1/namespaces/shop/pods/nginx-1")
    );
}

#[tokio::test]
async fn forbidden_event_creation_names_the_missing_grant() {
    let api = FakeApi::start().await;
    api.deny("create", Res::Events);
    let rec = KubeEventRecorder::new(api.client(), "w");
    let err = rec
        .record(&note(&PodId::new("shop", "x", "u"), "nginx", None, false, 0.9))
        .await
        .expect_err("denied");
    let K8sError::Forbidden {
        verb,
        resource,
        message,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((verb.as_str(), resource.as_str()), ("create", "events.k8s.io/events"));
    assert!(
        message.contains(r#"cannot create resource "events" in API group "events.k8s.io" in the namespace "shop""#),
        "{message}"
    );
}
