//! The engines on the simulated cluster, under paused tokio time (simulated
//! minutes take no real time; what is measured is the engines' own work and
//! the simulator's):
//! * `watcher/burst`: a watcher run in which 10,000 pods spawn at once and
//!   all get a verdict (about 8–10 ticks of 5 s; one runtime per iteration);
//! * `watcher/slowest_tick`: the slowest tick of that run, the one with all
//!   10,000 containers pending that fetches and classifies them
//!   (`WatchStats::slowest_tick`, wall time);
//! * `collector/build_dataset`: the collector's data set (behaviour features)
//!   from 1,000 containers × 10 minutes (60 samples each).

use cad_benches::scaled;
use cad_benches::simdata::{TEN_MINUTES, aged_cluster, collect, paused_runtime, trained_model, watcher_burst};
use cad_core::engine::ModelHandle;
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

fn watcher(c: &mut Criterion) {
    let Ok(model) = trained_model(100) else { return };
    let model = ModelHandle::new(model);
    let pods = scaled(10_000, 50);
    let mut group = c.benchmark_group("watcher");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(pods as u64));
    group.bench_function(format!("burst_{pods}_pods_until_all_classified"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                if let Ok(r) = watcher_burst(black_box(pods), &model) {
                    total += r.wall;
                }
            }
            total
        })
    });
    group.bench_function(format!("slowest_tick_{pods}_pods_pending"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                if let Ok(r) = watcher_burst(black_box(pods), &model) {
                    total += r.stats.slowest_tick;
                }
            }
            total
        })
    });
    group.finish();
}

fn collector(c: &mut Criterion) {
    let n = scaled(1_000, 20);
    let Ok(rt) = paused_runtime() else { return };
    let (clock, sim) = rt.block_on(aged_cluster(n, TEN_MINUTES, 5));
    let mut group = c.benchmark_group("collector");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(15))
        .throughput(Throughput::Elements(n as u64));
    group.bench_function(format!("build_dataset_{n}_containers_x_60_samples"), |b| {
        b.iter(|| rt.block_on(collect(&sim, &clock, TEN_MINUTES)).map(|(d, _)| d.n_rows()))
    });
    group.finish();
}

criterion_group!(benches, watcher, collector);
criterion_main!(benches);
