//! A user's whole life over HTTP, then librdkafka reads what the service published.

use std::{collections::HashMap, time::Duration};

use serde_json::json;
use testkit::{Broker, api, config, eventually, login, register, unhex, whole_log};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_journey_reaches_kafka_in_order_with_each_notification_once() {
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(&broker.addr, data.path());
    cfg.topics.partitions = 2;
    cfg.auth.admin_username = Some("root".into());
    cfg.auth.admin_email = Some("root@example.com".into());
    cfg.auth.admin_password = Some("admin password".into());
    let service = usercenter::service::start(cfg).await.unwrap();
    eventually(Duration::from_secs(30), "Kafka", || service.kafka_ready()).await;
    let addr = service.local_addr();

    let (status, body) = register(addr, "ada", "correct horse").await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let id = body["user"]["id"].as_str().unwrap().to_owned();

    let ada = json!({"username": "ada", "password": "correct horse"});
    let (status, body) = login(addr, ada.clone()).await;
    assert_eq!(status, 200);
    // A logout ends that session, not the registration's; it writes no event.
    let second = body["token"].as_str().unwrap().to_owned();
    let logout = "/api/v1/users/logout";
    let (status, _) = api(addr, "POST", logout, Some(&second), None).await;
    assert_eq!(status, 204);
    let (status, _) = api(addr, "GET", "/api/v1/users/me", Some(&second), None).await;
    assert_eq!(status, 401, "the token a logout ended");
    let (status, _) = api(addr, "POST", logout, Some(&second), None).await;
    assert_eq!(status, 401, "a second logout with it");
    for _ in 0..5 {
        let wrong = json!({"email": "ada@example.com", "password": "wrong horse"});
        let (status, body) = login(addr, wrong).await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, body) = login(addr, ada).await;
    assert_eq!(
        status, 401,
        "throttled after five failures, like a wrong password: {body}"
    );

    let (status, me) = api(addr, "GET", "/api/v1/users/me", Some(&token), None).await;
    assert_eq!((status, me["username"].as_str()), (200, Some("ada")));
    let (status, body) = api(
        addr,
        "PATCH",
        &format!("/api/v1/users/{id}"),
        Some(&token),
        Some(json!({"nickname": "Ada L."})),
    )
    .await;
    assert_eq!((status, body["nickname"].as_str()), (200, Some("Ada L.")));
    let (status, _) = api(
        addr,
        "PUT",
        &format!("/api/v1/users/{id}/password"),
        Some(&token),
        Some(json!({
            "old_password": "correct horse", "new_password": "battery staple"
        })),
    )
    .await;
    assert_eq!(status, 200);

    let root = json!({"username": "root", "password": "admin password"});
    let (status, body) = login(addr, root).await;
    assert_eq!(status, 200, "{body}");
    let admin = body["token"].as_str().unwrap().to_owned();
    let (status, _) = api(
        addr,
        "PUT",
        &format!("/api/v1/users/{id}/status"),
        Some(&token),
        Some(json!({"status": "locked"})),
    )
    .await;
    assert_eq!(status, 403, "only admins change statuses");
    let (status, body) = api(
        addr,
        "PUT",
        &format!("/api/v1/users/{id}/status"),
        Some(&admin),
        Some(json!({"status": "disabled"})),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("disabled")));
    let (status, _) = api(addr, "GET", "/api/v1/users/me", Some(&token), None).await;
    assert_eq!(status, 401, "disabling revoked the session");
    let (status, _) = api(
        addr,
        "DELETE",
        &format!("/api/v1/users/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 204);

    // user.events, as librdkafka reads them: this user's events in order, with the request id.
    // Root's two events and this user's eleven, and nothing after them.
    let records = whole_log(&broker.addr, "user.events", 13);
    assert_eq!(records.len(), 13, "a record past the expected ones");
    let mut mine: Vec<(i64, i64, String, String)> = records
        .iter()
        .filter(|r| unhex(r["headers"]["ce_subject"].as_str().unwrap_or("")) == id.as_bytes())
        .map(|r| {
            let h =
                |n: &str| String::from_utf8(unhex(r["headers"][n].as_str().unwrap_or(""))).unwrap();
            (
                r["partition"].as_i64().unwrap(),
                r["offset"].as_i64().unwrap(),
                h("ce_type"),
                h("ce_requestid"),
            )
        })
        .collect();
    mine.sort();
    assert!(
        mine.iter().all(|(p, ..)| *p == mine[0].0),
        "one partition per user"
    );
    let types: Vec<&str> = mine.iter().map(|(_, _, t, _)| t.as_str()).collect();
    let mut expected = vec!["user.registered", "user.logged_in"];
    expected.extend(["user.logged_in"; 5]);
    expected.extend([
        "user.updated",
        "user.password_changed",
        "user.status_changed",
        "user.deleted",
    ]);
    assert_eq!(types, expected);
    assert!(mine.iter().all(|(.., rid)| rid == "journey-req"));

    // user.notifications: each of this user's notifications exactly once.
    let metrics = service.consumer_metrics().unwrap();
    eventually(Duration::from_secs(60), "every event handled", || {
        metrics.handled.get() >= 13
    })
    .await;
    // Root's welcome and this user's five, and nothing after them.
    let records = whole_log(&broker.addr, "user.notifications", 6);
    assert_eq!(records.len(), 6, "a notification past the expected ones");
    let mut counts: HashMap<String, usize> = HashMap::new();
    for r in &records {
        if unhex(r["headers"]["ce_subject"].as_str().unwrap_or("")) == id.as_bytes() {
            let t = String::from_utf8(unhex(r["headers"]["ce_type"].as_str().unwrap())).unwrap();
            *counts.entry(t).or_default() += 1;
        }
    }
    let expected: HashMap<String, usize> = [
        "user.notification.welcome",
        "user.notification.security_alert",
        "user.notification.password_changed",
        "user.notification.status_changed",
        "user.notification.account_deleted",
    ]
    .into_iter()
    .map(|t| (t.to_owned(), 1))
    .collect();
    assert_eq!(counts, expected);
    service.stop().await;
}
