//! ConfigMapModelStore against the fake API server.

mod fake_api;

use cad_k8s::{ConfigMapModelStore, K8sError, LoadError};
use fake_api::{FakeApi, Res};
use futures::StreamExt;
use serde_json::json;
use std::time::Duration;

const HANG_GUARD: Duration = Duration::from_secs(30);

type Models = futures::stream::BoxStream<'static, Result<Model, LoadError<BadModel>>>;

async fn next(m: &mut Models) -> Result<Model, LoadError<BadModel>> {
    tokio::time::timeout(HANG_GUARD, m.next())
        .await
        .expect("no hang")
        .expect("stream goes on")
}

/// A toy model format: magic `CAD1` then a UTF-8 class list, comma separated.
#[derive(Debug, Clone, PartialEq)]
struct Model(Vec<String>);

#[derive(Debug, thiserror::Error)]
#[error("not a model: {0}")]
struct BadModel(&'static str);

fn decode(b: &[u8]) -> Result<Model, BadModel> {
    let rest = b.strip_prefix(b"CAD1").ok_or(BadModel("no magic"))?;
    let s = std::str::from_utf8(rest).map_err(|_| BadModel("not UTF-8"))?;
    Ok(Model(s.split(',').map(str::to_owned).collect()))
}

fn store(api: &FakeApi) -> ConfigMapModelStore {
    ConfigMapModelStore::new(api.client(), "cad", "cad-model", "model")
}

#[tokio::test]
async fn publish_creates_then_replaces_keeping_other_keys_and_labels() {
    let api = FakeApi::start().await;
    let s = store(&api);
    let err = s.load_bytes().await.expect_err("nothing stored yet");
    assert!(err.is_not_found(), "{err}");

    s.publish_bytes(b"CAD1nginx,mysql").await.expect("create");
    assert_eq!(s.load_bytes().await.expect("load"), b"CAD1nginx,mysql");
    let cm = api.get(Res::ConfigMaps, "cad", "cad-model").expect("stored");
    // binaryData is base64 on the wire.
    assert_eq!(cm["binaryData"]["model"], json!("Q0FEMW5naW54LG15c3Fs"));
    assert_eq!(cm["metadata"]["labels"]["app.kubernetes.io/managed-by"], json!("cad"));

    // An operator adds a label and another key; publishing again keeps them.
    api.modify(Res::ConfigMaps, "cad", "cad-model", |cm| {
        cm["metadata"]["labels"]["team"] = json!("sre");
        cm["data"] = json!({"README": "managed by cad"});
    });
    s.publish_bytes(b"CAD1nginx,mysql,postgresql").await.expect("replace");
    let cm = api.get(Res::ConfigMaps, "cad", "cad-model").expect("stored");
    assert_eq!(cm["metadata"]["labels"]["team"], json!("sre"));
    assert_eq!(cm["data"]["README"], json!("managed by cad"));
    assert_eq!(
        s.load_with(decode).await.expect("decodes"),
        Model(vec!["nginx".into(), "mysql".into(), "postgresql".into()])
    );

    let methods: Vec<(String, String)> = api
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(
        methods,
        vec![
            ("POST".to_owned(), "/api/v1/namespaces/cad/configmaps".to_owned()),
            (
                "PUT".to_owned(),
                "/api/v1/namespaces/cad/configmaps/cad-model".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn publish_retries_on_conflict_with_a_concurrent_writer() {
    let api = FakeApi::start().await;
    let s = store(&api);
    s.publish_bytes(b"CAD1a").await.expect("create");
    api.stale_next_updates(2);
    s.publish_bytes(b"CAD1b").await.expect("replace after two conflicts");
    assert_eq!(s.load_bytes().await.expect("load"), b"CAD1b");
    let puts = api.requests().iter().filter(|r| r.method == "PUT").count();
    assert_eq!(puts, 3);
    // The other writer's change survived our retry.
    let cm = api.get(Res::ConfigMaps, "cad", "cad-model").expect("stored");
    assert!(cm["metadata"]["annotations"]["other-writer"].is_string());

    api.stale_next_updates(100);
    let err = s.publish_bytes(b"CAD1c").await.expect_err("gives up");
    assert!(err.is_conflict(), "{err}");
}

#[tokio::test]
async fn garbage_blob_is_rejected_and_the_previous_model_stays() {
    let api = FakeApi::start().await;
    let s = store(&api);
    s.publish_bytes(b"CAD1nginx").await.expect("publish");
    let mut current = s.load_with(decode).await.expect("first model");

    // Someone writes garbage: loading reports a decode error; we keep `current`.
    s.publish_bytes(b"\x00\xffgarbage").await.expect("publish garbage");
    match s.load_with(decode).await {
        Ok(m) => current = m,
        Err(LoadError::Decode(e)) => assert_eq!(e.0, "no magic"),
        Err(e) => panic!("unexpected {e}"),
    }
    assert_eq!(current, Model(vec!["nginx".into()]));
}

#[tokio::test]
async fn watch_follows_replacements_and_survives_garbage() {
    let api = FakeApi::start().await;
    let s = store(&api);
    s.publish_bytes(b"CAD1nginx").await.expect("publish");
    let mut models = s.watch_with(decode);
    let mut current = next(&mut models).await.expect("initial model");
    assert_eq!(current, Model(vec!["nginx".into()]));

    // A ConfigMap of another name in the namespace is not our business.
    api.upsert(
        Res::ConfigMaps,
        json!({"metadata": {"name": "other", "namespace": "cad"}, "binaryData": {"model": "Q0FEMXg="}}),
    );
    s.publish_bytes(b"CAD1nginx,mysql").await.expect("replace");
    let update = next(&mut models).await;
    if let Ok(m) = &update {
        current = m.clone();
    }
    assert_eq!(current, Model(vec!["nginx".into(), "mysql".into()]));

    s.publish_bytes(b"garbage").await.expect("publish garbage");
    let update = next(&mut models).await;
    assert!(matches!(update, Err(LoadError::Decode(_))), "{update:?}");
    if let Ok(m) = update {
        current = m;
    }
    assert_eq!(
        current,
        Model(vec!["nginx".into(), "mysql".into()]),
        "garbage must not replace the model"
    );

    // A label change (same bytes) yields nothing; the next real model does.
    api.modify(Res::ConfigMaps, "cad", "cad-model", |cm| {
        cm["metadata"]["labels"]["x"] = json!("y")
    });
    s.publish_bytes(b"CAD1postgresql").await.expect("replace");
    assert_eq!(
        next(&mut models).await.expect("good again"),
        Model(vec!["postgresql".into()])
    );

    let watches: Vec<_> = api.requests().into_iter().filter(|r| r.is_watch()).collect();
    assert!(
        watches
            .iter()
            .all(|r| r.param("fieldSelector").as_deref() == Some("metadata.name=cad-model"))
    );
}

#[tokio::test]
async fn too_large_blob_is_refused_before_sending() {
    let api = FakeApi::start().await;
    let s = store(&api);
    let big = vec![0u8; 2 * 1024 * 1024];
    let err = s.publish_bytes(&big).await.expect_err("too large");
    assert!(matches!(err, K8sError::TooLarge { size, .. } if size == big.len()));
    assert!(api.requests().is_empty());
}

#[tokio::test]
async fn forbidden_configmap_names_verb_and_resource() {
    let api = FakeApi::start().await;
    api.deny("get", Res::ConfigMaps);
    let err = store(&api).load_bytes().await.expect_err("denied");
    let K8sError::Forbidden {
        verb,
        resource,
        message,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((verb.as_str(), resource.as_str()), ("get", "configmaps"));
    assert_eq!(
        message,
        r#"configmaps "cad-model" is forbidden: User "system:serviceaccount:cad:cad-watcher" cannot get resource "configmaps" in API group "" in the namespace "cad""#
    );
    api.allow("get", Res::ConfigMaps);
    api.deny("create", Res::ConfigMaps);
    let err = store(&api).publish_bytes(b"x").await.expect_err("denied");
    assert!(
        err.to_string()
            .contains("must grant verb \"create\" on resource \"configmaps\""),
        "{err}"
    );
}
