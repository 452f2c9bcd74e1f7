//! A custom [`MetricSource`] written against `cad-core` alone: samples come
//! from a CSV file instead of InfluxDB.
//!
//! The file has one sample per line, `time_ms,namespace,pod,container,metric,value`,
//! where `metric` is a [`Metric::name`] (`memory_usage_bytes`, `rx_bytes`, …).
//! A header line with exactly those column names, blank lines and lines
//! starting with `#` are skipped.
//!
//! Run it with `cargo run -p cad-examples --example csv_metric_source`: it
//! writes a small CSV to the temp directory, fetches two containers over a
//! window and prints the `behaviour` feature rows.

use async_trait::async_trait;
use cad_core::{
    ContainerId, ContainerInfo, ContainerInput, FeatureSet, Metric, MetricBatch, MetricSource, PodId, PodInfo, Sample,
    SourceError, TimeWindow, Timestamp,
};
use std::collections::HashMap;
use std::path::PathBuf;

/// The header line the file may start with.
const HEADER: &str = "time_ms,namespace,pod,container,metric,value";

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

/// Writes a small CSV: two containers, eight Telegraf-like scrapes 10 s
/// apart, with the network measurement a second behind the container one.
fn write_demo_csv(path: &std::path::Path) -> std::io::Result<()> {
    let mut text = String::from(HEADER);
    text.push('\n');
    let pods = [
        ("shop", "nginx-7f9c", "nginx", 12e6, 3e6),
        ("shop", "mysql-0", "mysql", 450e6, 40e6),
    ];
    for (namespace, pod, container, memory, cpu) in pods {
        for i in 0..8i64 {
            let t = 1_700_000_000_000 + i * 10_000;
            let k = i as f64;
            let lines = [
                (t, "memory_usage_bytes", memory + 1e5 * k),
                (t, "memory_working_set_bytes", memory * 0.9),
                (t, "cpu_usage_nanocores", cpu * (1.0 + 0.1 * (k % 3.0))),
                (t, "cpu_usage_core_nanoseconds", cpu * 10.0 * k),
                (t + 1_200, "rx_bytes", 1.5e4 * k),
                (t + 1_200, "tx_bytes", 9e4 * k),
            ];
            for (time, metric, value) in lines {
                text.push_str(&format!("{time},{namespace},{pod},{container},{metric},{value}\n"));
            }
        }
    }
    std::fs::write(path, text)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join(format!("cad-csv-metric-source-{}.csv", std::process::id()));
    write_demo_csv(&path)?;
    let source = CsvMetricSource::new(&path);

    let mut pods = Vec::new();
    for (name, container, image) in [("nginx-7f9c", "nginx", "nginx:1.25"), ("mysql-0", "mysql", "mysql:8.0")] {
        let mut pod = PodInfo::new(PodId::new("shop", name, format!("uid-{name}")));
        pod.start_time = Some(Timestamp::from_secs(1_699_999_000));
        let mut info = ContainerInfo::new(container, image);
        info.image_size_bytes = Some(180_000_000);
        pod.containers.push(info);
        pods.push(pod);
    }
    let ids: Vec<ContainerId> = pods.iter().flat_map(PodInfo::container_ids).collect();
    let window = TimeWindow::new(Timestamp::from_secs(1_700_000_000), Timestamp::from_secs(1_700_000_060));
    let fetched = source.fetch(&ids, window).await;
    // The file was only needed for the fetch.
    std::fs::remove_file(&path)?;
    let batch = fetched?;

    let set = FeatureSet::behaviour();
    println!("feature set {:?}: {}", set.name, set.column_names().join(", "));
    for pod in &pods {
        for container in &pod.containers {
            let id = pod.id.container(container.name.clone());
            let input = ContainerInput {
                pod,
                container,
                samples: batch.samples(&id),
            };
            let rows = set.rows(&input);
            println!("{id}: {} samples, {} rows", input.samples.len(), rows.len());
            for row in rows {
                let cells: Vec<String> = row
                    .iter()
                    .map(|v| v.map_or_else(|| "?".to_owned(), |v| format!("{v:.1}")))
                    .collect();
                println!("  {}", cells.join(", "));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
