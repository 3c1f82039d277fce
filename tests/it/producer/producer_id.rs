//! The producer id at start: InitProducerId whose answers are lost (the connection closes
//! instead) is asked again until one comes, rather than the process writing without
//! idempotence until it restarts.
use std::{
    sync::{Arc, atomic::Ordering::Relaxed},
    time::Duration,
};

use testkit::{
    eventually,
    protocol::kafka_client,
    proxy::{Faults, broker_behind},
};
use usercenter::producer::{BrokerTransport, ProducerConfig};

/// InitProducerId's api key.
const INIT_PRODUCER_ID: i32 = 22;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_id_whose_answers_are_lost_is_asked_for_again() {
    let faults = Arc::new(Faults::default());
    faults.api_key.store(INIT_PRODUCER_ID, Relaxed);
    faults.drop_response_ppm.store(1_000_000, Relaxed);
    faults.enabled.store(true, Relaxed);
    let (broker, _proxy) = broker_behind(Arc::clone(&faults), 11).await;
    // Two answers lost, then the proxy lets them through.
    let heal = {
        let faults = Arc::clone(&faults);
        tokio::spawn(async move {
            eventually(Duration::from_secs(30), "two answers dropped", || {
                faults.dropped.load(Relaxed) >= 2
            })
            .await;
            faults.enabled.store(false, Relaxed);
        })
    };
    let config = ProducerConfig {
        enable_idempotence: true,
        ..ProducerConfig::default()
    };
    let transport = BrokerTransport::connect(kafka_client(&broker.addr), &config).await;
    heal.await.unwrap();
    let identity = transport.identity();
    assert!(
        !identity.is_none(),
        "no producer id after {} answers lost",
        faults.dropped.load(Relaxed)
    );
}
