use super::*;
use crate::store::StoreError;

fn failing() -> Reading {
    tokio::spawn(async { Err(StoreError::NotRun) })
}

fn reading() -> Reading {
    tokio::spawn(async { Ok(Scanned::none(0)) })
}

/// A holder steps aside only after its reads failed for [`STEP_ASIDE_AFTER`] in a row: a read
/// that works starts the count again.
#[tokio::test(start_paused = true)]
async fn a_holder_steps_aside_after_its_reads_failed_for_a_while() {
    let mut health = ReadHealth::default();
    health.rows(failing(), 0).await;
    assert!(!health.step_aside(), "one failure");
    tokio::time::advance(STEP_ASIDE_AFTER - Duration::from_secs(1)).await;
    health.rows(reading(), 0).await;
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(!health.step_aside(), "a read worked in between");
    health.rows(failing(), 0).await;
    tokio::time::advance(STEP_ASIDE_AFTER).await;
    health.rows(failing(), 0).await;
    assert!(health.step_aside());
    assert!(!health.step_aside(), "the count starts again");
}
