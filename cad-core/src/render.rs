//! Human-readable views of a model: a text listing in the style of Weka's J48
//! (`feature <= threshold: class (count)`, `|   ` per level, leaf and size
//! totals) and Graphviz DOT.
//!
//! A leaf shows `(total)` or, when some of its training rows belong to other
//! classes, `(total/misclassified)` as J48 does. Trees are walked with an
//! explicit stack, so even a degenerate deep tree cannot overflow the stack.

use crate::bundle::ModelBundle;
use crate::forest::RandomForest;
use crate::model::Model;
use crate::tree::{DecisionTree, TreeNode};
use std::fmt::Write;

fn name(names: &[String], i: usize, prefix: &str) -> String {
    names.get(i).cloned().unwrap_or_else(|| format!("{prefix}{i}"))
}

/// A threshold for reading: up to six decimals, trailing zeros dropped.
fn num(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-3 {
        return format!("{v:e}");
    }
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

fn leaf_label(counts: &[(u32, u32)], classes: &[String]) -> String {
    let total: u64 = counts.iter().map(|&(_, n)| n as u64).sum();
    let (best, n) = counts.iter().fold(
        (0, 0),
        |(bc, bn), &(c, n)| if n > bn { (c as usize, n) } else { (bc, bn) },
    );
    let wrong = total - n as u64;
    let class = name(classes, best, "class");
    if wrong == 0 {
        format!("{class} ({total}.0)")
    } else {
        format!("{class} ({total}.0/{wrong}.0)")
    }
}

/// The tree's J48-style listing, with feature and class names.
pub fn tree_text(tree: &DecisionTree, features: &[String], classes: &[String]) -> String {
    let mut out = String::from("cad decision tree\n------------------\n\n");
    match tree.node(0) {
        Some(TreeNode::Leaf { counts }) => {
            let _ = writeln!(out, ": {}", leaf_label(counts, classes));
        }
        Some(TreeNode::Split { .. }) => {
            // (split node, left side?, depth)
            let mut stack = vec![(0usize, false, 0usize), (0, true, 0)];
            while let Some((i, left, depth)) = stack.pop() {
                let Some(TreeNode::Split {
                    feature,
                    threshold,
                    left: l,
                    right: r,
                    ..
                }) = tree.node(i)
                else {
                    continue;
                };
                let child = if left { l } else { r };
                let op = if left { "<=" } else { ">" };
                out.push_str(&"|   ".repeat(depth));
                let _ = write!(out, "{} {op} {}", name(features, feature, "f"), num(threshold));
                match tree.node(child) {
                    Some(TreeNode::Leaf { counts }) => {
                        let _ = writeln!(out, ": {}", leaf_label(counts, classes));
                    }
                    _ => {
                        out.push('\n');
                        stack.push((child, false, depth + 1));
                        stack.push((child, true, depth + 1));
                    }
                }
            }
        }
        None => {}
    }
    let _ = write!(
        out,
        "\nNumber of Leaves  : \t{}\n\nSize of the tree : \t{}\n",
        tree.n_leaves(),
        tree.n_nodes()
    );
    out
}

/// Escapes a string for a double-quoted DOT label.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// The tree as a Graphviz DOT digraph: inner nodes show the feature, edges
/// the comparison (and which side takes missing values), leaves the class
/// with its counts.
pub fn tree_dot(tree: &DecisionTree, features: &[String], classes: &[String]) -> String {
    let mut out = String::from("digraph tree {\n  node [shape=box, fontname=\"Helvetica\"];\n");
    for i in 0..tree.n_nodes() {
        match tree.node(i) {
            Some(TreeNode::Leaf { counts }) => {
                let _ = writeln!(
                    out,
                    "  n{i} [label=\"{}\", shape=ellipse];",
                    esc(&leaf_label(counts, classes))
                );
            }
            Some(TreeNode::Split {
                feature,
                threshold,
                left,
                right,
                missing_left,
            }) => {
                let t = num(threshold);
                let (ml, mr) = if missing_left {
                    (", missing", "")
                } else {
                    ("", ", missing")
                };
                let _ = writeln!(out, "  n{i} [label=\"{}\"];", esc(&name(features, feature, "f")));
                let _ = writeln!(out, "  n{i} -> n{left} [label=\"{}\"];", esc(&format!("<= {t}{ml}")));
                let _ = writeln!(out, "  n{i} -> n{right} [label=\"{}\"];", esc(&format!("> {t}{mr}")));
            }
            None => {}
        }
    }
    out.push_str("}\n");
    out
}

fn forest_summary(f: &RandomForest) -> String {
    let depths: Vec<usize> = (0..f.n_trees()).map(|i| f.tree_depth(i)).collect();
    let leaves: Vec<usize> = (0..f.n_trees()).map(|i| f.tree_leaves(i)).collect();
    let stats = |v: &[usize]| {
        let min = v.iter().min().copied().unwrap_or(0);
        let max = v.iter().max().copied().unwrap_or(0);
        let mean = v.iter().sum::<usize>() as f64 / v.len().max(1) as f64;
        format!("min {min}, mean {mean:.1}, max {max}")
    };
    format!(
        "cad random forest\n------------------\n\nTrees  : \t{}\nDepth  : \t{}\nLeaves : \t{}\n",
        f.n_trees(),
        stats(&depths),
        stats(&leaves)
    )
}

/// Text view of any model: the tree listing; for a forest a summary and its
/// first tree; smartcore trees are not rendered (their structure is private).
pub fn model_text(model: &Model, features: &[String], classes: &[String]) -> String {
    match model {
        Model::Tree(t) => tree_text(t, features, classes),
        Model::Forest(f) => {
            let mut s = forest_summary(f);
            if let Some(t) = f.tree(0) {
                s.push_str("\nFirst tree:\n\n");
                s.push_str(&tree_text(&t, features, classes));
            }
            s
        }
        #[cfg(feature = "smartcore")]
        Model::Smartcore(_) => "smartcore decision tree (its structure is not exposed)\n".into(),
    }
}

/// DOT view of any model: the tree; a forest's first tree; an empty graph for smartcore.
pub fn model_dot(model: &Model, features: &[String], classes: &[String]) -> String {
    match model {
        Model::Tree(t) => tree_dot(t, features, classes),
        Model::Forest(f) => match f.tree(0) {
            Some(t) => tree_dot(&t, features, classes),
            None => "digraph tree {\n}\n".into(),
        },
        #[cfg(feature = "smartcore")]
        Model::Smartcore(_) => "digraph tree {\n  label=\"smartcore tree (not exposed)\";\n}\n".into(),
    }
}

fn column_names(b: &ModelBundle) -> Vec<String> {
    b.feature_set.columns.iter().map(|c| c.name.clone()).collect()
}

/// [`model_text`] with the bundle's column and class names.
pub fn bundle_text(b: &ModelBundle) -> String {
    model_text(&b.model, &column_names(b), &b.classes)
}

/// [`model_dot`] with the bundle's column and class names.
pub fn bundle_dot(b: &ModelBundle) -> String {
    model_dot(&b.model, &column_names(b), &b.classes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::ForestParams;
    use crate::tree::TreeParams;
    use crate::{Dataset, Fit};

    /// Like the old J48 model: image size separates nginx, then the pod name
    /// hash and the log size separate the rest; one noisy apache row.
    fn data() -> Dataset {
        let mut d = Dataset::new(vec!["imageSizeBytes".into(), "logs\"fs\"Used".into()], vec![]);
        let rows: &[(f64, f64, &str, usize)] = &[
            (100.0, 5.0, "nginx", 6),
            (200.0, 1.0, "postgresql", 3),
            (200.0, 9.0, "apache", 3),
            (200.0, 9.0, "postgresql", 1),
            (300.0, 1.0, "mysql", 2),
            (300.0, 9.0, "mongodb", 2),
        ];
        for (i, &(a, b, c, n)) in rows.iter().enumerate() {
            for _ in 0..n {
                d.push(&[Some(a), Some(b)], c, &format!("g{i}")).unwrap();
            }
        }
        d
    }

    #[test]
    fn text_looks_like_j48() {
        let d = data();
        let t = TreeParams::default().fit(&d).unwrap();
        let s = tree_text(&t, d.feature_names(), d.classes());
        let expected = "imageSizeBytes <= 150: nginx (6.0)\n\
                        imageSizeBytes > 150\n\
                        |   imageSizeBytes <= 250\n\
                        |   |   logs\"fs\"Used <= 3: postgresql (3.0)\n\
                        |   |   logs\"fs\"Used > 3: apache (4.0/1.0)\n\
                        |   imageSizeBytes > 250\n\
                        |   |   logs\"fs\"Used <= 3: mysql (2.0)\n\
                        |   |   logs\"fs\"Used > 3: mongodb (2.0)\n";
        assert!(s.contains(expected), "{s}");
        assert!(s.contains("Number of Leaves  : \t5\n"), "{s}");
        assert!(s.contains("Size of the tree : \t9\n"), "{s}");
    }

    #[test]
    fn a_single_leaf_tree_is_one_line() {
        let mut d = Dataset::new(vec!["x".into()], vec![]);
        d.push(&[Some(1.0)], "nginx", "g").unwrap();
        let t = TreeParams::default().fit(&d).unwrap();
        assert!(tree_text(&t, d.feature_names(), d.classes()).contains("\n: nginx (1.0)\n"));
    }

    #[test]
    fn dot_is_balanced_and_escaped() {
        let d = data();
        let t = TreeParams::default().fit(&d).unwrap();
        let s = tree_dot(&t, d.feature_names(), d.classes());
        assert!(s.starts_with("digraph tree {\n") && s.ends_with("}\n"));
        assert_eq!(s.matches('{').count(), s.matches('}').count());
        assert!(s.contains(r#"[label="logs\"fs\"Used"]"#), "{s}");
        assert_eq!(s.matches("->").count(), t.n_nodes() - 1);
        assert_eq!(s.matches("shape=ellipse").count(), t.n_leaves());
        // Every quote that is not escaped opens or closes a label: an even count.
        let unescaped = s.replace("\\\\", "").replace("\\\"", "");
        assert_eq!(unescaped.matches('"').count() % 2, 0);
        assert!(s.contains("missing"));
    }

    #[test]
    fn forest_text_has_a_summary_and_its_first_tree() {
        let d = data();
        let f = ForestParams {
            n_trees: 3,
            ..Default::default()
        }
        .fit(&d)
        .unwrap();
        let s = model_text(&Model::Forest(f), d.feature_names(), d.classes());
        assert!(s.contains("Trees  : \t3\n"), "{s}");
        assert!(s.contains("Depth  : \tmin "), "{s}");
        assert!(s.contains("First tree:"), "{s}");
        assert!(s.contains("Number of Leaves"), "{s}");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(133122553.0), "133122553");
        assert_eq!(num(1.5), "1.5");
        assert_eq!(num(-0.0), "0");
        assert_eq!(num(0.00002), "2e-5");
    }
}
