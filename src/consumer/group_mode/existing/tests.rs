use super::{beyond, shown, split_existing};

#[test]
fn partitions_past_the_topic_s_size_wait_and_negative_ones_are_dropped() {
    let assigned = vec![-1, 0, 2, 3, 7, i32::MAX];
    assert_eq!(
        split_existing(assigned.clone(), Some(3)),
        (vec![0, 2], vec![3, 7, i32::MAX], vec![-1])
    );
    // The topic's size unknown: every partition waits until a size is read, and the negative
    // number is dropped.
    assert_eq!(
        split_existing(assigned, None),
        (vec![], vec![0, 2, 3, 7, i32::MAX], vec![-1])
    );
}

#[test]
fn waiting_partitions_start_once_the_topic_shows_them() {
    let waiting = [3, 7, 8];
    assert_eq!(shown(&waiting, 3), Vec::<i32>::new());
    assert_eq!(shown(&waiting, 8), vec![3, 7]);
    assert_eq!(shown(&waiting, 12), vec![3, 7, 8]);
}

#[test]
fn a_partition_past_the_cached_size_or_of_an_unknown_size_is_looked_up_afresh() {
    assert!(!beyond(Some(3), 2));
    assert!(beyond(Some(3), 3));
    assert!(beyond(None, 0));
    // A negative number is dropped without a look.
    assert!(!beyond(None, -1));
}

/// A broker that accepts connections and never answers holds each of the size reads no longer
/// than the deadline (a metadata read alone waits 10 s, a connect up to its own timeout): the
/// supervisor's revocations and shutdown wait behind them. Every partition then waits.
#[tokio::test(start_paused = true)]
async fn a_silent_broker_holds_the_size_reads_no_longer_than_the_deadline() {
    use std::{sync::Arc, time::Duration};

    use crate::kafka::{Client, protocol::ConnectSettings};

    let (addr, _, silent) = crate::kafka::testing::silent_broker().await;
    let settings = ConnectSettings {
        client_id: Arc::from("test"),
        tls: None,
        sasl: None,
        connect_timeout: Duration::from_secs(3600),
        request_timeout: Duration::from_secs(3600),
    };
    let client = Client::new(vec![addr], settings);
    let started = tokio::time::Instant::now();
    let split = super::existing(&client, "t", vec![0, 1], Duration::from_secs(2)).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(
        split,
        (vec![], vec![0, 1]),
        "no size: every partition waits"
    );
    silent.abort();
}
