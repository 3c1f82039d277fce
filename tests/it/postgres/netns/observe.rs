//! What the namespace tests watch besides the writers' turns: sessions waiting for the cut-off
//! instance's locks, and the 5xx causes in a log.
use super::*;

/// The sessions found waiting for a lock that a session of one instance holds, over samples.
#[derive(Default)]
pub(super) struct Waits {
    pub(super) samples: usize,
    /// Samples that found any.
    pub(super) found: usize,
    /// The most sessions of each instance waiting at once.
    pub(super) most: BTreeMap<String, usize>,
    /// What the blocking sessions were doing: their state and the start of their last statement.
    pub(super) holding: BTreeSet<String>,
}

impl Waits {
    /// Samples who waits for a lock a session of instance `name` holds.
    pub(super) async fn sample(&mut self, db: &tokio_postgres::Client, name: &str) {
        let rows = db
            .query(
                "SELECT w.application_name, b.state || ' after ' || left(b.query, 50) \
                 FROM pg_stat_activity w \
                 JOIN pg_stat_activity b ON b.pid = ANY (pg_blocking_pids(w.pid)) \
                 WHERE b.application_name = $1",
                &[&name],
            )
            .await
            .unwrap();
        let mut waiting = BTreeMap::<String, usize>::new();
        for r in &rows {
            *waiting.entry(r.get(0)).or_default() += 1;
            self.holding
                .insert(r.get::<_, Option<String>>(1).unwrap_or_default());
        }
        for (instance, n) in waiting {
            let most = self.most.entry(instance).or_default();
            *most = (*most).max(n);
        }
        self.samples += 1;
        self.found += usize::from(!rows.is_empty());
    }
}

impl std::fmt::Display for Waits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} samples found sessions waiting for its locks (at most {:?} at once, behind \
             {:?})",
            self.found, self.samples, self.most, self.holding
        )
    }
}

/// The errors behind the 5xx answers `instance` logged ("request failed"), with their counts.
pub(super) fn failures(instance: &Instance) -> BTreeMap<String, usize> {
    let mut found = BTreeMap::new();
    for line in instance.log().lines() {
        // Without the terminal colours: ESC [ ... m.
        let mut plain = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                chars.by_ref().find(|c| *c == 'm');
            } else {
                plain.push(c);
            }
        }
        if let Some((_, error)) = plain.split_once("request failed error=") {
            *found.entry(error.chars().take(120).collect()).or_default() += 1;
        }
    }
    found
}
