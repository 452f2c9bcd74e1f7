//! The programs, run as a user runs them: the demo, the collector on the
//! simulated cluster and on the old system's ARFF data, the watcher with its
//! HTTP endpoints.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cad-programs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(bin: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn the_demo_catches_impostors() {
    let dir = tempdir("demo");
    let (ok, stdout, stderr) = run(env!("CARGO_BIN_EXE_cad"), &["demo", "--out-dir", dir.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("=== Confusion Matrix ==="), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("== impostors caught:"))
        .expect(&stdout);
    // "== impostors caught: C of N; services outside the class list flagged:
    // U of V; honest pods flagged (mismatch or low confidence): F of H"
    let nums: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let [caught, impostors, _unknown_flagged, unknown, _flagged, honest] = nums[..] else {
        panic!("{line}");
    };
    // The 5 spawned impostors, and services outside the class list that the
    // hard simulator names like a class.
    assert!(impostors >= 5, "{line}");
    assert_eq!((unknown, honest), (5, 30), "{line}");
    assert!(caught >= 4, "{line}");
    // Honest pods flagged: 6 on this seed with the behaviour set on the hard
    // simulator (fresh apache pods taken for nginx, as in
    // cad-core/tests/ages.rs); issue 16's target (at most 2 %) is measured
    // there and by `cad demo --sweep`, not met yet.
    for f in [
        "model.cadm",
        "report.txt",
        "report.json",
        "tree.txt",
        "tree.dot",
        "learning-curve.svg",
        "confusion-matrix.png",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
}

/// `cad demo --sweep N` ends with the issue's line, exactly, after one line
/// per seed, and writes no files.
#[test]
fn the_sweep_ends_with_one_comparable_line() {
    let dir = tempdir("sweep");
    let (ok, stdout, stderr) = run(
        env!("CARGO_BIN_EXE_cad"),
        &["demo", "--sweep", "2", "--out-dir", dir.to_str().unwrap()],
    );
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.iter().filter(|l| l.starts_with("seed ")).count(), 2, "{stdout}");
    let last = lines.last().expect("output");
    let rest = last.strip_prefix("sweep 2 seeds: impostors flagged ").expect(last);
    // "A/B, unknown services flagged C/D, honest pods flagged E/F, grouped accuracy G %"
    let parts: Vec<&str> = rest.split(", ").collect();
    assert_eq!(parts.len(), 4, "{last}");
    let fraction = |s: &str| -> (usize, usize) {
        let (a, b) = s.split_once('/').expect(last);
        (a.parse().expect(last), b.parse().expect(last))
    };
    let (a, b) = fraction(parts[0]);
    let (c, d) = fraction(parts[1].strip_prefix("unknown services flagged ").expect(last));
    let (e, f) = fraction(parts[2].strip_prefix("honest pods flagged ").expect(last));
    let g: f64 = parts[3]
        .strip_prefix("grouped accuracy ")
        .and_then(|s| s.strip_suffix(" %"))
        .expect(last)
        .parse()
        .expect(last);
    // 5 impostors, 5 unknown services and 30 honest pods per seed (the defaults).
    assert_eq!((b, d, f), (10, 10, 60), "{last}");
    assert!(a <= b && c <= d && e <= f, "{last}");
    assert!((0.0..=100.0).contains(&g), "{last}");
    assert!(
        std::fs::read_dir(&dir).map_or(true, |mut d| d.next().is_none()),
        "a sweep writes no files"
    );
}

#[test]
fn the_collector_trains_from_the_simulated_cluster_and_prints_a_configmap() {
    let dir = tempdir("collect");
    let (ok, stdout, stderr) = run(
        env!("CARGO_BIN_EXE_cad-collector"),
        &[
            "--source",
            "sim",
            "--out-dir",
            dir.to_str().unwrap(),
            "--print",
            "configmap",
        ],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("apiVersion: v1\nkind: ConfigMap\n"), "{stdout}");
    assert!(stdout.contains("binaryData:\n  model.cadm: "));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert!(report["accuracy"].as_f64().unwrap() > 0.5, "{report}");
    assert!(report["method"].as_str().unwrap().starts_with("grouped"));
    // The report and inspect say the model's size, as it is on disk.
    let size = std::fs::metadata(dir.join("model.cadm")).unwrap().len();
    assert_eq!(report["model_bytes"].as_u64(), Some(size), "{report}");
    assert_eq!(report["model_base64_bytes"].as_u64(), Some(size.div_ceil(3) * 4));
    assert_eq!(report["model_fits_configmap"].as_bool(), Some(true));
    // The ages the model was trained at, and the interval of its young rows
    // (the simulator's 10 s scrape, stride 1), from which the watcher knows
    // when its windows complete.
    assert!(report["ages"]["young"]["min"]["secs"].as_u64().is_some(), "{report}");
    assert_eq!(report["row_interval"]["secs"].as_u64(), Some(10), "{report}");
    let text = std::fs::read_to_string(dir.join("report.txt")).unwrap();
    assert!(text.contains(&format!("Size: {size} bytes")), "{text}");
    let (ok, stdout, _) = run(
        env!("CARGO_BIN_EXE_cad"),
        &["inspect", dir.join("model.cadm").to_str().unwrap()],
    );
    assert!(ok);
    assert!(stdout.contains("feature set:    behaviour"), "{stdout}");
    // Inspect names where the calibrated confidence comes from, as the report does.
    let source = report["calibration"]["source"].as_str().expect("calibration.source");
    assert!(
        stdout.contains(&format!("from the {source}'s probability")),
        "{source}: {stdout}"
    );
    assert!(
        stdout.contains(&format!("size:           {size} bytes")) && stdout.contains("fits a ConfigMap"),
        "{stdout}"
    );
}

#[test]
fn the_collector_trains_from_the_old_systems_arff() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/original/container-metrics-all.arff");
    if !data.is_file() {
        // Under CI=true the old system's data must be there, as a server must.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{} is absent, and CI=true",
            data.display()
        );
        println!(
            "SKIPPED: {} is absent (../shared is not beside this clone)",
            data.display()
        );
        return;
    }
    let dir = tempdir("arff");
    let mut accuracy = Vec::new();
    for eval in ["leaky-split", "grouped-kfold"] {
        let (ok, stdout, stderr) = run(
            env!("CARGO_BIN_EXE_cad-collector"),
            &[
                "--from-file",
                data.to_str().unwrap(),
                "--eval",
                eval,
                "--out-dir",
                dir.to_str().unwrap(),
            ],
        );
        assert!(ok, "{stderr}");
        println!("{eval}:\n{stdout}");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        accuracy.push(report["accuracy"].as_f64().unwrap());
        if eval == "grouped-kfold" {
            assert!(
                stdout.contains("never both trained and tested"),
                "one-container classes are called out"
            );
        }
    }
    // The leaky split sees every container in training: it cannot do worse.
    assert!(accuracy[0] >= accuracy[1], "{accuracy:?}");
    // One apache and one postgresql container: the model says their claims
    // are not judged, and `cad inspect` shows why.
    let (ok, stdout, stderr) = run(
        env!("CARGO_BIN_EXE_cad"),
        &["inspect", dir.join("model.cadm").to_str().unwrap()],
    );
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("  training containers: mysql 3, nginx 11, mongodb 3, postgresql 1, apache 1\n"),
        "{stdout}"
    );
    // Said once: the training's warning (a bundle trained before it warned
    // gets inspect's own line, `the watcher does not judge claims of …`).
    assert!(
        stdout.contains("whose claims the watcher will not judge: postgresql 1, apache 1 ("),
        "{stdout}"
    );
    assert!(!stdout.contains("the watcher does not judge claims of"), "{stdout}");
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

#[test]
fn the_watcher_serves_metrics_health_and_readiness() {
    let dir = tempdir("watch");
    let (ok, _, stderr) = run(
        env!("CARGO_BIN_EXE_cad-collector"),
        &["--source", "sim", "--out-dir", dir.to_str().unwrap()],
    );
    assert!(ok, "{stderr}");
    // The simulated cluster's 60 pods give fewer than 20 containers a class:
    // training warns, and the watcher's operator must hear it too (below).
    assert!(stderr.contains("few training containers"), "{stderr}");
    let log = dir.join("watcher.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let verdicts = dir.join("verdicts.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cad-watcher"))
        .args([
            "--source",
            "sim",
            "--run-for",
            "60s",
            "--existing-pods",
            "all",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["--model", dir.join("model.cadm").to_str().unwrap()])
        .args(["--verdicts-json", verdicts.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // Wait (bounded) until the first verdicts are counted.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut metrics = String::new();
    while Instant::now() < deadline {
        if let Some(m) = http_get(port, "/metrics")
            && m.contains("cad_verdicts_total{")
        {
            metrics = m;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let health = http_get(port, "/healthz").unwrap_or_default();
    let ready = http_get(port, "/readyz").unwrap_or_default();
    child.kill().ok();
    child.wait().ok();
    assert!(
        metrics.contains("cad_verdicts_total{"),
        "no verdicts counted: {metrics}"
    );
    assert!(metrics.contains("cad_pending_containers"));
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    // The pods of the simulated cluster were all running at the start: their
    // time to verdict is kept apart from new pods'.
    assert!(
        metrics.contains(r#"cad_time_to_verdict_seconds_count{pods="at_start"}"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"pods="at_start""#) && metrics.contains("cad_outcomes_total{"));
    // JSON lines: durations in seconds, no class as null, never {"secs","nanos"}.
    let lines = std::fs::read_to_string(&verdicts).unwrap();
    // Sidecars end as skipped when first seen, before any verdict.
    let first: serde_json::Value = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|o| o["outcome"] == "classified")
        .expect("a verdict line");
    assert!(first["time_to_verdict_seconds"].is_f64(), "{first}");
    assert_eq!(first["at_start"], true, "{first}");
    assert!(!lines.contains("\"secs\"") && !lines.contains("\"nanos\""), "{lines}");
    // At load it repeated what the training warned of.
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("the model's training warned: few training containers for the open-set calibration"),
        "{log}"
    );
}

#[test]
fn a_corrupt_model_file_is_a_clear_error() {
    let dir = tempdir("corrupt");
    let model = dir.join("model.cadm");
    std::fs::write(&model, b"CADMODEL\x01\x00garbage").unwrap();
    let (ok, _, stderr) = run(
        env!("CARGO_BIN_EXE_cad-watcher"),
        &[
            "--source",
            "sim",
            "--model",
            model.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--run-for",
            "1s",
        ],
    );
    assert!(!ok);
    assert!(stderr.contains("loading the model from"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn the_collector_trains_on_past_pods_of_removed_workloads_when_asked() {
    let dir = tempdir("past");
    let out = dir.to_str().unwrap();
    let common = [
        "--source",
        "sim",
        "--sim-past-pods",
        "40",
        "--eval",
        "none",
        "--curve-points",
        "0",
    ];
    let (ok, _, stderr) = run(
        env!("CARGO_BIN_EXE_cad-collector"),
        &[&common[..], &["--out-dir", out, "--past-pods", "30d"]].concat(),
    );
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let collected = &report["collected"];
    let (past, of_running) = (
        collected["past_pods"].as_u64().unwrap(),
        collected["past_pods_of_running"].as_u64().unwrap(),
    );
    // Half of the 40 are pods of removed workloads (those ended within the
    // 30 days, not silent), half earlier pods of running ones, left out.
    assert!((5..=20).contains(&past), "{collected}");
    assert!(of_running > 0 && past + of_running <= 40, "{collected}");
    assert!(collected["past_containers"].as_u64().unwrap() > 0, "{collected}");
    // Without the flag the same cluster's past pods are not read.
    let (ok, _, stderr) = run(
        env!("CARGO_BIN_EXE_cad-collector"),
        &[&common[..], &["--out-dir", out]].concat(),
    );
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["collected"]["past_pods"], 0);
}

/// A simulated cluster with 3 replicas a Deployment: the collector keeps
/// each ReplicaSet's containers together (report.json, report.txt); the
/// flag is range-checked from the variable too.
#[test]
fn the_collector_keeps_a_deployments_replicas_together() {
    let dir = tempdir("replicas");
    let out = dir.to_str().unwrap();
    let collector = env!("CARGO_BIN_EXE_cad-collector");
    let common = ["--source", "sim", "--curve-points", "0", "--out-dir", out];
    let collected = |extra: &[&str]| {
        let (ok, _, stderr) = run(collector, &[&common[..], extra].concat());
        assert!(ok, "{stderr}");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        let text = std::fs::read_to_string(dir.join("report.txt")).unwrap();
        (report["collected"]["replicated_containers"].as_u64().unwrap(), text)
    };
    let (replicated, text) = collected(&["--sim-replicas", "3"]);
    assert!(replicated > 0, "{text}");
    assert!(text.contains("(the replicas of a ReplicaSet on one side)"), "{text}");
    let (replicated, text) = collected(&[]);
    assert_eq!(replicated, 0);
    assert!(!text.contains("ReplicaSet on one side"), "{text}");
    let out = Command::new(collector)
        .args(common)
        .env("CAD_SIM_REPLICAS", "11")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--sim-replicas") && err.contains("must be from 1 to 10"),
        "{err}"
    );
}
