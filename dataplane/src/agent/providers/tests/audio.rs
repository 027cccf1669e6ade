use std::time::Duration;

use cxb_model::{ProviderEndpoint, ProviderKind};

use super::{collect, dead_url, fast, run, stage};
use crate::agent::api::{ProviderError, ProviderErrorKind, Stt, SttEvent, SttParams, Tts, TtsAudio, TtsParams};
use crate::agent::fakes::{FAKE_KEY, FakeServer, Reply, synth};
use crate::agent::providers::{DeepgramStt, ElevenLabsTts, HttpPool, OpenAiStt, OpenAiTts};

fn samples(events: &[Result<TtsAudio, ProviderError>]) -> Vec<i16> {
    events
        .iter()
        .filter_map(|e| e.as_ref().ok())
        .flat_map(|a| a.pcm.iter().copied())
        .collect()
}

fn speak_openai(reply: Reply) -> (Vec<Result<TtsAudio, ProviderError>>, FakeServer) {
    let fake = FakeServer::openai(reply);
    let ev = run(async {
        let tts =
            OpenAiTts::new(HttpPool::default(), &fake.endpoint(ProviderKind::Openai), &stage()).with_timeouts(fast());
        collect(tts.speak("Hello there.", &TtsParams::default())).await
    });
    (ev, fake)
}

fn speak_eleven(reply: Reply, rate: u32) -> (Vec<Result<TtsAudio, ProviderError>>, FakeServer) {
    let fake = FakeServer::elevenlabs(reply);
    let ev = run(async {
        let tts = ElevenLabsTts::new(HttpPool::default(), &fake.endpoint(ProviderKind::Elevenlabs), &stage())
            .with_timeouts(fast());
        let params = TtsParams {
            voice: "voice-1".into(),
            sample_rate: rate,
            ..TtsParams::default()
        };
        collect(tts.speak("Hi.", &params)).await
    });
    (ev, fake)
}

#[test]
fn openai_tts_streams_24k_pcm_across_odd_splits() {
    let (ev, fake) = speak_openai(Reply::text(["Hello there."]));
    assert!(ev.len() > 2, "several chunks expected");
    assert!(ev.iter().all(|e| e.as_ref().is_ok_and(|a| a.sample_rate == 24_000)));
    assert_eq!(samples(&ev), synth("Hello there.", 24_000));
    let r = &fake.requests()[0];
    assert_eq!(r.path, "/v1/audio/speech");
    assert_eq!(r.version, "HTTP/2.0");
    assert_eq!(r.header("authorization"), Some(format!("Bearer {FAKE_KEY}").as_str()));
    let body = r.json();
    assert_eq!(body["response_format"], "pcm");
    assert_eq!(body["input"], "Hello there.");
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["voice"], "alloy");
}

#[test]
fn openai_tts_failures() {
    let (ev, _f) = speak_openai(Reply::Status(503));
    let e = ev.last().cloned().and_then(Result::err).expect("error");
    assert_eq!((e.kind, e.status), (ProviderErrorKind::Status, Some(503)));
    let (ev, _f) = speak_openai(Reply::Stall);
    assert!(!samples(&ev).is_empty());
    assert_eq!(
        ev.last().cloned().and_then(Result::err).map(|e| e.kind),
        Some(ProviderErrorKind::Timeout)
    );
    let (ev, _f) = speak_openai(Reply::Disconnect);
    assert_eq!(
        ev.last().cloned().and_then(Result::err).map(|e| e.kind),
        Some(ProviderErrorKind::Disconnected)
    );
    let (ev, _f) = speak_openai(Reply::RateLimit { retry_after_secs: 1 });
    let e = ev.last().cloned().and_then(Result::err).expect("error");
    assert_eq!((e.kind, e.retry_after_ms), (ProviderErrorKind::RateLimited, Some(1000)));
}

#[test]
fn elevenlabs_streams_pcm_at_the_requested_rate() {
    let (ev, fake) = speak_eleven(Reply::text(["Hi."]), 16_000);
    assert_eq!(samples(&ev), synth("Hi.", 16_000));
    assert!(ev.iter().all(|e| e.as_ref().is_ok_and(|a| a.sample_rate == 16_000)));
    let r = &fake.requests()[0];
    assert_eq!(r.path, "/v1/text-to-speech/voice-1/stream");
    assert_eq!(r.query, "output_format=pcm_16000");
    assert_eq!(r.header("xi-api-key"), Some(FAKE_KEY));
    assert_eq!(r.json()["model_id"], "test-model");
    assert_eq!(r.json()["text"], "Hi.");
    // An unsupported preferred rate falls back to 16 kHz; a supported one is used.
    let (ev, fake) = speak_eleven(Reply::Audio(vec![1, -2, 3]), 24_000);
    assert_eq!(samples(&ev), vec![1, -2, 3]);
    assert_eq!(fake.requests()[0].query, "output_format=pcm_24000");
    assert_eq!(ElevenLabsTts::output_rate(48_000), 16_000);
}

#[test]
fn elevenlabs_failures() {
    let (ev, _f) = speak_eleven(Reply::Status(401), 16_000);
    let e = ev.last().cloned().and_then(Result::err).expect("error");
    assert_eq!((e.kind, e.status), (ProviderErrorKind::Status, Some(401)));
    let (ev, _f) = speak_eleven(Reply::slow(1500, Reply::text(["x"])), 16_000);
    assert_eq!(
        ev.last().cloned().and_then(Result::err).map(|e| e.kind),
        Some(ProviderErrorKind::Timeout)
    );
}

/// Feeds `ms` of a tone in 20 ms frames.
fn feed(stream: &mut dyn crate::agent::api::SttStream, ms: usize) {
    let frame: Vec<i16> = (0..320).map(|i| ((i * 91) % 4000) as i16 - 2000).collect();
    for _ in 0..ms / 20 {
        stream.push(&frame);
    }
}

fn params() -> SttParams {
    SttParams {
        model: String::new(),
        language: "en-US".into(),
        sample_rate: 16_000,
        keywords: vec!["Acme".into(), "order number".into()],
    }
}

#[test]
fn deepgram_streams_interim_and_final_results() {
    let fake = FakeServer::deepgram(Reply::text(["hello there", "my order number is five"]));
    let ev = run(async {
        let stt = DeepgramStt::new(HttpPool::default(), &fake.endpoint(ProviderKind::Deepgram), &stage());
        let (mut stream, rx) = stt.open(&params());
        feed(stream.as_mut(), 500);
        tokio::time::sleep(Duration::from_millis(100)).await;
        feed(stream.as_mut(), 500);
        stream.close();
        collect(rx).await
    });
    assert_eq!(
        ev,
        vec![
            Ok(SttEvent::Interim { text: "hello".into() }),
            Ok(SttEvent::Final {
                text: "hello there".into(),
                end_of_turn: true
            }),
            Ok(SttEvent::Interim { text: "my".into() }),
            Ok(SttEvent::Final {
                text: "my order number is five".into(),
                end_of_turn: true
            }),
        ]
    );
    let r = &fake.requests()[0];
    assert_eq!(r.path, "/v1/listen");
    assert_eq!(r.header("authorization"), Some(format!("Token {FAKE_KEY}").as_str()));
    for p in [
        "encoding=linear16",
        "sample_rate=16000",
        "channels=1",
        "interim_results=true",
        "endpointing=300",
        "model=test-model",
        "language=en-US",
        "keywords=Acme",
        "keywords=order%20number",
    ] {
        assert!(r.query.split('&').any(|q| q == p), "{p} missing in {}", r.query);
    }
    assert_eq!(fake.ws_audio_bytes(), 2 * 16_000);
    assert_eq!(
        fake.ws_messages().last().map(String::as_str),
        Some(r#"{"type":"CloseStream"}"#)
    );
}

fn deepgram_error(reply: Reply) -> ProviderError {
    let fake = FakeServer::deepgram(reply);
    let ev = run(async {
        let stt = DeepgramStt::new(HttpPool::default(), &fake.endpoint(ProviderKind::Deepgram), &stage());
        let (mut stream, mut rx) = stt.open(&params());
        feed(stream.as_mut(), 200);
        let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        drop(stream);
        ev
    });
    match ev {
        Ok(Some(Err(e))) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn deepgram_failures() {
    let e = deepgram_error(Reply::Status(401));
    assert_eq!(
        (e.kind, e.status, e.stage),
        (ProviderErrorKind::Status, Some(401), "connect")
    );
    assert!(!e.message.contains(FAKE_KEY));
    let e = deepgram_error(Reply::RateLimit { retry_after_secs: 3 });
    assert_eq!((e.kind, e.retry_after_ms), (ProviderErrorKind::RateLimited, Some(3000)));
    assert_eq!(deepgram_error(Reply::Disconnect).kind, ProviderErrorKind::Disconnected);
    assert_eq!(deepgram_error(Reply::Malformed).kind, ProviderErrorKind::Protocol);
    let fake_url = dead_url();
    let e = run(async {
        let ep = ProviderEndpoint {
            kind: ProviderKind::Deepgram,
            base_url: fake_url,
            api_key: None,
        };
        let (_s, rx) = DeepgramStt::new(HttpPool::default(), &ep, &stage()).open(&params());
        collect(rx).await
    });
    assert_eq!(
        e.last().cloned().and_then(Result::err).map(|e| e.kind),
        Some(ProviderErrorKind::Connect)
    );
}

#[test]
fn deepgram_urls_follow_the_base_scheme() {
    let ep = ProviderEndpoint {
        kind: ProviderKind::Deepgram,
        base_url: "https://api.deepgram.com".into(),
        api_key: None,
    };
    let mut st = stage();
    st.model = "nova-3".into();
    let url = DeepgramStt::new(HttpPool::default(), &ep, &st).listen_url(&params());
    assert!(
        url.starts_with("wss://api.deepgram.com/v1/listen?encoding=linear16&sample_rate=16000"),
        "{url}"
    );
    assert!(url.contains("&keyterm=Acme"), "{url}");
}

#[test]
fn openai_stt_transcribes_vad_segments_with_preroll() {
    let fake = FakeServer::openai(vec![
        Reply::text(["hello world"]),
        Reply::Status(500),
        Reply::text(["again"]),
    ]);
    let ev = run(async {
        let stt =
            OpenAiStt::new(HttpPool::default(), &fake.endpoint(ProviderKind::Openai), &stage()).with_timeouts(fast());
        let (mut s, rx) = stt.open(&params());
        feed(s.as_mut(), 1000); // before speech: only the last 300 ms is kept
        s.speech_started();
        feed(s.as_mut(), 500);
        s.speech_ended();
        feed(s.as_mut(), 100);
        for _ in 0..2 {
            s.speech_started();
            feed(s.as_mut(), 200);
            s.speech_ended();
        }
        s.close();
        collect(rx).await
    });
    assert_eq!(ev.len(), 3, "{ev:?}");
    assert_eq!(
        ev[0],
        Ok(SttEvent::Final {
            text: "hello world".into(),
            end_of_turn: true
        })
    );
    assert_eq!(ev[1].as_ref().err().map(|e| e.status), Some(Some(500)));
    assert_eq!(
        ev[2],
        Ok(SttEvent::Final {
            text: "again".into(),
            end_of_turn: true
        })
    );
    let r = &fake.requests()[0];
    assert_eq!(r.path, "/v1/audio/transcriptions");
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("multipart/form-data; boundary="))
    );
    let body = String::from_utf8_lossy(&r.body);
    assert!(body.contains("name=\"model\"\r\n\r\ntest-model\r\n"));
    assert!(body.contains("name=\"language\"\r\n\r\nen\r\n"));
    assert!(body.contains("name=\"response_format\"\r\n\r\njson\r\n"));
    assert!(body.contains("filename=\"audio.wav\""));
    // 300 ms pre-roll + 500 ms of speech, 16-bit mono at 16 kHz.
    let riff = r.body.windows(4).position(|w| w == b"RIFF").expect("wav");
    let data_len = u32::from_le_bytes(r.body[riff + 40..riff + 44].try_into().expect("len"));
    assert_eq!(data_len, (4800 + 8000) * 2);
}

#[test]
fn openai_stt_caps_long_utterances() {
    let fake = FakeServer::openai(Reply::text(["part"]));
    let ev = run(async {
        let stt = OpenAiStt::new(HttpPool::default(), &fake.endpoint(ProviderKind::Openai), &stage());
        let (mut s, rx) = stt.open(&params());
        s.speech_started();
        feed(s.as_mut(), 31_000);
        s.speech_ended();
        s.close();
        collect(rx).await
    });
    assert_eq!(
        ev,
        vec![
            Ok(SttEvent::Final {
                text: "part".into(),
                end_of_turn: false
            }),
            Ok(SttEvent::Final {
                text: "part".into(),
                end_of_turn: true
            }),
        ]
    );
}

#[test]
fn openai_stt_failures() {
    for (reply, kind) in [
        (Reply::Malformed, ProviderErrorKind::Protocol),
        (Reply::Stall, ProviderErrorKind::Timeout),
        (Reply::Disconnect, ProviderErrorKind::Disconnected),
    ] {
        let fake = FakeServer::openai(reply);
        let ev = run(async {
            let stt = OpenAiStt::new(HttpPool::default(), &fake.endpoint(ProviderKind::Openai), &stage())
                .with_timeouts(fast());
            let (mut s, rx) = stt.open(&params());
            s.speech_started();
            feed(s.as_mut(), 100);
            s.close();
            collect(rx).await
        });
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].as_ref().err().map(|e| e.kind), Some(kind));
    }
}
