use super::*;
use crate::config::AssignmentMode;

#[test]
fn new_offsets_stay_within_the_log() {
    let at = |target, current| new_offset(target, current, 10, 50, Some(30));
    assert_eq!(at(Target::Earliest, Some(40)), 10);
    assert_eq!(at(Target::Latest, Some(40)), 50);
    assert_eq!(at(Target::Datetime(chrono::Utc::now()), None), 30);
    assert_eq!(
        new_offset(Target::Datetime(chrono::Utc::now()), None, 10, 50, None),
        50
    );
    assert_eq!(at(Target::ShiftBy(-5), Some(40)), 35);
    assert_eq!(
        at(Target::ShiftBy(-100), Some(40)),
        10,
        "clamped to earliest"
    );
    assert_eq!(
        at(Target::ShiftBy(100), Some(40)),
        50,
        "clamped to the log end"
    );
    assert_eq!(
        at(Target::ShiftBy(3), None),
        13,
        "from earliest without an offset"
    );
    assert_eq!(at(Target::ShiftBy(i64::MIN), Some(40)), 10);
    // A current offset past the last stable offset (50): a group offset beyond a transaction
    // left open. A shift moves from it and no further forward, and 0 keeps it.
    assert_eq!(at(Target::ShiftBy(0), Some(54)), 54);
    assert_eq!(at(Target::ShiftBy(-2), Some(54)), 52);
    assert_eq!(at(Target::ShiftBy(9), Some(54)), 54);
    assert_eq!(
        at(Target::Latest, Some(54)),
        50,
        "--to-latest is the log end"
    );
}

#[test]
fn the_current_offset_is_where_the_consumer_resumes() {
    let row = PlanRow {
        partition: 0,
        committed: Some(5),
        stored: Some(7),
        earliest: 0,
        log_end: 9,
        high_watermark: 9,
        new: 0,
        assignment: AssignmentMode::Group,
    };
    assert_eq!(row.current(), Some(7));
    // Another member of the group (the Go service) handled up to 9 since the store's 7: the
    // consumer resumes there, and a shift counts from there.
    let ahead = PlanRow {
        committed: Some(9),
        ..row.clone()
    };
    assert_eq!(ahead.current(), Some(9));
    assert_eq!(
        new_offset(Target::ShiftBy(-1), ahead.current(), 0, 9, None),
        8
    );
    // A static consumer reads no group offset (one Kafka's own tool committed, say): it
    // resumes from the store's, and a shift counts from there.
    let static_ahead = PlanRow {
        assignment: AssignmentMode::Static,
        ..ahead.clone()
    };
    assert_eq!(static_ahead.current(), Some(7));
    assert_eq!(
        new_offset(Target::ShiftBy(-1), static_ahead.current(), 0, 9, None),
        6
    );
    let static_unstored = PlanRow {
        stored: None,
        ..static_ahead
    };
    assert_eq!(static_unstored.current(), None, "the start policy's");
    // Past the log end it names no record: the store's.
    let past = PlanRow {
        committed: Some(12),
        ..row.clone()
    };
    assert_eq!(past.current(), Some(7));
    let only_past = PlanRow {
        stored: None,
        ..past.clone()
    };
    assert_eq!(only_past.current(), None, "the start policy's");
    assert_eq!(
        PlanRow {
            stored: None,
            ..row.clone()
        }
        .current(),
        Some(5)
    );
    let plan = format_plan(
        "user.events",
        &[PlanRow {
            committed: None,
            ..row
        }],
    );
    assert!(
        plan.lines().nth(1).is_some_and(
            |l| l.split_whitespace().collect::<Vec<_>>() == ["user.events", "0", "-", "7", "0"]
        ),
        "{plan}"
    );
}

#[test]
fn only_a_group_without_members_is_inactive() {
    let view = |state: &str, members| GroupView {
        state: state.to_owned(),
        protocol_type: "consumer".into(),
        protocol: String::new(),
        members: vec![
            MemberView {
                id: "m".into(),
                instance_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                assigned: None,
            };
            members
        ],
    };
    assert!(view("Empty", 0).is_inactive());
    assert!(view("Dead", 0).is_inactive());
    // Nisshi answers GROUP_ID_NOT_FOUND for a group that only ever had offsets committed (the
    // static mode's): the reset was refused there for good.
    assert!(view(super::broker_side::UNKNOWN_GROUP, 0).is_inactive());
    assert!(!view("Stable", 1).is_inactive());
    assert!(!view("PreparingRebalance", 0).is_inactive());
}

/// A group refused for its members names its static ones and says to wait out their session:
/// they stay in the group after they stopped.
#[test]
fn a_refusal_for_static_members_says_to_wait_out_their_session() {
    let member = |id: &str, instance: Option<&str>| MemberView {
        id: id.into(),
        instance_id: instance.map(Into::into),
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        assigned: None,
    };
    let mut view = GroupView {
        state: "Stable".into(),
        protocol_type: "consumer".into(),
        protocol: String::new(),
        members: vec![member("a", Some("pod-0")), member("b", None)],
    };
    let hint = view.static_members_hint();
    assert!(hint.contains("1 static: pod-0"), "{hint}");
    assert!(hint.contains("session_timeout_ms"), "{hint}");
    view.members.remove(0);
    assert_eq!(view.static_members_hint(), "");
}

#[test]
fn lag_counts_from_the_committed_offset() {
    let row = PartitionRow {
        topic: "t".into(),
        partition: 0,
        owner: None,
        committed: Some(4),
        log_end: 10,
    };
    assert_eq!(row.lag(), Some(6));
    assert_eq!(
        PartitionRow {
            committed: None,
            ..row.clone()
        }
        .lag(),
        None,
        "no commit: no lag to count (the log may start past 0)"
    );
    assert_eq!(
        PartitionRow {
            committed: Some(12),
            ..row
        }
        .lag(),
        Some(0)
    );
}

#[test]
fn partitions_are_owned_by_the_member_whose_assignment_holds_them() {
    let member = |id: &str, assigned: Option<&[(&str, &[i32])]>| MemberView {
        id: id.into(),
        instance_id: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        assigned: assigned.map(|a| a.iter().map(|(t, ps)| ((*t).into(), ps.to_vec())).collect()),
    };
    let view = GroupView {
        state: "Stable".into(),
        protocol_type: "consumer".into(),
        protocol: "range".into(),
        members: vec![
            member("m-a", Some(&[("t", &[0, 2]), ("u", &[1])])),
            member("m-b", Some(&[("t", &[1])])),
            member("m-c", None),
        ],
    };
    let owner = |t, p| describe::owner_of(&view, t, p);
    assert_eq!(owner("t", 0).as_deref(), Some("m-a"));
    assert_eq!(owner("t", 1).as_deref(), Some("m-b"));
    assert_eq!(owner("t", 2).as_deref(), Some("m-a"));
    assert_eq!(owner("u", 1).as_deref(), Some("m-a"));
    assert_eq!(owner("t", 3), None, "assigned to nobody");
    assert_eq!(owner("u", 0), None, "another topic's partition number");

    // The OWNER column shows the member, or '-'.
    let row = |partition, owner: Option<&str>| PartitionRow {
        topic: "t".into(),
        partition,
        owner: owner.map(str::to_owned),
        committed: Some(1),
        log_end: 3,
    };
    let text = Description {
        group: "g".into(),
        view: view.clone(),
        partitions: vec![row(0, Some("m-a")), row(3, None)],
        mode: crate::config::AssignmentMode::Group,
    }
    .to_string();
    assert!(!text.contains("assignment is static"), "{text}");
    let owners: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("t "))
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(owners, ["m-a", "-"], "{text}");
    assert!(
        text.contains("m-a instance=- client=c host=/127.0.0.1 assigned=t:[0,2] u:[1]"),
        "{text}"
    );
    assert!(
        text.contains(
            "m-c instance=- client=c host=/127.0.0.1 assigned=(not reported by the broker)"
        ),
        "{text}"
    );
}

/// Finding 7: in static mode `describe` said "DescribeGroups answered Kafka error code 69"
/// for a group nobody joined. An unknown group is shown as one, and static mode says in words
/// what the group's offsets do and do not mean.
#[test]
fn static_mode_and_an_unknown_group_are_described_in_words() {
    let view = GroupView {
        state: super::broker_side::UNKNOWN_GROUP.into(),
        protocol_type: String::new(),
        protocol: String::new(),
        members: Vec::new(),
    };
    let describe = |mode| {
        Description {
            group: "g".into(),
            view: view.clone(),
            partitions: Vec::new(),
            mode,
        }
        .to_string()
    };
    let text = describe(crate::config::AssignmentMode::Static);
    assert!(text.contains("state:    unknown to the brokers"), "{text}");
    assert!(text.contains("assignment is static"), "{text}");
    assert!(text.contains("shows them as STORED"), "{text}");
    let text = describe(crate::config::AssignmentMode::Group);
    assert!(text.contains("no member has joined the group"), "{text}");
}

#[test]
fn a_store_held_elsewhere_is_reported_as_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let _held = crate::store::RedbStore::open(dir.path()).unwrap();
    let err = store_side::open_redb(dir.path(), false).unwrap_err();
    assert!(matches!(err, GroupCommandError::StoreInUse(_)), "{err:?}");
    assert!(err.to_string().contains("is the service running"));
    let empty = tempfile::tempdir().unwrap();
    assert!(
        store_side::open_redb(empty.path(), false)
            .unwrap()
            .is_none()
    );
    assert!(
        !empty.path().join("usercenter.redb").exists(),
        "nothing is created"
    );
}

/// The reset's store write fences every partition task that claimed a partition before it
/// (an instance started while the reset ran): its next commit is refused.
#[test]
fn the_reset_claims_the_partitions_it_sets() {
    use crate::{consumer::fence, store::StoreExt};
    let dir = tempfile::tempdir().unwrap();
    drop(crate::store::RedbStore::open(dir.path()).unwrap());
    let store = store_side::open_redb(dir.path(), false).unwrap().unwrap();
    let before = store
        .write_with(|txn| fence::claim(txn, "t", 1, -1))
        .unwrap();
    store_side::set_offsets(&*store, "t", &[(0, 5), (1, 7)]).unwrap();
    assert_eq!(
        store_side::offsets(&*store, "t", &[0, 1, 2]).unwrap(),
        [Some(5), Some(7), None]
    );
    for p in [0, 1] {
        assert!(fence::claimed_by_operator(&*store, "t", p).unwrap());
    }
    assert!(!fence::claimed_by_operator(&*store, "t", 2).unwrap());
    let refused = store.write_with(|txn| fence::check(txn, "t", 1, before));
    assert!(
        matches!(refused, Err(fence::FenceError::Fenced(_))),
        "{refused:?}"
    );
}

#[test]
fn a_replay_scan_moves_past_what_it_fetched_and_stops_at_the_log_end() {
    use reset::next_fetch;
    // Batches ending at 8 from a fetch at 3 (records, markers or an aborted transaction): on
    // from 8.
    assert_eq!(next_fetch(3, Some(8), 10), Some(8));
    // A fetch at 3 that returned only the batch holding 3: on from its end.
    assert_eq!(next_fetch(3, Some(4), 10), Some(4));
    // Only batches ending at or before the offset, or none, below the high watermark: a gap,
    // one on.
    assert_eq!(next_fetch(5, Some(3), 10), Some(6));
    assert_eq!(next_fetch(5, None, 10), Some(6));
    // Nothing at or past the high watermark: done.
    assert_eq!(next_fetch(10, None, 10), None);
    assert_eq!(next_fetch(12, Some(4), 10), None);
}

#[test]
fn the_group_is_the_consumers_unless_named() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        common: ConfigArgs,
    }
    let mut config = Config::default();
    config.consumer.group_id = "go-usercenter".into();
    let unnamed = Cli::parse_from(["group"]);
    assert_eq!(unnamed.common.group(&config), "go-usercenter");
    let named = Cli::parse_from(["group", "--group", "other"]);
    assert_eq!(named.common.group(&config), "other");
}

mod failures;
