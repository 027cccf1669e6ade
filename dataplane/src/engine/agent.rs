//! Runs a call's [`Conversation`] on its shard: feeds it the media events and playout progress
//! of every 20 ms tick, streams the caller's audio to STT, forwards provider results as they
//! arrive (one small forwarding task per operation, into the call's inbox), and carries out the
//! conversation's actions: start/cancel LLM and TTS streams, play audio, clear the downlink on
//! barge-in, search the knowledge base, run webhooks, and ask the shard to transfer or hang up.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use cxb_dsp::amd::{AmdConfig, AmdDetector, AmdEvent, EarlyTone, Verdict};
use cxb_model::{AmdVerdict, BotConfig, CallDirection, DisconnectedBy, KnowledgeSearch};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::agent::api::{EventRx, LlmEvent, ProviderError, SttEvent, SttStream, TtsAudio};
use crate::agent::conversation::{
    Action, Conversation, ConversationCtx, ConversationRecord, LlmId, ProviderOp, SegmentId, ToolCallId, ToolOutcome,
};
use crate::agent::factory::{AgentFactory, ProviderSet};
use crate::agent::knowledge::Retriever;
use crate::agent::providers::HttpPool;
use crate::agent::webhook;
use crate::media::{Downlink, MediaEvent, RtpMedia, Uplink};

/// A far-end frame is speech for the voicemail detector at this VAD probability …
const AMD_SPEECH_PROBABILITY: f32 = 0.5;
/// … and this level (dBFS).
const AMD_MIN_DBFS: f32 = -55.0;

/// After this long without a media target, queued bot audio is dropped as played.
const UNLATCHED_DISCARD_AFTER: Duration = Duration::from_secs(2);

/// Knowledge hits put in front of the model per turn.
const KNOWLEDGE_HITS: usize = 3;
/// Caller audio moved to STT per read (samples, 16 kHz): a few frames.
const STT_CHUNK: usize = 1280;

/// Something a provider task delivers to its call.
#[derive(Debug)]
pub enum AgentInput {
    /// A speech-to-text result.
    Stt(Result<SttEvent, ProviderError>),
    /// A completion event.
    Llm(LlmId, Result<LlmEvent, ProviderError>),
    /// Synthesized audio.
    Tts(SegmentId, Result<TtsAudio, ProviderError>),
    /// A synthesis has no more audio.
    TtsDone(SegmentId),
    /// A webhook finished.
    Tool(ToolCallId, ToolOutcome),
}

/// What the conversation asks of the call's owner (the SIP shard or a WebSocket session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardEffect {
    /// Hang up, recording who ended the call.
    Hangup(DisconnectedBy),
    /// Transfer the caller (SIP: REFER to `destination`; WebSocket: a `transfer` event).
    Transfer {
        /// SIP URI or number.
        destination: String,
        /// The named target the bot chose.
        target: String,
        /// Why (from the model).
        reason: String,
    },
}

/// The media pipeline a [`CallAgent`] drives: a SIP call's [`RtpMedia`] or a WebSocket stream's
/// uplink and downlink.
pub trait AgentMedia {
    /// Caller side (VAD, caller-audio ring).
    fn uplink(&self) -> &Uplink;
    /// Caller side, mutable.
    fn uplink_mut(&mut self) -> &mut Uplink;
    /// Bot side (playout queue).
    fn downlink(&self) -> &Downlink;
    /// Bot side, mutable.
    fn downlink_mut(&mut self) -> &mut Downlink;
    /// Whether bot audio has somewhere to go (RTP: a latched or trusted address).
    fn can_send(&self) -> bool;
    /// Barge-in: drops the bot audio queued here (and, where the far end buffers audio, there).
    fn stop_playout(&mut self) {
        self.downlink_mut().clear();
    }
}

impl AgentMedia for RtpMedia {
    fn uplink(&self) -> &Uplink {
        RtpMedia::uplink(self)
    }

    fn uplink_mut(&mut self) -> &mut Uplink {
        RtpMedia::uplink_mut(self)
    }

    fn downlink(&self) -> &Downlink {
        RtpMedia::downlink(self)
    }

    fn downlink_mut(&mut self) -> &mut Downlink {
        RtpMedia::downlink_mut(self)
    }

    fn can_send(&self) -> bool {
        self.rtp_target().is_some()
    }
}

/// The agent side of one call.
pub struct CallAgent {
    conv: Conversation,
    providers: ProviderSet,
    pool: HttpPool,
    stt: Option<Box<dyn SttStream>>,
    ring: Option<rtrb::Consumer<i16>>,
    inbox: mpsc::UnboundedSender<AgentInput>,
    tasks: Tasks,
    retriever: Option<Retriever>,
    scratch: Vec<i16>,
    answered: Option<Duration>,
    amd: Option<AmdDetector>,
}

impl std::fmt::Debug for CallAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallAgent")
            .field("providers", &self.providers)
            .field("llm_tasks", &self.tasks.llm.len())
            .field("tts_tasks", &self.tasks.tts.len())
            .finish()
    }
}

impl CallAgent {
    /// The agent for a call of `bot`; provider results arrive on the returned inbox, which the
    /// shard drains with [`CallAgent::on_input`].
    pub fn new(
        bot: Rc<BotConfig>,
        ctx: ConversationCtx,
        factory: &AgentFactory,
        endpoints: &[cxb_model::ProviderEndpoint],
    ) -> (CallAgent, mpsc::UnboundedReceiver<AgentInput>) {
        let (inbox, rx) = mpsc::unbounded_channel();
        let providers = factory.build(&bot, endpoints);
        let retriever = factory.knowledge(&bot).map(|kb: Arc<_>| Retriever::new(kb, 16));
        let detect = bot.voicemail.detect
            && match ctx.direction {
                CallDirection::Outbound => true,
                CallDirection::Inbound => bot.voicemail.detect_inbound,
                CallDirection::Websocket => false,
            };
        let conv = Conversation::new(bot, ctx);
        let mut agent = CallAgent {
            conv,
            providers,
            pool: factory.pool().clone(),
            stt: None,
            ring: None,
            inbox,
            tasks: Tasks::default(),
            retriever,
            scratch: vec![0; STT_CHUNK],
            answered: None,
            amd: None,
        };
        if detect {
            agent.amd = AmdDetector::new(AmdConfig::default()).ok();
        }
        (agent, rx)
    }

    /// Media is negotiated: take the caller-audio ring and open the STT stream.
    pub fn attach<M: AgentMedia + ?Sized>(&mut self, media: &mut M) {
        if self.ring.is_none() {
            self.ring = media.uplink_mut().take_caller_ring();
        }
        if self.stt.is_none() {
            let (stream, rx) = self.providers.stt.open(&self.providers.stt_params);
            self.stt = Some(stream);
            let inbox = self.inbox.clone();
            self.tasks.stt = Some(forward(rx, inbox, AgentInput::Stt, None));
        }
    }

    /// The call was answered: the conversation starts (opening message).
    pub fn on_answered<M: AgentMedia + ?Sized>(
        &mut self,
        now: Duration,
        media: Option<&mut M>,
        effects: &mut Vec<ShardEffect>,
    ) {
        if self.answered.is_some() {
            return;
        }
        self.answered = Some(now);
        self.conv.on_answered(now);
        self.drive(now, media, effects);
    }

    /// Whether [`CallAgent::on_answered`] ran.
    pub fn is_answered(&self) -> bool {
        self.answered.is_some()
    }

    /// One 20 ms tick, after the media tick: caller audio to STT, playout progress and media
    /// events to the conversation, due timers, then the actions.
    pub fn tick<M: AgentMedia + ?Sized>(
        &mut self,
        now: Duration,
        media: &mut M,
        events: &[Option<MediaEvent>],
        effects: &mut Vec<ShardEffect>,
    ) {
        self.feed_stt();
        let Some(answered) = self.answered else {
            self.feed_early_media(now, media);
            self.drive(now, Some(media), effects);
            return;
        };
        // Nowhere to send (the peer never sent RTP to latch on and its SDP address is not
        // trusted): audio nobody can hear must not hold the conversation up (closing lines).
        if !media.can_send() && now.saturating_sub(answered) > UNLATCHED_DISCARD_AFTER {
            media.downlink_mut().clear();
        }
        self.conv.on_played(now, media.downlink().queued_samples());
        self.feed_amd(now, media);
        for ev in events.iter().flatten() {
            if let Some(stt) = self.stt.as_mut() {
                match ev {
                    MediaEvent::SpeechStarted { .. } => stt.speech_started(),
                    MediaEvent::SpeechEnded { .. } => stt.speech_ended(),
                    _ => {}
                }
            }
            self.conv.on_media(now, ev);
        }
        if self.conv.poll_timeout().is_some_and(|t| t <= now) {
            self.conv.on_timeout(now);
        }
        self.drive(now, Some(media), effects);
    }

    /// A provider result from the inbox.
    pub fn on_input<M: AgentMedia + ?Sized>(
        &mut self,
        now: Duration,
        input: AgentInput,
        media: Option<&mut M>,
        effects: &mut Vec<ShardEffect>,
    ) {
        match input {
            AgentInput::Stt(Ok(ev)) => {
                if let (Some(d), SttEvent::Final { text, .. }, Some(a)) = (self.amd.as_mut(), &ev, self.answered) {
                    d.transcript(text, now.saturating_sub(a).as_millis() as u64);
                }
                self.conv.on_stt(now, ev);
            }
            AgentInput::Stt(Err(e)) => self.conv.on_provider_error(now, ProviderOp::Stt, e),
            AgentInput::Llm(id, Ok(ev)) => self.conv.on_llm(now, id, ev),
            AgentInput::Llm(id, Err(e)) => self.conv.on_provider_error(now, ProviderOp::Llm(id), e),
            AgentInput::Tts(seg, Ok(audio)) => self.conv.on_tts(now, seg, audio),
            AgentInput::Tts(seg, Err(e)) => self.conv.on_provider_error(now, ProviderOp::Tts(seg), e),
            AgentInput::TtsDone(seg) => {
                self.tasks.tts.retain(|(s, _)| *s != seg);
                self.conv.on_tts_done(now, seg);
            }
            AgentInput::Tool(id, outcome) => self.conv.on_tool_result(now, id, outcome),
        }
        self.drive(now, media, effects);
    }

    /// The transfer the conversation asked for ended.
    pub fn on_transfer_result<M: AgentMedia + ?Sized>(
        &mut self,
        now: Duration,
        ok: bool,
        reason: Option<String>,
        media: Option<&mut M>,
        effects: &mut Vec<ShardEffect>,
    ) {
        self.conv.on_transfer_result(now, ok, reason);
        self.drive(now, media, effects);
    }

    /// The far end hung up.
    pub fn on_remote_hangup(&mut self, now: Duration) {
        self.conv.on_remote_hangup(now);
    }

    /// Stops every task and hands back the conversation's part of the call record.
    pub fn finish(mut self, now: Duration) -> ConversationRecord {
        self.tasks.stop();
        if let Some(mut s) = self.stt.take() {
            s.close();
        }
        self.conv.finish(now)
    }

    /// Runs the answering-machine detector over this tick's far-end frame.
    fn feed_amd<M: AgentMedia + ?Sized>(&mut self, now: Duration, media: &M) {
        let Some(d) = self.amd.as_mut() else { return };
        let up = media.uplink();
        let frame = up.last_frame_16k();
        let speech =
            up.last_speech_probability() >= AMD_SPEECH_PROBABILITY && cxb_dsp::level::dbfs(frame) >= AMD_MIN_DBFS;
        d.process(frame, speech);
        while let Some(ev) = d.poll_event() {
            let (verdict, beep) = match ev {
                AmdEvent::Verdict { verdict, .. } => (
                    match verdict {
                        Verdict::Human => AmdVerdict::Human,
                        Verdict::Machine => AmdVerdict::Machine,
                        Verdict::Unknown => AmdVerdict::Unknown,
                    },
                    false,
                ),
                // Leave the message once the beep is over (or there is none).
                AmdEvent::SilenceAfterBeep { .. } | AmdEvent::NoBeep { .. } => (AmdVerdict::Machine, true),
                AmdEvent::Beep { .. } | AmdEvent::EarlyTone { .. } => continue,
            };
            self.conv.on_amd(now, verdict, beep);
        }
        if !d.is_active() {
            self.amd = None;
        }
    }

    /// Outbound early media (before the answer) through the detector's call-progress tones:
    /// SIT or busy end the attempt (see [`Conversation::on_early_tone`]).
    fn feed_early_media<M: AgentMedia + ?Sized>(&mut self, now: Duration, media: &M) {
        let Some(d) = self.amd.as_mut() else { return };
        d.process_early(media.uplink().last_frame_16k());
        while let Some(ev) = d.poll_event() {
            if let AmdEvent::EarlyTone { tone, .. } = ev {
                let (name, fatal) = match tone {
                    EarlyTone::Sit => ("sit", true),
                    EarlyTone::Busy => ("busy", true),
                    EarlyTone::Ringback => ("ringback", false),
                };
                self.conv.on_early_tone(now, name, fatal);
            }
        }
    }

    /// Moves the caller audio that arrived since the last tick to STT.
    fn feed_stt(&mut self) {
        let (Some(ring), Some(stt)) = (self.ring.as_mut(), self.stt.as_mut()) else {
            return;
        };
        loop {
            let n = ring.slots().min(self.scratch.len());
            if n == 0 {
                break;
            }
            let Ok(chunk) = ring.read_chunk(n) else { break };
            let (a, b) = chunk.as_slices();
            self.scratch[..a.len()].copy_from_slice(a);
            self.scratch[a.len()..a.len() + b.len()].copy_from_slice(b);
            chunk.commit_all();
            stt.push(&self.scratch[..n]);
        }
    }

    /// Carries out every pending action.
    fn drive<M: AgentMedia + ?Sized>(
        &mut self,
        now: Duration,
        mut media: Option<&mut M>,
        effects: &mut Vec<ShardEffect>,
    ) {
        while let Some(action) = self.conv.poll_action() {
            match action {
                Action::StartLlm { id, request } => {
                    let rx = self.providers.llm.chat(request);
                    let task = forward(rx, self.inbox.clone(), move |r| AgentInput::Llm(id, r), None);
                    self.tasks.llm.push((id, task));
                }
                Action::CancelLlm { id } => {
                    self.tasks.llm.retain(|(i, t)| {
                        if *i == id {
                            t.abort();
                        }
                        *i != id
                    });
                }
                Action::Speak { seg, text } => {
                    let rx = self.providers.tts.speak(&text, &self.providers.tts_params);
                    let task = forward(
                        rx,
                        self.inbox.clone(),
                        move |r| AgentInput::Tts(seg, r),
                        Some(AgentInput::TtsDone(seg)),
                    );
                    self.tasks.tts.push((seg, task));
                }
                Action::CancelTts { seg } => {
                    self.tasks.tts.retain(|(s, t)| {
                        if *s == seg {
                            t.abort();
                        }
                        *s != seg
                    });
                }
                Action::PlayAudio { pcm16k, .. } => {
                    if let Some(m) = media.as_deref_mut() {
                        m.downlink_mut().push_pcm(pcm16k);
                    }
                }
                Action::StopPlayout => {
                    if let Some(m) = media.as_deref_mut() {
                        m.stop_playout();
                    }
                }
                Action::Search { turn, query } => self.search(now, turn, &query),
                Action::CallTool { id, tool, arguments } => {
                    let pool = self.pool.clone();
                    let inbox = self.inbox.clone();
                    self.tasks.tools.retain(|t| !t.is_finished());
                    self.tasks.tools.push(tokio::task::spawn_local(async move {
                        let out = webhook::call_tool(&pool, &tool, &arguments).await;
                        let outcome = ToolOutcome {
                            status: out.status,
                            result: out.result,
                            duration: out.duration,
                        };
                        let _ = inbox.send(AgentInput::Tool(id, outcome));
                    }));
                }
                Action::Transfer {
                    target,
                    destination,
                    reason,
                } => effects.push(ShardEffect::Transfer {
                    destination,
                    target,
                    reason,
                }),
                Action::Hangup { by } => effects.push(ShardEffect::Hangup(by)),
            }
        }
    }

    fn search(&mut self, now: Duration, turn: u32, query: &str) {
        let (hits, record) = match self.retriever.as_mut() {
            Some(r) => {
                let rec = r.search(query, KNOWLEDGE_HITS);
                let hits: Vec<String> = rec.hits.iter().map(|h| h.chunk.replace('\n', " ")).collect();
                let record = KnowledgeSearch {
                    at_ms: 0,
                    turn,
                    query: query.to_owned(),
                    hits: hits.len() as u32,
                    latency_us: rec.latency_us.min(u64::from(u32::MAX)) as u32,
                    cached: rec.cached,
                };
                (hits, record)
            }
            None => (
                Vec::new(),
                KnowledgeSearch {
                    at_ms: 0,
                    turn,
                    query: query.to_owned(),
                    hits: 0,
                    latency_us: 0,
                    cached: false,
                },
            ),
        };
        self.conv.on_knowledge(now, turn, hits, record);
    }
}

/// The tasks forwarding a call's provider results; aborted when the call ends (or is dropped).
#[derive(Debug, Default)]
struct Tasks {
    stt: Option<JoinHandle<()>>,
    llm: Vec<(LlmId, JoinHandle<()>)>,
    tts: Vec<(SegmentId, JoinHandle<()>)>,
    tools: Vec<JoinHandle<()>>,
}

impl Tasks {
    fn stop(&mut self) {
        for (_, t) in self.llm.drain(..) {
            t.abort();
        }
        for (_, t) in self.tts.drain(..) {
            t.abort();
        }
        for t in self.tools.drain(..) {
            t.abort();
        }
        if let Some(t) = self.stt.take() {
            t.abort();
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Forwards every event of `rx` into the call's inbox (wrapped by `wrap`), then `last` when the
/// stream ends; aborting the task drops `rx`, which cancels the provider's work.
fn forward<T: 'static>(
    mut rx: EventRx<T>,
    inbox: mpsc::UnboundedSender<AgentInput>,
    wrap: impl Fn(Result<T, ProviderError>) -> AgentInput + 'static,
    last: Option<AgentInput>,
) -> JoinHandle<()> {
    tokio::task::spawn_local(async move {
        while let Some(ev) = rx.recv().await {
            if inbox.send(wrap(ev)).is_err() {
                return;
            }
        }
        if let Some(l) = last {
            let _ = inbox.send(l);
        }
    })
}

/// A future handed to [`spawn_on_shard`].
pub type LocalJob = Pin<Box<dyn Future<Output = ()>>>;

thread_local! {
    /// Where [`spawn_on_shard`] sends jobs on this thread (set by [`local_spawner`]).
    static LOCAL_JOBS: RefCell<Option<mpsc::UnboundedSender<LocalJob>>> = const { RefCell::new(None) };
}

/// Serves [`spawn_on_shard`] on this thread until the thread's runtime stops. Spawn it once per
/// shard thread, on the shard's `LocalSet` (`tokio::task::spawn_local(local_spawner())`).
pub async fn local_spawner() {
    let (tx, mut rx) = mpsc::unbounded_channel::<LocalJob>();
    LOCAL_JOBS.with(|j| *j.borrow_mut() = Some(tx));
    while let Some(job) = rx.recv().await {
        tokio::task::spawn_local(job);
    }
}

/// Whether a [`local_spawner`] runs on this thread.
pub fn has_local_spawner() -> bool {
    LOCAL_JOBS.with(|j| j.borrow().as_ref().is_some_and(|tx| !tx.is_closed()))
}

/// Runs `job` as a local task of this thread's shard. For code on a `tokio::spawn` task (axum's
/// WebSocket upgrade) whose call needs `spawn_local` (the agent's provider tasks). Gives the job
/// back when no [`local_spawner`] runs on this thread.
pub fn spawn_on_shard(job: LocalJob) -> Result<(), LocalJob> {
    LOCAL_JOBS.with(|j| match j.borrow().as_ref() {
        Some(tx) => tx.send(job).map_err(|e| e.0),
        None => Err(job),
    })
}
