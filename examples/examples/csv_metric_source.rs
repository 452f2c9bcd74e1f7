//! A custom [`MetricSource`] written against `cad-core` alone: samples come
//! from a CSV file instead of InfluxDB.
//!
//! The source itself is [`cad_examples::csv_source::CsvMetricSource`]
//! (`examples/src/csv_source.rs`): one sample per line,
//! `time_ms,namespace,pod,container,metric,value`, where `metric` is a
//! [`Metric::name`](cad_core::Metric::name).
//!
//! Run it with `cargo run -p cad-examples --example csv_metric_source`: it
//! writes a small CSV to the temp directory, fetches two containers over a
//! window and prints the `behaviour` feature rows.

use cad_core::{
    ContainerId, ContainerInfo, ContainerInput, FeatureSet, MetricSource, PodId, PodInfo, TimeWindow, Timestamp,
};
use cad_examples::csv_source::{CsvMetricSource, HEADER};

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
