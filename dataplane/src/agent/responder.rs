//! [`LocalResponder`]: a deterministic stand-in for an LLM, with no network. It follows the
//! bot's policy steps in order (speaking each step's `say` text), answers questions from the
//! `Relevant knowledge:` lines the conversation layer appends to the system prompt, transfers
//! on request and closes the call with the `end_call` tool.
//!
//! Rules, for the caller's last message:
//! 1. "bye", "goodbye", "that's all" → the closing message and `end_call`;
//! 2. "agent", "human", "person", "operator" and the bot has transfer targets → a short line
//!    and `transfer_call` to the first target;
//! 3. a question (or words that strongly match a knowledge line) with knowledge present → the
//!    best-matching sentences of the best chunk, then the current step again;
//! 4. no policy → a short acknowledgement that varies with the turn;
//! 5. otherwise the next step's `say` text; after the last step the closing message and
//!    `end_call`.
//!
//! Which step is current comes from the history: the last step whose `say` text the bot has
//! said (its first words suffice, in case the caller cut it short).

mod text;

use std::fmt;
use std::rc::Rc;

use cxb_model::BotConfig;
use cxb_model::template::{self, TemplateContext};

use crate::agent::api::{ChatMessage, ChatRequest, EventRx, Llm, LlmEvent, LlmUsage, Role, ToolCall, event_channel};

/// Acknowledgements used when the bot has no policy, in turn.
const ACKS: [&str; 4] = [
    "I see. Could you tell me more?",
    "Okay. What else can I help you with?",
    "Got it. Could you tell me a bit more about that?",
    "Thank you. Is there anything else you would like to know?",
];

/// Words asking for a person.
const PERSON_WORDS: [&str; 6] = ["agent", "human", "person", "operator", "representative", "someone"];

/// What the responder says and does in one turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The words spoken (may be empty).
    pub text: String,
    /// A built-in tool call (`end_call` or `transfer_call`), after the text.
    pub tool: Option<ToolCall>,
}

/// The deterministic local responder (see the module docs).
pub struct LocalResponder {
    bot: Rc<BotConfig>,
    ctx: TemplateContext,
}

impl fmt::Debug for LocalResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalResponder")
            .field("bot", &self.bot.id)
            .finish_non_exhaustive()
    }
}

impl LocalResponder {
    /// A responder for `bot` with no call context: `{{…}}` variables in its texts render empty.
    pub fn new(bot: Rc<BotConfig>) -> LocalResponder {
        LocalResponder::with_context(bot, TemplateContext::new())
    }

    /// A responder that renders the bot's texts (policy `say`, goal, closing message) over the
    /// call's template context (`call.*`, `crm.*`, `system.*`) with [`cxb_model::template`];
    /// unknown variables render empty (the conversation reports them for its own lines).
    pub fn with_context(bot: Rc<BotConfig>, ctx: TemplateContext) -> LocalResponder {
        LocalResponder { bot, ctx }
    }

    /// `tpl` rendered, with the gaps empty variables leave tidied ("Thanks {{crm.x}}, bye" →
    /// "Thanks, bye").
    fn render(&self, tpl: &str) -> String {
        text::tidy(&template::render(tpl, &self.ctx).text)
    }

    /// The text of step `i` (its `say`, else its goal, else its name).
    fn step_text(&self, i: usize) -> String {
        let s = &self.bot.policy[i];
        let t = if !s.say.trim().is_empty() {
            &s.say
        } else if !s.goal.trim().is_empty() {
            &s.goal
        } else {
            &s.name
        };
        self.render(t)
    }

    /// The last step the bot has said, from the history.
    fn current_step(&self, messages: &[ChatMessage]) -> Option<usize> {
        let said: Vec<&str> = messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .map(|m| m.content.as_str())
            .collect();
        (0..self.bot.policy.len())
            .rev()
            .find(|&i| said.iter().any(|m| text::contains_start(m, &self.step_text(i))))
    }

    fn closing(&self) -> Reply {
        Reply {
            text: self.render(&self.bot.behavior.closing_message),
            tool: Some(tool("end_call", "{}".to_owned())),
        }
    }

    /// The current step again (or the first one when none was said yet).
    fn reask(&self, current: Option<usize>) -> String {
        match current {
            Some(i) => self.step_text(i),
            None if !self.bot.policy.is_empty() => self.step_text(0),
            None => String::new(),
        }
    }

    /// The next step, or the close after the last one.
    fn advance(&self, current: Option<usize>) -> Reply {
        let next = current.map_or(0, |i| i + 1);
        if next < self.bot.policy.len() {
            Reply {
                text: self.step_text(next),
                tool: None,
            }
        } else {
            self.closing()
        }
    }

    /// Decides the reply to `req` (pure: the same request gives the same reply).
    pub fn reply(&self, req: &ChatRequest) -> Reply {
        let current = self.current_step(&req.messages);
        let user_turns = req.messages.iter().filter(|m| m.role == Role::User).count();
        let Some(last) = req.messages.last() else {
            return self.opening(current);
        };
        match last.role {
            Role::User => self.answer_user(&last.content, &req.system, current, user_turns),
            Role::Tool if last.content.contains("\"error\"") => Reply {
                text: join("Sorry, I could not do that right now.", &self.reask(current)),
                tool: None,
            },
            Role::Tool => Reply {
                text: String::new(),
                tool: None,
            },
            Role::Assistant => self.opening(current),
        }
    }

    /// With no caller words to answer: the first step, or the current one again.
    fn opening(&self, current: Option<usize>) -> Reply {
        if self.bot.policy.is_empty() {
            return Reply {
                text: "How can I help you?".to_owned(),
                tool: None,
            };
        }
        Reply {
            text: self.reask(current),
            tool: None,
        }
    }

    fn answer_user(&self, said: &str, system: &str, current: Option<usize>, user_turns: usize) -> Reply {
        let words = text::words(said);
        let has = |w: &str| words.iter().any(|x| x == w);
        let joined = words.join(" ");
        if words.is_empty() {
            return Reply {
                text: join("Sorry, I didn't catch that.", &self.reask(current)),
                tool: None,
            };
        }
        if has("bye") || has("goodbye") || joined.contains("that's all") || joined.contains("that is all") {
            return self.closing();
        }
        if let Some(target) = self.bot.transfer_targets.first()
            && PERSON_WORDS.iter().any(|w| has(w))
        {
            let args = serde_json::json!({"target": target.name, "reason": "the caller asked for a person"});
            return Reply {
                text: "Sure, let me transfer you now.".to_owned(),
                tool: Some(tool("transfer_call", args.to_string())),
            };
        }
        let chunks = text::knowledge_chunks(system);
        if !chunks.is_empty() {
            let query = text::content_words(said);
            let scores: Vec<usize> = chunks.iter().map(|c| text::overlap(&query, c)).collect();
            let best = scores
                .iter()
                .enumerate()
                .max_by_key(|&(i, s)| (*s, std::cmp::Reverse(i)))
                .map_or(0, |(i, _)| i);
            let strong = scores[best] >= 2 && 2 * scores[best] >= query.len();
            if text::is_question(said) || strong {
                let answer = if scores[best] == 0 {
                    "Sorry, I don't have that information.".to_owned()
                } else {
                    best_sentences(chunks[best], &query)
                };
                return Reply {
                    text: join(&answer, &self.reask(current)),
                    tool: None,
                };
            }
        }
        if self.bot.policy.is_empty() {
            return Reply {
                text: ACKS[user_turns.saturating_sub(1) % ACKS.len()].to_owned(),
                tool: None,
            };
        }
        self.advance(current)
    }
}

/// The one or two sentences of `chunk` that match `query` best, in their original order.
fn best_sentences(chunk: &str, query: &[String]) -> String {
    let sents = text::sentences(chunk);
    let mut scored: Vec<(usize, usize)> = sents
        .iter()
        .enumerate()
        .map(|(i, s)| (text::overlap(query, s), i))
        .collect();
    scored.sort_by_key(|&(s, i)| (std::cmp::Reverse(s), i));
    let mut keep: Vec<usize> = scored.iter().take(2).filter(|(s, _)| *s > 0).map(|&(_, i)| i).collect();
    if keep.is_empty() {
        keep.push(0);
    }
    keep.sort_unstable();
    keep.iter().map(|&i| sents[i]).collect::<Vec<_>>().join(" ")
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a} {b}"),
    }
}

fn tool(name: &str, arguments: String) -> ToolCall {
    ToolCall {
        id: format!("local-{name}"),
        name: name.to_owned(),
        arguments,
    }
}

impl Llm for LocalResponder {
    /// Streams the reply word by word, then the tool call, then `Done` (zero usage); all
    /// events are queued before this returns.
    fn chat(&self, req: ChatRequest) -> EventRx<LlmEvent> {
        let (tx, rx) = event_channel();
        let reply = self.reply(&req);
        let words: Vec<&str> = reply.text.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            let piece = if i + 1 < words.len() {
                format!("{w} ")
            } else {
                (*w).to_owned()
            };
            let _ = tx.send(Ok(LlmEvent::Text(piece)));
        }
        if let Some(call) = reply.tool {
            let _ = tx.send(Ok(LlmEvent::ToolCall(call)));
        }
        let _ = tx.send(Ok(LlmEvent::Done {
            usage: LlmUsage::default(),
        }));
        rx
    }
}

#[cfg(test)]
mod tests;
