//! A batch's records copied into one contiguous buffer.
//!
//! rskafka's `produce` consumes the records it is given, yet a batch must survive a failed
//! attempt to be retried or split. Cloning every record for every attempt costs several
//! allocations per record; instead the accumulator appends each record's bytes to one buffer
//! (an amortised `memcpy`), the first attempt sends the original records, and only a retry
//! rebuilds them from this copy.
//!
//! Layout per record, integers little-endian: seconds `i64`, nanoseconds `u32`, key length
//! `i32` (-1: none) and key, value length `i32` (-1: none) and value, header count `u32`, then
//! per header: key length `u32`, key, value length `u32`, value.
use rskafka::record::Record;

/// Appends `record` to `arena`.
pub(crate) fn push(arena: &mut Vec<u8>, record: &Record) {
    arena.extend_from_slice(&record.timestamp.timestamp().to_le_bytes());
    arena.extend_from_slice(&record.timestamp.timestamp_subsec_nanos().to_le_bytes());
    for part in [&record.key, &record.value] {
        match part {
            Some(bytes) => {
                arena.extend_from_slice(&(bytes.len() as i32).to_le_bytes());
                arena.extend_from_slice(bytes);
            }
            None => arena.extend_from_slice(&(-1i32).to_le_bytes()),
        }
    }
    arena.extend_from_slice(&(record.headers.len() as u32).to_le_bytes());
    for (k, v) in &record.headers {
        arena.extend_from_slice(&(k.len() as u32).to_le_bytes());
        arena.extend_from_slice(k.as_bytes());
        arena.extend_from_slice(&(v.len() as u32).to_le_bytes());
        arena.extend_from_slice(v);
    }
}

/// The records of `arena`, in order. Stops at the first malformed record (which `push` never
/// writes).
pub(crate) fn records(arena: &[u8]) -> Vec<Record> {
    let mut cursor = Cursor(arena);
    let mut out = Vec::new();
    while !cursor.0.is_empty() {
        match cursor.record() {
            Some(r) => out.push(r),
            None => break,
        }
    }
    out
}

/// The arena of `records`.
pub(crate) fn of(records: &[Record]) -> Vec<u8> {
    let mut arena = Vec::new();
    for r in records {
        push(&mut arena, r);
    }
    arena
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn optional(&mut self) -> Option<Option<Vec<u8>>> {
        let len = i32::from_le_bytes(self.array()?);
        if len < 0 {
            return Some(None);
        }
        Some(Some(self.take(len as usize)?.to_vec()))
    }

    fn bytes(&mut self) -> Option<&[u8]> {
        let len = u32::from_le_bytes(self.array()?) as usize;
        self.take(len)
    }

    fn record(&mut self) -> Option<Record> {
        let secs = i64::from_le_bytes(self.array()?);
        let nanos = u32::from_le_bytes(self.array()?);
        let timestamp = chrono::DateTime::from_timestamp(secs, nanos)?;
        let key = self.optional()?;
        let value = self.optional()?;
        let count = u32::from_le_bytes(self.array()?);
        let mut headers = std::collections::BTreeMap::new();
        for _ in 0..count {
            let k = String::from_utf8(self.bytes()?.to_vec()).ok()?;
            let v = self.bytes()?.to_vec();
            headers.insert(k, v);
        }
        Some(Record {
            key,
            value,
            headers,
            timestamp,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn records_round_trip(
            parts in prop::collection::vec((
                prop::option::of(prop::collection::vec(any::<u8>(), 0..50)),
                prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
                prop::collection::btree_map("\\PC{0,10}", prop::collection::vec(any::<u8>(), 0..20), 0..4),
                any::<i64>(),
            ), 0..20)
        ) {
            let records: Vec<Record> = parts
                .into_iter()
                .map(|(key, value, headers, nanos)| Record {
                    key,
                    value,
                    headers,
                    timestamp: chrono::DateTime::from_timestamp_nanos(nanos),
                })
                .collect();
            prop_assert_eq!(super::records(&of(&records)), records);
        }

        #[test]
        fn truncated_arenas_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = super::records(&bytes);
        }
    }
}
