//! The target of issue 18: a crate that depends on nothing but `cad-core`
//! and tokio reaches the first verdict from a custom source, using only
//! items documented in rustdoc.

use cad_adapter_example::{Cadvisor, CadvisorSource, NGINX, run};
use cad_core::engine::{CollectConfig, CollectError, collect_dataset};
use cad_core::prelude::*;
use std::sync::Arc;
use std::time::Duration;

fn model_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("cad-adapter-test-{name}-{}.cadm", std::process::id()))
}

#[tokio::test(start_paused = true)]
async fn a_custom_source_reaches_its_verdicts() {
    let path = model_path("verdicts");
    let clock = TokioClock::starting_at(Timestamp::from_secs(1_700_000_000));
    let report = run(clock, &path).await;
    let _ = std::fs::remove_file(&path);
    let report = report.unwrap();
    assert_eq!(report.collected.containers_with_rows, 8, "{:?}", report.collected);
    assert!(report.collected.young_rows > 0 && report.collected.steady_rows > 0);
    assert!(report.model_bytes > 0);
    let verdict = |name: &str| {
        report.outcomes.iter().find_map(|o| match o {
            Outcome::Classified(v) if v.pod.name == name => Some(v.clone()),
            _ => None,
        })
    };
    let honest = verdict("nginx-new").unwrap_or_else(|| panic!("no verdict: {:?}", report.outcomes));
    assert_eq!(honest.predicted, "nginx");
    assert!(!honest.is_anomaly(), "{honest}");
    // Three windows of four snapshots (the watcher's default: the calibrated
    // statistic of 3 windows), 10 s apart, the first CPU value from the
    // second scrape: the third window completes 120 s after the start,
    // within the timeout that follows the model.
    assert!(
        (Duration::from_secs(81)..=Duration::from_secs(120)).contains(&honest.time_to_verdict),
        "{honest:?}"
    );
    let odd = verdict("nginx-odd").unwrap_or_else(|| panic!("no verdict: {:?}", report.outcomes));
    assert_eq!(
        (odd.claimed.as_deref(), odd.predicted.as_str()),
        (Some("nginx"), "mysql")
    );
    assert!(odd.is_anomaly(), "{odd}");
    assert_eq!(report.outcomes.len(), 2, "the running pods are not judged again");
}

/// Pods of the `shop` namespace started an hour before `now`.
fn running_pods(now: Timestamp, backend: &mut Cadvisor) -> Vec<PodInfo> {
    (0..3)
        .map(|i| {
            let mut pod = PodInfo::new(PodId::new("shop", format!("nginx-{i}"), format!("uid-{i}")));
            pod.start_time = Some(now - Duration::from_secs(3600));
            pod.containers.push(ContainerInfo::new("nginx", "nginx:1.25"));
            backend.add(&pod, NGINX);
            pod
        })
        .collect()
}

/// A source that answers under ids it builds from names, without the pod UID.
struct NoUid(CadvisorSource);

#[async_trait]
impl MetricSource for NoUid {
    async fn fetch(&self, containers: &[ContainerId], window: TimeWindow) -> Result<MetricBatch, SourceError> {
        let right = self.0.fetch(containers, window).await?;
        let mut wrong = MetricBatch::new();
        for (id, samples) in right.iter() {
            let rebuilt = PodId::new(&id.pod.namespace, &id.pod.name, "").container(&id.container);
            wrong.series_mut(&rebuilt).extend_from_slice(samples);
        }
        Ok(wrong)
    }
}

#[tokio::test(start_paused = true)]
async fn ids_without_the_pod_uid_give_an_error_that_says_so() {
    let clock = TokioClock::starting_at(Timestamp::from_secs(1_700_000_000));
    let mut backend = Cadvisor::default();
    let pods = running_pods(clock.now(), &mut backend);
    let source = NoUid(CadvisorSource::new(Arc::new(backend)));
    let labeler = Labeler::new(["nginx", "mysql"]);
    let err = collect_dataset(
        StaticPods::new(pods),
        &source,
        &clock,
        &labeler,
        &FeatureSet::behaviour(),
        &CollectConfig::default(),
        (),
    )
    .await
    .unwrap_err();
    let CollectError::NoRows { cause, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(cause.without_samples.len(), 3, "{cause:?}");
    let text = err.to_string();
    assert!(
        text.contains("no samples for any of the 3 containers") && text.contains("pod UID"),
        "{text}"
    );
}

/// A source with memory but no CPU at all.
struct NoCpu(CadvisorSource);

#[async_trait]
impl MetricSource for NoCpu {
    async fn fetch(&self, containers: &[ContainerId], window: TimeWindow) -> Result<MetricBatch, SourceError> {
        let all = self.0.fetch(containers, window).await?;
        let mut batch = MetricBatch::new();
        for (id, samples) in all.iter() {
            let cpu = |s: &&Sample| matches!(s.metric, Metric::CpuUsageCoreNanoseconds | Metric::CpuUsageNanocores);
            batch.series_mut(id).extend(samples.iter().filter(|s| !cpu(s)));
        }
        Ok(batch)
    }
}

#[tokio::test(start_paused = true)]
async fn a_missing_required_metric_is_named_with_its_containers() {
    let clock = TokioClock::starting_at(Timestamp::from_secs(1_700_000_000));
    let mut backend = Cadvisor::default();
    let pods = running_pods(clock.now(), &mut backend);
    let source = NoCpu(CadvisorSource::new(Arc::new(backend)));
    let labeler = Labeler::new(["nginx", "mysql"]);
    let err = collect_dataset(
        StaticPods::new(pods),
        &source,
        &clock,
        &labeler,
        &FeatureSet::behaviour(),
        &CollectConfig::default(),
        (),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("requires cpu_usage_nanocores (or its counter cpu_usage_core_nanoseconds")
            && text
                .contains("3 of 3 containers have none (shop/nginx-0/nginx, shop/nginx-1/nginx, shop/nginx-2/nginx)"),
        "{text}"
    );
    assert!(!text.contains("pod UID"), "not the no-samples case: {text}");
}
