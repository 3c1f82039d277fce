use bytes::Bytes;

use super::*;

fn handed(topic: &str, partition: i32, len: usize) -> (Handed, oneshot::Receiver<Reply>) {
    let (reply, answer) = oneshot::channel();
    let request = Produce {
        topic: topic.into(),
        partition,
        batch: Bytes::from(vec![0u8; len]),
        timeout_ms: 1_000,
    };
    let deadline = Instant::now() + Duration::from_secs(1);
    let handed = Handed {
        request,
        reply,
        deadline,
        write_by: None,
    };
    (handed, answer)
}

fn names(parts: &[Handed]) -> Vec<(String, i32)> {
    let name = |h: &Handed| (h.request.topic.clone(), h.request.partition);
    parts.iter().map(name).collect()
}

fn queue(items: &[(&str, i32, usize)]) -> (VecDeque<Handed>, Vec<oneshot::Receiver<Reply>>) {
    let mut waiting = VecDeque::new();
    let mut answers = Vec::new();
    for (topic, partition, len) in items {
        let (h, a) = handed(topic, *partition, *len);
        waiting.push_back(h);
        answers.push(a);
    }
    (waiting, answers)
}

#[test]
fn one_batch_per_partition_per_request_in_the_order_handed() {
    let (mut waiting, _answers) = queue(&[
        ("a", 0, 10),
        ("b", 1, 10),
        ("a", 0, 20),
        ("a", 1, 10),
        ("a", 0, 30),
    ]);
    let first = next_request(&mut waiting).unwrap();
    assert_eq!(
        names(&first),
        [("a".into(), 0), ("b".into(), 1), ("a".into(), 1)]
    );
    let second = next_request(&mut waiting).unwrap();
    assert_eq!(names(&second), [("a".into(), 0)]);
    assert_eq!(second[0].request.batch.len(), 20);
    let third = next_request(&mut waiting).unwrap();
    assert_eq!(third[0].request.batch.len(), 30);
    assert!(next_request(&mut waiting).is_none());
}

#[test]
fn a_full_request_holds_back_the_partitions_it_could_not_take() {
    let big = MAX_REQUEST_BYTES - 100;
    let (mut waiting, _answers) = queue(&[
        ("a", 0, big),
        ("b", 0, 200), // does not fit: b/0 waits for the next request ...
        ("b", 0, 50),  // ... and so does its next batch, behind it
        ("c", 0, 50),  // fits
    ]);
    let first = next_request(&mut waiting).unwrap();
    assert_eq!(names(&first), [("a".into(), 0), ("c".into(), 0)]);
    let second = next_request(&mut waiting).unwrap();
    assert_eq!(names(&second), [("b".into(), 0)]);
    assert_eq!(second[0].request.batch.len(), 200);
    let third = next_request(&mut waiting).unwrap();
    assert_eq!(third[0].request.batch.len(), 50);
}

#[test]
fn a_batch_larger_than_the_cap_still_goes_alone() {
    let (mut waiting, _answers) = queue(&[("a", 0, MAX_REQUEST_BYTES + 1), ("b", 0, 10)]);
    assert_eq!(
        names(&next_request(&mut waiting).unwrap()),
        [("a".into(), 0)]
    );
    assert_eq!(
        names(&next_request(&mut waiting).unwrap()),
        [("b".into(), 0)]
    );
}

#[test]
fn a_batch_whose_caller_stopped_waiting_is_not_sent() {
    let (mut waiting, mut answers) = queue(&[("a", 0, 10), ("b", 0, 10)]);
    drop(answers.remove(0));
    assert_eq!(
        names(&next_request(&mut waiting).unwrap()),
        [("b".into(), 0)]
    );
    assert!(next_request(&mut waiting).is_none());
}

#[tokio::test]
async fn a_request_is_given_up_only_when_every_caller_stopped_waiting() {
    let (first, first_answer) = oneshot::channel::<Reply>();
    let (second, second_answer) = oneshot::channel::<Reply>();
    let mut replies = vec![first, second];
    drop(first_answer);
    let mut gone = Box::pin(all_closed(&mut replies));
    assert!(
        (&mut gone).now_or_never().is_none(),
        "one caller still waits"
    );
    drop(second_answer);
    tokio::time::timeout(std::time::Duration::from_secs(5), gone)
        .await
        .expect("both callers gone");
}

#[tokio::test]
async fn a_batch_whose_caller_gives_up_before_it_is_written_is_not_sent() {
    let (mut waiting, mut answers) = queue(&[("a", 0, 10), ("b", 0, 10), ("c", 0, 10)]);
    waiting[0].deadline = Instant::now();
    // Its sender's send_until passed: not written either, though its caller still waits.
    waiting[2].write_by = Some(Instant::now());
    assert_eq!(
        names(&next_request(&mut waiting).unwrap()),
        [("b".into(), 0)]
    );
    for answer in [answers.remove(0), answers.remove(1)] {
        let refused = answer.await.unwrap();
        // Not written, on a connection that is fine: the partition keeps it.
        assert!(
            matches!(&refused, Err(e @ CallError::NotWritten { .. }) if !e.is_connection_lost()),
            "{refused:?}"
        );
    }
}
