#![no_main]
//! The web widget's checks on untrusted browser input: any `Origin` header and any key against
//! fixed settings never panic; an origin that is allowed names an allowed host; only the right
//! key matches.
use cxb_model::widget::{WidgetAccess, origin_allowed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let domains = vec!["shop.example.com".to_owned(), "*.acme.io".to_owned()];
    let allowed = origin_allowed(&domains, text);
    if allowed {
        let lower = text.to_ascii_lowercase();
        assert!(lower.contains("shop.example.com") || lower.contains(".acme.io"), "{text:?}");
    }
    let access = WidgetAccess::new("demo", "the-right-key", domains);
    assert_eq!(access.key_matches(text), text == "the-right-key");
    let _ = access.origin_allowed(text);
});
