//! The fence against a real store: a newer claim fences the older one inside the commit.
use super::*;
use crate::store::{RedbStore, Store, StoreExt};

fn store() -> (tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    (dir, store)
}

fn claim_on(store: &dyn Store, p: i32, generation: i32) -> Claim {
    store
        .write_with(|txn| claim(txn, "t", p, generation))
        .unwrap()
}

/// A commit guarded by `ours`: the fence check, then an offset write in the same transaction.
fn commit(store: &dyn Store, p: i32, ours: Claim, offset: i64) -> Result<(), FenceError> {
    store.write_with(|txn| {
        check(txn, "t", p, ours)?;
        crate::store::put(txn, Table::Offsets, format!("t/{p}").as_bytes(), &offset)?;
        Ok(())
    })
}

fn offset(store: &dyn Store, p: i32) -> Option<i64> {
    store
        .read_with(|txn| crate::store::get::<i64>(txn, Table::Offsets, format!("t/{p}").as_bytes()))
        .unwrap()
}

#[test]
fn a_stale_generation_cannot_commit() {
    let (_dir, s) = store();
    let old = claim_on(&s, 0, 4);
    commit(&s, 0, old, 10).unwrap();
    let new = claim_on(&s, 0, 5);
    assert!(new.token > old.token);
    let refused = commit(&s, 0, old, 20).unwrap_err();
    match refused {
        FenceError::Fenced(f) => {
            assert_eq!((f.ours, f.current), (old, Some(new)));
        }
        other => panic!("{other}"),
    }
    assert_eq!(offset(&s, 0), Some(10), "the fenced commit wrote nothing");
    commit(&s, 0, new, 30).unwrap();
    assert_eq!(offset(&s, 0), Some(30));
}

#[test]
fn claims_are_per_partition_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let (a, b) = {
        let s = RedbStore::open(&path).unwrap();
        (claim_on(&s, 0, -1), claim_on(&s, 1, -1))
    };
    let s = RedbStore::open(&path).unwrap();
    // Claiming partition 1 again does not fence partition 0.
    let b2 = claim_on(&s, 1, -1);
    assert!(
        b2.token > a.token && b2.token > b.token,
        "the counter survived"
    );
    commit(&s, 0, a, 1).unwrap();
    assert!(commit(&s, 1, b, 1).is_err());
    commit(&s, 1, b2, 1).unwrap();
}

#[test]
fn a_commit_without_any_claim_is_refused() {
    let (_dir, s) = store();
    let never = Claim {
        token: 1,
        generation: 1,
    };
    assert!(matches!(
        commit(&s, 3, never, 1),
        Err(FenceError::Fenced(Fenced { current: None, .. }))
    ));
}
