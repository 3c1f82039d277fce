use super::*;

const SECOND: Duration = Duration::from_secs(1);

/// Heartbeat's key: a slot no other test of this process throttles.
const HEARTBEAT: i16 = ApiKey::Heartbeat as i16;

#[tokio::test(start_paused = true)]
async fn a_connection_sends_nothing_until_its_throttle_is_over() {
    let throttle = Throttle::new(Duration::from_secs(30));
    let start = Instant::now();
    throttle.wait().await;
    assert_eq!(start.elapsed(), Duration::ZERO, "no throttle, no wait");
    throttle.note(HEARTBEAT, 4, 2, 1_500);
    // A shorter throttle answered later does not shorten the longer one.
    throttle.note(HEARTBEAT, 4, 2, 200);
    throttle.wait().await;
    assert_eq!(start.elapsed(), Duration::from_millis(1_500));
    throttle.wait().await;
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(1_500),
        "over once waited out"
    );
    let (n, ms) = throttled(ApiKey::Heartbeat);
    assert!(n >= 2 && ms >= 1_700, "{n} {ms}");
}

#[tokio::test(start_paused = true)]
async fn before_kip_219_the_broker_held_the_answer_and_the_client_does_not_wait() {
    let throttle = Throttle::new(Duration::from_secs(30));
    let start = Instant::now();
    // Heartbeat v1: the broker delayed the answer itself.
    throttle.note(HEARTBEAT, 1, 2, 5_000);
    // Zero and negative throttles (a broken answer) are none.
    throttle.note(HEARTBEAT, 4, 2, 0);
    throttle.note(HEARTBEAT, 4, 2, -7);
    throttle.wait().await;
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_huge_throttle_holds_the_connection_no_longer_than_a_request_timeout() {
    let throttle = Throttle::new(30 * SECOND);
    let start = Instant::now();
    throttle.note(HEARTBEAT, 4, 2, i32::MAX);
    throttle.wait().await;
    assert_eq!(start.elapsed(), 30 * SECOND);
}

#[test]
fn throttled_apis_are_on_the_metrics_page() {
    let throttle = Throttle::new(30 * SECOND);
    throttle.note(ApiKey::SyncGroup as i16, 5, 2, 250);
    let mut out = String::new();
    render_kafka_throttle_metrics(&mut out);
    assert!(
        out.contains("usercenter_kafka_throttled_total{api=\"SyncGroup\"}"),
        "{out}"
    );
    assert!(
        out.contains("usercenter_kafka_throttle_seconds_total{api=\"SyncGroup\"}"),
        "{out}"
    );
    assert!(!out.contains("api=\"OffsetDelete\""), "{out}");
}
