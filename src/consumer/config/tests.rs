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
