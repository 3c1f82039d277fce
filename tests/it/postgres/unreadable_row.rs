//! An outbox row whose columns do not read as a record (a NULL in its header arrays: an edit by
//! hand, another tool's write) is parked as it is stored, and the rows around it are published.
//! On PostgreSQL a row is rebuilt from its columns, so it never failed the decode that parks a
//! bad row on redb: its column error failed every read of the outbox instead, and no instance
//! published anything until an operator found the row.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use testkit::{Broker, client, create_topic, pg_serve::sql, postgres::Postgres, read_partition};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use usercenter::{
    outbox::{self, OutboxRecord},
    pgstore::PgStore,
    producer::ProducerConfig,
    store::Store,
};

use super::blocking;

const TOPIC: &str = "unreadable";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_whose_columns_do_not_read_is_parked_and_the_others_are_published() {
    let broker = Broker::memory().await;
    let c = client(&broker.addr).await;
    create_topic(&c, TOPIC, 1).await;
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let store = Arc::new(PgStore::connect(&url, 4).await.unwrap());
    {
        let store = Arc::clone(&store);
        blocking(move || {
            store
                .write(&mut |txn| {
                    for i in 0..3 {
                        let mut headers = BTreeMap::new();
                        outbox::stamp(txn, 77, &mut headers)?;
                        let row = OutboxRecord {
                            topic: TOPIC.into(),
                            key: Some(b"user-1".to_vec()),
                            value: format!("{i}").into_bytes(),
                            headers,
                            created_ms: chrono::Utc::now().timestamp_millis(),
                        };
                        outbox::append(txn, &row)?;
                    }
                    Ok(())
                })
                .unwrap()
        })
        .await;
    }
    let db = sql(&url).await;
    let bad: i64 = db
        .query_one(
            "UPDATE outbox SET header_names = array_append(header_names, NULL),
                 header_values = array_append(header_values, NULL)
             WHERE seq = (SELECT seq FROM outbox ORDER BY seq OFFSET 1 LIMIT 1) RETURNING seq",
            &[],
        )
        .await
        .unwrap()
        .get(0);

    let producer = testkit::producer(&broker.addr, ProducerConfig::default()).await;
    let cancel = CancellationToken::new();
    let relay = tokio::spawn(outbox::relay::run(
        Arc::clone(&store) as Arc<dyn Store>,
        producer,
        Arc::new(Notify::new()),
        cancel.clone(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left: i64 = db
            .query_one("SELECT count(*) FROM outbox", &[])
            .await
            .unwrap()
            .get(0);
        if left == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{left} rows still in the outbox after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cancel.cancel();
    relay.await.unwrap();

    let parked = db
        .query("SELECT seq, value FROM outbox_parked", &[])
        .await
        .unwrap();
    assert_eq!(parked.len(), 1, "the bad row alone is parked");
    assert_eq!(parked[0].get::<_, i64>(0), bad);
    assert_eq!(parked[0].get::<_, Vec<u8>>(1), b"1", "as it was stored");
    let values: Vec<Vec<u8>> = read_partition(&c, TOPIC, 0)
        .await
        .into_iter()
        .map(|r| r.record.value.unwrap())
        .collect();
    assert_eq!(values, [b"0".to_vec(), b"2".to_vec()]);
}
