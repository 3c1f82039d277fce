//! Three service instances on one private PostgreSQL and one broker (static
//! `--instance I --instances 3`): any instance serves any request, a username is unique across
//! them, and every outbox row reaches the topic once, relayed by the lease holder only.

use std::{collections::HashSet, time::Duration};

use testkit::{Broker, client, config, eventually, postgres::Postgres, read_partition, register};
use usercenter::config::StoreBackend;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_share_one_database_and_publish_each_row_once() {
    let pg = Postgres::start().await;
    let url = pg.database().await;
    let broker = Broker::memory().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut services = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let mut cfg = config(&broker.addr, dir.path());
        cfg.topics.partitions = 2;
        cfg.store.backend = StoreBackend::Postgres;
        cfg.store.url = url.clone();
        cfg.store.pool_size = 4;
        cfg.consumer.instance = i as u32;
        cfg.consumer.instances = 3;
        // The three share this process's hashing pool, and its per-client share with it:
        // 36 registrations from one address at once are more than a quarter of its places.
        cfg.auth.max_pending_hashes_per_client = 128;
        services.push(usercenter::service::start(cfg).await.unwrap());
    }
    for s in &services {
        eventually(Duration::from_secs(30), "Kafka", || s.kafka_ready()).await;
    }
    let addrs: Vec<_> = services.iter().map(|s| s.local_addr()).collect();

    // 30 registrations spread over the three instances, all at once.
    let mut tasks = Vec::new();
    for n in 0..30 {
        let addr = addrs[n % 3];
        tasks.push(tokio::spawn(async move {
            register(addr, &format!("user{n}"), "correct horse").await.0
        }));
    }
    // One name asked for through every instance at the same time: exactly one wins.
    let mut same = Vec::new();
    for addr in addrs.iter().copied().cycle().take(6) {
        same.push(tokio::spawn(async move {
            register(addr, "grace", "correct horse").await.0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    let mut statuses = Vec::new();
    for t in same {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );

    // The relay lease holder publishes everything; nothing stays behind.
    let (sql, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    drained(&sql).await;
    // Two instances go away (whichever held the lease): the last one relays what follows.
    let last = services.pop().unwrap();
    for s in services.drain(..) {
        s.stop().await;
    }
    for n in 30..40 {
        let (status, body) =
            register(last.local_addr(), &format!("user{n}"), "correct horse").await;
        assert_eq!(status, 201, "{body}");
    }
    drained(&sql).await;
    let kafka = client(&broker.addr).await;
    let mut ids = HashSet::new();
    let mut registered = 0;
    for partition in 0..2 {
        for r in read_partition(&kafka, "user.events", partition).await {
            let headers = &r.record.headers;
            let id = headers.get("ce_id").expect("ce_id").clone();
            assert!(ids.insert(id), "a record published twice");
            if headers.get("ce_type").map(Vec::as_slice) == Some(&b"user.registered"[..]) {
                registered += 1;
            }
        }
    }
    assert_eq!(registered, 41, "every 201 has its user.registered, once");
    last.stop().await;
}

/// Waits until the outbox is empty (the relay lease holder published everything).
async fn drained(sql: &tokio_postgres::Client) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let left: i64 = sql
            .query_one("SELECT count(*) FROM outbox", &[])
            .await
            .unwrap()
            .get(0);
        if left == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{left} outbox rows left"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
