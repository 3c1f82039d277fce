//! [`AppendNews`] on PostgreSQL: `NOTIFY` on [`CHANNEL`], which every instance's lease session
//! listens on ([`super::lease`]).
//!
//! A payload is one line per partition, `<sender> <partition> <topic>`, where the sender is the
//! announcing process's lease holder id, so that a process skips its own news. Kafka topic
//! names have no spaces or line breaks. A payload stays below PostgreSQL's 8000 bytes.
//!
//! One announcement is on its way at a time ([`Announcer`]): news that comes meanwhile is
//! merged and goes next, so that a slow database does not gather a task per burst of
//! acknowledgements, each waiting for a pooled connection beside the requests' transactions.
use std::{collections::BTreeSet, fmt::Write as _, sync::Arc};

use parking_lot::Mutex;

use tracing::debug;
use uuid::Uuid;

use super::PgStore;
use crate::store::{AppendNews, Appended, Hear};

/// The channel appends are announced on.
pub const CHANNEL: &str = "usercenter_appended";

/// The largest payload sent (PostgreSQL refuses 8000 bytes and more).
const MAX_PAYLOAD: usize = 7_900;

/// The partitions waiting to be announced, and whether an announcement is on its way.
#[derive(Debug, Default)]
pub(super) struct Announcer {
    state: Mutex<(BTreeSet<Appended>, bool)>,
}

impl Announcer {
    /// Takes `appended` in; true when no announcement is on its way, and the caller starts one
    /// (which takes [`Announcer::next`] until it is `None`).
    fn offer(&self, appended: &[Appended]) -> bool {
        let mut state = self.state.lock();
        state.0.extend(appended.iter().cloned());
        let start = !state.1 && !state.0.is_empty();
        state.1 |= start;
        start
    }

    /// What waits to be announced, taken; `None` when nothing does, and the announcement
    /// ends.
    fn next(&self) -> Option<Vec<Appended>> {
        let mut state = self.state.lock();
        if state.0.is_empty() {
            state.1 = false;
            return None;
        }
        Some(std::mem::take(&mut state.0).into_iter().collect())
    }
}

/// The payloads that announce `appended` from `sender`, each below [`MAX_PAYLOAD`].
fn payloads(sender: Uuid, appended: &[Appended]) -> Vec<String> {
    let mut payloads = Vec::new();
    let mut payload = String::new();
    for (topic, partition) in appended {
        let line = format!("{sender} {partition} {topic}\n");
        if line.len() > MAX_PAYLOAD {
            continue; // a topic name longer than Kafka allows
        }
        if payload.len() + line.len() > MAX_PAYLOAD {
            payloads.push(std::mem::take(&mut payload));
        }
        let _ = write!(payload, "{line}");
    }
    if !payload.is_empty() {
        payloads.push(payload);
    }
    payloads
}

/// The partitions announced in `payload` by another process than `own`; lines that do not
/// parse are skipped.
pub(super) fn heard(payload: &str, own: Uuid) -> Vec<(&str, i32)> {
    payload
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ' ');
            let sender: Uuid = fields.next()?.parse().ok()?;
            let partition: i32 = fields.next()?.parse().ok()?;
            let topic = fields.next().filter(|t| !t.is_empty())?;
            (sender != own).then_some((topic, partition))
        })
        .collect()
}

impl AppendNews for PgStore {
    fn announce(&self, appended: &[Appended]) {
        if !self.announcer.offer(appended) {
            return;
        }
        let (pool, announcer, sender) = (
            self.pool.clone(),
            Arc::clone(&self.announcer),
            self.lease.sender(),
        );
        self.handle.spawn(async move {
            while let Some(appended) = announcer.next() {
                if let Err(error) = send(&pool, &payloads(sender, &appended)).await {
                    debug!(%error, "postgres: appends not announced");
                }
            }
        });
    }

    fn listen(&self, hear: Hear) {
        self.lease.hear_appends(hear);
    }
}

/// Sends `payloads` on a pooled connection (news lost is a fetch that waits).
async fn send(pool: &deadpool_postgres::Pool, payloads: &[String]) -> Result<(), String> {
    let client = pool.get().await.map_err(|e| e.to_string())?;
    // Prepared once per pooled connection: each announcement is then one round trip.
    let notify = client
        .prepare_cached("SELECT pg_notify($1, $2)")
        .await
        .map_err(|e| e.to_string())?;
    for payload in payloads {
        client
            .execute(&notify, &[&CHANNEL, payload])
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_process_hears_the_others_appends_and_not_its_own() {
        let (me, other) = (Uuid::new_v4(), Uuid::new_v4());
        let appended: Vec<Appended> = vec![(Arc::from("user.events"), 3), (Arc::from("t"), 0)];
        let sent = payloads(other, &appended);
        assert_eq!(sent.len(), 1);
        assert_eq!(heard(&sent[0], me), [("user.events", 3), ("t", 0)]);
        assert!(heard(&sent[0], other).is_empty(), "its own news");
        assert!(heard("nonsense\n1 2\n", me).is_empty());
    }

    /// One announcement at a time: what comes while it is on its way is merged (once per
    /// partition) and goes next.
    #[test]
    fn news_that_comes_while_one_is_on_its_way_waits_for_it_merged() {
        let announcer = Announcer::default();
        let p = |n| (Arc::from("user.events"), n);
        assert!(announcer.offer(&[p(1)]), "nothing on its way: start one");
        assert_eq!(announcer.next(), Some(vec![p(1)]));
        assert!(!announcer.offer(&[p(2), p(3)]), "one on its way");
        assert!(!announcer.offer(&[p(3)]));
        assert_eq!(announcer.next(), Some(vec![p(2), p(3)]));
        assert_eq!(announcer.next(), None, "the announcement ends");
        assert!(announcer.offer(&[p(4)]), "and the next starts one again");
        assert!(!announcer.offer(&[]));
    }

    #[test]
    fn many_appends_are_split_below_the_payload_limit() {
        let topic: Arc<str> = Arc::from("x".repeat(200).as_str());
        let appended: Vec<Appended> = (0..200).map(|p| (Arc::clone(&topic), p)).collect();
        let sent = payloads(Uuid::new_v4(), &appended);
        assert!(sent.len() > 1);
        assert!(sent.iter().all(|p| p.len() <= MAX_PAYLOAD));
        let total: usize = sent.iter().map(|p| heard(p, Uuid::nil()).len()).sum();
        assert_eq!(total, 200);
    }
}
