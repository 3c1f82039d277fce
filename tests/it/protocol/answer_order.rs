//! An answer whose correlation id was damaged in flight into the next request's: the
//! connection is lost and both requests fail (to be sent again), rather than the next request
//! being settled with the other's answer (src/kafka/protocol/connection/answer_order.rs).
use std::{
    sync::{Arc, atomic::Ordering::Relaxed},
    time::{Duration, Instant},
};

use testkit::proxy::{Faults, broker_behind};
use usercenter::kafka::protocol::{CallError, CoordinatorType, FindCoordinator};
use usercenter::kafka::{Client, Purpose};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_numbered_as_the_next_request_loses_the_connection() {
    let faults = Arc::new(Faults::default());
    faults.api_key.store(-1, Relaxed);
    let (broker, _proxy) = broker_behind(Arc::clone(&faults), 21).await;
    let mut settings = usercenter::config::KafkaConfig::default()
        .connect_settings()
        .unwrap();
    settings.request_timeout = Duration::from_secs(10);
    let cluster = Arc::new(Client::new(vec![broker.addr.clone()], settings));
    let find = |key: &str| FindCoordinator {
        key: key.into(),
        key_type: CoordinatorType::Group,
    };
    let (first, second) = (find("first"), find("second"));
    let conn = cluster
        .connection(&broker.addr, Purpose::Admin)
        .await
        .unwrap();
    conn.call(&first).await.unwrap();

    faults.misnumber_response_ppm.store(1_000_000, Relaxed);
    faults.enabled.store(true, Relaxed);
    let started = Instant::now();
    let (a, b) = tokio::join!(conn.call(&first), conn.call(&second));
    assert!(faults.corrupted.load(Relaxed) > 0, "nothing misnumbered");
    // Without the check, `second` took `first`'s answer, and `first` waited out its timeout.
    for (name, answer) in [("first", a), ("second", b)] {
        let error = match answer {
            Ok(_) => panic!("{name} settled by an answer numbered for it"),
            Err(e) => e,
        };
        assert!(error.is_connection_lost(), "{name}: {error:?}");
        assert!(
            !matches!(error, CallError::Timeout { .. }),
            "{name} waited for its answer: {error:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(conn.is_closed());
    faults.enabled.store(false, Relaxed);
    let next = cluster
        .connection(&broker.addr, Purpose::Admin)
        .await
        .unwrap();
    next.call(&second).await.unwrap();
}
