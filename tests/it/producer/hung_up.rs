//! A broker hangs up a connection idle past its `connections.max.idle.ms` (10 minutes by
//! default): a quiet service's Produce connection between two registrations. The next record
//! goes out on a new connection at its first try.
use std::{
    sync::{Arc, atomic::Ordering::Relaxed},
    time::Duration,
};

use testkit::{
    client, create_topic, eventually,
    protocol::kafka_client,
    proxy::{Faults, broker_behind},
    read_partition, record,
};
use usercenter::{
    kafka::Purpose,
    producer::{BrokerTransport, Producer, ProducerConfig},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_after_the_broker_hung_up_goes_out_at_its_first_try() {
    let faults = Arc::new(Faults::default());
    let (broker, _proxy) = broker_behind(Arc::clone(&faults), 5).await;
    create_topic(&*client(&broker.addr).await, "quiet", 1).await;
    let cluster = kafka_client(&broker.addr);
    let config = ProducerConfig {
        enable_idempotence: true,
        ..ProducerConfig::default()
    };
    let transport = BrokerTransport::connect(Arc::clone(&cluster), &config).await;
    let producer = Producer::new(Arc::new(transport), config);
    let produce_connections = || {
        (cluster.open_connections().iter())
            .filter(|(_, purpose)| *purpose == Purpose::Produce)
            .count()
    };

    let value = |n: u8| vec![n; 16];
    producer
        .send(record("quiet", None, value(1)))
        .await
        .unwrap();
    assert_eq!(produce_connections(), 1);
    let before = faults.connections.load(Relaxed);
    faults.hang_up();
    eventually(Duration::from_secs(5), "the hang-up noticed", || {
        produce_connections() == 0
    })
    .await;

    let delivered = producer
        .send(record("quiet", None, value(2)))
        .await
        .unwrap();
    assert_eq!(delivered.offset, 1);
    assert_eq!(
        producer.metrics().retries.get(),
        0,
        "a request failed on the hung-up connection and was sent again"
    );
    assert_eq!(produce_connections(), 1);
    assert!(
        faults.connections.load(Relaxed) > before,
        "no new connection"
    );
    let log = read_partition(&*client(&broker.addr).await, "quiet", 0).await;
    assert_eq!(log.len(), 2, "each record once");
}
