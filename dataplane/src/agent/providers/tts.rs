//! Streamed text to speech: OpenAI-compatible `audio/speech` (24 kHz PCM) and ElevenLabs
//! `text-to-speech/{voice}/stream` (PCM at 8–44.1 kHz).

use std::sync::Arc;

use serde_json::json;

use super::pool::{self, BodyReader, HttpPool, Timeouts};
use crate::agent::api::{EventRx, EventTx, ProviderError, Tts, TtsAudio, TtsParams, event_channel};
use crate::media::SharedPcm;
use cxb_model::{ProviderEndpoint, StageConfig};

/// OpenAI default speech model.
pub const OPENAI_DEFAULT_MODEL: &str = "gpt-4o-mini-tts";
/// OpenAI default voice.
pub const OPENAI_DEFAULT_VOICE: &str = "alloy";
/// Rate of OpenAI `pcm` output.
pub const OPENAI_PCM_RATE: u32 = 24_000;
/// ElevenLabs default model.
pub const ELEVEN_DEFAULT_MODEL: &str = "eleven_flash_v2_5";
/// ElevenLabs default voice (a premade voice).
pub const ELEVEN_DEFAULT_VOICE: &str = "21m00Tcm4TlvDq8ikWAM";
/// PCM rates ElevenLabs can stream.
pub const ELEVEN_RATES: [u32; 5] = [8000, 16000, 22050, 24000, 44100];

/// Turns a byte stream of s16le samples into sample chunks, whatever the byte splits.
#[derive(Debug, Default, Clone)]
pub struct PcmAssembler {
    odd: Option<u8>,
}

impl PcmAssembler {
    /// A new assembler.
    pub fn new() -> PcmAssembler {
        PcmAssembler::default()
    }

    /// The whole samples completed by `bytes` (a trailing odd byte is kept for the next call),
    /// decoded straight into one shared buffer (one allocation, no intermediate `Vec`).
    pub fn push(&mut self, bytes: &[u8]) -> SharedPcm {
        self.samples(bytes).collect::<Arc<[i16]>>().into()
    }

    /// The samples `bytes` completes, of exactly known length (so collecting allocates once).
    fn samples<'a>(&mut self, bytes: &'a [u8]) -> impl Iterator<Item = i16> + use<'a> {
        let (head, rest) = match (self.odd.take(), bytes.split_first()) {
            (Some(lo), Some((&hi, rest))) => (Some(i16::from_le_bytes([lo, hi])), rest),
            (Some(lo), None) => {
                self.odd = Some(lo);
                (None, bytes)
            }
            (None, _) => (None, bytes),
        };
        let pairs = rest.chunks_exact(2);
        if let Some(&b) = pairs.remainder().first() {
            self.odd = Some(b);
        }
        head.into_iter().chain(pairs.map(|p| i16::from_le_bytes([p[0], p[1]])))
    }
}

/// Streams a response body of s16le PCM as [`TtsAudio`] chunks.
async fn stream_pcm(mut body: BodyReader, rate: u32, tx: &EventTx<TtsAudio>) -> Result<(), ProviderError> {
    let mut asm = PcmAssembler::new();
    while let Some(chunk) = body.next().await? {
        let pcm = asm.push(&chunk);
        if pcm.is_empty() {
            continue;
        }
        if tx.send(Ok(TtsAudio { sample_rate: rate, pcm })).is_err() {
            break;
        }
    }
    Ok(())
}

/// OpenAI-compatible streamed speech.
#[derive(Debug, Clone)]
pub struct OpenAiTts {
    pool: HttpPool,
    url: String,
    api_key: Option<String>,
    model: String,
    voice: String,
    timeouts: Timeouts,
}

impl OpenAiTts {
    /// A client for `endpoint`; the stage's model and voice are the defaults.
    pub fn new(pool: HttpPool, endpoint: &ProviderEndpoint, stage: &StageConfig) -> OpenAiTts {
        let base = pool::base_url(endpoint, stage);
        OpenAiTts {
            pool,
            url: pool::join_url(base, "/audio/speech"),
            api_key: pool::api_key(endpoint),
            model: pool::or_default(&stage.model, OPENAI_DEFAULT_MODEL),
            voice: pool::or_default(&stage.voice, OPENAI_DEFAULT_VOICE),
            timeouts: Timeouts::TTS,
        }
    }

    /// Replaces the default deadlines.
    pub fn with_timeouts(mut self, t: Timeouts) -> OpenAiTts {
        self.timeouts = t;
        self
    }
}

impl Tts for OpenAiTts {
    fn speak(&self, text: &str, params: &TtsParams) -> EventRx<TtsAudio> {
        let (tx, rx) = event_channel();
        let this = self.clone();
        let body = json!({
            "model": pool::or_default(&params.model, &self.model),
            "voice": pool::or_default(&params.voice, &self.voice),
            "input": text,
            "response_format": "pcm",
        });
        pool::spawn_op(tx, self.timeouts.total, move |tx| async move {
            let build = |client: &reqwest::Client| {
                let rb = client.post(&this.url).json(&body);
                match &this.api_key {
                    Some(k) => rb.bearer_auth(k),
                    None => rb,
                }
            };
            let resp = this
                .pool
                .send(&this.url, build, &this.timeouts, this.api_key.as_deref())
                .await?;
            stream_pcm(BodyReader::new(resp, &this.timeouts), OPENAI_PCM_RATE, &tx).await
        });
        rx
    }
}

/// ElevenLabs streamed speech.
#[derive(Debug, Clone)]
pub struct ElevenLabsTts {
    pool: HttpPool,
    base: String,
    api_key: Option<String>,
    model: String,
    voice: String,
    timeouts: Timeouts,
}

impl ElevenLabsTts {
    /// A client for `endpoint`; the stage's model and voice are the defaults.
    pub fn new(pool: HttpPool, endpoint: &ProviderEndpoint, stage: &StageConfig) -> ElevenLabsTts {
        let base = pool::base_url(endpoint, stage);
        ElevenLabsTts {
            pool,
            base: base.trim_end_matches('/').to_owned(),
            api_key: pool::api_key(endpoint),
            model: pool::or_default(&stage.model, ELEVEN_DEFAULT_MODEL),
            voice: pool::or_default(&stage.voice, ELEVEN_DEFAULT_VOICE),
            timeouts: Timeouts::TTS,
        }
    }

    /// Replaces the default deadlines.
    pub fn with_timeouts(mut self, t: Timeouts) -> ElevenLabsTts {
        self.timeouts = t;
        self
    }

    /// The output rate used for a preferred rate (16 kHz unless ElevenLabs offers the preferred one).
    pub fn output_rate(preferred: u32) -> u32 {
        if ELEVEN_RATES.contains(&preferred) {
            preferred
        } else {
            16_000
        }
    }
}

impl Tts for ElevenLabsTts {
    fn speak(&self, text: &str, params: &TtsParams) -> EventRx<TtsAudio> {
        let (tx, rx) = event_channel();
        let this = self.clone();
        let rate = ElevenLabsTts::output_rate(params.sample_rate);
        let voice = pool::or_default(&params.voice, &self.voice);
        let url = format!(
            "{}/v1/text-to-speech/{}/stream?output_format=pcm_{rate}",
            self.base,
            pool::encode_query(&voice)
        );
        let model = pool::or_default(&params.model, &self.model);
        let mut body = json!({"text": text, "model_id": model});
        // Only the v2.5 models take a language code; others infer it.
        if let Some(lang) = params
            .language
            .split('-')
            .next()
            .filter(|l| l.len() == 2 && model.contains("v2_5"))
        {
            body["language_code"] = json!(lang);
        }
        pool::spawn_op(tx, self.timeouts.total, move |tx| async move {
            let build = |client: &reqwest::Client| {
                let rb = client.post(&url).json(&body);
                match &this.api_key {
                    Some(k) => rb.header("xi-api-key", k),
                    None => rb,
                }
            };
            let resp = this
                .pool
                .send(&url, build, &this.timeouts, this.api_key.as_deref())
                .await?;
            stream_pcm(BodyReader::new(resp, &this.timeouts), rate, &tx).await
        });
        rx
    }
}
