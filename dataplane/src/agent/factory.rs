//! Builds a call's providers from its bot's pipeline: networked adapters share the shard's
//! [`HttpPool`] (one connection per provider host per shard), in-process ones (embedded, sim) share
//! their process-wide workers. Knowledge bases are indexed once per bot per shard.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use std::time::Duration;

use cxb_model::template::TemplateContext;
use cxb_model::{BotConfig, CallDirection, ProviderEndpoint, ProviderKind, StageConfig};

use super::api::{
    EventRx, Llm, ProviderError, ProviderErrorKind, Stt, SttEvent, SttParams, SttStream, Tts, TtsAudio, TtsParams,
    event_channel,
};
use super::conversation::{ConversationCtx, template_context};
use super::knowledge::{Document, KnowledgeBase, KnowledgeConfig};
use super::providers::HttpPool;
use super::providers::{AnthropicLlm, DeepgramStt, ElevenLabsTts, OpenAiLlm, OpenAiStt, OpenAiTts};

/// Sample rate of the caller audio the STT stream is fed (the uplink ring's rate).
pub const STT_RATE: u32 = 16_000;

/// The providers of one call.
#[derive(Clone)]
pub struct ProviderSet {
    /// Language model.
    pub llm: Rc<dyn Llm>,
    /// Speech to text.
    pub stt: Rc<dyn Stt>,
    /// Text to speech.
    pub tts: Rc<dyn Tts>,
    /// STT settings for the call.
    pub stt_params: SttParams,
    /// TTS settings for the call.
    pub tts_params: TtsParams,
}

impl std::fmt::Debug for ProviderSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSet")
            .field("stt", &self.stt_params)
            .field("tts", &self.tts_params)
            .finish()
    }
}

/// One shard's provider factory.
#[derive(Debug)]
pub struct AgentFactory {
    pool: HttpPool,
    /// Every bot's stages use this provider instead (`--providers sim` for load runs).
    override_kind: Option<ProviderKind>,
    knowledge: RefCell<HashMap<String, (u64, Arc<KnowledgeBase>)>>,
    /// The template context of the next [`AgentFactory::build`] (see [`AgentFactory::set_call_context`]).
    next_ctx: RefCell<Option<TemplateContext>>,
}

impl AgentFactory {
    /// A factory for one shard.
    pub fn new(override_kind: Option<ProviderKind>) -> AgentFactory {
        AgentFactory {
            pool: HttpPool::default(),
            override_kind,
            knowledge: RefCell::new(HashMap::new()),
            next_ctx: RefCell::new(None),
        }
    }

    /// The shard's HTTP pool (for tools and CRM pre-fetch).
    pub fn pool(&self) -> &HttpPool {
        &self.pool
    }

    /// Gives the next [`AgentFactory::build`] (one call, on this shard's thread) the call's
    /// template context, so the local responder renders policy lines like
    /// "Thanks {{crm.first_name}}" with the call's values. The shard sets it right before it
    /// creates the call's agent.
    pub fn set_call_context(&self, ctx: TemplateContext) {
        *self.next_ctx.borrow_mut() = Some(ctx);
    }

    /// [`AgentFactory::build_for_call`] with the context given to
    /// [`AgentFactory::set_call_context`] (taken), else one with only the bot's variables.
    pub fn build(&self, bot: &BotConfig, endpoints: &[ProviderEndpoint]) -> ProviderSet {
        let ctx =
            self.next_ctx.borrow_mut().take().unwrap_or_else(|| {
                template_context(bot, &ConversationCtx::new(CallDirection::Inbound, Duration::ZERO))
            });
        self.build_for_call(bot, endpoints, ctx)
    }

    /// The providers for `bot`, with endpoints and keys from `endpoints` (control's settings),
    /// else from the environment (`OPENAI_API_KEY`, `OPENAI_BASE_URL`, `ANTHROPIC_API_KEY`,
    /// `DEEPGRAM_API_KEY`, `ELEVENLABS_API_KEY`). The local responder renders the bot's texts over
    /// `ctx` (the call's template context, see [`template_context`]).
    pub fn build_for_call(&self, bot: &BotConfig, endpoints: &[ProviderEndpoint], ctx: TemplateContext) -> ProviderSet {
        let p = &bot.pipeline;
        let kind = |st: &StageConfig| self.override_kind.unwrap_or(st.provider);
        let lang = |st: &StageConfig| {
            if st.language.is_empty() {
                bot.language.clone()
            } else {
                st.language.clone()
            }
        };
        let stt_params = SttParams {
            model: p.stt.model.clone(),
            language: lang(&p.stt),
            sample_rate: STT_RATE,
            keywords: keywords(bot),
        };
        let voice = if p.tts.voice.is_empty() {
            bot.voice.clone()
        } else {
            p.tts.voice.clone()
        };
        let tts_params = TtsParams {
            model: p.tts.model.clone(),
            voice,
            language: lang(&p.tts),
            sample_rate: STT_RATE,
        };
        let llm: Rc<dyn Llm> = match kind(&p.llm) {
            ProviderKind::Openai => match self.endpoint(ProviderKind::Openai, &p.llm, endpoints) {
                Some(e) => Rc::new(OpenAiLlm::new(self.pool.clone(), &e, &p.llm)),
                None => Rc::new(Unconfigured("openai")),
            },
            ProviderKind::Anthropic => match self.endpoint(ProviderKind::Anthropic, &p.llm, endpoints) {
                Some(e) => Rc::new(AnthropicLlm::new(self.pool.clone(), &e, &p.llm)),
                None => Rc::new(Unconfigured("anthropic")),
            },
            ProviderKind::Sim => Rc::new(super::sim::SimLlm::default()),
            _ => Rc::new(super::responder::LocalResponder::with_context(
                Rc::new(bot.clone()),
                ctx,
            )),
        };
        let stt: Rc<dyn Stt> = match kind(&p.stt) {
            ProviderKind::Openai => match self.endpoint(ProviderKind::Openai, &p.stt, endpoints) {
                Some(e) => Rc::new(OpenAiStt::new(self.pool.clone(), &e, &p.stt)),
                None => Rc::new(Unconfigured("openai")),
            },
            ProviderKind::Deepgram => match self.endpoint(ProviderKind::Deepgram, &p.stt, endpoints) {
                Some(e) => Rc::new(DeepgramStt::new(self.pool.clone(), &e, &p.stt)),
                None => Rc::new(Unconfigured("deepgram")),
            },
            ProviderKind::Sim => Rc::new(super::sim::SimStt::default()),
            _ => Rc::new(super::embedded::EmbeddedStt::shared()),
        };
        let tts: Rc<dyn Tts> = match kind(&p.tts) {
            ProviderKind::Openai => match self.endpoint(ProviderKind::Openai, &p.tts, endpoints) {
                Some(e) => Rc::new(OpenAiTts::new(self.pool.clone(), &e, &p.tts)),
                None => Rc::new(Unconfigured("openai")),
            },
            ProviderKind::Elevenlabs => match self.endpoint(ProviderKind::Elevenlabs, &p.tts, endpoints) {
                Some(e) => Rc::new(ElevenLabsTts::new(self.pool.clone(), &e, &p.tts)),
                None => Rc::new(Unconfigured("elevenlabs")),
            },
            ProviderKind::Sim => Rc::new(super::sim::SimTts::default()),
            _ => Rc::new(super::embedded::EmbeddedTts::new()),
        };
        ProviderSet {
            llm,
            stt,
            tts,
            stt_params,
            tts_params,
        }
    }

    /// The knowledge base of `bot`, indexed on first use (and again when its documents change).
    pub fn knowledge(&self, bot: &BotConfig) -> Option<Arc<KnowledgeBase>> {
        if bot.knowledge_base.is_empty() {
            return None;
        }
        let fp = fingerprint(bot);
        if let Some((f, kb)) = self.knowledge.borrow().get(&bot.id)
            && *f == fp
        {
            return Some(Arc::clone(kb));
        }
        let docs: Vec<Document> = bot
            .knowledge_base
            .iter()
            .map(|d| Document {
                title: d.title.clone(),
                text: d.text.clone(),
            })
            .collect();
        match KnowledgeBase::build(&docs, KnowledgeConfig::default()) {
            Ok(kb) => {
                let kb = Arc::new(kb);
                self.knowledge
                    .borrow_mut()
                    .insert(bot.id.clone(), (fp, Arc::clone(&kb)));
                Some(kb)
            }
            Err(e) => {
                tracing::warn!(bot = %bot.id, error = %e, "knowledge base not indexed");
                None
            }
        }
    }

    fn endpoint(
        &self,
        kind: ProviderKind,
        stage: &StageConfig,
        given: &[ProviderEndpoint],
    ) -> Option<ProviderEndpoint> {
        let mut e = given
            .iter()
            .find(|e| e.kind == kind)
            .cloned()
            .or_else(|| from_env(kind))?;
        if !stage.base_url.is_empty() {
            e.base_url = stage.base_url.clone();
        }
        Some(e)
    }
}

/// An endpoint from the environment, when its key is set (or a base URL for OpenAI-compatible
/// servers that need no key).
fn from_env(kind: ProviderKind) -> Option<ProviderEndpoint> {
    let (key_var, url_var) = match kind {
        ProviderKind::Openai => ("OPENAI_API_KEY", "OPENAI_BASE_URL"),
        ProviderKind::Anthropic => ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
        ProviderKind::Deepgram => ("DEEPGRAM_API_KEY", "DEEPGRAM_BASE_URL"),
        ProviderKind::Elevenlabs => ("ELEVENLABS_API_KEY", "ELEVENLABS_BASE_URL"),
        ProviderKind::Embedded | ProviderKind::Sim => return None,
    };
    let key = std::env::var(key_var).ok().filter(|k| !k.is_empty());
    let url = std::env::var(url_var).ok().filter(|u| !u.is_empty());
    if key.is_none() && url.is_none() {
        return None;
    }
    let base_url = url.or_else(|| kind.default_base_url().map(str::to_owned))?;
    Some(ProviderEndpoint {
        kind,
        base_url,
        api_key: key,
    })
}

/// Words to bias recognition toward: from the bot's opening message, policy, prompt and
/// knowledge titles (lower-case, letters only, de-duplicated, bounded).
pub fn keywords(bot: &BotConfig) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |text: &str| {
        for w in text.split(|c: char| !c.is_alphabetic() && c != '\'') {
            let w = w.trim_matches('\'').to_lowercase();
            if w.len() >= 3 && out.len() < 256 && !out.contains(&w) {
                out.push(w);
            }
        }
    };
    add(&bot.opening_message);
    for s in &bot.policy {
        add(&s.say);
        add(&s.goal);
    }
    for d in &bot.knowledge_base {
        add(&d.title);
    }
    add(&bot.system_prompt);
    out
}

fn fingerprint(bot: &BotConfig) -> u64 {
    // FNV-1a over the documents: cheap, and enough to notice an edit.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for d in &bot.knowledge_base {
        for b in d.title.bytes().chain([0]).chain(d.text.bytes()).chain([1]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// A stage whose provider has no endpoint or key: every operation fails at once with
/// `NotConfigured`, so the call records a service error and degrades.
#[derive(Debug, Clone, Copy)]
struct Unconfigured(&'static str);

impl Unconfigured {
    fn fail<T>(&self) -> EventRx<T> {
        let (tx, rx) = event_channel();
        let _ = tx.send(Err(ProviderError::new(
            ProviderErrorKind::NotConfigured,
            "connect",
            format!("no endpoint or API key configured for {}", self.0),
        )));
        rx
    }
}

impl Llm for Unconfigured {
    fn chat(&self, _req: super::api::ChatRequest) -> EventRx<super::api::LlmEvent> {
        self.fail()
    }
}

impl Tts for Unconfigured {
    fn speak(&self, _text: &str, _params: &TtsParams) -> EventRx<TtsAudio> {
        self.fail()
    }
}

#[derive(Debug)]
struct NullStream;

impl SttStream for NullStream {
    fn push(&mut self, _pcm: &[i16]) {}
    fn speech_started(&mut self) {}
    fn speech_ended(&mut self) {}
    fn close(&mut self) {}
}

impl Stt for Unconfigured {
    fn open(&self, _params: &SttParams) -> (Box<dyn SttStream>, EventRx<SttEvent>) {
        (Box::new(NullStream), self.fail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_come_from_the_bot_and_are_bounded() {
        let bot = cxb_model::demo::demo_bot();
        let k = keywords(&bot);
        assert!(k.contains(&"appointment".to_owned()));
        assert!(k.contains(&"hours".to_owned()));
        assert!(k.len() <= 256);
        let mut sorted = k.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), k.len());
    }

    #[test]
    fn local_responder_renders_policy_lines_over_the_call_context() {
        use crate::agent::api::{ChatRequest, LlmEvent};
        let f = AgentFactory::new(None);
        let mut bot = BotConfig::new("b", "B");
        bot.pipeline.llm.provider = ProviderKind::Embedded;
        bot.pipeline.stt.provider = ProviderKind::Sim;
        bot.pipeline.tts.provider = ProviderKind::Sim;
        bot.policy.push(cxb_model::PolicyStep {
            name: "thanks".into(),
            goal: String::new(),
            say: "Thanks {{crm.first_name}}, one moment.".into(),
        });
        let say = |set: &ProviderSet| {
            let mut rx = set.llm.chat(ChatRequest {
                model: String::new(),
                system: String::new(),
                messages: Vec::new(),
                tools: Vec::new(),
                temperature: None,
                max_tokens: 0,
                cache_prompt: false,
            });
            let mut text = String::new();
            while let Ok(Ok(LlmEvent::Text(t))) = rx.try_recv() {
                text.push_str(&t);
            }
            text
        };
        let mut ctx = ConversationCtx::new(CallDirection::Inbound, Duration::ZERO);
        ctx.crm.insert("first_name".into(), "Alice".into());
        f.set_call_context(template_context(&bot, &ctx));
        assert_eq!(say(&f.build(&bot, &[])), "Thanks Alice, one moment.");
        // The context was for one call only.
        assert_eq!(say(&f.build(&bot, &[])), "Thanks, one moment.");
    }

    #[test]
    fn knowledge_is_indexed_once_per_bot_version() {
        let f = AgentFactory::new(None);
        let mut bot = cxb_model::demo::demo_bot();
        let a = f.knowledge(&bot).unwrap();
        let b = f.knowledge(&bot).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        bot.knowledge_base[0].text.push_str(" Also on holidays.");
        let c = f.knowledge(&bot).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
    }
}
