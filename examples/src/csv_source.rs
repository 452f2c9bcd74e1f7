//! A [`MetricSource`] over a CSV file of samples, written against `cad-core` alone.
//!
//! The file has one sample per line, `time_ms,namespace,pod,container,metric,value`,
//! where `metric` is a [`Metric::name`] (`memory_usage_bytes`, `rx_bytes`, …).
//! A header line with exactly those column names, blank lines and lines
//! starting with `#` are skipped. The recordings of real servers in
//! `data/recordings/` are in this format.

use async_trait::async_trait;
use cad_core::{ContainerId, Metric, MetricBatch, MetricSource, Sample, SourceError, TimeWindow, Timestamp};
use std::collections::HashMap;
use std::path::PathBuf;

/// The header line the file may start with.
pub const HEADER: &str = "time_ms,namespace,pod,container,metric,value";

/// A [`MetricSource`] that reads samples from a CSV file.
///
/// The file is read again on every fetch, so it behaves like a backend whose
/// contents change; one pass over the file answers for all requested
/// containers (batched, as the trait asks).
pub struct CsvMetricSource {
    path: PathBuf,
}

impl CsvMetricSource {
    /// A source over the CSV file at `path` (read on each fetch).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CsvMetricSource { path: path.into() }
    }

    fn backend(&self) -> String {
        format!("CSV file {}", self.path.display())
    }
}

/// One parsed line.
struct Row<'a> {
    time: Timestamp,
    namespace: &'a str,
    pod: &'a str,
    container: &'a str,
    metric: Metric,
    value: f64,
}

/// Parses one data line, or says what is wrong with it.
///
/// Hand-written instead of using the `csv` crate: the format has no quoting
/// and cannot need any — namespaces, pod and container names are DNS labels
/// (no commas), metric names are identifiers and the rest are numbers — so a
/// `split(',')` reads it exactly and keeps the example free of dependencies.
fn parse_line(line: &str) -> Result<Row<'_>, String> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    let [time, namespace, pod, container, metric, value] = fields[..] else {
        return Err(format!("expected 6 comma-separated fields, found {}", fields.len()));
    };
    let time = time
        .parse::<i64>()
        .map_err(|e| format!("time_ms {time:?} is not an integer: {e}"))?;
    let metric = Metric::from_name(metric).ok_or_else(|| format!("unknown metric {metric:?}"))?;
    // NaN, infinities and negatives parse and are passed on: the feature
    // extractor drops them, as it does for any source.
    let value = value
        .parse::<f64>()
        .map_err(|e| format!("value {value:?} is not a number: {e}"))?;
    if namespace.is_empty() || pod.is_empty() || container.is_empty() {
        return Err("namespace, pod and container must not be empty".to_owned());
    }
    Ok(Row {
        time: Timestamp(time),
        namespace,
        pod,
        container,
        metric,
        value,
    })
}

/// Reads the samples of `wanted` containers within `window` from `text`.
fn parse(text: &str, wanted: &[ContainerId], window: TimeWindow, backend: &str) -> Result<MetricBatch, SourceError> {
    // The file names containers by namespace, pod and container name (no UID).
    let by_name: HashMap<(&str, &str, &str), &ContainerId> = wanted
        .iter()
        .map(|c| ((c.pod.namespace.as_str(), c.pod.name.as_str(), c.container.as_str()), c))
        .collect();
    let mut batch = MetricBatch::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || (n == 0 && line == HEADER) {
            continue;
        }
        let row = parse_line(line).map_err(|message| SourceError::Protocol {
            backend: backend.to_owned(),
            message: format!("line {}: {message}", n + 1),
            source: None,
        })?;
        if !window.contains(row.time) {
            continue;
        }
        if let Some(id) = by_name.get(&(row.namespace, row.pod, row.container)) {
            batch.push(id, Sample::new(row.time, row.metric, row.value));
        }
    }
    Ok(batch)
}

#[async_trait]
impl MetricSource for CsvMetricSource {
    async fn fetch(&self, containers: &[ContainerId], window: TimeWindow) -> Result<MetricBatch, SourceError> {
        let path = self.path.clone();
        let backend = self.backend();
        let containers = containers.to_vec();
        // File reading blocks; keep it off the async worker threads.
        tokio::task::spawn_blocking(move || {
            let text = std::fs::read_to_string(&path).map_err(|e| SourceError::Unavailable {
                backend: backend.clone(),
                source: Box::new(e),
            })?;
            parse(&text, &containers, window, &backend)
        })
        .await
        .map_err(|e| SourceError::Unavailable {
            backend: self.backend(),
            source: Box::new(e),
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cad_core::PodId;

    fn window() -> TimeWindow {
        TimeWindow::new(Timestamp(0), Timestamp(100))
    }

    #[test]
    fn reads_wanted_containers_within_the_window() {
        let a = PodId::new("ns", "a", "u1").container("c");
        let text = format!("{HEADER}\n# comment\n\n5,ns,a,c,rx_bytes,7\n500,ns,a,c,rx_bytes,8\n6,ns,b,c,rx_bytes,9\n");
        let batch = parse(&text, std::slice::from_ref(&a), window(), "test").unwrap();
        assert_eq!(batch.samples(&a), [Sample::new(Timestamp(5), Metric::RxBytes, 7.0)]);
        assert_eq!(batch.sample_count(), 1);
    }

    #[test]
    fn errors_name_the_line() {
        for (text, needle) in [
            ("1,ns,a,c,rx_bytes\n", "line 1: expected 6"),
            ("1,ns,a,c,rx_bytes,1\nx,ns,a,c,rx_bytes,1\n", "line 2: time_ms"),
            ("\n\n1,ns,a,c,bogus,1\n", "line 3: unknown metric"),
            ("1,ns,a,c,rx_bytes,lots\n", "line 1: value"),
        ] {
            match parse(text, &[], window(), "test") {
                Err(SourceError::Protocol { message, .. }) => assert!(message.contains(needle), "{message}"),
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }
}
