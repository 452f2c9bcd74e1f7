//! Class profiles: how each kind of service behaves, and the per-pod
//! parameters drawn around a profile.
//!
//! The default figures come from `shared/data/class-profiles.md` (a real k3s
//! cluster, 2021). Where that table is silent (page faults, volumes, block
//! I/O) the figures are plausible guesses, chosen so that databases write to
//! disk and web servers mostly do not.

use rand::Rng;
use serde::{Deserialize, Serialize};

const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;

/// A distribution a per-pod parameter is drawn from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Dist {
    /// Uniform in `[min, max]` (a fixed value when `min == max`).
    Uniform {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
    /// A weighted mixture: first pick a part by weight, then draw from it.
    /// Models bimodal classes (idle vs busy nginx, logging vs quiet).
    Mix(Vec<(f64, Dist)>),
}

impl Dist {
    /// Uniform in `[min, max]`.
    pub const fn uniform(min: f64, max: f64) -> Self {
        Dist::Uniform { min, max }
    }

    /// Always `v`.
    pub const fn fixed(v: f64) -> Self {
        Dist::Uniform { min: v, max: v }
    }

    /// Draws one value. Bounds given in the wrong order are swapped; weights
    /// that are negative or not finite count as zero.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match self {
            Dist::Uniform { min, max } => {
                let (lo, hi) = if min <= max { (*min, *max) } else { (*max, *min) };
                lo + (hi - lo) * rng.random::<f64>()
            }
            Dist::Mix(parts) => {
                let w = |x: f64| if x.is_finite() && x > 0.0 { x } else { 0.0 };
                let total: f64 = parts.iter().map(|(x, _)| w(*x)).sum();
                let mut pick = rng.random::<f64>() * total;
                for (x, d) in parts {
                    if pick < w(*x) {
                        return d.draw(rng);
                    }
                    pick -= w(*x);
                }
                parts.last().map(|(_, d)| d.draw(rng)).unwrap_or(0.0)
            }
        }
    }

    /// The mean of the distribution (for tests and documentation).
    pub fn mean(&self) -> f64 {
        match self {
            Dist::Uniform { min, max } => (min + max) / 2.0,
            Dist::Mix(parts) => {
                let total: f64 = parts.iter().map(|(w, _)| w.max(0.0)).sum();
                if total <= 0.0 {
                    return 0.0;
                }
                parts.iter().map(|(w, d)| w.max(0.0) * d.mean()).sum::<f64>() / total
            }
        }
    }
}

/// One image a class's pods may run, with its size on the node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageVariant {
    /// The image reference, e.g. `docker.io/library/mysql:8.0`.
    pub reference: String,
    /// Its size in bytes.
    pub size_bytes: u64,
}

impl ImageVariant {
    /// An image with its size.
    pub fn new(reference: impl Into<String>, size_bytes: u64) -> Self {
        ImageVariant {
            reference: reference.into(),
            size_bytes,
        }
    }
}

/// How one class of service behaves. Every pod draws its own parameters from
/// these distributions, then adds per-sample noise and slow drift.
///
/// Units: bytes, nanocores (1e-9 CPU cores), and per-second rates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassProfile {
    /// The class name; also the pod name prefix, the container name and the
    /// `app.kubernetes.io/name` label of pods named after it.
    pub name: String,
    /// Relative weight when the simulator picks a class for a new pod.
    pub weight: f64,
    /// Whether pods are named like a StatefulSet's (`mysql-0`) rather than a
    /// Deployment's (`nginx-7f9c4d8b6-xk2lp`).
    pub stateful: bool,
    /// Images the pods run (one picked per pod; an empty list gives
    /// `docker.io/library/<name>:latest` of unknown size).
    pub images: Vec<ImageVariant>,
    /// Memory in use: the pod's level.
    pub memory_bytes: Dist,
    /// Relative amplitude of the slow swing of memory around its level.
    pub memory_drift: Dist,
    /// CPU in use: the pod's mean, in nanocores.
    pub cpu_nanocores: Dist,
    /// How much the CPU rate swings around its mean, from 0 (flat) to 1.
    pub cpu_variation: f64,
    /// Writable layer size.
    pub rootfs_bytes: Dist,
    /// Log size when the container starts.
    pub logsfs_bytes: Dist,
    /// How fast the logs grow, bytes per second.
    pub logsfs_growth: Dist,
    /// Bytes received per second (mean).
    pub rx_bytes_per_sec: Dist,
    /// Bytes sent per second (mean).
    pub tx_bytes_per_sec: Dist,
    /// Page faults per second (mean).
    pub page_faults_per_sec: Dist,
    /// Bytes on the pod's volumes at start; `None` for pods without volumes.
    pub volume_bytes: Option<Dist>,
    /// How fast the volumes fill, bytes per second.
    pub volume_growth: Dist,
    /// Fraction of pods whose block I/O counters are reported.
    pub blkio_fraction: f64,
    /// Bytes read from block devices per second (mean).
    pub blkio_read_per_sec: Dist,
    /// Bytes written to block devices per second (mean).
    pub blkio_write_per_sec: Dist,
}

impl ClassProfile {
    /// nginx: a few MiB, nearly idle CPU, small traffic; some pods log a lot.
    pub fn nginx() -> Self {
        ClassProfile {
            name: "nginx".into(),
            weight: 1.0,
            stateful: false,
            images: vec![
                ImageVariant::new("docker.io/library/nginx:1.25", 133_000_000),
                ImageVariant::new("docker.io/bitnami/nginx:1.25", 89_000_000),
                ImageVariant::new("docker.io/library/nginx:1.24", 112_000_000),
            ],
            memory_bytes: Dist::uniform(3.3 * MIB, 8.0 * MIB),
            memory_drift: Dist::uniform(0.0, 0.01),
            cpu_nanocores: Dist::Mix(vec![
                (0.4, Dist::uniform(0.0, 5_000.0)),
                (0.6, Dist::uniform(30_000.0, 300_000.0)),
            ]),
            cpu_variation: 0.6,
            rootfs_bytes: Dist::uniform(64.0 * KIB, 94.0 * KIB),
            logsfs_bytes: Dist::Mix(vec![
                (0.7, Dist::uniform(24.0 * KIB, 32.0 * KIB)),
                (0.3, Dist::uniform(70e6, 85e6)),
            ]),
            logsfs_growth: Dist::uniform(0.0, 200.0),
            rx_bytes_per_sec: Dist::uniform(0.0, 110.0),
            tx_bytes_per_sec: Dist::uniform(0.0, 245.0),
            page_faults_per_sec: Dist::uniform(0.5, 5.0),
            volume_bytes: None,
            volume_growth: Dist::fixed(0.0),
            blkio_fraction: 0.3,
            blkio_read_per_sec: Dist::uniform(0.0, 50.0),
            blkio_write_per_sec: Dist::uniform(0.0, 200.0),
        }
    }

    /// apache (httpd): like nginx but heavier and steadily logging.
    pub fn apache() -> Self {
        ClassProfile {
            name: "apache".into(),
            weight: 1.0,
            stateful: false,
            images: vec![
                ImageVariant::new("docker.io/library/httpd:2.4", 176_000_000),
                ImageVariant::new("docker.io/bitnami/apache:2.4", 182_000_000),
            ],
            memory_bytes: Dist::uniform(7.6 * MIB, 8.8 * MIB),
            memory_drift: Dist::uniform(0.0, 0.01),
            cpu_nanocores: Dist::uniform(180_000.0, 600_000.0),
            cpu_variation: 0.5,
            rootfs_bytes: Dist::uniform(56.0 * KIB, 64.0 * KIB),
            logsfs_bytes: Dist::uniform(40e6, 52e6),
            logsfs_growth: Dist::uniform(100.0, 1_000.0),
            rx_bytes_per_sec: Dist::uniform(50.0, 90.0),
            tx_bytes_per_sec: Dist::uniform(70.0, 110.0),
            page_faults_per_sec: Dist::uniform(1.0, 10.0),
            volume_bytes: None,
            volume_growth: Dist::fixed(0.0),
            blkio_fraction: 0.3,
            blkio_read_per_sec: Dist::uniform(0.0, 100.0),
            blkio_write_per_sec: Dist::uniform(0.0, 500.0),
        }
    }

    /// PostgreSQL: small steady memory, a few millicores, no traffic in the
    /// measured cluster, writes to its volume.
    pub fn postgresql() -> Self {
        ClassProfile {
            name: "postgresql".into(),
            weight: 1.0,
            stateful: true,
            images: vec![
                ImageVariant::new("docker.io/library/postgres:16", 261_000_000),
                ImageVariant::new("docker.io/bitnami/postgresql:16", 274_000_000),
            ],
            memory_bytes: Dist::uniform(16.5 * MIB, 17.5 * MIB),
            memory_drift: Dist::uniform(0.0, 0.005),
            cpu_nanocores: Dist::uniform(3.1e6, 9.3e6),
            cpu_variation: 0.5,
            rootfs_bytes: Dist::uniform(100.0 * KIB, 116.0 * KIB),
            logsfs_bytes: Dist::uniform(30.0 * KIB, 40.0 * KIB),
            logsfs_growth: Dist::uniform(0.0, 20.0),
            rx_bytes_per_sec: Dist::uniform(0.0, 1.0),
            tx_bytes_per_sec: Dist::uniform(0.0, 1.0),
            page_faults_per_sec: Dist::uniform(5.0, 50.0),
            volume_bytes: Some(Dist::uniform(40e6, 200e6)),
            volume_growth: Dist::uniform(0.0, 2_000.0),
            blkio_fraction: 0.8,
            blkio_read_per_sec: Dist::uniform(0.0, 2_000.0),
            blkio_write_per_sec: Dist::uniform(1_000.0, 20_000.0),
        }
    }

    /// MySQL: hundreds of MiB, flat per container; some pods busy on CPU and network.
    pub fn mysql() -> Self {
        ClassProfile {
            name: "mysql".into(),
            weight: 1.0,
            stateful: true,
            images: vec![
                ImageVariant::new("docker.io/library/mysql:8.0", 448_000_000),
                ImageVariant::new("docker.io/bitnami/mysql:8.0", 627_000_000),
                ImageVariant::new("docker.io/library/mysql:5.7", 537_000_000),
            ],
            memory_bytes: Dist::uniform(184.0 * MIB, 553.0 * MIB),
            memory_drift: Dist::uniform(0.0, 0.01),
            cpu_nanocores: Dist::Mix(vec![
                (0.7, Dist::uniform(4.1e6, 12e6)),
                (0.3, Dist::uniform(26e6, 35e6)),
            ]),
            cpu_variation: 0.4,
            rootfs_bytes: Dist::uniform(40.0 * KIB, 64.0 * KIB),
            logsfs_bytes: Dist::uniform(32.0 * KIB, 52.0 * KIB),
            logsfs_growth: Dist::uniform(0.0, 20.0),
            rx_bytes_per_sec: Dist::Mix(vec![
                (0.4, Dist::uniform(0.0, 1.0)),
                (0.6, Dist::uniform(500.0, 6_870.0)),
            ]),
            tx_bytes_per_sec: Dist::Mix(vec![
                (0.4, Dist::uniform(0.0, 1.0)),
                (0.6, Dist::uniform(500.0, 7_280.0)),
            ]),
            page_faults_per_sec: Dist::uniform(20.0, 200.0),
            volume_bytes: Some(Dist::uniform(200e6, 1e9)),
            volume_growth: Dist::uniform(0.0, 5_000.0),
            blkio_fraction: 0.8,
            blkio_read_per_sec: Dist::uniform(0.0, 5_000.0),
            blkio_write_per_sec: Dist::uniform(5_000.0, 50_000.0),
        }
    }

    /// MongoDB: memory that swings slowly, busy CPU, fast-growing logs.
    pub fn mongodb() -> Self {
        ClassProfile {
            name: "mongodb".into(),
            weight: 1.0,
            stateful: true,
            images: vec![
                ImageVariant::new("docker.io/bitnami/mongodb:6.0", 454_000_000),
                ImageVariant::new("docker.io/library/mongo:6.0", 387_000_000),
            ],
            memory_bytes: Dist::uniform(70.0 * MIB, 231.0 * MIB),
            memory_drift: Dist::uniform(0.05, 0.2),
            cpu_nanocores: Dist::uniform(18.5e6, 44.6e6),
            cpu_variation: 0.4,
            rootfs_bytes: Dist::uniform(20.0 * KIB, 68.0 * KIB),
            logsfs_bytes: Dist::uniform(300e6, 520e6),
            logsfs_growth: Dist::uniform(30_000.0, 150_000.0),
            rx_bytes_per_sec: Dist::uniform(0.0, 1.0),
            tx_bytes_per_sec: Dist::uniform(0.0, 1.0),
            page_faults_per_sec: Dist::uniform(50.0, 500.0),
            volume_bytes: Some(Dist::uniform(300e6, 2e9)),
            volume_growth: Dist::uniform(1_000.0, 20_000.0),
            blkio_fraction: 0.8,
            blkio_read_per_sec: Dist::uniform(0.0, 10_000.0),
            blkio_write_per_sec: Dist::uniform(10_000.0, 100_000.0),
        }
    }

    /// The five measured classes: nginx, apache, postgresql, mysql, mongodb.
    pub fn defaults() -> Vec<ClassProfile> {
        vec![
            Self::nginx(),
            Self::apache(),
            Self::postgresql(),
            Self::mysql(),
            Self::mongodb(),
        ]
    }

    /// The image a pod with this `pick` (any number) runs.
    pub(crate) fn image(&self, pick: u64) -> ImageVariant {
        let n = self.images.len() as u64;
        match n {
            0 => ImageVariant::new(format!("docker.io/library/{}:latest", self.name), 0),
            _ => self.images[(pick % n) as usize].clone(),
        }
    }
}

/// A rate that swings around its mean with two sine waves (one slow, one
/// fast), so it can be integrated exactly: a gauge reads the rate, the
/// matching counter reads its integral, and the two stay consistent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Wave {
    base: f64,
    a1: f64,
    w1: f64,
    p1: f64,
    a2: f64,
    w2: f64,
    p2: f64,
    /// `a1 / w1 * sin(p1) + a2 / w2 * sin(p2)`: makes the integral 0 at `t = 0`.
    offset: f64,
}

/// The sum of the wave amplitudes never exceeds this, so the rate stays at
/// least `(1 - MAX_SWING) * base` and counters grow strictly.
pub(crate) const MAX_SWING: f64 = 0.6;

impl Wave {
    /// A wave with mean `base` and relative swing `variation` (0..=1).
    pub(crate) fn draw<R: Rng + ?Sized>(rng: &mut R, base: f64, variation: f64) -> Self {
        let v = if variation.is_finite() {
            variation.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let tau = std::f64::consts::TAU;
        let base = if base.is_finite() { base.max(0.0) } else { 0.0 };
        let a1 = MAX_SWING * 0.6 * v * rng.random::<f64>();
        let w1 = tau / (300.0 + 1_500.0 * rng.random::<f64>());
        let p1 = tau * rng.random::<f64>();
        let a2 = MAX_SWING * 0.4 * v * rng.random::<f64>();
        let w2 = tau / (30.0 + 90.0 * rng.random::<f64>());
        let p2 = tau * rng.random::<f64>();
        let offset = a1 / w1 * p1.sin() + a2 / w2 * p2.sin();
        Wave {
            base,
            a1,
            w1,
            p1,
            a2,
            w2,
            p2,
            offset,
        }
    }

    /// A wave whose mean is drawn from `mean`.
    pub(crate) fn around<R: Rng + ?Sized>(rng: &mut R, mean: &Dist, variation: f64) -> Self {
        let base = mean.draw(rng);
        Self::draw(rng, base, variation)
    }

    /// The mean rate.
    pub(crate) fn base(&self) -> f64 {
        self.base
    }

    /// The rate `t` seconds after the container started.
    pub(crate) fn rate(&self, t: f64) -> f64 {
        self.base * (1.0 + self.a1 * (self.w1 * t + self.p1).cos() + self.a2 * (self.w2 * t + self.p2).cos())
    }

    /// The integral of the rate from 0 to `t` seconds (0 at `t = 0`).
    pub(crate) fn integral(&self, t: f64) -> f64 {
        let s1 = self.a1 / self.w1 * (self.w1 * t + self.p1).sin();
        let s2 = self.a2 / self.w2 * (self.w2 * t + self.p2).sin();
        self.base * (t + s1 + s2 - self.offset)
    }
}

/// Everything that makes one pod's metrics its own, drawn once from the
/// behaves-as class profile with the pod's seed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PodParams {
    pub memory: f64,
    pub working_set_ratio: f64,
    pub rss_ratio: f64,
    pub memory_drift: f64,
    pub memory_drift_w: f64,
    pub memory_drift_p: f64,
    pub cpu: Wave,
    pub page_faults: Wave,
    pub major_fault_ratio: f64,
    pub rootfs: f64,
    pub rootfs_growth: f64,
    pub logsfs: f64,
    pub logsfs_growth: f64,
    pub rx: Wave,
    pub tx: Wave,
    pub rx_errors_per_sec: f64,
    pub tx_errors_per_sec: f64,
    /// Volume level and growth per second, for pods with volumes.
    pub volume: Option<(f64, f64)>,
    /// Block-I/O read and write waves, for pods whose block I/O is reported.
    pub blkio: Option<(Wave, Wave)>,
}

impl PodParams {
    /// Draws a pod's parameters around `class`.
    pub(crate) fn draw<R: Rng + ?Sized>(class: &ClassProfile, rng: &mut R) -> Self {
        let pos = |x: f64| if x.is_finite() { x.max(0.0) } else { 0.0 };
        let tau = std::f64::consts::TAU;
        let memory = pos(class.memory_bytes.draw(rng));
        let cpu = Wave::around(rng, &class.cpu_nanocores, class.cpu_variation);
        let page_faults = Wave::around(rng, &class.page_faults_per_sec, 0.5);
        let rx = Wave::around(rng, &class.rx_bytes_per_sec, 0.8);
        let tx = Wave::around(rng, &class.tx_bytes_per_sec, 0.8);
        let errors = |rng: &mut R| {
            if rng.random::<f64>() < 0.1 {
                0.01 * rng.random::<f64>()
            } else {
                0.0
            }
        };
        let rx_errors_per_sec = errors(rng);
        let tx_errors_per_sec = errors(rng);
        let volume = class
            .volume_bytes
            .as_ref()
            .map(|d| (pos(d.draw(rng)), pos(class.volume_growth.draw(rng))));
        let blkio = if rng.random::<f64>() < class.blkio_fraction {
            let r = Wave::around(rng, &class.blkio_read_per_sec, 0.8);
            let w = Wave::around(rng, &class.blkio_write_per_sec, 0.8);
            Some((r, w))
        } else {
            None
        };
        PodParams {
            memory,
            working_set_ratio: 0.85 + 0.12 * rng.random::<f64>(),
            rss_ratio: 0.5 + 0.3 * rng.random::<f64>(),
            memory_drift: pos(class.memory_drift.draw(rng)).min(0.9),
            memory_drift_w: tau / (600.0 + 1_800.0 * rng.random::<f64>()),
            memory_drift_p: tau * rng.random::<f64>(),
            cpu,
            page_faults,
            major_fault_ratio: 0.01 * rng.random::<f64>(),
            rootfs: pos(class.rootfs_bytes.draw(rng)),
            rootfs_growth: 0.5 * rng.random::<f64>(),
            logsfs: pos(class.logsfs_bytes.draw(rng)),
            logsfs_growth: pos(class.logsfs_growth.draw(rng)),
            rx,
            tx,
            rx_errors_per_sec,
            tx_errors_per_sec,
            volume,
            blkio,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    proptest! {
        #[test]
        fn wave_integral_is_monotone_and_matches_rate(
            seed in any::<u64>(), base in 0.0f64..1e8, v in 0.0f64..1.0, t in 0.0f64..1e5,
        ) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let w = Wave::draw(&mut rng, base, v);
            prop_assert!(w.rate(t) >= (1.0 - MAX_SWING) * base - 1e-6);
            prop_assert!(w.integral(t + 1.0) >= w.integral(t));
            // the integral's slope is the rate
            let h = 1e-3;
            let slope = (w.integral(t + h) - w.integral(t)) / h;
            prop_assert!((slope - w.rate(t + h / 2.0)).abs() <= 1e-3 * base.max(1.0));
        }

        #[test]
        fn uniform_and_mix_draws_stay_in_bounds(seed in any::<u64>(), a in -1e6f64..1e6, b in -1e6f64..1e6) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (lo, hi) = (a.min(b), a.max(b));
            let x = Dist::uniform(a, b).draw(&mut rng);
            prop_assert!(lo <= x && x <= hi);
            let m = Dist::Mix(vec![(1.0, Dist::uniform(a, b)), (-3.0, Dist::fixed(1e9))]).draw(&mut rng);
            prop_assert!(lo <= m && m <= hi);
        }
    }

    #[test]
    fn default_classes_are_the_five_measured_ones() {
        let names: Vec<_> = ClassProfile::defaults().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["nginx", "apache", "postgresql", "mysql", "mongodb"]);
        assert!(ClassProfile::mysql().memory_bytes.mean() > 10.0 * ClassProfile::nginx().memory_bytes.mean());
    }
}
