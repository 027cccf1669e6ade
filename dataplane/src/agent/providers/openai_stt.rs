//! OpenAI-compatible transcription (`audio/transcriptions`) of VAD-segmented utterances: audio is
//! buffered between `speech_started` and `speech_ended` (plus a short pre-roll, since the VAD
//! fires only after speech has begun) and sent as a 16-bit mono WAV in a multipart form.

use std::collections::VecDeque;

use serde_json::Value;
use tokio::sync::mpsc;

use super::pool::{self, BodyReader, HttpPool, Timeouts};
use crate::agent::api::{
    EventRx, ProviderError, ProviderErrorKind, Stt, SttEvent, SttParams, SttStream, event_channel,
};
use cxb_model::{ProviderEndpoint, StageConfig};

/// Model used when neither the stream nor the stage names one.
pub const DEFAULT_MODEL: &str = "whisper-1";
/// Longest utterance sent at once; longer speech is cut into pieces of this length.
pub const MAX_UTTERANCE_SECS: u32 = 30;
/// Audio kept from before `speech_started`.
pub const PREROLL_MS: u32 = 300;
/// Largest transcription response read.
const MAX_RESPONSE: usize = 256 * 1024;
const BOUNDARY: &str = "cxb-5f2c1d0e8a4b47b9a3c6e1f0d2b4a6c8";

/// OpenAI-compatible segmented STT.
#[derive(Debug, Clone)]
pub struct OpenAiStt {
    pool: HttpPool,
    url: String,
    api_key: Option<String>,
    model: String,
    language: String,
    timeouts: Timeouts,
}

impl OpenAiStt {
    /// A client for `endpoint`; the stage's model and language are the defaults.
    pub fn new(pool: HttpPool, endpoint: &ProviderEndpoint, stage: &StageConfig) -> OpenAiStt {
        let base = pool::base_url(endpoint, stage);
        OpenAiStt {
            pool,
            url: pool::join_url(base, "/audio/transcriptions"),
            api_key: pool::api_key(endpoint),
            model: pool::or_default(&stage.model, DEFAULT_MODEL),
            language: stage.language.clone(),
            timeouts: Timeouts::STT,
        }
    }

    /// Replaces the default deadlines (per utterance).
    pub fn with_timeouts(mut self, t: Timeouts) -> OpenAiStt {
        self.timeouts = t;
        self
    }
}

#[derive(Debug)]
struct Utterance {
    pcm: Vec<i16>,
    end_of_turn: bool,
}

#[derive(Debug)]
struct SegmentingStream {
    seg_tx: Option<mpsc::UnboundedSender<Utterance>>,
    preroll: VecDeque<i16>,
    preroll_len: usize,
    current: Option<Vec<i16>>,
    max_len: usize,
}

impl SttStream for SegmentingStream {
    fn push(&mut self, pcm: &[i16]) {
        if let Some(cur) = &mut self.current {
            let mut rest = pcm;
            while !rest.is_empty() {
                let room = self.max_len - cur.len();
                let (now, later) = rest.split_at(room.min(rest.len()));
                cur.extend_from_slice(now);
                rest = later;
                if cur.len() >= self.max_len {
                    let full = std::mem::replace(cur, Vec::with_capacity(self.max_len));
                    if let Some(tx) = &self.seg_tx {
                        let _ = tx.send(Utterance {
                            pcm: full,
                            end_of_turn: false,
                        });
                    }
                }
            }
        } else if self.preroll_len > 0 {
            let skip = pcm.len().saturating_sub(self.preroll_len);
            self.preroll.extend(&pcm[skip..]);
            let excess = self.preroll.len().saturating_sub(self.preroll_len);
            self.preroll.drain(..excess);
        }
    }

    fn speech_started(&mut self) {
        if self.current.is_none() {
            let mut cur = Vec::with_capacity(self.max_len.min(16_000 * 5));
            cur.extend(self.preroll.drain(..));
            self.current = Some(cur);
        }
    }

    fn speech_ended(&mut self) {
        if let Some(cur) = self.current.take()
            && !cur.is_empty()
            && let Some(tx) = &self.seg_tx
        {
            let _ = tx.send(Utterance {
                pcm: cur,
                end_of_turn: true,
            });
        }
    }

    fn close(&mut self) {
        self.speech_ended();
        self.seg_tx = None;
    }
}

impl Stt for OpenAiStt {
    fn open(&self, params: &SttParams) -> (Box<dyn SttStream>, EventRx<SttEvent>) {
        let (tx, rx) = event_channel();
        let (seg_tx, mut seg_rx) = mpsc::unbounded_channel::<Utterance>();
        let rate = if params.sample_rate == 0 {
            16_000
        } else {
            params.sample_rate
        };
        let this = self.clone();
        let params = params.clone();
        tokio::task::spawn_local(async move {
            while let Some(u) = tokio::select! {
                u = seg_rx.recv() => u,
                _ = tx.closed() => None,
            } {
                let res = tokio::select! {
                    r = tokio::time::timeout(this.timeouts.total, this.transcribe(&u.pcm, rate, &params)) => r,
                    _ = tx.closed() => return,
                };
                let ev = match res {
                    Ok(Ok(text)) => Ok(SttEvent::Final {
                        text,
                        end_of_turn: u.end_of_turn,
                    }),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(ProviderError::new(
                        ProviderErrorKind::Timeout,
                        "total",
                        "transcription took too long",
                    )),
                };
                if tx.send(ev).is_err() {
                    return;
                }
            }
        });
        let stream = SegmentingStream {
            seg_tx: Some(seg_tx),
            preroll: VecDeque::with_capacity((rate * PREROLL_MS / 1000) as usize),
            preroll_len: (rate * PREROLL_MS / 1000) as usize,
            current: None,
            max_len: (rate * MAX_UTTERANCE_SECS) as usize,
        };
        (Box::new(stream), rx)
    }
}

impl OpenAiStt {
    async fn transcribe(&self, pcm: &[i16], rate: u32, p: &SttParams) -> Result<String, ProviderError> {
        let model = [p.model.as_str(), self.model.as_str()]
            .into_iter()
            .find(|m| !m.is_empty())
            .unwrap_or(DEFAULT_MODEL);
        let lang = if p.language.is_empty() {
            &self.language
        } else {
            &p.language
        };
        let lang = lang.split(['-', '_']).next().unwrap_or("");
        let mut fields: Vec<(&str, String)> = vec![("model", model.to_owned()), ("response_format", "json".to_owned())];
        if !lang.is_empty() {
            fields.push(("language", lang.to_owned()));
        }
        if !p.keywords.is_empty() {
            fields.push(("prompt", p.keywords.join(", ")));
        }
        let body = multipart_body(&fields, &wav_bytes(pcm, rate));
        let body = bytes::Bytes::from(body);
        let build = |client: &reqwest::Client| {
            let rb = client
                .post(&self.url)
                .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
                .body(body.clone());
            match &self.api_key {
                Some(k) => rb.bearer_auth(k),
                None => rb,
            }
        };
        let resp = self
            .pool
            .send(&self.url, build, &self.timeouts, self.api_key.as_deref())
            .await?;
        let mut reader = BodyReader::new(resp, &self.timeouts);
        let mut buf = Vec::new();
        while let Some(c) = reader.next().await? {
            buf.extend_from_slice(&c);
            if buf.len() > MAX_RESPONSE {
                return Err(ProviderError::new(
                    ProviderErrorKind::Protocol,
                    "stream",
                    "transcription response too large",
                ));
            }
        }
        parse_transcription(&buf)
    }
}

/// The text of a `response_format=json` transcription response.
pub fn parse_transcription(body: &[u8]) -> Result<String, ProviderError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ProviderError::new(
            ProviderErrorKind::Protocol,
            "stream",
            format!("bad transcription JSON: {e}"),
        )
    })?;
    match v.get("text").and_then(Value::as_str) {
        Some(t) => Ok(t.trim().to_owned()),
        None => Err(ProviderError::new(
            ProviderErrorKind::Protocol,
            "stream",
            "transcription without text",
        )),
    }
}

/// A 16-bit mono PCM WAV file.
pub fn wav_bytes(pcm: &[i16], rate: u32) -> Vec<u8> {
    let data_len = (pcm.len() * 2) as u32;
    let mut w = Vec::with_capacity(44 + pcm.len() * 2);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate * 2).to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    for s in pcm {
        w.extend_from_slice(&s.to_le_bytes());
    }
    w
}

fn multipart_body(fields: &[(&str, String)], wav: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(wav.len() + 512);
    for (name, value) in fields {
        b.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
        );
        b.extend_from_slice(value.as_bytes());
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"audio.wav\"\r\n\
             Content-Type: audio/wav\r\n\r\n"
        )
        .as_bytes(),
    );
    b.extend_from_slice(wav);
    b.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    b
}
