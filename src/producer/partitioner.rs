//! Choosing a partition. Keyed records follow one of librdkafka's named partitioners, so that
//! during a migration this service and the client it replaces put one user's events on the same
//! partition (and keep their order): `murmur2_random` (the default, the Java client's choice),
//! `murmur2`, `consistent_random`, `consistent`, `fnv1a_random` (Sarama's default hash
//! partitioner) and `fnv1a`. Where librdkafka picks a random (sticky) partition, for unkeyed
//! records, we use our own [`Sticky`] partition.
//!
//! librdkafka's `random` is not offered: it scatters one key over all partitions and so breaks
//! per-user order.
use std::sync::atomic::{AtomicUsize, Ordering};

pub use crate::config::Partitioner;

impl Partitioner {
    /// Every partitioner, in the order of the table above.
    pub const ALL: [Partitioner; 6] = [
        Self::Murmur2Random,
        Self::Murmur2,
        Self::ConsistentRandom,
        Self::Consistent,
        Self::Fnv1aRandom,
        Self::Fnv1a,
    ];

    /// The name in the config, the same as librdkafka's `partitioner` value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Murmur2Random => "murmur2_random",
            Self::Murmur2 => "murmur2",
            Self::ConsistentRandom => "consistent_random",
            Self::Consistent => "consistent",
            Self::Fnv1aRandom => "fnv1a_random",
            Self::Fnv1a => "fnv1a",
        }
    }

    /// The partition of a record with `key` among `partitions` (at least 1), or `None` when the
    /// record goes to the sticky partition (where librdkafka would pick a random one).
    pub fn partition(self, key: Option<&[u8]>, partitions: usize) -> Option<usize> {
        let key = match (self, key) {
            (Self::Murmur2Random | Self::ConsistentRandom | Self::Fnv1aRandom, None)
            | (Self::ConsistentRandom, Some([])) => return None,
            (_, key) => key.unwrap_or_default(),
        };
        let hash = match self {
            Self::Murmur2Random | Self::Murmur2 => (murmur2(key) & 0x7fff_ffff) as u32,
            Self::ConsistentRandom | Self::Consistent => crc32(key),
            Self::Fnv1aRandom | Self::Fnv1a => signed_abs(fnv1a(key)),
        };
        Some(hash as usize % partitions.max(1))
    }
}

impl std::fmt::Display for Partitioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

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

/// The FNV-1a 32-bit hash (Go's `hash/fnv.New32a`).
pub fn fnv1a(data: &[u8]) -> u32 {
    const OFFSET: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    data.iter()
        .fold(OFFSET, |h, b| (h ^ u32::from(*b)).wrapping_mul(PRIME))
}

/// What librdkafka does with an FNV-1a hash to match Sarama: the absolute value of the hash as a
/// signed 32-bit int, where i32::MIN stays 2^31. Sarama's `int32(h) % n`, negated when negative,
/// leaves the same remainder.
fn signed_abs(hash: u32) -> u32 {
    (hash as i32).unsigned_abs()
}

/// The CRC-32 of zlib and Ethernet (reflected polynomial 0xedb88320), as librdkafka's `rd_crc32`.
pub fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |crc, b| {
        CRC32_TABLE[((crc ^ u32::from(*b)) & 0xff) as usize] ^ (crc >> 8)
    })
}

const CRC32_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 == 1 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// The partition of a keyed record under the default `murmur2_random`:
/// `(murmur2(key) & 0x7fffffff) % partitions`.
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
mod tests;
