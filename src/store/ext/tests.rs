use super::*;
use crate::store::{RedbStore, Table};

fn open() -> (tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    (dir, store)
}

/// A caller's own error, which is not a store error.
#[derive(Debug)]
enum CallerError {
    Refused,
    Store(StoreError),
}

impl From<StoreError> for CallerError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

#[test]
fn values_come_out_of_committed_transactions() {
    let (_dir, store) = open();
    let written = store
        .write_with(|txn| {
            txn.put(Table::Meta, b"k", b"v")?;
            Ok::<_, StoreError>(7)
        })
        .unwrap();
    assert_eq!(written, 7);
    let read = store.read_with(|txn| txn.get(Table::Meta, b"k")).unwrap();
    assert_eq!(read, Some(b"v".to_vec()));
}

#[test]
fn a_callers_error_aborts_and_comes_back_unchanged() {
    let (_dir, store) = open();
    let err = store
        .write_with(|txn| -> Result<(), CallerError> {
            txn.put(Table::Meta, b"k", b"v")?;
            Err(CallerError::Refused)
        })
        .unwrap_err();
    assert!(matches!(err, CallerError::Refused), "{err:?}");
    let read = store
        .read_with(|txn| -> Result<_, CallerError> { Ok(txn.get(Table::Meta, b"k")?) })
        .unwrap();
    assert_eq!(read, None, "nothing the failed closure wrote is kept");
    let err = store
        .read_with(|_| -> Result<(), CallerError> { Err(CallerError::Refused) })
        .unwrap_err();
    assert!(matches!(err, CallerError::Refused), "{err:?}");
}

/// A broken backend that returns without running the closure.
#[derive(Debug)]
struct Skipping;

impl Store for Skipping {
    fn read(&self, _: &mut dyn FnMut(&dyn ReadTxn) -> Result<()>) -> Result<()> {
        Ok(())
    }

    fn write(&self, _: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<()>) -> Result<()> {
        Ok(())
    }
}

#[test]
fn a_closure_that_never_ran_is_a_store_error_not_a_value() {
    let store: &dyn Store = &Skipping;
    let err = store.read_with(|_| Ok::<_, CallerError>(1)).unwrap_err();
    assert!(
        matches!(err, CallerError::Store(StoreError::NotRun)),
        "{err:?}"
    );
    let err = store.write_with(|_| Ok::<_, StoreError>(1)).unwrap_err();
    assert!(matches!(err, StoreError::NotRun), "{err:?}");
}

/// A backend whose every attempt conflicted: it ran the closure (on a scratch store), which
/// failed on the conflict, and gave up.
#[derive(Debug)]
struct AlwaysConflicting(RedbStore);

impl Store for AlwaysConflicting {
    fn read(&self, _: &mut dyn FnMut(&dyn ReadTxn) -> Result<()>) -> Result<()> {
        Ok(())
    }

    fn write(&self, f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<()>) -> Result<()> {
        assert!(self.0.write(f).is_err(), "the closure fails");
        Err(StoreError::Contended { attempts: 50 })
    }
}

#[test]
fn a_write_given_up_after_conflicts_says_contended_whatever_the_closure_made_of_it() {
    let (_dir, scratch) = open();
    let store: &dyn Store = &AlwaysConflicting(scratch);
    let err = store
        .write_with(|_| Err::<(), _>(CallerError::Refused))
        .unwrap_err();
    assert!(
        matches!(
            err,
            CallerError::Store(StoreError::Contended { attempts: 50 })
        ),
        "{err:?}"
    );
    let err = store
        .write_at_snapshot_with(|_| Err::<(), _>(CallerError::Refused))
        .unwrap_err();
    assert!(
        matches!(err, CallerError::Store(StoreError::Contended { .. })),
        "{err:?}"
    );
}
