//! Forged CloudEvents headers: a binding header twice, or more of them than an event has.
use super::dead_letters::dead_letters;
use super::*;

/// An event with a binding header twice (here `ce_type`, once upper-cased) is no event: one
/// reader takes the first, another (the CloudEvents Go SDK) the last, lower-cased. Poison,
/// dead-lettered; the same event without the second header is handled.
#[test]
fn an_event_with_a_binding_header_twice_is_poison() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let enc = event(0, "ada").encode(ContentType::Postcard).unwrap();
    let pairs: Vec<(&str, &[u8])> = enc
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    let mut twice = FetchedRecord::from_parts(
        0,
        0,
        Some(enc.key.clone()),
        Some(enc.value.clone()),
        &BTreeMap::new(),
    );
    let mut with_second = pairs.clone();
    with_second.push(("CE_TYPE", b"user.deleted"));
    twice.headers = crate::kafka::records::RawHeaders::encode(with_second);
    let mut once = twice.clone();
    once.offset = 1;
    once.headers = crate::kafka::records::RawHeaders::encode(pairs);
    let out = run(&store, &[twice], &input(0));
    assert_eq!((out.handled, out.dead), (0, 1));
    let dead = dead_letters(&store);
    let error = String::from_utf8_lossy(&dead[0].headers["dlq_error"]).into_owned();
    assert!(error.contains("ce_type appears more than once"), "{error}");
    // Not a copy of the poison record: a record of its own (its id marked as poison only on
    // this partition's poison key), handled.
    let out = run(&store, &[once], &input(1));
    assert_eq!((out.handled, out.dead), (1, 0));
}

/// A forged event with more CloudEvents headers than an event has is poison before its
/// names are held to look for repeats; past 4,096 headers, before any lookup: it marks
/// nothing, and its dead letter carries none of them, counts them and names the first
/// `ce_id`.
#[test]
fn a_record_with_many_headers_is_poison_and_its_dead_letter_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let enc = event(0, "ada").encode(ContentType::Postcard).unwrap();
    let names: Vec<String> = (0..5_000).map(|i| format!("ce_x{i}")).collect();
    let mut pairs: Vec<(&str, &[u8])> = enc
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    pairs.extend(names.iter().map(|n| (n.as_str(), &b""[..])));
    let mut many = FetchedRecord::from_parts(
        0,
        0,
        Some(enc.key.clone()),
        Some(enc.value.clone()),
        &BTreeMap::new(),
    );
    many.headers = crate::kafka::records::RawHeaders::encode(pairs.iter().copied());
    let mut some = many.clone();
    some.offset = 1;
    some.headers = crate::kafka::records::RawHeaders::encode(pairs.iter().copied().take(80));
    let out = run(&store, &[many], &input(0));
    assert_eq!((out.handled, out.dead), (0, 1));
    // The same id with fewer headers, on the same partition: not skipped as a copy of the
    // first, which had no identity the consumer reads.
    let out = run(&store, &[some], &input(1));
    assert_eq!((out.handled, out.dead, out.duplicates), (0, 1, 0));
    let dead = dead_letters(&store);
    let error = String::from_utf8_lossy(&dead[0].headers["dlq_error"]).into_owned();
    let said = format!("{} headers, more than the 4096", pairs.len());
    assert!(error.contains(&said), "{error}");
    let h = &dead[0].headers;
    assert_eq!(
        h["dlq_headers_left_out"],
        pairs.len().to_string().into_bytes()
    );
    assert_eq!(h["dlq_source_ce_id"], enc.headers["ce_id"]);
    assert!(!h.contains_key("ce_x0"), "a header kept");
    // Past 64 but within 4,096: poison, its headers carried as usual.
    let h = &dead[1].headers;
    assert!(
        h.contains_key("ce_x0"),
        "{:?}",
        h.keys().take(20).collect::<Vec<_>>()
    );
    assert!(!h.contains_key("dlq_headers_left_out"));
}

/// Neither asked for its handling nor for its reads.
struct Untouchable;

impl crate::consumer::RecordHandler for Untouchable {
    fn handle(&self, _: &FetchedRecord, _: &dyn ReadTxn) -> Result<Effects, RecordError> {
        panic!("the handler was asked")
    }

    fn reads(&self, _: &FetchedRecord) -> Vec<(Table, Vec<u8>)> {
        panic!("its reads were asked")
    }
}

/// A record of 200,000 empty headers (400 KB, a few hundred bytes compressed) is poison
/// before its handler or the read-ahead looks up a header: each lookup would walk them all.
#[test]
fn a_record_past_the_header_bound_is_poison_before_any_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let mut many = garbage(0);
    many.headers = crate::kafka::records::RawHeaders::encode((0..200_000).map(|_| ("", &b""[..])));
    let batch = [many];
    let out = store
        .write_with(|txn| apply_batch(txn, &Untouchable, &batch, &input(0)))
        .unwrap();
    assert_eq!((out.handled, out.dead, out.next_offset), (0, 1, 1));
    assert!(out.failed.is_none(), "{:?}", out.failed);
    let dead = dead_letters(&store);
    assert_eq!(dead[0].headers["dlq_headers_left_out"], b"200000");
}
