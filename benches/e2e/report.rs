//! Percentiles and the per-hop breakdown of register → welcome notification.
use std::time::Duration;

use super::{load::Reg, watch};

/// The `q` quantile of `sorted` (nearest rank), in milliseconds.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Milliseconds of each duration, sorted.
pub fn millis(d: &[Duration]) -> Vec<f64> {
    let mut v: Vec<f64> = d.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// Header of [`row`].
pub const HEADER: &str = "| load | registrations | to notification p50 ms | p99 ms | HTTP register p50 / p99 | answered → notification readable p50 / p99 | request → event committed p50 / p99 | event committed → readable p50 / p99 | event readable → notification committed p50 / p99 | notification committed → readable p50 / p99 |\n|---|---|---|---|---|---|---|---|---|---|";

/// One line of the breakdown table; panics if a welcome notification never arrived.
pub fn row(label: &str, regs: &[Reg], seen: &watch::Shared) -> String {
    let seen = seen.lock();
    let mut hops: [Vec<f64>; 7] = Default::default();
    let mut missing = 0;
    for r in regs {
        let (Some(ev), Some(wel)) = (seen.registered.get(&r.id), seen.welcome.get(&r.id)) else {
            missing += 1;
            continue;
        };
        let values = [
            wel.readable_ms - r.sent_ms,
            r.answered_ms - r.sent_ms,
            wel.readable_ms - r.answered_ms,
            ev.stamped_ms - r.sent_ms,
            ev.readable_ms - ev.stamped_ms,
            wel.stamped_ms - ev.readable_ms,
            wel.readable_ms - wel.stamped_ms,
        ];
        for (h, v) in hops.iter_mut().zip(values) {
            h.push(v);
        }
    }
    assert_eq!(
        missing, 0,
        "{label}: {missing} welcome notifications never arrived"
    );
    for h in &mut hops {
        h.sort_by(f64::total_cmp);
    }
    let pair = |h: &[f64]| format!("{:.0} / {:.0}", percentile(h, 0.5), percentile(h, 0.99));
    format!(
        "| {label} | {} | {:.1} | {:.1} | {} | {} | {} | {} | {} | {} |",
        regs.len(),
        percentile(&hops[0], 0.5),
        percentile(&hops[0], 0.99),
        pair(&hops[1]),
        pair(&hops[2]),
        pair(&hops[3]),
        pair(&hops[4]),
        pair(&hops[5]),
        pair(&hops[6]),
    )
}
