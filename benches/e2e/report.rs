//! Percentiles and the per-hop breakdown of register → welcome notification.
use std::time::Duration;

use super::{
    load::{ByClass, Reg},
    queue::MMc,
    watch,
};

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
pub const HEADER: &str = "| load | registrations | to notification p50 ms | p99 ms | HTTP register p50 / p99 | pipeline: event stamped → notification readable p50 / p99 | answered → notification readable p50 / p99 | request → event stamped p50 / p99 | event stamped → readable p50 / p99 | event readable → notification stamped p50 / p99 | notification stamped → readable p50 / p99 |\n|---|---|---|---|---|---|---|---|---|---|---|";

/// The hops of every registration, each sorted (ms): to notification, HTTP register,
/// answered → notification readable, request → event stamped, event stamped → readable,
/// event readable → notification stamped, notification stamped → readable, and the pipeline
/// the issue names: event stamped → notification readable. An event is stamped in the register
/// request's transaction just before it commits, a notification when the consumer's batch
/// begins. Panics if a welcome notification never arrived.
pub fn hops(label: &str, regs: &[Reg], seen: &watch::Shared) -> [Vec<f64>; 8] {
    let seen = seen.lock();
    let mut hops: [Vec<f64>; 8] = Default::default();
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
            wel.readable_ms - ev.stamped_ms,
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
    hops
}

/// One line of the breakdown table; panics if a welcome notification never arrived.
pub fn row(label: &str, regs: &[Reg], seen: &watch::Shared) -> String {
    let hops = hops(label, regs, seen);
    let pair = |h: &[f64]| format!("{:.0} / {:.0}", percentile(h, 0.5), percentile(h, 0.99));
    format!(
        "| {label} | {} | {:.1} | {:.1} | {} | {} | {} | {} | {} | {} | {} |",
        regs.len(),
        percentile(&hops[0], 0.5),
        percentile(&hops[0], 0.99),
        pair(&hops[1]),
        pair(&hops[7]),
        pair(&hops[2]),
        pair(&hops[3]),
        pair(&hops[4]),
        pair(&hops[5]),
        pair(&hops[6]),
    )
}

/// The targets of the notification-latency issue beside what was measured and the physical
/// floor: the idle pipeline against the HTTP request, and at the open-loop load the pipeline
/// part and the HTTP request against the M/M/c prediction, from argon2 alone (`model`) and
/// from the hash's time in the service under that load (`in_service`).
pub fn targets(
    idle: &[Vec<f64>; 8],
    loaded: &[Vec<f64>; 8],
    model: &MMc,
    in_service: &MMc,
) -> String {
    let p = |h: &[f64], q| percentile(h, q);
    let (predicted50, predicted99) = (
        model.response_quantile(0.5) * 1e3,
        model.response_quantile(0.99) * 1e3,
    );
    let loaded99 = in_service.response_quantile(0.99) * 1e3;
    let rows = [
        (
            "idle: register → welcome p50 ≤ HTTP p50 + 10 ms",
            p(&idle[0], 0.5),
            p(&idle[1], 0.5) + 10.0,
            format!("HTTP p50 {:.1}", p(&idle[1], 0.5)),
        ),
        (
            "idle: register → welcome p99 ≤ HTTP p99 + 25 ms",
            p(&idle[0], 0.99),
            p(&idle[1], 0.99) + 25.0,
            format!("HTTP p99 {:.1}", p(&idle[1], 0.99)),
        ),
        (
            "80 %: pipeline (register's commit → welcome readable) p50 ≤ 15 ms",
            p(&loaded[7], 0.5),
            15.0,
            format!("answered → welcome readable p50 {:.1}", p(&loaded[2], 0.5)),
        ),
        (
            "80 %: pipeline p99 ≤ 60 ms",
            p(&loaded[7], 0.99),
            60.0,
            format!("answered → welcome readable p99 {:.1}", p(&loaded[2], 0.99)),
        ),
        (
            "80 %: HTTP register p99 ≤ 1.25 × M/M/c",
            p(&loaded[1], 0.99),
            1.25 * predicted99,
            format!("M/M/c p50 {predicted50:.1}, p99 {predicted99:.1}"),
        ),
        (
            "80 %: HTTP register p99 ≤ 1.25 × M/M/c, the hash timed in the service",
            p(&loaded[1], 0.99),
            1.25 * loaded99,
            format!(
                "hash {:.1} ms; M/M/c p50 {:.1}, p99 {loaded99:.1}",
                in_service.service * 1e3,
                in_service.response_quantile(0.5) * 1e3
            ),
        ),
    ];
    let mut out = String::from(
        "| target | measured ms | bound ms | floor, or the figure beside it (ms) | met |\n|---|---|---|---|---|",
    );
    for (what, measured, bound, floor) in rows {
        let met = if measured <= bound { "yes" } else { "no" };
        out.push_str(&format!(
            "\n| {what} | {measured:.1} | {bound:.1} | {floor} | {met} |"
        ));
    }
    out
}

/// The mixed clients' target, per request class: its p99 under the mixed load at most twice
/// its idle p99 plus the queue's prediction: in a closed loop of `clients` on `c` hashing
/// threads nearly every client is in a hashing request, so one waits about (clients − c) / c
/// hash times for a thread. `waits_ms` is that wait with argon2 alone's hash time and with the
/// hash's time in the service in this phase.
pub fn classes(idle: &ByClass, mixed: &ByClass, waits_ms: [f64; 2]) -> String {
    let mut out = String::from(
        "| request | idle p99 ms | mixed p50 ms | mixed p99 ms | bound: 2 × idle p99 + queue (argon2 alone) ms | met | bound, the hash timed in the service | met |\n|---|---|---|---|---|---|---|---|",
    );
    for (what, idle, mixed) in [
        ("register", &idle.register, &mixed.register),
        ("login", &idle.login, &mixed.login),
        ("update", &idle.update, &mixed.update),
    ] {
        let (idle, mixed) = (millis(idle), millis(mixed));
        let idle99 = percentile(&idle, 0.99);
        let p99 = percentile(&mixed, 0.99);
        out.push_str(&format!(
            "\n| {what} | {idle99:.1} | {:.1} | {p99:.1} |",
            percentile(&mixed, 0.5)
        ));
        for wait in waits_ms {
            let bound = 2.0 * idle99 + wait;
            let met = if p99 <= bound { "yes" } else { "no" };
            out.push_str(&format!(" {bound:.1} | {met} |"));
        }
    }
    out
}

/// How the kernel groups processes for CPU time, which decides whether the hashing threads'
/// nice value puts them behind the database: with autogroup on, every session is a group
/// of its own, and PostgreSQL starts a session per backend, so each backend competes with
/// the whole group of the instances (hashing threads included) as an equal.
pub fn scheduler() -> String {
    let setting = std::fs::read_to_string("/proc/sys/kernel/sched_autogroup_enabled");
    match setting.as_deref().map(str::trim) {
        Ok("0") => "scheduler: kernel.sched_autogroup_enabled = 0; the hashing threads' nice value puts them behind every other process".into(),
        Ok(on) => format!("scheduler: kernel.sched_autogroup_enabled = {on}; PostgreSQL's backends (a session each) compete with the instances' hashing as equals, whatever its nice value"),
        Err(_) => "scheduler: no autogroup (kernel.sched_autogroup_enabled absent)".into(),
    }
}
