//! The protocol layer (src/kafka/protocol) against a real Nisshi broker: our own connections
//! (plaintext, TLS + SCRAM), InitProducerId, the group requests, and a resent batch.

use std::sync::Arc;

use bytes::Bytes;
use rskafka::client::partition::Compression;
use testkit::protocol::{kafka_client, logged, record};
use testkit::{Broker, client, create_topic};
use usercenter::kafka::error_code::{ErrorCode, ResponseError};
use usercenter::kafka::protocol::{
    CommittedOffset, CoordinatorType, DescribeGroups, FindCoordinator, Heartbeat, JoinGroup,
    LeaveGroup, ListGroups, OffsetCommit, OffsetFetch, SyncGroup,
};
use usercenter::kafka::{Client, Purpose};
use usercenter::producer::{ProducerSession, produce_request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_producer_id_and_renewal() {
    let broker = Broker::memory().await;
    let cluster = kafka_client(&broker.addr);
    let a = ProducerSession::start(Arc::clone(&cluster)).await.unwrap();
    let b = ProducerSession::start(Arc::clone(&cluster)).await.unwrap();
    let first = a.identity();
    assert!(first.id >= 0 && first.epoch >= 0, "{first:?}");
    assert_ne!(
        first.id,
        b.identity().id,
        "each InitProducerId hands out a new id"
    );

    let renewed = a.renew(first).await.unwrap();
    assert_ne!(renewed, first);
    println!("renewal: {first:?} -> {renewed:?}");
    // A second writer that saw the same identity fail gets the same renewal, not another.
    assert_eq!(a.renew(first).await.unwrap(), renewed);
    assert_eq!(a.identity(), renewed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_requests_get_sane_answers() {
    let broker = Broker::memory().await;
    create_topic(&*client(&broker.addr).await, "grp", 2).await;
    let cluster = kafka_client(&broker.addr);
    let conn = cluster.any(Purpose::Admin).await.unwrap();
    let group = "proto-group";

    let found = conn
        .call(&FindCoordinator {
            key: group.into(),
            key_type: CoordinatorType::Group,
        })
        .await
        .unwrap();
    let coordinator = FindCoordinator::found(&found.body, found.version).unwrap();
    assert_eq!(
        (coordinator.error_code, coordinator.addr.as_str()),
        (ErrorCode::NONE, broker.addr.as_str())
    );
    let conn = cluster
        .connection(&coordinator.addr, Purpose::Group)
        .await
        .unwrap();

    let mut join = JoinGroup {
        group_id: group.into(),
        session_timeout_ms: 30_000,
        rebalance_timeout_ms: 30_000,
        member_id: String::new(),
        group_instance_id: None,
        protocol_type: "consumer".into(),
        protocols: vec![(
            "range".into(),
            Bytes::from_static(b"\0\0\0\0\0\x01\0\x03grp\0\0\0\0"),
        )],
        reason: None,
    };
    let mut joined = conn.call(&join).await.unwrap();
    if ErrorCode::new(joined.body.error_code).error() == Some(ResponseError::MemberIdRequired) {
        // v4 and later: join again with the id the coordinator chose.
        join.member_id = joined.body.member_id.to_string();
        joined = conn.call(&join).await.unwrap();
    }
    assert_eq!(joined.body.error_code, 0, "join v{}", joined.version);
    let member = joined.body.member_id.to_string();
    let generation = joined.body.generation_id;
    assert!(generation >= 1);
    assert_eq!(joined.body.leader.as_str(), member, "the only member leads");

    let synced = conn
        .call(&SyncGroup {
            group_id: group.into(),
            generation_id: generation,
            member_id: member.clone(),
            group_instance_id: None,
            protocol_type: Some("consumer".into()),
            protocol_name: joined.body.protocol_name.as_ref().map(|p| p.to_string()),
            assignments: vec![(member.clone(), Bytes::from_static(b"assignment"))],
        })
        .await
        .unwrap();
    assert_eq!(synced.body.error_code, 0);
    assert_eq!(&synced.body.assignment[..], b"assignment");

    let heartbeat = Heartbeat {
        group_id: group.into(),
        generation_id: generation,
        member_id: member.clone(),
        group_instance_id: None,
    };
    assert_eq!(conn.call(&heartbeat).await.unwrap().body.error_code, 0);

    let offsets = |partition, offset| CommittedOffset {
        topic: "grp".into(),
        partition,
        offset,
        metadata: None,
        error_code: ErrorCode::NONE,
    };
    let committed = conn
        .call(&OffsetCommit {
            group_id: group.into(),
            generation_id: generation,
            member_id: member.clone(),
            group_instance_id: None,
            offsets: vec![offsets(0, 17), offsets(1, 4)],
        })
        .await
        .unwrap();
    assert!(committed.version >= 2);
    let codes: Vec<i16> = committed.body.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(codes, [0, 0], "commit v{}", committed.version);

    let fetched = conn
        .call(&OffsetFetch {
            group_id: group.into(),
            topics: Some(vec![("grp".into(), vec![0, 1])]),
            require_stable: false,
        })
        .await
        .unwrap();
    let mut got: Vec<(i32, i64)> = OffsetFetch::offsets(&fetched.body, fetched.version)
        .unwrap()
        .iter()
        .map(|o| (o.partition, o.offset))
        .collect();
    got.sort();
    assert_eq!(got, [(0, 17), (1, 4)], "fetch v{}", fetched.version);

    let described = conn
        .call(&DescribeGroups {
            groups: vec![group.into()],
        })
        .await
        .unwrap();
    let g = &described.body.groups[0];
    assert_eq!((g.error_code, g.group_id.0.as_str()), (0, group));
    assert_eq!(g.members.len(), 1);
    assert_eq!(g.members[0].member_id.as_str(), member);

    let listed = conn.call(&ListGroups::default()).await.unwrap();
    assert_eq!(listed.body.error_code, 0);
    assert!(
        listed
            .body
            .groups
            .iter()
            .any(|l| l.group_id.0.as_str() == group)
    );

    let left = conn
        .call(&LeaveGroup {
            group_id: group.into(),
            member_id: member.clone(),
            group_instance_id: None,
            reason: Some("test over".into()),
        })
        .await
        .unwrap();
    assert_eq!(left.body.error_code, 0);
    // A member that left is unknown (25) or its generation is gone (22, 27).
    let after = conn.call(&heartbeat).await.unwrap().body.error_code;
    assert!(
        [22, 25, 27].contains(&after),
        "heartbeat after leaving: {after}"
    );
    println!(
        "versions: join {} sync {} commit {} fetch {} describe {} list {} leave {}",
        joined.version,
        synced.version,
        committed.version,
        fetched.version,
        described.version,
        listed.version,
        left.version
    );
}

/// The same batch sent twice with the same sequence is written once. Memory storage answers
/// the resend with success and the original offset, sqlite with DUPLICATE_SEQUENCE_NUMBER.
async fn resend_is_not_duplicated(broker: &Broker) -> (ErrorCode, i64, i64) {
    create_topic(&*client(&broker.addr).await, "resend", 1).await;
    let cluster = kafka_client(&broker.addr);
    let session = ProducerSession::start(Arc::clone(&cluster)).await.unwrap();
    let leader = cluster.leader("resend", 0, Purpose::Produce).await.unwrap();
    let batch = |first| {
        let records: Vec<_> = (first..first + 10).map(record).collect();
        produce_request(
            "resend",
            0,
            &records,
            Compression::NoCompression,
            session.identity(),
            first as i32,
            5_000,
        )
        .unwrap()
    };
    let send = |request: usize| {
        let (leader, call) = (Arc::clone(&leader), batch(request));
        async move {
            let answer = leader.call(&call).await.unwrap();
            call.answer(&answer.body).unwrap()
        }
    };
    let (code, offset) = send(0).await;
    assert_eq!(code, ErrorCode::NONE);
    let (resent_code, resent_offset) = send(0).await;
    // The next sequence still follows on.
    assert_eq!(send(10).await, (ErrorCode::NONE, offset + 10));
    let got = logged(broker, "resend").await;
    assert_eq!(got, (0..20).collect::<Vec<_>>(), "written once");
    (resent_code, resent_offset, offset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_is_not_duplicated_memory() {
    let (code, offset, original) = resend_is_not_duplicated(&Broker::memory().await).await;
    assert_eq!(
        (code, offset),
        (ErrorCode::NONE, original),
        "memory: success with the original offset"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_is_not_duplicated_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, _) =
        resend_is_not_duplicated(&Broker::sqlite(&dir.path().join("k.db")).await).await;
    assert_eq!(
        code,
        ErrorCode::of(ResponseError::DuplicateSequenceNumber),
        "sqlite: {code}"
    );
}

/// A connection to `addr` through a client with `config`'s settings.
async fn connect(
    addr: &str,
    config: &usercenter::config::KafkaConfig,
) -> Result<
    Arc<usercenter::kafka::protocol::Connection>,
    Arc<usercenter::kafka::protocol::ConnectError>,
> {
    let client = Client::new(vec![addr.to_owned()], config.connect_settings().unwrap());
    client.connection(addr, Purpose::Admin).await
}

/// Our own connections with the service's TLS settings (CA file) and SCRAM: InitProducerId
/// over SASL_SSL works; a wrong password and plain TCP do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_use_the_services_tls_and_sasl() {
    use usercenter::{
        config::{KafkaConfig, SaslMechanism, SecurityProtocol},
        kafka::protocol::{ConnectError, InitProducerId},
    };
    let certs = tempfile::tempdir().unwrap();
    testkit::certs::write(certs.path()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut broker = Broker::sqlite(&state.path().join("broker.db")).await;
    let made = std::process::Command::new(testkit::nisshi_bin())
        .args([
            "user",
            "create",
            "--broker",
            &format!("tcp://{}", broker.addr),
        ])
        .args(["--mechanism", "scram512", "carol", "carol-secret"])
        .status()
        .unwrap();
    assert!(made.success());
    let carol = KafkaConfig {
        security_protocol: SecurityProtocol::SaslSsl,
        tls_ca_file: Some(certs.path().join("ca.pem")),
        sasl_mechanism: Some(SaslMechanism::ScramSha512),
        sasl_username: Some("carol".into()),
        sasl_password: Some("carol-secret".into()),
        connect_timeout_secs: 5,
        ..KafkaConfig::default()
    };
    let pem = |f: &str| certs.path().join(f).display().to_string();
    let (cert, key) = (pem("broker.pem"), pem("broker.key"));
    let args = [
        "--cert",
        cert.as_str(),
        "--key",
        key.as_str(),
        "--authentication",
    ];
    broker.restart_with(&args, carol.clone()).await;

    let addr = broker.addr.as_str();
    let conn = connect(addr, &carol).await.unwrap();
    let answer = conn.call(&InitProducerId::default()).await.unwrap();
    assert!(InitProducerId::identity(&answer.body).is_ok());

    let wrong = KafkaConfig {
        sasl_password: Some("nope".into()),
        ..carol.clone()
    };
    let err = connect(addr, &wrong).await.unwrap_err();
    assert!(matches!(&*err, ConnectError::Sasl { .. }), "{err:?}");

    let plain = KafkaConfig {
        connect_timeout_secs: 3,
        ..KafkaConfig::default()
    };
    assert!(connect(addr, &plain).await.is_err());
}

/// Requests that find no connection to their broker at once (the partitions of a producer
/// after a broker restart) share one connect: one connection reaches the broker, and every
/// request gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_for_one_broker_at_once_open_one_connection() {
    use std::sync::atomic::Ordering::Relaxed;
    use testkit::proxy::{Faults, broker_behind};
    let faults = Arc::new(Faults::default());
    let (broker, _proxy) = broker_behind(Arc::clone(&faults), 1).await;
    let before = faults.connections.load(Relaxed);
    let settings = usercenter::config::KafkaConfig::default()
        .connect_settings()
        .unwrap();
    let cluster = Arc::new(Client::new(vec![broker.addr.clone()], settings));
    let waits: Vec<_> = (0..20)
        .map(|_| {
            let (cluster, addr) = (Arc::clone(&cluster), broker.addr.clone());
            tokio::spawn(async move { cluster.connection(&addr, Purpose::Produce).await })
        })
        .collect();
    let mut connections = Vec::new();
    for wait in waits {
        connections.push(wait.await.unwrap().unwrap());
    }
    assert!(connections.iter().all(|c| Arc::ptr_eq(c, &connections[0])));
    assert_eq!(
        faults.connections.load(Relaxed) - before,
        1,
        "connections opened"
    );
    assert_eq!(cluster.open_connections().len(), 1);
}

/// A connection the broker hung up (as one idle past `connections.max.idle.ms`) is not handed
/// out again: the next request for its broker and purpose connects anew and is answered, where
/// it would have failed on the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_broker_hung_up_is_replaced_before_a_request_fails_on_it() {
    use std::{sync::atomic::Ordering::Relaxed, time::Duration};
    use testkit::proxy::{Faults, broker_behind};
    let faults = Arc::new(Faults::default());
    let (broker, _proxy) = broker_behind(Arc::clone(&faults), 3).await;
    let cluster = kafka_client(&broker.addr);
    let find = FindCoordinator {
        key: "hung-up".into(),
        key_type: CoordinatorType::Group,
    };
    let first = cluster
        .connection(&broker.addr, Purpose::Admin)
        .await
        .unwrap();
    first.call(&find).await.unwrap();
    assert!(!first.is_closed());
    let before = faults.connections.load(Relaxed);

    faults.hang_up();
    testkit::eventually(Duration::from_secs(5), "the hang-up noticed", || {
        first.is_closed()
    })
    .await;
    assert!(
        cluster.open_connections().is_empty(),
        "a hung-up one listed"
    );
    let err = first.call(&find).await.unwrap_err();
    assert!(err.is_connection_lost(), "the old connection: {err:?}");

    let second = cluster
        .connection(&broker.addr, Purpose::Admin)
        .await
        .unwrap();
    assert!(
        !Arc::ptr_eq(&first, &second),
        "the hung-up connection handed out"
    );
    second.call(&find).await.unwrap();
    let any = cluster.any(Purpose::Admin).await.unwrap();
    assert!(Arc::ptr_eq(&any, &second));
    assert_eq!(
        faults.connections.load(Relaxed) - before,
        1,
        "connections opened"
    );
}
