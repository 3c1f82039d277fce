use std::time::Duration;

use super::*;
use crate::{
    outbox::{OutboxRecord, append},
    store::RedbStore,
};

fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} in\n{text}"))
}

#[test]
fn the_outbox_age_is_that_of_its_oldest_row() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path()).unwrap());
    let users = Users::new(Arc::clone(&store), 1, "t", Duration::from_secs(60)).unwrap();
    let state = AppState::new(Arc::clone(&store), Arc::new(users), 10, Vec::new());
    let text = state.render_metrics();
    assert_eq!(sample(&text, "usercenter_outbox_oldest_age_seconds"), 0.0);
    let now_ms = chrono::Utc::now().timestamp_millis();
    store
        .write(&mut |txn| {
            for created_ms in [now_ms - 90_000, now_ms - 1_000] {
                let row = OutboxRecord {
                    topic: "t".into(),
                    key: None,
                    value: Vec::new(),
                    headers: Default::default(),
                    created_ms,
                };
                append(txn, &row)?;
            }
            Ok(())
        })
        .unwrap();
    let text = state.render_metrics();
    let age = sample(&text, "usercenter_outbox_oldest_age_seconds");
    assert!((90.0..3600.0).contains(&age), "{age}");
    assert_eq!(sample(&text, "usercenter_outbox_backlog"), 2.0);
    assert_eq!(sample(&text, "usercenter_outbox_parked"), 0.0);
    assert!(
        text.contains(&format!("commit=\"{}\"", version::COMMIT)),
        "{text}"
    );
}
