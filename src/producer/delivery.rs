//! Delivery reports: one shared outcome per batch, one cheap handle per record.
//!
//! A batch of 10,000 records resolves once; each record's [`DeliveryFuture`] holds a clone of the
//! batch's `watch` receiver and its index in the batch, so no per-record channel is allocated.
use std::{future::IntoFuture, pin::Pin, sync::Arc};

use tokio::sync::watch;

use super::{ProduceError, Result};

/// Where a record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
}

/// How a batch ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Every record landed; the offsets in batch order.
    Delivered(Vec<i64>),
    /// No record landed.
    Failed(ProduceError),
    /// After a split, some landed and some did not.
    Mixed(Vec<Result<i64>>),
}

impl Outcome {
    fn record(&self, index: usize) -> Result<i64> {
        let missing = || ProduceError::NoOutcome { index };
        match self {
            Self::Delivered(offsets) => offsets.get(index).copied().ok_or_else(missing),
            Self::Failed(e) => Err(e.clone()),
            Self::Mixed(results) => results
                .get(index)
                .cloned()
                .unwrap_or_else(|| Err(missing())),
        }
    }
}

pub(crate) type OutcomeSlot = watch::Sender<Option<Arc<Outcome>>>;
pub(crate) type OutcomeWatch = watch::Receiver<Option<Arc<Outcome>>>;

/// The delivery report of one record. Await it (or call [`DeliveryFuture::wait`]) for the
/// partition and offset once the broker acknowledged the record.
///
/// # Cancellation
/// Dropping it does not cancel the record: it is delivered all the same.
#[derive(Debug)]
pub struct DeliveryFuture {
    rx: OutcomeWatch,
    partition: i32,
    index: usize,
}

impl DeliveryFuture {
    pub(crate) fn pending(rx: OutcomeWatch, partition: i32, index: usize) -> Self {
        Self {
            rx,
            partition,
            index,
        }
    }

    /// Whether the record's outcome is known (acknowledged or failed).
    pub(crate) fn is_done(&self) -> bool {
        self.rx.borrow().is_some()
    }

    /// Waits until the record's outcome is known, without taking it: cancel-safe, and the
    /// report can still be awaited for the outcome.
    pub(crate) async fn done(&self) {
        let mut rx = self.rx.clone();
        // A closed channel ends the wait too: awaiting the report then says why.
        let _outcome = rx.wait_for(Option::is_some).await;
    }

    /// Waits for the broker's acknowledgement (or the record's failure).
    pub async fn wait(mut self) -> Result<Delivery> {
        let outcome = self
            .rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| ProduceError::Closed)?
            .clone();
        match outcome {
            Some(outcome) => outcome.record(self.index).map(|offset| Delivery {
                partition: self.partition,
                offset,
            }),
            None => Err(ProduceError::Closed),
        }
    }
}

impl IntoFuture for DeliveryFuture {
    type Output = Result<Delivery>;
    type IntoFuture = Pin<Box<dyn std::future::Future<Output = Result<Delivery>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.wait())
    }
}
