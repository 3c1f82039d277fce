use super::*;
use crate::producer::mock::server_error;

fn server(e: ProtocolError) -> TransportError {
    server_error(e).into()
}

#[test]
fn classification() {
    assert_eq!(
        classify(&server(ProtocolError::MessageTooLarge)),
        Class::TooLarge
    );
    assert_eq!(
        classify(&server(ProtocolError::NotLeaderOrFollower)),
        Class::Retry
    );
    assert_eq!(
        classify(&server(ProtocolError::NotEnoughReplicas)),
        Class::Retry
    );
    assert_eq!(
        classify(&server(ProtocolError::TopicAuthorizationFailed)),
        Class::Fatal
    );
    assert_eq!(classify(&ClientError::Timeout.into()), Class::Retry);
    assert_eq!(
        classify(&ClientError::InvalidResponse("x".into()).into()),
        Class::Fatal
    );
    // A transport that retries by itself (the idempotent writer): split, or final.
    assert_eq!(
        classify(&TransportError::TooLarge("too large".into())),
        Class::TooLarge
    );
    assert_eq!(
        classify(&TransportError::Final("gave up".into())),
        Class::Fatal
    );
}

#[test]
fn jitter_stays_within_half_and_full() {
    for _ in 0..100 {
        let j = jitter(Duration::from_millis(100));
        assert!(
            j >= Duration::from_millis(50) && j <= Duration::from_millis(100),
            "{j:?}"
        );
    }
}

#[test]
fn merge_keeps_order() {
    let m = merge(
        Outcome::Delivered(vec![1, 2]),
        2,
        Outcome::Failed(ProduceError::Closed),
        3,
    );
    let Outcome::Mixed(r) = m else {
        panic!("mixed expected")
    };
    assert_eq!(r.len(), 5);
    assert_eq!(r[1].as_ref().ok(), Some(&2));
    assert!(r[2..].iter().all(Result::is_err));
}
