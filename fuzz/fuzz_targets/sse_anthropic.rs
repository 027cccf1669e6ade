#![no_main]
//! Anthropic Messages event streams: arbitrary bytes, split at arbitrary points, through the SSE
//! parser and the Messages decoder must never panic, and `Done` is always the last event.
use cxb_dataplane::agent::api::LlmEvent;
use cxb_dataplane::agent::providers::{AnthropicStream, SseParser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split_seed, body)) = data.split_first() else {
        return;
    };
    let mut sse = SseParser::new();
    let mut dec = AnthropicStream::new();
    let mut out = Vec::new();
    let step = usize::from(split_seed).max(1);
    for chunk in body.chunks(step) {
        if sse
            .push(chunk, |ev| {
                let _ = dec.on_event(&ev.event, &ev.data, &mut out);
            })
            .is_err()
        {
            return;
        }
    }
    if let Some(ev) = sse.finish() {
        let _ = dec.on_event(&ev.event, &ev.data, &mut out);
    }
    if let Some(i) = out.iter().position(|e| matches!(e, LlmEvent::Done { .. })) {
        assert_eq!(i + 1, out.len(), "events after Done");
    }
});
