//! The open-set model's verdict on one row (`OpenSetModel::judge`: the kNN
//! search of every class's reference, the open-set forest, the p-values and
//! the novelty test's p-values), and on a run of two windows
//! (`window_scores` of each, then `judge_windows`).
//!
//! The model is the default one (`NoveltyParams::default()`: combined score,
//! either-unclaimed novelty test, two-window calibration) fitted on the
//! behaviour features of simulated containers; the judged rows are those of
//! another simulated cluster, each claiming its own class.
//!
//! `watcher_verdict/…`: the watcher's whole verdict with its default
//! two-window confirmation, a trained model (`simdata::calibrated_model`: tree,
//! open-set model, the open-set forest's calibrated confidence) judging
//! each container on two consecutive windows — the classifier's
//! prediction, the confidence and the open-set judgement of the first
//! window, then of both. `scored_once` is the watcher's path
//! (`ActiveModel::verdict_of_next_window`: each row scored once);
//! `two_calls` the path before it (`window_scores`, then
//! `verdict_of_windows`, which scores the row again).

use cad_benches::{scaled, simdata};
use cad_core::engine::WatcherConfig;
use cad_core::openset::{DEFAULT_FALSE_ANOMALY_RATE, NoveltyParams};
use cad_core::pod::{PodId, PodInfo};
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

fn watcher_verdict(c: &mut Criterion) {
    let (Ok(model), Ok(test)) = (
        simdata::calibrated_model(scaled(200, 40)),
        simdata::dataset(scaled(100, 20), 3),
    ) else {
        return;
    };
    if !model.judges_windows(2) {
        return;
    }
    // Pairs of rows, each pair a container's two windows claiming its class.
    let rows = simdata::claimed_rows(&test, 1_024);
    let pod = PodInfo::new(PodId::new("bench", "pod", "uid"));
    let watcher = WatcherConfig::default();
    let subject = |claimed: &str| simdata::subject(&pod, claimed);
    let mut group = c.benchmark_group("watcher_verdict");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(rows.len() as u64));
    group.bench_function("2_windows/scored_once", |b| {
        b.iter(|| {
            let mut anomalies = 0;
            for pair in rows.chunks(2) {
                let mut scores = Vec::new();
                for (row, claimed) in pair {
                    let v = model.verdict_of_next_window(black_box(row), &mut scores, subject(claimed), &watcher);
                    anomalies += usize::from(v.is_anomaly());
                }
            }
            anomalies
        })
    });
    group.bench_function("2_windows/two_calls", |b| {
        b.iter(|| {
            let mut anomalies = 0;
            for pair in rows.chunks(2) {
                let mut scores = Vec::new();
                for (row, claimed) in pair {
                    scores.extend(model.window_scores(black_box(row)));
                    let v = model.verdict_of_windows(row, &scores, subject(claimed), &watcher);
                    anomalies += usize::from(v.is_anomaly());
                }
            }
            anomalies
        })
    });
    group.finish();
}

criterion_group!(benches, judge, watcher_verdict);
criterion_main!(benches);
