use std::time::Duration;

use cxb_model::{ProviderEndpoint, ProviderKind};
use serde_json::json;

use super::{collect, dead_url, fast, run, stage};
use crate::agent::api::{
    ChatMessage, ChatRequest, Llm, LlmEvent, LlmUsage, ProviderError, ProviderErrorKind, Role, ToolCall, ToolSpec,
};
use crate::agent::fakes::{FAKE_KEY, FakeServer, FakeUsage, Reply, Script};
use crate::agent::providers::{AnthropicLlm, HttpPool, OpenAiLlm};

fn request() -> ChatRequest {
    ChatRequest {
        model: String::new(),
        system: "You are a helpful bot.".into(),
        messages: vec![
            ChatMessage::text(Role::Assistant, "Hello, how can I help?"),
            ChatMessage::text(Role::User, "What is my balance?"),
        ],
        tools: vec![ToolSpec {
            name: "get_balance".into(),
            description: "Looks up the balance".into(),
            parameters: json!({"type": "object", "properties": {"account": {"type": "string"}}}),
        }],
        temperature: Some(0.3),
        max_tokens: 0,
        cache_prompt: true,
    }
}

fn openai(fake: &FakeServer, pool: &HttpPool) -> OpenAiLlm {
    OpenAiLlm::new(pool.clone(), &fake.endpoint(ProviderKind::Openai), &stage()).with_timeouts(fast())
}

fn anthropic(fake: &FakeServer, pool: &HttpPool) -> AnthropicLlm {
    AnthropicLlm::new(pool.clone(), &fake.endpoint(ProviderKind::Anthropic), &stage()).with_timeouts(fast())
}

/// Runs one chat against a fresh fake of the given kind.
fn chat_with(kind: ProviderKind, script: impl Into<Script>) -> (Vec<Result<LlmEvent, ProviderError>>, FakeServer) {
    let fake = if kind == ProviderKind::Openai {
        FakeServer::openai(script)
    } else {
        FakeServer::anthropic(script)
    };
    let events = run(async {
        let pool = HttpPool::default();
        let rx = if kind == ProviderKind::Openai {
            openai(&fake, &pool).chat(request())
        } else {
            anthropic(&fake, &pool).chat(request())
        };
        collect(rx).await
    });
    (events, fake)
}

fn text_of(events: &[Result<LlmEvent, ProviderError>]) -> String {
    events
        .iter()
        .filter_map(|e| {
            if let Ok(LlmEvent::Text(t)) = e {
                Some(t.as_str())
            } else {
                None
            }
        })
        .collect()
}

fn last_error(events: &[Result<LlmEvent, ProviderError>]) -> ProviderError {
    match events.last() {
        Some(Err(e)) => e.clone(),
        other => panic!("expected an error last, got {other:?}"),
    }
}

#[test]
fn openai_streams_text_and_usage_over_http2() {
    let usage = FakeUsage {
        prompt: 20,
        completion: 7,
        cache_read: 64,
        cache_creation: 0,
    };
    let (events, fake) = chat_with(
        ProviderKind::Openai,
        Script::new(vec![Reply::text(["Hel", "lo ", "there."])]).with_usage(usage),
    );
    assert_eq!(text_of(&events), "Hello there.");
    let want = LlmUsage {
        prompt_tokens: 20,
        completion_tokens: 7,
        cache_read_tokens: 64,
        cache_creation_tokens: 0,
    };
    assert_eq!(events.last(), Some(&Ok(LlmEvent::Done { usage: want })));
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.version, "HTTP/2.0");
    assert_eq!(r.header("authorization"), Some(format!("Bearer {FAKE_KEY}").as_str()));
    let body = r.json();
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"]["include_usage"], json!(true));
    assert_eq!(body["model"], json!("test-model"));
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "You are a helpful bot."})
    );
    assert_eq!(body["messages"][2]["role"], json!("user"));
    assert_eq!(body["tools"][0]["type"], json!("function"));
    assert_eq!(body["tools"][0]["function"]["name"], json!("get_balance"));
}

#[test]
fn openai_tool_call_is_accumulated() {
    let (events, _fake) = chat_with(
        ProviderKind::Openai,
        Reply::tool("get_balance", r#"{"account":"42-17"}"#),
    );
    let call = ToolCall {
        id: "call_fake_1".into(),
        name: "get_balance".into(),
        arguments: r#"{"account":"42-17"}"#.into(),
    };
    assert_eq!(
        events.iter().filter(|e| matches!(e, Ok(LlmEvent::ToolCall(_)))).count(),
        1
    );
    assert!(events.contains(&Ok(LlmEvent::ToolCall(call))));
    assert!(matches!(events.last(), Some(Ok(LlmEvent::Done { .. }))));
}

#[test]
fn openai_request_carries_tool_history() {
    let pool = HttpPool::default();
    let ep = ProviderEndpoint {
        kind: ProviderKind::Openai,
        base_url: "http://127.0.0.1:1/v1".into(),
        api_key: None,
    };
    let llm = OpenAiLlm::new(pool, &ep, &stage());
    let mut req = request();
    let call = ToolCall {
        id: "c1".into(),
        name: "get_balance".into(),
        arguments: "{}".into(),
    };
    req.messages.push(ChatMessage {
        role: Role::Assistant,
        content: String::new(),
        tool_calls: vec![call],
        tool_call_id: None,
    });
    req.messages.push(ChatMessage {
        role: Role::Tool,
        content: "{\"balance\":3}".into(),
        tool_calls: vec![],
        tool_call_id: Some("c1".into()),
    });
    let body = llm.request_body(&req);
    assert_eq!(body["messages"][3]["tool_calls"][0]["id"], json!("c1"));
    assert_eq!(
        body["messages"][4],
        json!({"role": "tool", "tool_call_id": "c1", "content": "{\"balance\":3}"})
    );
}

#[test]
fn anthropic_streams_text_with_cache_counts() {
    let usage = FakeUsage {
        prompt: 9,
        completion: 11,
        cache_read: 1200,
        cache_creation: 300,
    };
    let (events, fake) = chat_with(
        ProviderKind::Anthropic,
        Script::new(vec![Reply::text(["Your balance ", "is 3."])]).with_usage(usage),
    );
    assert_eq!(text_of(&events), "Your balance is 3.");
    let want = LlmUsage {
        prompt_tokens: 9,
        completion_tokens: 11,
        cache_read_tokens: 1200,
        cache_creation_tokens: 300,
    };
    assert_eq!(events.last(), Some(&Ok(LlmEvent::Done { usage: want })));
    let r = &fake.requests()[0];
    assert_eq!(r.path, "/v1/messages");
    assert_eq!(r.version, "HTTP/2.0");
    assert_eq!(r.header("x-api-key"), Some(FAKE_KEY));
    assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(r.header("authorization"), None);
    let body = r.json();
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["system"][0]["cache_control"], json!({"type": "ephemeral"}));
    assert_eq!(body["tools"][0]["input_schema"]["type"], json!("object"));
    // The greeting-first conversation gets a user turn in front; roles alternate.
    assert_eq!(body["messages"][0]["role"], json!("user"));
    assert_eq!(body["messages"][1]["role"], json!("assistant"));
    assert_eq!(body["messages"][2]["content"][0]["text"], json!("What is my balance?"));
}

#[test]
fn anthropic_tool_use_is_accumulated() {
    let (events, _fake) = chat_with(
        ProviderKind::Anthropic,
        Reply::tool("get_balance", r#"{"account":"42-17"}"#),
    );
    let call = ToolCall {
        id: "toolu_fake_1".into(),
        name: "get_balance".into(),
        arguments: r#"{"account":"42-17"}"#.into(),
    };
    assert!(events.contains(&Ok(LlmEvent::ToolCall(call))), "{events:?}");
    assert!(matches!(events.last(), Some(Ok(LlmEvent::Done { .. }))));
}

#[test]
fn anthropic_without_cache_prompt_sets_no_cache_control() {
    let ep = ProviderEndpoint {
        kind: ProviderKind::Anthropic,
        base_url: "http://127.0.0.1:1".into(),
        api_key: None,
    };
    let llm = AnthropicLlm::new(HttpPool::default(), &ep, &stage());
    let mut req = request();
    req.cache_prompt = false;
    let body = llm.request_body(&req);
    assert!(body["system"][0].get("cache_control").is_none());
    assert_eq!(body["max_tokens"], json!(1024));
}

fn failure_modes(kind: ProviderKind) {
    let (ev, _f) = chat_with(kind, Reply::Status(500));
    let e = last_error(&ev);
    assert_eq!((e.kind, e.status), (ProviderErrorKind::Status, Some(500)));
    assert!(e.retryable());

    let (ev, _f) = chat_with(kind, Reply::Status(401));
    let e = last_error(&ev);
    assert_eq!((e.kind, e.status), (ProviderErrorKind::Status, Some(401)));
    assert!(!e.retryable());
    assert!(!e.message.contains(FAKE_KEY));

    let (ev, _f) = chat_with(kind, Reply::RateLimit { retry_after_secs: 2 });
    let e = last_error(&ev);
    assert_eq!(
        (e.kind, e.status, e.retry_after_ms),
        (ProviderErrorKind::RateLimited, Some(429), Some(2000))
    );

    let (ev, _f) = chat_with(kind, Reply::slow(2000, Reply::text(["late"])));
    let e = last_error(&ev);
    assert_eq!((e.kind, e.stage), (ProviderErrorKind::Timeout, "first_byte"));

    let (ev, _f) = chat_with(kind, Reply::Stall);
    assert_eq!(text_of(&ev), "Hel");
    let e = last_error(&ev);
    assert_eq!((e.kind, e.stage), (ProviderErrorKind::Timeout, "stream"));

    let (ev, _f) = chat_with(kind, Reply::Disconnect);
    assert_eq!(text_of(&ev), "Hel");
    assert_eq!(last_error(&ev).kind, ProviderErrorKind::Disconnected);

    let (ev, _f) = chat_with(kind, Reply::Malformed);
    assert_eq!(last_error(&ev).kind, ProviderErrorKind::Protocol);
}

#[test]
fn openai_failure_modes_map_to_error_kinds() {
    failure_modes(ProviderKind::Openai);
}

#[test]
fn anthropic_failure_modes_map_to_error_kinds() {
    failure_modes(ProviderKind::Anthropic);
}

#[test]
fn refused_connection_is_a_connect_error() {
    let ev = run(async {
        let ep = ProviderEndpoint {
            kind: ProviderKind::Openai,
            base_url: dead_url(),
            api_key: Some(FAKE_KEY.into()),
        };
        collect(
            OpenAiLlm::new(HttpPool::default(), &ep, &stage())
                .with_timeouts(fast())
                .chat(request()),
        )
        .await
    });
    let e = last_error(&ev);
    assert_eq!(e.kind, ProviderErrorKind::Connect);
    assert!(!e.message.contains(FAKE_KEY));
}

#[test]
fn concurrent_streams_share_one_connection() {
    let fake = FakeServer::openai(Reply::slow(150, Reply::text(["a", "b"])));
    let (a, b, c) = run(async {
        let pool = HttpPool::default();
        let llm = openai(&fake, &pool);
        // Warm the connection, then run two streams at once.
        let first = collect(llm.chat(request())).await;
        let (a, b) = tokio::join!(collect(llm.chat(request())), collect(llm.chat(request())));
        (first, a, b)
    });
    for ev in [&a, &b, &c] {
        assert_eq!(text_of(ev), "ab");
    }
    assert_eq!(fake.requests().len(), 3);
    assert_eq!(fake.connections(), 1);
}

#[test]
fn concurrent_cold_streams_share_one_connection() {
    let fake = FakeServer::anthropic(Reply::slow(150, Reply::text(["x"])));
    let (a, b) = run(async {
        let pool = HttpPool::default();
        let l1 = anthropic(&fake, &pool);
        let l2 = anthropic(&fake, &pool);
        tokio::join!(collect(l1.chat(request())), collect(l2.chat(request())))
    });
    assert_eq!(text_of(&a), "x");
    assert_eq!(text_of(&b), "x");
    assert_eq!(fake.connections(), 1);
}

#[test]
fn dropping_the_receiver_cancels_the_stream() {
    let fake = FakeServer::openai(Reply::Stall);
    run(async {
        let pool = HttpPool::default();
        let llm = OpenAiLlm::new(pool, &fake.endpoint(ProviderKind::Openai), &stage());
        let mut rx = llm.chat(request());
        assert_eq!(rx.recv().await, Some(Ok(LlmEvent::Text("Hel".into()))));
        drop(rx);
        // The task notices at once (no 10 s stall deadline needed).
        tokio::time::sleep(Duration::from_millis(50)).await;
    });
}

/// A minimal HTTP/1.1-only server (as Ollama or llama.cpp): refuses the h2c preface, answers
/// every request with one short chat-completion stream. Counts (preface attempts, served).
fn http1_only_server() -> (String, std::sync::Arc<[std::sync::atomic::AtomicUsize; 2]>) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/v1", l.local_addr().expect("addr"));
    let counts: std::sync::Arc<[std::sync::atomic::AtomicUsize; 2]> = std::sync::Arc::default();
    let c = counts.clone();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = Vec::new();
            let mut b = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&b[..n]),
                }
            }
            if buf.starts_with(b"PRI * HTTP/2.0") {
                c[0].fetch_add(1, Ordering::SeqCst);
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
                continue;
            }
            let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let head_end = buf
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(buf.len(), |p| p + 4);
            let mut have = buf.len() - head_end;
            while have < len {
                match s.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => have += n,
                }
            }
            c[1].fetch_add(1, Ordering::SeqCst);
            let body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n\
                        data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n{body}"
            );
        }
    });
    (url, counts)
}

#[test]
fn http1_only_servers_are_detected_and_remembered() {
    use std::sync::atomic::Ordering;
    let (url, counts) = http1_only_server();
    let (a, b) = run(async {
        let ep = ProviderEndpoint {
            kind: ProviderKind::Openai,
            base_url: url,
            api_key: None,
        };
        let llm = OpenAiLlm::new(HttpPool::default(), &ep, &stage()).with_timeouts(fast());
        (collect(llm.chat(request())).await, collect(llm.chat(request())).await)
    });
    assert_eq!(text_of(&a), "hi", "{a:?}");
    assert_eq!(text_of(&b), "hi", "{b:?}");
    assert_eq!(counts[0].load(Ordering::SeqCst), 1, "h2c tried once");
    assert_eq!(counts[1].load(Ordering::SeqCst), 2);
}

#[test]
fn tls_failures_are_connect_errors() {
    // A TCP server that closes at once: the TLS handshake fails (and the rustls crypto provider
    // in use by reqwest and tokio-tungstenite is exercised without panicking).
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("https://{}", l.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for s in l.incoming() {
            drop(s);
        }
    });
    let (llm, stt) = run(async {
        let ep = ProviderEndpoint {
            kind: ProviderKind::Openai,
            base_url: base.clone(),
            api_key: None,
        };
        let llm = collect(
            OpenAiLlm::new(HttpPool::default(), &ep, &stage())
                .with_timeouts(fast())
                .chat(request()),
        )
        .await;
        let ep = ProviderEndpoint {
            kind: ProviderKind::Deepgram,
            base_url: base,
            api_key: None,
        };
        let stt = crate::agent::providers::DeepgramStt::new(HttpPool::default(), &ep, &stage());
        let (_s, rx) = crate::agent::api::Stt::open(&stt, &crate::agent::api::SttParams::default());
        (llm, collect(rx).await)
    });
    assert_eq!(last_error(&llm).kind, ProviderErrorKind::Connect);
    assert_eq!(
        stt.last().cloned().and_then(Result::err).map(|e| e.kind),
        Some(ProviderErrorKind::Connect)
    );
}
