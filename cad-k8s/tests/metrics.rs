//! KubeMetricsSource against the fake API server's metrics.k8s.io.
#![cfg(feature = "metrics")]

mod fake_api;

use cad_core::{Metric, MetricSource, PodId, TimeWindow, Timestamp};
use cad_k8s::KubeMetricsSource;
use fake_api::{FakeApi, Res};
use serde_json::json;

fn pod_metrics(api: &FakeApi, ns: &str, pod: &str, ts: &str, containers: &[(&str, &str, &str)]) {
    let cs: Vec<_> = containers
        .iter()
        .map(|(n, cpu, mem)| json!({"name": n, "usage": {"cpu": cpu, "memory": mem}}))
        .collect();
    api.upsert(
        Res::PodMetrics,
        json!({"metadata": {"name": pod, "namespace": ns, "labels": {}}, "timestamp": ts, "window": "15.009s", "containers": cs}),
    );
}

fn window() -> TimeWindow {
    // 2026-01-02T03:04:00Z .. 03:05:00Z
    TimeWindow::new(Timestamp::from_secs(1_767_323_040), Timestamp::from_secs(1_767_323_100))
}

#[tokio::test]
async fn cpu_and_memory_come_from_pod_metrics_in_one_call() {
    let api = FakeApi::start().await;
    pod_metrics(
        &api,
        "shop",
        "nginx-1",
        "2026-01-02T03:04:30Z",
        &[("nginx", "250m", "64Mi"), ("sidecar", "1234567n", "1Gi")],
    );
    pod_metrics(
        &api,
        "db",
        "mysql-1",
        "2026-01-02T03:04:31Z",
        &[("mysql", "2", "512Mi")],
    );
    pod_metrics(&api, "db", "old-1", "2026-01-02T02:00:00Z", &[("old", "1", "1Mi")]);
    let nginx = PodId::new("shop", "nginx-1", "u1").container("nginx");
    let sidecar = PodId::new("shop", "nginx-1", "u1").container("sidecar");
    let mysql = PodId::new("db", "mysql-1", "u2").container("mysql");
    let old = PodId::new("db", "old-1", "u3").container("old");
    let absent = PodId::new("db", "nope", "u4").container("x");

    let src = KubeMetricsSource::new(api.client());
    let batch = src
        .fetch(
            &[
                nginx.clone(),
                sidecar.clone(),
                mysql.clone(),
                old.clone(),
                absent.clone(),
            ],
            window(),
        )
        .await
        .expect("fetch");
    let value = |c: &cad_core::ContainerId, m: Metric| batch.samples(c).iter().find(|s| s.metric == m).map(|s| s.value);
    assert_eq!(value(&nginx, Metric::CpuUsageNanocores), Some(250_000_000.0));
    assert_eq!(
        value(&nginx, Metric::MemoryWorkingSetBytes),
        Some(64.0 * 1024.0 * 1024.0)
    );
    assert_eq!(
        value(&sidecar, Metric::CpuUsageNanocores).map(f64::round),
        Some(1_234_567.0)
    );
    assert_eq!(value(&mysql, Metric::CpuUsageNanocores), Some(2e9));
    assert!(batch.samples(&old).is_empty(), "outside the window");
    assert!(batch.samples(&absent).is_empty());
    let reqs = api.requests();
    assert_eq!(reqs.len(), 1, "one call for all containers");
    assert_eq!(reqs[0].path, "/apis/metrics.k8s.io/v1beta1/pods");

    // One namespace: a namespaced list.
    src.fetch(&[nginx], window()).await.expect("fetch");
    assert_eq!(
        api.requests()[1].path,
        "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods"
    );
}

#[tokio::test]
async fn a_cluster_without_metrics_api_gives_an_empty_batch() {
    let api = FakeApi::start().await;
    api.set_metrics_api(false);
    let c = PodId::new("shop", "nginx-1", "u1").container("nginx");
    let batch = KubeMetricsSource::new(api.client())
        .fetch(&[c], window())
        .await
        .expect("not an error");
    assert!(batch.is_empty());
}

#[tokio::test]
async fn denied_metrics_is_denied() {
    let api = FakeApi::start().await;
    api.deny("list", Res::PodMetrics);
    let c = PodId::new("shop", "nginx-1", "u1").container("nginx");
    let err = KubeMetricsSource::new(api.client())
        .fetch(&[c], window())
        .await
        .expect_err("denied");
    assert!(matches!(err, cad_core::SourceError::Denied { .. }), "{err:?}");
    // The resource is in the cause (K8sError), kept as the source, not in the message.
    let chain = cad_core::ErrorChain(&err).to_string();
    assert!(chain.contains("metrics.k8s.io"), "{chain}");
    assert!(!err.to_string().contains("metrics.k8s.io"), "{err}");
}
