//! Kafka down, 1,000 registrations answered 2xx, the service SIGKILLed, restarted, the broker
//! back: every event arrives and every welcome notification exists exactly once.

use std::{collections::HashMap, net::SocketAddr, process::Command};

use testkit::{Broker, unhex, whole_log};

const USERS: usize = 1_000;

/// How many records of type `ce_type` each subject has among `records`.
fn per_subject(records: &[serde_json::Value], ce_type: &[u8]) -> HashMap<Vec<u8>, usize> {
    let mut counts: HashMap<Vec<u8>, usize> = HashMap::new();
    for r in records {
        if unhex(r["headers"]["ce_type"].as_str().unwrap_or("")) == ce_type {
            *counts
                .entry(unhex(r["headers"]["ce_subject"].as_str().unwrap()))
                .or_default() += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_during_an_outage_and_a_sigkill_are_all_published_once() {
    let mut broker = Broker::memory().await;
    broker.stop();
    let data = tempfile::tempdir().unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], testkit::free_port()).into();
    let mut first = testkit::serve_process(&broker.addr, addr, data.path(), "error");
    first.wait_until_answers(addr, "/health").await;

    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..4 {
        tasks.spawn(async move {
            let mut ok = 0;
            for i in (worker..USERS).step_by(4) {
                let (status, resp) =
                    testkit::register(addr, &format!("user{i}"), "correct horse").await;
                assert_eq!(status, 201, "registration {i} during the outage: {resp}");
                ok += 1;
            }
            ok
        });
    }
    let mut registered = 0;
    while let Some(ok) = tasks.join_next().await {
        registered += ok.unwrap();
    }
    assert_eq!(registered, USERS);

    first.kill().unwrap(); // SIGKILL with everything still in the outbox
    first.wait().unwrap();
    let mut second = testkit::serve_process(&broker.addr, addr, data.path(), "error");
    broker.restart().await;

    let events = whole_log(&broker.addr, "user.events", USERS);
    let registrations = per_subject(&events, b"user.registered");
    assert_eq!(
        registrations.len(),
        USERS,
        "every user.registered event arrived"
    );
    assert!(
        registrations.values().all(|n| *n == 1),
        "each user.registered published once"
    );

    let notes = whole_log(&broker.addr, "user.notifications", USERS);
    let welcomes = per_subject(&notes, b"user.notification.welcome");
    assert_eq!(welcomes.len(), USERS, "a welcome for every user");
    assert!(
        welcomes.values().all(|n| *n == 1),
        "each welcome exactly once"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .expect("kill(1) runs (procps)");
    assert!(killed.success(), "kill -TERM: {killed}");
    assert!(second.wait().unwrap().success());
}
