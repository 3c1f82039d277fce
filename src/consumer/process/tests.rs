use std::collections::BTreeMap;

use uuid::Uuid;

use super::*;
use crate::{
    consumer::handler::{Effects, HandlerResult, Write},
    event::{ContentType, DATA_VERSION, Envelope, EventData, Headers, Registered},
    store::{RedbStore, Store, StoreExt},
    users::{EventHandler, EventRecordHandler},
};

/// Counts each event id in the Meta table; fails for user names starting with "fail".
struct Counting;

impl EventHandler for Counting {
    fn registered(&self, e: &Envelope, d: &Registered, view: &dyn ReadTxn) -> HandlerResult {
        if d.username.starts_with("fail") {
            return Err(HandlerError::refused("refused"));
        }
        let key = e.id.as_bytes().to_vec();
        let seen: u64 = store::get(view, Table::Meta, &key)?.unwrap_or(0);
        Ok(Effects {
            writes: vec![Write::Put {
                table: Table::Meta,
                key,
                value: postcard::to_allocvec(&(seen + 1)).unwrap(),
            }],
            outputs: vec![OutboxRecord {
                topic: "user.notifications".into(),
                key: Some(e.user_id.to_string().into_bytes()),
                value: d.username.clone().into_bytes(),
                // As the users' handlers write them: the source event's producer.
                headers: [(
                    header::SOURCE.to_owned(),
                    Envelope::source_of(e.producer_id).into_bytes(),
                )]
                .into_iter()
                .collect(),
                created_ms: 0,
            }],
        })
    }
}

fn event(seq: u64, username: &str) -> Envelope {
    Envelope {
        version: DATA_VERSION,
        id: Uuid::from_u128(u128::from(seq) + 1),
        user_id: Uuid::from_u128(99),
        occurred_at: chrono::Utc::now(),
        request_id: "r".into(),
        producer_id: 5,
        sequence: seq,
        data: EventData::Registered(Registered {
            username: username.into(),
            email: "e@x".into(),
        }),
    }
}

fn record(offset: i64, env: &Envelope) -> FetchedRecord {
    let enc = env.encode(ContentType::Postcard).unwrap();
    FetchedRecord::from_parts(offset, 0, Some(enc.key), Some(enc.value), &enc.headers)
}

/// `events` as records at offsets from `first` on.
fn records(events: &[Envelope], first: i64) -> Vec<FetchedRecord> {
    (first..).zip(events).map(|(o, e)| record(o, e)).collect()
}

fn garbage(offset: i64) -> FetchedRecord {
    FetchedRecord::from_parts(
        offset,
        0,
        Some(b"k".to_vec()),
        Some(vec![0xde, 0xad]),
        &BTreeMap::new(),
    )
}

mod byte_budget;
mod dead_letters;
mod forged_headers;

fn input(next_offset: i64) -> BatchInput<'static> {
    BatchInput {
        topic: "user.events",
        partition: 0,
        next_offset,
        ends: next_offset,
        dlq_topic: "user.events.dlq",
        give_up: None,
        unreadable: None,
        now_ms: 1,
        handler_seconds: None,
        producer_id: 77,
    }
}

fn run(store: &RedbStore, records: &[FetchedRecord], input: &BatchInput<'_>) -> BatchOutcome {
    let handler = EventRecordHandler(Counting);
    store
        .write_with(|txn| apply_batch(txn, &handler, records, input))
        .unwrap()
}

fn count(store: &RedbStore, env: &Envelope) -> u64 {
    let mut n = 0;
    store
        .read(&mut |txn| {
            n = store::get(txn, Table::Meta, env.id.as_bytes())?.unwrap_or(0);
            Ok(())
        })
        .unwrap();
    n
}

#[test]
fn effects_offsets_and_outputs_commit_together_and_duplicates_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let events: Vec<Envelope> = (0..5).map(|i| event(i, "ada")).collect();
    let batch = records(&events, 0);
    let out = run(&store, &batch, &input(0));
    assert_eq!((out.handled, out.duplicates, out.next_offset), (5, 0, 5));
    assert_eq!(out.outbox_rows, 5);
    // The same events again, at later offsets (a replay): skipped, counted, offset advances.
    let replay = records(&events, 10);
    let out = run(&store, &replay, &input(10));
    assert_eq!((out.handled, out.duplicates, out.next_offset), (0, 5, 15));
    for e in &events {
        assert_eq!(count(&store, e), 1, "effect applied exactly once");
    }
    store
        .read(&mut |txn| {
            assert_eq!(stored_offset(txn, "user.events", 0)?, Some(15));
            assert_eq!(outbox::backlog(txn)?, 5);
            // Outputs carry a producer id and a sequence committed with them: a replay of the
            // row is the same record.
            let rows = outbox::pending(txn, 0, 10)?;
            let mut seqs: Vec<&[u8]> = rows
                .iter()
                .map(|(_, r)| r.headers[header::SEQUENCE].as_slice())
                .collect();
            assert!(
                rows.iter()
                    .all(|(_, r)| r.headers[header::PRODUCER_ID] == b"77")
            );
            seqs.dedup();
            assert_eq!(seqs.len(), 5, "distinct sequences");
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_failing_handler_stops_the_pass_and_gives_up_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let batch = vec![
        record(0, &event(0, "ada")),
        record(1, &event(1, "fail-me")),
        record(2, &event(2, "bob")),
    ];
    // The fetched batches end at 5 (two markers after the records).
    let ends = |next_offset| BatchInput {
        ends: 5,
        ..input(next_offset)
    };
    let out = run(&store, &batch, &ends(0));
    assert_eq!(out.next_offset, 1, "committed up to the failing record");
    assert_eq!(out.failed.as_ref().map(|(o, _)| *o), Some(1));
    let mut give_up = ends(1);
    give_up.give_up = Some((1, "refused 5 times".into()));
    let out = run(&store, &batch, &give_up);
    assert_eq!(
        (out.dead, out.handled, out.next_offset),
        (1, 1, 5),
        "all handled: on past the markers"
    );
    // Nothing of the record given up on was applied: a readable copy of its event (its id,
    // another writer's body) on another partition is applied once, and a copy after that is
    // a duplicate.
    let copy = record(0, &event(1, "carol"));
    let elsewhere = BatchInput {
        partition: 1,
        ..input(0)
    };
    let out = run(&store, std::slice::from_ref(&copy), &elsewhere);
    assert_eq!((out.handled, out.duplicates, out.dead), (1, 0, 0));
    let again = record(5, &event(1, "fail-me"));
    let out = run(&store, &[again], &ends(5));
    assert_eq!((out.handled, out.duplicates, out.dead), (0, 1, 0));
}

#[test]
fn dedupe_keys_prefer_the_event_id() {
    let mut h = Headers::new();
    assert_eq!(dedupe_key(&h), None);
    h.insert(header::PRODUCER_ID.into(), b"7".to_vec());
    h.insert(header::SEQUENCE.into(), b"9".to_vec());
    assert_eq!(dedupe_key(&h), Some(b"p/7/9".to_vec()));
    // A producer id with a `/` cannot make another pair's key.
    let pair = |p: &[u8], s: &[u8]| {
        let mut h = Headers::new();
        h.insert(header::PRODUCER_ID.into(), p.to_vec());
        h.insert(header::SEQUENCE.into(), s.to_vec());
        dedupe_key(&h).unwrap()
    };
    assert_ne!(pair(b"1/2", b"3"), pair(b"1", b"2/3"));
    assert_eq!(pair(b"1/2", b"3"), b"q/3:1/2/3".to_vec());
    h.insert(header::ID.into(), b"id-1".to_vec());
    assert_eq!(dedupe_key(&h), Some(b"e/id-1".to_vec()));
    h.insert(header::ID.into(), Vec::new());
    assert_eq!(
        dedupe_key(&h),
        Some(b"p/7/9".to_vec()),
        "an empty id is none"
    );
    // The nil and the max UUID name no event (a writer that never set an id): as none, so
    // that such records do not all share one mark.
    for none in [uuid::Uuid::nil(), uuid::Uuid::max()] {
        h.insert(header::ID.into(), none.to_string().into_bytes());
        assert_eq!(dedupe_key(&h), Some(b"p/7/9".to_vec()), "{none}");
    }
}

#[test]
fn a_long_dedupe_key_is_its_hash() {
    let mut h = Headers::new();
    let long = vec![b'x'; 8 << 10];
    h.insert(header::ID.into(), long.clone());
    let key = dedupe_key(&h).unwrap();
    assert!(key.starts_with(b"h/") && key.len() == 34, "{}", key.len());
    // The same id, the same mark; another id, another.
    assert_eq!(dedupe_key(&h), Some(key.clone()));
    h.insert(header::ID.into(), [long.as_slice(), b"y"].concat());
    assert_ne!(dedupe_key(&h), Some(key));
    // Up to the bound, the key is as written.
    h.insert(header::ID.into(), vec![b'x'; MAX_MARK_KEY - 2]);
    assert_eq!(dedupe_key(&h).unwrap().len(), MAX_MARK_KEY);
    let mut p = Headers::new();
    p.insert(header::PRODUCER_ID.into(), vec![b'7'; 4 << 10]);
    p.insert(header::SEQUENCE.into(), b"9".to_vec());
    assert!(dedupe_key(&p).unwrap().starts_with(b"h/"));
}

#[test]
fn outputs_and_dead_letters_name_this_instance_in_source_and_identity() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    // An event of producer 5 (another instance, or another team's producer), read by us (77).
    let mut poison = record(1, &event(1, "bob"));
    poison.value = Some(vec![0xff].into());
    let out = run(&store, &[record(0, &event(0, "ada")), poison], &input(0));
    assert_eq!((out.handled, out.dead), (1, 1));
    let rows = store.read_with(|txn| outbox::pending(txn, 0, 10)).unwrap();
    assert_eq!(rows.len(), 2, "the notification and the dead letter");
    for (_, r) in &rows {
        assert_eq!(r.headers[header::PRODUCER_ID], b"77", "{}", r.topic);
        assert_eq!(r.headers[header::SOURCE], b"/usercenter/77", "{}", r.topic);
    }
}

/// The offsets table is stored data, read back after an upgrade and written by `usercenter
/// group reset-offsets` (`group::store`): one key per topic and partition, `<topic>/<partition>`.
#[test]
fn each_partition_keeps_its_own_offset_under_topic_slash_partition() {
    assert_eq!(offset_key("user.events", 12), b"user.events/12");
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    run(&store, &[record(0, &event(0, "ada"))], &input(0));
    let mut other = input(7);
    other.partition = 1;
    run(&store, &[record(7, &event(1, "bob"))], &other);
    store
        .read(&mut |txn| {
            assert_eq!(stored_offset(txn, "user.events", 0)?, Some(1));
            assert_eq!(stored_offset(txn, "user.events", 1)?, Some(8));
            assert_eq!(stored_offset(txn, "user.other", 0)?, None);
            Ok(())
        })
        .unwrap();
}

/// An output's `created_ms` (its Kafka timestamp) is the pass's time unless the handler set
/// one; dead letters are counted among the pass's outbox rows (the relay is woken for them).
#[test]
fn outputs_get_the_pass_time_unless_they_carry_one_and_dead_letters_count_as_rows() {
    /// One output without a time and one with.
    struct TwoOutputs;
    impl RecordHandler for TwoOutputs {
        fn handle(&self, record: &FetchedRecord, _: &dyn ReadTxn) -> Result<Effects, RecordError> {
            if record.value.as_deref() == Some(&[0xde, 0xad][..]) {
                return Err(RecordError::Poison("garbage".into()));
            }
            let out = |created_ms| OutboxRecord {
                topic: "user.notifications".into(),
                key: None,
                value: Vec::new(),
                headers: Headers::new(),
                created_ms,
            };
            Ok(Effects {
                writes: Vec::new(),
                outputs: vec![out(0), out(42)],
            })
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let mut at = input(0);
    at.now_ms = 1_000;
    let out = store
        .write_with(|txn| {
            apply_batch(
                txn,
                &TwoOutputs,
                &[record(0, &event(0, "ada")), garbage(1)],
                &at,
            )
        })
        .unwrap();
    assert_eq!((out.handled, out.dead, out.outbox_rows), (1, 1, 3));
    let rows = store.read_with(|txn| outbox::pending(txn, 0, 10)).unwrap();
    let times: Vec<i64> = rows.iter().map(|(_, r)| r.created_ms).collect();
    assert_eq!(
        times,
        [1_000, 42, 1_000],
        "the outputs, then the dead letter"
    );
    // A batch of poison records alone writes rows too.
    let out = store
        .write_with(|txn| apply_batch(txn, &TwoOutputs, &[garbage(2), garbage(3)], &input(2)))
        .unwrap();
    assert_eq!((out.dead, out.outbox_rows), (2, 2));
}

/// A copy of a poison record already dead-lettered from this partition is skipped, and the
/// offset moves past it like past any record.
#[test]
fn a_skipped_poison_copy_moves_the_offset_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let mut poison = record(0, &event(0, "ada"));
    poison.value = Some(vec![0xff].into());
    let mut copy = poison.clone();
    copy.offset = 1;
    let out = run(&store, &[poison], &input(0));
    assert_eq!((out.dead, out.next_offset), (1, 1));
    let out = run(&store, &[copy], &input(1));
    assert_eq!((out.dead, out.duplicates, out.next_offset), (0, 1, 2));
    store
        .read(&mut |txn| {
            assert_eq!(stored_offset(txn, "user.events", 0)?, Some(2));
            Ok(())
        })
        .unwrap();
}

#[test]
fn records_before_the_next_offset_are_skipped_and_a_gap_is_crossed() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    // A fetch that starts before the stored offset (its batch begins earlier): offsets 5..=12,
    // of which 5..=9 were handled before. Their events are new to this store, so no dedupe mark
    // hides it when one of them is handled again.
    let events: Vec<Envelope> = (0..8).map(|i| event(i, "ada")).collect();
    let batch = records(&events, 5);
    let out = run(&store, &batch, &input(10));
    assert_eq!((out.handled, out.next_offset), (3, 13));
    let counts: Vec<u64> = events.iter().map(|e| count(&store, e)).collect();
    assert_eq!(
        counts,
        [0, 0, 0, 0, 0, 1, 1, 1],
        "only offsets 10, 11 and 12 handled"
    );
    // Offsets missing from the log (compaction, transaction markers): the next one is handled.
    let later: Vec<Envelope> = (20..22).map(|i| event(i, "bob")).collect();
    let gap = [record(13, &later[0]), record(17, &later[1])];
    let out = run(&store, &gap, &input(13));
    assert_eq!((out.handled, out.next_offset), (2, 18));
    // Nothing to handle: the offset stays where it was.
    let out = run(&store, &[], &input(18));
    assert_eq!((out.handled, out.next_offset), (0, 18));
}
