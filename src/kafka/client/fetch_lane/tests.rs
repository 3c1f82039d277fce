//! A Fetch answer handed to the round's wants.
use super::*;

/// A want of partition 0 of `t` and the receiver of its answer.
fn want() -> (Want, oneshot::Receiver<Result<PartitionData, FetchError>>) {
    let (reply, answer) = oneshot::channel();
    let part = FetchPart {
        topic: "t".into(),
        partition: 0,
        offset: 0,
        max_bytes: 1024,
    };
    let want = Want {
        part,
        max_wait_ms: 0,
        reply,
    };
    (want, answer)
}

/// An answer that names none of the round's partitions is throttled when it says so
/// (Kafka's answer over a quota), and missing them otherwise.
#[test]
fn an_answer_without_the_partition_is_throttled_only_when_it_says_so() {
    for (throttle_time_ms, throttled) in [(250, true), (0, false)] {
        let (w, mut answer) = want();
        let response = FetchResponse::default().with_throttle_time_ms(throttle_time_ms);
        answer_round(vec![w], Ok(response));
        let got = answer.try_recv().unwrap();
        assert_eq!(
            matches!(got, Err(FetchError::Throttled)),
            throttled,
            "{throttle_time_ms}: {got:?}"
        );
        assert_eq!(
            matches!(got, Err(FetchError::Missing)),
            !throttled,
            "{throttle_time_ms}: {got:?}"
        );
    }
}
