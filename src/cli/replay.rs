//! `cxb replay CALL.json --bot BOT.json [--old-bot OLD.json] [--audio caller.wav]`: re-runs the
//! VAD and turn-taking decisions of a recorded call under other settings, so an operator can tune
//! a bot before changing it live.
//!
//! The caller audio (left channel of the call's stereo recording, or a mono file) goes through
//! `cxb_dsp`'s VAD with each bot's `behavior.vad`; the [`Conversation`] is fed those VAD events,
//! the recorded caller lines as STT results (one interim per word spread over the line, the final
//! at its `end_ms`) and simulated bot replies (the recorded bot lines in order, LLM first token
//! after [`LLM_MS`], speech at the recorded speaking rate after [`TTS_MS`]), in 20 ms virtual
//! ticks with a simulated downlink. Re-engagement and the call limit are off: only turn-taking
//! is compared. The old settings are `--old-bot`, or the defaults when it is not given.
//!
//! Reported per setting: barge-ins, cut-offs (the bot started a line while the VAD said the
//! caller was speaking), caller turns answered, response time p50/p95 (caller's speech end → the
//! bot's first reply audio). The last line of output is JSON:
//! `{"old":{"barge_ins":…,"cut_offs":…,"turns":…,"p50_ms":…,"p95_ms":…},"new":{…}}`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{Context, bail};
use cxb_dataplane::agent::api::{LlmEvent, LlmUsage, SttEvent, TtsAudio};
use cxb_dataplane::agent::conversation::{Action, Conversation, ConversationCtx, LlmId, SegmentId};
use cxb_dataplane::media::MediaEvent;
use cxb_dsp::resample::{Quality, Resampler};
use cxb_dsp::vad::{VadConfig, VadDetector, VadEvent};
use cxb_model::{BotConfig, CallEventKind, CallRecord, TranscriptRole};

/// Simulated LLM time to first token, ms.
pub const LLM_MS: u64 = 300;
/// Simulated TTS time to first audio, ms.
pub const TTS_MS: u64 = 150;
const TICK_MS: u64 = 20;
const RATE: u32 = 16_000;

/// Arguments of `cxb replay`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The call record (JSON, as the API returns it).
    pub call: PathBuf,
    /// The bot with the new settings (JSON).
    #[arg(long)]
    pub bot: PathBuf,
    /// The bot with the old settings (JSON); default: the default settings.
    #[arg(long)]
    pub old_bot: Option<PathBuf>,
    /// Caller audio: a stereo recording (caller = left channel) or mono WAV.
    #[arg(long)]
    pub audio: Option<PathBuf>,
    /// Directory the call's `recording_key` is resolved against (when `--audio` is not given).
    #[arg(long, default_value = "data/recordings")]
    pub recordings: PathBuf,
}

/// What one setting did over the call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Caller interruptions of the bot.
    pub barge_ins: usize,
    /// Bot lines started while the caller was speaking (per VAD).
    pub cut_offs: usize,
    /// Caller turns answered.
    pub turns: usize,
    /// Response times, ms.
    pub response_ms: Vec<u32>,
}

impl Stats {
    fn percentile(&self, p: f64) -> Option<u32> {
        let mut v = self.response_ms.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        Some(v[i.min(v.len() - 1)])
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "barge_ins": self.barge_ins,
            "cut_offs": self.cut_offs,
            "turns": self.turns,
            "p50_ms": self.percentile(0.5),
            "p95_ms": self.percentile(0.95),
        })
    }
}

/// Runs the replay and prints the comparison.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rec: CallRecord = serde_json::from_slice(
        &std::fs::read(&args.call).with_context(|| format!("cannot read {}", args.call.display()))?,
    )
    .with_context(|| format!("{}: not a call record", args.call.display()))?;
    let read_bot = |p: &PathBuf| -> anyhow::Result<BotConfig> {
        let b: BotConfig =
            serde_json::from_slice(&std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?)
                .with_context(|| format!("{}: not a bot", p.display()))?;
        b.validate().map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        Ok(b)
    };
    let new = read_bot(&args.bot)?;
    let old = match &args.old_bot {
        Some(p) => read_bot(p)?,
        None => BotConfig::new(new.id.clone(), new.name.clone()),
    };
    let audio = match (&args.audio, &rec.recording_key) {
        (Some(p), _) => p.clone(),
        (None, Some(k)) => args.recordings.join(k),
        (None, None) => bail!("the call has no recording_key: give --audio"),
    };
    let pcm = read_caller(&audio)?;
    let offset_ms = match rec.answered_at {
        Some(a) => (a.as_millisecond() - rec.started_at.as_millisecond()).max(0) as u64,
        None => 0,
    };
    let old_stats = simulate(&rec, &old, &pcm, offset_ms)?;
    let new_stats = simulate(&rec, &new, &pcm, offset_ms)?;
    let row = |name: &str, a: String, b: String| println!("{name:<18} {a:>8} {b:>8}");
    let opt = |v: Option<u32>| v.map_or("-".to_owned(), |v| v.to_string());
    row("metric", "old".into(), "new".into());
    row(
        "barge_ins",
        old_stats.barge_ins.to_string(),
        new_stats.barge_ins.to_string(),
    );
    row(
        "cut_offs",
        old_stats.cut_offs.to_string(),
        new_stats.cut_offs.to_string(),
    );
    row("turns", old_stats.turns.to_string(), new_stats.turns.to_string());
    row(
        "response_p50_ms",
        opt(old_stats.percentile(0.5)),
        opt(new_stats.percentile(0.5)),
    );
    row(
        "response_p95_ms",
        opt(old_stats.percentile(0.95)),
        opt(new_stats.percentile(0.95)),
    );
    println!(
        "{}",
        serde_json::json!({"old": old_stats.json(), "new": new_stats.json()})
    );
    Ok(ExitCode::SUCCESS)
}

/// The caller channel (left, or the only one) at 16 kHz.
fn read_caller(path: &PathBuf) -> anyhow::Result<Vec<i16>> {
    let reader = hound::WavReader::open(path).with_context(|| format!("cannot read WAV file {}", path.display()))?;
    let spec = reader.spec();
    let ch = usize::from(spec.channels.max(1));
    let samples: Vec<i16> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 16) => reader.into_samples::<i16>().step_by(ch).collect::<Result<_, _>>()?,
        (hound::SampleFormat::Float, 32) => reader
            .into_samples::<f32>()
            .step_by(ch)
            .map(|s| s.map(|v| (v * 32768.0).clamp(-32768.0, 32767.0) as i16))
            .collect::<Result<_, _>>()?,
        _ => bail!("{}: only 16-bit PCM or 32-bit float WAV", path.display()),
    };
    if spec.sample_rate == RATE {
        return Ok(samples);
    }
    let mut r = Resampler::new(spec.sample_rate, RATE, Quality::Telephone)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut out = vec![0i16; r.output_len_for(samples.len()) + 64];
    let p = r.process_i16(&samples, &mut out);
    out.truncate(p.produced);
    Ok(out)
}

/// Speech segments (start, end) in ms of audio time under `bot`'s VAD settings.
fn vad_segments(bot: &BotConfig, pcm: &[i16]) -> anyhow::Result<Vec<(u64, u64)>> {
    let v = &bot.behavior.vad;
    let cfg = VadConfig {
        confidence: v.confidence,
        start_secs: v.start_secs,
        stop_secs: v.stop_secs,
        min_volume_dbfs: v.min_volume_dbfs,
    };
    let mut det = VadDetector::new(RATE, cfg).map_err(|e| anyhow::anyhow!("VAD: {e}"))?;
    det.push(pcm);
    det.finish();
    let ms = |s: u64| s * 1000 / u64::from(RATE);
    let mut segs = Vec::new();
    let mut start = None;
    while let Some(ev) = det.poll_event() {
        match ev {
            VadEvent::SpeechStart { sample } => start = Some(ms(sample)),
            VadEvent::SpeechEnd { sample } => {
                if let Some(s) = start.take() {
                    segs.push((s, ms(sample)));
                }
            }
        }
    }
    Ok(segs)
}

enum Ev {
    Media(MediaEvent),
    Stt(SttEvent),
    Llm(LlmId, LlmEvent),
    Tts(SegmentId, TtsAudio),
    TtsDone(SegmentId),
}

/// Plays the recorded call through a [`Conversation`] for `bot` in virtual time.
pub fn simulate(rec: &CallRecord, bot: &BotConfig, pcm: &[i16], offset_ms: u64) -> anyhow::Result<Stats> {
    let mut bot = bot.clone();
    bot.behavior.reengage_gap_secs = 0;
    bot.max_call_seconds = cxb_model::bot::MAX_CALL_SECONDS;
    bot.knowledge_base.clear();
    let segs = vad_segments(&bot, pcm)?;
    let speaking = |t: u64| segs.iter().any(|&(s, e)| t >= s + offset_ms && t < e + offset_ms);
    let mut sched: Vec<(u64, u64, Ev)> = Vec::new();
    let mut seq = 0u64;
    let mut push = |sched: &mut Vec<(u64, u64, Ev)>, t: u64, ev: Ev| {
        seq += 1;
        sched.push((t, seq, ev));
    };
    for &(s, e) in &segs {
        push(
            &mut sched,
            s + offset_ms,
            Ev::Media(MediaEvent::SpeechStarted {
                at: Duration::from_millis(s + offset_ms),
            }),
        );
        push(
            &mut sched,
            e + offset_ms,
            Ev::Media(MediaEvent::SpeechEnded {
                at: Duration::from_millis(e + offset_ms),
            }),
        );
    }
    let mut bot_lines = Vec::new();
    let (mut bot_ms, mut bot_chars) = (0u64, 0u64);
    for t in &rec.transcript {
        match t.role {
            TranscriptRole::Caller => {
                let words: Vec<&str> = t.text.split_whitespace().collect();
                let dur = t.end_ms.saturating_sub(t.start_ms);
                for k in 1..words.len() {
                    let at = t.start_ms + dur * k as u64 / words.len() as u64;
                    push(
                        &mut sched,
                        at,
                        Ev::Stt(SttEvent::Interim {
                            text: words[..k].join(" "),
                        }),
                    );
                }
                push(
                    &mut sched,
                    t.end_ms,
                    Ev::Stt(SttEvent::Final {
                        text: t.text.clone(),
                        end_of_turn: true,
                    }),
                );
            }
            TranscriptRole::Bot => {
                bot_ms += t.end_ms.saturating_sub(t.start_ms);
                bot_chars += t.text.chars().count() as u64;
                bot_lines.push(t.text.clone());
            }
        }
    }
    let ms_per_char = bot_ms.checked_div(bot_chars).map_or(65, |v| v.clamp(20, 200));
    // The opening is spoken from the bot's settings; replies use the recorded lines after it.
    let mut replies = bot_lines
        .into_iter()
        .skip(usize::from(!bot.opening_message.trim().is_empty()))
        .collect::<Vec<_>>();
    replies.reverse();
    sched.sort_by_key(|e| (e.0, e.1));
    let end = (pcm.len() as u64 * 1000 / u64::from(RATE) + offset_ms)
        .max(rec.transcript.iter().map(|t| t.end_ms).max().unwrap_or(0))
        + 5000;

    let ctx = ConversationCtx::new(rec.direction, Duration::ZERO);
    let mut c = Conversation::new(Rc::new(bot), ctx);
    let mut stats = Stats::default();
    let mut queued = 0usize;
    let mut now = 0u64;
    let mut answered = false;
    let mut sched: std::collections::VecDeque<(u64, u64, Ev)> = sched.into();
    let mut later: Vec<(u64, u64, Ev)> = Vec::new();
    while now <= end && !c.is_ended() {
        let d = Duration::from_millis(now);
        if !answered && now >= offset_ms {
            answered = true;
            c.on_answered(d);
        }
        later.sort_by_key(|e| (e.0, e.1));
        loop {
            let take_later = later.first().is_some_and(|e| e.0 <= now);
            let ev = if take_later {
                later.remove(0).2
            } else if sched.front().is_some_and(|e| e.0 <= now) {
                sched
                    .pop_front()
                    .map(|e| e.2)
                    .unwrap_or(Ev::Media(MediaEvent::BotAudioStarted))
            } else {
                break;
            };
            match ev {
                Ev::Media(m) => c.on_media(d, &m),
                Ev::Stt(s) => c.on_stt(d, s),
                Ev::Llm(id, e) => c.on_llm(d, id, e),
                Ev::Tts(s, a) => c.on_tts(d, s, a),
                Ev::TtsDone(s) => c.on_tts_done(d, s),
            }
            drain(
                &mut c,
                now,
                &mut queued,
                &mut later,
                &mut replies,
                ms_per_char,
                &speaking,
                &mut stats,
            );
        }
        while c.poll_timeout().is_some_and(|t| t <= d) {
            c.on_timeout(d);
            drain(
                &mut c,
                now,
                &mut queued,
                &mut later,
                &mut replies,
                ms_per_char,
                &speaking,
                &mut stats,
            );
        }
        if queued > 0 {
            queued -= queued.min(320);
            c.on_played(d, queued);
            if queued == 0 {
                c.on_media(d, &MediaEvent::BotAudioDrained);
            }
            drain(
                &mut c,
                now,
                &mut queued,
                &mut later,
                &mut replies,
                ms_per_char,
                &speaking,
                &mut stats,
            );
        }
        now += TICK_MS;
    }
    let out = c.finish(Duration::from_millis(now));
    stats.barge_ins = out.events.iter().filter(|e| e.kind == CallEventKind::BargeIn).count();
    stats.turns = out.turn_latencies.len();
    stats.response_ms = out.turn_latencies.iter().filter_map(|l| l.total_ms).collect();
    Ok(stats)
}

/// Carries out the conversation's actions in the simulation.
#[allow(clippy::too_many_arguments)]
fn drain(
    c: &mut Conversation,
    now: u64,
    queued: &mut usize,
    later: &mut Vec<(u64, u64, Ev)>,
    replies: &mut Vec<String>,
    ms_per_char: u64,
    speaking: &dyn Fn(u64) -> bool,
    stats: &mut Stats,
) {
    let seq = u64::MAX / 2 + later.len() as u64;
    while let Some(a) = c.poll_action() {
        match a {
            Action::StartLlm { id, .. } => {
                let text = replies.pop().unwrap_or_else(|| "Okay.".to_owned());
                later.push((now + LLM_MS, seq, Ev::Llm(id, LlmEvent::Text(text))));
                later.push((
                    now + LLM_MS + 20,
                    seq + 1,
                    Ev::Llm(
                        id,
                        LlmEvent::Done {
                            usage: LlmUsage::default(),
                        },
                    ),
                ));
            }
            Action::Speak { seg, text } => {
                let n = (text.chars().count() as u64 * ms_per_char * u64::from(RATE) / 1000) as usize;
                later.push((
                    now + TTS_MS,
                    seq,
                    Ev::Tts(
                        seg,
                        TtsAudio {
                            sample_rate: RATE,
                            pcm: vec![0; n].into(),
                        },
                    ),
                ));
                later.push((now + TTS_MS, seq + 1, Ev::TtsDone(seg)));
            }
            Action::CancelTts { seg } => later.retain(|e| !matches!(&e.2, Ev::Tts(s, _) | Ev::TtsDone(s) if *s == seg)),
            Action::CancelLlm { id } => later.retain(|e| !matches!(&e.2, Ev::Llm(i, _) if *i == id)),
            Action::PlayAudio { pcm16k, .. } => {
                if *queued == 0 && speaking(now) {
                    stats.cut_offs += 1;
                }
                *queued += pcm16k.len();
            }
            Action::StopPlayout => *queued = 0,
            Action::Search { .. } | Action::CallTool { .. } | Action::Transfer { .. } | Action::Hangup { .. } => {}
        }
    }
}
