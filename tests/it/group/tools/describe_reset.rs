//! The describe and reset-offsets scenario, step by step on one broker and one store.
use testkit::Broker;
use usercenter::store::RedbStore;

use super::{
    fixture::{join_sole_member, seed},
    group_command, group_command_of,
    offsets::{committed, committed_by_librdkafka, marks, stored},
    row, run_steps, stdout,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_and_reset_against_the_broker() {
    let broker = Broker::memory().await;
    let b = broker.addr.as_str();
    let data = seed(b).await;

    let text = stdout(&group_command(b, data.path(), &["describe"]));
    println!("{text}");
    assert!(text.contains("members:  0"), "{text}");
    assert_eq!(row(&text, 0)[2..5], ["7", "10", "3"]);
    assert_eq!(row(&text, 1)[2..5], ["5", "5", "0"]);
    assert_eq!(row(&text, 2)[2..5], ["-", "0", "-"]);

    // Dry run: a plan, nothing changed.
    let plan = stdout(&group_command(
        b,
        data.path(),
        &["reset-offsets", "--to-earliest"],
    ));
    println!("{plan}");
    assert_eq!(row(&plan, 0)[2..5], ["7", "7", "0"]);
    assert!(plan.contains("dry run"), "{plan}");
    assert_eq!(committed(b).await, [(0, 7), (1, 5)]);
    // A time before every record: the first offset of each partition (the log end, 0, where
    // there is none), and --replay's dry run says what it would delete.
    let plan = stdout(&group_command(
        b,
        data.path(),
        &[
            "reset-offsets",
            "--to-datetime",
            "2000-01-01T00:00:00Z",
            "--replay",
        ],
    ));
    println!("{plan}");
    assert_eq!(row(&plan, 0)[2..5], ["7", "7", "0"]);
    assert_eq!(row(&plan, 1)[2..5], ["5", "5", "0"]);
    assert!(plan.contains("would be deleted"), "{plan}");
    // A partition the topic does not have: refused, nothing committed.
    let out = group_command(
        b,
        data.path(),
        &[
            "reset-offsets",
            "--to-earliest",
            "--partition",
            "9",
            "--execute",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no partition 9"), "{err}");
    assert_eq!(committed(b).await, [(0, 7), (1, 5)]);

    // The store held by someone else (a running service): refused, nothing committed.
    {
        let _held = RedbStore::open(data.path()).unwrap();
        let out = group_command(
            b,
            data.path(),
            &["reset-offsets", "--to-earliest", "--execute"],
        );
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("in use") && err.contains("service running"),
            "{err}"
        );
        assert_eq!(committed(b).await, [(0, 7), (1, 5)]);
    }

    // A data directory without the service's store (run from the wrong directory): --execute
    // refuses and creates none, nothing committed.
    {
        let empty = tempfile::tempdir().unwrap();
        let args = ["reset-offsets", "--to-earliest", "--execute"];
        let out = group_command(b, empty.path(), &args);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no store in"), "{err}");
        assert!(
            !empty.path().join("usercenter.redb").exists(),
            "a store made"
        );
        assert_eq!(committed(b).await, [(0, 7), (1, 5)]);
    }

    // Another group than the service's (a retired Go service's): its reset moves Kafka's
    // offsets alone, and refuses --replay, whose marks are the service's consumer's.
    let other = |args: &[&str]| group_command_of("gt-other", b, data.path(), args);
    let out = other(&["reset-offsets", "--to-earliest", "--replay", "--execute"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--replay works on the service's own group"),
        "{err}"
    );
    let out = stdout(&other(&["reset-offsets", "--to-latest", "--execute"]));
    assert!(
        out.contains("offsets set in Kafka") && out.contains("stay as they are"),
        "{out}"
    );
    // Its consumer resumes from its committed offsets, whatever the service's assignment: a
    // shift counts from there under static assignment too.
    let plan = stdout(&other(&[
        "reset-offsets",
        "--shift-by",
        "-1",
        "--partition",
        "0",
        "--instances",
        "2",
    ]));
    assert_eq!(row(&plan, 0)[2..5], ["10", "-", "9"], "{plan}");
    assert_eq!(
        committed(b).await,
        [(0, 7), (1, 5)],
        "the service's group unchanged"
    );
    {
        let store = RedbStore::open(data.path()).unwrap();
        assert_eq!((stored(&store, 0), stored(&store, 1)), (Some(7), Some(5)));
    }

    // Partition 1 to earliest, without --replay: offsets move, dedupe marks stay.
    let args = [
        "reset-offsets",
        "--to-earliest",
        "--partition",
        "1",
        "--execute",
    ];
    stdout(&group_command(b, data.path(), &args));
    assert_eq!(committed(b).await, [(0, 7), (1, 0)]);
    {
        let store = RedbStore::open(data.path()).unwrap();
        assert_eq!((stored(&store, 0), stored(&store, 1)), (Some(7), Some(0)));
        assert_eq!(
            marks(&store),
            12,
            "no --replay: the marks skip the re-read records"
        );
    }
    // Partition 0 back by 4 with --replay: the marks of offsets 3..7 go.
    let args = [
        "reset-offsets",
        "--shift-by",
        "-4",
        "--partition",
        "0",
        "--execute",
        "--replay",
    ];
    let out = stdout(&group_command(b, data.path(), &args));
    // The 4 records' marks.
    assert!(out.contains("replay: 4 dedupe marks deleted"), "{out}");
    assert_eq!(committed(b).await, [(0, 3), (1, 0)]);
    {
        let store = RedbStore::open(data.path()).unwrap();
        assert_eq!(stored(&store, 0), Some(3));
        assert_eq!(marks(&store), 8);
    }
    assert_eq!(committed_by_librdkafka(b), [3, 0, -1001]);
    // Partition 1 (offset 0, all 5 marks kept) forward to 3 without --replay, then back by 2
    // with it: the marks of offsets 1 and 2 go, not the one at 3, where it resumes.
    let steps = [
        &[
            "reset-offsets",
            "--shift-by",
            "3",
            "--partition",
            "1",
            "--execute",
        ][..],
        &[
            "reset-offsets",
            "--shift-by",
            "-2",
            "--partition",
            "1",
            "--execute",
            "--replay",
        ],
    ];
    run_steps(b, data.path(), &steps);
    assert_eq!(committed(b).await, [(0, 3), (1, 1)]);
    {
        let store = RedbStore::open(data.path()).unwrap();
        assert_eq!(stored(&store, 1), Some(1));
        assert_eq!(marks(&store), 6, "the marks of offsets 1 and 2 only");
    }
    // Partition 1 to its log end without --replay, then back to the start with it: a scan
    // that runs up to the log end (marks of 0, 3 and 4 left).
    let steps = [
        &[
            "reset-offsets",
            "--to-latest",
            "--partition",
            "1",
            "--execute",
        ][..],
        &[
            "reset-offsets",
            "--to-earliest",
            "--partition",
            "1",
            "--execute",
            "--replay",
        ],
    ];
    let replayed = run_steps(b, data.path(), &steps);
    assert!(
        replayed.contains("replay: 3 dedupe marks deleted"),
        "{replayed}"
    );
    assert_eq!(committed(b).await, [(0, 3), (1, 0)]);

    // Kafka's offset ahead of the store's (set through another store, as Kafka's own tool
    // would set it): a shift counts from Kafka's in group assignment, which the consumer
    // resumes from, and from the store's under static assignment (`--instances 2`), whose
    // consumers read no group offset.
    {
        let elsewhere = tempfile::tempdir().unwrap();
        drop(RedbStore::open(elsewhere.path()).unwrap());
        let to = |target: &'static str| ["reset-offsets", target, "--partition", "1", "--execute"];
        stdout(&group_command(b, elsewhere.path(), &to("--to-latest")));
        assert_eq!(committed(b).await, [(0, 3), (1, 5)]);
        let shift = ["reset-offsets", "--shift-by", "1", "--partition", "1"];
        let plan = stdout(&group_command(b, data.path(), &shift));
        assert_eq!(row(&plan, 1)[2..5], ["5", "0", "5"], "{plan}");
        let plan = stdout(&group_command(
            b,
            data.path(),
            &[&shift[..], &["--instances", "2"]].concat(),
        ));
        assert_eq!(row(&plan, 1)[2..5], ["5", "0", "1"], "{plan}");
        stdout(&group_command(b, elsewhere.path(), &to("--to-earliest")));
        assert_eq!(committed(b).await, [(0, 3), (1, 0)]);
    }

    // A member joins: describe shows it and its partitions; a reset is refused.
    let member = join_sole_member(b).await;
    let text = stdout(&group_command(b, data.path(), &["describe"]));
    println!("{text}");
    assert!(text.contains("members:  1"), "{text}");
    // The owner column. The group is settled (SyncGroup answered, a 60 s session), so what
    // the broker reports is fixed, and Nisshi 0.8.1 always answers DescribeGroups with empty
    // member assignment bytes (nisshi-storage 0.8.1, src/lib.rs, `impl From<&NamedGroupDetail>
    // for DescribedGroup`: `.member_assignment(Bytes::new())`), although it holds the
    // assignment `join_sole_member` synced. The owner is then unknown, and said so, rather
    // than guessed (the sole member would be a plausible guess, and a wrong one in general).
    let member_line = text
        .lines()
        .find(|l| l.starts_with(&format!("  {member} ")))
        .unwrap_or_else(|| panic!("no line for member {member}: {text}"));
    assert!(
        member_line.ends_with(" assigned=(not reported by the broker)"),
        "Nisshi 0.8.1 reports no member assignment; did the broker change? {member_line}"
    );
    for partition in 0..3 {
        assert_eq!(
            row(&text, partition)[5..],
            ["-"],
            "partition {partition}'s owner, unknown to the broker: {text}"
        );
    }
    let out = group_command(
        b,
        data.path(),
        &["reset-offsets", "--to-latest", "--execute"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 member(s)") && err.contains("stop every consumer"),
        "{err}"
    );
    assert_eq!(committed(b).await, [(0, 3), (1, 0)]);
}
