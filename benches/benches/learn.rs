//! Learning: tree training (10k, 100k, 1M rows × 15 features), a forest of 100
//! trees on 10k and 100k rows with 1 and 2 threads and on 1M rows with 2,
//! prediction in ns per row (one row
//! at a time through `Classifier::predict`, and a whole data set through
//! `predict_dataset`, and through `predict_classes` as the evaluation times
//! it), and model bundle encoding and decoding.
//!
//! The data is `cad_benches::synth` (the distribution of
//! `shared/bench/make_dataset.py`), generated in memory, and for the default
//! forest also `cad_benches::noisy` (100,000 rows of the compact-forest
//! issue's noisy data: 20 features, label noise, missing values), where the
//! trees reach their leaf limit: `*/forest100_noisy/*`.

use cad_benches::{feature_set_of, full_run, noisy, scaled, synth};
use cad_core::bundle::ModelBundle;
use cad_core::forest::{ForestParams, RandomForest};
use cad_core::model::Model;
use cad_core::tree::{DecisionTree, TreeParams};
use cad_core::{Classifier, Dataset, Fit, Timestamp};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Duration;

/// Rows of the prediction and bundle benchmarks' training data.
fn predict_rows() -> usize {
    scaled(100_000, 3_000)
}

fn forest_params(threads: usize) -> ForestParams {
    ForestParams {
        n_trees: scaled(100, 4),
        threads,
        ..ForestParams::default()
    }
}

/// The 100k-row split, a tree and a forest on it: built once, shared.
struct Fitted {
    train: Dataset,
    test: Dataset,
    tree: DecisionTree,
    forest: RandomForest,
}

/// The noisy data's split (70/30 by group) and the default forest on it.
struct Noisy {
    train: Dataset,
    test: Dataset,
    forest: RandomForest,
}

fn noisy_fitted() -> Option<&'static Noisy> {
    static F: OnceLock<Option<Noisy>> = OnceLock::new();
    F.get_or_init(|| {
        let (train, test) = noisy::split(predict_rows(), 0, 0.3);
        let forest = forest_params(2).fit(&train).ok()?;
        Some(Noisy { train, test, forest })
    })
    .as_ref()
}

fn fitted() -> Option<&'static Fitted> {
    static F: OnceLock<Option<Fitted>> = OnceLock::new();
    F.get_or_init(|| {
        let (train, test) = synth::split(predict_rows(), 7);
        let tree = TreeParams::default().fit(&train).ok()?;
        let forest = forest_params(2).fit(&train).ok()?;
        Some(Fitted {
            train,
            test,
            tree,
            forest,
        })
    })
    .as_ref()
}

fn train(c: &mut Criterion) {
    // Flat sampling: ten fits of equal count, rather than criterion's linear
    // 1+2+…+10 = 55, keeps the slow fits within the suite's time.
    let mut group = c.benchmark_group("train/tree");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1));
    for (full, quick, secs) in [(10_000, 600, 3), (100_000, 1_200, 8), (1_000_000, 2_400, 10)] {
        let rows = scaled(full, quick);
        let data = synth::dataset(rows, 1);
        group.throughput(Throughput::Elements(data.n_rows() as u64));
        group.measurement_time(Duration::from_secs(secs));
        group.bench_function(format!("{full}_rows"), |b| {
            b.iter(|| TreeParams::default().fit(black_box(&data)).map(|t| t.n_nodes()))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("train/forest100");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1));
    // 1M rows on 2 threads only: ten fits take ~110 s already.
    let sizes: [(usize, usize, &[usize], u64); 3] = [
        (10_000, 600, &[1, 2], 5),
        (100_000, 3_000, &[1, 2], 20),
        (1_000_000, 2_400, &[2], 120),
    ];
    let noisy = noisy::dataset(scaled(100_000, 3_000), 1);
    group
        .throughput(Throughput::Elements(noisy.n_rows() as u64))
        .measurement_time(Duration::from_secs(20));
    for threads in [1, 2] {
        let params = forest_params(threads);
        group.bench_function(format!("noisy_100000_rows/threads_{threads}"), |b| {
            b.iter(|| params.fit(black_box(&noisy)).map(|f| f.n_trees()))
        });
    }
    for (full, quick, threads, secs) in sizes {
        let data = synth::dataset(scaled(full, quick), 1);
        group
            .throughput(Throughput::Elements(data.n_rows() as u64))
            .measurement_time(Duration::from_secs(secs));
        for &threads in threads {
            let params = forest_params(threads);
            group.bench_function(format!("{full}_rows/threads_{threads}"), |b| {
                b.iter(|| params.fit(black_box(&data)).map(|f| f.n_trees()))
            });
        }
    }
    group.finish();
}

/// Up to 4,096 test rows as the watcher hands them to a classifier.
fn rows_of(test: &Dataset) -> Vec<Vec<Option<f64>>> {
    (0..test.n_rows().min(4_096)).map(|i| test.row(i)).collect()
}

fn predict(c: &mut Criterion) {
    let Some(f) = fitted() else { return };
    let rows = rows_of(&f.test);
    let tree_model = Model::Tree(f.tree.clone());
    let dyn_model: &dyn Classifier = &tree_model;
    let mut group = c.benchmark_group("predict");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    group.throughput(Throughput::Elements(rows.len() as u64));
    group.bench_function("tree/single_row", |b| {
        b.iter(|| rows.iter().map(|r| f.tree.predict(black_box(r)).class).sum::<usize>())
    });
    group.bench_function("tree/single_row_via_dyn_model", |b| {
        b.iter(|| {
            rows.iter()
                .map(|r| dyn_model.predict(black_box(r)).class)
                .sum::<usize>()
        })
    });
    group.bench_function("forest100/single_row", |b| {
        b.iter(|| rows.iter().map(|r| f.forest.predict(black_box(r)).class).sum::<usize>())
    });

    group.throughput(Throughput::Elements(f.test.n_rows() as u64));
    group.bench_function("tree/batch", |b| b.iter(|| f.tree.predict_dataset(black_box(&f.test))));
    group.bench_function("tree/batch_classes", |b| {
        b.iter(|| f.tree.predict_classes(black_box(&f.test)))
    });
    group.bench_function("forest100/batch", |b| {
        b.iter(|| f.forest.predict_dataset(black_box(&f.test)))
    });
    group.bench_function("forest100/batch_classes", |b| {
        b.iter(|| f.forest.predict_classes(black_box(&f.test)))
    });

    // The default forest on the noisy data: single rows as the watcher
    // classifies them, and batches on 1 and 2 threads.
    let Some(n) = noisy_fitted() else { return };
    let rows = rows_of(&n.test);
    let model = Model::Forest(n.forest.clone());
    let dyn_model: &dyn Classifier = &model;
    group.throughput(Throughput::Elements(rows.len() as u64));
    group.bench_function("forest100_noisy/single_row_via_dyn_model", |b| {
        b.iter(|| {
            rows.iter()
                .map(|r| dyn_model.predict(black_box(r)).class)
                .sum::<usize>()
        })
    });
    group.throughput(Throughput::Elements(n.test.n_rows() as u64));
    for threads in [1, 2] {
        let mut forest = n.forest.clone();
        forest.set_threads(threads);
        group.bench_function(format!("forest100_noisy/batch_classes/threads_{threads}"), |b| {
            b.iter(|| forest.predict_classes(black_box(&n.test)))
        });
    }
    group.finish();
}

fn bundle(c: &mut Criterion) {
    let Some(f) = fitted() else { return };
    let mut models = vec![
        (
            "tree",
            f.train.classes().to_vec(),
            feature_set_of(&f.train),
            Model::Tree(f.tree.clone()),
        ),
        (
            "forest100",
            f.train.classes().to_vec(),
            feature_set_of(&f.train),
            Model::Forest(f.forest.clone()),
        ),
    ];
    if let Some(n) = noisy_fitted() {
        models.push((
            "forest100_noisy",
            n.train.classes().to_vec(),
            feature_set_of(&n.train),
            Model::Forest(n.forest.clone()),
        ));
    }
    let mut group = c.benchmark_group("bundle");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (name, classes, features, model) in models {
        let b = ModelBundle::new(
            classes,
            features,
            model,
            Timestamp::from_secs(1_700_000_000),
            "synthetic data, cad-benches",
        );
        let (Ok(bytes), Ok(text)) = (b.to_bytes(), b.to_base64()) else {
            return;
        };
        if full_run() {
            println!(
                "bundle size: {name}: {} bytes, {} bytes of base64",
                bytes.len(),
                text.len()
            );
        }
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("{name}/to_bytes"), |bn| bn.iter(|| black_box(&b).to_bytes()));
        group.bench_function(format!("{name}/from_bytes"), |bn| {
            bn.iter(|| ModelBundle::from_bytes(black_box(&bytes)))
        });
        group.bench_function(format!("{name}/to_base64"), |bn| bn.iter(|| black_box(&b).to_base64()));
        group.bench_function(format!("{name}/from_base64"), |bn| {
            bn.iter(|| ModelBundle::from_base64(black_box(&text)))
        });
    }
    group.finish();
}

criterion_group!(benches, train, predict, bundle);
criterion_main!(benches);
