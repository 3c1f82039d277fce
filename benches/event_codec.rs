//! Encoding and decoding one event as a Kafka record, in both content types.
//!
//! `cargo bench --bench event_codec`
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use usercenter::event::{ContentType, DATA_VERSION, Envelope, EventData, Registered};
use uuid::Uuid;

fn sample() -> Envelope {
    Envelope {
        version: DATA_VERSION,
        id: Uuid::new_v4(),
        user_id: Uuid::new_v4(),
        occurred_at: Envelope::truncate_time(chrono::Utc::now()),
        request_id: "0f6c2a4e-request".into(),
        producer_id: 1,
        sequence: 1,
        data: EventData::Registered(Registered {
            username: "ada.lovelace".into(),
            email: "ada@example.com".into(),
        }),
    }
}

fn codec(c: &mut Criterion) {
    let env = sample();
    let mut group = c.benchmark_group("event");
    group.throughput(Throughput::Elements(1));
    for ct in [ContentType::Postcard, ContentType::Json] {
        let Ok(rec) = env.encode(ct) else {
            panic!("sample encodes");
        };
        group.bench_function(format!("encode/{ct}"), |b| {
            b.iter(|| black_box(&env).encode(ct))
        });
        group.bench_function(format!("decode/{ct}"), |b| {
            b.iter(|| Envelope::decode(black_box(&rec.headers), Some(black_box(&rec.value))))
        });
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
