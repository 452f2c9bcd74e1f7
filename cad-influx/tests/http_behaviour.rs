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

/// Reads one request: its head, and its body up to `content-length`.
async fn read_request(sock: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&buf).into_owned(),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Serves `answer(request)` on a loopback port for every connection; returns
/// the URL and the requests (head and body) it saw.
async fn serve_with<F>(answer: F) -> (String, Arc<Mutex<Vec<String>>>)
where
    F: Fn(usize, &str) -> Option<(u16, String)> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for n in 0.. {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let request = read_request(&mut sock).await;
            log.lock().unwrap().push(request.clone());
            match answer(n, &request) {
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

/// Serves `script` on a loopback port; returns the URL and the requests it saw.
async fn fake_server(script: Script) -> (String, Arc<Mutex<Vec<String>>>) {
    serve_with(move |n, _| script.get(n).copied().flatten().map(|(s, b)| (s, b.to_owned()))).await
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
    let request = seen.lock().unwrap()[0].clone();
    assert!(
        request.starts_with("POST /query?db=telegraf&epoch=ms&chunked=true&chunk_size=10000 HTTP/1.1"),
        "{request}"
    );
    assert!(
        request.contains("content-type: application/x-www-form-urlencoded"),
        "{request}"
    );
    let body = request.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert!(body.starts_with("q=SELECT+%22cpu_usage_nanocores%22"), "{body}");
    assert_eq!(source.traffic().requests, 3);
}

/// An answer with one sample of memory for the pod `pod_name` in namespace `ns`, container `c`.
fn one_sample(pod: &str) -> String {
    format!(
        r#"{{"results":[{{"statement_id":0,"series":[{{"name":"kubernetes_pod_container","tags":{{"namespace":"ns","pod_name":"{pod}","container_name":"c"}},"columns":["time","memory_usage_bytes"],"values":[[150000,5]]}}]}},{{"statement_id":1}},{{"statement_id":2}},{{"statement_id":3}}]}}"#
    )
}

#[tokio::test]
async fn a_failed_request_costs_only_its_own_pods() {
    // One pod per request; the request for `doomed` is refused, the others answered.
    let (url, seen) = serve_with(|_, request| {
        let pod = ["ok-1", "ok-2", "ok-3", "doomed"]
            .into_iter()
            .find(|p| request.contains(p))?;
        Some(if pod == "doomed" {
            (400, r#"{"error":"boom"}"#.to_owned())
        } else {
            (200, one_sample(pod))
        })
    })
    .await;
    let mut cfg = config(&url, Arc::default());
    cfg.chunk_size = 1;
    cfg.concurrency = 2;
    let source = InfluxMetricSource::new(cfg).unwrap();
    let id = |name: &str| PodId::new("ns", name, format!("uid-{name}")).container("c");
    let ids: Vec<_> = ["ok-1", "doomed", "ok-2", "ok-3"].map(id).to_vec();
    let w = TimeWindow::new(Timestamp::from_secs(100), Timestamp::from_secs(200));
    let batch = source.fetch(&ids, w).await.unwrap();
    assert_eq!(
        seen.lock().unwrap().len(),
        4,
        "one request per pod, the refused one not retried"
    );
    for ok in ["ok-1", "ok-2", "ok-3"] {
        assert_eq!(batch.samples(&id(ok)).len(), 1, "{ok}");
        assert!(!batch.is_unavailable(&id(ok)));
    }
    assert!(batch.samples(&id("doomed")).is_empty());
    assert_eq!(batch.unavailable().collect::<Vec<_>>(), vec![&id("doomed")]);
    let causes = batch.unavailable_causes();
    assert_eq!(causes.len(), 1);
    assert!(matches!(*causes[0], SourceError::Protocol { .. }), "{:?}", causes[0]);
    assert!(causes[0].to_string().contains("boom"), "{}", causes[0]);
    assert_eq!(source.traffic().peak_in_flight, 2, "two requests in flight at once");

    // When every request fails, the fetch fails.
    let before = seen.lock().unwrap().len();
    let all_doomed: Vec<_> = (1..=3).map(|i| id(&format!("doomed-{i}"))).collect();
    let err = source.fetch(&all_doomed, w).await.unwrap_err();
    assert!(matches!(err, SourceError::Protocol { .. }), "{err:?}");
    assert!(err.to_string().contains("boom"), "{err}");
    assert_eq!(seen.lock().unwrap().len() - before, 3);
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
    for expect in ["parsing query", "not InfluxDB's JSON", "truncated"] {
        let err = source.fetch(&ids, w).await.unwrap_err();
        assert!(matches!(err, SourceError::Protocol { .. }), "{err:?}");
        // The cause (cad-influx's own error) is kept as a source, said once.
        let chain = cad_core::ErrorChain(&err).to_string();
        assert!(chain.contains(expect), "{chain}");
        assert_eq!(chain.matches(expect).count(), 1, "{chain}");
        if expect.contains("JSON") {
            let cause = std::error::Error::source(&err).and_then(|c| c.downcast_ref::<cad_influx::InfluxError>());
            assert!(matches!(cause, Some(cad_influx::InfluxError::Json(_))), "{err:?}");
        }
    }
    assert_eq!(source.request_count(), 3);
}

/// A `containers_seen` answer: container `shop/web-1/nginx` seen from 100 s
/// to 190 s, and its pod's block-I/O series under `uid-web` with its image.
const SEEN: &str = r#"{"results":[
 {"statement_id":0,"series":[
   {"name":"kubernetes_pod_container","tags":{"container_name":"nginx","namespace":"shop","pod_name":"web-1"},"columns":["time","first"],"values":[[100000,5]]},
   {"name":"kubernetes_pod_container","tags":{"container_name":"","namespace":"shop","pod_name":"web-1"},"columns":["time","first"],"values":[[100000,5]]}]},
 {"statement_id":1,"series":[
   {"name":"kubernetes_pod_container","tags":{"container_name":"nginx","namespace":"shop","pod_name":"web-1"},"columns":["time","last"],"values":[[190000,6]]}]},
 {"statement_id":2,"series":[
   {"name":"docker_container_blkio","tags":{"container_image":"nginx","io.kubernetes.container.name":"nginx","io.kubernetes.pod.name":"web-1","io.kubernetes.pod.namespace":"shop","io.kubernetes.pod.uid":"uid-web"},"columns":["time","first"],"values":[[101000,1]]},
   {"name":"docker_container_blkio","tags":{"container_image":"telegraf","io.kubernetes.container.name":"","io.kubernetes.pod.name":"","io.kubernetes.pod.namespace":"","io.kubernetes.pod.uid":""},"columns":["time","first"],"values":[[101000,1]]}]},
 {"statement_id":3,"series":[
   {"name":"docker_container_blkio","tags":{"container_image":"nginx","io.kubernetes.container.name":"nginx","io.kubernetes.pod.name":"web-1","io.kubernetes.pod.namespace":"shop","io.kubernetes.pod.uid":"uid-web"},"columns":["time","last"],"values":[[191000,1]]}]}
]}"#;

#[tokio::test]
async fn containers_seen_sends_one_query_and_reads_the_answer() {
    let (url, seen) = fake_server(vec![Some((503, r#"{"error":"busy"}"#)), Some((200, SEEN))]).await;
    let source = InfluxMetricSource::new(config(&url, Arc::default())).unwrap();
    let w = TimeWindow::new(Timestamp::from_secs(100), Timestamp::from_secs(200));
    let got = source.containers_seen(w).await.unwrap();
    assert_eq!(source.request_count(), 2, "a 503 is retried");
    let want = cad_core::SeenContainer::new(
        PodId::new("shop", "web-1", "uid-web").container("nginx"),
        Timestamp::from_secs(100),
        Timestamp::from_secs(190),
    )
    .with_image("nginx");
    assert_eq!(got, vec![want], "series with empty names are left out");
    let request = seen.lock().unwrap()[1].clone();
    assert!(
        request.starts_with("POST /query?db=telegraf&epoch=ms&chunked=true&chunk_size=10000 HTTP/1.1"),
        "{request}"
    );
    let body = request.split("\r\n\r\n").nth(1).unwrap_or_default();
    let q: String = form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    assert!(
        q.starts_with(
            r#"SELECT first("memory_usage_bytes") FROM "kubernetes_pod_container" WHERE time >= 100000ms AND time < 200000ms GROUP BY "namespace", "pod_name", "container_name";"#
        ),
        "{q}"
    );
    assert_eq!(q.matches("SELECT").count(), 4, "{q}");
}

#[tokio::test]
async fn containers_seen_refuses_answers_it_cannot_use() {
    let series = |statement: usize, values: &str| {
        let results: Vec<String> = (0..4)
            .map(|i| {
                if i == statement {
                    format!(
                        r#"{{"statement_id":{i},"series":[{{"name":"m","tags":{{"namespace":"a","pod_name":"b","container_name":"c"}},{values}}}]}}"#
                    )
                } else {
                    format!(r#"{{"statement_id":{i}}}"#)
                }
            })
            .collect();
        format!(r#"{{"results":[{}]}}"#, results.join(","))
    };
    let answers: Vec<(&str, String)> = vec![
        ("not InfluxDB's JSON", "<html>proxy</html>".into()),
        ("not InfluxDB's JSON", r#"{"results":"#.into()),
        ("4 statement(s) sent, 3 result(s)", r#"{"results":[{"statement_id":0},{"statement_id":1},{"statement_id":2}]}"#.into()),
        ("two results for statement 1", r#"{"results":[{"statement_id":0},{"statement_id":1},{"statement_id":1},{"statement_id":3}]}"#.into()),
        ("unknown statement 9", r#"{"results":[{"statement_id":0},{"statement_id":1},{"statement_id":2},{"statement_id":9}]}"#.into()),
        ("truncated", r#"{"results":[{"statement_id":0,"partial":true},{"statement_id":1},{"statement_id":2},{"statement_id":3}]}"#.into()),
        ("max-row-limit", series(1, r#""columns":["time","last"],"values":[[1,2]],"partial":true"#)),
        ("not an integer", series(0, r#""columns":["time","first"],"values":[["1970-01-01T00:00:00Z",2]]"#)),
        ("not an integer", series(3, r#""columns":["time","last"],"values":[[]]"#)),
        ("without a time column", series(2, r#""columns":["first"],"values":[[2]]"#)),
        ("max-series-limit exceeded", r#"{"results":[{"statement_id":0,"error":"max-series-limit exceeded"},{"statement_id":1},{"statement_id":2},{"statement_id":3}]}"#.into()),
        ("query failed: boom", r#"{"error":"boom"}"#.into()),
    ];
    let bodies: Vec<String> = answers.iter().map(|(_, b)| b.clone()).collect();
    let (url, _) = serve_with(move |n, _| bodies.get(n).map(|b| (200, b.clone()))).await;
    let source = InfluxMetricSource::new(config(&url, Arc::default())).unwrap();
    let w = TimeWindow::new(Timestamp::from_secs(100), Timestamp::from_secs(200));
    for (expect, _) in &answers {
        let err = source.containers_seen(w).await.unwrap_err();
        assert!(matches!(err, SourceError::Protocol { .. }), "{expect}: {err:?}");
        let chain = cad_core::ErrorChain(&err).to_string();
        assert!(chain.contains(expect), "{expect}: {chain}");
    }
    assert_eq!(source.request_count(), answers.len() as u64, "none retried");

    // An answer over max_response_bytes is refused, not read to the end.
    let big = format!(
        r#"{{"results":[{{"statement_id":0,"series":[{}]}}]}}"#,
        "x".repeat(1 << 20)
    );
    let (url, _) = serve_with(move |_, _| Some((200, big.clone()))).await;
    let mut cfg = config(&url, Arc::default());
    cfg.max_response_bytes = 64 * 1024;
    let err = InfluxMetricSource::new(cfg)
        .unwrap()
        .containers_seen(w)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("max_response_bytes"), "{err}");
}
