//! The next fetch read ahead while a batch is handled and committed.
use tokio_util::sync::CancellationToken;

/// Where a handled batch left the partition, and the fetch read ahead from there (`None` when
/// the batch ended elsewhere or shutdown began first).
pub(super) struct Handled<F> {
    pub(super) next: i64,
    pub(super) read_ahead: Option<F>,
}

/// Drives `handled` (a batch's [`PartitionLoop::handle_batch`]) and `next` (the fetch from
/// `ends`) together until the batch is done, tells `committed` where it ended; then, if it
/// ended at `ends`, finishes the fetch unless shutdown begins. `None`: the partition was
/// fenced.
pub(super) async fn read_ahead_while_committing<F>(
    handled: impl Future<Output = Option<i64>>,
    next: impl Future<Output = F>,
    ends: i64,
    committed: impl FnOnce(i64),
    cancel: &CancellationToken,
) -> Option<Handled<F>> {
    tokio::pin!(handled, next);
    let mut fetched = None;
    let offset = loop {
        tokio::select! {
            r = &mut next, if fetched.is_none() => fetched = Some(r),
            h = &mut handled => break h?,
        }
    };
    committed(offset);
    if offset != ends {
        fetched = None;
    } else if fetched.is_none() {
        tokio::select! {
            r = &mut next => fetched = Some(r),
            () = cancel.cancelled() => {}
        }
    }
    Some(Handled {
        next: offset,
        read_ahead: fetched,
    })
}
