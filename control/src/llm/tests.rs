use cxb_model::{ProviderEndpoint, ProviderKind};
use serde_json::json;

use super::fake::{Canned, FakeServer};
use super::*;

fn req(cache: bool) -> LlmRequest {
    LlmRequest {
        model: String::new(),
        system: "Classify the call. Answer with a JSON object.".into(),
        user: "Caller: I want to book".into(),
        cache_key: cache.then(|| "cxb-sales-v1".to_owned()),
        temperature: Some(0.0),
        max_tokens: 0,
    }
}

fn endpoint(kind: ProviderKind, url: String) -> ProviderEndpoint {
    ProviderEndpoint {
        kind,
        base_url: url,
        api_key: Some("sk-test".into()),
    }
}

fn openai_ok() -> Canned {
    Canned::json(
        200,
        json!({
            "id": "chatcmpl-1", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "{\"disposition\":\"interested\"}"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1200, "completion_tokens": 15, "total_tokens": 1215,
                      "prompt_tokens_details": {"cached_tokens": 1024}}
        }),
    )
}

fn anthropic_ok(text: &str) -> Canned {
    Canned::json(
        200,
        json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-latest",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 40, "output_tokens": 12, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 1500}
        }),
    )
}

#[tokio::test]
async fn openai_json_object_with_cached_tokens() {
    let srv = FakeServer::start(vec![openai_ok()], Canned::text(500, "unexpected")).await;
    let http = reqwest::Client::new();
    let out = complete_json(
        &http,
        &endpoint(ProviderKind::Openai, format!("{}/v1", srv.url())),
        &req(true),
    )
    .await
    .unwrap();
    assert_eq!(out.json, json!({"disposition": "interested"}));
    assert_eq!(
        out.usage,
        Usage {
            cached_read: 1024,
            cache_created: 0,
            fresh: 176,
            completion: 15
        }
    );
    let seen = srv.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri.path(), "/v1/chat/completions");
    assert_eq!(seen[0].header("authorization").as_deref(), Some("Bearer sk-test"));
    let body = seen[0].json();
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    assert_eq!(body["model"], OPENAI_DEFAULT_MODEL);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][1]["content"], "Caller: I want to book");
    assert_eq!(body["prompt_cache_key"], "cxb-sales-v1");
}

#[tokio::test]
async fn anthropic_cache_control_and_usage() {
    let srv = FakeServer::start(
        vec![
            anthropic_ok("```json\n{\"disposition\": \"callback\"}\n```"),
            anthropic_ok("{\"a\":1}"),
        ],
        Canned::text(500, "unexpected"),
    )
    .await;
    let http = reqwest::Client::new();
    let ep = endpoint(ProviderKind::Anthropic, srv.url());
    let out = complete_json(&http, &ep, &req(true)).await.unwrap();
    assert_eq!(out.json, json!({"disposition": "callback"}));
    assert_eq!(
        out.usage,
        Usage {
            cached_read: 1500,
            cache_created: 0,
            fresh: 40,
            completion: 12
        }
    );
    let _ = complete_json(&http, &ep, &req(false)).await.unwrap();
    let seen = srv.seen();
    assert_eq!(seen[0].uri.path(), "/v1/messages");
    assert_eq!(seen[0].header("x-api-key").as_deref(), Some("sk-test"));
    assert_eq!(seen[0].header("anthropic-version").as_deref(), Some("2023-06-01"));
    let body = seen[0].json();
    assert_eq!(body["system"][0]["cache_control"], json!({"type": "ephemeral"}));
    assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
    assert_eq!(body["messages"][0]["role"], "user");
    assert!(
        seen[1].json()["system"][0].get("cache_control").is_none(),
        "no cache hint when disabled"
    );
}

#[tokio::test]
async fn server_errors_rate_limits_and_garbage() {
    let srv = FakeServer::start(
        vec![
            Canned::text(500, "{\"error\":\"boom\"}"),
            Canned {
                headers: vec![("retry-after", "7".into())],
                ..Canned::text(429, "{}")
            },
            Canned::text(200, "not json at all"),
            Canned::json(
                200,
                json!({"choices": [{"message": {"content": "I think it went well."}}]}),
            ),
            Canned::json(200, json!({"choices": []})),
            Canned::text(401, "bad key"),
        ],
        Canned::text(500, "unexpected"),
    )
    .await;
    let http = reqwest::Client::new();
    let ep = endpoint(ProviderKind::Openai, srv.url());
    let e = complete_json(&http, &ep, &req(false)).await.unwrap_err();
    assert!(
        matches!(e, LlmError::Status { status: 500, .. }) && e.is_retryable(),
        "{e}"
    );
    let e = complete_json(&http, &ep, &req(false)).await.unwrap_err();
    assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(7)));
    assert!(e.is_retryable());
    let e = complete_json(&http, &ep, &req(false)).await.unwrap_err();
    assert!(matches!(e, LlmError::Malformed { .. }), "{e}");
    let e = complete_json(&http, &ep, &req(false)).await.unwrap_err();
    assert!(matches!(e, LlmError::NotJson { .. }), "{e}");
    let e = complete_json(&http, &ep, &req(false)).await.unwrap_err();
    assert!(matches!(e, LlmError::Malformed { .. }), "{e}");
    let e = complete_json(&http, &ep, &req(false)).await.unwrap_err();
    assert!(
        matches!(e, LlmError::Status { status: 401, .. }) && !e.is_retryable(),
        "{e}"
    );
    let ep = endpoint(ProviderKind::Anthropic, srv.url());
    let e = complete_json(&http, &ep, &req(false)).await.unwrap_err();
    assert!(matches!(e, LlmError::Status { status: 500, .. }), "{e}");
}

#[tokio::test]
async fn unsupported_and_unreachable() {
    let http = reqwest::Client::new();
    let e = complete_json(&http, &endpoint(ProviderKind::Embedded, String::new()), &req(false))
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Unsupported(ProviderKind::Embedded)));
    // A port nobody listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let e = complete_json(&http, &endpoint(ProviderKind::Openai, url), &req(false))
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Transport { .. }) && e.is_retryable(), "{e}");
}

#[test]
fn parse_object_variants() {
    assert_eq!(parse_object("x", " {\"a\": 1} ").unwrap(), json!({"a": 1}));
    assert_eq!(
        parse_object("x", "Sure! {\"a\": {\"b\": 2}} Done.").unwrap(),
        json!({"a": {"b": 2}})
    );
    assert!(parse_object("x", "[1,2]").is_err());
    assert!(parse_object("x", "} {").is_err());
}
