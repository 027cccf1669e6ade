//! The fake Deepgram `/v1/listen` WebSocket.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde_json::json;

use super::http::{error_response, record};
use super::{Reply, Shared};

/// Audio needed (bytes, 200 ms at 16 kHz) before the next scripted utterance is transcribed.
const BYTES_PER_UTTERANCE: usize = 6400;

pub(super) async fn listen(State(sh): State<Arc<Shared>>, ws: WebSocketUpgrade, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    record(&sh, &parts, bytes::Bytes::new());
    let (mut reply, _) = sh.next_reply();
    while let Reply::Slow { delay_ms, then } = reply {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        reply = *then;
    }
    match reply {
        Reply::Status(code) => error_response(code),
        Reply::RateLimit { retry_after_secs } => {
            let mut r = error_response(429);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            r
        }
        other => ws.on_upgrade(move |socket| session(socket, sh, other)),
    }
}

fn results(text: &str, is_final: bool, speech_final: bool) -> Message {
    let v = json!({"type": "Results", "channel_index": [0, 1], "duration": 1.0, "start": 0.0,
        "is_final": is_final, "speech_final": speech_final,
        "channel": {"alternatives": [{"transcript": text, "confidence": 0.98, "words": []}]},
        "metadata": {"request_id": "fake"}, "from_finalize": false});
    Message::Text(v.to_string().into())
}

async fn session(mut socket: WebSocket, sh: Arc<Shared>, reply: Reply) {
    let mut utterances = match &reply {
        Reply::Text(chunks) => chunks.clone().into_iter(),
        _ => Vec::new().into_iter(),
    };
    let mut since = 0usize;
    let mut first = true;
    while let Some(Ok(msg)) = socket.recv().await {
        match msg {
            Message::Binary(b) => {
                sh.lock().ws_audio_bytes += b.len();
                since += b.len();
                if first {
                    first = false;
                    match reply {
                        Reply::Disconnect => return, // drops the TCP connection without a close frame
                        Reply::Malformed => {
                            let _ = socket.send(Message::Text("{oops".into())).await;
                        }
                        _ => {}
                    }
                }
                if since >= BYTES_PER_UTTERANCE
                    && let Some(text) = utterances.next()
                {
                    since = 0;
                    let first_word = text.split_whitespace().next().unwrap_or("");
                    let _ = socket.send(results(first_word, false, false)).await;
                    let _ = socket.send(results(&text, true, true)).await;
                }
            }
            Message::Text(t) => {
                let close = t.as_str().contains("CloseStream");
                sh.lock().ws_text.push(t.as_str().to_owned());
                if close {
                    let meta = json!({"type": "Metadata", "request_id": "fake", "duration": 1.0, "channels": 1});
                    let _ = socket.send(Message::Text(meta.to_string().into())).await;
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
            }
            Message::Close(_) => return,
            _ => {}
        }
    }
}
