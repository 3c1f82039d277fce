use super::*;

#[test]
fn rules() {
    assert!(username("ada_l.1").is_ok());
    for bad in [
        "ab",
        "a b c",
        "x'; DROP TABLE users;--",
        "ü-name",
        &"a".repeat(33),
    ] {
        assert!(username(bad).is_err(), "{bad}");
    }
    assert!(email("ada@example.com").is_ok());
    for bad in [
        "ada",
        "@x.com",
        "ada@x",
        "a b@x.com",
        "ada@x.com\u{0}",
        "a@@x.com",
    ] {
        assert!(email(bad).is_err(), "{bad}");
    }
    assert!(password("password", "12345678").is_ok());
    assert!(password("password", "short").is_err());
    assert!(nickname("Ada 🚀").is_ok());
    assert!(nickname("bell\u{7}").is_err());
    assert!(avatar_url("https://x/y.png").is_ok());
    assert!(avatar_url("javascript:alert(1)").is_err());
}
