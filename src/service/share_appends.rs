//! Passes this process's appends to Kafka on to the instances that share its store, and theirs
//! to this process's fetch lanes ([`crate::store::AppendNews`]): a consumer then reads what the
//! relay lease holder, another process, published as soon as the holder's producer has its
//! acknowledgement, not at the broker's next look.
use std::{collections::HashSet, sync::Arc};

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_util::sync::CancellationToken;

use crate::{
    kafka,
    store::{Appended, Store},
};

/// Starts sharing when the store can (PostgreSQL); runs until `cancel`. Call it before the
/// relay's first lease check, whose session listens for the other instances' news.
pub(super) fn start(
    store: &Arc<dyn Store>,
    client: &Arc<kafka::Client>,
    cancel: CancellationToken,
) {
    let Some(news) = store.append_news() else {
        return;
    };
    let lanes = Arc::downgrade(client);
    news.listen(Arc::new(move |topic, partition| {
        if let Some(client) = lanes.upgrade() {
            client.appended_elsewhere(topic, partition);
        }
    }));
    let (store, mut own) = (Arc::clone(store), client.own_appends());
    tokio::spawn(async move {
        loop {
            let first = tokio::select! {
                first = own.recv() => first,
                () = cancel.cancelled() => return,
            };
            // Whatever else is queued goes in the same announcement, each partition once.
            let mut batch: HashSet<Appended> = HashSet::new();
            match first {
                Ok(appended) => {
                    batch.insert(appended);
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
            loop {
                match own.try_recv() {
                    Ok(appended) => {
                        batch.insert(appended);
                    }
                    Err(TryRecvError::Lagged(_)) => {}
                    Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                }
            }
            let batch: Vec<Appended> = batch.into_iter().collect();
            if let Some(news) = store.append_news() {
                news.announce(&batch);
            }
        }
    });
}
