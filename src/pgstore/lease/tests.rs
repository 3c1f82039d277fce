use super::take::{holder_name, is_ours};

#[test]
fn every_session_has_a_name_of_its_own_that_its_process_knows_as_its_own() {
    let process = uuid::Uuid::new_v4();
    let other = uuid::Uuid::new_v4();
    let (first, second) = (holder_name(process), holder_name(process));
    assert_ne!(first, second, "a new name with every session");
    assert!(is_ours(process, first) && is_ours(process, second));
    assert!(!is_ours(other, first), "another process's name is not ours");
    assert!(!is_ours(process, holder_name(other)));
}
