//! A topic's whole log as the librdkafka peer reads it, so that a copy past the records a test
//! expects is seen.

/// Every record of `topic`, read once at least `expected` are there, then once more asking for
/// one more than that, so a copy past them would show. That read may come back short on a
/// busy machine (it has 5 s to start and read everything): then it is asked again, up to three
/// times.
pub fn whole_log(broker: &str, topic: &str, expected: usize) -> Vec<serde_json::Value> {
    let complete = consume(broker, topic, expected, 120).len();
    let mut all = Vec::new();
    for _ in 0..3 {
        all = consume(broker, topic, complete + 1, 5);
        if all.len() >= complete {
            break;
        }
    }
    assert!(
        all.len() >= complete,
        "three reads of {topic} for a late copy came back with fewer records ({}) than the \
         complete one ({complete})",
        all.len()
    );
    all
}

/// One read of `topic` from the beginning by the peer, until `expect` records or `timeout_s`
/// seconds: the records it got.
pub fn consume(broker: &str, topic: &str, expect: usize, timeout_s: u64) -> Vec<serde_json::Value> {
    let (expect, timeout) = (expect.to_string(), timeout_s.to_string());
    let args = [
        "consume",
        "--topic",
        topic,
        "--expect",
        &expect,
        "--timeout",
        &timeout,
    ];
    let out = crate::peer(broker, &args);
    out["records"].as_array().unwrap().clone()
}
