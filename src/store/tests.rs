use super::*;

fn open() -> (tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn the_store_suite_passes_on_redb() {
    let (_dir, store) = open();
    suite::run_all(&store);
}

#[test]
fn outbox_appends_appear_in_commit_order_on_redb() {
    let (_dir, store) = open();
    suite::outbox_appends_appear_in_commit_order(std::sync::Arc::new(store), 4, 50);
}

/// A write transaction that only read is not committed: the file is not written, so no fsync
/// is paid for it (a profile update that changes nothing).
#[test]
fn a_write_that_only_reads_leaves_the_file_untouched() {
    let (dir, store) = open();
    store
        .write(&mut |txn| put(txn, Table::Meta, b"k", &1u64))
        .unwrap();
    let path = dir.path().join(RedbStore::FILE);
    let modified = || std::fs::metadata(&path).unwrap().modified().unwrap();
    let before = modified();
    std::thread::sleep(std::time::Duration::from_millis(50));
    store
        .write(&mut |txn| get::<u64>(txn, Table::Meta, b"k").map(drop))
        .unwrap();
    assert_eq!(modified(), before, "a read-only write committed");
    store
        .write(&mut |txn| put(txn, Table::Meta, b"k", &2u64))
        .unwrap();
    assert_ne!(modified(), before, "a write that wrote is seen");
    let now = store
        .read_with(|txn| get::<u64>(txn, Table::Meta, b"k"))
        .unwrap();
    assert_eq!(now, Some(2));
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

/// A store of an earlier version kept the consumer's high waters in the offsets table as
/// `h/topic/partition/producer`; opening it moves them into their own table, values
/// unchanged, and leaves the offsets alone (also those of a topic named `h`).
#[test]
fn high_waters_in_the_offsets_table_move_to_their_own_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RedbStore::open(dir.path()).unwrap();
        store
            .write(&mut |txn| {
                put(txn, Table::Offsets, b"user.events/0", &42i64)?;
                // The offset of partition 0 of a topic named `h`.
                put(txn, Table::Offsets, b"h/0", &7i64)?;
                put(txn, Table::Offsets, b"h/user.events/0/7", &(5i64, 9u64))?;
                put(txn, Table::Offsets, b"h/user.events/3/8", &(6i64, 1u64))
            })
            .unwrap();
    }
    for _ in 0..2 {
        let store = RedbStore::open(dir.path()).unwrap();
        let (offsets, high_waters) = store
            .read_with(|txn| {
                Ok::<_, StoreError>((
                    txn.range_from(Table::Offsets, b"", 10)?,
                    txn.range_from(Table::HighWaters, b"", 10)?,
                ))
            })
            .unwrap();
        let keys = |rows: &[(Vec<u8>, Vec<u8>)]| -> Vec<Vec<u8>> {
            rows.iter().map(|(k, _)| k.clone()).collect()
        };
        assert_eq!(keys(&offsets), [b"h/0".to_vec(), b"user.events/0".to_vec()]);
        assert_eq!(
            keys(&high_waters),
            [b"user.events/0/7".to_vec(), b"user.events/3/8".to_vec()]
        );
        let moved = store
            .read_with(|txn| get::<(i64, u64)>(txn, Table::HighWaters, b"user.events/0/7"))
            .unwrap();
        assert_eq!(moved, Some((5, 9)));
    }
}

/// A write that fails on the file (here EFBIG past a file-size limit, as a full disk gives
/// ENOSPC) leaves redb's handle failing its writes until the file is opened again: the
/// store says so ([`Store::failed`]), for `/health`. The limit is the process's, so this runs
/// only where each test has a process of its own (nextest, which CI uses).
#[test]
fn an_io_error_of_the_file_marks_the_store_failed() {
    use testkit::file_limit::{limit_file_size as limit, require_own_process};
    require_own_process();
    let (_dir, store) = open();
    assert_eq!(store.failed(), None);
    limit(4 << 20);
    let big = vec![7u8; 256 << 10];
    let mut failed = None;
    for i in 0..64u32 {
        let key = i.to_be_bytes();
        if let Err(e) = store.write(&mut |txn| txn.put(Table::Meta, &key, &big)) {
            failed = Some(e);
            break;
        }
    }
    limit(u64::MAX);
    assert!(failed.is_some(), "no write failed past the 4 MiB limit");
    let why = store.failed().expect("the store is marked failed");
    assert!(!why.is_empty());
    // A later write fails too, with the limit gone, until the file is opened again.
    let again = store.write(&mut |txn| txn.put(Table::Meta, b"small", b"1"));
    assert!(again.is_err(), "a write after the failure committed");
}

#[test]
fn a_read_within_bytes_keeps_the_rows_up_to_the_one_that_reaches_them() {
    use super::within;
    assert_eq!(within([], 10), 0);
    assert_eq!(within([50], 10), 1, "the first row whatever its size");
    assert_eq!(within([4, 5, 1, 7], 10), 3);
    assert_eq!(within([4, 5, 1, 7], 9), 2);
    assert_eq!(within([4, 5, 1, 7], usize::MAX), 4);
    assert_eq!(within([usize::MAX, 1], usize::MAX), 1);
}

/// The file's layout is recorded on the first open for writing (also of a file an earlier
/// release wrote, without the row), and a file whose layout is newer than this binary's is
/// refused by both opens, without changing it.
#[test]
fn a_store_of_a_newer_layout_is_refused_and_left_as_it_is() {
    use super::redb_layout::{CURRENT, KEY};
    let dir = tempfile::tempdir().unwrap();
    // Read with redb itself, which knows no layouts.
    let row = |dir: &std::path::Path| {
        let db = redb::Builder::new()
            .open_read_only(dir.join(RedbStore::FILE))
            .unwrap();
        let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
        let meta = txn
            .open_table(redb::TableDefinition::<&[u8], &[u8]>::new("meta"))
            .unwrap();
        redb::ReadableTable::get(&meta, KEY)
            .unwrap()
            .map(|v| v.value().to_vec())
    };
    drop(RedbStore::open(dir.path()).unwrap());
    assert_eq!(row(dir.path()), Some(CURRENT.to_string().into_bytes()));

    // A file from before the row: opened, and the row recorded.
    let store = RedbStore::open(dir.path()).unwrap();
    store
        .write(&mut |txn| txn.delete(Table::Meta, KEY).map(drop))
        .unwrap();
    drop(store);
    assert_eq!(row(dir.path()), None);
    drop(RedbStore::open(dir.path()).unwrap());
    assert_eq!(row(dir.path()), Some(CURRENT.to_string().into_bytes()));

    // A newer release's file.
    let store = RedbStore::open(dir.path()).unwrap();
    store
        .write(&mut |txn| txn.put(Table::Meta, KEY, b"2"))
        .unwrap();
    drop(store);
    for refused in [
        RedbStore::open(dir.path()).map(drop),
        ReadOnlyRedbStore::open(dir.path()).map(drop),
    ] {
        let e = refused.expect_err("a newer layout opened");
        assert!(
            matches!(&e, StoreError::Layout { found, known: CURRENT, .. } if found == "2"),
            "{e:?}"
        );
        assert!(e.to_string().contains("newer usercenter"), "{e}");
    }
    assert_eq!(row(dir.path()), Some(b"2".to_vec()), "the file was changed");
}

/// An I/O error met inside a transaction's closure marks the store failed at once, also when
/// the closure hands it on as another error ([`StoreExt`] gives the backend only `Aborted`):
/// here a read that the disk fails inside a read transaction, which has no commit to fail later.
#[test]
fn an_io_error_inside_a_closure_marks_the_store_failed() {
    use std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    };
    #[derive(Debug)]
    struct FailingReads {
        inner: redb::backends::InMemoryBackend,
        fail: Arc<AtomicBool>,
    }
    impl redb::StorageBackend for FailingReads {
        fn len(&self) -> std::io::Result<u64> {
            self.inner.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(std::io::Error::other("EIO"));
            }
            self.inner.read(offset, out)
        }
        fn set_len(&self, len: u64) -> std::io::Result<()> {
            self.inner.set_len(len)
        }
        fn sync_data(&self) -> std::io::Result<()> {
            self.inner.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
            self.inner.write(offset, data)
        }
    }
    let fail = Arc::new(AtomicBool::new(false));
    let store = RedbStore::in_backend(FailingReads {
        inner: redb::backends::InMemoryBackend::new(),
        fail: Arc::clone(&fail),
    })
    .unwrap();
    store
        .write(&mut |txn| txn.put(Table::Users, b"k", b"v"))
        .unwrap();
    // Armed inside the closure: the transaction has begun, and the closure's read fails.
    let outcome: Result<Option<Vec<u8>>> = store.read_with(|txn| {
        fail.store(true, Ordering::SeqCst);
        txn.get(Table::Users, b"k")
    });
    fail.store(false, Ordering::SeqCst);
    assert!(outcome.is_err(), "a read the disk failed answered");
    let why = store.failed().expect("the store is marked failed");
    assert!(why.contains("EIO"), "{why}");
}

/// Errors that leave the file unusable until it is opened again: an I/O error wherever it is
/// met; corruption and a poisoned lock when a transaction begins, commits or aborts (after a
/// commit that failed part-way redb refuses every write as `Corrupted`), not when one page
/// read inside a transaction is damaged, which fails that transaction only.
#[test]
fn corruption_fails_the_store_when_a_transaction_ends_not_when_a_read_meets_it() {
    use super::redb_store::{is_fatal, is_io};
    let backend = |e: redb::Error| StoreError::Backend(e);
    let corrupted = backend(redb::Error::Corrupted("allocator state discarded".into()));
    let poisoned = backend(redb::Error::LockPoisoned(std::panic::Location::caller()));
    let io = backend(redb::Error::Io(std::io::Error::other("EIO")));
    assert!(is_fatal(&corrupted) && !is_io(&corrupted));
    assert!(is_fatal(&poisoned) && !is_io(&poisoned));
    assert!(is_fatal(&io) && is_io(&io));
    assert!(is_io(&backend(redb::Error::PreviousIo)));
    assert!(!is_fatal(&backend(redb::Error::ValueTooLarge(1))));
    assert!(!is_fatal(&StoreError::Aborted));
    assert!(!is_fatal(&StoreError::Conflict { field: "username" }));
}
