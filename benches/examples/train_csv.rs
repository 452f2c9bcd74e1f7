//! Stand-in for `cad-collector --from-file` while that program is being
//! written: reads a CSV (`class` = label, `group` = container, other columns
//! features) with `cad_core::io::csv`, splits it by group, fits, predicts the
//! held-out groups and writes `DIR/report.json` with the fields
//! `scripts/compare-sklearn.sh` reads. Takes the same flags as the collector:
//!
//! ```text
//! cargo run --release -p cad-benches --example train_csv -- --from-file FILE.csv \
//!     --algorithm tree|forest [--trees 100 --threads 1|2] --eval grouped-split \
//!     --training-ratio 0.7 --seed 0 --out-dir DIR
//! ```

use cad_core::forest::ForestParams;
use cad_core::model::Algorithm;
use cad_core::{Classifier, Dataset};
use std::path::PathBuf;
use std::time::Instant;

struct Args {
    file: PathBuf,
    algorithm: String,
    trees: usize,
    threads: usize,
    training_ratio: f64,
    seed: u64,
    out_dir: PathBuf,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        file: PathBuf::new(),
        algorithm: "tree".into(),
        trees: 100,
        threads: 1,
        training_ratio: 0.7,
        seed: 0,
        out_dir: PathBuf::from("cad-out"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |s: String| s.parse::<f64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--from-file" => a.file = value()?.into(),
            "--algorithm" => a.algorithm = value()?,
            "--trees" => a.trees = num(value()?)? as usize,
            "--threads" => a.threads = num(value()?)? as usize,
            "--training-ratio" => a.training_ratio = num(value()?)?,
            "--seed" => a.seed = num(value()?)? as u64,
            "--out-dir" => a.out_dir = value()?.into(),
            "--eval" => {
                let v = value()?;
                if v != "grouped-split" {
                    return Err(format!("--eval {v}: only grouped-split"));
                }
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.file.as_os_str().is_empty() {
        return Err("--from-file is required".into());
    }
    Ok(a)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = parse()?;
    let t = Instant::now();
    let data = cad_core::io::csv::from_path(&a.file)?.data;
    let read_s = t.elapsed().as_secs_f64();
    let (train_rows, test_rows) = cad_core::split::grouped_split(&data, 1.0 - a.training_ratio, a.seed)?;
    let (train, test): (Dataset, Dataset) = (data.select(&train_rows), data.select(&test_rows));
    drop(data);
    let algorithm = match a.algorithm.as_str() {
        "forest" => Algorithm::Forest(ForestParams {
            n_trees: a.trees,
            threads: a.threads,
            seed: a.seed,
            ..ForestParams::default()
        }),
        name => Algorithm::by_name(name).ok_or_else(|| format!("unknown algorithm {name}"))?,
    };
    let t = Instant::now();
    let model = algorithm.fit(&train)?;
    let fit_s = t.elapsed().as_secs_f64();
    // Median of three batch predictions, as sklearn_baseline.py does.
    let mut ns = Vec::new();
    let mut predictions = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        predictions = model.predict_dataset(&test);
        ns.push(t.elapsed().as_nanos() as f64 / test.n_rows().max(1) as f64);
    }
    let runs = ns.clone();
    ns.sort_by(f64::total_cmp);
    let correct = predictions
        .iter()
        .enumerate()
        .filter(|(i, p)| p.class == test.label(*i))
        .count();
    let (leaves, depth) = match &model {
        cad_core::model::Model::Tree(t) => (Some(t.n_leaves()), Some(t.depth())),
        _ => (None, None),
    };
    // The watcher's path: one row at a time through `Classifier::predict`.
    let rows: Vec<_> = (0..test.n_rows().min(20_000)).map(|i| test.row(i)).collect();
    let t = Instant::now();
    let classes: usize = rows.iter().map(|r| model.predict(std::hint::black_box(r)).class).sum();
    let single_ns = t.elapsed().as_nanos() as f64 / rows.len().max(1) as f64;
    std::hint::black_box(classes);
    let report = serde_json::json!({
        "program": "cad-benches example train_csv (stand-in for cad-collector --from-file)",
        "algorithm": algorithm.name(),
        "trees": matches!(algorithm, Algorithm::Forest(_)).then_some(a.trees),
        "threads": a.threads,
        "read_seconds": read_s,
        "fit_seconds": fit_s,
        "predict_ns_per_row": ns[ns.len() / 2],
        "predict_runs_ns_per_row": runs,
        "single_row_predict_ns": single_ns,
        "tree_leaves": leaves,
        "tree_depth": depth,
        "accuracy": correct as f64 / test.n_rows().max(1) as f64,
        "train_rows": train.n_rows(),
        "test_rows": test.n_rows(),
    });
    std::fs::create_dir_all(&a.out_dir)?;
    std::fs::write(a.out_dir.join("report.json"), serde_json::to_string_pretty(&report)?)?;
    println!("{report}");
    Ok(())
}
