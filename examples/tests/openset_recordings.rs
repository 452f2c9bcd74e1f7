//! Open-set verdicts on recordings of real servers (`data/recordings/`): the
//! model learns 4 of the 5 instances of each known class (nginx, apache,
//! mysql, postgresql), then judges the held-out fifth instance of each
//! (honest, and claiming each other known class: impostors) and every
//! instance of a service outside the class list (redis and memcached, 4
//! each; Tomcat and RabbitMQ, 3 each since batch 5: 14 in all). Five
//! rotations (instance `-k` of every class held out in rotation k, so each
//! instance is held out once). Prints every method's figures; the test holds
//! the chosen method to them, and the default method's verdicts per service
//! outside the class list. A second test measures the rate for containers
//! claiming no class (α_u): unknowns found against honest containers judged
//! unknown.
//!
//! `cargo test -p cad-examples --test openset_recordings -- --nocapture`

use cad_core::openset::conformal::Tail;
use cad_core::openset::reference::Metric;
use cad_core::openset::{
    DEFAULT_UNCLAIMED_FALSE_UNKNOWN_RATE, Judgement, Kind, NoveltyParams, OpenSetModel, Score, UnknownTest, judge,
};
use cad_core::{Classifier, Dataset, FeatureRow, FeatureSet};
use cad_examples::recordings;
use cad_examples::recordings::rotation::{KNOWN, instance_no};

/// Rotations: one per instance number of the known classes (0..=highest).
fn rotations(all: &[(recordings::Instance, Vec<FeatureRow>)]) -> usize {
    all.iter()
        .filter(|(i, _)| KNOWN.contains(&i.class.as_str()))
        .filter_map(|(i, _)| instance_no(&i.pod))
        .max()
        .map_or(0, |n| n + 1)
}

/// How a method judges a row: p-values (or a stand-in) → kind.
enum Method {
    Novelty(&'static str, NoveltyParams),
    /// The old rule: the classifier's class and a confidence threshold.
    Classifier(&'static str, cad_core::model::Algorithm, f64),
}

#[derive(Default, Debug)]
struct Tally {
    /// (flagged, judged) over first-window verdicts.
    honest: (usize, usize),
    unknown: (usize, usize),
    unknown_named_known: (usize, usize),
    impostor: (usize, usize),
    /// Container-weighted share of all rows flagged: (sum of shares, containers).
    honest_rows: (f64, usize),
    unknown_rows: (f64, usize),
    /// The same first-window figures under the watcher's confirmation rule
    /// (`--confirm-windows`, [`CONFIRM`]): flagged only if the first window
    /// and the next ones that share no snapshot with it are all flagged (a
    /// container without those rows keeps its first verdict, as the
    /// watcher reports an unconfirmed anomaly at the timeout).
    confirmed: Confirmed,
    /// The multi-window calibration (bundle format 5): the first window
    /// judged alone, a normal one reported at once, an anomalous one decided
    /// by the statistic of the first [`CONFIRM`] windows (the watcher's
    /// default `--normal-at-once true`).
    multi: Confirmed,
    /// The same, every container decided by the statistic of its first
    /// [`CONFIRM`] windows (`--normal-at-once false`).
    multi_at_k: Confirmed,
}

/// Windows of the confirmation rule measured beside the first-window verdicts:
/// the watcher's default `--confirm-windows`.
const CONFIRM: usize = cad_core::engine::DEFAULT_CONFIRM_WINDOWS;

#[derive(Default, Debug)]
struct Confirmed {
    honest: (usize, usize),
    unknown: (usize, usize),
    unknown_named_known: (usize, usize),
    impostor: (usize, usize),
}

/// Whether `flagged` holds for the first row and for each of the next
/// `CONFIRM − 1` rows that share no snapshot with the one before (rows
/// start every snapshot and span `window` snapshots). Missing rows do not
/// clear the anomaly.
fn confirmed(rows: &[FeatureRow], window: usize, flagged: impl Fn(&FeatureRow) -> bool) -> bool {
    (0..CONFIRM).all(|j| rows.get(j * window).is_none_or(&flagged))
}

fn share(v: (usize, usize)) -> String {
    format!("{}/{}", v.0, v.1)
}

fn mean(v: (f64, usize)) -> String {
    format!("{:.1} %", 100.0 * v.0 / v.1.max(1) as f64)
}

/// The kind a method gives `row` claiming `claimed`.
type Judge<'a> = Box<dyn Fn(&FeatureRow, Option<usize>) -> Kind + 'a>;

/// The kind a method gives the rows of consecutive windows judged together
/// (`None`: the method cannot).
type JudgeWindows<'a> = Box<dyn Fn(&[&FeatureRow], Option<usize>) -> Option<Kind> + 'a>;

/// The first [`CONFIRM`] windows that share no snapshot (fewer if the
/// recording is shorter).
fn windows_of(rows: &[FeatureRow], window: usize) -> Vec<&FeatureRow> {
    (0..CONFIRM).filter_map(|j| rows.get(j * window)).collect()
}

/// Adds one container to the multi-window tallies: `single` is its first
/// window's verdict, `multi` the windows' (None: first window alone).
fn add_multi(t: &mut (usize, usize), t_k: &mut (usize, usize), single: bool, multi: Option<bool>) {
    let multi = multi.unwrap_or(single);
    t.0 += usize::from(single && multi);
    t.1 += 1;
    t_k.0 += usize::from(multi);
    t_k.1 += 1;
}

fn tally(
    method: &Method,
    all: &[(recordings::Instance, Vec<FeatureRow>)],
    names: &[String],
    window: usize,
    alpha: f64,
) -> Tally {
    let mut t = Tally::default();
    for held in 0..rotations(all) {
        let data = training_without(all, names, held);
        let mut multi_fn: JudgeWindows<'_> = Box::new(|_, _| None);
        let judge_fn: Judge<'_> = match method {
            Method::Novelty(_, params) => {
                let params = NoveltyParams {
                    window_gap: window,
                    ..params.clone()
                };
                let model = std::sync::Arc::new(params.fit(&data).expect("fit"));
                let m = model.clone();
                multi_fn = Box::new(move |rows, claimed| {
                    if rows.len() < 2 || !m.judges_windows(rows.len()) {
                        return None;
                    }
                    let scores: Vec<_> = rows.iter().filter_map(|r| m.window_scores(r)).collect();
                    Some(m.judge_windows(&scores, claimed, alpha).kind)
                });
                Box::new(move |row, claimed| model.judge(row, claimed, alpha).kind)
            }
            Method::Classifier(_, algorithm, threshold) => {
                let model = algorithm.fit(&data).expect("fit");
                let threshold = *threshold;
                Box::new(move |row, claimed| {
                    let p = model.predict(row);
                    match claimed {
                        Some(c) if p.class != c => Kind::Impostor,
                        _ if p.confidence < threshold => Kind::Unknown,
                        Some(_) => Kind::AsClaimed,
                        None => Kind::Recognised,
                    }
                })
            }
        };
        for (inst, rows) in all {
            if rows.is_empty() {
                continue;
            }
            let known = KNOWN.iter().position(|k| *k == inst.class);
            match known {
                Some(c) if instance_no(&inst.pod) == Some(held) => {
                    let flagged = |row: &FeatureRow| judge_fn(row, Some(c)).is_anomaly();
                    t.honest.0 += usize::from(flagged(&rows[0]));
                    t.honest.1 += 1;
                    t.honest_rows.0 += rows.iter().filter(|r| flagged(r)).count() as f64 / rows.len() as f64;
                    t.honest_rows.1 += 1;
                    t.confirmed.honest.0 += usize::from(confirmed(rows, window, flagged));
                    t.confirmed.honest.1 += 1;
                    let ws = windows_of(rows, window);
                    add_multi(
                        &mut t.multi.honest,
                        &mut t.multi_at_k.honest,
                        flagged(&rows[0]),
                        multi_fn(&ws, Some(c)).map(Kind::is_anomaly),
                    );
                    for other in (0..KNOWN.len()).filter(|&o| o != c) {
                        let claims = |row: &FeatureRow| judge_fn(row, Some(other)).is_anomaly();
                        t.impostor.0 += usize::from(claims(&rows[0]));
                        t.impostor.1 += 1;
                        t.confirmed.impostor.0 += usize::from(confirmed(rows, window, claims));
                        t.confirmed.impostor.1 += 1;
                        add_multi(
                            &mut t.multi.impostor,
                            &mut t.multi_at_k.impostor,
                            claims(&rows[0]),
                            multi_fn(&ws, Some(other)).map(Kind::is_anomaly),
                        );
                    }
                }
                Some(_) => {}
                None => {
                    let unknown = |row: &FeatureRow| judge_fn(row, None) == Kind::Unknown;
                    t.unknown.0 += usize::from(unknown(&rows[0]));
                    t.unknown.1 += 1;
                    t.unknown_rows.0 += rows.iter().filter(|r| unknown(r)).count() as f64 / rows.len() as f64;
                    t.unknown_rows.1 += 1;
                    t.confirmed.unknown.0 += usize::from(confirmed(rows, window, unknown));
                    t.confirmed.unknown.1 += 1;
                    let ws = windows_of(rows, window);
                    add_multi(
                        &mut t.multi.unknown,
                        &mut t.multi_at_k.unknown,
                        unknown(&rows[0]),
                        multi_fn(&ws, None).map(|k| k == Kind::Unknown),
                    );
                    // Named like a known class (a redis pod called nginx-…).
                    for c in 0..KNOWN.len() {
                        let claims = |row: &FeatureRow| judge_fn(row, Some(c)).is_anomaly();
                        t.unknown_named_known.0 += usize::from(claims(&rows[0]));
                        t.unknown_named_known.1 += 1;
                        t.confirmed.unknown_named_known.0 += usize::from(confirmed(rows, window, claims));
                        t.confirmed.unknown_named_known.1 += 1;
                        add_multi(
                            &mut t.multi.unknown_named_known,
                            &mut t.multi_at_k.unknown_named_known,
                            claims(&rows[0]),
                            multi_fn(&ws, Some(c)).map(Kind::is_anomaly),
                        );
                    }
                }
            }
        }
    }
    t
}

/// The default method's verdicts on each service outside the class list,
/// over all rotations: (judged unknown, judged) and the class it was taken
/// for otherwise, for the first window and for the [`CONFIRM`]-window statistic at
/// window k; and its instances named like each known class: (flagged, judged).
#[derive(Default, Debug)]
struct PerService {
    unknown: (usize, usize),
    taken_for: std::collections::BTreeMap<&'static str, usize>,
    unknown_k: (usize, usize),
    taken_for_k: std::collections::BTreeMap<&'static str, usize>,
    named: (usize, usize),
    named_k: (usize, usize),
    /// Every row (every window of the 15 minutes, JIT warm-up and start-up
    /// behind): (judged unknown, judged), and the class taken for otherwise.
    rows: (usize, usize),
    rows_taken_for: std::collections::BTreeMap<&'static str, usize>,
}

/// [`PerService`] for every class outside [`KNOWN`], under the default
/// method at `alpha`.
fn per_service(
    all: &[(recordings::Instance, Vec<FeatureRow>)],
    names: &[String],
    window: usize,
    alpha: f64,
) -> std::collections::BTreeMap<String, PerService> {
    let mut out: std::collections::BTreeMap<String, PerService> = Default::default();
    let taken = |j: &Judgement| j.behaves_like.map_or("none", |c| KNOWN[c]);
    for held in 0..rotations(all) {
        let model = default_model(all, names, window, held);
        for (inst, rows) in all {
            if rows.is_empty() || KNOWN.contains(&inst.class.as_str()) {
                continue;
            }
            let s = out.entry(inst.class.clone()).or_default();
            for row in rows {
                let j = model.judge(row, None, alpha);
                s.rows.1 += 1;
                if j.kind == Kind::Unknown {
                    s.rows.0 += 1;
                } else {
                    *s.rows_taken_for.entry(taken(&j)).or_default() += 1;
                }
            }
            let verdicts = verdicts(&model, rows, window);
            let [first, k] = verdicts(None, alpha);
            for (j, unknown, taken_for) in [
                (&first, &mut s.unknown, &mut s.taken_for),
                (&k, &mut s.unknown_k, &mut s.taken_for_k),
            ] {
                unknown.0 += usize::from(j.kind == Kind::Unknown);
                unknown.1 += 1;
                if j.kind != Kind::Unknown {
                    *taken_for.entry(taken(j)).or_default() += 1;
                }
            }
            for c in 0..KNOWN.len() {
                let [first, k] = verdicts(Some(c), alpha);
                s.named.0 += usize::from(first.kind.is_anomaly());
                s.named.1 += 1;
                s.named_k.0 += usize::from(k.kind.is_anomaly());
                s.named_k.1 += 1;
            }
        }
    }
    out
}

/// The default method's model of rotation `held` (windows `window` rows apart).
fn default_model(
    all: &[(recordings::Instance, Vec<FeatureRow>)],
    names: &[String],
    window: usize,
    held: usize,
) -> OpenSetModel {
    let params = NoveltyParams {
        window_gap: window,
        ..NoveltyParams::default()
    };
    params.fit(&training_without(all, names, held)).expect("fit")
}

/// A container's verdicts claiming a class (or none) at a rate: on its
/// first window, and as the watcher decides (the statistic of its first
/// [`CONFIRM`] windows at the last of them; the first window alone if the
/// recording is shorter or the model not calibrated over as many).
fn verdicts<'a>(
    model: &'a OpenSetModel,
    rows: &'a [FeatureRow],
    window: usize,
) -> impl Fn(Option<usize>, f64) -> [Judgement; 2] + 'a {
    let ws = windows_of(rows, window);
    let multi = ws.len() >= 2 && model.judges_windows(ws.len());
    let scores: Vec<_> = ws.iter().filter_map(|r| model.window_scores(r)).collect();
    move |claimed, alpha| {
        let first = model.judge(&rows[0], claimed, alpha);
        let k = if multi {
            model.judge_windows(&scores, claimed, alpha)
        } else {
            first.clone()
        };
        [first, k]
    }
}

/// Verdicts on containers that claim no class, under the default method at
/// one rate α_u, over all rotations; `[0]` the first window, `[1]` the
/// [`CONFIRM`]-window statistic at k (the watcher's decision).
#[derive(Default, Debug)]
struct Unclaimed {
    /// Held-out honest instances of a known class: judged unknown (false
    /// unknowns), recognised as their own class, as another, undecided.
    honest: [[usize; 4]; 2],
    honest_n: usize,
    /// Services outside the class list judged unknown.
    unknown: [usize; 2],
    unknown_n: usize,
}

/// [`Unclaimed`] at each of `alphas` (each rotation's model fitted once).
fn unclaimed(
    all: &[(recordings::Instance, Vec<FeatureRow>)],
    names: &[String],
    window: usize,
    alphas: &[f64],
) -> Vec<Unclaimed> {
    let mut out: Vec<Unclaimed> = alphas.iter().map(|_| Unclaimed::default()).collect();
    for held in 0..rotations(all) {
        let model = default_model(all, names, window, held);
        for (inst, rows) in all.iter().filter(|(_, r)| !r.is_empty()) {
            let known = KNOWN.iter().position(|k| *k == inst.class);
            if known.is_some() && instance_no(&inst.pod) != Some(held) {
                continue;
            }
            let verdicts = verdicts(&model, rows, window);
            for (u, &alpha) in out.iter_mut().zip(alphas) {
                for (mode, j) in verdicts(None, alpha).iter().enumerate() {
                    match known {
                        Some(c) => {
                            let bucket = match j.kind {
                                Kind::Unknown => 0,
                                Kind::Recognised if j.behaves_like == Some(c) => 1,
                                Kind::Recognised => 2,
                                Kind::Undecided => 3,
                                k => panic!("{} claiming no class judged {k}", inst.pod),
                            };
                            u.honest[mode][bucket] += 1;
                        }
                        None => u.unknown[mode] += usize::from(j.kind == Kind::Unknown),
                    }
                }
                u.honest_n += usize::from(known.is_some());
                u.unknown_n += usize::from(known.is_none());
            }
        }
    }
    out
}

fn methods() -> Vec<Method> {
    let novelty = NoveltyParams::default();
    vec![
        Method::Novelty(
            "combined: kNN-3 ratio × (1 + 4(1 − p̂)), either-unclaimed (default)",
            novelty.clone(),
        ),
        Method::Novelty(
            "novelty kNN-3 containers, RMS",
            NoveltyParams {
                score: Score::Novelty,
                ..novelty.clone()
            },
        ),
        Method::Novelty(
            "novelty kNN-1 container, RMS",
            NoveltyParams {
                k: 1,
                score: Score::Novelty,
                ..novelty.clone()
            },
        ),
        Method::Novelty(
            "novelty kNN-3 containers, mean |d|",
            NoveltyParams {
                metric: Metric::MeanAbs,
                score: Score::Novelty,
                ..novelty.clone()
            },
        ),
        Method::Novelty(
            "novelty kNN-3 containers, max |d|",
            NoveltyParams {
                metric: Metric::Max,
                score: Score::Novelty,
                ..novelty.clone()
            },
        ),
        Method::Novelty(
            "forest 1 − p̂_y conformal",
            NoveltyParams {
                score: Score::Classifier,
                ..novelty.clone()
            },
        ),
        Method::Novelty(
            "forest 1 − p̂_y, empirical p only",
            NoveltyParams {
                score: Score::Classifier,
                tail: Tail::Empirical,
                ..novelty.clone()
            },
        ),
        Method::Novelty(
            "both (Bonferroni): forest and kNN-3 RMS",
            NoveltyParams {
                score: Score::Both,
                ..novelty.clone()
            },
        ),
        Method::Novelty(
            "both (Bonferroni): forest and kNN-3 max |d|",
            NoveltyParams {
                score: Score::Both,
                metric: Metric::Max,
                ..novelty.clone()
            },
        ),
        Method::Novelty(
            "combined, features weighted",
            NoveltyParams {
                score: Score::Combined,
                weigh_features: true,
                ..novelty.clone()
            },
        ),
        Method::Novelty(
            "combined, unknown: combined test alone (before)",
            NoveltyParams {
                unknown_test: UnknownTest::Combined,
                ..novelty.clone()
            },
        ),
        Method::Novelty(
            "combined, unknown: either test, each α/2",
            NoveltyParams {
                unknown_test: UnknownTest::EitherHalf,
                ..novelty.clone()
            },
        ),
        Method::Novelty(
            "combined, unknown: novelty test, each α/2",
            NoveltyParams {
                unknown_test: UnknownTest::NoveltyHalf,
                ..novelty.clone()
            },
        ),
        Method::Classifier(
            "tree, confidence < 0.6",
            cad_core::model::Algorithm::by_name("tree").expect("tree"),
            0.6,
        ),
        Method::Classifier(
            "forest, confidence < 0.6",
            cad_core::model::Algorithm::Forest(cad_core::forest::ForestParams {
                seed: 42,
                ..Default::default()
            }),
            0.6,
        ),
    ]
}

#[tokio::test]
async fn open_set_verdicts_on_recordings_of_real_servers() {
    let set = FeatureSet::behaviour();
    let all = recordings::rows(&recordings::dir(), &set).await.expect("recordings");
    let names = set.column_names();
    println!(
        "{:<44} {:>5}  {:>9} {:>9} {:>9} {:>9}  {:>9} {:>9}",
        "method (α = 0.01)", "", "honest", "unknown", "unk.named", "impostor", "honest⁎", "unknown⁎"
    );
    let mut default_tally = None;
    let mut confirmed_lines = Vec::new();
    for method in methods() {
        let name = match &method {
            Method::Novelty(n, _) | Method::Classifier(n, ..) => *n,
        };
        for alpha in [0.01, 0.05, 0.34] {
            if matches!(method, Method::Classifier(..)) && alpha != 0.01 {
                continue;
            }
            let t = tally(&method, &all, &names, set.window.max(1), alpha);
            // The tests of "like no known class" other than the default:
            // their multi-window statistic too (the watcher's default).
            if let Method::Novelty(n, _) = &method
                && n.starts_with("combined, unknown: ")
                && alpha == 0.01
            {
                let c = &t.multi_at_k;
                confirmed_lines.push(format!(
                    "{:<44} {:>5}  {:>9} {:>9} {:>9} {:>9}",
                    format!(
                        "{CONFIRM} windows, statistic at k: {}",
                        n.trim_start_matches("combined, unknown: ")
                    ),
                    alpha,
                    share(c.honest),
                    share(c.unknown),
                    share(c.unknown_named_known),
                    share(c.impostor)
                ));
            }
            if matches!(method, Method::Novelty(..)) && confirmed_lines.len() < 9 {
                for (what, c) in [
                    ("each anomalous", &t.confirmed),
                    ("statistic, normal at once", &t.multi),
                    ("statistic at window k", &t.multi_at_k),
                ] {
                    confirmed_lines.push(format!(
                        "{:<44} {:>5}  {:>9} {:>9} {:>9} {:>9}",
                        format!("{CONFIRM} windows, {what}"),
                        alpha,
                        share(c.honest),
                        share(c.unknown),
                        share(c.unknown_named_known),
                        share(c.impostor)
                    ));
                }
            }
            println!(
                "{:<44} {:>5}  {:>9} {:>9} {:>9} {:>9}  {:>9} {:>9}",
                name,
                alpha,
                share(t.honest),
                share(t.unknown),
                share(t.unknown_named_known),
                share(t.impostor),
                mean(t.honest_rows),
                mean(t.unknown_rows)
            );
            if default_tally.is_none() {
                default_tally = Some(t);
            }
        }
    }
    println!(
        "first-window verdicts flagged: honest (held-out instance claiming its class), unknown (services outside \
         the class list judged unknown), unk.named (them claiming each known class, flagged), impostor (held-out instance \
         claiming each other known class, flagged); ⁎ = share of all rows of a container, mean over containers"
    );
    for line in &confirmed_lines {
        println!("{line}");
    }
    println!(
        "the watcher's confirmation (--confirm-windows {CONFIRM}) with a format-4 model (each anomalous: flagged \
         only if the first window and the next {} without a shared snapshot are flagged too) and a format-5 model \
         (the calibrated statistic of the {CONFIRM} windows; normal at once: only if the first window is flagged)",
        CONFIRM - 1
    );
    let t = default_tally.expect("the default method ran");
    let services = per_service(&all, &names, set.window.max(1), 0.01);
    println!(
        "default method, α = 0.01, per service outside the class list: judged unknown (first window; {CONFIRM}-window \
         statistic at k) and the class it was taken for otherwise; named like each known class, flagged (first \
         window; {CONFIRM}-window statistic at k); every row (window) of the recording judged alone"
    );
    for (class, s) in &services {
        println!(
            "  {class:<10} unknown {:>6} {:>6}  taken for {:?} / {:?}  named flagged {:>7} {:>7}  all rows unknown \
             {:>9}, else taken for {:?}",
            share(s.unknown),
            share(s.unknown_k),
            s.taken_for,
            s.taken_for_k,
            share(s.named),
            share(s.named_k),
            share(s.rows),
            s.rows_taken_for
        );
    }
    // 4 training containers per class (5 rotations). With the 16 instances
    // recorded first (2 training containers per class, 3 rotations) no
    // honest p-value could go below 1/3 without the tail, and the default
    // method judged 0 of 12 unknown services unknown; with 5 per class the
    // calibration is tighter. What must hold first is the false-alarm side:
    // the issue measured the forest flagging 4 of 12 honest pods.
    assert_eq!((t.honest.1, t.unknown.1, t.impostor.1), (20, 70, 60));
    assert!(t.honest.0 <= 1, "honest pods flagged: {:?}", t.honest);
    // Measured at α = 0.01 with the `behaviour` set: 60 of 60 impostors,
    // 30 of 40 unknown services judged unknown (0 of 12 with the first 16
    // instances) and 150 of 160 named like a known class flagged (30 of 48
    // before). Every other conformal score found at most 33 impostors and
    // 0 unknowns. With Tomcat and RabbitMQ added (batch 5, session 9; 14
    // unknown services): first window 60 of 70 judged unknown (Tomcat 15/15,
    // RabbitMQ 14/15, redis 15/20, memcached 16/20) and 269 of 280 named
    // like a class flagged; the shares held at 60 % and 80 % as before.
    assert!(t.impostor.0 >= 51, "impostors flagged: {:?}", t.impostor);
    assert!(t.unknown.0 >= 42, "unknown services judged unknown: {:?}", t.unknown);
    assert!(
        t.unknown_named_known.0 >= 224,
        "unknown services named like a class: {:?}",
        t.unknown_named_known
    );
    // Confirmed by the next windows (the watcher's default number): 60 of
    // 60 impostors and 0 of 20 honest instances measured (2 windows, and 3
    // since session 12).
    assert!(
        t.confirmed.impostor.0 >= 51,
        "confirmed impostors: {:?}",
        t.confirmed.impostor
    );
    assert!(t.confirmed.honest.0 <= 1, "confirmed honest: {:?}", t.confirmed.honest);
    // The calibrated statistic of the 2 windows, decided at the 2nd (the
    // watcher's default with a format-5 model until session 11): 0 of 20 honest, 60 of 60
    // impostors, 40 of 40 unknowns and 156 of 160 unknowns named like a
    // class measured with the default test of "like no known class"
    // (either-unclaimed, session 8; the combined test alone before it: 0,
    // 60, 36 and 156; with windows of 3 snapshots, each window anomalous:
    // 0, 60, 30 and 150). With Tomcat and RabbitMQ (batch 5): 0/20, 60/60,
    // 70 of 70 unknowns and 273 of 280 named like a class (Tomcat 60/60,
    // RabbitMQ 57/60; at the first window the 2 RabbitMQ misses are the
    // steady rabbitmq-0 named as mysql, p 0.060 and 0.068); the shares held
    // at 80 % as before. With 3 windows, the watcher's default since
    // session 11: 0/20, 60/60, 70/70 and 278 of 280 named like a class
    // (memcached 80/80, redis 80/80, Tomcat 60/60, RabbitMQ 58/60); at
    // α = 0.05 honest 1/20 and 279/280.
    let k = &t.multi_at_k;
    assert_eq!((k.honest.1, k.impostor.1), (20, 60));
    assert!(k.honest.0 <= 1, "statistic, honest: {:?}", k.honest);
    assert!(k.impostor.0 >= 51, "statistic, impostors: {:?}", k.impostor);
    assert!(k.unknown.0 >= 56, "statistic, unknowns: {:?}", k.unknown);
    assert!(
        k.unknown_named_known.0 >= 224,
        "statistic, unknowns named like a class: {:?}",
        k.unknown_named_known
    );
    // A sanity check of the decision rule on these p-values.
    assert_eq!(judge(Some(&[0.0, 0.0]), None, 0.01).kind, Kind::Unknown);
}

/// The trade-off of [`DEFAULT_UNCLAIMED_FALSE_UNKNOWN_RATE`]: the watcher
/// judges a container that claims no class at α_u instead of α = 0.01.
/// More services outside the class list are then found among the pods
/// claiming none, at the cost of honest containers of a known class,
/// claiming none, judged unknown (false unknowns). Default method and
/// feature set, the same rotations.
#[tokio::test]
async fn unclaimed_false_unknown_rate_trade_off() {
    let set = FeatureSet::behaviour();
    let all = recordings::rows(&recordings::dir(), &set).await.expect("recordings");
    let alphas = [0.01, 0.02, DEFAULT_UNCLAIMED_FALSE_UNKNOWN_RATE, 0.1];
    let measured = unclaimed(&all, &set.column_names(), set.window.max(1), &alphas);
    println!(
        "{:<44} {:>5}  {:>9} {:>9} {:>9} {:>9}  {:>9}",
        "default method, claiming no class", "α_u", "false unk", "own", "other", "undecided", "unknown"
    );
    for (u, alpha) in measured.iter().zip(alphas) {
        for (mode, what) in ["first window".to_string(), format!("{CONFIRM} windows, statistic at k")]
            .iter()
            .enumerate()
        {
            let h = u.honest[mode].map(|n| share((n, u.honest_n)));
            println!(
                "{what:<44} {alpha:>5}  {:>9} {:>9} {:>9} {:>9}  {:>9}",
                h[0],
                h[1],
                h[2],
                h[3],
                share((u.unknown[mode], u.unknown_n))
            );
        }
    }
    println!(
        "held-out honest instances of a known class claiming no class: judged unknown (false unknowns), recognised \
         as their own class, as another, undecided; unknown: services outside the class list claiming no class, \
         judged unknown; the watcher decides by the {CONFIRM}-window statistic at k"
    );
    // Measured (first window; statistic at k): honest 20/20 recognised as
    // their own class at every α_u but one false unknown at 0.1 at k (the
    // idle mysql-2, p 0.048); unknowns 60, 61, 66, 67 of 70 at the first
    // window, 70/70 at k from 0.01 on. A larger α_u only shrinks the
    // prediction sets {y : p_y > α_u}: unknown verdicts never go down.
    for (lo, hi) in measured.iter().zip(&measured[1..]) {
        assert_eq!((hi.honest_n, hi.unknown_n), (20, 70));
        for mode in 0..2 {
            assert!(
                hi.unknown[mode] >= lo.unknown[mode],
                "unknowns {:?} {:?}",
                lo.unknown,
                hi.unknown
            );
            assert!(hi.honest[mode][0] >= lo.honest[mode][0], "false unknowns {lo:?} {hi:?}");
        }
    }
    let (base, d) = (&measured[0], &measured[2]);
    // The benefit: more unknowns found at once (66 against 60 of 70).
    assert!(
        d.unknown[0] > base.unknown[0],
        "unknowns {:?} {:?}",
        base.unknown,
        d.unknown
    );
    // The cost, within the rate: 5 % of 20 honest containers is 1; 3 or more
    // has 7.5 % probability under Binomial(20, 0.05), so more than 2 says
    // the calibration no longer holds (measured 0 and 0). At most 1 taken
    // for another class or undecided (measured 0).
    for mode in 0..2 {
        let [false_unknown, _, other, undecided] = d.honest[mode];
        assert!(false_unknown <= 2, "false unknowns at α_u: {:?}", d.honest);
        assert!(other + undecided <= 1, "honest unclaimed misjudged: {:?}", d.honest);
    }
}

/// Diagnosis: the first-window p-values (nginx, apache, mysql, postgresql)
/// of each held-out instance and of each service outside the class list,
/// under the default method, per rotation. Measured with 5 instances per
/// class (4 training): the held-out honest instances keep p 0.064–1.0 for
/// their own class (lowest: the idle mysql-2 and apache-1) and ≤ 0.001 for
/// the others; redis and memcached reach a largest p of ≤ 0.002 in most
/// rotations, except redis-0 (steady; 0.010–0.092), memcached-1 (bursty;
/// 0.006–0.119), memcached-0 (0.025 once) and redis-2 (0.018 once): the
/// 10 of 40 judged known at α = 0.01. With the first 16 instances
/// (2 training) every p-value of rotation 0 was 0.078 and redis and
/// memcached kept nginx (or apache) at p 0.18–0.98. Tomcat and RabbitMQ
/// (batch 5): every p ≤ 0.002 (the largest mostly mysql's: a JVM's and the
/// Erlang VM's memory is anonymous, as InnoDB's buffer pool; nginx and
/// apache ≤ 0.001 for Tomcat, an HTTP server), except rabbitmq-0 (steady)
/// with mysql at 0.060, 0.068 and 0.006 in rotations 1, 3 and 4.
#[tokio::test]
#[ignore = "a measurement: prints the p-values"]
async fn open_set_p_values_of_unknown_recordings() {
    let set = FeatureSet::behaviour();
    let all = recordings::rows(&recordings::dir(), &set).await.expect("recordings");
    let names = set.column_names();
    for held in 0..rotations(&all) {
        let data = training_without(&all, &names, held);
        let model = NoveltyParams::default().fit(&data).expect("fit");
        for (inst, rows) in all.iter().filter(|(_, r)| !r.is_empty()) {
            let known = KNOWN.contains(&inst.class.as_str());
            if known && instance_no(&inst.pod) != Some(held) {
                continue;
            }
            let p = model.p_values(&rows[0]).unwrap_or_default();
            if let Some(c) = KNOWN.iter().position(|k| *k == inst.class) {
                // The held-out honest instance keeps its own class.
                assert!(p[c] > 0.01, "{} p {p:?}", inst.pod);
            }
            let f: Vec<String> = p.iter().map(|x| format!("{x:.3}")).collect();
            println!(
                "rotation {held} {:<14} {:<12} p [{}] (nginx apache mysql postgresql)",
                inst.pod,
                inst.class,
                f.join(" ")
            );
        }
    }
}

/// The known classes' rows of every instance but number `held`: a rotation's
/// training set.
fn training_without(all: &[(recordings::Instance, Vec<FeatureRow>)], names: &[String], held: usize) -> Dataset {
    let mut data = Dataset::new(names.to_vec(), KNOWN.iter().map(|s| s.to_string()).collect());
    for (inst, rows) in all {
        if KNOWN.contains(&inst.class.as_str()) && instance_no(&inst.pod) != Some(held) {
            for r in rows {
                data.push(r, &inst.class, &inst.pod).expect("row width");
            }
        }
    }
    data
}
