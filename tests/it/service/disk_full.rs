//! The embedded store's file fails with an I/O error while the service runs (a file-size
//! limit here, as a full disk gives ENOSPC): redb refuses every later write of that handle, so
//! `GET /health` answers 503 `store_failed` and the service says it must stop (`service::run`
//! then returns, and the binary exits with status 1 for its supervisor to start it again).
//! The limit is the process's: this runs only where each test has a process of its own
//! (nextest, which CI uses); the broker, started before the limit, is another process.
use std::time::Duration;

use testkit::{
    Broker,
    file_limit::{limit_file_size, require_own_process},
    register,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_file_that_fails_makes_the_service_unhealthy_and_stop() {
    require_own_process();
    let broker = Broker::memory().await;
    let data = tempfile::tempdir().unwrap();
    let (service, _) = testkit::start_service(&broker.addr, data.path(), |_| {}).await;
    let addr = service.local_addr();
    let file = data.path().join("usercenter.redb");
    let size = std::fs::metadata(&file).unwrap().len();
    limit_file_size(size + (256 << 10));
    let mut refused = None;
    for n in 0..3_000 {
        let (status, body) = register(addr, &format!("user{n:05}"), "correct horse").await;
        if status != 201 {
            refused = Some((n, status, body));
            break;
        }
    }
    limit_file_size(u64::MAX);
    let (n, status, body) = refused.expect("every registration was written past the limit");
    assert_eq!(status, 503, "registration {n}: {body}");
    let (health, body) = testkit::api(addr, "GET", "/health", None, None).await;
    assert_eq!(health, 503, "{body}");
    assert_eq!(body["error"]["code"], "store_failed", "{body}");
    let why = tokio::time::timeout(Duration::from_secs(5), service.store_failed())
        .await
        .expect("the service says its store failed");
    println!(
        "a store file that fails: registration {n} refused ({} bytes of file before the limit); {why}",
        size
    );
    service.stop().await;
}
