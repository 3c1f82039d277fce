//! The lease's connection: opened (again) when there is none or it closed, with its
//! notifications handed to the relay's wake and to whoever hears other instances' appends.
use futures::StreamExt;
use tokio::{runtime::Handle, time::Instant};
use tokio_postgres::{AsyncMessage, Client};

use super::{Lease, OUTBOX_CHANNEL, RENEWED_FOR, take};
use crate::{
    pgstore::append_news,
    store::{RelayLease, Result, StoreError},
};

/// The lease's connection and what it holds.
#[derive(Default)]
pub(super) struct Session {
    pub client: Option<Client>,
    /// [`super::IN_USE_LOCK`] is held, shared (an instance) or exclusively (an operator's
    /// tool).
    pub marked: bool,
    /// The statements of a take, prepared on this connection.
    pub statements: Option<take::Statements>,
    /// The name this session holds the lease under (new with every connection).
    pub holder: uuid::Uuid,
    /// The last renewal that found the lease held, and when it was sent.
    pub renewed: Option<(Instant, RelayLease)>,
}

/// A session's parts, as [`Lease::connect`] lends them.
pub(super) struct Parts<'s> {
    pub client: &'s Client,
    pub marked: &'s mut bool,
    pub statements: &'s mut Option<take::Statements>,
    pub holder: uuid::Uuid,
}

impl Session {
    /// The last renewal, while it answers for this check: sent within [`RENEWED_FOR`], on a
    /// connection that is still open.
    pub fn current(&self) -> Option<RelayLease> {
        let (sent, lease) = self.renewed?;
        let open = self.client.as_ref().is_some_and(|c| !c.is_closed());
        (open && sent.elapsed() < RENEWED_FOR).then_some(lease)
    }
}

impl Lease {
    /// The session's client (connected when there is none or it closed), its mark, its
    /// prepared statements and its name as a holder.
    pub(super) async fn connect<'s>(
        &self,
        session: &'s mut Session,
        handle: &Handle,
    ) -> Result<Parts<'s>> {
        if session.client.as_ref().is_none_or(Client::is_closed) {
            let (c, mut connection) = self
                .config
                .connect(self.tls.clone())
                .await
                .map_err(StoreError::Postgres)?;
            let wake = self.outbox_wake.lock().clone();
            let hear = self.hear.lock().clone();
            // Renewals commit as every write does, flushed to the WAL before they answer: a
            // renewal lost in a crash of the database would leave a row whose expiry is
            // before this holder's own end, and the instance that takes the lease after the
            // restart waits only until the row's expiry.
            let mut setup = String::new();
            if wake.is_some() {
                setup.push_str(&format!("LISTEN {OUTBOX_CHANNEL};"));
            }
            if hear.is_some() {
                setup.push_str(&format!("LISTEN {};", append_news::CHANNEL));
            }
            let own = self.sender;
            // Drives the connection and hands its notifications to the relay's wake and to
            // whoever hears other instances' appends.
            handle.spawn(async move {
                let mut messages = futures::stream::poll_fn(|cx| connection.poll_message(cx));
                while let Some(Ok(message)) = messages.next().await {
                    let AsyncMessage::Notification(n) = message else {
                        continue;
                    };
                    match (n.channel(), &wake, &hear) {
                        (OUTBOX_CHANNEL, Some(wake), _) => wake.notify_one(),
                        (append_news::CHANNEL, _, Some(hear)) => {
                            for (topic, partition) in append_news::heard(n.payload(), own) {
                                hear(topic, partition);
                            }
                        }
                        _ => {}
                    }
                }
            });
            if !setup.is_empty() {
                c.batch_execute(&setup)
                    .await
                    .map_err(StoreError::Postgres)?;
            }
            *session = Session {
                client: Some(c),
                marked: false,
                statements: None,
                holder: take::holder_name(self.sender),
                renewed: None,
            };
        }
        let Session {
            client,
            marked,
            statements,
            holder,
            ..
        } = session;
        let client = client
            .as_ref()
            .ok_or(StoreError::NotFound("the relay lease's connection"))?;
        Ok(Parts {
            client,
            marked,
            statements,
            holder: *holder,
        })
    }
}
