use std::rc::Rc;

use cxb_model::{BotConfig, PolicyStep, TransferTarget};

use super::text::{content_words, is_question, knowledge_chunks, sentences, stem, tidy};
use super::*;

fn step(name: &str, say: &str) -> PolicyStep {
    PolicyStep {
        name: name.into(),
        goal: format!("goal of {name}"),
        say: say.into(),
    }
}

fn bot() -> Rc<BotConfig> {
    let mut b = BotConfig::new("dental", "Dental");
    b.policy = vec![
        step("greet", "Hello {{crm.name}}, I can help you book an appointment."),
        step("day", "Which day suits you best?"),
        step("time", "Morning or afternoon?"),
    ];
    b.behavior.closing_message = "Thank you for calling. Goodbye.".into();
    Rc::new(b)
}

const SYSTEM: &str = "You book dental appointments.\n\nConversation steps:\n1. greet: goal of greet\n2. day: goal of day\
    \n3. time: goal of time\n\nRelevant knowledge:\n- We are open Monday to Friday. Saturday appointments are \
    available in the morning only. Parking is free.\n- A check-up costs 80 dollars. Cleaning costs 60 dollars.";

fn req(system: &str, msgs: &[(Role, &str)]) -> ChatRequest {
    ChatRequest {
        model: String::new(),
        system: system.into(),
        messages: msgs.iter().map(|(r, t)| ChatMessage::text(*r, *t)).collect(),
        tools: Vec::new(),
        temperature: None,
        max_tokens: 0,
        cache_prompt: false,
    }
}

fn events(r: &LocalResponder, q: ChatRequest) -> Vec<LlmEvent> {
    let mut rx = r.chat(q);
    let mut v = Vec::new();
    while let Ok(Ok(ev)) = rx.try_recv() {
        v.push(ev);
    }
    v
}

#[test]
fn follows_the_steps_in_order_then_closes_with_end_call() {
    let r = LocalResponder::new(bot());
    use Role::{Assistant as A, User as U};
    let first = r.reply(&req("", &[]));
    assert_eq!(first.text, "Hello, I can help you book an appointment.");
    let mut h: Vec<(Role, &str)> = vec![(A, "Hello, I can help you book an appointment."), (U, "yes please")];
    assert_eq!(r.reply(&req("", &h)).text, "Which day suits you best?");
    h.extend([(A, "Which day suits you best?"), (U, "tuesday")]);
    assert_eq!(r.reply(&req("", &h)).text, "Morning or afternoon?");
    h.extend([(A, "Morning or afternoon?"), (U, "morning")]);
    let last = r.reply(&req("", &h));
    assert_eq!(last.text, "Thank you for calling. Goodbye.");
    assert_eq!(last.tool.as_ref().map(|t| t.name.as_str()), Some("end_call"));
}

#[test]
fn a_step_cut_short_by_the_caller_still_counts_as_said() {
    let r = LocalResponder::new(bot());
    use Role::{Assistant as A, User as U};
    let h = [
        (A, "Hello, I can help you book an appointment."),
        (U, "ok"),
        (A, "Which day suits"),
        (U, "friday"),
    ];
    assert_eq!(r.reply(&req("", &h)).text, "Morning or afternoon?");
}

#[test]
fn answers_questions_from_knowledge_then_reasks_the_current_step() {
    let r = LocalResponder::new(bot());
    use Role::{Assistant as A, User as U};
    let h = [
        (A, "Hello, I can help you book an appointment."),
        (U, "yes"),
        (A, "Which day suits you best?"),
        (U, "are you open on saturday"),
    ];
    let reply = r.reply(&req(SYSTEM, &h));
    assert_eq!(
        reply.text,
        "We are open Monday to Friday. Saturday appointments are available in the morning only. Which day suits you best?"
    );
    assert!(reply.tool.is_none());
    let h = [(A, "Which day suits you best?"), (U, "how much does a cleaning cost")];
    assert_eq!(
        r.reply(&req(SYSTEM, &h)).text,
        "A check-up costs 80 dollars. Cleaning costs 60 dollars. Which day suits you best?"
    );
}

#[test]
fn strong_knowledge_match_without_question_words_is_answered() {
    let r = LocalResponder::new(bot());
    let h = [
        (Role::Assistant, "Which day suits you best?"),
        (Role::User, "cleaning cost"),
    ];
    assert!(
        r.reply(&req(SYSTEM, &h))
            .text
            .starts_with("A check-up costs 80 dollars. Cleaning costs 60 dollars.")
    );
    // A plain answer that shares no words with the knowledge advances.
    let h = [(Role::Assistant, "Which day suits you best?"), (Role::User, "tuesday")];
    assert_eq!(r.reply(&req(SYSTEM, &h)).text, "Morning or afternoon?");
}

#[test]
fn unknown_question_gets_an_honest_answer() {
    let r = LocalResponder::new(bot());
    let h = [
        (Role::Assistant, "Which day suits you best?"),
        (Role::User, "what is the weather like"),
    ];
    assert_eq!(
        r.reply(&req(SYSTEM, &h)).text,
        "Sorry, I don't have that information. Which day suits you best?"
    );
}

#[test]
fn questions_without_knowledge_advance() {
    let r = LocalResponder::new(bot());
    let h = [
        (Role::Assistant, "Which day suits you best?"),
        (Role::User, "what about monday"),
    ];
    assert_eq!(r.reply(&req("You book.", &h)).text, "Morning or afternoon?");
}

#[test]
fn goodbye_closes_and_ends_the_call() {
    let r = LocalResponder::new(bot());
    for said in ["ok bye", "Goodbye!", "that's all thanks"] {
        let reply = r.reply(&req(SYSTEM, &[(Role::User, said)]));
        assert_eq!(reply.text, "Thank you for calling. Goodbye.", "{said}");
        assert_eq!(reply.tool.unwrap().name, "end_call");
    }
}

#[test]
fn asking_for_an_agent_transfers_to_the_first_target() {
    let mut b = (*bot()).clone();
    let r = LocalResponder::new(Rc::new(b.clone()));
    // Without targets "agent" is just a word.
    assert!(
        r.reply(&req("", &[(Role::User, "can I talk to an agent")]))
            .tool
            .is_none()
    );
    b.transfer_targets = vec![
        TransferTarget {
            name: "front_desk".into(),
            destination: "sip:desk@example.com".into(),
            description: String::new(),
        },
        TransferTarget {
            name: "billing".into(),
            destination: "+15550100".into(),
            description: String::new(),
        },
    ];
    let r = LocalResponder::new(Rc::new(b));
    let reply = r.reply(&req(SYSTEM, &[(Role::User, "can I talk to an agent please")]));
    let call = reply.tool.unwrap();
    assert_eq!(call.name, "transfer_call");
    let args: serde_json::Value = serde_json::from_str(&call.arguments).unwrap();
    assert_eq!(args["target"], "front_desk");
    assert!(!reply.text.is_empty());
}

#[test]
fn without_policy_acknowledgements_vary_deterministically() {
    let r = LocalResponder::new(Rc::new(BotConfig::new("b", "B")));
    use Role::{Assistant as A, User as U};
    let one = r.reply(&req("", &[(U, "my order is late")])).text;
    let two = r
        .reply(&req(
            "",
            &[(U, "my order is late"), (A, &one), (U, "it was due monday")],
        ))
        .text;
    assert_eq!(one, "I see. Could you tell me more?");
    assert_ne!(one, two);
    assert_eq!(two, r.reply(&req("", &[(U, "x"), (A, "y"), (U, "z")])).text);
    assert_eq!(r.reply(&req("", &[])).text, "How can I help you?");
}

#[test]
fn tool_errors_are_apologised_for_and_successes_need_no_words() {
    let r = LocalResponder::new(bot());
    let mut q = req("", &[(Role::Assistant, "Which day suits you best?")]);
    q.messages.push(ChatMessage {
        role: Role::Tool,
        content: r#"{"error":"unknown transfer target"}"#.into(),
        tool_calls: Vec::new(),
        tool_call_id: Some("local-transfer_call".into()),
    });
    assert_eq!(
        r.reply(&q).text,
        "Sorry, I could not do that right now. Which day suits you best?"
    );
    q.messages.last_mut().unwrap().content = r#"{"ok":true}"#.into();
    assert_eq!(
        r.reply(&q),
        Reply {
            text: String::new(),
            tool: None
        }
    );
}

#[test]
fn empty_transcript_asks_again() {
    let r = LocalResponder::new(bot());
    let h = [(Role::Assistant, "Which day suits you best?"), (Role::User, "")];
    assert_eq!(
        r.reply(&req("", &h)).text,
        "Sorry, I didn't catch that. Which day suits you best?"
    );
}

#[test]
fn context_fills_templates() {
    let mut ctx = cxb_model::template::TemplateContext::new();
    ctx.insert("crm", serde_json::json!({"name": "Ann"}));
    let r = LocalResponder::with_context(bot(), ctx);
    assert_eq!(
        r.reply(&req("", &[])).text,
        "Hello Ann, I can help you book an appointment."
    );
    // Without a value the gap is tidied away.
    assert_eq!(
        LocalResponder::new(bot()).reply(&req("", &[])).text,
        "Hello, I can help you book an appointment."
    );
}

#[test]
fn chat_streams_word_by_word_then_tool_then_done() {
    let r = LocalResponder::new(bot());
    let ev = events(&r, req("", &[(Role::User, "bye")]));
    let text: String = ev
        .iter()
        .filter_map(|e| {
            if let LlmEvent::Text(t) = e {
                Some(t.as_str())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(text, "Thank you for calling. Goodbye.");
    assert_eq!(ev.iter().filter(|e| matches!(e, LlmEvent::Text(_))).count(), 5);
    assert!(matches!(&ev[5], LlmEvent::ToolCall(t) if t.name == "end_call" && t.arguments == "{}"));
    assert_eq!(
        ev[6],
        LlmEvent::Done {
            usage: LlmUsage::default()
        }
    );
    assert_eq!(ev.len(), 7);
}

#[test]
fn text_helpers() {
    assert_eq!(stem("appointments"), "appointment");
    assert_eq!(stem("opening"), "open");
    assert_eq!(stem("families"), "family");
    assert_eq!(stem("class"), "class");
    assert_eq!(content_words("Are you OPEN on Saturdays?"), vec!["open", "saturday"]);
    assert!(is_question("are you open"));
    assert!(is_question("I'd like to know the price"));
    assert!(!is_question("I would like to book"));
    assert_eq!(sentences("A b. C d? E 3.5 f! g"), vec!["A b.", "C d?", "E 3.5 f!", "g"]);
    assert_eq!(knowledge_chunks(SYSTEM).len(), 2);
    assert!(knowledge_chunks("no knowledge").is_empty());
    assert_eq!(tidy("Hello , welcome  {{x"), "Hello, welcome {{x");
}
