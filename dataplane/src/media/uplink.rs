//! Caller → us: line-rate PCM to 16 kHz, VAD with an echo veto, the caller-audio ring.
//!
//! On an 8 kHz line (G.711) the VAD and its echo gate run on the line audio itself: the VAD
//! works at 8 kHz internally, so converting up to 16 kHz and back down for it would only cost
//! CPU (and its 8 kHz quality on the vad-dev set is at least the 16 kHz one, see BENCHMARKS.md).

use std::time::Duration;

use cxb_dsp::echo::EchoGate;
use cxb_dsp::resample::{Quality, Resampler};
use cxb_dsp::vad::{VadConfig, VadDetector, VadEvent};
use rtrb::{Consumer, Producer, RingBuffer};

use super::events::EventQueue;
use super::{FRAME_16K, MediaError, MediaEvent, PIPELINE_RATE};

/// Line audio is handled in steps of at most this long (one 20 ms tick's frame): the 16 kHz
/// buffer is sized for one step, not for the longest packet (a 120 ms packet is four steps).
const CHUNK_MS: u32 = 20;

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
    /// Rate the VAD and the echo gate run at: the line's 8 kHz, else 16 kHz.
    vad_rate: u32,
    vad_config: VadConfig,
    resampler: Option<Resampler>,
    /// Line samples per step ([`CHUNK_MS`]).
    chunk: usize,
    buf16: Vec<i16>,
    vad: VadDetector,
    echo: EchoGate,
    ring: Producer<i16>,
    consumer: Option<Consumer<i16>>,
    last: [i16; FRAME_16K],
    samples_16k: u64,
    overflow: u64,
    origin: Duration,
    /// When the current VAD started (its sample counts start there; a codec change that moves
    /// the VAD to another rate starts a new one).
    vad_origin: Duration,
    /// Speech events (one per frame at most; the shard drains them every tick).
    events: EventQueue<8>,
}

/// The VAD's rate on a line at `line_rate`.
fn vad_rate_for(line_rate: u32) -> u32 {
    if line_rate == 8000 { 8000 } else { PIPELINE_RATE }
}

impl Uplink {
    /// Starts loading the heap buffers a caller frame touches into the cache (see
    /// [`cxb_dsp::simd::prefetch`]); the uplink itself (VAD and echo gate inline) is inline in
    /// its owner, which prefetches it.
    #[inline]
    pub fn prefetch(&self) {
        if let Some(r) = &self.resampler {
            r.prefetch();
        }
        cxb_dsp::simd::prefetch_slice(&self.buf16);
        self.vad.prefetch();
        self.echo.prefetch();
    }

    /// An uplink for line-rate PCM at `line_rate` (any rate the resampler takes: 8000, 16000,
    /// 48000 …), a ring of `ring_samples` (16 kHz) and a timeline starting at `origin`.
    pub fn new(line_rate: u32, vad: VadConfig, ring_samples: usize, origin: Duration) -> Result<Self, MediaError> {
        let (ring, consumer) = RingBuffer::new(ring_samples.max(FRAME_16K));
        let vad_rate = vad_rate_for(line_rate);
        let mut up = Uplink {
            line_rate,
            vad_rate,
            vad_config: vad,
            resampler: None,
            chunk: 0,
            buf16: Vec::new(),
            vad: VadDetector::new(vad_rate, vad)?,
            echo: EchoGate::new(vad_rate)?,
            ring,
            consumer: Some(consumer),
            last: [0; FRAME_16K],
            samples_16k: 0,
            overflow: 0,
            origin,
            vad_origin: origin,
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
        self.chunk = (line_rate * CHUNK_MS / 1000).max(1) as usize;
        let out = match &self.resampler {
            Some(r) => r.output_len_for(self.chunk) + 64,
            None => self.chunk,
        };
        self.buf16 = vec![0; out];
        self.line_rate = line_rate;
        let vad_rate = vad_rate_for(line_rate);
        if vad_rate != self.vad_rate {
            self.vad_origin =
                self.origin + Duration::from_micros(self.samples_16k * 1_000_000 / u64::from(PIPELINE_RATE));
            self.vad = VadDetector::new(vad_rate, self.vad_config)?;
            self.echo = EchoGate::new(vad_rate)?;
            self.vad_rate = vad_rate;
        }
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

    /// Our outgoing audio, as sent, at 16 kHz and at the line rate (the echo gate's far end; it
    /// takes the one at its rate).
    pub fn push_far(&mut self, bot16k: &[i16], bot_line: &[i16]) {
        if self.vad_rate == self.line_rate {
            self.echo.push_far(bot_line);
        } else {
            self.echo.push_far(bot16k);
        }
    }

    /// The rate the VAD and the echo gate run at.
    pub fn vad_rate(&self) -> u32 {
        self.vad_rate
    }

    /// The most recent 20 ms of caller audio at 16 kHz (for the recorder).
    pub fn last_frame_16k(&self) -> &[i16] {
        &self.last
    }

    /// Received caller audio at the line rate (any length; one tick's frame normally).
    pub fn push_line_frame(&mut self, pcm: &[i16]) {
        for chunk in pcm.chunks(self.chunk) {
            let n = match &mut self.resampler {
                Some(r) => r.process_i16(chunk, &mut self.buf16).produced,
                None => {
                    self.buf16[..chunk.len()].copy_from_slice(chunk);
                    chunk.len()
                }
            };
            let echo = &mut self.echo;
            if self.vad_rate == self.line_rate {
                self.vad.push_with_veto(chunk, |f| echo.near_frame(f));
            } else {
                self.vad.push_with_veto(&self.buf16[..n], |f| echo.near_frame(f));
            }
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
        self.vad_origin + Duration::from_micros(sample * 1_000_000 / u64::from(self.vad_rate))
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
