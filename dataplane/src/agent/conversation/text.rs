//! Text helpers of the conversation: template rendering, the system prompt (knowledge and policy
//! blocks), the tool list offered to the model, word counting for barge-in and cutting a reply to
//! what was heard.

use cxb_model::BotConfig;
use cxb_model::template::{self, TemplateContext};

use super::types::ConversationCtx;
use crate::agent::api::ToolSpec;

/// Words that acknowledge without taking the turn; said alone they never interrupt the bot.
const BACKCHANNELS: [&str; 18] = [
    "uh-huh", "uhhuh", "uh", "huh", "mhm", "mm", "mmm", "hmm", "hm", "yeah", "yep", "yes", "ok", "okay", "right",
    "sure", "aha", "ah",
];

/// Number words that make a pause look like a caller still reading digits.
const NUMBER_WORDS: [&str; 22] = [
    "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "twenty", "thirty", "forty", "fifty", "hundred", "thousand", "double", "triple",
];

/// The template context of a call's texts (prompt, opening, closing, policy lines): `call.*` is
/// the bot's variables overlaid with the call's, `crm.*` and `system.*` as given. Rendering goes
/// through [`cxb_model::template`], the one implementation control's CRM push uses too.
pub fn template_context(bot: &BotConfig, ctx: &ConversationCtx) -> TemplateContext {
    let mut call = bot.variables.clone();
    call.extend(ctx.call.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut t = TemplateContext::new();
    t.insert_vars("call", &call);
    t.insert_vars("crm", &ctx.crm);
    t.insert_vars("system", &ctx.system);
    t
}

/// Renders `tpl` over `ctx` (see [`cxb_model::template`]); unknown variables render empty and
/// are appended to `unknown` (once each). Returns the text and the variables new to `unknown`.
pub(crate) fn render(tpl: &str, ctx: &TemplateContext, unknown: &mut Vec<String>) -> (String, Vec<String>) {
    let r = template::render(tpl, ctx);
    let mut new = Vec::new();
    for u in r.unknown {
        if !unknown.contains(&u) {
            unknown.push(u.clone());
            new.push(u);
        }
    }
    (r.text, new)
}

/// The system prompt of one request: the rendered prompt, the policy steps, then the knowledge
/// hits (the format the embedded local responder parses).
pub(crate) fn system_prompt(rendered: &str, bot: &BotConfig, hits: &[String]) -> String {
    let mut s = rendered.to_owned();
    if !bot.policy.is_empty() {
        s.push_str("\n\nConversation steps:\n");
        for (i, step) in bot.policy.iter().enumerate() {
            s.push_str(&format!("{}. {}: {}\n", i + 1, step.name, one_line(&step.goal)));
        }
        s.pop();
    }
    if !hits.is_empty() {
        s.push_str("\n\nRelevant knowledge:\n");
        for h in hits {
            s.push_str("- ");
            s.push_str(&one_line(h));
            s.push('\n');
        }
        s.pop();
    }
    s
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The bot's webhook tools plus the built-ins `end_call` and `transfer_call` (the latter only
/// when the bot has transfer targets).
pub(crate) fn tool_specs(bot: &BotConfig) -> Vec<ToolSpec> {
    let mut v: Vec<ToolSpec> = bot
        .tools
        .iter()
        .map(|t| ToolSpec {
            name: t.name.clone(),
            description: t.description.clone(),
            parameters: t.parameters.clone(),
        })
        .collect();
    v.push(ToolSpec {
        name: "end_call".to_owned(),
        description: "End the call after saying goodbye.".to_owned(),
        parameters: serde_json::json!({"type": "object", "properties": {}}),
    });
    if !bot.transfer_targets.is_empty() {
        let names: Vec<&str> = bot.transfer_targets.iter().map(|t| t.name.as_str()).collect();
        let help: Vec<String> = bot
            .transfer_targets
            .iter()
            .map(|t| {
                if t.description.is_empty() {
                    t.name.clone()
                } else {
                    format!("{}: {}", t.name, t.description)
                }
            })
            .collect();
        v.push(ToolSpec {
            name: "transfer_call".to_owned(),
            description: format!("Transfer the caller to a human. Targets: {}.", help.join("; ")),
            parameters: serde_json::json!({
                "type": "object",
                "properties": {
                    "target": {"type": "string", "enum": names},
                    "reason": {"type": "string"}
                },
                "required": ["target"]
            }),
        });
    }
    v
}

fn normalize_word(w: &str) -> String {
    w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-' && c != '\'')
        .to_lowercase()
}

/// Words in `text` and whether every one of them is a backchannel ("uh-huh", "yeah", "ok" …).
pub(crate) fn word_stats(text: &str) -> (usize, bool) {
    let mut n = 0;
    let mut all_back = true;
    for w in text.split_whitespace() {
        let w = normalize_word(w);
        if w.is_empty() {
            continue;
        }
        n += 1;
        if !BACKCHANNELS.contains(&w.as_str()) {
            all_back = false;
        }
    }
    (n, all_back)
}

/// Whether `text` ends in a digit or a number word (the caller may be reading a number).
pub(crate) fn ends_with_number(text: &str) -> bool {
    let Some(last) = text.split_whitespace().last() else {
        return false;
    };
    let t = last.trim_end_matches([',', '-', '.', ']']);
    if t.chars().last().is_some_and(|c| c.is_ascii_digit()) {
        return true;
    }
    NUMBER_WORDS.contains(&normalize_word(t).as_str())
}

/// The prefix of `text` a listener heard after `fraction` (0..=1) of its audio, cut back to a
/// word boundary.
pub(crate) fn cut_to_heard(text: &str, fraction: f64) -> &str {
    if fraction >= 0.999 {
        return text;
    }
    if fraction <= 0.0 {
        return "";
    }
    let chars = text.chars().count();
    let keep = (chars as f64 * fraction).floor() as usize;
    let byte = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    // A word still being spoken at the cut is not counted as heard.
    if text[byte..].starts_with(char::is_whitespace) {
        return text[..byte].trim_end();
    }
    match text[..byte].rfind(char::is_whitespace) {
        Some(p) => text[..p].trim_end(),
        None => "",
    }
}

/// Whether the bot's `text` contains one of the closing phrases (case-insensitive).
pub(crate) fn has_closing_phrase(text: &str, phrases: &[String]) -> bool {
    let lower = text.to_lowercase();
    phrases.iter().any(|p| {
        let p = p.trim().to_lowercase();
        !p.is_empty() && lower.contains(&p)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_known_unknown_and_json() {
        let mut bot = BotConfig::new("b", "B");
        bot.variables.insert("company".into(), "Acme".into());
        bot.variables.insert("from_number".into(), "overridden".into());
        let mut ctx = ConversationCtx::new(cxb_model::CallDirection::Inbound, std::time::Duration::ZERO);
        ctx.call.insert("from_number".into(), "+15550100".into());
        ctx.crm.insert("plan".into(), serde_json::json!({"tier": 2}));
        let tc = template_context(&bot, &ctx);
        let mut unknown = vec!["call.x".to_owned()];
        let (s, new) = render(
            "Hi {{call.from_number}} from {{ call.company }}, {{crm.plan}} {{crm.plan.tier}} {{crm.nope}}{{crm.nope}} {{x",
            &tc,
            &mut unknown,
        );
        assert_eq!(s, "Hi +15550100 from Acme, {\"tier\":2} 2  {{x");
        assert_eq!(new, vec!["crm.nope"]);
        assert_eq!(unknown, vec!["call.x", "crm.nope"]);
        let (_, again) = render("{{crm.nope}}", &tc, &mut unknown);
        assert!(again.is_empty());
    }

    #[test]
    fn words_numbers_and_cuts() {
        assert_eq!(word_stats("uh-huh"), (1, true));
        assert_eq!(word_stats("Yeah, ok."), (2, true));
        assert_eq!(word_stats("wait stop please"), (3, false));
        assert!(ends_with_number("my number is 555 12"));
        assert!(ends_with_number("it's five five five"));
        assert!(ends_with_number("code [DTMF 5]"));
        assert!(!ends_with_number("hello there"));
        assert_eq!(cut_to_heard("one two three four", 0.5), "one two");
        assert_eq!(cut_to_heard("one two three four", 0.3), "one");
        assert_eq!(cut_to_heard("one two three four", 1.0), "one two three four");
        assert_eq!(cut_to_heard("one two", 0.1), "");
    }

    #[test]
    fn system_prompt_format() {
        let mut bot = BotConfig::new("b", "B");
        bot.policy.push(cxb_model::PolicyStep {
            name: "greet".into(),
            goal: "Say hi".into(),
            say: String::new(),
        });
        let s = system_prompt("You are nice.", &bot, &["Open 9 to 5\nweekdays".to_owned()]);
        assert_eq!(
            s,
            "You are nice.\n\nConversation steps:\n1. greet: Say hi\n\nRelevant knowledge:\n- Open 9 to 5 weekdays"
        );
    }
}
