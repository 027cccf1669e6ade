use proptest::prelude::*;

use crate::agent::api::{LlmEvent, ProviderErrorKind, SttEvent, ToolCall};
use crate::agent::providers::pool::{encode_query, join_url, status_error};
use crate::agent::providers::{AnthropicStream, DeepgramDecoder, OpenAiStream, PcmAssembler, SseEvent, SseParser};

fn parse_all(input: &[u8], split: usize) -> Vec<SseEvent> {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    let split = split.min(input.len());
    p.push(&input[..split], |e| out.push(e)).expect("push");
    p.push(&input[split..], |e| out.push(e)).expect("push");
    out.extend(p.finish());
    out
}

#[test]
fn sse_handles_every_split_and_line_ending() {
    let input = b": comment\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\ndata: line1\ndata:line2\n\nid: 7\nretry: 10\n\ndata: last";
    let want = vec![
        SseEvent {
            event: "message_start".into(),
            data: "{\"a\":1}".into(),
        },
        SseEvent {
            event: String::new(),
            data: "line1\nline2".into(),
        },
        SseEvent {
            event: String::new(),
            data: "last".into(),
        },
    ];
    for split in 0..=input.len() {
        assert_eq!(parse_all(input, split), want, "split at {split}");
    }
}

#[test]
fn sse_rejects_endless_lines() {
    let mut p = SseParser::new();
    let big = vec![b'x'; super::super::sse::MAX_LINE + 1];
    assert!(p.push(&big, |_| {}).is_err());
}

#[test]
fn openai_stream_handles_parallel_tool_calls_and_missing_done() {
    let mut s = OpenAiStream::new();
    let mut out = Vec::new();
    for d in [
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{\"x\""}},{"index":1,"id":"b","function":{"name":"g","arguments":""}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
    ] {
        s.on_data(d, &mut out).expect("chunk");
    }
    s.finish(&mut out).expect("finish");
    assert_eq!(
        out,
        vec![
            LlmEvent::ToolCall(ToolCall {
                id: "a".into(),
                name: "f".into(),
                arguments: "{\"x\":1}".into()
            }),
            LlmEvent::ToolCall(ToolCall {
                id: "b".into(),
                name: "g".into(),
                arguments: String::new()
            }),
            LlmEvent::Done {
                usage: Default::default()
            },
        ]
    );
    let mut cut = OpenAiStream::new();
    cut.on_data(r#"{"choices":[{"delta":{"content":"hi"}}]}"#, &mut out)
        .expect("chunk");
    assert_eq!(
        cut.finish(&mut out).map_err(|e| e.kind),
        Err(ProviderErrorKind::Disconnected)
    );
    let e = OpenAiStream::new().on_data(r#"{"error":{"message":"boom","type":"server_error"}}"#, &mut out);
    assert_eq!(e.map_err(|e| e.kind), Err(ProviderErrorKind::Status));
}

#[test]
fn anthropic_error_events_map_to_kinds() {
    let mut out = Vec::new();
    let e = AnthropicStream::new()
        .on_event(
            "error",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            &mut out,
        )
        .expect_err("error");
    assert_eq!((e.kind, e.status), (ProviderErrorKind::Status, Some(529)));
    assert!(e.retryable());
    let e = AnthropicStream::new()
        .on_event(
            "error",
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
            &mut out,
        )
        .expect_err("error");
    assert_eq!(e.kind, ProviderErrorKind::RateLimited);
}

#[test]
fn deepgram_decoder_classifies_results() {
    let mut d = DeepgramDecoder::new();
    let msg = |t: &str, f: bool, sf: bool| {
        format!(
            r#"{{"type":"Results","is_final":{f},"speech_final":{sf},"channel":{{"alternatives":[{{"transcript":"{t}"}}]}}}}"#
        )
    };
    assert_eq!(
        d.on_text(&msg("hi", false, false)).ok(),
        Some(Some(SttEvent::Interim { text: "hi".into() }))
    );
    assert_eq!(d.on_text(&msg("", false, false)).ok(), Some(None));
    assert_eq!(
        d.on_text(&msg("hi there", true, false)).ok(),
        Some(Some(SttEvent::Final {
            text: "hi there".into(),
            end_of_turn: false
        }))
    );
    assert_eq!(d.on_text(&msg("", true, false)).ok(), Some(None));
    assert_eq!(
        d.on_text(&msg("", true, true)).ok(),
        Some(Some(SttEvent::Final {
            text: String::new(),
            end_of_turn: true
        }))
    );
    assert_eq!(d.on_text(r#"{"type":"Metadata"}"#).ok(), Some(None));
    assert!(d.on_text("{oops").is_err());
}

#[test]
fn pcm_assembler_keeps_odd_bytes() {
    let bytes: Vec<u8> = [1i16, -2, 300, -400].iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut a = PcmAssembler::new();
    let mut out = Vec::new();
    for part in [&bytes[..3], &bytes[3..4], &[], &bytes[4..7], &bytes[7..]] {
        out.extend_from_slice(&a.push(part));
    }
    assert_eq!(out, vec![1, -2, 300, -400]);
    assert_eq!(PcmAssembler::new().push(&bytes), out);
}

#[test]
fn status_errors_scrub_the_key_and_read_retry_after() {
    let e = status_error(
        401,
        None,
        b"{\"error\":\"Incorrect API key sk-secret-1\"}",
        Some("sk-secret-1"),
    );
    assert!(!e.message.contains("sk-secret-1"));
    assert_eq!(
        (e.kind, e.status, e.retry_after_ms),
        (ProviderErrorKind::Status, Some(401), None)
    );
    let e = status_error(429, Some("1.5"), b"", None);
    assert_eq!((e.kind, e.retry_after_ms), (ProviderErrorKind::RateLimited, Some(1500)));
    let e = status_error(429, Some("Wed, 21 Oct 2015 07:28:00 GMT"), b"", None);
    assert_eq!(e.retry_after_ms, None);
}

#[test]
fn urls_are_joined_and_encoded() {
    assert_eq!(
        join_url("https://api.openai.com/v1/", "/chat/completions"),
        "https://api.openai.com/v1/chat/completions"
    );
    assert_eq!(join_url("http://h", "x"), "http://h/x");
    assert_eq!(encode_query("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
}

fn sse_token() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"data: ".to_vec()),
        Just(b"event: ".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n\n".to_vec()),
        Just(b"[DONE]".to_vec()),
        Just(br#"{"choices":[{"index":0,"delta":{"content":"x","tool_calls":[{"index":3,"function":{"arguments":"{"}}]},"finish_reason":null}]}"#.to_vec()),
        Just(br#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"n"}}"#.to_vec()),
        Just(br#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{"}}"#.to_vec()),
        Just(br#"{"type":"message_delta","usage":{"output_tokens":18446744073709551615}}"#.to_vec()),
        Just(br#"{"type":"content_block_stop","index":1}"#.to_vec()),
        Just(br#"{"type":"message_stop"}"#.to_vec()),
        Just(br#"{"usage":{"prompt_tokens":1,"prompt_tokens_details":{"cached_tokens":99}}}"#.to_vec()),
        prop::collection::vec(any::<u8>(), 0..16),
    ]
}

/// Feeds bytes through the SSE parser into both LLM decoders.
fn drive(bytes: &[u8], splits: &[usize]) {
    let mut sse = SseParser::new();
    let mut oa = OpenAiStream::new();
    let mut an = AnthropicStream::new();
    let mut dg = DeepgramDecoder::new();
    let mut out = Vec::new();
    let mut pos = 0;
    for &s in splits.iter().chain(std::iter::once(&bytes.len())) {
        let end = s.clamp(pos, bytes.len());
        let _ = sse.push(&bytes[pos..end], |ev| {
            let _ = oa.on_data(&ev.data, &mut out);
            let _ = an.on_event(&ev.event, &ev.data, &mut out);
            let _ = dg.on_text(&ev.data);
        });
        pos = end;
    }
    if let Some(ev) = sse.finish() {
        let _ = oa.on_data(&ev.data, &mut out);
        let _ = an.on_event(&ev.event, &ev.data, &mut out);
    }
    let _ = oa.finish(&mut out);
    let mut pcm = PcmAssembler::new();
    let _ = pcm.push(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsers_never_panic_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048),
                                           splits in prop::collection::vec(0usize..2048, 0..8)) {
        drive(&bytes, &splits);
    }

    #[test]
    fn parsers_never_panic_on_plausible_streams(tokens in prop::collection::vec(sse_token(), 0..64),
                                                splits in prop::collection::vec(0usize..4096, 0..8)) {
        let bytes: Vec<u8> = tokens.concat();
        drive(&bytes, &splits);
    }
}
