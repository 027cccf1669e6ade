#![no_main]
//! Templates: arbitrary text rendered against a fixed context never panics; text without braces
//! renders verbatim; every unknown variable is one `variables` reports; `render_json` on the same
//! text agrees with `render` unless the text is a single whole variable.
use cxb_model::template::{TemplateContext, VarRef, render, render_json, variables};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut ctx = TemplateContext::new();
    ctx.insert(
        "crm",
        json!({"name": "Ada", "n": 3, "a": [1, {"b": null}], "o": {"x": true}}),
    );
    ctx.insert("call", json!({"number": "+4930123"}));
    let r = render(text, &ctx);
    if !text.contains('{') {
        assert_eq!(r.text, text);
    }
    let names: Vec<String> = variables(text).iter().map(VarRef::full_name).collect();
    for u in &r.unknown {
        assert!(names.contains(u), "unknown {u} not among variables");
    }
    let (v, _) = render_json(&Value::String(text.to_owned()), &ctx);
    if names.len() != 1
        && let Value::String(s) = v
    {
        assert_eq!(s, r.text);
    }
});
