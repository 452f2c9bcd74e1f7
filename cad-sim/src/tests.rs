use super::*;
use cad_core::clock::TokioClock;
use cad_core::metric::{Metric, MetricKind, Sample};
use futures::StreamExt;
use std::collections::HashMap;

const T0: i64 = 1_700_000_000;

fn clock() -> Arc<TokioClock> {
    Arc::new(TokioClock::starting_at(Timestamp::from_secs(T0)))
}

fn quiet(seed: u64) -> SimConfig {
    SimConfig {
        restart_probability: 0.0,
        ..SimConfig::default().with_seed(seed).without_churn()
    }
}

fn series(batch: &MetricBatch, c: &ContainerId, m: Metric) -> Vec<Sample> {
    let mut v: Vec<Sample> = batch.samples(c).iter().copied().filter(|s| s.metric == m).collect();
    v.sort_by_key(|s| s.time);
    v
}

fn mean(v: &[Sample]) -> f64 {
    v.iter().map(|s| s.value).sum::<f64>() / v.len().max(1) as f64
}

fn all_containers(pods: &[PodInfo]) -> Vec<ContainerId> {
    pods.iter().flat_map(|p| p.container_ids()).collect()
}

type Flat = Vec<(ContainerId, Vec<(i64, Metric, u64)>)>;

fn sorted(batch: &MetricBatch) -> Flat {
    let mut v: Vec<_> = batch
        .iter()
        .map(|(c, s)| {
            let mut s: Vec<_> = s.iter().map(|s| (s.time.0, s.metric, s.value.to_bits())).collect();
            s.sort();
            (c.clone(), s)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[tokio::test(start_paused = true)]
async fn same_seed_same_cluster_and_samples_other_seed_differs() {
    let clock = clock();
    let a = SimCluster::new(SimConfig::default().with_seed(1), clock.clone());
    let b = SimCluster::new(SimConfig::default().with_seed(1), clock.clone());
    let c = SimCluster::new(SimConfig::default().with_seed(2), clock.clone());
    clock.sleep(Duration::from_secs(600)).await;
    let (pa, pb, pc) = (
        a.list().await.unwrap(),
        b.list().await.unwrap(),
        c.list().await.unwrap(),
    );
    assert!(!pa.is_empty());
    assert_eq!(pa, pb);
    assert_ne!(pa, pc);
    let w = TimeWindow::ending_at(clock.now(), Duration::from_secs(300));
    let ba = a.fetch(&all_containers(&pa), w).await.unwrap();
    let bb = b.fetch(&all_containers(&pb), w).await.unwrap();
    assert!(ba.sample_count() > 0);
    assert_eq!(sorted(&ba), sorted(&bb));
    let id = &pa[0].id;
    assert_eq!(a.truth(id), b.truth(id));
}

#[tokio::test(start_paused = true)]
async fn classes_follow_their_profiles_on_average() {
    let clock = clock();
    let mut config = quiet(3);
    config.nodes = vec![NodeProfile::plain("quiet")];
    let sim = SimCluster::new(config, clock.clone());
    let mut by_class: HashMap<String, Vec<PodInfo>> = HashMap::new();
    for class in sim.class_names() {
        for _ in 0..8 {
            let spec = PodSpec::new(&class).with_shape(Shape::Steady).with_scale(1.0);
            by_class.entry(class.clone()).or_default().push(sim.spawn(spec));
        }
    }
    clock.sleep(Duration::from_secs(900)).await;
    let all: Vec<_> = by_class.values().flatten().cloned().collect();
    let batch = sim
        .fetch(
            &all_containers(&all),
            TimeWindow::ending_at(clock.now(), Duration::from_secs(600)),
        )
        .await
        .unwrap();
    let pod_mean = |p: &PodInfo, m: Metric| mean(&series(&batch, &p.container_ids().next().unwrap(), m));
    let class_mean = |class: &str, m: Metric| {
        let pods = &by_class[class];
        pods.iter().map(|p| pod_mean(p, m)).sum::<f64>() / pods.len() as f64
    };
    for profile in &sim.config().classes {
        for p in &by_class[&profile.name] {
            let ratio = pod_mean(p, Metric::MemoryRssBytes) / pod_mean(p, Metric::MemoryUsageBytes);
            let m = &profile.memory;
            // With a fixed page cache the share lies between the smallest
            // RSS beside the largest cache and the largest grown RSS beside
            // the smallest cache.
            let want = m.rss_ratio.unwrap_or_else(|| {
                let c = m.cache_mib.expect("rss_ratio or cache_mib");
                let i = m.inactive_mib.unwrap_or(Range::from([0.0, 0.0]));
                let top = m.rss_mib.max + m.grow_mib.max;
                Range::from([
                    m.rss_mib.min / (m.rss_mib.min + c.max + i.max),
                    top / (top + c.min + i.min),
                ])
            });
            assert!(
                want.min * 0.85 <= ratio && ratio <= want.max * 1.15,
                "{}: rss/usage {ratio} outside {want:?}",
                profile.name
            );
        }
        // a steady pod at scale 1 uses its floor plus the steady CPU, ±30 % swing
        let cpu = class_mean(&profile.name, Metric::CpuUsageNanocores) / 1e6;
        let (lo, hi) = (
            profile.floor.cpu_mc.min + profile.steady.cpu_mc.min,
            profile.floor.cpu_mc.max + profile.steady.cpu_mc.max,
        );
        assert!(
            cpu > lo * 0.6 && cpu < hi * 1.4,
            "{}: mean cpu {cpu} mc vs {lo}..{hi}",
            profile.name
        );
    }
    assert!(class_mean("mysql", Metric::MemoryUsageBytes) > 10.0 * class_mean("nginx", Metric::MemoryUsageBytes));
    assert!(
        class_mean("postgresql", Metric::CpuUsageNanocores) > 20.0 * class_mean("nginx", Metric::CpuUsageNanocores)
    );
    // nginx logs grow per request; databases write, web servers do not
    for p in &by_class["nginx"] {
        let c = p.container_ids().next().unwrap();
        let logs = series(&batch, &c, Metric::LogsfsUsedBytes);
        assert!(logs.len() > 50);
        assert!(logs.last().unwrap().value > logs[0].value + 500_000.0, "{logs:?}");
        let w = series(&batch, &c, Metric::BlkioWriteBytes);
        assert_eq!(w.last().unwrap().value, 0.0);
    }
    for p in by_class["postgresql"].iter().chain(&by_class["mysql"]) {
        let c = p.container_ids().next().unwrap();
        let w = series(&batch, &c, Metric::BlkioWriteBytes);
        let rate = (w.last().unwrap().value - w[0].value) / w.last().unwrap().time.secs_since(w[0].time);
        assert!(rate > 100_000.0, "{c}: writes {rate} B/s");
        let usage = mean(&series(&batch, &c, Metric::MemoryUsageBytes));
        let ws = mean(&series(&batch, &c, Metric::MemoryWorkingSetBytes));
        let rss = mean(&series(&batch, &c, Metric::MemoryRssBytes));
        assert!(rss <= ws && ws <= usage);
        assert!(!series(&batch, &c, Metric::VolumeUsedBytes).is_empty());
    }
    // cpu counter consistent with the nanocores gauge
    for p in &by_class["mysql"] {
        let c = p.container_ids().next().unwrap();
        let ns = series(&batch, &c, Metric::CpuUsageCoreNanoseconds);
        let (first, last) = (ns[0], *ns.last().unwrap());
        let rate = (last.value - first.value) / last.time.secs_since(first.time);
        let gauge = mean(&series(&batch, &c, Metric::CpuUsageNanocores));
        assert!((rate / gauge - 1.0).abs() < 0.3, "counter rate {rate} vs gauge {gauge}");
    }
}

/// Initial pods have ages from minutes to weeks, and their history from
/// their first minute is there to fetch, computed as cheaply as today's.
#[tokio::test(start_paused = true)]
async fn initial_pods_are_minutes_to_weeks_old_and_their_whole_history_is_fetchable() {
    let clock = clock();
    let sim = SimCluster::new(
        SimConfig {
            initial_pods: 200,
            ..quiet(13)
        },
        clock.clone(),
    );
    let pods = sim.pods();
    let ages: Vec<f64> = pods
        .iter()
        .map(|p| clock.now().secs_since(p.start_time.unwrap()))
        .collect();
    let hours = |h: f64| h * 3_600.0;
    assert!(ages.iter().any(|a| *a < hours(1.0)), "some pods are young");
    assert!(ages.iter().any(|a| *a > hours(24.0 * 7.0)), "some have run for weeks");
    assert!(ages.iter().all(|a| *a <= hours(24.0 * 60.0)));
    let old = pods
        .iter()
        .zip(&ages)
        .filter(|(p, a)| **a > hours(24.0 * 7.0) && !sim.truth(&p.id).unwrap().silent)
        .map(|(p, _)| p)
        .next()
        .unwrap();
    let c = old.container_ids().next().unwrap();
    let start = old.start_time.unwrap();
    let first_minutes = sim
        .fetch(
            std::slice::from_ref(&c),
            TimeWindow::new(start, start + Duration::from_secs(300)),
        )
        .await
        .unwrap();
    let cpu = series(&first_minutes, &c, Metric::CpuUsageCoreNanoseconds);
    assert!(
        (25..=30).contains(&cpu.len()),
        "{} samples in its first 5 minutes",
        cpu.len()
    );
    assert!(
        cpu[0].value < 60e9,
        "the counter starts near 0 at the pod's start: {}",
        cpu[0].value
    );
    let now = sim
        .fetch(
            std::slice::from_ref(&c),
            TimeWindow::ending_at(clock.now(), Duration::from_secs(300)),
        )
        .await
        .unwrap();
    assert!(!now.samples(&c).is_empty());
}

/// Services outside the class list, sidecars, truths per container.
#[tokio::test(start_paused = true)]
async fn unknown_services_and_sidecars_have_their_own_truth() {
    let clock = clock();
    let sim = SimCluster::new(
        SimConfig {
            initial_pods: 300,
            ..quiet(14)
        },
        clock.clone(),
    );
    let labeler = cad_core::label::Labeler::new(sim.class_names());
    let (mut unknown, mut unknown_claiming, mut sidecars, mut impostors) = (0, 0, 0, 0);
    for p in sim.pods() {
        let t = sim.truth(&p.id).unwrap();
        let ids: Vec<_> = p.container_ids().collect();
        assert_eq!(sim.container_truth(&ids[0]).as_ref(), Some(&t));
        assert_eq!(t.unknown_service, !sim.class_names().contains(&t.behaves_as));
        if t.unknown_service {
            unknown += 1;
            assert!(sim.unknown_service_names().contains(&t.behaves_as));
            if let Some(n) = &t.named_as {
                unknown_claiming += 1;
                assert!(t.impostor);
                assert_eq!(labeler.class_of_name(&p.id.name), Some(n.as_str()));
            }
        } else if t.impostor {
            impostors += 1;
        }
        if ids.len() == 2 {
            sidecars += 1;
            let s = sim.container_truth(&ids[1]).unwrap();
            assert_eq!(s.sidecar.as_deref(), Some(ids[1].container.as_str()));
            assert!(DEFAULT_SIDECARS.contains(&ids[1].container.as_str()));
            assert!(!s.impostor && !s.unknown_service && s.named_as.is_none());
        }
        assert!(ids.len() <= 2);
    }
    assert!(
        unknown > 10 && unknown_claiming > 0 && unknown_claiming < unknown,
        "{unknown} {unknown_claiming}"
    );
    assert!(impostors > 3 && sidecars > 50, "{impostors} {sidecars}");
    assert!(sim.container_truth(&PodId::new("x", "y", "z").container("c")).is_none());
}

/// A sidecar proxy's CPU follows its app's traffic; containerd nodes report
/// no block I/O; a node that writes 0 for unknown fields does.
#[tokio::test(start_paused = true)]
async fn sidecars_follow_their_app_and_nodes_differ() {
    let clock = clock();
    let mut config = quiet(15);
    let mut cri = NodeProfile::plain("cri");
    cri.blkio = false;
    cri.zero_fields = vec!["memory_rss_bytes".into()];
    config.nodes = vec![NodeProfile::plain("docker"), cri];
    let sim = SimCluster::new(config, clock.clone());
    let spec = |scale: f64, node: &str| {
        PodSpec::new("nginx")
            .with_shape(Shape::Steady)
            .with_scale(scale)
            .with_sidecar("istio-proxy")
            .on_node(node)
    };
    let (busy, calm, on_cri) = (
        sim.spawn(spec(20.0, "docker")),
        sim.spawn(spec(0.05, "docker")),
        sim.spawn(spec(1.0, "cri")),
    );
    clock.sleep(Duration::from_secs(600)).await;
    let all = all_containers(&[busy.clone(), calm.clone(), on_cri.clone()]);
    let b = sim
        .fetch(&all, TimeWindow::ending_at(clock.now(), Duration::from_secs(300)))
        .await
        .unwrap();
    let proxy_cpu = |p: &PodInfo| mean(&series(&b, &p.id.container("istio-proxy"), Metric::CpuUsageNanocores));
    assert!(
        proxy_cpu(&busy) > 3.0 * proxy_cpu(&calm),
        "{} vs {}",
        proxy_cpu(&busy),
        proxy_cpu(&calm)
    );
    let app = on_cri.container_ids().next().unwrap();
    assert!(
        series(&b, &app, Metric::BlkioWriteBytes).is_empty(),
        "no docker_container_blkio"
    );
    assert!(series(&b, &app, Metric::MemoryRssBytes).iter().all(|s| s.value == 0.0));
    assert!(series(&b, &app, Metric::MemoryUsageBytes).iter().all(|s| s.value > 0.0));
    assert!(!series(&b, &busy.container_ids().next().unwrap(), Metric::BlkioWriteBytes).is_empty());
}

fn counters_of(batch: &MetricBatch) -> Vec<(ContainerId, Metric, Vec<Sample>)> {
    let mut out = Vec::new();
    for (c, _) in batch.iter() {
        for m in Metric::fetched().filter(|m| m.kind() == MetricKind::Counter) {
            out.push((c.clone(), m, series(batch, c, m)));
        }
    }
    out
}

#[tokio::test(start_paused = true)]
async fn counters_are_monotone_without_restarts_and_reset_on_restart() {
    let clock = clock();
    let steady = SimCluster::new(
        SimConfig {
            initial_pods: 30,
            ..quiet(4)
        },
        clock.clone(),
    );
    let restarting = SimCluster::new(
        SimConfig {
            initial_pods: 30,
            restart_probability: 1.0,
            ..quiet(4)
        },
        clock.clone(),
    );
    clock.sleep(Duration::from_secs(3_600)).await;
    let w = TimeWindow::ending_at(clock.now(), Duration::from_secs(3_600));
    let b = steady.fetch(&all_containers(&steady.pods()), w).await.unwrap();
    for (c, m, s) in counters_of(&b) {
        assert!(s.windows(2).all(|p| p[0].value <= p[1].value), "{c} {m} not monotone");
    }
    let b = restarting.fetch(&all_containers(&restarting.pods()), w).await.unwrap();
    let mut resets = 0;
    for (c, m, s) in counters_of(&b) {
        let max_step = s.windows(2).map(|p| p[1].value - p[0].value).fold(0.0, f64::max);
        for p in s.windows(2).filter(|p| p[1].value < p[0].value) {
            assert!(
                m.scope() == cad_core::metric::MetricScope::Container,
                "{m} is per pod and must not reset"
            );
            assert!(
                p[1].value <= 10.0 * max_step + 1.0,
                "{c} {m} reset to {} not ~0",
                p[1].value
            );
            resets += 1;
        }
    }
    assert!(resets > 0, "restart_probability 1 must restart containers");
}

#[tokio::test(start_paused = true)]
async fn samples_stay_between_start_now_and_deletion() {
    let clock = clock();
    let sim = SimCluster::new(quiet(5), clock.clone());
    let pod = sim.spawn(PodSpec::new("mysql"));
    let c = pod.container_ids().next().unwrap();
    let start = pod.start_time.unwrap();
    let everything = || TimeWindow::new(Timestamp::from_secs(0), Timestamp::from_secs(T0 * 2));
    clock.sleep(Duration::from_secs(5)).await;
    assert!(
        sim.fetch(std::slice::from_ref(&c), everything())
            .await
            .unwrap()
            .samples(&c)
            .is_empty()
    );
    clock.sleep(Duration::from_secs(120)).await;
    let b = sim.fetch(std::slice::from_ref(&c), everything()).await.unwrap();
    let now = clock.now();
    assert!(!b.samples(&c).is_empty());
    assert!(
        b.samples(&c)
            .iter()
            .all(|s| s.time <= now && s.time >= start + Duration::from_secs(10))
    );
    assert!(sim.delete(&pod.id));
    assert!(!sim.delete(&pod.id));
    let deleted = clock.now();
    clock.sleep(Duration::from_secs(600)).await;
    let after = sim.fetch(std::slice::from_ref(&c), everything()).await.unwrap();
    assert!(after.samples(&c).iter().all(|s| s.time < deleted));
    assert!(after.sample_count() >= b.sample_count());
    assert!(sim.list().await.unwrap().is_empty());
    assert!(sim.truth(&pod.id).is_some(), "truth outlives the pod");
}

#[tokio::test(start_paused = true)]
async fn silent_pods_report_nothing() {
    let clock = clock();
    let sim = SimCluster::new(
        SimConfig {
            initial_pods: 20,
            silent_fraction: 1.0,
            ..quiet(6)
        },
        clock.clone(),
    );
    let loud = sim.spawn(PodSpec::new("nginx"));
    let quiet_pod = sim.spawn(PodSpec::new("nginx").silent(true));
    clock.sleep(Duration::from_secs(300)).await;
    let pods = sim.pods();
    assert_eq!(pods.len(), 22);
    let b = sim
        .fetch(
            &all_containers(&pods),
            TimeWindow::ending_at(clock.now(), Duration::from_secs(300)),
        )
        .await
        .unwrap();
    assert_eq!(b.len(), 1, "only the one non-silent pod reports");
    assert!(!b.samples(&loud.container_ids().next().unwrap()).is_empty());
    assert!(sim.truth(&quiet_pod.id).unwrap().silent);
}

#[tokio::test(start_paused = true)]
async fn watch_reports_initial_pods_then_churn() {
    let clock = clock();
    let sim = SimCluster::new(
        SimConfig {
            initial_pods: 5,
            spawn_every: Duration::from_secs(30),
            mean_lifetime: Duration::from_secs(120),
            ..SimConfig::default().with_seed(7)
        },
        clock.clone(),
    );
    let initial = sim.list().await.unwrap();
    let mut w = sim.watch();
    for p in &initial {
        assert_eq!(w.next().await.unwrap().unwrap(), PodEvent::Added(p.clone()));
    }
    let mut live: HashSet<PodId> = initial.iter().map(|p| p.id.clone()).collect();
    let (mut added, mut deleted) = (0, 0);
    for _ in 0..40 {
        match w.next().await.unwrap().unwrap() {
            PodEvent::Added(p) => {
                assert!(p.start_time.unwrap() <= clock.now());
                assert!(live.insert(p.id.clone()));
                added += 1;
            }
            PodEvent::Deleted(id) => {
                assert!(live.remove(&id), "deleted a pod never added");
                deleted += 1;
            }
            PodEvent::Updated(_) => panic!("the simulator sends no updates"),
        }
        let listed: HashSet<PodId> = sim.pods().into_iter().map(|p| p.id).collect();
        assert_eq!(listed, live, "the stream agrees with list()");
    }
    assert!(added > 0 && deleted > 0);
    assert!(
        clock.now() > Timestamp::from_secs(T0 + 60),
        "time advanced through the schedule"
    );
}

#[tokio::test(start_paused = true)]
async fn explicit_spawn_and_delete_reach_every_stream() {
    let clock = clock();
    let sim = SimCluster::new(quiet(8), clock.clone());
    let mut w1 = sim.watch();
    let mut w2 = sim.watch();
    let p = sim.spawn(PodSpec::impostor("nginx", "mongodb").in_namespace("shop"));
    assert_eq!(w1.next().await.unwrap().unwrap(), PodEvent::Added(p.clone()));
    assert_eq!(w2.next().await.unwrap().unwrap(), PodEvent::Added(p.clone()));
    sim.delete(&p.id);
    assert_eq!(w1.next().await.unwrap().unwrap(), PodEvent::Deleted(p.id.clone()));
    let q = sim.spawn(PodSpec::new("apache").with_lifetime(Duration::from_secs(90)));
    assert_eq!(w1.next().await.unwrap().unwrap(), PodEvent::Added(q.clone()));
    assert_eq!(w1.next().await.unwrap().unwrap(), PodEvent::Deleted(q.id.clone()));
    assert_eq!(clock.now(), Timestamp::from_secs(T0 + 90));
    drop(w1);
    assert_eq!(w2.next().await.unwrap().unwrap(), PodEvent::Deleted(p.id.clone()));
}

#[tokio::test(start_paused = true)]
async fn impostors_behave_like_their_behaves_as_class() {
    let clock = clock();
    let sim = SimCluster::new(quiet(9), clock.clone());
    let fake = sim.spawn(PodSpec::impostor("nginx", "mysql"));
    let nginx = sim.spawn(PodSpec::new("nginx"));
    assert!(fake.id.name.starts_with("nginx-"));
    assert_eq!(fake.labels["app.kubernetes.io/name"], "nginx");
    assert_eq!(fake.containers[0].name, "nginx");
    let t = sim.truth(&fake.id).unwrap();
    assert_eq!(
        (t.behaves_as.as_str(), t.named_as.as_deref(), t.impostor),
        ("mysql", Some("nginx"), true)
    );
    assert!(!sim.truth(&nginx.id).unwrap().impostor);
    clock.sleep(Duration::from_secs(120)).await;
    let b = sim
        .fetch(
            &all_containers(&[fake.clone(), nginx.clone()]),
            TimeWindow::ending_at(clock.now(), Duration::from_secs(120)),
        )
        .await
        .unwrap();
    let mem = |p: &PodInfo| {
        mean(&series(
            &b,
            &p.container_ids().next().unwrap(),
            Metric::MemoryUsageBytes,
        ))
    };
    assert!(mem(&fake) > 50.0 * 1024.0 * 1024.0, "behaves like mysql");
    assert!(mem(&nginx) < 10.0 * 1024.0 * 1024.0);

    let all_fake = SimCluster::new(
        SimConfig {
            initial_pods: 30,
            impostor_fraction: 1.0,
            ..quiet(9)
        },
        clock.clone(),
    );
    for p in all_fake.pods() {
        let t = all_fake.truth(&p.id).unwrap();
        assert!(t.impostor && t.named_as.as_deref() != Some(t.behaves_as.as_str()));
        assert!(p.id.name.starts_with(t.named_as.as_deref().unwrap()));
    }
    let unnamed = SimCluster::new(
        SimConfig {
            initial_pods: 30,
            unnamed_fraction: 1.0,
            impostor_fraction: 0.0,
            unknown_fraction: 0.0,
            ..quiet(9)
        },
        clock.clone(),
    );
    let labeler = cad_core::label::Labeler::new(unnamed.class_names());
    for p in unnamed.pods() {
        assert_eq!(labeler.class_of_name(&p.id.name), None, "{} claims a class", p.id.name);
        assert_eq!(unnamed.truth(&p.id).unwrap().named_as, None);
    }
}

#[tokio::test(start_paused = true)]
async fn one_fetch_returns_only_the_requested_containers() {
    let clock = clock();
    let sim = SimCluster::new(quiet(10), clock.clone());
    let pods: Vec<_> = (0..50)
        .map(|i| sim.spawn(PodSpec::new(&sim.class_names()[i % 5])))
        .collect();
    clock.sleep(Duration::from_secs(60)).await;
    let mut wanted = all_containers(&pods[..10]);
    wanted.push(PodId::new("default", "nope", "x").container("nginx"));
    wanted.push(pods[11].id.container("not-a-container"));
    wanted.push(wanted[0].clone());
    let before = sim.fetch_calls();
    let b = sim
        .fetch(&wanted, TimeWindow::ending_at(clock.now(), Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(sim.fetch_calls(), before + 1);
    assert_eq!(b.len(), 10);
    assert!(b.iter().all(|(c, _)| wanted[..10].contains(c)));
    let once = series(&b, &wanted[0], Metric::MemoryUsageBytes).len();
    assert!(
        (2..=4).contains(&once),
        "{once} memory samples of one container in 30 s (asked twice)"
    );
    assert_eq!(sim.list_calls(), 0);
    sim.list().await.unwrap();
    assert_eq!(sim.list_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_pods_in_one_fetch() {
    let clock = clock();
    let sim = SimCluster::new(quiet(11), clock.clone());
    let names = sim.class_names();
    let pods: Vec<_> = (0..10_000)
        .map(|i| sim.spawn(PodSpec::new(&names[i % names.len()])))
        .collect();
    let uids: HashSet<_> = pods.iter().map(|p| p.id.uid.clone()).collect();
    assert_eq!(uids.len(), 10_000);
    clock.sleep(Duration::from_secs(60)).await;
    let b = sim
        .fetch(
            &all_containers(&pods),
            TimeWindow::ending_at(clock.now(), Duration::from_secs(30)),
        )
        .await
        .unwrap();
    assert_eq!(b.len(), 10_000);
    assert_eq!(sim.fetch_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn pods_look_like_kubernetes_pods() {
    let clock = clock();
    let sim = SimCluster::new(quiet(12), clock.clone());
    let n = sim.spawn(PodSpec::new("nginx").in_namespace("web"));
    let m0 = sim.spawn(PodSpec::new("mysql").in_namespace("db"));
    let m1 = sim.spawn(PodSpec::new("mysql").in_namespace("db"));
    let parts: Vec<_> = n.id.name.split('-').collect();
    assert_eq!(parts.len(), 3, "{}", n.id.name);
    assert_eq!(parts[0], "nginx");
    assert_eq!(parts[2].len(), 5);
    assert_eq!(n.labels["pod-template-hash"], parts[1]);
    assert_eq!((m0.id.name.as_str(), m1.id.name.as_str()), ("mysql-0", "mysql-1"));
    assert_eq!(n.phase, cad_core::pod::PodPhase::Running);
    assert_eq!(n.start_time, Some(clock.now()));
    assert!(n.containers[0].image.contains("nginx"));
    assert!(n.containers[0].image_size_bytes.is_some_and(|s| s > 50_000_000));
    assert!(sim.config().nodes.iter().any(|x| Some(&x.name) == n.node.as_ref()));
    assert_eq!(
        sim.try_spawn(PodSpec::new("mysql").with_name("mysql-0").in_namespace("db")),
        Err(SimError::NameTaken("db/mysql-0".into()))
    );
    assert_eq!(
        sim.try_spawn(PodSpec::new("nope")),
        Err(SimError::UnknownClass("nope".into()))
    );
    assert_eq!(
        sim.try_spawn(PodSpec::new("nginx").with_sidecar("nope")),
        Err(SimError::UnknownSidecar("nope".into()))
    );
    let redis = sim.spawn(PodSpec::new("redis"));
    assert!(redis.id.name.starts_with("redis-"));
    assert!(sim.truth(&redis.id).unwrap().unknown_service);
    let fallback = sim.spawn(PodSpec::new("nope"));
    assert_eq!(sim.truth(&fallback.id).unwrap().behaves_as, "nginx");
    let bad = SimConfig {
        classes: vec![],
        ..SimConfig::default()
    };
    assert!(matches!(
        SimCluster::try_new(bad.clone(), clock.clone()),
        Err(SimError::InvalidConfig(_))
    ));
    assert_eq!(SimCluster::new(bad, clock.clone()).class_names().len(), 5);
}

/// The training cluster is trusted: no impostor and nothing outside the
/// class list under a class's name among its pods, none spawned later; and
/// its training set has rows of every class, each row's class the claim of
/// its pod's name.
#[tokio::test(start_paused = true)]
async fn the_training_cluster_is_trusted_and_collected_as_the_demo_does() {
    let c = clock();
    let sim = SimCluster::new(SimConfig::training(4, 60), c.clone());
    let pods = sim.pods();
    assert_eq!(pods.len(), 60);
    let mut unknown = 0;
    for p in &pods {
        let t = sim.truth(&p.id).unwrap();
        assert!(!t.impostor, "{p:?} {t:?}");
        assert!(!(t.unknown_service && t.named_as.is_some()), "{p:?} {t:?}");
        unknown += usize::from(t.unknown_service);
    }
    assert!(
        unknown > 0,
        "services outside the class list are there, named after themselves"
    );
    c.sleep(Duration::from_secs(1800)).await;
    assert!(sim.pods().len() <= 60, "no pod spawned on its own");
    let features = cad_core::FeatureSet::behaviour();
    let (data, stats) = sim
        .collect_training_set(&features, &cad_core::engine::CollectConfig::default())
        .await
        .unwrap();
    assert_eq!(data.n_rows(), stats.rows);
    let mut seen = vec![false; data.classes().len()];
    for i in 0..data.n_rows() {
        seen[data.label(i)] = true;
    }
    assert!(seen.iter().all(|&s| s), "{:?}", data.classes());
}

/// A steady pod's CPU and page faults follow its load scale by the
/// profile's exponents (scale 1 unchanged), every other rate linearly.
#[test]
fn load_exponents_bend_cpu_and_faults_only() {
    use crate::profile::Op;
    let e = LoadExponents {
        cpu_mc: Exponent { below: 0.5, above: 0.5 },
        faults_s: Exponent { below: 1.0, above: 0.0 },
        ..LoadExponents::default()
    };
    let op = Op {
        cpu: 100.0,
        rx: 100.0,
        faults: 100.0,
        ..Op::default()
    };
    let at = |k: f64| op.at_load(k, &e);
    assert_eq!(at(1.0), op);
    assert_eq!((at(0.25).cpu, at(0.25).rx, at(0.25).faults), (50.0, 25.0, 25.0));
    assert_eq!((at(4.0).cpu, at(4.0).rx, at(4.0).faults), (200.0, 400.0, 100.0));
    assert_eq!(at(0.0), Op::default());
    assert_eq!(Exponent::default().factor(3.0), 3.0);
    assert_eq!(Exponent::default().factor(f64::NAN), 0.0);
    let mut bad = Profiles::builtin();
    bad.service[0].load_exponent.cpu_mc.above = -0.35;
    assert!(bad.validate().is_err(), "a falling rate is not modelled");
}

/// Everything fetched of one pod like `spec` over its first `secs` on a
/// quiet cluster, and its app container.
async fn one_pod_history(spec: PodSpec, secs: u64) -> (MetricBatch, ContainerId) {
    let clock = clock();
    let sim = SimCluster::new(quiet(5), clock.clone());
    let p = sim.spawn(spec);
    clock.sleep(Duration::from_secs(secs)).await;
    let b = sim
        .fetch(
            &all_containers(std::slice::from_ref(&p)),
            TimeWindow::new(Timestamp(0), clock.now()),
        )
        .await
        .unwrap();
    let c = p.container_ids().next().unwrap();
    (b, c)
}

/// The app container's block-device writes of one pod like `spec`, every
/// 10 s over its first `secs`: the bytes written in each interval.
async fn writes_per_interval(spec: PodSpec, secs: u64) -> Vec<f64> {
    let (b, c) = one_pod_history(spec.on_node("pool-a-1"), secs).await;
    let w = series(&b, &c, Metric::BlkioWriteBytes);
    w.windows(2).map(|x| x[1].value - x[0].value).collect()
}

/// redis writes only when it saves a snapshot (every 60 s under load, as
/// recorded): one interval in six writes, the others nothing.
#[tokio::test(start_paused = true)]
async fn redis_writes_in_snapshots() {
    let steps = writes_per_interval(PodSpec::new("redis").with_shape(Shape::Steady).with_scale(1.0), 900).await;
    assert!(steps.iter().all(|d| *d >= 0.0), "{steps:?}");
    let writing = steps.iter().filter(|d| **d > 0.0).count();
    assert!(
        (12..=16).contains(&writing),
        "{writing} of {} intervals write: {steps:?}",
        steps.len()
    );
    let mean = steps.iter().sum::<f64>() / (10.0 * steps.len() as f64);
    assert!(mean > 50.0 * 1024.0, "{mean} B/s");
}

/// PostgreSQL goes on writing after a burst (checkpoints), as postgresql-1
/// did; MariaDB stops at once, as mysql-1 and mysql-3 did.
#[tokio::test(start_paused = true)]
async fn postgresql_keeps_writing_after_a_burst_mariadb_does_not() {
    let spec = |class: &str| PodSpec::new(class).with_shape(Shape::Bursty).with_scale(1.0);
    // intervals that wrote, though far below a burst's rate (10 s × 1 MiB/s)
    let tail = |steps: &[f64]| {
        steps
            .iter()
            .filter(|d| **d > 0.0 && **d < 10.0 * 1024.0 * 1024.0)
            .count()
    };
    let pg = writes_per_interval(spec("postgresql"), 1800).await;
    let my = writes_per_interval(spec("mysql"), 1800).await;
    assert!(tail(&pg) >= pg.len() / 3, "postgresql: {pg:?}");
    assert!(tail(&my) <= my.len() / 10, "mysql: {my:?}");
}

/// A stretch's tail: the count of ended stretches and their pending share,
/// consistent with each other and with a closed-form sum.
#[test]
fn tails_count_the_stretches_that_ended() {
    use crate::profile::Activity;
    let a = Activity::Periodic {
        period: 100.0,
        len: 30.0,
        seed: 7,
    };
    let (n, pending) = a.ends(0.0, 1_000.0, 50.0);
    assert_eq!(n, 10.0);
    assert!(pending > 0.0 && pending < 1.0 / (1.0 - (-2.0f64).exp()), "{pending}");
    assert_eq!(a.ends(500.0, 500.0, 50.0), (0.0, 0.0));
    let (n1, _) = a.ends(0.0, 500.0, 50.0);
    let (n2, _) = a.ends(500.0, 1_000.0, 50.0);
    assert_eq!(n1 + n2, n);
    // long ago: fully done, nothing pending
    let (_, old) = a.ends(0.0, 1e6, 50.0);
    assert!(old < 1.0 / (1.0 - (-2.0f64).exp()));
    assert_eq!(Activity::Idle.ends(0.0, 1e6, 50.0), (0.0, 0.0));
}

/// MariaDB's page faults are the first touch of its growing memory, as in
/// every recorded mysql instance: one fault per 4 KiB page RSS grew by.
#[tokio::test(start_paused = true)]
async fn mysql_faults_once_per_page_its_memory_grows_by() {
    let spec = PodSpec::new("mysql").with_shape(Shape::Batch).with_scale(1.0);
    let (b, c) = one_pod_history(spec, 7_200).await;
    let (rss, faults) = (
        series(&b, &c, Metric::MemoryRssBytes),
        series(&b, &c, Metric::MemoryPageFaults),
    );
    // after start-up (its phases fault on their own)
    let (i, j) = (12, rss.len() - 1);
    let pages = (rss[j].value - rss[i].value) / 4096.0;
    let faulted = faults[j].value - faults[i].value;
    assert!(pages > 1_000.0, "it grew: {pages} pages");
    assert!(
        (faulted / pages - 1.0).abs() < 0.1,
        "{faulted} faults for {pages} pages"
    );
}

#[tokio::test(start_paused = true)]
async fn past_pods_are_not_listed_but_seen_fetched_and_trained_on() {
    let c = clock();
    let plain = SimCluster::new(SimConfig::training(5, 20), c.clone());
    let mut config = SimConfig::training(5, 20);
    config.past_pods = 30;
    let sim = SimCluster::new(config, c.clone());
    // The running pods are the same with and without a past.
    let names = |pods: Vec<PodInfo>| pods.into_iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(names(sim.pods()), names(plain.pods()));
    let now = c.now();
    let all_time = TimeWindow::ending_at(now, Duration::from_secs(400 * 86_400));
    let seen = sim.containers_seen(all_time).await.unwrap();
    let live: HashMap<PodId, PodInfo> = sim.pods().into_iter().map(|p| (p.id.clone(), p)).collect();
    let past: Vec<&SeenContainer> = seen.iter().filter(|s| !live.contains_key(&s.id.pod)).collect();
    let past_pods: HashSet<&PodId> = past.iter().map(|s| &s.id.pod).collect();
    // Silent pods report nothing; all others are seen.
    assert!((27..=30).contains(&past_pods.len()), "{}", past_pods.len());
    for s in &past {
        assert!(s.first_sample <= s.last_sample && s.last_sample < now, "{s:?}");
        let window = TimeWindow::new(s.first_sample, s.last_sample + Duration::from_millis(1));
        let batch = sim.fetch(std::slice::from_ref(&s.id), window).await.unwrap();
        let times: Vec<Timestamp> = batch.samples(&s.id).iter().map(|x| x.time).collect();
        assert_eq!(times.iter().min(), Some(&s.first_sample), "{s:?}");
        assert_eq!(times.iter().max(), Some(&s.last_sample), "{s:?}");
        let truth = sim.container_truth(&s.id).unwrap();
        if s.id.pod.namespace.starts_with("preview-") {
            continue; // a workload since removed
        }
        // An earlier pod of a running pod's workload: same service and
        // containers, same workload name, ended before that one started.
        let workload = cad_core::pod::workload_name(&s.id.pod.name);
        let successor = live
            .values()
            .filter(|p| p.id.namespace == s.id.pod.namespace && cad_core::pod::workload_name(&p.id.name) == workload)
            .any(|p| {
                p.containers.iter().any(|c| c.name == s.id.container)
                    && sim
                        .container_truth(&p.id.container(s.id.container.clone()))
                        .is_some_and(|t| (&t.behaves_as, &t.sidecar) == (&truth.behaves_as, &truth.sidecar))
                    && s.last_sample < p.start_time.unwrap()
            });
        assert!(successor, "no running pod of {s:?}'s workload started after it");
    }
    // Nothing after a past pod's end (before the next container sample,
    // at most an interval and a jitter later).
    let after = TimeWindow::new(past[0].last_sample + Duration::from_secs(20), now);
    assert_eq!(sim.fetch(&[past[0].id.clone()], after).await.unwrap().sample_count(), 0);

    let features = cad_core::FeatureSet::behaviour();
    let collect = cad_core::engine::CollectConfig {
        past: Duration::from_secs(400 * 86_400),
        ..Default::default()
    };
    let (_, without) = plain.collect_training_set(&features, &collect).await.unwrap();
    let (data, stats) = sim.collect_training_set(&features, &collect).await.unwrap();
    assert_eq!(c.now(), now, "no time passed");
    assert_eq!(without.past_pods, 0);
    // Earlier pods of running workloads are left out, those of workloads
    // since removed (half of them) are trained on.
    let gone = past_pods.iter().filter(|p| p.namespace.starts_with("preview-")).count();
    assert!((13..=15).contains(&gone), "{gone}");
    // One pod a removed workload (a preview namespace's two pods of a class
    // are one workload).
    assert_eq!(
        (
            stats.past_pods + stats.past_pods_same_workload,
            stats.past_pods_of_running
        ),
        (gone, past_pods.len() - gone)
    );
    assert!(stats.past_pods >= 10, "{stats:?}");
    assert!(stats.past_containers >= 5, "{stats:?}");
    assert!(
        stats.containers_with_rows >= without.containers_with_rows + 5,
        "{stats:?} {without:?}"
    );
    assert!(stats.young_rows > without.young_rows, "{stats:?} {without:?}");
    assert_eq!(data.n_rows(), stats.rows);
}

/// A Deployment pod's ReplicaSet (`nginx-7c5ddbdf54` of
/// `nginx-7c5ddbdf54-x7k2q`) and its template hash; `None` for a StatefulSet's.
fn replica_set(p: &PodInfo) -> Option<(String, String)> {
    if p.labels.contains_key("statefulset.kubernetes.io/pod-name") {
        return None;
    }
    let (set, suffix) = p.id.name.rsplit_once('-').unwrap();
    let (_, hash) = set.rsplit_once('-').unwrap();
    assert_eq!(suffix.len(), 5, "{}", p.id.name);
    assert_eq!(p.labels["pod-template-hash"], hash, "{}", p.id.name);
    Some((format!("{}/{set}", p.id.namespace), hash.to_string()))
}

/// Independent pods are Deployments of their own: no two share a template
/// hash, not even two of one class in one namespace.
#[tokio::test(start_paused = true)]
async fn independent_pods_have_templates_of_their_own() {
    let c = clock();
    let sim = SimCluster::new(
        SimConfig {
            initial_pods: 200,
            ..quiet(21)
        },
        c.clone(),
    );
    let spawned = [
        sim.spawn(PodSpec::new("nginx").in_namespace("default")),
        sim.spawn(PodSpec::new("nginx").in_namespace("default")),
    ];
    let pods = sim.pods();
    let mut sets: HashMap<String, usize> = HashMap::new();
    let mut per_prefix: HashMap<(String, String), HashSet<String>> = HashMap::new();
    for p in &pods {
        if let Some((set, hash)) = replica_set(p) {
            *sets.entry(set).or_default() += 1;
            let prefix = p.labels["app.kubernetes.io/name"].clone();
            per_prefix
                .entry((p.id.namespace.clone(), prefix))
                .or_default()
                .insert(hash);
        }
    }
    assert!(sets.len() > 50, "{}", sets.len());
    assert!(sets.values().all(|n| *n == 1), "{sets:?}");
    // one (namespace, class) with many pods, each its own template
    assert!(per_prefix.values().any(|h| h.len() >= 5), "{per_prefix:?}");
    assert_ne!(replica_set(&spawned[0]), replica_set(&spawned[1]));
}

/// With `replicas = 3` every initial Deployment pod comes with two near
/// twins of its ReplicaSet; the pods of `replicas = 1` (the default, and a
/// config file without the field), the past pods and the churn stay as they
/// are; StatefulSet pods and spawned pods are not replicated.
#[tokio::test(start_paused = true)]
async fn replicas_are_near_twins_of_the_initial_deployment_pods() {
    let c = clock();
    let base = SimConfig {
        past_pods: 20,
        spawn_every: Duration::from_secs(120),
        restart_probability: 0.0,
        ..SimConfig::training(22, 40)
    };
    let plain = SimCluster::new(base.clone(), c.clone());
    let sim = SimCluster::new(
        SimConfig {
            replicas: 3,
            ..base.clone()
        },
        c.clone(),
    );
    // the default is 1, also for a config written without the field
    let mut table = toml::Table::try_from(&base).unwrap();
    assert_eq!(table.remove("replicas"), Some(toml::Value::Integer(1)));
    let without: SimConfig = table.try_into().unwrap();
    assert_eq!(without, base);

    let (before, pods) = (plain.pods(), sim.pods());
    let deployments = before.iter().filter(|p| replica_set(p).is_some()).count();
    assert!(
        deployments >= 20 && deployments < before.len(),
        "{deployments} of {}",
        before.len()
    );
    assert_eq!(pods.len(), before.len() + 2 * deployments);
    // The original pods come first, as they are with one replica.
    assert_eq!(pods[..before.len()], before[..]);
    let by_id: HashMap<&PodId, &PodInfo> = pods.iter().map(|p| (&p.id, p)).collect();
    let mut sets: HashMap<String, Vec<&PodInfo>> = HashMap::new();
    for p in &pods {
        match replica_set(p) {
            Some((set, _)) => sets.entry(set).or_default().push(p),
            None => assert!(before.contains(p), "a StatefulSet pod copied: {}", p.id),
        }
    }
    assert_eq!(sets.len(), deployments);
    let mut other_nodes = 0;
    let window = TimeWindow::ending_at(c.now(), Duration::from_secs(1800));
    c.sleep(Duration::from_secs(1)).await; // past the copies' start at the latest
    let batch = sim.fetch(&all_containers(&pods), window).await.unwrap();
    // bytes received a second over the window: a pod-level rate, for a
    // pod that ran all of it
    let rx = |p: &PodInfo| {
        let s = series(&batch, &p.container_ids().next().unwrap(), Metric::RxBytes);
        let (a, b) = (s.first()?, s.last()?);
        (s.len() > 150).then(|| (b.value - a.value) / b.time.secs_since(a.time))
    };
    let (mut compared, mut close) = (0, 0);
    for group in sets.values() {
        assert_eq!(group.len(), 3, "{group:?}");
        let first = group[0];
        assert!(by_id.contains_key(&first.id) && before.contains(first));
        let uids: HashSet<&str> = group.iter().map(|p| p.id.uid.as_str()).collect();
        assert_eq!(uids.len(), 3);
        for p in &group[1..] {
            assert!(!before.contains(p));
            assert_eq!((&p.labels, &p.containers), (&first.labels, &first.containers));
            assert_eq!(sim.truth(&p.id), sim.truth(&first.id));
            for (a, b) in p.container_ids().zip(first.container_ids()) {
                assert_eq!(sim.container_truth(&a), sim.container_truth(&b));
            }
            let apart = p.start_time.unwrap().secs_since(first.start_time.unwrap()).abs();
            assert!(apart <= 150.0, "{apart} s apart");
            other_nodes += usize::from(p.node != first.node);
        }
        let rates: Vec<f64> = group.iter().filter_map(|p| rx(p)).collect();
        if rates.len() == 3 {
            let (lo, hi) = rates
                .iter()
                .fold((f64::MAX, 0.0f64), |(l, h), r| (l.min(*r), h.max(*r)));
            // the same load; the swings and bursts run from each one's start
            assert!(hi <= 1.5 * lo, "{} rx {rates:?}", first.id);
            compared += 1;
            close += usize::from(hi <= 1.05 * lo);
        }
    }
    assert!(other_nodes > 0);
    assert!(compared >= 10 && close * 3 >= compared * 2, "{close} of {compared}");

    // The past pods are the same: every container seen of `plain` is seen
    // alike of `sim`, whose others are the copies'.
    let all_time = TimeWindow::ending_at(c.now(), Duration::from_secs(90 * 86_400));
    let (seen_plain, seen) = (
        plain.containers_seen(all_time).await.unwrap(),
        sim.containers_seen(all_time).await.unwrap(),
    );
    let copies: HashSet<&PodId> = pods[before.len()..].iter().map(|p| &p.id).collect();
    let not_copies: Vec<_> = seen.iter().filter(|s| !copies.contains(&s.id.pod)).cloned().collect();
    assert_eq!(not_copies, seen_plain);
    let originals = all_containers(&before);
    assert_eq!(
        sorted(&plain.fetch(&originals, window).await.unwrap()),
        sorted(&sim.fetch(&originals, window).await.unwrap())
    );

    // Neither spawned nor churned pods are replicated.
    let spawned = sim.spawn(PodSpec::new("nginx"));
    c.sleep(Duration::from_secs(1200)).await;
    let (now_plain, now) = (plain.pods(), sim.pods());
    let churned: Vec<_> = now
        .iter()
        .filter(|p| p.start_time.unwrap() > Timestamp::from_secs(T0))
        .collect();
    assert!(churned.len() >= 3, "{}", churned.len());
    assert!(churned.iter().any(|p| p.id == spawned.id));
    for p in churned.iter().filter(|p| p.id != spawned.id) {
        assert!(now_plain.contains(p), "{} is not as with one replica", p.id);
    }
    for p in churned {
        if let Some((set, _)) = replica_set(p) {
            let n = now
                .iter()
                .filter(|q| replica_set(q).is_some_and(|(s, _)| s == set))
                .count();
            assert_eq!(n, 1, "{set}");
        }
    }
}

#[test]
fn replicas_from_one_to_ten() {
    let with = |replicas: usize| SimConfig {
        replicas,
        ..SimConfig::default()
    };
    assert_eq!(SimConfig::default().replicas, 1);
    for ok in [1, 3, 10] {
        assert_eq!(with(ok).validate(), Ok(()));
    }
    for bad in [0, 11] {
        assert!(matches!(with(bad).validate(), Err(SimError::InvalidConfig(m)) if m.contains("replicas")));
        assert!(SimCluster::try_new(with(bad), clock()).is_err());
    }
    assert_eq!(SimCluster::new(with(0), clock()).config().replicas, 1);
    assert_eq!(SimCluster::new(with(11), clock()).config().replicas, 10);
}

#[test]
fn the_simulated_sidecars_are_the_profiles_and_on_the_default_sidecar_list() {
    let mut profiles: Vec<String> = Profiles::builtin().sidecar.iter().map(|s| s.name.clone()).collect();
    let mut listed: Vec<String> = DEFAULT_SIDECARS.iter().map(|s| (*s).to_owned()).collect();
    profiles.sort();
    listed.sort();
    assert_eq!(profiles, listed);
    let labeler = cad_core::label::Labeler::new(["nginx", "mysql"]);
    for name in DEFAULT_SIDECARS {
        let c = cad_core::pod::ContainerInfo::new(*name, format!("registry.example/{name}:1"));
        assert!(labeler.sidecar_of(&c).is_some(), "{name}");
    }
}
