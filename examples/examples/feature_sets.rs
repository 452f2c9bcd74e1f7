//! Measures the feature sets on the recordings of real servers
//! (`data/recordings/`): leave-one-container-out over the 20 instances of
//! the four classes (nginx, apache, mysql, postgresql), for each feature set
//! and algorithm.
//!
//! ```text
//! cargo run --release -p cad-examples --example feature_sets [-- SET ...]
//! ```
//!
//! Three figures per set and algorithm, each training on the other 19
//! containers and judging the held-out one:
//! * `rows`: share of the held-out container's rows (all ages, windows of
//!   3 snapshots) predicted right, trained on every row of the others;
//! * `first, all ages`: the held-out container's first row — what the
//!   watcher decides on, about 30 s after the start — right or not, trained
//!   on every row of the others;
//! * `first, old only`: the same, trained only on rows at least 5 minutes
//!   old (a model that never saw a pod's first minutes).

use cad_core::model::Algorithm;
use cad_core::{Classifier, ContainerInput, Dataset, FeatureSet, Timestamp};
use cad_examples::recordings::{self, dir};
use std::time::Duration;

const CLASSES: [&str; 4] = ["nginx", "apache", "mysql", "postgresql"];
/// Rows at least this old count as "old" (PROFILES.md's steady phase).
const OLD: Duration = Duration::from_secs(300);

struct Rows {
    class: usize,
    /// (age in seconds, row), oldest snapshot window first.
    rows: Vec<(f64, Vec<Option<f64>>)>,
}

fn dataset(set: &FeatureSet, containers: &[&Rows], keep: impl Fn(f64) -> bool) -> Dataset {
    let mut d = Dataset::new(set.column_names(), CLASSES.map(String::from).to_vec());
    for (g, c) in containers.iter().enumerate() {
        let group = d.group_index(&format!("c{g}"));
        for (age, row) in &c.rows {
            if keep(*age) {
                d.push_indexed(row, c.class, group).expect("same width");
            }
        }
    }
    d
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    let sets: Vec<FeatureSet> = if wanted.is_empty() {
        vec![FeatureSet::behaviour_v1(), FeatureSet::behaviour()]
    } else {
        wanted
            .iter()
            .map(|n| FeatureSet::by_name(n).ok_or_else(|| format!("no feature set {n:?}")))
            .collect::<Result<_, _>>()?
    };
    let instances: Vec<_> = recordings::instances(&dir())?
        .into_iter()
        .filter(|i| CLASSES.contains(&i.class.as_str()))
        .collect();
    let batch = recordings::samples(&dir(), &instances).await?;
    println!(
        "leave-one-container-out over {} recorded containers of {} classes",
        instances.len(),
        CLASSES.len()
    );
    println!("| feature set | algorithm | rows | first, all ages | first, old only |");
    println!("| --- | --- | --- | --- | --- |");
    for set in &sets {
        let containers: Vec<Rows> = instances
            .iter()
            .map(|inst| {
                let pod = inst.pod_info();
                let input = ContainerInput {
                    pod: &pod,
                    container: &pod.containers[0],
                    samples: batch.samples(&inst.id()),
                };
                let start = Timestamp(inst.start_ms);
                Rows {
                    class: CLASSES.iter().position(|c| *c == inst.class).unwrap_or(0),
                    rows: set
                        .timed_rows(&input)
                        .into_iter()
                        .map(|(t, row)| (t.secs_since(start), row))
                        .collect(),
                }
            })
            .collect();
        for alg in ["tree", "forest"] {
            let algorithm = Algorithm::by_name(alg).ok_or("no such algorithm")?;
            let (mut rows_right, mut rows_all, mut first_all, mut first_old) = (0usize, 0usize, 0usize, 0usize);
            for (held, test) in containers.iter().enumerate() {
                let others: Vec<&Rows> = containers
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != held)
                    .map(|(_, c)| c)
                    .collect();
                let all = algorithm.fit(&dataset(set, &others, |_| true))?;
                let old = algorithm.fit(&dataset(set, &others, |age| age >= OLD.as_secs_f64()))?;
                for (_, row) in &test.rows {
                    rows_right += usize::from(all.predict(row).class == test.class);
                    rows_all += 1;
                }
                if let Some((_, first)) = test.rows.first() {
                    first_all += usize::from(all.predict(first).class == test.class);
                    first_old += usize::from(old.predict(first).class == test.class);
                }
            }
            println!(
                "| {} | {alg} | {:.1} % | {first_all}/{n} | {first_old}/{n} |",
                set.name,
                100.0 * rows_right as f64 / rows_all.max(1) as f64,
                n = containers.len()
            );
        }
    }
    Ok(())
}
