use std::time::Duration;

use super::*;

/// Runs `f` on a current-thread runtime in a `LocalSet`, as on a shard.
fn local<F: std::future::Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tokio::task::LocalSet::new().block_on(&rt, f)
}

async fn drain<T>(rx: &mut EventRx<T>) -> Vec<T> {
    let mut v = Vec::new();
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("closes in time")
    {
        v.push(ev.expect("no provider error"));
    }
    v
}

#[test]
fn stt_reports_the_fixed_transcript_after_each_utterance() {
    local(async {
        let (mut s, mut rx) = SimStt::default().open(&SttParams::default());
        s.push(&[1000i16; 320]);
        s.speech_started();
        s.push(&[1000i16; 320]);
        assert!(rx.try_recv().is_err(), "nothing before the end of speech");
        let t0 = tokio::time::Instant::now();
        s.speech_ended();
        let ev = rx.recv().await.unwrap().unwrap();
        assert_eq!(
            ev,
            SttEvent::Final {
                text: SIM_TRANSCRIPT.into(),
                end_of_turn: true
            }
        );
        assert!(t0.elapsed() >= SimTiming::default().stt_final);
        s.speech_started();
        s.speech_ended();
        s.close();
        assert_eq!(
            drain(&mut rx).await,
            vec![SttEvent::Final {
                text: SIM_TRANSCRIPT.into(),
                end_of_turn: true
            }]
        );
    });
}

#[test]
fn immediate_timing_needs_no_runtime() {
    let (mut s, mut rx) = SimStt::new(SimTiming::IMMEDIATE).open(&SttParams::default());
    s.speech_started();
    s.speech_ended();
    assert!(matches!(rx.try_recv(), Ok(Ok(SttEvent::Final { .. }))));
    let mut rx = SimLlm::new(SimTiming::IMMEDIATE).chat(ChatRequest {
        model: String::new(),
        system: String::new(),
        messages: Vec::new(),
        tools: Vec::new(),
        temperature: None,
        max_tokens: 0,
        cache_prompt: false,
    });
    let mut n = 0;
    while let Ok(Ok(_)) = rx.try_recv() {
        n += 1;
    }
    assert_eq!(n, SIM_REPLY.len() + 1);
}

#[test]
fn llm_streams_the_script_with_fixed_delays() {
    local(async {
        let req = ChatRequest {
            model: String::new(),
            system: "anything".into(),
            messages: Vec::new(),
            tools: Vec::new(),
            temperature: None,
            max_tokens: 0,
            cache_prompt: false,
        };
        let t0 = tokio::time::Instant::now();
        let mut rx = SimLlm::default().chat(req.clone());
        let ev = drain(&mut rx).await;
        let timing = SimTiming::default();
        assert!(t0.elapsed() >= timing.llm_first_token + 2 * timing.llm_clause_gap);
        let mut want: Vec<LlmEvent> = SIM_REPLY.iter().map(|c| LlmEvent::Text((*c).to_owned())).collect();
        want.push(LlmEvent::Done {
            usage: LlmUsage::default(),
        });
        assert_eq!(ev, want);
        assert_eq!(
            drain(&mut SimLlm::default().chat(req)).await,
            want,
            "the same every time"
        );
    });
}

#[test]
fn synthetic_tts_is_deterministic_and_in_200ms_chunks() {
    local(async {
        let tts = SimTts::new(SimVoice::Synthetic);
        let a = drain(&mut tts.speak("Which day works best for you?", &TtsParams::default())).await;
        let b = drain(&mut tts.speak("Which day works best for you?", &TtsParams::default())).await;
        assert_eq!(a, b);
        assert!(a.len() > 5, "about a second or more of audio");
        assert!(a.iter().all(|c| c.sample_rate == SIM_RATE));
        assert!(a[..a.len() - 1].iter().all(|c| c.pcm.len() == (SIM_RATE / 5) as usize));
        let pcm: Vec<i16> = a.iter().flat_map(|c| c.pcm.iter().copied()).collect();
        assert_eq!(pcm, synthetic_speech("Which day works best for you?"));
        assert!(pcm.iter().any(|&s| s.abs() > 3000), "audible");
        assert!(drain(&mut tts.speak(" ", &TtsParams::default())).await.is_empty());
    });
}

#[test]
fn espeak_phrases_are_rendered_once_and_shared() {
    local(async {
        let tts = SimTts::default();
        let phrase = "This phrase is rendered only once.";
        // Two calls before the first render finishes: both wait for the same render.
        let mut r1 = tts.speak(phrase, &TtsParams::default());
        let mut r2 = tts.speak(phrase, &TtsParams::default());
        let a = drain(&mut r1).await;
        let b = drain(&mut r2).await;
        assert_eq!(a, b);
        assert!(a.len() > 5);
        assert!(a.iter().all(|c| c.sample_rate == SIM_RATE));
        // Now it is ready: all chunks are in the channel when speak() returns.
        let mut r3 = tts.speak(phrase, &TtsParams::default());
        let mut c = Vec::new();
        while let Ok(Ok(chunk)) = r3.try_recv() {
            c.push(chunk);
        }
        assert_eq!(a, c);
        for ((x, y), z) in a.iter().zip(&b).zip(&c) {
            assert!(
                x.pcm.shares_buffer(&y.pcm) && x.pcm.shares_buffer(&z.pcm),
                "one render, shared"
            );
            assert_eq!((x.pcm.as_ptr(), x.pcm.as_ptr()), (y.pcm.as_ptr(), z.pcm.as_ptr()));
        }
        let pcm: Vec<i16> = a.iter().flat_map(|c| c.pcm.iter().copied()).collect();
        assert_ne!(
            pcm,
            synthetic_speech(phrase),
            "espeak-ng rendered it (run scripts/bootstrap if this fails)"
        );
    });
}

#[test]
fn a_long_utterance_is_heard_as_asking_for_an_agent() {
    let params = SttParams {
        sample_rate: 16_000,
        ..SttParams::default()
    };
    let (mut s, mut rx) = SimStt::new(SimTiming::IMMEDIATE).open(&params);
    let heard = |rx: &mut EventRx<SttEvent>| match rx.try_recv() {
        Ok(Ok(SttEvent::Final { text, end_of_turn })) => {
            assert!(end_of_turn);
            text
        }
        other => panic!("no final: {other:?}"),
    };
    // Audio before the speech does not count.
    s.push(&[0; 64_000]);
    s.speech_started();
    s.push(&[1000; 39_000]);
    s.speech_ended();
    assert_eq!(heard(&mut rx), SIM_TRANSCRIPT);
    s.speech_started();
    for _ in 0..32 {
        s.push(&[1000; 1280]);
    }
    s.speech_ended();
    assert_eq!(heard(&mut rx), SIM_TRANSFER_TRANSCRIPT);
    s.speech_started();
    s.push(&[1000; 320]);
    s.speech_ended();
    assert_eq!(heard(&mut rx), SIM_TRANSCRIPT, "the count starts again");
}

fn transfer_request(said: &str, with_tool: bool) -> ChatRequest {
    let tools = if with_tool {
        vec![crate::agent::api::ToolSpec {
            name: "transfer_call".into(),
            description: String::new(),
            parameters: serde_json::json!({"type": "object",
                "properties": {"target": {"type": "string", "enum": ["sales", "support"]}}}),
        }]
    } else {
        Vec::new()
    };
    ChatRequest {
        model: String::new(),
        system: String::new(),
        messages: vec![crate::agent::api::ChatMessage {
            role: Role::User,
            content: said.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }],
        tools,
        temperature: None,
        max_tokens: 0,
        cache_prompt: false,
    }
}

#[test]
fn llm_transfers_when_the_caller_asks_for_an_agent() {
    let llm = SimLlm::new(SimTiming::IMMEDIATE);
    let mut rx = llm.chat(transfer_request(SIM_TRANSFER_TRANSCRIPT, true));
    let mut events = Vec::new();
    while let Ok(Ok(ev)) = rx.try_recv() {
        events.push(ev);
    }
    assert_eq!(events[0], LlmEvent::Text(SIM_TRANSFER_LINE.into()));
    let LlmEvent::ToolCall(call) = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(call.name, "transfer_call");
    let args: serde_json::Value = serde_json::from_str(&call.arguments).unwrap();
    assert_eq!(args["target"], "sales");
    assert!(matches!(events[2], LlmEvent::Done { .. }));
    assert_eq!(events.len(), 3);

    // No transfer tool offered, or no agent asked for: the usual script.
    for req in [
        transfer_request(SIM_TRANSFER_TRANSCRIPT, false),
        transfer_request(SIM_TRANSCRIPT, true),
    ] {
        let mut rx = llm.chat(req);
        let mut n = 0;
        while let Ok(Ok(ev)) = rx.try_recv() {
            assert!(!matches!(ev, LlmEvent::ToolCall(_)));
            n += 1;
        }
        assert_eq!(n, SIM_REPLY.len() + 1);
    }
}

/// Everything `rx` holds now (a cached phrase is sent before `speak` returns).
fn ready<T>(rx: &mut EventRx<T>) -> Vec<T> {
    std::iter::from_fn(|| rx.try_recv().ok().map(|r| r.expect("no provider error"))).collect()
}

#[test]
fn speaking_a_cached_phrase_twice_hands_out_the_same_buffer() {
    let tts = SimTts::new(SimVoice::Synthetic);
    let phrase = "Every caller hears this same line.";
    let a = ready(&mut tts.speak(phrase, &TtsParams::default()));
    let b = ready(&mut tts.speak(phrase, &TtsParams::default()));
    assert!(a.len() > 5);
    assert_eq!(a, b);
    let cache = Arc::clone(a[0].pcm.buffer());
    assert_eq!(
        cache.len(),
        a.iter().map(|c| c.pcm.len()).sum::<usize>(),
        "chunks tile the phrase"
    );
    let mut at = 0;
    for (x, y) in a.iter().zip(&b) {
        assert!(Arc::ptr_eq(x.pcm.buffer(), &cache) && Arc::ptr_eq(y.pcm.buffer(), &cache));
        assert_eq!(x.pcm.as_ptr(), cache[at..].as_ptr(), "a slice of the cache, not a copy");
        assert_eq!(y.pcm.as_ptr(), x.pcm.as_ptr());
        at += x.pcm.len();
    }
}

#[test]
fn cached_phrase_reaches_two_calls_downlinks_without_a_copy() {
    use std::rc::Rc;

    use cxb_model::{BotConfig, CallDirection};

    use crate::agent::conversation::{Action, Conversation, ConversationCtx};
    use crate::media::{Downlink, FRAME_16K};

    let opening = "Thanks for calling, how can I help you today?";
    let tts = SimTts::new(SimVoice::Synthetic);
    let mut bot = BotConfig::new("demo", "Demo");
    bot.opening_message = opening.to_owned();
    let bot = Rc::new(bot);
    let now = Duration::ZERO;
    let mut calls = Vec::new();
    let mut slices = 0;
    for _ in 0..2 {
        let mut c = Conversation::new(Rc::clone(&bot), ConversationCtx::new(CallDirection::Inbound, now));
        let mut d = Downlink::new(8000).unwrap();
        c.on_answered(now);
        let mut played = 0;
        while let Some(a) = c.poll_action() {
            match a {
                Action::Speak { seg, text } => {
                    assert_eq!(text, opening);
                    for chunk in ready(&mut tts.speak(&text, &TtsParams::default())) {
                        c.on_tts(now, seg, chunk);
                    }
                    c.on_tts_done(now, seg);
                }
                Action::PlayAudio { pcm16k, .. } => {
                    let n = pcm16k.len();
                    played += n;
                    slices += 1;
                    assert_eq!(d.push_pcm(pcm16k), n);
                }
                _ => {}
            }
        }
        assert!(played > FRAME_16K * 10, "the opening was queued");
        calls.push((c, d));
    }
    // The cache's buffer: what a later speak hands out.
    let cache = Arc::clone(ready(&mut tts.speak(opening, &TtsParams::default()))[0].pcm.buffer());
    assert_eq!(calls[0].1.queued_samples(), cache.len());
    // The cache map, `cache` and every slice queued on both downlinks: no copies.
    assert_eq!(Arc::strong_count(&cache), 2 + slices, "queued by reference");
    let want = synthetic_speech(opening);
    let mut out = [0i16; 160];
    for (_, d) in &mut calls {
        let mut heard = Vec::new();
        while d.queued_samples() > 0 {
            d.next_frame(&mut out);
            heard.extend_from_slice(d.last_frame_16k());
        }
        assert_eq!(heard[..want.len()], want[..], "plays the phrase sample for sample");
    }
    assert_eq!(Arc::strong_count(&cache), 2, "played slices are dropped");
}
