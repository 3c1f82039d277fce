//! Backpressure keeps memory bounded while the broker is down. Its own test binary, so that no
//! other test's allocations share the process whose resident memory it measures.

use std::time::Duration;

use testkit::{Broker, client, create_topic, producer, record};
use usercenter::producer::{ProduceError, ProducerConfig};

/// This process's resident memory; fails the test when it cannot be read (a bound checked
/// against nothing would pass).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/self/status:\n{status}"));
    assert!(kb > 0, "VmRSS 0");
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_within_the_buffer_bound_while_the_broker_is_down() {
    const BUFFER: usize = 32 << 20;
    let mut broker = Broker::memory().await;
    let c = client(&broker.addr).await;
    create_topic(&c, "bounded", 4).await;
    let config = ProducerConfig {
        buffer_bytes: BUFFER,
        delivery_timeout_ms: 600_000,
        ..Default::default()
    };
    let p = producer(&broker.addr, config).await;
    p.send(record("bounded", None, b"warm-up".to_vec()))
        .await
        .unwrap();
    broker.stop();

    let before = rss_bytes();
    let value = vec![b'v'; 1024];
    let (mut accepted, mut refused) = (0u64, 0u64);
    // Offer four times what the buffer holds: the rest must be refused, not buffered.
    let offered = 4 * BUFFER as u64 / 1024;
    for i in 0..offered {
        let key = format!("user-{}", i % 100).into_bytes();
        match p.enqueue(record("bounded", Some(key), value.clone())).await {
            Ok(report) => {
                drop(report);
                accepted += 1;
            }
            Err(ProduceError::BufferFull { .. }) => refused += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    let grown = rss_bytes().saturating_sub(before);
    eprintln!(
        "accepted {accepted}, refused {refused}, resident memory grew by {} KiB",
        grown >> 10
    );
    assert!(
        refused > 0 && accepted > 0,
        "accepted {accepted}, refused {refused}"
    );
    assert!(p.metrics().buffer_bytes.get() as usize <= BUFFER);
    // The bound plus a margin for in-flight request copies, allocator slack and the runtime.
    let margin = 24 << 20;
    assert!(
        grown <= (BUFFER + margin) as u64,
        "resident memory grew by {} MiB with a {} MiB buffer",
        grown >> 20,
        BUFFER >> 20
    );
    // send waits instead of failing while the buffer is full.
    let waiting = tokio::time::timeout(
        Duration::from_millis(300),
        p.send(record("bounded", None, b"x".to_vec())),
    )
    .await;
    assert!(waiting.is_err(), "send waited for buffer space");
}
