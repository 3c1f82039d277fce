//! A store for tests whose write transactions go through a closure the test gives: a fault
//! injected before or after the commit, another session's commit first, a check of what the
//! transaction wrote. Reads go to the inner store as they are.
use std::sync::Arc;

use super::{ReadTxn, Result, Store, WriteTxn};

/// A write transaction's body, as [`Store::write`] takes it.
pub(crate) type WriteBody<'a> = &'a mut dyn FnMut(&mut dyn WriteTxn) -> Result<()>;

/// What a test's closure does with a write: it is given the inner store and the body.
type Writes = dyn Fn(&dyn Store, WriteBody<'_>) -> Result<()> + Send + Sync;

/// `inner`, each write through the test's closure.
pub(crate) struct Intercepted {
    inner: Arc<dyn Store>,
    writes: Box<Writes>,
}

impl Intercepted {
    /// `inner` whose writes go through `writes` (which calls `inner.write` itself, or not).
    pub(crate) fn new(
        inner: Arc<dyn Store>,
        writes: impl Fn(&dyn Store, WriteBody<'_>) -> Result<()> + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner,
            writes: Box::new(writes),
        }
    }
}

impl std::fmt::Debug for Intercepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intercepted")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Store for Intercepted {
    fn read(&self, f: &mut dyn FnMut(&dyn ReadTxn) -> Result<()>) -> Result<()> {
        self.inner.read(f)
    }

    fn write(&self, f: WriteBody<'_>) -> Result<()> {
        (self.writes)(&*self.inner, f)
    }
}
