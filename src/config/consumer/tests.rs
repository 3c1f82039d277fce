use super::*;

#[test]
fn instances_split_partitions_without_overlap() {
    let configs: Vec<ConsumerConfig> = (0..3)
        .map(|instance| ConsumerConfig {
            instance,
            instances: 3,
            ..Default::default()
        })
        .collect();
    for p in 0..12 {
        let owners = configs.iter().filter(|c| c.owns(p)).count();
        assert_eq!(owners, 1, "partition {p}");
    }
    assert!(ConsumerConfig::default().owns(7));
    let bad = ConsumerConfig {
        instance: 3,
        instances: 3,
        ..Default::default()
    };
    assert_eq!(bad.check().unwrap_err().0, "consumer.instance");
}

#[test]
fn group_is_the_default_and_a_share_of_the_partitions_means_static() {
    assert_eq!(ConsumerConfig::default().mode(), AssignmentMode::Group);
    let split = ConsumerConfig {
        instances: 2,
        ..Default::default()
    };
    assert_eq!(split.mode(), AssignmentMode::Static);
    split.check().unwrap();
    let contradiction = ConsumerConfig {
        assignment: Some(AssignmentMode::Group),
        instances: 2,
        ..Default::default()
    };
    assert_eq!(contradiction.check().unwrap_err().0, "consumer.instances");
    let unknown = ConsumerConfig {
        assignors: vec!["sticky-ish".into()],
        ..Default::default()
    };
    assert_eq!(unknown.check().unwrap_err().0, "consumer.assignors");
    let slow_heartbeat = ConsumerConfig {
        heartbeat_interval_ms: 10_000,
        ..Default::default()
    };
    assert_eq!(
        slow_heartbeat.check().unwrap_err().0,
        "consumer.heartbeat_interval_ms"
    );
    let empty_instance = ConsumerConfig {
        group_instance_id: Some(String::new()),
        ..Default::default()
    };
    assert_eq!(empty_instance.instance_id(), None);
}
