//! What a reset changes when it fails or only looks: a dry run changes nothing, a failed
//! `--execute` says what it changed, a bad flag fails before anything connects.
use super::*;

/// A dry run opens the store read-only: it reads the offsets, writes nothing (not even the
/// commit that opening a store for writing makes), and a running service's store is in use.
#[test]
fn a_dry_run_reads_the_store_and_changes_nothing() {
    use crate::{consumer::process::put_offset, store::StoreExt};
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::RedbStore::open(dir.path()).unwrap();
    store.write_with(|txn| put_offset(txn, "t", 1, 42)).unwrap();
    let held = store_side::open_redb(dir.path(), true).unwrap_err();
    assert!(matches!(held, GroupCommandError::StoreInUse(_)), "{held:?}");
    drop(store);
    let file = dir.path().join("usercenter.redb");
    let before = std::fs::read(&file).unwrap();
    let view = store_side::open_redb(dir.path(), true).unwrap().unwrap();
    assert_eq!(
        store_side::offsets(view.as_ref(), "t", &[0, 1]).unwrap(),
        [None, Some(42)]
    );
    let write = view.write_with(|txn| put_offset(txn, "t", 0, 1));
    assert!(
        matches!(write, Err(crate::store::StoreError::ReadOnly)),
        "{write:?}"
    );
    drop(view);
    assert!(std::fs::read(&file).unwrap() == before, "the file changed");
    let empty = tempfile::tempdir().unwrap();
    assert!(store_side::open_redb(empty.path(), true).unwrap().is_none());
}

/// What a failed `--execute` says: a member that joined says whether `--replay` deleted marks
/// already; a store write that failed after Kafka's commit says Kafka moved, and the plan.
#[test]
fn a_failed_reset_says_what_it_changed() {
    let code = crate::kafka::error_code::ErrorCode::new(25);
    let joined = |replay| {
        GroupCommandError::Joined {
            group: "g".into(),
            code,
            replay,
        }
        .to_string()
    };
    assert!(!joined(false).contains("dedupe"), "{}", joined(false));
    assert!(joined(true).contains("dedupe marks"), "{}", joined(true));
    let half = GroupCommandError::KafkaOnly {
        cause: Box::new(GroupCommandError::StoreInUse("/d".into())),
        again: "run the same command again",
        plan: "PARTITION 0 NEW 5\n".into(),
    }
    .to_string();
    assert!(half.contains("set in Kafka but not in the store"), "{half}");
    assert!(
        half.contains("is in use") && half.ends_with("NEW 5\n"),
        "{half}"
    );
}

/// A `--to-datetime` that is not RFC 3339 is a usage error, found before anything connects.
#[test]
fn a_bad_datetime_is_a_usage_error() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        reset: ResetArgs,
    }
    let bad = Cli::try_parse_from(["reset", "--to-datetime", "2026-11-28"]).err();
    let bad = bad.map(|e| (e.kind(), e.to_string()));
    assert!(
        matches!(&bad, Some((clap::error::ErrorKind::ValueValidation, text)) if text.contains("RFC 3339")),
        "{bad:?}"
    );
    let good = Cli::try_parse_from(["reset", "--to-datetime", "2026-11-28T09:00:00+01:00"]);
    let time = good.ok().and_then(|c| c.reset.to_datetime);
    assert_eq!(
        time.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-11-28T08:00:00+00:00")
    );
}
