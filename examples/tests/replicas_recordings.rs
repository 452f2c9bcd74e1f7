//! A Deployment's replicas on real servers (`data/recordings/replicas/`):
//! three nginx and three apache instances, same server, same configuration,
//! each with its own client at the `steady` intensity (a Service splitting
//! one load evenly). Are they near twins in the `behaviour` feature space,
//! and does it matter for the open-set calibration whether the library knows
//! they are replicas of one set (kept on one side of every calibration fold:
//! [`Dataset::set_replica_set`], `cad_core::split`)?
//!
//! The rotations of `openset_recordings.rs` (train on 4 of the 5 independent
//! instances of each known class, judge the held-out fifth, impostors and the
//! services outside the class list), the six replicas added to every
//! rotation's training twice, everything else equal:
//!
//! * **sets**: named as a Deployment's pods (`web-7c5ddbdf54-x7k2q`, …; one
//!   ReplicaSet per class), so [`Dataset::infer_replica_sets`] records them as
//!   sets, as the collector does;
//! * **independent**: named as recorded (`nginx-r0`, …), no set: each replica
//!   is a calibration unit of its own, its twins in the training folds.
//!
//! Measured (session of batch 6): the replicas are near twins (a replica's
//! mean novelty against a sibling 0.04 apache, 0.07 nginx; against the
//! steady independent instance 0.06 and 0.23, the independent instances on
//! average 0.39 and 0.62). Held out as containers of their own they score
//! 0.14–0.16 in the calibration, held out as a set 0.40–0.43, and the
//! nginx and apache calibration medians drop from ~0.40 to ~0.27; the
//! honest held-out instances' own-class p-values fall (mean 0.60 → 0.49).
//! But at α = 0.01 no honest first window is flagged either way (0/20), nor
//! at 0.05: with 4 independent instances per class and 3 twins the bulk of
//! the calibration moves, not the tail that decides. About 5 s in debug.
//!
//! `cargo test -p cad-examples --test replicas_recordings -- --nocapture`

use cad_core::openset::reference::{ClassReference, Metric, inverse_spread};
use cad_core::openset::space::RobustSpace;
use cad_core::openset::{Kind, NoveltyParams, ScoredRow};
use cad_core::{Dataset, FeatureRow, FeatureSet};
use cad_examples::recordings::rotation::{KNOWN, instance_no, judge_first_windows};
use cad_examples::recordings::{self, Instance};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The false-anomaly rates the verdicts are judged at (the first: the
/// watcher's default).
const ALPHAS: [f64; 2] = [0.01, 0.05];

/// Windows of the watcher's multi-window statistic.
const CONFIRM: usize = cad_core::engine::DEFAULT_CONFIRM_WINDOWS;

/// The replicas' recordings.
fn replicas_dir() -> PathBuf {
    recordings::dir().join("replicas")
}

/// A replica's pod name as one of a Deployment's pods: `<deployment>-<pod
/// template hash>-<suffix>`, one ReplicaSet per class.
fn deployment_pod(inst: &Instance) -> String {
    let (deployment, hash) = match inst.class.as_str() {
        "nginx" => ("web", "7c5ddbdf54"),
        "apache" => ("shop", "6b8f9d4c7"),
        other => panic!("no Deployment for {other}"),
    };
    let suffix = match inst.pod.rsplit('-').next() {
        Some("r0") => "x7k2q",
        Some("r1") => "b2v4z",
        Some("r2") => "m9p6t",
        _ => panic!("not a replica: {}", inst.pod),
    };
    format!("{deployment}-{hash}-{suffix}")
}

/// How the replicas are named in training.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Naming {
    Independent,
    Sets,
}

impl Naming {
    fn label(self) -> &'static str {
        match self {
            Naming::Independent => "independent",
            Naming::Sets => "sets",
        }
    }
}

type Recorded = Vec<(Instance, Vec<FeatureRow>)>;

/// Rotation `held`'s training set: the known classes' instances but number
/// `held`, and every replica named as `naming` says. Groups are named
/// `namespace/pod/container`, as the collector names them.
fn training(main: &Recorded, replicas: &Recorded, names: &[String], held: usize, naming: Naming) -> Dataset {
    let mut data = Dataset::new(names.to_vec(), KNOWN.iter().map(|s| s.to_string()).collect());
    for (inst, rows) in main {
        if KNOWN.contains(&inst.class.as_str()) && instance_no(&inst.pod) != Some(held) {
            for r in rows {
                data.push(r, &inst.class, &format!("rec/{}/{}", inst.pod, inst.container))
                    .expect("row width");
            }
        }
    }
    for (inst, rows) in replicas {
        let pod = match naming {
            Naming::Independent => inst.pod.clone(),
            Naming::Sets => deployment_pod(inst),
        };
        for r in rows {
            data.push(r, &inst.class, &format!("rec/{pod}/{}", inst.container))
                .expect("row width");
        }
    }
    let sets = data.infer_replica_sets();
    let expected = match naming {
        Naming::Independent => 0,
        Naming::Sets => replicas.len(),
    };
    assert_eq!(sets, expected, "{naming:?}: containers recorded as replicas");
    data
}

/// One variant's verdicts at one rate over the rotations: (flagged, judged).
#[derive(Default, Debug)]
struct Verdicts {
    /// First window.
    honest: (usize, usize),
    unknown: (usize, usize),
    unknown_named: (usize, usize),
    impostor: (usize, usize),
    /// Honest instances, the watcher's statistic of its first [`CONFIRM`] windows.
    honest_k: (usize, usize),
    /// Honest instances: every row judged alone.
    honest_rows: (usize, usize),
    /// The honest instances with rows flagged: how many.
    honest_rows_by_pod: BTreeMap<String, usize>,
}

/// What one variant's verdicts and calibration came to over the rotations.
#[derive(Default, Debug)]
struct Tally {
    /// Per rate of [`ALPHAS`].
    verdicts: Vec<Verdicts>,
    /// Per honest held-out instance: its own class's p-value (first window).
    honest_p: BTreeMap<String, f64>,
    /// Per class, per rotation: the combined score's class scale (the 95th
    /// percentile of held-out own-class novelty scores), the weighted median,
    /// and the mean held-out own-class novelty of the replicas' rows and of
    /// the independent instances' rows.
    calibration: BTreeMap<&'static str, Vec<ClassCalibrationSummary>>,
    /// Fold units per class (independent containers the calibration sees).
    units: Vec<Vec<usize>>,
    /// Per rotation, per calibration fold: the nginx and the apache
    /// containers it holds out.
    held_out: Vec<Vec<[usize; 2]>>,
}

#[derive(Clone, Copy, Debug, Default)]
struct ClassCalibrationSummary {
    scale: f64,
    median: f64,
    replicas: Option<f64>,
    others: f64,
}

/// The weighted `q`-quantile of `(value, weight)` points, as the library
/// takes the class scale of the combined score.
fn weighted_quantile(mut v: Vec<(f64, f64)>, q: f64) -> f64 {
    v.retain(|p| p.0.is_finite() && p.1 > 0.0);
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = v.iter().map(|p| p.1).sum();
    let mut acc = 0.0;
    for (s, w) in &v {
        acc += w;
        if acc >= total * q {
            return *s;
        }
    }
    v.last().map_or(f64::NAN, |p| p.0)
}

/// Weighted mean of `(value, weight)` points (`None` when empty).
fn weighted_mean(v: &[(f64, f64)]) -> Option<f64> {
    let w: f64 = v.iter().map(|p| p.1).sum();
    (w > 0.0).then(|| v.iter().map(|p| p.0 * p.1).sum::<f64>() / w)
}

fn summarise(
    data: &Dataset,
    scored: &[ScoredRow],
    replicas: &[String],
) -> BTreeMap<&'static str, ClassCalibrationSummary> {
    let mut out = BTreeMap::new();
    for (c, class) in KNOWN.iter().enumerate() {
        let own: Vec<(f64, f64, bool)> = scored
            .iter()
            .filter(|s| s.class == c)
            .filter_map(|s| {
                let pod = data.group_names()[s.group].split('/').nth(1).unwrap_or("");
                let replica = replicas.iter().any(|r| r == pod);
                s.scores[c].map(|v| (v, s.weight, replica))
            })
            .collect();
        let points =
            |replica: bool| -> Vec<(f64, f64)> { own.iter().filter(|p| p.2 == replica).map(|p| (p.0, p.1)).collect() };
        let all: Vec<(f64, f64)> = own.iter().map(|p| (p.0, p.1)).collect();
        out.insert(
            *class,
            ClassCalibrationSummary {
                scale: weighted_quantile(all.clone(), cad_core::openset::CLASS_SCALE_QUANTILE),
                median: weighted_quantile(all, 0.5),
                replicas: weighted_mean(&points(true)),
                others: weighted_mean(&points(false)).unwrap_or(f64::NAN),
            },
        );
    }
    out
}

fn rotations(main: &Recorded) -> usize {
    main.iter()
        .filter(|(i, _)| KNOWN.contains(&i.class.as_str()))
        .filter_map(|(i, _)| instance_no(&i.pod))
        .max()
        .map_or(0, |n| n + 1)
}

fn add(t: &mut (usize, usize), flagged: bool) {
    t.0 += usize::from(flagged);
    t.1 += 1;
}

fn tally(main: &Recorded, replicas: &Recorded, set: &FeatureSet, naming: Naming) -> Tally {
    let names = set.column_names();
    let window = set.window.max(1);
    let replica_pods: Vec<String> = replicas
        .iter()
        .map(|(i, _)| match naming {
            Naming::Independent => i.pod.clone(),
            Naming::Sets => deployment_pod(i),
        })
        .collect();
    let mut t = Tally {
        verdicts: ALPHAS.iter().map(|_| Verdicts::default()).collect(),
        ..Tally::default()
    };
    for held in 0..rotations(main) {
        let data = training(main, replicas, &names, held, naming);
        t.units.push(cad_core::split::fold_units_per_class(&data));
        let params = NoveltyParams {
            window_gap: window,
            ..NoveltyParams::default()
        };
        // The calibration's folds, dealt as the fit deals them.
        let folds =
            cad_core::split::grouped_k_fold(&data, params.folds.min(cad_core::split::fold_units(&data)), params.seed)
                .expect("folds");
        t.held_out.push(
            folds
                .iter()
                .map(|(_, test)| {
                    let mut groups: Vec<(usize, usize)> =
                        test.iter().map(|&r| (data.group(r), data.label(r))).collect();
                    groups.sort_unstable();
                    groups.dedup_by_key(|g| g.0);
                    let count = |c: usize| groups.iter().filter(|g| g.1 == c).count();
                    [count(0), count(1)]
                })
                .collect(),
        );
        let (model, scored) = params.fit_with_scores(&data).expect("fit");
        for (class, s) in summarise(&data, &scored, &replica_pods) {
            t.calibration.entry(class).or_default().push(s);
        }
        for (inst, rows) in main {
            if rows.is_empty() {
                continue;
            }
            let known = KNOWN.iter().position(|k| *k == inst.class);
            if let Some(c) = known.filter(|_| instance_no(&inst.pod) == Some(held)) {
                let p = model.p_values(&rows[0]).map_or(f64::NAN, |p| p[c]);
                t.honest_p.insert(inst.pod.clone(), p);
            }
            for (v, &alpha) in t.verdicts.iter_mut().zip(&ALPHAS) {
                match known {
                    Some(c) if instance_no(&inst.pod) == Some(held) => {
                        add(&mut v.honest, model.judge(&rows[0], Some(c), alpha).kind.is_anomaly());
                        add(
                            &mut v.honest_k,
                            judge_first_windows(&model, rows, window, Some(c), alpha).is_anomaly(),
                        );
                        for r in rows {
                            let flagged = model.judge(r, Some(c), alpha).kind.is_anomaly();
                            add(&mut v.honest_rows, flagged);
                            if flagged {
                                *v.honest_rows_by_pod.entry(inst.pod.clone()).or_default() += 1;
                            }
                        }
                        for other in (0..KNOWN.len()).filter(|&o| o != c) {
                            add(
                                &mut v.impostor,
                                model.judge(&rows[0], Some(other), alpha).kind.is_anomaly(),
                            );
                        }
                    }
                    Some(_) => {}
                    None => {
                        add(&mut v.unknown, model.judge(&rows[0], None, alpha).kind == Kind::Unknown);
                        for c in 0..KNOWN.len() {
                            add(
                                &mut v.unknown_named,
                                model.judge(&rows[0], Some(c), alpha).kind.is_anomaly(),
                            );
                        }
                    }
                }
            }
        }
    }
    t
}

fn share(v: (usize, usize)) -> String {
    format!("{}/{}", v.0, v.1)
}

/// The mean over `rows` of each row's novelty against `reference` (its
/// nearest row of the one container there; the library's distance: RMS of
/// per-feature differences in units of the class's spread, clipped).
fn mean_novelty(rows: &[Vec<f64>], reference: &ClassReference) -> f64 {
    let mut buf = Vec::new();
    let s: Vec<f64> = rows
        .iter()
        .filter_map(|z| reference.score(z, 1, 3, Metric::Rms, &mut buf))
        .collect();
    s.iter().sum::<f64>() / s.len().max(1) as f64
}

/// The twin measure, per class: for each replica, its mean novelty against
/// each sibling replica and against each independent instance of its class
/// (in the space of all known classes' rows, the class's own spread).
/// Returns per class (replica, mean over siblings, the steady independent
/// instance's, mean over the independent instances, the nearest independent
/// instance's) and the independent instances' mean against each other.
type TwinRow = (String, f64, f64, f64, f64);

fn twins(main: &Recorded, replicas: &Recorded, names: &[String]) -> BTreeMap<String, (Vec<TwinRow>, f64)> {
    let known = |i: &Instance| KNOWN.contains(&i.class.as_str());
    let mut data = Dataset::new(names.to_vec(), KNOWN.iter().map(|s| s.to_string()).collect());
    for (inst, rows) in main.iter().chain(replicas).filter(|(i, _)| known(i)) {
        for r in rows {
            data.push(r, &inst.class, &inst.pod).expect("row width");
        }
    }
    let all: Vec<usize> = (0..data.n_rows()).collect();
    let space = RobustSpace::fit(&data, &all);
    let z = |rows: &[FeatureRow]| -> Vec<Vec<f64>> {
        rows.iter()
            .map(|r| {
                let mut out = Vec::new();
                space.transform_into(r, &mut out);
                out
            })
            .collect()
    };
    let mut out = BTreeMap::new();
    for class in ["nginx", "apache"] {
        let indep: Vec<(&Instance, Vec<Vec<f64>>)> = main
            .iter()
            .filter(|(i, r)| i.class == class && !r.is_empty())
            .map(|(i, r)| (i, z(r)))
            .collect();
        let reps: Vec<(&Instance, Vec<Vec<f64>>)> = replicas
            .iter()
            .filter(|(i, _)| i.class == class)
            .map(|(i, r)| (i, z(r)))
            .collect();
        let class_rows: Vec<Vec<f64>> = indep.iter().chain(&reps).flat_map(|(_, r)| r.clone()).collect();
        let inv = inverse_spread(&class_rows, names.len());
        let reference = |rows: &Vec<Vec<f64>>| ClassReference::new(std::slice::from_ref(rows), inv.clone());
        let mut lines = Vec::new();
        for (i, (inst, rows)) in reps.iter().enumerate() {
            let siblings: Vec<f64> = reps
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (_, s))| mean_novelty(rows, &reference(s)))
                .collect();
            let to_indep: Vec<(&str, f64)> = indep
                .iter()
                .map(|(o, r)| (o.shape.as_str(), mean_novelty(rows, &reference(r))))
                .collect();
            let steady = to_indep.iter().find(|p| p.0 == "steady").map_or(f64::NAN, |p| p.1);
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
            let d: Vec<f64> = to_indep.iter().map(|p| p.1).collect();
            lines.push((
                inst.pod.clone(),
                mean(&siblings),
                steady,
                mean(&d),
                d.iter().copied().fold(f64::INFINITY, f64::min),
            ));
        }
        let mut pairs = Vec::new();
        for (a, (_, ra)) in indep.iter().enumerate() {
            for (b, (_, rb)) in indep.iter().enumerate() {
                if a != b {
                    pairs.push(mean_novelty(ra, &reference(rb)));
                }
            }
        }
        let indep_mean = pairs.iter().sum::<f64>() / pairs.len().max(1) as f64;
        out.insert(class.to_owned(), (lines, indep_mean));
    }
    out
}

#[tokio::test]
async fn replicas_of_a_deployment_on_real_servers() {
    let set = FeatureSet::behaviour();
    let names = set.column_names();
    let main = recordings::rows(&recordings::dir(), &set).await.expect("recordings");
    let replicas = recordings::rows(&replicas_dir(), &set).await.expect("replicas");
    assert_eq!(replicas.len(), 6, "replicas recorded");
    for (inst, rows) in &replicas {
        assert_eq!(inst.failed, "", "{} failed while recording", inst.pod);
        assert_eq!(inst.shape, "steady", "{}", inst.pod);
        assert!(!rows.is_empty(), "{} has rows", inst.pod);
        assert!(
            instance_no(&inst.pod).is_none(),
            "{}: no rotation holds a replica out",
            inst.pod
        );
    }

    // The twin measure.
    let twins = twins(&main, &replicas, &names);
    println!(
        "twin measure (behaviour set): a replica's mean novelty (RMS of clipped per-feature differences, class \
         spreads, nearest row) against its sibling replicas, the steady independent instance, the independent \
         instances (mean, nearest)"
    );
    for (class, (lines, indep_mean)) in &twins {
        for (pod, sib, steady, mean, min) in lines {
            println!(
                "  {pod:<10} siblings {sib:.3}  steady independent {steady:.3}  independent mean {mean:.3}  \
                 nearest independent {min:.3}"
            );
        }
        let m = |f: fn(&TwinRow) -> f64| lines.iter().map(f).sum::<f64>() / lines.len() as f64;
        println!(
            "  {class:<10} mean: siblings {:.3}  steady independent {:.3}  independent {:.3}  (independent \
             instances against each other: {indep_mean:.3})",
            m(|l| l.1),
            m(|l| l.2),
            m(|l| l.3)
        );
    }

    // The two trainings.
    let indep = tally(&main, &replicas, &set, Naming::Independent);
    let sets = tally(&main, &replicas, &set, Naming::Sets);
    println!(
        "\nopen set, 5 rotations, 6 replicas added to training: first window honest flagged, unknown services judged \
         unknown, unknowns named like a class flagged, impostors flagged; honest: {CONFIRM}-window statistic, every \
         row (the instances with rows flagged)"
    );
    for (a, alpha) in ALPHAS.iter().enumerate() {
        for (naming, t) in [(Naming::Independent, &indep), (Naming::Sets, &sets)] {
            let v = &t.verdicts[a];
            println!(
                "  α = {alpha:<4} {:<12} honest {:>5}  unknown {:>5}  unk.named {:>7}  impostor {:>5}  \
                 honest⁎{CONFIRM} {:>5}  honest rows {:>7} {:?}  fold units per class {:?}",
                naming.label(),
                share(v.honest),
                share(v.unknown),
                share(v.unknown_named),
                share(v.impostor),
                share(v.honest_k),
                share(v.honest_rows),
                v.honest_rows_by_pod,
                t.units[0]
            );
        }
    }
    println!(
        "calibration per class, mean over rotations [min–max]: scale (95th pct of held-out own-class novelty), median; mean held-out novelty of replicas' rows / of independent instances' rows"
    );
    for class in KNOWN {
        for (naming, t) in [(Naming::Independent, &indep), (Naming::Sets, &sets)] {
            let naming = naming.label();
            let v = &t.calibration[class];
            let mean = |f: fn(&ClassCalibrationSummary) -> f64| v.iter().map(f).sum::<f64>() / v.len() as f64;
            let lo = v.iter().map(|s| s.scale).fold(f64::INFINITY, f64::min);
            let hi = v.iter().map(|s| s.scale).fold(f64::NEG_INFINITY, f64::max);
            let reps = if v[0].replicas.is_some() {
                format!("{:.3}", mean(|s| s.replicas.unwrap_or(f64::NAN)))
            } else {
                "-".to_owned()
            };
            println!(
                "  {class:<10} {naming:<12} scale {:.3} [{lo:.3}–{hi:.3}]  median {:.3}  replicas {reps:>5} / \
                 independent {:.3}",
                mean(|s| s.scale),
                mean(|s| s.median),
                mean(|s| s.others)
            );
        }
    }
    for class in ["nginx", "apache"] {
        let per = |t: &Tally| -> Vec<String> {
            t.calibration[class]
                .iter()
                .map(|s| format!("{:.3}/{:.3}", s.scale, s.median))
                .collect()
        };
        println!(
            "  {class:<10} scale/median per rotation 0..4: independent {:?}  sets {:?}",
            per(&indep),
            per(&sets)
        );
    }
    println!(
        "  nginx and apache containers held out per calibration fold, rotation 0: independent {:?}  sets {:?}",
        indep.held_out[0], sets.held_out[0]
    );
    println!("honest held-out instances, own class's p-value (first window): independent / sets");
    for (pod, p) in &indep.honest_p {
        println!("  {pod:<13} {p:.3} / {:.3}", sets.honest_p[pod]);
    }
    let mean_p = |t: &Tally| t.honest_p.values().sum::<f64>() / t.honest_p.len() as f64;
    let replicated = |t: &Tally| {
        let v: Vec<f64> = t
            .honest_p
            .iter()
            .filter(|(p, _)| p.starts_with("nginx") || p.starts_with("apache"))
            .map(|(_, v)| *v)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    println!(
        "  mean p: independent {:.3}, sets {:.3}; nginx and apache only: independent {:.3}, sets {:.3}",
        mean_p(&indep),
        mean_p(&sets),
        replicated(&indep),
        replicated(&sets)
    );

    // What the data robustly show.
    for t in [&indep, &sets] {
        for v in &t.verdicts {
            assert_eq!((v.honest.1, v.unknown.1, v.impostor.1), (20, 70, 60));
        }
    }
    // The library sees the sets: nginx and apache each one unit fewer than
    // containers (4 independent + 1 set instead of 4 + 3).
    for units in &sets.units {
        assert_eq!(units, &[5, 5, 4, 4], "fold units per class, sets");
    }
    for units in &indep.units {
        assert_eq!(units, &[7, 7, 4, 4], "fold units per class, independent");
    }
    // Replicas are near twins: closer to each sibling than to any
    // independent instance of their class, the steady one included
    // (measured: 0.04 against 0.06 for apache, 0.07 against 0.23 for nginx),
    // and many times closer than to the independent instances on average
    // (0.04 against 0.39, 0.07 against 0.62).
    for (class, (lines, _)) in &twins {
        for (pod, sib, _, mean, nearest) in lines {
            assert!(
                sib < nearest,
                "{class} {pod}: siblings {sib:.3}, nearest independent {nearest:.3}"
            );
            assert!(
                *sib < 0.5 * mean,
                "{class} {pod}: siblings {sib:.3}, independent {mean:.3}"
            );
        }
    }
    // The twin effect on the calibration: held out as containers of their
    // own, the replicas score against their siblings in the training folds,
    // far lower than held out together (measured 0.16 against 0.40 for
    // nginx, 0.14 against 0.43 for apache), and so lower their class's
    // median calibration score; the honest held-out instances of those
    // classes get lower p-values (mean 0.49 against 0.61).
    for class in ["nginx", "apache"] {
        let mean = |t: &Tally, f: fn(&ClassCalibrationSummary) -> f64| {
            let v = &t.calibration[class];
            v.iter().map(f).sum::<f64>() / v.len() as f64
        };
        let replicas = |s: &ClassCalibrationSummary| s.replicas.unwrap_or(f64::NAN);
        let (i, s) = (mean(&indep, replicas), mean(&sets, replicas));
        assert!(
            i < 0.6 * s,
            "{class}: replicas' held-out novelty, independent {i:.3}, sets {s:.3}"
        );
        let (i, s) = (mean(&indep, |s| s.median), mean(&sets, |s| s.median));
        assert!(i < s, "{class}: calibration median, independent {i:.3}, sets {s:.3}");
    }
    assert!(
        replicated(&indep) < replicated(&sets),
        "nginx and apache honest p: independent {:.3}, sets {:.3}",
        replicated(&indep),
        replicated(&sets)
    );
    // Knowing the sets does not flag more honest new pods (first window;
    // measured 0 of 20 either way, at α = 0.01 and 0.05). Their rows are
    // printed, not held to anything: the class scale (the 95th percentile)
    // moves with how the calibration folds are dealt, 7 nginx units or 5.
    assert!(
        sets.verdicts[0].honest.0 <= 1,
        "sets, honest flagged: {:?}",
        sets.verdicts[0].honest
    );
    for (a, alpha) in ALPHAS.iter().enumerate() {
        let (s, i) = (&sets.verdicts[a], &indep.verdicts[a]);
        assert!(
            s.honest.0 <= i.honest.0,
            "α = {alpha}: honest flagged: sets {:?}, independent {:?}",
            s.honest,
            i.honest
        );
    }
}
