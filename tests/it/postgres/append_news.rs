//! Instances sharing a PostgreSQL store tell each other of their appends to Kafka
//! (src/pgstore/append_news.rs): a fetch waiting in one instance answers as soon as another
//! announces its append, not at Nisshi's next look at its log.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use super::blocking;

use testkit::{
    Broker, client, create_topic,
    postgres::Postgres,
    protocol::{fetch_while, kafka_client},
    record,
};
use usercenter::{
    kafka::client::PartitionFetcher,
    pgstore::PgStore,
    producer::{Producer, ProducerConfig},
    store::{Appended, Store},
};

const TOPIC: &str = "announced";
/// The fetch wait: Nisshi looks at its log again only after half of it.
const WAIT_MS: i32 = 10_000;
/// An answer on the append comes within this, with room for a loaded machine; Nisshi's own
/// look, half the wait in, comes after it.
const PROMPT: Duration = Duration::from_secs(3);
/// When the record is appended, into the wait.
const APPEND_AFTER: Duration = Duration::from_millis(200);

/// Fetches from `offset` with [`WAIT_MS`] while `producer` appends one record after
/// [`APPEND_AFTER`] and then, with `announcer`, announces it: how long the fetch took, and
/// how many records it brought.
async fn fetch_while_appending(
    fetcher: &PartitionFetcher,
    producer: &Producer,
    announcer: Option<&Arc<PgStore>>,
    offset: i64,
) -> (Duration, usize) {
    let append = async {
        tokio::time::sleep(APPEND_AFTER).await;
        producer
            .send(record(TOPIC, Some(b"k".to_vec()), b"v".to_vec()))
            .await
            .unwrap();
        if let Some(store) = announcer {
            let appended: Appended = (Arc::from(TOPIC), 0);
            store.append_news().unwrap().announce(&[appended]);
        }
    };
    fetch_while(fetcher, offset, WAIT_MS, append).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_fetch_answers_when_another_instance_announces_its_append() {
    let broker = Broker::memory().await;
    create_topic(&*client(&broker.addr).await, TOPIC, 1).await;
    let pg = Postgres::start().await;
    // Two instances on one database (NOTIFY reaches the listeners of its own database).
    let url = pg.database().await;
    let connect = || async { Arc::new(PgStore::connect(&url, 4).await.unwrap()) };
    let (a, b) = (connect().await, connect().await);

    // Instance B waits on the partition; what it hears prompts its client's fetch lanes.
    let b_client = kafka_client(&broker.addr);
    let lanes = Arc::downgrade(&b_client);
    b.append_news()
        .unwrap()
        .listen(Arc::new(move |topic: &str, partition| {
            if let Some(c) = lanes.upgrade() {
                c.appended_elsewhere(topic, partition);
            }
        }));
    let listening = Arc::clone(&b);
    // The lease session listens from its first check on.
    blocking(move || listening.relay_lease().unwrap()).await;
    let fetcher = PartitionFetcher::new(Arc::clone(&b_client), TOPIC, 0);

    // Instance A appends with a client of its own.
    let producer =
        testkit::producer_on(kafka_client(&broker.addr), ProducerConfig::default()).await;
    producer
        .send(record(TOPIC, Some(b"k".to_vec()), b"v".to_vec()))
        .await
        .unwrap();
    assert_eq!(fetcher.fetch(0, 1 << 20, 1).await.unwrap().records.len(), 1);

    let (took, records) = fetch_while_appending(&fetcher, &producer, Some(&a), 1).await;
    println!("announced append: the fetch took {took:?}");
    assert_eq!(records, 1);
    assert!(
        took < PROMPT,
        "answered when the broker looked again ({took:?}), not on the announcement"
    );

    // The control: the same append, not announced; Nisshi answers at its next look.
    let (took, records) = fetch_while_appending(&fetcher, &producer, None, 2).await;
    println!("unannounced append: the fetch took {took:?}");
    assert_eq!(records, 1);
    assert!(
        took >= PROMPT,
        "the broker answered on arrival ({took:?}): the test above shows nothing on it"
    );

    // A's own news does not come back to A's listener as someone else's.
    let heard = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&heard);
    a.append_news().unwrap().listen(Arc::new(move |_: &str, _| {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }));
    let a_session = Arc::clone(&a);
    blocking(move || a_session.relay_lease().unwrap()).await;
    let own: Appended = (Arc::from(TOPIC), 0);
    a.append_news().unwrap().announce(&[own]);
    b.append_news().unwrap().announce(&[(Arc::from(TOPIC), 0)]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while heard.load(std::sync::atomic::Ordering::Relaxed) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        heard.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "A hears B's announcement, and not its own"
    );
}
