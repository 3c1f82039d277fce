//! A run of heartbeats: what keeps a member's session while its generation is stable or while
//! it gives partitions up, and how the run ended.
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::MemberConfig;
use crate::kafka::{
    error_code::{ErrorCode, ResponseError},
    group::coordinator_link::{CoordinatorLink, Membership, generation_lost},
    protocol::Heartbeat,
};

/// What a run of heartbeats is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Beat {
    /// A stable generation: a rebalance ends it.
    Stable,
    /// Keeping the session while partitions are given up, which may take longer than a
    /// session: the coordinator takes a heartbeat it answers with REBALANCE_IN_PROGRESS as
    /// contact too, as Kafka's does.
    Revoking,
}

/// How a run of heartbeats ended.
pub(super) enum Ended {
    /// A rebalance started.
    Rejoin,
    /// Our generation is over (or the coordinator went silent for a session).
    Lost,
    /// Another process joined the group with our static instance id.
    Fenced,
    /// Shutdown.
    Cancelled,
}

/// What [`confirm`] heard: we are still in our generation.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Confirmed {
    /// Stable.
    Stable,
    /// A rebalance has begun: the coordinator expects our JoinGroup, within its rebalance
    /// timeout.
    Rebalancing,
}

/// Heartbeats until the coordinator answers whether it still counts us in our generation,
/// trying again while it moved or the wire fails, for at most `within`: [`Confirmed`], else
/// how the generation ended: [`Ended::Fenced`], or [`Ended::Lost`] when it is over, or when
/// no answer came in time (then our partitions may be another member's).
pub(super) async fn confirm(
    link: &CoordinatorLink,
    within: std::time::Duration,
) -> Result<Confirmed, Ended> {
    let deadline = tokio::time::Instant::now() + within;
    // A failed try is said once; the next ones, 100 ms apart, at DEBUG.
    let mut said = false;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let request = request(link);
        let sent = tokio::time::Instant::now();
        let answer = tokio::time::timeout(left, link.call_within(&request, left)).await;
        match answer.map(|a| a.map(|a| ErrorCode::new(a.error_code))) {
            Ok(Ok(ErrorCode::NONE)) => {
                link.note_heartbeat_answered(request.generation_id, sent);
                return Ok(Confirmed::Stable);
            }
            Ok(Ok(c)) if c.error() == Some(ResponseError::RebalanceInProgress) => {
                return Ok(Confirmed::Rebalancing);
            }
            Ok(Ok(c)) => {
                if let Some(ended) = ending(link, c) {
                    return Err(ended);
                }
                let _ = link.failed::<()>("Heartbeat", c);
                if !std::mem::replace(&mut said, true) {
                    warn!(group = %link.group_id, code = %c, "group: the heartbeat checking an assignment read late was refused; asking again");
                }
            }
            Ok(Err(error)) => {
                if !std::mem::replace(&mut said, true) {
                    warn!(group = %link.group_id, %error, "group: the heartbeat checking an assignment read late failed; asking again");
                } else {
                    debug!(group = %link.group_id, %error, "group: the heartbeat checking an assignment read late failed again");
                }
            }
            Err(_) => {}
        }
        if tokio::time::Instant::now() + CONFIRM_BACKOFF >= deadline {
            warn!(group = %link.group_id, "group: no answer on an assignment read late; taking its generation as over");
            return Err(Ended::Lost);
        }
        tokio::time::sleep(CONFIRM_BACKOFF).await;
    }
}

/// The pause between two [`confirm`] heartbeats that went unanswered or were refused.
const CONFIRM_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// Heartbeats until the generation ends (or, while [`Beat::Stable`], until a rebalance).
/// `last_ok`: when the session was last known alive (the send of the last heartbeat answered),
/// kept up to date as heartbeats are answered.
pub(super) async fn heartbeat(
    link: &CoordinatorLink,
    config: &MemberConfig,
    cancel: &CancellationToken,
    purpose: Beat,
    last_ok: &mut tokio::time::Instant,
) -> Ended {
    loop {
        // The next heartbeat, or the end of the session when that comes first, or at once when
        // another answer suggested our generation is over.
        let session_left = config.session_timeout.saturating_sub(last_ok.elapsed());
        tokio::select! {
            () = tokio::time::sleep(config.heartbeat_interval.min(session_left)) => {}
            () = link.check_now.notified() => {}
            () = cancel.cancelled() => return Ended::Cancelled,
        }
        let request = request(link);
        let generation = request.generation_id;
        // The session lasts a session timeout from the last heartbeat the coordinator took,
        // which it took after we sent it: a session counted from the send, and the wait for
        // this answer bounded by what is left of it, so that a silent coordinator is noticed
        // when the session is gone there, not a whole session timeout later.
        let sent = tokio::time::Instant::now();
        let left = config.session_timeout.saturating_sub(last_ok.elapsed());
        // The coordinator's lookup, when it moved or its connection failed, counts too.
        let answer = tokio::time::timeout(left, link.call_within(&request, left)).await;
        match answer.map(|a| a.map(|a| ErrorCode::new(a.error_code))) {
            Ok(Ok(ErrorCode::NONE)) => {
                *last_ok = sent;
                link.note_heartbeat_answered(generation, sent);
            }
            Ok(Ok(c)) if c.error() == Some(ResponseError::RebalanceInProgress) => {
                if purpose == Beat::Stable {
                    return Ended::Rejoin;
                }
                *last_ok = sent;
            }
            Ok(Ok(c)) => {
                if let Some(ended) = ending(link, c) {
                    return ended;
                }
                let _ = link.failed::<()>("Heartbeat", c);
                warn!(group = %link.group_id, code = %c, "group: heartbeat refused");
            }
            Ok(Err(error)) => warn!(group = %link.group_id, %error, "group: heartbeat failed"),
            Err(_) => {
                warn!(group = %link.group_id, "group: heartbeat not answered within the session")
            }
        }
        if last_ok.elapsed() >= config.session_timeout {
            warn!(group = %link.group_id, "group: no heartbeat answered for a session timeout");
            return Ended::Lost;
        }
    }
}

/// How a heartbeat answered `code` ends our generation, if it does: [`Ended::Fenced`] (another
/// process has our static instance id), or [`Ended::Lost`] (the coordinator forgot our member
/// id, which the next join then goes without, or the generation moved on).
fn ending(link: &CoordinatorLink, code: ErrorCode) -> Option<Ended> {
    if code.error() == Some(ResponseError::FencedInstanceId) {
        return Some(Ended::Fenced);
    }
    if !generation_lost(code) {
        return None;
    }
    warn!(group = %link.group_id, %code, "group: generation lost");
    if code.error() == Some(ResponseError::UnknownMemberId) {
        link.set_membership(Membership::default());
    }
    Some(Ended::Lost)
}

/// A heartbeat of our membership now.
fn request(link: &CoordinatorLink) -> Heartbeat {
    let m = link.membership();
    Heartbeat {
        group_id: link.group_id.clone(),
        generation_id: m.generation,
        member_id: m.member_id,
        group_instance_id: link.instance_id.clone(),
    }
}
