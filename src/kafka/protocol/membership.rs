//! Group membership in the classic group protocol: JoinGroup, SyncGroup, Heartbeat, LeaveGroup.
//!
//! Each request is built for the negotiated version: fields a version lacks (rebalance timeout
//! before v1, static membership before v3/v5, reasons before v5/v8) are left out.
use bytes::Bytes;
use kafka_protocol::{
    messages::{
        HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
        LeaveGroupRequest, LeaveGroupResponse, SyncGroupRequest, SyncGroupResponse,
        join_group_request::JoinGroupRequestProtocol, leave_group_request::MemberIdentity,
        sync_group_request::SyncGroupRequestAssignment,
    },
    protocol::StrBytes,
};
use rskafka::protocol::api_key::ApiKey;

use super::{adapter::Call, coordinator::group_id};

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// Joins (or rejoins) a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroup {
    /// The group id.
    pub group_id: String,
    /// Without a heartbeat for this long the member is removed.
    pub session_timeout_ms: i32,
    /// How long the coordinator waits for members to rejoin in a rebalance (v1 and later).
    pub rebalance_timeout_ms: i32,
    /// Our member id; empty on the first join (v4 and later answer 79 with one to use).
    pub member_id: String,
    /// Static membership id (v5 and later).
    pub group_instance_id: Option<String>,
    /// `consumer` for consumer groups.
    pub protocol_type: String,
    /// Assignor names and their subscription metadata, in order of preference.
    pub protocols: Vec<(String, Bytes)>,
    /// Why we join (v8 and later).
    pub reason: Option<String>,
}

impl Call for JoinGroup {
    type Request = JoinGroupRequest;
    type Response = JoinGroupResponse;
    const KEY: ApiKey = ApiKey::JoinGroup;
    const VERSIONS: (i16, i16) = (0, 9);
    const FIRST_FLEXIBLE: i16 = 6;
    const CLIENT_THROTTLES_FROM: i16 = 3;

    fn throttle_ms(response: &Self::Response) -> i32 {
        response.throttle_time_ms
    }

    fn build(&self, version: i16) -> JoinGroupRequest {
        let mut request = JoinGroupRequest::default()
            .with_group_id(group_id(&self.group_id))
            .with_session_timeout_ms(self.session_timeout_ms)
            .with_member_id(text(&self.member_id))
            .with_protocol_type(text(&self.protocol_type))
            .with_protocols(
                self.protocols
                    .iter()
                    .map(|(name, metadata)| {
                        JoinGroupRequestProtocol::default()
                            .with_name(text(name))
                            .with_metadata(metadata.clone())
                    })
                    .collect(),
            );
        if version >= 1 {
            request = request.with_rebalance_timeout_ms(self.rebalance_timeout_ms);
        }
        if version >= 5 {
            request = request.with_group_instance_id(self.group_instance_id.as_deref().map(text));
        } else if let Some(instance) = &self.group_instance_id {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                tracing::warn!(group_instance_id = %instance, join_group_version = version, "group: the broker predates static membership (Kafka 2.3, JoinGroup v5): this member joins as a dynamic one, and a restart moves its partitions");
            });
        }
        if version >= 8 {
            request = request.with_reason(self.reason.as_deref().map(text));
        }
        request
    }
}

/// Sends the leader's assignment (or, from followers, nothing) and receives ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroup {
    /// The group id.
    pub group_id: String,
    /// The generation from JoinGroup.
    pub generation_id: i32,
    /// Our member id.
    pub member_id: String,
    /// Static membership id (v3 and later).
    pub group_instance_id: Option<String>,
    /// The protocol type from JoinGroup (v5 and later).
    pub protocol_type: Option<String>,
    /// The chosen assignor from JoinGroup (v5 and later).
    pub protocol_name: Option<String>,
    /// The leader's assignment per member; empty from followers.
    pub assignments: Vec<(String, Bytes)>,
}

impl Call for SyncGroup {
    type Request = SyncGroupRequest;
    type Response = SyncGroupResponse;
    const KEY: ApiKey = ApiKey::SyncGroup;
    const VERSIONS: (i16, i16) = (0, 5);
    const FIRST_FLEXIBLE: i16 = 4;
    const CLIENT_THROTTLES_FROM: i16 = 2;

    fn throttle_ms(response: &Self::Response) -> i32 {
        response.throttle_time_ms
    }

    fn build(&self, version: i16) -> SyncGroupRequest {
        let mut request = SyncGroupRequest::default()
            .with_group_id(group_id(&self.group_id))
            .with_generation_id(self.generation_id)
            .with_member_id(text(&self.member_id))
            .with_assignments(
                self.assignments
                    .iter()
                    .map(|(member, assignment)| {
                        SyncGroupRequestAssignment::default()
                            .with_member_id(text(member))
                            .with_assignment(assignment.clone())
                    })
                    .collect(),
            );
        if version >= 3 {
            request = request.with_group_instance_id(self.group_instance_id.as_deref().map(text));
        }
        if version >= 5 {
            request = request
                .with_protocol_type(self.protocol_type.as_deref().map(text))
                .with_protocol_name(self.protocol_name.as_deref().map(text));
        }
        request
    }
}

/// Keeps a member alive; the answer says when a rebalance has started (27).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// The group id.
    pub group_id: String,
    /// The current generation.
    pub generation_id: i32,
    /// Our member id.
    pub member_id: String,
    /// Static membership id (v3 and later).
    pub group_instance_id: Option<String>,
}

impl Call for Heartbeat {
    type Request = HeartbeatRequest;
    type Response = HeartbeatResponse;
    const KEY: ApiKey = ApiKey::Heartbeat;
    const VERSIONS: (i16, i16) = (0, 4);
    const FIRST_FLEXIBLE: i16 = 4;
    const CLIENT_THROTTLES_FROM: i16 = 2;

    fn throttle_ms(response: &Self::Response) -> i32 {
        response.throttle_time_ms
    }

    fn build(&self, version: i16) -> HeartbeatRequest {
        let request = HeartbeatRequest::default()
            .with_group_id(group_id(&self.group_id))
            .with_generation_id(self.generation_id)
            .with_member_id(text(&self.member_id));
        if version >= 3 {
            request.with_group_instance_id(self.group_instance_id.as_deref().map(text))
        } else {
            request
        }
    }
}

/// Leaves a group (so the others rebalance at once instead of after the session timeout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroup {
    /// The group id.
    pub group_id: String,
    /// Our member id.
    pub member_id: String,
    /// Static membership id (v3 and later).
    pub group_instance_id: Option<String>,
    /// Why we leave (v5 and later).
    pub reason: Option<String>,
}

impl Call for LeaveGroup {
    type Request = LeaveGroupRequest;
    type Response = LeaveGroupResponse;
    const KEY: ApiKey = ApiKey::LeaveGroup;
    const VERSIONS: (i16, i16) = (0, 5);
    const FIRST_FLEXIBLE: i16 = 4;
    const CLIENT_THROTTLES_FROM: i16 = 2;

    fn throttle_ms(response: &Self::Response) -> i32 {
        response.throttle_time_ms
    }

    fn build(&self, version: i16) -> LeaveGroupRequest {
        let request = LeaveGroupRequest::default().with_group_id(group_id(&self.group_id));
        if version < 3 {
            return request.with_member_id(text(&self.member_id));
        }
        let mut member = MemberIdentity::default()
            .with_member_id(text(&self.member_id))
            .with_group_instance_id(self.group_instance_id.as_deref().map(text));
        if version >= 5 {
            member = member.with_reason(self.reason.as_deref().map(text));
        }
        request.with_members(vec![member])
    }
}

#[cfg(test)]
mod tests;
