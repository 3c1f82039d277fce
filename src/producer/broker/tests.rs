use super::*;
use crate::kafka::error_code::ErrorCode;

#[test]
fn offsets_count_from_the_base_or_are_unknown_for_a_duplicate() {
    assert_eq!(offsets(Some(7), 3), vec![7, 8, 9]);
    assert_eq!(offsets(None, 2), vec![-1, -1]);
}

#[test]
fn too_large_answers_are_split_everything_else_is_final() {
    for too_large in [
        ResponseError::MessageTooLarge,
        ResponseError::RecordListTooLarge,
    ] {
        let code = ErrorCode::of(too_large);
        assert!(matches!(
            transport_error(WriteError::Rejected { code }, Some(Vec::new())),
            TransportError::TooLarge {
                records: Some(_),
                ..
            }
        ));
    }
    assert!(matches!(
        transport_error(
            WriteError::Rejected {
                code: ErrorCode::of(ResponseError::CorruptMessage)
            },
            None
        ),
        TransportError::Final(_)
    ));
    assert!(matches!(
        transport_error(WriteError::Closed, None),
        TransportError::Final(_)
    ));
}
