#[test]
fn cpu_seconds_grow_with_work() {
    let before = super::cpu_seconds();
    let mut x = 0u64;
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_millis(300) {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
    }
    std::hint::black_box(x);
    assert!(super::cpu_seconds() > before, "300 ms of spinning shows up");
}
