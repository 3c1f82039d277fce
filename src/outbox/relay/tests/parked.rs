//! Rows that cannot go out (too large, undecodable) are parked while the rest are published;
//! dead letters reach the DLQ with a sequence of their own.
use super::*;

#[tokio::test]
async fn a_row_that_can_never_go_out_is_parked_and_the_rest_are_published() {
    let (_dir, store) = store();
    store
        .write(&mut |txn| {
            for value in [b"before".to_vec(), vec![0; 2 << 20], b"after".to_vec()] {
                // The middle one is over max.message.bytes for ever.
                let mut r = row(value);
                stamp(txn, PRODUCER_ID, &mut r.headers)?;
                append(txn, &r)?;
            }
            Ok(())
        })
        .unwrap();
    let broker = Arc::new(MockBroker::new(1));
    assert_eq!(relay_all(&store, &broker).await, 1);
    assert_eq!(
        broker.values(0),
        vec![b"before".to_vec(), b"after".to_vec()]
    );
}

/// A row that does not decode as a record (a layout another version wrote, an edit by hand)
/// is parked, and the rows behind it are published: before, the read of every round failed on
/// it, and nothing was published again.
#[tokio::test]
async fn a_row_that_does_not_decode_is_parked_and_the_rest_are_published() {
    let (_dir, store) = store();
    store
        .write(&mut |txn| {
            let mut before = row(b"before".to_vec());
            stamp(txn, PRODUCER_ID, &mut before.headers)?;
            append(txn, &before)?;
            txn.append_outbox(&[0xff; 3])?;
            let mut after = row(b"after".to_vec());
            stamp(txn, PRODUCER_ID, &mut after.headers)?;
            append(txn, &after)
        })
        .unwrap();
    let broker = Arc::new(MockBroker::new(1));
    assert_eq!(relay_all(&store, &broker).await, 1, "one row parked");
    assert_eq!(
        broker.values(0),
        vec![b"before".to_vec(), b"after".to_vec()]
    );
}

/// A record of `user.events` that does not decode, with `headers`.
fn poison(offset: i64, headers: &[(&str, &[u8])]) -> FetchedRecord {
    FetchedRecord::from_parts(
        offset,
        0,
        Some(b"k".to_vec()),
        Some(format!("poison {offset}").into_bytes()),
        &headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
            .collect(),
    )
}

#[tokio::test]
async fn dead_letters_reach_the_dlq_with_their_own_never_repeated_sequence() {
    let (_dir, store) = store();
    store
        .write(&mut |txn| {
            // An event, committed as the user operations commit theirs.
            let event = Envelope {
                version: DATA_VERSION,
                id: uuid::Uuid::from_u128(1),
                user_id: uuid::Uuid::from_u128(2),
                occurred_at: chrono::Utc::now(),
                request_id: "r".into(),
                producer_id: PRODUCER_ID,
                sequence: next_event_sequence(txn)?,
                data: EventData::Registered(Registered {
                    username: "ada".into(),
                    email: "ada@example.com".into(),
                }),
            };
            let rec = event.encode(ContentType::Postcard).unwrap();
            append(
                txn,
                &OutboxRecord {
                    topic: "user.events".into(),
                    key: Some(rec.key),
                    value: rec.value,
                    headers: rec.headers,
                    created_ms: 1,
                },
            )?;
            Ok(())
        })
        .unwrap();
    let pid = PRODUCER_ID.to_string();
    let batch = [
        // Only ce_producerid: once skipped by the consumer's stamp, refused by the producer and
        // parked instead of reaching the dead-letter topic.
        poison(0, &[(header::PRODUCER_ID, pid.as_bytes())]),
        // Only ce_sequence.
        poison(1, &[(header::SEQUENCE, b"0")]),
        // Both, claiming the dedupe key of the event above.
        poison(
            2,
            &[
                (header::PRODUCER_ID, pid.as_bytes()),
                (header::SEQUENCE, b"0"),
            ],
        ),
        // None.
        poison(3, &[]),
    ];
    let input = BatchInput {
        topic: "user.events",
        partition: 0,
        next_offset: 0,
        ends: 0,
        dlq_topic: "user.events.dlq",
        give_up: None,
        unreadable: None,
        now_ms: 1,
        handler_seconds: None,
        producer_id: PRODUCER_ID,
    };
    store
        .write(&mut |txn| {
            let out = apply_batch(txn, &EventRecordHandler(NoopHandler), &batch, &input)?;
            assert_eq!(out.dead, 4);
            Ok(())
        })
        .unwrap();

    let broker = Arc::new(MockBroker::new(1));
    assert_eq!(relay_all(&store, &broker).await, 0, "nothing parked");
    let log = broker.log.lock();
    let published: Vec<&Headers> = log[&0].iter().map(|r| &r.headers).collect();
    let dead: Vec<&&Headers> = published
        .iter()
        .filter(|h| h.contains_key("dlq_source_offset"))
        .collect();
    assert_eq!(dead.len(), 4, "every dead letter reached the DLQ topic");
    let keys: BTreeSet<(&[u8], &[u8])> = published
        .iter()
        .map(|h| {
            assert_eq!(h[header::PRODUCER_ID], pid.as_bytes());
            (
                h[header::PRODUCER_ID].as_slice(),
                h[header::SEQUENCE].as_slice(),
            )
        })
        .collect();
    assert_eq!(keys.len(), 5, "one sequence per record, none repeated");
}
