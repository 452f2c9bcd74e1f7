//! Secrets: the InfluxDB or Prometheus API password given through
//! `CAD_INFLUX_PASSWORD` / `CAD_PROMETHEUS_PASSWORD` or a password file never appears in the programs' output (plain or JSON logs,
//! errors), in `/metrics`, or in `--help`; nor does its base64 form (as in a
//! `Basic` Authorization header).
//!
//! Related checks elsewhere: the RBAC rules in `deploy/` grant only what the
//! programs use (`cad-k8s/tests/rbac.rs`); the programs run as non-root
//! (the Dockerfile's `USER` and `scripts/validate-manifests.sh`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const WATCHER: &str = env!("CARGO_BIN_EXE_cad-watcher");
const COLLECTOR: &str = env!("CARGO_BIN_EXE_cad-collector");

fn secret(tag: &str) -> String {
    format!("S3cr3t-{tag}-{}-{}", std::process::id(), tag.len() * 7919)
}

/// Standard base64 (hand-written: cad-bins has no base64 dependency).
fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let p = l.local_addr().expect("addr").port();
    drop(l);
    p
}

/// A tiny HTTP server answering 401 with a body echoing the Authorization header.
fn echo_401_server() -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut s) = stream else { continue };
            h.fetch_add(1, Ordering::SeqCst);
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 8192];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]);
            let auth = req
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                .unwrap_or("authorization: none")
                .to_owned();
            let body = format!("{{\"error\":\"authorization failed for {auth}\"}}");
            let _ = write!(
                s,
                "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, hits)
}

/// The demo model shipped in deploy/ (behaviour features, simulated cluster),
/// written to a temporary file for a watcher to load.
fn demo_model(tag: &str) -> PathBuf {
    let cm = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/base/model-configmap.yaml"
    ))
    .expect("deploy/base/model-configmap.yaml");
    let b64_model = cm
        .lines()
        .find_map(|l| l.trim().strip_prefix("model.cadm:"))
        .expect("model.cadm");
    let bundle = cad_core::bundle::ModelBundle::from_base64(b64_model).expect("demo model");
    let model = tmp_dir(tag).join("model.cadm");
    bundle.write_to(&model).expect("write model");
    model
}

fn tmp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cad-secrets-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_hidden(what: &str, output: &str, secret: &str) {
    let encoded = b64(format!("cad:{secret}").as_bytes());
    let encoded_bare = b64(secret.as_bytes());
    assert!(!output.contains(secret), "{what}: the secret appears in:\n{output}");
    assert!(!output.contains(&encoded), "{what}: the Basic credentials appear");
    assert!(!output.contains(&encoded_bare), "{what}: the base64 secret appears");
}

/// A program on a cluster whose metrics store is at `url` (InfluxDB, or the
/// Prometheus API with `prometheus`), user `cad`, the password in the
/// variable or a file.
fn run_cluster(
    bin: &str,
    prometheus: bool,
    url: &str,
    password: Option<&str>,
    password_file: Option<&PathBuf>,
) -> Output {
    let (flag, var) = if prometheus {
        ("prometheus", "PROMETHEUS")
    } else {
        ("influx", "INFLUX")
    };
    let mut cmd = Command::new(bin);
    cmd.args(["--source", "cluster", "--log-json"])
        .args(["--kube-url", &format!("http://127.0.0.1:{}", closed_port())])
        .args(["--metrics-backend", if prometheus { "prometheus" } else { "influx" }])
        .args([
            format!("--{flag}-url"),
            url.to_owned(),
            format!("--{flag}-user"),
            "cad".into(),
        ])
        .env_remove(format!("CAD_{var}_PASSWORD"))
        .env_remove(format!("CAD_{var}_PASSWORD_FILE"))
        .env("RUST_LOG", "debug");
    if bin == WATCHER {
        cmd.args(["--run-for", "2s"]);
    } else {
        cmd.args(["--out-dir", tmp_dir("collect").to_str().expect("utf-8 path")]);
    }
    if let Some(p) = password {
        cmd.env(format!("CAD_{var}_PASSWORD"), p);
    }
    if let Some(f) = password_file {
        cmd.env(format!("CAD_{var}_PASSWORD_FILE"), f);
    }
    cmd.output().expect("run the program")
}

#[test]
fn passwords_never_appear_in_the_output_of_failing_runs() {
    let (echo_url, hits) = echo_401_server();
    let unreachable = format!("http://127.0.0.1:{}", closed_port());
    let dir = tmp_dir("pwfile");
    let mut runs = 0;
    for prometheus in [false, true] {
        for bin in [WATCHER, COLLECTOR] {
            for url in [&unreachable, &echo_url] {
                let s = secret("env");
                let out = run_cluster(bin, prometheus, url, Some(&s), None);
                assert!(!out.status.success());
                if url == &echo_url {
                    // Wrong credentials end the program at start, before Kubernetes is asked.
                    let refused = if prometheus {
                        "the Prometheus API refused a test query"
                    } else {
                        "InfluxDB refused the credentials"
                    };
                    assert!(text(&out).contains(refused), "{bin}: {}", text(&out));
                    assert!(text(&out).contains("401"), "{bin}: {}", text(&out));
                }
                assert_hidden(&format!("{bin} {url} env"), &text(&out), &s);
                let s = secret("file");
                let file = dir.join("password");
                std::fs::write(&file, format!("{s}\n")).expect("write password file");
                let out = run_cluster(bin, prometheus, url, None, Some(&file));
                assert_hidden(&format!("{bin} {url} file"), &text(&out), &s);
                runs += 2;
            }
        }
    }
    let contacted = hits.load(Ordering::SeqCst);
    println!(
        "secrets: {runs} failing runs (watcher and collector, InfluxDB and the Prometheus API, unreachable and \
         401-echoing, env and file) leaked nothing; the 401 server was contacted {contacted} times"
    );
    assert_eq!(runs, 16);
    assert!(
        contacted >= 8,
        "the credentials check reached the 401 server in every run against it"
    );
}

#[test]
fn a_password_given_as_a_flag_is_warned_about_and_not_logged() {
    let model = demo_model("flag");
    let s = secret("flag");
    let out = Command::new(WATCHER)
        .args([
            "--source",
            "sim",
            "--run-for",
            "1s",
            "--influx-user",
            "cad",
            "--influx-password",
            &s,
        ])
        .args(["--model", model.to_str().expect("utf-8")])
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("CAD_INFLUX_PASSWORD")
        .env("RUST_LOG", "debug")
        .output()
        .expect("run the watcher");
    let logs = text(&out);
    assert!(out.status.success(), "{logs}");
    assert!(
        logs.contains("--influx-password puts the secret on the command line")
            && logs.contains("--influx-password-file"),
        "{logs}"
    );
    assert_hidden("watcher with --influx-password", &logs, &s);
    // From the variable: no warning (it is not in `ps`).
    let out = Command::new(WATCHER)
        .args(["--source", "sim", "--run-for", "1s", "--influx-user", "cad"])
        .args(["--model", model.to_str().expect("utf-8")])
        .args(["--listen", "127.0.0.1:0"])
        .env("CAD_INFLUX_PASSWORD", &s)
        .output()
        .expect("run the watcher");
    assert!(!text(&out).contains("on the command line"), "{}", text(&out));
}

#[test]
fn help_does_not_print_the_password_from_the_environment() {
    for bin in [WATCHER, COLLECTOR] {
        let s = secret("help");
        let out = Command::new(bin)
            .arg("--help")
            .env("CAD_INFLUX_PASSWORD", &s)
            .env("CAD_INFLUX_TOKEN", &s)
            .output()
            .expect("run --help");
        let t = text(&out);
        assert!(t.contains("CAD_INFLUX_PASSWORD"), "--help lists the variable");
        assert_hidden(&format!("{bin} --help"), &t, &s);
    }
}

fn get_metrics(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

#[test]
fn metrics_endpoint_and_logs_of_a_working_watcher_hold_no_password() {
    let model = demo_model("metrics");

    let s = secret("metrics");
    let port = closed_port();
    let child = Command::new(WATCHER)
        .args([
            "--source",
            "sim",
            "--log-json",
            "--run-for",
            "6s",
            "--poll-interval",
            "1s",
        ])
        .args(["--model", model.to_str().expect("utf-8")])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("CAD_INFLUX_PASSWORD", &s)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start watcher");
    let mut metrics = None;
    for _ in 0..50 {
        if let Some(m) = get_metrics(port).filter(|m| m.contains("200 OK")) {
            metrics = Some(m);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().expect("watcher ends");
    let metrics = metrics.expect("/metrics answered");
    let logs = text(&out);
    println!(
        "secrets: /metrics {} bytes, logs {} bytes; neither holds the password",
        metrics.len(),
        logs.len()
    );
    assert!(metrics.contains("cad_"), "metrics look like cad's: {metrics}");
    assert_hidden("/metrics", &metrics, &s);
    assert_hidden("watcher logs", &logs, &s);
}

/// The path where InfluxDB itself answers 401 and echoes the credentials: a
/// watcher on the simulated cluster asked to write its verdicts to it. Wrong
/// credentials end it at start, as the README says, with an error that
/// names the problem and leaks nothing.
#[test]
fn a_401_answer_echoing_the_credentials_does_not_leak_them() {
    let (echo_url, hits) = echo_401_server();
    let model = demo_model("echo401");
    let s = secret("echo");
    let out = Command::new(WATCHER)
        .args(["--source", "sim", "--log-json", "--run-for", "4s", "--influx-verdicts"])
        .args(["--influx-url", &echo_url, "--influx-user", "cad"])
        .args(["--model", model.to_str().expect("utf-8")])
        .args(["--listen", &format!("127.0.0.1:{}", closed_port())])
        .env("CAD_INFLUX_PASSWORD", &s)
        .env("RUST_LOG", "debug")
        .output()
        .expect("run the watcher");
    let logs = text(&out);
    let contacted = hits.load(Ordering::SeqCst);
    println!(
        "secrets: the 401-echoing InfluxDB was contacted {contacted} times; logs {} bytes",
        logs.len()
    );
    assert_eq!(contacted, 1, "one check, no retries on 401:\n{logs}");
    assert!(!out.status.success(), "wrong credentials fail the start:\n{logs}");
    assert!(logs.contains("InfluxDB refused the credentials"), "{logs}");
    assert!(logs.contains("401"), "{logs}");
    assert_hidden("watcher writing verdicts to a 401-echoing InfluxDB", &logs, &s);
}
