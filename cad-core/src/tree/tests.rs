use super::synth::{accuracy, assert_proba_matches_predict, grouped_split, make};
use super::*;
use crate::dataset::Dataset;
use proptest::prelude::*;

fn ds(rows: &[(&[Option<f64>], &str)]) -> Dataset {
    let w = rows[0].0.len();
    let mut d = Dataset::new((0..w).map(|i| format!("x{i}")).collect(), vec![]);
    for (i, (r, c)) in rows.iter().enumerate() {
        d.push(r, c, &format!("g{i}")).unwrap();
    }
    d
}

#[test]
fn learns_a_separable_data_set_exactly() {
    let d = make(3000, 6, 4, 30, 3.0, 0.0, 1);
    let t = TreeParams::default().fit(&d).unwrap();
    assert_eq!(accuracy(&t, &d), 1.0);
    for p in t.predict_dataset(&d) {
        assert_eq!(p.confidence, 1.0);
    }
    // The Option path agrees with the raw-row path.
    for i in (0..d.n_rows()).step_by(7) {
        assert_eq!(t.predict(&d.row(i)), t.predict_dataset(&d)[i]);
    }
}

#[test]
fn generalises_across_groups() {
    let d = make(20_000, 8, 5, 50, 3.0, 0.02, 2);
    let (train, test) = grouped_split(&d);
    let t = TreeParams::default().fit(&train).unwrap();
    let acc = accuracy(&t, &test);
    assert!(acc > 0.95, "grouped accuracy {acc}");
}

#[test]
fn confidence_in_a_mixed_leaf_is_the_class_share() {
    // Four identical rows (3 a, 1 b) cannot be split: one leaf.
    let one = [Some(1.0)];
    let two = [Some(5.0)];
    let d = ds(&[
        (&one, "a"),
        (&one, "a"),
        (&one, "b"),
        (&one, "a"),
        (&two, "b"),
        (&two, "b"),
    ]);
    let t = TreeParams::default().fit(&d).unwrap();
    assert_eq!(t.n_leaves(), 2);
    let p = t.predict(&[Some(1.0)]);
    assert_eq!(p.class, 0);
    assert_eq!(p.confidence, 0.75);
    let mut proba = [9.0; 3];
    t.predict_proba_into(&[Some(0.5)], &mut proba);
    assert_eq!(proba, [0.75, 0.25, 0.0]);
    assert_eq!(
        t.predict(&[Some(6.0)]),
        Prediction {
            class: 1,
            confidence: 1.0
        }
    );
}

#[test]
fn threshold_lies_between_the_classes() {
    let d = ds(&[(&[Some(1.0)], "a"), (&[Some(2.0)], "a"), (&[Some(4.0)], "b")]);
    let t = TreeParams::default().fit(&d).unwrap();
    match t.node(0) {
        Some(TreeNode::Split { feature, threshold, .. }) => {
            assert_eq!(feature, 0);
            assert_eq!(threshold, 3.0);
        }
        other => panic!("root is not a split: {other:?}"),
    }
    assert_eq!(t.predict(&[Some(2.9)]).class, 0);
    assert_eq!(t.predict(&[Some(3.1)]).class, 1);
}

#[test]
fn missing_values_go_to_the_learned_side() {
    // Missing values in training all belong to class b, which lies on the high
    // side: missing must go right. Mirror it: missing with a → left.
    let mut rows: Vec<(Vec<Option<f64>>, &str)> = Vec::new();
    for i in 0..10 {
        rows.push((vec![Some(i as f64)], "a"));
        rows.push((vec![Some(100.0 + i as f64)], "b"));
    }
    rows.push((vec![None], "b"));
    rows.push((vec![None], "b"));
    let refs: Vec<(&[Option<f64>], &str)> = rows.iter().map(|(r, c)| (r.as_slice(), *c)).collect();
    let t = TreeParams::default().fit(&ds(&refs)).unwrap();
    assert!(matches!(
        t.node(0),
        Some(TreeNode::Split {
            missing_left: false,
            ..
        })
    ));
    assert_eq!(t.predict(&[None]).class, 1);
    assert_eq!(t.predict(&[]).class, 1, "absent values count as missing");

    let mut rows2 = rows.clone();
    rows2.truncate(20);
    rows2.push((vec![None], "a"));
    rows2.push((vec![None], "a"));
    let refs: Vec<(&[Option<f64>], &str)> = rows2.iter().map(|(r, c)| (r.as_slice(), *c)).collect();
    let t = TreeParams::default().fit(&ds(&refs)).unwrap();
    assert!(matches!(t.node(0), Some(TreeNode::Split { missing_left: true, .. })));
    assert_eq!(t.predict(&[None]).class, 0);
}

#[test]
fn without_missing_in_training_missing_goes_to_the_larger_child() {
    let mut rows: Vec<(Vec<Option<f64>>, &str)> = Vec::new();
    for i in 0..3 {
        rows.push((vec![Some(i as f64)], "a"));
    }
    for i in 0..7 {
        rows.push((vec![Some(10.0 + i as f64)], "b"));
    }
    let refs: Vec<(&[Option<f64>], &str)> = rows.iter().map(|(r, c)| (r.as_slice(), *c)).collect();
    let t = TreeParams::default().fit(&ds(&refs)).unwrap();
    assert_eq!(t.predict(&[None]).class, 1);
}

#[test]
fn depth_and_leaf_limits_are_respected() {
    let d = make(5000, 5, 5, 10, 0.7, 0.0, 3);
    let t = TreeParams {
        max_depth: Some(3),
        ..Default::default()
    }
    .fit(&d)
    .unwrap();
    assert!(t.depth() <= 3);
    assert!(t.n_leaves() <= 8);
    let t = TreeParams {
        min_samples_leaf: 50,
        ..Default::default()
    }
    .fit(&d)
    .unwrap();
    for i in 0..t.n_nodes() {
        if let Some(TreeNode::Leaf { counts }) = t.node(i) {
            assert!(counts.iter().map(|&(_, n)| n).sum::<u32>() >= 50);
        }
    }
    let full = TreeParams::default().fit(&d).unwrap();
    assert!(full.depth() > 3);
}

#[test]
fn entropy_and_feature_subsets_also_learn() {
    let d = make(4000, 6, 3, 20, 3.0, 0.0, 4);
    for p in [
        TreeParams {
            criterion: Criterion::Entropy,
            ..Default::default()
        },
        TreeParams {
            max_features: Some(2),
            seed: 9,
            ..Default::default()
        },
    ] {
        let t = p.fit(&d).unwrap();
        assert_eq!(accuracy(&t, &d), 1.0);
    }
}

#[test]
fn rejects_bad_input() {
    let empty = Dataset::new(vec!["a".into()], vec!["x".into()]);
    assert_eq!(TreeParams::default().fit(&empty), Err(FitError::Empty));
    let d = make(10, 2, 2, 5, 1.0, 0.0, 0);
    let bad = TreeParams {
        max_bins: 256,
        ..Default::default()
    };
    assert!(matches!(bad.fit(&d), Err(FitError::InvalidParameter(_))));
}

#[test]
fn deterministic_given_params() {
    let d = make(3000, 6, 4, 10, 1.0, 0.05, 5);
    let p = TreeParams {
        max_features: Some(3),
        seed: 11,
        ..Default::default()
    };
    assert_eq!(p.fit(&d).unwrap(), p.fit(&d).unwrap());
}

#[test]
fn deserialising_rejects_broken_structure() {
    let t = TreeParams::default().fit(&make(200, 3, 2, 10, 3.0, 0.0, 6)).unwrap();
    let bytes = postcard::to_allocvec(&t).unwrap();
    assert_eq!(postcard::from_bytes::<DecisionTree>(&bytes).unwrap(), t);
    let mut nodes = t.nodes.clone();
    if let Some(n) = nodes.iter_mut().find(|n| n.feature != LEAF) {
        n.next = 0; // a loop back to the root
    }
    assert!(DecisionTree::from_parts(3, 2, nodes, t.leaves.clone()).is_err());
}

#[test]
fn stored_form_is_compact_and_exact() {
    // A deep tree over noisy data: the stored form keeps each feature's
    // thresholds once and about 2 bytes per split plus the leaf counts.
    let d = make(5000, 6, 4, 10, 0.6, 0.1, 13);
    let t = TreeParams::default().fit(&d).unwrap();
    let bytes = postcard::to_allocvec(&t).unwrap();
    let back: DecisionTree = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, t);
    assert_eq!(back.predict_dataset(&d), t.predict_dataset(&d));
    assert!(t.n_leaves() > 300, "{} leaves", t.n_leaves());
    assert!(
        bytes.len() < t.n_leaves() * (4 + 2 + 4) + 6 * 254 * 8,
        "{} bytes for {} leaves",
        bytes.len(),
        t.n_leaves()
    );
}

#[test]
fn leaf_limit_grows_best_first() {
    let d = make(4000, 6, 4, 10, 0.6, 0.05, 14);
    let full = TreeParams::default().fit(&d).unwrap();
    // A limit above the full tree's leaves changes nothing.
    let loose = TreeParams {
        max_leaf_nodes: Some(full.n_leaves() + 1),
        ..Default::default()
    }
    .fit(&d)
    .unwrap();
    assert_eq!(loose, full);
    for cap in [2, 3, 17, 200] {
        let t = TreeParams {
            max_leaf_nodes: Some(cap),
            ..Default::default()
        }
        .fit(&d)
        .unwrap();
        assert_eq!(t.n_leaves(), cap);
        // The first split is the full tree's root.
        assert_eq!(t.node(0), full.node(0));
    }
    let bigger = |cap| {
        let t = TreeParams {
            max_leaf_nodes: Some(cap),
            ..Default::default()
        }
        .fit(&d)
        .unwrap();
        accuracy(&t, &d)
    };
    // More leaves fit the training data better.
    assert!(bigger(8) < bigger(64) && bigger(64) < bigger(512));
    assert!(matches!(
        TreeParams {
            max_leaf_nodes: Some(1),
            ..Default::default()
        }
        .fit(&d),
        Err(FitError::InvalidParameter(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn any_small_data_set_fits_and_predicts_in_range(
        rows in prop::collection::vec((prop::option::of(-5.0f64..5.0), prop::option::of(0.0f64..3.0), 0usize..3), 1..60),
        probe in (prop::option::of(-10.0f64..10.0), prop::option::of(-10.0f64..10.0)),
    ) {
        let mut d = Dataset::new(vec!["a".into(), "b".into()], vec!["x".into(), "y".into(), "z".into()]);
        let g = d.group_index("g");
        for (a, b, c) in &rows {
            d.push_indexed(&[*a, *b], *c, g).unwrap();
        }
        let t = TreeParams::default().fit(&d).unwrap();
        let p = t.predict(&[probe.0, probe.1]);
        prop_assert!(p.class < 3);
        prop_assert!(p.confidence > 0.0 && p.confidence <= 1.0);
        // Every training row lands in a leaf that saw its class.
        for i in 0..d.n_rows() {
            let l = t.leaf_of_row(&d.row(i));
            prop_assert!(t.leaf_counts(l)[d.label(i)] > 0);
        }
    }
}

#[test]
fn batch_prediction_matches_row_by_row() {
    // Overlapping classes and missing values give a deep, uneven tree; 1003
    // rows leave a partial batch at the end.
    let d = make(1003, 5, 4, 10, 0.8, 0.1, 12);
    let t = TreeParams::default().fit(&d).unwrap();
    assert!(t.depth() > 8, "depth {}", t.depth());
    let batch = t.predict_dataset(&d);
    assert_eq!(batch.len(), d.n_rows());
    for (i, p) in batch.iter().enumerate() {
        assert_eq!(*p, t.predict(&d.row(i)), "row {i}");
    }
    // A narrower data set: absent features count as missing.
    let mut narrow = Dataset::new(vec!["f0".into()], d.classes().to_vec());
    let g = narrow.group_index("g");
    for i in 0..20 {
        narrow.push_indexed(&[d.value(i, 0)], d.label(i), g).unwrap();
    }
    for (i, p) in t.predict_dataset(&narrow).iter().enumerate() {
        assert_eq!(*p, t.predict(&[d.value(i, 0)]));
    }
}

/// `d` with only its first `w` columns, or padded with `w - n` extra columns of 7.0.
fn with_width(d: &Dataset, w: usize) -> Dataset {
    let mut out = Dataset::new((0..w).map(|i| format!("f{i}")).collect(), d.classes().to_vec());
    let g = out.group_index("g");
    for i in 0..d.n_rows() {
        let row: Vec<Option<f64>> = (0..w)
            .map(|f| if f < d.n_features() { d.value(i, f) } else { Some(7.0) })
            .collect();
        out.push_indexed(&row, d.label(i), g).unwrap();
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// The batch walk (rows as they are when a group of 8 has no missing
    /// value, copied otherwise; a short last group) lands every row in the
    /// leaf the row-by-row walk does, for trees whose splits send missing
    /// values both ways, on data with few or many missing values and with
    /// fewer, as many or more columns than the model.
    #[test]
    fn batch_walk_matches_row_walk(
        seed in 0u64..1000,
        rows in 1usize..400,
        missing in prop::sample::select(vec![0.0, 0.003, 0.05, 0.4]),
        width in prop::sample::select(vec![0usize, 1, 3, 5, 7]),
    ) {
        let train = make(600, 5, 3, 12, 0.7, 0.15, seed);
        let tree = TreeParams::default().fit(&train).unwrap();
        let forest = crate::forest::ForestParams { n_trees: 3, seed, ..Default::default() }.fit(&train).unwrap();
        let test = with_width(&make(rows, 5, 3, 12, 0.7, missing, seed + 1), width);
        let (tb, fb) = (tree.predict_dataset(&test), forest.predict_dataset(&test));
        prop_assert_eq!(tb.len(), rows);
        prop_assert_eq!(fb.len(), rows);
        let classes = |p: &[Prediction]| p.iter().map(|p| p.class as u32).collect::<Vec<_>>();
        prop_assert_eq!(tree.predict_classes(&test), classes(&tb));
        prop_assert_eq!(forest.predict_classes(&test), classes(&fb));
        for i in 0..rows {
            let row = test.row(i);
            prop_assert_eq!(tb[i], tree.predict(&row), "tree, row {}", i);
            prop_assert_eq!(fb[i], forest.predict(&row), "forest, row {}", i);
        }
    }
}

#[test]
fn trained_trees_send_missing_values_both_ways() {
    // What `batch_walk_matches_row_walk` relies on to cover both layouts.
    let t = TreeParams::default().fit(&make(600, 5, 3, 12, 0.7, 0.15, 3)).unwrap();
    let sides: Vec<bool> = (0..t.n_nodes())
        .filter_map(|i| match t.node(i) {
            Some(TreeNode::Split { missing_left, .. }) => Some(missing_left),
            _ => None,
        })
        .collect();
    assert!(sides.contains(&true) && sides.contains(&false), "{sides:?}");
}

/// Leaves keep only the classes with rows in them: with many classes a
/// tree has many leaves, and dense per-class tables made its memory grow
/// with classes² × rows (300 classes: 2.2 GB for the whole collector run).
#[test]
fn leaves_keep_only_the_classes_they_have() {
    let d = make(2400, 4, 400, 3, 3.0, 0.0, 12);
    let t = TreeParams::default().fit(&d).unwrap();
    assert!(t.n_leaves() > 200, "{}", t.n_leaves());
    // At most one entry per training row; a dense table would have 400 per leaf.
    assert!(t.leaf_entry_count() <= d.n_rows(), "{}", t.leaf_entry_count());
    // The stored form keeps only those entries too: at most 10 bytes per
    // node (feature, cut index, cut point, node bit, leaf size) and 4 per
    // entry (class and count below 16,384 are 2-byte varints), where a dense
    // table would be at least 400 bytes per leaf. It reads back to the same
    // tree, with the same predictions and probabilities.
    let bytes = postcard::to_allocvec(&t).unwrap();
    assert!(
        bytes.len() <= 10 * t.n_nodes() + 4 * t.leaf_entry_count() + 64,
        "{} bytes, {} nodes, {} entries",
        bytes.len(),
        t.n_nodes(),
        t.leaf_entry_count()
    );
    let back: DecisionTree = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, t);
    assert_proba_matches_predict(&t, &d);
}
