//! Reading and writing [`Dataset`](crate::Dataset)s: Weka ARFF ([`arff`]) and CSV ([`csv`]).
//!
//! Both formats carry numeric feature columns, a class column and optionally a
//! `group` column naming the container each row came from. A grouped
//! evaluation needs the group, so when a file has none (the old system's ARFF
//! files have none) it is inferred, see [`GroupRule`].

pub mod arff;
pub mod csv;

use serde::{Deserialize, Serialize};

/// A gap in `runningTimeSeconds` larger than this (in seconds) between two
/// consecutive rows starts a new inferred group. The old collector sampled
/// every 10 s, so 60 s is six missed samples.
pub const MAX_TIME_GAP_SECONDS: f64 = 60.0;

/// How the group (container) of each row was found when a file was read.
///
/// The rules, in order of preference:
///
/// 1. [`GroupRule::Column`] — the file has an attribute/column named `group`
///    (case-insensitive); its value is the group. It is not a feature.
/// 2. [`GroupRule::LegacyIdentity`] — the file has the old system's identity
///    column `podName` (a Java hash of the pod name). Rows with the same
///    `podName` — and the same `containerName` if that column exists — are one
///    group, named `podName/containerName` from the values' text. The identity
///    columns stay features: they are what the file says (the `legacy` feature
///    set uses them), even though they leak the label.
/// 3. [`GroupRule::ClassAndTimeRuns`] — neither: the old system wrote each
///    container's samples as one contiguous block, so a new group starts at
///    the first row, whenever the class changes, and — if a
///    `runningTimeSeconds` column exists — whenever it does not continue from
///    the previous row: it goes down, or jumps up by more than
///    [`MAX_TIME_GAP_SECONDS`]. Equal times continue (repeated samples); a
///    missing time on either row does not break a run. Without the time
///    column this is one group per contiguous run of a class. Groups are
///    named `run<N>-<class>`, `N` counting from 1.
///
/// A group named `namespace/pod/container` (as the collector names a
/// container's rows) whose pod is a Deployment's is recorded as a replica of
/// its ReplicaSet ([`Dataset::infer_replica_sets`](crate::Dataset::infer_replica_sets)):
/// the grouped splits keep replicas together.
///
/// On the old system's files rules 2 and 3 agree: 19 containers (mysql 3,
/// nginx 11, mongodb 3, postgresql 1, apache 1), see the tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupRule {
    /// An explicit `group` column.
    Column,
    /// The legacy `podName` (and `containerName`) identity columns.
    LegacyIdentity,
    /// Contiguous runs of one class with a continuing `runningTimeSeconds`.
    ClassAndTimeRuns,
}

/// The column names the legacy group inference looks at (compared ignoring ASCII case).
pub(crate) const POD_NAME: &str = "podName";
pub(crate) const CONTAINER_NAME: &str = "containerName";
pub(crate) const RUNNING_TIME: &str = "runningTimeSeconds";
pub(crate) const GROUP: &str = "group";
pub(crate) const CLASS: &str = "class";

/// Characters of a value or name quoted in an error message; longer text is
/// cut (a 10 MB field must not become a 10 MB error).
pub const EXCERPT_CHARS: usize = 60;

/// `text` as quoted in an error message: whole if short, else its first
/// characters, `…` and its length in bytes.
pub fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
    }
}

/// How many line numbers an error about many rows lists.
pub const MAX_LISTED_LINES: usize = 10;

/// `"5, 9, 12"`, with `", …"` when `total` is more than listed.
pub(crate) fn line_list<T: std::fmt::Display>(lines: &[T], total: usize) -> String {
    let mut s = lines.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    if total > lines.len() {
        s.push_str(", …");
    }
    s
}

/// Streaming state of rule 3 of [`GroupRule`]: one call per row, in file order.
#[derive(Debug, Default)]
pub(crate) struct RunInference {
    prev: Option<(usize, Option<f64>)>,
    run: usize,
    name: String,
}

impl RunInference {
    /// The group name of the next row, given its class index and name and its
    /// running time (if the column exists and the value is present).
    pub(crate) fn next(&mut self, class: usize, class_name: &str, time: Option<f64>) -> &str {
        let continues = match self.prev {
            None => false,
            Some((prev_class, prev_time)) => {
                prev_class == class
                    && match (prev_time, time) {
                        (Some(p), Some(t)) => t >= p && t - p <= MAX_TIME_GAP_SECONDS,
                        _ => true,
                    }
            }
        };
        if !continues {
            self.run += 1;
            self.name = format!("run{}-{}", self.run, class_name);
        }
        // Keep the last known time so one missing value does not hide a jump.
        let time = time.or(self.prev.and_then(|(_, t)| t));
        self.prev = Some((class, time));
        &self.name
    }
}

/// The group name of rule 2 of [`GroupRule`].
pub(crate) fn identity_group(pod: &str, container: Option<&str>) -> String {
    match container {
        Some(c) => format!("{pod}/{c}"),
        None => pod.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_cut_long_text() {
        assert_eq!(excerpt("12x"), "12x");
        let long = "é".repeat(5_000_000);
        let e = excerpt(&long);
        assert!(e.chars().count() < EXCERPT_CHARS + 30, "{e}");
        assert!(e.ends_with("… (10000000 bytes)"), "{e}");
        assert_eq!(line_list(&[5, 9], 2), "5, 9");
        assert_eq!(line_list(&[5, 9], 3), "5, 9, …");
    }

    #[test]
    fn runs_break_on_class_change_and_time_jumps() {
        let mut r = RunInference::default();
        let names: Vec<String> = [
            (0, "a", Some(100.0)),
            (0, "a", Some(110.0)),
            (0, "a", Some(110.0)), // repeated sample continues
            (0, "a", None),        // missing time continues
            (0, "a", Some(200.0)), // jump > 60 s from 110
            (0, "a", Some(150.0)), // goes down
            (1, "b", Some(160.0)), // class change
            (0, "a", Some(170.0)), // class change back
        ]
        .into_iter()
        .map(|(c, n, t)| r.next(c, n, t).to_string())
        .collect();
        assert_eq!(
            names,
            [
                "run1-a", "run1-a", "run1-a", "run1-a", "run2-a", "run3-a", "run4-b", "run5-a"
            ]
        );
    }
}
