//! Metric generation for one simulated pod, without stored history.
//!
//! Every value is a pure function of the pod's seed and the sample index, so
//! any window costs O(samples in it):
//! * sample times: `first + k·interval + jitter(family, k)`;
//! * gauges: the pod's level, a slow drift (sine waves) and per-sample noise
//!   hashed from `(seed, metric, k)`;
//! * counters: the exact integral of a rate wave (monotone by construction)
//!   plus a bounded per-sample term too small to break monotonicity;
//! * restarts: time since the pod started is cut in epochs; a hash of
//!   `(seed, epoch)` says whether the container restarted in it and when.
//!   Container counters and the writable layer restart from ~0; the pod's
//!   network and volumes (owned by the pod, not the container) do not.

use super::profile::{MAX_SWING, PodParams};
use cad_core::metric::{Metric, Sample};
use cad_core::time::Timestamp;

/// Length of a restart epoch: at most one restart per epoch.
const RESTART_EPOCH_MS: i64 = 600_000;
/// Telegraf-like jitter: each family's timestamps move by up to this.
const MAX_JITTER_MS: i64 = 2_000;
/// Relative size of the per-sample term added to counters, as a fraction of
/// one interval's mean increase. Must stay below
/// `(1 - MAX_SWING) * (1 - 1/4)` (see [`Series::jitter_max_ms`]) for counters to stay monotone.
const COUNTER_NOISE: f64 = 0.2;
const _: () = assert!(COUNTER_NOISE < (1.0 - MAX_SWING) * 0.75);

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

/// The metric generator of one pod.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Series {
    pub seed: u64,
    /// When the pod started.
    pub start: Timestamp,
    /// Earliest time of the first sample (start plus the metrics delay).
    pub first: Timestamp,
    pub interval_ms: i64,
    /// Probability that the container restarts within one restart epoch.
    pub restart_p_epoch: f64,
    /// A silent pod reports nothing.
    pub silent: bool,
    pub params: PodParams,
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

    /// Jitter bound: 2 s, or a quarter of the interval if that is smaller, so
    /// a family's samples keep their order and spacing.
    fn jitter_max_ms(&self) -> i64 {
        MAX_JITTER_MS.min(self.interval_ms / 4)
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
            self.start
                .0
                .saturating_add(j.saturating_mul(RESTART_EPOCH_MS))
                .saturating_add(off.max(1)),
        ))
    }

    fn epoch_of(&self, t: Timestamp) -> i64 {
        t.0.saturating_sub(self.start.0).div_euclid(RESTART_EPOCH_MS)
    }

    /// When the container running at `t` started (the pod's start or the
    /// last restart at or before `t`).
    pub(crate) fn container_start(&self, t: Timestamp) -> Timestamp {
        if self.restart_p_epoch <= 0.0 || t <= self.start {
            return self.start;
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
        self.start
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

    /// Appends every sample with `from <= time < to` to `out`. The caller
    /// clips `to` to the clock's now and the pod's deletion.
    pub(crate) fn samples(&self, from: Timestamp, to: Timestamp, out: &mut Vec<Sample>) {
        if self.silent || self.interval_ms <= 0 {
            return;
        }
        let from = from.max(self.first);
        if to <= from {
            return;
        }
        // the last restart before the window, then those inside it
        let restarts = self.restarts_between(from, to);
        let base_start = self.container_start(from);
        let cstart = |t: Timestamp| restarts.iter().copied().rfind(|r| *r <= t).unwrap_or(base_start);
        let p = &self.params;
        self.family(Family::Container, from, to, |k, t| {
            self.container_samples(k, t, cstart(t), out)
        });
        self.family(Family::Network, from, to, |k, t| {
            let dt = t.secs_since(self.start).max(0.0);
            out.push(Sample::new(t, Metric::RxBytes, self.counter(&p.rx, dt, tag::RX, k)));
            out.push(Sample::new(t, Metric::TxBytes, self.counter(&p.tx, dt, tag::TX, k)));
            out.push(Sample::new(t, Metric::RxErrors, (p.rx_errors_per_sec * dt).floor()));
            out.push(Sample::new(t, Metric::TxErrors, (p.tx_errors_per_sec * dt).floor()));
        });
        if let Some((level, growth)) = p.volume {
            self.family(Family::Volume, from, to, |k, t| {
                let dt = t.secs_since(self.start).max(0.0);
                let v = (level + growth * dt) * (1.0 + 0.0005 * noise(hash(self.seed, tag::VOLUME, k)));
                out.push(Sample::new(t, Metric::VolumeUsedBytes, v.max(0.0)));
            });
        }
        if let Some((read, write)) = &p.blkio {
            self.family(Family::Blkio, from, to, |k, t| {
                let dt = t.secs_since(cstart(t)).max(0.0);
                out.push(Sample::new(
                    t,
                    Metric::BlkioReadBytes,
                    self.counter(read, dt, tag::BLK_READ, k),
                ));
                out.push(Sample::new(
                    t,
                    Metric::BlkioWriteBytes,
                    self.counter(write, dt, tag::BLK_WRITE, k),
                ));
            });
        }
    }

    /// Calls `f(k, time)` for every sample `k` of `family` with `from <= time < to`.
    fn family(&self, family: Family, from: Timestamp, to: Timestamp, mut f: impl FnMut(u64, Timestamp)) {
        let iv = self.interval_ms;
        let jmax = self.jitter_max_ms();
        let tag = tag::JITTER + family as u64;
        let lo = from
            .0
            .saturating_sub(self.first.0)
            .saturating_sub(jmax)
            .div_euclid(iv)
            .max(0);
        let hi = to.0.saturating_sub(self.first.0).div_euclid(iv).max(0);
        for k in lo..=hi {
            let jitter = (unit(hash(self.seed, tag, k as u64)) * jmax as f64) as i64;
            let t = Timestamp(self.first.0.saturating_add(k.saturating_mul(iv)).saturating_add(jitter));
            if from <= t && t < to {
                f(k as u64, t);
            }
        }
    }

    /// A counter `dt` seconds into the container's life: the rate's integral
    /// plus a bounded per-sample term (see [`COUNTER_NOISE`]).
    fn counter(&self, wave: &super::profile::Wave, dt: f64, tag: u64, k: u64) -> f64 {
        let step = wave.base() * self.interval_ms as f64 / 1000.0;
        (wave.integral(dt) + COUNTER_NOISE * step * unit(hash(self.seed, tag, k))).floor()
    }

    fn container_samples(&self, k: u64, t: Timestamp, container_start: Timestamp, out: &mut Vec<Sample>) {
        let p = &self.params;
        let dt = t.secs_since(container_start).max(0.0);
        let seed = self.seed;
        let cpu = p.cpu.rate(dt) * (1.0 + 0.08 * noise(hash(seed, tag::CPU, k)));
        let drift = 1.0 + p.memory_drift * (p.memory_drift_w * dt + p.memory_drift_p).sin();
        let mem = p.memory * drift * (1.0 + 0.003 * noise(hash(seed, tag::MEMORY, k)));
        let ws = mem * p.working_set_ratio * (1.0 + 0.002 * noise(hash(seed, tag::WORKING_SET, k)));
        let rss = mem * p.rss_ratio * (1.0 + 0.002 * noise(hash(seed, tag::RSS, k)));
        let faults = self.counter(&p.page_faults, dt, tag::FAULTS, k);
        let values = [
            (Metric::CpuUsageNanocores, cpu.max(0.0).round()),
            (
                Metric::CpuUsageCoreNanoseconds,
                self.counter(&p.cpu, dt, tag::CPU_COUNTER, k),
            ),
            (Metric::MemoryUsageBytes, mem.max(0.0).round()),
            (Metric::MemoryWorkingSetBytes, ws.max(0.0).round()),
            (Metric::MemoryRssBytes, rss.max(0.0).round()),
            (Metric::MemoryPageFaults, faults),
            (Metric::MemoryMajorPageFaults, (faults * p.major_fault_ratio).floor()),
            (Metric::RootfsUsedBytes, (p.rootfs + p.rootfs_growth * dt).round()),
            (Metric::LogsfsUsedBytes, (p.logsfs + p.logsfs_growth * dt).round()),
        ];
        out.extend(values.into_iter().map(|(m, v)| Sample::new(t, m, v)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::ClassProfile;
    use cad_core::metric::{MetricKind, MetricScope};
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn series(seed: u64, class: usize, restarts_per_hour: f64, interval_ms: i64) -> Series {
        let classes = ClassProfile::defaults();
        let class = &classes[class % classes.len()];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Series {
            seed,
            start: Timestamp::from_secs(1_000),
            first: Timestamp::from_secs(1_015),
            interval_ms,
            restart_p_epoch: Series::restart_p_epoch(restarts_per_hour),
            silent: false,
            params: PodParams::draw(class, &mut rng),
        }
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
        fn windows_compose(seed in any::<u64>(), class in 0usize..5, a in 0i64..4_000_000, l1 in 0i64..600_000, l2 in 0i64..600_000) {
            let s = series(seed, class, 0.5, 10_000);
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
            prop_assert!(whole.iter().all(|x| x.time >= s.first && Timestamp(a) <= x.time && x.time < Timestamp(c)));
        }

        /// Counters never decrease while the same container runs; pod-level
        /// counters never decrease at all. Gauges are finite and non-negative.
        #[test]
        fn counters_monotone_between_restarts(
            seed in any::<u64>(), class in 0usize..5, restarts in 0.0f64..1.0, interval_ms in 1i64..30_000,
        ) {
            let s = series(seed, class, restarts, interval_ms);
            let to = 1_000_000 + 400 * interval_ms.max(1_000);
            let samples = window(&s, 0, to);
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

    #[test]
    fn silent_series_and_empty_windows_give_nothing() {
        let mut s = series(1, 0, 0.0, 10_000);
        assert!(window(&s, 5_000_000, 4_000_000).is_empty());
        assert!(window(&s, 0, 1_014_999).is_empty(), "nothing before the first sample");
        assert!(!window(&s, 0, 2_000_000).is_empty());
        s.silent = true;
        assert!(window(&s, 0, 2_000_000).is_empty());
    }

    #[test]
    fn families_have_their_own_jitter() {
        let s = series(2, 3, 0.0, 10_000);
        let v = window(&s, 0, 2_000_000);
        let time_of = |m: Metric| v.iter().filter(|x| x.metric == m).map(|x| x.time).collect::<Vec<_>>();
        let (cpu, rx) = (time_of(Metric::CpuUsageNanocores), time_of(Metric::RxBytes));
        assert_eq!(cpu, time_of(Metric::MemoryUsageBytes), "one family, one timestamp");
        assert_ne!(cpu, rx, "network is collected apart from container gauges");
        for w in cpu.windows(2) {
            let gap = w[1].0 - w[0].0;
            assert!((8_000..=12_000).contains(&gap), "gap {gap} ms");
        }
    }
}
