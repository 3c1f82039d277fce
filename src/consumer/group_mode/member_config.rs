//! The group member's settings, from the consumer's `[consumer]` section.
use std::time::Duration;

use crate::consumer::partition::Context;
use crate::kafka::group::{MemberConfig, assign};

/// The member's settings from `[consumer]`.
pub(super) fn member_config(ctx: &Context) -> MemberConfig {
    let c = &ctx.config;
    MemberConfig {
        group_id: c.group_id.clone(),
        topic: ctx.topic.clone(),
        session_timeout: Duration::from_millis(u64::from(c.session_timeout_ms)),
        rebalance_timeout: Duration::from_millis(u64::from(c.rebalance_timeout_ms)),
        heartbeat_interval: Duration::from_millis(u64::from(c.heartbeat_interval_ms)),
        // `check` refused unknown names; an unknown one here is skipped.
        assignors: c
            .assignors
            .iter()
            .filter_map(|a| assign::by_name(a))
            .collect(),
        group_instance_id: c.instance_id().map(str::to_owned),
        metadata_refresh: Duration::from_secs(c.metadata_refresh_secs),
    }
}
