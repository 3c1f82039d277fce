//! Writes the seed corpus of every fuzz target from valid encodings, and the dictionaries of
//! the text targets beside it (`dicts.rs`; into `dicts`, the seeds folder's sibling):
//! `cargo run --example fuzz_seeds -- fuzz/seeds`.
use std::{
    fs,
    path::{Path, PathBuf},
};

mod dicts;
#[cfg(test)]
mod staleness;

use rskafka::protocol::record::RecordBatchCompression;
use usercenter::{
    config::Config,
    event::{ContentType, EventType, fixtures},
    kafka::{
        group::assign::{RebalanceProtocol, Subscription, encode_assignment, encode_subscription},
        protocol::{
            Call, CreateTopic, DescribeGroups, Fetch, FindCoordinator, Heartbeat, InitProducerId,
            JoinGroup, LeaveGroup, ListGroups, ListOffset, Metadata, OffsetCommit, OffsetFetch,
            Produce, SyncGroup,
        },
    },
};

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let d = dir.join(target);
    fs::create_dir_all(&d)?;
    fs::write(d.join(name), bytes)
}

/// One record of a seed batch: key, value, headers.
type Seed = (Vec<u8>, Vec<u8>, Vec<(String, Vec<u8>)>);

/// A Kafka v2 record batch holding `records` from offset `base`, written by rskafka's own encoder.
fn batch(
    records: &[Seed],
    base: i64,
    compression: RecordBatchCompression,
) -> std::io::Result<Vec<u8>> {
    use rskafka::protocol::{
        record::{
            ControlBatchOrRecords, Record, RecordBatch, RecordBatchTimestampType, RecordHeader,
        },
        traits::WriteType,
    };
    let batch = RecordBatch {
        base_offset: base,
        partition_leader_epoch: 0,
        last_offset_delta: records.len() as i32 - 1,
        first_timestamp: 1_700_000_000_000,
        max_timestamp: 1_700_000_000_000,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        records: ControlBatchOrRecords::Records(
            records
                .iter()
                .enumerate()
                .map(|(i, (k, v, h))| Record {
                    timestamp_delta: 0,
                    offset_delta: i as i32,
                    key: Some(k.clone()),
                    value: Some(v.clone()),
                    headers: h
                        .iter()
                        .map(|(key, value)| RecordHeader {
                            key: key.clone(),
                            value: value.clone(),
                        })
                        .collect(),
                })
                .collect(),
        ),
        compression,
        is_transactional: false,
        timestamp_type: RecordBatchTimestampType::CreateTime,
    };
    let mut out = Vec::new();
    batch.write(&mut out).map_err(std::io::Error::other)?;
    Ok(out)
}

/// The response of `C` with default fields, encoded at every version we declare, each prefixed by
/// the byte that makes `decode_fuzz_input` pick that version.
fn responses<C: Call>(dir: &Path, target: &str) -> std::io::Result<()>
where
    C::Response: Default + kafka_protocol::protocol::Encodable,
{
    response_seeds::<C>(dir, target, "v", &C::Response::default())
}

/// `response` at every version of `C` we declare, as `<prefix><version>` seeds of `target`.
fn response_seeds<C: Call>(
    dir: &Path,
    target: &str,
    prefix: &str,
    response: &C::Response,
) -> std::io::Result<()>
where
    C::Response: kafka_protocol::protocol::Encodable,
{
    use kafka_protocol::protocol::Encodable;
    let (min, max) = C::VERSIONS;
    for version in min..=max {
        let mut bytes = bytes::BytesMut::new();
        response
            .encode(&mut bytes, version)
            .map_err(std::io::Error::other)?;
        let pick = u8::try_from(version - min).map_err(std::io::Error::other)?;
        let input = [&[pick][..], &bytes[..]].concat();
        write(dir, target, &format!("{prefix}{version}"), &input)?;
    }
    Ok(())
}

/// Answers naming partition 0 of `user.events` (the partition the `response_produce`,
/// `response_list_offsets` and `response_create_topics` targets ask about), so that mutations
/// reach the code that reads the answer.
fn named_responses(dir: &Path) -> std::io::Result<()> {
    use kafka_protocol::messages::{
        CreateTopicsResponse, ListOffsetsResponse, ProduceResponse, TopicName,
        create_topics_response::CreatableTopicResult,
        list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse},
        produce_response::{PartitionProduceResponse, TopicProduceResponse},
    };
    let name = || {
        TopicName(kafka_protocol::protocol::StrBytes::from_static_str(
            "user.events",
        ))
    };
    let produced = ProduceResponse::default().with_responses(vec![
        TopicProduceResponse::default()
            .with_name(name())
            .with_partition_responses(vec![
                PartitionProduceResponse::default()
                    .with_index(0)
                    .with_base_offset(42),
            ]),
    ]);
    response_seeds::<Produce>(dir, "response_produce", "named-v", &produced)?;
    let offsets = ListOffsetsResponse::default().with_topics(vec![
        ListOffsetsTopicResponse::default()
            .with_name(name())
            .with_partitions(vec![
                ListOffsetsPartitionResponse::default()
                    .with_partition_index(0)
                    .with_offset(42),
            ]),
    ]);
    response_seeds::<ListOffset>(dir, "response_list_offsets", "named-v", &offsets)?;
    let created = CreateTopicsResponse::default()
        .with_topics(vec![CreatableTopicResult::default().with_name(name())]);
    response_seeds::<CreateTopic>(dir, "response_create_topics", "named-v", &created)
}

/// Fetch responses with one partition of `user.events` holding `set`, at every version we
/// declare (besides the default ones).
fn fetch_responses(dir: &Path, set: &[u8]) -> std::io::Result<()> {
    use kafka_protocol::{
        messages::{
            TopicName,
            fetch_response::{FetchResponse, FetchableTopicResponse, PartitionData},
        },
        protocol::StrBytes,
    };
    responses::<Fetch>(dir, "response_fetch")?;
    let partition = PartitionData::default()
        .with_partition_index(0)
        .with_high_watermark(6)
        .with_last_stable_offset(6)
        .with_records(Some(bytes::Bytes::copy_from_slice(set)));
    let topic = FetchableTopicResponse::default()
        .with_topic(TopicName(StrBytes::from_static_str("user.events")))
        .with_partitions(vec![partition]);
    let response = FetchResponse::default().with_responses(vec![topic]);
    response_seeds::<Fetch>(dir, "response_fetch", "records_v", &response)
}

/// Subscriptions as eager and cooperative members send them (even first byte) and an
/// assignment (odd first byte).
fn group_metadata(dir: &Path) -> std::io::Result<()> {
    let owned = [("user.events".to_owned(), vec![0, 2])]
        .into_iter()
        .collect();
    let subscription = Subscription {
        topics: vec!["user.events".into(), "user.notifications".into()],
        owned,
        generation: 3,
        user_data: None,
    };
    for (name, protocol) in [
        ("eager", RebalanceProtocol::Eager),
        ("cooperative", RebalanceProtocol::Cooperative),
    ] {
        let bytes = encode_subscription(&subscription, protocol).map_err(std::io::Error::other)?;
        let input = [&[0][..], &bytes[..]].concat();
        write(
            dir,
            "group_metadata",
            &format!("subscription_{name}"),
            &input,
        )?;
    }
    let assignment = encode_assignment(&subscription.owned).map_err(std::io::Error::other)?;
    let input = [&[1][..], &assignment[..]].concat();
    write(dir, "group_metadata", "assignment", &input)
}

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/seeds".into());
    let dir = Path::new(&dir);
    let dict_dir = write_seeds_and_dicts(dir)?;
    println!(
        "seeds written under {}, dictionaries under {}",
        dir.display(),
        dict_dir.display()
    );
    Ok(())
}

/// Writes every target's seeds under `dir` and the dictionaries into `dicts` beside it;
/// returns the dictionaries' folder.
fn write_seeds_and_dicts(dir: &Path) -> std::io::Result<PathBuf> {
    let mut records = Vec::new();
    let mut json_events = Vec::new();
    for (i, ty) in EventType::ALL.into_iter().enumerate() {
        let event = fixtures::sample(ty);
        for (target, ct) in [
            ("envelope_postcard", ContentType::Postcard),
            ("envelope_json", ContentType::Json),
        ] {
            let rec = event.encode(ct).map_err(std::io::Error::other)?;
            let mut input = vec![i as u8];
            input.extend_from_slice(&rec.value);
            write(dir, target, ty.as_str(), &input)?;
            if ct == ContentType::Json {
                json_events.push(rec.value.clone());
            }
            records.push((
                rec.key,
                rec.value,
                rec.headers.into_iter().collect::<Vec<_>>(),
            ));
        }
    }
    let none = RecordBatchCompression::NoCompression;
    write(
        dir,
        "fetched_records",
        "six_events",
        &batch(&records, 0, none)?,
    )?;
    write(
        dir,
        "fetched_records",
        "one_event",
        &batch(&records[..1], 0, none)?,
    )?;
    fetch_responses(dir, &batch(&records, 0, RecordBatchCompression::Lz4)?)?;
    group_metadata(dir)?;
    // A fetched record set is batches back to back; one seed per codec the reader inflates.
    for (name, codec) in [
        ("none", none),
        ("gzip", RecordBatchCompression::Gzip),
        ("snappy", RecordBatchCompression::Snappy),
        ("lz4", RecordBatchCompression::Lz4),
        ("zstd", RecordBatchCompression::Zstd),
    ] {
        let (first, second) = records.split_at(3);
        let mut set = batch(first, 40, codec)?;
        set.extend(batch(second, 43, codec)?);
        write(dir, "fetched_records", &format!("{name}_two_batches"), &set)?;
    }
    // headers, envelope_structured and answer_order take arbitrary-shaped input: any bytes
    // seed them.
    for (i, (k, v, _)) in records.iter().enumerate().take(4) {
        write(
            dir,
            "answer_order",
            &format!("seed{i}"),
            &[k.as_slice(), v.as_slice(), k.as_slice()].concat(),
        )?;
        write(
            dir,
            "headers",
            &format!("seed{i}"),
            &[k.as_slice(), v.as_slice()].concat(),
        )?;
        write(
            dir,
            "envelope_structured",
            &format!("seed{i}"),
            &[v.as_slice(), k.as_slice()].concat(),
        )?;
    }
    let bodies: [(u8, &str); 6] = [
        (
            0,
            r#"{"username":"ada","email":"ada@example.com","password":"correct horse"}"#,
        ),
        (1, r#"{"username":"ada","password":"correct horse"}"#),
        (
            1,
            r#"{"email":"ada@example.com","password":"correct horse"}"#,
        ),
        (
            2,
            r#"{"nickname":"Ada","email":"a@example.com","avatar_url":"https://x/a.png"}"#,
        ),
        (
            3,
            r#"{"old_password":"correct horse","new_password":"battery staple"}"#,
        ),
        (4, r#"{"status":"locked"}"#),
    ];
    for (i, (which, body)) in bodies.iter().enumerate() {
        write(
            dir,
            "http_bodies",
            &format!("body{i}"),
            &[&[*which], body.as_bytes()].concat(),
        )?;
    }
    let config = toml::to_string_pretty(&Config::default()).map_err(std::io::Error::other)?;
    write(dir, "config", "defaults.toml", config.as_bytes())?;
    write(
        dir,
        "config",
        "small.toml",
        b"[kafka]\nbrokers = [\"k1:9092\", \"k2:9092\"]\n[topics]\npartitions = 6\n",
    )?;
    responses::<InitProducerId>(dir, "response_init_producer_id")?;
    responses::<FindCoordinator>(dir, "response_find_coordinator")?;
    responses::<JoinGroup>(dir, "response_join_group")?;
    responses::<SyncGroup>(dir, "response_sync_group")?;
    responses::<Heartbeat>(dir, "response_heartbeat")?;
    responses::<LeaveGroup>(dir, "response_leave_group")?;
    responses::<OffsetCommit>(dir, "response_offset_commit")?;
    responses::<OffsetFetch>(dir, "response_offset_fetch")?;
    responses::<DescribeGroups>(dir, "response_describe_groups")?;
    // v5 (pick 5): the throttle time, then a compact array claiming 2^31 - 1 groups in 5 bytes,
    // which kafka-protocol as published sized a Vec by (vendor/kafka-protocol/PATCHED.md).
    let hostile = [5, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x08];
    write(
        dir,
        "response_describe_groups",
        "hostile-array-count",
        &hostile,
    )?;
    responses::<ListGroups>(dir, "response_list_groups")?;
    responses::<Produce>(dir, "response_produce")?;
    responses::<Metadata>(dir, "response_metadata")?;
    responses::<ListOffset>(dir, "response_list_offsets")?;
    responses::<CreateTopic>(dir, "response_create_topics")?;
    named_responses(dir)?;
    let dict_dir = dir.parent().unwrap_or(Path::new("")).join("dicts");
    dicts::write_all(
        &dict_dir,
        json_events.iter().map(Vec::as_slice),
        bodies.iter().map(|(_, body)| body.as_bytes()),
    )?;
    Ok(dict_dir)
}
