//! Parked outbox rows on PostgreSQL: `usercenter outbox requeue` runs beside the instances,
//! and the relay lease holder hears of the rows it puts back as of any other commit.

use std::{sync::Arc, time::Duration};

use super::blocking;

use testkit::postgres::Postgres;
use usercenter::{
    ops::{list_parked, requeue_parked},
    outbox::{self, OutboxRecord},
    pgstore::PgStore,
    store::{Store, StoreExt, Table},
};

fn record(id: &str) -> OutboxRecord {
    OutboxRecord {
        topic: "user.events".into(),
        key: Some(b"user-1".to_vec()),
        value: id.as_bytes().to_vec(),
        headers: [("ce_id".to_owned(), id.as_bytes().to_vec())].into(),
        created_ms: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_rows_go_back_to_the_end_of_the_outbox_beside_a_running_relay() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let holder = Arc::new(PgStore::connect(&url, 2).await.unwrap());
    let tool = Arc::new(PgStore::connect_current(&url, 2, None).await.unwrap());
    let wake = Arc::new(tokio::sync::Notify::new());
    holder.wake_on_outbox_commits(Arc::clone(&wake));
    let h = Arc::clone(&holder);
    assert!(blocking(move || h.relay_lease().unwrap()).await.is_some());

    // Three rows; the relay parks the first and the last, as it parks a row it cannot publish.
    let h = Arc::clone(&holder);
    let parked: Vec<u64> = blocking(move || {
        h.write_with(|txn| {
            for id in ["a", "b", "c"] {
                outbox::append(txn, &record(id))?;
            }
            Ok::<_, usercenter::store::StoreError>(())
        })
        .unwrap();
        let rows = h.read_with(|txn| outbox::pending(txn, 0, 10)).unwrap();
        let seqs = [rows[0].0, rows[2].0];
        let keys: Vec<Vec<u8>> = seqs.iter().map(|s| s.to_be_bytes().to_vec()).collect();
        h.write_with(|txn| txn.move_rows(Table::Outbox, Table::Parked, &keys))
            .unwrap();
        seqs.to_vec()
    })
    .await;
    // Drain the wake-ups of those commits.
    while tokio::time::timeout(Duration::from_millis(300), wake.notified())
        .await
        .is_ok()
    {}

    let t = Arc::clone(&tool);
    let listed = blocking(move || list_parked(&*t).unwrap()).await;
    assert_eq!(listed.iter().map(|r| r.seq).collect::<Vec<_>>(), parked);
    let summary = listed[0].summary.as_ref().expect("a parked record decodes");
    assert_eq!(
        (summary.ce_id.as_str(), summary.key.as_str()),
        ("a", "user-1")
    );

    let t = Arc::clone(&tool);
    let back = parked.clone();
    blocking(move || requeue_parked(&*t, &back).unwrap()).await;
    let woken = tokio::time::timeout(Duration::from_secs(5), wake.notified());
    assert!(
        woken.await.is_ok(),
        "the holder was not told of the rows put back"
    );

    let h = Arc::clone(&holder);
    let (rows, left) = blocking(move || {
        let rows = h.read_with(|txn| outbox::pending(txn, 0, 10)).unwrap();
        (rows, list_parked(&*h).unwrap())
    })
    .await;
    assert!(left.is_empty(), "rows left parked: {left:?}");
    let ids: Vec<&[u8]> = rows.iter().map(|(_, r)| r.value.as_slice()).collect();
    assert_eq!(
        ids,
        [&b"b"[..], b"a", b"c"],
        "put back after the row waiting, in order"
    );
    assert!(
        rows[1].0 > rows[0].0 && rows[2].0 > rows[1].0,
        "new sequences: {rows:?}"
    );
    assert_eq!(rows[1].1, record("a"), "headers kept");
}
