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

/// Invisible characters and direction overrides make one name or address read as another's:
/// refused in addresses and nicknames. An avatar URL needs a host and no user part, and holds
/// nothing a page or a fetcher would read as more than a URL.
#[test]
fn lookalikes_and_odd_urls_are_refused() {
    for c in ['\u{200B}', '\u{202E}', '\u{2066}', '\u{FEFF}', '\u{00AD}'] {
        assert!(email(&format!("admin{c}@corp.example")).is_err(), "{c:?}");
        assert!(nickname(&format!("{c}nimda")).is_err(), "{c:?}");
        assert!(avatar_url(&format!("https://x/{c}")).is_err(), "{c:?}");
    }
    // The joiners that emoji sequences and scripts need stay allowed.
    for good in ["Zoë 🚀 d'Arc", "👩\u{200D}💻", "می\u{200C}خواهم"] {
        assert!(nickname(good).is_ok(), "{good}");
    }
    for good in [
        "https://x",
        "https://cdn.example/u/x@2x.png?s=64#a",
        "http://x:8080/a",
    ] {
        assert!(avatar_url(good).is_ok(), "{good}");
    }
    for bad in [
        "https://",
        "https:///y.png",
        "https://user:pw@x/y.png",
        "https://x/\"onerror=\"alert(1)",
        "https://x/'",
        "https://x/<svg>",
        "https://x/a\\b",
        "https://x/`",
        "https://?x",
    ] {
        assert!(avatar_url(bad).is_err(), "{bad}");
    }
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
