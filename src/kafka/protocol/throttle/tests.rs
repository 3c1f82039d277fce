use super::*;

const SECOND: Duration = Duration::from_secs(1);

/// Heartbeat's key: a slot no other test of this process throttles.
const HEARTBEAT: i16 = ApiKey::Heartbeat as i16;

#[tokio::test(start_paused = true)]
async fn a_connection_sends_nothing_until_its_throttle_is_over() {
    let throttle = Throttle::new(Duration::from_secs(30));
    let start = Instant::now();
    assert_eq!(throttle.until(), None, "no throttle, no wait");
    throttle.note(HEARTBEAT, 4, 2, 1_500);
    // A shorter throttle answered later does not shorten the longer one.
    throttle.note(HEARTBEAT, 4, 2, 200);
    assert_eq!(throttle.until(), Some(start + Duration::from_millis(1_500)));
    tokio::time::advance(Duration::from_millis(1_500)).await;
    assert_eq!(throttle.until(), None, "over once waited out");
    let (n, ms) = (
        THROTTLED.get(ApiKey::Heartbeat),
        THROTTLED_MS.get(ApiKey::Heartbeat),
    );
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
    assert_eq!(throttle.until(), None);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_huge_throttle_holds_the_connection_no_longer_than_a_request_timeout() {
    let throttle = Throttle::new(30 * SECOND);
    let start = Instant::now();
    throttle.note(HEARTBEAT, 4, 2, i32::MAX);
    assert_eq!(throttle.until(), Some(start + 30 * SECOND));
}

/// A request bound in time waits out the throttle within its bound, and is not written at
/// all when the throttle outlasts it (the relay's lease ends first).
#[tokio::test(start_paused = true)]
async fn a_throttle_past_a_request_s_bound_leaves_it_unwritten() {
    let throttle = Throttle::new(30 * SECOND);
    let now = Instant::now();
    assert_eq!(throttle.before(now + SECOND), Before::Send);
    throttle.note(HEARTBEAT, 4, 2, 2_000);
    let until = now + 2 * SECOND;
    assert_eq!(throttle.before(now + 5 * SECOND), Before::WaitUntil(until));
    assert_eq!(
        throttle.before(now + SECOND),
        Before::GiveUpAt(now + SECOND)
    );
    assert_eq!(throttle.before(until), Before::GiveUpAt(until));
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
