use super::*;

fn open() -> (tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn writes_commit_atomically_or_not_at_all() {
    let (_dir, store) = open();
    store
        .write(&mut |txn| {
            txn.put(Table::Users, b"u1", b"ada")?;
            txn.put(Table::Outbox, &1u64.to_be_bytes(), b"event-1")
        })
        .unwrap();
    // A failing closure keeps none of its writes.
    let err = store
        .write(&mut |txn| {
            txn.put(Table::Users, b"u2", b"bob")?;
            txn.put(Table::Outbox, &2u64.to_be_bytes(), b"event-2")?;
            Err(StoreError::Conflict { field: "username" })
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }));
    store
        .read(&mut |txn| {
            assert_eq!(txn.get(Table::Users, b"u1")?, Some(b"ada".to_vec()));
            assert_eq!(txn.get(Table::Users, b"u2")?, None);
            assert_eq!(txn.count(Table::Outbox)?, 1);
            Ok(())
        })
        .unwrap();
}

#[test]
fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RedbStore::open(dir.path()).unwrap();
        store
            .write(&mut |txn| put(txn, Table::Offsets, b"user.events/0", &42i64))
            .unwrap();
    }
    let store = RedbStore::open(dir.path()).unwrap();
    let offset = store
        .read_with(|txn| get::<i64>(txn, Table::Offsets, b"user.events/0"))
        .unwrap();
    assert_eq!(offset, Some(42));
}

#[test]
fn range_scans_in_key_order_with_a_limit() {
    let (_dir, store) = open();
    store
        .write(&mut |txn| {
            for seq in [5u64, 1, 3, 2, 4] {
                txn.put(Table::Outbox, &seq.to_be_bytes(), &seq.to_le_bytes())?;
            }
            assert!(txn.delete(Table::Outbox, &3u64.to_be_bytes())?);
            assert!(!txn.delete(Table::Outbox, &3u64.to_be_bytes())?);
            Ok(())
        })
        .unwrap();
    store
        .read(&mut |txn| {
            let rows = txn.range_from(Table::Outbox, &2u64.to_be_bytes(), 2)?;
            let keys: Vec<u64> = rows
                .iter()
                .map(|(k, _)| u64::from_be_bytes(k.as_slice().try_into().unwrap()))
                .collect();
            assert_eq!(keys, vec![2, 4]);
            Ok(())
        })
        .unwrap();
}

#[test]
fn undecodable_values_are_typed_errors() {
    let (_dir, store) = open();
    store
        .write(&mut |txn| txn.put(Table::Meta, b"k", &[0xff; 3]))
        .unwrap();
    let err = store
        .read(&mut |txn| get::<String>(txn, Table::Meta, b"k").map(drop))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Decode { table: "meta", .. }),
        "{err}"
    );
}

#[test]
fn open_failures_name_the_file_and_keep_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the data directory should be: the directory cannot be created.
    let blocker = dir.path().join("data");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let err = RedbStore::open(&blocker).unwrap_err();
    let StoreError::Open { path, source } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(path, &blocker.join("usercenter.redb"));
    assert!(matches!(source, redb::Error::Io(_)), "{source:?}");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn decode_errors_keep_the_decoders_error() {
    let (_dir, store) = open();
    store
        .write(&mut |txn| txn.put(Table::Offsets, b"k", &[]))
        .unwrap();
    let err = store
        .read_with(|txn| get::<i64>(txn, Table::Offsets, b"k"))
        .unwrap_err();
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(
        source,
        Some(postcard::Error::DeserializeUnexpectedEnd.to_string())
    );
}
