//! The open-set evaluation: leave one class out.
//!
//! For each class X: the model is fitted and calibrated without X, then
//! judges X's containers (they should be *unknown*: no known class fits) and
//! the held-out containers of the other classes (grouped k-fold over them:
//! they should *not* be unknown, and, claiming their own class, not
//! flagged; claiming another known class, flagged as impostors). Every
//! container weighs 1 (its judged rows share that weight), every rate is a
//! share of containers. Rows are judged at every age the data has.
//!
//! The trade-off between the false-anomaly rate α and the recall of
//! unknowns and impostors is computed from the same p-values at several α,
//! without fitting again.

use super::{NoveltyParams, OpenSetError, UnknownTest, evenly, judge_with};
use crate::dataset::Dataset;
use crate::split;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The α values of the trade-off curve.
pub const TRADEOFF_ALPHAS: [f64; 10] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5];

/// A class with fewer containers than this gets a warning.
pub const MIN_CONTAINERS: usize = 3;

/// How to run the open-set evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenSetConfig {
    /// The novelty model's parameters (its own calibration folds included).
    pub params: NoveltyParams,
    /// Folds over the known classes' containers (capped at the containers).
    pub folds: usize,
    /// Seed of those folds.
    pub seed: u64,
    /// The false-anomaly rate the figures are given at.
    pub alpha: f64,
    /// The rate containers are judged at without a claim (the left-out
    /// class's, and the known ones' for the false unknown rate), as the
    /// watcher's [`unclaimed_false_unknown_rate`](crate::engine::watcher::WatcherConfig::unclaimed_false_unknown_rate).
    pub unclaimed_alpha: f64,
    /// Rows judged per container (evenly spaced over its rows).
    pub rows_per_container: usize,
    /// Consecutive windows judged together, as the watcher's
    /// `--confirm-windows` does with a multi-window calibration: each judged
    /// row is the first of that many windows `params.window_gap` rows apart
    /// in time (rows without ages: in the data set's order, or a
    /// pseudo-random one if that is the canonical order). 1: each row alone.
    pub windows: usize,
    /// With `windows` > 1: a container whose first window is normal counts
    /// as normal (the watcher's `--normal-at-once`), else only the windows'
    /// statistic decides.
    pub normal_at_once: bool,
}

impl Default for OpenSetConfig {
    fn default() -> Self {
        OpenSetConfig {
            params: NoveltyParams::default(),
            folds: 5,
            seed: 42,
            alpha: super::DEFAULT_FALSE_ANOMALY_RATE,
            unclaimed_alpha: super::DEFAULT_UNCLAIMED_FALSE_UNKNOWN_RATE,
            rows_per_container: 32,
            windows: 1,
            normal_at_once: false,
        }
    }
}

/// The figures of one class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassFigures {
    /// The class.
    pub class: String,
    /// Its containers.
    pub containers: usize,
    /// Left out of the model: the share of its containers judged unknown.
    pub unknown_recall: Option<f64>,
    /// Known to the model, held out: the share of its containers judged
    /// unknown (false alarms of the "no known class" kind).
    pub false_unknown_rate: Option<f64>,
    /// Known, held out, claiming its own class: the share flagged (unknown
    /// or impostor) — the false-anomaly rate actually seen.
    pub honest_flag_rate: Option<f64>,
    /// Known, held out, claiming each other known class in turn: the share
    /// flagged.
    pub impostor_recall: Option<f64>,
}

/// The four rates at one α.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// The false-anomaly rate α.
    pub alpha: f64,
    /// The rate containers without a claim are judged at (the unknown
    /// recall and the false unknown rate); α in the trade-off.
    #[serde(default)]
    pub unclaimed_alpha: f64,
    /// Unknown services judged unknown.
    pub unknown_recall: Option<f64>,
    /// Known held-out containers judged unknown.
    pub false_unknown_rate: Option<f64>,
    /// Honest held-out containers flagged.
    pub honest_flag_rate: Option<f64>,
    /// Impostors (a held-out container claiming another known class) flagged.
    pub impostor_recall: Option<f64>,
}

/// The result of [`open_set`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenSetReport {
    /// The rates at the configured α (overall: every container weighs 1).
    pub overall: Rates,
    /// Per class, at the configured α.
    pub per_class: Vec<ClassFigures>,
    /// The rates at each α of [`TRADEOFF_ALPHAS`].
    pub tradeoff: Vec<Rates>,
    /// Rows that could not be judged (too few usable features), all rounds.
    pub undecided_rows: usize,
    /// Rows judged, all rounds.
    pub judged_rows: usize,
    /// Containers in the data.
    pub containers: usize,
    /// What the figures cannot be trusted for.
    pub warnings: Vec<String>,
}

/// One judged row: p-values over the round's classes.
struct Judged {
    /// Class (index in the full data set).
    class: usize,
    /// Weight: 1 / (rows judged of its container in this round · rounds it is judged in).
    weight: f64,
    /// Left out (an unknown service) or known.
    unknown: bool,
    /// The p-values over the round's classes; `None` when undecided.
    p: Option<Vec<f64>>,
    /// With several windows and normal verdicts reported at once: the first
    /// window's p-values alone (an anomaly needs both to say so).
    first: Option<Option<Vec<f64>>>,
    /// Its own class's index among the round's classes (known rows only).
    own: Option<usize>,
    /// The novelty test's p-values ([`UnknownTest`]) of `p`'s windows and
    /// of the first window, and the test (`Combined`: none).
    novelty: NoveltyP,
}

/// The novelty test's p-values ([`UnknownTest`]) of a run's windows and of
/// its first window, and the test.
type NoveltyP = (Option<Vec<f64>>, Option<Vec<f64>>, UnknownTest);

/// `data` without the rows of class `x`, its class list without `x`.
fn without_class(data: &Dataset, x: usize) -> Dataset {
    let classes: Vec<String> = data
        .classes()
        .iter()
        .enumerate()
        .filter(|&(c, _)| c != x)
        .map(|(_, n)| n.clone())
        .collect();
    let mut out = Dataset::new(data.feature_names().to_vec(), classes);
    for i in (0..data.n_rows()).filter(|&i| data.label(i) != x) {
        let c = data.label(i) - usize::from(data.label(i) > x);
        let g = out.group_index(&data.group_names()[data.group(i)]);
        // The width and the indices come from `data` itself.
        let _ = out.push_indexed(&data.row(i), c, g);
        if let Some(set) = data.replica_set(data.group(i)).filter(|_| out.replica_set(g).is_none()) {
            let _ = out.set_replica_set(g, set);
        }
    }
    out
}

/// Runs the leave-one-class-out evaluation (see the module docs).
pub fn open_set(data: &Dataset, config: &OpenSetConfig) -> Result<OpenSetReport, OpenSetError> {
    let groups = split::groups_with_rows(data);
    let n_classes = data.classes().len();
    let mut per_class_groups = vec![Vec::new(); n_classes];
    for g in &groups {
        per_class_groups[g.class].push(g);
    }
    let mut judged: Vec<Judged> = Vec::new();
    let mut warnings = Vec::new();
    let canonical = data.is_canonical();
    for (x, left_out) in per_class_groups.iter().enumerate() {
        if left_out.is_empty() {
            continue;
        }
        let known = without_class(data, x);
        let known_groups = split::groups_with_rows(&known);
        let known_classes = known_groups
            .iter()
            .map(|g| g.class)
            .collect::<std::collections::BTreeSet<_>>();
        if known_groups.len() < 3 || known_classes.len() < 2 {
            warnings.push(format!(
                "without {}: {} container(s) of {} class(es) left, too few to fit, calibrate and test; skipped",
                data.classes()[x],
                known_groups.len(),
                known_classes.len()
            ));
            continue;
        }
        let folds = split::grouped_k_fold(&known, config.folds.min(split::fold_units(&known)), config.seed)
            .map_err(OpenSetError::Split)?;
        let rounds = folds.len() as f64;
        for (train, test) in &folds {
            let model = config.params.fit(&known.select(train))?;
            // The p-values of the run of windows starting at the `i`-th of
            // `order` (a container's rows in time order), and with normal
            // verdicts at once, the first window's alone.
            let windows = config.windows.max(1);
            let gap = config.params.window_gap.max(1);
            // The windows' p-values, the first window's (with normal
            // verdicts at once), and the novelty test's.
            type Run = (Option<Vec<f64>>, Option<Option<Vec<f64>>>, NoveltyP);
            let judge_run = |d: &Dataset, order: &[usize], i: usize| -> Run {
                // The first window's row is scored once, for all three.
                let first_scores = model.row_scores(&d.row(order[i]));
                let (first, first_novelty) = model.p_values_and_novelty(&first_scores);
                let test = model.unknown_test();
                if windows == 1 || !model.judges_windows(windows) {
                    return (first, None, (first_novelty.clone(), first_novelty, test));
                }
                let later = (1..windows)
                    .filter_map(|j| order.get(i + j * gap))
                    .filter_map(|&r| model.window_scores(&d.row(r)));
                let scores: Vec<Vec<Option<f64>>> = model
                    .window_scores_of_row(&first_scores)
                    .into_iter()
                    .chain(later)
                    .collect();
                let p = model.p_values_of_windows(&scores).or_else(|| first.clone());
                let novelty = model
                    .novelty_p_values_of_windows(&scores)
                    .or_else(|| first_novelty.clone());
                (
                    p,
                    config.normal_at_once.then_some(first),
                    (novelty, first_novelty, test),
                )
            };
            // The left-out class's containers: every round judges them.
            for g in left_out {
                // One window: the rows in the data set's order, as before.
                let order = if windows == 1 {
                    g.rows.clone()
                } else {
                    super::time_order(data, &g.rows, config.seed ^ g.group as u64, canonical)
                };
                let starts: Vec<usize> = evenly(runs(order.len(), windows, gap), config.rows_per_container).collect();
                let w = 1.0 / (starts.len() as f64 * rounds);
                for &i in &starts {
                    let (p, first, novelty) = judge_run(data, &order, i);
                    judged.push(Judged {
                        class: x,
                        weight: w,
                        unknown: true,
                        p,
                        first,
                        own: None,
                        novelty,
                    });
                }
            }
            // The known classes' held-out containers, of the classes the
            // round's model learned (a class whose only container is held
            // out is not known to it: judging it says nothing).
            let mut test_groups: Vec<usize> = test.iter().map(|&r| known.group(r)).collect();
            test_groups.dedup();
            let mut learned = vec![false; known.classes().len()];
            for &r in train {
                learned[known.label(r)] = true;
            }
            for kg in known_groups
                .iter()
                .filter(|kg| test_groups.contains(&kg.group) && learned[kg.class])
            {
                // One window: the rows in the data set's order, as before.
                let order = if windows == 1 {
                    kg.rows.clone()
                } else {
                    super::time_order(&known, &kg.rows, config.seed ^ kg.group as u64, canonical)
                };
                let starts: Vec<usize> = evenly(runs(order.len(), windows, gap), config.rows_per_container).collect();
                // Each known container is held out once per left-out class.
                let w = 1.0 / starts.len() as f64;
                let class = kg.class + usize::from(kg.class >= x);
                for &i in &starts {
                    let (p, first, novelty) = judge_run(&known, &order, i);
                    judged.push(Judged {
                        class,
                        weight: w,
                        unknown: false,
                        p,
                        first,
                        own: Some(kg.class),
                        novelty,
                    });
                }
            }
        }
    }
    let undecided_rows = judged.iter().filter(|j| j.p.is_none()).count();
    let rates_at = |alpha: f64, unclaimed: f64, class: Option<usize>| rates(&judged, alpha, unclaimed, class);
    let per_class = (0..n_classes)
        .map(|c| {
            let r = rates_at(config.alpha, config.unclaimed_alpha, Some(c));
            ClassFigures {
                class: data.classes()[c].clone(),
                containers: per_class_groups[c].len(),
                unknown_recall: r.unknown_recall,
                false_unknown_rate: r.false_unknown_rate,
                honest_flag_rate: r.honest_flag_rate,
                impostor_recall: r.impostor_recall,
            }
        })
        .collect::<Vec<_>>();
    for f in &per_class {
        if f.containers > 0 && f.containers < MIN_CONTAINERS {
            warnings.push(format!(
                "class {} has only {} container(s): its unknown recall is that of {} container(s){}; its figures \
                 say nothing general",
                f.class,
                f.containers,
                f.containers,
                if f.containers == 1 {
                    ", and it is never judged as a known class (holding its container out leaves nothing to learn it from)"
                } else {
                    ", and as a known class it is learned from 1 container"
                }
            ));
        }
    }
    Ok(OpenSetReport {
        overall: rates_at(config.alpha, config.unclaimed_alpha, None),
        per_class,
        tradeoff: TRADEOFF_ALPHAS.iter().map(|&a| rates_at(a, a, None)).collect(),
        undecided_rows,
        judged_rows: judged.len(),
        containers: groups.len(),
        warnings,
    })
}

/// The number of runs of `windows` windows `gap` rows apart that start in
/// `n` rows (at least 1 when there is a row: a short container is judged
/// on the windows it has).
fn runs(n: usize, windows: usize, gap: usize) -> usize {
    n.saturating_sub((windows.max(1) - 1) * gap).max(n.min(1))
}

/// The weighted rates at `alpha` (claims) and `unclaimed` (no claim), over
/// all classes or one.
fn rates(judged: &[Judged], alpha: f64, unclaimed: f64, class: Option<usize>) -> Rates {
    #[derive(Default)]
    struct Share(f64, f64);
    impl Share {
        fn add(&mut self, w: f64, hit: bool) {
            self.0 += w * f64::from(u8::from(hit));
            self.1 += w;
        }
        fn get(&self) -> Option<f64> {
            (self.1 > 0.0).then(|| self.0 / self.1)
        }
    }
    let (mut unknown, mut false_unknown, mut honest, mut impostor) =
        (Share::default(), Share::default(), Share::default(), Share::default());
    for j in judged.iter().filter(|j| class.is_none_or(|c| j.class == c)) {
        let p = j.p.as_deref();
        // The kind of the run claiming `claimed`: with normal verdicts at
        // once, the first window's normal verdict stands.
        let (novelty, first_novelty, test) = &j.novelty;
        let kind = |claimed: Option<usize>| {
            let alpha = super::decision::rate(claimed.is_some(), alpha, unclaimed);
            let k = judge_with(p, novelty.as_deref(), *test, claimed, alpha).kind;
            match &j.first {
                Some(first) => {
                    let f = judge_with(first.as_deref(), first_novelty.as_deref(), *test, claimed, alpha).kind;
                    if f.is_anomaly() { k } else { f }
                }
                _ => k,
            }
        };
        if j.unknown {
            unknown.add(j.weight, kind(None) == super::Kind::Unknown);
            continue;
        }
        false_unknown.add(j.weight, kind(None) == super::Kind::Unknown);
        honest.add(j.weight, kind(j.own).is_anomaly());
        if let Some(pv) = p {
            let others = pv.len().saturating_sub(1) as f64;
            for b in (0..pv.len()).filter(|&b| Some(b) != j.own) {
                impostor.add(j.weight / others, kind(Some(b)).is_anomaly());
            }
        }
    }
    Rates {
        alpha,
        unclaimed_alpha: unclaimed,
        unknown_recall: unknown.get(),
        false_unknown_rate: false_unknown.get(),
        honest_flag_rate: honest.get(),
        impostor_recall: impostor.get(),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{:.1} %", v * 100.0))
}

impl fmt::Display for OpenSetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.overall;
        writeln!(
            f,
            "=== Open-set evaluation: leave one class out, false-anomaly rate α = {}, without a claim {} ===",
            o.alpha, o.unclaimed_alpha
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "Data:      {} containers; {} rows judged ({} undecided: too few usable features)",
            self.containers, self.judged_rows, self.undecided_rows
        )?;
        writeln!(
            f,
            "Unknown services judged unknown:      {} (claiming no class)",
            pct(o.unknown_recall)
        )?;
        writeln!(
            f,
            "Known containers judged unknown:      {} (claiming no class)",
            pct(o.false_unknown_rate)
        )?;
        writeln!(f, "Honest containers flagged:            {}", pct(o.honest_flag_rate))?;
        writeln!(f, "Impostors (claiming another) flagged: {}", pct(o.impostor_recall))?;
        writeln!(f)?;
        let w = self
            .per_class
            .iter()
            .map(|c| c.class.len())
            .chain([5])
            .max()
            .unwrap_or(5);
        writeln!(
            f,
            "{:<w$}  {:>10}  {:>14}  {:>13}  {:>13}  {:>15}",
            "class", "containers", "unknown recall", "false unknown", "honest flagged", "impostors flagged"
        )?;
        for c in &self.per_class {
            writeln!(
                f,
                "{:<w$}  {:>10}  {:>14}  {:>13}  {:>13}  {:>15}",
                c.class,
                c.containers,
                pct(c.unknown_recall),
                pct(c.false_unknown_rate),
                pct(c.honest_flag_rate),
                pct(c.impostor_recall)
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "Trade-off (α, with and without a claim: unknown recall / impostors flagged / honest flagged):"
        )?;
        for r in &self.tradeoff {
            writeln!(
                f,
                "  {:>6}: {:>8} / {:>8} / {:>8}",
                r.alpha,
                pct(r.unknown_recall),
                pct(r.impostor_recall),
                pct(r.honest_flag_rate)
            )?;
        }
        if !self.warnings.is_empty() {
            writeln!(f)?;
            writeln!(f, "What these figures cannot say:")?;
            for w in &self.warnings {
                writeln!(f, "  - {w}")?;
            }
        }
        Ok(())
    }
}
