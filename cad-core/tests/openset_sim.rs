//! The open-set method on the simulator, the way `cad demo --sweep` uses
//! it, without the watcher: for each seed, train on the running pods, spawn
//! new pods (honest, impostors, services outside the class list), and judge
//! each new app container's first window.
//!
//! ```text
//! cargo test --release -p cad-core --test openset_sim -- --ignored --nocapture
//! ```

use cad_core::classifier::Classifier;
use cad_core::clock::{Clock, TokioClock};
use cad_core::engine::*;
use cad_core::features::{ContainerInput, FeatureSet};
use cad_core::label::{ContainerClaim, Labeler};
use cad_core::openset::{NoveltyParams, OpenSetModel, Score};
use cad_core::source::MetricSource;
use cad_core::time::{TimeWindow, Timestamp};
use cad_core::{Dataset, FeatureRow};
use cad_sim::{PodSpec, SimCluster, SimConfig};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Truth {
    Honest,
    Impostor,
    Unknown,
}

struct Case {
    truth: Truth,
    claimed: Option<usize>,
    /// The service its metrics follow (a class or another service).
    behaves: String,
    row: FeatureRow,
}

struct Seed {
    data: Dataset,
    cases: Vec<Case>,
}

async fn seed_cases(seed: u64, honest: usize, impostors: usize, unknown: usize) -> Seed {
    let clock = Arc::new(TokioClock::starting_at(Timestamp::from_secs(1_700_000_000)));
    let sim = SimCluster::new(SimConfig::training(seed, 60), clock.clone());
    let labeler = Labeler::new(sim.class_names());
    let features = FeatureSet::behaviour();
    let (data, _) = sim
        .collect_training_set(&features, &CollectConfig::default())
        .await
        .unwrap();
    let classes = sim.class_names();
    let others = sim.unknown_service_names();
    let mut specs = Vec::new();
    for i in 0..honest {
        specs.push(PodSpec::new(classes[i % classes.len()].clone()));
    }
    for i in 0..impostors {
        let named = (i * 7 + seed as usize) % classes.len();
        let behaves = (named + 1 + (i + seed as usize) % (classes.len() - 1)) % classes.len();
        specs.push(PodSpec::impostor(classes[named].clone(), classes[behaves].clone()));
    }
    for i in 0..unknown {
        let svc = others[(i + seed as usize) % others.len()].clone();
        specs.push(if i % 3 == 0 {
            PodSpec::impostor(classes[i % classes.len()].clone(), svc)
        } else {
            PodSpec::new(svc)
        });
    }
    let start = clock.now();
    let pods: Vec<_> = specs
        .into_iter()
        .map(|s| (s.behaves_as.clone(), sim.spawn(s)))
        .collect();
    clock.sleep(Duration::from_secs(240)).await;
    let mut cases = Vec::new();
    for (_, pod) in &pods {
        let Some(truth) = sim.truth(&pod.id) else { continue };
        let kind = if truth.unknown_service {
            Truth::Unknown
        } else if truth.impostor {
            Truth::Impostor
        } else {
            Truth::Honest
        };
        for (c, claim) in pod.containers.iter().zip(labeler.container_claims(pod)) {
            if matches!(claim, ContainerClaim::Sidecar(_)) {
                continue;
            }
            let id = pod.id.container(c.name.clone());
            let batch = sim
                .fetch(std::slice::from_ref(&id), TimeWindow::new(start, clock.now()))
                .await
                .unwrap();
            let input = ContainerInput {
                pod,
                container: c,
                samples: batch.samples(&id),
            };
            if let Some(row) = features.first_row(&input) {
                cases.push(Case {
                    truth: kind,
                    claimed: claim.class().and_then(|n| classes.iter().position(|x| x == n)),
                    behaves: truth.behaves_as.clone(),
                    row,
                });
            }
        }
    }
    Seed { data, cases }
}

/// (flagged, judged) per truth.
#[derive(Default, Debug, Clone, Copy)]
struct Tally {
    honest: (usize, usize),
    impostor: (usize, usize),
    unknown: (usize, usize),
}

impl Tally {
    fn add(&mut self, truth: Truth, flagged: bool) {
        let t = match truth {
            Truth::Honest => &mut self.honest,
            Truth::Impostor => &mut self.impostor,
            Truth::Unknown => &mut self.unknown,
        };
        t.0 += usize::from(flagged);
        t.1 += 1;
    }
}

fn pct(v: (usize, usize)) -> String {
    format!("{}/{} ({:.1} %)", v.0, v.1, 100.0 * v.0 as f64 / v.1.max(1) as f64)
}

/// The default method's and the comparison methods' tallies over seeds
/// `1..=seeds` at false-anomaly rate `alpha`; prints them.
async fn methods(seeds: u64, alpha: f64) -> Vec<Tally> {
    let mut variants: Vec<(&str, NoveltyParams)> = vec![
        ("combined (default)", NoveltyParams::default()),
        (
            "combined, features weighted",
            NoveltyParams {
                weigh_features: true,
                ..Default::default()
            },
        ),
        (
            "novelty (Mondrian)",
            NoveltyParams {
                score: Score::Novelty,
                ..Default::default()
            },
        ),
    ];
    // `TRIMMED=1,2,3`: also the combined score with those trimmed metrics
    // (`Metric::TrimmedRms`). Measured over 100 seeds (α = 0.01): default
    // honest 27/3000, impostors 479/500, unknown 355/500; m = 1: 31, 482,
    // 378; m = 2: 33, 479, 369; m = 3: 36, 472, 361 (not adopted: docs/measurements.md).
    let trimmed: Vec<u8> = std::env::var("TRIMMED")
        .unwrap_or_default()
        .split(',')
        .filter_map(|m| m.trim().parse().ok())
        .collect();
    for m in trimmed {
        let name: &'static str = Box::leak(format!("combined, trimmed RMS m={m}").into_boxed_str());
        variants.push((
            name,
            NoveltyParams {
                metric: cad_core::openset::reference::Metric::TrimmedRms(m),
                ..Default::default()
            },
        ));
    }
    let mut tallies = vec![Tally::default(); variants.len() + 2];
    for seed in 1..=seeds {
        let s = seed_cases(seed, 30, 5, 5).await;
        let tree = cad_core::model::Algorithm::by_name("tree")
            .unwrap()
            .fit(&s.data)
            .unwrap();
        let forest = cad_core::model::Algorithm::Forest(cad_core::forest::ForestParams {
            seed: 42,
            ..Default::default()
        })
        .fit(&s.data)
        .unwrap();
        let models: Vec<OpenSetModel> = variants.iter().map(|(_, p)| p.fit(&s.data).unwrap()).collect();
        for case in &s.cases {
            for (i, m) in models.iter().enumerate() {
                let j = m.judge(&case.row, case.claimed, alpha);
                tallies[i].add(case.truth, j.kind.is_anomaly());
            }
            for (i, c) in [&tree as &dyn Classifier, &forest].into_iter().enumerate() {
                let p = c.predict(&case.row);
                let flagged = case.claimed.is_some_and(|x| x != p.class) || p.confidence < 0.6;
                tallies[variants.len() + i].add(case.truth, flagged);
            }
        }
    }
    let names: Vec<&str> = variants
        .iter()
        .map(|v| v.0)
        .chain(["tree (mismatch or < 0.6)", "forest (mismatch or < 0.6)"])
        .collect();
    eprintln!("{seeds} seeds, α = {alpha}:");
    for (n, t) in names.iter().zip(&tallies) {
        eprintln!(
            "{n:<30} honest {}  impostors {}  unknown {}",
            pct(t.honest),
            pct(t.impostor),
            pct(t.unknown)
        );
    }
    tallies
}

/// Three seeds of the demo's setting: the default method flags few honest
/// pods and most impostors, each judged on one window. Measured (seeds 1–3,
/// α = 0.01): honest 5/90, impostors 15/15, unknown services 13/15 on the
/// simulator of session 21, whose nginx and apache memory (with the page
/// cache outside the working set) and apache's CPU below its steady load
/// are as recorded (over 20 seeds, `open_set_methods_on_the_simulator`:
/// 9/600, 99/100, 77/100; seeds 1–3 are the sweep's unlucky ones for honest
/// pods too). Session 20's: 6/90, 14/15, 13/15 (12/600, 97/100, 76/100).
/// Before: 4/90, 14/15, 9/15 with the `behaviour` set of issue 17 (2/90,
/// 12/15, 7/15 with `behaviour-v2`); novelty alone 0/90, 5/15, 3/15
/// (`behaviour-v2`).
#[tokio::test(start_paused = true)]
async fn the_combined_score_flags_impostors_and_few_honest_pods() {
    let t = methods(3, 0.01).await;
    let d = t[0];
    assert_eq!((d.honest.1, d.impostor.1, d.unknown.1), (90, 15, 15), "{d:?}");
    assert!(d.honest.0 <= 6, "{d:?}");
    assert!(d.impostor.0 >= 12, "{d:?}");
    assert!(d.unknown.0 >= 5, "{d:?}");
    // Mondrian novelty p-values alone find far fewer impostors.
    assert!(t[2].impostor.0 < d.impostor.0, "{t:?}");
}

/// The sweep's size (`SEEDS`, default 20). Measured (α = 0.01, one window
/// each): honest 9/600, impostors 99/100, unknown services 77/100 on the
/// simulator of session 21 (session 20's: 12/600, 97/100, 76/100; before
/// it: 12/600, 91/100, 57/100; issue 17's
/// targets, for the watcher's verdicts: ≤ 2 %, ≥ 95 %, ≥ 90 %).
#[tokio::test(start_paused = true)]
#[ignore = "a measurement of 20 seeds (minutes in a debug build)"]
async fn open_set_methods_on_the_simulator() {
    let seeds: u64 = std::env::var("SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let alpha: f64 = std::env::var("ALPHA").ok().and_then(|s| s.parse().ok()).unwrap_or(0.01);
    let t = methods(seeds, alpha).await;
    let d = t[0];
    assert!(d.honest.0 * 50 <= d.honest.1, "{d:?}");
    assert!(d.impostor.0 * 10 >= d.impostor.1 * 9, "{d:?}");
}

#[tokio::test(start_paused = true)]
#[ignore = "a measurement: prints every case"]
async fn open_set_cases_on_the_simulator() {
    let seed: u64 = std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let s = seed_cases(seed, 30, 5, 5).await;
    let classes = s.data.classes().to_vec();
    eprintln!("classes {classes:?}, {} rows", s.data.n_rows());
    let forest = cad_core::model::Algorithm::Forest(cad_core::forest::ForestParams {
        seed: 42,
        ..Default::default()
    })
    .fit(&s.data)
    .unwrap();
    let (m, scored) = NoveltyParams::default().fit_with_scores(&s.data).unwrap();
    for (c, class) in classes.iter().enumerate() {
        let cal = m.calibration(c).unwrap();
        eprintln!(
            "class {} own={} containers {:.1} max {:.2} beta {:.2}",
            class,
            m.has_own_calibration(c),
            cal.containers(),
            cal.max_score(),
            cal.beta()
        );
    }
    let _ = scored;
    let mut proba = vec![0.0; classes.len()];
    for case in &s.cases {
        forest.predict_proba_into(&case.row, &mut proba);
        let scores = m.scores(&case.row);
        let p = m.p_values(&case.row);
        let f = |v: &[f64]| v.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(" ");
        eprintln!(
            "{:?} claims {:<10} forest [{}] score [{}] p [{}]",
            case.truth,
            case.claimed.map_or("-", |c| classes[c].as_str()),
            f(&proba),
            scores.map_or("-".into(), |s| f(&s
                .iter()
                .map(|x| x.unwrap_or(f64::NAN))
                .collect::<Vec<_>>())),
            p.map_or("-".into(), |p| f(&p))
        );
    }
}

/// Diagnosis over `SEEDS` seeds (default 20) at `ALPHA` (default 0.01):
/// every flagged honest pod, missed impostor and missed unknown service
/// with its p-values; the distribution of the claimed class's p-value of
/// honest pods (uniform if the calibration is exchangeable with the judged
/// rows); and the held-out own-class novelty scores of the calibration by
/// the row's age (young: ≤ 300 s, the ages the watcher decides at).
/// Measured (20 seeds): honest p ≤ 0.005 / 0.01 / 0.02 / 0.05 / 0.1 / 0.5:
/// 1.3 / 2.0 / 4.0 / 7.0 / 11.0 / 45.7 % (the tail ~2× heavier than
/// uniform, the bulk close to it); novelty median young 0.36, steady 0.42
/// (young rows are not less typical: no age effect on the novelty).
#[tokio::test(start_paused = true)]
#[ignore = "a measurement: prints the diagnosis"]
async fn open_set_diagnosis() {
    let seeds: u64 = std::env::var("SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let alpha: f64 = std::env::var("ALPHA").ok().and_then(|s| s.parse().ok()).unwrap_or(0.01);
    let mut honest_p = Vec::new();
    let (mut young, mut steady) = (Vec::new(), Vec::new());
    for seed in 1..=seeds {
        let s = seed_cases(seed, 30, 5, 5).await;
        let classes = s.data.classes().to_vec();
        let (m, scored) = NoveltyParams::default().fit_with_scores(&s.data).unwrap();
        for r in &scored {
            let (Some(v), Some(age)) = (r.scores[r.class], s.data.age(r.row)) else {
                continue;
            };
            if age <= 300.0 { young.push(v) } else { steady.push(v) }
        }
        for case in &s.cases {
            let p = m.p_values(&case.row);
            let j = m.judge(&case.row, case.claimed, alpha);
            if let (Truth::Honest, Some(p), Some(c)) = (case.truth, &p, case.claimed) {
                honest_p.push(p[c]);
            }
            let wrong = match case.truth {
                Truth::Honest => j.kind.is_anomaly(),
                _ => !j.kind.is_anomaly(),
            };
            if wrong {
                let f = |v: &[f64]| v.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(" ");
                eprintln!(
                    "seed {seed:>2} {:<8} {:<14} claims {:<10} -> {:<10} p [{}] ({})",
                    format!("{:?}", case.truth),
                    case.behaves,
                    case.claimed.map_or("-", |c| classes[c].as_str()),
                    j.kind.as_str(),
                    p.as_deref().map_or("-".into(), f),
                    classes.join(" ")
                );
            }
        }
    }
    let share = |q: f64| honest_p.iter().filter(|p| **p <= q).count() as f64 / honest_p.len().max(1) as f64;
    for q in [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5] {
        eprintln!("honest pods with p <= {q}: {:.1} %", 100.0 * share(q));
    }
    let quantiles = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let q = |f: f64| {
            v.get(((v.len() as f64 * f) as usize).min(v.len().saturating_sub(1)))
                .copied()
        };
        (v.len(), q(0.5), q(0.9), q(0.99))
    };
    eprintln!(
        "held-out own-class novelty of young rows (n, median, q90, q99): {:?}",
        quantiles(&mut young)
    );
    eprintln!(
        "held-out own-class novelty of steady rows (n, median, q90, q99): {:?}",
        quantiles(&mut steady)
    );
    // The p-values of honest pods are roughly uniform: within a factor of
    // 3 of α in the tail, within 10 points of 0.5 in the middle.
    assert!(share(0.01) <= 0.03, "honest p <= 0.01: {}", share(0.01));
    assert!((share(0.5) - 0.5).abs() <= 0.1, "honest p <= 0.5: {}", share(0.5));
}
