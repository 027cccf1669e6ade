//! Bot → caller: a playout queue of 16 kHz bot audio with marks, cleared on barge-in, read out
//! in 20 ms frames at the line rate.
//!
//! The queue holds the audio pushed as chunks (one per TTS piece or prompt) and drops each chunk
//! once it has played, so a call's memory follows what is queued now — nothing while the bot is
//! silent — instead of a ring sized for the longest prompt that every call would touch in full.
//! Chunks are [`SharedPcm`] slices: a cached phrase many calls play is queued by reference
//! ([`Downlink::push_pcm`]), never copied per call. Reading a frame never allocates; pushing
//! allocates at most one chunk (none for shared audio, beyond the queue's own growth).

use std::collections::VecDeque;
use std::sync::Arc;

use cxb_dsp::resample::{Quality, Resampler};

use super::events::EventQueue;
use super::{FRAME_16K, MediaError, MediaEvent, PIPELINE_RATE, SharedPcm};

/// Most audio queued at once: 30 s at 16 kHz.
pub const DOWNLINK_CAPACITY: usize = 30 * PIPELINE_RATE as usize;
/// Marks that can be pending at once.
const MARK_CAP: usize = 64;

/// The bot side of a call's audio. See the [module docs](self).
#[derive(Debug)]
pub struct Downlink {
    /// Queued chunks; the front one is advanced as it plays.
    queue: VecDeque<SharedPcm>,
    /// Absolute sample positions (never wrap in practice: u64).
    read: u64,
    write: u64,
    marks: [(u64, u64); MARK_CAP],
    mark_head: usize,
    mark_len: usize,
    playing: bool,
    line_rate: u32,
    line_frame: usize,
    resampler: Option<Resampler>,
    last: [i16; FRAME_16K],
    /// The last frame handed out, at the line rate.
    last_line: Vec<i16>,
    scratch: Vec<i16>,
    /// Playout events: every pending mark may fire within one frame.
    events: EventQueue<{ MARK_CAP + 8 }>,
}

impl Downlink {
    /// Starts loading the heap buffers the next frame touches into the cache, with the queued
    /// audio it reads (see [`cxb_dsp::simd::prefetch`]); the downlink itself is inline in its
    /// owner, which prefetches it.
    #[inline]
    pub fn prefetch(&self) {
        if let Some(front) = self.queue.front() {
            cxb_dsp::simd::prefetch_slice(&front[..front.len().min(FRAME_16K)]);
        }
        if let Some(r) = &self.resampler {
            r.prefetch();
        }
        cxb_dsp::simd::prefetch_slice(&self.scratch);
        cxb_dsp::simd::prefetch_slice(&self.last_line);
    }

    /// A downlink producing 20 ms frames at `line_rate` (8000, 16000, 24000 or 48000).
    pub fn new(line_rate: u32) -> Result<Self, MediaError> {
        let mut d = Downlink {
            queue: VecDeque::new(),
            read: 0,
            write: 0,
            marks: [(0, 0); MARK_CAP],
            mark_head: 0,
            mark_len: 0,
            playing: false,
            line_rate,
            line_frame: 0,
            resampler: None,
            last: [0; FRAME_16K],
            last_line: Vec::new(),
            scratch: Vec::new(),
            events: EventQueue::new(),
        };
        d.set_line_rate(line_rate)?;
        Ok(d)
    }

    /// Changes the line rate (codec change); allocates. Queued audio is kept.
    pub fn set_line_rate(&mut self, line_rate: u32) -> Result<(), MediaError> {
        if !line_rate.is_multiple_of(50) {
            return Err(MediaError::UnsupportedRate { rate: line_rate });
        }
        self.resampler = if line_rate == PIPELINE_RATE {
            None
        } else {
            Some(Resampler::new(PIPELINE_RATE, line_rate, Quality::Telephone)?)
        };
        self.line_rate = line_rate;
        self.line_frame = (line_rate / 50) as usize;
        self.scratch = vec![0; self.line_frame + 64];
        self.last_line = vec![0; self.line_frame];
        Ok(())
    }

    /// Samples in one output frame at the line rate.
    pub fn frame_len(&self) -> usize {
        self.line_frame
    }

    /// Bot audio queued and not yet played, in 16 kHz samples.
    pub fn queued_samples(&self) -> usize {
        (self.write - self.read) as usize
    }

    /// Whether bot audio is being played.
    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// Enqueues 16 kHz bot audio (copied); returns how many samples were accepted (the rest did
    /// not fit under [`DOWNLINK_CAPACITY`]). For audio that is already shared, use
    /// [`push_pcm`](Self::push_pcm), which does not copy.
    pub fn push_bot_audio(&mut self, pcm16k: &[i16]) -> usize {
        let n = pcm16k.len().min(self.room());
        if n > 0 {
            self.enqueue(SharedPcm::from(&pcm16k[..n]));
        }
        n
    }

    /// Enqueues shared 16 kHz bot audio without copying it (a slice of a cached phrase); returns
    /// how many samples were accepted: what does not fit under `DOWNLINK_CAPACITY` (30 s) is cut off
    /// (a cut slice still shares its buffer).
    pub fn push_pcm(&mut self, mut pcm16k: SharedPcm) -> usize {
        let n = pcm16k.len().min(self.room());
        if n > 0 {
            pcm16k.truncate(n);
            self.enqueue(pcm16k);
        }
        n
    }

    /// Enqueues shared 16 kHz audio without copying it (a prompt many calls play, such as
    /// ringback); returns whether it fitted under [`DOWNLINK_CAPACITY`] (all or nothing).
    pub fn push_shared(&mut self, pcm16k: Arc<[i16]>) -> bool {
        if pcm16k.len() > self.room() {
            return false;
        }
        if !pcm16k.is_empty() {
            self.enqueue(SharedPcm::new(pcm16k));
        }
        true
    }

    /// Samples that still fit under [`DOWNLINK_CAPACITY`].
    fn room(&self) -> usize {
        DOWNLINK_CAPACITY.saturating_sub(self.queued_samples())
    }

    /// Appends a non-empty chunk.
    fn enqueue(&mut self, pcm16k: SharedPcm) {
        self.write += pcm16k.len() as u64;
        self.queue.push_back(pcm16k);
    }

    /// Inserts a mark after the audio queued so far; [`MediaEvent::MarkPlayed`] is reported when
    /// playout reaches it. Returns `false` (mark not stored) when 64 marks are pending.
    pub fn mark(&mut self, id: u64) -> bool {
        if self.mark_len == MARK_CAP {
            return false;
        }
        self.marks[(self.mark_head + self.mark_len) % MARK_CAP] = (self.write, id);
        self.mark_len += 1;
        true
    }

    /// Barge-in: drops all queued audio at once (the next frame is silence). Pending marks are
    /// reported as played (as Twilio-style media streams do on `clear`).
    pub fn clear(&mut self) {
        self.read = self.write;
        self.queue.clear();
        if let Some(r) = &mut self.resampler {
            // No filter tail of the flushed audio either.
            r.reset();
        }
        self.report_marks();
        if self.playing {
            self.playing = false;
            self.events.push(MediaEvent::BotAudioDrained);
        }
    }

    fn report_marks(&mut self) {
        while self.mark_len > 0 {
            let (pos, id) = self.marks[self.mark_head];
            if pos > self.read {
                break;
            }
            self.events.push(MediaEvent::MarkPlayed { id });
            self.mark_head = (self.mark_head + 1) % MARK_CAP;
            self.mark_len -= 1;
        }
    }

    /// The 16 kHz bot audio of the last frame handed out (silence-padded; for the recorder and
    /// the echo gate).
    pub fn last_frame_16k(&self) -> &[i16] {
        &self.last
    }

    /// The last frame handed out at the line rate (silence before the first; for the echo gate
    /// on 8 kHz lines).
    pub fn last_frame_line(&self) -> &[i16] {
        &self.last_line
    }

    /// Writes the next 20 ms frame at the line rate into `out` (which must hold
    /// [`frame_len`](Self::frame_len) samples; extra room is left untouched) and returns the
    /// samples written. Silence when the queue is empty.
    pub fn next_frame(&mut self, out: &mut [i16]) -> usize {
        let mut had = 0;
        while had < FRAME_16K {
            let Some(front) = self.queue.front_mut() else { break };
            let take = front.len().min(FRAME_16K - had);
            self.last[had..had + take].copy_from_slice(&front[..take]);
            had += take;
            front.advance(take);
            if front.is_empty() {
                self.queue.pop_front();
            }
        }
        self.last[had..].fill(0);
        self.read += had as u64;
        if had > 0 && !self.playing {
            self.playing = true;
            self.events.push(MediaEvent::BotAudioStarted);
        }
        self.report_marks();
        if self.playing && self.queued_samples() == 0 {
            self.playing = false;
            self.events.push(MediaEvent::BotAudioDrained);
        }
        let n = self.line_frame.min(out.len());
        match &mut self.resampler {
            None => out[..n].copy_from_slice(&self.last[..n]),
            Some(r) => {
                let p = r.process_i16(&self.last, &mut self.scratch).produced;
                let m = p.min(n);
                out[..m].copy_from_slice(&self.scratch[..m]);
                out[m..n].fill(0);
            }
        }
        let k = n.min(self.last_line.len());
        self.last_line[..k].copy_from_slice(&out[..k]);
        n
    }

    /// A frame of silence without consuming the queue (nowhere to send yet); returns the
    /// samples written like [`next_frame`](Self::next_frame).
    pub fn skip_frame(&mut self, out: &mut [i16]) -> usize {
        self.last.fill(0);
        self.last_line.fill(0);
        let n = self.line_frame.min(out.len());
        out[..n].fill(0);
        n
    }

    /// Next playout event.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop()
    }
}
