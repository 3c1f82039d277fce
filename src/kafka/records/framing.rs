//! Where a batch ends in a Fetch answer's bytes, and what its header says once its CRC-32C
//! matches: the offsets it covers, or why it cannot be read.
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

/// `error` of the batch that ends at `next` in `data`: a CRC mismatch's last offset is before
/// the batch that follows, if one does in full (its header may be damaged too).
pub(super) fn before_next(error: RecordsError, data: &Bytes, next: usize) -> RecordsError {
    let RecordsError::Crc {
        offset,
        last_offset,
        raw,
    } = error
    else {
        return error;
    };
    let follows = (data.len() - next >= 17 && matches!(next_batch(data, next), Ok(Some(_))))
        .then(|| i64::from_be_bytes(data[next..next + 8].try_into().unwrap_or([0; 8])));
    let last_offset = match follows {
        Some(base) if base > offset => last_offset.min(base - 1),
        _ => last_offset,
    };
    RecordsError::Crc {
        offset,
        last_offset,
        raw,
    }
}

/// The last offset of a complete v2-framed `batch`, once its CRC-32C matches; a batch its
/// writer sent in a format we do not know, or whose offsets are unknown, is [`Unreadable`] as
/// one offset (its record count is the writer's word too, and would skip what follows), so
/// that the partition goes on after it rather than failing every fetch from there.
pub(super) fn last_offset(batch: &Bytes) -> Result<Result<i64, Unreadable>, RecordsError> {
    let b = &batch[..];
    let base_offset = i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let crc = u32::from_be_bytes([b[17], b[18], b[19], b[20]]);
    let last_offset_delta = i32::from_be_bytes([b[23], b[24], b[25], b[26]]);
    if crc32c::crc32c(&b[CRC_START..]) != crc {
        return Err(RecordsError::Crc {
            offset: base_offset,
            last_offset: base_offset.saturating_add(i64::from(last_offset_delta.max(0))),
            raw: batch.clone(),
        });
    }
    let unreadable = |error: String| {
        Ok(Err(Unreadable {
            base_offset,
            last_offset: base_offset,
            error,
            raw: batch.clone(),
        }))
    };
    let magic = b[16] as i8;
    if magic != 2 {
        // Under a CRC-32C where v2 has it.
        return unreadable(format!("unknown message format (magic {magic})"));
    }
    match base_offset
        .checked_add(i64::from(last_offset_delta))
        .filter(|&last| last >= base_offset && last < i64::MAX)
    {
        Some(last) => Ok(Ok(last)),
        // Nisshi does not check the delta against the base offset.
        None => unreadable(format!("last offset delta {last_offset_delta}")),
    }
}
