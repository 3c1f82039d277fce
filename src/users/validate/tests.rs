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

/// The OpenAPI document's `maxLength` of a schema line or block starting at `anchor`.
fn documented_max(anchor: &str) -> usize {
    let doc = crate::http::OPENAPI;
    let at = doc.find(anchor).expect("anchor in the OpenAPI document");
    let rest = &doc[at..];
    let n = rest
        .find("maxLength: ")
        .expect("maxLength after the anchor")
        + "maxLength: ".len();
    rest[n..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|d| d.parse().ok())
        .expect("a number")
}

/// The validators count characters as the document's `maxLength` does (JSON Schema counts
/// code points), not bytes: a value of exactly the documented length in 2- and 4-byte
/// characters is accepted, one more character is refused.
#[test]
fn lengths_are_characters_as_documented() {
    let email_max = documented_max("    Email:\n");
    assert_eq!(email_max, EMAIL_MAX_CHARS);
    let domain = "@example.com";
    for ch in ['é', '😀'] {
        let local = |n: usize| ch.to_string().repeat(n - domain.chars().count());
        let at_max = format!("{}{domain}", local(email_max));
        assert!(
            at_max.len() > email_max,
            "multi-byte: {} bytes",
            at_max.len()
        );
        assert!(email(&at_max).is_ok(), "{email_max} characters of {ch}");
        assert!(email(&format!("{}{domain}", local(email_max + 1))).is_err());
    }
    let avatar_max = documented_max("        avatar_url:");
    assert_eq!(avatar_max, AVATAR_URL_MAX_CHARS);
    let prefix = "https://x/";
    for ch in ['é', '😀'] {
        let url = |n: usize| format!("{prefix}{}", ch.to_string().repeat(n - prefix.len()));
        assert!(
            avatar_url(&url(avatar_max)).is_ok(),
            "{avatar_max} characters of {ch}"
        );
        assert!(avatar_url(&url(avatar_max + 1)).is_err());
    }
}
