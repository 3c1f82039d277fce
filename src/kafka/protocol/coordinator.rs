//! Finding and inspecting groups: FindCoordinator, DescribeGroups, ListGroups.
//!
//! FindCoordinator changed shape at version 4 (a batch of keys, a list of coordinators);
//! [`FindCoordinator::found`] reads either shape.
use kafka_protocol::{
    messages::{
        DescribeGroupsRequest, DescribeGroupsResponse, FindCoordinatorRequest,
        FindCoordinatorResponse, GroupId, ListGroupsRequest, ListGroupsResponse,
    },
    protocol::StrBytes,
};
use rskafka::protocol::api_key::ApiKey;

use super::adapter::Call;
use crate::kafka::error_code::ErrorCode;

/// The kind of coordinator to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoordinatorType {
    /// A consumer group's coordinator.
    Group,
    /// A transactional id's coordinator.
    Transaction,
}

/// Which broker coordinates `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindCoordinator {
    /// The group id (or transactional id).
    pub key: String,
    /// What `key` names.
    pub key_type: CoordinatorType,
}

/// A coordinator from a FindCoordinator answer, whichever its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundCoordinator {
    /// The error code (NONE: found).
    pub error_code: ErrorCode,
    /// The broker's node id.
    pub node_id: i32,
    /// The broker's `host:port`.
    pub addr: String,
}

impl Call for FindCoordinator {
    type Request = FindCoordinatorRequest;
    type Response = FindCoordinatorResponse;
    const KEY: ApiKey = ApiKey::FindCoordinator;
    const VERSIONS: (i16, i16) = (0, 6);
    const FIRST_FLEXIBLE: i16 = 3;
    const CLIENT_THROTTLES_FROM: i16 = 2;

    fn throttle_ms(response: &Self::Response) -> i32 {
        response.throttle_time_ms
    }

    fn build(&self, version: i16) -> FindCoordinatorRequest {
        let key = StrBytes::from_string(self.key.clone());
        let mut request = FindCoordinatorRequest::default();
        if version >= 1 {
            request = request.with_key_type(match self.key_type {
                CoordinatorType::Group => 0,
                CoordinatorType::Transaction => 1,
            });
        }
        if version >= 4 {
            request.with_coordinator_keys(vec![key])
        } else {
            request.with_key(key)
        }
    }
}

impl FindCoordinator {
    /// The coordinator in `response` (from version 4 on, the first of the list).
    pub fn found(response: &FindCoordinatorResponse, version: i16) -> Option<FoundCoordinator> {
        if version >= 4 {
            response.coordinators.first().map(|c| FoundCoordinator {
                error_code: ErrorCode::new(c.error_code),
                node_id: c.node_id.0,
                addr: format!("{}:{}", c.host.as_str(), c.port),
            })
        } else {
            Some(FoundCoordinator {
                error_code: ErrorCode::new(response.error_code),
                node_id: response.node_id.0,
                addr: format!("{}:{}", response.host.as_str(), response.port),
            })
        }
    }
}

/// The state and members of groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeGroups {
    /// The group ids.
    pub groups: Vec<String>,
}

impl Call for DescribeGroups {
    type Request = DescribeGroupsRequest;
    type Response = DescribeGroupsResponse;
    const KEY: ApiKey = ApiKey::DescribeGroups;
    const VERSIONS: (i16, i16) = (0, 6);
    const FIRST_FLEXIBLE: i16 = 5;
    const CLIENT_THROTTLES_FROM: i16 = 2;

    fn throttle_ms(response: &Self::Response) -> i32 {
        response.throttle_time_ms
    }

    fn build(&self, _version: i16) -> DescribeGroupsRequest {
        DescribeGroupsRequest::default().with_groups(group_ids(&self.groups))
    }
}

/// The groups a broker coordinates, optionally only those in some states (version 4 and later;
/// older versions list every group).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListGroups {
    /// Group states to keep (`Stable`, `Empty`...); empty: all.
    pub states: Vec<String>,
}

impl Call for ListGroups {
    type Request = ListGroupsRequest;
    type Response = ListGroupsResponse;
    const KEY: ApiKey = ApiKey::ListGroups;
    const VERSIONS: (i16, i16) = (0, 5);
    const FIRST_FLEXIBLE: i16 = 3;
    const CLIENT_THROTTLES_FROM: i16 = 2;

    fn throttle_ms(response: &Self::Response) -> i32 {
        response.throttle_time_ms
    }

    fn build(&self, version: i16) -> ListGroupsRequest {
        let request = ListGroupsRequest::default();
        if version >= 4 {
            request.with_states_filter(
                self.states
                    .iter()
                    .map(|s| StrBytes::from_string(s.clone()))
                    .collect(),
            )
        } else {
            request
        }
    }
}

pub(super) fn group_id(id: &str) -> GroupId {
    GroupId(StrBytes::from_string(id.to_owned()))
}

fn group_ids(ids: &[String]) -> Vec<GroupId> {
    ids.iter().map(|id| group_id(id)).collect()
}

#[cfg(test)]
mod tests;
