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
use cad_core::openset::{Kind, NoveltyParams, OpenSetModel, Score};
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
    row: FeatureRow,
}

struct Seed {
    data: Dataset,
    cases: Vec<Case>,
}

async fn seed_cases(seed: u64, honest: usize, impostors: usize, unknown: usize) -> Seed {
    let clock = Arc::new(TokioClock::starting_at(Timestamp::from_secs(1_700_000_000)));
    let mut config = SimConfig::default().with_seed(seed);
    config.initial_pods = 60;
    config.impostor_fraction = 0.0;
    config.unknown_named_like_class = 0.0;
    config.spawn_every = Duration::ZERO;
    let sim = SimCluster::new(config, clock.clone());
    let labeler = Labeler::new(sim.class_names());
    let features = FeatureSet::behaviour();
    let (data, _) = collect_dataset(
        &sim,
        &sim,
        clock.as_ref(),
        &labeler,
        &features,
        &CollectConfig::default(),
        &mut |_, _| {},
    )
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

#[tokio::test(start_paused = true)]
#[ignore = "a measurement: prints the figures of every method"]
async fn open_set_methods_on_the_simulator() {
    let seeds: u64 = std::env::var("SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(6);
    let alpha: f64 = std::env::var("ALPHA").ok().and_then(|s| s.parse().ok()).unwrap_or(0.01);
    let variants: Vec<(&str, NoveltyParams)> = vec![
        ("novelty", NoveltyParams::default()),
        (
            "combined k3",
            NoveltyParams {
                score: Score::Combined,
                ..Default::default()
            },
        ),
        (
            "combined k3 weighted",
            NoveltyParams {
                score: Score::Combined,
                weigh_features: true,
                ..Default::default()
            },
        ),
    ];

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
                let flagged = j.kind.is_anomaly() || (case.claimed.is_none() && j.kind == Kind::Unknown);
                tallies[i].add(case.truth, flagged);
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
    for (n, t) in names.iter().zip(&tallies) {
        eprintln!(
            "{n:<30} honest {}  impostors {}  unknown {}",
            pct(t.honest),
            pct(t.impostor),
            pct(t.unknown)
        );
    }
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
    for c in 0..classes.len() {
        let cal = m.calibration(c).unwrap();
        eprintln!(
            "class {} own={} containers {:.1} max {:.2} beta {:.2}",
            classes[c],
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

fn weighted_median(mut v: Vec<(f64, f64)>) -> f64 {
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = v.iter().map(|p| p.1).sum();
    let mut acc = 0.0;
    for (s, w) in &v {
        acc += w;
        if acc >= total / 2.0 {
            return *s;
        }
    }
    v.last().map_or(1.0, |p| p.0)
}

fn quantiles(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return "-".into();
    }
    [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 0.98, 1.0]
        .iter()
        .map(|q| format!("{:.2}", v[((v.len() - 1) as f64 * q).round() as usize]))
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(start_paused = true)]
#[ignore = "a measurement: score ratios"]
async fn open_set_score_ratios_on_the_simulator() {
    let seeds: u64 = std::env::var("SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(6);
    let (mut cal, mut honest, mut imp, mut unk, mut honest_other) = (vec![], vec![], vec![], vec![], vec![]);
    for seed in 1..=seeds {
        let s = seed_cases(seed, 30, 5, 5).await;
        let n = s.data.classes().len();
        let (m, scored) = NoveltyParams::default().fit_with_scores(&s.data).unwrap();
        let med: Vec<f64> = (0..n)
            .map(|c| {
                weighted_median(
                    scored
                        .iter()
                        .filter(|r| r.class == c)
                        .filter_map(|r| r.scores[c].map(|v| (v, r.weight)))
                        .collect(),
                )
            })
            .collect();
        // Per container: its max ratio over its rows.
        let mut per_group: std::collections::BTreeMap<usize, f64> = Default::default();
        for r in &scored {
            if let Some(v) = r.scores[r.class] {
                let e = per_group.entry(r.group).or_insert(0.0);
                *e = e.max(v / med[r.class]);
            }
        }
        cal.extend(
            scored
                .iter()
                .filter_map(|r| r.scores[r.class].map(|v| v / med[r.class])),
        );
        let _ = per_group;
        for case in &s.cases {
            let Some(sc) = m.scores(&case.row) else { continue };
            let ratio: Vec<f64> = sc
                .iter()
                .zip(&med)
                .map(|(s, m)| s.map_or(f64::INFINITY, |s| s / m))
                .collect();
            let min = ratio.iter().copied().fold(f64::INFINITY, f64::min);
            match (case.truth, case.claimed) {
                (Truth::Honest, Some(c)) => {
                    honest.push(ratio[c]);
                    honest_other.extend((0..n).filter(|&o| o != c).map(|o| ratio[o]));
                }
                (Truth::Impostor, Some(c)) => imp.push(ratio[c]),
                (Truth::Unknown, _) => unk.push(min),
                _ => {}
            }
        }
    }
    eprintln!("quantiles 0 5 25 50 75 95 98 100 %");
    eprintln!("calibration rows, own/median: {}", quantiles(cal));
    eprintln!("honest fresh, own/median:     {}", quantiles(honest));
    eprintln!("honest fresh, other classes:  {}", quantiles(honest_other));
    eprintln!("impostors, claimed/median:    {}", quantiles(imp));
    eprintln!("unknown, min over classes:    {}", quantiles(unk));
}

/// Threshold at the honest 98th percentile of a score; impostor and unknown
/// recall at it.
fn separation(name: &str, honest: &[f64], imp: &[f64], unk: &[f64]) {
    let mut h = honest.to_vec();
    h.sort_by(f64::total_cmp);
    for q in [0.95, 0.98] {
        let t = h[((h.len() - 1) as f64 * q) as usize];
        let r = |v: &[f64]| 100.0 * v.iter().filter(|&&x| x > t).count() as f64 / v.len().max(1) as f64;
        eprintln!(
            "{name:<40} honest {:.0} %: t {t:.3}  impostors {:.1} %  unknown {:.1} %",
            (1.0 - q) * 100.0,
            r(imp),
            r(unk)
        );
    }
}

#[tokio::test(start_paused = true)]
#[ignore = "a measurement: separation of candidate scores"]
async fn open_set_score_separation_on_the_simulator() {
    let seeds: u64 = std::env::var("SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(6);
    type Scorer = (&'static str, NoveltyParams);
    let rows = |k: usize, per: usize| NoveltyParams {
        k,
        max_rows_per_container: per,
        max_rows_per_class: 4096,
        ..Default::default()
    };
    let variants: Vec<Scorer> = vec![
        (
            "rms k1",
            NoveltyParams {
                k: 1,
                ..Default::default()
            },
        ),
        ("rms k1 rows 64", rows(1, 64)),
        ("rms k2 rows 64", rows(2, 64)),
        ("rms k1 rows 256", rows(1, 256)),
    ];
    let nv = variants.len();
    // per variant (+ forest, + products): honest own, impostor claimed, unknown min
    let mut acc: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> = vec![Default::default(); nv * 2 + 1];
    for seed in 1..=seeds {
        let s = seed_cases(seed, 30, 5, 5).await;
        let n = s.data.classes().len();
        let forest = cad_core::model::Algorithm::Forest(cad_core::forest::ForestParams {
            seed: 42,
            ..Default::default()
        })
        .fit(&s.data)
        .unwrap();
        let mut per_variant = Vec::new();
        for (_, p) in &variants {
            let (m, scored) = p.fit_with_scores(&s.data).unwrap();
            let med: Vec<f64> = (0..n)
                .map(|c| {
                    weighted_median(
                        scored
                            .iter()
                            .filter(|r| r.class == c)
                            .filter_map(|r| r.scores[c].map(|v| (v, r.weight)))
                            .collect(),
                    )
                })
                .collect();
            per_variant.push((m, med));
        }
        let mut proba = vec![0.0; n];
        for case in &s.cases {
            forest.predict_proba_into(&case.row, &mut proba);
            let mut all: Vec<Vec<f64>> = Vec::new();
            for (m, med) in &per_variant {
                let Some(sc) = m.scores(&case.row) else { continue };
                all.push(sc.iter().zip(med).map(|(s, m)| s.map_or(1e9, |s| s / m)).collect());
            }
            if all.len() < nv {
                continue;
            }
            let mut sets: Vec<Vec<f64>> = all.clone();
            for a in &all {
                sets.push(a.iter().zip(&proba).map(|(r, p)| r * (1.0 + 4.0 * (1.0 - p))).collect());
            }
            sets.push(proba.iter().map(|p| 1.0 - p).collect());
            for (i, v) in sets.iter().enumerate() {
                let min = v.iter().copied().fold(f64::INFINITY, f64::min);
                match (case.truth, case.claimed) {
                    (Truth::Honest, Some(c)) => acc[i].0.push(v[c]),
                    (Truth::Impostor, Some(c)) => acc[i].1.push(v[c]),
                    (Truth::Unknown, _) => acc[i].2.push(min),
                    _ => {}
                }
            }
        }
    }
    let names: Vec<String> = variants
        .iter()
        .map(|v| v.0.to_string())
        .chain(variants.iter().map(|v| format!("{} × (1 + 4(1 − p̂))", v.0)))
        .chain(["forest 1 − p̂".to_string()])
        .collect();
    for (n, a) in names.iter().zip(&acc) {
        separation(n, &a.0, &a.1, &a.2);
    }
}

#[tokio::test(start_paused = true)]
#[ignore = "a measurement: which features make honest pods and unknowns novel"]
async fn open_set_outliers_on_the_simulator() {
    let seeds: u64 = std::env::var("SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(4);
    let slog = |x: f64| x.signum() * x.abs().ln_1p();
    for seed in 1..=seeds {
        let s = seed_cases(seed, 30, 5, 5).await;
        let n = s.data.classes().len();
        let w = s.data.n_features();
        let names = s.data.feature_names().to_vec();
        // Per class per feature: median and IQR/1.349 of the log values.
        let stats: Vec<Vec<(f64, f64)>> = (0..n)
            .map(|c| {
                (0..w)
                    .map(|j| {
                        let mut v: Vec<f64> = (0..s.data.n_rows())
                            .filter(|&r| s.data.label(r) == c)
                            .filter_map(|r| s.data.value(r, j))
                            .map(slog)
                            .collect();
                        v.sort_by(f64::total_cmp);
                        if v.is_empty() {
                            return (0.0, 1.0);
                        }
                        let q = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
                        (q(0.5), ((q(0.75) - q(0.25)) / 1.349).max(0.1))
                    })
                    .collect()
            })
            .collect();
        let (m, scored) = NoveltyParams {
            k: 1,
            ..Default::default()
        }
        .fit_with_scores(&s.data)
        .unwrap();
        let med: Vec<f64> = (0..n)
            .map(|c| {
                weighted_median(
                    scored
                        .iter()
                        .filter(|r| r.class == c)
                        .filter_map(|r| r.scores[c].map(|v| (v, r.weight)))
                        .collect(),
                )
            })
            .collect();
        for case in &s.cases {
            let Some(sc) = m.scores(&case.row) else { continue };
            let ratio: Vec<f64> = sc.iter().zip(&med).map(|(s, m)| s.map_or(1e9, |s| s / m)).collect();
            let (c, r) = match (case.truth, case.claimed) {
                (Truth::Honest, Some(c)) if ratio[c] > 2.0 => (c, ratio[c]),
                (Truth::Unknown, _) => {
                    let c = (0..n).min_by(|&a, &b| ratio[a].total_cmp(&ratio[b])).unwrap();
                    if ratio[c] > 2.5 {
                        continue;
                    }
                    (c, ratio[c])
                }
                _ => continue,
            };
            let mut dev: Vec<(f64, usize)> = (0..w)
                .filter_map(|j| case.row[j].map(|v| ((slog(v) - stats[c][j].0) / stats[c][j].1, j)))
                .collect();
            dev.sort_by(|a, b| b.0.abs().total_cmp(&a.0.abs()));
            eprintln!(
                "seed {seed} {:?} vs {} ratio {r:.2}: {}",
                case.truth,
                s.data.classes()[c],
                dev.iter()
                    .take(4)
                    .map(|(d, j)| format!("{} {d:+.1}", names[*j]))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
}
