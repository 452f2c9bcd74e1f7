//! The cap on requests in flight, measured by a loopback HTTP server that
//! counts the requests it is serving at once and answers each after 20 ms
//! (real Prometheus answers too fast to see the cap at work).

use cad_core::{ContainerId, PodId, TimeWindow, Timestamp};
use cad_prometheus::{PrometheusConfig, PrometheusMetricSource};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Default)]
struct Counts {
    now: AtomicUsize,
    max: AtomicUsize,
    total: AtomicUsize,
}

/// Serves HTTP/1.1 keep-alive connections: an empty matrix (or, for the
/// claims query, an empty vector) after 20 ms.
async fn serve(listener: TcpListener, counts: Arc<Counts>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let counts = counts.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut read = BufReader::new(read);
            loop {
                let mut head = String::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    match read.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    head.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; length];
                if read.read_exact(&mut body).await.is_err() {
                    return;
                }
                let n = counts.now.fetch_add(1, Ordering::SeqCst) + 1;
                counts.max.fetch_max(n, Ordering::SeqCst);
                counts.total.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                let request = format!("{head}{}", String::from_utf8_lossy(&body));
                let kind = if request.contains("last_over_time") {
                    "vector"
                } else {
                    "matrix"
                };
                let json = format!(r#"{{"status":"success","data":{{"resultType":"{kind}","result":[]}}}}"#);
                counts.now.fetch_sub(1, Ordering::SeqCst);
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
                    json.len()
                );
                if write.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_never_exceed_the_concurrency() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let counts = Arc::new(Counts::default());
    tokio::spawn(serve(listener, counts.clone()));
    let ids: Vec<ContainerId> = (0..1000)
        .map(|i| PodId::new("ns", format!("pod-{i:04}"), "u").container("c"))
        .collect();
    let window = TimeWindow::ending_at(Timestamp::now(), Duration::from_secs(60));
    for concurrency in [1, 3, 8] {
        counts.max.store(0, Ordering::SeqCst);
        counts.total.store(0, Ordering::SeqCst);
        let mut c = PrometheusConfig::new(format!("http://127.0.0.1:{port}"));
        c.chunking.concurrency = concurrency;
        c.chunking.max_pods_per_request = 50; // 20 chunks × 5 queries
        let source = PrometheusMetricSource::new(c).expect("source");
        let report = source.fetch_report(&ids, window).await;
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        assert_eq!((report.chunks, report.queries), (20, 100));
        assert_eq!(counts.total.load(Ordering::SeqCst), 100);
        // All 100 queries are ready at once, so the cap is reached, never passed.
        assert_eq!(
            counts.max.load(Ordering::SeqCst),
            concurrency,
            "concurrency {concurrency}"
        );
    }
}
