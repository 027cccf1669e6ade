//! [`WidgetAccess`]: who may open a browser call to a bot through the web widget — the SHA-256 of
//! the widget key (never the key itself) and the page domains allowed to embed it — and the one
//! implementation of the key and `Origin` checks that control and the dataplane share.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::bot::validate_bot_id;
use crate::field::FieldError;

/// Most allowed domains per widget.
pub const MAX_DOMAINS: usize = 100;

/// An enabled widget as the dataplane sees it (part of the routing snapshot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WidgetAccess {
    /// The bot the widget calls.
    pub bot_id: String,
    /// Lowercase hex of the SHA-256 of the widget key.
    pub key_sha256: String,
    /// Page domains allowed to embed the widget (`example.com`, `*.example.com`), lowercase.
    #[serde(default)]
    pub allowed_domains: Vec<String>,
}

impl WidgetAccess {
    /// Access for `bot_id` with `key` (stored hashed) and `allowed_domains`.
    pub fn new(bot_id: impl Into<String>, key: &str, allowed_domains: Vec<String>) -> WidgetAccess {
        WidgetAccess {
            bot_id: bot_id.into(),
            key_sha256: key_sha256(key),
            allowed_domains,
        }
    }

    /// Checks the bot id, the hash's shape (64 lowercase hex digits) and every domain.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_bot_id(&self.bot_id, "bot_id")?;
        if self.key_sha256.len() != 64 || !self.key_sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(FieldError::new("key_sha256", "must be 64 lowercase hex digits"));
        }
        if self.allowed_domains.len() > MAX_DOMAINS {
            return Err(FieldError::new(
                "allowed_domains",
                format!("at most {MAX_DOMAINS} domains"),
            ));
        }
        for (i, d) in self.allowed_domains.iter().enumerate() {
            if !valid_domain(d) || d.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(FieldError::new(
                    format!("allowed_domains[{i}]"),
                    "must be a lowercase domain such as example.com or *.example.com",
                ));
            }
        }
        Ok(())
    }

    /// Whether `key` hashes to [`WidgetAccess::key_sha256`] (constant-time comparison).
    pub fn key_matches(&self, key: &str) -> bool {
        constant_time_eq(key_sha256(key).as_bytes(), self.key_sha256.as_bytes())
    }

    /// Whether the `Origin` header value is allowed (see [`origin_allowed`]).
    pub fn origin_allowed(&self, origin: &str) -> bool {
        origin_allowed(&self.allowed_domains, origin)
    }
}

/// Lowercase hex of the SHA-256 of `key`.
pub fn key_sha256(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Equality that takes the same time wherever the first difference is (lengths are not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether an `Origin` (`scheme://host[:port]`) has a host matching one of `domains`: `host`
/// exactly, or `*.host` for any subdomain of `host` (not `host` itself). Hosts compare
/// case-insensitively; `domains` are expected lowercase; a host with characters no DNS name has
/// is refused.
pub fn origin_allowed(domains: &[String], origin: &str) -> bool {
    let host = origin.split("://").nth(1).unwrap_or(origin);
    let host = host.split(['/', ':']).next().unwrap_or("").to_ascii_lowercase();
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return false;
    }
    domains.iter().any(|d| match d.strip_prefix("*.") {
        Some(base) => host
            .strip_suffix(base)
            .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
        None => host == *d,
    })
}

/// Whether `d` is a domain (`example.com`) or a wildcard over its subdomains (`*.example.com`):
/// labels of letters, digits and `-`, at most 63 characters each and 253 in all.
pub fn valid_domain(d: &str) -> bool {
    let base = d.strip_prefix("*.").unwrap_or(d);
    !base.is_empty()
        && base.len() <= 253
        && base
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_lowercase_hex_sha256() {
        assert_eq!(
            key_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn key_and_origin_checks() {
        let w = WidgetAccess::new("w", "wk_secret", vec!["shop.example.com".into(), "*.acme.io".into()]);
        w.validate().unwrap();
        assert!(w.key_matches("wk_secret"));
        assert!(!w.key_matches("wk_secreT"));
        assert!(!w.key_matches(""));
        assert!(w.origin_allowed("https://shop.example.com"));
        assert!(w.origin_allowed("https://SHOP.example.com:443"));
        assert!(w.origin_allowed("https://a.acme.io:8443"));
        assert!(!w.origin_allowed("https://\0e.acme.io"), "not a DNS name");
        assert!(!w.origin_allowed("https://a b.acme.io"), "not a DNS name");
        assert!(w.origin_allowed("http://b.a.acme.io/"));
        assert!(!w.origin_allowed("https://acme.io"), "a wildcard needs a subdomain");
        assert!(!w.origin_allowed("https://evilacme.io"));
        assert!(!w.origin_allowed("https://evil.com"));
        assert!(!w.origin_allowed("https://shop.example.com.evil.com"));
        assert!(!w.origin_allowed(""));
        assert!(!w.origin_allowed("null"));
    }

    #[test]
    fn validation_names_the_field() {
        let mut w = WidgetAccess::new("w", "k", vec!["ok.com".into(), "Bad Domain".into()]);
        assert_eq!(w.validate().unwrap_err().field, "allowed_domains[1]");
        w.allowed_domains.clear();
        w.key_sha256 = "the key".into();
        assert_eq!(w.validate().unwrap_err().field, "key_sha256");
        w.bot_id = String::new();
        assert_eq!(w.validate().unwrap_err().field, "bot_id");
    }

    #[test]
    fn domains() {
        assert!(valid_domain("example.com"));
        assert!(valid_domain("*.example.com"));
        assert!(valid_domain("localhost"));
        assert!(!valid_domain("https://bad/"));
        assert!(!valid_domain("*."));
        assert!(!valid_domain("a..b"));
    }
}
