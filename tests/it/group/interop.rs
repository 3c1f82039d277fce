//! librdkafka reads our leader's assignment: a confluent-kafka consumer and a group member
//! driven here with the protocol layer share a topic; we lead (we join first), decode
//! librdkafka's subscription, run our assignor (`cooperative-sticky`, then `range`) and send
//! the encoded assignments; librdkafka must end up consuming exactly the partitions we gave it.

use std::{
    collections::BTreeMap,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use testkit::protocol::kafka_client;
use testkit::{Broker, client, create_topic, peer_python};
use usercenter::kafka::Purpose;
use usercenter::kafka::{
    group::assign::{
        Assignment, Member, RebalanceProtocol, Subscription, by_name, decode_assignment,
        decode_subscription, encode_assignment, encode_subscription,
    },
    protocol::{Heartbeat, JoinGroup, SyncGroup},
};

const TOPIC: &str = "interop";

/// A librdkafka consumer in `group` with `strategy`; prints its partitions once they stayed
/// unchanged for 4 s, then leaves.
fn librdkafka(broker: &str, group: &str, strategy: &str) -> Child {
    let script = format!(
        r#"
import json, time
from confluent_kafka import Consumer
owned = set()
changed = [time.monotonic()]
def on_assign(c, parts):
    owned.update(p.partition for p in parts); changed[0] = time.monotonic()
def on_revoke(c, parts):
    owned.difference_update(p.partition for p in parts); changed[0] = time.monotonic()
c = Consumer({{'bootstrap.servers': '{broker}', 'group.id': '{group}',
              'partition.assignment.strategy': '{strategy}', 'session.timeout.ms': 10000,
              'heartbeat.interval.ms': 300, 'enable.auto.commit': False}})
c.subscribe(['{TOPIC}'], on_assign=on_assign, on_revoke=on_revoke)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    c.poll(0.2)
    if owned and time.monotonic() - changed[0] > 4:
        break
print(json.dumps({{'member': c.memberid(), 'owned': sorted(owned)}}))
c.close()
"#
    );
    Command::new(peer_python())
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python")
}

/// Our member: joins first (so it leads), then rejoins whenever the group rebalances or (in
/// the cooperative protocol) it gave partitions up, until `peer` exits. Returns what we last
/// assigned to each member in each round the peer was in the group.
async fn lead(
    broker: &str,
    group: &str,
    strategy: &str,
    peer: &mut Option<Child>,
    start_peer: impl FnOnce() -> Child,
) -> Vec<BTreeMap<String, Assignment>> {
    let assignor = by_name(strategy).unwrap();
    let conn = kafka_client(broker).any(Purpose::Admin).await.unwrap();
    let partitions = BTreeMap::from([(TOPIC.to_owned(), (0..4).collect::<Vec<i32>>())]);
    let mut member_id = String::new();
    let mut generation = -1;
    let mut owned = Assignment::new();
    let mut rounds: Vec<BTreeMap<String, Assignment>> = Vec::new();
    let mut start_peer = Some(start_peer);
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        let subscription = Subscription {
            topics: vec![TOPIC.into()],
            owned: if assignor.protocol() == RebalanceProtocol::Cooperative {
                owned.clone()
            } else {
                Assignment::new()
            },
            generation,
            user_data: None,
        };
        let join = JoinGroup {
            group_id: group.into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            member_id: member_id.clone(),
            group_instance_id: None,
            protocol_type: "consumer".into(),
            protocols: vec![(
                strategy.into(),
                encode_subscription(&subscription, assignor.protocol()).unwrap(),
            )],
            reason: None,
        };
        let joined = conn.call(&join).await.unwrap().body;
        member_id = joined.member_id.to_string();
        if joined.error_code != 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        generation = joined.generation_id;
        let mut assignments = Vec::new();
        if joined.leader.as_str() == member_id {
            let members: Vec<Member> = joined
                .members
                .iter()
                .map(|m| Member {
                    id: m.member_id.to_string(),
                    instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
                    subscription: decode_subscription(&m.metadata).unwrap(),
                })
                .collect();
            let assigned = assignor.assign(&members, &partitions);
            for (id, a) in &assigned {
                assignments.push((id.clone(), encode_assignment(a).unwrap()));
            }
            // The last round shared with the peer (after it leaves we lead alone).
            if members.len() > 1 {
                rounds.push(assigned);
            }
        }
        let synced = conn
            .call(&SyncGroup {
                group_id: group.into(),
                generation_id: generation,
                member_id: member_id.clone(),
                group_instance_id: None,
                protocol_type: Some("consumer".into()),
                protocol_name: Some(strategy.into()),
                assignments,
            })
            .await
            .unwrap()
            .body;
        if synced.error_code != 0 {
            continue;
        }
        let mine = decode_assignment(&synced.assignment).unwrap();
        let gave_up = owned.iter().any(|(t, ps)| {
            ps.iter()
                .any(|p| !mine.get(t).is_some_and(|m| m.contains(p)))
        });
        owned = mine;
        if let Some(start) = start_peer.take() {
            *peer = Some(start());
        }
        if gave_up && assignor.protocol() == RebalanceProtocol::Cooperative {
            continue; // revoked: rejoin at once so the partitions can move
        }
        loop {
            if peer
                .as_mut()
                .is_some_and(|p| p.try_wait().unwrap().is_some())
            {
                return rounds;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let beat = conn
                .call(&Heartbeat {
                    group_id: group.into(),
                    generation_id: generation,
                    member_id: member_id.clone(),
                    group_instance_id: None,
                })
                .await
                .unwrap();
            if beat.body.error_code != 0 {
                break; // a rebalance: rejoin
            }
        }
    }
    panic!("librdkafka did not settle within 90 s");
}

async fn interop(strategy: &str) {
    let broker = Broker::memory().await;
    create_topic(&*client(&broker.addr).await, TOPIC, 4).await;
    let group = format!("interop-{strategy}");
    let mut peer = None;
    let addr = broker.addr.clone();
    let rounds = lead(&broker.addr, &group, strategy, &mut peer, || {
        librdkafka(&addr, &group, strategy)
    })
    .await;
    let out = peer.expect("peer started").wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let theirs: Vec<i32> = serde_json::from_value(seen["owned"].clone()).unwrap();
    let member = seen["member"].as_str().unwrap();
    println!("{strategy}: librdkafka {member} owns {theirs:?}; we gave {rounds:?}");
    let given = rounds.last().expect("a round with the peer");
    if strategy == "cooperative-sticky" {
        // Two phases: first we gave up half and the peer got nothing, then it got that half.
        assert!(rounds[0][member].is_empty(), "{rounds:?}");
    }
    assert_eq!(given.len(), 2, "{given:?}");
    assert_eq!(
        given[member].get(TOPIC).cloned().unwrap_or_default(),
        theirs
    );
    let mut all: Vec<i32> = given
        .values()
        .flat_map(|a| a.get(TOPIC).cloned().unwrap_or_default())
        .collect();
    all.sort();
    assert_eq!(all, [0, 1, 2, 3], "every partition exactly once");
    assert_eq!(theirs.len(), 2, "balanced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_reads_our_cooperative_sticky_assignment() {
    interop("cooperative-sticky").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_reads_our_range_assignment() {
    interop("range").await;
}
