//! Choosing a partition: Kafka's murmur2 for keyed records (the partition the Java client and
//! librdkafka's `murmur2_random` choose), a sticky partition for unkeyed ones.
use std::sync::atomic::{AtomicUsize, Ordering};

/// Kafka's murmur2 hash (`org.apache.kafka.common.utils.Utils.murmur2`), as a signed 32-bit int.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(*byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of a keyed record: `(murmur2(key) & 0x7fffffff) % partitions`.
pub fn keyed_partition(key: &[u8], partitions: usize) -> usize {
    ((murmur2(key) & 0x7fff_ffff) as usize) % partitions.max(1)
}

/// Where unkeyed records go: one partition until a batch there closes, then the next, so unkeyed
/// records fill whole batches instead of many small ones (Kafka's sticky partitioner).
#[derive(Debug, Default)]
pub struct Sticky(AtomicUsize);

impl Sticky {
    /// The current sticky partition.
    pub fn current(&self, partitions: usize) -> usize {
        self.0.load(Ordering::Relaxed) % partitions.max(1)
    }

    /// Moves on after a batch on `closed` was closed.
    pub fn batch_closed(&self, closed: usize, partitions: usize) {
        let next = (closed + 1) % partitions.max(1);
        let _ = self
            .0
            .compare_exchange(closed, next, Ordering::Relaxed, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
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
    }

    #[test]
    fn keyed_partition_is_positive_modulo() {
        for p in 1..20 {
            assert!(keyed_partition(b"foobar", p) < p);
        }
        // -790332482 & 0x7fffffff = 1357151166; % 3 == 0.
        assert_eq!(keyed_partition(b"foobar", 3), 1_357_151_166 % 3);
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
}
