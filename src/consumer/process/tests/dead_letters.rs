//! The dead letters of a batch: poison records, and a batch that cannot be read.
use super::*;

/// The dead letters in the outbox, in order.
pub(super) fn dead_letters(store: &RedbStore) -> Vec<OutboxRecord> {
    let rows = store.read_with(|txn| outbox::pending(txn, 0, 10)).unwrap();
    rows.into_iter()
        .map(|(_, r)| r)
        .filter(|r| r.topic == "user.events.dlq")
        .collect()
}

#[test]
fn poison_records_go_to_the_dead_letter_topic_and_the_loop_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let good = event(0, "ada");
    let batch = vec![garbage(0), record(1, &good), garbage(2)];
    let out = run(&store, &batch, &input(0));
    assert_eq!((out.handled, out.dead, out.next_offset), (1, 2, 3));
    let dead = dead_letters(&store);
    assert_eq!(dead.len(), 2);
    let h = &dead[1].headers;
    assert_eq!(h["dlq_source_offset"], b"2");
    assert_eq!(h["dlq_source_partition"], b"0");
    assert!(!h["dlq_error"].is_empty());
    assert_eq!(dead[1].value, vec![0xde, 0xad]);
}

/// Each partition's copy of a poison record that names an event's id is a dead letter with an
/// id of its own; the record's goes as `dlq_source_ce_id`.
#[test]
fn a_dead_letter_has_an_id_of_its_own_and_names_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let source_id = uuid::Uuid::now_v7().to_string().into_bytes();
    let headers = BTreeMap::from([("ce_id".to_owned(), source_id.clone())]);
    let poison = FetchedRecord::from_parts(0, 0, None, Some(vec![0xde, 0xad]), &headers);
    for partition in [0, 1] {
        let out = run(
            &store,
            std::slice::from_ref(&poison),
            &BatchInput {
                partition,
                ..input(0)
            },
        );
        assert_eq!(out.dead, 1, "partition {partition}");
    }
    let dead = dead_letters(&store);
    assert_eq!(dead.len(), 2);
    let ids: Vec<&Vec<u8>> = dead.iter().map(|d| &d.headers["ce_id"]).collect();
    assert_ne!(ids[0], ids[1], "two dead letters under one id");
    for letter in &dead {
        assert_ne!(letter.headers["ce_id"], source_id, "the record's id kept");
        assert_eq!(letter.headers["dlq_source_ce_id"], source_id);
    }

    // A record without an id that says it names one: the dead letter names none.
    let said = BTreeMap::from([("dlq_source_ce_id".to_owned(), b"forged".to_vec())]);
    let poison = FetchedRecord::from_parts(1, 0, None, Some(vec![0xde, 0xad]), &said);
    assert_eq!(run(&store, &[poison], &input(1)).dead, 1);
    let dead = dead_letters(&store);
    assert_eq!(dead.len(), 3);
    assert!(
        !dead[2].headers.contains_key("dlq_source_ce_id"),
        "{:?}",
        dead[2].headers
    );
}

/// Headers that share a name (legal in Kafka): the first of each is kept, the one dedupe and
/// decoding read, so `dlq_source_ce_id` names the id the record was marked under; the others
/// are counted.
#[test]
fn a_dead_letter_keeps_the_first_of_repeated_headers_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let mut poison =
        FetchedRecord::from_parts(0, 0, None, Some(vec![0xde, 0xad]), &BTreeMap::new());
    poison.headers = crate::kafka::records::RawHeaders::encode([
        ("ce_id", &b"first"[..]),
        ("x-trace", b"a"),
        ("ce_id", b"second"),
        ("x-trace", b"b"),
    ]);
    assert_eq!(run(&store, &[poison], &input(0)).dead, 1);
    let dead = dead_letters(&store);
    let h = &dead[0].headers;
    assert_eq!(h["dlq_source_ce_id"], b"first");
    assert_eq!(h["x-trace"], b"a");
    assert_eq!(h["dlq_repeated_headers_left_out"], b"2");
}

/// A dead letter carries one identity, ours: the record's identity and `dlq_` headers in
/// another case are left out (a reader ignoring case would find two `ce_id`s, or take the
/// record's `DLQ_ERROR` for ours), and its error shows the record's control characters
/// escaped.
#[test]
fn a_dead_letter_has_one_identity_and_its_error_no_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let mut poison =
        FetchedRecord::from_parts(0, 0, None, Some(vec![0xde, 0xad]), &BTreeMap::new());
    poison.headers = crate::kafka::records::RawHeaders::encode([
        ("CE_ID", &b"forged"[..]),
        ("Ce_Source", b"/usercenter/1"),
        ("ce_PRODUCERID", b"1"),
        ("DLQ_Error", b"all is well"),
        ("ce_type", b"user.registered"),
    ]);
    assert_eq!(run(&store, &[poison], &input(0)).dead, 1);
    let dead = dead_letters(&store);
    let headers = &dead[0].headers;
    let distinct: std::collections::BTreeSet<String> =
        headers.keys().map(|n| n.to_ascii_lowercase()).collect();
    assert_eq!(
        headers.len(),
        distinct.len(),
        "a name twice, case ignored: {headers:?}"
    );
    assert_eq!(dead[0].headers[header::PRODUCER_ID], b"77");
    assert_eq!(
        dead[0].headers["ce_type"], b"user.registered",
        "the record's own kept"
    );
    assert_ne!(dead[0].headers["dlq_error"], b"all is well");

    let error = dead_letter::clamped("unknown variant `\u{1b}[2J\nx\u{202e}y`".to_owned());
    assert_eq!(error, "unknown variant `\\u{1b}[2J\\nx\\u{202e}y`");
}

/// An unreadable batch of offsets 2 to 9: its `raw` bytes, and why.
fn offsets_2_to_9(error: &str, raw: bytes::Bytes) -> Unreadable {
    Unreadable {
        base_offset: 2,
        last_offset: 9,
        error: error.into(),
        raw,
    }
}

/// A batch that cannot be read, after the records: dead-lettered as one record once they are
/// handled, in their transaction, and the offset stored past it; not while a record before it
/// fails.
#[test]
fn an_unreadable_batch_is_dead_lettered_whole_after_the_records_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let bad = offsets_2_to_9(
        "batch decompresses to more than 16 bytes",
        bytes::Bytes::from_static(b"the batch"),
    );
    let with_bad = |records_from| BatchInput {
        ends: 10,
        unreadable: Some(&bad),
        ..input(records_from)
    };
    let failing = vec![record(0, &event(0, "ada")), record(1, &event(1, "fail-me"))];
    let out = run(&store, &failing, &with_bad(0));
    assert_eq!(
        (out.dead, out.next_offset),
        (0, 1),
        "not past a failing record"
    );

    let batch = vec![record(0, &event(0, "ada")), record(1, &event(1, "bob"))];
    let out = run(&store, &batch, &with_bad(1));
    assert_eq!((out.handled, out.dead, out.next_offset), (1, 1, 10));
    assert_eq!(out.dead_letters.first().map(|d| d.0), Some(2));
    let stored = store
        .read_with(|txn| stored_offset(txn, "user.events", 0))
        .unwrap();
    assert_eq!(stored, Some(10));
    let dead = dead_letters(&store);
    assert_eq!(dead.len(), 1);
    let letter = &dead[0];
    assert_eq!(
        (letter.key.as_deref(), &letter.value[..]),
        (None, &b"the batch"[..])
    );
    let h = &letter.headers;
    assert_eq!(
        (
            &h["dlq_source_offset"][..],
            &h["dlq_source_last_offset"][..]
        ),
        (&b"2"[..], &b"9"[..])
    );
    assert_eq!(
        h["dlq_error"],
        b"unreadable batch: batch decompresses to more than 16 bytes"
    );
    assert!(h.contains_key("ce_producerid"), "stamped as a new record");

    // Applied again as after a commit whose answer was lost, from the offset the loop held
    // before it: it starts from the stored offset, so nothing is handled or dead-lettered twice.
    let out = run(&store, &batch, &with_bad(1));
    assert_eq!((out.handled, out.dead, out.next_offset), (0, 0, 10));
    assert_eq!(dead_letters(&store).len(), 1);
}

/// A decoding error quotes the writer's header: a dead letter carries at most 512 bytes of it
/// (with the whole length), whatever the header's size.
#[test]
fn a_dead_letter_s_error_is_cut_to_512_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let mut headers = record(0, &event(0, "ada")).headers.to_map();
    headers.insert("ce_specversion".into(), "é".repeat(300_000).into_bytes());
    let forged = FetchedRecord::from_parts(0, 0, None, Some(b"v".to_vec()), &headers);
    let out = run(&store, &[forged], &input(0));
    assert_eq!(out.dead, 1);
    let error = String::from_utf8(dead_letters(&store)[0].headers["dlq_error"].clone()).unwrap();
    assert!(error.len() <= 512 + 32, "{} bytes", error.len());
    assert!(
        error.starts_with("unsupported CloudEvents spec version"),
        "{error}"
    );
    assert!(error.ends_with("bytes in all)"), "{error}");
    assert_eq!(out.dead_letters[0].1, error, "the log line's reason too");
}

/// A partition that starts inside an unreadable batch (its stored offset there) dead-letters it
/// once; a batch past 512 KiB goes without its bytes, which stay in the source topic.
#[test]
fn an_unreadable_batch_from_inside_it_and_one_too_large_to_carry() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let large = offsets_2_to_9(
        "unknown compression codec 7",
        bytes::Bytes::from(vec![7; 600 * 1024]),
    );
    let from_inside = BatchInput {
        ends: 10,
        unreadable: Some(&large),
        ..input(5)
    };
    let key = offset_key("user.events", 0);
    store
        .write_with(|txn| store::put(txn, Table::Offsets, &key, &5i64))
        .unwrap();
    let out = run(&store, &[], &from_inside);
    assert_eq!((out.dead, out.next_offset), (1, 10));
    let letter = &dead_letters(&store)[0];
    assert!(letter.value.is_empty());
    assert_eq!(letter.headers["dlq_batch_bytes"], b"614400");
    assert_eq!(letter.headers["dlq_source_offset"], b"2");
}

/// A poison record as large as its topic allows, or with headers that large, becomes a dead
/// letter the dead-letter topic takes: its largest parts are left out and counted. A NUL in a
/// header's name (which PostgreSQL's text refuses) becomes U+FFFD.
#[test]
fn a_dead_letter_leaves_out_what_would_not_fit_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let big = || vec![7u8; 900 << 10];
    let poison = |offset, key: Vec<u8>, value: Vec<u8>, headers: &[(&str, Vec<u8>)]| {
        let headers = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.clone()))
            .collect();
        FetchedRecord::from_parts(offset, 0, Some(key), Some(value), &headers)
    };
    let batch = vec![
        poison(0, b"k".to_vec(), big(), &[("a\0b", b"v".to_vec())]),
        poison(1, b"k".to_vec(), vec![1], &[("h", big())]),
        poison(2, big(), big(), &[("h", big())]),
    ];
    let out = run(&store, &batch, &input(0));
    assert_eq!(out.dead, 3);
    let dead = dead_letters(&store);
    let h = |i: usize, name: &str| {
        dead[i]
            .headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    for d in &dead {
        let headers: usize = d.headers.iter().map(|(n, v)| n.len() + v.len()).sum();
        let size = d.key.as_ref().map_or(0, Vec::len) + d.value.len() + headers;
        // The source's parts within 512 KiB, and the dead letter's own headers (the error,
        // the source's place and identity) besides.
        assert!(size <= (512 << 10) + 2048, "{size}");
    }
    assert!(dead[0].value.is_empty());
    assert_eq!(h(0, "dlq_value_bytes").as_deref(), Some("921600"));
    assert_eq!(h(0, "a\u{FFFD}b").as_deref(), Some("v"));
    assert_eq!(dead[0].key.as_deref(), Some(b"k".as_slice()));
    // Headers too large on their own: the value is kept, the headers are counted.
    assert_eq!(dead[1].value, vec![1]);
    assert_eq!(h(1, "h"), None);
    assert_eq!(h(1, "dlq_headers_left_out").as_deref(), Some("1"));
    assert_eq!(h(1, "dlq_value_bytes"), None);
    // All three.
    assert_eq!(dead[2].key, None);
    assert_eq!(h(2, "dlq_key_bytes").as_deref(), Some("921600"));
    assert_eq!(h(2, "dlq_value_bytes").as_deref(), Some("921600"));
    assert_eq!(h(2, "dlq_headers_left_out").as_deref(), Some("1"));
    assert_eq!(h(2, "dlq_source_offset").as_deref(), Some("2"));
}

/// A batch of more records than a transaction applies (a few kilobytes of compressed empty
/// records can hold a hundred thousand, each a dead letter) commits in parts: the first
/// transaction stops at the bound and stores where it stopped, the next goes on from there
/// to where the batches end.
#[test]
fn a_batch_past_the_bound_commits_in_parts() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let bound = MAX_RECORDS_PER_TRANSACTION as i64;
    let batch: Vec<FetchedRecord> = (0..=bound).map(garbage).collect();
    let ends = bound + 5;
    let first = run(&store, &batch, &BatchInput { ends, ..input(0) });
    assert!(first.more);
    assert_eq!((first.dead, first.next_offset), (bound as u64, bound));
    let stored = store.read_with(|txn| stored_offset(txn, "user.events", 0));
    assert_eq!(stored.unwrap(), Some(bound));
    let rest = run(
        &store,
        &batch,
        &BatchInput {
            ends,
            ..input(bound)
        },
    );
    assert!(!rest.more);
    assert_eq!((rest.dead, rest.next_offset), (1, ends));
}
