use super::*;

#[test]
fn histogram_buckets_and_quantiles() {
    static BOUNDS: [f64; 3] = [1.0, 10.0, 100.0];
    let h = Histogram::new(&BOUNDS);
    for v in [0.5, 5.0, 5.0, 50.0, 500.0] {
        h.observe(v);
    }
    assert_eq!(h.count(), 5);
    assert_eq!(h.quantile(0.5), 10.0);
    assert_eq!(h.quantile(0.8), 100.0);
    assert!(h.quantile(1.0).is_infinite());
    let mut out = String::new();
    h.render(&mut out, "x", "test");
    assert!(out.contains("x_bucket{le=\"10\"} 3"), "{out}");
    assert!(out.contains("x_bucket{le=\"+Inf\"} 5"), "{out}");
    assert!(out.contains("x_count 5"), "{out}");
}
