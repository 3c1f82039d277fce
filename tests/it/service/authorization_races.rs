//! Authorization decided inside the write (issue 15, point 3), over HTTP against the running
//! service: concurrent password changes with the same old password give exactly one 200, and
//! an admin disabling an account while its password change is in flight either lands after the
//! change (which is then first on the topic) or stops it (401/422, no `user.password_changed`).

use std::time::Duration;

use serde_json::json;
use testkit::{Broker, api, config, eventually, login, register};

const PARTITIONS: i32 = 3;

/// `(ce_type, offset)` of every event of `user` on `user.events`, in topic order.
async fn events_of(client: &rskafka::client::Client, user: &str) -> Vec<String> {
    let mut out = Vec::new();
    for p in 0..PARTITIONS {
        for r in testkit::read_partition(client, "user.events", p).await {
            let h = |n: &str| r.record.headers.get(n).cloned().unwrap_or_default();
            if h("ce_subject") == user.as_bytes() {
                out.push((r.offset, String::from_utf8(h("ce_type")).unwrap()));
            }
        }
    }
    out.sort();
    out.into_iter().map(|(_, t)| t).collect()
}

async fn change_password(
    addr: std::net::SocketAddr,
    id: &str,
    token: &str,
    old: &str,
    new: &str,
) -> u16 {
    let body = json!({"old_password": old, "new_password": new});
    let path = format!("/api/v1/users/{id}/password");
    api(addr, "PUT", &path, Some(token), Some(body)).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_password_changes_and_a_disable_mid_request() {
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let service = usercenter::service::start(usercenter::config::Config {
        topics: usercenter::config::TopicsConfig {
            partitions: PARTITIONS,
            ..Default::default()
        },
        auth: usercenter::config::AuthConfig {
            admin_username: Some("root".into()),
            admin_email: Some("root@example.com".into()),
            admin_password: Some("admin password".into()),
            ..Default::default()
        },
        ..config(&broker.addr, data.path())
    })
    .await
    .unwrap();
    eventually(Duration::from_secs(30), "Kafka", || service.kafka_ready()).await;
    let addr = service.local_addr();

    // 1. Five concurrent changes from one session, all with the right old password.
    let (status, body) = register(addr, "racer", "old password").await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let id = body["user"]["id"].as_str().unwrap().to_owned();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..5 {
        let (id, token) = (id.clone(), token.clone());
        tasks.spawn(async move {
            let new = format!("new password {i}");
            (
                i,
                change_password(addr, &id, &token, "old password", &new).await,
            )
        });
    }
    let mut statuses = Vec::new();
    while let Some(r) = tasks.join_next().await {
        statuses.push(r.unwrap());
    }
    statuses.sort();
    let winners: Vec<usize> = statuses
        .iter()
        .filter(|(_, s)| *s == 200)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one 200: {statuses:?}");
    assert!(
        statuses.iter().all(|(_, s)| matches!(s, 200 | 422)),
        "the others are told the old password no longer matches: {statuses:?}"
    );
    // Losers' passwords first (4 failures stay under the per-source limit of 5).
    let mut works = Vec::new();
    for i in (0..5)
        .filter(|i| *i != winners[0])
        .chain(winners.iter().copied())
    {
        let creds = json!({"username": "racer", "password": format!("new password {i}")});
        if login(addr, creds).await.0 == 200 {
            works.push(i);
        }
    }
    assert_eq!(works, winners, "only the winner's new password works");
    let (status, _) = login(
        addr,
        json!({"username": "racer", "password": "old password"}),
    )
    .await;
    assert_eq!(status, 401, "the old password is gone");

    // 2. A disable by an admin while the user's own password change is in flight (it spends
    //    two argon2 computations, tens of milliseconds, before its write).
    let (status, body) = login(
        addr,
        json!({"username": "root", "password": "admin password"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let admin = body["token"].as_str().unwrap().to_owned();
    let mut users = Vec::new();
    for n in 0..6 {
        let (status, body) = register(addr, &format!("victim{n}"), "old password").await;
        assert_eq!(status, 201, "{body}");
        users.push((
            body["user"]["id"].as_str().unwrap().to_owned(),
            body["token"].as_str().unwrap().to_owned(),
        ));
    }
    let mut outcomes = Vec::new();
    for (n, (id, token)) in users.iter().enumerate() {
        let change = {
            let (id, token) = (id.clone(), token.clone());
            tokio::spawn(async move {
                change_password(addr, &id, &token, "old password", "new password").await
            })
        };
        // Later for each user, so some disables land before the change's write and some after.
        tokio::time::sleep(Duration::from_millis(2 + 8 * n as u64)).await;
        let path = format!("/api/v1/users/{id}/status");
        let (status, _) = api(
            addr,
            "PUT",
            &path,
            Some(&admin),
            Some(json!({"status": "disabled"})),
        )
        .await;
        assert_eq!(status, 200);
        let changed = change.await.unwrap();
        assert!(
            matches!(changed, 200 | 401 | 422),
            "user {n}: the change answered {changed}"
        );
        outcomes.push((id.clone(), changed));
    }
    assert!(
        outcomes.iter().any(|(_, s)| *s != 200),
        "at least one disable landed mid-request: {outcomes:?}"
    );

    // The topic: no password change after the status change, and none for a refused change.
    let client = testkit::client(&broker.addr).await;
    for (id, changed) in &outcomes {
        let mut events = Vec::new();
        for _ in 0..300 {
            events = events_of(&client, id).await;
            if events.iter().any(|t| t == "user.status_changed") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let status_at = events.iter().position(|t| t == "user.status_changed");
        let password_at = events.iter().position(|t| t == "user.password_changed");
        assert!(
            status_at.is_some(),
            "{id}: no user.status_changed: {events:?}"
        );
        match changed {
            200 => assert!(
                password_at.is_some() && password_at < status_at,
                "{id}: the change was answered 200, so it precedes the disable: {events:?}"
            ),
            _ => assert_eq!(
                password_at, None,
                "{id}: refused, yet published: {events:?}"
            ),
        }
    }
    let racer = events_of(&client, &id).await;
    assert_eq!(
        racer
            .iter()
            .filter(|t| *t == "user.password_changed")
            .count(),
        1,
        "one password change published for the five concurrent ones: {racer:?}"
    );
    service.stop().await;
}
