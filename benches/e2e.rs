//! End to end: N concurrent clients doing register + login + update against the service (its
//! own release process) and a local broker this benchmark starts. Reports requests/s, HTTP
//! latency, the latency from the register request to its welcome notification being readable
//! on Kafka, and the service's resident memory.
//!
//! `cargo bench --bench e2e`; under `cargo test` a small smoke version runs.
#[path = "../tests/common/mod.rs"]
mod common;

use std::{
    collections::HashMap,
    net::SocketAddr,
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use parking_lot::Mutex;
use rskafka::client::partition::UnknownTopicHandling;
use serde_json::json;

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

/// Records when each user's welcome notification became readable.
async fn watch_welcomes(
    broker: String,
    seen: Arc<Mutex<HashMap<String, Instant>>>,
    partitions: i32,
) {
    let client = common::client(&broker).await;
    for p in 0..partitions {
        let client = Arc::clone(&client);
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            let Ok(pc) = client
                .partition_client("user.notifications", p, UnknownTopicHandling::Retry)
                .await
            else {
                return;
            };
            let mut offset = 0;
            loop {
                let Ok((records, _)) = pc.fetch_records(offset, 1..4_000_000, 20).await else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let now = Instant::now();
                for r in records {
                    offset = r.offset + 1;
                    let h = &r.record.headers;
                    if h.get("ce_type").map(Vec::as_slice)
                        == Some(b"user.notification.welcome".as_slice())
                        && let Some(subject) = h.get("ce_subject")
                    {
                        seen.lock()
                            .entry(String::from_utf8_lossy(subject).into_owned())
                            .or_insert(now);
                    }
                }
            }
        });
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (clients, per_client) = if full { (8usize, 60usize) } else { (2, 3) };
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        panic!("tokio runtime");
    };
    runtime.block_on(async {
        let broker = common::Broker::memory().await;
        let data = tempfile::tempdir().expect("temp dir");
        let addr: SocketAddr = ([127, 0, 0, 1], common::free_port()).into();
        let mut service = Command::new(env!("CARGO_BIN_EXE_usercenter"))
            .args(["serve", "--brokers", &broker.addr, "--listen", &addr.to_string()])
            .arg("--data-dir")
            .arg(data.path())
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start usercenter");
        let pid = service.id();
        // Ready: Kafka reached and topics made.
        let mut ready = false;
        for _ in 0..400 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                let (status, _) = common::http(addr, "GET", "/ready").await;
                if status == 200 {
                    ready = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ready, "service not ready");
        let idle_rss = rss_kib(pid, "VmRSS:");
        let seen = Arc::new(Mutex::new(HashMap::new()));
        watch_welcomes(broker.addr.clone(), Arc::clone(&seen), 3).await;

        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for c in 0..clients {
            tasks.spawn(async move {
                let mut http = Vec::new();
                let mut registered = Vec::new();
                for i in 0..per_client {
                    let name = format!("u{c}x{i}");
                    let t0 = Instant::now();
                    let body = json!({"username": name, "email": format!("{name}@example.com"), "password": "correct horse"});
                    let (status, resp) = common::api(addr, "POST", "/api/v1/users/register", None, Some(body)).await;
                    assert_eq!(status, 201, "{resp}");
                    http.push(t0.elapsed());
                    registered.push((resp["user"]["id"].as_str().unwrap_or("").to_owned(), t0));
                    let t = Instant::now();
                    let (status, resp) = common::api(addr, "POST", "/api/v1/users/login", None, Some(json!({"username": name, "password": "correct horse"}))).await;
                    assert_eq!(status, 200, "{resp}");
                    http.push(t.elapsed());
                    let token = resp["token"].as_str().unwrap_or("").to_owned();
                    let id = &registered[registered.len() - 1].0;
                    let t = Instant::now();
                    let (status, _) = common::api(addr, "PATCH", &format!("/api/v1/users/{id}"), Some(&token), Some(json!({"nickname": "N"}))).await;
                    assert_eq!(status, 200);
                    http.push(t.elapsed());
                }
                (http, registered)
            });
        }
        let mut http = Vec::new();
        let mut registered = Vec::new();
        while let Some(r) = tasks.join_next().await {
            let (h, reg) = r.expect("client");
            http.extend(h);
            registered.extend(reg);
        }
        let elapsed = started.elapsed();
        let peak_rss = rss_kib(pid, "VmHWM:");
        // Wait for every welcome notification.
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.lock().len() < registered.len() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let seen = seen.lock().clone();
        let mut effect: Vec<Duration> = registered
            .iter()
            .filter_map(|(id, t0)| seen.get(id).map(|t| t.saturating_duration_since(*t0)))
            .collect();
        assert_eq!(effect.len(), registered.len(), "every welcome notification arrived");
        http.sort();
        effect.sort();
        println!("\nend to end: {clients} clients x {per_client} x (register + login + update), service as its own process");
        println!("| requests | requests/s | HTTP p50 ms | HTTP p99 ms | to notification p50 ms | p99 ms | RSS idle MiB | RSS peak MiB |");
        println!("|---|---|---|---|---|---|---|---|");
        println!(
            "| {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            http.len(),
            http.len() as f64 / elapsed.as_secs_f64(),
            percentile(&http, 0.5),
            percentile(&http, 0.99),
            percentile(&effect, 0.5),
            percentile(&effect, 0.99),
            idle_rss as f64 / 1024.0,
            peak_rss as f64 / 1024.0,
        );
        let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        let _ = service.wait();
    });
}
