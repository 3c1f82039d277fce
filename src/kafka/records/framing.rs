//! Where a batch ends in a Fetch answer's bytes, and what its header says once its CRC-32C
//! matches: the offsets it covers, or why it cannot be read; or that it may be damaged.
use bytes::Bytes;

use super::{BATCH_HEADER, CRC_START, RecordsError, Unreadable, legacy};

/// The length of the batch at `at` in `data`; `None` for a partial trailing batch.
pub(super) fn next_batch(data: &Bytes, at: usize) -> Result<Option<usize>, RecordsError> {
    let head = &data[at..];
    let length = i32::from_be_bytes([head[8], head[9], head[10], head[11]]);
    let magic = head[16] as i8;
    let length = usize::try_from(length).map_err(|_| RecordsError::Malformed("batch length"))?;
    let Some(end) = length.checked_add(12).filter(|&end| end <= head.len()) else {
        return Ok(None);
    };
    let least = if legacy::is_legacy(magic) {
        legacy::min_len(magic)
    } else {
        BATCH_HEADER
    };
    if end < least {
        return Err(RecordsError::Malformed("batch shorter than its header"));
    }
    Ok(Some(end))
}

/// `error` of the batch that ends at `next` in `data`: a damaged batch's last offset is
/// before the batch that follows it in the answer, whole or cut (its header may be damaged).
pub(super) fn before_next(error: RecordsError, data: &Bytes, next: usize) -> RecordsError {
    let RecordsError::Damaged {
        offset,
        last_offset,
        raw,
        why,
        ..
    } = error
    else {
        return error;
    };
    let follows = data
        .get(next..next + 8)
        .and_then(|b| b.try_into().ok())
        .map(i64::from_be_bytes)
        .filter(|&base| base > offset);
    RecordsError::Damaged {
        offset,
        last_offset: follows.map_or(last_offset, |base| last_offset.min(base - 1)),
        bounded: follows.is_some(),
        raw,
        why,
    }
}

/// Whether the v2 CRC-32C of `batch` (at least [`BATCH_HEADER`] bytes) matches its bytes.
pub(super) fn crc_matches(batch: &[u8]) -> bool {
    crc32c::crc32c(&batch[CRC_START..])
        == u32::from_be_bytes([batch[17], batch[18], batch[19], batch[20]])
}

/// The offset a framed batch or old-format message (at least 8 bytes) starts with: its first
/// 8 bytes in both formats.
pub(super) fn base_offset(b: &[u8]) -> i64 {
    i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// A v2-framed `batch` (at least [`BATCH_HEADER`] bytes) that may have been damaged (`why`):
/// its offsets as its header says. Kafka appends a v2 batch only when its last offset delta is
/// its record count less one, so where the two disagree the header is damaged there, and the
/// smaller stands: damage to one of them does not skip the records of the batches after it
/// (at worst the rest of the batch is asked for again and comes back as damaged).
pub(super) fn damaged(batch: &Bytes, why: &'static str) -> RecordsError {
    let b = &batch[..];
    let base_offset = base_offset(b);
    let last_offset_delta = i32::from_be_bytes([b[23], b[24], b[25], b[26]]);
    let records = i32::from_be_bytes([b[57], b[58], b[59], b[60]]);
    let delta = last_offset_delta.min(records.saturating_sub(1)).max(0);
    RecordsError::Damaged {
        offset: base_offset,
        last_offset: base_offset.saturating_add(i64::from(delta)),
        bounded: false,
        raw: batch.clone(),
        why,
    }
}

/// The last offset of a complete v2 batch, once its CRC-32C matches and its magic is 2 (the
/// CRC does not cover the magic, so another magic may be damage on the way: an error). A
/// batch whose offsets are unknown is [`Unreadable`] as one offset (its record count is the
/// writer's word too, and would skip what follows), so that the partition goes on after it
/// rather than failing every fetch from there.
pub(super) fn last_offset(batch: &Bytes) -> Result<Result<i64, Unreadable>, RecordsError> {
    let b = &batch[..];
    if !crc_matches(b) {
        return Err(damaged(batch, "CRC mismatch"));
    }
    if b[16] != 2 {
        return Err(damaged(batch, "unknown magic"));
    }
    let base_offset = base_offset(b);
    let last_offset_delta = i32::from_be_bytes([b[23], b[24], b[25], b[26]]);
    match base_offset
        .checked_add(i64::from(last_offset_delta))
        .filter(|&last| last >= base_offset && last < i64::MAX)
    {
        Some(last) => Ok(Ok(last)),
        // What its writer sent (the CRC matches; Nisshi does not check the delta).
        None => Ok(Err(Unreadable {
            base_offset,
            last_offset: base_offset,
            error: format!("last offset delta {last_offset_delta}"),
            raw: batch.clone(),
        })),
    }
}
