//! Metric generation for one simulated container, without stored history.
//!
//! Every value is a pure function of the pod's and container's seeds, the
//! sample index and the time, so any window — a pod's first minute or its
//! last minute after weeks — costs O(samples in it):
//! * sample times: `first + k·interval + jitter(family, k)`;
//! * rates: `base + act × a(t)` plus start-up phases, where `a(t)` is the
//!   pod's activity (its workload shape: idle, steady, bursts, batches);
//! * counters: the exact integral of the rate (closed form, monotone by
//!   construction) plus a bounded per-sample term too small to break
//!   monotonicity; gauges: the level plus per-sample noise hashed from
//!   `(seed, metric, k)`;
//! * memory: RSS that grows with the work done since the container started
//!   (a buffer pool warming), usage = RSS / ratio, working set between;
//! * the node: noisy neighbours take a share of CPU-bound work (the same
//!   share at the same time for every pod of the node), a node without
//!   block-I/O metrics reports none, a node's stats path may write 0 for
//!   fields it does not know, the kubelet may rotate logs;
//! * Telegraf's first-scrape zero: `cpu_usage_nanocores` is 0 at each
//!   container's first scrape and the first after a restart (the kubelet
//!   has no rate yet, Telegraf writes its absence as 0);
//! * restarts: time since the pod started is cut in epochs; a hash of
//!   `(seed, epoch)` says whether the container restarted in it and when.
//!   Container counters, memory and logs restart; the pod's network and
//!   volumes (owned by the pod, not the container) do not.

use super::profile::{ContainerModel, NodeModel, Op, PodModel};
use cad_core::metric::{Metric, Sample};
use cad_core::time::Timestamp;
use std::sync::Arc;

/// Bytes of a memory page: one page fault per page first touched.
const PAGE: f64 = 4096.0;
/// Length of a restart epoch: at most one restart per epoch.
const RESTART_EPOCH_MS: i64 = 600_000;
/// Telegraf-like jitter: each family's timestamps move by up to this.
const MAX_JITTER_MS: i64 = 2_000;
/// Relative size of the per-sample term added to counters, as a fraction of
/// one interval's increase at the floor rate. Must stay below `1 - 1/4`
/// (see [`PodShared::jitter_max_ms`]) for counters to stay monotone.
const COUNTER_NOISE: f64 = 0.2;
const _: () = assert!(COUNTER_NOISE < 0.75);

/// A measurement family: reported together, with its own timestamp jitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    /// `kubernetes_pod_container`: CPU, memory, file systems.
    Container = 1,
    /// `kubernetes_pod_network`.
    Network = 2,
    /// `kubernetes_pod_volume`.
    Volume = 3,
    /// `docker_container_blkio`.
    Blkio = 4,
}

/// SplitMix64's finaliser: a fast, well-mixed 64-bit hash. Hand-written
/// because what is needed is a *stateless* hash of (seed, tag, index); seeding
/// a ChaCha generator per sample would cost far more for the same result.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn hash(seed: u64, tag: u64, idx: u64) -> u64 {
    mix(mix(seed ^ tag.wrapping_mul(0xD6E8_FEB8_6659_FD93)).wrapping_add(idx))
}

/// Uniform in `[0, 1)`.
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Roughly standard normal (mean 0, variance 1), bounded to ±3.47: the
/// Irwin–Hall sum of four uniforms taken from the four 16-bit parts of `h`.
fn noise(h: u64) -> f64 {
    let s: f64 = (0..4).map(|i| ((h >> (16 * i)) & 0xFFFF) as f64 / 65_536.0).sum();
    (s - 2.0) * 3f64.sqrt()
}

/// Tags that keep the noise of different metrics apart.
mod tag {
    pub const JITTER: u64 = 100;
    pub const RESTART: u64 = 200;
    pub const RESTART_AT: u64 = 201;
    pub const CACHE: u64 = 202;
    pub const CPU: u64 = 1;
    pub const CPU_COUNTER: u64 = 2;
    pub const MEMORY: u64 = 3;
    pub const WORKING_SET: u64 = 4;
    pub const RSS: u64 = 5;
    pub const FAULTS: u64 = 6;
    pub const RX: u64 = 7;
    pub const TX: u64 = 8;
    pub const VOLUME: u64 = 9;
    pub const BLK_READ: u64 = 10;
    pub const BLK_WRITE: u64 = 11;
}

/// What every container of one pod shares: times, the workload, the node,
/// and the pod-level rates (network, volume).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PodShared {
    pub seed: u64,
    /// When the pod started.
    pub start: Timestamp,
    /// Earliest time of the first sample (start plus the metrics delay).
    pub first: Timestamp,
    pub interval_ms: i64,
    /// A silent pod reports nothing.
    pub silent: bool,
    pub model: PodModel,
    pub node: NodeModel,
    /// Network rates of all containers together: (rx, tx) constant and per activity.
    pub net_base: (f64, f64),
    pub net_act: (f64, f64),
    /// The app container's writes (constant, per activity) and start-up, for the volume.
    pub write_base: f64,
    pub write_act: f64,
    /// Seconds between the app container's saves (0: it writes as it works).
    pub write_every: f64,
    pub startup_secs: f64,
    /// Whether the activity is CPU-bound (noisy neighbours take a share).
    pub cpu_bound: bool,
}

impl PodShared {
    /// Builds the pod-level part from its containers' models.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        seed: u64,
        start: Timestamp,
        first: Timestamp,
        interval_ms: i64,
        silent: bool,
        model: PodModel,
        node: NodeModel,
        containers: &[ContainerModel],
    ) -> Self {
        let sum = |f: fn(&Op) -> f64, act: bool| -> f64 {
            containers.iter().map(|c| f(if act { &c.act } else { &c.base })).sum()
        };
        let app = containers.first();
        PodShared {
            seed,
            start,
            first,
            interval_ms: interval_ms.max(1),
            silent,
            net_base: (
                model.probe_rx + sum(|o| o.rx, false),
                model.probe_tx + sum(|o| o.tx, false),
            ),
            net_act: (sum(|o| o.rx, true), sum(|o| o.tx, true)),
            write_base: app.map_or(0.0, |a| a.base.write),
            write_act: app.map_or(0.0, |a| a.act.write),
            write_every: app.map_or(0.0, |a| a.write_every),
            startup_secs: app.map_or(0.0, ContainerModel::startup_secs),
            cpu_bound: app.is_some_and(|a| a.cpu_bound),
            model,
            node,
        }
    }

    /// Jitter bound: 2 s, or a quarter of the interval if that is smaller, so
    /// a family's samples keep their order and spacing.
    fn jitter_max_ms(&self) -> i64 {
        MAX_JITTER_MS.min(self.interval_ms / 4)
    }

    /// Calls `f(k, time)` for every sample `k` of `family` with `from <= time < to`.
    fn family(&self, seed: u64, family: Family, from: Timestamp, to: Timestamp, mut f: impl FnMut(u64, Timestamp)) {
        let iv = self.interval_ms;
        let jmax = self.jitter_max_ms();
        let lo = from
            .0
            .saturating_sub(self.first.0)
            .saturating_sub(jmax)
            .div_euclid(iv)
            .max(0);
        let hi = to.0.saturating_sub(self.first.0).div_euclid(iv).max(0);
        for k in lo..=hi {
            let t = self.sample_time(seed, family, k);
            if from <= t && t < to {
                f(k as u64, t);
            }
        }
    }

    /// The time of sample `k` of `family`, jittered by `seed`.
    fn sample_time(&self, seed: u64, family: Family, k: i64) -> Timestamp {
        let tag = tag::JITTER + family as u64;
        let jitter = (unit(hash(seed, tag, k as u64)) * self.jitter_max_ms() as f64) as i64;
        Timestamp(
            self.first
                .0
                .saturating_add(k.saturating_mul(self.interval_ms))
                .saturating_add(jitter),
        )
    }

    /// The share of the activity's work that gets done over a long time
    /// (noisy neighbours take the rest of CPU-bound work).
    fn done(&self) -> f64 {
        if self.cpu_bound {
            1.0 - self.node.contention / 2.0
        } else {
            1.0
        }
    }

    /// The same share at time `t`.
    fn done_at(&self, t: Timestamp) -> f64 {
        if self.cpu_bound {
            1.0 - self.node.lost(t.0 as f64 / 1000.0)
        } else {
            1.0
        }
    }
}

/// The metric generator of one container.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Series {
    pub pod: Arc<PodShared>,
    /// The container's own seed.
    pub seed: u64,
    /// Probability that the container restarts within one restart epoch.
    pub restart_p_epoch: f64,
    pub model: ContainerModel,
}

/// Milliseconds from a container's start to its last save at or before
/// `secs` after it, saving every `every` seconds.
fn saves_ms(every: f64, secs: f64) -> i64 {
    ((secs.max(0.0) / every).floor() * every * 1000.0) as i64
}

/// `(from, to)` overlap with `[0, x]`, for phase integrals.
fn overlap(from: f64, to: f64, x: f64) -> f64 {
    (x.min(to) - from).max(0.0)
}

impl Series {
    /// Converts a per-hour restart probability to a per-epoch one.
    pub(crate) fn restart_p_epoch(per_hour: f64) -> f64 {
        let p = if per_hour.is_finite() {
            per_hour.clamp(0.0, 1.0)
        } else {
            0.0
        };
        1.0 - (1.0 - p).powf(RESTART_EPOCH_MS as f64 / 3_600_000.0)
    }

    /// The restart in epoch `j`, if any.
    fn restart_in_epoch(&self, j: i64) -> Option<Timestamp> {
        if j < 0 || self.restart_p_epoch <= 0.0 {
            return None;
        }
        if unit(hash(self.seed, tag::RESTART, j as u64)) >= self.restart_p_epoch {
            return None;
        }
        let off = (unit(hash(self.seed, tag::RESTART_AT, j as u64)) * RESTART_EPOCH_MS as f64) as i64;
        // never at the very start of the pod: that would not be a restart
        Some(Timestamp(
            self.pod
                .start
                .0
                .saturating_add(j.saturating_mul(RESTART_EPOCH_MS))
                .saturating_add(off.max(1)),
        ))
    }

    fn epoch_of(&self, t: Timestamp) -> i64 {
        t.0.saturating_sub(self.pod.start.0).div_euclid(RESTART_EPOCH_MS)
    }

    /// When the container running at `t` started (the pod's start or the
    /// last restart at or before `t`).
    pub(crate) fn container_start(&self, t: Timestamp) -> Timestamp {
        if self.restart_p_epoch <= 0.0 || t <= self.pod.start {
            return self.pod.start;
        }
        let mut j = self.epoch_of(t);
        while j >= 0 {
            if let Some(r) = self.restart_in_epoch(j)
                && r <= t
            {
                return r;
            }
            j -= 1;
        }
        self.pod.start
    }

    /// Restart times in `(from, to)`, in order.
    pub(crate) fn restarts_between(&self, from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
        if self.restart_p_epoch <= 0.0 || to <= from {
            return Vec::new();
        }
        (self.epoch_of(from).max(0)..=self.epoch_of(to))
            .filter_map(|j| self.restart_in_epoch(j))
            .filter(|r| from < *r && *r < to)
            .collect()
    }

    /// The times of the first and last container sample with
    /// `from <= time < to`, without computing the ones between.
    pub(crate) fn first_and_last(&self, from: Timestamp, to: Timestamp) -> Option<(Timestamp, Timestamp)> {
        let pod = &*self.pod;
        if pod.silent || pod.interval_ms <= 0 {
            return None;
        }
        let from = from.max(pod.first);
        if to <= from {
            return None;
        }
        let mut times = Vec::new();
        let span = 2 * pod.interval_ms;
        pod.family(
            self.seed,
            Family::Container,
            from,
            to.min(Timestamp(from.0.saturating_add(span))),
            |_, t| times.push(t),
        );
        let first = times.iter().min().copied()?;
        times.clear();
        pod.family(
            self.seed,
            Family::Container,
            from.max(Timestamp(to.0.saturating_sub(span))),
            to,
            |_, t| times.push(t),
        );
        Some((first, times.iter().max().copied().unwrap_or(first)))
    }

    /// Appends every sample with `from <= time < to` to `out`. The caller
    /// clips `to` to the clock's now and the pod's deletion.
    pub(crate) fn samples(&self, from: Timestamp, to: Timestamp, out: &mut Vec<Sample>) {
        let pod = &*self.pod;
        if pod.silent || pod.interval_ms <= 0 {
            return;
        }
        let from = from.max(pod.first);
        if to <= from {
            return;
        }
        let before = out.len();
        // the last restart before the window, then those inside it
        let restarts = self.restarts_between(from, to);
        let base_start = self.container_start(from);
        let cstart = |t: Timestamp| restarts.iter().copied().rfind(|r| *r <= t).unwrap_or(base_start);
        pod.family(self.seed, Family::Container, from, to, |k, t| {
            self.container_samples(k, t, cstart(t), out)
        });
        pod.family(pod.seed, Family::Network, from, to, |k, t| {
            let tp = t.secs_since(pod.start).max(0.0);
            let a = pod.model.activity.integral(tp) * pod.done();
            let rx = pod.net_base.0 * tp + pod.net_act.0 * a;
            let tx = pod.net_base.1 * tp + pod.net_act.1 * a;
            let step = pod.interval_ms as f64 / 1000.0;
            let rx = rx + COUNTER_NOISE * step * pod.net_base.0 * unit(hash(pod.seed, tag::RX, k));
            let tx = tx + COUNTER_NOISE * step * pod.net_base.1 * unit(hash(pod.seed, tag::TX, k));
            out.push(Sample::new(t, Metric::RxBytes, rx.floor()));
            out.push(Sample::new(t, Metric::TxBytes, tx.floor()));
            out.push(Sample::new(t, Metric::RxErrors, 0.0));
            out.push(Sample::new(t, Metric::TxErrors, 0.0));
        });
        pod.family(pod.seed, Family::Volume, from, to, |k, t| {
            let tp = t.secs_since(pod.start).max(0.0);
            let mut v = pod.model.token;
            if let Some((start, per_write, cap)) = pod.model.volume {
                let ramp = if pod.startup_secs > 0.0 {
                    (tp / pod.startup_secs).min(1.0)
                } else {
                    1.0
                };
                // a service that writes only when it saves grows its volume then
                let tw = if pod.write_every > 0.0 {
                    saves_ms(pod.write_every, tp) as f64 / 1000.0
                } else {
                    tp
                };
                let written = pod.write_base * tw + pod.write_act * pod.model.activity.integral(tw) * pod.done();
                v += (start * ramp + per_write * written).min(cap.max(start));
            }
            let v = v * (1.0 + 0.0005 * noise(hash(pod.seed, tag::VOLUME, k)));
            out.push(Sample::new(t, Metric::VolumeUsedBytes, v.max(0.0)));
        });
        if pod.node.blkio {
            pod.family(self.seed, Family::Blkio, from, to, |k, t| {
                let c0 = cstart(t);
                out.push(Sample::new(
                    t,
                    Metric::BlkioReadBytes,
                    self.counter(|o| o.read, c0, t, tag::BLK_READ, k),
                ));
                let written = if self.model.write_every > 0.0 {
                    // it writes only when it saves: what it wrote lands at
                    // the last save (none before the first)
                    let at = Timestamp(c0.0.saturating_add(saves_ms(self.model.write_every, t.secs_since(c0))));
                    self.integral(|o| o.write, c0, at).floor()
                } else {
                    self.counter(|o| o.write, c0, t, tag::BLK_WRITE, k)
                };
                out.push(Sample::new(t, Metric::BlkioWriteBytes, written));
            });
        }
        if !pod.node.zero.is_empty() {
            for s in &mut out[before..] {
                if pod.node.zero.contains(&s.metric) {
                    s.value = 0.0;
                }
            }
        }
    }

    /// The start-up phases of a container started at `c0`: only the pod's
    /// first container initialises (its data outlives a restart).
    fn phases(&self, c0: Timestamp) -> &[super::profile::PhaseModel] {
        if c0 == self.pod.start { &self.model.phases } else { &[] }
    }

    /// The integral from the container's start `c0` to `t` of one rate
    /// (`field` of the container's rates), phases included.
    fn integral(&self, field: fn(&Op) -> f64, c0: Timestamp, t: Timestamp) -> f64 {
        let pod = &*self.pod;
        let m = &self.model;
        let dt = t.secs_since(c0).max(0.0);
        let a = &pod.model.activity;
        let worked = (a.integral(t.secs_since(pod.start)) - a.integral(c0.secs_since(pod.start))).max(0.0);
        let phases: f64 = self
            .phases(c0)
            .iter()
            .map(|p| field(&p.op) * overlap(p.from, p.to, dt))
            .sum();
        // each stretch that ended leaves its amount, done as 1 - exp(-age / tau)
        let tail = m.tail.map_or(0.0, |tail| {
            let (ended, pending) = self.tail_at(tail.tau, c0, t);
            field(&tail.op) * (ended - pending)
        });
        field(&m.base) * dt + field(&m.act) * worked * pod.done() + phases + tail
    }

    /// The stretches of work that ended between the container's start `c0`
    /// and `t`: how many, and how much of their tails is still to do (in
    /// stretches' worth).
    fn tail_at(&self, tau: f64, c0: Timestamp, t: Timestamp) -> (f64, f64) {
        let start = self.pod.start;
        self.pod
            .model
            .activity
            .ends(c0.secs_since(start), t.secs_since(start), tau)
    }

    /// A counter at `t` for a container started at `c0`: the rate's integral
    /// plus a bounded per-sample term (see [`COUNTER_NOISE`]).
    fn counter(&self, field: fn(&Op) -> f64, c0: Timestamp, t: Timestamp, tag: u64, k: u64) -> f64 {
        let step = field(&self.model.base) * self.pod.interval_ms as f64 / 1000.0;
        (self.integral(field, c0, t) + COUNTER_NOISE * step * unit(hash(self.seed, tag, k))).floor()
    }

    /// The rate of `field` at `t` for a container started at `c0`.
    fn rate(&self, field: fn(&Op) -> f64, c0: Timestamp, t: Timestamp) -> f64 {
        let pod = &*self.pod;
        let m = &self.model;
        let dt = t.secs_since(c0).max(0.0);
        let a = pod.model.activity.rate(t.secs_since(pod.start));
        let phase: f64 = self
            .phases(c0)
            .iter()
            .filter(|p| p.from <= dt && dt < p.to)
            .map(|p| field(&p.op))
            .sum();
        let tail = m.tail.map_or(0.0, |tail| {
            let (_, pending) = self.tail_at(tail.tau, c0, t);
            field(&tail.op) / tail.tau * pending
        });
        field(&m.base) + field(&m.act) * a * pod.done_at(t) + phase + tail
    }

    fn container_samples(&self, k: u64, t: Timestamp, c0: Timestamp, out: &mut Vec<Sample>) {
        let pod = &*self.pod;
        let m = &self.model;
        let seed = self.seed;
        let dt = t.secs_since(c0).max(0.0);
        let jitter = 0.08 + 0.5 * pod.node.contention;
        let cpu = self.rate(|o| o.cpu, c0, t) * (1.0 + jitter * noise(hash(seed, tag::CPU, k)));
        // RSS grows with the work done since the container started (a pool
        // or cache warming with use) and ramps up through start-up.
        let a = &pod.model.activity;
        let worked = (a.integral(t.secs_since(pod.start)) - a.integral(c0.secs_since(pod.start))).max(0.0);
        let core_s = m.act.cpu * 1e-9 * worked * pod.done();
        let saturating = |cap: f64, per_core_s: f64| {
            if cap > 0.0 {
                cap * (1.0 - (-core_s * per_core_s / cap).exp())
            } else {
                0.0
            }
        };
        // the first work's allocation (memcached's first slab pages), then
        // the slower growth of a pool or cache
        let grown = saturating(m.first, m.first_per_core_s) + saturating(m.grow, m.grow_per_core_s);
        let startup = self.phases(c0).last().map_or(0.0, |p| p.to);
        let ramp = if startup > 0.0 {
            (0.1 + 0.9 * dt / startup).min(1.0)
        } else {
            1.0
        };
        let rss = (m.rss + grown) * ramp * (1.0 + 0.002 * noise(hash(seed, tag::RSS, k)));
        // usage: RSS and page cache, the cache a share of usage or a fixed
        // size; the working set all of it but the inactive cache
        let (full, active) = m.page_cache.usage_and_active(rss);
        // page cache comes and goes: usage swings slowly by up to a tenth of the cache
        let cache = 0.1 * (1.0 - rss / full);
        let h = hash(seed, tag::CACHE, 0);
        let w = std::f64::consts::TAU / (600.0 + 3_000.0 * unit(h));
        let swing = cache * (w * t.secs_since(pod.start) + unit(mix(h)) * std::f64::consts::TAU).sin();
        let usage = full * (1.0 + swing) * (1.0 + 0.003 * noise(hash(seed, tag::MEMORY, k)));
        let ws =
            (usage * (active / full) * m.ws_ratio * (1.0 + 0.002 * noise(hash(seed, tag::WORKING_SET, k)))).max(rss);
        let usage = usage.max(ws);
        let mut faults = self.counter(|o| o.faults, c0, t, tag::FAULTS, k);
        if m.growth_faults {
            // the first touch of every page it grew by (monotone: `grown` is)
            faults += (grown / PAGE).floor();
        }
        // a log written to files in the writable layer grows rootfs, and is
        // never rotated by the kubelet; the container log keeps its start
        let logged = self.integral(|o| o.log, c0, t);
        let (rootfs, logged) = if m.logs_in_rootfs {
            (m.rootfs + logged, 0.0)
        } else {
            (m.rootfs, logged)
        };
        let logs = {
            let total = m.logs + logged;
            let r = pod.node.rotation_bytes;
            if r > 0.0 && total > r {
                // the current file, the newest rotated one, and up to three
                // gzipped older ones at about a tenth of their size
                let rotated = ((total - r) / r).floor();
                r + (total - r) % r + 0.1 * r * rotated.min(3.0)
            } else {
                total
            }
        };
        // The kubelet computes the CPU rate from two readings of one
        // container instance: at its first (the container's first scrape,
        // the first after a restart) it has none and omits the field, which
        // Telegraf writes as 0.
        let first_reading = k == 0 || pod.sample_time(self.seed, Family::Container, k as i64 - 1) < c0;
        let cpu = if first_reading { 0.0 } else { cpu.max(0.0).round() };
        let values = [
            (Metric::CpuUsageNanocores, cpu),
            (
                Metric::CpuUsageCoreNanoseconds,
                self.counter(|o| o.cpu, c0, t, tag::CPU_COUNTER, k),
            ),
            (Metric::MemoryUsageBytes, usage.max(0.0).round()),
            (Metric::MemoryWorkingSetBytes, ws.max(0.0).round()),
            (Metric::MemoryRssBytes, rss.max(0.0).round()),
            (Metric::MemoryPageFaults, faults),
            (Metric::MemoryMajorPageFaults, (faults * m.major_fault_ratio).floor()),
            (Metric::RootfsUsedBytes, rootfs.round()),
            (Metric::LogsfsUsedBytes, logs.round()),
        ];
        out.extend(values.into_iter().map(|(m, v)| Sample::new(t, m, v)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Fixed, NodeModel, NodeProfile, Profiles, draw_app, draw_sidecar};
    use cad_core::metric::{MetricKind, MetricScope};
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// A pod of service `class` (index into every service) with, for odd
    /// seeds, a sidecar; its containers' series.
    fn pod(seed: u64, class: usize, restarts_per_hour: f64, interval_ms: i64, noisy: bool) -> Vec<Series> {
        let p = Profiles::builtin();
        let s = &p.service[class % p.service.len()];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (model, app) = draw_app(&p.global, s, Fixed::default(), &mut rng);
        let mut containers = vec![app];
        if seed % 2 == 1 {
            let sc = &p.sidecar[(seed as usize / 2) % p.sidecar.len()];
            let c = draw_sidecar(sc, &containers[0], &mut rng);
            containers.push(c);
        }
        let mut node = NodeProfile::plain("n");
        if noisy {
            node = p.node[(seed as usize) % p.node.len()].clone();
        }
        let node = NodeModel::draw(&node, &mut rng);
        let shared = Arc::new(PodShared::new(
            seed,
            Timestamp::from_secs(1_000),
            Timestamp::from_secs(1_015),
            interval_ms,
            false,
            model,
            node,
            &containers,
        ));
        containers
            .into_iter()
            .enumerate()
            .map(|(i, model)| Series {
                pod: shared.clone(),
                seed: mix(seed ^ i as u64),
                restart_p_epoch: Series::restart_p_epoch(restarts_per_hour),
                model,
            })
            .collect()
    }

    fn window(s: &Series, from: i64, to: i64) -> Vec<Sample> {
        let mut v = Vec::new();
        s.samples(Timestamp(from), Timestamp(to), &mut v);
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Fetching [a, c) gives the same samples as [a, b) then [b, c):
        /// no stored history, yet consistent across windows.
        #[test]
        fn windows_compose(seed in any::<u64>(), class in 0usize..12, a in 0i64..4_000_000_000, l1 in 0i64..600_000, l2 in 0i64..600_000) {
            for s in pod(seed, class, 0.5, 10_000, true) {
                let (a, b, c) = (a, a + l1, a + l1 + l2);
                let whole = window(&s, a, c);
                let mut parts = window(&s, a, b);
                parts.extend(window(&s, b, c));
                prop_assert_eq!(whole.len(), parts.len());
                let key = |x: &Sample| (x.time, x.metric);
                let mut w = whole.clone();
                w.sort_by_key(key);
                parts.sort_by_key(key);
                prop_assert_eq!(w, parts);
                prop_assert!(whole.iter().all(|x| x.time >= s.pod.first && Timestamp(a) <= x.time && x.time < Timestamp(c)));
            }
        }

        /// Counters never decrease while the same container runs; pod-level
        /// counters never decrease at all. Gauges are finite and non-negative.
        #[test]
        fn counters_monotone_between_restarts(
            seed in any::<u64>(), class in 0usize..12, restarts in 0.0f64..1.0, interval_ms in 1i64..30_000, age_h in 0i64..2_000,
        ) {
            for s in pod(seed, class, restarts, interval_ms, true) {
                let from = 1_000_000 + age_h * 3_600_000;
                let to = from + 400 * interval_ms.max(1_000);
                let samples = window(&s, from, to);
                prop_assert!(!samples.is_empty());
                for m in Metric::fetched() {
                    let mut v: Vec<_> = samples.iter().filter(|x| x.metric == m).copied().collect();
                    v.sort_by_key(|x| x.time);
                    prop_assert!(v.iter().all(|x| x.value.is_finite() && x.value >= 0.0), "{} negative", m);
                    if m.kind() != MetricKind::Counter {
                        continue;
                    }
                    for p in v.windows(2) {
                        let same = s.container_start(p[0].time) == s.container_start(p[1].time);
                        if same || m.scope() == MetricScope::Pod {
                            prop_assert!(p[0].value <= p[1].value, "{} fell from {} to {}", m, p[0].value, p[1].value);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_log_written_to_files_grows_rootfs_instead_of_the_container_log() {
        let p = Profiles::builtin();
        let jvm = p.service.iter().position(|s| s.name == "jvm-app").expect("jvm-app");
        // a steady pod (seeds until one is drawn) without restarts
        let app = (0..100)
            .map(|seed| pod(seed * 2, jvm, 0.0, 10_000, false).remove(0))
            .find(|s| s.model.act.log > 0.0)
            .expect("a pod that logs with its work");
        let at = |s: &Series, m: Metric| {
            let v = window(s, 1_000_000, 1_000_000 + 900_000);
            let of = |i: usize| v.iter().filter(|x| x.metric == m).nth(i).expect("a sample").value;
            (of(0), of(80))
        };
        let mut to_file = app.clone();
        to_file.model.logs_in_rootfs = true;
        let mut to_stdout = app;
        to_stdout.model.logs_in_rootfs = false;
        let (logs0, logs1) = at(&to_stdout, Metric::LogsfsUsedBytes);
        let (root0, root1) = at(&to_stdout, Metric::RootfsUsedBytes);
        assert!(logs1 > logs0 && root1 == root0, "stdout: the container log grows");
        let (flogs0, flogs1) = at(&to_file, Metric::LogsfsUsedBytes);
        let (froot0, froot1) = at(&to_file, Metric::RootfsUsedBytes);
        assert!(flogs1 == flogs0 && froot1 > froot0, "files: the writable layer grows");
        assert!(((froot1 - froot0) - (logs1 - logs0)).abs() <= 1.0, "by the same bytes");
    }

    #[test]
    fn silent_series_and_empty_windows_give_nothing() {
        let mut s = pod(2, 0, 0.0, 10_000, false).remove(0);
        assert!(window(&s, 5_000_000, 4_000_000).is_empty());
        assert!(window(&s, 0, 1_014_999).is_empty(), "nothing before the first sample");
        assert!(!window(&s, 0, 2_000_000).is_empty());
        let mut shared = (*s.pod).clone();
        shared.silent = true;
        s.pod = Arc::new(shared);
        assert!(window(&s, 0, 2_000_000).is_empty());
    }

    #[test]
    fn cpu_nanocores_are_0_at_each_container_instances_first_scrape() {
        // Restarts often enough that some pods restart within the window.
        let mut restarted = 0;
        for seed in 0..40 {
            for s in pod(seed, seed as usize, 4.0, 10_000, false) {
                let samples = window(&s, 0, 4 * 3_600_000);
                let at = |m: Metric| samples.iter().filter(move |x| x.metric == m);
                let counter: Vec<&Sample> = at(Metric::CpuUsageCoreNanoseconds).collect();
                let restarts = s.restarts_between(s.pod.first, Timestamp(4 * 3_600_000));
                restarted += restarts.len();
                for (i, g) in at(Metric::CpuUsageNanocores).enumerate() {
                    assert_eq!(counter[i].time, g.time, "one line, one timestamp");
                    let first = i == 0 || restarts.iter().any(|r| counter[i - 1].time < *r && *r <= g.time);
                    assert_eq!(g.value == 0.0, first, "seed {seed}, scrape {i} at {}", g.time);
                    assert!(counter[i].value > 0.0, "seed {seed}: CPU used by the first scrape");
                }
            }
        }
        assert!(restarted > 0, "no restart tested");
    }

    #[test]
    fn families_have_their_own_jitter_and_containers_share_the_pods() {
        let v = pod(3, 3, 0.0, 10_000, false);
        let (app, side) = (window(&v[0], 0, 2_000_000), window(&v[1], 0, 2_000_000));
        let time_of = |v: &[Sample], m: Metric| v.iter().filter(|x| x.metric == m).map(|x| x.time).collect::<Vec<_>>();
        let (cpu, rx) = (time_of(&app, Metric::CpuUsageNanocores), time_of(&app, Metric::RxBytes));
        assert_eq!(
            cpu,
            time_of(&app, Metric::MemoryUsageBytes),
            "one family, one timestamp"
        );
        assert_ne!(cpu, rx, "network is collected apart from container gauges");
        for w in cpu.windows(2) {
            let gap = w[1].0 - w[0].0;
            assert!((8_000..=12_000).contains(&gap), "gap {gap} ms");
        }
        let pod_level = |v: &[Sample]| {
            v.iter()
                .filter(|x| x.metric.scope() == MetricScope::Pod)
                .copied()
                .collect::<Vec<_>>()
        };
        assert_eq!(
            pod_level(&app),
            pod_level(&side),
            "the pod's network and volume are the same for every container"
        );
    }
}
