//! The open-set model's verdict on one row, as the watcher asks for it
//! (`OpenSetModel::judge`: the kNN search of every class's reference, the
//! open-set forest, the p-values and the novelty test's p-values), and on a
//! run of two windows (`window_scores` of each, then `judge_windows`).
//!
//! The model is the default one (`NoveltyParams::default()`: combined score,
//! either-unclaimed novelty test, two-window calibration) fitted on the
//! behaviour features of simulated containers; the judged rows are those of
//! another simulated cluster, each claiming its own class.

use cad_benches::{scaled, simdata};
use cad_core::openset::{DEFAULT_FALSE_ANOMALY_RATE, NoveltyParams};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

fn judge(c: &mut Criterion) {
    let (Ok(train), Ok(test)) = (
        simdata::dataset(scaled(200, 40), 2),
        simdata::dataset(scaled(100, 20), 3),
    ) else {
        return;
    };
    let Ok(model) = NoveltyParams::default().fit(&train) else {
        return;
    };
    let rows: Vec<(Vec<Option<f64>>, usize)> = (0..test.n_rows().min(1_024))
        .map(|i| (test.row(i), test.label(i)))
        .collect();
    let alpha = DEFAULT_FALSE_ANOMALY_RATE;
    let mut group = c.benchmark_group("openset");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(rows.len() as u64));
    group.bench_function("judge/single_row", |b| {
        b.iter(|| {
            rows.iter()
                .filter(|(r, c)| model.judge(black_box(r), Some(*c), alpha).kind.is_anomaly())
                .count()
        })
    });
    group.bench_function("judge_windows/2_windows", |b| {
        b.iter(|| {
            rows.windows(2)
                .filter(|w| {
                    let scores: Vec<_> = w
                        .iter()
                        .filter_map(|(r, _)| model.window_scores(black_box(r)))
                        .collect();
                    model.judge_windows(&scores, Some(w[1].1), alpha).kind.is_anomaly()
                })
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, judge);
criterion_main!(benches);
