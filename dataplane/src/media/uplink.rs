//! Caller → us: line-rate PCM to 16 kHz, VAD with an echo veto, the caller-audio ring.

use std::time::Duration;

use cxb_dsp::echo::EchoGate;
use cxb_dsp::resample::{Quality, Resampler};
use cxb_dsp::vad::{VadConfig, VadDetector, VadEvent};
use rtrb::{Consumer, Producer, RingBuffer};

use super::events::EventQueue;
use super::{FRAME_16K, MediaError, MediaEvent, PIPELINE_RATE};

/// Largest line frame handled in one step (120 ms at 48 kHz); longer input is chunked.
const MAX_LINE_CHUNK: usize = 5760;

/// The caller side of a call's audio. Feed it one frame per tick with
/// [`push_line_frame`](Self::push_line_frame) and what we send with [`push_far`](Self::push_far);
/// read 16 kHz caller audio from the ring ([`take_caller_ring`](Self::take_caller_ring)) and
/// speech events from [`poll_event`](Self::poll_event).
///
/// The ring carries the caller audio unchanged (speech recognisers want it raw); the echo gate
/// only keeps the bot's own echo from counting as caller speech in the VAD.
#[derive(Debug)]
pub struct Uplink {
    line_rate: u32,
    resampler: Option<Resampler>,
    buf16: Vec<i16>,
    vad: VadDetector,
    echo: EchoGate,
    ring: Producer<i16>,
    consumer: Option<Consumer<i16>>,
    last: [i16; FRAME_16K],
    samples_16k: u64,
    overflow: u64,
    origin: Duration,
    events: EventQueue,
}

impl Uplink {
    /// An uplink for line-rate PCM at `line_rate` (any rate the resampler takes: 8000, 16000,
    /// 48000 …), a ring of `ring_samples` (16 kHz) and a timeline starting at `origin`.
    pub fn new(line_rate: u32, vad: VadConfig, ring_samples: usize, origin: Duration) -> Result<Self, MediaError> {
        let (ring, consumer) = RingBuffer::new(ring_samples.max(FRAME_16K));
        let mut up = Uplink {
            line_rate,
            resampler: None,
            buf16: Vec::new(),
            vad: VadDetector::new(PIPELINE_RATE, vad)?,
            echo: EchoGate::new(PIPELINE_RATE)?,
            ring,
            consumer: Some(consumer),
            last: [0; FRAME_16K],
            samples_16k: 0,
            overflow: 0,
            origin,
            events: EventQueue::new(),
        };
        up.set_line_rate(line_rate)?;
        Ok(up)
    }

    /// Changes the line rate (codec change); allocates.
    pub fn set_line_rate(&mut self, line_rate: u32) -> Result<(), MediaError> {
        self.resampler = if line_rate == PIPELINE_RATE {
            None
        } else {
            Some(Resampler::new(line_rate, PIPELINE_RATE, Quality::Telephone)?)
        };
        let out = match &self.resampler {
            Some(r) => r.output_len_for(MAX_LINE_CHUNK) + 64,
            None => MAX_LINE_CHUNK,
        };
        self.buf16 = vec![0; out];
        self.line_rate = line_rate;
        Ok(())
    }

    /// The line rate.
    pub fn line_rate(&self) -> u32 {
        self.line_rate
    }

    /// The consumer side of the 16 kHz caller-audio ring (once; `None` afterwards). When nobody
    /// drains it, new audio is dropped and counted ([`overflow_samples`](Self::overflow_samples)).
    pub fn take_caller_ring(&mut self) -> Option<Consumer<i16>> {
        self.consumer.take()
    }

    /// Samples dropped because the ring was full.
    pub fn overflow_samples(&self) -> u64 {
        self.overflow
    }

    /// Whether the caller is speaking (a speech segment is open).
    pub fn is_speaking(&self) -> bool {
        self.vad.is_speaking()
    }

    /// Speech probability of the latest VAD frame, 0 to 1 (per frame, before hysteresis).
    pub fn last_speech_probability(&self) -> f32 {
        self.vad.last_probability()
    }

    /// Our outgoing audio at 16 kHz, as sent (the echo gate's far end).
    pub fn push_far(&mut self, bot16k: &[i16]) {
        self.echo.push_far(bot16k);
    }

    /// The most recent 20 ms of caller audio at 16 kHz (for the recorder).
    pub fn last_frame_16k(&self) -> &[i16] {
        &self.last
    }

    /// Received caller audio at the line rate (any length; one tick's frame normally).
    pub fn push_line_frame(&mut self, pcm: &[i16]) {
        for chunk in pcm.chunks(MAX_LINE_CHUNK) {
            let n = match &mut self.resampler {
                Some(r) => r.process_i16(chunk, &mut self.buf16).produced,
                None => {
                    self.buf16[..chunk.len()].copy_from_slice(chunk);
                    chunk.len()
                }
            };
            self.process_16k(n);
        }
    }

    fn process_16k(&mut self, n: usize) {
        let audio = &self.buf16[..n];
        // Recorder tap: the newest FRAME_16K samples (left-padded with older ones when short).
        if n >= FRAME_16K {
            self.last.copy_from_slice(&audio[n - FRAME_16K..]);
        } else {
            self.last.copy_within(n.., 0);
            self.last[FRAME_16K - n..].copy_from_slice(audio);
        }
        let echo = &mut self.echo;
        self.vad.push_with_veto(audio, |f| echo.near_frame(f));
        let room = self.ring.slots().min(n);
        if let Ok(chunk) = self.ring.write_chunk_uninit(room) {
            chunk.fill_from_iter(audio[..room].iter().copied());
        }
        self.overflow += (n - room) as u64;
        self.samples_16k += n as u64;
        while let Some(ev) = self.vad.poll_event() {
            let ev = match ev {
                VadEvent::SpeechStart { sample } => MediaEvent::SpeechStarted { at: self.at(sample) },
                VadEvent::SpeechEnd { sample } => MediaEvent::SpeechEnded { at: self.at(sample) },
            };
            self.events.push(ev);
        }
    }

    fn at(&self, sample: u64) -> Duration {
        self.origin + Duration::from_micros(sample * 1_000_000 / u64::from(PIPELINE_RATE))
    }

    /// 16 kHz samples processed so far.
    pub fn samples_16k(&self) -> u64 {
        self.samples_16k
    }

    /// Next speech event.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop()
    }
}
