//! [`AppendNews`] on PostgreSQL: `NOTIFY` on [`CHANNEL`], which every instance's lease session
//! listens on ([`super::lease`]).
//!
//! A payload is one line per partition, `<sender> <partition> <topic>`, where the sender is the
//! announcing process's lease holder id, so that a process skips its own news. Kafka topic
//! names have no spaces or line breaks. A payload stays below PostgreSQL's 8000 bytes.
use std::fmt::Write as _;

use tracing::debug;
use uuid::Uuid;

use super::PgStore;
use crate::store::{AppendNews, Appended, Hear};

/// The channel appends are announced on.
pub const CHANNEL: &str = "usercenter_appended";

/// The largest payload sent (PostgreSQL refuses 8000 bytes and more).
const MAX_PAYLOAD: usize = 7_900;

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
        let payloads = payloads(self.lease.sender(), appended);
        if payloads.is_empty() {
            return;
        }
        let pool = self.pool.clone();
        self.handle.spawn(async move {
            let client = match pool.get().await {
                Ok(client) => client,
                Err(error) => return debug!(%error, "postgres: appends not announced"),
            };
            // Prepared once per pooled connection: each announcement is then one round trip.
            let notify = match client.prepare_cached("SELECT pg_notify($1, $2)").await {
                Ok(statement) => statement,
                Err(error) => return debug!(%error, "postgres: appends not announced"),
            };
            for payload in payloads {
                if let Err(error) = client.execute(&notify, &[&CHANNEL, &payload]).await {
                    return debug!(%error, "postgres: appends not announced");
                }
            }
        });
    }

    fn listen(&self, hear: Hear) {
        self.lease.hear_appends(hear);
    }
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
