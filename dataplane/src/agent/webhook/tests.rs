use serde_json::json;

use super::{MAX_RESULT, call_tool, merge_crm, prefetch, prefetch_for_call};
use crate::agent::api::ProviderErrorKind;
use crate::agent::fakes::{FakeServer, Reply};
use crate::agent::providers::HttpPool;
use crate::agent::providers::tests::{dead_url, run};
use cxb_model::{CrmPrefetch, HttpMethod, ToolCallStatus, ToolConfig};

fn tool(url: String, method: HttpMethod, timeout_ms: u32) -> ToolConfig {
    ToolConfig {
        name: "lookup".into(),
        description: String::new(),
        parameters: json!({"type": "object"}),
        url,
        method,
        timeout_ms,
        auth_header: Some("Bearer tool-secret".into()),
        filler_message: String::new(),
        filler_after_ms: 1000,
    }
}

#[test]
fn post_tool_sends_json_and_auth() {
    let fake = FakeServer::webhook(Reply::Json(json!({"balance": 12.5})));
    let out = run(call_tool(
        &HttpPool::default(),
        &tool(fake.url("/tools/lookup"), HttpMethod::Post, 2000),
        &json!({"account": "42"}),
    ));
    assert_eq!(out.status, ToolCallStatus::Ok);
    assert_eq!(out.result, json!({"balance": 12.5}));
    assert_eq!(out.llm_content(), r#"{"balance":12.5}"#);
    let r = &fake.requests()[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/tools/lookup"));
    assert_eq!(r.header("authorization"), Some("Bearer tool-secret"));
    assert_eq!(r.json(), json!({"account": "42"}));
    assert_eq!(r.version, "HTTP/1.1");
}

#[test]
fn get_tool_sends_query_params() {
    let fake = FakeServer::webhook(Reply::text(["plain answer"]));
    let url = format!("{}?static=1", fake.url("/q"));
    let out = run(call_tool(
        &HttpPool::default(),
        &tool(url, HttpMethod::Get, 2000),
        &json!({"name": "A B", "n": 3}),
    ));
    assert_eq!(out.status, ToolCallStatus::Ok);
    assert_eq!(out.result, json!({"text": "plain answer"}));
    let r = &fake.requests()[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.query, "static=1&n=3&name=A%20B");
}

#[test]
fn tool_failures_become_outcomes() {
    let fake = FakeServer::webhook(vec![Reply::Status(500), Reply::slow(1000, Reply::Json(json!({})))]);
    let pool = HttpPool::default();
    let out = run(call_tool(
        &pool,
        &tool(fake.url("/t"), HttpMethod::Put, 2000),
        &json!({}),
    ));
    assert_eq!(out.status, ToolCallStatus::Error);
    assert_eq!(out.result["error"], json!("HTTP 500"));
    let out = run(call_tool(
        &pool,
        &tool(fake.url("/t"), HttpMethod::Patch, 100),
        &json!({}),
    ));
    assert_eq!(out.status, ToolCallStatus::Timeout);
    assert!(out.duration.as_millis() < 900);
    let out = run(call_tool(&pool, &tool(dead_url(), HttpMethod::Post, 1000), &json!({})));
    assert_eq!(out.status, ToolCallStatus::Error);
    assert!(!out.llm_content().contains("tool-secret"));
}

#[test]
fn large_tool_responses_are_truncated() {
    let big = "x".repeat(100_000);
    let fake = FakeServer::webhook(Reply::text([big]));
    let out = run(call_tool(
        &HttpPool::default(),
        &tool(fake.url("/big"), HttpMethod::Post, 2000),
        &json!({}),
    ));
    assert_eq!(out.status, ToolCallStatus::Ok);
    assert_eq!(out.result["truncated"], json!(true));
    assert_eq!(out.result["text"].as_str().map(str::len), Some(MAX_RESULT));
}

#[test]
fn prefetch_returns_the_crm_object() {
    let fake = FakeServer::webhook(vec![
        Reply::Json(json!({"name": "Ada", "tier": {"level": 2}})),
        Reply::Json(json!([1, 2])),
        Reply::slow(2000, Reply::Json(json!({}))),
        Reply::Status(404),
    ]);
    let pool = HttpPool::default();
    // A timeout no loaded test machine reaches for the replies that come at once, and a short one
    // for the reply that must time out (far shorter than its delay).
    let crm = CrmPrefetch {
        url: String::new(),
        method: HttpMethod::Get,
        token: Some("crm-token".into()),
        timeout_ms: 5000,
    };
    let short = CrmPrefetch {
        timeout_ms: 300,
        ..crm.clone()
    };
    let url = fake.url("/crm?phone=%2B4930123");
    let m = run(prefetch(&pool, &crm, &url)).expect("crm");
    assert_eq!(m.get("name"), Some(&json!("Ada")));
    let r = &fake.requests()[0];
    assert_eq!(r.header("authorization"), Some("Bearer crm-token"));
    assert_eq!(r.query, "phone=%2B4930123");
    assert_eq!(
        run(prefetch(&pool, &crm, &url)).map_err(|e| e.kind),
        Err(ProviderErrorKind::Protocol)
    );
    assert_eq!(
        run(prefetch(&pool, &short, &url)).map_err(|e| e.kind),
        Err(ProviderErrorKind::Timeout)
    );
    let e = run(prefetch(&pool, &crm, &url)).expect_err("404");
    assert_eq!((e.kind, e.status), (ProviderErrorKind::Status, Some(404)));
}

#[test]
fn prefetch_for_call_renders_the_url_and_reports_the_outcome() {
    let fake = FakeServer::webhook(vec![
        Reply::Json(json!({"first_name": "Alice", "plan": "gold"})),
        Reply::Status(500),
    ]);
    let pool = HttpPool::default();
    let crm = CrmPrefetch {
        url: format!(
            "{}?phone={{{{call.from_number}}}}&id={{{{crm.customer_id}}}}&x={{{{call.nope}}}}",
            fake.url("/crm")
        ),
        method: HttpMethod::Get,
        token: Some("crm-token".into()),
        timeout_ms: 5000,
    };
    let mut ctx = cxb_model::template::TemplateContext::new();
    ctx.insert("call", json!({"from_number": "+15550100"}));
    ctx.insert("crm", json!({"customer_id": "c 7"}));
    let out = run(prefetch_for_call(&pool, &crm, &ctx));
    let fields = out.result.expect("crm answered");
    assert_eq!(out.unknown, vec!["call.nope"]);
    let r = &fake.requests()[0];
    assert_eq!(r.query, "phone=%2B15550100&id=c%207&x=");
    assert_eq!(r.header("authorization"), Some("Bearer crm-token"));
    // Pre-fetched fields win over dial variables of the same name.
    let mut vars = cxb_model::Variables::new();
    vars.insert("first_name".into(), json!("from-dialler"));
    vars.insert("campaign".into(), json!("spring"));
    assert_eq!(merge_crm(&mut vars, fields), 2);
    assert_eq!(vars["first_name"], json!("Alice"));
    assert_eq!(vars["campaign"], json!("spring"));
    // A failing CRM is an outcome whose message never holds the token.
    let out = run(prefetch_for_call(&pool, &crm, &ctx));
    let e = out.result.expect_err("500");
    assert_eq!(e.status, Some(500));
    assert!(!e.to_string().contains("crm-token"));
}
