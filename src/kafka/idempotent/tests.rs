use super::*;

#[test]
fn offsets_count_from_the_base_or_are_unknown_for_a_duplicate() {
    assert_eq!(offsets(Some(7), 3), vec![7, 8, 9]);
    assert_eq!(offsets(None, 2), vec![-1, -1]);
}

#[test]
fn too_large_answers_are_split_everything_else_is_final() {
    for code in TOO_LARGE {
        assert!(matches!(
            transport_error(WriteError::Rejected { code }, Some(Vec::new())),
            TransportError::TooLarge {
                records: Some(_),
                ..
            }
        ));
    }
    assert!(matches!(
        transport_error(WriteError::Rejected { code: 2 }, None),
        TransportError::Final(_)
    ));
    assert!(matches!(
        transport_error(WriteError::Closed, None),
        TransportError::Final(_)
    ));
}
