//! Feature extraction: rows per second for the `behaviour` and `legacy` sets on
//! simulated containers with 10 minutes (~60 samples per metric family) each,
//! the collector's case (1,000 containers in a real run).

use cad_benches::simdata::{TEN_MINUTES, containers};
use cad_core::FeatureSet;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn extraction(c: &mut Criterion) {
    let n = cad_benches::scaled(1_000, 20);
    let Ok(data) = containers(n, TEN_MINUTES) else {
        return;
    };
    let mut group = c.benchmark_group(format!("features/{n}_containers_x_10min"));
    for set in [FeatureSet::behaviour(), FeatureSet::legacy()] {
        let rows: usize = data.iter().map(|d| set.rows(&d.input()).len()).sum();
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_function(format!("{}/rows", set.name), |b| {
            b.iter(|| {
                let mut n = 0;
                for d in &data {
                    n += black_box(set.rows(black_box(&d.input()))).len();
                }
                n
            })
        });
        // One row per container: that of the first complete window, and the
        // watcher's, that of the latest window (all samples aligned once).
        group.throughput(Throughput::Elements(data.len() as u64));
        group.bench_function(format!("{}/first_row", set.name), |b| {
            b.iter(|| {
                data.iter()
                    .filter(|d| black_box(set.first_row(black_box(&d.input()))).is_some())
                    .count()
            })
        });
        group.bench_function(format!("{}/latest_row", set.name), |b| {
            b.iter(|| {
                data.iter()
                    .filter(|d| black_box(set.latest_row(black_box(&d.input()), set.window)).is_some())
                    .count()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(5));
    targets = extraction
}
criterion_main!(benches);
