//! A handled record's effects written in the batch's transaction, and what they weigh
//! ([`super::MAX_BYTES_PER_TRANSACTION`]).
use super::{BatchInput, Result};
use crate::{
    consumer::handler::{Effects, Write},
    outbox::{self, OutboxRecord},
    store::WriteTxn,
};

/// About the bytes `effects` write: keys, values and headers.
pub(super) fn effects_bytes(effects: &Effects) -> usize {
    let writes = effects.writes.iter().map(|w| match w {
        Write::Put { key, value, .. } => key.len() + value.len(),
        Write::Delete { key, .. } => key.len(),
    });
    writes.sum::<usize>() + effects.outputs.iter().map(row_bytes).sum::<usize>()
}

/// About the bytes of outbox row `r`.
pub(super) fn row_bytes(r: &OutboxRecord) -> usize {
    let headers: usize = r.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    r.topic.len() + r.key.as_ref().map_or(0, Vec::len) + r.value.len() + headers
}

/// Writes a handled record's `effects` in `txn`: its store writes, then its outputs to the
/// outbox, stamped ([`outbox::stamp`]); how many outbox rows.
pub(super) fn apply(
    txn: &mut dyn WriteTxn,
    effects: Effects,
    input: &BatchInput<'_>,
) -> Result<u64> {
    for write in effects.writes {
        match write {
            Write::Put { table, key, value } => txn.put(table, &key, &value)?,
            Write::Delete { table, key } => {
                txn.delete(table, &key)?;
            }
        }
    }
    let rows = effects.outputs.len() as u64;
    for mut record in effects.outputs {
        if record.created_ms == 0 {
            record.created_ms = input.now_ms;
        }
        outbox::stamp(txn, input.producer_id, &mut record.headers)?;
        outbox::append(txn, &record)?;
    }
    Ok(rows)
}
