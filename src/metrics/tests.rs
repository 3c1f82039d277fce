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

#[test]
fn tiny_observations_add_up_in_the_sum() {
    static BOUNDS: [f64; 1] = [1.0];
    let h = Histogram::new(&BOUNDS);
    for _ in 0..1000 {
        h.observe(1e-7);
    }
    assert!((h.sum() - 1e-4).abs() < 1e-9, "{}", h.sum());
}

#[test]
fn labelled_series_escape_their_values() {
    static BOUNDS: [f64; 1] = [0.5];
    let h = Histogram::new(&BOUNDS);
    h.observe(0.25);
    let mut out = String::new();
    h.render_series(&mut out, "x", &[("path", "a\"b\\c\nd")]);
    assert_eq!(
        out,
        "x_bucket{path=\"a\\\"b\\\\c\\nd\",le=\"0.5\"} 1\n\
         x_bucket{path=\"a\\\"b\\\\c\\nd\",le=\"+Inf\"} 1\n\
         x_sum{path=\"a\\\"b\\\\c\\nd\"} 0.25\n\
         x_count{path=\"a\\\"b\\\\c\\nd\"} 1\n"
    );
}
