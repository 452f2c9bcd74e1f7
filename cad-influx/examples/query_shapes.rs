//! What a batched read costs a real InfluxDB 1.x, by query shape, pods per
//! statement and requests in flight. Starts its own `influxd` (as the tests
//! do), writes `pods` simulated pods' Telegraf-shaped metrics for 3 minutes
//! at 10 s intervals, then reads them all back in each way and prints wall
//! time, influxd CPU time, requests, bytes and the series returned.
//!
//! ```text
//! cargo run --release -p cad-influx --example query_shapes -- PODS [SHAPES [CHUNKS [PARALLEL [ROUNDS]]]]
//! cargo run --release -p cad-influx --example query_shapes -- 10000 eq,eq-ns,regex,time 50,100,200,400 1,2,4 3
//! ```
//!
//! Every configuration runs once per round (after a warm-up), rounds
//! interleaved, and the medians are printed with each round's influxd CPU.
//!
//! Shapes (every statement selects only the fields cad reads):
//! * `eq`    — per pod `(namespace = … AND pod_name = … AND (container_name = …))`, OR'd;
//! * `eq-ns` — per namespace `(namespace = … AND (pod_name = … OR …))`, and
//!   `(container_name = … OR …)` over the chunk's containers: what cad sends;
//! * `regex` — the same with regexes: per namespace `(namespace = … AND pod_name =~ /^(?:a|b|…)$/)`;
//! * `time`  — no tag condition at all: every series in the window, filtered by the client.

#[path = "../tests/common/mod.rs"]
mod common;

use cad_core::{PodInfo, Timestamp};
use common::InfluxServer;
use common::load::{cpu_seconds, sim_pods, write_to};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const DB: &str = "telegraf";
const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn re(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            out.push(c);
        } else if c.is_ascii_punctuation() {
            if c != '/' {
                out.push('\\');
            }
            out.push(if c == '/' { '/' } else { c });
        } else {
            out.push_str(&format!("\\x{{{:x}}}", c as u32));
        }
    }
    out
}

const CONTAINER_FIELDS: &str = r#""cpu_usage_nanocores", "cpu_usage_core_nanoseconds", "memory_usage_bytes", "memory_working_set_bytes", "memory_rss_bytes", "memory_page_faults", "memory_major_page_faults", "rootfs_used_bytes", "logsfs_used_bytes""#;

struct Window(i64, i64);

impl Window {
    fn cond(&self) -> String {
        format!("time >= {}ms AND time < {}ms", self.0, self.1)
    }
}

fn statements(shape: &str, pods: &[&PodInfo], w: &Window) -> Vec<String> {
    let t = w.cond();
    let sel = |fields: &str, m: &str, cond: &str, group: &str| {
        if cond.is_empty() {
            format!("SELECT {fields} FROM \"{m}\" WHERE {t} GROUP BY {group}")
        } else {
            format!("SELECT {fields} FROM \"{m}\" WHERE {t} AND ({cond}) GROUP BY {group}")
        }
    };
    let (c_cond, p_cond, b_cond) = match shape {
        "eq" => {
            let c: Vec<String> = pods
                .iter()
                .map(|p| {
                    let cs: Vec<String> = p
                        .containers
                        .iter()
                        .map(|c| format!("\"container_name\" = {}", lit(&c.name)))
                        .collect();
                    format!(
                        "(\"namespace\" = {} AND \"pod_name\" = {} AND ({}))",
                        lit(&p.id.namespace),
                        lit(&p.id.name),
                        cs.join(" OR ")
                    )
                })
                .collect();
            let pc: Vec<String> = pods
                .iter()
                .map(|p| {
                    format!(
                        "(\"namespace\" = {} AND \"pod_name\" = {})",
                        lit(&p.id.namespace),
                        lit(&p.id.name)
                    )
                })
                .collect();
            let bc: Vec<String> = pods
                .iter()
                .map(|p| {
                    let cs: Vec<String> = p
                        .containers
                        .iter()
                        .map(|c| format!("\"io.kubernetes.container.name\" = {}", lit(&c.name)))
                        .collect();
                    format!(
                        "((\"io.kubernetes.pod.uid\" = {}) AND ({}))",
                        lit(&p.id.uid),
                        cs.join(" OR ")
                    )
                })
                .collect();
            (c.join(" OR "), pc.join(" OR "), bc.join(" OR "))
        }
        "eq-ns" | "regex" => {
            let mut by_ns: BTreeMap<&str, Vec<&PodInfo>> = BTreeMap::new();
            for p in pods {
                by_ns.entry(&p.id.namespace).or_default().push(p);
            }
            let k8s: Vec<String> = by_ns
                .iter()
                .map(|(ns, ps)| {
                    let names = if shape == "regex" {
                        let alts: Vec<String> = ps.iter().map(|p| re(&p.id.name)).collect();
                        format!("\"pod_name\" =~ /^(?:{})$/", alts.join("|"))
                    } else {
                        let alts: Vec<String> = ps
                            .iter()
                            .map(|p| format!("\"pod_name\" = {}", lit(&p.id.name)))
                            .collect();
                        format!("({})", alts.join(" OR "))
                    };
                    format!("(\"namespace\" = {} AND {names})", lit(ns))
                })
                .collect();
            let mut containers: Vec<&str> = pods
                .iter()
                .flat_map(|p| p.containers.iter().map(|c| c.name.as_str()))
                .collect();
            containers.sort_unstable();
            containers.dedup();
            let one_of = |tag: &str, values: &mut dyn Iterator<Item = &str>| {
                if shape == "regex" {
                    let alts: Vec<String> = values.map(re).collect();
                    format!("\"{tag}\" =~ /^(?:{})$/", alts.join("|"))
                } else {
                    let terms: Vec<String> = values.map(|v| format!("\"{tag}\" = {}", lit(v))).collect();
                    format!("({})", terms.join(" OR "))
                }
            };
            let c = one_of("container_name", &mut containers.iter().copied());
            let bc = one_of("io.kubernetes.container.name", &mut containers.iter().copied());
            let b = one_of("io.kubernetes.pod.uid", &mut pods.iter().map(|p| p.id.uid.as_str()));
            let groups = k8s.join(" OR ");
            (format!("({groups}) AND {c}"), groups, format!("{b} AND {bc}"))
        }
        _ => (String::new(), String::new(), String::new()),
    };
    vec![
        sel(
            CONTAINER_FIELDS,
            "kubernetes_pod_container",
            &c_cond,
            "\"namespace\", \"pod_name\", \"container_name\"",
        ),
        sel(
            "\"rx_bytes\", \"tx_bytes\", \"rx_errors\", \"tx_errors\"",
            "kubernetes_pod_network",
            &p_cond,
            "\"namespace\", \"pod_name\"",
        ),
        sel(
            "\"used_bytes\"",
            "kubernetes_pod_volume",
            &p_cond,
            "\"namespace\", \"pod_name\", \"volume_name\"",
        ),
        sel(
            "\"io_service_bytes_recursive_read\", \"io_service_bytes_recursive_write\"",
            "docker_container_blkio",
            &b_cond,
            "\"io.kubernetes.pod.uid\", \"io.kubernetes.container.name\", \"device\"",
        ),
    ]
}

struct Run {
    wall: f64,
    cpu: f64,
    requests: usize,
    bytes: usize,
    max_bytes: usize,
    series: usize,
    max_request_s: f64,
}

async fn run(server: &InfluxServer, client: &reqwest::Client, bodies: &[String], parallel: usize) -> Run {
    let pid = server.pid().expect("influxd runs");
    let cpu0 = cpu_seconds(pid).unwrap_or(0.0);
    let started = Instant::now();
    let url = format!("{}/query?db={DB}&epoch=ms", server.url());
    let results: Vec<(usize, f64)> = futures::stream::iter(bodies.iter())
        .map(|b| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let t = Instant::now();
                let r = client
                    .post(url)
                    .basic_auth(common::ADMIN, Some(common::ADMIN_PASSWORD))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(b.clone())
                    .send()
                    .await
                    .expect("query");
                let status = r.status();
                let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.expect("body")).expect("JSON");
                assert!(status.is_success(), "HTTP {status}: {v}");
                let mut series = 0;
                for res in v["results"].as_array().expect("results") {
                    assert!(res.get("error").is_none(), "{res}");
                    series += res["series"].as_array().map_or(0, Vec::len);
                }
                (series, t.elapsed().as_secs_f64())
            }
        })
        .buffer_unordered(parallel)
        .collect()
        .await;
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid).unwrap_or(0.0) - cpu0;
    Run {
        wall,
        cpu,
        requests: bodies.len(),
        bytes: bodies.iter().map(String::len).sum(),
        max_bytes: bodies.iter().map(String::len).max().unwrap_or(0),
        series: results.iter().map(|r| r.0).sum(),
        max_request_s: results.iter().map(|r| r.1).fold(0.0, f64::max),
    }
}

fn body(statements: &[String]) -> String {
    let q = statements.join(";\n");
    form_urlencoded::Serializer::new(String::new())
        .append_pair("q", &q)
        .finish()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(3000);
    let shapes: Vec<String> = args
        .get(1)
        .map(|s| s.split(',').map(str::to_owned).collect())
        .unwrap_or_else(|| ["eq", "eq-ns", "regex", "time"].map(String::from).to_vec());
    let chunks: Vec<usize> = args
        .get(2)
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![25, 50, 100, 200, 400]);
    let parallels: Vec<usize> = args
        .get(3)
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 4]);
    let rounds: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(3).max(1);

    let Some(server) = InfluxServer::start().await else {
        eprintln!("influxd not found");
        std::process::exit(2);
    };
    server.create_database(DB).await;
    let (sim, clock, pods) = sim_pods(n, T0, 11);
    let end = T0 + Duration::from_secs(180);
    let t = Instant::now();
    let lines = write_to(&server, DB, &sim, &clock, &pods, T0, end).await.lines;
    println!(
        "pods={n} lines={lines} written in {:.1} s; influxd pid {:?}",
        t.elapsed().as_secs_f64(),
        server.pid()
    );
    let client = reqwest::Client::new();
    let refs: Vec<&PodInfo> = pods.iter().collect();
    // Every configuration once per round, rounds interleaved, so that other
    // load on the machine spreads over all of them; medians are printed.
    struct Case {
        name: String,
        bodies: Vec<String>,
        parallel: usize,
        runs: Vec<Run>,
    }
    let mut cases = Vec::new();
    for (wname, w) in [
        ("120s", Window(end.as_millis() - 120_000, end.as_millis())),
        ("10s", Window(end.as_millis() - 10_000, end.as_millis())),
    ] {
        for shape in &shapes {
            let chunk_list = if shape == "time" { vec![n] } else { chunks.clone() };
            for &chunk in &chunk_list {
                let bodies: Vec<String> = if shape == "time" {
                    vec![body(&statements(shape, &[], &w))]
                } else {
                    refs.chunks(chunk).map(|c| body(&statements(shape, c, &w))).collect()
                };
                let par_list = if shape == "time" { vec![1] } else { parallels.clone() };
                for &parallel in &par_list {
                    cases.push(Case {
                        name: format!("{wname} {shape} {chunk} {parallel}"),
                        bodies: bodies.clone(),
                        parallel,
                        runs: Vec::new(),
                    });
                }
            }
        }
    }
    for c in &cases {
        let _ = run(&server, &client, &c.bodies, c.parallel).await; // warm-up
    }
    for _ in 0..rounds {
        for c in &mut cases {
            let r = run(&server, &client, &c.bodies, c.parallel).await;
            c.runs.push(r);
        }
    }
    println!(
        "window shape chunk parallel requests total_kb max_kb series | median of {rounds}: wall_s influxd_cpu_s slowest_request_s | cpu_s of each round"
    );
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for c in &cases {
        let r = &c.runs[0];
        let cpus: Vec<String> = c.runs.iter().map(|r| format!("{:.2}", r.cpu)).collect();
        println!(
            "{} {} {:.0} {:.1} {} | {:.3} {:.2} {:.3} | {}",
            c.name,
            r.requests,
            r.bytes as f64 / 1024.0,
            r.max_bytes as f64 / 1024.0,
            r.series,
            median(c.runs.iter().map(|r| r.wall).collect()),
            median(c.runs.iter().map(|r| r.cpu).collect()),
            median(c.runs.iter().map(|r| r.max_request_s).collect()),
            cpus.join(" ")
        );
    }
}
