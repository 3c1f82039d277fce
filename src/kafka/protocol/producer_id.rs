//! InitProducerId: the producer id and epoch an idempotent producer writes under.
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};
use rskafka::protocol::api_key::ApiKey;

use super::adapter::Call;
use crate::kafka::error_code::ErrorCode;

/// A producer id and epoch, as the broker handed them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerIdentity {
    /// The producer id.
    pub id: i64,
    /// The epoch.
    pub epoch: i16,
}

impl ProducerIdentity {
    /// No producer id (−1): batches without idempotence, whose sequences the broker ignores.
    pub const NONE: Self = Self { id: -1, epoch: -1 };

    /// Whether this is [`ProducerIdentity::NONE`] (any negative id).
    pub const fn is_none(self) -> bool {
        self.id < 0
    }
}

/// Asks for a producer id: a fresh one, or (`current` set, version 3 and later, KIP-360) the
/// next epoch of the one we have. Never transactional: a transactional id is always null.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InitProducerId {
    /// The identity to bump, if any. Versions below 3 cannot carry it and ask for a new id.
    pub current: Option<ProducerIdentity>,
}

impl Call for InitProducerId {
    type Request = InitProducerIdRequest;
    type Response = InitProducerIdResponse;
    const KEY: ApiKey = ApiKey::InitProducerId;
    const VERSIONS: (i16, i16) = (0, 5);
    const FIRST_FLEXIBLE: i16 = 2;
    const CLIENT_THROTTLES_FROM: i16 = 1;

    fn throttle_ms(response: &Self::Response) -> i32 {
        response.throttle_time_ms
    }

    fn build(&self, version: i16) -> InitProducerIdRequest {
        // The default has `transactional_id: Some("")`, which brokers take as a transactional
        // id (Nisshi answers 53): it must be null. The timeout is the Java client's for a
        // producer without transactions.
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(i32::MAX);
        match self.current {
            Some(current) if version >= 3 => request
                .with_producer_id(current.id.into())
                .with_producer_epoch(current.epoch),
            _ => request,
        }
    }
}

impl InitProducerId {
    /// The identity in `response`, or its error code.
    pub fn identity(response: &InitProducerIdResponse) -> Result<ProducerIdentity, ErrorCode> {
        match ErrorCode::new(response.error_code) {
            ErrorCode::NONE => Ok(ProducerIdentity {
                id: response.producer_id.0,
                epoch: response.producer_epoch,
            }),
            code => Err(code),
        }
    }
}

#[cfg(test)]
mod tests;
