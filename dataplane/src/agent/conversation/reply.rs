//! One bot reply: knowledge lookup, the streamed LLM request (retry on a retryable failure),
//! chunked speech, tool rounds (webhooks, `end_call`, `transfer_call`) and its metrics.

use std::time::Duration;

use cxb_model::{
    CallEventKind, DisconnectedBy, ServiceKind, ToolCallRecord, ToolCallStatus, TransferMethod, TurnLatency,
};

use super::types::{Action, LlmId, ToolCallId, ToolOutcome, has_knowledge};
use super::{Conversation, MAX_TOOL_ROUNDS, RAG_WAIT, text};
use crate::agent::api::{ChatMessage, ChatRequest, LlmEvent, LlmUsage, ProviderError, Role, ToolCall};
use crate::agent::chunker::Chunker;

/// What happens once a reply has played out.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Then {
    /// Listen again.
    Listen,
    /// Hang up.
    Hangup(DisconnectedBy),
    /// Transfer the call.
    Transfer {
        target: String,
        destination: String,
        reason: String,
    },
}

/// A webhook call in flight.
#[derive(Debug)]
pub(super) struct PendingTool {
    id: ToolCallId,
    call_id: String,
    name: String,
    args: serde_json::Value,
    started: Duration,
    filler_at: Option<Duration>,
    filler: String,
    deadline: Duration,
}

/// The reply to one caller turn.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) turn: u32,
    pub(super) lat: TurnLatency,
    /// Caller's speech end (start of `total_ms`).
    pub(super) caller_end: Duration,
    started: Duration,
    pub(super) llm: Option<LlmId>,
    llm_at: Duration,
    request: Option<ChatRequest>,
    retried: bool,
    round_text: bool,
    /// Assistant message of the current round.
    pub(super) msg: Option<usize>,
    pub(super) chunker: Chunker,
    tool_calls: Vec<ToolCall>,
    /// Tool call id → result (None while running), in the order of the calls.
    pub(super) tool_results: Vec<(String, Option<String>)>,
    pub(super) pending: Vec<PendingTool>,
    rounds: u32,
    rag: Option<(Duration, Duration)>,
    hits: Vec<String>,
    text: String,
    then: Then,
}

impl Reply {
    /// The model, knowledge and tools are all done (audio may still play).
    pub(super) fn is_done(&self) -> bool {
        self.llm.is_none() && self.pending.is_empty() && self.rag.is_none()
    }

    /// Timers of the reply (knowledge wait, tool fillers and timeouts).
    pub(super) fn deadlines(&self) -> impl Iterator<Item = Duration> + '_ {
        self.rag.map(|r| r.1).into_iter().chain(
            self.pending
                .iter()
                .flat_map(|p| p.filler_at.into_iter().chain(std::iter::once(p.deadline))),
        )
    }
}

fn ms(d: Duration) -> u32 {
    d.as_millis().min(u128::from(u32::MAX)) as u32
}

impl Conversation {
    /// Starts the reply to the caller's `text` (knowledge first when the bot has some).
    pub(super) fn start_reply(&mut self, now: Duration, text: String, caller_end: Duration, stt_ms: Option<u32>) {
        let turn = self.next_turn;
        self.next_turn += 1;
        let mut r = Reply {
            turn,
            lat: TurnLatency {
                turn,
                stt_ms,
                ..TurnLatency::default()
            },
            caller_end,
            started: now,
            llm: None,
            llm_at: now,
            request: None,
            retried: false,
            round_text: false,
            msg: None,
            chunker: Chunker::default(),
            tool_calls: Vec::new(),
            tool_results: Vec::new(),
            pending: Vec::new(),
            rounds: 0,
            rag: None,
            hits: Vec::new(),
            text: String::new(),
            then: Then::Listen,
        };
        if has_knowledge(&self.bot) {
            r.rag = Some((now, now + RAG_WAIT));
            self.reply = Some(r);
            self.actions.push_back(Action::Search { turn, query: text });
        } else {
            self.reply = Some(r);
            self.send_llm(now);
        }
    }

    fn send_llm(&mut self, now: Duration) {
        let Some(r) = &mut self.reply else { return };
        let llm = &self.bot.pipeline.llm;
        let request = ChatRequest {
            model: llm.model.clone(),
            system: text::system_prompt(&self.system, &self.bot, &r.hits),
            messages: self.messages.clone(),
            tools: self.tools.clone(),
            temperature: llm.temperature,
            max_tokens: llm.max_tokens,
            cache_prompt: true,
        };
        let id = LlmId(self.next_llm);
        self.next_llm += 1;
        r.llm = Some(id);
        r.llm_at = now;
        r.msg = None;
        r.round_text = false;
        r.tool_calls.clear();
        r.request = Some(request.clone());
        self.actions.push_back(Action::StartLlm { id, request });
    }

    pub(super) fn knowledge(&mut self, now: Duration, turn: u32, hits: Vec<String>) {
        let Some(r) = &mut self.reply else { return };
        let Some((at, _)) = r.rag else { return };
        if r.turn != turn {
            return;
        }
        r.rag = None;
        r.lat.rag_ms = Some(ms(now.saturating_sub(at)));
        r.hits = hits;
        self.send_llm(now);
    }

    pub(super) fn llm_event(&mut self, now: Duration, id: LlmId, ev: LlmEvent) {
        let Some(r) = &mut self.reply else { return };
        if r.llm != Some(id) {
            return;
        }
        match ev {
            LlmEvent::Text(t) => {
                if t.is_empty() {
                    return;
                }
                if r.lat.llm_first_token_ms.is_none() {
                    r.lat.llm_first_token_ms = Some(ms(now.saturating_sub(r.llm_at)));
                }
                r.round_text = true;
                r.text.push_str(&t);
                let idx = match r.msg {
                    Some(i) => i,
                    None => {
                        self.messages.push(ChatMessage::text(Role::Assistant, ""));
                        r.msg = Some(self.messages.len() - 1);
                        self.messages.len() - 1
                    }
                };
                self.messages[idx].content.push_str(&t);
                r.chunker.push(&t);
                let mut chunks = Vec::new();
                while let Some(c) = r.chunker.next_chunk() {
                    chunks.push(c);
                }
                for c in chunks {
                    self.speak_reply(now, &c);
                }
            }
            LlmEvent::ToolCall(tc) => r.tool_calls.push(tc),
            LlmEvent::Done { usage } => self.llm_done(now, usage),
        }
    }

    fn speak_reply(&mut self, now: Duration, chunk: &str) {
        let chunk = chunk.trim();
        if chunk.is_empty() {
            return;
        }
        let msg = self.reply.as_ref().and_then(|r| r.msg);
        self.new_seg(now, chunk, msg, true);
        if let Some(r) = &mut self.reply {
            r.lat.tts_characters += chunk.chars().count() as u32;
        }
    }

    fn llm_done(&mut self, now: Duration, usage: LlmUsage) {
        let Some(r) = &mut self.reply else { return };
        r.llm = None;
        r.lat.llm_total_ms = Some(ms(now.saturating_sub(r.started)));
        r.lat.prompt_tokens += usage.prompt_tokens;
        r.lat.completion_tokens += usage.completion_tokens;
        r.lat.cache_read_tokens += usage.cache_read_tokens;
        r.lat.cache_creation_tokens += usage.cache_creation_tokens;
        let u = &mut self.rec.usage;
        u.prompt_tokens += u64::from(usage.prompt_tokens);
        u.completion_tokens += u64::from(usage.completion_tokens);
        u.cache_read_tokens += u64::from(usage.cache_read_tokens);
        u.cache_creation_tokens += u64::from(usage.cache_creation_tokens);
        self.llm_fail_turns = 0;
        let rest = r.chunker.flush();
        let calls = std::mem::take(&mut r.tool_calls);
        if text::has_closing_phrase(&r.text, &self.bot.behavior.closing_phrases) {
            r.then = Then::Hangup(DisconnectedBy::Bot);
        }
        if let Some(rest) = rest {
            self.speak_reply(now, &rest);
        }
        if !calls.is_empty() {
            self.run_tools(now, calls);
        }
        self.check_idle(now);
    }

    fn run_tools(&mut self, now: Duration, calls: Vec<ToolCall>) {
        let Some(r) = &mut self.reply else { return };
        let idx = match r.msg {
            Some(i) => i,
            None => {
                self.messages.push(ChatMessage::text(Role::Assistant, ""));
                self.messages.len() - 1
            }
        };
        r.msg = Some(idx);
        self.messages[idx].tool_calls = calls.clone();
        let turn = r.turn;
        let at_ms = self.ms(now);
        for tc in calls {
            let args: serde_json::Value = serde_json::from_str::<serde_json::Value>(&tc.arguments)
                .ok()
                .filter(serde_json::Value::is_object)
                .unwrap_or_else(|| serde_json::json!({}));
            self.event(now, CallEventKind::ToolCall, tc.name.clone());
            let record = |status, result: serde_json::Value, this: &mut Conversation| {
                this.rec.tool_calls.push(ToolCallRecord {
                    at_ms,
                    turn,
                    name: tc.name.clone(),
                    arguments: args.clone(),
                    status,
                    duration_ms: 0,
                    result: Some(result),
                });
            };
            let (status, result, then) = match tc.name.as_str() {
                "end_call" => (
                    ToolCallStatus::Ok,
                    serde_json::json!({"ok": true}),
                    Some(Then::Hangup(DisconnectedBy::Bot)),
                ),
                "transfer_call" => {
                    let name = args.get("target").and_then(|v| v.as_str()).unwrap_or("");
                    match self.bot.transfer_targets.iter().find(|t| t.name == name) {
                        Some(t) => (
                            ToolCallStatus::Ok,
                            serde_json::json!({"ok": true}),
                            Some(Then::Transfer {
                                target: t.name.clone(),
                                destination: t.destination.clone(),
                                reason: args.get("reason").and_then(|v| v.as_str()).unwrap_or("").to_owned(),
                            }),
                        ),
                        None => (
                            ToolCallStatus::Error,
                            serde_json::json!({"error": format!("unknown transfer target {name:?}")}),
                            None,
                        ),
                    }
                }
                name => match self.bot.tools.iter().find(|t| t.name == name) {
                    Some(tool) => {
                        let id = ToolCallId(self.next_tool);
                        self.next_tool += 1;
                        let filler_at = (!tool.filler_message.trim().is_empty())
                            .then(|| now + Duration::from_millis(u64::from(tool.filler_after_ms)));
                        let p = PendingTool {
                            id,
                            call_id: tc.id.clone(),
                            name: tc.name.clone(),
                            args: args.clone(),
                            started: now,
                            filler_at,
                            filler: tool.filler_message.clone(),
                            deadline: now + Duration::from_millis(u64::from(tool.timeout_ms)),
                        };
                        self.actions.push_back(Action::CallTool {
                            id,
                            tool: tool.clone(),
                            arguments: args.clone(),
                        });
                        if let Some(r) = &mut self.reply {
                            r.pending.push(p);
                            r.tool_results.push((tc.id.clone(), None));
                        }
                        continue;
                    }
                    None => (
                        ToolCallStatus::Error,
                        serde_json::json!({"error": format!("unknown tool {name:?}")}),
                        None,
                    ),
                },
            };
            record(status, result.clone(), self);
            if let Some(r) = &mut self.reply {
                r.tool_results.push((tc.id.clone(), Some(result.to_string())));
                if let Some(t) = then {
                    r.then = t;
                }
            }
        }
        self.tools_settled(now);
    }

    /// When no webhook is running: the results go into the context and the model continues
    /// (unless the call is ending or being transferred, or the round limit is reached).
    fn tools_settled(&mut self, now: Duration) {
        let Some(r) = &mut self.reply else { return };
        if !r.pending.is_empty() || r.tool_results.is_empty() {
            return;
        }
        for (call_id, content) in r.tool_results.drain(..) {
            self.messages.push(ChatMessage {
                role: Role::Tool,
                content: content.unwrap_or_default(),
                tool_calls: Vec::new(),
                tool_call_id: Some(call_id),
            });
        }
        r.rounds += 1;
        if r.then == Then::Listen && r.rounds < MAX_TOOL_ROUNDS {
            self.send_llm(now);
        }
    }

    pub(super) fn tool_result(&mut self, now: Duration, id: ToolCallId, outcome: ToolOutcome) {
        let Some(r) = &mut self.reply else { return };
        let Some(i) = r.pending.iter().position(|p| p.id == id) else {
            return;
        };
        let p = r.pending.remove(i);
        let content = match outcome.status {
            ToolCallStatus::Ok => outcome.result.to_string(),
            ToolCallStatus::Error => serde_json::json!({"error": outcome.result}).to_string(),
            ToolCallStatus::Timeout => {
                serde_json::json!({"error": "timeout: the tool did not answer in time"}).to_string()
            }
        };
        self.finish_tool(now, p, outcome.status, outcome.result, outcome.duration, content);
    }

    fn finish_tool(
        &mut self,
        now: Duration,
        p: PendingTool,
        status: ToolCallStatus,
        result: serde_json::Value,
        took: Duration,
        content: String,
    ) {
        let at_ms = self.ms(p.started);
        let Some(r) = &mut self.reply else { return };
        let took_ms = ms(took);
        r.lat.tool_ms = Some(r.lat.tool_ms.unwrap_or(0) + took_ms);
        if let Some(slot) = r.tool_results.iter_mut().find(|(c, _)| *c == p.call_id) {
            slot.1 = Some(content);
        }
        self.rec.tool_calls.push(ToolCallRecord {
            at_ms,
            turn: r.turn,
            name: p.name,
            arguments: p.args,
            status,
            duration_ms: took_ms,
            result: Some(result),
        });
        if status != ToolCallStatus::Ok {
            let err = ProviderError::new(
                crate::agent::api::ProviderErrorKind::Status,
                "tool",
                format!("tool call {status:?}"),
            );
            self.service_error(now, ServiceKind::Webhook, &err, false);
        }
        self.tools_settled(now);
        self.check_idle(now);
    }

    /// Knowledge wait, tool fillers and tool timeouts.
    pub(super) fn reply_timers(&mut self, now: Duration) {
        let Some(r) = &mut self.reply else { return };
        if r.rag.is_some_and(|(_, d)| now >= d) {
            r.rag = None;
            self.send_llm(now);
            return;
        }
        let mut fillers = Vec::new();
        for p in &mut r.pending {
            if p.filler_at.is_some_and(|t| now >= t) {
                p.filler_at = None;
                fillers.push(p.filler.clone());
            }
        }
        let mut expired = Vec::new();
        while let Some(i) = r.pending.iter().position(|p| now >= p.deadline) {
            expired.push(r.pending.remove(i));
        }
        for f in fillers {
            self.say_line(now, &f, false);
        }
        for p in expired {
            let took = now.saturating_sub(p.started);
            let content = serde_json::json!({"error": "timeout: the tool did not answer in time"}).to_string();
            self.finish_tool(
                now,
                p,
                ToolCallStatus::Timeout,
                serde_json::json!("timeout"),
                took,
                content,
            );
        }
    }

    pub(super) fn llm_error(&mut self, now: Duration, id: LlmId, err: ProviderError) {
        let Some(r) = &mut self.reply else { return };
        if r.llm != Some(id) {
            return;
        }
        r.llm = None;
        if err.retryable() && !r.retried && !r.round_text {
            r.retried = true;
            let request = r.request.clone();
            self.service_error(now, ServiceKind::Llm, &err, false);
            if let Some(request) = request {
                let id = LlmId(self.next_llm);
                self.next_llm += 1;
                if let Some(r) = &mut self.reply {
                    r.llm = Some(id);
                    r.llm_at = now;
                }
                self.actions.push_back(Action::StartLlm { id, request });
            }
            return;
        }
        self.llm_fail_turns += 1;
        let fatal = !err.retryable() || self.llm_fail_turns >= 2;
        self.service_error(now, ServiceKind::Llm, &err, fatal);
        // Give up on this reply (what was already said keeps playing).
        if let Some(r) = &mut self.reply {
            r.chunker.clear();
            r.pending.clear();
            r.tool_results.clear();
        }
        self.finish_reply(now, false);
        if fatal {
            self.close(now, DisconnectedBy::Error);
        } else {
            let apology = self.bot.behavior.apology_message.clone();
            let apology = self.render(now, &apology);
            self.say_line(now, &apology, true);
            self.check_idle(now);
        }
    }

    /// Ends the reply: its metrics go to the record; `run_then`: hang up or transfer now.
    pub(super) fn finish_reply(&mut self, now: Duration, run_then: bool) {
        let Some(r) = self.reply.take() else { return };
        self.rec.turn_latencies.push(r.lat);
        if !run_then {
            return;
        }
        match r.then {
            Then::Listen => {}
            Then::Hangup(by) => self.do_hangup(by),
            Then::Transfer {
                target,
                destination,
                reason,
            } => {
                self.rec.transfer_target = Some(target.clone());
                self.rec.transfer_destination = Some(destination.clone());
                self.rec.transfer_reason = Some(reason.clone());
                self.rec.transfer_method = Some(match self.ctx.direction {
                    cxb_model::CallDirection::Websocket => TransferMethod::WebsocketReverseTransfer,
                    _ => TransferMethod::SipRefer,
                });
                self.rec.transfer_at_ms = Some(self.ms(now));
                self.event(now, CallEventKind::TransferStarted, target.clone());
                self.transferring = true;
                self.actions.push_back(Action::Transfer {
                    target,
                    destination,
                    reason,
                });
            }
        }
    }
}
