//! What the consumer-group tests share: the librdkafka group peer and the partitions a service
//! instance runs ([`crate::produce_events`] writes their events).

use std::{collections::BTreeSet, path::Path, time::Duration};

use usercenter::consumer::ConsumerMetrics;

/// Runs `tests/peer/group.py --brokers ADDR ARGS...`; its JSON comes from [`peer_output`].
pub fn group_peer(brokers: &str, args: &[&str]) -> std::process::Child {
    let script = crate::repo_root().join("tests/peer/group.py");
    std::process::Command::new(crate::peer_python())
        .arg(script)
        .args(["--brokers", brokers])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run the group peer")
}

/// Waits for the peer and parses its JSON output.
pub fn peer_output(child: std::process::Child) -> serde_json::Value {
    let out = child.wait_with_output().expect("peer output");
    assert!(out.status.success(), "group peer failed: {}", out.status);
    serde_json::from_slice(&out.stdout).expect("peer JSON")
}

/// The partitions a consumer runs now (each has a lag series once it fetched).
pub fn owned(m: &ConsumerMetrics) -> BTreeSet<i32> {
    m.lag().keys().copied().collect()
}

/// Starts the service with the test defaults.
pub async fn start(
    broker: &str,
    dir: &Path,
) -> (
    usercenter::service::Running,
    std::sync::Arc<ConsumerMetrics>,
) {
    crate::start_service(broker, dir, |_| {}).await
}

/// A librdkafka member of group `usercenter` on `user.events` with `roundrobin`, polling for
/// `seconds`; `extra` goes after the arguments (`--commit`).
pub fn roundrobin_member(brokers: &str, seconds: &str, extra: &[&str]) -> std::process::Child {
    let mut args = vec![
        "member",
        "--group",
        "usercenter",
        "--topic",
        "user.events",
        "--strategy",
        "roundrobin",
        "--seconds",
        seconds,
    ];
    args.extend_from_slice(extra);
    group_peer(brokers, &args)
}

/// Waits until the two members run `each` partitions apiece, none of them shared.
pub async fn wait_split(m0: &ConsumerMetrics, m1: &ConsumerMetrics, each: usize) {
    crate::eventually(
        Duration::from_secs(60),
        "the group split the partitions",
        || {
            let (a, b) = (owned(m0), owned(m1));
            a.len() == each && b.len() == each && a.is_disjoint(&b)
        },
    )
    .await;
}

/// Asserts that each of `ids` was applied exactly once in the two stores together.
pub fn assert_applied_once(d0: &Path, d1: &Path, ids: &[uuid::Uuid]) {
    let (c0, c1) = (
        crate::applied_counts(d0, ids),
        crate::applied_counts(d1, ids),
    );
    let not_once: Vec<_> = ids
        .iter()
        .zip(c0.iter().zip(&c1))
        .filter(|(_, (a, b))| **a + **b != 1)
        .collect();
    assert!(not_once.is_empty(), "applied other than once: {not_once:?}");
}
