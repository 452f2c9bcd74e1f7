//! The HTTP layer against a scripted loopback server: which answers are
//! retried, what goes into the `Authorization` header, and timeouts.

mod common;

use cad_core::{MetricSource, PodId, SourceError, TimeWindow, Timestamp};
use cad_influx::{Auth, InfluxConfig, InfluxMetricSource, RetryPolicy};
use common::RecordingClock;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the fake server answers, connection by connection (`None`: accept and never answer).
type Script = Vec<Option<(u16, &'static str)>>;

/// Serves `script` on a loopback port; returns the URL and the request heads it saw.
async fn fake_server(script: Script) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for answer in script {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            log.lock().unwrap().push(String::from_utf8_lossy(&buf).into_owned());
            match answer {
                Some((status, body)) => {
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                }
                None => {
                    // Hold the connection open without answering.
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        drop(sock);
                    });
                }
            }
        }
    });
    (url, seen)
}

fn config(url: &str, clock: Arc<RecordingClock>) -> InfluxConfig {
    let mut c = InfluxConfig::new(url, "telegraf");
    c.retries = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(60),
    };
    c.clock = clock;
    c
}

const EMPTY4: &str = r#"{"results":[{"statement_id":0},{"statement_id":1},{"statement_id":2},{"statement_id":3}]}"#;

fn req() -> (Vec<cad_core::ContainerId>, TimeWindow) {
    (
        vec![PodId::new("ns", "p", "u").container("c")],
        TimeWindow::new(Timestamp::from_secs(100), Timestamp::from_secs(200)),
    )
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_succeed() {
    let (url, seen) = fake_server(vec![
        Some((503, r#"{"error":"busy"}"#)),
        Some((500, "oops")),
        Some((200, EMPTY4)),
    ])
    .await;
    let clock = Arc::new(RecordingClock::default());
    let source = InfluxMetricSource::new(config(&url, clock.clone())).unwrap();
    let (ids, w) = req();
    let batch = source.fetch(&ids, w).await.unwrap();
    assert!(batch.is_empty());
    assert_eq!(source.request_count(), 3);
    assert_eq!(seen.lock().unwrap().len(), 3);
    assert_eq!(
        clock.slept(),
        vec![Duration::from_millis(50), Duration::from_millis(60)]
    );
    let head = seen.lock().unwrap()[0].clone();
    assert!(head.starts_with("GET /query?db=telegraf&epoch=ms&q=SELECT"), "{head}");
}

#[tokio::test]
async fn forbidden_is_not_retried_and_token_header_is_sent() {
    let (url, seen) = fake_server(vec![Some((403, r#"{"error":"user not authorized to read tok-3xYz"}"#))]).await;
    let clock = Arc::new(RecordingClock::default());
    let source = InfluxMetricSource::new(config(&url, clock.clone()).with_auth(Auth::token("tok-3xYz"))).unwrap();
    let (ids, w) = req();
    let err = source.fetch(&ids, w).await.unwrap_err();
    assert!(matches!(err, SourceError::Denied { .. }), "{err:?}");
    assert_eq!(source.request_count(), 1);
    assert!(clock.slept().is_empty());
    assert!(
        seen.lock().unwrap()[0]
            .to_ascii_lowercase()
            .contains("authorization: token tok-3xyz")
    );
    // Even a server echoing the token does not get it into our error.
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("tok-3xYz"), "{shown}");
}

#[tokio::test]
async fn basic_auth_header_carries_user_and_password() {
    let (url, seen) = fake_server(vec![Some((200, EMPTY4))]).await;
    let source =
        InfluxMetricSource::new(config(&url, Arc::default()).with_auth(Auth::basic("cad", "pässword"))).unwrap();
    let (ids, w) = req();
    source.fetch(&ids, w).await.unwrap();
    // base64("cad:pässword")
    assert!(seen.lock().unwrap()[0].contains("authorization: Basic Y2FkOnDDpHNzd29yZA=="));
}

#[tokio::test]
async fn request_timeout_is_transient() {
    let (url, _) = fake_server(vec![None, None]).await;
    let mut cfg = config(&url, Arc::default());
    cfg.retries.max_attempts = 2;
    cfg.timeout = Duration::from_millis(200);
    let source = InfluxMetricSource::new(cfg).unwrap();
    let (ids, w) = req();
    let err = source.fetch(&ids, w).await.unwrap_err();
    assert!(matches!(err, SourceError::Unavailable { .. }), "{err:?}");
    assert_eq!(source.request_count(), 2);
}

#[tokio::test]
async fn bad_query_is_a_protocol_error_and_bad_json_too() {
    let (url, _) = fake_server(vec![
        Some((400, r#"{"error":"error parsing query: found EOF"}"#)),
        Some((200, "<html>proxy</html>")),
        Some((200, r#"{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","cpu_usage_nanocores"],"values":[[1,2]],"partial":true}]},{"statement_id":1},{"statement_id":2},{"statement_id":3}]}"#)),
    ])
    .await;
    let source = InfluxMetricSource::new(config(&url, Arc::default())).unwrap();
    let (ids, w) = req();
    for expect in ["parsing query", "bad JSON", "truncated"] {
        let err = source.fetch(&ids, w).await.unwrap_err();
        assert!(matches!(err, SourceError::Protocol { .. }), "{err:?}");
        assert!(err.to_string().contains(expect), "{err}");
    }
    assert_eq!(source.request_count(), 3);
}
