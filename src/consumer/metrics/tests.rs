use super::*;

#[test]
fn lag_is_listed_by_topic_and_partition_and_never_negative() {
    let m = ConsumerMetrics::default();
    m.set_lag("user.events", 1, 7);
    m.set_lag("user.events", 0, 3);
    m.set_lag("user.events", 0, -2); // a watermark read before the last commit
    assert_eq!(m.lag(), BTreeMap::from([(0, 0), (1, 7)]));
    let mut out = String::new();
    m.render(&mut out);
    for line in [
        "# TYPE usercenter_consumer_lag gauge\n",
        "usercenter_consumer_lag{topic=\"user.events\",partition=\"0\"} 0\n",
        "usercenter_consumer_lag{topic=\"user.events\",partition=\"1\"} 7\n",
    ] {
        assert!(out.contains(line), "{line} in\n{out}");
    }
}
