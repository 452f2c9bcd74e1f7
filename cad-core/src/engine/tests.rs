//! Training tests on synthetic data sets (the engines on the simulated
//! cluster are tested in `cad-core/tests/engines.rs`).

use super::*;
use crate::features::FeatureSet;
use crate::time::Timestamp;

/// Columns `f0`… as named by the synthetic data sets.
fn test_features(n: usize) -> FeatureSet {
    let names: Vec<String> = (0..n).map(|i| format!("f{i}")).collect();
    FeatureSet::for_columns(&names)
}

/// `data` with its rows in another order and its groups named in another
/// order of first appearance: the same samples, listed differently.
fn permuted(data: &crate::Dataset, seed: u64) -> crate::Dataset {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut order: Vec<usize> = (0..data.n_rows()).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let mut out = crate::Dataset::new(data.feature_names().to_vec(), data.classes().to_vec());
    for i in order {
        out.push(
            &data.row(i),
            &data.classes()[data.label(i)],
            &data.group_names()[data.group(i)],
        )
        .unwrap();
    }
    out
}

/// The same samples in another order train the same model and the same
/// evaluation, for every algorithm. Before the canonical order, the forest's
/// bootstrap drew row *positions* and the folds dealt groups in order of
/// first appearance, so a different listing order gave another forest.
#[test]
fn training_is_a_function_of_the_samples_and_the_seed() {
    let data = crate::tree::synth::make(1500, 4, 3, 25, 0.8, 0.05, 5);
    let features = test_features(4);
    for &algorithm in crate::model::Algorithm::NAMES {
        let mut cfg = TrainConfig {
            algorithm: crate::model::Algorithm::by_name(algorithm).unwrap(),
            curve_points: 3,
            ..TrainConfig::default()
        };
        if let crate::model::Algorithm::Forest(p) = &mut cfg.algorithm {
            p.n_trees = 10;
        }
        let run = |d: &crate::Dataset| train(d, &features, &cfg, Timestamp(1), &mut |_| {}).unwrap();
        let a = run(&data);
        let a_bytes = a.bundle.to_bytes().unwrap();
        for seed in [1, 2] {
            let b = run(&permuted(&data, seed));
            assert_eq!(b.bundle.to_bytes().unwrap(), a_bytes, "{algorithm}: model differs");
            let (ra, rb) = (a.report.as_ref().unwrap(), b.report.as_ref().unwrap());
            assert_eq!(ra.matrix, rb.matrix, "{algorithm}: evaluation differs");
            assert_eq!(a.curve, b.curve, "{algorithm}: learning curve differs");
        }
    }
}

#[test]
fn data_that_cannot_be_learnt_from_is_refused() {
    let features = test_features(2);
    let cfg = TrainConfig::default();
    let mut one = crate::Dataset::new(vec!["f0".into(), "f1".into()], vec!["x".into(), "y".into()]);
    one.push(&[Some(1.0), Some(2.0)], "x", "g1").unwrap();
    let e = train(&one, &features, &cfg, Timestamp(0), &mut |_| {}).unwrap_err();
    assert!(matches!(e, TrainError::OneClass { rows: 1, .. }), "{e}");
    assert!(e.to_string().contains("only one class, x"), "{e}");
    for i in 0..50 {
        one.push(&[Some(i as f64), None], "x", &format!("g{i}")).unwrap();
    }
    assert!(matches!(
        train(&one, &features, &cfg, Timestamp(0), &mut |_| {}),
        Err(TrainError::OneClass { rows: 51, .. })
    ));

    let mut many = crate::Dataset::new(vec!["f0".into(), "f1".into()], vec![]);
    for i in 0..101 {
        many.push(&[Some(i as f64), None], &format!("c{i}"), &format!("g{i}"))
            .unwrap();
    }
    let e = train(&many, &features, &cfg, Timestamp(0), &mut |_| {}).unwrap_err();
    assert!(
        matches!(
            e,
            TrainError::TooManyClasses {
                classes: 101,
                limit: DEFAULT_MAX_CLASSES
            }
        ),
        "{e}"
    );
}

#[test]
fn an_evaluation_asked_for_is_made_or_the_training_fails() {
    let features = test_features(3);
    // 12 containers.
    let data = crate::tree::synth::make(120, 3, 2, 10, 2.0, 0.0, 8);
    assert_eq!(crate::split::groups_with_rows(&data).len(), 12);
    let cfg = TrainConfig {
        method: Some(crate::eval::Method::GroupedKFold { k: 13, seed: 1 }),
        curve_points: 0,
        ..TrainConfig::default()
    };
    let t = train(&data, &features, &cfg, Timestamp(0), &mut |_| {}).unwrap();
    let r = t.report.unwrap();
    assert_eq!(r.rounds, 12);
    assert_eq!(r.method, crate::eval::Method::GroupedKFold { k: 12, seed: 1 });
    assert!(r.warnings[0].contains("leave-one-container-out"), "{:?}", r.warnings);
    assert!(r.to_string().contains("leave-one-container-out"));

    // One container: no grouped evaluation can be made, and the run fails.
    let mut single = crate::Dataset::new(vec!["f0".into(), "f1".into(), "f2".into()], vec![]);
    for i in 0..20 {
        single
            .push(&[Some(i as f64), None, None], ["a", "b"][i % 2], "g")
            .unwrap();
    }
    let cfg = TrainConfig {
        curve_points: 0,
        ..TrainConfig::default()
    };
    let e = train(&single, &features, &cfg, Timestamp(0), &mut |_| {}).unwrap_err();
    assert!(matches!(e, TrainError::Evaluation { .. }), "{e}");
    // Unless no evaluation was asked for.
    let cfg = TrainConfig { method: None, ..cfg };
    let t = train(&single, &features, &cfg, Timestamp(0), &mut |_| {}).unwrap();
    assert!(t.report.is_none() && t.bundle.evaluation.is_none());
}

/// Two classes of `containers` containers with `rows` rows each, the classes
/// apart in every column, the rows of a container a little apart.
fn two_classes(containers: usize, rows: usize) -> crate::Dataset {
    let mut data = crate::Dataset::new(vec!["f0".into(), "f1".into()], vec!["nginx".into(), "mysql".into()]);
    for c in 0..containers {
        let class = ["nginx", "mysql"][c % 2];
        let base = if class == "nginx" { 2e6 } else { 9e7 };
        for i in 0..rows {
            let v = base * (1.0 + 0.01 * (c * rows + i) as f64);
            data.push(
                &[Some(v), Some(v * 0.5 + i as f64)],
                class,
                &format!("shop/pod-{c}/app"),
            )
            .unwrap();
        }
    }
    data
}

/// Containers with too few consecutive rows for the watcher's default number
/// of windows give a model that cannot judge them together: the training
/// says so (in the report's warnings, before the model is published), naming
/// the windows it can judge; with rows enough it says nothing of windows.
#[test]
fn training_warns_when_the_open_set_cannot_judge_the_default_windows() {
    let features = test_features(2);
    // Consecutive windows are this many rows apart: k windows need
    // (k - 1) * gap + 1 rows.
    let gap = features.window_gap();
    let cfg = TrainConfig {
        curve_points: 0,
        ..TrainConfig::default()
    };
    let windows_warning = |t: &Trained| t.warnings.iter().find(|w| w.contains("window(s) together")).cloned();
    let confirm = DEFAULT_CONFIRM_WINDOWS;
    let short = train(&two_classes(10, (confirm - 1) * gap), &features, &cfg, Timestamp(1), ()).unwrap();
    assert!(
        short
            .bundle
            .open_set
            .as_ref()
            .is_some_and(|o| !o.judges_windows(confirm))
    );
    let w = windows_warning(&short).expect("a warning for rows too few");
    assert!(w.contains(&format!("at most {} window(s)", confirm - 1)), "{w}");
    assert!(w.contains(&format!("--confirm-windows {}", confirm - 1)), "{w}");
    let report = short.report.as_ref().unwrap();
    assert!(report.warnings.contains(&w), "{:?}", report.warnings);

    let long = train(
        &two_classes(10, (confirm - 1) * gap + 1),
        &features,
        &cfg,
        Timestamp(1),
        (),
    )
    .unwrap();
    assert!(long.bundle.open_set.as_ref().is_some_and(|o| o.judges_windows(confirm)));
    assert_eq!(windows_warning(&long), None, "{:?}", long.warnings);
}

/// Classes with fewer training containers than
/// [`MIN_CONTAINERS_PER_CLASS`](crate::openset::MIN_CONTAINERS_PER_CLASS)
/// are named in a training warning, with their counts, and those with fewer
/// than [`MIN_CONTAINERS_FOR_RATE`](crate::openset::MIN_CONTAINERS_FOR_RATE)
/// once more; with that many of each the warning is not given, and without
/// an open-set model neither.
#[test]
fn training_warns_of_classes_with_few_containers_for_the_open_set() {
    let min = crate::openset::MIN_CONTAINERS_PER_CLASS;
    let features = test_features(2);
    let cfg = TrainConfig {
        curve_points: 0,
        ..TrainConfig::default()
    };
    let few = |t: &Trained| {
        t.warnings
            .iter()
            .find(|w| w.contains("few training containers"))
            .cloned()
    };
    // Two classes alternate: `2 * min - 2` containers give each class one too few.
    let short = train(&two_classes(2 * min - 2, 2), &features, &cfg, Timestamp(1), ()).unwrap();
    let w = few(&short).expect("a warning for too few containers");
    assert!(w.contains(&format!("nginx {}, mysql {}", min - 1, min - 1)), "{w}");
    assert!(short.report.as_ref().unwrap().warnings.contains(&w));
    assert!(!w.contains("claims of"), "{w}");
    // Three containers a class: judged, but below the rate's minimum.
    let rate = crate::openset::MIN_CONTAINERS_FOR_RATE;
    let three = train(&two_classes(6, 8), &features, &cfg, Timestamp(1), ()).unwrap();
    let w = few(&three).expect("a warning for too few containers");
    assert!(
        w.contains(&format!(
            "pass, and claims of nginx 3, mysql 3 (fewer than {rate} a class) flag several times more honest pods"
        )),
        "{w}"
    );

    let enough = train(&two_classes(2 * min, 2), &features, &cfg, Timestamp(1), ()).unwrap();
    assert_eq!(few(&enough), None, "{:?}", enough.warnings);
    // As many containers, nginx's in pairs of replicas of one ReplicaSet:
    // half as many independent ones.
    let mut paired = two_classes(2 * min, 2);
    for g in (0..2 * min).step_by(2) {
        paired.set_replica_set(g, &format!("shop/web-{}/app", g / 4)).unwrap();
    }
    let w = few(&train(&paired, &features, &cfg, Timestamp(1), ()).unwrap()).expect("replicas count once");
    assert!(
        w.contains(&format!(
            "nginx {} ({min} containers, the replicas of a ReplicaSet counted once)",
            min / 2
        )),
        "{w}"
    );
    assert!(!w.contains("mysql"), "{w}");
    // Three containers of one class, all replicas of one set: split by
    // container, and said to be twins.
    let mut one_set = two_classes(6, 8);
    for g in (0..6).step_by(2) {
        one_set.set_replica_set(g, "shop/web-7c5ddbdf54/app").unwrap();
    }
    let w = few(&train(&one_set, &features, &cfg, Timestamp(1), ()).unwrap()).expect("a warning");
    assert!(
        w.contains("nginx 3 (all replicas of one ReplicaSet: near twins)"),
        "{w}"
    );
    assert!(w.contains("mysql 3"), "{w}");

    let no_open_set = TrainConfig {
        open_set: None,
        calibrate_confidence: false,
        ..cfg.clone()
    };
    let plain = train(&two_classes(4, 2), &features, &no_open_set, Timestamp(1), ()).unwrap();
    assert_eq!(few(&plain), None, "{:?}", plain.warnings);
}

/// Classes with fewer than
/// [`MIN_CONTAINERS_TO_JUDGE`](crate::openset::MIN_CONTAINERS_TO_JUDGE)
/// training containers are named in a training warning (the watcher will
/// not judge their claims); with two of each, not.
#[test]
fn training_warns_of_classes_whose_claims_will_not_be_judged() {
    let features = test_features(2);
    let cfg = TrainConfig {
        curve_points: 0,
        ..TrainConfig::default()
    };
    let unjudged = |t: &Trained| t.warnings.iter().find(|w| w.contains("will not judge")).cloned();
    // Three containers alternate: nginx 2, mysql 1.
    let one = train(&two_classes(3, 8), &features, &cfg, Timestamp(1), ()).unwrap();
    let w = unjudged(&one).expect("a warning for mysql");
    assert!(w.contains("will not judge: mysql 1 ("), "{w}");
    assert!(!w.contains("nginx"), "{w}");
    assert_eq!(one.bundle.open_set.as_ref().map(|o| o.trained_containers(1)), Some(1));
    let two = train(&two_classes(4, 8), &features, &cfg, Timestamp(1), ()).unwrap();
    assert_eq!(unjudged(&two), None, "{:?}", two.warnings);
}

/// The watcher repeats the training's warnings at load, except those it says
/// itself ([`ActiveModel::log_in_use`](super::ActiveModel::log_in_use)): the
/// classes whose claims it does not judge, and the windows the model cannot
/// judge together.
#[test]
fn the_watcher_repeats_the_training_warnings_it_does_not_say_itself() {
    let features = test_features(2);
    let cfg = TrainConfig {
        curve_points: 0,
        ..TrainConfig::default()
    };
    // Three containers alternate: nginx 2, mysql 1.
    let mut t = train(&two_classes(3, 8), &features, &cfg, Timestamp(1), ()).unwrap();
    let windows = format!(
        "{} 1 window(s) together, not the watcher's default 3",
        super::train::WINDOWS_WARNING
    );
    t.bundle.evaluation.as_mut().unwrap().warnings.push(windows);
    let all = t.bundle.training_warnings();
    assert!(all.iter().any(|w| w.contains("will not judge: mysql 1")), "{all:?}");
    assert!(all.iter().any(|w| w.contains("few training containers")), "{all:?}");
    let repeated: Vec<&String> = super::watcher::model::repeated_training_warnings(&t.bundle, true).collect();
    // Without the watcher's configuration the windows are not said otherwise.
    let without_config = super::watcher::model::repeated_training_warnings(&t.bundle, false);
    assert!(without_config.filter(|w| w.contains("window(s) together")).count() >= 1);
    let kept = all
        .iter()
        .filter(|w| !w.contains("will not judge") && !w.contains("window(s) together"))
        .count();
    assert!(kept + 2 <= all.len(), "{all:?}");
    assert_eq!(repeated.len(), kept, "{repeated:?}");
    assert!(
        repeated.iter().any(|w| w.contains("few training containers")),
        "{repeated:?}"
    );
    assert!(
        !repeated
            .iter()
            .any(|w| w.contains("will not judge") || w.contains("window(s) together")),
        "{repeated:?}"
    );
}
