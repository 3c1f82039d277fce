//! Our partitioners against librdkafka's own choice: for each name, 1,000 keys (UUID strings and
//! arbitrary bytes) plus an empty key and no key, produced by librdkafka with that `partitioner`
//! to topics of 3, 6 and 7 partitions, must land where ours put them.

use std::collections::HashMap;

use testkit::{Broker, client, create_topic, hex, peer_with_input, producer};
use usercenter::producer::{Partitioner, ProducerConfig};

const COUNTS: [usize; 3] = [3, 6, 7];

/// 500 UUID strings and 500 byte strings of 1 to 40 arbitrary bytes, from a fixed seed.
fn keys() -> Vec<Vec<u8>> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut keys = Vec::new();
    for _ in 0..500 {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&next().to_le_bytes());
        bytes[8..].copy_from_slice(&next().to_le_bytes());
        let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
        keys.push(id.to_string().into_bytes());
    }
    for _ in 0..500 {
        let len = (next() % 40 + 1) as usize;
        keys.push((0..len).map(|_| next() as u8).collect());
    }
    keys
}

/// librdkafka's partition of each of `keys` per topic, under `partitioner`.
fn librdkafka(
    broker: &str,
    partitioner: Partitioner,
    keys: &[Option<Vec<u8>>],
) -> HashMap<usize, Vec<Option<usize>>> {
    let input: String = keys
        .iter()
        .map(|k| match k {
            Some(k) => format!("\"{}\"\n", hex(k)),
            None => "null\n".to_owned(),
        })
        .collect();
    let topics: Vec<String> = COUNTS.iter().map(|n| topic(partitioner, *n)).collect();
    let mut args = vec!["partition", "--partitioner", partitioner.name()];
    for t in &topics {
        args.extend(["--topic", t.as_str()]);
    }
    let out = peer_with_input(broker, &args, &input);
    assert_eq!(out["errors"], serde_json::json!([]), "{partitioner}");
    COUNTS
        .iter()
        .zip(&topics)
        .map(|(n, t)| {
            let chosen = out["partitions"][t.as_str()].as_array().unwrap();
            let chosen = chosen.iter().map(|p| p.as_u64().map(|p| p as usize));
            (*n, chosen.collect())
        })
        .collect()
}

fn topic(partitioner: Partitioner, partitions: usize) -> String {
    format!("keys-{partitioner}-{partitions}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_partitioner_agrees_with_librdkafka_on_1000_keys() {
    let broker = Broker::memory().await;
    let c = client(&broker.addr).await;
    let mut keys: Vec<Option<Vec<u8>>> = keys().into_iter().map(Some).collect();
    keys.push(Some(Vec::new()));
    keys.push(None);
    let mut theirs_by_name = HashMap::new();
    for partitioner in Partitioner::ALL {
        for n in COUNTS {
            create_topic(&c, &topic(partitioner, n), n as i32).await;
        }
        let theirs = librdkafka(&broker.addr, partitioner, &keys);
        let mut compared = 0;
        for n in COUNTS {
            for (key, their) in keys.iter().zip(&theirs[&n]) {
                let their = their.unwrap_or_else(|| panic!("{partitioner}: {key:?} not delivered"));
                assert!(their < n);
                // None: the sticky partition, where librdkafka picks a random one.
                if let Some(ours) = partitioner.partition(key.as_deref(), n) {
                    assert_eq!(ours, their, "{partitioner}, {n} partitions, key {key:?}");
                    compared += 1;
                }
            }
        }
        // librdkafka picks at random only for no key under the `_random` names, and for an
        // empty key too under `consistent_random`.
        let random = match partitioner {
            Partitioner::ConsistentRandom => 2,
            Partitioner::Murmur2Random | Partitioner::Fnv1aRandom => 1,
            _ => 0,
        };
        assert_eq!(
            compared,
            COUNTS.len() * (keys.len() - random),
            "{partitioner}"
        );
        theirs_by_name.insert(partitioner, theirs);
    }
    // The peer really used each partitioner: the three hashes place keys differently.
    let differ = |a: Partitioner, b: Partitioner| {
        let (a, b) = (&theirs_by_name[&a][&7], &theirs_by_name[&b][&7]);
        a.iter().zip(b).take(1000).filter(|(x, y)| x != y).count()
    };
    use Partitioner::*;
    for (a, b) in [
        (Murmur2Random, Fnv1aRandom),
        (Murmur2Random, ConsistentRandom),
        (Fnv1aRandom, ConsistentRandom),
    ] {
        let d = differ(a, b);
        eprintln!("{a} and {b}: {d} of 1000 keys on different partitions of 7");
        assert!(d > 500, "{a} and {b} differ on only {d} of 1000 keys");
    }

    // And our producer, configured with each name, puts keys where librdkafka does.
    for partitioner in Partitioner::ALL {
        let config = ProducerConfig {
            partitioner,
            ..Default::default()
        };
        let p = producer(&broker.addr, config).await;
        let theirs = &theirs_by_name[&partitioner][&7];
        for i in (0..1000).step_by(50) {
            let d = p
                .send(testkit::record(
                    &topic(partitioner, 7),
                    keys[i].clone(),
                    b"ours".to_vec(),
                ))
                .await
                .unwrap();
            assert_eq!(
                Some(d.partition as usize),
                theirs[i],
                "{partitioner} key {i}"
            );
        }
    }
}
