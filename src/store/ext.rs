//! Value-returning transactions over any [`Store`].
//!
//! [`Store`] takes `&mut dyn FnMut(..) -> Result<()>` so that it stays object-safe (it is used
//! as `Arc<dyn Store>`). Getting a value out of such a closure, or failing it with an error that
//! is not a store error, needs a slot outside the closure; this module writes that once, so
//! callers neither keep an `Option` nor invent an error for the path where it stays empty.
use super::{ReadTxn, Result, Store, StoreError, WriteTxn};

/// Generic helpers on every [`Store`], `dyn Store` included.
pub trait StoreExt: Store {
    /// Runs `f` in a read transaction and returns its value or its error.
    fn read_with<T, E: From<StoreError>>(
        &self,
        mut f: impl FnMut(&dyn ReadTxn) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut slot = None;
        let ran = self.read(&mut |txn| keep(&mut slot, f(txn)));
        outcome(ran, slot)
    }

    /// Runs `f` in a write transaction and returns its value once the transaction committed,
    /// or its error (nothing it wrote is kept); a failed commit is a store error.
    fn write_with<T, E: From<StoreError>>(
        &self,
        f: impl FnMut(&mut dyn WriteTxn) -> Result<T, E>,
    ) -> Result<T, E> {
        writing(|g| self.write(g), f)
    }

    /// [`StoreExt::write_with`] through [`Store::write_at_snapshot`].
    fn write_at_snapshot_with<T, E: From<StoreError>>(
        &self,
        f: impl FnMut(&mut dyn WriteTxn) -> Result<T, E>,
    ) -> Result<T, E> {
        writing(|g| self.write_at_snapshot(g), f)
    }
}

/// The closure of a write transaction.
type WriteFn<'f> = dyn FnMut(&mut dyn WriteTxn) -> Result<()> + 'f;

/// Runs `f` through `write` (one of the store's write methods) and returns its value or error.
fn writing<T, E: From<StoreError>>(
    write: impl FnOnce(&mut WriteFn<'_>) -> Result<()>,
    mut f: impl FnMut(&mut dyn WriteTxn) -> Result<T, E>,
) -> Result<T, E> {
    let mut slot = None;
    let ran = write(&mut |txn| keep(&mut slot, f(txn)));
    outcome(ran, slot)
}

impl<S: Store + ?Sized> StoreExt for S {}

/// Keeps the closure's result (the last one, if a backend retries) and tells the backend
/// whether to commit.
fn keep<T, E>(slot: &mut Option<Result<T, E>>, result: Result<T, E>) -> Result<()> {
    let failed = result.is_err();
    *slot = Some(result);
    if failed {
        Err(StoreError::Aborted)
    } else {
        Ok(())
    }
}

/// A backend that gave up after conflicting on every attempt says so ([`StoreError::Contended`]);
/// otherwise the closure's own error comes first (it is the first failure, and an abort that
/// fails after it changes nothing); then the backend's; a value only if the transaction went
/// through. (The closure's error after the last conflict is the conflict itself, by then
/// wrapped in whatever the closure made of it.)
fn outcome<T, E: From<StoreError>>(ran: Result<()>, slot: Option<Result<T, E>>) -> Result<T, E> {
    match (ran, slot) {
        (Err(e @ StoreError::Contended { .. }), _) => Err(e.into()),
        (_, Some(Err(e))) => Err(e),
        (Err(e), _) => Err(e.into()),
        (Ok(()), Some(Ok(value))) => Ok(value),
        (Ok(()), None) => Err(StoreError::NotRun.into()),
    }
}

#[cfg(test)]
mod tests;
