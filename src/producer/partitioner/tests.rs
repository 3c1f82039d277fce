use super::*;

#[test]
fn java_murmur2_vectors() {
    // From Kafka's UtilsTest.testMurmur2.
    let cases: [(&[u8], i32); 6] = [
        (b"21", -973_932_308),
        (b"foobar", -790_332_482),
        (b"a-little-bit-long-string", -985_981_536),
        (b"a-little-bit-longer-string", -1_486_304_829),
        (
            b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58_897_971,
        ),
        (b"abc", 479_470_107),
    ];
    for (input, expected) in cases {
        assert_eq!(
            murmur2(input),
            expected,
            "{}",
            String::from_utf8_lossy(input)
        );
    }
    // From librdkafka's unittest_murmurhashneutral2: Java's results made positive.
    for (input, expected) in [
        (&b"kafka"[..], 1_348_980_580),
        (b"amqp", 767_747_138),
        (b"giberish123456789", 257_239_820),
    ] {
        assert_eq!(murmur2(input) & 0x7fff_ffff, expected);
    }
}

#[test]
fn fnv1a_vectors() {
    // The FNV reference test suite (32-bit FNV-1a).
    assert_eq!(fnv1a(b""), 0x811c_9dc5);
    assert_eq!(fnv1a(b"a"), 0xe40c_292c);
    assert_eq!(fnv1a(b"foobar"), 0xbf9c_f968);
}

#[test]
fn fnv1a_partitions_match_librdkafkas_sarama_vectors() {
    // librdkafka's unittest_fnv1a: Go's hash/fnv results after Sarama's absolute value. With
    // 2^31 partitions the partition is that value itself.
    let cases: [(&[u8], u32); 7] = [
        (b"kafka", 0x0d33_c4e1),
        (b"giberish123456789", 0x77a5_8295),
        (b"1234", 0x023b_dd03),
        (b"234", 0x2dea_3cd2),
        (b"34", 0x740f_a83e),
        (b"4", 0x310c_a263),
        (b"", 0x7ee3_623b),
    ];
    for (key, expected) in cases {
        for p in [Partitioner::Fnv1aRandom, Partitioner::Fnv1a] {
            assert_eq!(
                p.partition(Some(key), 1 << 31),
                Some(expected as usize),
                "{p} {}",
                String::from_utf8_lossy(key)
            );
        }
    }
}

/// Sarama's `NewHashPartitioner`, written the Go way: `int32(h) % n`, negated when negative.
fn sarama(hash: u32, partitions: i32) -> i32 {
    let p = (hash as i32) % partitions;
    if p < 0 { -p } else { p }
}

#[test]
fn librdkafkas_absolute_value_leaves_saramas_remainder() {
    let hashes = [
        0,
        1,
        0x7fff_ffff,
        0x8000_0000,
        0x8000_0001,
        0xffff_ffff,
        0xdead_beef,
    ];
    let more = (0..2000u32).map(|i| fnv1a(&i.to_le_bytes()));
    for hash in hashes.into_iter().chain(more) {
        for n in [1, 2, 3, 6, 7, 64, 1000, i32::MAX] {
            assert_eq!(
                (signed_abs(hash) % n as u32) as i32,
                sarama(hash, n),
                "hash {hash:#x}, {n} partitions"
            );
        }
    }
}

#[test]
fn crc32_vectors() {
    // The CRC-32 check value and zlib's results.
    assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    assert_eq!(crc32(b""), 0);
    assert_eq!(crc32(b"a"), 0xe8b7_be43);
    assert_eq!(crc32(b"user-1"), 0x7e26_4614);
    assert_eq!(
        Partitioner::Consistent.partition(Some(b"user-1"), 7),
        Some(0x7e26_4614 % 7)
    );
}

#[test]
fn murmur2_partitioners_are_positive_modulo() {
    for p in 1..20 {
        assert!(keyed_partition(b"foobar", p) < p);
    }
    // -790332482 & 0x7fffffff = 1357151166.
    assert_eq!(keyed_partition(b"foobar", 3), 1_357_151_166 % 3);
    for p in [Partitioner::Murmur2Random, Partitioner::Murmur2] {
        assert_eq!(p.partition(Some(b"foobar"), 7), Some(1_357_151_166 % 7));
    }
}

#[test]
fn empty_and_missing_keys_follow_librdkafka() {
    use Partitioner::*;
    let n = 7;
    let murmur_empty = (murmur2(b"") & 0x7fff_ffff) as usize % n;
    let fnv_empty = 0x7ee3_623b % n;
    // (partitioner, empty key, no key); None is the sticky partition.
    let cases = [
        (Murmur2Random, Some(murmur_empty), None),
        (Murmur2, Some(murmur_empty), Some(murmur_empty)),
        (ConsistentRandom, None, None),
        (Consistent, Some(0), Some(0)),
        (Fnv1aRandom, Some(fnv_empty), None),
        (Fnv1a, Some(fnv_empty), Some(fnv_empty)),
    ];
    for (p, empty, missing) in cases {
        assert_eq!(p.partition(Some(b""), n), empty, "{p}, empty key");
        assert_eq!(p.partition(None, n), missing, "{p}, no key");
    }
}

#[test]
fn names_are_librdkafkas_in_the_config() {
    assert_eq!(
        crate::producer::ProducerConfig::default().partitioner,
        Partitioner::Murmur2Random
    );
    for p in Partitioner::ALL {
        let text = format!("[producer]\npartitioner = \"{}\"\n", p.name());
        let config = crate::config::from_toml(&text).unwrap();
        assert_eq!(config.producer.partitioner, p);
        let printed = toml::to_string(&config).unwrap();
        assert!(
            printed.contains(&format!("partitioner = \"{p}\"")),
            "{printed}"
        );
    }
    for bad in ["random", "murmur2-random", "Murmur2", ""] {
        let text = format!("[producer]\npartitioner = \"{bad}\"\n");
        let err = crate::config::from_toml(&text).unwrap_err().to_string();
        assert!(err.starts_with("producer.partitioner: "), "{err}");
        assert!(err.contains("fnv1a_random"), "names the choices: {err}");
    }
}

#[test]
fn sticky_moves_on_after_a_batch_closes() {
    let s = Sticky::default();
    assert_eq!(s.current(3), 0);
    s.batch_closed(1, 3); // not the sticky one: no change
    assert_eq!(s.current(3), 0);
    s.batch_closed(0, 3);
    assert_eq!(s.current(3), 1);
}
